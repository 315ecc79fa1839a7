/**
 * The backend circuit breaker, namespace `qos/circuit-breaker` (KrakenD's krakend-circuitbreaker on sony/gobreaker
 * v2). It wraps one backend's HTTP proxy, the innermost stage, as `cb.BackendFactory` wraps Lura's backend
 * factory: one breaker per backend (not per host), and every attempt of `concurrent_calls` goes through it.
 *
 * States and transitions, as gobreaker with KrakenD's settings:
 *
 * - `closed`: requests pass. Each failure bumps the consecutive-failure count, each success resets it. When the
 *   count *exceeds* `max_errors` (`ConsecutiveFailures > max_errors`, so `max_errors: 1` opens on the second
 *   consecutive failure, and `0` on the first) the breaker opens. With `interval` > 0 the counts are cleared every
 *   `interval` seconds (a fixed window starting when the breaker entered `closed` or last cleared); with 0 they are
 *   only cleared by a state change.
 * - `open`: every request fails at once with `circuit breaker is open` (code `E_CIRCUIT_OPEN`, no HTTP status of
 *   its own, so a lone backend's endpoint answers 500) for `timeout` seconds (≤ 0 means gobreaker's 60 s). The
 *   backend is not called.
 * - `half-open`: once more than `timeout` has passed (gobreaker's `expiry.Before(now)`: strictly after), the next
 *   request is let through as a trial; gobreaker's `MaxRequests` is 0 in KrakenD, which means 1, so while that one
 *   is in flight the others fail with `too many requests` (also `E_CIRCUIT_OPEN`). One success closes the breaker,
 *   one failure reopens it for another `timeout`.
 *
 * Transitions happen lazily, when a request (or `breakerState`) looks at the breaker, as in gobreaker: no timers.
 * Every state change starts a new generation and clears the counts; an outcome reported for an older generation
 * (a request that started before the change) is ignored.
 *
 * What counts: a rejected backend call is a failure, a resolved one a success, whatever its data. So for non-`no-op`
 * backends a status other than 200/201, a decoding error, a connection error or a timeout (the endpoint's or the
 * merge's deadline) is a failure; a `no-op` backend fails only on connection errors and timeouts; and a backend with
 * `return_error_details` resolves on a bad status, which counts as a success (Lura turns that error into a response
 * before the breaker sees it). A cancelled call (`E_REQUEST_CANCELLED`: the client went away, or `concurrent_calls`
 * cancelled the slower attempts) is excluded, neither success nor failure, as KrakenD's `IsExcluded` does for
 * `context.Canceled`.
 *
 * State lives in the gateway's StateRegistry under the backend's stable id (kind `circuit-breaker`), so a reload
 * keeps open breakers open and counts counting; new settings apply in place. Expiries are computed from the
 * generation's start and the current settings, so a reload that changes `timeout` or `interval` moves a pending
 * expiry accordingly. Time is the injected clock's monotonic milliseconds.
 *
 * With `log_status_change`, every transition is logged at WARNING:
 * `[BACKEND: /url_pattern][CB] Circuit breaker named 'name' went from 'closed' to 'open'`.
 */
import type { Clock } from '../../base/clock.js';
import { ErrorCode, KrakendError } from '../../base/errors.js';
import type { Logger } from '../../base/logger.js';
import type { BackendConfig, ExtraConfig } from '../config/types.js';
import { isJsonObject } from '../json/types.js';
import type { JsonValue } from '../json/types.js';
import type { StateRegistry } from '../state-registry.js';
import type { Middleware, Proxy } from './types.js';

export const CIRCUIT_BREAKER_NAMESPACE = 'qos/circuit-breaker';
/** The StateRegistry kind breakers are kept under, keyed by `BackendConfig.id`. */
export const CIRCUIT_BREAKER_KIND = 'circuit-breaker';

/** gobreaker's default open period, used when `timeout` is 0 or less. */
const DEFAULT_TIMEOUT_MS = 60_000;
/** gobreaker's `MaxRequests` default: one trial request at a time while half-open. */
const HALF_OPEN_MAX_REQUESTS = 1;

export type BreakerStateName = 'closed' | 'half-open' | 'open';

export interface CircuitBreakerSettings {
  /** `name`; gobreaker keeps it for messages only. Empty when not set. */
  readonly name: string;
  /** Counting window while closed, ms (`interval` seconds); 0 never clears the counts while closed. */
  readonly interval: number;
  /** How long the breaker stays open, ms (`timeout` seconds; 0 or less means 60 s). */
  readonly timeout: number;
  /** Consecutive failures tolerated: the breaker opens when they exceed this. */
  readonly maxErrors: number;
  readonly logStatusChange: boolean;
}

/** gobreaker's Counts, plus its TotalExclusions. */
export interface BreakerCounts {
  requests: number;
  totalSuccesses: number;
  totalFailures: number;
  totalExclusions: number;
  consecutiveSuccesses: number;
  consecutiveFailures: number;
}

