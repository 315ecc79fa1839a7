/**
 * Reads and checks the `qos/ratelimit/router` (endpoint) and `qos/ratelimit/proxy` (backend) namespaces, with
 * krakend-ratelimit v3's semantics (router/router.go, router/gin/gin.go, proxy/proxy.go):
 *
 * - `max_rate` / `client_max_rate` tokens every `every` (a Go duration, default 1s). 0 or absent: no such limit.
 * - `capacity` / `client_capacity` default to the rate per second, truncated, or 1 below one per second (so "50
 *   every 10m" without a capacity bursts 1, not 50: set the capacity to allow a burst).
 * - At the endpoint, an `every` below one second counts as one second, as KrakenD does.
 * - `strategy`: `ip` (the client IP; with `key`, the first IP in that header, else the client IP), `header` (the
 *   value of header `key`) or `param` (the endpoint param `key`); case-insensitive.
 * - `num_shards`, `cleanup_period`, `cleanup_threads` tune KrakenD's Go maps; they are checked and ignored here
 *   (see ./client-buckets.ts).
 *
 * KrakenD falls back silently on what it cannot read (a string rate is no limit, an unknown strategy drops the
 * client limit, a bad `every` is 1s). Each of those would weaken a protection the config asks for, so here they
 * are errors: the config is refused instead.
 */
import { parseDuration } from '../base/duration.js';
import { ErrorCode, KrakendError } from '../base/errors.js';
import type { ExtraConfig } from '../gateway/config/types.js';
import type { JsonObject, JsonValue } from '../gateway/json/types.js';
import { isJsonObject } from '../gateway/json/types.js';
import type { BucketSettings, Rate } from './token-bucket.js';

export const ROUTER_NAMESPACE = 'qos/ratelimit/router';
export const PROXY_NAMESPACE = 'qos/ratelimit/proxy';

export type RateLimitLevel = 'endpoint' | 'backend';
export type Strategy = 'ip' | 'header' | 'param';

export interface ClientLimitConfig extends BucketSettings {
  readonly strategy: Strategy;
  /** Header name (`header`, and optionally `ip`) or param name (`param`); '' when not set. */
  readonly key: string;
}

export interface RouterLimitConfig {
  /** `max_rate`: all clients together. */
  readonly endpoint: BucketSettings | undefined;
  /** `client_max_rate`: each client. */
  readonly client: ClientLimitConfig | undefined;
}

export interface RateLimitCheck {
  /** The namespace cannot be enforced as written: the config must be refused. */
  readonly errors: string[];
  /** Accepted, but worth telling the operator. */
  readonly warnings: string[];
}

