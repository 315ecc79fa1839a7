import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { writeFileAtomic } from '../../src/base/atomic-file.js';
import { ErrorCode, isKrakendError } from '../../src/base/errors.js';

let root: string;
let n = 0;

/** A fresh, empty directory per test, so that "nothing left behind" can be checked by listing it. */
async function freshDir(): Promise<string> {
  const dir = join(root, `case-${n++}`);
  await mkdir(dir);
  return dir;
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'krakend-atomic-'));
});

after(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('writeFileAtomic', () => {
  test('writes a string to a new file', async () => {
    const dir = await freshDir();
    const path = join(dir, 'state.json');
    await writeFileAtomic(path, '{"a":1}\n');
    assert.equal(await readFile(path, 'utf8'), '{"a":1}\n');
  });

  test('writes bytes exactly, including non-UTF-8 ones', async () => {
    const dir = await freshDir();
    const path = join(dir, 'blob.bin');
    const bytes = new Uint8Array([0, 255, 0xc3, 0x28, 10, 13, 0]);
    await writeFileAtomic(path, bytes);
    assert.deepEqual(new Uint8Array(await readFile(path)), bytes);
  });

  test('writes an empty file', async () => {
    const dir = await freshDir();
    const path = join(dir, 'empty');
    await writeFileAtomic(path, '');
    assert.equal((await stat(path)).size, 0);
  });

  test('replaces existing content entirely, even when the new content is shorter', async () => {
    const dir = await freshDir();
    const path = join(dir, 'state.json');
    await writeFile(path, 'x'.repeat(10_000));
    await writeFileAtomic(path, 'short');
    assert.equal(await readFile(path, 'utf8'), 'short');
  });

  test('leaves no temporary file behind after writing and replacing', async () => {
    const dir = await freshDir();
    const path = join(dir, 'state.json');
    await writeFileAtomic(path, 'one');
    await writeFileAtomic(path, 'two');
    assert.deepEqual(await readdir(dir), ['state.json']);
  });

  test('creates the file readable and writable by its owner only, unless told otherwise', async (t) => {
    if (process.platform === 'win32') return t.skip('POSIX modes');
    const dir = await freshDir();
    await writeFileAtomic(join(dir, 'secret'), 's');
    assert.equal((await stat(join(dir, 'secret'))).mode & 0o777, 0o600);
    await writeFileAtomic(join(dir, 'public'), 'p', { mode: 0o644 });
    assert.equal((await stat(join(dir, 'public'))).mode & 0o777, 0o644);
  });

  test('fails with E_FILE_WRITE naming the path when the directory does not exist, and leaves nothing behind', async () => {
    const dir = await freshDir();
    const path = join(dir, 'missing', 'state.json');
    await assert.rejects(writeFileAtomic(path, 'data'), (err) => {
      assert.ok(isKrakendError(err, ErrorCode.FileWrite), String(err));
      assert.ok(err.message.includes(path), err.message);
      assert.equal((err.cause as NodeJS.ErrnoException).code, 'ENOENT');
      return true;
    });
    assert.deepEqual(await readdir(dir), []);
  });

  test('fails with E_FILE_WRITE when the target is a directory, keeping the directory and cleaning up', async () => {
    const dir = await freshDir();
    const target = join(dir, 'taken');
    await mkdir(target);
    await writeFile(join(target, 'inside'), 'kept');
    await assert.rejects(writeFileAtomic(target, 'data'), (err) => isKrakendError(err, ErrorCode.FileWrite));
    assert.deepEqual(await readdir(dir), ['taken'], 'the temporary file was removed');
    assert.equal(await readFile(join(target, 'inside'), 'utf8'), 'kept');
  });

  test('concurrent writes to one file end with exactly one complete content, never a mix', async () => {
    const dir = await freshDir();
    const path = join(dir, 'state.json');
    const contents = Array.from({ length: 16 }, (_, i) => `${String(i).padStart(2, '0')}:`.repeat(64 * 1024));
    await Promise.all(contents.map((c) => writeFileAtomic(path, c)));
    const final = await readFile(path, 'utf8');
    assert.ok(contents.includes(final), `final content is not one of the writes (length ${final.length})`);
    assert.deepEqual(await readdir(dir), ['state.json']);
  });

  test('a reader racing the writers only ever sees a whole old or new content', async () => {
    const dir = await freshDir();
    const path = join(dir, 'state.json');
    const contents = Array.from({ length: 8 }, (_, i) => String.fromCharCode(97 + i).repeat(256 * 1024));
    await writeFileAtomic(path, contents[0]!);
    const writes = Promise.all(contents.map((c) => writeFileAtomic(path, c)));
    const seen: string[] = [];
    let done = false;
    void writes.finally(() => (done = true));
    for (let i = 0; i < 200 && !done; i++) seen.push(await readFile(path, 'utf8'));
    await writes;
    seen.push(await readFile(path, 'utf8'));
    for (const s of seen) assert.ok(contents.includes(s), `a reader saw a partial or mixed file (length ${s.length})`);
  });
});
