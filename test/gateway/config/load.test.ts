import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ErrorCode, isKrakendError } from '../../../src/base/errors.js';
import { formatIssue, formatIssues } from '../../../src/gateway/config/format-issues.js';
import {
  DEFAULT_GATEWAY_OPTIONS,
  KNOWN_NAMESPACES,
  canonicalHeaderKey,
  configOrThrow,
  loadConfigFile,
  parseConfigText,
  parseEndpointPath,
  sanitizeHost,
} from '../../../src/gateway/config/load.js';
import type { LoadResult } from '../../../src/gateway/config/load.js';
import type { ServiceConfig } from '../../../src/gateway/config/types.js';

// The compiled test runs from dist/test/gateway/config; fixtures stay in the source tree.
const FIXTURES = fileURLToPath(new URL('../../../../test/gateway/config/fixtures/', import.meta.url));

type Json = Record<string, unknown>;

function parse(doc: Json | string): LoadResult {
  return parseConfigText(typeof doc === 'string' ? doc : JSON.stringify(doc, null, 2), 'krakend.json');
}

/** A valid config with one endpoint, to which a test adds or overrides keys. */
function base(extra: Json = {}, endpoint: Json = {}, backend: Json = {}): Json {
  return {
    version: 3,
    host: ['http://api.internal:8000'],
    endpoints: [{ endpoint: '/users/{id}', backend: [{ url_pattern: '/users/{id}', ...backend }], ...endpoint }],
    ...extra,
  };
}

function valid(doc: Json | string): ServiceConfig {
  const result = parse(doc);
  assert.deepEqual(result.issues, [], formatIssues(result.issues));
  assert.ok(result.config);
  return result.config;
}

/** The issues as `path → message`, for exact assertions on paths. */
function issues(doc: Json | string): Array<[string, string]> {
  const result = parse(doc);
  assert.equal(result.config, undefined, 'a config with issues must not be returned');
  return result.issues.map((i) => [i.path, i.message]);
}

function onlyIssue(doc: Json | string): [string, string] {
  const found = issues(doc);
  assert.equal(found.length, 1, JSON.stringify(found, null, 2));
  return found[0] as [string, string];
}

function warnings(doc: Json | string): string[] {
  const result = parse(doc);
  assert.deepEqual(result.issues, [], formatIssues(result.issues));
  return result.warnings;
}

describe('parseConfigText: defaults', () => {
  it('applies every default and normalises a minimal config', () => {
    const config = valid({
      version: 3,
      host: ['localhost:8000'],
      endpoints: [{ endpoint: '/users/{id}', backend: [{ url_pattern: '/u/{id}' }] }],
    });
    const backend = {
      id: 'GET /users/{id}#0',
      index: 0,
      host: ['http://localhost:8000'],
      urlPattern: '/u/{id}',
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
    };
    assert.deepStrictEqual(config, {
      source: 'krakend.json',
      version: 3,
      name: '',
      port: 8080,
      address: undefined,
      host: ['http://localhost:8000'],
      timeout: 2000,
      cacheTtl: 0,
      outputEncoding: 'json',
      debugEndpoint: false,
      echoEndpoint: false,
      readTimeout: 0,
      writeTimeout: 0,
      idleTimeout: 0,
      readHeaderTimeout: 0,
      maxHeaderBytes: undefined,
      tls: undefined,
      gateway: {
        maxBackendBodySize: 10_485_760,
        maxRequestBodySize: 10_485_760,
        shutdownDelay: 0,
        drainTimeout: 10_000,
      },
      extraConfig: {},
      endpoints: [
        {
          id: 'GET /users/{id}',
          endpoint: '/users/{id}',
          method: 'GET',
          params: ['id'],
          backends: [backend],
          concurrentCalls: 1,
          timeout: 2000,
          cacheTtl: 0,
          inputQueryStrings: [],
          inputHeaders: [],
          outputEncoding: 'json',
          extraConfig: {},
        },
      ],
    });
  });

  it('returns a deeply frozen config', () => {
    const config = valid(base({ extra_config: { router: { x: { y: 1 } } } }));
    assert.ok(Object.isFrozen(config));
    assert.ok(Object.isFrozen(config.endpoints[0]?.backends[0]?.host));
    assert.ok(Object.isFrozen((config.extraConfig.router as Json).x));
  });

  it('lets endpoints inherit the service timeout, cache_ttl and output_encoding, and override them', () => {
    const config = valid({
      version: 3,
      host: ['api.internal'],
      timeout: '5s',
      cache_ttl: '1m',
      output_encoding: 'string',
      endpoints: [
        { endpoint: '/a', backend: [{ url_pattern: '/a' }] },
        { endpoint: '/b', timeout: '0s', backend: [{ url_pattern: '/b' }] },
        {
          endpoint: '/c',
          timeout: '750ms',
          cache_ttl: '10s',
          output_encoding: 'json-collection',
          backend: [{ url_pattern: '/c' }],
        },
      ],
    });
    const [a, b, c] = config.endpoints;
    assert.deepEqual([a?.timeout, a?.cacheTtl, a?.outputEncoding], [5000, 60_000, 'string']);
    assert.deepEqual([b?.timeout, b?.cacheTtl], [5000, 60_000], 'a zero duration inherits, as in Lura');
    assert.deepEqual([c?.timeout, c?.cacheTtl, c?.outputEncoding], [750, 10_000, 'json-collection']);
  });

  it('upper-cases methods and lets a backend default to its endpoint method', () => {
    const config = valid(base({}, { method: 'post' }, {}));
    const endpoint = config.endpoints[0];
    assert.equal(endpoint?.method, 'POST');
    assert.equal(endpoint?.id, 'POST /users/{id}');
    assert.equal(endpoint?.backends[0]?.method, 'POST');
    const other = valid(base({}, { method: 'post' }, { method: 'get' }));
    assert.equal(other.endpoints[0]?.backends[0]?.method, 'GET');
  });

  it('records params in declaration order', () => {
    const config = valid(base({}, { endpoint: '/shops/{shop}/items/{item-id}' }, { url_pattern: '/{shop}/{item-id}' }));
    assert.deepEqual(config.endpoints[0]?.params, ['shop', 'item-id']);
  });

  it('reads port, listen_ip, name, server timeouts, flags and max_header_bytes', () => {
    const config = valid(
      base({
        name: 'gw',
        port: 9090,
        listen_ip: '127.0.0.1',
        read_timeout: '1s',
        write_timeout: '2s',
        idle_timeout: '3s',
        read_header_timeout: '500ms',
        debug_endpoint: true,
        echo_endpoint: true,
        max_header_bytes: 65536,
      }),
    );
    assert.deepEqual(
      [config.name, config.port, config.address, config.readTimeout, config.writeTimeout, config.idleTimeout],
      ['gw', 9090, '127.0.0.1', 1000, 2000, 3000],
    );
    assert.deepEqual([config.readHeaderTimeout, config.debugEndpoint, config.echoEndpoint], [500, true, true]);
    assert.equal(config.maxHeaderBytes, 65536);
  });

  it('treats port 0 as unset (8080), as Lura does', () => {
    assert.equal(valid(base({ port: 0 })).port, 8080);
  });

  it('keeps input_query_strings as written', () => {
    const config = valid(base({}, { input_query_strings: ['page', 'Limit', '*'] }));
    assert.deepEqual(config.endpoints[0]?.inputQueryStrings, ['page', 'Limit', '*']);
  });

  it('reads backend data manipulation keys', () => {
    const config = valid(
      base({}, {}, { group: 'g', target: 'data', allow: ['a'], deny: ['b'], mapping: { a: 'z' }, is_collection: true }),
    );
    const b = config.endpoints[0]?.backends[0];
    assert.deepEqual([b?.group, b?.target, b?.allow, b?.deny, b?.mapping, b?.isCollection], [
      'g',
      'data',
      ['a'],
      ['b'],
      { a: 'z' },
      true,
    ]);
  });
});

