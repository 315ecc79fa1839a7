/*
 * Two parts. First, a micro-benchmark of the rate limiters: a token bucket's tryTake, a per-client bucket store,
 * and the endpoint limit's check as the router calls it (client limit, then endpoint limit). Second, the cluster
 * rate-limit benchmark (issue 7): a simulator on a fake clock comparing an even split, our leases and an exact
 * central counter on N = 3, 10, 50 nodes (./ratelimit-lib/); its JSON summary is the last line of the output.
 *
 * Limits are set high enough that almost every call is admitted, so the figures are the cost of the common path.
 * The variants run interleaved, round after round; each figure is the median of the rounds.
 * Run: `npx tsc -p . && node dist/bench/ratelimit.js`.
 */
import type { IncomingMessage } from 'node:http';
import { systemClock } from '../src/base/clock.js';
import { FakeClock } from '../src/base/fake-clock.js';
import type { EndpointConfig } from '../src/gateway/config/types.js';
import type { JsonObject } from '../src/gateway/json/types.js';
import { StateRegistry } from '../src/gateway/state-registry.js';
import { ClientBuckets } from '../src/ratelimit/client-buckets.js';
import { createRouterLimit } from '../src/ratelimit/router-limit.js';
import type { RouterLimit } from '../src/ratelimit/router-limit.js';
import { TokenBucket } from '../src/ratelimit/token-bucket.js';
import { median } from './lib/stats.js';
import { printClusterBench } from './ratelimit-lib/report.js';

const HIGH = { rate: { tokens: 1e9, per: 1000 }, capacity: 1e9 };
// Client buckets that admit everything yet stay below capacity (one token an hour), so the store keeps them: a
// bucket that refilled at once would be dropped and every call would measure a new client instead of a known one.
const KEPT = { rate: { tokens: 1, per: 3_600_000 }, capacity: 1e9 };
const CLIENTS = 10_000;

const ips = Array.from({ length: CLIENTS }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
const tokens = Array.from({ length: 1000 }, (_, i) => `Bearer ${'e30.'.repeat(70)}${i.toString(36)}`);
const tokenRequests = tokens.map((t) => ({ headers: { authorization: t } }) as unknown as IncomingMessage);
const bare = { headers: {} } as unknown as IncomingMessage;

function endpoint(ns: JsonObject): EndpointConfig {
  return {
    id: 'GET /bench',
    endpoint: '/bench',
    method: 'GET',
    params: [],
    backends: [],
    concurrentCalls: 1,
    timeout: 2000,
    cacheTtl: 0,
    inputQueryStrings: [],
    inputHeaders: [],
    outputEncoding: 'json',
    extraConfig: { 'qos/ratelimit/router': ns },
  };
}

function routerLimit(ns: JsonObject): RouterLimit {
  const limit = createRouterLimit(endpoint(ns), { state: new StateRegistry(), clock: systemClock });
  if (!limit) throw new Error('no limit');
  return limit;
}

const bucket = new TokenBucket(systemClock, HIGH);
const frozen = new TokenBucket(new FakeClock(), HIGH);
const clients = new ClientBuckets(systemClock, KEPT);
const flood = new ClientBuckets(systemClock, { rate: { tokens: 1, per: 60_000 }, capacity: 1 });
const kept = { client_max_rate: 1, client_capacity: 1e9, every: '1h' };
const byIp = routerLimit({ max_rate: 1e9 * 3600, capacity: 1e9, ...kept, strategy: 'ip' });
const byToken = routerLimit({ max_rate: 1e9 * 3600, capacity: 1e9, ...kept, strategy: 'header', key: 'Authorization' });

let i = 0;
let fresh = 0;
interface Variant {
  name: string;
  key: string;
  run: () => unknown;
}
const variants: Variant[] = [
  { name: 'bucket tryTake (system clock)', key: 'tryTakeNs', run: () => bucket.tryTake() },
  { name: 'bucket tryTake (frozen clock)', key: 'tryTakeArithmeticNs', run: () => frozen.tryTake() },
  {
    name: `clients tryTake (${CLIENTS} IPs)`,
    key: 'clientTakeNs',
    run: () => clients.tryTake(ips[i++ % CLIENTS] as string),
  },
  {
    name: 'clients tryTake (new client, at cap)',
    key: 'clientInsertNs',
    run: () => flood.tryTake(`c${fresh++}`),
  },
  {
    name: `router check ip (${CLIENTS} IPs)`,
    key: 'routerCheckIpNs',
    run: () => byIp.check(bare, {}, ips[i++ % CLIENTS] as string),
  },
  {
    name: 'router check header (300 B token)',
    key: 'routerCheckLongHeaderNs',
    run: () => byToken.check(tokenRequests[i++ % tokens.length] as IncomingMessage, {}, ''),
  },
];

const ROUNDS = 15;
const ITERATIONS = 200_000;
let sink = 0;

function measure(v: Variant, iterations: number): number {
  const start = process.hrtime.bigint();
  for (let n = 0; n < iterations; n++) if (v.run() === 503) sink++;
  return Number(process.hrtime.bigint() - start) / iterations;
}

// Warm-up, reaching the optimising tier; it also fills `flood` to its cap, so that variant measures evictions.
for (const v of variants) measure(v, v.key === 'clientInsertNs' ? 200_000 : ITERATIONS);
const samples = new Map<string, number[]>(variants.map((v) => [v.key, []]));
for (let round = 0; round < ROUNDS; round++) {
  for (const v of variants) samples.get(v.key)?.push(measure(v, ITERATIONS));
}

console.log(`ratelimit: ${ROUNDS} rounds x ${ITERATIONS} ops, node ${process.version}`);
const summary: Record<string, string | number> = { bench: 'ratelimit', node: process.version };
for (const v of variants) {
  const ns = median(samples.get(v.key) ?? []);
  summary[v.key] = Math.round(ns * 10) / 10;
  console.log(`${v.name.padEnd(38)} ${ns.toFixed(1).padStart(8)} ns/op`);
}
console.log(
  `clients held: ${clients.size} (of ${CLIENTS} IPs), by ip ${byIp.client?.admitted} admitted; ` +
    `flood store: ${flood.size}, forced evictions ${flood.stats.evictedForced}`,
);
if (sink < 0) console.log(sink);
console.log(JSON.stringify(summary));

printClusterBench();
