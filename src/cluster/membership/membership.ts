/**
 * The membership driver: the imperative shell around the pure core (core.ts). It turns transport callbacks and
 * its one timer into core events, carries out the effects (packets, streams, replies), and presents the result
 * in ARCHITECTURE.md's vocabulary: members that are `alive` (with a `suspect` flag), `unreachable` or `removed`,
 * and debounced events about them.
 *
 *   const m = new Membership({ id, meta: { role: 'node', version }, transport: new NetTransport({ port: 0 }) });
 *   await m.start();
 *   await m.join(['10.0.0.1:7000']);
 *   m.on('unreachable', (e) => …);
 *   …
 *   await m.leave(); // announced: the others mark us `removed` at once
 */
import type { Clock, TimerHandle } from '../../base/clock.js';
import { systemClock } from '../../base/clock.js';
import type { Logger } from '../../base/logger.js';
import type { Random } from '../../base/random.js';
import { SeededRandom } from '../../base/random.js';
import { ErrorCode, KrakendError } from '../../base/errors.js';
import type { Envelope, Message } from '../wire/index.js';
import { fromEnvelope, toWireMessage } from './codec.js';
import type { MembershipConfig, MembershipPreset } from './config.js';
import { resolveConfig } from './config.js';
import type { CoreEvent, CoreState, CoreStats, Effect, MemberRecord, MemberSnapshot, MemberStatus } from './core.js';
import { createState, nextDeadline, snapshot, step } from './core.js';
import type { MemberState, MemberView, MembershipEventType } from './events.js';
import { EventDebouncer } from './events.js';
import { MsgType } from './messages.js';
import type { PacketMsg, StreamMsg } from './messages.js';
import type { MemberMeta } from './meta.js';
import { decodeMeta, encodeMeta } from './meta.js';
import type { Transport, TransportStats } from './transport.js';
import type { DropReason } from '../wire/index.js';

/** A member as consumers see it. */
export interface Member {
  /** The member's id (its gossip name; for nodes, the id the manager assigned). */
  readonly id: string;
  /** Its cluster address (`host:port`). */
  readonly address: string;
  readonly state: MemberState;
  /** Failed probes not yet confirmed: a suspicion is open (only while `alive`). */
  readonly suspect: boolean;
  readonly incarnation: number;
  readonly meta: MemberMeta;
  /** The membership protocol versions it speaks. */
  readonly protocol: { readonly min: number; readonly max: number };
  /** Wall-clock time (ms since the epoch) of its last state change as seen here. */
  readonly since: number;
  /** This is us. */
  readonly local: boolean;
}

export interface MembershipEvent {
  readonly type: MembershipEventType;
  readonly member: Member;
  /** What consumers were last told about it (undefined for `joined` of a newcomer). */
  readonly previous: { readonly state: MemberState; readonly suspect: boolean } | undefined;
}

export interface ConflictEvent {
  readonly id: string;
  readonly known: string;
  readonly claimed: string;
}

/** What the admission hook sees of a candidate member. */
export interface AdmissionCandidate {
  readonly id: string;
  readonly address: string;
  readonly meta: MemberMeta;
  readonly protocol: { readonly min: number; readonly max: number };
}

/**
 * The admission hook (memberlist's alive delegate): return a reason to refuse a member, undefined to admit it.
 * Called synchronously for each newcomer and each change of a member's metadata or return from the dead; it
 * must be fast and must not throw (a throw refuses, and is logged).
 */
export type AdmissionHook = (candidate: AdmissionCandidate) => string | undefined;

/** A raw, undebounced transition, for simulations and metrics. */
export interface TraceEvent {
  readonly member: MemberSnapshot;
  readonly previous: MemberStatus | undefined;
  /** Monotonic time of the transition. */
  readonly at: number;
}

