/**
 * The manager's durable store: JSON values under string keys, written with compare-and-set.
 *
 * The interface is shaped after etcd's so that a replicated store (etcd itself, or a consensus group of managers)
 * can implement it later without changing its callers:
 * - every successful write increments one store-wide **revision**; an entry's `version` is the revision of its
 *   last write (etcd's mod_revision), so versions of different keys can be compared, and a deleted-then-recreated
 *   key never reuses a version;
 * - `put` and `delete` take an optional expected version: `0` means "must not exist", `n` means "must still be at
 *   version n"; a mismatch answers `{ ok: false, current }` instead of writing;
 * - `watch(prefix)` reports committed writes in revision order;
 * - values are immutable: the store deep-freezes what it is given, and what it returns is frozen.
 *
 * Two implementations: {@link MemoryStore} (tests, and managers that want no state) and {@link FileStore}, which
 * keeps the whole store in memory and writes it as one snapshot file per commit with a crash-safe atomic rename.
 * Concurrent writes are group-committed: while one snapshot is being written and fsynced, new writes queue up and
 * all go into the next snapshot, so 50 nodes joining at once cost two or three fsyncs, not 50. The snapshot
 * approach suits the manager's data (a registry of nodes, config versions, a license: kilobytes to a few
 * megabytes); a write-ahead log would be the next step if the store grew large.
 */
import { mkdir, readdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../../base/atomic-file.js';
import { ErrorCode, KrakendError } from '../../base/errors.js';
import type { Logger } from '../../base/logger.js';

export type JsonValue = null | boolean | number | string | readonly JsonValue[] | { readonly [key: string]: JsonValue };

export interface StoreEntry {
  readonly key: string;
  /** Deep-frozen. */
  readonly value: JsonValue;
  /** The store revision of the entry's last write: >= 1. */
  readonly version: number;
}

export interface PutOptions {
  /** `0`: the key must not exist. `n > 0`: the key must be at version n. Absent: write unconditionally. */
  readonly expectedVersion?: number;
}

export type PutResult =
  | { readonly ok: true; readonly version: number }
  /** The expectation failed; nothing was written. `current` is what the key holds (undefined: absent). */
  | { readonly ok: false; readonly current: StoreEntry | undefined };

export type DeleteResult =
  /** `deleted` is false when the key was already absent (and no expectation said otherwise). */
  | { readonly ok: true; readonly deleted: boolean }
  | { readonly ok: false; readonly current: StoreEntry | undefined };

export type StoreEvent =
  | { readonly type: 'put'; readonly key: string; readonly value: JsonValue; readonly version: number }
  /** `version` is the revision of the deletion. */
  | { readonly type: 'delete'; readonly key: string; readonly version: number };

export type StoreListener = (event: StoreEvent) => void;

export interface Store {
  /** The entry under `key`, reflecting every write issued before this call. */
  get(key: string): Promise<StoreEntry | undefined>;
  /** Every entry whose key starts with `prefix` (`''`: all), sorted by key. */
  list(prefix: string): Promise<StoreEntry[]>;
  /**
   * Writes `value` (any JSON; deep-copied and frozen) under `key`. Resolves once the write is durable; rejects
   * (E_FILE_WRITE for a FileStore) when it could not be made durable, in which case it did not happen.
   */
  put(key: string, value: JsonValue, options?: PutOptions): Promise<PutResult>;
  /** Deletes `key`; with `expectedVersion` (as for put), only if it matches. */
  delete(key: string, expectedVersion?: number): Promise<DeleteResult>;
  /**
   * Calls `listener` for each committed write to a key starting with `prefix`, in revision order, synchronously
   * after the write commits (before its promise resolves). No replay: `list` first, then compare versions.
   * A throwing listener is reported and does not disturb the store or other listeners. Returns an unsubscribe.
   */
  watch(prefix: string, listener: StoreListener): () => void;
  /** The store's revision: that of its latest committed write, 0 for a store never written. Monotonic forever. */
  revision(): Promise<number>;
  /** Waits for pending writes, then refuses every further call with E_STORE_CLOSED. Idempotent. */
  close(): Promise<void>;
}

/** Longest key accepted. Keys are opaque strings; `/` is the conventional separator (`nodes/krakend_…`). */
export const MAX_KEY_LENGTH = 1024;
const MAX_DEPTH = 64;

export interface StoreOptions {
  /** Where throwing watch listeners are reported; without one, as a process warning. */
  readonly logger?: Logger;
}

// ---------------------------------------------------------------------------------------------------------------
// Shared pieces

/** Copies a JSON value into a deep-frozen one; throws a TypeError on anything JSON cannot carry exactly. */
export function freezeJson(value: unknown, depth = 0): JsonValue {
  if (depth > MAX_DEPTH) throw new TypeError(`store values may nest at most ${MAX_DEPTH} levels`);
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return value;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError('store values cannot hold NaN or Infinity');
    return value;
  }
  if (Array.isArray(value)) return Object.freeze(value.map((v) => freezeJson(v, depth + 1)));
  if (typeof value === 'object') {
    const proto = Object.getPrototypeOf(value) as unknown;
    if (proto !== Object.prototype && proto !== null) {
      throw new TypeError(`store values must be plain JSON; got a ${value.constructor?.name ?? 'non-plain object'}`);
    }
    const out: Record<string, JsonValue> = {};
    for (const [k, v] of Object.entries(value)) {
      // defineProperty, so that a "__proto__" key stays an own property as JSON.parse makes it.
      Object.defineProperty(out, k, { value: freezeJson(v, depth + 1), enumerable: true, writable: false });
    }
    return Object.freeze(out);
  }
  throw new TypeError(`store values must be JSON; got ${typeof value}`);
}

