import { createCipheriv, createDecipheriv, randomFillSync } from 'node:crypto';
import type { Clock } from '../../base/clock.js';
import { systemClock } from '../../base/clock.js';
import { ErrorCode, KrakendError } from '../../base/errors.js';
import { DropCounters } from './drops.js';
import type { DropReason } from './drops.js';
import { EnvelopeCodec, MessageType, WIRE_MAGIC_0, WIRE_MAGIC_1 } from './envelope.js';
import type { Envelope, Message, MessageRegistry, VersionRange } from './envelope.js';
import type { Keyring } from './keyring.js';
import { ReplayGuard } from './replay.js';

/**
 * UDP packet layout:
 * ```
 * off len  field
 *   0   2  magic "KC" (0x4b 0x43)
 *   2   1  key id: 0 = plaintext, 1–255 = the keyring key it is sealed under
 *   3   6  timestamp: the sender's clock.now(), ms since the Unix epoch, uint48 BE
 * sealed (key id ≠ 0):
 *   9  12  nonce, random (node:crypto)
 *  21   n  AES-256-GCM ciphertext of the payload; AAD = bytes 0–20 (so magic, key id, timestamp, nonce are bound)
 * 21+n 16  GCM tag
 * plaintext (key id = 0):
 *   9   n  payload
 * ```
 * Payload: one envelope (envelope.ts), or a compound:
 * `0x00 | count u8 (2–255) | count × (length u16 BE | envelope)`.
 */
export const PACKET_HEADER_BYTES = 9;
export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;
export const SEALED_HEADER_BYTES = PACKET_HEADER_BYTES + NONCE_BYTES;
/** Bytes a compound adds: its 2-byte header, then 2 bytes of length per part. */
export const COMPOUND_HEADER_BYTES = 2;
export const COMPOUND_PART_OVERHEAD = 2;
export const MAX_COMPOUND_PARTS = 255;

/** Sending limit: memberlist's, safe under a 1500-byte Ethernet MTU with IP/UDP headers and some tunnelling. */
export const DEFAULT_MTU = 1400;
/** Receiving limit: above any MTU a cluster would configure (jumbo frames), well below UDP's 65 507. */
export const DEFAULT_MAX_PACKET_BYTES = 9216;

/** Logged by the composition root when no cluster_key is set (the wire never logs it itself). */
export const PLAINTEXT_WARNING =
  'No cluster_key is configured: cluster traffic is neither encrypted nor authenticated. Any host that can reach ' +
  'the cluster port can read it, join the cluster and forge membership news. Set cluster_key (generate one with ' +
  '`openssl rand -base64 32`) on every manager and node.';

export interface PacketCodecOptions {
  registry: MessageRegistry;
  /** Our range of the consumer protocol (default 1–1). */
  versions?: VersionRange;
  /** Without one, packets are plaintext, and sealed packets are refused (`auth_failed`). */
  keyring?: Keyring;
  /** now() stamps outgoing packets and ages incoming ones. */
  clock?: Clock;
  /** Largest packet we send, in bytes (default 1400). */
  mtu?: number;
  /** Largest packet we accept (default 9216). */
  maxPacketBytes?: number;
  /** Timestamps older than this are refused (default 30 s). */
  replayWindowMs?: number;
  /** Timestamps further in the future than this are refused (default 10 s). */
  maxClockSkewMs?: number;
  /** Nonces remembered for replay detection (default 32768). */
  nonceCacheSize?: number;
  /** Where drops are counted (default: a new DropCounters, at `codec.drops`). */
  drops?: DropCounters;
}

export type DecodeResult =
  | {
      ok: true;
      /** The packet's envelope; for a compound, a synthetic one of type Compound whose body is `messages`. */
      envelope: Envelope;
      /** The messages to handle, in order: [envelope] for a single message, the good parts of a compound. */
      messages: readonly Envelope[];
      /** Reasons the bad parts of a compound were dropped (each counted): usually empty. */
      dropped: readonly DropReason[];
      /** The sender's timestamp (authenticated when sealed). */
      sentAt: number;
    }
  | { ok: false; reason: DropReason };

export type EncodeResult = { ok: true; packet: Buffer } | { ok: false; reason: 'oversized' };

