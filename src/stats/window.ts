/**
 * The manager-side stats window: pure, with the manager's wall clock (`now`, ms) passed in. Deltas are bucketed
 * by the time the manager receives them, into two resolution tiers whose memory is bounded by construction:
 *
 * - fine (default 10 s): cluster-wide, one series per endpoint, per backend and one for the cluster total, each
 *   slot holding counters and a latency histogram;
 * - coarse (default 60 s): one series per node × endpoint, counters only (latency as a sum; its count is the
 *   request count).
 *
 * Every series is a ring of ceil(window / resolution) + 1 slots, overwritten as time moves on, so memory is at
 * most (endpoints + backends + 1) × (window/fine + 1) fine slots plus nodes × endpoints × (window/coarse + 1)
 * coarse slots (`size()`). A series that got nothing for a whole window is deleted by `expire`, which is how the
 * stats of removed and down nodes stay until they age out. Deltas are deduplicated by (node, stream, seq).
 */
import { BUCKETS, Histogram } from './histogram.js';
import type { HistogramJson } from './histogram.js';
import type { CircuitState, OrderedEntries, StatsDelta, StatusCounts } from './collector.js';

// Counter fields of a slot.
const F_STATUS = 0; // 6 fields: no status, 1xx..5xx
const F_BYTES_IN = 6;
const F_BYTES_OUT = 7;
const F_RATE_LIMITED = 8;
const F_ERRORS = 9;
const F_TIMEOUTS = 10;
const F_LAT_SUM = 11;
const F_LAT_COUNT = 12;
const FIELDS = 13;

/** The key of the fine series holding the cluster total (all endpoints). */
const TOTAL = '';

export interface WindowOptions {
  /** How far back stats are kept, ms. Default one hour. */
  windowMs?: number;
  /** Resolution of the cluster-wide tier (with histograms), ms. Default 10 s. */
  fineMs?: number;
  /** Resolution of the per node × endpoint tier (counters), ms. Default 60 s. */
  coarseMs?: number;
  /** Sequence numbers remembered per node stream beyond the lowest contiguous one. Default 4096. */
  dedupSpan?: number;
}

export type IngestResult = 'accepted' | 'duplicate';

export interface StatsQuery {
  /** Range in manager wall time, ms, from inclusive, to exclusive. Clamped to the window. */
  from: number;
  to: number;
  /** `METHOD path`. Alone: that endpoint cluster-wide; with `node`: that node's share of it. */
  endpoint?: string;
  /** `METHOD path#index`, cluster-wide (not combinable with `node`). */
  backend?: string;
  /** A node id: coarse resolution, no percentiles (mean latency only). */
  node?: string;
}

export interface StatsSummary {
  requests: number;
  /** Requests per second over the point's (or the range's) duration. */
  rps: number;
  /** Share of requests answered with 5xx or with no status at all; 0 when there were none. */
  errorRate: number;
  status: StatusCounts;
  bytesIn: number;
  bytesOut: number;
  rateLimited: number;
  errors: number;
  timeouts: number;
  /** Mean latency, µs; null when there were no requests. */
  meanUs: number | null;
  /** Latency quantiles, µs; null without requests or at the coarse (per node) resolution. */
  p50Us: number | null;
  p95Us: number | null;
  p99Us: number | null;
}

export interface StatsPoint extends StatsSummary {
  /** Start of the point's slot, ms. */
  t: number;
}

export interface StatsQueryResult {
  from: number;
  to: number;
  resolutionMs: number;
  series: StatsPoint[];
  totals: StatsSummary;
}

/** Slot counts of the tiers, for memory bounds. */
export interface WindowSize {
  fineSeries: number;
  fineSlots: number;
  histograms: number;
  coarseSeries: number;
  coarseSlots: number;
  nodes: number;
  /** Estimated bytes held by the slots (typed arrays only, not the Map overhead). */
  approxBytes: number;
}

/**
 * Fine slots also keep the latency range: min and max (µs), beside the FIELDS counters a query sums.
 * Their histogram counts are a row of BUCKETS Uint32 counts (a bucket would need 400 M requests per second
 * cluster-wide to pass 2^32 in a 10 s slot; the add saturates rather than wraps).
 */
