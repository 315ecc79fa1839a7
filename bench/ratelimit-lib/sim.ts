/**
 * A deterministic simulator of one cluster-wide limit on N nodes, with a fake clock and seeded randomness, for
 * three methods on the same offered load:
 *
 * - `even_split`: each node enforces limit ÷ N (membership-aware: ÷ the nodes not known dead), as Tyk's
 *   distributed limiter and Envoy's local limit with a membership count do.
 * - `leases`: this project's method: the real LeaseBook on the manager, the real Limiter and applyLease on the
 *   nodes, reports and leases as messages with random delays, lost when the manager or the link is down.
 * - `central_counter`: one token bucket for the whole cluster, consulted by every request at no cost: the ideal
 *   an exact central counter (Redis) reaches; it is not subjected to the faults.
 *
 * Time moves in steps of `stepMs`; requests arrive per node as a Poisson process (counts per step), all at the
 * step's instant. Outputs per-second series; ./metrics.ts turns them into the benchmark's figures.
 */
import { FakeClock } from '../../src/base/fake-clock.js';
import { SeededRandom } from '../../src/base/random.js';
import type { Random } from '../../src/base/random.js';
import { applyLease, LeaseBook, supersedes } from '../../src/ratelimit/cluster/index.js';
import type { FallbackMode, Lease, LeaseBookOptions, NodeLeases, NodeLimitReport } from '../../src/ratelimit/cluster/index.js';
import { createLimiter } from '../../src/ratelimit/limiter.js';
import type { Limiter } from '../../src/ratelimit/limiter.js';
import { TokenBucket } from '../../src/ratelimit/token-bucket.js';
import type { BucketSettings } from '../../src/ratelimit/token-bucket.js';
import type { Trace } from './traces.js';

export type Method = 'even_split' | 'leases' | 'central_counter';
export const METHODS: readonly Method[] = ['even_split', 'leases', 'central_counter'];

export interface SimOptions {
  readonly method: Method;
  readonly trace: Trace;
  readonly nodes: number;
  /** Cluster-wide limit, requests per second. */
  readonly limit: number;
  /** Cluster-wide capacity, tokens. Default: the limit (one second of burst, KrakenD's default). */
  readonly capacity?: number;
  /** Offered load ÷ limit. Default 1.5. */
  readonly overload?: number;
  readonly seed?: number;
  readonly stepMs?: number;
  readonly refreshMs?: number;
  readonly ttlMs?: number;
  readonly maxDelayMs?: number;
  /** Message delays are uniform in [min, max] ms. Default [1, 30]. */
  readonly delayMs?: readonly [number, number];
  /** Extra LeaseBook options (safeShareMode, floorFraction, …). */
  readonly book?: Partial<LeaseBookOptions>;
  readonly fallbackMode?: FallbackMode;
  /** What the manager does on each report: reallocate (default), only grant pending increases, or wait for its tick. */
  readonly onReport?: 'allocate' | 'grantPending' | 'none';
  /** A node reports at once after applying a lease that lowers its share (acknowledging it). Default true. */
  readonly ackOnDecrease?: boolean;
  /** Called after every step (for debugging and tests). */
  readonly probe?: (t: number, view: { enforced: { rate: number; capacity: number }[]; book: LeaseBook | undefined }) => void;
}

export interface SimResult {
  readonly limit: number;
  readonly capacity: number;
  readonly refreshMs: number;
  /** Per second of simulated time. */
  readonly offered: number[];
  readonly admitted: number[];
  /** Rejected while a cluster-wide bucket fed with the admissions still held a token (see metrics.ts). */
  readonly wronglyRejected: number[];
  /**
   * Per second: the mean over the second of Σ_i min(rate node i enforces, rate offered to node i) ÷ min(limit,
   * Σ offered): the part of what an ideal counter would admit that the nodes' shares can carry. 1 for the central
   * counter. Free of Poisson noise: the offered rates are the trace's means.
   */
  readonly carried: number[];
  /** Largest Σ over nodes of the rate each enforces at an instant, ÷ the limit (sampled every step). */
  readonly maxEnforcedRatio: number;
  /** Largest Σ of the capacities the nodes enforce, ÷ the cluster-wide capacity. */
  readonly maxEnforcedCapacityRatio: number;
  /** Leases the manager sent (leases method). */
  readonly leasesSent: number;
}

