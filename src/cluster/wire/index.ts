/**
 * The wire of krakend-cluster (ARCHITECTURE.md, Wire): envelope, codec, framing and crypto shared by gossip
 * (membership) and the control channel. One handshake, one frame format. See README.md beside this file for the
 * byte layouts and the operator's view (keys, rotation, drop counters).
 *
 * - UDP: `PacketCodec` — encodePacket / encodeCompound / decodePacket (never throws; drops counted).
 * - TCP: `FramedConnection.connect` / `FramedConnection.accept` / `StreamServer` — kind byte, handshake,
 *   length-prefixed frames, sealed with per-session keys, chunked messages.
 * - Keys: `Keyring` (install / use / remove), `generateKey`, `parseKey`, `keyIdOf`.
 * - Versions: `negotiate(local, remote)`.
 * - Drops: `DropCounters`, `DROP_REASONS`.
 */
export { DROP_REASONS, DropCounters, isDropReason } from './drops.js';
export type { DropReason } from './drops.js';
export {
  DEFAULT_MAX_DEPTH,
  DEFAULT_VERSIONS,
  ENVELOPE_HEADER_BYTES,
  EnvelopeCodec,
  isVersionRange,
  MESSAGE_TYPE_RANGES,
  MessageRegistry,
  MessageType,
  negotiate,
  WIRE_MAGIC_0,
  WIRE_MAGIC_1,
} from './envelope.js';
export type {
  BodyValidator,
  Envelope,
  EnvelopeCodecOptions,
  EnvelopeResult,
  Message,
  MessageSpec,
  VersionRange,
} from './envelope.js';
export { generateKey, KEY_BYTES, keyIdOf, Keyring, parseKey } from './keyring.js';
export type { KeyEntry } from './keyring.js';
export {
  COMPOUND_HEADER_BYTES,
  COMPOUND_PART_OVERHEAD,
  DEFAULT_MAX_PACKET_BYTES,
  DEFAULT_MTU,
  MAX_COMPOUND_PARTS,
  NONCE_BYTES,
  PACKET_HEADER_BYTES,
  PacketCodec,
  PLAINTEXT_WARNING,
  SEALED_HEADER_BYTES,
  TAG_BYTES,
} from './packet.js';
export type { CompoundResult, DecodeResult, EncodeResult, PacketCodecOptions } from './packet.js';
export {
  DEFAULT_MAX_CLOCK_SKEW_MS,
  DEFAULT_NONCE_CACHE_SIZE,
  DEFAULT_REPLAY_WINDOW_MS,
  ReplayGuard,
} from './replay.js';
export type { ReplayGuardOptions } from './replay.js';
export {
  CHUNK_HEADER_BYTES,
  ChunkFlag,
  DEFAULT_MAX_FRAME_BYTES,
  DEFAULT_MAX_MESSAGE_BYTES,
  frame,
  FRAME_LENGTH_BYTES,
  FrameReader,
  isStreamKind,
  MIN_MAX_FRAME_BYTES,
  Reassembler,
  splitMessage,
  StreamKind,
} from './frame.js';
export type { ReassemblyResult } from './frame.js';
export {
  CLOSE_GRACE_MS,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_HANDSHAKE_TIMEOUT_MS,
  DEFAULT_INBOX_HIGH_WATER,
  dialStream,
  FramedConnection,
  StreamServer,
  WireError,
} from './connection.js';
export type {
  AcceptOptions,
  DialOptions,
  RefusalReason,
  StreamOptions,
  StreamRoute,
  StreamServerOptions,
} from './connection.js';
