/**
 * Output encodings, as Lura's gin renders: each writes the proxy's response (or its absence) to the client.
 * Status is the handler's (200 unless an error decided otherwise), except for `no-op`, which passes the
 * backend's status, headers and body through.
 */
import type { ServerResponse } from 'node:http';
import { pipeline } from 'node:stream';
import { encodeJson } from '../json/encode.js';
import type { OutputEncoding } from '../config/types.js';
import type { ProxyResponse } from '../proxy/types.js';

export type OutgoingHeaders = Record<string, string | string[]>;

export type Render = (
  res: ServerResponse,
  status: number,
  headers: OutgoingHeaders,
  response: ProxyResponse | undefined,
) => void;

const JSON_TYPE = 'application/json; charset=utf-8';
const TEXT_TYPE = 'text/plain; charset=utf-8';

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
    default:
      return jsonRender;
  }
}
