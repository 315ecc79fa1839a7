import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import { setImmediate as flush } from 'node:timers/promises';
import { ErrorCode, isKrakendError } from '../../../src/base/errors.js';
import { FakeClock } from '../../../src/base/fake-clock.js';
import { parseJson } from '../../../src/gateway/json/parse.js';
import { JsonNumber } from '../../../src/gateway/json/types.js';
import type { JsonObject } from '../../../src/gateway/json/types.js';
import type { MergedResponse } from '../../../src/gateway/proxy/merge.js';
import { createSequentialProxy, formatParam, lookup } from '../../../src/gateway/proxy/sequential.js';
import type { SequentialBackend, SequentialOptions } from '../../../src/gateway/proxy/sequential.js';
import type { Proxy, ProxyRequest, ProxyResponse } from '../../../src/gateway/proxy/types.js';
import { compileUrlPattern } from '../../../src/gateway/proxy/url-pattern.js';

const request: ProxyRequest = Object.freeze({
  method: 'GET',
  params: Object.freeze({ id: '25' }),
  query: new URLSearchParams(),
  headers: {},
  body: Buffer.from('foo'),
});

function response(data: JsonObject, isComplete = true, statusCode = 200): ProxyResponse {
  return { data, isComplete, metadata: { statusCode, headers: { 'x-backend': [String(statusCode)] } } };
}

/** A backend that records the request it got and answers `res` (or fails with `err`). */
function backend(
  urlPattern: string,
  answer: ProxyResponse | Error | ((req: ProxyRequest) => ProxyResponse),
  seen?: ProxyRequest[],
): SequentialBackend {
  const proxy: Proxy = (req) => {
    seen?.push(req);
    if (answer instanceof Error) return Promise.reject(answer);
    return Promise.resolve(typeof answer === 'function' ? answer(req) : answer);
  };
  return { proxy, urlPattern };
}

function never(urlPattern = '/never'): SequentialBackend {
  return {
    urlPattern,
    proxy: () => {
      throw new Error('this backend should never be called');
    },
  };
}

/** A backend that answers after `ms` on the clock, and fails with the signal's reason if aborted first. */
function delayed(
  clock: FakeClock,
  ms: number,
  res: ProxyResponse,
  urlPattern = '/',
  seen?: AbortSignal[],
): SequentialBackend {
  return {
    urlPattern,
    proxy: (_req, signal) => {
      seen?.push(signal);
      return new Promise((resolve, reject) => {
        const timer = clock.setTimeout(() => resolve(res), ms);
        signal.addEventListener('abort', () => {
          clock.clearTimeout(timer);
          reject(signal.reason);
        });
      });
    },
  };
}

function run(
  backends: SequentialBackend[],
  options: Partial<SequentialOptions> = {},
  signal = new AbortController().signal,
): Promise<MergedResponse> {
  return createSequentialProxy(backends, { timeout: 1000, clock: new FakeClock(), ...options })(request, signal);
}

/** The path the url_pattern renderer builds from a request's params. */
function rendered(pattern: string, req: ProxyRequest): string {
  return compileUrlPattern(pattern).render(req.params);
}

