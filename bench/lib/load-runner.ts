/**
 * Child process: one autocannon run. Receives its LoadOptions over IPC, answers one LoadRunnerMessage, exits.
 *
 * Besides autocannon's histogram (whole milliseconds, and with a rate set, "corrected" for coordinated omission
 * with a 1 ms expected interval, which adds phantom samples), it keeps every response's own latency so that the
 * percentiles have sub-millisecond resolution: at localhost latencies, whole milliseconds cannot tell two proxies
 * apart.
 */
import { createRequire } from 'node:module';
import type { LoadOptions, LoadResult, LoadRunnerMessage } from './load.js';
import { percentileSorted } from './stats.js';

interface Histogram {
  p99: number;
  total: number;
}
interface AutocannonResult {
  requests: Histogram;
  latency: Histogram;
  duration: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  statusCodeStats: Record<string, { count: number }>;
}
/** The per-connection client autocannon passes to `setupClient`, before its first request is built. */
interface AutocannonClient {
  setHeaders(headers: Record<string, string>): void;
}
interface AutocannonInstance {
  on(event: 'response', listener: (client: unknown, statusCode: number, bytes: number, ms: number) => void): void;
}
type Autocannon = (
  opts: Record<string, unknown>,
  cb: (err: Error | null, result: AutocannonResult) => void,
) => AutocannonInstance;

// autocannon is CommonJS and ships no types: the few fields used here are declared above.
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

// The parent stops this process once it has the reply: exiting here could race the message's delivery.
function reply(message: LoadRunnerMessage): void {
  process.send?.(message);
}

/** Connection n gets `bench-client-<n>` in `header`: as many distinct client keys as connections. */
function clientKeys(header: string | undefined): Record<string, unknown> {
  if (header === undefined) return {};
  let next = 0;
  return { setupClient: (client: AutocannonClient) => client.setHeaders({ [header]: `bench-client-${next++}` }) };
}

function run(options: LoadOptions): void {
  let latencies = new Float64Array(1 << 16);
  let count = 0;
  const instance = autocannon(
    {
      url: options.url,
      connections: options.connections,
      pipelining: options.pipelining,
      duration: options.durationSec,
      ...(options.overallRate !== undefined ? { overallRate: options.overallRate } : {}),
      ...clientKeys(options.clientKeyHeader),
    },
    (err, r) => {
      if (err) return reply({ type: 'error', message: err.message });
      const sorted = latencies.subarray(0, count).sort();
      const statusCodes: Record<string, number> = {};
      for (const [code, { count: n }] of Object.entries(r.statusCodeStats)) statusCodes[code] = n;
      const result: LoadResult = {
        requests: r.requests.total,
        durationSec: r.duration,
        rps: r.duration > 0 ? r.requests.total / r.duration : 0,
        errors: r.errors,
        timeouts: r.timeouts,
        non2xx: r.non2xx,
        statusCodes,
        latencyP50Ms: percentileSorted(sorted, 50),
        latencyP99Ms: percentileSorted(sorted, 99),
        latencyMaxMs: count > 0 ? (sorted[count - 1] as number) : Number.NaN,
        autocannonP99Ms: r.latency.p99,
      };
      reply({ type: 'result', result });
    },
  );
  instance.on('response', (_client, _status, _bytes, ms) => {
    if (count === latencies.length) {
      const grown = new Float64Array(latencies.length * 2);
      grown.set(latencies);
      latencies = grown;
    }
    latencies[count++] = ms;
  });
}

process.once('message', (options: LoadOptions) => {
  try {
    run(options);
  } catch (err) {
    reply({ type: 'error', message: (err as Error).message });
  }
});
process.on('disconnect', () => process.exit(0));
