import { EventEmitter } from 'node:events';
import { connect as netConnect, createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import type { Clock, TimerHandle } from '../../base/clock.js';
import { systemClock } from '../../base/clock.js';
import { ErrorCode, KrakendError } from '../../base/errors.js';
import { DropCounters, isDropReason } from './drops.js';
import type { DropReason } from './drops.js';
import { DEFAULT_VERSIONS, EnvelopeCodec, isVersionRange, negotiate } from './envelope.js';
import type { Envelope, Message, MessageRegistry, VersionRange } from './envelope.js';
import {
  DEFAULT_MAX_FRAME_BYTES,
  DEFAULT_MAX_MESSAGE_BYTES,
  frame,
  FrameReader,
  MIN_MAX_FRAME_BYTES,
  Reassembler,
  splitMessage,
} from './frame.js';
import type { StreamKind } from './frame.js';
import {
  clientMac,
  decodeHello,
  deriveSessionKeys,
  encodeHello,
  FrameOpener,
  FrameSealer,
  HANDSHAKE_MAX_FRAME_BYTES,
  MAC_BYTES,
  macEquals,
  newNonce,
  RefusalCode,
  refusalName,
  SEAL_OVERHEAD_BYTES,
  serverMac,
} from './handshake.js';
import type { Hello, RefusalCodeName } from './handshake.js';
import type { Keyring } from './keyring.js';

/** Why a handshake was refused (sent by the acceptor, or decided by the dialer). */
export type RefusalReason = RefusalCodeName | 'unknown_kind' | 'auth_failed';

/** The error a stream closes with (handshake refused, peer broke framing, timeout, closed). */
export class WireError extends KrakendError {
  /** The drop reason or refusal behind it, when there is one. */
  readonly reason: DropReason | RefusalReason | undefined;
  constructor(code: ErrorCode, message: string, reason?: DropReason | RefusalReason, cause?: unknown) {
    super(code, message, cause === undefined ? {} : { cause });
    this.name = 'WireError';
    this.reason = reason;
  }
}

export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 5_000;
export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
export const DEFAULT_INBOX_HIGH_WATER = 64;
/** How long close() waits for the peer to finish closing before it destroys the socket. */
export const CLOSE_GRACE_MS = 2_000;

export interface StreamOptions {
  /** Message types accepted on this stream; others are dropped and counted (the stream stays up). */
  registry: MessageRegistry;
  /** Our range of the consumer protocol (default 1–1); the handshake refuses a peer with no overlap. */
  versions?: VersionRange;
  /** With a keyring: mutual proof of the key, per-session keys, every frame sealed. Without: plaintext. */
  keyring?: Keyring;
  clock?: Clock;
  /** Largest frame we accept (default 4 MiB); announced, and the peer's is respected when sending. */
  maxFrameBytes?: number;
  /** Largest message (chunks reassembled) we accept (default 64 MiB); announced, and the peer's respected. */
  maxMessageBytes?: number;
  /** Whole handshake deadline (default 5 s). */
  handshakeTimeoutMs?: number;
  /** Close when nothing arrives for this long (default 0 = never). */
  idleTimeoutMs?: number;
  /** Received envelopes buffered before the socket is paused (default 64): read-side backpressure. */
  inboxHighWater?: number;
  /** Where drops are counted (default: a new DropCounters, at `conn.drops`). */
  drops?: DropCounters;
}

export interface DialOptions extends StreamOptions {
  host: string;
  port: number;
  kind: StreamKind;
  /** TCP connect deadline (default 5 s). */
  connectTimeoutMs?: number;
}

export interface AcceptOptions {
  clock?: Clock;
  /** Deadline for the kind byte and the whole handshake (default: the kind's own, else 5 s). */
  handshakeTimeoutMs?: number;
  /** Where an unknown kind is counted (bad_magic). */
  drops?: DropCounters;
}

type Phase = 'await-server-hello' | 'await-client-hello' | 'await-client-finish' | 'open' | 'closed';
type Role = 'client' | 'server';

interface Waiter {
  resolve: (env: Envelope) => void;
  reject: (err: WireError) => void;
  timer: TimerHandle | undefined;
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (err: unknown) => void;
}

const RESOLVED: Promise<void> = Promise.resolve();

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Marks a promise as handled (its rejection still reaches whoever awaits it). */
function handled<T>(p: Promise<T>): Promise<T> {
  p.catch(() => {});
  return p;
}

function assertKeyring(keyring: Keyring | undefined): void {
  if (keyring && keyring.size === 0) {
    throw new KrakendError(ErrorCode.WireKeyInvalid, 'the keyring is empty: install a key, or pass no keyring');
  }
}

function describeRefusal(reason: RefusalReason): string {
  switch (reason) {
    case 'key_required':
      return 'the peer requires a cluster key and this side has none';
    case 'no_key_configured':
      return 'this side has a cluster key and the peer has none';
    case 'unknown_key':
      return 'the peer does not hold this cluster key (wrong cluster_key, or a rotation not yet installed there)';
    case 'no_common_version':
      return 'no common protocol version';
    case 'bad_hello':
      return 'the handshake message was malformed';
    case 'unknown_kind':
      return 'unknown stream kind';
    case 'auth_failed':
      return 'the peer failed to prove the cluster key (wrong key)';
  }
}

/**
 * One TCP stream after its handshake: send envelopes, receive them by async iteration or receive().
 *
 * - send() resolves once the frames are handed to the socket (waiting for 'drain' when the socket's buffer is
 *   full: write-side backpressure); sends are never interleaved.
 * - received envelopes queue up to `inboxHighWater`, then the socket is paused until they are consumed.
 * - any framing or authentication failure closes the stream with a WireError (counted in `drops`); a message of
 *   an unknown type or version is dropped and counted, and the stream goes on.
 * - events: 'close' (error: WireError | undefined).
 */
export class FramedConnection extends EventEmitter {
  readonly kind: StreamKind;
  readonly drops: DropCounters;
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** Resolves when the stream is closed, with the error it closed on, if any. Never rejects. */
  readonly closed: Promise<WireError | undefined>;

  private readonly socket: Socket;
  private readonly role: Role;
  private readonly clock: Clock;
  private readonly keyring: Keyring | undefined;
  private readonly versions: VersionRange;
  private readonly maxFrameBytes: number;
  private readonly maxMessageBytes: number;
  private idleTimeoutMs: number;
  private readonly inboxHighWater: number;
  private readonly envelopes: EnvelopeCodec;
  private readonly reader: FrameReader;
  private readonly reassembler: Reassembler;
  private readonly ready = deferred<void>();
  private readonly closedSignal = deferred<WireError | undefined>();

  private phase: Phase;
  private negotiated = 0;
  private sessionKeyId = 0;
  private peerMaxFrameBytes = MIN_MAX_FRAME_BYTES;
  private peerMaxMessageBytes = 0;
  private clientHello: Buffer | undefined;
  private serverHello: Buffer | undefined;
  private sessionKey: Buffer | undefined;
  private sealer: FrameSealer | undefined;
  private opener: FrameOpener | undefined;
  private readonly inbox: Envelope[] = [];
  private readonly waiters: Waiter[] = [];
  /** Set by consume(): every envelope goes to it as it arrives, with no queue and no promise. */
  private consumer: ((envelope: Envelope) => void) | undefined;
  private paused = false;
  private writeTail: Promise<void> = Promise.resolve();
  private drain: Deferred<void> | undefined;
  private closeError: WireError | undefined;
  private handshakeTimer: TimerHandle | undefined;
  private idleTimer: TimerHandle | undefined;
  private lastActivity = 0;
  private lastSend = 0;
  /** Sends waiting in the writeTail chain (behind backpressure or earlier queued sends). */
  private queuedWrites = 0;
  private corked = false;
  private unsubscribeKeyring: (() => void) | undefined;

  /** Dials, sends the kind byte, runs the handshake. Rejects with a WireError (refused, timeout, connect error). */
  static async connect(options: DialOptions): Promise<FramedConnection> {
    assertKeyring(options.keyring);
    const clock = options.clock ?? systemClock;
    const started = clock.monotonic();
    const socket = netConnect({ host: options.host, port: options.port });
    socket.setNoDelay(true);
    await new Promise<void>((resolve, reject) => {
      const timer = clock.setTimeout(() => {
        socket.destroy();
        reject(new WireError(ErrorCode.WireTimeout, `connect to ${options.host}:${options.port} timed out`));
      }, options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS);
      socket.once('connect', () => {
        clock.clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve();
      });
      socket.once('error', (err) => {
        clock.clearTimeout(timer);
        socket.destroy();
        const text = `connect to ${options.host}:${options.port}: ${err.message}`;
        reject(new WireError(ErrorCode.WireClosed, text, undefined, err));
      });
    });
    const timeout = options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
    const left = timeout - (clock.monotonic() - started);
    const conn = new FramedConnection(socket, 'client', options.kind, options, undefined, left);
    await conn.ready.promise;
    return conn;
  }

  /**
   * Accepts an incoming socket: reads the kind byte, asks `optionsFor(kind)` (undefined = unknown kind: the
   * socket is closed and counted as bad_magic), runs the handshake. Rejects with a WireError.
   */
  static async accept(
    socket: Socket,
    optionsFor: (kind: number) => StreamOptions | undefined,
    acceptOptions: AcceptOptions = {},
  ): Promise<FramedConnection> {
    const clock = acceptOptions.clock ?? systemClock;
    const started = clock.monotonic();
    const budget = acceptOptions.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
    socket.setNoDelay(true);
    const first = await new Promise<Buffer>((resolve, reject) => {
      const done = (): void => {
        clock.clearTimeout(timer);
        socket.off('data', onData);
        socket.off('error', onError);
        socket.off('close', onClose);
      };
      const onData = (chunk: Buffer): void => {
        if (chunk.length === 0) return;
        done();
        socket.pause();
        resolve(chunk);
      };
      const onError = (err: Error): void => {
        done();
        socket.destroy();
        const text = `stream closed before its kind byte: ${err.message}`;
        reject(new WireError(ErrorCode.WireHandshake, text, undefined, err));
      };
      const onClose = (): void => {
        done();
        reject(new WireError(ErrorCode.WireHandshake, 'stream closed before its kind byte'));
      };
      const timer = clock.setTimeout(() => {
        done();
        socket.destroy();
        reject(new WireError(ErrorCode.WireTimeout, 'no stream kind byte before the handshake timeout'));
      }, budget);
      socket.on('data', onData);
      socket.on('error', onError);
      socket.on('close', onClose);
    });
    const kind = first[0] as number;
    const options = optionsFor(kind);
    if (!options) {
      acceptOptions.drops?.count('bad_magic');
      socket.on('error', () => {});
      socket.destroy();
      throw new WireError(ErrorCode.WireHandshake, `unknown stream kind 0x${kind.toString(16)}`, 'unknown_kind');
    }
    const timeout = (options.handshakeTimeoutMs ?? budget) - (clock.monotonic() - started);
    let conn: FramedConnection;
    try {
      assertKeyring(options.keyring);
      conn = new FramedConnection(socket, 'server', kind as StreamKind, options, first.subarray(1), timeout);
    } catch (err) {
      socket.on('error', () => {});
      socket.destroy();
      throw err;
    }
    if (!conn.paused) socket.resume();
    await conn.ready.promise;
    return conn;
  }

  private constructor(
    socket: Socket,
    role: Role,
    kind: StreamKind,
    options: StreamOptions,
    initial: Buffer | undefined,
    handshakeTimeoutMs: number,
  ) {
    super();
    this.socket = socket;
    this.role = role;
    this.kind = kind;
    this.clock = options.clock ?? systemClock;
    this.keyring = options.keyring;
    this.versions = options.versions ?? DEFAULT_VERSIONS;
    if (!isVersionRange(this.versions)) throw new RangeError(`bad version range ${JSON.stringify(this.versions)}`);
    this.maxFrameBytes = Math.max(MIN_MAX_FRAME_BYTES, options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES);
    this.maxMessageBytes = Math.max(1, options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES);
    this.idleTimeoutMs = options.idleTimeoutMs ?? 0;
    this.inboxHighWater = Math.max(1, options.inboxHighWater ?? DEFAULT_INBOX_HIGH_WATER);
    this.drops = options.drops ?? new DropCounters();
    this.envelopes = new EnvelopeCodec({
      registry: options.registry,
      versions: this.versions,
      maxBodyBytes: this.maxMessageBytes,
    });
    this.reader = new FrameReader(HANDSHAKE_MAX_FRAME_BYTES);
    this.reassembler = new Reassembler(this.maxMessageBytes);
    this.remoteAddress = socket.remoteAddress ?? '';
    this.remotePort = socket.remotePort ?? 0;
    this.closed = this.closedSignal.promise;
    // The handshake promise is awaited by connect/accept only; keep a rejection there from being "unhandled".
    this.ready.promise.catch(() => {});

    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => {
      this.closeError ??= new WireError(ErrorCode.WireClosed, `stream error: ${err.message}`, undefined, err);
    });
    socket.on('close', () => this.finish(this.closeError));
    socket.on('drain', () => {
      const d = this.drain;
      this.drain = undefined;
      d?.resolve();
    });

    this.handshakeTimer = this.clock.setTimeout(
      () => this.fail(ErrorCode.WireTimeout, 'handshake timed out'),
      Math.max(0, handshakeTimeoutMs),
    );
    this.handshakeTimer.unref();

    if (role === 'client') {
      this.phase = 'await-server-hello';
      this.clientHello = encodeHello({
        kindOrStatus: kind,
        versions: this.versions,
        maxFrameBytes: this.maxFrameBytes,
        maxMessageBytes: this.maxMessageBytes,
        keyId: this.keyring ? this.keyring.primaryKeyId : 0,
        nonce: newNonce(),
      });
      socket.write(Buffer.concat([Buffer.from([kind]), frame(this.clientHello)]));
    } else {
      this.phase = 'await-client-hello';
      if (initial && initial.length > 0) this.onData(initial);
    }
  }

  /** The key the session was authenticated with; 0 = plaintext. */
  get keyId(): number {
    return this.sessionKeyId;
  }

  get encrypted(): boolean {
    return this.sessionKeyId !== 0;
  }

  /** The negotiated version of the consumer protocol. */
  get version(): number {
    return this.negotiated;
  }

  get isClosed(): boolean {
    return this.phase === 'closed';
  }

  /** The error the stream closed on, if it closed on one. */
  get error(): WireError | undefined {
    return this.closeError;
  }

  /** Envelopes received and not yet consumed. */
  get pending(): number {
    return this.inbox.length;
  }

  /** Monotonic time (clock.monotonic) of the last send() accepted: lets a keepalive stay quiet while traffic flows. */
  get lastSendAt(): number {
    return this.lastSend;
  }

  /** Monotonic time of the last bytes received (the handshake's end before any): liveness of the peer. */
  get lastReceiveAt(): number {
    return this.lastActivity;
  }

  /**
   * Changes how long the stream may go without receiving anything (0 = never), counted from the last bytes
   * received, as if it had been the limit all along: the control channel's heartbeat changes with the cluster's size.
   */
  setIdleTimeout(ms: number): void {
    if (!(ms >= 0) || !Number.isFinite(ms)) throw new RangeError(`bad idle timeout ${ms}`);
    this.idleTimeoutMs = ms;
    this.armIdleTimer();
  }

  get idleTimeout(): number {
    return this.idleTimeoutMs;
  }

  /**
   * Sends one message (chunked if large). Rejects with E_WIRE_OVERSIZED or E_WIRE_CLOSED (or a RangeError for a
   * type or request id out of range). A caller that does not await it never gets an unhandled rejection.
   */
  send(message: Message): Promise<void> {
    if (this.phase !== 'open') return handled(Promise.reject(this.closedError()));
    let bytes: Buffer;
    try {
      bytes = this.envelopes.encode(message);
    } catch (err) {
      return handled(Promise.reject(err));
    }
    const limit = Math.min(this.maxMessageBytes, this.peerMaxMessageBytes);
    if (bytes.length > limit) {
      const text = `message of ${bytes.length} bytes exceeds the limit of ${limit} bytes`;
      return handled(Promise.reject(new WireError(ErrorCode.WireOversized, text)));
    }
    const room = this.peerMaxFrameBytes - (this.sealer ? SEAL_OVERHEAD_BYTES : 0);
    const chunks = splitMessage(bytes, room);
    this.lastSend = this.clock.monotonic();
    if (this.queuedWrites === 0 && this.drain === undefined) {
      // Nothing queued: write now, without the promise chain (most sends, e.g. every heartbeat and ack).
      const written = this.writeNow(chunks);
      if (written === chunks.length && this.drain === undefined) return RESOLVED;
      return this.queueWrite(chunks.slice(written));
    }
    return this.queueWrite(chunks);
  }

  /** Writes after the sends queued before, and after 'drain' when the socket's buffer is full. */
  private queueWrite(chunks: readonly Buffer[]): Promise<void> {
    this.queuedWrites++;
    const write = this.writeTail
      .then(async () => {
        if (this.drain) await this.drain.promise;
        await this.writeChunks(chunks);
      })
      .finally(() => {
        this.queuedWrites--;
      });
    this.writeTail = write.catch(() => {});
    return write;
  }

  /** Writes chunks until the socket asks to wait; returns how many were written. */
  private writeNow(chunks: readonly Buffer[]): number {
    this.corkUntilTickEnd();
    for (let i = 0; i < chunks.length; i++) {
      const chunk = chunks[i]!;
      const bytes = this.sealer ? this.sealer.sealFrame(chunk) : frame(chunk);
      if (!this.socket.write(bytes)) {
        this.drain ??= deferred<void>();
        return i + 1;
      }
    }
    return chunks.length;
  }

  /** The next envelope; rejects with E_WIRE_TIMEOUT after timeoutMs, or the close error / E_WIRE_CLOSED. */
  receive(timeoutMs?: number): Promise<Envelope> {
    const next = this.inbox.shift();
    if (next) {
      this.maybeResume();
      return Promise.resolve(next);
    }
    if (this.phase === 'closed') return Promise.reject(this.closedError());
    return new Promise<Envelope>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, timer: undefined };
      if (timeoutMs !== undefined) {
        waiter.timer = this.clock.setTimeout(() => {
          const i = this.waiters.indexOf(waiter);
          if (i >= 0) this.waiters.splice(i, 1);
          reject(new WireError(ErrorCode.WireTimeout, `no message within ${timeoutMs} ms`));
        }, timeoutMs);
      }
      this.waiters.push(waiter);
    });
  }

  /**
   * Hands every envelope to `handler` as it arrives (those already received first), synchronously: no promise and
   * no queue per message, where `for await` makes both. At 1,000 channels that mattered: each channel's pending
   * promise lived until its next message, seconds later, so V8 moved such objects straight to the old generation,
   * and that garbage set off a full collection every few seconds. The handler runs inside the socket's read; a
   * handler that throws closes the stream with that error. Resolves when the stream closes cleanly; rejects with
   * the WireError it closed on otherwise. Not to be mixed with receive().
   */
  consume(handler: (envelope: Envelope) => void): Promise<void> {
    if (this.consumer !== undefined || this.waiters.length > 0) {
      return handled(Promise.reject(new Error('consume(): the stream already has a reader')));
    }
    this.consumer = handler;
    for (let next = this.inbox.shift(); next !== undefined && this.consumer === handler; next = this.inbox.shift()) {
      this.handOver(handler, next);
    }
    if (this.paused && this.phase !== 'closed') {
      this.paused = false;
      this.socket.resume();
      queueMicrotask(() => this.onData(Buffer.alloc(0)));
    }
    return this.closed.then((err) => {
      if (err !== undefined) throw err;
    });
  }

  private handOver(handler: (envelope: Envelope) => void, envelope: Envelope): void {
    try {
      handler(envelope);
    } catch (err) {
      const message = `message handler failed: ${(err as Error).message ?? String(err)}`;
      this.destroy(new WireError(ErrorCode.WireClosed, message, undefined, err));
    }
  }

  /** Ends when the stream closes cleanly; throws the WireError it closed on otherwise. */
  [Symbol.asyncIterator](): AsyncIterator<Envelope> {
    return {
      next: async (): Promise<IteratorResult<Envelope>> => {
        try {
          return { done: false, value: await this.receive() };
        } catch (err) {
          if (this.phase === 'closed' && this.inbox.length === 0 && this.closeError === undefined) {
            return { done: true, value: undefined };
          }
          throw err;
        }
      },
      return: async (): Promise<IteratorResult<Envelope>> => ({ done: true, value: undefined }),
    };
  }

  /** Flushes queued sends, then ends the socket. Resolves when closed. */
  async close(): Promise<void> {
    if (this.phase === 'closed') return;
    await this.writeTail;
    if (!this.isClosed) {
      this.socket.end();
      const grace = this.clock.setTimeout(() => this.destroy(), CLOSE_GRACE_MS);
      grace.unref();
      await this.closed;
      this.clock.clearTimeout(grace);
    }
  }

  /** Closes at once, dropping queued sends. */
  destroy(error?: WireError): void {
    if (this.phase === 'closed') return;
    if (error && !this.closeError) this.closeError = error;
    this.socket.destroy();
    this.finish(this.closeError);
  }

  // ---- reading ----

  private onData(chunk: Buffer): void {
    if (this.phase === 'closed') return;
    this.lastActivity = this.clock.monotonic();
    this.reader.push(chunk);
    for (;;) {
      if (this.isClosed) return;
      // Pause also stops consuming buffered frames: the inbox bound holds even for one large TCP read.
      if (this.paused) return;
      const next = this.reader.shift();
      if (next === undefined) return;
      if (!Buffer.isBuffer(next)) {
        this.fail(ErrorCode.WireProtocol, `bad frame (${next.error})`, next.error);
        return;
      }
      this.onFrame(next);
    }
  }

  private onFrame(body: Buffer): void {
    switch (this.phase) {
      case 'await-client-hello':
        this.onClientHello(body);
        return;
      case 'await-server-hello':
        this.onServerHello(body);
        return;
      case 'await-client-finish':
        this.onClientFinish(body);
        return;
      case 'open':
        this.onOpenFrame(body);
        return;
      case 'closed':
        return;
    }
  }

  private onClientHello(body: Buffer): void {
    const decoded = decodeHello(body, 'never');
    if (!decoded.ok) {
      this.refuse('bad_hello', decoded.reason);
      return;
    }
    const hello = decoded.hello;
    if (hello.kindOrStatus !== this.kind || hello.maxFrameBytes < MIN_MAX_FRAME_BYTES || hello.maxMessageBytes < 1) {
      this.refuse('bad_hello', 'malformed');
      return;
    }
    if (this.keyring && hello.keyId === 0) return this.refuse('key_required', 'auth_failed');
    if (!this.keyring && hello.keyId !== 0) return this.refuse('no_key_configured', 'auth_failed');
    const key = hello.keyId === 0 ? undefined : this.keyring?.get(hello.keyId);
    if (hello.keyId !== 0 && !key) return this.refuse('unknown_key', 'auth_failed');
    const version = negotiate(this.versions, hello.versions);
    if (version === undefined) return this.refuse('no_common_version', 'unknown_version');

    this.clientHello = body;
    this.negotiated = version;
    this.peerMaxFrameBytes = hello.maxFrameBytes;
    this.peerMaxMessageBytes = hello.maxMessageBytes;
    const reply = encodeHello({
      kindOrStatus: 0,
      versions: this.versions,
      maxFrameBytes: this.maxFrameBytes,
      maxMessageBytes: this.maxMessageBytes,
      keyId: hello.keyId,
      nonce: newNonce(),
    });
    if (!key) {
      this.serverHello = reply;
      this.socket.write(frame(reply));
      this.open(undefined, 0);
      return;
    }
    this.serverHello = Buffer.concat([reply, serverMac(key, body, reply)]);
    this.sessionKey = key;
    this.sessionKeyId = hello.keyId;
    this.socket.write(frame(this.serverHello));
    this.phase = 'await-client-finish';
  }

  private onServerHello(body: Buffer): void {
    const decoded = decodeHello(body, 'when-keyed');
    if (!decoded.ok) {
      this.fail(ErrorCode.WireHandshake, `bad handshake reply (${decoded.reason})`, decoded.reason);
      return;
    }
    const { hello, mac } = decoded;
    if (hello.kindOrStatus !== 0) {
      const name: RefusalReason = refusalName(hello.kindOrStatus) ?? 'bad_hello';
      const counted: DropReason =
        name === 'no_common_version' ? 'unknown_version' : name === 'bad_hello' ? 'malformed' : 'auth_failed';
      this.drops.count(counted);
      this.destroy(new WireError(ErrorCode.WireHandshake, `refused by the peer: ${describeRefusal(name)}`, name));
      return;
    }
    const ourKeyId = this.keyring ? this.keyring.primaryKeyId : 0;
    const version = negotiate(this.versions, hello.versions);
    if (hello.keyId !== ourKeyId || hello.maxFrameBytes < MIN_MAX_FRAME_BYTES || hello.maxMessageBytes < 1) {
      this.fail(ErrorCode.WireHandshake, 'bad handshake reply (key id or limits)', 'auth_failed');
      return;
    }
    if (version === undefined) {
      this.fail(ErrorCode.WireHandshake, describeRefusal('no_common_version'), 'unknown_version');
      return;
    }
    this.negotiated = version;
    this.peerMaxFrameBytes = hello.maxFrameBytes;
    this.peerMaxMessageBytes = hello.maxMessageBytes;
    this.serverHello = body;
    const clientHello = this.clientHello as Buffer;
    if (ourKeyId === 0) {
      this.open(undefined, 0);
      return;
    }
    const key = this.keyring?.get(ourKeyId) as Buffer;
    const expected = serverMac(key, clientHello, body.subarray(0, body.length - MAC_BYTES));
    if (!mac || !macEquals(mac, expected)) {
      this.fail(ErrorCode.WireHandshake, describeRefusal('auth_failed'), 'auth_failed');
      return;
    }
    this.socket.write(frame(clientMac(key, clientHello, body)));
    this.open(key, ourKeyId);
  }

  private onClientFinish(body: Buffer): void {
    const key = this.sessionKey as Buffer;
    const expected = clientMac(key, this.clientHello as Buffer, this.serverHello as Buffer);
    if (body.length !== MAC_BYTES || !macEquals(body, expected)) {
      this.fail(ErrorCode.WireHandshake, describeRefusal('auth_failed'), 'auth_failed');
      return;
    }
    this.open(key, this.sessionKeyId);
  }

  private open(key: Buffer | undefined, keyId: number): void {
    if (key) {
      const keys = deriveSessionKeys(key, this.clientHello as Buffer, this.serverHello as Buffer);
      const client = this.role === 'client';
      const mine = client ? keys.clientToServer : keys.serverToClient;
      const theirs = client ? keys.serverToClient : keys.clientToServer;
      this.sealer = new FrameSealer(mine);
      this.opener = new FrameOpener(theirs);
      this.sessionKeyId = keyId;
      this.unsubscribeKeyring = this.keyring?.onRemove((removed) => {
        if (removed === keyId) {
          const text = `cluster key ${keyId} was removed from the keyring`;
          this.destroy(new WireError(ErrorCode.WireClosed, text, 'auth_failed'));
        }
      });
    }
    this.sessionKey = undefined;
    this.phase = 'open';
    this.reader.maxFrameBytes = this.maxFrameBytes;
    this.clock.clearTimeout(this.handshakeTimer);
    this.handshakeTimer = undefined;
    this.lastActivity = this.clock.monotonic();
    this.lastSend = this.lastActivity;
    this.armIdleTimer();
    this.ready.resolve();
  }

  private onOpenFrame(body: Buffer): void {
    let plain: Buffer = body;
    if (this.opener) {
      const opened = this.opener.open(body);
      if (!Buffer.isBuffer(opened)) {
        this.fail(ErrorCode.WireProtocol, `frame refused (${opened.error})`, opened.error);
        return;
      }
      plain = opened;
    }
    const assembled = this.reassembler.push(plain);
    if (!assembled.ok) {
      this.fail(ErrorCode.WireProtocol, `message refused (${assembled.reason})`, assembled.reason);
      return;
    }
    if (!assembled.message) return;
    const decoded = this.envelopes.decode(assembled.message, this.sessionKeyId);
    if (!decoded.ok) {
      // The framing is intact: drop this message only (a newer peer's type, say) and go on.
      this.drops.count(decoded.reason);
      return;
    }
    this.deliver(decoded.envelope);
  }

  private deliver(envelope: Envelope): void {
    if (this.consumer !== undefined) {
      this.handOver(this.consumer, envelope);
      return;
    }
    const waiter = this.waiters.shift();
    if (waiter) {
      this.clock.clearTimeout(waiter.timer);
      waiter.resolve(envelope);
      return;
    }
    this.inbox.push(envelope);
    if (this.inbox.length >= this.inboxHighWater && !this.paused) {
      this.paused = true;
      this.socket.pause();
    }
  }

  private maybeResume(): void {
    if (!this.paused || this.inbox.length > this.inboxHighWater / 2 || this.phase === 'closed') return;
    this.paused = false;
    this.socket.resume();
    // Frames already buffered were left in the reader while paused: process them now.
    queueMicrotask(() => this.onData(Buffer.alloc(0)));
  }

  // ---- writing ----

  private async writeChunks(chunks: readonly Buffer[]): Promise<void> {
    this.corkUntilTickEnd();
    for (const chunk of chunks) {
      if (this.phase !== 'open') throw this.closedError();
      const bytes = this.sealer ? this.sealer.sealFrame(chunk) : frame(chunk);
      if (!this.socket.write(bytes)) {
        this.drain ??= deferred<void>();
        await this.drain.promise;
      }
    }
  }

  /**
   * Frames written in the same tick leave in one syscall: each write is otherwise a syscall of its own (on
   * loopback the costliest part of sending a small frame), and a burst (resent deltas, a heartbeat after an ack)
   * is common. The uncork runs once the tick's microtasks (where queued sends write) have run.
   */
  private corkUntilTickEnd(): void {
    if (this.corked) return;
    this.corked = true;
    this.socket.cork();
    process.nextTick(() => {
      this.corked = false;
      this.socket.uncork();
    });
  }

  // ---- closing ----

  private refuse(reason: RefusalCodeName, counted: DropReason): void {
    this.drops.count(counted);
    const reply = encodeHello({
      kindOrStatus: RefusalCode[reason],
      versions: this.versions,
      maxFrameBytes: this.maxFrameBytes,
      maxMessageBytes: this.maxMessageBytes,
      keyId: 0,
      nonce: Buffer.alloc(32),
    });
    this.closeError = new WireError(ErrorCode.WireHandshake, `refused: ${describeRefusal(reason)}`, reason);
    this.phase = 'closed';
    this.socket.end(frame(reply));
    // Let the refusal reach the peer, but never wait on it for long.
    const timer = this.clock.setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS);
    timer.unref();
    this.socket.once('close', () => this.clock.clearTimeout(timer));
    this.finish(this.closeError);
  }

  private fail(code: ErrorCode, message: string, reason?: DropReason | RefusalReason): void {
    if (this.phase === 'closed') return;
    if (reason && isDropReason(reason)) this.drops.count(reason);
    this.destroy(new WireError(code, message, reason));
  }

  private closedError(): WireError {
    if (this.closeError) return this.closeError;
    return new WireError(ErrorCode.WireClosed, 'stream closed');
  }

  /** Idempotent: settles everything that waits on this stream. */
  private finish(error: WireError | undefined): void {
    const wasOpen = this.phase === 'open';
    const handshaking = this.phase !== 'open' && this.phase !== 'closed';
    this.phase = 'closed';
    if (error && !this.closeError) this.closeError = error;
    if (this.closedSettled) return;
    this.closedSettled = true;
    this.clock.clearTimeout(this.handshakeTimer);
    this.clock.clearTimeout(this.idleTimer);
    this.unsubscribeKeyring?.();
    const err = this.closeError;
    if (handshaking || !wasOpen) {
      this.ready.reject(err ?? new WireError(ErrorCode.WireHandshake, 'stream closed during the handshake'));
    }
    for (const w of this.waiters.splice(0)) {
      this.clock.clearTimeout(w.timer);
      w.reject(err ?? new WireError(ErrorCode.WireClosed, 'stream closed'));
    }
    const d = this.drain;
    this.drain = undefined;
    d?.reject(err ?? new WireError(ErrorCode.WireClosed, 'stream closed'));
    d?.promise.catch(() => {});
    this.closedSignal.resolve(err);
    this.emit('close', err);
  }
  private closedSettled = false;

  private armIdleTimer(): void {
    // One timer at a time, also when setIdleTimeout re-arms while a check waits for this turn's reads.
    this.clock.clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    if (this.idleTimeoutMs <= 0 || this.phase !== 'open') return;
    const wait = Math.max(1, this.lastActivity + this.idleTimeoutMs - this.clock.monotonic());
    this.idleTimer = this.clock.setTimeout(() => {
      if (this.phase !== 'open') return;
      if (this.clock.monotonic() - this.lastActivity < this.idleTimeoutMs) {
        this.armIdleTimer();
        return;
      }
      // Timers run before I/O in an event-loop turn: after a stall of this process, bytes may be waiting unread.
      // Decide once this turn's reads are done, not on a stale view (else every peer is dropped after a stall).
      setImmediate(() => {
        if (this.phase !== 'open' || this.idleTimeoutMs <= 0) return;
        if (this.clock.monotonic() - this.lastActivity >= this.idleTimeoutMs) {
          this.fail(ErrorCode.WireTimeout, `nothing received for ${this.idleTimeoutMs} ms`);
        } else {
          this.armIdleTimer();
        }
      });
    }, wait);
    this.idleTimer.unref();
  }
}

