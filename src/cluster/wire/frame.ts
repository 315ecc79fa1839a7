import type { DropReason } from './drops.js';

/**
 * TCP streams. The dialer's first byte names the stream's kind, so one port serves gossip streams (push-pull,
 * fallback ping) and the control channel. Then every frame is `length u32 BE | body`, length ≤ the stated maximum.
 */
export const StreamKind = {
  /** Membership: push-pull state sync, TCP fallback ping. 'G'. */
  Gossip: 0x47,
  /** Node ⇄ manager control channel. 'C'. */
  Control: 0x43,
} as const;
export type StreamKind = (typeof StreamKind)[keyof typeof StreamKind];

export function isStreamKind(byte: number): byte is StreamKind {
  return byte === StreamKind.Gossip || byte === StreamKind.Control;
}

export const FRAME_LENGTH_BYTES = 4;
/** Largest frame body by default: 4 MiB. Peers announce theirs in the handshake; senders use the smaller. */
export const DEFAULT_MAX_FRAME_BYTES = 4 * 1024 * 1024;
/** Largest message (a reassembled chunked body) by default: 64 MiB, room for big configs. Announced too. */
export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
/** Smallest maximum a peer may announce: below it a frame could not carry a chunk. */
export const MIN_MAX_FRAME_BYTES = 256;

/**
 * Incremental reader of length-prefixed frames: push() bytes as they arrive, shift() whole frames out. A length
 * of zero or above the maximum is an error (the stream cannot be resynchronised: close it).
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  maxFrameBytes: number;

  constructor(maxFrameBytes: number) {
    this.maxFrameBytes = maxFrameBytes;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
  }

  get bufferedBytes(): number {
    return this.buffered;
  }

  /** The next whole frame body, undefined while incomplete, or the reason the stream is broken. */
  shift(): Buffer | undefined | { error: DropReason } {
    if (this.buffered < FRAME_LENGTH_BYTES) return undefined;
    const head = this.peek(FRAME_LENGTH_BYTES);
    const length = head.readUInt32BE(0);
    if (length === 0) return { error: 'malformed' };
    if (length > this.maxFrameBytes) return { error: 'oversized' };
    if (this.buffered < FRAME_LENGTH_BYTES + length) return undefined;
    this.take(FRAME_LENGTH_BYTES);
    return this.take(length);
  }

  private peek(n: number): Buffer {
    const first = this.chunks[0] as Buffer;
    if (first.length >= n) return first;
    const merged = Buffer.concat(this.chunks);
    this.chunks = [merged];
    return merged;
  }

  private take(n: number): Buffer {
    const first = this.chunks[0] as Buffer;
    let out: Buffer;
    if (first.length === n) {
      this.chunks.shift();
      out = first;
    } else if (first.length > n) {
      out = first.subarray(0, n);
      this.chunks[0] = first.subarray(n);
    } else {
      out = Buffer.allocUnsafe(n);
      let off = 0;
      while (off < n) {
        const c = this.chunks[0] as Buffer;
        const want = n - off;
        if (c.length <= want) {
          c.copy(out, off);
          off += c.length;
          this.chunks.shift();
        } else {
          c.copy(out, off, 0, want);
          this.chunks[0] = c.subarray(want);
          off += want;
        }
      }
    }
    this.buffered -= n;
    return out;
  }
}

/** `length u32 BE | body`. */
export function frame(body: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(FRAME_LENGTH_BYTES + body.length);
  out.writeUInt32BE(body.length, 0);
  out.set(body, FRAME_LENGTH_BYTES);
  return out;
}

/**
 * Chunking. Inside a stream (after the seal is removed) each frame is `flag u8 | data`:
 * 0 = a whole message; 1 = a chunk, more follow; 2 = the last chunk.
 */
export const ChunkFlag = { Whole: 0, More: 1, Last: 2 } as const;
export const CHUNK_HEADER_BYTES = 1;

/** Splits a message into frame bodies of at most `maxChunkBytes` each (flag included). */
export function splitMessage(message: Uint8Array, maxChunkBytes: number): Buffer[] {
  const room = maxChunkBytes - CHUNK_HEADER_BYTES;
  if (room < 1) throw new RangeError(`chunk size ${maxChunkBytes} leaves no room for data`);
  if (message.length <= room) {
    const out = Buffer.allocUnsafe(CHUNK_HEADER_BYTES + message.length);
    out[0] = ChunkFlag.Whole;
    out.set(message, CHUNK_HEADER_BYTES);
    return [out];
  }
  const frames: Buffer[] = [];
  for (let off = 0; off < message.length; off += room) {
    const end = Math.min(message.length, off + room);
    const out = Buffer.allocUnsafe(CHUNK_HEADER_BYTES + end - off);
    out[0] = end === message.length ? ChunkFlag.Last : ChunkFlag.More;
    out.set(message.subarray(off, end), CHUNK_HEADER_BYTES);
    frames.push(out);
  }
  return frames;
}

export type ReassemblyResult = { ok: true; message: Buffer | undefined } | { ok: false; reason: DropReason };

/**
 * Puts chunked messages back together, refusing any whose total would pass `maxMessageBytes`. Feed it every frame
 * body; it hands back a message when one is complete, undefined while one is in progress.
 */
export class Reassembler {
  private parts: Buffer[] = [];
  private size = 0;
  readonly maxMessageBytes: number;

  constructor(maxMessageBytes: number) {
    this.maxMessageBytes = maxMessageBytes;
  }

  get inProgress(): boolean {
    return this.parts.length > 0;
  }

  push(body: Buffer): ReassemblyResult {
    if (body.length < CHUNK_HEADER_BYTES) return { ok: false, reason: 'truncated' };
    const flag = body[0];
    const data = body.subarray(CHUNK_HEADER_BYTES);
    if (flag === ChunkFlag.Whole) {
      if (this.inProgress) return { ok: false, reason: 'malformed' };
      if (data.length > this.maxMessageBytes) return { ok: false, reason: 'oversized' };
      return { ok: true, message: data };
    }
    if (flag !== ChunkFlag.More && flag !== ChunkFlag.Last) return { ok: false, reason: 'malformed' };
    if (data.length === 0) return { ok: false, reason: 'malformed' };
    this.size += data.length;
    if (this.size > this.maxMessageBytes) {
      this.parts = [];
      this.size = 0;
      return { ok: false, reason: 'oversized' };
    }
    this.parts.push(data);
    if (flag === ChunkFlag.More) return { ok: true, message: undefined };
    const message = this.parts.length === 1 ? (this.parts[0] as Buffer) : Buffer.concat(this.parts, this.size);
    this.parts = [];
    this.size = 0;
    return { ok: true, message };
  }
}
