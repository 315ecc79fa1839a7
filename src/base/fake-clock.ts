import type { Clock, TimerHandle } from './clock.js';

interface FakeTimer extends TimerHandle {
  id: number;
  at: number;
  every: number | undefined;
  fn: () => void;
  cancelled: boolean;
}

/**
 * A deterministic Clock for tests and simulations: time moves only when advance() is called, and timers fire in
 * order of due time (ties in creation order), each seeing now() equal to its due time.
 */
export class FakeClock implements Clock {
  private time: number;
  private readonly epoch: number;
  private seq = 0;
  private timers: FakeTimer[] = [];

  constructor(options: { start?: number; epoch?: number } = {}) {
    this.time = options.start ?? 0;
    this.epoch = options.epoch ?? Date.UTC(2017, 1, 13, 18, 18, 23, 290);
  }

  now(): number {
    return this.epoch + this.time;
  }
  monotonic(): number {
    return this.time;
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    return this.add(fn, ms, undefined);
  }
  setInterval(fn: () => void, ms: number): TimerHandle {
    return this.add(fn, ms, Math.max(1, ms));
  }
  clearTimeout(handle: TimerHandle | undefined): void {
    if (handle) (handle as FakeTimer).cancelled = true;
  }
  clearInterval(handle: TimerHandle | undefined): void {
    this.clearTimeout(handle);
  }

  /** Number of timers still pending. */
  pending(): number {
    return this.timers.filter((t) => !t.cancelled).length;
  }

  /** Moves time forward by ms, firing every timer that falls due on the way. */
  advance(ms: number): void {
    const target = this.time + Math.max(0, ms);
    // Bounded: each iteration either fires a timer or ends the loop; intervals are at least 1 ms apart.
    for (;;) {
      const next = this.nextDue();
      if (!next || next.at > target) break;
      this.time = Math.max(this.time, next.at);
      if (next.every !== undefined) {
        next.at += next.every;
      } else {
        next.cancelled = true;
      }
      next.fn();
    }
    this.time = target;
    this.timers = this.timers.filter((t) => !t.cancelled);
  }

  /** Advances to the next pending timer and fires it; returns false when none is pending. */
  tick(): boolean {
    const next = this.nextDue();
    if (!next) return false;
    this.advance(next.at - this.time);
    return true;
  }

  private add(fn: () => void, ms: number, every: number | undefined): FakeTimer {
    const timer: FakeTimer = {
      id: this.seq++,
      at: this.time + Math.max(0, ms),
      every,
      fn,
      cancelled: false,
      unref() {},
    };
    this.timers.push(timer);
    return timer;
  }

  private nextDue(): FakeTimer | undefined {
    let best: FakeTimer | undefined;
    for (const t of this.timers) {
      if (t.cancelled) continue;
      if (!best || t.at < best.at || (t.at === best.at && t.id < best.id)) best = t;
    }
    return best;
  }
}
