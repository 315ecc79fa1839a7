import { Decoder, Encoder } from '@msgpack/msgpack';
import type { DropReason } from './drops.js';

/**
 * The envelope: what every message looks like inside a UDP packet or a TCP frame.
 *
 * ```
 * off len  field
 *   0   1  message type (uint8; MessageRegistry)
 *   1   1  version min (uint8)   the sender's supported range of the consumer's protocol
 *   2   1  version max (uint8)
 *   3   4  request id (uint32 BE; 0 = none)
 *   7   n  body: exactly one MessagePack value, nothing after it
 * ```
 * The magic bytes and the key id live in the outer header (packet.ts, handshake.ts); a decoded Envelope reports
 * the key id it arrived under.
 */
export const ENVELOPE_HEADER_BYTES = 7;

/** "KC": the first two bytes of every UDP packet and of every stream hello. A new outer layout gets a new magic. */
export const WIRE_MAGIC_0 = 0x4b;
export const WIRE_MAGIC_1 = 0x43;

export interface VersionRange {
  readonly min: number;
  readonly max: number;
}

/** The default range of a consumer protocol (membership, control) until it bumps its own. */
export const DEFAULT_VERSIONS: VersionRange = { min: 1, max: 1 };

/** The highest version both ranges support, or undefined when they do not overlap (or one is empty). */
export function negotiate(local: VersionRange, remote: VersionRange): number | undefined {
  if (local.min > local.max || remote.min > remote.max) return undefined;
  const hi = Math.min(local.max, remote.max);
  const lo = Math.max(local.min, remote.min);
  return hi >= lo ? hi : undefined;
}

export function isVersionRange(range: VersionRange): boolean {
  return (
    Number.isInteger(range.min) &&
    Number.isInteger(range.max) &&
    range.min >= 0 &&
    range.max <= 255 &&
    range.min <= range.max
  );
}

/**
 * Message type numbers (uint8). The wire owns 0–15; each consumer registers its own in its range so that one
 * registry can hold both on a shared port without clashes.
 */
export const MessageType = {
  /** Several envelopes in one UDP packet (compound helper). */
  Compound: 0,
} as const;

export const MESSAGE_TYPE_RANGES = {
  wire: { min: 0, max: 15 },
  membership: { min: 16, max: 63 },
  control: { min: 64, max: 127 },
  /** 128–255: free for later protocols. */
  future: { min: 128, max: 255 },
} as const;

/** A body check: return false (or throw) to have the envelope dropped as `malformed`. */
export type BodyValidator = (body: unknown, version: number) => boolean;

export interface MessageSpec {
  readonly type: number;
  readonly name: string;
  readonly validate: BodyValidator | undefined;
}

/**
 * Which message types a receiver accepts. One registry per protocol (membership, control); an instance, not
 * module state, so several members can live in one process.
 */
export class MessageRegistry {
  private readonly specs = new Map<number, MessageSpec>();

  /** Registers a type; throws on a number outside 16–255, or already taken (a programming error). */
  register(type: number, name: string, validate?: BodyValidator): this {
    if (!Number.isInteger(type) || type < 16 || type > 255) {
      throw new RangeError(`message type ${type} is outside 16..255 (0..15 belong to the wire)`);
    }
    const existing = this.specs.get(type);
    if (existing) throw new Error(`message type ${type} is already registered as ${existing.name}`);
    this.specs.set(type, { type, name, validate });
    return this;
  }

  has(type: number): boolean {
    return this.specs.has(type);
  }

  get(type: number): MessageSpec | undefined {
    return this.specs.get(type);
  }

  /** The registered name, or `type-N`: for logs. */
  nameOf(type: number): string {
    if (type === MessageType.Compound) return 'compound';
    return this.specs.get(type)?.name ?? `type-${type}`;
  }

  types(): number[] {
    return [...this.specs.keys()].sort((a, b) => a - b);
  }
}

/** What a sender hands to the wire. */
export interface Message {
  readonly type: number;
  /** Any MessagePack-encodable value (plain objects, arrays, strings, numbers, booleans, null, Uint8Array). */
  readonly body: unknown;
  /** uint32 to match a reply with its request; 0 (the default) = none. */
  readonly requestId?: number;
}

/** What a receiver gets: a message that passed every check. */
export interface Envelope {
  readonly type: number;
  /** The sender's supported range. */
  readonly versions: VersionRange;
  /** negotiate(local range, sender's range): the version to read the body with. */
  readonly version: number;
  /** The keyring key it was authenticated under; 0 = plaintext. */
  readonly keyId: number;
  readonly requestId: number;
  readonly body: unknown;
}

export type EnvelopeResult = { ok: true; envelope: Envelope } | { ok: false; reason: DropReason };

export interface EnvelopeCodecOptions {
  registry: MessageRegistry;
  /** Our supported range; envelopes that do not overlap it are dropped as `unknown_version`. */
  versions?: VersionRange;
  /** The largest body the decoder will ever see; bounds MessagePack's string, array and map lengths. */
  maxBodyBytes: number;
  /**
   * Deepest nesting of arrays and maps accepted (default 64). The decoder itself does not recurse, but consumers
   * (validators, JSON.stringify, deepEqual) do: a 9 KB packet of nested arrays must not blow their stack.
   */
  maxDepth?: number;
}

