/**
 * The endpoint handler, after Lura's gin handler: turns the client's request into a ProxyRequest (forwarding
 * only what `input_headers` / `input_query_strings` allow), runs the endpoint's proxy stack under the
 * endpoint's timeout, and renders the outcome with KrakenD's headers and status rules.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EndpointConfig } from '../config/types.js';
import type { Logger } from '../../base/logger.js';
import { ErrorCode, KrakendError } from '../../base/errors.js';
import type { Headers, Proxy, ProxyRequest, ProxyResponse } from '../proxy/types.js';
import { HOP_BY_HOP } from '../http/headers.js';
import type { ClientIpResolver } from './client-ip.js';
import type { RouterOptions } from './router-options.js';
import { renderFor } from './render.js';
import { LightSignal } from '../proxy/light-signal.js';
import { isMergeError } from '../proxy/merge.js';
import type { RouterLimit } from '../../ratelimit/router-limit.js';
import type { StatsCollector } from '../../stats/collector.js';
import { HttpResponseError } from '../proxy/http-proxy.js';
import type { OutgoingHeaders } from './render.js';

export interface HandlerContext {
  logger: Logger;
  router: RouterOptions;
  /** Value of the `X-Krakend` header (`Version 0.1.0`). */
  versionHeader: string;
  /** User-Agent sent to backends unless the client's is forwarded. */
  userAgent: string;
  maxRequestBodySize: number;
  clientIp: ClientIpResolver;
  /** Per-endpoint stats for the cluster (absent standalone: no cost). */
  stats?: StatsCollector;
}

export type EndpointHandler = (req: IncomingMessage, res: ServerResponse, params: Record<string, string>) => void;

const TIMEOUT_ERROR = (endpoint: string, ms: number) =>
  new KrakendError(ErrorCode.BackendTimeout, `endpoint ${endpoint} timed out after ${ms}ms`);

