/**
 * The `rss` backend decoder, as KrakenD's krakend-rss: mmcdole/gofeed's universal parser (RSS 0.9x/1.0/2.0 and
 * Atom over Go's lenient XML decoder, and JSON Feed) and its default translators, reduced to the keys krakend-rss
 * puts in the response:
 *
 *   title, description, language, copyright, published, updated   strings ("" when absent)
 *   type                                                           "rss", "atom" or "json"
 *   author                                                         {name, email} or null
 *   categories                                                     [string] or null
 *   custom                                                         null (gofeed never fills it at feed level)
 *   items                                                          [item], possibly empty
 *   img_url                                                        only when the feed has an image
 *
 * Items carry gofeed's Item fields under its JSON names, each only when non-empty: title, description, content,
 * link, links, updated, updatedParsed, published, publishedParsed, author, guid, image, categories, enclosures,
 * dcExt, itunesExt, extensions, custom. `*Parsed` dates are RFC 3339 with the feed's offset, as Go prints a
 * time.Time.
 *
 * As in gofeed, element text is the raw content between the tags, trimmed, with CDATA unwrapped and entities
 * decoded, so HTML inside a description comes through as markup; elements in other namespaces (dc, itunes, media,
 * atom inside RSS…) are kept under `extensions`, keyed by their canonical prefix. A body that is not a well-formed
 * RSS, Atom or JSON Feed document is an XmlSyntaxError. Not done: xml:base resolution of relative links.
 */
import { parseJson } from '../json/parse.js';
import { JsonNumber, isJsonObject } from '../json/types.js';
import type { JsonObject, JsonValue } from '../json/types.js';
import { DEFAULT_MAX_DEPTH, XmlSyntaxError, decodeXmlBytes, parseXmlDocument } from './xml-parser.js';
import type { XmlDocument, XmlElement } from './xml-parser.js';

/** Decodes an RSS, Atom or JSON feed to krakend-rss's map. Throws XmlSyntaxError. */
export function feedToObject(body: Uint8Array): JsonObject {
  const src = decodeXmlBytes(body);
  const first = /\S/.exec(src.charCodeAt(0) === 0xfeff ? src.slice(1) : src)?.[0];
  if (first === '{') return krakendMap(jsonFeed(src));
  if (first !== '<') throw new XmlSyntaxError('failed to detect feed type');
  const doc = parseXmlDocument(src, { strict: false, maxDepth: DEFAULT_MAX_DEPTH });
  const root = doc.root.local.toLowerCase();
  if (root === 'rss' || root === 'rdf') return krakendMap(rssFeed(new Reader(doc)));
  if (root === 'feed') return krakendMap(atomFeed(new Reader(doc)));
  throw new XmlSyntaxError('failed to detect feed type');
}

// ---------------------------------------------------------------------------------------------------------------
// The universal feed (gofeed's Feed and Item, as far as krakend-rss shows them)

interface Person {
  name: string;
  email: string;
}

interface Enclosure {
  url: string;
  length: string;
  type: string;
}

interface Extension {
  name: string;
  value: string;
  attrs: Record<string, string>;
  children: Record<string, Extension[]>;
}

/** prefix → element name → occurrences. */
type Extensions = Record<string, Record<string, Extension[]>>;

interface Feed {
  type: 'rss' | 'atom' | 'json';
  title: string;
  description: string;
  language: string;
  copyright: string;
  published: string;
  updated: string;
  author: Person | undefined;
  categories: string[];
  imageUrl: string | undefined;
  items: JsonObject[];
}

function krakendMap(feed: Feed): JsonObject {
  const out: JsonObject = {
    items: feed.items,
    author: feed.author ? person(feed.author) : null,
    categories: feed.categories.length > 0 ? feed.categories : null,
    custom: null,
    copyright: feed.copyright,
    description: feed.description,
    type: feed.type,
    language: feed.language,
    title: feed.title,
    published: feed.published,
    updated: feed.updated,
  };
  if (feed.imageUrl !== undefined) out['img_url'] = feed.imageUrl;
  return out;
}

/**
 * Go's JSON for a struct whose fields are all `omitempty`: empty strings, slices and maps are left out. Pointers
 * to structs (author, image, dcExt, itunesExt) are left out only when absent: present but empty, they are `{}`.
 */
