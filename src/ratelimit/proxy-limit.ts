/**
 * The backend rate limit, `qos/ratelimit/proxy`, after krakend-ratelimit's proxy/proxy.go: one bucket per backend
 * entry, taken before the backend is called. When it is empty the backend call fails with "rate limit exceeded"
 * and is never made. KrakenD then answers like any failed backend: 500 when it is the endpoint's only backend (or
 * every backend failed), otherwise a 200 with the other backends' data and `X-Krakend-Completed: false` — the
 * error carries status 500 for the first case; the merge decides the second.
 *
 * The limiter lives in the StateRegistry (kind `ratelimit/proxy`, id the backend's `<endpoint id>#<index>`).
 */
import { ErrorCode, KrakendError } from '../base/errors.js';
import type { BackendConfig } from '../gateway/config/types.js';
import type { Middleware, Proxy } from '../gateway/proxy/types.js';
import { readProxyLimit } from './config.js';
import { createLimiter } from './limiter.js';
import type { Limiter } from './limiter.js';
import type { RateLimitDeps } from './router-limit.js';

export const PROXY_STATE_KIND = 'ratelimit/proxy';

/** KrakenD's backend failure status: krakend-ratelimit's ErrLimited is a plain error, which Lura answers with 500. */
export const BACKEND_LIMIT_STATUS = 500;

export type ProxyLimitDeps = Pick<RateLimitDeps, 'state' | 'clock' | 'register'>;

/**
 * The backend's limiter (id `ratelimit/proxy:<backend id>`), or undefined when the backend declares none. Throws a
 * KrakendError (ConfigInvalid) when its `qos/ratelimit/proxy` namespace is invalid.
 */
export function createProxyLimiter(backend: BackendConfig, deps: ProxyLimitDeps): Limiter | undefined {
  const config = readProxyLimit(backend.extraConfig);
  if (!config) return undefined;
  const limiter = deps.state.claim(
    PROXY_STATE_KIND,
    backend.id,
    () => createLimiter({ id: `${PROXY_STATE_KIND}:${backend.id}`, kind: 'backend', config, clock: deps.clock }),
    (existing) => existing.reconfigure(config),
  );
  deps.register?.(limiter);
  return limiter;
}

/** A middleware enforcing the backend's limit, or undefined when it declares none (see createProxyLimiter). */
export function proxyRateLimitMiddleware(backend: BackendConfig, deps: ProxyLimitDeps): Middleware | undefined {
  const limiter = createProxyLimiter(backend, deps);
  if (!limiter) return undefined;
  return function rateLimitMiddleware(next: Proxy): Proxy {
    return function rateLimitedProxy(request, signal) {
      if (limiter.admit() !== 0) return Promise.reject(rateLimitExceeded());
      return next(request, signal);
    };
  };
}

export function rateLimitExceeded(): KrakendError {
  return new KrakendError(ErrorCode.RateLimited, 'rate limit exceeded', { status: BACKEND_LIMIT_STATUS });
}
