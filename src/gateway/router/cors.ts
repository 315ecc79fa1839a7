/**
 * CORS, namespace `security/cors` at the service level: KrakenD's krakend-cors on rs/cors (v1.11). KrakenD CE wraps
 * the whole HTTP handler with it, before the router: it sees every request, whatever its path (404s, 405s, the
 * health endpoint and trailing-slash redirects included), so `Routes.dispatch` calls it before looking up a route:
 *
 *     if (cors?.preflight(req, res)) return;   // answered
 *     cors?.decorate(req, res);                // sets headers with setHeader; the handler's writeHead keeps them
 *
 * Defaults, as KrakenD sets them before handing the options to rs/cors: `allow_origins` empty or absent → all
 * (`*`); `allow_headers` empty or absent → all (`*`, not rs/cors's Accept/Content-Type/X-Requested-With);
 * `allow_methods` → GET, POST, HEAD; `expose_headers` → none (the schema's Content-Length/Content-Type default is not
 * applied by the code); `max_age` → no header; `options_success_status` → 204 (KrakenD CE's server wrapper does not
 * apply the 200 its gin middleware would); `allow_credentials`, `allow_private_network`, `options_passthrough`,
 * `debug` → false.
 *
 * Preflight: an OPTIONS request with a non-empty `Access-Control-Request-Method`.
 * - It always gets `Vary: Origin, Access-Control-Request-Method, Access-Control-Request-Headers` (plus
 *   `, Access-Control-Request-Private-Network` with `allow_private_network`).
 * - When the origin is allowed, the requested method is in `allow_methods` (exact, case-sensitive; OPTIONS always
 *   passes) and every requested header is allowed: `Access-Control-Allow-Origin` (`*` when every origin is allowed,
 *   even with credentials, as rs/cors 1.11 does: browsers then refuse credentialed requests; otherwise the request's
 *   Origin), `Access-Control-Allow-Methods` (the requested method), `Access-Control-Allow-Headers` (the requested
 *   headers, as sent), `Access-Control-Allow-Credentials: true`, `Access-Control-Allow-Private-Network: true` (when
 *   enabled and asked for with `Access-Control-Request-Private-Network: true`), `Access-Control-Max-Age` (seconds;
 *   a negative `max_age` sends 0).
 * - Otherwise none of those: the browser refuses the real request.
 * - Either way the preflight is answered here with `options_success_status` and no body, unless
 *   `options_passthrough`: then the headers are set and the request goes on to the router (`auto_options`, or an
 *   OPTIONS endpoint).
 *
 * Actual requests (anything else): `Vary: Origin` always; with an allowed Origin and a method in `allow_methods`,
 * `Access-Control-Allow-Origin`, `Access-Control-Expose-Headers` (canonical names, comma-separated) and
 * `Access-Control-Allow-Credentials`. A missing or refused Origin gets no CORS header, and the request is served
 * anyway: CORS is the browser's to enforce.
 *
 * Origin matching: case-insensitive; an entry may hold one `*` standing for zero or more characters
 * (`https://*.example.com` matches `https://api.example.com` and `https://a.b.example.com`, not
 * `https://example.com`); `*` alone allows every origin.
 *
 * Deviation: `Access-Control-Request-Headers` is matched leniently (any case, any order, spaces and empty elements
 * ignored), where rs/cors wants the browser's form (lower-case, sorted, no duplicates) and refuses anything else.
 * Browsers always send that form, so they see no difference.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseDuration } from '../../base/duration.js';
import type { Logger } from '../../base/logger.js';
import type { ExtraConfig } from '../config/types.js';
import { canonicalHeaderKey } from '../http/headers.js';
import { isJsonObject } from '../json/types.js';
import type { JsonObject, JsonValue } from '../json/types.js';

export const CORS_NAMESPACE = 'security/cors';

export interface CorsHandler {
  /**
   * Handles a preflight request. Returns true when it answered it (the caller stops there); false when the request
   * is not a preflight, or with `options_passthrough` (headers set, the router answers).
   */
  preflight(req: IncomingMessage, res: ServerResponse): boolean;
  /** Sets the CORS response headers of an actual (non-preflight) request; does nothing on a preflight. */
  decorate(req: IncomingMessage, res: ServerResponse): void;
}