function omitEmpty(
  fields: Record<string, JsonValue | undefined>,
  pointers: ReadonlySet<string> = NO_POINTERS,
): JsonObject {
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined || value === '' || value === null) continue;
    if (Array.isArray(value)) {
      if (value.length === 0) continue;
    } else if (typeof value === 'object' && !pointers.has(key) && Object.keys(value).length === 0) {
      continue;
    }
    out[key] = value;
  }
  return out;
}

const NO_POINTERS: ReadonlySet<string> = new Set();
const ITEM_POINTERS: ReadonlySet<string> = new Set(['author', 'image', 'dcExt', 'itunesExt']);

function person(p: Person): JsonObject {
  return omitEmpty({ name: p.name, email: p.email });
}

function extensionsJson(ext: Extensions): JsonObject {
  const out: JsonObject = {};
  for (const [prefix, byName] of Object.entries(ext)) {
    const names: JsonObject = {};
    for (const [name, list] of Object.entries(byName)) names[name] = list.map(extensionJson);
    out[prefix] = names;
  }
  return out;
}

function extensionJson(e: Extension): JsonObject {
  const children: JsonObject = {};
  for (const [name, list] of Object.entries(e.children)) children[name] = list.map(extensionJson);
  return { name: e.name, value: e.value, attrs: { ...e.attrs }, children };
}

// ---------------------------------------------------------------------------------------------------------------
// Reading elements as gofeed does

/** gofeed's canonical prefixes for well-known namespaces; others keep the prefix the feed declared. */
const CANONICAL_PREFIXES: ReadonlyMap<string, string> = new Map([
  ['http://webns.net/mvcb/', 'admin'],
  ['http://purl.org/rss/1.0/modules/aggregation/', 'ag'],
  ['http://purl.org/rss/1.0/modules/annotate/', 'annotate'],
  ['http://media.tangent.org/rss/1.0/', 'audio'],
  ['http://backend.userland.com/blogChannelModule', 'blogChannel'],
  ['http://web.resource.org/cc/', 'cc'],
  ['http://www.microsoft.com/schemas/rss/core/2005', 'cf'],
  ['http://purl.org/rss/1.0/modules/company', 'company'],
  ['http://purl.org/rss/1.0/modules/content/', 'content'],
  ['http://conversationsnetwork.org/rssNamespace-1.0/', 'conversationsNetwork'],
  ['http://cyber.law.harvard.edu/rss/creativeCommonsRssModule.html', 'creativeCommons'],
  ['http://purl.org/dc/elements/1.1/', 'dc'],
  ['http://purl.org/dc/terms/', 'dcterms'],
  ['http://purl.org/rss/1.0/modules/email/', 'email'],
  ['http://purl.org/rss/1.0/modules/event/', 'ev'],
  ['http://purl.org/syndication/history/1.0', 'fh'],
  ['http://www.w3.org/2003/01/geo/wgs84_pos#', 'geo'],
  ['http://geourl.org/rss/module/', 'geourl'],
  ['http://www.georss.org/georss', 'georss'],
  ['http://www.opengis.net/gml', 'gml'],
  ['http://postneo.com/icbm', 'icbm'],
  ['http://purl.org/rss/1.0/modules/image/', 'image'],
  ['urn:atom-extension:indexing', 'indexing'],
  ['http://www.itunes.com/dtds/podcast-1.0.dtd', 'itunes'],
  ['http://rssnamespace.org/feedburner/ext/1.0', 'feedburner'],
  ['http://xmlns.com/foaf/0.1/', 'foaf'],
  ['http://purl.org/rss/1.0/modules/link/', 'l'],
  ['http://search.yahoo.com/mrss/', 'media'],
  ['http://www.w3.org/1998/Math/MathML', 'mathml'],
  ['http://a9.com/-/spec/opensearchrss/1.0/', 'opensearch10'],
  ['http://a9.com/-/spec/opensearch/1.1/', 'opensearch'],
  ['http://www.opml.org/spec2', 'opml'],
  ['http://www.w3.org/1999/02/22-rdf-syntax-ns#', 'rdf'],
  ['http://www.w3.org/2000/01/rdf-schema#', 'rdfs'],
  ['http://purl.org/rss/1.0/modules/reference/', 'ref'],
  ['http://purl.org/rss/1.0/modules/richequiv/', 'reqv'],
  ['http://purl.org/rss/1.0/modules/rss091#', 'rss091'],
  ['http://purl.org/rss/1.0/modules/search/', 'search'],
  ['http://purl.org/rss/1.0/modules/slash/', 'slash'],
  ['http://purl.org/rss/1.0/modules/servicestatus/', 'ss'],
  ['http://hacks.benhammersley.com/rss/streaming/', 'str'],
  ['http://purl.org/rss/1.0/modules/subscription/', 'sub'],
  ['http://feedsync.org/2007/feedsync', 'sx'],
  ['http://www.w3.org/2000/svg', 'svg'],
  ['http://purl.org/rss/1.0/modules/syndication/', 'sy'],
  ['http://purl.org/rss/1.0/modules/taxonomy/', 'taxo'],
  ['http://purl.org/rss/1.0/modules/threading/', 'thr'],
  ['http://purl.org/syndication/thread/1.0', 'thr'],
  ['http://madskills.com/public/xml/rss/module/trackback/', 'trackback'],
  ['http://wellformedweb.org/CommentAPI/', 'wfw'],
  ['http://purl.org/rss/1.0/modules/wiki/', 'wiki'],
  ['http://www.usemod.com/cgi-bin/mb.pl?ModWiki', 'wiki'],
  ['http://schemas.xmlsoap.org/soap/envelope/', 'soap'],
  ['http://www.w3.org/2005/Atom', 'atom'],
  ['http://www.w3.org/1999/xhtml', 'xhtml'],
  ['http://my.netscape.com/rdf/simple/0.9/', 'rss'],
  ['http://purl.org/net/rss1.1#', 'rss'],
  ['http://purl.org/rss/1.0/', 'rss'],
]);