describe("createSequentialProxy: cases ported from Lura's merging_test.go", () => {
  test('fills each backend with values of earlier responses: scalars, arrays, nested paths [sequential]', async () => {
    const seen: ProxyRequest[] = [];
    const first = response(
      parseJson(
        '{"int": 42, "string": "some", "bool": true, "float": 3.14, "array": ["1", "2"],' +
          '"struct": {"foo": "bar", "struct": {"foo": "bar", "struct": {"foo": "bar"}}}}',
      ) as JsonObject,
    );
    const out = await run([
      backend('/', first),
      backend('/aaa/{resp0_array}', response({ tupu: 'foo' }), seen),
      backend(
        '/aaa/{resp0_int}/{resp0_string}/{resp0_bool}/{resp0_float}/{resp0_struct.foo}',
        response({ tupu: 'foo' }),
        seen,
      ),
      backend(
        '/aaa/{resp0_int}/{resp0_string}/{resp0_bool}/{resp0_float}/{resp0_struct.foo}?x={resp1_tupu}',
        response({ aaaa: [1, 2, 3] }),
        seen,
      ),
      backend(
        '/aaa/{resp0_struct.foo}/{resp0_struct.struct.foo}/{resp0_struct.struct.struct.foo}',
        response({ bbbb: [true, false] }),
        seen,
      ),
    ]);
    assert.equal(seen[0]!.params['resp0_array'], '1,2');
    // KrakenD decodes with UseNumber, so a float keeps its text (Lura's "3.14E+00" is for a Go float64 input).
    for (const req of seen.slice(1, 3)) {
      assert.equal(req.params['resp0_int'], '42');
      assert.equal(req.params['resp0_string'], 'some');
      assert.equal(req.params['resp0_float'], '3.14');
      assert.equal(req.params['resp0_bool'], 'true');
      assert.equal(req.params['resp0_struct.foo'], 'bar');
    }
    assert.equal(seen[2]!.params['resp1_tupu'], 'foo');
    assert.equal(seen[3]!.params['resp0_struct.struct.foo'], 'bar');
    assert.equal(seen[3]!.params['resp0_struct.struct.struct.foo'], 'bar');
    // The body and the endpoint's own params reach every backend.
    for (const req of seen) {
      assert.equal(req.body, request.body);
      assert.equal(req.params['id'], '25');
    }
    assert.equal(Object.keys(out.data).length, 9);
    assert.equal(out.isComplete, true);
    assert.equal(out.errors, undefined);
  });

  test('a missing value stays a placeholder in the URL, the call goes on [sequential_unavailableParams]', async () => {
    const seen: ProxyRequest[] = [];
    const out = await run([
      backend('/', response({ supu: 42 })),
      backend('/aaa', response({ tupu: 'foo' }), seen),
      backend('/aaa/{resp0_tupu}?x={resp1_tupu}', response({ aaaa: [1, 2, 3] }), seen),
    ]);
    const last = seen[1]!;
    assert.equal(last.params['resp0_tupu'], '{{.Resp0_tupu}}');
    assert.equal(last.params['resp1_tupu'], 'foo');
    assert.equal(rendered('/aaa/{resp0_tupu}?x={resp1_tupu}', last), '/aaa/%7B%7B.Resp0_tupu%7D%7D?x=foo');
    assert.deepEqual(out.data, { supu: 42, tupu: 'foo', aaaa: [1, 2, 3] });
    assert.equal(out.isComplete, true);
  });

  test('a failing backend stops the sequence: data so far and its error [sequential_erroredBackend]', async () => {
    const failure = new Error('wait for me');
    const seen: ProxyRequest[] = [];
    const out = await run([
      backend('/', response({ supu: 42 })),
      backend('/aaa/{resp0_supu}', failure, seen),
      never('/aaa/{resp0_supu}?x={resp1_tupu}'),
    ]);
    assert.equal(seen[0]!.params['resp0_supu'], '42');
    assert.deepEqual(out.data, { supu: 42 });
    assert.equal(out.isComplete, false);
    assert.deepEqual(out.errors, [failure]);
  });

  test('a failing first backend rejects with its own error [sequential_erroredFirstBackend]', async () => {
    const failure = new Error('wait for me');
    await assert.rejects(
      run([backend('/', failure), never('/aaa/{resp0_supu}'), never('/aaa/{resp0_supu}?x={resp1_tupu}')]),
      (err) => err === failure,
    );
  });
});

