/**
 * The manager's book of cluster-wide limits (ARCHITECTURE.md, Limits; after YouTube's Doorman). Pure: every
 * method takes `now`, the manager's monotonic ms; the caller owns timers, sockets and logs.
 *
 * Per limit (a stable `limitId` across config versions) and node, the book keeps the demand the node reported
 * and the leases sent to it. `allocate(now)` splits the limit (./allocate.ts) and answers the leases to send.
 *
 * ## The invariant: what may be in force never exceeds the limit
 *
 * For each node the book computes a *commitment*: the most the node may be enforcing now or later without hearing
 * from the manager again. It is the largest of
 * - every lease sent to it that is still in force (not expired) and not superseded (the node reported a later
 *   sequence of this book). A lease sent at s counts until s + ttl + maxDelay: the node applies it at most
 *   maxDelay after s and drops it ttl later. A lower lease does not lower the commitment until the node reports
 *   it holds it: until then the higher one may still be in force.
 * - the fallback the node drops to once those leases expire (their `safeShare`), while the node may still be
 *   running: `alive` (even if silent: partitioned from the manager, it keeps serving on its fallback) or, with
 *   `holdUnreachableFallback`, `unreachable`. A `removed`, `down` (or, by default, `unreachable`) node's share is
 *   reused once its leases have expired, as the issue asks.
 * - for a node that reported holding a former manager's lease (after a restart): that lease, and after it its
 *   fallback (at most that lease, capped; limit ÷ node count, even).
 * Nodes met during the learning phase that reported no lease may run on a former manager's fallback the book
 * cannot see: together they are reserved the limit less the former leases the other nodes reported (a former
 * manager's leases added up to at most the limit, and a capped fallback is at most its lease), until each reports
 * holding one of this book's leases.
 *
 * A decrease is sent at once; an increase only up to what Σ commitments leaves free. Room freed by a decrease
 * becomes usable when the node reports holding the lower lease, or when the higher one expires. So Σ over nodes of
 * what they may enforce ≤ the limit at every instant, under any message delay up to `maxDelayMs`, any loss, any
 * partition and any manager outage (test/ratelimit/cluster/lease-book.test.ts checks it on random histories).
 *
 * ## Latency: what the wiring should do
 * The figures of bench/RESULTS.md assume (1) the manager calls `allocate(now)` after each report, not only on its
 * refresh tick (it answers only the leases that changed, plus renewals due), and (2) a node sends a report at
 * once after applying a lease that lowers its share (`admitted: 0, rejected: 0, intervalMs: 0` and the lease: an
 * acknowledgement, which frees the room for the increases). With neither, a shift takes up to twice as long.
 * `grantPending(now)` is a cheaper alternative to (1) that grants unblocked increases without resplitting.
 *
 * ## Safe share
 * `safeShareMode: 'capped'` (default): a lease's `safeShare` is min(limit ÷ node count, the lease's own rate), the
 * node count being the `alive` + `unreachable` nodes the manager knows (never the view of a cut-off node). The
 * cap makes a fallback never larger than the lease it replaces, so leases expiring at different instants (a
 * partition, an outage, delays) can never add up to more than the limit, and the manager need not guess which
 * silent node is partitioned and which is dead. The cost: a node idle when it lost the manager stays at its small
 * lease until the manager is back. `'even'`: limit ÷ node count, as the issue states it; all nodes falling back
 * together then add up to the limit, but a partitioned node whose lease was below its even share can exceed it
 * until the manager notices the silence (`silentAfterMs`) and reserves the difference.
 *
 * ## Restart: learning
 * A new book (a restarted manager) starts learning for one lease length (ttl + maxDelay): it records the leases
 * the nodes report holding (`report`'s `lease`, from any epoch), re-issues exactly those figures under its own
 * epoch so nodes do not drop to their fallback, and allocates nothing else: a node that reports no lease, or
 * joins meanwhile, gets nothing until the phase ends (a newcomer should enforce zero until its first lease).
 * Afterwards every lease of the former manager has expired and the reserve above covers the nodes that never
 * reported. A restart therefore causes no burst. A manager starting a cluster with no nodes passes
 * `learning: false`.
 *
 * ## Sequence numbers
 * `seq` grows across all leases of the book from `firstSeq`; nodes keep the lease with the highest (epoch, seq).
 * A restarted manager must use a higher epoch, or a `firstSeq` above any sequence it issued before (its wall-clock
 * ms, say); the book also moves past any sequence of its own epoch that nodes report.
 *
 * ## Long windows
 * Rates are tokens per second internally; "50 every 10m" is 1/12 per second with the configured capacity (the
 * burst), both split like any other limit. A node's demand is the larger of its last interval's rate and its mean
 * rate over the limit's window (`every`, at most `maxDemandWindowMs`), so a node whose requests come every few
 * seconds keeps a share between them, and a rise is seen at once.
 */