export interface BreakerSnapshot {
  readonly name: string;
  readonly state: BreakerStateName;
  readonly counts: Readonly<BreakerCounts>;
  /** Monotonic ms when the current generation started (state entered, or counts last cleared). */
  readonly since: number;
  /** Monotonic ms after which the state changes by itself: end of the window (closed) or of `timeout` (open). */
  readonly until: number | undefined;
}

export type Outcome = 'success' | 'failure' | 'excluded';

export type StateChangeListener = (name: string, from: BreakerStateName, to: BreakerStateName) => void;

/**
 * gobreaker's state machine over explicit monotonic times. Not tied to a clock or a logger, so it can be driven
 * step by step; `circuitBreakerMiddleware` is its driver.
 */
export class CircuitBreaker {
  private settings: CircuitBreakerSettings;
  private current: BreakerStateName = 'closed';
  private generation = 0;
  private start: number;
  private readonly counts: BreakerCounts = emptyCounts();
  /** Called on every transition; replaced on reload with the new config's logger and label. */
  onStateChange: StateChangeListener | undefined;

  constructor(settings: CircuitBreakerSettings, now: number, onStateChange?: StateChangeListener) {
    this.settings = settings;
    this.start = now;
    this.onStateChange = onStateChange;
  }

  /** Applies new settings without resetting the state or the counts. */
  configure(settings: CircuitBreakerSettings): void {
    this.settings = settings;
  }

  get name(): string {
    return this.settings.name;
  }

  /** The state at `now`, after any transition that is due. */
  state(now: number): BreakerStateName {
    this.advance(now);
    return this.current;
  }

  /**
   * Lets a request through, returning the generation to report its outcome against; throws an `E_CIRCUIT_OPEN`
   * KrakendError when the breaker is open, or half-open with its trial request still in flight.
   */
  admit(now: number): number {
    this.advance(now);
    if (this.current === 'open') throw new KrakendError(ErrorCode.CircuitOpen, 'circuit breaker is open');
    if (this.current === 'half-open' && this.validRequests() >= HALF_OPEN_MAX_REQUESTS) {
      throw new KrakendError(ErrorCode.CircuitOpen, 'too many requests');
    }
    this.counts.requests++;
    return this.generation;
  }

  /** Reports how an admitted request ended. Ignored when the generation changed since it was admitted. */
  record(generation: number, outcome: Outcome, now: number): void {
    this.advance(now);
    if (generation !== this.generation) return;
    const c = this.counts;
    if (outcome === 'excluded') {
      c.totalExclusions++;
      return;
    }
    if (outcome === 'success') {
      c.totalSuccesses++;
      c.consecutiveSuccesses++;
      c.consecutiveFailures = 0;
      if (this.current === 'half-open' && c.consecutiveSuccesses >= HALF_OPEN_MAX_REQUESTS) {
        this.transition('closed', now);
      }
      return;
    }
    if (this.current === 'half-open') {
      this.transition('open', now);
      return;
    }
    if (this.current === 'closed') {
      c.totalFailures++;
      c.consecutiveFailures++;
      c.consecutiveSuccesses = 0;
      if (c.consecutiveFailures > this.settings.maxErrors) this.transition('open', now);
    }
  }

  snapshot(now: number): BreakerSnapshot {
    this.advance(now);
    return {
      name: this.settings.name,
      state: this.current,
      counts: { ...this.counts },
      since: this.start,
      until: this.expiry(),
    };
  }

  /** Requests admitted in this generation that did not end up excluded (gobreaker's `validRequests`). */
  private validRequests(): number {
    return this.counts.requests - this.counts.totalExclusions;
  }

  private expiry(): number | undefined {
    switch (this.current) {
      case 'closed':
        return this.settings.interval > 0 ? this.start + this.settings.interval : undefined;
      case 'open':
        return this.start + (this.settings.timeout > 0 ? this.settings.timeout : DEFAULT_TIMEOUT_MS);
      default:
        return undefined;
    }
  }

  /** gobreaker's currentState: a closed window that ended starts a new generation; an expired open goes half-open. */
  private advance(now: number): void {
    const expiry = this.expiry();
    if (expiry === undefined || !(expiry < now)) return;
    if (this.current === 'closed') this.newGeneration(now);
    else this.transition('half-open', now);
  }

  private transition(to: BreakerStateName, now: number): void {
    if (this.current === to) return;
    const from = this.current;
    this.current = to;
    this.newGeneration(now);
    this.onStateChange?.(this.settings.name, from, to);
  }

  private newGeneration(now: number): void {
    this.generation++;
    this.start = now;
    const c = this.counts;
    c.requests = c.totalSuccesses = c.totalFailures = c.totalExclusions = 0;
    c.consecutiveSuccesses = c.consecutiveFailures = 0;
  }
}

function emptyCounts(): BreakerCounts {
  return {
    requests: 0,
    totalSuccesses: 0,
    totalFailures: 0,
    totalExclusions: 0,
    consecutiveSuccesses: 0,
    consecutiveFailures: 0,
  };
}

