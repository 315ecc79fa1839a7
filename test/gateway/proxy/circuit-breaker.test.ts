import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ErrorCode, isKrakendError, KrakendError } from '../../../src/base/errors.js';
import { FakeClock } from '../../../src/base/fake-clock.js';
import { Logger } from '../../../src/base/logger.js';
import type { BackendConfig } from '../../../src/gateway/config/types.js';
import type { JsonObject } from '../../../src/gateway/json/types.js';
import type { CircuitBreakerMiddleware } from '../../../src/gateway/proxy/circuit-breaker.js';
import {
  breakerState,
  CIRCUIT_BREAKER_KIND,
  circuitBreakerMiddleware,
  parseCircuitBreakerConfig,
  validateCircuitBreaker,
} from '../../../src/gateway/proxy/circuit-breaker.js';
import type { Proxy, ProxyRequest, ProxyResponse } from '../../../src/gateway/proxy/types.js';
import { StateRegistry } from '../../../src/gateway/state-registry.js';

const request: ProxyRequest = { method: 'GET', params: {}, query: new URLSearchParams(), headers: {}, body: undefined };
const OK: ProxyResponse = { data: { ok: true }, isComplete: true, metadata: { statusCode: 200, headers: {} } };

function backend(cb: JsonObject | undefined, overrides: Partial<BackendConfig> = {}): BackendConfig {
  return {
    id: 'GET /users#0',
    index: 0,
    host: ['http://127.0.0.1:1'],
    urlPattern: '/users',
    method: 'GET',
    encoding: 'json',
    sd: 'static',
    disableHostSanitize: false,
    group: undefined,
    target: undefined,
    allow: [],
    deny: [],
    mapping: {},
    isCollection: false,
    extraConfig: cb === undefined ? {} : { 'qos/circuit-breaker': cb },
    ...overrides,
  };
}

/** A backend whose next answers are scripted: 'ok', 'fail', 'cancel', or 'hold' (answer later by hand). */
class ScriptedBackend {
  calls = 0;
  private readonly held: { resolve(r: ProxyResponse): void; reject(e: unknown): void }[] = [];
  constructor(public script: ('ok' | 'fail' | 'cancel' | 'hold')[] = []) {}

  readonly proxy: Proxy = () => {
    this.calls++;
    const step = this.script.shift() ?? 'ok';
    if (step === 'ok') return Promise.resolve(OK);
    if (step === 'fail') return Promise.reject(new KrakendError(ErrorCode.BackendStatus, 'invalid status code 500'));
    if (step === 'cancel') return Promise.reject(new KrakendError(ErrorCode.RequestCancelled, 'client went away'));
    return new Promise((resolve, reject) => this.held.push({ resolve, reject }));
  };

  release(outcome: 'ok' | 'fail' | 'cancel'): void {
    const h = this.held.shift();
    assert.ok(h, 'nothing held');
    if (outcome === 'ok') h.resolve(OK);
    else if (outcome === 'fail') h.reject(new KrakendError(ErrorCode.BackendStatus, 'invalid status code 500'));
    else h.reject(new KrakendError(ErrorCode.RequestCancelled, 'client went away'));
  }
}

interface Harness {
  clock: FakeClock;
  lines: string[];
  state: StateRegistry;
  backend: ScriptedBackend;
  mw: CircuitBreakerMiddleware;
  proxy: Proxy;
  call(): Promise<'ok' | string>;
}

function harness(cb: JsonObject, script: ('ok' | 'fail' | 'cancel' | 'hold')[] = []): Harness {
  const clock = new FakeClock();
  const lines: string[] = [];
  const logger = new Logger({ prefix: '[KRAKEND]', level: 'DEBUG', clock, sink: (l) => lines.push(l) });
  const state = new StateRegistry();
  state.begin();
  const mw = circuitBreakerMiddleware(backend(cb), { state, clock, logger });
  assert.ok(mw);
  state.commit();
  const b = new ScriptedBackend(script);
  const proxy = mw(b.proxy);
  return {
    clock,
    lines,
    state,
    backend: b,
    mw,
    proxy,
    call: () => settle(proxy),
  };
}

