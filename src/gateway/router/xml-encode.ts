/**
 * The `xml` output encoding, as KrakenD's krakend-xml render: clbanning/mxj's `Map.Xml()` with
 * `XMLEscapeChars(true)`, no root tag given, no indentation. The rules, exactly:
 *
 * - root: with a single key, that key is the root element (`{"user":{…}}` → `<user>…</user>`), unless its value
 *   is an array holding anything but objects; otherwise everything is wrapped in `<doc>…</doc>`. (A single key whose
 *   value is an array of objects yields one element per object and no single root, as mxj does.)
 * - keys are sorted by bytes; `-name` keys are attributes (sorted, written `name="…"`), `#text` is the element's
 *   text, written before its child elements;
 * - an array repeats its key, one element per item; an empty array, an empty string, null and an object with
 *   attributes only are self-closed (`<k/>`, `<k a="1"/>`);
 * - numbers print as their JSON text (JsonNumber included), booleans as true/false;
 * - `& < > " '` in text and attribute values become `&amp; &lt; &gt; &quot; &apos;`; nothing else is escaped.
 *
 * mxj fails the whole document when an attribute's value is an object, an array or null; the render then writes
 * no body, as krakend-xml does. Deviations, for safety: a key that would break out of the markup (empty, or holding
 * whitespace or one of `< > & " ' / = ! ?`) fails the document the same way instead of being written as is, and a
 * non-scalar `#text` is escaped after Go's `%v` formatting.
 */
import { compareGoKeys } from '../json/encode.js';
import { JsonNumber, isJsonObject } from '../json/types.js';
import type { JsonObject, JsonValue } from '../json/types.js';

export class XmlEncodeError extends Error {
  override name = 'XmlEncodeError';
}

/** mxj's DefaultRootTag. */
const ROOT = 'doc';
const TEXT = '#text';

/** The document for a response's data. Throws XmlEncodeError (or RangeError on absurd nesting). */
export function encodeXml(data: JsonObject): string {
  const w = new Writer();
  const keys = definedKeys(data);
  if (keys.length === 1) {
    const key = keys[0] as string;
    const value = data[key] as JsonValue;
    if (Array.isArray(value) && value.some((item) => !isJsonObject(item))) w.element(ROOT, data);
    else w.element(key, value);
  } else {
    w.element(ROOT, data);
  }
  return w.out;
}

class Writer {
  out = '';

  element(key: string, value: JsonValue | undefined): void {
    checkName(key);
    if (value === null || value === undefined) {
      this.out += `<${key}/>`;
      return;
    }
    if (Array.isArray(value)) {
      if (value.length === 0) this.out += `<${key}/>`;
      else for (const item of value) this.element(key, item);
      return;
    }
    if (isJsonObject(value)) {
      this.object(key, value);
      return;
    }
    const text = typeof value === 'string' ? escape(value) : scalar(value);
    this.out += text === '' ? `<${key}/>` : `<${key}>${text}</${key}>`;
  }

  private object(key: string, obj: JsonObject): void {
    const keys = definedKeys(obj);
    const attrs: string[] = [];
    const children: string[] = [];
    let hasText = false;
    for (const k of keys) {
      if (k.length > 1 && k.charCodeAt(0) === 0x2d) attrs.push(k);
      else if (k === TEXT) hasText = true;
      else children.push(k);
    }
    this.out += '<' + key;
    attrs.sort((a, b) => compareGoKeys(a.slice(1), b.slice(1)));
    for (const k of attrs) {
      const name = k.slice(1);
      checkName(name);
      this.out += ` ${name}="${attrValue(k, obj[k] as JsonValue)}"`;
    }
    if (attrs.length === keys.length) {
      this.out += '/>';
      return;
    }
    this.out += '>';
    if (hasText) this.out += text(obj[TEXT] as JsonValue);
    children.sort(compareGoKeys);
    for (const k of children) this.element(k, obj[k]);
    this.out += `</${key}>`;
  }
}

function definedKeys(obj: JsonObject): string[] {
  const keys = Object.keys(obj);
  return keys.some((k) => obj[k] === undefined) ? keys.filter((k) => obj[k] !== undefined) : keys;
}

function attrValue(key: string, value: JsonValue): string {
  if (typeof value === 'string') return escape(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value instanceof JsonNumber) return scalar(value);
  throw new XmlEncodeError(`invalid attribute value for: ${key}:<${goTypeName(value)}>`);
}

/** mxj writes `#text` with `%v`: strings escaped, scalars as printed, anything else as Go prints it (escaped here). */
function text(value: JsonValue): string {
  if (typeof value === 'string') return escape(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value instanceof JsonNumber) return scalar(value);
  return escape(goV(value));
}

function scalar(value: number | boolean | JsonNumber): string {
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  return value instanceof JsonNumber ? value.text : String(value);
}

/** Go's `%v` for decoded JSON: `<nil>`, `[a b]`, `map[k:v]` with sorted keys. */
function goV(value: JsonValue): string {
  if (value === null) return '<nil>';
  if (Array.isArray(value)) return '[' + value.map(goV).join(' ') + ']';
  if (isJsonObject(value)) {
    const keys = definedKeys(value).sort(compareGoKeys);
    return 'map[' + keys.map((k) => k + ':' + goV(value[k] as JsonValue)).join(' ') + ']';
  }
  return typeof value === 'string' ? value : scalar(value);
}

function goTypeName(value: JsonValue): string {
  if (value === null) return 'nil';
  return Array.isArray(value) ? '[]interface {}' : 'map[string]interface {}';
}

const ESCAPED = /[&<>"']/;
const ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&apos;',
};

/** mxj's escapeChars. */
function escape(s: string): string {
  return ESCAPED.test(s) ? s.replace(/[&<>"']/g, (c) => ESCAPES[c] as string) : s;
}

/** Characters that would end a tag or start another construct if written into a name. */
const UNSAFE_NAME = /[\u0000-\u0020\u007f<>&"'/=!?]/;

function checkName(name: string): void {
  if (name === '' || UNSAFE_NAME.test(name)) {
    throw new XmlEncodeError(`key ${JSON.stringify(name)} cannot be written as an XML name`);
  }
}
