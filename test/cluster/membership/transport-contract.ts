/**
 * The Transport contract: every implementation (in-memory, UDP + TCP) runs these same cases (hono's
 * common.case.test.ts pattern).
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { Envelope, Keyring, Message } from '../../../src/cluster/wire/index.js';
import { Keyring as KeyringClass, generateKey } from '../../../src/cluster/wire/index.js';
import { MsgType } from '../../../src/cluster/membership/messages.js';
import type { RequestResult, Transport, TransportHandlers } from '../../../src/cluster/membership/transport.js';

export interface TransportHarness {
  /** A new, not yet started transport. */
  create(options?: { keyring?: Keyring }): Transport;
  /** Lets deliveries happen: advances a fake clock, or sleeps. */
  settle(ms?: number): Promise<void>;
  /** Delivers raw bytes to a started transport, as a datagram from elsewhere would. */
  sendRaw(to: Transport, bytes: Buffer): Promise<void>;
  /** An address where nobody listens. */
  deadAddress(): Promise<string>;
  cleanup(): Promise<void>;
}

interface Received {
  packets: Array<{ from: string; messages: readonly Envelope[] }>;
  requests: Envelope[];
}

function recorder(respond: (req: Envelope) => Message | undefined | 'never' = (req) => ({ type: MsgType.Ack, body: req.body })): {
  handlers: TransportHandlers;
  got: Received;
} {
  const got: Received = { packets: [], requests: [] };
  return {
    got,
    handlers: {
      onPacket: (from, messages) => void got.packets.push({ from, messages }),
      onRequest: (_from, request, reply) => {
        got.requests.push(request);
        const out = respond(request);
        if (out !== 'never') reply(out);
      },
    },
  };
}

const ping = (seq: number): Message => ({ type: MsgType.Ping, body: [seq, 'target', 'source'] });

function request(t: Transport, to: string, message: Message, timeoutMs: number): Promise<RequestResult> {
  return new Promise((resolve) => t.request(to, message, timeoutMs, resolve));
}

async function until(h: TransportHarness, predicate: () => boolean, steps = 100, stepMs = 10): Promise<boolean> {
  for (let i = 0; i < steps; i++) {
    if (predicate()) return true;
    await h.settle(stepMs);
  }
  return predicate();
}

