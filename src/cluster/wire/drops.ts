/**
 * Why the wire dropped an input. Every packet or frame that is not delivered is counted under exactly one reason,
 * so `/metrics` can show, per transport, what is being thrown away and why.
 */
export const DROP_REASONS = [
  /** Well framed but not decodable: bad MessagePack, a bad compound or chunk sequence, a body the validator refused. */
  'malformed',
  /** Shorter than its headers, or than the lengths it announces. */
  'truncated',
  /** Larger than the receive limit (UDP packet, TCP frame, reassembled message). */
  'oversized',
  /** A message type nobody registered. */
  'unknown_type',
  /** A version range that does not overlap ours. */
  'unknown_version',
  /** Not our magic bytes (or an unknown stream kind): not krakend-cluster traffic, or a newer outer format. */
  'bad_magic',
  /** Failed authentication: unknown key id, wrong key, tampered bytes, a key on one side only. */
  'auth_failed',
  /** An exact replay (nonce already seen), or a TCP frame whose counter is not the next one. */
  'replayed',
  /** Stamped before the replay window (or before the replay cache's floor). */
  'too_old',
  /** Stamped further in the future than the allowed clock skew. */
  'from_future',
] as const;

export type DropReason = (typeof DROP_REASONS)[number];

export function isDropReason(value: string): value is DropReason {
  return (DROP_REASONS as readonly string[]).includes(value);
}

/** One counter per drop reason. Cheap to bump; create one per transport (udp, tcp) to label them in /metrics. */
export class DropCounters {
  private readonly counts = new Map<DropReason, number>(DROP_REASONS.map((r) => [r, 0]));

  count(reason: DropReason, n = 1): void {
    this.counts.set(reason, (this.counts.get(reason) ?? 0) + n);
  }

  get(reason: DropReason): number {
    return this.counts.get(reason) ?? 0;
  }

  total(): number {
    let sum = 0;
    for (const n of this.counts.values()) sum += n;
    return sum;
  }

  /** Every reason, zeros included, in DROP_REASONS order. */
  snapshot(): Record<DropReason, number> {
    const out = {} as Record<DropReason, number>;
    for (const r of DROP_REASONS) out[r] = this.get(r);
    return out;
  }

  reset(): void {
    for (const r of DROP_REASONS) this.counts.set(r, 0);
  }
}
