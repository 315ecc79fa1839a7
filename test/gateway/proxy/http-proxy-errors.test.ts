import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { ErrorCode, isKrakendError } from '../../../src/base/errors.js';
import type { BackendConfig } from '../../../src/gateway/config/types.js';
import type { JsonObject } from '../../../src/gateway/json/types.js';
import { BackendPools } from '../../../src/gateway/proxy/backend-pools.js';
import {
  createHttpProxy,
  HttpResponseError,
  isErrorDetailsResponse,
  statusPolicyFor,
  validateBackendHttp,
} from '../../../src/gateway/proxy/http-proxy.js';
import type { ProxyRequest, ProxyResponse } from '../../../src/gateway/proxy/types.js';
import { json, renderTemplate, startBackend } from '../../helpers/backend.js';
import type { Route, TestBackend } from '../../helpers/backend.js';
import { startGateway } from '../../helpers/gateway.js';
import type { RunningGateway } from '../../helpers/gateway.js';

function backendConfig(host: string, urlPattern: string, overrides: Partial<BackendConfig> = {}): BackendConfig {
  return {
    id: `GET /x#0`,
    index: 0,
    host: [host],
    urlPattern,
    method: 'GET',
    encoding: 'json',
    sd: 'static',
    disableHostSanitize: false,
    group: undefined,
    target: undefined,
    allow: [],
    deny: [],
    mapping: {},
    isCollection: false,
    extraConfig: {},
    ...overrides,
  };
}

function req(partial: Partial<ProxyRequest> = {}): ProxyRequest {
  return { method: 'GET', params: {}, query: new URLSearchParams(), headers: {}, body: undefined, ...partial };
}

function text(status: number, body: string, type?: string, extra: Record<string, string> = {}): Route {
  return (_req, res) => {
    res.writeHead(status, { ...(type ? { 'Content-Type': type } : {}), ...extra });
    res.end(body);
  };
}

function redirect(status: number, location: string): Route {
  return (_req, res) => {
    res.writeHead(status, { Location: location });
    res.end();
  };
}

const httpErrorsNs = (v: JsonObject): JsonObject => ({ 'backend/http': v });

