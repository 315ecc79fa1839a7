import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { SeededRandom } from '../../../src/base/random.js';
import { encodeJson } from '../../../src/gateway/json/encode.js';
import { mayLoseNumbers, parseJson, parseLossless } from '../../../src/gateway/json/parse.js';
import { JsonNumber } from '../../../src/gateway/json/types.js';
import type { JsonValue } from '../../../src/gateway/json/types.js';

const num = (text: string): JsonNumber => new JsonNumber(text);

/** Both paths, so that every behaviour is pinned on the lossless parser as well as on the dispatcher. */
const parsers = [
  { name: 'parseJson', parse: parseJson },
  { name: 'parseLossless', parse: parseLossless },
] as const;

/** JSON.parse's view of a value: what the lossless parser returns, with each JsonNumber read as a float64. */
function asFloats(value: JsonValue): unknown {
  if (value instanceof JsonNumber) return Number(value.text);
  if (Array.isArray(value)) return value.map(asFloats);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value)) {
      Object.defineProperty(out, key, { value: asFloats(value[key] as JsonValue), enumerable: true, writable: true });
    }
    return out;
  }
  return value;
}

describe('parseJson numbers', () => {
  it('keeps integers beyond 2^53 with all their digits', () => {
    for (const { parse } of parsers) {
      assert.deepEqual(parse('{"id":12345678901234567890}'), { id: num('12345678901234567890') });
      assert.deepEqual(parse('[-9007199254740993, 9007199254740993]'), [
        num('-9007199254740993'),
        num('9007199254740993'),
      ]);
      assert.deepEqual(parse('123456789012345678901234567890'), num('123456789012345678901234567890'));
    }
  });

  it('returns plain numbers for every number a float64 reproduces exactly', () => {
    for (const { parse } of parsers) {
      const value = parse('[0, -1, 42, 1.5, -0.25, 9007199254740991, 0.1, 0.000001, 1e+21, 0.30000000000000004]');
      assert.deepEqual(value, [0, -1, 42, 1.5, -0.25, 9007199254740991, 0.1, 0.000001, 1e21, 0.30000000000000004]);
    }
  });

  it('keeps decimals with trailing zeros as written', () => {
    for (const { parse } of parsers) {
      assert.deepEqual(parse('[1.10, 2.0, 0.0, -0.0, 100.500]'), [
        num('1.10'),
        num('2.0'),
        num('0.0'),
        num('-0.0'),
        num('100.500'),
      ]);
    }
  });

  it('keeps exponents as written, unless JS would print the same exponent form', () => {
    for (const { parse } of parsers) {
      assert.deepEqual(parse('[1e5, 1E5, 2e+3, 1.5e-10, 1e21, 1e400, -1e-400]'), [
        num('1e5'),
        num('1E5'),
        num('2e+3'),
        1.5e-10,
        num('1e21'),
        num('1e400'),
        num('-1e-400'),
      ]);
    }
  });

  it('keeps negative zero and numbers below 1e-6 as written', () => {
    for (const { parse } of parsers) {
      assert.deepEqual(parse('[-0, 0.0000001, -0.00000012]'), [num('-0'), num('0.0000001'), num('-0.00000012')]);
    }
  });

  it('returns plain numbers alongside the kept ones in the same body', () => {
    assert.deepEqual(parseJson('{"id":12345678901234567890,"qty":3,"price":19.99,"ok":true}'), {
      id: num('12345678901234567890'),
      qty: 3,
      price: 19.99,
      ok: true,
    });
  });

  it('leaves number-like text inside strings untouched, on either path', () => {
    const strings =
      '"a":"12345678901234567890","b":"1.10","c":"x, 1.10, y","d":"1e5",' +
      '"e":"-0","f":"[1.0]","g":"2024-03-18T09:41:27.120Z"';
    const expected = {
      a: '12345678901234567890',
      b: '1.10',
      c: 'x, 1.10, y',
      d: '1e5',
      e: '-0',
      f: '[1.0]',
      g: '2024-03-18T09:41:27.120Z',
    };
    assert.deepEqual(parseJson(`{${strings}}`), expected);
    assert.deepEqual(parseJson(`{${strings},"id":12345678901234567890}`), {
      ...expected,
      id: num('12345678901234567890'),
    });
  });

  it('reads numbers in keys as ordinary key text', () => {
    assert.deepEqual(parseJson('{"1.10":1,"12345678901234567890":2}'), { '1.10': 1, '12345678901234567890': 2 });
  });
});

