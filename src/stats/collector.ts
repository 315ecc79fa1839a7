/**
 * The node-side stats collector's pure state. The proxy stack takes a counter handle per endpoint and per backend
 * once, when it is built (`endpoint(key)`, `backend(key)`), and records on it per request: no lookups, no
 * allocation. Every stats interval the driver calls `takeDelta()`, which moves the counters into a numbered delta,
 * resets them, and queues the delta until the manager acks it (`ack(seq)`). While no manager answers, the queue
 * keeps at most `maxPending` deltas, dropping the oldest and counting the drops. A resend carries the same
 * (stream, seq), so the manager counts it once.
 */
import { Histogram, isHistogramJson } from './histogram.js';
import type { HistogramJson } from './histogram.js';

/** Circuit-breaker states as a backend reports them. */
export type CircuitState = 'closed' | 'open' | 'half-open';

/** How a backend call ended, beyond its status. */
export const BackendOutcome = { Ok: 0, Error: 1, Timeout: 2 } as const;
export type BackendOutcome = (typeof BackendOutcome)[keyof typeof BackendOutcome];

/**
 * Requests by status class: index 0 counts requests without a status (failed before any response), 1..5 count
 * 1xx..5xx. Anything outside 100..599 counts as 0.
 */
export type StatusCounts = [number, number, number, number, number, number];

export interface EndpointDelta {
  status: StatusCounts;
  latency: HistogramJson;
  bytesIn: number;
  bytesOut: number;
  rateLimited: number;
}

export interface BackendDelta {
  status: StatusCounts;
  latency: HistogramJson;
  bytesIn: number;
  bytesOut: number;
  errors: number;
  timeouts: number;
  /** The circuit breaker's state last seen, when the backend has one. */
  circuit?: CircuitState;
}

/** One interval's stats from one node: what changed since the previous delta. */
export interface StatsDelta {
  /** Identifies one run of the collector (a node restart starts a new stream, and seq again from 1). */
  stream: string;
  /** 1, 2, 3, … within the stream. */
  seq: number;
  /** Deltas this collector dropped so far (queue full while no manager answered). */
  dropped: number;
  /** Keyed by `METHOD path`. Only endpoints with activity. */
  endpoints: Record<string, EndpointDelta>;
  /** Keyed by `METHOD path#index`. Backends with activity or a known circuit state. */
  backends: Record<string, BackendDelta>;
  /**
   * The same entries in key order, as a receiver of the packed form has them: `keys[i]` names `endpoints[i]` and
   * `keys[endpoints.length + i]` names `backends[i]`. While the sender's key table stays the same, so do these array
   * objects, so a consumer may cache per `keys` (the window resolves its series once, not by name per delta). Never
   * sent: the collector's own deltas have none.
   */
  ordered?: OrderedEntries;
}

export interface OrderedEntries {
  readonly keys: readonly string[];
  readonly endpoints: readonly EndpointDelta[];
  readonly backends: readonly BackendDelta[];
}

/** Status class index of an HTTP status: 1..5, or 0 for none. */
export function statusClass(status: number): number {
  const c = (status / 100) | 0;
  return c >= 1 && c <= 5 ? c : 0;
}

/** The key of an endpoint: `METHOD path`. */
export function endpointKey(method: string, path: string): string {
  return `${method.toUpperCase()} ${path}`;
}

/** The key of a backend: `METHOD path#index`. */
export function backendKey(endpoint: string, index: number): string {
  return `${endpoint}#${index}`;
}

/** The counters of one endpoint. Record methods are allocation-free. */
export class EndpointCounters {
  readonly status = new Float64Array(6);
  readonly latency = new Histogram();
  bytesIn = 0;
  bytesOut = 0;
  rateLimited = 0;
  active = false;

  /** One served request: its status (0 if none was sent), latency in µs, and bytes received and sent. */
  request(status: number, latencyUs: number, bytesIn: number, bytesOut: number): void {
    this.status[statusClass(status)]++;
    this.latency.record(latencyUs);
    this.bytesIn += bytesIn;
    this.bytesOut += bytesOut;
    this.active = true;
  }

  /** One request refused by a rate limit (counted apart from `request`; record the 429 there too if served). */
  rateLimit(): void {
    this.rateLimited++;
    this.active = true;
  }

  take(): EndpointDelta {
    const d: EndpointDelta = {
      status: Array.from(this.status) as StatusCounts,
      latency: this.latency.toJSON(),
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
      rateLimited: this.rateLimited,
    };
    this.status.fill(0);
    this.latency.reset();
    this.bytesIn = this.bytesOut = this.rateLimited = 0;
    this.active = false;
    return d;
  }
}

/** The counters of one backend. */
export class BackendCounters {
  readonly status = new Float64Array(6);
  readonly latency = new Histogram();
  bytesIn = 0;
  bytesOut = 0;
  errors = 0;
  timeouts = 0;
  circuit: CircuitState | undefined = undefined;
  active = false;

  /**
   * One backend call: status (0 if no response), latency in µs, bytes received from and sent to the backend, and
   * how it ended (a timeout or connection error usually has status 0).
   */
  call(status: number, latencyUs: number, bytesIn: number, bytesOut: number, outcome: BackendOutcome = 0): void {
    this.status[statusClass(status)]++;
    this.latency.record(latencyUs);
    this.bytesIn += bytesIn;
    this.bytesOut += bytesOut;
    if (outcome === 1) this.errors++;
    else if (outcome === 2) this.timeouts++;
    this.active = true;
  }

