import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { canonicalHeaderKey, HOP_BY_HOP } from '../../../src/gateway/http/headers.js';

describe('canonicalHeaderKey (Go textproto.CanonicalMIMEHeaderKey)', () => {
  const cases: Array<[string, string]> = [
    ['x-foo-bar', 'X-Foo-Bar'],
    ['content-type', 'Content-Type'],
    ['X-FOO', 'X-Foo'],
    ['accept-encoding', 'Accept-Encoding'],
    ['WWW-AUTHENTICATE', 'Www-Authenticate'],
    ['x-real-ip', 'X-Real-Ip'],
    ['Content-Type', 'Content-Type'],
    ['foo', 'Foo'],
    ['x', 'X'],
    ['x--y', 'X--Y'],
    ['-x', '-X'],
    ['x-', 'X-'],
    ['x-1abc', 'X-1abc'],
    ['x_foo_bar', 'X_foo_bar'],
    ['x.foo', 'X.foo'],
  ];
  for (const [input, expected] of cases) {
    test(`turns "${input}" into "${expected}"`, () => {
      assert.equal(canonicalHeaderKey(input), expected);
    });
  }

  const unchanged = ['content type', ' x-foo', 'x-foo ', 'x:foo', 'x-föo', 'x\tfoo', 'x-foo\r\n', '(x)', ''];
  for (const input of unchanged) {
    test(`returns ${JSON.stringify(input)} unchanged because it is not a valid header name`, () => {
      assert.equal(canonicalHeaderKey(input), input);
    });
  }

  test('is idempotent', () => {
    for (const [input] of cases) {
      const once = canonicalHeaderKey(input);
      assert.equal(canonicalHeaderKey(once), once);
    }
  });
});

describe('HOP_BY_HOP', () => {
  test('lists the hop-by-hop headers in lower case', () => {
    for (const name of ['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'proxy-authorization']) {
      assert.ok(HOP_BY_HOP.has(name), name);
    }
    for (const name of HOP_BY_HOP) assert.equal(name, name.toLowerCase());
  });

  test('does not list end-to-end headers', () => {
    for (const name of ['content-type', 'content-length', 'authorization', 'x-forwarded-for', 'host']) {
      assert.equal(HOP_BY_HOP.has(name), false, name);
    }
  });
});