import { allocate as split, DEFAULT_FLOOR_FRACTION } from './allocate.js';
import type { Share } from './allocate.js';
import type { BucketSettings } from '../token-bucket.js';
import { fallbackCapacity, perSecond } from './lease-applier.js';
import type { Lease } from './lease-applier.js';

/** Node states of ARCHITECTURE.md, as far as the book cares. */
export type NodeState = 'alive' | 'unreachable' | 'down' | 'removed';

/** A cluster-wide limit. */
export interface ClusterLimit {
  /** Stable across config versions (the limiter's id). */
  readonly limitId: string;
  /** Tokens per second, cluster-wide. */
  readonly rate: number;
  /** Tokens, cluster-wide: the largest burst. */
  readonly capacity: number;
  /** KrakenD's `every`, in ms (default 1000): the window the demand is averaged over. */
  readonly windowMs?: number;
}

/** The cluster-wide limit for krakend.json's figures (`max_rate` every `every`, `capacity`) of limiter `limitId`. */
export function clusterLimit(limitId: string, config: BucketSettings): ClusterLimit {
  return { limitId, rate: perSecond(config.rate), capacity: config.capacity, windowMs: config.rate.per };
}

/** A lease a node says it holds, as in the control channel's `LimitReport.lease`. */
export interface ReportedLease {
  readonly rate: number;
  readonly capacity: number;
  /** Ms left before the node drops it, measured when the node sent the report. */
  readonly remainingMs: number;
  readonly epoch: number;
  readonly seq: number;
}

/** One limit in a node's report; the control channel's `LimitReport` is assignable to it. */
export interface NodeLimitReport {
  readonly limitId: string;
  /** Tokens granted and refused since the previous report. */
  readonly admitted: number;
  readonly rejected: number;
  /** Length of that interval, by the node's monotonic clock. */
  readonly intervalMs: number;
  /** The lease the node holds, absent when it holds none (never had one, or on its fallback). */
  readonly lease?: ReportedLease | undefined;
}

export type SafeShareMode = 'capped' | 'even';

export interface LeaseBookOptions {
  /** The manager's epoch (term), carried by every lease; nodes ignore leases of an older epoch. */
  readonly epoch: number;
  /** Monotonic ms at which the book is created (the learning phase starts then). */
  readonly now: number;
  /** How often the manager renews leases and nodes report. Default 1000 ms. */
  readonly refreshMs?: number;
  /**
   * A lease's TTL. Default 2000 ms (2 × refreshMs): a node survives one lost renewal, and the share of a node
   * that crashed is reused after ttl + maxDelay = 2.5 s. 3000 ms rides out longer manager pauses but delays that
   * reuse to 3.5 s (bench/RESULTS.md, "Cluster rate-limit benchmark", has both).
   */
  readonly ttlMs?: number;
  /** Largest delay between sending a lease and the node applying it. Default 500 ms. */
  readonly maxDelayMs?: number;
  /** Each node's floor, as a fraction of an even share. Default 0.05. */
  readonly floorFraction?: number;
  /** Start by learning the nodes' current leases for one lease length. Default true (always safe). */
  readonly learning?: boolean;
  /** See the module comment. Default 'capped'. */
  readonly safeShareMode?: SafeShareMode;
  /** Keep reserving the fallback of an `unreachable` node until it is `down`. Default false. */
  readonly holdUnreachableFallback?: boolean;
  /** An `alive` node not heard from for this long gets no new share. Default 2 × refreshMs + maxDelayMs. */
  readonly silentAfterMs?: number;
  /** The first sequence number. Default 1. */
  readonly firstSeq?: number;
  /** Longest window a demand is averaged over. Default 60 000 ms. */
  readonly maxDemandWindowMs?: number;
  /** A lease differing from the last one sent by more than this fraction of the limit counts as a change. Default 0.01. */
  readonly changeTolerance?: number;
}

