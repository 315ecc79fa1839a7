/**
 * Demand traces for the cluster rate-limit simulator. A trace says, at each instant, how the offered load (always
 * above the limit) splits among the nodes, and which faults are on. Times in ms.
 *
 * - steady_skew: node 0 takes 80% of the load, the others share the rest evenly, for the whole run.
 * - hot_spot: the 80% node moves every 10 s (node 0, 1, 2, …, wrapping around).
 * - node_crash: steady skew; at 40 s the hot node crashes (SIGKILL: its control connection closes at once, so
 *   the manager marks it `unreachable` after 50 ms); the load balancer spreads its traffic over the others.
 * - manager_outage: steady skew; the manager is gone from 40 s to 70 s, then restarts with an empty book (a
 *   higher epoch, and the learning phase).
 * - partition: steady skew; from 40 s to 70 s the hot node cannot reach the manager (both directions), though it
 *   stays `alive` in gossip and keeps serving its clients.
 */
export type TraceName = 'steady_skew' | 'hot_spot' | 'node_crash' | 'manager_outage' | 'partition';

export const TRACES: readonly TraceName[] = ['steady_skew', 'hot_spot', 'node_crash', 'manager_outage', 'partition'];

export interface Trace {
  readonly name: TraceName;
  readonly durationMs: number;
  /** Instants at which the demand's distribution shifts (the start included): convergence is measured after each. */
  readonly shifts: readonly number[];
  /** Instants at which a fault starts or ends: a segment measured for convergence ends there. */
  readonly faults: readonly number[];
  /** Share of the offered load each node receives at `t` (sums to 1 over the nodes up). */
  weights(t: number, nodes: number): number[];
  /** A node crashed at or before `t`. */
  crashed(node: number, t: number): boolean;
  /** The manager is down at `t`. */
  managerDown(t: number): boolean;
  /** The node cannot exchange messages with the manager at `t`. */
  partitioned(node: number, t: number): boolean;
  /** When the manager restarts after an outage (a new book), if it does. */
  readonly managerRestartAt?: number;
  /** When a crashed node is seen `unreachable` by the manager. */
  readonly unreachableAt?: number;
}

export const DURATION_MS = 120_000;
const HOT = 0.8;
const FAULT_FROM = 40_000;
const FAULT_TO = 70_000;
const HOT_SPOT_PERIOD = 10_000;

function skew(hot: number, nodes: number, up: (i: number) => boolean = () => true): number[] {
  const alive = Array.from({ length: nodes }, (_, i) => i).filter(up);
  const w = new Array<number>(nodes).fill(0);
  if (!up(hot)) {
    for (const i of alive) w[i] = 1 / alive.length;
    return w;
  }
  const others = alive.filter((i) => i !== hot);
  w[hot] = others.length > 0 ? HOT : 1;
  for (const i of others) w[i] = (1 - HOT) / others.length;
  return w;
}

const never = () => false;

export function trace(name: TraceName): Trace {
  const base = {
    name,
    durationMs: DURATION_MS,
    shifts: [0],
    faults: [] as number[],
    weights: (_t: number, nodes: number) => skew(0, nodes),
    crashed: never,
    managerDown: never,
    partitioned: never,
  };
  switch (name) {
    case 'steady_skew':
      return base;
    case 'hot_spot': {
      const shifts: number[] = [];
      for (let t = 0; t < DURATION_MS; t += HOT_SPOT_PERIOD) shifts.push(t);
      return {
        ...base,
        shifts,
        weights: (t, nodes) => skew(Math.floor(t / HOT_SPOT_PERIOD) % nodes, nodes),
      };
    }
    case 'node_crash': {
      const crashed = (node: number, t: number) => node === 0 && t >= FAULT_FROM;
      return {
        ...base,
        shifts: [0, FAULT_FROM],
        weights: (t, nodes) => skew(0, nodes, (i) => !crashed(i, t)),
        crashed,
        unreachableAt: FAULT_FROM + 50,
      };
    }
    case 'manager_outage':
      return {
        ...base,
        faults: [FAULT_FROM, FAULT_TO],
        managerDown: (t) => t >= FAULT_FROM && t < FAULT_TO,
        managerRestartAt: FAULT_TO,
      };
    case 'partition':
      return { ...base, faults: [FAULT_FROM, FAULT_TO], partitioned: (node, t) => node === 0 && t >= FAULT_FROM && t < FAULT_TO };
  }
}
