import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import { isKrakendError, ErrorCode } from '../../../src/base/errors.js';
import type { ExtraConfig } from '../../../src/gateway/config/types.js';
import { JsonNumber } from '../../../src/gateway/json/types.js';
import type { JsonObject, JsonValue } from '../../../src/gateway/json/types.js';
import {
  backendFlatmapMiddleware,
  createFlatmap,
  flatmapMiddleware,
  readFlatmapFilter,
  validateFlatmapNamespace,
} from '../../../src/gateway/proxy/flatmap.js';
import type { FlatmapOperation } from '../../../src/gateway/proxy/flatmap.js';
import type { MergedResponse } from '../../../src/gateway/proxy/merge.js';
import type { Proxy, ProxyRequest, ProxyResponse } from '../../../src/gateway/proxy/types.js';

const request: ProxyRequest = { method: 'GET', params: {}, query: new URLSearchParams(), headers: {}, body: undefined };

/** Freezes a value all the way down, so that any attempt to modify the input throws. */
function deepFreeze<T extends JsonValue>(value: T): T {
  if (Array.isArray(value)) value.forEach((v) => deepFreeze(v));
  else if (typeof value === 'object' && value !== null) Object.values(value).forEach((v) => deepFreeze(v));
  return Object.freeze(value);
}

function op(type: 'move' | 'append', src: string, dst: string): FlatmapOperation;
function op(type: 'del', ...paths: string[]): FlatmapOperation;
function op(type: 'move' | 'append' | 'del', ...paths: string[]): FlatmapOperation {
  const args = paths.map((p) => p.split('.'));
  return type === 'del' ? { type, args } : { type, args: [args[0]!, args[1]!] };
}

/** Runs the operations on a frozen copy of `input`, which also proves the input is never modified. */
function run(input: JsonObject, ...ops: FlatmapOperation[]): JsonObject {
  return createFlatmap(ops)(deepFreeze(structuredClone(input)));
}

describe("flatmap: krakendio/flatmap tree_test.go TestTree_Del, ported", () => {
  const cases: { name: string; pattern: string; in: JsonObject; out: JsonObject }[] = [
    { name: 'unknown', pattern: 'abc', in: { supu: 42, tupu: false }, out: { supu: 42, tupu: false } },
    { name: 'plain', pattern: 'supu', in: { supu: 42, tupu: false }, out: { tupu: false } },
    {
      name: 'element_in_struct',
      pattern: 'internal.supu',
      in: { internal: { supu: 42, tupu: false }, tupu: false },
      out: { internal: { tupu: false }, tupu: false },
    },
    {
      name: 'element_in_struct_with_wildcard',
      pattern: 'a.*.supu',
      in: { a: { first: { supu: 42, tupu: false }, last: { supu: 42, tupu: false } }, tupu: false },
      out: { a: { first: { tupu: false }, last: { tupu: false } }, tupu: false },
    },
    {
      name: 'struct',
      pattern: 'internal',
      in: { internal: { supu: 42, tupu: false }, tupu: false },
      out: { tupu: false },
    },
    {
      name: 'element_in_substruct',
      pattern: 'internal.internal.supu',
      in: { internal: { supu: 42, tupu: false, internal: { supu: 42, tupu: false } }, tupu: false },
      out: { internal: { supu: 42, tupu: false, internal: { tupu: false } }, tupu: false },
    },
    {
      name: 'similar_names',
      pattern: 'a.a.a',
      in: { a: { a: { a: { a: 1 }, aa: 1 }, aa: 1 }, tupu: false },
      out: { a: { a: { aa: 1 }, aa: 1 }, tupu: false },
    },
    {
      name: 'collection_element_attributes',
      pattern: 'a.*.a',
      in: { a: [{ a: { a: { a: 1 }, aa: 1 }, aa: 1 }, { a: 42, aa: 1 }], tupu: false },
      out: { a: [{ aa: 1 }, { aa: 1 }], tupu: false },
    },
    {
      name: 'nested_collection_element_attributes',
      pattern: 'a.*.b.*.c',
      in: {
        a: [
          {
            b: [
              { c: { a: 1 }, aa: 1 },
              { c: { a: 2 }, aa: 1 },
            ],
            aa: 1,
          },
          { b: [{ c: { a: 1 }, aa: 1 }], aa: 1 },
        ],
        tupu: false,
      },
      out: {
        a: [
          { aa: 1, b: [{ aa: 1 }, { aa: 1 }] },
          { aa: 1, b: [{ aa: 1 }] },
        ],
        tupu: false,
      },
    },
    {
      name: 'large_collection_element_attributes',
      pattern: 'a.*.a',
      in: { a: Array.from({ length: 12 }, (_, i) => ({ a: (i % 2) + 1, aa: 1 })), tupu: false },
      out: { a: Array.from({ length: 12 }, () => ({ aa: 1 })), tupu: false },
    },
  ];
  for (const c of cases) {
    test(`del ${c.pattern} [${c.name}]`, () => {
      assert.deepEqual(run(c.in, op('del', c.pattern)), c.out);
    });
  }
});

