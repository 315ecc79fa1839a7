import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BroadcastQueue } from '../../../src/cluster/membership/queue.js';

const bytes = (n: number, fill = 1): Uint8Array => new Uint8Array(n).fill(fill);

describe('broadcast queue', () => {
  test('newer news about a member replaces older news still queued', () => {
    const q = new BroadcastQueue(4, 100);
    q.enqueue('a', bytes(10, 1));
    q.enqueue('b', bytes(10, 2));
    q.enqueue('a', bytes(10, 3));
    assert.equal(q.size, 2);
    const out = q.take(1000, 2, 10);
    assert.equal(out.length, 2);
    assert.ok(out.some((b) => b[0] === 3));
    assert.ok(!out.some((b) => b[0] === 1), 'the stale news about a is gone');
  });

  test('the least-sent go first, the freshest first among equals', () => {
    const q = new BroadcastQueue(4, 100);
    q.enqueue('old', bytes(10, 1));
    q.take(1000, 2, 10); // old: sent once
    q.enqueue('x', bytes(10, 2));
    q.enqueue('y', bytes(10, 3));
    assert.deepEqual(q.keys(), ['y', 'x', 'old']);
    const [first] = q.take(14, 2, 10); // room for one only
    assert.equal(first?.[0], 3, 'y: never sent, newest');
  });

  test('a broadcast leaves the queue after retransmitMult × ceil(log10(n + 1)) sends', () => {
    const q = new BroadcastQueue(2, 100);
    q.enqueue('a', bytes(10));
    // n = 9: limit 2 × 1 = 2
    assert.equal(q.take(1000, 2, 9).length, 1);
    assert.equal(q.transmitsOf('a'), 1);
    assert.equal(q.take(1000, 2, 9).length, 1);
    assert.equal(q.size, 0);
    assert.equal(q.take(1000, 2, 9).length, 0);
  });

  test('takes what fits: skips a large item, still packs a smaller one', () => {
    const q = new BroadcastQueue(4, 100);
    q.enqueue('small', bytes(10));
    q.enqueue('big', bytes(100));
    const out = q.take(50, 2, 10);
    assert.deepEqual(out.map((b) => b.length), [10]);
    assert.equal(q.transmitsOf('big'), 0);
    assert.equal(q.transmitsOf('small'), 1);
  });

  test('total bytes taken, overhead included, never exceed the limit', () => {
    const q = new BroadcastQueue(4, 10_000);
    for (let i = 0; i < 500; i++) q.enqueue(`m${i}`, bytes(20 + (i % 40)));
    for (let round = 0; round < 50; round++) {
      const out = q.take(1300, 2, 500);
      const used = out.reduce((n, b) => n + b.length + 2, 0);
      assert.ok(used <= 1300, `round ${round}: ${used}`);
      assert.ok(out.length > 0);
    }
  });

  test('forget drops a member\'s news; prune keeps the least-sent when over capacity', () => {
    const q = new BroadcastQueue(4, 3);
    q.enqueue('a', bytes(5));
    q.take(100, 2, 10);
    q.enqueue('b', bytes(5));
    q.enqueue('c', bytes(5));
    q.enqueue('d', bytes(5)); // over capacity: 'a' (most sent) goes
    assert.equal(q.size, 3);
    assert.equal(q.transmitsOf('a'), undefined);
    q.forget('c');
    assert.deepEqual(q.keys().sort(), ['b', 'd']);
  });
});
