import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ErrorCode, isKrakendError } from '../../src/base/errors.js';
import { formatDuration, parseDuration } from '../../src/base/duration.js';

describe('parseDuration', () => {
  const cases: Array<[string, number]> = [
    ['0', 0],
    ['-0', 0],
    ['+0', 0],
    ['150us', 0.15],
    ['150µs', 0.15], // U+00B5 MICRO SIGN
    ['150μs', 0.15], // U+03BC GREEK SMALL LETTER MU
    ['1ns', 1e-6],
    ['300ms', 300],
    ['2s', 2000],
    ['+2s', 2000],
    ['.5s', 500],
    ['1.s', 1000],
    ['1m30s', 90_000],
    ['1.5h', 5_400_000],
    ['-1.5h', -5_400_000],
    ['1h2m3.5s', 3_723_500],
    ['2h45m', 9_900_000],
    ['1h1h', 7_200_000],
    ['0s', 0],
    ['0.000s', 0],
  ];
  for (const [input, ms] of cases) {
    test(`parses the Go duration "${input}" as ${ms} ms`, () => {
      assert.ok(Math.abs(parseDuration(input) - ms) < 1e-9, `${parseDuration(input)} !== ${ms}`);
    });
  }

  test('gives the exact millisecond integers for whole-millisecond durations', () => {
    assert.equal(parseDuration('1m30s'), 90_000);
    assert.equal(parseDuration('1h2m3.5s'), 3_723_500);
    assert.equal(parseDuration('-1.5h'), -5_400_000);
  });

  const invalid: Array<[string, string]> = [
    ['', 'empty'],
    ['-', 'a sign alone'],
    ['10', 'a number without unit'],
    ['1x', 'an unknown unit'],
    ['s', 'a unit without number'],
    ['1s2', 'a trailing number without unit'],
    ['1S', 'an upper-case unit'],
    [' 1s', 'leading whitespace'],
    ['1s ', 'trailing whitespace'],
    ['1 s', 'a space before the unit'],
    ['1.2.3s', 'two decimal points'],
    ['--1s', 'a doubled sign'],
    ['1e3s', 'an exponent'],
    ['µs', 'a micro unit without number'],
  ];
  for (const [input, why] of invalid) {
    test(`refuses ${why} (${JSON.stringify(input)}) with E_DURATION_INVALID`, () => {
      assert.throws(
        () => parseDuration(input),
        (err) => {
          assert.ok(isKrakendError(err, ErrorCode.DurationInvalid), String(err));
          assert.equal(err.code, 'E_DURATION_INVALID');
          assert.ok(err.message.includes(`"${input}"`), `message names the input: ${err.message}`);
          return true;
        },
      );
    });
  }

  test('says a unit is missing when only the unit is missing', () => {
    assert.throws(() => parseDuration('10'), /missing unit/);
    assert.throws(() => parseDuration('1s2'), /missing unit/);
  });

  test('a failed parse does not disturb the next one', () => {
    assert.throws(() => parseDuration('1m3'));
    assert.equal(parseDuration('2s'), 2000);
    assert.throws(() => parseDuration('1h1x'));
    assert.equal(parseDuration('1m30s'), 90_000);
  });
});

describe('formatDuration', () => {
  const cases: Array<[number, string]> = [
    [0, '0s'],
    [1e-6, '1ns'],
    [0.15, '150µs'],
    [1, '1ms'],
    [300, '300ms'],
    [1000, '1s'],
    [1500, '1.5s'],
    [-1500, '-1.5s'],
    [2000, '2s'],
    [90_000, '1m30s'],
    [3_723_500, '1h2m3.5s'],
    [5_400_000, '1h30m0s'],
    [-5_400_000, '-1h30m0s'],
    [3_600_000, '1h0m0s'],
  ];
  for (const [ms, text] of cases) {
    test(`formats ${ms} ms as Go does: "${text}"`, () => {
      assert.equal(formatDuration(ms), text);
    });
  }

  test('round trips through parseDuration', () => {
    const values = [
      0, 1e-6, 0.000_5, 0.15, 0.999, 1, 1.5, 42, 300, 999, 1000, 1001, 1500, 59_999, 60_000, 90_000, 3_599_999,
      3_600_000, 3_723_500, 5_400_000, 86_400_000, 123_456_789, -0.15, -300, -90_000, -5_400_000,
    ];
    for (const ms of values) {
      const text = formatDuration(ms);
      const back = parseDuration(text);
      assert.ok(Math.abs(back - ms) <= Math.abs(ms) * 1e-12, `${ms} → "${text}" → ${back}`);
    }
  });

  test('round trips Go strings that are already in canonical form', () => {
    for (const text of ['0s', '1ns', '150µs', '300ms', '2s', '1m30s', '1h2m3.5s', '-1h30m0s']) {
      assert.equal(formatDuration(parseDuration(text)), text);
    }
  });
});