describe("flatmap: krakendio/flatmap tree_test.go TestTree_Move, ported", () => {
  const cases: { name: string; src: string; dst: string; in: JsonObject; out: JsonObject }[] = [
    { name: 'plain', src: 'a', dst: 'b', in: { a: 42 }, out: { b: 42 } },
    { name: 'in_struct', src: 'b.a', dst: 'b.c', in: { a: 1, b: { a: 42 } }, out: { a: 1, b: { c: 42 } } },
    {
      name: 'in_struct_depth',
      src: 'b.a',
      dst: 'b.b.a.b.a.b.c',
      in: { a: 1, b: { a: 42 } },
      out: { a: 1, b: { b: { a: { b: { a: { b: { c: 42 } } } } } } },
    },
    // The emptied container becomes null ("b <nil>" in the Go test).
    { name: 'from_struct', src: 'b.a', dst: 'c', in: { a: 1, b: { a: 42 } }, out: { a: 1, b: null, c: 42 } },
    {
      name: 'from_struct_with_wildcard',
      src: 'b.*.c',
      dst: 'b.*.x',
      in: { c: 42, b: { first: { c: { d: 42 } }, last: { m: 42, c: { d: 42 } } } },
      out: { c: 42, b: { first: { x: { d: 42 } }, last: { m: 42, x: { d: 42 } } } },
    },
    {
      name: 'from_struct_with_wildcard_deep',
      src: 'b.*.c',
      dst: 'b.*.c.b.x',
      in: { c: 42, b: { first: { c: { d: 42 } }, last: { m: 42, c: { d: 42 } } } },
      out: {
        c: 42,
        b: { first: { c: { b: { x: { d: 42 } } } }, last: { m: 42, c: { b: { x: { d: 42 } } } } },
      },
    },
    {
      name: 'from_collection',
      src: 'b.*.c',
      dst: 'b.*.x',
      in: { a: 42, b: [{ c: 42 }, { c: { d: 42 } }] },
      out: { a: 42, b: [{ x: 42 }, { x: { d: 42 } }] },
    },
    {
      name: 'from_struct_nested',
      src: 'b.b',
      dst: 'c',
      in: { a: 42, b: { a: 42, bb: true, b: { a: 42 } } },
      out: { a: 42, b: { a: 42, bb: true }, c: { a: 42 } },
    },
    {
      name: 'collection',
      src: 'a.*.b',
      dst: 'a.*.c',
      in: {
        a: [
          {
            b: [
              { c: { a: 1 }, aa: 1 },
              { c: { a: 2 }, aa: 1 },
            ],
            aa: 1,
          },
          { b: [{ c: { a: 1 }, aa: 1 }], aa: 1 },
        ],
        tupu: false,
      },
      out: {
        a: [
          {
            aa: 1,
            c: [
              { aa: 1, c: { a: 1 } },
              { aa: 1, c: { a: 2 } },
            ],
          },
          { aa: 1, c: [{ aa: 1, c: { a: 1 } }] },
        ],
        tupu: false,
      },
    },
    {
      name: 'recursive_collection',
      src: 'a.*.b.*.c',
      dst: 'a.*.b.*.x',
      in: {
        a: [
          {
            b: [
              { c: { a: 1 }, aa: 1 },
              { c: { a: 2 }, aa: 1 },
            ],
            aa: 1,
          },
          { b: [{ c: { a: 1 }, aa: 1 }], aa: 1 },
        ],
        tupu: false,
      },
      out: {
        a: [
          {
            aa: 1,
            b: [
              { aa: 1, x: { a: 1 } },
              { aa: 1, x: { a: 2 } },
            ],
          },
          { aa: 1, b: [{ aa: 1, x: { a: 1 } }] },
        ],
        tupu: false,
      },
    },
  ];
  for (const c of cases) {
    test(`move ${c.src} → ${c.dst} [${c.name}]`, () => {
      assert.deepEqual(run(c.in, op('move', c.src, c.dst)), c.out);
    });
  }
});

