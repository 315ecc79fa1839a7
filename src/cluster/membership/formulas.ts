/**
 * The protocol's arithmetic, as pure functions with table tests: suspicion timeouts (Lifeguard), retransmit
 * limits, push-pull scaling and local-health scaling. Formulas after hashicorp/memberlist (util.go,
 * suspicion.go, awareness.go).
 */

/**
 * Minimum suspicion timeout: `suspicionMult × max(1, log10(max(1, n))) × probeInterval`, floored to the
 * millisecond. 8 s for n = 100 with the LAN preset, 12 s for n = 1000.
 */
export function suspicionTimeout(suspicionMult: number, n: number, probeIntervalMs: number): number {
  const nodeScale = Math.max(1, Math.log10(Math.max(1, n)));
  return Math.floor(suspicionMult * nodeScale * probeIntervalMs);
}

/**
 * Lifeguard's shrinking suspicion timer: the total timeout after c independent confirmations out of the k
 * wanted is `max − (log(c + 1) / log(k + 1)) × (max − min)`, never below min. Returns the total (from the start
 * of the suspicion), not the remainder. With k = 0 (too few members to expect confirmations) it is min.
 */
export function suspicionTotal(c: number, k: number, minMs: number, maxMs: number): number {
  if (k <= 0) return minMs;
  const frac = Math.log(c + 1) / Math.log(k + 1);
  const raw = maxMs - frac * (maxMs - minMs);
  return Math.max(minMs, Math.floor(raw));
}

/** Confirmations wanted to drive a suspicion to its minimum: suspicionMult − 2, or 0 if n − 2 < that. */
export function suspicionConfirmationsWanted(suspicionMult: number, n: number): number {
  const k = suspicionMult - 2;
  return n - 2 < k ? 0 : Math.max(0, k);
}

/** How many times a broadcast is piggybacked: `retransmitMult × ceil(log10(n + 1))`. */
export function retransmitLimit(retransmitMult: number, n: number): number {
  return retransmitMult * Math.ceil(Math.log10(Math.max(0, n) + 1));
}

/** Push-pull scaling threshold: below it the interval is as configured. */
export const PUSH_PULL_SCALE_THRESHOLD = 32;

/** Push-pull interval scaled with cluster size: ×(ceil(log2 n − log2 32) + 1) above 32 members. */
export function pushPullInterval(intervalMs: number, n: number): number {
  if (n <= PUSH_PULL_SCALE_THRESHOLD) return intervalMs;
  const multiplier = Math.ceil(Math.log2(n) - Math.log2(PUSH_PULL_SCALE_THRESHOLD)) + 1;
  return multiplier * intervalMs;
}

/**
 * Local health (Lifeguard LHA): a score in [0, max − 1], raised by failed probes without the nacks that would
 * show the network fine, by having to refute a suspicion and by stalls; lowered by each successful probe.
 */
export function applyAwareness(score: number, delta: number, maxMultiplier: number): number {
  return Math.min(Math.max(0, score + delta), Math.max(0, maxMultiplier - 1));
}

/** A timeout scaled by local health: `timeout × (score + 1)`. */
export function scaleByAwareness(timeoutMs: number, score: number): number {
  return timeoutMs * (score + 1);
}
