/**
 * A Limiter is one limit of krakend.json as the cluster drives it: an endpoint's `max_rate`, an endpoint's
 * `client_max_rate` (each client gets the figures) or a backend's `max_rate`.
 *
 * - `config` holds the figures from krakend.json: cluster-wide in a cluster, this node's own when standalone.
 * - `share` holds what this node enforces. Standalone it follows `config`. In a cluster the agent sets it from the
 *   lease the manager sent (`setShare`), with the lease's expiry and its safe share: the expiry is checked against
 *   the monotonic clock on every admission, and once passed the safe share applies until the next lease.
 * - A share never exceeds `config` (rate and capacity are each clamped), and changing it never refills a bucket.
 * - Demand counters (`admitted`, `rejected`, `takeDemand()`) feed the lease allocation.
 *
 * `id` is stable across config versions (it derives from the endpoint's `METHOD path` or the backend's id), so it
 * serves as the cluster's `limit_id`.
 */
import type { Clock } from '../base/clock.js';
import { ClientBuckets } from './client-buckets.js';
import type { ClientBucketsOptions } from './client-buckets.js';
import type { Demand } from './demand.js';
import { TokenBucket, tokensPerMs } from './token-bucket.js';
import type { BucketSettings } from './token-bucket.js';

/** What a limit answers when it refuses: KrakenD's status for that kind of limit. */
export type Refusal = 429 | 500 | 503;
/** 0 to proceed, or the status to answer. */
export type Verdict = 0 | Refusal;

/**
 * - `endpoint`: `max_rate` of `qos/ratelimit/router`, shared by all clients; refuses with 503.
 * - `client`: `client_max_rate`, one bucket per client; refuses with 429.
 * - `backend`: `max_rate` of `qos/ratelimit/proxy`; the backend call fails, which KrakenD answers with 500.
 */
export type LimitKind = 'endpoint' | 'client' | 'backend';

export const REFUSAL: Readonly<Record<LimitKind, Refusal>> = { endpoint: 503, client: 429, backend: 500 };

/**
 * A lease's expiry: after `at` (monotonic ms) the limiter falls back to `fallback`, the safe share, which may
 * itself expire (`then`): a cut-off node holds its safe share only as long as the manager reserves it.
 */
export interface ShareExpiry {
  readonly at: number;
  readonly fallback: BucketSettings;
  readonly then?: ShareExpiry;
}

export interface Limiter {
  readonly id: string;
  readonly kind: LimitKind;
  /** The status `admit` returns when it refuses. */
  readonly refusal: Refusal;
  /** The figures from krakend.json. */
  readonly config: BucketSettings;
  /** The figures enforced now. */
  readonly share: BucketSettings;
  /** True while a share set by `setShare` (a lease, or its fallback) applies rather than `config`. */
  readonly leased: boolean;
  /**
   * Takes a token and answers 0, or answers `refusal`. A client limit takes `clientKey`'s token and refuses a
   * request with no key (undefined or empty), as KrakenD does; other kinds ignore the key. `now` (monotonic ms)
   * saves a clock reading when the caller has one.
   */
  admit(clientKey?: string, now?: number): Verdict;
  /** Enforces `share` (clamped to `config`) from now on, until `expiry.at` if given, then `expiry.fallback`. */
  setShare(share: BucketSettings, expiry?: ShareExpiry): void;
  /** Back to standalone: enforces `config`. */
  clearShare(): void;
  /** New figures from a reloaded krakend.json. Standalone they apply at once; a share is clamped to them. */
  reconfigure(config: BucketSettings): void;
  readonly admitted: number;
  readonly rejected: number;
  takeDemand(): Demand;
}

export interface LimiterOptions {
  id: string;
  kind: LimitKind;
  config: BucketSettings;
  clock: Clock;
  /** For `client` limiters. */
  clients?: ClientBucketsOptions;
}

