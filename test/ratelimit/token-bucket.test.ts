import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FakeClock } from '../../src/base/fake-clock.js';
import { TokenBucket, tokensPerMs } from '../../src/ratelimit/token-bucket.js';

/** A clock that can be set to any reading, including an earlier one. */
class SettableClock extends FakeClock {
  reading = 0;
  override monotonic(): number {
    return this.reading;
  }
}

const perSecond = (tokens: number) => ({ tokens, per: 1000 });

/** Takes until refused; returns how many were granted. */
function drain(bucket: TokenBucket, max = 1_000_000): number {
  let n = 0;
  while (n < max && bucket.tryTake()) n++;
  return n;
}

describe('TokenBucket', () => {
  test('starts full: the first burst is exactly the capacity', () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket(clock, { rate: perSecond(5), capacity: 5 });
    assert.equal(drain(bucket), 5);
    assert.equal(bucket.tryTake(), false);
  });

  test('refills one token per 1/rate, lazily, and not a moment earlier', () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket(clock, { rate: perSecond(5), capacity: 5 });
    drain(bucket);
    clock.advance(199);
    assert.equal(bucket.tryTake(), false);
    clock.advance(1);
    assert.equal(bucket.tryTake(), true);
    assert.equal(bucket.tryTake(), false);
    clock.advance(600);
    assert.equal(drain(bucket), 3);
  });

  test('never holds more than its capacity, however long it idles', () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket(clock, { rate: perSecond(100), capacity: 10 });
    drain(bucket);
    clock.advance(3_600_000);
    assert.equal(bucket.available(), 10);
    assert.equal(drain(bucket), 10);
  });

  test('counts "50 every 10m" exactly: one token every 12 s to the millisecond, 50 after ten minutes', () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket(clock, { rate: { tokens: 50, per: 600_000 }, capacity: 50 });
    assert.equal(drain(bucket), 50);
    clock.advance(11_999);
    assert.equal(bucket.tryTake(), false);
    clock.advance(1);
    assert.equal(bucket.tryTake(), true);
    assert.equal(bucket.tryTake(), false);
    // 49 more tokens take 49 × 12 s; one millisecond short, only 48 are there.
    clock.advance(49 * 12_000 - 1);
    assert.equal(drain(bucket), 48);
    clock.advance(1);
    assert.equal(drain(bucket), 1);
    clock.advance(600_000);
    assert.equal(drain(bucket), 50);
  });

  test('counts a slow rate exactly over many refills (1 every 7 s, for a day)', () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket(clock, { rate: { tokens: 1, per: 7000 }, capacity: 1 });
    let granted = 0;
    for (let t = 0; t < 86_400_000; t += 1000) {
      if (bucket.tryTake()) granted++;
      clock.advance(1000);
    }
    // The first token at 0, then one every 7 s: ceil(86400 / 7) = 12343.
    assert.equal(granted, 12_343);
  });

  test('a fractional rate per second refills exactly (0.5 every 1s is one token every 2 s)', () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket(clock, { rate: perSecond(0.5), capacity: 1 });
    assert.equal(bucket.tryTake(), true);
    clock.advance(1999);
    assert.equal(bucket.tryTake(), false);
    clock.advance(1);
    assert.equal(bucket.tryTake(), true);
  });

  test('tryTake(n) takes n tokens at once, or none', () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket(clock, { rate: perSecond(1), capacity: 5 });
    assert.equal(bucket.tryTake(3), true);
    assert.equal(bucket.tryTake(3), false);
    assert.equal(bucket.available(), 2);
    assert.equal(bucket.tryTake(2), true);
  });

  test('starts with the given initial tokens, clamped to the capacity', () => {
    const clock = new FakeClock();
    assert.equal(new TokenBucket(clock, { rate: perSecond(1), capacity: 5 }, 2).available(), 2);
    assert.equal(new TokenBucket(clock, { rate: perSecond(1), capacity: 5 }, 50).available(), 5);
  });

  test('a rate of zero never refills, and a capacity of zero refuses everything', () => {
    const clock = new FakeClock();
    const still = new TokenBucket(clock, { rate: { tokens: 0, per: 1000 }, capacity: 2 });
    assert.equal(drain(still), 2);
    clock.advance(1e9);
    assert.equal(still.tryTake(), false);
    const closed = new TokenBucket(clock, { rate: perSecond(100), capacity: 0 });
    clock.advance(1000);
    assert.equal(closed.tryTake(), false);
  });

  test('a clock reading older than the last one mints no tokens', () => {
    const clock = new SettableClock();
    clock.reading = 10_000;
    const bucket = new TokenBucket(clock, { rate: perSecond(1), capacity: 1 });
    assert.equal(bucket.tryTake(), true);
    clock.reading = 5_000;
    assert.equal(bucket.tryTake(), false);
    clock.reading = 10_999;
    assert.equal(bucket.tryTake(), false);
    clock.reading = 11_000;
    assert.equal(bucket.tryTake(), true);
  });

  test('setRate keeps the current tokens and refills at the new rate from then on', () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket(clock, { rate: perSecond(1), capacity: 10 });
    assert.equal(bucket.tryTake(8), true);
    clock.advance(500); // half a token due at the old rate
    bucket.setRate(perSecond(100));
    assert.equal(bucket.available(), 2.5);
    clock.advance(5);
    assert.equal(bucket.available(), 3);
    assert.equal(bucket.rate.tokens, 100);
    assert.equal(tokensPerMs(bucket.rate), 0.1);
  });

  test('setRate with another period converts the current tokens without adding any', () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket(clock, { rate: perSecond(10), capacity: 10 });
    assert.equal(bucket.tryTake(6), true);
    bucket.setRate({ tokens: 50, per: 600_000 });
    assert.equal(bucket.available(), 4);
    clock.advance(12_000);
    assert.equal(bucket.available(), 5);
  });

  test('setCapacity clamps the tokens to a smaller capacity and adds none for a larger one', () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket(clock, { rate: perSecond(1), capacity: 10 });
    bucket.setCapacity(4);
    assert.equal(bucket.available(), 4);
    bucket.setCapacity(20);
    assert.equal(bucket.available(), 4);
    clock.advance(100_000);
    assert.equal(bucket.available(), 20);
    assert.equal(bucket.capacity, 20);
  });

  test('setRate to zero freezes the tokens: the refill due before the change is still credited', () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket(clock, { rate: perSecond(1), capacity: 10 });
    bucket.tryTake(10);
    clock.advance(3000);
    bucket.setRate({ tokens: 0, per: 1000 });
    clock.advance(60_000);
    assert.equal(bucket.available(), 3);
  });

  test('counts admitted and rejected tokens, and takeDemand returns the counts since its last call', () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket(clock, { rate: perSecond(1), capacity: 3 });
    for (let i = 0; i < 5; i++) bucket.tryTake();
    assert.deepEqual(bucket.takeDemand(), { admitted: 3, rejected: 2 });
    assert.deepEqual(bucket.takeDemand(), { admitted: 0, rejected: 0 });
    clock.advance(1000);
    bucket.tryTake();
    bucket.tryTake(2);
    assert.deepEqual(bucket.takeDemand(), { admitted: 1, rejected: 2 });
    assert.equal(bucket.admitted, 4);
    assert.equal(bucket.rejected, 4);
  });

  test('refuses settings no bucket can run with', () => {
    const clock = new FakeClock();
    assert.throws(() => new TokenBucket(clock, { rate: { tokens: -1, per: 1000 }, capacity: 1 }), RangeError);
    assert.throws(() => new TokenBucket(clock, { rate: { tokens: 1, per: 0 }, capacity: 1 }), RangeError);
    assert.throws(() => new TokenBucket(clock, { rate: perSecond(1), capacity: Number.NaN }), RangeError);
    const bucket = new TokenBucket(clock, { rate: perSecond(1), capacity: 1 });
    assert.throws(() => bucket.setCapacity(-1), RangeError);
    assert.equal(bucket.capacity, 1);
  });
});
