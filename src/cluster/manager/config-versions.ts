/**
 * The cluster's krakend.json, versioned (ARCHITECTURE.md, "Config distribution"): every applied config becomes a
 * numbered, immutable version with the SHA-256 hash of its canonical JSON, the time, an author and a note.
 * This module only validates and stores; pushing versions to nodes is the caller's job (watch `config/current`).
 *
 * Canonical JSON: keys sorted at every depth (by UTF-8 bytes, as Go sorts map keys), no whitespace, numbers exactly
 * as written (`1.10` and 2^63 stay as they are), strings escaped as Go's json.Marshal escapes them. It is what
 * `parseJson` + `encodeJson` produce, so a config re-indented or with its keys reordered has the same hash and is
 * not a new version. The canonical text is the version's `body`: what nodes receive, validate and cache.
 *
 * Storage layout (all in the manager's {@link Store}, so versions survive a restart):
 * - `config/current`: the full record of the current version (body included). It is the single point where
 *   versions are sequenced: an apply writes it with compare-and-set on the store version it read, so two applies
 *   racing (in one process or, later, on two managers sharing a replicated store) can never both become version n;
 *   the loser re-reads and becomes n+1 (or `unchanged`).
 * - `config/versions/<n>` (n in decimal, not padded): the archive, one immutable record per version, written after
 *   the current pointer moved. A crash between the two writes loses nothing: the record is in `config/current`,
 *   and the next apply archives it first.
 * Record: `{v: 1, version, hash, createdAt, author, note, bytes, body, rollbackOf?}`.
 *
 * Growth: every version's body is kept, and the current one twice (pointer + archive). Configs are kilobytes to a
 * few hundred kilobytes, so thousands of versions fit; {@link ConfigVersions.prune} drops old ones (never the
 * current) when an operator wants a bound. The FileStore rewrites its whole snapshot per commit, so a store of
 * many large configs makes every write (node joins included) slower: prune if the snapshot grows to many MB.
 */
import { createHash } from 'node:crypto';
import type { Clock } from '../../base/clock.js';
import { systemClock } from '../../base/clock.js';
import { ErrorCode, KrakendError } from '../../base/errors.js';
import type { Logger } from '../../base/logger.js';
import { formatIssue } from '../../gateway/config/format-issues.js';
import { parseConfigText } from '../../gateway/config/load.js';
import { encodeJson } from '../../gateway/json/encode.js';
import { parseJson } from '../../gateway/json/parse.js';
import { diffJson } from './json-diff.js';
import type { DiffEntry } from './json-diff.js';
import type { JsonValue as StoreValue, Store, StoreEntry } from './store.js';

/** The store key of the current version's record. Watch it to learn of every new version. */
export const CONFIG_CURRENT_KEY = 'config/current';
/** Prefix of the archived versions: `config/versions/<n>`. */
export const CONFIG_VERSION_PREFIX = 'config/versions/';
/** The file name validation messages use: `krakend.json: endpoints[2].backend: …`. */
export const CONFIG_FILE_NAME = 'krakend.json';
/** Largest config accepted, in bytes of UTF-8, both as submitted and canonical. */
export const DEFAULT_MAX_CONFIG_BYTES = 8 * 1024 * 1024;
/** Longest author and note accepted, in characters. */
export const MAX_AUTHOR_CHARS = 256;
export const MAX_NOTE_CHARS = 4096;
/** How often an apply retries its compare-and-set when another writer moved `config/current` meanwhile. */
const MAX_ATTEMPTS = 20;

export function configVersionKey(n: number): string {
  return `${CONFIG_VERSION_PREFIX}${n}`;
}

/** What `history` lists: a version without its body. */
export interface ConfigVersionMeta {
  /** 1, 2, 3, …: monotonic, never reused (not even after prune). */
  readonly version: number;
  /** SHA-256 of the body (its UTF-8 bytes), lowercase hex. */
  readonly hash: string;
  /** Wall-clock milliseconds since the epoch, from the manager's clock. */
  readonly createdAt: number;
  readonly author: string;
  readonly note: string;
  /** Size of the body in bytes. */
  readonly bytes: number;
  /** Set when the version was made by `rollback`: the version whose body it carries. */
  readonly rollbackOf?: number;
}

