import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  hkdfSync,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';
import type { DropReason } from './drops.js';
import { WIRE_MAGIC_0, WIRE_MAGIC_1 } from './envelope.js';
import type { VersionRange } from './envelope.js';
import { FRAME_LENGTH_BYTES } from './frame.js';

/**
 * The stream handshake, run once per TCP connection right after the dialer's kind byte. Every message is a frame
 * (`length u32 | body`).
 *
 * ```
 * client hello (47 bytes)                   server hello (47 bytes, + 32-byte MAC when keyed)
 *  0 2 magic "KC"                            0 2 magic "KC"
 *  2 1 handshake version (1)                 2 1 handshake version (1)
 *  3 1 stream kind (= the kind byte)         3 1 status: 0 ok, else a refusal code (then the server closes)
 *  4 1 version min                           4 1 version min
 *  5 1 version max                           5 1 version max
 *  6 4 max frame bytes we accept             6 4 max frame bytes we accept
 * 10 4 max message bytes we accept          10 4 max message bytes we accept
 * 14 1 key id (0 = no key)                  14 1 key id (echoes the client's; 0 = no key)
 * 15 32 client nonce (random)               15 32 server nonce (random)
 *                                           47 32 server MAC (below)
 * server MAC = HMAC-SHA256(K, "krakend-cluster server\0" ‖ CH ‖ SH[0..47])
 * client finish (keyed only, 32 bytes): client MAC = HMAC-SHA256(K, "krakend-cluster client\0" ‖ CH ‖ SH)
 * ```
 * Both sides prove the key without revealing it; the labels stop a MAC being reflected. Session keys:
 * HKDF-SHA256(ikm = K, salt = client nonce ‖ server nonce,
 * info = "krakend-cluster stream v1\0" ‖ SHA-256(CH ‖ SH), 64 bytes) → client-to-server key ‖ server-to-client
 * key. Fresh nonces on both sides make every session's keys new, so frame counters can start at 0 without ever
 * reusing a (key, nonce) pair.
 *
 * Sealed frame body: `counter u64 BE | AES-256-GCM(ciphertext) | tag 16`, GCM nonce = 4 zero bytes ‖ counter.
 * The counter must be exactly the next one expected: anything else is a replay or a reordering (`replayed`).
 */
export const HANDSHAKE_VERSION = 1;
export const HELLO_NONCE_BYTES = 32;
export const HELLO_BYTES = 47;
export const MAC_BYTES = 32;
/** Largest frame accepted before the handshake ends. */
export const HANDSHAKE_MAX_FRAME_BYTES = 128;
export const COUNTER_BYTES = 8;
export const FRAME_TAG_BYTES = 16;
/** What sealing adds to a frame body. */
export const SEAL_OVERHEAD_BYTES = COUNTER_BYTES + FRAME_TAG_BYTES;

export const RefusalCode = {
  key_required: 1,
  unknown_key: 2,
  no_key_configured: 3,
  no_common_version: 4,
  bad_hello: 5,
} as const;
export type RefusalCodeName = keyof typeof RefusalCode;

export function refusalName(code: number): RefusalCodeName | undefined {
  for (const [name, value] of Object.entries(RefusalCode)) if (value === code) return name as RefusalCodeName;
  return undefined;
}

export interface Hello {
  /** Client: the stream kind. Server: the status (0 = ok, else RefusalCode). */
  readonly kindOrStatus: number;
  readonly versions: VersionRange;
  readonly maxFrameBytes: number;
  readonly maxMessageBytes: number;
  readonly keyId: number;
  readonly nonce: Buffer;
}

export function newNonce(): Buffer {
  return randomBytes(HELLO_NONCE_BYTES);
}

export function encodeHello(hello: Hello): Buffer {
  const out = Buffer.alloc(HELLO_BYTES);
  out[0] = WIRE_MAGIC_0;
  out[1] = WIRE_MAGIC_1;
  out[2] = HANDSHAKE_VERSION;
  out[3] = hello.kindOrStatus;
  out[4] = hello.versions.min;
  out[5] = hello.versions.max;
  out.writeUInt32BE(Math.min(hello.maxFrameBytes, 0xffffffff), 6);
  out.writeUInt32BE(Math.min(hello.maxMessageBytes, 0xffffffff), 10);
  out[14] = hello.keyId;
  hello.nonce.copy(out, 15, 0, HELLO_NONCE_BYTES);
  return out;
}

/** Decodes the first 47 bytes of a hello; `withMac` says whether 32 more must follow (and nothing else). */
export function decodeHello(
  body: Uint8Array,
  expectMac: 'never' | 'when-keyed',
): { ok: true; hello: Hello; mac: Buffer | undefined } | { ok: false; reason: DropReason } {
  if (body.length >= 2 && (body[0] !== WIRE_MAGIC_0 || body[1] !== WIRE_MAGIC_1)) {
    return { ok: false, reason: 'bad_magic' };
  }
  if (body.length < HELLO_BYTES) return { ok: false, reason: 'truncated' };
  if (body[2] !== HANDSHAKE_VERSION) return { ok: false, reason: 'unknown_version' };
  const buf = Buffer.from(body.buffer, body.byteOffset, body.length);
  const hello: Hello = {
    kindOrStatus: buf[3] as number,
    versions: { min: buf[4] as number, max: buf[5] as number },
    maxFrameBytes: buf.readUInt32BE(6),
    maxMessageBytes: buf.readUInt32BE(10),
    keyId: buf[14] as number,
    nonce: Buffer.from(buf.subarray(15, 15 + HELLO_NONCE_BYTES)),
  };
  const keyedReply = expectMac === 'when-keyed' && hello.keyId !== 0 && hello.kindOrStatus === 0;
  const want = HELLO_BYTES + (keyedReply ? MAC_BYTES : 0);
  if (body.length < want) return { ok: false, reason: 'truncated' };
  if (body.length > want) return { ok: false, reason: 'malformed' };
  return { ok: true, hello, mac: keyedReply ? Buffer.from(buf.subarray(HELLO_BYTES, want)) : undefined };
}

