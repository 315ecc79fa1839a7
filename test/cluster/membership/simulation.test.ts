import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Keyring, generateKey, keyIdOf, parseKey } from '../../../src/cluster/wire/index.js';
import { Simulation } from '../../../src/cluster/membership/simulation.js';
import type { Transition } from '../../../src/cluster/membership/simulation.js';

const id = Simulation.idOf;

function ids(from: number, to: number): string[] {
  const out: string[] = [];
  for (let i = from; i < to; i++) out.push(id(i));
  return out;
}

/** Transitions to `unreachable` about anyone but the given members. */
function falseUnreachable(transitions: readonly Transition[], except: readonly string[] = []): Transition[] {
  return transitions.filter((t) => t.to === 'dead' && !except.includes(t.subject));
}

describe('membership simulation (fake clock, in-memory network)', () => {
  test('three members converge and see one another alive', async () => {
    const sim = new Simulation({ seed: 3 });
    await sim.bootstrap(3);
    assert.ok(sim.converged());
    for (const m of sim.up()) {
      const view = m.membership.members();
      assert.equal(view.length, 3);
      assert.ok(view.every((v) => v.state === 'alive' && !v.suspect));
      const manager = view.find((v) => v.id === id(0));
      assert.equal(manager?.meta.role, 'manager');
      assert.equal(manager?.meta.addresses['api'], '10.0.0.0:8080');
    }
    sim.run(60_000);
    assert.deepEqual(sim.transitions.filter((t) => t.to !== 'alive'), [], 'a quiet cluster stays quiet');
    await sim.closeAll();
  });

  test('ten members: a crash is suspected, then held unreachable by every member, and nothing else changes', async () => {
    const sim = new Simulation({ seed: 10 });
    await sim.bootstrap(10);
    sim.run(10_000);
    sim.clearTransitions();
    const victim = id(4);
    const crashedAt = sim.clock.monotonic();
    sim.crash(victim);
    assert.ok(sim.runUntil(() => sim.allSee(victim, 'unreachable'), 30_000));
    const elapsed = sim.clock.monotonic() - crashedAt;
    // n = 10: minimum suspicion 4 s, reached with 2 confirmations; plus the probe that first fails.
    assert.ok(elapsed < 12_000, `all held it unreachable after ${elapsed} ms`);
    const firstSuspect = sim.transitions.find((t) => t.subject === victim && t.to === 'suspect');
    assert.ok(firstSuspect && firstSuspect.at - crashedAt < 3_000);
    assert.deepEqual(sim.transitions.filter((t) => t.subject !== victim), []);
    await sim.closeAll();
  });

  test('a hundred members: a crash is known to all within the LAN bound (first suspicion + 8 s + gossip)', async () => {
    const sim = new Simulation({ seed: 100 });
    await sim.bootstrap(100);
    sim.run(5_000);
    sim.clearTransitions();
    const victim = id(42);
    const crashedAt = sim.clock.monotonic();
    sim.crash(victim);
    assert.ok(sim.runUntil(() => sim.allSee(victim, 'unreachable'), 60_000, 250));
    const all = sim.clock.monotonic() - crashedAt;
    const first = sim.transitions.find((t) => t.subject === victim && t.to === 'suspect');
    assert.ok(first, 'someone suspected it');
    assert.ok(first.at - crashedAt <= 6_500, `first suspicion after ${first.at - crashedAt} ms`);
    assert.ok(all <= 18_000, `all unreachable after ${all} ms`);
    assert.deepEqual(falseUnreachable(sim.transitions, [victim]), []);
    await sim.closeAll();
  });

  test('graceful leave: every member marks the leaver removed at once, never unreachable', async () => {
    const sim = new Simulation({ seed: 11 });
    await sim.bootstrap(10);
    sim.clearTransitions();
    const leaver = id(7);
    const leftAt = sim.clock.monotonic();
    const done = sim.leave(leaver);
    const others = sim.up().filter((m) => m.id !== leaver);
    assert.ok(sim.runUntil(() => sim.allSee(leaver, 'removed', others), 5_000, 50));
    assert.ok(sim.clock.monotonic() - leftAt <= 1_500, 'the news spread within the leave window');
    sim.run(2_000);
    await done;
    assert.equal(sim.get(leaver).membership.running, false);
    sim.run(60_000);
    assert.deepEqual(sim.transitions.filter((t) => t.subject === leaver && t.to !== 'left'), []);
    assert.deepEqual(falseUnreachable(sim.transitions), []);
    await sim.closeAll();
  });

  test('rejoin after a crash: the restarted member out-bids its death and is alive everywhere again', async () => {
    const sim = new Simulation({ seed: 12 });
    await sim.bootstrap(10);
    const victim = id(5);
    sim.crash(victim);
    assert.ok(sim.runUntil(() => sim.allSee(victim, 'unreachable'), 30_000));
    const deadIncarnation = sim.view(id(0), victim)?.incarnation ?? -1;
    await sim.restart(victim, id(1));
    assert.ok(sim.runUntil(() => sim.converged(), 10_000), 'everyone holds the restarted member alive');
    for (const m of sim.up()) {
      const v = m.membership.member(victim);
      assert.equal(v?.state, 'alive');
      assert.ok((v?.incarnation ?? -1) > deadIncarnation, 'a newer incarnation won over unreachable');
    }
    await sim.closeAll();
  });

  test('a member that left can come back with the same id', async () => {
    const sim = new Simulation({ seed: 13 });
    await sim.bootstrap(6);
    const leaver = id(3);
    const done = sim.leave(leaver);
    sim.run(3_000);
    await done;
    assert.ok(sim.allSee(leaver, 'removed'));
    await sim.restart(leaver);
    assert.ok(sim.runUntil(() => sim.converged(), 10_000));
    await sim.closeAll();
  });

  test('a partition: each side holds the other unreachable; after the heal, reconnects merge it back on its own', async () => {
    const sim = new Simulation({ seed: 14 });
    await sim.bootstrap(10);
    const a = ids(0, 5);
    const b = ids(5, 10);
    sim.partition([a, b]);
    const sideA = sim.up().filter((m) => a.includes(m.id));
    const sideB = sim.up().filter((m) => b.includes(m.id));
    assert.ok(
      sim.runUntil(() => b.every((x) => sim.allSee(x, 'unreachable', sideA)) && a.every((x) => sim.allSee(x, 'unreachable', sideB)), 60_000),
      'both sides see the other side unreachable',
    );
    // Long enough for gossip to the dead to give up: only reconnects (Serf) can merge the sides now.
    sim.run(40_000);
    sim.heal();
    const healedAt = sim.clock.monotonic();
    assert.ok(sim.runUntil(() => sim.converged(), 120_000, 250), 'the cluster merged back');
    const took = sim.clock.monotonic() - healedAt;
    assert.ok(took <= 70_000, `merged ${took} ms after the heal`);
    await sim.closeAll();
  });

  test('a member cut off from UDP but reachable over TCP is kept alive by the TCP fallback ping', async () => {
    const sim = new Simulation({ seed: 22 });
    await sim.bootstrap(10);
    sim.clearTransitions();
    const cut = sim.get(id(6));
    for (const other of sim.up()) {
      if (other === cut) continue;
      sim.network.blockPackets(cut.address, other.address);
      sim.network.blockPackets(other.address, cut.address);
    }
    sim.run(120_000);
    assert.deepEqual(sim.transitions.filter((t) => t.to === 'dead'), []);
    const rescues = sim.up().reduce((n, m) => n + m.membership.stats().protocol.tcpFallbackRescues, 0);
    assert.ok(rescues > 50, `${rescues} probes rescued over TCP`);
    await sim.closeAll();
  });

  test('5% packet loss on 100 members for ten minutes: no false unreachable; suspicions are refuted', async () => {
    const sim = new Simulation({ seed: 15 });
    await sim.bootstrap(100);
    sim.network.configure({ loss: 0.05 });
    sim.clearTransitions();
    sim.run(600_000);
    assert.deepEqual(falseUnreachable(sim.transitions), []);
    assert.ok(sim.converged(), 'nobody is left suspect');
    await sim.closeAll();
  });

  test('a member whose event loop stalls does not get healthy members declared unreachable (Lifeguard)', async () => {
    const sim = new Simulation({ seed: 16 });
    await sim.bootstrap(20);
    sim.clearTransitions();
    const slow = id(9);
    // Two-second stalls every five seconds for two minutes: its timers all fire late, its acks arrive late.
    for (let i = 0; i < 24; i++) {
      sim.stall(slow, 2_000);
      sim.run(5_000);
    }
    sim.run(30_000);
    assert.deepEqual(falseUnreachable(sim.transitions, [slow]), [], 'no healthy member was declared unreachable, by anyone');
    const accusedBySlow = sim.transitions.filter((t) => t.observer === slow && t.to === 'suspect');
    assert.deepEqual(accusedBySlow, [], 'the stalled member blamed nobody for its own stalls');
    assert.ok(sim.get(slow).membership.stats().protocol.stalls > 0, 'the stalls were noticed');
    assert.ok(sim.converged(), 'once its stalls end, the slow member is alive everywhere again');
    await sim.closeAll();
  });

  test('key rotation (install, use, remove) on every member without a false suspicion', async () => {
    const oldKey = generateKey();
    const newKey = generateKey();
    const rings = new Map<number, Keyring>();
    const sim = new Simulation({
      seed: 17,
      keyring: (i) => {
        const ring = Keyring.fromConfig(oldKey);
        rings.set(i, ring);
        return ring;
      },
    });
    await sim.bootstrap(10);
    sim.clearTransitions();
    const newId = keyIdOf(parseKey(newKey));
    const oldId = keyIdOf(parseKey(oldKey));
    for (const ring of rings.values()) {
      ring.install(newKey);
      sim.run(1_000);
    }
    for (const ring of rings.values()) {
      ring.use(newId);
      sim.run(1_000);
    }
    sim.run(5_000);
    for (const ring of rings.values()) {
      ring.remove(oldId);
      sim.run(1_000);
    }
    sim.run(30_000);
    assert.deepEqual(sim.transitions.filter((t) => t.to === 'suspect' || t.to === 'dead'), []);
    assert.ok(sim.converged());
    const authFailures = sim.up().reduce((n, m) => n + m.membership.stats().dropped.auth_failed, 0);
    assert.equal(authFailures, 0, 'no packet was ever under a key its receiver lacked');
    await sim.closeAll();
  });

  test('a process without the cluster key can neither join nor mark anyone unreachable', async () => {
    const key = generateKey();
    const sim = new Simulation({ seed: 18, keyring: (i) => Keyring.fromConfig(i === 5 ? generateKey() : key) });
    await sim.add(0);
    for (let i = 1; i < 5; i++) void (await sim.add(i)).membership.join([Simulation.addressOf(0)]);
    sim.run(5_000);
    const intruder = await sim.add(5);
    const joined = intruder.membership.join([Simulation.addressOf(0)]);
    sim.run(30_000);
    assert.equal(await joined, 0);
    for (const m of sim.up()) {
      if (m.id === intruder.id) continue;
      assert.equal(m.membership.member(intruder.id), undefined);
      assert.equal(m.membership.memberCounts().alive, 5);
    }
    assert.deepEqual(falseUnreachable(sim.transitions), []);
    assert.ok(sim.get(id(0)).membership.stats().dropped.auth_failed > 0, 'its traffic was dropped and counted');
    await sim.closeAll();
  });

  test('the admission hook keeps a refused member out of every view', async () => {
    const sim = new Simulation({
      seed: 19,
      admit: () => (candidate) => (candidate.id === id(3) ? 'subscription full' : undefined),
    });
    await sim.add(0);
    for (let i = 1; i < 6; i++) void (await sim.add(i)).membership.join([Simulation.addressOf(0)]);
    sim.run(20_000);
    for (const m of sim.up()) {
      if (m.id === id(3)) continue;
      assert.equal(m.membership.member(id(3)), undefined, `${m.id} admitted the refused member`);
      assert.equal(m.membership.memberCounts().alive, 5);
    }
    assert.ok(sim.get(id(0)).membership.stats().protocol.refusedMembers > 0);
    await sim.closeAll();
  });

  test('duplicated and reordered packets change nothing', async () => {
    const sim = new Simulation({ seed: 20, faults: { duplicate: 0.2, reorder: 0.2, reorderDelayMs: 300, delayMs: { min: 1, max: 20 } } });
    await sim.bootstrap(20);
    sim.clearTransitions();
    sim.run(120_000);
    assert.deepEqual(sim.transitions.filter((t) => t.to === 'dead'), []);
    assert.ok(sim.converged());
    await sim.closeAll();
  });

  test('the same seed replays the same history', async () => {
    const run = async (): Promise<string> => {
      const sim = new Simulation({ seed: 21, faults: { loss: 0.05 } });
      await sim.bootstrap(10);
      sim.crash(id(3));
      sim.run(30_000);
      const out = JSON.stringify(sim.transitions);
      await sim.closeAll();
      return out;
    };
    assert.equal(await run(), await run());
  });
});
