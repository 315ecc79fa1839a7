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
 * A lone surrogate is written as U+FFFD, the character Go's decoder puts in its place when a body holds one
 * (`"\ud800"`), so a decoded-then-encoded body comes out byte for byte as KrakenD's. Anything that is not JSON data
 * (a function, a symbol, a bigint) throws a TypeError. Nesting deep enough to exhaust the call stack throws a
 * RangeError, as JSON.stringify does, and so does a cycle (JSON.stringify's TypeError would need a visited set,
 * which this hot path does without).
 */
export function encodeJson(value: JsonValue): string {
  return new GoJsonWriter().write(value);
}

/*
 * The writer appends to one string as it walks, which V8 keeps as a rope and flattens once, at the end. A rope of
 * millions of pieces outlives the young generation, though, and then costs more in GC than the appends; so past a
 * chunk's worth of text the writer flattens what it has (charCodeAt does that in V8) and starts a new rope.
 */
const CHUNK_CHARS = 256 * 1024;

class GoJsonWriter {
  private out = '';
  private chunks: string[] | undefined;

  write(value: unknown): string {
    this.value(value);
    return this.chunks === undefined ? this.out : this.chunks.join('') + this.out;
  }

  private flushChunk(): void {
    this.out.charCodeAt(0);
    (this.chunks ??= []).push(this.out);
    this.out = '';
  }

  private value(value: unknown): void {
    switch (typeof value) {
      case 'string':
        this.out += NEEDS_ESCAPE.test(value) ? escapeString(value) : '"' + value + '"';
        return;
      case 'number':
        this.out += value !== 0 && Number.isFinite(value) ? String(value) : encodeSpecialNumber(value);
        return;
      case 'boolean':
        this.out += value ? 'true' : 'false';
        return;
      case 'object':
        if (value === null) this.out += 'null';
        else if (Array.isArray(value)) this.array(value);
        else if (value instanceof JsonNumber) this.out += encodeJsonNumber(value.text);
        else this.object(value as JsonObject);
        return;
      default:
        throw new TypeError(`json: unsupported type: ${typeof value}`);
    }
  }

  private array(items: readonly unknown[]): void {
    const n = items.length;
    if (n === 0) {
      this.out += '[]';
      return;
    }
    for (let i = 0; i < n; i++) {
      if (this.out.length > CHUNK_CHARS) this.flushChunk();
      this.out += i === 0 ? '[' : ',';
      const item = items[i];
      if (item === undefined) this.out += 'null';
      else this.value(item);
    }
    this.out += ']';
  }

  private object(obj: JsonObject): void {
    const layout = objectLayout(Object.keys(obj));
    const { sorted, prefixes } = layout;
    let first = true;
    for (let i = 0; i < sorted.length; i++) {
      const v = obj[sorted[i] as string];
      if (v === undefined) continue;
      if (this.out.length > CHUNK_CHARS) this.flushChunk();
      this.out += (first ? '{' : ',') + (prefixes[i] as string);
      first = false;
      this.value(v);
    }
    this.out += first ? '{}' : '}';
  }
}

/** An object's keys in Go's order, each with its encoded `"key":` prefix. */
interface ObjectLayout {
  /** Object.keys order, to recognise the next object of the same shape. */
  readonly keys: readonly string[];
  readonly sorted: readonly string[];
  readonly prefixes: readonly string[];
}

/*
 * Layouts are memoised by key sequence: sorting and escaping keys is most of the cost of encoding an object, and
 * bodies repeat shapes (list items, nested records of one type). Entries are found by first key, up to a few shapes
 * each. Wide objects (maps keyed by ids) and long keys are not cached, and the table is dropped whole when it
 * fills: the cache holds at most a few megabytes, and hostile bodies cost at most the uncached work.
 */
const LAYOUT_CACHE = new Map<string, ObjectLayout[]>();
const LAYOUT_CACHE_MAX_ENTRIES = 256;
const LAYOUT_SHAPES_PER_KEY = 4;
const LAYOUT_MAX_KEYS = 64;
const LAYOUT_MAX_KEY_CHARS = 1024;
const EMPTY_LAYOUT: ObjectLayout = { keys: [], sorted: [], prefixes: [] };

