import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { describe, test } from 'node:test';
import { setImmediate as flush } from 'node:timers/promises';
import { concurrentMiddleware } from '../../../src/gateway/proxy/concurrent.js';
import type { Proxy, ProxyRequest, ProxyResponse } from '../../../src/gateway/proxy/types.js';

const request: ProxyRequest = { method: 'GET', params: { id: '1' }, query: new URLSearchParams(), headers: {}, body: undefined };

function response(tag: string, isComplete = true): ProxyResponse {
  return { data: { tag }, isComplete, metadata: { statusCode: 200, headers: {} } };
}

interface Call {
  request: ProxyRequest;
  signal: AbortSignal;
  resolve(res: ProxyResponse): void;
  reject(err: unknown): void;
}

/**
 * A backend whose calls are settled by the test, one by one. A call whose signal aborts rejects with the signal's
 * reason, as the HTTP proxy does.
 */
function scripted(): { proxy: Proxy; calls: Call[] } {
  const calls: Call[] = [];
  const proxy: Proxy = (req, signal) =>
    new Promise<ProxyResponse>((resolve, reject) => {
      calls.push({ request: req, signal, resolve, reject });
      if (signal.aborted) reject(signal.reason);
      else signal.addEventListener('abort', () => reject(signal.reason), { once: true });
    });
  return { proxy, calls };
}