export function transportContract(name: string, makeHarness: () => TransportHarness): void {
  describe(`Transport contract: ${name}`, () => {
    const h = makeHarness();
    after(() => h.cleanup());

    async function pair(options: { keyringA?: Keyring; keyringB?: Keyring; respond?: Parameters<typeof recorder>[0] } = {}) {
      const a = h.create(options.keyringA ? { keyring: options.keyringA } : {});
      const b = h.create(options.keyringB ? { keyring: options.keyringB } : {});
      const ra = recorder();
      const rb = recorder(options.respond);
      await a.start(ra.handlers);
      await b.start(rb.handlers);
      return { a, b, ra, rb };
    }

    test('a packet of one message arrives decoded, with an address the receiver can answer', async () => {
      const { a, b, ra, rb } = await pair();
      a.sendPacket(b.address, [a.encode(ping(7))]);
      assert.ok(await until(h, () => rb.got.packets.length === 1));
      const p = rb.got.packets[0];
      assert.equal(p?.messages.length, 1);
      assert.equal(p?.messages[0]?.type, MsgType.Ping);
      assert.deepEqual(p?.messages[0]?.body, [7, 'target', 'source']);
      b.sendPacket(p?.from as string, [b.encode({ type: MsgType.Ack, body: [7] })]);
      assert.ok(await until(h, () => ra.got.packets.length === 1), 'the reply reached the sender');
      await a.close();
      await b.close();
    });

    test('several messages in one packet arrive in order', async () => {
      const { a, b, rb } = await pair();
      a.sendPacket(b.address, [a.encode(ping(1)), a.encode({ type: MsgType.Ack, body: [2] }), a.encode({ type: MsgType.Nack, body: [3] })]);
      assert.ok(await until(h, () => rb.got.packets.length === 1));
      assert.deepEqual(
        rb.got.packets[0]?.messages.map((m) => m.type),
        [MsgType.Ping, MsgType.Ack, MsgType.Nack],
      );
      await a.close();
      await b.close();
    });

    test('a packet larger than the MTU is not sent, and is counted', async () => {
      const { a, b, rb } = await pair();
      const big = a.encode({ type: MsgType.Alive, body: ['x', 1, 'a:1', new Uint8Array(a.mtu), 1, 1] });
      a.sendPacket(b.address, [big]);
      await h.settle(50);
      assert.equal(rb.got.packets.length, 0);
      assert.equal(a.stats().packetSendFailures, 1);
      await a.close();
      await b.close();
    });

    test('a request gets its response', async () => {
      const { a, b, rb } = await pair();
      const pending = request(a, b.address, { type: MsgType.StreamPing, body: [9, '', 'a'] }, 2_000);
      await until(h, () => rb.got.requests.length === 1);
      const result = await settleWhile(h, pending);
      assert.ok(result.ok, !result.ok ? result.error.message : '');
      assert.equal(result.response.type, MsgType.Ack);
      assert.deepEqual(result.response.body, [9, '', 'a']);
      await a.close();
      await b.close();
    });

    test('a large request and response (a push-pull of 3000 members) go through whole', async () => {
      const members = Array.from({ length: 3000 }, (_, i) => [`node-${i}`, `10.0.${i >> 8}.${i & 255}:7946`, new Uint8Array(40), i, 0, 1, 1]);
      const { a, b } = await pair({ respond: (req) => ({ type: MsgType.PushPullResponse, body: [(req.body as unknown[])[1]] }) });
      const result = await settleWhile(h, request(a, b.address, { type: MsgType.PushPullRequest, body: [true, members] }, 5_000));
      assert.ok(result.ok, !result.ok ? result.error.message : '');
      assert.equal(((result.response.body as unknown[])[0] as unknown[]).length, 3000);
      await a.close();
      await b.close();
    });

    test('a request to an address where nobody listens fails', async () => {
      const a = h.create();
      await a.start(recorder().handlers);
      const result = await settleWhile(h, request(a, await h.deadAddress(), { type: MsgType.StreamPing, body: [1, '', 'a'] }, 1_000));
      assert.equal(result.ok, false);
      assert.equal(a.stats().streamFailures, 1);
      await a.close();
    });

    test('a request the other side declines to answer fails', async () => {
      const { a, b } = await pair({ respond: () => undefined });
      const result = await settleWhile(h, request(a, b.address, { type: MsgType.StreamPing, body: [1, '', 'a'] }, 2_000));
      assert.equal(result.ok, false);
      await a.close();
      await b.close();
    });

    test('a request not answered in time fails with a timeout', async () => {
      const { a, b } = await pair({ respond: () => 'never' });
      const result = await settleWhile(h, request(a, b.address, { type: MsgType.StreamPing, body: [1, '', 'a'] }, 300));
      assert.equal(result.ok, false);
      if (!result.ok) assert.match(result.error.message, /timed out|no message/);
      await a.close();
      await b.close();
    });

    test('with a shared key, packets and streams work; under a different key they are dropped and counted', async () => {
      const key = generateKey();
      const ok = await pair({ keyringA: KeyringClass.fromConfig(key), keyringB: KeyringClass.fromConfig(key) });
      ok.a.sendPacket(ok.b.address, [ok.a.encode(ping(1))]);
      assert.ok(await until(h, () => ok.rb.got.packets.length === 1));
      const good = await settleWhile(h, request(ok.a, ok.b.address, { type: MsgType.StreamPing, body: [1, '', 'a'] }, 2_000));
      assert.ok(good.ok);
      await ok.a.close();
      await ok.b.close();

      const bad = await pair({ keyringA: KeyringClass.fromConfig(generateKey()), keyringB: KeyringClass.fromConfig(key) });
      bad.a.sendPacket(bad.b.address, [bad.a.encode(ping(1))]);
      await h.settle(50);
      assert.equal(bad.rb.got.packets.length, 0);
      assert.ok(bad.b.drops.get('auth_failed') >= 1, 'counted as auth_failed');
      const refused = await settleWhile(h, request(bad.a, bad.b.address, { type: MsgType.StreamPing, body: [1, '', 'a'] }, 2_000));
      assert.equal(refused.ok, false);
      assert.equal(bad.rb.got.requests.length, 0, 'the request never reached the handler');
      await bad.a.close();
      await bad.b.close();
    });

    test('a keyless sender is refused by a keyed receiver', async () => {
      const { a, b, rb } = await pair({ keyringB: KeyringClass.fromConfig(generateKey()) });
      a.sendPacket(b.address, [a.encode(ping(1))]);
      await h.settle(50);
      assert.equal(rb.got.packets.length, 0);
      assert.ok(b.drops.get('auth_failed') >= 1);
      await a.close();
      await b.close();
    });

    test('garbage, truncated and replayed datagrams are dropped and counted, never thrown', async () => {
      const { a, b, rb } = await pair();
      await h.sendRaw(b, Buffer.from('GET / HTTP/1.1\r\n\r\n'));
      await h.sendRaw(b, Buffer.from([0x4b]));
      await h.sendRaw(b, Buffer.alloc(0));
      await h.sendRaw(b, Buffer.from([0x4b, 0x43, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]));
      await h.settle(50);
      assert.equal(rb.got.packets.length, 0);
      assert.ok(b.drops.total() >= 3, `counted ${JSON.stringify(b.drops.snapshot())}`);
      await a.close();
      await b.close();
    });

    test('after close nothing is delivered and requests fail', async () => {
      const { a, b, rb } = await pair();
      const addr = b.address;
      await b.close();
      a.sendPacket(addr, [a.encode(ping(1))]);
      await h.settle(50);
      assert.equal(rb.got.packets.length, 0);
      const result = await settleWhile(h, request(a, addr, { type: MsgType.StreamPing, body: [1, '', 'a'] }, 500));
      assert.equal(result.ok, false);
      await a.close();
      const closed = await settleWhile(h, request(a, addr, { type: MsgType.StreamPing, body: [1, '', 'a'] }, 500));
      assert.equal(closed.ok, false);
    });
  });
}

/** Awaits a promise while letting the harness's time pass (a fake clock does not move on its own). */
async function settleWhile<T>(h: TransportHarness, promise: Promise<T>, maxSteps = 1000): Promise<T> {
  let done = false;
  let value: T | undefined;
  void promise.then((v) => {
    done = true;
    value = v;
  });
  for (let i = 0; i < maxSteps && !done; i++) await h.settle(10);
  if (!done) throw new Error('the transport never completed the request');
  return value as T;
}
