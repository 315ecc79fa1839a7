import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { SeededRandom } from '../../../src/base/random.js';
import { compareGoKeys, encodeJson } from '../../../src/gateway/json/encode.js';
import { parseJson } from '../../../src/gateway/json/parse.js';
import { JsonNumber } from '../../../src/gateway/json/types.js';
import type { JsonObject, JsonValue } from '../../../src/gateway/json/types.js';

const num = (text: string): JsonNumber => new JsonNumber(text);

/** What Go's encoding/json writes, spelled out one rule at a time: slow, but plainly right. */
function referenceEncode(value: JsonValue): string {
  if (value === null) return 'null';
  if (value instanceof JsonNumber) return value.text;
  if (Array.isArray(value)) return '[' + value.map(referenceEncode).join(',') + ']';
  switch (typeof value) {
    case 'boolean':
      return String(value);
    case 'number':
      return Object.is(value, -0) ? '-0' : String(value);
    case 'string':
      return referenceString(value);
    default: {
      const obj = value as JsonObject;
      const keys = Object.keys(obj)
        .filter((k) => obj[k] !== undefined)
        .sort((a, b) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));
      return '{' + keys.map((k) => referenceString(k) + ':' + referenceEncode(obj[k] as JsonValue)).join(',') + '}';
    }
  }
}

function referenceString(s: string): string {
  let out = '"';
  // for…of walks code points; a lone surrogate comes out on its own.
  for (const ch of s) {
    const c = ch.codePointAt(0) as number;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (c < 0x20 || ch === '<' || ch === '>' || ch === '&' || c === 0x2028 || c === 0x2029) {
      out += '\\u' + c.toString(16).padStart(4, '0');
    } else if (c >= 0xd800 && c <= 0xdfff) out += '\ufffd';
    else out += ch;
  }
  return out + '"';
}

describe('encodeJson against Go', () => {
  // Inputs decoded with json.Decoder.UseNumber and re-encoded with json.Marshal by Go 1.19 (KrakenD's path).
  const cases: Array<[string, string]> = [
    [
      '{"status":"shipped","id":12345678901234567890,"total":197.690,"ratio":1e-7,"created_at":"2024-03-18T09:41:27.120Z","customer":{"name":"Ana García","note":"<b>VIP</b> & friends","vip":true,"zip":"28013"},"items":[{"sku":"KB-1042","qty":1,"price":89.9,"discount":null,"tags":["peripherals","usb-c"]},{"sku":"MS-220","qty":2,"price":24.50,"discount":0.15,"tags":[]}],"empty":{},"flags":[true,false,null],"big":-9007199254740993,"exp":1E+5,"neg0":-0}',
      '{"big":-9007199254740993,"created_at":"2024-03-18T09:41:27.120Z","customer":{"name":"Ana García","note":"\\u003cb\\u003eVIP\\u003c/b\\u003e \\u0026 friends","vip":true,"zip":"28013"},"empty":{},"exp":1E+5,"flags":[true,false,null],"id":12345678901234567890,"items":[{"discount":null,"price":89.9,"qty":1,"sku":"KB-1042","tags":["peripherals","usb-c"]},{"discount":0.15,"price":24.50,"qty":2,"sku":"MS-220","tags":[]}],"neg0":-0,"ratio":1e-7,"status":"shipped","total":197.690}',
    ],
    [
      '{"z":1,"a":2,"é":3,"\\ue000":4,"😀":5,"Z":6,"10":7,"2":8,"":9,"a\\u0000":10,"aa":11}',
      '{"":9,"10":7,"2":8,"Z":6,"a":2,"a\\u0000":10,"aa":11,"z":1,"é":3,"\ue000":4,"😀":5}',
    ],
    [
      '["line\\u2028sep\\u2029para","tab\\tnl\\ncr\\rbs\\bff\\fnul\\u0000us\\u001fdel\\u007f","quote\\"backslash\\\\slash\\/","\\ud800 lone high","lone low \\udc00","pair \\ud83d\\ude00","html <script>&amp;</script>"]',
      '["line\\u2028sep\\u2029para","tab\\tnl\\ncr\\rbs\\u0008ff\\u000cnul\\u0000us\\u001fdel\u007f","quote\\"backslash\\\\slash/","\ufffd lone high","lone low \ufffd","pair 😀","html \\u003cscript\\u003e\\u0026amp;\\u003c/script\\u003e"]',
    ],
    [
      '{"nested":[[[[]]],{"a":{"b":{"c":[1,{"d":[]}]}}}],"n":[0,-1,1.5,-0.0,1e21,1e+21,0.000001,0.0000001,5e-324,1.7976931348623157e308,123456789012345678901234567890,0.30000000000000004]}',
      '{"n":[0,-1,1.5,-0.0,1e21,1e+21,0.000001,0.0000001,5e-324,1.7976931348623157e308,123456789012345678901234567890,0.30000000000000004],"nested":[[[[]]],{"a":{"b":{"c":[1,{"d":[]}]}}}]}',
    ],
  ];

  it('writes decoded real-world bodies byte for byte as Go does', () => {
    for (const [input, goOutput] of cases) assert.equal(encodeJson(parseJson(input)), goOutput);
  });

  it('round-trips real-world bodies: parsing the output gives the same value back', () => {
    for (const [input] of cases.filter(([input]) => !input.includes('\\ud800'))) {
      const value = parseJson(input);
      assert.deepEqual(parseJson(encodeJson(value)), value);
    }
  });
});

