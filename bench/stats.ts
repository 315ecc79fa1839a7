/*
 * `npm run bench:stats`: what the Cluster Manager pays to keep the cluster's stats, at 1,000 nodes with 50
 * endpoints (and 50 backends) each, every node sending its delta every stats interval (5 s), with the one-hour
 * window already full.
 *
 * The manager (bench/stats-lib/manager-process.ts) runs in its own process: the real ClusterManager composed as the
 * CLI composes it, with a cluster key (every control connection does the keyed handshake and every frame is
 * sealed), a license for the nodes, and a StatsWindow it first fills with one hour of deltas (every node, every
 * interval) at simulated receive times ending now. The nodes (bench/stats-lib/node-worker.ts) run in BENCH_WORKERS
 * other processes: each node is a real ClusterAgent with a real StatsCollector fed synthetic traffic (about
 * BENCH_NODE_RPS requests per second on each endpoint, each with one backend call), started spread over one
 * interval so that their reports are spread as in a live cluster. The nodes claim ids chosen here, so that the
 * pre-filled history and the live nodes are the same nodes (the coarse per node × endpoint tier is full, not
 * doubled). The nodes do not join gossip: the figures are those of the control channel (join, heartbeats both
 * ways when a side sent nothing else for a beat, stats deltas and the manager's acks, which go at its beat) and of the
 * stats path (decode, validation, dedup, window).
 *
 * Once every node is admitted and a warm-up of BENCH_WARMUP_S has passed:
 *
 *   manager_cpu_share  the manager's CPU time (utime + stime from /proc, every thread) over BENCH_STEADY_S seconds
 *                      of steady state, divided by the wall time: share of one core. An operator's page is open
 *                      meanwhile (the overview polled every 2 s, as the web interface's event stream pushes it).
 *   manager_rss_mb     the manager's resident memory (VmRSS) at the end of that period (its peak, VmHWM, shown
 *                      beside it).
 *   overview_p99_ms    then BENCH_OVERVIEW_REQUESTS sequential `GET /api/v1/overview` (one every 100 ms) while
 *                      ingestion goes on: nearest-rank p99 of the time from request to last byte, on keep-alive.
 *                      The nodes table (`/api/v1/stats/nodes`) and the keys table (`/api/v1/stats/keys`) are
 *                      timed too, for information.
 *
 * BENCH_PROFILE=1 profiles the manager (V8 CPU profiler, in process) over the steady period and prints its
 * hotspots; the profiler's own cost then inflates manager_cpu_share. BENCH_PROFILE=alloc samples its allocations instead
 * (collected objects included) and ranks the functions that allocate. BENCH_NODE_RPS=0 runs without traffic (the control
 * channel alone); BENCH_HEARTBEAT_MS sets the manager's heartbeat (default: its own default, 1 s) and
 * BENCH_MAX_HEARTBEATS its max_heartbeats_per_second (default: its own, 100, so a 10 s beat at 1,000 nodes; 0 = every
 * channel at the heartbeat, as before the bound). BENCH_DEBUG=1 runs the manager at log level DEBUG. Every child is stopped at the end, on errors and on Ctrl-C
 * too; every wait has a deadline. Last line of stdout: the JSON summary.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateKeyPair, issueLicense } from '../src/cluster/manager/license.js';
import { formatAllocSpots, summariseAllocProfile } from './lib/alloc-profile.js';
import { formatHotspots, summariseCpuProfile } from './lib/cpu-profile.js';
import { ProcessGroup, cpuSeconds } from './lib/processes.js';
import type { ManagedChild } from './lib/processes.js';
import { percentileSorted, round } from './lib/stats.js';
import { ApiClient } from './stats-lib/api-client.js';
import type { OverviewBody } from './stats-lib/api-client.js';
import type { ManagerInit, ManagerReady, SizeAnswer } from './stats-lib/manager-process.js';
import type { WorkerInit, WorkerStatus } from './stats-lib/node-worker.js';

const MANAGER = fileURLToPath(new URL('./stats-lib/manager-process.js', import.meta.url));
const WORKER = fileURLToPath(new URL('./stats-lib/node-worker.js', import.meta.url));

function envInt(name: string, fallback: number, min: number, max: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name}=${text}: expected an integer in [${min}, ${max}]`);
  return n;
}

const NODES = envInt('BENCH_NODES', 1000, 2, 5000);
const ENDPOINTS = envInt('BENCH_ENDPOINTS', 50, 1, 500);
const WORKERS = envInt('BENCH_WORKERS', 4, 1, 32);
const NODE_RPS = envInt('BENCH_NODE_RPS', 2, 0, 1000);
const WARMUP_S = envInt('BENCH_WARMUP_S', 15, 0, 600);
const STEADY_S = envInt('BENCH_STEADY_S', 60, 5, 3600);
const OVERVIEW_REQUESTS = envInt('BENCH_OVERVIEW_REQUESTS', 300, 10, 100_000);
/** The manager's heartbeat (0 = its default, 1 s): to see what the control channel's beats cost. */
const HEARTBEAT_MS = envInt('BENCH_HEARTBEAT_MS', 0, 0, 60_000);
/** The manager's max_heartbeats_per_second (-1 = its default, 100; 0 = no bound: every channel beats at the heartbeat). */
const MAX_HEARTBEATS = envInt('BENCH_MAX_HEARTBEATS', -1, -1, 1_000_000);
const STATS_INTERVAL_MS = 5_000;
const WINDOW_MS = 3_600_000;
const UI_POLL_MS = 2_000;
const OVERVIEW_GAP_MS = 100;
const DEBUG = process.env['BENCH_DEBUG'] === '1';
const PROFILE_MODE = process.env['BENCH_PROFILE'] === '1' ? 'cpu' : process.env['BENCH_PROFILE'] === 'alloc' ? 'alloc' : undefined;
const PROFILE = PROFILE_MODE !== undefined;
const PROJECT_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TARGETS = { manager_cpu_share: 0.1, manager_rss_mb: 512, overview_p99_ms: 50 };