describe('concurrentMiddleware', () => {
  test('with one call, or fewer, returns the next proxy itself', () => {
    const next: Proxy = () => Promise.resolve(response('only'));
    assert.equal(concurrentMiddleware(1)(next), next);
    assert.equal(concurrentMiddleware(0)(next), next);
  });

  test('with one call, passes the request and the signal through untouched', async () => {
    const { proxy, calls } = scripted();
    const signal = new AbortController().signal;
    const pending = concurrentMiddleware(1)(proxy)(request, signal);
    assert.equal(calls.length, 1);
    assert.equal(calls[0]!.request, request);
    assert.equal(calls[0]!.signal, signal);
    calls[0]!.resolve(response('only'));
    assert.deepEqual((await pending).data, { tag: 'only' });
  });

  test('with N calls, sends the same request N times', () => {
    const { proxy, calls } = scripted();
    void concurrentMiddleware(3)(proxy)(request, new AbortController().signal).catch(() => {});
    assert.equal(calls.length, 3);
    assert.ok(calls.every((c) => c.request === request));
    for (const c of calls) c.reject(new Error('cleanup'));
  });

  test('answers with the first complete response and aborts the other calls', async () => {
    const { proxy, calls } = scripted();
    const pending = concurrentMiddleware(3)(proxy)(request, new AbortController().signal);
    calls[1]!.resolve(response('second call'));
    const res = await pending;
    assert.deepEqual(res.data, { tag: 'second call' });
    assert.equal(res.isComplete, true);
    assert.equal(calls[0]!.signal.aborted, true);
    assert.equal(calls[2]!.signal.aborted, true);
  });

  test('ignores responses that arrive after a winner', async () => {
    const { proxy, calls } = scripted();
    const pending = concurrentMiddleware(2)(proxy)(request, new AbortController().signal);
    calls[0]!.resolve(response('first'));
    calls[1]!.resolve(response('late'));
    assert.deepEqual((await pending).data, { tag: 'first' });
  });

  // BUG (src/gateway/proxy/concurrent.ts): all calls share one AbortController, so aborting the losers also aborts
  // the winner's signal. For a `no-op` backend the winner's body is still streaming on that signal, and undici
  // destroys a response body when its request's signal aborts after the headers: the client gets a cut body.
  test("does not abort the winning call's signal", async () => {
    const { proxy, calls } = scripted();
    const pending = concurrentMiddleware(3)(proxy)(request, new AbortController().signal);
    calls[1]!.resolve(response('winner'));
    await pending;
    assert.equal(calls[0]!.signal.aborted, true, 'loser aborted');
    assert.equal(calls[2]!.signal.aborted, true, 'loser aborted');
    assert.equal(calls[1]!.signal.aborted, false, "the winner's signal must stay usable for its streamed body");
  });

  test('a failed call does not end the race while others are pending', async () => {
    const { proxy, calls } = scripted();
    const pending = concurrentMiddleware(3)(proxy)(request, new AbortController().signal);
    calls[0]!.reject(new Error('connection reset'));
    calls[2]!.reject(new Error('timeout'));
    await flush();
    calls[1]!.resolve(response('survivor'));
    assert.deepEqual((await pending).data, { tag: 'survivor' });
  });

  test('rejects with an error of the calls when every call fails', async () => {
    const { proxy, calls } = scripted();
    const errors = [new Error('e0'), new Error('e1'), new Error('e2')];
    const pending = concurrentMiddleware(3)(proxy)(request, new AbortController().signal);
    calls.forEach((c, i) => c.reject(errors[i]));
    await assert.rejects(pending, (err) => {
      assert.ok(errors.includes(err as Error), `rejected with ${String(err)}`);
      return true;
    });
  });

  test('returns an incomplete response when no complete one arrives and the rest fail', async () => {
    const { proxy, calls } = scripted();
    const pending = concurrentMiddleware(3)(proxy)(request, new AbortController().signal);
    calls[0]!.reject(new Error('e0'));
    calls[1]!.resolve(response('partial', false));
    calls[2]!.reject(new Error('e2'));
    const res = await pending;
    assert.deepEqual(res.data, { tag: 'partial' });
    assert.equal(res.isComplete, false);
  });

  test('keeps the first incomplete response when several arrive', async () => {
    const { proxy, calls } = scripted();
    const pending = concurrentMiddleware(2)(proxy)(request, new AbortController().signal);
    calls[1]!.resolve(response('first partial', false));
    await flush();
    calls[0]!.resolve(response('second partial', false));
    assert.deepEqual((await pending).data, { tag: 'first partial' });
  });

  test('prefers a complete response that arrives after an incomplete one', async () => {
    const { proxy, calls } = scripted();
    const pending = concurrentMiddleware(2)(proxy)(request, new AbortController().signal);
    calls[0]!.resolve(response('partial', false));
    await flush();
    calls[1]!.resolve(response('complete'));
    const res = await pending;
    assert.deepEqual(res.data, { tag: 'complete' });
    assert.equal(res.isComplete, true);
  });

  test('propagates an incoming abort to every call, with its reason, and rejects', async () => {
    const { proxy, calls } = scripted();
    const incoming = new AbortController();
    const pending = concurrentMiddleware(3)(proxy)(request, incoming.signal);
    const reason = new Error('client went away');
    incoming.abort(reason);
    assert.ok(calls.every((c) => c.signal.aborted && c.signal.reason === reason));
    await assert.rejects(pending, (err) => err === reason);
  });

  // BUG (src/gateway/proxy/concurrent.ts): an 'abort' listener added to an already-aborted signal never fires, so
  // the calls run on a fresh, unaborted signal although the client is already gone.
  test('an incoming signal that is already aborted reaches every call', async () => {
    const { proxy, calls } = scripted();
    const reason = new Error('already cancelled');
    const pending = concurrentMiddleware(2)(proxy)(request, AbortSignal.abort(reason));
    // Bounded: if the bug is present, settle the calls ourselves so the test ends.
    const aborted = calls.map((c) => c.signal.aborted);
    if (!aborted.every(Boolean)) for (const c of calls) c.reject(new Error('not aborted'));
    await pending.catch(() => {});
    assert.deepEqual(aborted, [true, true]);
    assert.ok(calls.every((c) => c.signal.reason === reason));
  });

  test('removes its listener from the incoming signal once settled, win or lose', async () => {
    const { proxy, calls } = scripted();
    const won = new AbortController();
    const winning = concurrentMiddleware(2)(proxy)(request, won.signal);
    assert.equal(getEventListeners(won.signal, 'abort').length, 1);
    calls[0]!.resolve(response('ok'));
    await winning;
    assert.equal(getEventListeners(won.signal, 'abort').length, 0);

    const lost = new AbortController();
    const losing = concurrentMiddleware(2)(proxy)(request, lost.signal);
    calls[2]!.reject(new Error('a'));
    calls[3]!.reject(new Error('b'));
    await assert.rejects(losing);
    assert.equal(getEventListeners(lost.signal, 'abort').length, 0);
  });

  test('an incoming abort after the answer changes nothing', async () => {
    const { proxy, calls } = scripted();
    const incoming = new AbortController();
    const pending = concurrentMiddleware(2)(proxy)(request, incoming.signal);
    calls[0]!.resolve(response('done'));
    const res = await pending;
    incoming.abort(new Error('too late'));
    assert.deepEqual(res.data, { tag: 'done' });
  });
});
