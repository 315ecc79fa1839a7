import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import { ErrorCode, isKrakendError } from '../../../src/base/errors.js';
import type { ExtraConfig } from '../../../src/gateway/config/types.js';
import type { JsonObject, JsonValue } from '../../../src/gateway/json/types.js';
import { MergeError } from '../../../src/gateway/proxy/merge.js';
import type { MergedResponse } from '../../../src/gateway/proxy/merge.js';
import {
  matches,
  readStaticConfig,
  STATIC_STRATEGIES,
  staticMiddleware,
  validateProxyNamespace,
  validateStaticNamespace,
} from '../../../src/gateway/proxy/static.js';
import type { StaticStrategy } from '../../../src/gateway/proxy/static.js';
import type { Proxy, ProxyRequest } from '../../../src/gateway/proxy/types.js';

const request: ProxyRequest = { method: 'GET', params: {}, query: new URLSearchParams(), headers: {}, body: undefined };
const signal = new AbortController().signal;

const data: JsonObject = { 'new-1': true, 'new-2': { k1: 42 }, 'new-3': '42' };

function extra(strategy: JsonValue | undefined, staticData: JsonValue = data): ExtraConfig {
  return { proxy: { static: strategy === undefined ? { data: staticData } : { data: staticData, strategy } } };
}

function metadata() {
  return { statusCode: 200, headers: { 'x-b': ['1'] } };
}

function answering(res: MergedResponse): Proxy {
  return () => Promise.resolve(res);
}

function failing(err: unknown): Proxy {
  return () => Promise.reject(err);
}

function run(strategy: StaticStrategy | undefined, next: Proxy): Promise<MergedResponse> {
  const mw = staticMiddleware(extra(strategy));
  assert.ok(mw);
  return mw(next)(request, signal) as Promise<MergedResponse>;
}

/** Lura's matcher cases: `response` undefined is Lura's nil response, `error` its non-nil err. */
interface MatcherCase {
  name: string;
  response?: MergedResponse;
  error?: boolean;
  expected: boolean;
}

const success = (): MergedResponse => ({ data: {}, isComplete: false, metadata: metadata() });
const complete = (): MergedResponse => ({ data: {}, isComplete: true, metadata: metadata() });

function checkMatcher(strategy: StaticStrategy, cases: MatcherCase[]): void {
  for (const c of cases) {
    test(`${strategy}: ${c.name} → ${c.expected ? 'merges' : 'passes'}`, () => {
      assert.equal(matches(strategy, c.response, c.error ?? false), c.expected);
    });
  }
}

describe("static: matchers, ported from Lura's static_test.go", () => {
  // Lura's "nil & nil" (no response, no error) cannot happen here: a proxy either resolves or rejects.
  checkMatcher('always', [
    { name: 'nil & error', error: true, expected: true },
    { name: 'complete & nil', response: complete(), expected: true },
    { name: 'complete & error', response: complete(), error: true, expected: true },
    { name: 'incomplete', response: success(), expected: true },
  ]);
  checkMatcher('success', [
    { name: 'nil & error', error: true, expected: false },
    { name: 'success & nil', response: success(), expected: true },
    { name: 'success & error', response: success(), error: true, expected: false },
  ]);
  checkMatcher('errored', [
    { name: 'nil & error', error: true, expected: true },
    { name: 'success & nil', response: success(), expected: false },
    { name: 'success & error', response: success(), error: true, expected: true },
  ]);
  checkMatcher('complete', [
    { name: 'nil & error', error: true, expected: false },
    { name: 'success & nil', response: success(), expected: false },
    { name: 'success & error', response: success(), error: true, expected: false },
    { name: 'complete', response: complete(), expected: true },
  ]);
  checkMatcher('incomplete', [
    { name: 'nil & error', error: true, expected: true },
    { name: 'success & nil', response: success(), expected: true },
    { name: 'success & error', response: success(), error: true, expected: true },
    { name: 'complete', response: complete(), expected: false },
  ]);
});

