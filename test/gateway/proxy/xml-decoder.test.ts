import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DecodeError, decoderFor, xmlDecoder } from '../../../src/gateway/proxy/decoders.js';

const decode = xmlDecoder(false);
const xml = (text: string) => decode(Buffer.from(text, 'utf8'));

function refused(text: string | Buffer, pattern: RegExp): void {
  const body = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
  assert.throws(
    () => decode(body),
    (err) => {
      assert.ok(err instanceof DecodeError, `expected a DecodeError, got ${String(err)}`);
      assert.match(err.message, /^invalid XML from backend: /);
      assert.match(err.message, pattern);
      return true;
    },
  );
}

describe('xml decoder: the mxj mapping', () => {
  test("maps krakend-xml's example document as mxj does", () => {
    const doc = xml(`
      <Person id="1">
        <FullName>Alice</FullName>
        <Company>Acme</Company>
        <Email where="home">
          <Addr>gre@example.com</Addr>
        </Email>
        <Email where='work'>
          <Addr>gre@work.com</Addr>
        </Email>
        <Group>
          <Value>Friends</Value>
          <Value>Squash</Value>
        </Group>
      </Person>`);
    assert.deepEqual(doc, {
      Person: {
        '-id': '1',
        FullName: 'Alice',
        Company: 'Acme',
        Email: [
          { '-where': 'home', Addr: 'gre@example.com' },
          { '-where': 'work', Addr: 'gre@work.com' },
        ],
        Group: { Value: ['Friends', 'Squash'] },
      },
    });
  });

  test('keeps every value a string, numbers and booleans included', () => {
    assert.deepEqual(xml('<r n="42"><count>7</count><ok>true</ok><pi>3.14</pi></r>'), {
      r: { '-n': '42', count: '7', ok: 'true', pi: '3.14' },
    });
  });

  test('puts the text of an element with attributes under #text', () => {
    assert.deepEqual(xml('<price currency="EUR">9.99</price>'), { price: { '-currency': 'EUR', '#text': '9.99' } });
  });

  test('maps empty and blank elements to "" and an attribute-only element to its attributes', () => {
    assert.deepEqual(xml('<r><a/><b></b><c>  \n\t </c><d k="v"/></r>'), {
      r: { a: '', b: '', c: '', d: { '-k': 'v' } },
    });
    assert.deepEqual(xml('<empty/>'), { empty: '' });
  });

  test('trims spaces, tabs and line breaks around text but keeps inner and other whitespace', () => {
    assert.deepEqual(xml('<r>\n  two  words \t</r>'), { r: 'two  words' });
    assert.deepEqual(xml('<r>\u00a0x\u00a0</r>'), { r: '\u00a0x\u00a0' });
  });

  test('turns a repeated element into an array in document order, even when other elements come between', () => {
    assert.deepEqual(xml('<r><i>1</i><x>a</x><i>2</i><i>3</i></r>'), { r: { i: ['1', '2', '3'], x: 'a' } });
  });

  test('drops namespace prefixes from element and attribute names, declarations included', () => {
    const doc = xml(
      '<feed xmlns="http://www.w3.org/2005/Atom" xmlns:dc="http://purl.org/dc/elements/1.1/" xml:lang="en">' +
        '<dc:creator>Ann</dc:creator><link href="a"/><dc:link href="b"/></feed>',
    );
    assert.deepEqual(doc, {
      feed: {
        '-xmlns': 'http://www.w3.org/2005/Atom',
        '-dc': 'http://purl.org/dc/elements/1.1/',
        '-lang': 'en',
        creator: 'Ann',
        // <link> and <dc:link> share a local name, so mxj makes them one list.
        link: [{ '-href': 'a' }, { '-href': 'b' }],
      },
    });
  });

  test('takes CDATA verbatim, without decoding entities', () => {
    assert.deepEqual(xml('<r><![CDATA[<b>bold</b> &amp; more]]></r>'), { r: '<b>bold</b> &amp; more' });
  });

  test('keeps the last run of text when comments or CDATA split it, as mxj does', () => {
    assert.deepEqual(xml('<r>first<!-- note -->second</r>'), { r: 'second' });
    assert.deepEqual(xml('<r>text <![CDATA[cdata]]></r>'), { r: 'cdata' });
    assert.deepEqual(xml('<r a="1">one<!---->two</r>'), { r: { '-a': '1', '#text': 'two' } });
  });

  test('keeps text that comes before the first child over text after it, as mxj does', () => {
    assert.deepEqual(xml('<r>before<c/>after</r>'), { r: { c: '', '#text': 'before' } });
    assert.deepEqual(xml('<r><c/>after</r>'), { r: { c: '', '#text': 'after' } });
  });

  test('decodes the predefined entities and character references', () => {
    assert.deepEqual(xml('<r a="&quot;q&quot;">&lt;&gt;&amp;&apos;&#65;&#x42;&#x1F600;</r>'), {
      r: { '-a': '"q"', '#text': "<>&'AB😀" },
    });
  });

  test('normalises CRLF and CR line endings to LF, as Go does', () => {
    assert.deepEqual(xml('<r>a\r\nb\rc</r>'), { r: 'a\nb\nc' });
  });

  test('skips the declaration, comments, processing instructions, a DOCTYPE and a BOM before the root', () => {
    const doc = xml('\ufeff<?xml version="1.0" encoding="UTF-8"?>\n<!-- c -->\n<!DOCTYPE r>\n<?pi x?>\n<r>1</r>');
    assert.deepEqual(doc, { r: '1' });
  });

  test('does not read past the end of the root element', () => {
    assert.deepEqual(xml('<a>1</a><b>2</b> trailing <garbage &bogus;'), { a: '1' });
  });

  test('decodes a document in the charset its declaration names', () => {
    const body = Buffer.concat([
      Buffer.from('<?xml version="1.0" encoding="ISO-8859-1"?><r>caf'),
      Buffer.from([0xe9]),
      Buffer.from('</r>'),
    ]);
    assert.deepEqual(decode(body), { r: 'café' });
  });

  test('keeps an element called __proto__ as a plain key', () => {
    const doc = xml('<r><__proto__>x</__proto__><constructor>y</constructor></r>');
    const r = doc['r'] as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(r), Object.prototype);
    assert.deepEqual(Object.keys(r), ['__proto__', 'constructor']);
    assert.equal(Object.getOwnPropertyDescriptor(r, '__proto__')?.value, 'x');
  });

  test('wraps the whole document under collection with is_collection, as krakend-xml does', () => {
    const collection = xmlDecoder(true)(Buffer.from('<People><P id="1">A</P><P id="2">B</P></People>'));
    assert.deepEqual(collection, {
      collection: {
        People: {
          P: [
            { '-id': '1', '#text': 'A' },
            { '-id': '2', '#text': 'B' },
          ],
        },
      },
    });
  });

  test('is what decoderFor returns for the xml encoding', () => {
    assert.deepEqual(decoderFor('xml', false)(Buffer.from('<a>1</a>')), { a: '1' });
    assert.deepEqual(decoderFor('xml', true)(Buffer.from('<a>1</a>')), { collection: { a: '1' } });
  });
});