export interface ConfigVersion extends ConfigVersionMeta {
  /** The canonical JSON text. */
  readonly body: string;
}

export interface ApplyOptions {
  /** Who applied it (the CLI's user, the API token's name): required, 1–256 characters. */
  readonly author: string;
  /** Why: free text, up to 4096 characters. */
  readonly note?: string;
  /** Validate and diff against the current version; store nothing. */
  readonly dryRun?: boolean;
}

export type ApplyResult =
  | {
      readonly ok: true;
      /**
       * The new version; the current one when `unchanged`; in a dry run, the version as it would be stored (its
       * number is the one it would get if nobody applied meanwhile).
       */
      readonly version: ConfigVersion;
      /** From the current version (or from `{}` when there is none) to `version`. Empty when unchanged. */
      readonly diff: DiffEntry[];
      /** The canonical hash equals the current version's: no new version was made. */
      readonly unchanged: boolean;
      readonly dryRun: boolean;
      /** Validation warnings (`krakend.json: path: message`): the config is accepted anyway. */
      readonly warnings: string[];
    }
  | {
      readonly ok: false;
      /**
       * One line each: `krakend.json:3:7: …` or `krakend.json: endpoints[0].backend: …`, or a size, author or
       * note error.
       */
      readonly errors: string[];
      readonly warnings: string[];
    };

export interface ConfigVersionsOptions {
  /** Largest config accepted, in bytes (default 8 MiB). Keep it under what the control channel can carry. */
  readonly maxBytes?: number;
  /** For `createdAt`. */
  readonly clock?: Clock;
  /** Where a failed archive write is reported (the version is safe in `config/current` regardless). */
  readonly logger?: Logger;
}

/** Canonical JSON of a config text (a BOM is ignored). Throws a SyntaxError for text that is not JSON. */
export function canonicalConfig(text: string): string {
  return encodeJson(parseJson(stripBom(text)));
}

/** The hash of a canonical body: SHA-256 of its UTF-8 bytes, lowercase hex. */
export function configHash(body: string): string {
  return createHash('sha256').update(body, 'utf8').digest('hex');
}

/**
 * The versioned config over a Store. Holds no state of its own (every call reads the store), so several instances
 * over one store agree, and a restarted manager sees every version it had. Store failures (E_FILE_WRITE,
 * E_STORE_CLOSED) reject the call; a record that is not a config version rejects with E_STORE_CORRUPT.
 */
export class ConfigVersions {
  private readonly maxBytes: number;
  private readonly clock: Clock;
  private readonly logger: Logger | undefined;
  /** Writers in this process run one at a time; compare-and-set still guards against other processes. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly store: Store,
    options: ConfigVersionsOptions = {},
  ) {
    const maxBytes = options.maxBytes ?? DEFAULT_MAX_CONFIG_BYTES;
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 1) throw new TypeError('maxBytes must be a positive integer');
    this.maxBytes = maxBytes;
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger;
  }

  /**
   * Validates `text` as the gateway does, and stores it as the next version unless its canonical hash equals the
   * current one's (then answers the current version with `unchanged: true`). Invalid input (bad JSON, a config
   * the gateway refuses, too large, a bad author or note) is `{ok: false, errors}`, never a throw.
   */
  async apply(text: string, options: ApplyOptions): Promise<ApplyResult> {
    if (typeof text !== 'string') throw new TypeError('a config is text');
    const prepared = this.prepare(text, options);
    if (!prepared.ok) return prepared;
    return this.commit(prepared.body, options, prepared.warnings, undefined);
  }

