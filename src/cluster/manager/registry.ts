/**
 * The manager's registry of nodes: pure logic over in-memory state, no I/O, time passed in as `now` (wall ms).
 *
 * Every method is synchronous, so a call is atomic with respect to every other: admissions racing on the event
 * loop are decided one after the other against the same count and can never push it over `maxNodes`. Mutating
 * calls return what happened — events and the durable {@link RegistryChange}s to write — and the caller logs
 * them and persists the changes through the Store (`registry-store.ts` has the helpers) before it answers a node.
 *
 * Durable part of an entry (written at state changes, never per heartbeat): id, name, addresses, version, instance
 * token, state, since, admittedAt, refusal reason, and lastSeen as of that write. Soft part: lastSeen updates from
 * `seen`, and the membership incarnation.
 *
 * Who calls what:
 * - the control channel: `admit` on each `join`, `markRemoved` on `leave`, `markUnreachable` when a node's
 *   control connection closes (so "alive" here means "has a live control session"), `seen` on any message;
 * - membership: `markUnreachable` on a confirmed failure, `markAlive` when an unreachable member refutes it;
 *   a `down`, `removed` or `refused` node comes back only through `admit` (subject to the cap);
 * - a timer: `tick` for `down` decisions and reaping; the license: `recheckCap` when the limit changes;
 * - the operator CLI: `remove`.
 */
import { cryptoUuid } from '../../base/random.js';
import {
  checkVersionCompatibility,
  excessNodes,
  isCounted,
  SUBSCRIPTION_FULL_MESSAGE,
} from './admission-policy.js';
import type { NodeState, RefusalReason } from './admission-policy.js';

export type { NodeState, RefusalReason } from './admission-policy.js';

/** Default time an entry stays after its node went away (`removed`, `down`, `refused` and silent): 72 h. */
export const DEFAULT_RETENTION_MS = 72 * 60 * 60 * 1000;

/** Limits on what a join request may carry, so a bad node cannot bloat the registry or the store. */
export const MAX_TOKEN_LENGTH = 128;
export const MAX_FIELD_LENGTH = 256;

const ID_PATTERN = /^krakend_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Whether `id` has the form the manager hands out: `krakend_<uuid>`, lower case. */
export function isNodeId(id: unknown): id is string {
  return typeof id === 'string' && ID_PATTERN.test(id);
}

/** A fresh node id from the OS's CSPRNG. */
export function newNodeId(): string {
  return `krakend_${cryptoUuid()}`;
}

export interface NodeAddresses {
  /** host:port of the node's cluster port (gossip, as seen by the manager). */
  readonly cluster: string;
  /** host:port of the node's API listener. */
  readonly api: string;
}

/** A registry entry as callers see it: a frozen snapshot. */
export interface NodeEntry {
  readonly id: string;
  /** A human label (the node's host name, say); the id when the node gave none. */
  readonly name: string;
  readonly addresses: NodeAddresses;
  readonly version: string;
  readonly state: NodeState;
  /** Wall ms of the last state change. */
  readonly since: number;
  /** Wall ms of the last message from the node (as far as the registry was told). */
  readonly lastSeen: number;
  /** Wall ms at which the current counted period began; undefined for a node never admitted. */
  readonly admittedAt: number | undefined;
  readonly refusedReason: RefusalReason | undefined;
  /** The sentence sent with the refusal. */
  readonly refusedMessage: string | undefined;
  /** The membership incarnation last reported; soft state. */
  readonly incarnation: number | undefined;
  /** The random token of the node process that last joined under this id. */
  readonly instanceToken: string;
}

/** What a node sends with `join`. */
export interface JoinRequest {
  /** The id kept in the node's state directory, if any. */
  readonly claimedId?: string | undefined;
  /** Random per process: a cloned state directory gives the same id but a different token. */
  readonly instanceToken: string;
  readonly version: string;
  readonly addresses: NodeAddresses;
  readonly name?: string | undefined;
}

export interface AdmissionLimits {
  /** Nodes that may be counted (`alive` + `unreachable`): the license keeper's effectiveMaxNodes. */
  readonly maxNodes: number;
  /** The manager's own version, for the compatibility rule. */
  readonly managerVersion: string;
}

