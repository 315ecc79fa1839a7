import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SeededRandom } from '../../../src/base/random.js';
import { isCounted, SUBSCRIPTION_FULL_MESSAGE } from '../../../src/cluster/manager/admission-policy.js';
import {
  DEFAULT_RETENTION_MS,
  isNodeId,
  nodeKey,
  NodeRegistry,
  parseNodeRecord,
  toRecord,
} from '../../../src/cluster/manager/registry.js';
import type { AdmitResult, JoinRequest } from '../../../src/cluster/manager/registry.js';
import { loadRegistry, persistRegistryChanges } from '../../../src/cluster/manager/registry-store.js';
import { MemoryStore } from '../../../src/cluster/manager/store.js';

const HOUR = 60 * 60 * 1000;
const T0 = Date.UTC(2025, 0, 1);
const MANAGER = '1.2.0';
const GRACE = 30_000;

function ids() {
  let n = 0;
  return () => `krakend_00000000-0000-4000-8000-${String(++n).padStart(12, '0')}`;
}

function registry(): NodeRegistry {
  return new NodeRegistry({ newId: ids() });
}

let tokens = 0;
function join(overrides: Partial<JoinRequest> = {}): JoinRequest {
  const n = ++tokens;
  return {
    instanceToken: `token-${n}`,
    version: '1.2.0',
    addresses: { cluster: `10.0.0.${n % 250}:7946`, api: `10.0.0.${n % 250}:8080` },
    ...overrides,
  };
}

function limits(maxNodes: number) {
  return { maxNodes, managerVersion: MANAGER };
}

function welcomed(result: AdmitResult): Extract<AdmitResult, { kind: 'welcome' }> {
  assert.equal(result.kind, 'welcome', JSON.stringify(result));
  return result as Extract<AdmitResult, { kind: 'welcome' }>;
}

function refused(result: AdmitResult): Extract<AdmitResult, { kind: 'refused' }> {
  assert.equal(result.kind, 'refused', JSON.stringify(result));
  return result as Extract<AdmitResult, { kind: 'refused' }>;
}

function recount(r: NodeRegistry): number {
  return r.list().filter((e) => isCounted(e.state)).length;
}

