import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ErrorCode, isKrakendError } from '../../src/base/errors.js';
import { FakeClock } from '../../src/base/fake-clock.js';
import { StateRegistry } from '../../src/gateway/state-registry.js';
import type { JsonObject } from '../../src/gateway/json/types.js';
import type { Limiter } from '../../src/ratelimit/limiter.js';
import { createRouterLimit } from '../../src/ratelimit/router-limit.js';
import type { RouterLimit } from '../../src/ratelimit/router-limit.js';
import { endpointWith, requestWith } from './fixtures.js';

function setup(ns: JsonObject, params: string[] = ['id']) {
  const clock = new FakeClock();
  const state = new StateRegistry();
  const registered: Limiter[] = [];
  const endpoint = endpointWith({ 'qos/ratelimit/router': ns }, '/users/{id}', params);
  const limit = createRouterLimit(endpoint, { state, clock, register: (l) => registered.push(l) }) as RouterLimit;
  assert.ok(limit);
  return { clock, state, limit, registered };
}

/** The statuses of `n` checks. */
function statuses(n: number, check: () => number): number[] {
  return Array.from({ length: n }, check);
}

const noHeaders = requestWith();

describe('router rate limit', () => {
  test('is absent when the endpoint declares none, or only zero rates', () => {
    const deps = { state: new StateRegistry(), clock: new FakeClock() };
    assert.equal(createRouterLimit(endpointWith({}), deps), undefined);
    assert.equal(createRouterLimit(endpointWith({ 'qos/ratelimit/router': { max_rate: 0 } }), deps), undefined);
    assert.equal(deps.state.size, 0);
  });

  test('refuses an invalid namespace when built', () => {
    const deps = { state: new StateRegistry(), clock: new FakeClock() };
    const headerWithoutKey = endpointWith({ 'qos/ratelimit/router': { client_max_rate: 1, strategy: 'header' } });
    assert.throws(
      () => createRouterLimit(headerWithoutKey, deps),
      (err: unknown) => isKrakendError(err, ErrorCode.ConfigInvalid) && /key: is required/.test(err.message),
    );
  });

  test('the endpoint limit answers 503 once all clients together spent the capacity, then refills', () => {
    const { clock, limit } = setup({ max_rate: 3, capacity: 3 });
    const check = (ip: string) => () => limit.check(noHeaders, {}, ip);
    assert.deepEqual(statuses(2, check('1.1.1.1')), [0, 0]);
    assert.deepEqual(statuses(2, check('2.2.2.2')), [0, 503]);
    clock.advance(334);
    assert.deepEqual(statuses(2, check('3.3.3.3')), [0, 503]);
    assert.equal(limit.client, undefined);
    assert.equal(limit.endpoint?.id, 'ratelimit/router:GET /users/{id}');
  });

  test('the ip strategy gives each client IP its own bucket and answers 429', () => {
    const { limit } = setup({ client_max_rate: 2, strategy: 'ip' });
    const check = (ip: string) => () => limit.check(noHeaders, {}, ip);
    assert.deepEqual(statuses(3, check('10.0.0.1')), [0, 0, 429]);
    assert.deepEqual(statuses(3, check('10.0.0.2')), [0, 0, 429]);
    assert.equal(limit.client?.id, 'ratelimit/router/client:GET /users/{id}');
  });

  test('the ip strategy with a key reads the first IP of that header, else the client IP', () => {
    const { limit } = setup({ client_max_rate: 1, strategy: 'ip', key: 'X-Real-Forwarded-For' });
    const via = (value: string) => requestWith({ 'x-real-forwarded-for': value });
    assert.equal(limit.check(via('203.0.113.7, 10.0.0.1'), {}, '10.0.0.1'), 0);
    assert.equal(limit.check(via('203.0.113.7:4431'), {}, '10.0.0.2'), 429);
    assert.equal(limit.check(via('[2001:db8::1]:443'), {}, '10.0.0.1'), 0);
    assert.equal(limit.check(via('2001:db8::1'), {}, '10.0.0.3'), 429);
    assert.equal(limit.check(via('::ffff:198.51.100.2'), {}, '10.0.0.1'), 0);
    assert.equal(limit.check(via('198.51.100.2'), {}, '10.0.0.4'), 429);
    // Not an IP, or no header: the client IP is the key.
    assert.equal(limit.check(via('unknown'), {}, '10.0.0.9'), 0);
    assert.equal(limit.check(noHeaders, {}, '10.0.0.9'), 429);
  });

  test('the header strategy keys clients by the header\'s value, whatever its case in the config', () => {
    const { limit } = setup({ client_max_rate: 1, strategy: 'header', key: 'X-Tenant' });
    assert.equal(limit.check(requestWith({ 'x-tenant': 'acme' }), {}, '1.1.1.1'), 0);
    assert.equal(limit.check(requestWith({ 'x-tenant': 'acme' }), {}, '2.2.2.2'), 429);
    assert.equal(limit.check(requestWith({ 'x-tenant': 'globex' }), {}, '1.1.1.1'), 0);
  });

  test('with the header strategy, a request without the header, or with it empty, is refused with 429', () => {
    const { limit } = setup({ max_rate: 10, client_max_rate: 100, strategy: 'header', key: 'Authorization' });
    assert.equal(limit.check(noHeaders, {}, '1.1.1.1'), 429);
    assert.equal(limit.check(requestWith({ authorization: '' }), {}, '1.1.1.1'), 429);
    // No token was taken from the endpoint limit or from any client for them.
    assert.equal(limit.endpoint?.admitted, 0);
    assert.deepEqual(limit.client?.takeDemand(), { admitted: 0, rejected: 2 });
    assert.equal(limit.check(requestWith({ authorization: 'Bearer x' }), {}, '1.1.1.1'), 0);
  });

  test('the param strategy keys clients by the endpoint param, and refuses an empty one with 429', () => {
    const { limit } = setup({ client_max_rate: 1, strategy: 'param', key: 'id' });
    assert.equal(limit.check(noHeaders, { id: '42' }, '1.1.1.1'), 0);
    assert.equal(limit.check(noHeaders, { id: '42' }, '2.2.2.2'), 429);
    assert.equal(limit.check(noHeaders, { id: '43' }, '1.1.1.1'), 0);
    assert.equal(limit.check(noHeaders, { id: '' }, '1.1.1.1'), 429);
  });

  test('the client limit is checked first: its refusals spend no endpoint token', () => {
    const { limit } = setup({ max_rate: 3, capacity: 3, client_max_rate: 1, strategy: 'ip' });
    assert.equal(limit.check(noHeaders, {}, 'a'), 0);
    for (let i = 0; i < 10; i++) assert.equal(limit.check(noHeaders, {}, 'a'), 429);
    assert.equal(limit.check(noHeaders, {}, 'b'), 0);
    assert.equal(limit.check(noHeaders, {}, 'c'), 0);
    assert.equal(limit.check(noHeaders, {}, 'd'), 503);
    assert.deepEqual(limit.endpoint?.takeDemand(), { admitted: 3, rejected: 1 });
  });

  test('registers its limiters each time it is built, for the cluster agent', () => {
    const { registered } = setup({ max_rate: 3, client_max_rate: 1, strategy: 'ip' });
    assert.deepEqual(
      registered.map((l) => [l.id, l.kind]),
      [
        ['ratelimit/router:GET /users/{id}', 'endpoint'],
        ['ratelimit/router/client:GET /users/{id}', 'client'],
      ],
    );
  });

  test('a reload keeps the same limiters and their tokens, and applies the new figures in place', () => {
    const clock = new FakeClock();
    const state = new StateRegistry();
    const v1 = endpointWith({ 'qos/ratelimit/router': { max_rate: 10, client_max_rate: 5, strategy: 'ip' } });
    state.begin();
    const before = createRouterLimit(v1, { state, clock }) as RouterLimit;
    state.commit();
    for (let i = 0; i < 4; i++) before.check(noHeaders, {}, 'a');
    for (let i = 0; i < 2; i++) before.check(noHeaders, {}, 'b');
    const { endpoint, client } = before;

    const v2 = endpointWith({
      'qos/ratelimit/router': {
        max_rate: 20,
        capacity: 8,
        client_max_rate: 2,
        client_capacity: 2,
        every: '1m',
        strategy: 'IP',
      },
    });
    state.begin();
    const after = createRouterLimit(v2, { state, clock }) as RouterLimit;
    state.commit();

    assert.equal(after.endpoint, endpoint);
    assert.equal(after.client, client);
    assert.deepEqual(after.endpoint?.share, { rate: { tokens: 20, per: 60_000 }, capacity: 8 });
    assert.deepEqual(after.client?.share, { rate: { tokens: 2, per: 60_000 }, capacity: 2 });
    // Tokens unchanged: the endpoint holds 10 - 6 = 4 (not its new capacity of 8); client a holds 5 - 4 = 1.
    assert.deepEqual(statuses(2, () => after.check(noHeaders, {}, 'a')), [0, 429]);
    // A new client gets the new capacity, 2.
    assert.deepEqual(statuses(3, () => after.check(noHeaders, {}, 'c')), [0, 0, 429]);
    // The endpoint spent 3 of its 4 tokens since the reload.
    let n = 0;
    assert.deepEqual(statuses(3, () => after.check(noHeaders, {}, `new-${n++}`)), [0, 503, 503]);
    // The old config's handler, still serving in-flight requests, shares the same state.
    assert.equal(before.check(noHeaders, {}, 'z'), 503);
  });

  test('a reload that changes the strategy or key starts the client buckets over', () => {
    const clock = new FakeClock();
    const state = new StateRegistry();
    const build = (ns: JsonObject) => {
      state.begin();
      const limit = createRouterLimit(endpointWith({ 'qos/ratelimit/router': ns }), { state, clock }) as RouterLimit;
      state.commit();
      return limit;
    };
    const v1 = build({ client_max_rate: 1, strategy: 'header', key: 'X-Tenant' });
    const first = v1.client;
    v1.check(requestWith({ 'x-tenant': 'acme' }), {}, '1.1.1.1');
    const v2 = build({ client_max_rate: 1, strategy: 'header', key: 'X-Tenant' });
    assert.equal(v2.client, first);
    const v3 = build({ client_max_rate: 1, strategy: 'header', key: 'X-User' });
    assert.notEqual(v3.client, first);
    assert.equal(v3.check(requestWith({ 'x-user': 'acme' }), {}, '1.1.1.1'), 0);
  });

  test('a reload that adds or drops one of the two limits keeps the other', () => {
    const clock = new FakeClock();
    const state = new StateRegistry();
    const build = (ns: JsonObject) => {
      state.begin();
      const limit = createRouterLimit(endpointWith({ 'qos/ratelimit/router': ns }), { state, clock }) as RouterLimit;
      state.commit();
      return limit;
    };
    const endpoint = build({ max_rate: 5 }).endpoint;
    const v2 = build({ max_rate: 5, client_max_rate: 1, strategy: 'ip' });
    assert.equal(v2.endpoint, endpoint);
    const client = v2.client;
    assert.ok(client);
    const v3 = build({ client_max_rate: 1, strategy: 'ip' });
    assert.equal(v3.endpoint, undefined);
    assert.equal(v3.client, client);
  });

  test('a reload without the limit drops its state; adding it back starts full', () => {
    const clock = new FakeClock();
    const state = new StateRegistry();
    const limited = endpointWith({ 'qos/ratelimit/router': { max_rate: 1 } });
    state.begin();
    const v1 = createRouterLimit(limited, { state, clock }) as RouterLimit;
    state.commit();
    const first = v1.endpoint;
    v1.check(noHeaders, {}, 'a');
    state.begin();
    assert.equal(createRouterLimit(endpointWith({}), { state, clock }), undefined);
    state.commit();
    assert.equal(state.size, 0);
    state.begin();
    const v3 = createRouterLimit(limited, { state, clock }) as RouterLimit;
    state.commit();
    assert.notEqual(v3.endpoint, first);
    assert.equal(v3.check(noHeaders, {}, 'a'), 0);
  });
});
