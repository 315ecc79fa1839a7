/**
 * Configuration distribution with real processes: apply and ack, a hot reload under load with zero failed
 * requests, a nack that leaves the running config in place, canary halt, rollback, a late joiner, a manager
 * restart, a node restarted while the manager is down (from its cache), a corrupt cache, and manager_grace.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startBackend, json } from '../helpers/backend.js';
import type { TestBackend } from '../helpers/backend.js';
import { startManager, startNode, startProcess, tempDir, waitFor, MANAGER_CLI } from '../helpers/cluster.js';
import type { ManagerProc, NodeProc } from '../helpers/cluster.js';

const DEADLINE_MS = 15_000;

function krakend(endpoints: string[], backend: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    version: 3,
    host: [backend],
    ...extra,
    endpoints: endpoints.map((e) => ({ endpoint: `/${e}`, backend: [{ url_pattern: `/${e}` }] })),
  });
}

/** `krakend-cluster-manager config …` against a manager's API. */
async function cli(m: ManagerProc, args: string[]): Promise<{ code: number | null; out: string }> {
  const p = startProcess(MANAGER_CLI, ['config', ...args, '--web', `http://127.0.0.1:${m.webPort}`, '--state-dir', m.stateDir]);
  const code = await p.exited;
  return { code, out: p.output() };
}

