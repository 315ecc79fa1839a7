import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import type { JsonObject, JsonValue } from '../../../src/gateway/json/types.js';
import type { EntityFormatterOptions } from '../../../src/gateway/proxy/entity-formatter.js';
import { createEntityFormatter, formatterMiddleware } from '../../../src/gateway/proxy/entity-formatter.js';
import type { Proxy, ProxyRequest, ProxyResponse } from '../../../src/gateway/proxy/types.js';

function options(partial: Partial<EntityFormatterOptions>): EntityFormatterOptions {
  return {
    target: undefined,
    allow: [],
    deny: [],
    mapping: {},
    group: undefined,
    isCollection: false,
    ...partial,
  };
}

/** Every input is frozen, so a formatter that wrote to its input would throw (modules run in strict mode). */
function deepFreeze<T extends JsonValue>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child as JsonValue);
    Object.freeze(value);
  }
  return value;
}

function format(partial: Partial<EntityFormatterOptions>, input: JsonObject): JsonObject {
  const formatter = createEntityFormatter(options(partial));
  assert.ok(formatter, 'expected a formatter');
  return formatter(deepFreeze(input));
}

interface Case {
  name: string;
  options: Partial<EntityFormatterOptions>;
  input: JsonObject;
  expected: JsonObject;
}

// The sample Lura's formatter_test.go uses throughout.
const sample = (): JsonObject => ({ supu: 42, tupu: false, foo: 'bar', a: { b: true, c: 42, d: 'tupu' } });

/** Ported from luraproject/lura proxy/formatter_test.go (test names in brackets). */
const luraCases: Case[] = [
  {
    name: 'keeps only the allowed fields, nested ones included, and ignores paths into non-objects [newAllowFilter]',
    options: { allow: ['supu', 'a.b', 'a.c', 'foo.unknown'] },
    input: sample(),
    expected: { supu: 42, a: { b: true, c: 42 } },
  },
  {
    name: 'keeps deep allowed fields and drops their siblings at every level [newAllowDeepFields]',
    options: { allow: ['tupu.muku.supu', 'tupu.muku.gutu.kugu'] },
    input: {
      id: 42,
      tupu: { muku: { supu: 1, muku: 2, gutu: { kugu: 42 } }, supu: { supu: 3, muku: 4 } },
    },
    expected: { tupu: { muku: { supu: 1, gutu: { kugu: 42 } } } },
  },
  {
    name: 'removes the denied fields, nested ones included, and ignores paths into non-objects [newDenyFilter]',
    options: { deny: ['supu', 'a.b', 'a.c', 'foo.unknown'] },
    input: sample(),
    expected: { tupu: false, foo: 'bar', a: { d: 'tupu' } },
  },
  {
    name: 'wraps the whole body under the group name [grouping]',
    options: { group: 'group1' },
    input: { supu: 42, tupu: false, foo: 'bar' },
    expected: { group1: { supu: 42, tupu: false, foo: 'bar' } },
  },
  {
    name: 'renames top-level keys and leaves a dotted mapping without effect on nested keys [mapping]',
    options: { mapping: { supu: 'SUPUUUUU', tupu: 'TUPUUUUU', 'a.b': 'a.BOOOOO' } },
    input: sample(),
    expected: { foo: 'bar', a: { b: true, c: 42, d: 'tupu' }, SUPUUUUU: 42, TUPUUUUU: false },
  },
  {
    name: 'replaces the body with the object under the target [targeting]',
    options: { target: 'group1' },
    input: { supu: 42, tupu: false, foo: 'bar', group1: { b: true, c: 42, d: 'tupu' } },
    expected: { b: true, c: 42, d: 'tupu' },
  },
  {
    name: 'follows a dotted target into nested objects [targetingNested]',
    options: { target: 'group1.group1' },
    input: { group1: { supu: 42, tupu: false, foo: 'bar', group1: { b: true, c: 42, d: 'tupu' } } },
    expected: { b: true, c: 42, d: 'tupu' },
  },
  {
    name: 'gives an empty body when the target is missing [targetingUnknownFields]',
    options: { target: 'group1' },
    input: { supu: 42, tupu: false, foo: 'bar' },
    expected: {},
  },
  {
    name: 'gives an empty body when the target is not an object [targetingNonObjects]',
    options: { target: 'group1' },
    input: { supu: 42, tupu: false, foo: 'bar', group1: false },
    expected: {},
  },
  {
    name: 'applies target, allow, mapping and group in that order [altogether]',
    options: { target: 'a', allow: ['d'], group: 'group', mapping: { d: 'D' } },
    input: sample(),
    expected: { group: { D: 'tupu' } },
  },
];