const F_LAT_MIN = FIELDS;
const F_LAT_MAX = FIELDS + 1;
const FINE_FIELDS = FIELDS + 2;

/**
 * Coarse slots keep 10 counters, not FIELDS: they only ever hold endpoints, which carry no backend errors or
 * timeouts, and an endpoint's latency count is its request count (the collector records one latency per request),
 * so both are rebuilt when a slot is read (`addInto`).
 */
const COARSE_FIELDS = 10;
const C_LAT_SUM = 9;

/**
 * The typed arrays behind a group of rings: one fine series, or all of a node's endpoints. Few large arrays rather
 * than a few per series: at 1,000 nodes × 50 endpoints, per-series arrays were 200,000 ArrayBuffers, and every
 * major collection marked and swept each of them (a third of the manager's CPU in bench:stats).
 */
class RingStore {
  ids: Int32Array | Float64Array;
  data: Float64Array | Float32Array;
  /** Histogram rows (fine stores only), allocated with the first latency recorded. */
  counts: Uint32Array | null = null;
  capacity: number;
  private used = 0;
  private readonly free: number[] = [];

  constructor(
    /** Slots per ring. */
    readonly length: number,
    /** Counters per slot. */
    readonly fields: number,
    readonly fine: boolean,
    resolutionMs: number,
    capacity: number,
  ) {
    this.capacity = Math.max(1, capacity);
    // Slot ids are time / resolution: at 10 s or more they fit an Int32 for centuries (half the bytes).
    this.ids = resolutionMs >= 10_000 ? new Int32Array(this.capacity * length).fill(-1) : new Float64Array(this.capacity * length).fill(-1);
    this.data = fine ? new Float64Array(this.capacity * length * fields) : new Float32Array(this.capacity * length * fields);
  }

  /** A ring's index in the store, growing it when full. */
  allocate(): number {
    const reused = this.free.pop();
    if (reused !== undefined) return reused;
    if (this.used === this.capacity) this.grow(Math.ceil(this.capacity * 1.5));
    return this.used++;
  }

  /** Gives a ring's room back; its slots are forgotten so that the next ring there starts empty. */
  release(index: number): void {
    this.ids.fill(-1, index * this.length, (index + 1) * this.length);
    this.free.push(index);
  }

  get live(): number {
    return this.used - this.free.length;
  }

  get bytes(): number {
    return this.ids.byteLength + this.data.byteLength + (this.counts?.byteLength ?? 0);
  }

  histogramRows(): Uint32Array {
    return (this.counts ??= new Uint32Array(this.capacity * this.length * BUCKETS));
  }

  private grow(capacity: number): void {
    const ids = this.ids instanceof Int32Array ? new Int32Array(capacity * this.length) : new Float64Array(capacity * this.length);
    ids.fill(-1);
    ids.set(this.ids);
    const data = this.data instanceof Float64Array ? new Float64Array(capacity * this.length * this.fields) : new Float32Array(capacity * this.length * this.fields);
    data.set(this.data);
    if (this.counts !== null) {
      const counts = new Uint32Array(capacity * this.length * BUCKETS);
      counts.set(this.counts);
      this.counts = counts;
    }
    this.ids = ids;
    this.data = data;
    this.capacity = capacity;
  }
}

/**
 * A ring of time slots in a RingStore: fine rings hold FINE_FIELDS Float64 counters and a histogram row per slot,
 * coarse ones COARSE_FIELDS Float32 counters (exact to 2^24 per slot). `pos` below is a slot's position in the
 * ring (slot % length).
 */
class Ring {
  /** Newest slot written. */
  last = -1;
  readonly length: number;
  /** First slot position of this ring in its store. */
  private readonly base: number;

  constructor(readonly store: RingStore, readonly index: number) {
    this.length = store.length;
    this.base = index * store.length;
  }

  idAt(pos: number): number {
    return this.store.ids[this.base + pos]!;
  }

