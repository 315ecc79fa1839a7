import { JsonNumber } from './types.js';
import type { JsonObject, JsonValue } from './types.js';

/**
 * Parses a JSON body the way KrakenD does (Go's `json.Decoder` with `UseNumber()`): every number keeps its exact
 * source text. Numbers that a float64 reproduces (`String(Number(token)) === token`) come back as plain JS
 * numbers; the others (ids beyond 2^53, `1.10`, `1e5`, `-0`, …) come back as `JsonNumber`.
 *
 * Almost every body has no such number, and for those the cost is one regex scan plus the native `JSON.parse`.
 * Invalid JSON throws the same SyntaxError as `JSON.parse`, on either path.
 */
export function parseJson(input: string | Uint8Array): JsonValue {
  const text = typeof input === 'string' ? input : decodeUtf8(input);
  return mayLoseNumbers(text) ? parseLossless(text) : (JSON.parse(text) as JsonValue);
}

function decodeUtf8(bytes: Uint8Array): string {
  // Malformed sequences become U+FFFD, as Go's decoder turns invalid UTF-8 inside strings into the same rune.
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return buf.toString('utf8');
}

/*
 * The pre-check. A valid number token round-trips through a float64 unless it has an exponent, a fraction ending
 * in 0, is -0, is below 1e-6 (a 0 integer part and six or more leading fraction zeros), or has 16+ significant
 * digits (which covers 1e21 and above): a decimal with at most 15 significant digits maps to a double whose
 * shortest form gives those digits back (DBL_DIG), and JS prints it in plain notation between 1e-6 and 1e21.
 *
 * Each alternative flags one of those shapes at the start of a token. Anchoring on the character before a token
 * (whitespace , : [) keeps the regex from trying its alternatives at every digit: it costs about a quarter of a
 * JSON.parse on a compact body, where an unanchored form costs twice that. The tail takes in the rest of the
 * token, so a match is the anchor and one whole candidate token.
 */
