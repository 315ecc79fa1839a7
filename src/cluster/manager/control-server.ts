/**
 * The manager's side of the control channel: one session per admitted node. It reads the join, asks the
 * admission callback for a verdict, answers welcome or refused, then keeps the session: heartbeats both ways
 * when idle, `leave` (graceful: the node is `removed` at once) and a channel that closes without one (the node is
 * `unreachable` at once; gossip decides later whether it is really gone). Nothing here decides policy.
 *
 * The beat is the configured one until the connected nodes would send more than max_heartbeats_per_second between
 * them; then it is lengthened (effectiveBeatMs) and every v3 channel is told, so the beats cost the manager a
 * bounded share of its time however large the cluster.
 */
import type { Clock, TimerHandle } from '../../base/clock.js';
import { formatDuration } from '../../base/duration.js';
import type { Logger } from '../../base/logger.js';
import type { Envelope, FramedConnection, StreamRoute, Keyring, DropCounters, Message } from '../wire/index.js';
import { CONTROL_VERSIONS, ControlType, DEFERRED_ACK_VERSION, KEEPALIVE_VERSION, createControlRegistry, isJoin } from '../control/messages.js';
import { effectiveBeatMs, keepalive } from '../control/heartbeat.js';
import { statsDeltaOf } from '../control/stats-body.js';
import { KeyTable } from '../../stats/packed.js';
import type { StatsDelta } from '../../stats/collector.js';
import type { ConfigAckBody, ConfigBody, ConfigNackBody, DemandBody, JoinBody, LeaseBody, RefusedBody, StatsAckBody, WelcomeBody } from '../control/messages.js';

export type Verdict = { kind: 'welcome'; welcome: WelcomeBody } | { kind: 'refused'; refused: RefusedBody };

export type ConfigAnswer =
  | { kind: 'ack'; version: number; hash: string }
  | { kind: 'nack'; version: number; error: string }
  | { kind: 'timeout' }
  | { kind: 'not_connected' };

export interface ControlServerOptions {
  clock: Clock;
  logger: Logger;
  keyring: Keyring | undefined;
  drops: DropCounters;
  /** The configured beat: the shortest the channels ever get. */
  heartbeatMs: number;
  /**
   * Heartbeats per second the manager is willing to take from all channels together (0 or absent: no bound); the
   * beat is lengthened past `heartbeatMs` to stay under it as nodes join (effectiveBeatMs).
   */
  maxHeartbeatsPerSecond?: number;
  /** How long a new connection may take to send its join. */
  joinTimeoutMs?: number;
  admit(join: JoinBody, remote: string): Promise<Verdict>;
  /** The node said goodbye (SIGTERM). */
  onLeave(id: string): void;
  /** The channel closed or went silent without a goodbye. */
  onLost(id: string): void;
  /** Any message from the node: it is alive. */
  onSeen(id: string): void;
  /** A node answered a config push (also the answers no one waits for: a push at welcome). */
  onConfigAnswer?(id: string, answer: ConfigAnswer): void;
  /** A node has just been welcomed (its session is open): e.g. send it the current config. */
  onWelcomed?(id: string, join: JoinBody): void;
  /** A node's demand report for the cluster-wide limits. */
  onDemand?(id: string, demand: DemandBody): void;
  /**
   * A node's stats delta, received at `receivedAt` (clock.now()); answered with a StatsAck for its seq. The delta
   * is valid during the call only: its objects are reused for the next delta (copy what you keep). Deltas are
   * handed over in batches, up to STATS_BATCH_MS after they arrived.
   */
  onStats?(id: string, delta: StatsDelta, receivedAt: number): void;
}

interface Session {
  id: string;
  connection: FramedConnection;
  stopHeartbeat: () => void;
  left: boolean;
  /** The beat the node was last told (welcome or Keepalive). */
  beatMs: number;
  /** The silence this side tolerates on the channel now (the connection's idle timeout). */
  silenceMs: number;
  /** Brings silenceMs down to 3 beats once the node has surely heard a shorter beat. */
  shorten: TimerHandle | undefined;
  /** The stats ack not sent yet (v3 channels): it goes as the next beat, or ahead of any other message. */
  ack: StatsAckBody | undefined;
}

