import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import { setImmediate as flush } from 'node:timers/promises';
import { ErrorCode, isKrakendError } from '../../../src/base/errors.js';
import { FakeClock } from '../../../src/base/fake-clock.js';
import type { JsonObject } from '../../../src/gateway/json/types.js';
import type { MergedResponse } from '../../../src/gateway/proxy/merge.js';
import { createMergeProxy, isMergeError, MergeError, mergeTimeoutFor } from '../../../src/gateway/proxy/merge.js';
import type { Proxy, ProxyRequest, ProxyResponse } from '../../../src/gateway/proxy/types.js';

const request: ProxyRequest = { method: 'GET', params: {}, query: new URLSearchParams(), headers: {}, body: undefined };

function response(data: JsonObject, isComplete = true, statusCode = 200): ProxyResponse {
  return { data, isComplete, metadata: { statusCode, headers: { 'x-backend': [String(statusCode)] } } };
}

function answering(res: ProxyResponse): Proxy {
  return () => Promise.resolve(res);
}

function failing(err: unknown): Proxy {
  return () => Promise.reject(err);
}

/** A backend that answers after `ms` on the clock, and fails with the signal's reason if aborted first. */
function delayed(clock: FakeClock, ms: number, res: ProxyResponse, seen?: AbortSignal[]): Proxy {
  return (_req, signal) => {
    seen?.push(signal);
    return new Promise((resolve, reject) => {
      const timer = clock.setTimeout(() => resolve(res), ms);
      signal.addEventListener('abort', () => {
        clock.clearTimeout(timer);
        reject(signal.reason);
      });
    });
  };
}

/** A backend that never answers on its own: it only fails when its signal aborts. */
function waitingForAbort(seen: AbortSignal[]): Proxy {
  return (_req, signal) => {
    seen.push(signal);
    return new Promise((_resolve, reject) => {
      signal.addEventListener('abort', () => reject(signal.reason));
    });
  };
}

interface Deferred {
  proxy: Proxy;
  resolve(res: ProxyResponse): void;
  reject(err: unknown): void;
}

function deferred(): Deferred {
  let resolve!: (res: ProxyResponse) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<ProxyResponse>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { proxy: () => promise, resolve, reject };
}

function run(backends: Proxy[], signal = new AbortController().signal, clock = new FakeClock()): Promise<MergedResponse> {
  return createMergeProxy(backends, { timeout: 1000, clock })(request, signal);
}

describe("createMergeProxy: cases ported from Lura's merging_test.go", () => {
  test('merges the data of all backends into one complete response [ok]', async () => {
    const merged = await run([answering(response({ supu: 42 })), answering(response({ tupu: true }))]);
    assert.deepEqual(merged.data, { supu: 42, tupu: true });
    assert.equal(merged.isComplete, true);
    assert.equal(merged.errors, undefined);
  });

  test('merges incomplete answers into an incomplete response without errors [mergeIncompleteResults]', async () => {
    const merged = await run([answering(response({ supu: 42 })), answering(response({ tupu: true }, false))]);
    assert.deepEqual(merged.data, { supu: 42, tupu: true });
    assert.equal(merged.isComplete, false);
    assert.equal(merged.errors, undefined);
  });

  test('rejects with every backend error when all backends fail [empty]', async () => {
    const failure = new Error('wait for me');
    await assert.rejects(run([failing(failure), failing(failure)]), (err) => {
      assert.ok(isMergeError(err));
      assert.ok(err instanceof AggregateError);
      assert.deepEqual(err.errors, [failure, failure]);
      return true;
    });
  });

  test('counts a backend that resolves without a response as failed [nullResponse]', async () => {
    const nothing: Proxy = () => Promise.resolve(undefined as unknown as ProxyResponse);
    await assert.rejects(run([nothing, nothing]), (err) => {
      assert.ok(err instanceof MergeError);
      assert.equal(err.errors.length, 2);
      assert.ok(err.errors.every((e) => e instanceof TypeError));
      return true;
    });
  });

  test('returns what arrived before the timeout as a partial response [partialTimeout]', async () => {
    const clock = new FakeClock();
    const merge = createMergeProxy(
      [delayed(clock, 50, response({ supu: 42 })), delayed(clock, 500, response({ tupu: true }))],
      { timeout: 100, clock },
    );
    const pending = merge(request, new AbortController().signal);
    clock.advance(50);
    await flush();
    clock.advance(50);
    const merged = await pending;
    assert.deepEqual(merged.data, { supu: 42 });
    assert.equal(merged.isComplete, false);
    assert.equal(merged.errors?.length, 1);
    assert.ok(isKrakendError(merged.errors![0], ErrorCode.BackendTimeout));
  });

  test('rejects with a timeout error per backend when none answers in time [timeout]', async () => {
    const clock = new FakeClock();
    const merge = createMergeProxy(
      [delayed(clock, 500, response({ a: 1 })), delayed(clock, 500, response({ b: 1 }))],
      { timeout: 100, clock },
    );
    const pending = merge(request, new AbortController().signal);
    clock.advance(100);
    await assert.rejects(pending, (err) => {
      assert.ok(err instanceof MergeError);
      assert.equal(err.errors.length, 2);
      assert.ok(err.errors.every((e) => isKrakendError(e, ErrorCode.BackendTimeout)));
      return true;
    });
  });

  test('refuses to merge zero backends [noBackends]', () => {
    assert.throws(() => createMergeProxy([], { timeout: 1000 }), RangeError);
  });
});

