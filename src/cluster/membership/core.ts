/**
 * The membership protocol as a pure state machine: SWIM with Lifeguard, after hashicorp/memberlist's state.go.
 *
 *   step(state, event, now) → { state, effects }
 *
 * Nothing here reads a clock, sets a timer, draws from Math.random or touches a socket: time comes in as `now`
 * (monotonic milliseconds), randomness from the seeded source in the state, and every output is an Effect the
 * driver carries out (send a packet, open a stream, answer a stream, report a member's change). The driver asks
 * nextDeadline(state) when to call step again with a tick. So the same code runs on real sockets and, step by
 * step, in simulations of a thousand members under a fake clock.
 *
 * The state object is owned by the core: step updates it in place (copying a thousand-member table on every
 * packet would dominate the cost) and returns it. Callers must not mutate it.
 */
import type { Random } from '../../base/random.js';
import type { MembershipConfig } from './config.js';
import {
  applyAwareness,
  pushPullInterval,
  scaleByAwareness,
  suspicionConfirmationsWanted,
  suspicionTimeout,
  suspicionTotal,
} from './formulas.js';
import {
  MsgType,
  PROTOCOL_MAX,
  PROTOCOL_MIN,
  WireStatus,
  type AliveMsg,
  type DeadMsg,
  type PacketMsg,
  type ProtocolMsg,
  type PushPullMember,
  type StreamMsg,
  type SuspectMsg,
} from './messages.js';
import { BroadcastQueue } from './queue.js';

/** Internal statuses, memberlist's four. The driver shows them in ARCHITECTURE.md's vocabulary. */
export type MemberStatus = 'alive' | 'suspect' | 'dead' | 'left';

export interface MemberRecord {
  readonly name: string;
  addr: string;
  meta: Uint8Array;
  incarnation: number;
  status: MemberStatus;
  /** Monotonic time of the last status change. */
  since: number;
  vmin: number;
  vmax: number;
}

/** A read-only copy of a member, as effects carry it. */
export interface MemberSnapshot {
  readonly name: string;
  readonly addr: string;
  readonly meta: Uint8Array;
  readonly incarnation: number;
  readonly status: MemberStatus;
  readonly since: number;
  readonly vmin: number;
  readonly vmax: number;
}

/** What the admission hook sees. */
export interface Candidate {
  readonly name: string;
  readonly addr: string;
  readonly meta: Uint8Array;
  readonly vmin: number;
  readonly vmax: number;
}

/** Returns a reason to refuse the member, or undefined to admit it (memberlist's AliveDelegate). */
export type AdmitHook = (candidate: Candidate) => string | undefined;

export interface CoreOptions {
  readonly name: string;
  /** Our address as others reach it (host:port, or a memory-network address). */
  readonly addr: string;
  readonly meta: Uint8Array;
  readonly config: MembershipConfig;
  readonly random: Random;
  /** The bytes of one message on the wire (an envelope): the core sizes packets with it. */
  readonly encode: (msg: ProtocolMsg) => Uint8Array;
  /** Bytes a packet costs beyond its messages (sealing, compound header). */
  readonly packetOverheadBytes: number;
  /** Bytes each message costs inside a compound packet beyond its own length. */
  readonly partOverheadBytes: number;
  readonly admit?: AdmitHook | undefined;
  /** Starting incarnation (0 by default; a restarted member out-bids its past at the first push-pull). */
  readonly incarnation?: number;
}

interface Suspicion {
  readonly confirmations: Set<string>;
  n: number;
  readonly k: number;
  readonly min: number;
  readonly max: number;
  start: number;
  deadline: number;
  /** The member's `since` when the suspicion began: a refuted and re-raised suspicion is a new one. */
  readonly at: number;
}

interface Probe {
  readonly seq: number;
  readonly target: string;
  readonly incarnation: number;
  readonly start: number;
  ackDeadline: number;
  deadline: number;
  indirect: boolean;
  expectedNacks: number;
  nacks: number;
  tcpContacted: boolean;
}

interface Relay {
  readonly origSeq: number;
  readonly replyTo: string;
  nackAt: number;
  expireAt: number;
}

type PendingStream =
  | { readonly kind: 'ping'; readonly seq: number }
  | { readonly kind: 'push-pull'; readonly addr: string; readonly join: boolean; readonly purpose: 'push-pull' | 'join' | 'reconnect' };

export interface CoreStats {
  probes: number;
  probeFailures: number;
  indirectProbes: number;
  tcpFallbackRescues: number;
  suspicionsRaised: number;
  unreachableDeclared: number;
  refutations: number;
  pushPulls: number;
  misdirectedPings: number;
  refusedMembers: number;
  incompatibleMembers: number;
  addressConflicts: number;
  stalls: number;
}

