import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FakeClock } from '../../../src/base/fake-clock.js';
import {
  EnvelopeCodec,
  generateKey,
  Keyring,
  MessageType,
  PacketCodec,
  ReplayGuard,
} from '../../../src/cluster/wire/index.js';
import type { DecodeResult, DropReason, Message, PacketCodecOptions } from '../../../src/cluster/wire/index.js';
import { ACK, gossipBody, PING, STRICT, testRegistry } from './helpers.js';

function codec(options: Partial<PacketCodecOptions> = {}): PacketCodec {
  return new PacketCodec({ registry: testRegistry(), clock: new FakeClock(), ...options });
}

function reasonOf(res: DecodeResult): string {
  return res.ok ? 'ok' : res.reason;
}

function mustEncode(c: PacketCodec, m: Message): Buffer {
  const r = c.encodePacket(m);
  assert.ok(r.ok);
  return r.packet;
}

describe('PacketCodec round trips', () => {
  for (const keyed of [false, true]) {
    test(`${keyed ? 'sealed' : 'plaintext'}: a message comes back as sent`, () => {
      const clock = new FakeClock();
      const keyring = keyed ? Keyring.fromConfig(generateKey()) : undefined;
      const c = codec({ clock, ...(keyring ? { keyring } : {}) });
      assert.equal(c.encrypted, keyed);
      const packet = mustEncode(c, { type: PING, body: gossipBody(), requestId: 42 });
      assert.equal(packet.length <= c.mtu, true);
      const res = c.decodePacket(packet);
      assert.ok(res.ok, reasonOf(res));
      assert.equal(res.envelope.type, PING);
      assert.equal(res.envelope.requestId, 42);
      assert.equal(res.envelope.keyId, keyring ? keyring.primaryKeyId : 0);
      assert.deepEqual(res.envelope.body, gossipBody());
      assert.deepEqual(res.messages, [res.envelope]);
      assert.equal(res.sentAt, clock.now());
      if (keyed) assert.equal(packet.includes(Buffer.from('krakend_3f20a44d')), false, 'the body is encrypted');
      else assert.equal(packet.includes(Buffer.from('krakend_3f20a44d')), true);
    });
  }

  test('a message larger than the MTU is refused at encode, not split', () => {
    const c = codec({ mtu: 200 });
    assert.deepEqual(c.encodePacket({ type: PING, body: 'x'.repeat(300) }), { ok: false, reason: 'oversized' });
  });
});

describe('PacketCodec compound', () => {
  for (const keyed of [false, true]) {
    const mode = keyed ? 'sealed' : 'plaintext';
    test(`${mode}: packs messages in order up to the MTU, skipping those that do not fit`, () => {
      const c = codec({ mtu: 400, ...(keyed ? { keyring: Keyring.fromConfig(generateKey()) } : {}) });
      const msgs: Message[] = [
        { type: PING, body: { seq: 1 }, requestId: 1 },
        { type: ACK, body: 'a'.repeat(100) },
        { type: ACK, body: 'b'.repeat(500) }, // never fits
        { type: ACK, body: 'c'.repeat(100) },
        { type: ACK, body: 'd'.repeat(100) },
        { type: ACK, body: 'e'.repeat(100) }, // no room left by then
        { type: ACK, body: 'f' },
      ];
      const r = c.encodeCompound(msgs);
      assert.ok(r.ok);
      assert.ok(r.packet.length <= 400);
      assert.deepEqual(r.included, [0, 1, 3, 4, 6]);
      const res = c.decodePacket(r.packet);
      assert.ok(res.ok, reasonOf(res));
      assert.equal(res.envelope.type, MessageType.Compound);
      assert.deepEqual(
        res.messages.map((m) => m.body),
        r.included.map((i) => msgs[i]?.body),
      );
      assert.equal(res.messages[0]?.requestId, 1);
    });
  }

  test('one message that fits goes out as a plain packet; a first message too big is oversized', () => {
    const c = codec({ mtu: 200 });
    const one = c.encodeCompound([{ type: PING, body: 1 }, { type: ACK, body: 'z'.repeat(300) }]);
    assert.ok(one.ok);
    assert.deepEqual(one.included, [0]);
    const res = c.decodePacket(one.packet);
    assert.ok(res.ok);
    assert.equal(res.envelope.type, PING);
    assert.deepEqual(c.encodeCompound([{ type: ACK, body: 'z'.repeat(300) }]), { ok: false, reason: 'oversized' });
  });

  test('a part of an unknown type is dropped and counted, the others delivered', () => {
    const sender = new PacketCodec({
      registry: testRegistry().register(200, 'from-the-future'),
      clock: new FakeClock(),
    });
    const receiver = codec();
    const r = sender.encodeCompound([
      { type: PING, body: 1 },
      { type: 200, body: 'new' },
      { type: ACK, body: 2 },
    ]);
    assert.ok(r.ok);
    const res = receiver.decodePacket(r.packet);
    assert.ok(res.ok);
    assert.deepEqual(res.messages.map((m) => m.body), [1, 2]);
    assert.deepEqual(res.dropped, ['unknown_type']);
    assert.equal(receiver.drops.get('unknown_type'), 1);
  });

  test('a compound whose every part is bad is dropped as a whole, counted once', () => {
    const registry = testRegistry().register(200, 'x').register(201, 'y');
    const sender = new PacketCodec({ registry, clock: new FakeClock() });
    const receiver = codec();
    const r = sender.encodeCompound([{ type: 200, body: 1 }, { type: 201, body: 2 }]);
    assert.ok(r.ok);
    assert.equal(reasonOf(receiver.decodePacket(r.packet)), 'unknown_type');
    assert.equal(receiver.drops.total(), 1);
  });
});

