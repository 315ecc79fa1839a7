/*
 * A process holding K cluster nodes for `npm run bench:config`: K gateways (the 100-endpoint krakend.json of
 * krakend-config.ts as their local file, port 0 on 127.0.0.1), each with its own ClusterAgent built from its own
 * service settings (seed, state_dir, name), wired as the `krakend` CLI wires one node for configs: `onConfig`
 * parses the pushed text with parseConfigText, refuses it (nack) when invalid, else `gateway.reload`s it, saves it
 * to the node's ConfigCache (as the CLI does, before the ack) and answers ok; `currentConfig` reports the version
 * served. No NodeGossip: it plays no part in config distribution.
 *
 * Each onConfig is timed (parse, reload, cache save) so that a slow rollout can be taken apart.
 *
 * IPC protocol (parent → worker → parent):
 *   { type: 'init', seed, dir, names, configText } → gateways listen, agents are built → { type: 'ready', ports }
 *   { type: 'go' }                                  → every agent starts dialling        → { type: 'going', at }
 *   { type: 'timings' }                             → { type: 'timings', records } (and forgets them)
 * SIGTERM: every agent leaves, every gateway shuts down, the process exits (bounded by a hard timer). The worker
 * also exits when the parent goes away (IPC disconnect), so it never outlives the benchmark.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Logger } from '../../src/base/logger.js';
import { ClusterAgent } from '../../src/cluster/agent/agent.js';
import { ConfigCache } from '../../src/cluster/agent/config-cache.js';
import { parseServiceFile } from '../../src/cluster/agent/service-file.js';
import { parseConfigText, configOrThrow } from '../../src/gateway/config/load.js';
import { formatIssues } from '../../src/gateway/config/format-issues.js';
import { Gateway } from '../../src/gateway/gateway.js';
import { PROJECT_VERSION } from '../../src/version.js';

export interface InitMessage {
  type: 'init';
  /** host:port of the manager's cluster port. */
  seed: string;
  /** A directory of this worker's own; each node gets a state directory under it. */
  dir: string;
  /** One name per node: the worker runs names.length nodes. */
  names: string[];
  /** The nodes' local krakend.json. */
  configText: string;
}
export interface ReadyMessage {
  type: 'ready';
  ports: number[];
}
export interface GoingMessage {
  type: 'going';
  at: number;
}
/** One onConfig call. Times are wall-clock ms (performance.timeOrigin + now(), sub-ms), comparable across processes. */
export interface ApplyRecord {
  node: string;
  version: number;
  startedAt: number;
  parseMs: number;
  reloadMs: number;
  saveMs: number;
  endedAt: number;
  ok: boolean;
}
export interface TimingsMessage {
  type: 'timings';
  records: ApplyRecord[];
}

interface Node {
  gateway: Gateway;
  agent: ClusterAgent;
}

const nodes: Node[] = [];
let records: ApplyRecord[] = [];
const logger = new Logger({ prefix: '[KRAKEND]', level: process.env['BENCH_NODE_LOG_LEVEL'] === 'DEBUG' ? 'DEBUG' : 'WARNING' });
let exiting = false;
const wallNow = () => performance.timeOrigin + performance.now();

function send(message: ReadyMessage | GoingMessage | TimingsMessage): void {
  process.send?.(message);
}

async function init(msg: InitMessage): Promise<void> {
  const config = configOrThrow(parseConfigText(msg.configText, 'krakend.json'));
  const ports: number[] = [];
  for (const name of msg.names) {
    const stateDir = join(msg.dir, name);
    mkdirSync(stateDir, { recursive: true });
    const parsed = parseServiceFile(`seed: ${msg.seed}\nstate_dir: ${stateDir}\nname: ${name}\nport: 0\n`, `${name}/service.yml`);
    if (parsed.mode !== 'cluster') throw new Error(`service settings for ${name}: ${JSON.stringify(parsed)}`);
    const svc = parsed.service;
    const gateway = new Gateway(config, { logger, port: 0, host: '127.0.0.1' });
    const address = await gateway.start();
    ports.push(address.port);
    const cache = new ConfigCache(svc.stateDir, { clusterKeys: svc.clusterKeys });
    let served: { version: number; hash: string } | undefined;
    const agent = new ClusterAgent({
      service: svc,
      host: gateway,
      logger,
      version: PROJECT_VERSION,
      apiAddress: `127.0.0.1:${address.port}`,
      currentConfig: () => served,
      onConfig: async (pushed) => {
        const t0 = wallNow();
        const record: ApplyRecord = { node: name, version: pushed.version, startedAt: t0, parseMs: 0, reloadMs: 0, saveMs: 0, endedAt: 0, ok: false };
        records.push(record);
        const result = parseConfigText(pushed.body, `config version ${pushed.version} from the manager`);
        const t1 = wallNow();
        record.parseMs = t1 - t0;
        if (!result.config || result.issues.length > 0) {
          record.endedAt = t1;
          return { ok: false, error: formatIssues(result.issues) };
        }
        await gateway.reload(result.config);
        const t2 = wallNow();
        record.reloadMs = t2 - t1;
        served = { version: pushed.version, hash: pushed.hash };
        await cache.save({ version: pushed.version, hash: pushed.hash, body: pushed.body, leases: [] }).catch((err: unknown) => {
          logger.error(`[CLUSTER] Cannot write the config cache: ${(err as Error).message}`);
        });
        const t3 = wallNow();
        record.saveMs = t3 - t2;
        record.endedAt = t3;
        record.ok = true;
        return { ok: true };
      },
    });
    nodes.push({ gateway, agent });
  }
  send({ type: 'ready', ports });
}

function go(): void {
  for (const n of nodes) {
    n.agent.start().catch((err: unknown) => logger.error(`agent start: ${(err as Error).message}`));
  }
  send({ type: 'going', at: Date.now() });
}

async function shutdown(code: number): Promise<void> {
  if (exiting) return;
  exiting = true;
  setTimeout(() => process.exit(code), 3_000).unref();
  await Promise.all(nodes.map((n) => n.agent.leave().catch(() => {})));
  await Promise.all(nodes.map((n) => n.gateway.shutdown({ delay: 0, drainTimeout: 0 }).catch(() => {})));
  process.exit(code);
}

process.on('message', (raw: unknown) => {
  const msg = raw as { type?: string };
  if (msg.type === 'init') {
    init(raw as InitMessage).catch((err: unknown) => {
      process.stderr.write(`worker init failed: ${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    });
  } else if (msg.type === 'go') {
    go();
  } else if (msg.type === 'timings') {
    const out = records;
    records = [];
    send({ type: 'timings', records: out });
  }
});
process.once('SIGTERM', () => void shutdown(0));
process.once('SIGINT', () => void shutdown(0));
process.once('disconnect', () => void shutdown(0));
