/**
 * The backend proxy: builds the backend request (url_pattern, load balancing over `host`, forwarded query and
 * headers), calls it on a keep-alive pool following redirects as Go's http.Client does, checks the status as Lura's
 * status handlers do (only 200 and 201 are successes) and decodes the body. `no-op` backends return the response
 * untouched, streamed.
 *
 * ## Redirects (Go's http.Client, which Lura uses for every encoding, `no-op` included)
 *
 * 301, 302 and 303 are followed with GET (HEAD stays HEAD) and no body; 307 and 308 keep the method and the body,
 * but only when `backend/http/client.send_body_on_redirect` is true or the request has no body: otherwise the 307/308
 * response itself is the answer (Go cannot replay a streamed body). A 3xx without `Location`, and 300, 304, 305 and
 * 306, are answers, not redirects. Go's default policy stops after 10 requests: 9 redirects are followed and the 10th
 * fails the backend ("stopped after 10 redirects"), as does an unparsable `Location` or a scheme other than
 * http(s). Each hop sends the first request's
 * headers again, minus Authorization, Cookie and the other credentials once a hop leaves the first host's domain
 * and subdomains, plus a `Referer` naming the previous URL (none from https to http). The status check below applies
 * to the final response.
 *
 * ## How backend statuses reach the client
 *
 * `backend/http` (Lura's GetHTTPStatusHandler): a non-empty string `return_error_details` wins; otherwise
 * `return_error_code: true`; if the `return_error_details` key is present at all (even empty or not a string),
 * `return_error_code` is not looked at, as in Lura. Neither applies to `no-op` backends.
 *
 * - Default, encodings other than `no-op`: anything but 200/201 (204 and 3xx included) fails the backend with
 *   `invalid status code N [METHOD /pattern]: url` (E_BACKEND_STATUS, no status of its own). A lone backend's
 *   endpoint then answers 500 with an empty body (the message with `router.return_error_msg`); in a merge the other
 *   backends' data is answered with 200 and `X-Krakend-Completed: false`.
 * - `return_error_code`: the backend fails with an HttpResponseError carrying the backend's status, body and
 *   Content-Type, its message being the body. A lone backend's endpoint answers the backend's status with an empty
 *   body, or with `return_error_msg` the backend's body under the backend's Content-Type (no body for 204/304).
 *   Behind a merge of several backends it is an ordinary failure: 200 with the others' data, as by default.
 * - `return_error_details: "name"`: the backend does not fail; it answers
 *   `{"error_name": {"http_status_code": N, "http_body": "...", "http_body_encoding": "content type"}}` (body and
 *   encoding left out when empty), incomplete, with `metadata.statusCode` N and no headers. The endpoint renders it
 *   like any data, with status 200 and `X-Krakend-Completed: false`: under `json` the key is in the body (merged with
 *   the other backends'), under `json-collection` the body is `[]` unless another backend supplied `collection`,
 *   under `string` it is empty unless another backend supplied `content`. This response is not meant for the entity
 *   formatter (Lura's formatter lives in the response parser, which the error path skips): see
 *   `isErrorDetailsResponse`. A circuit breaker counts it as a success.
 * - `no-op` (backend and endpoint): status, headers and body pass through as they are (after redirects), whatever
 *   the status; only connection errors and timeouts fail the backend.
 */
import { gunzipSync, inflateSync, brotliDecompressSync } from 'node:zlib';
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { bodyTooLarge, requestBuffered, requestStreamed } from './backend-call.js';
import type { BackendConfig, ExtraConfig } from '../config/types.js';
import { ErrorCode, KrakendError } from '../../base/errors.js';
import { HOP_BY_HOP } from '../http/headers.js';
import type { JsonObject } from '../json/types.js';
import { isJsonObject } from '../json/types.js';
import type { BackendPools } from './backend-pools.js';
import { DecodeError, decoderFor } from './decoders.js';
import type { Headers, Proxy, ProxyRequest, ProxyResponse } from './types.js';
import { compileUrlPattern } from './url-pattern.js';

export const BACKEND_HTTP_NAMESPACE = 'backend/http';
export const BACKEND_HTTP_CLIENT_NAMESPACE = 'backend/http/client';
/**
 * Go's http.Client default policy: "stop after 10 consecutive requests". So 9 redirects are followed, and the 10th
 * redirect response fails the backend with "stopped after 10 redirects".
 */