describe("static: middleware cases ported from Lura's static_test.go", () => {
  test('incomplete strategy: passes a complete response, merges into an incomplete one and an error [ok]', async () => {
    const out1 = await run('incomplete', answering({ data: { supu: 42 }, isComplete: true, metadata: metadata() }));
    assert.deepEqual(out1.data, { supu: 42 });
    assert.equal(out1.isComplete, true);

    const out2 = await run('incomplete', answering({ data: { supu: 42 }, isComplete: false, metadata: metadata() }));
    assert.deepEqual(out2.data, { supu: 42, ...data });

    const expected = new Error('expect me');
    const out3 = await run('incomplete', failing(expected));
    assert.deepEqual(out3.data, data);
    assert.deepEqual(out3.errors, [expected]);
  });

  test('complete strategy: fills an empty complete response with the data [TestNewStaticMiddleware]', async () => {
    const out = await run('complete', answering({ data: {}, isComplete: true, metadata: metadata() }));
    assert.deepEqual(out.data, data);
  });

  test('is absent when the namespace or the key is absent [getStaticMiddlewareCfg_ko]', () => {
    assert.equal(staticMiddleware({ a: 42 }), undefined);
    assert.equal(staticMiddleware({ proxy: {} }), undefined);
    assert.equal(staticMiddleware({ proxy: { sequential: true } }), undefined);
  });

  test('reads every strategy, and "always" by default [getStaticMiddlewareCfg_strategy]', () => {
    for (const strategy of STATIC_STRATEGIES) assert.equal(readStaticConfig(extra(strategy, {}))?.strategy, strategy);
    assert.equal(readStaticConfig(extra(undefined, {}))?.strategy, 'always');
  });
});

/** What each strategy does with each kind of outcome of the stack below it. */
describe('static: every strategy against success, incomplete, partial and failed outcomes', () => {
  const outcomes: Record<string, () => Proxy> = {
    complete: () => answering({ data: { a: 1, 'new-3': 'backend' }, isComplete: true, metadata: metadata() }),
    incomplete: () => answering({ data: { a: 1, 'new-3': 'backend' }, isComplete: false, metadata: metadata() }),
    partial: () =>
      answering({
        data: { a: 1, 'new-3': 'backend' },
        isComplete: false,
        metadata: metadata(),
        errors: [new Error('one backend down')],
      }),
    failed: () => failing(new Error('all down')),
  };
  const table: Record<StaticStrategy, Record<string, boolean>> = {
    always: { complete: true, incomplete: true, partial: true, failed: true },
    success: { complete: true, incomplete: true, partial: false, failed: false },
    complete: { complete: true, incomplete: false, partial: false, failed: false },
    errored: { complete: false, incomplete: false, partial: true, failed: true },
    incomplete: { complete: false, incomplete: true, partial: true, failed: true },
  };

  for (const strategy of STATIC_STRATEGIES) {
    for (const [outcome, merged] of Object.entries(table[strategy])) {
      test(`${strategy} ${merged ? 'merges the data into' : 'leaves'} the ${outcome} outcome`, async () => {
        const next = outcomes[outcome]!();
        if (outcome === 'failed') {
          if (!merged) {
            await assert.rejects(run(strategy, next), /all down/);
            return;
          }
          const out = await run(strategy, next);
          assert.deepEqual(out.data, data);
          assert.equal(out.isComplete, false);
          assert.deepEqual(out.metadata, { statusCode: 0, headers: {} });
          assert.equal(out.errors?.length, 1);
          return;
        }
        const original = await next(request, signal);
        const out = await run(strategy, next);
        if (!merged) {
          assert.equal(out, original);
          return;
        }
        // The static data wins collisions; everything else about the response is kept.
        assert.deepEqual(out.data, { a: 1, ...data });
        assert.equal(out.isComplete, original.isComplete);
        assert.deepEqual(out.metadata, original.metadata);
        assert.equal(out.errors, (original as MergedResponse).errors);
      });
    }
  }
});

