/**
 * The fault network's self-check, which the fault suite runs before any scenario: it proves, on this machine,
 * that the faults the scenarios rely on do what they claim. Run it from the hub's namespace (the suite's own
 * process): the probes are sent from this process, to a small echo server started on the first node.
 *
 * The echo server listens on a stand-in "cluster" port (UDP echo, and TCP that answers `cluster`) and on a
 * stand-in "HTTP" port (TCP that answers `http`), so the check sees what a node would: cluster traffic cut or
 * thinned, HTTP untouched.
 */
import type { ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FaultNetwork, Host } from './network.js';

export interface CheckOptions {
  /**
   * The stand-in cluster port (UDP and TCP) on the node. Both defaults sit below the ephemeral range (32768+),
   * so no client's own port can collide with them and trip the port match.
   */
  readonly clusterPort?: number;
  /** The stand-in HTTP port on the node. */
  readonly httpPort?: number;
  /** Echoes sent to measure loss. */
  readonly lossSamples?: number;
  /** Loss percentage injected on the node. */
  readonly lossPercent?: number;
}

const SERVER_READY_MS = 10_000;
const SERVER_STOP_MS = 3_000;
const TCP_TIMEOUT_MS = 1_500;
/** After the last echo is sent, replies still in flight get this long to arrive. */
const UDP_SETTLE_MS = 500;
const PROBE_ECHOES = 20;

/** Started with `node -e`: the arguments are the UDP/TCP cluster port and the HTTP port. */
const ECHO_SERVER = `
const dgram = require('node:dgram');
const net = require('node:net');
const [clusterPort, httpPort] = process.argv.slice(1).map(Number);
const udp = dgram.createSocket('udp4');
// A reply dropped by an nft output rule fails sendto with EPERM: that is the fault working, not an error.
udp.on('error', () => {});
udp.on('message', (msg, rinfo) => udp.send(msg, rinfo.port, rinfo.address, () => {}));
const answer = (text) => net.createServer((socket) => { socket.on('error', () => {}); socket.end(text); });
let pending = 3;
const listening = () => { if (--pending === 0) process.stdout.write('ready\\n'); };
udp.bind(clusterPort, '0.0.0.0', listening);
answer('cluster\\n').listen(clusterPort, '0.0.0.0', listening);
answer('http\\n').listen(httpPort, '0.0.0.0', listening);
// Stdin closes when the check (or whatever started it) goes away: never outlive it.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
`;

interface EchoServer {
  stop(): Promise<void>;
}

async function startEchoServer(host: Host, clusterPort: number, httpPort: number): Promise<EchoServer> {
  const child = host.spawn(process.execPath, ['-e', ECHO_SERVER, String(clusterPort), String(httpPort)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const stop = (): Promise<void> => stopChild(child);
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`echo server on ${host.name} not ready in ${SERVER_READY_MS} ms`)), SERVER_READY_MS);
      child.stdout?.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes('ready')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`echo server on ${host.name} exited (${code ?? signal}): ${stderr.trim()}`));
      });
    });
  } catch (error) {
    await stop();
    throw error;
  }
  return { stop };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.stdin?.end();
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), SERVER_STOP_MS);
  await exited;
  clearTimeout(timer);
}

/** Sends `count` numbered echoes, paced, and counts the distinct ones that come back. */
async function udpEchoes(ip: string, port: number, count: number): Promise<{ sent: number; received: number }> {
  const socket = createSocket('udp4');
  const seen = new Set<number>();
  socket.on('message', (msg) => seen.add(msg.readUInt32BE(0)));
  socket.on('error', () => {});
  await new Promise<void>((resolve) => socket.bind(0, resolve));
  try {
    const burst = 10;
    for (let seq = 0; seq < count; seq++) {
      const payload = Buffer.alloc(16);
      payload.writeUInt32BE(seq, 0);
      socket.send(payload, port, ip, () => {});
      // A short pause every few packets keeps socket buffers far from full, so only the fault drops packets.
      if (seq % burst === burst - 1) await sleep(2);
    }
    await sleep(UDP_SETTLE_MS);
    return { sent: count, received: seen.size };
  } finally {
    socket.close();
  }
}

/** Connects and reads what the server says, or why it could not. */
function tcpProbe(ip: string, port: number): Promise<{ ok: true; text: string } | { ok: false; reason: string }> {
  return new Promise((resolve) => {
    const socket = connect({ host: ip, port });
    let text = '';
    const finish = (result: { ok: true; text: string } | { ok: false; reason: string }): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => finish({ ok: false, reason: `no answer in ${TCP_TIMEOUT_MS} ms` }), TCP_TIMEOUT_MS);
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString();
    });
    socket.on('end', () => finish({ ok: true, text: text.trim() }));
    socket.on('error', (error: NodeJS.ErrnoException) => finish({ ok: false, reason: error.code ?? error.message }));
  });
}

