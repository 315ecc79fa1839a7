import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ErrorCode, isKrakendError } from '../../../src/base/errors.js';
import { FakeClock } from '../../../src/base/fake-clock.js';
import {
  canonicalConfig,
  CONFIG_CURRENT_KEY,
  configHash,
  configVersionKey,
  ConfigVersions,
} from '../../../src/cluster/manager/config-versions.js';
import type { ApplyResult } from '../../../src/cluster/manager/config-versions.js';
import { formatDiff } from '../../../src/cluster/manager/json-diff.js';
import { FileStore, MemoryStore } from '../../../src/cluster/manager/store.js';
import type { Store } from '../../../src/cluster/manager/store.js';

const AUTHOR = { author: 'ops@example.com', note: 'test' };

/** A valid krakend.json with one endpoint per path, formatted with `indent` spaces. */
function config(paths: readonly string[] = ['/a'], extra: Record<string, unknown> = {}, indent = 2): string {
  return JSON.stringify(
    {
      version: 3,
      name: 'gateway',
      ...extra,
      endpoints: paths.map((p) => ({ endpoint: p, backend: [{ host: ['http://127.0.0.1:9'], url_pattern: p }] })),
    },
    null,
    indent,
  );
}

function ok(result: ApplyResult): Extract<ApplyResult, { ok: true }> {
  assert.equal(result.ok, true, result.ok ? '' : result.errors.join('\n'));
  return result as Extract<ApplyResult, { ok: true }>;
}

function failed(result: ApplyResult): Extract<ApplyResult, { ok: false }> {
  assert.equal(result.ok, false, 'expected the apply to fail');
  return result as Extract<ApplyResult, { ok: false }>;
}

function fresh(options: { maxBytes?: number } = {}): { store: MemoryStore; versions: ConfigVersions; clock: FakeClock } {
  const store = new MemoryStore();
  const clock = new FakeClock();
  return { store, versions: new ConfigVersions(store, { clock, ...options }), clock };
}

