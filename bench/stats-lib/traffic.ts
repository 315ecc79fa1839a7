/**
 * The synthetic traffic of `npm run bench:stats`, recorded into a node's real StatsCollector so that the deltas the
 * manager ingests have the shape of real ones: per endpoint a few requests per second, mostly 2xx with some 4xx and
 * 5xx, log-normal latencies around 20 ms (so each histogram holds a dozen or so non-zero buckets), and one backend
 * call per request. Shared by the simulated nodes and by the manager's pre-fill, so both ingest the same shapes.
 */
import type { BackendCounters, EndpointCounters, StatsCollector } from '../../src/stats/collector.js';
import { BackendOutcome } from '../../src/stats/collector.js';

export function endpointKey(i: number): string {
  return `GET /api/v1/resource-${String(i).padStart(3, '0')}/{id}`;
}

export function backendKey(i: number): string {
  return `${endpointKey(i)}#0`;
}

/** A small fast PRNG (mulberry32): the traffic must not cost the simulated nodes more than their sockets. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The counters of one simulated node: handles kept, as the gateway keeps them. */
export class NodeTraffic {
  private readonly endpoints: EndpointCounters[] = [];
  private readonly backends: BackendCounters[] = [];
  private readonly random: () => number;

  constructor(collector: StatsCollector, endpoints: number, seed: number) {
    for (let i = 0; i < endpoints; i++) {
      this.endpoints.push(collector.endpoint(endpointKey(i)));
      this.backends.push(collector.backend(backendKey(i)));
    }
    this.random = prng(seed);
  }

  /** Records `seconds` of traffic at about `perEndpointRps` requests per second on each endpoint. */
  record(seconds: number, perEndpointRps: number): number {
    const r = this.random;
    let total = 0;
    for (let e = 0; e < this.endpoints.length; e++) {
      const ep = this.endpoints[e]!;
      const be = this.backends[e]!;
      const n = Math.round(perEndpointRps * seconds * (0.5 + r()));
      for (let k = 0; k < n; k++) {
        const u = r();
        const status = u < 0.97 ? 200 : u < 0.99 ? 404 : 502;
        // Sum of three uniforms ≈ a normal: a log-normal latency around 20 ms.
        const z = (r() + r() + r() - 1.5) * 2;
        const backendUs = 18_000 * Math.exp(0.6 * z);
        const bytes = 900 + ((u * 1_000_000) | 0) % 1200;
        be.call(status, backendUs, bytes, 250, status === 502 ? BackendOutcome.Error : BackendOutcome.Ok);
        ep.request(status, backendUs + 400, 250, bytes);
      }
      total += n;
    }
    return total;
  }
}
