import assert from 'node:assert/strict';
import { createServer, request } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { JsonNumber } from '../../../src/gateway/json/types.js';
import type { JsonObject } from '../../../src/gateway/json/types.js';
import { xmlDecoder } from '../../../src/gateway/proxy/decoders.js';
import type { ProxyResponse } from '../../../src/gateway/proxy/types.js';
import {
  jsonRender,
  negotiateFormat,
  negotiatedRender,
  renderFor,
  xmlRender,
  yamlRender,
} from '../../../src/gateway/router/render.js';
import type { Render } from '../../../src/gateway/router/render.js';
import { startBackend } from '../../helpers/backend.js';
import { startGateway } from '../../helpers/gateway.js';

interface Reply {
  status: number;
  type: string | undefined;
  length: string | undefined;
  body: string;
}

let server: Server;
let port = 0;
let current: { render: Render; response: ProxyResponse | undefined } = { render: jsonRender, response: undefined };

before(async () => {
  server = createServer((req, res) => current.render(res, 200, { 'X-Krakend': 'Version test' }, current.response, req));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

after(() => new Promise<void>((resolve) => server.close(() => resolve())));

function ok(data: JsonObject): ProxyResponse {
  return { data, isComplete: true, metadata: { statusCode: 200, headers: {} } };
}

/** Renders `response` with `render` for a request with the given Accept header(s). */
function call(render: Render, response: ProxyResponse | undefined, accept?: string | string[]): Promise<Reply> {
  current = { render, response };
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', method: 'GET' }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          type: res.headers['content-type'],
          length: res.headers['content-length'],
          body: Buffer.concat(chunks).toString('utf8'),
        }),
      );
    });
    req.on('error', reject);
    if (accept !== undefined) req.setHeader('accept', accept);
    req.end();
  });
}

const xml = async (data: JsonObject) => (await call(xmlRender, ok(data))).body;

