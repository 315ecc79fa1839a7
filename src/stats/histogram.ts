/**
 * The one mergeable latency histogram of the cluster: fixed log-linear buckets, values in microseconds.
 *
 * Bucket 0 holds [0, 1) µs. Bucket i (1 ≤ i ≤ 207) holds [2^((i-1)/8), 2^(i/8)) µs: eight buckets per doubling,
 * each 2^(1/8) ≈ 1.0905 times wider than the one before, reaching 2^(207/8) µs ≈ 61.5 s. Bucket 208 holds
 * everything above (overflow). Every node and the manager use the same bounds, so merging is adding arrays.
 *
 * A quantile is reported as the geometric middle of its bucket, lo·2^(1/16), clamped to the exact min and max:
 * for values in [1 µs, 61.5 s] its relative error is at most 2^(1/16) − 1 ≈ 4.43 % (QUANTILE_RELATIVE_ERROR).
 */

/** Buckets per doubling. */
export const SUB_BUCKETS = 8;
/** Number of buckets: [0,1), 207 log buckets up to 2^(207/8) µs ≈ 61.5 s, and one overflow bucket. */
export const BUCKETS = 209;
const LAST_FINITE = BUCKETS - 2; // 207
/** Upper bound of the largest finite bucket, in µs. */
export const MAX_TRACKED_US = 2 ** (LAST_FINITE / SUB_BUCKETS);
/** Bound on a quantile's relative error, for values in [1 µs, MAX_TRACKED_US]. */
export const QUANTILE_RELATIVE_ERROR = 2 ** (1 / (2 * SUB_BUCKETS)) - 1;

/** The bucket a value (µs) falls in. */
export function bucketIndex(valueUs: number): number {
  if (!(valueUs >= 1)) return 0; // also NaN and negatives
  const i = Math.floor(Math.log2(valueUs) * SUB_BUCKETS) + 1;
  return i > BUCKETS - 1 ? BUCKETS - 1 : i;
}

/** Lower bound (inclusive) of a bucket, in µs. */
export function bucketLower(index: number): number {
  return index === 0 ? 0 : 2 ** ((index - 1) / SUB_BUCKETS);
}

/** Upper bound (exclusive) of a bucket, in µs; Infinity for the overflow bucket. */
export function bucketUpper(index: number): number {
  return index >= BUCKETS - 1 ? Infinity : 2 ** (index / SUB_BUCKETS);
}

/**
 * The wire form: only non-zero buckets, as a flat list of (index gap, count) pairs, the gap counted from the
 * previous pair's index (the first from −1). Absent fields mean an empty histogram.
 */
export interface HistogramJson {
  /** Count. */
  n: number;
  /** Sum of the values, µs. */
  s: number;
  /** Smallest and largest value recorded (µs); absent when empty. */
  lo?: number;
  hi?: number;
  /** Flat (index gap, count) pairs of the non-zero buckets, ascending. */
  b: number[];
}

export class Histogram {
  /** Counts per bucket. Float64 so that merged counts never overflow. */
  readonly counts = new Float64Array(BUCKETS);
  count = 0;
  sum = 0;
  min = Infinity;
  max = -Infinity;

  /** Records one value in µs. Allocation-free. */
  record(valueUs: number): void {
    this.counts[bucketIndex(valueUs)]++;
    this.count++;
    this.sum += valueUs;
    if (valueUs < this.min) this.min = valueUs;
    if (valueUs > this.max) this.max = valueUs;
  }

  /** Records a value n times. */
  recordN(valueUs: number, n: number): void {
    if (n <= 0) return;
    this.counts[bucketIndex(valueUs)] += n;
    this.count += n;
    this.sum += valueUs * n;
    if (valueUs < this.min) this.min = valueUs;
    if (valueUs > this.max) this.max = valueUs;
  }

  /** Adds another histogram into this one. */
  merge(other: Histogram): this {
    if (other.count === 0) return this;
    const a = this.counts;
    const b = other.counts;
    for (let i = 0; i < BUCKETS; i++) a[i] += b[i]!;
    this.count += other.count;
    this.sum += other.sum;
    if (other.min < this.min) this.min = other.min;
    if (other.max > this.max) this.max = other.max;
    return this;
  }