describe('parseConfigText: headers', () => {
  it('canonicalises input_headers as Go textproto does, keeping "*"', () => {
    const headers = ['x-foo-bar', 'AUTHORIZATION', 'content-TYPE', '*', 'x-b3-traceid'];
    const config = valid(base({}, { input_headers: headers }));
    assert.deepEqual(config.endpoints[0]?.inputHeaders, [
      'X-Foo-Bar',
      'Authorization',
      'Content-Type',
      '*',
      'X-B3-Traceid',
    ]);
  });

  it('leaves names that are not HTTP tokens untouched, as Go does, and warns that they never match', () => {
    assert.equal(canonicalHeaderKey('bad header'), 'bad header');
    assert.equal(canonicalHeaderKey('üser-agent'), 'üser-agent');
    assert.equal(canonicalHeaderKey('-foo--bar-'), '-Foo--Bar-');
    const result = parse(base({}, { input_headers: ['bad header'] }));
    assert.deepEqual(result.warnings, [
      'krakend.json: endpoints[0].input_headers[0]: "bad header" is not a valid header name: it can never match',
    ]);
  });
});

describe('parseConfigText: hosts', () => {
  it('sanitises hosts as Lura does: http:// added, trailing slash removed', () => {
    const cases: Array<[string, string]> = [
      ['localhost:8080', 'http://localhost:8080'],
      ['api.internal', 'http://api.internal'],
      ['https://api.example.com/', 'https://api.example.com'],
      ['http://10.0.0.2:9000/', 'http://10.0.0.2:9000'],
      ['HTTPS://API.Example.com', 'https://api.example.com'],
      ['my_service:8080', 'http://my_service:8080'],
      ['[::1]:8080', 'http://[::1]:8080'],
    ];
    for (const [input, expected] of cases) assert.deepEqual(sanitizeHost(input), { ok: true, url: expected }, input);
  });

  it('refuses hosts that are not a base URL after sanitising', () => {
    const cases: Array<[string, string]> = [
      ['', 'empty host'],
      ['http://api /x', '"http://api /x" contains spaces'],
      ['ftp://files', '"ftp://files": unsupported scheme "ftp" (use http or https)'],
      ['a:70000', '"a:70000": port 70000 is out of range (1-65535)'],
      ['a:0', '"a:0": port 0 is out of range (1-65535)'],
      ['http://a:', '"http://a:": port (empty) is out of range (1-65535)'],
      [
        'http://api.internal/v1',
        '"http://api.internal/v1": a host cannot hold a path ("/v1"): move it to url_pattern, ' +
          'or set disable_host_sanitize to use the host verbatim',
      ],
      ['http://u:p@api', '"http://u:p@api": credentials in a host are not supported (use the backend/http namespace)'],
      ['http://exa mple', '"http://exa mple" contains spaces'],
      ['http://[::1', '"http://[::1" is not a valid host (expected e.g. "http://users.internal:8080")'],
    ];
    for (const [input, error] of cases) assert.deepEqual(sanitizeHost(input), { ok: false, error }, input);
  });

  it('sanitises service and backend hosts, and backends without a host use the service ones', () => {
    const config = valid({
      version: 3,
      host: ['svc-a:80', 'https://svc-b/'],
      endpoints: [
        {
          endpoint: '/a',
          backend: [
            { url_pattern: '/a' },
            { url_pattern: '/b', host: ['other:9000/'] },
            { url_pattern: '/c', host: [] },
          ],
        },
      ],
    });
    assert.deepEqual(config.host, ['http://svc-a', 'https://svc-b']);
    const [first, second, third] = config.endpoints[0]?.backends ?? [];
    assert.deepEqual(first?.host, ['http://svc-a', 'https://svc-b']);
    assert.deepEqual(second?.host, ['http://other:9000']);
    assert.deepEqual(third?.host, ['http://svc-a', 'https://svc-b'], 'an empty list is the zero value');
  });

  it('keeps the host verbatim with disable_host_sanitize, path included, but still wants an http(s) URL', () => {
    const config = valid(base({}, {}, { host: ['http://legacy.internal/api/'], disable_host_sanitize: true }));
    assert.deepEqual(config.endpoints[0]?.backends[0]?.host, ['http://legacy.internal/api/']);
    assert.equal(config.endpoints[0]?.backends[0]?.disableHostSanitize, true);
    assert.deepEqual(onlyIssue(base({}, {}, { host: ['legacy.internal'], disable_host_sanitize: true })), [
      'endpoints[0].backend[0].host[0]',
      '"legacy.internal" has no scheme: with disable_host_sanitize the host is used verbatim, so write ' +
        '"http://legacy.internal"',
    ]);
  });

  it('reports an invalid host at its exact path', () => {
    assert.deepEqual(issues(base({ host: ['ok:80', 'ftp://x'] }, {}, { host: ['b:99999'] })), [
      ['host[1]', '"ftp://x": unsupported scheme "ftp" (use http or https)'],
      ['endpoints[0].backend[0].host[0]', '"b:99999": port 99999 is out of range (1-65535)'],
    ]);
  });

  it('reports a backend with no host at all', () => {
    const doc = base({ host: undefined });
    assert.deepEqual(onlyIssue(doc), [
      'endpoints[0].backend[0]',
      'no host: set "host" on this backend, or a default "host" list at the top level',
    ]);
  });
});