/** The leases to send to one node (one `Limits` message). */
export interface NodeLeases {
  readonly nodeId: string;
  readonly leases: readonly Lease[];
  /** Some figure changed (log at INFO); false for a plain renewal (DEBUG). */
  readonly changed: boolean;
}

/** For the HTTP API: one node's state for one limit. */
export interface NodeLeaseView {
  readonly nodeId: string;
  readonly state: NodeState;
  /** Not heard from within `silentAfterMs`. */
  readonly silent: boolean;
  /** Requests per second, as the allocation uses it. */
  readonly demand: number;
  /** The last lease sent, if any. */
  readonly lease: Lease | undefined;
  /** Ms until the last lease sent stops counting (manager's view: sent + ttl + maxDelay); 0 when expired. */
  readonly expiresInMs: number;
  /**
   * What the book counts the node may enforce (see the module comment); for a node whose former lease is unknown,
   * an even part of the reserve held for all such nodes.
   */
  readonly committed: Share;
}

export interface LimitView {
  readonly limitId: string;
  readonly rate: number;
  readonly capacity: number;
  readonly learning: boolean;
  readonly nodeCount: number;
  readonly nodes: readonly NodeLeaseView[];
}

interface Sent {
  readonly seq: number;
  readonly rate: number;
  readonly capacity: number;
  readonly safeRate: number;
  readonly safeCapacity: number;
  readonly sentAt: number;
  /** sentAt + ttl + maxDelay. */
  readonly expiresAt: number;
}

interface Sample {
  readonly at: number;
  readonly requests: number;
  readonly intervalMs: number;
}

interface Slot {
  samples: Sample[];
  /** Requests per second in the last report. */
  lastRate: number;
  /** Leases of this book not superseded by a report (ascending seq), expired ones included for their fallback. */
  sent: Sent[];
  /** The last lease sent. */
  last: Sent | undefined;
  /** A lease of another epoch (or another life of this one) the node reported holding; dropped on an ack of ours. */
  learned: { rate: number; capacity: number; expiresAt: number } | undefined;
  /** The smallest lease of a former manager the node reported (kept after an ack: see unknownReserve). */
  old: Share | undefined;
  /** Met while learning and not yet holding one of this book's leases: it may run on a former manager's lease. */
  unknown: boolean;
  /** The node's last report said it holds no lease (so it runs on its fallback, or on nothing). */
  onFallback: boolean;
  /** The allocation's last target for the node. */
  target: Share | undefined;
}

interface NodeEntry {
  readonly id: string;
  state: NodeState;
  /** Met during the learning phase: it may hold a lease or a fallback of a former manager. */
  readonly survivor: boolean;
  /** Last report, or the moment it became alive. */
  heardAt: number;
}

interface LimitEntry {
  limit: ClusterLimit;
  readonly slots: Map<string, Slot>;
}

const MAX_SENT = 32;
/** A lease is renewed once this fraction of the refresh interval has passed since the last one sent to the node. */
const RENEW_AFTER = 0.9;

export class LeaseBook {
  readonly epoch: number;
  readonly refreshMs: number;
  readonly ttlMs: number;
  readonly maxDelayMs: number;
  private readonly floorFraction: number;
  private readonly safeShareMode: SafeShareMode;
  private readonly holdUnreachable: boolean;
  private readonly silentAfterMs: number;
  private readonly maxDemandWindowMs: number;
  private readonly tolerance: number;
  private readonly learningUntil: number;
  private seq: number;
  private readonly firstSeq: number;
  private readonly limits = new Map<string, LimitEntry>();
  private readonly nodes = new Map<string, NodeEntry>();
  private readonly lastSentAt = new Map<string, number>();

  constructor(options: LeaseBookOptions) {
    this.epoch = options.epoch;
    this.refreshMs = positive(options.refreshMs, 1000);
    this.ttlMs = positive(options.ttlMs, 2 * this.refreshMs);
    this.maxDelayMs = Math.max(0, options.maxDelayMs ?? 500);
    this.floorFraction = options.floorFraction ?? DEFAULT_FLOOR_FRACTION;
    this.safeShareMode = options.safeShareMode ?? 'capped';
    this.holdUnreachable = options.holdUnreachableFallback ?? false;
    this.silentAfterMs = positive(options.silentAfterMs, 2 * this.refreshMs + this.maxDelayMs);
    this.maxDemandWindowMs = positive(options.maxDemandWindowMs, 60_000);
    this.tolerance = Math.max(0, options.changeTolerance ?? 0.01);
    this.learningUntil = options.learning === false ? options.now : options.now + this.ttlMs + this.maxDelayMs;
    this.firstSeq = Math.max(1, Math.floor(options.firstSeq ?? 1));
    this.seq = this.firstSeq - 1;
  }

