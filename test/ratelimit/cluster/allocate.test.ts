import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { allocate } from '../../../src/ratelimit/cluster/allocate.js';
import type { NodeDemand, Share } from '../../../src/ratelimit/cluster/allocate.js';

const EPS = 1e-9;
const nodes = (...demands: number[]): NodeDemand[] => demands.map((demand, i) => ({ id: `n${i}`, demand }));
const rates = (m: Map<string, Share>) => [...m.values()].map((s) => Math.round(s.rate * 1000) / 1000);
const caps = (m: Map<string, Share>) => [...m.values()].map((s) => Math.round(s.capacity * 1000) / 1000);
const total = (m: Map<string, Share>, k: keyof Share) => [...m.values()].reduce((a, s) => a + s[k], 0);

describe('allocate', () => {
  const limit = { rate: 100, capacity: 100 };

  const table: { name: string; demands: number[]; reserved?: Share; floor?: number; rates: number[] }[] = [
    { name: 'no demand at all: an even split (all floors, spare in proportion)', demands: [0, 0, 0, 0], rates: [25, 25, 25, 25] },
    { name: 'under-subscribed: the spare in proportion to the wants', demands: [40, 10], rates: [80, 20] },
    { name: 'over-subscribed, skewed 80/15/5 of 150: small demands in full, the rest to the big one', demands: [120, 22.5, 7.5], rates: [70, 22.5, 7.5] },
    { name: 'over-subscribed evenly: the fair share each', demands: [60, 60, 60, 60], rates: [25, 25, 25, 25] },
    { name: 'water-filling over two levels', demands: [10, 30, 200, 200], rates: [10, 30, 30, 30] },
    { name: 'an idle node keeps its floor (5% of an even share)', demands: [500, 0], rates: [97.5, 2.5] },
    { name: 'a larger floor fraction', demands: [500, 0], floor: 0.5, rates: [75, 25] },
    { name: 'no floor: an idle node gets nothing when the others want it all', demands: [500, 0], floor: 0, rates: [100, 0] },
    { name: 'reserved leases of departed nodes come off first', demands: [500, 500], reserved: { rate: 40, capacity: 40 }, rates: [30, 30] },
    { name: 'everything reserved: nothing to split', demands: [5, 5], reserved: { rate: 100, capacity: 100 }, rates: [0, 0] },
    { name: 'a single node gets everything', demands: [3], rates: [100] },
  ];
  for (const row of table) {
    test(row.name, () => {
      const result = allocate(limit, nodes(...row.demands), row.reserved, row.floor === undefined ? {} : { floorFraction: row.floor });
      assert.deepEqual(rates(result), row.rates);
    });
  }

  test('capacity follows rate, after one whole token each', () => {
    const result = allocate({ rate: 100, capacity: 53 }, nodes(120, 22.5, 7.5));
    // 50 tokens left after one each, split 70/22.5/7.5.
    assert.deepEqual(caps(result), [36, 12.25, 4.75]);
  });

  test('a capacity smaller than the node count goes in whole tokens to the largest shares', () => {
    const result = allocate({ rate: 100, capacity: 2.5 }, nodes(10, 80, 5));
    assert.deepEqual(caps(result), [1, 1.5, 0]);
  });

  test('"50 every 10m": a fractional rate per second splits like any other', () => {
    const result = allocate({ rate: 50 / 600, capacity: 50 }, nodes(1, 0.01, 0));
    const r = [...result.values()];
    assert.ok(total(result, 'rate') <= 50 / 600 + EPS);
    assert.ok((r[0]?.rate ?? 0) > (r[1]?.rate ?? 0));
    assert.ok(Math.abs(total(result, 'capacity') - 50) < 1e-9);
  });

  test('no nodes: an empty map; bad demands count as 0', () => {
    assert.equal(allocate(limit, []).size, 0);
    const result = allocate(limit, nodes(Number.NaN, -5, Infinity));
    assert.ok(total(result, 'rate') <= 100 + EPS);
    for (const s of result.values()) assert.ok(Number.isFinite(s.rate) && s.rate >= 0);
  });

  // ---- properties ----

  // Figures from 1e-9 (one request in ~30 years) to 1e6 per second; subnormal floats are no rate anyone sets.
  const figure = fc.oneof(fc.constant(0), fc.double({ min: 1e-9, max: 1e6, noNaN: true }));
  const demandArb = figure;
  const caseArb = fc.record({
    rate: figure,
    capacity: figure,
    demands: fc.array(demandArb, { minLength: 1, maxLength: 60 }),
    reservedFraction: fc.double({ min: 0, max: 1.2, noNaN: true }),
    floor: fc.oneof(fc.constant(0), fc.double({ min: 1e-6, max: 1, noNaN: true })),
  });

  test('property: the sum of rates and of capacities never exceeds the limit less the reserved', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const reserved = { rate: c.rate * c.reservedFraction, capacity: c.capacity * c.reservedFraction };
        const result = allocate({ rate: c.rate, capacity: c.capacity }, nodes(...c.demands), reserved, { floorFraction: c.floor });
        assert.ok(total(result, 'rate') <= Math.max(0, c.rate - reserved.rate));
        assert.ok(total(result, 'capacity') <= Math.max(0, c.capacity - reserved.capacity));
        for (const s of result.values()) assert.ok(s.rate >= 0 && s.capacity >= 0);
      }),
      { numRuns: 500 },
    );
  });

  test('property: every node, idle ones included, gets at least its floor', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const result = allocate({ rate: c.rate, capacity: c.capacity }, nodes(...c.demands), undefined, { floorFraction: c.floor });
        const floor = (c.floor * c.rate) / c.demands.length;
        for (const s of result.values()) assert.ok(s.rate >= floor * (1 - 1e-9));
      }),
      { numRuns: 500 },
    );
  });

  test('property: shares follow demand (more demand, never less rate)', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const result = allocate({ rate: c.rate, capacity: c.capacity }, nodes(...c.demands), undefined, { floorFraction: c.floor });
        const pairs = c.demands.map((d, i) => [d, result.get(`n${i}`)?.rate ?? 0] as const).sort((a, b) => a[0] - b[0]);
        for (let i = 1; i < pairs.length; i++) {
          assert.ok((pairs[i]?.[1] ?? 0) >= (pairs[i - 1]?.[1] ?? 0) * (1 - 1e-9) - 1e-12);
        }
      }),
      { numRuns: 500 },
    );
  });

  test('property: monotonic in demand (a node asking more never gets less; no other node gets more)', () => {
    fc.assert(
      fc.property(caseArb, fc.nat(), figure, (c, pick, extra) => {
        const i = pick % c.demands.length;
        const before = allocate({ rate: c.rate, capacity: c.capacity }, nodes(...c.demands), undefined, { floorFraction: c.floor });
        const raised = c.demands.map((d, j) => (j === i ? d + extra : d));
        const after = allocate({ rate: c.rate, capacity: c.capacity }, nodes(...raised), undefined, { floorFraction: c.floor });
        const tol = (x: number) => x * 1e-9 + 1e-9;
        const b = before.get(`n${i}`)?.rate ?? 0;
        assert.ok((after.get(`n${i}`)?.rate ?? 0) >= b - tol(b));
        for (let j = 0; j < c.demands.length; j++) {
          if (j === i) continue;
          const bj = before.get(`n${j}`)?.rate ?? 0;
          assert.ok((after.get(`n${j}`)?.rate ?? 0) <= bj + tol(bj));
        }
      }),
      { numRuns: 500 },
    );
  });

  test('property: when demands fit, every node gets at least its demand; when not, nobody gets more than it asks above the floor', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const result = allocate({ rate: c.rate, capacity: c.capacity }, nodes(...c.demands), undefined, { floorFraction: c.floor });
        const floor = (c.floor * c.rate) / c.demands.length;
        const wants = c.demands.map((d) => Math.max(d, floor));
        const fits = wants.reduce((a, b) => a + b, 0) <= c.rate;
        c.demands.forEach((_, i) => {
          const r = result.get(`n${i}`)?.rate ?? 0;
          const w = wants[i] ?? 0;
          if (fits) assert.ok(r >= w * (1 - 1e-9));
          else assert.ok(r <= w * (1 + 1e-9) + 1e-12);
        });
      }),
      { numRuns: 500 },
    );
  });
});
