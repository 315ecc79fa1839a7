/**
 * The proxy pipeline, after Lura: a proxy is a function from a request to a response, and each stage (merge,
 * backend, load balancing, formatting) is a proxy that wraps another. Stacks are assembled once per endpoint
 * when a config is loaded.
 */
import type { Readable } from 'node:stream';
import type { JsonObject } from '../json/types.js';

/** Header names are lower-case; each header may have several values. */
export type Headers = Record<string, string[]>;

export interface ProxyRequest {
  readonly method: string;
  /** Path params by declared name (`{id}` → `id`). */
  readonly params: Readonly<Record<string, string>>;
  /** Forwarded query strings only (already filtered by `input_query_strings`). */
  readonly query: URLSearchParams;
  /** Forwarded headers only (already filtered by `input_headers` and the forwarding rules). */
  readonly headers: Headers;
  /** The client's body, buffered (bounded) so several backends can each be sent it. */
  readonly body: Buffer | undefined;
}

export interface ResponseMetadata {
  statusCode: number;
  headers: Headers;
}

export interface ProxyResponse {
  data: JsonObject;
  isComplete: boolean;
  metadata: ResponseMetadata;
  /** A streamed body, for the `no-op` encoding: passed to the client untouched. */
  stream?: Readable;
}

export type Proxy = (request: ProxyRequest, signal: AbortSignal) => Promise<ProxyResponse>;
export type Middleware = (next: Proxy) => Proxy;