describe('NodeRegistry admission', () => {
  test('admits up to max_nodes, then refuses with the subscription message and lists the refused node', () => {
    const r = registry();
    const admitted = [0, 1, 2].map((i) => welcomed(r.admit(join(), T0 + i, limits(3))));
    for (const w of admitted) {
      assert.ok(isNodeId(w.id), w.id);
      assert.equal(w.isNew, true);
      assert.equal(w.entry.state, 'alive');
      assert.equal(w.changes.length, 1);
    }
    assert.equal(new Set(admitted.map((w) => w.id)).size, 3);
    const fourth = refused(r.admit(join(), T0 + 10, limits(3)));
    assert.equal(fourth.reason, 'subscription');
    assert.equal(fourth.message, 'Your current subscription does not allow more nodes running. Please upgrade to add more nodes.');
    assert.equal(fourth.message, SUBSCRIPTION_FULL_MESSAGE);
    assert.ok(fourth.id && isNodeId(fourth.id));
    assert.equal(r.get(fourth.id)?.state, 'refused');
    assert.equal(r.get(fourth.id)?.refusedReason, 'subscription');
    assert.equal(r.countedCount(), 3);
  });

  test('a refused node retrying, with or without the id it was given, keeps one entry and gets in when there is room', () => {
    const r = registry();
    const first = welcomed(r.admit(join(), T0, limits(1)));
    const req = join();
    const no = refused(r.admit(req, T0 + 1, limits(1)));
    const again = refused(r.admit(req, T0 + 2, limits(1)));
    assert.equal(again.id, no.id, 'same process, same entry');
    assert.deepEqual(again.changes, [], 'nothing durable changed');
    const withId = refused(r.admit({ ...req, claimedId: no.id }, T0 + 3, limits(1)));
    assert.equal(withId.id, no.id);
    assert.equal(r.list().length, 2);
    r.markRemoved(first.id, T0 + 4);
    const inNow = welcomed(r.admit({ ...req, claimedId: no.id }, T0 + 5, limits(1)));
    assert.equal(inNow.id, no.id);
    assert.equal(inNow.previousState, 'refused');
    assert.equal(inNow.entry.refusedReason, undefined);
    assert.equal(inNow.entry.admittedAt, T0 + 5);
  });

  test('racing admissions never push the count over max_nodes, whatever the interleaving', () => {
    const rnd = new SeededRandom(7);
    const r = registry();
    let max = 5;
    const processes: Array<{ req: JoinRequest; id: string | undefined }> = [];
    let now = T0;
    for (let step = 0; step < 5000; step++) {
      now += rnd.int(1000);
      const roll = rnd.float();
      if (roll < 0.35 || processes.length === 0) {
        const p = { req: join(), id: undefined as string | undefined };
        processes.push(p);
        const res = r.admit(p.req, now, limits(max));
        p.id = res.id;
      } else if (roll < 0.55) {
        // a process retries or reconnects, sometimes as a fresh process on the same state directory
        const p = processes[rnd.int(processes.length)]!;
        const req = rnd.float() < 0.5 ? p.req : { ...p.req, instanceToken: `restart-${step}` };
        const res = r.admit({ ...req, claimedId: p.id }, now, limits(max));
        p.req = req;
        p.id = res.id ?? p.id;
      } else if (roll < 0.65) {
        const p = processes[rnd.int(processes.length)]!;
        // a clone: same id, another process
        const clone = { req: { ...p.req, instanceToken: `clone-${step}` }, id: p.id };
        processes.push(clone);
        clone.id = r.admit({ ...clone.req, claimedId: p.id }, now, limits(max)).id;
      } else if (roll < 0.75) {
        const p = processes[rnd.int(processes.length)]!;
        if (p.id) r.markRemoved(p.id, now);
      } else if (roll < 0.85) {
        const p = processes[rnd.int(processes.length)]!;
        if (p.id) r.markUnreachable(p.id, now);
      } else if (roll < 0.9) {
        const p = processes[rnd.int(processes.length)]!;
        if (p.id) r.markAlive(p.id, now);
      } else if (roll < 0.95) {
        r.tick(now, { gracePeriodMs: GRACE, retentionMs: 20_000 });
      } else {
        max = 1 + rnd.int(8);
        r.recheckCap(max, now);
      }
      assert.ok(r.countedCount() <= max, `step ${step}: ${r.countedCount()} counted with max ${max}`);
      assert.equal(r.countedCount(), recount(r), `step ${step}: the running count drifted`);
    }
  });

  test('nodes with an incompatible version are refused with the reason, and listed', () => {
    const r = registry();
    const newer = refused(r.admit(join({ version: '1.3.0' }), T0, limits(10)));
    assert.equal(newer.reason, 'version');
    assert.match(newer.message, /newer than the manager's 1\.2\.0/);
    assert.equal(r.get(newer.id!)?.state, 'refused');
    assert.equal(refused(r.admit(join({ version: '2.0.0' }), T0, limits(10))).reason, 'version');
    assert.equal(refused(r.admit(join({ version: 'dev' }), T0, limits(10))).reason, 'version');
    welcomed(r.admit(join({ version: '1.1.9' }), T0, limits(10)));
    assert.equal(r.countedCount(), 1);
  });

  test('an upgraded node with a version the manager cannot serve is refused even under its known id', () => {
    const r = registry();
    const w = welcomed(r.admit(join(), T0, limits(10)));
    r.markRemoved(w.id, T0 + 1);
    const res = refused(r.admit(join({ claimedId: w.id, version: '1.9.0' }), T0 + 2, limits(10)));
    assert.equal(res.id, w.id);
    assert.equal(r.get(w.id)?.refusedReason, 'version');
  });

  test('invalid requests are refused without an entry', () => {
    const r = registry();
    const bad: Array<Partial<JoinRequest>> = [
      { instanceToken: '' },
      { instanceToken: 'x'.repeat(500) },
      { version: '' },
      { addresses: { cluster: '', api: 'a:1' } },
      { addresses: undefined as never },
      { name: 'n'.repeat(1000) },
    ];
    for (const b of bad) {
      const res = refused(r.admit(join(b), T0, limits(10)));
      assert.equal(res.reason, 'invalid', JSON.stringify(b));
      assert.equal(res.id, undefined);
    }
    assert.equal(r.list().length, 0);
  });

  test('a malformed claimed id is ignored: the node gets a fresh one', () => {
    const r = registry();
    const w = welcomed(r.admit(join({ claimedId: 'krakend_not-a-uuid' }), T0, limits(10)));
    assert.notEqual(w.id, 'krakend_not-a-uuid');
    assert.ok(isNodeId(w.id));
  });

  test('a well-formed id the registry does not know (reaped, lost state) is taken as given', () => {
    const r = registry();
    const id = 'krakend_3f20a44d-3d93-4bc9-829b-b76b22055142';
    const w = welcomed(r.admit(join({ claimedId: id }), T0, limits(10)));
    assert.equal(w.id, id);
    assert.equal(w.isNew, true);
  });
});

describe('NodeRegistry rejoin and clones', () => {
  for (const leaveAs of ['removed', 'down', 'unreachable', 'refused'] as const) {
    test(`a node that was ${leaveAs} rejoins, as a new process, with the same id`, () => {
      const r = registry();
      const w = welcomed(r.admit(join(), T0, limits(10)));
      if (leaveAs === 'removed') r.markRemoved(w.id, T0 + 1);
      if (leaveAs === 'unreachable' || leaveAs === 'down') r.markUnreachable(w.id, T0 + 1);
      if (leaveAs === 'down') r.tick(T0 + 1 + GRACE, { gracePeriodMs: GRACE });
      if (leaveAs === 'refused') r.recheckCap(0, T0 + 1);
      assert.equal(r.get(w.id)?.state, leaveAs);
      const back = welcomed(r.admit(join({ claimedId: w.id }), T0 + GRACE + 10, limits(10)));
      assert.equal(back.id, w.id);
      assert.equal(back.isNew, false);
      assert.equal(back.previousState, leaveAs);
      assert.equal(back.entry.state, 'alive');
      assert.equal(back.cloneOf, undefined);
      assert.equal(r.list().length, 1);
    });
  }

  test('a rejoin is subject to the cap like any join, except for a node still counted', () => {
    const r = registry();
    const a = welcomed(r.admit(join(), T0, limits(2)));
    const b = welcomed(r.admit(join(), T0, limits(2)));
    r.markRemoved(a.id, T0 + 1);
    welcomed(r.admit(join(), T0 + 2, limits(2)));
    const aBack = refused(r.admit(join({ claimedId: a.id }), T0 + 3, limits(2)));
    assert.equal(aBack.id, a.id, 'refused, but under its own id');
    assert.equal(aBack.reason, 'subscription');
    r.markUnreachable(b.id, T0 + 4);
    const bBack = welcomed(r.admit(join({ claimedId: b.id }), T0 + 5, limits(2)));
    assert.equal(bBack.previousState, 'unreachable');
    assert.equal(bBack.entry.admittedAt, T0, 'still the same counted period');
    assert.equal(r.countedCount(), 2);
  });

  test('the same process reconnecting keeps its id and writes nothing', () => {
    const r = registry();
    const req = join();
    const w = welcomed(r.admit(req, T0, limits(1)));
    const again = welcomed(r.admit({ ...req, claimedId: w.id }, T0 + 100, limits(1)));
    assert.equal(again.id, w.id);
    assert.equal(again.previousState, 'alive');
    assert.deepEqual(again.changes, []);
    assert.equal(r.get(w.id)?.lastSeen, T0 + 100);
  });

  test('a cloned state directory: same id, another live process → the newcomer gets a new id, the original keeps its own', () => {
    const r = registry();
    const original = join();
    const w = welcomed(r.admit(original, T0, limits(10)));
    const cloneReq = join({ claimedId: w.id });
    const clone = welcomed(r.admit(cloneReq, T0 + 1, limits(10)));
    assert.notEqual(clone.id, w.id);
    assert.equal(clone.cloneOf, w.id);
    assert.equal(clone.isNew, true);
    assert.equal(r.get(w.id)?.instanceToken, original.instanceToken);
    assert.equal(r.get(w.id)?.state, 'alive');
    // The clone's next attempt, if it did not store its new id, still finds its own entry.
    const retry = welcomed(r.admit(cloneReq, T0 + 2, limits(10)));
    assert.equal(retry.id, clone.id);
    assert.equal(r.countedCount(), 2);
  });

  test('a clone is a new node for the cap: refused when full, under a new id', () => {
    const r = registry();
    const w = welcomed(r.admit(join(), T0, limits(1)));
    const clone = refused(r.admit(join({ claimedId: w.id }), T0 + 1, limits(1)));
    assert.equal(clone.reason, 'subscription');
    assert.equal(clone.cloneOf, w.id);
    assert.notEqual(clone.id, w.id);
    assert.equal(r.get(w.id)?.state, 'alive');
  });

  test('the id of a dead process is taken back by its successor, not treated as a clone', () => {
    const r = registry();
    const w = welcomed(r.admit(join(), T0, limits(10)));
    r.markUnreachable(w.id, T0 + 1); // the control connection closed
    const next = welcomed(r.admit(join({ claimedId: w.id }), T0 + 2, limits(10)));
    assert.equal(next.id, w.id);
    assert.equal(next.cloneOf, undefined);
  });

  test('addresses, version and name follow the latest process, and are persisted', () => {
    const r = registry();
    const w = welcomed(r.admit(join({ name: 'gw-1' }), T0, limits(10)));
    r.markRemoved(w.id, T0 + 1);
    const back = welcomed(
      r.admit(join({ claimedId: w.id, version: '1.2.5', addresses: { cluster: '10.9.9.9:7946', api: '10.9.9.9:9090' } }), T0 + 2, limits(10)),
    );
    assert.equal(back.entry.name, 'gw-1', 'kept when the new process gives none');
    assert.equal(back.entry.version, '1.2.5');
    assert.equal(back.entry.addresses.api, '10.9.9.9:9090');
    const change = back.changes[0];
    assert.ok(change?.kind === 'put' && change.record.version === '1.2.5');
  });
});

describe('NodeRegistry lifecycle', () => {
  test('unreachable becomes down after the grace period, not before', () => {
    const r = registry();
    const w = welcomed(r.admit(join(), T0, limits(10)));
    const u = r.markUnreachable(w.id, T0 + 1000);
    assert.ok(u.changed);
    assert.equal(u.entry?.state, 'unreachable');
    assert.equal(r.countedCount(), 1, 'unreachable still counts');
    assert.deepEqual(r.tick(T0 + 1000 + GRACE - 1, { gracePeriodMs: GRACE }).down, []);
    const t = r.tick(T0 + 1000 + GRACE, { gracePeriodMs: GRACE });
    assert.deepEqual(t.down, [w.id]);
    assert.equal(t.changes.length, 1);
    assert.equal(r.get(w.id)?.state, 'down');
    assert.equal(r.get(w.id)?.since, T0 + 1000 + GRACE);
    assert.equal(r.countedCount(), 0);
  });

  test('an unreachable node that comes back before the grace period is alive again, with no cap check', () => {
    const r = registry();
    const w = welcomed(r.admit(join(), T0, limits(1)));
    r.markUnreachable(w.id, T0 + 1);
    const back = r.markAlive(w.id, T0 + 2, 3);
    assert.ok(back.changed);
    assert.equal(back.entry?.state, 'alive');
    assert.equal(back.entry?.incarnation, 3);
    assert.deepEqual(r.tick(T0 + GRACE * 10, { gracePeriodMs: GRACE }).down, []);
  });

  test('markAlive does not resurrect down, removed or refused nodes: they rejoin through admit', () => {
    const r = registry();
    const w = welcomed(r.admit(join(), T0, limits(10)));
    r.markRemoved(w.id, T0 + 1);
    const res = r.markAlive(w.id, T0 + 2);
    assert.equal(res.changed, false);
    assert.equal(r.get(w.id)?.state, 'removed');
  });

  test('a failure report older than the last alive incarnation is ignored', () => {
    const r = registry();
    const w = welcomed(r.admit(join(), T0, limits(10)));
    r.markAlive(w.id, T0 + 1, 5);
    assert.equal(r.markUnreachable(w.id, T0 + 2, 4).changed, false);
    assert.equal(r.markUnreachable(w.id, T0 + 3, 5).changed, true);
  });

  test('a graceful leave marks the node removed at once and frees its slot', () => {
    const r = registry();
    const w = welcomed(r.admit(join(), T0, limits(1)));
    const res = r.markRemoved(w.id, T0 + 5);
    assert.ok(res.changed);
    assert.equal(res.entry?.state, 'removed');
    assert.equal(res.entry?.since, T0 + 5);
    assert.equal(r.countedCount(), 0);
    welcomed(r.admit(join(), T0 + 6, limits(1)));
    assert.equal(r.markRemoved(w.id, T0 + 7).changed, false, 'already removed');
  });

  test('entries gone longer than the retention period are reaped, 72 h by default', () => {
    const r = registry();
    const gone = welcomed(r.admit(join(), T0, limits(10)));
    const staying = welcomed(r.admit(join(), T0, limits(10)));
    r.markRemoved(gone.id, T0 + HOUR);
    assert.equal(DEFAULT_RETENTION_MS, 72 * HOUR);
    assert.deepEqual(r.tick(T0 + HOUR + 72 * HOUR - 1, { gracePeriodMs: GRACE }).reaped, []);
    const t = r.tick(T0 + HOUR + 72 * HOUR, { gracePeriodMs: GRACE });
    assert.deepEqual(t.reaped, [gone.id]);
    assert.deepEqual(t.changes, [{ kind: 'delete', id: gone.id }]);
    assert.equal(r.get(gone.id), undefined);
    assert.equal(r.get(staying.id)?.state, 'alive', 'alive nodes are never reaped');
  });

  test('a refused node that keeps retrying is not reaped; one that stopped is', () => {
    const r = registry();
    welcomed(r.admit(join(), T0, limits(1)));
    const persistent = join();
    const quitter = join();
    const p = refused(r.admit(persistent, T0, limits(1)));
    const q = refused(r.admit(quitter, T0, limits(1)));
    for (let h = 1; h <= 80; h++) r.admit(persistent, T0 + h * HOUR, limits(1));
    const t = r.tick(T0 + 80 * HOUR, { gracePeriodMs: GRACE, retentionMs: 72 * HOUR });
    assert.deepEqual(t.reaped, [q.id]);
    assert.equal(r.get(p.id!)?.state, 'refused');
  });

  test('the operator can remove a gone node, and a running one only by force', () => {
    const r = registry();
    const a = welcomed(r.admit(join(), T0, limits(10)));
    const b = welcomed(r.admit(join(), T0, limits(10)));
    r.markRemoved(a.id, T0 + 1);
    const ok = r.remove(a.id);
    assert.ok(ok.ok);
    assert.deepEqual(ok.ok && ok.changes, [{ kind: 'delete', id: a.id }]);
    const unknown = r.remove(a.id);
    assert.ok(!unknown.ok && unknown.reason === 'unknown');
    const counted = r.remove(b.id);
    assert.ok(!counted.ok && counted.reason === 'counted');
    assert.ok(r.remove(b.id, { force: true }).ok);
    assert.equal(r.countedCount(), 0);
  });
});

describe('NodeRegistry recheckCap (a smaller or expired license)', () => {
  test('degrades the excess: unreachable first, then the most recently admitted; the oldest keep running', () => {
    const r = registry();
    const n = [0, 1, 2, 3, 4].map((i) => welcomed(r.admit(join(), T0 + i * 1000, limits(10))).id);
    r.markUnreachable(n[1]!, T0 + 10_000);
    const res = r.recheckCap(3, T0 + 20_000);
    assert.deepEqual(res.degrade, [n[1], n[4]]);
    for (const id of res.degrade) {
      assert.equal(r.get(id)?.state, 'refused');
      assert.equal(r.get(id)?.refusedReason, 'subscription');
      assert.equal(r.get(id)?.refusedMessage, SUBSCRIPTION_FULL_MESSAGE);
    }
    assert.deepEqual([n[0], n[2], n[3]].map((id) => r.get(id!)?.state), ['alive', 'alive', 'alive']);
    assert.equal(res.freeSlots, 0);
    assert.equal(res.changes.length, 2);
    assert.equal(r.countedCount(), 3);
  });

  test('with the same limit, nothing changes', () => {
    const r = registry();
    for (let i = 0; i < 3; i++) welcomed(r.admit(join(), T0 + i, limits(3)));
    const res = r.recheckCap(3, T0 + 10);
    assert.deepEqual(res.degrade, []);
    assert.deepEqual(res.changes, []);
    assert.equal(res.freeSlots, 0);
  });

  test('a larger limit reports free slots and the nodes waiting for them, longest waiting first', () => {
    const r = registry();
    welcomed(r.admit(join(), T0, limits(1)));
    const w1 = refused(r.admit(join(), T0 + 1, limits(1))).id!;
    const w2 = refused(r.admit(join(), T0 + 2, limits(1))).id!;
    const res = r.recheckCap(5, T0 + 3);
    assert.deepEqual(res.degrade, []);
    assert.equal(res.freeSlots, 4);
    assert.deepEqual(res.waiting, [w1, w2]);
    welcomed(r.admit(join({ claimedId: w2 }), T0 + 4, limits(5)));
  });

  test('expiry down to the free tier keeps the two oldest nodes and degrades the rest', () => {
    const r = registry();
    const n = [0, 1, 2, 3].map((i) => welcomed(r.admit(join(), T0 + i, limits(10))).id);
    const res = r.recheckCap(2, T0 + 100);
    assert.deepEqual(res.degrade, [n[3], n[2]]);
    assert.equal(r.countedCount(), 2);
    // A degraded node retrying is refused until there is room, then back under its id.
    assert.equal(refused(r.admit(join({ claimedId: n[3] }), T0 + 200, limits(2))).id, n[3]);
    r.markRemoved(n[0]!, T0 + 300);
    assert.equal(welcomed(r.admit(join({ claimedId: n[3] }), T0 + 400, limits(2))).id, n[3]);
  });
});

describe('NodeRegistry durability', () => {
  test('records round-trip; nodes last alive come back unreachable since the restart and still count', () => {
    const r = registry();
    const alive = welcomed(r.admit(join({ name: 'gw-a' }), T0, limits(10)));
    const removed = welcomed(r.admit(join(), T0, limits(10)));
    r.markRemoved(removed.id, T0 + 10);
    const refusedNode = refused(r.admit(join({ version: '9.0.0' }), T0 + 20, limits(10)));
    const records = r.records().map((rec) => JSON.parse(JSON.stringify(rec)) as unknown);

    const { registry: back, problems } = NodeRegistry.fromRecords(records, T0 + HOUR);
    assert.deepEqual(problems, []);
    const a = back.get(alive.id);
    assert.equal(a?.state, 'unreachable');
    assert.equal(a?.since, T0 + HOUR);
    assert.equal(a?.name, 'gw-a');
    assert.equal(a?.admittedAt, T0);
    assert.equal(back.countedCount(), 1);
    assert.equal(back.get(removed.id)?.state, 'removed');
    assert.equal(back.get(removed.id)?.since, T0 + 10);
    assert.equal(back.get(refusedNode.id!)?.refusedReason, 'version');
    // It becomes down after the grace period unless it reconnects.
    assert.deepEqual(back.tick(T0 + HOUR + GRACE, { gracePeriodMs: GRACE }).down, [alive.id]);
  });

  test('unreadable records are skipped and reported, never thrown', () => {
    const r = registry();
    const good = welcomed(r.admit(join(), T0, limits(10)));
    const record = toRecord(r.get(good.id)!);
    const { registry: back, problems } = NodeRegistry.fromRecords(
      [record, 'junk', { ...record, v: 2 }, { ...record, id: 'nope' }, { ...record, state: 'zombie' }, record],
      T0,
    );
    assert.equal(back.list().length, 1);
    assert.equal(problems.length, 5);
    assert.ok(problems.some((p) => p.includes('appears twice')));
    assert.ok(!parseNodeRecord({ ...record, since: 'yesterday' }).ok);
  });

  test('persisted through a Store, the registry survives a manager restart', async () => {
    const store = new MemoryStore();
    const r = registry();
    const a = r.admit(join(), T0, limits(10));
    await persistRegistryChanges(store, a.changes);
    const b = welcomed(r.admit(join(), T0 + 1, limits(10)));
    await persistRegistryChanges(store, b.changes);
    await persistRegistryChanges(store, r.markRemoved(b.id, T0 + 2).changes);
    assert.equal((await store.get(nodeKey(b.id)))?.value && ((await store.get(nodeKey(b.id)))?.value as { state: string }).state, 'removed');
    await persistRegistryChanges(store, r.remove(b.id).ok ? [{ kind: 'delete', id: b.id }] : []);
    const { registry: back, problems } = await loadRegistry(store, T0 + 100);
    assert.deepEqual(problems, []);
    assert.deepEqual(back.list().map((e) => e.id), [a.id]);
    await store.close();
  });

  test('an admission whose write failed can be undone, unless the entry changed since', () => {
    const r = registry();
    const fresh = welcomed(r.admit(join(), T0, limits(10)));
    assert.equal(r.undo(fresh.undo), true);
    assert.equal(r.get(fresh.id), undefined);
    assert.equal(r.countedCount(), 0);

    const w = welcomed(r.admit(join(), T0, limits(10)));
    r.markRemoved(w.id, T0 + 1);
    const back = welcomed(r.admit(join({ claimedId: w.id }), T0 + 2, limits(10)));
    assert.equal(r.undo(back.undo), true);
    assert.equal(r.get(w.id)?.state, 'removed', 'the entry is as it was before the admission');
    assert.equal(r.countedCount(), 0);

    const again = welcomed(r.admit(join({ claimedId: w.id }), T0 + 3, limits(10)));
    r.markUnreachable(w.id, T0 + 4);
    assert.equal(r.undo(again.undo), false, 'a later change wins');
    assert.equal(r.get(w.id)?.state, 'unreachable');
  });
});
