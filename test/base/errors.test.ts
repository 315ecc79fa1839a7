import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ErrorCode, isKrakendError, KrakendError } from '../../src/base/errors.js';

describe('KrakendError', () => {
  test('carries its code, message and name, and is an Error', () => {
    const err = new KrakendError(ErrorCode.ConfigInvalid, 'bad config');
    assert.ok(err instanceof Error);
    assert.ok(err instanceof KrakendError);
    assert.equal(err.code, 'E_CONFIG_INVALID');
    assert.equal(err.message, 'bad config');
    assert.equal(err.name, 'KrakendError');
    assert.match(String(err), /^KrakendError: bad config$/);
    assert.ok(err.stack?.includes('bad config'));
  });

  test('has no status and no cause unless given', () => {
    const err = new KrakendError(ErrorCode.BadRequest, 'nope');
    assert.equal(err.status, undefined);
    assert.equal(err.cause, undefined);
    assert.equal(Object.hasOwn(err, 'cause'), false);
  });

  test('keeps the status and the cause it is given', () => {
    const cause = new Error('ECONNRESET');
    const err = new KrakendError(ErrorCode.BackendConnection, 'backend gone', { cause, status: 502 });
    assert.equal(err.status, 502);
    assert.equal(err.cause, cause);
  });

  test('keeps a cause that is not an Error, even a falsy one', () => {
    assert.equal(new KrakendError(ErrorCode.BadRequest, 'x', { cause: 'text' }).cause, 'text');
    const zero = new KrakendError(ErrorCode.BadRequest, 'x', { cause: 0 });
    assert.equal(Object.hasOwn(zero, 'cause'), true);
    assert.equal(zero.cause, 0);
  });
});

describe('ErrorCode', () => {
  test('codes are distinct E_ strings', () => {
    const values = Object.values(ErrorCode);
    assert.ok(values.length > 0);
    assert.equal(new Set(values).size, values.length);
    for (const v of values) assert.match(v, /^E_[A-Z_]+$/);
  });

  test('names the codes other modules rely on', () => {
    assert.equal(ErrorCode.DurationInvalid, 'E_DURATION_INVALID');
    assert.equal(ErrorCode.FileWrite, 'E_FILE_WRITE');
    assert.equal(ErrorCode.BackendTimeout, 'E_BACKEND_TIMEOUT');
  });
});

describe('isKrakendError', () => {
  const err = new KrakendError(ErrorCode.RateLimited, 'slow down', { status: 429 });

  test('recognises a KrakendError with any code when no code is asked for', () => {
    assert.equal(isKrakendError(err), true);
  });

  test('recognises a KrakendError only with the code asked for', () => {
    assert.equal(isKrakendError(err, ErrorCode.RateLimited), true);
    assert.equal(isKrakendError(err, ErrorCode.BadRequest), false);
  });

  test('refuses plain errors, look-alike objects and non-objects', () => {
    assert.equal(isKrakendError(new Error('slow down')), false);
    assert.equal(isKrakendError({ name: 'KrakendError', code: 'E_RATE_LIMITED', message: 'x' }, ErrorCode.RateLimited), false);
    assert.equal(isKrakendError(undefined), false);
    assert.equal(isKrakendError(null), false);
    assert.equal(isKrakendError('E_RATE_LIMITED'), false);
  });

  test('narrows the type so the code can be read', () => {
    const unknownErr: unknown = err;
    if (!isKrakendError(unknownErr)) assert.fail('expected a KrakendError');
    assert.equal(unknownErr.status, 429);
  });
});
