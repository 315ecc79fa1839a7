/**
 * 10% packet loss on one node's cluster traffic (each way): no node goes `down`, none is falsely declared so,
 * nothing fails, and the cluster-wide limit holds. Brief `unreachable` flaps of the lossy node are counted, not
 * failed: three lost heartbeats in a row are what the manager is told to treat as silence.
 */
import { judge, outcome } from '../lib/scenario.js';
import type { Scenario } from '../lib/scenario.js';
import { now } from '../lib/load.js';
import { GRACE_MS } from '../lib/timings.js';
import { sleep } from '../lib/procs.js';

const VICTIM = 3;
const PERCENT = 10;
const LOSS_MS = 15_000;

export const packetLoss: Scenario = {
  name: 'packet-loss',
  async run(ctx) {
    const { cluster, net, watcher } = ctx;
    if (!net.supports.loss) {
      return { status: 'SKIP', reason: `this network cannot drop packets (${net.reason ?? 'no namespaces'})`, figures: {} };
    }
    const node = cluster.node(VICTIM);
    const ports = [cluster.manager.clusterPort, node.clusterPort];
    const problems: string[] = [];
    const from = now();
    await sleep(1_000);
    const droppedBefore = await net.dropped(VICTIM);
    const tLoss = now();
    await net.loss(VICTIM, PERCENT, ports);
    let dropped = 0;
    try {
      await sleep(LOSS_MS);
      dropped = (await net.dropped(VICTIM)) - droppedBefore;
    } finally {
      await net.heal(VICTIM);
    }
    // A false `down` would need the grace period of silence: watch that long after the heal too.
    await sleep(GRACE_MS + 1_000);
    const to = now();
    const down = watcher.idsSeen('down', tLoss);
    const unreachable = watcher.idsSeen('unreachable', tLoss);
    if (down.length > 0) problems.push(`seen down: ${down.join(',')}`);
    if (dropped === 0) problems.push('the loss rule dropped no packet');
    try {
      await cluster.waitAllAlive(5_000);
    } catch (err) {
      problems.push((err as Error).message);
    }
    const j = judge(ctx, from, to);
    problems.push(...j.problems);
    return outcome(problems, {
      node: node.name,
      loss_percent: PERCENT,
      loss_ms: LOSS_MS,
      dropped_packets: dropped,
      nodes_down: down.length,
      unreachable_flaps: unreachable.length,
      ...j.figures,
    });
  },
};