describe('mayLoseNumbers', () => {
  it('answers false for bodies whose numbers all round-trip, timestamps and ids in strings included', () => {
    const body = JSON.stringify({
      id: 48213,
      at: '2024-03-18T09:41:27.120Z',
      uuid: '550e8400-e29b-41d4-a716-446655440000',
      card: '4111111111111111',
      version: '1.10.0',
      price: 24.5,
      lat: -3.70379,
      tiny: 0.000001,
      computed: 0.30000000000000004,
      list: [1, -2, 3.25],
    });
    assert.equal(mayLoseNumbers(body), false);
    assert.equal(mayLoseNumbers(JSON.stringify(JSON.parse(body), null, 2)), false);
  });

  it('answers true for every kind of number that would not round-trip, in any layout', () => {
    for (const token of ['12345678901234567890', '1.10', '1e5', '-0', '0.0000001', '1234567890.12345678']) {
      for (const text of [`[${token}]`, `{"a":${token}}`, `{"a": ${token} }`, `[1,\n\t${token}\r\n]`, token]) {
        assert.equal(mayLoseNumbers(text), true, text);
      }
    }
  });

  it('never misses a number that would not round-trip (seeded random tokens)', () => {
    const random = new SeededRandom(42);
    const digits = (n: number, nonZeroFirst: boolean): string => {
      let s = nonZeroFirst ? String(1 + random.int(9)) : '';
      while (s.length < n) s += String(random.int(10));
      return s;
    };
    const layouts = [(t: string) => `[${t}]`, (t: string) => `{"k" :\n ${t}}`, (t: string) => `[true, ${t},1]`];
    for (let i = 0; i < 20_000; i++) {
      let token = random.int(3) === 0 ? '-' : '';
      token += random.int(4) === 0 ? '0' : digits(1 + random.int(random.int(2) === 0 ? 22 : 5), true);
      if (random.int(2) === 0) {
        token += '.' + '0'.repeat(random.int(3) === 0 ? random.int(9) : 0) + digits(1 + random.int(18), false);
      }
      if (random.int(6) === 0) token += 'eE'[random.int(2)] + ['', '+', '-'][random.int(3)] + digits(2, false);
      const text = (layouts[random.int(layouts.length)] as (t: string) => string)(token);
      const loses = String(Number(token)) !== token;
      assert.equal(mayLoseNumbers(text), loses, text);
    }
  });
});

describe('parseLossless numbers', () => {
  it('returns a JsonNumber exactly when String(Number(token)) differs from the token (seeded random tokens)', () => {
    const random = new SeededRandom(43);
    const digits = (n: number, nonZeroFirst: boolean): string => {
      let s = nonZeroFirst ? String(1 + random.int(9)) : '';
      while (s.length < n) s += String(random.int(10));
      return s;
    };
    for (let i = 0; i < 20_000; i++) {
      let token = random.int(3) === 0 ? '-' : '';
      token += random.int(3) === 0 ? '0' : digits(1 + random.int(random.int(2) === 0 ? 20 : 6), true);
      if (random.int(2) === 0) {
        token += '.' + '0'.repeat(random.int(3) === 0 ? random.int(9) : 0) + digits(1 + random.int(12), false);
      }
      if (random.int(8) === 0) token += 'eE'[random.int(2)] + ['', '+', '-'][random.int(3)] + digits(2, false);
      const expected = String(Number(token)) === token ? Number(token) : num(token);
      assert.deepEqual((parseLossless(`[${token}]`) as JsonValue[])[0], expected, token);
    }
  });
});

