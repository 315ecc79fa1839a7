import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect, createServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCode, isKrakendError } from '../../../src/base/errors.js';
import {
  DropCounters,
  FramedConnection,
  frame,
  FrameReader,
  generateKey,
  Keyring,
  MessageRegistry,
  StreamKind,
  StreamServer,
  WireError,
} from '../../../src/cluster/wire/index.js';
import type { Envelope, StreamOptions } from '../../../src/cluster/wire/index.js';
import { decodeHello, encodeHello, FrameOpener, FrameSealer, newNonce } from '../../../src/cluster/wire/handshake.js';
import { CONFIG, collidingKeys, PING, testRegistry } from './helpers.js';

const servers: StreamServer[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

interface Harness {
  port: number;
  server: StreamServer;
  accepted: FramedConnection[];
  nextConnection: () => Promise<FramedConnection>;
  errors: WireError[];
  drops: DropCounters;
}

async function serve(
  options: Partial<StreamOptions> = {},
  extra: { handshakeTimeoutMs?: number } = {},
): Promise<Harness> {
  const accepted: FramedConnection[] = [];
  const errors: WireError[] = [];
  const waiting: Array<(c: FramedConnection) => void> = [];
  const drops = new DropCounters();
  const server = new StreamServer({
    drops,
    ...extra,
    routes: {
      [StreamKind.Gossip]: {
        options: { registry: testRegistry(), ...options },
        onConnection: (conn) => {
          accepted.push(conn);
          waiting.shift()?.(conn);
        },
      },
    },
    onError: (err) => errors.push(err),
  });
  servers.push(server);
  const { port } = await server.listen(0, '127.0.0.1');
  return {
    port,
    server,
    accepted,
    errors,
    drops,
    nextConnection: () =>
      new Promise((resolve) => {
        const ready = accepted.find((c) => !c.isClosed && !taken.has(c));
        if (ready) {
          taken.add(ready);
          resolve(ready);
        } else waiting.push((c) => (taken.add(c), resolve(c)));
      }),
  };
}
const taken = new WeakSet<FramedConnection>();

function dial(port: number, options: Partial<StreamOptions> & { kind?: StreamKind } = {}): Promise<FramedConnection> {
  const base = { host: '127.0.0.1', port, kind: StreamKind.Gossip, registry: testRegistry() };
  return FramedConnection.connect({ ...base, ...options });
}

async function handshakeError(p: Promise<unknown>): Promise<WireError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof WireError, String(err));
    return err;
  }
  assert.fail('expected the handshake to fail');
}

async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail('condition not met in time');
    await sleep(5);
  }
}

