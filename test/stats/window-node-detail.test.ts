/**
 * StatsWindow's answers for a node's detail view and the circuit summary: one node's endpoints with totals (coarse
 * tier, agreeing with per-endpoint node queries), and per backend the nodes whose last circuit report is recent.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { StatsCollector, backendKey, endpointKey } from '../../src/stats/collector.js';
import type { CircuitState, StatsDelta } from '../../src/stats/collector.js';
import { StatsWindow } from '../../src/stats/window.js';

const EP = endpointKey('GET', '/a');
const EP2 = endpointKey('POST', '/b');
const BE = backendKey(EP, 0);
const T0 = 1_800_000_000_000; // aligned to the minute
const MIN = 60_000;

function delta(stream: string, seq: number, counts: Record<string, { ok: number; bad?: number }>, circuit?: CircuitState): StatsDelta {
  const c = new StatsCollector({ stream });
  for (const [key, { ok, bad = 0 }] of Object.entries(counts)) {
    const ep = c.endpoint(key);
    for (let i = 0; i < ok; i++) ep.request(200, 1000, 10, 100);
    for (let i = 0; i < bad; i++) ep.request(500, 3000, 10, 100);
  }
  if (circuit) c.recordCircuit(BE, circuit);
  return { ...c.takeDelta(), seq };
}

describe('StatsWindow node detail', () => {
  test('nodeEndpointTotals lists one node’s endpoints over the range, matching per-endpoint node queries', () => {
    const w = new StatsWindow();
    w.ingest('n1', delta('s1', 1, { [EP]: { ok: 10 }, [EP2]: { ok: 5, bad: 5 } }), T0 + 1000);
    w.ingest('n2', delta('s2', 1, { [EP]: { ok: 7 } }), T0 + 2000);
    w.ingest('n1', delta('s1', 2, { [EP]: { ok: 100 } }), T0 + 10 * MIN);
    const now = T0 + 10 * MIN + 5000;

    const all = w.nodeEndpointTotals('n1', T0, now + 1, now);
    assert.deepEqual([...all.keys()].sort(), [EP, EP2]);
    assert.equal(all.get(EP)!.requests, 110);
    assert.equal(all.get(EP2)!.requests, 10);
    assert.equal(all.get(EP2)!.errorRate, 0.5);
    assert.equal(all.get(EP2)!.meanUs, 2000);
    assert.equal(all.get(EP2)!.p99Us, null, 'no percentiles at the per-node resolution');
    for (const key of [EP, EP2]) {
      assert.deepEqual(all.get(key), w.query({ from: T0, to: now + 1, node: 'n1', endpoint: key }, now).totals, key);
    }

    const recent = w.nodeEndpointTotals('n1', T0 + 5 * MIN, now + 1, now);
    assert.deepEqual([...recent.keys()], [EP], 'POST /b had nothing in the last five minutes');
    assert.equal(recent.get(EP)!.requests, 100);
    assert.equal(w.nodeEndpointTotals('nope', T0, now + 1, now).size, 0);
    assert.throws(() => w.nodeEndpointTotals('n1', now, now, now), RangeError);
  });

  test('circuitCounts counts each backend’s last state per node, only reports since the given time', () => {
    const w = new StatsWindow();
    w.ingest('n1', delta('s1', 1, { [EP]: { ok: 1 } }, 'closed'), T0);
    w.ingest('n2', delta('s2', 1, { [EP]: { ok: 1 } }, 'closed'), T0);
    w.ingest('n3', delta('s3', 1, { [EP]: { ok: 1 } }, 'open'), T0);
    w.ingest('n4', delta('s4', 1, { [EP]: { ok: 1 } }), T0);
    // Later reports replace earlier ones: n1 opens, then half-opens; n2 goes quiet.
    w.ingest('n1', delta('s1', 2, {}, 'open'), T0 + 4 * MIN);
    w.ingest('n1', delta('s1', 3, {}, 'half-open'), T0 + 6 * MIN);
    w.ingest('n3', delta('s3', 2, {}, 'open'), T0 + 6 * MIN);

    assert.deepEqual(Object.fromEntries(w.circuitCounts(0)), { [BE]: { closed: 1, open: 1, 'half-open': 1 } }, 'n4 reports no breaker');
    assert.deepEqual(Object.fromEntries(w.circuitCounts(T0 + 5 * MIN)), { [BE]: { closed: 0, open: 1, 'half-open': 1 } }, 'n2’s report is too old');
    assert.equal(w.circuitCounts(T0 + 7 * MIN).size, 0);
    assert.equal(w.circuitStates('n1')[BE]!.state, 'half-open');
  });
});
