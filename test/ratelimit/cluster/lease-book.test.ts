import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type { LeaseBody, LimitReport } from '../../../src/cluster/control/messages.js';
import { fallbackCapacity, supersedes } from '../../../src/ratelimit/cluster/lease-applier.js';
import type { Lease } from '../../../src/ratelimit/cluster/lease-applier.js';
import { clusterLimit, LeaseBook } from '../../../src/ratelimit/cluster/lease-book.js';
import type { LeaseBookOptions, NodeLeases, NodeLimitReport, NodeState } from '../../../src/ratelimit/cluster/lease-book.js';

const LIMIT = { limitId: 'GET /a', rate: 100, capacity: 100 };
const TTL = 2000;
const DELAY = 500;

function book(options: Partial<LeaseBookOptions> = {}): LeaseBook {
  const b = new LeaseBook({ epoch: 1, now: 0, learning: false, ttlMs: TTL, maxDelayMs: DELAY, ...options });
  b.setLimits([LIMIT]);
  return b;
}

function leaseOf(grants: readonly NodeLeases[], nodeId: string): Lease | undefined {
  return grants.find((g) => g.nodeId === nodeId)?.leases[0];
}

/** A report of `rps` requests per second over one second, holding `lease` (with `remainingMs` left). */
function report(rps: number, lease?: Lease, remainingMs = TTL): NodeLimitReport {
  return {
    limitId: LIMIT.limitId,
    admitted: rps,
    rejected: 0,
    intervalMs: 1000,
    ...(lease ? { lease: { rate: lease.rate, capacity: lease.capacity, remainingMs, epoch: lease.epoch, seq: lease.seq } } : {}),
  };
}

const sum = (grants: readonly NodeLeases[]) => grants.reduce((a, g) => a + (g.leases[0]?.rate ?? 0), 0);

