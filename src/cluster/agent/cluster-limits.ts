/**
 * The node's side of the cluster-wide limits (ARCHITECTURE.md, Limits): reports, per limit, the demand seen
 * since the last report and the lease held; applies the leases the manager sends. A lease's TTL is enforced by
 * the limiter itself against the monotonic clock on every admission, so a node stopped (SIGSTOP) past its lease
 * resumes on the safe share, never on a stale lease. Per-client limits stay per node (see the README).
 */
import type { Clock } from '../../base/clock.js';
import type { Logger } from '../../base/logger.js';
import type { Limiter } from '../../ratelimit/limiter.js';
import type { BucketSettings } from '../../ratelimit/token-bucket.js';
import type { DemandBody, LeaseBody, LimitReport } from '../control/messages.js';
import { fallbackFor } from '../../ratelimit/cluster/index.js';

import type { FallbackMode } from '../../ratelimit/cluster/index.js';

interface Held {
  rate: number;
  capacity: number;
  expiresAt: number;
  epoch: number;
  seq: number;
}

function perSecond(settings: BucketSettings): number {
  return (settings.rate.tokens * 1000) / settings.rate.per;
}

function bucket(ratePerSecond: number, capacity: number): BucketSettings {
  // Same settings as the lease book's toBucketSettings: tokens per second.
  return { rate: { tokens: ratePerSecond, per: 1000 }, capacity };
}

export class ClusterLimits {
  private readonly held = new Map<string, Held>();
  private lastEpoch = 0;
  private lastReportAt: number;
  /** The manager's grace period (from its welcome): how long a safe share may be used without hearing from it. */
  private fallbackHoldMs: number | undefined;

  constructor(
    private readonly limiters: () => readonly Limiter[],
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly fallback: FallbackMode = 'safe_share',
  ) {
    this.lastReportAt = clock.monotonic();
  }

  /** Limits this node enforces cluster-wide: endpoint and backend limits (client limits stay per node). */
  private shared(): Limiter[] {
    return this.limiters().filter((l) => l.kind !== 'client');
  }

  /** The demand report for the manager; undefined when the config has no limit. */
  report(): DemandBody | undefined {
    const now = this.clock.monotonic();
    const intervalMs = Math.max(1, now - this.lastReportAt);
    this.lastReportAt = now;
    const limits: LimitReport[] = [];
    for (const limiter of this.shared()) {
      const demand = limiter.takeDemand();
      const held = this.held.get(limiter.id);
      limits.push({
        limitId: limiter.id,
        rate: perSecond(limiter.config),
        capacity: limiter.config.capacity,
        admitted: demand.admitted,
        rejected: demand.rejected,
        intervalMs,
        windowMs: limiter.config.rate.per,
        ...(held && held.expiresAt > now
          ? { lease: { rate: held.rate, capacity: held.capacity, remainingMs: held.expiresAt - now, epoch: held.epoch, seq: held.seq } }
          : {}),
      });
    }
    return limits.length > 0 ? { limits } : undefined;
  }

  /** The manager's grace period, from its welcome; undefined (an older manager) keeps the safe share indefinitely. */
  setFallbackHold(ms: number | undefined): void {
    this.fallbackHoldMs = ms;
  }

  /** Applies leases; a lease from an older epoch (a deposed manager) or an older sequence is ignored. */
  apply(leases: readonly LeaseBody[]): boolean {
    let lowered = false;
    const byId = new Map(this.shared().map((l) => [l.id, l]));
    const now = this.clock.monotonic();
    for (const lease of leases) {
      if (lease.epoch < this.lastEpoch) continue;
      this.lastEpoch = lease.epoch;
      const limiter = byId.get(lease.limitId);
      if (!limiter) continue;
      const prev = this.held.get(lease.limitId);
      if (prev && prev.epoch === lease.epoch && prev.seq > lease.seq) continue;
      if (prev && (lease.rate < prev.rate || lease.capacity < prev.capacity)) lowered = true;
      // The fallback never exceeds what the manager accounted for (fallbackFor caps it at the lease's capacity),
      // and lasts only while the manager reserves it: until it may have declared this node `down` (grace period).
      const at = now + lease.ttlMs;
      const then = this.fallback === 'safe_share' && this.fallbackHoldMs !== undefined
        ? { at: now + Math.max(lease.ttlMs, this.fallbackHoldMs), fallback: bucket(0, 0) }
        : undefined;
      limiter.setShare(bucket(lease.rate, lease.capacity), { at, fallback: fallbackFor(limiter.config, lease, this.fallback), ...(then ? { then } : {}) });
      this.held.set(lease.limitId, { rate: lease.rate, capacity: lease.capacity, expiresAt: now + lease.ttlMs, epoch: lease.epoch, seq: lease.seq });
    }
    return lowered;
  }

  /**
   * A report that only says which leases are held (no demand): sent right after a decrease is applied, so the
   * manager can hand the freed share to others at once instead of waiting for the lease to expire.
   */
  acknowledgement(): DemandBody | undefined {
    const now = this.clock.monotonic();
    const limits: LimitReport[] = [];
    for (const limiter of this.shared()) {
      const held = this.held.get(limiter.id);
      if (!held || held.expiresAt <= now) continue;
      limits.push({
        limitId: limiter.id,
        rate: perSecond(limiter.config),
        capacity: limiter.config.capacity,
        admitted: 0,
        rejected: 0,
        intervalMs: 0,
        lease: { rate: held.rate, capacity: held.capacity, remainingMs: held.expiresAt - now, epoch: held.epoch, seq: held.seq },
      });
    }
    return limits.length > 0 ? { limits } : undefined;
  }

  /** After manager_grace with no manager: back to KrakenD CE's per-instance limits. */
  standalone(): void {
    for (const limiter of this.shared()) limiter.clearShare();
    this.held.clear();
    this.logger.info('[CLUSTER] Rate limits are per instance again');
  }
}
