import assert from 'node:assert/strict';
import { createServer, IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import { request } from 'undici';
import { memoryLogger } from '../../../src/base/logger.js';
import type { JsonObject } from '../../../src/gateway/json/types.js';
import { createCors, parseCorsConfig, validateCors } from '../../../src/gateway/router/cors.js';

interface Served {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * A server wired as Routes.dispatch wires CORS: preflight first, then decorate, then the handler, which answers
 * 200 "served" (keeping a Vary it was given, to show headers set by CORS survive writeHead).
 */
async function withCors(
  config: JsonObject,
  run: (send: (method: string, headers: Record<string, string>) => Promise<Served>) => Promise<void>,
  lines: string[] = [],
): Promise<void> {
  const { logger, lines: logged } = memoryLogger('[KRAKEND]', 'DEBUG');
  const cors = createCors({ 'security/cors': config }, logger);
  assert.ok(cors);
  const server = createServer((req, res) => {
    if (cors.preflight(req, res)) return;
    cors.decorate(req, res);
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end('served');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    await run(async (method, headers) => {
      const res = await request(`${url}/anything`, { method: method as 'GET', headers });
      return { status: res.statusCode, headers: res.headers, body: await res.body.text() };
    });
  } finally {
    lines.push(...logged);
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** The CORS headers of a response, for compact assertions. */
function corsHeaders(res: Served): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(res.headers)) {
    if ((name.startsWith('access-control-') || name === 'vary') && value !== undefined) out[name] = value;
  }
  return out;
}

const PREFLIGHT_VARY = 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers';

describe('createCors', () => {
  test('is undefined without the security/cors namespace', () => {
    assert.equal(createCors({}), undefined);
    assert.equal(createCors({ 'security/cors': 'yes' }), undefined);
  });

  test('KrakenD’s defaults: every origin and header, GET/POST/HEAD, a 204 preflight, nothing exposed', async () => {
    await withCors({}, async (send) => {
      const pre = await send('OPTIONS', {
        Origin: 'https://app.example.com',
        'Access-Control-Request-Method': 'POST',
        'Access-Control-Request-Headers': 'authorization,x-anything',
      });
      assert.equal(pre.status, 204);
      assert.equal(pre.body, '');
      assert.deepEqual(corsHeaders(pre), {
        vary: PREFLIGHT_VARY,
        'access-control-allow-origin': '*',
        'access-control-allow-methods': 'POST',
        'access-control-allow-headers': 'authorization,x-anything',
      });

      const put = await send('OPTIONS', { Origin: 'https://app.example.com', 'Access-Control-Request-Method': 'PUT' });
      assert.equal(put.status, 204, 'a refused preflight is still answered, without the allow headers');
      assert.deepEqual(corsHeaders(put), { vary: PREFLIGHT_VARY });

      const actual = await send('GET', { Origin: 'https://app.example.com' });
      assert.equal(actual.status, 200);
      assert.equal(actual.body, 'served');
      assert.deepEqual(corsHeaders(actual), { vary: 'Origin', 'access-control-allow-origin': '*' });

      const sameOrigin = await send('GET', {});
      assert.deepEqual(corsHeaders(sameOrigin), { vary: 'Origin' });
    });
  });

  test('listed and wildcard origins match case-insensitively; others are served without CORS headers', async () => {
    const config = { allow_origins: ['https://Example.com', 'https://*.example.org', 'http://localhost:*'] };
    await withCors(config, async (send) => {
      const allowed = [
        'https://example.com',
        'HTTPS://EXAMPLE.COM',
        'https://api.example.org',
        'https://a.b.example.org',
        'http://localhost:3000',
      ];
      for (const origin of allowed) {
        const res = await send('GET', { Origin: origin });
        assert.equal(res.headers['access-control-allow-origin'], origin, `${origin} is allowed and echoed as sent`);
      }
      for (const origin of ['https://example.org', 'https://example.com.evil.net', 'http://example.com', 'null']) {
        const res = await send('GET', { Origin: origin });
        assert.equal(res.status, 200);
        assert.equal(res.body, 'served');
        assert.deepEqual(corsHeaders(res), { vary: 'Origin' }, `${origin} gets no CORS headers`);
      }
      const pre = await send('OPTIONS', { Origin: 'https://evil.net', 'Access-Control-Request-Method': 'GET' });
      assert.equal(pre.status, 204);
      assert.deepEqual(corsHeaders(pre), { vary: PREFLIGHT_VARY });
    });
  });

  test('methods are matched exactly; OPTIONS always passes; a refused method gets no headers', async () => {
    await withCors({ allow_methods: ['GET', 'PUT'] }, async (send) => {
      const origin = 'https://app.example.com';
      const put = await send('OPTIONS', { Origin: origin, 'Access-Control-Request-Method': 'PUT' });
      assert.equal(put.headers['access-control-allow-methods'], 'PUT');
      const del = await send('OPTIONS', { Origin: origin, 'Access-Control-Request-Method': 'DELETE' });
      assert.equal(del.headers['access-control-allow-methods'], undefined);
      const post = await send('POST', { Origin: origin });
      assert.equal(post.status, 200);
      assert.deepEqual(corsHeaders(post), { vary: 'Origin' });
      const options = await send('OPTIONS', { Origin: origin });
      // An OPTIONS without Access-Control-Request-Method is an actual request.
      assert.equal(options.headers['access-control-allow-origin'], '*');
    });
  });

  test('requested headers must all be allowed; they are echoed as sent', async () => {
    await withCors({ allow_headers: ['X-Custom', 'Content-Type'] }, async (send) => {
      const base = { Origin: 'https://app.example.com', 'Access-Control-Request-Method': 'GET' };
      const ok = await send('OPTIONS', { ...base, 'Access-Control-Request-Headers': 'content-type,x-custom' });
      assert.equal(ok.headers['access-control-allow-headers'], 'content-type,x-custom');
      const lenient = await send('OPTIONS', { ...base, 'Access-Control-Request-Headers': 'X-Custom, Content-Type' });
      assert.equal(lenient.headers['access-control-allow-headers'], 'X-Custom, Content-Type');
      const refused = await send('OPTIONS', { ...base, 'Access-Control-Request-Headers': 'x-custom,x-other' });
      assert.deepEqual(corsHeaders(refused), { vary: PREFLIGHT_VARY });
    });
  });

  test('credentials: the origin is echoed, and Access-Control-Allow-Credentials is sent', async () => {
    await withCors({ allow_origins: ['https://app.example.com'], allow_credentials: true }, async (send) => {
      const pre = await send('OPTIONS', { Origin: 'https://app.example.com', 'Access-Control-Request-Method': 'GET' });
      assert.equal(pre.headers['access-control-allow-origin'], 'https://app.example.com');
      assert.equal(pre.headers['access-control-allow-credentials'], 'true');
      const res = await send('GET', { Origin: 'https://app.example.com' });
      assert.equal(res.headers['access-control-allow-origin'], 'https://app.example.com');
      assert.equal(res.headers['access-control-allow-credentials'], 'true');
    });
  });

  test('"*" with credentials answers "*" as rs/cors does, and warns at start', async () => {
    const lines: string[] = [];
    await withCors(
      { allow_credentials: true },
      async (send) => {
        const res = await send('GET', { Origin: 'https://app.example.com' });
        assert.equal(res.headers['access-control-allow-origin'], '*');
        assert.equal(res.headers['access-control-allow-credentials'], 'true');
      },
      lines,
    );
    assert.ok(lines.some((l) => l.includes('WARNING') && l.includes('allow_credentials')));
  });

  test('max_age is sent in whole seconds on preflights only; negative sends 0, zero sends nothing', async () => {
    const cases: [string, string | undefined][] = [
      ['12h', '43200'],
      ['1.9s', '1'],
      ['-1s', '0'],
      ['0s', undefined],
    ];
    for (const [maxAge, expected] of cases) {
      await withCors({ max_age: maxAge }, async (send) => {
        const pre = await send('OPTIONS', { Origin: 'https://a.example', 'Access-Control-Request-Method': 'GET' });
        assert.equal(pre.headers['access-control-max-age'], expected, maxAge);
        const res = await send('GET', { Origin: 'https://a.example' });
        assert.equal(res.headers['access-control-max-age'], undefined);
      });
    }
  });

  test('expose_headers are sent canonicalised on actual requests', async () => {
    await withCors({ expose_headers: ['content-length', 'X-Request-Id'] }, async (send) => {
      const res = await send('GET', { Origin: 'https://a.example' });
      assert.equal(res.headers['access-control-expose-headers'], 'Content-Length, X-Request-Id');
    });
  });

  test('options_success_status sets the preflight status', async () => {
    await withCors({ options_success_status: 200 }, async (send) => {
      const pre = await send('OPTIONS', { Origin: 'https://a.example', 'Access-Control-Request-Method': 'GET' });
      assert.equal(pre.status, 200);
      assert.equal(pre.headers['content-length'], '0');
    });
  });

  test('options_passthrough sets the preflight headers and lets the router answer', async () => {
    await withCors({ options_passthrough: true }, async (send) => {
      const pre = await send('OPTIONS', { Origin: 'https://a.example', 'Access-Control-Request-Method': 'GET' });
      assert.equal(pre.status, 200);
      assert.equal(pre.body, 'served');
      assert.deepEqual(corsHeaders(pre), {
        vary: PREFLIGHT_VARY,
        'access-control-allow-origin': '*',
        'access-control-allow-methods': 'GET',
      });
    });
  });

  test('allow_private_network answers Access-Control-Request-Private-Network on preflights', async () => {
    await withCors({ allow_private_network: true }, async (send) => {
      const base = { Origin: 'https://a.example', 'Access-Control-Request-Method': 'GET' };
      const asked = await send('OPTIONS', { ...base, 'Access-Control-Request-Private-Network': 'true' });
      assert.equal(asked.headers['access-control-allow-private-network'], 'true');
      assert.equal(asked.headers['vary'], `${PREFLIGHT_VARY}, Access-Control-Request-Private-Network`);
      const notAsked = await send('OPTIONS', base);
      assert.equal(notAsked.headers['access-control-allow-private-network'], undefined);
    });
    await withCors({}, async (send) => {
      const res = await send('OPTIONS', {
        Origin: 'https://a.example',
        'Access-Control-Request-Method': 'GET',
        'Access-Control-Request-Private-Network': 'true',
      });
      assert.equal(res.headers['access-control-allow-private-network'], undefined, 'off by default');
    });
  });

  test('Vary is appended to, not replaced', () => {
    const cors = createCors({ 'security/cors': {} });
    assert.ok(cors);
    const req = new IncomingMessage(new Socket());
    req.method = 'GET';
    req.headersDistinct = { origin: ['https://a.example'] };
    const res = new ServerResponse(req);
    res.setHeader('Vary', 'Accept-Encoding');
    cors.decorate(req, res);
    assert.deepEqual(res.getHeader('vary'), ['Accept-Encoding', 'Origin']);
    assert.equal(res.getHeader('access-control-allow-origin'), '*');
  });

  test('debug traces each decision at DEBUG', async () => {
    const lines: string[] = [];
    await withCors(
      { allow_origins: ['https://a.example'], debug: true },
      async (send) => {
        await send('GET', { Origin: 'https://b.example' });
      },
      lines,
    );
    const expected = "DEBUG [SERVICE: Gin][CORS]   Actual request no headers added: origin 'https://b.example' not allowed";
    assert.ok(lines.some((l) => l.includes(expected)));
  });
});

describe('CORS configuration', () => {
  test('parses KrakenD’s settings', () => {
    const s = parseCorsConfig({
      'security/cors': {
        allow_origins: ['https://A.com', 'https://*.b.com'],
        allow_methods: ['GET'],
        allow_headers: ['X-One'],
        expose_headers: ['x-two'],
        max_age: '90s',
      },
    });
    assert.ok(s);
    assert.equal(s.allOrigins, false);
    assert.deepEqual([...s.origins], ['https://a.com']);
    assert.deepEqual(s.wildcards, [{ prefix: 'https://', suffix: '.b.com' }]);
    assert.deepEqual(s.methods, ['GET']);
    assert.deepEqual([...s.headers], ['x-one']);
    assert.equal(s.exposeHeaders, 'X-Two');
    assert.equal(s.maxAge, '90');
    assert.equal(s.optionsSuccessStatus, 204);
  });

  test('validation reports what KrakenD would skip, misread or never match', () => {
    assert.deepEqual(validateCors({}), []);
    assert.deepEqual(validateCors({ 'security/cors': { allow_origins: ['*'], max_age: '12h' } }), []);
    assert.deepEqual(validateCors({ 'security/cors': [] as never }), ['security/cors: must be an object']);
    assert.deepEqual(
      validateCors({
        'security/cors': {
          allowed_origins: ['https://a.com'],
          '@comment': 'ignored',
          allow_origins: ['https://a.com/', 'a.com', '*.a.com', 'https://*.*.a.com', 3],
          allow_methods: ['get', 'PUT'],
          allow_headers: 'X-One',
          expose_headers: ['bad header'],
          allow_credentials: 'true',
          max_age: 3600,
          options_success_status: 1000,
        },
      }),
      [
        'security/cors.allowed_origins is not a CORS option (known: allow_origins, allow_methods, allow_headers, ' +
          'expose_headers, allow_credentials, allow_private_network, options_passthrough, options_success_status, ' +
          'max_age, debug)',
        'security/cors.allow_origins[0] "https://a.com/" has a path: an origin is scheme://host[:port], so it never matches',
        'security/cors.allow_origins[1] "a.com" has no scheme: browsers send origins such as https://example.com, so it never matches',
        'security/cors.allow_origins[3] "https://*.*.a.com" has more than one "*": only one wildcard is supported, so it never matches',
        'security/cors.allow_origins[4] must be a string',
        'security/cors.allow_methods[0] "get" is not one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS (matching is case-sensitive)',
        'security/cors.allow_headers must be a list of strings',
        'security/cors.expose_headers[0] "bad header" is not a header name',
        'security/cors.allow_credentials must be true or false',
        'security/cors.max_age must be a duration string such as "12h"',
        'security/cors.options_success_status must be an HTTP status between 200 and 599',
      ],
    );
    const [badAge] = validateCors({ 'security/cors': { max_age: '12 hours' } });
    assert.match(badAge ?? '', /^security\/cors\.max_age: invalid duration/);
  });
});