function checkKey(key: string): void {
  if (typeof key !== 'string' || key.length === 0 || key.length > MAX_KEY_LENGTH) {
    throw new TypeError(`a store key must be a string of 1 to ${MAX_KEY_LENGTH} characters`);
  }
}

function checkExpected(expected: number | undefined): void {
  if (expected !== undefined && (!Number.isSafeInteger(expected) || expected < 0)) {
    throw new TypeError('expectedVersion must be a non-negative integer (0: must not exist)');
  }
}

/** Whether `entry` satisfies `expected` (undefined: anything does). */
function matches(entry: StoreEntry | undefined, expected: number | undefined): boolean {
  if (expected === undefined) return true;
  if (expected === 0) return entry === undefined;
  return entry !== undefined && entry.version === expected;
}

function sortedWithPrefix(map: ReadonlyMap<string, StoreEntry>, prefix: string): StoreEntry[] {
  const out: StoreEntry[] = [];
  for (const [key, entry] of map) if (key.startsWith(prefix)) out.push(entry);
  return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

class Watchers {
  private readonly listeners = new Set<{ prefix: string; listener: StoreListener }>();

  constructor(private readonly logger: Logger | undefined) {}

  add(prefix: string, listener: StoreListener): () => void {
    if (typeof prefix !== 'string') throw new TypeError('a watch prefix must be a string');
    const entry = { prefix, listener };
    this.listeners.add(entry);
    return () => void this.listeners.delete(entry);
  }

  emit(event: StoreEvent): void {
    for (const w of [...this.listeners]) {
      if (!event.key.startsWith(w.prefix)) continue;
      try {
        w.listener(event);
      } catch (err) {
        const message = `a store watcher for "${w.prefix}" threw on ${event.type} ${event.key}: ${String(err)}`;
        if (this.logger) this.logger.error(message);
        else process.emitWarning(message, 'StoreWatcherError');
      }
    }
  }

  clear(): void {
    this.listeners.clear();
  }
}

function closedError(): KrakendError {
  return new KrakendError(ErrorCode.StoreClosed, 'the store is closed');
}

// ---------------------------------------------------------------------------------------------------------------
// MemoryStore

/** A Store in memory only: every write commits at once. */
export class MemoryStore implements Store {
  private readonly entries = new Map<string, StoreEntry>();
  private rev = 0;
  private closed = false;
  private readonly watchers: Watchers;

  constructor(options: StoreOptions = {}) {
    this.watchers = new Watchers(options.logger);
  }

  async get(key: string): Promise<StoreEntry | undefined> {
    this.open();
    checkKey(key);
    return this.entries.get(key);
  }

  async list(prefix: string): Promise<StoreEntry[]> {
    this.open();
    return sortedWithPrefix(this.entries, prefix);
  }

  async put(key: string, value: JsonValue, options: PutOptions = {}): Promise<PutResult> {
    this.open();
    checkKey(key);
    checkExpected(options.expectedVersion);
    const frozen = freezeJson(value);
    const current = this.entries.get(key);
    if (!matches(current, options.expectedVersion)) return { ok: false, current };
    const entry: StoreEntry = Object.freeze({ key, value: frozen, version: ++this.rev });
    this.entries.set(key, entry);
    this.watchers.emit({ type: 'put', key, value: frozen, version: entry.version });
    return { ok: true, version: entry.version };
  }

  async delete(key: string, expectedVersion?: number): Promise<DeleteResult> {
    this.open();
    checkKey(key);
    checkExpected(expectedVersion);
    const current = this.entries.get(key);
    if (!matches(current, expectedVersion)) return { ok: false, current };
    if (!current) return { ok: true, deleted: false };
    this.entries.delete(key);
    this.watchers.emit({ type: 'delete', key, version: ++this.rev });
    return { ok: true, deleted: true };
  }

  watch(prefix: string, listener: StoreListener): () => void {
    this.open();
    return this.watchers.add(prefix, listener);
  }

  async revision(): Promise<number> {
    this.open();
    return this.rev;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.watchers.clear();
  }

  private open(): void {
    if (this.closed) throw closedError();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// FileStore

/** The snapshot's name inside the store directory. */
export const STORE_FILE = 'store.json';
const FORMAT = 'krakend-cluster-store';
const FORMAT_VERSION = 1;
/** Temporary files writeFileAtomic leaves behind when the process dies mid-write: `.store.json.<pid>.<hex>.tmp`. */
const STALE_TEMP = /^\.store\.json\.\d+\.[0-9a-f]+\.tmp$/;

export interface CommitInfo {
  /** Writes made durable by this snapshot. */
  readonly writes: number;
  /** The store revision the snapshot holds. */
  readonly revision: number;
  readonly bytes: number;
  readonly durationMs: number;
}

export interface FileStoreOptions extends StoreOptions {
  /** Called after each snapshot is durable: one call per fsync batch. For metrics and tests. */
  readonly onCommit?: (info: CommitInfo) => void;
  /** Replaces the crash-safe writer: for tests that simulate failing disks. Must be atomic and durable. */
  readonly writeFile?: (path: string, data: string) => Promise<void>;
}

type PendingOp =
  | { readonly type: 'put'; readonly entry: StoreEntry }
  | { readonly type: 'delete'; readonly key: string; readonly version: number };

interface PendingWrite {
  readonly op: PendingOp;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

/**
 * A durable Store in one directory: the whole store lives in memory and in `<dir>/store.json`, rewritten
 * atomically (temp file, fsync, rename, directory fsync) by group commits. A write resolves only once it is on
 * disk, and only then is it visible to get/list and watchers; reads wait for the writes issued before them.
 * If a snapshot cannot be written, every write not yet durable is rejected and undone, so memory never runs
 * ahead of the disk. Open with {@link FileStore.open}. One process per directory.
 */
export class FileStore implements Store {
  /** Durable state: what get/list answer. */
  private committed: Map<string, StoreEntry>;
  private committedRevision: number;
  /** Durable state plus queued writes: what compare-and-set checks against. */
  private head: Map<string, StoreEntry>;
  private headRevision: number;
  private queue: PendingWrite[] = [];
  private draining: Promise<void> | undefined;
  /** Settles when every write issued so far has settled. */
  private settled: Promise<void> = Promise.resolve();
  private closed = false;
  private readonly watchers: Watchers;
  private readonly writeFile: (path: string, data: string) => Promise<void>;
  private readonly onCommit: ((info: CommitInfo) => void) | undefined;

  private constructor(
    readonly path: string,
    entries: Map<string, StoreEntry>,
    revision: number,
    options: FileStoreOptions,
  ) {
    this.committed = entries;
    this.committedRevision = revision;
    this.head = new Map(entries);
    this.headRevision = revision;
    this.watchers = new Watchers(options.logger);
    this.writeFile = options.writeFile ?? ((path, data) => writeFileAtomic(path, data, { mode: 0o600 }));
    this.onCommit = options.onCommit;
  }

  /**
   * Opens (creating if needed) the store in `dir`: removes temporary files a crash left behind, loads the
   * snapshot, and writes an empty one when there is none, so an unwritable directory fails now and not at the
   * first join. A snapshot that cannot be read or parsed fails with E_STORE_CORRUPT naming the file: the store
   * never starts empty over an unreadable file.
   */
  static async open(dir: string, options: FileStoreOptions = {}): Promise<FileStore> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    for (const name of await readdir(dir)) {
      if (STALE_TEMP.test(name)) await unlink(join(dir, name)).catch(() => {});
    }
    const path = join(dir, STORE_FILE);
    let text: string | undefined;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        const why = `cannot read the store file ${path}: ${(err as Error).message}`;
        throw new KrakendError(ErrorCode.StoreCorrupt, why, { cause: err });
      }
    }
    if (text === undefined) {
      const store = new FileStore(path, new Map(), 0, options);
      await store.writeFile(path, serialize(new Map(), 0));
      return store;
    }
    const { entries, revision } = parseSnapshot(text, path);
    return new FileStore(path, entries, revision, options);
  }

  async get(key: string): Promise<StoreEntry | undefined> {
    this.open();
    checkKey(key);
    await this.settled;
    return this.committed.get(key);
  }

  async list(prefix: string): Promise<StoreEntry[]> {
    this.open();
    await this.settled;
    return sortedWithPrefix(this.committed, prefix);
  }

  async put(key: string, value: JsonValue, options: PutOptions = {}): Promise<PutResult> {
    this.open();
    checkKey(key);
    checkExpected(options.expectedVersion);
    const frozen = freezeJson(value);
    const current = this.head.get(key);
    if (!matches(current, options.expectedVersion)) return { ok: false, current };
    const entry: StoreEntry = Object.freeze({ key, value: frozen, version: ++this.headRevision });
    this.head.set(key, entry);
    await this.enqueue({ type: 'put', entry });
    return { ok: true, version: entry.version };
  }

  async delete(key: string, expectedVersion?: number): Promise<DeleteResult> {
    this.open();
    checkKey(key);
    checkExpected(expectedVersion);
    const current = this.head.get(key);
    if (!matches(current, expectedVersion)) return { ok: false, current };
    if (!current) return { ok: true, deleted: false };
    this.head.delete(key);
    await this.enqueue({ type: 'delete', key, version: ++this.headRevision });
    return { ok: true, deleted: true };
  }

  watch(prefix: string, listener: StoreListener): () => void {
    this.open();
    return this.watchers.add(prefix, listener);
  }

  async revision(): Promise<number> {
    this.open();
    await this.settled;
    return this.committedRevision;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.settled;
    this.watchers.clear();
  }

  private open(): void {
    if (this.closed) throw closedError();
  }

  /** Queues a write already applied to `head`; resolves when it is durable. */
  private enqueue(op: PendingOp): Promise<void> {
    const done = new Promise<void>((resolve, reject) => this.queue.push({ op, resolve, reject }));
    const previous = this.settled;
    this.settled = Promise.all([previous, done.catch(() => {})]).then(() => {});
    // Start draining after the current synchronous burst, so writes issued together share the first snapshot.
    if (!this.draining) this.draining = Promise.resolve().then(() => this.drain());
    return done;
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch = this.queue;
        this.queue = [];
        // head is exactly committed + this batch here: earlier batches have settled, later writes are not yet in.
        const snapshot = new Map(this.head);
        const revision = this.headRevision;
        const text = serialize(snapshot, revision);
        const started = performance.now();
        try {
          await this.writeFile(this.path, text);
        } catch (err) {
          this.rollback(batch, err);
          continue;
        }
        this.committed = snapshot;
        this.committedRevision = revision;
        try {
          this.onCommit?.({
            writes: batch.length,
            revision,
            bytes: Buffer.byteLength(text),
            durationMs: performance.now() - started,
          });
        } catch {
          // A metrics hook must not leave writes unanswered.
        }
        for (const w of batch) {
          const op = w.op;
          if (op.type === 'put') {
            this.watchers.emit({ type: 'put', key: op.entry.key, value: op.entry.value, version: op.entry.version });
          } else {
            this.watchers.emit({ type: 'delete', key: op.key, version: op.version });
          }
          w.resolve();
        }
      }
    } finally {
      this.draining = undefined;
    }
  }

  /**
   * A snapshot failed: its writes did not happen. Writes queued meanwhile were checked against a head that held
   * them, so they are refused too, and head returns to the durable state. Revisions are not reused.
   */
  private rollback(batch: PendingWrite[], cause: unknown): void {
    const queued = this.queue;
    this.queue = [];
    this.head = new Map(this.committed);
    const err =
      cause instanceof KrakendError
        ? cause
        : new KrakendError(ErrorCode.FileWrite, `cannot write ${this.path}: ${String(cause)}`, { cause });
    for (const w of batch) w.reject(err);
    const dependent = new KrakendError(
      ErrorCode.FileWrite,
      `write not attempted: an earlier write to ${this.path} failed (${err.message})`,
      { cause: err },
    );
    for (const w of queued) w.reject(dependent);
  }
}