/** A durable change to write to the Store: the whole record under the node's key, or its deletion. */
export type RegistryChange =
  | { readonly kind: 'put'; readonly id: string; readonly record: NodeRecord }
  | { readonly kind: 'delete'; readonly id: string };

/** Opaque: hands an admission back to `undo` when its change could not be persisted. */
export interface UndoToken {
  readonly id: string;
  /** @internal */ readonly rev: number;
  /** @internal */ readonly before: InternalEntry | undefined;
}

export type AdmitResult =
  | {
      readonly kind: 'welcome';
      readonly id: string;
      /** The registry had no entry under this id before (first join, clone, or an id it had forgotten). */
      readonly isNew: boolean;
      /** Set when the node claimed an id held by another live process: it got `id` instead. */
      readonly cloneOf: string | undefined;
      /** The entry's state before (undefined for a new entry). */
      readonly previousState: NodeState | undefined;
      readonly entry: NodeEntry;
      readonly changes: readonly RegistryChange[];
      readonly undo: UndoToken;
    }
  | {
      readonly kind: 'refused';
      readonly reason: RefusalReason;
      /** For `subscription`, exactly {@link SUBSCRIPTION_FULL_MESSAGE}. */
      readonly message: string;
      /**
       * The id the refused node is listed under (undefined for an invalid request): send it with the refusal so the
       * node keeps it and claims it on its next attempt.
       */
      readonly id: string | undefined;
      readonly cloneOf: string | undefined;
      readonly changes: readonly RegistryChange[];
      readonly undo: UndoToken | undefined;
    };

export interface Transition {
  /** Whether the state changed. */
  readonly changed: boolean;
  /** The entry after the call; undefined when the id is unknown. */
  readonly entry: NodeEntry | undefined;
  readonly changes: readonly RegistryChange[];
}

export interface TickOptions {
  /** How long a node stays `unreachable` before the manager declares it `down`. */
  readonly gracePeriodMs: number;
  /** How long an entry stays after its node went away. Default {@link DEFAULT_RETENTION_MS}. */
  readonly retentionMs?: number;
}

export interface TickResult {
  /** Ids that became `down` (unreachable longer than the grace period). */
  readonly down: readonly string[];
  /** Ids whose entries were deleted (gone longer than the retention period). */
  readonly reaped: readonly string[];
  readonly changes: readonly RegistryChange[];
}

export interface RecheckResult {
  /**
   * Ids now `refused` with reason `subscription`, in the order they were picked (see excessNodes): tell the
   * connected ones to degrade.
   */
  readonly degrade: readonly string[];
  /** How many more nodes may be admitted now. */
  readonly freeSlots: number;
  /** Nodes refused for the subscription and still trying, longest waiting first: they get in on their next retry. */
  readonly waiting: readonly string[];
  readonly changes: readonly RegistryChange[];
}

export type RemoveResult =
  | { readonly ok: true; readonly entry: NodeEntry; readonly changes: readonly RegistryChange[] }
  | { readonly ok: false; readonly reason: 'unknown' | 'counted'; readonly message: string };

/** @internal The mutable entry; `rev` counts its mutations, for `undo`. */
export interface InternalEntry {
  id: string;
  name: string;
  addresses: NodeAddresses;
  version: string;
  state: NodeState;
  since: number;
  lastSeen: number;
  admittedAt: number | undefined;
  refusedReason: RefusalReason | undefined;
  refusedMessage: string | undefined;
  incarnation: number | undefined;
  instanceToken: string;
  rev: number;
}

export interface RegistryOptions {
  /** Makes new ids; default {@link newNodeId}. Tests inject a deterministic one. */
  readonly newId?: () => string;
}

export class NodeRegistry {
  private readonly entries = new Map<string, InternalEntry>();
  /** instanceToken → id, so a process retrying without an id (or with a cloned one) finds its own entry. */
  private readonly byToken = new Map<string, string>();
  private countedNodes = 0;
  private revCounter = 0;
  private readonly newId: () => string;

  constructor(options: RegistryOptions = {}) {
    this.newId = options.newId ?? newNodeId;
  }

