/**
 * The protocol core, one step at a time: no clock, no network, no timers — events in, effects out.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SeededRandom } from '../../../src/base/random.js';
import { EnvelopeCodec } from '../../../src/cluster/wire/index.js';
import { fromEnvelope, membershipRegistry, MEMBERSHIP_VERSIONS, toWireMessage } from '../../../src/cluster/membership/codec.js';
import type { MembershipConfig } from '../../../src/cluster/membership/config.js';
import { resolveConfig } from '../../../src/cluster/membership/config.js';
import { createState, nextDeadline, step } from '../../../src/cluster/membership/core.js';
import type { AdmitHook, CoreEvent, CoreState, Effect } from '../../../src/cluster/membership/core.js';
import { MsgType } from '../../../src/cluster/membership/messages.js';
import type { AliveMsg, PacketMsg, ProtocolMsg, PushPullMember } from '../../../src/cluster/membership/messages.js';

const codec = new EnvelopeCodec({ registry: membershipRegistry(), versions: MEMBERSHIP_VERSIONS, maxBodyBytes: 1 << 20 });
const encode = (m: ProtocolMsg): Uint8Array => codec.encode(toWireMessage(m));
const decode = (b: Uint8Array): ProtocolMsg => {
  const r = codec.decode(b, 0);
  assert.ok(r.ok);
  const m = fromEnvelope(r.envelope);
  assert.ok(m);
  return m;
};

/**
 * Tests jump time far past the wake-up the core asked for, which the core would take for a stalled event loop:
 * stall detection is off unless a test turns it on.
 */
function core(options: { config?: Partial<MembershipConfig>; admit?: AdmitHook; seed?: number } = {}): CoreState {
  const s = createState(
    {
      name: 'me',
      addr: 'me:1',
      meta: new Uint8Array([1]),
      config: resolveConfig('lan', { stallThresholdMs: 1e12, ...options.config }),
      random: new SeededRandom(options.seed ?? 1),
      encode,
      packetOverheadBytes: 11,
      partOverheadBytes: 2,
      admit: options.admit,
    },
    0,
  );
  step(s, { type: 'start' }, 0);
  return s;
}

const alive = (name: string, incarnation = 0, meta = new Uint8Array([7])): AliveMsg => ({
  type: MsgType.Alive,
  name,
  incarnation,
  addr: `${name}:1`,
  meta,
  vmin: 1,
  vmax: 1,
});

function run(s: CoreState, event: CoreEvent, now: number): Effect[] {
  return step(s, event, now).effects;
}

function packet(s: CoreState, now: number, ...messages: PacketMsg[]): Effect[] {
  return run(s, { type: 'packet', from: 'peer:1', messages }, now);
}

/** The messages of each packet sent. */
function sent(effects: readonly Effect[]): Array<{ to: string; msgs: ProtocolMsg[] }> {
  return effects.flatMap((e) => (e.type === 'send' ? [{ to: e.to, msgs: e.parts.map(decode) }] : []));
}

function withMembers(s: CoreState, names: string[], now = 0): void {
  packet(s, now, ...names.map((n) => alive(n)));
}

/** Runs ticks until the next probe has been sent; returns its target and sequence number. */
function nextProbe(s: CoreState): { target: string; seq: number; at: number } {
  const at = s.nextProbeAt;
  const effects = run(s, { type: 'tick' }, at);
  const ping = sent(effects).find((p) => p.msgs[0]?.type === MsgType.Ping);
  assert.ok(ping, 'a ping was sent');
  const msg = ping.msgs[0] as { seq: number; target: string };
  return { target: msg.target, seq: msg.seq, at };
}

