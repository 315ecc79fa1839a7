/**
 * Clocks for large simulations. HeapClock behaves as base/fake-clock's FakeClock (time moves only on advance;
 * timers fire in due order, ties in creation order, each seeing now() at its due time) but keeps timers in a
 * binary heap: a thousand simulated members keep thousands of timers and packets in flight, and a linear scan
 * per firing would make the simulation quadratic. StallableClock gives one simulated process a view of it that
 * can be frozen, to model a blocked event loop.
 */
import type { Clock, TimerHandle } from '../../base/clock.js';

interface HeapTimer extends TimerHandle {
  at: number;
  id: number;
  every: number | undefined;
  fn: () => void;
  cancelled: boolean;
}

export class HeapClock implements Clock {
  private time: number;
  private readonly epoch: number;
  private seq = 0;
  private heap: HeapTimer[] = [];
  private live = 0;

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
    const t = handle as HeapTimer | undefined;
    if (t && !t.cancelled) {
      t.cancelled = true;
      this.live--;
    }
  }
  clearInterval(handle: TimerHandle | undefined): void {
    this.clearTimeout(handle);
  }

  /** Timers still pending. */
  pending(): number {
    return this.live;
  }

  /** Moves time forward by ms, firing every timer that falls due on the way. */
  advance(ms: number): void {
    this.runUntil(this.time + Math.max(0, ms));
  }

  /** Fires timers due up to `target` (monotonic ms), then sets the time to it. */
  runUntil(target: number): void {
    for (;;) {
      const next = this.peek();
      if (!next || next.at > target) break;
      this.pop();
      this.time = Math.max(this.time, next.at);
      if (next.every !== undefined) {
        next.at += next.every;
        this.push(next);
      } else {
        next.cancelled = true;
        this.live--;
      }
      next.fn();
    }
    if (target > this.time) this.time = target;
  }

  /** Advances to the next pending timer and fires it; false when none is pending. */
  tick(): boolean {
    const next = this.peek();
    if (!next) return false;
    this.runUntil(next.at);
    return true;
  }

  private add(fn: () => void, ms: number, every: number | undefined): HeapTimer {
    const t: HeapTimer = {
      at: this.time + Math.max(0, Number.isFinite(ms) ? ms : 0),
      id: this.seq++,
      every,
      fn,
      cancelled: false,
      unref() {},
    };
    this.live++;
    this.push(t);
    return t;
  }

  /** The earliest live timer, dropping cancelled ones from the top. */
  private peek(): HeapTimer | undefined {
    while (this.heap.length > 0 && (this.heap[0] as HeapTimer).cancelled) this.pop();
    return this.heap[0];
  }

  private less(a: HeapTimer, b: HeapTimer): boolean {
    return a.at < b.at || (a.at === b.at && a.id < b.id);
  }

  private push(t: HeapTimer): void {
    const h = this.heap;
    h.push(t);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(h[i] as HeapTimer, h[parent] as HeapTimer)) break;
      [h[i], h[parent]] = [h[parent] as HeapTimer, h[i] as HeapTimer];
      i = parent;
    }
  }

  private pop(): HeapTimer | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.less(h[l] as HeapTimer, h[m] as HeapTimer)) m = l;
        if (r < h.length && this.less(h[r] as HeapTimer, h[m] as HeapTimer)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m] as HeapTimer, h[i] as HeapTimer];
        i = m;
      }
    }
    return top;
  }
}

interface HeldTimer extends TimerHandle {
  inner: TimerHandle | undefined;
  cancelled: boolean;
  fn: () => void;
}

/**
 * One process's view of a shared clock that can be stalled: while stalled, timers that fall due are held, and on
 * resume they run first, in due order, as Node runs its timers phase after a blocked loop.
 */
export class StallableClock implements Clock {
  private stalled = false;
  private held: HeldTimer[] = [];

  constructor(private readonly inner: Clock) {}

  now(): number {
    return this.inner.now();
  }
  monotonic(): number {
    return this.inner.monotonic();
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const t: HeldTimer = { inner: undefined, cancelled: false, fn, unref() {} };
    t.inner = this.inner.setTimeout(() => {
      if (t.cancelled) return;
      if (this.stalled) this.held.push(t);
      else fn();
    }, ms);
    return t;
  }
  setInterval(fn: () => void, ms: number): TimerHandle {
    const t: HeldTimer = { inner: undefined, cancelled: false, fn, unref() {} };
    t.inner = this.inner.setInterval(() => {
      if (t.cancelled) return;
      if (this.stalled) {
        if (!this.held.includes(t)) this.held.push(t);
      } else fn();
    }, ms);
    return t;
  }
  clearTimeout(handle: TimerHandle | undefined): void {
    const t = handle as HeldTimer | undefined;
    if (!t) return;
    t.cancelled = true;
    this.inner.clearTimeout(t.inner);
  }
  clearInterval(handle: TimerHandle | undefined): void {
    this.clearTimeout(handle);
  }

  get isStalled(): boolean {
    return this.stalled;
  }

  stall(): void {
    this.stalled = true;
  }

  /** Runs the timers held during the stall, then lets time flow again. */
  resume(): void {
    this.stalled = false;
    const held = this.held;
    this.held = [];
    for (const t of held) if (!t.cancelled) t.fn();
  }
}
