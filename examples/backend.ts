/**
 * An example backend for the quick start and the tests: a few JSON resources, a big-integer id, an array, a
 * slow route and a failing route, so every gateway feature has something to show.
 */
import { createServer } from 'node:http';
import type { Server } from 'node:http';

const USERS: Record<string, string> = {
  '1': '{"id":1,"name":"Ada Lovelace","email":"ada@example.com","role":"admin","address":{"city":"London","zip":"W1"}}',
  '2': '{"id":2,"name":"Alan Turing","email":"alan@example.com","role":"user","address":{"city":"Wilmslow","zip":"SK9"}}',
};

const POSTS = JSON.stringify([
  { id: 10, user: 1, title: 'Notes on the Analytical Engine' },
  { id: 11, user: 2, title: 'On Computable Numbers' },
]);

export function createExampleBackend(): Server {
  return createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const json = (status: number, body: string) => {
      res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
    };
    const user = /^\/users\/([^/]+)$/.exec(url.pathname);
    if (user) {
      const body = USERS[user[1] as string];
      return body ? json(200, body) : json(404, '{"error":"no such user"}');
    }
    switch (url.pathname) {
      case '/posts':
        return json(200, POSTS);
      case '/account':
        // An id beyond 2^53: a gateway that parses with plain floats would corrupt it.
        return json(200, '{"account_id":12345678901234567890,"balance":10.50,"currency":"EUR"}');
      case '/status':
        return json(200, `{"status":"ok","time":"${new Date().toISOString()}"}`);
      case '/slow':
        setTimeout(() => json(200, '{"slow":true}'), Number(url.searchParams.get('ms') ?? 3000)).unref();
        return;
      case '/fail':
        return json(500, '{"error":"backend failure"}');
      case '/text':
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.end('Hello from the example backend');
        return;
      default:
        return json(404, '{"error":"not found"}');
    }
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const port = Number(process.env['PORT'] ?? 8000);
  createExampleBackend().listen(port, '127.0.0.1', () => {
    process.stdout.write(`example backend listening on http://127.0.0.1:${port}\n`);
  });
}
