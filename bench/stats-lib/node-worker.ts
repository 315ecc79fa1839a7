/*
 * A process holding K simulated nodes for `npm run bench:stats`. Each node is what the manager sees of a real one:
 * the real ClusterAgent (control channel over TCP with the keyed handshake, join, heartbeats, stats deltas every
 * stats interval until acknowledged) with the node's real StatsCollector. What it does not have is a gateway:
 * the collector is fed synthetic traffic (traffic.ts) once a second instead of by proxied requests, and no node
 * joins gossip, so the manager's figures are those of the control channel and the stats path.
 *
 * Each node's state directory holds the id it claims (`node-id`), chosen by the parent, so that the manager's
 * pre-filled history and the live nodes are the same nodes.
 *
 * IPC protocol (parent → worker → parent):
 *   { type: 'init', seed, dir, clusterKey, nodes, … } → agents built          → { type: 'ready' }
 *   { type: 'go', spreadMs }                          → agents start, spread  → { type: 'going' }
 *   { type: 'status' }                                → { type: 'status', admitted, pending, requests }
 * SIGTERM: every agent leaves, the process exits (bounded by a hard timer). The worker also exits when the parent
 * goes away (IPC disconnect), so it never outlives the benchmark.
 */
import { mkdirSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { Logger } from '../../src/base/logger.js';
import { ClusterAgent } from '../../src/cluster/agent/agent.js';
import { writeNodeId } from '../../src/cluster/agent/node-identity.js';
import { parseServiceFile } from '../../src/cluster/agent/service-file.js';
import { StatsCollector } from '../../src/stats/collector.js';
import { PROJECT_VERSION } from '../../src/version.js';
import { NodeTraffic } from './traffic.js';

export interface WorkerInit {
  type: 'init';
  /** host:port of the manager's cluster port. */
  seed: string;
  /** A directory of this worker's own; each node gets a state directory under it. */
  dir: string;
  clusterKey: string;
  nodes: { id: string; name: string }[];
  endpoints: number;
  perEndpointRps: number;
}
export interface WorkerStatus {
  type: 'status';
  admitted: number;
  /** Deltas not yet acknowledged, over every node of the worker. */
  pending: number;
  /** Requests recorded so far, over every node of the worker. */
  requests: number;
}

interface SimNode {
  agent: ClusterAgent;
  collector: StatsCollector;
  traffic: NodeTraffic;
}

const nodes: SimNode[] = [];
const logger = new Logger({ prefix: '[KRAKEND]', level: 'WARNING' });
const host = { setRefusal: () => {} };
let trafficTimer: NodeJS.Timeout | undefined;
let perEndpointRps = 0;
let requests = 0;
let exiting = false;

async function init(msg: WorkerInit): Promise<void> {
  perEndpointRps = msg.perEndpointRps;
  for (let i = 0; i < msg.nodes.length; i++) {
    const { id, name } = msg.nodes[i]!;
    const stateDir = join(msg.dir, name);
    mkdirSync(stateDir, { recursive: true });
    await writeNodeId(stateDir, id);
    // The same text a node's service.yml would hold, parsed by the same code.
    const parsed = parseServiceFile(
      `seed: ${msg.seed}\nstate_dir: ${stateDir}\nname: ${name}\ncluster_key: ${msg.clusterKey}\nport: 0\n`,
      `${name}/service.yml`,
    );
    if (parsed.mode !== 'cluster') throw new Error(`service settings for ${name}: ${JSON.stringify(parsed)}`);
    const collector = new StatsCollector({ stream: randomUUID() });
    const agent = new ClusterAgent({
      service: parsed.service,
      host,
      logger,
      version: PROJECT_VERSION,
      apiAddress: `127.0.0.1:${20_000 + i}`,
      stats: collector,
    });
    nodes.push({ agent, collector, traffic: new NodeTraffic(collector, msg.endpoints, id.charCodeAt(9) * 7919 + i) });
  }
  process.send?.({ type: 'ready' });
}

/** Starts the agents spread over `spreadMs`, so their stats timers are spread over the interval as in a real cluster. */
function go(spreadMs: number): void {
  nodes.forEach((n, i) => {
    setTimeout(() => {
      n.agent.start().catch((err: unknown) => logger.error(`agent start: ${(err as Error).message}`));
    }, Math.floor((i * spreadMs) / nodes.length));
  });
  trafficTimer = setInterval(() => {
    for (const n of nodes) requests += n.traffic.record(1, perEndpointRps);
  }, 1_000);
  process.send?.({ type: 'going' });
}

function status(): WorkerStatus {
  let admitted = 0;
  let pending = 0;
  for (const n of nodes) {
    if (n.agent.state === 'admitted') admitted++;
    pending += n.collector.pending().length;
  }
  return { type: 'status', admitted, pending, requests };
}

async function shutdown(code: number): Promise<void> {
  if (exiting) return;
  exiting = true;
  clearInterval(trafficTimer);
  setTimeout(() => process.exit(code), 3_000).unref();
  await Promise.all(nodes.map((n) => n.agent.leave().catch(() => {})));
  process.exit(code);
}

process.on('message', (raw: unknown) => {
  const msg = raw as { type?: string; spreadMs?: number };
  if (msg.type === 'init') {
    init(raw as WorkerInit).catch((err: unknown) => {
      process.stderr.write(`worker init failed: ${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    });
  } else if (msg.type === 'go') {
    go(msg.spreadMs ?? 0);
  } else if (msg.type === 'status') {
    process.send?.(status());
  }
});
process.once('SIGTERM', () => void shutdown(0));
process.once('SIGINT', () => void shutdown(0));
process.once('disconnect', () => void shutdown(0));
