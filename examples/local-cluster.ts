/**
 * `npm start`: a local cluster on 127.0.0.1 — the example backend, one Cluster Manager and two gateway nodes on
 * examples/krakend.json — with every process's output prefixed, until Ctrl-C stops all of it.
 * State lives in ./.local-cluster (delete it to start afresh).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createExampleBackend } from './backend.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const home = join(root, '.local-cluster');
const MANAGER_PORT = 7000;
const WEB_PORT = 9897;
const NODE_PORTS = [8080, 8081];

const children: ChildProcess[] = [];

function run(name: string, args: string[], env: Record<string, string> = {}): ChildProcess {
  const child = spawn(process.execPath, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const prefix = `${name.padEnd(8)}| `;
  const relay = (stream: NodeJS.WritableStream) => (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n')) if (line) stream.write(prefix + line + '\n');
  };
  child.stdout?.on('data', relay(process.stdout));
  child.stderr?.on('data', relay(process.stderr));
  children.push(child);
  return child;
}

const backend = createExampleBackend();
backend.listen(8000, '127.0.0.1', () => {
  mkdirSync(join(home, 'manager'), { recursive: true });
  writeFileSync(join(home, 'manager', 'cluster-manager.yml'), '# settings: see the README\n');
  run('manager', [
    'dist/src/cli/krakend-cluster-manager.js',
    '--config', join(home, 'manager', 'cluster-manager.yml'),
    '--state-dir', join(home, 'manager'),
    '--bind', '127.0.0.1',
    '--web-bind', '127.0.0.1',
    '--cluster-port', String(MANAGER_PORT),
    '--web-port', String(WEB_PORT),
    '--preset', 'local',
  ]);
  NODE_PORTS.forEach((port, i) => {
    const dir = join(home, `node-${i + 1}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, 'service.yml'),
      `seed: 127.0.0.1:${MANAGER_PORT}\nname: node-${i + 1}\nport: ${port}\nbind: 127.0.0.1:0\npreset: local\nstate_dir: ${join(dir, 'state')}\n`,
    );
    // A moment for the manager to listen; nodes retry with backoff anyway.
    setTimeout(() => {
      run(`node-${i + 1}`, ['dist/src/cli/krakend.js', 'run', '-c', 'examples/krakend.json', '--service', join(dir, 'service.yml')]);
    }, 500);
  });
  setTimeout(() => {
    process.stdout.write(
      [
        '',
        'Local cluster on 127.0.0.1:',
        `  Cluster Manager API   http://127.0.0.1:${WEB_PORT}/api/v1/nodes`,
        ...NODE_PORTS.map((p, i) => `  node-${i + 1}                http://127.0.0.1:${p}/users/1`),
        '  example backend       http://127.0.0.1:8000/users/1',
        'Try:',
        `  curl -s http://127.0.0.1:${WEB_PORT}/api/v1/nodes`,
        `  curl -i http://127.0.0.1:${NODE_PORTS[0]}/dashboard/1`,
        'Ctrl-C stops everything.',
        '',
      ].join('\n'),
    );
  }, 1500);
});

let stopping = false;
function stop(): void {
  if (stopping) return;
  stopping = true;
  for (const c of children) c.kill('SIGTERM');
  const timer = setTimeout(() => {
    for (const c of children) c.kill('SIGKILL');
    process.exit(0);
  }, 5_000);
  timer.unref();
  Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once('exit', r))))).then(() => {
    backend.close();
    process.exit(0);
  });
}
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