export interface CoreState {
  readonly config: MembershipConfig;
  readonly self: MemberRecord;
  readonly random: Random;
  readonly encode: (msg: ProtocolMsg) => Uint8Array;
  readonly packetOverheadBytes: number;
  readonly partOverheadBytes: number;
  readonly admit: AdmitHook | undefined;
  readonly members: Map<string, MemberRecord>;
  /** Probe order and random-pick pool (memberlist's m.nodes): every member we remember, self included. */
  nodes: MemberRecord[];
  probeIndex: number;
  /** Members alive or suspect, self included: the n of every formula. */
  liveCount: number;
  awareness: number;
  seq: number;
  streamSeq: number;
  probe: Probe | undefined;
  readonly relays: Map<number, Relay>;
  readonly suspicions: Map<string, Suspicion>;
  readonly streams: Map<number, PendingStream>;
  readonly queue: BroadcastQueue;
  seeds: string[];
  started: boolean;
  leaving: boolean;
  nextProbeAt: number;
  nextGossipAt: number;
  nextPushPullAt: number;
  nextReconnectAt: number;
  nextRejoinAt: number;
  nextReapAt: number;
  /** The deadline we last asked to be woken at: an event much later than it means our event loop stalled. */
  expectedWake: number;
  readonly stats: CoreStats;
  /** Effects of the step in progress. */
  out: Effect[];
}

export type CoreEvent =
  /** Begin: announce ourselves and schedule the periodic work. */
  | { readonly type: 'start' }
  /** Time passed: do whatever fell due. */
  | { readonly type: 'tick' }
  /** Messages of one UDP packet, already authenticated and decoded. */
  | { readonly type: 'packet'; readonly from: string; readonly messages: readonly PacketMsg[] }
  /** A request arrived on a stream; the step answers it with a `reply` effect carrying the same id. */
  | { readonly type: 'stream-request'; readonly id: number; readonly from: string; readonly message: StreamMsg }
  /** The outcome of a `request` effect: the response, or undefined when the exchange failed. */
  | { readonly type: 'stream-result'; readonly id: number; readonly message: StreamMsg | undefined }
  /** Contact these addresses with a join push-pull; remembered as seeds, retried while we are alone. */
  | { readonly type: 'join'; readonly addrs: readonly string[] }
  /** Announce a graceful departure: we become `left` at once; the driver closes after leavePropagateMs. */
  | { readonly type: 'leave' }
  | { readonly type: 'update-meta'; readonly meta: Uint8Array };

export type Effect =
  /** Send one UDP packet made of these encoded messages (the first is the point, the rest piggyback). */
  | { readonly type: 'send'; readonly to: string; readonly parts: readonly Uint8Array[] }
  /** Open a stream, send one request, wait for one response, then step a `stream-result` with the same id. */
  | {
      readonly type: 'request';
      readonly id: number;
      readonly to: string;
      readonly message: StreamMsg;
      readonly timeoutMs: number;
      readonly purpose: 'ping' | 'push-pull' | 'join' | 'reconnect';
    }
  /** The answer to a `stream-request` (undefined: close without answering). */
  | { readonly type: 'reply'; readonly id: number; readonly message: StreamMsg | undefined }
  /** A member (never ourselves) changed status, address or metadata. `previous` is undefined for a newcomer. */
  | { readonly type: 'change'; readonly member: MemberSnapshot; readonly previous: MemberStatus | undefined }
  /** A member was forgotten (unreachable past reconnectTimeoutMs, or left past removedRetentionMs). */
  | { readonly type: 'forget'; readonly member: MemberSnapshot }
  /** Two addresses claim one name. */
  | { readonly type: 'conflict'; readonly name: string; readonly known: string; readonly claimed: string }
  | { readonly type: 'log'; readonly level: 'DEBUG' | 'INFO' | 'WARNING'; readonly message: string };

export interface StepResult {
  readonly state: CoreState;
  readonly effects: Effect[];
}

const NEVER = Number.POSITIVE_INFINITY;
/** Lifeguard: an indirect prober nacks after 80% of the probe timeout, so the nack arrives within the window. */
const NACK_FRACTION = 0.8;

export function createState(options: CoreOptions, now: number): CoreState {
  const config = options.config;
  const self: MemberRecord = {
    name: options.name,
    addr: options.addr,
    meta: options.meta,
    incarnation: options.incarnation ?? 0,
    status: 'alive',
    since: now,
    vmin: PROTOCOL_MIN,
    vmax: PROTOCOL_MAX,
  };
  return {
    config,
    self,
    random: options.random,
    encode: options.encode,
    packetOverheadBytes: options.packetOverheadBytes,
    partOverheadBytes: options.partOverheadBytes,
    admit: options.admit,
    members: new Map([[self.name, self]]),
    nodes: [self],
    probeIndex: 0,
    liveCount: 1,
    awareness: 0,
    seq: 0,
    streamSeq: 0,
    probe: undefined,
    relays: new Map(),
    suspicions: new Map(),
    streams: new Map(),
    queue: new BroadcastQueue(config.retransmitMult, config.maxQueuedBroadcasts),
    seeds: [],
    started: false,
    leaving: false,
    nextProbeAt: NEVER,
    nextGossipAt: NEVER,
    nextPushPullAt: NEVER,
    nextReconnectAt: NEVER,
    nextRejoinAt: NEVER,
    nextReapAt: NEVER,
    expectedWake: NEVER,
    stats: {
      probes: 0,
      probeFailures: 0,
      indirectProbes: 0,
      tcpFallbackRescues: 0,
      suspicionsRaised: 0,
      unreachableDeclared: 0,
      refutations: 0,
      pushPulls: 0,
      misdirectedPings: 0,
      refusedMembers: 0,
      incompatibleMembers: 0,
      addressConflicts: 0,
      stalls: 0,
    },
    out: [],
  };
}

