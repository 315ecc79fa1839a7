/**
 * The load generator, parent side. Every run happens in a fresh child process (load-runner.js, autocannon's
 * programmatic API) so that its CPU never lands on the process being measured, and no state (sockets, histograms,
 * JIT warmth) leaks from one run into the next.
 */
import { fileURLToPath } from 'node:url';
import type { ProcessGroup } from './processes.js';

export interface LoadOptions {
  url: string;
  connections: number;
  pipelining: number;
  durationSec: number;
  /** Requests per second over all connections; absent means as fast as the target answers (saturation). */
  overallRate?: number;
  /**
   * A header every request carries, with one value per connection (`bench-client-0`, `bench-client-1`, …): a
   * small set of distinct clients, for a client rate limit keyed by that header. Set once per connection, so it
   * costs the load generator nothing per request.
   */
  clientKeyHeader?: string;
}

export interface LoadResult {
  /** Responses completed, whatever their status. */
  requests: number;
  durationSec: number;
  rps: number;
  /** Connection errors, timeouts included. */
  errors: number;
  timeouts: number;
  non2xx: number;
  statusCodes: Record<string, number>;
  /** From every response's own timing (µs resolution, no coordinated-omission correction). */
  latencyP50Ms: number;
  latencyP99Ms: number;
  latencyMaxMs: number;
  /** autocannon's own p99: whole milliseconds, and corrected for coordinated omission when a rate is set. */
  autocannonP99Ms: number;
}

export type LoadRunnerMessage = { type: 'result'; result: LoadResult } | { type: 'error'; message: string };

const RUNNER = fileURLToPath(new URL('./load-runner.js', import.meta.url));

/** How long past its nominal duration a run may take before it is declared stuck. */
const GRACE_MS = 30_000;

export async function runLoad(group: ProcessGroup, options: LoadOptions): Promise<LoadResult> {
  const child = group.fork('load', RUNNER, { env: process.env });
  try {
    const reply = await child.request<LoadRunnerMessage>(options, options.durationSec * 1000 + GRACE_MS);
    if (reply.type === 'error') throw new Error(`load generator failed: ${reply.message}`);
    return reply.result;
  } finally {
    await group.stop(child);
  }
}
