/**
 * Real manager and node processes on 127.0.0.1 for cluster tests: each started from the built CLIs with its own
 * state directory and free ports, its output captured, and stopped by the test that started it.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const MANAGER_CLI = fileURLToPath(new URL('../../src/cli/krakend-cluster-manager.js', import.meta.url));
const NODE_CLI = fileURLToPath(new URL('../../src/cli/krakend.js', import.meta.url));

export interface Proc {
  child: ChildProcess;
  output(): string;
  /** Resolves with the exit code once the process has exited. */
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

function start(cli: string, args: string[], env: Record<string, string> = {}): Proc {
  const child = spawn(process.execPath, [cli, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let out = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    output: () => out,
    exited,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill(signal);
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        const code = await exited;
        clearTimeout(timer);
        return code;
      }
      return child.exitCode;
    },
  };
}

/** Polls `check` until it returns a truthy value or the deadline passes. */
export async function waitFor<T>(what: string, check: () => T | Promise<T>, timeoutMs: number, everyMs = 50): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export interface ManagerProc extends Proc {
  clusterPort: number;
  webPort: number;
  stateDir: string;
  api(path: string, init?: RequestInit): Promise<Response>;
  nodes(): Promise<Array<Record<string, unknown>>>;
}

export async function startManager(options: { stateDir?: string; args?: string[]; env?: Record<string, string> } = {}): Promise<ManagerProc> {
  const stateDir = options.stateDir ?? tempDir('cm-');
  // An empty config file of its own, so a host's /etc/krakend/cluster-manager.yml never leaks into a test.
  writeFileSync(join(stateDir, 'none.yml'), '');
  const proc = start(
    MANAGER_CLI,
    [
      '--state-dir', stateDir,
      '--cluster-port', '0',
      '--web-port', '0',
      '--bind', '127.0.0.1',
      '--web-bind', '127.0.0.1',
      '--heartbeat', '200ms',
      '--grace-period', '2s',
      '--preset', 'local',
      ...(options.args ?? []),
    ],
    { KRAKEND_CM_CONFIG: join(stateDir, 'none.yml'), ...options.env },
  );
  const m = await waitFor(
    'the manager to listen',
    () => {
      if (proc.child.exitCode !== null) throw new Error(`manager exited:\n${proc.output()}`);
      return /listening: cluster port (\d+), web port (\d+)/.exec(proc.output());
    },
    15_000,
  );
  const webPort = Number(m[2]);
  const api = (path: string, init?: RequestInit) => fetch(`http://127.0.0.1:${webPort}${path}`, init);
  return {
    ...proc,
    clusterPort: Number(m[1]),
    webPort,
    stateDir,
    api,
    nodes: async () => ((await (await api('/api/v1/nodes')).json()) as { nodes: Array<Record<string, unknown>> }).nodes,
  };
}

export interface NodeProc extends Proc {
  port: number;
  stateDir: string;
  dir: string;
  url: string;
}

/** A node in cluster mode: writes its service.yml and krakend.json, starts it, waits until it listens. */
export async function startNode(options: {
  seed: string;
  krakendJson: string;
  dir?: string;
  serviceExtra?: string;
}): Promise<NodeProc> {
  const dir = options.dir ?? tempDir('node-');
  const stateDir = join(dir, 'state');
  mkdirSync(stateDir, { recursive: true });
  writeFileSync(join(dir, 'krakend.json'), options.krakendJson);
  writeFileSync(
    join(dir, 'service.yml'),
    `seed: ${options.seed}\nstate_dir: ${stateDir}\nport: 0\nbind: 127.0.0.1:0\npreset: local\n${options.serviceExtra ?? ''}`,
  );
  const proc = start(NODE_CLI, ['run', '-c', join(dir, 'krakend.json'), '--service', join(dir, 'service.yml')]);
  const m = await waitFor(
    'the node to listen',
    () => {
      if (proc.child.exitCode !== null) throw new Error(`node exited:\n${proc.output()}`);
      return /Listening on port: (\d+)/.exec(proc.output());
    },
    15_000,
  );
  const port = Number(m[1]);
  return { ...proc, port, stateDir, dir, url: `http://127.0.0.1:${port}` };
}

export { NODE_CLI, MANAGER_CLI, start as startProcess };
