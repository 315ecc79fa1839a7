/**
 * Membership tuning: the `lan` and `local` presets and the checks every configuration goes through.
 *
 * The `lan` preset is hashicorp/memberlist's DefaultLANConfig, field for field where memberlist has the field;
 * the rest (reconnect, leave, debounce, retention) follows Serf's defaults or is ours, and says so.
 * Every duration is in milliseconds.
 */
import { ErrorCode, KrakendError } from '../../base/errors.js';

export interface MembershipConfig {
  /** Time between two probes of one member each (SWIM's protocol period), before health scaling. */
  probeIntervalMs: number;
  /**
   * How long a direct UDP ping waits for its ack before indirect probes start. Set it to the network's p99
   * round-trip time. Not scaled by local health (memberlist's reasoning: waiting longer does not get UDP
   * through; the scaled probe interval gives the indirect and TCP paths more time instead).
   */
  probeTimeoutMs: number;
  /** How many members are asked to ping a target that missed its direct ack (SWIM's k). */
  indirectChecks: number;
  /** Also try a TCP ping to a target that missed its direct ack (catches networks that drop UDP only). */
  tcpFallbackPing: boolean;
  /**
   * Suspicion timeout multiplier: the minimum suspicion timeout is
   * `suspicionMult × max(1, log10(max(1, n))) × probeIntervalMs`.
   */
  suspicionMult: number;
  /** The suspicion timer starts at `suspicionMaxTimeoutMult ×` the minimum and shrinks with confirmations. */
  suspicionMaxTimeoutMult: number;
  /** A broadcast is piggybacked `retransmitMult × ceil(log10(n + 1))` times before it is dropped from the queue. */
  retransmitMult: number;
  /** Interval of the gossip tick, which sends queued broadcasts that found no probe to ride on. */
  gossipIntervalMs: number;
  /** Members each gossip tick sends to. */
  gossipNodes: number;
  /** How long an unreachable member still receives gossip, so that it can learn of its state and refute it. */
  gossipToTheDeadMs: number;
  /**
   * Interval of the full state exchange over TCP with one random member, before the size scaling memberlist
   * applies above 32 members (×(ceil(log2 n − log2 32) + 1)). 0 disables periodic push-pull (joins still use it).
   */
  pushPullIntervalMs: number;
  /** Deadline for a whole TCP exchange: connect, handshake, request and response. */
  streamTimeoutMs: number;
  /** Local health (Lifeguard LHA) caps the probe interval at `awarenessMaxMultiplier ×` its configured value. */
  awarenessMaxMultiplier: number;
  /** Largest UDP payload we send, after sealing. 1400 stays below a 1500-byte Ethernet MTU with headroom. */
  packetMaxBytes: number;
  /** Largest encoded member metadata (memberlist's MetaMaxSize). */
  metaMaxBytes: number;
  /**
   * Reconnect (Serf): every interval, with probability unreachable/alive, one unreachable member is sent a
   * join push-pull, so that both sides of a healed partition find each other again without an operator.
   */
  reconnectIntervalMs: number;
  /** An unreachable member is forgotten (and reconnect stops trying it) after this long (Serf: 24 h). */
  reconnectTimeoutMs: number;
  /** A member that left is remembered as `removed` for this long, then forgotten (Serf's tombstone: 24 h). */
  removedRetentionMs: number;
  /**
   * After leave() announces the departure, the member keeps answering probes and gossiping for this long so
   * the news spreads before its sockets close.
   */
  leavePropagateMs: number;
  /** A member's consumer events are held this long and coalesced, so that a flap does not fire a storm. */
  eventDebounceMs: number;
  /** Upper bound on how long a member's event can be held back by a sequence of flaps. */
  eventMaxDelayMs: number;
  /**
   * When this process notices its own event loop was blocked longer than this (a timer due long ago), it does
   * not hold the lost time against the members it was probing: their deadlines move by the stall.
   */
  stallThresholdMs: number;
  /** While alone with seeds configured, join is retried this often. */
  rejoinIntervalMs: number;
  /** Most broadcasts kept queued; the oldest, most-sent ones go first (memberlist prunes the same way). */
  maxQueuedBroadcasts: number;
}

export type MembershipPreset = 'lan' | 'local';

/** memberlist DefaultLANConfig, plus Serf's reconnect and tombstone defaults. */
const LAN: MembershipConfig = Object.freeze({
  probeIntervalMs: 1000, // memberlist: "Failure check every second"
  probeTimeoutMs: 500, // memberlist: "Reasonable RTT time for LAN"
  indirectChecks: 3, // memberlist: "Use 3 nodes for the indirect ping"
  tcpFallbackPing: true, // memberlist: "TCP pings are safe, even with mixed versions"
  suspicionMult: 4, // memberlist: suspect for 4 × log10(N) × interval: 8 s at N = 100
  suspicionMaxTimeoutMult: 6, // memberlist: a lone accuser waits 6 × that (48 s at N = 100)
  retransmitMult: 4, // memberlist: "Retransmit a message 4 * log(N+1) nodes"
  gossipIntervalMs: 200, // memberlist: "Gossip more rapidly"
  gossipNodes: 3, // memberlist: "Gossip to 3 nodes"
  gossipToTheDeadMs: 30_000, // memberlist: "Same as push/pull"
  pushPullIntervalMs: 30_000, // memberlist: "Low frequency"
  streamTimeoutMs: 10_000, // memberlist TCPTimeout
  awarenessMaxMultiplier: 8, // memberlist: "Probe interval backs off to 8 seconds"
  packetMaxBytes: 1400, // memberlist UDPBufferSize
  metaMaxBytes: 512, // memberlist MetaMaxSize
  reconnectIntervalMs: 30_000, // Serf ReconnectInterval
  reconnectTimeoutMs: 24 * 3600_000, // Serf ReconnectTimeout
  removedRetentionMs: 24 * 3600_000, // Serf TombstoneTimeout
  leavePropagateMs: 1_000, // ours: five gossip ticks and one probe interval
  eventDebounceMs: 500, // ours: half a probe interval coalesces a refuted suspicion
  eventMaxDelayMs: 3_000, // ours: even a member that flaps forever is reported every 3 s
  stallThresholdMs: 500, // ours: one probe timeout
  rejoinIntervalMs: 30_000, // ours: like reconnect
  maxQueuedBroadcasts: 4096, // ours: enough for a full cluster of alive messages at join time
});