/** 'ok' for a response, otherwise the error's code and message. */
async function settle(proxy: Proxy): Promise<string> {
  try {
    await proxy(request, new AbortController().signal);
    return 'ok';
  } catch (err) {
    assert.ok(isKrakendError(err));
    return `${err.code}: ${err.message}`;
  }
}

const OPEN = 'E_CIRCUIT_OPEN: circuit breaker is open';
const TOO_MANY = 'E_CIRCUIT_OPEN: too many requests';
const FAILED = 'E_BACKEND_STATUS: invalid status code 500';

describe('circuitBreakerMiddleware', () => {
  test('is undefined when the backend has no qos/circuit-breaker namespace', () => {
    const clock = new FakeClock();
    const logger = new Logger({ prefix: '[KRAKEND]', clock, sink: () => {} });
    const deps = { state: new StateRegistry(), clock, logger };
    assert.equal(circuitBreakerMiddleware(backend(undefined), deps), undefined);
  });

  test('opens when consecutive failures exceed max_errors, then fails fast without calling the backend', async () => {
    const h = harness({ interval: 60, timeout: 10, max_errors: 1 }, ['fail', 'fail']);
    assert.equal(await h.call(), FAILED);
    assert.equal(breakerState(h.mw.breaker, h.clock.monotonic()).state, 'closed', 'one failure is not more than 1');
    assert.equal(await h.call(), FAILED);
    assert.equal(breakerState(h.mw.breaker, h.clock.monotonic()).state, 'open');
    assert.equal(await h.call(), OPEN);
    assert.equal(await h.call(), OPEN);
    assert.equal(h.backend.calls, 2);
  });

  test('max_errors 0 opens on the first failure', async () => {
    const h = harness({ interval: 60, timeout: 10, max_errors: 0 }, ['fail']);
    assert.equal(await h.call(), FAILED);
    assert.equal(await h.call(), OPEN);
  });

  test('a success resets the consecutive failures', async () => {
    const h = harness({ interval: 60, timeout: 10, max_errors: 1 }, ['fail', 'ok', 'fail', 'ok']);
    for (let i = 0; i < 4; i++) await h.call();
    assert.equal(h.mw.breaker.state(h.clock.monotonic()), 'closed');
    assert.deepEqual(breakerState(h.mw.breaker, h.clock.monotonic()).counts, {
      requests: 4,
      totalSuccesses: 2,
      totalFailures: 2,
      totalExclusions: 0,
      consecutiveSuccesses: 1,
      consecutiveFailures: 0,
    });
  });

  test('the counts are cleared once the interval has passed', async () => {
    const h = harness({ interval: 60, timeout: 10, max_errors: 1 }, ['fail', 'fail', 'fail']);
    assert.equal(await h.call(), FAILED);
    h.clock.advance(60_000);
    // Exactly at the end of the window the counts still hold (gobreaker's expiry.Before(now) is strict).
    assert.equal(breakerState(h.mw.breaker, h.clock.monotonic()).counts.consecutiveFailures, 1);
    h.clock.advance(1);
    assert.equal(breakerState(h.mw.breaker, h.clock.monotonic()).counts.consecutiveFailures, 0);
    assert.equal(await h.call(), FAILED);
    assert.equal(h.mw.breaker.state(h.clock.monotonic()), 'closed');
    assert.equal(await h.call(), FAILED);
    assert.equal(h.mw.breaker.state(h.clock.monotonic()), 'open');
  });

  test('interval 0 never clears the counts while closed', async () => {
    const h = harness({ interval: 0, timeout: 10, max_errors: 1 }, ['fail', 'fail']);
    await h.call();
    h.clock.advance(24 * 3_600_000);
    await h.call();
    assert.equal(h.mw.breaker.state(h.clock.monotonic()), 'open');
  });

  test('goes half-open strictly after timeout; one trial success closes it', async () => {
    const h = harness({ interval: 60, timeout: 10, max_errors: 0 }, ['fail', 'ok', 'ok']);
    await h.call();
    h.clock.advance(10_000);
    assert.equal(await h.call(), OPEN);
    h.clock.advance(1);
    assert.equal(h.mw.breaker.state(h.clock.monotonic()), 'half-open');
    assert.equal(await h.call(), 'ok');
    assert.equal(h.mw.breaker.state(h.clock.monotonic()), 'closed');
    assert.equal(await h.call(), 'ok');
    assert.equal(h.backend.calls, 3);
  });

  test('a failed trial reopens it for another full timeout', async () => {
    const h = harness({ interval: 60, timeout: 10, max_errors: 0 }, ['fail', 'fail', 'ok']);
    await h.call();
    h.clock.advance(10_001);
    assert.equal(await h.call(), FAILED);
    assert.equal(h.mw.breaker.state(h.clock.monotonic()), 'open');
    h.clock.advance(10_000);
    assert.equal(await h.call(), OPEN);
    h.clock.advance(1);
    assert.equal(await h.call(), 'ok');
    assert.equal(h.mw.breaker.state(h.clock.monotonic()), 'closed');
  });

  test('half-open lets one trial through at a time (gobreaker MaxRequests 1): the others fail fast', async () => {
    const h = harness({ interval: 60, timeout: 10, max_errors: 0 }, ['fail', 'hold']);
    await h.call();
    h.clock.advance(10_001);
    const trial = h.call();
    assert.equal(await h.call(), TOO_MANY);
    assert.equal(await h.call(), TOO_MANY);
    h.backend.release('ok');
    assert.equal(await trial, 'ok');
    assert.equal(h.mw.breaker.state(h.clock.monotonic()), 'closed');
    assert.equal(h.backend.calls, 2);
  });

  test('a cancelled trial frees the half-open slot and changes nothing', async () => {
    const h = harness({ interval: 60, timeout: 10, max_errors: 0 }, ['fail', 'cancel', 'ok']);
    await h.call();
    h.clock.advance(10_001);
    assert.equal(await h.call(), 'E_REQUEST_CANCELLED: client went away');
    assert.equal(h.mw.breaker.state(h.clock.monotonic()), 'half-open');
    assert.equal(await h.call(), 'ok');
    assert.equal(h.mw.breaker.state(h.clock.monotonic()), 'closed');
  });

  test('cancelled requests count neither as failures nor as successes', async () => {
    const h = harness({ interval: 60, timeout: 10, max_errors: 1 }, ['fail', 'cancel', 'cancel', 'fail']);
    for (let i = 0; i < 4; i++) await h.call();
    const snap = breakerState(h.mw.breaker, h.clock.monotonic());
    assert.equal(snap.state, 'open', 'the two failures stayed consecutive');
  });

  test('a timeout of 0 means gobreaker’s 60 seconds', async () => {
    const h = harness({ interval: 60, timeout: 0, max_errors: 0 }, ['fail']);
    await h.call();
    h.clock.advance(60_000);
    assert.equal(h.mw.breaker.state(h.clock.monotonic()), 'open');
    h.clock.advance(1);
    assert.equal(h.mw.breaker.state(h.clock.monotonic()), 'half-open');
  });

  test('an answer from before a state change is ignored', async () => {
    const h = harness({ interval: 60, timeout: 10, max_errors: 0 }, ['hold', 'fail']);
    const slow = h.call();
    assert.equal(await h.call(), FAILED);
    assert.equal(h.mw.breaker.state(h.clock.monotonic()), 'open');
    h.backend.release('ok');
    assert.equal(await slow, 'ok');
    assert.equal(h.mw.breaker.state(h.clock.monotonic()), 'open', 'the late success belongs to the closed generation');
  });

  test('a response is a success whatever it carries (return_error_details resolves)', async () => {
    const h = harness({ interval: 60, timeout: 10, max_errors: 0 });
    const details: ProxyResponse = {
      data: { error_users: { http_status_code: 503 } },
      isComplete: false,
      metadata: { statusCode: 503, headers: {} },
    };
    const proxy = h.mw(() => Promise.resolve(details));
    for (let i = 0; i < 3; i++) assert.equal(await settle(proxy), 'ok');
    assert.equal(h.mw.breaker.state(h.clock.monotonic()), 'closed');
  });

  test('logs every transition at WARNING with log_status_change, in KrakenD’s words', async () => {
    const h = harness({ interval: 60, timeout: 10, max_errors: 0, name: 'cb-users', log_status_change: true }, [
      'fail',
      'fail',
      'ok',
    ]);
    await h.call();
    h.clock.advance(10_001);
    await h.call();
    h.clock.advance(10_001);
    await h.call();
    const messages = h.lines.map((l) => l.replace(/^\[KRAKEND\] \S+ - \S+ ▶ /, '').trimEnd());
    assert.deepEqual(messages, [
      "DEBUG [BACKEND: /users][CB] Creating the circuit breaker named 'cb-users'",
      "WARNING [BACKEND: /users][CB] Circuit breaker named 'cb-users' went from 'closed' to 'open'",
      "WARNING [BACKEND: /users][CB] Circuit breaker named 'cb-users' went from 'open' to 'half-open'",
      "WARNING [BACKEND: /users][CB] Circuit breaker named 'cb-users' went from 'half-open' to 'open'",
      "WARNING [BACKEND: /users][CB] Circuit breaker named 'cb-users' went from 'open' to 'half-open'",
      "WARNING [BACKEND: /users][CB] Circuit breaker named 'cb-users' went from 'half-open' to 'closed'",
    ]);
  });

  test('logs no transition without log_status_change', async () => {
    const h = harness({ interval: 60, timeout: 10, max_errors: 0 }, ['fail']);
    await h.call();
    assert.equal(h.lines.filter((l) => l.includes('WARNING')).length, 0);
  });

  test('breakerState reports the state, counts and when it next changes by itself', async () => {
    const h = harness({ interval: 60, timeout: 10, max_errors: 0, name: 'x' }, ['fail']);
    h.clock.advance(5);
    await h.call();
    const snap = breakerState(h.mw.breaker, h.clock.monotonic());
    assert.equal(snap.name, 'x');
    assert.equal(snap.state, 'open');
    assert.equal(snap.since, 5);
    assert.equal(snap.until, 10_005);
  });
});