function objectLayout(keys: string[]): ObjectLayout {
  const n = keys.length;
  if (n === 0) return EMPTY_LAYOUT;
  if (n > LAYOUT_MAX_KEYS) return buildLayout(keys);
  const firstKey = keys[0] as string;
  const shapes = LAYOUT_CACHE.get(firstKey);
  if (shapes !== undefined) {
    for (const shape of shapes) {
      if (sameKeys(shape.keys, keys)) return shape;
    }
  }
  const layout = buildLayout(keys);
  let chars = 0;
  for (let i = 0; i < n; i++) chars += (keys[i] as string).length;
  if (chars > LAYOUT_MAX_KEY_CHARS) return layout;
  if (shapes === undefined) {
    if (LAYOUT_CACHE.size >= LAYOUT_CACHE_MAX_ENTRIES) LAYOUT_CACHE.clear();
    LAYOUT_CACHE.set(firstKey, [layout]);
  } else {
    if (shapes.length >= LAYOUT_SHAPES_PER_KEY) shapes.shift();
    shapes.push(layout);
  }
  return layout;
}

function sameKeys(a: readonly string[], b: readonly string[]): boolean {
  const n = a.length;
  if (n !== b.length) return false;
  for (let i = 1; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

function buildLayout(keys: string[]): ObjectLayout {
  let sorted = keys.slice();
  if (keys.some((k) => SURROGATE.test(k))) {
    sorted.sort(compareGoKeys);
    // Keys that differ only in lone surrogates are one key to Go, whose decoder turned each into U+FFFD and kept
    // the value that came last. The sort is stable, so of each run of such keys the last in insertion order stays.
    sorted = sorted.filter((k, i) => i + 1 === sorted.length || compareGoKeys(k, sorted[i + 1] as string) !== 0);
  } else if (sorted.length > 16) {
    // Without surrogates, UTF-16 code unit order (JS's < and default sort) is already Go's UTF-8 byte order.
    sorted.sort();
  } else {
    insertionSort(sorted);
  }
  const prefixes = sorted.map((k) => (NEEDS_ESCAPE.test(k) ? escapeString(k) : '"' + k + '"') + ':');
  return { keys, sorted, prefixes };
}

/** Small key lists are often sorted or nearly so, where this is linear and beats Array#sort's setup. */
function insertionSort(keys: string[]): void {
  for (let i = 1; i < keys.length; i++) {
    const key = keys[i] as string;
    let j = i - 1;
    if ((keys[j] as string) <= key) continue;
    do {
      keys[j + 1] = keys[j] as string;
      j--;
    } while (j >= 0 && (keys[j] as string) > key);
    keys[j + 1] = key;
  }
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

/*
 * Finite non-zero numbers are written String(n): JS and Go both print the shortest digits that round-trip, and
 * switch to exponent form at the same bounds (below 1e-6, from 1e21) and in the same shape once Go has trimmed
 * `e-07` to `e-7`. The rest come here.
 */
function encodeSpecialNumber(n: number): string {
  if (!Number.isFinite(n)) throw new TypeError(`json: unsupported value: ${goFloatName(n)}`);
  // Go prints a negative zero float64 as -0; String(-0) is "0".
  return Object.is(n, -0) ? '-0' : '0';
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

const SURROGATE = /[\ud800-\udfff]/;

/** The quoted form of a string that NEEDS_ESCAPE matched. */
function escapeString(s: string): string {
  return NEEDS_GO_ESCAPE.test(s) ? escapeGo(s) : JSON.stringify(s);
}

/**
 * Go's escapes for the control characters, as Go up to 1.21 writes them: \b and \f as `\u0008` and `\u000c`
 * (checked against Go 1.19). Go 1.22 and later write `\b` and `\f`, as JSON.stringify does; to follow KrakenD
 * builds on those, map 0x08 and 0x0c to '\\b' and '\\f' here and drop \b \f from NEEDS_GO_ESCAPE.
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
      escape = '\ufffd';
    } else continue;
    out += s.slice(start, i) + escape;
    start = i + 1;
  }
  return out + s.slice(start) + '"';
}
