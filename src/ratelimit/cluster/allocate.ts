/**
 * Splitting one cluster-wide limit among the nodes: Doorman's proportional share with max-min water-filling.
 * Pure: no clock, no state.
 *
 * Units, everywhere in src/ratelimit/cluster: a rate is in tokens (requests) per second, a capacity in tokens,
 * a demand in requests per second (`(admitted + rejected) × 1000 / intervalMs` of a node's report). KrakenD's
 * `max_rate` every `every` is `max_rate × 1000 / every_ms` tokens per second, so "50 every 10m" is 1/12.
 *
 * The rule, for a limit of rate R and capacity C, with `reserved` (leases of nodes that left but have not expired
 * yet) taken off first, leaving Ra = R − reserved.rate and Ca = C − reserved.capacity:
 *
 * 1. Floor. Every node wants at least `floorFraction × Ra / n`, so an idle node holds a few tokens and can take
 *    traffic at once, without waiting for a report and a reallocation. n × floor ≤ Ra, so floors always fit.
 * 2. Over-subscribed (the wants, max(demand, floor), add up to more than Ra): max-min water-filling. A level is
 *    found such that Σ min(want, level) = Ra; a node gets min(want, level). Nodes wanting less than the fair share
 *    get all they want; the others split what is left equally. This is Doorman's ProportionalShare in the limit of
 *    repeated redistribution ("min(demand, fair share) first, the spare to those wanting more, again until none is
 *    left"), computed exactly in O(n log n) instead of by rounds.
 * 3. Under-subscribed (the wants fit): every node gets its want, and the spare is handed out in proportion to the
 *    wants, so every node's share is want × Ra / Σ wants. Choice: nothing is held back, because a node's demand
 *    grows by noise far more often than a new node appears, and a share held back is a request wrongly refused;
 *    a node that needs more is served at the next allocation anyway. Proportional (not even) so that the busy
 *    nodes, whose noise is largest in absolute terms, get most of the headroom; the floor already covers idle
 *    nodes.
 * 4. Capacity follows rate. A token bucket cannot admit anything with a capacity under one token, so each node
 *    first gets one whole token (when Ca ≥ n), and the rest of Ca is split in proportion to the rate shares: a node
 *    with 80% of the rate gets about 80% of the burst. When Ca < n, whole tokens go to the ⌊Ca⌋ nodes with the
 *    largest rate shares (ties by id) and the fraction left goes to the first of them; the others get 0 (a limit
 *    with a burst of 2 on 3 nodes cannot let all 3 admit at once).
 *
 * Properties (test/ratelimit/cluster/allocate.test.ts): Σ rates ≤ Ra and Σ capacities ≤ Ca (floating-point sums
 * are trimmed so they never exceed, not even by rounding); every node gets at least its floor; with the others
 * fixed, a node's rate never decreases when its demand grows, and no other node's rate increases; a node with more
 * demand never gets less rate than one with less.
 */

/** A rate (tokens per second) and a capacity (tokens). */
export interface Share {
  readonly rate: number;
  readonly capacity: number;
}

/** A node and its demand, in requests per second. */
export interface NodeDemand {
  readonly id: string;
  readonly demand: number;
}

export interface AllocateOptions {
  /** Each node's floor, as a fraction of an even share (Ra / n). In [0, 1]; default 0.05. */
  readonly floorFraction?: number;
}

export const DEFAULT_FLOOR_FRACTION = 0.05;

const ZERO: Share = { rate: 0, capacity: 0 };

/**
 * Each node's share of `limit`, keyed by node id (in the order of `nodes`). Duplicate ids: the last one wins
 * (callers pass distinct ids). Non-finite or negative demands count as 0.
 */
export function allocate(
  limit: Share,
  nodes: readonly NodeDemand[],
  reserved: Share = ZERO,
  options: AllocateOptions = {},
): Map<string, Share> {
  const result = new Map<string, Share>();
  const n = nodes.length;
  if (n === 0) return result;
  const rateAvail = nonNegative(limit.rate - nonNegative(reserved.rate));
  const capAvail = nonNegative(limit.capacity - nonNegative(reserved.capacity));
  const fraction = Math.min(1, nonNegative(options.floorFraction ?? DEFAULT_FLOOR_FRACTION));

  const rates = splitRate(rateAvail, nodes.map((node) => nonNegative(node.demand)), (fraction * rateAvail) / n);
  const capacities = splitCapacity(capAvail, rates, rateAvail, nodes);
  nodes.forEach((node, i) => result.set(node.id, { rate: rates[i] ?? 0, capacity: capacities[i] ?? 0 }));
  return result;
}

