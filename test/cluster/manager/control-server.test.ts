/**
 * The manager's side of the control channel with nodes played by bare FramedConnections over 127.0.0.1, every
 * timer on one FakeClock: the heartbeat that lengthens with the number of connected nodes
 * (max_heartbeats_per_second), who is told, and when the manager's own silence limit follows a shorter beat.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { FakeClock } from '../../../src/base/fake-clock.js';
import { Logger } from '../../../src/base/logger.js';
import { CONTROL_VERSIONS, ControlType, createControlRegistry } from '../../../src/cluster/control/messages.js';
import type { JoinBody, KeepaliveBody, WelcomeBody } from '../../../src/cluster/control/messages.js';
import { statsBody } from '../../../src/cluster/control/stats-body.js';
import { ControlServer, STATS_BATCH_MS } from '../../../src/cluster/manager/control-server.js';
import { DropCounters, FramedConnection, StreamKind, StreamServer } from '../../../src/cluster/wire/index.js';
import type { Envelope, VersionRange } from '../../../src/cluster/wire/index.js';

const servers: StreamServer[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

interface Harness {
  clock: FakeClock;
  control: ControlServer;
  log: string[];
  lost: Set<string>;
  /** How many envelopes the manager has read from each node (each one is proof of life). */
  seen: Map<string, number>;
  /** Deltas handed to onStats: node, seq, receive time, and the clock when handed over. */
  stats: Array<{ id: string; seq: number; receivedAt: number; at: number }>;
  join(name: string, versions?: VersionRange): Promise<{ conn: FramedConnection; welcome: WelcomeBody }>;
}

async function harness(heartbeatMs: number, maxHeartbeatsPerSecond: number): Promise<Harness> {
  const clock = new FakeClock();
  const log: string[] = [];
  const lost = new Set<string>();
  const seen = new Map<string, number>();
  const stats: Harness['stats'] = [];
  const control = new ControlServer({
    clock,
    logger: new Logger({ prefix: 'CM ', clock, sink: (line) => void log.push(line) }),
    keyring: undefined,
    drops: new DropCounters(),
    heartbeatMs,
    maxHeartbeatsPerSecond,
    admit: async (join: JoinBody) => ({
      kind: 'welcome',
      welcome: { id: join.name, managerId: 'cm_test', epoch: 1, heartbeatMs: control.heartbeatMs, limits: [] },
    }),
    onLeave: () => {},
    onLost: (id) => void lost.add(id),
    onSeen: (id) => void seen.set(id, (seen.get(id) ?? 0) + 1),
    onStats: (id, delta, receivedAt) => void stats.push({ id, seq: delta.seq, receivedAt, at: clock.now() }),
  });
  const server = new StreamServer({ clock, routes: { [StreamKind.Control]: control.route() } });
  servers.push(server);
  const { port } = await server.listen(0, '127.0.0.1');
  const join = async (name: string, versions: VersionRange = CONTROL_VERSIONS) => {
    const conn = await FramedConnection.connect({
      registry: createControlRegistry(),
      versions,
      clock,
      host: '127.0.0.1',
      port,
      kind: StreamKind.Control,
    });
    const body: JoinBody = { version: '0.1.0', instanceToken: `token-${name}`, name, apiAddress: '127.0.0.1:8080' };
    await conn.send({ type: ControlType.Join, body });
    const answer = await conn.receive(5_000);
    assert.equal(answer.type, ControlType.Welcome);
    // The session opens once the welcome is out: wait for it, so the test's clock moves with every node counted.
    await until(() => control.isConnected(name));
    return { conn, welcome: answer.body as WelcomeBody };
  };
  return { clock, control, log, lost, seen, stats, join };
}

async function until(cond: () => boolean, what = 'a condition'): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

/** The next Keepalive on a node's channel, skipping the manager's heartbeats. */
async function nextKeepalive(conn: FramedConnection): Promise<number> {
  for (;;) {
    const e = await conn.receive(5_000);
    if (e.type === ControlType.Keepalive) return (e.body as KeepaliveBody).heartbeatMs;
    assert.equal(e.type, ControlType.Heartbeat, 'only heartbeats come before it');
  }
}

/** A frame from the node that the manager has read (its receive time is then the FakeClock's now). */
async function beat(h: Harness, name: string, conn: FramedConnection): Promise<void> {
  const before = h.seen.get(name) ?? 0;
  await conn.send({ type: ControlType.Heartbeat, body: { at: h.clock.now() } });
  await until(() => (h.seen.get(name) ?? 0) > before, `the manager to read ${name}'s heartbeat`);
}

