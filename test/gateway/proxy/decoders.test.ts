import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { JsonNumber } from '../../../src/gateway/json/types.js';
import {
  DecodeError,
  decoderFor,
  jsonDecoder,
  safeJsonDecoder,
  stringDecoder,
} from '../../../src/gateway/proxy/decoders.js';

const body = (text: string) => Buffer.from(text, 'utf8');

describe('jsonDecoder without is_collection', () => {
  const decode = jsonDecoder(false);

  test('returns a JSON object as is', () => {
    assert.deepEqual(decode(body('{"a":1,"b":{"c":[true,null,"x"]}}')), { a: 1, b: { c: [true, null, 'x'] } });
  });

  test('accepts an empty object and surrounding whitespace', () => {
    assert.deepEqual(decode(body(' \n{}\r\n')), {});
  });

  test('refuses an array, pointing at is_collection and safejson', () => {
    assert.throws(
      () => decode(body('[1,2]')),
      (err) => {
        assert.ok(err instanceof DecodeError);
        assert.match(err.message, /array/);
        assert.match(err.message, /is_collection/);
        assert.match(err.message, /safejson/);
        return true;
      },
    );
  });

  test('refuses scalars', () => {
    for (const text of ['42', '"text"', 'true']) {
      assert.throws(() => decode(body(text)), DecodeError, text);
    }
  });

  // BUG (src/gateway/proxy/decoders.ts): typeof null is 'object', so the message reads "a JSON object where an
  // object was expected".
  test('refuses null, naming it null in the message', () => {
    assert.throws(
      () => decode(body('null')),
      (err) => {
        assert.ok(err instanceof DecodeError);
        assert.match(err.message, /JSON null/);
        return true;
      },
    );
  });

  test('refuses invalid JSON with a DecodeError', () => {
    for (const text of ['', '{', '{"a":}', "{'a':1}", '{"a":1} trailing', 'undefined']) {
      assert.throws(
        () => decode(body(text)),
        (err) => {
          assert.ok(err instanceof DecodeError, `${JSON.stringify(text)}: ${String(err)}`);
          assert.ok(err instanceof Error);
          assert.equal(err.name, 'DecodeError');
          assert.match(err.message, /invalid JSON/);
          return true;
        },
      );
    }
  });

  test('preserves integers beyond 2^53 and decimals as their source text', () => {
    const data = decode(body('{"id":12345678901234567890,"price":1.10,"small":7}'));
    assert.ok(data['id'] instanceof JsonNumber);
    assert.equal(String(data['id']), '12345678901234567890');
    assert.ok(data['price'] instanceof JsonNumber);
    assert.equal(String(data['price']), '1.10');
    assert.equal(data['small'], 7);
  });

  test('decodes UTF-8 text', () => {
    assert.deepEqual(decode(body('{"name":"José 日本"}')), { name: 'José 日本' });
  });
});

describe('jsonDecoder with is_collection', () => {
  const decode = jsonDecoder(true);

  test('wraps an array as {collection}', () => {
    assert.deepEqual(decode(body('[{"a":1},{"a":2}]')), { collection: [{ a: 1 }, { a: 2 }] });
    assert.deepEqual(decode(body('[]')), { collection: [] });
  });

  test('refuses an object or a scalar', () => {
    for (const text of ['{"a":1}', '1', 'null', '"s"']) {
      assert.throws(() => decode(body(text)), DecodeError, text);
    }
  });

  test('refuses invalid JSON with a DecodeError', () => {
    assert.throws(() => decode(body('[1,')), DecodeError);
  });

  test('preserves big integers inside the collection', () => {
    const data = decode(body('[9007199254740993]'));
    const first = (data['collection'] as unknown[])[0];
    assert.ok(first instanceof JsonNumber);
    assert.equal(first.text, '9007199254740993');
  });
});

describe('safeJsonDecoder', () => {
  test('returns an object as is', () => {
    assert.deepEqual(safeJsonDecoder(body('{"a":[1]}')), { a: [1] });
  });

  test('wraps an array as {collection}', () => {
    assert.deepEqual(safeJsonDecoder(body('[1,"two",null]')), { collection: [1, 'two', null] });
  });

  test('wraps scalars as {content}', () => {
    assert.deepEqual(safeJsonDecoder(body('42')), { content: 42 });
    assert.deepEqual(safeJsonDecoder(body('"text"')), { content: 'text' });
    assert.deepEqual(safeJsonDecoder(body('false')), { content: false });
    assert.deepEqual(safeJsonDecoder(body('null')), { content: null });
  });

  test('keeps a big scalar exact', () => {
    const data = safeJsonDecoder(body('18446744073709551615'));
    assert.ok(data['content'] instanceof JsonNumber);
    assert.equal(String(data['content']), '18446744073709551615');
  });

  test('refuses invalid JSON with a DecodeError', () => {
    for (const text of ['', 'nul', '[1 2]']) assert.throws(() => safeJsonDecoder(body(text)), DecodeError, text);
  });
});

describe('stringDecoder', () => {
  test('puts the body text under content, whatever it holds', () => {
    assert.deepEqual(stringDecoder(body('hello')), { content: 'hello' });
    assert.deepEqual(stringDecoder(body('{"not":"parsed"}')), { content: '{"not":"parsed"}' });
    assert.deepEqual(stringDecoder(body('')), { content: '' });
  });

  test('decodes UTF-8, replacing malformed bytes', () => {
    assert.deepEqual(stringDecoder(body('héllo ✓')), { content: 'héllo ✓' });
    assert.deepEqual(stringDecoder(Buffer.from([0x61, 0xff, 0x62])), { content: 'a\ufffdb' });
  });
});

describe('decoderFor', () => {
  test('picks the decoder for each supported encoding', () => {
    assert.deepEqual(decoderFor('json', false)(body('{"a":1}')), { a: 1 });
    assert.deepEqual(decoderFor('json', true)(body('[1]')), { collection: [1] });
    assert.throws(() => decoderFor('json', false)(body('[1]')), DecodeError);
    assert.equal(decoderFor('safejson', false), safeJsonDecoder);
    assert.equal(decoderFor('safejson', true), safeJsonDecoder);
    assert.equal(decoderFor('string', false), stringDecoder);
  });

  test('has no decoder for no-op (streamed through) or the Enterprise yaml', () => {
    for (const encoding of ['no-op', 'yaml'] as const) {
      assert.throws(() => decoderFor(encoding, false), new RegExp(`no decoder for encoding "${encoding}"`));
    }
  });
});