export type CompoundResult =
  | {
      ok: true;
      packet: Buffer;
      /** Indexes (ascending, always starting with 0) of the messages packed; the others did not fit. */
      included: readonly number[];
    }
  | { ok: false; reason: 'oversized' };

/**
 * Encodes and decodes UDP packets: envelope + optional compound + optional AES-256-GCM seal + replay defence.
 * `decodePacket` never throws; each rejection is returned with its reason and counted in `drops`.
 *
 * Nonces come from node:crypto, not from the seeded Random: a GCM nonce must never repeat under one key, and an
 * attacker must not predict it, which a seeded generator (replayed on purpose in simulations) cannot promise.
 * Random 96-bit nonces keep the chance of any repeat below 2^-32 up to about 2^32 packets per key
 * cluster-wide: rotate the key well before that (at 20 000 packets/s cluster-wide, a few days; see README).
 */
export class PacketCodec {
  readonly encrypted: boolean;
  readonly mtu: number;
  readonly maxPacketBytes: number;
  readonly drops: DropCounters;
  readonly envelopes: EnvelopeCodec;
  /** Bytes a packet adds around its payload: header, and nonce + tag when sealed. */
  readonly overheadBytes: number;
  private readonly keyring: Keyring | undefined;
  private readonly clock: Clock;
  private readonly replay: ReplayGuard;
  private readonly nonces = new NoncePool();

  constructor(options: PacketCodecOptions) {
    if (options.keyring && options.keyring.size === 0) {
      throw new KrakendError(ErrorCode.WireKeyInvalid, 'the keyring is empty: install a key, or pass no keyring');
    }
    this.keyring = options.keyring;
    this.encrypted = options.keyring !== undefined;
    this.clock = options.clock ?? systemClock;
    this.mtu = options.mtu ?? DEFAULT_MTU;
    this.maxPacketBytes = Math.max(this.mtu, options.maxPacketBytes ?? DEFAULT_MAX_PACKET_BYTES);
    this.drops = options.drops ?? new DropCounters();
    this.overheadBytes = this.encrypted ? SEALED_HEADER_BYTES + TAG_BYTES : PACKET_HEADER_BYTES;
    if (this.mtu < this.overheadBytes + 16) throw new RangeError(`mtu ${this.mtu} is too small`);
    this.envelopes = new EnvelopeCodec({
      registry: options.registry,
      ...(options.versions ? { versions: options.versions } : {}),
      maxBodyBytes: this.maxPacketBytes,
    });
    this.replay = new ReplayGuard({
      ...(options.replayWindowMs !== undefined ? { windowMs: options.replayWindowMs } : {}),
      ...(options.maxClockSkewMs !== undefined ? { maxSkewMs: options.maxClockSkewMs } : {}),
      ...(options.nonceCacheSize !== undefined ? { capacity: options.nonceCacheSize } : {}),
    });
  }

  /** Largest payload (envelope or compound) that fits in one packet. */
  get maxPayloadBytes(): number {
    return this.mtu - this.overheadBytes;
  }

  /** One message in one packet, or `oversized` if it does not fit the MTU. */
  encodePacket(message: Message): EncodeResult {
    const payload = this.envelopes.encode(message);
    if (payload.length > this.maxPayloadBytes) return { ok: false, reason: 'oversized' };
    return { ok: true, packet: this.seal(payload) };
  }

  /**
   * As many of `messages` as fit in one packet, in order: the first must fit (else `oversized`); each later one is
   * packed if it still fits, skipped otherwise (see `included`). One message alone is sent as a plain packet.
   */
  encodeCompound(messages: readonly Message[]): CompoundResult {
    if (messages.length === 0) throw new RangeError('encodeCompound needs at least one message');
    const budget = this.maxPayloadBytes;
    const parts: Buffer[] = [];
    const included: number[] = [];
    let size = COMPOUND_HEADER_BYTES;
    for (let i = 0; i < messages.length && parts.length < MAX_COMPOUND_PARTS; i++) {
      const bytes = this.envelopes.encode(messages[i] as Message);
      const alone = i === 0 && bytes.length <= budget;
      if (size + COMPOUND_PART_OVERHEAD + bytes.length <= budget || alone) {
        parts.push(bytes);
        included.push(i);
        size += COMPOUND_PART_OVERHEAD + bytes.length;
      } else if (i === 0) {
        return { ok: false, reason: 'oversized' };
      }
    }
    // One part: a plain packet. Two or more: the running size (compound framing included) fitted at each step.
    if (parts.length === 1) return { ok: true, packet: this.seal(parts[0] as Buffer), included };
    const payload = Buffer.allocUnsafe(size);
    payload[0] = MessageType.Compound;
    payload[1] = parts.length;
    let off = COMPOUND_HEADER_BYTES;
    for (const part of parts) {
      payload.writeUInt16BE(part.length, off);
      part.copy(payload, off + 2);
      off += COMPOUND_PART_OVERHEAD + part.length;
    }
    return { ok: true, packet: this.seal(payload), included };
  }

