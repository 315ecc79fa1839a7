/**
 * The Cluster Manager and nodes as real processes on 127.0.0.1: admission and ids, the subscription cap and the
 * refused node's behaviour, a larger license admitting waiting nodes, lifecycle (SIGTERM → removed, SIGKILL →
 * unreachable → down, rejoin with the same id), a cloned state directory, a manager restart, the API token, the
 * cluster key, and bad input.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { startBackend, json } from '../helpers/backend.js';
import type { TestBackend } from '../helpers/backend.js';
import { startManager, startNode, startProcess, tempDir, waitFor, NODE_CLI } from '../helpers/cluster.js';
import type { ManagerProc, NodeProc } from '../helpers/cluster.js';
import { generateKeyPair, issueLicense } from '../../src/cluster/manager/license.js';
import { generateKey } from '../../src/cluster/wire/index.js';

const ID = /^krakend_[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
// Generous deadlines derived from the test settings: heartbeat 200 ms (a silent channel closes after 3 beats),
// grace period 2 s, refused nodes retry after 1 s, the license file is polled every 2 s.
const JOIN_MS = 10_000;
const STATE_MS = 10_000;

describe('a cluster of real processes', () => {
  let backend: TestBackend;
  let krakendJson: string;
  const started: Array<{ stop(): Promise<unknown> }> = [];
  const track = <T extends { stop(): Promise<unknown> }>(p: T): T => {
    started.push(p);
    return p;
  };

  before(async () => {
    backend = await startBackend({ '/hello': json({ hello: 'world' }) });
    krakendJson = JSON.stringify({
      version: 3,
      host: [backend.url],
      endpoints: [{ endpoint: '/hello', backend: [{ url_pattern: '/hello' }] }],
    });
  });

  after(async () => {
    await Promise.all(started.map((p) => p.stop().catch(() => {})));
    await backend.close();
  });

  const stateOf = async (m: ManagerProc, id: string) => (await m.nodes()).find((n) => n['id'] === id)?.['state'];
  const idOf = (n: NodeProc) => readFileSync(join(n.stateDir, 'node-id'), 'utf8').trim();

  test('nodes are admitted with ids they keep, the cap refuses the next one, and a larger license lets it in', async () => {
    const keys = generateKeyPair();
    const manager = track(await startManager());
    writeFileSync(join(manager.stateDir, 'license-public.pem'), keys.publicKeyPem);
    await manager.stop();
    // Restart so the manager reads the public key; still no license: the free tier (2 nodes).
    const m = track(await startManager({ stateDir: manager.stateDir }));
    const seed = `127.0.0.1:${m.clusterPort}`;

    const a = track(await startNode({ seed, krakendJson }));
    const b = track(await startNode({ seed, krakendJson }));
    await waitFor('two alive nodes', async () => (await m.nodes()).filter((n) => n['state'] === 'alive').length === 2, JOIN_MS);
    const idA = await waitFor('node a to keep its id', () => idOf(a), JOIN_MS);
    assert.match(idA, ID);
    assert.match(m.output(), new RegExp(`CM  \\d{4}/\\d\\d/\\d\\d - \\d\\d:\\d\\d:\\d\\d\\.\\d{3} ▶ INFO Sending the limits to the krakend: ${idA}`));
    assert.equal((await fetch(`${a.url}/hello`)).status, 200);

    const c = track(await startNode({ seed, krakendJson }));
    await waitFor('the manager to refuse a third node', () => m.output().includes('WARNING Your current subscription does not allow more nodes running. Please upgrade to add more nodes.'), JOIN_MS);
    const health = await waitFor('the refused node to fail its health check', async () => {
      const r = await fetch(`${c.url}/__health`);
      return r.status === 503 ? r : undefined;
    }, JOIN_MS);
    assert.match(await health.text(), /subscription/);
    const api = await fetch(`${c.url}/hello`);
    assert.equal(api.status, 503);
    await api.text();
    assert.match(c.output(), /refused this node \(subscription\)/);

    // A larger license, dropped into place: the waiting node is admitted with no restart.
    const now = Date.now();
    writeFileSync(
      join(m.stateDir, 'license.json'),
      issueLicense(
        {
          licensee: 'Test Corp',
          license_id: 'lic-test',
          max_nodes: 3,
          not_before: new Date(now - 86_400_000).toISOString(),
          not_after: new Date(now + 30 * 86_400_000).toISOString(),
          issued_at: new Date(now).toISOString(),
        },
        keys.privateKeyPem,
      ),
    );
    await waitFor('three alive nodes', async () => (await m.nodes()).filter((n) => n['state'] === 'alive').length === 3, 15_000);
    await waitFor('the third node to serve', async () => (await fetch(`${c.url}/hello`)).status === 200, JOIN_MS);
    const license = (await (await m.api('/api/v1/license')).json()) as Record<string, unknown>;
    assert.equal(license['max_nodes'], 3);
    assert.equal(license['licensee'], 'Test Corp');

    // Lifecycle: SIGTERM → removed at once; SIGKILL → unreachable, then down after the grace period.
    const idB = idOf(b);
    assert.equal(await b.stop('SIGTERM'), 0);
    assert.equal(await stateOf(m, idB), 'removed');
    const idC = idOf(c);
    c.child.kill('SIGKILL');
    await c.exited;
    await waitFor('the killed node to be unreachable', async () => (await stateOf(m, idC)) === 'unreachable', STATE_MS);
    await waitFor('the killed node to be down', async () => (await stateOf(m, idC)) === 'down', STATE_MS);

    // Rejoin: the removed node comes back alive under the same id.
    const b2 = track(await startNode({ seed, krakendJson, dir: b.dir }));
    await waitFor('the rejoined node to be alive', async () => (await stateOf(m, idB)) === 'alive', JOIN_MS);
    assert.equal(idOf(b2), idB);

    // A copied state directory: the newcomer gets a new id while the original is alive.
    const cloneDir = tempDir('clone-');
    cpSync(a.dir, cloneDir, { recursive: true });
    rmSync(join(cloneDir, 'service.yml'));
    const clone = track(await startNode({ seed, krakendJson, dir: cloneDir }));
    const cloneId = await waitFor('the clone to get its own id', () => {
      const id = idOf(clone);
      return id !== idA ? id : undefined;
    }, JOIN_MS);
    assert.match(cloneId, ID);
    assert.match(m.output(), new RegExp(`claimed ${idA}, held by another live node`));

    // The registry survives a manager restart; nodes reconnect and are alive again.
    await m.stop('SIGKILL');
    const m2 = track(await startManager({ stateDir: m.stateDir, args: ['--cluster-port', String(m.clusterPort)] }));
    await waitFor('node a to be alive at the restarted manager', async () => (await stateOf(m2, idA)) === 'alive', 15_000);
    assert.equal((await m2.nodes()).some((n) => n['id'] === idC), true, 'the down node is still listed');

    // The API token guards writes.
    const denied = await m2.api(`/api/v1/nodes/${idC}`, { method: 'DELETE' });
    assert.equal(denied.status, 401);
    const token = readFileSync(join(m2.stateDir, 'api-token'), 'utf8').trim();
    const removed = await m2.api(`/api/v1/nodes/${idC}`, { method: 'DELETE', headers: { Authorization: `Bearer ${token}` } });
    assert.equal(removed.status, 200);
    assert.equal((await m2.nodes()).some((n) => n['id'] === idC), false);
  });

  test('with a cluster key, a node without it (or with another) is refused and counted; garbage is dropped', async () => {
    const key = generateKey();
    const m = track(await startManager({ args: ['--cluster-key', key] }));
    const seed = `127.0.0.1:${m.clusterPort}`;
    const good = track(await startNode({ seed, krakendJson, serviceExtra: `cluster_key: ${key}\n` }));
    await waitFor('the keyed node to be alive', async () => (await m.nodes()).length === 1, JOIN_MS);
    const wrong = track(await startNode({ seed, krakendJson, serviceExtra: `cluster_key: ${generateKey()}\n` }));
    const none = track(await startNode({ seed, krakendJson }));
    // Garbage on the cluster port, then a truncated hello.
    for (const payload of [Buffer.from('GET / HTTP/1.1\r\n\r\n'), Buffer.from([0x43, 1, 2, 3])]) {
      await new Promise<void>((resolve) => {
        const s = createConnection({ host: '127.0.0.1', port: m.clusterPort }, () => s.end(payload));
        s.on('close', () => resolve());
        s.on('error', () => resolve());
      });
    }
    const dropped = await waitFor('drops to be counted', async () => {
      const c = (await (await m.api('/api/v1/cluster')).json()) as { dropped_packets: Record<string, Record<string, number>> };
      let total = 0;
      for (const counts of Object.values(c.dropped_packets)) total += (counts['auth_failed'] ?? 0) + (counts['bad_magic'] ?? 0);
      return total >= 2 ? c.dropped_packets : undefined;
    }, JOIN_MS);
    assert.ok(dropped);
    assert.equal((await m.nodes()).length, 1, 'only the node with the key is registered');
    assert.equal((await fetch(`${good.url}/hello`)).status, 200);
    void wrong;
    void none;
  });

  test('bad input: a malformed service file stops the node; an unreachable seed leaves it serving', async () => {
    const dir = tempDir('badsvc-');
    writeFileSync(join(dir, 'krakend.json'), krakendJson);
    writeFileSync(join(dir, 'service.yml'), 'seed: [not: a, host\n');
    const bad = startProcess(NODE_CLI, ['run', '-c', join(dir, 'krakend.json'), '--service', join(dir, 'service.yml'), '-p', '0']);
    assert.equal(await bad.exited, 1);
    assert.match(bad.output(), /service\.yml: not valid YAML/);

    const lonely = track(await startNode({ seed: '127.0.0.1:1', krakendJson }));
    assert.equal((await fetch(`${lonely.url}/hello`)).status, 200);
    assert.equal((await fetch(`${lonely.url}/__health`)).status, 200);
  });
});

describe('a smaller license', () => {
  test('degrades the most recently admitted node above the new cap: it stops serving, the older one goes on', async () => {
    const backend = await startBackend({ '/hello': json({ hello: 'world' }) });
    const krakendJson = JSON.stringify({
      version: 3,
      host: [backend.url],
      endpoints: [{ endpoint: '/hello', backend: [{ url_pattern: '/hello' }] }],
    });
    const keys = generateKeyPair();
    const stateDir = tempDir('cm-degrade-');
    const license = (maxNodes: number, id: string) => {
      const now = Date.now();
      return issueLicense(
        {
          licensee: 'Test Corp',
          license_id: id,
          max_nodes: maxNodes,
          not_before: new Date(now - 86_400_000).toISOString(),
          not_after: new Date(now + 30 * 86_400_000).toISOString(),
          issued_at: new Date(now).toISOString(),
        },
        keys.privateKeyPem,
      );
    };
    writeFileSync(join(stateDir, 'license-public.pem'), keys.publicKeyPem);
    writeFileSync(join(stateDir, 'license.json'), license(4, 'lic-big'));
    const m = await startManager({ stateDir });
    const procs: Array<{ stop(): Promise<unknown> }> = [m];
    try {
      const seed = `127.0.0.1:${m.clusterPort}`;
      const nodes: NodeProc[] = [];
      for (let i = 0; i < 4; i++) {
        const n = await startNode({ seed, krakendJson });
        procs.push(n);
        nodes.push(n);
        // One at a time, so the admission order is known.
        await waitFor(`node ${i} alive`, async () => (await m.nodes()).filter((e) => e['state'] === 'alive').length === i + 1, JOIN_MS);
      }
      // The free tier (2) is a floor: a license for 1 node still allows 2, so the two newest are degraded.
      writeFileSync(join(stateDir, 'license.json'), license(1, 'lic-small'));
      await waitFor('two degraded nodes', async () => (await m.nodes()).filter((e) => e['state'] === 'refused').length === 2, 15_000);
      for (const n of nodes.slice(2)) {
        await waitFor('a degraded node to stop serving', async () => (await fetch(`${n.url}/hello`)).status === 503, JOIN_MS);
      }
      for (const n of nodes.slice(0, 2)) assert.equal((await fetch(`${n.url}/hello`)).status, 200);
      assert.match(m.output(), /degraded: Your current subscription does not allow more nodes running/);
    } finally {
      await Promise.all(procs.map((p) => p.stop().catch(() => {})));
      await backend.close();
    }
  });
});

describe('a node stopped for less than the grace period', () => {
  test('is unreachable while stopped and alive again after SIGCONT, never down; gossip sees every member', async () => {
    const backend = await startBackend({ '/hello': json({ hello: 'world' }) });
    const krakendJson = JSON.stringify({
      version: 3,
      host: [backend.url],
      endpoints: [{ endpoint: '/hello', backend: [{ url_pattern: '/hello' }] }],
    });
    // Grace 5 s; the node is stopped for 1.5 s: a silent control channel closes after 3 × 200 ms.
    const m = await startManager({ args: ['--grace-period', '5s'] });
    const procs: Array<{ stop(): Promise<unknown> }> = [m];
    try {
      const seed = `127.0.0.1:${m.clusterPort}`;
      const a = await startNode({ seed, krakendJson });
      procs.push(a);
      const b = await startNode({ seed, krakendJson });
      procs.push(b);
      await waitFor('two alive nodes', async () => (await m.nodes()).filter((n) => n['state'] === 'alive').length === 2, JOIN_MS);
      await waitFor('gossip to know both nodes and the manager', () => /Gossip started as/.test(a.output()) && /Gossip started as/.test(b.output()), JOIN_MS);
      const id = readFileSync(join(a.stateDir, 'node-id'), 'utf8').trim();
      const states: string[] = [];
      const watcher = setInterval(() => {
        void m.nodes().then((ns) => {
          const s = ns.find((n) => n['id'] === id)?.['state'];
          if (typeof s === 'string' && states[states.length - 1] !== s) states.push(s);
        }, () => {});
      }, 50);
      try {
        a.child.kill('SIGSTOP');
        await waitFor('the stopped node to be unreachable', async () => (await m.nodes()).find((n) => n['id'] === id)?.['state'] === 'unreachable', STATE_MS);
        await new Promise((r) => setTimeout(r, 1_000));
        a.child.kill('SIGCONT');
        await waitFor('the resumed node to be alive', async () => (await m.nodes()).find((n) => n['id'] === id)?.['state'] === 'alive', STATE_MS);
      } finally {
        clearInterval(watcher);
        a.child.kill('SIGCONT');
      }
      assert.ok(!states.includes('down'), `states seen: ${states.join(' → ')}`);
      assert.equal((await fetch(`${a.url}/hello`)).status, 200);
    } finally {
      await Promise.all(procs.map((p) => p.stop().catch(() => {})));
      await backend.close();
    }
  });
});

describe('the manager API over TLS', () => {
  test('serves HTTPS from api_tls_cert and api_tls_key', async () => {
    const { request } = await import('node:https');
    const { fileURLToPath } = await import('node:url');
    const fixtures = fileURLToPath(new URL('../../../test/fixtures/tls/', import.meta.url));
    const m = await startManager({ args: ['--api-tls-cert', `${fixtures}cert.pem`, '--api-tls-key', `${fixtures}key.pem`] });
    try {
      const body = await new Promise<string>((resolve, reject) => {
        request(`https://127.0.0.1:${m.webPort}/api/v1/cluster`, { ca: readFileSync(`${fixtures}cert.pem`) }, (res) => {
          let text = '';
          res.on('data', (c) => (text += c));
          res.on('end', () => resolve(text));
        }).on('error', reject).end();
      });
      assert.equal((JSON.parse(body) as { counted: number }).counted, 0);
    } finally {
      await m.stop();
    }
  });
});
