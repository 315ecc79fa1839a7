import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FakeClock } from '../../../src/base/fake-clock.js';
import { applyLease, fallbackFor, supersedes, toBucketSettings } from '../../../src/ratelimit/cluster/lease-applier.js';
import type { Lease } from '../../../src/ratelimit/cluster/lease-applier.js';
import { createLimiter } from '../../../src/ratelimit/limiter.js';

const config = { rate: { tokens: 100, per: 1000 }, capacity: 100 };
const lease: Lease = { limitId: 'GET /a', rate: 60, capacity: 30, ttlMs: 2000, epoch: 3, seq: 7, safeShare: 20 };

describe('applyLease', () => {
  test('sets the share until now + ttl, then the safe share, checked on admission against the monotonic clock', () => {
    const clock = new FakeClock();
    const limiter = createLimiter({ id: 'GET /a', kind: 'endpoint', config, clock });
    clock.advance(1000);
    const applied = applyLease(limiter, lease, clock.monotonic());
    assert.equal(applied.expiresAt, 3000);
    assert.deepEqual(limiter.share, toBucketSettings(60, 30));
    // Drain the 30 tokens the bucket keeps (clamped from 100), then run at 60/s.
    let admitted = 0;
    for (let i = 0; i < 100; i++) if (limiter.admit(undefined, clock.monotonic()) === 0) admitted++;
    assert.equal(admitted, 30);
    clock.advance(1999);
    assert.equal(limiter.admit(), 0);
    assert.deepEqual(limiter.share, toBucketSettings(60, 30));
    // A process stopped past the expiry (SIGSTOP) resumes on the safe share at its first admission.
    clock.advance(10_000);
    limiter.admit();
    assert.deepEqual(limiter.share, toBucketSettings(20, 20));
  });

  test('fallback modes: the safe share (capacity in proportion, never above the lease\'s), zero, or a fixed rate', () => {
    assert.deepEqual(fallbackFor(config, lease), toBucketSettings(20, 20));
    assert.deepEqual(fallbackFor(config, { ...lease, safeShare: 50 }), toBucketSettings(50, 30));
    assert.deepEqual(fallbackFor(config, lease, 'zero'), toBucketSettings(0, 0));
    assert.deepEqual(fallbackFor(config, lease, { fixed: 10 }), toBucketSettings(10, 10));
    assert.deepEqual(fallbackFor(config, lease, { fixed: 1000 }), toBucketSettings(100, 100), 'capped at the cluster-wide rate');
    const slow = { rate: { tokens: 50, per: 600_000 }, capacity: 50 };
    const slowLease = { ...lease, rate: 50 / 600, capacity: 25, safeShare: 50 / 1200 };
    const fallback = fallbackFor(slow, slowLease);
    assert.equal(fallback.rate.tokens, 50 / 1200);
    assert.ok(Math.abs(fallback.capacity - 25) < 1e-9);
  });

  test('applies with the chosen fallback mode', () => {
    const clock = new FakeClock();
    const limiter = createLimiter({ id: 'GET /a', kind: 'endpoint', config, clock });
    const applied = applyLease(limiter, lease, 0, { fallbackMode: 'zero' });
    assert.deepEqual(applied.fallback, toBucketSettings(0, 0));
    clock.advance(2000);
    assert.equal(limiter.admit(), 503);
  });

  test('a lease supersedes one of an older epoch, or of the same epoch and a lower seq; never the reverse', () => {
    assert.equal(supersedes(lease, undefined), true);
    assert.equal(supersedes(lease, { epoch: 2, seq: 100 }), true);
    assert.equal(supersedes(lease, { epoch: 3, seq: 6 }), true);
    assert.equal(supersedes(lease, { epoch: 3, seq: 7 }), false);
    assert.equal(supersedes(lease, { epoch: 3, seq: 8 }), false);
    assert.equal(supersedes(lease, { epoch: 4, seq: 1 }), false);
  });
});
