/*
 * The Cluster Manager of `npm run bench:stats`, in a process of its own so that its CPU time and RSS are its own.
 * It is composed as the `krakend-cluster-manager` CLI composes it (settings parsed by resolveManagerConfig from
 * flags, the real ClusterManager: control server over TCP with the keyed handshake, the StatsWindow, the HTTP API),
 * with one difference: the manager gets a StatsWindow that this process first fills with one window's worth of
 * deltas (every node, every stats interval) at simulated receive times ending now. The window is pure (it takes
 * `now`), so that is the injected clock: an hour of history without waiting an hour.
 *
 * IPC protocol (parent → manager → parent):
 *   { type: 'init', … }  → pre-fill, start                  → { type: 'ready', clusterPort, webPort, prefill }
 *   { type: 'size' }     → { type: 'size', size }             (StatsWindow.size(), for the report)
 *   { type: 'profile-start' } → { type: 'profiling' }       (V8 CPU profiler, for BENCH_PROFILE=1: the steady
 *   { type: 'profile-stop', file } → { type: 'profiled' }    period alone, without the pre-fill)
 * SIGTERM (or the parent going away): the manager closes, the process exits (bounded by a hard timer).
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { PerformanceObserver } from 'node:perf_hooks';
import type { PerformanceEntry } from 'node:perf_hooks';
import { Logger } from '../../src/base/logger.js';
import { ClusterManager } from '../../src/cluster/manager/manager.js';
import { resolveManagerConfig } from '../../src/cluster/manager/manager-config.js';
import { StatsCollector } from '../../src/stats/collector.js';
import type { StatsDelta } from '../../src/stats/collector.js';
import { StatsWindow } from '../../src/stats/window.js';
import type { WindowSize } from '../../src/stats/window.js';
import { PROJECT_VERSION } from '../../src/version.js';
import { NodeTraffic } from './traffic.js';

export interface ManagerInit {
  type: 'init';
  stateDir: string;
  clusterKey: string;
  /** The ids the simulated nodes will claim: their history is pre-filled under these ids. */
  nodeIds: string[];
  endpoints: number;
  perEndpointRps: number;
  statsIntervalMs: number;
  windowMs: number;
  logLevel: string;
  /** The control channel's heartbeat, ms; 0 = the manager's default. */
  heartbeatMs: number;
  /** max_heartbeats_per_second; -1 = the manager's default. */
  maxHeartbeatsPerSecond: number;
}

export interface PrefillReport {
  deltas: number;
  /** Wall time the pre-fill took, ms. */
  ms: number;
  /** Simulated time covered, ms. */
  coveredMs: number;
}

export interface ManagerReady {
  type: 'ready';
  clusterPort: number;
  webPort: number;
  prefill: PrefillReport;
}

/** Collections seen on the main thread since the last 'gc-reset', by kind (minor, major, incremental, weakcb). */
export type GcSummary = Record<string, { count: number; ms: number }>;

let gcSeen: GcSummary = {};
const GC_KINDS: Record<number, string> = { 1: 'minor', 2: 'major', 4: 'incremental', 8: 'weakcb' };
new PerformanceObserver((list) => {
  for (const e of list.getEntries() as (PerformanceEntry & { detail?: { kind?: number } })[]) {
    const kind = GC_KINDS[e.detail?.kind ?? 0] ?? 'other';
    const s = (gcSeen[kind] ??= { count: 0, ms: 0 });
    s.count++;
    s.ms += e.duration;
  }
}).observe({ entryTypes: ['gc'] });

export interface SizeAnswer {
  type: 'size';
  size: WindowSize;
  gc: GcSummary;
  memory: NodeJS.MemoryUsage;
}

/** Distinct delta shapes to cycle through in the pre-fill (real deltas differ in counts and buckets). */
const TEMPLATES = 32;

let manager: ClusterManager | undefined;
let window: StatsWindow | undefined;
let exiting = false;
let profiler: Session | undefined;

function post<T>(session: Session, method: string): Promise<T> {
  return new Promise((resolve, reject) => session.post(method, (err, result) => (err ? reject(err) : resolve(result as T))));
}

let profiling: 'cpu' | 'alloc' = 'cpu';

function postWith<T>(session: Session, method: string, params: object): Promise<T> {
  return new Promise((resolve, reject) => session.post(method, params, (err, result) => (err ? reject(err) : resolve(result as T))));
}