export const DEFAULT_MAX_DEPTH = 64;

/**
 * Encodes and strictly decodes envelopes. Decoding never throws: every failure is a DropReason.
 */
export class EnvelopeCodec {
  readonly registry: MessageRegistry;
  readonly versions: VersionRange;
  private encoder = newEncoder();
  private readonly decoder: Decoder;
  private readonly maxDepth: number;

  constructor(options: EnvelopeCodecOptions) {
    this.registry = options.registry;
    this.versions = options.versions ?? DEFAULT_VERSIONS;
    if (!isVersionRange(this.versions)) throw new RangeError(`bad version range ${JSON.stringify(this.versions)}`);
    this.maxDepth = options.maxDepth ?? DEFAULT_MAX_DEPTH;
    const n = Math.max(16, options.maxBodyBytes);
    // A body of n bytes cannot hold more than n elements or n bytes of string: these limits stop a 5-byte header
    // from announcing a 4 GiB string before the decoder notices the data is missing.
    this.decoder = new Decoder({
      maxStrLength: n,
      maxBinLength: n,
      maxArrayLength: n,
      maxMapLength: n,
      maxExtLength: n,
    });
  }

  /** The envelope's bytes. Throws (TypeError) only when the body cannot be MessagePack-encoded: a caller bug. */
  encode(message: Message): Buffer {
    const body = this.encoder.encodeSharedRef(message.body); // a view, copied at once below
    const out = Buffer.allocUnsafe(ENVELOPE_HEADER_BYTES + body.byteLength);
    out[0] = checkType(message.type);
    out[1] = this.versions.min;
    out[2] = this.versions.max;
    out.writeUInt32BE(checkRequestId(message.requestId ?? 0), 3);
    out.set(body, ENVELOPE_HEADER_BYTES);
    // The encoder keeps its grown buffer: after a big body (a config), start afresh rather than hold megabytes
    // per connection.
    if (body.byteLength > ENCODER_KEEP_BYTES) this.encoder = newEncoder();
    return out;
  }

  /**
   * Decodes one envelope (not a compound: see packet.ts) from exactly these bytes.
   * Checks, in order: length, type registered, version overlap, MessagePack body, the type's validator.
   */
  decode(bytes: Uint8Array, keyId: number): EnvelopeResult {
    if (bytes.length < ENVELOPE_HEADER_BYTES) return { ok: false, reason: 'truncated' };
    const type = bytes[0] as number;
    const spec = this.registry.get(type);
    if (!spec) return { ok: false, reason: 'unknown_type' };
    const versions = { min: bytes[1] as number, max: bytes[2] as number };
    const version = negotiate(this.versions, versions);
    if (version === undefined) return { ok: false, reason: 'unknown_version' };
    const requestId = Buffer.from(bytes.buffer, bytes.byteOffset, ENVELOPE_HEADER_BYTES).readUInt32BE(3);
    if (bytes.length === ENVELOPE_HEADER_BYTES) return { ok: false, reason: 'truncated' };
    let body: unknown;
    try {
      body = this.decoder.decode(bytes.subarray(ENVELOPE_HEADER_BYTES));
    } catch {
      return { ok: false, reason: 'malformed' };
    }
    if (tooDeep(body, this.maxDepth)) return { ok: false, reason: 'malformed' };
    if (spec.validate) {
      try {
        if (!spec.validate(body, version)) return { ok: false, reason: 'malformed' };
      } catch {
        return { ok: false, reason: 'malformed' };
      }
    }
    return { ok: true, envelope: { type, versions, version, keyId, requestId, body } };
  }
}

const ENCODER_KEEP_BYTES = 64 * 1024;

function newEncoder(): Encoder {
  return new Encoder({ ignoreUndefined: true });
}

function checkType(type: number): number {
  if (!Number.isInteger(type) || type < 0 || type > 255) throw new RangeError(`message type ${type} is not a uint8`);
  return type;
}

function checkRequestId(id: number): number {
  if (!Number.isInteger(id) || id < 0 || id > 0xffffffff) throw new RangeError(`request id ${id} is not a uint32`);
  return id;
}

/** Whether arrays and maps nest deeper than `max`, checked without recursion. */
function tooDeep(value: unknown, max: number): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const stack: Array<[unknown, number]> = [[value, 1]];
  for (;;) {
    const top = stack.pop();
    if (!top) return false;
    const [v, depth] = top;
    if (depth > max) return true;
    if (Array.isArray(v)) {
      for (const item of v) if (typeof item === 'object' && item !== null) stack.push([item, depth + 1]);
    } else if (v !== null && typeof v === 'object' && !ArrayBuffer.isView(v)) {
      for (const key in v) {
        const item = (v as Record<string, unknown>)[key];
        if (typeof item === 'object' && item !== null) stack.push([item, depth + 1]);
      }
    }
  }
}