  /**
   * Rebuilds a registry from stored records (a manager restart). Nodes last known `alive` or `unreachable` come
   * back `unreachable` since `now`: they still count toward the cap (so a restarted manager cannot over-admit while
   * its nodes reconnect) and become `down` after the grace period if they never do. Records that cannot be read
   * are skipped and reported in `problems`; the node is re-registered under its id when it next joins.
   */
  static fromRecords(
    records: readonly unknown[],
    now: number,
    options: RegistryOptions = {},
  ): { registry: NodeRegistry; problems: string[] } {
    const registry = new NodeRegistry(options);
    const problems: string[] = [];
    for (const raw of records) {
      const parsed = parseNodeRecord(raw);
      if (!parsed.ok) {
        problems.push(parsed.problem);
        continue;
      }
      const r = parsed.record;
      if (registry.entries.has(r.id)) {
        problems.push(`node record ${r.id} appears twice; the first one is kept`);
        continue;
      }
      const counted = isCounted(r.state);
      const entry: InternalEntry = {
        id: r.id,
        name: r.name,
        addresses: r.addresses,
        version: r.version,
        state: counted ? 'unreachable' : r.state,
        since: counted ? now : r.since,
        lastSeen: r.lastSeen,
        admittedAt: r.admittedAt,
        refusedReason: r.state === 'refused' ? r.refusedReason : undefined,
        refusedMessage: r.state === 'refused' ? r.refusedMessage : undefined,
        incarnation: undefined,
        instanceToken: r.instanceToken,
        rev: ++registry.revCounter,
      };
      registry.insert(entry);
    }
    return { registry, problems };
  }

  get(id: string): NodeEntry | undefined {
    const e = this.entries.get(id);
    return e ? view(e) : undefined;
  }

