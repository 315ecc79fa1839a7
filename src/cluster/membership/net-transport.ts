/**
 * Membership over real sockets (memberlist's net_transport.go): UDP for probes and gossip, TCP on the same port
 * for push-pull and the fallback ping. The wire does the rest: packets are sealed (AES-256-GCM under the
 * keyring) and replay-checked by its PacketCodec; each TCP exchange is a FramedConnection of kind Gossip, whose
 * handshake proves the key and derives session keys. The TCP port can serve other stream kinds too (the control
 * channel, ARCHITECTURE.md: one cluster port per process): pass their routes.
 */
import { createSocket } from 'node:dgram';
import type { RemoteInfo, Socket as UdpSocket } from 'node:dgram';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { Clock, TimerHandle } from '../../base/clock.js';
import { systemClock } from '../../base/clock.js';
import { ErrorCode } from '../../base/errors.js';
import type { Logger } from '../../base/logger.js';
import {
  COMPOUND_PART_OVERHEAD,
  DropCounters,
  FramedConnection,
  PacketCodec,
  StreamKind,
  StreamServer,
  WireError,
} from '../wire/index.js';
import type { Envelope, Keyring, Message, StreamRoute } from '../wire/index.js';
import { MEMBERSHIP_VERSIONS, membershipRegistry, packetOverhead, packParts } from './codec.js';
import type { RequestResult, Transport, TransportHandlers, TransportStats } from './transport.js';
import { emptyTransportStats } from './transport.js';

export interface NetTransportOptions {
  /** Address to bind (default 0.0.0.0). */
  host?: string;
  /** Port for both UDP and TCP (default 0: any free port, the same for both). */
  port?: number;
  /** Host others should use to reach us (default: the bound host, or this machine's first private IPv4). */
  advertiseHost?: string;
  /** Port others should use (default: the bound port). */
  advertisePort?: number;
  /** With a keyring, every packet is sealed and every stream authenticated; without, plaintext. */
  keyring?: Keyring;
  clock?: Clock;
  logger?: Logger;
  /** Largest packet sent (default 1400). */
  mtu?: number;
  /** How long an accepted stream may take to send its request (default 10 s). */
  streamTimeoutMs?: number;
  /** Other stream kinds served on the same TCP port. */
  routes?: Partial<Record<StreamKind, StreamRoute>>;
  /** Kernel receive buffer for the UDP socket (default 4 MiB, capped by the OS). */
  udpReceiveBufferBytes?: number;
}

export class NetTransport implements Transport {
  readonly packetOverheadBytes: number;
  readonly partOverheadBytes = COMPOUND_PART_OVERHEAD;
  readonly mtu: number;
  readonly drops = new DropCounters();
  private readonly options: NetTransportOptions;
  private readonly clock: Clock;
  private readonly packets: PacketCodec;
  private readonly registry = membershipRegistry();
  private udp: UdpSocket | undefined;
  private server: StreamServer | undefined;
  private handlers: TransportHandlers | undefined;
  private advertised = '';
  private boundPort = 0;
  private closed = false;
  private readonly counters: TransportStats = emptyTransportStats();
  private readonly inflight = new Set<{ conn: FramedConnection | undefined; abort: () => void }>();
  private readonly addrCache = new Map<string, { host: string; port: number } | null>();

  constructor(options: NetTransportOptions = {}) {
    this.options = options;
    this.clock = options.clock ?? systemClock;
    this.packets = new PacketCodec({
      registry: this.registry,
      versions: MEMBERSHIP_VERSIONS,
      clock: this.clock,
      drops: this.drops,
      mtu: options.mtu ?? 1400,
      ...(options.keyring ? { keyring: options.keyring } : {}),
    });
    this.mtu = this.packets.mtu;
    this.packetOverheadBytes = packetOverhead(this.packets);
  }

  get address(): string {
    return this.advertised;
  }

  /** The port bound for UDP and TCP (after start). */
  get port(): number {
    return this.boundPort;
  }

  encode(message: Message): Uint8Array {
    return this.packets.envelopes.encode(message);
  }

