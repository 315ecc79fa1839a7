/*
 * End-to-end benchmark of the gateway as a proxy: what one request costs it in CPU, and what latency it adds,
 * compared with the floor for any proxy that manipulates JSON (node:http + undici + JSON.parse/stringify).
 *
 * Every party is its own process: the backend, the gateway (the real CLI), the minimal proxy, and the load
 * generator (a fresh autocannon child per run), so the CPU time of a target is read from /proc for its pid alone
 * and the load generator's own CPU never counts against it. The targets run interleaved, round after round, so
 * that drift on a shared machine spreads over all of them; figures are medians over the rounds.
 *
 * The gateway serves two endpoints on the same backend: `/bench`, and `/bench-limited`, which adds a
 * `qos/ratelimit/router` limit far above the load (endpoint and per-client, the client keyed by header X-Api-Key).
 * Every request of every target carries X-Api-Key, one value per connection, so the two endpoints see the same
 * requests and only the limit differs; each is measured in its own runs, and their difference is the rate limit's
 * CPU cost per request.
 *
 * Stats collection (what a cluster node pays per request to count it for the manager) is measured the same way:
 * a fifth process holds two gateway instances of the same config (bench/lib/stats-gateways.ts), one without and
 * one with a StatsCollector (a delta taken and acknowledged every 5 s, as the agent does); their `/bench` runs,
 * back to back in each round, give `stats_overhead_us` (median over rounds of stats-on − stats-off).
 *
 * Run: `npm run bench:proxy`. Env: BENCH_ROUNDS (3), BENCH_DURATION seconds per run (5), BENCH_WARMUP seconds (2),
 * BENCH_CONNECTIONS at saturation (50), BENCH_FIXED_CONNECTIONS at the fixed rate (20), BENCH_FIXED_RATE req/s (default:
 * half of what the minimal proxy sustained at saturation in round 1), BENCH_PROFILE=1 to write
 * V8 CPU profiles of the gateway and the minimal proxy and print their hotspots (figures are then not
 * representative: the profiler costs CPU). The last line of stdout is one JSON object with the medians.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatHotspots, perRequestDelta, summariseCpuProfile } from './lib/cpu-profile.js';
import type { ProfileSummary } from './lib/cpu-profile.js';
import { canonicalJson, httpGet } from './lib/http-get.js';
import { runLoad } from './lib/load.js';
import type { LoadOptions, LoadResult } from './lib/load.js';
import { PAYLOAD_TEXT } from './lib/payload.js';
import { ProcessGroup, cpuSeconds } from './lib/processes.js';
import type { ManagedChild } from './lib/processes.js';
import { median, round } from './lib/stats.js';

/** An integer setting from the environment, bounded so that a typo cannot start an endless run. */
function envNumber(name: string, fallback: number, min: number, max: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const n = Number(text);
  if (!Number.isFinite(n) || n < min || n > max) throw new Error(`${name}=${text}: expected a number in [${min}, ${max}]`);
  return n;
}

const ROUNDS = Math.round(envNumber('BENCH_ROUNDS', 3, 1, 50));
const DURATION_SEC = Math.round(envNumber('BENCH_DURATION', 5, 1, 300));
const WARMUP_SEC = Math.round(envNumber('BENCH_WARMUP', 2, 0, 60));
const SATURATION_CONNECTIONS = Math.round(envNumber('BENCH_CONNECTIONS', 50, 1, 1000));
const FIXED_CONNECTIONS = Math.round(envNumber('BENCH_FIXED_CONNECTIONS', 20, 1, 1000));
/** 0: half of what the minimal proxy sustained in round 1. A fixed figure makes runs on different days comparable. */
const FIXED_RATE = Math.round(envNumber('BENCH_FIXED_RATE', 0, 0, 1_000_000));
const PROFILE = process.env['BENCH_PROFILE'] === '1';

/** Lets in-flight requests finish after the load generator stops, before the target's CPU time is read. */
const SETTLE_MS = 200;
const START_TIMEOUT_MS = 20_000;
/** The achieved share of the offered rate below which the fixed-rate run is reported as not having reached it. */
const RATE_TOLERANCE = 0.9;

