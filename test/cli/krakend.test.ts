import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startBackend, json, delayed } from '../helpers/backend.js';
import type { TestBackend } from '../helpers/backend.js';

const CLI = fileURLToPath(new URL('../../src/cli/krakend.js', import.meta.url));

function run(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 20_000 });
}

/** Starts `krakend run` and resolves with its port once it logs that it listens. */
function startNode(args: string[]): Promise<{ child: ChildProcess; port: number; output: () => string }> {
  const child = spawn(process.execPath, [CLI, 'run', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (out += c.toString()));
  return new Promise((resolve, reject) => {
    const deadline = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`gateway did not start:\n${out}`));
    }, 15_000);
    const check = () => {
      const m = /Listening on port: (\d+)/.exec(out);
      if (m) {
        clearTimeout(deadline);
        child.stdout?.off('data', check);
        resolve({ child, port: Number(m[1]), output: () => out });
      }
    };
    child.stdout?.on('data', check);
    child.once('exit', () => {
      clearTimeout(deadline);
      reject(new Error(`gateway exited early:\n${out}`));
    });
  });
}

describe('krakend CLI', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'krakend-cli-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('version prints the version', () => {
    const r = run(['version']);
    assert.equal(r.status, 0);
    assert.match(r.stdout, /^KrakenD Version \d+\.\d+\.\d+/);
  });

  test('check exits 0 on a valid config', () => {
    const file = join(dir, 'ok.json');
    writeFileSync(file, '{"version":3,"endpoints":[{"endpoint":"/a","backend":[{"host":["localhost:9"],"url_pattern":"/a"}]}]}');
    const r = run(['check', '-c', file]);
    assert.equal(r.status, 0, r.stderr);
  });

  test('check prints every error with the file and JSON path, and exits 1', () => {
    const file = join(dir, 'bad.json');
    writeFileSync(
      file,
      JSON.stringify({
        version: 3,
        timeout: 'soon',
        endpoints: [
          { endpoint: '/a/{id}', backend: [{ host: ['localhost:9'], url_pattern: '/a/{user}' }] },
          { endpoint: '/b', backend: [] },
        ],
      }),
    );
    const r = run(['check', '-c', file]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /bad\.json.*timeout/);
    assert.match(r.stderr, /endpoints\[0\]\.backend\[0\]\.url_pattern/);
    assert.match(r.stderr, /endpoints\[1\]\.backend/);
  });

  test('check reports a JSON syntax error with line and column', () => {
    const file = join(dir, 'syntax.json');
    writeFileSync(file, '{\n  "version": 3,\n  "endpoints": [,]\n}');
    const r = run(['check', '-c', file]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /syntax\.json:3:\d+/);
  });

  test('the config path comes from KRAKEND_CONFIG when no flag is given', () => {
    const r = run(['check'], { KRAKEND_CONFIG: join(dir, 'does-not-exist.json') });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /does-not-exist\.json/);
  });
});

describe('krakend run as a process', () => {
  let backend: TestBackend;
  let dir: string;
  before(async () => {
    backend = await startBackend({ '/hello': json({ hello: 'world' }), '/slow': delayed(400, json({ slow: true })) });
    dir = mkdtempSync(join(tmpdir(), 'krakend-run-'));
  });
  after(async () => {
    await backend.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('serves, then on SIGTERM fails health, drains in-flight requests and exits 0', async () => {
    const file = join(dir, 'krakend.json');
    writeFileSync(
      file,
      JSON.stringify({
        version: 3,
        port: 1,
        host: [backend.url],
        extra_config: { 'krakend-cluster/gateway': { shutdown_delay: '300ms', drain_timeout: '5s' } },
        endpoints: [
          { endpoint: '/hello', backend: [{ url_pattern: '/hello' }] },
          { endpoint: '/slow', backend: [{ url_pattern: '/slow' }] },
        ],
      }),
    );
    const node = await startNode(['-c', file, '-p', '0']);
    try {
      const base = `http://127.0.0.1:${node.port}`;
      assert.deepEqual(await (await fetch(`${base}/hello`)).json(), { hello: 'world' });
      const inFlight = fetch(`${base}/slow`).then((r) => r.json());
      await new Promise((r) => setTimeout(r, 50));
      const exited = new Promise<number | null>((resolve) => node.child.once('exit', (code) => resolve(code)));
      node.child.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 100));
      assert.equal((await fetch(`${base}/__health`)).status, 503);
      assert.deepEqual(await inFlight, { slow: true });
      assert.equal(await exited, 0);
      assert.match(node.output(), /\[KRAKEND\] \d{4}\/\d\d\/\d\d - \d\d:\d\d:\d\d\.\d{3} ▶ INFO SIGTERM received/);
    } finally {
      node.child.kill('SIGKILL');
    }
  });
});
