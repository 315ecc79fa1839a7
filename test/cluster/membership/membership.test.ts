import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isKrakendError } from '../../../src/base/errors.js';
import { FakeClock } from '../../../src/base/fake-clock.js';
import { memoryLogger } from '../../../src/base/logger.js';
import { SeededRandom } from '../../../src/base/random.js';
import { Membership } from '../../../src/cluster/membership/membership.js';
import type { MembershipEvent, MembershipOptions } from '../../../src/cluster/membership/membership.js';
import { MemoryNetwork } from '../../../src/cluster/membership/memory-transport.js';

function cluster(seed = 1) {
  const clock = new FakeClock();
  const network = new MemoryNetwork({ clock, random: new SeededRandom(seed), delayMs: { min: 1, max: 2 } });
  const members: Membership[] = [];
  const events: Array<[string, string, string]> = [];
  const make = async (id: string, extra: Partial<MembershipOptions> = {}): Promise<Membership> => {
    const m = new Membership({
      id,
      meta: { role: 'node', version: '1.0.0', addresses: { api: `${id}:8080` }, tags: {} },
      transport: network.transport(`${id}:7946`),
      clock,
      random: new SeededRandom(members.length + 10),
      ...extra,
    });
    for (const type of ['joined', 'updated', 'suspect', 'unreachable', 'reachable', 'removed'] as const) {
      m.on(type, (e: MembershipEvent) => void events.push([id, type, e.member.id]));
    }
    members.push(m);
    await m.start();
    return m;
  };
  return { clock, network, members, events, make };
}

