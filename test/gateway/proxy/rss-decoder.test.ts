import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DecodeError, decoderFor, rssDecoder } from '../../../src/gateway/proxy/decoders.js';
import { parseDate, parseNameAddress } from '../../../src/gateway/proxy/rss-decoder.js';

const feed = (text: string) => rssDecoder(Buffer.from(text, 'utf8'));

const RSS2 = `<?xml version="1.0" encoding="UTF-8" ?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:content="http://purl.org/rss/1.0/modules/content/"
     xmlns:atom="http://www.w3.org/2005/Atom" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd">
<channel>
  <title>W3Schools Home Page</title>
  <link>https://www.w3schools.com</link>
  <atom:link href="https://www.w3schools.com/feed" rel="self" type="application/rss+xml"/>
  <description>Free web building tutorials</description>
  <image>
    <url>https://www.w3schools.com/pretty_image.png</url>
    <description>Free web building tutorials</description>
  </image>
  <language>en_us</language>
  <copyright>2024 W3Schools</copyright>
  <managingEditor>editor@example.com (Jane Doe)</managingEditor>
  <pubDate>Tue, 10 Jun 2003 04:00:00 GMT</pubDate>
  <lastBuildDate>Tue, 10 Jun 2003 09:41:01 -0500</lastBuildDate>
  <category>Web</category>
  <item>
    <title>RSS Tutorial</title>
    <link>https://www.w3schools.com/xml/xml_rss.asp</link>
    <description><![CDATA[New <b>RSS</b> tutorial]]></description>
    <content:encoded>&lt;p&gt;The full text&lt;/p&gt;</content:encoded>
    <guid isPermaLink="false">urn:item:1</guid>
    <pubDate>Tue, 03 Jun 2003 09:39:21 GMT</pubDate>
    <dc:creator>John</dc:creator>
    <enclosure url="http://example.com/a.mp3" length="123" type="audio/mpeg"/>
    <category>XML</category>
    <itunes:duration>12:00</itunes:duration>
    <rating>5</rating>
  </item>
  <item>
    <title>XML &amp; Tutorial</title>
    <link>https://www.w3schools.com/xml</link>
    <description>New XML tutorial on W3Schools</description>
  </item>
</channel>
</rss>`;

