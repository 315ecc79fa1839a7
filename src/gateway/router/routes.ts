/**
 * The compiled routing table of one loaded config: a radix router (find-my-way) from path and method to the
 * endpoint handlers built for that config, plus KrakenD's own endpoints (`/__health`, `/__debug/`, `/__echo/`)
 * and gin's answers for what matches nothing (404, 405, trailing-slash redirects). Immutable once built: a reload
 * builds a new Routes and swaps the reference.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import FindMyWay from 'find-my-way';
import type { HTTPMethod } from 'find-my-way';
import type { ServiceConfig } from '../config/types.js';
import type { Logger } from '../../base/logger.js';
import type { Clock } from '../../base/clock.js';
import { encodeJson } from '../json/encode.js';
import { canonicalHeaderKey } from '../http/headers.js';
import type { JsonObject } from '../json/types.js';
import type { BackendPools } from '../proxy/backend-pools.js';
import type { StateRegistry } from '../state-registry.js';
import { createEndpointProxy } from '../proxy/factory.js';
import { createRouterLimit } from '../../ratelimit/router-limit.js';
import type { Limiter } from '../../ratelimit/limiter.js';
import type { StatsCollector } from '../../stats/collector.js';
import { createClientIpResolver } from './client-ip.js';
import type { ClientIpResolver } from './client-ip.js';
import { createEndpointHandler } from './endpoint-handler.js';
import type { HandlerContext } from './endpoint-handler.js';
import { parseRouterOptions } from './router-options.js';
import { createCors } from './cors.js';
import type { CorsHandler } from './cors.js';
import type { RouterOptions } from './router-options.js';

export interface HealthReport {
  ok: boolean;
  status: string;
}

export interface RoutesDeps {
  logger: Logger;
  clock: Clock;
  pools: BackendPools;
  /** State carried across reloads (buckets, breakers): the gateway's, shared by every Routes it builds. */
  state: StateRegistry;
  version: string;
  /** What `/__health` reports: it is the gateway's lifecycle, not the config's. */
  health: () => HealthReport;
  stats?: StatsCollector;
}

type Handler = (req: IncomingMessage, res: ServerResponse, params: Record<string, string>) => void;

const ANY_METHOD: HTTPMethod[] = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'];

export class Routes {
  readonly config: ServiceConfig;
  readonly options: RouterOptions;
  readonly clientIp: ClientIpResolver;
  private readonly router = FindMyWay({
    caseSensitive: true,
    ignoreTrailingSlash: false,
    // Go's router has no such limit; find-my-way's default (100) would 404 long ids.
    maxParamLength: 8192,
  });
  private readonly methods = new Set<string>();
  /** Every rate limiter of this config, for the cluster agent to drive. */
  readonly limiters: Limiter[] = [];
  private readonly versionHeader: string;
  private readonly cors: CorsHandler | undefined;

  constructor(config: ServiceConfig, deps: RoutesDeps) {
    this.config = config;
    this.options = parseRouterOptions(config.extraConfig);
    this.clientIp = createClientIpResolver(this.options);
    this.versionHeader = this.options.hideVersionHeader ? 'Version undefined' : `Version ${deps.version}`;
    this.cors = createCors(config.extraConfig, deps.logger);
    const ctx: HandlerContext = {
      logger: deps.logger,
      router: this.options,
      versionHeader: this.versionHeader,
      userAgent: `KrakenD Version ${deps.version}`,
      maxRequestBodySize: config.gateway.maxRequestBodySize,
      clientIp: this.clientIp,
      ...(deps.stats ? { stats: deps.stats } : {}),
    };
    if (!this.options.disableHealth) {
      this.add(['GET'], this.options.healthPath, (_req, res) => {
        const h = deps.health();
        writeJson(res, h.ok ? 200 : 503, { agents: {}, now: new Date(deps.clock.now()).toISOString(), status: h.status });
      });
    }
    if (config.debugEndpoint) this.add(ANY_METHOD, '/__debug/*', debugHandler(deps.logger));
    if (config.echoEndpoint) this.add(ANY_METHOD, '/__echo/*', echoHandler);
    for (const endpoint of config.endpoints) {
      const register = (limiter: Limiter) => void this.limiters.push(limiter);
      const proxy = createEndpointProxy(endpoint, {
        pools: deps.pools,
        state: deps.state,
        clock: deps.clock,
        logger: deps.logger,
        maxBackendBodySize: config.gateway.maxBackendBodySize,
        register,
        ...(deps.stats ? { stats: deps.stats } : {}),
      });
      const limit = createRouterLimit(endpoint, { state: deps.state, clock: deps.clock, register });
      const handler = createEndpointHandler(endpoint, proxy, ctx, limit);
      this.add([endpoint.method as HTTPMethod], toRouterPath(endpoint.endpoint), handler);
    }
    if (this.options.autoOptions) this.addAutoOptions();
  }

