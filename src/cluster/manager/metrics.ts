/**
 * The manager's Prometheus metrics (`GET /metrics` on the web port), on a registry of its own (prom-client's
 * default registry is module state, which several managers in one process must not share). Every gauge reads the
 * manager's current state when scraped, so nothing is updated on the hot paths.
 */
import { Gauge, Registry } from 'prom-client';
import type { ManagerView } from './http-api.js';
import { expiryWarning } from './web/overview.js';

/** The span the cluster traffic gauges summarize: short enough to follow the traffic, long enough to be steady. */
const TRAFFIC_SPAN_MS = 60_000;

export function createManagerMetrics(view: ManagerView): Registry {
  const registry = new Registry();
  const gauge = (name: string, help: string, labelNames: string[], collect: (g: Gauge) => void) =>
    new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset();
        collect(this);
      },
    });

  gauge('krakend_cluster_nodes', 'Registered nodes by state', ['state'], (g) => {
    const counts: Record<string, number> = { alive: 0, unreachable: 0, down: 0, removed: 0, refused: 0 };
    for (const n of view.nodes()) counts[n.state] = (counts[n.state] ?? 0) + 1;
    for (const [state, value] of Object.entries(counts)) g.set({ state }, value);
  });
  gauge('krakend_cluster_license_max_nodes', 'Nodes the subscription allows now', [], (g) => g.set(view.licenseState().maxNodes));
  gauge('krakend_cluster_license_days_left', 'Whole days until the license expires (negative past it; absent on the free tier)', ['tier'], (g) => {
    const s = view.licenseState();
    if (s.daysLeft !== undefined) g.set({ tier: s.tier }, s.daysLeft);
  });
  gauge('krakend_cluster_license_expiry_warning', 'Whether the license needs attention (expires within 30 days, expired, in its margin, not yet valid)', ['status'], (g) => {
    const s = view.licenseState();
    g.set({ status: s.status }, expiryWarning(s) === null ? 0 : 1);
  });
  // Cluster traffic over the last minute, from the window's cluster-wide series (one series: cheap to scrape).
  const traffic = () => {
    const now = view.now();
    return view.statsQuery({ from: now - TRAFFIC_SPAN_MS, to: now + 1 }).totals;
  };
  gauge('krakend_cluster_requests_per_second', 'Requests per second served by all nodes over the last minute', [], (g) => g.set(traffic().rps));
  gauge('krakend_cluster_error_ratio', 'Share of the last minute\'s requests answered 5xx or not at all', [], (g) => g.set(traffic().errorRate));
  gauge('krakend_cluster_latency_seconds', 'Cluster-wide latency quantiles over the last minute', ['quantile'], (g) => {
    const t = traffic();
    for (const [q, us] of [['0.5', t.p50Us], ['0.95', t.p95Us], ['0.99', t.p99Us]] as const) if (us !== null) g.set({ quantile: q }, us / 1e6);
  });
  gauge('krakend_cluster_gossip_members', 'Gossip members as this manager sees them, by state and role', ['state', 'role'], (g) => {
    const counts = new Map<string, number>();
    for (const m of view.gossipMembers()) {
      const key = `${m.state}\u0000${m.meta.role}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    for (const [key, value] of counts) {
      const [state, role] = key.split('\u0000') as [string, string];
      g.set({ state, role }, value);
    }
  });
  gauge('krakend_cluster_wire_dropped_total', 'Cluster traffic dropped and counted, by channel and reason', ['channel', 'reason'], (g) => {
    for (const [channel, counts] of Object.entries(view.droppedPackets())) {
      for (const [reason, value] of Object.entries(counts)) g.set({ channel, reason }, value);
    }
  });
  gauge('krakend_cluster_control_connected', 'Nodes with an open control channel', [], (g) =>
    g.set(view.nodes().filter((n) => view.controlConnected(n.id)).length),
  );
  gauge('krakend_cluster_control_heartbeat_seconds', 'Control channel heartbeat in force (heartbeat, lengthened to keep the nodes under max_heartbeats_per_second)', [], (g) =>
    g.set(view.controlHeartbeatMs() / 1000),
  );
  gauge('krakend_cluster_node_config_version', 'The config version each node last acknowledged', ['node'], (g) => {
    for (const n of view.nodes()) {
      const v = view.nodeConfig(n.id)?.version;
      if (v !== undefined) g.set({ node: n.id }, v);
    }
  });
  return registry;
}