  /** The position of an absolute slot, cleared first if it held an older one. */
  at(slot: number): number {
    const pos = slot % this.length;
    const store = this.store;
    const i = this.base + pos;
    if (store.ids[i] !== slot) {
      store.ids[i] = slot;
      const o = i * store.fields;
      if (store.fine) {
        if (store.data[o + F_LAT_COUNT]! > 0) store.counts?.fill(0, i * BUCKETS, (i + 1) * BUCKETS);
        store.data.fill(0, o, o + FIELDS);
        store.data[o + F_LAT_MIN] = Infinity;
        store.data[o + F_LAT_MAX] = -Infinity;
      } else {
        store.data.fill(0, o, o + store.fields);
      }
    }
    if (slot > this.last) this.last = slot;
    return pos;
  }

  add(
    slot: number,
    status: readonly number[],
    latency: HistogramJson,
    bytesIn: number,
    bytesOut: number,
    rateLimited: number,
    errors: number,
    timeouts: number,
  ): void {
    // Two bodies, so that each typed-array access site sees one array type (Float64 fine, Float32 coarse).
    if (this.store.fine) this.addFine(this.at(slot), status, latency, bytesIn, bytesOut, rateLimited, errors, timeouts);
    else this.addCoarse(this.at(slot), status, latency, bytesIn, bytesOut, rateLimited);
  }

  private addCoarse(pos: number, status: readonly number[], latency: HistogramJson, bytesIn: number, bytesOut: number, rateLimited: number): void {
    const d = this.store.data as Float32Array;
    const o = (this.base + pos) * COARSE_FIELDS;
    for (let k = 0; k < 6; k++) d[o + F_STATUS + k] += status[k] ?? 0;
    d[o + F_BYTES_IN] += bytesIn;
    d[o + F_BYTES_OUT] += bytesOut;
    d[o + F_RATE_LIMITED] += rateLimited;
    d[o + C_LAT_SUM] += latency.s;
  }

  private addFine(
    pos: number,
    status: readonly number[],
    latency: HistogramJson,
    bytesIn: number,
    bytesOut: number,
    rateLimited: number,
    errors: number,
    timeouts: number,
  ): void {
    const store = this.store;
    const d = store.data as Float64Array;
    const i = this.base + pos;
    const o = i * FINE_FIELDS;
    for (let k = 0; k < 6; k++) d[o + F_STATUS + k] += status[k] ?? 0;
    d[o + F_BYTES_IN] += bytesIn;
    d[o + F_BYTES_OUT] += bytesOut;
    d[o + F_RATE_LIMITED] += rateLimited;
    d[o + F_ERRORS] += errors;
    d[o + F_TIMEOUTS] += timeouts;
    d[o + F_LAT_SUM] += latency.s;
    if (latency.n <= 0) return;
    d[o + F_LAT_COUNT] += latency.n;
    if (latency.lo !== undefined && latency.lo < d[o + F_LAT_MIN]!) d[o + F_LAT_MIN] = latency.lo;
    if (latency.hi !== undefined && latency.hi > d[o + F_LAT_MAX]!) d[o + F_LAT_MAX] = latency.hi;
    const c = store.histogramRows();
    const b = latency.b;
    let index = i * BUCKETS - 1;
    for (let k = 0; k + 1 < b.length; k += 2) {
      index += b[k]!;
      const v = c[index]! + b[k + 1]!;
      c[index] = v > 0xffffffff ? 0xffffffff : v;
    }
  }

  /** Adds the counters of the slot at `pos` into `sums` (FIELDS wide) at `offset`. */
  addInto(pos: number, sums: Float64Array, offset: number): void {
    const store = this.store;
    const d = store.data;
    const o = (this.base + pos) * store.fields;
    if (store.fine) {
      for (let f = 0; f < FIELDS; f++) sums[offset + f] += d[o + f]!;
      return;
    }
    let requests = 0;
    for (let k = 0; k < 6; k++) {
      const v = d[o + F_STATUS + k]!;
      sums[offset + F_STATUS + k] += v;
      requests += v;
    }
    sums[offset + F_BYTES_IN] += d[o + F_BYTES_IN]!;
    sums[offset + F_BYTES_OUT] += d[o + F_BYTES_OUT]!;
    sums[offset + F_RATE_LIMITED] += d[o + F_RATE_LIMITED]!;
    sums[offset + F_LAT_SUM] += d[o + C_LAT_SUM]!;
    sums[offset + F_LAT_COUNT] += requests;
  }

