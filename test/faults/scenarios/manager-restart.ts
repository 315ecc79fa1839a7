/**
 * SIGKILL of the manager, then a restart on the same state directory: no config version, registry entry or
 * license is lost; every node reconnects; nodes serve throughout (0 failed requests); the cluster-wide limit
 * resumes without a burst (the restarted manager first learns the leases in force). The outage outlasts the grace
 * period: nodes still in touch with each other keep admitting on their safe share (nobody hands it out meanwhile).
 */
import { judge, outcome } from '../lib/scenario.js';
import type { Scenario } from '../lib/scenario.js';
import { now } from '../lib/load.js';
import { GRACE_MS, LIMIT_REFRESH_MS, RECONNECT_DEADLINE_MS } from '../lib/timings.js';
import { sleep, waitFor } from '../lib/procs.js';
import type { Cluster } from '../lib/cluster.js';

/** How long the manager stays dead: past the grace period (the nodes' safe share must outlive it), by 3 s. */
const OUTAGE_MS = GRACE_MS + 3_000;

interface Durable {
  versions: string[];
  ids: string[];
  license: string;
}

async function durable(cluster: Cluster): Promise<Durable> {
  const history = await cluster.api<{ versions: Array<{ version: number; hash: string }> }>('/api/v1/config/history?limit=1000');
  const nodes = await cluster.nodesView();
  const license = await cluster.api<Record<string, unknown>>('/api/v1/license');
  const { days_left: _d, margin_days_left: _m, ...stable } = license;
  return {
    versions: history.versions.map((v) => `${v.version}:${v.hash}`).sort(),
    ids: nodes.map((n) => n.id).sort(),
    license: JSON.stringify(stable),
  };
}

export const managerRestart: Scenario = {
  name: 'manager-restart',
  async run(ctx) {
    const { cluster } = ctx;
    const problems: string[] = [];
    const from = now();
    const before = await durable(cluster);
    await sleep(1_000);
    const tKill = now();
    ctx.note(`manager SIGKILL at t=${Math.round(tKill)}`);
    cluster.manager.proc.signal('SIGKILL');
    await cluster.manager.proc.exited;
    await sleep(OUTAGE_MS);
    const tStart = now();
    // The last 2 s of the outage, all of it past the nodes' grace period after their last lease.
    const lateOutage = ctx.load.samples.filter((x) => x.endpoint === 'limited' && x.t0 >= tStart - 2_000 && x.t0 < tStart);
    const admittedLate = lateOutage.filter((x) => x.status === 200).length;
    if (lateOutage.length > 0 && admittedLate === 0) {
      problems.push(`the limited endpoint admitted nothing ${Math.round(OUTAGE_MS - 2_000)}-${OUTAGE_MS} ms into the manager outage`);
    }
    await cluster.startManager();
    const after = await durable(cluster);
    const lostVersions = before.versions.filter((v) => !after.versions.includes(v));
    const lostIds = before.ids.filter((v) => !after.ids.includes(v));
    if (lostVersions.length > 0) problems.push(`config versions lost: ${lostVersions.join(',')}`);
    if (lostIds.length > 0) problems.push(`registry entries lost: ${lostIds.join(',')}`);
    if (after.license !== before.license) problems.push(`license changed: ${before.license} → ${after.license}`);
    let reconnectedMs: number | undefined;
    try {
      await cluster.waitAllAlive(RECONNECT_DEADLINE_MS);
      reconnectedMs = now() - tStart;
    } catch (err) {
      problems.push((err as Error).message);
    }
    // Past the restarted manager's learning phase (one lease length) and a full 10-second window after it.
    await sleep(3 * LIMIT_REFRESH_MS + 11_000);
    const to = now();
    const j = judge(ctx, from, to);
    problems.push(...j.problems);
    return outcome(problems, {
      outage_ms: Math.round(tStart - tKill),
      admitted_past_grace: `${admittedLate}/${lateOutage.length}`,
      versions: after.versions.length,
      registry_entries: after.ids.length,
      license_kept: after.license === before.license,
      all_alive_after_ms: reconnectedMs === undefined ? 'never' : Math.round(reconnectedMs),
      ...j.figures,
    });
  },
};
