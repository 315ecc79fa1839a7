/**
 * The endpoint rate limit, `qos/ratelimit/router`, after krakend-ratelimit's router/gin/gin.go:
 *
 * - the client limit (`client_max_rate`) is checked first and refuses with 429 Too Many Requests; a request with
 *   no client key (the `header` strategy's header absent or empty, the `param` strategy's param empty) is refused
 *   with 429 too, and takes no token from anyone;
 * - then the endpoint limit (`max_rate`, all clients together) refuses with 503 Service Unavailable. A request the
 *   client limit refused takes no endpoint token; one the endpoint limit refuses has spent its client token, as in
 *   KrakenD.
 *
 * KrakenD answers a refusal with the status alone and an empty body; so does `check`'s caller.
 *
 * The limiters live in the StateRegistry (kind `ratelimit/router`, id the endpoint's `METHOD path`), so a reload
 * keeps their tokens and applies new figures in place. A change of strategy or key starts the client buckets over:
 * the same keys would now name other clients.
 */
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import type { Clock } from '../base/clock.js';
import type { EndpointConfig } from '../gateway/config/types.js';
import type { StateRegistry } from '../gateway/state-registry.js';
import type { ClientBucketsOptions } from './client-buckets.js';
import { readRouterLimit } from './config.js';
import type { ClientLimitConfig, RouterLimitConfig, Strategy } from './config.js';
import { createLimiter } from './limiter.js';
import type { Limiter } from './limiter.js';

export const ROUTER_STATE_KIND = 'ratelimit/router';

export interface RateLimitDeps {
  state: StateRegistry;
  clock: Clock;
  /** Options of per-client bucket stores (the hard cap on clients). */
  clients?: ClientBucketsOptions;
  /** Told of every limiter a config uses, each time the config is built: how the cluster agent finds them. */
  register?: (limiter: Limiter) => void;
}

export interface RouterLimit {
  /** `max_rate`, if set. Limiter id: `ratelimit/router:<METHOD path>`. */
  readonly endpoint: Limiter | undefined;
  /** `client_max_rate`, if set. Limiter id: `ratelimit/router/client:<METHOD path>`. */
  readonly client: Limiter | undefined;
  /**
   * Takes the request's tokens: 0 to proceed, else the status to answer (429 client limit or no client key,
   * 503 endpoint limit). `clientIp` is the caller's resolved client IP (the `ip` strategy's key).
   */
  check(req: IncomingMessage, params: Readonly<Record<string, string>>, clientIp: string): number;
}

type KeyExtractor = (
  req: IncomingMessage,
  params: Readonly<Record<string, string>>,
  clientIp: string,
) => string | undefined;

/** What an endpoint's limits hold across reloads. */
class RouterLimitState {
  endpoint: Limiter | undefined;
  client: Limiter | undefined;
  extract: KeyExtractor | undefined;
  /** Strategy and key the client buckets are keyed by. */
  identity = '';
}

/**
 * The endpoint's rate limit, or undefined when it declares none. Throws a KrakendError (ConfigInvalid) when its
 * `qos/ratelimit/router` namespace is invalid (see validateRateLimit).
 */
export function createRouterLimit(endpoint: EndpointConfig, deps: RateLimitDeps): RouterLimit | undefined {
  const config = readRouterLimit(endpoint.extraConfig, endpoint.params);
  if (!config) return undefined;
  // Claimed as is, then brought to the new figures (new or reloaded alike).
  const state = deps.state.claim(ROUTER_STATE_KIND, endpoint.id, () => new RouterLimitState());
  apply(state, config, endpoint.id, deps);
  if (state.endpoint) deps.register?.(state.endpoint);
  if (state.client) deps.register?.(state.client);

  return {
    get endpoint() {
      return state.endpoint;
    },
    get client() {
      return state.client;
    },
    check: function checkRouterLimit(req, params, clientIp) {
      const now = deps.clock.monotonic();
      const client = state.client;
      if (client) {
        const verdict = client.admit((state.extract as KeyExtractor)(req, params, clientIp), now);
        if (verdict !== 0) return verdict;
      }
      return state.endpoint ? state.endpoint.admit(undefined, now) : 0;
    },
  };
}

/** Brings the state to `config`: new limiters where there were none, new figures in place otherwise. */
function apply(state: RouterLimitState, config: RouterLimitConfig, id: string, deps: RateLimitDeps): void {
  if (!config.endpoint) state.endpoint = undefined;
  else if (state.endpoint) state.endpoint.reconfigure(config.endpoint);
  else {
    state.endpoint = createLimiter({
      id: `${ROUTER_STATE_KIND}:${id}`,
      kind: 'endpoint',
      config: config.endpoint,
      clock: deps.clock,
    });
  }

  const client = config.client;
  if (!client) {
    state.client = undefined;
    state.extract = undefined;
    state.identity = '';
    return;
  }
  const identity = `${client.strategy}\u0000${client.key}`;
  if (state.client && state.identity === identity) {
    state.client.reconfigure({ rate: client.rate, capacity: client.capacity });
    return;
  }
  state.client = createLimiter({
    id: `${ROUTER_STATE_KIND}/client:${id}`,
    kind: 'client',
    config: { rate: client.rate, capacity: client.capacity },
    clock: deps.clock,
    clients: deps.clients,
  });
  state.extract = extractorFor(client);
  state.identity = identity;
}

function extractorFor(client: ClientLimitConfig): KeyExtractor {
  const strategy: Strategy = client.strategy;
  switch (strategy) {
    case 'ip':
      return client.key ? ipFromHeader(client.key.toLowerCase()) : (_req, _params, clientIp) => clientIp;
    case 'header': {
      const name = client.key.toLowerCase();
      return (req) => headerValue(req, name);
    }
    case 'param': {
      const name = client.key;
      return (_req, params) => params[name];
    }
  }
}

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return typeof v === 'string' ? v : v?.[0];
}

/**
 * KrakenD's `ip` strategy with a `key`: the first entry of that header when it is an IP address (a port is
 * dropped), else the client IP. The header is believed as configured: only name one your own proxy sets.
 */
function ipFromHeader(name: string): KeyExtractor {
  return (req, _params, clientIp) => {
    const value = headerValue(req, name);
    if (!value) return clientIp;
    const comma = value.indexOf(',');
    const first = (comma === -1 ? value : value.slice(0, comma)).trim();
    return parseIp(first) ?? clientIp;
  };
}

/** An IP from `1.2.3.4`, `1.2.3.4:80`, `::1`, `[::1]:80`; IPv4-mapped IPv6 as IPv4. */
function parseIp(s: string): string | undefined {
  let ip = s;
  if (ip.startsWith('[')) {
    const end = ip.indexOf(']');
    if (end === -1) return undefined;
    ip = ip.slice(1, end);
  } else if (ip.indexOf(':') !== -1 && ip.indexOf(':') === ip.lastIndexOf(':')) {
    ip = ip.slice(0, ip.indexOf(':')); // one colon: IPv4 with a port
  }
  const family = isIP(ip);
  if (family === 0) return undefined;
  if (family === 6 && ip.toLowerCase().startsWith('::ffff:') && isIP(ip.slice(7)) === 4) return ip.slice(7);
  return ip;
}
