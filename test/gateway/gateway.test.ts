import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { get } from 'node:http';
import { startBackend, json, delayed, renderTemplate } from '../helpers/backend.js';
import type { TestBackend } from '../helpers/backend.js';
import { startGateway, loadConfig } from '../helpers/gateway.js';
import type { RunningGateway } from '../helpers/gateway.js';

const TEMPLATE = `{
  "version": 3,
  "timeout": "1s",
  "echo_endpoint": true,
  "debug_endpoint": true,
  "host": ["{{a}}"],
  "extra_config": { "krakend-cluster/gateway": { "max_backend_body_size": 4096, "max_request_body_size": 1024 } },
  "endpoints": [
    { "endpoint": "/users/{id}", "input_query_strings": ["lang"],
      "backend": [ { "url_pattern": "/users/{id}", "allow": ["id", "name", "address.city", "big", "html"] } ] },
    { "endpoint": "/merged/{id}", "cache_ttl": "30s",
      "backend": [
        { "url_pattern": "/users/{id}", "group": "user", "deny": ["email"] },
        { "host": ["{{b}}"], "url_pattern": "/posts", "is_collection": true, "mapping": { "collection": "posts" } },
        { "host": ["{{b}}"], "url_pattern": "/wrapped", "target": "data" }
      ] },
    { "endpoint": "/partial", "timeout": "300ms",
      "backend": [ { "url_pattern": "/users/1" }, { "host": ["{{b}}"], "url_pattern": "/slow", "group": "slow" } ] },
    { "endpoint": "/cached", "cache_ttl": "1m", "backend": [ { "url_pattern": "/users/1" } ] },
    { "endpoint": "/fails", "backend": [ { "url_pattern": "/fail" } ] },
    { "endpoint": "/missing", "backend": [ { "url_pattern": "/nothing-here" } ] },
    { "endpoint": "/all-fail", "backend": [ { "url_pattern": "/fail" }, { "url_pattern": "/fail" } ] },
    { "endpoint": "/hangs", "timeout": "200ms", "backend": [ { "url_pattern": "/hang" } ] },
    { "endpoint": "/not-json", "backend": [ { "url_pattern": "/text" } ] },
    { "endpoint": "/too-big", "backend": [ { "url_pattern": "/big" } ] },
    { "endpoint": "/reset", "backend": [ { "url_pattern": "/reset" } ] },
    { "endpoint": "/text", "output_encoding": "string", "backend": [ { "url_pattern": "/text", "encoding": "string" } ] },
    { "endpoint": "/safe", "backend": [ { "url_pattern": "/scalar", "encoding": "safejson" } ] },
    { "endpoint": "/list", "output_encoding": "json-collection", "backend": [ { "host": ["{{b}}"], "url_pattern": "/posts", "is_collection": true } ] },
    { "endpoint": "/raw", "output_encoding": "no-op", "backend": [ { "url_pattern": "/teapot", "encoding": "no-op" } ] },
    { "endpoint": "/headers", "input_headers": ["User-Agent", "X-Custom"], "backend": [ { "url_pattern": "/echo-headers" } ] },
    { "endpoint": "/default-headers", "backend": [ { "url_pattern": "/echo-headers" } ] },
    { "endpoint": "/submit", "method": "POST", "backend": [ { "url_pattern": "/echo-body", "method": "PUT" } ] },
    { "endpoint": "/balanced", "backend": [ { "host": ["{{a}}", "{{b}}"], "url_pattern": "/who" } ] },
    { "endpoint": "/race", "concurrent_calls": 3, "backend": [ { "url_pattern": "/flaky" } ] }
  ]
}`;

