import { randomBytes } from 'node:crypto';
import { keyIdOf, MessageRegistry } from '../../../src/cluster/wire/index.js';

/** Types used across the wire tests: two membership-like types and one with a strict body check. */
export const PING = 16;
export const ACK = 17;
export const STRICT = 18;
export const CONFIG = 64;

export function testRegistry(): MessageRegistry {
  return new MessageRegistry()
    .register(PING, 'ping')
    .register(ACK, 'ack')
    .register(STRICT, 'strict', (body) => typeof body === 'object' && body !== null && 'seq' in body)
    .register(CONFIG, 'config');
}

/** A typical gossip body: a ping plus a few membership updates, about 200 bytes encoded. */
export function gossipBody(seq = 1): unknown {
  return {
    seq,
    node: 'krakend_3f20a44d-3d93-4bc9-829b-b76b22055142',
    updates: [
      { kind: 'alive', id: 'krakend_0b6c2f1e', inc: 12, addr: '10.0.0.12:7000' },
      { kind: 'suspect', id: 'krakend_7a1d9e33', inc: 4, from: 'krakend_3f20a44d' },
      { kind: 'alive', id: 'manager_1', inc: 1, addr: '10.0.0.1:7000' },
    ],
  };
}

/** Two different keys with the same id (ids are one byte: a collision turns up within a few dozen draws). */
export function collidingKeys(): [Buffer, Buffer] {
  const seen = new Map<number, Buffer>();
  for (;;) {
    const k = randomBytes(32);
    const id = keyIdOf(k);
    const other = seen.get(id);
    if (other) return [other, k];
    seen.set(id, k);
  }
}
