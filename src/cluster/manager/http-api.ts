/**
 * The manager's JSON API under /api/v1 on the web port (9897). Read-only views are open; writes need the API
 * token (`Authorization: Bearer …`). Errors are JSON `{"error": "..."}` with a fitting status.
 */
import { createServer as createHttpServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import FindMyWay from 'find-my-way';
import type { HTTPMethod } from 'find-my-way';
import type { Logger } from '../../base/logger.js';
import type { ApiToken } from './api-token.js';
import type { NodeEntry } from './registry.js';
import type { LicenseState } from './license.js';
import type { Member } from '../membership/index.js';
import type { NodeConfigStatus, RolloutResult } from './manager.js';
import type { ConfigVersions } from './config-versions.js';
import { formatDiff } from './json-diff.js';
import { createManagerMetrics } from './metrics.js';
import type { StatsQuery, StatsQueryResult, StatsSummary } from '../../stats/window.js';
import type { CircuitState } from '../../stats/collector.js';
import { encodeJson } from '../../gateway/json/encode.js';
import type { LimitView } from '../../ratelimit/cluster/index.js';
import { mountWebInterface } from './web/routes.js';
import { HttpError } from './web/respond.js';
import { parseTimeRange } from './web/stats-range.js';

/** What the API reads from the manager. */
export interface ManagerView {
  readonly managerId: string;
  nodes(): NodeEntry[];
  licenseState(): LicenseState;
  droppedPackets(): Record<string, Record<string, number>>;
  controlConnected(id: string): boolean;
  /** The control channels' heartbeat now, ms (lengthened in a large cluster). */
  controlHeartbeatMs(): number;
  gossipMembers(): Member[];
  limitsView(): unknown;
  statsQuery(q: StatsQuery): StatsQueryResult;
  nodeConfig(id: string): NodeConfigStatus | undefined;
  configVersions(): ConfigVersions;
  applyConfig(text: string, options: { author: string; note?: string; dryRun?: boolean; canary?: number; rollbackOf?: number }): Promise<RolloutResult>;
  removeNode(id: string, force: boolean): Promise<{ ok: boolean; message: string }>;
  /** The manager's wall clock, ms: stats ranges are in its time. */
  now(): number;
  /** Endpoint and backend keys with stats in the window. */
  statsKeys(): string[];
  /** Per endpoint and backend key: totals over [from, to). */
  statsKeyTotals(from: number, to: number): Map<string, StatsSummary>;
  /** Per node (removed and down ones too, while the window holds them): totals over [from, to). */
  statsNodeTotals(from: number, to: number): Map<string, StatsSummary>;
  /** One node's endpoints with their totals over [from, to), at the coarse (per node) resolution. */
  statsNodeEndpointTotals(id: string, from: number, to: number): Map<string, StatsSummary>;
  /** A node's circuit-breaker state per backend, as it last reported it (`at`: manager time, ms). */
  circuitStates(id: string): Record<string, { state: CircuitState; at: number }>;
  /** Per backend: nodes whose last report at or after `since` had its circuit closed, open or half-open. */
  circuitSummary(since: number): Map<string, Record<CircuitState, number>>;
}

export interface ManagerApiOptions {
  port: number;
  host: string;
  token: ApiToken;
  logger: Logger;
  tls: { cert: string; key: string } | undefined;
}

export interface ManagerApi {
  readonly port: number;
  close(): Promise<void>;
}

type Handler = (req: IncomingMessage, res: ServerResponse, params: Record<string, string | undefined>) => void | Promise<void>;

export async function startManagerApi(view: ManagerView, options: ManagerApiOptions): Promise<ManagerApi> {
  const router = FindMyWay({ caseSensitive: true });
  const on = (method: HTTPMethod, path: string, handler: Handler) => router.on(method, path, handler as never);

  const metrics = createManagerMetrics(view);
  on('GET', '/metrics', async (_req, res) => {
    const text = await metrics.metrics();
    res.writeHead(200, { 'Content-Type': metrics.contentType, 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  });
  on('GET', '/__health', (_req, res) => send(res, 200, { status: 'ok', manager_id: view.managerId }));
  on('GET', '/api/v1/nodes', (_req, res) => {
    const leases = leasesByNode(view);
    send(res, 200, { nodes: view.nodes().map((n) => nodeView(n, view, leases)) });
  });
  on('GET', '/api/v1/nodes/:id', (_req, res, params) => {
    const node = view.nodes().find((n) => n.id === params['id']);
    if (!node) return send(res, 404, { error: `no node ${params['id']}` });
    send(res, 200, { ...nodeView(node, view, leasesByNode(view)), circuits: circuitsView(view.circuitStates(node.id)) });
  });
  on('DELETE', '/api/v1/nodes/:id', async (req, res, params) => {
    if (!options.token.verify(req.headers.authorization)) return unauthorized(res);
    const force = new URL(req.url ?? '/', 'http://x').searchParams.get('force') === 'true';
    const result = await view.removeNode(params['id'] ?? '', force);
    send(res, result.ok ? 200 : 409, result.ok ? { removed: params['id'] } : { error: result.message });
  });
  on('GET', '/api/v1/cluster', (_req, res) => {
    const nodes = view.nodes();
    const byState: Record<string, number> = { alive: 0, unreachable: 0, down: 0, removed: 0, refused: 0 };
    for (const n of nodes) byState[n.state] = (byState[n.state] ?? 0) + 1;
    const license = view.licenseState();
    send(res, 200, {
      manager_id: view.managerId,
      nodes: byState,
      counted: (byState['alive'] ?? 0) + (byState['unreachable'] ?? 0),
      max_nodes: license.maxNodes,
      dropped_packets: view.droppedPackets(),
    });
  });
  on('GET', '/api/v1/members', (_req, res) =>
    send(res, 200, {
      members: view.gossipMembers().map((m) => ({
        id: m.id,
        address: m.address,
        state: m.state,
        suspect: m.suspect,
        incarnation: m.incarnation,
        role: m.meta.role,
        version: m.meta.version,
        since: new Date(m.since).toISOString(),
      })),
    }),
  );
  const rollout = async (req: IncomingMessage, res: ServerResponse, rollbackOf: number | undefined) => {
    if (!options.token.verify(req.headers.authorization)) return unauthorized(res);
    const q = new URL(req.url ?? '/', 'http://x').searchParams;
    const text = rollbackOf === undefined ? await readBody(req, MAX_CONFIG_UPLOAD) : '';
    if (text === undefined) return send(res, 413, { error: `a config larger than ${MAX_CONFIG_UPLOAD} bytes` });
    const result = await view.applyConfig(text, {
      author: q.get('author') || 'api',
      ...(q.get('note') ? { note: q.get('note') as string } : {}),
      ...(q.get('dry_run') === 'true' ? { dryRun: true } : {}),
      ...(q.get('canary') ? { canary: Number(q.get('canary')) } : {}),
      ...(rollbackOf !== undefined ? { rollbackOf } : {}),
    });
    if (!result.ok) return send(res, 400, { errors: result.errors });
    sendRaw(res, 200, encodeJson({ ...result, diff: formatDiff(result.diff) } as never));
  };
  on('POST', '/api/v1/config', (req, res) => rollout(req, res, undefined));
  on('POST', '/api/v1/config/rollback/:n', (req, res, params) => rollout(req, res, Number(params['n'])));
  on('GET', '/api/v1/config', async (_req, res) => {
    const current = await view.configVersions().current();
    if (!current) return send(res, 404, { error: 'no config applied yet: nodes serve their local krakend.json' });
    const { body: _body, ...meta } = current;
    send(res, 200, meta);
  });
  on('GET', '/api/v1/config/history', async (req, res) => {
    const limit = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('limit') ?? 50);
    send(res, 200, { versions: await view.configVersions().history({ limit }) });
  });
  on('GET', '/api/v1/config/versions/:n', async (req, res, params) => {
    // A config body holds secrets: token only.
    if (!options.token.verify(req.headers.authorization)) return unauthorized(res);
    const v = await view.configVersions().get(Number(params['n']));
    if (!v) return send(res, 404, { error: `no config version ${params['n']}` });
    send(res, 200, v);
  });
  on('GET', '/api/v1/config/diff', async (req, res) => {
    if (!options.token.verify(req.headers.authorization)) return unauthorized(res);
    const q = new URL(req.url ?? '/', 'http://x').searchParams;
    try {
      const entries = await view.configVersions().diff(Number(q.get('from')), Number(q.get('to')));
      send(res, 200, { diff: formatDiff(entries) });
    } catch (err) {
      send(res, 404, { error: (err as Error).message });
    }
  });
  on('GET', '/api/v1/stats', (req, res) => {
    const q = new URL(req.url ?? '/', 'http://x').searchParams;
    try {
      const { from, to } = parseTimeRange(q, view.now(), 3_600);
      checkStatsIds(view, q);
      send(res, 200, view.statsQuery({
        from,
        to,
        ...(q.get('endpoint') ? { endpoint: q.get('endpoint') as string } : {}),
        ...(q.get('backend') ? { backend: q.get('backend') as string } : {}),
        ...(q.get('node') ? { node: q.get('node') as string } : {}),
      }));
    } catch (err) {
      send(res, err instanceof HttpError ? err.status : 400, { error: (err as Error).message });
    }
  });
  on('GET', '/api/v1/limits', (_req, res) => sendRaw(res, 200, JSON.stringify({ limits: view.limitsView() })));
  on('GET', '/api/v1/license', (_req, res) => {
    const s = view.licenseState();
    send(res, 200, {
      tier: s.tier,
      status: s.status,
      max_nodes: s.maxNodes,
      licensee: s.license?.licensee ?? null,
      license_id: s.license?.license_id ?? null,
      not_before: s.license?.not_before ?? null,
      not_after: s.license?.not_after ?? null,
      days_left: s.daysLeft ?? null,
      margin_days_left: s.marginDaysLeft ?? null,
    });
  });

  const web = mountWebInterface(on, view, { logger: options.logger });

  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const found = router.find((req.method ?? 'GET') as HTTPMethod, q < 0 ? url : url.slice(0, q));
    if (!found) return send(res, 404, { error: 'not found' });
    Promise.resolve((found.handler as unknown as Handler)(req, res, found.params)).catch((err: unknown) => {
      options.logger.error(`API ${req.method} ${url}: ${(err as Error).message}`);
      if (!res.headersSent) send(res, 500, { error: 'internal error' });
    });
  };
  const server: Server = options.tls
    ? createHttpsServer({ cert: readFileSync(options.tls.cert), key: readFileSync(options.tls.key) }, handler)
    : createHttpServer(handler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        web.close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

interface NodeLimit {
  limit_id: string;
  /** The lease in force: tokens per second and burst; null when the node holds none. */
  rate: number | null;
  capacity: number | null;
  expires_in_ms: number;
  /** Requests per second the node reported wanting. */
  demand: number;
}

/** Each node's leases, from one pass over the lease book's view. */
function leasesByNode(view: ManagerView): Map<string, NodeLimit[]> {
  const out = new Map<string, NodeLimit[]>();
  for (const limit of view.limitsView() as LimitView[]) {
    for (const n of limit.nodes) {
      let list = out.get(n.nodeId);
      if (!list) out.set(n.nodeId, (list = []));
      list.push({
        limit_id: limit.limitId,
        rate: n.lease?.rate ?? null,
        capacity: n.lease?.capacity ?? null,
        expires_in_ms: Math.round(n.expiresInMs),
        demand: n.demand,
      });
    }
  }
  return out;
}

function nodeView(n: NodeEntry, view: ManagerView, leases: Map<string, NodeLimit[]>) {
  return {
    id: n.id,
    name: n.name,
    addresses: n.addresses,
    state: n.state,
    since: new Date(n.since).toISOString(),
    version: n.version,
    last_seen: new Date(n.lastSeen).toISOString(),
    admitted_at: n.admittedAt === undefined ? null : new Date(n.admittedAt).toISOString(),
    refused_reason: n.refusedReason ?? null,
    control_connected: view.controlConnected(n.id),
    config_version: view.nodeConfig(n.id)?.version ?? null,
    config_error: view.nodeConfig(n.id)?.error ?? null,
    limits: leases.get(n.id) ?? [],
    open_circuits: openCircuits(view.circuitStates(n.id)),
  };
}

/** Backends whose circuit breaker the node last reported open: what the nodes table flags. */
function openCircuits(states: Record<string, { state: CircuitState; at: number }>): string[] {
  return Object.keys(states)
    .filter((k) => states[k]!.state === 'open')
    .sort();
}

/** A node's circuit states by backend, with the time of its last report (ISO). */
function circuitsView(states: Record<string, { state: CircuitState; at: number }>): Record<string, { state: CircuitState; at: string }> {
  const out: Record<string, { state: CircuitState; at: string }> = {};
  for (const k of Object.keys(states).sort()) out[k] = { state: states[k]!.state, at: new Date(states[k]!.at).toISOString() };
  return out;
}

/** Unknown ids in a stats query are a 404 that names them, not an empty series that looks like no traffic. */
function checkStatsIds(view: ManagerView, q: URLSearchParams): void {
  const node = q.get('node');
  if (node && !view.nodes().some((n) => n.id === node) && !view.statsNodeTotals(0, view.now() + 1).has(node)) {
    throw new HttpError(404, `no node ${node} (neither registered nor in the stats window)`);
  }
  const keys = new Set(view.statsKeys());
  for (const kind of ['endpoint', 'backend'] as const) {
    const key = q.get(kind);
    if (key && !keys.has(key)) throw new HttpError(404, `no stats for ${kind} ${JSON.stringify(key)} in the window (keys are "METHOD /path", backends "METHOD /path#index"; see /api/v1/stats/keys)`);
  }
}

const MAX_CONFIG_UPLOAD = 9 * 1024 * 1024;

function readBody(req: IncomingMessage, max: number): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > max) {
        req.removeAllListeners('data');
        req.resume();
        resolve(undefined);
        return;
      }
      chunks.push(c);
    });
    req.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.once('error', reject);
  });
}

function sendRaw(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function unauthorized(res: ServerResponse): void {
  res.setHeader('WWW-Authenticate', 'Bearer');
  send(res, 401, { error: 'this operation needs the API token (Authorization: Bearer <token>)' });
}
