import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { FakeClock } from '../../../src/base/fake-clock.js';
import { FramedConnection, StreamKind, StreamServer } from '../../../src/cluster/wire/index.js';
import { PING, testRegistry } from './helpers.js';

const servers: StreamServer[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

/** A stream whose acceptor closes after idleTimeoutMs of silence, on a FakeClock. */
async function pair(clock: FakeClock, idleTimeoutMs: number): Promise<{ client: FramedConnection; server: FramedConnection }> {
  let accepted!: (c: FramedConnection) => void;
  const serverSide = new Promise<FramedConnection>((resolve) => (accepted = resolve));
  const server = new StreamServer({
    clock,
    routes: { [StreamKind.Control]: { options: { registry: testRegistry(), clock, idleTimeoutMs }, onConnection: accepted } },
  });
  servers.push(server);
  const { port } = await server.listen(0, '127.0.0.1');
  const client = await FramedConnection.connect({ registry: testRegistry(), clock, host: '127.0.0.1', port, kind: StreamKind.Control });
  return { client, server: await serverSide };
}

describe('FramedConnection.setIdleTimeout', () => {
  test('a longer limit counts from the last bytes received, not from when it was set', async () => {
    const clock = new FakeClock();
    const { client, server } = await pair(clock, 1000);
    assert.equal(server.idleTimeout, 1000);
    clock.advance(900);
    server.setIdleTimeout(3000);
    // The old deadline (1000) passes: still open.
    clock.advance(2099);
    await sleep(30);
    assert.equal(server.isClosed, false);
    clock.advance(1);
    const err = await server.closed;
    assert.match(err?.message ?? '', /nothing received for 3000 ms/);
    client.destroy();
  });

  test('a check already under way decides with the limit in force; a lower limit counts from the last receive', async () => {
    const clock = new FakeClock();
    const { client, server } = await pair(clock, 5000);
    clock.advance(2000);
    server.setIdleTimeout(1000);
    // The check falls due now and waits for this turn's reads; the limit is raised before it decides.
    clock.advance(1);
    server.setIdleTimeout(5000);
    await sleep(30);
    assert.equal(server.isClosed, false);
    clock.advance(2998);
    await sleep(30);
    assert.equal(server.isClosed, false, 'the raised limit holds (5 s of silence not reached)');
    await client.send({ type: PING, body: 1 });
    await server.receive(1000);
    server.setIdleTimeout(1000);
    clock.advance(999);
    await sleep(30);
    assert.equal(server.isClosed, false);
    clock.advance(1);
    assert.ok(await server.closed);
    client.destroy();
  });
});