  /** Adds a histogram in its wire form into this one, without building an intermediate Histogram. */
  mergeJSON(json: HistogramJson): this {
    const b = json.b;
    let index = -1;
    for (let k = 0; k + 1 < b.length; k += 2) {
      index += b[k]!;
      this.counts[index] += b[k + 1]!;
    }
    this.count += json.n;
    this.sum += json.s;
    if (json.lo !== undefined && json.lo < this.min) this.min = json.lo;
    if (json.hi !== undefined && json.hi > this.max) this.max = json.hi;
    return this;
  }

  /**
   * Removes another histogram's counts from this one (this − other), for deltas between two cumulative
   * snapshots. Counts never go below zero. Min and max stay those of this histogram: still valid bounds.
   */
  subtract(other: Histogram): this {
    const a = this.counts;
    const b = other.counts;
    let count = 0;
    for (let i = 0; i < BUCKETS; i++) {
      const v = a[i]! - b[i]!;
      a[i] = v > 0 ? v : 0;
      count += a[i]!;
    }
    this.count = count;
    this.sum = count === 0 ? 0 : Math.max(0, this.sum - other.sum);
    if (count === 0) {
      this.min = Infinity;
      this.max = -Infinity;
    }
    return this;
  }

  /** A new histogram holding this − other; neither is changed. */
  delta(previous: Histogram): Histogram {
    return this.clone().subtract(previous);
  }

  clone(): Histogram {
    const h = new Histogram();
    h.counts.set(this.counts);
    h.count = this.count;
    h.sum = this.sum;
    h.min = this.min;
    h.max = this.max;
    return h;
  }

  reset(): void {
    if (this.count === 0) return;
    this.counts.fill(0);
    this.count = 0;
    this.sum = 0;
    this.min = Infinity;
    this.max = -Infinity;
  }

  /** The mean value in µs, or NaN when empty. */
  mean(): number {
    return this.count === 0 ? NaN : this.sum / this.count;
  }

  /**
   * The q-quantile (0 ≤ q ≤ 1) in µs, or NaN when empty: the value of rank ceil(q·count) (at least 1), estimated
   * as its bucket's geometric middle, clamped to [min, max].
   */
  quantile(q: number): number {
    if (this.count === 0) return NaN;
    const qq = q < 0 ? 0 : q > 1 ? 1 : q;
    const rank = Math.max(1, Math.ceil(qq * this.count));
    let seen = 0;
    let index = BUCKETS - 1;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) {
        index = i;
        break;
      }
    }
    let v: number;
    if (index === 0) v = 0.5;
    else if (index === BUCKETS - 1) v = this.max;
    else v = bucketLower(index) * 2 ** (1 / (2 * SUB_BUCKETS));
    if (v < this.min) v = this.min;
    if (v > this.max) v = this.max;
    return v;
  }

  toJSON(): HistogramJson {
    const b: number[] = [];
    let last = -1;
    for (let i = 0; i < BUCKETS; i++) {
      const c = this.counts[i]!;
      if (c !== 0) {
        b.push(i - last, c);
        last = i;
      }
    }
    const json: HistogramJson = { n: this.count, s: this.sum, b };
    if (this.count > 0) {
      json.lo = this.min;
      json.hi = this.max;
    }
    return json;
  }

  /** Parses the wire form; throws a TypeError on a malformed one (unknown bucket, negative or mismatched count). */
  static fromJSON(json: unknown): Histogram {
    if (!isHistogramJson(json)) throw new TypeError('malformed histogram');
    return new Histogram().mergeJSON(json);
  }
}

/** Checks a wire histogram: finite non-negative numbers, buckets in range and ascending, counts that add up. */
export function isHistogramJson(json: unknown): json is HistogramJson {
  if (typeof json !== 'object' || json === null) return false;
  const j = json as Record<string, unknown>;
  if (!isCount(j['n']) || typeof j['s'] !== 'number' || !Number.isFinite(j['s']) || !Array.isArray(j['b'])) return false;
  const b = j['b'] as unknown[];
  if (b.length % 2 !== 0) return false;
  let index = -1;
  let total = 0;
  for (let k = 0; k < b.length; k += 2) {
    const gap = b[k];
    const c = b[k + 1];
    if (!Number.isInteger(gap) || (gap as number) < 1 || !isCount(c)) return false;
    index += gap as number;
    if (index >= BUCKETS) return false;
    total += c as number;
  }
  if (total !== j['n']) return false;
  for (const key of ['lo', 'hi']) {
    const v = j[key];
    if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v))) return false;
  }
  return true;
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0;
}
