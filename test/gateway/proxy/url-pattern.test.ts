import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { compileUrlPattern, encodePathSegment } from '../../../src/gateway/proxy/url-pattern.js';

/** Values that would change the shape of a URL if they were pasted in raw. */
const NASTY = [
  'a/b',
  '../admin',
  '?admin=true',
  '#fragment',
  'a b',
  'x&y=z',
  '%2F',
  '%',
  'é',
  '日本語',
  '😀',
  'a\r\nHost: evil',
  '\\',
  '{id}',
];

describe('compileUrlPattern', () => {
  test('returns a pattern without params as is, whatever the values', () => {
    const pattern = compileUrlPattern('/users/all?limit=10&sort=a b');
    assert.deepEqual(pattern.params, []);
    assert.equal(pattern.render({}), '/users/all?limit=10&sort=a b');
    assert.equal(pattern.render({ id: '1' }), '/users/all?limit=10&sort=a b');
  });

  test('fills a path param', () => {
    const pattern = compileUrlPattern('/users/{id}');
    assert.deepEqual(pattern.params, ['id']);
    assert.equal(pattern.render({ id: '42' }), '/users/42');
  });

  test('fills several params, in the path and in the query, and lists them in order', () => {
    const pattern = compileUrlPattern('/users/{user}/posts/{post}?expand={expand}&v=2');
    assert.deepEqual(pattern.params, ['user', 'post', 'expand']);
    assert.equal(pattern.render({ user: 'u1', post: 'p2', expand: 'comments' }), '/users/u1/posts/p2?expand=comments&v=2');
  });

  test('fills a param that shares a segment with literal text', () => {
    const pattern = compileUrlPattern('/files/{name}.json');
    assert.equal(pattern.render({ name: 'report' }), '/files/report.json');
  });

  test('fills adjacent params and a repeated param', () => {
    const pattern = compileUrlPattern('/{a}{b}/{a}');
    assert.deepEqual(pattern.params, ['a', 'b', 'a']);
    assert.equal(pattern.render({ a: 'x', b: 'y' }), '/xy/x');
  });

  test('renders a missing value as empty', () => {
    assert.equal(compileUrlPattern('/users/{id}/posts').render({}), '/users//posts');
  });

  test('renders a pattern that starts or ends with a param', () => {
    assert.equal(compileUrlPattern('{version}/x').render({ version: 'v1' }), 'v1/x');
    assert.equal(compileUrlPattern('/x/{rest}').render({ rest: 'tail' }), '/x/tail');
  });

  test('can be rendered many times with different values', () => {
    const pattern = compileUrlPattern('/users/{id}');
    assert.equal(pattern.render({ id: 'a' }), '/users/a');
    assert.equal(pattern.render({ id: 'b/c' }), '/users/b%2Fc');
    assert.equal(pattern.render({ id: 'a' }), '/users/a');
  });

  test('percent-encodes a path value so "/", "?", "#" and spaces cannot add segments, a query or a fragment', () => {
    const pattern = compileUrlPattern('/users/{id}/profile');
    assert.equal(pattern.render({ id: 'a/b' }), '/users/a%2Fb/profile');
    assert.equal(pattern.render({ id: '?admin=true' }), '/users/%3Fadmin=true/profile');
    assert.equal(pattern.render({ id: '#top' }), '/users/%23top/profile');
    assert.equal(pattern.render({ id: 'a b' }), '/users/a%20b/profile');
    assert.equal(pattern.render({ id: '%2F' }), '/users/%252F/profile', 'a literal percent is escaped, not passed through');
  });

  test('percent-encodes unicode in path values as UTF-8', () => {
    const pattern = compileUrlPattern('/users/{id}');
    assert.equal(pattern.render({ id: 'é' }), '/users/%C3%A9');
    assert.equal(pattern.render({ id: '日本' }), '/users/%E6%97%A5%E6%9C%AC');
    assert.equal(pattern.render({ id: '😀' }), '/users/%F0%9F%98%80');
  });

  test('percent-encodes a query value so "&", "=", "#" and spaces cannot add query parameters', () => {
    const pattern = compileUrlPattern('/search?q={q}&page=1');
    assert.equal(pattern.render({ q: 'a b&admin=true#x' }), '/search?q=a%20b%26admin%3Dtrue%23x&page=1');
    assert.equal(pattern.render({ q: 'é/?' }), '/search?q=%C3%A9%2F%3F&page=1');
  });

  test('no path value changes the number of path segments, the query or the fragment of the final URL', () => {
    const pattern = compileUrlPattern('/a/{x}/b?k={y}');
    for (const value of NASTY) {
      const rendered = pattern.render({ x: value, y: 'fixed' });
      assert.doesNotMatch(rendered, /[\s#]/, `raw whitespace or # in ${JSON.stringify(rendered)}`);
      const url = new URL(`http://backend${rendered}`);
      const segments = url.pathname.split('/');
      assert.equal(segments.length, 4, `${JSON.stringify(value)} → ${url.pathname}`);
      assert.equal(segments[1], 'a');
      assert.equal(segments[3], 'b');
      assert.equal(decodeURIComponent(segments[2]!), value, 'the value arrives intact');
      assert.equal(url.search, '?k=fixed');
      assert.equal(url.hash, '');
    }
  });

  test('no query value adds a query parameter or a fragment to the final URL', () => {
    const pattern = compileUrlPattern('/a/{x}?k={y}&other=1');
    for (const value of NASTY) {
      const rendered = pattern.render({ x: 'fixed', y: value });
      const url = new URL(`http://backend${rendered}`);
      assert.equal(url.pathname, '/a/fixed');
      assert.deepEqual([...url.searchParams.keys()], ['k', 'other'], `${JSON.stringify(value)} → ${url.search}`);
      assert.equal(url.searchParams.get('k'), value, 'the value arrives intact');
      assert.equal(url.hash, '');
    }
  });
});

describe('encodePathSegment (Go url.PathEscape)', () => {
  test('leaves unreserved characters alone', () => {
    assert.equal(encodePathSegment('AZaz09-._~'), 'AZaz09-._~');
  });

  test('keeps the path-safe sub-delimiters and ":" and "@" readable', () => {
    assert.equal(encodePathSegment('a:b@c$d&e+f=g'), 'a:b@c$d&e+f=g');
  });

  test('escapes "/", "?", "#", "%", space and unicode', () => {
    assert.equal(encodePathSegment('/?#% é'), '%2F%3F%23%25%20%C3%A9');
  });

  test('escapes control characters so a value cannot split the request line', () => {
    assert.equal(encodePathSegment('a\r\nb\0'), 'a%0D%0Ab%00');
  });
});