describe('rss decoder: RSS', () => {
  test('produces the keys krakend-rss puts in the response, with gofeed items', () => {
    assert.deepEqual(feed(RSS2), {
      title: 'W3Schools Home Page',
      description: 'Free web building tutorials',
      language: 'en_us',
      copyright: '2024 W3Schools',
      published: 'Tue, 10 Jun 2003 04:00:00 GMT',
      updated: 'Tue, 10 Jun 2003 09:41:01 -0500',
      author: { name: 'Jane Doe', email: 'editor@example.com' },
      categories: ['Web'],
      custom: null,
      type: 'rss',
      img_url: 'https://www.w3schools.com/pretty_image.png',
      items: [
        {
          title: 'RSS Tutorial',
          description: 'New <b>RSS</b> tutorial',
          content: '<p>The full text</p>',
          link: 'https://www.w3schools.com/xml/xml_rss.asp',
          links: ['https://www.w3schools.com/xml/xml_rss.asp'],
          published: 'Tue, 03 Jun 2003 09:39:21 GMT',
          publishedParsed: '2003-06-03T09:39:21Z',
          author: { name: 'John' },
          guid: 'urn:item:1',
          categories: ['XML'],
          enclosures: [{ url: 'http://example.com/a.mp3', length: '123', type: 'audio/mpeg' }],
          dcExt: { creator: ['John'] },
          itunesExt: { duration: '12:00' },
          extensions: {
            dc: { creator: [{ name: 'creator', value: 'John', attrs: {}, children: {} }] },
            itunes: { duration: [{ name: 'duration', value: '12:00', attrs: {}, children: {} }] },
          },
          custom: { rating: '5' },
        },
        {
          title: 'XML & Tutorial',
          description: 'New XML tutorial on W3Schools',
          link: 'https://www.w3schools.com/xml',
          links: ['https://www.w3schools.com/xml'],
        },
      ],
    });
  });

  test('leaves the optional feed fields empty or null when the channel has none', () => {
    assert.deepEqual(feed('<rss version="2.0"><channel><title>T</title></channel></rss>'), {
      title: 'T',
      description: '',
      language: '',
      copyright: '',
      published: '',
      updated: '',
      author: null,
      categories: null,
      custom: null,
      type: 'rss',
      items: [],
    });
  });

  test('falls back to Dublin Core and iTunes fields as gofeed does', () => {
    const doc = feed(`<rss xmlns:dc="http://purl.org/dc/elements/1.1/"
                           xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd">
      <channel>
        <dc:title>DC title</dc:title><dc:language>fr</dc:language><dc:rights>CC</dc:rights><dc:date>2024-01-02</dc:date>
        <dc:creator>Ann (ann@example.com)</dc:creator><dc:subject>Topic</dc:subject>
        <itunes:image href="http://example.com/cover.jpg"/><itunes:keywords>a,b</itunes:keywords>
        <itunes:category text="Arts"><itunes:category text="Design"/></itunes:category>
      </channel></rss>`);
    assert.equal(doc['title'], 'DC title');
    assert.equal(doc['language'], 'fr');
    assert.equal(doc['copyright'], 'CC');
    assert.equal(doc['updated'], '2024-01-02');
    assert.deepEqual(doc['author'], { name: 'Ann', email: 'ann@example.com' });
    assert.deepEqual(doc['categories'], ['a', 'b', 'Arts', 'Design', 'Topic']);
    assert.equal(doc['img_url'], 'http://example.com/cover.jpg');
  });

  test('reads RSS 1.0 (RDF), whose items are siblings of the channel', () => {
    const doc = feed(`<?xml version="1.0"?>
      <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
               xmlns:dc="http://purl.org/dc/elements/1.1/">
        <channel rdf:about="http://example.com/"><title>RDF feed</title><description>D</description></channel>
        <item rdf:about="http://example.com/1"><title>One</title><link>http://example.com/1</link>
          <dc:date>2002-09-01T12:00:00+02:00</dc:date></item>
      </rdf:RDF>`);
    assert.equal(doc['title'], 'RDF feed');
    assert.equal(doc['type'], 'rss');
    assert.deepEqual(doc['items'], [
      {
        title: 'One',
        link: 'http://example.com/1',
        links: ['http://example.com/1'],
        published: '2002-09-01T12:00:00+02:00',
        publishedParsed: '2002-09-01T12:00:00+02:00',
        dcExt: { date: ['2002-09-01T12:00:00+02:00'] },
        extensions: {
          dc: { date: [{ name: 'date', value: '2002-09-01T12:00:00+02:00', attrs: {}, children: {} }] },
        },
      },
    ]);
  });

  test('keeps markup written inside a description as text, as gofeed reads the inner XML', () => {
    const doc = feed('<rss><channel><item><description> <p>Hi <b>there</b></p> </description></item></channel></rss>');
    assert.deepEqual(doc['items'], [{ description: '<p>Hi <b>there</b></p>' }]);
  });

  test('keeps unknown entities as written, as gofeed’s lenient reader does', () => {
    const doc = feed('<rss><channel><title>AT&T &nbsp; &amp; co</title></channel></rss>');
    assert.equal(doc['title'], 'AT&T &nbsp; & co');
  });

  test('is what decoderFor returns for the rss encoding, whatever is_collection says', () => {
    for (const isCollection of [false, true]) {
      assert.equal(decoderFor('rss', isCollection)(Buffer.from(RSS2))['type'], 'rss');
    }
  });
});

describe('rss decoder: Atom', () => {
  test('translates an Atom feed as gofeed does', () => {
    const doc = feed(`<?xml version="1.0" encoding="utf-8"?>
      <feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en">
        <title type="text">Example Feed</title>
        <subtitle type="html">A &lt;em&gt;subtitle&lt;/em&gt;</subtitle>
        <link href="http://example.org/"/>
        <link rel="self" href="http://example.org/feed.atom"/>
        <updated>2003-12-13T18:30:02Z</updated>
        <rights>© Example</rights>
        <author><name>John Doe</name><email>john@example.org</email></author>
        <id>urn:uuid:60a76c80-d399-11d9-b93C-0003939e0af6</id>
        <logo>http://example.org/logo.png</logo>
        <category term="tech" label="Technology"/>
        <entry>
          <title>Atom-Powered Robots Run Amok</title>
          <link href="http://example.org/2003/12/13/atom03"/>
          <link rel="enclosure" type="audio/mpeg" length="1337" href="http://example.org/audio.mp3"/>
          <id>urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a</id>
          <updated>2003-12-13T18:30:02.250+01:00</updated>
          <summary>Some text.</summary>
          <content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p>Hello</p></div></content>
          <author><name>Jane</name></author>
          <category term="robots"/>
        </entry>
      </feed>`);
    assert.deepEqual(doc, {
      title: 'Example Feed',
      description: 'A <em>subtitle</em>',
      language: 'en',
      copyright: '© Example',
      published: '',
      updated: '2003-12-13T18:30:02Z',
      author: { name: 'John Doe', email: 'john@example.org' },
      categories: ['Technology'],
      custom: null,
      type: 'atom',
      img_url: 'http://example.org/logo.png',
      items: [
        {
          title: 'Atom-Powered Robots Run Amok',
          description: 'Some text.',
          content: '<p>Hello</p>',
          link: 'http://example.org/2003/12/13/atom03',
          links: ['http://example.org/2003/12/13/atom03'],
          updated: '2003-12-13T18:30:02.250+01:00',
          updatedParsed: '2003-12-13T18:30:02.25+01:00',
          // No <published>: gofeed falls back to <updated>.
          published: '2003-12-13T18:30:02.250+01:00',
          publishedParsed: '2003-12-13T18:30:02.25+01:00',
          author: { name: 'Jane' },
          guid: 'urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a',
          categories: ['robots'],
          enclosures: [{ url: 'http://example.org/audio.mp3', length: '1337', type: 'audio/mpeg' }],
        },
      ],
    });
  });

  test('decodes base64 content of another media type', () => {
    const doc = feed(
      '<feed xmlns="http://www.w3.org/2005/Atom">' +
        '<entry><content type="application/octet-stream">aGVsbG8=</content></entry></feed>',
    );
    assert.deepEqual(doc['items'], [{ content: 'hello' }]);
  });
});