  /** True during the learning phase after the book's creation. */
  learning(now: number): boolean {
    return now < this.learningUntil;
  }

  /** The limits of the current config. A limit no longer listed is forgotten; one whose figures changed is resplit. */
  setLimits(limits: readonly ClusterLimit[]): void {
    const ids = new Set(limits.map((l) => l.limitId));
    for (const id of [...this.limits.keys()]) if (!ids.has(id)) this.limits.delete(id);
    for (const limit of limits) {
      const entry = this.limits.get(limit.limitId);
      if (entry) entry.limit = limit;
      else this.limits.set(limit.limitId, { limit, slots: new Map() });
    }
  }

  /** A node joined (`alive`), or its state changed. Call `allocate` afterwards. */
  setNodeState(nodeId: string, state: NodeState, now: number): void {
    const node = this.nodes.get(nodeId);
    if (!node) {
      this.nodes.set(nodeId, { id: nodeId, state, survivor: this.learning(now), heardAt: now });
      return;
    }
    if (state === 'alive' && node.state !== 'alive') node.heardAt = now;
    node.state = state;
  }

  /** A node's report: its demand per limit and the lease it holds. An unknown node counts as `alive`. */
  report(nodeId: string, reports: readonly NodeLimitReport[], now: number): void {
    let node = this.nodes.get(nodeId);
    if (!node) {
      node = { id: nodeId, state: 'alive', survivor: this.learning(now), heardAt: now };
      this.nodes.set(nodeId, node);
    }
    node.heardAt = now;
    for (const report of reports) {
      const entry = this.limits.get(report.limitId);
      if (!entry) continue;
      const slot = this.slot(entry, nodeId);
      this.recordDemand(entry.limit, slot, report, now);
      this.recordLease(slot, report.lease, now);
    }
  }

  /**
   * Resplits every limit and answers the leases to send now: to each active node whose figures changed by more
   * than `changeTolerance`, or whose last lease was sent 0.9 × refreshMs ago or more (a renewal). Call it on the
   * refresh tick and after reports and state changes. Nodes neither `alive` nor heard from within
   * `silentAfterMs` get nothing; during learning, only the re-issued leases go out.
   */
  allocate(now: number): NodeLeases[] {
    this.forgetGone(now);
    const count = this.nodeCount();
    const learning = this.learning(now);
    const perNode = new Map<string, Pending>();
    for (const entry of this.limits.values()) {
      const grants = learning ? this.relearned(entry, now) : this.grant(entry, now, true);
      for (const [nodeId, share] of grants) {
        const slot = this.slot(entry, nodeId);
        const acc = perNode.get(nodeId) ?? { grants: [], changed: false, unsent: false };
        acc.grants.push([entry, share]);
        if (this.difference(entry.limit, slot.last, share) > this.tolerance) acc.changed = true;
        if (!slot.last) acc.unsent = true;
        perNode.set(nodeId, acc);
      }
    }
    return this.emit(perNode, count, now, (nodeId, acc) => {
      const renewal = now - (this.lastSentAt.get(nodeId) ?? Number.NEGATIVE_INFINITY) >= RENEW_AFTER * this.refreshMs;
      return renewal || acc.changed || acc.unsent;
    });
  }

  /**
   * Increases that became possible since the last `allocate` (a node reported holding a lower lease, or an old
   * lease expired), without recomputing the split. Cheap; call it after each batch of reports.
   */
  grantPending(now: number): NodeLeases[] {
    if (this.learning(now)) return [];
    const count = this.nodeCount();
    const perNode = new Map<string, Pending>();
    for (const entry of this.limits.values()) {
      for (const [nodeId, share] of this.grant(entry, now, false)) {
        const slot = this.slot(entry, nodeId);
        const last = slot.last;
        const grew =
          last === undefined ||
          share.rate - last.rate > this.tolerance * entry.limit.rate ||
          share.capacity - last.capacity > this.tolerance * entry.limit.capacity;
        const acc = perNode.get(nodeId) ?? { grants: [], changed: false, unsent: false };
        acc.grants.push([entry, share]);
        if (grew) acc.changed = true;
        perNode.set(nodeId, acc);
      }
    }
    return this.emit(perNode, count, now, (_nodeId, acc) => acc.changed);
  }

