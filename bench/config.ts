/*
 * `npm run bench:config`: how long the Cluster Manager takes to roll a new config out to every node (pushed,
 * validated, hot-reloaded, cached and acked by each), and whether any request fails while nodes reload.
 *
 * Per row, for N in 2, 10 and 50: a fresh manager (the real CLI, its own process and state directory, a license for
 * 100 nodes: bench/join-lib/manager.ts), one backend process (bench/lib/backend-server.ts, `GET /data`), and N
 * nodes over real sockets on 127.0.0.1, up to 10 per worker process (bench/config-lib/node-worker.ts: a gateway and
 * a ClusterAgent per node, its `onConfig` parsing, reloading, caching and acking as the `krakend` CLI does). Every
 * node starts from the same local krakend.json: 100 endpoints, one backend each (config-lib/krakend-config.ts).
 * Once all N are alive with their control channel up:
 *
 *   1. one warm-up rollout (version 1, not measured);
 *   2. a steady load starts (config-lib/load-loop.ts, its own process: BENCH_LOAD_LOOPS loops, default 4, each
 *      one keep-alive GET at a time, one every BENCH_LOAD_INTERVAL_MS, default 10 ms, 2 s timeout each) against up
 *      to 4 nodes spread over the workers, cycling through the 100 endpoints;
 *   3. BENCH_REPS rollouts (default 10), 250 ms apart, each a new version (the root `cache_ttl` changes):
 *
 *   apply_to_all_acked_ms  wall time of `POST /api/v1/config?author=bench-config` with the API token, from sending
 *                          the request to the end of its response. The manager's handler stores the version, pushes
 *                          it to every connected node and answers only once every node has answered (ack, nack or
 *                          its 15 s timeout), with the per-node `answers`; the bench checks N acks for the new
 *                          version, then that `GET /api/v1/nodes` shows every node's `config_version` at it.
 *   failed_requests        requests of the load (from the warm-up's end to after the last rollout) that errored,
 *                          timed out or answered non-200. Must be 0.
 *
 * p50 and p99 are nearest-rank over the BENCH_REPS rollouts (with 10, p99 is the slowest). The nodes time each
 * onConfig (parse, reload, cache save) so the table also shows where a rollout's time goes.
 *
 * BENCH_DEBUG=1 runs the manager at DEBUG and prints its output. Every child is stopped at the end, on errors and on
 * Ctrl-C too; every wait has a deadline, and the whole run is aborted past 280 s. Last line of stdout: the JSON.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ProcessGroup } from './lib/processes.js';
import type { ManagedChild } from './lib/processes.js';
import { percentileSorted } from './lib/stats.js';
import { pollNodes, startManager } from './join-lib/manager.js';
import type { ApiNode, BenchManager } from './join-lib/manager.js';
import { ENDPOINTS, endpointPath, krakendConfigText } from './config-lib/krakend-config.js';
import type { ApplyRecord, GoingMessage, InitMessage, ReadyMessage, TimingsMessage } from './config-lib/node-worker.js';
import type { LoadMessage, ResultMessage, StartMessage } from './config-lib/load-loop.js';

const WORKER = fileURLToPath(new URL('./config-lib/node-worker.js', import.meta.url));
const LOAD = fileURLToPath(new URL('./config-lib/load-loop.js', import.meta.url));
const BACKEND = fileURLToPath(new URL('./lib/backend-server.js', import.meta.url));
const SIZES = [2, 10, 50];
const NODES_PER_WORKER = 10;
const envInt = (name: string, def: number, min: number, max: number) => Math.max(min, Math.min(max, Number(process.env[name] ?? def) || def));
const REPS = envInt('BENCH_REPS', 10, 1, 30);
const LOAD_LOOPS = envInt('BENCH_LOAD_LOOPS', 4, 1, 32);
const LOAD_INTERVAL_MS = envInt('BENCH_LOAD_INTERVAL_MS', 10, 1, 1000);
const LOAD_TIMEOUT_MS = 2_000;
const LOAD_TARGETS = 4;
const GAP_MS = 250;
const POST_TIMEOUT_MS = 20_000;
const WHOLE_RUN_LIMIT_MS = 280_000;
const DEBUG = process.env['BENCH_DEBUG'] === '1';
const TARGETS: Record<number, number> = { 10: 1_000, 50: 2_000 };

interface ApiNodeWithConfig extends ApiNode {
  control_connected: boolean;
  config_version: number | null;
  config_error: string | null;
}
type Answer = { kind: 'ack'; version: number; hash: string } | { kind: 'nack'; version: number; error: string } | { kind: 'timeout' } | { kind: 'not_connected' };
interface PostResult {
  ok: boolean;
  version: number;
  hash: string;
  unchanged: boolean;
  answers: Record<string, Answer>;
  halted: boolean;
  errors?: string[];
}

interface Rollout {
  version: number;
  /** Wall clock (ms, sub-ms) when the POST was sent. */
  sentAt: number;
  ms: number;
}
interface RowResult {
  nodes: number;
  rollouts: Rollout[];
  load: ResultMessage;
  records: ApplyRecord[];
}

