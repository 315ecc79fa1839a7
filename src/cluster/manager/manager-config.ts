/**
 * The Cluster Manager's settings. Every key has a default (so `krakend-cluster-manager` starts with no
 * parameter), and can be set in an optional YAML file, by environment variable or by flag, in increasing order
 * of precedence. The README documents each key; `MANAGER_KEYS` is the single list the parser, the usage text
 * and the documentation test read.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { parseDuration } from '../../base/duration.js';
import { isLogLevel } from '../../base/logger.js';
import type { LogFormat, LogLevel } from '../../base/logger.js';
import { parseKey } from '../wire/index.js';

export interface ManagerConfig {
  clusterPort: number;
  bind: string;
  /** Host nodes and gossip reach the cluster port at, when it differs from bind. */
  advertise: string | undefined;
  webPort: number;
  webBind: string;
  stateDir: string;
  clusterKeys: string[];
  gracePeriodMs: number;
  retentionMs: number;
  heartbeatMs: number;
  /** 0: every channel beats at heartbeatMs however many nodes there are. */
  maxHeartbeatsPerSecond: number;
  limitRefreshMs: number;
  statsIntervalMs: number;
  licenseFile: string;
  licensePublicKeyFile: string;
  licenseMarginDays: number;
  apiToken: string | undefined;
  apiTlsCert: string | undefined;
  apiTlsKey: string | undefined;
  preset: 'lan' | 'local';
  logLevel: LogLevel;
  logFormat: LogFormat;
}

type Kind = 'port' | 'string' | 'duration' | 'keys' | 'number' | 'count' | 'preset' | 'level' | 'format';

export interface KeySpec {
  key: string;
  field: keyof ManagerConfig;
  kind: Kind;
  env: string;
  flag: string;
  help: string;
  /** Shown in the docs; the real default is in `defaults()`. */
  shownDefault: string;
}

export const DEFAULT_STATE_DIR = '/var/lib/krakend-cluster-manager';
export const DEFAULT_CONFIG_FILE = '/etc/krakend/cluster-manager.yml';