describe('ConfigVersions.apply', () => {
  test('the first apply is version 1 with the canonical body, its hash, time, author and note', async () => {
    const { versions, clock } = fresh();
    const r = ok(await versions.apply(config(), AUTHOR));
    assert.equal(r.unchanged, false);
    assert.equal(r.dryRun, false);
    assert.equal(r.version.version, 1);
    assert.equal(r.version.body, canonicalConfig(config()));
    assert.equal(r.version.hash, configHash(r.version.body));
    assert.match(r.version.hash, /^[0-9a-f]{64}$/);
    assert.equal(r.version.createdAt, clock.now());
    assert.equal(r.version.author, AUTHOR.author);
    assert.equal(r.version.note, 'test');
    assert.equal(r.version.bytes, Buffer.byteLength(r.version.body));
    assert.equal(r.version.rollbackOf, undefined);
    assert.deepEqual(await versions.current(), r.version);
    // The first diff is against nothing: every top-level key is added.
    assert.deepEqual(
      r.diff.map((e) => `${e.kind} ${e.path}`),
      ['added endpoints', 'added name', 'added version'],
    );
  });

  test('a second, different config is version 2, with the diff from version 1', async () => {
    const { versions } = fresh();
    ok(await versions.apply(config(['/a']), AUTHOR));
    const r = ok(await versions.apply(config(['/a', '/b']), { author: 'bob' }));
    assert.equal(r.version.version, 2);
    assert.equal(r.version.note, '');
    assert.match(formatDiff(r.diff), /^\+ endpoints\[GET \/b\]: /);
    assert.equal(r.diff.length, 1);
  });

  test('the same config again is unchanged: no new version', async () => {
    const { versions, store } = fresh();
    const first = ok(await versions.apply(config(), AUTHOR));
    const revision = await store.revision();
    const again = ok(await versions.apply(config(), { author: 'someone else' }));
    assert.equal(again.unchanged, true);
    assert.deepEqual(again.version, first.version);
    assert.deepEqual(again.diff, []);
    assert.equal(await store.revision(), revision, 'nothing was written');
  });

  test('the hash is stable under key reordering and whitespace', async () => {
    const { versions } = fresh();
    const a = ok(await versions.apply(config(['/a'], {}, 2), AUTHOR));
    const reordered = `\ufeff {"endpoints":[{"backend":[{"url_pattern":"/a","host":["http://127.0.0.1:9"]}],"endpoint":"/a"}],
      "name" : "gateway",   "version":3 }\n`;
    const b = ok(await versions.apply(reordered, AUTHOR));
    assert.equal(b.unchanged, true);
    assert.equal(b.version.hash, a.version.hash);
    assert.equal(canonicalConfig(config(['/a'], {}, 0)), canonicalConfig(config(['/a'], {}, 4)));
  });

  test('big integers and decimals are kept exactly as written', async () => {
    const { versions } = fresh();
    const text = config(['/a']).replace(
      '"name": "gateway"',
      '"name": "gateway", "extra_config": {"custom/ids": {"id": 12345678901234567890123, "ratio": 1.10}}',
    );
    const r = ok(await versions.apply(text, AUTHOR));
    assert.match(r.version.body, /"id":12345678901234567890123/);
    assert.match(r.version.body, /"ratio":1\.10/);
    assert.ok(r.warnings.some((w) => w.includes('custom/ids')), 'the unknown namespace is a warning');
    // A different big integer (equal as a double) is a different config.
    const other = ok(await versions.apply(text.replace('12345678901234567890123', '12345678901234567890124'), AUTHOR));
    assert.equal(other.unchanged, false);
    assert.deepEqual(formatDiff(other.diff), '~ extra_config["custom/ids"].id: 12345678901234567890123 → 12345678901234567890124');
  });

  test('an invalid config is rejected with every issue formatted, and nothing is stored', async () => {
    const { versions, store } = fresh();
    const r = failed(await versions.apply('{"version": 2, "endpoints": []}', AUTHOR));
    assert.equal(r.errors.length, 1);
    assert.match(r.errors[0] as string, /^krakend\.json: version: version 2 is the syntax of KrakenD 1\.x/);
    const syntax = failed(await versions.apply('{"version": 3,\n  "endpoints": [}', AUTHOR));
    assert.match(syntax.errors[0] as string, /^krakend\.json:2:\d+: /);
    assert.equal(await store.revision(), 0);
    assert.equal(await versions.current(), undefined);
  });

  test('a config over the size limit is refused with a clear error', async () => {
    const { versions } = fresh({ maxBytes: 1024 });
    const big = config(Array.from({ length: 40 }, (_, i) => `/endpoint-${i}`));
    assert.ok(Buffer.byteLength(big) > 1024);
    const r = failed(await versions.apply(big, AUTHOR));
    assert.deepEqual(r.errors, [`the config is ${Buffer.byteLength(big)} bytes; the largest accepted is 1024 bytes`]);
  });

  test('the default limit is 8 MiB', async () => {
    const { versions } = fresh();
    const r = failed(await versions.apply(' '.repeat(8 * 1024 * 1024 + 1), AUTHOR));
    assert.match(r.errors[0] as string, /the config is 8\.0 MiB \(8388609 bytes\); the largest accepted is 8 MiB \(8388608 bytes\)/);
  });

  test('an author is required, and author and note are bounded', async () => {
    const { versions } = fresh();
    assert.deepEqual(failed(await versions.apply(config(), { author: ' ' })).errors, ['an author is required']);
    assert.match(failed(await versions.apply(config(), { author: 'a', note: 'n'.repeat(5000) })).errors[0] as string, /note is longer/);
  });

  test('a dry run validates and diffs against the current version without storing', async () => {
    const { versions, store } = fresh();
    ok(await versions.apply(config(['/a']), AUTHOR));
    const revision = await store.revision();
    const r = ok(await versions.apply(config(['/a', '/b']), { ...AUTHOR, dryRun: true }));
    assert.equal(r.dryRun, true);
    assert.equal(r.unchanged, false);
    assert.equal(r.version.version, 2, 'the number it would get');
    assert.equal(r.diff.length, 1);
    assert.equal(await store.revision(), revision);
    assert.equal((await versions.current())?.version, 1);
    assert.equal(ok(await versions.apply(config(['/a']), { ...AUTHOR, dryRun: true })).unchanged, true);
    failed(await versions.apply('{', { ...AUTHOR, dryRun: true }));
  });

  test('two concurrent applies become versions 1 and 2, never two version 1s', async () => {
    const { versions } = fresh();
    const [a, b] = await Promise.all([
      versions.apply(config(['/a']), AUTHOR),
      versions.apply(config(['/b']), AUTHOR),
    ]);
    assert.deepEqual([ok(a).version.version, ok(b).version.version].sort(), [1, 2]);
    assert.deepEqual((await versions.history()).map((v) => v.version), [2, 1]);
  });

  test('two managers over one store race through compare-and-set: distinct versions, the loser diffs against the winner', async () => {
    const store = new MemoryStore();
    let lost = 0;
    const put = store.put.bind(store);
    store.put = async (key, value, options) => {
      const result = await put(key, value, options);
      if (!result.ok && key === CONFIG_CURRENT_KEY) lost++;
      return result;
    };
    const one = new ConfigVersions(store);
    const two = new ConfigVersions(store);
    const results = await Promise.all([
      one.apply(config(['/a']), AUTHOR),
      two.apply(config(['/b']), AUTHOR),
      one.apply(config(['/c']), AUTHOR),
      two.apply(config(['/d']), AUTHOR),
    ]);
    const numbers = results.map((r) => ok(r).version.version).sort();
    assert.deepEqual(numbers, [1, 2, 3, 4]);
    const history = await one.history();
    assert.deepEqual(history.map((v) => v.version), [4, 3, 2, 1]);
    // Every version's body is the one its apply stored, and its diff is from the version before it.
    for (const r of results) {
      const { version, diff } = ok(r);
      assert.equal((await one.get(version.version))?.body, version.body);
      if (version.version > 1) assert.deepEqual(diff, await one.diff(version.version - 1, version.version));
    }
    assert.equal((await one.current())?.version, 4);
    assert.ok(lost > 0, 'the race went through a lost compare-and-set');
  });

  test('concurrent applies of the same config make one version', async () => {
    const store = new MemoryStore();
    const [a, b] = await Promise.all([
      new ConfigVersions(store).apply(config(), AUTHOR),
      new ConfigVersions(store).apply(config(), AUTHOR),
    ]);
    assert.equal(ok(a).version.version, 1);
    assert.equal(ok(b).version.version, 1);
    assert.deepEqual([ok(a).unchanged, ok(b).unchanged].sort(), [false, true]);
  });
});