describe('flatmap: krakendio/flatmap tree_example_test.go ExampleNew, ported', () => {
  test('deletes a key, an array item and attributes of a doubly nested collection', () => {
    const five = [1, 2, 3, 4, 5];
    const input: JsonObject = {
      supu: 42,
      tupu: false,
      foo: 'bar',
      aa: 23,
      a: {
        aa: 23,
        ac: 23,
        abc: 23,
        a: { a: { b: true, c: 42, d: 'tupu' }, b: true, c: 42, d: 'tupu' },
        ab: { b: true, c: 42, d: 'tupu' },
        b: true,
        c: 42,
        d: 'tupu',
        collection: [
          { b: false, d: 'aaaa', dx: 'foobar' },
          { b: true, c: 42, d: 'tupu' },
        ],
        collection2: [{ d: [{ a: 1, d: five }, { d: five }, { d: five }] }, { d: five }, { d: five }],
      },
    };
    const out = run(input, op('del', 'a.b'), op('del', 'a.collection.0'), op('del', 'a.collection2.*.d.*.d'));
    assert.deepEqual(out, {
      supu: 42,
      tupu: false,
      foo: 'bar',
      aa: 23,
      a: {
        aa: 23,
        ac: 23,
        abc: 23,
        a: { a: { b: true, c: 42, d: 'tupu' }, b: true, c: 42, d: 'tupu' },
        ab: { b: true, c: 42, d: 'tupu' },
        c: 42,
        d: 'tupu',
        collection: [{ b: true, c: 42, d: 'tupu' }],
        // Items left without keys become null.
        collection2: [{ d: [{ a: 1 }, null, null] }, { d: five }, { d: five }],
      },
    });
  });
});

const luraOps: ExtraConfig = {
  proxy: {
    flatmap_filter: [
      { type: 'del', args: ['c'] },
      { type: 'append', args: ['y', 'z'] },
      { type: 'move', args: ['supu', 'SUPUUUUU'] },
      { type: 'move', args: ['a.b', 'a.BOOOOO'] },
      { type: 'del', args: ['collection.*.b', 'collection.*.d', 'collection.*.e'] },
      { type: 'move', args: ['collection.*.c', 'collection.*.x'] },
    ],
  },
};

function luraSample(): JsonObject {
  const sub: JsonObject = { b: true, c: 42, d: 'tupu', e: [1, 2, 3, 4] };
  return {
    supu: 42,
    tupu: false,
    foo: 'bar',
    a: sub,
    // The same object four times, as in the Go test: never modified, so sharing is safe.
    collection: [sub, sub, sub, sub],
    y: [0, 1, 2, 3, 4, 5, 6],
    z: [10, 11, 12, 13, 14, 15, 16],
  };
}