async function profileStart(mode: 'cpu' | 'alloc'): Promise<void> {
  profiler = new Session();
  profiler.connect();
  profiling = mode;
  if (mode === 'alloc') {
    // Every allocation sampled, including what young and old collections freed: the garbage is what we look for.
    await post(profiler, 'HeapProfiler.enable');
    await postWith(profiler, 'HeapProfiler.startSampling', {
      samplingInterval: 16_384,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
  } else {
    await post(profiler, 'Profiler.enable');
    await post(profiler, 'Profiler.start');
  }
  process.send?.({ type: 'profiling' });
}

async function profileStop(file: string): Promise<void> {
  if (!profiler) throw new Error('the profiler was not started');
  const method = profiling === 'alloc' ? 'HeapProfiler.stopSampling' : 'Profiler.stop';
  const { profile } = await post<{ profile: unknown }>(profiler, method);
  writeFileSync(file, JSON.stringify(profile));
  profiler.disconnect();
  profiler = undefined;
  process.send?.({ type: 'profiled' });
}

/**
 * Ingests, for every stats interval of the window ending now, one delta per node, each node at its own offset in
 * the interval (as live nodes, admitted at different moments, report). Ends at the current time, re-read as it
 * goes, so the window is full when the manager starts.
 */
function prefill(target: StatsWindow, init: ManagerInit): PrefillReport {
  const templates: StatsDelta[] = [];
  for (let i = 0; i < TEMPLATES; i++) {
    const collector = new StatsCollector({ stream: `template-${i}` });
    new NodeTraffic(collector, init.endpoints, 1 + i).record(init.statsIntervalMs / 1000, init.perEndpointRps);
    templates.push(collector.takeDelta());
  }
  const started = performance.now();
  const n = init.nodeIds.length;
  const step = init.statsIntervalMs;
  const from = Date.now() - init.windowMs;
  let deltas = 0;
  let t = from;
  let seq = 0;
  for (; t + step <= Date.now(); t += step) {
    seq++;
    for (let i = 0; i < n; i++) {
      const template = templates[(i + seq) % TEMPLATES]!;
      const delta: StatsDelta = { ...template, stream: 'bench-prefill', seq };
      target.ingest(init.nodeIds[i]!, delta, t + Math.floor((i * step) / n));
      deltas++;
    }
  }
  return { deltas, ms: performance.now() - started, coveredMs: t - from };
}

async function start(init: ManagerInit): Promise<void> {
  window = new StatsWindow({ windowMs: init.windowMs });
  const report = prefill(window, init);
  const argv = [
    '--state-dir', init.stateDir,
    '--cluster-port', '0',
    '--web-port', '0',
    '--bind', '127.0.0.1',
    '--web-bind', '127.0.0.1',
    '--cluster-key', init.clusterKey,
    '--stats-interval', `${init.statsIntervalMs}ms`,
    '--log-level', init.logLevel,
    ...(init.heartbeatMs > 0 ? ['--heartbeat', `${init.heartbeatMs}ms`] : []),
    ...(init.maxHeartbeatsPerSecond >= 0 ? ['--max-heartbeats-per-second', String(init.maxHeartbeatsPerSecond)] : []),
  ];
  // No KRAKEND_CM_* from the caller's environment and an empty config file: every other setting is the default.
  const env: NodeJS.ProcessEnv = { KRAKEND_CM_CONFIG: `${init.stateDir}/none.yml` };
  const resolved = await resolveManagerConfig(argv, env);
  if (!resolved.ok) throw new Error(resolved.errors.join('\n'));
  const config = resolved.config;
  const logger = new Logger({ prefix: 'CM ', level: config.logLevel, format: config.logFormat });
  manager = new ClusterManager(config, { logger, version: PROJECT_VERSION, statsWindow: window });
  const ports = await manager.start();
  const ready: ManagerReady = { type: 'ready', clusterPort: ports.cluster, webPort: ports.web, prefill: report };
  process.send?.(ready);
}

async function shutdown(code: number): Promise<void> {
  if (exiting) return;
  exiting = true;
  setTimeout(() => process.exit(code), 5_000).unref();
  await manager?.close().catch(() => {});
  process.exit(code);
}

process.on('message', (raw: unknown) => {
  const msg = raw as { type?: string };
  if (msg.type === 'init') {
    start(raw as ManagerInit).catch((err: unknown) => {
      process.stderr.write(`manager start failed: ${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    });
  } else if (msg.type === 'gc-reset') {
    gcSeen = {};
    process.send?.({ type: 'gc-reset' });
  } else if (msg.type === 'profile-start') {
    void profileStart((raw as { mode?: 'cpu' | 'alloc' }).mode ?? 'cpu');
  } else if (msg.type === 'profile-stop') {
    void profileStop((raw as { file: string }).file);
  } else if (msg.type === 'size' && window) {
    const answer: SizeAnswer = { type: 'size', size: window.size(), memory: process.memoryUsage(), gc: gcSeen };
    process.send?.(answer);
  }
});
process.once('SIGTERM', () => void shutdown(0));
process.once('SIGINT', () => void shutdown(0));
process.once('disconnect', () => void shutdown(0));