export const MANAGER_KEYS: readonly KeySpec[] = [
  { key: 'cluster_port', field: 'clusterPort', kind: 'port', env: 'KRAKEND_CM_CLUSTER_PORT', flag: '--cluster-port', shownDefault: '7000', help: 'UDP gossip, and TCP control and gossip streams' },
  { key: 'bind', field: 'bind', kind: 'string', env: 'KRAKEND_CM_BIND', flag: '--bind', shownDefault: '0.0.0.0', help: 'address the cluster port binds' },
  { key: 'advertise', field: 'advertise', kind: 'string', env: 'KRAKEND_CM_ADVERTISE', flag: '--advertise', shownDefault: '(the bind address)', help: 'host the cluster port is reached at' },
  { key: 'web_port', field: 'webPort', kind: 'port', env: 'KRAKEND_CM_WEB_PORT', flag: '--web-port', shownDefault: '9897', help: 'JSON API under /api/v1' },
  { key: 'web_bind', field: 'webBind', kind: 'string', env: 'KRAKEND_CM_WEB_BIND', flag: '--web-bind', shownDefault: '0.0.0.0', help: 'address the web port binds' },
  { key: 'state_dir', field: 'stateDir', kind: 'string', env: 'KRAKEND_CM_STATE_DIR', flag: '--state-dir', shownDefault: DEFAULT_STATE_DIR, help: 'registry, license, API token (durable, crash-safe)' },
  { key: 'cluster_key', field: 'clusterKeys', kind: 'keys', env: 'KRAKEND_CM_CLUSTER_KEY', flag: '--cluster-key', shownDefault: '(none: warns at start)', help: 'base64 32-byte key(s), comma-separated; the first is used to send' },
  { key: 'grace_period', field: 'gracePeriodMs', kind: 'duration', env: 'KRAKEND_CM_GRACE_PERIOD', flag: '--grace-period', shownDefault: '1m', help: 'a node unreachable this long is down' },
  { key: 'retention', field: 'retentionMs', kind: 'duration', env: 'KRAKEND_CM_RETENTION', flag: '--retention', shownDefault: '72h', help: 'registry entries of nodes gone this long are reaped' },
  { key: 'heartbeat', field: 'heartbeatMs', kind: 'duration', env: 'KRAKEND_CM_HEARTBEAT', flag: '--heartbeat', shownDefault: '1s', help: 'control channel heartbeat; a channel silent for 3 beats is closed' },
  { key: 'max_heartbeats_per_second', field: 'maxHeartbeatsPerSecond', kind: 'count', env: 'KRAKEND_CM_MAX_HEARTBEATS_PER_SECOND', flag: '--max-heartbeats-per-second', shownDefault: '100', help: 'lengthens the heartbeat in whole seconds as nodes join so that all of them together stay under this rate; 0 = off' },
  { key: 'limit_refresh', field: 'limitRefreshMs', kind: 'duration', env: 'KRAKEND_CM_LIMIT_REFRESH', flag: '--limit-refresh', shownDefault: '1s', help: 'how often nodes report demand and leases of cluster-wide limits are renewed (TTL: 3 refreshes)' },
  { key: 'stats_interval', field: 'statsIntervalMs', kind: 'duration', env: 'KRAKEND_CM_STATS_INTERVAL', flag: '--stats-interval', shownDefault: '5s', help: 'how often nodes send their stats deltas' },
  { key: 'license_file', field: 'licenseFile', kind: 'string', env: 'KRAKEND_CM_LICENSE', flag: '--license', shownDefault: '<state_dir>/license.json', help: 'signed license, re-read at start, daily, on SIGHUP and when it changes' },
  { key: 'license_public_key', field: 'licensePublicKeyFile', kind: 'string', env: 'KRAKEND_CM_LICENSE_PUBLIC_KEY', flag: '--license-public-key', shownDefault: '<state_dir>/license-public.pem', help: 'Ed25519 public key licenses are verified with' },
  { key: 'license_margin_days', field: 'licenseMarginDays', kind: 'number', env: 'KRAKEND_CM_LICENSE_MARGIN_DAYS', flag: '--license-margin-days', shownDefault: '7', help: 'days an expired license still counts, with warnings' },
  { key: 'api_token', field: 'apiToken', kind: 'string', env: 'KRAKEND_CM_API_TOKEN', flag: '--api-token', shownDefault: '(generated into <state_dir>/api-token)', help: 'bearer token for API writes' },
  { key: 'api_tls_cert', field: 'apiTlsCert', kind: 'string', env: 'KRAKEND_CM_API_TLS_CERT', flag: '--api-tls-cert', shownDefault: '(none: plain HTTP)', help: 'PEM certificate for the web port' },
  { key: 'api_tls_key', field: 'apiTlsKey', kind: 'string', env: 'KRAKEND_CM_API_TLS_KEY', flag: '--api-tls-key', shownDefault: '(none)', help: 'PEM private key for the web port' },
  { key: 'preset', field: 'preset', kind: 'preset', env: 'KRAKEND_CM_PRESET', flag: '--preset', shownDefault: 'lan', help: 'membership timing: lan, or local (one machine)' },
  { key: 'log_level', field: 'logLevel', kind: 'level', env: 'KRAKEND_CM_LOG_LEVEL', flag: '--log-level', shownDefault: 'INFO', help: 'DEBUG, INFO, WARNING, ERROR or CRITICAL' },
  { key: 'log_format', field: 'logFormat', kind: 'format', env: 'KRAKEND_CM_LOG_FORMAT', flag: '--log-format', shownDefault: 'text', help: 'text or json' },
];

export function defaultManagerConfig(stateDir = DEFAULT_STATE_DIR): ManagerConfig {
  return {
    clusterPort: 7000,
    bind: '0.0.0.0',
    advertise: undefined,
    webPort: 9897,
    webBind: '0.0.0.0',
    stateDir,
    clusterKeys: [],
    gracePeriodMs: 60_000,
    retentionMs: 72 * 3_600_000,
    heartbeatMs: 1_000,
    maxHeartbeatsPerSecond: 100,
    limitRefreshMs: 1_000,
    statsIntervalMs: 5_000,
    licenseFile: join(stateDir, 'license.json'),
    licensePublicKeyFile: join(stateDir, 'license-public.pem'),
    licenseMarginDays: 7,
    apiToken: undefined,
    apiTlsCert: undefined,
    apiTlsKey: undefined,
    preset: 'lan',
    logLevel: 'INFO',
    logFormat: 'text',
  };
}

export type ConfigResult = { ok: true; config: ManagerConfig } | { ok: false; errors: string[] };

/**
 * Resolves the settings from a YAML file (optional unless named explicitly with --config or KRAKEND_CM_CONFIG),
 * the environment and flags (`--key value` or `--key=value`).
 */