  /** The last leases sent to a node, one per limit (for a `Welcome`): call after `allocate`. */
  leasesFor(nodeId: string): Lease[] {
    const leases: Lease[] = [];
    for (const entry of this.limits.values()) {
      const last = entry.slots.get(nodeId)?.last;
      if (last) leases.push(this.toLease(entry.limit.limitId, last));
    }
    return leases;
  }

  /** Per limit and node: demand, lease, expiry, commitment. */
  view(now: number): LimitView[] {
    const count = this.nodeCount();
    const views: LimitView[] = [];
    for (const entry of this.limits.values()) {
      const nodes: NodeLeaseView[] = [];
      const unknown = this.unknownReserve(entry, now, count);
      for (const node of this.nodes.values()) {
        const slot = this.slot(entry, node.id);
        let committed = this.committed(entry.limit, slot, node, now, count);
        if (slot.unknown && !slot.learned && this.mayRun(node) && unknown.nodes > 0) {
          // Its part of the reserve held for the nodes whose former lease is not known.
          committed = {
            rate: committed.rate + unknown.share.rate / unknown.nodes,
            capacity: committed.capacity + unknown.share.capacity / unknown.nodes,
          };
        }
        nodes.push({
          nodeId: node.id,
          state: node.state,
          silent: this.silent(node, now),
          demand: this.demand(entry.limit, slot, now),
          lease: slot.last ? this.toLease(entry.limit.limitId, slot.last) : undefined,
          expiresInMs: slot.last ? Math.max(0, slot.last.expiresAt - now) : 0,
          committed,
        });
      }
      views.push({
        limitId: entry.limit.limitId,
        rate: entry.limit.rate,
        capacity: entry.limit.capacity,
        learning: this.learning(now),
        nodeCount: count,
        nodes,
      });
    }
    return views;
  }

  // ---- allocation --------------------------------------------------------------------------------------------

  /**
   * Target split of the limit among active nodes, then the grants: a target at or below a node's commitment is
   * granted as is; the increases share what the commitments leave free, in proportion to what each lacks.
   */
  private grant(entry: LimitEntry, now: number, resplit: boolean): Map<string, Share> {
    const { limit } = entry;
    const count = this.nodeCount();
    const active: NodeEntry[] = [];
    const commitments = new Map<string, Share>();
    let reservedRate = 0;
    let reservedCap = 0;
    let usedRate = 0;
    let usedCap = 0;
    for (const node of this.nodes.values()) {
      const slot = this.slot(entry, node.id);
      const c = this.committed(limit, slot, node, now, count);
      commitments.set(node.id, c);
      usedRate += c.rate;
      usedCap += c.capacity;
      if (this.isActive(node, now)) active.push(node);
      else {
        reservedRate += c.rate;
        reservedCap += c.capacity;
      }
    }
    const unknown = this.unknownReserve(entry, now, count);
    usedRate += unknown.share.rate;
    usedCap += unknown.share.capacity;
    if (unknown.inactive) {
      reservedRate += unknown.share.rate;
      reservedCap += unknown.share.capacity;
    }
    if (resplit) {
      const targets = split(
        { rate: limit.rate, capacity: limit.capacity },
        active.map((node) => ({ id: node.id, demand: this.demand(limit, this.slot(entry, node.id), now) })),
        { rate: reservedRate, capacity: reservedCap },
        { floorFraction: this.floorFraction },
      );
      for (const node of active) this.slot(entry, node.id).target = targets.get(node.id);
    }
    const freeRate = limit.rate - usedRate;
    const freeCap = limit.capacity - usedCap;
    let needRate = 0;
    let needCap = 0;
    const granted = resplit ? active : active.filter((node) => this.slot(entry, node.id).target !== undefined);
    for (const node of granted) {
      const t = this.slot(entry, node.id).target ?? ZERO;
      const c = commitments.get(node.id) ?? ZERO;
      needRate += Math.max(0, t.rate - c.rate);
      needCap += Math.max(0, t.capacity - c.capacity);
    }
    const rateScale = needRate > 0 ? clamp01(freeRate / needRate) : 0;
    const capScale = needCap > 0 ? clamp01(freeCap / needCap) : 0;
    const grants = new Map<string, Share>();
    for (const node of granted) {
      const t = this.slot(entry, node.id).target ?? ZERO;
      const c = commitments.get(node.id) ?? ZERO;
      grants.set(node.id, {
        rate: t.rate <= c.rate ? t.rate : c.rate + (t.rate - c.rate) * rateScale,
        capacity: t.capacity <= c.capacity ? t.capacity : c.capacity + (t.capacity - c.capacity) * capScale,
      });
    }
    return grants;
  }

