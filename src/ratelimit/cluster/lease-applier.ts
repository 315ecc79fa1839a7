/**
 * The node's side of a lease, pure: turns a lease from the manager into the limiter's share, its expiry and its
 * fallback. The limiter checks the expiry against the monotonic clock on every admission (see ../limiter.ts), so
 * a node that cannot renew (manager gone, node partitioned, process stopped with SIGSTOP) drops to the fallback by
 * itself, without a timer.
 *
 * Units: a lease's `rate` and `safeShare` are tokens per second, `capacity` tokens, `ttlMs` milliseconds relative
 * to the moment the node applies it (never a wall-clock instant, so clock offsets between hosts do not matter).
 */
import type { Limiter } from '../limiter.js';
import type { BucketSettings, Rate } from '../token-bucket.js';

/** The lease record of ARCHITECTURE.md (Limits); structurally the control channel's `LeaseBody`. */
export interface Lease {
  readonly limitId: string;
  /** Tokens per second. */
  readonly rate: number;
  /** Tokens. */
  readonly capacity: number;
  /** Milliseconds from the moment the node applies it. */
  readonly ttlMs: number;
  readonly epoch: number;
  readonly seq: number;
  /** Tokens per second the node falls back to once the lease expires; computed by the manager. */
  readonly safeShare: number;
}

/**
 * What a node enforces once its lease has expired and it could not renew:
 * - `safe_share` (default): the lease's `safeShare`, computed by the manager (see ./lease-book.ts);
 * - `zero`: nothing is admitted until the manager is back (strict, at the cost of availability);
 * - `{ fixed }`: this many tokens per second, capped at the cluster-wide rate (an operator's choice, outside the
 *   manager's accounting: the cluster total can then exceed the limit).
 */
export type FallbackMode = 'safe_share' | 'zero' | { readonly fixed: number };

export interface ApplyLeaseOptions {
  readonly fallbackMode?: FallbackMode;
}

export interface AppliedLease {
  /** Monotonic ms after which the fallback applies. */
  readonly expiresAt: number;
  /** What the limiter enforces until then (before its clamp to the config). */
  readonly share: BucketSettings;
  readonly fallback: BucketSettings;
}

/** Tokens per second of a KrakenD rate (`tokens` every `per` ms). */
export function perSecond(rate: Rate): number {
  return rate.per > 0 ? (rate.tokens * 1000) / rate.per : 0;
}

/** Bucket settings for a rate in tokens per second and a capacity in tokens. */
export function toBucketSettings(rate: number, capacity: number): BucketSettings {
  return { rate: { tokens: finite(rate), per: 1000 }, capacity: finite(capacity) };
}

/**
 * The fallback's capacity for a fallback rate: the cluster-wide capacity scaled by the fallback's fraction of the
 * cluster-wide rate, and never more than the lease's own capacity (so that the fallback is never a larger burst
 * than the lease it replaces; the manager's accounting relies on it). No rounding up to a whole token: that
 * would mint tokens the manager did not lease.
 */
export function fallbackCapacity(config: { rate: number; capacity: number }, leaseCapacity: number, fallbackRate: number): number {
  if (!(config.rate > 0) || !(fallbackRate > 0)) return 0;
  return Math.min(finite(leaseCapacity), (finite(config.capacity) * Math.min(fallbackRate, config.rate)) / config.rate);
}

/** The settings the node falls back to under `mode`, for a limiter whose cluster-wide figures are `config`. */
export function fallbackFor(config: BucketSettings, lease: Lease, mode: FallbackMode = 'safe_share'): BucketSettings {
  const cluster = { rate: perSecond(config.rate), capacity: config.capacity };
  if (mode === 'zero') return toBucketSettings(0, 0);
  if (mode === 'safe_share') {
    const rate = Math.min(finite(lease.safeShare), cluster.rate);
    return toBucketSettings(rate, fallbackCapacity(cluster, lease.capacity, rate));
  }
  const rate = Math.min(finite(mode.fixed), cluster.rate);
  // A fixed fallback is the operator's figure, outside the lease: its burst is proportional to the config's.
  return toBucketSettings(rate, cluster.rate > 0 ? (cluster.capacity * rate) / cluster.rate : 0);
}

/**
 * Applies `lease` to `limiter` at `nowMonotonic` (the node's monotonic ms): the lease's figures until
 * now + ttlMs, then the fallback. Does not check ordering: call it only for a lease that `supersedes` the one held.
 */
export function applyLease(limiter: Limiter, lease: Lease, nowMonotonic: number, options: ApplyLeaseOptions = {}): AppliedLease {
  const share = toBucketSettings(lease.rate, lease.capacity);
  const fallback = fallbackFor(limiter.config, lease, options.fallbackMode);
  const expiresAt = nowMonotonic + Math.max(0, finite(lease.ttlMs));
  limiter.setShare(share, { at: expiresAt, fallback });
  return { expiresAt, share, fallback };
}

/**
 * True when `lease` should replace `held`: a newer epoch (a new manager term), or the same epoch and a higher
 * sequence. A lease from an older epoch (a deposed or restarted-before manager) or a reordered older one is
 * ignored.
 */
export function supersedes(lease: { epoch: number; seq: number }, held: { epoch: number; seq: number } | undefined): boolean {
  if (!held) return true;
  return lease.epoch > held.epoch || (lease.epoch === held.epoch && lease.seq > held.seq);
}

function finite(x: number): number {
  return Number.isFinite(x) && x > 0 ? x : 0;
}