const groups = new Set<ProcessGroup>();
const tempDirs = new Set<string>();
function cleanupSync(): void {
  for (const g of groups) g.killAllSync();
  groups.clear();
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
  tempDirs.clear();
}
process.on('exit', cleanupSync);
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    process.stderr.write(`\n${sig}: stopping every child\n`);
    cleanupSync();
    process.exit(130);
  });
}

const wallNow = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function layout(n: number): string[][] {
  const workers = Math.ceil(n / NODES_PER_WORKER);
  const out: string[][] = Array.from({ length: workers }, () => []);
  for (let i = 0; i < n; i++) (out[i % workers] as string[]).push(`cfg-n${i + 1}`);
  return out;
}

async function startWorker(group: ProcessGroup, name: string, manager: BenchManager, dir: string, names: string[], configText: string): Promise<{ child: ManagedChild; ports: number[] }> {
  const child = group.fork(name, WORKER);
  const init: InitMessage = { type: 'init', seed: `127.0.0.1:${manager.clusterPort}`, dir: join(dir, name), names, configText };
  const ready = await child.request<ReadyMessage>(init, 20_000);
  if (ready.type !== 'ready' || ready.ports.length !== names.length) throw new Error(`${name}: unexpected answer ${JSON.stringify(ready)}`);
  return { child, ports: ready.ports };
}

async function postConfig(m: BenchManager, token: string, text: string, note: string): Promise<{ result: PostResult; ms: number; sentAt: number }> {
  const sentAt = wallNow();
  const t0 = performance.now();
  const res = await fetch(`http://127.0.0.1:${m.webPort}/api/v1/config?author=bench-config&note=${encodeURIComponent(note)}`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: text,
    signal: AbortSignal.timeout(POST_TIMEOUT_MS),
  });
  const body = await res.text();
  const ms = performance.now() - t0;
  if (res.status !== 200) throw new Error(`POST /api/v1/config: ${res.status} ${body.slice(0, 2000)}`);
  return { result: JSON.parse(body) as PostResult, ms, sentAt };
}

/** N acks for the new version in the POST's answers, then every node's config_version at it in GET /api/v1/nodes. */
async function checkRollout(m: BenchManager, n: number, r: PostResult): Promise<void> {
  if (!r.ok || r.unchanged || r.halted) throw new Error(`rollout not done: ${JSON.stringify({ ...r, answers: undefined })}`);
  const answers = Object.entries(r.answers);
  const bad = answers.filter(([, a]) => a.kind !== 'ack' || a.version !== r.version);
  if (answers.length !== n || bad.length > 0) {
    throw new Error(`version ${r.version}: ${answers.length}/${n} answers, not acked: ${JSON.stringify(Object.fromEntries(bad))}`);
  }
  await pollNodes(
    m,
    `every node at config version ${r.version}`,
    (ns) => ns.length === n && (ns as ApiNodeWithConfig[]).every((x) => x.config_version === r.version),
    2_000,
    10,
  );
}