/** The namespace, normalised as KrakenD hands it to rs/cors. */
export interface CorsSettings {
  readonly allOrigins: boolean;
  /** Lower-cased exact origins. */
  readonly origins: ReadonlySet<string>;
  /** Lower-cased origins with one `*`, split around it. */
  readonly wildcards: readonly { readonly prefix: string; readonly suffix: string }[];
  /** As configured: matched exactly. */
  readonly methods: readonly string[];
  readonly allHeaders: boolean;
  /** Lower-cased. */
  readonly headers: ReadonlySet<string>;
  /** The `Access-Control-Expose-Headers` value, or undefined for none. */
  readonly exposeHeaders: string | undefined;
  readonly allowCredentials: boolean;
  readonly allowPrivateNetwork: boolean;
  readonly optionsPassthrough: boolean;
  readonly optionsSuccessStatus: number;
  /** The `Access-Control-Max-Age` value, or undefined for none. */
  readonly maxAge: string | undefined;
  readonly debug: boolean;
}

const DEFAULT_METHODS = ['GET', 'POST', 'HEAD'];
const DEFAULT_SUCCESS_STATUS = 204;
/** The methods KrakenD's schema accepts in `allow_methods`. */
const SCHEMA_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
const KNOWN_KEYS = new Set([
  'allow_origins',
  'allow_methods',
  'allow_headers',
  'expose_headers',
  'allow_credentials',
  'allow_private_network',
  'options_passthrough',
  'options_success_status',
  'max_age',
  'debug',
]);
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * The settings KrakenD would run with, or undefined when the namespace is absent or not an object. Lenient like
 * KrakenD (entries that are not strings are skipped, a bad `max_age` is no max age): check `validateCors` first.
 */
export function parseCorsConfig(extra: ExtraConfig): CorsSettings | undefined {
  const raw = extra[CORS_NAMESPACE];
  if (!isJsonObject(raw)) return undefined;
  const originList = strings(raw, 'allow_origins');
  const headerList = strings(raw, 'allow_headers');
  const methodList = strings(raw, 'allow_methods');
  const exposeList = strings(raw, 'expose_headers');

  const allOrigins = originList.length === 0 || originList.includes('*');
  const origins = new Set<string>();
  const wildcards: { prefix: string; suffix: string }[] = [];
  if (!allOrigins) {
    for (const entry of originList) {
      const origin = entry.toLowerCase();
      const star = origin.indexOf('*');
      if (star >= 0) wildcards.push({ prefix: origin.slice(0, star), suffix: origin.slice(star + 1) });
      else origins.add(origin);
    }
  }
  const allHeaders = headerList.length === 0 || headerList.includes('*');

  let maxAge: string | undefined;
  if (typeof raw['max_age'] === 'string') {
    try {
      // Go: int(d.Seconds()), truncated toward zero; rs/cors sends "0" for a negative value.
      const seconds = Math.trunc(parseDuration(raw['max_age']) / 1000);
      if (seconds > 0) maxAge = String(seconds);
      else if (seconds < 0) maxAge = '0';
    } catch {
      maxAge = undefined;
    }
  }
  const status = raw['options_success_status'];

  return {
    allOrigins,
    origins,
    wildcards,
    methods: methodList.length === 0 ? DEFAULT_METHODS : methodList,
    allHeaders,
    headers: new Set(allHeaders ? [] : headerList.map((h) => h.toLowerCase())),
    exposeHeaders: exposeList.length === 0 ? undefined : exposeList.map(canonicalHeaderKey).join(', '),
    allowCredentials: raw['allow_credentials'] === true,
    allowPrivateNetwork: raw['allow_private_network'] === true,
    optionsPassthrough: raw['options_passthrough'] === true,
    optionsSuccessStatus:
      typeof status === 'number' && Number.isInteger(status) && status !== 0 ? status : DEFAULT_SUCCESS_STATUS,
    maxAge,
    debug: raw['debug'] === true,
  };
}

/**
 * The CORS handler for a service `extra_config`, or undefined when it has no `security/cors`. The logger receives
 * the `debug` traces (at DEBUG) and the warning about `*` with credentials.
 */
