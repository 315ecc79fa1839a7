import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startBackend, json, renderTemplate } from '../helpers/backend.js';
import type { TestBackend } from '../helpers/backend.js';
import { startGateway, loadConfig } from '../helpers/gateway.js';
import type { RunningGateway } from '../helpers/gateway.js';

const TEMPLATE = `{
  "version": 3,
  "host": ["{{a}}"],
  "extra_config": { "security/cors": { "allow_origins": ["https://app.example.com"], "allow_methods": ["GET", "POST"], "max_age": "1h" } },
  "endpoints": [
    { "endpoint": "/xml-in", "backend": [ { "url_pattern": "/catalog.xml", "encoding": "xml" } ] },
    { "endpoint": "/xml-out", "output_encoding": "xml", "backend": [ { "url_pattern": "/orders/1", "group": "order" } ] },
    { "endpoint": "/negotiated", "output_encoding": "negotiate", "backend": [ { "url_pattern": "/list" } ] },
    { "endpoint": "/broken-xml", "backend": [ { "url_pattern": "/broken.xml", "encoding": "xml" } ] },
    { "endpoint": "/breaker",
      "backend": [ { "url_pattern": "/fail",
        "extra_config": { "qos/circuit-breaker": { "interval": 60, "timeout": 60, "max_errors": 1 } } } ] },
    { "endpoint": "/orders/{id}",
      "extra_config": { "proxy": { "sequential": true } },
      "backend": [
        { "url_pattern": "/orders/{id}" },
        { "url_pattern": "/customers/{resp0_customer.id}", "group": "customer" },
        { "url_pattern": "/accounts/{resp0_account}", "group": "account" }
      ] },
    { "endpoint": "/static",
      "extra_config": { "proxy": { "static": { "strategy": "errored", "data": { "fallback": true } } } },
      "backend": [ { "url_pattern": "/fail" } ] },
    { "endpoint": "/static-always",
      "extra_config": { "proxy": { "static": { "strategy": "always", "data": { "extra": 1 } } } },
      "backend": [ { "url_pattern": "/orders/1" } ] },
    { "endpoint": "/flat",
      "backend": [ { "url_pattern": "/list",
        "extra_config": { "proxy": { "flatmap_filter": [
          { "type": "move", "args": ["items.*.id", "items.*.key"] },
          { "type": "del", "args": ["items.*.secret"] }
        ] } } } ] },
    { "endpoint": "/limited",
      "extra_config": { "qos/ratelimit/router": { "max_rate": 2, "capacity": 2, "every": "1h" } },
      "backend": [ { "url_pattern": "/orders/1" } ] },
    { "endpoint": "/per-client",
      "extra_config": { "qos/ratelimit/router": { "client_max_rate": 1, "every": "1h", "strategy": "header", "key": "X-Api-Key" } },
      "backend": [ { "url_pattern": "/orders/1" } ] },
    { "endpoint": "/backend-limited",
      "backend": [ { "url_pattern": "/orders/1",
        "extra_config": { "qos/ratelimit/proxy": { "max_rate": 1, "every": "1h" } } } ] }
  ]
}`;