describe('membership core (pure, step by step)', () => {
  test('start announces us and schedules a probe within one probe interval', () => {
    const s = createState(
      { name: 'me', addr: 'me:1', meta: new Uint8Array(), config: resolveConfig('lan'), random: new SeededRandom(3), encode, packetOverheadBytes: 11, partOverheadBytes: 2 },
      0,
    );
    assert.equal(nextDeadline(s), Infinity, 'nothing happens before start');
    step(s, { type: 'start' }, 0);
    assert.ok(s.nextProbeAt >= 0 && s.nextProbeAt < 1000);
    assert.deepEqual(s.queue.keys(), ['me']);
    assert.ok(nextDeadline(s) <= 1000);
  });

  test('a newcomer is reported once, joins the probe order, and its alive is re-gossiped', () => {
    const s = core();
    const effects = packet(s, 10, alive('a'));
    assert.deepEqual(
      effects.filter((e) => e.type === 'change').map((e) => e.type === 'change' && [e.member.name, e.previous, e.member.status]),
      [['a', undefined, 'alive']],
    );
    assert.ok(s.queue.keys().includes('a'));
    assert.equal(s.liveCount, 2);
    assert.equal(packet(s, 20, alive('a')).filter((e) => e.type === 'change').length, 0, 'old news changes nothing');
  });

  test('a probe is a ping to the next member; its ack ends the probe and improves local health', () => {
    const s = core();
    withMembers(s, ['a', 'b', 'c']);
    s.awareness = 2;
    const p = nextProbe(s);
    assert.ok(['a', 'b', 'c'].includes(p.target));
    packet(s, p.at + 5, { type: MsgType.Ack, seq: p.seq });
    assert.equal(s.probe, undefined);
    assert.equal(s.awareness, 1);
  });

  test('no ack by the probe timeout: ping-req through k members plus a TCP ping; silence until the deadline: suspect', () => {
    const s = core();
    withMembers(s, ['a', 'b', 'c', 'd', 'e']);
    const p = nextProbe(s);
    const indirect = run(s, { type: 'tick' }, p.at + 500);
    const reqs = sent(indirect).filter((x) => x.msgs[0]?.type === MsgType.PingReq);
    assert.equal(reqs.length, 3, 'indirectChecks = 3');
    for (const r of reqs) {
      const m = r.msgs[0] as { target: string; seq: number; wantNack: boolean };
      assert.equal(m.target, p.target);
      assert.equal(m.seq, p.seq);
      assert.equal(m.wantNack, true);
      assert.notEqual(r.to, `${p.target}:1`, 'helpers exclude the target');
    }
    const tcp = indirect.find((e) => e.type === 'request');
    assert.ok(tcp && tcp.type === 'request' && tcp.purpose === 'ping' && tcp.to === `${p.target}:1`);
    assert.equal(tcp.timeoutMs, 500, 'the TCP ping has until the end of the probe interval');

    const failed = run(s, { type: 'tick' }, p.at + 1000);
    const change = failed.find((e) => e.type === 'change');
    assert.ok(change && change.type === 'change' && change.member.name === p.target && change.member.status === 'suspect');
    assert.equal(s.awareness, 3, 'three helpers, no nacks: health degrades by three');
    const gossiped = sent(failed).filter((x) => x.msgs.some((m) => m.type === MsgType.Suspect && m.name === p.target));
    assert.ok(gossiped.length >= 3, 'the suspicion is gossiped at once (piggybacked on the next ping, and to 3 members)');
  });

  test('nacks from every helper show the network is fine: a failed probe leaves local health alone', () => {
    const s = core();
    withMembers(s, ['a', 'b', 'c', 'd', 'e']);
    const p = nextProbe(s);
    run(s, { type: 'tick' }, p.at + 500);
    for (let i = 0; i < 3; i++) packet(s, p.at + 900, { type: MsgType.Nack, seq: p.seq });
    run(s, { type: 'tick' }, p.at + 1000);
    assert.equal(s.awareness, 0);
    assert.equal(s.members.get(p.target)?.status, 'suspect');
  });

  test('an ack relayed by a helper saves the target', () => {
    const s = core();
    withMembers(s, ['a', 'b', 'c', 'd']);
    const p = nextProbe(s);
    run(s, { type: 'tick' }, p.at + 500);
    packet(s, p.at + 700, { type: MsgType.Ack, seq: p.seq });
    run(s, { type: 'tick' }, p.at + 1000);
    assert.equal(s.members.get(p.target)?.status, 'alive');
  });

  test('a TCP ping that gets through prevents the suspicion (UDP-only trouble)', () => {
    const s = core();
    withMembers(s, ['a', 'b', 'c', 'd']);
    const p = nextProbe(s);
    const tcp = run(s, { type: 'tick' }, p.at + 500).find((e) => e.type === 'request');
    assert.ok(tcp && tcp.type === 'request');
    const effects = run(s, { type: 'stream-result', id: tcp.id, message: { type: MsgType.Ack, seq: p.seq } }, p.at + 600);
    assert.deepEqual(effects.filter((e) => e.type === 'change'), []);
    const end = run(s, { type: 'tick' }, p.at + 1000);
    assert.equal(s.members.get(p.target)?.status, 'alive');
    assert.ok(end.some((e) => e.type === 'log' && e.level === 'WARNING' && /TCP but not over UDP/.test(e.message)));
  });

  test('a suspicion with no confirmation runs its maximum: 6 × the minimum', () => {
    const s = core();
    withMembers(s, ['a', 'b', 'c']); // n = 4: min = 4 s, max = 24 s, k = 2
    packet(s, 1000, { type: MsgType.Suspect, name: 'a', incarnation: 0, from: 'b' });
    assert.equal(s.members.get('a')?.status, 'suspect');
    run(s, { type: 'tick' }, 1000 + 23_999);
    assert.equal(s.members.get('a')?.status, 'suspect');
    const effects = run(s, { type: 'tick' }, 1000 + 24_000);
    assert.equal(s.members.get('a')?.status, 'dead');
    assert.ok(effects.some((e) => e.type === 'change' && e.member.name === 'a' && e.member.status === 'dead'));
  });

  test('in a cluster too small to expect confirmations, a suspicion runs its minimum', () => {
    const s = core();
    withMembers(s, ['a', 'b']); // n = 3: k = 0
    packet(s, 0, { type: MsgType.Suspect, name: 'a', incarnation: 0, from: 'b' });
    run(s, { type: 'tick' }, 3_999);
    assert.equal(s.members.get('a')?.status, 'suspect');
    run(s, { type: 'tick' }, 4_000);
    assert.equal(s.members.get('a')?.status, 'dead');
  });

  test('independent confirmations shrink the suspicion to its minimum (Lifeguard)', () => {
    const s = core();
    withMembers(s, ['a', 'b', 'c', 'd']);
    packet(s, 0, { type: MsgType.Suspect, name: 'a', incarnation: 0, from: 'b' });
    packet(s, 100, { type: MsgType.Suspect, name: 'a', incarnation: 0, from: 'b' }); // a repeat: not independent
    packet(s, 200, { type: MsgType.Suspect, name: 'a', incarnation: 0, from: 'c' });
    packet(s, 300, { type: MsgType.Suspect, name: 'a', incarnation: 0, from: 'd' });
    // n = 5: min = 4 s (log10 5 < 1), reached with k = 2 confirmations, counted from the start of the suspicion.
    run(s, { type: 'tick' }, 3_999);
    assert.equal(s.members.get('a')?.status, 'suspect');
    run(s, { type: 'tick' }, 4_000);
    assert.equal(s.members.get('a')?.status, 'dead');
  });

  test('a newer incarnation refutes a suspicion; an older suspicion is ignored', () => {
    const s = core();
    withMembers(s, ['a', 'b', 'c']);
    packet(s, 0, { type: MsgType.Suspect, name: 'a', incarnation: 0, from: 'b' });
    const effects = packet(s, 10, alive('a', 1));
    assert.equal(s.members.get('a')?.status, 'alive');
    assert.ok(effects.some((e) => e.type === 'change' && e.previous === 'suspect' && e.member.status === 'alive'));
    assert.equal(s.suspicions.size, 0);
    packet(s, 20, { type: MsgType.Suspect, name: 'a', incarnation: 0, from: 'c' });
    assert.equal(s.members.get('a')?.status, 'alive', 'a suspicion of incarnation 0 does not touch incarnation 1');
  });

  test('accused ourselves, we refute with a higher incarnation and count it against our health', () => {
    const s = core();
    withMembers(s, ['a']);
    packet(s, 0, { type: MsgType.Suspect, name: 'me', incarnation: 4, from: 'a' });
    assert.equal(s.self.incarnation, 5);
    assert.equal(s.self.status, 'alive');
    assert.equal(s.awareness, 1);
    assert.equal(s.queue.keys()[0], 'me');
    packet(s, 0, { type: MsgType.Dead, name: 'me', incarnation: 9, from: 'a' });
    assert.equal(s.self.incarnation, 10);
    assert.equal(s.self.status, 'alive');
  });

  test('a stale accusation of us (an incarnation already refuted) is answered: our alive goes to the accuser', () => {
    const s = core();
    withMembers(s, ['a', 'b']);
    packet(s, 0, { type: MsgType.Suspect, name: 'me', incarnation: 0, from: 'a' });
    assert.equal(s.self.incarnation, 1);
    const answer = sent(packet(s, 10, { type: MsgType.Suspect, name: 'me', incarnation: 0, from: 'b' }));
    const direct = answer.find((p) => p.to === 'b:1' && p.msgs[0]?.type === MsgType.Alive);
    assert.ok(direct, 'b hears our current incarnation directly');
    assert.equal((direct.msgs[0] as AliveMsg).incarnation, 1);
    assert.equal(s.self.incarnation, 1, 'no new incarnation is needed');
    const dead = sent(packet(s, 20, { type: MsgType.Dead, name: 'me', incarnation: 0, from: 'a' }));
    assert.ok(dead.some((p) => p.to === 'a:1' && p.msgs[0]?.type === MsgType.Alive));
  });

  test('news of a death is believed at once; a dead sent by the member itself means it left', () => {
    const s = core();
    withMembers(s, ['a', 'b']);
    packet(s, 0, { type: MsgType.Dead, name: 'a', incarnation: 0, from: 'b' });
    assert.equal(s.members.get('a')?.status, 'dead');
    packet(s, 0, { type: MsgType.Dead, name: 'b', incarnation: 0, from: 'b' });
    assert.equal(s.members.get('b')?.status, 'left');
    assert.equal(s.liveCount, 1);
  });

  test('buddy system: probing a suspect member tells it so in the same packet', () => {
    const s = core();
    withMembers(s, ['a']);
    packet(s, 0, { type: MsgType.Suspect, name: 'a', incarnation: 0, from: 'x' });
    const effects = run(s, { type: 'tick' }, s.nextProbeAt);
    const ping = sent(effects).find((p) => p.msgs[0]?.type === MsgType.Ping);
    assert.ok(ping);
    assert.ok(ping.msgs.some((m) => m.type === MsgType.Suspect && m.name === 'a'));
  });

  test('as a helper: ping the target, relay its ack with the asker\'s number, or nack after 80% of the timeout', () => {
    const s = core();
    const req: PacketMsg = { type: MsgType.PingReq, seq: 77, target: 't', targetAddr: 't:1', wantNack: true, source: 'x' };
    const out = sent(run(s, { type: 'packet', from: 'x:1', messages: [req] }, 0));
    assert.equal(out[0]?.to, 't:1');
    const ping = out[0]?.msgs[0] as { type: number; seq: number; target: string };
    assert.equal(ping.type, MsgType.Ping);
    assert.equal(ping.target, 't');
    const relayed = sent(run(s, { type: 'packet', from: 't:1', messages: [{ type: MsgType.Ack, seq: ping.seq }] }, 50));
    assert.equal(relayed[0]?.to, 'x:1');
    assert.deepEqual(relayed[0]?.msgs[0], { type: MsgType.Ack, seq: 77 });

    run(s, { type: 'packet', from: 'x:1', messages: [{ ...req, seq: 78 }] }, 1000);
    assert.deepEqual(sent(run(s, { type: 'tick' }, 1399)), []);
    const nack = sent(run(s, { type: 'tick' }, 1400));
    assert.deepEqual(nack[0]?.msgs[0], { type: MsgType.Nack, seq: 78 });
  });

  test('a ping meant for someone else is not acked (a reused address)', () => {
    const s = core();
    assert.deepEqual(sent(packet(s, 0, { type: MsgType.Ping, seq: 1, target: 'other', source: 'x' })), []);
    assert.equal(s.stats.misdirectedPings, 1);
    const ack = sent(packet(s, 0, { type: MsgType.Ping, seq: 2, target: 'me', source: 'x' }));
    assert.deepEqual(ack[0]?.msgs[0], { type: MsgType.Ack, seq: 2 });
  });

  test('leave: we announce our own death, stop probing, and ignore old alives about us', () => {
    const s = core();
    withMembers(s, ['a', 'b']);
    run(s, { type: 'leave' }, 100);
    assert.equal(s.self.status, 'left');
    assert.equal(s.queue.keys()[0], 'me');
    const probe = run(s, { type: 'tick' }, s.nextProbeAt);
    assert.ok(!sent(probe).some((p) => p.msgs[0]?.type === MsgType.Ping));
    packet(s, 200, alive('me', 3));
    assert.equal(s.self.status, 'left');
    // Still answers probes while the news spreads.
    const answer = sent(packet(s, 300, { type: MsgType.Ping, seq: 5, target: 'me', source: 'a' }));
    assert.deepEqual(answer[0]?.msgs[0], { type: MsgType.Ack, seq: 5 });
  });

  test('push-pull: the responder merges first, so a refutation of its death rides back in the response', () => {
    const s = core();
    withMembers(s, ['a']);
    const remote: PushPullMember[] = [
      { name: 'me', addr: 'me:1', meta: new Uint8Array(), incarnation: 3, status: 2, vmin: 1, vmax: 1 },
      { name: 'z', addr: 'z:1', meta: new Uint8Array(), incarnation: 0, status: 0, vmin: 1, vmax: 1 },
    ];
    const effects = run(s, { type: 'stream-request', id: 1, from: 'z:1', message: { type: MsgType.PushPullRequest, join: true, members: remote, source: 'z' } }, 0);
    const reply = effects.find((e) => e.type === 'reply');
    assert.ok(reply && reply.type === 'reply' && reply.message?.type === MsgType.PushPullResponse);
    const me = reply.message.members.find((m) => m.name === 'me');
    assert.equal(me?.incarnation, 4, 'refuted before answering');
    assert.equal(me?.status, 0);
    assert.equal(s.members.get('z')?.status, 'alive');
  });

  test('join: a push-pull to each seed; a seed\'s view merges in', () => {
    const s = core();
    const effects = run(s, { type: 'join', addrs: ['seed:1'] }, 0);
    const req = effects.find((e) => e.type === 'request');
    assert.ok(req && req.type === 'request' && req.purpose === 'join' && req.message.type === MsgType.PushPullRequest);
    const members: PushPullMember[] = ['seed', 'a', 'b'].map((name) => ({ name, addr: `${name}:1`, meta: new Uint8Array(), incarnation: 0, status: 0, vmin: 1, vmax: 1 }));
    run(s, { type: 'stream-result', id: req.id, message: { type: MsgType.PushPullResponse, members } }, 10);
    assert.equal(s.liveCount, 4);
  });

  test('alone with seeds, the member retries joining them; not when others are known', () => {
    const s = core();
    run(s, { type: 'join', addrs: ['seed:1'] }, 0);
    const retry = run(s, { type: 'tick' }, 30_000);
    assert.ok(retry.some((e) => e.type === 'request' && e.purpose === 'join'));
    withMembers(s, ['a'], 30_001);
    const later = run(s, { type: 'tick' }, 60_000);
    assert.ok(!later.some((e) => e.type === 'request' && e.purpose === 'join'));
  });

  test('the admission hook refuses a member, which then never appears', () => {
    const s = core({ admit: (c) => (c.name === 'bad' ? 'subscription full' : undefined) });
    const effects = packet(s, 0, alive('bad'), alive('good'));
    assert.equal(s.members.has('bad'), false);
    assert.equal(s.members.has('good'), true);
    assert.equal(s.stats.refusedMembers, 1);
    assert.deepEqual(effects.filter((e) => e.type === 'change').map((e) => e.type === 'change' && e.member.name), ['good']);
  });

  test('a join push-pull from a refused member is not answered: it learns nothing of the cluster', () => {
    const s = core({ admit: (c) => (c.name === 'bad' ? 'subscription full' : undefined) });
    withMembers(s, ['a']);
    const bad: PushPullMember = { name: 'bad', addr: 'bad:1', meta: new Uint8Array(), incarnation: 0, status: 0, vmin: 1, vmax: 1 };
    const effects = run(s, { type: 'stream-request', id: 3, from: 'bad:1', message: { type: MsgType.PushPullRequest, join: true, members: [bad], source: 'bad' } }, 0);
    assert.deepEqual(effects.filter((e) => e.type === 'reply'), [{ type: 'reply', id: 3, message: undefined }]);
    assert.equal(s.members.has('bad'), false);
  });

  test('a member whose protocol range does not overlap ours is ignored; an overlapping one is accepted', () => {
    const s = core();
    packet(s, 0, { ...alive('future'), vmin: 2, vmax: 3 }, { ...alive('rolling'), vmin: 1, vmax: 2 });
    assert.equal(s.members.has('future'), false);
    assert.equal(s.members.has('rolling'), true);
    assert.equal(s.stats.incompatibleMembers, 1);
  });

  test('a second address for a live member is a conflict; an unreachable member may come back elsewhere', () => {
    const s = core();
    withMembers(s, ['a']);
    const effects = packet(s, 0, { ...alive('a', 1), addr: 'elsewhere:9' });
    assert.ok(effects.some((e) => e.type === 'conflict' && e.name === 'a' && e.claimed === 'elsewhere:9'));
    assert.equal(s.members.get('a')?.addr, 'a:1');
    packet(s, 0, { type: MsgType.Dead, name: 'a', incarnation: 0, from: 'x' });
    packet(s, 10, { ...alive('a', 0), addr: 'elsewhere:9' });
    assert.equal(s.members.get('a')?.addr, 'elsewhere:9');
    assert.equal(s.members.get('a')?.status, 'alive');
  });

  test('a stall moves every deadline by the lost time instead of blaming the member being probed', () => {
    const s = core({ config: { stallThresholdMs: 500 } });
    withMembers(s, ['a', 'b', 'c', 'd']);
    const p = nextProbe(s);
    // Our next wake-up was due at the ack deadline; we run 3 s late.
    const late = run(s, { type: 'tick' }, p.at + 3_500);
    assert.ok(late.some((e) => e.type === 'log' && /stalled/.test(e.message)));
    assert.equal(s.stats.stalls, 1);
    assert.equal(s.awareness, 1);
    assert.ok(!sent(late).some((x) => x.msgs[0]?.type === MsgType.PingReq), 'no indirect probe yet: the ack may be unread');
    packet(s, p.at + 3_501, { type: MsgType.Ack, seq: p.seq });
    assert.equal(s.members.get(p.target)?.status, 'alive');
  });

  test('reconnect: an unreachable member gets a join push-pull; it is forgotten after the reconnect timeout', () => {
    const s = core({ config: { reconnectTimeoutMs: 120_000 } });
    withMembers(s, ['a']);
    packet(s, 0, { type: MsgType.Dead, name: 'a', incarnation: 0, from: 'x' });
    const effects = run(s, { type: 'tick' }, 30_000);
    assert.ok(effects.some((e) => e.type === 'request' && e.purpose === 'reconnect' && e.to === 'a:1'));
    let forgotten = false;
    for (let t = 31_000; t <= 200_000; t += 1000) {
      if (run(s, { type: 'tick' }, t).some((e) => e.type === 'forget' && e.member.name === 'a')) forgotten = true;
    }
    assert.ok(forgotten);
    assert.equal(s.members.has('a'), false);
  });

  test('metadata updates bump our incarnation and are gossiped', () => {
    const s = core();
    run(s, { type: 'update-meta', meta: new Uint8Array([9, 9]) }, 0);
    assert.equal(s.self.incarnation, 1);
    assert.deepEqual([...s.self.meta], [9, 9]);
    assert.equal(s.queue.keys()[0], 'me');
  });

  test('no packet ever exceeds the packet size, however much news is queued', () => {
    const s = core();
    const big = new Uint8Array(400);
    packet(s, 0, ...Array.from({ length: 200 }, (_, i) => alive(`member-with-a-longish-name-${i}`, 0, big)));
    let now = 0;
    for (let i = 0; i < 50; i++) {
      now = Math.max(now + 1, nextDeadline(s));
      for (const e of run(s, { type: 'tick' }, now)) {
        if (e.type !== 'send') continue;
        const size = 11 + e.parts.reduce((n, p) => n + p.length + 2, 0);
        assert.ok(size <= 1400, `a packet of ${size} bytes`);
      }
    }
  });
});
