/*
 * `npm run bench:join`: how fast the Cluster Manager admits N nodes joining at once, and how fast it notices a
 * node that dies (SIGKILL: its control connection closes) or freezes (SIGSTOP: nothing closes, only the control
 * channel's silence timeout — 3 heartbeats — can tell), with the manager's default (`lan`) timing.
 *
 * Per repetition, for N in 10 and 50: a fresh manager (the real CLI, its own process and state directory, a
 * license for 100 nodes), then N nodes over real sockets on 127.0.0.1: N − 2 of them in worker processes of up
 * to 10 nodes each (bench/join-lib/node-worker.ts: a gateway and a ClusterAgent per node), plus 2 single-node
 * workers, so that one node can be SIGKILLed and another SIGSTOPped without touching the others. Every worker
 * first starts its gateways and builds its agents, then all are told 'go' at once.
 *
 *   all_alive_ms            'go' sent to every worker → the first `GET /api/v1/nodes` answer (polled every
 *                           20 ms) showing all N `alive`.
 *   kill_to_unreachable_ms  SIGKILL to the first single-node worker → its node shown `unreachable`.
 *   stop_to_unreachable_ms  SIGSTOP to the second single-node worker → its node shown `unreachable`; then it
 *                           is SIGCONTed and SIGKILLed.
 * Each figure is measured once per repetition (BENCH_REPS, default 3; each repetition starts from scratch) and
 * the JSON line carries the median. The table also shows the manager's own view: the `since` timestamp of the
 * state change minus the wall-clock time of the event, free of the 20 ms polling.
 *
 * BENCH_DEBUG=1 runs the manager at log level DEBUG and prints its output. Every child is stopped at the end, on
 * errors and on Ctrl-C too; every wait has a deadline. Last line of stdout: the JSON summary.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ProcessGroup } from './lib/processes.js';
import type { ManagedChild } from './lib/processes.js';
import { pollNodes, startManager, summarize } from './join-lib/manager.js';
import type { ApiNode, BenchManager } from './join-lib/manager.js';
import type { GoingMessage, InitMessage, ReadyMessage } from './join-lib/node-worker.js';

const WORKER = fileURLToPath(new URL('./join-lib/node-worker.js', import.meta.url));
const SIZES = [10, 50];
const NODES_PER_WORKER = 10;
const REPS = Math.max(1, Math.min(10, Number(process.env['BENCH_REPS'] ?? 3) || 3));
const DEBUG = process.env['BENCH_DEBUG'] === '1';
const POLL_MS = 20;
const TARGETS = { nodes: 50, all_alive_ms: 2_000, kill_to_unreachable_ms: 3_000, stop_to_unreachable_ms: 15_000 };

interface RepResult {
  allAliveMs: number;
  /** The manager's own view: latest `since` of the N alive nodes − wall time of 'go'. */
  allAliveSinceMs: number;
  /** When the last worker had told all its agents to start, after 'go' was sent. */
  dialSpreadMs: number;
  killMs: number;
  killSinceMs: number;
  stopMs: number;
  stopSinceMs: number;
  /** Nodes still alive at the end (should be N − 2). */
  aliveAtEnd: number;
}

/** Every group alive, for Ctrl-C and `exit`; stopped children to SIGCONT before killing. */
const groups = new Set<ProcessGroup>();
const frozen = new Set<ManagedChild>();
const tempDirs = new Set<string>();