  /**
   * Makes a NEW version whose body is version `n`'s (`rollbackOf: n`), so the audit trail shows the rollback. The
   * body is validated again (this gateway may be stricter than the one that stored it). When the current version
   * already has that body, nothing is stored (`unchanged`). The note defaults to `rollback to version n`.
   * Throws E_CONFIG_VERSION_NOT_FOUND (status 404) when version `n` is not stored.
   */
  async rollback(n: number, options: ApplyOptions): Promise<ApplyResult> {
    const target = await this.get(n);
    if (!target) throw notFound(n);
    const withNote = { ...options, note: options.note || `rollback to version ${n}` };
    const fieldErrors = checkAuthorAndNote(withNote);
    if (fieldErrors.length > 0) return { ok: false, errors: fieldErrors, warnings: [] };
    const prepared = this.prepare(target.body, withNote);
    if (!prepared.ok) {
      return { ...prepared, errors: [`version ${n} is no longer valid:`, ...prepared.errors] };
    }
    return this.commit(prepared.body, withNote, prepared.warnings, n);
  }

  /** The current version, or undefined when none was ever applied. */
  async current(): Promise<ConfigVersion | undefined> {
    return (await this.readCurrent())?.record;
  }

  /** Version `n`, or undefined when it was never stored or was pruned. */
  async get(n: number): Promise<ConfigVersion | undefined> {
    if (!Number.isSafeInteger(n) || n < 1) return undefined;
    const key = configVersionKey(n);
    const entry = await this.store.get(key);
    if (entry) return parseConfigVersionRecord(entry.value, key);
    const current = await this.current();
    return current?.version === n ? current : undefined;
  }

  /** Stored versions without their bodies, newest first; at most `limit` of them (default: all). */
  async history(options: { limit?: number } = {}): Promise<ConfigVersionMeta[]> {
    const limit = options.limit ?? Infinity;
    if (!(limit >= 0)) throw new TypeError('limit must be a non-negative number');
    const versions = await this.archived();
    const current = await this.current();
    if (current && !versions.some((v) => v.version === current.version)) versions.push(current);
    versions.sort((a, b) => b.version - a.version);
    return versions.slice(0, limit).map(metaOf);
  }

  /**
   * The changes from version `n` to version `m` (see json-diff.ts). Throws E_CONFIG_VERSION_NOT_FOUND (status
   * 404) naming the first of the two that is not stored.
   */
  async diff(n: number, m: number): Promise<DiffEntry[]> {
    const [a, b] = await Promise.all([this.get(n), this.get(m)]);
    if (!a) throw notFound(n);
    if (!b) throw notFound(m);
    return diffJson(parseJson(a.body), parseJson(b.body));
  }

  /**
   * Deletes archived versions but the newest `keep` (>= 1) and the current one. Numbers are never reused.
   * Answers the numbers deleted, ascending.
   */
  async prune(keep: number): Promise<number[]> {
    if (!Number.isSafeInteger(keep) || keep < 1) throw new TypeError('prune keeps at least one version');
    return this.serially(async () => {
      const entries = await this.archivedEntries();
      entries.sort((a, b) => b.n - a.n);
      const current = await this.readCurrent();
      const deleted: number[] = [];
      for (const { n, entry } of entries.slice(keep)) {
        if (n === current?.record.version) continue;
        const result = await this.store.delete(entry.key, entry.version);
        if (result.ok && result.deleted) deleted.push(n);
      }
      return deleted.sort((a, b) => a - b);
    });
  }

  // -------------------------------------------------------------------------------------------------------------