const luraExpected: JsonObject = {
  SUPUUUUU: 42,
  tupu: false,
  foo: 'bar',
  a: { BOOOOO: true, c: 42, d: 'tupu', e: [1, 2, 3, 4] },
  collection: [{ x: 42 }, { x: 42 }, { x: 42 }, { x: 42 }],
  z: [10, 11, 12, 13, 14, 15, 16, 0, 1, 2, 3, 4, 5, 6],
};

describe("flatmap: Lura's formatter_test.go, ported", () => {
  test('applies target, then the operations, then group at the backend [TestEntityFormatter_flatmap]', async () => {
    const mw = backendFlatmapMiddleware({ extraConfig: luraOps, target: 'content', group: 'group' });
    assert.ok(mw);
    const body = deepFreeze({ content: luraSample() });
    const res = await mw(() => Promise.resolve({ data: body, isComplete: true, metadata: meta() }))(
      request,
      new AbortController().signal,
    );
    assert.deepEqual(res.data, { group: luraExpected });
    assert.equal(res.isComplete, true);
  });

  test('applies the operations to the merged response at the endpoint [TestNewFlatmapMiddleware]', async () => {
    const mw = flatmapMiddleware(luraOps);
    assert.ok(mw);
    const res = await mw(() => Promise.resolve({ data: deepFreeze(luraSample()), isComplete: true, metadata: meta() }))(
      request,
      new AbortController().signal,
    );
    assert.deepEqual(res.data, luraExpected);
    assert.equal(res.isComplete, true);
  });
});

describe('flatmap: the KrakenD documentation examples', () => {
  const doc: JsonObject = {
    a: [
      {
        b1: [
          { c: 1, d: 'foo' },
          { c: 2, d: 'bar' },
        ],
        b2: true,
      },
      { b1: [{ c: 3, d: 'vaz' }] },
    ],
  };

  test('renames c to d in every item of a nested collection (a.*.b1.*.c → a.*.b1.*.d)', () => {
    const out = run({ a: [{ b1: [{ c: 1 }, { c: 2 }] }, { b1: [{ c: 3 }] }] }, op('move', 'a.*.b1.*.c', 'a.*.b1.*.d'));
    assert.deepEqual(out, { a: [{ b1: [{ d: 1 }, { d: 2 }] }, { b1: [{ d: 3 }] }] });
  });

  test('extracts one value by index (a.0.b1.0.c → c)', () => {
    const out = run(doc, op('move', 'a.0.b1.0.c', 'c'));
    assert.deepEqual(out.c, 1);
    assert.deepEqual(out.a, [
      {
        b1: [{ d: 'foo' }, { c: 2, d: 'bar' }],
        b2: true,
      },
      { b1: [{ c: 3, d: 'vaz' }] },
    ]);
  });

  test('adds levels under every item (a.*.b1.*.c → a.*.b1.*.c.d.e.f.g)', () => {
    const out = run(doc, op('move', 'a.*.b1.*.c', 'a.*.b1.*.c.d.e.f.g'));
    assert.deepEqual(out.a, [
      {
        b1: [
          { d: 'foo', c: { d: { e: { f: { g: 1 } } } } },
          { d: 'bar', c: { d: { e: { f: { g: 2 } } } } },
        ],
        b2: true,
      },
      { b1: [{ d: 'vaz', c: { d: { e: { f: { g: 3 } } } } }] },
    ]);
  });

  test('ignores the middle of a destination as long as the path keeps its length (a.*.b1.*.c → a.*.x.*.d)', () => {
    const out = run(doc, op('move', 'a.*.b1.*.c', 'a.*.x.*.d'));
    assert.deepEqual(out.a, [
      {
        b1: [{ d: 1 }, { d: 2 }],
        b2: true,
      },
      { b1: [{ d: 3 }] },
    ]);
  });

  test('a "missing level" in the destination attaches the values where its walk stops (a.*.b1.*.c → a.*.c)', () => {
    // Extraction: dst prefix "a.*" resolves, with * standing for each item's index, so each c lands in its item.
    const out = run(doc, op('move', 'a.*.b1.*.c', 'a.*.c'));
    assert.deepEqual(out.a, [
      { b1: [{ d: 'foo' }, { d: 'bar' }], b2: true, c: 2 },
      { b1: [{ d: 'vaz' }], c: 3 },
    ]);
  });

  test('runs the documented append, move, del, del, move sequence', () => {
    const input: JsonObject = {
      kindergarten: [{ PK_ID: 7, password: 'k' }],
      schools: [
        { students: [{ PK_ID: 1, password: 'x' }] },
        { students: [{ PK_ID: 2, password: 'y', name: 'b' }] },
      ],
    };
    const out = run(
      input,
      op('append', 'kindergarten', 'schools'),
      op('move', 'schools.1.students', 'alumni'),
      op('del', 'schools'),
      op('del', 'alumni.*.password'),
      op('move', 'alumni.*.PK_ID', 'alumni.*.id'),
    );
    assert.deepEqual(out, { alumni: [{ id: 2, name: 'b' }] });
  });
});

