/**
 * A node in detail and circuit-breaker states, against a real manager with two real nodes: a backend behind a
 * circuit breaker (max_errors 1) fails through node a until its circuit opens, while node b's stays closed. The
 * node view lists each node's circuits, the keys summary counts them over the nodes, a node's endpoints come in
 * one call; and unknown ids are 404s. A node stopped with SIGTERM keeps its detail while the window holds it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startBackend, json } from '../../helpers/backend.js';
import type { TestBackend } from '../../helpers/backend.js';
import { startManager, startNode, waitFor } from '../../helpers/cluster.js';
import type { ManagerProc, NodeProc } from '../../helpers/cluster.js';

const JOIN_MS = 15_000;
// Nodes send stats every 300 ms here; the manager has them within a few intervals.
const STATS_MS = 10_000;
const BREAKER = 'GET /breaker#0';

/** /hello answers; /breaker's backend path is not routed (404), so every call is a failure for its breaker. */
function breakerKrakendJson(backendUrl: string): string {
  return JSON.stringify({
    version: 3,
    host: [backendUrl],
    endpoints: [
      { endpoint: '/hello', backend: [{ url_pattern: '/hello' }] },
      {
        endpoint: '/breaker',
        backend: [{ url_pattern: '/fail', extra_config: { 'qos/circuit-breaker': { interval: 60, timeout: 60, max_errors: 1 } } }],
      },
    ],
  });
}

