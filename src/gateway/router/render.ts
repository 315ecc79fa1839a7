/**
 * Output encodings, as Lura's gin renders (and krakend-xml's for `xml`): each writes the proxy's response (or its
 * absence) to the client. Status is the handler's (200 unless an error decided otherwise), except for `no-op`,
 * which passes the backend's status, headers and body through. `negotiate` picks one of the others from the
 * request's Accept header.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream';
import { stringify as stringifyYaml } from 'yaml';
import type { ScalarTag } from 'yaml';
import { compareGoKeys, encodeJson } from '../json/encode.js';
import { JsonNumber } from '../json/types.js';
import type { JsonObject } from '../json/types.js';
import type { OutputEncoding } from '../config/types.js';
import type { ProxyResponse } from '../proxy/types.js';
import { XmlEncodeError, encodeXml } from './xml-encode.js';

export type OutgoingHeaders = Record<string, string | string[]>;

export type Render = (
  res: ServerResponse,
  status: number,
  headers: OutgoingHeaders,
  response: ProxyResponse | undefined,
  req: IncomingMessage,
) => void;

const JSON_TYPE = 'application/json; charset=utf-8';
const TEXT_TYPE = 'text/plain; charset=utf-8';
/** gin.MIMEXML, which krakend-xml sets on the responses it renders. */
const XML_TYPE = 'application/xml';
/** gin's XML render, which krakend-xml falls back to when there is no response at all. */
const XML_EMPTY_TYPE = 'application/xml; charset=utf-8';
/** gin's YAML render (gin 1.11 and later, as in current KrakenD; earlier gin sent application/x-yaml). */
const YAML_TYPE = 'application/yaml; charset=utf-8';

function send(res: ServerResponse, status: number, headers: OutgoingHeaders, type: string, body: string): void {
  headers['Content-Type'] = type;
  headers['Content-Length'] = String(Buffer.byteLength(body));
  res.writeHead(status, headers);
  res.end(body);
}

export const jsonRender: Render = (res, status, headers, response) => {
  send(res, status, headers, JSON_TYPE, response ? encodeJson(response.data) : '{}');
};

export const jsonCollectionRender: Render = (res, status, headers, response) => {
  const col = response?.data['collection'];
  send(res, status, headers, JSON_TYPE, col === undefined ? '[]' : encodeJson(col));
};

export const stringRender: Render = (res, status, headers, response) => {
  const content = response?.data['content'];
  send(res, status, headers, TEXT_TYPE, typeof content === 'string' ? content : '');
};

/**
 * `xml`: the whole data as krakend-xml writes it with mxj (see xml-encode.ts), typed `application/xml`. When mxj
 * cannot encode the data (an attribute key holding an object, say), krakend-xml writes nothing: neither does this.
 */
export const xmlRender: Render = (res, status, headers, response) => {
  if (!response) {
    send(res, status, headers, XML_EMPTY_TYPE, '');
    return;
  }
  let body = '';
  try {
    body = encodeXml(response.data);
  } catch (err) {
    if (!(err instanceof XmlEncodeError || err instanceof RangeError)) throw err;
  }
  send(res, status, headers, XML_TYPE, body);
};

/** `yaml`: the whole data as YAML (`{}` without a response), as Lura's yamlRender through gin. */
export const yamlRender: Render = (res, status, headers, response) => {
  let body = '';
  try {
    body = encodeYaml(response ? response.data : {});
  } catch (err) {
    if (!(err instanceof RangeError)) throw err;
  }
  send(res, status, headers, YAML_TYPE, body);
};

/** `negotiate`: Lura's negotiatedRender, XML and YAML included (they come from the render register, as in KrakenD). */
export const negotiatedRender: Render = (res, status, headers, response, req) => {
  switch (negotiateFormat(req.headersDistinct['accept']?.[0])) {
    case MIME_XML:
      xmlRender(res, status, headers, response, req);
      return;
    case MIME_PLAIN:
    case MIME_YAML:
      yamlRender(res, status, headers, response, req);
      return;
    default:
      jsonRender(res, status, headers, response, req);
  }
};

