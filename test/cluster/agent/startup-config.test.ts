import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { memoryLogger } from '../../../src/base/logger.js';
import { ConfigCache } from '../../../src/cluster/agent/config-cache.js';
import { chooseStartupConfig } from '../../../src/cluster/agent/startup-config.js';
import type { StartupConfig } from '../../../src/cluster/agent/startup-config.js';
import { generateKey } from '../../../src/cluster/wire/keyring.js';

function config(name: string): string {
  return JSON.stringify({
    version: 3,
    name,
    endpoints: [{ endpoint: '/a', backend: [{ host: ['http://127.0.0.1:9'], url_pattern: '/a' }] }],
  });
}
const INVALID = '{"version": 2, "endpoints": []}';
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

let root: string;
let n = 0;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'krakend-startup-config-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A state dir with (optionally) a cache, and a local file with (optionally) a config. */
async function setup(options: { cached?: string; local?: string; key?: string } = {}) {
  const dir = join(root, `case-${n++}`);
  await mkdir(dir);
  const cache = new ConfigCache(join(dir, 'state'), options.key ? { clusterKeys: [options.key] } : {});
  if (options.cached !== undefined) await cache.save({ version: 4, hash: sha256(options.cached), body: options.cached });
  const localFile = join(dir, 'krakend.json');
  if (options.local !== undefined) await writeFile(localFile, options.local);
  const { logger, lines } = memoryLogger('[KRAKEND]');
  // Log lines without their timestamp: `LEVEL message`.
  const logged = () => lines.map((l) => l.replace(/^\[KRAKEND\] \S+ - \S+ ▶ /, ''));
  return { cache, localFile, logger, logged };
}

function chosen(result: StartupConfig): Extract<StartupConfig, { ok: true }> {
  assert.equal(result.ok, true, result.ok ? '' : JSON.stringify(result));
  return result as Extract<StartupConfig, { ok: true }>;
}