/** Builds a plaintext packet around a hand-made payload. */
function plainPacket(c: PacketCodec, payload: Buffer): Buffer {
  return c.seal(payload);
}

describe('PacketCodec rejections (each counted under its reason)', () => {
  test('plaintext: truncated, oversized, bad magic, unknown type and version, malformed', () => {
    const c = codec({ maxPacketBytes: 2000 });
    const env = new EnvelopeCodec({ registry: testRegistry(), maxBodyBytes: 2000 });
    const good = mustEncode(c, { type: PING, body: { seq: 1 } });
    const ping = (body: unknown): Buffer => env.encode({ type: PING, body });
    const two = Buffer.concat([Buffer.from([0, 2]), lp(ping(1)), lp(ping(2))]);
    const cases: Array<[string, Buffer, string]> = [
      ['empty', Buffer.alloc(0), 'truncated'],
      ['one byte', good.subarray(0, 1), 'truncated'],
      ['header cut', good.subarray(0, 6), 'truncated'],
      ['header only', good.subarray(0, 9), 'truncated'],
      ['envelope header cut', good.subarray(0, 12), 'truncated'],
      ['bigger than the receive limit', Buffer.concat([good, Buffer.alloc(2000)]), 'oversized'],
      ['wrong magic', Buffer.concat([Buffer.from('GET / HTTP/1.1\r\n')]), 'bad_magic'],
      ['unknown type', plainPacket(c, Buffer.from([99, 1, 1, 0, 0, 0, 0, 0xc0])), 'unknown_type'],
      ['unknown version', plainPacket(c, Buffer.from([PING, 2, 3, 0, 0, 0, 0, 0xc0])), 'unknown_version'],
      ['bad msgpack', plainPacket(c, Buffer.from([PING, 1, 1, 0, 0, 0, 0, 0xc1])), 'malformed'],
      ['trailing garbage', Buffer.concat([good, Buffer.from([0])]), 'malformed'],
      ['validator refuses', mustEncode(c, { type: STRICT, body: { no: 1 } }), 'malformed'],
      ['compound of one', plainPacket(c, Buffer.concat([Buffer.from([0, 1]), lp(ping(null))])), 'malformed'],
      ['compound with a short part', plainPacket(c, Buffer.from([0, 2, 0, 50, 16, 1, 1])), 'truncated'],
      ['compound with slack at the end', plainPacket(c, Buffer.concat([two, Buffer.from([7])])), 'malformed'],
      ['nested compound', plainPacket(c, Buffer.concat([Buffer.from([0, 2]), lp(Buffer.from([0, 2, 0, 0])), lp(ping(2))])), 'malformed'],
      ['a well-formed compound', plainPacket(c, two), 'ok'],
    ];
    for (const [name, packet, reason] of cases) {
      const before = c.drops.total();
      assert.equal(reasonOf(c.decodePacket(packet)), reason, name);
      assert.equal(c.drops.total(), before + (reason === 'ok' ? 0 : 1), `${name} is counted once`);
      if (reason !== 'ok') assert.ok(c.drops.get(reason as DropReason) > 0);
    }
  });

  test('sealed: tampering anywhere, a wrong key, an unknown key id, plaintext when keyed, sealed when not', () => {
    const ring = Keyring.fromConfig(generateKey());
    const c = codec({ keyring: ring });
    const good = mustEncode(c, { type: PING, body: gossipBody() });
    for (const at of [2, 4, 10, 25, good.length - 1]) {
      const bad = Buffer.from(good);
      bad[at] = (bad[at] as number) ^ 0x01;
      assert.equal(reasonOf(c.decodePacket(bad)), 'auth_failed', `bit flipped at ${at}`);
    }
    assert.equal(reasonOf(c.decodePacket(good.subarray(0, 30))), 'truncated');
    const other = codec({ keyring: Keyring.fromConfig(generateKey()) });
    assert.equal(reasonOf(other.decodePacket(good)), 'auth_failed', 'wrong key');
    const plain = codec();
    const unsealed = mustEncode(plain, { type: PING, body: 1 });
    assert.equal(reasonOf(c.decodePacket(unsealed)), 'auth_failed', 'plaintext to a keyed receiver');
    assert.equal(reasonOf(plain.decodePacket(good)), 'auth_failed', 'sealed to a receiver without key');
    assert.equal(c.drops.get('auth_failed'), 6);
    assert.equal(c.decodePacket(good).ok, true, 'the untouched packet still opens');
  });
});