const LIMIT_ID = 'GET /api';

interface SimNode {
  readonly index: number;
  readonly id: string;
  readonly limiter: Limiter;
  readonly phase: number;
  held: { epoch: number; seq: number; rate: number; capacity: number; expiresAt: number } | undefined;
  enforced(t: number): { rate: number; capacity: number };
}

function perSecondOf(settings: BucketSettings): { rate: number; capacity: number } {
  return { rate: (settings.rate.tokens * 1000) / settings.rate.per, capacity: settings.capacity };
}

export function simulate(options: SimOptions): SimResult {
  const { trace, nodes: n, limit, method } = options;
  const capacity = options.capacity ?? limit;
  const overload = options.overload ?? 1.5;
  const stepMs = options.stepMs ?? 5;
  const refreshMs = options.refreshMs ?? 1000;
  const ttlMs = options.ttlMs ?? 2 * refreshMs;
  const maxDelayMs = options.maxDelayMs ?? 500;
  const [dMin, dMax] = options.delayMs ?? [1, 30];
  const random = new SeededRandom(options.seed ?? 1);
  const clock = new FakeClock();
  const config = { rate: { tokens: limit, per: 1000 }, capacity };
  const seconds = Math.ceil(trace.durationMs / 1000);
  const offered = new Array<number>(seconds).fill(0);
  const admitted = new Array<number>(seconds).fill(0);
  const wrong = new Array<number>(seconds).fill(0);
  const carried = new Array<number>(seconds).fill(0);

  // Cluster-wide shadow bucket, fed with the method's admissions: a rejection while it holds a token is wrong.
  let shadow = capacity;
  let shadowAt = 0;
  const shadowSettle = (t: number) => {
    shadow = Math.min(capacity, shadow + ((t - shadowAt) * limit) / 1000);
    shadowAt = t;
  };

  const nodes: SimNode[] = Array.from({ length: n }, (_, i) => {
    const limiter = createLimiter({ id: LIMIT_ID, kind: 'endpoint', config, clock });
    const node: SimNode = {
      index: i,
      id: `node-${i}`,
      limiter,
      phase: stepMs * (1 + random.int(refreshMs / stepMs - 1)),
      held: undefined,
      enforced: () => perSecondOf(limiter.share),
    };
    return node;
  });

  // ---- messages ----
  const queue = new Map<number, (() => void)[]>();
  const post = (delay: number, fn: () => void) => {
    const step = Math.ceil((clock.monotonic() + delay) / stepMs);
    const list = queue.get(step) ?? [];
    list.push(fn);
    queue.set(step, list);
  };
  const delay = () => dMin + random.float() * (dMax - dMin);
  const linkUp = (i: number, t: number) => !trace.managerDown(t) && !trace.partitioned(i, t) && !trace.crashed(i, t);

  // ---- methods ----
  let central: TokenBucket | undefined;
  let book: LeaseBook | undefined;
  let epoch = 1;
  let leasesSent = 0;
  const bookOptions = (now: number, learning: boolean): LeaseBookOptions => ({
    refreshMs,
    ttlMs,
    maxDelayMs,
    ...options.book,
    epoch,
    now,
    learning,
  });

  const sendLeases = (grants: readonly NodeLeases[]) => {
    const now = clock.monotonic();
    for (const grant of grants) {
      const node = nodes.find((x) => x.id === grant.nodeId);
      if (!node || !linkUp(node.index, now)) continue;
      leasesSent += grant.leases.length;
      post(delay(), () => {
        const at = clock.monotonic();
        if (!linkUp(node.index, at)) return;
        for (const lease of grant.leases) receive(node, lease, at);
      });
    }
  };
  const receive = (node: SimNode, lease: Lease, at: number) => {
    if (!supersedes(lease, node.held)) return;
    const lowered = node.held !== undefined && at < node.held.expiresAt && (lease.rate < node.held.rate || lease.capacity < node.held.capacity);
    const applied = applyLease(node.limiter, lease, at, options.fallbackMode ? { fallbackMode: options.fallbackMode } : {});
    const clamp = (x: { rate: number; capacity: number }) => ({ rate: Math.min(x.rate, limit), capacity: Math.min(x.capacity, capacity) });
    const share = clamp(perSecondOf(applied.share));
    const fallback = clamp(perSecondOf(applied.fallback));
    node.enforced = (t) => (t < applied.expiresAt ? share : fallback);
    node.held = { epoch: lease.epoch, seq: lease.seq, rate: lease.rate, capacity: lease.capacity, expiresAt: applied.expiresAt };
    if (lowered && (options.ackOnDecrease ?? true)) sendReport(node, at, true);
  };
  const reportOf = (node: SimNode, now: number, last: number, take = true): NodeLimitReport => {
    const demand = take ? node.limiter.takeDemand() : { admitted: 0, rejected: 0 };
    const held = node.held;
    return {
      limitId: LIMIT_ID,
      admitted: demand.admitted,
      rejected: demand.rejected,
      intervalMs: now - last,
      ...(held && held.expiresAt > now
        ? { lease: { rate: held.rate, capacity: held.capacity, remainingMs: held.expiresAt - now, epoch: held.epoch, seq: held.seq } }
        : {}),
    };
  };
  const lastReport = new Array<number>(n).fill(0);
  const onReport = options.onReport ?? 'allocate';
  const sendReport = (node: SimNode, t: number, ackOnly = false) => {
    // An acknowledgement carries the lease and no demand (interval 0), so the demand intervals stay whole.
    const report = ackOnly ? { ...reportOf(node, t, t, false), admitted: 0, rejected: 0, intervalMs: 0 } : reportOf(node, t, lastReport[node.index] ?? 0);
    if (!ackOnly) lastReport[node.index] = t;
    if (!linkUp(node.index, t)) return;
    post(delay(), () => {
      const at = clock.monotonic();
      if (!linkUp(node.index, at) || !book) return;
      book.report(node.id, [report], at);
      if (onReport === 'allocate') sendLeases(book.allocate(at));
      else if (onReport === 'grantPending') sendLeases(book.grantPending(at));
    });
  };

  const evenSplit = (up: number) => {
    for (const node of nodes) {
      node.limiter.setShare({ rate: { tokens: limit / up, per: 1000 }, capacity: capacity / up });
    }
  };

  if (method === 'central_counter') central = new TokenBucket(clock, config);
  if (method === 'even_split') evenSplit(n);
  if (method === 'leases') {
    // In cluster mode a node enforces nothing until its first lease (which its Welcome carries).
    for (const node of nodes) node.limiter.setShare({ rate: { tokens: 0, per: 1000 }, capacity: 0 });
    book = new LeaseBook(bookOptions(0, false));
    book.setLimits([{ limitId: LIMIT_ID, rate: limit, capacity }]);
    for (const node of nodes) book.setNodeState(node.id, 'alive', 0);
    sendLeases(book.allocate(0));
  }

  let maxEnforced = 0;
  let maxEnforcedCap = 0;
  const steps = Math.floor(trace.durationMs / stepMs);
  for (let step = 0; step < steps; step++) {
    const t = step * stepMs;
    if (step > 0) clock.advance(stepMs);
    const due = queue.get(step);
    if (due) {
      queue.delete(step);
      for (const fn of due) fn();
    }

    if (method === 'even_split' && trace.unreachableAt === t) {
      evenSplit(nodes.filter((x) => !trace.crashed(x.index, t)).length);
    }

    if (method === 'leases') {
      if (trace.managerRestartAt === t) {
        epoch += 1;
        book = new LeaseBook(bookOptions(t, true));
        book.setLimits([{ limitId: LIMIT_ID, rate: limit, capacity }]);
        // The registry survives the restart: every node it knew is `alive` (or whatever membership says).
        for (const node of nodes) book.setNodeState(node.id, trace.crashed(node.index, t) ? 'unreachable' : 'alive', t);
      }
      if (book && !trace.managerDown(t)) {
        if (trace.unreachableAt === t) {
          for (const node of nodes) if (trace.crashed(node.index, t)) book.setNodeState(node.id, 'unreachable', t);
          sendLeases(book.allocate(t));
        }
        if (t > 0 && t % refreshMs === 0) sendLeases(book.allocate(t));
      }
      for (const node of nodes) {
        if (trace.crashed(node.index, t) || t === 0 || (t - node.phase) % refreshMs !== 0) continue;
        sendReport(node, t);
      }
    }

    // ---- requests ----
    const second = Math.floor(t / 1000);
    const weights = trace.weights(t, n);
    const expected = (limit * overload * stepMs) / 1000;
    shadowSettle(t);
    for (const node of nodes) {
      const w = weights[node.index] ?? 0;
      if (w <= 0 || trace.crashed(node.index, t)) continue;
      const k = poisson(random, expected * w);
      for (let r = 0; r < k; r++) {
        const ok = central ? central.tryTake(1, t) : node.limiter.admit(undefined, t) === 0;
        offered[second] = (offered[second] ?? 0) + 1;
        if (ok) {
          admitted[second] = (admitted[second] ?? 0) + 1;
          shadow -= 1;
        } else if (shadow >= 1) {
          wrong[second] = (wrong[second] ?? 0) + 1;
          shadow -= 1;
        }
      }
    }

    const stepsPerSecond = 1000 / stepMs;
    if (method === 'central_counter') carried[second] = (carried[second] ?? 0) + 1 / stepsPerSecond;
    else {
      let rate = 0;
      let cap = 0;
      let carry = 0;
      for (const node of nodes) {
        if (trace.crashed(node.index, t)) continue;
        carry += Math.min(node.enforced(t).rate, limit * overload * (weights[node.index] ?? 0));
        // What the limiter enforces at t: the lease until it expires, then its fallback (the limiter switches on
        // its next admission; computed here so that sampling takes no token).
        const share = node.enforced(t);
        rate += share.rate;
        cap += share.capacity;
      }
      carried[second] = (carried[second] ?? 0) + Math.min(1, carry / Math.min(limit, limit * overload)) / stepsPerSecond;
      if (options.probe) options.probe(t, { enforced: nodes.map((x) => x.enforced(t)), book });
      maxEnforced = Math.max(maxEnforced, rate / limit);
      maxEnforcedCap = Math.max(maxEnforcedCap, cap / capacity);
    }
  }

  return {
    limit,
    capacity,
    refreshMs,
    offered,
    admitted,
    wronglyRejected: wrong,
    carried,
    maxEnforcedRatio: maxEnforced,
    maxEnforcedCapacityRatio: maxEnforcedCap,
    leasesSent,
  };
}

/** A Poisson draw: Knuth's method for small means, a rounded normal approximation for large ones. */
function poisson(random: Random, mean: number): number {
  if (mean <= 0) return 0;
  if (mean > 50) {
    const u = Math.max(1e-12, random.float());
    const v = random.float();
    const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    return Math.max(0, Math.round(mean + Math.sqrt(mean) * z));
  }
  const l = Math.exp(-mean);
  let k = 0;
  let p = 1;
  for (;;) {
    p *= random.float();
    if (p <= l) return k;
    k++;
  }
}
