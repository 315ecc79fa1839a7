/*
 * Child process of `npm run bench:config`: a steady, bounded load against some nodes' endpoints while configs are
 * rolled out. `loops` request loops, each sending one GET at a time over a keep-alive connection (so requests
 * cross reloads on connections opened before them), paced to one request every `intervalMs` per loop, each
 * request with a `timeoutMs` deadline; loop i cycles through the targets and the endpoint paths. A request fails
 * when it errors, times out, or answers anything but 200 with a body.
 *
 * IPC: { type: 'start', … } → { type: 'started' } once every loop has had one answer;
 *      { type: 'stop' }     → loops finish their request in flight → { type: 'result', … }.
 * Bounded: the loops also stop by themselves after `maxDurationMs`, and the process exits when the parent goes.
 */
import { Agent, request } from 'node:http';

export interface StartMessage {
  type: 'start';
  /** Base URLs, e.g. http://127.0.0.1:PORT */
  targets: string[];
  paths: string[];
  loops: number;
  intervalMs: number;
  timeoutMs: number;
  maxDurationMs: number;
}
export interface LoadFailure {
  at: number;
  url: string;
  what: string;
}
export interface ResultMessage {
  type: 'result';
  total: number;
  ok: number;
  failed: number;
  byReason: Record<string, number>;
  /** The first failures, with wall-clock times, to line them up with the rollouts. */
  samples: LoadFailure[];
  latencyP50Ms: number;
  latencyP99Ms: number;
  latencyMaxMs: number;
  durationMs: number;
}
export type LoadMessage = { type: 'started' } | ResultMessage;

let stopping = false;
const latencies: number[] = [];
const failures: LoadFailure[] = [];
const byReason: Record<string, number> = {};
let total = 0;
let ok = 0;

function get(agent: Agent, url: string, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (what: string | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(what);
    };
    const req = request(url, { agent, method: 'GET' }, (res) => {
      let bytes = 0;
      res.on('data', (c: Buffer) => (bytes += c.length));
      res.on('end', () => done(res.statusCode === 200 && bytes > 0 ? undefined : `status ${res.statusCode}${bytes === 0 ? ' (empty body)' : ''}`));
      res.on('error', (err) => done(`response error: ${err.message}`));
      res.on('aborted', () => done('response aborted'));
    });
    const timer = setTimeout(() => {
      done(`timeout after ${timeoutMs} ms`);
      req.destroy();
    }, timeoutMs);
    req.on('error', (err: NodeJS.ErrnoException) => done(`error: ${err.code ?? err.message}`));
    req.end();
  });
}

async function loop(i: number, m: StartMessage, agent: Agent, deadline: number, first: () => void): Promise<void> {
  let k = i;
  let next = performance.now();
  let reported = false;
  while (!stopping && performance.now() < deadline) {
    const target = m.targets[k % m.targets.length] as string;
    const path = m.paths[(k * 7 + i) % m.paths.length] as string;
    k++;
    const url = `${target}${path}`;
    const t0 = performance.now();
    const what = await get(agent, url, m.timeoutMs);
    latencies.push(performance.now() - t0);
    total++;
    if (what === undefined) ok++;
    else {
      byReason[what] = (byReason[what] ?? 0) + 1;
      if (failures.length < 20) failures.push({ at: Date.now(), url, what });
    }
    if (!reported) {
      reported = true;
      first();
    }
    next += m.intervalMs;
    const wait = next - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    else next = performance.now();
  }
}

async function run(m: StartMessage): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: m.loops });
  const began = performance.now();
  const deadline = began + m.maxDurationMs;
  let firsts = 0;
  const loops = Array.from({ length: m.loops }, (_, i) =>
    loop(i, m, agent, deadline, () => {
      if (++firsts === m.loops) process.send?.({ type: 'started' } satisfies LoadMessage);
    }),
  );
  await Promise.all(loops);
  const durationMs = performance.now() - began;
  agent.destroy();
  const sorted = latencies.sort((a, b) => a - b);
  const pct = (p: number) => (sorted.length ? (sorted[Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length))) - 1] as number) : Number.NaN);
  const result: ResultMessage = {
    type: 'result',
    total,
    ok,
    failed: total - ok,
    byReason,
    samples: failures,
    latencyP50Ms: pct(50),
    latencyP99Ms: pct(99),
    latencyMaxMs: sorted.length ? (sorted[sorted.length - 1] as number) : Number.NaN,
    durationMs,
  };
  process.send?.(result);
}

process.on('message', (raw: unknown) => {
  const msg = raw as { type?: string };
  if (msg.type === 'start') {
    run(raw as StartMessage).catch((err: unknown) => {
      process.stderr.write(`load loop failed: ${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    });
  } else if (msg.type === 'stop') {
    stopping = true;
  }
});
process.on('disconnect', () => process.exit(0));
process.once('SIGTERM', () => process.exit(0));