describe('FramedConnection over 127.0.0.1', () => {
  for (const keyed of [false, true]) {
    test(`${keyed ? 'keyed' : 'plaintext'}: messages flow both ways after the handshake`, async () => {
      const key = generateKey();
      const h = await serve(keyed ? { keyring: Keyring.fromConfig(key) } : {});
      const client = await dial(h.port, keyed ? { keyring: Keyring.fromConfig(key) } : {});
      const server = await h.nextConnection();
      assert.equal(client.encrypted, keyed);
      assert.equal(server.encrypted, keyed);
      assert.equal(client.keyId, server.keyId);
      assert.equal(client.version, 1);
      assert.equal(server.kind, StreamKind.Gossip);
      await client.send({ type: PING, body: { seq: 1 }, requestId: 7 });
      const got = await server.receive(1000);
      assert.deepEqual([got.type, got.requestId, got.body], [PING, 7, { seq: 1 }]);
      await server.send({ type: PING, body: 'pong', requestId: 7 });
      assert.equal((await client.receive(1000)).body, 'pong');
      await client.close();
      assert.equal(await server.closed, undefined, 'a clean close carries no error');
    });
  }

  test('large bodies are chunked under the peer frame limit and reassembled', async () => {
    const key = generateKey();
    const h = await serve({ keyring: Keyring.fromConfig(key), maxFrameBytes: 16 * 1024 });
    const client = await dial(h.port, { keyring: Keyring.fromConfig(key) });
    const server = await h.nextConnection();
    const blob = randomBytes(1024 * 1024 + 17);
    await client.send({ type: CONFIG, body: { version: 3, blob } });
    await client.send({ type: PING, body: 'after' });
    const got = (await server.receive(5000)).body as { version: number; blob: Uint8Array };
    assert.equal(got.version, 3);
    assert.ok(Buffer.from(got.blob).equals(blob));
    assert.equal((await server.receive(1000)).body, 'after');
    await client.close();
  });

  test('a message above the peer message limit is refused at send, and the stream goes on', async () => {
    const h = await serve({ maxMessageBytes: 1000 });
    const client = await dial(h.port);
    const server = await h.nextConnection();
    const big = client.send({ type: PING, body: 'x'.repeat(2000) });
    await assert.rejects(big, (e: unknown) => e instanceof WireError && e.code === ErrorCode.WireOversized);
    await client.send({ type: PING, body: 'small' });
    assert.equal((await server.receive(1000)).body, 'small');
    await client.close();
  });

  test('a message of an unknown type is dropped and counted; the stream goes on', async () => {
    const h = await serve();
    const client = await dial(h.port, { registry: testRegistry().register(200, 'newer') });
    const server = await h.nextConnection();
    await client.send({ type: 200, body: 'from a newer version' });
    await client.send({ type: PING, body: 'known' });
    assert.equal((await server.receive(1000)).body, 'known');
    assert.equal(h.drops.get('unknown_type'), 1);
    await client.close();
  });

  test('async iteration yields every message in order and ends on a clean close', async () => {
    const h = await serve({ inboxHighWater: 4 });
    const client = await dial(h.port);
    const server = await h.nextConnection();
    const n = 500;
    const sends = [];
    for (let i = 0; i < n; i++) sends.push(client.send({ type: PING, body: { seq: i, pad: 'p'.repeat(200) } }));
    await Promise.all(sends);
    await sleep(20);
    assert.ok(server.pending <= 4, `the inbox stays bounded while nobody reads (${server.pending})`);
    const closing = client.close();
    const seen: number[] = [];
    for await (const env of server) seen.push((env.body as { seq: number }).seq);
    await closing;
    assert.deepEqual(seen, Array.from({ length: n }, (_, i) => i));
  });

  test('receive times out, then still works', async () => {
    const h = await serve();
    const client = await dial(h.port);
    const server = await h.nextConnection();
    await assert.rejects(server.receive(20), (e: unknown) => isKrakendError(e, ErrorCode.WireTimeout));
    await client.send({ type: PING, body: 1 });
    assert.equal((await server.receive(1000)).body, 1);
    await client.close();
  });

  test('removing the session key from the keyring closes the stream', async () => {
    const k1 = generateKey();
    const serverRing = Keyring.fromConfig(k1);
    const h = await serve({ keyring: serverRing });
    const client = await dial(h.port, { keyring: Keyring.fromConfig(k1) });
    const server = await h.nextConnection();
    serverRing.use(serverRing.install(generateKey()));
    serverRing.remove(client.keyId);
    const err = await server.closed;
    assert.equal(err?.reason, 'auth_failed');
    assert.equal(await client.closed, undefined);
  });

  test('rotation: a dialer still on the old primary connects to an acceptor already on the new one', async () => {
    const [k1, k2] = [generateKey(), generateKey()];
    const serverRing = Keyring.fromConfig([k2, k1]);
    const h = await serve({ keyring: serverRing });
    const oldClient = await dial(h.port, { keyring: Keyring.fromConfig(k1) });
    const newClient = await dial(h.port, { keyring: Keyring.fromConfig([k2, k1]) });
    assert.notEqual(oldClient.keyId, newClient.keyId);
    await oldClient.send({ type: PING, body: 'old' });
    assert.equal((await (await h.nextConnection()).receive(1000)).body, 'old');
    // Once k1 is removed, a dialer that only has k1 is refused.
    serverRing.remove(oldClient.keyId);
    assert.equal(await oldClient.closed, undefined, 'its live stream was closed by the acceptor');
    const err = await handshakeError(dial(h.port, { keyring: Keyring.fromConfig(k1) }));
    assert.equal(err.reason, 'unknown_key');
    await newClient.close();
  });

  test('an empty keyring is a configuration error, not a plaintext stream', async () => {
    const empty = dial(1, { keyring: new Keyring() });
    await assert.rejects(empty, (e: unknown) => isKrakendError(e, ErrorCode.WireKeyInvalid));
  });

  test('an idle stream is closed after idleTimeoutMs', async () => {
    const h = await serve({ idleTimeoutMs: 50 });
    const client = await dial(h.port);
    const server = await h.nextConnection();
    const err = await server.closed;
    assert.equal(err?.code, ErrorCode.WireTimeout);
    await client.closed;
  });
});

