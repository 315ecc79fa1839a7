import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { ErrorCode, isKrakendError } from '../../../src/base/errors.js';
import { generateKey, keyIdOf, Keyring, parseKey } from '../../../src/cluster/wire/index.js';
import { collidingKeys } from './helpers.js';

describe('keys', () => {
  test('generateKey makes 32 random bytes in base64 that parseKey reads back', () => {
    const a = generateKey();
    assert.equal(a.length, 44);
    assert.equal(parseKey(a).length, 32);
    assert.notEqual(a, generateKey());
  });

  test('parseKey accepts base64url and surrounding whitespace, refuses other sizes and garbage', () => {
    const raw = randomBytes(32);
    assert.deepEqual(parseKey(` ${raw.toString('base64url')}\n`), raw);
    for (const bad of ['', 'not base64!', randomBytes(16).toString('base64'), randomBytes(33).toString('base64')]) {
      assert.throws(() => parseKey(bad), (err: unknown) => isKrakendError(err, ErrorCode.WireKeyInvalid));
    }
  });

  test('key ids are stable, in 1..255, and the same on every process', () => {
    const raw = randomBytes(32);
    const id = keyIdOf(raw);
    assert.ok(id >= 1 && id <= 255);
    assert.equal(keyIdOf(Buffer.from(raw)), id);
  });
});

describe('Keyring', () => {
  test('fromConfig: the first key is primary, the others are accepted', () => {
    const [a, b] = [generateKey(), generateKey()];
    const ring = Keyring.fromConfig([a, b]);
    assert.equal(ring.primary().id, keyIdOf(parseKey(a)));
    assert.ok(ring.has(keyIdOf(parseKey(b))));
    assert.equal(ring.size, 2);
  });

  test('install, use, remove: the rotation steps', () => {
    const ring = Keyring.fromConfig(generateKey());
    const oldId = ring.primaryKeyId;
    const newId = ring.install(generateKey());
    assert.equal(ring.primaryKeyId, oldId, 'installing does not switch');
    ring.use(newId);
    assert.equal(ring.primary().id, newId);
    const removed: number[] = [];
    ring.onRemove((id) => removed.push(id));
    ring.remove(oldId);
    assert.deepEqual(ring.ids(), [newId]);
    assert.deepEqual(removed, [oldId]);
  });

  test('refuses to remove the primary, to use an unknown id, and colliding keys', () => {
    const ring = Keyring.fromConfig(generateKey());
    assert.throws(() => ring.remove(ring.primaryKeyId), (e: unknown) => isKrakendError(e, ErrorCode.WireKeyInvalid));
    assert.throws(() => ring.use(0), (e: unknown) => isKrakendError(e, ErrorCode.WireKeyInvalid));
    const [k1, k2] = collidingKeys();
    const r2 = new Keyring();
    r2.install(k1);
    assert.equal(r2.install(k1), keyIdOf(k1), 'reinstalling the same key is a no-op');
    assert.throws(() => r2.install(k2), /already taken/);
  });

  test('an empty keyring has no primary', () => {
    assert.throws(() => new Keyring().primary(), (e: unknown) => isKrakendError(e, ErrorCode.WireKeyInvalid));
    assert.throws(() => Keyring.fromConfig([]), (e: unknown) => isKrakendError(e, ErrorCode.WireKeyInvalid));
  });
});
