import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  BUCKETS,
  Histogram,
  MAX_TRACKED_US,
  QUANTILE_RELATIVE_ERROR,
  bucketIndex,
  bucketLower,
  bucketUpper,
  isHistogramJson,
} from '../../src/stats/histogram.js';

/** A deterministic pseudo-random source (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function exactQuantile(sorted: number[], q: number): number {
  return sorted[Math.max(1, Math.ceil(q * sorted.length)) - 1]!;
}

describe('Histogram buckets', () => {
  test('every value falls in the bucket whose bounds contain it', () => {
    const r = rng(1);
    for (let k = 0; k < 10_000; k++) {
      const v = 2 ** (r() * 26);
      const i = bucketIndex(v);
      assert.ok(bucketLower(i) <= v * (1 + 1e-12) && v < bucketUpper(i) * (1 + 1e-12), `${v} in bucket ${i}`);
    }
  });

  test('values below one microsecond go to bucket zero and values beyond the range to the overflow bucket', () => {
    assert.equal(bucketIndex(0), 0);
    assert.equal(bucketIndex(0.5), 0);
    assert.equal(bucketIndex(-3), 0);
    assert.equal(bucketIndex(Number.NaN), 0);
    assert.equal(bucketIndex(1), 1);
    assert.equal(bucketIndex(MAX_TRACKED_US * 2), BUCKETS - 1);
    assert.ok(MAX_TRACKED_US >= 60_000_000, 'covers a minute');
  });

  test('each bucket is 2^(1/8) times wider than the previous one', () => {
    for (let i = 2; i < BUCKETS - 1; i++) {
      assert.ok(Math.abs(bucketUpper(i) / bucketLower(i) - 2 ** (1 / 8)) < 1e-9);
    }
  });
});

describe('Histogram', () => {
  test('counts and sums what it records', () => {
    const h = new Histogram();
    h.record(10);
    h.record(20);
    h.recordN(30, 3);
    assert.equal(h.count, 5);
    assert.equal(h.sum, 120);
    assert.equal(h.min, 10);
    assert.equal(h.max, 30);
    assert.equal(h.mean(), 24);
  });

  test('an empty histogram has no quantile and no mean', () => {
    const h = new Histogram();
    assert.ok(Number.isNaN(h.quantile(0.5)));
    assert.ok(Number.isNaN(h.mean()));
  });

  test('quantiles stay within the documented relative error of the exact ones', () => {
    const r = rng(42);
    const values: number[] = [];
    const h = new Histogram();
    for (let k = 0; k < 50_000; k++) {
      // log-normal-ish latencies from ~50 µs to a few seconds
      const v = Math.exp(Math.log(2000) + 1.5 * (r() + r() + r() - 1.5) * 2);
      values.push(v);
      h.record(v);
    }
    values.sort((a, b) => a - b);
    for (const q of [0, 0.01, 0.1, 0.5, 0.9, 0.95, 0.99, 0.999, 1]) {
      const exact = exactQuantile(values, q);
      const est = h.quantile(q);
      const err = Math.abs(est - exact) / exact;
      assert.ok(err <= QUANTILE_RELATIVE_ERROR + 1e-12, `q=${q}: ${est} vs ${exact} (error ${err})`);
    }
    assert.ok(QUANTILE_RELATIVE_ERROR < 0.045);
  });

  test('a single value is reported exactly, thanks to the min and max clamp', () => {
    const h = new Histogram();
    h.recordN(1234, 10);
    assert.equal(h.quantile(0.5), 1234);
    assert.equal(h.quantile(0.99), 1234);
  });

  test('merging two histograms gives the histogram of all their values', () => {
    const a = new Histogram();
    const b = new Histogram();
    const all = new Histogram();
    const r = rng(7);
    for (let k = 0; k < 1000; k++) {
      const v = r() * 1e6;
      (k % 2 ? a : b).record(v);
      all.record(v);
    }
    a.merge(b);
    assert.deepEqual(Array.from(a.counts), Array.from(all.counts));
    assert.equal(a.count, all.count);
    assert.ok(Math.abs(a.sum - all.sum) < 1e-6 * all.sum);
    assert.equal(a.min, all.min);
    assert.equal(a.max, all.max);
  });

  test('the delta of two cumulative snapshots holds only what was recorded between them', () => {
    const h = new Histogram();
    h.record(100);
    h.record(5000);
    const before = h.clone();
    h.record(70);
    h.record(70);
    const d = h.delta(before);
    assert.equal(d.count, 2);
    assert.equal(d.sum, 140);
    assert.equal(d.counts[bucketIndex(70)], 2);
    assert.equal(d.counts[bucketIndex(5000)], 0);
    assert.equal(h.count, 4, 'delta leaves the original alone');
    assert.ok(Math.abs(d.quantile(0.5) - 70) / 70 <= QUANTILE_RELATIVE_ERROR);
  });

  test('subtracting everything leaves an empty histogram', () => {
    const h = new Histogram();
    h.record(3);
    h.subtract(h.clone());
    assert.equal(h.count, 0);
    assert.equal(h.sum, 0);
    assert.ok(Number.isNaN(h.quantile(0.5)));
  });

  test('the wire form lists only non-zero buckets and round-trips', () => {
    const h = new Histogram();
    h.record(0.2);
    h.recordN(150, 4);
    h.record(2_000_000);
    const json = h.toJSON();
    assert.equal(json.b.length, 6, 'three buckets, two numbers each');
    const text = JSON.stringify(json);
    assert.ok(text.length < 80, text);
    const back = Histogram.fromJSON(JSON.parse(text));
    assert.deepEqual(Array.from(back.counts), Array.from(h.counts));
    assert.equal(back.count, h.count);
    assert.equal(back.sum, h.sum);
    assert.equal(back.min, h.min);
    assert.equal(back.max, h.max);
  });

  test('an empty histogram has a tiny wire form', () => {
    assert.deepEqual(new Histogram().toJSON(), { n: 0, s: 0, b: [] });
    assert.equal(Histogram.fromJSON({ n: 0, s: 0, b: [] }).count, 0);
  });

  test('merging a wire form equals merging the histogram', () => {
    const a = new Histogram();
    a.recordN(10, 2);
    const b = new Histogram();
    b.recordN(99, 3);
    b.record(1e7);
    const viaJson = a.clone().mergeJSON(b.toJSON());
    const direct = a.clone().merge(b);
    assert.deepEqual(Array.from(viaJson.counts), Array.from(direct.counts));
    assert.equal(viaJson.count, direct.count);
  });

  test('malformed wire forms are refused', () => {
    const bad: unknown[] = [
      null,
      {},
      { n: 1, s: 1, b: [1] },
      { n: 2, s: 1, b: [1, 1] },
      { n: 1, s: 1, b: [0, 1] },
      { n: 1, s: 1, b: [BUCKETS + 1, 1] },
      { n: 1, s: 1, b: [1, -1] },
      { n: 1, s: Infinity, b: [1, 1] },
      { n: 1, s: 1, b: [1, 1], lo: 'x' },
    ];
    for (const j of bad) {
      assert.equal(isHistogramJson(j), false, JSON.stringify(j));
      assert.throws(() => Histogram.fromJSON(j), TypeError);
    }
  });
});
