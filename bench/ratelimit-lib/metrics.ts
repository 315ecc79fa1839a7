/**
 * The benchmark's figures, from a simulation's per-second series.
 *
 * - admitted_ratio_mean: all requests admitted over the run ÷ (limit × run length).
 * - admitted_ratio_max_10s: the worst (largest) 10-second window, sliding by 1 s, starting at 10 s or later,
 *   admitted ÷ (limit × 10 s). Above 1 means the cluster let through more than its limit.
 * - converge_intervals: after each shift of the demand (the start of the run included), the number of whole
 *   refresh intervals that pass before the method has adapted its split: the first interval that, with the next
 *   one (if the segment has it), has the shares the nodes enforce carry at least 95% of what an ideal counter admits
 *   (SimResult.carried: Σ_i min(node i's rate, the rate offered to node i) ÷ min(limit, offered), averaged over
 *   the interval). It uses the trace's mean offered rates, so Poisson noise in the admissions does not blur it.
 *   Two intervals in a row, so that one lucky interval does not count, while a later dip from noise in the
 *   measured demand (a cold node's share a little under its offered rate) is not taken for a transient. A segment
 *   ends at the next shift or fault (outage, partition). The worst over the shifts is reported; 0 means adapted
 *   within the first interval; null means never within the segment (even split under skew). The central counter
 *   always scores 0.
 * - wrongly_rejected_ratio: requests rejected while the cluster was under its limit ÷ all requests offered. "Under
 *   its limit" is decided by a shadow cluster-wide token bucket (the limit's rate and capacity) from which every
 *   admission takes a token: a rejection while it holds a whole token is wrong, and takes that token (an ideal
 *   central counter would have admitted the request). The central counter scores 0 by construction.
 */
import type { SimResult } from './sim.js';

export interface Figures {
  readonly admitted_ratio_mean: number;
  readonly admitted_ratio_max_10s: number;
  readonly converge_intervals: number | null;
  readonly wrongly_rejected_ratio: number;
}

/** The part of the ideal's admissions a method's shares must carry to count as adapted. */
const CARRIED = 0.95;

export function figures(result: SimResult, shifts: readonly number[], durationMs: number, faults: readonly number[] = []): Figures {
  const { admitted, offered, limit, refreshMs } = result;
  const seconds = admitted.length;
  const total = sum(admitted);
  let max10 = 0;
  for (let s = 10; s + 10 <= seconds; s++) max10 = Math.max(max10, sum(admitted.slice(s, s + 10)) / (limit * 10));
  return {
    admitted_ratio_mean: total / ((limit * durationMs) / 1000),
    admitted_ratio_max_10s: max10,
    converge_intervals: convergence(result.carried, shifts, durationMs, refreshMs, faults),
    wrongly_rejected_ratio: sum(result.wronglyRejected) / Math.max(1, sum(offered)),
  };
}

/** Worst adaptation time over the shifts, in refresh intervals, or null (see the module comment). */
export function convergence(
  carried: readonly number[],
  shifts: readonly number[],
  durationMs: number,
  refreshMs: number,
  faults: readonly number[] = [],
): number | null {
  // Per-second series; refresh intervals of other lengths are converted at the end.
  let worst = 0;
  const bounds = [...shifts, ...faults, durationMs].sort((a, b) => a - b);
  for (const start of shifts) {
    const from = Math.ceil(start / 1000);
    const to = Math.floor((bounds.find((b) => b > start) ?? durationMs) / 1000);
    const segment = carried.slice(from, to);
    const ok = (i: number) => i >= segment.length || (segment[i] ?? 0) >= CARRIED;
    let first = -1;
    for (let i = 0; i < segment.length && first < 0; i++) if (ok(i) && ok(i + 1)) first = i;
    if (first < 0) return null;
    worst = Math.max(worst, first);
  }
  return Math.round(((worst * 1000) / refreshMs) * 100) / 100;
}

function sum(xs: readonly number[]): number {
  let s = 0;
  for (const x of xs) s += x;
  return s;
}