describe('rss decoder: JSON Feed', () => {
  test('translates a JSON feed as gofeed does', () => {
    const doc = feed(
      JSON.stringify({
        version: 'https://jsonfeed.org/version/1.1',
        title: 'JSON feed',
        home_page_url: 'https://example.org/',
        description: 'D',
        icon: 'https://example.org/icon.png',
        author: { name: 'Ann' },
        language: 'en',
        items: [
          {
            id: '1',
            url: 'https://example.org/1',
            title: 'First',
            content_html: '<p>Hi</p>',
            summary: 'S',
            date_published: '2020-08-07T11:44:36-05:00',
            tags: ['a'],
            attachments: [{ url: 'https://example.org/a.mp3', mime_type: 'audio/mpeg', size_in_bytes: 89970236 }],
          },
        ],
      }),
    );
    assert.deepEqual(doc, {
      title: 'JSON feed',
      description: 'D',
      language: 'en',
      copyright: '',
      published: '2020-08-07T11:44:36-05:00',
      updated: '',
      author: { name: 'Ann' },
      categories: null,
      custom: null,
      type: 'json',
      img_url: 'https://example.org/icon.png',
      items: [
        {
          guid: '1',
          link: 'https://example.org/1',
          links: ['https://example.org/1'],
          title: 'First',
          content: '<p>Hi</p>',
          description: 'S',
          published: '2020-08-07T11:44:36-05:00',
          publishedParsed: '2020-08-07T11:44:36-05:00',
          categories: ['a'],
          enclosures: [{ url: 'https://example.org/a.mp3', type: 'audio/mpeg', length: '89970236' }],
        },
      ],
    });
  });
});

describe('rss decoder: failures', () => {
  test('fails the backend for anything that is not a feed', () => {
    for (const body of ['', 'plain text', '<html><body/></html>', '<rss><channel>', '{"items": [', '[1, 2]']) {
      assert.throws(() => feed(body), DecodeError, JSON.stringify(body));
    }
  });

  test('never expands entities a DOCTYPE declares', () => {
    const doc = feed(
      '<!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>' +
        '<rss><channel><title>&b;&b;</title></channel></rss>',
    );
    assert.equal(doc['title'], '&b;&b;');
  });

  test('refuses nesting deeper than 1000 elements', () => {
    assert.throws(() => feed('<rss>' + '<x>'.repeat(1000) + '</x>'.repeat(1000) + '</rss>'), /nested deeper/);
  });
});

describe('rss decoder: helpers', () => {
  test('parses feed dates to RFC 3339 as Go prints a time.Time', () => {
    const cases: Array<[string, string | undefined]> = [
      ['Tue, 03 Jun 2003 09:39:21 GMT', '2003-06-03T09:39:21Z'],
      ['Tue, 3 Jun 2003 09:39:21 +0200', '2003-06-03T09:39:21+02:00'],
      ['Mon, 02 Jan 06 15:04:05 EST', '2006-01-02T15:04:05-05:00'],
      ['02 Jan 2006 15:04 PDT', '2006-01-02T15:04:00-07:00'],
      ['2003-12-13T18:30:02Z', '2003-12-13T18:30:02Z'],
      ['2003-12-13T18:30:02.500000+01:00', '2003-12-13T18:30:02.5+01:00'],
      ['2003-12-13', '2003-12-13T00:00:00Z'],
      ['2003-02-30T00:00:00Z', undefined],
      ['yesterday', undefined],
      ['', undefined],
    ];
    for (const [input, expected] of cases) assert.equal(parseDate(input), expected, input);
  });

  test('splits authors into name and address as gofeed does', () => {
    assert.deepEqual(parseNameAddress('ann@example.com (Ann Lee)'), { name: 'Ann Lee', email: 'ann@example.com' });
    assert.deepEqual(parseNameAddress('Ann Lee (ann@example.com)'), { name: 'Ann Lee', email: 'ann@example.com' });
    assert.deepEqual(parseNameAddress('Ann Lee'), { name: 'Ann Lee', email: '' });
    assert.deepEqual(parseNameAddress('ann@example.com'), { name: '', email: 'ann@example.com' });
  });
});