describe('LeaseBook', () => {
  test('the control channel\'s types fit: LimitReport in, LeaseBody out', () => {
    const fromWire: LimitReport = { limitId: 'x', rate: 1, capacity: 1, admitted: 1, rejected: 0, intervalMs: 1000 };
    const accepted: NodeLimitReport = fromWire;
    const lease: Lease = { limitId: 'x', rate: 1, capacity: 1, ttlMs: 1, epoch: 1, seq: 1, safeShare: 1 };
    const toWire: LeaseBody = lease;
    assert.ok(accepted && toWire);
  });

  test('clusterLimit reads krakend.json\'s figures in tokens per second: "50 every 10m" is 1/12', () => {
    const limit = clusterLimit('GET /slow', { rate: { tokens: 50, per: 600_000 }, capacity: 50 });
    assert.deepEqual(limit, { limitId: 'GET /slow', rate: 50 / 600, capacity: 50, windowMs: 600_000 });
  });

  test('nodes joining get an even split at once, with epoch, growing seq, TTL and a safe share', () => {
    const b = book();
    for (const id of ['a', 'b', 'c', 'd']) b.setNodeState(id, 'alive', 0);
    const grants = b.allocate(0);
    assert.equal(grants.length, 4);
    for (const g of grants) {
      const l = g.leases[0];
      assert.ok(l);
      assert.equal(g.changed, true);
      assert.equal(l.rate, 25);
      assert.equal(l.capacity, 25);
      assert.equal(l.ttlMs, TTL);
      assert.equal(l.epoch, 1);
      assert.equal(l.safeShare, 25);
    }
    assert.deepEqual(grants.map((g) => g.leases[0]?.seq), [1, 2, 3, 4]);
    assert.deepEqual(b.leasesFor('c'), grants[2]?.leases);
  });

  test('skewed demand: decreases go out at once, the increase once the decreases are acknowledged', () => {
    const b = book();
    for (const id of ['a', 'b', 'c']) b.setNodeState(id, 'alive', 0);
    const first = b.allocate(0);
    const held = new Map(first.map((g) => [g.nodeId, g.leases[0] as Lease]));
    b.report('a', [report(120, held.get('a'))], 1000);
    b.report('b', [report(22.5, held.get('b'))], 1000);
    b.report('c', [report(7.5, held.get('c'))], 1000);
    const second = b.allocate(1000);
    assert.ok(Math.abs((leaseOf(second, 'b')?.rate ?? 0) - 22.5) < 1e-9);
    assert.ok(Math.abs((leaseOf(second, 'c')?.rate ?? 0) - 7.5) < 1e-9);
    // b and c may still enforce 33.3 until they say they hold the new leases: a stays where it is.
    assert.ok(Math.abs((leaseOf(second, 'a')?.rate ?? 0) - 100 / 3) < 1e-9);
    assert.deepEqual(b.grantPending(1100), []);
    // b acknowledges: a gets b's freed room, not yet c's.
    b.report('b', [{ ...report(0, leaseOf(second, 'b')), intervalMs: 0 }], 1100);
    const third = b.grantPending(1100);
    assert.deepEqual(third.map((g) => g.nodeId), ['a']);
    assert.ok(Math.abs((leaseOf(third, 'a')?.rate ?? 0) - (100 / 3 + (100 / 3 - 22.5))) < 1e-9);
    b.report('c', [{ ...report(0, leaseOf(second, 'c')), intervalMs: 0 }], 1200);
    assert.ok(Math.abs((leaseOf(b.grantPending(1200), 'a')?.rate ?? 0) - 70) < 1e-9);
    // Renewals once 0.9 refresh interval has passed since each node's last lease: same figures, not a change.
    assert.deepEqual(b.allocate(1800), [], 'a between ticks: nothing changed, nothing due');
    const renew = b.allocate(2200);
    assert.equal(renew.length, 3);
    assert.ok(renew.every((g) => !g.changed));
  });

  test('safe share is limit ÷ node count, capped at the lease (default), or limit ÷ node count (even)', () => {
    for (const mode of ['capped', 'even'] as const) {
      const b = book({ safeShareMode: mode });
      for (const id of ['a', 'b']) b.setNodeState(id, 'alive', 0);
      const held = new Map(b.allocate(0).map((g) => [g.nodeId, g.leases[0] as Lease]));
      b.report('a', [report(500, held.get('a'))], 1000);
      b.report('b', [report(1, held.get('b'))], 1000);
      b.allocate(1000);
      const view = b.view(1000)[0];
      const lb = view?.nodes.find((n) => n.nodeId === 'b')?.lease;
      assert.equal(lb?.safeShare, mode === 'capped' ? lb?.rate : 50);
      assert.equal(view?.nodeCount, 2);
    }
  });

  test('a node that left: its share is reused only once its lease has expired (sent + ttl + max delay)', () => {
    const b = book();
    for (const id of ['a', 'b']) b.setNodeState(id, 'alive', 0);
    let held = new Map(b.allocate(0).map((g) => [g.nodeId, g.leases[0] as Lease]));
    b.report('a', [report(500, held.get('a'))], 900);
    b.report('b', [report(500, held.get('b'))], 900);
    held = new Map(b.allocate(1000).map((g) => [g.nodeId, g.leases[0] as Lease]));
    b.report('a', [report(500, held.get('a'))], 1100);
    b.setNodeState('b', 'removed', 1200);
    const during = b.allocate(1200);
    assert.ok(sum(during) <= 50 + 1e-9, 'b may still enforce 50 until its lease expires');
    assert.ok((leaseOf(b.allocate(1000 + TTL + DELAY - 1), 'a')?.rate ?? 100) <= 50 + 1e-9);
    const after = b.allocate(1000 + TTL + DELAY);
    assert.ok(Math.abs((leaseOf(after, 'a')?.rate ?? 0) - 100) < 1e-9);
    assert.equal(b.view(1000 + TTL + DELAY)[0]?.nodes.length, 1, 'the departed node is forgotten');
  });

  for (const state of ['unreachable', 'down'] as const) {
    test(`a node going ${state}: reallocation, and its share is free once its lease has expired`, () => {
      const b = book();
      for (const id of ['a', 'b', 'c']) b.setNodeState(id, 'alive', 0);
      b.allocate(0);
      b.setNodeState('c', state, 100);
      const now = TTL + DELAY;
      for (const id of ['a', 'b']) b.report(id, [report(500, b.leasesFor(id)[0])], now - 10);
      const grants = b.allocate(now);
      assert.deepEqual(grants.map((g) => g.nodeId).sort(), ['a', 'b']);
      assert.ok(Math.abs(sum(grants) - 100) < 1e-9);
    });
  }

  test('holdUnreachableFallback: an unreachable node\'s safe share stays reserved until it is down', () => {
    const b = book({ holdUnreachableFallback: true });
    for (const id of ['a', 'b']) b.setNodeState(id, 'alive', 0);
    b.allocate(0);
    b.setNodeState('b', 'unreachable', 100);
    const later = 10_000;
    b.report('a', [report(500, b.leasesFor('a')[0])], later - 10);
    b.allocate(later);
    b.report('a', [report(500, b.leasesFor('a')[0])], later + 10);
    assert.ok(Math.abs((b.leasesFor('a')[0]?.rate ?? 0) - 50) < 1e-9);
    b.setNodeState('b', 'down', later + 20);
    assert.ok(Math.abs((leaseOf(b.allocate(later + 1000), 'a')?.rate ?? 0) - 100) < 1e-9);
  });

  test('a silent node (alive in gossip, cut off from the manager) gets nothing new and keeps its fallback reserved', () => {
    const b = book();
    for (const id of ['a', 'b']) b.setNodeState(id, 'alive', 0);
    b.allocate(0);
    // b reports nothing any more; a keeps reporting a large demand.
    let grants: NodeLeases[] = [];
    for (let t = 1000; t <= 20_000; t += 1000) {
      b.report('a', [report(500, b.leasesFor('a')[0])], t - 10);
      b.report('a', [{ ...report(0, b.leasesFor('a')[0]), intervalMs: 0 }], t - 5);
      grants = b.allocate(t);
      b.report('a', [{ ...report(0, leaseOf(grants, 'a') ?? b.leasesFor('a')[0]), intervalMs: 0 }], t + 5);
      grants = [...grants, ...b.grantPending(t + 5)];
    }
    assert.ok(grants.every((g) => g.nodeId === 'a'));
    const view = b.view(20_005)[0];
    const silent = view?.nodes.find((n) => n.nodeId === 'b');
    assert.equal(silent?.silent, true);
    assert.equal(silent?.committed.rate, 50, 'b runs on its safe share (capped at its lease, 50)');
    assert.ok(Math.abs((b.leasesFor('a')[0]?.rate ?? 0) - 50) < 1e-9);
  });

  test('after a restart: learning for one lease length, re-issuing what nodes report, nothing else', () => {
    const old = book({ epoch: 4 });
    for (const id of ['a', 'b', 'c']) old.setNodeState(id, 'alive', 0);
    const held = new Map(old.allocate(0).map((g) => [g.nodeId, g.leases[0] as Lease]));
    // The manager restarts at 500 with a higher epoch; a and b report their leases, c is silent for now, d joins.
    const b = new LeaseBook({ epoch: 5, now: 500, ttlMs: TTL, maxDelayMs: DELAY });
    b.setLimits([LIMIT]);
    for (const id of ['a', 'b', 'c']) b.setNodeState(id, 'alive', 500);
    assert.equal(b.learning(500), true);
    b.report('a', [report(500, held.get('a'), 1500)], 600);
    b.report('b', [report(1, held.get('b'), 1500)], 600);
    b.setNodeState('d', 'alive', 700);
    const relearned = b.allocate(1000);
    assert.deepEqual(relearned.map((g) => g.nodeId).sort(), ['a', 'b']);
    for (const g of relearned) {
      const l = g.leases[0];
      assert.equal(l?.epoch, 5);
      assert.ok(Math.abs((l?.rate ?? 0) - 100 / 3) < 1e-9, 'the same figures, nothing more');
      assert.ok(supersedes(l as Lease, held.get(g.nodeId)));
    }
    assert.deepEqual(b.leasesFor('d'), []);
    // Learning ends at 500 + ttl + max delay.
    assert.equal(b.learning(500 + TTL + DELAY - 1), true);
    assert.equal(b.learning(500 + TTL + DELAY), false);
    for (const id of ['a', 'b']) b.report(id, [report(id === 'a' ? 500 : 1, leaseOf(relearned, id))], 2000);
    const now = 500 + TTL + DELAY;
    const after = b.allocate(now);
    // c never reported (it may be on its fallback: 100 ÷ 4), d is a newcomer: nothing is leased beyond the limit.
    const view = b.view(now)[0];
    const committed = view?.nodes.reduce((a, n) => a + n.committed.rate, 0) ?? 0;
    assert.ok(committed <= 100 + 1e-9, `committed ${committed}`);
    assert.ok(after.some((g) => g.nodeId === 'd'));
  });

  test('a restarted manager with the same epoch moves its sequence past what the nodes report', () => {
    const b = new LeaseBook({ epoch: 1, now: 0, ttlMs: TTL, maxDelayMs: DELAY });
    b.setLimits([LIMIT]);
    b.setNodeState('a', 'alive', 0);
    b.report('a', [report(10, { limitId: LIMIT.limitId, rate: 60, capacity: 60, ttlMs: TTL, epoch: 1, seq: 41, safeShare: 60 })], 100);
    const l = b.allocate(1000)[0]?.leases[0];
    assert.ok(l && l.seq > 41 && l.rate === 60);
  });

  test('a limit whose figures shrink is cut at once; one dropped from the config is forgotten', () => {
    const b = book();
    for (const id of ['a', 'b']) b.setNodeState(id, 'alive', 0);
    b.allocate(0);
    b.setLimits([{ ...LIMIT, rate: 10, capacity: 10 }, { limitId: 'GET /b', rate: 4, capacity: 4 }]);
    const grants = b.allocate(100);
    for (const g of grants) {
      assert.equal(g.leases.length, 2);
      assert.ok((g.leases.find((l) => l.limitId === LIMIT.limitId)?.rate ?? 99) <= 5 + 1e-9);
    }
    b.setLimits([{ limitId: 'GET /b', rate: 4, capacity: 4 }]);
    assert.deepEqual(b.view(200).map((v) => v.limitId), ['GET /b']);
  });

  test('a long window: the demand is the mean over the window, or the last interval if higher', () => {
    const b = new LeaseBook({ epoch: 1, now: 0, learning: false });
    b.setLimits([{ limitId: 'slow', rate: 50 / 600, capacity: 50, windowMs: 600_000 }]);
    for (const id of ['a', 'b']) b.setNodeState(id, 'alive', 0);
    b.allocate(0);
    const r = (n: number, t: number): NodeLimitReport => ({ limitId: 'slow', admitted: n, rejected: 0, intervalMs: 1000, lease: undefined });
    // a: 3 requests in its first second, none since; b: nothing.
    b.report('a', [r(3, 0)], 1000);
    for (let t = 2000; t <= 10_000; t += 1000) {
      b.report('a', [r(0, t)], t);
      b.report('b', [r(0, t)], t);
    }
    const view = b.view(10_000)[0];
    const demand = view?.nodes.find((n) => n.nodeId === 'a')?.demand ?? 0;
    assert.ok(Math.abs(demand - 3 / 10) < 1e-9, `demand ${demand}`);
  });

  // ---- the invariant, under random operations ----

  interface ModelNode {
    id: string;
    crashed: boolean;
    partitioned: boolean;
    held: (Lease & { expiresAt: number }) | undefined;
    state: NodeState;
  }

  // Weighted so that runs are mostly traffic, with now and then a fault.
  const opArb = fc.oneof(
    { weight: 15, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: 900 }) }) },
    { weight: 15, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: 100 }) }) },
    {
      weight: 40,
      arbitrary: fc.record({
        kind: fc.constant('report' as const),
        node: fc.nat(5),
        rps: fc.oneof(fc.constantFrom(0, 1, 500), fc.double({ min: 0, max: 500, noNaN: true })),
      }),
    },
    { weight: 10, arbitrary: fc.record({ kind: fc.constant('tick' as const) }) },
    {
      weight: 2,
      arbitrary: fc.record({ kind: fc.constant('crash' as const), node: fc.nat(5), then: fc.constantFrom<NodeState>('removed', 'unreachable', 'down') }),
    },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('partition' as const), node: fc.nat(5) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('join' as const) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('restart' as const) }) },
  );

  test('property: whatever happens (delays, loss, crashes, partitions, restarts), what the nodes may enforce never adds up to more than the limit', () => {
    fc.assert(
      fc.property(
        fc.array(opArb, { minLength: 20, maxLength: 200, size: 'max' }),
        fc.integer({ min: 0, max: 2 ** 31 }),
        (ops, seed) => {
          let rnd = seed;
          const random = () => ((rnd = (rnd * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
          let now = 0;
          let epoch = 1;
          const options = { ttlMs: TTL, maxDelayMs: DELAY };
          let b = new LeaseBook({ epoch, now, learning: false, ...options });
          b.setLimits([LIMIT]);
          const nodes: ModelNode[] = [];
          const inFlight: { at: number; run: () => void }[] = [];
          const join = () => {
            const node: ModelNode = { id: `n${nodes.length}`, crashed: false, partitioned: false, held: undefined, state: 'alive' };
            nodes.push(node);
            b.setNodeState(node.id, 'alive', now);
            send(b.allocate(now));
          };
          const reach = (node: ModelNode) => !node.crashed && !node.partitioned;
          const send = (grants: readonly NodeLeases[]) => {
            for (const g of grants) {
              const node = nodes.find((n) => n.id === g.nodeId);
              if (!node || random() < 0.1) continue; // lost
              const at = now + random() * DELAY;
              inFlight.push({
                at,
                run: () => {
                  if (!reach(node)) return;
                  for (const l of g.leases) if (supersedes(l, node.held)) node.held = { ...l, expiresAt: at + l.ttlMs };
                },
              });
            }
          };
          const enforced = (node: ModelNode, t: number) => {
            if (node.crashed || !node.held) return { rate: 0, capacity: 0 };
            if (t < node.held.expiresAt) return { rate: node.held.rate, capacity: node.held.capacity };
            const rate = Math.min(node.held.safeShare, LIMIT.rate);
            return { rate, capacity: fallbackCapacity(LIMIT, node.held.capacity, rate) };
          };
          const check = (t: number) => {
            const rate = nodes.reduce((a, n) => a + enforced(n, t).rate, 0);
            const cap = nodes.reduce((a, n) => a + enforced(n, t).capacity, 0);
            assert.ok(rate <= LIMIT.rate + 1e-6, `Σ rate ${rate} at ${t}`);
            assert.ok(cap <= LIMIT.capacity + 1e-6, `Σ capacity ${cap} at ${t}`);
          };
          const advance = (to: number) => {
            // Messages in order of arrival, including those sent while delivering others.
            for (;;) {
              inFlight.sort((x, y) => x.at - y.at);
              const m = inFlight[0];
              if (!m || m.at > to) break;
              inFlight.shift();
              now = Math.max(now, m.at);
              m.run();
              check(now);
            }
            now = to;
            check(now);
          };
          for (let i = 0; i < 3; i++) join();
          for (const op of ops) {
            switch (op.kind) {
              case 'advance':
                advance(now + op.ms);
                break;
              case 'tick':
                send(b.allocate(now));
                break;
              case 'join':
                if (nodes.length < 6) join();
                break;
              case 'report': {
                const node = nodes[op.node % nodes.length];
                if (!node || !reach(node)) break;
                const held = node.held && now < node.held.expiresAt ? node.held : undefined;
                const body = report(op.rps, held, held ? held.expiresAt - now : 0);
                const at = now + random() * DELAY;
                inFlight.push({
                  at,
                  run: () => {
                    b.report(node.id, [body], at);
                    send(random() < 0.5 ? b.allocate(at) : b.grantPending(at));
                  },
                });
                break;
              }
              case 'crash': {
                const node = nodes[op.node % nodes.length];
                if (!node || node.crashed) break;
                node.crashed = true;
                // Membership notices later; the book is told only of nodes that really stopped.
                const at = now + random() * 3000;
                const then = op.then;
                inFlight.push({
                  at,
                  run: () => {
                    node.state = then;
                    b.setNodeState(node.id, then, at);
                    send(b.allocate(at));
                  },
                });
                break;
              }
              case 'partition': {
                const node = nodes[op.node % nodes.length];
                if (node) node.partitioned = !node.partitioned;
                break;
              }
              case 'restart': {
                // The manager dies and comes back with a higher epoch; in-flight messages to it are lost.
                inFlight.length = 0;
                epoch += 1;
                b = new LeaseBook({ epoch, now, ...options });
                b.setLimits([LIMIT]);
                for (const n of nodes) b.setNodeState(n.id, n.state, now);
                break;
              }
            }
          }
          advance(now + 10_000);
        },
      ),
      { numRuns: 300 },
    );
  });
});
