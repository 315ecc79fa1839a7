/**
 * The behaviour every Store implementation must show. Each implementation's test file calls storeContract with a
 * factory; a replicated store added later runs the same suite.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { ErrorCode, isKrakendError } from '../../../src/base/errors.js';
import { memoryLogger } from '../../../src/base/logger.js';
import type { Store, StoreEvent, StoreOptions } from '../../../src/cluster/manager/store.js';

export interface StoreFactory {
  /** A new, empty store. */
  create(options?: StoreOptions): Promise<Store>;
}

export function storeContract(name: string, factory: StoreFactory): void {
  describe(`Store contract: ${name}`, () => {
    const open: Store[] = [];
    const fresh = async (options?: StoreOptions): Promise<Store> => {
      const s = await factory.create(options);
      open.push(s);
      return s;
    };
    afterEach(async () => {
      await Promise.all(open.splice(0).map((s) => s.close()));
    });

    test('a new store is empty, at revision 0', async () => {
      const s = await fresh();
      assert.equal(await s.get('nodes/a'), undefined);
      assert.deepEqual(await s.list(''), []);
      assert.equal(await s.revision(), 0);
    });

    test('put then get returns the value with its version, and the revision follows', async () => {
      const s = await fresh();
      const r = await s.put('nodes/a', { name: 'a', n: 1, tags: ['x'], ok: true, none: null });
      assert.ok(r.ok);
      assert.ok(r.version >= 1);
      const got = await s.get('nodes/a');
      assert.deepEqual(got, { key: 'nodes/a', value: { name: 'a', n: 1, tags: ['x'], ok: true, none: null }, version: r.version });
      assert.equal(await s.revision(), r.version);
    });

    test('values are copied and frozen: neither the caller nor a reader can change what is stored', async () => {
      const s = await fresh();
      const value = { list: [1, 2], inner: { a: 1 } };
      await s.put('k', value);
      value.list.push(3);
      value.inner.a = 2;
      const got = await s.get('k');
      assert.deepEqual(got?.value, { list: [1, 2], inner: { a: 1 } });
      assert.ok(Object.isFrozen(got?.value));
      assert.throws(() => {
        (got?.value as { inner: { a: number } }).inner.a = 5;
      }, TypeError);
    });

    test('every write takes a higher version, across keys: one store-wide revision', async () => {
      const s = await fresh();
      const versions: number[] = [];
      for (const key of ['a', 'b', 'a', 'c']) {
        const r = await s.put(key, key);
        assert.ok(r.ok);
        versions.push(r.version);
      }
      assert.deepEqual([...versions].sort((x, y) => x - y), versions);
      assert.equal(new Set(versions).size, versions.length);
      assert.equal((await s.get('a'))?.version, versions[2]);
    });

    test('expectedVersion 0 creates only when the key is absent', async () => {
      const s = await fresh();
      const first = await s.put('k', 1, { expectedVersion: 0 });
      assert.ok(first.ok);
      const second = await s.put('k', 2, { expectedVersion: 0 });
      assert.equal(second.ok, false);
      assert.deepEqual(!second.ok && second.current, { key: 'k', value: 1, version: first.version });
      assert.equal((await s.get('k'))?.value, 1);
    });

    test('expectedVersion n writes only over version n, and a conflict reports the current entry', async () => {
      const s = await fresh();
      const v1 = await s.put('k', 'one');
      assert.ok(v1.ok);
      const v2 = await s.put('k', 'two', { expectedVersion: v1.version });
      assert.ok(v2.ok);
      const stale = await s.put('k', 'three', { expectedVersion: v1.version });
      assert.equal(stale.ok, false);
      assert.deepEqual(!stale.ok && stale.current, { key: 'k', value: 'two', version: v2.version });
      const absent = await s.put('missing', 'x', { expectedVersion: 5 });
      assert.ok(!absent.ok && absent.current === undefined);
    });

    test('of compare-and-set writes racing on one version, exactly one wins', async () => {
      const s = await fresh();
      const base = await s.put('counter', 0);
      assert.ok(base.ok);
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => s.put('counter', i + 1, { expectedVersion: base.version })),
      );
      const winners = results.filter((r) => r.ok);
      assert.equal(winners.length, 1);
      const creates = await Promise.all(Array.from({ length: 10 }, (_, i) => s.put('once', i, { expectedVersion: 0 })));
      assert.equal(creates.filter((r) => r.ok).length, 1);
    });

    test('a read-modify-write loop loses no increment under concurrency', async () => {
      const s = await fresh();
      await s.put('n', 0);
      const increment = async () => {
        for (;;) {
          const cur = await s.get('n');
          const r = await s.put('n', (cur?.value as number) + 1, { expectedVersion: cur?.version ?? 0 });
          if (r.ok) return;
        }
      };
      await Promise.all(Array.from({ length: 15 }, increment));
      assert.equal((await s.get('n'))?.value, 15);
    });

    test('delete removes the key, takes a revision, and a recreated key gets a newer version', async () => {
      const s = await fresh();
      const a = await s.put('k', 1);
      assert.ok(a.ok);
      const d = await s.delete('k');
      assert.deepEqual(d, { ok: true, deleted: true });
      assert.equal(await s.get('k'), undefined);
      assert.ok((await s.revision()) > a.version);
      const again = await s.put('k', 2, { expectedVersion: 0 });
      assert.ok(again.ok && again.version > a.version + 1);
    });

    test('delete honours the expected version, and deleting an absent key is a no-op', async () => {
      const s = await fresh();
      assert.deepEqual(await s.delete('nothing'), { ok: true, deleted: false });
      const rev = await s.revision();
      const a = await s.put('k', 1);
      assert.ok(a.ok && a.version > rev);
      const wrong = await s.delete('k', a.version + 100);
      assert.ok(!wrong.ok && wrong.current?.value === 1);
      assert.deepEqual(await s.delete('k', a.version), { ok: true, deleted: true });
      const gone = await s.delete('k', a.version);
      assert.ok(!gone.ok && gone.current === undefined);
    });

    test('list returns the entries under a prefix, sorted by key', async () => {
      const s = await fresh();
      for (const key of ['nodes/c', 'config/1', 'nodes/a', 'nodes/b', 'nodesx']) await s.put(key, key);
      assert.deepEqual((await s.list('nodes/')).map((e) => e.key), ['nodes/a', 'nodes/b', 'nodes/c']);
      assert.equal((await s.list('')).length, 5);
    });

    test('watch reports committed writes under its prefix, in order, until unsubscribed', async () => {
      const s = await fresh();
      const seen: StoreEvent[] = [];
      const stop = s.watch('nodes/', (e) => seen.push(e));
      const a = await s.put('nodes/a', 1);
      await s.put('other', 1);
      const d = await s.delete('nodes/a');
      assert.ok(a.ok && d.ok);
      assert.deepEqual(seen.map((e) => [e.type, e.key]), [['put', 'nodes/a'], ['delete', 'nodes/a']]);
      assert.equal(seen[0]?.type === 'put' && seen[0].value, 1);
      assert.equal(seen[0]?.version, a.version);
      assert.ok((seen[1]?.version ?? 0) > a.version);
      stop();
      await s.put('nodes/b', 2);
      assert.equal(seen.length, 2);
    });

    test('a watcher sees a write before its put resolves, and concurrent writes in revision order', async () => {
      const s = await fresh();
      const seen: number[] = [];
      s.watch('', (e) => seen.push(e.version));
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => s.put(`k${i}`, i)));
      const versions = results.map((r) => (r.ok ? r.version : -1));
      assert.deepEqual(seen, versions);
      let observed = false;
      s.watch('late', () => (observed = true));
      const p = s.put('late', 1);
      await p;
      assert.ok(observed);
    });

    test('a throwing watcher disturbs neither the write nor other watchers, and is logged', async () => {
      const { logger, lines } = memoryLogger('CM ');
      const s = await fresh({ logger });
      let other = 0;
      s.watch('', () => {
        throw new Error('listener bug');
      });
      s.watch('', () => other++);
      const r = await s.put('k', 1);
      assert.ok(r.ok);
      assert.equal(other, 1);
      assert.equal((await s.get('k'))?.value, 1);
      assert.ok(lines.some((l) => l.includes('ERROR a store watcher for "" threw on put k: Error: listener bug')), lines.join('\n'));
    });

    test('values that are not plain JSON and bad keys are refused without writing', async () => {
      const s = await fresh();
      const bad = [undefined, Number.NaN, Infinity, new Date(), new Map(), () => 1, 10n, { a: undefined }, [Symbol('x')]];
      for (const [i, value] of bad.entries()) {
        await assert.rejects(s.put('k', value as never), TypeError, `bad value #${i}`);
      }
      await assert.rejects(s.put('', 1), TypeError);
      await assert.rejects(s.put('x'.repeat(2000), 1), TypeError);
      await assert.rejects(s.put('k', 1, { expectedVersion: -1 }), TypeError);
      assert.equal(await s.revision(), 0);
    });

    test('a "__proto__" key inside a value is kept as data', async () => {
      const s = await fresh();
      const value = JSON.parse('{"__proto__": {"polluted": true}, "a": 1}') as Record<string, unknown>;
      await s.put('k', value as never);
      const got = (await s.get('k'))?.value as Record<string, unknown>;
      assert.deepEqual(Object.keys(got), ['__proto__', 'a']);
      assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
    });

    test('close waits for writes in flight, then refuses every call', async () => {
      const s = await fresh();
      const pending = s.put('k', 1);
      await s.close();
      assert.ok((await pending).ok);
      for (const call of [() => s.get('k'), () => s.list(''), () => s.put('k', 2), () => s.delete('k'), () => s.revision()]) {
        await assert.rejects(call(), (err) => isKrakendError(err, ErrorCode.StoreClosed));
      }
      assert.throws(() => s.watch('', () => {}), (err) => isKrakendError(err, ErrorCode.StoreClosed));
      await s.close();
    });
  });
}
