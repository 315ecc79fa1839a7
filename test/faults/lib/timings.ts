/**
 * The settings the suite runs the cluster with, and every deadline derived from them and from the protocol's
 * constants (src/cluster/membership/config.ts `local` preset, the manager's heartbeat rule, the agent's backoff).
 * Deadlines carry generous slack: the suite checks correctness on a shared 2-core machine, not speed.
 */
import { PRESETS } from '../../../src/cluster/membership/config.js';

const LOCAL = PRESETS.local;

/** Manager `--heartbeat`: a control channel silent for 3 beats is closed (the node becomes `unreachable`). */
export const HEARTBEAT_MS = 200;
export const MISSED_HEARTBEATS = 3;
/** Manager `--grace-period`: short, so that `down` comes within seconds. */
export const GRACE_MS = 4_000;
/** The manager checks the grace period on a 1-second tick (manager.ts TICK_MS). */
export const MANAGER_TICK_MS = 1_000;
/** Manager `--limit-refresh` default; a lease lasts 3 refreshes. */
export const LIMIT_REFRESH_MS = 1_000;
/** How far a slow, shared machine may lag behind any protocol deadline. */
export const SLACK_MS = 3_000;

/** SWIM on 5 members: a probe round visits every member, then the suspicion timeout (at most its max multiple). */
const MEMBERS = 5;
export const GOSSIP_DETECTION_MS =
  MEMBERS * LOCAL.probeIntervalMs + LOCAL.suspicionMult * LOCAL.suspicionMaxTimeoutMult * LOCAL.probeIntervalMs + LOCAL.eventMaxDelayMs;

/** A killed or stopped node is `unreachable`: its channel closes (kill) or falls silent for 3 heartbeats (stop). */
export const UNREACHABLE_DEADLINE_MS = MISSED_HEARTBEATS * HEARTBEAT_MS + MANAGER_TICK_MS + SLACK_MS;
/** Once `unreachable`, `down` after the grace period, seen at the next manager tick. */
export const DOWN_DEADLINE_MS = GRACE_MS + MANAGER_TICK_MS + SLACK_MS;
/** A node process starts (a few hundred ms of module loading, more on a loaded machine), dials and is admitted. */
export const NODE_START_MS = 20_000;
/** After a manager restart, the agent's jittered backoff (500 ms doubling) brings every node back within ~16 s. */
export const RECONNECT_DEADLINE_MS = 500 + 1_000 + 2_000 + 4_000 + 8_000 + SLACK_MS * 3;
/** A config push: the manager waits 15 s for answers (manager.ts CONFIG_PUSH_TIMEOUT_MS). */
export const CONFIG_ACK_DEADLINE_MS = 15_000 + SLACK_MS;
/** The API is polled this often while a scenario watches states: well below every transition's duration. */
export const POLL_MS = 100;
/** A client gives up on a request after this long (a SIGSTOPped node answers once continued). */
export const REQUEST_TIMEOUT_MS = 10_000;
