import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ErrorCode, isKrakendError } from '../../src/base/errors.js';
import type { JsonObject } from '../../src/gateway/json/types.js';
import {
  defaultCapacity,
  inspectRateLimit,
  readProxyLimit,
  readRouterLimit,
  validateRateLimit,
} from '../../src/ratelimit/config.js';

const router = (ns: JsonObject | string | number) => ({ 'qos/ratelimit/router': ns });
const proxy = (ns: JsonObject | string | number) => ({ 'qos/ratelimit/proxy': ns });
/** A client limit of 5 a second, with `ns` added. */
const client = (ns: JsonObject) => router({ client_max_rate: 5, ...ns });

describe('rate limit config', () => {
  test('an absent namespace is no limit and no problem', () => {
    assert.equal(readRouterLimit({}), undefined);
    assert.equal(readProxyLimit({}), undefined);
    assert.deepEqual(validateRateLimit({}, 'endpoint'), []);
    assert.deepEqual(validateRateLimit({}, 'backend'), []);
  });

  test('reads max_rate every `every`, with the capacity given', () => {
    const config = readRouterLimit(router({ max_rate: 50, capacity: 50, every: '10m' }));
    assert.deepEqual(config, { endpoint: { rate: { tokens: 50, per: 600_000 }, capacity: 50 }, client: undefined });
  });

  test('defaults the capacity to the rate per second, or 1 below one per second, as KrakenD does', () => {
    assert.equal(readRouterLimit(router({ max_rate: 100 }))?.endpoint?.capacity, 100);
    assert.equal(readRouterLimit(router({ max_rate: 2.5 }))?.endpoint?.capacity, 2);
    assert.equal(readRouterLimit(router({ max_rate: 50, every: '10m' }))?.endpoint?.capacity, 1);
    assert.equal(readRouterLimit(router({ max_rate: 120, every: '1m' }))?.endpoint?.capacity, 2);
    assert.equal(readProxyLimit(proxy({ max_rate: 0.5 }))?.capacity, 1);
    assert.equal(defaultCapacity({ tokens: 0.3, per: 100 }), 3);
  });

  test('reads the client limit with its strategy (case-insensitive) and key', () => {
    const config = readRouterLimit(
      router({ client_max_rate: 5, client_capacity: 10, strategy: 'Header', key: 'X-Tenant' }),
    );
    assert.deepEqual(config, {
      endpoint: undefined,
      client: { rate: { tokens: 5, per: 1000 }, capacity: 10, strategy: 'header', key: 'X-Tenant' },
    });
  });

  test('rates of 0 mean no limit, as in KrakenD', () => {
    assert.equal(readRouterLimit(router({ max_rate: 0 })), undefined);
    assert.equal(readRouterLimit(router({ max_rate: 0, client_max_rate: 0, strategy: 'ip' })), undefined);
    assert.equal(readProxyLimit(proxy({ max_rate: 0 })), undefined);
  });

  test('at the endpoint, an `every` below one second counts as one second, with a warning', () => {
    const extra = router({ max_rate: 10, every: '100ms' });
    assert.deepEqual(readRouterLimit(extra)?.endpoint?.rate, { tokens: 10, per: 1000 });
    assert.match(inspectRateLimit(extra, 'endpoint').warnings.join('\n'), /every.*below 1s/);
    // The backend limit has no such floor in KrakenD.
    assert.deepEqual(readProxyLimit(proxy({ max_rate: 1, every: '100ms' })), {
      rate: { tokens: 1, per: 100 },
      capacity: 10,
    });
  });

  const bad: [string, JsonObject, RegExp][] = [
    ['a negative rate', router({ max_rate: -1 }), /max_rate: must be a number >= 0/],
    ['a rate given as a string', router({ max_rate: '10' }), /max_rate: must be a number >= 0.*"10"/],
    ['a negative client rate', router({ client_max_rate: -5, strategy: 'ip' }), /client_max_rate: must be/],
    ['a fractional capacity', router({ max_rate: 10, capacity: 2.5 }), /capacity: must be a whole number/],
    ['neither rate', router({ capacity: 5 }), /needs max_rate, client_max_rate or both/],
    ['an unknown strategy', router({ client_max_rate: 5, strategy: 'cookie' }), /strategy: must be one of.*"cookie"/],
    ['a client limit without a strategy', client({}), /strategy: is required with client_max_rate/],
    ['a header strategy without key', client({ strategy: 'header' }), /key: is required with strategy "header"/],
    ['a param strategy without key', client({ strategy: 'param', key: ' ' }), /key: is required with strategy "param"/],
    ['a key that is not a string', client({ strategy: 'header', key: 7 }), /key: must be a string/],
    ['a header key that is no header name', client({ strategy: 'header', key: 'X Tenant' }), /not a valid header name/],
    ['every that is not a duration', router({ max_rate: 5, every: 'ten' }), /every: invalid duration "ten"/],
    ['every without a unit', router({ max_rate: 5, every: '10' }), /every: invalid duration "10": missing unit/],
    ['every as a number', router({ max_rate: 5, every: 60 }), /every: must be a duration/],
    ['every of zero', router({ max_rate: 5, every: '0s' }), /every: must be longer than zero/],
    ['a negative every', router({ max_rate: 5, every: '-1m' }), /every: must be longer than zero/],
    ['a namespace that is no object', router('fast'), /extra_config\["qos\/ratelimit\/router"\]: must be an object/],
    ['a bad num_shards', router({ max_rate: 5, num_shards: -1 }), /num_shards: must be a whole number/],
    ['a bad cleanup_period', router({ max_rate: 5, cleanup_period: 'often' }), /cleanup_period: invalid duration/],
  ];
  for (const [what, extra, message] of bad) {
    test(`refuses ${what} at the endpoint`, () => {
      const errors = validateRateLimit(extra, 'endpoint');
      assert.equal(errors.length, 1, errors.join('\n'));
      assert.match(errors[0] as string, message);
      assert.throws(
        () => readRouterLimit(extra),
        (err: unknown) => isKrakendError(err, ErrorCode.ConfigInvalid) && message.test(err.message),
      );
    });
  }

  test('refuses a param strategy whose key the endpoint does not declare, when given the params', () => {
    const extra = router({ client_max_rate: 5, strategy: 'param', key: 'user' });
    assert.deepEqual(validateRateLimit(extra, 'endpoint'), []);
    const errors = validateRateLimit(extra, 'endpoint', ['id']);
    assert.match(errors.join('\n'), /key: "user" is not a param of this endpoint \(it has "id"\)/);
    assert.deepEqual(validateRateLimit(extra, 'endpoint', ['user']), []);
  });

  test('names the namespace and key of each problem, and reports them all at once', () => {
    const errors = validateRateLimit(router({ max_rate: -1, client_max_rate: 'x', every: 'soon' }), 'endpoint');
    assert.equal(errors.length, 3);
    assert.match(errors[0] as string, /^extra_config\["qos\/ratelimit\/router"\]\.max_rate: /);
  });

  test('warns about unknown keys, keys without effect here, and client keys without a client limit', () => {
    const { errors, warnings } = inspectRateLimit(
      router({ max_rate: 5, maxRate: 6, num_shards: 4, cleanup_period: '1m', strategy: 'ip', '@comment': 'x' }),
      'endpoint',
    );
    assert.deepEqual(errors, []);
    const text = warnings.join('\n');
    assert.match(text, /maxRate: unknown key, ignored/);
    assert.match(text, /num_shards: has no effect in krakend-cluster/);
    assert.match(text, /cleanup_period: has no effect/);
    assert.match(text, /strategy: has no effect without client_max_rate/);
    assert.doesNotMatch(text, /@comment/);
    assert.equal(warnings.length, 4);
  });

  test('at the backend, requires max_rate and checks capacity and every', () => {
    assert.deepEqual(readProxyLimit(proxy({ max_rate: 5, capacity: 5, every: '1m' })), {
      rate: { tokens: 5, per: 60_000 },
      capacity: 5,
    });
    assert.match(validateRateLimit(proxy({ capacity: 5 }), 'backend').join(), /needs max_rate/);
    assert.match(validateRateLimit(proxy({ max_rate: 5, capacity: -1 }), 'backend').join(), /capacity: must be/);
    assert.match(validateRateLimit(proxy({ max_rate: 5, every: 'x' }), 'backend').join(), /every: invalid duration/);
    const { warnings } = inspectRateLimit(proxy({ max_rate: 5, client_max_rate: 1 }), 'backend');
    assert.match(warnings.join(), /client_max_rate: unknown key/);
  });
});