describe('createSequentialProxy: params', () => {
  test('writes the values the way KrakenD does', () => {
    const body = parseJson(
      '{"s": "a b", "n": 12, "f": 1.10, "big": 12345678901234567890, "t": true, "z": null,' +
        '"list": ["x", 1, 2.50, null, true, ["y", 3], {"b": 1, "a": "q"}], "empty": [], "o": {"k": "v", "a": [1, 2]}}',
    ) as JsonObject;
    const format = (key: string) => formatParam(lookup(body, [key])!);
    assert.equal(format('s'), 'a b');
    assert.equal(format('n'), '12');
    assert.equal(format('f'), '1.10');
    assert.equal(format('big'), '12345678901234567890');
    assert.equal(format('t'), 'true');
    assert.equal(format('z'), '<nil>');
    assert.equal(format('list'), 'x,1,2.50,<nil>,true,[y 3],map[a:q b:1]');
    assert.equal(format('empty'), '');
    assert.equal(format('o'), 'map[a:[1 2] k:v]');
  });

  test('carries an id beyond 2^53 exactly into the next URL', async () => {
    const seen: ProxyRequest[] = [];
    const first = response(parseJson('{"user": {"id": 9007199254740993123}}') as JsonObject);
    assert.ok((first.data.user as JsonObject).id instanceof JsonNumber);
    await run([backend('/', first), backend('/users/{resp0_user.id}', response({}), seen)]);
    assert.equal(rendered('/users/{resp0_user.id}', seen[0]!), '/users/9007199254740993123');
  });

  test('a path through a missing key, a scalar or an array is missing, never a lookup at another level', async () => {
    const seen: ProxyRequest[] = [];
    const first = response({ id: 7, user: 'plain', list: [{ id: 1 }] });
    await run([
      backend('/', first),
      backend('/{resp0_account.id}/{resp0_user.id}/{resp0_list.0.id}', response({}), seen),
    ]);
    assert.equal(seen[0]!.params['resp0_account.id'], '{{.Resp0_account.id}}');
    assert.equal(seen[0]!.params['resp0_user.id'], '{{.Resp0_user.id}}');
    assert.equal(seen[0]!.params['resp0_list.0.id'], '{{.Resp0_list.0.id}}');
  });

  test("reads each backend's own response, not the merge so far", async () => {
    const seen: ProxyRequest[] = [];
    await run([
      backend('/', response({ a: 'zero' })),
      backend('/one', response({ a: 'one', b: 'one' })),
      backend('/{resp0_a}/{resp0_b}/{resp1_a}', response({}), seen),
    ]);
    assert.equal(seen[0]!.params['resp0_a'], 'zero');
    assert.equal(seen[0]!.params['resp0_b'], '{{.Resp0_b}}');
    assert.equal(seen[0]!.params['resp1_a'], 'one');
  });

  test('reads a response after its backend formatting (a group is part of the path)', async () => {
    const seen: ProxyRequest[] = [];
    await run([
      backend('/', response({ hotel: { destination_id: 1034 } })),
      backend('/d/{resp0_hotel.destination_id}', response({}), seen),
    ]);
    assert.equal(rendered('/d/{resp0_hotel.destination_id}', seen[0]!), '/d/1034');
  });

  test('never modifies the incoming request, and passes it as it is to backends that read nothing', async () => {
    const seen: ProxyRequest[] = [];
    await run([
      backend('/', response({ a: 1 }), seen),
      backend('/plain/{id}', response({}), seen),
      backend('/{resp0_a}', response({}), seen),
    ]);
    assert.equal(seen[0], request);
    assert.equal(seen[1], request);
    assert.notEqual(seen[2], request);
    assert.deepEqual(request.params, { id: '25' });
  });

  test('sets propagated params for every later backend, and leaves missing ones unset', async () => {
    const seen: ProxyRequest[] = [];
    await run(
      [
        backend('/', response({ a: { b: 'x' } })),
        backend('/1', response({ c: 2 }), seen),
        backend('/2', response({}), seen),
      ],
      { propagatedParams: ['resp0_a.b', 'Resp1_c', 'resp0_missing', 'resp0', 'resp9_x', 'junk'] },
    );
    assert.deepEqual(seen[0]!.params, { id: '25', 'resp0_a.b': 'x' });
    assert.deepEqual(seen[1]!.params, { id: '25', 'resp0_a.b': 'x', resp1_c: '2' });
  });

  test('refuses a url_pattern that reads its own response or a later one', () => {
    assert.throws(
      () => createSequentialProxy([backend('/', response({})), backend('/{resp1_x}', response({}))], { timeout: 10 }),
      /backend #1's url_pattern reads \{resp1_x\}/,
    );
  });
});

