/**
 * The cluster agent inside a node (ARCHITECTURE.md, part 4): dials a manager from its seed list, gets its id over
 * the control channel, keeps the channel alive with heartbeats (when idle), follows the manager's verdicts
 * (admitted, refused, degraded) and leaves gracefully. The node keeps serving whenever no manager answers: losing the
 * manager changes nothing for API traffic.
 */
import type { Clock, TimerHandle } from '../../base/clock.js';
import { systemClock } from '../../base/clock.js';
import type { Logger } from '../../base/logger.js';
import type { Random } from '../../base/random.js';
import { SeededRandom, cryptoUuid } from '../../base/random.js';
import { FramedConnection, Keyring, StreamKind } from '../wire/index.js';
import type { Envelope, MessageRegistry } from '../wire/index.js';
import {
  CONTROL_VERSIONS,
  ControlType,
  createControlRegistry,
  isKeepalive,
  isRefused,
  isWelcome,
} from '../control/messages.js';
import type { ConfigBody, DemandBody, JoinBody, LeaseBody, RefusedBody, WelcomeBody } from '../control/messages.js';
import { keepalive } from '../control/heartbeat.js';
import { statsBody } from '../control/stats-body.js';
import type { HostPort, ServiceFile } from './service-file.js';
import { formatHostPort } from './service-file.js';
import { readNodeId, writeNodeId } from './node-identity.js';
import type { StatsCollector } from '../../stats/collector.js';

export type AgentState = 'connecting' | 'admitted' | 'refused' | 'left';

/** Handshake failures that mean the manager does not accept this node's cluster key (wire RefusalReason). */
const KEY_REFUSALS = new Set(['key_required', 'no_key_configured', 'unknown_key', 'auth_failed']);

/** What the agent needs from the node it runs in. */
export interface AgentHost {
  /** Stop (reason) or resume (undefined) serving API traffic. */
  setRefusal(reason: string | undefined): void;
}

export interface AgentOptions {
  service: ServiceFile;
  host: AgentHost;
  logger: Logger;
  version: string;
  /** host:port where this node serves its API. */
  apiAddress: string;
  /** host:port of this node's cluster port (gossip), once bound. */
  clusterAddress?: () => string | undefined;
  clock?: Clock;
  random?: Random;
  /** First and largest reconnect delays; each try waits a random time up to the current step (full jitter). */
  backoffMs?: { initial: number; max: number };
  /** How long to wait for the manager's answer to a join. */
  joinTimeoutMs?: number;
  /** Told each time the manager admits the node (the id, the manager's cluster address). */
  onAdmitted?: (id: string, welcome: WelcomeBody) => void;
  /** Told of each set of limits the manager sends. */
  onLimits?: (limits: LeaseBody[]) => void;
  /** Applies a config version from the manager; resolves with the verdict to send back (ack or nack). */
  onConfig?: (config: ConfigBody) => Promise<{ ok: true } | { ok: false; error: string }>;
  /** The config version the node serves, sent with each join so the manager only sends news. */
  currentConfig?: () => { version: number; hash: string } | undefined;
  /** After this long with no manager at all, `onManagerGone` is called once (and `onManagerBack` on return). */
  managerGraceMs?: number;
  onManagerGone?: () => void;
  onManagerBack?: () => void;
  /** The demand report sent every `limitRefreshMs` (the manager's, from welcome) while admitted. */
  demandReport?: () => DemandBody | undefined;
  /** Applies leases; true when some share went down (then `leaseAck` is sent at once). */
  applyLeases?: (leases: LeaseBody[]) => boolean;
  leaseAck?: () => DemandBody | undefined;
  /** The node's stats collector: its deltas go to the manager every `statsIntervalMs` until acknowledged. */
  stats?: StatsCollector;
}

