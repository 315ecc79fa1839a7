/**
 * What scenarios measure: failed requests per node over an interval, the admitted rate of the cluster-wide limit
 * over every sliding 10-second window, and node states as the manager's API shows them over time.
 */
import type { Cluster, NodeState, NodeView } from './cluster.js';
import { isFailure, now } from './load.js';
import type { Endpoint, Sample } from './load.js';
import { POLL_MS } from './timings.js';

export const WINDOW_MS = 10_000;

export interface Failures {
  /** Failed requests per node index. */
  byNode: number[];
  total: number;
  /** A few failures with their node and error, to explain a FAIL. */
  examples: string[];
}

/** Failures among the requests sent in [from, to]. */
export function failures(samples: readonly Sample[], nodes: number, from: number, to: number, endpoint?: Endpoint): Failures {
  const byNode = new Array<number>(nodes).fill(0);
  const examples: string[] = [];
  for (const s of samples) {
    if (s.t0 < from || s.t0 > to || (endpoint && s.endpoint !== endpoint) || !isFailure(s)) continue;
    byNode[s.node] = (byNode[s.node] ?? 0) + 1;
    if (examples.length < 3) examples.push(`node${s.node + 1} ${s.endpoint} ${s.status || s.error}`);
  }
  return { byNode, total: byNode.reduce((a, b) => a + b, 0), examples };
}

export function served(samples: readonly Sample[], from: number, to: number): number {
  let n = 0;
  for (const s of samples) if (s.t0 >= from && s.t0 <= to && !isFailure(s)) n++;
  return n;
}

export interface WindowResult {
  /** Most 200s of the limited endpoint answered within any 10-second window starting in [from, to]. */
  maxAdmitted: number;
  /** Offered requests on the limited endpoint over the same interval, per second. */
  offeredPerSecond: number;
  /** How many windows were examined (one starting at each admitted answer). */
  windows: number;
}

/**
 * The sliding-window maximum: a window holding the most events can always be slid to start at one of them, so it
 * is enough to try one window per event (two pointers over the answers, which the load records in time order).
 */
export function maxWindow(samples: readonly Sample[], from: number, to: number): WindowResult {
  const times: number[] = [];
  let offered = 0;
  for (const s of samples) {
    if (s.endpoint !== 'limited') continue;
    if (s.t0 >= from && s.t0 <= to + WINDOW_MS) offered++;
    if (s.status === 200 && s.t1 >= from && s.t1 <= to + WINDOW_MS) times.push(s.t1);
  }
  times.sort((a, b) => a - b);
  let best = 0;
  let windows = 0;
  let j = 0;
  for (let i = 0; i < times.length; i++) {
    const start = times[i] as number;
    if (start > to) break;
    while (j < times.length && (times[j] as number) < start + WINDOW_MS) j++;
    windows++;
    best = Math.max(best, j - i);
  }
  return { maxAdmitted: best, offeredPerSecond: offered / ((to + WINDOW_MS - from) / 1000), windows };
}

interface Transition {
  t: number;
  state: NodeState;
  connected: boolean;
}

/** Polls GET /api/v1/nodes every POLL_MS and keeps each node's state changes, with the time they were first seen. */
export class StateWatcher {
  private readonly history = new Map<string, Transition[]>();
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  polls = 0;
  errors = 0;
  private maxGapMs = 0;
  private lastPoll = 0;

  constructor(private readonly cluster: Cluster) {}

  start(): this {
    this.lastPoll = now();
    this.timer = setInterval(() => void this.poll(), POLL_MS);
    return this;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Starts measuring the longest gap afresh (at the start of a scenario). */
  resetGap(): void {
    this.maxGapMs = 0;
  }

  /** The longest stretch without a successful poll (to prove a state could not slip by unseen). */
  get longestGapMs(): number {
    return Math.max(this.maxGapMs, now() - this.lastPoll);
  }

  private async poll(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const views: NodeView[] = await this.cluster.nodesView();
      const t = now();
      this.polls++;
      this.maxGapMs = Math.max(this.maxGapMs, t - this.lastPoll);
      this.lastPoll = t;
      for (const v of views) {
        const list = this.history.get(v.id) ?? [];
        const last = list[list.length - 1];
        if (!last || last.state !== v.state || last.connected !== v.control_connected) list.push({ t, state: v.state, connected: v.control_connected });
        this.history.set(v.id, list);
      }
    } catch {
      this.errors++;
    } finally {
      this.busy = false;
    }
  }

  /** When `state` was first seen for `id` at or after `after`. */
  firstSeen(id: string | undefined, state: NodeState, after = 0): number | undefined {
    return this.history.get(id ?? '')?.find((x) => x.t >= after && x.state === state)?.t;
  }

  statesSeen(id: string | undefined, after = 0): NodeState[] {
    const out: NodeState[] = [];
    for (const x of this.history.get(id ?? '') ?? []) if (x.t >= after && out[out.length - 1] !== x.state) out.push(x.state);
    return out;
  }

  /** Ids ever seen in `state` at or after `after`. */
  idsSeen(state: NodeState, after = 0): string[] {
    const out: string[] = [];
    for (const [id, list] of this.history) if (list.some((x) => x.t >= after && x.state === state)) out.push(id);
    return out;
  }

  /** Waits until `state` is seen for `id`; the time it was seen, or undefined at the deadline. */
  async waitFor(id: string | undefined, state: NodeState, after: number, timeoutMs: number): Promise<number | undefined> {
    const deadline = now() + timeoutMs;
    while (now() < deadline) {
      const t = this.firstSeen(id, state, after);
      if (t !== undefined) return t;
      await new Promise((r) => setTimeout(r, POLL_MS / 2));
    }
    return this.firstSeen(id, state, after);
  }
}