describe('proxy features and per-instance rate limits over real sockets', () => {
  let a: TestBackend;
  let gw: RunningGateway;

  before(async () => {
    a = await startBackend({
      '/orders/1': (_req, res) => {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end('{"id":1,"customer":{"id":12345678901234567890},"total":10.50}');
      },
      '/customers/12345678901234567890': json({ name: 'Ada' }),
      '/accounts/%7B%7B.Resp0_account%7D%7D': json({ placeholder: true }),
      '/list': json({ items: [{ id: 1, secret: 'x' }, { id: 2, secret: 'y' }] }),
      '/fail': json({ error: true }, 500),
      '/catalog.xml': (_req, res) => {
        res.writeHead(200, { 'Content-Type': 'application/xml' });
        res.end('<?xml version="1.0"?><catalog><book id="b1"><title>SICP</title></book><book id="b2"><title>TAOCP</title></book></catalog>');
      },
      '/broken.xml': (_req, res) => {
        res.writeHead(200, { 'Content-Type': 'application/xml' });
        res.end('<catalog><book></catalog>');
      },
    });
    gw = await startGateway(renderTemplate(TEMPLATE, { a: a.url }));
  });

  after(async () => {
    await gw.close();
    await a.close();
  });

  test('a sequential proxy feeds values of earlier responses into later url_patterns, exactly', async () => {
    a.requests.length = 0;
    const res = await fetch(`${gw.url}/orders/1`);
    assert.equal(res.status, 200);
    assert.equal(
      await res.text(),
      '{"account":{"placeholder":true},"customer":{"name":"Ada"},"id":1,"total":10.50}',
    );
    assert.deepEqual(
      a.requests.map((r) => r.url),
      ['/orders/1', '/customers/12345678901234567890', '/accounts/%7B%7B.Resp0_account%7D%7D'],
    );
  });

  test('a static response stands in when the backend fails, with the errored strategy', async () => {
    const res = await fetch(`${gw.url}/static`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-krakend-completed'), 'false');
    assert.equal(await res.text(), '{"fallback":true}');
    const always = await fetch(`${gw.url}/static-always`);
    assert.deepEqual(await always.json(), { id: 1, customer: { id: 12345678901234567890 }, total: 10.5, extra: 1 });
  });

  test('flatmap_filter moves and deletes over arrays', async () => {
    assert.equal(await (await fetch(`${gw.url}/flat`)).text(), '{"items":[{"key":1},{"key":2}]}');
  });

  test('an endpoint limit answers 503 once its capacity is spent', async () => {
    const statuses = [];
    for (let i = 0; i < 4; i++) {
      const r = await fetch(`${gw.url}/limited`);
      await r.text();
      statuses.push(r.status);
    }
    assert.deepEqual(statuses, [200, 200, 503, 503]);
  });

  test('a per-client limit answers 429 per key, and 429 when the key header is absent', async () => {
    const get = async (key?: string) => {
      const r = await fetch(`${gw.url}/per-client`, key ? { headers: { 'X-Api-Key': key } } : {});
      await r.text();
      return r.status;
    };
    assert.deepEqual([await get('alice'), await get('alice'), await get('bob'), await get()], [200, 429, 200, 429]);
  });

  test('a backend limit fails the backend, which a single-backend endpoint answers with 500', async () => {
    const first = await fetch(`${gw.url}/backend-limited`);
    await first.text();
    const second = await fetch(`${gw.url}/backend-limited`);
    await second.text();
    assert.deepEqual([first.status, second.status], [200, 500]);
  });

  test('CORS: preflights are answered for allowed origins, and actual responses carry the headers', async () => {
    const pre = await fetch(`${gw.url}/orders/1`, {
      method: 'OPTIONS',
      headers: { Origin: 'https://app.example.com', 'Access-Control-Request-Method': 'POST' },
    });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get('access-control-allow-origin'), 'https://app.example.com');
    assert.equal(pre.headers.get('access-control-max-age'), '3600');
    const denied = await fetch(`${gw.url}/orders/1`, {
      method: 'OPTIONS',
      headers: { Origin: 'https://evil.example.com', 'Access-Control-Request-Method': 'POST' },
    });
    assert.equal(denied.headers.get('access-control-allow-origin'), null);
    const actual = await fetch(`${gw.url}/static-always`, { headers: { Origin: 'https://app.example.com' } });
    await actual.text();
    assert.equal(actual.headers.get('access-control-allow-origin'), 'https://app.example.com');
    assert.match(actual.headers.get('vary') ?? '', /Origin/);
  });

  test('a circuit breaker opens after max_errors consecutive failures and then fails fast', async () => {
    a.requests.length = 0;
    for (let i = 0; i < 4; i++) await (await fetch(`${gw.url}/breaker`)).text();
    // max_errors 1: the breaker trips on the second consecutive failure; later calls never reach the backend.
    assert.equal(a.requests.filter((r) => r.url === '/fail').length, 2);
    assert.ok(gw.lines.some((l) => l.includes('circuit breaker is open')));
  });

  test('XML backends are decoded as mxj does, and XML, YAML or JSON are rendered as negotiated', async () => {
    assert.deepEqual(await (await fetch(`${gw.url}/xml-in`)).json(), {
      catalog: { book: [{ '-id': 'b1', title: 'SICP' }, { '-id': 'b2', title: 'TAOCP' }] },
    });
    const xml = await fetch(`${gw.url}/xml-out`);
    assert.match(xml.headers.get('content-type') ?? '', /^application\/xml/);
    assert.equal(await xml.text(), '<order><customer><id>12345678901234567890</id></customer><id>1</id><total>10.50</total></order>');
    const asYaml = await fetch(`${gw.url}/negotiated`, { headers: { Accept: 'text/plain' } });
    assert.match(await asYaml.text(), /^items:\n/);
    const asJson = await fetch(`${gw.url}/negotiated`);
    assert.equal(await asJson.text(), '{"items":[{"id":1,"secret":"x"},{"id":2,"secret":"y"}]}');
    const broken = await fetch(`${gw.url}/broken-xml`);
    assert.equal(broken.status, 500);
    await broken.text();
  });

  test('a reload keeps the token buckets: a spent limit stays spent', async () => {
    gw.gateway.reload(loadConfig(renderTemplate(TEMPLATE, { a: a.url })));
    const r = await fetch(`${gw.url}/limited`);
    await r.text();
    assert.equal(r.status, 503);
  });
});