/** Sent by the load generator on every request, one value per connection: the client limit's key. */
const CLIENT_KEY_HEADER = 'X-Api-Key';
/** The limit on /bench-limited: far above any load here, so it admits everything, but is checked on every request. */
const RATE_LIMIT = {
  max_rate: 1_000_000,
  capacity: 1_000_000,
  client_max_rate: 1_000_000,
  client_capacity: 1_000_000,
  strategy: 'header',
  key: CLIENT_KEY_HEADER,
};
/** Target: CPU µs per request that the rate limit may add. */
const RATELIMIT_TARGET_US = 5;
/** Target: CPU µs per request that stats collection may add. */
const STATS_TARGET_US = 5;

const HERE = fileURLToPath(new URL('.', import.meta.url));
const PROJECT_ROOT = resolve(HERE, '../..');
const GATEWAY_CLI = fileURLToPath(new URL('../src/cli/krakend.js', import.meta.url));
const BACKEND_SERVER = fileURLToPath(new URL('./lib/backend-server.js', import.meta.url));
const MINIMAL_PROXY = fileURLToPath(new URL('./lib/minimal-proxy.js', import.meta.url));
const STATS_GATEWAYS = fileURLToPath(new URL('./lib/stats-gateways.js', import.meta.url));

type TargetName = 'gateway' | 'gateway-limited' | 'minimal' | 'backend' | 'stats-off' | 'stats-on';

interface Target {
  name: TargetName;
  url: string;
  child: ManagedChild;
}

interface SaturationRun {
  rps: number;
  cpuUsPerReq: number;
  /** CPU seconds per wall second: ~100% means the target is CPU-bound on one core. */
  cpuPercent: number;
  p50Ms: number;
  p99Ms: number;
}

interface FixedRun {
  achievedRps: number;
  p50Ms: number;
  p99Ms: number;
  autocannonP99Ms: number;
}

interface Round {
  saturation: Map<TargetName, SaturationRun>;
  fixed: Map<TargetName, FixedRun>;
}

const group = new ProcessGroup();
const problems: string[] = [];
/** Doubts about a figure (an offered rate not reached): printed, but the run still succeeds. */
const warnings: string[] = [];
/** Responses each target served over the whole run, warm-up included: the denominator for its CPU profile. */
const served = new Map<TargetName, number>();
let scratchDir: string | undefined;
/** Set on SIGINT/SIGTERM: the errors that follow (children gone mid-run) are the abort's, not failures to report. */
let aborting = false;

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Records what the load generator saw go wrong; the figures are still printed, but the run counts as failed. */
function checkLoad(label: string, r: LoadResult): void {
  if (r.errors > 0 || r.timeouts > 0 || r.non2xx > 0) {
    problems.push(
      `${label}: ${r.errors} connection errors, ${r.timeouts} timeouts, ${r.non2xx} non-2xx ` +
        `(status codes ${JSON.stringify(r.statusCodes)}) out of ${r.requests} responses`,
    );
  }
  if (r.requests === 0) problems.push(`${label}: no response at all`);
}

async function load(target: Target, options: Omit<LoadOptions, 'url' | 'pipelining'>): Promise<LoadResult> {
  group.assertAlive();
  const result = await runLoad(group, { url: target.url, pipelining: 1, clientKeyHeader: CLIENT_KEY_HEADER, ...options });
  served.set(target.name, (served.get(target.name) ?? 0) + result.requests);
  group.assertAlive();
  return result;
}

async function measureSaturation(target: Target, label: string): Promise<SaturationRun> {
  const pid = target.child.pid;
  const cpuBefore = cpuSeconds(pid);
  const r = await load(target, { connections: SATURATION_CONNECTIONS, durationSec: DURATION_SEC });
  await sleep(SETTLE_MS);
  const cpu = cpuSeconds(pid) - cpuBefore;
  checkLoad(label, r);
  return {
    rps: r.rps,
    cpuUsPerReq: r.requests > 0 ? (cpu * 1e6) / r.requests : Number.NaN,
    cpuPercent: r.durationSec > 0 ? (100 * cpu) / r.durationSec : Number.NaN,
    p50Ms: r.latencyP50Ms,
    p99Ms: r.latencyP99Ms,
  };
}

