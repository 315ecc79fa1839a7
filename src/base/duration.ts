import { ErrorCode, KrakendError } from './errors.js';

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  'µs': 1e-3,
  'μs': 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

const PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;

/**
 * Parses a Go duration (`150us`, `2s`, `1m30s`, `-1.5h`, `0`) into milliseconds, as time.ParseDuration does.
 * Throws a KrakendError naming the input when it does not parse.
 */
export function parseDuration(input: string): number {
  let s = input;
  let sign = 1;
  if (s.startsWith('-') || s.startsWith('+')) {
    if (s[0] === '-') sign = -1;
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (s === '') throw invalid(input, 'empty duration');
  let total = 0;
  PART.lastIndex = 0;
  while (PART.lastIndex < s.length) {
    const start = PART.lastIndex;
    const m = PART.exec(s);
    if (!m) {
      const rest = s.slice(start);
      if (/^\d/.test(rest) && !/[a-zµμ]/i.test(rest)) throw invalid(input, 'missing unit');
      throw invalid(input, `unknown unit or stray characters at "${rest}"`);
    }
    total += Number(m[1]) * (UNIT_MS[m[2] as string] as number);
  }
  return sign * total;
}

function invalid(input: string, why: string): KrakendError {
  return new KrakendError(
    ErrorCode.DurationInvalid,
    `invalid duration "${input}": ${why} (use Go durations such as 150us, 2s or 1m30s)`,
  );
}

/** Formats milliseconds as a Go duration string (`1m30s`, `150µs`). */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  const sign = ms < 0 ? '-' : '';
  let rest = Math.abs(ms);
  if (rest < 1) {
    const us = rest * 1000;
    return us < 1 ? `${sign}${Math.round(us * 1000)}ns` : `${sign}${trim(us)}µs`;
  }
  if (rest < 1000) return `${sign}${trim(rest)}ms`;
  let out = '';
  const h = Math.floor(rest / 3_600_000);
  if (h > 0) {
    out += `${h}h`;
    rest -= h * 3_600_000;
  }
  const m = Math.floor(rest / 60_000);
  if (h > 0 || m > 0) {
    out += `${m}m`;
    rest -= m * 60_000;
  }
  out += `${trim(rest / 1000)}s`;
  return sign + out;
}

function trim(n: number): string {
  return String(Number(n.toFixed(9)));
}
