/**
 * The web interface's API against a real manager with two real nodes: the overview, per-node and per-key
 * traffic, the event stream, the page and its assets; and bad input: ranges, unknown ids, paths outside the
 * allow-list.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startBackend, json } from '../../helpers/backend.js';
import type { TestBackend } from '../../helpers/backend.js';
import { startManager, startNode, waitFor } from '../../helpers/cluster.js';
import type { ManagerProc, NodeProc } from '../../helpers/cluster.js';

const JOIN_MS = 15_000;
// Nodes send stats every 300 ms here; the manager has them within a few intervals.
const STATS_MS = 10_000;

describe('the web interface API on a real manager with two nodes', () => {
  let backend: TestBackend;
  let manager: ManagerProc;
  let a: NodeProc;
  let b: NodeProc;
  let token: string;
  let idA: string;
  let idB: string;

  before(async () => {
    backend = await startBackend({ '/hello': json({ hello: 'world' }) });
    const krakendJson = JSON.stringify({
      version: 3,
      host: [backend.url],
      endpoints: [{ endpoint: '/hello', backend: [{ url_pattern: '/hello' }] }],
    });
    manager = await startManager({ args: ['--stats-interval', '300ms'] });
    const seed = `127.0.0.1:${manager.clusterPort}`;
    [a, b] = await Promise.all([startNode({ seed, krakendJson }), startNode({ seed, krakendJson })]);
    await waitFor('two alive nodes', async () => (await manager.nodes()).filter((n) => n['state'] === 'alive').length === 2, JOIN_MS);
    const idOf = (n: NodeProc) => waitFor('the node id', () => readFileSync(join(n.stateDir, 'node-id'), 'utf8').trim(), JOIN_MS);
    [idA, idB] = await Promise.all([idOf(a), idOf(b)]);
    token = readFileSync(join(manager.stateDir, 'api-token'), 'utf8').trim();
    for (let i = 0; i < 5; i++) assert.equal((await fetch(`${a.url}/hello`)).status, 200);
    for (let i = 0; i < 3; i++) assert.equal((await fetch(`${b.url}/hello`)).status, 200);
  });

  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await manager?.stop();
    await backend?.close();
  });

  const getJson = async (path: string, init?: RequestInit) => {
    const res = await manager.api(path, init);
    return { status: res.status, type: res.headers.get('content-type'), body: (await res.json()) as Record<string, any> };
  };

  test('the overview counts nodes by state and the cluster traffic over the range', async () => {
    const ov = await waitFor('all 8 requests in the overview', async () => {
      const r = await getJson('/api/v1/overview?range=300');
      return r.body['requests'] === 8 ? r : undefined;
    }, STATS_MS);
    assert.equal(ov.status, 200);
    const o = ov.body;
    assert.match(o['manager_id'], /^cm_/);
    assert.deepEqual(o['nodes'], { alive: 2, unreachable: 0, down: 0, removed: 0, refused: 0 });
    assert.equal(o['counted'], 2);
    assert.equal(o['max_nodes'], 2);
    assert.equal(o['range_s'], 300);
    assert.equal(o['error_rate'], 0);
    assert.ok(o['rps'] > 0 && o['rps'] <= 8, `rps ${o['rps']}`);
    assert.ok(o['p99_us'] > 0 && o['p99_us'] >= o['p50_us'], `p50 ${o['p50_us']} p99 ${o['p99_us']}`);
    assert.deepEqual(o['license'], { tier: 'free', status: 'none', licensee: null, not_after: null, days_left: null, expiry_warning: null });
    assert.equal(o['config'], null);
    // The default range is five minutes.
    assert.equal((await getJson('/api/v1/overview')).body['range_s'], 300);
  });

  test('per-node traffic counts each node’s own requests', async () => {
    const r = await waitFor('both nodes’ traffic', async () => {
      const res = await getJson('/api/v1/stats/nodes?range=600');
      return res.body['nodes'][idA]?.requests === 5 && res.body['nodes'][idB]?.requests === 3 ? res : undefined;
    }, STATS_MS);
    assert.equal(r.status, 200);
    const na = r.body['nodes'][idA];
    assert.equal(na.error_rate, 0);
    assert.deepEqual(na.status, [0, 0, 5, 0, 0, 0]);
    assert.ok(na.mean_us > 0);
    assert.equal(na.p99_us, null, 'per node there are counters only, no percentiles');
  });

  test('per-key traffic lists the endpoint and its backend with their totals', async () => {
    const r = await waitFor('the endpoint totals', async () => {
      const res = await getJson('/api/v1/stats/keys?range=600');
      return res.body['keys'].find((k: any) => k.key === 'GET /hello')?.requests === 8 ? res : undefined;
    }, STATS_MS);
    const keys = r.body['keys'] as Array<Record<string, any>>;
    assert.deepEqual(keys.map((k) => [k['key'], k['kind']]), [['GET /hello', 'endpoint'], ['GET /hello#0', 'backend']]);
    const backendRow = keys[1]!;
    assert.equal(backendRow['requests'], 8);
    assert.ok(backendRow['p99_us'] > 0);
    // The stats of one key, by the same names.
    const one = await getJson(`/api/v1/stats?range=600&backend=${encodeURIComponent('GET /hello#0')}`);
    assert.equal(one.status, 200);
    assert.equal(one.body['totals'].requests, 8);
  });

  test('the event stream pushes the overview', async () => {
    const ctrl = new AbortController();
    const res = await manager.api('/api/v1/events?range=60', { signal: ctrl.signal });
    try {
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
      const reader = res.body!.getReader();
      let text = '';
      for (let i = 0; i < 20 && !/event: overview\ndata: .*\n\n/.test(text); i++) {
        const { value, done } = await reader.read();
        if (done) break;
        text += Buffer.from(value).toString('utf8');
      }
      const data = /event: overview\ndata: (.*)\n\n/.exec(text);
      assert.ok(data, `no overview event in ${JSON.stringify(text)}`);
      const ov = JSON.parse(data[1]!);
      assert.equal(ov.range_s, 60);
      assert.equal(ov.nodes.alive, 2);
    } finally {
      ctrl.abort();
    }
  });

  test('the overview shows the config version once one is applied', async () => {
    const body = JSON.stringify({ version: 3, host: [backend.url], endpoints: [{ endpoint: '/hello', backend: [{ url_pattern: '/hello' }] }] });
    const applied = await manager.api('/api/v1/config?author=web-test', { method: 'POST', body, headers: { Authorization: `Bearer ${token}` } });
    assert.equal(applied.status, 200, await applied.text());
    const ov = (await getJson('/api/v1/overview')).body;
    assert.equal(ov['config'].version, 1);
    assert.match(ov['config'].hash, /^[0-9a-f]{64}$/);
  });

  test('the page and its assets are served with types and validators; uPlot comes from the installed package', async () => {
    const page = await manager.api('/');
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    const html = await page.text();
    assert.match(html, /<script type="module" src="\/ui\/app.js">/);
    assert.doesNotMatch(html, /https?:\/\//, 'no external resource');
    for (const [path, type] of [
      ['/ui/app.js', /^text\/javascript/],
      ['/ui/app.css', /^text\/css/],
      ['/ui/uPlot.iife.min.js', /^text\/javascript/],
      ['/ui/uPlot.min.css', /^text\/css/],
      ['/ui/favicon.svg', /^image\/svg\+xml/],
    ] as const) {
      const res = await manager.api(path);
      assert.equal(res.status, 200, path);
      assert.match(res.headers.get('content-type') ?? '', type, path);
      const etag = res.headers.get('etag');
      assert.ok(etag, path);
      await res.arrayBuffer();
      const again = await manager.api(path, { headers: { 'If-None-Match': etag } });
      assert.equal(again.status, 304, path);
    }
    const uplot = await (await manager.api('/ui/uPlot.iife.min.js')).text();
    assert.match(uplot, /uPlot/);
  });

  test('paths outside the allow-list are 404, whatever they are spelt like', async () => {
    for (const path of [
      '/ui/../package.json',
      '/ui/..%2F..%2F..%2Fpackage.json',
      '/ui/%2e%2e/%2e%2e/package.json',
      '/ui/app.js/../../../../etc/passwd',
      '/ui/..\\..\\package.json',
      '/ui/',
      '/ui/nope.js',
      '/ui/APP.JS',
      '/ui/uPlot.cjs.js',
      '/ui/api-token',
      '/index.html',
    ]) {
      const { status, body } = await rawGet(manager.webPort, path);
      assert.equal(status, 404, `${path}: ${status} ${body}`);
      assert.doesNotMatch(body, /"name"|root:/, path);
    }
  });

  test('stats queries with bad ranges get a 400 that says what is wrong', async () => {
    const cases: Array<[string, RegExp]> = [
      ['from=2000&to=1000', /from \(2000\) must be before to \(1000\)/],
      ['from=1000&to=1000', /must be before/],
      ['from=abc', /from must be a non-negative number, got "abc"/],
      ['to=', /to must be a non-negative number, got ""/],
      ['from=-5', /from must be a non-negative number/],
      ['to=Infinity', /to must be a non-negative number, got "Infinity"/],
      ['from=1e999', /from must be a non-negative number/],
      ['range=0', /range must be seconds in \(0, /],
      ['range=-60', /range must be a non-negative number/],
      ['range=abc', /range must be a non-negative number/],
      ['range=60&from=1', /either range .* or from\/to/],
    ];
    for (const [query, message] of cases) {
      const r = await getJson(`/api/v1/stats?${query}`);
      assert.equal(r.status, 400, query);
      assert.match(r.type ?? '', /application\/json/);
      assert.match(r.body['error'], message, query);
    }
    for (const path of ['/api/v1/overview?range=-1', '/api/v1/overview?from=1', '/api/v1/stats/nodes?from=9&to=1', '/api/v1/stats/keys?range=x', '/api/v1/events?range=0']) {
      const r = await getJson(path);
      assert.equal(r.status, 400, path);
      assert.equal(typeof r.body['error'], 'string', path);
    }
  });

  test('unknown nodes, endpoints and backends are a 404 that names them', async () => {
    const cases: Array<[string, RegExp]> = [
      ['node=krakend_nope', /no node krakend_nope/],
      [`endpoint=${encodeURIComponent('GET /nope')}`, /no stats for endpoint "GET \/nope"/],
      [`backend=${encodeURIComponent('GET /hello#7')}`, /no stats for backend "GET \/hello#7"/],
      [`node=${idA}&endpoint=${encodeURIComponent('GET /nope')}`, /no stats for endpoint/],
    ];
    for (const [query, message] of cases) {
      const r = await getJson(`/api/v1/stats?range=600&${query}`);
      assert.equal(r.status, 404, query);
      assert.match(r.body['error'], message, query);
    }
    const known = await getJson(`/api/v1/stats?range=600&node=${idA}`);
    assert.equal(known.status, 200);
    assert.equal(known.body['totals'].requests, 5);
    const node = await getJson('/api/v1/nodes/krakend_nope');
    assert.equal(node.status, 404);
    assert.match(node.body['error'], /no node krakend_nope/);
  });
});

/** A GET with the path sent exactly as given (fetch would normalise the dots away). */
function rawGet(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET' }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}