const CDATA_START = '<![CDATA[';
const CDATA_END = ']]>';

class Reader {
  constructor(readonly doc: XmlDocument) {}

  /** gofeed's ParseText: the raw inner XML, trimmed, CDATA unwrapped, entities decoded. */
  text(el: XmlElement): string {
    const raw = this.doc.source.slice(el.innerStart, el.innerEnd).trim();
    return raw.includes(CDATA_START) ? stripCdata(raw) : decodeEntities(raw);
  }

  /** gofeed's IsExtension: an element in a namespace other than the feed's own, RDF's, or content's. */
  isExtension(el: XmlElement): boolean {
    const prefix = this.doc.spaces.get(el.space.trim());
    if (prefix !== undefined) return !(prefix === '' || prefix === 'rss' || prefix === 'rdf' || prefix === 'content');
    return el.space !== '';
  }

  addExtension(ext: Extensions, el: XmlElement): void {
    const prefix = CANONICAL_PREFIXES.get(el.space) ?? this.doc.spaces.get(el.space) ?? el.space;
    const byName = (ext[prefix] ??= {});
    (byName[el.local] ??= []).push(this.extension(el));
  }

  private extension(el: XmlElement): Extension {
    const attrs: Record<string, string> = {};
    for (const attr of el.attrs) attrs[attr.local] = attr.value;
    const children: Record<string, Extension[]> = {};
    for (const child of el.children) (children[child.local] ??= []).push(this.extension(child));
    return { name: el.local, value: el.text.trim(), attrs, children };
  }
}

function attr(el: XmlElement, local: string): string {
  return el.attrs.find((a) => a.local === local)?.value ?? '';
}

/** gofeed's StripCDATA: CDATA sections kept verbatim, entities decoded in between. */
function stripCdata(s: string): string {
  let out = '';
  let at = 0;
  while (at < s.length) {
    const start = s.indexOf(CDATA_START, at);
    if (start < 0) break;
    const end = s.indexOf(CDATA_END, start);
    if (end < 0) break;
    out += decodeEntities(s.slice(at, start)) + s.slice(start + CDATA_START.length, end);
    at = end + CDATA_END.length;
  }
  return out + decodeEntities(s.slice(at));
}

