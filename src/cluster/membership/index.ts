/**
 * Membership (ARCHITECTURE.md, Membership): SWIM with Lifeguard, after hashicorp/memberlist, over UDP with a TCP
 * fallback ping and TCP push-pull, plus Serf-style reconnects so that partitions heal.
 *
 * - `Membership`: start / join / leave / close, members(), on(event), updateMeta(), stats(), an admission hook.
 * - Transports: `NetTransport` (UDP + TCP sockets, the wire's sealing and handshake), `MemoryNetwork` (in-memory,
 *   with delay, loss, duplication, reordering, partitions and stalls, for simulations).
 * - `PRESETS` (`lan`, `local`) and `resolveConfig`.
 * - The pure core (`step`, `createState`, `nextDeadline`), for tests and tools.
 * - `Simulation`: N real members on the in-memory network under a heap-based fake clock (tests, benchmarks, and
 *   other components' tests that need a cluster: crash, leave, partition, stall, key changes).
 */
export { Membership } from './membership.js';
export type {
  AdmissionCandidate,
  AdmissionHook,
  ConflictEvent,
  Member,
  MembershipEvent,
  MembershipOptions,
  MembershipStats,
  TraceEvent,
} from './membership.js';
export type { MemberState, MembershipEventType } from './events.js';
export { MEMBERSHIP_EVENT_TYPES } from './events.js';
export { EMPTY_META } from './meta.js';
export type { MemberMeta } from './meta.js';
export { PRESETS, resolveConfig, validateConfig } from './config.js';
export type { MembershipConfig, MembershipPreset } from './config.js';
export type { RequestResult, Transport, TransportHandlers, TransportStats } from './transport.js';
export { MemoryNetwork, MemoryTransport } from './memory-transport.js';
export type { MemoryEndpointOptions, MemoryNetworkOptions, NetworkFaults } from './memory-transport.js';
export { membershipRegistry, MEMBERSHIP_VERSIONS } from './codec.js';
export { createState, nextDeadline, step } from './core.js';
export type { CoreEvent, CoreOptions, CoreState, Effect, MemberSnapshot, MemberStatus, StepResult } from './core.js';
export { PROTOCOL_MAX, PROTOCOL_MIN } from './messages.js';
export { NetTransport, joinHostPort, splitHostPort } from './net-transport.js';
export type { NetTransportOptions } from './net-transport.js';
export { Simulation } from './simulation.js';
export type { SimMember, SimulationOptions, Transition } from './simulation.js';
export { HeapClock, StallableClock } from './sim-clock.js';
