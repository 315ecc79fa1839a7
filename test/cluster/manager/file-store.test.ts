import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeFileAtomic } from '../../../src/base/atomic-file.js';
import { ErrorCode, isKrakendError } from '../../../src/base/errors.js';
import { FileStore, STORE_FILE } from '../../../src/cluster/manager/store.js';
import type { CommitInfo } from '../../../src/cluster/manager/store.js';
import { storeContract } from './store.contract.js';

let root: string;
let n = 0;

async function freshDir(): Promise<string> {
  const dir = join(root, `case-${n++}`);
  await mkdir(dir);
  return dir;
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'krakend-store-'));
});

after(async () => {
  await rm(root, { recursive: true, force: true });
});

storeContract('FileStore', { create: async (options) => FileStore.open(await freshDir(), options) });

/** A writer that takes `delayMs` before doing the real atomic write, so that writes pile up behind it. */
function slowWriter(delayMs: number): (path: string, data: string) => Promise<void> {
  return async (path, data) => {
    await sleep(delayMs);
    await writeFileAtomic(path, data, { mode: 0o600 });
  };
}

describe('FileStore', () => {
  test('opening an empty directory writes an empty snapshot at once, owner-only', async (t) => {
    const dir = await freshDir();
    const store = await FileStore.open(join(dir, 'state'));
    t.after(() => store.close());
    const text = await readFile(join(dir, 'state', STORE_FILE), 'utf8');
    assert.deepEqual(JSON.parse(text), { format: 'krakend-cluster-store', format_version: 1, revision: 0, entries: {} });
    if (process.platform !== 'win32') assert.equal((await stat(join(dir, 'state', STORE_FILE))).mode & 0o777, 0o600);
  });

  test('everything acknowledged survives a restart: values, versions, and the revision, which keeps rising', async () => {
    const dir = await freshDir();
    const first = await FileStore.open(dir);
    const a = await first.put('nodes/a', { id: 'a', addresses: { api: '127.0.0.1:8080' } });
    const b = await first.put('nodes/b', 'b');
    await first.put('tmp', 1);
    await first.delete('tmp');
    assert.ok(a.ok && b.ok);
    const revision = await first.revision();
    await first.close();

    const second = await FileStore.open(dir);
    assert.deepEqual(await second.get('nodes/a'), { key: 'nodes/a', value: { id: 'a', addresses: { api: '127.0.0.1:8080' } }, version: a.version });
    assert.equal((await second.get('nodes/b'))?.version, b.version);
    assert.equal(await second.get('tmp'), undefined);
    assert.equal(await second.revision(), revision, 'the deletion\'s revision is kept too');
    const c = await second.put('tmp', 2, { expectedVersion: 0 });
    assert.ok(c.ok && c.version === revision + 1);
    const cas = await second.put('nodes/a', 'new', { expectedVersion: a.version });
    assert.ok(cas.ok, 'versions read before the restart still work for compare-and-set');
    await second.close();
  });

  test('the snapshot holds one entry per line, keys sorted, so an operator can read and diff it', async () => {
    const dir = await freshDir();
    const store = await FileStore.open(dir);
    await store.put('nodes/b', { x: 1 });
    await store.put('nodes/a', 'text');
    await store.close();
    const lines = (await readFile(join(dir, STORE_FILE), 'utf8')).trimEnd().split('\n');
    assert.equal(lines.length, 4);
    assert.match(lines[1] ?? '', /^"nodes\/a":\{"version":2,"value":"text"\},$/);
    assert.match(lines[2] ?? '', /^"nodes\/b":\{"version":1,"value":\{"x":1\}\}$/);
  });

  test('50 concurrent writes are group-committed: a couple of fsync batches, not 50', async () => {
    const dir = await freshDir();
    const commits: CommitInfo[] = [];
    const store = await FileStore.open(dir, { onCommit: (c) => commits.push(c), writeFile: slowWriter(5) });
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => store.put(`nodes/${i}`, { i })));
    assert.ok(results.every((r) => r.ok));
    assert.equal(commits.length, 1, 'writes issued together share one snapshot');
    assert.equal(commits[0]?.writes, 50);
    assert.equal(commits[0]?.revision, 50);
    await store.close();
  });

  test('writes arriving while a snapshot is being written all go into the next one', async () => {
    const dir = await freshDir();
    const commits: CommitInfo[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let slowNext = false;
    const store = await FileStore.open(dir, {
      onCommit: (c) => commits.push(c),
      writeFile: async (path, data) => {
        if (slowNext) {
          slowNext = false;
          await gate; // this snapshot is slow: its fsync takes as long as the 49 joins
        }
        await writeFileAtomic(path, data);
      },
    });
    slowNext = true;
    const firstWrite = store.put('first', 1);
    const late: Array<Promise<unknown>> = [];
    for (let i = 0; i < 49; i++) {
      await sleep(0); // each join arrives on its own turn of the event loop, like sockets
      late.push(store.put(`late/${i}`, i));
    }
    release();
    await Promise.all([firstWrite, ...late]);
    assert.deepEqual(commits.map((c) => c.writes), [1, 49]);
    await store.close();
    const reopened = await FileStore.open(dir);
    assert.equal((await reopened.list('late/')).length, 49);
    await reopened.close();
  });

  test('a read waits for the writes issued before it and sees them', async () => {
    const store = await FileStore.open(await freshDir(), { writeFile: slowWriter(20) });
    const write = store.put('k', 'v');
    assert.equal((await store.get('k'))?.value, 'v');
    assert.ok((await write).ok);
    await store.close();
  });

  test('a failed snapshot rejects its writes and the ones queued behind it, and undoes them', async () => {
    const dir = await freshDir();
    let failNext = false;
    const store = await FileStore.open(dir, {
      writeFile: async (path, data) => {
        await sleep(5);
        if (failNext) {
          failNext = false;
          throw new Error('ENOSPC: no space left on device');
        }
        await writeFileAtomic(path, data);
      },
    });
    const kept = await store.put('k', 'kept');
    assert.ok(kept.ok);
    failNext = true;
    const failing = store.put('k', 'lost', { expectedVersion: kept.version });
    await sleep(1); // the failing snapshot is in flight
    const behind = store.put('other', 'lost too');
    await assert.rejects(failing, (err) => isKrakendError(err, ErrorCode.FileWrite) && /ENOSPC/.test(err.message));
    await assert.rejects(behind, (err) => isKrakendError(err, ErrorCode.FileWrite));
    assert.equal((await store.get('k'))?.value, 'kept');
    assert.equal(await store.get('other'), undefined);

    const retry = await store.put('k', 'second try', { expectedVersion: kept.version });
    assert.ok(retry.ok, 'compare-and-set sees the durable version again');
    assert.ok(retry.version > kept.version + 1, 'revisions of failed writes are not reused');
    await store.close();
    const reopened = await FileStore.open(dir);
    assert.equal((await reopened.get('k'))?.value, 'second try');
    await reopened.close();
  });

  test('a crash mid-write leaves a temporary file: the next open ignores it, removes it, and loads the last snapshot', async () => {
    const dir = await freshDir();
    const store = await FileStore.open(dir);
    await store.put('nodes/a', 'durable');
    await store.close();
    // What writeFileAtomic leaves when the process dies between creating its temp file and the rename.
    const temp = `.${STORE_FILE}.4242.deadbeef.tmp`;
    await writeFile(join(dir, temp), '{"format":"krakend-cluster-store","format_version":1,"revision":9,"entr');
    await writeFile(join(dir, 'unrelated.tmp'), 'not ours');

    const reopened = await FileStore.open(dir);
    assert.equal((await reopened.get('nodes/a'))?.value, 'durable');
    assert.equal(await reopened.revision(), 1);
    assert.deepEqual((await readdir(dir)).sort(), [STORE_FILE, 'unrelated.tmp']);
    await reopened.close();
  });

  test('a corrupt snapshot fails the open with E_STORE_CORRUPT naming the file, and is left untouched', async () => {
    const cases: Array<[string, string, RegExp]> = [
      ['truncated JSON', '{"format":"krakend-cluster-store","format_version":1,"revision":3,"entries":{"a":', /not JSON/],
      ['empty file', '', /not JSON/],
      ['another format', '{"format":"something-else"}', /"format"/],
      ['a future format', '{"format":"krakend-cluster-store","format_version":2,"revision":0,"entries":{}}', /format_version 2/],
      ['a bad revision', '{"format":"krakend-cluster-store","format_version":1,"revision":-1,"entries":{}}', /revision/],
      [
        'an entry newer than the revision',
        '{"format":"krakend-cluster-store","format_version":1,"revision":1,"entries":{"a":{"version":5,"value":1}}}',
        /version 5 outside 1\.\.1/,
      ],
      ['an entry without a value', '{"format":"krakend-cluster-store","format_version":1,"revision":1,"entries":{"a":{"version":1}}}', /no value/],
    ];
    for (const [name, text, why] of cases) {
      const dir = await freshDir();
      const path = join(dir, STORE_FILE);
      await writeFile(path, text);
      await assert.rejects(
        FileStore.open(dir),
        (err) => {
          assert.ok(isKrakendError(err, ErrorCode.StoreCorrupt), `${name}: ${String(err)}`);
          assert.ok(err.message.includes(path), err.message);
          assert.match(err.message, why, name);
          return true;
        },
        name,
      );
      assert.equal(await readFile(path, 'utf8'), text, `${name}: the file is not rewritten`);
    }
  });

  test('a snapshot that is a directory cannot be read and says so', async () => {
    const dir = await freshDir();
    await mkdir(join(dir, STORE_FILE));
    await assert.rejects(FileStore.open(dir), (err) => isKrakendError(err, ErrorCode.StoreCorrupt) && /cannot read/.test(err.message));
  });

  test('what a watcher of a FileStore sees is durable: it is on disk when the listener runs', async () => {
    const dir = await freshDir();
    const store = await FileStore.open(dir);
    const onDiskWhenNotified: boolean[] = [];
    store.watch('', (e) => {
      onDiskWhenNotified.push(readFileSync(join(dir, STORE_FILE), 'utf8').includes(JSON.stringify(e.key)));
    });
    await store.put('nodes/a', 1);
    await Promise.all([store.put('nodes/b', 2), store.put('nodes/c', 3)]);
    assert.deepEqual(onDiskWhenNotified, [true, true, true]);
    await store.close();
  });
});
