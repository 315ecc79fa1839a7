/**
 * The Cluster Manager (ARCHITECTURE.md, part 5): admits nodes and gives each its id, enforces the subscription,
 * follows each node's lifecycle (alive, unreachable, down, removed, refused), and serves the JSON API. Its
 * durable state — node ids, the last good license, its own identity — lives in a crash-safe Store; soft state
 * (last seen) stays in memory.
 *
 * Designed for a later group of managers: every decision goes through the registry and the Store (a replicated
 * store can implement it), and welcomes carry `{managerId, epoch}` so nodes can tell a deposed leader.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { watchFile, unwatchFile } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Clock, TimerHandle } from '../../base/clock.js';
import { systemClock } from '../../base/clock.js';
import type { Logger } from '../../base/logger.js';
import { cryptoUuid } from '../../base/random.js';
import { DropCounters, Keyring, PLAINTEXT_WARNING, StreamKind } from '../wire/index.js';
import { Membership, NetTransport } from '../membership/index.js';
import type { AdmissionCandidate } from '../membership/index.js';
import type { JoinBody, RefusedBody } from '../control/messages.js';
import { ControlServer } from './control-server.js';
import type { ConfigAnswer, Verdict } from './control-server.js';
import { ConfigVersions } from './config-versions.js';
import type { DiffEntry } from './json-diff.js';
import { LeaseBook } from '../../ratelimit/cluster/index.js';
import { StatsWindow } from '../../stats/window.js';
import { acquireStateLock } from './state-lock.js';
import type { StateLock } from './state-lock.js';
import type { StatsQuery, StatsQueryResult, StatsSummary } from '../../stats/window.js';
import type { CircuitState } from '../../stats/collector.js';
import type { NodeLeases } from '../../ratelimit/cluster/index.js';
import type { DemandBody } from '../control/messages.js';
import type { ManagerConfig } from './manager-config.js';
import { FileStore } from './store.js';
import type { Store } from './store.js';
import { NodeRegistry } from './registry.js';
import type { NodeEntry, RegistryChange } from './registry.js';
import { loadRegistry, persistRegistryChanges } from './registry-store.js';
import { LicenseKeeper } from './license.js';
import type { LicenseState } from './license.js';
import { SUBSCRIPTION_FULL_MESSAGE } from './admission-policy.js';
import { ApiToken } from './api-token.js';
import { startManagerApi } from './http-api.js';
import type { ManagerApi } from './http-api.js';

export interface NodeConfigStatus {
  version: number | undefined;
  hash: string | undefined;
  /** The last nack, until an ack clears it. */
  error: string | undefined;
  at: number;
}

export type RolloutResult =
  | { ok: false; errors: string[] }
  | {
      ok: true;
      version: number;
      hash: string;
      unchanged: boolean;
      dryRun: boolean;
      diff: DiffEntry[];
      answers: Record<string, ConfigAnswer>;
      /** A canary answered nack (or not at all): the rest were not pushed. */
      halted: boolean;
    };

/** How long a node may take to validate and swap in a pushed config. */
const CONFIG_PUSH_TIMEOUT_MS = 15_000;

export interface ManagerDeps {
  logger: Logger;
  version: string;
  clock?: Clock;
  /**
   * The stats window to start from, instead of an empty one: `npm run bench:stats` hands in a window it filled with
   * an hour of deltas at simulated times (the window is pure and takes `now`), so it need not wait an hour.
   */
  statsWindow?: StatsWindow;
}

const IDENTITY_KEY = 'manager/identity';
const LICENSE_KEY = 'manager/license';
const TICK_MS = 1_000;
const DAY_MS = 86_400_000;

