import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { diffJson, formatDiff, MAX_VALUE_CHARS } from '../../../src/cluster/manager/json-diff.js';
import type { DiffEntry } from '../../../src/cluster/manager/json-diff.js';
import { parseJson } from '../../../src/gateway/json/parse.js';

/** Diffs two JSON texts and renders the result, which is what the tables compare. */
function diffText(a: string, b: string): string {
  return formatDiff(diffJson(parseJson(a), parseJson(b)));
}

describe('diffJson', () => {
  const cases: Array<{ name: string; a: string; b: string; want: string }> = [
    { name: 'identical documents have no entries', a: '{"a":1,"b":[1,2]}', b: '{"b":[1,2],"a":1}', want: '' },
    { name: 'a changed scalar', a: '{"timeout":"2s"}', b: '{"timeout":"3s"}', want: '~ timeout: "2s" → "3s"' },
    { name: 'an added key', a: '{}', b: '{"name":"gw"}', want: '+ name: "gw"' },
    { name: 'a removed key', a: '{"name":"gw"}', b: '{}', want: '- name: "gw"' },
    {
      name: 'nested paths use dots and indexes',
      a: '{"x":{"backend":[{"url_pattern":"/a"}]}}',
      b: '{"x":{"backend":[{"url_pattern":"/b"}]}}',
      want: '~ x.backend[0].url_pattern: "/a" → "/b"',
    },
    {
      name: 'keys that are not identifiers are quoted',
      a: '{"extra_config":{"qos/ratelimit/router":{"max_rate":10}}}',
      b: '{"extra_config":{"qos/ratelimit/router":{"max_rate":20}}}',
      want: '~ extra_config["qos/ratelimit/router"].max_rate: 10 → 20',
    },
    {
      name: 'arrays are diffed by index',
      a: '{"host":["a","b"]}',
      b: '{"host":["a","c","d"]}',
      want: '~ host[1]: "b" → "c"\n+ host[2]: "d"',
    },
    { name: 'a shorter array removes its tail', a: '[1,2,3]', b: '[1]', want: '- [1]: 2\n- [2]: 3' },
    {
      name: 'a type change is one change of the whole value',
      a: '{"host":"a"}',
      b: '{"host":["a"]}',
      want: '~ host: "a" → ["a"]',
    },
    { name: 'the root is shown as (root)', a: '1', b: '2', want: '~ (root): 1 → 2' },
    { name: 'numbers compare by their exact text', a: '{"n":1.0}', b: '{"n":1}', want: '~ n: 1.0 → 1' },
    {
      name: 'big integers are shown exactly',
      a: '{"id":9007199254740993}',
      b: '{"id":9007199254740995}',
      want: '~ id: 9007199254740993 → 9007199254740995',
    },
    { name: 'equal big integers are no change', a: '{"id":12345678901234567890}', b: '{"id":12345678901234567890}', want: '' },
    { name: 'null versus absent is a change', a: '{"a":null}', b: '{}', want: '- a: null' },
  ];
  for (const c of cases) {
    test(c.name, () => assert.equal(diffText(c.a, c.b), c.want));
  }
});

