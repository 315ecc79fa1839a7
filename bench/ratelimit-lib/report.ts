/**
 * Prints the cluster rate-limit benchmark: a table per cluster size, the safety checks, two ablations, then the
 * issue's JSON summary as the very last line.
 */
import { runAll, runCell, SIZES } from './cluster-bench.js';
import type { Extra, Row } from './cluster-bench.js';
import { TRACES } from './traces.js';

const fmt = (x: number | null, digits = 3) => (x === null ? 'never' : x.toFixed(digits));

function table(rows: readonly Row[], extras: readonly Extra[]): void {
  console.log(
    `${'nodes'.padStart(5)} ${'trace'.padEnd(15)} ${'method'.padEnd(16)} ${'mean'.padStart(6)} ${'max10s'.padStart(6)} ` +
      `${'conv'.padStart(5)} ${'wrong'.padStart(6)} ${'Σrate'.padStart(6)} ${'Σcap'.padStart(6)} ${'leases/n·s'.padStart(10)} ` +
      `${'worst:max10s'.padStart(12)} ${'conv'.padStart(5)}`,
  );
  rows.forEach((r, i) => {
    const e = extras[i];
    const central = r.method === 'central_counter';
    console.log(
      `${String(r.nodes).padStart(5)} ${r.trace.padEnd(15)} ${r.method.padEnd(16)} ${fmt(r.admitted_ratio_mean).padStart(6)} ` +
        `${fmt(r.admitted_ratio_max_10s).padStart(6)} ${fmt(r.converge_intervals, 0).padStart(5)} ${fmt(r.wrongly_rejected_ratio).padStart(6)} ` +
        `${(central ? '-' : fmt(e?.maxEnforcedRatio ?? 0)).padStart(6)} ${(central ? '-' : fmt(e?.maxEnforcedCapacityRatio ?? 0)).padStart(6)} ` +
        `${fmt(e?.leasesPerNodeSecond ?? 0, 2).padStart(10)} ${fmt(e?.worstMax10s ?? 0).padStart(12)} ${fmt(e?.worstConverge ?? null, 0).padStart(5)}`,
    );
  });
}

export function printClusterBench(): void {
  const started = process.hrtime.bigint();
  const { rows, extras } = runAll();
  console.log('');
  console.log('cluster rate limits: limit 100×N req/s, capacity 1 s of it, offered 1.5× the limit, 120 s per run, medians of 3 seeds,');
  console.log('refresh 1 s, lease TTL 2 s, max delay 500 ms (actual 1–30 ms); Σrate, Σcap: largest sum of what the nodes');
  console.log('enforce at one instant ÷ the limit (the invariant: ≤ 1); worst: the worst seed');
  table(rows, extras);

  const leases = rows.filter((r) => r.method === 'leases');
  const steady = leases.filter((r) => r.trace === 'steady_skew');
  const checks = [
    ['mean in [0.95, 1.02] on steady skew', steady.every((r) => r.admitted_ratio_mean >= 0.95 && r.admitted_ratio_mean <= 1.02)],
    ['max_10s ≤ 1.05 on every trace', leases.every((r) => r.admitted_ratio_max_10s <= 1.05)],
    ['converge ≤ 3 on every trace', leases.every((r) => r.converge_intervals !== null && r.converge_intervals <= 3)],
    ['Σ enforced rate and capacity ≤ the limit', extras.filter((e) => e.method === 'leases').every((e) => e.maxEnforcedRatio <= 1 + 1e-9 && e.maxEnforcedCapacityRatio <= 1 + 1e-9)],
  ] as const;
  for (const [what, ok] of checks) console.log(`target (leases): ${what}: ${ok ? 'met' : 'NOT met'}`);
  for (const r of leases.filter((x) => x.converge_intervals === null || x.converge_intervals > 3)) {
    console.log(`  converge ${fmt(r.converge_intervals, 0)} on ${r.trace}, ${r.nodes} nodes`);
  }
  const recoveries = extras.filter((e) => e.method === 'leases' && e.recovery !== null);
  console.log(
    `leases, intervals until the shares carry 95% again after the fault ends (the manager is back, the partition heals): ` +
      recoveries.map((e) => `${e.trace} ${e.nodes} nodes ${fmt(e.recovery, 0)}`).join(', '),
  );

  console.log('');
  console.log('ablations (leases): TTL 3 s (3 seeds) | manager reallocates on its tick only, nodes do not acknowledge decreases at');
  console.log('once (seed 1)');
  for (const nodes of SIZES) {
    for (const name of TRACES) {
      const a = runCell('leases', name, nodes, { ttlMs: 3000 }).row;
      const b = runCell('leases', name, nodes, { onReport: 'none', ackOnDecrease: false }, [1]).row;
      console.log(
        `${String(nodes).padStart(5)} ${name.padEnd(15)} ttl3s mean ${fmt(a.admitted_ratio_mean)} max10s ${fmt(a.admitted_ratio_max_10s)} ` +
          `conv ${fmt(a.converge_intervals, 0)} | tick-only mean ${fmt(b.admitted_ratio_mean)} max10s ${fmt(b.admitted_ratio_max_10s)} conv ${fmt(b.converge_intervals, 0)}`,
      );
    }
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  console.log(`cluster benchmark: ${seconds.toFixed(1)} s, node ${process.version}`);
  console.log(JSON.stringify({ bench: 'ratelimit', rows }));
}