/** Rates for the demands: floors, then water-filling or proportional spare; the sum is at most `total`. */
function splitRate(total: number, demands: readonly number[], floor: number): number[] {
  const n = demands.length;
  if (total <= 0) return demands.map(() => 0);
  const wants = demands.map((d) => Math.max(d, floor));
  const sum = wants.reduce((a, b) => a + b, 0);
  let shares: number[];
  if (sum <= total) {
    // Everyone gets its want; the spare goes in proportion to the wants (all zero only when floor is 0).
    // Divide first: w / sum ≤ 1 cannot overflow, and a subnormal want cannot underflow to nothing.
    shares = sum > 0 ? wants.map((w) => (w / sum) * total) : wants.map(() => total / n);
  } else {
    const level = waterLevel(wants, total);
    shares = wants.map((w) => Math.min(w, level));
  }
  return trim(shares, total);
}

/** The level L with Σ min(wants, L) = total, given Σ wants > total. */
function waterLevel(wants: readonly number[], total: number): number {
  const sorted = [...wants].sort((a, b) => a - b);
  let left = total;
  for (let i = 0; i < sorted.length; i++) {
    const remaining = sorted.length - i;
    const even = left / remaining;
    const w = sorted[i] ?? 0;
    if (w >= even) return even;
    left -= w;
  }
  // Unreachable when Σ wants > total; the largest want is then a safe level.
  return sorted[sorted.length - 1] ?? 0;
}

/** Capacities: one whole token each when they fit, the rest in proportion to the rates. */
function splitCapacity(total: number, rates: readonly number[], rateTotal: number, nodes: readonly NodeDemand[]): number[] {
  const n = rates.length;
  if (total <= 0) return rates.map(() => 0);
  if (total >= n) {
    const rest = total - n;
    const shares = rates.map((r) => 1 + (rateTotal > 0 ? (r / rateTotal) * rest : rest / n));
    return trim(shares, total);
  }
  // Fewer tokens than nodes: whole tokens to the nodes with the largest rates.
  const order = rates
    .map((r, i) => ({ r, i, id: nodes[i]?.id ?? '' }))
    .sort((a, b) => b.r - a.r || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const shares = rates.map(() => 0);
  const whole = Math.floor(total);
  order.forEach((entry, k) => {
    if (k < whole) shares[entry.i] = 1;
  });
  const first = order[0];
  if (first) shares[first.i] = (shares[first.i] ?? 0) + (total - whole);
  return trim(shares, total);
}

/**
 * Makes the floating-point sum of `shares` at most `total`: scales them by total ÷ sum, then takes any rounding
 * excess off the largest share. Bounded: a handful of steps in practice, every share zero as a last resort.
 */
function trim(shares: number[], total: number): number[] {
  let sum = sumOf(shares);
  if (sum <= total) return shares;
  if (!(total > 0)) return shares.map(() => 0);
  const factor = total / sum;
  for (let i = 0; i < shares.length; i++) shares[i] = (shares[i] ?? 0) * factor;
  for (let attempt = 1; attempt <= 64 && (sum = sumOf(shares)) > total; attempt++) {
    let largest = 0;
    for (let i = 1; i < shares.length; i++) if ((shares[i] ?? 0) > (shares[largest] ?? 0)) largest = i;
    const share = shares[largest] ?? 0;
    const cut = Math.max(sum - total, share * Number.EPSILON, Number.MIN_VALUE) * attempt;
    shares[largest] = Math.max(0, share - cut);
  }
  return sumOf(shares) <= total ? shares : shares.map(() => 0);
}

function sumOf(xs: readonly number[]): number {
  let s = 0;
  for (const x of xs) s += x;
  return s;
}

function nonNegative(x: number): number {
  return Number.isFinite(x) && x > 0 ? x : 0;
}