describe('flatmap: further cases', () => {
  test('appends one array to another and deletes the appended one', () => {
    assert.deepEqual(run({ a: [1, 2], b: [3], c: 'x' }, op('append', 'a', 'b')), { b: [3, 1, 2], c: 'x' });
  });

  test('appends to an empty array', () => {
    assert.deepEqual(run({ a: [1, 2], b: [] }, op('append', 'a', 'b')), { b: [1, 2] });
  });

  test('does nothing when either side of an append is not an array, or is missing', () => {
    const input = { a: [1], b: { x: 1 }, s: 'str' };
    assert.deepEqual(run(input, op('append', 'a', 'b')), input);
    assert.deepEqual(run(input, op('append', 'b', 'a')), input);
    assert.deepEqual(run(input, op('append', 'a', 'missing')), input);
    assert.deepEqual(run(input, op('append', 'missing', 'a')), input);
    assert.deepEqual(run(input, op('append', 'a', 's')), input);
  });

  test('appending an array to itself deletes it, as in Lura', () => {
    assert.deepEqual(run({ a: [1, 2], b: 1 }, op('append', 'a', 'a')), { b: 1 });
  });

  test('appends the matches of a wildcard as an array', () => {
    // The items lose their only key, so they become null.
    assert.deepEqual(run({ a: [{ id: 1 }, { id: 2 }], ids: [0] }, op('append', 'a.*.id', 'ids')), {
      a: [null, null],
      ids: [0, 1, 2],
    });
  });

  test('appending after deleting an item writes index by index over the remaining items, as in Lura', () => {
    // After `del a.0` the items keep their labels 1 and 2; the append rewrites labels 0, 1, 2 with the new list.
    const out = run({ a: [{ x: 1 }, { x: 2 }, { x: 3 }], b: [{ y: 9 }] }, op('del', 'a.0'), op('append', 'b', 'a'));
    assert.deepEqual(out, { a: [{ x: 3 }, { x: 3, y: 9 }, { x: 2 }] });
  });

  test('deletes an array item by index and closes the gap', () => {
    assert.deepEqual(run({ a: [1, 2, 3] }, op('del', 'a.1')), { a: [1, 3] });
  });

  test('deleting every child of a container leaves null, an originally empty one stays empty', () => {
    assert.deepEqual(run({ a: [1, 2], o: { k: 1 }, e: [], m: {} }, op('del', 'a.*', 'o.k', 'e.*', 'm.*')), {
      a: null,
      o: null,
      e: [],
      m: {},
    });
  });

  test('deletes through nested wildcards (a.*.*.x)', () => {
    const out = run({ a: [[{ x: 1, y: 1 }], [{ x: 2 }, { x: 3, y: 3 }]] }, op('del', 'a.*.*.x'));
    assert.deepEqual(out, { a: [[{ y: 1 }], [null, { y: 3 }]] });
  });

  test('renames through nested wildcards over arrays of arrays (a.*.*.x → a.*.*.z)', () => {
    const out = run({ a: [[{ x: 1 }], [{ x: 2 }, { y: 3 }]] }, op('move', 'a.*.*.x', 'a.*.*.z'));
    assert.deepEqual(out, { a: [[{ z: 1 }], [{ z: 2 }, { y: 3 }]] });
  });

  test('a wildcard matches object keys as well as array indexes', () => {
    const out = run({ m: { p: { secret: 1, ok: 1 }, q: { secret: 2 } } }, op('del', 'm.*.secret'));
    assert.deepEqual(out, { m: { p: { ok: 1 }, q: null } });
  });

  test('reaches into the collection key of an is_collection backend like any other key', () => {
    const out = run({ collection: [{ id: 1, pw: 'a' }, { id: 2, pw: 'b' }] }, op('del', 'collection.*.pw'));
    assert.deepEqual(out, { collection: [{ id: 1 }, { id: 2 }] });
  });

  test('runs the operations in the order they are declared', () => {
    const input = { a: 1 };
    assert.deepEqual(run(input, op('move', 'a', 'b'), op('del', 'b')), {});
    assert.deepEqual(run(input, op('del', 'b'), op('move', 'a', 'b')), { b: 1 });
  });

  test('a renamed key that lands on an existing key wins, deterministically', () => {
    assert.deepEqual(run({ a: 1, b: 2 }, op('move', 'a', 'b')), { b: 1 });
    assert.deepEqual(run({ b: 2, a: 1 }, op('move', 'a', 'b')), { b: 1 });
    assert.deepEqual(run({ o: { b: 2 }, a: 1 }, op('move', 'a', 'o.b')), { o: { b: 1 } });
    assert.deepEqual(run({ o: { a: 1 }, b: 2 }, op('move', 'o.a', 'b')), { o: null, b: 1 });
  });

  test('a rename keeps the key in place', () => {
    assert.deepEqual(Object.keys(run({ x: 1, a: 2, y: 3 }, op('move', 'a', 'b'))), ['x', 'b', 'y']);
  });

  test('embedding under a scalar turns it into an object; under an array it adds an item', () => {
    assert.deepEqual(run({ a: 1, s: 5 }, op('move', 'a', 's.x')), { s: { x: 1 } });
    assert.deepEqual(run({ a: 1, l: [0] }, op('move', 'a', 'l.x')), { l: [0, 1] });
  });

  test('moves a key into a new object named like itself (a → a.b)', () => {
    assert.deepEqual(run({ a: { k: 1 } }, op('move', 'a', 'a.b')), { a: { b: { k: 1 } } });
  });

  test('carries big numbers exactly, as the same JsonNumber', () => {
    const id = new JsonNumber('12345678901234567890');
    const out = createFlatmap([op('move', 'user.id', 'id')])({ user: { id, name: 'n' } });
    assert.equal(out.id, id);
    assert.deepEqual(out.user, { name: 'n' });
  });

  test('treats __proto__ as an ordinary key', () => {
    const input = JSON.parse('{"__proto__": {"x": 1}, "a": 2}') as JsonObject;
    const out = createFlatmap([op('move', 'a', '__proto__.a')])(input);
    assert.equal(Object.getPrototypeOf(out), Object.prototype);
    assert.deepEqual(Object.getOwnPropertyDescriptor(out, '__proto__')?.value, { x: 1, a: 2 });
  });

  test('never fails on paths that do not match the body', () => {
    const input: JsonObject = { a: 1, b: [1, { c: 2 }], o: { p: 'x' }, n: null };
    const paths = ['x', 'a.b.c', 'b.9', 'b.*.c.d', '*.*.*.*', 'o.p.q', 'n.x', '', 'a..b', '*', 'b.-1', 'o.*.*'];
    for (const p of paths) {
      run(input, op('del', p));
      for (const q of paths) {
        run(input, op('move', p, q));
        run(input, op('append', p, q));
      }
    }
  });

  test('deleting every top-level key with * gives an empty object (Lura would render null)', () => {
    assert.deepEqual(run({ a: 1, b: 2 }, op('del', '*')), {});
  });

  test('returns the untouched parts of the input as they are', () => {
    const untouched = { deep: { x: 1 } };
    const out = createFlatmap([op('del', 'gone')])({ keep: untouched, gone: 1 });
    assert.equal(out.keep, untouched);
  });

  test('gives the same result when run twice on the same input', () => {
    const flatmap = createFlatmap([op('append', 'y', 'z'), op('move', 'collection.*.c', 'collection.*.x')]);
    const input = deepFreeze(luraSample());
    assert.deepEqual(flatmap(input), flatmap(input));
  });
});

