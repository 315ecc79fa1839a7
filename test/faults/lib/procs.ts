/**
 * Processes the suite starts on a host: output kept in a log file (for a post-mortem) and a bounded tail in
 * memory (to match log lines and explain failures), signals, and a stop that always ends in SIGKILL.
 */
import type { ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import type { WriteStream } from 'node:fs';
import type { Host } from '../network.js';

const TAIL_BYTES = 256 * 1024;
const STOP_GRACE_MS = 10_000;

export interface Proc {
  readonly name: string;
  readonly child: ChildProcess;
  /** The last TAIL_BYTES of stdout and stderr together. */
  output(): string;
  /** Resolves once the process exited (with its code, or its signal's name). */
  readonly exited: Promise<number | string | null>;
  running(): boolean;
  signal(sig: NodeJS.Signals): void;
  /** SIGTERM (or `sig`), then SIGKILL after a grace time; resolves once the process is gone. */
  stop(sig?: NodeJS.Signals): Promise<number | string | null>;
}

export interface StartOptions {
  cwd?: string;
  env?: Record<string, string>;
  logFile: string;
}

export function startProc(host: Host, name: string, args: readonly string[], options: StartOptions): Proc {
  const child = host.spawn(process.execPath, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(options.cwd ? { cwd: options.cwd } : {}),
    env: { ...process.env, ...options.env },
  });
  const log: WriteStream = createWriteStream(options.logFile, { flags: 'a' });
  log.on('error', () => {});
  log.write(`---- ${new Date().toISOString()} start ${name}: ${args.join(' ')}\n`);
  let tail = '';
  const collect = (chunk: Buffer) => {
    log.write(chunk);
    tail += chunk.toString();
    if (tail.length > TAIL_BYTES) tail = tail.slice(tail.length - TAIL_BYTES / 2);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<number | string | null>((resolve) => {
    child.once('exit', (code, signal) => {
      log.end(`---- ${new Date().toISOString()} exit ${name}: ${code ?? signal}\n`);
      resolve(code ?? signal);
    });
    child.once('error', (err) => {
      tail += `\nspawn error: ${err.message}\n`;
      resolve(null);
    });
  });
  const running = () => child.exitCode === null && child.signalCode === null && child.pid !== undefined;
  return {
    name,
    child,
    output: () => tail,
    exited,
    running,
    signal: (sig) => {
      if (running()) child.kill(sig);
    },
    async stop(sig: NodeJS.Signals = 'SIGTERM') {
      if (!running()) return exited;
      // A stopped process would never act on SIGTERM.
      child.kill('SIGCONT');
      child.kill(sig);
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      const result = await exited;
      clearTimeout(timer);
      return result;
    },
  };
}

/** Polls `check` until it returns a truthy value; throws with `what` and the last error at the deadline. */
export async function waitFor<T>(what: string, check: () => T | Promise<T>, timeoutMs: number, everyMs = 100): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (${String((last as Error).message ?? last)})` : ''}`);
    await sleep(everyMs);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
