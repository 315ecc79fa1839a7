/**
 * The manager's side of the control channel: one session per admitted node. It reads the join, asks the
 * admission callback for a verdict, answers welcome or refused, then keeps the session: heartbeats both ways
 * when idle, `leave` (graceful: the node is `removed` at once) and a channel that closes without one (the node is
 * `unreachable` at once; gossip decides later whether it is really gone). Nothing here decides policy.
 */
import type { Clock } from '../../base/clock.js';
import type { Logger } from '../../base/logger.js';
import type { FramedConnection, StreamRoute, Keyring, DropCounters } from '../wire/index.js';
import { CONTROL_VERSIONS, ControlType, createControlRegistry, isJoin } from '../control/messages.js';
import { keepalive } from '../control/heartbeat.js';
import { statsDeltaOf } from '../control/stats-body.js';
import { KeyTable } from '../../stats/packed.js';
import type { StatsDelta } from '../../stats/collector.js';
import type { ConfigAckBody, ConfigBody, ConfigNackBody, DemandBody, JoinBody, LeaseBody, RefusedBody, WelcomeBody } from '../control/messages.js';

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
  heartbeatMs: number;
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
   * A node's stats delta; answered with a StatsAck for its seq. The delta is valid during the call only: its
   * objects are reused for the next delta (copy what you keep).
   */
  onStats?(id: string, delta: StatsDelta): void;
}

interface Session {
  id: string;
  connection: FramedConnection;
  stopHeartbeat: () => void;
  left: boolean;
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

  constructor(options: ControlServerOptions) {
    this.options = options;
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
      session.connection.send({ type: ControlType.Config, body: config }).catch(() => finish({ kind: 'not_connected' }));
    });
  }

  /** Tells an admitted node to stop serving (a smaller subscription), and closes its session. */
  async degrade(id: string, refused: RefusedBody): Promise<void> {
    const session = this.sessions.get(id);
    if (!session) return;
    session.left = true;
    await session.connection.send({ type: ControlType.Refused, body: refused }).catch(() => {});
    await session.connection.close().catch(() => {});
  }

  async close(): Promise<void> {
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
    try {
      await conn.send({ type: ControlType.Welcome, body: verdict.welcome });
    } catch {
      this.options.onLost(id);
      return;
    }
    // Beats only when idle; the route's idle timeout (3 beats) closes a node gone silent.
    const stopHeartbeat = keepalive(conn, { clock: this.options.clock, beatMs: this.options.heartbeatMs });
    const session: Session = { id, connection: conn, stopHeartbeat, left: false };
    this.sessions.set(id, session);
    this.options.onWelcomed?.(id, join);

    try {
      for await (const envelope of conn) {
        this.options.onSeen(id);
        if (envelope.type === ControlType.Leave) {
          session.left = true;
          this.options.onLeave(id);
          break;
        }
        if (envelope.type === ControlType.Stats) {
          const delta = statsDeltaOf(envelope.body, this.keyTable);
          if (delta === undefined) continue;
          this.options.onStats?.(id, delta);
          conn.send({ type: ControlType.StatsAck, body: { stream: delta.stream, seq: delta.seq } }).catch(() => {});
          continue;
        }
        if (envelope.type === ControlType.Demand) {
          this.options.onDemand?.(id, envelope.body as DemandBody);
          continue;
        }
        if (envelope.type === ControlType.ConfigAck || envelope.type === ControlType.ConfigNack) {
          const body = envelope.body as ConfigAckBody & ConfigNackBody;
          const answer: ConfigAnswer =
            envelope.type === ControlType.ConfigAck
              ? { kind: 'ack', version: body.version, hash: body.hash }
              : { kind: 'nack', version: body.version, error: body.error };
          this.options.onConfigAnswer?.(id, answer);
          this.waiters.get(`${id}#${body.version}`)?.(answer);
        }
      }
    } catch (err) {
      this.options.logger.debug(`[CONTROL] ${id}: ${(err as Error).message}`);
    }
    stopHeartbeat();
    if (this.sessions.get(id) === session) this.sessions.delete(id);
    if (!session.left) this.options.onLost(id);
    await conn.close().catch(() => {});
  }
}
