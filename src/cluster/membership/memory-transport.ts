/**
 * An in-memory network for simulations and tests (memberlist's mock_transport.go, with faults): one-way delay
 * with jitter, packet loss, duplication, reordering, partitions (symmetric or one-way), crashed endpoints and
 * stalled endpoints. Time is the injected Clock's, randomness the injected Random's, so a simulation under a
 * fake clock and a seeded random source replays exactly.
 *
 * Packets and stream messages go through the wire's packet layer exactly as on sockets (envelope, compound,
 * AES-256-GCM seal under a keyring, replay checks), so keys, rotation and drop counting behave as in production.
 * Streams are reliable while both ends are up and can reach each other; across a partition a request gets no
 * answer until its timeout, and a request to a closed endpoint is refused after one delay (a TCP reset).
 */
import type { Clock, TimerHandle } from '../../base/clock.js';
import type { Random } from '../../base/random.js';
import { SeededRandom } from '../../base/random.js';
import { ErrorCode } from '../../base/errors.js';
import { COMPOUND_PART_OVERHEAD, DropCounters, PacketCodec, WireError } from '../wire/index.js';
import type { Envelope, Keyring, Message, MessageRegistry, VersionRange } from '../wire/index.js';
import { membershipRegistry, MEMBERSHIP_VERSIONS, packetOverhead, packParts } from './codec.js';
import type { RequestResult, Transport, TransportHandlers, TransportStats } from './transport.js';
import { emptyTransportStats } from './transport.js';

export interface NetworkFaults {
  /** One-way delay of a packet or stream message, uniform in [min, max] ms. */
  delayMs: { min: number; max: number };
  /** Probability that a packet is lost (streams are reliable, as TCP is). */
  loss: number;
  /** Probability that a packet is delivered twice. */
  duplicate: number;
  /** Probability that a packet is held back by up to reorderDelayMs more, so that later ones overtake it. */
  reorder: number;
  reorderDelayMs: number;
}

export interface MemoryNetworkOptions extends Partial<NetworkFaults> {
  clock: Clock;
  random?: Random;
}

export interface MemoryEndpointOptions {
  /** With a keyring, packets and stream messages are sealed and checked as on sockets. */
  keyring?: Keyring;
  registry?: MessageRegistry;
  versions?: VersionRange;
  /** Largest packet (default 1400). */
  mtu?: number;
}

/** Largest stream message in the simulation (a push-pull of many thousand members fits). */
const STREAM_MAX_BYTES = 64 * 1024 * 1024;

export class MemoryNetwork {
  readonly clock: Clock;
  private readonly random: Random;
  private faults: NetworkFaults;
  private readonly endpoints = new Map<string, MemoryTransport>();
  private readonly blocked = new Set<string>();
  private readonly packetsBlocked = new Set<string>();
  private readonly paused = new Map<string, Array<() => void>>();

  constructor(options: MemoryNetworkOptions) {
    this.clock = options.clock;
    this.random = options.random ?? new SeededRandom(1);
    this.faults = {
      delayMs: options.delayMs ?? { min: 1, max: 1 },
      loss: options.loss ?? 0,
      duplicate: options.duplicate ?? 0,
      reorder: options.reorder ?? 0,
      reorderDelayMs: options.reorderDelayMs ?? 0,
    };
  }

  /** Changes fault settings from now on. */
  configure(faults: Partial<NetworkFaults>): void {
    this.faults = { ...this.faults, ...faults };
  }

  get settings(): Readonly<NetworkFaults> {
    return this.faults;
  }

  /** A transport at `address` (not listening until started). */
  transport(address: string, options: MemoryEndpointOptions = {}): MemoryTransport {
    return new MemoryTransport(this, address, options);
  }

  /** Cuts every path between members of different groups (both ways). Addresses in no group are unaffected. */
  partition(groups: readonly (readonly string[])[]): void {
    for (let i = 0; i < groups.length; i++) {
      for (let j = 0; j < groups.length; j++) {
        if (i === j) continue;
        for (const a of groups[i] as readonly string[]) for (const b of groups[j] as readonly string[]) this.block(a, b);
      }
    }
  }

  /** Cuts the path from `from` to `to` only (an asymmetric fault). */
  block(from: string, to: string): void {
    this.blocked.add(`${from}\u0000${to}`);
  }