  async start(handlers: TransportHandlers): Promise<void> {
    if (this.closed) throw new WireError(ErrorCode.WireClosed, 'transport is closed');
    this.handlers = handlers;
    const host = this.options.host ?? '0.0.0.0';
    const wanted = this.options.port ?? 0;
    // UDP and TCP must share one port number. With port 0 the OS picks the UDP port, which may be taken for TCP:
    // try again a few times.
    for (let attempt = 0; ; attempt++) {
      const udp = await bindUdp(host, wanted);
      const port = udp.address().port;
      const server = this.streamServer();
      try {
        await server.listen(port, host);
      } catch (err) {
        udp.close();
        if (wanted === 0 && attempt < 5 && (err as NodeJS.ErrnoException).code === 'EADDRINUSE') continue;
        throw err;
      }
      this.udp = udp;
      this.server = server;
      this.boundPort = port;
      break;
    }
    const udp = this.udp as UdpSocket;
    try {
      udp.setRecvBufferSize(this.options.udpReceiveBufferBytes ?? 4 * 1024 * 1024);
    } catch {
      // The OS cap (net.core.rmem_max) applies; the default buffer still works.
    }
    udp.on('message', (msg, rinfo) => this.onDatagram(msg, rinfo));
    udp.on('error', (err) => this.options.logger?.warning(`membership: UDP socket error: ${err.message}`));
    const advertiseHost = this.options.advertiseHost ?? defaultAdvertiseHost(host);
    this.advertised = joinHostPort(advertiseHost, this.options.advertisePort ?? this.boundPort);
  }

  sendPacket(to: string, parts: readonly Uint8Array[]): void {
    const udp = this.udp;
    const target = this.parse(to);
    const packet = udp && target ? packParts(this.packets, parts) : undefined;
    if (!udp || !target || !packet) {
      this.counters.packetSendFailures++;
      return;
    }
    this.counters.packetsSent++;
    this.counters.packetBytesSent += packet.length;
    udp.send(packet, target.port, target.host, (err) => {
      if (err) this.counters.packetSendFailures++;
    });
  }

  request(to: string, message: Message, timeoutMs: number, done: (result: RequestResult) => void): void {
    const target = this.parse(to);
    if (this.closed || !target) {
      done({ ok: false, error: new WireError(ErrorCode.WireClosed, this.closed ? 'transport is closed' : `bad address ${to}`) });
      return;
    }
    this.counters.streamsOpened++;
    let finished = false;
    const entry: { conn: FramedConnection | undefined; abort: () => void } = {
      conn: undefined,
      abort: () => finish({ ok: false, error: new WireError(ErrorCode.WireClosed, 'transport closed') }),
    };
    const finish = (result: RequestResult): void => {
      if (finished) return;
      finished = true;
      this.clock.clearTimeout(timer);
      this.inflight.delete(entry);
      if (entry.conn) void entry.conn.close().catch(() => {});
      if (!result.ok) this.counters.streamFailures++;
      done(result);
    };
    const timer: TimerHandle = this.clock.setTimeout(
      () => {
        entry.conn?.destroy();
        finish({ ok: false, error: new WireError(ErrorCode.WireTimeout, `request to ${to} timed out after ${timeoutMs} ms`) });
      },
      timeoutMs,
    );
    timer.unref();
    this.inflight.add(entry);
    const started = this.clock.monotonic();
    FramedConnection.connect({
      host: target.host,
      port: target.port,
      kind: StreamKind.Gossip,
      registry: this.registry,
      versions: MEMBERSHIP_VERSIONS,
      clock: this.clock,
      drops: this.drops,
      connectTimeoutMs: timeoutMs,
      handshakeTimeoutMs: timeoutMs,
      ...(this.options.keyring ? { keyring: this.options.keyring } : {}),
    })
      .then(async (conn) => {
        entry.conn = conn;
        if (finished) {
          conn.destroy();
          return;
        }
        await conn.send(message);
        this.counters.streamBytesSent += this.sizeOf(message);
        const left = Math.max(1, timeoutMs - (this.clock.monotonic() - started));
        const response = await conn.receive(left);
        this.counters.streamBytesReceived += this.sizeOf(response);
        finish({ ok: true, response });
      })
      .catch((err: unknown) => finish({ ok: false, error: err instanceof Error ? err : new Error(String(err)) }));
  }