describe('parseConfigText: version', () => {
  it('requires version 3', () => {
    assert.deepEqual(onlyIssue(base({ version: undefined })), [
      'version',
      'missing: krakend-cluster reads version 3 configs; add "version": 3',
    ]);
    assert.deepEqual(onlyIssue(base({ version: 4 })), [
      'version',
      'unsupported version 4: krakend-cluster reads version 3 configs',
    ]);
    assert.deepEqual(onlyIssue(base({ version: '3' })), ['version', 'expected the number 3, got the string "3"']);
  });

  it('explains how to migrate a version 2 config', () => {
    const [path, message] = onlyIssue(base({ version: 2 }));
    assert.equal(path, 'version');
    assert.match(message, /^version 2 is the syntax of KrakenD 1\.x: set "version": 3, then run KrakenD's migration/);
    assert.match(message, /krakend-config-migrator/);
    assert.match(message, /headers_to_pass → input_headers/);
  });
});

describe('parseConfigText: types', () => {
  it('reports wrong types with what was expected and what was found', () => {
    assert.deepEqual(
      issues({
        version: 3,
        port: '8080',
        name: 7,
        host: 'api.internal',
        debug_endpoint: 'yes',
        endpoints: [
          {
            endpoint: '/a',
            concurrent_calls: 1.5,
            input_headers: ['ok', 3],
            backend: [{ url_pattern: '/a', host: ['h'], is_collection: 1, mapping: { a: 1 }, extra_config: [] }],
          },
          'nope',
        ],
      }),
      [
        ['port', 'expected a whole number, got the string "8080"'],
        ['host', 'expected a list, got the string "api.internal"'],
        ['name', 'expected a string, got the number 7'],
        ['debug_endpoint', 'expected true or false, got the string "yes"'],
        ['endpoints[0].concurrent_calls', 'expected a whole number, got the number 1.5'],
        ['endpoints[0].input_headers[1]', 'expected a string, got the number 3'],
        ['endpoints[0].backend[0].extra_config', 'expected an object, got a list'],
        ['endpoints[0].backend[0].mapping.a', 'expected a string, got the number 1'],
        ['endpoints[0].backend[0].is_collection', 'expected true or false, got the number 1'],
        ['endpoints[1]', 'expected an endpoint object, got the string "nope"'],
      ],
    );
  });

  it('requires the document to be an object', () => {
    assert.deepEqual(onlyIssue('[1, 2]'), [
      '',
      'the top level must be a JSON object such as { "version": 3, "endpoints": [] }, got a list',
    ]);
  });

  it('treats null like an absent key, as Go does', () => {
    const config = valid(base({ timeout: null, tls: null, name: null }));
    assert.equal(config.timeout, 2000);
    assert.equal(config.tls, undefined);
  });
});

describe('parseConfigText: durations', () => {
  it('quotes a bad duration and shows valid ones', () => {
    assert.deepEqual(issues(base({ timeout: '2', cache_ttl: '5 minutes', read_timeout: '-1s' }, { timeout: 3000 })), [
      ['timeout', 'invalid duration "2": missing unit (use Go durations such as 150us, 2s or 1m30s)'],
      [
        'cache_ttl',
        'invalid duration "5 minutes": unknown unit or stray characters at "5 minutes" (use Go durations such as ' +
          '150us, 2s or 1m30s)',
      ],
      ['read_timeout', 'invalid duration "-1s": it must not be negative (use e.g. "2s")'],
      [
        'endpoints[0].timeout',
        'expected a duration such as "2s" or "1500ms", got the number 3000 (a duration needs a unit)',
      ],
    ]);
  });
});

describe('parseConfigText: encodings', () => {
  it('lists the valid output encodings for an unknown one', () => {
    assert.deepEqual(onlyIssue(base({}, { output_encoding: 'html' })), [
      'endpoints[0].output_encoding',
      'unknown encoding "html": use one of "json", "json-collection", "string", "no-op", "xml", "negotiate", "yaml"',
    ]);
  });

  it('lists the valid backend encodings for an unknown one', () => {
    assert.deepEqual(onlyIssue(base({}, {}, { encoding: 'protobuf' })), [
      'endpoints[0].backend[0].encoding',
      'unknown encoding "protobuf": use one of "json", "safejson", "string", "no-op", "xml", "rss"',
    ]);
  });

  it('refuses the KrakenD encodings that are not implemented yet rather than serving them as JSON', () => {
    // The Enterprise yaml backend decoder; yaml as an output encoding is implemented.
    const result = parse(base({}, { output_encoding: 'yaml' }, { encoding: 'yaml' }));
    assert.deepEqual(
      result.issues.map((i) => i.path),
      ['endpoints[0].backend[0].encoding'],
    );
    assert.match(result.issues[0]?.message ?? '', /not support yet/);
  });

  it('accepts the xml, rss, negotiate and yaml encodings', () => {
    const config = valid(base({ output_encoding: 'negotiate' }, { output_encoding: 'xml' }, { encoding: 'rss' }));
    assert.equal(config.endpoints[0]?.outputEncoding, 'xml');
    assert.equal(config.endpoints[0]?.backends[0]?.encoding, 'rss');
    const other = valid(base({ output_encoding: 'negotiate' }, { output_encoding: 'yaml' }, { encoding: 'xml' }));
    assert.equal(other.endpoints[0]?.outputEncoding, 'yaml');
    assert.equal(other.endpoints[0]?.backends[0]?.encoding, 'xml');
    assert.equal(valid(base({ output_encoding: 'negotiate' })).endpoints[0]?.outputEncoding, 'negotiate');
  });

  it('matches encodings case-insensitively and maps the Enterprise fast-json to json with a warning', () => {
    const result = parse(base({}, { output_encoding: 'fast-json' }, { encoding: 'XML' }));
    assert.deepEqual(result.issues, []);
    assert.equal(result.config?.endpoints[0]?.outputEncoding, 'json');
    assert.equal(result.config?.endpoints[0]?.backends[0]?.encoding, 'xml');
    assert.deepEqual(result.warnings, [
      'krakend.json: endpoints[0].output_encoding: "fast-json" is a KrakenD Enterprise encoding: "json" is used, ' +
        'with the same result',
    ]);
  });
});

describe('parseConfigText: params', () => {
  it('reports a url_pattern param the endpoint does not declare (Lura: undefined output param)', () => {
    assert.deepEqual(onlyIssue(base({}, { endpoint: '/users/{user}' }, { url_pattern: '/users/{id}' })), [
      'endpoints[0].backend[0].url_pattern',
      'undefined param {id}: the endpoint "/users/{user}" declares only {user}',
    ]);
    assert.deepEqual(onlyIssue(base({}, { endpoint: '/users' }, { url_pattern: '/users/{id}' })), [
      'endpoints[0].backend[0].url_pattern',
      'undefined param {id}: the endpoint "/users" declares no param',
    ]);
  });

  it('accepts params in the query part of a url_pattern and checks them too', () => {
    const config = valid(base({}, { endpoint: '/search/{term}' }, { url_pattern: '/find?q={term}&x=1' }));
    assert.equal(config.endpoints[0]?.backends[0]?.urlPattern, '/find?q={term}&x=1');
    assert.deepEqual(onlyIssue(base({}, {}, { url_pattern: '/find?q={term}' })), [
      'endpoints[0].backend[0].url_pattern',
      'undefined param {term}: the endpoint "/users/{id}" declares only {id}',
    ]);
  });

  it('adds the leading slash a url_pattern lacks, as Lura does, and refuses full URLs', () => {
    const config = valid(base({}, {}, { url_pattern: 'users/{id}' }));
    assert.equal(config.endpoints[0]?.backends[0]?.urlPattern, '/users/{id}');
    assert.deepEqual(onlyIssue(base({}, {}, { url_pattern: 'http://api/users' })), [
      'endpoints[0].backend[0].url_pattern',
      '"http://api/users" is a URL, but url_pattern is the path only: put the scheme and host in "host"',
    ]);
  });

  it('requires a url_pattern', () => {
    assert.deepEqual(onlyIssue(base({}, {}, { url_pattern: undefined })), [
      'endpoints[0].backend[0]',
      'missing "url_pattern": the path to call on the backend, such as "/users/{id}"',
    ]);
  });

  it('reports unbalanced braces in a url_pattern', () => {
    assert.deepEqual(onlyIssue(base({}, {}, { url_pattern: '/users/{id' })), [
      'endpoints[0].backend[0].url_pattern',
      'unbalanced "{" or "}": params are written {name}',
    ]);
  });

  it('accepts {respN_x} only in a sequential endpoint and from an earlier backend', () => {
    const sequential = { extra_config: { proxy: { sequential: true } } };
    const doc = (pattern: string, endpoint: Json) => ({
      version: 3,
      host: ['api'],
      endpoints: [
        { endpoint: '/o/{id}', ...endpoint, backend: [{ url_pattern: '/o/{id}' }, { url_pattern: pattern }] },
      ],
    });
    valid(doc('/c/{resp0_customer.id}', sequential));
    assert.deepEqual(onlyIssue(doc('/c/{resp0_customer}', {})), [
      'endpoints[0].backend[1].url_pattern',
      '{resp0_customer} reads a previous backend\'s response, which needs "sequential": true in the endpoint\'s ' +
        '"proxy" extra_config',
    ]);
    assert.deepEqual(onlyIssue(doc('/c/{resp1_customer}', sequential)), [
      'endpoints[0].backend[1].url_pattern',
      '{resp1_customer} reads the response of backend 1, but only the backends before this one (index 1) have answered',
    ]);
  });

  it('refuses JWT claim params, since auth/validator is not implemented', () => {
    assert.deepEqual(onlyIssue(base({}, {}, { url_pattern: '/u/{JWT.sub}' })), [
      'endpoints[0].backend[0].url_pattern',
      '{JWT.sub} reads a JWT claim, which needs the auth/validator namespace: not supported',
    ]);
  });
});

describe('parseConfigText: endpoint paths', () => {
  it('requires the path to start with "/"', () => {
    assert.deepEqual(onlyIssue(base({}, { endpoint: 'users/{id}' })), [
      'endpoints[0].endpoint',
      'an endpoint path must start with "/", got "users/{id}"',
    ]);
  });

  it('requires each param to be a whole path segment with a valid, unique name', () => {
    assert.deepEqual(parseEndpointPath('/files/{name}.json').problems, [
      '"{name}.json": a param must be a whole path segment, such as "/{id}/" (KrakenD\'s rule)',
    ]);
    assert.deepEqual(parseEndpointPath('/a/{x y}').problems, [
      'an endpoint path cannot contain spaces',
      'invalid param name "{x y}": use letters, digits, "_" and "-"',
    ]);
    assert.deepEqual(parseEndpointPath('/a/{id}/b/{id}').problems, ['the param {id} is declared twice']);
    assert.deepEqual(parseEndpointPath('/a/{id}/b/{Other_1-x}'), { params: ['id', 'Other_1-x'], problems: [] });
  });

  it('refuses router syntax KrakenD does not accept, and reserved paths', () => {
    assert.deepEqual(parseEndpointPath('/a/:id').problems, [
      'an endpoint path cannot contain ":": declare params as {name}',
    ]);
    assert.deepEqual(parseEndpointPath('/a?b=1').problems, [
      'an endpoint path cannot hold a query string ("?"): list forwarded ones in "input_query_strings"',
    ]);
    assert.deepEqual(parseEndpointPath('/static/*').problems, [
      'wildcard endpoints ("/*") are a KrakenD Enterprise feature and are not supported',
    ]);
    assert.deepEqual(parseEndpointPath('/__health').problems, [
      '"/__health" is reserved for the gateway\'s own endpoints',
    ]);
  });

  it('requires an endpoint path', () => {
    assert.deepEqual(onlyIssue(base({}, { endpoint: undefined })), [
      'endpoints[0]',
      'missing "endpoint": the path to expose, such as "/users/{id}"',
    ]);
  });

  it('accepts only the methods KrakenD routes', () => {
    assert.deepEqual(onlyIssue(base({}, { method: 'head' })), [
      'endpoints[0].method',
      'unsupported method "HEAD": an endpoint accepts GET, POST, PUT, PATCH, DELETE',
    ]);
    assert.equal(valid(base({}, { method: 'GET' }, { method: 'head' })).endpoints[0]?.backends[0]?.method, 'HEAD');
  });
});

describe('parseConfigText: endpoints', () => {
  it('reports a duplicate endpoint and method, also when only the param names differ', () => {
    const doc = {
      version: 3,
      host: ['api'],
      endpoints: [
        { endpoint: '/users/{id}', backend: [{ url_pattern: '/u' }] },
        { endpoint: '/users/{id}', method: 'POST', backend: [{ url_pattern: '/u' }] },
        { endpoint: '/users/{id}', method: 'get', backend: [{ url_pattern: '/u' }] },
        { endpoint: '/users/{user}', backend: [{ url_pattern: '/u' }] },
      ],
    };
    assert.deepEqual(issues(doc), [
      ['endpoints[2].endpoint', 'duplicate endpoint: GET /users/{id} is already declared at endpoints[0]'],
      [
        'endpoints[3].endpoint',
        'duplicate endpoint: GET /users/{user} is the same route as GET /users/{id} at endpoints[0] ' +
          '(params differ only by name)',
      ],
    ]);
  });

  it('reports an endpoint with no backend, missing or empty', () => {
    assert.deepEqual(onlyIssue(base({}, { backend: [] })), [
      'endpoints[0].backend',
      'no backend: an endpoint needs at least one backend',
    ]);
    assert.deepEqual(onlyIssue(base({}, { backend: undefined })), [
      'endpoints[0]',
      'no backend: an endpoint needs a "backend" list with at least one backend',
    ]);
  });

  it('requires concurrent_calls to be 1 or more', () => {
    assert.deepEqual(onlyIssue(base({}, { concurrent_calls: 0 })), [
      'endpoints[0].concurrent_calls',
      'must be 1 or more, got 0 (remove it for the default, 1)',
    ]);
    assert.equal(valid(base({}, { concurrent_calls: 3 })).endpoints[0]?.concurrentCalls, 3);
  });

  it('warns when there is no endpoint at all', () => {
    assert.deepEqual(warnings({ version: 3 }), [
      'krakend.json: endpoints: no endpoint is declared: the gateway serves only its own paths (/__health)',
    ]);
  });
});

describe('parseConfigText: no-op', () => {
  it('defaults the backend of a no-op endpoint to no-op, as Lura does', () => {
    const config = valid(base({}, { output_encoding: 'no-op' }));
    assert.equal(config.endpoints[0]?.backends[0]?.encoding, 'no-op');
  });

  it('refuses a no-op endpoint with more than one backend', () => {
    const doc = base({}, { output_encoding: 'no-op', backend: [{ url_pattern: '/a' }, { url_pattern: '/b' }] });
    assert.deepEqual(onlyIssue(doc), [
      'endpoints[0].backend',
      'a no-op endpoint proxies to exactly one backend, found 2: split it into several endpoints, or use another ' +
        'output_encoding to merge them',
    ]);
  });

  it('refuses a no-op endpoint whose backend declares another encoding, and the reverse', () => {
    assert.deepEqual(onlyIssue(base({}, { output_encoding: 'no-op' }, { encoding: 'json' })), [
      'endpoints[0].backend[0].encoding',
      'a no-op endpoint needs a no-op backend, got "json": set "encoding": "no-op" (or remove it), or change the ' +
        'endpoint\'s output_encoding',
    ]);
    assert.deepEqual(onlyIssue(base({}, {}, { encoding: 'no-op' })), [
      'endpoints[0].backend[0].encoding',
      'a no-op backend needs a no-op endpoint: set "output_encoding": "no-op" on the endpoint too (KrakenD requires ' +
        'both), or use another encoding',
    ]);
  });

  it('warns about manipulations and concurrency a no-op endpoint ignores', () => {
    const doc = base({}, { output_encoding: 'no-op', concurrent_calls: 2 }, { group: 'g', allow: ['a'] });
    assert.deepEqual(warnings(doc), [
      'krakend.json: endpoints[0].concurrent_calls: is ignored on a no-op endpoint: each request is proxied once',
      'krakend.json: endpoints[0].backend[0].group: is ignored: a no-op backend\'s response is passed through untouched',
      'krakend.json: endpoints[0].backend[0].allow: is ignored: a no-op backend\'s response is passed through untouched',
    ]);
  });
});

describe('parseConfigText: ports', () => {
  it('reports a service port out of range', () => {
    assert.deepEqual(onlyIssue(base({ port: 70000 })), ['port', 'port 70000 is out of range (1-65535)']);
    assert.deepEqual(onlyIssue(base({ port: -1 })), ['port', 'port -1 is out of range (1-65535)']);
  });

  it('reports a listen_ip that is not an IP address', () => {
    assert.deepEqual(onlyIssue(base({ listen_ip: 'localhost' })), [
      'listen_ip',
      '"localhost" is not an IP address (e.g. "0.0.0.0", "127.0.0.1" or "::")',
    ]);
  });
});

describe('parseConfigText: service discovery', () => {
  it('accepts sd "static" and names dns as not supported yet', () => {
    valid(base({}, {}, { sd: 'static' }));
    assert.deepEqual(onlyIssue(base({}, {}, { sd: 'dns' })), [
      'endpoints[0].backend[0].sd',
      'service discovery "dns" (DNS SRV) is not supported yet: use "static" and list the hosts, or put one DNS ' +
        'name in "host" (resolved by the system on each connection)',
    ]);
    assert.deepEqual(onlyIssue(base({}, {}, { sd: 'consul' })), [
      'endpoints[0].backend[0].sd',
      'unknown service discovery "consul": only "static" is supported',
    ]);
  });
});

describe('parseConfigText: unknown and unsupported keys', () => {
  it('warns once per unknown key, suggesting the key a typo meant', () => {
    assert.deepEqual(warnings(base({ tiemout: '3s' }, { metod: 'GET' }, { url_patern: '/x', colour: 'red' })), [
      'krakend.json: unknown key "tiemout" is ignored (did you mean "timeout"?)',
      'krakend.json: endpoints[0]: unknown key "metod" is ignored (did you mean "method"?)',
      'krakend.json: endpoints[0].backend[0]: unknown key "url_patern" is ignored (did you mean "url_pattern"?)',
      'krakend.json: endpoints[0].backend[0]: unknown key "colour" is ignored',
    ]);
  });

  it('is not fooled by keys named after Object.prototype members', () => {
    assert.deepEqual(warnings(base({ constructor: 1 }, {}, { toString: 'x' })), [
      'krakend.json: unknown key "constructor" is ignored',
      'krakend.json: endpoints[0].backend[0]: unknown key "toString" is ignored',
    ]);
    const config = valid(base({}, {}, { mapping: JSON.parse('{"__proto__": "proto", "a": "b"}') as Json }));
    assert.deepEqual(Object.keys(config.endpoints[0]?.backends[0]?.mapping ?? {}), ['__proto__', 'a']);
    assert.deepEqual(onlyIssue(base({ tls: { public_key: 'c', private_key: 'k', min_version: 'constructor' } })), [
      'tls.min_version',
      'unknown TLS version "constructor": use "TLS12" or "TLS13"',
    ]);
  });

  it('ignores comment keys silently, as KrakenD\'s schema allows', () => {
    assert.deepEqual(
      warnings(base({ $schema: 'x', '@comment': 'c' }, { _note: 1 }, { '#todo': 'x', extra_config: { '@c': 1 } })),
      [],
    );
  });

  it('refuses service keys whose absence would change what is served', () => {
    assert.deepEqual(
      issues(
        base({
          client_tls: { allow_insecure_connections: true },
          plugin: { folder: './plugins/', pattern: '.so' },
          async_agent: [{ name: 'a' }],
          disable_rest: true,
          use_h2c: true,
        }),
      ).map(([path]) => path),
      ['client_tls', 'plugin', 'async_agent', 'disable_rest', 'use_h2c'],
    );
    assert.deepEqual(onlyIssue(base({ plugin: { folder: './p/' } })), [
      'plugin',
      'Go plugins cannot be loaded by krakend-cluster: remove "plugin" and what depends on it',
    ]);
  });

  it('warns about tuning keys it does not apply, and says nothing of zero values', () => {
    const doc = base({ max_idle_connections_per_host: 100, disable_rest: false, dialer_timeout: '0s' });
    assert.deepEqual(warnings(doc), [
      'krakend.json: max_idle_connections_per_host: is not applied yet: connections to backends use the HTTP ' +
        'client settings of krakend-cluster',
    ]);
    assert.deepEqual(warnings(base({}, {}, { sd_scheme: 'https' })), [
      'krakend.json: endpoints[0].backend[0].sd_scheme: only applies to sd "dns", which is not supported: ignored',
    ]);
  });

  it('refuses the version 2 names KrakenD 2 silently ignores', () => {
    assert.deepEqual(
      issues(
        base(
          {},
          { headers_to_pass: ['Authorization'], querystring_params: ['q'] },
          { whitelist: ['a'], blacklist: ['b'] },
        ),
      ),
      [
        [
          'endpoints[0].headers_to_pass',
          'was renamed "input_headers" in version 3 and KrakenD ignores the old name (these headers would not be ' +
            'forwarded): rename it',
        ],
        [
          'endpoints[0].querystring_params',
          'was renamed "input_query_strings" in version 3 and KrakenD ignores the old name (these query strings ' +
            'would not be forwarded): rename it',
        ],
        [
          'endpoints[0].backend[0].whitelist',
          'was renamed "allow" in version 3 and KrakenD ignores the old name (the response would not be ' +
            'filtered): rename it',
        ],
        [
          'endpoints[0].backend[0].blacklist',
          'was renamed "deny" in version 3 and KrakenD ignores the old name (these fields would be returned): rename it',
        ],
      ],
    );
  });

  it('refuses backend-level header and query string filters', () => {
    assert.deepEqual(onlyIssue(base({}, {}, { input_headers: ['X-A'] })), [
      'endpoints[0].backend[0].input_headers',
      'backend-level filtering is not supported yet: filter with the endpoint\'s list instead (ignoring it would ' +
        'forward more than this backend allows)',
    ]);
  });
});

describe('parseConfigText: extra_config namespaces', () => {
  it('exports the implemented namespaces', () => {
    for (const ns of [
      'router',
      'security/cors',
      'qos/ratelimit/router',
      'qos/ratelimit/proxy',
      'qos/circuit-breaker',
      'backend/http',
      'proxy',
      'krakend-cluster/gateway',
    ]) {
      assert.ok(KNOWN_NAMESPACES.has(ns), ns);
    }
  });

  it('warns once per unknown namespace, listing where it appears', () => {
    const doc = base(
      { extra_config: { 'telemetry/logging': { level: 'INFO' } } },
      { extra_config: { 'telemetry/logging': {}, 'modifier/lua-endpoint': {} } },
      { extra_config: { 'telemetry/logging': {} } },
    );
    assert.deepEqual(warnings(doc), [
      'krakend.json: extra_config namespace "telemetry/logging" is not implemented by krakend-cluster and is ' +
        'ignored (in extra_config, endpoints[0].extra_config, endpoints[0].backend[0].extra_config)',
      'krakend.json: extra_config namespace "modifier/lua-endpoint" is not implemented by krakend-cluster and is ' +
        'ignored (in endpoints[0].extra_config)',
    ]);
  });

  it('points version 2 namespace names to the migration tool', () => {
    const doc = base({}, { extra_config: { 'github_com/devopsfaith/krakend-ratelimit/juju/router': { maxRate: 5 } } });
    assert.deepEqual(warnings(doc), [
      'krakend.json: extra_config namespace "github_com/devopsfaith/krakend-ratelimit/juju/router" is not ' +
        'implemented by krakend-cluster and is ignored (in endpoints[0].extra_config): a version 2 name, which ' +
        'KrakenD\'s migration tool renames to the version 3 one',
    ]);
  });

  it('keeps unknown namespaces in extraConfig, untouched', () => {
    const config = parse(base({ extra_config: { 'telemetry/logging': { level: 'INFO' } } })).config;
    assert.deepEqual(config?.extraConfig, { 'telemetry/logging': { level: 'INFO' } });
  });

  it('treats a namespace registered later as known', () => {
    const doc = base({}, { extra_config: { 'test/registered-later': {} } });
    assert.equal(warnings(doc).length, 1);
    KNOWN_NAMESPACES.add('test/registered-later');
    try {
      assert.deepEqual(warnings(doc), []);
    } finally {
      KNOWN_NAMESPACES.delete('test/registered-later');
    }
  });

  it('refuses protective namespaces it does not implement, wherever they appear (fail closed)', () => {
    const doc = base(
      { extra_config: { 'security/http': {} } },
      { extra_config: { 'auth/validator': { alg: 'RS256' }, 'github.com/devopsfaith/krakend-jose/validator': {} } },
    );
    assert.deepEqual(issues(doc), [
      [
        'extra_config["security/http"]',
        'namespace "security/http" is not implemented by krakend-cluster, and ignoring it would serve this without ' +
          'the protection it declares: remove it, or protect the API in front of the gateway',
      ],
      [
        'endpoints[0].extra_config["auth/validator"]',
        'namespace "auth/validator" is not implemented by krakend-cluster, and ignoring it would serve this ' +
          'without the protection it declares: remove it, or protect the API in front of the gateway',
      ],
      [
        'endpoints[0].extra_config["github.com/devopsfaith/krakend-jose/validator"]',
        'namespace "github.com/devopsfaith/krakend-jose/validator" is not implemented by krakend-cluster, and ' +
          'ignoring it would serve this without the protection it declares: remove it, or protect the API in ' +
          'front of the gateway',
      ],
    ]);
  });

  it('reads the krakend-cluster/gateway namespace into typed options', () => {
    const config = valid(
      base({
        extra_config: {
          'krakend-cluster/gateway': {
            max_backend_body_size: 1024,
            max_request_body_size: 2048,
            shutdown_delay: '5s',
            drain_timeout: '1m',
          },
        },
      }),
    );
    assert.deepEqual(config.gateway, {
      maxBackendBodySize: 1024,
      maxRequestBodySize: 2048,
      shutdownDelay: 5000,
      drainTimeout: 60_000,
    });
    assert.deepEqual(valid(base()).gateway, DEFAULT_GATEWAY_OPTIONS);
  });

  it('validates the krakend-cluster/gateway namespace', () => {
    const ns = 'extra_config["krakend-cluster/gateway"]';
    const result = parse(
      base({
        extra_config: {
          'krakend-cluster/gateway': {
            max_backend_body_size: '10MB',
            max_request_body_size: 0,
            drain_timeout: 10,
            shutdown_dely: '1s',
          },
        },
      }),
    );
    assert.deepEqual(
      result.issues.map((i) => [i.path, i.message]),
      [
        [
          `${ns}.max_backend_body_size`,
          'expected a positive number of bytes such as 10485760 (10 MiB), got the string "10MB" (units are not accepted)',
        ],
        [
          `${ns}.max_request_body_size`,
          'expected a positive number of bytes such as 10485760 (10 MiB), got the number 0',
        ],
        [
          `${ns}.drain_timeout`,
          'expected a duration such as "2s" or "1500ms", got the number 10 (a duration needs a unit)',
        ],
      ],
    );
    assert.deepEqual(result.warnings, [
      `krakend.json: ${ns}: unknown key "shutdown_dely" is ignored (did you mean "shutdown_delay"?)`,
    ]);
  });

  it('warns when the krakend-cluster/gateway namespace is not at the top level', () => {
    assert.deepEqual(warnings(base({}, { extra_config: { 'krakend-cluster/gateway': {} } })), [
      'krakend.json: endpoints[0].extra_config["krakend-cluster/gateway"]: is only read in the top-level ' +
        'extra_config: ignored here',
    ]);
  });
});

describe('parseConfigText: TLS', () => {
  it('reads public_key and private_key, defaulting to TLS 1.3 only as KrakenD does', () => {
    const config = valid(base({ tls: { public_key: 'cert.pem', private_key: 'key.pem' } }));
    assert.deepEqual(config.tls, {
      publicKey: 'cert.pem',
      privateKey: 'key.pem',
      minVersion: 'TLSv1.3',
      maxVersion: 'TLSv1.3',
    });
  });

  it('maps min_version and max_version', () => {
    const tls = { public_key: 'c', private_key: 'k', min_version: 'TLS12', max_version: 'TLS13' };
    const config = valid(base({ tls }));
    assert.equal(config.tls?.minVersion, 'TLSv1.2');
    assert.equal(config.tls?.maxVersion, 'TLSv1.3');
  });

  it('takes the first pair of a keys list and warns about the others', () => {
    const result = parse(
      base({
        tls: {
          keys: [
            { public_key: 'a.pem', private_key: 'a.key' },
            { public_key: 'b.pem', private_key: 'b.key' },
          ],
        },
      }),
    );
    assert.deepEqual(result.issues, []);
    assert.equal(result.config?.tls?.publicKey, 'a.pem');
    assert.equal(result.config?.tls?.privateKey, 'a.key');
    assert.deepEqual(result.warnings, [
      'krakend.json: tls: 2 certificates are declared but only the first (tls.keys[0]) is served: choosing a ' +
        'certificate by SNI is not supported yet',
    ]);
  });

  it('means no TLS when disabled, without requiring keys', () => {
    assert.equal(valid(base({ tls: { disabled: true } })).tls, undefined);
    assert.equal(valid(base({ tls: { disabled: true, public_key: 'c', private_key: 'k' } })).tls, undefined);
  });

  it('reports missing keys, obsolete or unknown versions and impossible ranges', () => {
    assert.deepEqual(onlyIssue(base({ tls: {} })), [
      'tls',
      'TLS is enabled but no certificate is set: add "public_key" and "private_key" (or a "keys" list), or set ' +
        '"disabled": true',
    ]);
    assert.deepEqual(onlyIssue(base({ tls: { public_key: 'c' } })), [
      'tls',
      'missing "private_key" (path to the PEM private key)',
    ]);
    assert.deepEqual(onlyIssue(base({ tls: { public_key: 'c', private_key: 'k', min_version: 'TLS10' } })), [
      'tls.min_version',
      '"TLS10" is not supported: SSL 3.0, TLS 1.0 and 1.1 are obsolete and insecure; use "TLS12" or "TLS13"',
    ]);
    assert.deepEqual(onlyIssue(base({ tls: { public_key: 'c', private_key: 'k', max_version: 'TLSv1.2' } })), [
      'tls.max_version',
      'unknown TLS version "TLSv1.2": use "TLS12" or "TLS13"',
    ]);
    assert.deepEqual(onlyIssue(base({ tls: { public_key: 'c', private_key: 'k', max_version: 'TLS12' } })), [
      'tls.min_version',
      'min_version (TLS13, the default) is above max_version: no client could connect',
    ]);
  });

  it('refuses mTLS and custom cipher suites, accepts the TLS 1.3 suites, warns about the rest', () => {
    const tls = { public_key: 'c', private_key: 'k' };
    assert.deepEqual(issues(base({ tls: { ...tls, enable_mtls: true, cipher_suites: [49199] } })).map(([p]) => p), [
      'tls.enable_mtls',
      'tls.cipher_suites',
    ]);
    assert.deepEqual(
      warnings(
        base({ tls: { ...tls, cipher_suites: [4865, 4866, 4867], curve_preferences: [23], ca_certs: ['ca.pem'] } }),
      ),
      [
        'krakend.json: tls.curve_preferences: is not applied: Node\'s default curves (X25519, P-256, P-384) are used',
        'krakend.json: tls.ca_certs: is only used with enable_mtls: ignored',
      ],
    );
  });
});

describe('parseConfigText: several issues', () => {
  it('collects every issue in one pass, each with its own path', () => {
    const found = issues({
      version: 2,
      port: 99999,
      timeout: '2 seconds',
      endpoints: [
        { endpoint: 'no-slash', backend: [{ url_pattern: '/x/{id}', host: ['h'] }] },
        { endpoint: '/b', backend: [] },
        { endpoint: '/c', concurrent_calls: -2, backend: [{ url_pattern: '/c', sd: 'dns' }] },
      ],
    });
    assert.deepEqual(
      found.map(([path]) => path),
      [
        'version',
        'port',
        'timeout',
        'endpoints[0].endpoint',
        'endpoints[0].backend[0].url_pattern',
        'endpoints[1].backend',
        'endpoints[2].concurrent_calls',
        'endpoints[2].backend[0]',
        'endpoints[2].backend[0].sd',
      ],
    );
  });
});

describe('parseConfigText: JSON syntax', () => {
  const cases: Array<[string, string, string]> = [
    [
      'a trailing comma in an object',
      '{\n  "version": 3,\n  "port": 8080,\n}',
      '4:1: unexpected "}" (a trailing comma?)',
    ],
    ['a trailing comma in a list', '{\n  "host": [\n    "a",\n    ]\n}', '4:5: unexpected "]" (a trailing comma?)'],
    [
      'a missing comma',
      '{\n  "version": 3\n  "port": 8080\n}',
      '3:3: expected "," or "}" after a property value (a missing comma?)',
    ],
    [
      'an unclosed bracket',
      '{\n  "endpoints": [\n',
      '3:1: unexpected end of file: the "[" opened at 2:16 is never closed',
    ],
    ['a comment', '{\n  // port\n  "port": 1\n}', '2:3: comments are not allowed in JSON'],
    ['single quotes', "{\n  'port': 1\n}", '2:3: property names must be in double quotes, not single quotes'],
    ['an unquoted key', '{ port: 1 }', '1:3: property names must be in double quotes (found port)'],
    ['an unquoted value', '{ "name": gateway }', '1:11: unexpected token "gateway" (strings must be in double quotes)'],
    [
      'a capitalised literal',
      '{ "debug_endpoint": True }',
      '1:21: unexpected token "True" (JSON literals are lower-case: true, false, null)',
    ],
    ['a leading zero', '{ "port": 08080 }', '1:11: invalid number "08080" (leading zeros are not allowed)'],
    [
      'a bad escape',
      '{ "public_key": "C:\\certs" }',
      '1:20: invalid escape "\\c" in a string (a backslash is written "\\\\", e.g. "C:\\\\certs")',
    ],
    ['an unterminated string', '{ "name": "gw\n}', '1:11: unterminated string (a string cannot span lines)'],
    ['a missing colon', '{ "name" "gw" }', '1:10: expected ":" after the property name "name", found """'],
    [
      'trailing content',
      '{ "version": 3 }\n{}',
      '2:1: unexpected "{" after the end of the JSON document (one object per file)',
    ],
    ['an empty file', '  \n', '1:1: the file is empty: a krakend.json holds one JSON object'],
  ];
  for (const [what, text, expected] of cases) {
    it(`reports ${what} with line and column`, () => {
      const result = parse(text);
      assert.equal(result.config, undefined);
      assert.equal(result.issues.length, 1);
      assert.equal(formatIssue(result.issues[0]!), `krakend.json:${expected}`);
    });
  }

  it('puts line and column in the issue itself', () => {
    const [issue] = parse('{\n  "a": 1,\n}').issues;
    assert.deepEqual(issue, {
      file: 'krakend.json',
      path: '',
      message: 'unexpected "}" (a trailing comma?)',
      line: 3,
      column: 1,
    });
  });

  it('accepts a byte order mark', () => {
    valid(`\ufeff${JSON.stringify(base())}`);
  });

  it('warns about duplicate keys, since the last one silently wins', () => {
    const result = parse('{\n  "version": 3,\n  "timeout": "1s",\n  "timeout": "5s"\n}');
    assert.equal(result.config?.timeout, 5000);
    assert.deepEqual(result.warnings.filter((w) => w.includes('duplicate')), [
      'krakend.json:4:3: duplicate key "timeout": the last value wins',
    ]);
  });
});

describe('a realistic KrakenD config', () => {
  it('loads with no issue and no warning', async () => {
    const result = await loadConfigFile(join(FIXTURES, 'realistic.json'));
    assert.deepEqual(result.issues, [], formatIssues(result.issues));
    assert.deepEqual(result.warnings, []);
    const config = result.config;
    assert.ok(config);
    assert.equal(config.name, 'Shop API gateway');
    assert.deepEqual(config.host, ['http://users.internal:8000', 'https://users-2.internal']);
    assert.deepEqual(config.gateway, {
      maxBackendBodySize: 5_242_880,
      maxRequestBodySize: 10_485_760,
      shutdownDelay: 5000,
      drainTimeout: 30_000,
    });
    assert.deepEqual(
      config.endpoints.map((e) => e.id),
      [
        'GET /v1/users/{user}',
        'POST /v1/users',
        'GET /v1/search',
        'GET /v1/orders/{id}',
        'GET /v1/feed',
        'PUT /v1/files/{name}',
      ],
    );
    const [users, create, search, orders, feed, files] = config.endpoints;
    assert.deepEqual(users?.inputHeaders, ['Authorization', 'X-Request-Id']);
    assert.deepEqual(users?.backends.map((b) => b.id), ['GET /v1/users/{user}#0', 'GET /v1/users/{user}#1']);
    assert.deepEqual(users?.backends[1]?.host, ['http://orders.internal:9000']);
    assert.equal(create?.backends[0]?.method, 'POST');
    assert.deepEqual(
      [search?.timeout, search?.cacheTtl, search?.inputQueryStrings],
      [1500, 60_000, ['q', 'page', 'limit']],
    );
    assert.deepEqual([users?.timeout, users?.cacheTtl], [3000, 300_000]);
    assert.equal(orders?.backends[1]?.urlPattern, '/users/{resp0_customer_id}');
    assert.equal(feed?.backends[0]?.encoding, 'string');
    assert.deepEqual(
      [files?.outputEncoding, files?.backends[0]?.encoding, files?.inputHeaders],
      ['no-op', 'no-op', ['*']],
    );
  });
});

describe('loadConfigFile', () => {
  it('reports a missing file as an issue naming it', async () => {
    const path = join(tmpdir(), 'krakend-cluster-does-not-exist', 'krakend.json');
    const result = await loadConfigFile(path);
    assert.equal(result.config, undefined);
    assert.deepEqual(result.issues, [
      { file: path, path: '', message: 'cannot read the config file: it does not exist' },
    ]);
    assert.equal(formatIssues(result.issues), `${path}: cannot read the config file: it does not exist`);
  });

  it('reports a directory as an issue naming it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'krakend-cluster-config-'));
    try {
      const result = await loadConfigFile(dir);
      assert.deepEqual(result.issues, [
        { file: dir, path: '', message: 'cannot read the config file: it is a directory' },
      ]);
    } finally {
      await rm(dir, { recursive: true });
    }
  });

  it('names the file it read in issues and in config.source', async () => {
    const path = join(FIXTURES, 'realistic.json');
    assert.equal((await loadConfigFile(path)).config?.source, path);
  });
});

