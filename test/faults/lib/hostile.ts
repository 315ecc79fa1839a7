/**
 * Hostile input for the cluster port: garbage, truncated, oversized and replayed UDP packets, and TCP streams of
 * random bytes, frames announcing a huge length, and a replay of a real handshake captured through a recording
 * relay. Every sender is paced and bounded, so the flood stays a test of robustness, not of the machine.
 */
import { createSocket } from 'node:dgram';
import { connect, createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { FramedConnection, Keyring, PacketCodec, StreamKind } from '../../../src/cluster/wire/index.js';
import { membershipRegistry } from '../../../src/cluster/membership/codec.js';
import { MsgType } from '../../../src/cluster/membership/messages.js';
import { CONTROL_VERSIONS, ControlType, createControlRegistry } from '../../../src/cluster/control/messages.js';
import { sleep } from './procs.js';

export interface Target {
  host: string;
  port: number;
}

/** The UDP kinds sent, each `count` times. */
export interface UdpFloodResult {
  sent: number;
}

/** A sealed, authentic gossip packet (a ping for nobody), as a member with the key would send it. */
export function sealedPing(clusterKey: string): Buffer {
  const codec = new PacketCodec({ registry: membershipRegistry(), keyring: Keyring.fromConfig([clusterKey]) });
  const r = codec.encodePacket({ type: MsgType.Ping, body: { seq: 1, target: 'krakend_00000000-0000-0000-0000-000000000000', source: 'fault-suite' } });
  if (!r.ok) throw new Error('cannot seal a ping');
  return r.packet;
}

/** Garbage, truncated, oversized, foreign-key and replayed packets at one UDP port, paced at ~1 per ms. */
export async function udpFlood(target: Target, clusterKey: string, count: number): Promise<UdpFloodResult> {
  const socket = createSocket('udp4');
  socket.on('error', () => {});
  await new Promise<void>((resolve) => socket.bind(0, resolve));
  const authentic = sealedPing(clusterKey);
  const foreign = sealedPing(Keyring.fromConfig([randomBytes(32).toString('base64')]).primary().key.toString('base64'));
  const kinds: Array<() => Buffer> = [
    () => randomBytes(1 + Math.floor(Math.random() * 1400)),
    () => authentic.subarray(0, Math.floor(Math.random() * authentic.length)),
    () => Buffer.concat([Buffer.from('KC'), randomBytes(60_000)]),
    () => Buffer.concat([authentic.subarray(0, 9), randomBytes(200)]),
    () => foreign,
    () => authentic,
  ];
  let sent = 0;
  try {
    for (let i = 0; i < count; i++) {
      for (const make of kinds) {
        socket.send(make(), target.port, target.host, () => {});
        sent++;
      }
      if (i % 10 === 9) await sleep(5);
    }
    await sleep(200);
  } finally {
    socket.close();
  }
  return { sent };
}

/** Opens a connection, writes `bytes`, and waits for the peer to close it (or gives up after `timeoutMs`). */
function tcpShot(target: Target, bytes: Buffer, timeoutMs: number): Promise<'closed' | 'timeout' | 'refused'> {
  return new Promise((resolve) => {
    const s = connect({ host: target.host, port: target.port });
    const timer = setTimeout(() => {
      s.destroy();
      resolve('timeout');
    }, timeoutMs);
    s.on('connect', () => s.write(bytes, () => {}));
    s.on('data', () => {});
    s.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(err.code === 'ECONNREFUSED' ? 'refused' : 'closed');
    });
    s.on('close', () => {
      clearTimeout(timer);
      resolve('closed');
    });
  });
}

function frameOf(length: number, body: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt32BE(length, 0);
  return Buffer.concat([head, body]);
}

export interface TcpFloodResult {
  connections: number;
  /** Connections the manager closed on its own (the rest hit the suite's timeout). */
  closedByPeer: number;
}

/** Hostile streams at the cluster port: each must be closed by the process, never crash it. */
export async function tcpFlood(target: Target, capturedHandshake: Buffer | undefined, rounds: number, timeoutMs: number): Promise<TcpFloodResult> {
  const shots: Array<() => Buffer> = [
    () => randomBytes(64 + Math.floor(Math.random() * 4096)),
    () => Buffer.concat([Buffer.from([StreamKind.Control]), frameOf(0xfffffff0, randomBytes(16))]),
    () => Buffer.concat([Buffer.from([StreamKind.Gossip]), frameOf(0xffffffff, Buffer.alloc(0))]),
    () => Buffer.concat([Buffer.from([StreamKind.Control]), frameOf(47, Buffer.concat([Buffer.from('KC'), randomBytes(45)]))]),
    () => Buffer.concat([Buffer.from([StreamKind.Control]), frameOf(10, randomBytes(3))]),
  ];
  if (capturedHandshake) shots.push(() => capturedHandshake);
  let connections = 0;
  let closedByPeer = 0;
  for (let r = 0; r < rounds; r++) {
    const results = await Promise.all(shots.map((make) => tcpShot(target, make(), timeoutMs)));
    connections += results.length;
    closedByPeer += results.filter((x) => x === 'closed').length;
  }
  return { connections, closedByPeer };
}

/**
 * A real handshake and join, captured: the suite dials the manager through a relay it owns, with the cluster key,
 * exactly as a node's agent does (FramedConnection), and the relay records what the dialer sent.
 */
export async function captureHandshake(bindHost: string, manager: Target, clusterKey: string): Promise<Buffer> {
  const recorded: Buffer[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    sockets.add(client);
    const upstream = connect({ host: manager.host, port: manager.port });
    sockets.add(upstream);
    client.on('data', (c: Buffer) => {
      recorded.push(c);
      upstream.write(c);
    });
    upstream.on('data', (c: Buffer) => client.write(c));
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end);
    upstream.on('error', end);
    client.on('close', end);
    upstream.on('close', end);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, bindHost, () => resolve());
  });
  try {
    const port = (server.address() as AddressInfo).port;
    const conn = await FramedConnection.connect({
      host: bindHost,
      port,
      kind: StreamKind.Control,
      registry: createControlRegistry(),
      versions: CONTROL_VERSIONS,
      keyring: Keyring.fromConfig([clusterKey]),
      connectTimeoutMs: 5_000,
    });
    // Something sealed after the handshake too, so the replay carries frames under the session's keys.
    await conn.send({ type: ControlType.Heartbeat, body: { at: Date.now() } }).catch(() => {});
    await sleep(200);
    conn.destroy();
    await sleep(100);
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  return Buffer.concat(recorded);
}