describe('handshake refusals', () => {
  test('wrong key: refused and counted on both sides', async () => {
    const h = await serve({ keyring: Keyring.fromConfig(generateKey()) });
    const clientDrops = new DropCounters();
    const err = await handshakeError(dial(h.port, { keyring: Keyring.fromConfig(generateKey()), drops: clientDrops }));
    assert.equal(err.code, ErrorCode.WireHandshake);
    assert.equal(err.reason, 'unknown_key');
    assert.equal(clientDrops.get('auth_failed'), 1);
    await until(() => h.drops.get('auth_failed') === 1);
    assert.equal(h.accepted.length, 0);
  });

  test('wrong key under the same key id: the MAC does not verify, the dialer closes', async () => {
    const [k1, k2] = collidingKeys();
    const ring1 = new Keyring();
    ring1.install(k1);
    const ring2 = new Keyring();
    ring2.install(k2);
    const h = await serve({ keyring: ring1 });
    const clientDrops = new DropCounters();
    const err = await handshakeError(dial(h.port, { keyring: ring2, drops: clientDrops }));
    assert.equal(err.reason, 'auth_failed');
    assert.equal(clientDrops.get('auth_failed'), 1);
    await until(() => h.errors.length === 1);
    assert.equal(h.accepted.length, 0);
  });

  test('a key on the acceptor only: refused (key_required)', async () => {
    const h = await serve({ keyring: Keyring.fromConfig(generateKey()) });
    const err = await handshakeError(dial(h.port));
    assert.equal(err.reason, 'key_required');
    await until(() => h.drops.get('auth_failed') === 1);
  });

  test('a key on the dialer only: refused (no_key_configured)', async () => {
    const h = await serve();
    const err = await handshakeError(dial(h.port, { keyring: Keyring.fromConfig(generateKey()) }));
    assert.equal(err.reason, 'no_key_configured');
    await until(() => h.drops.get('auth_failed') === 1);
  });

  test('no common version: refused', async () => {
    const h = await serve({ versions: { min: 2, max: 3 } });
    const err = await handshakeError(dial(h.port, { versions: { min: 1, max: 1 } }));
    assert.equal(err.reason, 'no_common_version');
    await until(() => h.drops.get('unknown_version') === 1);
  });

  test('overlapping versions negotiate the highest common one', async () => {
    const h = await serve({ versions: { min: 1, max: 3 } });
    const client = await dial(h.port, { versions: { min: 2, max: 5 } });
    const server = await h.nextConnection();
    assert.equal(client.version, 3);
    assert.equal(server.version, 3);
    await client.close();
  });

  test('an unknown stream kind is closed and counted as bad_magic', async () => {
    const h = await serve();
    const err = await handshakeError(dial(h.port, { kind: StreamKind.Control }));
    assert.equal(err.code, ErrorCode.WireHandshake);
    await until(() => h.drops.get('bad_magic') === 1);
  });

  test('a dialer that never finishes the handshake is cut at the timeout', async () => {
    const h = await serve({}, { handshakeTimeoutMs: 100 });
    const raw = connect(h.port, '127.0.0.1');
    raw.on('error', () => {});
    raw.write(Buffer.from([StreamKind.Gossip]));
    await new Promise((resolve) => raw.once('close', resolve));
    await until(() => h.errors.some((e) => e.code === ErrorCode.WireTimeout));
  });

  test('a frame over the maximum closes the stream, counted as oversized', async () => {
    const h = await serve({ maxFrameBytes: 4096 });
    const raw = await rawPlaintextSession(h.port);
    const server = await h.nextConnection();
    const len = Buffer.alloc(4);
    len.writeUInt32BE(4097);
    raw.write(len);
    const err = await server.closed;
    assert.equal(err?.reason, 'oversized');
    assert.equal(h.drops.get('oversized'), 1);
    raw.destroy();
  });
});

/** A hand-driven plaintext dialer: kind byte, hello, then whatever the test writes. */
async function rawPlaintextSession(port: number): Promise<Socket> {
  const raw = connect(port, '127.0.0.1');
  raw.on('error', () => {});
  await new Promise((resolve) => raw.once('connect', resolve));
  const hello = encodeHello({
    kindOrStatus: StreamKind.Gossip,
    versions: { min: 1, max: 1 },
    maxFrameBytes: 1 << 20,
    maxMessageBytes: 1 << 20,
    keyId: 0,
    nonce: newNonce(),
  });
  raw.write(Buffer.concat([Buffer.from([StreamKind.Gossip]), frame(hello)]));
  const reader = new FrameReader(1024);
  await new Promise<void>((resolve) => {
    raw.on('data', function onData(chunk: Buffer) {
      reader.push(chunk);
      const f = reader.shift();
      if (f && Buffer.isBuffer(f)) {
        assert.ok(decodeHello(f, 'when-keyed').ok);
        raw.off('data', onData);
        resolve();
      }
    });
  });
  return raw;
}

