import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FakeClock } from '../../src/base/fake-clock.js';
import { ClientBuckets, DEFAULT_MAX_CLIENTS } from '../../src/ratelimit/client-buckets.js';

const fivePerSecond = { rate: { tokens: 5, per: 1000 }, capacity: 5 };

describe('ClientBuckets', () => {
  test('gives each client its own bucket, full at first sight', () => {
    const clock = new FakeClock();
    const clients = new ClientBuckets(clock, { rate: { tokens: 1, per: 1000 }, capacity: 2 });
    assert.equal(clients.tryTake('a'), true);
    assert.equal(clients.tryTake('a'), true);
    assert.equal(clients.tryTake('a'), false);
    assert.equal(clients.tryTake('b'), true);
    assert.equal(clients.available('a'), 0);
    assert.equal(clients.available('b'), 1);
    assert.equal(clients.available('never-seen'), 2);
    clock.advance(1000);
    assert.equal(clients.tryTake('a'), true);
    assert.equal(clients.tryTake('a'), false);
  });

  test('counts the same "50 every 10m" arithmetic as the single bucket, exactly', () => {
    const clock = new FakeClock();
    const clients = new ClientBuckets(clock, { rate: { tokens: 50, per: 600_000 }, capacity: 50 });
    for (let i = 0; i < 50; i++) assert.equal(clients.tryTake('k'), true);
    assert.equal(clients.tryTake('k'), false);
    clock.advance(11_999);
    assert.equal(clients.tryTake('k'), false);
    clock.advance(1);
    assert.equal(clients.tryTake('k'), true);
  });

  test('drops a bucket once it is full again, and keeps one that is not', () => {
    const clock = new FakeClock();
    const clients = new ClientBuckets(clock, fivePerSecond);
    clients.tryTake('light'); // one token short: full again after 200 ms
    clients.tryTake('heavy', 5); // five short: full again after 1 s
    assert.equal(clients.size, 2);
    clock.advance(200);
    assert.equal(clients.sweep(), 1);
    assert.equal(clients.size, 1);
    assert.equal(clients.available('heavy'), 1);
    clock.advance(800);
    assert.equal(clients.sweep(), 1);
    assert.equal(clients.size, 0);
    assert.deepEqual(clients.stats, { size: 0, evictedIdle: 2, evictedForced: 0 });
  });

  test('forgetting a full bucket changes no decision: the client starts over exactly where it was', () => {
    const clock = new FakeClock();
    const clients = new ClientBuckets(clock, { rate: { tokens: 1, per: 1000 }, capacity: 3 });
    clients.tryTake('a', 3);
    clock.advance(3000);
    clients.sweep();
    assert.equal(clients.size, 0);
    assert.equal(clients.tryTake('a', 3), true);
    assert.equal(clients.tryTake('a'), false);
  });

  test('sweeps as it goes: ordinary traffic drops full buckets without an explicit sweep', () => {
    const clock = new FakeClock();
    const clients = new ClientBuckets(clock, fivePerSecond);
    for (let i = 0; i < 1000; i++) clients.tryTake(`old-${i}`);
    clock.advance(1000);
    for (let i = 0; i < 600; i++) clients.tryTake('regular');
    assert.equal(clients.size, 1);
  });

  test('a million distinct clients arriving 1 ms apart never hold more than the refill time worth of buckets', () => {
    const clock = new FakeClock();
    const clients = new ClientBuckets(clock, fivePerSecond);
    let largest = 0;
    for (let i = 0; i < 1_000_000; i++) {
      clients.tryTake(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
      clock.advance(1);
      if ((i & 1023) === 0) largest = Math.max(largest, clients.size);
    }
    // Each bucket is one token short for 200 ms, so about 200 are live; the sweep lags a little behind.
    assert.ok(largest < 1000, `size reached ${largest}`);
    assert.equal(clients.stats.evictedForced, 0);
  });

  test('a million distinct clients at one instant stop at the hard cap, evicting the fullest', () => {
    const clock = new FakeClock();
    const clients = new ClientBuckets(clock, fivePerSecond);
    for (let i = 0; i < 1_000_000; i++) clients.tryTake(`client-${i}`);
    assert.equal(clients.size, DEFAULT_MAX_CLIENTS);
    assert.equal(clients.stats.evictedForced, 1_000_000 - DEFAULT_MAX_CLIENTS);
  });

  test('at the cap, the client evicted is the one whose bucket is fullest', () => {
    const clock = new FakeClock();
    const clients = new ClientBuckets(clock, { rate: { tokens: 1, per: 1000 }, capacity: 10 }, { maxClients: 4 });
    clients.tryTake('a', 9);
    clients.tryTake('b', 2); // the fullest: 8 left
    clients.tryTake('c', 9);
    clients.tryTake('d', 9);
    clients.tryTake('e');
    assert.equal(clients.size, 4);
    assert.equal(clients.available('b'), 10); // forgotten: a fresh bucket if it comes back
    for (const k of ['a', 'c', 'd']) assert.equal(clients.available(k), 1, k);
    assert.equal(clients.stats.evictedForced, 1);
  });

  test('stores long keys by digest: distinct long keys stay distinct clients', () => {
    const clock = new FakeClock();
    const clients = new ClientBuckets(clock, { rate: { tokens: 1, per: 1000 }, capacity: 1 });
    const token = 'Bearer ' + 'x'.repeat(2000);
    assert.equal(clients.tryTake(token + 'A'), true);
    assert.equal(clients.tryTake(token + 'A'), false);
    assert.equal(clients.tryTake(token + 'B'), true);
    assert.equal(clients.available(token + 'A'), 0);
    assert.equal(clients.size, 2);
  });

  test('new settings keep every client\'s tokens and apply from then on', () => {
    const clock = new FakeClock();
    const clients = new ClientBuckets(clock, { rate: { tokens: 1, per: 1000 }, capacity: 10 });
    clients.tryTake('a', 8);
    clients.tryTake('b', 1);
    clock.advance(1000);
    clients.setSettings({ rate: { tokens: 10, per: 1000 }, capacity: 5 });
    assert.equal(clients.available('a'), 3);
    assert.equal(clients.available('b'), 5);
    clock.advance(100);
    assert.equal(clients.available('a'), 4);
    clients.setCapacity(50);
    assert.equal(clients.available('a'), 4);
    clients.setRate({ tokens: 0, per: 1000 });
    clock.advance(10_000);
    assert.equal(clients.available('a'), 4);
  });

  test('counts admitted and rejected tokens across clients', () => {
    const clock = new FakeClock();
    const clients = new ClientBuckets(clock, { rate: { tokens: 1, per: 1000 }, capacity: 1 });
    clients.tryTake('a');
    clients.tryTake('a');
    clients.tryTake('b');
    clients.countRejected();
    assert.deepEqual(clients.takeDemand(), { admitted: 2, rejected: 2 });
    assert.deepEqual(clients.takeDemand(), { admitted: 0, rejected: 0 });
  });

  test('refuses a cap that is not a positive integer', () => {
    const clock = new FakeClock();
    assert.throws(() => new ClientBuckets(clock, fivePerSecond, { maxClients: 0 }), RangeError);
    assert.throws(() => new ClientBuckets(clock, fivePerSecond, { maxClients: 1.5 }), RangeError);
  });
});