describe('static: further cases', () => {
  test('surfaces each backend error of a failed merge in errors', async () => {
    const errors = [new Error('a'), new Error('b')];
    const out = await run('errored', failing(new MergeError(errors)));
    assert.deepEqual(out.errors, errors);
  });

  test('never modifies the response it merges into', async () => {
    const body = Object.freeze({ a: 1 });
    const original: MergedResponse = Object.freeze({ data: body, isComplete: true, metadata: metadata() });
    const out = await run('always', answering(original));
    assert.deepEqual(body, { a: 1 });
    assert.notEqual(out, original);
  });

  test('keeps the existing keys in place and appends new static keys', async () => {
    const body = { 'new-3': 'x', z: 1 };
    const out = await run('always', answering({ data: body, isComplete: true, metadata: metadata() }));
    assert.deepEqual(Object.keys(out.data), ['new-3', 'z', 'new-1', 'new-2']);
  });

  test('shares one frozen copy of the data between requests', async () => {
    const source: JsonObject = { nested: { k: 1 } };
    const mw = staticMiddleware({ proxy: { static: { data: source } } })!;
    const proxy = mw(() => Promise.resolve({ data: {}, isComplete: true, metadata: metadata() }));
    const one = await proxy(request, signal);
    const two = await proxy(request, signal);
    assert.equal(one.data.nested, two.data.nested);
    assert.ok(Object.isFrozen(one.data.nested));
    assert.throws(() => {
      (one.data.nested as JsonObject).k = 2;
    }, TypeError);
    // The config object itself is left alone.
    assert.equal(Object.isFrozen(source.nested), false);
  });

  test('leaves a streamed response untouched', async () => {
    const streamed: MergedResponse = { data: {}, isComplete: true, metadata: metadata(), stream: Readable.from([]) };
    assert.equal(await run('always', answering(streamed)), streamed);
  });

  test('treats __proto__ in the static data as an ordinary key', async () => {
    const staticData = JSON.parse('{"__proto__": {"x": 1}}') as JsonObject;
    const out = await staticMiddleware({ proxy: { static: { data: staticData } } })!(
      answering({ data: {}, isComplete: true, metadata: metadata() }),
    )(request, signal);
    assert.equal(Object.getPrototypeOf(out.data), Object.prototype);
    assert.deepEqual(Object.getOwnPropertyDescriptor(out.data, '__proto__')?.value, { x: 1 });
  });

  test('passes the request and the signal to the next proxy', async () => {
    let seen: [ProxyRequest, AbortSignal] | undefined;
    await staticMiddleware(extra('always'))!((req, sig) => {
      seen = [req, sig];
      return Promise.resolve({ data: {}, isComplete: true, metadata: metadata() });
    })(request, signal);
    assert.equal(seen?.[0], request);
    assert.equal(seen?.[1], signal);
  });
});

describe('static config validation', () => {
  test('reports each bad shape with its key', () => {
    assert.deepEqual(validateStaticNamespace({ static: 42 }), [
      'proxy.static: expected an object with "data" and "strategy", got the number 42',
    ]);
    assert.deepEqual(validateStaticNamespace({ static: {} }), [
      'proxy.static.data: missing: the object to merge into the response',
    ]);
    assert.deepEqual(validateStaticNamespace({ static: { data: [1] } }), [
      'proxy.static.data: expected an object (merged at the root of the response), got an array',
    ]);
    assert.deepEqual(validateStaticNamespace({ static: { data: {}, strategy: 'erorred' } }), [
      'proxy.static.strategy: unknown strategy "erorred": use one of always, success, complete, errored, incomplete',
    ]);
    assert.deepEqual(validateStaticNamespace({ static: { data: {}, strategy: true } }), [
      'proxy.static.strategy: expected a string, got true',
    ]);
    assert.deepEqual(validateStaticNamespace('x'), ['proxy: expected an object, got the string "x"']);
  });

  test('the middleware throws a config error naming the key', () => {
    assert.throws(
      () => staticMiddleware(extra('sometimes')),
      (err) => isKrakendError(err, ErrorCode.ConfigInvalid) && err.message.startsWith('proxy.static.strategy:'),
    );
    assert.throws(
      () => staticMiddleware({ proxy: [] }),
      (err) => isKrakendError(err, ErrorCode.ConfigInvalid) && err.message.startsWith('proxy:'),
    );
  });

  test('validateProxyNamespace covers static, flatmap_filter, sequential, propagated params and combiner', () => {
    const expectedShape = 'expected "resp<backend index>_<field path>" or "resp<backend index>"';
    assert.deepEqual(validateProxyNamespace({}), []);
    assert.deepEqual(
      validateProxyNamespace({
        proxy: {
          sequential: true,
          sequential_propagated_params: ['resp0_a.b', 'Resp1', 'resp0'],
          static: { data: {}, strategy: 'errored' },
          flatmap_filter: [{ type: 'del', args: ['x'] }],
          combiner: 'default',
        },
      }),
      [],
    );
    assert.deepEqual(
      validateProxyNamespace({
        proxy: {
          sequential: 'yes',
          sequential_propagated_params: ['user.id', 3],
          static: { data: {}, strategy: 'never' },
          flatmap_filter: [{ type: 'move', args: ['a'] }],
          combiner: 'mine',
        },
      }),
      [
        'proxy.static.strategy: unknown strategy "never": use one of always, success, complete, errored, incomplete',
        'proxy.flatmap_filter[0].args: "move" takes exactly 2 paths [source, destination], got 1',
        'proxy.sequential: expected true or false, got "yes"',
        `proxy.sequential_propagated_params[0]: ${expectedShape}, got "user.id"`,
        `proxy.sequential_propagated_params[1]: ${expectedShape}, got the number 3`,
        'proxy.combiner: "mine" is not supported: only the default merge is (custom response combiners are plugins)',
      ],
    );
    assert.deepEqual(validateProxyNamespace({ proxy: 1 }), ['proxy: expected an object, got the number 1']);
  });
});