/**
 * Deltas are decoded and handed to onStats in batches, at most this long after they arrive. One at a time, each
 * delta found the window's series and the decoder cold in the CPU caches (the network work between two deltas
 * evicts them): at 1,000 nodes a batch of ~20 costs about half as much per delta.
 */
export const STATS_BATCH_MS = 100;
const STATS_BATCH_MAX = 64;

interface ReceivedStats {
  session: Session;
  body: unknown;
  receivedAt: number;
}

export class ControlServer {
  private readonly options: ControlServerOptions;
  private readonly registry = createControlRegistry();
  private readonly sessions = new Map<string, Session>();
  private readonly waiters = new Map<string, (answer: ConfigAnswer) => void>();
  /**
   * One for every session: nodes running the same config send the same key table, so the keys are decoded once
   * for the cluster and one set of entry objects is overwritten by each delta (consumed synchronously by onStats).
   */
  private readonly keyTable = new KeyTable();
  private beatMs: number;
  private closing = false;
  private statsQueue: ReceivedStats[] = [];
  private statsTimer: TimerHandle | undefined;

  constructor(options: ControlServerOptions) {
    this.options = options;
    this.beatMs = options.heartbeatMs;
  }

  /** The beat new channels get now (the configured one, or longer in a large cluster). */
  get heartbeatMs(): number {
    return this.beatMs;
  }

  /** The route to mount on the cluster port's StreamServer. */
  route(): StreamRoute {
    return {
      options: {
        registry: this.registry,
        versions: CONTROL_VERSIONS,
        clock: this.options.clock,
        drops: this.options.drops,
        // Three missed heartbeats: a half-open TCP connection (a node whose host vanished) is found.
        idleTimeoutMs: this.options.heartbeatMs * 3,
        ...(this.options.keyring ? { keyring: this.options.keyring } : {}),
      },
      onConnection: (conn) => void this.serve(conn),
    };
  }

  /** Ids of nodes with an open control channel. */
  connected(): string[] {
    return [...this.sessions.keys()];
  }

  isConnected(id: string): boolean {
    return this.sessions.has(id);
  }

  /** Sends a node its limits; false when it has no open channel. */
  async sendLimits(id: string, limits: LeaseBody[]): Promise<boolean> {
    const session = this.sessions.get(id);
    if (!session) return false;
    try {
      this.flushAck(session);
      await session.connection.send({ type: ControlType.Limits, body: { limits } });
      return true;
    } catch {
      return false;
    }
  }

  /** Pushes a config version to a node and waits for its ack or nack (or the timeout). */
  pushConfig(id: string, config: ConfigBody, timeoutMs: number): Promise<ConfigAnswer> {
    const session = this.sessions.get(id);
    if (!session) return Promise.resolve({ kind: 'not_connected' });
    const key = `${id}#${config.version}`;
    return new Promise<ConfigAnswer>((resolve) => {
      const timer = this.options.clock.setTimeout(() => finish({ kind: 'timeout' }), timeoutMs);
      const finish = (answer: ConfigAnswer) => {
        this.options.clock.clearTimeout(timer);
        if (this.waiters.get(key) === finish) this.waiters.delete(key);
        resolve(answer);
      };
      this.waiters.set(key, finish);
      this.flushAck(session);
      session.connection.send({ type: ControlType.Config, body: config }).catch(() => finish({ kind: 'not_connected' }));
    });
  }

  /** Tells an admitted node to stop serving (a smaller subscription), and closes its session. */
  async degrade(id: string, refused: RefusedBody): Promise<void> {
    const session = this.sessions.get(id);
    if (!session) return;
    session.left = true;
    this.flushAck(session);
    await session.connection.send({ type: ControlType.Refused, body: refused }).catch(() => {});
    await session.connection.close().catch(() => {});
  }