export function step(state: CoreState, event: CoreEvent, now: number): StepResult {
  const s = state;
  s.out = [];
  detectStall(s, now);
  switch (event.type) {
    case 'start':
      start(s, now);
      break;
    case 'tick':
      break;
    case 'packet':
      for (const msg of event.messages) handlePacketMessage(s, msg, event.from, now);
      break;
    case 'stream-request':
      handleStreamRequest(s, event.id, event.from, event.message, now);
      break;
    case 'stream-result':
      handleStreamResult(s, event.id, event.message, now);
      break;
    case 'join':
      for (const addr of event.addrs) if (!s.seeds.includes(addr)) s.seeds.push(addr);
      for (const addr of event.addrs) startPushPull(s, addr, true, 'join');
      s.nextRejoinAt = now + s.config.rejoinIntervalMs;
      break;
    case 'leave':
      leave(s, now);
      break;
    case 'update-meta':
      if (!s.leaving) {
        s.self.meta = event.meta;
        s.self.incarnation++;
        broadcastSelf(s);
      }
      break;
  }
  if (s.started) runDue(s, now);
  s.expectedWake = nextDeadline(s);
  const effects = s.out;
  s.out = [];
  return { state: s, effects };
}

/** When step wants to be called next with a tick (monotonic ms), or Infinity. */
export function nextDeadline(s: CoreState): number {
  if (!s.started) return NEVER;
  let d = Math.min(s.nextProbeAt, s.nextPushPullAt, s.nextReconnectAt, s.nextReapAt);
  if (s.queue.size > 0) d = Math.min(d, s.nextGossipAt);
  if (s.liveCount <= 1 && s.seeds.length > 0) d = Math.min(d, s.nextRejoinAt);
  const p = s.probe;
  if (p) d = Math.min(d, p.indirect ? p.deadline : p.ackDeadline);
  for (const r of s.relays.values()) d = Math.min(d, r.nackAt, r.expireAt);
  for (const sp of s.suspicions.values()) d = Math.min(d, sp.deadline);
  return d;
}