describe('encodeJson objects', () => {
  it('sorts keys and writes no whitespace', () => {
    assert.equal(encodeJson({ b: 1, a: [1, 2], c: { z: null, y: true } }), '{"a":[1,2],"b":1,"c":{"y":true,"z":null}}');
  });

  it('sorts integer-like keys as text, not as numbers', () => {
    assert.equal(encodeJson({ '10': 1, '2': 2, '1': 3, a: 4 }), '{"1":3,"10":1,"2":2,"a":4}');
  });

  it('sorts astral keys after U+E000–U+FFFF, by UTF-8 bytes as Go does', () => {
    // UTF-16 order would put 😀 (D83D DE00) before U+E000 and U+FFFD.
    assert.equal(
      encodeJson({ '😀': 1, '\ue000': 2, '\ufffd': 3, é: 4, z: 5 }),
      '{"z":5,"é":4,"\ue000":2,"\ufffd":3,"😀":1}',
    );
  });

  it('orders keys the same way for any insertion order and object shape', () => {
    const random = new SeededRandom(3);
    const keys = ['id', 'name', 'Name', 'a', 'ab', 'é', '😀', '\ue000', '10', '9', '', '<', 'z\u0000'];
    const expected = referenceEncode(Object.fromEntries(keys.map((k, i) => [k, i])));
    for (let i = 0; i < 200; i++) {
      const shuffled = random.shuffle([...keys]);
      assert.equal(encodeJson(Object.fromEntries(shuffled.map((k) => [k, keys.indexOf(k)]))), expected);
    }
  });

  it('writes __proto__ as an ordinary key', () => {
    const value = parseJson('{"b":1,"__proto__":{"x":1}}');
    assert.equal(encodeJson(value), '{"__proto__":{"x":1},"b":1}');
  });

  it('skips undefined properties and writes undefined array items as null', () => {
    const value = { a: undefined, b: 1, c: [undefined, 2], d: { e: undefined } } as unknown as JsonValue;
    assert.equal(encodeJson(value), '{"b":1,"c":[null,2],"d":{}}');
  });

  it('writes empty and nested containers', () => {
    assert.equal(encodeJson({ a: [], b: {}, c: [[], [{}], [[[]]]] }), '{"a":[],"b":{},"c":[[],[{}],[[[]]]]}');
    assert.equal(encodeJson([]), '[]');
    assert.equal(encodeJson({}), '{}');
  });

  it('tells apart objects that share a first key but not the rest', () => {
    const list: JsonObject[] = [
      { id: 1, name: 'a' },
      { id: 2, type: 'b' },
      { id: 3, name: 'c', extra: true },
      { id: 4 },
      { id: 5, name: 'e' },
    ];
    assert.equal(
      encodeJson(list),
      '[{"id":1,"name":"a"},{"id":2,"type":"b"},{"extra":true,"id":3,"name":"c"},{"id":4},{"id":5,"name":"e"}]',
    );
  });

  it('follows objects whose keys change between calls', () => {
    const obj: JsonObject = { b: 1, a: 2 };
    assert.equal(encodeJson(obj), '{"a":2,"b":1}');
    obj['c'] = 3;
    delete obj['a'];
    assert.equal(encodeJson(obj), '{"b":1,"c":3}');
  });

  it('stays correct for wide objects and for more shapes than its layout cache holds', () => {
    const wide: JsonObject = {};
    for (let i = 199; i >= 0; i--) wide[`k${i}`] = i;
    assert.equal(encodeJson(wide), referenceEncode(wide));
    const longKeys = { ['z'.repeat(2000)]: 1, ['a'.repeat(2000)]: 2 };
    assert.equal(encodeJson(longKeys), referenceEncode(longKeys));
    const many = Array.from({ length: 3000 }, (_, i) => ({ [`first${i}`]: i, z: i, a: i }));
    assert.equal(encodeJson(many), referenceEncode(many));
    assert.equal(encodeJson(many), referenceEncode(many));
  });
});

