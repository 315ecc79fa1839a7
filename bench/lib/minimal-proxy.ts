/**
 * Child process: the floor for a gateway that manipulates JSON. A plain node:http server forwards every request to
 * the backend (`BENCH_BACKEND_URL`) through a keep-alive undici Pool, parses the body with JSON.parse, re-encodes it
 * with JSON.stringify and answers it. Nothing else: no routing, no header filtering, no logging.
 */
import { createServer } from 'node:http';
import type { ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool } from 'undici';

const backendUrl = process.env['BENCH_BACKEND_URL'];
if (!backendUrl) throw new Error('BENCH_BACKEND_URL is not set');

// Same pool shape as the gateway's (250 connections, pipelining 1), so transport costs match.
const pool = new Pool(backendUrl, { connections: 250, pipelining: 1, keepAliveTimeout: 60_000 });

async function forward(res: ServerResponse): Promise<void> {
  try {
    const { statusCode, body } = await pool.request({ method: 'GET', path: '/data' });
    const value: unknown = JSON.parse(await body.text());
    const text = JSON.stringify(value);
    res.writeHead(statusCode, {
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': Buffer.byteLength(text),
    });
    res.end(text);
  } catch (err) {
    res.writeHead(502, { 'Content-Type': 'text/plain' });
    res.end(String(err));
  }
}

const server = createServer((req, res) => {
  req.resume();
  void forward(res);
});
server.keepAliveTimeout = 120_000;

server.listen(0, '127.0.0.1', () => {
  process.send?.({ type: 'ready', port: (server.address() as AddressInfo).port });
});
process.on('disconnect', () => process.exit(0));
// An explicit exit, not death by signal: that is what lets --cpu-prof write its profile.
process.once('SIGTERM', () => process.exit(0));
