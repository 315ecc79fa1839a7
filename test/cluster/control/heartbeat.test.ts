import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { FakeClock } from '../../../src/base/fake-clock.js';
import { effectiveBeatMs, keepalive } from '../../../src/cluster/control/heartbeat.js';
import { CONTROL_VERSIONS, ControlType, createControlRegistry } from '../../../src/cluster/control/messages.js';
import { FramedConnection, StreamKind, StreamServer } from '../../../src/cluster/wire/index.js';

const servers: StreamServer[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

/** A control channel over loopback whose both ends run on one FakeClock: time moves only when the test says. */
async function channel(clock: FakeClock): Promise<{ client: FramedConnection; server: FramedConnection }> {
  let accepted!: (c: FramedConnection) => void;
  const serverSide = new Promise<FramedConnection>((resolve) => (accepted = resolve));
  const options = { registry: createControlRegistry(), versions: CONTROL_VERSIONS, clock };
  const server = new StreamServer({ clock, routes: { [StreamKind.Control]: { options, onConnection: accepted } } });
  servers.push(server);
  const { port } = await server.listen(0, '127.0.0.1');
  const client = await FramedConnection.connect({ ...options, host: '127.0.0.1', port, kind: StreamKind.Control });
  return { client, server: await serverSide };
}

describe('keepalive', () => {
  test('beats only after a whole beat without any other send', async () => {
    const clock = new FakeClock();
    const { client, server } = await channel(clock);
    const stop = keepalive(client, { clock, beatMs: 1000 });
    clock.advance(1000);
    const first = await server.receive();
    assert.equal(first.type, ControlType.Heartbeat);
    assert.equal((first.body as { at: number }).at, clock.now(), 'sent when the beat fell due');

    // Something else goes out half a beat later: the next heartbeat is due a beat after it, not at 2000.
    clock.advance(500);
    await client.send({ type: ControlType.Leave, body: { id: 'n1' } });
    const sentAt = clock.now();
    clock.advance(999);
    clock.advance(1);
    const other = await server.receive();
    assert.equal(other.type, ControlType.Leave);
    const second = await server.receive();
    assert.equal(second.type, ControlType.Heartbeat);
    assert.equal((second.body as { at: number }).at, sentAt + 1000);
    stop();
    client.destroy();
  });

  test('closes a channel on which nothing arrives for silenceMs', async () => {
    const clock = new FakeClock();
    const { client, server } = await channel(clock);
    keepalive(client, { clock, beatMs: 1000, silenceMs: 3000 });
    // The peer sends something at 2000: silence counts from there.
    clock.advance(2000);
    await server.send({ type: ControlType.Heartbeat, body: { at: clock.now() } });
    await client.receive();
    clock.advance(2999);
    assert.equal(client.isClosed, false);
    clock.advance(1);
    const err = await client.closed;
    assert.ok(err, 'closed with an error');
    assert.match(err.message, /nothing received/);
    server.destroy();
  });
});

describe('effectiveBeatMs', () => {
  test('keeps the total under max_heartbeats_per_second in multiples of the configured beat, never below it', () => {
    const cases: Array<[configured: number, sessions: number, rate: number, beat: number]> = [
      [1000, 0, 100, 1000],
      [1000, 1, 100, 1000],
      [1000, 100, 100, 1000],
      [1000, 101, 100, 2000],
      [1000, 200, 100, 2000],
      [1000, 201, 100, 3000],
      // The 1,000-node cluster at the defaults: longer than the 5 s stats interval, so stats channels never beat.
      [1000, 1000, 100, 10_000],
      [200, 1, 1, 1000],
      [200, 2, 1, 2000],
      [200, 3, 1, 3000],
      // 101 nodes at 1.5 s beat 67 times a second: under the bound, so the configured beat stays.
      [1500, 101, 100, 1500],
      [1500, 151, 100, 3000],
      // A sub-second beat stays while it is within the bound (the fault suite's 4 nodes at 200 ms: 20 a second),
      // and grows by its own steps past it.
      [200, 4, 100, 200],
      [200, 20, 100, 200],
      [200, 21, 100, 400],
      [15_000, 1000, 100, 15_000],
      // 0 is off: the configured beat however many nodes.
      [1000, 100_000, 0, 1000],
    ];
    for (const [configured, sessions, rate, beat] of cases) {
      assert.equal(effectiveBeatMs(configured, sessions, rate), beat, `${configured} ms, ${sessions} nodes, ${rate}/s`);
    }
  });

  test('changes at most once per max_heartbeats_per_second nodes, and the rate stays bounded', () => {
    let changes = 0;
    let previous = effectiveBeatMs(1000, 0, 100);
    for (let n = 1; n <= 5000; n++) {
      const beat = effectiveBeatMs(1000, n, 100);
      if (beat !== previous) changes++;
      previous = beat;
      assert.ok(n / (beat / 1000) <= 100, `${n} nodes at ${beat} ms`);
    }
    assert.equal(changes, 49);
  });
});
