/**
 * Deterministic cluster simulations: N real Membership drivers (the production code, not a model of it) on the
 * in-memory network, under one heap clock and seeded random sources. Faults — crashes, graceful leaves,
 * restarts, partitions, loss, stalled event loops, key changes — are injected between runs of simulated time.
 * Used by the simulation tests and by `npm run bench:membership`.
 */
import type { Keyring } from '../wire/index.js';
import { SeededRandom } from '../../base/random.js';
import type { MembershipConfig, MembershipPreset } from './config.js';
import type { MemberStatus } from './core.js';
import type { MemoryTransport, NetworkFaults } from './memory-transport.js';
import { MemoryNetwork } from './memory-transport.js';
import type { AdmissionHook, Member, TraceEvent } from './membership.js';
import { Membership } from './membership.js';
import { HeapClock, StallableClock } from './sim-clock.js';

export interface SimulationOptions {
  readonly seed: number;
  readonly preset?: MembershipPreset;
  readonly config?: Partial<MembershipConfig>;
  readonly faults?: Partial<NetworkFaults>;
  /** A keyring per member (by index), for encrypted simulations. */
  readonly keyring?: (index: number) => Keyring | undefined;
  readonly admit?: (id: string) => AdmissionHook | undefined;
}

/** A raw transition seen by one member about another. */
export interface Transition {
  readonly observer: string;
  readonly subject: string;
  readonly from: MemberStatus | undefined;
  readonly to: MemberStatus;
  readonly incarnation: number;
  readonly at: number;
}

export interface SimMember {
  readonly id: string;
  readonly index: number;
  readonly address: string;
  membership: Membership;
  transport: MemoryTransport;
  clock: StallableClock;
  keyring: Keyring | undefined;
  /** The process is running (not crashed, not left). */
  up: boolean;
}

export class Simulation {
  readonly clock = new HeapClock();
  readonly network: MemoryNetwork;
  readonly members = new Map<string, SimMember>();
  /** Every raw transition, in order (cleared by clearTransitions). */
  transitions: Transition[] = [];
  /** Optional live observer of transitions (the benchmark keeps only what it measures). */
  onTransition: ((t: Transition) => void) | undefined;
  recordTransitions = true;
  private readonly options: SimulationOptions;
  private readonly seedRandom: SeededRandom;

  constructor(options: SimulationOptions) {
    this.options = options;
    this.seedRandom = new SeededRandom(options.seed);
    this.network = new MemoryNetwork({
      clock: this.clock,
      random: new SeededRandom(options.seed ^ 0x5eed),
      ...options.faults,
    });
  }

  static idOf(index: number): string {
    return `node-${String(index).padStart(4, '0')}`;
  }

  static addressOf(index: number): string {
    return `10.0.${Math.floor(index / 250)}.${(index % 250) + 1}:7946`;
  }

  /** Creates and starts member `index` (not joined). */
  async add(index: number, incarnation?: number): Promise<SimMember> {
    const id = Simulation.idOf(index);
    const address = Simulation.addressOf(index);
    const keyring = this.options.keyring?.(index);
    const transport = this.network.transport(address, keyring ? { keyring } : {});
    const clock = new StallableClock(this.clock);
    const admit = this.options.admit?.(id);
    const membership = new Membership({
      id,
      meta: { role: index === 0 ? 'manager' : 'node', version: '0.1.0', addresses: { api: `10.0.0.${index}:8080` }, tags: {} },
      transport,
      preset: this.options.preset ?? 'lan',
      ...(this.options.config ? { config: this.options.config } : {}),
      clock,
      random: new SeededRandom(this.seedRandom.int(2 ** 31)),
      ...(admit ? { admit } : {}),
      ...(incarnation !== undefined ? { incarnation } : {}),
      trace: (e) => this.record(id, e),
    });
    const member: SimMember = { id, index, address, membership, transport, clock, keyring, up: true };
    this.members.set(id, member);
    await membership.start();
    return member;
  }

