import { Pool } from 'undici';
import type { Dispatcher } from 'undici';

export interface BackendPoolsOptions {
  /** Connections kept per backend origin (Go's MaxIdleConnsPerHost; KrakenD's default is 250). */
  connectionsPerHost?: number;
  /** How long an idle keep-alive connection is kept (KrakenD's idle_connection_timeout default: 0 = the server's hint). */
  keepAliveTimeout?: number;
}

/**
 * Keep-alive connection pools, one per backend origin. Owned by a gateway instance and shared by every config it
 * loads, so a reload keeps its warm connections.
 */
export class BackendPools {
  private readonly pools = new Map<string, Pool>();
  private readonly options: Required<BackendPoolsOptions>;
  private closed = false;

  constructor(options: BackendPoolsOptions = {}) {
    this.options = {
      connectionsPerHost: options.connectionsPerHost ?? 250,
      keepAliveTimeout: options.keepAliveTimeout ?? 60_000,
    };
  }

  /** The pool for an origin (`http://host:port`), created on first use. */
  get(origin: string): Dispatcher {
    let pool = this.pools.get(origin);
    if (!pool) {
      if (this.closed) throw new Error('backend pools are closed');
      pool = new Pool(origin, {
        connections: this.options.connectionsPerHost,
        keepAliveTimeout: this.options.keepAliveTimeout,
        keepAliveMaxTimeout: Math.max(this.options.keepAliveTimeout, 600_000),
        // Deadlines are the endpoint's timeout, carried by the request's AbortSignal.
        headersTimeout: 0,
        bodyTimeout: 0,
        pipelining: 1,
      });
      this.pools.set(origin, pool);
    }
    return pool;
  }

  async close(): Promise<void> {
    this.closed = true;
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((p) => p.destroy().catch(() => {})));
  }
}
