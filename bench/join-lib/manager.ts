/*
 * The Cluster Manager of `npm run bench:join`: the real CLI in its own process, with a fresh state directory
 * holding a license for 100 nodes (the free tier admits 2), default (`lan`) timing, free ports on 127.0.0.1.
 * Also the reading side of its JSON API.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateKeyPair, issueLicense } from '../../src/cluster/manager/license.js';
import type { ManagedChild, ProcessGroup } from '../lib/processes.js';

const MANAGER_CLI = fileURLToPath(new URL('../../src/cli/krakend-cluster-manager.js', import.meta.url));

export const LICENSED_NODES = 100;

export interface ApiNode {
  id: string;
  name: string;
  state: string;
  since: string;
  last_seen: string;
}

export interface BenchManager {
  child: ManagedChild;
  clusterPort: number;
  webPort: number;
  nodes(): Promise<ApiNode[]>;
}

/** Writes license-public.pem and license.json (a fresh key pair, max_nodes 100, valid a year) into `stateDir`. */
export function writeLicense(stateDir: string): void {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const pair = generateKeyPair();
  const now = new Date();
  const inAYear = new Date(now.getTime() + 365 * 86_400_000);
  const text = issueLicense(
    {
      licensee: 'bench:join',
      license_id: 'lic_bench_join',
      max_nodes: LICENSED_NODES,
      not_before: new Date(now.getTime() - 86_400_000).toISOString().slice(0, 10),
      not_after: inAYear.toISOString().slice(0, 10),
      issued_at: now.toISOString(),
    },
    pair.privateKeyPem,
  );
  writeFileSync(join(stateDir, 'license-public.pem'), pair.publicKeyPem);
  writeFileSync(join(stateDir, 'license.json'), text);
}

/** Starts the manager CLI and waits until it listens (and has adopted the license). */
export async function startManager(group: ProcessGroup, stateDir: string, logLevel: string): Promise<BenchManager> {
  writeLicense(stateDir);
  // An empty config file of its own, so a host's /etc/krakend/cluster-manager.yml never leaks in; no KRAKEND_CM_*
  // variable from the caller's environment either: every setting not given here is the default.
  writeFileSync(join(stateDir, 'none.yml'), '');
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('KRAKEND_CM_')) env[k] = v;
  env['KRAKEND_CM_CONFIG'] = join(stateDir, 'none.yml');
  const child = group.spawn(
    'manager',
    process.execPath,
    [
      MANAGER_CLI,
      '--state-dir', stateDir,
      '--cluster-port', '0',
      '--web-port', '0',
      '--bind', '127.0.0.1',
      '--web-bind', '127.0.0.1',
      '--log-level', logLevel,
    ],
    env,
  );
  const m = await child.waitForOutput(/listening: cluster port (\d+), web port (\d+)/, 15_000);
  if (!new RegExp(`up to ${LICENSED_NODES} nodes`).test(child.output())) {
    throw new Error(`the manager did not adopt the bench license:\n${child.output()}`);
  }
  const webPort = Number(m[2]);
  return {
    child,
    clusterPort: Number(m[1]),
    webPort,
    async nodes() {
      const res = await fetch(`http://127.0.0.1:${webPort}/api/v1/nodes`, { signal: AbortSignal.timeout(2_000) });
      if (!res.ok) throw new Error(`GET /api/v1/nodes: ${res.status}`);
      return ((await res.json()) as { nodes: ApiNode[] }).nodes;
    },
  };
}

/**
 * Polls `GET /api/v1/nodes` every `everyMs` until `done(nodes)` holds; resolves with performance.now() at the
 * arrival of the first answer that satisfies it, and that answer. Bounded by `timeoutMs`.
 */
export async function pollNodes(
  manager: BenchManager,
  what: string,
  done: (nodes: ApiNode[]) => boolean,
  timeoutMs: number,
  everyMs = 20,
): Promise<{ at: number; nodes: ApiNode[] }> {
  const deadline = performance.now() + timeoutMs;
  let last: ApiNode[] = [];
  let lastError: unknown;
  for (;;) {
    const asked = performance.now();
    try {
      last = await manager.nodes();
      const at = performance.now();
      if (done(last)) return { at, nodes: last };
    } catch (err) {
      lastError = err;
    }
    if (!manager.child.alive) throw new Error(manager.child.describeExit());
    if (performance.now() > deadline) {
      const states = summarize(last);
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last seen: ${states})${lastError ? `; last error: ${String(lastError)}` : ''}`);
    }
    const wait = Math.max(0, asked + everyMs - performance.now());
    await new Promise((r) => setTimeout(r, wait));
  }
}

export function summarize(nodes: ApiNode[]): string {
  const by: Record<string, number> = {};
  for (const n of nodes) by[n.state] = (by[n.state] ?? 0) + 1;
  return Object.entries(by).map(([s, c]) => `${c} ${s}`).join(', ') || 'no node';
}
