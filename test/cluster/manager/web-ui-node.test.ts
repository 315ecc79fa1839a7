/**
 * A node in detail in a real browser (Debian's chromium through playwright-core), on a real manager with two real
 * nodes: node a's backend circuit breaker opens, the nodes table flags it, clicking the node opens its detail
 * (identity, config, circuits, traffic chart, endpoints) which follows new requests live; the traffic view shows
 * the backend "open on 1 of 2 nodes"; a node stopped with SIGTERM keeps its detail; an unknown id says so.
 * Saves test-artifacts/web-ui-node.png and web-ui-circuits.png.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { startBackend, json } from '../../helpers/backend.js';
import type { TestBackend } from '../../helpers/backend.js';
import { startManager, startNode, waitFor } from '../../helpers/cluster.js';
import type { ManagerProc, NodeProc } from '../../helpers/cluster.js';
import { launchChromium, openPage, screenshot } from './browser.js';

const JOIN_MS = 15_000;
const UI_MS = 15_000;
const BREAKER = 'GET /breaker#0';

describe('a node in detail in chromium', () => {
  let backend: TestBackend;
  let manager: ManagerProc;
  let a: NodeProc;
  let b: NodeProc;
  let browser: Browser;
  let idA: string;
  let idB: string;

  before(async () => {
    browser = await launchChromium();
    backend = await startBackend({ '/hello': json({ hello: 'world' }) });
    // /breaker's backend path is not routed (404): every call fails, and max_errors 1 opens the circuit.
    const krakendJson = JSON.stringify({
      version: 3,
      host: [backend.url],
      endpoints: [
        { endpoint: '/hello', backend: [{ url_pattern: '/hello' }] },
        { endpoint: '/breaker', backend: [{ url_pattern: '/fail', extra_config: { 'qos/circuit-breaker': { interval: 60, timeout: 60, max_errors: 1 } } }] },
      ],
    });
    manager = await startManager({ args: ['--stats-interval', '300ms'] });
    const seed = `127.0.0.1:${manager.clusterPort}`;
    [a, b] = await Promise.all([
      startNode({ seed, krakendJson, serviceExtra: 'name: node-a\n' }),
      startNode({ seed, krakendJson, serviceExtra: 'name: node-b\n' }),
    ]);
    const idOf = (n: NodeProc) => waitFor('the node id', () => readFileSync(join(n.stateDir, 'node-id'), 'utf8').trim(), JOIN_MS);
    [idA, idB] = await Promise.all([idOf(a), idOf(b)]);
    await waitFor('two alive nodes', async () => (await manager.nodes()).filter((n) => n['state'] === 'alive').length === 2, JOIN_MS);
    for (let i = 0; i < 5; i++) assert.equal((await fetch(`${a.url}/hello`)).status, 200);
    for (let i = 0; i < 4; i++) assert.ok((await fetch(`${a.url}/breaker`)).status >= 500);
    for (let i = 0; i < 3; i++) assert.equal((await fetch(`${b.url}/hello`)).status, 200);
  });

  after(async () => {
    await browser?.close();
    await Promise.all([a?.stop(), b?.stop()]);
    await manager?.stop();
    await backend?.close();
  });

  const row = (page: Page, id: string) => page.locator(`#nodes-table tbody tr[data-node-id="${id}"]`);
  const text = async (page: Page, selector: string) => ((await page.locator(selector).first().textContent({ timeout: 2_000 }).catch(() => null)) ?? '').trim();
  const endpointRequests = (page: Page, key: string) => text(page, `#node-endpoints tbody tr[data-key="${key}"] td[data-col="requests"]`);

  test('the nodes table flags the open circuit; the node’s detail shows it with its traffic, live', async () => {
    const { page, problems } = await openPage(browser, `http://127.0.0.1:${manager.webPort}/`);
    await waitFor('node a flagged with an open circuit', async () => (await row(page, idA).locator('.circuit-flag').count()) === 1, UI_MS, 200);
    assert.equal(await row(page, idA).locator('.circuit-flag').textContent(), '1 open circuit');
    assert.equal(await row(page, idB).locator('.circuit-flag').count(), 0, 'b’s circuit is closed');

    await row(page, idA).locator('a.node-name').click();
    await waitFor('the detail view', async () => (await page.locator('#view-node').isVisible()) && (await text(page, '#node-name')) === 'node-a', UI_MS, 100);
    assert.equal(new URL(page.url()).hash, `#node=${encodeURIComponent(idA)}`);
    assert.equal(await page.locator('.tabs a.active').getAttribute('data-view'), 'nodes', 'the detail belongs to the nodes tab');
    assert.equal(await page.locator('#node-head .state-alive').count(), 1, 'state in its colour');
    assert.equal(await text(page, '#node-facts dd[data-fact="Id"]'), idA);
    assert.equal(await text(page, '#node-facts dd[data-fact="Control channel"]'), 'open');
    assert.match(await text(page, '#node-facts dd[data-fact="Config"]'), /local krakend\.json/);
    assert.match(await text(page, '#node-facts dd[data-fact="API address"]'), /^127\.0\.0\.1:\d+$/);

    await waitFor('the open circuit in the detail', async () => (await page.locator(`#node-circuits tbody tr[data-backend="${BREAKER}"][data-circuit="open"]`).count()) === 1, UI_MS, 100);
    assert.equal(await page.locator('#node-circuits .circuit-open').count(), 1);
    await waitFor('its endpoints', async () => (await endpointRequests(page, 'GET /hello')) === '5' && (await endpointRequests(page, 'GET /breaker')) === '4', UI_MS, 100);
    assert.match(await text(page, '#node-totals'), /^9 requests/);
    await waitFor('three charts drawn', async () => (await page.locator('#node-charts canvas').count()) === 3, UI_MS, 100);
    assert.match(await text(page, '#node-charts figure:nth-child(3) figcaption'), /no percentiles/);

    // The panel follows the page's live updates.
    for (let i = 0; i < 2; i++) assert.equal((await fetch(`${a.url}/hello`)).status, 200);
    await waitFor('the new requests in the detail', async () => (await endpointRequests(page, 'GET /hello')) === '7', UI_MS, 100);
    await screenshot(page, 'web-ui-node.png');

    await page.locator('#node-back').click();
    await waitFor('back to the table', async () => (await page.locator('#view-nodes').isVisible()) && !(await page.locator('#view-node').isVisible()), UI_MS, 100);
    assert.deepEqual(problems, []);
    await page.context().close();
  });

  test('the traffic view shows the backend’s circuit over the nodes', async () => {
    const { page, problems } = await openPage(browser, `http://127.0.0.1:${manager.webPort}/#traffic`);
    const cell = `#keys-table tbody tr[data-key="${BREAKER}"] td[data-col="circuit"]`;
    await waitFor('open on 1 of 2 nodes', async () => (await text(page, cell)) === 'open on 1 of 2 nodes', UI_MS, 200);
    assert.equal(await page.locator(`${cell} .circuit-open`).count(), 1);
    assert.equal(await text(page, '#keys-table tbody tr[data-key="GET /hello#0"] td[data-col="circuit"]'), '–', 'no breaker');
    await screenshot(page, 'web-ui-circuits.png');
    assert.deepEqual(problems, []);
    await page.context().close();
  });

  test('a node stopped with SIGTERM keeps its detail; an unknown id says so', async () => {
    assert.equal(await b.stop('SIGTERM'), 0);
    const { page, problems } = await openPage(browser, `http://127.0.0.1:${manager.webPort}/#node=${encodeURIComponent(idB)}`);
    await waitFor('b removed in its detail', async () => (await page.locator('#node-head .state-removed').count()) === 1, UI_MS, 200);
    await waitFor('its stats kept', async () => (await endpointRequests(page, 'GET /hello')) === '3', UI_MS, 100);
    assert.equal(await text(page, '#node-facts dd[data-fact="Control channel"]'), 'closed');
    assert.equal(await page.locator(`#node-circuits tbody tr[data-backend="${BREAKER}"][data-circuit="closed"]`).count(), 1);

    await page.evaluate("location.hash = '#node=krakend_nope'");
    await waitFor('the unknown node explained', async () => /No such node/.test(await text(page, '#node-head')), UI_MS, 100);
    assert.equal(await page.locator('#node-body').isVisible(), false);
    assert.deepEqual(problems.filter((p) => !/404/.test(p)), [], 'only the expected 404s');
    await page.context().close();
  });
});
