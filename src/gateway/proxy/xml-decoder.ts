/**
 * The `xml` backend decoder, as KrakenD's krakend-xml: clbanning/mxj's `NewMapXmlReader` with its defaults (no
 * casting), over Go's strict XML decoder. The mapping, exactly:
 *
 * - the result has one key, the root element's local name (namespace prefixes are dropped from element and
 *   attribute names alike: `<atom:link>` is `link`, `xmlns:dc="…"` is the attribute `-dc`);
 * - attributes are `-name` keys; every value is a string (`"42"`, `"true"`);
 * - an element with text only is that text, trimmed of spaces, tabs and line breaks; an empty element is `""`;
 * - an element with attributes or children is an object; its text, if any, goes under `#text`;
 * - a repeated child element becomes an array, in document order;
 * - when text is split by comments, CDATA sections or child elements, the last non-blank run wins (mxj keeps one
 *   text value per element), except that text before the first child wins over text after it, as in mxj;
 * - comments, processing instructions and the DOCTYPE are skipped; nothing after the root's end tag is read.
 *
 * With `is_collection` the whole object goes under `collection` (an object, not an array, as in krakend-xml).
 * Malformed XML, an undeclared entity (DTD entities are never expanded), or nesting deeper than 1000 elements is an
 * XmlSyntaxError, which the decoder reports as a DecodeError: the backend fails as any undecodable response does.
 */
import type { JsonObject, JsonValue } from '../json/types.js';
import { DEFAULT_MAX_DEPTH, XmlSyntaxError, XmlTokenizer, decodeXmlBytes, splitName } from './xml-parser.js';

interface Frame {
  readonly key: string;
  /** mxj's `na`: attributes and children. */
  readonly members: JsonObject;
  count: number;
  /** mxj's `n[skey]`: the text of an element that had no attributes or children when the text came. */
  text: string | undefined;
}

/** Decodes a document to mxj's map. Throws XmlSyntaxError. */
export function xmlToObject(body: Uint8Array): JsonObject {
  return mxjMap(new XmlTokenizer(decodeXmlBytes(body), { strict: true, maxDepth: DEFAULT_MAX_DEPTH }));
}

function mxjMap(tokenizer: XmlTokenizer): JsonObject {
  let token = tokenizer.next();
  // Text, comments and declarations before the root are skipped (mxj's "stray text" rule).
  while (token !== undefined && token.type !== 'start') token = tokenizer.next();
  if (token === undefined) throw new XmlSyntaxError('no root element (EOF)');
  const stack: Frame[] = [open(token.name, token.attrs)];
  for (;;) {
    token = tokenizer.next();
    // The tokenizer reports EOF inside an element itself; undefined only follows the root's end.
    if (token === undefined) throw new XmlSyntaxError('unexpected EOF');
    const top = stack[stack.length - 1] as Frame;
    switch (token.type) {
      case 'start':
        stack.push(open(token.name, token.attrs));
        break;
      case 'text': {
        const text = trimGo(token.text);
        if (text === '') break;
        if (top.count > 0) set(top, '#text', text);
        else top.text = text;
        break;
      }
      case 'end': {
        stack.pop();
        const value = close(top);
        const parent = stack[stack.length - 1];
        if (parent === undefined) {
          const doc: JsonObject = {};
          define(doc, top.key, value);
          return doc;
        }
        addChild(parent, top.key, value);
        break;
      }
      default:
        break;
    }
  }
}

function open(name: string, attrs: ReadonlyArray<{ name: string; value: string }>): Frame {
  const frame: Frame = { key: splitName(name).local, members: {}, count: 0, text: undefined };
  for (const attr of attrs) set(frame, '-' + splitName(attr.name).local, attr.value);
  return frame;
}

function close(frame: Frame): JsonValue {
  if (frame.text === undefined) return frame.count > 0 ? frame.members : '';
  if (frame.count === 0) return frame.text;
  set(frame, '#text', frame.text);
  return frame.members;
}

function addChild(frame: Frame, key: string, value: JsonValue): void {
  if (Object.hasOwn(frame.members, key)) {
    const current = frame.members[key] as JsonValue;
    if (Array.isArray(current)) current.push(value);
    else define(frame.members, key, [current, value]);
    return;
  }
  set(frame, key, value);
}

function set(frame: Frame, key: string, value: JsonValue): void {
  if (!Object.hasOwn(frame.members, key)) frame.count++;
  define(frame.members, key, value);
}

/** An own property even for `__proto__`, which an element may well be called. */
function define(obj: JsonObject, key: string, value: JsonValue): void {
  if (key === '__proto__') {
    Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  } else {
    obj[key] = value;
  }
}

/** Go's `strings.Trim(s, "\t\r\b\n ")`, which mxj applies to every run of text. */
function trimGo(s: string): string {
  let start = 0;
  let end = s.length;
  while (start < end && isTrimmed(s.charCodeAt(start))) start++;
  while (end > start && isTrimmed(s.charCodeAt(end - 1))) end--;
  return start === 0 && end === s.length ? s : s.slice(start, end);
}

function isTrimmed(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x09 || c === 0x0d || c === 0x08;
}