const MIME_JSON = 'application/json';
const MIME_PLAIN = 'text/plain';
const MIME_XML = 'application/xml';
const MIME_YAML = 'application/x-yaml';
/** Lura's offers, in its order: it matters for wildcards (`*\/*` is JSON) and prefixes. */
const OFFERS = [MIME_JSON, MIME_PLAIN, MIME_XML, MIME_YAML] as const;

/**
 * gin's Context.NegotiateFormat: the Accept header (its first line only, as Go's Header.Get) split on commas,
 * parameters dropped, q-values ignored; the first listed type that matches an offer wins, offers tried in order.
 * A type matches when it equals the offer, is a prefix of it, or either has a `*` where they first differ
 * (case-sensitively, as gin compares bytes). No Accept header (or an empty one) gets the first offer, JSON; a
 * header that matches nothing gets "", which the render serves as JSON.
 */
export function negotiateFormat(accept: string | undefined): string {
  const accepted = parseAccept(accept ?? '');
  if (accepted.length === 0) return OFFERS[0];
  for (const type of accepted) {
    for (const offer of OFFERS) {
      let i = 0;
      for (; i < type.length && i < offer.length; i++) {
        if (type[i] === '*' || offer[i] === '*') return offer;
        if (type[i] !== offer[i]) break;
      }
      if (i === type.length) return offer;
    }
  }
  return '';
}

function parseAccept(header: string): string[] {
  const out: string[] = [];
  for (let part of header.split(',')) {
    const semi = part.indexOf(';');
    if (semi > 0) part = part.slice(0, semi);
    part = part.trim();
    if (part !== '') out.push(part);
  }
  return out;
}

/** JsonNumber keeps its exact text, as the float64 it stands for would not. */
const JSON_NUMBER_TAG: ScalarTag = {
  tag: 'tag:yaml.org,2002:float',
  default: true,
  identify: (value) => value instanceof JsonNumber,
  resolve: (source) => source,
  stringify: (item) => (item.value as JsonNumber).text,
};

/**
 * YAML as Go's encoders write decoded JSON: keys sorted by bytes, two-space indent, sequences not indented under
 * their key, no line folding, no anchors for repeated objects, strings quoted (double quotes) when a YAML 1.1
 * reader would take them for something else (`"yes"`, `"42"`, `"on"`), multi-line strings quoted with `\n`.
 */
function encodeYaml(data: JsonObject): string {
  return stringifyYaml(data, {
    indent: 2,
    indentSeq: false,
    lineWidth: 0,
    minContentWidth: 0,
    blockQuote: false,
    singleQuote: false,
    aliasDuplicateObjects: false,
    compat: 'yaml-1.1',
    customTags: [JSON_NUMBER_TAG],
    sortMapEntries: (a, b) => compareGoKeys(keyText(a.key), keyText(b.key)),
  });
}

function keyText(key: unknown): string {
  return String((key as { value: unknown }).value);
}

export const noopRender: Render = (res, _status, headers, response) => {
  if (!response) {
    res.writeHead(500, headers);
    res.end();
    return;
  }
  const out: OutgoingHeaders = { ...headers };
  for (const [name, values] of Object.entries(response.metadata.headers)) {
    // The gateway's own headers win over a backend's.
    if (!(canonicalOwn(name) in headers)) out[name] = values.length === 1 ? (values[0] as string) : values;
  }
  res.writeHead(response.metadata.statusCode || 200, out);
  const stream = response.stream;
  if (!stream) {
    res.end();
    return;
  }
  pipeline(stream, res, (err) => {
    // A backend reset mid-body: the client sees a truncated body and a closed connection, as with any proxy.
    if (err && !res.destroyed) res.destroy(err);
  });
};

const OWN = new Map([
  ['x-krakend', 'X-Krakend'],
  ['x-krakend-completed', 'X-Krakend-Completed'],
]);
function canonicalOwn(name: string): string {
  return OWN.get(name) ?? name;
}

/** Lura's getRender: the endpoint's output_encoding; unknown ones fall back to json. */
export function renderFor(encoding: OutputEncoding): Render {
  switch (encoding) {
    case 'json-collection':
      return jsonCollectionRender;
    case 'string':
      return stringRender;
    case 'no-op':
      return noopRender;
    case 'xml':
      return xmlRender;
    case 'yaml':
      return yamlRender;
    case 'negotiate':
      return negotiatedRender;
    default:
      return jsonRender;
  }
}