describe('createMergeProxy', () => {
  test('returns the only backend itself, so its errors reach the caller unchanged', async () => {
    const failure = Object.assign(new Error('teapot'), { status: 418 });
    const only = failing(failure);
    const merge = createMergeProxy([only], { timeout: 1000 });
    assert.equal(merge, only);
    await assert.rejects(merge(request, new AbortController().signal), (err) => err === failure);
  });

  test('resolves key collisions in favour of the backend declared last, whatever the arrival order', async () => {
    for (const arrival of [
      [0, 1, 2],
      [2, 1, 0],
      [1, 2, 0],
    ]) {
      const backends = [deferred(), deferred(), deferred()];
      const pending = run(backends.map((b) => b.proxy));
      const bodies: JsonObject[] = [
        { id: 'first', a: 1 },
        { id: 'second', b: 2 },
        { id: 'third', c: 3 },
      ];
      for (const index of arrival) {
        backends[index]!.resolve(response(bodies[index]!));
        await flush();
      }
      const merged = await pending;
      assert.deepEqual(merged.data, { id: 'third', a: 1, b: 2, c: 3 }, `arrival order ${arrival.join(',')}`);
    }
  });

  test('replaces a colliding nested object whole instead of merging it deeply', async () => {
    const merged = await run([
      answering(response({ user: { id: 1, name: 'a' } })),
      answering(response({ user: { id: 2 } })),
    ]);
    assert.deepEqual(merged.data, { user: { id: 2 } });
  });

  test('returns the partial data with the failures, in declaration order, when some backends fail', async () => {
    const first = new Error('first down');
    const third = new Error('third down');
    const merged = await run([
      failing(first),
      answering(response({ b: 2 })),
      failing(third),
      answering(response({ d: 4 })),
    ]);
    assert.deepEqual(merged.data, { b: 2, d: 4 });
    assert.equal(merged.isComplete, false);
    assert.deepEqual(merged.errors, [first, third]);
  });

  test('counts a backend proxy that throws synchronously as failed', async () => {
    const failure = new Error('sync');
    const throwing: Proxy = () => {
      throw failure;
    };
    const merged = await run([throwing, answering(response({ a: 1 })), answering(response({ b: 2 }))]);
    assert.deepEqual(merged.data, { a: 1, b: 2 });
    assert.deepEqual(merged.errors, [failure]);
  });

  test('gives empty metadata when two or more answers are combined, as Lura does', async () => {
    const merged = await run([answering(response({ a: 1 }, true, 200)), answering(response({ b: 1 }, true, 201))]);
    assert.deepEqual(merged.metadata, { statusCode: 0, headers: {} });
  });

  test('passes the metadata of the only backend that answered through, as Lura does', async () => {
    const merged = await run([failing(new Error('down')), answering(response({ b: 1 }, true, 201))]);
    assert.deepEqual(merged.metadata, { statusCode: 201, headers: { 'x-backend': ['201'] } });
    assert.deepEqual(merged.data, { b: 1 });
    assert.equal(merged.isComplete, false);
  });

  test("neither mutates the backends' data nor returns one of their objects as the merged body", async () => {
    const first = Object.freeze({ a: 1, shared: Object.freeze({ x: 1 }) });
    const second = Object.freeze({ b: 2 });
    const merged = await run([answering(response(first)), answering(response(second))]);
    assert.notEqual(merged.data, first);
    assert.notEqual(merged.data, second);
    assert.equal(merged.data['shared'], first.shared);
    assert.deepEqual(first, { a: 1, shared: { x: 1 } });
    assert.deepEqual(second, { b: 2 });
  });

  test('keeps __proto__ as an ordinary key when merging', async () => {
    const body = JSON.parse('{"__proto__": {"polluted": true}}') as JsonObject;
    const merged = await run([answering(response(body)), answering(response({ b: 1 }))]);
    assert.equal(Object.getPrototypeOf(merged.data), Object.prototype);
    assert.deepEqual(Object.keys(merged.data), ['__proto__', 'b']);
  });

  test('aborts every pending backend when the incoming signal aborts, with the same reason', async () => {
    const incoming = new AbortController();
    const seen: AbortSignal[] = [];
    const pending = run([waitingForAbort(seen), waitingForAbort(seen)], incoming.signal);
    assert.equal(seen.length, 2);
    assert.ok(seen.every((s) => !s.aborted));
    const reason = new Error('client went away');
    incoming.abort(reason);
    assert.ok(seen.every((s) => s.aborted && s.reason === reason));
    await assert.rejects(pending, (err) => {
      assert.ok(err instanceof MergeError);
      assert.ok(err.errors.every((e) => isKrakendError(e, ErrorCode.RequestCancelled)));
      assert.equal((err.errors[0] as Error).cause, reason);
      return true;
    });
  });

  test('returns what arrived as a partial response when the incoming signal aborts', async () => {
    const incoming = new AbortController();
    const seen: AbortSignal[] = [];
    const pending = run([answering(response({ a: 1 })), waitingForAbort(seen)], incoming.signal);
    await flush();
    incoming.abort();
    const merged = await pending;
    assert.deepEqual(merged.data, { a: 1 });
    assert.equal(merged.isComplete, false);
    assert.equal(merged.errors?.length, 1);
    assert.ok(isKrakendError(merged.errors![0], ErrorCode.RequestCancelled));
  });

  test('calls no backend when the incoming signal is already aborted', async () => {
    let calls = 0;
    const counted: Proxy = () => {
      calls++;
      return Promise.resolve(response({}));
    };
    await assert.rejects(run([counted, counted], AbortSignal.abort()), MergeError);
    assert.equal(calls, 0);
  });

  test('aborts the signal of backends still pending when the timeout elapses', async () => {
    const clock = new FakeClock();
    const seen: AbortSignal[] = [];
    const merge = createMergeProxy([answering(response({ a: 1 })), waitingForAbort(seen)], { timeout: 100, clock });
    const pending = merge(request, new AbortController().signal);
    await flush();
    clock.advance(100);
    const merged = await pending;
    assert.ok(seen[0]!.aborted);
    assert.ok(isKrakendError(seen[0]!.reason, ErrorCode.BackendTimeout));
    assert.deepEqual(merged.data, { a: 1 });
    assert.equal(merged.isComplete, false);
  });

  test('does not wait for a backend that ignores its aborted signal', async () => {
    const clock = new FakeClock();
    const never: Proxy = () => new Promise(() => {});
    const merge = createMergeProxy([answering(response({ a: 1 })), never], { timeout: 100, clock });
    const pending = merge(request, new AbortController().signal);
    await flush();
    clock.advance(100);
    const merged = await pending;
    assert.deepEqual(merged.data, { a: 1 });
    assert.equal(merged.isComplete, false);
  });

  test('ignores an answer that arrives after the timeout and closes its stream', async () => {
    const clock = new FakeClock();
    const late = deferred();
    const merge = createMergeProxy([answering(response({ a: 1 })), late.proxy], { timeout: 100, clock });
    const pending = merge(request, new AbortController().signal);
    await flush();
    clock.advance(100);
    const merged = await pending;
    const stream = Readable.from(['late']);
    late.resolve({ ...response({ b: 2 }), stream });
    await flush();
    assert.deepEqual(merged.data, { a: 1 });
    assert.ok(stream.destroyed);
  });

  test('leaves no listener on the incoming signal, no timer and no aborted backend signal once settled', async () => {
    const clock = new FakeClock();
    const incoming = new AbortController();
    const seen: AbortSignal[] = [];
    const merge = createMergeProxy([delayed(clock, 10, response({ a: 1 }), seen), answering(response({ b: 1 }))], {
      timeout: 100,
      clock,
    });
    const pending = merge(request, incoming.signal);
    clock.advance(10);
    await pending;
    assert.equal(getEventListeners(incoming.signal, 'abort').length, 0);
    assert.equal(clock.pending(), 0);
    assert.equal(seen[0]!.aborted, false);
  });

  test('closes the stream of an answer, since a merged response carries none', async () => {
    const stream = Readable.from(['raw']);
    const merged = await run([answering({ ...response({ a: 1 }), stream }), answering(response({ b: 1 }))]);
    assert.equal(merged.stream, undefined);
    assert.ok(stream.destroyed);
  });

  test('sets no timer when the timeout is infinite', async () => {
    const clock = new FakeClock();
    const slow = deferred();
    const merge = createMergeProxy([answering(response({ a: 1 })), slow.proxy], { timeout: Infinity, clock });
    const pending = merge(request, new AbortController().signal);
    assert.equal(clock.pending(), 0);
    slow.resolve(response({ b: 1 }));
    assert.deepEqual((await pending).data, { a: 1, b: 1 });
  });

  test('refuses a timeout that is not positive', () => {
    const p = answering(response({}));
    assert.throws(() => createMergeProxy([p, p], { timeout: 0 }), RangeError);
    assert.throws(() => createMergeProxy([p, p], { timeout: Number.NaN }), RangeError);
  });
});

describe('mergeTimeoutFor', () => {
  test("gives Lura's 85% of the endpoint timeout", () => {
    assert.equal(mergeTimeoutFor(2000), 1700);
    assert.equal(mergeTimeoutFor(100), 85);
  });
});
