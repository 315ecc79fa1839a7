/**
 * A small, non-validating XML tokenizer that reads a document the way Go's `encoding/xml` Decoder does, because
 * KrakenD's `xml` decoder (clbanning/mxj) and `rss` decoder (mmcdole/gofeed) both sit on it and their output
 * depends on its token boundaries: one text token per run of character data, one per CDATA section, comments and
 * processing instructions as their own tokens, namespace prefixes resolved but local names kept.
 *
 * Hostile input: no DTD is ever processed, so entities a DOCTYPE declares are never expanded (Go does the same:
 * a reference to one is an error in strict mode and kept as written in lenient mode), nesting is bounded, and every
 * step is linear in the input. Tokens are produced lazily, so nothing after the root element's end tag is read,
 * as with Go.
 *
 * Two modes, as Go's `Decoder.Strict`:
 * - strict (mxj): an unknown entity, an unquoted or missing attribute value, or a mismatched end tag is an error;
 * - lenient (gofeed, whose pull parser turns Strict off and strips characters XML does not allow beforehand):
 *   unknown entities stay as written, `attr=value` and bare `attr` are accepted, a mismatched end tag closes the
 *   open elements up to its match (or is ignored), and characters XML does not allow are dropped.
 */
import { TextDecoder } from 'node:util';

export class XmlSyntaxError extends Error {
  override name = 'XmlSyntaxError';
}

export interface XmlAttr {
  /** As written, with its prefix (`xmlns:dc`, `xml:lang`, `href`). */
  readonly name: string;
  readonly value: string;
}

export type XmlToken =
  | {
      readonly type: 'start';
      readonly name: string;
      readonly attrs: readonly XmlAttr[];
      /** Source offsets of the tag, `<` to just past `>`. */
      readonly start: number;
      readonly end: number;
    }
  | { readonly type: 'end'; readonly name: string; readonly start: number; readonly end: number }
  | { readonly type: 'text'; readonly text: string; readonly cdata: boolean }
  | { readonly type: 'other' };

export interface XmlTokenizerOptions {
  /** Go's `Decoder.Strict`. */
  readonly strict: boolean;
  /** Deepest element nesting accepted; deeper documents are a syntax error. */
  readonly maxDepth: number;
}

/** Deep enough for any real document; shallow enough that recursive consumers stay far from the stack limit. */
export const DEFAULT_MAX_DEPTH = 1000;

const PREDEFINED: Readonly<Record<string, string>> = { lt: '<', gt: '>', amp: '&', apos: "'", quot: '"' };

/** Characters XML 1.0 does not allow (Go's isInCharacterRange). Decoded text holds no lone surrogates. */
const ILLEGAL_CHAR = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/;
const ILLEGAL_CHARS = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g;

/** XML 1.0 (5th edition) names, which Go checks after reading the name bytes. */
const NAME_START =
  ':A-Z_a-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u02ff\u0370-\u037d\u037f-\u1fff\u200c\u200d\u2070-\u218f' +
  '\u2c00-\u2fef\u3001-\ud7ff\uf900-\ufdcf\ufdf0-\ufffd\u{10000}-\u{effff}';
const NAME_REST = NAME_START + '\\-.0-9\u00b7\u0300-\u036f\u203f\u2040';
const NAME = new RegExp(`^[${NAME_START}][${NAME_REST}]*$`, 'u');

const LT = 0x3c;
const GT = 0x3e;

export class XmlTokenizer {
  private readonly src: string;
  private pos = 0;
  private readonly open: string[] = [];
  private pendingEnd: XmlToken | undefined;
  private readonly strict: boolean;
  private readonly maxDepth: number;

  constructor(src: string, options: XmlTokenizerOptions) {
    this.strict = options.strict;
    this.maxDepth = options.maxDepth;
    this.src = this.strict ? src : src.replace(ILLEGAL_CHARS, '');
  }

  /** The text tokens' offsets refer to (in lenient mode, the input without the characters XML does not allow). */
  get source(): string {
    return this.src;
  }

  /** Number of elements open after the last token. */
  get depth(): number {
    return this.open.length;
  }