export class ClusterAgent {
  private readonly options: AgentOptions;
  private readonly clock: Clock;
  private readonly random: Random;
  private readonly registry: MessageRegistry;
  private readonly keyring: Keyring | undefined;
  private readonly instanceToken = cryptoUuid();
  private readonly logger: Logger;
  private currentState: AgentState = 'connecting';
  private nodeId: string | undefined;
  private connection: FramedConnection | undefined;
  private stopHeartbeat: (() => void) | undefined;
  private beatMs: number | undefined;
  private retry: TimerHandle | undefined;
  private attempt = 0;
  private seedIndex = 0;
  private stopped = false;
  private lastLimits: LeaseBody[] = [];
  private lastContact = 0;
  private managerGone = false;
  private graceCheck: TimerHandle | undefined;
  private reporter: TimerHandle | undefined;
  private statsTimer: TimerHandle | undefined;

  constructor(options: AgentOptions) {
    this.options = options;
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? new SeededRandom();
    this.registry = createControlRegistry();
    this.keyring = options.service.clusterKeys.length > 0 ? Keyring.fromConfig(options.service.clusterKeys) : undefined;
    this.logger = options.logger;
  }

  get state(): AgentState {
    return this.currentState;
  }

  get id(): string | undefined {
    return this.nodeId;
  }

  get limits(): readonly LeaseBody[] {
    return this.lastLimits;
  }

  /** The control channel's beat, as the manager last set it (undefined before the first welcome). */
  get heartbeatMs(): number | undefined {
    return this.beatMs;
  }

  /** Starts dialling; returns at once. */
  async start(): Promise<void> {
    this.nodeId = await readNodeId(this.options.service.stateDir);
    if (!this.keyring) {
      this.logger.warning('[CLUSTER] No cluster_key in the service file: cluster traffic is neither encrypted nor authenticated');
    }
    this.lastContact = this.clock.monotonic();
    const grace = this.options.managerGraceMs;
    if (grace !== undefined && grace > 0) {
      this.graceCheck = this.clock.setInterval(() => this.checkGrace(grace), Math.max(10, Math.min(60_000, grace / 10)));
      this.graceCheck.unref();
    }
    this.dial();
  }

  /** Whether the node has gone without any manager for longer than manager_grace. */
  get standalone(): boolean {
    return this.managerGone;
  }

  private checkGrace(grace: number): void {
    if (this.connection || this.managerGone) return;
    if (this.clock.monotonic() - this.lastContact < grace) return;
    this.managerGone = true;
    this.logger.warning(
      `[CLUSTER] No manager for longer than manager_grace (${Math.round(grace / 1000)}s): running standalone with per-instance limits until a manager answers`,
    );
    this.options.onManagerGone?.();
  }

  /** Leaves gracefully: tells the manager (so it marks the node `removed` at once) and stops dialling. */
  async leave(): Promise<void> {
    this.stopped = true;
    this.clock.clearTimeout(this.retry);
    this.stopHeartbeat?.();
    this.clock.clearInterval(this.graceCheck);
    this.clock.clearInterval(this.reporter);
    this.clock.clearInterval(this.statsTimer);
    const conn = this.connection;
    this.connection = undefined;
    if (conn && !conn.isClosed && this.nodeId && this.currentState === 'admitted') {
      try {
        await conn.send({ type: ControlType.Leave, body: { id: this.nodeId } });
        this.logger.info(`[CLUSTER] Left the cluster as ${this.nodeId}`);
      } catch {
        // The manager is gone already: gossip tells the others.
      }
    }
    this.currentState = 'left';
    await conn?.close().catch(() => {});
  }

  private seed(): HostPort {
    const seeds = this.options.service.seeds;
    const s = seeds[this.seedIndex % seeds.length] as HostPort;
    this.seedIndex++;
    return s;
  }

  private dial(): void {
    if (this.stopped) return;
    const seed = this.seed();
    this.connect(seed).catch((err: unknown) => {
      if (this.stopped) return;
      const reason = (err as { reason?: unknown }).reason;
      if (typeof reason === 'string' && KEY_REFUSALS.has(reason)) {
        // A manager that does not take our key refuses us as surely as a `refused` message: serve nothing (503),
        // say why, and keep retrying (the operator may fix the key on either side).
        this.refused({
          reason: 'invalid',
          message: `the manager at ${formatHostPort(seed)} refused this node's cluster key: ${(err as Error).message}`,
          retryMs: 0,
        });
      } else {
        this.logger.debug(`[CLUSTER] Manager ${formatHostPort(seed)} not reachable: ${(err as Error).message}`);
      }
      this.scheduleRetry();
    });
  }

