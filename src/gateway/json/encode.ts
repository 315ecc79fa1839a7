import { JsonNumber } from './types.js';
import type { JsonObject, JsonValue } from './types.js';

/**
 * Serialises a value exactly as Go's `json.Marshal` writes the equivalent `map[string]interface{}` data, which is
 * what KrakenD sends to clients: object keys sorted by their UTF-8 bytes, no whitespace, HTML-safe escapes for
 * `<` `>` `&` U+2028 U+2029, `JsonNumber` as its source text.
 *
 * Differences from JSON.stringify beyond those: `undefined` properties are skipped (and `undefined` array items
 * written as null, as JSON.stringify does), but non-finite numbers throw a TypeError, as Go's Marshal fails with
 * an UnsupportedValueError rather than inventing a value. -0 is written `-0`, as Go writes a negative zero float64.
 * Lone surrogates are written `\ufffd`, Go's treatment of invalid UTF-8. Nesting deep enough to exhaust the call
 * stack throws a RangeError, as JSON.stringify does.
 */
export function encodeJson(value: JsonValue): string {
  return encodeValue(value);
}

function encodeValue(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return encodeString(value);
    case 'number':
      return encodeNumber(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object':
      if (value === null) return 'null';
      if (Array.isArray(value)) return encodeArray(value);
      if (value instanceof JsonNumber) return encodeJsonNumber(value.text);
      return encodeObject(value as JsonObject);
    default:
      throw new TypeError(`json: unsupported type: ${typeof value}`);
  }
}

function encodeArray(items: readonly unknown[]): string {
  const n = items.length;
  if (n === 0) return '[]';
  let out = '[' + encodeItem(items[0]);
  for (let i = 1; i < n; i++) out += ',' + encodeItem(items[i]);
  return out + ']';
}

function encodeItem(item: unknown): string {
  return item === undefined ? 'null' : encodeValue(item);
}

function encodeObject(obj: JsonObject): string {
  const keys = Object.keys(obj);
  const n = keys.length;
  if (n === 0) return '{}';
  // Bodies often arrive already sorted (from KrakenD, Go or other sorted writers): check before sorting.
  for (let i = 1; i < n; i++) {
    if (compareGoKeys(keys[i - 1] as string, keys[i] as string) > 0) {
      keys.sort(compareGoKeys);
      break;
    }
  }
  let out = '';
  for (let i = 0; i < n; i++) {
    const key = keys[i] as string;
    const v = obj[key];
    if (v === undefined) continue;
    out += (out === '' ? '{' : ',') + encodeString(key) + ':' + encodeValue(v);
  }
  return out === '' ? '{}' : out + '}';
}

/**
 * Orders keys as Go's `sort` of map keys does: by the bytes of their UTF-8 encoding. That is code point order, and
 * it agrees with JS's UTF-16 order except where a surrogate (an astral character, or a lone surrogate, which Go
 * sees as U+FFFD) meets a character in U+E000–U+FFFF; only those rare pairs fall back to comparing UTF-8 bytes.
 */
export function compareGoKeys(a: string, b: string): number {
  if (a === b) return 0;
  const n = a.length < b.length ? a.length : b.length;
  let i = 0;
  while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  const ca = a.charCodeAt(i);
  const cb = b.charCodeAt(i);
  if (isSurrogate(ca) || isSurrogate(cb)) return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
  if (i === n) return a.length - b.length;
  return ca - cb;
}

function isSurrogate(c: number): boolean {
  return c >= 0xd800 && c <= 0xdfff;
}

function encodeNumber(n: number): string {
  if (!Number.isFinite(n)) throw new TypeError(`json: unsupported value: ${goFloatName(n)}`);
  // Go prints a negative zero float64 as -0; String(-0) is "0".
  if (n === 0) return Object.is(n, -0) ? '-0' : '0';
  // JS and Go both print the shortest digits that round-trip, switching to exponent form at the same bounds
  // (below 1e-6, from 1e21) and in the same shape once Go has trimmed `e-07` to `e-7`.
  return String(n);
}

function goFloatName(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  return n > 0 ? '+Inf' : '-Inf';
}

const VALID_NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

function encodeJsonNumber(text: string): string {
  // Go writes json.Number verbatim after checking it; its zero value (empty) is written as 0.
  if (text === '') return '0';
  if (!VALID_NUMBER.test(text)) throw new TypeError(`json: invalid number literal ${JSON.stringify(text)}`);
  return text;
}

/** Anything JSON.stringify would escape, or Go would escape differently: most strings contain none of these. */
const NEEDS_ESCAPE = /["\\\u0000-\u001f<>&\u2028\u2029\ud800-\udfff]/;
/** What JSON.stringify leaves as Go would not: `\b` `\f`, HTML characters, line separators, lone surrogates. */
const NEEDS_GO_ESCAPE =
  /[\b\f<>&\u2028\u2029]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function encodeString(s: string): string {
  if (!NEEDS_ESCAPE.test(s)) return '"' + s + '"';
  if (!NEEDS_GO_ESCAPE.test(s)) return JSON.stringify(s);
  return escapeGo(s);
}

/**
 * Go's escapes for the control characters. Go before 1.22 writes \b and \f as `\u0008` and `\u000c` (this table);
 * Go 1.22 and later write `\b` and `\f`, as JSON.stringify does.
 */
const CONTROL_ESCAPES: readonly string[] = Array.from({ length: 0x20 }, (_, c) => {
  if (c === 0x0a) return '\\n';
  if (c === 0x0d) return '\\r';
  if (c === 0x09) return '\\t';
  return '\\u00' + c.toString(16).padStart(2, '0');
});

function escapeGo(s: string): string {
  let out = '"';
  let start = 0;
  const n = s.length;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    let escape: string;
    if (c < 0x20) escape = CONTROL_ESCAPES[c] as string;
    else if (c === 0x22) escape = '\\"';
    else if (c === 0x5c) escape = '\\\\';
    else if (c === 0x3c) escape = '\\u003c';
    else if (c === 0x3e) escape = '\\u003e';
    else if (c === 0x26) escape = '\\u0026';
    else if (c === 0x2028) escape = '\\u2028';
    else if (c === 0x2029) escape = '\\u2029';
    else if (c >= 0xd800 && c <= 0xdfff) {
      if (c <= 0xdbff && i + 1 < n) {
        const next = s.charCodeAt(i + 1);
        if (next >= 0xdc00 && next <= 0xdfff) {
          i++;
          continue;
        }
      }
      escape = '\\ufffd';
    } else continue;
    out += s.slice(start, i) + escape;
    start = i + 1;
  }
  return out + s.slice(start) + '"';
}