describe('gateway serving krakend.json over real sockets', () => {
  let a: TestBackend;
  let b: TestBackend;
  let gw: RunningGateway;
  let flaky = 0;

  before(async () => {
    const user = (id: string) => ({
      id: Number(id),
      name: `user ${id}`,
      email: `u${id}@example.com`,
      address: { city: 'Barcelona', zip: '08001' },
    });
    a = await startBackend({
      '/users/1': json(user('1')),
      '/users/7': (_req, res) => {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end('{"id":7,"name":"<b>&</b>","big":12345678901234567890,"html":"<script>","zzz":1}');
      },
      '/fail': json({ error: 'boom' }, 500),
      '/hang': () => {},
      '/text': (_req, res) => {
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.end('plain <text>');
      },
      '/big': json({ blob: 'x'.repeat(10_000) }),
      '/reset': (req) => req.socket.destroy(),
      '/scalar': json('42'),
      '/teapot': (_req, res) => {
        res.writeHead(418, { 'Content-Type': 'text/x-tea', 'X-Brew': 'earl grey' });
        res.end('short and stout');
      },
      '/echo-headers': (req, res) => json({ headers: req.headers })(req, res, ''),
      '/echo-body': (req, res, body) => json({ method: req.method, body, type: req.headers['content-type'] ?? null })(req, res, ''),
      '/who': json({ who: 'a' }),
      '/flaky': (req, res) => {
        flaky++;
        if (flaky % 3 === 1) return json({ ok: 'fast' })(req, res, '');
        setTimeout(() => json({ ok: 'slow' })(req, res, ''), 150);
      },
    });
    b = await startBackend({
      '/posts': json([{ id: 10 }, { id: 11 }]),
      '/wrapped': json({ data: { plan: 'gold' }, meta: { page: 1 } }),
      '/slow': delayed(2000, json({ late: true })),
      '/who': json({ who: 'b' }),
    });
    gw = await startGateway(renderTemplate(TEMPLATE, { a: a.url, b: b.url }));
  });

  after(async () => {
    await gw.close();
    await a.close();
    await b.close();
  });

  test('a single backend is proxied with KrakenD headers and filtered fields', async () => {
    const res = await fetch(`${gw.url}/users/1`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/json; charset=utf-8');
    assert.equal(res.headers.get('x-krakend-completed'), 'true');
    assert.match(res.headers.get('x-krakend') ?? '', /^Version \d+\.\d+\.\d+/);
    assert.equal(res.headers.get('cache-control'), null);
    assert.equal(await res.text(), '{"address":{"city":"Barcelona"},"id":1,"name":"user 1"}');
  });

  test('JSON comes out as Go writes it: sorted keys, escaped <>&, exact big integers', async () => {
    const res = await fetch(`${gw.url}/users/7`);
    assert.equal(
      await res.text(),
      '{"big":12345678901234567890,"html":"\\u003cscript\\u003e","id":7,"name":"\\u003cb\\u003e\\u0026\\u003c/b\\u003e"}',
    );
  });

  test('only allowed query strings reach the backend, after the url_pattern is filled in', async () => {
    a.requests.length = 0;
    await (await fetch(`${gw.url}/users/1?lang=ca&secret=1`)).text();
    assert.equal(a.requests[0]?.url, '/users/1?lang=ca');
  });

  test('several backends are merged with group, deny, mapping, target and is_collection', async () => {
    const res = await fetch(`${gw.url}/merged/1`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-krakend-completed'), 'true');
    assert.equal(res.headers.get('cache-control'), 'public, max-age=30');
    assert.deepEqual(await res.json(), {
      user: { id: 1, name: 'user 1', address: { city: 'Barcelona', zip: '08001' } },
      posts: [{ id: 10 }, { id: 11 }],
      plan: 'gold',
    });
  });

  test('a backend later than the endpoint timeout yields a partial response', async () => {
    const res = await fetch(`${gw.url}/partial`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-krakend-completed'), 'false');
    assert.equal(res.headers.get('cache-control'), null);
    const body = (await res.json()) as Record<string, unknown>;
    assert.equal(body['id'], 1);
    assert.equal(body['slow'], undefined);
  });

  test('cache_ttl sets Cache-Control on complete responses', async () => {
    const res = await fetch(`${gw.url}/cached`);
    await res.text();
    assert.equal(res.headers.get('cache-control'), 'public, max-age=60');
  });

  test('a failing single backend answers 500 with an empty body', async () => {
    for (const path of ['/fails', '/missing', '/hangs', '/not-json', '/too-big', '/reset']) {
      const res = await fetch(`${gw.url}${path}`);
      assert.equal(res.status, 500, path);
      assert.equal(res.headers.get('x-krakend-completed'), 'false', path);
      assert.equal(await res.text(), '', path);
    }
    assert.ok(gw.lines.some((l) => l.includes('ERROR [ENDPOINT: /fails] invalid status code 500')));
    assert.ok(gw.lines.some((l) => l.includes('[ENDPOINT: /too-big] backend body larger than 4096 bytes')));
  });

  test('when every backend of a merge fails the client gets 200 with an empty object, incomplete', async () => {
    const res = await fetch(`${gw.url}/all-fail`);
    assert.equal(res.headers.get('x-krakend-completed'), 'false');
    assert.equal(res.status, 200);
    assert.equal(await res.text(), '{}');
  });

  test('string, safejson and json-collection encodings', async () => {
    const text = await fetch(`${gw.url}/text`);
    assert.equal(text.headers.get('content-type'), 'text/plain; charset=utf-8');
    assert.equal(await text.text(), 'plain <text>');
    assert.equal(await (await fetch(`${gw.url}/safe`)).text(), '{"content":42}');
    assert.equal(await (await fetch(`${gw.url}/list`)).text(), '[{"id":10},{"id":11}]');
  });

  test('no-op passes the backend status, headers and body through', async () => {
    const res = await fetch(`${gw.url}/raw`);
    assert.equal(res.status, 418);
    assert.equal(res.headers.get('content-type'), 'text/x-tea');
    assert.equal(res.headers.get('x-brew'), 'earl grey');
    assert.equal(await res.text(), 'short and stout');
  });

  test('headers follow the forwarding rules', async () => {
    const res = await fetch(`${gw.url}/headers`, {
      headers: { 'User-Agent': 'tester/1', 'X-Custom': 'yes', 'X-Other': 'no', Cookie: 'a=b' },
    });
    const seen = ((await res.json()) as { headers: Record<string, string> }).headers;
    assert.equal(seen['user-agent'], 'tester/1');
    assert.match(seen['x-forwarded-via'] ?? '', /^KrakenD Version /);
    assert.equal(seen['x-custom'], 'yes');
    assert.equal(seen['x-other'], undefined);
    assert.equal(seen['cookie'], undefined);
    assert.equal(seen['x-forwarded-for'], '127.0.0.1');
    assert.equal(seen['x-forwarded-host'], new URL(gw.url).host);

    const dflt = ((await (await fetch(`${gw.url}/default-headers`, { headers: { 'User-Agent': 'tester/1' } })).json()) as {
      headers: Record<string, string>;
    }).headers;
    assert.match(dflt['user-agent'] ?? '', /^KrakenD Version /);
    assert.equal(dflt['x-forwarded-via'], undefined);
  });

  test('a POST body and its Content-Type reach the backend with the backend method', async () => {
    const res = await fetch(`${gw.url}/submit`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: '{"hello":"world"}',
    });
    assert.deepEqual(await res.json(), { method: 'PUT', body: '{"hello":"world"}', type: 'application/json' });
  });

  test('a request body over the maximum is refused with 413', async () => {
    const res = await fetch(`${gw.url}/submit`, { method: 'POST', body: 'x'.repeat(5000) });
    assert.equal(res.status, 413);
    await res.text();
  });

  test('hosts are round-robined', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 4; i++) seen.add(((await (await fetch(`${gw.url}/balanced`)).json()) as { who: string }).who);
    assert.deepEqual([...seen].sort(), ['a', 'b']);
  });

  test('concurrent_calls answers with the first complete response', async () => {
    flaky = 0;
    const res = await fetch(`${gw.url}/race`);
    assert.deepEqual(await res.json(), { ok: 'fast' });
  });

  test('unknown paths get 404, known paths with another method 405, trailing slashes a redirect', async () => {
    const nf = await fetch(`${gw.url}/nope`);
    assert.equal(nf.status, 404);
    assert.equal(await nf.text(), '404 page not found');
    const na = await fetch(`${gw.url}/users/1`, { method: 'DELETE' });
    assert.equal(na.status, 405);
    assert.equal(na.headers.get('allow'), 'GET');
    await na.text();
    const redirect = await fetch(`${gw.url}/users/1/?lang=en`, { redirect: 'manual' });
    assert.equal(redirect.status, 301);
    assert.equal(redirect.headers.get('location'), '/users/1?lang=en');
  });

  test('double-encoded params and dot segments are refused with 400', async () => {
    const res = await fetch(`${gw.url}/users/..%252Fadmin`);
    assert.equal(res.status, 400);
    await res.text();
    // fetch would normalise a dot segment away, so this one goes raw.
    const status = await new Promise<number>((resolve, reject) => {
      get({ host: '127.0.0.1', port: Number(new URL(gw.url).port), path: '/users/%2E%2E' }, (r) => {
        r.resume();
        resolve(r.statusCode ?? 0);
      }).on('error', reject);
    });
    assert.equal(status, 400);
  });

  test('health, echo and debug endpoints', async () => {
    const health = await fetch(`${gw.url}/__health`);
    assert.equal(health.status, 200);
    const h = (await health.json()) as Record<string, unknown>;
    assert.equal(h['status'], 'ok');
    assert.deepEqual(h['agents'], {});
    const echo = (await (await fetch(`${gw.url}/__echo/x?b=2&a=1`, { method: 'POST', body: 'hi' })).json()) as Record<string, unknown>;
    assert.equal(echo['req_uri'], '/__echo/x?b=2&a=1');
    assert.equal(echo['req_method'], 'POST');
    assert.equal(echo['req_body'], 'hi');
    assert.deepEqual(echo['req_querystring'], { a: ['1'], b: ['2'] });
    assert.deepEqual(await (await fetch(`${gw.url}/__debug/anything`)).json(), { message: 'pong' });
  });

  test('the access log has one gin-format line per request', async () => {
    await (await fetch(`${gw.url}/users/1?lang=en`)).text();
    await new Promise((r) => setTimeout(r, 20));
    assert.ok(
      gw.lines.some((l) => /^\[GIN\] \d{4}\/\d\d\/\d\d - \d\d:\d\d:\d\d \| 200 \| +[\d.]+[µnm]?s \| +127\.0\.0\.1 \| GET +"\/users\/1\?lang=en"$/.test(l)),
      gw.lines.join('\n'),
    );
  });

  test('malformed requests get 400 and the gateway keeps serving', async () => {
    const reply = await new Promise<string>((resolve) => {
      const s = connect(Number(new URL(gw.url).port), '127.0.0.1', () => s.write('GARBAGE / NOT-HTTP\r\n\r\n'));
      let data = '';
      s.on('data', (c) => (data += c.toString()));
      s.on('close', () => resolve(data));
      s.on('error', () => resolve(data));
    });
    assert.match(reply, /^HTTP\/1\.1 400/);
    assert.equal((await fetch(`${gw.url}/users/1`)).status, 200);
  });
});