export class ClusterManager {
  readonly config: ManagerConfig;
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly version: string;
  private readonly drops = { udp: new DropCounters(), tcp: new DropCounters() };
  private store: Store | undefined;
  private registry = new NodeRegistry();
  private license!: LicenseKeeper;
  private licenseMax = 0;
  private token!: ApiToken;
  private control!: ControlServer;
  private membership: Membership | undefined;
  private stateLock: StateLock | undefined;
  private transport: NetTransport | undefined;
  private api: ManagerApi | undefined;
  private ticker: TimerHandle | undefined;
  private dailyLicense: TimerHandle | undefined;
  private identity = { managerId: '', epoch: 0 };
  private clusterAddress: AddressInfo | undefined;
  private readonly lastRefusalLog = new Map<string, number>();
  private versions!: ConfigVersions;
  private leases!: LeaseBook;
  /** Nodes' stats over the window, bucketed by this manager's receive time; kept for removed and down nodes too. */
  private readonly stats: StatsWindow;
  private limitTicker: TimerHandle | undefined;
  /** Cluster-wide figures per limit id, as the nodes report them from their krakend.json. */
  private readonly limitDefs = new Map<string, string>();
  /** Soft state: what each node last answered about its config. */
  private readonly configStatus = new Map<string, NodeConfigStatus>();

  constructor(config: ManagerConfig, deps: ManagerDeps) {
    this.config = config;
    this.logger = deps.logger;
    this.clock = deps.clock ?? systemClock;
    this.version = deps.version;
    this.stats = deps.statsWindow ?? new StatsWindow();
  }

  get managerId(): string {
    return this.identity.managerId;
  }

  nodes(): NodeEntry[] {
    return this.registry.list();
  }

  licenseState(): LicenseState {
    return this.license.state();
  }

  droppedPackets(): Record<string, Record<string, number>> {
    const gossip = this.membership?.stats().dropped ?? {};
    return { gossip: { ...gossip }, control: this.drops.tcp.snapshot(), transport: this.transport?.drops.snapshot() ?? {} };
  }

  /** Gossip members as this manager sees them (nodes and managers). */
  gossipMembers() {
    return this.membership?.members() ?? [];
  }

  /**
   * The membership admission hook: a node may gossip only under an id this manager admitted (and has not
   * refused); other managers are admitted (a later group). Without a cluster key this is the only gate.
   */
  private admitMember(candidate: AdmissionCandidate): string | undefined {
    if (candidate.id === this.identity.managerId) return undefined;
    if (candidate.meta.role === 'manager') return undefined;
    const entry = this.registry.get(candidate.id);
    if (!entry) return 'not admitted by the manager';
    if (entry.state === 'refused') return `refused: ${entry.refusedMessage ?? entry.refusedReason ?? ''}`;
    return undefined;
  }

  /** Gossip's verdict on a node, folded into the registry (the control channel may have told first). */
  private gossipVerdict(id: string, state: 'alive' | 'unreachable' | 'removed'): void {
    const entry = this.registry.get(id);
    if (!entry) return;
    const now = this.clock.now();
    if (state === 'unreachable' && entry.state === 'alive') {
      void this.transition(this.registry.markUnreachable(id, now).changes, `Node ${id} unreachable: gossip confirmed the suspicion`);
    } else if (state === 'alive' && entry.state === 'unreachable') {
      void this.transition(this.registry.markAlive(id, now).changes, `Node ${id} reachable again (gossip): alive`);
    } else if (state === 'removed' && (entry.state === 'alive' || entry.state === 'unreachable')) {
      void this.transition(this.registry.markRemoved(id, now).changes, `Node ${id} left (gossip): removed`);
    } else if (entry.state === 'down') {
      // Gossip lost (or found again) a node this manager already holds `down`: its reserved share follows (the
      // next refresh tick resplits).
      this.leaseState(id);
    }
  }

  ports(): { cluster: number; web: number } {
    return { cluster: this.clusterAddress?.port ?? 0, web: this.api?.port ?? 0 };
  }

