/**
 * Child process: the bench backend. Answers `GET /data` with the fixed payload over keep-alive, binds an ephemeral
 * port on 127.0.0.1 and reports it to the parent over IPC (`{ type: 'ready', port }`).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PAYLOAD_TEXT } from './payload.js';

const body = Buffer.from(PAYLOAD_TEXT);
const headers = { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': String(body.length) };

const server = createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/data') {
    res.writeHead(200, headers);
    res.end(body);
    return;
  }
  res.writeHead(404, { 'Content-Type': 'application/json', 'Content-Length': '21' });
  res.end('{"error":"not found"}');
});
// Load-generator connections stay open across runs; Node's default 5 s would drop them between rounds.
server.keepAliveTimeout = 120_000;

server.listen(0, '127.0.0.1', () => {
  process.send?.({ type: 'ready', port: (server.address() as AddressInfo).port });
});
// The parent going away (even by SIGKILL) closes the IPC channel: never outlive it.
process.on('disconnect', () => process.exit(0));
// An explicit exit, not death by signal: that is what lets --cpu-prof write its profile.
process.once('SIGTERM', () => process.exit(0));