function lp(b: Buffer): Buffer {
  const len = Buffer.alloc(2);
  len.writeUInt16BE(b.length);
  return Buffer.concat([len, b]);
}

describe('PacketCodec replay defence', () => {
  test('an exact duplicate is refused as replayed', () => {
    const c = codec({ keyring: Keyring.fromConfig(generateKey()) });
    const p = mustEncode(c, { type: PING, body: 1 });
    assert.equal(c.decodePacket(p).ok, true);
    assert.equal(reasonOf(c.decodePacket(p)), 'replayed');
    assert.equal(c.drops.get('replayed'), 1);
  });

  test('a packet older than the window is refused as too_old; one from too far ahead as from_future', () => {
    const ring = Keyring.fromConfig(generateKey());
    const senderClock = new FakeClock();
    const receiverClock = new FakeClock();
    const sender = codec({ keyring: ring, clock: senderClock });
    const receiver = codec({ keyring: ring, clock: receiverClock, replayWindowMs: 30_000, maxClockSkewMs: 5_000 });
    const p = mustEncode(sender, { type: PING, body: 1 });
    receiverClock.advance(30_001);
    assert.equal(reasonOf(receiver.decodePacket(p)), 'too_old');
    senderClock.advance(30_001 + 5_001);
    assert.equal(reasonOf(receiver.decodePacket(mustEncode(sender, { type: PING, body: 1 }))), 'from_future');
    const near = new FakeClock({ start: 30_001 + 4_000 });
    const nearSender = codec({ keyring: ring, clock: near });
    assert.equal(receiver.decodePacket(mustEncode(nearSender, { type: PING, body: 1 })).ok, true);
  });

  test('plaintext packets are aged too (no nonce cache without a key)', () => {
    const rx = new FakeClock();
    const receiver = codec({ clock: rx });
    const p = mustEncode(codec(), { type: PING, body: 1 });
    assert.equal(receiver.decodePacket(p).ok, true);
    assert.equal(receiver.decodePacket(p).ok, true, 'no replay detection in plaintext');
    rx.advance(31_000);
    assert.equal(reasonOf(receiver.decodePacket(p)), 'too_old');
  });

  test('ReplayGuard stays bounded and raises its floor instead of forgetting a live nonce', () => {
    const g = new ReplayGuard({ windowMs: 1000, capacity: 3 });
    assert.equal(g.admit('a', 100, 100), undefined);
    assert.equal(g.admit('b', 101, 101), undefined);
    assert.equal(g.admit('c', 102, 102), undefined);
    assert.equal(g.admit('d', 103, 103), undefined); // evicts a (ts 100): floor = 100
    assert.equal(g.size, 3);
    assert.equal(g.admit('a', 100, 104), 'too_old', 'the evicted nonce cannot be replayed');
    assert.equal(g.admit('b', 101, 104), 'replayed');
    assert.equal(g.admit('e', 99, 104), 'too_old');
    // Once the window has passed, entries expire on their own.
    for (let i = 0; i < 10; i++) g.admit(`late-${i}`, 5000 + i, 5000 + i);
    assert.ok(g.size <= 3);
  });
});

describe('PacketCodec key rotation', () => {
  test('install → use → remove, with no packet refused while every step spreads', () => {
    const k1 = generateKey();
    const k2 = generateKey();
    const ringA = Keyring.fromConfig(k1);
    const ringB = Keyring.fromConfig(k1);
    const a = codec({ keyring: ringA });
    const b = codec({ keyring: ringB });
    const send = (from: PacketCodec, to: PacketCodec): string =>
      reasonOf(to.decodePacket(mustEncode(from, { type: PING, body: 'hi' })));

    // 1. B installs k2: still sends under k1, and A (without k2) still reads B.
    const id2 = ringB.install(k2);
    assert.equal(send(b, a), 'ok');
    assert.equal(send(a, b), 'ok');
    // 2. A installs k2 and makes it primary: B reads it because it installed k2.
    ringA.install(k2);
    ringA.use(id2);
    const fromAUnderK2 = mustEncode(a, { type: PING, body: 'new' });
    assert.equal(fromAUnderK2[2], id2, 'the new primary is used');
    assert.equal(reasonOf(b.decodePacket(fromAUnderK2)), 'ok');
    // B, not switched yet, still sends under k1: A still accepts it.
    assert.equal(send(b, a), 'ok');
    const oldFromB = mustEncode(b, { type: PING, body: 'old' });
    // 3. B switches too and removes k1; A removes k1: old-key packets are refused.
    ringB.use(id2);
    const id1 = ringB.ids().find((id) => id !== id2) as number;
    ringB.remove(id1);
    ringA.remove(id1);
    assert.equal(send(a, b), 'ok');
    assert.equal(send(b, a), 'ok');
    assert.equal(reasonOf(a.decodePacket(oldFromB)), 'auth_failed', 'the removed key is refused');
  });
});
