/**
 * Reads a krakend.json (version 3) into the normalised ServiceConfig of ./types.ts, after Lura's config.go and
 * parser.go: the same defaults, host sanitising and param rules. Unlike Lura it never stops at the first
 * problem: every issue is collected with its file and JSON path, so an operator fixes a config in one pass.
 *
 * Nothing KrakenD knows is dropped silently. A key or namespace this gateway does not implement is an error
 * when ignoring it would change what is served or weaken its protection (fail closed), a warning otherwise.
 * Unknown keys (typos, mostly) are warnings, as KrakenD itself ignores them.
 */
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { parseDuration } from '../../base/duration.js';
import { ErrorCode, KrakendError, isKrakendError } from '../../base/errors.js';
import { isJsonObject } from '../json/types.js';
import type { JsonObject, JsonValue } from '../json/types.js';
import { formatIssue, formatIssues } from './format-issues.js';
import type {
  BackendConfig,
  BackendEncoding,
  ConfigIssue,
  EndpointConfig,
  GatewayOptions,
  OutputEncoding,
  ServiceConfig,
  TlsConfig,
} from './types.js';
import { validateNamespace } from './namespace-validators.js';

/** Our own service-level namespace (see GatewayOptions). */
export const GATEWAY_NAMESPACE = 'krakend-cluster/gateway';

/**
 * The `extra_config` namespaces this project implements. Each feature validates its own namespace when it is
 * built; the loader only uses this set to warn about the others. Features added later register here.
 */
export const KNOWN_NAMESPACES: Set<string> = new Set([
  'router',
  'security/cors',
  'qos/ratelimit/router',
  'qos/ratelimit/proxy',
  'qos/circuit-breaker',
  'backend/http',
  'backend/http/client',
  // Holds `sequential`, `static`, `flatmap_filter` and `shadow`.
  'proxy',
  GATEWAY_NAMESPACE,
  // Its Prometheus exporter (src/gateway/telemetry); other exporters are warned about.
  'telemetry/opentelemetry',
]);

const MIB = 1024 * 1024;

export const DEFAULT_GATEWAY_OPTIONS: GatewayOptions = Object.freeze({
  maxBackendBodySize: 10 * MIB,
  maxRequestBodySize: 10 * MIB,
  shutdownDelay: 0,
  drainTimeout: 10_000,
});

/** Lura's defaults (config/config.go). */
export const DEFAULT_PORT = 8080;
export const DEFAULT_TIMEOUT = 2_000;

export interface LoadResult {
  /** Present only when there is no issue. */
  config?: ServiceConfig;
  issues: ConfigIssue[];
  /** Formatted like issues (`file: path: message`), ready to log. */
  warnings: string[];
}

/** Parses and validates a config held in memory; `file` names it in messages and becomes `config.source`. */
export function parseConfigText(text: string, file: string): LoadResult {
  const c = new Collector(file);
  // Editors on Windows like to add a BOM; Go's decoder rejects it, which helps nobody.
  const source = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  let root: JsonValue;
  try {
    for (const dup of scanJson(source)) {
      const { line, column } = lineColumn(source, dup.pos);
      c.warnings.push(
        formatIssue({ file, path: '', line, column, message: `duplicate key "${dup.key}": the last value wins` }),
      );
    }
    root = JSON.parse(source) as JsonValue;
  } catch (err) {
    c.issues.push(syntaxIssue(file, source, err));
    return { issues: c.issues, warnings: c.warnings };
  }
  if (!isJsonObject(root)) {
    c.issue('', `the top level must be a JSON object such as { "version": 3, "endpoints": [] }, got ${describe(root)}`);
    return { issues: c.issues, warnings: c.warnings };
  }
  const config = normaliseService(c, root);
  if (c.issues.length > 0) return { issues: c.issues, warnings: c.warnings };
  return { config: deepFreeze(config), issues: c.issues, warnings: c.warnings };
}

/** Reads and validates a config file. A file that cannot be read is an issue naming it, never a throw. */
export async function loadConfigFile(path: string): Promise<LoadResult> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    return { issues: [{ file: path, path: '', message: readFailure(err) }], warnings: [] };
  }
  return parseConfigText(text, path);
}

/** For callers that cannot go on without a config: every issue in one KrakendError (E_CONFIG_INVALID). */
export function configOrThrow(result: LoadResult): ServiceConfig {
  if (result.config !== undefined && result.issues.length === 0) return result.config;
  const n = result.issues.length;
  throw new KrakendError(
    ErrorCode.ConfigInvalid,
    `invalid configuration (${n} problem${n === 1 ? '' : 's'}):\n${formatIssues(result.issues)}`,
  );
}

class Collector {
  readonly issues: ConfigIssue[] = [];
  readonly warnings: string[] = [];
  /** Unimplemented namespace → where it appears, so each gets one warning. */
  readonly ignoredNamespaces = new Map<string, string[]>();

  constructor(readonly file: string) {}

  issue(path: string, message: string): void {
    this.issues.push({ file: this.file, path, message });
  }