describe('compareGoKeys', () => {
  it('orders strings as Go orders their UTF-8 bytes, lone surrogates as U+FFFD', () => {
    const random = new SeededRandom(5);
    const units = [0x41, 0x61, 0x7a, 0xe9, 0x4e2d, 0xd7ff, 0xe000, 0xfffd, 0xffff, 0xd83d, 0xde00, 0xd800, 0xdc00, 0];
    const randomKey = (): string =>
      String.fromCharCode(...Array.from({ length: random.int(4) }, () => units[random.int(units.length)] as number));
    for (let i = 0; i < 20_000; i++) {
      const a = randomKey();
      const b = randomKey();
      const expected = Math.sign(Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));
      assert.equal(Math.sign(compareGoKeys(a, b)), expected, JSON.stringify([a, b]));
    }
  });
});

describe('encodeJson strings', () => {
  it('escapes < > & as Go does for HTML safety', () => {
    assert.equal(encodeJson('<a href="x">&</a>'), '"\\u003ca href=\\"x\\"\\u003e\\u0026\\u003c/a\\u003e"');
  });

  it('escapes U+2028 and U+2029', () => {
    assert.equal(encodeJson('a\u2028b\u2029c'), '"a\\u2028b\\u2029c"');
  });

  it('escapes control characters as Go does: \\n \\r \\t short, \\b \\f and the rest as \\u00XX', () => {
    assert.equal(encodeJson('\n\r\t'), '"\\n\\r\\t"');
    assert.equal(encodeJson('\b\f'), '"\\u0008\\u000c"');
    assert.equal(encodeJson('\u0000\u0001\u001f'), '"\\u0000\\u0001\\u001f"');
    assert.equal(encodeJson('\u007f'), '"\u007f"');
  });

  it('escapes quotes and backslashes, and leaves the slash alone', () => {
    assert.equal(encodeJson('say "hi" \\ /'), '"say \\"hi\\" \\\\ /"');
  });

  it('writes non-ASCII text and surrogate pairs as they are', () => {
    assert.equal(encodeJson('García 中文 😀'), '"García 中文 😀"');
  });

  it('writes lone surrogates as U+FFFD, as Go does after decoding them', () => {
    assert.equal(encodeJson('a\ud800b'), '"a\ufffdb"');
    assert.equal(encodeJson('\udc00'), '"\ufffd"');
    assert.equal(encodeJson('\ud83d'), '"\ufffd"');
    assert.equal(encodeJson('\ude00\ud83d'), '"\ufffd\ufffd"');
    assert.equal(encodeJson('\ud800\ud83d\ude00<'), '"\ufffd😀\\u003c"');
  });

  it('merges keys that differ only in lone surrogates, keeping the later one, as Go would see them', () => {
    assert.equal(encodeJson(parseJson('{"\\ud800":1,"b":2,"\\udbff":3}')), '{"b":2,"\ufffd":3}');
  });

  it('escapes keys with the same rules as values', () => {
    assert.equal(encodeJson({ '<k>\n': '&' }), '{"\\u003ck\\u003e\\n":"\\u0026"}');
  });
});

describe('encodeJson numbers', () => {
  it('writes JsonNumber as its source text', () => {
    assert.equal(
      encodeJson([num('12345678901234567890'), num('1.10'), num('1E+5'), num('-0')]),
      '[12345678901234567890,1.10,1E+5,-0]',
    );
  });

  it('writes float64 values as Go does, switching to exponent form below 1e-6 and from 1e21', () => {
    const cases: Array<[number, string]> = [
      [0, '0'],
      [-0, '-0'],
      [1, '1'],
      [-1.5, '-1.5'],
      [0.1 + 0.2, '0.30000000000000004'],
      [1e20, '100000000000000000000'],
      [1e21, '1e+21'],
      [-1.2345e25, '-1.2345e+25'],
      [0.000001, '0.000001'],
      [1e-7, '1e-7'],
      [1.5e-7, '1.5e-7'],
      [1e-100, '1e-100'],
      [5e-324, '5e-324'],
      [1.7976931348623157e308, '1.7976931348623157e+308'],
      [2 ** 53, '9007199254740992'],
    ];
    for (const [n, text] of cases) assert.equal(encodeJson(n), text, text);
  });

  it('rejects non-finite numbers, as Go Marshal fails on them', () => {
    assert.throws(() => encodeJson(Number.NaN), { name: 'TypeError', message: 'json: unsupported value: NaN' });
    assert.throws(() => encodeJson([Infinity]), { name: 'TypeError', message: 'json: unsupported value: +Inf' });
    assert.throws(() => encodeJson({ a: -Infinity }), { name: 'TypeError', message: 'json: unsupported value: -Inf' });
  });

  it('rejects a JsonNumber that is not a JSON number, and writes an empty one as 0, as Go does', () => {
    assert.throws(() => encodeJson(num('12abc')), {
      name: 'TypeError',
      message: 'json: invalid number literal "12abc"',
    });
    assert.throws(() => encodeJson(num('NaN')), TypeError);
    assert.equal(encodeJson(num('')), '0');
  });
});

