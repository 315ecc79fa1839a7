/**
 * Cluster-wide rate limits (issue 7; ARCHITECTURE.md, Limits): the manager leases each node a share of every
 * limit, weighted by the demand the node reports (after YouTube's Doorman). Pure modules, no I/O:
 *
 * - ./allocate.ts: the split (floors, max-min water-filling, capacity following rate).
 * - ./lease-book.ts: the manager's book (demand, leases, commitments, learning after a restart).
 * - ./lease-applier.ts: the node's side (a lease → the limiter's share, expiry and fallback).
 *
 * Units: rates and safe shares in tokens (requests) per second, capacities in tokens, demands in requests per
 * second, durations in ms, every instant a monotonic-clock ms (`now`) of the process that owns the object.
 *
 * Wiring (manager): one LeaseBook per manager term, `new LeaseBook({ epoch, now })` (`learning: false` only for a
 * cluster with no nodes yet); `setLimits` on every config version (`clusterLimit(id, limiter.config)`);
 * `setNodeState` on join / leave / membership change; `report(nodeId, body.limits, now)` on each Demand message;
 * `allocate(now)` after each of those and every `refreshMs`. Send each returned NodeLeases as one Limits message
 * (INFO log when `changed`, DEBUG otherwise); `leasesFor(id)` for a Welcome; `view(now)` for the HTTP API.
 * Wiring (node): for each lease that `supersedes` the one held, `applyLease(limiter, lease, clock.monotonic(),
 * { fallbackMode })`; if it lowered the share, send a report at once (`admitted: 0, rejected: 0, intervalMs: 0`,
 * and the lease): it acknowledges the decrease, which is what lets the manager grant the increases elsewhere.
 * Before its first lease, a node in cluster mode enforces zero.
 */
export { allocate, DEFAULT_FLOOR_FRACTION } from './allocate.js';
export type { AllocateOptions, NodeDemand, Share } from './allocate.js';
export { clusterLimit, LeaseBook } from './lease-book.js';
export type {
  ClusterLimit,
  LeaseBookOptions,
  LimitView,
  NodeLeases,
  NodeLeaseView,
  NodeLimitReport,
  NodeState,
  ReportedLease,
  SafeShareMode,
} from './lease-book.js';
export { applyLease, fallbackCapacity, fallbackFor, perSecond, supersedes, toBucketSettings } from './lease-applier.js';
export type { AppliedLease, ApplyLeaseOptions, FallbackMode, Lease } from './lease-applier.js';