describe('reloading a running gateway', () => {
  test('requests in flight finish on the old config while new ones use the new config', async () => {
    const backend = await startBackend({
      '/v1': delayed(300, json({ version: 1 })),
      '/v2': json({ version: 2 }),
    });
    const template = (path: string) =>
      `{"version":3,"host":["${backend.url}"],"endpoints":[{"endpoint":"/api","backend":[{"url_pattern":"${path}"}]}]}`;
    const gw = await startGateway(template('/v1'));
    try {
      const inFlight = fetch(`${gw.url}/api`).then((r) => r.json());
      await new Promise((r) => setTimeout(r, 100));
      gw.gateway.reload(loadConfig(template('/v2')));
      assert.deepEqual(await (await fetch(`${gw.url}/api`)).json(), { version: 2 });
      assert.deepEqual(await inFlight, { version: 1 });
    } finally {
      await gw.close();
      await backend.close();
    }
  });
});

describe('graceful shutdown', () => {
  test('health answers 503 at once, in-flight requests finish, then the listener closes', async () => {
    const backend = await startBackend({ '/slow': delayed(300, json({ done: true })) });
    const gw = await startGateway(
      `{"version":3,"host":["${backend.url}"],"endpoints":[{"endpoint":"/slow","backend":[{"url_pattern":"/slow"}]}]}`,
    );
    try {
      const inFlight = fetch(`${gw.url}/slow`).then(async (r) => ({ status: r.status, body: await r.json() }));
      await new Promise((r) => setTimeout(r, 50));
      const stopped = gw.gateway.shutdown({ delay: 200, drainTimeout: 2000 });
      const health = await fetch(`${gw.url}/__health`);
      assert.equal(health.status, 503);
      assert.equal(((await health.json()) as { status: string }).status, 'shutting down');
      assert.deepEqual(await inFlight, { status: 200, body: { done: true } });
      await stopped;
      await assert.rejects(fetch(`${gw.url}/__health`));
    } finally {
      await backend.close();
    }
  });
});