describe('circuit breaker state across a reload', () => {
  function reload(state: StateRegistry, clock: FakeClock, cb: JsonObject | undefined, lines: string[] = []) {
    const logger = new Logger({ prefix: '[KRAKEND]', clock, sink: (l) => lines.push(l) });
    state.begin();
    const mw = circuitBreakerMiddleware(backend(cb), { state, clock, logger });
    state.commit();
    return mw;
  }

  test('an open breaker stays open, counting from when it opened, and new settings apply in place', async () => {
    const clock = new FakeClock();
    const state = new StateRegistry();
    const first = reload(state, clock, { interval: 60, timeout: 10, max_errors: 0 });
    assert.ok(first);
    const failing = first(() => Promise.reject(new KrakendError(ErrorCode.BackendConnection, 'ECONNREFUSED')));
    await settle(failing);
    assert.equal(first.breaker.state(clock.monotonic()), 'open');

    clock.advance(5_000);
    const lines: string[] = [];
    const second = reload(state, clock, { interval: 60, timeout: 30, max_errors: 0, log_status_change: true }, lines);
    assert.ok(second);
    assert.equal(second.breaker, first.breaker, 'the same breaker, claimed by its backend id');
    let calls = 0;
    const healthy = second(() => {
      calls++;
      return Promise.resolve(OK);
    });
    assert.equal(await settle(healthy), OPEN);
    clock.advance(10_000); // 15 s after opening: the old timeout would have passed, the new one has not
    assert.equal(await settle(healthy), OPEN);
    clock.advance(15_001); // just over 30 s after opening
    assert.equal(await settle(healthy), 'ok');
    assert.equal(calls, 1);
    assert.equal(second.breaker.state(clock.monotonic()), 'closed');
    assert.ok(lines.some((l) => l.includes("went from 'half-open' to 'closed'")), 'the new config’s logging applies');
  });

  test('in-flight requests of the old config report to the same breaker', async () => {
    const clock = new FakeClock();
    const state = new StateRegistry();
    const first = reload(state, clock, { interval: 60, timeout: 10, max_errors: 0 });
    assert.ok(first);
    let fail!: (e: unknown) => void;
    const old = settle(first(() => new Promise((_r, rej) => (fail = rej))));
    const second = reload(state, clock, { interval: 60, timeout: 10, max_errors: 0 });
    assert.ok(second);
    fail(new KrakendError(ErrorCode.BackendTimeout, 'timed out'));
    await old;
    assert.equal(second.breaker.state(clock.monotonic()), 'open');
  });

  test('a backend that loses its breaker loses the state; adding it back starts closed', async () => {
    const clock = new FakeClock();
    const state = new StateRegistry();
    const first = reload(state, clock, { interval: 60, timeout: 10, max_errors: 0 });
    assert.ok(first);
    await settle(first(() => Promise.reject(new KrakendError(ErrorCode.BackendConnection, 'ECONNREFUSED'))));
    assert.equal(reload(state, clock, undefined), undefined);
    assert.equal(state.size, 0);
    const third = reload(state, clock, { interval: 60, timeout: 10, max_errors: 0 });
    assert.ok(third);
    assert.notEqual(third.breaker, first.breaker);
    assert.equal(third.breaker.state(clock.monotonic()), 'closed');
  });

  test('breakers are kept under their own kind and the backend id', () => {
    const clock = new FakeClock();
    const state = new StateRegistry();
    const mw = reload(state, clock, { interval: 60, timeout: 10, max_errors: 0 });
    assert.ok(mw);
    const claimed = state.claim(CIRCUIT_BREAKER_KIND, 'GET /users#0', () => 'fresh');
    assert.equal(claimed, mw.breaker);
  });
});