  async start(): Promise<{ cluster: number; web: number }> {
    const cfg = this.config;
    await mkdir(cfg.stateDir, { recursive: true, mode: 0o700 });
    this.stateLock = await acquireStateLock(cfg.stateDir, this.clock);
    const store = await FileStore.open(cfg.stateDir, { logger: this.logger });
    this.store = store;
    await this.loadIdentity(store);

    this.token = await ApiToken.open(cfg.stateDir, cfg.apiToken);
    this.versions = new ConfigVersions(store, { clock: this.clock, logger: this.logger });
    await this.startLicense(store);

    const loaded = await loadRegistry(store, this.clock.now());
    this.registry = loaded.registry;
    for (const p of loaded.problems) this.logger.warning(`Registry: ${p}`);

    // A restarted manager first learns the nodes' current leases for one lease length (no burst on restart).
    this.leases = new LeaseBook({
      epoch: this.identity.epoch,
      now: this.clock.monotonic(),
      // The book's default TTL (2 refreshes): a crashed node's share is reused within 3 intervals.
      refreshMs: cfg.limitRefreshMs,
      // An unreachable node may be cut off and still serving on its safe share: keep that share reserved until
      // it is `down`, by which time the node has dropped it (it holds it for the grace period only, see welcome).
      holdUnreachableFallback: true,
    });
    // Nodes the registry counts may still be serving on a former lease or its fallback, and some reconnect only
    // after the learning phase (the agents' backoff): the book reserves for them until each reports or is `down`.
    for (const n of this.registry.list()) if (n.state === 'alive' || n.state === 'unreachable') this.leaseState(n.id);
    const keyring = cfg.clusterKeys.length > 0 ? Keyring.fromConfig(cfg.clusterKeys) : undefined;
    if (!keyring) this.logger.warning(PLAINTEXT_WARNING);

    this.control = new ControlServer({
      clock: this.clock,
      logger: this.logger,
      keyring,
      drops: this.drops.tcp,
      heartbeatMs: cfg.heartbeatMs,
      maxHeartbeatsPerSecond: cfg.maxHeartbeatsPerSecond,
      admit: (join, remote) => this.admit(join, remote),
      onLeave: (id) => this.transition(this.registry.markRemoved(id, this.clock.now()).changes, `Node ${id} left: removed`),
      onLost: (id) => this.lost(id),
      onSeen: (id) => this.seen(id),
      onWelcomed: (id, join) => void this.sendCurrentConfig(id, join),
      onConfigAnswer: (id, answer) => this.recordConfigAnswer(id, answer),
      onDemand: (id, demand) => this.demand(id, demand),
      onStats: (id, delta, receivedAt) => void this.stats.ingest(id, delta, receivedAt),
    });
    // One cluster port: UDP gossip, and TCP for gossip streams and the control channel (told apart by kind).
    const transport = new NetTransport({
      host: cfg.bind,
      port: cfg.clusterPort,
      ...(cfg.advertise ? { advertiseHost: cfg.advertise } : {}),
      ...(keyring ? { keyring } : {}),
      clock: this.clock,
      logger: this.logger,
      routes: { [StreamKind.Control]: this.control.route() },
    });
    this.membership = new Membership({
      id: this.identity.managerId,
      meta: { role: 'manager', version: this.version, addresses: {}, tags: { epoch: String(this.identity.epoch) } },
      transport,
      preset: cfg.preset,
      clock: this.clock,
      logger: this.logger,
      admit: (candidate) => this.admitMember(candidate),
    });
    this.membership.on('unreachable', (e) => this.gossipVerdict(e.member.id, 'unreachable'));
    this.membership.on('reachable', (e) => this.gossipVerdict(e.member.id, 'alive'));
    this.membership.on('removed', (e) => this.gossipVerdict(e.member.id, 'removed'));
    await this.membership.start();
    this.transport = transport;
    this.clusterAddress = { port: Number(this.membership.address.split(':').pop()), address: cfg.bind, family: 'IPv4' };
    this.api = await startManagerApi(this, {
      port: cfg.webPort,
      host: cfg.webBind,
      token: this.token,
      logger: this.logger,
      tls: cfg.apiTlsCert && cfg.apiTlsKey ? { cert: cfg.apiTlsCert, key: cfg.apiTlsKey } : undefined,
    });

    this.ticker = this.clock.setInterval(() => void this.tick(), TICK_MS);
    this.ticker.unref();
    this.limitTicker = this.clock.setInterval(() => this.sendLeases(this.leases.allocate(this.clock.monotonic())), cfg.limitRefreshMs);
    this.limitTicker.unref();
    this.logger.info(
      `Cluster Manager ${this.identity.managerId} (epoch ${this.identity.epoch}) listening: cluster port ${this.clusterAddress.port}, web port ${this.api.port}`,
    );
    return this.ports();
  }