  /** The next token, or undefined at the end of the input. Throws XmlSyntaxError on malformed input. */
  next(): XmlToken | undefined {
    if (this.pendingEnd !== undefined) {
      const end = this.pendingEnd;
      this.pendingEnd = undefined;
      this.open.pop();
      return end;
    }
    const src = this.src;
    if (this.pos >= src.length) {
      if (this.open.length > 0) throw this.error('unexpected EOF');
      return undefined;
    }
    if (src.charCodeAt(this.pos) !== LT) return this.text();
    const c = src.charCodeAt(this.pos + 1);
    if (c === 0x2f) return this.endTag(); // </
    if (c === 0x3f) return this.procInst(); // <?
    if (c === 0x21) return this.bang(); // <!
    return this.startTag();
  }

  private text(): XmlToken {
    const start = this.pos;
    let end = this.src.indexOf('<', start);
    if (end < 0) end = this.src.length;
    this.pos = end;
    return { type: 'text', text: this.decode(this.src.slice(start, end), start, false), cdata: false };
  }

  private startTag(): XmlToken {
    const src = this.src;
    const start = this.pos;
    this.pos++;
    const name = this.name();
    if (name === undefined) throw this.error('expected element name after <');
    const attrs: XmlAttr[] = [];
    let selfClosing = false;
    for (;;) {
      this.space();
      const c = src.charCodeAt(this.pos);
      if (Number.isNaN(c)) throw this.error('unexpected EOF');
      if (c === 0x2f) {
        if (src.charCodeAt(this.pos + 1) !== GT) throw this.error('expected /> in element');
        this.pos += 2;
        selfClosing = true;
        break;
      }
      if (c === GT) {
        this.pos++;
        break;
      }
      const attrName = this.name();
      if (attrName === undefined) throw this.error('expected attribute name in element');
      this.space();
      if (src.charCodeAt(this.pos) !== 0x3d) {
        if (this.strict) throw this.error('attribute name without = in element');
        attrs.push({ name: attrName, value: attrName });
        continue;
      }
      this.pos++;
      this.space();
      attrs.push({ name: attrName, value: this.attrValue() });
    }
    if (this.open.length >= this.maxDepth) throw this.error(`elements nested deeper than ${this.maxDepth}`);
    this.open.push(name);
    const token: XmlToken = { type: 'start', name, attrs, start, end: this.pos };
    if (selfClosing) this.pendingEnd = { type: 'end', name, start: this.pos, end: this.pos };
    return token;
  }

  private attrValue(): string {
    const src = this.src;
    const quote = src.charCodeAt(this.pos);
    if (quote === 0x22 || quote === 0x27) {
      const start = this.pos + 1;
      const end = src.indexOf(quote === 0x22 ? '"' : "'", start);
      if (end < 0) {
        this.pos = src.length;
        throw this.error('unexpected EOF');
      }
      const raw = src.slice(start, end);
      const lt = raw.indexOf('<');
      if (lt >= 0) {
        this.pos = start + lt;
        throw this.error('unescaped < inside quoted string');
      }
      this.pos = end + 1;
      return this.decode(raw, start, false);
    }
    if (this.strict) throw this.error('unquoted or missing attribute value in element');
    // Go's lenient reader takes a name-like run as the value.
    const start = this.pos;
    while (this.pos < src.length && isNameCode(src.charCodeAt(this.pos))) this.pos++;
    return this.decode(src.slice(start, this.pos), start, false);
  }

  private endTag(): XmlToken {
    const start = this.pos;
    this.pos += 2;
    const name = this.name();
    if (name === undefined) throw this.error('expected element name after </');
    this.space();
    if (this.src.charCodeAt(this.pos) !== GT) {
      if (this.pos >= this.src.length) throw this.error('unexpected EOF');
      throw this.error(`invalid characters between </${name} and >`);
    }
    this.pos++;
    const top = this.open[this.open.length - 1];
    if (top === name) {
      this.open.pop();
      return { type: 'end', name, start, end: this.pos };
    }
    if (this.strict) {
      if (top === undefined) throw this.error(`unexpected end element </${name}>`);
      throw this.error(`element <${top}> closed by </${name}>`);
    }
    // Lenient: close everything up to the matching open element, or drop a stray end tag.
    const match = this.open.lastIndexOf(name);
    if (match < 0) return { type: 'other' };
    this.open.length = match + 1;
    this.open.pop();
    return { type: 'end', name, start, end: this.pos };
  }

