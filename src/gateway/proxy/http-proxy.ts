/**
 * The backend proxy: builds the backend request (url_pattern, load balancing over `host`, forwarded query and
 * headers), calls it on a keep-alive pool, checks the status as Lura's default status handler does (only 200
 * and 201 are successes) and decodes the body. `no-op` backends return the response untouched, streamed.
 */
import { gunzipSync, inflateSync, brotliDecompressSync } from 'node:zlib';
import type { Dispatcher } from 'undici';
import type { BackendConfig } from '../config/types.js';
import { ErrorCode, KrakendError } from '../../base/errors.js';
import { HOP_BY_HOP } from '../http/headers.js';
import type { BackendPools } from './backend-pools.js';
import { DecodeError, decoderFor } from './decoders.js';
import type { Headers, Proxy, ProxyRequest, ProxyResponse } from './types.js';
import { compileUrlPattern } from './url-pattern.js';

export interface HttpProxyOptions {
  pools: BackendPools;
  /** Largest backend body accepted, in bytes; larger bodies fail the backend. */
  maxBodySize: number;
}

type ResponseData = Dispatcher.ResponseData;

const METHODS_WITHOUT_BODY = new Set(['GET', 'HEAD']);

export function createHttpProxy(backend: BackendConfig, options: HttpProxyOptions): Proxy {
  const pattern = compileUrlPattern(backend.urlPattern);
  const hosts = backend.host.map((h) => new URL(h));
  const method = backend.method;
  const label = `[${method} ${backend.urlPattern}]`;
  const noop = backend.encoding === 'no-op';
  const decode = noop ? undefined : decoderFor(backend.encoding, backend.isCollection);
  const { pools, maxBodySize } = options;
  let next = 0;

  return async function httpProxy(request: ProxyRequest, signal: AbortSignal): Promise<ProxyResponse> {
    // Round robin, as Lura's static balancer.
    const host = hosts[next++ % hosts.length] as URL;
    if (next >= 1 << 30) next = 0;
    const path = buildPath(host, pattern.render(request.params), request.query);
    const headers: Record<string, string | string[]> = { ...request.headers };
    let body: Buffer | undefined;
    if (request.body && request.body.length > 0 && !METHODS_WITHOUT_BODY.has(method)) {
      body = request.body;
      headers['content-length'] = String(body.length);
    }

    let res: ResponseData;
    try {
      res = await pools.get(host.origin).request({ path, method: method as Dispatcher.HttpMethod, headers, body, signal });
    } catch (err) {
      throw connectionError(err, signal, label, host.origin + path);
    }

    if (noop) {
      return {
        data: {},
        isComplete: true,
        metadata: { statusCode: res.statusCode, headers: responseHeaders(res.headers) },
        stream: res.body,
      };
    }

    if (res.statusCode !== 200 && res.statusCode !== 201) {
      void res.body.dump().catch(() => {});
      throw new KrakendError(
        ErrorCode.BackendStatus,
        `invalid status code ${res.statusCode} ${label}: ${host.origin}${path}`,
      );
    }

    let raw: Buffer;
    try {
      raw = await readBody(res, maxBodySize);
    } catch (err) {
      if (err instanceof KrakendError) throw err;
      throw connectionError(err, signal, label, host.origin + path);
    }
    try {
      const data = (decode as (b: Buffer) => ProxyResponse['data'])(decompress(raw, res.headers, maxBodySize));
      return { data, isComplete: true, metadata: { statusCode: res.statusCode, headers: {} } };
    } catch (err) {
      if (err instanceof KrakendError) throw err;
      throw new KrakendError(ErrorCode.BackendDecode, `${label} ${(err as Error).message}`, { cause: err });
    }
  };
}

function buildPath(host: URL, renderedPattern: string, query: URLSearchParams): string {
  const base = host.pathname === '/' ? '' : host.pathname;
  let path = base + renderedPattern;
  if (!path.startsWith('/')) path = '/' + path;
  // Lura appends the forwarded query after the url_pattern's own, with Go's sorted encoding.
  if (query.size > 0) {
    const sorted = new URLSearchParams(query);
    sorted.sort();
    path += (path.includes('?') ? '&' : '?') + sorted.toString();
  }
  return path;
}

async function readBody(res: ResponseData, max: number): Promise<Buffer> {
  const declared = Number(res.headers['content-length']);
  if (declared > max) {
    res.body.destroy();
    throw tooLarge(max);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += (chunk as Buffer).length;
    if (size > max) {
      res.body.destroy();
      throw tooLarge(max);
    }
    chunks.push(chunk as Buffer);
  }
  return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size);
}

function decompress(raw: Buffer, headers: ResponseData['headers'], max: number): Buffer {
  const enc = headers['content-encoding'];
  if (!enc || enc === 'identity') return raw;
  try {
    switch (String(enc).toLowerCase()) {
      case 'gzip':
      case 'x-gzip':
        return gunzipSync(raw, { maxOutputLength: max });
      case 'deflate':
        return inflateSync(raw, { maxOutputLength: max });
      case 'br':
        return brotliDecompressSync(raw, { maxOutputLength: max });
      default:
        throw new DecodeError(`unsupported content-encoding "${String(enc)}"`);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw tooLarge(max);
    throw err;
  }
}

function tooLarge(max: number): KrakendError {
  return new KrakendError(ErrorCode.BackendBodyTooLarge, `backend body larger than ${max} bytes`);
}

function connectionError(err: unknown, signal: AbortSignal, label: string, url: string): KrakendError {
  if (signal.aborted) {
    const reason = signal.reason as unknown;
    if (reason instanceof KrakendError) return reason;
    return new KrakendError(ErrorCode.RequestCancelled, `${label} request cancelled: ${url}`, { cause: err });
  }
  return new KrakendError(ErrorCode.BackendConnection, `${label} ${(err as Error).message}: ${url}`, { cause: err });
}

function responseHeaders(raw: ResponseData['headers']): Headers {
  const out: Headers = {};
  for (const [name, value] of Object.entries(raw)) {
    if (value === undefined || HOP_BY_HOP.has(name)) continue;
    out[name] = Array.isArray(value) ? value : [value];
  }
  return out;
}