async function measureFixed(target: Target, rate: number, label: string): Promise<FixedRun> {
  const r = await load(target, { connections: FIXED_CONNECTIONS, durationSec: DURATION_SEC, overallRate: rate });
  checkLoad(label, r);
  if (r.rps < RATE_TOLERANCE * rate) {
    warnings.push(
      `${label}: offered ${rate} req/s but only ${r.rps.toFixed(0)} req/s were served, so its latency is that of an ` +
        'overloaded target (a busy machine?)',
    );
  }
  return { achievedRps: r.rps, p50Ms: r.latencyP50Ms, p99Ms: r.latencyP99Ms, autocannonP99Ms: r.autocannonP99Ms };
}

async function readyPort(child: ManagedChild): Promise<number> {
  const m = await child.request<{ type: string; port: number }>(undefined, START_TIMEOUT_MS);
  if (m.type !== 'ready' || !Number.isInteger(m.port)) throw new Error(`${child.name}: unexpected message ${JSON.stringify(m)}`);
  return m.port;
}

function benchConfig(backendPort: number): string {
  const backend = [{ host: [`http://127.0.0.1:${backendPort}`], url_pattern: '/data' }];
  return JSON.stringify(
    {
      version: 3,
      name: 'proxy-bench',
      // One line per request on stdout would measure the logger, and fill the pipe.
      extra_config: { router: { disable_access_log: true } },
      endpoints: [
        { endpoint: '/bench', method: 'GET', backend },
        { endpoint: '/bench-limited', method: 'GET', backend, extra_config: { 'qos/ratelimit/router': RATE_LIMIT } },
      ],
    },
    null,
    2,
  );
}

/** Every target must answer the same document before any figure means anything. */
async function verify(targets: readonly Target[]): Promise<void> {
  const expected = canonicalJson(JSON.parse(PAYLOAD_TEXT));
  for (const t of targets) {
    const r = await httpGet(t.url, { [CLIENT_KEY_HEADER]: 'bench-verify' });
    if (r.status !== 200) throw new Error(`${t.name} answered ${r.status} to GET ${t.url}: ${r.body.slice(0, 500)}`);
    let got: string;
    try {
      got = canonicalJson(JSON.parse(r.body));
    } catch {
      throw new Error(`${t.name} answered a body that is not JSON: ${r.body.slice(0, 500)}`);
    }
    if (got !== expected) throw new Error(`${t.name} answered a different document:\n  got      ${got}\n  expected ${expected}`);
  }
  // The limit must really be in force, or its overhead would measure nothing: without a client key, 429.
  const limited = targets.find((t) => t.name === 'gateway-limited');
  if (limited) {
    const r = await httpGet(limited.url);
    if (r.status !== 429) {
      throw new Error(`${limited.name} answered ${r.status}, not 429, without ${CLIENT_KEY_HEADER}: is the client limit active?`);
    }
  }
}

function commit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: PROJECT_ROOT, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

const fmt = (x: number, decimals: number, width: number) => (Number.isFinite(x) ? x.toFixed(decimals) : '-').padStart(width);

function saturationTable(title: string, rows: ReadonlyMap<TargetName, SaturationRun>): string {
  const lines = [`${title.padEnd(22)}${'req/s'.padStart(9)}${'cpu µs/req'.padStart(12)}${'cpu %'.padStart(8)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}`];
  for (const [name, s] of rows) {
    lines.push(
      `  ${name.padEnd(20)}${fmt(s.rps, 0, 9)}${fmt(s.cpuUsPerReq, 1, 12)}${fmt(s.cpuPercent, 0, 8)}${fmt(s.p50Ms, 2, 9)}${fmt(s.p99Ms, 2, 9)}`,
    );
  }
  return lines.join('\n');
}

