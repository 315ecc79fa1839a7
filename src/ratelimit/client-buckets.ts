/**
 * One token bucket per client (`client_max_rate`), all with the same settings, in a store whose memory stays
 * bounded whatever the clients do.
 *
 * Layout. A client's bucket is two numbers (tokens and the time they were counted, in the exact units of
 * ./token-bucket.ts) in two Float64Arrays, at a slot the key maps to; settings live once in the store. Taking a
 * token allocates nothing for a known client. The arrays grow by doubling up to the hard cap.
 *
 * Idle eviction, exact. A bucket that has refilled to capacity is indistinguishable from a new one, so it is
 * dropped: forgetting it changes no decision. A sweep hand walks the slots, a couple of steps per operation, and
 * frees every full bucket it meets; `sweep()` runs a whole pass on demand. krakend-ratelimit instead drops
 * counters unused for a TTL (10 minutes, or about `every`) on a timer (`cleanup_period`) from sharded maps
 * (`num_shards`, `cleanup_threads`): that may forget a bucket that is not yet full, and keeps full ones for the
 * whole TTL. Here no timer, lock or shard is needed, so those options have no effect.
 *
 * Hard cap. Full buckets cost nothing to drop, but a flood of distinct clients within one refill time creates
 * buckets that are not full yet. At `maxClients` the store evicts, among a few sampled slots from the hand, the
 * fullest bucket: the client that loses it gets a fresh, full one, the smallest error available. These forced
 * evictions are counted.
 *
 * Keys. A key longer than 64 characters (a bearer token, say) is stored as its SHA-256, so that memory per client
 * stays small whatever headers clients send; a collision would need a SHA-256 collision.
 */
import * as crypto from 'node:crypto';
import type { Clock } from '../base/clock.js';
import { DemandCounters } from './demand.js';
import { assertSettings } from './token-bucket.js';
import type { BucketSettings, Rate } from './token-bucket.js';

export interface ClientBucketsOptions {
  /** Most client buckets held at once (default DEFAULT_MAX_CLIENTS). */
  readonly maxClients?: number;
}

/** About 10 MB per client limit at the cap with IPv4 keys (~95 bytes a client, buckets and index included). */
export const DEFAULT_MAX_CLIENTS = 100_000;

/** Keys longer than this are stored as a digest. */
export const MAX_KEY_LENGTH = 64;

const INITIAL_SLOTS = 1024;
/** Slots the sweep hand visits per operation. More than one, so that it outruns a flood of new clients. */
const SWEEP_STEPS = 2;
/** Slots sampled for a forced eviction at the cap. */
const EVICTION_SAMPLE = 8;

export interface ClientBucketsStats {
  readonly size: number;
  /** Buckets dropped because they were full again. */
  readonly evictedIdle: number;
  /** Buckets dropped at the cap before they were full (each one let a client start over with a full bucket). */
  readonly evictedForced: number;
}

export class ClientBuckets extends DemandCounters {
  readonly maxClients: number;
  private readonly clock: Clock;
  private current: BucketSettings;
  private inflow: number;
  private unit: number;
  private cap: number;

  private readonly index = new Map<string, number>();
  /** The key held by each slot; undefined for a free slot. */
  private keys: (string | undefined)[] = [];
  private levels: Float64Array;
  private lasts: Float64Array;
  private readonly free: number[] = [];
  /** Slots handed out so far (the high-water mark): the sweep walks [0, used). */
  private used = 0;
  private hand = -1;
  private evictedIdleTotal = 0;
  private evictedForcedTotal = 0;

  constructor(clock: Clock, settings: BucketSettings, options: ClientBucketsOptions = {}) {
    super();
    assertSettings(settings);
    const maxClients = options.maxClients ?? DEFAULT_MAX_CLIENTS;
    if (!(Number.isInteger(maxClients) && maxClients >= 1)) {
      throw new RangeError(`maxClients must be an integer >= 1, got ${maxClients}`);
    }
    this.maxClients = maxClients;
    this.clock = clock;
    this.current = settings;
    this.inflow = settings.rate.tokens;
    this.unit = settings.rate.per;
    this.cap = settings.capacity * this.unit;
    const slots = Math.min(INITIAL_SLOTS, maxClients);
    this.levels = new Float64Array(slots);
    this.lasts = new Float64Array(slots);
  }

  get settings(): BucketSettings {
    return this.current;
  }

  get size(): number {
    return this.index.size;
  }

  get stats(): ClientBucketsStats {
    return { size: this.index.size, evictedIdle: this.evictedIdleTotal, evictedForced: this.evictedForcedTotal };
  }

