/**
 * The node's service file (default /etc/krakend/service.yml): the switch into cluster mode. A `seed` makes the
 * node a cluster member; no file, or no seed, means standalone, exactly as before. Every problem is reported with
 * the file and the key, and a bad file stops the node rather than silently running standalone.
 */
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { parse as parseYaml } from 'yaml';
import { parseDuration } from '../../base/duration.js';
import { parseKey } from '../wire/index.js';

export const DEFAULT_SERVICE_FILE = '/etc/krakend/service.yml';
export const DEFAULT_STATE_DIR = '/var/lib/krakend';
export const DEFAULT_MANAGER_PORT = 7000;
/** How long a node keeps its cluster limits with no manager before it runs standalone (ARCHITECTURE.md, Limits). */
export const DEFAULT_MANAGER_GRACE_MS = 72 * 3_600_000;

export interface HostPort {
  host: string;
  port: number;
}

export interface ServiceFile {
  source: string;
  /** Managers to dial, in order of preference. */
  seeds: HostPort[];
  /** base64 keys; the first is the primary (rotation: install, use, remove). */
  clusterKeys: string[];
  /** Where the node's cluster port (gossip) binds; port 0 = any free port. */
  bind: HostPort;
  /** The address others reach the cluster port at, when it differs from `bind` (NAT, 0.0.0.0). */
  advertise: HostPort | undefined;
  /** The API port, overriding krakend.json's `port`, so several nodes can share a host. */
  port: number | undefined;
  /** The address the API is advertised at in the manager's views. */
  apiAdvertise: string | undefined;
  stateDir: string;
  managerGraceMs: number;
  name: string;
  /** Gossip timing: `lan` (memberlist's LAN defaults) or `local` (one machine, faster). */
  preset: 'lan' | 'local';
  /** What a node enforces when its lease of a cluster-wide limit expires unrenewed. */
  limitFallback: 'safe_share' | 'zero' | { fixed: number };
}

export type ServiceFileResult =
  | { mode: 'standalone'; reason: string }
  | { mode: 'cluster'; service: ServiceFile }
  | { mode: 'invalid'; errors: string[] };

const KNOWN_KEYS = new Set([
  'seed',
  'cluster_key',
  'bind',
  'advertise',
  'port',
  'api_advertise',
  'state_dir',
  'manager_grace',
  'name',
  'preset',
  'limit_fallback',
]);

/** Reads and validates a service file. A missing file means standalone; an unreadable or invalid one, errors. */
export async function loadServiceFile(path: string): Promise<ServiceFileResult> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { mode: 'standalone', reason: `no service file at ${path}` };
    return { mode: 'invalid', errors: [`${path}: cannot read the service file: ${(err as Error).message}`] };
  }
  return parseServiceFile(text, path);
}