/** Runs the check on the first node; starts one echo server there and stops it, and heals the node, whatever happens. */
export async function checkNetwork(net: FaultNetwork, options: CheckOptions = {}): Promise<{ ok: boolean; detail: string }> {
  const clusterPort = options.clusterPort ?? 17_946;
  const httpPort = options.httpPort ?? 18_080;
  const samples = options.lossSamples ?? 400;
  const percent = options.lossPercent ?? 10;
  const index = 0;
  const node = net.nodes[index];
  if (node === undefined) return { ok: false, detail: 'the network has no node to check' };

  const lines: string[] = [];
  let ok = true;
  const expect = (condition: boolean, line: string): void => {
    lines.push(`  ${condition ? 'ok  ' : 'FAIL'} ${line}`);
    if (!condition) ok = false;
  };
  const enough = (r: { sent: number; received: number }): boolean => r.received >= Math.ceil(r.sent * 0.9);
  const target = `${node.name} ${node.ip}`;

  let server: EchoServer | undefined;
  let injected = false;
  try {
    server = await startEchoServer(node, clusterPort, httpPort);

    const before = await udpEchoes(node.ip, clusterPort, PROBE_ECHOES);
    expect(enough(before), `UDP echo to ${target}:${clusterPort}: ${before.received}/${before.sent} answered`);
    const tcpBefore = await tcpProbe(node.ip, clusterPort);
    expect(tcpBefore.ok, `TCP to ${target}:${clusterPort} (cluster): ${describeProbe(tcpBefore)}`);

    if (!net.supports.partition || !net.supports.loss) {
      lines.push(`  (the ${net.kind} network cannot inject faults${net.reason ? `: ${net.reason}` : ''}; only connectivity checked)`);
      return { ok, detail: lines.join('\n') };
    }

    const droppedStart = await net.dropped(index);
    injected = true;
    await net.partition(index, [clusterPort]);
    const cut = await udpEchoes(node.ip, clusterPort, PROBE_ECHOES);
    expect(cut.received === 0, `partitioned: UDP echo ${cut.received}/${cut.sent} answered (want 0)`);
    const tcpCut = await tcpProbe(node.ip, clusterPort);
    expect(!tcpCut.ok, `partitioned: TCP to cluster port: ${describeProbe(tcpCut)} (want no connection)`);
    const http = await tcpProbe(node.ip, httpPort);
    expect(http.ok && http.text === 'http', `partitioned: TCP to ${target}:${httpPort} (HTTP): ${describeProbe(http)}`);
    const droppedCut = (await net.dropped(index)) - droppedStart;
    expect(droppedCut > 0, `partitioned: dropped(${index}) counted ${droppedCut} packets`);

    await net.heal(index);
    const healed = await udpEchoes(node.ip, clusterPort, PROBE_ECHOES);
    expect(enough(healed), `healed: UDP echo ${healed.received}/${healed.sent} answered`);
    const tcpHealed = await tcpProbe(node.ip, clusterPort);
    expect(tcpHealed.ok, `healed: TCP to cluster port: ${describeProbe(tcpHealed)}`);

    // The loss applies to the echo on its way in and to the reply on its way out, independently, so a round
    // trip survives with probability (1 - p)^2: 10% per direction loses 1 - 0.81 = 19% of the echoes.
    const p = percent / 100;
    const expected = 1 - (1 - p) ** 2;
    const droppedBeforeLoss = await net.dropped(index);
    await net.loss(index, percent, [clusterPort]);
    const lossy = await udpEchoes(node.ip, clusterPort, samples);
    const droppedLoss = (await net.dropped(index)) - droppedBeforeLoss;
    await net.heal(index);
    const lost = lossy.sent - lossy.received;
    const share = lost / lossy.sent;
    const sd = Math.sqrt((expected * (1 - expected)) / lossy.sent);
    expect(
      share >= 0.05 && share <= 0.35,
      `loss ${percent}% each way: ${lost}/${lossy.sent} echoes lost = ${pct(share)} ` +
        `(expected 1-(1-${p})^2 = ${pct(expected)} ± ${pct(sd)} sd; accepted 5%..35%)`,
    );
    // Each lost echo was dropped exactly once (on the way in, or its reply on the way out).
    expect(droppedLoss > 0, `loss: dropped(${index}) counted ${droppedLoss} packets for ${lost} lost echoes`);
  } catch (error) {
    expect(false, `check aborted: ${(error as Error).message}`);
  } finally {
    if (injected) await net.heal(index).catch((error: Error) => expect(false, `final heal failed: ${error.message}`));
    await server?.stop();
  }
  return { ok, detail: lines.join('\n') };
}

function describeProbe(result: { ok: true; text: string } | { ok: false; reason: string }): string {
  return result.ok ? `answered ${JSON.stringify(result.text)}` : result.reason;
}

function pct(x: number): string {
  return `${(x * 100).toFixed(1)}%`;
}