describe('xml render (krakend-xml, mxj)', () => {
  test("renders krakend-xml's example as it does: a doc root, sorted keys, escaped text, application/xml", async () => {
    const reply = await call(xmlRender, ok({ a: { content: 'supu & tupu' }, content: 'tupu', foo: 42 }));
    assert.equal(reply.status, 200);
    assert.equal(reply.type, 'application/xml');
    assert.equal(
      reply.body,
      '<doc><a><content>supu &amp; tupu</content></a><content>tupu</content><foo>42</foo></doc>',
    );
    assert.equal(reply.length, String(Buffer.byteLength(reply.body)));
  });

  test('uses a single key as the root element', async () => {
    assert.equal(await xml({ user: { name: 'Ann', id: 7 } }), '<user><id>7</id><name>Ann</name></user>');
    assert.equal(await xml({ content: 'hello' }), '<content>hello</content>');
  });

  test('wraps a single key holding an array with a non-object item in doc', async () => {
    assert.equal(await xml({ tags: ['a', 'b'] }), '<doc><tags>a</tags><tags>b</tags></doc>');
    assert.equal(await xml({ tags: [{ n: '1' }, null] }), '<doc><tags><n>1</n></tags><tags/></doc>');
  });

  test('repeats the root for a single key holding an array of objects, as mxj does', async () => {
    assert.equal(await xml({ item: [{ n: '1' }, { n: '2' }] }), '<item><n>1</n></item><item><n>2</n></item>');
  });

  test('renders an empty response as an empty doc', async () => {
    assert.equal(await xml({}), '<doc/>');
  });

  test('writes -keys as sorted attributes and #text before the child elements', async () => {
    assert.equal(
      await xml({ p: { '-z': 'last', '-a': 1, '#text': 'body', child: 'c' } }),
      '<p a="1" z="last">body<child>c</child></p>',
    );
    assert.equal(await xml({ p: { '-id': '1', '#text': 'only text' } }), '<p id="1">only text</p>');
    assert.equal(await xml({ p: { '-id': '1', '#text': '' } }), '<p id="1"></p>');
  });

  test('self-closes empty strings, null, empty arrays and attribute-only objects', async () => {
    assert.equal(
      await xml({ r: { a: '', b: null, c: [], d: { '-k': 'v' }, e: {} } }),
      '<r><a/><b/><c/><d k="v"/><e/></r>',
    );
  });

  test('repeats the key for each item of an array, nested arrays flattened', async () => {
    assert.equal(
      await xml({ r: { i: ['1', ['2', '3'], { x: '4' }] } }),
      '<r><i>1</i><i>2</i><i>3</i><i><x>4</x></i></r>',
    );
  });

  test('prints numbers as their JSON text, JsonNumber included, and booleans as true/false', async () => {
    assert.equal(
      await xml({
        r: { big: new JsonNumber('12345678901234567890'), dec: new JsonNumber('1.10'), f: 0.5, t: true, n: false },
      }),
      '<r><big>12345678901234567890</big><dec>1.10</dec><f>0.5</f><n>false</n><t>true</t></r>',
    );
  });

  test('escapes & < > " \' in text and attribute values', async () => {
    assert.equal(
      await xml({ r: { '-q': `"a" & 'b' <c>`, t: `<script>alert('x')</script> & "more"` } }),
      '<r q="&quot;a&quot; &amp; &apos;b&apos; &lt;c&gt;">' +
        '<t>&lt;script&gt;alert(&apos;x&apos;)&lt;/script&gt; &amp; &quot;more&quot;</t></r>',
    );
  });

  test('sorts keys by their UTF-8 bytes', async () => {
    assert.equal(await xml({ r: { b: '1', B: '2', a: '3', é: '4' } }), '<r><B>2</B><a>3</a><b>1</b><é>4</é></r>');
  });

  test('writes no body when mxj cannot encode the data, as krakend-xml', async () => {
    for (const data of [{ r: { '-a': { nested: 1 } } }, { r: { '-a': null } }, { r: { '-a': ['x'] } }]) {
      const reply = await call(xmlRender, ok(data));
      assert.equal(reply.status, 200);
      assert.equal(reply.type, 'application/xml');
      assert.equal(reply.body, '');
    }
  });

  test('refuses keys that would break out of the markup instead of writing them', async () => {
    for (const key of ['a b', 'a><b', '', 'x="1"', '!--', 'a/b', "it's"]) {
      assert.equal(await xml({ r: { [key]: 'v' } }), '', JSON.stringify(key));
      if (key === '') continue;
      assert.equal(await xml({ r: { ['-' + key]: 'v', ok: '1' } }), '', `attribute ${JSON.stringify(key)}`);
    }
  });

  test('renders no response as gin renders a nil XML: empty, with charset', async () => {
    const reply = await call(xmlRender, undefined);
    assert.equal(reply.status, 200);
    assert.equal(reply.type, 'application/xml; charset=utf-8');
    assert.equal(reply.body, '');
  });

  test('round-trips what the xml decoder produced', async () => {
    const source =
      '<Person id="1"><Company>Acme</Company><Email where="home"><Addr>a@b</Addr></Email>' +
      '<Email where="work"><Addr>c@d</Addr></Email><FullName>Alice &amp; Bob</FullName>' +
      '<Note lang="en">hi</Note></Person>';
    const decoded = xmlDecoder(false)(Buffer.from(source));
    assert.equal(await xml(decoded), source);
  });
});