const ENTITY = /&(?:#x([0-9a-fA-F]+)|#([0-9]+)|(lt|gt|amp|apos|quot));/g;
const NAMED: Readonly<Record<string, string>> = { lt: '<', gt: '>', amp: '&', apos: "'", quot: '"' };

/** The five XML entities and character references; anything else stays as written. */
function decodeEntities(s: string): string {
  if (!s.includes('&')) return s;
  return s.replace(ENTITY, (whole, hex: string | undefined, dec: string | undefined, name: string | undefined) => {
    if (name !== undefined) return NAMED[name] as string;
    const code = Number.parseInt((hex ?? dec) as string, hex !== undefined ? 16 : 10);
    if (code > 0x10ffff) return whole;
    return code >= 0xd800 && code <= 0xdfff ? '\ufffd' : String.fromCodePoint(code);
  });
}

/** gofeed's ParseNameAddress: `a@b (Name)`, `Name (a@b)`, `Name` or `a@b`. */
export function parseNameAddress(text: string): Person {
  let m = /^([^@]+@\S+)\s+\(([^@]+)\)$/.exec(text);
  if (m) return { name: m[2] as string, email: m[1] as string };
  m = /^([^@]+)\s+\(([^@]+@[^)]+)\)$/.exec(text);
  if (m) return { name: m[1] as string, email: m[2] as string };
  if (/^[^@()]+$/.test(text)) return { name: text, email: '' };
  if (/^[^@()]+@[^@()]+$/.test(text)) return { name: '', email: text };
  return { name: '', email: '' };
}

// ---------------------------------------------------------------------------------------------------------------
// RSS

interface RssItem {
  title: string;
  description: string;
  content: string;
  link: string;
  links: string[];
  author: string;
  pubDate: string;
  guid: string | undefined;
  categories: string[];
  enclosures: Enclosure[];
  extensions: Extensions;
  custom: Record<string, string>;
}

interface RssChannel {
  title: string;
  description: string;
  language: string;
  copyright: string;
  managingEditor: string;
  webMaster: string;
  pubDate: string;
  lastBuildDate: string;
  categories: string[];
  image: { url: string; title: string } | undefined;
  items: RssItem[];
  extensions: Extensions;
}

function rssFeed(r: Reader): Feed {
  let channel: RssChannel | undefined;
  const rootItems: RssItem[] = [];
  let rootImage: RssChannel['image'];
  for (const el of r.doc.root.children) {
    const name = el.local.toLowerCase();
    if (name === 'channel') channel = rssChannel(r, el);
    else if (name === 'item') rootItems.push(rssItem(r, el));
    else if (name === 'image') rootImage = rssImage(r, el);
  }
  channel ??= emptyChannel();
  channel.items.push(...rootItems);
  channel.image ??= rootImage;
  return translateRss(channel);
}

function emptyChannel(): RssChannel {
  return {
    title: '',
    description: '',
    language: '',
    copyright: '',
    managingEditor: '',
    webMaster: '',
    pubDate: '',
    lastBuildDate: '',
    categories: [],
    image: undefined,
    items: [],
    extensions: {},
  };
}

function rssChannel(r: Reader, channelEl: XmlElement): RssChannel {
  const channel = emptyChannel();
  for (const el of channelEl.children) {
    if (r.isExtension(el)) {
      r.addExtension(channel.extensions, el);
      continue;
    }
    switch (el.local.toLowerCase()) {
      case 'title':
        channel.title = r.text(el);
        break;
      case 'description':
        channel.description = r.text(el);
        break;
      case 'language':
        channel.language = r.text(el);
        break;
      case 'copyright':
        channel.copyright = r.text(el);
        break;
      case 'managingeditor':
        channel.managingEditor = r.text(el);
        break;
      case 'webmaster':
        channel.webMaster = r.text(el);
        break;
      case 'pubdate':
        channel.pubDate = r.text(el);
        break;
      case 'lastbuilddate':
        channel.lastBuildDate = r.text(el);
        break;
      case 'category':
        channel.categories.push(r.text(el));
        break;
      case 'image':
        channel.image = rssImage(r, el);
        break;
      case 'item':
        channel.items.push(rssItem(r, el));
        break;
      default:
        break;
    }
  }
  return channel;
}

function rssImage(r: Reader, imageEl: XmlElement): { url: string; title: string } {
  const image = { url: '', title: '' };
  for (const el of imageEl.children) {
    const name = el.local.toLowerCase();
    if (name === 'url') image.url = r.text(el);
    else if (name === 'title') image.title = r.text(el);
  }
  return image;
}