describe('backend statuses and redirects at the backend proxy', () => {
  let a: TestBackend;
  let pools: BackendPools;
  let other: Server;
  let otherUrl: string;
  const otherSeen: { url: string; headers: Record<string, unknown> }[] = [];

  before(async () => {
    const chain: Record<string, Route> = {};
    for (let i = 0; i < 11; i++) chain[`/chain/${i}`] = redirect(302, `/chain/${i + 1}`);
    chain['/chain/11'] = json({ end: 11 });
    a = await startBackend({
      '/ok': json({ ok: true }),
      '/created': json({ created: true }, 201),
      '/no-content': text(204, ''),
      '/missing': text(404, '{"error":"no such user"}', 'application/json'),
      '/down': text(503, 'try later', 'text/plain; charset=utf-8'),
      '/bare-404': text(404, ''),
      '/gzipped-error': (_req, res) => {
        res.writeHead(500, { 'Content-Type': 'text/plain', 'Content-Encoding': 'gzip' });
        res.end(gzipSync('compressed trouble'));
      },
      '/moved': redirect(301, '/ok'),
      '/found': redirect(302, '/echo'),
      '/see-other': redirect(303, '/echo'),
      '/temporary': redirect(307, '/echo'),
      '/permanent': redirect(308, '/echo'),
      '/relative': redirect(302, 'deeper/../ok'),
      '/no-location': text(302, ''),
      '/ftp': redirect(302, 'ftp://example.com/file'),
      '/away': (_req, res) => {
        res.writeHead(302, { Location: `${otherUrl}/landed?q=1` });
        res.end();
      },
      '/echo': (r, res, body) =>
        json({ method: r.method, body, type: r.headers['content-type'] ?? null, referer: r.headers.referer ?? null })(
          r,
          res,
          '',
        ),
      '/teapot-redirect': redirect(302, '/teapot'),
      '/teapot': text(418, 'short and stout', 'text/x-tea', { 'X-Brew': 'earl grey' }),
      ...chain,
    });
    // A second backend under another host name, so that a redirect leaves the first host's domain.
    other = createServer((r, res) => {
      otherSeen.push({ url: r.url ?? '', headers: r.headers });
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end('{"landed":true}');
    });
    await new Promise<void>((resolve) => other.listen(0, 'localhost', resolve));
    otherUrl = `http://localhost:${(other.address() as AddressInfo).port}`;
    pools = new BackendPools();
  });

  after(async () => {
    await pools.close();
    await a.close();
    other.closeAllConnections();
    await new Promise<void>((resolve) => other.close(() => resolve()));
  });

  function proxyFor(urlPattern: string, overrides: Partial<BackendConfig> = {}) {
    return createHttpProxy(backendConfig(a.url, urlPattern, overrides), { pools, maxBodySize: 1 << 20 });
  }

  async function failure(promise: Promise<unknown>): Promise<unknown> {
    try {
      await promise;
    } catch (err) {
      return err;
    }
    assert.fail('expected the backend to fail');
  }

  const signal = () => new AbortController().signal;

  test('200 and 201 succeed; any other status fails by default, 204 included, with no status of its own', async () => {
    assert.deepEqual((await proxyFor('/ok')(req(), signal())).data, { ok: true });
    assert.deepEqual((await proxyFor('/created')(req(), signal())).data, { created: true });
    for (const [path, status] of [
      ['/no-content', 204],
      ['/missing', 404],
      ['/down', 503],
    ] as const) {
      const err = await failure(proxyFor(path)(req(), signal()));
      assert.ok(isKrakendError(err, ErrorCode.BackendStatus));
      assert.equal(err.status, undefined);
      assert.equal(err.message, `invalid status code ${status} [GET ${path}]: ${a.url}${path}`);
    }
  });

  test('return_error_code fails with the backend’s status, body and Content-Type; its message is the body', async () => {
    const extraConfig = httpErrorsNs({ return_error_code: true });
    const notFound = await failure(proxyFor('/missing', { extraConfig })(req(), signal()));
    assert.ok(notFound instanceof HttpResponseError);
    assert.equal(notFound.code, ErrorCode.BackendStatus);
    assert.equal(notFound.status, 404);
    assert.equal(notFound.statusCode, 404);
    assert.equal(notFound.body, '{"error":"no such user"}');
    assert.equal(notFound.message, '{"error":"no such user"}');
    assert.equal(notFound.encoding, 'application/json');

    const down = await failure(proxyFor('/down', { extraConfig })(req(), signal()));
    assert.ok(down instanceof HttpResponseError);
    assert.equal(down.status, 503);
    assert.equal(down.body, 'try later');
    assert.equal(down.encoding, 'text/plain; charset=utf-8');

    const gz = await failure(proxyFor('/gzipped-error', { extraConfig })(req(), signal()));
    assert.ok(gz instanceof HttpResponseError);
    assert.equal(gz.body, 'compressed trouble', 'the error body is decompressed');
  });

  test('return_error_details answers the error under error_<name>, incomplete, with the backend status', async () => {
    const extraConfig = httpErrorsNs({ return_error_details: 'users' });
    const res = await proxyFor('/down', { extraConfig })(req(), signal());
    assert.deepEqual(res.data, {
      error_users: { http_status_code: 503, http_body: 'try later', http_body_encoding: 'text/plain; charset=utf-8' },
    });
    assert.equal(res.isComplete, false);
    assert.deepEqual(res.metadata, { statusCode: 503, headers: {} });
    assert.equal(isErrorDetailsResponse(res), true);
    const fine: ProxyResponse = await proxyFor('/ok', { extraConfig })(req(), signal());
    assert.equal(isErrorDetailsResponse(fine), false);

    const bare = await proxyFor('/bare-404', { extraConfig })(req(), signal());
    assert.deepEqual(bare.data, { error_users: { http_status_code: 404 } }, 'empty body and encoding are left out');
  });

  test('return_error_details wins over return_error_code; its mere presence disables return_error_code', async () => {
    assert.deepEqual(statusPolicyFor(httpErrorsNs({ return_error_details: 'x', return_error_code: true })), {
      kind: 'error-details',
      name: 'x',
    });
    assert.deepEqual(statusPolicyFor(httpErrorsNs({ return_error_details: '', return_error_code: true })), {
      kind: 'default',
    });
    assert.deepEqual(statusPolicyFor(httpErrorsNs({ return_error_code: true })), { kind: 'error-code' });
    assert.deepEqual(statusPolicyFor(httpErrorsNs({ return_error_code: 'yes' })), { kind: 'default' });
    assert.deepEqual(statusPolicyFor({}), { kind: 'default' });
    const err = await failure(
      proxyFor('/missing', { extraConfig: httpErrorsNs({ return_error_details: '', return_error_code: true }) })(
        req(),
        signal(),
      ),
    );
    assert.ok(!(err instanceof HttpResponseError));
    assert.ok(isKrakendError(err, ErrorCode.BackendStatus));
  });

  test('no-op backends pass any status through, and ignore backend/http', async () => {
    const res = await proxyFor('/teapot', {
      encoding: 'no-op',
      extraConfig: httpErrorsNs({ return_error_code: true }),
    })(req(), signal());
    assert.equal(res.metadata.statusCode, 418);
    assert.deepEqual(res.metadata.headers['x-brew'], ['earl grey']);
    assert.ok(res.stream);
    const chunks: Buffer[] = [];
    for await (const c of res.stream) chunks.push(c as Buffer);
    assert.equal(Buffer.concat(chunks).toString(), 'short and stout');
  });

  test('301 is followed, and so is a relative Location', async () => {
    assert.deepEqual((await proxyFor('/moved')(req(), signal())).data, { ok: true });
    assert.deepEqual((await proxyFor('/relative')(req(), signal())).data, { ok: true });
  });

  test('302 and 303 turn a POST into a GET without its body', async () => {
    for (const path of ['/found', '/see-other']) {
      const res = await proxyFor(path, { method: 'POST' })(
        req({ method: 'POST', body: Buffer.from('{"a":1}'), headers: { 'content-type': ['application/json'] } }),
        signal(),
      );
      assert.deepEqual(res.data, {
        method: 'GET',
        body: '',
        type: 'application/json',
        referer: `${a.url}${path}`,
      });
    }
  });

  test('307 and 308 keep the method; a body is only resent with send_body_on_redirect', async () => {
    for (const [path, status] of [
      ['/temporary', 307],
      ['/permanent', 308],
    ] as const) {
      const get = await proxyFor(path)(req(), signal());
      assert.deepEqual(get.data, { method: 'GET', body: '', type: null, referer: `${a.url}${path}` });

      const post = req({ method: 'POST', body: Buffer.from('payload'), headers: { 'content-type': ['text/plain'] } });
      const err = await failure(proxyFor(path, { method: 'POST' })(post, signal()));
      assert.ok(isKrakendError(err, ErrorCode.BackendStatus));
      assert.match(err.message, new RegExp(`^invalid status code ${status} `), 'Go answers the 307/308 itself');

      const resent = await proxyFor(path, {
        method: 'POST',
        extraConfig: { 'backend/http/client': { send_body_on_redirect: true } },
      })(post, signal());
      assert.deepEqual(resent.data, {
        method: 'POST',
        body: 'payload',
        type: 'text/plain',
        referer: `${a.url}${path}`,
      });
    }
  });

  test('a no-op backend follows redirects too, and passes the final response', async () => {
    const res = await proxyFor('/teapot-redirect', { encoding: 'no-op' })(req(), signal());
    assert.equal(res.metadata.statusCode, 418);
    res.stream?.resume();
  });

  test('Go stops after 10 requests: 9 redirects are followed, the 10th fails the backend', async () => {
    a.requests.length = 0;
    const nine = await proxyFor('/chain/2')(req(), signal());
    assert.deepEqual(nine.data, { end: 11 });
    assert.equal(a.requests.length, 10);
    a.requests.length = 0;
    const err = await failure(proxyFor('/chain/1')(req(), signal()));
    assert.ok(isKrakendError(err, ErrorCode.BackendConnection));
    assert.equal(err.message, `[GET /chain/1] stopped after 10 redirects: ${a.url}/chain/10`);
    assert.equal(a.requests.length, 10);
  });

  test('a 3xx without Location is an answer, not a redirect', async () => {
    const err = await failure(proxyFor('/no-location')(req(), signal()));
    assert.ok(isKrakendError(err, ErrorCode.BackendStatus));
    assert.match(err.message, /^invalid status code 302 /);
    const withCode = proxyFor('/no-location', { extraConfig: httpErrorsNs({ return_error_code: true }) });
    const code = await failure(withCode(req(), signal()));
    assert.ok(code instanceof HttpResponseError);
    assert.equal(code.status, 302);
  });

  test('a redirect to a scheme other than http(s) fails the backend', async () => {
    const err = await failure(proxyFor('/ftp')(req(), signal()));
    assert.ok(isKrakendError(err, ErrorCode.BackendConnection));
    assert.match(err.message, /unsupported protocol scheme "ftp"/);
  });

  test('a redirect off the first host’s domain drops credentials and keeps the other headers', async () => {
    otherSeen.length = 0;
    const res = await proxyFor('/away')(
      req({ headers: { authorization: ['Bearer secret'], cookie: ['s=1'], 'x-trace': ['abc'] } }),
      signal(),
    );
    assert.deepEqual(res.data, { landed: true });
    const seen = otherSeen[0];
    assert.ok(seen);
    assert.equal(seen.url, '/landed?q=1');
    assert.equal(seen.headers['authorization'], undefined);
    assert.equal(seen.headers['cookie'], undefined);
    assert.equal(seen.headers['x-trace'], 'abc');
    assert.equal(seen.headers['referer'], `${a.url}/away`);
  });

  test('validation of backend/http and backend/http/client', () => {
    assert.deepEqual(validateBackendHttp({}), []);
    assert.deepEqual(validateBackendHttp(httpErrorsNs({ return_error_code: true })), []);
    assert.deepEqual(validateBackendHttp(httpErrorsNs({ return_error_details: 'x' })), []);
    const bad = {
      ...httpErrorsNs({ return_error_details: '', return_error_code: 1 }),
      'backend/http/client': { send_body_on_redirect: 'y' },
    };
    assert.deepEqual(validateBackendHttp(bad), [
      'backend/http.return_error_details must be a non-empty string (the name of the error key); as it is, it is ' +
        'ignored and so is return_error_code',
      'backend/http.return_error_code must be true or false',
      'backend/http/client.send_body_on_redirect must be true or false',
    ]);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// What the client sees, end to end

const TEMPLATE = `{
  "version": 3,
  "timeout": "2s",
  "host": ["{{a}}"],
  {{router}}
  "endpoints": [
    { "endpoint": "/default", "backend": [ { "url_pattern": "/missing" } ] },
    { "endpoint": "/code", "backend": [ { "url_pattern": "/missing", "extra_config": { "backend/http": { "return_error_code": true } } } ] },
    { "endpoint": "/code-503", "backend": [ { "url_pattern": "/down", "extra_config": { "backend/http": { "return_error_code": true } } } ] },
    { "endpoint": "/code-merged", "backend": [
        { "url_pattern": "/down", "extra_config": { "backend/http": { "return_error_code": true } } },
        { "url_pattern": "/ok" } ] },
    { "endpoint": "/details", "backend": [ { "url_pattern": "/down", "extra_config": { "backend/http": { "return_error_details": "svc" } } } ] },
    { "endpoint": "/details-merged", "backend": [
        { "url_pattern": "/down", "extra_config": { "backend/http": { "return_error_details": "svc" } } },
        { "url_pattern": "/ok" } ] },
    { "endpoint": "/details-string", "output_encoding": "string",
      "backend": [ { "url_pattern": "/down", "encoding": "string", "extra_config": { "backend/http": { "return_error_details": "svc" } } } ] },
    { "endpoint": "/details-collection", "output_encoding": "json-collection",
      "backend": [ { "url_pattern": "/down", "is_collection": true, "extra_config": { "backend/http": { "return_error_details": "svc" } } } ] },
    { "endpoint": "/noop", "output_encoding": "no-op", "backend": [ { "url_pattern": "/down", "encoding": "no-op" } ] },
    { "endpoint": "/redirected", "backend": [ { "url_pattern": "/moved" } ] }
  ]
}`;

describe('how backend statuses reach the client', () => {
  let a: TestBackend;
  let plain: RunningGateway;
  let verbose: RunningGateway;

  before(async () => {
    a = await startBackend({
      '/ok': json({ ok: true }),
      '/missing': text(404, '{"error":"no such user"}', 'application/json', { 'X-Backend': 'yes' }),
      '/down': text(503, 'try later', 'text/plain; charset=utf-8'),
      '/moved': redirect(301, '/ok'),
    });
    plain = await startGateway(renderTemplate(TEMPLATE, { a: a.url, router: '' }));
    verbose = await startGateway(
      renderTemplate(TEMPLATE, { a: a.url, router: '"extra_config": { "router": { "return_error_msg": true } },' }),
    );
  });

  after(async () => {
    await plain.close();
    await verbose.close();
    await a.close();
  });

  async function get(gw: RunningGateway, path: string) {
    const res = await fetch(`${gw.url}${path}`);
    return {
      status: res.status,
      type: res.headers.get('content-type'),
      completed: res.headers.get('x-krakend-completed'),
      backendHeader: res.headers.get('x-backend'),
      body: await res.text(),
    };
  }

  test('by default a failing lone backend is a 500, empty, or the error message with return_error_msg', async () => {
    assert.deepEqual(await get(plain, '/default'), {
      status: 500,
      type: null,
      completed: 'false',
      backendHeader: null,
      body: '',
    });
    const v = await get(verbose, '/default');
    assert.equal(v.status, 500);
    assert.equal(v.type, 'text/plain; charset=utf-8');
    assert.equal(v.body, `invalid status code 404 [GET /missing]: ${a.url}/missing`);
  });

  test('return_error_code answers the backend’s status; return_error_msg adds its body and type', async () => {
    assert.deepEqual(await get(plain, '/code'), {
      status: 404,
      type: null,
      completed: 'false',
      backendHeader: null,
      body: '',
    });
    assert.deepEqual(await get(verbose, '/code'), {
      status: 404,
      type: 'application/json',
      completed: 'false',
      backendHeader: null,
      body: '{"error":"no such user"}',
    });
    const down = await get(verbose, '/code-503');
    assert.equal(down.status, 503);
    assert.equal(down.type, 'text/plain; charset=utf-8');
    assert.equal(down.body, 'try later');
  });

  test('return_error_code behind a merge is an ordinary failure: 200 with the other backends, incomplete', async () => {
    assert.deepEqual(await get(verbose, '/code-merged'), {
      status: 200,
      type: 'application/json; charset=utf-8',
      completed: 'false',
      backendHeader: null,
      body: '{"ok":true}',
    });
  });

  test('return_error_details answers 200 with the error under its key, incomplete', async () => {
    const lone = await get(plain, '/details');
    assert.equal(lone.status, 200);
    assert.equal(lone.completed, 'false');
    assert.deepEqual(JSON.parse(lone.body), {
      error_svc: { http_status_code: 503, http_body: 'try later', http_body_encoding: 'text/plain; charset=utf-8' },
    });
    const merged = await get(plain, '/details-merged');
    assert.equal(merged.status, 200);
    assert.equal(merged.completed, 'false');
    assert.deepEqual(JSON.parse(merged.body), {
      error_svc: { http_status_code: 503, http_body: 'try later', http_body_encoding: 'text/plain; charset=utf-8' },
      ok: true,
    });
  });

  test('return_error_details under the string and json-collection encodings: 200, no trace of it', async () => {
    const s = await get(plain, '/details-string');
    assert.equal(s.status, 200);
    assert.equal(s.body, '');
    const c = await get(plain, '/details-collection');
    assert.equal(c.status, 200);
    assert.equal(c.body, '[]');
  });

  test('no-op passes the backend’s status, headers and body', async () => {
    const res = await get(plain, '/noop');
    assert.equal(res.status, 503);
    assert.equal(res.type, 'text/plain; charset=utf-8');
    assert.equal(res.body, 'try later');
  });

  test('a backend redirect is followed: the client sees the final answer', async () => {
    const res = await get(plain, '/redirected');
    assert.equal(res.status, 200);
    assert.equal(res.body, '{"ok":true}');
  });
});