  /** Adds the slot's histogram (when it has counts) into a query's Histogram; false when it had none. */
  mergeHistogram(pos: number, h: Histogram): boolean {
    const store = this.store;
    if (!store.fine || store.counts === null) return false;
    const i = this.base + pos;
    const o = i * store.fields;
    const d = store.data;
    const n = d[o + F_LAT_COUNT]!;
    if (!(n > 0)) return false;
    const a = h.counts;
    const c = store.counts;
    const row = i * BUCKETS;
    for (let k = 0; k < BUCKETS; k++) a[k] += c[row + k]!;
    h.count += n;
    h.sum += d[o + F_LAT_SUM]!;
    if (d[o + F_LAT_MIN]! < h.min) h.min = d[o + F_LAT_MIN]!;
    if (d[o + F_LAT_MAX]! > h.max) h.max = d[o + F_LAT_MAX]!;
    return true;
  }

  /** Whether the slot at `pos` holds latency counts (a histogram). */
  hasHistogram(pos: number): boolean {
    const store = this.store;
    return store.fine && store.counts !== null && store.data[(this.base + pos) * store.fields + F_LAT_COUNT]! > 0;
  }
}

/** A node's per-endpoint coarse rings, in one store. */
class NodeSeries {
  readonly rings = new Map<string, Ring>();
  /** Rings by position in a sender's ordered key list (StatsDelta.ordered), valid for `keys` and `generation`. */
  cacheKeys: readonly string[] | undefined;
  cacheGeneration = -1;
  cacheRings: (Ring | undefined)[] = [];

  constructor(readonly store: RingStore) {}
}

interface DedupState {
  /** Every seq ≤ floor counts as seen. */
  floor: number;
  seen: Set<number>;
  lastAt: number;
}

export class StatsWindow {
  readonly windowMs: number;
  readonly fineMs: number;
  readonly coarseMs: number;
  private readonly dedupSpan: number;
  private readonly fineLength: number;
  private readonly coarseLength: number;
  /** Cluster-wide series: endpoint keys, backend keys, and TOTAL (each in a store of its own). */
  private readonly fine = new Map<string, Ring>();
  /** Fine rings by position in a sender's ordered key list, valid for `fineCacheKeys` and the generation. */
  private fineCacheKeys: readonly string[] | undefined;
  private fineCacheGeneration = -1;
  private fineCacheRings: (Ring | undefined)[] = [];
  /** node → endpoint → counters. */
  private readonly coarse = new Map<string, NodeSeries>();
  /** Bumped whenever series may have been deleted: the position caches are rebuilt after it. */
  private generation = 0;
  /** node → stream → dedup state. */
  private readonly dedup = new Map<string, Map<string, DedupState>>();
  /** node → backend → circuit state last seen. */
  private readonly circuits = new Map<string, Map<string, { state: CircuitState; at: number }>>();
  /** node → deltas it reported dropped (the latest figure per stream, summed over streams seen). */
  private readonly dropped = new Map<string, Map<string, number>>();
  private lastExpiry = -Infinity;

  constructor(options: WindowOptions = {}) {
    this.windowMs = options.windowMs ?? 3_600_000;
    this.fineMs = options.fineMs ?? 10_000;
    this.coarseMs = options.coarseMs ?? 60_000;
    this.dedupSpan = options.dedupSpan ?? 4096;
    if (!(this.fineMs > 0 && this.coarseMs > 0 && this.windowMs >= this.coarseMs && this.windowMs >= this.fineMs)) {
      throw new RangeError('stats window: resolutions must be positive and no longer than the window');
    }
    this.fineLength = Math.ceil(this.windowMs / this.fineMs) + 1;
    this.coarseLength = Math.ceil(this.windowMs / this.coarseMs) + 1;
  }