  unblock(from: string, to: string): void {
    this.blocked.delete(`${from}\u0000${to}`);
  }

  /** Drops UDP only from `from` to `to` (a firewall that lets TCP through): streams still work. */
  blockPackets(from: string, to: string): void {
    this.packetsBlocked.add(`${from}\u0000${to}`);
  }

  /** Restores every path. */
  heal(): void {
    this.blocked.clear();
    this.packetsBlocked.clear();
  }

  canReach(from: string, to: string): boolean {
    return !this.blocked.has(`${from}\u0000${to}`);
  }

  /** Holds everything arriving at `address` until resume() (an endpoint whose process is not running). */
  pause(address: string): void {
    if (!this.paused.has(address)) this.paused.set(address, []);
  }

  /** Delivers, in arrival order, what was held for `address`. */
  resume(address: string): void {
    const held = this.paused.get(address);
    if (!held) return;
    this.paused.delete(address);
    for (const deliver of held) deliver();
  }

  isPaused(address: string): boolean {
    return this.paused.has(address);
  }

  /** @internal */
  register(t: MemoryTransport): void {
    const existing = this.endpoints.get(t.address);
    if (existing && existing !== t && existing.isOpen) {
      throw new WireError(ErrorCode.WireClosed, `memory address ${t.address} is already in use`);
    }
    this.endpoints.set(t.address, t);
  }

  /** @internal */
  unregister(t: MemoryTransport): void {
    if (this.endpoints.get(t.address) === t) this.endpoints.delete(t.address);
  }

  private delay(): number {
    const { min, max } = this.faults.delayMs;
    let d = min + this.random.float() * Math.max(0, max - min);
    if (this.faults.reorder > 0 && this.random.float() < this.faults.reorder) {
      d += this.random.float() * this.faults.reorderDelayMs;
    }
    return d;
  }

  /** Runs `deliver` at `to` after a delay, holding it while `to` is paused. */
  private schedule(to: string, delay: number, deliver: () => void): void {
    this.clock.setTimeout(() => {
      const held = this.paused.get(to);
      if (held) held.push(deliver);
      else deliver();
    }, delay);
  }

  /** @internal */
  sendPacket(from: string, to: string, bytes: Buffer): void {
    if (!this.canReach(from, to) || this.packetsBlocked.has(`${from}\u0000${to}`)) return;
    if (this.faults.loss > 0 && this.random.float() < this.faults.loss) return;
    const copies = this.faults.duplicate > 0 && this.random.float() < this.faults.duplicate ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      this.schedule(to, this.delay(), () => this.endpoints.get(to)?.receivePacket(from, bytes));
    }
  }

  /** @internal One request/response exchange; `done` is called exactly once. */
  exchange(from: MemoryTransport, to: string, request: Buffer, timeoutMs: number, done: (result: RequestResult) => void): void {
    let finished = false;
    const finish = (result: RequestResult): void => {
      if (finished) return;
      finished = true;
      this.clock.clearTimeout(timer);
      done(result);
    };
    const timer: TimerHandle = this.clock.setTimeout(
      () => finish({ ok: false, error: new WireError(ErrorCode.WireTimeout, `request to ${to} timed out after ${timeoutMs} ms`) }),
      timeoutMs,
    );
    if (!this.canReach(from.address, to)) return; // no SYN-ACK ever comes: the timeout answers
    const refused = (): void => {
      const error = new WireError(ErrorCode.WireClosed, `connection to ${to} refused`);
      this.clock.setTimeout(() => finish({ ok: false, error }), this.delay());
    };
    this.schedule(to, this.delay(), () => {
      const server = this.endpoints.get(to);
      if (!server || !server.isOpen) return refused();
      server.receiveRequest(from.address, request, (response) => {
        if (!response) return refused();
        if (!this.canReach(to, from.address)) return;
        this.schedule(from.address, this.delay(), () => {
          if (!from.isOpen) return;
          const env = from.openResponse(response);
          if (env) finish({ ok: true, response: env });
          else finish({ ok: false, error: new WireError(ErrorCode.WireProtocol, `unreadable response from ${to}`) });
        });
      });
    });
  }
}

