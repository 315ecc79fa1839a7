import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  BackendOutcome,
  StatsCollector,
  backendKey,
  endpointKey,
  isStatsDelta,
  statusClass,
} from '../../src/stats/collector.js';
import { Histogram } from '../../src/stats/histogram.js';

const EP = endpointKey('get', '/users/{id}');
const BE = backendKey(EP, 0);

describe('StatsCollector', () => {
  test('keys endpoints as METHOD path and backends as endpoint#index', () => {
    assert.equal(EP, 'GET /users/{id}');
    assert.equal(BE, 'GET /users/{id}#0');
  });

  test('classifies statuses into 1xx..5xx, and anything else as no status', () => {
    assert.deepEqual([100, 204, 301, 429, 599, 0, 600, 42].map(statusClass), [1, 2, 3, 4, 5, 0, 0, 0]);
  });

  test('a delta carries the requests by status class, latency, bytes and rate-limit rejections of an endpoint', () => {
    const c = new StatsCollector({ stream: 's1' });
    const ep = c.endpoint(EP);
    ep.request(200, 1500, 100, 2000);
    ep.request(503, 30_000, 50, 10);
    ep.request(0, 5, 0, 0);
    ep.rateLimit();
    const d = c.takeDelta();
    const e = d.endpoints[EP]!;
    assert.deepEqual(e.status, [1, 0, 1, 0, 0, 1]);
    assert.equal(e.bytesIn, 150);
    assert.equal(e.bytesOut, 2010);
    assert.equal(e.rateLimited, 1);
    const h = Histogram.fromJSON(e.latency);
    assert.equal(h.count, 3);
    assert.equal(h.max, 30_000);
  });

  test('a delta carries backend errors, timeouts and the circuit state last seen', () => {
    const c = new StatsCollector({ stream: 's1' });
    c.recordBackend(BE, 200, 900, 1000, 10);
    c.recordBackend(BE, 0, 2_000_000, 0, 10, BackendOutcome.Timeout);
    c.recordBackend(BE, 0, 100, 0, 10, BackendOutcome.Error);
    c.recordCircuit(BE, 'closed');
    c.recordCircuit(BE, 'open');
    const b = c.takeDelta().backends[BE]!;
    assert.deepEqual(b.status, [2, 0, 1, 0, 0, 0]);
    assert.equal(b.errors, 1);
    assert.equal(b.timeouts, 1);
    assert.equal(b.circuit, 'open');
    assert.equal(b.bytesIn, 1000);
    assert.equal(b.bytesOut, 30);
  });

  test('taking a delta resets the counters, so the next delta holds only what came after', () => {
    const c = new StatsCollector({ stream: 's1' });
    c.recordRequest(EP, 200, 10, 1, 1);
    const first = c.takeDelta();
    c.recordRequest(EP, 404, 10, 1, 1);
    const second = c.takeDelta();
    assert.deepEqual(first.endpoints[EP]!.status, [0, 0, 1, 0, 0, 0]);
    assert.deepEqual(second.endpoints[EP]!.status, [0, 0, 0, 0, 1, 0]);
    assert.equal(second.endpoints[EP]!.latency.n, 1);
  });

  test('idle endpoints are left out of a delta, but a backend with a circuit state is always reported', () => {
    const c = new StatsCollector({ stream: 's1' });
    c.recordRequest(EP, 200, 10, 1, 1);
    c.recordCircuit(BE, 'half-open');
    c.takeDelta();
    const d = c.takeDelta();
    assert.deepEqual(Object.keys(d.endpoints), []);
    assert.equal(d.backends[BE]!.circuit, 'half-open');
    assert.deepEqual(d.backends[BE]!.status, [0, 0, 0, 0, 0, 0]);
  });

  test('deltas are numbered from one within a stream', () => {
    const c = new StatsCollector({ stream: 'boot-7' });
    const seqs = [c.takeDelta(), c.takeDelta(), c.takeDelta()].map((d) => [d.stream, d.seq]);
    assert.deepEqual(seqs, [['boot-7', 1], ['boot-7', 2], ['boot-7', 3]]);
  });

  test('deltas stay pending until acked, and an ack frees every delta up to its sequence number', () => {
    const c = new StatsCollector({ stream: 's' });
    for (let i = 0; i < 4; i++) c.takeDelta();
    assert.deepEqual(c.pending().map((d) => d.seq), [1, 2, 3, 4]);
    c.ack(2);
    assert.deepEqual(c.pending().map((d) => d.seq), [3, 4]);
    c.ack(1);
    assert.deepEqual(c.pending().map((d) => d.seq), [3, 4], 'an old ack changes nothing');
    c.ack(4);
    assert.equal(c.pending().length, 0);
  });

  test('a resend is the very same delta, with the same sequence number and counts', () => {
    const c = new StatsCollector({ stream: 's' });
    c.recordRequest(EP, 200, 10, 1, 1);
    const sent = c.takeDelta();
    const resent = c.pending()[0]!;
    assert.equal(resent, sent);
    assert.equal(JSON.stringify(resent), JSON.stringify(sent));
  });

  test('while no manager answers, the oldest deltas beyond the cap are dropped and counted', () => {
    const c = new StatsCollector({ stream: 's', maxPending: 3 });
    for (let i = 0; i < 5; i++) c.takeDelta();
    assert.deepEqual(c.pending().map((d) => d.seq), [3, 4, 5]);
    assert.equal(c.dropped, 2);
    assert.equal(c.pending()[2]!.dropped, 2, 'the manager learns of the drops');
  });

  test('deltas survive a JSON round trip', () => {
    const c = new StatsCollector({ stream: 's' });
    c.recordRequest(EP, 200, 1234, 10, 20);
    c.recordBackend(BE, 200, 1000, 20, 10);
    const d = c.takeDelta();
    assert.deepEqual(JSON.parse(JSON.stringify(d)), d);
  });

  test('a well-formed delta passes the wire check and malformed ones fail it', () => {
    const c = new StatsCollector({ stream: 's' });
    c.recordRequest(EP, 200, 1234, 10, 20);
    c.recordBackend(BE, 0, 1000, 0, 10, BackendOutcome.Timeout);
    c.recordCircuit(BE, 'open');
    const good = JSON.parse(JSON.stringify(c.takeDelta())) as Record<string, unknown>;
    assert.equal(isStatsDelta(good), true);
    const ep = (good['endpoints'] as Record<string, Record<string, unknown>>)[EP]!;
    const be = (good['backends'] as Record<string, Record<string, unknown>>)[BE]!;
    const bad: unknown[] = [
      null,
      [],
      { ...good, stream: '' },
      { ...good, seq: 0 },
      { ...good, seq: 1.5 },
      { ...good, dropped: -1 },
      { ...good, endpoints: [] },
      { ...good, endpoints: { [EP]: { ...ep, status: [1, 2, 3] } } },
      { ...good, endpoints: { [EP]: { ...ep, bytesIn: Number.NaN } } },
      { ...good, endpoints: { [EP]: { ...ep, latency: { n: 5, s: 1, b: [] } } } },
      { ...good, backends: { [BE]: { ...be, circuit: 'ajar' } } },
      { ...good, backends: { [BE]: { ...be, timeouts: -2 } } },
    ];
    for (const b of bad) assert.equal(isStatsDelta(b), false, JSON.stringify(b));
  });
});
