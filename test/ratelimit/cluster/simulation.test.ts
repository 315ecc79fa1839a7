/**
 * Deterministic simulations (fake clock, seeded): the real LeaseBook, Limiter and applyLease through the
 * benchmark's simulator. The targets are asserted loosely; exact figures belong to the benchmark
 * (`npm run bench:ratelimit`, bench/RESULTS.md).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { figures } from '../../../bench/ratelimit-lib/metrics.js';
import { simulate } from '../../../bench/ratelimit-lib/sim.js';
import { trace, TRACES } from '../../../bench/ratelimit-lib/traces.js';
import type { TraceName } from '../../../bench/ratelimit-lib/traces.js';

function run(name: TraceName, nodes: number, method: 'leases' | 'even_split' | 'central_counter' = 'leases') {
  const t = trace(name);
  const result = simulate({ method, trace: t, nodes, limit: 100 * nodes, seed: 11 });
  return { result, f: figures(result, t.shifts, t.durationMs, t.faults) };
}

describe('cluster rate limits, simulated', () => {
  for (const nodes of [3, 10]) {
    for (const name of TRACES) {
      test(`${name}, ${nodes} nodes: never over the limit (Σ enforced ≤ limit, worst 10 s ≤ 1.05), converges within 4 intervals`, () => {
        const { result, f } = run(name, nodes);
        assert.ok(result.maxEnforcedRatio <= 1 + 1e-9, `Σ rate ${result.maxEnforcedRatio}`);
        assert.ok(result.maxEnforcedCapacityRatio <= 1 + 1e-9, `Σ capacity ${result.maxEnforcedCapacityRatio}`);
        assert.ok(f.admitted_ratio_max_10s <= 1.05, `max 10 s ${f.admitted_ratio_max_10s}`);
        assert.ok(f.converge_intervals !== null && f.converge_intervals <= 4, `converge ${f.converge_intervals}`);
      });
    }
  }

  test('steady skew (one node 80%): admits 95–102% of the limit, where an even split admits under 70%', () => {
    for (const nodes of [3, 10]) {
      const ours = run('steady_skew', nodes).f;
      const even = run('steady_skew', nodes, 'even_split').f;
      assert.ok(ours.admitted_ratio_mean >= 0.95 && ours.admitted_ratio_mean <= 1.02, `leases ${ours.admitted_ratio_mean}`);
      assert.ok(even.admitted_ratio_mean < 0.7, `even ${even.admitted_ratio_mean}`);
      assert.ok(ours.wrongly_rejected_ratio < 0.05 && even.wrongly_rejected_ratio > 0.2);
    }
  });

  test('a hot spot moving every 10 s: far above the even split', () => {
    const ours = run('hot_spot', 10).f;
    const even = run('hot_spot', 10, 'even_split').f;
    assert.ok(ours.admitted_ratio_mean > 0.85 && ours.admitted_ratio_mean > even.admitted_ratio_mean + 0.3);
  });

  test('the same seed replays exactly', () => {
    assert.deepEqual(run('partition', 3).result.admitted, run('partition', 3).result.admitted);
  });

  test('the central counter is the ideal: never over, never a wrong rejection', () => {
    const { f } = run('hot_spot', 3, 'central_counter');
    assert.equal(f.wrongly_rejected_ratio, 0);
    assert.ok(f.admitted_ratio_max_10s <= 1.01);
  });
});