  async close(): Promise<void> {
    this.clock.clearInterval(this.ticker);
    this.clock.clearInterval(this.limitTicker);
    this.clock.clearInterval(this.dailyLicense);
    unwatchFile(this.config.licenseFile);
    await this.control?.close();
    await this.membership?.leave().catch(() => {});
    await this.api?.close();
    await this.store?.close();
    await this.stateLock?.release();
  }

  /** Re-reads the license file (SIGHUP, daily, or when it changes). */
  async reloadLicense(reason: string): Promise<void> {
    const text = await readFile(this.config.licenseFile, 'utf8').catch(() => undefined);
    // No file at start is the free tier, not an error; later, the keeper logs why it keeps the license it has.
    if (text === undefined && reason === 'start') return;
    const outcome = this.license.load(text, `${this.config.licenseFile} (${reason})`);
    if ((outcome.kind === 'adopted' || outcome.kind === 'pending') && this.store) {
      // Both the license in force and a renewal waiting for its start date survive a restart.
      const { current, pending } = this.license.persistable();
      await this.store
        .put(LICENSE_KEY, { ...(current ? { current } : {}), ...(pending ? { pending } : {}) })
        .catch((err: unknown) => this.logger.error(`Cannot persist the license: ${(err as Error).message}`));
    }
    await this.applyLicense();
  }

  /** What a node last answered about its config. */
  nodeConfig(id: string): NodeConfigStatus | undefined {
    return this.configStatus.get(id);
  }

  configVersions(): ConfigVersions {
    return this.versions;
  }

  /**
   * Validates and stores a new config version, then rolls it out: to `canary` nodes first (halting on a nack or
   * a timeout), then to the rest, concurrently. Nodes that are not connected get it when they next join.
   */
  async applyConfig(text: string, options: { author: string; note?: string; dryRun?: boolean; canary?: number; rollbackOf?: number }): Promise<RolloutResult> {
    const result =
      options.rollbackOf !== undefined
        ? await this.versions.rollback(options.rollbackOf, { author: options.author, ...(options.note ? { note: options.note } : {}), ...(options.dryRun ? { dryRun: true } : {}) })
        : await this.versions.apply(text, { author: options.author, ...(options.note ? { note: options.note } : {}), ...(options.dryRun ? { dryRun: true } : {}) });
    if (!result.ok) return { ok: false, errors: result.errors };
    const meta = { version: result.version.version, hash: result.version.hash, unchanged: result.unchanged, dryRun: result.dryRun, diff: result.diff };
    if (result.dryRun) return { ok: true, ...meta, answers: {}, halted: false };
    if (!result.unchanged) {
      this.logger.info(`Config version ${result.version.version} (${result.version.hash.slice(0, 12)}) applied by ${options.author}${options.note ? `: ${options.note}` : ''}`);
    }
    const targets = this.control.connected().filter((id) => this.configStatus.get(id)?.hash !== result.version.hash);
    const canary = Math.max(0, Math.min(options.canary ?? 0, targets.length));
    const answers: Record<string, ConfigAnswer> = {};
    const body = { version: result.version.version, hash: result.version.hash, body: result.version.body };
    const push = async (ids: string[]) => {
      await Promise.all(ids.map(async (id) => (answers[id] = await this.control.pushConfig(id, body, CONFIG_PUSH_TIMEOUT_MS))));
    };
    if (canary > 0) {
      await push(targets.slice(0, canary));
      const bad = Object.entries(answers).filter(([, a]) => a.kind !== 'ack');
      if (bad.length > 0) {
        this.logger.warning(`Config version ${body.version}: canary halted (${bad.map(([id, a]) => `${id}: ${a.kind}`).join(', ')})`);
        return { ok: true, ...meta, answers, halted: true };
      }
    }
    await push(targets.slice(canary));
    return { ok: true, ...meta, answers, halted: false };
  }

