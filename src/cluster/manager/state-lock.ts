/**
 * One manager per state directory. Two managers writing one FileStore would each overwrite the other's snapshot
 * (a manager group replicates its store instead, ARCHITECTURE.md), so the manager holds `<state dir>/LOCK` while
 * it runs: the holder's pid, host and a refresh time it rewrites every REFRESH_MS.
 *
 * A lock is stale, and taken over, when its holder is this very process (an in-process restart), when it was
 * written on this host by a pid that no longer runs, or when it was not refreshed for STALE_MS (a holder on
 * another host sharing the directory, which cannot be asked, is presumed gone then). Otherwise starting fails
 * with a message saying who holds it.
 */
import { hostname } from 'node:os';
import { join } from 'node:path';
import { open, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import type { Clock, TimerHandle } from '../../base/clock.js';
import { ErrorCode, KrakendError } from '../../base/errors.js';

export const LOCK_FILE = 'LOCK';
const REFRESH_MS = 10_000;
const STALE_MS = 3 * REFRESH_MS;

interface LockBody {
  pid: number;
  host: string;
  /** Wall-clock ms of the last refresh. */
  refreshedAt: number;
}

export interface StateLock {
  release(): Promise<void>;
}

export async function acquireStateLock(dir: string, clock: Clock): Promise<StateLock> {
  const path = join(dir, LOCK_FILE);
  const me = (): LockBody => ({ pid: process.pid, host: hostname(), refreshedAt: clock.now() });
  // Bounded: one attempt to create, and at most one takeover of a stale lock before the second attempt.
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(path, 'wx', 0o600);
      await handle.writeFile(JSON.stringify(me()));
      await handle.close();
      return holding(path, me, clock);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new KrakendError(ErrorCode.StateLocked, `cannot create the lock ${path}: ${(err as Error).message}`, { cause: err });
      }
    }
    const held = await readLock(path);
    const why = held === undefined ? undefined : liveHolder(held, clock.now());
    if (why !== undefined) {
      throw new KrakendError(
        ErrorCode.StateLocked,
        `the state directory ${dir} is in use by ${why}: two managers must not share a state directory. ` +
          `If that manager is gone, start again after ${STALE_MS / 1000} s or delete ${path}.`,
      );
    }
    // Stale (or unreadable: a holder that died while writing it): take it over.
    await unlink(path).catch(() => {});
  }
  throw new KrakendError(ErrorCode.StateLocked, `the lock ${path} keeps reappearing: another manager is starting on ${dir}`);
}

function holding(path: string, me: () => LockBody, clock: Clock): StateLock {
  const refresh = async () => {
    // Written aside and renamed, so a reader never sees half a lock.
    const tmp = `${path}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify(me()), { mode: 0o600 });
    await rename(tmp, path);
  };
  const timer: TimerHandle = clock.setInterval(() => void refresh().catch(() => {}), REFRESH_MS);
  (timer as { unref?: () => void }).unref?.();
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      clock.clearInterval(timer);
      const held = await readLock(path);
      if (held?.pid === process.pid && held.host === hostname()) await unlink(path).catch(() => {});
    },
  };
}

async function readLock(path: string): Promise<LockBody | undefined> {
  try {
    const body = JSON.parse(await readFile(path, 'utf8')) as Partial<LockBody>;
    if (typeof body.pid !== 'number' || typeof body.host !== 'string' || typeof body.refreshedAt !== 'number') return undefined;
    return body as LockBody;
  } catch {
    return undefined;
  }
}

/** Who holds the lock, if they may still be running; undefined when the lock is stale. */
function liveHolder(held: LockBody, now: number): string | undefined {
  if (held.host === hostname()) {
    if (held.pid === process.pid) return undefined;
    return pidRuns(held.pid) ? `the manager with pid ${held.pid} on this host` : undefined;
  }
  const age = now - held.refreshedAt;
  return age < STALE_MS ? `the manager with pid ${held.pid} on host ${held.host} (lock refreshed ${Math.round(age / 1000)} s ago)` : undefined;
}

function pidRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it runs, as another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
