/**
 * The window's storage: series share a few typed arrays per node (RingStore), and a receiver's ordered entries
 * (StatsDelta.ordered, from the packed form) are resolved to series by position, cached per key list. Both must
 * count exactly what the by-name path counts, and a series freed by expiry must leave nothing to its successor.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { statsBody, statsDeltaOf } from '../../src/cluster/control/stats-body.js';
import { StatsCollector, backendKey, endpointKey } from '../../src/stats/collector.js';
import type { StatsDelta } from '../../src/stats/collector.js';
import { KeyTable } from '../../src/stats/packed.js';
import { StatsWindow } from '../../src/stats/window.js';

const HOUR = 3_600_000;
const T0 = 1_800_000_000_000;
const KEYS = ['GET /a', 'POST /b', 'GET /c'].map((k) => endpointKey(k.split(' ')[0]!, k.split(' ')[1]!));

/** A node's delta over KEYS with counts that depend on (node, seq), and a breaker state on one backend. */
function delta(node: number, seq: number): StatsDelta {
  const c = new StatsCollector({ stream: `s${node}` });
  KEYS.forEach((k, i) => {
    const ep = c.endpoint(k);
    for (let r = 0; r < ((node + seq + i) % 4) + 1; r++) ep.request(r % 3 === 0 ? 503 : 200, 500 * (i + 1) + 37 * r, 10, 100);
    const be = c.backend(backendKey(k, 0));
    be.call(200, 200 * (i + 1), 100, 10);
    if (i === 1) be.circuitState(seq % 2 === 0 ? 'open' : 'closed');
  });
  return { ...c.takeDelta(), seq };
}

describe('StatsWindow storage', () => {
  test('ordered entries (the packed form, objects reused between deltas) count as the same deltas by name', () => {
    const byName = new StatsWindow();
    const ordered = new StatsWindow();
    const table = new KeyTable();
    for (let seq = 1; seq <= 30; seq++) {
      for (let node = 0; node < 5; node++) {
        const d = delta(node, seq);
        const now = T0 + seq * 5_000 + node * 100;
        byName.ingest(`n${node}`, d, now);
        const received = statsDeltaOf(statsBody(d, 3), table)!;
        assert.ok(received.ordered, 'the packed form comes with its order');
        ordered.ingest(`n${node}`, received, now);
      }
    }
    const now = T0 + 31 * 5_000;
    const range = { from: T0, to: now };
    assert.deepEqual(ordered.query(range, now), byName.query(range, now));
    for (const k of [...KEYS, backendKey(KEYS[1]!, 0)]) {
      const q = k.includes('#') ? { ...range, backend: k } : { ...range, endpoint: k };
      assert.deepEqual(ordered.query(q, now), byName.query(q, now), k);
    }
    assert.deepEqual(ordered.query({ ...range, node: 'n3' }, now), byName.query({ ...range, node: 'n3' }, now));
    assert.deepEqual(ordered.keyTotals(T0, now, now), byName.keyTotals(T0, now, now));
    assert.deepEqual(ordered.nodeTotals(T0, now, now), byName.nodeTotals(T0, now, now));
    assert.deepEqual(ordered.circuitStates('n2'), byName.circuitStates('n2'));
    // And what both should hold, counted here: each endpoint's requests, and one backend call per endpoint.
    let expected = 0;
    for (let seq = 1; seq <= 30; seq++) for (let node = 0; node < 5; node++) expected += ((node + seq + 1) % 4) + 1;
    assert.equal(ordered.query({ ...range, endpoint: KEYS[1]! }, now).totals.requests, expected);
    assert.equal(ordered.query({ ...range, backend: backendKey(KEYS[1]!, 0) }, now).totals.requests, 150);
    assert.equal(ordered.query({ ...range, backend: backendKey(KEYS[2]!, 0) }, now).totals.meanUs, 600);
    assert.deepEqual(ordered.circuitStates('n2')[backendKey(KEYS[1]!, 0)]?.state, 'open', 'seq 30: open');
  });

  test('a series freed by expiry leaves nothing to the series that takes its room', () => {
    const w = new StatsWindow();
    const c = new StatsCollector({ stream: 's' });
    for (let i = 0; i < 7; i++) c.endpoint('GET /old').request(200, 1000, 1, 1);
    w.ingest('n1', { ...c.takeDelta(), seq: 1 }, T0);
    // Another endpoint keeps the node alive past the window: /old expires and its room is reused by /new.
    for (let t = 1; t <= 62; t++) {
      c.endpoint('GET /keep').request(200, 1000, 1, 1);
      w.ingest('n1', { ...c.takeDelta(), seq: 1 + t }, T0 + t * 60_000);
    }
    const later = T0 + 62 * 60_000;
    assert.equal(w.nodeEndpointTotals('n1', later - HOUR, later, later).has('GET /old'), false, '/old aged out');
    c.endpoint('GET /new').request(200, 1000, 1, 1);
    w.ingest('n1', { ...c.takeDelta(), seq: 100 }, later + 1_000);
    const totals = w.nodeEndpointTotals('n1', later - HOUR, later + 2_000, later + 2_000);
    assert.equal(totals.get('GET /new')?.requests, 1, 'only its own request: none of /old’s seven');
    const all = w.query({ from: later - HOUR, to: later + 2_000, node: 'n1', endpoint: 'GET /new' }, later + 2_000);
    assert.equal(all.totals.requests, 1);
  });

  test('a node with many endpoints grows its store without losing what it holds', () => {
    const w = new StatsWindow();
    for (let n = 1; n <= 40; n++) {
      const c = new StatsCollector({ stream: 's' });
      for (let i = 0; i < n; i++) c.endpoint(`GET /e${i}`).request(200, 1000, 1, 1);
      w.ingest('n1', { ...c.takeDelta(), seq: n }, T0 + n * 1000);
    }
    const totals = w.nodeEndpointTotals('n1', T0, T0 + 60_000, T0 + 59_000);
    assert.equal(totals.size, 40);
    for (let i = 0; i < 40; i++) assert.equal(totals.get(`GET /e${i}`)?.requests, 40 - i, `GET /e${i}`);
  });
});