describe('Membership (driver)', () => {
  test('members() lists us and the others in the architecture\'s vocabulary, with decoded metadata', async () => {
    const c = cluster();
    const a = await c.make('a', { meta: { role: 'manager', version: '2.0.0', addresses: { ui: 'a:9897' }, tags: { zone: 'x' } } });
    const b = await c.make('b');
    const answered = b.join([a.address]);
    c.clock.advance(1_000);
    assert.equal(await answered, 1);
    const local = a.local();
    assert.equal(local.local, true);
    assert.equal(local.state, 'alive');
    const seen = b.member('a');
    assert.deepEqual(seen?.meta, { role: 'manager', version: '2.0.0', addresses: { ui: 'a:9897' }, tags: { zone: 'x' } });
    assert.equal(seen?.address, 'a:7946');
    assert.equal(seen?.suspect, false);
    assert.deepEqual(seen?.protocol, { min: 1, max: 1 });
    assert.equal(seen?.local, false);
    assert.equal(typeof seen?.since, 'number');
    assert.deepEqual(a.members().map((m) => m.id).sort(), ['a', 'b']);
    for (const m of c.members) await m.close();
  });

  test('events: joined, updated, unreachable and removed reach listeners, debounced', async () => {
    const c = cluster();
    const a = await c.make('a');
    const b = await c.make('b');
    const d = await c.make('d');
    void b.join([a.address]);
    void d.join([a.address]);
    c.clock.advance(200);
    assert.deepEqual(c.events, [], 'held for the debounce');
    c.clock.advance(2_000);
    assert.ok(c.events.some((e) => e[0] === 'a' && e[1] === 'joined' && e[2] === 'b'));
    assert.ok(c.events.some((e) => e[0] === 'b' && e[1] === 'joined' && e[2] === 'd'));

    c.events.length = 0;
    b.updateMeta({ role: 'node', version: '1.0.1', addresses: {}, tags: {} });
    c.clock.advance(3_000);
    assert.ok(c.events.some((e) => e[0] === 'a' && e[1] === 'updated' && e[2] === 'b'));
    assert.equal(a.member('b')?.meta.version, '1.0.1');

    c.events.length = 0;
    await d.close();
    c.clock.advance(20_000);
    assert.ok(c.events.some((e) => e[0] === 'a' && e[1] === 'unreachable' && e[2] === 'd'));
    assert.ok(c.events.some((e) => e[0] === 'a' && e[1] === 'suspect' && e[2] === 'd') || true, 'a suspicion may be coalesced');

    c.events.length = 0;
    const left = b.leave();
    c.clock.advance(2_000);
    await left;
    assert.equal(b.running, false);
    assert.deepEqual(
      c.events.filter((e) => e[2] === 'b'),
      [['a', 'removed', 'b']],
    );
    await a.close();
  });

  test('join answers how many seeds replied; an unreachable seed counts 0, and we retry it while alone', async () => {
    const c = cluster();
    const b = await c.make('b', { preset: 'local' });
    const none = b.join(['nobody:7946']);
    c.clock.advance(2_000);
    assert.equal(await none, 0);
    const a = await c.make('nobody');
    c.clock.advance(5_000);
    assert.equal(b.member('nobody')?.state, 'alive', 'joined on a retry once the seed came up');
    await a.close();
    await b.close();
  });

  test('metadata is bounded: too large is refused with E_CONFIG_INVALID, at construction and on update', async () => {
    const c = cluster();
    const big = { role: 'node', version: '1', addresses: {}, tags: { blob: 'x'.repeat(600) } };
    assert.throws(() => new Membership({ id: 'x', meta: big, transport: c.network.transport('x:1'), clock: c.clock }), (e: unknown) => isKrakendError(e, 'E_CONFIG_INVALID'));
    const a = await c.make('a');
    assert.throws(() => a.updateMeta(big), (e: unknown) => isKrakendError(e, 'E_CONFIG_INVALID'));
    assert.throws(() => new Membership({ id: '', transport: c.network.transport('y:1'), clock: c.clock }), (e: unknown) => isKrakendError(e, 'E_CONFIG_INVALID'));
    await a.close();
  });

  test('an admission hook that throws refuses the member and logs why', async () => {
    const c = cluster();
    const { logger, lines } = memoryLogger('CM ');
    const a = await c.make('a', {
      logger,
      admit: (candidate) => {
        if (candidate.meta.role === 'node') throw new Error('store down');
        return undefined;
      },
    });
    const b = await c.make('b');
    void b.join([a.address]);
    c.clock.advance(3_000);
    assert.equal(a.member('b'), undefined);
    assert.ok(lines.some((l) => /admission hook threw for b: store down/.test(l)));
    for (const m of c.members) await m.close();
  });

  test('the admission hook sees candidates with decoded metadata and can refuse by role or version', async () => {
    const c = cluster();
    const seen: string[] = [];
    const a = await c.make('a', {
      admit: (candidate) => {
        seen.push(`${candidate.id}:${candidate.meta.version}`);
        return candidate.meta.version.startsWith('0.') ? 'incompatible version' : undefined;
      },
    });
    const old = await c.make('old', { meta: { role: 'node', version: '0.9.0', addresses: {}, tags: {} } });
    const ok = await c.make('ok');
    void old.join([a.address]);
    void ok.join([a.address]);
    c.clock.advance(5_000);
    assert.ok(seen.includes('old:0.9.0'));
    assert.equal(a.member('old'), undefined);
    assert.equal(a.member('ok')?.state, 'alive');
    assert.equal(a.stats().protocol.refusedMembers > 0, true);
    for (const m of c.members) await m.close();
  });

  test('conflict: a second live process claiming our id is reported', async () => {
    const c = cluster();
    const a = await c.make('a');
    const b = await c.make('b');
    void b.join([a.address]);
    c.clock.advance(2_000);
    const conflicts: string[] = [];
    a.on('conflict', (e) => void conflicts.push(`${e.id} ${e.known} ${e.claimed}`));
    const clone = new Membership({ id: 'b', transport: c.network.transport('clone:7946'), clock: c.clock, incarnation: 5 });
    await clone.start();
    void clone.join([a.address]);
    c.clock.advance(2_000);
    assert.deepEqual(conflicts, ['b b:7946 clone:7946']);
    assert.equal(a.member('b')?.address, 'b:7946', 'the member in place keeps its address');
    await clone.close();
    for (const m of c.members) await m.close();
  });

  test('stats expose drop counters, traffic, protocol counters and health', async () => {
    const c = cluster();
    const a = await c.make('a');
    const b = await c.make('b');
    void b.join([a.address]);
    c.clock.advance(10_000);
    const s = a.stats();
    assert.equal(s.droppedTotal, 0);
    assert.equal(s.dropped.auth_failed, 0);
    assert.ok(s.transport.packetsSent > 0 && s.transport.packetsReceived > 0);
    assert.ok(s.protocol.probes > 0);
    assert.equal(s.healthScore, 0);
    assert.deepEqual(s.members, { alive: 2, suspect: 0, unreachable: 0, removed: 0 });
    for (const m of c.members) await m.close();
  });

  test('close stops every timer: nothing is left pending on the clock', async () => {
    const c = cluster();
    const a = await c.make('a');
    const b = await c.make('b');
    void b.join([a.address]);
    c.clock.advance(3_000);
    await a.close();
    await b.close();
    c.clock.advance(100_000);
    assert.equal(c.clock.pending(), 0);
  });
});
