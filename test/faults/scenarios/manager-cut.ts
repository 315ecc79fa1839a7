/**
 * One node cut off from the manager only (control channel and the manager's gossip port), while it still gossips
 * with the other nodes: the manager sees it `unreachable`, then `down`; the node, still with a majority of the
 * nodes, keeps serving and keeps admitting on its safe share past the grace period; the manager, hearing of it
 * through gossip (indirect probes), keeps that share reserved, so the cluster-wide limit still holds. After the
 * heal the node is `alive` again.
 */
import type { Scenario } from '../lib/scenario.js';
import { GRACE_MS } from '../lib/timings.js';
import { runCut } from '../lib/cut.js';

const VICTIM = 2;
/** Past the grace period by a full 10-second window, so the limit is judged while the node is `down`. */
const CUT_MS = GRACE_MS + 12_000;

export const managerCut: Scenario = {
  name: 'manager-cut',
  async run(ctx) {
    const { cluster, net, load } = ctx;
    if (!net.supports.partition) {
      return { status: 'SKIP', reason: `this network cannot cut traffic (${net.reason ?? 'no namespaces'})`, figures: {} };
    }
    return runCut(ctx, {
      what: 'the cut',
      victim: VICTIM,
      // The manager's cluster port carries both its control channel (TCP) and its gossip (UDP).
      ports: [cluster.manager.clusterPort],
      cutMs: CUT_MS,
      judgeCut(tCut, tHeal, problems) {
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
        return { admitted_past_grace: `${lateAdmitted}/${late}` };
      },
    });
  },
};