function rssItem(r: Reader, itemEl: XmlElement): RssItem {
  const item: RssItem = {
    title: '',
    description: '',
    content: '',
    link: '',
    links: [],
    author: '',
    pubDate: '',
    guid: undefined,
    categories: [],
    enclosures: [],
    extensions: {},
    custom: {},
  };
  for (const el of itemEl.children) {
    if (r.isExtension(el)) {
      r.addExtension(item.extensions, el);
      continue;
    }
    switch (el.local.toLowerCase()) {
      case 'title':
        item.title = r.text(el);
        break;
      case 'description':
        item.description = r.text(el);
        break;
      case 'encoded':
        item.content = r.text(el);
        break;
      case 'link': {
        const link = r.text(el);
        item.link = link;
        item.links.push(link);
        break;
      }
      case 'author':
        item.author = r.text(el);
        break;
      case 'pubdate':
        item.pubDate = r.text(el);
        break;
      case 'guid':
        item.guid = r.text(el);
        break;
      case 'category':
        item.categories.push(r.text(el));
        break;
      case 'enclosure':
        item.enclosures.push({ url: attr(el, 'url'), length: attr(el, 'length'), type: attr(el, 'type') });
        break;
      case 'comments':
      case 'source':
        break;
      default:
        // gofeed keeps elements outside the spec and any namespace as custom values.
        item.custom[el.local] = r.text(el);
        break;
    }
  }
  return item;
}

/** The first value of a text extension (`dc:creator`), or "". */
function extText(ext: Record<string, Extension[]> | undefined, name: string): string {
  return ext?.[name]?.[0]?.value ?? '';
}

function extTexts(ext: Record<string, Extension[]> | undefined, name: string): string[] {
  return ext?.[name]?.map((e) => e.value) ?? [];
}

const DUBLIN_CORE = [
  'title',
  'creator',
  'author',
  'subject',
  'description',
  'publisher',
  'contributor',
  'date',
  'type',
  'format',
  'identifier',
  'source',
  'language',
  'relation',
  'coverage',
  'rights',
];

const ITUNES_ITEM = [
  'author',
  'block',
  'duration',
  'explicit',
  'keywords',
  'subtitle',
  'summary',
  'isClosedCaptioned',
  'episode',
  'season',
  'order',
  'episodeType',
];

function translateRss(channel: RssChannel): Feed {
  const dc = channel.extensions['dc'];
  const itunes = channel.extensions['itunes'];
  const categories = [...channel.categories];
  const keywords = extText(itunes, 'keywords');
  if (keywords !== '') categories.push(...keywords.split(','));
  for (const cat of itunes?.['category'] ?? []) {
    categories.push(cat.attrs['text'] ?? '');
    const sub = cat.children['category']?.[0];
    if (sub) categories.push(sub.attrs['text'] ?? '');
  }
  categories.push(...extTexts(dc, 'subject'));
  const itunesImage = itunes?.['image']?.[0]?.attrs['href'] ?? '';
  return {
    type: 'rss',
    title: channel.title || extText(dc, 'title'),
    description: channel.description,
    language: channel.language || extText(dc, 'language'),
    copyright: channel.copyright || extText(dc, 'rights'),
    published: channel.pubDate,
    updated: channel.lastBuildDate || extText(dc, 'date'),
    author: rssAuthor([channel.managingEditor, channel.webMaster], dc, itunes),
    categories,
    imageUrl: channel.image ? channel.image.url : itunesImage !== '' ? itunesImage : undefined,
    items: channel.items.map(translateRssItem),
  };
}

function translateRssItem(item: RssItem): JsonObject {
  const dc = item.extensions['dc'];
  const itunes = item.extensions['itunes'];
  const author = rssAuthor([item.author], dc, itunes);
  const published = item.pubDate || extText(dc, 'date');
  const categories = [...item.categories];
  const keywords = extText(itunes, 'keywords');
  if (keywords !== '') categories.push(...keywords.split(','));
  categories.push(...extTexts(dc, 'subject'));
  const itunesImage = itunes?.['image']?.[0]?.attrs['href'] ?? '';
  return omitEmpty({
    title: item.title || extText(dc, 'title'),
    description: item.description || extText(dc, 'description'),
    content: item.content,
    link: item.link,
    links: item.links,
    published,
    publishedParsed: parseDate(published),
    author: author ? person(author) : undefined,
    guid: item.guid,
    image: itunesImage !== '' ? { url: itunesImage } : undefined,
    categories,
    enclosures: item.enclosures.map((e) => omitEmpty({ url: e.url, length: e.length, type: e.type })),
    dcExt: dc ? omitEmpty(Object.fromEntries(DUBLIN_CORE.map((k) => [k, extTexts(dc, k)]))) : undefined,
    itunesExt: itunes ? itunesItem(itunes, itunesImage) : undefined,
    extensions: extensionsJson(item.extensions),
    custom: item.custom,
  }, ITEM_POINTERS);
}