describe('tampering on a keyed stream (through a proxy)', () => {
  for (const mode of ['flip', 'duplicate'] as const) {
    const what = mode === 'flip' ? 'a flipped bit' : 'a replayed frame';
    const counted = mode === 'flip' ? 'auth_failed' : 'replayed';
    test(`${what} closes the stream, counted as ${counted}`, async () => {
      const key = generateKey();
      const h = await serve({ keyring: Keyring.fromConfig(key) });
      // Client → proxy → server. The client's frames are hello, finish, then data: tamper with the first data frame.
      let clientFrames = 0;
      const proxy = createServer((inbound) => {
        const outbound = connect(h.port, '127.0.0.1');
        inbound.on('error', () => {});
        outbound.on('error', () => {});
        outbound.on('data', (d) => inbound.write(d));
        outbound.on('close', () => inbound.destroy());
        inbound.on('close', () => outbound.destroy());
        let first = true;
        const reader = new FrameReader(1 << 20);
        inbound.on('data', (d: Buffer) => {
          if (first) {
            outbound.write(d.subarray(0, 1));
            d = d.subarray(1);
            first = false;
          }
          reader.push(d);
          for (let f = reader.shift(); f && Buffer.isBuffer(f); f = reader.shift()) {
            clientFrames++;
            const bytes = frame(f);
            if (clientFrames === 3 && mode === 'flip') bytes[bytes.length - 20] ^= 0x40;
            outbound.write(bytes);
            if (clientFrames === 3 && mode === 'duplicate') outbound.write(bytes);
          }
        });
      });
      await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
      const proxyPort = (proxy.address() as AddressInfo).port;
      const client = await dial(proxyPort, { keyring: Keyring.fromConfig(key) });
      const server = await h.nextConnection();
      await client.send({ type: PING, body: 'hello there' });
      const received: Envelope[] = [];
      const err = await new Promise<WireError | undefined>((resolve) => {
        server.closed.then(resolve);
        server.receive().then((e) => received.push(e), () => {});
      });
      const reason = mode === 'flip' ? 'auth_failed' : 'replayed';
      assert.equal(err?.reason, reason);
      assert.equal(h.drops.get(reason), 1);
      assert.equal(received.length, mode === 'flip' ? 0 : 1, 'the genuine frame is delivered once, never twice');
      client.destroy();
      await new Promise((resolve) => proxy.close(resolve));
    });
  }
});

describe('FrameSealer / FrameOpener', () => {
  test('counters must be consecutive: replays and reordering are refused, forgeries are auth failures', () => {
    const key = randomBytes(32);
    const sealer = new FrameSealer(key);
    const frames = [0, 1, 2].map((i) => sealer.sealFrame(Buffer.from(`frame ${i}`)).subarray(4));
    const opener = new FrameOpener(key);
    assert.deepEqual(opener.open(frames[0] as Buffer), Buffer.from('frame 0'));
    assert.deepEqual(opener.open(frames[0] as Buffer), { error: 'replayed' });
    assert.deepEqual(opener.open(frames[2] as Buffer), { error: 'replayed' }, 'skipping ahead is refused');
    assert.deepEqual(opener.open(frames[1] as Buffer), Buffer.from('frame 1'));
    const forged = Buffer.from(frames[2] as Buffer);
    forged[9] = (forged[9] as number) ^ 1;
    assert.deepEqual(opener.open(forged), { error: 'auth_failed' });
    assert.deepEqual(new FrameOpener(randomBytes(32)).open(frames[0] as Buffer), { error: 'auth_failed' }, 'wrong key');
  });
});

describe('StreamServer', () => {
  test('routes each stream kind to its own registry and handler', async () => {
    const controlRegistry = new MessageRegistry().register(CONFIG, 'config');
    const got: Array<[number, unknown]> = [];
    const server = new StreamServer({
      routes: {
        [StreamKind.Gossip]: {
          options: { registry: testRegistry() },
          onConnection: (c) => void c.receive().then((e) => got.push([c.kind, e.body])),
        },
        [StreamKind.Control]: {
          options: { registry: controlRegistry },
          onConnection: (c) => void c.receive().then((e) => got.push([c.kind, e.body])),
        },
      },
    });
    servers.push(server);
    const { port } = await server.listen(0, '127.0.0.1');
    const g = await dial(port);
    const c = await dial(port, { kind: StreamKind.Control, registry: controlRegistry });
    await g.send({ type: PING, body: 'gossip' });
    await c.send({ type: CONFIG, body: 'control' });
    await until(() => got.length === 2);
    assert.deepEqual(got.sort(), [
      [StreamKind.Control, 'control'],
      [StreamKind.Gossip, 'gossip'],
    ].sort());
    await Promise.all([g.close(), c.close()]);
  });

  test('connecting to a closed port rejects with E_WIRE_CLOSED', async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));
    const err = await handshakeError(dial(port));
    assert.equal(err.code, ErrorCode.WireClosed);
  });
});
