/**
 * The benchmark's child processes: start them, talk to them, read their CPU time, and make sure none outlives the
 * benchmark, whether it ends normally, by an error or by Ctrl-C. Every wait here has a deadline.
 */
import { fork, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** USER_HZ: the unit of utime and stime in /proc/<pid>/stat, 100 on every Linux we run on. */
export const CLOCK_TICKS_PER_SEC = 100;

/** Output kept per child, for error messages: enough for a stack trace, bounded for a chatty process. */
const OUTPUT_LIMIT = 64 * 1024;

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class ManagedChild {
  readonly name: string;
  readonly process: ChildProcess;
  readonly exited: Promise<ChildExit>;
  private exit: ChildExit | undefined;
  private text = '';
  private readonly outputListeners = new Set<() => void>();

  constructor(name: string, child: ChildProcess) {
    this.name = name;
    this.process = child;
    const onData = (chunk: Buffer) => {
      this.text += chunk.toString('utf8');
      if (this.text.length > OUTPUT_LIMIT) this.text = this.text.slice(-OUTPUT_LIMIT / 2);
      for (const listener of this.outputListeners) listener();
    };
    // Pipes are always drained: a child blocked on a full stdout pipe would stall mid-benchmark.
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    this.exited = new Promise((resolve) => {
      child.on('error', (err) => {
        this.text += `\n[spawn error] ${err.message}\n`;
        if (child.pid === undefined && !this.exit) {
          this.exit = { code: null, signal: null };
          resolve(this.exit);
        }
      });
      child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        resolve(this.exit);
      });
    });
  }

  get pid(): number {
    if (this.process.pid === undefined) throw new Error(`${this.name} has no pid (it failed to start)\n${this.output()}`);
    return this.process.pid;
  }

  get alive(): boolean {
    return this.exit === undefined;
  }

  /** Its stdout and stderr so far (the tail of it, for a long-lived child). */
  output(): string {
    return this.text;
  }

  describeExit(): string {
    if (!this.exit) return `${this.name} is running`;
    const how = this.exit.signal ? `signal ${this.exit.signal}` : `code ${this.exit.code}`;
    const out = this.text.trim();
    return `${this.name} exited (${how})${out ? `; its output:\n${out}` : ''}`;
  }

  /** Resolves with the first match of `pattern` in the child's output. */
  waitForOutput(pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray> {
    return this.waitFor(timeoutMs, `"${pattern.source}" in its output`, (resolve) => {
      const check = () => {
        const m = pattern.exec(this.text);
        if (m) resolve(m);
      };
      this.outputListeners.add(check);
      check();
      return () => this.outputListeners.delete(check);
    });
  }

  /** Resolves with the next IPC message (sending `message` first, when given). */
  request<T>(message: unknown, timeoutMs: number): Promise<T> {
    return this.waitFor(timeoutMs, 'an IPC message', (resolve) => {
      const onMessage = (m: unknown) => resolve(m as T);
      this.process.once('message', onMessage);
      if (message !== undefined) this.process.send(message as object);
      return () => this.process.off('message', onMessage);
    });
  }

  private waitFor<T>(timeoutMs: number, what: string, listen: (resolve: (value: T) => void) => () => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let unlisten = () => {};
      const done = (fn: () => void) => {
        clearTimeout(timer);
        unlisten();
        fn();
      };
      const timer = setTimeout(
        () => done(() => reject(new Error(`${this.name}: no ${what} within ${timeoutMs} ms\n${this.text.trim()}`))),
        timeoutMs,
      );
      void this.exited.then(() => done(() => reject(new Error(`while waiting for ${what}: ${this.describeExit()}`))));
      unlisten = listen((value) => done(() => resolve(value)));
    });
  }
}

export interface ForkOptions {
  env?: NodeJS.ProcessEnv;
  execArgv?: string[];
}

/** The set of children of one benchmark run. */
export class ProcessGroup {
  private readonly children = new Set<ManagedChild>();

  /** A Node module as a child with an IPC channel. */
  fork(name: string, modulePath: string, options: ForkOptions = {}): ManagedChild {
    const child = fork(modulePath, [], {
      env: options.env ?? process.env,
      execArgv: options.execArgv ?? [],
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    return this.add(name, child);
  }

  /** Any command, run directly (no shell, no npx), so that its pid is the process doing the work. */
  spawn(name: string, command: string, args: string[], env: NodeJS.ProcessEnv = process.env): ManagedChild {
    return this.add(name, spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] }));
  }

  /** Throws when a long-lived child has died: figures measured against a dead target would be nonsense. */
  assertAlive(): void {
    for (const child of this.children) if (!child.alive) throw new Error(child.describeExit());
  }

  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
  async stop(child: ManagedChild, graceMs = 5_000): Promise<ChildExit> {
    this.children.delete(child);
    if (child.alive) child.process.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const killed = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        if (child.alive) child.process.kill('SIGKILL');
        resolve();
      }, graceMs);
    });
    await Promise.race([child.exited, killed]);
    clearTimeout(timer);
    return child.exited;
  }

  async stopAll(graceMs = 5_000): Promise<void> {
    await Promise.all([...this.children].map((c) => this.stop(c, graceMs)));
  }

  /** For `process.on('exit')`, where nothing asynchronous runs any more. */
  killAllSync(): void {
    for (const child of this.children) if (child.alive) child.process.kill('SIGKILL');
    this.children.clear();
  }

  private add(name: string, child: ChildProcess): ManagedChild {
    const managed = new ManagedChild(name, child);
    this.children.add(managed);
    return managed;
  }
}

/** CPU time (user + system, all threads) a process has used so far, in seconds. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may contain spaces and parentheses: fields are counted from its closing one.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error(`cannot parse /proc/${pid}/stat: ${stat}`);
  return (utime + stime) / CLOCK_TICKS_PER_SEC;
}
