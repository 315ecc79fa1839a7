/**
 * SIGSTOP of a node for less than the grace period, then SIGCONT: the manager shows it `unreachable` (its control
 * channel falls silent for 3 heartbeats), then `alive`, and never `down`. The API is polled every POLL_MS, far
 * below the time a `down` would last (a node reconnects no sooner than one backoff step).
 */
import { ms, judge, outcome } from '../lib/scenario.js';
import type { Scenario } from '../lib/scenario.js';
import { now } from '../lib/load.js';
import { failures } from '../lib/checks.js';
import { GRACE_MS, NODE_START_MS, POLL_MS, UNREACHABLE_DEADLINE_MS } from '../lib/timings.js';
import { sleep } from '../lib/procs.js';

const VICTIM = 2;
/** Half the grace period: long enough to be seen unreachable, short enough to come back before `down`. */
const STOP_MS = GRACE_MS / 2;

export const nodeSigstop: Scenario = {
  name: 'node-sigstop',
  async run(ctx) {
    const { cluster, load, watcher } = ctx;
    const node = cluster.node(VICTIM);
    const id = cluster.nodeId(VICTIM);
    const problems: string[] = [];
    const from = now();
    watcher.resetGap();
    await sleep(1_000);
    const tStop = now();
    node.proc?.signal('SIGSTOP');
    const unreachableAt = await watcher.waitFor(id, 'unreachable', tStop, Math.min(STOP_MS, UNREACHABLE_DEADLINE_MS));
    await sleep(Math.max(0, STOP_MS - (now() - tStop)));
    const tCont = now();
    node.proc?.signal('SIGCONT');
    if (unreachableAt === undefined) problems.push(`not unreachable within the ${STOP_MS} ms stop`);
    const aliveAt = await watcher.waitFor(id, 'alive', tCont, NODE_START_MS);
    if (aliveAt === undefined) problems.push(`not alive within ${NODE_START_MS} ms of SIGCONT`);
    await sleep(GRACE_MS + 2_000);
    const to = now();
    const states = watcher.statesSeen(id, tStop);
    if (states.includes('down')) problems.push(`seen down (${states.join('>')})`);
    if (watcher.longestGapMs > GRACE_MS / 2) problems.push(`the API went unpolled for ${Math.round(watcher.longestGapMs)} ms`);
    const j = judge(ctx, from, to, { mayFail: [VICTIM] });
    problems.push(...j.problems);
    return outcome(problems, {
      node: node.name,
      stopped_ms: Math.round(tCont - tStop),
      unreachable_ms: ms(unreachableAt === undefined ? undefined : unreachableAt - tStop),
      alive_after_cont_ms: ms(aliveAt === undefined ? undefined : aliveAt - tCont),
      states: states.join('>') || 'none',
      poll_ms: POLL_MS,
      stopped_node_failed: failures(load.samples, cluster.nodes.length, from, to).byNode[VICTIM] ?? 0,
      ...j.figures,
    });
  },
};