function meta() {
  return { statusCode: 200, headers: { 'x-a': ['1'] } };
}

describe('flatmapMiddleware (endpoint level)', () => {
  const extra: ExtraConfig = { proxy: { flatmap_filter: [{ type: 'del', args: ['secret'] }] } };
  const signal = new AbortController().signal;

  test('is undefined when the namespace, the key or the operations are absent', () => {
    assert.equal(flatmapMiddleware({}), undefined);
    assert.equal(flatmapMiddleware({ proxy: { sequential: true } }), undefined);
    assert.equal(flatmapMiddleware({ proxy: { flatmap_filter: [] } }), undefined);
  });

  test('filters the data and keeps the rest of the response', async () => {
    const res = await flatmapMiddleware(extra)!(() =>
      Promise.resolve({ data: { secret: 1, ok: 2 }, isComplete: true, metadata: meta() }),
    )(request, signal);
    assert.deepEqual(res, { data: { ok: 2 }, isComplete: true, metadata: meta() });
  });

  test('leaves a partial response untouched, as Lura skips the filter when the merge returns an error', async () => {
    const partial: MergedResponse = {
      data: { secret: 1 },
      isComplete: false,
      metadata: meta(),
      errors: [new Error('x')],
    };
    const res = await flatmapMiddleware(extra)!(() => Promise.resolve(partial))(request, signal);
    assert.equal(res, partial);
  });

  test('leaves a streamed response untouched and propagates errors', async () => {
    const streamed: ProxyResponse = { data: {}, isComplete: true, metadata: meta(), stream: Readable.from([]) };
    assert.equal(await flatmapMiddleware(extra)!(() => Promise.resolve(streamed))(request, signal), streamed);
    const failure = new Error('down');
    const failed = flatmapMiddleware(extra)!(() => Promise.reject(failure))(request, signal);
    await assert.rejects(failed, (e) => e === failure);
  });
});

