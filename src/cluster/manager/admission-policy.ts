/**
 * Admission rules that are plain functions: which node versions a manager can serve, which states count toward
 * the subscription, and which running nodes must degrade when the limit drops below the count.
 *
 * Degrade policy (docs/cluster-manager.md, "A smaller or expired license"): nodes are never killed. When the
 * counted nodes outnumber the limit — a smaller license was loaded, or a license expired past its margin and the
 * free tier applies — the excess nodes are told they are `refused` with reason `subscription`: they stop serving
 * API traffic (`/__health` answers 503 with the reason, so load balancers drain them) and retry joining, and are
 * admitted again, with the same id, as soon as there is room. The nodes that keep running are the ones admitted
 * longest ago; among the excess, unreachable nodes are degraded before alive ones, since they serve nothing
 * anyway, so as few serving nodes as possible are touched.
 */

/** Every state a registry entry can be in (ARCHITECTURE.md, Vocabulary: node states). */
export type NodeState = 'alive' | 'unreachable' | 'down' | 'removed' | 'refused';

/** Why a node was refused. `key` is decided by the control channel (no or wrong cluster key), not the registry. */
export type RefusalReason = 'subscription' | 'version' | 'key' | 'invalid';

/** The manager's words when the subscription is full: logged by the manager and sent to the node. */
export const SUBSCRIPTION_FULL_MESSAGE =
  'Your current subscription does not allow more nodes running. Please upgrade to add more nodes.';

/** States that count toward `max_nodes`: `alive` and `unreachable`; `down`, `removed` and `refused` do not. */
export function isCounted(state: NodeState): boolean {
  return state === 'alive' || state === 'unreachable';
}

const NUMBER = '(0|[1-9]\\d{0,8})';
const IDENTIFIERS = '[0-9A-Za-z-]+(?:\\.[0-9A-Za-z-]+)*';
const SEMVER = new RegExp(`^v?${NUMBER}\\.${NUMBER}\\.${NUMBER}(?:-(${IDENTIFIERS}))?(?:\\+${IDENTIFIERS})?$`);

export interface ParsedVersion {
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
  /** The pre-release part after `-`, without build metadata; empty for a release. */
  readonly prerelease: string;
}

/**
 * Parses a semantic version (`1.2.3`, `v1.2.3`, `1.2.3-beta.1+build.5`); undefined when it is not one. Leading
 * zeros and missing parts are refused, as semver does.
 */
export function parseVersion(text: string): ParsedVersion | undefined {
  if (typeof text !== 'string') return undefined;
  const m = SEMVER.exec(text.trim());
  if (!m) return undefined;
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]), prerelease: m[4] ?? '' };
}

export type VersionCheck = { readonly ok: true } | { readonly ok: false; readonly message: string };

/**
 * Whether a manager can serve a node, with Kong's hybrid-mode rule: the same major version, and a node minor
 * version not above the manager's (a newer node may use messages or config keys the manager does not know; an
 * older one is served what it understands). Patch levels and pre-release tags do not matter.
 */
export function checkVersionCompatibility(nodeVersion: string, managerVersion: string): VersionCheck {
  const node = parseVersion(nodeVersion);
  const manager = parseVersion(managerVersion);
  if (!manager) {
    return { ok: false, message: `the manager's version ${JSON.stringify(managerVersion)} is not a semantic version` };
  }
  if (!node) {
    const shown = JSON.stringify(nodeVersion);
    return { ok: false, message: `node version ${shown} is not a semantic version (major.minor.patch)` };
  }
  if (node.major !== manager.major) {
    return {
      ok: false,
      message:
        `node version ${nodeVersion} is incompatible with the manager's ${managerVersion}: ` +
        `the major versions differ (${node.major} and ${manager.major})`,
    };
  }
  if (node.minor > manager.minor) {
    return {
      ok: false,
      message:
        `node version ${nodeVersion} is newer than the manager's ${managerVersion}: ` +
        `upgrade the manager to ${manager.major}.${node.minor} or later first`,
    };
  }
  return { ok: true };
}

/** What `excessNodes` needs to know of a counted node. */
export interface CountedNode {
  readonly id: string;
  /** Wall ms at which the node's current counted period began (its latest admission). */
  readonly admittedAt: number;
  /** When `unreachable`, the node is degraded before any `alive` one. Default `alive`. */
  readonly state?: NodeState;
}

/**
 * The nodes to degrade so that at most `maxNodes` stay counted: unreachable nodes first (they serve nothing the
 * manager can see, and degrading them spares a serving node), then alive nodes, most recently admitted first — so
 * the alive nodes admitted longest ago keep running. Ties are broken by id, so every manager computes the same
 * answer. The result is in that order. Nodes not in a counted state are ignored.
 */
export function excessNodes(nodes: readonly CountedNode[], maxNodes: number): string[] {
  const counted = nodes.filter((n) => isCounted(n.state ?? 'alive'));
  const excess = counted.length - Math.max(0, Math.floor(maxNodes));
  if (excess <= 0) return [];
  const order = [...counted].sort((a, b) => {
    const ua = a.state === 'unreachable' ? 1 : 0;
    const ub = b.state === 'unreachable' ? 1 : 0;
    if (ua !== ub) return ub - ua;
    if (a.admittedAt !== b.admittedAt) return b.admittedAt - a.admittedAt;
    return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
  });
  return order.slice(0, excess).map((n) => n.id);
}