/**
 * gofeed's author rule: the first of the feed's own fields that is set, then dc:author, dc:creator (present counts,
 * even empty), then itunes:author; the text is split into name and address.
 */
function rssAuthor(
  own: readonly string[],
  dc: Record<string, Extension[]> | undefined,
  itunes: Record<string, Extension[]> | undefined,
): Person | undefined {
  for (const text of own) if (text !== '') return parseNameAddress(text);
  if (dc?.['author']) return parseNameAddress(extText(dc, 'author'));
  if (dc?.['creator']) return parseNameAddress(extText(dc, 'creator'));
  const itunesAuthor = extText(itunes, 'author');
  return itunesAuthor !== '' ? parseNameAddress(itunesAuthor) : undefined;
}

function itunesItem(itunes: Record<string, Extension[]>, image: string): JsonObject {
  const fields: Record<string, string> = {};
  for (const key of ITUNES_ITEM) fields[key] = extText(itunes, key);
  fields['image'] = image;
  return omitEmpty(fields);
}

// ---------------------------------------------------------------------------------------------------------------
// Atom

interface AtomLink {
  href: string;
  rel: string;
  type: string;
  length: string;
}

function atomFeed(r: Reader): Feed {
  const root = r.doc.root;
  let title = '';
  let subtitle = '';
  let updated = '';
  let rights = '';
  let logo = '';
  let icon = '';
  const authors: Person[] = [];
  const categories: string[] = [];
  const items: JsonObject[] = [];
  for (const el of root.children) {
    if (r.isExtension(el)) continue;
    switch (el.local.toLowerCase()) {
      case 'title':
        title = atomText(r, el);
        break;
      case 'subtitle':
      case 'tagline':
        subtitle = atomText(r, el);
        break;
      case 'updated':
      case 'modified':
        updated = r.text(el);
        break;
      case 'rights':
      case 'copyright':
        rights = atomText(r, el);
        break;
      case 'logo':
        logo = r.text(el);
        break;
      case 'icon':
        icon = r.text(el);
        break;
      case 'author':
        authors.push(atomPerson(r, el));
        break;
      case 'category':
        categories.push(attr(el, 'label') || attr(el, 'term'));
        break;
      case 'entry':
        items.push(atomEntry(r, el));
        break;
      default:
        break;
    }
  }
  const image = logo || icon;
  return {
    type: 'atom',
    title,
    description: subtitle,
    language: attr(root, 'lang'),
    copyright: rights,
    published: '',
    updated,
    author: authors[0],
    categories,
    imageUrl: image !== '' ? image : undefined,
    items,
  };
}

function atomEntry(r: Reader, entryEl: XmlElement): JsonObject {
  let title = '';
  let id = '';
  let summary = '';
  let content = '';
  let published = '';
  let updated = '';
  const links: AtomLink[] = [];
  const authors: Person[] = [];
  const categories: string[] = [];
  const extensions: Extensions = {};
  for (const el of entryEl.children) {
    if (r.isExtension(el)) {
      r.addExtension(extensions, el);
      continue;
    }
    switch (el.local.toLowerCase()) {
      case 'title':
        title = atomText(r, el);
        break;
      case 'id':
        id = r.text(el);
        break;
      case 'summary':
        summary = atomText(r, el);
        break;
      case 'content':
        content = atomText(r, el);
        break;
      case 'published':
      case 'issued':
        published = r.text(el);
        break;
      case 'updated':
      case 'modified':
        updated = r.text(el);
        break;
      case 'link':
        links.push({
          href: attr(el, 'href'),
          rel: attr(el, 'rel') || 'alternate',
          type: attr(el, 'type'),
          length: attr(el, 'length'),
        });
        break;
      case 'author':
        authors.push(atomPerson(r, el));
        break;
      case 'category':
        categories.push(attr(el, 'label') || attr(el, 'term'));
        break;
      default:
        break;
    }
  }
  const updatedParsed = parseDate(updated);
  return omitEmpty({
    title,
    description: summary,
    content,
    link: links.find((l) => l.rel === 'alternate')?.href,
    links: links.filter((l) => l.rel === 'alternate' || l.rel === 'self').map((l) => l.href),
    updated,
    updatedParsed,
    published: published || updated,
    publishedParsed: published !== '' ? parseDate(published) : updatedParsed,
    author: authors[0] ? person(authors[0]) : undefined,
    guid: id,
    categories,
    enclosures: links
      .filter((l) => l.rel === 'enclosure')
      .map((l) => omitEmpty({ url: l.href, length: l.length, type: l.type })),
    extensions: extensionsJson(extensions),
  }, ITEM_POINTERS);
}

