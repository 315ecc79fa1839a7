/**
 * The control channel between a node and the manager (ARCHITECTURE.md, Wire): one FramedConnection of kind
 * `Control`, dialled by the node. Message types live in the control range (64–127) of the wire registry; each
 * body is checked by a validator before any code sees it, so a malformed message is dropped and counted by the
 * wire layer, never thrown.
 */
import { MessageRegistry } from '../wire/index.js';
import { isStatsBody } from './stats-body.js';
import type { VersionRange } from '../wire/index.js';

/**
 * v2: Stats bodies in the packed form (stats-body.ts); a v1 peer still gets and sends the v1 form.
 * v3: the manager may change a channel's heartbeat after the welcome (Keepalive); v1 and v2 channels keep the beat
 * of their welcome, since an older peer would drop the message and keep timing out on the old beat. And a v3 node
 * sends each stats delta once per channel (resending only on a new channel), so the manager acks at its beat rather
 * than per delta: an older node resends every unacknowledged delta at each interval, so it is acked at once.
 */
export const CONTROL_VERSIONS: VersionRange = { min: 1, max: 3 };

/** The first control protocol version that understands Keepalive. */
export const KEEPALIVE_VERSION = 3;

/** The first control protocol version whose nodes wait for a deferred stats ack instead of resending. */
export const DEFERRED_ACK_VERSION = 3;

export const ControlType = {
  /** node → manager: who I am, what I run. */
  Join: 64,
  /** manager → node: admitted, with an id and the current limits. */
  Welcome: 65,
  /** manager → node: not admitted (or no longer): why, and when to retry. */
  Refused: 66,
  /** node → manager: leaving gracefully (SIGTERM): mark me `removed` at once. */
  Leave: 67,
  /** manager → node: the node's share of the cluster-wide limits. */
  Limits: 68,
  /** both ways: liveness of the channel itself; half-open TCP connections are found within a few beats. */
  Heartbeat: 69,
  /** manager → node: a config version to apply (large bodies are chunked by the wire). */
  Config: 72,
  /** node → manager: applied and serving it. */
  ConfigAck: 73,
  /** node → manager: refused (validation failed); the node keeps serving its current config. */
  ConfigNack: 74,
  /** node → manager, every refresh interval: per cluster-wide limit, its figures, the demand seen, the lease held. */
  Demand: 75,
  /** node → manager, every stats interval: a stats delta (resent until acknowledged; deduplicated by seq). */
  Stats: 76,
  /** manager → node: deltas up to this seq are in. */
  StatsAck: 77,
  /** manager → node (v3): heartbeat on this channel from now on (the cluster grew or shrank). */
  Keepalive: 78,
} as const;

/** One cluster-wide limit as a node reports it. Rates are tokens per second; capacities, tokens. */
export interface LimitReport {
  limitId: string;
  /** The cluster-wide figures from krakend.json. */
  rate: number;
  capacity: number;
  /** Tokens granted and refused on this node since the previous report. */
  admitted: number;
  rejected: number;
  intervalMs: number;
  /** krakend.json's `every`, in ms: the window demand is averaged over (`50 every 10m`). */
  windowMs?: number;
  /** The lease the node holds, if any: so a restarted manager learns what is outstanding. */
  lease?: { rate: number; capacity: number; remainingMs: number; epoch: number; seq: number };
}

export interface DemandBody {
  limits: LimitReport[];
}

export interface ConfigBody {
  version: number;
  hash: string;
  body: string;
}

/** Every delta of the stream up to and including seq is in (cumulative). */
export interface StatsAckBody {
  stream: string;
  seq: number;
}

export interface ConfigAckBody {
  version: number;
  hash: string;
}

export interface ConfigNackBody {
  version: number;
  error: string;
}

export type RefusalReason = 'subscription' | 'version' | 'invalid' | 'shutting_down';

export interface JoinBody {
  /** The node's software version (semver). */
  version: string;
  /** The id it kept from an earlier admission, if any. */
  claimedId?: string;
  /** Random per process: two processes claiming one id (a copied state directory) differ here. */
  instanceToken: string;
  name: string;
  /** host:port where the node serves its API. */
  apiAddress: string;
  /** host:port of the node's cluster port (gossip), once it has one. */
  clusterAddress?: string;
  /** The config version the node serves (from the manager or its cache), so the manager sends only news. */
  configVersion?: number;
  configHash?: string;
}

export interface LeaseBody {
  limitId: string;
  rate: number;
  capacity: number;
  ttlMs: number;
  epoch: number;
  seq: number;
  safeShare: number;
}

export interface WelcomeBody {
  id: string;
  managerId: string;
  epoch: number;
  /** How often the node should send heartbeats on the channel. */
  heartbeatMs: number;
  limits: LeaseBody[];
  /** The manager's cluster port address, for gossip. */
  managerCluster?: string;
  /** How often the node reports its demand per cluster-wide limit. */
  limitRefreshMs?: number;
  /** How often the node sends its stats deltas. */
  statsIntervalMs?: number;
  /**
   * The manager's grace period: after this long without hearing from the manager, a node stops using the safe
   * share of its cluster-wide limits (zero), since by then the manager may have declared it `down` and handed its
   * share to the others.
   */
  gracePeriodMs?: number;
}

