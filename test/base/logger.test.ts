// Log lines use local time, as KrakenD prints them. Pin the zone before any Date is formatted; Node re-reads TZ
// when process.env.TZ is assigned, so this holds even though the imports below are evaluated first.
process.env.TZ = 'UTC';

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FakeClock } from '../../src/base/fake-clock.js';
import type { LoggerOptions } from '../../src/base/logger.js';
import { formatLogTime, isLogLevel, LOG_LEVELS, Logger, memoryLogger } from '../../src/base/logger.js';

/** A logger on a FakeClock whose sink keeps every line exactly as written, newline included. */
function capture(options: Partial<LoggerOptions> = {}): { logger: Logger; out: string[]; clock: FakeClock } {
  const out: string[] = [];
  const clock = new FakeClock();
  const logger = new Logger({ prefix: '[KRAKEND]', clock, sink: (line) => void out.push(line), ...options });
  return { logger, out, clock };
}

describe('Logger, text format', () => {
  test('the time zone is pinned to UTC for these tests', () => {
    assert.equal(new Date(Date.UTC(2017, 1, 13, 18, 18, 23, 290)).getHours(), 18);
  });

  test('writes KrakenD\'s exact line: prefix, local date and time with milliseconds, arrow, level, message', () => {
    const { logger, out } = capture();
    logger.info('message');
    assert.deepEqual(out, ['[KRAKEND] 2017/02/13 - 18:18:23.290 ▶ INFO message\n']);
  });

  test('the Cluster Manager prefix "CM " is followed by the separating space', () => {
    const { logger, out } = capture({ prefix: 'CM ' });
    logger.warning('member left');
    assert.deepEqual(out, ['CM  2017/02/13 - 18:18:23.290 ▶ WARNING member left\n']);
    assert.equal(logger.prefix, 'CM ');
  });

  test('each level method writes its own level name', () => {
    const { logger, out } = capture({ level: 'DEBUG' });
    logger.debug('d');
    logger.info('i');
    logger.warning('w');
    logger.error('e');
    logger.critical('c');
    assert.deepEqual(
      out.map((line) => line.slice('[KRAKEND] 2017/02/13 - 18:18:23.290 ▶ '.length)),
      ['DEBUG d\n', 'INFO i\n', 'WARNING w\n', 'ERROR e\n', 'CRITICAL c\n'],
    );
  });

  test('the timestamp follows the clock', () => {
    const { logger, out, clock } = capture();
    clock.advance(61_005);
    logger.error('later');
    assert.equal(out[0], '[KRAKEND] 2017/02/13 - 18:19:24.295 ▶ ERROR later\n');
  });

  test('the message is written verbatim, placeholders and all', () => {
    const { logger, out } = capture();
    logger.info('%s 100% "quoted" ▶ {x}');
    assert.equal(out[0], '[KRAKEND] 2017/02/13 - 18:18:23.290 ▶ INFO %s 100% "quoted" ▶ {x}\n');
  });
});

describe('Logger, level filtering', () => {
  test('defaults to INFO: debug lines are dropped, info and above are written', () => {
    const { logger, out } = capture();
    logger.debug('hidden');
    logger.info('shown');
    assert.equal(out.length, 1);
    assert.match(out[0]!, /▶ INFO shown\n$/);
  });

  test('drops everything below the configured level', () => {
    const { logger, out } = capture({ level: 'WARNING' });
    logger.debug('no');
    logger.info('no');
    logger.warning('yes');
    logger.error('yes');
    logger.critical('yes');
    logger.log('INFO', 'no');
    logger.log('ERROR', 'yes');
    assert.deepEqual(
      out.map((line) => line.split('▶ ')[1]),
      ['WARNING yes\n', 'ERROR yes\n', 'CRITICAL yes\n', 'ERROR yes\n'],
    );
  });

  test('CRITICAL lets only critical lines through', () => {
    const { logger, out } = capture({ level: 'CRITICAL' });
    logger.error('no');
    logger.critical('yes');
    assert.equal(out.length, 1);
  });

  test('enabled() answers whether a level would be written', () => {
    const { logger } = capture({ level: 'WARNING' });
    assert.deepEqual(
      LOG_LEVELS.map((level) => [level, logger.enabled(level)]),
      [
        ['DEBUG', false],
        ['INFO', false],
        ['WARNING', true],
        ['ERROR', true],
        ['CRITICAL', true],
      ],
    );
  });
});