const SECOND = 1000;
const STRATEGIES: readonly string[] = ['ip', 'header', 'param'];
const ROUTER_KEYS = new Set([
  'max_rate',
  'capacity',
  'client_max_rate',
  'client_capacity',
  'every',
  'strategy',
  'key',
  'num_shards',
  'cleanup_period',
  'cleanup_threads',
]);
const PROXY_KEYS = new Set(['max_rate', 'capacity', 'every']);
const NO_EFFECT = ['num_shards', 'cleanup_period', 'cleanup_threads'];
/** RFC 9110 token. */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * The problems that make the rate limit namespace of `extra` (an endpoint's or a backend's `extra_config`)
 * unusable: negative or non-numeric rates, fractional capacities, an `every` that is not a positive duration, a
 * client limit with no or an unknown strategy, a `header`/`param` strategy without `key`, a `param` key the
 * endpoint does not declare (pass the endpoint's `params` to check it). Empty when the namespace is absent.
 */
export function validateRateLimit(extra: ExtraConfig, level: RateLimitLevel, params?: readonly string[]): string[] {
  return inspectRateLimit(extra, level, params).errors;
}

/** Errors (see validateRateLimit) and warnings (ignored keys, clamped values) for one rate limit namespace. */
export function inspectRateLimit(
  extra: ExtraConfig,
  level: RateLimitLevel,
  params?: readonly string[],
): RateLimitCheck {
  const out: RateLimitCheck = { errors: [], warnings: [] };
  if (level === 'endpoint') readRouter(extra, params, out);
  else readProxy(extra, out);
  return out;
}

/**
 * The endpoint's rate limits, or undefined when it has none (namespace absent, or every rate 0). Throws a
 * KrakendError (ConfigInvalid) listing the problems when the namespace is invalid.
 */
export function readRouterLimit(extra: ExtraConfig, params?: readonly string[]): RouterLimitConfig | undefined {
  const out: RateLimitCheck = { errors: [], warnings: [] };
  const config = readRouter(extra, params, out);
  if (out.errors.length > 0) throw invalid(out.errors);
  return config;
}

/** The backend's rate limit, or undefined when it has none. Throws like readRouterLimit. */
export function readProxyLimit(extra: ExtraConfig): BucketSettings | undefined {
  const out: RateLimitCheck = { errors: [], warnings: [] };
  const config = readProxy(extra, out);
  if (out.errors.length > 0) throw invalid(out.errors);
  return config;
}

/** KrakenD's default capacity: the rate per second, truncated, or 1 below one per second. */
export function defaultCapacity(rate: Rate): number {
  const perSecond = (rate.tokens * SECOND) / rate.per;
  // The epsilon keeps 2.9999999999999996 (0.3 every 100ms) from truncating to 2.
  return perSecond < 1 ? 1 : Math.floor(perSecond + 1e-9);
}

function readRouter(
  extra: ExtraConfig,
  params: readonly string[] | undefined,
  out: RateLimitCheck,
): RouterLimitConfig | undefined {
  const raw = extra[ROUTER_NAMESPACE];
  if (raw === undefined) return undefined;
  const r = new Reader(ROUTER_NAMESPACE, out);
  if (!isJsonObject(raw)) {
    r.error('', `must be an object, got ${describe(raw)}`);
    return undefined;
  }
  r.unknownKeys(raw, ROUTER_KEYS);
  const maxRate = r.rate(raw, 'max_rate');
  const clientMaxRate = r.rate(raw, 'client_max_rate');
  if (raw.max_rate === undefined && raw.client_max_rate === undefined) {
    r.error('', 'needs max_rate, client_max_rate or both');
  }
  const capacity = r.capacity(raw, 'capacity');
  const clientCapacity = r.capacity(raw, 'client_capacity');
  let every = r.every(raw);
  if (every !== undefined && every < SECOND) {
    r.warn('every', `${JSON.stringify(raw.every)} is below 1s: counted as 1s, as KrakenD does`);
    every = SECOND;
  }
  const strategyRaw = raw.strategy;
  const key = raw.key;
  let strategy: Strategy | undefined;
  if (strategyRaw !== undefined) {
    if (typeof strategyRaw === 'string' && STRATEGIES.includes(strategyRaw.toLowerCase())) {
      strategy = strategyRaw.toLowerCase() as Strategy;
    } else {
      r.error('strategy', `must be one of "ip", "header" or "param", got ${describe(strategyRaw)}`);
    }
  }
  if (key !== undefined && typeof key !== 'string') r.error('key', `must be a string, got ${describe(key)}`);
  const keyName = typeof key === 'string' ? key.trim() : '';
  const keyMissing = keyName === '' && (key === undefined || typeof key === 'string');
  const hasClientLimit = clientMaxRate !== undefined && clientMaxRate > 0;
  if (hasClientLimit) {
    if (strategyRaw === undefined) {
      r.error(
        'strategy',
        'is required with client_max_rate: "ip", "header" or "param" (KrakenD ignores the client limit without one)',
      );
    }
    if ((strategy === 'header' || strategy === 'param') && keyMissing) {
      r.error('key', `is required with strategy "${strategy}": the ${strategy} naming the client`);
    }
    if (strategy === 'param' && keyName !== '' && params !== undefined && !params.includes(keyName)) {
      const declared = params.length > 0 ? ` (it has ${params.map((p) => `"${p}"`).join(', ')})` : '';
      r.error('key', `"${keyName}" is not a param of this endpoint${declared}`);
    }
    if ((strategy === 'header' || strategy === 'ip') && keyName !== '' && !HEADER_NAME.test(keyName)) {
      r.error('key', `${JSON.stringify(keyName)} is not a valid header name`);
    }
  } else {
    if (strategyRaw !== undefined) r.warn('strategy', 'has no effect without client_max_rate');
    if (clientCapacity) r.warn('client_capacity', 'has no effect without client_max_rate');
  }
  if (!maxRate && capacity) r.warn('capacity', 'has no effect without max_rate');
  for (const name of NO_EFFECT) r.noEffect(raw, name);
  if (out.errors.length > 0) return undefined;

  const per = every ?? SECOND;
  const endpoint = maxRate ? settings({ tokens: maxRate, per }, capacity) : undefined;
  const client =
    hasClientLimit && strategy
      ? { ...settings({ tokens: clientMaxRate, per }, clientCapacity), strategy, key: keyName }
      : undefined;
  return endpoint || client ? { endpoint, client } : undefined;
}

function readProxy(extra: ExtraConfig, out: RateLimitCheck): BucketSettings | undefined {
  const raw = extra[PROXY_NAMESPACE];
  if (raw === undefined) return undefined;
  const r = new Reader(PROXY_NAMESPACE, out);
  if (!isJsonObject(raw)) {
    r.error('', `must be an object, got ${describe(raw)}`);
    return undefined;
  }
  r.unknownKeys(raw, PROXY_KEYS);
  const maxRate = r.rate(raw, 'max_rate');
  if (raw.max_rate === undefined) r.error('', 'needs max_rate');
  const capacity = r.capacity(raw, 'capacity');
  const every = r.every(raw);
  if (out.errors.length > 0 || !maxRate) return undefined;
  return settings({ tokens: maxRate, per: every ?? SECOND }, capacity);
}

function settings(rate: Rate, capacity: number | undefined): BucketSettings {
  return { rate, capacity: capacity ? capacity : defaultCapacity(rate) };
}

class Reader {
  constructor(
    private readonly ns: string,
    private readonly out: RateLimitCheck,
  ) {}

  error(key: string, message: string): void {
    this.out.errors.push(`${this.path(key)}: ${message}`);
  }

  warn(key: string, message: string): void {
    this.out.warnings.push(`${this.path(key)}: ${message}`);
  }

  /** A rate: a finite number >= 0. */
  rate(raw: JsonObject, key: string): number | undefined {
    const v = raw[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
      this.error(key, `must be a number >= 0 (0 means no limit), got ${describe(v)}`);
      return undefined;
    }
    return v;
  }

  /** A capacity: an integer >= 0 (0 means the default). */
  capacity(raw: JsonObject, key: string): number | undefined {
    const v = raw[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
      this.error(key, `must be a whole number >= 0 (0 means the default), got ${describe(v)}`);
      return undefined;
    }
    return v;
  }

  /** `every` in ms: a Go duration > 0. */
  every(raw: JsonObject): number | undefined {
    const v = raw.every;
    if (v === undefined) return undefined;
    if (typeof v !== 'string') {
      this.error('every', `must be a duration such as "1s" or "10m", got ${describe(v)}`);
      return undefined;
    }
    let ms: number;
    try {
      ms = parseDuration(v);
    } catch (err) {
      this.error('every', err instanceof Error ? err.message : String(err));
      return undefined;
    }
    if (!(ms > 0) || !Number.isFinite(ms)) {
      this.error('every', `must be longer than zero, got ${JSON.stringify(v)}`);
      return undefined;
    }
    return ms;
  }

  noEffect(raw: JsonObject, key: string): void {
    const v = raw[key];
    if (v === undefined) return;
    if (key === 'cleanup_period') {
      if (typeof v !== 'string') this.error(key, `must be a duration such as "1m", got ${describe(v)}`);
      else {
        try {
          parseDuration(v);
        } catch (err) {
          this.error(key, err instanceof Error ? err.message : String(err));
          return;
        }
      }
    } else if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
      this.error(key, `must be a whole number >= 0, got ${describe(v)}`);
      return;
    }
    this.warn(key, 'has no effect in krakend-cluster: client buckets are dropped as soon as they are full again');
  }

  unknownKeys(raw: JsonObject, known: ReadonlySet<string>): void {
    for (const key of Object.keys(raw)) {
      // KrakenD's schemas allow keys starting with @ $ _ # as comments.
      if (known.has(key) || /^[@$_#]/.test(key)) continue;
      this.warn(key, 'unknown key, ignored');
    }
  }

  private path(key: string): string {
    const base = `extra_config["${this.ns}"]`;
    return key === '' ? base : `${base}.${key}`;
  }
}

function describe(v: JsonValue | undefined): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return 'an array';
  if (v === null) return 'null';
  if (typeof v === 'object') return 'an object';
  return String(v);
}

function invalid(errors: readonly string[]): KrakendError {
  return new KrakendError(ErrorCode.ConfigInvalid, `invalid rate limit: ${errors.join('; ')}`);
}