  /** During learning: the figures the nodes reported holding, again, under this book's epoch; nothing else. */
  private relearned(entry: LimitEntry, now: number): Map<string, Share> {
    const grants = new Map<string, Share>();
    for (const node of this.nodes.values()) {
      if (!this.isActive(node, now)) continue;
      const slot = this.slot(entry, node.id);
      if (slot.learned && slot.learned.expiresAt > now) {
        grants.set(node.id, { rate: slot.learned.rate, capacity: slot.learned.capacity });
      } else if (slot.last) {
        // Renew what this book already re-issued (never more than the node reported).
        grants.set(node.id, { rate: slot.last.rate, capacity: slot.last.capacity });
      }
      // Otherwise nothing: a node on its fallback stays there, and a node not heard from yet may hold a lease of
      // the former manager that a zero lease would cut.
    }
    return grants;
  }

  /**
   * What `node` may enforce now or later without hearing from the book again (see the module comment), except
   * the fallback of an `unknown` node that reported no lease: `unknownReserve` covers those together.
   */
  private committed(limit: ClusterLimit, slot: Slot, node: NodeEntry, now: number, count: number): Share {
    let rate = 0;
    let capacity = 0;
    for (const s of slot.sent) {
      if (s.expiresAt > now) {
        rate = Math.max(rate, s.rate);
        capacity = Math.max(capacity, s.capacity);
      }
    }
    const learned = slot.learned;
    if (learned && learned.expiresAt > now) {
      rate = Math.max(rate, learned.rate);
      capacity = Math.max(capacity, learned.capacity);
    }
    if (!this.mayRun(node)) return { rate, capacity };
    // Fallbacks of our leases: in 'capped' mode never above the leases themselves, so counting them always is
    // free while a lease is in force; in 'even' mode only once the node may actually be on it.
    if (this.safeShareMode === 'capped' || !this.isActive(node, now) || slot.onFallback) {
      for (const s of slot.sent) {
        rate = Math.max(rate, s.safeRate);
        capacity = Math.max(capacity, s.safeCapacity);
      }
    }
    if (slot.unknown && learned) {
      // Once a former manager's lease expires, the node runs on that lease's fallback: at most the lease when
      // capped, limit ÷ node count when even.
      const even = { rate: limit.rate / Math.max(1, count), capacity: limit.capacity / Math.max(1, count) };
      const fallback = this.safeShareMode === 'capped' ? learned : even;
      rate = Math.max(rate, fallback.rate);
      capacity = Math.max(capacity, fallback.capacity);
    }
    return { rate, capacity };
  }

  /**
   * What the nodes met while learning that reported no lease (so may run on a former manager's fallback) may
   * enforce all together, and how many they are. 'capped': a former manager's leases added up to at most the
   * limit and each fallback is at most its lease, so together these nodes hold at most the limit less the former
   * leases the other nodes reported. 'even': limit ÷ node count each.
   */
  private unknownReserve(entry: LimitEntry, now: number, count: number): { share: Share; nodes: number; inactive: boolean } {
    const { limit } = entry;
    let nodes = 0;
    let inactive = false;
    let oldRate = 0;
    let oldCap = 0;
    for (const node of this.nodes.values()) {
      const slot = this.slot(entry, node.id);
      if (slot.old) {
        oldRate += slot.old.rate;
        oldCap += slot.old.capacity;
      }
      if (slot.unknown && !slot.learned && this.mayRun(node)) {
        nodes++;
        if (!this.isActive(node, now)) inactive = true;
      }
    }
    if (nodes === 0) return { share: ZERO, nodes, inactive };
    const n = Math.max(1, count);
    const share =
      this.safeShareMode === 'capped'
        ? { rate: Math.max(0, limit.rate - oldRate), capacity: Math.max(0, limit.capacity - oldCap) }
        : { rate: Math.min(limit.rate, (nodes * limit.rate) / n), capacity: Math.min(limit.capacity, (nodes * limit.capacity) / n) };
    return { share, nodes, inactive };
  }

