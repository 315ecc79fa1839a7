/**
 * A partition between one node and the rest, on cluster traffic only (gossip UDP and TCP, the control channel):
 * the manager sees the node `unreachable`, then `down` past the grace period; the node keeps serving its HTTP
 * traffic; the cluster-wide limit still holds; after the heal the node is `alive` again.
 */
import { ms, judge, outcome } from '../lib/scenario.js';
import type { Scenario } from '../lib/scenario.js';
import { now } from '../lib/load.js';
import { DOWN_DEADLINE_MS, GRACE_MS, NODE_START_MS, UNREACHABLE_DEADLINE_MS } from '../lib/timings.js';
import { sleep } from '../lib/procs.js';

const VICTIM = 0;
/** Past the grace period, so that the node is seen `down` too, and a full 10-second window of the cut. */
const CUT_MS = Math.max(GRACE_MS + 4_000, 11_000);

export const partition: Scenario = {
  name: 'partition',
  async run(ctx) {
    const { cluster, net, watcher, load } = ctx;
    if (!net.supports.partition) {
      return { status: 'SKIP', reason: `this network cannot partition (${net.reason ?? 'no namespaces'})`, figures: {} };
    }
    const node = cluster.node(VICTIM);
    const id = cluster.nodeId(VICTIM);
    const ports = [cluster.manager.clusterPort, node.clusterPort];
    const problems: string[] = [];
    const from = now();
    await sleep(1_000);
    const droppedBefore = await net.dropped(VICTIM);
    const tCut = now();
    await net.partition(VICTIM, ports);
    try {
      const unreachableAt = await watcher.waitFor(id, 'unreachable', tCut, UNREACHABLE_DEADLINE_MS);
      if (unreachableAt === undefined) problems.push(`not unreachable within ${UNREACHABLE_DEADLINE_MS} ms`);
      const downAt = await watcher.waitFor(id, 'down', unreachableAt ?? tCut, DOWN_DEADLINE_MS);
      if (downAt === undefined) problems.push(`not down within ${DOWN_DEADLINE_MS} ms of unreachable`);
      await sleep(Math.max(0, CUT_MS - (now() - tCut)));
      const dropped = (await net.dropped(VICTIM)) - droppedBefore;
      if (dropped === 0) problems.push('the partition dropped no packet');
      const tHeal = now();
      await net.heal(VICTIM);
      const aliveAt = await watcher.waitFor(id, 'alive', tHeal, NODE_START_MS);
      if (aliveAt === undefined) problems.push(`not alive within ${NODE_START_MS} ms of the heal`);
      await sleep(3_000);
      const to = now();
      let servedDuringCut = 0;
      for (const s of load.samples) if (s.node === VICTIM && s.t0 >= tCut && s.t0 <= tHeal && s.status === 200) servedDuringCut++;
      const j = judge(ctx, from, to);
      problems.push(...j.problems);
      return outcome(problems, {
        node: node.name,
        cut_ms: Math.round(tHeal - tCut),
        dropped_packets: dropped,
        unreachable_ms: ms(unreachableAt === undefined ? undefined : unreachableAt - tCut),
        down_ms: ms(downAt === undefined ? undefined : downAt - tCut),
        alive_after_heal_ms: ms(aliveAt === undefined ? undefined : aliveAt - tHeal),
        served_while_cut: servedDuringCut,
        ...j.figures,
      });
    } finally {
      await net.heal(VICTIM).catch(() => {});
    }
  },
};
