/**
 * The node's last good config and leases, on disk in its state directory, so that a node restarts and serves
 * without any manager (ARCHITECTURE.md, "Config distribution": manager → cache → local krakend.json).
 *
 * One file, `<stateDir>/config-cache`, rewritten crash-safely (temporary file, fsync, rename) with mode 0600.
 * Its content is one JSON document:
 *   `{"format":"krakend-cluster config cache","format_version":1,"version":7,"hash":"<sha256 hex>",
 *     "body":"<canonical krakend.json>","leases":<opaque JSON>,"savedAt":<ms>}`
 *
 * Configs hold secrets (API keys in headers, JWT keys, TLS paths), so with a cluster key the document is
 * encrypted and authenticated: AES-256-GCM under a key derived from the cluster key by HKDF-SHA256 (empty salt,
 * info "krakend-cluster config cache v1"), a random 12-byte nonce per save, and the header as associated data:
 *
 *   "KDCC" | format version (1 byte, 1) | key id (1 byte, keyIdOf(cluster key)) | nonce (12) | ciphertext | tag (16)
 *
 * Saves use the first configured key; loads try every configured key whose id matches the header, so a cache
 * written before a key rotation still loads while the old key is configured. Without a cluster key the file is
 * the plain JSON document, readable by whoever can read the state directory: setting a key is recommended.
 * With a key configured, a plain file is refused (it could have been planted); without one, an encrypted file is.
 *
 * `load` never throws and never trusts part of a file: a missing, unreadable, truncated, tampered, wrong-key or
 * malformed file, or a body that does not match its hash, is `{ok: false, reason}`.
 *
 * Saving rewrites the whole file (config included): save when the config or something worth keeping in the leases
 * changes, not on every lease renewal.
 */
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../../base/atomic-file.js';
import type { Clock } from '../../base/clock.js';
import { systemClock } from '../../base/clock.js';
import { keyIdOf, parseKey } from '../wire/keyring.js';

/** The cache's file name inside the state directory. */
export const CONFIG_CACHE_FILE = 'config-cache';
export const CACHE_FORMAT = 'krakend-cluster config cache';
export const CACHE_FORMAT_VERSION = 1;
/** HKDF info of the cache key: bump with the format. */
export const CACHE_KEY_INFO = 'krakend-cluster config cache v1';
/** A file larger than this is refused unread (configs are at most a few MiB). */
export const MAX_CACHE_FILE_BYTES = 64 * 1024 * 1024;

const MAGIC = Buffer.from('KDCC', 'latin1');
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
/** magic + format version + key id + nonce. */
const HEADER_BYTES = MAGIC.length + 2 + NONCE_BYTES;

/** Any JSON value: the leases are opaque to the cache and go through JSON.stringify/JSON.parse. */
export type CacheJson = null | boolean | number | string | readonly CacheJson[] | { readonly [key: string]: CacheJson };

export interface ConfigCacheEntry {
  /** The manager's version number of the config. */
  readonly version: number;
  /** SHA-256 hex of `body` (the manager's config hash). Checked on save and on load. */
  readonly hash: string;
  /** The canonical krakend.json text. */
  readonly body: string;
  /** The node's last leases, as the agent chose to keep them (null: none). */
  readonly leases: CacheJson;
  /** Wall-clock ms of the save. */
  readonly savedAt: number;
}

export type ConfigCacheLoad =
  | { readonly ok: true; readonly entry: ConfigCacheEntry }
  /** `reason` is exactly `'missing'` when there is no cache file; otherwise one phrase saying what is wrong. */
  | { readonly ok: false; readonly reason: string };

export interface ConfigCacheOptions {
  /** Cluster keys as `cluster_key` gives them (base64, 32 bytes); the first encrypts. Empty or absent: plain. */
  readonly clusterKeys?: readonly string[];
  readonly clock?: Clock;
}

interface CacheKey {
  readonly id: number;
  readonly key: Buffer;
}

export class ConfigCache {
  /** The cache file's path. */
  readonly path: string;
  private readonly keys: readonly CacheKey[];
  private readonly clock: Clock;

