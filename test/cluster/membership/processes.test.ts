import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, test } from 'node:test';
import { generateKey } from '../../../src/cluster/wire/index.js';

const script = fileURLToPath(new URL('./fixtures/member-process.js', import.meta.url));

interface Child {
  readonly id: string;
  readonly proc: ChildProcess;
  address: string;
}

interface MemberRow {
  id: string;
  state: string;
  suspect: boolean;
}

const children: Child[] = [];

after(async () => {
  for (const c of children) {
    if (c.proc.exitCode === null && c.proc.signalCode === null) {
      c.proc.kill('SIGKILL');
      await once(c.proc, 'exit');
    }
  }
});

function nextMessage<T>(c: Child, pick: (msg: Record<string, unknown>) => boolean, timeoutMs = 10_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      c.proc.off('message', onMessage);
      reject(new Error(`${c.id} did not answer within ${timeoutMs} ms`));
    }, timeoutMs);
    const onMessage = (msg: Record<string, unknown>): void => {
      if (!pick(msg)) return;
      clearTimeout(timer);
      c.proc.off('message', onMessage);
      resolve(msg as T);
    };
    c.proc.on('message', onMessage);
  });
}

async function spawn(id: string, key: string): Promise<Child> {
  const proc = fork(script, [], { env: { ...process.env, MEMBER_ID: id, MEMBER_KEY: key }, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const child: Child = { id, proc, address: '' };
  children.push(child);
  const ready = await nextMessage<{ address: string }>(child, (m) => m['ready'] === true);
  child.address = ready.address;
  return child;
}

async function view(c: Child): Promise<Map<string, MemberRow>> {
  c.proc.send({ cmd: 'members' });
  const msg = await nextMessage<{ members: MemberRow[] }>(c, (m) => Array.isArray(m['members']));
  return new Map(msg.members.map((m) => [m.id, m]));
}

async function waitFor(c: Child, predicate: (v: Map<string, MemberRow>) => boolean, timeoutMs: number): Promise<Map<string, MemberRow>> {
  const end = Date.now() + timeoutMs;
  let last = await view(c);
  while (!predicate(last)) {
    if (Date.now() > end) throw new Error(`timed out; last view ${JSON.stringify([...last.values()])}`);
    await sleep(100);
    last = await view(c);
  }
  return last;
}

test('five members in separate processes over real UDP: one SIGKILLed turns unreachable, one SIGTERMed turns removed', async () => {
  const key = generateKey();
  const first = await spawn('proc-0', key);
  const rest: Child[] = [];
  for (let i = 1; i < 5; i++) rest.push(await spawn(`proc-${i}`, key));
  for (const c of rest) {
    c.proc.send({ cmd: 'join', seeds: [first.address] });
    const joined = await nextMessage<{ joined: number }>(c, (m) => typeof m['joined'] === 'number');
    assert.equal(joined.joined, 1, `${c.id} joined through the seed`);
  }
  const all = [first, ...rest];
  const allAlive = (v: Map<string, MemberRow>): boolean => all.every((c) => v.get(c.id)?.state === 'alive');
  for (const c of all) await waitFor(c, allAlive, 15_000);

  const killed = rest[2] as Child;
  const stopped = rest[3] as Child;
  killed.proc.kill('SIGKILL');
  stopped.proc.kill('SIGTERM');
  const [code] = (await once(stopped.proc, 'exit')) as [number | null];
  assert.equal(code, 0, 'the SIGTERMed member left and exited cleanly');

  const survivor = first;
  const final = await waitFor(
    survivor,
    (v) => v.get(stopped.id)?.state === 'removed' && v.get(killed.id)?.state === 'unreachable',
    20_000,
  );
  for (const c of [first, rest[0], rest[1]] as Child[]) assert.equal(final.get(c.id)?.state, 'alive');
  // Another survivor agrees (it may hear of the leave only through push-pull if it missed the broadcast).
  await waitFor(rest[0] as Child, (v) => v.get(stopped.id)?.state === 'removed' && v.get(killed.id)?.state === 'unreachable', 30_000);

  for (const c of [first, rest[0], rest[1]] as Child[]) {
    c.proc.kill('SIGTERM');
    const [exitCode] = (await once(c.proc, 'exit')) as [number | null];
    assert.equal(exitCode, 0);
  }
});
