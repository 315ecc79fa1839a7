import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FakeClock } from '../../../src/base/fake-clock.js';
import { ConfigCache, CONFIG_CACHE_FILE } from '../../../src/cluster/agent/config-cache.js';
import type { ConfigCacheLoad } from '../../../src/cluster/agent/config-cache.js';
import { generateKey, keyIdOf, parseKey } from '../../../src/cluster/wire/keyring.js';

const BODY = '{"endpoints":[{"backend":[{"url_pattern":"/a"}],"endpoint":"/a"}],"extra_config":{"auth":{"secret":"s3cr3t"}},"version":3}';
const HASH = createHash('sha256').update(BODY).digest('hex');
const LEASES = { epoch: 3, leases: [{ limit_id: 'l1', rate: 12.5, capacity: 40, safe_share: 5 }] };

let root: string;
let n = 0;
async function freshDir(): Promise<string> {
  const dir = join(root, `case-${n++}`);
  await mkdir(dir);
  return dir;
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'krakend-config-cache-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

function reasonOf(result: ConfigCacheLoad): string {
  assert.equal(result.ok, false, 'expected the cache to be refused');
  return (result as Extract<ConfigCacheLoad, { ok: false }>).reason;
}

async function roundTrip(cache: ConfigCache, clock: FakeClock): Promise<void> {
  await cache.save({ version: 7, hash: HASH, body: BODY, leases: LEASES });
  const loaded = await cache.load();
  assert.ok(loaded.ok, loaded.ok ? '' : loaded.reason);
  assert.deepEqual(loaded.entry, { version: 7, hash: HASH, body: BODY, leases: LEASES, savedAt: clock.now() });
}

describe('ConfigCache', () => {
  test('round trip without a key: plain JSON, mode 0600', async () => {
    const dir = await freshDir();
    const clock = new FakeClock();
    const cache = new ConfigCache(dir, { clock });
    assert.equal(cache.encrypted, false);
    assert.equal(cache.path, join(dir, CONFIG_CACHE_FILE));
    await roundTrip(cache, clock);
    const text = await readFile(cache.path, 'utf8');
    assert.equal(JSON.parse(text).body, BODY);
    assert.equal((await stat(cache.path)).mode & 0o777, 0o600);
  });

  test('round trip with a key: the file is encrypted (no secret in it), mode 0600', async () => {
    const dir = await freshDir();
    const clock = new FakeClock();
    const cache = new ConfigCache(dir, { clusterKeys: [generateKey()], clock });
    assert.equal(cache.encrypted, true);
    await roundTrip(cache, clock);
    const data = await readFile(cache.path);
    assert.equal(data.subarray(0, 4).toString('latin1'), 'KDCC');
    assert.ok(!data.includes('s3cr3t'), 'the config is not readable on disk');
    assert.ok(!data.includes('endpoints'));
    assert.equal((await stat(cache.path)).mode & 0o777, 0o600);
  });

  test('save creates the state directory and replaces the previous entry', async () => {
    const dir = join(await freshDir(), 'nested', 'state');
    const cache = new ConfigCache(dir, { clusterKeys: [generateKey()] });
    await cache.save({ version: 1, hash: HASH, body: BODY });
    await cache.save({ version: 2, hash: HASH, body: BODY, leases: [] });
    const loaded = await cache.load();
    assert.ok(loaded.ok);
    assert.equal(loaded.entry.version, 2);
    assert.deepEqual(loaded.entry.leases, []);
    assert.equal((await stat(dir)).mode & 0o777, 0o700);
  });

  test('save refuses a body that does not match its hash', async () => {
    const cache = new ConfigCache(await freshDir());
    await assert.rejects(cache.save({ version: 1, hash: HASH, body: `${BODY} ` }), TypeError);
    assert.equal(reasonOf(await cache.load()), 'missing');
  });

  test('a key rotation is recognised: saved under A, loaded with [B, A]', async () => {
    const dir = await freshDir();
    const a = generateKey();
    const b = generateKey();
    await new ConfigCache(dir, { clusterKeys: [a] }).save({ version: 3, hash: HASH, body: BODY });
    const loaded = await new ConfigCache(dir, { clusterKeys: [b, a] }).load();
    assert.ok(loaded.ok, loaded.ok ? '' : loaded.reason);
    assert.equal(loaded.entry.body, BODY);
  });

  test('a wrong key is refused', async () => {
    const dir = await freshDir();
    await new ConfigCache(dir, { clusterKeys: [generateKey()] }).save({ version: 3, hash: HASH, body: BODY });
    const reason = reasonOf(await new ConfigCache(dir, { clusterKeys: [generateKey()] }).load());
    // Either the id differs (254 chances in 255) or the authentication fails.
    assert.match(reason, /not among the configured keys|authentication failed/);
  });

  test('a wrong key whose id matches the header fails authentication', async () => {
    const dir = await freshDir();
    await new ConfigCache(dir, { clusterKeys: [generateKey()] }).save({ version: 3, hash: HASH, body: BODY });
    // Point the header at another key's id (as an id collision would): the tag must still refuse the file.
    const otherKey = generateKey();
    const other = new ConfigCache(dir, { clusterKeys: [otherKey] });
    const data = await readFile(other.path);
    data[5] = keyIdOf(parseKey(otherKey));
    await writeFile(other.path, data);
    assert.match(reasonOf(await other.load()), /authentication failed/);
  });

  test('every single flipped byte is detected', async () => {
    const dir = await freshDir();
    const key = generateKey();
    const cache = new ConfigCache(dir, { clusterKeys: [key] });
    await cache.save({ version: 3, hash: HASH, body: BODY });
    const original = await readFile(cache.path);
    for (let i = 0; i < original.length; i++) {
      const tampered = Buffer.from(original);
      tampered[i] = (tampered[i] as number) ^ 0x01;
      await writeFile(cache.path, tampered);
      const result = await cache.load();
      assert.equal(result.ok, false, `byte ${i} flipped and still accepted`);
    }
  });

  test('a truncated file is refused, encrypted or not', async () => {
    const dir = await freshDir();
    const sealed = new ConfigCache(dir, { clusterKeys: [generateKey()] });
    await sealed.save({ version: 3, hash: HASH, body: BODY });
    const data = await readFile(sealed.path);
    for (const length of [0, 3, 10, data.length - 1]) {
      await writeFile(sealed.path, data.subarray(0, length));
      assert.equal((await sealed.load()).ok, false, `${length} bytes accepted`);
    }
    await writeFile(sealed.path, data.subarray(0, 20));
    assert.match(reasonOf(await sealed.load()), /^truncated: 20 bytes$/);

    const plain = new ConfigCache(await freshDir());
    await plain.save({ version: 3, hash: HASH, body: BODY });
    const text = await readFile(plain.path, 'utf8');
    await writeFile(plain.path, text.slice(0, text.length / 2));
    assert.match(reasonOf(await plain.load()), /^not valid JSON/);
  });

  test('corrupt JSON, a wrong format, a missing field and a body that does not match its hash are refused', async () => {
    const cache = new ConfigCache(await freshDir());
    const doc = { format: 'krakend-cluster config cache', format_version: 1, version: 3, hash: HASH, body: BODY, leases: null, savedAt: 1 };
    const cases: Array<[string, RegExp]> = [
      ['{"format": ', /^not valid JSON/],
      ['garbage', /unknown header/],
      ['[1]', /unknown header/],
      [JSON.stringify({ ...doc, format: 'other' }), /"format" is not/],
      [JSON.stringify({ ...doc, format_version: 2 }), /unsupported format version 2/],
      [JSON.stringify({ ...doc, version: -1 }), /"version"/],
      [JSON.stringify({ ...doc, hash: 'abc' }), /"hash"/],
      [JSON.stringify({ ...doc, body: 5 }), /"body"/],
      [JSON.stringify({ ...doc, leases: undefined }), /"leases" is missing/],
      [JSON.stringify({ ...doc, body: BODY.replace('s3cr3t', 'other!') }), /does not match its hash/],
    ];
    for (const [text, reason] of cases) {
      await writeFile(cache.path, text);
      assert.match(reasonOf(await cache.load()), reason, text);
    }
    await writeFile(cache.path, JSON.stringify(doc));
    assert.equal((await cache.load()).ok, true);
  });

  test('a plain file is refused when a key is configured, an encrypted one when none is', async () => {
    const dir = await freshDir();
    await new ConfigCache(dir).save({ version: 3, hash: HASH, body: BODY });
    assert.match(reasonOf(await new ConfigCache(dir, { clusterKeys: [generateKey()] }).load()), /not encrypted, but a cluster key is configured/);
    await new ConfigCache(dir, { clusterKeys: [generateKey()] }).save({ version: 3, hash: HASH, body: BODY });
    assert.match(reasonOf(await new ConfigCache(dir).load()), /encrypted, and no cluster key is configured/);
  });

  test('a missing file is "missing"; an unreadable path says why', async () => {
    const dir = await freshDir();
    assert.equal(reasonOf(await new ConfigCache(dir).load()), 'missing');
    assert.equal(reasonOf(await new ConfigCache(join(dir, 'nope')).load()), 'missing');
    await mkdir(join(dir, CONFIG_CACHE_FILE));
    assert.equal(reasonOf(await new ConfigCache(dir).load()), 'not a regular file');
  });

  test('a bad cluster key is refused when the cache is built', () => {
    assert.throws(() => new ConfigCache('/tmp/x', { clusterKeys: ['not a key'] }), /cluster key/);
  });
});
