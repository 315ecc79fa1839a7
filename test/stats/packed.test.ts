import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { isStatsDelta, StatsCollector } from '../../src/stats/collector.js';
import type { BackendDelta, EndpointDelta, StatsDelta } from '../../src/stats/collector.js';
import { BUCKETS, Histogram } from '../../src/stats/histogram.js';
import { isPackedDelta, KeyTable, packDelta, unpackDelta } from '../../src/stats/packed.js';
import { createControlRegistry, ControlType, CONTROL_VERSIONS } from '../../src/cluster/control/messages.js';
import { isStatsBody, statsBody, statsDeltaOf } from '../../src/cluster/control/stats-body.js';
import { EnvelopeCodec } from '../../src/cluster/wire/index.js';

const RUNS = 300;

/** A wire histogram built the way nodes build them: from recorded values. */
const histogram = fc.array(fc.tuple(fc.double({ min: 0, max: 1e8, noNaN: true }), fc.integer({ min: 1, max: 1000 })), { maxLength: 20 }).map((values) => {
  const h = new Histogram();
  for (const [v, n] of values) h.recordN(v, n);
  return h.toJSON();
});
const count = fc.oneof(fc.nat(), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }));
/** Counters need not be integers on the wire: both encodings of a counter must round-trip. */
const counter = fc.oneof(count, fc.double({ min: 0, max: 1e300, noNaN: true, noDefaultInfinity: true }));
const status = fc.tuple(count, count, count, count, count, count);
/** Any key but `__proto__` (refused, as the MessagePack decoder refuses it: see the test below). */
const key = fc.string({ unit: 'binary', minLength: 1, maxLength: 60 }).filter((k) => k !== '__proto__');

const endpoint: fc.Arbitrary<EndpointDelta> = fc.record({ status, latency: histogram, bytesIn: counter, bytesOut: counter, rateLimited: counter });
const backend: fc.Arbitrary<BackendDelta> = fc
  .record({
    status,
    latency: histogram,
    bytesIn: counter,
    bytesOut: counter,
    errors: counter,
    timeouts: counter,
    circuit: fc.option(fc.constantFrom('closed' as const, 'open' as const, 'half-open' as const), { nil: undefined }),
  })
  .map((b) => {
    if (b.circuit === undefined) delete b.circuit;
    return b;
  });
const delta: fc.Arbitrary<StatsDelta> = fc.record({
  stream: fc.string({ minLength: 1, maxLength: 40 }),
  seq: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
  dropped: fc.nat(),
  endpoints: fc.dictionary(key, endpoint, { maxKeys: 8 }),
  backends: fc.dictionary(key, backend, { maxKeys: 8 }),
});

/** JSON-equal after normalising -0 (the f64 encoding keeps it; deepEqual would not care either way). */
function same(a: unknown, b: unknown): void {
  assert.deepEqual(JSON.parse(JSON.stringify(b)), JSON.parse(JSON.stringify(a)));
}

