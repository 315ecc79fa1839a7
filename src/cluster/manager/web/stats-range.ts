/**
 * The time range of a stats request, in the manager's wall time (ms): either `range` (seconds back from now) or
 * `from` and `to` (ms since the epoch, `to` defaulting to now). Anything else is a 400 that says what is wrong.
 */
import { HttpError } from './respond.js';

export interface TimeRange {
  from: number;
  to: number;
}

/** Ten years: far beyond any window, short of overflowing anything. */
const MAX_RANGE_S = 10 * 365 * 86_400;
const NUMBER = /^\d+(\.\d+)?$/;

export function parseTimeRange(q: URLSearchParams, now: number, defaultRangeS: number): TimeRange {
  if (q.has('range')) {
    if (q.has('from') || q.has('to')) throw new HttpError(400, 'give either range (seconds) or from/to (ms), not both');
    return { from: now - parseRangeSeconds(q, 0) * 1000, to: now + 1 };
  }
  const to = q.has('to') ? parseNumber('to', q.get('to') as string) : now + 1;
  const from = q.has('from') ? parseNumber('from', q.get('from') as string) : to - defaultRangeS * 1000;
  if (from >= to) throw new HttpError(400, `from (${from}) must be before to (${to})`);
  return { from, to };
}

/** A non-negative finite decimal; rejects '', '-1', 'Infinity', '1e999', 'abc'. */
function parseNumber(name: string, text: string): number {
  const n = Number(text);
  if (!NUMBER.test(text) || !Number.isFinite(n)) {
    throw new HttpError(400, `${name} must be a non-negative number, got ${JSON.stringify(text.slice(0, 64))}`);
  }
  return n;
}

/** `range`: seconds back from now, in (0, ten years]; `defaultS` when absent. */
export function parseRangeSeconds(q: URLSearchParams, defaultS: number): number {
  const range = q.get('range');
  if (range === null) return defaultS;
  const s = parseNumber('range', range);
  if (s <= 0 || s > MAX_RANGE_S) throw new HttpError(400, `range must be seconds in (0, ${MAX_RANGE_S}], got ${range}`);
  return s;
}
