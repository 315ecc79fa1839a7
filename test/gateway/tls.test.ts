import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:https';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startBackend, json } from '../helpers/backend.js';
import { startGateway } from '../helpers/gateway.js';

// A self-signed certificate for localhost/127.0.0.1, made for these tests only.
const fixtures = fileURLToPath(new URL('../../../test/fixtures/tls/', import.meta.url));

function get(url: string, ca: Buffer): Promise<{ status: number; body: string; protocol: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca }, (res) => {
      let body = '';
      const protocol = (res.socket as { getProtocol?: () => string | null }).getProtocol?.() ?? '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, protocol }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('the gateway serves HTTPS from the tls certificate and key files', async () => {
  const backend = await startBackend({ '/hi': json({ hi: 'there' }) });
  const gw = await startGateway(
    JSON.stringify({
      version: 3,
      host: [backend.url],
      tls: { public_key: `${fixtures}cert.pem`, private_key: `${fixtures}key.pem`, min_version: 'TLS12' },
      endpoints: [{ endpoint: '/hi', backend: [{ url_pattern: '/hi' }] }],
    }),
  );
  try {
    const port = new URL(gw.url).port;
    const res = await get(`https://127.0.0.1:${port}/hi`, readFileSync(`${fixtures}cert.pem`));
    assert.equal(res.status, 200);
    assert.equal(res.body, '{"hi":"there"}');
    assert.match(res.protocol, /^TLSv1\.[23]$/);
  } finally {
    await gw.close();
    await backend.close();
  }
});