const group = new ProcessGroup();
let scratch: string | undefined;

function cleanupSync(): void {
  group.killAllSync();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
  scratch = undefined;
}
process.on('exit', cleanupSync);
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    process.stderr.write(`\n${sig}: stopping every child\n`);
    cleanupSync();
    process.exit(130);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function writeLicense(stateDir: string, maxNodes: number): void {
  const pair = generateKeyPair();
  const now = Date.now();
  const day = (offset: number) => new Date(now + offset * 86_400_000).toISOString().slice(0, 10);
  const text = issueLicense(
    { licensee: 'bench:stats', license_id: 'lic_bench_stats', max_nodes: maxNodes, not_before: day(-1), not_after: day(365), issued_at: new Date(now).toISOString() },
    pair.privateKeyPem,
  );
  writeFileSync(join(stateDir, 'license-public.pem'), pair.publicKeyPem);
  writeFileSync(join(stateDir, 'license.json'), text);
  writeFileSync(join(stateDir, 'none.yml'), '');
}

/** VmRSS and VmHWM of a process, MiB. */
function memoryMb(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

async function workerStatus(workers: readonly ManagedChild[]): Promise<{ admitted: number; pending: number; requests: number }> {
  const all = await Promise.all(workers.map((w) => w.request<WorkerStatus>({ type: 'status' }, 10_000)));
  return all.reduce((a, s) => ({ admitted: a.admitted + s.admitted, pending: a.pending + s.pending, requests: a.requests + s.requests }), { admitted: 0, pending: 0, requests: 0 });
}

function describeLatencies(label: string, ms: number[]): string {
  const s = [...ms].sort((a, b) => a - b);
  return `${label.padEnd(26)} n=${String(s.length).padStart(4)}  p50 ${percentileSorted(s, 50).toFixed(1).padStart(7)} ms  p99 ${percentileSorted(s, 99).toFixed(1).padStart(7)} ms  max ${(s[s.length - 1] ?? NaN).toFixed(1).padStart(7)} ms`;
}

async function main(): Promise<void> {
  scratch = mkdtempSync(join(tmpdir(), 'bench-stats-'));
  const stateDir = join(scratch, 'manager');
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  writeLicense(stateDir, NODES);
  const clusterKey = randomBytes(32).toString('base64');
  const ids = Array.from({ length: NODES }, () => `krakend_${randomUUID()}`);
  console.log(
    `stats bench: node ${process.version}, ${NODES} nodes x ${ENDPOINTS} endpoints (+ ${ENDPOINTS} backends), ~${NODE_RPS} req/s per ` +
      `endpoint per node, stats every ${STATS_INTERVAL_MS / 1000} s, window ${WINDOW_MS / 1000} s, ${WORKERS} node processes`,
  );

  // ---- the manager: pre-fill, then start
  // BENCH_MANAGER_NODE_FLAGS: extra node flags for the manager alone (e.g. --perf-basic-prof, to profile it with perf).
  const managerFlags = (process.env['BENCH_MANAGER_NODE_FLAGS'] ?? '').split(' ').filter((f) => f !== '');
  const manager = group.fork('manager', MANAGER, { execArgv: managerFlags });
  const init: ManagerInit = {
    type: 'init',
    stateDir,
    clusterKey,
    nodeIds: ids,
    endpoints: ENDPOINTS,
    perEndpointRps: NODE_RPS,
    statsIntervalMs: STATS_INTERVAL_MS,
    windowMs: WINDOW_MS,
    logLevel: DEBUG ? 'DEBUG' : 'WARNING',
    heartbeatMs: HEARTBEAT_MS,
    maxHeartbeatsPerSecond: MAX_HEARTBEATS,
  };
  const ready = await manager.request<ManagerReady>(init, 600_000);
  if (ready.type !== 'ready') throw new Error(`manager: unexpected answer ${JSON.stringify(ready)}`);
  console.log(
    `pre-fill: ${ready.prefill.deltas} deltas over ${(ready.prefill.coveredMs / 1000).toFixed(0)} s of simulated time in ` +
      `${(ready.prefill.ms / 1000).toFixed(1)} s (${((ready.prefill.ms * 1000) / Math.max(1, ready.prefill.deltas)).toFixed(1)} µs per delta); ` +
      `manager RSS ${memoryMb(manager.pid).rss.toFixed(0)} MiB`,
  );
  const api = new ApiClient(ready.webPort);

  // ---- the nodes
  const workers: ManagedChild[] = [];
  for (let w = 0; w < WORKERS; w++) {
    const mine = ids.map((id, i) => ({ id, name: `bench-stats-${i + 1}` })).filter((_, i) => i % WORKERS === w);
    const child = group.fork(`nodes-${w + 1}`, WORKER);
    const workerInit: WorkerInit = {
      type: 'init',
      seed: `127.0.0.1:${ready.clusterPort}`,
      dir: join(scratch, `nodes-${w + 1}`),
      clusterKey,
      nodes: mine,
      endpoints: ENDPOINTS,
      perEndpointRps: NODE_RPS,
    };
    const r = await child.request<{ type: string }>(workerInit, 60_000);
    if (r.type !== 'ready') throw new Error(`nodes-${w + 1}: unexpected answer ${JSON.stringify(r)}`);
    workers.push(child);
  }
  const goAt = performance.now();
  await Promise.all(workers.map((w) => w.request({ type: 'go', spreadMs: STATS_INTERVAL_MS + 1_000 }, 10_000)));
  for (let deadline = performance.now() + 180_000; ; ) {
    const o = await api.get<OverviewBody>('/api/v1/overview');
    if ((o.body.nodes['alive'] ?? 0) >= NODES) break;
    group.assertAlive();
    if (performance.now() > deadline) throw new Error(`not every node alive after 180 s: ${JSON.stringify(o.body.nodes)}`);
    await sleep(500);
  }
  console.log(`all ${NODES} nodes alive ${((performance.now() - goAt) / 1000).toFixed(1)} s after go; warm-up ${WARMUP_S} s`);
  await sleep(WARMUP_S * 1000);

  // ---- steady state: CPU and RSS, with an operator's page polling the overview
  if (PROFILE) await manager.request({ type: 'profile-start', mode: PROFILE_MODE }, 10_000);
  await manager.request({ type: 'gc-reset' }, 10_000);
  const before = await workerStatus(workers);
  const cpu0 = cpuSeconds(manager.pid);
  const t0 = performance.now();
  let polls = 0;
  const uiLatencies: number[] = [];
  while (performance.now() - t0 < STEADY_S * 1000) {
    const tick = performance.now();
    uiLatencies.push((await api.get<OverviewBody>('/api/v1/overview')).ms);
    polls++;
    group.assertAlive();
    await sleep(Math.max(0, Math.min(UI_POLL_MS - (performance.now() - tick), STEADY_S * 1000 - (performance.now() - t0))));
  }
  const cpu1 = cpuSeconds(manager.pid);
  const wallS = (performance.now() - t0) / 1000;
  const mem = memoryMb(manager.pid);
  const after = await workerStatus(workers);
  if (PROFILE_MODE === 'alloc') {
    const file = join(scratch, 'manager.heapprofile');
    await manager.request({ type: 'profile-stop', file }, 60_000);
    const a = summariseAllocProfile(file, { root: PROJECT_ROOT, ownCode: '/dist/src/', top: 30 });
    console.log(`manager allocations over the steady period (sampled): ${(a.totalBytes / wallS / 1048576).toFixed(1)} MiB/s`);
    console.log(formatAllocSpots('allocated by function (self):', a.selfTop, wallS));
    console.log(formatAllocSpots('allocated under the project’s functions (inclusive):', a.ownInclusiveTop, wallS));
  } else if (PROFILE) {
    const file = join(scratch, 'manager.cpuprofile');
    await manager.request({ type: 'profile-stop', file }, 60_000);
    const p = summariseCpuProfile(file, { root: PROJECT_ROOT, ownCode: '/dist/src/', top: 30 });
    console.log(`manager CPU profile over the steady period: busy ${p.busyMs.toFixed(0)} ms, idle ${p.idleMs.toFixed(0)} ms`);
    console.log(formatHotspots('self time by function:', p.selfTop));
    console.log(formatHotspots('self time by script:', p.byFile.slice(0, 15)));
    console.log(formatHotspots('inclusive time of the project’s functions:', p.ownInclusiveTop.slice(0, 25)));
  }
  const cpuShare = (cpu1 - cpu0) / wallS;
  const recorded = after.requests - before.requests;
  console.log(
    `steady state ${wallS.toFixed(1)} s: manager CPU ${(cpu1 - cpu0).toFixed(2)} s -> ${(cpuShare * 100).toFixed(1)} % of a core; ` +
      `RSS ${mem.rss.toFixed(0)} MiB (peak ${mem.peak.toFixed(0)} MiB); ${polls} overview polls; nodes recorded ` +
      `${(recorded / wallS).toFixed(0)} req/s; ${after.admitted}/${NODES} admitted, ${after.pending} deltas not yet acknowledged (acks go at the manager beat: about one per node is normal)`,
  );
  const beat = /^krakend_cluster_control_heartbeat_seconds (\S+)$/m.exec(await api.text('/metrics'))?.[1] ?? '?';
  console.log(`control channel beat at the end of the steady period: ${beat} s (at most 3 beats of silence per channel)`);
  const size = await manager.request<SizeAnswer>({ type: 'size' }, 30_000);
  const s = size.size;
  console.log(
    `window: ${s.fineSeries} fine series (${s.histograms} histograms), ${s.coarseSeries} coarse series (${s.coarseSlots} slots), ` +
      `${s.nodes} nodes, typed arrays ~${(s.approxBytes / 1048576).toFixed(0)} MiB`,
  );
  const gc = Object.entries(size.gc).map(([kind, g]) => `${g.count} ${kind} ${g.ms.toFixed(0)} ms`).join(', ');
  console.log(`manager collections on its main thread since the steady period began: ${gc || 'none'}`);
  const mu = size.memory;
  const mib = (b: number) => `${(b / 1048576).toFixed(0)} MiB`;
  console.log(`manager memory: heap used ${mib(mu.heapUsed)} of ${mib(mu.heapTotal)}, array buffers ${mib(mu.arrayBuffers)}, external ${mib(mu.external)}, rss ${mib(mu.rss)}`);

  // ---- overview latency while ingestion goes on
  const overview: number[] = [];
  let last: OverviewBody | undefined;
  for (let i = 0; i < OVERVIEW_REQUESTS; i++) {
    const r = await api.get<OverviewBody>('/api/v1/overview');
    overview.push(r.ms);
    last = r.body;
    await sleep(OVERVIEW_GAP_MS);
  }
  const tables = { nodes: [] as number[], keys: [] as number[] };
  for (let i = 0; i < 20; i++) {
    tables.nodes.push((await api.get('/api/v1/stats/nodes')).ms);
    tables.keys.push((await api.get('/api/v1/stats/keys')).ms);
    await sleep(OVERVIEW_GAP_MS);
  }
  group.assertAlive();
  console.log(describeLatencies('GET /api/v1/overview', overview));
  console.log(describeLatencies('  (during the CPU period)', uiLatencies));
  console.log(describeLatencies('GET /api/v1/stats/nodes', tables.nodes));
  console.log(describeLatencies('GET /api/v1/stats/keys', tables.keys));
  if (last) {
    console.log(
      `overview: ${JSON.stringify(last.nodes)}, ${last.rps.toFixed(0)} req/s over its range (nodes record ~${(recorded / wallS).toFixed(0)}), ` +
        `p99 ${last.p99_us === null ? '-' : (last.p99_us / 1000).toFixed(1)} ms`,
    );
  }

  const sorted = [...overview].sort((a, b) => a - b);
  const p99 = percentileSorted(sorted, 99);
  const verdict = (ok: boolean) => (ok ? 'met' : 'MISSED');
  console.log(`\ntarget manager_cpu_share <= ${TARGETS.manager_cpu_share}: ${cpuShare.toFixed(3)} -> ${verdict(cpuShare <= TARGETS.manager_cpu_share)}`);
  console.log(`target manager_rss_mb <= ${TARGETS.manager_rss_mb}: ${mem.rss.toFixed(0)} -> ${verdict(mem.rss <= TARGETS.manager_rss_mb)}`);
  console.log(`target overview_p99_ms <= ${TARGETS.overview_p99_ms}: ${p99.toFixed(1)} -> ${verdict(p99 <= TARGETS.overview_p99_ms)}`);

  await api.close();
  await Promise.all(workers.map((w) => group.stop(w, 5_000)));
  await group.stop(manager, 10_000);
  console.log(
    JSON.stringify({
      bench: 'stats',
      nodes: NODES,
      endpoints: ENDPOINTS,
      window_s: WINDOW_MS / 1000,
      manager_cpu_share: round(cpuShare, 3),
      manager_rss_mb: round(mem.rss, 0),
      overview_p99_ms: round(p99, 1),
    }),
  );
}

main()
  .catch((err: unknown) => {
    console.error(`stats bench failed: ${(err as Error).stack ?? String(err)}`);
    process.exitCode = 1;
  })
  .finally(async () => {
    await group.stopAll(3_000);
    cleanupSync();
  });
