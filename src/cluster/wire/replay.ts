import type { DropReason } from './drops.js';

export interface ReplayGuardOptions {
  /** How far in the past a timestamp may lie (default 30 s). */
  windowMs?: number;
  /** How far in the future a timestamp may lie: the clock skew tolerated between hosts (default 10 s). */
  maxSkewMs?: number;
  /** Most nonces remembered (default 32768: over 1000 packets/s sustained for a 30 s window). */
  capacity?: number;
}

export const DEFAULT_REPLAY_WINDOW_MS = 30_000;
export const DEFAULT_MAX_CLOCK_SKEW_MS = 10_000;
export const DEFAULT_NONCE_CACHE_SIZE = 32_768;

/**
 * Rejects packets stamped outside [now − window, now + skew], and exact replays inside it.
 *
 * Memory is bounded: nonces are kept in arrival order and forgotten once their timestamp left the window. When
 * the cache is full the oldest entry is evicted anyway, and the guard raises a floor to that entry's timestamp:
 * from then on anything stamped at or before the floor is refused as `too_old`. So an overflow (a flood) costs
 * some late legitimate packets, never a replay accepted.
 */
export class ReplayGuard {
  readonly windowMs: number;
  readonly maxSkewMs: number;
  readonly capacity: number;
  private readonly seen = new Set<string>();
  // Arrival order as a ring (never iterate the Set: deleting from its front leaves holes that iteration walks).
  private readonly ringNonces: Array<string | undefined>;
  private readonly ringTimes: Float64Array;
  private head = 0;
  private length = 0;
  private floor = -Infinity;

  constructor(options: ReplayGuardOptions = {}) {
    this.windowMs = options.windowMs ?? DEFAULT_REPLAY_WINDOW_MS;
    this.maxSkewMs = options.maxSkewMs ?? DEFAULT_MAX_CLOCK_SKEW_MS;
    this.capacity = Math.max(1, Math.floor(options.capacity ?? DEFAULT_NONCE_CACHE_SIZE));
    this.ringNonces = new Array<string | undefined>(this.capacity);
    this.ringTimes = new Float64Array(this.capacity);
  }

  /** The timestamp alone: too old, too far in the future, or fine (undefined). */
  checkTime(timestamp: number, now: number): DropReason | undefined {
    if (timestamp > now + this.maxSkewMs) return 'from_future';
    if (timestamp < now - this.windowMs || timestamp <= this.floor) return 'too_old';
    return undefined;
  }

  /** Checks the timestamp and the nonce, and remembers the nonce when both pass. */
  admit(nonce: string, timestamp: number, now: number): DropReason | undefined {
    const late = this.checkTime(timestamp, now);
    if (late) return late;
    if (this.seen.has(nonce)) return 'replayed';
    this.expire(now);
    if (this.length === this.capacity) this.evictOldest(true);
    const at = (this.head + this.length) % this.capacity;
    this.ringNonces[at] = nonce;
    this.ringTimes[at] = timestamp;
    this.length++;
    this.seen.add(nonce);
    return undefined;
  }

  get size(): number {
    return this.seen.size;
  }

  private expire(now: number): void {
    const horizon = now - this.windowMs;
    // Arrival order is nearly timestamp order; an entry stuck behind a newer one only lingers until that one goes.
    while (this.length > 0 && (this.ringTimes[this.head] as number) < horizon) this.evictOldest(false);
  }

  private evictOldest(raiseFloor: boolean): void {
    const nonce = this.ringNonces[this.head];
    const ts = this.ringTimes[this.head] as number;
    if (nonce !== undefined) this.seen.delete(nonce);
    this.ringNonces[this.head] = undefined;
    this.head = (this.head + 1) % this.capacity;
    this.length--;
    if (raiseFloor && ts > this.floor) this.floor = ts;
  }
}