describe('chooseStartupConfig', () => {
  test("the manager's version comes first", async () => {
    const s = await setup({ cached: config('cached'), local: config('local') });
    const body = config('manager');
    const r = chosen(await chooseStartupConfig({ ...s, fromManager: { version: 9, body, hash: sha256(body) } }));
    assert.equal(r.source, 'manager');
    assert.equal(r.version, 9);
    assert.equal(r.hash, sha256(body));
    assert.equal(r.text, body);
    assert.equal(r.config.name, 'manager');
    assert.deepEqual(r.skipped, []);
    assert.deepEqual(s.logged(), [`INFO using config version 9 from the manager (hash ${sha256(body).slice(0, 12)})`]);
  });

  test('without a manager, the cache comes next', async () => {
    const s = await setup({ cached: config('cached'), local: config('local') });
    const r = chosen(await chooseStartupConfig(s));
    assert.equal(r.source, 'cache');
    assert.equal(r.version, 4);
    assert.equal(r.config.name, 'cached');
    assert.equal(s.logged().length, 1);
    assert.match(s.logged()[0] as string, new RegExp(`^INFO using config version 4 from the config cache ${s.cache.path} \\(saved .+\\)$`));
  });

  test('an encrypted cache is used like a plain one', async () => {
    const key = generateKey();
    const s = await setup({ cached: config('cached'), local: config('local'), key });
    assert.equal(chosen(await chooseStartupConfig(s)).source, 'cache');
  });

  test('without a manager or a cache, the local file, saying there is no cache', async () => {
    const s = await setup({ local: config('local') });
    const r = chosen(await chooseStartupConfig(s));
    assert.equal(r.source, 'local');
    assert.equal(r.version, undefined);
    assert.equal(r.text, config('local'));
    assert.equal(r.config.name, 'local');
    assert.deepEqual(s.logged(), [
      `INFO no config cache at ${s.cache.path}: starting from ${s.localFile}`,
      `INFO using the local config ${s.localFile}`,
    ]);
  });

  test('a corrupt cache is skipped with a warning, and the node starts from its config file', async () => {
    const s = await setup({ cached: config('cached'), local: config('local'), key: generateKey() });
    const sealed = await readFile(s.cache.path);
    await writeFile(s.cache.path, sealed.subarray(0, 20));
    const r = chosen(await chooseStartupConfig(s));
    assert.equal(r.source, 'local');
    assert.deepEqual(s.logged(), [
      `WARNING the config cache ${s.cache.path} is unusable (truncated: 20 bytes): starting from ${s.localFile}`,
      `INFO using the local config ${s.localFile}`,
    ]);
    assert.equal(r.skipped.length, 1);
  });

  test('an invalid manager version falls back to the cache, saying why', async () => {
    const s = await setup({ cached: config('cached'), local: config('local') });
    const r = chosen(await chooseStartupConfig({ ...s, fromManager: { version: 9, body: INVALID } }));
    assert.equal(r.source, 'cache');
    const lines = s.logged();
    assert.equal(lines.length, 2);
    assert.match(
      lines[0] as string,
      new RegExp(
        `^WARNING the manager's config version 9 is invalid here \\(krakend\\.json \\(version 9, from the manager\\): version: version 2 is the syntax .*\\): starting from the config cache ${s.cache.path}$`,
      ),
    );
    assert.match(lines[1] as string, /^INFO using config version 4 from the config cache/);
  });

  test("a manager version that does not match its hash is skipped", async () => {
    const s = await setup({ local: config('local') });
    const r = chosen(await chooseStartupConfig({ ...s, fromManager: { version: 9, body: config('m'), hash: sha256('other') } }));
    assert.equal(r.source, 'local');
    assert.deepEqual(r.skipped, [`the manager's config version 9 does not match its hash`, `no config cache at ${s.cache.path}`]);
  });

  test('a cached config the gateway no longer accepts is skipped', async () => {
    const s = await setup({ cached: INVALID, local: config('local') });
    const r = chosen(await chooseStartupConfig(s));
    assert.equal(r.source, 'local');
    assert.match(s.logged()[0] as string, /^WARNING the cached config version 4 is invalid here \(.*version 2 is the syntax/);
  });

  test('nothing usable: the local file\'s issues, and an error line', async () => {
    const s = await setup({ cached: INVALID, local: '{"version": 3, "endpoints": [}' });
    const r = await chooseStartupConfig({ ...s, fromManager: { version: 9, body: INVALID } });
    assert.equal(r.ok, false);
    assert.ok(!r.ok);
    assert.equal(r.issues.length, 1);
    assert.equal(r.issues[0]?.file, s.localFile);
    assert.equal(r.issues[0]?.line, 1);
    assert.equal(r.skipped.length, 3);
    const lines = s.logged();
    assert.equal(lines.length, 3);
    assert.match(lines[0] as string, /^WARNING the manager's config version 9 is invalid here .*: starting from the config cache/);
    assert.match(lines[1] as string, new RegExp(`^WARNING the cached config version 4 is invalid here .*: starting from ${s.localFile}$`));
    assert.match(lines[2] as string, new RegExp(`^ERROR the local config ${s.localFile} is invalid \\(.*\\): no usable config$`));
  });

  test('a missing local file, with nothing else, is an issue naming it', async () => {
    const s = await setup();
    const r = await chooseStartupConfig(s);
    assert.ok(!r.ok);
    assert.deepEqual(r.issues, [{ file: s.localFile, path: '', message: 'cannot read the config file: it does not exist' }]);
    assert.deepEqual(s.logged(), [
      `INFO no config cache at ${s.cache.path}: starting from ${s.localFile}`,
      `ERROR the local config ${s.localFile} is unusable (${s.localFile}: cannot read the config file: it does not exist): no usable config`,
    ]);
  });

  test('warnings of the chosen config are returned, not logged', async () => {
    const text = config('local').replace('"name":"local"', '"name":"local","extra_config":{"custom/x":{}}');
    const s = await setup({ local: text });
    const r = chosen(await chooseStartupConfig(s));
    assert.equal(r.warnings.length, 1);
    assert.ok(s.logged().every((l) => !l.includes('custom/x')));
  });
});