  private procInst(): XmlToken {
    const start = this.pos;
    this.pos += 2;
    const target = this.name();
    if (target === undefined) throw this.error('expected target name after <?');
    const close = this.src.indexOf('?>', this.pos);
    if (close < 0) {
      this.pos = this.src.length;
      throw this.error('unexpected EOF');
    }
    const content = this.src.slice(this.pos, close);
    this.pos = close + 2;
    if (target === 'xml') {
      const version = declaredVersion(content);
      if (version !== undefined && version !== '1.0') {
        this.pos = start;
        throw this.error(`unsupported version "${version}"; only version 1.0 is supported`);
      }
    }
    return { type: 'other' };
  }

  private bang(): XmlToken {
    const src = this.src;
    if (src.startsWith('<!--', this.pos)) {
      const close = src.indexOf('-->', this.pos + 4);
      if (close < 0) {
        this.pos = src.length;
        throw this.error('unexpected EOF');
      }
      this.pos = close + 3;
      return { type: 'other' };
    }
    if (src.startsWith('<![', this.pos)) {
      if (!src.startsWith('<![CDATA[', this.pos)) throw this.error('invalid <![ sequence');
      const start = this.pos + 9;
      const close = src.indexOf(']]>', start);
      if (close < 0) {
        this.pos = src.length;
        throw this.error('unexpected EOF in CDATA section');
      }
      this.pos = close + 3;
      return { type: 'text', text: this.decode(src.slice(start, close), start, true), cdata: true };
    }
    if (src.startsWith('<!-', this.pos)) throw this.error('invalid sequence <!- not part of <!--');
    return this.directive();
  }

  /** `<!DOCTYPE …>` and other declarations: skipped whole, internal subset included, never interpreted. */
  private directive(): XmlToken {
    const src = this.src;
    let depth = 0;
    let i = this.pos + 2;
    while (i < src.length) {
      const c = src.charCodeAt(i);
      if (c === 0x22 || c === 0x27) {
        const close = src.indexOf(c === 0x22 ? '"' : "'", i + 1);
        if (close < 0) break;
        i = close + 1;
        continue;
      }
      if (c === LT) {
        if (src.startsWith('<!--', i)) {
          const close = src.indexOf('-->', i + 4);
          if (close < 0) break;
          i = close + 3;
          continue;
        }
        depth++;
      } else if (c === GT) {
        if (depth === 0) {
          this.pos = i + 1;
          return { type: 'other' };
        }
        depth--;
      }
      i++;
    }
    this.pos = src.length;
    throw this.error('unexpected EOF');
  }

  /** Go's readName then isName: a run of name characters, which must form an XML name. */
  private name(): string | undefined {
    const src = this.src;
    const start = this.pos;
    while (this.pos < src.length && isNameCode(src.charCodeAt(this.pos))) this.pos++;
    if (this.pos === start) return undefined;
    const name = src.slice(start, this.pos);
    if (!NAME.test(name)) {
      this.pos = start;
      throw this.error(`invalid XML name: ${name}`);
    }
    // Go refuses a name with more than one colon (it cannot be split into prefix and local name).
    if (name.indexOf(':') !== name.lastIndexOf(':')) {
      this.pos = start;
      throw this.error(`invalid XML name: ${name}`);
    }
    return name;
  }

  private space(): void {
    const src = this.src;
    for (;;) {
      const c = src.charCodeAt(this.pos);
      if (c === 0x20 || c === 0x0a || c === 0x09 || c === 0x0d) this.pos++;
      else return;
    }
  }

  /** Line endings normalised, then entities decoded (not in CDATA), then characters checked, as Go's text(). */
  private decode(raw: string, at: number, cdata: boolean): string {
    let text = raw.indexOf('\r') >= 0 ? raw.replace(/\r\n?/g, '\n') : raw;
    if (!cdata && text.indexOf('&') >= 0) text = this.entities(text, at);
    const bad = ILLEGAL_CHAR.exec(text);
    if (bad) {
      this.pos = at;
      const code = (bad[0].codePointAt(0) as number).toString(16).toUpperCase().padStart(4, '0');
      throw this.error(`illegal character code U+${code}`);
    }
    return text;
  }