  dispatch(req: IncomingMessage, res: ServerResponse): void {
    const cors = this.cors;
    if (cors) {
      // KrakenD CE wraps the whole router: preflights are answered before any route is looked up.
      if (cors.preflight(req, res)) return;
      cors.decorate(req, res);
    }
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const found = this.methods.has(method) ? this.router.find(method as HTTPMethod, path) : null;
    if (found) {
      (found.handler as unknown as Handler)(req, res, found.params as Record<string, string>);
      return;
    }
    this.notFound(req, res, method, path, q < 0 ? '' : url.slice(q));
  }

  private add(methods: HTTPMethod[], path: string, handler: Handler): void {
    for (const m of methods) this.methods.add(m);
    this.router.on(methods, path, handler as never);
  }

  private allowed(path: string): string[] {
    const out: string[] = [];
    for (const m of this.methods) if (this.router.find(m as HTTPMethod, path)) out.push(m);
    return out;
  }

  private notFound(req: IncomingMessage, res: ServerResponse, method: string, path: string, search: string): void {
    if (!this.options.disableRedirectTrailingSlash && path.length > 1) {
      const alt = path.endsWith('/') ? path.slice(0, -1) : path + '/';
      if (this.methods.has(method) && this.router.find(method as HTTPMethod, alt)) {
        // gin: 301 for GET, 307 for the rest, so a redirected POST keeps its body.
        res.writeHead(method === 'GET' ? 301 : 307, { Location: alt + search, 'Content-Length': '0' });
        res.end();
        return;
      }
    }
    if (!this.options.disableHandleMethodNotAllowed) {
      const allow = this.allowed(path);
      if (allow.length > 0) {
        writeText(res, 405, '405 method not allowed', { Allow: allow.join(', ') });
        return;
      }
    }
    void req;
    writeText(res, 404, '404 page not found', {});
  }

  private addAutoOptions(): void {
    const paths = new Map<string, Set<string>>();
    for (const e of this.config.endpoints) {
      const p = toRouterPath(e.endpoint);
      if (!paths.has(p)) paths.set(p, new Set());
      (paths.get(p) as Set<string>).add(e.method);
    }
    for (const [path, methods] of paths) {
      if (methods.has('OPTIONS')) continue;
      const allow = [...methods, 'OPTIONS'].join(', ');
      this.add(['OPTIONS'], path, (_req, res) => {
        res.writeHead(200, { Allow: allow, 'Content-Length': '0' });
        res.end();
      });
    }
  }
}

/** `/users/{id}` → `/users/:id`; a literal `:` must be doubled for find-my-way. */
export function toRouterPath(endpoint: string): string {
  return endpoint.replace(/:/g, '::').replace(/\{([^{}]+)\}/g, ':$1');
}

function writeText(res: ServerResponse, status: number, body: string, headers: Record<string, string>): void {
  res.writeHead(status, {
    ...headers,
    'Content-Type': 'text/plain',
    'Content-Length': String(body.length),
    'X-Krakend-Completed': 'false',
  });
  res.end(body);
}

function writeJson(res: ServerResponse, status: number, value: JsonObject): void {
  const body = encodeJson(value);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': String(Buffer.byteLength(body)) });
  res.end(body);
}

const MAX_DEBUG_BODY = 1 << 20;

function collect(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_DEBUG_BODY) chunks.push(c);
    });
    req.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.once('error', () => resolve(''));
  });
}

function debugHandler(logger: Logger): Handler {
  const prefix = '[ENDPOINT: /__debug/*]';
  return (req, res, params) => {
    void collect(req).then((body) => {
      logger.debug(`${prefix} Method: ${req.method}`);
      logger.debug(`${prefix} URL: ${req.url}`);
      logger.debug(`${prefix} Params: ${JSON.stringify(params)}`);
      logger.debug(`${prefix} Headers: ${JSON.stringify(req.headersDistinct)}`);
      logger.debug(`${prefix} Body: ${body}`);
      writeJson(res, 200, { message: 'pong' });
    });
  };
}

const echoHandler: Handler = (req, res) => {
  void collect(req).then((body) => {
    const url = new URL(req.url ?? '/', 'http://placeholder');
    const query: JsonObject = {};
    for (const key of new Set(url.searchParams.keys())) query[key] = url.searchParams.getAll(key);
    const headers: JsonObject = {};
    for (const [k, v] of Object.entries(req.headersDistinct)) headers[canonicalHeaderKey(k)] = v ?? [];
    const sortedQuery = new URLSearchParams(url.searchParams);
    sortedQuery.sort();
    writeJson(res, 200, {
      req_uri: req.url ?? '',
      req_uri_details: {
        scheme: '',
        user: '',
        host: req.headers.host ?? '',
        path: url.pathname,
        query: sortedQuery.toString(),
        fragment: '',
      },
      req_method: req.method ?? '',
      req_querystring: query,
      req_body: body,
      req_headers: headers,
    });
  });
};
