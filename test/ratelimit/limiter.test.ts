import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FakeClock } from '../../src/base/fake-clock.js';
import { createLimiter, REFUSAL } from '../../src/ratelimit/limiter.js';

const tenPerSecond = { rate: { tokens: 10, per: 1000 }, capacity: 10 };

describe('Limiter', () => {
  test('refuses with KrakenD\'s status for its kind: 503 endpoint, 429 client, 500 backend', () => {
    assert.deepEqual(REFUSAL, { endpoint: 503, client: 429, backend: 500 });
    const clock = new FakeClock();
    for (const kind of ['endpoint', 'client', 'backend'] as const) {
      const limiter = createLimiter({ id: kind, kind, config: { rate: { tokens: 1, per: 1000 }, capacity: 1 }, clock });
      assert.equal(limiter.admit('k'), 0);
      assert.equal(limiter.admit('k'), REFUSAL[kind]);
      assert.equal(limiter.refusal, REFUSAL[kind]);
    }
  });

  test('a client limit refuses a request with no client key, takes no token for it and counts it', () => {
    const clock = new FakeClock();
    const limiter = createLimiter({ id: 'c', kind: 'client', config: tenPerSecond, clock });
    assert.equal(limiter.admit(undefined), 429);
    assert.equal(limiter.admit(''), 429);
    assert.equal(limiter.admit('someone'), 0);
    assert.deepEqual(limiter.takeDemand(), { admitted: 1, rejected: 2 });
  });

  test('standalone, it enforces the figures from the config', () => {
    const clock = new FakeClock();
    const limiter = createLimiter({ id: 'e', kind: 'endpoint', config: tenPerSecond, clock });
    assert.equal(limiter.leased, false);
    assert.deepEqual(limiter.share, tenPerSecond);
    let admitted = 0;
    for (let i = 0; i < 20; i++) if (limiter.admit() === 0) admitted++;
    assert.equal(admitted, 10);
  });

  test('a share applies without refilling, and never exceeds the config', () => {
    const clock = new FakeClock();
    const limiter = createLimiter({ id: 'e', kind: 'endpoint', config: tenPerSecond, clock });
    for (let i = 0; i < 7; i++) limiter.admit();
    limiter.setShare({ rate: { tokens: 100, per: 1000 }, capacity: 4 });
    assert.equal(limiter.leased, true);
    assert.deepEqual(limiter.share, { rate: { tokens: 10, per: 1000 }, capacity: 4 });
    let admitted = 0;
    for (let i = 0; i < 10; i++) if (limiter.admit() === 0) admitted++;
    assert.equal(admitted, 3); // the 3 tokens left, no burst from the lease
  });

  test('when a lease expires, the next admission falls back to the safe share', () => {
    const clock = new FakeClock();
    const limiter = createLimiter({ id: 'e', kind: 'endpoint', config: tenPerSecond, clock });
    const safe = { rate: { tokens: 1, per: 1000 }, capacity: 1 };
    limiter.setShare({ rate: { tokens: 5, per: 1000 }, capacity: 5 }, { at: 10_000, fallback: safe });
    clock.advance(9_999);
    limiter.admit();
    assert.equal(limiter.share.capacity, 5);
    clock.advance(1);
    limiter.admit();
    assert.deepEqual(limiter.share, safe);
    assert.equal(limiter.leased, true);
    clock.advance(100_000);
    assert.equal(limiter.admit(), 0);
    assert.equal(limiter.admit(), 503);
  });

  test('a client limit checks its lease expiry too', () => {
    const clock = new FakeClock();
    const limiter = createLimiter({ id: 'c', kind: 'client', config: tenPerSecond, clock });
    const safe = { rate: { tokens: 2, per: 1000 }, capacity: 2 };
    limiter.setShare(tenPerSecond, { at: 50, fallback: safe });
    clock.advance(50);
    limiter.admit('k');
    assert.deepEqual(limiter.share, safe);
  });

  test('a reload applies new figures at once when standalone, and clamps a lease to them otherwise', () => {
    const clock = new FakeClock();
    const standalone = createLimiter({ id: 'e', kind: 'endpoint', config: tenPerSecond, clock });
    const smaller = { rate: { tokens: 4, per: 1000 }, capacity: 4 };
    standalone.reconfigure(smaller);
    assert.deepEqual(standalone.config, smaller);
    assert.deepEqual(standalone.share, smaller);

    const leased = createLimiter({ id: 'e', kind: 'endpoint', config: tenPerSecond, clock });
    leased.setShare({ rate: { tokens: 6, per: 1000 }, capacity: 6 });
    leased.reconfigure({ rate: { tokens: 20, per: 1000 }, capacity: 20 });
    assert.deepEqual(leased.share, { rate: { tokens: 6, per: 1000 }, capacity: 6 });
    leased.reconfigure(smaller);
    assert.deepEqual(leased.share, smaller);
    leased.clearShare();
    assert.equal(leased.leased, false);
    assert.deepEqual(leased.share, smaller);
  });
});