  /**
   * Adds a node's delta, bucketed at `now` (the manager's receive time). A (node, stream, seq) seen before is a
   * duplicate and changes nothing. Also expires old series, at most once per coarse slot.
   */
  ingest(nodeId: string, delta: StatsDelta, now: number): IngestResult {
    if (now - this.lastExpiry >= this.coarseMs) this.expire(now);
    if (!this.firstTime(nodeId, delta.stream, delta.seq, now)) return 'duplicate';

    let drops = this.dropped.get(nodeId);
    if (drops === undefined) this.dropped.set(nodeId, (drops = new Map()));
    drops.set(delta.stream, Math.max(drops.get(delta.stream) ?? 0, delta.dropped));

    const fineSlot = Math.floor(now / this.fineMs);
    const coarseSlot = Math.floor(now / this.coarseMs);
    let perNode = this.coarse.get(nodeId);
    if (perNode === undefined) {
      const expected = delta.ordered?.endpoints.length ?? Object.keys(delta.endpoints).length;
      perNode = new NodeSeries(new RingStore(this.coarseLength, COARSE_FIELDS, false, this.coarseMs, expected));
      this.coarse.set(nodeId, perNode);
    }
    const total = this.fineRing(TOTAL);
    const ordered = delta.ordered ?? orderedOf(delta);
    const { keys, endpoints, backends } = ordered;
    const fine = this.fineRingsFor(keys);
    const coarse = this.coarseRingsFor(perNode, keys, endpoints.length);
    for (let i = 0; i < endpoints.length; i++) {
      const e = endpoints[i]!;
      const ring = (fine[i] ??= this.fineRing(keys[i]!));
      ring.add(fineSlot, e.status, e.latency, e.bytesIn, e.bytesOut, e.rateLimited, 0, 0);
      total.add(fineSlot, e.status, e.latency, e.bytesIn, e.bytesOut, e.rateLimited, 0, 0);
      const own = (coarse[i] ??= this.coarseRing(perNode, keys[i]!));
      own.add(coarseSlot, e.status, e.latency, e.bytesIn, e.bytesOut, e.rateLimited, 0, 0);
    }
    const ne = endpoints.length;
    for (let i = 0; i < backends.length; i++) {
      const b = backends[i]!;
      const key = keys[ne + i]!;
      if (b.latency.n > 0 || b.errors > 0 || b.timeouts > 0) {
        const ring = (fine[ne + i] ??= this.fineRing(key));
        ring.add(fineSlot, b.status, b.latency, b.bytesIn, b.bytesOut, 0, b.errors, b.timeouts);
      }
      if (b.circuit !== undefined) {
        let c = this.circuits.get(nodeId);
        if (c === undefined) this.circuits.set(nodeId, (c = new Map()));
        const seen = c.get(key);
        if (seen === undefined) c.set(key, { state: b.circuit, at: now });
        else {
          seen.state = b.circuit;
          seen.at = now;
        }
      }
    }
    return 'accepted';
  }

  /** Deletes series, dedup state and circuit states that got nothing within the window before `now`. */
  expire(now: number): void {
    this.lastExpiry = now;
    this.generation++;
    const oldestFine = Math.floor((now - this.windowMs) / this.fineMs);
    // forEach rather than for-of over entries: no [key, value] array per series (50,000 at 1,000 nodes).
    this.fine.forEach((ring, k) => {
      if (ring.last < oldestFine) this.fine.delete(k);
    });
    const oldestCoarse = Math.floor((now - this.windowMs) / this.coarseMs);
    this.coarse.forEach((perNode, node) => {
      perNode.rings.forEach((ring, k) => {
        if (ring.last >= oldestCoarse) return;
        perNode.rings.delete(k);
        perNode.store.release(ring.index);
      });
      if (perNode.rings.size === 0) this.coarse.delete(node);
    });
    const cutoff = now - this.windowMs;
    for (const [node, streams] of this.dedup) {
      for (const [s, st] of streams) if (st.lastAt < cutoff) streams.delete(s);
      if (streams.size === 0) {
        this.dedup.delete(node);
        this.dropped.delete(node);
      }
    }
    for (const [node, c] of this.circuits) {
      for (const [k, v] of c) if (v.at < cutoff) c.delete(k);
      if (c.size === 0) this.circuits.delete(node);
    }
  }

