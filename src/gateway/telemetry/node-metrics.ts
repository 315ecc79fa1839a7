/**
 * A node's Prometheus metrics, read at scrape time from its CumulativeStatsCollector (so enabling them adds
 * nothing per request beyond the stats collector itself), plus the node's cluster view and, optionally,
 * prom-client's process metrics. One prom-client Registry per instance: never the global default one, so several
 * gateways in one process each export their own.
 */
import { Registry, collectDefaultMetrics } from 'prom-client';
import type { Metric } from 'prom-client';
import type { CumulativeCounts, CumulativeStatsCollector } from './cumulative-stats.js';
import { cumulativeAtPowersOfTwo } from './cumulative-stats.js';

/** What the node's cluster agent tells the exporter (cluster mode only). */
export interface ClusterView {
  /** The id the manager assigned; undefined before the first admission. */
  nodeId(): string | undefined;
  /** `connecting`, `admitted`, `refused` or `left`. */
  state(): string;
  /** The leases the manager gave, per cluster-wide limit. */
  leases(): readonly { limitId: string; rate: number; capacity: number }[];
}

export interface NodeMetricsOptions {
  stats: CumulativeStatsCollector;
  processMetrics: boolean;
  cluster?: ClusterView;
}

type Labels = Record<string, string>;
interface Sample {
  labels: Labels;
  value: number;
  metricName?: string;
}
interface Collected {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  values: Sample[];
  aggregator: 'sum';
}

/** Latency histogram bounds: 2^k µs for k = 7 … 25, i.e. 128 µs … 33.6 s, exact on the collector's buckets. */
const LE_FROM_EXP = 7;
const LE_TO_EXP = 25;
const STATUS_CLASSES = ['none', '1xx', '2xx', '3xx', '4xx', '5xx'] as const;
const CIRCUIT_STATES = ['closed', 'open', 'half-open'] as const;
const CLUSTER_STATES = ['connecting', 'admitted', 'refused', 'left'] as const;

/** A metric computed on each scrape; prom-client formats it like its own. */
class ScrapedMetric {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: Collected['type'],
    private readonly read: () => Sample[],
  ) {}

  get(): Promise<Collected> {
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, values: this.read(), aggregator: 'sum' });
  }
}

export class NodeMetrics {
  readonly registry = new Registry();
  private snapshot: { at: number; endpoints: Map<string, CumulativeCounts>; backends: Map<string, CumulativeCounts> } | undefined;