/** Lets a silence check the clock has just fired finish (it decides after the event loop's reads). */
const settle = () => sleep(30);

describe('control server: heartbeat bounded by max_heartbeats_per_second', () => {
  test('the beat grows as nodes join; v3 nodes are told with a Keepalive, a v2 node keeps its welcome beat', async () => {
    const h = await harness(1000, 1);
    const a = await h.join('a');
    assert.equal(a.welcome.heartbeatMs, 1000, 'one node at one beat a second: the configured beat');
    assert.equal(h.control.heartbeatMs, 1000);

    const b = await h.join('b', { min: 1, max: 2 });
    assert.equal(b.conn.version, 2);
    assert.equal(b.welcome.heartbeatMs, 1000, 'the welcome carries the beat in force when it leaves');
    assert.equal(h.control.heartbeatMs, 2000);
    assert.equal(await nextKeepalive(a.conn), 2000);
    assert.ok(h.log.some((l) => /▶ INFO Control channel heartbeat set to 2s for 2 nodes \(max_heartbeats_per_second: 1\)$/.test(l.trimEnd())), h.log.join(''));

    const c = await h.join('c');
    assert.equal(c.welcome.heartbeatMs, 2000);
    assert.equal(h.control.heartbeatMs, 3000);
    assert.equal(await nextKeepalive(a.conn), 3000);
    assert.equal(await nextKeepalive(c.conn), 3000);

    // The v2 node got no Keepalive (it would drop it) and the manager still beats at its welcome's 1 s for it.
    h.clock.advance(1000);
    const first: Envelope = await b.conn.receive(5_000);
    assert.equal(first.type, ControlType.Heartbeat);
    // ...and still holds it to 3 of those beats: silent for 3 s, it is cut, while the v3 nodes (9 s) are not.
    await beat(h, 'a', a.conn);
    await beat(h, 'c', c.conn);
    h.clock.advance(1999);
    await settle();
    assert.equal(h.lost.has('b'), false);
    h.clock.advance(1);
    await until(() => h.lost.has('b'), 'the silent v2 node to be cut after 3 of its beats');
    assert.deepEqual([...h.lost], ['b']);
    for (const n of [a, c]) n.conn.destroy();
  });

  test('a shorter beat: the longer silence is kept for one old silence period, then 3 new beats apply', async () => {
    const h = await harness(1000, 1);
    const a = await h.join('a');
    const c = await h.join('c');
    assert.equal(await nextKeepalive(a.conn), 2000);
    assert.equal(h.control.heartbeatMs, 2000, 'two nodes: a 2 s beat, a 6 s silence');

    // c leaves: back to the configured 1 s beat. The manager announces it at once...
    await c.conn.send({ type: ControlType.Leave, body: { id: 'c' } });
    await until(() => !h.control.isConnected('c'), 'c to leave');
    assert.equal(h.control.heartbeatMs, 1000);
    assert.equal(await nextKeepalive(a.conn), 1000);
    assert.ok(h.log.some((l) => l.includes('Control channel heartbeat set to 1s for 1 node (')), h.log.join(''));
    const announced = h.clock.monotonic();
    await beat(h, 'a', a.conn);

    // ...but a node may take a while to read it (a GC pause, a busy host) and goes on with the 2 s beat until then:
    // silent for longer than 3 new beats and less than the 6 s it was allowed, it keeps its channel.
    h.clock.advance(5999);
    await settle();
    assert.equal(h.lost.has('a'), false, 'not cut within the old silence period');
    assert.equal(h.control.isConnected('a'), true);

    // Past one old silence period after the announcement, 3 new beats (3 s) apply, from the last frame received.
    await beat(h, 'a', a.conn);
    h.clock.advance(1);
    assert.equal(h.clock.monotonic(), announced + 6000);
    h.clock.advance(2998);
    await settle();
    assert.equal(h.lost.has('a'), false, 'silent for less than 3 s');
    h.clock.advance(1);
    await until(() => h.lost.has('a'), 'a silent for 3 beats of 1 s to be cut');
  });

  test('a beat that grows applies the longer silence at once; 0 keeps the configured beat whatever the count', async () => {
    const h = await harness(1000, 1);
    const a = await h.join('a');
    await h.join('b');
    assert.equal(await nextKeepalive(a.conn), 2000);
    // Silent for 5.999 s: more than the old 3 s, less than the new 6 s.
    h.clock.advance(5999);
    await settle();
    assert.equal(h.lost.size, 0);
    h.clock.advance(1);
    await until(() => h.lost.has('a') && h.lost.has('b'), 'both nodes, silent for 6 s, to be cut');

    const off = await harness(1000, 0);
    for (const name of ['x', 'y', 'z']) assert.equal((await off.join(name)).welcome.heartbeatMs, 1000);
    assert.equal(off.control.heartbeatMs, 1000);
    assert.equal(off.log.some((l) => l.includes('heartbeat set to')), false);
    await off.control.close();
  });
});