describe('packed stats deltas', () => {
  test('round-trip any well-formed delta, with and without a key table', () => {
    fc.assert(
      fc.property(delta, (d) => {
        assert.ok(isStatsDelta(d));
        const bytes = packDelta(d);
        assert.ok(isPackedDelta(bytes));
        const table = new KeyTable();
        for (const t of [undefined, table, table]) {
          const back = unpackDelta(bytes, t);
          assert.ok(back);
          same(back.endpoints, d.endpoints);
          same(back.backends, d.backends);
          // Keys in the same order: the window and the API list them as they came.
          assert.deepEqual(Object.keys(back.endpoints), Object.keys(d.endpoints));
        }
      }),
      { numRuns: RUNS },
    );
  });

  test('a key table reuses the last entries: each delta still reads as itself', () => {
    // Two deltas over the same keys (so the second overwrites the first's objects), in any order of shapes:
    // empty and non-empty histograms, circuit states set and cleared.
    const sameKeys = delta.chain((a) =>
      fc
        .tuple(
          fc.tuple(...Object.keys(a.endpoints).map(() => endpoint)),
          fc.tuple(...Object.keys(a.backends).map(() => backend)),
        )
        .map(([es, bs]): [StatsDelta, StatsDelta] => {
          const b = structuredClone(a);
          Object.keys(b.endpoints).forEach((k, i) => (b.endpoints[k] = es[i]!));
          Object.keys(b.backends).forEach((k, i) => (b.backends[k] = bs[i]!));
          return [a, b];
        }),
    );
    fc.assert(
      fc.property(sameKeys, ([a, b]) => {
        const table = new KeyTable();
        for (const d of [a, b, a]) {
          const back = unpackDelta(packDelta(d), table);
          assert.ok(back);
          same(back.endpoints, d.endpoints);
          same(back.backends, d.backends);
        }
      }),
      { numRuns: RUNS },
    );
  });

  test('a changed key table is decoded again, not taken from the cache', () => {
    const table = new KeyTable();
    const a = new StatsCollector({ stream: 's' });
    a.recordRequest('GET /a', 200, 10, 1, 1);
    const b = new StatsCollector({ stream: 's' });
    b.recordRequest('GET /b', 200, 10, 1, 1);
    assert.deepEqual(Object.keys(unpackDelta(packDelta(a.takeDelta()), table)!.endpoints), ['GET /a']);
    assert.deepEqual(Object.keys(unpackDelta(packDelta(b.takeDelta()), table)!.endpoints), ['GET /b']);
  });

  test('every truncation and most corruptions are refused, never thrown', () => {
    fc.assert(
      fc.property(delta, fc.nat(), fc.integer({ min: 0, max: 255 }), (d, at, byte) => {
        const bytes = packDelta(d);
        for (let cut = 0; cut < bytes.length; cut++) {
          assert.equal(isPackedDelta(bytes.subarray(0, cut)), false);
          assert.equal(unpackDelta(bytes.subarray(0, cut)), undefined);
        }
        const bad = Uint8Array.from(bytes);
        bad[at % bad.length] = byte;
        // A corruption may still be well-formed (a count changed into another valid count): then it must decode
        // into a valid delta.
        const back = unpackDelta(bad);
        assert.equal(back !== undefined, isPackedDelta(bad));
        if (back) assert.ok(isStatsDelta({ stream: 's', seq: 1, dropped: 0, ...back }));
      }),
      { numRuns: 100 },
    );
  });

  test('refuses buckets out of range, counts that do not add up, negative and non-finite counters', () => {
    const c = new StatsCollector({ stream: 's' });
    c.recordRequest('GET /x', 200, 1000, 10, 20);
    const good = c.takeDelta();
    const mutate = (f: (e: EndpointDelta) => void): Uint8Array => {
      const d = structuredClone(good);
      f(d.endpoints['GET /x']!);
      return packDelta(d);
    };
    assert.ok(isPackedDelta(packDelta(good)));
    assert.equal(isPackedDelta(mutate((e) => (e.latency.b = [BUCKETS + 1, 1]))), false);
    assert.equal(isPackedDelta(mutate((e) => (e.latency.n = 2))), false);
    assert.equal(isPackedDelta(mutate((e) => (e.bytesIn = -1))), false);
    assert.equal(isPackedDelta(mutate((e) => (e.bytesOut = Infinity))), false);
    assert.equal(isPackedDelta(mutate((e) => (e.latency.b = [0, 1]))), false);
    const extra = new Uint8Array(packDelta(good).length + 1);
    extra.set(packDelta(good));
    assert.equal(isPackedDelta(extra), false, 'trailing bytes');
    assert.equal(isPackedDelta('not bytes'), false);
    const proto = packDelta({ ...good, endpoints: JSON.parse('{"__proto__": ' + JSON.stringify(good.endpoints['GET /x']) + '}') });
    assert.equal(isPackedDelta(proto), false, '__proto__ key');
    assert.equal(unpackDelta(proto), undefined, '__proto__ key');
  });

  test('the Stats message carries either form through the envelope, v1 for a v1 peer', () => {
    const c = new StatsCollector({ stream: 'node-1' });
    c.recordRequest('GET /x', 200, 1000, 10, 20);
    c.recordBackend('GET /x#0', 502, 900, 5, 5, 1);
    c.recordCircuit('GET /x#0', 'open');
    const d = c.takeDelta();
    const codec = new EnvelopeCodec({ registry: createControlRegistry(), versions: CONTROL_VERSIONS, maxBodyBytes: 1 << 20 });
    for (const version of [1, 2]) {
      const body = statsBody(d, version);
      assert.equal(Array.isArray(body), version >= 2);
      const decoded = codec.decode(codec.encode({ type: ControlType.Stats, body }), 0);
      assert.ok(decoded.ok);
      assert.ok(isStatsBody(decoded.envelope.body));
      const { ordered, ...byName } = statsDeltaOf(decoded.envelope.body, new KeyTable())!;
      same(byName, d);
      if (version === 1) {
        assert.equal(ordered, undefined, 'the map form has no order of its own');
      } else {
        // The order names the same entries: keys[i] for endpoints[i], then the backends.
        assert.deepEqual(ordered!.keys, ['GET /x', 'GET /x#0']);
        assert.equal(ordered!.endpoints[0], byName.endpoints['GET /x']);
        assert.equal(ordered!.backends[0], byName.backends['GET /x#0']);
      }
    }
    // A v1 peer cannot slip an order of its own past the validator into the window.
    const forged = { delta: { ...d, ordered: { keys: ['GET /x'], endpoints: [], backends: [] } } };
    const forgedBack = codec.decode(codec.encode({ type: ControlType.Stats, body: forged }), 0);
    assert.ok(forgedBack.ok);
    if (isStatsBody(forgedBack.envelope.body)) assert.equal(statsDeltaOf(forgedBack.envelope.body)!.ordered, undefined);
    assert.equal(isStatsBody(['s', 0, 0, packDelta(d)]), false, 'seq 0');
    assert.equal(isStatsBody(['', 1, 0, packDelta(d)]), false, 'empty stream');
    assert.equal(isStatsBody(['s', 1, 0, new Uint8Array([1])]), false, 'truncated entries');
  });

  test('is smaller than the MessagePack map form of a realistic delta', () => {
    const c = new StatsCollector({ stream: 'node-1' });
    for (let e = 0; e < 50; e++) {
      for (let k = 0; k < 10; k++) c.recordRequest(`GET /api/v1/resource-${e}/{id}`, 200, 15_000 + k * 1000, 250, 1000);
      for (let k = 0; k < 10; k++) c.recordBackend(`GET /api/v1/resource-${e}/{id}#0`, 200, 14_000 + k * 1000, 1000, 250);
    }
    const d = c.takeDelta();
    const codec = new EnvelopeCodec({ registry: createControlRegistry(), versions: CONTROL_VERSIONS, maxBodyBytes: 1 << 20 });
    const v1 = codec.encode({ type: ControlType.Stats, body: statsBody(d, 1) }).length;
    const v2 = codec.encode({ type: ControlType.Stats, body: statsBody(d, 2) }).length;
    assert.ok(v2 < v1, `packed ${v2} bytes, map form ${v1} bytes`);
  });
});