  /**
   * Series and totals over [from, to), clamped to the window ending at `now`. The series has one point per slot
   * (fine resolution cluster-wide, coarse with `node`), zeros where nothing came. Throws a RangeError on a bad
   * range or on `backend` with `node`.
   */
  query(q: StatsQuery, now: number): StatsQueryResult {
    const res = q.node === undefined ? this.fineMs : this.coarseMs;
    const { first, end } = this.rangeSlots(q.from, q.to, now, res);
    if (q.node !== undefined && q.backend !== undefined) {
      throw new RangeError('stats query: backends are kept cluster-wide only, not per node');
    }
    const points = Math.max(0, end - first);

    let rings: Ring[];
    if (q.node !== undefined) {
      const perNode = this.coarse.get(q.node);
      rings = perNode === undefined ? [] : q.endpoint !== undefined ? optional(perNode.rings.get(q.endpoint)) : [...perNode.rings.values()];
    } else {
      rings = optional(this.fine.get(q.backend ?? q.endpoint ?? TOTAL));
    }

    const sums = new Float64Array(points * FIELDS);
    const hists: (Histogram | null)[] = new Array<Histogram | null>(points).fill(null);
    const totalHist = new Histogram();
    for (const ring of rings) {
      for (let pos = 0; pos < ring.length; pos++) {
        const id = ring.idAt(pos);
        if (id < first || id >= end) continue;
        const p = id - first;
        ring.addInto(pos, sums, p * FIELDS);
        if (ring.hasHistogram(pos)) {
          ring.mergeHistogram(pos, (hists[p] ??= new Histogram()));
          ring.mergeHistogram(pos, totalHist);
        }
      }
    }
    const series: StatsPoint[] = [];
    const total = new Float64Array(FIELDS);
    for (let p = 0; p < points; p++) {
      const o = p * FIELDS;
      for (let f = 0; f < FIELDS; f++) total[f] += sums[o + f]!;
      series.push({ t: (first + p) * res, ...summarize(sums.subarray(o, o + FIELDS), hists[p] ?? null, res) });
    }
    const from = first * res;
    const to = Math.max(from, end * res);
    return {
      from,
      to,
      resolutionMs: res,
      series,
      totals: summarize(total, q.node === undefined ? totalHist : null, Math.max(to - from, res)),
    };
  }

  /** Keys of the endpoints and backends with cluster-wide stats in the window. */
  keys(): string[] {
    return [...this.fine.keys()].filter((k) => k !== TOTAL).sort();
  }

  /** Nodes with stats in the window (including removed and down ones until they age out). */
  nodes(): string[] {
    return [...new Set([...this.coarse.keys(), ...this.dedup.keys()])].sort();
  }

  /** The circuit states last seen for a node's backends. */
  circuitStates(nodeId: string): Record<string, { state: CircuitState; at: number }> {
    return Object.fromEntries(this.circuits.get(nodeId) ?? []);
  }

  /** Deltas a node reported dropping (summed over its streams in the window). */
  droppedDeltas(nodeId: string): number {
    let n = 0;
    for (const v of this.dropped.get(nodeId)?.values() ?? []) n += v;
    return n;
  }

  /** Slot counts, for memory bounds. */
  size(): WindowSize {
    let histograms = 0;
    let bytes = 0;
    for (const r of this.fine.values()) {
      for (let pos = 0; pos < r.length; pos++) if (r.hasHistogram(pos)) histograms++;
      bytes += r.store.bytes;
    }
    let coarseSeries = 0;
    for (const m of this.coarse.values()) {
      coarseSeries += m.rings.size;
      bytes += m.store.bytes;
    }
    return {
      fineSeries: this.fine.size,
      fineSlots: this.fine.size * this.fineLength,
      histograms,
      coarseSeries,
      coarseSlots: coarseSeries * this.coarseLength,
      nodes: this.nodes().length,
      approxBytes: bytes,
    };
  }

  private fineRing(key: string): Ring {
    let r = this.fine.get(key);
    if (r === undefined) this.fine.set(key, (r = new Ring(new RingStore(this.fineLength, FINE_FIELDS, true, this.fineMs, 1), 0)));
    return r;
  }

  private coarseRing(perNode: NodeSeries, key: string): Ring {
    let r = perNode.rings.get(key);
    if (r === undefined) perNode.rings.set(key, (r = new Ring(perNode.store, perNode.store.allocate())));
    return r;
  }

