/**
 * The cluster overview in one answer (`GET /api/v1/overview`, and the live event stream): nodes by state, the
 * cluster's traffic over a range from the window's cluster-total series, the license summary and the current
 * config version. Its cost does not grow with nodes × endpoints: one pass over the registry and one query of
 * the single total series.
 */
import type { ManagerView } from '../http-api.js';
import type { LicenseState } from '../license.js';

export const NODE_STATES = ['alive', 'unreachable', 'down', 'removed', 'refused'] as const;

/** License warnings start this many days before expiry. */
export const EXPIRY_WARNING_DAYS = 30;

export interface Overview {
  manager_id: string;
  /** Manager wall time of the answer, ms. */
  now: number;
  range_s: number;
  nodes: Record<(typeof NODE_STATES)[number], number>;
  total_nodes: number;
  /** Nodes the subscription counts (alive and unreachable). */
  counted: number;
  max_nodes: number;
  requests: number;
  rps: number;
  error_rate: number;
  p50_us: number | null;
  p99_us: number | null;
  license: {
    tier: LicenseState['tier'];
    status: LicenseState['status'];
    licensee: string | null;
    not_after: string | null;
    days_left: number | null;
    expiry_warning: string | null;
  };
  config: { version: number; hash: string; created_at: string } | null;
}

export async function buildOverview(view: ManagerView, rangeS: number): Promise<Overview> {
  const now = view.now();
  const nodes = { alive: 0, unreachable: 0, down: 0, removed: 0, refused: 0 };
  const list = view.nodes();
  for (const n of list) nodes[n.state] += 1;
  const traffic = view.statsQuery({ from: now - rangeS * 1000, to: now + 1 }).totals;
  const license = view.licenseState();
  const current = await view.configVersions().current();
  return {
    manager_id: view.managerId,
    now,
    range_s: rangeS,
    nodes,
    total_nodes: list.length,
    counted: nodes.alive + nodes.unreachable,
    max_nodes: license.maxNodes,
    requests: traffic.requests,
    rps: traffic.rps,
    error_rate: traffic.errorRate,
    p50_us: traffic.p50Us,
    p99_us: traffic.p99Us,
    license: {
      tier: license.tier,
      status: license.status,
      licensee: license.license?.licensee ?? null,
      not_after: license.license?.not_after ?? null,
      days_left: license.daysLeft ?? null,
      expiry_warning: expiryWarning(license),
    },
    config: current ? { version: current.version, hash: current.hash, created_at: new Date(current.createdAt).toISOString() } : null,
  };
}

/** A sentence for operators when the license needs attention, else null. */
export function expiryWarning(s: LicenseState): string | null {
  const until = s.license?.not_after ?? 'its end date';
  const free = `the free tier (${s.tier === 'free' ? s.maxNodes : 'fewer'} nodes)`;
  switch (s.status) {
    case 'expired':
      return `The license expired on ${until}: the cluster runs on ${free}.`;
    case 'expired_in_margin':
      return `The license expired on ${until}; ${plural(s.marginDaysLeft ?? 0, 'day')} left in the grace margin before the cluster falls back to the free tier.`;
    case 'not_yet_valid':
      return `The license is not valid before ${s.license?.not_before ?? 'its start date'}.`;
    case 'valid':
      if (s.daysLeft !== undefined && s.daysLeft <= EXPIRY_WARNING_DAYS) {
        return s.daysLeft <= 0 ? `The license expires today (${until}).` : `The license expires in ${plural(s.daysLeft, 'day')} (${until}).`;
      }
      return null;
    default:
      return null;
  }
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