function atomPerson(r: Reader, personEl: XmlElement): Person {
  const p: Person = { name: '', email: '' };
  for (const el of personEl.children) {
    const name = el.local.toLowerCase();
    if (name === 'name') p.name = r.text(el);
    else if (name === 'email') p.email = r.text(el);
  }
  return p;
}

/** gofeed's parseAtomText: text and html decoded, xhtml kept as markup without its wrapping div, base64 otherwise. */
function atomText(r: Reader, el: XmlElement): string {
  const raw = r.doc.source.slice(el.innerStart, el.innerEnd).trim();
  const type = attr(el, 'type').toLowerCase();
  const mode = attr(el, 'mode').toLowerCase();
  if (raw.includes(CDATA_START)) return stripCdata(raw);
  if (type === 'text' || type.startsWith('text/') || (type === '' && mode === '')) return decodeEntities(raw);
  if (type.includes('xhtml')) return stripWrappingDiv(r, el, raw);
  if (type === 'html') return decodeEntities(stripWrappingDiv(r, el, raw));
  // Go's base64.StdEncoding skips line breaks and refuses anything else out of its alphabet.
  const compact = raw.replace(/[\r\n]/g, '');
  if (compact.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(compact)) return raw;
  return Buffer.from(compact, 'base64').toString('utf8');
}

function stripWrappingDiv(r: Reader, el: XmlElement, raw: string): string {
  const only = el.children.length === 1 ? el.children[0] : undefined;
  if (only === undefined || only.local.toLowerCase() !== 'div' || el.text.trim() !== '') return raw;
  return r.doc.source.slice(only.innerStart, only.innerEnd);
}

// ---------------------------------------------------------------------------------------------------------------
// JSON Feed

function jsonFeed(src: string): Feed {
  let doc: JsonValue;
  try {
    doc = parseJson(src);
  } catch (err) {
    throw new XmlSyntaxError(`invalid JSON feed: ${(err as Error).message}`);
  }
  if (!isJsonObject(doc)) throw new XmlSyntaxError('invalid JSON feed: not an object');
  const items = Array.isArray(doc['items']) ? doc['items'].filter(isJsonObject) : [];
  const icon = str(doc['icon']);
  const first = items[0];
  return {
    type: 'json',
    title: str(doc['title']),
    description: str(doc['description']),
    language: str(doc['language']),
    copyright: '',
    published: first ? str(first['date_published']) : '',
    updated: first ? str(first['date_modified']) : '',
    author: jsonAuthor(doc['author']),
    categories: [],
    imageUrl: icon !== '' ? icon : undefined,
    items: items.map(jsonItem),
  };
}

function jsonItem(item: JsonObject): JsonObject {
  const published = str(item['date_published']);
  const updated = str(item['date_modified']);
  const image = str(item['image']);
  const author = jsonAuthor(item['author']);
  const attachments = Array.isArray(item['attachments']) ? item['attachments'].filter(isJsonObject) : [];
  return omitEmpty(
    {
      guid: str(item['id']),
      link: str(item['url']),
      links: [str(item['url']), str(item['external_url'])].filter((l) => l !== ''),
      title: str(item['title']),
      content: str(item['content_html']) || str(item['content_text']),
      description: str(item['summary']),
      image: image !== '' ? { url: image } : undefined,
      published,
      publishedParsed: parseDate(published),
      updated,
      updatedParsed: parseDate(updated),
      author: author ? person(author) : undefined,
      categories: Array.isArray(item['tags']) ? item['tags'].map(str).filter((t) => t !== '') : [],
      enclosures: attachments.map((a) =>
        omitEmpty({ url: str(a['url']), type: str(a['mime_type']), length: str(a['size_in_bytes']) }),
      ),
    },
    ITEM_POINTERS,
  );
}

