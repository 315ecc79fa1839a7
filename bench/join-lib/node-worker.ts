/*
 * A process holding K cluster nodes for `npm run bench:join`: K gateways (one trivial endpoint, port 0 on
 * 127.0.0.1), each with its own ClusterAgent built from its own service settings (seed, state_dir, name), exactly
 * as the `krakend` CLI composes one node. Several nodes share the process so that 50 of them fit on a small host.
 *
 * IPC protocol (parent → worker → parent):
 *   { type: 'init', seed, dir, names }  → gateways listen, agents are built  → { type: 'ready', ports }
 *   { type: 'go' }                      → every agent starts dialling at once → { type: 'going', at }
 * SIGTERM: every agent leaves, every gateway shuts down (no delay), the process exits (bounded by a hard timer).
 * The worker also exits when the parent goes away (IPC disconnect), so it never outlives the benchmark.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Logger } from '../../src/base/logger.js';
import { ClusterAgent } from '../../src/cluster/agent/agent.js';
import { parseServiceFile } from '../../src/cluster/agent/service-file.js';
import { parseConfigText, configOrThrow } from '../../src/gateway/config/load.js';
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
}
export interface ReadyMessage {
  type: 'ready';
  ports: number[];
}
export interface GoingMessage {
  type: 'going';
  /** Date.now() when the last agent of this worker was told to start. */
  at: number;
}

const KRAKEND_JSON = JSON.stringify({
  version: 3,
  host: ['http://127.0.0.1:9'],
  endpoints: [{ endpoint: '/ping', backend: [{ url_pattern: '/ping' }] }],
});

interface Node {
  gateway: Gateway;
  agent: ClusterAgent;
}

const nodes: Node[] = [];
const logger = new Logger({ prefix: '[KRAKEND]', level: process.env['BENCH_NODE_LOG_LEVEL'] === 'DEBUG' ? 'DEBUG' : 'WARNING' });
let exiting = false;

function send(message: ReadyMessage | GoingMessage): void {
  process.send?.(message);
}

async function init(msg: InitMessage): Promise<void> {
  const config = configOrThrow(parseConfigText(KRAKEND_JSON, 'bench-join.json'));
  const ports: number[] = [];
  for (const name of msg.names) {
    const stateDir = join(msg.dir, name);
    mkdirSync(stateDir, { recursive: true });
    // The same text a node's service.yml would hold, parsed by the same code.
    const parsed = parseServiceFile(`seed: ${msg.seed}\nstate_dir: ${stateDir}\nname: ${name}\nport: 0\n`, `${name}/service.yml`);
    if (parsed.mode !== 'cluster') throw new Error(`service settings for ${name}: ${JSON.stringify(parsed)}`);
    const gateway = new Gateway(config, { logger, port: 0, host: '127.0.0.1' });
    const address = await gateway.start();
    ports.push(address.port);
    const agent = new ClusterAgent({
      service: parsed.service,
      host: gateway,
      logger,
      version: PROJECT_VERSION,
      apiAddress: `127.0.0.1:${address.port}`,
    });
    nodes.push({ gateway, agent });
  }
  send({ type: 'ready', ports });
}

function go(): void {
  // Synchronously, one after the other: each start() reads its node-id file and dials without waiting for the
  // others, so every agent is dialling within a few milliseconds.
  for (const n of nodes) {
    n.agent.start().catch((err: unknown) => logger.error(`agent start: ${(err as Error).message}`));
  }
  send({ type: 'going', at: Date.now() });
}

async function shutdown(code: number): Promise<void> {
  if (exiting) return;
  exiting = true;
  // Bounded whatever happens: a leave to a vanished manager, or a gateway that will not close.
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
  }
});
process.once('SIGTERM', () => void shutdown(0));
process.once('SIGINT', () => void shutdown(0));
// The parent died or closed the channel: nobody will stop us otherwise.
process.once('disconnect', () => void shutdown(0));