describe('backendFlatmapMiddleware', () => {
  const signal = new AbortController().signal;
  const answer = (data: JsonObject): Proxy => () => Promise.resolve({ data, isComplete: true, metadata: meta() });

  test('is undefined without a filter, so that the entity formatter applies', () => {
    assert.equal(backendFlatmapMiddleware({ extraConfig: {}, target: 'x', group: 'g' }), undefined);
    assert.equal(
      backendFlatmapMiddleware({ extraConfig: { proxy: { flatmap_filter: [] } }, target: undefined, group: undefined }),
      undefined,
    );
  });

  test('without target and group, only the operations run', async () => {
    const mw = backendFlatmapMiddleware({
      extraConfig: { proxy: { flatmap_filter: [{ type: 'move', args: ['a', 'b'] }] } },
      target: undefined,
      group: undefined,
    })!;
    const res = await mw(answer({ a: 1 }))(request, signal);
    assert.deepEqual(res, { data: { b: 1 }, isComplete: true, metadata: meta() });
  });

  test('a missing target gives an empty body to the operations, then group wraps it', async () => {
    const mw = backendFlatmapMiddleware({
      extraConfig: { proxy: { flatmap_filter: [{ type: 'del', args: ['a'] }] } },
      target: 'nope',
      group: 'g',
    })!;
    assert.deepEqual((await mw(answer({ a: 1 }))(request, signal)).data, { g: {} });
  });
});

