/**
 * A partition between one node and the rest, on cluster traffic only (gossip UDP and TCP, the control channel):
 * the manager sees the node `unreachable`, then `down` past the grace period; the node keeps serving its HTTP
 * traffic; the cluster-wide limit still holds; after the heal the node is `alive` again.
 */
import type { Scenario } from '../lib/scenario.js';
import { GRACE_MS } from '../lib/timings.js';
import { runCut } from '../lib/cut.js';

const VICTIM = 0;
/** Past the grace period, so that the node is seen `down` too, and a full 10-second window of the cut. */
const CUT_MS = Math.max(GRACE_MS + 4_000, 11_000);

export const partition: Scenario = {
  name: 'partition',
  async run(ctx) {
    const { cluster, net, load } = ctx;
    if (!net.supports.partition) {
      return { status: 'SKIP', reason: `this network cannot partition (${net.reason ?? 'no namespaces'})`, figures: {} };
    }
    return runCut(ctx, {
      what: 'the partition',
      victim: VICTIM,
      ports: [cluster.manager.clusterPort, cluster.node(VICTIM).clusterPort],
      cutMs: CUT_MS,
      judgeCut(tCut, tHeal) {
        let servedDuringCut = 0;
        for (const s of load.samples) if (s.node === VICTIM && s.t0 >= tCut && s.t0 <= tHeal && s.status === 200) servedDuringCut++;
        return { served_while_cut: servedDuringCut };
      },
    });
  },
};