describe('diffJson on the endpoints of a krakend.json', () => {
  const ep = (method: string | undefined, path: string, extra = '') =>
    `{${method ? `"method":"${method}",` : ''}"endpoint":"${path}","backend":[{"url_pattern":"${path}"${extra}}]}`;

  test('inserting an endpoint is one added entry, not a change of every later one', () => {
    const a = `{"version":3,"endpoints":[${ep('GET', '/a')},${ep('GET', '/b')},${ep('GET', '/c')}]}`;
    const b = `{"version":3,"endpoints":[${ep('GET', '/a')},${ep('POST', '/new')},${ep('GET', '/b')},${ep('GET', '/c')}]}`;
    const entries = diffJson(parseJson(a), parseJson(b));
    assert.equal(entries.length, 1);
    assert.equal(entries[0]?.kind, 'added');
    assert.equal(entries[0]?.path, 'endpoints[POST /new]');
  });

  test('a change inside a matched endpoint is addressed by its method and path', () => {
    const a = `{"endpoints":[${ep('GET', '/a')},${ep(undefined, '/users/{id}')}]}`;
    const b = `{"endpoints":[${ep('POST', '/x')},${ep('GET', '/a', ',"encoding":"json"')},${ep('GET', '/users/{id}', ',"host":["h"]')}]}`;
    assert.equal(
      diffText(a, b),
      [
        '+ endpoints[POST /x]: {"backend":[{"url_pattern":"/x"}],"endpoint":"/x","method":"POST"}',
        '+ endpoints[GET /a].backend[0].encoding: "json"',
        // In the new document's key order ("method" comes first in it).
        '+ endpoints[GET /users/{id}].method: "GET"',
        '+ endpoints[GET /users/{id}].backend[0].host: ["h"]',
      ].join('\n'),
    );
  });

  test('methods are matched case-insensitively, GET by default', () => {
    const a = `{"endpoints":[${ep(undefined, '/a')}]}`;
    const b = `{"endpoints":[${ep('get', '/a')}]}`;
    assert.equal(diffText(a, b), '+ endpoints[GET /a].method: "get"');
  });

  test('a removed endpoint is one removed entry', () => {
    const a = `{"endpoints":[${ep('GET', '/a')},${ep('GET', '/b')}]}`;
    const b = `{"endpoints":[${ep('GET', '/b')}]}`;
    assert.deepEqual(
      diffJson(parseJson(a), parseJson(b)).map((e) => `${e.kind} ${e.path}`),
      ['removed endpoints[GET /a]'],
    );
  });

  test('a reordering shows as one change of the order', () => {
    const a = `{"endpoints":[${ep('GET', '/a')},${ep('GET', '/b')}]}`;
    const b = `{"endpoints":[${ep('GET', '/b')},${ep('GET', '/a')}]}`;
    assert.equal(diffText(a, b), '~ endpoints: ["GET /a","GET /b"] → ["GET /b","GET /a"]');
  });

  test('endpoints that cannot be keyed are diffed by index', () => {
    const a = `{"endpoints":[${ep('GET', '/a')},${ep('GET', '/a')}]}`;
    const b = `{"endpoints":[${ep('GET', '/a')},${ep('GET', '/b')}]}`;
    assert.deepEqual(
      diffJson(parseJson(a), parseJson(b)).map((e) => e.path),
      ['endpoints[1].endpoint', 'endpoints[1].backend[0].url_pattern'],
    );
  });

  test('only the top-level endpoints array is matched by key', () => {
    const a = `{"x":{"endpoints":[${ep('GET', '/a')}]}}`;
    const b = `{"x":{"endpoints":[${ep('GET', '/b')}]}}`;
    assert.deepEqual(
      diffJson(parseJson(a), parseJson(b)).map((e) => e.path),
      ['x.endpoints[0].endpoint', 'x.endpoints[0].backend[0].url_pattern'],
    );
  });

  test('an endpoint key with brackets or quotes is quoted', () => {
    const a = '{"endpoints":[]}';
    const b = '{"endpoints":[{"endpoint":"/a[1]"}]}';
    assert.equal(diffJson(parseJson(a), parseJson(b))[0]?.path, 'endpoints["GET /a[1]"]');
  });
});

describe('formatDiff', () => {
  test('one line per entry with its sign', () => {
    const entries: DiffEntry[] = [
      { path: 'a', kind: 'added', after: 1 },
      { path: 'b', kind: 'removed', before: 'x' },
      { path: 'c', kind: 'changed', before: true, after: null },
    ];
    assert.equal(formatDiff(entries), '+ a: 1\n- b: "x"\n~ c: true → null');
  });

  test('long values are cut to the limit with an ellipsis', () => {
    const line = formatDiff([{ path: 'p', kind: 'added', after: 'x'.repeat(500) }]);
    const value = line.slice('+ p: '.length);
    assert.equal(value.length, MAX_VALUE_CHARS);
    assert.ok(value.endsWith('…'));
  });

  test('no entries is the empty string', () => {
    assert.equal(formatDiff([]), '');
  });
});