describe('parseJson structure', () => {
  it('parses nested arrays and objects and empty containers on the lossless path', () => {
    const text = '{"a":[[],[{}],{"b":[1,{"c":null}]}],"e":{},"f":[],"id":12345678901234567890}';
    assert.deepEqual(parseLossless(text), {
      a: [[], [{}], { b: [1, { c: null }] }],
      e: {},
      f: [],
      id: num('12345678901234567890'),
    });
  });

  it('decodes string escapes as JSON.parse does', () => {
    const text = '["\\u00e9\\n\\t\\"\\\\\\/", "\\ud83d\\ude00", "\\ud800", "plain", ""]';
    for (const { parse } of parsers) assert.deepEqual(parse(text), JSON.parse(text));
  });

  it('finds the end of strings that hold escaped quotes and end in escaped backslashes', () => {
    const text = '["a\\\\", "\\"", "x\\\\\\"y", "\\\\\\\\", {"k\\\\":"v\\""}]';
    for (const { parse } of parsers) assert.deepEqual(parse(text), JSON.parse(text));
  });

  it('parses multi-megabyte strings full of escapes on the lossless path', () => {
    const big = 'ab\\n\\"\\u00e9'.repeat(200_000);
    const text = `{"s":"${big}","id":12345678901234567890}`;
    const value = parseJson(text) as Record<string, JsonValue>;
    assert.equal(value['s'], JSON.parse(`"${big}"`) as string);
    assert.deepEqual(value['id'], num('12345678901234567890'));
  });

  it('accepts all four kinds of JSON whitespace around every token', () => {
    const text = ' \t\n\r{ \t\n\r"a" \t\n\r: \t\n\r[ \t\n\r1.10 \t\n\r, \t\n\rtrue \t\n\r] \t\n\r} \t\n\r';
    for (const { parse } of parsers) assert.deepEqual(parse(text), { a: [num('1.10'), true] });
  });

  it('parses top-level scalars', () => {
    for (const { parse } of parsers) {
      assert.equal(parse(' 42 '), 42);
      assert.equal(parse('"x"'), 'x');
      assert.equal(parse('true'), true);
      assert.equal(parse('null'), null);
      assert.deepEqual(parse('1.10'), num('1.10'));
    }
  });

  it('keeps the last of duplicate keys in the first position, as JSON.parse does', () => {
    const text = '{"a":1,"b":2,"a":3,"id":12345678901234567890}';
    const value = parseLossless(text) as Record<string, JsonValue>;
    assert.deepEqual(Object.keys(value), ['a', 'b', 'id']);
    assert.equal(value['a'], 3);
  });

  it('orders integer-like keys as JSON.parse does', () => {
    const text = '{"b":1,"10":2,"2":3,"a":4}';
    assert.deepEqual(Object.keys(parseLossless(text) as object), Object.keys(JSON.parse(text) as object));
  });

  it('accepts a Buffer or a Uint8Array of UTF-8', () => {
    const text = '{"name":"Ana García","id":12345678901234567890}';
    const expected = { name: 'Ana García', id: num('12345678901234567890') };
    assert.deepEqual(parseJson(Buffer.from(text)), expected);
    assert.deepEqual(parseJson(new TextEncoder().encode(text)), expected);
    const slice = new TextEncoder().encode(`xx${text}yy`).subarray(2, 2 + Buffer.byteLength(text));
    assert.deepEqual(parseJson(slice), expected);
  });

  it('turns invalid UTF-8 bytes into U+FFFD, as Go does', () => {
    assert.equal(parseJson(Buffer.from([0x22, 0x61, 0xff, 0x62, 0x22])), 'a\ufffdb');
  });
});