describe('xml decoder: malformed and hostile documents fail the backend', () => {
  test('refuses an empty body and text with no element', () => {
    refused('', /no root element/);
    refused('   \n', /no root element/);
    refused('3', /no root element/);
    refused('{"json":true}', /no root element/);
  });

  test('refuses unclosed, mismatched and stray tags', () => {
    refused('<a><b>1</b>', /line 1: unexpected EOF/);
    refused('<a>\n<b></a>', /line 2: element <b> closed by <\/a>/);
    refused('<a></a:a>', /closed by/);
    refused('<a', /unexpected EOF/);
    refused('<a><', /expected element name after </);
    refused('<1a/>', /expected element name|invalid XML name/);
  });

  test('refuses malformed attributes', () => {
    refused('<a b=1/>', /unquoted or missing attribute value/);
    refused('<a b/>', /attribute name without =/);
    refused('<a b="x<y"/>', /unescaped < inside quoted string/);
    refused('<a b="unterminated/>', /unexpected EOF/);
  });

  test('refuses undeclared entities and malformed references', () => {
    refused('<a>&nbsp;</a>', /invalid character entity &nbsp;/);
    refused('<a>AT&T</a>', /invalid character entity &T \(no semicolon\)/);
    refused('<a>&#xZZ;</a>', /invalid character entity/);
    refused('<a>&#0;</a>', /illegal character code U\+0000/);
  });

  test('never expands entities a DOCTYPE declares (billion laughs)', () => {
    const lol = [
      '<!DOCTYPE lolz [',
      '<!ENTITY lol "lol">',
      ...Array.from({ length: 9 }, (_, i) => `<!ENTITY lol${i + 1} "${`&lol${i === 0 ? '' : i};`.repeat(10)}">`),
      ']>',
      '<lolz>&lol9;</lolz>',
    ].join('\n');
    const started = process.hrtime.bigint();
    refused(lol, /invalid character entity &lol9;/);
    assert.ok(process.hrtime.bigint() - started < 50_000_000n, 'refused without expanding anything');
  });

  test('never resolves external entities', () => {
    refused('<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><r>&xxe;</r>', /invalid character entity &xxe;/);
  });

  test('accepts a DOCTYPE with an internal subset when nothing refers to it', () => {
    assert.deepEqual(xml('<!DOCTYPE r [<!ELEMENT r (#PCDATA)><!-- > -->]><r>ok</r>'), { r: 'ok' });
  });

  test('refuses nesting deeper than 1000 elements', () => {
    refused('<a>'.repeat(1001) + '</a>'.repeat(1001), /nested deeper than 1000/);
    assert.ok(xml('<a>'.repeat(1000) + '</a>'.repeat(1000)));
  });

  test('refuses characters XML does not allow, invalid UTF-8 and unknown charsets', () => {
    refused('<a>\u0001</a>', /illegal character code U\+0001/);
    refused(Buffer.from([0x3c, 0x61, 0x3e, 0xff, 0x3c, 0x2f, 0x61, 0x3e]), /invalid UTF-8/);
    refused('<?xml version="1.0" encoding="x-klingon"?><a/>', /unsupported charset/);
    refused('<?xml version="2.0"?><a/>', /unsupported version/);
  });

  test('refuses bad markup declarations', () => {
    refused('<a><![CDATA[x</a>', /unexpected EOF in CDATA/);
    refused('<a><!-- x</a>', /unexpected EOF/);
    refused('<a><![FOO[x]]></a>', /invalid <!\[ sequence/);
    refused('<a><!-x--></a>', /invalid sequence <!-/);
  });

  test('fails with a DecodeError, never another error, on any truncation or corruption of a document', () => {
    const doc =
      '<?xml version="1.0"?><!DOCTYPE r><r xmlns:x="u" a="1&amp;2"><x:i>one</x:i><i><![CDATA[<two>]]></i>' +
      '<!-- c --><j k=\'v\'>&#x41;&lt;</j><e/></r>';
    for (let cut = 0; cut < doc.length; cut++) {
      for (const body of [doc.slice(0, cut), doc.slice(cut), doc.slice(0, cut) + '<' + doc.slice(cut + 1)]) {
        try {
          decode(Buffer.from(body));
        } catch (err) {
          assert.ok(err instanceof DecodeError, `${JSON.stringify(body)}: ${String(err)}`);
        }
      }
    }
  });
});
