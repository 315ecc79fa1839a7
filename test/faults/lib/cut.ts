/**
 * The shared course of a cut: a node's cluster traffic on `ports` is dropped for `cutMs`, then healed. The manager
 * must see the node `unreachable`, then `down` (the cut outlasts the grace period), then `alive` after the heal;
 * the scenario adds its own checks on the samples of the cut (`tCut`..`tHeal`).
 */
import { ms, judge, outcome } from './scenario.js';
import type { Figures, Outcome, SuiteContext } from './scenario.js';
import { now } from './load.js';
import { DOWN_DEADLINE_MS, NODE_START_MS, UNREACHABLE_DEADLINE_MS } from './timings.js';
import { sleep } from './procs.js';

export interface CutPlan {
  /** For messages: `the partition`, `the cut`. */
  what: string;
  victim: number;
  ports: readonly number[];
  cutMs: number;
  /** Checks and figures of the scenario's own, over the cut. */
  judgeCut(tCut: number, tHeal: number, problems: string[]): Figures;
}

export async function runCut(ctx: SuiteContext, plan: CutPlan): Promise<Outcome> {
  const { cluster, net, watcher } = ctx;
  const { victim } = plan;
  const node = cluster.node(victim);
  const id = cluster.nodeId(victim);
  const problems: string[] = [];
  const from = now();
  await sleep(1_000);
  const droppedBefore = await net.dropped(victim);
  const tCut = now();
  await net.partition(victim, plan.ports);
  try {
    const unreachableAt = await watcher.waitFor(id, 'unreachable', tCut, UNREACHABLE_DEADLINE_MS);
    if (unreachableAt === undefined) problems.push(`not unreachable within ${UNREACHABLE_DEADLINE_MS} ms`);
    const downAt = await watcher.waitFor(id, 'down', unreachableAt ?? tCut, DOWN_DEADLINE_MS);
    if (downAt === undefined) problems.push(`not down within ${DOWN_DEADLINE_MS} ms of unreachable`);
    await sleep(Math.max(0, plan.cutMs - (now() - tCut)));
    const dropped = (await net.dropped(victim)) - droppedBefore;
    if (dropped === 0) problems.push(`${plan.what} dropped no packet`);
    const tHeal = now();
    await net.heal(victim);
    const aliveAt = await watcher.waitFor(id, 'alive', tHeal, NODE_START_MS);
    if (aliveAt === undefined) problems.push(`not alive within ${NODE_START_MS} ms of the heal`);
    await sleep(3_000);
    const own = plan.judgeCut(tCut, tHeal, problems);
    const j = judge(ctx, from, now());
    problems.push(...j.problems);
    return outcome(problems, {
      node: node.name,
      cut_ms: Math.round(tHeal - tCut),
      dropped_packets: dropped,
      unreachable_ms: ms(unreachableAt === undefined ? undefined : unreachableAt - tCut),
      down_ms: ms(downAt === undefined ? undefined : downAt - tCut),
      alive_after_heal_ms: ms(aliveAt === undefined ? undefined : aliveAt - tHeal),
      ...own,
      ...j.figures,
    });
  } finally {
    await net.heal(victim).catch(() => {});
  }
}
