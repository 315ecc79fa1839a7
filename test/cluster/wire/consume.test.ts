/**
 * FramedConnection.consume(): envelopes handed to a handler as they arrive, with no promise per message (what
 * the manager's 1,000 control sessions use instead of `for await`). Real sockets on 127.0.0.1.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { FramedConnection, StreamKind, StreamServer } from '../../../src/cluster/wire/index.js';
import type { Envelope } from '../../../src/cluster/wire/index.js';
import { PING, testRegistry } from './helpers.js';

const servers: StreamServer[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

async function pair(): Promise<{ client: FramedConnection; server: FramedConnection }> {
  let accepted!: (c: FramedConnection) => void;
  const serverSide = new Promise<FramedConnection>((resolve) => (accepted = resolve));
  const server = new StreamServer({ routes: { [StreamKind.Control]: { options: { registry: testRegistry() }, onConnection: accepted } } });
  servers.push(server);
  const { port } = await server.listen(0, '127.0.0.1');
  const client = await FramedConnection.connect({ registry: testRegistry(), host: '127.0.0.1', port, kind: StreamKind.Control });
  return { client, server: await serverSide };
}

async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('FramedConnection.consume', () => {
  test('hands over what was queued first, then each envelope as it arrives, in order; resolves on a clean close', async () => {
    const { client, server } = await pair();
    for (let i = 1; i <= 3; i++) await client.send({ type: PING, body: i });
    await until(() => server.pending === 3, 'three queued envelopes');
    const got: unknown[] = [];
    const done = server.consume((e: Envelope) => void got.push(e.body));
    assert.deepEqual(got, [1, 2, 3], 'the queued ones at once, synchronously');
    for (let i = 4; i <= 100; i++) client.send({ type: PING, body: i }).catch(() => {});
    await until(() => got.length === 100, 'every envelope');
    assert.deepEqual(got, Array.from({ length: 100 }, (_, i) => i + 1));
    await client.close();
    await done;
    await assert.rejects(server.consume(() => {}), /already has a reader/, 'one reader per stream');
  });

  test('a paused stream (inbox at its high-water mark) resumes once consumed, losing nothing', async () => {
    const { client, server } = await pair();
    for (let i = 1; i <= 200; i++) client.send({ type: PING, body: i }).catch(() => {});
    await until(() => server.pending >= 64, 'the inbox to fill');
    const got: unknown[] = [];
    void server.consume((e) => void got.push(e.body));
    await until(() => got.length === 200, 'all 200');
    assert.deepEqual(got, Array.from({ length: 200 }, (_, i) => i + 1));
    client.destroy();
  });

  test('a handler that throws closes the stream with its error, and the promise rejects', async () => {
    const { client, server } = await pair();
    const done = server.consume((e) => {
      if (e.body === 2) throw new Error('boom');
    });
    await client.send({ type: PING, body: 1 });
    await client.send({ type: PING, body: 2 });
    await assert.rejects(done, /message handler failed: boom/);
    assert.equal(server.isClosed, true);
    await client.closed;
  });
});