export function serverMac(key: Buffer, clientHello: Buffer, serverHelloNoMac: Buffer): Buffer {
  return createHmac('sha256', key)
    .update('krakend-cluster server\0')
    .update(clientHello)
    .update(serverHelloNoMac)
    .digest();
}

export function clientMac(key: Buffer, clientHello: Buffer, serverHello: Buffer): Buffer {
  return createHmac('sha256', key).update('krakend-cluster client\0').update(clientHello).update(serverHello).digest();
}

export function macEquals(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

export interface SessionKeys {
  readonly clientToServer: Buffer;
  readonly serverToClient: Buffer;
}

export function deriveSessionKeys(key: Buffer, clientHello: Buffer, serverHello: Buffer): SessionKeys {
  const nonceOf = (hello: Buffer): Buffer => hello.subarray(15, 15 + HELLO_NONCE_BYTES);
  const salt = Buffer.concat([nonceOf(clientHello), nonceOf(serverHello)]);
  const transcript = createHash('sha256').update(clientHello).update(serverHello).digest();
  const info = Buffer.concat([Buffer.from('krakend-cluster stream v1\0'), transcript]);
  const okm = Buffer.from(hkdfSync('sha256', key, salt, info, 64));
  return { clientToServer: okm.subarray(0, 32), serverToClient: okm.subarray(32, 64) };
}

const TWO_32 = 2 ** 32;
/** Counters are safe integers: the high word of a valid one stays below 2^21. */
const MAX_SAFE_HIGH_WORD = 2 ** 21;

/** A 64-bit big-endian counter as two words: no BigInt per frame (frames are the hot path). */
function writeCounter(out: Buffer, counter: number, at: number): void {
  out.writeUInt32BE(Math.floor(counter / TWO_32), at);
  out.writeUInt32BE(counter % TWO_32, at + 4);
}

/** Seals outgoing frame bodies with a direction key and a counter that starts at 0. */
export class FrameSealer {
  private counter = 0;
  /** `0000 | counter`, rewritten per frame (the cipher copies its IV). */
  private readonly nonce = Buffer.alloc(12);
  constructor(private readonly key: Buffer) {}

  /** The whole frame, length prefix included: `length | counter | ciphertext | tag`. */
  sealFrame(body: Uint8Array): Buffer {
    const n = this.counter++;
    const out = Buffer.allocUnsafe(FRAME_LENGTH_BYTES + SEAL_OVERHEAD_BYTES + body.length);
    out.writeUInt32BE(SEAL_OVERHEAD_BYTES + body.length, 0);
    writeCounter(out, n, FRAME_LENGTH_BYTES);
    writeCounter(this.nonce, n, 4);
    const cipher = createCipheriv('aes-256-gcm', this.key, this.nonce);
    const at = FRAME_LENGTH_BYTES + COUNTER_BYTES;
    const n1 = cipher.update(body).copy(out, at);
    const n2 = cipher.final().copy(out, at + n1);
    cipher.getAuthTag().copy(out, at + n1 + n2);
    return out;
  }
}

/** Opens incoming frame bodies, insisting on the next counter. */
export class FrameOpener {
  private expected = 0;
  private readonly nonce = Buffer.alloc(12);
  constructor(private readonly key: Buffer) {}

  open(body: Buffer): Buffer | { error: DropReason } {
    if (body.length < SEAL_OVERHEAD_BYTES) return { error: 'truncated' };
    const high = body.readUInt32BE(0);
    // A counter past the safe integers was never sealed by a peer of ours: no need to try it.
    if (high >= MAX_SAFE_HIGH_WORD) return { error: 'auth_failed' };
    const counter = high * TWO_32 + body.readUInt32BE(4);
    if (counter !== this.expected) {
      // Authenticate before blaming a replay: a forged counter is an authentication failure, not a replay.
      return { error: this.decrypt(body, counter) !== undefined ? 'replayed' : 'auth_failed' };
    }
    const plain = this.decrypt(body, counter);
    if (!plain) return { error: 'auth_failed' };
    this.expected++;
    return plain;
  }

  private decrypt(body: Buffer, counter: number): Buffer | undefined {
    try {
      writeCounter(this.nonce, counter, 4);
      const decipher = createDecipheriv('aes-256-gcm', this.key, this.nonce, {
        authTagLength: FRAME_TAG_BYTES,
      });
      decipher.setAuthTag(body.subarray(body.length - FRAME_TAG_BYTES));
      const head = decipher.update(body.subarray(COUNTER_BYTES, body.length - FRAME_TAG_BYTES));
      const tail = decipher.final();
      return tail.length === 0 ? head : Buffer.concat([head, tail]);
    } catch {
      return undefined;
    }
  }
}