  /**
   * The fine rings by key position, for a sender's ordered keys; entries are filled as they are first needed
   * (a backend gets a series only once it has stats). Nodes running one config share one key list.
   */
  private fineRingsFor(keys: readonly string[]): (Ring | undefined)[] {
    if (keys !== this.fineCacheKeys || this.fineCacheGeneration !== this.generation) {
      this.fineCacheKeys = keys;
      this.fineCacheGeneration = this.generation;
      this.fineCacheRings = keys.map((k) => this.fine.get(k));
    }
    return this.fineCacheRings;
  }

  private coarseRingsFor(perNode: NodeSeries, keys: readonly string[], endpoints: number): (Ring | undefined)[] {
    if (keys !== perNode.cacheKeys || perNode.cacheGeneration !== this.generation) {
      perNode.cacheKeys = keys;
      perNode.cacheGeneration = this.generation;
      perNode.cacheRings = keys.slice(0, endpoints).map((k) => perNode.rings.get(k));
    }
    return perNode.cacheRings;
  }

  /** Records (node, stream, seq) as seen; false if it was already. */
  private firstTime(nodeId: string, stream: string, seq: number, now: number): boolean {
    let streams = this.dedup.get(nodeId);
    if (streams === undefined) this.dedup.set(nodeId, (streams = new Map()));
    let st = streams.get(stream);
    if (st === undefined) streams.set(stream, (st = { floor: 0, seen: new Set(), lastAt: now }));
    st.lastAt = now;
    if (seq <= st.floor || st.seen.has(seq)) return false;
    st.seen.add(seq);
    // Advance the floor over contiguous seqs, and past anything older than the span.
    while (st.seen.has(st.floor + 1)) st.seen.delete(++st.floor);
    if (st.seen.size > this.dedupSpan) {
      const newFloor = seq - this.dedupSpan;
      for (const s of st.seen) if (s <= newFloor) st.seen.delete(s);
      if (newFloor > st.floor) st.floor = newFloor;
    }
    return true;
  }

  /**
   * Per node, its totals over [from, to) (clamped to the window ending at `now`) summed over its endpoints at the
   * coarse resolution, in one pass over the coarse tier: for a nodes table, without one query per node. Nodes
   * with nothing in the range are absent. Throws a RangeError on a bad range.
   */
  nodeTotals(from: number, to: number, now: number): Map<string, StatsSummary> {
    const { first, end, durationMs } = this.rangeSlots(from, to, now, this.coarseMs);
    const out = new Map<string, StatsSummary>();
    const sums = new Float64Array(FIELDS);
    for (const [node, perNode] of this.coarse) {
      sums.fill(0);
      for (const ring of perNode.rings.values()) addSlots(ring, first, end, sums, null);
      if (sums[F_LAT_COUNT]! > 0 || hasRequests(sums)) out.set(node, summarize(sums, null, durationMs));
    }
    return out;
  }

  /**
   * Per endpoint and backend key, its cluster-wide totals over [from, to) with latency quantiles, in one pass
   * per series (no per-slot points): for an endpoints table. Keys with nothing in the range are absent.
   */
  keyTotals(from: number, to: number, now: number): Map<string, StatsSummary> {
    const { first, end, durationMs } = this.rangeSlots(from, to, now, this.fineMs);
    const out = new Map<string, StatsSummary>();
    const sums = new Float64Array(FIELDS);
    for (const [key, ring] of this.fine) {
      if (key === TOTAL || ring.last < first) continue;
      sums.fill(0);
      const hist = new Histogram();
      addSlots(ring, first, end, sums, hist);
      if (sums[F_LAT_COUNT]! > 0 || hasRequests(sums) || sums[F_ERRORS]! > 0 || sums[F_TIMEOUTS]! > 0) {
        out.set(key, summarize(sums, hist, durationMs));
      }
    }
    return out;
  }

  /** Slots [first, end) of a resolution covering [from, to) within the window ending at `now`. */
  private rangeSlots(from: number, to: number, now: number, res: number): { first: number; end: number; durationMs: number } {
    if (!Number.isFinite(from) || !Number.isFinite(to) || from >= to) {
      throw new RangeError('stats query: from and to must be finite with from < to');
    }
    const first = Math.max(Math.floor(from / res), Math.floor((now - this.windowMs) / res));
    const end = Math.min(Math.ceil(to / res), Math.floor(now / res) + 1);
    return { first, end, durationMs: Math.max((end - first) * res, res) };
  }