  /** The circuit breaker's current state (sent with every delta from now on). */
  circuitState(state: CircuitState): void {
    this.circuit = state;
  }

  take(): BackendDelta {
    const d: BackendDelta = {
      status: Array.from(this.status) as StatusCounts,
      latency: this.latency.toJSON(),
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
      errors: this.errors,
      timeouts: this.timeouts,
    };
    if (this.circuit !== undefined) d.circuit = this.circuit;
    this.status.fill(0);
    this.latency.reset();
    this.bytesIn = this.bytesOut = this.errors = this.timeouts = 0;
    this.active = false;
    return d;
  }
}

export interface CollectorOptions {
  /** Identifies this run of the node (e.g. a random id drawn at start). */
  stream: string;
  /** Deltas kept while unacknowledged; beyond it the oldest is dropped. Default 720 (one hour at 5 s). */
  maxPending?: number;
}

export class StatsCollector {
  readonly stream: string;
  readonly maxPending: number;
  private readonly endpoints = new Map<string, EndpointCounters>();
  private readonly backends = new Map<string, BackendCounters>();
  private readonly queue: StatsDelta[] = [];
  private nextSeq = 1;
  private droppedCount = 0;

  constructor(options: CollectorOptions) {
    this.stream = options.stream;
    this.maxPending = Math.max(1, options.maxPending ?? 720);
  }

  /** The counters of an endpoint (`METHOD path`), created on first use; keep the handle. */
  endpoint(key: string): EndpointCounters {
    let c = this.endpoints.get(key);
    if (c === undefined) {
      c = new EndpointCounters();
      this.endpoints.set(key, c);
    }
    return c;
  }

  /** The counters of a backend (`METHOD path#index`), created on first use; keep the handle. */
  backend(key: string): BackendCounters {
    let c = this.backends.get(key);
    if (c === undefined) {
      c = new BackendCounters();
      this.backends.set(key, c);
    }
    return c;
  }

  /** Convenience for callers without a handle: one lookup, then `EndpointCounters.request`. */
  recordRequest(endpoint: string, status: number, latencyUs: number, bytesIn: number, bytesOut: number): void {
    this.endpoint(endpoint).request(status, latencyUs, bytesIn, bytesOut);
  }

  recordRateLimited(endpoint: string): void {
    this.endpoint(endpoint).rateLimit();
  }

  recordBackend(
    backend: string,
    status: number,
    latencyUs: number,
    bytesIn: number,
    bytesOut: number,
    outcome: BackendOutcome = 0,
  ): void {
    this.backend(backend).call(status, latencyUs, bytesIn, bytesOut, outcome);
  }

  recordCircuit(backend: string, state: CircuitState): void {
    this.backend(backend).circuitState(state);
  }

  /** Moves the counters into a new numbered delta, resets them, queues the delta and returns it. */
  takeDelta(): StatsDelta {
    const endpoints: Record<string, EndpointDelta> = {};
    const backends: Record<string, BackendDelta> = {};
    for (const [k, c] of this.endpoints) if (c.active) endpoints[k] = c.take();
    for (const [k, c] of this.backends) if (c.active || c.circuit !== undefined) backends[k] = c.take();
    const delta: StatsDelta = { stream: this.stream, seq: this.nextSeq++, dropped: 0, endpoints, backends };
    this.queue.push(delta);
    while (this.queue.length > this.maxPending) {
      this.queue.shift();
      this.droppedCount++;
    }
    delta.dropped = this.droppedCount;
    return delta;
  }

  /** The unacknowledged deltas, oldest first: what to (re)send. */
  pending(): readonly StatsDelta[] {
    return this.queue;
  }

  /** The manager has stored every delta up to and including seq: they are freed. */
  ack(seq: number): void {
    let n = 0;
    while (n < this.queue.length && this.queue[n]!.seq <= seq) n++;
    if (n > 0) this.queue.splice(0, n);
  }

  /** Deltas dropped so far because the queue was full. */
  get dropped(): number {
    return this.droppedCount;
  }
}

/**
 * Checks a delta received from the wire: a non-empty stream, a positive integer seq, and well-formed entries
 * (status arrays of six non-negative counts, valid histograms, non-negative finite counters, a known circuit state).
 */
export function isStatsDelta(x: unknown): x is StatsDelta {
  if (!isRecord(x)) return false;
  if (typeof x['stream'] !== 'string' || x['stream'] === '') return false;
  if (!Number.isSafeInteger(x['seq']) || (x['seq'] as number) < 1 || !isCounter(x['dropped'])) return false;
  const endpoints = x['endpoints'];
  const backends = x['backends'];
  if (!isRecord(endpoints) || !isRecord(backends)) return false;
  for (const k in endpoints) {
    const e = endpoints[k];
    if (!isRecord(e) || !isCommon(e) || !isCounter(e['rateLimited'])) return false;
  }
  for (const k in backends) {
    const b = backends[k];
    if (!isRecord(b) || !isCommon(b) || !isCounter(b['errors']) || !isCounter(b['timeouts'])) return false;
    const c = b['circuit'];
    if (c !== undefined && c !== 'closed' && c !== 'open' && c !== 'half-open') return false;
  }
  return true;
}

function isCommon(e: Record<string, unknown>): boolean {
  const s = e['status'];
  return (
    Array.isArray(s) &&
    s.length === 6 &&
    s.every(isCounter) &&
    isHistogramJson(e['latency']) &&
    isCounter(e['bytesIn']) &&
    isCounter(e['bytesOut'])
  );
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function isCounter(x: unknown): boolean {
  return typeof x === 'number' && Number.isFinite(x) && x >= 0;
}
