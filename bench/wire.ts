/*
 * Micro-benchmark of the cluster wire (src/cluster/wire): what one typical gossip packet costs to seal and open,
 * with and without a cluster key, and the stream frame seal + open.
 *
 * The packet is a ping plus three membership updates: a 200-byte envelope. "seal+open" is one
 * encodePacket on a sender plus one decodePacket on a receiver (MessagePack encode and decode included), as a
 * gossip round trip costs each side. The receiver's replay cache stays bounded by its capacity; its clock moves
 * 1 ms per packet so entries expire as they would live.
 *
 * Variants run interleaved, round after round; each figure is the median of the rounds.
 * Run: `npx tsc -p . && node dist/bench/wire.js`.
 */
import { randomBytes } from 'node:crypto';
import { FakeClock } from '../src/base/fake-clock.js';
import { generateKey, Keyring, MessageRegistry, PacketCodec } from '../src/cluster/wire/index.js';
import { FrameOpener, FrameSealer } from '../src/cluster/wire/handshake.js';

const PING = 16;
const registry = new MessageRegistry().register(PING, 'ping');
const body = {
  seq: 48213,
  node: 'krakend_3f20a44d-3d93-4bc9-829b-b76b2205',
  updates: [
    { kind: 'alive', id: 'krakend_0b6c2f1e', inc: 12, addr: '10.0.0.12:7000' },
    { kind: 'suspect', id: 'krakend_7a1d9e33', inc: 4, from: 'k_3f20' },
    { kind: 'dead', id: 'manager_1', inc: 1 },
  ],
};

const clock = new FakeClock();
const ring = Keyring.fromConfig(generateKey());
const plainTx = new PacketCodec({ registry, clock });
const plainRx = new PacketCodec({ registry, clock });
const sealedTx = new PacketCodec({ registry, clock, keyring: ring });
const sealedRx = new PacketCodec({ registry, clock, keyring: ring });
const message = { type: PING, body, requestId: 1 };

const probe = plainTx.encodePacket(message);
const probeSealed = sealedTx.encodePacket(message);
if (!probe.ok || !probeSealed.ok) throw new Error('the bench packet does not fit');
const envelopeBytes = probe.packet.length - plainTx.overheadBytes;

const frameKey = randomBytes(32);
const frameBody = randomBytes(envelopeBytes + 1);
let sealer = new FrameSealer(frameKey);
let opener = new FrameOpener(frameKey);

let sink = 0;

interface Variant {
  name: string;
  run: () => void;
}

const variants: Variant[] = [
  {
    name: 'plaintext seal+open',
    run: () => {
      const r = plainTx.encodePacket(message);
      if (r.ok && plainRx.decodePacket(r.packet).ok) sink++;
    },
  },
  {
    name: 'sealed seal+open',
    run: () => {
      clock.advance(1);
      const r = sealedTx.encodePacket(message);
      if (r.ok && sealedRx.decodePacket(r.packet).ok) sink++;
    },
  },
  {
    name: 'sealed seal only',
    run: () => {
      if (sealedTx.encodePacket(message).ok) sink++;
    },
  },
  {
    name: 'stream frame seal+open',
    run: () => {
      const f = sealer.sealFrame(frameBody);
      if (Buffer.isBuffer(opener.open(f.subarray(4)))) sink++;
    },
  },
];

const ROUNDS = 11;
const ITERATIONS = 20_000;

function measure(v: Variant, iterations: number): number {
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) v.run();
  return Number(process.hrtime.bigint() - start) / iterations;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

for (const v of variants) measure(v, ITERATIONS); // warm-up
const samples = new Map<string, number[]>(variants.map((v) => [v.name, []]));
for (let round = 0; round < ROUNDS; round++) {
  for (const v of variants) samples.get(v.name)?.push(measure(v, ITERATIONS));
  // Fresh stream state now and then so counters stay small, as on a real stream.
  sealer = new FrameSealer(frameKey);
  opener = new FrameOpener(frameKey);
}

console.log(
  `wire: envelope ${envelopeBytes} B; packet ${probe.packet.length} B plaintext, ` +
    `${probeSealed.packet.length} B sealed; ` +
    `${ROUNDS} rounds x ${ITERATIONS} ops, node ${process.version}`,
);
const ns: Record<string, number> = {};
for (const v of variants) {
  ns[v.name] = Math.round(median(samples.get(v.name) ?? []));
  console.log(`${v.name.padEnd(26)} ${String(ns[v.name]).padStart(7)} ns/op`);
}
if (sink < 0) console.log(sink);
console.log(
  JSON.stringify({
    bench: 'wire',
    node: process.version,
    envelope_bytes: envelopeBytes,
    packet_bytes_plain: probe.packet.length,
    packet_bytes_sealed: probeSealed.packet.length,
    plain_seal_open_ns: ns['plaintext seal+open'],
    sealed_seal_open_ns: ns['sealed seal+open'],
    sealed_seal_only_ns: ns['sealed seal only'],
    stream_frame_seal_open_ns: ns['stream frame seal+open'],
  }),
);