  /** Validation, size limits and canonical form: everything an apply checks before touching the store. */
  private prepare(
    text: string,
    options: ApplyOptions,
  ): { ok: true; body: string; warnings: string[] } | { ok: false; errors: string[]; warnings: string[] } {
    const errors = checkAuthorAndNote(options);
    const size = Buffer.byteLength(text, 'utf8');
    if (size > this.maxBytes) {
      errors.push(`the config is ${formatBytes(size)}; the largest accepted is ${formatBytes(this.maxBytes)}`);
      return { ok: false, errors, warnings: [] };
    }
    const result = parseConfigText(text, CONFIG_FILE_NAME);
    errors.push(...result.issues.map(formatIssue));
    if (errors.length > 0) return { ok: false, errors, warnings: result.warnings };
    let body: string;
    try {
      body = canonicalConfig(text);
    } catch (err) {
      // parseConfigText accepted it, so this is a disagreement between two parsers: refuse rather than guess.
      return { ok: false, errors: [`${CONFIG_FILE_NAME}: ${(err as Error).message}`], warnings: result.warnings };
    }
    const bodySize = Buffer.byteLength(body, 'utf8');
    if (bodySize > this.maxBytes) {
      // Go-style escapes (`<` → `\u003c`) can make the canonical form longer than the text.
      const why =
        `the canonical form of the config is ${formatBytes(bodySize)}; ` +
        `the largest accepted is ${formatBytes(this.maxBytes)}`;
      return { ok: false, errors: [why], warnings: result.warnings };
    }
    return { ok: true, body, warnings: result.warnings };
  }

  private commit(
    body: string,
    options: ApplyOptions,
    warnings: string[],
    rollbackOf: number | undefined,
  ): Promise<ApplyResult> {
    const dryRun = options.dryRun === true;
    const hash = configHash(body);
    const parsedBody = parseJson(body);
    return this.serially(async () => {
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        const current = await this.readCurrent();
        if (current && current.record.hash === hash) {
          return { ok: true, version: current.record, diff: [], unchanged: true, dryRun, warnings };
        }
        const diff = diffJson(current ? parseJson(current.record.body) : {}, parsedBody);
        // Above every archived number too: a version number is never reused, even if `config/current` was lost.
        let highest = current?.record.version ?? 0;
        for (const { n } of await this.archivedEntries()) highest = Math.max(highest, n);
        const record: ConfigVersion = Object.freeze({
          version: highest + 1,
          hash,
          createdAt: this.clock.now(),
          author: options.author,
          note: options.note ?? '',
          bytes: Buffer.byteLength(body, 'utf8'),
          ...(rollbackOf === undefined ? {} : { rollbackOf }),
          body,
        });
        if (dryRun) return { ok: true, version: record, diff, unchanged: false, dryRun, warnings };
        // A crash (or a failed write) may have left the current version unarchived: archive it before moving on.
        if (current) await this.archive(current.record);
        const put = await this.store.put(CONFIG_CURRENT_KEY, toStored(record), {
          expectedVersion: current?.entry.version ?? 0,
        });
        if (!put.ok) continue;
        await this.archive(record);
        return { ok: true, version: record, diff, unchanged: false, dryRun, warnings };
      }
      throw new KrakendError(
        ErrorCode.ConfigConflict,
        `another writer kept changing ${CONFIG_CURRENT_KEY} (${MAX_ATTEMPTS} attempts): apply again`,
        { status: 409 },
      );
    });
  }

  /** Writes `config/versions/<n>` unless it exists. A failure is logged, not thrown: the record is still current. */
  private async archive(record: ConfigVersion): Promise<void> {
    const key = configVersionKey(record.version);
    try {
      if (await this.store.get(key)) return;
      await this.store.put(key, toStored(record), { expectedVersion: 0 });
    } catch (err) {
      const message =
        `cannot archive config version ${record.version} (it stays current; the next apply retries): ` +
        (err as Error).message;
      if (this.logger) this.logger.warning(message);
      else process.emitWarning(message, 'ConfigArchiveWarning');
    }
  }

  private async readCurrent(): Promise<{ entry: StoreEntry; record: ConfigVersion } | undefined> {
    const entry = await this.store.get(CONFIG_CURRENT_KEY);
    return entry ? { entry, record: parseConfigVersionRecord(entry.value, CONFIG_CURRENT_KEY) } : undefined;
  }

  private async archivedEntries(): Promise<Array<{ n: number; entry: StoreEntry }>> {
    const out: Array<{ n: number; entry: StoreEntry }> = [];
    for (const entry of await this.store.list(CONFIG_VERSION_PREFIX)) {
      const suffix = entry.key.slice(CONFIG_VERSION_PREFIX.length);
      const n = Number(suffix);
      if (/^[1-9]\d*$/.test(suffix) && Number.isSafeInteger(n)) out.push({ n, entry });
    }
    return out;
  }

  private async archived(): Promise<ConfigVersion[]> {
    return (await this.archivedEntries()).map(({ entry }) => parseConfigVersionRecord(entry.value, entry.key));
  }

  private serially<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(() => task());
    this.queue = run.catch(() => {});
    return run;
  }
}