export interface MembershipOptions {
  /** Our id (gossip name). 1–128 characters. */
  id: string;
  meta?: Partial<MemberMeta>;
  transport: Transport;
  /** `lan` (default) or `local`, or a full configuration. */
  preset?: MembershipPreset | MembershipConfig;
  config?: Partial<MembershipConfig>;
  clock?: Clock;
  random?: Random;
  logger?: Logger;
  admit?: AdmissionHook;
  /** Starting incarnation (default 0). */
  incarnation?: number;
  /** Called synchronously on every raw transition (before debouncing). */
  trace?: (event: TraceEvent) => void;
}

export interface MembershipStats {
  /** Received input dropped by the wire and by the protocol parser, by reason. */
  readonly dropped: Readonly<Record<DropReason, number>>;
  readonly droppedTotal: number;
  readonly transport: TransportStats;
  readonly protocol: Readonly<CoreStats>;
  /** Lifeguard local health: 0 is healthy; the probe interval is scaled by (score + 1). */
  readonly healthScore: number;
  readonly queuedBroadcasts: number;
  readonly members: { readonly alive: number; readonly suspect: number; readonly unreachable: number; readonly removed: number };
}

type Listener<T> = (event: T) => void;

const STATE_OF: Record<MemberStatus, MemberState> = {
  alive: 'alive',
  suspect: 'alive',
  dead: 'unreachable',
  left: 'removed',
};

export class Membership {
  readonly id: string;
  readonly config: MembershipConfig;
  private readonly transport: Transport;
  private readonly clock: Clock;
  private readonly logger: Logger | undefined;
  private readonly trace: ((event: TraceEvent) => void) | undefined;
  private readonly state: CoreState;
  private readonly debouncer: EventDebouncer;
  private readonly listeners = new Map<string, Set<Listener<never>>>();
  private readonly replies = new Map<number, (response: Message | undefined) => void>();
  private readonly streamWaiters = new Map<number, (ok: boolean) => void>();
  private readonly metaCache = new WeakMap<Uint8Array, MemberMeta>();
  private replySeq = 0;
  private timer: TimerHandle | undefined;
  private timerAt = Number.POSITIVE_INFINITY;
  private phase: 'new' | 'starting' | 'running' | 'leaving' | 'closed' = 'new';
  private leavePromise: Promise<void> | undefined;
  private readonly conflictsLogged = new Map<string, number>();

  constructor(options: MembershipOptions) {
    if (typeof options.id !== 'string' || options.id.length === 0 || options.id.length > 128) {
      throw new KrakendError(ErrorCode.ConfigInvalid, 'a member id must be 1 to 128 characters');
    }
    this.id = options.id;
    const base = resolveConfig(options.preset ?? 'lan', options.config ?? {});
    // Never build packets larger than the transport sends.
    this.config = Object.freeze({ ...base, packetMaxBytes: Math.min(base.packetMaxBytes, options.transport.mtu) });
    this.transport = options.transport;
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger;
    this.trace = options.trace;
    const admit = options.admit;
    const meta = encodeMeta(options.meta ?? {}, this.config.metaMaxBytes);
    this.state = createState(
      {
        name: options.id,
        addr: '',
        meta,
        config: this.config,
        random: options.random ?? new SeededRandom(),
        encode: (msg) => this.transport.encode(toWireMessage(msg)),
        packetOverheadBytes: this.transport.packetOverheadBytes,
        partOverheadBytes: this.transport.partOverheadBytes,
        admit: admit && ((c) => this.admitSafely(admit, c)),
        ...(options.incarnation !== undefined ? { incarnation: options.incarnation } : {}),
      },
      this.clock.monotonic(),
    );
    this.debouncer = new EventDebouncer(
      this.clock,
      this.config.eventDebounceMs,
      this.config.eventMaxDelayMs,
      (id) => this.viewOf(id),
      (id, type, previous) => this.emitEvent(id, type, previous),
    );
  }

