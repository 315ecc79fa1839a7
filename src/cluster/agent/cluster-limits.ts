/**
 * The node's side of the cluster-wide limits (ARCHITECTURE.md, Limits): reports, per limit, the demand seen
 * since the last report and the lease held; applies the leases the manager sends. A lease's TTL is enforced by
 * the limiter itself against the monotonic clock on every admission, so a node stopped (SIGSTOP) past its lease
 * resumes on the safe share, never on a stale lease. Per-client limits stay per node (see the README).
 */
import type { Clock, TimerHandle } from '../../base/clock.js';
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
  /** The safe share this lease falls back to. */
  fallback: BucketSettings;
  /** Monotonic ms after which the safe share is no longer reserved by the manager (last lease + grace period). */
  holdUntil: number;
  /** Past holdUntil, this node was cut off from most of the cluster: it admits nothing until the next lease. */
  stopped: boolean;
}

/** How much of the cluster gossip shows this node in contact with: nodes reachable (itself included), nodes known. */
export interface Reachability {
  reachable: number;
  known: number;
}

/** How often the hold is re-checked, and how far ahead each check extends the safe share. */
const CHECK_MS = 500;
const EXTEND_MS = 2_000;
/** After an event-loop stall (SIGSTOP) the gossip view is stale: distrust it for this long. */
const STALE_VIEW_MS = 5_000;

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
  /** The most nodes gossip knew since the last lease: a partition must not shrink the majority it is judged by. */
  private peakKnown = 0;
  private lastCheckAt: number;
  private trustViewAfter = 0;
  private checker: TimerHandle | undefined;

  /**
   * `reachability` (from gossip) decides what happens past the grace period without a lease: a node in contact
   * with a strict majority of the nodes (the manager is down or restarting) keeps its safe share, since no manager
   * is handing that share to anyone; a node cut off from most of the cluster stops admitting on cluster-wide limits,
   * since the manager, on the other side, may have declared it `down` and given its share to the others.
   * Without it, the safe share always ends with the grace period.
   */
  constructor(
    private readonly limiters: () => readonly Limiter[],
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly fallback: FallbackMode = 'safe_share',
    private readonly reachability?: () => Reachability | undefined,
  ) {
    this.lastReportAt = clock.monotonic();
    this.lastCheckAt = clock.monotonic();
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

  /**
   * The manager's grace period, from its welcome; undefined (an older manager) keeps the safe share until
   * manager_grace. Starts the periodic check of the hold.
   */
  setFallbackHold(ms: number | undefined): void {
    this.fallbackHoldMs = ms;
    if (ms !== undefined && this.checker === undefined && this.fallback === 'safe_share') {
      this.lastCheckAt = this.clock.monotonic();
      this.checker = this.clock.setInterval(() => this.check(), CHECK_MS);
      (this.checker as { unref?: () => void }).unref?.();
    }
  }

  close(): void {
    this.clock.clearInterval(this.checker);
    this.checker = undefined;
  }

  /**
   * Past a limit's hold, keeps its safe share going in short extensions while this node sees a majority (and its
   * view is fresh), or lets it lapse to zero. The extensions are short so a stalled process (SIGSTOP) resumes at
   * zero rather than on a share the manager stopped reserving.
   */
  check(): void {
    const now = this.clock.monotonic();
    if (now - this.lastCheckAt > 3 * CHECK_MS) this.trustViewAfter = now + STALE_VIEW_MS;
    this.lastCheckAt = now;
    const view = this.reachability?.();
    if (view) this.peakKnown = Math.max(this.peakKnown, view.known);
    const majority = view !== undefined && now >= this.trustViewAfter && view.reachable * 2 > this.peakKnown;
    const byId = new Map(this.shared().map((l) => [l.id, l]));
    for (const [id, held] of this.held) {
      // Extensions start one check early, so a majority node never sees a gap at the end of the hold.
      if (held.stopped || now < held.expiresAt || now + CHECK_MS < held.holdUntil) continue;
      const limiter = byId.get(id);
      if (!limiter) continue;
      if (majority) {
        limiter.setShare(held.fallback, { at: now + EXTEND_MS, fallback: bucket(0, 0) });
      } else if (now >= held.holdUntil) {
        held.stopped = true;
        limiter.setShare(bucket(0, 0));
        this.logger.warning(
          `[CLUSTER] ${id}: no lease for longer than the grace period and out of touch with most of the cluster` +
            ` (${view?.reachable ?? 0} of ${this.peakKnown} nodes): admitting nothing on it until a manager answers`,
        );
      }
    }
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
      // The fallback never exceeds what the manager accounted for (fallbackFor caps it at the lease's capacity).
      // The manager reserves it until it may declare this node `down` (grace period); past that, `check` decides.
      const at = now + lease.ttlMs;
      const fallback = fallbackFor(limiter.config, lease, this.fallback);
      const holdUntil = this.fallbackHoldMs === undefined ? Infinity : now + Math.max(lease.ttlMs, this.fallbackHoldMs);
      const then = this.fallback === 'safe_share' && holdUntil !== Infinity ? { at: holdUntil, fallback: bucket(0, 0) } : undefined;
      limiter.setShare(bucket(lease.rate, lease.capacity), { at, fallback, ...(then ? { then } : {}) });
      this.held.set(lease.limitId, { rate: lease.rate, capacity: lease.capacity, expiresAt: at, epoch: lease.epoch, seq: lease.seq, fallback, holdUntil, stopped: false });
    }
    if (leases.length > 0) this.peakKnown = this.reachability?.()?.known ?? 0;
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