describe('parseJson hostile input', () => {
  it('makes a __proto__ key an own data property, never the prototype', () => {
    for (const { parse } of parsers) {
      const value = parse('{"__proto__":{"polluted":true},"a":{"__proto__":[1]},"id":12345678901234567890}');
      assert.equal(Object.getPrototypeOf(value), Object.prototype);
      assert.ok(Object.hasOwn(value as object, '__proto__'));
      const own = Object.getOwnPropertyDescriptor(value, '__proto__');
      assert.deepEqual(own?.value, { polluted: true });
      assert.equal(own?.enumerable, true);
      const inner = (value as Record<string, JsonValue>)['a'] as object;
      assert.equal(Object.getPrototypeOf(inner), Object.prototype);
      assert.deepEqual(Object.getOwnPropertyDescriptor(inner, '__proto__')?.value, [1]);
      assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
    }
  });

  it('keeps the last of duplicate __proto__ keys', () => {
    const value = parseLossless('{"__proto__":1,"__proto__":2}');
    assert.equal(Object.getOwnPropertyDescriptor(value, '__proto__')?.value, 2);
    assert.equal(Object.getPrototypeOf(value), Object.prototype);
  });

  it('parses 100000 nested arrays without exhausting the stack, on both paths', () => {
    const depth = 100_000;
    for (const inner of ['', '12345678901234567890']) {
      const text = '['.repeat(depth) + inner + ']'.repeat(depth);
      for (const { parse } of parsers) {
        let node = parse(text);
        let levels = 0;
        while (Array.isArray(node) && node.length === 1) {
          node = node[0] as JsonValue;
          levels++;
        }
        assert.equal(levels, inner === '' ? depth - 1 : depth);
      }
    }
  });

  it('rejects 100000 unclosed brackets or braces with a SyntaxError', () => {
    for (const text of ['['.repeat(100_000), '{"a":'.repeat(100_000), '[12345678901234567890,' + '['.repeat(100_000)]) {
      for (const { parse } of parsers) assert.throws(() => parse(text), SyntaxError);
    }
  });

  it('throws a RangeError, not a crash, when encoding a value nested beyond the stack', () => {
    const text = '['.repeat(100_000) + ']'.repeat(100_000);
    const value = parseJson(text);
    assert.throws(() => encodeJson(value), RangeError);
  });
});

describe('parseJson invalid input', () => {
  const invalid = [
    '',
    ' ',
    '[1,]',
    '{"a":1,}',
    '[,1]',
    '{,}',
    "['a']",
    "{'a':1}",
    '{a:1}',
    'NaN',
    '[NaN]',
    'Infinity',
    '-Infinity',
    '01',
    '[01]',
    '-01',
    '00',
    '"abc',
    '["abc]',
    '{"a',
    '-',
    '[-]',
    '1.',
    '[1.]',
    '.5',
    '+1',
    '1e',
    '1e+',
    '[1 2]',
    '{"a" 1}',
    '{"a":}',
    '{"a":1 "b":2}',
    '[',
    ']',
    '{',
    '}',
    'nul',
    'tru',
    'True',
    '"\\x"',
    '"\\u12"',
    '"\t"',
    '"a\nb"',
    '[1]x',
    '{"a":1}}',
    '// comment',
    '/* c */ 1',
    '\ufeff{}',
    '0x10',
    '1_000',
    '[1,,2]',
    '{"a":1,,"b":2}',
    '[12345678901234567890,]',
    '{"id":12345678901234567890,}',
    '[1.10 2]',
  ];

  it('rejects exactly what JSON.parse rejects, with the same SyntaxError', () => {
    for (const text of invalid) {
      let expected: unknown;
      assert.throws(
        () => JSON.parse(text),
        (err) => {
          expected = err;
          return err instanceof SyntaxError;
        },
      );
      for (const { name, parse } of parsers) {
        assert.throws(
          () => parse(text),
          (err) => err instanceof SyntaxError && err.message === (expected as SyntaxError).message,
          `${name} ${JSON.stringify(text)}`,
        );
      }
    }
  });

  it('rejects invalid values inside a body that takes the lossless path', () => {
    for (const text of invalid) {
      const body = `{"id":12345678901234567890,"x":${text}}`;
      let message = '';
      assert.throws(() => JSON.parse(body), (err) => {
        message = (err as Error).message;
        return true;
      });
      assert.throws(
        () => parseJson(body),
        (err) => err instanceof SyntaxError && err.message === message,
        body,
      );
    }
  });

  it('reports a position in the error message', () => {
    assert.throws(() => parseLossless('{"id":12345678901234567890,"a":01}'), /position \d+/);
  });
});