  /** The node may still be admitting requests: `alive` (even if cut off), or `unreachable` if so configured. */
  private mayRun(node: NodeEntry): boolean {
    return node.state === 'alive' || (node.state === 'unreachable' && this.holdUnreachable);
  }

  private emit(
    perNode: Map<string, Pending>,
    count: number,
    now: number,
    send: (nodeId: string, acc: Pending) => boolean,
  ): NodeLeases[] {
    const out: NodeLeases[] = [];
    for (const [nodeId, acc] of perNode) {
      if (!send(nodeId, acc)) continue;
      const leases: Lease[] = [];
      for (const [entry, share] of acc.grants) {
        const slot = this.slot(entry, nodeId);
        const safeRate = this.safeRate(entry.limit, count, share.rate);
        const sent: Sent = {
          seq: ++this.seq,
          rate: share.rate,
          capacity: share.capacity,
          safeRate,
          safeCapacity: fallbackCapacity(entry.limit, share.capacity, safeRate),
          sentAt: now,
          expiresAt: now + this.ttlMs + this.maxDelayMs,
        };
        slot.sent.push(sent);
        if (slot.sent.length > MAX_SENT) compact(slot, now);
        slot.last = sent;
        leases.push(this.toLease(entry.limit.limitId, sent));
      }
      this.lastSentAt.set(nodeId, now);
      out.push({ nodeId, leases, changed: acc.changed });
    }
    return out;
  }

  private safeRate(limit: ClusterLimit, count: number, leaseRate: number): number {
    const even = limit.rate / Math.max(1, count);
    return this.safeShareMode === 'capped' ? Math.min(even, leaseRate) : even;
  }

  private toLease(limitId: string, s: Sent): Lease {
    return { limitId, rate: s.rate, capacity: s.capacity, ttlMs: this.ttlMs, epoch: this.epoch, seq: s.seq, safeShare: s.safeRate };
  }

  // ---- reports -----------------------------------------------------------------------------------------------

  private recordDemand(limit: ClusterLimit, slot: Slot, report: NodeLimitReport, now: number): void {
    const requests = nonNegative(report.admitted) + nonNegative(report.rejected);
    const intervalMs = nonNegative(report.intervalMs);
    if (intervalMs <= 0) return;
    slot.lastRate = (requests * 1000) / intervalMs;
    slot.samples.push({ at: now, requests, intervalMs });
    const window = this.demandWindow(limit);
    while (slot.samples.length > 1 && (slot.samples[0]?.at ?? now) < now - window) slot.samples.shift();
  }

  private recordLease(slot: Slot, lease: ReportedLease | undefined, now: number): void {
    if (!lease) {
      slot.onFallback = true;
      return;
    }
    slot.onFallback = false;
    if (lease.epoch === this.epoch) {
      if (lease.seq >= this.firstSeq && lease.seq <= this.seq) {
        // The node holds one of ours: every earlier one is superseded, and so is whatever it held before.
        slot.sent = slot.sent.filter((s) => s.seq >= lease.seq);
        slot.unknown = false;
        slot.learned = undefined;
        return;
      }
      // Our epoch but not our lease: another life of this manager. Move past its sequence numbers.
      this.seq = Math.max(this.seq, lease.seq);
    }
    // A lease of a former manager (or of a newer one, if this one is deposed: counted, never superseded).
    if (lease.epoch > this.epoch || slot.sent.length === 0 || slot.unknown) {
      slot.learned = { rate: lease.rate, capacity: lease.capacity, expiresAt: now + nonNegative(lease.remainingMs) };
      slot.unknown = true;
      // The smallest figure reported: the reserve for the others only grows if a node's figures differ by term.
      slot.old = { rate: Math.min(slot.old?.rate ?? Infinity, lease.rate), capacity: Math.min(slot.old?.capacity ?? Infinity, lease.capacity) };
    }
  }

  // ---- helpers -----------------------------------------------------------------------------------------------