/** A limiter of the given kind, starting standalone (enforcing `config`), its bucket(s) full. */
export function createLimiter(options: LimiterOptions): Limiter {
  return options.kind === 'client' ? new ClientLimiter(options) : new SharedLimiter(options);
}

abstract class BaseLimiter implements Limiter {
  readonly id: string;
  readonly kind: LimitKind;
  readonly refusal: Refusal;
  protected readonly clock: Clock;
  private configured: BucketSettings;
  private leasedShare: BucketSettings | undefined;
  private expiry: ShareExpiry | undefined;
  /** Monotonic ms at which the lease expires; Infinity when none does. Checked on every admission. */
  protected expiresAt = Number.POSITIVE_INFINITY;

  constructor(options: LimiterOptions) {
    this.id = options.id;
    this.kind = options.kind;
    this.refusal = REFUSAL[options.kind];
    this.clock = options.clock;
    this.configured = options.config;
  }

  abstract admit(clientKey?: string, now?: number): Verdict;
  protected abstract get store(): TokenBucket | ClientBuckets;

  get config(): BucketSettings {
    return this.configured;
  }

  get share(): BucketSettings {
    return this.store.settings;
  }

  get leased(): boolean {
    return this.leasedShare !== undefined;
  }

  get admitted(): number {
    return this.store.admitted;
  }

  get rejected(): number {
    return this.store.rejected;
  }

  takeDemand(): Demand {
    return this.store.takeDemand();
  }

  setShare(share: BucketSettings, expiry?: ShareExpiry): void {
    this.leasedShare = share;
    this.expiry = expiry;
    this.expiresAt = expiry?.at ?? Number.POSITIVE_INFINITY;
    this.store.setSettings(clamp(share, this.configured));
  }

  clearShare(): void {
    this.leasedShare = undefined;
    this.expiry = undefined;
    this.expiresAt = Number.POSITIVE_INFINITY;
    this.store.setSettings(this.configured);
  }

  reconfigure(config: BucketSettings): void {
    this.configured = config;
    this.store.setSettings(this.leasedShare ? clamp(this.leasedShare, config) : config);
  }

  /** Called by `admit` once the lease has expired: the safe share applies until the next `setShare` (or its own expiry). */
  protected expire(): void {
    const fallback = this.expiry?.fallback ?? this.configured;
    this.setShare(fallback, this.expiry?.then);
  }
}

class SharedLimiter extends BaseLimiter {
  private readonly bucket: TokenBucket;

  constructor(options: LimiterOptions) {
    super(options);
    this.bucket = new TokenBucket(options.clock, options.config);
  }

  protected get store(): TokenBucket {
    return this.bucket;
  }

  admit(_clientKey?: string, now: number = this.clock.monotonic()): Verdict {
    if (now >= this.expiresAt) this.expire();
    return this.bucket.tryTake(1, now) ? 0 : this.refusal;
  }
}

class ClientLimiter extends BaseLimiter {
  private readonly clients: ClientBuckets;

  constructor(options: LimiterOptions) {
    super(options);
    this.clients = new ClientBuckets(options.clock, options.config, options.clients);
  }

  protected get store(): ClientBuckets {
    return this.clients;
  }

  admit(clientKey?: string, now: number = this.clock.monotonic()): Verdict {
    if (!clientKey) {
      this.clients.countRejected(1);
      return this.refusal;
    }
    if (now >= this.expiresAt) this.expire();
    return this.clients.tryTake(clientKey, 1, now) ? 0 : this.refusal;
  }
}

/** `share` with its rate and capacity each capped at `limit`'s. */
function clamp(share: BucketSettings, limit: BucketSettings): BucketSettings {
  const rate = tokensPerMs(share.rate) > tokensPerMs(limit.rate) ? limit.rate : share.rate;
  const capacity = Math.min(share.capacity, limit.capacity);
  return rate === share.rate && capacity === share.capacity ? share : { rate, capacity };
}