  /** Wraps a payload in the packet header, sealing it under the primary key when there is a keyring. */
  seal(payload: Uint8Array): Buffer {
    const now = Math.max(0, Math.floor(this.clock.now()));
    if (!this.keyring) {
      const out = Buffer.allocUnsafe(PACKET_HEADER_BYTES + payload.length);
      writeHeader(out, 0, now);
      out.set(payload, PACKET_HEADER_BYTES);
      return out;
    }
    const { id, key } = this.keyring.primary();
    const out = Buffer.allocUnsafe(SEALED_HEADER_BYTES + payload.length + TAG_BYTES);
    writeHeader(out, id, now);
    this.nonces.next().copy(out, PACKET_HEADER_BYTES);
    const nonce = out.subarray(PACKET_HEADER_BYTES, SEALED_HEADER_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key, nonce);
    cipher.setAAD(out.subarray(0, SEALED_HEADER_BYTES));
    const n1 = cipher.update(payload).copy(out, SEALED_HEADER_BYTES);
    const n2 = cipher.final().copy(out, SEALED_HEADER_BYTES + n1);
    cipher.getAuthTag().copy(out, SEALED_HEADER_BYTES + n1 + n2);
    return out;
  }

  /**
   * Strictly decodes a received packet. Never throws: any failure comes back as `{ok: false, reason}` and is
   * counted in `drops`. Checks, in order: size, magic, key id vs. our mode, authentication, timestamp window,
   * nonce replay, payload structure, each envelope (type, version, body).
   */
  decodePacket(buf: Uint8Array): DecodeResult {
    let result: DecodeResult;
    try {
      result = this.decode(buf);
    } catch {
      // Defence in depth: every path above returns a reason; an exception here would be a bug in this module.
      result = { ok: false, reason: 'malformed' };
    }
    if (!result.ok) this.drops.count(result.reason);
    return result;
  }

  private decode(buf: Uint8Array): DecodeResult {
    if (buf.length > this.maxPacketBytes) return { ok: false, reason: 'oversized' };
    if (buf.length < 2) return { ok: false, reason: 'truncated' };
    if (buf[0] !== WIRE_MAGIC_0 || buf[1] !== WIRE_MAGIC_1) return { ok: false, reason: 'bad_magic' };
    if (buf.length < PACKET_HEADER_BYTES) return { ok: false, reason: 'truncated' };
    const keyId = buf[2] as number;
    const sentAt = readUint48(buf, 3);
    const now = this.clock.now();
    let payload: Uint8Array;
    if (keyId === 0) {
      // Plaintext is accepted only when we have no key: with a key configured, an unsealed packet is a forgery.
      if (this.keyring) return { ok: false, reason: 'auth_failed' };
      const late = this.replay.checkTime(sentAt, now);
      if (late) return { ok: false, reason: late };
      payload = buf.subarray(PACKET_HEADER_BYTES);
    } else {
      if (!this.keyring) return { ok: false, reason: 'auth_failed' };
      if (buf.length < SEALED_HEADER_BYTES + TAG_BYTES) return { ok: false, reason: 'truncated' };
      const key = this.keyring.get(keyId);
      if (!key) return { ok: false, reason: 'auth_failed' };
      const opened = open(key, buf);
      if (!opened) return { ok: false, reason: 'auth_failed' };
      const nonce = Buffer.from(buf.buffer, buf.byteOffset + PACKET_HEADER_BYTES, NONCE_BYTES).toString('hex');
      const stale = this.replay.admit(nonce, sentAt, now);
      if (stale) return { ok: false, reason: stale };
      payload = opened;
    }
    return this.decodePayload(payload, keyId, sentAt);
  }