async function runRow(n: number): Promise<RowResult> {
  const group = new ProcessGroup();
  groups.add(group);
  const dir = mkdtempSync(join(tmpdir(), `bench-config-${n}-`));
  tempDirs.add(dir);
  const workers: ManagedChild[] = [];
  let manager: BenchManager | undefined;
  let load: ManagedChild | undefined;
  try {
    manager = await startManager(group, join(dir, 'manager'), DEBUG ? 'DEBUG' : 'INFO');
    const m = manager;
    const token = readFileSync(join(dir, 'manager', 'api-token'), 'utf8').trim();

    const backend = group.fork('backend', BACKEND);
    const backendPort = (await backend.request<{ type: string; port: number }>(undefined, 10_000)).port;
    let variant = 1;
    const localText = krakendConfigText(backendPort, 0);

    const started = await Promise.all(layout(n).map((names, i) => startWorker(group, `worker-${i + 1}`, m, dir, names, localText)));
    workers.push(...started.map((s) => s.child));
    const ports = started.flatMap((s) => s.ports);
    await Promise.all(
      workers.map((w) =>
        w.request<GoingMessage>({ type: 'go' }, 10_000).then((g) => {
          if (g.type !== 'going') throw new Error(`${w.name}: unexpected answer ${JSON.stringify(g)}`);
        }),
      ),
    );
    await pollNodes(m, `${n} alive nodes with their control channel`, (ns) => ns.length === n && (ns as ApiNodeWithConfig[]).every((x) => x.state === 'alive' && x.control_connected), 30_000, 20);

    // Warm-up: version 1 everywhere (JIT, first cache file), not measured.
    const warm = await postConfig(m, token, krakendConfigText(backendPort, variant++), 'warm-up');
    await checkRollout(m, n, warm.result);

    // The load: up to LOAD_TARGETS nodes spread over the workers (ports are listed worker by worker).
    const k = Math.min(LOAD_TARGETS, n);
    const targetPorts = Array.from({ length: k }, (_, i) => ports[Math.round((i * (ports.length - 1)) / Math.max(1, k - 1))] as number);
    load = group.fork('load', LOAD);
    const loadChild = load;
    let resolveResult: (r: ResultMessage) => void = () => {};
    const resultPromise = new Promise<ResultMessage>((resolve) => (resolveResult = resolve));
    loadChild.process.on('message', (msg: LoadMessage) => {
      if (msg.type === 'result') resolveResult(msg);
    });
    const start: StartMessage = {
      type: 'start',
      targets: targetPorts.map((p) => `http://127.0.0.1:${p}`),
      paths: Array.from({ length: ENDPOINTS }, (_, i) => endpointPath(i)),
      loops: LOAD_LOOPS,
      intervalMs: LOAD_INTERVAL_MS,
      timeoutMs: LOAD_TIMEOUT_MS,
      maxDurationMs: 120_000,
    };
    const first = await loadChild.request<LoadMessage>(start, 10_000);
    if (first.type !== 'started') throw new Error(`load: unexpected answer ${JSON.stringify(first)}`);

    const rollouts: Rollout[] = [];
    for (let rep = 1; rep <= REPS; rep++) {
      await sleep(GAP_MS);
      group.assertAlive();
      const { result, ms, sentAt } = await postConfig(m, token, krakendConfigText(backendPort, variant++), `rep ${rep}`);
      await checkRollout(m, n, result);
      rollouts.push({ version: result.version, sentAt, ms });
      process.stdout.write(`  N=${n} rollout ${rep}/${REPS}: version ${result.version}, all ${n} acked in ${ms.toFixed(1)} ms\n`);
    }
    await sleep(GAP_MS);
    loadChild.process.send({ type: 'stop' });
    const loadResult = await Promise.race([
      resultPromise,
      sleep(LOAD_TIMEOUT_MS + 5_000).then(() => {
        throw new Error('the load generator did not report within its deadline');
      }),
    ]);

    const records = (
      await Promise.all(workers.map((w) => w.request<TimingsMessage>({ type: 'timings' }, 5_000)))
    ).flatMap((t) => t.records);
    if (DEBUG) process.stdout.write(`---- manager output (N=${n}) ----\n${m.child.output()}\n`);
    return { nodes: n, rollouts, load: loadResult, records };
  } catch (err) {
    if (manager) process.stderr.write(`---- manager output (N=${n}) ----\n${manager.child.output()}\n`);
    throw err;
  } finally {
    if (load) await group.stop(load, 2_000);
    await Promise.all(workers.map((w) => group.stop(w, 3_000)));
    if (manager) await group.stop(manager.child, 5_000);
    await group.stopAll(3_000);
    groups.delete(group);
    rmSync(dir, { recursive: true, force: true });
    tempDirs.delete(dir);
  }
}

const pct = (xs: number[], p: number) => percentileSorted([...xs].sort((a, b) => a - b), p);
const r1 = (x: number) => (Number.isFinite(x) ? Math.round(x * 10) / 10 : NaN);

/** Where one row's rollout time goes, from the nodes' own timing of onConfig (same host clock). */
function breakdown(row: RowResult) {
  const firstStart: number[] = [];
  const lastEnd: number[] = [];
  const perNode: number[] = [];
  const parse: number[] = [];
  const reload: number[] = [];
  const save: number[] = [];
  for (const r of row.rollouts) {
    const recs = row.records.filter((x) => x.version === r.version);
    if (recs.length === 0) continue;
    firstStart.push(Math.min(...recs.map((x) => x.startedAt)) - r.sentAt);
    lastEnd.push(Math.max(...recs.map((x) => x.endedAt)) - r.sentAt);
    for (const x of recs) {
      perNode.push(x.endedAt - x.startedAt);
      parse.push(x.parseMs);
      reload.push(x.reloadMs);
      save.push(x.saveMs);
    }
  }
  return {
    firstStartP50: pct(firstStart, 50),
    lastEndP50: pct(lastEnd, 50),
    perNodeP50: pct(perNode, 50),
    perNodeMax: pct(perNode, 100),
    parseP50: pct(parse, 50),
    reloadP50: pct(reload, 50),
    saveP50: pct(save, 50),
  };
}

