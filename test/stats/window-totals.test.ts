/**
 * StatsWindow's one-pass totals for the web interface's tables: per node (coarse tier) and per endpoint and
 * backend key (fine tier), agreeing with per-series queries over the same range.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { StatsCollector, backendKey, endpointKey } from '../../src/stats/collector.js';
import type { StatsDelta } from '../../src/stats/collector.js';
import { StatsWindow } from '../../src/stats/window.js';

const EP = endpointKey('GET', '/a');
const EP2 = endpointKey('POST', '/b');
const T0 = 1_800_000_000_000; // aligned to the minute
const MIN = 60_000;
const HOUR = 60 * MIN;

function delta(stream: string, seq: number, counts: Record<string, { ok: number; bad?: number }>): StatsDelta {
  const c = new StatsCollector({ stream });
  for (const [key, { ok, bad = 0 }] of Object.entries(counts)) {
    const ep = c.endpoint(key);
    for (let i = 0; i < ok; i++) ep.request(200, 1000, 10, 100);
    for (let i = 0; i < bad; i++) ep.request(500, 3000, 10, 100);
    for (let i = 0; i < ok + bad; i++) c.backend(backendKey(key, 0)).call(200, 500, 100, 10);
  }
  return { ...c.takeDelta(), seq };
}

describe('StatsWindow totals', () => {
  test('nodeTotals sums each node over its endpoints within the range, and matches a per-node query', () => {
    const w = new StatsWindow();
    w.ingest('n1', delta('s1', 1, { [EP]: { ok: 10 }, [EP2]: { ok: 5, bad: 5 } }), T0 + 1000);
    w.ingest('n2', delta('s2', 1, { [EP]: { ok: 7 } }), T0 + 2000);
    w.ingest('n1', delta('s1', 2, { [EP]: { ok: 100 } }), T0 + 10 * MIN);
    const now = T0 + 10 * MIN + 5000;

    const recent = w.nodeTotals(T0 + 5 * MIN, now + 1, now);
    assert.deepEqual([...recent.keys()], ['n1'], 'n2 sent nothing in the last five minutes');
    assert.equal(recent.get('n1')!.requests, 100);

    const all = w.nodeTotals(T0, now + 1, now);
    assert.equal(all.get('n1')!.requests, 120);
    assert.equal(all.get('n1')!.errorRate, 5 / 120);
    assert.equal(all.get('n2')!.requests, 7);
    assert.equal(all.get('n2')!.p99Us, null, 'counters only per node');
    for (const node of ['n1', 'n2']) {
      assert.deepEqual(all.get(node), w.query({ from: T0, to: now + 1, node }, now).totals, node);
    }
  });

  test('keyTotals gives each endpoint and backend its totals with quantiles, and matches a per-key query', () => {
    const w = new StatsWindow();
    w.ingest('n1', delta('s1', 1, { [EP]: { ok: 10 }, [EP2]: { ok: 5, bad: 5 } }), T0 + 1000);
    w.ingest('n2', delta('s2', 1, { [EP]: { ok: 7 } }), T0 + 20_000);
    const now = T0 + 30_000;
    const totals = w.keyTotals(T0, now + 1, now);
    assert.deepEqual([...totals.keys()].sort(), [EP, backendKey(EP, 0), EP2, backendKey(EP2, 0)].sort());
    assert.equal(totals.get(EP)!.requests, 17);
    assert.equal(totals.get(EP2)!.errorRate, 0.5);
    assert.ok(totals.get(EP2)!.p99Us! > 2500, 'the slow errors set the p99');
    assert.equal(totals.get(backendKey(EP, 0))!.requests, 17);
    for (const key of [EP, EP2]) assert.deepEqual(totals.get(key), w.query({ from: T0, to: now + 1, endpoint: key }, now).totals, key);
    // A range with nothing in it (the slot after the last delta's) leaves every key out.
    assert.equal(w.keyTotals(T0 + 30_000, now + 10_000, now + 10_000).size, 0);
  });

  test('ranges are clamped to the window, and bad ranges throw', () => {
    const w = new StatsWindow();
    w.ingest('n1', delta('s1', 1, { [EP]: { ok: 3 } }), T0);
    const later = T0 + 2 * HOUR;
    w.ingest('n2', delta('s2', 1, { [EP]: { ok: 4 } }), later);
    assert.deepEqual([...w.nodeTotals(0, later + 1, later).keys()], ['n2'], 'n1 aged out of the window');
    assert.equal(w.keyTotals(0, later + 1, later).get(EP)!.requests, 4);
    for (const [from, to] of [[5, 5], [6, 5], [Number.NaN, 5], [0, Infinity]] as const) {
      assert.throws(() => w.nodeTotals(from, to, later), RangeError);
      assert.throws(() => w.keyTotals(from, to, later), RangeError);
    }
  });
});