  async close(): Promise<void> {
    this.closing = true;
    this.flushStats();
    const all = [...this.sessions.values()];
    for (const s of all) s.left = true;
    await Promise.all(all.map((s) => s.connection.close().catch(() => {})));
  }

  private async serve(conn: FramedConnection): Promise<void> {
    const remote = `${conn.remoteAddress ?? '?'}:${conn.remotePort ?? 0}`;
    let join: JoinBody;
    try {
      const first = await conn.receive(this.options.joinTimeoutMs ?? 10_000);
      if (first.type !== ControlType.Join || !isJoin(first.body)) {
        this.options.logger.debug(`[CONTROL] ${remote} sent ${this.registry.nameOf(first.type)} before joining: closed`);
        conn.destroy();
        return;
      }
      join = first.body;
    } catch (err) {
      this.options.logger.debug(`[CONTROL] ${remote} did not join: ${(err as Error).message}`);
      conn.destroy();
      return;
    }

    const verdict = await this.options.admit(join, remote);
    if (verdict.kind === 'refused') {
      await conn.send({ type: ControlType.Refused, body: verdict.refused }).catch(() => {});
      await conn.close().catch(() => {});
      return;
    }
    const id = verdict.welcome.id;
    const previous = this.sessions.get(id);
    if (previous) {
      // The same node reconnected (its old channel is half-open): the new one wins.
      previous.left = true;
      previous.connection.destroy();
    }
    // The beat is the channel's business: the node gets the one in force when the welcome leaves.
    const beatMs = this.beatMs;
    try {
      await conn.send({ type: ControlType.Welcome, body: { ...verdict.welcome, heartbeatMs: beatMs } });
    } catch {
      this.options.onLost(id);
      return;
    }
    // Beats only when idle; the connection's idle timeout (3 beats) closes a node gone silent.
    const session: Session = { id, connection: conn, stopHeartbeat: () => {}, left: false, beatMs, silenceMs: beatMs * 3, shorten: undefined, ack: undefined };
    session.stopHeartbeat = this.keepalive(session, beatMs);
    conn.setIdleTimeout(session.silenceMs);
    this.sessions.set(id, session);
    this.retune();
    this.options.onWelcomed?.(id, join);

    // Cleanup runs once: at the node's goodbye, or when the channel ends without one.
    let ended = false;
    const end = (): void => {
      if (ended) return;
      ended = true;
      session.stopHeartbeat();
      this.options.clock.clearTimeout(session.shorten);
      if (this.sessions.get(id) === session) this.sessions.delete(id);
      this.retune();
      if (!session.left) this.options.onLost(id);
    };
    try {
      await conn.consume((envelope) => {
        if (ended) return;
        this.options.onSeen(id);
        if (envelope.type === ControlType.Leave) {
          session.left = true;
          this.options.onLeave(id);
          end();
          void conn.close().catch(() => {});
          return;
        }
        this.onMessage(session, envelope);
      });
    } catch (err) {
      this.options.logger.debug(`[CONTROL] ${id}: ${(err as Error).message}`);
    }
    end();
    await conn.close().catch(() => {});
  }

  /** A message of an open session other than its goodbye. */
  private onMessage(session: Session, envelope: Envelope): void {
    const { id, connection: conn } = session;
    switch (envelope.type) {
      case ControlType.Stats:
        this.statsQueue.push({ session, body: envelope.body, receivedAt: this.options.clock.now() });
        if (this.statsQueue.length >= STATS_BATCH_MAX) this.flushStats();
        else if (this.statsTimer === undefined) {
          this.statsTimer = this.options.clock.setTimeout(() => this.flushStats(), STATS_BATCH_MS);
          this.statsTimer.unref();
        }
        return;
      case ControlType.Demand:
        this.options.onDemand?.(id, envelope.body as DemandBody);
        return;
      case ControlType.ConfigAck:
      case ControlType.ConfigNack: {
        const body = envelope.body as ConfigAckBody & ConfigNackBody;
        const answer: ConfigAnswer =
          envelope.type === ControlType.ConfigAck
            ? { kind: 'ack', version: body.version, hash: body.hash }
            : { kind: 'nack', version: body.version, error: body.error };
        this.options.onConfigAnswer?.(id, answer);
        this.waiters.get(`${id}#${body.version}`)?.(answer);
        return;
      }
    }
  }