const SUSPECT = /[\s,:[](?:-0(?![.\d])|-?(?:\d[\d.]{15}|0\.0{6}|\d+(?:\.\d*0(?!\d)|(?:\.\d+)?[eE])))[\d.eE+-]*/g;
/** A number as the whole document, which no anchor character precedes. */
const LEADING_NUMBER = /^[ \t\n\r]*[-\d]/;

/**
 * True when some number token in `text` may not survive `JSON.parse` exactly. False only if every number token
 * outside strings round-trips; a true answer for digits inside strings merely costs the slower path.
 */
export function mayLoseNumbers(text: string): boolean {
  // A bare number document is tiny; the lossless parser settles it without a special case here.
  if (LEADING_NUMBER.test(text)) return true;
  const re = SUSPECT;
  const len = text.length;
  re.lastIndex = 0;
  let match: RegExpExecArray | null;
  while ((match = re.exec(text)) !== null) {
    // In valid JSON a number token is followed by , ] } or whitespace; a candidate followed by anything else is
    // inside a string (timestamps like "10:00:00.120Z", versions, hashes), and invalid JSON fails in JSON.parse
    // all the same.
    const end = re.lastIndex;
    if (end < len && !isAfterToken(text.charCodeAt(end))) continue;
    // The costly case is a body full of 16-17 digit floats that do round-trip: each costs a float-to-text
    // conversion here (batching them through JSON.parse/stringify measured no faster).
    const token = match[0].slice(1);
    if (String(Number(token)) !== token) {
      re.lastIndex = 0;
      return true;
    }
  }
  return false;
}

/**
 * The value of a number token: a plain number when it prints back as the same text, a JsonNumber otherwise.
 * Short tokens in plain notation (at most 15 characters, so at most 15 digits) always print back unless they end
 * in a fraction zero, are -0 or are below 1e-6; the regex settles those without the costly String(Number(..)).
 */
function numberValue(token: string): number | JsonNumber {
  const n = Number(token);
  if (token.length <= 15 && SHORT_ROUND_TRIP.test(token)) return n;
  return String(n) === token ? n : new JsonNumber(token);
}

const SHORT_ROUND_TRIP = /^(?:-?[1-9]\d*(?:\.\d*[1-9])?|0|-?0\.(?!0{6})\d*[1-9])$/;

function isWhitespace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

function isAfterToken(c: number): boolean {
  // ] } ,
  return c === 0x5d || c === 0x7d || c === 0x2c || isWhitespace(c);
}

/**
 * The lossless path on its own, whatever the pre-check would say: a recursive-descent parser made iterative (an
 * explicit stack of open containers), so that hostile nesting depth costs heap, not call stack, just as it does in
 * V8's own `JSON.parse`.
 */
export function parseLossless(text: string): JsonValue {
  return new LosslessParser(text).parse();
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const LBRACE = 0x7b;
const RBRACE = 0x7d;

/** A string body without escapes or control characters; sticky, so it runs from an exact position. */
const PLAIN_STRING = /[^"\\\u0000-\u001f]*/y;
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

class LosslessParser {
  private pos = 0;

  constructor(private readonly text: string) {}

  parse(): JsonValue {
    const text = this.text;
    const open: Array<JsonValue[] | JsonObject> = [];
    // The pending key of each open object; unused ('') for arrays.
    const keys: string[] = [];
    let value: JsonValue;
    for (;;) {
      this.skipWhitespace();
      const c = text.charCodeAt(this.pos);
      if (c === LBRACE) {
        this.pos++;
        this.skipWhitespace();
        if (text.charCodeAt(this.pos) === RBRACE) {
          this.pos++;
          value = {};
        } else {
          open.push({});
          keys.push(this.readKey());
          continue;
        }
      } else if (c === LBRACKET) {
        this.pos++;
        this.skipWhitespace();
        if (text.charCodeAt(this.pos) === RBRACKET) {
          this.pos++;
          value = [];
        } else {
          open.push([]);
          keys.push('');
          continue;
        }
      } else {
        value = this.readScalar(c);
      }

      // A value is complete: store it, then close every container that it completes.
      for (;;) {
        const depth = open.length;
        this.skipWhitespace();
        if (depth === 0) {
          if (this.pos !== text.length) this.fail();
          return value;
        }
        const top = open[depth - 1] as JsonValue[] | JsonObject;
        const next = text.charCodeAt(this.pos);
        if (Array.isArray(top)) {
          top.push(value);
          if (next === COMMA) {
            this.pos++;
            break;
          }
          if (next !== RBRACKET) this.fail();
        } else {
          setProperty(top, keys[depth - 1] as string, value);
          if (next === COMMA) {
            this.pos++;
            this.skipWhitespace();
            keys[depth - 1] = this.readKey();
            break;
          }
          if (next !== RBRACE) this.fail();
        }
        this.pos++;
        open.pop();
        keys.pop();
        value = top;
      }
    }
  }

  private readScalar(c: number): JsonValue {
    const text = this.text;
    switch (c) {
      case QUOTE:
        return this.readString();
      case 0x74: // t
        return this.readLiteral('true', true);
      case 0x66: // f
        return this.readLiteral('false', false);
      case 0x6e: // n
        return this.readLiteral('null', null);
      default: {
        NUMBER.lastIndex = this.pos;
        if (!NUMBER.test(text)) this.fail();
        const token = text.slice(this.pos, NUMBER.lastIndex);
        this.pos = NUMBER.lastIndex;
        return numberValue(token);
      }
    }
  }

  private readLiteral<T extends JsonValue>(word: string, value: T): T {
    if (!this.text.startsWith(word, this.pos)) this.fail();
    this.pos += word.length;
    return value;
  }

  private readKey(): string {
    if (this.text.charCodeAt(this.pos) !== QUOTE) this.fail();
    const key = this.readString();
    this.skipWhitespace();
    if (this.text.charCodeAt(this.pos) !== COLON) this.fail();
    this.pos++;
    return key;
  }

  /** Reads a string token; `pos` is at its opening quote. */
  private readString(): string {
    const text = this.text;
    const start = this.pos;
    PLAIN_STRING.lastIndex = start + 1;
    PLAIN_STRING.test(text);
    const end = PLAIN_STRING.lastIndex;
    const c = text.charCodeAt(end);
    if (c === QUOTE) {
      this.pos = end + 1;
      return text.slice(start + 1, end);
    }
    if (c !== BACKSLASH) this.fail();
    return this.readEscapedString(start, end);
  }

  /**
   * A string token with escapes, from its opening quote at `start`; `from` is its first backslash. The token ends at
   * the first quote preceded by an even run of backslashes; the native parser then decodes and validates it. (A
   * regex over the whole token backtracks once per character and overflows on multi-megabyte strings, and decoding
   * escapes here is several times slower.)
   */
  private readEscapedString(start: number, from: number): string {
    const text = this.text;
    let quote = from;
    for (;;) {
      quote = text.indexOf('"', quote);
      if (quote < 0) {
        this.pos = text.length;
        this.fail();
      }
      let backslashes = 0;
      while (text.charCodeAt(quote - 1 - backslashes) === BACKSLASH) backslashes++;
      if (backslashes % 2 === 0) break;
      quote++;
    }
    let value: string;
    try {
      value = JSON.parse(text.slice(start, quote + 1)) as string;
    } catch {
      this.pos = start;
      this.fail();
    }
    this.pos = quote + 1;
    return value;
  }

  private skipWhitespace(): void {
    const text = this.text;
    let pos = this.pos;
    while (isWhitespace(text.charCodeAt(pos))) pos++;
    this.pos = pos;
  }

  private fail(): never {
    // The text is invalid, so JSON.parse throws too, with the engine's own message and position: both paths then
    // fail with identical errors. The fallback only guards against a disagreement between the two parsers.
    JSON.parse(this.text);
    throw new SyntaxError(`Unexpected token in JSON at position ${this.pos}`);
  }
}

function setProperty(target: JsonObject, key: string, value: JsonValue): void {
  if (key === '__proto__') {
    // Plain assignment would call the inherited setter and replace the prototype; JSON.parse defines an own
    // property instead, and so must we.
    Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true });
  } else {
    target[key] = value;
  }
}