describe('Logger, json format', () => {
  test('writes one JSON object per line with UTC ISO time, module, level and message', () => {
    const { logger, out } = capture({ format: 'json' });
    logger.info('hello');
    assert.equal(out.length, 1);
    assert.ok(out[0]!.endsWith('\n'));
    assert.equal(out[0]!.indexOf('\n'), out[0]!.length - 1, 'exactly one newline, at the end');
    assert.deepEqual(JSON.parse(out[0]!), {
      time: '2017-02-13T18:18:23.290Z',
      module: '[KRAKEND]',
      level: 'INFO',
      msg: 'hello',
    });
  });

  test('the module is the prefix without its trailing space', () => {
    const { logger, out } = capture({ prefix: 'CM ', format: 'json' });
    logger.error('boom');
    assert.equal(JSON.parse(out[0]!).module, 'CM');
  });

  test('a message with newlines and quotes stays on one line and round-trips', () => {
    const { logger, out } = capture({ format: 'json' });
    const message = 'line one\nline "two"\r\n\ttab';
    logger.warning(message);
    assert.equal(out[0]!.split('\n').length, 2);
    assert.equal(JSON.parse(out[0]!).msg, message);
  });

  test('levels are filtered in json format too', () => {
    const { logger, out } = capture({ format: 'json', level: 'ERROR' });
    logger.info('no');
    logger.critical('yes');
    assert.deepEqual(
      out.map((line) => JSON.parse(line).level),
      ['CRITICAL'],
    );
  });
});

describe('Logger.raw', () => {
  test('writes the line as given, adding a missing newline', () => {
    const { logger, out } = capture();
    logger.raw('[GIN] 2017/02/13 - 18:18:23 | 200 | GET /foo');
    assert.deepEqual(out, ['[GIN] 2017/02/13 - 18:18:23 | 200 | GET /foo\n']);
  });

  test('does not double a newline that is already there', () => {
    const { logger, out } = capture();
    logger.raw('already\n');
    assert.deepEqual(out, ['already\n']);
  });

  test('is subject to no level and no json wrapping', () => {
    const { logger, out } = capture({ level: 'CRITICAL', format: 'json' });
    logger.raw('access line');
    assert.deepEqual(out, ['access line\n']);
  });
});

describe('formatLogTime', () => {
  test('pads every field and the milliseconds', () => {
    assert.equal(formatLogTime(Date.UTC(2021, 0, 2, 3, 4, 5, 7)), '2021/01/02 - 03:04:05.007');
  });

  test('leaves the milliseconds out on request', () => {
    assert.equal(formatLogTime(Date.UTC(2017, 1, 13, 18, 18, 23, 290), false), '2017/02/13 - 18:18:23');
  });

  test('uses the local time zone', () => {
    const saved = process.env.TZ;
    try {
      process.env.TZ = 'Asia/Tokyo';
      assert.equal(formatLogTime(Date.UTC(2017, 1, 13, 18, 18, 23, 290)), '2017/02/14 - 03:18:23.290');
    } finally {
      process.env.TZ = saved;
    }
    assert.equal(formatLogTime(Date.UTC(2017, 1, 13, 18, 18, 23, 290)), '2017/02/13 - 18:18:23.290');
  });
});

describe('memoryLogger', () => {
  test('keeps lines without their newline and logs debug by default', () => {
    const { logger, lines } = memoryLogger();
    logger.debug('one');
    logger.raw('two');
    assert.equal(lines.length, 2);
    assert.match(lines[0]!, /^\[KRAKEND\] \d{4}\/\d{2}\/\d{2} - \d{2}:\d{2}:\d{2}\.\d{3} ▶ DEBUG one$/);
    assert.equal(lines[1], 'two');
  });

  test('takes a prefix and a level', () => {
    const { logger, lines } = memoryLogger('CM ', 'ERROR');
    logger.warning('dropped');
    logger.error('kept');
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, /^CM {2}\d{4}\/.* ▶ ERROR kept$/);
  });
});

describe('isLogLevel', () => {
  test('accepts the five upper-case level names only', () => {
    for (const level of ['DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL']) assert.equal(isLogLevel(level), true);
    for (const other of ['info', 'WARN', 'FATAL', '', 'toString', 'constructor', '__proto__'])
      assert.equal(isLogLevel(other), false, other);
  });

  test('LOG_LEVELS lists them from least to most severe', () => {
    assert.deepEqual(LOG_LEVELS, ['DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL']);
  });
});