describe('parseJson property', () => {
  const STRING_PIECES = ['a', 'Z', ' ', '<', '&', '"', '\\', '/', '\n', '\u0001', '\u2028', 'é', '中', '😀'];
  // Number-like text inside strings and keys, which the pre-check must not mistake for numbers.
  STRING_PIECES.push('1.10', '12345678901234567890', ', 1e5', ',', ':', '[');
  const NUMBER_TOKENS = [
    '0',
    '-0',
    '7',
    '-12',
    '3.25',
    '1.10',
    '1e5',
    '2E-3',
    '0.0000001',
    '0.000001',
    '12345678901234567890',
    '-9007199254740993',
    '9007199254740991',
    '0.30000000000000004',
    '1e+21',
  ];

  /** A random document as text, built alongside the value parseJson must return for it. */
  function generate(random: SeededRandom, depth: number): { text: string; value: JsonValue } {
    const ws = (): string => ['', ' ', '\n  ', '\t'][random.int(4)] as string;
    const kind = random.int(depth > 4 ? 4 : 6);
    if (kind === 0) {
      const token = NUMBER_TOKENS[random.int(NUMBER_TOKENS.length)] as string;
      return { text: token, value: String(Number(token)) === token ? Number(token) : num(token) };
    }
    if (kind === 1) {
      const n = (random.float() - 0.5) * 10 ** random.int(22);
      return { text: String(n), value: n };
    }
    if (kind === 2) {
      const s = randomString(random);
      return { text: quote(random, s), value: s };
    }
    if (kind === 3) {
      const v = [true, false, null][random.int(3)] as JsonValue;
      return { text: String(v), value: v };
    }
    if (kind === 4) {
      const items = Array.from({ length: random.int(5) }, () => generate(random, depth + 1));
      return {
        text: '[' + items.map((i) => ws() + i.text + ws()).join(',') + ']',
        value: items.map((i) => i.value),
      };
    }
    const value: Record<string, JsonValue> = {};
    const members: string[] = [];
    for (let i = random.int(5); i > 0; i--) {
      const key = random.int(10) === 0 ? '__proto__' : randomString(random);
      const member = generate(random, depth + 1);
      members.push(ws() + quote(random, key) + ws() + ':' + ws() + member.text);
      Object.defineProperty(value, key, { value: member.value, enumerable: true, writable: true, configurable: true });
    }
    return { text: '{' + members.join(',') + '}', value };
  }

  function randomString(random: SeededRandom): string {
    let s = '';
    for (let i = random.int(5); i > 0; i--) s += STRING_PIECES[random.int(STRING_PIECES.length)];
    return s;
  }

  /** Quotes a string, sometimes with every character as a \u escape, to exercise the escape path. */
  function quote(random: SeededRandom, s: string): string {
    if (random.int(3) !== 0) return JSON.stringify(s);
    let out = '"';
    for (let i = 0; i < s.length; i++) out += '\\u' + s.charCodeAt(i).toString(16).padStart(4, '0');
    return out + '"';
  }

  it('returns exactly the generated value for random documents, on both paths', () => {
    const random = new SeededRandom(7);
    for (let i = 0; i < 3000; i++) {
      const { text, value } = generate(random, 0);
      for (const { name, parse } of parsers) assert.deepEqual(parse(text), value, `${name} ${text}`);
      assert.deepEqual(asFloats(parseJson(text)), JSON.parse(text));
    }
  });

  it('encodes parsed documents stably: encode(parse(encode(parse(text)))) equals encode(parse(text))', () => {
    const random = new SeededRandom(8);
    for (let i = 0; i < 3000; i++) {
      const { text } = generate(random, 0);
      const once = encodeJson(parseJson(text));
      assert.equal(encodeJson(parseJson(once)), once);
    }
  });
});