function fixedTable(title: string, rows: ReadonlyMap<TargetName, FixedRun>): string {
  const lines = [`${title.padEnd(22)}${'req/s'.padStart(9)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}${'(autocannon p99)'.padStart(18)}`];
  for (const [name, f] of rows) {
    lines.push(
      `  ${name.padEnd(20)}${fmt(f.achievedRps, 0, 9)}${fmt(f.p50Ms, 2, 9)}${fmt(f.p99Ms, 2, 9)}${fmt(f.autocannonP99Ms, 0, 18)}`,
    );
  }
  return lines.join('\n');
}

/** The rate limit's CPU cost in one round: µs/req on /bench-limited minus on /bench. */
function ratelimitDelta(r: Round): number {
  const limited = r.saturation.get('gateway-limited');
  const plain = r.saturation.get('gateway');
  return limited && plain ? limited.cpuUsPerReq - plain.cpuUsPerReq : Number.NaN;
}

/** Stats collection's CPU cost in one round: µs/req with the collector minus without (same process, same config). */
function statsDelta(r: Round): number {
  const on = r.saturation.get('stats-on');
  const off = r.saturation.get('stats-off');
  return on && off ? on.cpuUsPerReq - off.cpuUsPerReq : Number.NaN;
}

function medianOf<T>(rounds: readonly Round[], pick: (r: Round) => T | undefined, field: (x: T) => number): number {
  const xs: number[] = [];
  for (const r of rounds) {
    const x = pick(r);
    if (x !== undefined) xs.push(field(x));
  }
  return median(xs);
}

/**
 * The saturation runs of round `i`: the two gateway runs (plain and limited) stay next to each other, so that
 * their difference is measured under the same machine load, and take turns going first; the three groups rotate.
 */
function saturationOrder(targets: readonly Target[], i: number): Target[] {
  const pick = (name: TargetName) => targets.find((t) => t.name === name) as Target;
  const pair = [pick('gateway'), pick('gateway-limited')];
  const statsPair = [pick('stats-off'), pick('stats-on')];
  const groups = [
    i % 2 === 0 ? pair : pair.reverse(),
    [pick('minimal')],
    [pick('backend')],
    i % 2 === 0 ? statsPair : statsPair.reverse(),
  ];
  return rotate(groups, i).flat();
}

/** Rotates the list by `by`, so that no target always runs first (or right after the same neighbour). */
function rotate<T>(xs: readonly T[], by: number): T[] {
  const k = by % xs.length;
  return [...xs.slice(k), ...xs.slice(0, k)];
}

