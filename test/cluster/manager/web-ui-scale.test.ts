/**
 * The web interface at scale, in chromium: a synthetic manager (the real API on a synthetic view) with 200 nodes
 * in every state and 100 endpoints with their backends. The nodes table pages through all 200, filters and
 * sorts; the endpoints table filters; the limits, config and license views render. Saves
 * test-artifacts/web-ui-200-nodes.png and web-ui-100-endpoints.png.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { waitFor } from '../../helpers/cluster.js';
import { launchChromium, openPage, screenshot } from './browser.js';
import { startSyntheticCluster } from './synthetic-view.js';
import type { SyntheticCluster } from './synthetic-view.js';

const UI_MS = 15_000;

describe('the web interface with 200 nodes and 100 endpoints', () => {
  let cluster: SyntheticCluster;
  let browser: Browser;
  let base: string;

  before(async () => {
    [cluster, browser] = await Promise.all([startSyntheticCluster({ nodes: 200, endpoints: 100 }), launchChromium()]);
    base = `http://127.0.0.1:${cluster.api.port}`;
  });

  after(async () => {
    await browser?.close();
    await cluster?.close();
  });

  const rowIds = (page: Page) => page.locator('#nodes-table tbody tr[data-node-id]').evaluateAll((rows) => rows.map((r) => (r as { dataset: Record<string, string> }).dataset['nodeId']!));

  test('the nodes table pages through all 200 nodes, filters by text and state, and sorts', async () => {
    const { page, problems } = await openPage(browser, `${base}/`);
    await waitFor('the first page', async () => (await page.locator('#nodes-showing').textContent()) === '1–50 of 200', UI_MS, 100);
    assert.equal((await rowIds(page)).length, 50);
    assert.equal(await page.locator('#nodes-page').textContent(), 'page 1 of 4');
    await screenshot(page, 'web-ui-200-nodes.png');

    const seen = new Set<string>();
    for (let p = 1; p <= 4; p++) {
      for (const id of await rowIds(page)) seen.add(id);
      if (p < 4) {
        await page.locator('#nodes-pager button[aria-label="Next page"]').click();
        await waitFor(`page ${p + 1}`, async () => (await page.locator('#nodes-page').textContent()) === `page ${p + 1} of 4`, UI_MS, 50);
      }
    }
    assert.equal(seen.size, 200);
    assert.deepEqual([...seen].sort(), cluster.nodes.map((n) => n.id).sort());
    assert.equal(await page.locator('#nodes-pager button[aria-label="Next page"]').isDisabled(), true);

    await page.locator('#nodes-page-size').selectOption('0');
    await waitFor('all rows on one page', async () => (await rowIds(page)).length === 200, UI_MS, 50);

    await page.locator('#nodes-filter').fill('gw-us-east-04');
    await waitFor('the text filter', async () => (await rowIds(page)).length === cluster.nodes.filter((n) => n.name.startsWith('gw-us-east-04')).length, UI_MS, 50);
    await page.locator('#nodes-filter').fill('');

    const removed = cluster.nodes.filter((n) => n.state === 'removed').length;
    for (const s of ['alive', 'unreachable', 'down', 'refused']) await page.locator(`#nodes-states button.state-${s}`).click();
    await waitFor('only removed nodes', async () => (await rowIds(page)).length === removed, UI_MS, 50);
    assert.equal(await page.locator('#nodes-table tbody .state-removed').count(), removed);
    for (const s of ['alive', 'unreachable', 'down', 'refused']) await page.locator(`#nodes-states button.state-${s}`).click();
    await waitFor('all nodes again', async () => (await rowIds(page)).length === 200, UI_MS, 50);

    // Requests, largest first.
    await page.locator('#nodes-table th[data-sort="requests"]').click();
    const requests = await page.locator('#nodes-table tbody td[data-col="requests"]').evaluateAll((cells) => cells.map((c) => Number(c.textContent!.replace(/,/g, ''))));
    assert.equal(requests.length, 200);
    assert.deepEqual(requests, [...requests].sort((a, b) => b - a));
    assert.ok(requests[0]! > 0);
    assert.deepEqual(problems, []);
    await page.context().close();
  });

  test('the endpoints table lists 100 endpoints with their backends, scrolls, and filters', async () => {
    const { page, problems } = await openPage(browser, `${base}/#traffic`);
    const rows = page.locator('#keys-table tbody tr[data-key]');
    await waitFor('every endpoint and backend', async () => (await rows.count()) === 200, UI_MS, 100);
    const scroll = await page.locator('#keys-table').evaluate((t) => {
      const wrap = t.parentElement as unknown as { scrollHeight: number; clientHeight: number };
      return { scrollHeight: wrap.scrollHeight, clientHeight: wrap.clientHeight };
    });
    assert.ok(scroll.scrollHeight > scroll.clientHeight, 'the table scrolls inside its box');
    await waitFor('three charts drawn', async () => (await page.locator('#charts canvas').count()) === 3, UI_MS, 100);
    await screenshot(page, 'web-ui-100-endpoints.png');

    await page.locator('#keys-filter').fill('/payments/{id}');
    const expected = cluster.keys.filter((k) => k.includes('/payments/{id}')).length;
    assert.ok(expected > 1);
    await waitFor('the filter', async () => (await rows.count()) === expected * 2, UI_MS, 50);
    await page.locator('#keys-kinds button', { hasText: 'backends' }).click();
    await waitFor('endpoints only', async () => (await rows.count()) === expected, UI_MS, 50);
    assert.deepEqual(problems, []);
    await page.context().close();
  });

  test('limits, config versions and the license render with the expiry warning', async () => {
    const { page, problems } = await openPage(browser, `${base}/#limits`);
    await waitFor('both limits', async () => (await page.locator('#limits .limit').count()) === 2, UI_MS, 100);
    const alive = cluster.nodes.filter((n) => n.state === 'alive').length;
    assert.equal(await page.locator('#limits .limit').first().locator('tbody tr').count(), alive);
    assert.match((await page.locator('#banner').textContent()) ?? '', /The license expires in 12 days/);
    await screenshot(page, 'web-ui-limits.png');

    await page.locator('.tabs a[data-view="config"]').click();
    await waitFor('three versions', async () => (await page.locator('#config-history tbody tr[data-version]').count()) === 3, UI_MS, 100);
    assert.match((await page.locator('#config-nodes tbody').textContent()) ?? '', /nack: version 3/);
    await screenshot(page, 'web-ui-config.png');

    await page.locator('.tabs a[data-view="license"]').click();
    await waitFor('the license facts', async () => /ACME Corp/.test((await page.locator('#license').textContent()) ?? ''), UI_MS, 100);
    assert.deepEqual(problems, []);
    await page.context().close();
  });
});
