/**
 * A token bucket driven by an injected clock, refilled lazily (on use, never by a timer).
 *
 * Exact arithmetic. A rate is kept as KrakenD states it, `tokens` every `per` milliseconds (`max_rate` every
 * `every`), and the bucket counts in units of 1/`per` of a token: time adds `rate.tokens` units per millisecond, a
 * token costs `rate.per` units. With integer figures and integer clock readings (the FakeClock, or any whole-ms
 * reading) every step is an integer, so "50 every 10m" frees one token after exactly 12 000 ms — where a rate of
 * 50/600000 tokens per ms in floating point would not add up to one token at 12 000 ms.
 *
 * Run-time settings. `setRate` and `setCapacity` first settle the refill due under the old settings, then apply
 * the new ones without refilling: the current tokens are kept, clamped to the new capacity. This is what a lease
 * change needs: a node whose share grows does not get a free burst, one whose share shrinks loses its excess.
 *
 * Splitting (later: one node, several worker processes). A bucket is fully described by its settings and its
 * current tokens, so a lease of (rate, capacity) splits into k buckets of (rate/k, capacity/k), each started at
 * tokens/k (`available()` then `new TokenBucket(clock, share, tokens / k)`), without minting tokens.
 *
 * Differences from krakend-ratelimit's bucket (tokenbucket.go), which only refills once empty and in whole tokens:
 * this one refills continuously, so it never admits more than `capacity + rate × t` over any window t, and it
 * does not hand out the extra token that Go's version grants when a refill overflows the capacity.
 */
import type { Clock } from '../base/clock.js';
import { DemandCounters } from './demand.js';

/** `tokens` every `per` milliseconds: KrakenD's `max_rate` every `every`. */
export interface Rate {
  readonly tokens: number;
  readonly per: number;
}

export interface BucketSettings {
  readonly rate: Rate;
  /** Most tokens the bucket holds: the largest burst. May be fractional (a leased share). */
  readonly capacity: number;
}

/** Tokens per millisecond, as a float: for display and comparison; buckets count exactly. */
export function tokensPerMs(rate: Rate): number {
  return rate.tokens / rate.per;
}

/** Throws a RangeError on settings no bucket can run with (a programming error: configs are validated first). */
export function assertSettings(settings: BucketSettings): void {
  const { rate, capacity } = settings;
  if (!(Number.isFinite(rate.tokens) && rate.tokens >= 0)) {
    throw new RangeError(`token bucket rate must be a finite number of tokens >= 0, got ${rate.tokens}`);
  }
  if (!(Number.isFinite(rate.per) && rate.per > 0)) {
    throw new RangeError(`token bucket period must be a finite number of milliseconds > 0, got ${rate.per}`);
  }
  if (!(Number.isFinite(capacity) && capacity >= 0)) {
    throw new RangeError(`token bucket capacity must be a finite number >= 0, got ${capacity}`);
  }
}

export class TokenBucket extends DemandCounters {
  private readonly clock: Clock;
  private current: BucketSettings;
  /** Units added per millisecond (`rate.tokens`). */
  private inflow: number;
  /** Units per token (`rate.per`). */
  private unit: number;
  /** Capacity in units. */
  private cap: number;
  /** Tokens in units, as of `last`. */
  private level: number;
  /** Monotonic ms of the last settlement. */
  private last: number;

  /** A bucket holding `initialTokens` (default: full, as KrakenD's buckets start). */
  constructor(clock: Clock, settings: BucketSettings, initialTokens: number = settings.capacity) {
    super();
    assertSettings(settings);
    this.clock = clock;
    this.current = settings;
    this.inflow = settings.rate.tokens;
    this.unit = settings.rate.per;
    this.cap = settings.capacity * this.unit;
    this.level = Math.min(Math.max(0, initialTokens), settings.capacity) * this.unit;
    this.last = clock.monotonic();
  }

  get settings(): BucketSettings {
    return this.current;
  }

  get rate(): Rate {
    return this.current.rate;
  }

  get capacity(): number {
    return this.current.capacity;
  }

  /** The tokens available now. */
  available(now: number = this.clock.monotonic()): number {
    this.settle(now);
    return this.level / this.unit;
  }

  /**
   * Takes `n` tokens if the bucket holds them, and says whether it did. Allocation-free. `now` defaults to the
   * clock's monotonic time; a caller that already read it passes it on.
   */
  tryTake(n = 1, now: number = this.clock.monotonic()): boolean {
    let level = this.level;
    const elapsed = now - this.last;
    if (elapsed > 0) {
      level += elapsed * this.inflow;
      if (level > this.cap) level = this.cap;
      this.last = now;
    }
    const need = n * this.unit;
    if (level >= need) {
      this.level = level - need;
      this.admittedTotal += n;
      return true;
    }
    this.level = level;
    this.rejectedTotal += n;
    return false;
  }

  setRate(rate: Rate): void {
    this.setSettings({ rate, capacity: this.current.capacity });
  }

  setCapacity(capacity: number): void {
    this.setSettings({ rate: this.current.rate, capacity });
  }

  /** Applies new settings without refilling: tokens due so far are credited, then kept (clamped to capacity). */
  setSettings(settings: BucketSettings): void {
    assertSettings(settings);
    this.settle(this.clock.monotonic());
    const unit = settings.rate.per;
    // Same period: no conversion, so integer levels stay exact.
    const level = unit === this.unit ? this.level : (this.level / this.unit) * unit;
    this.current = settings;
    this.inflow = settings.rate.tokens;
    this.unit = unit;
    this.cap = settings.capacity * unit;
    this.level = Math.min(level, this.cap);
  }

  private settle(now: number): void {
    const elapsed = now - this.last;
    if (elapsed <= 0) return;
    this.level = Math.min(this.cap, this.level + elapsed * this.inflow);
    this.last = now;
  }
}