  private entities(text: string, at: number): string {
    let out = '';
    let last = 0;
    let amp = text.indexOf('&');
    while (amp >= 0) {
      out += text.slice(last, amp);
      let i = amp + 1;
      let value: string | undefined;
      if (text.charCodeAt(i) === 0x23) {
        i++;
        const hex = text.charCodeAt(i) === 0x78;
        if (hex) i++;
        const digits = i;
        while (i < text.length && isDigit(text.charCodeAt(i), hex)) i++;
        if (i > digits && text.charCodeAt(i) === 0x3b) {
          const code = Number.parseInt(text.slice(digits, i), hex ? 16 : 10);
          if (code <= 0x10ffff) value = code >= 0xd800 && code <= 0xdfff ? '\ufffd' : String.fromCodePoint(code);
          i++;
        }
      } else {
        const nameStart = i;
        while (i < text.length && isNameCode(text.charCodeAt(i))) i++;
        if (text.charCodeAt(i) === 0x3b) {
          value = PREDEFINED[text.slice(nameStart, i)];
          i++;
        }
      }
      if (value === undefined) {
        if (this.strict) {
          this.pos = at;
          const written = text.slice(amp, i);
          const hint = written.endsWith(';') ? '' : ' (no semicolon)';
          throw this.error(`invalid character entity ${written}${hint}`);
        }
        value = text.slice(amp, i);
      }
      out += value;
      last = i;
      amp = text.indexOf('&', i);
    }
    return out + text.slice(last);
  }

  private error(message: string): XmlSyntaxError {
    return new XmlSyntaxError(`XML syntax error on line ${lineAt(this.src, this.pos)}: ${message}`);
  }
}

/** Go's isNameByte, plus any non-ASCII character (Go reads those into names and checks them afterwards). */
function isNameCode(c: number): boolean {
  return (
    (c >= 0x61 && c <= 0x7a) ||
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x30 && c <= 0x39) ||
    c === 0x5f ||
    c === 0x3a ||
    c === 0x2e ||
    c === 0x2d ||
    c >= 0x80
  );
}

function isDigit(c: number, hex: boolean): boolean {
  return (c >= 0x30 && c <= 0x39) || (hex && ((c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46)));
}

function lineAt(src: string, pos: number): number {
  let line = 1;
  for (let i = src.indexOf('\n'); i >= 0 && i < pos; i = src.indexOf('\n', i + 1)) line++;
  return line;
}

const XML_VERSION = /(?:^|\s)version\s*=\s*(?:"([^"]*)"|'([^']*)')/;

/** The version pseudo-attribute of an XML declaration. */
function declaredVersion(content: string): string | undefined {
  const m = XML_VERSION.exec(content);
  return m ? (m[1] ?? m[2]) : undefined;
}

/**
 * A name split as Go splits it: `prefix:local` when there is exactly one colon with text on both sides, otherwise
 * the whole name is the local part.
 */
export function splitName(name: string): { prefix: string; local: string } {
  const colon = name.indexOf(':');
  if (colon <= 0 || colon === name.length - 1) return { prefix: '', local: name };
  return { prefix: name.slice(0, colon), local: name.slice(colon + 1) };
}

// ---------------------------------------------------------------------------------------------------------------
// Element tree

export interface XmlElementAttr {
  readonly name: string;
  readonly local: string;
  /** Namespace URI; the prefix itself when it was never declared (as Go leaves it); empty without a prefix. */
  readonly space: string;
  readonly value: string;
}

export interface XmlElement {
  readonly name: string;
  readonly local: string;
  /** Namespace URI (the default namespace applies); the prefix itself when undeclared; empty for none. */
  readonly space: string;
  readonly attrs: readonly XmlElementAttr[];
  readonly children: XmlElement[];
  /** The element's own character data, CDATA included, concatenated in order (not its descendants'). */
  text: string;
  /** Offsets in `XmlDocument.source` of the raw content between the tags (Go's `,innerxml`). */
  readonly innerStart: number;
  innerEnd: number;
}