export const MAX_REDIRECTS = 10;

/** Which of Lura's status handlers a backend uses. */
export type StatusPolicy =
  | { readonly kind: 'default' }
  | { readonly kind: 'error-code' }
  | { readonly kind: 'error-details'; readonly name: string };

/** Lura's GetHTTPStatusHandler, read from the backend's `backend/http` namespace. */
export function statusPolicyFor(extra: ExtraConfig): StatusPolicy {
  const ns = extra[BACKEND_HTTP_NAMESPACE];
  if (!isJsonObject(ns)) return { kind: 'default' };
  if ('return_error_details' in ns) {
    const name = ns['return_error_details'];
    return typeof name === 'string' && name !== '' ? { kind: 'error-details', name } : { kind: 'default' };
  }
  return ns['return_error_code'] === true ? { kind: 'error-code' } : { kind: 'default' };
}

/** Problems with a backend's `backend/http` and `backend/http/client` namespaces, one sentence each. */
export function validateBackendHttp(extra: ExtraConfig): string[] {
  const problems: string[] = [];
  if (BACKEND_HTTP_NAMESPACE in extra) {
    const ns = extra[BACKEND_HTTP_NAMESPACE];
    if (!isJsonObject(ns)) {
      problems.push(`${BACKEND_HTTP_NAMESPACE}: must be an object`);
    } else {
      const details = ns['return_error_details'];
      if (details !== undefined && (typeof details !== 'string' || details === '')) {
        problems.push(
          `${BACKEND_HTTP_NAMESPACE}.return_error_details must be a non-empty string (the name of the error key); ` +
            'as it is, it is ignored and so is return_error_code',
        );
      }
      const code = ns['return_error_code'];
      if (code !== undefined && typeof code !== 'boolean') {
        problems.push(`${BACKEND_HTTP_NAMESPACE}.return_error_code must be true or false`);
      }
    }
  }
  if (BACKEND_HTTP_CLIENT_NAMESPACE in extra) {
    const ns = extra[BACKEND_HTTP_CLIENT_NAMESPACE];
    if (!isJsonObject(ns)) {
      problems.push(`${BACKEND_HTTP_CLIENT_NAMESPACE}: must be an object`);
    } else {
      const v = ns['send_body_on_redirect'];
      if (v !== undefined && typeof v !== 'boolean') {
        problems.push(`${BACKEND_HTTP_CLIENT_NAMESPACE}.send_body_on_redirect must be true or false`);
      }
    }
  }
  return problems;
}

/**
 * A backend answered a failing status under `return_error_code` (Lura's HTTPResponseError): `status` is the
 * backend's, so the endpoint answers it; the message is the backend's body, as Lura's `Error()` returns it.
 */
export class HttpResponseError extends KrakendError {
  /** The backend's status code (also `status`). */
  readonly statusCode: number;
  /** The backend's body, as text. */
  readonly body: string;
  /** The backend's body, as it came (decompressed); what the endpoint writes with `return_error_msg`. */
  readonly raw: Buffer;
  /** The backend's Content-Type, or empty. */
  readonly encoding: string;

  constructor(statusCode: number, raw: Buffer, encoding: string) {
    const body = raw.toString('utf8');
    super(ErrorCode.BackendStatus, body, { status: statusCode });
    this.name = 'HttpResponseError';
    this.statusCode = statusCode;
    this.body = body;
    this.raw = raw;
    this.encoding = encoding;
  }

  /** Lura's JSON form: `http_body` and `http_body_encoding` are `omitempty`. */
  toJSON(): JsonObject {
    const out: JsonObject = { http_status_code: this.statusCode };
    if (this.body !== '') out['http_body'] = this.body;
    if (this.encoding !== '') out['http_body_encoding'] = this.encoding;
    return out;
  }
}

/** Marks the response a `return_error_details` backend answers a failing status with. */
export const ERROR_DETAILS: unique symbol = Symbol('krakend.errorDetails');

/** A response carrying a backend's error details (`return_error_details`), which formatting must leave alone. */
export interface ErrorDetailsResponse extends ProxyResponse {
  readonly [ERROR_DETAILS]: HttpResponseError;
}

