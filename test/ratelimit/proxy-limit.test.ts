import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ErrorCode, isKrakendError } from '../../src/base/errors.js';
import { FakeClock } from '../../src/base/fake-clock.js';
import { StateRegistry } from '../../src/gateway/state-registry.js';
import type { Proxy, ProxyRequest, ProxyResponse } from '../../src/gateway/proxy/types.js';
import { createProxyLimiter, proxyRateLimitMiddleware } from '../../src/ratelimit/proxy-limit.js';
import { backendWith } from './fixtures.js';

const request: ProxyRequest = { method: 'GET', params: {}, query: new URLSearchParams(), headers: {}, body: undefined };
const ok: ProxyResponse = { data: { ok: true }, isComplete: true, metadata: { statusCode: 200, headers: {} } };

function counting(): { proxy: Proxy; calls: () => number } {
  let calls = 0;
  return {
    proxy: () => {
      calls++;
      return Promise.resolve(ok);
    },
    calls: () => calls,
  };
}

describe('backend rate limit', () => {
  test('is absent when the backend declares none', () => {
    const deps = { state: new StateRegistry(), clock: new FakeClock() };
    assert.equal(proxyRateLimitMiddleware(backendWith({}), deps), undefined);
    const zero = backendWith({ 'qos/ratelimit/proxy': { max_rate: 0 } });
    assert.equal(proxyRateLimitMiddleware(zero, deps), undefined);
  });

  test('refuses an invalid namespace when built', () => {
    const deps = { state: new StateRegistry(), clock: new FakeClock() };
    assert.throws(
      () => proxyRateLimitMiddleware(backendWith({ 'qos/ratelimit/proxy': { max_rate: 'lots' } }), deps),
      (err: unknown) => isKrakendError(err, ErrorCode.ConfigInvalid),
    );
  });

  test('once empty, fails with "rate limit exceeded" (status 500) and does not call the backend', async () => {
    const clock = new FakeClock();
    const limited = backendWith({ 'qos/ratelimit/proxy': { max_rate: 2, capacity: 2 } });
    const middleware = proxyRateLimitMiddleware(limited, { state: new StateRegistry(), clock });
    assert.ok(middleware);
    const backend = counting();
    const proxy = middleware(backend.proxy);
    const signal = new AbortController().signal;
    assert.equal(await proxy(request, signal), ok);
    assert.equal(await proxy(request, signal), ok);
    await assert.rejects(proxy(request, signal), (err: unknown) => {
      assert.ok(isKrakendError(err, ErrorCode.RateLimited));
      assert.equal(err.status, 500);
      assert.equal(err.message, 'rate limit exceeded');
      return true;
    });
    assert.equal(backend.calls(), 2);
    clock.advance(500);
    assert.equal(await proxy(request, signal), ok);
    assert.equal(backend.calls(), 3);
  });

  test('keeps its bucket across a reload and applies the new figures in place', () => {
    const clock = new FakeClock();
    const state = new StateRegistry();
    state.begin();
    const limited = backendWith({ 'qos/ratelimit/proxy': { max_rate: 5, capacity: 5 } });
    const v1 = createProxyLimiter(limited, { state, clock });
    state.commit();
    for (let i = 0; i < 4; i++) v1?.admit();
    state.begin();
    const v2 = createProxyLimiter(backendWith({ 'qos/ratelimit/proxy': { max_rate: 1, capacity: 3, every: '1m' } }), {
      state,
      clock,
    });
    state.commit();
    assert.ok(v2);
    assert.equal(v2, v1);
    assert.equal(v2.id, 'ratelimit/proxy:GET /users/{id}#0');
    assert.deepEqual(v2.share, { rate: { tokens: 1, per: 60_000 }, capacity: 3 });
    assert.equal(v2.admit(), 0); // the one token left before the reload
    assert.equal(v2.admit(), 500);
  });
});