describe('circuit breaker configuration', () => {
  test('reads KrakenD’s keys, seconds to milliseconds, fractions truncated as Go’s int()', () => {
    assert.deepEqual(
      parseCircuitBreakerConfig({
        'qos/circuit-breaker': { interval: 60, timeout: 10.9, max_errors: 3, name: 'cb', log_status_change: true },
      }),
      { name: 'cb', interval: 60_000, timeout: 10_000, maxErrors: 3, logStatusChange: true },
    );
    assert.deepEqual(parseCircuitBreakerConfig({ 'qos/circuit-breaker': {} }), {
      name: '',
      interval: 0,
      timeout: 0,
      maxErrors: 0,
      logStatusChange: false,
    });
    assert.equal(parseCircuitBreakerConfig({}), undefined);
  });

  test('validation reports missing and mistyped settings', () => {
    assert.deepEqual(validateCircuitBreaker({}), []);
    const fine = { 'qos/circuit-breaker': { interval: 60, timeout: 10, max_errors: 1 } };
    assert.deepEqual(validateCircuitBreaker(fine), []);
    assert.deepEqual(validateCircuitBreaker({ 'qos/circuit-breaker': [] as never }), [
      'qos/circuit-breaker: must be an object',
    ]);
    assert.deepEqual(
      validateCircuitBreaker({
        'qos/circuit-breaker': { interval: '60s', max_errors: -1, name: 3, log_status_change: 'yes' },
      }),
      [
        'qos/circuit-breaker.interval must be a whole number of seconds (0 or more)',
        'qos/circuit-breaker.timeout is required',
        'qos/circuit-breaker.max_errors must be a whole number of errors (0 or more)',
        'qos/circuit-breaker.name must be a string',
        'qos/circuit-breaker.log_status_change must be true or false',
      ],
    );
  });
});
