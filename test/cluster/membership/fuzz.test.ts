/**
 * Property-based tests (fast-check): bad input is dropped and counted, never thrown; good messages survive the
 * codec unchanged; and replaying anything already seen changes no member's state (incarnation ordering).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { FakeClock } from '../../../src/base/fake-clock.js';
import { SeededRandom } from '../../../src/base/random.js';
import { EnvelopeCodec } from '../../../src/cluster/wire/index.js';
import { fromEnvelope, membershipRegistry, MEMBERSHIP_VERSIONS, toWireMessage } from '../../../src/cluster/membership/codec.js';
import { resolveConfig } from '../../../src/cluster/membership/config.js';
import { createState, step } from '../../../src/cluster/membership/core.js';
import { Membership } from '../../../src/cluster/membership/membership.js';
import { MemoryNetwork } from '../../../src/cluster/membership/memory-transport.js';
import type { MemoryTransport } from '../../../src/cluster/membership/memory-transport.js';
import { fromBody, MsgType } from '../../../src/cluster/membership/messages.js';
import type { PacketMsg, ProtocolMsg } from '../../../src/cluster/membership/messages.js';

const codec = new EnvelopeCodec({ registry: membershipRegistry(), versions: MEMBERSHIP_VERSIONS, maxBodyBytes: 1 << 20 });
const types = Object.values(MsgType);

const name = fc.string({ minLength: 1, maxLength: 20 });
const seq = fc.integer({ min: 0, max: 0xffffffff });
const inc = fc.integer({ min: 0, max: 2 ** 40 });
const meta = fc.uint8Array({ maxLength: 64 });
const member = fc.record(
  {
    name,
    addr: name,
    meta,
    incarnation: inc,
    status: fc.constantFrom(0 as const, 1 as const, 2 as const, 3 as const),
    vmin: fc.constant(1),
    vmax: fc.integer({ min: 1, max: 255 }),
  },
  { noNullPrototype: true },
);

const message: fc.Arbitrary<ProtocolMsg> = fc.oneof(
  fc.record({ type: fc.constant(MsgType.Ping), seq, target: fc.string({ maxLength: 20 }), source: name }, { noNullPrototype: true }),
  fc.record({ type: fc.constant(MsgType.PingReq), seq, target: name, targetAddr: name, wantNack: fc.boolean(), source: name }, { noNullPrototype: true }),
  fc.record({ type: fc.constant(MsgType.Ack), seq }, { noNullPrototype: true }),
  fc.record({ type: fc.constant(MsgType.Nack), seq }, { noNullPrototype: true }),
  fc.record({ type: fc.constant(MsgType.Alive), name, incarnation: inc, addr: name, meta, vmin: fc.constant(1), vmax: fc.integer({ min: 1, max: 9 }) }, { noNullPrototype: true }),
  fc.record({ type: fc.constant(MsgType.Suspect), name, incarnation: inc, from: name }, { noNullPrototype: true }),
  fc.record({ type: fc.constant(MsgType.Dead), name, incarnation: inc, from: name }, { noNullPrototype: true }),
  fc.record({ type: fc.constant(MsgType.PushPullRequest), join: fc.boolean(), members: fc.array(member, { maxLength: 5 }), source: fc.string({ maxLength: 20 }) }, { noNullPrototype: true }),
  fc.record({ type: fc.constant(MsgType.PushPullResponse), members: fc.array(member, { maxLength: 5 }) }, { noNullPrototype: true }),
  fc.record({ type: fc.constant(MsgType.StreamPing), seq, target: fc.string({ maxLength: 20 }), source: name }, { noNullPrototype: true }),
) as fc.Arbitrary<ProtocolMsg>;

describe('membership fuzzing', () => {
  test('any message survives the envelope codec unchanged', () => {
    fc.assert(
      fc.property(message, (msg) => {
        const decoded = codec.decode(codec.encode(toWireMessage(msg)), 0);
        assert.ok(decoded.ok);
        assert.deepEqual(fromEnvelope(decoded.envelope), msg);
      }),
      { numRuns: 500 },
    );
  });

  test('the body parser never throws and refuses what is not a message', () => {
    fc.assert(
      fc.property(fc.constantFrom(...types, 0, 15, 64, 255), fc.anything({ withTypedArray: true }), (type, body) => {
        const msg = fromBody(type, body);
        if (msg !== undefined) assert.equal(msg.type, type);
      }),
      { numRuns: 2000 },
    );
  });

  test('the packet handler drops and counts garbage, never throws, and the member keeps working', async () => {
    const clock = new FakeClock();
    const network = new MemoryNetwork({ clock, random: new SeededRandom(5) });
    const ta = network.transport('a:1');
    const tb = network.transport('b:1');
    const a = new Membership({ id: 'a', transport: ta, clock, random: new SeededRandom(1) });
    const b = new Membership({ id: 'b', transport: tb, clock, random: new SeededRandom(2) });
    await a.start();
    await b.start();
    void b.join(['a:1']);
    clock.advance(2_000);
    const sealer = (tb as unknown as { packets: { seal(p: Uint8Array): Buffer } }).packets;
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 1500 }).map((bytes) => Buffer.from(bytes)),
          // Well-framed, authenticated packets whose envelope is a registered type with any body at all.
          fc.tuple(fc.constantFrom(...types), fc.anything({ withTypedArray: true })).map(([type, body]) => {
            try {
              return sealer.seal(codec.encode({ type, body }));
            } catch {
              return Buffer.alloc(0); // not MessagePack-encodable: nothing to send
            }
          }),
        ),
        (bytes) => {
          (ta as MemoryTransport).receivePacket('b:1', bytes);
        },
      ),
      { numRuns: 3000 },
    );
    assert.ok(a.stats().droppedTotal > 0, 'garbage was counted');
    clock.advance(20_000);
    assert.equal(a.member('b')?.state, 'alive');
    assert.equal(b.member('a')?.state, 'alive');
    await a.close();
    await b.close();
  });

  test('incarnations never go back, we never accept our own death, and once members are known replays change nothing', () => {
    const names = ['me', 'a', 'b', 'c'];
    const news: fc.Arbitrary<PacketMsg> = fc.oneof(
      fc.record({ type: fc.constant(MsgType.Alive), name: fc.constantFrom(...names), incarnation: fc.integer({ min: 0, max: 5 }) }, { noNullPrototype: true }).map(
        (m): PacketMsg => ({ ...m, addr: `${m.name}:1`, meta: new Uint8Array([m.incarnation % 2]), vmin: 1, vmax: 1 }),
      ),
      fc.record({ type: fc.constantFrom(MsgType.Suspect, MsgType.Dead), name: fc.constantFrom(...names), incarnation: fc.integer({ min: 0, max: 5 }), from: fc.constantFrom(...names) }, { noNullPrototype: true }) as fc.Arbitrary<PacketMsg>,
    );
    fc.assert(
      fc.property(fc.array(news, { minLength: 1, maxLength: 40 }), fc.integer({ min: 0, max: 2 ** 31 }), (msgs, seed) => {
        const s = createState(
          {
            name: 'me',
            addr: 'me:1',
            meta: new Uint8Array([0]),
            config: resolveConfig('lan', { stallThresholdMs: 1e12 }),
            random: new SeededRandom(seed),
            encode: (m) => codec.encode(toWireMessage(m)),
            packetOverheadBytes: 11,
            partOverheadBytes: 2,
          },
          0,
        );
        step(s, { type: 'start' }, 0);
        const snapshot = (): string =>
          JSON.stringify([...s.members.values()].map((m) => [m.name, m.incarnation, m.status]).sort());
        const incarnations = new Map<string, number>();
        for (const m of msgs) {
          step(s, { type: 'packet', from: 'x:1', messages: [m] }, 1);
          for (const r of s.members.values()) {
            const before = incarnations.get(r.name) ?? 0;
            assert.ok(r.incarnation >= before, `${r.name}'s incarnation went back`);
            incarnations.set(r.name, r.incarnation);
          }
          assert.equal(s.self.status, 'alive', 'we never accept an accusation of ourselves');
        }
        // The first pass may have ignored news about members not known yet; once they are, replays are inert.
        for (const m of msgs) step(s, { type: 'packet', from: 'x:1', messages: [m] }, 2);
        const after = snapshot();
        for (const m of msgs) step(s, { type: 'packet', from: 'x:1', messages: [m] }, 3);
        assert.equal(snapshot(), after, 'a replay changed the state');
      }),
      { numRuns: 500 },
    );
  });
});
