/**
 * A gateway instance: one listener serving the routes of the currently loaded config. The config can be
 * swapped at any time (reload): requests already in flight finish on the config they started with. Shutdown is
 * graceful: `/__health` turns 503 at once, the listener closes after a delay so load balancers notice, and
 * in-flight requests get a drain timeout.
 */
import { createServer as createHttpServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { ServiceConfig } from './config/types.js';
import type { Clock } from '../base/clock.js';
import { systemClock } from '../base/clock.js';
import type { Logger } from '../base/logger.js';
import { BackendPools } from './proxy/backend-pools.js';
import { Routes } from './router/routes.js';
import { StateRegistry } from './state-registry.js';
import type { Limiter } from '../ratelimit/limiter.js';
import type { StatsCollector } from '../stats/collector.js';
import type { HealthReport } from './router/routes.js';
import { logAccess } from './router/access-log.js';
import { PROJECT_VERSION } from '../version.js';

export interface GatewayOptions {
  logger: Logger;
  clock?: Clock;
  /** Overrides krakend.json's `port` (the CLI's -p, or a cluster node's own port); 0 picks a free port. */
  port?: number;
  /** Bind address; defaults to krakend.json's `address`, else every interface. */
  host?: string;
  version?: string;
  /** Collects per-endpoint and per-backend stats (cluster mode); absent standalone. */
  stats?: StatsCollector;
}

export type GatewayState = 'idle' | 'serving' | 'draining' | 'stopped';

export interface ShutdownOptions {
  /** How long `/__health` answers 503 before the listener closes. */
  delay?: number;
  /** How long in-flight requests may take once the listener has closed. */
  drainTimeout?: number;
}

export class Gateway {
  private routes: Routes;
  private server: Server | undefined;
  private readonly pools = new BackendPools();
  private readonly carried = new StateRegistry();
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly version: string;
  private readonly options: GatewayOptions;
  private state: GatewayState = 'idle';
  private healthOverride: HealthReport | undefined;
  private refusal: string | undefined;
  private inFlight = 0;
  private drained: (() => void) | undefined;

  constructor(config: ServiceConfig, options: GatewayOptions) {
    this.options = options;
    this.logger = options.logger;
    this.clock = options.clock ?? systemClock;
    this.version = options.version ?? PROJECT_VERSION;
    this.routes = this.build(config);
  }

  get config(): ServiceConfig {
    return this.routes.config;
  }

  get status(): GatewayState {
    return this.state;
  }

  /** The bound address, once started. */
  address(): AddressInfo {
    const addr = this.server?.address();
    if (!addr || typeof addr === 'string') throw new Error('gateway is not listening');
    return addr;
  }

  /** Lets an owner (the cluster agent) report an unhealthy state, e.g. a node refused by the manager. */
  setHealth(report: HealthReport | undefined): void {
    this.healthOverride = report;
  }

  /**
   * Stops (reason given) or resumes (undefined) serving API traffic while the listener stays up: a node the
   * manager refused answers 503 with the reason everywhere, `/__health` included, so load balancers skip it.
   */
  setRefusal(reason: string | undefined): void {
    this.refusal = reason;
    this.healthOverride = reason === undefined ? undefined : { ok: false, status: reason };
  }

  /** Every rate limiter of the config in service, for the cluster agent to drive. */
  limiters(): readonly Limiter[] {
    return this.routes.limiters;
  }

  async start(): Promise<AddressInfo> {
    if (this.state !== 'idle') throw new Error(`cannot start a gateway that is ${this.state}`);
    const config = this.routes.config;
    const server = this.createServer(config);
    this.server = server;
    const port = this.options.port ?? config.port;
    const host = this.options.host ?? config.address;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.state = 'serving';
    const addr = this.address();
    this.logger.info(`[SERVICE: Gin] Listening on port: ${addr.port}`);
    return addr;
  }

  /**
   * Swaps in a new config. New requests use it at once; requests in flight finish on the old one. When the
   * listening port changes (and no override pins it), the new socket listens before the old one closes, and the
   * old one drains its requests: a graceful restart of the listener, with no refused connection.
   */
  async reload(config: ServiceConfig): Promise<void> {
    const previous = this.routes.config;
    // Built first: a config that cannot be built (or a port that cannot be bound) leaves the running one in place.
    const routes = this.build(config);
    const oldPort = this.options.port ?? previous.port;
    const newPort = this.options.port ?? config.port;
    if (this.state === 'serving' && this.server) {
      if (newPort !== oldPort) await this.relisten(config, newPort);
      else if (tlsChanged(previous, config)) {
        // Node 20 cannot bind one port twice (no SO_REUSEPORT): a new certificate on the same port waits for a restart.
        this.logger.warning('[SERVICE: Gin] The tls settings changed: they take effect at the next restart');
      }
    }
    this.routes = routes;
    this.carried.commit();
    this.logger.info(`[SERVICE: Gin] Configuration reloaded: ${config.endpoints.length} endpoints`);
  }

  private async relisten(config: ServiceConfig, port: number): Promise<void> {
    const old = this.server as Server;
    const next = this.createServer(config);
    await new Promise<void>((resolve, reject) => {
      next.once('error', reject);
      next.listen(port, this.options.host ?? config.address, () => {
        next.off('error', reject);
        resolve();
      });
    });
    this.server = next;
    this.logger.info(`[SERVICE: Gin] Listening on port: ${this.address().port} (the listener moved; the old one drains)`);
    old.close();
    old.closeIdleConnections();
  }

  async shutdown(options: ShutdownOptions = {}): Promise<void> {
    if (this.state === 'stopped' || this.state === 'draining') return;
    const server = this.server;
    this.state = 'draining';
    const delay = options.delay ?? this.routes.config.gateway.shutdownDelay;
    const drainTimeout = options.drainTimeout ?? this.routes.config.gateway.drainTimeout;
    if (server) {
      this.logger.info(`[SERVICE: Gin] Shutting down: health check failing for ${delay}ms before closing the listener`);
      if (delay > 0) await sleep(this.clock, delay);
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      if (this.inFlight > 0) {
        this.logger.info(`[SERVICE: Gin] Waiting up to ${drainTimeout}ms for ${this.inFlight} requests in flight`);
        const drained = new Promise<void>((resolve) => (this.drained = resolve));
        const timedOut = await Promise.race([drained.then(() => false), sleep(this.clock, drainTimeout).then(() => true)]);
        if (timedOut) this.logger.warning(`[SERVICE: Gin] Drain timeout: closing ${this.inFlight} requests still in flight`);
      }
      server.closeAllConnections();
      await closed;
    }
    await this.pools.close();
    this.state = 'stopped';
    this.logger.info('[SERVICE: Gin] Stopped');
  }

  private build(config: ServiceConfig): Routes {
    this.carried.begin();
    return new Routes(config, {
      logger: this.logger,
      clock: this.clock,
      pools: this.pools,
      state: this.carried,
      version: this.version,
      health: () => this.health(),
      ...(this.options.stats ? { stats: this.options.stats } : {}),
    });
  }

  private health(): HealthReport {
    if (this.state === 'draining' || this.state === 'stopped') return { ok: false, status: 'shutting down' };
    return this.healthOverride ?? { ok: true, status: 'ok' };
  }

  private createServer(config: ServiceConfig): Server {
    const handler = (req: IncomingMessage, res: ServerResponse) => this.handle(req, res);
    const limits = config.maxHeaderBytes ? { maxHeaderSize: config.maxHeaderBytes } : {};
    const server = config.tls
      ? createHttpsServer(
          {
            ...limits,
            cert: readFileSync(config.tls.publicKey),
            key: readFileSync(config.tls.privateKey),
            minVersion: config.tls.minVersion ?? 'TLSv1.3',
            ...(config.tls.maxVersion ? { maxVersion: config.tls.maxVersion } : {}),
          },
          handler,
        )
      : createHttpServer(limits, handler);
    // Go's http.Server semantics: 0 means no limit; idle falls back to the read timeout.
    const headerTimeout = config.readHeaderTimeout || config.readTimeout;
    server.requestTimeout = config.readTimeout;
    server.headersTimeout = headerTimeout > 0 ? headerTimeout : 60_000;
    if (config.readTimeout > 0 && server.headersTimeout > config.readTimeout) server.headersTimeout = config.readTimeout;
    const idle = config.idleTimeout || config.readTimeout;
    server.keepAliveTimeout = idle > 0 ? idle : 5_000;
    server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
      // Malformed requests get a 400 and a closed socket, never an exception.
      if (socket.writable && err.code !== 'ECONNRESET') socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      else socket.destroy();
    });
    return server;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const routes = this.routes;
    const start = this.clock.monotonic();
    this.inFlight++;
    const writeTimeout = routes.config.writeTimeout;
    const timer = writeTimeout > 0 ? setTimeout(() => res.destroy(), writeTimeout) : undefined;
    res.once('close', () => {
      if (timer) clearTimeout(timer);
      this.inFlight--;
      if (!routes.options.disableAccessLog && !routes.options.loggerSkipPaths.has(pathOf(req.url))) {
        logAccess(this.logger, this.clock, req, res, start, routes.clientIp(req));
      }
      if (this.inFlight === 0 && this.drained) this.drained();
    });
    if (this.state === 'draining') res.setHeader('Connection', 'close');
    if (this.refusal !== undefined && pathOf(req.url) !== routes.options.healthPath) {
      const body = `${this.refusal}\n`;
      res.writeHead(503, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': String(Buffer.byteLength(body)) });
      res.end(body);
      return;
    }
    try {
      routes.dispatch(req, res);
    } catch (err) {
      this.logger.error(`[SERVICE: Gin] ${(err as Error).stack ?? String(err)}`);
      if (!res.headersSent) {
        res.writeHead(500, { 'Content-Length': '0' });
        res.end();
      } else {
        res.destroy();
      }
    }
  }
}

function tlsChanged(a: ServiceConfig, b: ServiceConfig): boolean {
  return JSON.stringify(a.tls ?? null) !== JSON.stringify(b.tls ?? null);
}

function pathOf(url: string | undefined): string {
  const u = url ?? '/';
  const q = u.indexOf('?');
  return q < 0 ? u : u.slice(0, q);
}

function sleep(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.setTimeout(resolve, ms));
}
