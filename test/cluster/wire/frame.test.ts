import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { frame, FrameReader, Reassembler, splitMessage } from '../../../src/cluster/wire/index.js';

describe('FrameReader', () => {
  test('reassembles frames however the bytes are cut', () => {
    const bodies = [Buffer.from('a'), randomBytes(300), Buffer.from('hello')];
    const stream = Buffer.concat(bodies.map((b) => frame(b)));
    for (const step of [1, 2, 3, 7, 64, stream.length]) {
      const r = new FrameReader(1024);
      const out: Buffer[] = [];
      for (let i = 0; i < stream.length; i += step) {
        r.push(stream.subarray(i, i + step));
        for (let f = r.shift(); f !== undefined; f = r.shift()) {
          assert.ok(Buffer.isBuffer(f));
          out.push(Buffer.from(f));
        }
      }
      assert.deepEqual(out, bodies, `step ${step}`);
      assert.equal(r.bufferedBytes, 0);
    }
  });

  test('a length above the maximum is refused as soon as the prefix is read; zero is malformed', () => {
    const r = new FrameReader(100);
    r.push(Buffer.from([0, 0, 0, 101]));
    assert.deepEqual(r.shift(), { error: 'oversized' });
    const z = new FrameReader(100);
    z.push(Buffer.from([0, 0, 0, 0]));
    assert.deepEqual(z.shift(), { error: 'malformed' });
  });
});

describe('chunking', () => {
  test('splitMessage and Reassembler round-trip small and large messages', () => {
    for (const size of [0, 1, 99, 100, 101, 1000, 12_345]) {
      const message = randomBytes(size);
      const frames = splitMessage(message, 100);
      assert.ok(frames.every((f) => f.length <= 100));
      assert.equal(frames.length, Math.max(1, Math.ceil(size / 99)));
      const r = new Reassembler(1 << 20);
      let got: Buffer | undefined;
      frames.forEach((f, i) => {
        const res = r.push(f);
        assert.ok(res.ok);
        if (i < frames.length - 1) assert.equal(res.message, undefined);
        else got = res.message;
      });
      assert.deepEqual(got, message, `size ${size}`);
    }
  });

  test('a message over the total limit is refused as it grows, before it is all buffered', () => {
    const frames = splitMessage(randomBytes(1000), 100);
    const r = new Reassembler(450);
    const results = frames.map((f) => r.push(f));
    const firstBad = results.findIndex((x) => !x.ok);
    assert.equal(firstBad, 4, 'refused at the fifth chunk (495 bytes > 450)');
    assert.deepEqual(results[firstBad], { ok: false, reason: 'oversized' });
  });

  test('bad sequences are malformed', () => {
    const r = new Reassembler(1000);
    assert.deepEqual(r.push(Buffer.from([9, 1])), { ok: false, reason: 'malformed' }, 'unknown flag');
    assert.deepEqual(r.push(Buffer.alloc(0)), { ok: false, reason: 'truncated' });
    assert.deepEqual(r.push(Buffer.from([1, 1])), { ok: true, message: undefined });
    const inside = r.push(Buffer.from([0, 1]));
    assert.deepEqual(inside, { ok: false, reason: 'malformed' }, 'a whole message inside a chunked one');
    const empty = new Reassembler(1000).push(Buffer.from([1]));
    assert.deepEqual(empty, { ok: false, reason: 'malformed' }, 'an empty chunk');
  });
});
