import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { ErrorCode, KrakendError } from '../../base/errors.js';

/** AES-256: 32-byte keys. */
export const KEY_BYTES = 32;

/**
 * A key's id: one byte (1–255) derived from a hash of the key, so every process that holds a key calls it by the
 * same id without anyone assigning ids. 0 means "no key" (plaintext). The id tells a receiver which key to try;
 * it reveals 8 bits of a hash of a 256-bit key, which is harmless.
 */
export function keyIdOf(key: Uint8Array): number {
  const digest = createHash('sha256').update('krakend-cluster key id\0').update(key).digest();
  return 1 + ((digest[0] as number) % 255);
}

/** A fresh random key (node:crypto's CSPRNG), base64 as `cluster_key` takes it. */
export function generateKey(): string {
  return randomBytes(KEY_BYTES).toString('base64');
}

/** Decodes a base64 (or base64url) key; throws E_WIRE_KEY_INVALID unless it is exactly 32 bytes. */
export function parseKey(text: string): Buffer {
  const trimmed = text.trim();
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed)) {
    throw new KrakendError(ErrorCode.WireKeyInvalid, 'cluster key is not base64');
  }
  const key = Buffer.from(trimmed, trimmed.includes('-') || trimmed.includes('_') ? 'base64url' : 'base64');
  if (key.length !== KEY_BYTES) {
    throw new KrakendError(
      ErrorCode.WireKeyInvalid,
      `cluster key must be ${KEY_BYTES} bytes (44 base64 characters), got ${key.length} bytes`,
    );
  }
  return key;
}

export interface KeyEntry {
  readonly id: number;
  readonly key: Buffer;
}

/**
 * The shared keys of a cluster. Senders seal with the primary; receivers open with the key the packet names.
 * Rotation without downtime, on every process in turn:
 *   1. install(new)  — now accepted everywhere, still not used;
 *   2. use(newId)    — once every process has it, make it primary: everyone now sends under it;
 *   3. remove(oldId) — once every process sends under the new key: the old one is refused from then on.
 * Streams established under a removed key are told (onRemove) and close themselves.
 */
export class Keyring {
  private readonly keys = new Map<number, Buffer>();
  private primaryId = 0;
  private readonly removeListeners = new Set<(id: number) => void>();

  /** Keys as `cluster_key` gives them (base64): one, or a list whose first is the primary. */
  static fromConfig(keys: string | readonly string[]): Keyring {
    const list = typeof keys === 'string' ? [keys] : keys;
    if (list.length === 0) throw new KrakendError(ErrorCode.WireKeyInvalid, 'an empty list of cluster keys');
    const ring = new Keyring();
    for (const k of list) ring.install(k);
    ring.use(keyIdOf(parseKey(list[0] as string)));
    return ring;
  }

  /**
   * Adds a key (bytes or base64) and returns its id. The first key installed becomes the primary. Installing a
   * key already there is a no-op. Throws E_WIRE_KEY_INVALID for a bad key, or for a different key whose id
   * collides with one installed (1 chance in 255 per pair: generate another key).
   */
  install(key: Uint8Array | string): number {
    const bytes = typeof key === 'string' ? parseKey(key) : Buffer.from(key);
    if (bytes.length !== KEY_BYTES) {
      throw new KrakendError(ErrorCode.WireKeyInvalid, `cluster key must be ${KEY_BYTES} bytes, got ${bytes.length}`);
    }
    const id = keyIdOf(bytes);
    const existing = this.keys.get(id);
    if (existing) {
      if (timingSafeEqual(existing, bytes)) return id;
      throw new KrakendError(
        ErrorCode.WireKeyInvalid,
        `cluster key id ${id} is already taken by another key; generate a different key`,
      );
    }
    this.keys.set(id, bytes);
    if (this.primaryId === 0) this.primaryId = id;
    return id;
  }

  /** Makes an installed key the one senders use. */
  use(id: number): void {
    if (!this.keys.has(id)) throw new KrakendError(ErrorCode.WireKeyInvalid, `no cluster key with id ${id}`);
    this.primaryId = id;
  }

  /** Removes a key: packets and streams under it are refused from now on. The primary cannot be removed. */
  remove(id: number): void {
    if (!this.keys.has(id)) return;
    if (id === this.primaryId) {
      throw new KrakendError(ErrorCode.WireKeyInvalid, `cluster key ${id} is the primary: use() another one first`);
    }
    this.keys.delete(id);
    for (const listener of [...this.removeListeners]) listener(id);
  }

  /** The key senders use. The ring is never empty once built by fromConfig or a first install. */
  primary(): KeyEntry {
    const key = this.keys.get(this.primaryId);
    if (!key) throw new KrakendError(ErrorCode.WireKeyInvalid, 'the keyring is empty');
    return { id: this.primaryId, key };
  }

  get primaryKeyId(): number {
    return this.primaryId;
  }

  get(id: number): Buffer | undefined {
    return this.keys.get(id);
  }

  has(id: number): boolean {
    return this.keys.has(id);
  }

  ids(): number[] {
    return [...this.keys.keys()];
  }

  get size(): number {
    return this.keys.size;
  }

  /** Called with the id of each removed key; returns the unsubscribe function. */
  onRemove(listener: (id: number) => void): () => void {
    this.removeListeners.add(listener);
    return () => void this.removeListeners.delete(listener);
  }
}