async function main(): Promise<void> {
  if (!existsSync(GATEWAY_CLI)) throw new Error(`${GATEWAY_CLI} does not exist: build first (npx tsc -p .)`);
  scratchDir = mkdtempSync(join(tmpdir(), 'krakend-bench-'));
  const profileDir = PROFILE ? mkdtempSync(join(tmpdir(), 'krakend-bench-profile-')) : undefined;
  const profileArgs = (who: string) => {
    if (!profileDir) return [];
    mkdirSync(join(profileDir, who));
    return ['--cpu-prof', `--cpu-prof-dir=${join(profileDir, who)}`];
  };

  const backend = group.fork('backend', BACKEND_SERVER);
  const backendPort = await readyPort(backend);

  const configFile = join(scratchDir, 'krakend.json');
  writeFileSync(configFile, benchConfig(backendPort));
  const gateway = group.spawn('gateway', process.execPath, [
    ...profileArgs('gateway'),
    GATEWAY_CLI,
    'run',
    '-c',
    configFile,
    '-p',
    '0',
  ]);
  const gatewayPort = Number((await gateway.waitForOutput(/Listening on port: (\d+)/, START_TIMEOUT_MS))[1]);

  const minimal = group.fork('minimal', MINIMAL_PROXY, {
    env: { ...process.env, BENCH_BACKEND_URL: `http://127.0.0.1:${backendPort}` },
    execArgv: profileArgs('minimal'),
  });
  const minimalPort = await readyPort(minimal);

  const statsGateways = group.fork('stats-gateways', STATS_GATEWAYS, {
    env: { ...process.env, BENCH_CONFIG_FILE: configFile },
    execArgv: profileArgs('stats-gateways'),
  });
  const statsReady = await statsGateways.request<{ type: string; port: number; statsPort: number }>(undefined, START_TIMEOUT_MS);
  if (statsReady.type !== 'ready') throw new Error(`stats-gateways: unexpected message ${JSON.stringify(statsReady)}`);

  const targets: Target[] = [
    { name: 'gateway', url: `http://127.0.0.1:${gatewayPort}/bench`, child: gateway },
    { name: 'gateway-limited', url: `http://127.0.0.1:${gatewayPort}/bench-limited`, child: gateway },
    { name: 'minimal', url: `http://127.0.0.1:${minimalPort}/bench`, child: minimal },
    { name: 'backend', url: `http://127.0.0.1:${backendPort}/data`, child: backend },
    { name: 'stats-off', url: `http://127.0.0.1:${statsReady.port}/bench`, child: statsGateways },
    { name: 'stats-on', url: `http://127.0.0.1:${statsReady.statsPort}/bench`, child: statsGateways },
  ];
  // The fixed-rate latency compares the gateway with the minimal proxy; the limited endpoint is measured at saturation.
  const proxies = targets.filter((t) => t.name === 'gateway' || t.name === 'minimal');
  await verify(targets);

  console.log(
    `proxy bench: node ${process.version}, commit ${commit()}, ${ROUNDS} rounds x ${DURATION_SEC} s per run, ` +
      `payload ${Buffer.byteLength(PAYLOAD_TEXT)} B; saturation: ${SATURATION_CONNECTIONS} connections, ` +
      `pipelining 1; fixed rate: ${FIXED_CONNECTIONS} connections; ${CLIENT_KEY_HEADER}: one value per connection` +
      `${PROFILE ? '; PROFILING (figures not representative)' : ''}`,
  );
  console.log(
    'responses verified: gateway (/bench and /bench-limited), minimal proxy and backend answer the same JSON ' +
      `document; /bench-limited answers 429 without ${CLIENT_KEY_HEADER}\n`,
  );

  const rounds: Round[] = [];
  let fixedRate = 0;
  for (let i = 0; i < ROUNDS; i++) {
    if (i === 0 && WARMUP_SEC > 0) {
      // Reaching the optimising JIT tier and filling the connection pools, so round 1 is not a cold outlier.
      for (const t of targets) {
        checkLoad(`warm-up ${t.name}`, await load(t, { connections: SATURATION_CONNECTIONS, durationSec: WARMUP_SEC }));
      }
    }
    const round: Round = { saturation: new Map(), fixed: new Map() };
    for (const t of saturationOrder(targets, i)) {
      round.saturation.set(t.name, await measureSaturation(t, `round ${i + 1} saturation ${t.name}`));
    }
    if (i === 0) {
      // Fixed once, from round 1: every round's latency is then measured at the same offered load.
      fixedRate = FIXED_RATE || Math.max(1, Math.round((round.saturation.get('minimal')?.rps ?? 0) / 2));
    }
    for (const t of rotate(proxies, i)) {
      round.fixed.set(t.name, await measureFixed(t, fixedRate, `round ${i + 1} fixed-rate ${t.name}`));
    }
    // Same row order in every table, whatever order the runs took.
    round.saturation = new Map(targets.map((t) => [t.name, round.saturation.get(t.name) as SaturationRun]));
    round.fixed = new Map(proxies.map((t) => [t.name, round.fixed.get(t.name) as FixedRun]));
    rounds.push(round);
    console.log(saturationTable(`round ${i + 1} saturation`, round.saturation));
    console.log(`  rate limit: ${fmt(ratelimitDelta(round), 1, 0)} µs/req (gateway-limited − gateway)`);
    console.log(`  stats collection: ${fmt(statsDelta(round), 1, 0)} µs/req (stats-on − stats-off)`);
    console.log(fixedTable(`round ${i + 1} @${fixedRate}/s`, round.fixed));
    console.log('');
  }

  const medSat = new Map<TargetName, SaturationRun>();
  for (const t of targets) {
    const pick = (r: Round) => r.saturation.get(t.name);
    medSat.set(t.name, {
      rps: medianOf(rounds, pick, (s) => s.rps),
      cpuUsPerReq: medianOf(rounds, pick, (s) => s.cpuUsPerReq),
      cpuPercent: medianOf(rounds, pick, (s) => s.cpuPercent),
      p50Ms: medianOf(rounds, pick, (s) => s.p50Ms),
      p99Ms: medianOf(rounds, pick, (s) => s.p99Ms),
    });
  }
  const medFixed = new Map<TargetName, FixedRun>();
  for (const t of proxies) {
    const pick = (r: Round) => r.fixed.get(t.name);
    medFixed.set(t.name, {
      achievedRps: medianOf(rounds, pick, (f) => f.achievedRps),
      p50Ms: medianOf(rounds, pick, (f) => f.p50Ms),
      p99Ms: medianOf(rounds, pick, (f) => f.p99Ms),
      autocannonP99Ms: medianOf(rounds, pick, (f) => f.autocannonP99Ms),
    });
  }
  console.log(saturationTable(`median of ${ROUNDS} saturation`, medSat));
  console.log(fixedTable(`median @${fixedRate}/s`, medFixed));

  const gatewayCpu = medSat.get('gateway')?.cpuUsPerReq ?? Number.NaN;
  const minimalCpu = medSat.get('minimal')?.cpuUsPerReq ?? Number.NaN;
  const gatewayP99 = medFixed.get('gateway')?.p99Ms ?? Number.NaN;
  const minimalP99 = medFixed.get('minimal')?.p99Ms ?? Number.NaN;
  const overhead = gatewayCpu - minimalCpu;
  // Paired by round: the two gateway runs of a round ran back to back, so machine drift between rounds cancels.
  const ratelimitOverhead = median(rounds.map(ratelimitDelta));
  const limitedCpu = medSat.get('gateway-limited')?.cpuUsPerReq ?? Number.NaN;
  const statsOverhead = median(rounds.map(statsDelta));
  const statsOnCpu = medSat.get('stats-on')?.cpuUsPerReq ?? Number.NaN;
  const statsOffCpu = medSat.get('stats-off')?.cpuUsPerReq ?? Number.NaN;
  const p99Limit = 1.2 * minimalP99 + 1;
  const verdict = (ok: boolean) => (ok ? 'met' : 'MISSED');
  console.log(`\ntarget cpu_overhead_us <= 25: ${overhead.toFixed(1)} µs/req -> ${verdict(overhead <= 25)}`);
  console.log(
    `target gateway_p99_ms_fixed <= 1.2 x minimal + 1 = ${p99Limit.toFixed(2)} ms: ${gatewayP99.toFixed(2)} ms -> ` +
      verdict(gatewayP99 <= p99Limit),
  );
  console.log(
    `target ratelimit_overhead_us <= ${RATELIMIT_TARGET_US}: ${ratelimitOverhead.toFixed(1)} µs/req (median over rounds ` +
      `of gateway-limited − gateway; difference of medians ${(limitedCpu - gatewayCpu).toFixed(1)}) -> ` +
      verdict(ratelimitOverhead <= RATELIMIT_TARGET_US),
  );
  console.log(
    `target stats_overhead_us <= ${STATS_TARGET_US}: ${statsOverhead.toFixed(1)} µs/req (median over rounds of ` +
      `stats-on − stats-off; difference of medians ${(statsOnCpu - statsOffCpu).toFixed(1)}) -> ` +
      verdict(statsOverhead <= STATS_TARGET_US),
  );

  // Stopped gracefully before the summary: V8 writes a CPU profile only when the process exits on its own.
  if (profileDir) {
    for (const child of [gateway, minimal]) await group.stop(child, 20_000);
    printProfiles(profileDir);
  }

  if (warnings.length > 0) {
    console.log(`\nwarnings (${warnings.length}):`);
    for (const w of warnings) console.log(`  - ${w}`);
  }
  if (problems.length > 0) {
    console.log(`\nTHE LOAD GENERATOR REPORTED PROBLEMS (${problems.length}):`);
    for (const p of problems) console.log(`  - ${p}`);
    process.exitCode = 1;
  }

  const summary = {
    bench: 'proxy',
    rounds: ROUNDS,
    gateway_cpu_us_per_req: round(gatewayCpu, 1),
    minimal_cpu_us_per_req: round(minimalCpu, 1),
    cpu_overhead_us: round(overhead, 1),
    gateway_rps: round(medSat.get('gateway')?.rps ?? Number.NaN, 0),
    minimal_rps: round(medSat.get('minimal')?.rps ?? Number.NaN, 0),
    backend_rps: round(medSat.get('backend')?.rps ?? Number.NaN, 0),
    fixed_rate_rps: fixedRate,
    gateway_p99_ms_fixed: round(gatewayP99, 2),
    minimal_p99_ms_fixed: round(minimalP99, 2),
    gateway_limited_cpu_us_per_req: round(limitedCpu, 1),
    gateway_limited_rps: round(medSat.get('gateway-limited')?.rps ?? Number.NaN, 0),
    ratelimit_overhead_us: round(ratelimitOverhead, 1),
    stats_overhead_us: round(statsOverhead, 1),
  };
  console.log(JSON.stringify(summary));
}