  constructor(private readonly options: NodeMetricsOptions) {
    const endpoint = (key: string): Labels => splitKey(key, false);
    const backend = (key: string): Labels => splitKey(key, true);
    this.add('krakend_endpoint_requests_total', 'Requests served per endpoint, by status class (none: no response sent).', 'counter', () =>
      byStatus(this.current().endpoints, endpoint),
    );
    this.add('krakend_endpoint_duration_seconds', 'Time to serve a request, per endpoint.', 'histogram', () =>
      histograms('krakend_endpoint_duration_seconds', this.current().endpoints, endpoint),
    );
    this.add('krakend_endpoint_rate_limited_total', 'Requests refused by a rate limit, per endpoint.', 'counter', () =>
      each(this.current().endpoints, endpoint, (c) => c.rateLimited),
    );
    this.add('krakend_endpoint_received_bytes_total', 'Request bytes received from clients, per endpoint.', 'counter', () =>
      each(this.current().endpoints, endpoint, (c) => c.bytesIn),
    );
    this.add('krakend_endpoint_sent_bytes_total', 'Response bytes sent to clients, per endpoint.', 'counter', () =>
      each(this.current().endpoints, endpoint, (c) => c.bytesOut),
    );
    this.add('krakend_backend_requests_total', 'Calls to each backend, by status class (none: no response).', 'counter', () =>
      byStatus(this.current().backends, backend),
    );
    this.add('krakend_backend_duration_seconds', 'Duration of the calls to each backend.', 'histogram', () =>
      histograms('krakend_backend_duration_seconds', this.current().backends, backend),
    );
    this.add('krakend_backend_errors_total', 'Backend calls that failed (connection error or a response it could not use).', 'counter', () =>
      each(this.current().backends, backend, (c) => c.errors),
    );
    this.add('krakend_backend_timeouts_total', 'Backend calls that timed out.', 'counter', () =>
      each(this.current().backends, backend, (c) => c.timeouts),
    );
    this.add('krakend_backend_circuit_breaker_state', 'Circuit breaker state of each backend that has one (1 for the current state).', 'gauge', () => {
      const out: Sample[] = [];
      for (const [key, c] of this.current().backends) {
        if (c.circuit === undefined) continue;
        for (const s of CIRCUIT_STATES) out.push({ labels: { ...backend(key), state: s }, value: c.circuit === s ? 1 : 0 });
      }
      return out;
    });
    const cluster = options.cluster;
    if (cluster) {
      this.add('krakend_cluster_node_info', 'This node in its cluster: the id the manager assigned (empty before the first admission).', 'gauge', () => [
        { labels: { node_id: cluster.nodeId() ?? '' }, value: 1 },
      ]);
      this.add('krakend_cluster_manager_state', 'State of the control channel to the Cluster Manager (1 for the current state).', 'gauge', () =>
        CLUSTER_STATES.map((s) => ({ labels: { state: s }, value: cluster.state() === s ? 1 : 0 })),
      );
      this.add('krakend_cluster_lease_rate', 'Rate (tokens per second) of this node’s lease of each cluster-wide limit.', 'gauge', () =>
        cluster.leases().map((l) => ({ labels: { limit_id: l.limitId }, value: l.rate })),
      );
      this.add('krakend_cluster_lease_capacity', 'Capacity (tokens) of this node’s lease of each cluster-wide limit.', 'gauge', () =>
        cluster.leases().map((l) => ({ labels: { limit_id: l.limitId }, value: l.capacity })),
      );
    }
    if (options.processMetrics) collectDefaultMetrics({ register: this.registry });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  private add(name: string, help: string, type: Collected['type'], read: () => Sample[]): void {
    this.registry.registerMetric(new ScrapedMetric(name, help, type, read) as unknown as Metric);
  }

  /** One snapshot per scrape: every metric of a scrape reads the same counts. */
  private current(): { endpoints: Map<string, CumulativeCounts>; backends: Map<string, CumulativeCounts> } {
    const now = performance.now();
    if (this.snapshot === undefined || now - this.snapshot.at > 100) {
      this.snapshot = { at: now, endpoints: this.options.stats.endpointCounts(), backends: this.options.stats.backendCounts() };
    }
    return this.snapshot;
  }
}

/** `GET /users/{id}` → method, endpoint; `GET /users/{id}#0` → method, endpoint, backend index. */
function splitKey(key: string, isBackend: boolean): Labels {
  const space = key.indexOf(' ');
  const method = space > 0 ? key.slice(0, space) : '';
  let rest = space > 0 ? key.slice(space + 1) : key;
  if (!isBackend) return { method, endpoint: rest };
  const hash = rest.lastIndexOf('#');
  const index = hash >= 0 ? rest.slice(hash + 1) : '';
  if (hash >= 0) rest = rest.slice(0, hash);
  return { method, endpoint: rest, backend: index };
}

function byStatus(counts: Map<string, CumulativeCounts>, labels: (key: string) => Labels): Sample[] {
  const out: Sample[] = [];
  for (const [key, c] of counts) {
    const base = labels(key);
    c.status.forEach((n, i) => {
      if (n > 0) out.push({ labels: { ...base, status_class: STATUS_CLASSES[i]! }, value: n });
    });
  }
  return out;
}

function each(counts: Map<string, CumulativeCounts>, labels: (key: string) => Labels, pick: (c: CumulativeCounts) => number): Sample[] {
  const out: Sample[] = [];
  for (const [key, c] of counts) out.push({ labels: labels(key), value: pick(c) });
  return out;
}

function histograms(name: string, counts: Map<string, CumulativeCounts>, labels: (key: string) => Labels): Sample[] {
  const out: Sample[] = [];
  for (const [key, c] of counts) {
    const base = labels(key);
    for (const { leUs, count } of cumulativeAtPowersOfTwo(c.latency, LE_FROM_EXP, LE_TO_EXP)) {
      out.push({ metricName: `${name}_bucket`, labels: { ...base, le: String(leUs / 1e6) }, value: count });
    }
    out.push({ metricName: `${name}_bucket`, labels: { ...base, le: '+Inf' }, value: c.latency.count });
    out.push({ metricName: `${name}_sum`, labels: base, value: c.latency.sum / 1e6 });
    out.push({ metricName: `${name}_count`, labels: base, value: c.latency.count });
  }
  return out;
}