const ownCases: Case[] = [
  // Filtering
  {
    name: 'removes denied fields at any depth and leaves their emptied parents in place',
    options: { deny: ['a.b.c', 'x.y'] },
    input: { a: { b: { c: 1, d: 2 }, e: 3 }, x: { y: 1 }, z: 0 },
    expected: { a: { b: { d: 2 }, e: 3 }, x: {}, z: 0 },
  },
  {
    name: 'lets a shallower deny entry win over a deeper one whatever their order',
    options: { deny: ['a.b', 'a'] },
    input: { a: { b: 1, c: 2 }, d: 3 },
    expected: { d: 3 },
  },
  {
    name: 'uses the allow list and ignores the deny list when both are set',
    options: { allow: ['a', 'b'], deny: ['a'] },
    input: { a: 1, b: 2, c: 3 },
    expected: { a: 1, b: 2 },
  },
  {
    name: 'drops an allowed parent whose allowed children are all missing',
    options: { allow: ['a.x', 'b'] },
    input: { a: { y: 1 }, b: 2 },
    expected: { b: 2 },
  },
  {
    name: 'drops a key whose allow path runs into an array, since paths do not enter arrays',
    options: { allow: ['a.b', 'c'] },
    input: { a: [{ b: 1 }], c: 2 },
    expected: { c: 2 },
  },
  {
    name: 'gives an empty body when nothing is allowed',
    options: { allow: ['missing'] },
    input: { a: 1 },
    expected: {},
  },
  {
    name: 'lets a later deeper allow entry narrow an earlier whole-key entry, as Lura builds its tree',
    options: { allow: ['a', 'a.b'] },
    input: { a: { b: 1, c: 2 } },
    expected: { a: { b: 1 } },
  },
  {
    name: 'lets a later whole-key allow entry widen an earlier deeper entry, as Lura builds its tree',
    options: { allow: ['a.b', 'a'] },
    input: { a: { b: 1, c: 2 } },
    expected: { a: { b: 1, c: 2 } },
  },
  // Mapping
  {
    name: 'keeps only the part of a new name before the first dot',
    options: { mapping: { supu: 'x.y' } },
    input: { supu: 1, y: 2 },
    expected: { y: 2, x: 1 },
  },
  {
    name: 'renames every key from its original value, so swaps and chains are deterministic',
    options: { mapping: { a: 'b', b: 'a', c: 'd', d: 'e' } },
    input: { a: 1, b: 2, c: 3, d: 4 },
    expected: { b: 1, a: 2, d: 3, e: 4 },
  },
  {
    name: 'lets a renamed key overwrite an existing key of the same name',
    options: { mapping: { a: 'b' } },
    input: { a: 1, b: 2 },
    expected: { b: 1 },
  },
  {
    name: 'lets the later mapping win when two keys are renamed to the same name',
    options: { mapping: { a: 'x', b: 'x' } },
    input: { a: 1, b: 2 },
    expected: { x: 2 },
  },
  {
    name: 'treats a mapping onto the same name as a no-op',
    options: { mapping: { a: 'a.z', b: 'c' } },
    input: { a: 1, b: 2 },
    expected: { a: 1, c: 2 },
  },
  {
    name: 'renames after filtering, so an allow list names the original keys',
    options: { allow: ['email'], mapping: { email: 'personal_email' } },
    input: { id: 1, email: 'x@example.com' },
    expected: { personal_email: 'x@example.com' },
  },
  // Target and group together
  {
    name: 'groups an empty body when the target is missing',
    options: { target: 'data', group: 'g' },
    input: { other: 1 },
    expected: { g: {} },
  },
  {
    name: 'filters inside the target, relative to it',
    options: { target: 'data', deny: ['secret'] },
    input: { data: { id: 1, secret: 'x' }, apiVersion: '2.0' },
    expected: { id: 1 },
  },
  // is_collection: the decoder has already wrapped the array as {collection: [...]}
  {
    name: 'renames the collection key of an is_collection backend through mapping',
    options: { isCollection: true, mapping: { collection: 'items' } },
    input: { collection: [{ a: 1 }, { b: 2 }] },
    expected: { items: [{ a: 1 }, { b: 2 }] },
  },
  {
    name: 'allows and groups the collection key like any other key',
    options: { isCollection: true, allow: ['collection'], mapping: { collection: 'posts' }, group: 'g' },
    input: { collection: [1, 2] },
    expected: { g: { posts: [1, 2] } },
  },
  {
    name: 'does not enter the collection array with a target',
    options: { isCollection: true, target: 'collection' },
    input: { collection: [{ a: 1 }] },
    expected: {},
  },
  // Keys that collide with Object.prototype
  {
    name: 'handles __proto__ and constructor as ordinary keys',
    options: { allow: ['__proto__', 'constructor.x'], mapping: { ['__proto__']: 'p' }, group: '__proto__' },
    input: JSON.parse('{"__proto__": {"a": 1}, "constructor": {"x": 1, "y": 2}, "z": 0}') as JsonObject,
    expected: JSON.parse('{"__proto__": {"constructor": {"x": 1}, "p": {"a": 1}}}') as JsonObject,
  },
  {
    name: 'does not find inherited properties such as toString',
    options: { target: 'toString', group: 'g' },
    input: { a: 1 },
    expected: { g: {} },
  },
];

