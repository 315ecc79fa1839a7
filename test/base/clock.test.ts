import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { SystemClock, systemClock } from '../../src/base/clock.js';
import { FakeClock } from '../../src/base/fake-clock.js';

const DEFAULT_EPOCH = Date.UTC(2017, 1, 13, 18, 18, 23, 290);

describe('FakeClock', () => {
  test('starts at monotonic 0 and at the KrakenD documentation epoch', () => {
    const clock = new FakeClock();
    assert.equal(clock.monotonic(), 0);
    assert.equal(clock.now(), DEFAULT_EPOCH);
    assert.equal(new Date(clock.now()).toISOString(), '2017-02-13T18:18:23.290Z');
  });

  test('honours a custom start and epoch', () => {
    const clock = new FakeClock({ start: 500, epoch: 1_000_000 });
    assert.equal(clock.monotonic(), 500);
    assert.equal(clock.now(), 1_000_500);
  });

  test('advance moves now and monotonic forward by exactly the given milliseconds', () => {
    const clock = new FakeClock();
    clock.advance(1500);
    assert.equal(clock.monotonic(), 1500);
    assert.equal(clock.now(), DEFAULT_EPOCH + 1500);
    clock.advance(0.25);
    assert.equal(clock.monotonic(), 1500.25);
  });

  test('advance by a negative amount leaves the time unchanged', () => {
    const clock = new FakeClock({ start: 100 });
    clock.advance(-50);
    assert.equal(clock.monotonic(), 100);
  });

  test('time does not move on its own', async () => {
    const clock = new FakeClock();
    let fired = false;
    clock.setTimeout(() => (fired = true), 0);
    await sleep(5);
    assert.equal(clock.monotonic(), 0);
    assert.equal(fired, false);
  });

  test('timers fire in order of due time, whatever order they were created in', () => {
    const clock = new FakeClock();
    const order: string[] = [];
    clock.setTimeout(() => order.push('c'), 30);
    clock.setTimeout(() => order.push('a'), 10);
    clock.setTimeout(() => order.push('b'), 20);
    clock.advance(100);
    assert.deepEqual(order, ['a', 'b', 'c']);
  });

  test('timers due at the same time fire in creation order', () => {
    const clock = new FakeClock();
    const order: number[] = [];
    for (let i = 0; i < 5; i++) clock.setTimeout(() => order.push(i), 10);
    clock.advance(10);
    assert.deepEqual(order, [0, 1, 2, 3, 4]);
  });

  test('each timer sees now() and monotonic() equal to its own due time', () => {
    const clock = new FakeClock();
    const seen: Array<[number, number]> = [];
    clock.setTimeout(() => seen.push([clock.monotonic(), clock.now()]), 10);
    clock.setTimeout(() => seen.push([clock.monotonic(), clock.now()]), 25);
    clock.advance(100);
    assert.deepEqual(seen, [
      [10, DEFAULT_EPOCH + 10],
      [25, DEFAULT_EPOCH + 25],
    ]);
    assert.equal(clock.monotonic(), 100);
  });

  test('a timer is not fired before its due time and fires exactly at it', () => {
    const clock = new FakeClock();
    let fired = 0;
    clock.setTimeout(() => fired++, 50);
    clock.advance(49);
    assert.equal(fired, 0);
    clock.advance(1);
    assert.equal(fired, 1);
    clock.advance(1000);
    assert.equal(fired, 1, 'a timeout fires only once');
  });

  test('a negative or zero delay fires on the next advance, even an advance of 0', () => {
    const clock = new FakeClock({ start: 7 });
    const at: number[] = [];
    clock.setTimeout(() => at.push(clock.monotonic()), -10);
    clock.setTimeout(() => at.push(clock.monotonic()), 0);
    clock.advance(0);
    assert.deepEqual(at, [7, 7]);
  });

  test('a timer created inside a callback fires during the same advance when it falls due within it', () => {
    const clock = new FakeClock();
    const at: number[] = [];
    clock.setTimeout(() => {
      at.push(clock.monotonic());
      clock.setTimeout(() => at.push(clock.monotonic()), 15);
    }, 10);
    clock.advance(30);
    assert.deepEqual(at, [10, 25]);
  });

  test('a timer created inside a callback and due after the advance waits for the next one', () => {
    const clock = new FakeClock();
    const at: number[] = [];
    clock.setTimeout(() => clock.setTimeout(() => at.push(clock.monotonic()), 50), 10);
    clock.advance(30);
    assert.deepEqual(at, []);
    assert.equal(clock.pending(), 1);
    clock.advance(30);
    assert.deepEqual(at, [60]);
  });

  test('intervals repeat at their period, each run seeing its own due time', () => {
    const clock = new FakeClock();
    const at: number[] = [];
    clock.setInterval(() => at.push(clock.monotonic()), 10);
    clock.advance(35);
    assert.deepEqual(at, [10, 20, 30]);
    clock.advance(5);
    assert.deepEqual(at, [10, 20, 30, 40]);
    assert.equal(clock.pending(), 1);
  });

  test('intervals and timeouts due at the same time interleave in creation order', () => {
    const clock = new FakeClock();
    const order: string[] = [];
    clock.setInterval(() => order.push('interval'), 10);
    clock.setTimeout(() => order.push('timeout'), 20);
    clock.advance(20);
    assert.deepEqual(order, ['interval', 'interval', 'timeout']);
  });

  test('an interval of 0 ms repeats every millisecond rather than looping forever', () => {
    const clock = new FakeClock();
    let runs = 0;
    clock.setInterval(() => runs++, 0);
    clock.advance(5);
    assert.equal(runs, 6, 'once at 0, then at 1..5');
  });

  test('clearTimeout stops a pending timeout from firing', () => {
    const clock = new FakeClock();
    let fired = false;
    const handle = clock.setTimeout(() => (fired = true), 10);
    assert.equal(clock.pending(), 1);
    clock.clearTimeout(handle);
    assert.equal(clock.pending(), 0);
    clock.advance(100);
    assert.equal(fired, false);
  });

  test('clearInterval inside its own callback stops further runs', () => {
    const clock = new FakeClock();
    let runs = 0;
    const handle = clock.setInterval(() => {
      runs++;
      if (runs === 3) clock.clearInterval(handle);
    }, 10);
    clock.advance(1000);
    assert.equal(runs, 3);
    assert.equal(clock.pending(), 0);
  });

  test('a callback can clear a later timer due in the same advance', () => {
    const clock = new FakeClock();
    let fired = false;
    clock.setTimeout(() => clock.clearTimeout(later), 10);
    const later = clock.setTimeout(() => (fired = true), 20);
    clock.advance(100);
    assert.equal(fired, false);
  });

  test('clearing undefined, or a timer that already fired, is harmless', () => {
    const clock = new FakeClock();
    const handle = clock.setTimeout(() => {}, 1);
    clock.advance(1);
    assert.doesNotThrow(() => clock.clearTimeout(handle));
    assert.doesNotThrow(() => clock.clearTimeout(undefined));
    assert.doesNotThrow(() => clock.clearInterval(undefined));
    assert.equal(clock.pending(), 0);
  });

  test('unref on a fake timer is a no-op that keeps the timer pending', () => {
    const clock = new FakeClock();
    let fired = false;
    clock.setTimeout(() => (fired = true), 5).unref();
    clock.advance(5);
    assert.equal(fired, true);
  });

  test('tick jumps to the next due timer, fires it, and reports whether one was pending', () => {
    const clock = new FakeClock();
    const fired: string[] = [];
    clock.setTimeout(() => fired.push('late'), 300);
    clock.setTimeout(() => fired.push('early'), 100);
    assert.equal(clock.tick(), true);
    assert.deepEqual(fired, ['early']);
    assert.equal(clock.monotonic(), 100);
    assert.equal(clock.tick(), true);
    assert.deepEqual(fired, ['early', 'late']);
    assert.equal(clock.monotonic(), 300);
    assert.equal(clock.tick(), false);
    assert.equal(clock.monotonic(), 300, 'tick without timers does not move time');
  });

  test('tick fires every timer due at that same instant', () => {
    const clock = new FakeClock();
    let fired = 0;
    clock.setTimeout(() => fired++, 10);
    clock.setTimeout(() => fired++, 10);
    clock.setTimeout(() => fired++, 11);
    clock.tick();
    assert.equal(fired, 2);
  });

  test('tick on an interval advances one period at a time', () => {
    const clock = new FakeClock();
    let runs = 0;
    clock.setInterval(() => runs++, 25);
    for (let i = 0; i < 4; i++) assert.equal(clock.tick(), true);
    assert.equal(runs, 4);
    assert.equal(clock.monotonic(), 100);
  });

  test('tick skips cleared timers', () => {
    const clock = new FakeClock();
    const handle = clock.setTimeout(() => assert.fail('cleared timer fired'), 10);
    clock.clearTimeout(handle);
    assert.equal(clock.tick(), false);
    assert.equal(clock.monotonic(), 0);
  });
});