export async function resolveManagerConfig(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<ConfigResult> {
  const errors: string[] = [];
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (!arg.startsWith('--')) {
      errors.push(`unexpected argument "${arg}"`);
      continue;
    }
    const eq = arg.indexOf('=');
    if (eq > 0) flags.set(arg.slice(0, eq), arg.slice(eq + 1));
    else if (i + 1 < argv.length) flags.set(arg, argv[++i] as string);
    else errors.push(`${arg} needs a value`);
  }
  const configFlag = flags.get('--config') ?? env['KRAKEND_CM_CONFIG'];
  flags.delete('--config');
  const known = new Set(MANAGER_KEYS.map((k) => k.flag));
  for (const f of flags.keys()) if (!known.has(f)) errors.push(`unknown flag ${f}`);

  const file: Record<string, unknown> = {};
  const configPath = configFlag ?? DEFAULT_CONFIG_FILE;
  try {
    const parsed: unknown = parseYaml(await readFile(configPath, 'utf8'));
    if (parsed !== null && parsed !== undefined) {
      if (typeof parsed !== 'object' || Array.isArray(parsed)) errors.push(`${configPath}: expected a mapping of keys`);
      else Object.assign(file, parsed);
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // The default file is optional; a file named explicitly must exist.
    if (code !== 'ENOENT' || configFlag !== undefined) errors.push(`${configPath}: ${(err as Error).message}`);
  }
  const knownKeys = new Set(MANAGER_KEYS.map((k) => k.key));
  for (const k of Object.keys(file)) if (!knownKeys.has(k)) errors.push(`${configPath}: ${k}: unknown key`);

  const pick = (spec: KeySpec): { value: unknown; where: string } | undefined => {
    if (flags.has(spec.flag)) return { value: flags.get(spec.flag), where: spec.flag };
    if (env[spec.env] !== undefined) return { value: env[spec.env], where: spec.env };
    if (file[spec.key] !== undefined) return { value: file[spec.key], where: `${configPath}: ${spec.key}` };
    return undefined;
  };

  const stateSpec = MANAGER_KEYS.find((k) => k.key === 'state_dir') as KeySpec;
  const stateDir = pick(stateSpec)?.value;
  const config = defaultManagerConfig(typeof stateDir === 'string' && stateDir !== '' ? stateDir : DEFAULT_STATE_DIR);
  const out = config as unknown as Record<string, unknown>;
  for (const spec of MANAGER_KEYS) {
    const got = pick(spec);
    if (!got) continue;
    const value = convert(spec.kind, got.value);
    if (value === undefined) errors.push(`${got.where}: ${describeKind(spec.kind)} expected, got ${JSON.stringify(got.value)}`);
    else out[spec.field] = value;
  }
  if ((config.apiTlsCert === undefined) !== (config.apiTlsKey === undefined)) {
    errors.push('api_tls_cert and api_tls_key go together');
  }
  return errors.length > 0 ? { ok: false, errors } : { ok: true, config };
}

function convert(kind: Kind, raw: unknown): unknown {
  const text = typeof raw === 'number' ? String(raw) : raw;
  switch (kind) {
    case 'port': {
      const n = Number(text);
      return typeof text === 'string' && /^\d+$/.test(text) && n <= 65535 ? n : undefined;
    }
    case 'number': {
      const n = Number(text);
      return typeof text === 'string' && text !== '' && Number.isFinite(n) && n >= 0 ? n : undefined;
    }
    case 'count':
      return typeof text === 'string' && /^\d+$/.test(text) && Number.isSafeInteger(Number(text)) ? Number(text) : undefined;
    case 'string':
      return typeof text === 'string' && text !== '' ? text : undefined;
    case 'duration':
      try {
        const ms = typeof text === 'string' ? parseDuration(text) : NaN;
        return ms > 0 ? ms : undefined;
      } catch {
        return undefined;
      }
    case 'keys': {
      const list = Array.isArray(raw) ? raw : typeof text === 'string' ? text.split(',').map((s) => s.trim()) : [];
      try {
        for (const k of list) parseKey(k as string);
        return list.length > 0 ? list : undefined;
      } catch {
        return undefined;
      }
    }
    case 'preset':
      return text === 'lan' || text === 'local' ? text : undefined;
    case 'level': {
      const up = typeof text === 'string' ? text.toUpperCase() : '';
      return isLogLevel(up) ? up : undefined;
    }
    case 'format':
      return text === 'text' || text === 'json' ? text : undefined;
  }
}

function describeKind(kind: Kind): string {
  switch (kind) {
    case 'port':
      return 'a port number';
    case 'duration':
      return 'a positive duration (30s, 1m, 72h)';
    case 'count':
      return 'a whole number (0 or more)';
    case 'keys':
      return 'base64 32-byte key(s), comma-separated';
    case 'preset':
      return 'lan or local';
    case 'level':
      return 'a log level';
    case 'format':
      return 'text or json';
    default:
      return 'a value';
  }
}
