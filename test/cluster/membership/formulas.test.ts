import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  applyAwareness,
  pushPullInterval,
  retransmitLimit,
  scaleByAwareness,
  suspicionConfirmationsWanted,
  suspicionTimeout,
  suspicionTotal,
} from '../../../src/cluster/membership/formulas.js';

describe('membership formulas', () => {
  test('minimum suspicion timeout is suspicionMult × max(1, log10 n) × probe interval', () => {
    const cases: Array<[mult: number, n: number, interval: number, want: number]> = [
      [4, 0, 1000, 4000],
      [4, 1, 1000, 4000],
      [4, 5, 1000, 4000], // log10(5) < 1: the floor of 1 applies
      [4, 10, 1000, 4000],
      [4, 100, 1000, 8000], // the "8 s minimum suspicion timeout at N = 100"
      [4, 1000, 1000, 12000],
      [3, 5, 500, 1500], // the local preset with five members
      [4, 50, 1000, 6795],
    ];
    for (const [mult, n, interval, want] of cases) assert.equal(suspicionTimeout(mult, n, interval), want, `n=${n}`);
  });

  test('the suspicion timer shrinks from max to min as log(c + 1) / log(k + 1)', () => {
    assert.equal(suspicionTotal(0, 2, 8000, 48000), 48000);
    assert.equal(suspicionTotal(1, 2, 8000, 48000), Math.floor(48000 - (Math.log(2) / Math.log(3)) * 40000));
    assert.equal(suspicionTotal(2, 2, 8000, 48000), 8000);
    assert.equal(suspicionTotal(5, 2, 8000, 48000), 8000, 'never below min');
    assert.equal(suspicionTotal(0, 0, 8000, 48000), 8000, 'k = 0: no confirmations expected, min at once');
  });

  test('confirmations wanted: suspicionMult − 2, or none when too few members could confirm', () => {
    assert.equal(suspicionConfirmationsWanted(4, 100), 2);
    assert.equal(suspicionConfirmationsWanted(4, 4), 2);
    assert.equal(suspicionConfirmationsWanted(4, 3), 0);
    assert.equal(suspicionConfirmationsWanted(3, 5), 1);
    assert.equal(suspicionConfirmationsWanted(2, 50), 0);
  });

  test('retransmit limit is retransmitMult × ceil(log10(n + 1))', () => {
    const cases: Array<[number, number, number]> = [
      [4, 0, 0],
      [4, 1, 4],
      [4, 9, 4],
      [4, 10, 8],
      [4, 99, 8],
      [4, 100, 12],
      [4, 1000, 16],
      [2, 5, 2],
    ];
    for (const [mult, n, want] of cases) assert.equal(retransmitLimit(mult, n), want, `n=${n}`);
  });

  test('push-pull interval scales with log2 n above 32 members', () => {
    const cases: Array<[number, number]> = [
      [10, 30_000],
      [32, 30_000],
      [33, 60_000],
      [64, 60_000],
      [65, 90_000],
      [100, 90_000],
      [1000, 180_000],
    ];
    for (const [n, want] of cases) assert.equal(pushPullInterval(30_000, n), want, `n=${n}`);
  });

  test('local health stays within [0, max − 1] and multiplies timeouts by score + 1', () => {
    assert.equal(applyAwareness(0, -1, 8), 0);
    assert.equal(applyAwareness(2, 3, 8), 5);
    assert.equal(applyAwareness(6, 3, 8), 7);
    assert.equal(applyAwareness(7, -2, 8), 5);
    assert.equal(scaleByAwareness(1000, 0), 1000);
    assert.equal(scaleByAwareness(1000, 7), 8000, 'up to ×8 with the LAN preset');
  });
});