describe('SystemClock', () => {
  test('now() follows Date.now()', () => {
    const before = Date.now();
    const now = systemClock.now();
    const after = Date.now();
    assert.ok(now >= before && now <= after, `${now} not within [${before}, ${after}]`);
  });

  test('monotonic() never goes backwards and moves forward as real time passes', async () => {
    const clock = new SystemClock();
    let prev = clock.monotonic();
    for (let i = 0; i < 1000; i++) {
      const t = clock.monotonic();
      assert.ok(t >= prev, `monotonic went from ${prev} to ${t}`);
      prev = t;
    }
    const start = clock.monotonic();
    await sleep(20);
    const elapsed = clock.monotonic() - start;
    assert.ok(elapsed >= 15, `only ${elapsed} ms elapsed after a 20 ms sleep`);
    assert.ok(elapsed < 5000, `${elapsed} ms elapsed after a 20 ms sleep`);
  });

  test('setTimeout fires its callback after the delay', async () => {
    const clock = new SystemClock();
    const start = clock.monotonic();
    const elapsed = await new Promise<number>((resolve) => {
      clock.setTimeout(() => resolve(clock.monotonic() - start), 10);
    });
    assert.ok(elapsed >= 9, `fired after ${elapsed} ms`);
  });

  test('clearTimeout prevents the callback and accepts undefined', async () => {
    const clock = new SystemClock();
    let fired = false;
    const handle = clock.setTimeout(() => (fired = true), 5);
    clock.clearTimeout(handle);
    clock.clearTimeout(undefined);
    await sleep(30);
    assert.equal(fired, false);
  });

  test('setInterval repeats until clearInterval', async () => {
    const clock = new SystemClock();
    let runs = 0;
    await new Promise<void>((resolve) => {
      const handle = clock.setInterval(() => {
        runs++;
        if (runs === 3) {
          clock.clearInterval(handle);
          resolve();
        }
      }, 2);
    });
    await sleep(20);
    assert.equal(runs, 3);
  });
});