  /** Starts the transport and the protocol. The member is then alone until join() reaches someone. */
  async start(): Promise<void> {
    if (this.phase !== 'new') throw new KrakendError(ErrorCode.WireClosed, 'membership already started');
    this.phase = 'starting';
    try {
      await this.transport.start({
        onPacket: (from, messages) => this.onPacket(from, messages),
        onRequest: (from, request, respond) => this.onRequest(from, request, respond),
      });
    } catch (err) {
      this.phase = 'closed';
      await this.transport.close().catch(() => {});
      throw err;
    }
    if (this.phase !== 'starting') return; // closed while starting
    this.state.self.addr = this.transport.address;
    this.phase = 'running';
    this.dispatch({ type: 'start' });
    this.logger?.info(`membership: ${this.id} started at ${this.transport.address}`);
  }

  /**
   * Joins the cluster through these addresses (a full state exchange with each). Resolves with how many
   * answered. They are kept as seeds: while this member knows no other live member it retries them every
   * rejoinIntervalMs, so a member started before its manager joins by itself later.
   */
  join(addresses: readonly string[]): Promise<number> {
    if (this.phase !== 'running') return Promise.reject(new KrakendError(ErrorCode.WireClosed, 'membership is not running'));
    const list = addresses.filter((a) => a !== this.transport.address);
    if (list.length === 0) return Promise.resolve(0);
    return new Promise((resolve) => {
      const effects = this.dispatch({ type: 'join', addrs: list });
      const ids = effects.filter((e) => e.type === 'request' && e.purpose === 'join').map((e) => (e as { id: number }).id);
      if (ids.length === 0) return resolve(0);
      let remaining = ids.length;
      let ok = 0;
      for (const id of ids) {
        this.streamWaiters.set(id, (success) => {
          if (success) ok++;
          if (--remaining === 0) resolve(ok);
        });
      }
    });
  }

  /**
   * Leaves gracefully: announces the departure (the others mark us `removed` at once), keeps answering probes
   * and gossiping for leavePropagateMs so the news spreads, then closes. Idempotent.
   */
  leave(): Promise<void> {
    if (this.leavePromise) return this.leavePromise;
    if (this.phase !== 'running') {
      this.leavePromise = this.close();
      return this.leavePromise;
    }
    this.phase = 'leaving';
    this.dispatch({ type: 'leave' });
    this.logger?.info(`membership: ${this.id} leaving`);
    this.leavePromise = new Promise<void>((resolve) => {
      this.clock.setTimeout(() => void this.close().then(resolve), this.config.leavePropagateMs);
    });
    return this.leavePromise;
  }

  /** Stops at once without announcing anything (the others will find us unreachable). Idempotent. */
  async close(): Promise<void> {
    if (this.phase === 'closed') return;
    this.phase = 'closed';
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.debouncer.clear();
    for (const respond of this.replies.values()) respond(undefined);
    this.replies.clear();
    for (const waiter of this.streamWaiters.values()) waiter(false);
    this.streamWaiters.clear();
    await this.transport.close();
  }

  get running(): boolean {
    return this.phase === 'running' || this.phase === 'leaving';
  }

  /** Our advertised address (valid after start). */
  get address(): string {
    return this.transport.address;
  }

  /** Every member we know of, ourselves included. */
  members(): Member[] {
    const out: Member[] = [];
    for (const m of this.state.members.values()) out.push(this.toMember(m));
    return out;
  }

  member(id: string): Member | undefined {
    const m = this.state.members.get(id);
    return m && this.toMember(m);
  }

  /** Ourselves. */
  local(): Member {
    return this.toMember(this.state.self);
  }

  /** Replaces our metadata (bounded by metaMaxBytes); spread with a new incarnation. */
  updateMeta(meta: Partial<MemberMeta>): void {
    const bytes = encodeMeta(meta, this.config.metaMaxBytes);
    if (this.phase === 'new' || this.phase === 'starting') {
      this.state.self.meta = bytes;
      return;
    }
    if (this.phase !== 'running') return;
    this.dispatch({ type: 'update-meta', meta: bytes });
  }

