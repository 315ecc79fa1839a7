import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { StatsCollector, backendKey, endpointKey } from '../../src/stats/collector.js';
import type { StatsDelta } from '../../src/stats/collector.js';
import { QUANTILE_RELATIVE_ERROR } from '../../src/stats/histogram.js';
import { StatsWindow } from '../../src/stats/window.js';

const EP = endpointKey('GET', '/a');
const EP2 = endpointKey('POST', '/b');
const BE = backendKey(EP, 0);
const HOUR = 3_600_000;
const T0 = 1_800_000_000_000; // a wall time, aligned to the minute

/** A delta from a fresh collector: `ok` 200s and `bad` 503s of the given latency on EP, one backend call each. */
function delta(stream: string, seq: number, ok: number, bad = 0, latencyUs = 1000, endpoint = EP): StatsDelta {
  const c = new StatsCollector({ stream });
  const ep = c.endpoint(endpoint);
  for (let i = 0; i < ok; i++) ep.request(200, latencyUs, 10, 100);
  for (let i = 0; i < bad; i++) ep.request(503, latencyUs, 10, 100);
  for (let i = 0; i < ok + bad; i++) c.backend(backendKey(endpoint, 0)).call(200, latencyUs / 2, 100, 10);
  const d = c.takeDelta();
  return { ...d, seq };
}

