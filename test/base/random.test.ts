import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { cryptoUuid, SeededRandom } from '../../src/base/random.js';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

function floats(random: SeededRandom, n: number): number[] {
  return Array.from({ length: n }, () => random.float());
}

/** Pearson's chi-square statistic of observed counts against a uniform expectation. */
function chiSquare(counts: readonly number[], total: number): number {
  const expected = total / counts.length;
  return counts.reduce((sum, c) => sum + (c - expected) ** 2 / expected, 0);
}

describe('SeededRandom', () => {
  test('the same seed gives the same sequence of floats, ints, shuffles and uuids', () => {
    const a = new SeededRandom(42);
    const b = new SeededRandom(42);
    assert.deepEqual(floats(a, 100), floats(b, 100));
    assert.deepEqual(
      Array.from({ length: 50 }, () => a.int(1000)),
      Array.from({ length: 50 }, () => b.int(1000)),
    );
    assert.deepEqual(a.shuffle([1, 2, 3, 4, 5, 6, 7, 8]), b.shuffle([1, 2, 3, 4, 5, 6, 7, 8]));
    assert.equal(a.uuid(), b.uuid());
  });

  test('seed 0 is a seed like any other, not a request for an OS seed', () => {
    assert.deepEqual(floats(new SeededRandom(0), 10), floats(new SeededRandom(0), 10));
  });

  test('different seeds give different sequences', () => {
    const seeds = [0, 1, 2, 3, 42, 0xffffffff];
    const sequences = seeds.map((s) => floats(new SeededRandom(s), 8).join(','));
    assert.equal(new Set(sequences).size, seeds.length);
  });

  test('without a seed, two sources differ', () => {
    assert.notDeepEqual(floats(new SeededRandom(), 8), floats(new SeededRandom(), 8));
  });

  test('float stays within [0, 1)', () => {
    const random = new SeededRandom(7);
    for (let i = 0; i < 10_000; i++) {
      const f = random.float();
      assert.ok(f >= 0 && f < 1, `float ${f} out of range`);
    }
  });

  test('int(n) returns integers in [0, n) for small and large n', () => {
    const random = new SeededRandom(11);
    for (const n of [1, 2, 7, 1000, 2 ** 31, 2 ** 32]) {
      for (let i = 0; i < 2000; i++) {
        const v = random.int(n);
        assert.ok(Number.isInteger(v) && v >= 0 && v < n, `int(${n}) gave ${v}`);
      }
    }
  });

  test('int(1) is always 0', () => {
    const random = new SeededRandom(3);
    for (let i = 0; i < 100; i++) assert.equal(random.int(1), 0);
  });

  test('int(n) is roughly uniform (chi-square far below a generous bound)', () => {
    const buckets = 10;
    const draws = 20_000;
    for (const seed of [1, 2, 3]) {
      const random = new SeededRandom(seed);
      const counts = new Array<number>(buckets).fill(0);
      for (let i = 0; i < draws; i++) counts[random.int(buckets)]!++;
      // 9 degrees of freedom: p = 0.0001 at 33.7. A good generator stays far below; a biased one (e.g. one bucket
      // never drawn, or a modulo bias of a few percent) goes far above.
      const x2 = chiSquare(counts, draws);
      assert.ok(x2 < 40, `seed ${seed}: chi-square ${x2.toFixed(1)} for counts ${counts.join(',')}`);
      assert.ok(counts.every((c) => c > 0));
    }
  });

  test('consecutive floats are not correlated in their high bits (pairs fill a 4x4 grid evenly)', () => {
    const random = new SeededRandom(99);
    const counts = new Array<number>(16).fill(0);
    const pairs = 16_000;
    for (let i = 0; i < pairs; i++) {
      const x = Math.floor(random.float() * 4);
      const y = Math.floor(random.float() * 4);
      counts[x * 4 + y]!++;
    }
    // 15 degrees of freedom: p = 0.0001 at 44.3.
    const x2 = chiSquare(counts, pairs);
    assert.ok(x2 < 50, `chi-square ${x2.toFixed(1)} for counts ${counts.join(',')}`);
  });

  test('shuffle returns the same array, holding the same elements', () => {
    const random = new SeededRandom(5);
    const items = Array.from({ length: 50 }, (_, i) => i);
    const shuffled = random.shuffle(items);
    assert.equal(shuffled, items, 'shuffles in place');
    assert.deepEqual([...shuffled].sort((x, y) => x - y), Array.from({ length: 50 }, (_, i) => i));
    assert.notDeepEqual(shuffled, Array.from({ length: 50 }, (_, i) => i), 'a 50-element shuffle moved something');
  });

  test('shuffle keeps duplicates and leaves empty and one-element arrays alone', () => {
    const random = new SeededRandom(6);
    assert.deepEqual(random.shuffle([]), []);
    assert.deepEqual(random.shuffle(['x']), ['x']);
    assert.deepEqual(random.shuffle(['a', 'b', 'a', 'b', 'a']).sort(), ['a', 'a', 'a', 'b', 'b']);
  });

  test('shuffle of three elements produces all six orders about equally often', () => {
    const random = new SeededRandom(8);
    const counts = new Map<string, number>();
    const runs = 6000;
    for (let i = 0; i < runs; i++) {
      const key = random.shuffle(['a', 'b', 'c']).join('');
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    assert.deepEqual([...counts.keys()].sort(), ['abc', 'acb', 'bac', 'bca', 'cab', 'cba']);
    // 5 degrees of freedom: p = 0.0001 at 25.7.
    const x2 = chiSquare([...counts.values()], runs);
    assert.ok(x2 < 30, `chi-square ${x2.toFixed(1)} for ${JSON.stringify([...counts])}`);
  });

  test('uuid is a version-4, RFC 4122 variant UUID', () => {
    const random = new SeededRandom(12);
    for (let i = 0; i < 200; i++) {
      const id = random.uuid();
      assert.match(id, UUID_V4);
    }
  });

  test('successive uuids from one source differ', () => {
    const random = new SeededRandom(13);
    const ids = new Set(Array.from({ length: 1000 }, () => random.uuid()));
    assert.equal(ids.size, 1000);
  });
});

describe('cryptoUuid', () => {
  test('is a version-4, RFC 4122 variant UUID', () => {
    for (let i = 0; i < 200; i++) assert.match(cryptoUuid(), UUID_V4);
  });

  test('does not repeat over many calls', () => {
    const ids = new Set(Array.from({ length: 10_000 }, () => cryptoUuid()));
    assert.equal(ids.size, 10_000);
  });

  test('uses every hex digit in its random positions', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 100; i++) for (const ch of cryptoUuid().replaceAll('-', '')) seen.add(ch);
    assert.equal(seen.size, 16);
  });
});