function cleanupSync(): void {
  for (const c of frozen) if (c.alive) c.process.kill('SIGCONT');
  frozen.clear();
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

function layout(n: number): string[][] {
  const multi = n - 2;
  const workers = Math.ceil(multi / NODES_PER_WORKER);
  const out: string[][] = Array.from({ length: workers }, () => []);
  for (let i = 0; i < multi; i++) (out[i % workers] as string[]).push(`bench-n${i + 1}`);
  return out;
}

async function startWorker(group: ProcessGroup, name: string, manager: BenchManager, dir: string, names: string[]): Promise<ManagedChild> {
  const child = group.fork(name, WORKER);
  const init: InitMessage = { type: 'init', seed: `127.0.0.1:${manager.clusterPort}`, dir: join(dir, name), names };
  const ready = await child.request<ReadyMessage>(init, 20_000);
  if (ready.type !== 'ready' || ready.ports.length !== names.length) throw new Error(`${name}: unexpected answer ${JSON.stringify(ready)}`);
  return child;
}

function findNode(nodes: ApiNode[], name: string): ApiNode {
  const node = nodes.find((n) => n.name === name);
  if (!node) throw new Error(`no node named ${name} at the manager`);
  return node;
}

async function runOnce(n: number, rep: number): Promise<RepResult> {
  const group = new ProcessGroup();
  groups.add(group);
  const dir = mkdtempSync(join(tmpdir(), `bench-join-${n}-`));
  tempDirs.add(dir);
  const workers: ManagedChild[] = [];
  let manager: BenchManager | undefined;
  try {
    manager = await startManager(group, join(dir, 'manager'), DEBUG ? 'DEBUG' : 'INFO');
    const m = manager;
    const groupsOfNames = layout(n);
    const started = await Promise.all([
      ...groupsOfNames.map((names, i) => startWorker(group, `worker-${i + 1}`, m, dir, names)),
      startWorker(group, 'single-kill', m, dir, ['bench-kill']),
      startWorker(group, 'single-stop', m, dir, ['bench-stop']),
    ]);
    workers.push(...started);
    const killWorker = started[started.length - 2] as ManagedChild;
    const stopWorker = started[started.length - 1] as ManagedChild;

    // ---- N nodes joining at once
    const going = workers.map((w) =>
      w.request<GoingMessage>(undefined, 10_000).then((g) => {
        if (g.type !== 'going') throw new Error(`${w.name}: unexpected answer ${JSON.stringify(g)}`);
        return g.at;
      }),
    );
    const t0Wall = Date.now();
    const t0 = performance.now();
    for (const w of workers) w.process.send({ type: 'go' });
    const joined = await pollNodes(m, `${n} alive nodes`, (ns) => ns.length === n && ns.every((x) => x.state === 'alive'), 30_000, POLL_MS);
    const allAliveMs = joined.at - t0;
    const goingAt = await Promise.all(going);
    const dialSpreadMs = Math.max(...goingAt) - t0Wall;
    const allAliveSinceMs = Math.max(...joined.nodes.map((x) => Date.parse(x.since))) - t0Wall;

    // ---- SIGKILL: the control connection closes
    const killId = findNode(joined.nodes, 'bench-kill').id;
    const k0Wall = Date.now();
    const k0 = performance.now();
    killWorker.process.kill('SIGKILL');
    const killed = await pollNodes(m, 'the SIGKILLed node unreachable', (ns) => ns.some((x) => x.id === killId && x.state === 'unreachable'), 20_000, POLL_MS);
    const killMs = killed.at - k0;
    const killSinceMs = Date.parse(findNode(killed.nodes, 'bench-kill').since) - k0Wall;

    // ---- SIGSTOP: nothing closes
    const stopId = findNode(joined.nodes, 'bench-stop').id;
    frozen.add(stopWorker);
    const s0Wall = Date.now();
    const s0 = performance.now();
    stopWorker.process.kill('SIGSTOP');
    let stopped: { at: number; nodes: ApiNode[] };
    try {
      stopped = await pollNodes(m, 'the SIGSTOPped node unreachable', (ns) => ns.some((x) => x.id === stopId && x.state === 'unreachable'), 40_000, POLL_MS);
    } finally {
      stopWorker.process.kill('SIGCONT');
      stopWorker.process.kill('SIGKILL');
      frozen.delete(stopWorker);
    }
    const stopMs = stopped.at - s0;
    const stopSinceMs = Date.parse(findNode(stopped.nodes, 'bench-stop').since) - s0Wall;
    const aliveAtEnd = stopped.nodes.filter((x) => x.state === 'alive').length;

    if (DEBUG) process.stdout.write(`---- manager output (N=${n}, rep ${rep}) ----\n${m.child.output()}\n`);
    return { allAliveMs, allAliveSinceMs, dialSpreadMs, killMs, killSinceMs, stopMs, stopSinceMs, aliveAtEnd };
  } catch (err) {
    if (manager) process.stderr.write(`---- manager output (N=${n}, rep ${rep}) ----\n${manager.child.output()}\n`);
    throw err;
  } finally {
    for (const c of frozen) if (c.alive) c.process.kill('SIGCONT');
    frozen.clear();
    // Workers first (their agents leave while the manager still listens), then the manager, then any leftover.
    await Promise.all(workers.map((w) => group.stop(w, 3_000)));
    if (manager) await group.stop(manager.child, 5_000);
    await group.stopAll(3_000);
    groups.delete(group);
    rmSync(dir, { recursive: true, force: true });
    tempDirs.delete(dir);
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

function fmt(xs: number[]): string {
  const med = Math.round(median(xs));
  if (xs.length === 1) return `${med}`;
  return `${med} (${Math.round(Math.min(...xs))}–${Math.round(Math.max(...xs))})`;
}

async function main(): Promise<void> {
  const began = performance.now();
  process.stdout.write(
    `bench:join — manager defaults (lan preset, heartbeat 1s, silent channel closed after 3 beats), ` +
      `${REPS} repetition(s) per row, API polled every ${POLL_MS} ms, ${NODES_PER_WORKER} nodes per worker process + 2 single-node workers\n`,
  );
  const rows: Array<{ nodes: number; reps: RepResult[] }> = [];
  for (const n of SIZES) {
    const reps: RepResult[] = [];
    for (let r = 1; r <= REPS; r++) {
      const res = await runOnce(n, r);
      reps.push(res);
      process.stdout.write(
        `  N=${n} rep ${r}: all alive ${Math.round(res.allAliveMs)} ms (manager: ${res.allAliveSinceMs} ms; dial spread ${res.dialSpreadMs} ms), ` +
          `kill→unreachable ${Math.round(res.killMs)} ms (manager: ${res.killSinceMs} ms), ` +
          `stop→unreachable ${Math.round(res.stopMs)} ms (manager: ${res.stopSinceMs} ms), alive at end ${res.aliveAtEnd}/${n - 2}\n`,
      );
      if (res.aliveAtEnd !== n - 2) process.stdout.write(`  WARNING: ${n - 2 - res.aliveAtEnd} bystander node(s) not alive at the end\n`);
    }
    rows.push({ nodes: n, reps });
  }

  const header = ['nodes', 'all_alive_ms', 'by since', 'kill_to_unreachable_ms', 'by since', 'stop_to_unreachable_ms', 'by since'];
  const lines = rows.map((row) => [
    String(row.nodes),
    fmt(row.reps.map((r) => r.allAliveMs)),
    fmt(row.reps.map((r) => r.allAliveSinceMs)),
    fmt(row.reps.map((r) => r.killMs)),
    fmt(row.reps.map((r) => r.killSinceMs)),
    fmt(row.reps.map((r) => r.stopMs)),
    fmt(row.reps.map((r) => r.stopSinceMs)),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] as string).length)));
  const show = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i] as number)).join('  ');
  process.stdout.write(`\nmedian (min–max) over ${REPS} repetition(s), ms; "by since" = the manager's own timestamp of the change\n`);
  process.stdout.write(`${show(header)}\n${lines.map(show).join('\n')}\n\n`);

  const summary = rows.map((row) => ({
    nodes: row.nodes,
    all_alive_ms: Math.round(median(row.reps.map((r) => r.allAliveMs))),
    kill_to_unreachable_ms: Math.round(median(row.reps.map((r) => r.killMs))),
    stop_to_unreachable_ms: Math.round(median(row.reps.map((r) => r.stopMs))),
  }));
  const target = summary.find((s) => s.nodes === TARGETS.nodes);
  if (target) {
    const worst = (key: 'allAliveMs' | 'killMs' | 'stopMs') =>
      Math.round(Math.max(...(rows.find((r) => r.nodes === TARGETS.nodes) as { reps: RepResult[] }).reps.map((r) => r[key])));
    const check = (label: string, median: number, worstRep: number, limit: number) =>
      `  ${label.padEnd(24)} median ${median} ms, worst ${worstRep} ms, target ≤ ${limit} ms: ${worstRep <= limit ? 'met' : median <= limit ? 'met by the median, not by every repetition' : 'MISSED'}\n`;
    process.stdout.write(`targets at ${TARGETS.nodes} nodes:\n`);
    process.stdout.write(check('all alive', target.all_alive_ms, worst('allAliveMs'), TARGETS.all_alive_ms));
    process.stdout.write(check('SIGKILL → unreachable', target.kill_to_unreachable_ms, worst('killMs'), TARGETS.kill_to_unreachable_ms));
    process.stdout.write(check('SIGSTOP → unreachable', target.stop_to_unreachable_ms, worst('stopMs'), TARGETS.stop_to_unreachable_ms));
  }
  process.stdout.write(`(whole run ${((performance.now() - began) / 1000).toFixed(1)} s)\n`);
  process.stdout.write(`${JSON.stringify({ bench: 'join', rows: summary })}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench:join failed: ${(err as Error).stack ?? String(err)}\n`);
    cleanupSync();
    process.exit(1);
  },
);