  warn(path: string, message: string): void {
    this.warnings.push(formatIssue({ file: this.file, path, message }));
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Known keys. `supported` keys are read by the normalisers below; `unsupported` ones are KrakenD keys we do not
// implement, each deciding from its value whether ignoring it is harmless (warning) or not (error).

type Verdict = { error: string } | { warning: string } | undefined;

interface KeyRules {
  readonly supported: readonly string[];
  readonly unsupported?: Readonly<Record<string, (value: JsonValue) => Verdict>>;
}

/** A zero value changes nothing in KrakenD either (Go's zero values are its defaults), so it needs no message. */
function isZero(value: JsonValue): boolean {
  if (value === null || value === false || value === 0 || value === '' || value === '0s' || value === '0') return true;
  if (Array.isArray(value)) return value.length === 0;
  return isJsonObject(value) && Object.keys(value).length === 0;
}

const error =
  (message: string) =>
  (value: JsonValue): Verdict =>
    isZero(value) ? undefined : { error: message };
const warning =
  (message: string) =>
  (value: JsonValue): Verdict =>
    isZero(value) ? undefined : { warning: message };

const TRANSPORT_IGNORED = warning(
  'is not applied yet: connections to backends use the HTTP client settings of krakend-cluster',
);
const DNS_ONLY = warning('only applies to sd "dns", which is not supported: ignored');

const SERVICE_RULES: KeyRules = {
  supported: [
    'version',
    'name',
    'port',
    'listen_ip',
    'host',
    'timeout',
    'cache_ttl',
    'output_encoding',
    'endpoints',
    'extra_config',
    'debug_endpoint',
    'echo_endpoint',
    'read_timeout',
    'write_timeout',
    'idle_timeout',
    'read_header_timeout',
    'max_header_bytes',
    'tls',
  ],
  unsupported: {
    client_tls: error(
      'is not supported yet: https backends are verified against the system CA store with default settings; ' +
        'remove it, or terminate upstream TLS elsewhere',
    ),
    plugin: error('Go plugins cannot be loaded by krakend-cluster: remove "plugin" and what depends on it'),
    async_agent: error('async agents are not supported: remove "async_agent" (its consumers would never run)'),
    disable_rest: error(
      'is not supported: endpoint params must be whole path segments (/file/{ext}, not /file.{ext})',
    ),
    use_h2c: error('HTTP/2 without TLS (h2c) is not supported: clients relying on it could not connect'),
    sequential_start: warning('only orders the start of async agents, which are not supported: ignored'),
    dns_cache_ttl: DNS_ONLY,
    disable_keep_alives: TRANSPORT_IGNORED,
    disable_compression: TRANSPORT_IGNORED,
    max_idle_connections: TRANSPORT_IGNORED,
    max_idle_connections_per_host: TRANSPORT_IGNORED,
    idle_connection_timeout: TRANSPORT_IGNORED,
    response_header_timeout: TRANSPORT_IGNORED,
    expect_continue_timeout: TRANSPORT_IGNORED,
    dialer_timeout: TRANSPORT_IGNORED,
    dialer_fallback_delay: TRANSPORT_IGNORED,
    dialer_keep_alive: TRANSPORT_IGNORED,
  },
};

const renamed = (to: string, what: string) =>
  error(`was renamed "${to}" in version 3 and KrakenD ignores the old name (${what}): rename it`);

const ENDPOINT_RULES: KeyRules = {
  supported: [
    'endpoint',
    'method',
    'backend',
    'concurrent_calls',
    'timeout',
    'cache_ttl',
    'input_query_strings',
    'input_headers',
    'output_encoding',
    'extra_config',
  ],
  unsupported: {
    querystring_params: renamed('input_query_strings', 'these query strings would not be forwarded'),
    headers_to_pass: renamed('input_headers', 'these headers would not be forwarded'),
  },
};

const BACKEND_FILTER = error(
  'backend-level filtering is not supported yet: filter with the endpoint\'s list instead ' +
    '(ignoring it would forward more than this backend allows)',
);

const BACKEND_RULES: KeyRules = {
  supported: [
    'url_pattern',
    'host',
    'method',
    'encoding',
    'sd',
    'disable_host_sanitize',
    'group',
    'target',
    'allow',
    'deny',
    'mapping',
    'is_collection',
    'extra_config',
  ],
  unsupported: {
    whitelist: renamed('allow', 'the response would not be filtered'),
    blacklist: renamed('deny', 'these fields would be returned'),
    input_headers: BACKEND_FILTER,
    input_query_strings: BACKEND_FILTER,
    sd_scheme: DNS_ONLY,
  },
};

/** The TLS 1.3 suites (4865-4867): Node enables exactly these, so asking for them changes nothing. */
const TLS13_SUITES = new Set([4865, 4866, 4867]);

const TLS_RULES: KeyRules = {
  supported: ['public_key', 'private_key', 'keys', 'disabled', 'min_version', 'max_version'],
  unsupported: {
    enable_mtls: error('mutual TLS is not supported yet: clients would be accepted without a certificate'),
    ca_certs: warning('is only used with enable_mtls: ignored'),
    disable_system_ca_pool: warning('is only used with enable_mtls: ignored'),
    cipher_suites: (value) =>
      isZero(value) || (Array.isArray(value) && value.every((v) => typeof v === 'number' && TLS13_SUITES.has(v)))
        ? undefined
        : {
            error:
              'custom cipher suites are not supported yet: Node\'s defaults would be used instead; ' +
              'remove it or keep only the TLS 1.3 suites 4865, 4866 and 4867',
          },
    curve_preferences: warning('is not applied: Node\'s default curves (X25519, P-256, P-384) are used'),
    prefer_server_cipher_suites: warning('is deprecated in Go and has no effect: ignored'),
  },
};

const TLS_KEY_PAIR_RULES: KeyRules = { supported: ['public_key', 'private_key'] };

const GATEWAY_RULES: KeyRules = {
  supported: ['max_backend_body_size', 'max_request_body_size', 'shutdown_delay', 'drain_timeout'],
};

/** KrakenD's schema reserves these prefixes for comments (`"@comment"`, `"$schema"`, `"_note"`, `"#x"`). */
function isCommentKey(key: string): boolean {
  return /^[@$_#]/.test(key);
}

function checkKeys(c: Collector, obj: JsonObject, path: string, rules: KeyRules): void {
  const unsupported = rules.unsupported ?? {};
  for (const key of Object.keys(obj)) {
    if (isCommentKey(key) || rules.supported.includes(key)) continue;
    // hasOwn: a key named "constructor" must not find Object.prototype's.
    const rule = Object.hasOwn(unsupported, key) ? unsupported[key] : undefined;
    if (rule !== undefined) {
      const verdict = rule(obj[key] as JsonValue);
      if (verdict !== undefined && 'error' in verdict) c.issue(at(path, key), verdict.error);
      else if (verdict !== undefined) c.warn(at(path, key), verdict.warning);
      continue;
    }
    const guess = closest(key, [...rules.supported, ...Object.keys(unsupported)]);
    c.warn(path, `unknown key "${key}" is ignored${guess === undefined ? '' : ` (did you mean "${guess}"?)`}`);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Typed readers. Each returns undefined when the key is absent (or null, which Go decodes as absent too) or of
// the wrong type, the latter with an issue.

function readString(c: Collector, obj: JsonObject, key: string, path: string): string | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  c.issue(at(path, key), `expected a string, got ${describe(v)}`);
  return undefined;
}

function readBool(c: Collector, obj: JsonObject, key: string, path: string): boolean | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'boolean') return v;
  c.issue(at(path, key), `expected true or false, got ${describe(v)}`);
  return undefined;
}

function readInteger(c: Collector, obj: JsonObject, key: string, path: string): number | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number' && Number.isSafeInteger(v)) return v;
  c.issue(at(path, key), `expected a whole number, got ${describe(v)}`);
  return undefined;
}

function readObject(c: Collector, obj: JsonObject, key: string, path: string): JsonObject | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (isJsonObject(v)) return v;
  c.issue(at(path, key), `expected an object, got ${describe(v)}`);
  return undefined;
}

function readArray(c: Collector, obj: JsonObject, key: string, path: string): JsonValue[] | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (Array.isArray(v)) return v;
  c.issue(at(path, key), `expected a list, got ${describe(v)}`);
  return undefined;
}

function readStringList(c: Collector, obj: JsonObject, key: string, path: string): string[] | undefined {
  const list = readArray(c, obj, key, path);
  if (list === undefined) return undefined;
  const out: string[] = [];
  list.forEach((item, i) => {
    if (typeof item === 'string') out.push(item);
    else c.issue(`${at(path, key)}[${i}]`, `expected a string, got ${describe(item)}`);
  });
  return out;
}

function readStringMap(c: Collector, obj: JsonObject, key: string, path: string): Record<string, string> | undefined {
  const map = readObject(c, obj, key, path);
  if (map === undefined) return undefined;
  const entries: Array<[string, string]> = [];
  for (const [k, v] of Object.entries(map)) {
    if (typeof v === 'string') entries.push([k, v]);
    else c.issue(at(at(path, key), k), `expected a string, got ${describe(v)}`);
  }
  // fromEntries defines properties, so a field named "__proto__" stays a field.
  return Object.fromEntries(entries);
}