/**
 * True for the response a `return_error_details` backend answers a failing status with. Lura never runs the
 * entity formatter (target, allow/deny, mapping, group, flatmap) on it, so a formatting stage should pass it through.
 */
export function isErrorDetailsResponse(response: ProxyResponse): response is ErrorDetailsResponse {
  return (response as Partial<ErrorDetailsResponse>)[ERROR_DETAILS] !== undefined;
}

export interface HttpProxyOptions {
  pools: BackendPools;
  /** Largest backend body accepted, in bytes; larger bodies fail the backend. */
  maxBodySize: number;
}

/**
 * One exchange's answer: the body gathered into a Buffer, or (for `no-op`) left as a stream. Gathering goes
 * through backend-call.ts's dispatch handlers: no Readable, no per-request AbortController.
 */
interface ResponseData {
  readonly statusCode: number;
  readonly headers: IncomingHttpHeaders;
  readonly buffered: Buffer | undefined;
  readonly stream: Readable | undefined;
}
type OutgoingHeaders = Record<string, string | string[]>;

const METHODS_WITHOUT_BODY = new Set(['GET', 'HEAD']);

/** A backend request's target: the origin picks the pool, the path is sent as it is (never re-normalised). */
interface Target {
  readonly origin: string;
  readonly path: string;
}

