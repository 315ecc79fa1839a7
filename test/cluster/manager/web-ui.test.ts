/**
 * The web interface in a real browser (Debian's chromium through playwright-core) on a real manager with two real
 * nodes: both show `alive`, requests through them show up per node, a node stopped with SIGTERM shows `removed`
 * with its traffic still there, the traffic view charts the cluster, and config bodies need the token. Saves
 * test-artifacts/web-ui.png.
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
// A node name is whatever the node says: the page must show it as text.
const HOSTILE_NAME = '<img src=x onerror="window.__injected=1">b&amp;';

describe('the web interface in chromium', () => {
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
    const krakendJson = JSON.stringify({ version: 3, host: [backend.url], endpoints: [{ endpoint: '/hello', backend: [{ url_pattern: '/hello' }] }] });
    manager = await startManager({ args: ['--stats-interval', '300ms'] });
    const seed = `127.0.0.1:${manager.clusterPort}`;
    [a, b] = await Promise.all([
      startNode({ seed, krakendJson, serviceExtra: 'name: node-a\n' }),
      startNode({ seed, krakendJson, serviceExtra: `name: ${JSON.stringify(HOSTILE_NAME)}\n` }),
    ]);
    const idOf = (n: NodeProc) => waitFor('the node id', () => readFileSync(join(n.stateDir, 'node-id'), 'utf8').trim(), JOIN_MS);
    [idA, idB] = await Promise.all([idOf(a), idOf(b)]);
  });

  after(async () => {
    await browser?.close();
    await Promise.all([a?.stop(), b?.stop()]);
    await manager?.stop();
    await backend?.close();
  });

  const row = (page: Page, id: string) => page.locator(`#nodes-table tbody tr[data-node-id="${id}"]`);
  const cellText = async (page: Page, id: string, col: string) => (await row(page, id).locator(`td[data-col="${col}"]`).textContent({ timeout: 2_000 }))?.trim();

  test('nodes show alive, their traffic, and a node stopped with SIGTERM shows removed with its stats kept', async () => {
    const { page, problems } = await openPage(browser, `http://127.0.0.1:${manager.webPort}/`);
    await waitFor('both nodes alive in the table', async () => (await cellText(page, idA, 'state')) === 'alive' && (await cellText(page, idB, 'state')) === 'alive', UI_MS, 200);
    assert.equal(await row(page, idA).locator('.state-alive').count(), 1, 'alive is shown with its colour');
    // The hostile name is text, not markup.
    assert.equal(await row(page, idB).locator('.node-name').textContent(), HOSTILE_NAME);
    assert.equal(await page.evaluate('window.__injected'), undefined);

    for (let i = 0; i < 4; i++) assert.equal((await fetch(`${a.url}/hello`)).status, 200);
    for (let i = 0; i < 6; i++) assert.equal((await fetch(`${b.url}/hello`)).status, 200);
    await waitFor('each node’s requests in the table', async () => (await cellText(page, idA, 'requests')) === '4' && (await cellText(page, idB, 'requests')) === '6', UI_MS, 200);
    await waitFor('the overview to count the requests', async () => /^10 req /.test((await page.locator('#ov-requests').textContent()) ?? ''), UI_MS, 200);
    assert.equal(await page.locator('#live').getAttribute('data-mode'), 'live', 'updates come over the event stream');

    assert.equal(await b.stop('SIGTERM'), 0);
    await waitFor('node b removed in the table', async () => (await cellText(page, idB, 'state')) === 'removed', UI_MS, 200);
    assert.equal(await row(page, idB).locator('.state-removed').count(), 1);
    assert.equal(await cellText(page, idB, 'requests'), '6', 'the removed node’s stats stay');
    assert.equal(await cellText(page, idA, 'state'), 'alive');
    await waitFor('the overview to show one alive, one removed', async () => {
      const text = (await page.locator('#ov-states').textContent()) ?? '';
      return text.includes('1 alive') && text.includes('1 removed');
    }, UI_MS, 200);

    await screenshot(page, 'web-ui.png');
    assert.deepEqual(problems, []);
    await page.context().close();
  });

  test('the traffic view charts the cluster and lists the endpoint and its backend', async () => {
    const { page, problems } = await openPage(browser, `http://127.0.0.1:${manager.webPort}/#traffic`);
    await waitFor('the endpoint row', async () => (await page.locator('#keys-table tbody tr[data-key="GET /hello"]').count()) === 1, UI_MS, 200);
    assert.equal(await page.locator('#keys-table tbody tr[data-key="GET /hello#0"]').count(), 1);
    await waitFor('three charts drawn', async () => (await page.locator('#charts canvas').count()) === 3, UI_MS, 200);
    await page.locator('#keys-filter').fill('#0');
    await waitFor('the filter to leave the backend only', async () => (await page.locator('#keys-table tbody tr').count()) === 1, UI_MS, 100);
    await page.locator('#keys-table tbody tr[data-key="GET /hello#0"]').click();
    await waitFor('the backend charted', async () => (await page.locator('#chart-key').inputValue()) === 'GET /hello#0', UI_MS, 100);
    await screenshot(page, 'web-ui-traffic.png');
    assert.deepEqual(problems, []);
    await page.context().close();
  });

  test('config bodies need the API token; with it the page shows them', async () => {
    const token = readFileSync(join(manager.stateDir, 'api-token'), 'utf8').trim();
    const body = JSON.stringify({ version: 3, host: [backend.url], endpoints: [{ endpoint: '/hello', backend: [{ url_pattern: '/hello' }] }] });
    const applied = await manager.api('/api/v1/config?author=ui-test&note=first', { method: 'POST', body, headers: { Authorization: `Bearer ${token}` } });
    assert.equal(applied.status, 200, await applied.text());

    const { page, problems } = await openPage(browser, `http://127.0.0.1:${manager.webPort}/#config`);
    const bodyButton = page.locator('#config-history tbody tr[data-version="1"] button', { hasText: 'Body' });
    await bodyButton.waitFor({ timeout: UI_MS });
    assert.equal(await bodyButton.isDisabled(), true, 'no token: no body');
    await waitFor('node a to acknowledge version 1', async () => /ack/.test((await page.locator(`#config-nodes tbody tr[data-node-id="${idA}"]`).textContent()) ?? ''), UI_MS, 200);

    await page.locator('#token-button').click();
    await page.locator('#token-input').fill(token);
    await page.locator('#token-form button[type=submit]').click();
    await waitFor('the body button enabled', async () => !(await bodyButton.isDisabled()), UI_MS, 100);
    await bodyButton.click();
    await waitFor('the body shown', async () => ((await page.locator('#config-output-body').textContent()) ?? '').includes('"url_pattern": "/hello"'), UI_MS, 100);
    assert.equal(await page.evaluate("sessionStorage.getItem('krakend-cm-token')"), token);
    assert.deepEqual(problems, []);
    await page.context().close();
  });
});
