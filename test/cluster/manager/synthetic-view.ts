/**
 * A synthetic manager for the web interface at scale: `nodes` registered nodes in every state, a stats window
 * holding `endpoints` endpoints (each with one backend, the first ten behind circuit breakers, some open) over
 * the last hour, three config versions with acks,
 * behind nodes and a nack, two cluster-wide limits with leases, and a license about to expire. Served with the
 * real API (startManagerApi), no processes.
 */
import { Logger } from '../../../src/base/logger.js';
import { ApiToken } from '../../../src/cluster/manager/api-token.js';
import { ConfigVersions } from '../../../src/cluster/manager/config-versions.js';
import { startManagerApi } from '../../../src/cluster/manager/http-api.js';
import type { ManagerApi, ManagerView } from '../../../src/cluster/manager/http-api.js';
import type { LicenseState } from '../../../src/cluster/manager/license.js';
import type { NodeConfigStatus } from '../../../src/cluster/manager/manager.js';
import type { NodeEntry, NodeState } from '../../../src/cluster/manager/registry.js';
import { MemoryStore } from '../../../src/cluster/manager/store.js';
import { BackendCounters, EndpointCounters } from '../../../src/stats/collector.js';
import type { StatsDelta } from '../../../src/stats/collector.js';
import { StatsWindow } from '../../../src/stats/window.js';
import { tempDir } from '../../helpers/cluster.js';

const RESOURCES = ['users', 'orders', 'products', 'carts', 'payments', 'invoices', 'shipments', 'reviews', 'search', 'catalog'];
const SHAPES = ['GET /{r}', 'GET /{r}/{id}', 'POST /{r}', 'PUT /{r}/{id}', 'DELETE /{r}/{id}', 'GET /{r}/{id}/history', 'GET /v2/{r}', 'GET /v2/{r}/{id}', 'PATCH /{r}/{id}', 'GET /{r}/stats'];

/** `count` distinct endpoint keys (`METHOD /path`). */
export function endpointKeys(count: number): string[] {
  const keys: string[] = [];
  for (let i = 0; keys.length < count; i++) {
    const r = RESOURCES[i % RESOURCES.length]!;
    const shape = SHAPES[Math.floor(i / RESOURCES.length) % SHAPES.length]!;
    const round = Math.floor(i / (RESOURCES.length * SHAPES.length));
    keys.push(shape.replace('{r}', round === 0 ? r : `${r}${round}`));
  }
  return keys;
}

