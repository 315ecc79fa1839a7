#!/usr/bin/env node
/**
 * `krakend-cluster-manager`: the Cluster Manager's composition root. With no parameter it runs the manager with
 * every default; `license` and `nodes` subcommands are operator tools.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Logger } from '../base/logger.js';
import { cryptoUuid } from '../base/random.js';
import { ClusterManager } from '../cluster/manager/manager.js';
import { MANAGER_KEYS, resolveManagerConfig, DEFAULT_STATE_DIR } from '../cluster/manager/manager-config.js';
import { generateKeyPair, issueLicense, verifyLicense, parseLicenseFile } from '../cluster/manager/license.js';
import { TOKEN_FILE } from '../cluster/manager/api-token.js';
import { PROJECT_VERSION } from '../version.js';

const USAGE = `Usage:
  krakend-cluster-manager [--key value ...]        run the Cluster Manager (every key has a default)
  krakend-cluster-manager license keygen --out DIR
  krakend-cluster-manager license issue --private-key FILE --licensee NAME --max-nodes N --not-after DATE
                                        [--not-before DATE] [--id ID] [--out FILE]
  krakend-cluster-manager license inspect FILE [--public-key FILE]
  krakend-cluster-manager config apply -f krakend.json [--dry-run] [--canary K] [--note TEXT] [--author NAME]
  krakend-cluster-manager config history | show N | diff N M | rollback N [--canary K] [--note TEXT]
        (config commands take [--web URL] [--api-token TOKEN] [--state-dir DIR] to reach the manager's API)
  krakend-cluster-manager nodes list [--web URL]
  krakend-cluster-manager nodes remove ID [--force] [--web URL] [--api-token TOKEN] [--state-dir DIR]
  krakend-cluster-manager version

Settings (flag, environment variable, or key in --config FILE / KRAKEND_CM_CONFIG, default
/etc/krakend/cluster-manager.yml):
${MANAGER_KEYS.map((k) => `  ${k.flag.padEnd(28)} ${k.env.padEnd(37)} ${k.help} (default ${k.shownDefault})`).join('\n')}
`;

async function main(argv: string[]): Promise<number> {
  const [command, sub, ...rest] = argv;
  if (command === 'version' || command === '--version') {
    process.stdout.write(`krakend-cluster-manager ${PROJECT_VERSION}\n`);
    return 0;
  }
  if (command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (command === 'license') return license(sub, rest);
  if (command === 'nodes') return nodes(sub, rest);
  if (command === 'config') return configCommand(sub, rest);
  return run(argv);
}

async function run(argv: string[]): Promise<number> {
  const resolved = await resolveManagerConfig(argv, process.env);
  if (!resolved.ok) {
    process.stderr.write(`${resolved.errors.join('\n')}\n\n${USAGE}`);
    return 2;
  }
  const config = resolved.config;
  const logger = new Logger({ prefix: 'CM ', level: config.logLevel, format: config.logFormat });
  const manager = new ClusterManager(config, { logger, version: PROJECT_VERSION });
  try {
    await manager.start();
  } catch (err) {
    logger.critical(`Cannot start the Cluster Manager: ${(err as Error).message}`);
    await manager.close().catch(() => {});
    return 1;
  }
  process.on('SIGHUP', () => void manager.reloadLicense('SIGHUP'));
  return new Promise<number>((resolve) => {
    const stop = (signal: string) => {
      logger.info(`${signal} received: stopping`);
      manager.close().then(
        () => resolve(0),
        () => resolve(1),
      );
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}

async function license(sub: string | undefined, args: string[]): Promise<number> {
  switch (sub) {
    case 'keygen': {
      const { values } = parseArgs({ args, options: { out: { type: 'string' } } });
      const dir = values.out ?? '.';
      const pair = generateKeyPair();
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, 'license-private.pem'), pair.privateKeyPem, { mode: 0o600, flag: 'wx' });
      await writeFile(join(dir, 'license-public.pem'), pair.publicKeyPem, { flag: 'wx' });
      process.stdout.write(`wrote ${join(dir, 'license-private.pem')} (keep it secret) and ${join(dir, 'license-public.pem')}\n`);
      return 0;
    }
    case 'issue': {
      const { values } = parseArgs({
        args,
        options: {
          'private-key': { type: 'string' },
          licensee: { type: 'string' },
          'max-nodes': { type: 'string' },
          'not-before': { type: 'string' },
          'not-after': { type: 'string' },
          id: { type: 'string' },
          out: { type: 'string' },
        },
      });
      const missing = ['private-key', 'licensee', 'max-nodes', 'not-after'].filter((k) => !values[k as keyof typeof values]);
      if (missing.length > 0) {
        process.stderr.write(`missing --${missing.join(', --')}\n`);
        return 2;
      }
      const now = new Date().toISOString();
      const text = issueLicense(
        {
          licensee: values.licensee as string,
          license_id: values.id ?? `lic_${cryptoUuid()}`,
          max_nodes: Number(values['max-nodes']),
          not_before: values['not-before'] ?? now.slice(0, 10),
          not_after: values['not-after'] as string,
          issued_at: now,
        },
        await readFile(values['private-key'] as string, 'utf8'),
      );
      if (values.out) await writeFile(values.out, text);
      else process.stdout.write(text);
      return 0;
    }
    case 'inspect': {
      const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { 'public-key': { type: 'string' } } });
      const file = positionals[0];
      if (!file) {
        process.stderr.write('license inspect FILE [--public-key FILE]\n');
        return 2;
      }
      const text = await readFile(file, 'utf8');
      const parsed = parseLicenseFile(text);
      if (!parsed.ok) {
        process.stderr.write(`${file}: ${parsed.reason}\n`);
        return 1;
      }
      process.stdout.write(`${JSON.stringify(parsed.file.license, null, 2)}\n`);
      if (values['public-key']) {
        const result = verifyLicense(text, await readFile(values['public-key'], 'utf8'), Date.now());
        if (!result.ok) {
          process.stderr.write(`signature: INVALID (${result.reason})\n`);
          return 1;
        }
        process.stdout.write(`signature: valid; status: ${result.status}\n`);
      }
      return 0;
    }
    default:
      process.stderr.write(USAGE);
      return 2;
  }
}

async function nodes(sub: string | undefined, args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      web: { type: 'string' },
      force: { type: 'boolean' },
      'api-token': { type: 'string' },
      'state-dir': { type: 'string' },
    },
  });
  const web = values.web ?? process.env['KRAKEND_CM_WEB'] ?? 'http://127.0.0.1:9897';
  if (sub === 'list') {
    const res = await fetch(`${web}/api/v1/nodes`);
    process.stdout.write(`${JSON.stringify(await res.json(), null, 2)}\n`);
    return res.ok ? 0 : 1;
  }
  if (sub === 'remove' && positionals[0]) {
    const stateDir = values['state-dir'] ?? process.env['KRAKEND_CM_STATE_DIR'] ?? DEFAULT_STATE_DIR;
    const token =
      values['api-token'] ??
      process.env['KRAKEND_CM_API_TOKEN'] ??
      (await readFile(join(stateDir, TOKEN_FILE), 'utf8').catch(() => '')).trim();
    const res = await fetch(`${web}/api/v1/nodes/${encodeURIComponent(positionals[0])}${values.force ? '?force=true' : ''}`, {
      method: 'DELETE',
      headers: { Authorization: `Bearer ${token}` },
    });
    const body = (await res.json()) as Record<string, unknown>;
    if (!res.ok) {
      process.stderr.write(`${String(body['error'] ?? res.status)}\n`);
      return 1;
    }
    process.stdout.write(`removed ${positionals[0]}\n`);
    return 0;
  }
  process.stderr.write(USAGE);
  return 2;
}

async function apiAccess(values: { web?: string; 'api-token'?: string; 'state-dir'?: string }) {
  const web = values.web ?? process.env['KRAKEND_CM_WEB'] ?? 'http://127.0.0.1:9897';
  const stateDir = values['state-dir'] ?? process.env['KRAKEND_CM_STATE_DIR'] ?? DEFAULT_STATE_DIR;
  const token =
    values['api-token'] ??
    process.env['KRAKEND_CM_API_TOKEN'] ??
    (await readFile(join(stateDir, TOKEN_FILE), 'utf8').catch(() => '')).trim();
  return { web, headers: { Authorization: `Bearer ${token}` } };
}

async function configCommand(sub: string | undefined, args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      file: { type: 'string', short: 'f' },
      'dry-run': { type: 'boolean' },
      canary: { type: 'string' },
      note: { type: 'string' },
      author: { type: 'string' },
      web: { type: 'string' },
      'api-token': { type: 'string' },
      'state-dir': { type: 'string' },
    },
  });
  const { web, headers } = await apiAccess(values);
  const query = new URLSearchParams();
  query.set('author', values.author ?? process.env['USER'] ?? 'cli');
  if (values.note) query.set('note', values.note);
  if (values['dry-run']) query.set('dry_run', 'true');
  if (values.canary) query.set('canary', values.canary);
  const print = async (res: Response): Promise<number> => {
    const body = (await res.json()) as Record<string, unknown>;
    if (!res.ok) {
      const errors = Array.isArray(body['errors']) ? (body['errors'] as string[]).join('\n') : String(body['error'] ?? res.status);
      process.stderr.write(`${errors}\n`);
      return 1;
    }
    if (typeof body['diff'] === 'string') {
      const { diff, ...rest } = body;
      process.stdout.write(`${JSON.stringify(rest, null, 2)}\n${diff === '' ? '(no change)' : diff}\n`);
    } else {
      process.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
    }
    return body['halted'] === true ? 1 : 0;
  };
  switch (sub) {
    case 'apply': {
      if (!values.file) {
        process.stderr.write('config apply -f krakend.json\n');
        return 2;
      }
      const text = await readFile(values.file, 'utf8');
      return print(await fetch(`${web}/api/v1/config?${query}`, { method: 'POST', headers, body: text }));
    }
    case 'history':
      return print(await fetch(`${web}/api/v1/config/history`));
    case 'show':
      return print(await fetch(`${web}/api/v1/config/versions/${Number(positionals[0])}`, { headers }));
    case 'diff':
      return print(await fetch(`${web}/api/v1/config/diff?from=${Number(positionals[0])}&to=${Number(positionals[1])}`, { headers }));
    case 'rollback':
      return print(await fetch(`${web}/api/v1/config/rollback/${Number(positionals[0])}?${query}`, { method: 'POST', headers }));
    default:
      process.stderr.write(USAGE);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    setTimeout(() => process.exit(code), 50).unref();
  },
  (err: unknown) => {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(1);
  },
);