function printProfiles(profileDir: string): void {
  const summaries = new Map<TargetName, { summary: ProfileSummary; requests: number }>();
  for (const who of ['gateway', 'minimal'] as const) {
    const dir = join(profileDir, who);
    const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')) : [];
    if (files.length === 0) {
      console.log(`\nno CPU profile written for ${who} in ${dir}`);
      continue;
    }
    const file = join(dir, files[0] as string);
    // The gateway process serves both endpoints: its profile covers the requests of both.
    const requests = (served.get(who) ?? 0) + (who === 'gateway' ? (served.get('gateway-limited') ?? 0) : 0);
    const s = summariseCpuProfile(file, { root: PROJECT_ROOT, ownCode: '/dist/src/', top: who === 'gateway' ? 25 : 12 });
    summaries.set(who, { summary: s, requests });
    console.log(
      `\nCPU profile of the ${who}: ${file}\n  busy ${s.busyMs.toFixed(0)} ms, idle ${s.idleMs.toFixed(0)} ms, ` +
        `${requests} requests served: ${((s.busyMs * 1000) / Math.max(1, requests)).toFixed(1)} µs/req busy`,
    );
    console.log(formatHotspots('self time by function:', s.selfTop, requests));
    console.log(formatHotspots('self time by script:', s.byFile.slice(0, 12), requests));
    if (who === 'gateway') {
      console.log(formatHotspots('inclusive time of the gateway’s own functions:', s.ownInclusiveTop.slice(0, 15), requests));
    }
  }
  const g = summaries.get('gateway');
  const m = summaries.get('minimal');
  if (g && m) {
    const total = (g.summary.busyMs * 1000) / Math.max(1, g.requests) - (m.summary.busyMs * 1000) / Math.max(1, m.requests);
    console.log(`\ngateway minus minimal, self time per script (busy total ${total >= 0 ? '+' : ''}${total.toFixed(1)} µs/req):`);
    for (const d of perRequestDelta(g.summary.byFile, g.requests, m.summary.byFile, m.requests).slice(0, 15)) {
      const sign = d.deltaUs >= 0 ? '+' : '';
      console.log(`  ${(sign + d.deltaUs.toFixed(1)).padStart(7)} µs/req  (${d.aUs.toFixed(1)} vs ${d.bUs.toFixed(1)})  ${d.label}`);
    }
  }
}

function removeScratch(): void {
  if (scratchDir) rmSync(scratchDir, { recursive: true, force: true });
  scratchDir = undefined;
}

// Whatever happens, no child outlives the benchmark: the exit hook is the last resort, as it can only SIGKILL.
process.on('exit', () => {
  group.killAllSync();
  removeScratch();
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    aborting = true;
    console.error(`\n${signal}: stopping every child process`);
    void group.stopAll(1_000).finally(() => process.exit(130));
  });
}

main()
  .catch((err: unknown) => {
    if (aborting) return;
    console.error(`proxy bench failed: ${(err as Error).stack ?? String(err)}`);
    process.exitCode = 1;
  })
  .finally(async () => {
    await group.stopAll();
    removeScratch();
  });