  /** Throws E_WIRE_KEY_INVALID for a cluster key that is not 32 bytes of base64. */
  constructor(
    readonly stateDir: string,
    options: ConfigCacheOptions = {},
  ) {
    this.path = join(stateDir, CONFIG_CACHE_FILE);
    this.keys = (options.clusterKeys ?? []).map((text) => {
      const key = parseKey(text);
      return { id: keyIdOf(key), key: Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), CACHE_KEY_INFO, 32)) };
    });
    this.clock = options.clock ?? systemClock;
  }

  /** Whether the file is encrypted (a cluster key is configured). */
  get encrypted(): boolean {
    return this.keys.length > 0;
  }

  /**
   * Replaces the cache, crash-safely (mode 0600; the state directory is created 0700 if needed). Rejects with a
   * TypeError when `hash` is not the SHA-256 of `body`, and with E_FILE_WRITE when the file cannot be written.
   */
  async save(entry: { version: number; hash: string; body: string; leases?: CacheJson }): Promise<void> {
    if (!Number.isSafeInteger(entry.version) || entry.version < 0) {
      throw new TypeError('a cached config version is a non-negative integer');
    }
    if (typeof entry.body !== 'string' || sha256(entry.body) !== entry.hash) {
      throw new TypeError(`the config body does not match its hash ${entry.hash}`);
    }
    const doc = JSON.stringify({
      format: CACHE_FORMAT,
      format_version: CACHE_FORMAT_VERSION,
      version: entry.version,
      hash: entry.hash,
      body: entry.body,
      leases: entry.leases ?? null,
      savedAt: this.clock.now(),
    });
    await mkdir(this.stateDir, { recursive: true, mode: 0o700 });
    const primary = this.keys[0];
    await writeFileAtomic(this.path, primary ? seal(primary, doc) : `${doc}\n`, { mode: 0o600 });
  }

  /** Reads the cache back. Never throws. */
  async load(): Promise<ConfigCacheLoad> {
    const fail = (reason: string): ConfigCacheLoad => ({ ok: false, reason });
    let data: Buffer;
    try {
      const info = await stat(this.path);
      if (!info.isFile()) return fail('not a regular file');
      if (info.size > MAX_CACHE_FILE_BYTES) return fail(`${info.size} bytes, larger than any config cache`);
      data = await readFile(this.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return fail('missing');
      return fail(`cannot read it: ${(err as Error).message}`);
    }
    let doc: string;
    if (data.length >= MAGIC.length && data.subarray(0, MAGIC.length).equals(MAGIC)) {
      const opened = this.open(data);
      if (!opened.ok) return opened;
      doc = opened.text;
    } else if (data.length > 0 && data[0] === 0x7b /* { */) {
      if (this.encrypted) {
        return fail('it is not encrypted, but a cluster key is configured: an unauthenticated file is not trusted');
      }
      doc = data.toString('utf8');
    } else {
      return fail(data.length === 0 ? 'empty file' : 'not a config cache file (unknown header)');
    }
    return parseDocument(doc);
  }

  private open(data: Buffer): { ok: true; text: string } | { ok: false; reason: string } {
    const fail = (reason: string) => ({ ok: false as const, reason });
    if (data.length < HEADER_BYTES + TAG_BYTES) return fail(`truncated: ${data.length} bytes`);
    const formatVersion = data[MAGIC.length] as number;
    if (formatVersion !== CACHE_FORMAT_VERSION) return fail(`unsupported format version ${formatVersion}`);
    if (!this.encrypted) return fail('it is encrypted, and no cluster key is configured');
    const keyId = data[MAGIC.length + 1] as number;
    const candidates = this.keys.filter((k) => k.id === keyId);
    if (candidates.length === 0) {
      return fail(`encrypted under cluster key id ${keyId}, which is not among the configured keys`);
    }
    const header = data.subarray(0, HEADER_BYTES);
    const nonce = data.subarray(HEADER_BYTES - NONCE_BYTES, HEADER_BYTES);
    const ciphertext = data.subarray(HEADER_BYTES, data.length - TAG_BYTES);
    const tag = data.subarray(data.length - TAG_BYTES);
    for (const { key } of candidates) {
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
        decipher.setAAD(header);
        decipher.setAuthTag(tag);
        const plain = Buffer.concat([decipher.update(ciphertext), decipher.final()]);
        return { ok: true, text: plain.toString('utf8') };
      } catch {
        // Wrong key (an id collision) or tampering: try the next candidate.
      }
    }
    return fail('authentication failed: the file was altered or truncated, or written under another key');
  }
}

function seal(key: CacheKey, doc: string): Buffer {
  const nonce = randomBytes(NONCE_BYTES);
  const header = Buffer.concat([MAGIC, Buffer.from([CACHE_FORMAT_VERSION, key.id]), nonce]);
  const cipher = createCipheriv('aes-256-gcm', key.key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(header);
  const ciphertext = Buffer.concat([cipher.update(doc, 'utf8'), cipher.final()]);
  return Buffer.concat([header, ciphertext, cipher.getAuthTag()]);
}

function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

function parseDocument(text: string): ConfigCacheLoad {
  const fail = (reason: string): ConfigCacheLoad => ({ ok: false, reason });
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return fail(`not valid JSON (${(err as Error).message})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return fail('not a JSON object');
  const d = raw as Record<string, unknown>;
  if (d['format'] !== CACHE_FORMAT) return fail(`"format" is not ${JSON.stringify(CACHE_FORMAT)}`);
  if (d['format_version'] !== CACHE_FORMAT_VERSION) {
    return fail(`unsupported format version ${JSON.stringify(d['format_version'])}`);
  }
  const { version, hash, body, leases, savedAt } = d;
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 0) {
    return fail('"version" is not a non-negative integer');
  }
  if (typeof hash !== 'string' || !/^[0-9a-f]{64}$/.test(hash)) return fail('"hash" is not SHA-256 hex');
  if (typeof body !== 'string') return fail('"body" is not a string');
  if (typeof savedAt !== 'number' || !Number.isFinite(savedAt)) return fail('"savedAt" is not a time');
  if (leases === undefined) return fail('"leases" is missing');
  const actual = sha256(body);
  if (actual !== hash) {
    return fail(`the body does not match its hash (${hash.slice(0, 12)}…, got ${actual.slice(0, 12)}…)`);
  }
  return { ok: true, entry: Object.freeze({ version, hash, body, leases: leases as CacheJson, savedAt }) };
}