  /** Subscribes to one event type; returns the unsubscribe function. */
  on(type: MembershipEventType, listener: Listener<MembershipEvent>): () => void;
  on(type: 'conflict', listener: Listener<ConflictEvent>): () => void;
  on(type: MembershipEventType | 'conflict', listener: Listener<never>): () => void {
    let set = this.listeners.get(type);
    if (!set) this.listeners.set(type, (set = new Set()));
    set.add(listener);
    return () => void set.delete(listener);
  }

  /** How many members are in each state (`suspect` counts the alive ones with the flag; `alive` the others). */
  memberCounts(): { alive: number; suspect: number; unreachable: number; removed: number } {
    const counts = { alive: 0, suspect: 0, unreachable: 0, removed: 0 };
    for (const m of this.state.members.values()) {
      if (m.status === 'alive') counts.alive++;
      else if (m.status === 'suspect') counts.suspect++;
      else if (m.status === 'dead') counts.unreachable++;
      else counts.removed++;
    }
    return counts;
  }

  /** Drop counters, traffic, protocol counters and local health. */
  stats(): MembershipStats {
    const counts = this.memberCounts();
    return {
      dropped: this.transport.drops.snapshot(),
      droppedTotal: this.transport.drops.total(),
      transport: this.transport.stats(),
      protocol: { ...this.state.stats },
      healthScore: this.state.awareness,
      queuedBroadcasts: this.state.queue.size,
      members: counts,
    };
  }

  /** Lifeguard local health score (0 = healthy). */
  get healthScore(): number {
    return this.state.awareness;
  }

  // -------------------------------------------------------------------------------------------------------------

  private onPacket(from: string, envelopes: readonly Envelope[]): void {
    if (!this.running) return;
    const messages: PacketMsg[] = [];
    for (const env of envelopes) {
      const msg = fromEnvelope(env);
      if (!msg || msg.type === MsgType.PushPullRequest || msg.type === MsgType.PushPullResponse || msg.type === MsgType.StreamPing) {
        this.transport.drops.count('malformed');
        continue;
      }
      messages.push(msg);
    }
    if (messages.length > 0) this.dispatch({ type: 'packet', from, messages });
  }

  private onRequest(from: string, request: Envelope, respond: (response: Message | undefined) => void): void {
    const msg = this.running ? fromEnvelope(request) : undefined;
    if (!msg || (msg.type !== MsgType.PushPullRequest && msg.type !== MsgType.StreamPing)) {
      if (this.running && !msg) this.transport.drops.count('malformed');
      respond(undefined);
      return;
    }
    const id = ++this.replySeq;
    this.replies.set(id, respond);
    this.dispatch({ type: 'stream-request', id, from, message: msg });
    // The core always answers in the same step; anything else is a bug, so do not leave the peer hanging.
    const left = this.replies.get(id);
    if (left) {
      this.replies.delete(id);
      left(undefined);
    }
  }

  private onTimer(): void {
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
    if (this.running) this.dispatch({ type: 'tick' });
  }

  /** One core step and its effects; re-arms the timer. */
  private dispatch(event: CoreEvent): Effect[] {
    const now = this.clock.monotonic();
    const { effects } = step(this.state, event, now);
    for (const effect of effects) this.apply(effect, now);
    this.arm();
    return effects;
  }

  private arm(): void {
    if (!this.running) return;
    const at = nextDeadline(this.state);
    if (at === this.timerAt) return;
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = at;
    if (!Number.isFinite(at)) return;
    const delay = Math.max(0, at - this.clock.monotonic());
    this.timer = this.clock.setTimeout(() => this.onTimer(), delay);
    this.timer.unref();
  }

