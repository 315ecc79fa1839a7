/**
 * The `/metrics` listeners of a node: one small HTTP server per configured Prometheus exporter
 * (`telemetry/opentelemetry` → `exporters.prometheus`), all reading one NodeMetrics. Anything but `GET /metrics`
 * is a 404. Long-lived: `start()` binds every port (failing as a whole if one cannot be bound), `close()` stops them.
 */
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../../base/logger.js';
import type { ServiceConfig } from '../config/types.js';
import type { PrometheusExporter, TelemetryConfig } from './config.js';
import { parseTelemetryConfig } from './config.js';
import { CumulativeStatsCollector } from './cumulative-stats.js';
import { NodeMetrics } from './node-metrics.js';
import type { ClusterView } from './node-metrics.js';

export interface BoundExporter {
  name: string;
  host: string;
  port: number;
}

export class PrometheusExporters {
  private readonly servers: Server[] = [];
  private bound: BoundExporter[] = [];

  constructor(
    private readonly exporters: readonly PrometheusExporter[],
    private readonly metrics: NodeMetrics,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<BoundExporter[]> {
    try {
      for (const e of this.exporters) this.bound.push(await this.listen(e));
    } catch (err) {
      await this.close();
      throw err;
    }
    return this.bound;
  }

  addresses(): readonly BoundExporter[] {
    return this.bound;
  }

  async close(): Promise<void> {
    const servers = this.servers.splice(0);
    this.bound = [];
    await Promise.all(
      servers.map(
        (s) =>
          new Promise<void>((resolve) => {
            s.closeAllConnections();
            s.close(() => resolve());
          }),
      ),
    );
  }

  private async listen(e: PrometheusExporter): Promise<BoundExporter> {
    const server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
        res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' });
        res.end('not found: metrics are at GET /metrics\n');
        return;
      }
      this.metrics.metrics().then(
        (text) => {
          res.writeHead(200, { 'Content-Type': this.metrics.contentType, 'Content-Length': Buffer.byteLength(text) });
          res.end(req.method === 'HEAD' ? undefined : text);
        },
        (err: unknown) => {
          this.logger.error(`[SERVICE: OpenTelemetry] ${e.name}: cannot collect the metrics: ${(err as Error).message}`);
          res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' });
          res.end('cannot collect the metrics\n');
        },
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) => reject(new Error(`prometheus exporter "${e.name}" cannot listen on ${e.listenIp}:${e.port}: ${err.message}`)));
      server.listen(e.port, e.listenIp, () => resolve());
    });
    server.removeAllListeners('error');
    server.on('error', (err) => this.logger.error(`[SERVICE: OpenTelemetry] ${e.name}: ${err.message}`));
    this.servers.push(server);
    const port = (server.address() as AddressInfo).port;
    this.logger.info(`[SERVICE: OpenTelemetry] Prometheus exporter "${e.name}" serving /metrics on ${e.listenIp}:${port}`);
    return { name: e.name, host: e.listenIp, port };
  }
}

/** A node's telemetry, when its config asks for it: the collector to give the gateway, and the exporters to start. */
export interface NodeTelemetry {
  config: TelemetryConfig;
  stats: CumulativeStatsCollector;
  /** Builds the exporters (call `start()`); `cluster` adds the node's cluster view. */
  exporters(logger: Logger, cluster?: ClusterView): PrometheusExporters;
}

/**
 * Reads the config's telemetry namespace: undefined when no Prometheus exporter is configured (the node then pays
 * nothing). The collector is created with `stream` so that a cluster node uses the same one for the manager.
 */
export function nodeTelemetry(config: ServiceConfig, stream: string): NodeTelemetry | undefined {
  const telemetry = parseTelemetryConfig(config.extraConfig);
  if (telemetry === undefined) return undefined;
  const stats = new CumulativeStatsCollector({ stream });
  return {
    config: telemetry,
    stats,
    exporters: (logger, cluster) => {
      const metrics = new NodeMetrics({
        stats,
        processMetrics: telemetry.prometheus.some((e) => e.processMetrics),
        ...(cluster ? { cluster } : {}),
      });
      return new PrometheusExporters(telemetry.prometheus, metrics, logger);
    },
  };
}