describe('control server: stats acks', () => {
  const delta = (seq: number) => ({ stream: 'run-1', seq, dropped: 0, endpoints: {}, backends: {} });

  /** Sends a stats delta from a bare node and waits until the manager has read it. */
  async function report(h: Harness, name: string, conn: FramedConnection, seq: number): Promise<void> {
    const before = h.seen.get(name) ?? 0;
    await conn.send({ type: ControlType.Stats, body: statsBody(delta(seq), conn.version) });
    await until(() => (h.seen.get(name) ?? 0) > before, `the manager to read ${name}'s delta ${seq}`);
  }

  test('a v3 node gets one cumulative ack at the manager beat, in place of a heartbeat', async () => {
    const h = await harness(1000, 0);
    const a = await h.join('a');
    assert.equal(a.conn.version, 3);
    await report(h, 'a', a.conn, 1);
    await report(h, 'a', a.conn, 2);
    await settle();
    assert.equal(a.conn.pending, 0, 'no ack per delta');
    h.clock.advance(1000);
    const ack = await a.conn.receive(5_000);
    assert.equal(ack.type, ControlType.StatsAck, 'the beat carries the ack');
    assert.deepEqual(ack.body, { stream: 'run-1', seq: 2 });
    h.clock.advance(1000);
    assert.equal((await a.conn.receive(5_000)).type, ControlType.Heartbeat, 'nothing left to ack: a plain beat');
    a.conn.destroy();
  });

  test('deltas are taken in as one batch within STATS_BATCH_MS, each with the time it arrived', async () => {
    const h = await harness(1000, 0);
    const a = await h.join('a');
    const b = await h.join('b');
    const t0 = h.clock.now();
    await report(h, 'a', a.conn, 1);
    h.clock.advance(30);
    await report(h, 'b', b.conn, 1);
    await report(h, 'a', a.conn, 2);
    assert.deepEqual(h.stats, [], 'nothing before the batch is due');
    h.clock.advance(STATS_BATCH_MS - 30);
    assert.deepEqual(h.stats, [
      { id: 'a', seq: 1, receivedAt: t0, at: t0 + STATS_BATCH_MS },
      { id: 'b', seq: 1, receivedAt: t0 + 30, at: t0 + STATS_BATCH_MS },
      { id: 'a', seq: 2, receivedAt: t0 + 30, at: t0 + STATS_BATCH_MS },
    ]);
    a.conn.destroy();
    b.conn.destroy();
  });

  test('a deferred ack leaves ahead of any other message to the node, the batch not yet taken in included', async () => {
    const h = await harness(1000, 0);
    const a = await h.join('a');
    await report(h, 'a', a.conn, 7);
    assert.equal(await h.control.sendLimits('a', []), true);
    const first = await a.conn.receive(5_000);
    assert.equal(first.type, ControlType.StatsAck);
    assert.deepEqual(first.body, { stream: 'run-1', seq: 7 });
    assert.equal((await a.conn.receive(5_000)).type, ControlType.Limits);
    a.conn.destroy();
  });

  test('a v2 node, which resends what is unacknowledged at every interval, is acked with its batch, not at the beat', async () => {
    const h = await harness(1000, 0);
    const b = await h.join('b', { min: 1, max: 2 });
    await report(h, 'b', b.conn, 1);
    await settle();
    assert.equal(b.conn.pending, 0, 'not before the batch is taken in');
    h.clock.advance(STATS_BATCH_MS);
    const ack = await b.conn.receive(5_000);
    assert.equal(ack.type, ControlType.StatsAck);
    assert.deepEqual(ack.body, { stream: 'run-1', seq: 1 });
    b.conn.destroy();
  });
});