export function createEndpointHandler(
  endpoint: EndpointConfig,
  proxy: Proxy,
  ctx: HandlerContext,
  limit?: RouterLimit,
): EndpointHandler {
  const render = renderFor(endpoint.outputEncoding);
  const cacheControl = endpoint.cacheTtl > 0 ? `public, max-age=${Math.floor(endpoint.cacheTtl / 1000)}` : undefined;
  const logPrefix = `[ENDPOINT: ${endpoint.endpoint}]`;
  const buildHeaders = headerFilter(endpoint.inputHeaders);
  const buildQuery = queryFilter(endpoint.inputQueryStrings);
  const timeout = endpoint.timeout;
  const { logger } = ctx;
  const counters = ctx.stats?.endpoint(endpoint.id);

  return function endpointHandler(req, res, params) {
    if (counters) {
      const started = performance.now();
      // Bytes out as the socket wrote them (status line, headers and body): responses written with writeHead
      // carry no readable Content-Length, and streamed (no-op) ones have none. A keep-alive socket serves one
      // response at a time, so the difference is this response's.
      const socket = req.socket;
      const written = socket.bytesWritten;
      res.once('close', () => {
        const bytesIn = Number(req.headers['content-length']) || 0;
        const bytesOut = Math.max(0, socket.bytesWritten - written);
        counters.request(res.headersSent ? res.statusCode : 0, (performance.now() - started) * 1000, bytesIn, bytesOut);
      });
    }
    for (const name in params) {
      const value = params[name] as string;
      if (!validParam(value)) {
        writeText(res, 400, 'error: encoded url params', ctx.versionHeader);
        return;
      }
    }
    if (limit) {
      // Checked before the body is read: a refused request costs as little as possible. KrakenD answers empty.
      const refused = limit.check(req, params, ctx.clientIp(req));
      if (refused !== 0) {
        counters?.rateLimit();
        res.writeHead(refused, { 'Content-Length': '0', 'X-Krakend': ctx.versionHeader, 'X-Krakend-Completed': 'false' });
        res.end();
        req.resume();
        return;
      }
    }
    if (!hasBody(req)) {
      start(req, res, params, undefined);
      return;
    }
    readBody(req, ctx.maxRequestBodySize).then(
      (body) => start(req, res, params, body),
      (err: KrakendError) => {
        if (!res.headersSent && !res.destroyed) writeText(res, err.status ?? 400, err.message, ctx.versionHeader);
      },
    );
  };

  function start(req: IncomingMessage, res: ServerResponse, params: Record<string, string>, body: Buffer | undefined) {
    const headers = buildHeaders(req);
    headers['x-forwarded-for'] = [ctx.clientIp(req)];
    headers['x-forwarded-host'] = [req.headers.host ?? ''];
    if (headers['user-agent'] === undefined) headers['user-agent'] = [ctx.userAgent];
    else headers['x-forwarded-via'] = [ctx.userAgent];
    const request: ProxyRequest = { method: req.method ?? 'GET', params, query: buildQuery(req), headers, body };
    run(req, res, request);
  }

  function run(req: IncomingMessage, res: ServerResponse, request: ProxyRequest): void {
    // A LightSignal, not an AbortController: this runs once per request (see light-signal.ts).
    const controller = new LightSignal();
    const timer = setTimeout(() => controller.abort(TIMEOUT_ERROR(endpoint.endpoint, timeout)), timeout);
    const onClose = () => {
      if (!res.writableFinished) controller.abort(new KrakendError(ErrorCode.RequestCancelled, 'client went away'));
    };
    res.once('close', onClose);

    proxy(request, controller.asSignal()).then(
      (response) => {
        clearTimeout(timer);
        const errors = (response as { errors?: readonly unknown[] }).errors;
        if (errors && errors.length > 0) logErrors(errors);
        // Lura: a deadline that passed while the proxy answered still counts as an error, but the data is kept.
        finish(res, response, controller.aborted ? controller.reason : undefined);
      },
      (err: unknown) => {
        clearTimeout(timer);
        if (controller.aborted && !res.writableEnded && res.destroyed) return; // client gone
        logErrors(errorsOf(err));
        // Lura: when every backend of a merge fails, the merge still answers an empty, incomplete response.
        finish(res, isMergeError(err) ? emptyResponse() : undefined, err);
      },
    );
    void req;
  }

  function finish(res: ServerResponse, response: ProxyResponse | undefined, err: unknown): void {
    if (res.headersSent || res.destroyed) return;
    const headers: OutgoingHeaders = { 'X-Krakend': ctx.versionHeader };
    let complete = 'false';
    if (response && hasData(response)) {
      if (response.isComplete) {
        complete = 'true';
        if (cacheControl) headers['Cache-Control'] = cacheControl;
      }
      for (const [name, values] of Object.entries(response.metadata.headers)) {
        if (!HOP_BY_HOP.has(name) && name !== 'content-length') headers[name] = values;
      }
    }
    headers['X-Krakend-Completed'] = complete;
    if (err !== undefined && !response) {
      const status = err instanceof KrakendError && err.status ? err.status : 500;
      // Lura: the message with return_error_msg; a backend's error (return_error_code) is its body, written with the
      // backend's Content-Type. No body where HTTP allows none.
      const body = ctx.router.returnErrorMsg && bodyAllowed(status) ? errorBody(err) : NO_BODY;
      if (bodyAllowed(status)) headers['Content-Length'] = String(body.length);
      if (body.length > 0) {
        headers['Content-Type'] =
          err instanceof HttpResponseError && err.encoding ? err.encoding : 'text/plain; charset=utf-8';
      }
      res.writeHead(status, headers);
      res.end(body);
      return;
    }
    render(res, 200, headers, response, res.req);
  }

  function logErrors(errors: readonly unknown[]): void {
    if (errors.length === 1) {
      logger.error(`${logPrefix} ${messageOf(errors[0])}`);
      return;
    }
    errors.forEach((e, i) => logger.error(`${logPrefix} Error #${i}: ${messageOf(e)}`));
  }
}