/** A Go duration string in milliseconds. KrakenD rejects numbers here, and so do we: `2000` has no unit. */
function readDuration(c: Collector, obj: JsonObject, key: string, path: string): number | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  const p = at(path, key);
  if (typeof v !== 'string') {
    const hint = typeof v === 'number' ? ' (a duration needs a unit)' : '';
    c.issue(p, `expected a duration such as "2s" or "1500ms", got ${describe(v)}${hint}`);
    return undefined;
  }
  let ms: number;
  try {
    ms = parseDuration(v);
  } catch (err) {
    if (!isKrakendError(err)) throw err;
    c.issue(p, err.message);
    return undefined;
  }
  if (ms < 0) {
    c.issue(p, `invalid duration "${v}": it must not be negative (use e.g. "2s")`);
    return undefined;
  }
  return ms;
}

/** A size in bytes for our own namespace. Plain numbers only: "10MB" would beg the question of 10^6 or 2^20. */
function readByteSize(c: Collector, obj: JsonObject, key: string, path: string): number | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number' && Number.isSafeInteger(v) && v > 0) return v;
  const hint = typeof v === 'string' ? ' (units are not accepted)' : '';
  c.issue(at(path, key), `expected a positive number of bytes such as 10485760 (10 MiB), got ${describe(v)}${hint}`);
  return undefined;
}

function readEncoding<T extends string>(
  c: Collector,
  obj: JsonObject,
  key: string,
  path: string,
  valid: readonly T[],
): T | undefined {
  const v = readString(c, obj, key, path);
  if (v === undefined) return undefined;
  // Lura looks decoders up lower-cased.
  const lower = v.toLowerCase();
  if ((valid as readonly string[]).includes(lower)) return lower as T;
  if (UNIMPLEMENTED_ENCODINGS.has(lower)) {
    c.issue(at(path, key), `encoding "${v}" is a KrakenD encoding that krakend-cluster does not support yet`);
    return undefined;
  }
  if (lower === 'fast-json') {
    c.warn(at(path, key), '"fast-json" is a KrakenD Enterprise encoding: "json" is used, with the same result');
    return 'json' as T;
  }
  c.issue(at(path, key), `unknown encoding "${v}": use one of ${valid.map((e) => `"${e}"`).join(', ')}`);
  return undefined;
}

/**
 * KrakenD encodings with no decoder or render here yet, where the field does not list them: refused rather than
 * silently served as JSON. Only the Enterprise `yaml` backend decoder (the `yaml` output encoding is implemented).
 */
export const UNIMPLEMENTED_ENCODINGS: ReadonlySet<string> = new Set(['yaml']);

// ---------------------------------------------------------------------------------------------------------------
// Service

const OUTPUT_ENCODINGS: readonly OutputEncoding[] = [
  'json',
  'json-collection',
  'string',
  'no-op',
  'xml',
  'negotiate',
  'yaml',
];
const BACKEND_ENCODINGS: readonly BackendEncoding[] = ['json', 'safejson', 'string', 'no-op', 'xml', 'rss'];

interface ServiceDefaults {
  readonly hosts: readonly string[];
  readonly timeout: number;
  readonly cacheTtl: number;
  readonly outputEncoding: OutputEncoding;
}

function normaliseService(c: Collector, root: JsonObject): ServiceConfig {
  checkKeys(c, root, '', SERVICE_RULES);
  checkVersion(c, root.version);

  const port = readInteger(c, root, 'port', '');
  if (port !== undefined && (port < 0 || port > 65_535)) c.issue('port', `port ${port} is out of range (1-65535)`);

  const address = readString(c, root, 'listen_ip', '') || undefined;
  if (address !== undefined && isIP(address) === 0) {
    c.issue('listen_ip', `"${address}" is not an IP address (e.g. "0.0.0.0", "127.0.0.1" or "::")`);
  }

  const hosts: string[] = [];
  (readStringList(c, root, 'host', '') ?? []).forEach((h, i) => {
    const result = sanitizeHost(h);
    if (result.ok) hosts.push(result.url);
    else c.issue(`host[${i}]`, result.error);
  });

  const maxHeaderBytes = readInteger(c, root, 'max_header_bytes', '');
  if (maxHeaderBytes !== undefined && maxHeaderBytes < 0) {
    c.issue('max_header_bytes', `expected a positive number of bytes, got ${maxHeaderBytes}`);
  }

  const extraConfig = readObject(c, root, 'extra_config', '') ?? {};
  scanNamespaces(c, extraConfig, 'extra_config', 'service');
  const gateway = normaliseGateway(c, extraConfig);

  const defaults: ServiceDefaults = {
    hosts,
    // As in Lura, a zero value means "not set".
    timeout: readDuration(c, root, 'timeout', '') || DEFAULT_TIMEOUT,
    cacheTtl: readDuration(c, root, 'cache_ttl', '') ?? 0,
    outputEncoding: readEncoding(c, root, 'output_encoding', '', OUTPUT_ENCODINGS) ?? 'json',
  };

  const config: ServiceConfig = {
    source: c.file,
    version: 3,
    name: readString(c, root, 'name', '') ?? '',
    port: port || DEFAULT_PORT,
    address,
    host: hosts,
    timeout: defaults.timeout,
    cacheTtl: defaults.cacheTtl,
    outputEncoding: defaults.outputEncoding,
    debugEndpoint: readBool(c, root, 'debug_endpoint', '') ?? false,
    echoEndpoint: readBool(c, root, 'echo_endpoint', '') ?? false,
    readTimeout: readDuration(c, root, 'read_timeout', '') ?? 0,
    writeTimeout: readDuration(c, root, 'write_timeout', '') ?? 0,
    idleTimeout: readDuration(c, root, 'idle_timeout', '') ?? 0,
    readHeaderTimeout: readDuration(c, root, 'read_header_timeout', '') ?? 0,
    // Zero is Go's "use the default".
    maxHeaderBytes: maxHeaderBytes || undefined,
    tls: normaliseTls(c, root.tls),
    gateway,
    extraConfig,
    endpoints: normaliseEndpoints(c, root, defaults),
  };
  warnIgnoredNamespaces(c);
  return config;
}

function checkVersion(c: Collector, version: JsonValue | undefined): void {
  if (version === 3) return;
  if (version === undefined || version === null) {
    c.issue('version', 'missing: krakend-cluster reads version 3 configs; add "version": 3');
  } else if (version === 1 || version === 2) {
    c.issue(
      'version',
      `version ${version} is the syntax of KrakenD ${version === 2 ? '1.x' : '0.x'}: set "version": 3, then run ` +
        'KrakenD\'s migration tool (github.com/devopsfaith/krakend-config-migrator) on the file; it renames ' +
        'the attributes (headers_to_pass → input_headers, querystring_params → input_query_strings, ' +
        'whitelist/blacklist → allow/deny) and the extra_config namespaces',
    );
  } else if (typeof version === 'number') {
    c.issue('version', `unsupported version ${version}: krakend-cluster reads version 3 configs`);
  } else {
    c.issue('version', `expected the number 3, got ${describe(version)}`);
  }
}