export function createHttpProxy(backend: BackendConfig, options: HttpProxyOptions): Proxy {
  const pattern = compileUrlPattern(backend.urlPattern);
  const hosts = backend.host.map((h) => new URL(h));
  const method = backend.method;
  const label = `[${method} ${backend.urlPattern}]`;
  const noop = backend.encoding === 'no-op';
  const decode = noop ? undefined : decoderFor(backend.encoding, backend.isCollection);
  const policy: StatusPolicy = noop ? { kind: 'default' } : statusPolicyFor(backend.extraConfig);
  const client = backend.extraConfig[BACKEND_HTTP_CLIENT_NAMESPACE];
  const sendBodyOnRedirect = isJsonObject(client) && client['send_body_on_redirect'] === true;
  const { pools, maxBodySize } = options;
  let next = 0;

  /** One exchange, no redirects. */
  async function exchange(
    target: Target,
    verb: string,
    headers: OutgoingHeaders,
    body: Buffer | undefined,
    signal: AbortSignal,
  ): Promise<ResponseData> {
    const call = { path: target.path, method: verb, headers, body };
    try {
      if (noop) {
        const r = await requestStreamed(pools.get(target.origin), call, signal);
        return { statusCode: r.statusCode, headers: r.headers, buffered: undefined, stream: r.body };
      }
      const r = await requestBuffered(pools.get(target.origin), call, signal, maxBodySize);
      return { statusCode: r.statusCode, headers: r.headers, buffered: r.body, stream: undefined };
    } catch (err) {
      throw connectionError(err, signal, label, target.origin + target.path);
    }
  }

  /** Go's Client.Do: sends the request and follows redirects; resolves the final response and where it came from. */
  async function send(
    first: Target,
    headers: OutgoingHeaders,
    body: Buffer | undefined,
    signal: AbortSignal,
  ): Promise<{ res: ResponseData; target: Target }> {
    let target = first;
    let verb = method;
    let res = await exchange(target, verb, headers, body, signal);
    let stripCredentials = false;
    for (let redirects = 0; ; redirects++) {
      const behaviour = redirectBehaviour(res.statusCode, verb, body !== undefined, sendBodyOnRedirect);
      if (behaviour === undefined) return { res, target };
      const location = firstValue(res.headers['location']);
      if (location === undefined || location === '') return { res, target };
      const current = new URL(target.origin + target.path);
      let dest: URL;
      try {
        dest = new URL(location, current);
      } catch {
        drain(res);
        throw new KrakendError(
          ErrorCode.BackendConnection,
          `${label} failed to parse Location header "${location}": ${current.href}`,
        );
      }
      // `redirects + 1` requests made so far; Go's defaultCheckRedirect refuses once `via` holds 10.
      if (redirects + 1 >= MAX_REDIRECTS) {
        drain(res);
        throw new KrakendError(
          ErrorCode.BackendConnection,
          `${label} stopped after ${MAX_REDIRECTS} redirects: ${current.href}`,
        );
      }
      if (dest.protocol !== 'http:' && dest.protocol !== 'https:') {
        drain(res);
        throw new KrakendError(
          ErrorCode.BackendConnection,
          `${label} unsupported protocol scheme "${dest.protocol.slice(0, -1)}": ${dest.href}`,
        );
      }
      drain(res);
      const initial = new URL(first.origin + first.path);
      if (!stripCredentials && initial.host !== dest.host && !isDomainOrSubdomain(dest.hostname, initial.hostname)) {
        // Once a hop leaves the first host's domain, credentials stay off for the rest of the chain (Go ≥ 1.24).
        stripCredentials = true;
      }
      verb = behaviour.method;
      const resent = behaviour.includeBody ? body : undefined;
      const hopHeaders = redirectHeaders(headers, current, dest, resent !== undefined, stripCredentials);
      target = { origin: dest.origin, path: dest.pathname + dest.search };
      res = await exchange(target, verb, hopHeaders, resent, signal);
    }
  }

  return async function httpProxy(request: ProxyRequest, signal: AbortSignal): Promise<ProxyResponse> {
    // Round robin, as Lura's static balancer.
    const host = hosts[next++ % hosts.length] as URL;
    if (next >= 1 << 30) next = 0;
    const path = buildPath(host, pattern.render(request.params), request.query);
    const headers: OutgoingHeaders = { ...request.headers };
    let body: Buffer | undefined;
    if (request.body && request.body.length > 0 && !METHODS_WITHOUT_BODY.has(method)) {
      body = request.body;
      headers['content-length'] = String(body.length);
    }

    const { res, target } = await send({ origin: host.origin, path }, headers, body, signal);
    const url = target.origin + target.path;

    if (noop) {
      return {
        data: {},
        isComplete: true,
        metadata: { statusCode: res.statusCode, headers: responseHeaders(res.headers) },
        stream: res.stream as Readable,
      };
    }

    if (res.statusCode !== 200 && res.statusCode !== 201) {
      if (policy.kind === 'default') {
        drain(res);
        throw new KrakendError(ErrorCode.BackendStatus, `invalid status code ${res.statusCode} ${label}: ${url}`);
      }
      const err = await responseError(res, signal, url);
      if (policy.kind === 'error-code') throw err;
      const details: ErrorDetailsResponse = {
        data: { [`error_${policy.name}`]: err.toJSON() },
        isComplete: false,
        metadata: { statusCode: res.statusCode, headers: {} },
        [ERROR_DETAILS]: err,
      };
      return details;
    }

    const raw = res.buffered ?? EMPTY;
    try {
      const data = (decode as (b: Buffer) => ProxyResponse['data'])(decompress(raw, res.headers, maxBodySize));
      return { data, isComplete: true, metadata: { statusCode: res.statusCode, headers: {} } };
    } catch (err) {
      if (err instanceof KrakendError) throw err;
      throw new KrakendError(ErrorCode.BackendDecode, `${label} ${(err as Error).message}`, { cause: err });
    }
  };

  /**
   * Lura's newHTTPResponseError: the whole body (decompressed) and the Content-Type. A body that cannot be read
   * (larger than the maximum, or undecodable) is empty, as Lura's `io.ReadAll` error path makes it; a cancelled
   * request stays a cancellation.
   */
  async function responseError(res: ResponseData, signal: AbortSignal, url: string): Promise<HttpResponseError> {
    let raw: Buffer = EMPTY;
    try {
      raw = decompress(res.buffered ?? EMPTY, res.headers, maxBodySize);
    } catch (err) {
      if (signal.aborted) throw connectionError(err, signal, label, url);
      raw = EMPTY;
    }
    return new HttpResponseError(res.statusCode, raw, firstValue(res.headers['content-type']) ?? '');
  }
}

const EMPTY: Buffer = Buffer.alloc(0);

/**
 * Go's redirectBehavior. `hadBody` and the resent body are the first request's, as in Go (which checks `reqs[0]`):
 * a 307 after a 303 resends the original body only where Go could.
 */