describe('createEntityFormatter', () => {
  describe("cases ported from Lura's formatter_test.go", () => {
    for (const c of luraCases) {
      test(c.name, () => {
        assert.deepEqual(format(c.options, c.input), c.expected);
      });
    }
  });

  describe('further cases', () => {
    for (const c of ownCases) {
      test(c.name, () => {
        const result = format(c.options, c.input);
        assert.deepEqual(result, c.expected);
        assert.deepEqual(Object.getPrototypeOf(result), Object.prototype);
      });
    }
  });

  test('returns undefined when the backend declares no formatting', () => {
    assert.equal(createEntityFormatter(options({})), undefined);
    assert.equal(createEntityFormatter(options({ target: '', group: '', isCollection: true })), undefined);
    assert.equal(createEntityFormatter(options({ mapping: { a: 'a' } })), undefined);
  });

  test('returns the input itself when a deny list matches nothing', () => {
    const input = deepFreeze({ a: { b: 1 }, c: 2 });
    assert.equal(createEntityFormatter(options({ deny: ['x', 'a.x'] }))!(input), input);
  });

  test('returns the input itself when a mapping matches nothing', () => {
    const input = deepFreeze({ a: 1 });
    assert.equal(createEntityFormatter(options({ mapping: { x: 'y' } }))!(input), input);
  });

  test('shares untouched sub-objects with the input instead of copying them', () => {
    const input = deepFreeze({ keep: { deep: [1, 2] }, change: { drop: 1, stay: 2 } });
    const result = createEntityFormatter(options({ deny: ['change.drop'] }))!(input);
    assert.notEqual(result, input);
    assert.equal(result.keep, input.keep);
    assert.deepEqual(result.change, { stay: 2 });
  });

  test('keeps the body order of keys when denying and puts allowed keys in allow-list order', () => {
    const input = { c: 1, b: 2, a: 3, d: 4 };
    assert.deepEqual(Object.keys(format({ deny: ['b'] }, input)), ['c', 'a', 'd']);
    assert.deepEqual(Object.keys(format({ allow: ['a', 'c'] }, input)), ['a', 'c']);
  });

  test('gives the same result when called again with the same input', () => {
    const formatter = createEntityFormatter(options({ allow: ['a.b'], mapping: { a: 'x' }, group: 'g' }))!;
    const input = deepFreeze({ a: { b: 1, c: 2 } });
    assert.deepEqual(formatter(input), formatter(input));
    assert.deepEqual(formatter(input), { g: { x: { b: 1 } } });
  });
});

describe('formatterMiddleware', () => {
  const request: ProxyRequest = {
    method: 'GET',
    params: {},
    query: new URLSearchParams(),
    headers: {},
    body: undefined,
  };

  function backendReturning(response: ProxyResponse): Proxy {
    return () => Promise.resolve(response);
  }

  test('returns the next proxy itself when the backend declares no formatting', () => {
    const next = backendReturning({ data: {}, isComplete: true, metadata: { statusCode: 200, headers: {} } });
    assert.equal(formatterMiddleware(options({}))(next), next);
  });

  test("formats the data of the next proxy's response and keeps the rest of it", async () => {
    const original: ProxyResponse = {
      data: deepFreeze({ data: { id: 1, secret: 'x' } }),
      isComplete: true,
      metadata: { statusCode: 200, headers: { 'content-type': ['application/json'] } },
    };
    const proxy = formatterMiddleware(options({ target: 'data', deny: ['secret'] }))(backendReturning(original));
    const response = await proxy(request, new AbortController().signal);
    assert.deepEqual(response.data, { id: 1 });
    assert.equal(response.isComplete, true);
    assert.equal(response.metadata, original.metadata);
    assert.notEqual(response, original);
    assert.deepEqual(original.data, { data: { id: 1, secret: 'x' } });
  });

  test('passes the request and the signal through to the next proxy', async () => {
    const signal = new AbortController().signal;
    let seen: [ProxyRequest, AbortSignal] | undefined;
    const next: Proxy = (req, sig) => {
      seen = [req, sig];
      return Promise.resolve({ data: {}, isComplete: true, metadata: { statusCode: 200, headers: {} } });
    };
    await formatterMiddleware(options({ group: 'g' }))(next)(request, signal);
    assert.deepEqual(seen, [request, signal]);
  });

  test('leaves a streamed response untouched', async () => {
    const original: ProxyResponse = {
      data: {},
      isComplete: true,
      metadata: { statusCode: 200, headers: {} },
      stream: Readable.from(['raw']),
    };
    const proxy = formatterMiddleware(options({ group: 'g' }))(backendReturning(original));
    assert.equal(await proxy(request, new AbortController().signal), original);
  });

  test('propagates the error of the next proxy', async () => {
    const failure = new Error('backend down');
    const proxy = formatterMiddleware(options({ group: 'g' }))(() => Promise.reject(failure));
    await assert.rejects(proxy(request, new AbortController().signal), (err) => err === failure);
  });
});