  /** Every entry, sorted by id. */
  list(): NodeEntry[] {
    return [...this.entries.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)).map(view);
  }

  /** Entries counted toward the subscription (`alive` + `unreachable`). */
  countedCount(): number {
    return this.countedNodes;
  }

  /** The durable records of every entry, for a full rewrite or a backup. */
  records(): NodeRecord[] {
    return [...this.entries.values()].map(toRecord);
  }

  /**
   * Decides a join. Identity: the claimed id's entry, unless that entry is `alive` under another instance token (a
   * cloned state directory), in which case the newcomer gets a new id; without a usable claimed id, the entry of
   * the same instance token (a refused process retrying), else a new id. A well-formed claimed id the registry
   * does not know (reaped, or a manager that lost its state) is taken as given. Then the version rule, then the
   * cap: a node already counted (an `unreachable` one reconnecting) always fits; any other needs a free slot.
   *
   * Refused nodes are listed too (state `refused`, with the reason), under an id returned with the refusal.
   * The result carries the changes to persist and an undo token for when persisting fails.
   */
  admit(request: JoinRequest, now: number, limits: AdmissionLimits): AdmitResult {
    const invalid = checkRequest(request);
    if (invalid) {
      const none = { id: undefined, cloneOf: undefined, changes: [], undo: undefined };
      return { kind: 'refused', reason: 'invalid', message: invalid, ...none };
    }
    const token = request.instanceToken;
    const claimed = isNodeId(request.claimedId) ? request.claimedId : undefined;
    let target: InternalEntry | undefined;
    let newId: string | undefined;
    let cloneOf: string | undefined;
    const ownByToken = this.entryByToken(token);
    if (claimed !== undefined) {
      const held = this.entries.get(claimed);
      if (held && held.state === 'alive' && held.instanceToken !== token) {
        cloneOf = claimed;
        target = ownByToken;
      } else if (held) {
        target = held;
      } else {
        newId = claimed;
      }
    } else {
      target = ownByToken;
    }
    if (!target && newId === undefined) newId = this.freshId();

    const before = target ? { ...target } : undefined;
    const entry: InternalEntry = target ?? {
      id: newId as string,
      name: request.name || (newId as string),
      addresses: request.addresses,
      version: request.version,
      state: 'refused',
      since: now,
      lastSeen: now,
      admittedAt: undefined,
      refusedReason: undefined,
      refusedMessage: undefined,
      incarnation: undefined,
      instanceToken: token,
      rev: 0,
    };
    const isNew = target === undefined;
    const wasCounted = !isNew && isCounted(entry.state);

    const compatible = checkVersionCompatibility(request.version, limits.managerVersion);
    let refusal: { reason: RefusalReason; message: string } | undefined;
    if (!compatible.ok) refusal = { reason: 'version', message: compatible.message };
    else if (!wasCounted && this.countedNodes + 1 > limits.maxNodes) {
      refusal = { reason: 'subscription', message: SUBSCRIPTION_FULL_MESSAGE };
    }

    // Identity fields follow the latest process to use the id.
    const name = request.name || entry.name;
    const identityChanged =
      entry.name !== name ||
      entry.addresses.cluster !== request.addresses.cluster ||
      entry.addresses.api !== request.addresses.api ||
      entry.version !== request.version ||
      entry.instanceToken !== token;
    if (entry.instanceToken !== token) entry.incarnation = undefined;
    entry.name = name;
    entry.addresses = { cluster: request.addresses.cluster, api: request.addresses.api };
    entry.version = request.version;
    this.setToken(entry, token);
    entry.lastSeen = now;

    if (refusal) {
      const stateChanged = isNew || entry.state !== 'refused' || entry.refusedReason !== refusal.reason;
      if (stateChanged) this.setState(entry, 'refused', now, isNew);
      entry.refusedReason = refusal.reason;
      entry.refusedMessage = refusal.message;
      if (isNew) this.insert(entry);
      entry.rev = ++this.revCounter;
      const changes = stateChanged || identityChanged ? [putChange(entry)] : [];
      return {
        kind: 'refused',
        reason: refusal.reason,
        message: refusal.message,
        id: entry.id,
        cloneOf,
        changes,
        undo: { id: entry.id, rev: entry.rev, before },
      };
    }

    const previousState = isNew ? undefined : entry.state;
    const stateChanged = previousState !== 'alive';
    if (stateChanged) this.setState(entry, 'alive', now, isNew);
    if (!wasCounted) entry.admittedAt = now;
    entry.refusedReason = undefined;
    entry.refusedMessage = undefined;
    if (isNew) this.insert(entry);
    entry.rev = ++this.revCounter;
    return {
      kind: 'welcome',
      id: entry.id,
      isNew,
      cloneOf,
      previousState,
      entry: view(entry),
      changes: stateChanged || identityChanged ? [putChange(entry)] : [],
      undo: { id: entry.id, rev: entry.rev, before },
    };
  }

  /**
   * Reverts an admission (welcome or refusal) whose changes could not be persisted, so that memory does not run
   * ahead of the store. Only if the entry has not changed since; returns whether it reverted.
   */
  undo(token: UndoToken): boolean {
    const current = this.entries.get(token.id);
    if (!current || current.rev !== token.rev) return false;
    this.delete(current);
    if (token.before) this.insert({ ...token.before, rev: ++this.revCounter });
    return true;
  }

  /** Records a message from the node (heartbeat, stats): soft state, no change to persist. */
  seen(id: string, now: number): void {
    const e = this.entries.get(id);
    if (e && now > e.lastSeen) e.lastSeen = now;
  }

  /**
   * `alive` → `unreachable` (membership confirmed a failure, or the control connection closed). A report with an
   * incarnation older than the one last seen alive is stale and ignored. Other states are left alone.
   */
  markUnreachable(id: string, now: number, incarnation?: number): Transition {
    const e = this.entries.get(id);
    if (!e) return { changed: false, entry: undefined, changes: [] };
    const stale = incarnation !== undefined && e.incarnation !== undefined && incarnation < e.incarnation;
    if (e.state !== 'alive' || stale) return { changed: false, entry: view(e), changes: [] };
    this.setState(e, 'unreachable', now, false);
    if (incarnation !== undefined) e.incarnation = incarnation;
    e.rev = ++this.revCounter;
    return { changed: true, entry: view(e), changes: [putChange(e)] };
  }

  /**
   * `unreachable` → `alive` (the node refuted the suspicion or reconnected): it was counted all along, so no cap
   * check. On an `alive` node it only refreshes lastSeen and the incarnation. `down`, `removed` and `refused`
   * nodes are not changed: they come back through `admit`, subject to the cap.
   */
  markAlive(id: string, now: number, incarnation?: number): Transition {
    const e = this.entries.get(id);
    if (!e) return { changed: false, entry: undefined, changes: [] };
    if (e.state !== 'alive' && e.state !== 'unreachable') return { changed: false, entry: view(e), changes: [] };
    if (incarnation !== undefined && (e.incarnation === undefined || incarnation > e.incarnation)) {
      e.incarnation = incarnation;
    }
    if (now > e.lastSeen) e.lastSeen = now;
    if (e.state === 'alive') return { changed: false, entry: view(e), changes: [] };
    this.setState(e, 'alive', now, false);
    e.rev = ++this.revCounter;
    return { changed: true, entry: view(e), changes: [putChange(e)] };
  }

  /** The node left gracefully: `removed` at once, whatever its state. */
  markRemoved(id: string, now: number): Transition {
    const e = this.entries.get(id);
    if (!e) return { changed: false, entry: undefined, changes: [] };
    if (e.state === 'removed') return { changed: false, entry: view(e), changes: [] };
    this.setState(e, 'removed', now, false);
    e.refusedReason = undefined;
    e.refusedMessage = undefined;
    if (now > e.lastSeen) e.lastSeen = now;
    e.rev = ++this.revCounter;
    return { changed: true, entry: view(e), changes: [putChange(e)] };
  }

  /**
   * Refuses a known node for a reason decided elsewhere (`key`, say): it stops counting. Already refused for the
   * same reason: no change.
   */
  markRefused(id: string, reason: RefusalReason, message: string, now: number): Transition {
    const e = this.entries.get(id);
    if (!e) return { changed: false, entry: undefined, changes: [] };
    if (e.state === 'refused' && e.refusedReason === reason) return { changed: false, entry: view(e), changes: [] };
    this.setState(e, 'refused', now, false);
    e.refusedReason = reason;
    e.refusedMessage = message;
    e.rev = ++this.revCounter;
    return { changed: true, entry: view(e), changes: [putChange(e)] };
  }

  /**
   * Time-driven decisions: `unreachable` for at least the grace period → `down`; `removed`, `down` or `refused`
   * and silent for at least the retention period (counted from the later of `since` and `lastSeen`, so a refused
   * node still retrying is kept) → deleted.
   */
  tick(now: number, options: TickOptions): TickResult {
    const retention = options.retentionMs ?? DEFAULT_RETENTION_MS;
    const down: string[] = [];
    const reaped: string[] = [];
    const changes: RegistryChange[] = [];
    for (const e of [...this.entries.values()]) {
      if (e.state === 'unreachable' && now - e.since >= options.gracePeriodMs) {
        this.setState(e, 'down', now, false);
        e.rev = ++this.revCounter;
        down.push(e.id);
        changes.push(putChange(e));
      } else if (!isCounted(e.state) && now - Math.max(e.since, e.lastSeen) >= retention) {
        this.delete(e);
        reaped.push(e.id);
        changes.push({ kind: 'delete', id: e.id });
      }
    }
    return { down, reaped, changes };
  }

  /**
   * Deletes an entry on the operator's order. A counted (`alive` or `unreachable`) node is refused unless `force`:
   * it is still running, and would simply be registered again when it next joins.
   */
  remove(id: string, options: { force?: boolean } = {}): RemoveResult {
    const e = this.entries.get(id);
    if (!e) return { ok: false, reason: 'unknown', message: `no node ${id} in the registry` };
    if (isCounted(e.state) && !options.force) {
      return {
        ok: false,
        reason: 'counted',
        message: `node ${id} is ${e.state}: stop it first, or force the removal`,
      };
    }
    const entry = view(e);
    this.delete(e);
    return { ok: true, entry, changes: [{ kind: 'delete', id }] };
  }

  /**
   * Applies a new node limit (a license loaded or expired). When more nodes are counted than `maxNodes`, the excess
   * — picked by excessNodes: unreachable first, then the most recently admitted — becomes `refused` with reason
   * `subscription`; the caller tells those connected to degrade (they stop serving API traffic and retry). Also
   * reports the free slots and the nodes waiting for one; waiting nodes are admitted when they next retry.
   */
  recheckCap(maxNodes: number, now: number): RecheckResult {
    const counted = [...this.entries.values()].filter((e) => isCounted(e.state));
    const picked = excessNodes(
      counted.map((e) => ({ id: e.id, admittedAt: e.admittedAt ?? e.since, state: e.state })),
      maxNodes,
    );
    const changes: RegistryChange[] = [];
    for (const id of picked) {
      const e = this.entries.get(id) as InternalEntry;
      this.setState(e, 'refused', now, false);
      e.refusedReason = 'subscription';
      e.refusedMessage = SUBSCRIPTION_FULL_MESSAGE;
      e.rev = ++this.revCounter;
      changes.push(putChange(e));
    }
    const waiting = [...this.entries.values()]
      .filter((e) => e.state === 'refused' && e.refusedReason === 'subscription' && !picked.includes(e.id))
      .sort((a, b) => a.since - b.since || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .map((e) => e.id);
    return {
      degrade: picked,
      freeSlots: Math.max(0, Math.floor(maxNodes) - this.countedNodes),
      waiting,
      changes,
    };
  }

  private freshId(): string {
    // A collision is astronomically unlikely with UUIDs, but a test's id source may repeat.
    for (let i = 0; i < 100; i++) {
      const id = this.newId();
      if (!this.entries.has(id)) return id;
    }
    throw new Error('the id source keeps returning ids already in use');
  }

  private entryByToken(token: string): InternalEntry | undefined {
    const id = this.byToken.get(token);
    return id === undefined ? undefined : this.entries.get(id);
  }

  private setToken(e: InternalEntry, token: string): void {
    if (this.byToken.get(e.instanceToken) === e.id) this.byToken.delete(e.instanceToken);
    e.instanceToken = token;
    if (this.entries.get(e.id) === e) this.byToken.set(token, e.id);
  }

  /** Changes state, keeping the counted total right. For an entry not inserted yet, insert() counts it. */
  private setState(e: InternalEntry, state: NodeState, now: number, detached: boolean): void {
    if (!detached) this.countedNodes += (isCounted(state) ? 1 : 0) - (isCounted(e.state) ? 1 : 0);
    e.state = state;
    e.since = now;
  }

  private insert(e: InternalEntry): void {
    this.entries.set(e.id, e);
    // A token names one process; if another entry had it, that entry is stale and loses the index.
    this.byToken.set(e.instanceToken, e.id);
    if (isCounted(e.state)) this.countedNodes++;
  }

  private delete(e: InternalEntry): void {
    this.entries.delete(e.id);
    if (this.byToken.get(e.instanceToken) === e.id) this.byToken.delete(e.instanceToken);
    if (isCounted(e.state)) this.countedNodes--;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Durable records

/** Store key prefix of node records. */
export const NODE_KEY_PREFIX = 'nodes/';

/** The Store key of a node's record. */
export function nodeKey(id: string): string {
  return `${NODE_KEY_PREFIX}${id}`;
}

/**
 * A node's durable record, as JSON in the Store. Version 1 of the format (`v`). A type alias, not an interface,
 * so that it is assignable to JsonValue.
 */
export type NodeRecord = {
  readonly v: 1;
  readonly id: string;
  readonly name: string;
  readonly addresses: { readonly cluster: string; readonly api: string };
  readonly version: string;
  readonly instanceToken: string;
  readonly state: NodeState;
  readonly since: number;
  readonly lastSeen: number;
  readonly admittedAt?: number;
  readonly refusedReason?: RefusalReason;
  readonly refusedMessage?: string;
};

export function toRecord(e: InternalEntry | NodeEntry): NodeRecord {
  return {
    v: 1,
    id: e.id,
    name: e.name,
    addresses: { cluster: e.addresses.cluster, api: e.addresses.api },
    version: e.version,
    instanceToken: e.instanceToken,
    state: e.state,
    since: e.since,
    lastSeen: e.lastSeen,
    ...(e.admittedAt === undefined ? {} : { admittedAt: e.admittedAt }),
    ...(e.refusedReason === undefined ? {} : { refusedReason: e.refusedReason }),
    ...(e.refusedMessage === undefined ? {} : { refusedMessage: e.refusedMessage }),
  };
}

const STATES: readonly NodeState[] = ['alive', 'unreachable', 'down', 'removed', 'refused'];
const REASONS: readonly RefusalReason[] = ['subscription', 'version', 'key', 'invalid'];

/** Reads a stored record back; never throws. */
export function parseNodeRecord(raw: unknown): { ok: true; record: NodeRecord } | { ok: false; problem: string } {
  const bad = (why: string) => ({ ok: false as const, problem: `unreadable node record: ${why}` });
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return bad('not an object');
  const r = raw as Record<string, unknown>;
  if (r['v'] !== 1) return bad(`format version ${JSON.stringify(r['v'])} is not 1`);
  const id = r['id'];
  if (!isNodeId(id)) return bad(`id ${JSON.stringify(id)} is not krakend_<uuid>`);
  const bad2 = (why: string) => bad(`${id}: ${why}`);
  const str = (v: unknown): v is string => typeof v === 'string';
  const time = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
  const addresses = r['addresses'] as Record<string, unknown> | undefined;
  if (typeof addresses !== 'object' || addresses === null || !str(addresses['cluster']) || !str(addresses['api'])) {
    return bad2('addresses are not {cluster, api} strings');
  }
  if (!str(r['name']) || !str(r['version']) || !str(r['instanceToken'])) {
    return bad2('name, version or instanceToken is not a string');
  }
  const state = r['state'];
  if (!STATES.includes(state as NodeState)) return bad2(`state ${JSON.stringify(state)} is unknown`);
  if (!time(r['since']) || !time(r['lastSeen'])) return bad2('since or lastSeen is not a time');
  if (r['admittedAt'] !== undefined && !time(r['admittedAt'])) return bad2('admittedAt is not a time');
  const reason = r['refusedReason'];
  if (reason !== undefined && !REASONS.includes(reason as RefusalReason)) {
    return bad2(`refusal reason ${JSON.stringify(reason)} is unknown`);
  }
  if (r['refusedMessage'] !== undefined && !str(r['refusedMessage'])) return bad2('refusedMessage is not a string');
  return {
    ok: true,
    record: {
      v: 1,
      id,
      name: r['name'],
      addresses: { cluster: addresses['cluster'], api: addresses['api'] },
      version: r['version'],
      instanceToken: r['instanceToken'],
      state: state as NodeState,
      since: r['since'],
      lastSeen: r['lastSeen'],
      ...(r['admittedAt'] === undefined ? {} : { admittedAt: r['admittedAt'] as number }),
      ...(reason === undefined ? {} : { refusedReason: reason as RefusalReason }),
      ...(r['refusedMessage'] === undefined ? {} : { refusedMessage: r['refusedMessage'] as string }),
    },
  };
}

function putChange(e: InternalEntry): RegistryChange {
  return { kind: 'put', id: e.id, record: toRecord(e) };
}

function view(e: InternalEntry): NodeEntry {
  return Object.freeze({
    id: e.id,
    name: e.name,
    addresses: Object.freeze({ cluster: e.addresses.cluster, api: e.addresses.api }),
    version: e.version,
    state: e.state,
    since: e.since,
    lastSeen: e.lastSeen,
    admittedAt: e.admittedAt,
    refusedReason: e.refusedReason,
    refusedMessage: e.refusedMessage,
    incarnation: e.incarnation,
    instanceToken: e.instanceToken,
  });
}

function checkRequest(request: JoinRequest): string | undefined {
  if (typeof request !== 'object' || request === null) return 'the join request is not an object';
  const token = request.instanceToken;
  if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_LENGTH) {
    return `the instance token must be a string of 1 to ${MAX_TOKEN_LENGTH} characters`;
  }
  if (typeof request.version !== 'string' || request.version.length === 0 || request.version.length > 64) {
    return 'the version must be a string of 1 to 64 characters';
  }
  const a = request.addresses as Partial<NodeAddresses> | undefined;
  const addressOk = (v: unknown) => typeof v === 'string' && v.length > 0 && v.length <= MAX_FIELD_LENGTH;
  if (typeof a !== 'object' || a === null || !addressOk(a.cluster) || !addressOk(a.api)) {
    return `the addresses must be {cluster, api}, each a host:port of at most ${MAX_FIELD_LENGTH} characters`;
  }
  const name = request.name;
  if (name !== undefined && (typeof name !== 'string' || name.length > MAX_FIELD_LENGTH)) {
    return `the name must be a string of at most ${MAX_FIELD_LENGTH} characters`;
  }
  if (request.claimedId !== undefined && typeof request.claimedId !== 'string') return 'the claimed id is not a string';
  return undefined;
}
