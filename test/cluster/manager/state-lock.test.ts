import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FakeClock } from '../../../src/base/fake-clock.js';
import { systemClock } from '../../../src/base/clock.js';
import { acquireStateLock, LOCK_FILE } from '../../../src/cluster/manager/state-lock.js';
import { startManager, tempDir } from '../../helpers/cluster.js';

const MANAGER_CLI = fileURLToPath(new URL('../../../src/cli/krakend-cluster-manager.js', import.meta.url));

test('the lock names its holder and goes away on release', async () => {
  const dir = tempDir('lock-');
  const lock = await acquireStateLock(dir, systemClock);
  const body = JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')) as { pid: number; host: string };
  assert.deepEqual([body.pid, body.host], [process.pid, hostname()]);
  await lock.release();
  assert.equal(existsSync(join(dir, LOCK_FILE)), false);
});

test('a running process on this host holds it; once that process is gone the lock is stale and taken over', async () => {
  const dir = tempDir('lock-');
  const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)'], { stdio: 'ignore' });
  try {
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: other.pid, host: hostname(), refreshedAt: 0 }));
    await assert.rejects(acquireStateLock(dir, systemClock), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'E_STATE_LOCKED');
      assert.match(err.message, new RegExp(`in use by the manager with pid ${other.pid} on this host`));
      assert.match(err.message, /delete .*LOCK/);
      return true;
    });
  } finally {
    other.kill('SIGKILL');
    await new Promise((r) => other.once('exit', r));
  }
  const lock = await acquireStateLock(dir, systemClock);
  await lock.release();
});

test('a holder on another host is trusted while it refreshes the lock, and presumed gone after 30 s', async () => {
  const dir = tempDir('lock-');
  const clock = new FakeClock({ epoch: 1_800_000_000_000 });
  writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: 4242, host: 'elsewhere', refreshedAt: clock.now() - 5_000 }));
  await assert.rejects(acquireStateLock(dir, clock), /pid 4242 on host elsewhere \(lock refreshed 5 s ago\)/);
  clock.advance(30_000);
  const lock = await acquireStateLock(dir, clock);
  await lock.release();
});

test('a lock of this very process (an in-process restart) or an unreadable one is taken over', async () => {
  const dir = tempDir('lock-');
  writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: process.pid, host: hostname(), refreshedAt: 0 }));
  await (await acquireStateLock(dir, systemClock)).release();
  writeFileSync(join(dir, LOCK_FILE), '{"pid": 12');
  await (await acquireStateLock(dir, systemClock)).release();
});

test('a second manager process on the same state directory refuses to start, naming the first', async () => {
  const first = await startManager();
  try {
    const second = spawn(process.execPath, [MANAGER_CLI, '--state-dir', first.stateDir, '--cluster-port', '0', '--web-port', '0', '--bind', '127.0.0.1', '--web-bind', '127.0.0.1'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, KRAKEND_CM_CONFIG: join(first.stateDir, 'none.yml') },
    });
    let out = '';
    second.stdout.on('data', (c: Buffer) => (out += c.toString()));
    second.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const timer = setTimeout(() => second.kill('SIGKILL'), 15_000);
    const code = await new Promise<number | null>((r) => second.once('exit', (c) => r(c)));
    clearTimeout(timer);
    assert.notEqual(code, 0, out);
    assert.match(out, new RegExp(`in use by the manager with pid ${first.child.pid} on this host`));
    assert.equal((await first.api('/__health')).status, 200, 'the first manager runs on');
  } finally {
    await first.stop();
  }
});