function emptyResponse(): ProxyResponse {
  return { data: {}, isComplete: false, metadata: { statusCode: 0, headers: {} } };
}

function hasData(response: ProxyResponse): boolean {
  if (response.stream) return false;
  for (const _ in response.data) return true;
  return false;
}

function errorsOf(err: unknown): readonly unknown[] {
  if (err instanceof AggregateError) return err.errors;
  const nested = (err as { errors?: unknown }).errors;
  return Array.isArray(nested) && nested.length > 0 ? nested : [err];
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

const NO_BODY = Buffer.alloc(0);

function errorBody(err: unknown): Buffer {
  return err instanceof HttpResponseError ? err.raw : Buffer.from(messageOf(err));
}

/** Go's bodyAllowedForStatus: no body for 1xx, 204 and 304. */
function bodyAllowed(status: number): boolean {
  return !(status < 200 || status === 204 || status === 304);
}

/**
 * Lura's paramChecker: a param that still decodes, or carries `?` or `#`, was double-encoded to sneak past.
 * Stricter than Lura: dot segments are refused too.
 */
function validParam(value: string): boolean {
  // `.` and `..` would walk the backend's path (`/users/../admin`): no legitimate id is a dot segment.
  if (value === '.' || value === '..') return false;
  if (value.includes('?') || value.includes('#')) return false;
  if (!value.includes('%')) return true;
  try {
    return decodeURIComponent(value) === value;
  } catch {
    return true;
  }
}

function writeText(res: ServerResponse, status: number, body: string, version: string): void {
  res.writeHead(status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(body)),
    'X-Krakend': version,
    'X-Krakend-Completed': 'false',
  });
  res.end(body);
}

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return !((length === undefined || length === '0') && req.headers['transfer-encoding'] === undefined);
}

/** Reads the client's body, bounded. */
function readBody(req: IncomingMessage, max: number): Promise<Buffer | undefined> {
  const length = req.headers['content-length'];
  if (length !== undefined && Number(length) > max) {
    req.resume();
    return Promise.reject(tooLarge(max));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        req.removeAllListeners('data');
        req.resume();
        reject(tooLarge(max));
        return;
      }
      chunks.push(chunk);
    });
    req.once('end', () => resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size)));
    req.once('error', (err) => reject(new KrakendError(ErrorCode.BadRequest, err.message, { status: 400 })));
  });
}

function tooLarge(max: number): KrakendError {
  return new KrakendError(ErrorCode.BadRequest, `request body larger than ${max} bytes`, { status: 413 });
}

/** `input_headers`: canonical names from the config; `*` forwards all but hop-by-hop ones. Default: Content-Type. */
function headerFilter(allowed: readonly string[]): (req: IncomingMessage) => Headers {
  const names = (allowed.length === 0 ? ['Content-Type'] : allowed).map((h) => h.toLowerCase());
  if (names.includes('*')) {
    return (req) => {
      const out: Headers = {};
      const raw = req.headersDistinct;
      for (const name in raw) {
        if (!HOP_BY_HOP.has(name) && name !== 'host' && name !== 'content-length') out[name] = raw[name] as string[];
      }
      return out;
    };
  }
  return (req) => {
    const out: Headers = {};
    for (const name of names) {
      const v = req.headersDistinct[name];
      if (v !== undefined) out[name] = v;
    }
    return out;
  };
}

const EMPTY_QUERY = new URLSearchParams();

/** `input_query_strings`: exact, case-sensitive names; `*` forwards all. */
function queryFilter(allowed: readonly string[]): (req: IncomingMessage) => URLSearchParams {
  if (allowed.length === 0) return () => EMPTY_QUERY;
  const all = allowed.includes('*');
  return (req) => {
    const url = req.url ?? '';
    const q = url.indexOf('?');
    if (q < 0) return EMPTY_QUERY;
    const incoming = new URLSearchParams(url.slice(q + 1));
    if (all) return incoming;
    const out = new URLSearchParams();
    for (const name of allowed) for (const v of incoming.getAll(name)) out.append(name, v);
    return out;
  };
}