export interface RefusedBody {
  reason: RefusalReason;
  message: string;
  retryMs: number;
}

export interface LimitsBody {
  limits: LeaseBody[];
}

export interface LeaveBody {
  id: string;
}

export interface HeartbeatBody {
  at: number;
}

export interface KeepaliveBody {
  /** The new beat; each side closes the channel after 3 beats of silence. */
  heartbeatMs: number;
}

const isObject = (b: unknown): b is Record<string, unknown> => typeof b === 'object' && b !== null && !Array.isArray(b);
const str = (v: unknown, max = 512) => typeof v === 'string' && v.length > 0 && v.length <= max;
const optStr = (v: unknown, max = 512) => v === undefined || str(v, max);
const num = (v: unknown) => typeof v === 'number' && Number.isFinite(v);
/** A beat between 1 ms and a day: a zero or absurd beat would turn the keepalive into a busy loop or a dead one. */
const beat = (v: unknown) => num(v) && (v as number) >= 1 && (v as number) <= 86_400_000;

function isLease(v: unknown): boolean {
  return (
    isObject(v) &&
    str(v['limitId']) &&
    num(v['rate']) &&
    num(v['capacity']) &&
    num(v['ttlMs']) &&
    num(v['epoch']) &&
    num(v['seq']) &&
    num(v['safeShare'])
  );
}

function isLimitReport(v: unknown): boolean {
  if (!isObject(v)) return false;
  const lease = v['lease'];
  return (
    str(v['limitId']) &&
    num(v['rate']) &&
    num(v['capacity']) &&
    num(v['admitted']) &&
    num(v['rejected']) &&
    num(v['intervalMs']) &&
    (v['windowMs'] === undefined || num(v['windowMs'])) &&
    (lease === undefined ||
      (isObject(lease) && num(lease['rate']) && num(lease['capacity']) && num(lease['remainingMs']) && num(lease['epoch']) && num(lease['seq'])))
  );
}

const isLeases = (v: unknown) => Array.isArray(v) && v.length <= 10_000 && v.every(isLease);

export function isJoin(b: unknown): b is JoinBody {
  return (
    isObject(b) &&
    str(b['version'], 64) &&
    optStr(b['claimedId'], 128) &&
    str(b['instanceToken'], 128) &&
    str(b['name'], 256) &&
    str(b['apiAddress'], 300) &&
    optStr(b['clusterAddress'], 300) &&
    (b['configVersion'] === undefined || num(b['configVersion'])) &&
    optStr(b['configHash'], 128)
  );
}

export function isWelcome(b: unknown): b is WelcomeBody {
  return (
    isObject(b) &&
    str(b['id'], 128) &&
    str(b['managerId'], 128) &&
    num(b['epoch']) &&
    num(b['heartbeatMs']) &&
    isLeases(b['limits']) &&
    optStr(b['managerCluster'], 300) &&
    (b['limitRefreshMs'] === undefined || num(b['limitRefreshMs'])) &&
    (b['statsIntervalMs'] === undefined || num(b['statsIntervalMs'])) &&
    (b['gracePeriodMs'] === undefined || num(b['gracePeriodMs']))
  );
}

const REASONS = new Set<RefusalReason>(['subscription', 'version', 'invalid', 'shutting_down']);

export function isKeepalive(b: unknown): b is KeepaliveBody {
  return isObject(b) && beat(b['heartbeatMs']);
}

export function isRefused(b: unknown): b is RefusedBody {
  return isObject(b) && REASONS.has(b['reason'] as RefusalReason) && str(b['message'], 2048) && num(b['retryMs']);
}

export function createControlRegistry(): MessageRegistry {
  return new MessageRegistry()
    .register(ControlType.Join, 'join', isJoin)
    .register(ControlType.Welcome, 'welcome', isWelcome)
    .register(ControlType.Refused, 'refused', isRefused)
    .register(ControlType.Leave, 'leave', (b) => isObject(b) && str(b['id'], 128))
    .register(ControlType.Limits, 'limits', (b) => isObject(b) && isLeases(b['limits']))
    .register(ControlType.Heartbeat, 'heartbeat', (b) => isObject(b) && num(b['at']))
    .register(ControlType.Config, 'config', (b) => isObject(b) && num(b['version']) && str(b['hash'], 128) && typeof b['body'] === 'string')
    .register(ControlType.ConfigAck, 'config-ack', (b) => isObject(b) && num(b['version']) && str(b['hash'], 128))
    .register(ControlType.Demand, 'demand', (b) => isObject(b) && Array.isArray(b['limits']) && b['limits'].length <= 10_000 && b['limits'].every(isLimitReport))
    .register(ControlType.Stats, 'stats', isStatsBody)
    .register(ControlType.StatsAck, 'stats-ack', (b) => isObject(b) && typeof b['stream'] === 'string' && num(b['seq']))
    .register(ControlType.Keepalive, 'keepalive', isKeepalive)
    .register(ControlType.ConfigNack, 'config-nack', (b) => isObject(b) && num(b['version']) && str(b['error'], 65_536));
}