  /**
   * One node's endpoints with their totals over [from, to) at the coarse resolution (clamped to the window ending
   * at `now`), in one pass over that node's series only: a node's detail view, without a query per endpoint.
   * Endpoints with nothing in the range are absent; an unknown node gives an empty map.
   */
  nodeEndpointTotals(nodeId: string, from: number, to: number, now: number): Map<string, StatsSummary> {
    const { first, end, durationMs } = this.rangeSlots(from, to, now, this.coarseMs);
    const out = new Map<string, StatsSummary>();
    const sums = new Float64Array(FIELDS);
    for (const [key, ring] of this.coarse.get(nodeId)?.rings ?? []) {
      if (ring.last < first) continue;
      sums.fill(0);
      addSlots(ring, first, end, sums, null);
      if (hasRequests(sums)) out.set(key, summarize(sums, null, durationMs));
    }
    return out;
  }

  /**
   * Per backend: how many nodes last reported its circuit breaker closed, open or half-open, counting only reports
   * at or after `since` (a node gone quiet earlier no longer says anything about the backend). Backends without a
   * breaker never report a state and are absent.
   */
  circuitCounts(since: number): Map<string, Record<CircuitState, number>> {
    const out = new Map<string, Record<CircuitState, number>>();
    for (const perNode of this.circuits.values()) {
      for (const [backend, c] of perNode) {
        if (c.at < since) continue;
        let counts = out.get(backend);
        if (counts === undefined) out.set(backend, (counts = { closed: 0, open: 0, 'half-open': 0 }));
        counts[c.state]++;
      }
    }
    return out;
  }
}

/** Adds a ring's slots in [first, end) into `sums` (and its histograms into `hist`). */
function addSlots(ring: Ring, first: number, end: number, sums: Float64Array, hist: Histogram | null): void {
  // Only the slots the range can hold are visited: a five-minute range over an hour's ring reads a handful.
  const last = Math.min(end - 1, ring.last);
  for (let slot = Math.max(first, ring.last - ring.length + 1); slot <= last; slot++) {
    const pos = slot % ring.length;
    if (ring.idAt(pos) !== slot) continue;
    ring.addInto(pos, sums, 0);
    if (hist !== null) ring.mergeHistogram(pos, hist);
  }
}

function hasRequests(sums: Float64Array): boolean {
  for (let i = 0; i < 6; i++) if (sums[F_STATUS + i]! > 0) return true;
  return false;
}

/** A delta's entries in key order, for a delta that came without them (the collector's, or a v1 sender's). */
function orderedOf(delta: StatsDelta): OrderedEntries {
  const eKeys = Object.keys(delta.endpoints);
  const bKeys = Object.keys(delta.backends);
  return {
    keys: [...eKeys, ...bKeys],
    endpoints: eKeys.map((k) => delta.endpoints[k]!),
    backends: bKeys.map((k) => delta.backends[k]!),
  };
}

function optional<T>(v: T | undefined): T[] {
  return v === undefined ? [] : [v];
}

function summarize(c: Float64Array, hist: Histogram | null, durationMs: number): StatsSummary {
  const status = Array.from(c.subarray(F_STATUS, F_STATUS + 6)) as StatusCounts;
  const requests = status[0] + status[1] + status[2] + status[3] + status[4] + status[5];
  const latCount = c[F_LAT_COUNT]!;
  const has = hist !== null && hist.count > 0;
  return {
    requests,
    rps: requests / (durationMs / 1000),
    errorRate: requests === 0 ? 0 : (status[0] + status[5]) / requests,
    status,
    bytesIn: c[F_BYTES_IN]!,
    bytesOut: c[F_BYTES_OUT]!,
    rateLimited: c[F_RATE_LIMITED]!,
    errors: c[F_ERRORS]!,
    timeouts: c[F_TIMEOUTS]!,
    meanUs: latCount === 0 ? null : c[F_LAT_SUM]! / latCount,
    p50Us: has ? hist.quantile(0.5) : null,
    p95Us: has ? hist.quantile(0.95) : null,
    p99Us: has ? hist.quantile(0.99) : null,
  };
}