export class MemoryTransport implements Transport {
  readonly address: string;
  readonly packetOverheadBytes: number;
  readonly partOverheadBytes = COMPOUND_PART_OVERHEAD;
  readonly mtu: number;
  readonly drops = new DropCounters();
  private readonly packets: PacketCodec;
  private readonly streams: PacketCodec;
  private handlers: TransportHandlers | undefined;
  private open = false;
  private closed = false;
  private readonly counters: TransportStats = emptyTransportStats();

  constructor(
    private readonly network: MemoryNetwork,
    address: string,
    options: MemoryEndpointOptions,
  ) {
    this.address = address;
    const registry = options.registry ?? membershipRegistry();
    const versions = options.versions ?? MEMBERSHIP_VERSIONS;
    const common = {
      registry,
      versions,
      clock: network.clock,
      drops: this.drops,
      ...(options.keyring ? { keyring: options.keyring } : {}),
    };
    this.packets = new PacketCodec({ ...common, mtu: options.mtu ?? 1400 });
    this.streams = new PacketCodec({ ...common, mtu: STREAM_MAX_BYTES, maxPacketBytes: STREAM_MAX_BYTES });
    this.mtu = this.packets.mtu;
    this.packetOverheadBytes = packetOverhead(this.packets);
  }

  get isOpen(): boolean {
    return this.open;
  }

  encode(message: Message): Uint8Array {
    return this.packets.envelopes.encode(message);
  }

  start(handlers: TransportHandlers): Promise<void> {
    if (this.closed) return Promise.reject(new WireError(ErrorCode.WireClosed, 'transport is closed'));
    this.handlers = handlers;
    this.network.register(this);
    this.open = true;
    return Promise.resolve();
  }

  sendPacket(to: string, parts: readonly Uint8Array[]): void {
    if (!this.open) return;
    const packet = packParts(this.packets, parts);
    if (!packet) {
      this.counters.packetSendFailures++;
      return;
    }
    this.counters.packetsSent++;
    this.counters.packetBytesSent += packet.length;
    this.network.sendPacket(this.address, to, packet);
  }

  request(to: string, message: Message, timeoutMs: number, done: (result: RequestResult) => void): void {
    if (!this.open) {
      done({ ok: false, error: new WireError(ErrorCode.WireClosed, 'transport is closed') });
      return;
    }
    const bytes = this.streams.seal(this.streams.envelopes.encode(message));
    this.counters.streamsOpened++;
    this.counters.streamBytesSent += bytes.length;
    this.network.exchange(this, to, bytes, timeoutMs, (result) => {
      if (!result.ok) this.counters.streamFailures++;
      done(result);
    });
  }

  stats(): TransportStats {
    return { ...this.counters };
  }

  close(): Promise<void> {
    this.open = false;
    this.closed = true;
    this.network.unregister(this);
    return Promise.resolve();
  }

  /** @internal */
  receivePacket(from: string, bytes: Buffer): void {
    if (!this.open || !this.handlers) return;
    this.counters.packetsReceived++;
    this.counters.packetBytesReceived += bytes.length;
    const result = this.packets.decodePacket(bytes);
    if (!result.ok) return;
    this.handlers.onPacket(from, result.messages);
  }

  /** @internal */
  receiveRequest(from: string, bytes: Buffer, reply: (response: Buffer | undefined) => void): void {
    if (!this.open || !this.handlers) return reply(undefined);
    this.counters.streamsAccepted++;
    this.counters.streamBytesReceived += bytes.length;
    const result = this.streams.decodePacket(bytes);
    if (!result.ok || result.messages.length !== 1) return reply(undefined); // the handshake would have failed
    let replied = false;
    this.handlers.onRequest(from, result.messages[0] as Envelope, (response) => {
      if (replied) return;
      replied = true;
      if (!response || !this.open) return reply(undefined);
      const out = this.streams.seal(this.streams.envelopes.encode(response));
      this.counters.streamBytesSent += out.length;
      reply(out);
    });
  }

  /** @internal */
  openResponse(bytes: Buffer): Envelope | undefined {
    this.counters.streamBytesReceived += bytes.length;
    const result = this.streams.decodePacket(bytes);
    return result.ok && result.messages.length === 1 ? (result.messages[0] as Envelope) : undefined;
  }
}