async function main(): Promise<void> {
  const began = performance.now();
  const watchdog = setTimeout(() => {
    process.stderr.write(`bench:config: over ${WHOLE_RUN_LIMIT_MS / 1000} s, aborting\n`);
    cleanupSync();
    process.exit(1);
  }, WHOLE_RUN_LIMIT_MS);
  watchdog.unref();
  process.stdout.write(
    `bench:config — ${ENDPOINTS} endpoints (one backend each), ${REPS} rollouts per row after a warm-up, ${NODES_PER_WORKER} nodes per worker process; ` +
      `load: ${LOAD_LOOPS} keep-alive loops, one GET every ${LOAD_INTERVAL_MS} ms each (timeout ${LOAD_TIMEOUT_MS} ms), against up to ${LOAD_TARGETS} nodes\n` +
      `apply_to_all_acked = wall time of POST /api/v1/config (the manager answers once every node has acked)\n`,
  );
  const rows: RowResult[] = [];
  for (const n of SIZES) rows.push(await runRow(n));

  const header = ['nodes', 'endpoints', 'acked p50', 'acked p99', 'min', 'first node starts', 'last node done', 'node apply p50/max', 'parse/reload/save p50', 'requests', 'failed'];
  const lines = rows.map((row) => {
    const ms = row.rollouts.map((r) => r.ms);
    const b = breakdown(row);
    return [
      String(row.nodes),
      String(ENDPOINTS),
      r1(pct(ms, 50)).toFixed(1),
      r1(pct(ms, 99)).toFixed(1),
      r1(Math.min(...ms)).toFixed(1),
      r1(b.firstStartP50).toFixed(1),
      r1(b.lastEndP50).toFixed(1),
      `${r1(b.perNodeP50).toFixed(1)}/${r1(b.perNodeMax).toFixed(1)}`,
      `${r1(b.parseP50).toFixed(1)}/${r1(b.reloadP50).toFixed(1)}/${r1(b.saveP50).toFixed(1)}`,
      String(row.load.total),
      String(row.load.failed),
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] as string).length)));
  const show = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i] as number)).join('  ');
  process.stdout.write(
    `\nms; acked = POST wall time; "first node starts"/"last node done" = p50 over rollouts of the first onConfig start / last onConfig end after the POST was sent;\n` +
      `"node apply" = one node's onConfig (parse + reload + cache save), over all nodes and rollouts\n`,
  );
  process.stdout.write(`${show(header)}\n${lines.map(show).join('\n')}\n\n`);
  for (const row of rows) {
    const l = row.load;
    process.stdout.write(
      `  N=${row.nodes} load: ${l.total} requests in ${(l.durationMs / 1000).toFixed(1)} s, ${l.ok} ok, ${l.failed} failed; latency p50 ${r1(l.latencyP50Ms)} ms, p99 ${r1(l.latencyP99Ms)} ms, max ${r1(l.latencyMaxMs)} ms\n`,
    );
    if (l.failed > 0) {
      process.stdout.write(`    failures by reason: ${JSON.stringify(l.byReason)}\n`);
      for (const f of l.samples) process.stdout.write(`    ${new Date(f.at).toISOString()} ${f.url}: ${f.what}\n`);
    }
  }

  const summary = rows.map((row) => {
    const ms = row.rollouts.map((r) => r.ms);
    return {
      nodes: row.nodes,
      endpoints: ENDPOINTS,
      apply_to_all_acked_p50_ms: Math.round(pct(ms, 50)),
      apply_to_all_acked_p99_ms: Math.round(pct(ms, 99)),
      failed_requests: row.load.failed,
    };
  });
  process.stdout.write('targets:\n');
  for (const s of summary) {
    const limit = TARGETS[s.nodes];
    if (limit !== undefined) {
      process.stdout.write(
        `  all acked within ${limit} ms at ${s.nodes} nodes: p99 ${s.apply_to_all_acked_p99_ms} ms, p50 ${s.apply_to_all_acked_p50_ms} ms: ${s.apply_to_all_acked_p99_ms <= limit ? 'met' : s.apply_to_all_acked_p50_ms <= limit ? 'met by the p50 only' : 'MISSED'}\n`,
      );
    }
  }
  const failed = summary.reduce((a, s) => a + s.failed_requests, 0);
  process.stdout.write(`  0 failed requests during reloads: ${failed === 0 ? 'met' : `MISSED (${failed})`}\n`);
  process.stdout.write(`(whole run ${((performance.now() - began) / 1000).toFixed(1)} s)\n`);
  process.stdout.write(`${JSON.stringify({ bench: 'config', rows: summary })}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench:config failed: ${(err as Error).stack ?? String(err)}\n`);
    cleanupSync();
    process.exit(1);
  },
);