  private demand(limit: ClusterLimit, slot: Slot, now: number): number {
    const window = this.demandWindow(limit);
    let requests = 0;
    let span = 0;
    for (const s of slot.samples) {
      if (s.at < now - window) continue;
      requests += s.requests;
      span += s.intervalMs;
    }
    const mean = span > 0 ? (requests * 1000) / span : 0;
    return Math.max(slot.lastRate, mean);
  }

  private demandWindow(limit: ClusterLimit): number {
    return Math.min(this.maxDemandWindowMs, Math.max(this.refreshMs, limit.windowMs ?? 1000));
  }

  /** Largest difference between a grant and the last lease sent, as a fraction of the limit (1 when none). */
  private difference(limit: ClusterLimit, last: Sent | undefined, share: Share): number {
    if (!last) return 1;
    const dr = limit.rate > 0 ? Math.abs(share.rate - last.rate) / limit.rate : 0;
    const dc = limit.capacity > 0 ? Math.abs(share.capacity - last.capacity) / limit.capacity : 0;
    return Math.max(dr, dc);
  }

  private isActive(node: NodeEntry, now: number): boolean {
    return node.state === 'alive' && !this.silent(node, now);
  }

  private silent(node: NodeEntry, now: number): boolean {
    return now - node.heardAt > this.silentAfterMs;
  }

  /** `alive` + `unreachable` nodes: the "last known count of nodes" (managers are not in the book). */
  private nodeCount(): number {
    let n = 0;
    for (const node of this.nodes.values()) if (node.state === 'alive' || node.state === 'unreachable') n++;
    return n;
  }

  private slot(entry: LimitEntry, nodeId: string): Slot {
    let slot = entry.slots.get(nodeId);
    if (!slot) {
      slot = {
        samples: [],
        lastRate: 0,
        sent: [],
        last: undefined,
        learned: undefined,
        old: undefined,
        unknown: this.nodes.get(nodeId)?.survivor ?? false,
        onFallback: false,
        target: undefined,
      };
      // A node met after the learning phase is a newcomer: it holds nothing of a former manager (if it does, it
      // reports it and recordLease counts it).
      entry.slots.set(nodeId, slot);
    }
    return slot;
  }

  /** Drops departed nodes whose leases have all expired. */
  private forgetGone(now: number): void {
    const count = this.nodeCount();
    for (const node of [...this.nodes.values()]) {
      if (node.state === 'alive' || node.state === 'unreachable') continue;
      let holds = false;
      for (const entry of this.limits.values()) {
        const slot = entry.slots.get(node.id);
        if (!slot) continue;
        const c = this.committed(entry.limit, slot, node, now, count);
        if (c.rate > 0 || c.capacity > 0) holds = true;
      }
      if (holds) continue;
      this.nodes.delete(node.id);
      this.lastSentAt.delete(node.id);
      for (const entry of this.limits.values()) entry.slots.delete(node.id);
    }
  }
}

interface Pending {
  grants: [LimitEntry, Share][];
  changed: boolean;
  unsent: boolean;
}

const ZERO: Share = { rate: 0, capacity: 0 };

/** Merges the oldest expired leases into one record carrying their largest figures (memory bound). */
function compact(slot: Slot, now: number): void {
  const expired = slot.sent.filter((s) => s.expiresAt <= now);
  if (expired.length < 2) {
    slot.sent.shift();
    return;
  }
  const merged: Sent = expired.reduce((a, b) => ({
    seq: Math.max(a.seq, b.seq),
    rate: Math.max(a.rate, b.rate),
    capacity: Math.max(a.capacity, b.capacity),
    safeRate: Math.max(a.safeRate, b.safeRate),
    safeCapacity: Math.max(a.safeCapacity, b.safeCapacity),
    sentAt: Math.max(a.sentAt, b.sentAt),
    expiresAt: Math.max(a.expiresAt, b.expiresAt),
  }));
  slot.sent = [merged, ...slot.sent.filter((s) => s.expiresAt > now)];
}

function positive(x: number | undefined, fallback: number): number {
  return x !== undefined && Number.isFinite(x) && x > 0 ? x : fallback;
}

function nonNegative(x: number): number {
  return Number.isFinite(x) && x > 0 ? x : 0;
}

function clamp01(x: number): number {
  return x <= 0 ? 0 : x >= 1 ? 1 : x;
}