  /** Takes `n` tokens from `key`'s bucket (a new client starts full) and says whether it did. */
  tryTake(key: string, n = 1, now: number = this.clock.monotonic()): boolean {
    const id = storedKey(key);
    let slot = this.index.get(id);
    let level: number;
    if (slot === undefined) {
      slot = this.allocate(id, now);
      level = this.cap;
    } else {
      level = this.levels[slot] as number;
      const elapsed = now - (this.lasts[slot] as number);
      if (elapsed > 0) {
        level += elapsed * this.inflow;
        if (level > this.cap) level = this.cap;
        this.lasts[slot] = now;
      }
    }
    const need = n * this.unit;
    let admitted: boolean;
    if (level >= need) {
      level -= need;
      this.admittedTotal += n;
      admitted = true;
    } else {
      this.rejectedTotal += n;
      admitted = false;
    }
    this.levels[slot] = level;
    this.step(now, SWEEP_STEPS);
    return admitted;
  }

  /** The tokens `key` holds now (the capacity for a client the store does not hold). Creates nothing. */
  available(key: string, now: number = this.clock.monotonic()): number {
    const slot = this.index.get(storedKey(key));
    return (slot === undefined ? this.cap : this.levelAt(slot, now)) / this.unit;
  }

  setRate(rate: Rate): void {
    this.setSettings({ rate, capacity: this.current.capacity });
  }

  setCapacity(capacity: number): void {
    this.setSettings({ rate: this.current.rate, capacity });
  }

  /**
   * Applies new settings to every bucket without refilling any (see TokenBucket.setSettings). O(clients): meant
   * for reloads and lease changes, not for every request.
   */
  setSettings(settings: BucketSettings): void {
    assertSettings(settings);
    const now = this.clock.monotonic();
    const unit = settings.rate.per;
    const cap = settings.capacity * unit;
    const scale = unit === this.unit ? 1 : unit / this.unit;
    for (let slot = 0; slot < this.used; slot++) {
      if (this.keys[slot] === undefined) continue;
      const level = this.levelAt(slot, now) * scale;
      this.levels[slot] = level < cap ? level : cap;
      this.lasts[slot] = now;
    }
    this.current = settings;
    this.inflow = settings.rate.tokens;
    this.unit = unit;
    this.cap = cap;
  }

  /** A full pass of the sweep hand: drops every full bucket. Returns how many it dropped. */
  sweep(now: number = this.clock.monotonic()): number {
    return this.step(now, this.used);
  }

  /** Advances the sweep hand `steps` slots, dropping full buckets. */
  private step(now: number, steps: number): number {
    let dropped = 0;
    const used = this.used;
    for (let i = 0; i < steps; i++) {
      let slot = this.hand + 1;
      if (slot >= used) slot = 0;
      this.hand = slot;
      const key = this.keys[slot];
      if (key !== undefined && this.levelAt(slot, now) >= this.cap) {
        this.release(slot, key);
        this.evictedIdleTotal++;
        dropped++;
      }
    }
    return dropped;
  }

  private allocate(id: string, now: number): number {
    let slot = this.free.pop();
    if (slot === undefined) {
      if (this.used === this.levels.length && this.used < this.maxClients) this.grow();
      slot = this.used < this.levels.length ? this.used++ : this.evictFullest(now);
    }
    this.index.set(id, slot);
    this.keys[slot] = id;
    this.levels[slot] = this.cap;
    this.lasts[slot] = now;
    return slot;
  }

  /** At the cap, with every slot taken: frees the fullest of a few slots from the hand on, and returns it. */
  private evictFullest(now: number): number {
    let best = -1;
    let bestLevel = -1;
    for (let i = 0; i < EVICTION_SAMPLE; i++) {
      let slot = this.hand + 1;
      if (slot >= this.used) slot = 0;
      this.hand = slot;
      const level = this.levelAt(slot, now);
      if (level > bestLevel) {
        best = slot;
        bestLevel = level;
      }
    }
    if (bestLevel >= this.cap) this.evictedIdleTotal++;
    else this.evictedForcedTotal++;
    this.release(best, this.keys[best] as string);
    return this.free.pop() as number;
  }

  private release(slot: number, key: string): void {
    this.index.delete(key);
    this.keys[slot] = undefined;
    this.free.push(slot);
  }

  private grow(): void {
    const size = Math.min(this.maxClients, this.levels.length * 2);
    const levels = new Float64Array(size);
    levels.set(this.levels);
    const lasts = new Float64Array(size);
    lasts.set(this.lasts);
    this.levels = levels;
    this.lasts = lasts;
  }

  private levelAt(slot: number, now: number): number {
    const elapsed = now - (this.lasts[slot] as number);
    const level = this.levels[slot] as number;
    if (elapsed <= 0) return level;
    const refilled = level + elapsed * this.inflow;
    return refilled < this.cap ? refilled : this.cap;
  }
}

/** Long keys are stored as a digest; so are keys starting with NUL, which digests start with. */
function storedKey(key: string): string {
  if (key.length <= MAX_KEY_LENGTH && key.charCodeAt(0) !== 0) return key;
  return '\u0000' + sha256(key);
}

// crypto.hash (Node 20.12+) is about 40% cheaper than createHash for a short input.
const sha256: (s: string) => string =
  typeof crypto.hash === 'function'
    ? (s) => crypto.hash('sha256', s, 'base64url')
    : (s) => crypto.createHash('sha256').update(s).digest('base64url');