function jsonAuthor(value: JsonValue | undefined): Person | undefined {
  return isJsonObject(value) ? parseNameAddress(str(value['name'])) : undefined;
}

/** A string field, or a number's text; anything else is "". */
function str(value: JsonValue | undefined): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || value instanceof JsonNumber) return String(value);
  return '';
}

// ---------------------------------------------------------------------------------------------------------------
// Dates

const MONTHS: Readonly<Record<string, number>> = {
  jan: 1,
  feb: 2,
  mar: 3,
  apr: 4,
  may: 5,
  jun: 6,
  jul: 7,
  aug: 8,
  sep: 9,
  oct: 10,
  nov: 11,
  dec: 12,
};

/** RFC 822 zone names; any other name is read as UTC, as Go's time.Parse does for names it does not know. */
const ZONES: Readonly<Record<string, number>> = {
  ut: 0,
  utc: 0,
  gmt: 0,
  z: 0,
  est: -300,
  edt: -240,
  cst: -360,
  cdt: -300,
  mst: -420,
  mdt: -360,
  pst: -480,
  pdt: -420,
};

const ISO_DATE =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?$/;
const RFC822_DATE = new RegExp(
  '^(?:[A-Za-z]{2,9}\\.?,?\\s*)?' + // optional weekday
    '(\\d{1,2})[\\s-]+([A-Za-z]{3,9})\\.?[\\s-]+(\\d{2}|\\d{4}),?\\s+' + // day month year
    '(\\d{1,2}):(\\d{2})(?::(\\d{2})(?:\\.(\\d+))?)?' + // time
    '\\s*([A-Za-z]{1,5}|[+-]\\d{2}:?\\d{2})?(?:\\s*\\(.*\\))?$', // zone, comment
);

/**
 * A feed date as Go's JSON for the time.Time gofeed parses: RFC 3339 with the date's own offset (`Z` for UTC).
 * RFC 822/1123 and ISO 8601 forms are understood; undefined for anything else (gofeed leaves the field out).
 */
export function parseDate(text: string): string | undefined {
  const s = text.trim();
  if (s === '') return undefined;
  const iso = ISO_DATE.exec(s);
  if (iso) {
    const [, y, mo, d, h = '0', mi = '0', sec = '0', frac = '', zone = 'Z'] = iso as unknown as string[];
    return formatDate(+(y as string), +(mo as string), +(d as string), +h, +mi, +sec, frac, zoneOffset(zone));
  }
  const rfc = RFC822_DATE.exec(s);
  if (rfc) {
    const [, d, monthName, y, h, mi, sec = '0', frac = '', zone = 'Z'] = rfc as unknown as string[];
    const month = MONTHS[(monthName as string).slice(0, 3).toLowerCase()];
    if (month === undefined) return undefined;
    let year = +(y as string);
    if ((y as string).length === 2) year += year >= 69 ? 1900 : 2000;
    return formatDate(year, month, +(d as string), +(h as string), +(mi as string), +sec, frac, zoneOffset(zone));
  }
  return undefined;
}

function zoneOffset(zone: string): number | undefined {
  const numeric = /^([+-])(\d{2}):?(\d{2})?$/.exec(zone);
  if (numeric) {
    const minutes = +numeric[2]! * 60 + +(numeric[3] ?? 0);
    return numeric[1] === '-' ? -minutes : minutes;
  }
  return ZONES[zone.toLowerCase()] ?? 0;
}

function formatDate(
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
  second: number,
  fraction: string,
  offset: number | undefined,
): string | undefined {
  if (offset === undefined || month < 1 || month > 12 || hour > 23 || minute > 59 || second > 59) return undefined;
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (day < 1 || day > daysInMonth) return undefined;
  const frac = fraction.slice(0, 9).replace(/0+$/, '');
  const zone =
    offset === 0
      ? 'Z'
      : `${offset < 0 ? '-' : '+'}${pad(Math.floor(Math.abs(offset) / 60))}:${pad(Math.abs(offset) % 60)}`;
  const date = `${String(year).padStart(4, '0')}-${pad(month)}-${pad(day)}`;
  return `${date}T${pad(hour)}:${pad(minute)}:${pad(second)}${frac ? '.' + frac : ''}${zone}`;
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}