  private apply(effect: Effect, now: number): void {
    switch (effect.type) {
      case 'send':
        this.transport.sendPacket(effect.to, effect.parts);
        return;
      case 'request': {
        const id = effect.id;
        this.transport.request(effect.to, toWireMessage(effect.message), effect.timeoutMs, (result) => {
          const waiter = this.streamWaiters.get(id);
          this.streamWaiters.delete(id);
          let message: StreamMsg | undefined;
          if (result.ok) {
            const msg = fromEnvelope(result.response);
            if (msg && (msg.type === MsgType.Ack || msg.type === MsgType.PushPullResponse)) message = msg;
            else this.transport.drops.count('malformed');
          }
          if (this.running) this.dispatch({ type: 'stream-result', id, message });
          waiter?.(message !== undefined);
        });
        return;
      }
      case 'reply': {
        const respond = this.replies.get(effect.id);
        this.replies.delete(effect.id);
        respond?.(effect.message && toWireMessage(effect.message));
        return;
      }
      case 'change':
        this.trace?.({ member: effect.member, previous: effect.previous, at: now });
        this.debouncer.changed(effect.member.name);
        return;
      case 'forget':
        this.debouncer.forget(effect.member.name);
        return;
      case 'conflict':
        this.onConflict(effect.name, effect.known, effect.claimed, now);
        return;
      case 'log':
        if (!this.logger) return;
        if (effect.level === 'DEBUG') this.logger.debug(`membership: ${effect.message}`);
        else if (effect.level === 'INFO') this.logger.info(`membership: ${effect.message}`);
        else this.logger.warning(`membership: ${effect.message}`);
        return;
    }
  }

  private onConflict(id: string, known: string, claimed: string, now: number): void {
    const last = this.conflictsLogged.get(id);
    if (last === undefined || now - last > 60_000) {
      this.conflictsLogged.set(id, now);
      this.logger?.warning(`membership: two members claim id ${id}: ${known} (known) and ${claimed}`);
      const set = this.listeners.get('conflict');
      if (set) for (const l of [...set]) (l as Listener<ConflictEvent>)({ id, known, claimed });
    }
  }

  private admitSafely(admit: AdmissionHook, c: { name: string; addr: string; meta: Uint8Array; vmin: number; vmax: number }): string | undefined {
    try {
      return admit({ id: c.name, address: c.addr, meta: this.metaOf(c.meta), protocol: { min: c.vmin, max: c.vmax } });
    } catch (err) {
      this.logger?.error(`membership: admission hook threw for ${c.name}: ${(err as Error).message}`);
      return 'admission hook failed';
    }
  }

  private viewOf(id: string): MemberView | undefined {
    const m = this.state.members.get(id);
    if (!m) return undefined;
    return { state: STATE_OF[m.status], suspect: m.status === 'suspect', address: m.addr, metaBytes: m.meta };
  }

  private emitEvent(id: string, type: MembershipEventType, previous: MemberView | undefined): void {
    const set = this.listeners.get(type);
    if (!set || set.size === 0) return;
    const m = this.state.members.get(id);
    if (!m) return;
    const event: MembershipEvent = {
      type,
      member: this.toMember(m),
      previous: previous && { state: previous.state, suspect: previous.suspect },
    };
    for (const l of [...set]) {
      try {
        (l as Listener<MembershipEvent>)(event);
      } catch (err) {
        this.logger?.error(`membership: a ${type} listener threw: ${(err as Error).message}`);
      }
    }
  }

  private metaOf(bytes: Uint8Array): MemberMeta {
    let meta = this.metaCache.get(bytes);
    if (!meta) {
      meta = decodeMeta(bytes);
      this.metaCache.set(bytes, meta);
    }
    return meta;
  }

  private toMember(m: MemberRecord): Member {
    const s = snapshot(m);
    return {
      id: s.name,
      address: s.addr,
      state: STATE_OF[s.status],
      suspect: s.status === 'suspect',
      incarnation: s.incarnation,
      meta: this.metaOf(s.meta),
      protocol: { min: s.vmin, max: s.vmax },
      since: this.clock.now() - (this.clock.monotonic() - s.since),
      local: m === this.state.self,
    };
  }
}