  /** After a session opened or closed: a new beat when the cluster crossed a multiple of max_heartbeats_per_second. */
  private retune(): void {
    if (this.closing) return;
    const rate = this.options.maxHeartbeatsPerSecond ?? 0;
    const next = effectiveBeatMs(this.options.heartbeatMs, this.sessions.size, rate);
    if (next === this.beatMs) return;
    this.beatMs = next;
    const n = this.sessions.size;
    this.options.logger.info(
      `Control channel heartbeat set to ${formatDuration(next)} for ${n} node${n === 1 ? '' : 's'} (max_heartbeats_per_second: ${rate})`,
    );
    for (const session of this.sessions.values()) {
      // An older node would drop the message and go on with its welcome's beat: both sides keep that one.
      if (session.connection.version >= KEEPALIVE_VERSION && session.beatMs !== next) this.announce(session, next);
    }
  }

  /** Decodes the deltas received since the last batch, hands them over, and acks them. */
  private flushStats(): void {
    this.options.clock.clearTimeout(this.statsTimer);
    this.statsTimer = undefined;
    const batch = this.statsQueue;
    if (batch.length === 0) return;
    this.statsQueue = [];
    for (const { session, body, receivedAt } of batch) {
      const delta = statsDeltaOf(body, this.keyTable);
      if (delta === undefined) continue;
      this.options.onStats?.(session.id, delta, receivedAt);
      const ack: StatsAckBody = { stream: delta.stream, seq: delta.seq };
      if (session.connection.version >= DEFERRED_ACK_VERSION) {
        // Acks are cumulative: at 1,000 nodes an ack per delta was half of the manager's writes.
        if (session.ack !== undefined && session.ack.stream !== ack.stream) this.flushAck(session);
        session.ack = ack;
      } else {
        session.connection.send({ type: ControlType.StatsAck, body: ack }).catch(() => {});
      }
    }
  }

  /** Beats only when idle; a beat carries the deferred stats ack when there is one. */
  private keepalive(session: Session, beatMs: number): () => void {
    const beat = (): Message | undefined => {
      const ack = session.ack;
      session.ack = undefined;
      return ack === undefined ? undefined : { type: ControlType.StatsAck, body: ack };
    };
    return keepalive(session.connection, { clock: this.options.clock, beatMs, beat });
  }

  /** Sends the deferred stats ack now: ahead of another message, it leaves in the same write. */
  private flushAck(session: Session): void {
    // Deltas still in the batch are taken in first, so that the ack covers them too.
    if (this.statsQueue.length > 0) this.flushStats();
    const ack = session.ack;
    if (ack === undefined) return;
    session.ack = undefined;
    session.connection.send({ type: ControlType.StatsAck, body: ack }).catch(() => {});
  }

  private announce(session: Session, beatMs: number): void {
    const conn = session.connection;
    this.flushAck(session);
    conn.send({ type: ControlType.Keepalive, body: { heartbeatMs: beatMs } }).catch(() => {});
    session.stopHeartbeat();
    session.stopHeartbeat = this.keepalive(session, beatMs);
    session.beatMs = beatMs;
    this.options.clock.clearTimeout(session.shorten);
    session.shorten = undefined;
    const target = beatMs * 3;
    if (target >= session.silenceMs) {
      session.silenceMs = target;
      conn.setIdleTimeout(target);
      return;
    }
    // Shorter: until the message arrives the node may still beat at any beat it was told before, and the silence
    // in force is at least 3 of those. Keep it for that long after the announcement, so a node that followed the
    // rules is never cut; a further change restarts the wait (never shorter than what is in force).
    session.shorten = this.options.clock.setTimeout(() => {
      session.shorten = undefined;
      session.silenceMs = session.beatMs * 3;
      conn.setIdleTimeout(session.silenceMs);
    }, session.silenceMs);
    session.shorten.unref();
  }
}