export function createCors(extra: ExtraConfig, logger?: Logger): CorsHandler | undefined {
  const settings = parseCorsConfig(extra);
  if (settings === undefined) return undefined;
  const s = settings;
  const debug = s.debug && logger ? (msg: string) => logger.debug(`[SERVICE: Gin][CORS] ${msg}`) : undefined;
  if (s.allOrigins && s.allowCredentials) {
    logger?.warning(
      '[SERVICE: Gin][CORS] allow_origins "*" with allow_credentials: responses carry ' +
        'Access-Control-Allow-Origin "*", which browsers refuse for credentialed requests; list the origins instead',
    );
  }
  logger?.debug('[SERVICE: Gin][CORS] Enabled CORS for all requests');

  const preflightVary = s.allowPrivateNetwork
    ? 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers, Access-Control-Request-Private-Network'
    : 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers';

  function originAllowed(origin: string): boolean {
    if (s.allOrigins) return true;
    const o = origin.toLowerCase();
    if (s.origins.has(o)) return true;
    for (const w of s.wildcards) {
      if (o.length >= w.prefix.length + w.suffix.length && o.startsWith(w.prefix) && o.endsWith(w.suffix)) return true;
    }
    return false;
  }

  function methodAllowed(method: string): boolean {
    if (s.methods.length === 0) return false;
    if (method === 'OPTIONS') return true;
    return s.methods.includes(method);
  }

  function headersAllowed(values: readonly string[]): boolean {
    if (s.allHeaders) return true;
    for (const value of values) {
      for (const part of value.split(',')) {
        const name = part.trim().toLowerCase();
        if (name !== '' && !s.headers.has(name)) return false;
      }
    }
    return true;
  }

  function handlePreflight(req: IncomingMessage, res: ServerResponse): void {
    addVary(res, preflightVary);
    const origin = first(req, 'origin');
    if (origin === '') {
      debug?.('  Preflight aborted: empty origin');
      return;
    }
    if (!originAllowed(origin)) {
      debug?.(`  Preflight aborted: origin '${origin}' not allowed`);
      return;
    }
    const method = first(req, 'access-control-request-method');
    if (!methodAllowed(method)) {
      debug?.(`  Preflight aborted: method '${method}' not allowed`);
      return;
    }
    const requested = req.headersDistinct['access-control-request-headers'];
    if (requested !== undefined && !headersAllowed(requested)) {
      debug?.(`  Preflight aborted: headers '${requested.join(', ')}' not allowed`);
      return;
    }
    res.setHeader('Access-Control-Allow-Origin', s.allOrigins ? '*' : origin);
    res.setHeader('Access-Control-Allow-Methods', req.headersDistinct['access-control-request-method'] ?? []);
    if (requested !== undefined && (requested[0] ?? '') !== '') {
      res.setHeader('Access-Control-Allow-Headers', requested);
    }
    if (s.allowCredentials) res.setHeader('Access-Control-Allow-Credentials', 'true');
    if (s.allowPrivateNetwork && first(req, 'access-control-request-private-network') === 'true') {
      res.setHeader('Access-Control-Allow-Private-Network', 'true');
    }
    if (s.maxAge !== undefined) res.setHeader('Access-Control-Max-Age', s.maxAge);
    debug?.(`  Preflight response headers: ${JSON.stringify(res.getHeaders())}`);
  }

  return {
    preflight(req, res) {
      if (!isPreflight(req)) return false;
      debug?.('Handler: Preflight request');
      handlePreflight(req, res);
      if (s.optionsPassthrough) return false;
      const status = s.optionsSuccessStatus;
      if (status !== 204 && status !== 304 && status >= 200) res.setHeader('Content-Length', '0');
      res.writeHead(status);
      res.end();
      return true;
    },

    decorate(req, res) {
      if (isPreflight(req)) return;
      debug?.('Handler: Actual request');
      addVary(res, 'Origin');
      const origin = first(req, 'origin');
      if (origin === '') {
        debug?.('  Actual request no headers added: missing origin');
        return;
      }
      if (!originAllowed(origin)) {
        debug?.(`  Actual request no headers added: origin '${origin}' not allowed`);
        return;
      }
      const method = req.method ?? 'GET';
      if (!methodAllowed(method)) {
        debug?.(`  Actual request no headers added: method '${method}' not allowed`);
        return;
      }
      res.setHeader('Access-Control-Allow-Origin', s.allOrigins ? '*' : origin);
      if (s.exposeHeaders !== undefined) res.setHeader('Access-Control-Expose-Headers', s.exposeHeaders);
      if (s.allowCredentials) res.setHeader('Access-Control-Allow-Credentials', 'true');
      debug?.(`  Actual response added headers: ${JSON.stringify(res.getHeaders())}`);
    },
  };
}

function isPreflight(req: IncomingMessage): boolean {
  return req.method === 'OPTIONS' && first(req, 'access-control-request-method') !== '';
}