function normaliseGateway(c: Collector, extra: JsonObject): GatewayOptions {
  const path = at('extra_config', GATEWAY_NAMESPACE);
  const raw = extra[GATEWAY_NAMESPACE];
  if (raw === undefined || raw === null) return DEFAULT_GATEWAY_OPTIONS;
  if (!isJsonObject(raw)) {
    c.issue(path, `expected an object, got ${describe(raw)}`);
    return DEFAULT_GATEWAY_OPTIONS;
  }
  checkKeys(c, raw, path, GATEWAY_RULES);
  const d = DEFAULT_GATEWAY_OPTIONS;
  return {
    maxBackendBodySize: readByteSize(c, raw, 'max_backend_body_size', path) ?? d.maxBackendBodySize,
    maxRequestBodySize: readByteSize(c, raw, 'max_request_body_size', path) ?? d.maxRequestBodySize,
    shutdownDelay: readDuration(c, raw, 'shutdown_delay', path) ?? d.shutdownDelay,
    drainTimeout: readDuration(c, raw, 'drain_timeout', path) ?? d.drainTimeout,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// TLS

const TLS_VERSIONS: ReadonlyMap<string, 'TLSv1.2' | 'TLSv1.3'> = new Map([
  ['TLS12', 'TLSv1.2'],
  ['TLS13', 'TLSv1.3'],
]);
const OBSOLETE_TLS_VERSIONS = new Set(['SSL3.0', 'TLS10', 'TLS11']);

function normaliseTls(c: Collector, raw: JsonValue | undefined): TlsConfig | undefined {
  const path = 'tls';
  if (raw === undefined || raw === null) return undefined;
  if (!isJsonObject(raw)) {
    c.issue(path, `expected an object, got ${describe(raw)}`);
    return undefined;
  }
  checkKeys(c, raw, path, TLS_RULES);
  const disabled = readBool(c, raw, 'disabled', path) ?? false;

  // The flat form and the newer `keys` list can be combined; KrakenD loads them all.
  const pairs: Array<{ path: string; publicKey: string | undefined; privateKey: string | undefined }> = [];
  if (raw.public_key != null || raw.private_key != null) {
    pairs.push({
      path,
      publicKey: readString(c, raw, 'public_key', path),
      privateKey: readString(c, raw, 'private_key', path),
    });
  }
  (readArray(c, raw, 'keys', path) ?? []).forEach((item, i) => {
    const p = `${path}.keys[${i}]`;
    if (!isJsonObject(item)) {
      c.issue(p, `expected an object with "public_key" and "private_key", got ${describe(item)}`);
      return;
    }
    checkKeys(c, item, p, TLS_KEY_PAIR_RULES);
    pairs.push({
      path: p,
      publicKey: readString(c, item, 'public_key', p),
      privateKey: readString(c, item, 'private_key', p),
    });
  });

  // KrakenD is "secure by default": a missing version means TLS 1.3 on both ends (lura's parseTLSVersion).
  const minVersion = readTlsVersion(c, raw, 'min_version') ?? 'TLSv1.3';
  const maxVersion = readTlsVersion(c, raw, 'max_version') ?? 'TLSv1.3';
  if (minVersion === 'TLSv1.3' && maxVersion === 'TLSv1.2') {
    const minWhy = raw.min_version == null ? ' (TLS13, the default)' : '';
    c.issue(`${path}.min_version`, `min_version${minWhy} is above max_version: no client could connect`);
  }
  if (disabled) return undefined;

  const first = pairs[0];
  if (first === undefined) {
    c.issue(
      path,
      'TLS is enabled but no certificate is set: add "public_key" and "private_key" (or a "keys" list), ' +
        'or set "disabled": true',
    );
    return undefined;
  }
  for (const pair of pairs) {
    if (!pair.publicKey) c.issue(pair.path, 'missing "public_key" (path to the PEM certificate chain)');
    if (!pair.privateKey) c.issue(pair.path, 'missing "private_key" (path to the PEM private key)');
  }
  if (pairs.length > 1) {
    c.warn(
      path,
      `${pairs.length} certificates are declared but only the first (${first.path}) is served: ` +
        'choosing a certificate by SNI is not supported yet',
    );
  }
  // Whether the files exist is checked when the server starts: a config is validated on machines (the manager)
  // that never hold the keys.
  return { publicKey: first.publicKey ?? '', privateKey: first.privateKey ?? '', minVersion, maxVersion };
}

function readTlsVersion(c: Collector, tls: JsonObject, key: string): 'TLSv1.2' | 'TLSv1.3' | undefined {
  const v = readString(c, tls, key, 'tls');
  if (v === undefined) return undefined;
  const mapped = TLS_VERSIONS.get(v);
  if (mapped !== undefined) return mapped;
  c.issue(
    at('tls', key),
    OBSOLETE_TLS_VERSIONS.has(v)
      ? `"${v}" is not supported: SSL 3.0, TLS 1.0 and 1.1 are obsolete and insecure; use "TLS12" or "TLS13"`
      : `unknown TLS version "${v}": use "TLS12" or "TLS13"`,
  );
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// Endpoints

/** What Lura's gin router registers; it logs and skips any other method. */
const ENDPOINT_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];
/** Paths the gateway serves itself. */
const RESERVED_SEGMENTS = new Set(['__debug', '__echo', '__health', '__stats', '__catchall']);
const HTTP_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

function normaliseEndpoints(c: Collector, root: JsonObject, defaults: ServiceDefaults): EndpointConfig[] {
  const list = readArray(c, root, 'endpoints', '');
  if (list === undefined ? root.endpoints == null : list.length === 0) {
    c.warn('endpoints', 'no endpoint is declared: the gateway serves only its own paths (/__health)');
  }
  if (list === undefined) return [];
  const routes = new Map<string, { index: number; method: string; path: string }>();
  const out: EndpointConfig[] = [];
  list.forEach((raw, i) => {
    const path = `endpoints[${i}]`;
    if (!isJsonObject(raw)) {
      c.issue(path, `expected an endpoint object, got ${describe(raw)}`);
      return;
    }
    const endpoint = normaliseEndpoint(c, raw, path, defaults);
    out.push(endpoint);
    if (endpoint.endpoint === '') return;
    const route = `${endpoint.method} ${endpoint.endpoint.replace(/\{[^{}/]*\}/g, '{}')}`;
    const previous = routes.get(route);
    if (previous === undefined) {
      routes.set(route, { index: i, method: endpoint.method, path: endpoint.endpoint });
    } else if (previous.path === endpoint.endpoint) {
      c.issue(
        at(path, 'endpoint'),
        `duplicate endpoint: ${endpoint.method} ${endpoint.endpoint} is already declared at ` +
          `endpoints[${previous.index}]`,
      );
    } else {
      c.issue(
        at(path, 'endpoint'),
        `duplicate endpoint: ${endpoint.method} ${endpoint.endpoint} is the same route as ` +
          `${previous.method} ${previous.path} at endpoints[${previous.index}] (params differ only by name)`,
      );
    }
  });
  return out;
}

function normaliseEndpoint(c: Collector, raw: JsonObject, path: string, defaults: ServiceDefaults): EndpointConfig {
  checkKeys(c, raw, path, ENDPOINT_RULES);

  const endpointPath = readString(c, raw, 'endpoint', path);
  let params: string[] = [];
  if (endpointPath === undefined) {
    if (raw.endpoint == null) c.issue(path, 'missing "endpoint": the path to expose, such as "/users/{id}"');
  } else {
    const parsed = parseEndpointPath(endpointPath);
    params = parsed.params;
    for (const problem of parsed.problems) c.issue(at(path, 'endpoint'), problem);
  }
  const endpoint = endpointPath ?? '';

  const method = (readString(c, raw, 'method', path) ?? 'GET').toUpperCase();
  if (!ENDPOINT_METHODS.includes(method)) {
    c.issue(at(path, 'method'), `unsupported method "${method}": an endpoint accepts ${ENDPOINT_METHODS.join(', ')}`);
  }
  const id = `${method} ${endpoint}`;

  const concurrentCalls = readInteger(c, raw, 'concurrent_calls', path);
  if (concurrentCalls !== undefined && concurrentCalls < 1) {
    c.issue(
      at(path, 'concurrent_calls'),
      `must be 1 or more, got ${concurrentCalls} (remove it for the default, 1)`,
    );
  }

  const inputHeaders = (readStringList(c, raw, 'input_headers', path) ?? []).map((h, i) => {
    if (h !== '*' && !HTTP_TOKEN.test(h)) {
      c.warn(`${at(path, 'input_headers')}[${i}]`, `"${h}" is not a valid header name: it can never match`);
    }
    return canonicalHeaderKey(h);
  });

  const outputEncoding = readEncoding(c, raw, 'output_encoding', path, OUTPUT_ENCODINGS) ?? defaults.outputEncoding;

  const extraConfig = readObject(c, raw, 'extra_config', path) ?? {};
  scanNamespaces(c, extraConfig, at(path, 'extra_config'), 'endpoint', params);

  const backendPath = at(path, 'backend');
  const backendList = readArray(c, raw, 'backend', path);
  if (backendList === undefined) {
    if (raw.backend == null) c.issue(path, 'no backend: an endpoint needs a "backend" list with at least one backend');
  } else if (backendList.length === 0) {
    c.issue(backendPath, 'no backend: an endpoint needs at least one backend');
  }
  const noOp = outputEncoding === 'no-op';
  if (noOp && backendList !== undefined && backendList.length > 1) {
    c.issue(
      backendPath,
      `a no-op endpoint proxies to exactly one backend, found ${backendList.length}: ` +
        'split it into several endpoints, or use another output_encoding to merge them',
    );
  }
  if (noOp && concurrentCalls !== undefined && concurrentCalls > 1) {
    c.warn(at(path, 'concurrent_calls'), 'is ignored on a no-op endpoint: each request is proxied once');
  }

  const context: EndpointContext = {
    id,
    endpoint,
    method,
    params,
    noOp,
    sequential: isJsonObject(extraConfig.proxy) && extraConfig.proxy.sequential === true,
  };
  const backends: BackendConfig[] = [];
  (backendList ?? []).forEach((item, j) => {
    const p = `${backendPath}[${j}]`;
    if (!isJsonObject(item)) c.issue(p, `expected a backend object, got ${describe(item)}`);
    else backends.push(normaliseBackend(c, item, p, j, context, defaults));
  });

  return {
    id,
    endpoint,
    method,
    params,
    backends,
    concurrentCalls: concurrentCalls ?? 1,
    // A zero value inherits the service's, as in Lura.
    timeout: readDuration(c, raw, 'timeout', path) || defaults.timeout,
    cacheTtl: readDuration(c, raw, 'cache_ttl', path) || defaults.cacheTtl,
    inputQueryStrings: readStringList(c, raw, 'input_query_strings', path) ?? [],
    inputHeaders,
    outputEncoding,
    extraConfig,
  };
}

/**
 * Params of an endpoint path and what is wrong with it. KrakenD needs each `{param}` to be a whole segment
 * (without `disable_rest`, which we do not support), and its router has no syntax for `:`, `*` or a query.
 */
export function parseEndpointPath(path: string): { params: string[]; problems: string[] } {
  const params: string[] = [];
  const problems: string[] = [];
  if (!path.startsWith('/')) problems.push(`an endpoint path must start with "/", got "${path}"`);
  if (path.endsWith('/*')) {
    problems.push('wildcard endpoints ("/*") are a KrakenD Enterprise feature and are not supported');
  }
  if (path.includes('?')) {
    problems.push('an endpoint path cannot hold a query string ("?"): list forwarded ones in "input_query_strings"');
  }
  if (path.includes(':')) problems.push('an endpoint path cannot contain ":": declare params as {name}');
  for (const ch of ['&', '%', '#']) if (path.includes(ch)) problems.push(`an endpoint path cannot contain "${ch}"`);
  if (/\s/.test(path)) problems.push('an endpoint path cannot contain spaces');
  if (path.includes('*') && !path.endsWith('/*')) problems.push('an endpoint path cannot contain "*"');

  const segments = path.split('?')[0]?.split('/') ?? [];
  if (segments.length > 1 && RESERVED_SEGMENTS.has(segments[1] ?? '')) {
    problems.push(`"/${segments[1]}" is reserved for the gateway's own endpoints`);
  }
  for (const segment of segments) {
    if (!/[{}]/.test(segment)) continue;
    const m = /^\{([^{}]*)\}$/.exec(segment);
    const name = m?.[1];
    if (name === undefined) {
      problems.push(`"${segment}": a param must be a whole path segment, such as "/{id}/" (KrakenD's rule)`);
      // Still record it, so that backends using it are not reported as well.
      for (const inner of segment.matchAll(/\{([^{}]*)\}/g)) params.push(inner[1] ?? '');
    } else if (!/^[A-Za-z0-9_-]+$/.test(name)) {
      problems.push(`invalid param name "{${name}}": use letters, digits, "_" and "-"`);
    } else if (params.includes(name)) {
      problems.push(`the param {${name}} is declared twice`);
    } else {
      params.push(name);
    }
  }
  return { params, problems };
}

// ---------------------------------------------------------------------------------------------------------------
// Backends

interface EndpointContext {
  readonly id: string;
  readonly endpoint: string;
  readonly method: string;
  readonly params: readonly string[];
  readonly noOp: boolean;
  readonly sequential: boolean;
}

/** Keys whose job is response manipulation, which no-op skips. */
const MANIPULATION_KEYS = ['group', 'target', 'allow', 'deny', 'mapping', 'is_collection'];

function normaliseBackend(
  c: Collector,
  raw: JsonObject,
  path: string,
  index: number,
  endpoint: EndpointContext,
  defaults: ServiceDefaults,
): BackendConfig {
  checkKeys(c, raw, path, BACKEND_RULES);

  let urlPattern = readString(c, raw, 'url_pattern', path);
  if (urlPattern === undefined) {
    if (raw.url_pattern == null) {
      c.issue(path, 'missing "url_pattern": the path to call on the backend, such as "/users/{id}"');
    }
  } else {
    const checked = checkUrlPattern(urlPattern, endpoint, index);
    urlPattern = checked.pattern;
    for (const problem of checked.problems) c.issue(at(path, 'url_pattern'), problem);
  }

  const method = (readString(c, raw, 'method', path) ?? endpoint.method).toUpperCase();
  if (!HTTP_TOKEN.test(method)) c.issue(at(path, 'method'), `"${method}" is not a valid HTTP method`);

  const disableHostSanitize = readBool(c, raw, 'disable_host_sanitize', path) ?? false;
  const ownHosts = readStringList(c, raw, 'host', path) ?? [];
  const hosts: string[] = [];
  ownHosts.forEach((h, i) => {
    const result = sanitizeHost(h, disableHostSanitize);
    if (result.ok) hosts.push(result.url);
    else c.issue(`${at(path, 'host')}[${i}]`, result.error);
  });
  // An empty list is Go's zero value: the service's hosts apply, as in Lura.
  if (ownHosts.length === 0) hosts.push(...defaults.hosts);
  const hostTypeError = raw.host != null && !Array.isArray(raw.host);
  if (ownHosts.length === 0 && hosts.length === 0 && !hostTypeError) {
    c.issue(path, 'no host: set "host" on this backend, or a default "host" list at the top level');
  }

  const sd = readString(c, raw, 'sd', path);
  if (sd !== undefined && sd !== 'static') {
    c.issue(
      at(path, 'sd'),
      sd === 'dns' || sd === 'dns-shared'
        ? `service discovery "${sd}" (DNS SRV) is not supported yet: use "static" and list the hosts, ` +
            'or put one DNS name in "host" (resolved by the system on each connection)'
        : `unknown service discovery "${sd}": only "static" is supported`,
    );
  }

  // Lura forces no-op on the backends of a no-op endpoint, so leaving it out is fine.
  const declared = readEncoding(c, raw, 'encoding', path, BACKEND_ENCODINGS);
  const encoding: BackendEncoding = declared ?? (endpoint.noOp ? 'no-op' : 'json');
  if (endpoint.noOp && declared !== undefined && declared !== 'no-op') {
    c.issue(
      at(path, 'encoding'),
      `a no-op endpoint needs a no-op backend, got "${declared}": set "encoding": "no-op" (or remove it), ` +
        'or change the endpoint\'s output_encoding',
    );
  }
  if (!endpoint.noOp && declared === 'no-op') {
    c.issue(
      at(path, 'encoding'),
      'a no-op backend needs a no-op endpoint: set "output_encoding": "no-op" on the endpoint too (KrakenD ' +
        'requires both), or use another encoding',
    );
  }
  if (endpoint.noOp) {
    for (const key of MANIPULATION_KEYS) {
      if (raw[key] != null && !isZero(raw[key] as JsonValue)) {
        c.warn(at(path, key), 'is ignored: a no-op backend\'s response is passed through untouched');
      }
    }
  }

  const extraConfig = readObject(c, raw, 'extra_config', path) ?? {};
  scanNamespaces(c, extraConfig, at(path, 'extra_config'), 'backend');

  return {
    id: `${endpoint.id}#${index}`,
    index,
    host: hosts,
    urlPattern: urlPattern ?? '/',
    method,
    encoding,
    sd: 'static',
    disableHostSanitize,
    group: readString(c, raw, 'group', path) || undefined,
    target: readString(c, raw, 'target', path) || undefined,
    allow: readStringList(c, raw, 'allow', path) ?? [],
    deny: readStringList(c, raw, 'deny', path) ?? [],
    mapping: readStringMap(c, raw, 'mapping', path) ?? {},
    isCollection: readBool(c, raw, 'is_collection', path) ?? false,
    extraConfig,
  };
}

/** `{resp0_field}`: a value from an earlier backend's response, for the sequential proxy. */
const SEQUENTIAL_PARAM = /^resp(\d+)_.+$/;

/**
 * Checks a url_pattern against its endpoint (Lura's "undefined output param"). Params may sit anywhere, the
 * query included (`/foo?x={id}`). A missing leading slash is added, as Lura's CleanPath does.
 */
function checkUrlPattern(
  raw: string,
  endpoint: EndpointContext,
  index: number,
): { pattern: string; problems: string[] } {
  const problems: string[] = [];
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(raw)) {
    problems.push(`"${raw}" is a URL, but url_pattern is the path only: put the scheme and host in "host"`);
    return { pattern: raw, problems };
  }
  const pattern = raw.startsWith('/') ? raw : `/${raw}`;
  if (/[{}]/.test(pattern.replace(/\{[^{}]*\}/g, ''))) {
    problems.push('unbalanced "{" or "}": params are written {name}');
  }
  // Without a usable endpoint path, every param would look undefined: that is one problem, already reported.
  if (endpoint.endpoint === '') return { pattern, problems };
  const declared =
    endpoint.params.length === 0
      ? 'declares no param'
      : `declares only ${endpoint.params.map((p) => `{${p}}`).join(', ')}`;
  for (const m of pattern.matchAll(/\{([^{}]*)\}/g)) {
    const name = m[1] ?? '';
    if (endpoint.params.includes(name)) continue;
    const seq = SEQUENTIAL_PARAM.exec(name);
    if (seq !== null) {
      const from = Number(seq[1]);
      if (!endpoint.sequential) {
        problems.push(
          `{${name}} reads a previous backend's response, which needs "sequential": true in the endpoint's ` +
            '"proxy" extra_config',
        );
      } else if (from >= index) {
        problems.push(
          `{${name}} reads the response of backend ${from}, but only the backends before this one ` +
            `(index ${index}) have answered`,
        );
      }
      continue;
    }
    if (name.startsWith('JWT.')) {
      problems.push(`{${name}} reads a JWT claim, which needs the auth/validator namespace: not supported`);
      continue;
    }
    if (!/^[\w\-.:/]+$/.test(name)) {
      problems.push(`invalid param name "{${name}}"`);
      continue;
    }
    problems.push(`undefined param {${name}}: the endpoint "${endpoint.endpoint}" ${declared}`);
  }
  return { pattern, problems };
}

// ---------------------------------------------------------------------------------------------------------------
// Hosts and headers

export type HostResult = { ok: true; url: string } | { ok: false; error: string };

/**
 * Lura's host sanitising: `http://` is added when there is no scheme and a trailing slash is dropped, giving a
 * base URL (`scheme://host[:port]`). A host with a path is refused, as in Lura, unless sanitising is disabled:
 * then the host is kept verbatim (only checked to be an http(s) URL), path included.
 */
export function sanitizeHost(host: string, disableSanitize = false): HostResult {
  if (host === '') return { ok: false, error: 'empty host' };
  if (/\s/.test(host)) return { ok: false, error: `"${host}" contains spaces` };
  const hasScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(host);
  if (disableSanitize && !hasScheme) {
    return {
      ok: false,
      error: `"${host}" has no scheme: with disable_host_sanitize the host is used verbatim, so write "http://${host}"`,
    };
  }
  const candidate = hasScheme ? host : `http://${host}`;
  const authority = /^[^:]+:\/\/([^/?#]*)/.exec(candidate)?.[1] ?? '';
  const port = /:(\d*)$/.exec(authority.replace(/^.*@/, '').replace(/^\[[^\]]*\]/, ''))?.[1];
  if (port !== undefined && (port === '' || Number(port) < 1 || Number(port) > 65_535)) {
    return { ok: false, error: `"${host}": port ${port === '' ? '(empty)' : port} is out of range (1-65535)` };
  }
  let url: URL;
  try {
    url = new URL(candidate);
  } catch {
    return { ok: false, error: `"${host}" is not a valid host (expected e.g. "http://users.internal:8080")` };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return { ok: false, error: `"${host}": unsupported scheme "${url.protocol.slice(0, -1)}" (use http or https)` };
  }
  if (url.hostname === '') return { ok: false, error: `"${host}" has no host name` };
  if (url.username !== '' || url.password !== '') {
    return { ok: false, error: `"${host}": credentials in a host are not supported (use the backend/http namespace)` };
  }
  if (disableSanitize) return { ok: true, url: host };
  if (url.pathname !== '/' || url.search !== '' || url.hash !== '') {
    const rest = `${url.pathname === '/' ? '' : url.pathname}${url.search}${url.hash}`;
    return {
      ok: false,
      error:
        `"${host}": a host cannot hold a path ("${rest}"): move it to url_pattern, ` +
        'or set disable_host_sanitize to use the host verbatim',
    };
  }
  return { ok: true, url: `${url.protocol}//${url.host}` };
}

/** Go's textproto.CanonicalMIMEHeaderKey: `x-foo-bar` → `X-Foo-Bar`; anything not a valid token is kept as is. */
export function canonicalHeaderKey(name: string): string {
  if (!HTTP_TOKEN.test(name)) return name;
  let out = '';
  let upper = true;
  for (const ch of name) {
    out += upper ? ch.toUpperCase() : ch.toLowerCase();
    upper = ch === '-';
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// extra_config namespaces

/**
 * Namespaces that protect an endpoint (authentication, authorisation, input validation, security headers).
 * Ignoring one would serve the endpoint unprotected, so an unimplemented one is an error, not a warning. The
 * legacy (v2) module names are matched too, since KrakenD CE still accepts them as aliases.
 */
function isProtectiveNamespace(ns: string): boolean {
  return (
    /^(auth|security|validation)\//.test(ns) ||
    /krakend-(jose|httpsecure|botdetector|cel|jsonschema|basic-auth|ipfilter|apikeys?)\b|\/bloomfilter\b/.test(ns)
  );
}

type Level = 'service' | 'endpoint' | 'backend';

function scanNamespaces(c: Collector, extra: JsonObject, path: string, level: Level, params: readonly string[] = []): void {
  for (const ns of Object.keys(extra)) {
    if (isCommentKey(ns)) continue;
    if (KNOWN_NAMESPACES.has(ns)) {
      if (ns === GATEWAY_NAMESPACE && level !== 'service') {
        c.warn(at(path, ns), 'is only read in the top-level extra_config: ignored here');
      }
      const findings = validateNamespace(ns, extra, level, params);
      for (const e of findings.errors) c.issue(path, e);
      for (const w of findings.warnings) c.warn(path, w);
      continue;
    }
    if (isProtectiveNamespace(ns)) {
      c.issue(
        at(path, ns),
        `namespace "${ns}" is not implemented by krakend-cluster, and ignoring it would serve this without ` +
          'the protection it declares: remove it, or protect the API in front of the gateway',
      );
      continue;
    }
    const seen = c.ignoredNamespaces.get(ns);
    if (seen === undefined) c.ignoredNamespaces.set(ns, [path]);
    else seen.push(path);
  }
}

function warnIgnoredNamespaces(c: Collector): void {
  const MAX_PLACES = 5;
  for (const [ns, places] of c.ignoredNamespaces) {
    const shown = places.slice(0, MAX_PLACES).join(', ');
    const more = places.length > MAX_PLACES ? ` and ${places.length - MAX_PLACES} more` : '';
    // KrakenD CE still maps most version 2 names to the new ones; we only know the new ones.
    const legacy = /^github[._]com\//.test(ns)
      ? ': a version 2 name, which KrakenD\'s migration tool renames to the version 3 one'
      : '';
    c.warn(
      '',
      `extra_config namespace "${ns}" is not implemented by krakend-cluster and is ignored (in ${shown}${more})` +
        legacy,
    );
  }
}

// ---------------------------------------------------------------------------------------------------------------
// JSON syntax. JSON.parse only says "at position N" (and its wording changes between Node versions), so a small
// scanner finds the first error itself and says what it probably is. It also reports duplicate keys, which
// JSON.parse and Go both resolve silently (the last one wins).

class JsonSyntaxError extends Error {
  constructor(
    readonly pos: number,
    message: string,
  ) {
    super(message);
  }
}

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

/** Throws a JsonSyntaxError at the first error; returns the duplicate keys. */
function scanJson(text: string): Array<{ pos: number; key: string }> {
  const duplicates: Array<{ pos: number; key: string }> = [];
  const open: number[] = [];
  const n = text.length;
  let i = 0;

  const fail = (pos: number, message: string): never => {
    throw new JsonSyntaxError(pos, message);
  };
  const endOfFile = (): never => {
    const last = open.at(-1);
    if (last === undefined) return fail(n, 'unexpected end of file');
    const { line, column } = lineColumn(text, last);
    return fail(n, `unexpected end of file: the "${text[last]}" opened at ${line}:${column} is never closed`);
  };
  const skipSpace = (): void => {
    for (;;) {
      const ch = text[i];
      if (ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r') i++;
      else if (ch === '/' && (text[i + 1] === '/' || text[i + 1] === '*')) fail(i, 'comments are not allowed in JSON');
      else return;
    }
  };
  const wordAt = (pos: number): string => /^[A-Za-z0-9_$.+-]{1,40}/.exec(text.slice(pos, pos + 40))?.[0] ?? '';
  const unexpected = (pos: number): string => {
    const word = wordAt(pos);
    if (word === '' || !/^[A-Za-z_$]/.test(word)) return `unexpected ${describeChar(text[pos])}`;
    if (['true', 'false', 'null'].includes(word.toLowerCase())) {
      return `unexpected token "${word}" (JSON literals are lower-case: true, false, null)`;
    }
    if (['NaN', 'Infinity', 'undefined'].includes(word)) return `unexpected token "${word}" (not valid in JSON)`;
    return `unexpected token "${word}" (strings must be in double quotes)`;
  };

  const string = (): string => {
    const start = i;
    i++;
    for (;;) {
      if (i >= n) fail(start, 'unterminated string');
      const ch = text.charCodeAt(i);
      if (ch === 0x22) break;
      if (ch === 0x5c) {
        const esc = text[i + 1];
        if (esc === undefined) fail(start, 'unterminated string');
        if (esc === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) {
            fail(i, 'invalid "\\u" escape: four hex digits must follow');
          }
          i += 6;
          continue;
        }
        if (!'"\\/bfnrt'.includes(esc as string)) {
          fail(i, `invalid escape "\\${esc}" in a string (a backslash is written "\\\\", e.g. "C:\\\\certs")`);
        }
        i += 2;
        continue;
      }
      if (ch === 0x0a || ch === 0x0d) fail(start, 'unterminated string (a string cannot span lines)');
      if (ch < 0x20) fail(i, 'control characters must be escaped in strings');
      i++;
    }
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };

  const number = (): void => {
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(text);
    const end = m === null ? i : i + m[0].length;
    if (m === null || /[0-9A-Za-z.+-]/.test(text[end] ?? '')) {
      const raw = wordAt(i) || (text[i] ?? '');
      fail(i, `invalid number "${raw}"${/^-?0\d/.test(raw) ? ' (leading zeros are not allowed)' : ''}`);
    }
    i = end;
  };

  const object = (): void => {
    open.push(i);
    i++;
    const keys = new Set<string>();
    skipSpace();
    if (text[i] === '}') {
      i++;
      open.pop();
      return;
    }
    for (;;) {
      skipSpace();
      if (i >= n) endOfFile();
      const ch = text[i] as string;
      if (ch !== '"') {
        if (ch === '}') fail(i, 'unexpected "}" (a trailing comma?)');
        if (ch === "'") fail(i, 'property names must be in double quotes, not single quotes');
        if (/[A-Za-z_$]/.test(ch)) fail(i, `property names must be in double quotes (found ${wordAt(i)})`);
        fail(i, `expected a property name in double quotes, found ${describeChar(ch)}`);
      }
      const keyPos = i;
      const key = string();
      if (keys.has(key)) duplicates.push({ pos: keyPos, key });
      keys.add(key);
      skipSpace();
      if (i >= n) endOfFile();
      if (text[i] !== ':') fail(i, `expected ":" after the property name "${key}", found ${describeChar(text[i])}`);
      i++;
      value();
      skipSpace();
      if (i >= n) endOfFile();
      const next = text[i];
      if (next === ',') {
        i++;
        continue;
      }
      if (next === '}') {
        i++;
        open.pop();
        return;
      }
      if (next === '"') fail(i, 'expected "," or "}" after a property value (a missing comma?)');
      fail(i, `expected "," or "}" after a property value, found ${describeChar(next)}`);
    }
  };

  const array = (): void => {
    open.push(i);
    i++;
    skipSpace();
    if (text[i] === ']') {
      i++;
      open.pop();
      return;
    }
    for (;;) {
      skipSpace();
      if (text[i] === ']') fail(i, 'unexpected "]" (a trailing comma?)');
      value();
      skipSpace();
      if (i >= n) endOfFile();
      const next = text[i] as string;
      if (next === ',') {
        i++;
        continue;
      }
      if (next === ']') {
        i++;
        open.pop();
        return;
      }
      if (/["{[0-9-]/.test(next)) fail(i, 'expected "," or "]" after a list element (a missing comma?)');
      fail(i, `expected "," or "]" after a list element, found ${describeChar(next)}`);
    }
  };

  const value = (): void => {
    skipSpace();
    if (i >= n) endOfFile();
    const ch = text[i] as string;
    if (ch === '{') return object();
    if (ch === '[') return array();
    if (ch === '"') {
      string();
      return;
    }
    if (ch === "'") fail(i, 'strings must be in double quotes, not single quotes');
    if (ch === '-' || (ch >= '0' && ch <= '9')) return number();
    for (const literal of ['true', 'false', 'null']) {
      if (text.startsWith(literal, i) && !/[A-Za-z0-9_$]/.test(text[i + literal.length] ?? '')) {
        i += literal.length;
        return;
      }
    }
    fail(i, unexpected(i));
  };

  skipSpace();
  if (i >= n) fail(0, 'the file is empty: a krakend.json holds one JSON object');
  value();
  skipSpace();
  if (i < n) fail(i, `unexpected ${describeChar(text[i])} after the end of the JSON document (one object per file)`);
  return duplicates;
}

function syntaxIssue(file: string, text: string, err: unknown): ConfigIssue {
  if (err instanceof JsonSyntaxError) return { file, path: '', message: err.message, ...lineColumn(text, err.pos) };
  if (err instanceof RangeError) return { file, path: '', message: 'the JSON is nested too deeply' };
  // The scanner accepted what JSON.parse refused: fall back on the engine's own words.
  const message = err instanceof Error ? err.message : String(err);
  const pos = /position (\d+)/.exec(message)?.[1];
  return {
    file,
    path: '',
    message: `invalid JSON: ${message}`,
    ...(pos === undefined ? {} : lineColumn(text, Number(pos))),
  };
}

/** 1-based line and column of a character offset. */
function lineColumn(text: string, pos: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  const end = Math.min(pos, text.length);
  for (let k = 0; k < end; k++) {
    if (text.charCodeAt(k) === 0x0a) {
      line++;
      lineStart = k + 1;
    }
  }
  return { line, column: pos - lineStart + 1 };
}

function describeChar(ch: string | undefined): string {
  if (ch === undefined) return 'the end of the file';
  if (ch === '\n' || ch === '\r') return 'a line break';
  return `"${ch}"`;
}

// ---------------------------------------------------------------------------------------------------------------
// Small helpers

function readFailure(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT':
      return 'cannot read the config file: it does not exist';
    case 'EACCES':
    case 'EPERM':
      return 'cannot read the config file: permission denied';
    case 'EISDIR':
      return 'cannot read the config file: it is a directory';
    default:
      return `cannot read the config file: ${err instanceof Error ? err.message : String(err)}`;
  }
}

/** `endpoints[0].backend`, `extra_config["qos/ratelimit/router"]`: keys that are not identifiers get brackets. */
function at(path: string, key: string): string {
  if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) return path === '' ? key : `${path}.${key}`;
  return `${path}[${JSON.stringify(key)}]`;
}

function describe(value: JsonValue): string {
  if (value === null) return 'null';
  if (typeof value === 'boolean') return String(value);
  if (typeof value === 'number') return `the number ${value}`;
  if (typeof value === 'string') {
    return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  }
  if (Array.isArray(value)) return 'a list';
  return 'an object';
}

/** The known key a typo most likely meant (optimal string alignment distance ≤ 2). */
function closest(key: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of candidates) {
    const d = editDistance(key.toLowerCase(), candidate);
    if (d < bestDistance && d < candidate.length / 2) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    const row: number[] = [i];
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) {
        row.push(j);
        continue;
      }
      const prev = rows[i - 1] as number[];
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min((prev[j] as number) + 1, (row[j - 1] as number) + 1, (prev[j - 1] as number) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d = Math.min(d, ((rows[i - 2] as number[])[j - 2] as number) + 1);
      }
      row.push(d);
    }
    rows.push(row);
  }
  return (rows[a.length] as number[])[b.length] as number;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
