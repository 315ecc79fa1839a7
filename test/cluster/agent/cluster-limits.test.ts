import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../../src/base/fake-clock.js';
import { memoryLogger } from '../../../src/base/logger.js';
import { createLimiter } from '../../../src/ratelimit/limiter.js';
import { ClusterLimits } from '../../../src/cluster/agent/cluster-limits.js';
import type { LeaseBody } from '../../../src/cluster/control/messages.js';

function setup() {
  const clock = new FakeClock();
  const { logger } = memoryLogger();
  // 100 req/s cluster-wide, capacity 100.
  const limiter = createLimiter({ id: 'ratelimit/router:GET /a', kind: 'endpoint', config: { rate: { tokens: 100, per: 1000 }, capacity: 100 }, clock });
  const client = createLimiter({ id: 'ratelimit/router/client:GET /a', kind: 'client', config: { rate: { tokens: 5, per: 1000 }, capacity: 5 }, clock });
  const limits = new ClusterLimits(() => [limiter, client], clock, logger);
  return { clock, limiter, limits };
}

const lease = (over: Partial<LeaseBody> = {}): LeaseBody => ({
  limitId: 'ratelimit/router:GET /a',
  rate: 20,
  capacity: 20,
  ttlMs: 3000,
  epoch: 1,
  seq: 1,
  safeShare: 10,
  ...over,
});

test('reports the cluster-wide figures and the demand since the last report, client limits excluded', () => {
  const { clock, limiter, limits } = setup();
  for (let i = 0; i < 7; i++) limiter.admit();
  clock.advance(1000);
  const report = limits.report();
  assert.equal(report?.limits.length, 1);
  const r = report?.limits[0];
  assert.deepEqual([r?.limitId, r?.rate, r?.capacity, r?.admitted, r?.rejected, r?.intervalMs], ['ratelimit/router:GET /a', 100, 100, 7, 0, 1000]);
  assert.equal(r?.lease, undefined);
  assert.equal(limits.report()?.limits[0]?.admitted, 0, 'demand is counted once');
});

test('a lease caps the node at its share, and the held lease is reported back', () => {
  const { clock, limiter, limits } = setup();
  limits.apply([lease()]);
  let admitted = 0;
  for (let i = 0; i < 100; i++) if (limiter.admit() === 0) admitted++;
  assert.equal(admitted, 20, 'the lease capacity, not the cluster-wide 100');
  clock.advance(500);
  const held = limits.report()?.limits[0]?.lease;
  assert.deepEqual([held?.rate, held?.capacity, held?.remainingMs, held?.epoch], [20, 20, 2500, 1]);
});

test('an expired lease falls back to the safe share, checked against the monotonic clock', () => {
  const { clock, limiter, limits } = setup();
  limits.apply([lease({ rate: 50, capacity: 50, safeShare: 10 })]);
  clock.advance(10_000); // a node stopped (SIGSTOP) far past its lease
  let admitted = 0;
  for (let i = 0; i < 100; i++) if (limiter.admit() === 0) admitted++;
  assert.ok(admitted <= 10, `admitted ${admitted} on a stale lease`);
  assert.equal(limits.report()?.limits[0]?.lease, undefined, 'no lease is reported once expired');
});

test('leases from an older epoch (a deposed manager) or an older sequence are ignored', () => {
  const { limiter, limits } = setup();
  limits.apply([lease({ epoch: 2, seq: 5, rate: 30, capacity: 30 })]);
  limits.apply([lease({ epoch: 1, seq: 9, rate: 90, capacity: 90 })]);
  limits.apply([lease({ epoch: 2, seq: 4, rate: 80, capacity: 80 })]);
  assert.equal(limiter.share.capacity, 30);
});

test('standalone again after manager_grace: the per-instance figures apply', () => {
  const { limiter, limits } = setup();
  limits.apply([lease()]);
  limits.standalone();
  assert.equal(limiter.leased, false);
  assert.equal(limiter.share.capacity, 100);
});

