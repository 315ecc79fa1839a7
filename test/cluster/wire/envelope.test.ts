import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { EnvelopeCodec, MessageRegistry, negotiate } from '../../../src/cluster/wire/index.js';
import { ACK, PING, STRICT, testRegistry } from './helpers.js';

describe('negotiate', () => {
  const cases: Array<[string, [number, number], [number, number], number | undefined]> = [
    ['same single version', [1, 1], [1, 1], 1],
    ['overlap picks the highest common', [1, 3], [2, 5], 3],
    ['remote newer but still speaks ours', [1, 2], [2, 4], 2],
    ['disjoint ranges', [1, 2], [3, 4], undefined],
    ['an empty local range', [3, 2], [1, 5], undefined],
    ['an empty remote range', [1, 5], [4, 3], undefined],
    ['touching at one version', [1, 3], [3, 9], 3],
  ];
  for (const [name, local, remote, want] of cases) {
    test(name, () => {
      assert.equal(negotiate({ min: local[0], max: local[1] }, { min: remote[0], max: remote[1] }), want);
      assert.equal(negotiate({ min: remote[0], max: remote[1] }, { min: local[0], max: local[1] }), want);
    });
  }
});

describe('MessageRegistry', () => {
  test('refuses the wire range and double registration', () => {
    const r = new MessageRegistry().register(16, 'ping');
    assert.throws(() => r.register(0, 'mine'), RangeError);
    assert.throws(() => r.register(15, 'mine'), RangeError);
    assert.throws(() => r.register(256, 'mine'), RangeError);
    assert.throws(() => r.register(16, 'again'), /already registered as ping/);
    assert.equal(r.nameOf(16), 'ping');
    assert.equal(r.nameOf(0), 'compound');
    assert.equal(r.nameOf(99), 'type-99');
  });
});

describe('EnvelopeCodec', () => {
  const codec = new EnvelopeCodec({ registry: testRegistry(), versions: { min: 1, max: 2 }, maxBodyBytes: 4096 });

  test('round-trips type, versions, request id and body', () => {
    // bin decodes as a Buffer (a view of the input)
    const body = { seq: 7, name: 'krakend_1', tags: ['a', 'b'], bin: Buffer.from([1, 2, 3]), nil: null };
    const bytes = codec.encode({ type: PING, body, requestId: 0xfffffffe });
    const res = codec.decode(bytes, 5);
    assert.ok(res.ok);
    assert.deepEqual(res.envelope, {
      type: PING,
      versions: { min: 1, max: 2 },
      version: 2,
      keyId: 5,
      requestId: 0xfffffffe,
      body,
    });
  });

  test('negotiates down to the peer version', () => {
    const old = new EnvelopeCodec({ registry: testRegistry(), versions: { min: 1, max: 1 }, maxBodyBytes: 4096 });
    const res = codec.decode(old.encode({ type: ACK, body: 1 }), 0);
    assert.ok(res.ok);
    assert.equal(res.envelope.version, 1);
  });

  test('drops each bad input with its reason', () => {
    const good = codec.encode({ type: PING, body: { seq: 1 } });
    const reason = (bytes: Uint8Array): string | undefined => {
      const r = codec.decode(bytes, 0);
      return r.ok ? undefined : r.reason;
    };
    assert.equal(reason(good.subarray(0, 3)), 'truncated');
    assert.equal(reason(good.subarray(0, 7)), 'truncated');
    const unknown = Buffer.from(good);
    unknown[0] = 99;
    assert.equal(reason(unknown), 'unknown_type');
    const future = Buffer.from(good);
    future[1] = 3;
    future[2] = 4;
    assert.equal(reason(future), 'unknown_version');
    assert.equal(reason(Buffer.concat([good, Buffer.from([0x01])])), 'malformed', 'trailing bytes after the body');
    assert.equal(reason(good.subarray(0, good.length - 1)), 'malformed', 'body cut short');
    assert.equal(reason(codec.encode({ type: STRICT, body: { other: 1 } })), 'malformed', 'validator refused');
    assert.equal(reason(codec.encode({ type: STRICT, body: { seq: 1 } })), undefined);
  });

  test('refuses a __proto__ key and huge announced lengths without allocating them', () => {
    const header = codec.encode({ type: PING, body: null }).subarray(0, 7);
    const proto = Buffer.concat([header, Buffer.from([0x81, 0xa9]), Buffer.from('__proto__'), Buffer.from([0x01])]);
    assert.equal(codec.decode(proto, 0).ok, false);
    const hugeStr = Buffer.concat([header, Buffer.from([0xdb, 0xff, 0xff, 0xff, 0xff])]);
    assert.deepEqual(codec.decode(hugeStr, 0), { ok: false, reason: 'malformed' });
    const hugeArray = Buffer.concat([header, Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff])]);
    assert.deepEqual(codec.decode(hugeArray, 0), { ok: false, reason: 'malformed' });
  });

  test('refuses nesting deeper than maxDepth, without recursing', () => {
    const header = codec.encode({ type: PING, body: null }).subarray(0, 7);
    const nested = (depth: number): Buffer =>
      Buffer.concat([header, Buffer.alloc(depth, 0x91), Buffer.from([0xc0])]); // [[[…[nil]…]]]
    assert.equal(codec.decode(nested(64), 0).ok, true);
    assert.deepEqual(codec.decode(nested(65), 0), { ok: false, reason: 'malformed' });
    assert.deepEqual(codec.decode(nested(3000), 0), { ok: false, reason: 'malformed' });
    const maps = (depth: number): Buffer =>
      Buffer.concat([header, ...Array.from({ length: depth }, () => Buffer.from([0x81, 0xa1, 0x61])), Buffer.from([1])]);
    assert.equal(codec.decode(maps(64), 0).ok, true); // {a:{a:…{a:1}…}}
    assert.deepEqual(codec.decode(maps(65), 0), { ok: false, reason: 'malformed' });
  });

  test('refuses to encode a type or request id out of range', () => {
    assert.throws(() => codec.encode({ type: 256, body: 1 }), RangeError);
    assert.throws(() => codec.encode({ type: PING, body: 1, requestId: -1 }), RangeError);
    assert.throws(() => codec.encode({ type: PING, body: 1, requestId: 2 ** 32 }), RangeError);
  });
});