describe('formatIssue and configOrThrow', () => {
  it('formats issues with a path, a position, or neither', () => {
    assert.equal(
      formatIssue({
        file: 'krakend.json',
        path: 'endpoints[3].backend[0].url_pattern',
        message: 'undefined param {id}: the endpoint "/users/{user}" declares only {user}',
      }),
      'krakend.json: endpoints[3].backend[0].url_pattern: undefined param {id}: the endpoint "/users/{user}" declares only {user}',
    );
    assert.equal(
      formatIssue({
        file: 'krakend.json',
        path: '',
        message: 'unexpected "}" (a trailing comma?)',
        line: 12,
        column: 5,
      }),
      'krakend.json:12:5: unexpected "}" (a trailing comma?)',
    );
    assert.equal(formatIssue({ file: 'k.json', path: '', message: 'm' }), 'k.json: m');
    assert.equal(
      formatIssues([
        { file: 'k.json', path: 'a', message: 'x' },
        { file: 'k.json', path: 'b', message: 'y' },
      ]),
      'k.json: a: x\nk.json: b: y',
    );
  });

  it('returns the config, or throws one E_CONFIG_INVALID error listing every issue', () => {
    assert.equal(configOrThrow(parse(base())).port, 8080);
    assert.throws(
      () => configOrThrow(parse(base({ port: 70000, version: 1 }))),
      (err: unknown) => {
        assert.ok(isKrakendError(err, ErrorCode.ConfigInvalid));
        assert.match(err.message, /^invalid configuration \(2 problems\):\n/);
        assert.match(err.message, /\nkrakend\.json: port: port 70000 is out of range \(1-65535\)$/);
        return true;
      },
    );
  });
});
