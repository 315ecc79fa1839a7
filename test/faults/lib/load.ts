/**
 * The steady load: from the suite's process, a fixed rate per node on the plain endpoint and an uneven share of
 * an offered rate above the cluster-wide limit on the limited endpoint. Every request is recorded (node, endpoint,
 * send and answer times, status or error), so that each scenario can count failures per node over its interval
 * and the admitted rate of the limit over any 10-second window.
 */
import { Agent, request } from 'undici';
import { REQUEST_TIMEOUT_MS } from './timings.js';

export type Endpoint = 'plain' | 'limited';

export interface Sample {
  node: number;
  endpoint: Endpoint;
  /** Sent, in the suite's monotonic ms (see `now`). */
  t0: number;
  /** Answered or failed. */
  t1: number;
  /** HTTP status, or 0 for a transport error. */
  status: number;
  error?: string;
}

export interface LoadPlan {
  plainPath: string;
  limitedPath: string;
  /** Requests per second on the plain endpoint, per node. */
  plainPerNode: number;
  /** Requests per second on the limited endpoint, one figure per node. */
  limitedPerNode: readonly number[];
}

export const now = (): number => performance.now();

const TICK_MS = 5;
/** A stream that fell behind (a busy event loop) skips ahead rather than sending a burst. */
const MAX_LAG_MS = 500;

interface Stream {
  node: number;
  endpoint: Endpoint;
  url: string;
  periodMs: number;
  next: number;
}

/** Whether a sample is a failure: any error; on the plain endpoint any non-200; on the limited one, 503 is a refusal. */
export function isFailure(s: Sample): boolean {
  if (s.status === 0) return true;
  if (s.endpoint === 'plain') return s.status !== 200;
  return s.status !== 200 && s.status !== 503;
}

export class Load {
  readonly samples: Sample[] = [];
  private readonly streams: Stream[] = [];
  private readonly paused = new Set<number>();
  private readonly inflight = new Set<Promise<void>>();
  private readonly dispatcher = new Agent({
    connections: 64,
    headersTimeout: REQUEST_TIMEOUT_MS,
    bodyTimeout: REQUEST_TIMEOUT_MS,
    connect: { timeout: REQUEST_TIMEOUT_MS },
    keepAliveTimeout: 10_000,
  });
  private timer: NodeJS.Timeout | undefined;
  startedAt = 0;

  constructor(urls: readonly string[], plan: LoadPlan) {
    const t = now();
    urls.forEach((url, node) => {
      this.streams.push({ node, endpoint: 'plain', url: url + plan.plainPath, periodMs: 1000 / plan.plainPerNode, next: t });
      const limited = plan.limitedPerNode[node] ?? 0;
      if (limited > 0) this.streams.push({ node, endpoint: 'limited', url: url + plan.limitedPath, periodMs: 1000 / limited, next: t });
    });
  }

  start(): void {
    this.startedAt = now();
    for (const s of this.streams) s.next = this.startedAt + Math.random() * s.periodMs;
    this.timer = setInterval(() => this.tick(), TICK_MS);
  }

  /** Stops sending to node `i` (it is being killed); its requests already sent still count. */
  pause(i: number): void {
    this.paused.add(i);
  }

  resume(i: number): void {
    this.paused.delete(i);
    const t = now();
    for (const s of this.streams) if (s.node === i) s.next = t;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await Promise.allSettled([...this.inflight]);
    await this.dispatcher.close().catch(() => {});
  }

  private tick(): void {
    const t = now();
    for (const s of this.streams) {
      if (this.paused.has(s.node)) continue;
      if (t - s.next > MAX_LAG_MS) s.next = t;
      while (s.next <= t) {
        s.next += s.periodMs;
        this.send(s);
      }
    }
  }

  private send(s: Stream): void {
    const t0 = now();
    const p = request(s.url, { dispatcher: this.dispatcher, headersTimeout: REQUEST_TIMEOUT_MS, bodyTimeout: REQUEST_TIMEOUT_MS })
      .then(
        async (r) => {
          await r.body.dump();
          this.samples.push({ node: s.node, endpoint: s.endpoint, t0, t1: now(), status: r.statusCode });
        },
        (err: unknown) => {
          const e = err as { code?: string; message?: string };
          this.samples.push({ node: s.node, endpoint: s.endpoint, t0, t1: now(), status: 0, error: e.code ?? e.message ?? String(err) });
        },
      )
      .finally(() => this.inflight.delete(p));
    this.inflight.add(p);
  }
}
