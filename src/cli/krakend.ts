#!/usr/bin/env node
/**
 * `krakend`: the gateway node's composition root. Parses flags, loads the config, wires the gateway and the
 * signals; no logic of its own.
 */
import { parseArgs } from 'node:util';
import { accessSync, constants } from 'node:fs';
import { Logger, isLogLevel } from '../base/logger.js';
import type { LogFormat, LogLevel } from '../base/logger.js';
import { loadConfigFile } from '../gateway/config/load.js';
import { formatIssues } from '../gateway/config/format-issues.js';
import { Gateway } from '../gateway/gateway.js';
import { PROJECT_VERSION } from '../version.js';
import { ClusterAgent } from '../cluster/agent/agent.js';
import { NodeGossip } from '../cluster/agent/gossip.js';
import { ClusterLimits } from '../cluster/agent/cluster-limits.js';
import { systemClock } from '../base/clock.js';
import { StatsCollector } from '../stats/collector.js';
import { nodeTelemetry } from '../gateway/telemetry/prometheus-exporter.js';
import { cryptoUuid } from '../base/random.js';
import { ConfigCache } from '../cluster/agent/config-cache.js';
import { chooseStartupConfig } from '../cluster/agent/startup-config.js';
import { parseConfigText } from '../gateway/config/load.js';
import type { ServiceConfig } from '../gateway/config/types.js';
import { DEFAULT_SERVICE_FILE, formatHostPort, loadServiceFile } from '../cluster/agent/service-file.js';

const USAGE = `Usage:
  krakend run [-c FILE] [-p PORT] [-d]   serve the API described by FILE
  krakend check [-c FILE]                validate FILE: exit 0 when valid, else print every error and exit 1
  krakend version                        print the version

Options:
  -c, --config FILE     krakend.json to load (env KRAKEND_CONFIG; default /etc/krakend/krakend.json)
  -p, --port PORT       listening port, overriding the config's (env KRAKEND_PORT)
  -d, --debug           debug logging, and the /__debug/ endpoint
      --service FILE    cluster mode when FILE names a seed (env KRAKEND_SERVICE; default /etc/krakend/service.yml;
                        no file, or no seed: standalone)
      --log-level L     DEBUG, INFO, WARNING, ERROR or CRITICAL (env KRAKEND_LOG_LEVEL; default INFO)
      --log-format F    text or json (env KRAKEND_LOG_FORMAT; default text)
`;