export interface XmlDocument {
  readonly root: XmlElement;
  readonly source: string;
  /** Every namespace declared, URI → prefix (lower-cased; empty for a default one), as gofeed's parser keeps. */
  readonly spaces: ReadonlyMap<string, string>;
}

const XML_NAMESPACE = 'http://www.w3.org/XML/1998/namespace';

/** Parses the root element and everything in it into a tree; what follows the root is not read. */
export function parseXmlDocument(src: string, options: XmlTokenizerOptions): XmlDocument {
  const tokenizer = new XmlTokenizer(src, options);
  const spaces = new Map<string, string>();
  // Prefix → the URIs bound to it, innermost last; each open element remembers which prefixes it bound, so that
  // lookups and scope exits cost O(1) whatever the nesting.
  const bindings = new Map<string, string[]>([['xml', [XML_NAMESPACE]]]);
  const lookup = (prefix: string) => bindings.get(prefix)?.at(-1);
  const stack: Array<{ element: XmlElement; bound: string[] }> = [];
  let root: XmlElement | undefined;
  for (;;) {
    const token = tokenizer.next();
    if (token === undefined) throw new XmlSyntaxError('XML syntax error: no root element');
    const parent = stack[stack.length - 1]?.element;
    if (token.type === 'start') {
      const bound: string[] = [];
      for (const attr of token.attrs) {
        const { prefix, local } = splitName(attr.name);
        const declared = prefix === 'xmlns' ? local : prefix === '' && local === 'xmlns' ? '' : undefined;
        if (declared === undefined) continue;
        let uris = bindings.get(declared);
        if (uris === undefined) bindings.set(declared, (uris = []));
        uris.push(attr.value);
        bound.push(declared);
        spaces.set(attr.value.trim(), declared.trim().toLowerCase());
      }
      const { prefix, local } = splitName(token.name);
      const element: XmlElement = {
        name: token.name,
        local,
        space: prefix === '' ? (lookup('') ?? '') : (lookup(prefix) ?? prefix),
        attrs: token.attrs.map((attr) => {
          const split = splitName(attr.name);
          const unscoped = split.prefix === '' || split.prefix === 'xmlns';
          const space = unscoped ? split.prefix : (lookup(split.prefix) ?? split.prefix);
          return { name: attr.name, local: split.local, space, value: attr.value };
        }),
        children: [],
        text: '',
        innerStart: token.end,
        innerEnd: token.end,
      };
      if (parent) parent.children.push(element);
      else root ??= element;
      stack.push({ element, bound });
    } else if (token.type === 'end') {
      // In lenient mode an end tag may close several elements at once.
      for (;;) {
        const { element, bound } = stack.pop() as { element: XmlElement; bound: string[] };
        for (const prefix of bound) bindings.get(prefix)?.pop();
        element.innerEnd = token.start;
        if (element.name === token.name) break;
      }
      if (stack.length === 0) return { root: root as XmlElement, source: tokenizer.source, spaces };
    } else if (token.type === 'text' && parent) {
      parent.text += token.text;
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Bytes to text

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const DECLARED_ENCODING = /^(?:\xef\xbb\xbf)?\s*<\?xml\s[^>]*?\bencoding\s*=\s*["']([^"']*)["']/;

/**
 * The document as text. UTF-8 unless the XML declaration names another encoding, which is decoded with the WHATWG
 * decoder for that label (KrakenD installs golang.org/x/net/html/charset, which uses the same labels). A UTF-8 BOM
 * is kept: it is character data before the root, which every consumer here ignores, as Go's do.
 */
export function decodeXmlBytes(body: Uint8Array): string {
  const head = Buffer.from(body.buffer, body.byteOffset, Math.min(body.byteLength, 1024)).toString('latin1');
  const declared = DECLARED_ENCODING.exec(head)?.[1]?.trim();
  if (declared !== undefined && declared !== '' && declared.toLowerCase() !== 'utf-8') {
    let decoder: TextDecoder;
    try {
      decoder = new TextDecoder(declared, { fatal: false, ignoreBOM: true });
    } catch {
      throw new XmlSyntaxError(`unsupported charset: "${declared}"`);
    }
    return decoder.decode(body);
  }
  try {
    return UTF8.decode(body);
  } catch {
    throw new XmlSyntaxError('XML syntax error: invalid UTF-8');
  }
}
