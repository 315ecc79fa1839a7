/*
 * Micro-benchmark of the node-side stats collector's hot path (issue 8): nanoseconds per record on a kept
 * handle (endpoint request, backend call), per record through a key lookup, and per Histogram.record.
 * Each figure is the median of several rounds. Run: `npx tsc -p . && node dist/bench/stats.js`.
 */
import { StatsCollector, backendKey, endpointKey } from '../src/stats/collector.js';
import { Histogram } from '../src/stats/histogram.js';

const N = 2_000_000;
const ROUNDS = 7;
const latencies = Float64Array.from({ length: 4096 }, (_, i) => 200 + ((i * 7919) % 100_000));
const statuses = Int32Array.from({ length: 4096 }, (_, i) => (i % 50 === 0 ? 503 : i % 10 === 0 ? 404 : 200));

function nsPer(run: () => void): number {
  const t0 = process.hrtime.bigint();
  run();
  return Number(process.hrtime.bigint() - t0) / N;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

const collector = new StatsCollector({ stream: 'bench' });
const keys = Array.from({ length: 50 }, (_, i) => endpointKey('GET', `/api/r${i}`));
const handles = keys.map((k) => collector.endpoint(k));
const backends = keys.map((k) => collector.backend(backendKey(k, 0)));
const hist = new Histogram();

const cases: Record<string, () => void> = {
  histogram_record: () => {
    for (let i = 0; i < N; i++) hist.record(latencies[i & 4095]!);
  },
  endpoint_request: () => {
    for (let i = 0; i < N; i++) handles[i % 50]!.request(statuses[i & 4095]!, latencies[i & 4095]!, 120, 900);
  },
  backend_call: () => {
    for (let i = 0; i < N; i++) backends[i % 50]!.call(statuses[i & 4095]!, latencies[i & 4095]!, 900, 120, 0);
  },
  record_by_key: () => {
    for (let i = 0; i < N; i++) collector.recordRequest(keys[i % 50]!, statuses[i & 4095]!, latencies[i & 4095]!, 120, 900);
  },
};

const figures: Record<string, number[]> = {};
for (let r = 0; r < ROUNDS; r++) {
  for (const [name, run] of Object.entries(cases)) (figures[name] ??= []).push(nsPer(run));
  collector.takeDelta();
  collector.ack(Number.MAX_SAFE_INTEGER);
}
const out: Record<string, number> = {};
for (const [name, xs] of Object.entries(figures)) {
  out[`${name}_ns`] = Math.round(median(xs) * 10) / 10;
  console.log(`${name.padEnd(18)} ${out[`${name}_ns`]} ns/op`);
}
console.log(JSON.stringify({ bench: 'stats-collector', ...out }));
