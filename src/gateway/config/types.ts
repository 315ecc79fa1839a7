/**
 * The normalised, validated form of a krakend.json (version 3). Every default is applied and every duration is
 * in milliseconds. A loaded config is immutable: a reload builds a new one.
 */
import type { JsonObject } from '../json/types.js';

export type ExtraConfig = Readonly<JsonObject>;

export type OutputEncoding = 'json' | 'json-collection' | 'string' | 'no-op' | 'xml' | 'negotiate' | 'yaml';
export type BackendEncoding = 'json' | 'safejson' | 'string' | 'no-op' | 'xml' | 'rss' | 'yaml';

export interface TlsConfig {
  /** Certificate chain (PEM file path). */
  publicKey: string;
  /** Private key (PEM file path). */
  privateKey: string;
  minVersion: 'TLSv1.2' | 'TLSv1.3' | undefined;
  maxVersion: 'TLSv1.2' | 'TLSv1.3' | undefined;
}

export interface ServiceConfig {
  /** Where it was loaded from, for messages. */
  readonly source: string;
  readonly version: 3;
  readonly name: string;
  readonly port: number;
  readonly address: string | undefined;
  /** Default backend hosts for backends that declare none. */
  readonly host: readonly string[];
  readonly timeout: number;
  readonly cacheTtl: number;
  readonly outputEncoding: OutputEncoding;
  readonly debugEndpoint: boolean;
  readonly echoEndpoint: boolean;
  /** 0 means no limit, as in Go's http.Server. */
  readonly readTimeout: number;
  readonly writeTimeout: number;
  readonly idleTimeout: number;
  readonly readHeaderTimeout: number;
  /**
   * KrakenD's `max_header_bytes`: the largest request head the server accepts. `undefined` when the config does
   * not set it, so the server keeps its own default (Node's is 16 KiB, Go's 1 MiB).
   */
  readonly maxHeaderBytes: number | undefined;
  readonly tls: TlsConfig | undefined;
  /** Our own `krakend-cluster/gateway` namespace of the service `extra_config`, defaults applied. */
  readonly gateway: GatewayOptions;
  readonly extraConfig: ExtraConfig;
  readonly endpoints: readonly EndpointConfig[];
}

/** Options KrakenD does not have, read from the service-level `extra_config` namespace `krakend-cluster/gateway`. */
export interface GatewayOptions {
  /** Largest backend response body buffered for decoding, in bytes (`max_backend_body_size`, default 10 MiB). */
  readonly maxBackendBodySize: number;
  /** Largest client request body accepted, in bytes (`max_request_body_size`, default 10 MiB). */
  readonly maxRequestBodySize: number;
  /**
   * On shutdown, how long the node keeps serving after it starts failing its health check, so that load
   * balancers stop sending it traffic first (`shutdown_delay`, ms, default 0).
   */
  readonly shutdownDelay: number;
  /** On shutdown, how long in-flight requests get to finish before connections are cut (`drain_timeout`, ms, 10 s). */
  readonly drainTimeout: number;
}

export interface EndpointConfig {
  /** Stable across reloads: `METHOD path`. Keys state that must survive a reload (buckets, breakers). */
  readonly id: string;
  /** The path as declared, with `{param}` segments. */
  readonly endpoint: string;
  readonly method: string;
  /** Parameter names declared in the path, in order. */
  readonly params: readonly string[];
  readonly backends: readonly BackendConfig[];
  readonly concurrentCalls: number;
  readonly timeout: number;
  readonly cacheTtl: number;
  /** Query strings forwarded to backends; `['*']` forwards all. */
  readonly inputQueryStrings: readonly string[];
  /** Headers forwarded to backends (canonical case); `['*']` forwards all. */
  readonly inputHeaders: readonly string[];
  readonly outputEncoding: OutputEncoding;
  readonly extraConfig: ExtraConfig;
}

export interface BackendConfig {
  /** Stable across reloads: `<endpoint id>#<index>`. */
  readonly id: string;
  readonly index: number;
  /** Sanitised base URLs (`http://host:port`), round-robined. */
  readonly host: readonly string[];
  readonly urlPattern: string;
  readonly method: string;
  readonly encoding: BackendEncoding;
  readonly sd: 'static';
  readonly disableHostSanitize: boolean;
  readonly group: string | undefined;
  readonly target: string | undefined;
  readonly allow: readonly string[];
  readonly deny: readonly string[];
  readonly mapping: Readonly<Record<string, string>>;
  readonly isCollection: boolean;
  readonly extraConfig: ExtraConfig;
}

/** One problem found in a config: where (file and JSON path) and what. */
export interface ConfigIssue {
  readonly file: string;
  /** `endpoints[3].backend[0].url_pattern`; empty for the document itself. */
  readonly path: string;
  readonly message: string;
  /** For JSON syntax errors. */
  readonly line?: number;
  readonly column?: number;
}
