/**
 * One node cut off from the manager only (control channel and the manager's gossip port), while it still gossips
 * with the other nodes: the manager sees it `unreachable`, then `down`; the node, still with a majority of the
 * nodes, keeps serving and keeps admitting on its safe share past the grace period; the manager, hearing of it
 * through gossip (indirect probes), keeps that share reserved, so the cluster-wide limit still holds. After the
 * heal the node is `alive` again.
 */
import { ms, judge, outcome } from '../lib/scenario.js';
import type { Scenario } from '../lib/scenario.js';
import { now } from '../lib/load.js';
import { DOWN_DEADLINE_MS, GRACE_MS, NODE_START_MS, UNREACHABLE_DEADLINE_MS } from '../lib/timings.js';
import { sleep } from '../lib/procs.js';

const VICTIM = 2;
/** Past the grace period by a full 10-second window, so the limit is judged while the node is `down`. */
const CUT_MS = GRACE_MS + 12_000;

export const managerCut: Scenario = {
  name: 'manager-cut',
  async run(ctx) {
    const { cluster, net, watcher, load } = ctx;
    if (!net.supports.partition) {
      return { status: 'SKIP', reason: `this network cannot cut traffic (${net.reason ?? 'no namespaces'})`, figures: {} };
    }
    const node = cluster.node(VICTIM);
    const id = cluster.nodeId(VICTIM);
    const problems: string[] = [];
    const from = now();
    await sleep(1_000);
    const droppedBefore = await net.dropped(VICTIM);
    const tCut = now();
    // The manager's cluster port carries both its control channel (TCP) and its gossip (UDP).
    await net.partition(VICTIM, [cluster.manager.clusterPort]);
    try {
      const unreachableAt = await watcher.waitFor(id, 'unreachable', tCut, UNREACHABLE_DEADLINE_MS);
      if (unreachableAt === undefined) problems.push(`not unreachable within ${UNREACHABLE_DEADLINE_MS} ms`);
      const downAt = await watcher.waitFor(id, 'down', unreachableAt ?? tCut, DOWN_DEADLINE_MS);
      if (downAt === undefined) problems.push(`not down within ${DOWN_DEADLINE_MS} ms of unreachable`);
      await sleep(Math.max(0, CUT_MS - (now() - tCut)));
      const dropped = (await net.dropped(VICTIM)) - droppedBefore;
      if (dropped === 0) problems.push('the cut dropped no packet');
      const tHeal = now();
      await net.heal(VICTIM);
      const aliveAt = await watcher.waitFor(id, 'alive', tHeal, NODE_START_MS);
      if (aliveAt === undefined) problems.push(`not alive within ${NODE_START_MS} ms of the heal`);
      await sleep(3_000);
      const to = now();
      // Past the grace period after the cut (its last lease came before it), the node is on its safe share only.
      const lateFrom = tCut + GRACE_MS + 2_000;
      let late = 0;
      let lateAdmitted = 0;
      for (const s of load.samples) {
        if (s.node !== VICTIM || s.endpoint !== 'limited' || s.t0 < lateFrom || s.t0 > tHeal) continue;
        late++;
        if (s.status === 200) lateAdmitted++;
      }
      if (late > 0 && lateAdmitted === 0) problems.push('the node, still with the majority, stopped admitting past the grace period');
      const j = judge(ctx, from, to);
      problems.push(...j.problems);
      return outcome(problems, {
        node: node.name,
        cut_ms: Math.round(tHeal - tCut),
        dropped_packets: dropped,
        unreachable_ms: ms(unreachableAt === undefined ? undefined : unreachableAt - tCut),
        down_ms: ms(downAt === undefined ? undefined : downAt - tCut),
        alive_after_heal_ms: ms(aliveAt === undefined ? undefined : aliveAt - tHeal),
        admitted_past_grace: `${lateAdmitted}/${late}`,
        ...j.figures,
      });
    } finally {
      await net.heal(VICTIM).catch(() => {});
    }
  },
};