describe('a reload that changes the listening port', () => {
  test('listens on the new port before the old one closes, and requests in flight on the old one finish', async () => {
    const { Gateway } = await import('../../src/gateway/gateway.js');
    const { memoryLogger } = await import('../../src/base/logger.js');
    const backend = await startBackend({ '/slow': delayed(300, json({ done: true })), '/fast': json({ fast: true }) });
    const free = async () => {
      const { createServer } = await import('node:net');
      const s = createServer();
      await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
      const port = (s.address() as { port: number }).port;
      await new Promise<void>((r) => s.close(() => r()));
      return port;
    };
    const [p1, p2] = [await free(), await free()];
    const cfg = (port: number) =>
      loadConfig(
        JSON.stringify({
          version: 3,
          port,
          host: [backend.url],
          endpoints: [
            { endpoint: '/slow', backend: [{ url_pattern: '/slow' }] },
            { endpoint: '/fast', backend: [{ url_pattern: '/fast' }] },
          ],
        }),
      );
    const { logger } = memoryLogger();
    const gateway = new Gateway(cfg(p1), { logger, host: '127.0.0.1' });
    await gateway.start();
    try {
      const inFlight = fetch(`http://127.0.0.1:${p1}/slow`).then((r) => r.json());
      await new Promise((r) => setTimeout(r, 50));
      await gateway.reload(cfg(p2));
      assert.equal(gateway.address().port, p2);
      assert.deepEqual(await (await fetch(`http://127.0.0.1:${p2}/fast`)).json(), { fast: true });
      assert.deepEqual(await inFlight, { done: true });
      await assert.rejects(fetch(`http://127.0.0.1:${p1}/fast`));
    } finally {
      await gateway.shutdown({ delay: 0, drainTimeout: 1000 });
      await backend.close();
    }
  });
});