export function parseServiceFile(text: string, source: string): ServiceFileResult {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    return { mode: 'invalid', errors: [`${source}: not valid YAML: ${(err as Error).message}`] };
  }
  if (doc === null || doc === undefined) return { mode: 'standalone', reason: `${source} is empty` };
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    return { mode: 'invalid', errors: [`${source}: expected a mapping of keys (seed: host:7000, ...)`] };
  }
  const raw = doc as Record<string, unknown>;
  const errors: string[] = [];
  const fail = (key: string, why: string) => errors.push(`${source}: ${key}: ${why}`);
  for (const key of Object.keys(raw)) if (!KNOWN_KEYS.has(key)) fail(key, 'unknown key (see the README for the service file keys)');

  if (raw['seed'] === undefined || raw['seed'] === null || raw['seed'] === '') {
    if (errors.length > 0) return { mode: 'invalid', errors };
    return { mode: 'standalone', reason: `${source} names no seed` };
  }
  const seedList = Array.isArray(raw['seed']) ? raw['seed'] : [raw['seed']];
  const seeds: HostPort[] = [];
  seedList.forEach((s, i) => {
    const key = Array.isArray(raw['seed']) ? `seed[${i}]` : 'seed';
    const hp = typeof s === 'string' ? parseHostPort(s, DEFAULT_MANAGER_PORT) : undefined;
    if (!hp) fail(key, `${JSON.stringify(s)} is not host:port (a DNS name or an IP, e.g. 192.168.1.100:7000)`);
    else seeds.push(hp);
  });

  const clusterKeys: string[] = [];
  const keys = raw['cluster_key'];
  if (keys !== undefined && keys !== null) {
    const list = Array.isArray(keys) ? keys : [keys];
    list.forEach((k, i) => {
      const key = Array.isArray(keys) ? `cluster_key[${i}]` : 'cluster_key';
      try {
        if (typeof k !== 'string') throw new Error('not a string');
        parseKey(k);
        clusterKeys.push(k);
      } catch {
        fail(key, 'must be 32 random bytes in base64 (openssl rand -base64 32)');
      }
    });
  }

  const bind = optionalHostPort(raw, 'bind', fail) ?? { host: '0.0.0.0', port: 0 };
  const advertise = optionalHostPort(raw, 'advertise', fail);
  let port: number | undefined;
  if (raw['port'] !== undefined) {
    const p = raw['port'];
    if (typeof p !== 'number' || !Number.isInteger(p) || p < 0 || p > 65535) fail('port', 'must be a port number (0-65535)');
    else port = p;
  }
  const apiAdvertise = optionalString(raw, 'api_advertise', fail);
  const stateDir = optionalString(raw, 'state_dir', fail) ?? DEFAULT_STATE_DIR;
  const name = optionalString(raw, 'name', fail) ?? hostname();
  let managerGraceMs = DEFAULT_MANAGER_GRACE_MS;
  if (raw['manager_grace'] !== undefined) {
    try {
      const v = raw['manager_grace'];
      if (typeof v !== 'string') throw new Error('not a string');
      managerGraceMs = parseDuration(v);
      if (managerGraceMs <= 0) throw new Error('not positive');
    } catch {
      fail('manager_grace', 'must be a positive duration such as 72h');
    }
  }
  let preset: 'lan' | 'local' = 'lan';
  if (raw['preset'] !== undefined) {
    if (raw['preset'] === 'lan' || raw['preset'] === 'local') preset = raw['preset'];
    else fail('preset', 'must be lan or local');
  }
  let limitFallback: ServiceFile['limitFallback'] = 'safe_share';
  const lf = raw['limit_fallback'];
  if (lf !== undefined) {
    if (lf === 'safe_share' || lf === 'zero') limitFallback = lf;
    else if (typeof lf === 'number' && lf >= 0 && Number.isFinite(lf)) limitFallback = { fixed: lf };
    else fail('limit_fallback', 'must be safe_share, zero, or a number of requests per second');
  }
  if (errors.length > 0) return { mode: 'invalid', errors };
  return {
    mode: 'cluster',
    service: { source, seeds, clusterKeys, bind, advertise, port, apiAdvertise, stateDir, managerGraceMs, name, preset, limitFallback },
  };
}

/** `host:port`, `[v6]:port`, or a bare host with the default port. */
export function parseHostPort(text: string, defaultPort?: number): HostPort | undefined {
  const s = text.trim();
  let host: string;
  let portText: string | undefined;
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
  if (v6) {
    host = v6[1] as string;
    portText = v6[2];
  } else {
    const i = s.lastIndexOf(':');
    if (i >= 0 && s.indexOf(':') === i) {
      host = s.slice(0, i);
      portText = s.slice(i + 1);
    } else {
      host = s;
    }
  }
  if (!host || !/^[A-Za-z0-9.\-:_]+$/.test(host)) return undefined;
  if (portText === undefined) return defaultPort === undefined ? undefined : { host, port: defaultPort };
  if (!/^\d{1,5}$/.test(portText)) return undefined;
  const port = Number(portText);
  if (port > 65535) return undefined;
  return { host, port };
}

function optionalString(raw: Record<string, unknown>, key: string, fail: (k: string, w: string) => void): string | undefined {
  const v = raw[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || v === '') {
    fail(key, 'must be a non-empty string');
    return undefined;
  }
  return v;
}

function optionalHostPort(
  raw: Record<string, unknown>,
  key: string,
  fail: (k: string, w: string) => void,
): HostPort | undefined {
  const v = raw[key];
  if (v === undefined || v === null) return undefined;
  const hp = typeof v === 'string' ? parseHostPort(v) : undefined;
  if (!hp) fail(key, `${JSON.stringify(v)} is not host:port`);
  return hp;
}

export function formatHostPort(hp: HostPort): string {
  return hp.host.includes(':') ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;
}