describe('configuration distribution', () => {
  let backend: TestBackend;
  const procs: Array<{ stop(): Promise<unknown> }> = [];
  const track = <T extends { stop(): Promise<unknown> }>(p: T): T => {
    procs.push(p);
    return p;
  };

  before(async () => {
    backend = await startBackend({
      '/hello': json({ hello: 'world' }),
      '/bye': json({ bye: 'now' }),
      '/v3': json({ three: true }),
    });
  });
  after(async () => {
    await Promise.all(procs.map((p) => p.stop().catch(() => {})));
    await backend.close();
  });

  test('apply, ack, reload under load, nack, canary, rollback, late joiner, restarts and the cache', async () => {
    const m = track(await startManager());
    const seed = `127.0.0.1:${m.clusterPort}`;
    const local = krakend(['hello'], backend.url);
    const a = track(await startNode({ seed, krakendJson: local }));
    const b = track(await startNode({ seed, krakendJson: local }));
    await waitFor('two alive nodes', async () => (await m.nodes()).filter((n) => n['state'] === 'alive').length === 2, DEADLINE_MS);
    // A manager with no config pushes nothing: nodes serve their local krakend.json.
    assert.equal((await m.api('/api/v1/config')).status, 404);
    assert.equal((await fetch(`${a.url}/bye`)).status, 404);

    // Steady load on both nodes through the whole rollout.
    let failed = 0;
    let served = 0;
    let loading = true;
    const load = (async () => {
      while (loading) {
        await Promise.all(
          [a, b].map(async (n) => {
            try {
              const r = await fetch(`${n.url}/hello`);
              await r.arrayBuffer();
              if (r.status === 200) served++;
              else failed++;
            } catch {
              failed++;
            }
          }),
        );
      }
    })();
    const dir = tempDir('cfg-');
    writeFileSync(join(dir, 'v1.json'), krakend(['hello', 'bye'], backend.url));
    const dry = await cli(m, ['apply', '-f', join(dir, 'v1.json'), '--dry-run']);
    assert.equal(dry.code, 0, dry.out);
    assert.match(dry.out, /\+ endpoints: .*"\/bye"/);
    assert.equal((await m.api('/api/v1/config')).status, 404, 'a dry run stores nothing');
    const v1 = await cli(m, ['apply', '-f', join(dir, 'v1.json'), '--note', 'add /bye']);
    assert.equal(v1.code, 0, v1.out);
    await waitFor('both nodes on version 1', async () => (await m.nodes()).every((n) => n['config_version'] === 1), DEADLINE_MS);
    assert.deepEqual(await (await fetch(`${a.url}/bye`)).json(), { bye: 'now' });
    assert.deepEqual(await (await fetch(`${b.url}/bye`)).json(), { bye: 'now' });
    loading = false;
    await load;
    assert.ok(served > 20, `served ${served}`);
    assert.equal(failed, 0, 'no request failed during the reload');

    // A version one node cannot take (a certificate file it lacks): nack, and it keeps serving version 1.
    writeFileSync(join(dir, 'bad.json'), krakend(['hello'], backend.url, { tls: { public_key: '/nonexistent/cert.pem', private_key: '/nonexistent/key.pem' } }));
    const canary = await cli(m, ['apply', '-f', join(dir, 'bad.json'), '--canary', '1']);
    assert.equal(canary.code, 1, 'the canary halted');
    assert.match(canary.out, /"halted": true/);
    const nodes = await waitFor('a nack recorded', async () => {
      const ns = await m.nodes();
      return ns.some((n) => typeof n['config_error'] === 'string') ? ns : undefined;
    }, DEADLINE_MS);
    assert.ok(nodes.every((n) => n['config_version'] === 1), 'both still serve version 1');
    assert.match(String(nodes.find((n) => n['config_error'])?.['config_error']), /not readable on this node/);
    assert.equal((await fetch(`${a.url}/bye`)).status, 200);

    // Invalid configs never get a version.
    writeFileSync(join(dir, 'invalid.json'), '{"version": 3, "endpoints": [{"endpoint": "/x", "backend": []}]}');
    const invalid = await cli(m, ['apply', '-f', join(dir, 'invalid.json')]);
    assert.equal(invalid.code, 1);
    assert.match(invalid.out, /endpoints\[0\]\.backend/);

    // Version 3, then a rollback to 1 (a new version, 4, with version 1's body).
    writeFileSync(join(dir, 'v3.json'), krakend(['hello', 'v3'], backend.url));
    assert.equal((await cli(m, ['apply', '-f', join(dir, 'v3.json')])).code, 0);
    await waitFor('both nodes on version 3', async () => (await m.nodes()).every((n) => n['config_version'] === 3), DEADLINE_MS);
    assert.equal((await fetch(`${b.url}/v3`)).status, 200);
    const diff = await cli(m, ['diff', '1', '3']);
    assert.match(diff.out, /- endpoints\[GET \/bye\]/);
    const rollback = await cli(m, ['rollback', '1', '--note', 'back to 1']);
    assert.equal(rollback.code, 0, rollback.out);
    await waitFor('both nodes on version 4', async () => (await m.nodes()).every((n) => n['config_version'] === 4), DEADLINE_MS);
    assert.equal((await fetch(`${a.url}/bye`)).status, 200);
    assert.equal((await fetch(`${a.url}/v3`)).status, 404);
    const history = (await (await m.api('/api/v1/config/history')).json()) as { versions: Array<Record<string, unknown>> };
    assert.deepEqual(history.versions.map((v) => v['version']), [4, 3, 2, 1]);
    assert.equal(history.versions[0]?.['rollbackOf'], 1);

    // A late joiner receives the current version (b leaves first: the free tier admits 2 nodes).
    await b.stop('SIGTERM');
    const late = track(await startNode({ seed, krakendJson: local }));
    await waitFor('the late joiner on version 4', async () => (await fetch(`${late.url}/bye`)).status === 200, DEADLINE_MS);

    // The manager restarts: versions survive.
    await m.stop('SIGKILL');
    const m2 = track(await startManager({ stateDir: m.stateDir, args: ['--cluster-port', String(m.clusterPort)] }));
    const current = (await (await m2.api('/api/v1/config')).json()) as Record<string, unknown>;
    assert.equal(current['version'], 4);

    // A node restarted while no manager answers starts from its cache, and says so.
    await m2.stop('SIGKILL');
    await a.stop('SIGTERM');
    const a2 = track(await startNode({ seed, krakendJson: local, dir: a.dir }));
    assert.match(a2.output(), /using config version 4 from/);
    assert.equal((await fetch(`${a2.url}/bye`)).status, 200);

    // A corrupt cache: the node starts from its local krakend.json and says so.
    await a2.stop('SIGTERM');
    writeFileSync(join(a.stateDir, 'config-cache'), 'garbage');
    const a3 = track(await startNode({ seed, krakendJson: local, dir: a.dir }));
    assert.match(a3.output(), /config cache .* is unusable/);
    assert.equal((await fetch(`${a3.url}/bye`)).status, 404);
    void readFileSync;
  });

  test('after manager_grace without any manager a node runs standalone, and rejoins when one answers', async () => {
    const m = track(await startManager());
    const seed = `127.0.0.1:${m.clusterPort}`;
    const n: NodeProc = track(
      await startNode({ seed, krakendJson: krakend(['hello'], backend.url), serviceExtra: 'manager_grace: 1s\n' }),
    );
    await waitFor('the node alive', async () => (await m.nodes()).length === 1, DEADLINE_MS);
    await m.stop('SIGKILL');
    await waitFor('the node to go standalone', () => n.output().includes('running standalone'), DEADLINE_MS);
    assert.equal((await fetch(`${n.url}/hello`)).status, 200);
    const m2 = track(await startManager({ stateDir: m.stateDir, args: ['--cluster-port', String(m.clusterPort)] }));
    await waitFor('the node back in the cluster', () => n.output().includes('back in the cluster'), 40_000);
    await waitFor('the node alive again', async () => (await m2.nodes())[0]?.['state'] === 'alive', DEADLINE_MS);
  });
});
