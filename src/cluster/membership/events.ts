/**
 * Consumer events, debounced: a member's changes are held for `eventDebounceMs` (never longer than
 * `eventMaxDelayMs` in all) and reported as the net difference, so a suspicion refuted within the window, or a
 * flap, fires nothing, and a storm of updates fires one event.
 */
import type { Clock, TimerHandle } from '../../base/clock.js';

export type MemberState = 'alive' | 'unreachable' | 'removed';

export type MembershipEventType = 'joined' | 'updated' | 'suspect' | 'unreachable' | 'reachable' | 'removed';

export const MEMBERSHIP_EVENT_TYPES: readonly MembershipEventType[] = [
  'joined',
  'updated',
  'suspect',
  'unreachable',
  'reachable',
  'removed',
];

/** What the events compare: the consumer-visible facts about a member. */
export interface MemberView {
  readonly state: MemberState;
  readonly suspect: boolean;
  readonly address: string;
  /** Encoded metadata (compared by content). */
  readonly metaBytes: Uint8Array;
}

/**
 * The events that take a consumer from `before` (undefined: never reported) to `after`. Pure; table-tested.
 *   new → joined (then suspect / unreachable / removed if that is where it already is)
 *   removed → alive: joined (a rejoin); unreachable → alive: reachable; suspect cleared: reachable
 *   → unreachable, → removed, alive → suspect; metadata or address changed on a member still there: updated
 */
export function eventsBetween(before: MemberView | undefined, after: MemberView): MembershipEventType[] {
  const out: MembershipEventType[] = [];
  if (!before) {
    out.push('joined');
    if (after.state === 'unreachable') out.push('unreachable');
    else if (after.state === 'removed') out.push('removed');
    else if (after.suspect) out.push('suspect');
    return out;
  }
  if (before.state !== after.state) {
    if (after.state === 'unreachable') out.push('unreachable');
    else if (after.state === 'removed') out.push('removed');
    else {
      out.push(before.state === 'removed' ? 'joined' : 'reachable');
      if (after.suspect) out.push('suspect');
    }
    return out;
  }
  if (after.state === 'alive' && before.suspect !== after.suspect) out.push(after.suspect ? 'suspect' : 'reachable');
  if (after.state !== 'removed' && (before.address !== after.address || !sameBytes(before.metaBytes, after.metaBytes))) {
    out.push('updated');
  }
  return out;
}

interface Pending {
  readonly before: MemberView | undefined;
  readonly firstAt: number;
  timer: TimerHandle;
}

/** Holds each member's changes and reports the net events when the member has been quiet for the delay. */
export class EventDebouncer {
  private readonly pending = new Map<string, Pending>();
  private readonly reported = new Map<string, MemberView>();

  constructor(
    private readonly clock: Clock,
    private readonly delayMs: number,
    private readonly maxDelayMs: number,
    /** The member's view now, or undefined once it is forgotten. */
    private readonly current: (id: string) => MemberView | undefined,
    private readonly emit: (id: string, type: MembershipEventType, previous: MemberView | undefined) => void,
  ) {}

  /** A member changed (call after the change is applied). */
  changed(id: string): void {
    const now = this.clock.monotonic();
    const p = this.pending.get(id);
    if (this.delayMs <= 0) {
      this.flush(id, this.reported.get(id));
      return;
    }
    if (p) {
      this.clock.clearTimeout(p.timer);
      const wait = Math.max(0, Math.min(this.delayMs, p.firstAt + this.maxDelayMs - now));
      p.timer = this.clock.setTimeout(() => this.fire(id), wait);
      return;
    }
    const before = this.reported.get(id);
    this.pending.set(id, { before, firstAt: now, timer: this.clock.setTimeout(() => this.fire(id), this.delayMs) });
  }

  /** A member was forgotten: nothing more is reported about it. */
  forget(id: string): void {
    const p = this.pending.get(id);
    if (p) this.clock.clearTimeout(p.timer);
    this.pending.delete(id);
    this.reported.delete(id);
  }

  /** Reports everything pending now (used at close, and by tests). */
  flushAll(): void {
    for (const id of [...this.pending.keys()]) this.fire(id);
  }

  /** Drops everything pending without reporting it. */
  clear(): void {
    for (const p of this.pending.values()) this.clock.clearTimeout(p.timer);
    this.pending.clear();
  }

  private fire(id: string): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.clock.clearTimeout(p.timer);
    this.pending.delete(id);
    this.flush(id, p.before);
  }

  private flush(id: string, before: MemberView | undefined): void {
    const after = this.current(id);
    if (!after) return;
    this.reported.set(id, after);
    for (const type of eventsBetween(before, after)) this.emit(id, type, before);
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