  stats(): TransportStats {
    return { ...this.counters };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const entry of [...this.inflight]) {
      entry.conn?.destroy();
      entry.abort();
    }
    const udp = this.udp;
    this.udp = undefined;
    if (udp) await new Promise<void>((resolve) => udp.close(() => resolve()));
    const server = this.server;
    this.server = undefined;
    await server?.close();
  }

  private streamServer(): StreamServer {
    const gossip: StreamRoute = {
      options: {
        registry: this.registry,
        versions: MEMBERSHIP_VERSIONS,
        clock: this.clock,
        drops: this.drops,
        ...(this.options.keyring ? { keyring: this.options.keyring } : {}),
      },
      onConnection: (conn) => this.onStream(conn),
    };
    return new StreamServer({
      routes: { ...this.options.routes, [StreamKind.Gossip]: gossip },
      clock: this.clock,
      drops: this.drops,
      onError: (err) => this.options.logger?.debug(`membership: refused a stream: ${err.message}`),
    });
  }

  private onDatagram(msg: Buffer, rinfo: RemoteInfo): void {
    if (this.closed || !this.handlers) return;
    this.counters.packetsReceived++;
    this.counters.packetBytesReceived += msg.length;
    const result = this.packets.decodePacket(msg);
    if (!result.ok) return;
    this.handlers.onPacket(joinHostPort(rinfo.address, rinfo.port), result.messages);
  }

  private onStream(conn: FramedConnection): void {
    if (this.closed || !this.handlers) {
      conn.destroy();
      return;
    }
    this.counters.streamsAccepted++;
    const from = joinHostPort(conn.remoteAddress, conn.remotePort);
    const handlers = this.handlers;
    conn.receive(this.options.streamTimeoutMs ?? 10_000).then(
      (request: Envelope) => {
        this.counters.streamBytesReceived += this.sizeOf(request);
        handlers.onRequest(from, request, (response) => {
          if (!response || this.closed) {
            void conn.close().catch(() => {});
            return;
          }
          this.counters.streamBytesSent += this.sizeOf(response);
          conn.send(response).then(
            () => void conn.close().catch(() => {}),
            () => conn.destroy(),
          );
        });
      },
      () => conn.destroy(),
    );
  }

  /**
   * A stream message's envelope size (framing and sealing excluded), for the traffic counters. Re-encoding costs
   * little at push-pull rates (one exchange per member every 30 s or more).
   */
  private sizeOf(message: { type: number; body: unknown }): number {
    try {
      return this.packets.envelopes.encode({ type: message.type, body: message.body }).length;
    } catch {
      return 0;
    }
  }

  private parse(addr: string): { host: string; port: number } | undefined {
    let parsed = this.addrCache.get(addr);
    if (parsed === undefined) {
      parsed = splitHostPort(addr) ?? null;
      if (this.addrCache.size > 10_000) this.addrCache.clear();
      this.addrCache.set(addr, parsed);
    }
    return parsed ?? undefined;
  }
}

function bindUdp(host: string, port: number): Promise<UdpSocket> {
  const socket = createSocket({ type: isIP(host) === 6 ? 'udp6' : 'udp4', reuseAddr: false });
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, host, () => {
      socket.off('error', reject);
      resolve(socket);
    });
  });
}

/** `host:port`, with brackets around an IPv6 host. */
export function joinHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Splits `host:port` or `[v6]:port`; undefined when it is not one. */
export function splitHostPort(addr: string): { host: string; port: number } | undefined {
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(addr) ?? /^([^:]+):(\d{1,5})$/.exec(addr);
  if (!m) return undefined;
  const port = Number(m[2]);
  if (!Number.isInteger(port) || port <= 0 || port > 65_535) return undefined;
  return { host: m[1] as string, port };
}

/** The bound host, or for a wildcard bind this machine's first private (else first external) IPv4, else loopback. */
function defaultAdvertiseHost(bound: string): string {
  if (bound !== '0.0.0.0' && bound !== '::') return bound;
  const candidates: string[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) candidates.push(a.address);
  }
  const privateIp = candidates.find((ip) => /^(10\.|192\.168\.|172\.(1[6-9]|2\d|3[01])\.)/.test(ip));
  return privateIp ?? candidates[0] ?? '127.0.0.1';
}
