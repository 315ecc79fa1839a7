/**
 * Time as a dependency. Every module that reads the time or sets a timer takes a Clock, so protocol and
 * limiter logic runs identically under the FakeClock in tests and the SystemClock in production.
 */
export interface TimerHandle {
  /** Lets the process exit even though the timer is pending (no-op on fake timers). */
  unref(): void;
}

export interface Clock {
  /** Wall-clock time, milliseconds since the Unix epoch. For display and for data that crosses processes. */
  now(): number;
  /** Monotonic milliseconds (fractional). For every duration, deadline and TTL: never jumps with NTP. */
  monotonic(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle | undefined): void;
  setInterval(fn: () => void, ms: number): TimerHandle;
  clearInterval(handle: TimerHandle | undefined): void;
}

export class SystemClock implements Clock {
  now(): number {
    return Date.now();
  }
  monotonic(): number {
    return performance.now();
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    return setTimeout(fn, ms);
  }
  clearTimeout(handle: TimerHandle | undefined): void {
    if (handle) clearTimeout(handle as NodeJS.Timeout);
  }
  setInterval(fn: () => void, ms: number): TimerHandle {
    return setInterval(fn, ms);
  }
  clearInterval(handle: TimerHandle | undefined): void {
    if (handle) clearInterval(handle as NodeJS.Timeout);
  }
}

/** One shared instance is fine: SystemClock holds no state. */
export const systemClock: Clock = new SystemClock();