describe('flatmap config validation', () => {
  const problemsOf = (filter: JsonValue) => validateFlatmapNamespace({ flatmap_filter: filter });

  test('accepts well-formed operations, and an absent or empty list', () => {
    assert.deepEqual(validateFlatmapNamespace({}), []);
    assert.deepEqual(problemsOf([]), []);
    assert.deepEqual(
      problemsOf([
        { type: 'move', args: ['a', 'b'] },
        { type: 'append', args: ['a', 'b'], '@comment': 'ignored' },
        { type: 'del', args: ['a', 'b', 'c'] },
      ]),
      [],
    );
  });

  test('reports each bad shape with its key', () => {
    assert.deepEqual(problemsOf({}), ['proxy.flatmap_filter: expected a list of operations, got an object']);
    assert.deepEqual(problemsOf([42]), [
      'proxy.flatmap_filter[0]: expected an operation object {"type", "args"}, got the number 42',
    ]);
    assert.deepEqual(problemsOf([{ type: 'rename', args: ['a', 'b'] }]), [
      'proxy.flatmap_filter[0].type: unknown operation "rename": use "move", "del" or "append"',
    ]);
    assert.deepEqual(problemsOf([{ args: ['a'] }]), [
      'proxy.flatmap_filter[0].type: missing: use "move", "del" or "append"',
    ]);
    assert.deepEqual(problemsOf([{ type: 'del' }]), ['proxy.flatmap_filter[0].args: missing']);
    assert.deepEqual(problemsOf([{ type: 'del', args: 'a' }]), [
      'proxy.flatmap_filter[0].args: expected a list of paths, got "a"',
    ]);
    assert.deepEqual(problemsOf([{ type: 'del', args: [] }]), [
      'proxy.flatmap_filter[0].args: "del" takes at least one path, got none',
    ]);
    assert.deepEqual(problemsOf([{ type: 'move', args: ['a'] }]), [
      'proxy.flatmap_filter[0].args: "move" takes exactly 2 paths [source, destination], got 1',
    ]);
    assert.deepEqual(problemsOf([{ type: 'append', args: ['a', 'b', 'c'] }]), [
      'proxy.flatmap_filter[0].args: "append" takes exactly 2 paths [array to append, array appended to], got 3',
    ]);
    assert.deepEqual(problemsOf([{ type: 'del', args: ['a', 1] }]), [
      'proxy.flatmap_filter[0].args[1]: expected a path string, got the number 1',
    ]);
  });

  test('the middlewares throw a config error naming the key', () => {
    const bad: ExtraConfig = { proxy: { flatmap_filter: [{ type: 'move', args: ['a'] }] } };
    const check = (err: unknown) =>
      isKrakendError(err, ErrorCode.ConfigInvalid) && err.message.includes('proxy.flatmap_filter[0].args');
    assert.throws(() => flatmapMiddleware(bad), check);
    assert.throws(() => backendFlatmapMiddleware({ extraConfig: bad, target: undefined, group: undefined }), check);
    assert.throws(() => readFlatmapFilter({ proxy: 'x' }), (err) => isKrakendError(err, ErrorCode.ConfigInvalid));
  });

  test('compiles paths once into segments', () => {
    assert.deepEqual(readFlatmapFilter({ proxy: { flatmap_filter: [{ type: 'del', args: ['a.*.b', 'c'] }] } }), [
      { type: 'del', args: [['a', '*', 'b'], ['c']] },
    ]);
  });
});