describe('node detail and circuit-breaker states on a real manager with two nodes', () => {
  let backend: TestBackend;
  let manager: ManagerProc;
  let a: NodeProc;
  let b: NodeProc;
  let idA: string;
  let idB: string;

  before(async () => {
    backend = await startBackend({ '/hello': json({ hello: 'world' }) });
    const krakendJson = breakerKrakendJson(backend.url);
    manager = await startManager({ args: ['--stats-interval', '300ms'] });
    const seed = `127.0.0.1:${manager.clusterPort}`;
    [a, b] = await Promise.all([startNode({ seed, krakendJson }), startNode({ seed, krakendJson })]);
    await waitFor('two alive nodes', async () => (await manager.nodes()).filter((n) => n['state'] === 'alive').length === 2, JOIN_MS);
    const idOf = (n: NodeProc) => waitFor('the node id', () => readFileSync(join(n.stateDir, 'node-id'), 'utf8').trim(), JOIN_MS);
    [idA, idB] = await Promise.all([idOf(a), idOf(b)]);
    for (let i = 0; i < 5; i++) assert.equal((await fetch(`${a.url}/hello`)).status, 200);
    // max_errors 1: the second consecutive failure opens a's circuit; the later calls fail fast.
    for (let i = 0; i < 4; i++) assert.ok((await fetch(`${a.url}/breaker`)).status >= 500);
    for (let i = 0; i < 3; i++) assert.equal((await fetch(`${b.url}/hello`)).status, 200);
  });

  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await manager?.stop();
    await backend?.close();
  });

  const getJson = async (path: string) => {
    const res = await manager.api(path);
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  };

  test('the node view lists each node’s circuit per backend; the nodes list flags open ones', async () => {
    const nodeA = await waitFor('a’s circuit open', async () => {
      const r = await getJson(`/api/v1/nodes/${idA}`);
      return r.body['circuits']?.[BREAKER]?.state === 'open' ? r.body : undefined;
    }, STATS_MS);
    assert.deepEqual(Object.keys(nodeA['circuits']), [BREAKER], 'only the backend with a breaker has a circuit');
    const at = Date.parse(nodeA['circuits'][BREAKER].at);
    assert.ok(Math.abs(Date.now() - at) < 60_000, `reported at ${nodeA['circuits'][BREAKER].at}`);
    assert.deepEqual(nodeA['open_circuits'], [BREAKER]);
    // The rest of the detail is there too.
    assert.equal(nodeA['id'], idA);
    assert.equal(nodeA['state'], 'alive');
    assert.equal(nodeA['control_connected'], true);
    assert.ok(Array.isArray(nodeA['limits']));

    const nodeB = await waitFor('b’s circuit reported', async () => {
      const r = await getJson(`/api/v1/nodes/${idB}`);
      return r.body['circuits']?.[BREAKER] ? r.body : undefined;
    }, STATS_MS);
    assert.equal(nodeB['circuits'][BREAKER].state, 'closed', 'no call through b: its breaker stays closed');
    assert.deepEqual(nodeB['open_circuits'], []);

    const list = (await getJson('/api/v1/nodes')).body['nodes'] as Array<Record<string, any>>;
    assert.deepEqual(list.find((n) => n['id'] === idA)?.['open_circuits'], [BREAKER]);
    assert.deepEqual(list.find((n) => n['id'] === idB)?.['open_circuits'], []);
    // The list stays light: full circuits only in the one-node view.
    assert.equal(list[0]?.['circuits'], undefined);
  });

  test('the keys summary counts a backend’s circuit states over the nodes that reported in the range', async () => {
    const keys = await waitFor('the breaker open on 1 of 2 nodes', async () => {
      const r = await getJson('/api/v1/stats/keys?range=300');
      const k = (r.body['keys'] as Array<Record<string, any>>).find((x) => x['key'] === BREAKER);
      return k?.['circuit']?.open === 1 && k['circuit'].nodes === 2 ? (r.body['keys'] as Array<Record<string, any>>) : undefined;
    }, STATS_MS);
    const breaker = keys.find((k) => k['key'] === BREAKER)!;
    assert.deepEqual(breaker['circuit'], { closed: 1, open: 1, half_open: 0, nodes: 2 });
    assert.equal(breaker['kind'], 'backend');
    assert.equal(keys.find((k) => k['key'] === 'GET /hello#0')?.['circuit'], null, 'a backend without a breaker has no circuit');
    assert.equal('circuit' in keys.find((k) => k['key'] === 'GET /hello')!, false, 'endpoints carry no circuit');
  });

  test('a node’s endpoints with their totals come in one call', async () => {
    const r = await waitFor('a’s endpoints', async () => {
      const res = await getJson(`/api/v1/stats/nodes/${idA}/endpoints?range=300`);
      const eps = res.body['endpoints'] as Array<Record<string, any>> | undefined;
      return eps?.find((e) => e['key'] === 'GET /hello')?.['requests'] === 5 && eps.find((e) => e['key'] === 'GET /breaker')?.['requests'] === 4 ? res : undefined;
    }, STATS_MS);
    assert.equal(r.status, 200);
    assert.equal(r.body['node'], idA);
    assert.ok(r.body['to'] > r.body['from']);
    const eps = r.body['endpoints'] as Array<Record<string, any>>;
    assert.deepEqual(eps.map((e) => e['key']), ['GET /breaker', 'GET /hello'], 'sorted by key');
    const hello = eps.find((e) => e['key'] === 'GET /hello')!;
    assert.equal(hello['error_rate'], 0);
    assert.ok(hello['mean_us'] > 0);
    assert.equal(hello['p99_us'], null, 'no percentiles per node');
    assert.equal(eps.find((e) => e['key'] === 'GET /breaker')!['error_rate'], 1);

    const forB = await waitFor('b’s endpoints', async () => {
      const res = await getJson(`/api/v1/stats/nodes/${idB}/endpoints?range=300`);
      return res.body['endpoints']?.[0]?.['requests'] === 3 ? res.body : undefined;
    }, STATS_MS);
    assert.deepEqual(forB['endpoints'].map((e: Record<string, unknown>) => e['key']), ['GET /hello']);

    // The per-node series behind the detail chart: coarse, mean latency only.
    const series = (await getJson(`/api/v1/stats?node=${idA}&range=300`)).body;
    assert.equal(series['resolutionMs'], 60_000);
    assert.equal(series['totals'].requests, 9);
    assert.equal(series['totals'].p99Us, null);
  });

  test('unknown ids are 404s that say so; bad ranges are 400s', async () => {
    for (const path of ['/api/v1/nodes/krakend_nope', '/api/v1/stats/nodes/krakend_nope/endpoints', '/api/v1/stats?node=krakend_nope']) {
      const r = await getJson(path);
      assert.equal(r.status, 404, path);
      assert.match(r.body['error'], /no node krakend_nope/, path);
    }
    for (const q of ['range=-5', 'range=abc', 'from=10&to=5', 'range=60&from=1']) {
      const r = await getJson(`/api/v1/stats/nodes/${idA}/endpoints?${q}`);
      assert.equal(r.status, 400, q);
      assert.equal(typeof r.body['error'], 'string');
    }
  });

  test('a node stopped with SIGTERM is removed and keeps its detail, endpoints and circuits', async () => {
    assert.equal(await a.stop('SIGTERM'), 0);
    const gone = await waitFor('a removed', async () => {
      const r = await getJson(`/api/v1/nodes/${idA}`);
      return r.body['state'] === 'removed' ? r.body : undefined;
    }, STATS_MS);
    assert.equal(gone['control_connected'], false);
    assert.equal(gone['circuits'][BREAKER].state, 'open', 'the last reported state stays');
    const eps = (await getJson(`/api/v1/stats/nodes/${idA}/endpoints?range=300`)).body['endpoints'] as Array<Record<string, any>>;
    assert.equal(eps.find((e) => e['key'] === 'GET /hello')?.['requests'], 5);
  });
});
