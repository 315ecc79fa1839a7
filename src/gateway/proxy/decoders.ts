/**
 * Backend body decoders, as Lura's `encoding` package: each turns a backend body into the object the pipeline
 * merges and reshapes. Arrays and scalars cannot be merged, so they are wrapped (`collection`, `content`).
 */
import { parseJson } from '../json/parse.js';
import type { JsonObject, JsonValue } from '../json/types.js';
import { isJsonObject } from '../json/types.js';
import type { BackendEncoding } from '../config/types.js';
import { feedToObject } from './rss-decoder.js';
import { xmlToObject } from './xml-decoder.js';
import { XmlSyntaxError } from './xml-parser.js';

export type Decoder = (body: Buffer) => JsonObject;

export class DecodeError extends Error {
  override name = 'DecodeError';
}

function parse(body: Buffer): JsonValue {
  try {
    return parseJson(body);
  } catch (err) {
    throw new DecodeError(`invalid JSON from backend: ${(err as Error).message}`);
  }
}

/** `json`: an object, or with `is_collection` an array wrapped as `{collection: [...]}`. */
export function jsonDecoder(isCollection: boolean): Decoder {
  if (isCollection) {
    return (body) => {
      const value = parse(body);
      if (!Array.isArray(value)) throw new DecodeError('backend answered a non-array body to an is_collection backend');
      return { collection: value };
    };
  }
  return (body) => {
    const value = parse(body);
    if (!isJsonObject(value)) {
      throw new DecodeError(
        `backend answered a JSON ${value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value} where an object was expected ` +
          '(set "is_collection": true for arrays, or use the safejson encoding)',
      );
    }
    return value;
  };
}

/** `safejson`: any JSON; arrays become `{collection}`, scalars `{content}`. */
export const safeJsonDecoder: Decoder = (body) => {
  const value = parse(body);
  if (isJsonObject(value)) return value;
  if (Array.isArray(value)) return { collection: value };
  return { content: value };
};

/** `string`: the body as text under `content`. */
export const stringDecoder: Decoder = (body) => ({ content: body.toString('utf8') });

/**
 * `xml` (krakend-xml): the document as mxj maps it (see xml-decoder.ts); with `is_collection`, that whole object
 * under `collection`. Malformed XML fails the backend.
 */
export function xmlDecoder(isCollection: boolean): Decoder {
  return (body) => {
    const doc = decodeOrFail(xmlToObject, body, 'XML');
    return isCollection ? { collection: doc } : doc;
  };
}

/** `rss` (krakend-rss): an RSS, Atom or JSON feed as gofeed reads it (see rss-decoder.ts); no `is_collection`. */
export const rssDecoder: Decoder = (body) => decodeOrFail(feedToObject, body, 'feed');

function decodeOrFail(decode: (body: Buffer) => JsonObject, body: Buffer, what: string): JsonObject {
  try {
    return decode(body);
  } catch (err) {
    if (err instanceof XmlSyntaxError) throw new DecodeError(`invalid ${what} from backend: ${err.message}`);
    throw err;
  }
}

export function decoderFor(encoding: BackendEncoding, isCollection: boolean): Decoder {
  switch (encoding) {
    case 'json':
      return jsonDecoder(isCollection);
    case 'safejson':
      return safeJsonDecoder;
    case 'string':
      return stringDecoder;
    case 'xml':
      return xmlDecoder(isCollection);
    case 'rss':
      return rssDecoder;
    default:
      throw new Error(`no decoder for encoding "${encoding}"`);
  }
}
