/**
 * The node's StatsCollector, readable as cumulative totals for a Prometheus scrape. The hot path is the
 * collector's own (the same counters the cluster's stats use: no second set of counters per request). Its
 * counters are reset each time the cluster agent takes a delta, so each delta taken is folded into running
 * totals here, and a scrape reads totals + what the live counters hold since the last delta. Standalone, nobody
 * takes deltas and the live counters are the totals.
 */
import { StatsCollector } from '../../stats/collector.js';
import type { BackendCounters, CircuitState, CollectorOptions, EndpointCounters, StatsDelta, StatusCounts } from '../../stats/collector.js';
import { BUCKETS, Histogram } from '../../stats/histogram.js';
import type { HistogramJson } from '../../stats/histogram.js';

/** One endpoint's or backend's totals since the process started. */
export interface CumulativeCounts {
  /** No status, 1xx … 5xx. */
  status: StatusCounts;
  latency: Histogram;
  bytesIn: number;
  bytesOut: number;
  rateLimited: number;
  errors: number;
  timeouts: number;
  circuit: CircuitState | undefined;
}

interface Totals {
  status: Float64Array;
  latency: Histogram;
  bytesIn: number;
  bytesOut: number;
  rateLimited: number;
  errors: number;
  timeouts: number;
}

export class CumulativeStatsCollector extends StatsCollector {
  private readonly endpointHandles = new Map<string, EndpointCounters>();
  private readonly backendHandles = new Map<string, BackendCounters>();
  private readonly endpointTotals = new Map<string, Totals>();
  private readonly backendTotals = new Map<string, Totals>();

  constructor(options: CollectorOptions) {
    super(options);
  }

  override endpoint(key: string): EndpointCounters {
    const c = super.endpoint(key);
    this.endpointHandles.set(key, c);
    return c;
  }

  override backend(key: string): BackendCounters {
    const c = super.backend(key);
    this.backendHandles.set(key, c);
    return c;
  }

  override takeDelta(): StatsDelta {
    const delta = super.takeDelta();
    for (const key in delta.endpoints) {
      const e = delta.endpoints[key]!;
      fold(totalsOf(this.endpointTotals, key), e.status, e.latency, e.bytesIn, e.bytesOut, e.rateLimited, 0, 0);
    }
    for (const key in delta.backends) {
      const b = delta.backends[key]!;
      fold(totalsOf(this.backendTotals, key), b.status, b.latency, b.bytesIn, b.bytesOut, 0, b.errors, b.timeouts);
    }
    return delta;
  }

  /** Per endpoint key (`METHOD path`), its totals since start, sorted by key. */
  endpointCounts(): Map<string, CumulativeCounts> {
    const out = new Map<string, CumulativeCounts>();
    for (const key of [...this.endpointHandles.keys()].sort()) {
      const live = this.endpointHandles.get(key)!;
      out.set(key, combine(this.endpointTotals.get(key), live.status, live.latency, live.bytesIn, live.bytesOut, live.rateLimited, 0, 0, undefined));
    }
    return out;
  }

  /** Per backend key (`METHOD path#index`), its totals since start and its circuit breaker's last state. */
  backendCounts(): Map<string, CumulativeCounts> {
    const out = new Map<string, CumulativeCounts>();
    for (const key of [...this.backendHandles.keys()].sort()) {
      const live = this.backendHandles.get(key)!;
      out.set(key, combine(this.backendTotals.get(key), live.status, live.latency, live.bytesIn, live.bytesOut, 0, live.errors, live.timeouts, live.circuit));
    }
    return out;
  }
}

function totalsOf(map: Map<string, Totals>, key: string): Totals {
  let t = map.get(key);
  if (t === undefined) {
    t = { status: new Float64Array(6), latency: new Histogram(), bytesIn: 0, bytesOut: 0, rateLimited: 0, errors: 0, timeouts: 0 };
    map.set(key, t);
  }
  return t;
}

function fold(
  t: Totals,
  status: readonly number[],
  latency: HistogramJson,
  bytesIn: number,
  bytesOut: number,
  rateLimited: number,
  errors: number,
  timeouts: number,
): void {
  for (let i = 0; i < 6; i++) t.status[i]! += status[i] ?? 0;
  t.latency.mergeJSON(latency);
  t.bytesIn += bytesIn;
  t.bytesOut += bytesOut;
  t.rateLimited += rateLimited;
  t.errors += errors;
  t.timeouts += timeouts;
}

function combine(
  t: Totals | undefined,
  status: Float64Array,
  latency: Histogram,
  bytesIn: number,
  bytesOut: number,
  rateLimited: number,
  errors: number,
  timeouts: number,
  circuit: CircuitState | undefined,
): CumulativeCounts {
  const s = Array.from(status) as StatusCounts;
  const hist = latency.clone();
  if (t !== undefined) {
    for (let i = 0; i < 6; i++) s[i] += t.status[i]!;
    hist.merge(t.latency);
  }
  return {
    status: s,
    latency: hist,
    bytesIn: bytesIn + (t?.bytesIn ?? 0),
    bytesOut: bytesOut + (t?.bytesOut ?? 0),
    rateLimited: rateLimited + (t?.rateLimited ?? 0),
    errors: errors + (t?.errors ?? 0),
    timeouts: timeouts + (t?.timeouts ?? 0),
    circuit,
  };
}

/** Cumulative counts of a histogram at upper bounds 2^k µs (k = from … to), exact on the shared bucket bounds. */
export function cumulativeAtPowersOfTwo(h: Histogram, fromExp: number, toExp: number): { leUs: number; count: number }[] {
  const out: { leUs: number; count: number }[] = [];
  let running = 0;
  let index = 0;
  for (let k = fromExp; k <= toExp; k++) {
    // Bucket 8k is [2^((8k-1)/8), 2^k) µs: the last one entirely below 2^k.
    const last = Math.min(BUCKETS - 2, k * 8);
    for (; index <= last; index++) running += h.counts[index]!;
    out.push({ leUs: 2 ** k, count: running });
  }
  return out;
}