function redirectBehaviour(
  status: number,
  verb: string,
  hadBody: boolean,
  sendBodyOnRedirect: boolean,
): { method: string; includeBody: boolean } | undefined {
  switch (status) {
    case 301:
    case 302:
    case 303:
      return { method: verb === 'GET' || verb === 'HEAD' ? verb : 'GET', includeBody: false };
    case 307:
    case 308:
      // Without send_body_on_redirect Lura hands Go a stream it cannot replay: Go answers the 307/308 itself.
      if (hadBody && !sendBodyOnRedirect) return undefined;
      return { method: verb, includeBody: true };
    default:
      return undefined;
  }
}

/** Go's shouldCopyHeaderOnRedirect credentials list (Go 1.24). */
const CREDENTIAL_HEADERS = new Set([
  'authorization',
  'www-authenticate',
  'cookie',
  'cookie2',
  'proxy-authorization',
  'proxy-authenticate',
]);

/** The headers of a redirect hop: the first request's, as Go's makeHeadersCopier copies them, plus Go's Referer. */
function redirectHeaders(
  initial: OutgoingHeaders,
  previous: URL,
  dest: URL,
  withBody: boolean,
  stripCredentials: boolean,
): OutgoingHeaders {
  const out: OutgoingHeaders = {};
  for (const [name, value] of Object.entries(initial)) {
    if (stripCredentials && CREDENTIAL_HEADERS.has(name)) continue;
    if (!withBody && name === 'content-length') continue;
    out[name] = value;
  }
  // Go's refererForURL: never from https to http; an explicit Referer wins; otherwise the previous URL.
  if (!(previous.protocol === 'https:' && dest.protocol === 'http:') && initial['referer'] === undefined) {
    const ref = new URL(previous.href);
    ref.username = '';
    ref.password = '';
    out['referer'] = ref.href;
  }
  return out;
}

/** Go's isDomainOrSubdomain: `sub` is `parent` or ends with `.parent`; never for IPv6 literals. */
function isDomainOrSubdomain(sub: string, parent: string): boolean {
  if (sub === parent) return true;
  if (sub.includes(':') || sub.includes('%')) return false;
  return sub.endsWith(parent) && sub[sub.length - parent.length - 1] === '.';
}

function firstValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** Frees the connection without waiting for the body. */
function drain(res: ResponseData): void {
  // A buffered body is already read; a stream (no-op) is consumed so the connection goes back to the pool.
  res.stream?.resume();
}

function buildPath(host: URL, renderedPattern: string, query: URLSearchParams): string {
  const base = host.pathname === '/' ? '' : host.pathname;
  let path = base + renderedPattern;
  if (!path.startsWith('/')) path = '/' + path;
  // Lura appends the forwarded query after the url_pattern's own, with Go's sorted encoding.
  if (query.size > 0) {
    const sorted = new URLSearchParams(query);
    sorted.sort();
    path += (path.includes('?') ? '&' : '?') + sorted.toString();
  }
  return path;
}

function decompress(raw: Buffer, headers: ResponseData['headers'], max: number): Buffer {
  const enc = headers['content-encoding'];
  if (!enc || enc === 'identity') return raw;
  try {
    switch (String(enc).toLowerCase()) {
      case 'gzip':
      case 'x-gzip':
        return gunzipSync(raw, { maxOutputLength: max });
      case 'deflate':
        return inflateSync(raw, { maxOutputLength: max });
      case 'br':
        return brotliDecompressSync(raw, { maxOutputLength: max });
      default:
        throw new DecodeError(`unsupported content-encoding "${String(enc)}"`);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw tooLarge(max);
    throw err;
  }
}

const tooLarge = bodyTooLarge;

function connectionError(err: unknown, signal: AbortSignal, label: string, url: string): KrakendError {
  // Our own verdicts (a body over the maximum) pass as they are.
  if (err instanceof KrakendError && !signal.aborted) return err;
  if (signal.aborted) {
    const reason = signal.reason as unknown;
    if (reason instanceof KrakendError) return reason;
    return new KrakendError(ErrorCode.RequestCancelled, `${label} request cancelled: ${url}`, { cause: err });
  }
  return new KrakendError(ErrorCode.BackendConnection, `${label} ${(err as Error).message}: ${url}`, { cause: err });
}

function responseHeaders(raw: ResponseData['headers']): Headers {
  const out: Headers = {};
  for (const [name, value] of Object.entries(raw)) {
    if (value === undefined || HOP_BY_HOP.has(name)) continue;
    out[name] = Array.isArray(value) ? value : [value];
  }
  return out;
}