describe('yaml render', () => {
  test('writes the whole data as YAML with sorted keys, typed application/yaml', async () => {
    const reply = await call(yamlRender, ok({ content: { b: 'supu' }, a: [1, 'two', { k: 'v' }], none: null }));
    assert.equal(reply.status, 200);
    assert.equal(reply.type, 'application/yaml; charset=utf-8');
    assert.equal(reply.body, 'a:\n- 1\n- two\n- k: v\ncontent:\n  b: supu\nnone: null\n');
  });

  test('quotes strings a YAML reader would take for something else, and keeps JsonNumber text', async () => {
    const big = new JsonNumber('12345678901234567890');
    const data = { s: '42', y: 'yes', nl: 'a\nb', num: new JsonNumber('1.10'), big };
    const { body } = await call(yamlRender, ok(data));
    assert.equal(body, 'big: 12345678901234567890\nnl: "a\\nb"\nnum: 1.10\ns: "42"\n"y": "yes"\n');
    assert.deepEqual(parseYaml(body), { s: '42', y: 'yes', nl: 'a\nb', num: 1.1, big: 12345678901234567890 });
  });

  test('writes repeated objects in full rather than as anchors and aliases', async () => {
    const shared = { x: 1 };
    assert.equal((await call(yamlRender, ok({ a: shared, b: shared }))).body, 'a:\n  x: 1\nb:\n  x: 1\n');
  });

  test('renders no response as {}', async () => {
    assert.equal((await call(yamlRender, undefined)).body, '{}\n');
    assert.equal((await call(yamlRender, ok({}))).body, '{}\n');
  });
});

describe('negotiate render', () => {
  const data = { a: { b: 'supu' } };

  test('serves JSON without an Accept header, for */* and for application/json', async () => {
    const accepts = [undefined, '', '*/*', 'application/json', 'application/*', 'application/json; charset=utf-8'];
    for (const accept of accepts) {
      const reply = await call(negotiatedRender, ok(data), accept);
      assert.equal(reply.type, 'application/json; charset=utf-8', String(accept));
      assert.equal(reply.body, '{"a":{"b":"supu"}}');
    }
  });

  test('serves XML for application/xml', async () => {
    const reply = await call(negotiatedRender, ok(data), 'application/xml');
    assert.equal(reply.type, 'application/xml');
    assert.equal(reply.body, '<a><b>supu</b></a>');
  });

  test('serves YAML for text/plain, text/* and application/x-yaml', async () => {
    for (const accept of ['text/plain', 'text/*', 'application/x-yaml']) {
      const reply = await call(negotiatedRender, ok(data), accept);
      assert.equal(reply.type, 'application/yaml; charset=utf-8', accept);
      assert.equal(reply.body, 'a:\n  b: supu\n');
    }
  });

  test('takes the first listed type it can serve, ignoring q-values, as gin does', async () => {
    const type = async (accept: string) => (await call(negotiatedRender, ok(data), accept)).type;
    assert.equal(await type('application/xml;q=0.1, application/json'), 'application/xml');
    assert.equal(await type('image/png, text/plain;q=0.5, */*'), 'application/yaml; charset=utf-8');
    // A browser's header: text/html is not offered, application/xml comes before */*.
    assert.equal(await type('text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8'), 'application/xml');
  });

  test('falls back to JSON when nothing matches, type names being case-sensitive in gin', async () => {
    for (const accept of ['image/png', 'APPLICATION/XML', 'application/json-patch+json']) {
      assert.equal((await call(negotiatedRender, ok(data), accept)).type, 'application/json; charset=utf-8', accept);
    }
  });

  test('reads only the first Accept header line, as Go’s Header.Get', async () => {
    const reply = await call(negotiatedRender, ok(data), ['application/xml', 'application/json']);
    assert.equal(reply.type, 'application/xml');
  });

  test('renders no response in the negotiated encoding', async () => {
    assert.equal((await call(negotiatedRender, undefined, 'application/json')).body, '{}');
    assert.equal((await call(negotiatedRender, undefined, 'text/plain')).body, '{}\n');
    const xmlReply = await call(negotiatedRender, undefined, 'application/xml');
    assert.equal(xmlReply.type, 'application/xml; charset=utf-8');
    assert.equal(xmlReply.body, '');
  });
});

