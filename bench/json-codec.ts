/*
 * Micro-benchmark of the gateway's JSON codec against the engine's own JSON, on a realistic ~1 KB API body and on
 * the same body carrying an id beyond 2^53 (which takes the lossless parse path).
 *
 * The variants run interleaved, round after round, so that drift (thermal, GC, JIT tiers) spreads over all of them;
 * each figure is the median of the rounds. Run: `npx tsc -p . && node dist/bench/json-codec.js`.
 */
import { encodeJson } from '../src/gateway/json/encode.js';
import { parseJson } from '../src/gateway/json/parse.js';
import type { JsonValue } from '../src/gateway/json/types.js';

const body = {
  id: 48213,
  type: 'order',
  status: 'shipped',
  created_at: '2024-03-18T09:41:27.120Z',
  customer: {
    id: 9912,
    name: 'Ana García',
    email: 'ana.garcia@example.com',
    vip: true,
    address: {
      street: 'Calle Mayor 12, 3º B',
      city: 'Madrid',
      zip: '28013',
      country: 'ES',
      lat: 40.41678,
      lng: -3.70379,
    },
  },
  items: [
    {
      sku: 'KB-1042',
      title: 'Mechanical keyboard',
      qty: 1,
      price: 89.9,
      discount: null,
      tags: ['peripherals', 'usb-c'],
    },
    { sku: 'MS-220', title: 'Wireless mouse', qty: 2, price: 24.5, discount: 0.15, tags: ['peripherals'] },
    { sku: 'CB-7', title: 'USB-C cable 2m', qty: 3, price: 7.99, discount: null, tags: [] },
  ],
  totals: { subtotal: 163.38, tax: 34.31, shipping: 0, grand_total: 197.69, currency: 'EUR' },
  shipping: {
    carrier: 'DHL',
    tracking: 'JD014600006281234567',
    estimated_days: 3,
    events: [
      { at: '2024-03-18T15:02:11Z', place: 'Madrid', note: 'Picked up' },
      { at: '2024-03-19T07:45:00Z', place: 'Zaragoza', note: 'In transit' },
    ],
  },
  notes: 'Leave at the door if nobody answers',
  gift: false,
  coupon: null,
  links: { self: '/orders/48213', customer: '/customers/9912', invoice: '/orders/48213/invoice.pdf' },
};

const fastText = JSON.stringify(body);
const slowText = fastText.replace('"id":48213', '"id":12345678901234567890');

const fastValue = parseJson(fastText);
const slowValue = parseJson(slowText);
const fastNative = JSON.parse(fastText) as unknown;
const slowNative = JSON.parse(slowText) as unknown;

interface Variant {
  name: string;
  run: () => unknown;
}

const variants: Variant[] = [
  { name: 'parse 1KB        JSON.parse', run: () => JSON.parse(fastText) },
  { name: 'parse 1KB        parseJson', run: () => parseJson(fastText) },
  { name: 'parse 1KB bigint JSON.parse', run: () => JSON.parse(slowText) },
  { name: 'parse 1KB bigint parseJson', run: () => parseJson(slowText) },
  { name: 'encode 1KB        JSON.stringify', run: () => JSON.stringify(fastNative) },
  { name: 'encode 1KB        encodeJson', run: () => encodeJson(fastValue) },
  { name: 'encode 1KB bigint JSON.stringify', run: () => JSON.stringify(slowNative) },
  { name: 'encode 1KB bigint encodeJson', run: () => encodeJson(slowValue) },
];

const ROUNDS = 15;
const ITERATIONS = 20_000;

// Whatever the variants return ends up here, so the JIT cannot drop the calls.
let sink = 0;

function measure(v: Variant, iterations: number): number {
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) {
    const r = v.run();
    if (r === undefined) sink++;
  }
  return Number(process.hrtime.bigint() - start) / iterations;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

for (const v of variants) measure(v, ITERATIONS); // warm-up, reaching the optimising tier
const samples = new Map<string, number[]>(variants.map((v) => [v.name, []]));
for (let round = 0; round < ROUNDS; round++) {
  for (const v of variants) samples.get(v.name)?.push(measure(v, ITERATIONS));
}

const results: Record<string, number> = {};
console.log(`json-codec: ${fastText.length} B body, ${ROUNDS} rounds x ${ITERATIONS} ops, node ${process.version}`);
for (const v of variants) {
  const ns = median(samples.get(v.name) ?? []);
  results[v.name.replace(/\s+/g, ' ')] = Math.round(ns);
  console.log(`${v.name.padEnd(36)} ${ns.toFixed(0).padStart(7)} ns/op`);
}
if (sink < 0) console.log(sink);

const summary: Record<string, JsonValue> = {
  bench: 'json-codec',
  node: process.version,
  bodyBytes: fastText.length,
  parseNativeNs: results['parse 1KB JSON.parse'] ?? null,
  parseJsonNs: results['parse 1KB parseJson'] ?? null,
  parseBigintNativeNs: results['parse 1KB bigint JSON.parse'] ?? null,
  parseJsonBigintNs: results['parse 1KB bigint parseJson'] ?? null,
  stringifyNativeNs: results['encode 1KB JSON.stringify'] ?? null,
  encodeJsonNs: results['encode 1KB encodeJson'] ?? null,
  stringifyBigintNativeNs: results['encode 1KB bigint JSON.stringify'] ?? null,
  encodeJsonBigintNs: results['encode 1KB bigint encodeJson'] ?? null,
};
console.log(JSON.stringify(summary));