  /**
   * Starts members 0..n-1; each joins member 0, a few simulated milliseconds apart, then the simulation runs
   * until every member holds every other alive (or `maxMs` passes). Returns the simulated time it took.
   */
  async bootstrap(n: number, options: { staggerMs?: number; maxMs?: number } = {}): Promise<number> {
    const start = this.clock.monotonic();
    const stagger = options.staggerMs ?? 10;
    await this.add(0);
    for (let i = 1; i < n; i++) {
      const m = await this.add(i);
      void m.membership.join([Simulation.addressOf(0)]);
      this.run(stagger);
    }
    this.runUntil(() => this.converged(), options.maxMs ?? 120_000, 250);
    return this.clock.monotonic() - start;
  }

  /** Runs simulated time. */
  run(ms: number): void {
    this.clock.advance(ms);
  }

  /** Runs in steps until the predicate holds or maxMs passes; returns whether it held. */
  runUntil(predicate: () => boolean, maxMs: number, stepMs = 100): boolean {
    const end = this.clock.monotonic() + maxMs;
    while (this.clock.monotonic() < end) {
      if (predicate()) return true;
      this.clock.advance(Math.min(stepMs, end - this.clock.monotonic()));
    }
    return predicate();
  }

  get(id: string): SimMember {
    const m = this.members.get(id);
    if (!m) throw new Error(`no simulated member ${id}`);
    return m;
  }

  up(): SimMember[] {
    return [...this.members.values()].filter((m) => m.up);
  }

  /** What `observer` thinks of `subject`. */
  view(observer: string, subject: string): Member | undefined {
    return this.get(observer).membership.member(subject);
  }

  /** Every running member holds as many members alive, none suspect, as there are running members. */
  converged(): boolean {
    const up = this.up();
    for (const m of up) {
      const c = m.membership.memberCounts();
      if (c.alive !== up.length || c.suspect !== 0) return false;
    }
    return true;
  }

  /** Every running member other than `subject` holds it in `state`. */
  allSee(subject: string, state: Member['state'], among: readonly SimMember[] = this.up()): boolean {
    for (const m of among) {
      if (m.id === subject) continue;
      if (m.membership.member(subject)?.state !== state) return false;
    }
    return true;
  }

  /** The process dies: no goodbye; sockets go away (peers get resets on TCP). */
  crash(id: string): void {
    const m = this.get(id);
    m.up = false;
    void m.membership.close();
  }

  /** Graceful leave; completes as simulated time runs. */
  leave(id: string): Promise<void> {
    const m = this.get(id);
    const done = m.membership.leave();
    void done.then(() => (m.up = false));
    return done;
  }

  /** Restarts a crashed or departed member with the same id and address, and joins member `via`. */
  async restart(id: string, via = Simulation.idOf(0)): Promise<SimMember> {
    const old = this.get(id);
    if (old.membership.running) await old.membership.close();
    const m = await this.add(old.index);
    void m.membership.join([this.get(via).address]);
    return m;
  }

  /** The member's event loop stops for `ms`: no timers, no packets read (they queue) until it resumes. */
  stall(id: string, ms: number): void {
    const m = this.get(id);
    m.clock.stall();
    this.network.pause(m.address);
    this.clock.setTimeout(() => {
      m.clock.resume(); // timers first, as Node's event loop does after a block
      this.network.resume(m.address);
    }, ms);
  }

  partition(groups: readonly (readonly string[])[]): void {
    this.network.partition(groups.map((g) => g.map((id) => this.get(id).address)));
  }

  heal(): void {
    this.network.heal();
  }

  clearTransitions(): void {
    this.transitions = [];
  }

  /** Packet and stream bytes sent by running members, summed. */
  traffic(): { packetBytes: number; streamBytes: number; packets: number } {
    let packetBytes = 0;
    let streamBytes = 0;
    let packets = 0;
    for (const m of this.members.values()) {
      const s = m.transport.stats();
      packetBytes += s.packetBytesSent;
      streamBytes += s.streamBytesSent;
      packets += s.packetsSent;
    }
    return { packetBytes, streamBytes, packets };
  }

  async closeAll(): Promise<void> {
    for (const m of this.members.values()) await m.membership.close();
  }

  private record(observer: string, e: TraceEvent): void {
    const t: Transition = {
      observer,
      subject: e.member.name,
      from: e.previous,
      to: e.member.status,
      incarnation: e.member.incarnation,
      at: e.at,
    };
    if (this.recordTransitions) this.transitions.push(t);
    this.onTransition?.(t);
  }
}