  private async sendCurrentConfig(id: string, join: JoinBody): Promise<void> {
    const current = await this.versions.current();
    if (!current || join.configHash === current.hash) {
      if (current && join.configHash === current.hash) this.configStatus.set(id, { version: current.version, hash: current.hash, error: undefined, at: this.clock.now() });
      return;
    }
    await this.control.pushConfig(id, { version: current.version, hash: current.hash, body: current.body }, CONFIG_PUSH_TIMEOUT_MS);
  }

  private recordConfigAnswer(id: string, answer: ConfigAnswer): void {
    const now = this.clock.now();
    if (answer.kind === 'ack') {
      this.configStatus.set(id, { version: answer.version, hash: answer.hash, error: undefined, at: now });
      this.logger.info(`Node ${id} serves config version ${answer.version}`);
    } else if (answer.kind === 'nack') {
      const prev = this.configStatus.get(id);
      this.configStatus.set(id, { version: prev?.version, hash: prev?.hash, error: `version ${answer.version}: ${answer.error}`, at: now });
      this.logger.warning(`Node ${id} refused config version ${answer.version}: ${answer.error}`);
    }
  }

  /** Forces a registry entry out (operator: `nodes remove ID`). Counted nodes must go away first. */
  async removeNode(id: string, force: boolean): Promise<{ ok: boolean; message: string }> {
    const result = this.registry.remove(id, { force });
    if (!result.ok) return { ok: false, message: result.message };
    await this.persist(result.changes);
    this.logger.info(`Node ${id} removed from the registry by the operator`);
    return { ok: true, message: `removed ${id}` };
  }

  private async loadIdentity(store: Store): Promise<void> {
    const entry = await store.get(IDENTITY_KEY);
    const prev = entry?.value as { managerId?: string; epoch?: number } | undefined;
    const managerId = typeof prev?.managerId === 'string' ? prev.managerId : `cm_${cryptoUuid()}`;
    const epoch = (typeof prev?.epoch === 'number' ? prev.epoch : 0) + 1;
    // A CAS write: two managers sharing a store (a misconfiguration today, a group later) cannot take one epoch.
    const put = await store.put(IDENTITY_KEY, { managerId, epoch }, { expectedVersion: entry?.version ?? 0 });
    if (!put.ok) throw new Error('another manager is writing the same state directory');
    this.identity = { managerId, epoch };
  }

  private async startLicense(store: Store): Promise<void> {
    const publicKeyPem = await readFile(this.config.licensePublicKeyFile, 'utf8').catch(() => undefined);
    this.license = new LicenseKeeper({
      publicKeyPem,
      clock: this.clock,
      logger: this.logger,
      marginDays: this.config.licenseMarginDays,
    });
    const saved = (await store.get(LICENSE_KEY))?.value as { current?: unknown; pending?: unknown } | undefined;
    if (typeof saved?.current === 'string') this.license.load(saved.current, 'store');
    if (typeof saved?.pending === 'string') this.license.load(saved.pending, 'store');
    await this.reloadLicense('start');
    const state = this.license.state();
    this.licenseMax = state.maxNodes;
    this.logger.info(
      state.tier === 'free'
        ? `No license in force: free tier, up to ${state.maxNodes} nodes`
        : `License ${state.license?.license_id} for ${state.license?.licensee}: up to ${state.maxNodes} nodes, expires ${state.license?.not_after}`,
    );
    watchFile(this.config.licenseFile, { interval: 2_000 }, (curr, prev) => {
      if (curr.mtimeMs !== prev.mtimeMs) void this.reloadLicense('file changed');
    });
    this.dailyLicense = this.clock.setInterval(() => void this.reloadLicense('daily'), DAY_MS);
    this.dailyLicense.unref();
  }

  /** After a license change: degrade the nodes above a smaller cap; a larger one lets waiting nodes in. */
  private async applyLicense(): Promise<void> {
    if (!this.store) return;
    const max = this.license.effectiveMaxNodes();
    if (max === this.licenseMax) return;
    this.logger.info(`Subscription now allows ${max} nodes (was ${this.licenseMax})`);
    this.licenseMax = max;
    const result = this.registry.recheckCap(max, this.clock.now());
    await this.persist(result.changes);
    const refused: RefusedBody = { reason: 'subscription', message: SUBSCRIPTION_FULL_MESSAGE, retryMs: this.retryRefusedMs() };
    for (const id of result.degrade) {
      this.logger.warning(`Node ${id} degraded: ${SUBSCRIPTION_FULL_MESSAGE}`);
      await this.control.degrade(id, refused);
    }
  }