  private decodePayload(payload: Uint8Array, keyId: number, sentAt: number): DecodeResult {
    if (payload.length === 0) return { ok: false, reason: 'truncated' };
    if (payload[0] !== MessageType.Compound) {
      const one = this.envelopes.decode(payload, keyId);
      if (!one.ok) return one;
      return { ok: true, envelope: one.envelope, messages: [one.envelope], dropped: [], sentAt };
    }
    if (payload.length < COMPOUND_HEADER_BYTES) return { ok: false, reason: 'truncated' };
    const count = payload[1] as number;
    if (count < 2) return { ok: false, reason: 'malformed' };
    // Structure first, all or nothing: lengths must tile the payload exactly, no part may be a compound.
    const spans: Array<[number, number]> = [];
    let off = COMPOUND_HEADER_BYTES;
    for (let i = 0; i < count; i++) {
      if (off + COMPOUND_PART_OVERHEAD > payload.length) return { ok: false, reason: 'truncated' };
      const len = ((payload[off] as number) << 8) | (payload[off + 1] as number);
      off += COMPOUND_PART_OVERHEAD;
      if (off + len > payload.length) return { ok: false, reason: 'truncated' };
      if (len === 0 || payload[off] === MessageType.Compound) return { ok: false, reason: 'malformed' };
      spans.push([off, off + len]);
      off += len;
    }
    if (off !== payload.length) return { ok: false, reason: 'malformed' };
    // Then each part on its own: a part of a type or version we do not know (a newer peer during a rolling upgrade)
    // is dropped and counted without losing the others.
    const messages: Envelope[] = [];
    const dropped: DropReason[] = [];
    for (const [start, end] of spans) {
      const one = this.envelopes.decode(payload.subarray(start, end), keyId);
      if (one.ok) messages.push(one.envelope);
      else dropped.push(one.reason);
    }
    if (messages.length === 0) {
      // Nothing to deliver: the packet as a whole is the drop (counted once, by decodePacket).
      return { ok: false, reason: dropped[0] as DropReason };
    }
    for (const reason of dropped) this.drops.count(reason);
    const envelope: Envelope = {
      type: MessageType.Compound,
      versions: this.envelopes.versions,
      version: messages[0]?.version ?? 0,
      keyId,
      requestId: 0,
      body: messages,
    };
    return { ok: true, envelope, messages, dropped, sentAt };
  }
}

function writeHeader(out: Buffer, keyId: number, now: number): void {
  out[0] = WIRE_MAGIC_0;
  out[1] = WIRE_MAGIC_1;
  out[2] = keyId;
  out.writeUIntBE(now % 2 ** 48, 3, 6);
}

function readUint48(buf: Uint8Array, off: number): number {
  let v = 0;
  for (let i = 0; i < 6; i++) v = v * 256 + (buf[off + i] as number);
  return v;
}

/** AES-256-GCM open of a sealed packet; undefined when authentication fails. */
function open(key: Buffer, buf: Uint8Array): Buffer | undefined {
  try {
    const nonce = buf.subarray(PACKET_HEADER_BYTES, SEALED_HEADER_BYTES);
    const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
    decipher.setAAD(buf.subarray(0, SEALED_HEADER_BYTES));
    decipher.setAuthTag(buf.subarray(buf.length - TAG_BYTES));
    const head = decipher.update(buf.subarray(SEALED_HEADER_BYTES, buf.length - TAG_BYTES));
    const tail = decipher.final();
    return tail.length === 0 ? head : Buffer.concat([head, tail]);
  } catch {
    return undefined;
  }
}

/**
 * Random nonces from node:crypto's CSPRNG, drawn 4 KiB at a time (one call per 341 packets instead of one each):
 * the same unpredictable bytes, a tenth of the cost.
 */
class NoncePool {
  private readonly pool = Buffer.allocUnsafe(NONCE_BYTES * 341);
  private offset = this.pool.length;

  next(): Buffer {
    if (this.offset + NONCE_BYTES > this.pool.length) {
      randomFillSync(this.pool);
      this.offset = 0;
    }
    const nonce = this.pool.subarray(this.offset, this.offset + NONCE_BYTES);
    this.offset += NONCE_BYTES;
    return nonce;
  }
}
