/**
 * One scenario: a name, and a run against the shared context that answers PASS, FAIL or SKIP with its figures.
 * `judge` holds the checks every scenario shares (no crash, no failed request where none is allowed, the limit
 * over every 10-second window), so that a scenario only states what it injects and what it promises on top.
 */
import type { FaultNetwork } from '../network.js';
import type { Cluster } from './cluster.js';
import { WINDOW_MS, failures, maxWindow } from './checks.js';
import type { StateWatcher } from './checks.js';
import type { Load } from './load.js';

export type Figures = Record<string, string | number | boolean>;

export interface Outcome {
  status: 'PASS' | 'FAIL' | 'SKIP';
  reason?: string;
  figures: Figures;
}

export interface LimitSpec {
  /** Cluster-wide `max_rate`, req/s. */
  rate: number;
  capacity: number;
  /** Most 200s allowed in any 10-second window: rate × 10 × 1.05. */
  windowBound: number;
}

export interface SuiteContext {
  readonly net: FaultNetwork;
  readonly cluster: Cluster;
  readonly load: Load;
  readonly watcher: StateWatcher;
  readonly limit: LimitSpec;
  /** The limit's windows are judged from here on (after the leases first converged). */
  readonly steadyFrom: number;
  readonly workDir: string;
  /** The config text the cluster serves (kept current by scenarios that push one). */
  baseConfig(extraEndpoints?: string[], extra?: Record<string, unknown>): string;
  /** Writes a diagnostic line (stderr), never a report line. */
  note(message: string): void;
}

export interface Scenario {
  readonly name: string;
  run(ctx: SuiteContext): Promise<Outcome>;
}

export interface Judgement {
  problems: string[];
  figures: Figures;
}

/**
 * The shared checks over [from, to]: processes alive (except `expectDead`), zero failed requests on every node
 * not in `mayFail`, and the limit's 10-second windows under the bound.
 */
export function judge(ctx: SuiteContext, from: number, to: number, options: { mayFail?: number[]; expectDead?: string[] } = {}): Judgement {
  const problems: string[] = [];
  const figures: Figures = {};
  const crashed = ctx.cluster.crashed().filter((n) => !(options.expectDead ?? []).includes(n));
  if (crashed.length > 0) problems.push(`crashed: ${crashed.join(',')}`);
  const f = failures(ctx.load.samples, ctx.cluster.nodes.length, from, to);
  const mayFail = new Set(options.mayFail ?? []);
  let othersFailed = 0;
  f.byNode.forEach((n, i) => {
    if (!mayFail.has(i)) othersFailed += n;
  });
  figures['failed'] = f.total;
  figures['failed_elsewhere'] = othersFailed;
  if (othersFailed > 0) problems.push(`${othersFailed} failed requests where none may fail (${f.examples.join('; ')})`);
  let ok = 0;
  for (const s of ctx.load.samples) if (s.t0 >= from && s.t0 <= to && s.status === 200) ok++;
  figures['ok'] = ok;
  // Windows starting in the scenario's own interval, ending by its end; a scenario shorter than a window gets the
  // windows that end with it (they start a little before it).
  const first = Math.max(ctx.steadyFrom, Math.min(from, to - WINDOW_MS));
  // Right after the warm-up no full window fits before the scenario: judge the (partial) windows within it.
  const w = maxWindow(ctx.load.samples, first, Math.max(from, to - WINDOW_MS, Math.min(to, first + WINDOW_MS)));
  figures['limit_max_10s'] = w.maxAdmitted;
  figures['limit_bound_10s'] = ctx.limit.windowBound;
  figures['limit_offered_rps'] = Math.round(w.offeredPerSecond);
  if (w.maxAdmitted > ctx.limit.windowBound) problems.push(`the limit admitted ${w.maxAdmitted} in a 10-s window (bound ${ctx.limit.windowBound})`);
  return { problems, figures };
}

export function outcome(problems: string[], figures: Figures): Outcome {
  return problems.length === 0 ? { status: 'PASS', figures } : { status: 'FAIL', reason: problems.join('; '), figures };
}

/** `PASS name k=v …` / `FAIL name reason k=v …` / `SKIP name reason`. */
export function formatLine(name: string, o: Outcome): string {
  const figures = Object.entries(o.figures)
    .map(([k, v]) => `${k}=${typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(2) : String(v)}`)
    .join(' ');
  const reason = o.reason ? ` ${JSON.stringify(o.reason)}` : '';
  return `${o.status} ${name}${reason}${figures ? ` ${figures}` : ''}`;
}

export const ms = (x: number | undefined): number | string => (x === undefined ? 'never' : Math.round(x));
