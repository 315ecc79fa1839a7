import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { FakeClock } from '../../../src/base/fake-clock.js';
import {
  DROP_REASONS,
  frame,
  FrameReader,
  generateKey,
  Keyring,
  PacketCodec,
  Reassembler,
  splitMessage,
} from '../../../src/cluster/wire/index.js';
import type { DecodeResult, Message } from '../../../src/cluster/wire/index.js';
import { ACK, PING, STRICT, testRegistry } from './helpers.js';

const RUNS = 400;
const ring = Keyring.fromConfig(generateKey());

function plain(): PacketCodec {
  return new PacketCodec({ registry: testRegistry(), clock: new FakeClock() });
}
function sealed(): PacketCodec {
  return new PacketCodec({ registry: testRegistry(), clock: new FakeClock(), keyring: ring });
}

function safeDecode(c: PacketCodec, bytes: Uint8Array): DecodeResult {
  let res: DecodeResult | undefined;
  assert.doesNotThrow(() => {
    res = c.decodePacket(bytes);
  });
  assert.ok(res);
  if (!res.ok) assert.ok((DROP_REASONS as readonly string[]).includes(res.reason), res.reason);
  return res;
}

/** MessagePack-encodable bodies: JSON values (no __proto__ keys, which the decoder refuses) and bytes. */
const body = fc.oneof(
  fc
    .jsonValue({ maxDepth: 3 })
    .filter((v) => !JSON.stringify(v ?? null).includes('"__proto__"'))
    // Through JSON once: -0 becomes 0, as MessagePack's integer encoding makes it anyway.
    .map((v) => JSON.parse(JSON.stringify(v ?? null)) as unknown),
  fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)),
);
const message = fc.record({
  type: fc.constantFrom(PING, ACK),
  body,
  requestId: fc.nat({ max: 0xffffffff }),
});

describe('decodePacket under fuzzing', () => {
  test('never throws on arbitrary bytes, with or without a key', () => {
    const codecs = [plain(), sealed()];
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 1600 }),
      // Past the magic, so the deeper checks get exercised too.
      fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.concat([Buffer.from([0x4b, 0x43]), b])),
      fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.concat([Buffer.from([0x4b, 0x43, 0x00]), b])),
    );
    fc.assert(
      fc.property(bytes, (b) => {
        for (const c of codecs) {
          const res = safeDecode(c, b);
          // Random bytes never carry a valid GCM tag: nothing sealed can come out of them.
          if (c.encrypted) assert.equal(res.ok, false);
        }
      }),
      { numRuns: RUNS * 2 },
    );
  });

  test('every bit flip or truncation of a sealed packet is rejected', () => {
    fc.assert(
      fc.property(
        message,
        fc.nat(),
        fc.oneof(fc.constant('flip' as const), fc.constant('cut' as const)),
        fc.integer({ min: 0, max: 7 }),
        (m, where, how, bit) => {
          const c = sealed();
          const r = c.encodePacket(m);
          fc.pre(r.ok);
          if (!r.ok) return;
          const mutated = Buffer.from(r.packet);
          const at = where % mutated.length;
          if (how === 'flip') mutated[at] = (mutated[at] as number) ^ (1 << bit);
          const input = how === 'flip' ? mutated : mutated.subarray(0, at);
          const res = safeDecode(c, input);
          assert.equal(res.ok, false, `${how} at ${at}`);
          // And the genuine packet still opens afterwards: a rejected forgery leaves no trace in the replay cache.
          assert.equal(c.decodePacket(r.packet).ok, true);
        },
      ),
      { numRuns: RUNS },
    );
  });

  test('mutations of a plaintext packet never throw, and what decodes is a well-formed, stable envelope', () => {
    fc.assert(
      fc.property(
        fc.array(message, { minLength: 1, maxLength: 4 }),
        fc.nat(),
        fc.integer({ min: 0, max: 7 }),
        fc.boolean(),
        (ms, where, bit, cut) => {
          const c = plain();
          const r = c.encodeCompound(ms);
          fc.pre(r.ok);
          if (!r.ok) return;
          const mutated = Buffer.from(r.packet);
          const at = where % mutated.length;
          if (!cut) mutated[at] = (mutated[at] as number) ^ (1 << bit);
          const input = cut ? mutated.subarray(0, at) : mutated;
          const res = safeDecode(c, input);
          if (!res.ok) return;
          for (const env of res.messages) {
            assert.ok([PING, ACK, STRICT].includes(env.type));
            // Re-encoding what was decoded decodes to the same thing.
            const again = c.decodePacket((c.encodePacket(env as Message) as { packet: Buffer }).packet);
            assert.ok(again.ok);
            assert.deepEqual(again.envelope.body, env.body);
            assert.equal(again.envelope.requestId, env.requestId);
          }
        },
      ),
      { numRuns: RUNS },
    );
  });

  test('compound packets round-trip exactly the messages they report as included', () => {
    fc.assert(
      fc.property(fc.array(message, { minLength: 1, maxLength: 20 }), fc.boolean(), (ms, keyed) => {
        const c = keyed ? sealed() : plain();
        const r = c.encodeCompound(ms);
        if (!r.ok) return;
        assert.ok(r.packet.length <= c.mtu);
        const res = c.decodePacket(r.packet);
        assert.ok(res.ok);
        assert.deepEqual(
          res.messages.map((e) => [e.type, e.requestId, e.body]),
          r.included.map((i) => [ms[i]?.type, ms[i]?.requestId, ms[i]?.body]),
        );
      }),
      { numRuns: RUNS },
    );
  });
});

describe('stream framing under fuzzing', () => {
  test('any message, any chunk size, any TCP segmentation: reassembled exactly', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 5000 }),
        fc.integer({ min: 2, max: 600 }),
        fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 10 }),
        (msg, chunk, cuts) => {
          const wire = Buffer.concat(splitMessage(msg, chunk).map((f) => frame(f)));
          const reader = new FrameReader(chunk);
          const reassembler = new Reassembler(5000);
          let out: Buffer | undefined;
          let off = 0;
          let i = 0;
          while (off < wire.length) {
            const n = cuts[i++ % cuts.length] as number;
            reader.push(wire.subarray(off, off + n));
            off += n;
            for (let f = reader.shift(); f !== undefined; f = reader.shift()) {
              assert.ok(Buffer.isBuffer(f));
              const r = reassembler.push(f);
              assert.ok(r.ok);
              if (r.message) out = r.message;
            }
          }
          assert.deepEqual(out, Buffer.from(msg));
        },
      ),
      { numRuns: RUNS },
    );
  });

  test('arbitrary bytes fed to a FrameReader + Reassembler never throw', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), (bytes) => {
        const reader = new FrameReader(512);
        const reassembler = new Reassembler(1024);
        reader.push(Buffer.from(bytes));
        for (let f = reader.shift(); f !== undefined; f = reader.shift()) {
          if (!Buffer.isBuffer(f)) break;
          if (!reassembler.push(f).ok) break;
        }
      }),
      { numRuns: RUNS },
    );
  });
});