  private scheduleRetry(minimumMs = 0): void {
    if (this.stopped) return;
    // Full jitter up to 10 s: 1,000 nodes redialling a restarted manager spread over 10 s (100 handshakes a
    // second), and no node waits longer than that once the manager is back.
    const { initial, max } = this.options.backoffMs ?? { initial: 500, max: 10_000 };
    const step = Math.min(max, initial * 2 ** Math.min(this.attempt, 16));
    this.attempt++;
    const wait = Math.max(minimumMs, Math.floor(this.random.float() * step));
    this.clock.clearTimeout(this.retry);
    this.retry = this.clock.setTimeout(() => this.dial(), wait);
    this.retry.unref();
  }

  private async connect(seed: HostPort): Promise<void> {
    const conn = await FramedConnection.connect({
      host: seed.host,
      port: seed.port,
      kind: StreamKind.Control,
      registry: this.registry,
      versions: CONTROL_VERSIONS,
      ...(this.keyring ? { keyring: this.keyring } : {}),
      clock: this.clock,
      connectTimeoutMs: 5_000,
    });
    if (this.stopped) {
      conn.destroy();
      return;
    }
    const current = this.options.currentConfig?.();
    const join: JoinBody = {
      version: this.options.version,
      instanceToken: this.instanceToken,
      name: this.options.service.name,
      apiAddress: this.options.apiAddress,
      ...(this.nodeId ? { claimedId: this.nodeId } : {}),
      ...(this.options.clusterAddress?.() ? { clusterAddress: this.options.clusterAddress() as string } : {}),
      ...(current ? { configVersion: current.version, configHash: current.hash } : {}),
    };
    await conn.send({ type: ControlType.Join, body: join });
    const answer = await conn.receive(this.options.joinTimeoutMs ?? 10_000);
    if (answer.type === ControlType.Refused && isRefused(answer.body)) {
      this.refused(answer.body);
      await conn.close().catch(() => {});
      this.scheduleRetry(answer.body.retryMs);
      return;
    }
    if (answer.type !== ControlType.Welcome || !isWelcome(answer.body)) {
      conn.destroy();
      throw new Error(`unexpected answer to join: ${this.registry.nameOf(answer.type)}`);
    }
    await this.admitted(conn, answer.body, seed);
  }

  private refused(body: RefusedBody): void {
    if (this.currentState !== 'refused') {
      this.logger.warning(`[CLUSTER] The manager refused this node (${body.reason}): ${body.message}`);
    }
    this.currentState = 'refused';
    this.options.host.setRefusal(`refused by the cluster manager: ${body.message}`);
  }

  private async admitted(conn: FramedConnection, welcome: WelcomeBody, seed: HostPort): Promise<void> {
    const previous = this.nodeId;
    this.nodeId = welcome.id;
    if (previous !== welcome.id) {
      await writeNodeId(this.options.service.stateDir, welcome.id);
      if (previous) this.logger.warning(`[CLUSTER] The manager assigned a new id ${welcome.id} (was ${previous}: another live node claims it)`);
    }
    this.attempt = 0;
    this.connection = conn;
    this.lastContact = this.clock.monotonic();
    if (this.managerGone) {
      this.managerGone = false;
      this.logger.info('[CLUSTER] A manager answers again: back in the cluster');
      this.options.onManagerBack?.();
    }
    this.currentState = 'admitted';
    this.options.host.setRefusal(undefined);
    this.logger.info(`[CLUSTER] Admitted by the manager at ${formatHostPort(seed)} as ${welcome.id}`);
    // onAdmitted first: it passes on the welcome's settings the leases are applied with (the grace period).
    this.options.onAdmitted?.(welcome.id, welcome);
    this.applyLimits(welcome.limits);

    this.startKeepalive(conn, welcome.heartbeatMs);
    this.clock.clearInterval(this.reporter);
    if (this.options.demandReport && welcome.limitRefreshMs) {
      const report = this.options.demandReport;
      const send = () => {
        const body = report();
        if (body) conn.send({ type: ControlType.Demand, body }).catch(() => {});
      };
      this.reporter = this.clock.setInterval(send, welcome.limitRefreshMs);
      this.reporter.unref();
      // At once too: the manager learns this node's limits now, and leases within a round trip.
      send();
    }
    this.clock.clearInterval(this.statsTimer);
    const stats = this.options.stats;
    if (stats && welcome.statsIntervalMs) {
      // A new channel first carries everything not yet acknowledged, oldest first (a resend is never counted twice:
      // the manager dedups). On one channel each delta goes once: TCP delivers it or the channel closes, so the
      // manager may take its time to ack (DEFERRED_ACK_VERSION) without the deltas being sent again meanwhile.
      let sentThrough = 0;
      this.statsTimer = this.clock.setInterval(() => {
        stats.takeDelta();
        for (const delta of stats.pending()) {
          if (delta.seq <= sentThrough) continue;
          sentThrough = delta.seq;
          conn.send({ type: ControlType.Stats, body: statsBody(delta, conn.version) }).catch(() => {});
        }
      }, welcome.statsIntervalMs);
      this.statsTimer.unref();
    }

    void this.readLoop(conn);
  }