describe('StatsWindow', () => {
  test('sums the deltas of several nodes cluster-wide and per node', () => {
    const w = new StatsWindow();
    w.ingest('n1', delta('s1', 1, 30), T0 + 1000);
    w.ingest('n2', delta('s2', 1, 10, 10), T0 + 2000);
    const all = w.query({ from: T0, to: T0 + 10_000 }, T0 + 5000);
    assert.equal(all.totals.requests, 50);
    assert.equal(all.totals.errorRate, 10 / 50);
    assert.equal(all.totals.bytesOut, 5000);
    const n2 = w.query({ from: T0, to: T0 + 60_000, node: 'n2' }, T0 + 5000);
    assert.equal(n2.totals.requests, 20);
    assert.equal(n2.resolutionMs, 60_000);
    assert.equal(n2.totals.p99Us, null, 'no percentiles per node');
    assert.equal(n2.totals.meanUs, 1000);
    const be = w.query({ from: T0, to: T0 + 10_000, backend: BE }, T0 + 5000);
    assert.equal(be.totals.requests, 50);
    assert.equal(be.totals.bytesIn, 5000);
  });

  test('a delta received twice is counted once', () => {
    const w = new StatsWindow();
    const d = delta('s1', 1, 5);
    assert.equal(w.ingest('n1', d, T0), 'accepted');
    assert.equal(w.ingest('n1', d, T0 + 20_000), 'duplicate');
    assert.equal(w.ingest('n1', JSON.parse(JSON.stringify(d)) as StatsDelta, T0 + 30_000), 'duplicate');
    assert.equal(w.query({ from: T0, to: T0 + 60_000 }, T0 + 59_000).totals.requests, 5);
  });

  test('the same sequence number from another node or another stream of the node is a different delta', () => {
    const w = new StatsWindow();
    assert.equal(w.ingest('n1', delta('s1', 1, 1), T0), 'accepted');
    assert.equal(w.ingest('n2', delta('s1', 1, 1), T0), 'accepted');
    assert.equal(w.ingest('n1', delta('restarted', 1, 1), T0), 'accepted');
    assert.equal(w.query({ from: T0, to: T0 + 10_000 }, T0).totals.requests, 3);
  });

  test('deltas arriving out of order or after a gap are still deduplicated', () => {
    const w = new StatsWindow({ dedupSpan: 8 });
    for (const seq of [1, 3, 2, 10, 11]) assert.equal(w.ingest('n', delta('s', seq, 1), T0), 'accepted');
    for (const seq of [1, 2, 3, 10, 11]) assert.equal(w.ingest('n', delta('s', seq, 1), T0), 'duplicate');
    for (let seq = 12; seq < 40; seq++) w.ingest('n', delta('s', seq, 1), T0);
    assert.equal(w.ingest('n', delta('s', 5, 1), T0), 'duplicate', 'far behind the span counts as seen');
  });

  test('buckets deltas by the manager receive time at ten-second resolution, with zero points where nothing came', () => {
    const w = new StatsWindow();
    w.ingest('n1', delta('s', 1, 100), T0 + 1000);
    w.ingest('n1', delta('s', 2, 50), T0 + 25_000);
    const r = w.query({ from: T0, to: T0 + 30_000 }, T0 + 29_000);
    assert.deepEqual(
      r.series.map((p) => [p.t - T0, p.requests, p.rps]),
      [
        [0, 100, 10],
        [10_000, 0, 0],
        [20_000, 50, 5],
      ],
    );
    assert.equal(r.totals.rps, 150 / 30);
  });

  test('percentiles come from the merged histograms, within the histogram error', () => {
    const w = new StatsWindow();
    w.ingest('n1', delta('s', 1, 90, 0, 1000), T0);
    w.ingest('n2', delta('s', 1, 10, 0, 200_000), T0 + 1);
    const t = w.query({ from: T0, to: T0 + 10_000 }, T0 + 1).totals;
    assert.ok(Math.abs(t.p50Us! - 1000) / 1000 <= QUANTILE_RELATIVE_ERROR);
    assert.ok(Math.abs(t.p95Us! - 200_000) / 200_000 <= QUANTILE_RELATIVE_ERROR);
    assert.ok(Math.abs(t.p99Us! - 200_000) / 200_000 <= QUANTILE_RELATIVE_ERROR);
  });

  test('one endpoint can be queried alone, cluster-wide or for one node', () => {
    const w = new StatsWindow();
    w.ingest('n1', delta('s', 1, 7, 0, 1000, EP), T0);
    w.ingest('n1', delta('s', 2, 3, 0, 1000, EP2), T0);
    w.ingest('n2', delta('s', 1, 4, 0, 1000, EP2), T0);
    assert.equal(w.query({ from: T0, to: T0 + 1 }, T0).totals.requests, 14);
    assert.equal(w.query({ from: T0, to: T0 + 1, endpoint: EP2 }, T0).totals.requests, 7);
    assert.equal(w.query({ from: T0, to: T0 + 1, endpoint: EP2, node: 'n1' }, T0).totals.requests, 3);
    assert.equal(w.query({ from: T0, to: T0 + 1, endpoint: '/nope' }, T0).totals.requests, 0);
    assert.deepEqual(w.keys(), [EP, BE, EP2, backendKey(EP2, 0)].sort());
  });

  test('a node that stops reporting keeps its stats until they age out of the window', () => {
    const w = new StatsWindow();
    w.ingest('gone', delta('s', 1, 5), T0);
    w.ingest('alive', delta('s', 1, 1), T0);
    for (let t = T0 + 60_000; t <= T0 + HOUR - 60_000; t += 60_000) w.ingest('alive', delta('s', t, 1), t);
    const late = T0 + HOUR - 30_000;
    assert.equal(w.query({ from: T0, to: late, node: 'gone' }, late).totals.requests, 5);
    assert.ok(w.nodes().includes('gone'));
    const after = T0 + HOUR + 60_000;
    w.ingest('alive', delta('s', after, 1), after);
    assert.equal(w.query({ from: T0, to: after, node: 'gone' }, after).totals.requests, 0);
    assert.deepEqual(w.nodes(), ['alive']);
  });

  test('queries are clamped to the window', () => {
    const w = new StatsWindow({ windowMs: 60_000, fineMs: 10_000, coarseMs: 30_000 });
    w.ingest('n', delta('s', 1, 5), T0);
    w.ingest('n', delta('s', 2, 7), T0 + 70_000);
    const r = w.query({ from: T0 - HOUR, to: T0 + HOUR }, T0 + 70_000);
    assert.equal(r.totals.requests, 7, 'the first delta is older than the window');
    assert.equal(r.series.length, 7, 'six whole slots and the current one');
    assert.equal(r.from, T0 + 10_000);
  });

  test('bad ranges and backends per node are refused with a RangeError', () => {
    const w = new StatsWindow();
    assert.throws(() => w.query({ from: 10, to: 10 }, 0), RangeError);
    assert.throws(() => w.query({ from: Number.NaN, to: 10 }, 0), RangeError);
    assert.throws(() => w.query({ from: 0, to: 10, node: 'n', backend: BE }, 0), RangeError);
    assert.throws(() => new StatsWindow({ fineMs: 0 }), RangeError);
  });

  test('keeps the circuit state last seen per node and backend, and the deltas a node dropped', () => {
    const w = new StatsWindow();
    const c = new StatsCollector({ stream: 's', maxPending: 1 });
    c.recordCircuit(BE, 'open');
    c.takeDelta();
    const d = c.takeDelta();
    w.ingest('n', d, T0);
    assert.deepEqual(w.circuitStates('n'), { [BE]: { state: 'open', at: T0 } });
    assert.equal(w.droppedDeltas('n'), 1);
  });

  test('200 nodes × 100 endpoints over more than an hour stay within the documented slot bound', () => {
    const nodes = 200;
    const endpoints = Array.from({ length: 100 }, (_, i) => endpointKey('GET', `/e${i}`));
    const w = new StatsWindow();
    // One delta per node per minute, staggered so that every 10 s slot gets traffic; 10 extra minutes.
    const template = new StatsCollector({ stream: 't' });
    for (const e of endpoints) {
      template.endpoint(e).request(200, 1500, 10, 100);
      template.backend(backendKey(e, 0)).call(200, 700, 100, 10);
    }
    const base = template.takeDelta();
    let seq = 0;
    for (let minute = 0; minute < 70; minute++) {
      seq++;
      for (let n = 0; n < nodes; n++) {
        w.ingest(`node-${n}`, { ...base, stream: `s${n}`, seq }, T0 + minute * 60_000 + (n % 6) * 10_000);
      }
    }
    const size = w.size();
    // Bound: (E + B + 1) × (3600/10 + 1) fine slots; N × E × (60 + 1) coarse slots.
    assert.equal(size.fineSeries, 201);
    assert.ok(size.fineSlots <= 201 * 361, `${size.fineSlots}`);
    assert.ok(size.histograms <= 201 * 361);
    assert.ok(size.coarseSlots <= 200 * 100 * 61, `${size.coarseSlots}`);
    assert.equal(size.nodes, 200);
    // Documented: 72,561 fine slots with histograms (~126 MB) and 1.22 M Float32 coarse slots (~73 MB): ≈ 208 MB
    // of typed arrays for this shape (measured RSS ≈ 330 MB).
    assert.ok(size.approxBytes < 256 * 2 ** 20, `${size.approxBytes}`);
    const now = T0 + 70 * 60_000;
    const r = w.query({ from: now - HOUR, to: now }, now);
    assert.equal(r.series.length, 360);
    assert.equal(r.totals.requests, 200 * 100 * 60, 'one hour of deltas, each node once a minute');
    // Everything ages out an hour after the last delta.
    w.expire(now + HOUR + 60_000);
    assert.deepEqual(w.size(), {
      fineSeries: 0,
      fineSlots: 0,
      histograms: 0,
      coarseSeries: 0,
      coarseSlots: 0,
      nodes: 0,
      approxBytes: 0,
    });
  });
});