  private async admit(join: JoinBody, remote: string): Promise<Verdict> {
    const now = this.clock.now();
    const result = this.registry.admit(
      {
        claimedId: join.claimedId,
        instanceToken: join.instanceToken,
        version: join.version,
        name: join.name,
        addresses: { api: join.apiAddress, cluster: join.clusterAddress ?? remote },
      },
      now,
      { maxNodes: this.license.effectiveMaxNodes(now), managerVersion: this.version },
    );
    try {
      await this.persist(result.changes, true);
    } catch (err) {
      if (result.undo) this.registry.undo(result.undo);
      this.logger.error(`Cannot record the admission of ${join.name}: ${(err as Error).message}`);
      return { kind: 'refused', refused: { reason: 'invalid', message: 'the manager cannot write its state', retryMs: this.retryRefusedMs() } };
    }
    if (result.kind === 'refused') {
      const key = result.id ?? remote;
      const last = this.lastRefusalLog.get(key) ?? -Infinity;
      if (now - last >= 60_000) {
        this.lastRefusalLog.set(key, now);
        if (result.reason === 'subscription') this.logger.warning(SUBSCRIPTION_FULL_MESSAGE);
        else this.logger.warning(`Node ${join.name} (${remote}) refused: ${result.message}`);
      }
      return { kind: 'refused', refused: { reason: result.reason === 'key' ? 'invalid' : result.reason, message: result.message, retryMs: this.retryRefusedMs() } };
    }
    this.leaseState(result.id);
    if (result.cloneOf) this.logger.warning(`Node ${join.name} claimed ${result.cloneOf}, held by another live node: assigned ${result.id}`);
    this.logger.info(`Node ${result.id} (${join.name}, ${join.apiAddress}) admitted${result.isNew ? '' : ' again'}`);
    this.logger.info(`Sending the limits to the krakend: ${result.id}`);
    return {
      kind: 'welcome',
      welcome: {
        id: result.id,
        managerId: this.identity.managerId,
        epoch: this.identity.epoch,
        heartbeatMs: this.control.heartbeatMs,
        limits: this.leases.leasesFor(result.id),
        limitRefreshMs: this.config.limitRefreshMs,
        statsIntervalMs: this.config.statsIntervalMs,
        gracePeriodMs: this.config.gracePeriodMs,
        ...(this.membership?.running ? { managerCluster: this.membership.address } : {}),
      },
    };
  }

  /** Stats over a range (see StatsWindow.query). */
  statsQuery(q: StatsQuery): StatsQueryResult {
    return this.stats.query(q, this.clock.now());
  }

  now(): number {
    return this.clock.now();
  }

  statsKeys(): string[] {
    return this.stats.keys();
  }

  statsKeyTotals(from: number, to: number): Map<string, StatsSummary> {
    return this.stats.keyTotals(from, to, this.clock.now());
  }

  statsNodeTotals(from: number, to: number): Map<string, StatsSummary> {
    return this.stats.nodeTotals(from, to, this.clock.now());
  }

  statsNodeEndpointTotals(id: string, from: number, to: number): Map<string, StatsSummary> {
    return this.stats.nodeEndpointTotals(id, from, to, this.clock.now());
  }

  circuitStates(id: string): Record<string, { state: CircuitState; at: number }> {
    return this.stats.circuitStates(id);
  }

  circuitSummary(since: number): Map<string, Record<CircuitState, number>> {
    return this.stats.circuitCounts(since);
  }

  /** Per limit and node: demand, lease, expiry (for the API). */
  limitsView() {
    return this.leases.view(this.clock.monotonic());
  }