/** Dials a stream: FramedConnection.connect. */
export function dialStream(options: DialOptions): Promise<FramedConnection> {
  return FramedConnection.connect(options);
}

export interface StreamRoute {
  options: StreamOptions;
  onConnection: (conn: FramedConnection) => void;
}

export interface StreamServerOptions {
  routes: Partial<Record<StreamKind, StreamRoute>>;
  clock?: Clock;
  handshakeTimeoutMs?: number;
  /** Counts unknown kinds, and the drops of routes that bring no counters of their own. */
  drops?: DropCounters;
  /** Each failed handshake (already counted): for a debug log. */
  onError?: (error: WireError) => void;
}

/**
 * The TCP side of a cluster port: accepts sockets, reads the kind byte, runs the handshake with that kind's
 * options, and hands each established FramedConnection to its route. Failed handshakes are counted and closed.
 */
export class StreamServer {
  readonly drops: DropCounters;
  private readonly options: StreamServerOptions;
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();

  constructor(options: StreamServerOptions) {
    this.options = options;
    this.drops = options.drops ?? new DropCounters();
  }

  /** Listens on its own net.Server (port 0 = any free port). */
  listen(port: number, host?: string): Promise<AddressInfo> {
    const server = createServer((socket) => this.handle(socket));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        server.on('error', (err) => {
          this.options.onError?.(new WireError(ErrorCode.WireClosed, `cluster port: ${err.message}`, undefined, err));
        });
        resolve(server.address() as AddressInfo);
      });
    });
  }

  /** Takes one accepted socket (for composing with a net.Server of one's own). */
  handle(socket: Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    socket.on('error', () => {});
    const pick = (kind: number): StreamOptions | undefined => {
      const route = this.options.routes[kind as StreamKind];
      if (!route) return undefined;
      return route.options.drops ? route.options : { ...route.options, drops: this.drops };
    };
    FramedConnection.accept(socket, pick, {
      ...(this.options.clock ? { clock: this.options.clock } : {}),
      ...(this.options.handshakeTimeoutMs !== undefined ? { handshakeTimeoutMs: this.options.handshakeTimeoutMs } : {}),
      drops: this.drops,
    }).then(
      (conn) => {
        this.options.routes[conn.kind]?.onConnection(conn);
      },
      (err: unknown) => {
        if (err instanceof WireError) this.options.onError?.(err);
      },
    );
  }

  /** Stops listening and closes every socket it accepted. */
  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