/** A deterministic pseudo-random source, so every run draws the same cluster. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

export interface SyntheticCluster {
  api: ManagerApi;
  nodes: NodeEntry[];
  keys: string[];
  token: string;
  close(): Promise<void>;
}

export async function startSyntheticCluster(options: { nodes: number; endpoints: number }): Promise<SyntheticCluster> {
  const random = rng(42);
  const now = Date.now();
  const states: NodeState[] = ['alive', 'unreachable', 'down', 'removed', 'refused'];
  const nodes: NodeEntry[] = [];
  for (let i = 0; i < options.nodes; i++) {
    // Mostly alive, a few of every other state.
    const state = i % 20 === 3 ? 'unreachable' : i % 20 === 7 ? 'down' : i % 20 === 11 || i % 20 === 15 ? 'removed' : i % 40 === 19 ? 'refused' : 'alive';
    if (!states.includes(state)) throw new Error(state);
    const n = String(i + 1).padStart(3, '0');
    nodes.push({
      id: `krakend_00000000-0000-4000-8000-000000000${n}`,
      name: `gw-${['eu-west', 'us-east', 'ap-south'][i % 3]}-${n}`,
      addresses: { api: `10.0.${Math.floor(i / 50)}.${(i % 50) + 10}:8080`, cluster: `10.0.${Math.floor(i / 50)}.${(i % 50) + 10}:7946` },
      version: i % 9 === 0 ? '0.1.0' : '0.1.1',
      state,
      since: now - Math.floor(random() * 86_400_000),
      lastSeen: state === 'alive' ? now - Math.floor(random() * 2000) : now - 600_000 - Math.floor(random() * 3_600_000),
      admittedAt: state === 'refused' ? undefined : now - 86_400_000,
      refusedReason: state === 'refused' ? 'subscription' : undefined,
      refusedMessage: state === 'refused' ? 'Your current subscription does not allow more nodes running. Please upgrade to add more nodes.' : undefined,
      incarnation: 1,
      instanceToken: `t${i}`,
    });
  }

  const keys = endpointKeys(options.endpoints);
  const window = new StatsWindow();
  const delta = (stream: string, seq: number, endpointIdx: number[], scale: number): StatsDelta => {
    const endpoints: StatsDelta['endpoints'] = {};
    const backends: StatsDelta['backends'] = {};
    for (const e of endpointIdx) {
      const key = keys[e]!;
      const ec = new EndpointCounters();
      const bc = new BackendCounters();
      const requests = 1 + Math.floor(random() * 20 * scale);
      const slow = 1 + (e % 7);
      for (let r = 0; r < requests; r++) {
        const failed = random() < 0.002 * slow;
        const us = 800 * slow * (0.5 + random()) * (random() < 0.01 ? 20 : 1);
        ec.request(failed ? 502 : 200, us, 120, 900);
        bc.call(failed ? 0 : 200, us * 0.8, 800, 100, failed ? 1 : 0);
      }
      endpoints[key] = ec.take();
      // The first ten backends have a circuit breaker: the slowest ones trip on some nodes, half-open on others.
      if (e < 10) bc.circuitState(e % 7 === 6 ? (random() < 0.3 ? 'open' : random() < 0.2 ? 'half-open' : 'closed') : 'closed');
      const b = bc.take();
      backends[`${key}#0`] = b;
    }
    return { stream, seq, dropped: 0, endpoints, backends };
  };
  const counted = nodes.filter((n) => n.state !== 'refused');
  const seqs = new Map<string, number>();
  const send = (node: NodeEntry, at: number, scale: number) => {
    const seq = (seqs.get(node.id) ?? 0) + 1;
    seqs.set(node.id, seq);
    const picks = Array.from({ length: 8 }, () => Math.floor(random() * keys.length));
    window.ingest(node.id, delta(`s-${node.id}`, seq, [...new Set(picks)], scale), at);
  };
  // The hour behind: a few nodes every 10 s (a daily curve), then every counted node in the last five minutes.
  for (let t = now - 3_590_000; t < now - 300_000; t += 10_000) {
    const wave = 1 + Math.sin((t / 3_600_000) * Math.PI * 2);
    for (let k = 0; k < 4; k++) send(counted[Math.floor(random() * counted.length)]!, t, wave);
  }
  for (let t = now - 300_000; t < now; t += 30_000) {
    for (const n of counted) if (n.state === 'alive' || t < now - 200_000) send(n, t + Math.floor(random() * 29_000), 0.3);
  }
  // Every key gets a little traffic, so all of them are listed.
  for (let e = 0; e < keys.length; e++) window.ingest(counted[0]!.id, delta(`all`, e + 1, [e], 0.1), now - 1000);

  const store = new MemoryStore();
  const versions = new ConfigVersions(store);
  const base = { version: 3, host: ['http://backend:8000'], endpoints: keys.slice(0, 5).map((k) => ({ endpoint: k.split(' ')[1], method: k.split(' ')[0], backend: [{ url_pattern: '/x' }] })) };
  for (const [i, note] of ['initial rollout', 'raise timeouts', 'add the v2 catalog'].entries()) {
    const applied = await versions.apply(JSON.stringify({ ...base, timeout: `${3 + i}s` }), { author: i === 2 ? 'ops-bot' : 'alice', note });
    if (!applied.ok) throw new Error(applied.errors.join('; '));
  }
  const configOf = new Map<string, NodeConfigStatus>();
  for (const [i, n] of nodes.entries()) {
    if (n.state === 'refused') continue;
    const version = i % 17 === 5 ? 2 : 3;
    configOf.set(n.id, { version, hash: undefined, error: i === 12 ? 'version 3: endpoints[2].backend[0]: host "http://backend:8000" does not resolve' : undefined, at: now });
  }

  const alive = nodes.filter((n) => n.state === 'alive');
  const limitsView = [
    { limitId: 'GET /users', rate: 5000, capacity: 5000 },
    { limitId: 'POST /orders', rate: 800, capacity: 100 },
  ].map((l) => ({
    ...l,
    learning: false,
    nodeCount: alive.length,
    nodes: alive.map((n, i, all) => {
      // Demand varies by node; the leases split 95 % of the limit by demand, as the allocator would.
      const weight = (j: number) => 0.3 + ((j * 7) % 10) / 6;
      const total = all.reduce((sum, _n, j) => sum + weight(j), 0);
      const demand = (l.rate / all.length) * weight(i);
      const rate = (0.95 * l.rate * weight(i)) / total;
      return {
        nodeId: n.id,
        state: 'alive',
        silent: false,
        demand,
        lease: { limitId: l.limitId, rate, capacity: (l.capacity * rate) / l.rate, ttlMs: 15_000, epoch: 1, seq: 10 + i, safeShare: l.rate / alive.length / 2 },
        expiresInMs: 9_000 + (i % 6) * 1000,
        committed: { rate, capacity: (l.capacity * rate) / l.rate },
      };
    }),
  }));

  const notAfter = new Date(now + 12 * 86_400_000).toISOString().slice(0, 10);
  const license: LicenseState = {
    tier: 'licensed',
    maxNodes: 250,
    status: 'valid',
    license: { licensee: 'ACME Corp', license_id: 'lic-2026-0042', max_nodes: 250, not_before: '2026-01-01', not_after: notAfter, issued_at: '2025-12-20T10:00:00Z' },
    source: 'synthetic',
    expiresAt: now + 12 * 86_400_000,
    daysLeft: 12,
    marginDaysLeft: undefined,
    pending: undefined,
  };

  const view: ManagerView = {
    managerId: 'cm_5f0c1a2e-8d7b-4c3a-9e21-0b6f4d8a7c10',
    nodes: () => nodes,
    licenseState: () => license,
    droppedPackets: () => ({}),
    controlConnected: (id) => nodes.find((n) => n.id === id)?.state === 'alive',
    gossipMembers: () => [],
    controlHeartbeatMs: () => 1_000,
    limitsView: () => limitsView,
    statsQuery: (q) => window.query(q, Date.now()),
    nodeConfig: (id) => configOf.get(id),
    configVersions: () => versions,
    applyConfig: async () => ({ ok: false, errors: ['read-only synthetic cluster'] }),
    removeNode: async (id) => ({ ok: false, message: `${id}: read-only synthetic cluster` }),
    now: () => Date.now(),
    statsKeys: () => window.keys(),
    statsKeyTotals: (from, to) => window.keyTotals(from, to, Date.now()),
    statsNodeTotals: (from, to) => window.nodeTotals(from, to, Date.now()),
    statsNodeEndpointTotals: (id, from, to) => window.nodeEndpointTotals(id, from, to, Date.now()),
    circuitStates: (id) => window.circuitStates(id),
    circuitSummary: (since) => window.circuitCounts(since),
  };
  const token = 'synthetic-token';
  const api = await startManagerApi(view, {
    port: 0,
    host: '127.0.0.1',
    token: await ApiToken.open(tempDir('cm-synthetic-'), token),
    logger: new Logger({ prefix: 'CM ', sink: () => {} }),
    tls: undefined,
  });
  return { api, nodes, keys, token, close: () => api.close() };
}