  private demand(id: string, body: DemandBody): void {
    let changed = false;
    for (const r of body.limits) {
      const def = `${r.rate}/${r.capacity}/${r.windowMs ?? 1000}`;
      if (this.limitDefs.get(r.limitId) !== def) {
        this.limitDefs.set(r.limitId, def);
        changed = true;
      }
    }
    if (changed) {
      this.leases.setLimits(
        [...this.limitDefs].map(([limitId, def]) => {
          const [rate, capacity, windowMs] = def.split('/').map(Number) as [number, number, number];
          return { limitId, rate, capacity, windowMs };
        }),
      );
    }
    const now = this.clock.monotonic();
    this.leases.report(id, body.limits, now);
    // A resplit on every report: demand shifts and acknowledged decreases take effect within one interval.
    this.sendLeases(this.leases.allocate(now));
  }

  private sendLeases(batches: readonly NodeLeases[]): void {
    for (const batch of batches) {
      void this.control.sendLimits(batch.nodeId, [...batch.leases]).then((sent) => {
        if (!sent) return;
        const line = `Sending the limits to the krakend: ${batch.nodeId}`;
        if (batch.changed) this.logger.info(line);
        else this.logger.debug(line);
      });
    }
  }

  /** Tells the lease book a node's state, so a departed node's share is reused once its lease expires. */
  private leaseState(id: string): void {
    const state = this.registry.get(id)?.state;
    if (!state) return;
    // A refused (degraded) node serves nothing: to the book it is gone. A `down` node that gossip still hears is
    // cut off from this manager only, and may still serve on its safe share (it keeps it while it sees a majority
    // of the nodes): its share stays reserved until gossip loses it too.
    const bookState = state === 'refused' ? 'removed' : state === 'down' && this.gossipAlive(id) ? 'unreachable' : state;
    this.leases?.setNodeState(id, bookState, this.clock.monotonic());
  }

  private gossipAlive(id: string): boolean {
    return this.membership?.members().some((m) => m.id === id && m.state === 'alive') ?? false;
  }

  private lost(id: string): void {
    const t = this.registry.markUnreachable(id, this.clock.now());
    if (t.changed) void this.transition(t.changes, `Node ${id} unreachable: its control channel closed`);
  }

  private seen(id: string): void {
    const now = this.clock.now();
    this.registry.seen(id, now);
    const entry = this.registry.get(id);
    if (entry?.state === 'unreachable') {
      const t = this.registry.markAlive(id, now);
      if (t.changed) void this.transition(t.changes, `Node ${id} reachable again: alive`);
    }
  }

  private async tick(): Promise<void> {
    const now = this.clock.now();
    const t = this.registry.tick(now, { gracePeriodMs: this.config.gracePeriodMs, retentionMs: this.config.retentionMs });
    for (const id of t.down) {
      this.logger.warning(`Node ${id} down: unreachable for longer than the grace period`);
      this.leaseState(id);
    }
    for (const id of t.reaped) this.logger.info(`Node ${id} reaped from the registry (gone for longer than the retention period)`);
    await this.persist(t.changes);
    this.license.tick(now);
    await this.applyLicense();
  }

  private async transition(changes: readonly RegistryChange[], message: string): Promise<void> {
    this.logger.info(message);
    for (const c of changes) this.leaseState(c.id);
    await this.persist(changes);
  }

  private async persist(changes: readonly RegistryChange[], rethrow = false): Promise<void> {
    if (!this.store || changes.length === 0) return;
    try {
      await persistRegistryChanges(this.store, changes);
    } catch (err) {
      this.logger.error(`Cannot persist the registry: ${(err as Error).message}`);
      if (rethrow) throw err;
    }
  }

  /** How long a refused node waits before it asks again: a few heartbeats, so a larger license is felt soon. */
  private retryRefusedMs(): number {
    return Math.min(10_000, Math.max(1_000, this.config.heartbeatMs * 5));
  }

  /** Verdict-free view for the API: what a token holder may change. */
  apiToken(): ApiToken {
    return this.token;
  }

  controlConnected(id: string): boolean {
    return this.control.isConnected(id);
  }

  /** The control channels' beat now: `heartbeat`, or longer past max_heartbeats_per_second connected nodes. */
  controlHeartbeatMs(): number {
    return this.control?.heartbeatMs ?? this.config.heartbeatMs;
  }
}