/**
 * For members on one machine (tests, a local demo): memberlist DefaultLocalConfig with a shorter probe interval,
 * since loopback round trips are sub-millisecond.
 */
const LOCAL: MembershipConfig = Object.freeze({
  ...LAN,
  probeIntervalMs: 500, // ours: twice memberlist-local's rate; loopback is cheap
  probeTimeoutMs: 200, // memberlist local
  indirectChecks: 1, // memberlist local
  retransmitMult: 2, // memberlist local
  suspicionMult: 3, // memberlist local
  gossipIntervalMs: 100, // memberlist local
  gossipToTheDeadMs: 15_000, // memberlist local
  pushPullIntervalMs: 15_000, // memberlist local
  streamTimeoutMs: 1_000, // memberlist local TCPTimeout
  reconnectIntervalMs: 5_000, // ours: heal quickly on one machine
  leavePropagateMs: 500, // ours: five local gossip ticks
  eventDebounceMs: 200, // ours
  eventMaxDelayMs: 1_000, // ours
  stallThresholdMs: 200, // ours: one local probe timeout
  rejoinIntervalMs: 2_000, // ours
});

export const PRESETS: Readonly<Record<MembershipPreset, Readonly<MembershipConfig>>> = Object.freeze({
  lan: LAN,
  local: LOCAL,
});

/** A bad membership setting: a KrakendError with code E_CONFIG_INVALID. */
function configError(message: string): KrakendError {
  return new KrakendError(ErrorCode.ConfigInvalid, message);
}

/** A preset with overrides, checked: throws E_CONFIG_INVALID naming the first bad field. */
export function resolveConfig(
  preset: MembershipPreset | MembershipConfig = 'lan',
  overrides: Partial<MembershipConfig> = {},
): MembershipConfig {
  const base = typeof preset === 'string' ? PRESETS[preset] : preset;
  if (!base) throw configError(`unknown membership preset ${JSON.stringify(preset)}`);
  const config: MembershipConfig = { ...base };
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) continue;
    if (!Object.hasOwn(base, key)) throw configError(`unknown membership setting ${key}`);
    (config as unknown as Record<string, unknown>)[key] = value;
  }
  validateConfig(config);
  return config;
}

const POSITIVE: readonly (keyof MembershipConfig)[] = [
  'probeIntervalMs',
  'probeTimeoutMs',
  'suspicionMult',
  'suspicionMaxTimeoutMult',
  'retransmitMult',
  'gossipIntervalMs',
  'streamTimeoutMs',
  'awarenessMaxMultiplier',
  'packetMaxBytes',
  'metaMaxBytes',
  'reconnectIntervalMs',
  'stallThresholdMs',
  'rejoinIntervalMs',
  'maxQueuedBroadcasts',
];
const NON_NEGATIVE: readonly (keyof MembershipConfig)[] = [
  'indirectChecks',
  'gossipNodes',
  'gossipToTheDeadMs',
  'pushPullIntervalMs',
  'reconnectTimeoutMs',
  'removedRetentionMs',
  'leavePropagateMs',
  'eventDebounceMs',
  'eventMaxDelayMs',
];
const INTEGERS: readonly (keyof MembershipConfig)[] = [
  'indirectChecks',
  'suspicionMult',
  'suspicionMaxTimeoutMult',
  'retransmitMult',
  'gossipNodes',
  'awarenessMaxMultiplier',
  'packetMaxBytes',
  'metaMaxBytes',
  'maxQueuedBroadcasts',
];

export function validateConfig(config: MembershipConfig): void {
  for (const key of POSITIVE) {
    const v = config[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
      throw configError(`membership setting ${key} must be a positive number, got ${String(v)}`);
    }
  }
  for (const key of NON_NEGATIVE) {
    const v = config[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
      throw configError(`membership setting ${key} must be zero or more, got ${String(v)}`);
    }
  }
  for (const key of INTEGERS) {
    if (!Number.isInteger(config[key])) {
      throw configError(`membership setting ${key} must be an integer, got ${String(config[key])}`);
    }
  }
  if (typeof config.tcpFallbackPing !== 'boolean') {
    throw configError('membership setting tcpFallbackPing must be true or false');
  }
  if (config.probeTimeoutMs >= config.probeIntervalMs) {
    throw configError(
      `membership probeTimeoutMs (${config.probeTimeoutMs}) must be shorter than probeIntervalMs (${config.probeIntervalMs})`,
    );
  }
  if (config.suspicionMaxTimeoutMult < 1) {
    throw configError('membership suspicionMaxTimeoutMult must be at least 1');
  }
  if (config.packetMaxBytes < 512 || config.packetMaxBytes > 65_000) {
    throw configError('membership packetMaxBytes must be between 512 and 65000');
  }
  if (config.eventMaxDelayMs < config.eventDebounceMs) {
    throw configError('membership eventMaxDelayMs must be at least eventDebounceMs');
  }
}
