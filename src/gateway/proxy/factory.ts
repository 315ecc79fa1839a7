/**
 * Assembles an endpoint's proxy stack once, at config load (Lura's proxy/factory.go), read top to bottom:
 *
 *   per backend:  HTTP call (load balancing, backend/http)  → formatting (or the backend's flatmap)
 *                 → circuit breaker → rate limit → concurrent calls
 *   endpoint:     merge, or the sequential proxy  → flatmap (with several backends)  → static
 *
 * Features absent from the config add no stage.
 */
import type { EndpointConfig } from '../config/types.js';
import { isJsonObject } from '../json/types.js';
import type { BackendPools } from './backend-pools.js';
import type { StateRegistry } from '../state-registry.js';
import type { Clock } from '../../base/clock.js';
import type { Logger } from '../../base/logger.js';
import { breakerState, circuitBreakerMiddleware } from './circuit-breaker.js';
import type { CircuitBreakerMiddleware } from './circuit-breaker.js';
import { concurrentMiddleware } from './concurrent.js';
import { formatterMiddleware } from './entity-formatter.js';
import { backendFlatmapMiddleware, flatmapMiddleware } from './flatmap.js';
import { createHttpProxy } from './http-proxy.js';
import { createMergeProxy, mergeTimeoutFor } from './merge.js';
import { createSequentialProxy } from './sequential.js';
import { staticMiddleware } from './static.js';
import type { Middleware, Proxy } from './types.js';
import { proxyRateLimitMiddleware } from '../../ratelimit/proxy-limit.js';
import type { Limiter } from '../../ratelimit/limiter.js';
import { BackendOutcome } from '../../stats/collector.js';
import type { BackendCounters, StatsCollector } from '../../stats/collector.js';
import { ErrorCode, KrakendError } from '../../base/errors.js';

export interface ProxyFactoryOptions {
  pools: BackendPools;
  state: StateRegistry;
  clock: Clock;
  logger: Logger;
  maxBackendBodySize: number;
  /** Told about every limiter the stack uses, so the cluster agent can drive their shares. */
  register?: (limiter: Limiter) => void;
  stats?: StatsCollector;
}

export function createEndpointProxy(endpoint: EndpointConfig, options: ProxyFactoryOptions): Proxy {
  const concurrent = concurrentMiddleware(endpoint.concurrentCalls);
  const backends = endpoint.backends.map((backend) => {
    let proxy: Proxy = createHttpProxy(backend, { pools: options.pools, maxBodySize: options.maxBackendBodySize });
    if (options.stats) proxy = backendStatsMiddleware(options.stats.backend(backend.id))(proxy);
    // A backend flatmap replaces the entity formatter (it applies target and group itself), as in Lura.
    proxy = (backendFlatmapMiddleware(backend) ?? formatterMiddleware(backend))(proxy);
    const breaker = circuitBreakerMiddleware(backend, { state: options.state, clock: options.clock, logger: options.logger });
    proxy = apply(breaker, proxy);
    if (breaker && options.stats) proxy = breakerStatsMiddleware(breaker, options.stats.backend(backend.id), options.clock)(proxy);
    // KrakenD CE wraps the circuit breaker with the rate limit: a refused call never reaches the breaker.
    proxy = apply(
      proxyRateLimitMiddleware(backend, {
        state: options.state,
        clock: options.clock,
        ...(options.register ? { register: options.register } : {}),
      }),
      proxy,
    );
    return concurrent(proxy);
  });

  // Lura gives the merge 85% of the endpoint's timeout, leaving time to render what has arrived.
  const timeout = mergeTimeoutFor(endpoint.timeout);
  const proxyNs = endpoint.extraConfig['proxy'];
  const ns = isJsonObject(proxyNs) ? proxyNs : {};
  let proxy: Proxy;
  if (backends.length > 1 && ns['sequential'] === true) {
    const propagated = ns['sequential_propagated_params'];
    proxy = createSequentialProxy(
      backends.map((p, i) => ({ proxy: p, urlPattern: endpoint.backends[i]?.urlPattern ?? '' })),
      {
        timeout,
        clock: options.clock,
        ...(Array.isArray(propagated) ? { propagatedParams: propagated.filter((p): p is string => typeof p === 'string') } : {}),
      },
    );
  } else {
    proxy = createMergeProxy(backends, { timeout, clock: options.clock });
  }
  // Lura applies an endpoint-level flatmap only where there is something merged to reshape.
  if (backends.length > 1) proxy = apply(flatmapMiddleware(endpoint.extraConfig), proxy);
  return apply(staticMiddleware(endpoint.extraConfig), proxy);
}

/** Counts each backend call: latency, and whether it answered, failed or timed out. */
function backendStatsMiddleware(counters: BackendCounters): Middleware {
  return (next) =>
    function countedProxy(request, signal) {
      const started = performance.now();
      return next(request, signal).then(
        (response) => {
          counters.call(response.metadata.statusCode || 200, (performance.now() - started) * 1000, request.body?.length ?? 0, 0, BackendOutcome.Ok);
          return response;
        },
        (err: unknown) => {
          const timeout = err instanceof KrakendError && err.code === ErrorCode.BackendTimeout;
          counters.call(0, (performance.now() - started) * 1000, request.body?.length ?? 0, 0, timeout ? BackendOutcome.Timeout : BackendOutcome.Error);
          throw err;
        },
      );
    };
}

/** Tells the stats the breaker's state after each call (a fail-fast call included, which never reaches the backend). */
function breakerStatsMiddleware(breaker: CircuitBreakerMiddleware, counters: BackendCounters, clock: Clock): Middleware {
  const record = () => counters.circuitState(breakerState(breaker.breaker, clock.monotonic()).state);
  record();
  return (next) =>
    function breakerCountedProxy(request, signal) {
      return next(request, signal).then(
        (response) => {
          record();
          return response;
        },
        (err: unknown) => {
          record();
          throw err;
        },
      );
    };
}

function apply(middleware: Middleware | undefined, proxy: Proxy): Proxy {
  return middleware ? middleware(proxy) : proxy;
}
