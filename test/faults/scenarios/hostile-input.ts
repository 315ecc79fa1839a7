/**
 * Nobody gets in without the key, and nothing sent at a cluster port breaks a process:
 * - a node with another `cluster_key` is refused (never listed alive) and the manager counts its attempts;
 * - garbage, truncated, oversized, foreign-key and replayed UDP packets at the manager's and a node's cluster port;
 * - TCP streams at the manager's and a node's cluster port (a node's serves gossip push/pull): random bytes, frames
 *   announcing a huge length, a bad hello, and the replay of a real handshake captured through a relay the suite
 *   owns.
 * Afterwards every process runs, every node is `alive`, no request failed, and the drops are counted (GET
 * /api/v1/cluster `dropped_packets`, /metrics `krakend_cluster_wire_dropped_total`).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { judge, outcome } from '../lib/scenario.js';
import type { Scenario } from '../lib/scenario.js';
import { now } from '../lib/load.js';
import { sleep } from '../lib/procs.js';
import { freePort } from '../lib/ports.js';
import type { Cluster } from '../lib/cluster.js';
import { captureHandshake, tcpFlood, udpFlood } from '../lib/hostile.js';
import { generateKey } from '../../../src/cluster/wire/index.js';
import { HEARTBEAT_MS } from '../lib/timings.js';

/** Long enough for the intruder to dial several times (the agent's backoff starts at 500 ms). */
const INTRUDER_MS = 5_000;
const UDP_ROUNDS = 100;
const TCP_ROUNDS = 4;
/** A hostile stream the manager has not closed by then is left hanging (its handshake timeout is 5 s). */
const TCP_SHOT_TIMEOUT_MS = 7_000;

type Drops = Record<string, Record<string, number>>;

async function drops(cluster: Cluster): Promise<Drops> {
  return (await cluster.api<{ dropped_packets: Drops }>('/api/v1/cluster')).dropped_packets;
}

function total(d: Drops, channel?: string): number {
  let n = 0;
  for (const [c, reasons] of Object.entries(d)) if (!channel || c === channel) for (const v of Object.values(reasons)) n += v;
  return n;
}

function byReason(before: Drops, after: Drops): string {
  const out: string[] = [];
  for (const [c, reasons] of Object.entries(after)) {
    for (const [r, v] of Object.entries(reasons)) {
      const d = v - (before[c]?.[r] ?? 0);
      if (d > 0) out.push(`${c}.${r}:${d}`);
    }
  }
  return out.join(',') || 'none';
}

export const hostileInput: Scenario = {
  name: 'hostile-input',
  async run(ctx) {
    const { cluster, net } = ctx;
    const problems: string[] = [];
    const from = now();

    // 1. A node with another key.
    const host = net.nodes[0]!;
    const dir = join(ctx.workDir, 'intruder');
    const stateDir = join(dir, 'state');
    mkdirSync(stateDir, { recursive: true });
    const apiPort = net.kind === 'netns' ? 8081 : await freePort();
    const clusterPort = net.kind === 'netns' ? 7947 : await freePort();
    writeFileSync(join(dir, 'krakend.json'), ctx.baseConfig(['/pushed', '/restored']));
    writeFileSync(join(dir, 'service.yml'), cluster.serviceYml({ host, stateDir, apiPort, clusterPort, name: 'intruder' }, generateKey()));
    const before = await drops(cluster);
    const intruder = cluster.spawnNode(host, 'intruder', dir);
    let intruderHealth = 0;
    try {
      await cluster.waitListening(intruder);
      await sleep(INTRUDER_MS);
      const r = await fetch(`http://${host.ip}:${apiPort}/__health`, { signal: AbortSignal.timeout(3_000) }).catch(() => undefined);
      await r?.arrayBuffer();
      intruderHealth = r?.status ?? 0;
    } finally {
      await intruder.stop();
    }
    const afterIntruder = await drops(cluster);
    const listed = (await cluster.nodesView()).filter((v) => v.name === 'intruder');
    if (listed.some((v) => v.state === 'alive')) problems.push('the intruder is listed alive');
    if (ctx.watcher.idsSeen('alive', from).some((id) => listed.some((v) => v.id === id))) problems.push('the intruder was seen alive');
    const refusals = total(afterIntruder, 'control') - total(before, 'control');
    if (refusals === 0) problems.push('the manager counted none of the intruder\'s attempts');
    if (intruderHealth !== 503) problems.push(`the intruder's /__health answered ${intruderHealth}, not 503`);

    // 2. A real handshake, captured to replay.
    const manager = { host: cluster.manager.host.ip, port: cluster.manager.clusterPort };
    let captured: Buffer | undefined;
    try {
      captured = await captureHandshake(cluster.manager.host.ip, manager, cluster.clusterKey);
    } catch (err) {
      problems.push(`capture failed: ${(err as Error).message}`);
    }

    // 3. The flood.
    const victim = cluster.node(1);
    const udpManager = await udpFlood(manager, cluster.clusterKey, UDP_ROUNDS);
    const udpNode = await udpFlood({ host: victim.host.ip, port: victim.clusterPort }, cluster.clusterKey, UDP_ROUNDS);
    const tcp = await tcpFlood(manager, captured, TCP_ROUNDS, TCP_SHOT_TIMEOUT_MS);
    const tcpNode = await tcpFlood({ host: victim.host.ip, port: victim.clusterPort }, captured, TCP_ROUNDS, TCP_SHOT_TIMEOUT_MS);
    await sleep(10 * HEARTBEAT_MS);
    const after = await drops(cluster);
    const counted = total(after) - total(afterIntruder);
    if (counted === 0) problems.push('no drop counted');
    const metrics = await cluster.api<string>('/metrics');
    const metricLines = metrics.split('\n').filter((l) => /^krakend_cluster_wire_dropped_total\{.*\} [1-9]/.test(l)).length;
    if (metricLines === 0) problems.push('/metrics shows no dropped packets');
    if (tcp.closedByPeer < tcp.connections) problems.push(`${tcp.connections - tcp.closedByPeer} hostile connections left open by the manager`);
    if (tcpNode.closedByPeer < tcpNode.connections) problems.push(`${tcpNode.connections - tcpNode.closedByPeer} hostile connections left open by ${victim.name}`);
    if (!victim.proc?.running()) problems.push(`${victim.name} is not running after the flood`);
    try {
      await cluster.waitAllAlive(5_000);
    } catch (err) {
      problems.push((err as Error).message);
    }
    await sleep(2_000);
    const j = judge(ctx, from, now());
    problems.push(...j.problems);
    return outcome(problems, {
      intruder_listed: listed.map((v) => v.state).join(',') || 'no',
      intruder_health: intruderHealth,
      intruder_attempts_counted: refusals,
      captured_handshake_bytes: captured?.length ?? 0,
      udp_sent: udpManager.sent + udpNode.sent,
      tcp_streams: tcp.connections,
      tcp_closed_by_manager: tcp.closedByPeer,
      tcp_streams_node: tcpNode.connections,
      tcp_closed_by_node: tcpNode.closedByPeer,
      drops_counted: counted,
      drops: byReason(afterIntruder, after),
      ...j.figures,
    });
  },
};
