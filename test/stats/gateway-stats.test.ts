import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Gateway } from '../../src/gateway/gateway.js';
import { memoryLogger } from '../../src/base/logger.js';
import { StatsCollector } from '../../src/stats/collector.js';
import { startBackend, json } from '../helpers/backend.js';
import { loadConfig } from '../helpers/gateway.js';

test('a gateway with a collector counts requests per endpoint, calls per backend, and the breaker state', async () => {
  const backend = await startBackend({ '/ok': json({ ok: true }), '/fail': json({ error: true }, 500) });
  const stats = new StatsCollector({ stream: 'test' });
  const { logger } = memoryLogger();
  const gateway = new Gateway(
    loadConfig(
      JSON.stringify({
        version: 3,
        host: [backend.url],
        endpoints: [
          { endpoint: '/ok', backend: [{ url_pattern: '/ok' }] },
          {
            endpoint: '/fail',
            backend: [{ url_pattern: '/fail', extra_config: { 'qos/circuit-breaker': { interval: 60, timeout: 60, max_errors: 1 } } }],
          },
        ],
      }),
    ),
    { logger, port: 0, host: '127.0.0.1', stats },
  );
  const { port } = await gateway.start();
  try {
    for (let i = 0; i < 3; i++) await (await fetch(`http://127.0.0.1:${port}/ok`)).arrayBuffer();
    for (let i = 0; i < 3; i++) await (await fetch(`http://127.0.0.1:${port}/fail`)).arrayBuffer();
    await new Promise((r) => setTimeout(r, 20));
    const delta = stats.takeDelta();
    const ok = delta.endpoints['GET /ok'];
    const fail = delta.endpoints['GET /fail'];
    assert.equal(ok?.status[2], 3, '3 answers of class 2xx');
    // Each answer: a status line, headers and the 11-byte body {"ok":true}.
    assert.ok((ok?.bytesOut ?? 0) > 3 * 11 + 3 * 50 && (ok?.bytesOut ?? 0) < 3 * 1000, `bytes out ${ok?.bytesOut}`);
    assert.equal(fail?.status[5], 3, '3 answers of class 5xx');
    const failBackend = delta.backends['GET /fail#0'];
    assert.equal(failBackend?.circuit, 'open', 'the breaker opened after the second consecutive failure');
    // The third call failed fast: only two reached the backend.
    assert.equal(backend.requests.filter((r) => r.url === '/fail').length, 2);
  } finally {
    await gateway.shutdown({ delay: 0, drainTimeout: 1000 });
    await backend.close();
  }
});
