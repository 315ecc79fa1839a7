/**
 * Membership's use of the wire: its message registry, and packing already-encoded envelopes into one packet.
 */
import {
  COMPOUND_HEADER_BYTES,
  COMPOUND_PART_OVERHEAD,
  MAX_COMPOUND_PARTS,
  MessageRegistry,
  MessageType,
} from '../wire/index.js';
import type { PacketCodec, VersionRange } from '../wire/index.js';
import { MSG_NAMES, MsgType, PROTOCOL_MAX, PROTOCOL_MIN, fromBody, toBody } from './messages.js';
import type { MsgTypeNumber, ProtocolMsg } from './messages.js';

export const MEMBERSHIP_VERSIONS: VersionRange = { min: PROTOCOL_MIN, max: PROTOCOL_MAX };

/**
 * The registry of membership message types. Bodies are not validated here: the driver parses each with
 * fromBody and counts a failure as `malformed`, so each body is parsed once.
 */
export function membershipRegistry(): MessageRegistry {
  const registry = new MessageRegistry();
  for (const type of Object.values(MsgType)) registry.register(type, MSG_NAMES[type as MsgTypeNumber]);
  return registry;
}

/** A protocol message as the wire's Message. */
export function toWireMessage(msg: ProtocolMsg, requestId = 0): { type: number; body: unknown; requestId: number } {
  return { type: msg.type, body: toBody(msg), requestId };
}

/** A received envelope as a protocol message, or undefined when its body is malformed. */
export function fromEnvelope(envelope: { type: number; body: unknown }): ProtocolMsg | undefined {
  return fromBody(envelope.type, envelope.body);
}

/**
 * One packet from encoded envelopes: a plain packet for one, a compound for several (the wire's compound layout,
 * packet.ts), sealed by the codec. Undefined when it would exceed the codec's MTU (the core sizes packets so that
 * this does not happen) or holds no part.
 */
export function packParts(codec: PacketCodec, parts: readonly Uint8Array[]): Buffer | undefined {
  if (parts.length === 0) return undefined;
  if (parts.length === 1) {
    const only = parts[0] as Uint8Array;
    return only.length <= codec.maxPayloadBytes ? codec.seal(only) : undefined;
  }
  if (parts.length > MAX_COMPOUND_PARTS) return undefined;
  let size = COMPOUND_HEADER_BYTES;
  for (const p of parts) size += COMPOUND_PART_OVERHEAD + p.length;
  if (size > codec.maxPayloadBytes) return undefined;
  const payload = Buffer.allocUnsafe(size);
  payload[0] = MessageType.Compound;
  payload[1] = parts.length;
  let off = COMPOUND_HEADER_BYTES;
  for (const p of parts) {
    payload.writeUInt16BE(p.length, off);
    payload.set(p, off + COMPOUND_PART_OVERHEAD);
    off += COMPOUND_PART_OVERHEAD + p.length;
  }
  return codec.seal(payload);
}

/** Bytes a packet adds around its parts with this codec: packet header and seal, plus the compound header. */
export function packetOverhead(codec: PacketCodec): number {
  return codec.overheadBytes + COMPOUND_HEADER_BYTES;
}
