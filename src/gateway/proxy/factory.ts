/**
 * Assembles an endpoint's proxy stack once, at config load (Lura's proxy/factory.go), read top to bottom:
 * per backend: HTTP call with load balancing → response formatting → concurrent calls; then the merge of all
 * backends. Features absent from the config add no stage.
 */
import type { EndpointConfig } from '../config/types.js';
import type { BackendPools } from './backend-pools.js';
import type { StateRegistry } from '../state-registry.js';
import type { Clock } from '../../base/clock.js';
import type { Logger } from '../../base/logger.js';
import { concurrentMiddleware } from './concurrent.js';
import { formatterMiddleware } from './entity-formatter.js';
import { createHttpProxy } from './http-proxy.js';
import { createMergeProxy, mergeTimeoutFor } from './merge.js';
import type { Proxy } from './types.js';

export interface ProxyFactoryOptions {
  pools: BackendPools;
  state: StateRegistry;
  clock: Clock;
  logger: Logger;
  maxBackendBodySize: number;
}

export function createEndpointProxy(endpoint: EndpointConfig, options: ProxyFactoryOptions): Proxy {
  const concurrent = concurrentMiddleware(endpoint.concurrentCalls);
  const backends = endpoint.backends.map((backend) => {
    const http = createHttpProxy(backend, { pools: options.pools, maxBodySize: options.maxBackendBodySize });
    return concurrent(formatterMiddleware(backend)(http));
  });
    // Lura gives the merge 85% of the endpoint's timeout, leaving time to render what has arrived.
  return createMergeProxy(backends, { timeout: mergeTimeoutFor(endpoint.timeout) });
}