/** A breaker's state for the stats collector: name, state, counts and when the state next changes by itself. */
export function breakerState(breaker: CircuitBreaker, now: number): BreakerSnapshot {
  return breaker.snapshot(now);
}

/** The middleware, and the breaker it drives (for the stats collector, via `breakerState`). */
export type CircuitBreakerMiddleware = Middleware & { readonly breaker: CircuitBreaker };

export interface CircuitBreakerDeps {
  state: StateRegistry;
  clock: Clock;
  logger: Logger;
}

/**
 * The circuit breaker for one backend, or undefined when its `extra_config` has no `qos/circuit-breaker`. Place it
 * directly around the backend's HTTP proxy, inside the response formatter and `concurrent_calls`.
 */
export function circuitBreakerMiddleware(
  backend: BackendConfig,
  deps: CircuitBreakerDeps,
): CircuitBreakerMiddleware | undefined {
  const settings = parseCircuitBreakerConfig(backend.extraConfig);
  if (settings === undefined) return undefined;
  const { clock, logger } = deps;
  const prefix = `[BACKEND: ${backend.urlPattern}][CB]`;
  const onStateChange: StateChangeListener | undefined = settings.logStatusChange
    ? (name, from, to) => logger.warning(`${prefix} Circuit breaker named '${name}' went from '${from}' to '${to}'`)
    : undefined;
  const breaker = deps.state.claim(
    CIRCUIT_BREAKER_KIND,
    backend.id,
    () => new CircuitBreaker(settings, clock.monotonic()),
    (existing) => existing.configure(settings),
  );
  breaker.onStateChange = onStateChange;
  logger.debug(`${prefix} Creating the circuit breaker named '${settings.name}'`);

  const middleware = (next: Proxy): Proxy =>
    async function circuitBreakerProxy(request, signal) {
      const generation = breaker.admit(clock.monotonic());
      let response;
      try {
        response = await next(request, signal);
      } catch (err) {
        breaker.record(generation, isExcluded(err) ? 'excluded' : 'failure', clock.monotonic());
        throw err;
      }
      breaker.record(generation, 'success', clock.monotonic());
      return response;
    };
  return Object.assign(middleware, { breaker });
}

/** KrakenD excludes `context.Canceled`; ours is a cancelled request (client gone, concurrent call cancelled). */
function isExcluded(err: unknown): boolean {
  return err instanceof KrakendError && err.code === ErrorCode.RequestCancelled;
}

// ---------------------------------------------------------------------------------------------------------------
// Configuration

/**
 * The namespace's settings, as krakend-circuitbreaker's ConfigGetter reads them: `interval`, `timeout` and
 * `max_errors` as whole seconds / counts (fractions truncated, like Go's `int(float64)`; anything not a number is
 * 0), `name` if a string, `log_status_change` if `true`. Undefined when the namespace is absent or not an object.
 */
export function parseCircuitBreakerConfig(extra: ExtraConfig): CircuitBreakerSettings | undefined {
  const raw = extra[CIRCUIT_BREAKER_NAMESPACE];
  if (!isJsonObject(raw)) return undefined;
  return {
    name: typeof raw['name'] === 'string' ? raw['name'] : '',
    interval: wholeNumber(raw['interval']) * 1000,
    timeout: wholeNumber(raw['timeout']) * 1000,
    maxErrors: wholeNumber(raw['max_errors']),
    logStatusChange: raw['log_status_change'] === true,
  };
}

/**
 * Problems with the namespace, one sentence each; empty when it is absent or fine. KrakenD's schema requires
 * `interval`, `timeout` and `max_errors`; a missing or mistyped one would silently become 0 (no window, 60 s open,
 * open on the first error), so each is reported.
 */
export function validateCircuitBreaker(extra: ExtraConfig): string[] {
  if (!(CIRCUIT_BREAKER_NAMESPACE in extra)) return [];
  const raw = extra[CIRCUIT_BREAKER_NAMESPACE];
  if (!isJsonObject(raw)) return [`${CIRCUIT_BREAKER_NAMESPACE}: must be an object`];
  const problems: string[] = [];
  for (const key of ['interval', 'timeout', 'max_errors']) {
    const v = raw[key];
    if (v === undefined) problems.push(`${CIRCUIT_BREAKER_NAMESPACE}.${key} is required`);
    else if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
      const unit = key === 'max_errors' ? 'errors' : 'seconds';
      problems.push(`${CIRCUIT_BREAKER_NAMESPACE}.${key} must be a whole number of ${unit} (0 or more)`);
    }
  }
  if (raw['name'] !== undefined && typeof raw['name'] !== 'string') {
    problems.push(`${CIRCUIT_BREAKER_NAMESPACE}.name must be a string`);
  }
  if (raw['log_status_change'] !== undefined && typeof raw['log_status_change'] !== 'boolean') {
    problems.push(`${CIRCUIT_BREAKER_NAMESPACE}.log_status_change must be true or false`);
  }
  return problems;
}

function wholeNumber(v: JsonValue | undefined): number {
  return typeof v === 'number' && Number.isFinite(v) ? Math.trunc(v) : 0;
}