/** Go's Header.Get: the first value, or empty. */
function first(req: IncomingMessage, name: string): string {
  return req.headersDistinct[name]?.[0] ?? '';
}

/** Appends to Vary, as rs/cors does (another middleware may have set it already). */
function addVary(res: ServerResponse, value: string): void {
  const existing = res.getHeader('vary');
  if (existing === undefined) res.setHeader('Vary', value);
  else res.setHeader('Vary', [...(Array.isArray(existing) ? existing : [String(existing)]), value]);
}

function strings(o: JsonObject, key: string): string[] {
  const v = o[key];
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

// ---------------------------------------------------------------------------------------------------------------
// Validation

/**
 * Problems with the service's `security/cors`, one sentence each; empty when it is absent or fine. Reported: wrong
 * types (KrakenD would skip the value, or panic on a non-string `max_age`), unknown keys (a misspelt
 * `allow_origins` would silently allow every origin), origins that can never match (more than one `*`, a path, no
 * scheme and no wildcard), methods outside KrakenD's schema (matching is case-sensitive, so `get` never matches),
 * header names that are not HTTP tokens, a `max_age` that is not a Go duration, and an `options_success_status`
 * outside 200–599.
 */
export function validateCors(extra: ExtraConfig): string[] {
  if (!(CORS_NAMESPACE in extra)) return [];
  const raw = extra[CORS_NAMESPACE];
  const ns = CORS_NAMESPACE;
  if (!isJsonObject(raw)) return [`${ns}: must be an object`];
  const problems: string[] = [];

  for (const key of Object.keys(raw)) {
    if (/^[@$_#]/.test(key) || KNOWN_KEYS.has(key)) continue;
    problems.push(`${ns}.${key} is not a CORS option (known: ${[...KNOWN_KEYS].join(', ')})`);
  }

  const list = (key: string, check: (item: string) => string | undefined): void => {
    const v: JsonValue | undefined = raw[key];
    if (v === undefined) return;
    if (!Array.isArray(v)) {
      problems.push(`${ns}.${key} must be a list of strings`);
      return;
    }
    v.forEach((item, i) => {
      if (typeof item !== 'string') {
        problems.push(`${ns}.${key}[${i}] must be a string`);
        return;
      }
      const why = check(item);
      if (why !== undefined) problems.push(`${ns}.${key}[${i}] "${item}" ${why}`);
    });
  };

  list('allow_origins', originProblem);
  list('allow_methods', (m) =>
    SCHEMA_METHODS.has(m) ? undefined : `is not one of ${[...SCHEMA_METHODS].join(', ')} (matching is case-sensitive)`,
  );
  list('allow_headers', (h) => (h === '*' || TOKEN.test(h) ? undefined : 'is not a header name'));
  list('expose_headers', (h) => (TOKEN.test(h) ? undefined : 'is not a header name'));

  for (const key of ['allow_credentials', 'allow_private_network', 'options_passthrough', 'debug']) {
    const v = raw[key];
    if (v !== undefined && typeof v !== 'boolean') problems.push(`${ns}.${key} must be true or false`);
  }

  const maxAge = raw['max_age'];
  if (maxAge !== undefined) {
    if (typeof maxAge !== 'string') {
      problems.push(`${ns}.max_age must be a duration string such as "12h"`);
    } else {
      try {
        parseDuration(maxAge);
      } catch (err) {
        problems.push(`${ns}.max_age: ${(err as Error).message}`);
      }
    }
  }

  const status = raw['options_success_status'];
  const validStatus = typeof status === 'number' && Number.isInteger(status) && status >= 200 && status <= 599;
  if (status !== undefined && !validStatus) {
    problems.push(`${ns}.options_success_status must be an HTTP status between 200 and 599`);
  }
  return problems;
}

/** Why an `allow_origins` entry can never match a browser's Origin, or undefined when it can. */
function originProblem(entry: string): string | undefined {
  if (entry === '*' || entry === 'null') return undefined;
  if (entry === '') return 'is empty';
  const stars = entry.split('*').length - 1;
  if (stars > 1) return 'has more than one "*": only one wildcard is supported, so it never matches';
  const scheme = entry.indexOf('://');
  if (scheme < 0) {
    if (stars === 0) return 'has no scheme: browsers send origins such as https://example.com, so it never matches';
    return undefined;
  }
  if (entry.indexOf('/', scheme + 3) >= 0) return 'has a path: an origin is scheme://host[:port], so it never matches';
  return undefined;
}