export function snapshot(m: MemberRecord): MemberSnapshot {
  return {
    name: m.name,
    addr: m.addr,
    meta: m.meta,
    incarnation: m.incarnation,
    status: m.status,
    since: m.since,
    vmin: m.vmin,
    vmax: m.vmax,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Scheduling

function start(s: CoreState, now: number): void {
  if (s.started) return;
  s.started = true;
  const c = s.config;
  // Random phases: members started together must not probe and push-pull in lockstep.
  s.nextProbeAt = now + s.random.float() * c.probeIntervalMs;
  s.nextGossipAt = now + c.gossipIntervalMs;
  s.nextPushPullAt = c.pushPullIntervalMs > 0 ? now + s.random.float() * c.pushPullIntervalMs : NEVER;
  s.nextReconnectAt = now + c.reconnectIntervalMs;
  s.nextReapAt = now + reapInterval(c);
  s.expectedWake = NEVER;
  broadcastSelf(s);
}

function reapInterval(c: MembershipConfig): number {
  const shortest = Math.min(c.reconnectTimeoutMs, c.removedRetentionMs);
  return Math.min(60_000, Math.max(1_000, shortest / 10));
}

/**
 * A step long after the deadline we asked for means this process was not running (a blocked event loop, a GC
 * pause, a suspended VM). Whatever our peers sent meanwhile is still unread in the socket buffers, so expiring
 * our probes and suspicions now would blame them for our stall: every deadline moves by the lost time instead,
 * and local health degrades one step (Lifeguard: a member that cannot keep time should probe less).
 */
function detectStall(s: CoreState, now: number): void {
  if (!s.started || !Number.isFinite(s.expectedWake)) return;
  const lag = now - s.expectedWake;
  if (lag <= s.config.stallThresholdMs) return;
  s.stats.stalls++;
  s.nextProbeAt += lag;
  s.nextGossipAt += lag;
  s.nextPushPullAt += lag;
  s.nextReconnectAt += lag;
  s.nextRejoinAt += lag;
  s.nextReapAt += lag;
  const p = s.probe;
  if (p) {
    p.ackDeadline += lag;
    p.deadline += lag;
  }
  for (const r of s.relays.values()) {
    r.nackAt += lag;
    r.expireAt += lag;
  }
  for (const sp of s.suspicions.values()) {
    sp.start += lag;
    sp.deadline += lag;
  }
  s.awareness = applyAwareness(s.awareness, 1, s.config.awarenessMaxMultiplier);
  log(s, 'WARNING', `event loop stalled for ${Math.round(lag)} ms: deadlines moved, local health now ${s.awareness}`);
}

/** Runs everything due at `now`, in the order memberlist's goroutines would reach it. */
function runDue(s: CoreState, now: number): void {
  const p = s.probe;
  if (p && !p.indirect && now >= p.ackDeadline) startIndirect(s, p, now);
  if (s.probe && s.probe.indirect && now >= s.probe.deadline) finishProbe(s, s.probe, now);
  if (now >= s.nextProbeAt) probeNext(s, now);

  for (const [seq, r] of s.relays) {
    if (now >= r.nackAt) {
      r.nackAt = NEVER;
      sendPacket(s, r.replyTo, [{ type: MsgType.Nack, seq: r.origSeq }]);
    }
    if (now >= r.expireAt) s.relays.delete(seq);
  }

  for (const [name, sp] of s.suspicions) {
    if (now < sp.deadline) continue;
    s.suspicions.delete(name);
    const m = s.members.get(name);
    if (!m || m.status !== 'suspect' || m.since !== sp.at) continue;
    log(s, 'INFO', `marking ${name} unreachable: suspicion timed out (${sp.n} of ${sp.k} peer confirmations)`);
    deadNode(s, { type: MsgType.Dead, name, incarnation: m.incarnation, from: s.self.name }, now);
  }

  if (now >= s.nextGossipAt) {
    s.nextGossipAt = now + s.config.gossipIntervalMs;
    gossip(s, now);
  }
  if (now >= s.nextPushPullAt) {
    // ±50% jitter, same mean: members started together would otherwise push-pull in lockstep bursts forever
    // (the interval grows with n after the first, randomly phased, exchange).
    s.nextPushPullAt = now + (0.5 + s.random.float()) * pushPullInterval(s.config.pushPullIntervalMs, s.liveCount);
    if (!s.leaving) {
      const [peer] = kRandom(s, 1, (m) => m !== s.self && m.status === 'alive');
      if (peer) startPushPull(s, peer.addr, false, 'push-pull');
    }
  }
  if (now >= s.nextReconnectAt) {
    s.nextReconnectAt = now + s.config.reconnectIntervalMs;
    reconnect(s);
  }
  if (now >= s.nextRejoinAt) {
    s.nextRejoinAt = now + s.config.rejoinIntervalMs;
    if (!s.leaving && s.liveCount <= 1) for (const addr of s.seeds) startPushPull(s, addr, true, 'join');
  }
  if (now >= s.nextReapAt) {
    s.nextReapAt = now + reapInterval(s.config);
    reap(s, now);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Probing (SWIM failure detection with Lifeguard's local health)

function probeNext(s: CoreState, now: number): void {
  const interval = scaleByAwareness(s.config.probeIntervalMs, s.awareness);
  s.nextProbeAt = now + interval;
  if (s.leaving) return;
  const target = nextProbeTarget(s);
  if (!target) return;
  s.stats.probes++;
  const seq = nextSeq(s);
  s.probe = {
    seq,
    target: target.name,
    incarnation: target.incarnation,
    start: now,
    ackDeadline: now + s.config.probeTimeoutMs,
    deadline: now + interval,
    indirect: false,
    expectedNacks: 0,
    nacks: 0,
    tcpContacted: false,
  };
  const msgs: PacketMsg[] = [{ type: MsgType.Ping, seq, target: target.name, source: s.self.name }];
  // Buddy system (Lifeguard): a suspect hears of its suspicion from its prober, directly, and can refute it.
  if (target.status === 'suspect') {
    msgs.push({ type: MsgType.Suspect, name: target.name, incarnation: target.incarnation, from: s.self.name });
  }
  sendPacket(s, target.addr, msgs);
}

/** Round robin over a list reshuffled at each wrap (SWIM's bounded detection time); skips us and the dead. */
function nextProbeTarget(s: CoreState): MemberRecord | undefined {
  for (let checked = 0; checked <= s.nodes.length; checked++) {
    if (s.probeIndex >= s.nodes.length) {
      s.random.shuffle(s.nodes);
      s.probeIndex = 0;
    }
    const m = s.nodes[s.probeIndex++] as MemberRecord;
    if (m === s.self || m.status === 'dead' || m.status === 'left') continue;
    return m;
  }
  return undefined;
}

function startIndirect(s: CoreState, p: Probe, now: number): void {
  p.indirect = true;
  const target = s.members.get(p.target);
  if (!target || target.status === 'dead' || target.status === 'left') {
    s.probe = undefined;
    return;
  }
  s.stats.indirectProbes++;
  const peers = kRandom(s, s.config.indirectChecks, (m) => m !== s.self && m !== target && m.status === 'alive');
  for (const peer of peers) {
    p.expectedNacks++;
    sendPacket(s, peer.addr, [
      { type: MsgType.PingReq, seq: p.seq, target: target.name, targetAddr: target.addr, wantNack: true, source: s.self.name },
    ]);
  }
  if (s.config.tcpFallbackPing) {
    const id = nextStreamId(s);
    s.streams.set(id, { kind: 'ping', seq: p.seq });
    s.out.push({
      type: 'request',
      id,
      to: target.addr,
      message: { type: MsgType.StreamPing, seq: p.seq, target: target.name, source: s.self.name },
      timeoutMs: Math.max(1, p.deadline - now),
      purpose: 'ping',
    });
  }
}

function finishProbe(s: CoreState, p: Probe, now: number): void {
  s.probe = undefined;
  if (p.tcpContacted) {
    s.stats.tcpFallbackRescues++;
    s.awareness = applyAwareness(s.awareness, -1, s.config.awarenessMaxMultiplier);
    log(s, 'WARNING', `reached ${p.target} over TCP but not over UDP: the network may be dropping UDP`);
    return;
  }
  // Lifeguard LHA: each helper that did not even nack hints that the problem is on our side.
  const delta = p.expectedNacks > 0 ? Math.max(0, p.expectedNacks - p.nacks) : 1;
  s.awareness = applyAwareness(s.awareness, delta, s.config.awarenessMaxMultiplier);
  s.stats.probeFailures++;
  const target = s.members.get(p.target);
  if (!target || target.status === 'dead' || target.status === 'left') return;
  log(s, 'DEBUG', `no ack from ${p.target} (direct, ${p.expectedNacks} indirect, ${p.nacks} nacks): suspect`);
  suspectNode(s, { type: MsgType.Suspect, name: p.target, incarnation: p.incarnation, from: s.self.name }, now);
}

function probeSucceeded(s: CoreState): void {
  s.probe = undefined;
  s.awareness = applyAwareness(s.awareness, -1, s.config.awarenessMaxMultiplier);
}

// ---------------------------------------------------------------------------------------------------------------
// Incoming packets

function handlePacketMessage(s: CoreState, msg: PacketMsg, from: string, now: number): void {
  switch (msg.type) {
    case MsgType.Ping:
      if (msg.target !== '' && msg.target !== s.self.name) {
        s.stats.misdirectedPings++;
        return;
      }
      sendPacket(s, from, [{ type: MsgType.Ack, seq: msg.seq }]);
      return;
    case MsgType.PingReq: {
      const seq = nextSeq(s);
      s.relays.set(seq, {
        origSeq: msg.seq,
        replyTo: from,
        nackAt: msg.wantNack ? now + NACK_FRACTION * s.config.probeTimeoutMs : NEVER,
        expireAt: now + s.config.probeIntervalMs,
      });
      sendPacket(s, msg.targetAddr, [{ type: MsgType.Ping, seq, target: msg.target, source: s.self.name }]);
      return;
    }
    case MsgType.Ack: {
      const p = s.probe;
      if (p && p.seq === msg.seq) {
        probeSucceeded(s);
        return;
      }
      const relay = s.relays.get(msg.seq);
      if (relay) {
        s.relays.delete(msg.seq);
        sendPacket(s, relay.replyTo, [{ type: MsgType.Ack, seq: relay.origSeq }]);
      }
      return;
    }
    case MsgType.Nack:
      if (s.probe && s.probe.seq === msg.seq) s.probe.nacks++;
      return;
    case MsgType.Alive:
      aliveNode(s, msg, now);
      return;
    case MsgType.Suspect:
      suspectNode(s, msg, now);
      return;
    case MsgType.Dead:
      deadNode(s, msg, now);
      return;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Streams: TCP fallback ping and push-pull

function handleStreamRequest(s: CoreState, id: number, from: string, msg: StreamMsg, now: number): void {
  switch (msg.type) {
    case MsgType.StreamPing: {
      const ok = msg.target === '' || msg.target === s.self.name;
      if (!ok) s.stats.misdirectedPings++;
      s.out.push({ type: 'reply', id, message: ok ? { type: MsgType.Ack, seq: msg.seq } : undefined });
      return;
    }
    case MsgType.PushPullRequest: {
      // A member the admission hook refuses gets no state: it learns nothing of the cluster through us.
      const requester = msg.join && s.admit ? msg.members.find((m) => m.name === msg.source) : undefined;
      if (requester && requester.name !== s.self.name) {
        const reason = s.admit?.({ name: requester.name, addr: requester.addr, meta: requester.meta, vmin: requester.vmin, vmax: requester.vmax });
        if (reason !== undefined) {
          s.stats.refusedMembers++;
          log(s, 'DEBUG', `refusing the join of ${requester.name} from ${from}: ${reason}`);
          s.out.push({ type: 'reply', id, message: undefined });
          return;
        }
      }
      // Merge first, then answer: refutations the merge caused (we learn we were declared unreachable) travel
      // back in this very response instead of waiting for gossip to cross a partition that just healed.
      mergeState(s, msg.members, now);
      s.out.push({ type: 'reply', id, message: { type: MsgType.PushPullResponse, members: localState(s) } });
      log(s, 'DEBUG', `push-pull from ${from}${msg.join ? ' (join)' : ''}: ${msg.members.length} members`);
      return;
    }
    default:
      s.out.push({ type: 'reply', id, message: undefined });
  }
}

function handleStreamResult(s: CoreState, id: number, msg: StreamMsg | undefined, now: number): void {
  const pending = s.streams.get(id);
  if (!pending) return;
  s.streams.delete(id);
  if (pending.kind === 'ping') {
    if (msg && msg.type === MsgType.Ack && msg.seq === pending.seq && s.probe && s.probe.seq === pending.seq) {
      s.probe.tcpContacted = true;
    }
    return;
  }
  if (!msg || msg.type !== MsgType.PushPullResponse) {
    if (pending.join) log(s, 'DEBUG', `join push-pull with ${pending.addr} failed`);
    return;
  }
  s.stats.pushPulls++;
  const incarnation = s.self.incarnation;
  // A joiner learns the seed's view, which the cluster already shares: re-gossiping each of those members as
  // news would cost retransmits × n sends per join for nothing. (Reconnects stay loud: across a healed partition
  // the other side's members are news to ours.)
  mergeState(s, msg.members, now, pending.purpose === 'join');
  // We refuted our own death during the merge: tell the peer at once, it is the one that believed it.
  if (s.self.incarnation !== incarnation && !s.leaving) sendPacket(s, pending.addr, [selfAlive(s)]);
}

function startPushPull(s: CoreState, addr: string, join: boolean, purpose: 'push-pull' | 'join' | 'reconnect'): void {
  if (addr === s.self.addr) return;
  const id = nextStreamId(s);
  s.streams.set(id, { kind: 'push-pull', addr, join, purpose });
  s.out.push({
    type: 'request',
    id,
    to: addr,
    message: { type: MsgType.PushPullRequest, join, members: localState(s), source: s.self.name },
    timeoutMs: s.config.streamTimeoutMs,
    purpose,
  });
}

const STATUS_CODE: Record<MemberStatus, WireStatus> = {
  alive: WireStatus.Alive,
  suspect: WireStatus.Suspect,
  dead: WireStatus.Dead,
  left: WireStatus.Left,
};

function localState(s: CoreState): PushPullMember[] {
  const out: PushPullMember[] = [];
  for (const m of s.members.values()) {
    out.push({
      name: m.name,
      addr: m.addr,
      meta: m.meta,
      incarnation: m.incarnation,
      status: STATUS_CODE[m.status],
      vmin: m.vmin,
      vmax: m.vmax,
    });
  }
  return out;
}

/**
 * memberlist's mergeState: a remote dead or suspect only raises a suspicion here; a remote left is final.
 * `quiet`: take in others' alive news without re-gossiping it.
 */
function mergeState(s: CoreState, remote: readonly PushPullMember[], now: number, quiet = false): void {
  for (const r of remote) {
    switch (r.status) {
      case WireStatus.Alive:
        aliveNode(s, { type: MsgType.Alive, name: r.name, incarnation: r.incarnation, addr: r.addr, meta: r.meta, vmin: r.vmin, vmax: r.vmax }, now, quiet);
        break;
      case WireStatus.Left:
        deadNode(s, { type: MsgType.Dead, name: r.name, incarnation: r.incarnation, from: r.name }, now);
        break;
      case WireStatus.Dead:
      case WireStatus.Suspect:
        suspectNode(s, { type: MsgType.Suspect, name: r.name, incarnation: r.incarnation, from: s.self.name }, now);
        break;
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// State transitions (memberlist's aliveNode, suspectNode, deadNode, refute)

function aliveNode(s: CoreState, a: AliveMsg, now: number, quiet = false): void {
  const isSelf = a.name === s.self.name;
  if (isSelf && s.leaving) return; // an old alive about us must not undo our leave
  if (a.vmin > PROTOCOL_MAX || a.vmax < PROTOCOL_MIN) {
    s.stats.incompatibleMembers++;
    log(s, 'DEBUG', `ignoring ${a.name}: protocol ${a.vmin}..${a.vmax} does not overlap ours ${PROTOCOL_MIN}..${PROTOCOL_MAX}`);
    return;
  }
  let m = s.members.get(a.name);
  let reclaim = false;
  if (m && m.addr !== a.addr) {
    // A member restarted on another port (ports are often picked by the OS) may take its name back once it is
    // unreachable or gone; while it is alive, a second address for one name is a conflict (a cloned state dir).
    if (m.status === 'dead' || m.status === 'left') {
      reclaim = true;
    } else {
      if (a.incarnation >= m.incarnation) {
        s.stats.addressConflicts++;
        s.out.push({ type: 'conflict', name: a.name, known: m.addr, claimed: a.addr });
      }
      return;
    }
  }
  if (m) {
    if (!isSelf && !reclaim && a.incarnation <= m.incarnation) return;
    if (isSelf && a.incarnation < m.incarnation) return;
  }

  if (isSelf) {
    if (m && a.incarnation === m.incarnation && bytesEqual(a.meta, m.meta)) return;
    // Someone holds a different view of us at our incarnation or above (we restarted): out-bid it.
    refute(s, a.incarnation);
    return;
  }

  const changes = !m || m.status === 'dead' || m.status === 'left' || !bytesEqual(a.meta, m.meta) || a.vmin !== m.vmin || a.vmax !== m.vmax;
  if (changes && s.admit) {
    const reason = s.admit({ name: a.name, addr: a.addr, meta: a.meta, vmin: a.vmin, vmax: a.vmax });
    if (reason !== undefined) {
      s.stats.refusedMembers++;
      log(s, 'DEBUG', `refusing ${a.name} at ${a.addr}: ${reason}`);
      return;
    }
  }

  s.suspicions.delete(a.name);
  if (!quiet) broadcast(s, a.name, a);
  if (!m) {
    m = { name: a.name, addr: a.addr, meta: a.meta, incarnation: a.incarnation, status: 'alive', since: now, vmin: a.vmin, vmax: a.vmax };
    s.members.set(m.name, m);
    // A random position in the probe order keeps the detection bound low for newcomers (memberlist).
    const offset = s.random.int(s.nodes.length + 1);
    s.nodes.push(m);
    const n = s.nodes.length - 1;
    if (offset < n) {
      const tmp = s.nodes[offset] as MemberRecord;
      s.nodes[offset] = m;
      s.nodes[n] = tmp;
    }
    s.liveCount++;
    s.out.push({ type: 'change', member: snapshot(m), previous: undefined });
    return;
  }
  const previous = m.status;
  const metaChanged = !bytesEqual(a.meta, m.meta) || m.addr !== a.addr;
  m.incarnation = a.incarnation;
  m.meta = a.meta;
  m.addr = a.addr;
  m.vmin = a.vmin;
  m.vmax = a.vmax;
  if (previous !== 'alive') setStatus(s, m, 'alive', now);
  else if (metaChanged) s.out.push({ type: 'change', member: snapshot(m), previous });
}

function suspectNode(s: CoreState, msg: SuspectMsg, now: number): void {
  const m = s.members.get(msg.name);
  if (!m) return;
  if (msg.incarnation < m.incarnation) {
    if (m === s.self) reassert(s, msg.from);
    return;
  }

  const open = s.suspicions.get(msg.name);
  if (open) {
    // An independent confirmation shortens the timer (Lifeguard); new news is re-gossiped so that confirmations
    // keep flowing even to members that probe a suspect.
    if (confirm(open, msg.from)) broadcast(s, msg.name, msg);
    return;
  }
  if (m.status !== 'alive') return;
  if (m === s.self) {
    if (s.leaving) return;
    log(s, 'WARNING', `refuting a suspicion of us from ${msg.from}`);
    refute(s, msg.incarnation);
    return;
  }
  broadcast(s, msg.name, msg);
  s.stats.suspicionsRaised++;
  m.incarnation = msg.incarnation;
  setStatus(s, m, 'suspect', now);

  const c = s.config;
  const n = s.liveCount;
  const k = suspicionConfirmationsWanted(c.suspicionMult, n);
  const min = suspicionTimeout(c.suspicionMult, n, c.probeIntervalMs);
  const max = c.suspicionMaxTimeoutMult * min;
  // Starts at max, or at min when the cluster is too small to expect confirmations (k = 0).
  const sp: Suspicion = { confirmations: new Set([msg.from]), n: 0, k, min, max, start: now, deadline: now + suspicionTotal(0, k, min, max), at: m.since };
  // The accuser is not a confirmation (it may be our own suspicion gossiped back); each further accuser is.
  s.suspicions.set(msg.name, sp);
}

/** Counts one more independent accuser; returns false for a repeat or once the minimum is reached. */
function confirm(sp: Suspicion, from: string): boolean {
  if (sp.n >= sp.k) return false;
  if (sp.confirmations.has(from)) return false;
  sp.confirmations.add(from);
  sp.n++;
  sp.deadline = sp.start + suspicionTotal(sp.n, sp.k, sp.min, sp.max);
  return true;
}

function deadNode(s: CoreState, d: DeadMsg, now: number): void {
  const m = s.members.get(d.name);
  if (!m) return;
  if (d.incarnation < m.incarnation) {
    if (m === s.self) reassert(s, d.from);
    return;
  }
  s.suspicions.delete(d.name);
  const left = d.from === d.name;
  if (m.status === 'left') return;
  // A member's own word that it left outranks our verdict that it died: a member that missed the leave broadcast
  // (and confirmed a suspicion meanwhile) learns it from gossip or push-pull, so a graceful stop ends `removed`
  // everywhere. (memberlist ignores it, leaving such members on `dead`.)
  if (m.status === 'dead' && !left) return;
  if (m === s.self) {
    if (!s.leaving) {
      log(s, 'WARNING', `refuting a report of our death from ${d.from}`);
      refute(s, d.incarnation);
      return;
    }
  }
  broadcast(s, d.name, d);
  m.incarnation = d.incarnation;
  if (!left) s.stats.unreachableDeclared++;
  setStatus(s, m, left ? 'left' : 'dead', now);
}

function refute(s: CoreState, accused: number): void {
  s.stats.refutations++;
  s.self.incarnation = Math.max(s.self.incarnation + 1, accused + 1);
  // Having to refute is a hint that we are slow to answer (Lifeguard).
  s.awareness = applyAwareness(s.awareness, 1, s.config.awarenessMaxMultiplier);
  broadcastSelf(s);
}

/**
 * An accusation of an incarnation we already refuted: its sender missed our refutation (rumors are best effort),
 * and nobody else would correct it — everyone else ignores its stale news, as we do. So answer it: our alive
 * goes straight to the accuser and out again as fresh gossip. (memberlist ignores it; the accuser then stays
 * wrong until its next push-pull, and may declare us dead meanwhile.)
 */
function reassert(s: CoreState, accuser: string): void {
  if (s.leaving) return;
  const to = s.members.get(accuser);
  if (to && to !== s.self && to.status !== 'left') sendPacket(s, to.addr, [selfAlive(s)]);
  broadcastSelf(s);
}

function leave(s: CoreState, now: number): void {
  if (s.leaving) return;
  s.leaving = true;
  s.probe = undefined;
  deadNode(s, { type: MsgType.Dead, name: s.self.name, incarnation: s.self.incarnation, from: s.self.name }, now);
  // Gossip the news right away rather than at the next tick.
  s.nextGossipAt = Math.min(s.nextGossipAt, now);
}

function setStatus(s: CoreState, m: MemberRecord, status: MemberStatus, now: number): void {
  const previous = m.status;
  if (previous === status) return;
  const wasLive = previous === 'alive' || previous === 'suspect';
  const isLive = status === 'alive' || status === 'suspect';
  if (wasLive && !isLive) s.liveCount--;
  if (!wasLive && isLive) s.liveCount++;
  m.status = status;
  m.since = now;
  if (m !== s.self) s.out.push({ type: 'change', member: snapshot(m), previous });
}

// ---------------------------------------------------------------------------------------------------------------
// Dissemination

function selfAlive(s: CoreState): AliveMsg {
  const m = s.self;
  return { type: MsgType.Alive, name: m.name, incarnation: m.incarnation, addr: m.addr, meta: m.meta, vmin: m.vmin, vmax: m.vmax };
}

function broadcastSelf(s: CoreState): void {
  broadcast(s, s.self.name, selfAlive(s));
}

function broadcast(s: CoreState, key: string, msg: AliveMsg | SuspectMsg | DeadMsg): void {
  s.queue.enqueue(key, s.encode(msg));
}

/** One packet: the messages given, then as many queued broadcasts as fit (piggybacking). */
function sendPacket(s: CoreState, to: string, msgs: readonly PacketMsg[]): void {
  const parts: Uint8Array[] = [];
  let used = s.packetOverheadBytes;
  for (const msg of msgs) {
    const bytes = s.encode(msg);
    parts.push(bytes);
    used += bytes.length + s.partOverheadBytes;
  }
  const room = s.config.packetMaxBytes - used;
  if (room > s.partOverheadBytes) {
    for (const b of s.queue.take(room, s.partOverheadBytes, s.liveCount)) parts.push(b);
  }
  s.out.push({ type: 'send', to, parts });
}

function gossip(s: CoreState, now: number): void {
  if (s.queue.size === 0) return;
  const ttd = s.config.gossipToTheDeadMs;
  const targets = kRandom(s, s.config.gossipNodes, (m) => {
    if (m === s.self) return false;
    if (m.status === 'alive' || m.status === 'suspect') return true;
    // The recently dead still hear gossip, so that they learn of it and can refute.
    return m.status === 'dead' && now - m.since <= ttd;
  });
  const room = s.config.packetMaxBytes - s.packetOverheadBytes;
  for (const t of targets) {
    const parts = s.queue.take(room, s.partOverheadBytes, s.liveCount);
    if (parts.length === 0) return;
    s.out.push({ type: 'send', to: t.addr, parts });
  }
}

/** Serf's reconnect: with probability unreachable/alive, try one unreachable member with a join push-pull. */
function reconnect(s: CoreState): void {
  if (s.leaving) return;
  const failed: MemberRecord[] = [];
  for (const m of s.nodes) if (m.status === 'dead') failed.push(m);
  if (failed.length === 0) return;
  const probability = failed.length / Math.max(1, s.liveCount);
  if (s.random.float() > probability) return;
  const m = failed[s.random.int(failed.length)] as MemberRecord;
  log(s, 'DEBUG', `reconnect: trying unreachable member ${m.name} at ${m.addr}`);
  startPushPull(s, m.addr, true, 'reconnect');
}

/** Forgets members unreachable past reconnectTimeoutMs and members gone past removedRetentionMs. */
function reap(s: CoreState, now: number): void {
  const c = s.config;
  let removed = false;
  for (const m of s.nodes) {
    if (m === s.self) continue;
    const limit = m.status === 'dead' ? c.reconnectTimeoutMs : m.status === 'left' ? c.removedRetentionMs : NEVER;
    if (now - m.since <= limit) continue;
    s.members.delete(m.name);
    s.queue.forget(m.name);
    s.out.push({ type: 'forget', member: snapshot(m) });
    removed = true;
  }
  if (removed) {
    s.nodes = s.nodes.filter((m) => s.members.get(m.name) === m);
    s.probeIndex = Math.min(s.probeIndex, s.nodes.length);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Helpers

/** Up to k distinct random members passing the filter (memberlist's kRandomNodes: at most 3n draws). */
function kRandom(s: CoreState, k: number, filter: (m: MemberRecord) => boolean): MemberRecord[] {
  const nodes = s.nodes;
  const n = nodes.length;
  const out: MemberRecord[] = [];
  for (let i = 0; i < 3 * n && out.length < k; i++) {
    const m = nodes[s.random.int(n)] as MemberRecord;
    if (!filter(m) || out.includes(m)) continue;
    out.push(m);
  }
  return out;
}

function nextSeq(s: CoreState): number {
  s.seq = (s.seq + 1) >>> 0;
  return s.seq;
}

function nextStreamId(s: CoreState): number {
  s.streamSeq++;
  return s.streamSeq;
}

function log(s: CoreState, level: 'DEBUG' | 'INFO' | 'WARNING', message: string): void {
  s.out.push({ type: 'log', level, message });
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