  /**
   * Beats only when idle, and a manager silent for 3 beats (frozen, or its host gone) closes the channel: the
   * agent then reconnects, to another seed if there is one. The manager lengthens the beat as the cluster grows.
   */
  private startKeepalive(conn: FramedConnection, beatMs: number): void {
    this.stopHeartbeat?.();
    this.beatMs = beatMs;
    this.stopHeartbeat = keepalive(conn, { clock: this.clock, beatMs, silenceMs: beatMs * 3 });
  }

  private async readLoop(conn: FramedConnection): Promise<void> {
    try {
      await conn.consume((envelope) => this.handle(envelope, conn));
    } catch (err) {
      this.logger.debug(`[CLUSTER] Control channel closed: ${(err as Error).message}`);
    }
    if (this.connection !== conn) return;
    this.connection = undefined;
    this.lastContact = this.clock.monotonic();
    this.stopHeartbeat?.();
    this.clock.clearInterval(this.reporter);
    this.clock.clearInterval(this.statsTimer);
    if (this.stopped) return;
    // Still admitted as far as serving goes: a lost manager changes nothing for API traffic.
    this.logger.warning('[CLUSTER] Lost the control channel to the manager: reconnecting');
    this.scheduleRetry();
  }

  private handle(envelope: Envelope, conn: FramedConnection): void {
    this.lastContact = this.clock.monotonic();
    switch (envelope.type) {
      case ControlType.Keepalive:
        if (isKeepalive(envelope.body) && this.connection === conn) this.startKeepalive(conn, envelope.body.heartbeatMs);
        return;
      case ControlType.Config:
        void this.applyConfig(envelope.body as ConfigBody);
        return;
      case ControlType.StatsAck:
        this.options.stats?.ack((envelope.body as { seq: number }).seq);
        return;
      case ControlType.Limits:
        this.applyLimits((envelope.body as { limits: LeaseBody[] }).limits);
        return;
      case ControlType.Refused:
        // Degraded by the manager (a smaller subscription): stop serving until admitted again.
        if (isRefused(envelope.body)) {
          this.refused(envelope.body);
          this.connection?.destroy();
        }
        return;
      default:
        return;
    }
  }

  private async applyConfig(config: ConfigBody): Promise<void> {
    const conn = this.connection;
    const verdict = this.options.onConfig
      ? await this.options.onConfig(config).catch((err: unknown) => ({ ok: false as const, error: (err as Error).message }))
      : { ok: false as const, error: 'this node does not take configs from the manager' };
    const message = verdict.ok
      ? { type: ControlType.ConfigAck, body: { version: config.version, hash: config.hash } }
      : { type: ControlType.ConfigNack, body: { version: config.version, error: verdict.error.slice(0, 60_000) } };
    await conn?.send(message).catch(() => {});
  }

  private applyLimits(limits: LeaseBody[]): void {
    this.lastLimits = limits;
    this.options.onLimits?.(limits);
    if (this.options.applyLeases?.(limits)) {
      const ack = this.options.leaseAck?.();
      if (ack) this.connection?.send({ type: ControlType.Demand, body: ack }).catch(() => {});
    }
  }
}