// ---------------------------------------------------------------------------------------------------------------

function stripBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

function notFound(n: number): KrakendError {
  return new KrakendError(ErrorCode.ConfigVersionNotFound, `no config version ${n} is stored`, { status: 404 });
}

function formatBytes(n: number): string {
  const MIB = 1024 * 1024;
  if (n >= MIB) return `${(n / MIB).toFixed(n % MIB === 0 ? 0 : 1)} MiB (${n} bytes)`;
  return `${n} bytes`;
}

function checkAuthorAndNote(options: ApplyOptions): string[] {
  const errors: string[] = [];
  const { author, note } = options;
  if (typeof author !== 'string' || author.trim() === '') errors.push('an author is required');
  else if (author.length > MAX_AUTHOR_CHARS) errors.push(`the author is longer than ${MAX_AUTHOR_CHARS} characters`);
  if (note !== undefined && typeof note !== 'string') errors.push('the note must be text');
  else if (note !== undefined && note.length > MAX_NOTE_CHARS) {
    errors.push(`the note is longer than ${MAX_NOTE_CHARS} characters`);
  }
  return errors;
}

function metaOf(v: ConfigVersion): ConfigVersionMeta {
  const { body: _body, ...meta } = v;
  return meta;
}

function toStored(r: ConfigVersion): StoreValue {
  return {
    v: 1,
    version: r.version,
    hash: r.hash,
    createdAt: r.createdAt,
    author: r.author,
    note: r.note,
    bytes: r.bytes,
    ...(r.rollbackOf === undefined ? {} : { rollbackOf: r.rollbackOf }),
    body: r.body,
  };
}

/**
 * Reads a stored record (`config/current` or `config/versions/<n>`, as a watch event carries it) back into a
 * ConfigVersion; throws E_STORE_CORRUPT naming `key` when it is not one.
 */
export function parseConfigVersionRecord(raw: StoreValue, key: string): ConfigVersion {
  const bad = (why: string): KrakendError =>
    new KrakendError(ErrorCode.StoreCorrupt, `the store entry ${key} is not a config version: ${why}`);
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw bad('not an object');
  const r = raw as { readonly [k: string]: StoreValue };
  if (r['v'] !== 1) throw bad(`format version ${JSON.stringify(r['v'])} is not 1`);
  const count = (v: StoreValue | undefined): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
  const { version, hash, createdAt, author, note, bytes, body, rollbackOf } = r;
  if (!count(version) || version < 1) throw bad('version is not a positive integer');
  if (typeof hash !== 'string' || !/^[0-9a-f]{64}$/.test(hash)) throw bad('hash is not SHA-256 hex');
  if (typeof createdAt !== 'number' || !Number.isFinite(createdAt)) throw bad('createdAt is not a time');
  if (typeof author !== 'string' || typeof note !== 'string') throw bad('author or note is not a string');
  if (!count(bytes) || typeof body !== 'string') throw bad('body or bytes is missing');
  if (rollbackOf !== undefined && (!count(rollbackOf) || rollbackOf < 1)) throw bad('rollbackOf is not a version');
  return Object.freeze({
    version,
    hash,
    createdAt,
    author,
    note,
    bytes,
    ...(rollbackOf === undefined ? {} : { rollbackOf }),
    body,
  });
}
