/**
 * Which config a node starts with (ARCHITECTURE.md, "Config distribution"): the manager's current version when
 * the caller has one, else the node's config cache, else its local krakend.json. Each candidate is validated as
 * the gateway validates any config; one that fails is skipped with a WARNING saying why and what comes next, and
 * the one used is logged at INFO:
 *
 *   WARNING the config cache /var/lib/krakend/config-cache is unusable (truncated: 20 bytes): starting from
 *           /etc/krakend/krakend.json   (one line)
 *   INFO using the local config /etc/krakend/krakend.json
 *
 * Reads files, never the network: the caller fetches the manager's version (or not) before calling. Saving the
 * chosen config to the cache is also the caller's job, once it has been applied.
 */
import { readFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { formatLogTime } from '../../base/logger.js';
import type { Logger } from '../../base/logger.js';
import { formatIssue } from '../../gateway/config/format-issues.js';
import { parseConfigText } from '../../gateway/config/load.js';
import type { ConfigIssue, ServiceConfig } from '../../gateway/config/types.js';
import type { ConfigCache } from './config-cache.js';

export interface StartupConfigOptions {
  /** The manager's current version, when the node got one before starting. `hash`, when given, is checked. */
  readonly fromManager?: { readonly version: number; readonly body: string; readonly hash?: string };
  readonly cache: ConfigCache;
  /** The node's own krakend.json: the last resort. */
  readonly localFile: string;
  readonly logger: Logger;
}

export type StartupSource = 'manager' | 'cache' | 'local';

export type StartupConfig =
  | {
      readonly ok: true;
      readonly source: StartupSource;
      /** The manager's version number (manager and cache); absent for the local file. */
      readonly version?: number;
      /** SHA-256 hex of `text` (manager and cache; the manager's hash of its canonical body). */
      readonly hash?: string;
      /** The config text as it was validated. */
      readonly text: string;
      readonly config: ServiceConfig;
      /** Validation warnings of the chosen config, not logged here (the caller logs them as it does for a file). */
      readonly warnings: string[];
      /** One line per candidate skipped before this one (also logged). */
      readonly skipped: string[];
    }
  | {
      readonly ok: false;
      /** The local file's issues: the caller prints them and exits 1. */
      readonly issues: ConfigIssue[];
      readonly skipped: string[];
    };

/** How many issues a skip line quotes before "and N more". */
const QUOTED_ISSUES = 3;

type Attempt =
  | { ok: true; result: Extract<StartupConfig, { ok: true }>; used: string }
  | { ok: false; why: string; level: 'info' | 'warning'; issues?: ConfigIssue[] };

export async function chooseStartupConfig(options: StartupConfigOptions): Promise<StartupConfig> {
  const { fromManager, cache, localFile, logger } = options;
  const skipped: string[] = [];
  const candidates: Array<{ label: string; attempt: () => Promise<Attempt> }> = [];

  if (fromManager) {
    candidates.push({
      label: `the manager's config version ${fromManager.version}`,
      attempt: async () => {
        const v = fromManager.version;
        const what = `the manager's config version ${v}`;
        if (fromManager.hash !== undefined && sha256(fromManager.body) !== fromManager.hash) {
          return { ok: false, why: `${what} does not match its hash`, level: 'warning' };
        }
        const loaded = parseConfigText(fromManager.body, `krakend.json (version ${v}, from the manager)`);
        if (!loaded.config) {
          return { ok: false, why: `${what} is invalid here (${summarise(loaded.issues)})`, level: 'warning' };
        }
        const hash = sha256(fromManager.body);
        return {
          ok: true,
          used: `using config version ${v} from the manager (hash ${hash.slice(0, 12)})`,
          result: accepted('manager', fromManager.body, loaded.config, loaded.warnings, skipped, v, hash),
        };
      },
    });
  }

  candidates.push({
    label: `the config cache ${cache.path}`,
    attempt: async () => {
      const loaded = await cache.load();
      if (!loaded.ok) {
        if (loaded.reason === 'missing') return { ok: false, why: `no config cache at ${cache.path}`, level: 'info' };
        return { ok: false, why: `the config cache ${cache.path} is unusable (${loaded.reason})`, level: 'warning' };
      }
      const { entry } = loaded;
      const parsed = parseConfigText(entry.body, `krakend.json (version ${entry.version}, from the config cache)`);
      if (!parsed.config) {
        const why = `the cached config version ${entry.version} is invalid here (${summarise(parsed.issues)})`;
        return { ok: false, why, level: 'warning' };
      }
      return {
        ok: true,
        used:
          `using config version ${entry.version} from the config cache ${cache.path} ` +
          `(saved ${formatLogTime(entry.savedAt)})`,
        result: accepted('cache', entry.body, parsed.config, parsed.warnings, skipped, entry.version, entry.hash),
      };
    },
  });

  candidates.push({
    label: localFile,
    attempt: async () => {
      let text: string;
      try {
        text = await readFile(localFile, 'utf8');
      } catch (err) {
        const issues = [{ file: localFile, path: '', message: readFailure(err) }];
        const why = `the local config ${localFile} is unusable (${summarise(issues)})`;
        return { ok: false, why, level: 'warning', issues };
      }
      const parsed = parseConfigText(text, localFile);
      if (!parsed.config) {
        const why = `the local config ${localFile} is invalid (${summarise(parsed.issues)})`;
        return { ok: false, why, level: 'warning', issues: parsed.issues };
      }
      return {
        ok: true,
        used: `using the local config ${localFile}`,
        result: accepted('local', text, parsed.config, parsed.warnings, skipped, undefined, undefined),
      };
    },
  });

  for (let i = 0; i < candidates.length; i++) {
    const attempt = await (candidates[i] as (typeof candidates)[number]).attempt();
    if (attempt.ok) {
      logger.info(attempt.used);
      return attempt.result;
    }
    skipped.push(attempt.why);
    const next = candidates[i + 1];
    if (next) {
      logger.log(attempt.level === 'info' ? 'INFO' : 'WARNING', `${attempt.why}: starting from ${next.label}`);
    } else {
      logger.error(`${attempt.why}: no usable config`);
      return { ok: false, issues: attempt.issues ?? [], skipped };
    }
  }
  // Unreachable: the local file is always the last candidate and returns either way.
  throw new Error('no startup config candidate');
}

function accepted(
  source: StartupSource,
  text: string,
  config: ServiceConfig,
  warnings: string[],
  skipped: string[],
  version: number | undefined,
  hash: string | undefined,
): Extract<StartupConfig, { ok: true }> {
  return {
    ok: true,
    source,
    ...(version === undefined ? {} : { version }),
    ...(hash === undefined ? {} : { hash }),
    text,
    config,
    warnings,
    skipped,
  };
}

function summarise(issues: readonly ConfigIssue[]): string {
  const quoted = issues.slice(0, QUOTED_ISSUES).map(formatIssue).join('; ');
  const more = issues.length - QUOTED_ISSUES;
  return more > 0 ? `${quoted}; and ${more} more` : quoted;
}

function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** The gateway's wording for an unreadable config file (load.ts). */
function readFailure(err: unknown): string {
  switch ((err as NodeJS.ErrnoException | undefined)?.code) {
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