describe('past the grace period without a lease', () => {
  const HOLD = 5_000;
  function withReach(view: { reachable: number; known: number } | undefined) {
    const clock = new FakeClock();
    const { logger, lines } = memoryLogger();
    const limiter = createLimiter({ id: 'ratelimit/router:GET /a', kind: 'endpoint', config: { rate: { tokens: 100, per: 1000 }, capacity: 100 }, clock });
    const state = { view };
    const limits = new ClusterLimits(() => [limiter], clock, logger, 'safe_share', () => state.view);
    limits.setFallbackHold(HOLD);
    return { clock, limiter, limits, state, lines };
  }
  /** Requests admitted over one second, spread evenly (the bucket refills meanwhile). */
  function admittedPerSecond(clock: FakeClock, limiter: ReturnType<typeof createLimiter>): number {
    let n = 0;
    for (let i = 0; i < 100; i++) {
      clock.advance(10);
      for (let j = 0; j < 5; j++) if (limiter.admit() === 0) n++;
    }
    return n;
  }

  test('a node cut off from most of the cluster stops admitting, and the next lease restores it', (t) => {
    const { clock, limiter, limits, state, lines } = withReach({ reachable: 4, known: 4 });
    t.after(() => limits.close());
    limits.apply([lease({ rate: 50, capacity: 50, safeShare: 10 })]);
    state.view = { reachable: 1, known: 4 };
    clock.advance(4_000);
    assert.ok(admittedPerSecond(clock, limiter) > 0, 'the safe share while the manager still reserves it');
    clock.advance(1_000);
    assert.equal(admittedPerSecond(clock, limiter), 0, 'nothing past the hold, in a minority');
    assert.ok(lines.some((l) => l.includes('admitting nothing')), lines.join('\n'));
    limits.apply([lease({ rate: 50, capacity: 50, safeShare: 10, seq: 2 })]);
    assert.ok(admittedPerSecond(clock, limiter) > 10);
  });

  test('gossip forgetting the unreachable nodes does not make a lone node a majority', (t) => {
    const { clock, limiter, limits, state } = withReach({ reachable: 4, known: 4 });
    t.after(() => limits.close());
    limits.apply([lease({ rate: 50, capacity: 50, safeShare: 10 })]);
    state.view = { reachable: 1, known: 1 }; // the others reaped from its view
    clock.advance(HOLD + 1_000);
    assert.equal(admittedPerSecond(clock, limiter), 0);
  });

  test('a node still in touch with a majority (the manager is down) keeps its safe share', (t) => {
    const { clock, limiter, limits } = withReach({ reachable: 3, known: 4 });
    t.after(() => limits.close());
    limits.apply([lease({ rate: 50, capacity: 50, safeShare: 10 })]);
    clock.advance(HOLD * 4);
    const n = admittedPerSecond(clock, limiter);
    assert.ok(n > 0 && n <= 10 + 10, `admitted ${n}/s on a safe share of 10/s`);
  });

  test('a stalled process (SIGSTOP) resumes at zero: its gossip view is stale', (t) => {
    const { clock, limiter, limits } = withReach({ reachable: 4, known: 4 });
    t.after(() => limits.close());
    limits.apply([lease({ rate: 50, capacity: 50, safeShare: 10 })]);
    limits.close(); // no checks while stopped
    clock.advance(HOLD * 3);
    limits.check();
    assert.equal(admittedPerSecond(clock, limiter), 0);
  });

  test('without gossip the safe share ends with the hold', (t) => {
    const { clock, limiter, limits } = withReach(undefined);
    t.after(() => limits.close());
    limits.apply([lease({ rate: 50, capacity: 50, safeShare: 10 })]);
    clock.advance(HOLD + 500);
    assert.equal(admittedPerSecond(clock, limiter), 0);
  });
});