describe('negotiateFormat (gin)', () => {
  test('matches as gin does: order, prefixes, wildcards, parameters', () => {
    const cases: Array<[string | undefined, string]> = [
      [undefined, 'application/json'],
      ['', 'application/json'],
      [' , ;q=1', 'application/json'],
      ['*/*', 'application/json'],
      ['*', 'application/json'],
      ['text/*', 'text/plain'],
      ['text', 'text/plain'],
      ['application/xml', 'application/xml'],
      ['application/x', 'application/xml'],
      ['application/x-yaml', 'application/x-yaml'],
      ['application/yaml', ''],
      ['text/html, application/json;q=0.1', 'application/json'],
      ['text/plain; charset=utf-8', 'text/plain'],
      ['Text/Plain', ''],
    ];
    for (const [accept, expected] of cases) assert.equal(negotiateFormat(accept), expected, String(accept));
  });
});

describe('renderFor', () => {
  test('maps the xml, yaml and negotiate output encodings to their renders', () => {
    assert.equal(renderFor('xml'), xmlRender);
    assert.equal(renderFor('yaml'), yamlRender);
    assert.equal(renderFor('negotiate'), negotiatedRender);
    assert.equal(renderFor('json'), jsonRender);
  });
});

describe('through a gateway', () => {
  test('serves an xml backend as negotiated XML, YAML and JSON, and an rss backend as XML', async () => {
    const backend = await startBackend({
      '/person': (_req, res) => {
        res.writeHead(200, { 'Content-Type': 'application/xml' });
        res.end('<?xml version="1.0"?><Person id="1"><Name>Ann &amp; Bob</Name><Tag>a</Tag><Tag>b</Tag></Person>');
      },
      '/feed': (_req, res) => {
        res.writeHead(200, { 'Content-Type': 'application/rss+xml' });
        res.end('<rss version="2.0"><channel><title>T</title><item><title>One</title></item></channel></rss>');
      },
      '/broken': (_req, res) => {
        res.writeHead(200, { 'Content-Type': 'application/xml' });
        res.end('<Person><Name>unclosed</Person>');
      },
    });
    const gw = await startGateway(
      JSON.stringify({
        version: 3,
        host: [backend.url],
        endpoints: [
          { endpoint: '/person', output_encoding: 'negotiate', backend: [{ url_pattern: '/person', encoding: 'xml' }] },
          { endpoint: '/feed', output_encoding: 'xml', backend: [{ url_pattern: '/feed', encoding: 'rss' }] },
          { endpoint: '/broken', output_encoding: 'xml', backend: [{ url_pattern: '/broken', encoding: 'xml' }] },
        ],
      }),
    );
    try {
      const get = async (path: string, accept?: string) => {
        const res = await fetch(gw.url + path, { headers: accept ? { accept } : {} });
        return { status: res.status, type: res.headers.get('content-type'), body: await res.text() };
      };
      assert.deepEqual(await get('/person', 'application/xml'), {
        status: 200,
        type: 'application/xml',
        body: '<Person id="1"><Name>Ann &amp; Bob</Name><Tag>a</Tag><Tag>b</Tag></Person>',
      });
      assert.deepEqual(await get('/person', 'text/plain'), {
        status: 200,
        type: 'application/yaml; charset=utf-8',
        body: 'Person:\n  -id: "1"\n  Name: Ann & Bob\n  Tag:\n  - a\n  - b\n',
      });
      assert.deepEqual(await get('/person'), {
        status: 200,
        type: 'application/json; charset=utf-8',
        body: '{"Person":{"-id":"1","Name":"Ann \\u0026 Bob","Tag":["a","b"]}}',
      });
      const feed = await get('/feed');
      assert.equal(feed.type, 'application/xml');
      assert.equal(
        feed.body,
        '<doc><author/><categories/><copyright/><custom/><description/><items><title>One</title></items>' +
          '<language/><published/><title>T</title><type>rss</type><updated/></doc>',
      );
      // Undecodable XML fails the backend: no data, so the gateway answers an error.
      assert.equal((await get('/broken')).status, 500);
    } finally {
      await gw.close();
      await backend.close();
    }
  });
});