describe('encodeJson guards', () => {
  it('rejects values that are not JSON', () => {
    for (const bad of [() => 1, Symbol('s'), 10n]) {
      assert.throws(() => encodeJson([bad] as unknown as JsonValue), TypeError);
    }
  });

  it('throws a RangeError for nesting beyond the stack, and for cycles', () => {
    let deep: JsonValue = [];
    for (let i = 0; i < 100_000; i++) deep = [deep];
    assert.throws(() => encodeJson(deep), RangeError);
    const cycle: JsonObject = {};
    cycle['self'] = cycle;
    assert.throws(() => encodeJson(cycle), RangeError);
  });

  it('encodes correctly again after a failed call', () => {
    assert.throws(() => encodeJson({ a: [1, Number.NaN] }));
    assert.equal(encodeJson({ a: [1, 2] }), '{"a":[1,2]}');
  });
});

describe('encodeJson property', () => {
  const PIECES = ['a', 'b', 'Z', '0', ' ', '<', '>', '&', '"', '\\', '/', '\n', '\t', '\b', '\f', '\u0000', '\u001f'];
  const MORE = ['\u007f', '\u2028', '\u2029', 'é', '中', '\ue000', '\ufffd', '\uffff', '😀', '𐀀'];
  const LONE = ['\ud800', '\udbff', '\udc00'];
  const NUMBER_TEXTS = ['12345678901234567890', '-9007199254740993', '1.10', '2.0', '1e5', '1E-7', '-0', '0.0000001'];

  function randomString(random: SeededRandom, lone: boolean): string {
    let s = '';
    for (let i = random.int(6); i > 0; i--) {
      const r = random.int(10);
      const set = r < 6 ? PIECES : r < 9 || !lone ? MORE : LONE;
      s += set[random.int(set.length)];
    }
    return s;
  }

  function randomValue(random: SeededRandom, depth: number, lone: boolean): JsonValue {
    switch (random.int(depth > 4 ? 5 : 7)) {
      case 0:
        return randomString(random, lone);
      case 1:
        return [true, false, null][random.int(3)] as JsonValue;
      case 2:
        if (random.int(2) === 0) return random.int(1_000_000) - 500_000;
        return (random.float() - 0.5) * 10 ** (random.int(50) - 25);
      case 3:
        return num(NUMBER_TEXTS[random.int(NUMBER_TEXTS.length)] as string);
      case 4:
        return randomString(random, lone);
      case 5:
        return Array.from({ length: random.int(5) }, () => randomValue(random, depth + 1, lone));
      default: {
        const obj: JsonObject = {};
        for (let i = random.int(6); i > 0; i--) {
          const key = random.int(12) === 0 ? '__proto__' : randomString(random, false);
          Object.defineProperty(obj, key, {
            value: randomValue(random, depth + 1, lone),
            enumerable: true,
            writable: true,
            configurable: true,
          });
        }
        return obj;
      }
    }
  }

  it('writes random values exactly as the reference Go rules do', () => {
    const random = new SeededRandom(11);
    for (let i = 0; i < 3000; i++) {
      const value = randomValue(random, 0, true);
      assert.equal(encodeJson(value), referenceEncode(value));
    }
  });

  it('parses its own output back to the same value: parse(encode(x)) equals x', () => {
    const random = new SeededRandom(12);
    for (let i = 0; i < 3000; i++) {
      const value = randomValue(random, 0, false);
      const text = encodeJson(value);
      assert.deepEqual(parseJson(text), value, text);
      assert.equal(encodeJson(parseJson(text)), text);
    }
  });
});
