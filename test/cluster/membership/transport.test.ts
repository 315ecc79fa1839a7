import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { FakeClock } from '../../../src/base/fake-clock.js';
import { SeededRandom } from '../../../src/base/random.js';
import { MemoryNetwork, MemoryTransport } from '../../../src/cluster/membership/memory-transport.js';
import { NetTransport, splitHostPort } from '../../../src/cluster/membership/net-transport.js';
import type { Transport } from '../../../src/cluster/membership/transport.js';
import { transportContract } from './transport-contract.js';

transportContract('in-memory network', () => {
  const clock = new FakeClock();
  const network = new MemoryNetwork({ clock, random: new SeededRandom(1), delayMs: { min: 1, max: 3 } });
  let n = 0;
  return {
    create: (options = {}) => network.transport(`mem-${++n}:7946`, options),
    settle: async (ms = 10) => {
      clock.advance(ms);
      await Promise.resolve();
    },
    sendRaw: async (to: Transport, bytes: Buffer) => {
      (to as MemoryTransport).receivePacket('mem-raw:1', bytes);
    },
    deadAddress: async () => 'mem-nobody:1',
    cleanup: async () => {},
  };
});

transportContract('UDP + TCP on 127.0.0.1', () => {
  const open: NetTransport[] = [];
  const raw = createSocket('udp4');
  return {
    create: (options = {}) => {
      const t = new NetTransport({ host: '127.0.0.1', port: 0, ...options });
      open.push(t);
      return t;
    },
    settle: (ms = 10) => sleep(ms),
    sendRaw: (to: Transport, bytes: Buffer) =>
      new Promise<void>((resolve) => {
        const target = splitHostPort(to.address);
        raw.send(bytes, target?.port ?? 0, '127.0.0.1', () => resolve());
      }),
    deadAddress: async () => {
      // A port just freed: nothing listens there.
      const server = createServer();
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const port = (server.address() as { port: number }).port;
      await new Promise<void>((resolve) => server.close(() => resolve()));
      return `127.0.0.1:${port}`;
    },
    cleanup: async () => {
      raw.close();
      for (const t of open) await t.close();
    },
  };
});