/** One entry per line, keys sorted: diffable by an operator, parseable as one JSON document. */
function serialize(entries: ReadonlyMap<string, StoreEntry>, revision: number): string {
  const keys = [...entries.keys()].sort();
  const lines = keys.map((k) => {
    const e = entries.get(k) as StoreEntry;
    return `${JSON.stringify(k)}:${JSON.stringify({ version: e.version, value: e.value })}`;
  });
  const head =
    `{"format":${JSON.stringify(FORMAT)},"format_version":${FORMAT_VERSION},` +
    `"revision":${revision},"entries":{`;
  return lines.length === 0 ? `${head}}}\n` : `${head}\n${lines.join(',\n')}\n}}\n`;
}

function parseSnapshot(text: string, path: string): { entries: Map<string, StoreEntry>; revision: number } {
  const corrupt = (why: string): KrakendError =>
    new KrakendError(
      ErrorCode.StoreCorrupt,
      `the store file ${path} is corrupt (${why}); the manager will not start over it with an empty store. ` +
        'Restore it from a backup, or move it away to start with an empty registry',
    );
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw corrupt(`not JSON: ${(err as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw corrupt('not a JSON object');
  const doc = raw as Record<string, unknown>;
  if (doc['format'] !== FORMAT) throw corrupt(`"format" is not ${JSON.stringify(FORMAT)}`);
  if (doc['format_version'] !== FORMAT_VERSION) {
    throw corrupt(`format_version ${JSON.stringify(doc['format_version'])} is not ${FORMAT_VERSION}`);
  }
  const revision = doc['revision'];
  if (typeof revision !== 'number' || !Number.isSafeInteger(revision) || revision < 0) {
    throw corrupt('"revision" is not a non-negative integer');
  }
  const rawEntries = doc['entries'];
  if (typeof rawEntries !== 'object' || rawEntries === null || Array.isArray(rawEntries)) {
    throw corrupt('"entries" is not an object');
  }
  const entries = new Map<string, StoreEntry>();
  for (const [key, e] of Object.entries(rawEntries)) {
    if (key.length === 0 || key.length > MAX_KEY_LENGTH) throw corrupt(`a key has ${key.length} characters`);
    if (typeof e !== 'object' || e === null || Array.isArray(e) || !('value' in e)) {
      throw corrupt(`entry ${JSON.stringify(key)} has no value`);
    }
    const version = (e as { version?: unknown }).version;
    if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1 || version > revision) {
      throw corrupt(`entry ${JSON.stringify(key)} has version ${String(version)} outside 1..${revision}`);
    }
    let value: JsonValue;
    try {
      value = freezeJson((e as { value: unknown }).value);
    } catch (err) {
      throw corrupt(`entry ${JSON.stringify(key)}: ${(err as Error).message}`);
    }
    entries.set(key, Object.freeze({ key, value, version }));
  }
  return { entries, revision };
}