describe('ConfigVersions: reading, history, diff, rollback, prune', () => {
  test('get, history (newest first, no bodies, limit) and diff', async () => {
    const { versions, clock } = fresh();
    for (const paths of [['/a'], ['/a', '/b'], ['/a', '/b', '/c']]) {
      ok(await versions.apply(config(paths), { author: 'ops', note: `${paths.length} endpoints` }));
      clock.advance(1000);
    }
    assert.equal((await versions.get(2))?.note, '2 endpoints');
    assert.equal(await versions.get(4), undefined);
    assert.equal(await versions.get(0), undefined);
    assert.equal(await versions.get(1.5), undefined);
    const history = await versions.history();
    assert.deepEqual(history.map((v) => v.version), [3, 2, 1]);
    assert.ok(history.every((v) => !('body' in v)));
    assert.equal(history[0]?.createdAt, (history[2]?.createdAt as number) + 2000);
    assert.deepEqual((await versions.history({ limit: 2 })).map((v) => v.version), [3, 2]);
    assert.equal(formatDiff(await versions.diff(1, 3)).split('\n').length, 2);
    assert.match(formatDiff(await versions.diff(3, 1)), /^- endpoints\[GET \/b\]/);
    assert.deepEqual(await versions.diff(2, 2), []);
    await assert.rejects(versions.diff(1, 9), (err: unknown) => {
      assert.ok(isKrakendError(err, ErrorCode.ConfigVersionNotFound));
      assert.equal(err.status, 404);
      assert.match(err.message, /no config version 9/);
      return true;
    });
  });

  test('rollback makes a new version with the old body, recorded as a rollback', async () => {
    const { versions } = fresh();
    const v1 = ok(await versions.apply(config(['/a']), AUTHOR)).version;
    ok(await versions.apply(config(['/a', '/b']), AUTHOR));
    const r = ok(await versions.rollback(1, { author: 'alice' }));
    assert.equal(r.version.version, 3);
    assert.equal(r.version.rollbackOf, 1);
    assert.equal(r.version.body, v1.body);
    assert.equal(r.version.hash, v1.hash);
    assert.equal(r.version.author, 'alice');
    assert.equal(r.version.note, 'rollback to version 1');
    assert.match(formatDiff(r.diff), /^- endpoints\[GET \/b\]/);
    assert.equal((await versions.current())?.version, 3);
    assert.equal((await versions.history())[0]?.rollbackOf, 1);
    // Rolling back to what is already current changes nothing.
    assert.equal(ok(await versions.rollback(3, { author: 'alice' })).unchanged, true);
    assert.deepEqual(failed(await versions.rollback(1, { author: '' })).errors, ['an author is required']);
    await assert.rejects(versions.rollback(7, { author: 'alice' }), (err: unknown) =>
      isKrakendError(err, ErrorCode.ConfigVersionNotFound),
    );
  });

  test('a rollback to a body this gateway no longer accepts is refused with its issues', async () => {
    const { versions, store } = fresh();
    const body = canonicalConfig('{"version": 2, "endpoints": []}');
    const record = { v: 1, version: 1, hash: configHash(body), createdAt: 0, author: 'a', note: '', bytes: body.length, body };
    await store.put(configVersionKey(1), record);
    const r = failed(await versions.rollback(1, AUTHOR));
    assert.equal(r.errors[0], 'version 1 is no longer valid:');
    assert.match(r.errors[1] as string, /^krakend\.json: version: version 2 is the syntax/);
    assert.equal(await versions.current(), undefined);
  });

  test('a rollback dry run stores nothing', async () => {
    const { versions } = fresh();
    ok(await versions.apply(config(['/a']), AUTHOR));
    ok(await versions.apply(config(['/b']), AUTHOR));
    const r = ok(await versions.rollback(1, { author: 'a', dryRun: true }));
    assert.equal(r.version.version, 3);
    assert.equal((await versions.current())?.version, 2);
  });

  test('prune keeps the newest versions and the current one; numbers are never reused', async () => {
    const { versions } = fresh();
    for (let i = 1; i <= 5; i++) ok(await versions.apply(config([`/v${i}`]), AUTHOR));
    ok(await versions.rollback(1, AUTHOR)); // version 6
    assert.deepEqual(await versions.prune(2), [1, 2, 3, 4]);
    assert.deepEqual((await versions.history()).map((v) => v.version), [6, 5]);
    assert.equal(await versions.get(1), undefined);
    await assert.rejects(versions.rollback(1, AUTHOR), (err: unknown) => isKrakendError(err, ErrorCode.ConfigVersionNotFound));
    assert.equal(ok(await versions.apply(config(['/new']), AUTHOR)).version.version, 7);
    assert.deepEqual(await versions.prune(1), [5, 6]);
    assert.deepEqual((await versions.history()).map((v) => v.version), [7]);
    await assert.rejects(versions.prune(0), TypeError);
  });

  test('a current version whose archive write was lost is still listed, readable, and archived by the next apply', async () => {
    const { versions, store } = fresh();
    ok(await versions.apply(config(['/a']), AUTHOR));
    const v2 = ok(await versions.apply(config(['/b']), AUTHOR)).version;
    await store.delete(configVersionKey(2)); // as if the manager died between the two writes
    assert.deepEqual((await versions.history()).map((v) => v.version), [2, 1]);
    assert.deepEqual(await versions.get(2), v2);
    ok(await versions.apply(config(['/c']), AUTHOR));
    assert.ok(await store.get(configVersionKey(2)));
  });

  test('a record that is not a config version is reported as a corrupt store', async () => {
    const { versions, store } = fresh();
    await store.put(CONFIG_CURRENT_KEY, { v: 1, version: 'one' });
    await assert.rejects(versions.current(), (err: unknown) => isKrakendError(err, ErrorCode.StoreCorrupt));
  });
});

describe('ConfigVersions over a FileStore', () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'krakend-config-versions-'));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  test('versions survive closing and reopening the store', async () => {
    const dir = join(root, 'restart');
    let store: Store = await FileStore.open(dir);
    let versions = new ConfigVersions(store);
    const v1 = ok(await versions.apply(config(['/a']), AUTHOR)).version;
    const v2 = ok(await versions.apply(config(['/a', '/b']), { author: 'bob', note: 'add b' })).version;
    await store.close();

    store = await FileStore.open(dir);
    versions = new ConfigVersions(store);
    assert.deepEqual(await versions.current(), v2);
    assert.deepEqual(await versions.get(1), v1);
    assert.deepEqual((await versions.history()).map((v) => [v.version, v.author, v.note]), [
      [2, 'bob', 'add b'],
      [1, AUTHOR.author, AUTHOR.note],
    ]);
    assert.equal(ok(await versions.apply(config(['/c']), AUTHOR)).version.version, 3);
    assert.equal(ok(await versions.apply(config(['/c']), AUTHOR)).unchanged, true);
    await store.close();
  });
});
