/**
 * SIGKILL of a node: only its in-flight requests fail; the manager shows it `unreachable` (its control channel
 * closes), then `down` after the grace period; restarted on its state directory it is `alive` again, same id.
 */
import { ms, judge, outcome } from '../lib/scenario.js';
import type { Scenario } from '../lib/scenario.js';
import { now } from '../lib/load.js';
import { failures } from '../lib/checks.js';
import { DOWN_DEADLINE_MS, GRACE_MS, NODE_START_MS, POLL_MS, UNREACHABLE_DEADLINE_MS } from '../lib/timings.js';
import { sleep } from '../lib/procs.js';

const VICTIM = 1;

export const nodeSigkill: Scenario = {
  name: 'node-sigkill',
  async run(ctx) {
    const { cluster, load, watcher } = ctx;
    const node = cluster.node(VICTIM);
    const id = cluster.nodeId(VICTIM);
    const problems: string[] = [];
    const from = now();
    await sleep(1_000);
    const tKill = now();
    node.proc?.signal('SIGKILL');
    load.pause(VICTIM);
    await node.proc?.exited;
    const unreachableAt = await watcher.waitFor(id, 'unreachable', tKill, UNREACHABLE_DEADLINE_MS);
    if (unreachableAt === undefined) problems.push(`not unreachable within ${UNREACHABLE_DEADLINE_MS} ms`);
    const downAt = await watcher.waitFor(id, 'down', unreachableAt ?? tKill, DOWN_DEADLINE_MS);
    if (downAt === undefined) problems.push(`not down within ${DOWN_DEADLINE_MS} ms of unreachable`);
    else if (unreachableAt !== undefined && downAt - unreachableAt < GRACE_MS - 2 * POLL_MS) {
      problems.push(`down ${Math.round(downAt - unreachableAt)} ms after unreachable, before the grace period (${GRACE_MS} ms)`);
    }
    const tRestart = now();
    await cluster.restartNode(VICTIM);
    load.resume(VICTIM);
    const aliveAt = await watcher.waitFor(id, 'alive', tRestart, NODE_START_MS);
    if (aliveAt === undefined) problems.push(`not alive within ${NODE_START_MS} ms of the restart`);
    if (cluster.nodeId(VICTIM) !== id) problems.push(`the restarted node has another id (${cluster.nodeId(VICTIM)})`);
    await sleep(3_000);
    const to = now();
    const j = judge(ctx, from, to, { mayFail: [VICTIM] });
    problems.push(...j.problems);
    // The killed node may fail only what it had in flight: nothing sent after its restart.
    const afterRestart = failures(load.samples, cluster.nodes.length, tRestart, to).byNode[VICTIM] ?? 0;
    if (afterRestart > 0) problems.push(`${afterRestart} requests failed on the restarted node`);
    const killedFailed = failures(load.samples, cluster.nodes.length, from, to).byNode[VICTIM] ?? 0;
    return outcome(problems, {
      node: node.name,
      unreachable_ms: ms(unreachableAt === undefined ? undefined : unreachableAt - tKill),
      down_ms: ms(downAt === undefined ? undefined : downAt - tKill),
      alive_after_restart_ms: ms(aliveAt === undefined ? undefined : aliveAt - tRestart),
      same_id: cluster.nodeId(VICTIM) === id,
      killed_node_failed: killedFailed,
      ...j.figures,
    });
  },
};