const DEFAULT_CONFIG = '/etc/krakend/krakend.json';

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === 'version' || command === '--version' || command === '-v') {
    process.stdout.write(`KrakenD Version ${PROJECT_VERSION} (krakend-cluster)\n`);
    return 0;
  }
  if (command !== 'run' && command !== 'check') {
    process.stderr.write(command && command !== 'help' && command !== '--help' ? `unknown command "${command}"\n\n${USAGE}` : USAGE);
    return command === 'help' || command === '--help' ? 0 : 2;
  }
  let values;
  try {
    ({ values } = parseArgs({
      args: rest,
      options: {
        config: { type: 'string', short: 'c' },
        port: { type: 'string', short: 'p' },
        debug: { type: 'boolean', short: 'd' },
        service: { type: 'string' },
        'log-level': { type: 'string' },
        'log-format': { type: 'string' },
      },
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const file = values.config ?? process.env['KRAKEND_CONFIG'] ?? DEFAULT_CONFIG;
  const levelName = (values['log-level'] ?? process.env['KRAKEND_LOG_LEVEL'] ?? (values.debug ? 'DEBUG' : 'INFO')).toUpperCase();
  if (!isLogLevel(levelName)) {
    process.stderr.write(`invalid log level "${levelName}": use DEBUG, INFO, WARNING, ERROR or CRITICAL\n`);
    return 2;
  }
  const format = values['log-format'] ?? process.env['KRAKEND_LOG_FORMAT'] ?? 'text';
  if (format !== 'text' && format !== 'json') {
    process.stderr.write(`invalid log format "${format}": use text or json\n`);
    return 2;
  }
  const logger = new Logger({ prefix: '[KRAKEND]', level: levelName as LogLevel, format: format as LogFormat });

  if (command === 'check') {
    const loaded = await loadConfigFile(file);
    for (const warning of loaded.warnings) logger.warning(warning);
    if (!loaded.config || loaded.issues.length > 0) {
      process.stderr.write(`${formatIssues(loaded.issues)}\n${file}: ${loaded.issues.length} error(s)\n`);
      return 1;
    }
    process.stdout.write(`Syntax OK! ${file}\n`);
    return 0;
  }

  const serviceFile = values.service ?? process.env['KRAKEND_SERVICE'] ?? DEFAULT_SERVICE_FILE;
  const service = await loadServiceFile(serviceFile);
  if (service.mode === 'invalid') {
    process.stderr.write(`${service.errors.join('\n')}\n`);
    return 1;
  }

  // Cluster mode starts from the last config the manager sent (the cache) when it is usable, else the local file;
  // the manager's current version replaces it once the node is admitted.
  const cache =
    service.mode === 'cluster'
      ? new ConfigCache(service.service.stateDir, { clusterKeys: service.service.clusterKeys })
      : undefined;
  let served: { version: number; hash: string } | undefined;
  /** Config cache writes, in the order of the pushes (see onConfig). */
  let cacheWrites: Promise<void> = Promise.resolve();
  let startupConfig;
  if (cache) {
    const chosen = await chooseStartupConfig({ cache, localFile: file, logger });
    if (!chosen.ok) {
      process.stderr.write(`${formatIssues(chosen.issues)}\n`);
      return 1;
    }
    for (const warning of chosen.warnings) logger.warning(warning);
    startupConfig = chosen.config;
    if (chosen.version !== undefined && chosen.hash !== undefined) served = { version: chosen.version, hash: chosen.hash };
  } else {
    const loaded = await loadConfigFile(file);
    for (const warning of loaded.warnings) logger.warning(warning);
    if (!loaded.config || loaded.issues.length > 0) {
      process.stderr.write(`${formatIssues(loaded.issues)}\n`);
      return 1;
    }
    startupConfig = loaded.config;
  }

  const withDebug = (c: ServiceConfig): ServiceConfig => (values.debug && !c.debugEndpoint ? { ...c, debugEndpoint: true } : c);
  const config = withDebug(startupConfig);
  const portText = values.port ?? process.env['KRAKEND_PORT'];
  let port: number | undefined = service.mode === 'cluster' ? service.service.port : undefined;
  if (portText !== undefined) {
    port = Number(portText);
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      process.stderr.write(`invalid port "${portText}"\n`);
      return 2;
    }
  }

  logger.info(`Starting KrakenD v${PROJECT_VERSION} with config ${file}`);
  // Cluster mode collects per-endpoint and per-backend stats for the manager, and so does a node exporting
  // Prometheus metrics (read from the same counters); otherwise standalone pays nothing. Read at start only.
  const telemetry = nodeTelemetry(config, cryptoUuid());
  const stats = telemetry?.stats ?? (service.mode === 'cluster' ? new StatsCollector({ stream: cryptoUuid() }) : undefined);
  const gateway = new Gateway(config, { logger, ...(port !== undefined ? { port } : {}), ...(stats ? { stats } : {}) });
  let address;
  try {
    address = await gateway.start();
  } catch (err) {
    logger.critical(`cannot start the gateway: ${(err as Error).message}`);
    return 1;
  }
  let agent: ClusterAgent | undefined;
  let gossip: NodeGossip | undefined;
  if (service.mode === 'cluster') {
    const svc = service.service;
    logger.info(`Cluster mode (${svc.source}): seeds ${svc.seeds.map(formatHostPort).join(', ')}`);
    const apiHost = svc.apiAdvertise ?? (svc.advertise?.host ?? (config.address && config.address !== '0.0.0.0' ? config.address : '127.0.0.1'));
    const apiAddress = svc.apiAdvertise ?? `${apiHost}:${address.port}`;
    gossip = new NodeGossip({ service: svc, logger, version: PROJECT_VERSION, apiAddress, preset: svc.preset });
    const members = gossip;
    const clusterLimits = new ClusterLimits(() => gateway.limiters(), systemClock, logger, svc.limitFallback, () => members.reachability());
    agent = new ClusterAgent({
      service: svc,
      host: gateway,
      logger,
      version: PROJECT_VERSION,
      apiAddress,
      clusterAddress: () => members.address,
      managerGraceMs: svc.managerGraceMs,
      demandReport: () => clusterLimits.report(),
      applyLeases: (leases) => clusterLimits.apply(leases),
      leaseAck: () => clusterLimits.acknowledgement(),
      ...(stats ? { stats } : {}),
      onManagerGone: () => clusterLimits.standalone(),
      currentConfig: () => served,
      onConfig: async (pushed) => {
        const parsed = parseConfigText(pushed.body, `config version ${pushed.version} from the manager`);
        if (!parsed.config || parsed.issues.length > 0) {
          const error = formatIssues(parsed.issues);
          logger.error(`[CLUSTER] Config version ${pushed.version} refused, still serving the current one:\n${error}`);
          return { ok: false, error };
        }
        const local = nodeSpecificProblems(parsed.config);
        if (local.length > 0) {
          const error = local.join('\n');
          logger.error(`[CLUSTER] Config version ${pushed.version} refused on this node, still serving the current one:\n${error}`);
          return { ok: false, error };
        }
        await gateway.reload(withDebug(parsed.config));
        served = { version: pushed.version, hash: pushed.hash };
        // The cache is written after the ack, not before it: its fsync took 13-80 ms per push, and a node that
        // dies before it lands starts from the manager's copy anyway. Writes stay in order, so the newest wins.
        const entry = { version: pushed.version, hash: pushed.hash, body: pushed.body, leases: [] };
        cacheWrites = cacheWrites.then(() => cache?.save(entry)).catch((err: unknown) => {
          logger.error(`[CLUSTER] Cannot write the config cache: ${(err as Error).message}`);
        });
        logger.info(`[CLUSTER] Serving config version ${pushed.version} (${pushed.hash.slice(0, 12)})`);
        return { ok: true };
      },
      onAdmitted: (id, welcome) => {
        clusterLimits.setFallbackHold(welcome.gracePeriodMs);
        if (!welcome.managerCluster) return;
        members.ensure(id, [welcome.managerCluster]).catch((err: unknown) => {
          logger.error(`[CLUSTER] Gossip could not start: ${(err as Error).message}`);
        });
      },
    });
    await agent.start();
  } else {
    logger.info(`Standalone mode: ${service.reason}`);
  }
  const clusterAgent = agent;
  const exporters = telemetry?.exporters(
    logger,
    clusterAgent ? { nodeId: () => clusterAgent.id, state: () => clusterAgent.state, leases: () => clusterAgent.limits } : undefined,
  );
  try {
    await exporters?.start();
  } catch (err) {
    logger.critical(`cannot start the telemetry: ${(err as Error).message}`);
    await Promise.all([agent?.leave().catch(() => {}), gossip?.leave().catch(() => {}), gateway.shutdown({ delay: 0, drainTimeout: 0 })]);
    return 1;
  }
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      logger.info(`${signal} received: shutting down gracefully`);
      // All at once: the manager and the gossip hear of the departure while the listener drains.
      Promise.all([agent?.leave().catch(() => {}), gossip?.leave().catch(() => {}), gateway.shutdown().then(() => exporters?.close()), cacheWrites])
        .then(
        () => resolve(0),
        (err: unknown) => {
          logger.error(`shutdown failed: ${(err as Error).message}`);
          resolve(1);
        },
      );
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}

/** What only this node can check of a config: the files it names must be readable here. */
function nodeSpecificProblems(config: ServiceConfig): string[] {
  const problems: string[] = [];
  for (const [key, path] of [['tls.public_key', config.tls?.publicKey], ['tls.private_key', config.tls?.privateKey]] as const) {
    if (path === undefined) continue;
    try {
      accessSync(path, constants.R_OK);
    } catch {
      problems.push(`${key}: ${path} is not readable on this node`);
    }
  }
  return problems;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Pending keep-alive sockets or timers must not hold a finished process.
    setTimeout(() => process.exit(code), 50).unref();
  },
  (err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
