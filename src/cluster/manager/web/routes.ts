/**
 * The web interface's routes on the manager's API port: the page and its assets, the overview, per-node and
 * per-key traffic for the tables (backends with their circuit-breaker states over the nodes), one node's
 * endpoints for its detail view, and a server-sent event stream of the overview (the page polls when the
 * stream is unavailable). All read-only and open, like the rest of the read API.
 */
import type { ServerResponse } from 'node:http';
import type { Logger } from '../../../base/logger.js';
import type { StatsSummary } from '../../../stats/window.js';
import type { CircuitState } from '../../../stats/collector.js';
import type { ManagerView } from '../http-api.js';
import { buildOverview } from './overview.js';
import { guarded, HttpError, searchParams, sendJson } from './respond.js';
import type { Mount } from './respond.js';
import { parseRangeSeconds, parseTimeRange } from './stats-range.js';
import { StaticAssets } from './static-assets.js';

export interface WebInterfaceOptions {
  logger: Logger;
  /** How often the event stream pushes the overview. Default 2 s. */
  eventsIntervalMs?: number;
  /** Event streams open at once; more get a 503 (the page then polls). Default 64. */
  maxEventStreams?: number;
}

export interface WebInterface {
  close(): void;
}

const DEFAULT_RANGE_S = 300;

export function mountWebInterface(on: Mount, view: ManagerView, options: WebInterfaceOptions): WebInterface {
  const assets = new StaticAssets();
  for (const method of ['GET', 'HEAD'] as const) {
    on(method, '/', (req, res) => assets.serve('index.html', req, res));
    on(method, '/ui/:file', (req, res, params) => assets.serve(params['file'] ?? '', req, res));
  }

  const rangeSeconds = (q: URLSearchParams): number => {
    if (q.has('from') || q.has('to')) throw new HttpError(400, 'this takes range (seconds back from now), not from/to');
    return parseRangeSeconds(q, DEFAULT_RANGE_S);
  };

  on('GET', '/api/v1/overview', guarded(async (req, res) => {
    sendJson(res, 200, await buildOverview(view, rangeSeconds(searchParams(req))));
  }));

  on('GET', '/api/v1/stats/nodes', guarded((req, res) => {
    const { from, to } = parseTimeRange(searchParams(req), view.now(), DEFAULT_RANGE_S);
    const totals = view.statsNodeTotals(from, to);
    const nodes: Record<string, ReturnType<typeof trafficView>> = {};
    for (const [id, s] of totals) nodes[id] = trafficView(s);
    sendJson(res, 200, { from, to, nodes });
  }));

  on('GET', '/api/v1/stats/keys', guarded((req, res) => {
    const { from, to } = parseTimeRange(searchParams(req), view.now(), DEFAULT_RANGE_S);
    const totals = view.statsKeyTotals(from, to);
    // Nodes that reported in the range: a node gone quiet before it says nothing about a backend now.
    const circuits = view.circuitSummary(from);
    const keys = view.statsKeys().map((key) => {
      const s = totals.get(key);
      const traffic = s ? trafficView(s) : emptyTraffic();
      return BACKEND_KEY.test(key) ? { key, kind: 'backend', ...traffic, circuit: circuitCounts(circuits.get(key)) } : { key, kind: 'endpoint', ...traffic };
    });
    sendJson(res, 200, { from, to, keys });
  }));

  on('GET', '/api/v1/stats/nodes/:id/endpoints', guarded((req, res, params) => {
    const id = params['id'] ?? '';
    const { from, to } = parseTimeRange(searchParams(req), view.now(), DEFAULT_RANGE_S);
    if (!view.nodes().some((n) => n.id === id) && !view.statsNodeTotals(0, view.now() + 1).has(id)) {
      throw new HttpError(404, `no node ${id} (neither registered nor in the stats window)`);
    }
    const endpoints = [...view.statsNodeEndpointTotals(id, from, to)]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([key, s]) => ({ key, ...trafficView(s) }));
    sendJson(res, 200, { node: id, from, to, endpoints });
  }));

  const events = new EventStreams(view, options);
  on('GET', '/api/v1/events', guarded((req, res) => events.open(rangeSeconds(searchParams(req)), res)));
  return { close: () => events.close() };
}

function trafficView(s: StatsSummary) {
  return {
    requests: s.requests,
    rps: s.rps,
    error_rate: s.errorRate,
    status: s.status,
    errors: s.errors,
    timeouts: s.timeouts,
    rate_limited: s.rateLimited,
    bytes_in: s.bytesIn,
    bytes_out: s.bytesOut,
    mean_us: s.meanUs,
    p50_us: s.p50Us,
    p99_us: s.p99Us,
  };
}

const BACKEND_KEY = /#\d+$/;

/** A backend's circuit states over the nodes that reported one; null for a backend without a breaker. */
function circuitCounts(c: Record<CircuitState, number> | undefined) {
  return c ? { closed: c.closed, open: c.open, half_open: c['half-open'], nodes: c.closed + c.open + c['half-open'] } : null;
}

function emptyTraffic(): ReturnType<typeof trafficView> {
  return { requests: 0, rps: 0, error_rate: 0, status: [0, 0, 0, 0, 0, 0], errors: 0, timeouts: 0, rate_limited: 0, bytes_in: 0, bytes_out: 0, mean_us: null, p50_us: null, p99_us: null };
}

/**
 * Server-sent events: every interval, one `overview` event per stream. One timer serves every stream, and the
 * overview is built once per range per tick, so many open pages cost little more than one.
 */
class EventStreams {
  private readonly streams = new Map<ServerResponse, number>();
  private timer: NodeJS.Timeout | undefined;
  private readonly intervalMs: number;
  private readonly max: number;

  constructor(private readonly view: ManagerView, private readonly options: WebInterfaceOptions) {
    this.intervalMs = options.eventsIntervalMs ?? 2_000;
    this.max = options.maxEventStreams ?? 64;
  }

  open(rangeS: number, res: ServerResponse): void {
    if (this.streams.size >= this.max) throw new HttpError(503, `too many event streams open (${this.max}): poll /api/v1/overview instead`);
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    // Tells the browser how soon to reconnect after the manager restarts.
    res.write('retry: 3000\n\n');
    this.streams.set(res, rangeS);
    res.on('close', () => {
      this.streams.delete(res);
      if (this.streams.size === 0) this.stop();
    });
    void this.push(new Map([[res, rangeS]]));
    this.timer ??= setInterval(() => void this.push(this.streams), this.intervalMs).unref();
  }

  close(): void {
    this.stop();
    for (const res of this.streams.keys()) res.end();
    this.streams.clear();
  }

  private stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private async push(targets: ReadonlyMap<ServerResponse, number>): Promise<void> {
    const built = new Map<number, string>();
    for (const [res, rangeS] of targets) {
      try {
        let text = built.get(rangeS);
        if (text === undefined) built.set(rangeS, (text = JSON.stringify(await buildOverview(this.view, rangeS))));
        if (!res.writableEnded) res.write(`event: overview\ndata: ${text}\n\n`);
      } catch (err) {
        this.options.logger.error(`Event stream: ${(err as Error).message}`);
      }
    }
  }
}