describe('createSequentialProxy: sequence and result', () => {
  test('calls the backends one after the other', async () => {
    const order: string[] = [];
    const step = (name: string, data: JsonObject): SequentialBackend => ({
      urlPattern: '/',
      proxy: async () => {
        order.push(`start ${name}`);
        await flush();
        order.push(`end ${name}`);
        return response(data);
      },
    });
    await run([step('a', { a: 1 }), step('b', { b: 1 }), step('c', { c: 1 })]);
    assert.deepEqual(order, ['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
  });

  test('later backends win key collisions', async () => {
    const out = await run([
      backend('/', response({ k: 0, a: 0 })),
      backend('/', response({ k: 1 })),
      backend('/', response({ k: 2 })),
    ]);
    assert.deepEqual(out.data, { k: 2, a: 0 });
  });

  test('a failing middle backend keeps what came before, and the last backend is never called', async () => {
    const failure = new Error('middle');
    const out = await run([
      backend('/', response({ a: 1 })),
      backend('/', response({ b: 1 })),
      backend('/', failure),
      never(),
    ]);
    assert.deepEqual(out.data, { a: 1, b: 1 });
    assert.equal(out.isComplete, false);
    assert.deepEqual(out.errors, [failure]);
    assert.deepEqual(out.metadata, { statusCode: 0, headers: {} });
  });

  test('with one response merged, its metadata passes through', async () => {
    const failure = new Error('second');
    const out = await run([backend('/', response({ a: 1 }, true, 201)), backend('/', failure)]);
    assert.deepEqual(out.metadata, { statusCode: 201, headers: { 'x-backend': ['201'] } });
    assert.deepEqual(out.data, { a: 1 });
    assert.equal(out.isComplete, false);
  });

  test('with two or more responses merged, the metadata is empty', async () => {
    const out = await run([backend('/', response({ a: 1 })), backend('/', response({ b: 1 }))]);
    assert.deepEqual(out.metadata, { statusCode: 0, headers: {} });
  });

  test('an incomplete response ends the sequence, incomplete and without errors [mergeIncompleteResults]', async () => {
    const out = await run([backend('/', response({ a: 1 })), backend('/', response({ b: 1 }, false)), never()]);
    assert.deepEqual(out.data, { a: 1, b: 1 });
    assert.equal(out.isComplete, false);
    assert.equal(out.errors, undefined);
  });

  test('an incomplete first response is returned as it came', async () => {
    const first = response({ a: 1 }, false);
    const out = await run([backend('/', first), never()]);
    assert.equal(out.data, first.data);
    assert.equal(out.metadata, first.metadata);
    assert.equal(out.isComplete, false);
  });

  test('an incomplete last response makes the whole result incomplete', async () => {
    const out = await run([backend('/', response({ a: 1 })), backend('/', response({ b: 1 }, false))]);
    assert.equal(out.isComplete, false);
  });

  test('a backend that resolves without a response counts as failed', async () => {
    const nothing: SequentialBackend = {
      urlPattern: '/',
      proxy: () => Promise.resolve(undefined as unknown as ProxyResponse),
    };
    const out = await run([backend('/', response({ a: 1 })), nothing]);
    assert.ok(out.errors?.[0] instanceof TypeError);
    await assert.rejects(run([nothing, never()]), TypeError);
  });

  test('a backend that throws instead of rejecting counts as failed', async () => {
    const thrower: SequentialBackend = {
      urlPattern: '/',
      proxy: () => {
        throw new Error('sync');
      },
    };
    const out = await run([backend('/', response({ a: 1 })), thrower]);
    assert.equal((out.errors?.[0] as Error).message, 'sync');
  });

  test('closes streams: a merged response never carries one', async () => {
    const stream = Readable.from(['x']);
    const out = await run([backend('/', { ...response({ a: 1 }), stream }), backend('/', response({ b: 1 }))]);
    assert.equal(stream.destroyed, true);
    assert.equal(out.stream, undefined);
  });

  test('one backend is returned as it is', () => {
    const only = backend('/', response({ a: 1 }));
    assert.equal(createSequentialProxy([only], { timeout: 10 }), only.proxy);
  });

  test('refuses zero backends and a non-positive timeout', () => {
    assert.throws(() => createSequentialProxy([], { timeout: 10 }), RangeError);
    assert.throws(() => createSequentialProxy([never(), never()], { timeout: 0 }), RangeError);
  });
});

describe('createSequentialProxy: timeout and cancellation', () => {
  test('the deadline covers the whole sequence and cuts off the backend in flight', async () => {
    const clock = new FakeClock();
    const signals: AbortSignal[] = [];
    const proxy = createSequentialProxy(
      [
        delayed(clock, 60, response({ a: 1 }), '/', signals),
        delayed(clock, 60, response({ b: 1 }), '/', signals),
        never(),
      ],
      { timeout: 100, clock },
    );
    const pending = proxy(request, new AbortController().signal);
    clock.advance(60);
    await flush();
    clock.advance(40);
    const out = await pending;
    assert.deepEqual(out.data, { a: 1 });
    assert.equal(out.isComplete, false);
    assert.ok(isKrakendError(out.errors?.[0], ErrorCode.BackendTimeout));
    assert.equal(signals[1]!.aborted, true);
    assert.equal(clock.pending(), 0);
  });

  test('a first backend that does not answer in time rejects with a timeout', async () => {
    const clock = new FakeClock();
    const proxy = createSequentialProxy([delayed(clock, 500, response({ a: 1 })), never()], { timeout: 100, clock });
    const pending = proxy(request, new AbortController().signal);
    clock.advance(100);
    await assert.rejects(pending, (err) => isKrakendError(err, ErrorCode.BackendTimeout));
  });

  test('cancelling the request cuts off the backend in flight', async () => {
    const clock = new FakeClock();
    const controller = new AbortController();
    const proxy = createSequentialProxy(
      [delayed(clock, 10, response({ a: 1 })), delayed(clock, 500, response({ b: 1 })), never()],
      { timeout: 1000, clock },
    );
    const pending = proxy(request, controller.signal);
    clock.advance(10);
    await flush();
    controller.abort(new Error('client gone'));
    const out = await pending;
    assert.deepEqual(out.data, { a: 1 });
    assert.ok(isKrakendError(out.errors?.[0], ErrorCode.RequestCancelled));
    assert.equal(clock.pending(), 0);
  });

  test('an already cancelled request calls no backend', async () => {
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(
      run([never(), never()], {}, controller.signal),
      (err) => isKrakendError(err, ErrorCode.RequestCancelled),
    );
  });

  test('no deadline with an infinite timeout', async () => {
    const clock = new FakeClock();
    const proxy = createSequentialProxy([backend('/', response({ a: 1 })), backend('/', response({ b: 1 }))], {
      timeout: Infinity,
      clock,
    });
    const out = await proxy(request, new AbortController().signal);
    assert.equal(out.isComplete, true);
    assert.equal(clock.pending(), 0);
  });
});
