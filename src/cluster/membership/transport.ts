/**
 * What membership needs from a network (memberlist's transport.go): authenticated datagrams that may be lost,
 * and request/response streams that are reliable while they last. Two implementations share one contract test
 * suite: the in-memory network for simulations (memory-transport.ts) and UDP + TCP sockets (net-transport.ts).
 *
 * A transport owns the wire's packet layer (sealing, compound packing, replay and authentication checks), so that
 * a keyring behaves the same in a simulation as on sockets. It hands over envelopes whose type is registered and
 * whose version range overlaps ours; what they say is the driver's business.
 */
import type { DropCounters, Envelope, Message } from '../wire/index.js';

/**
 * Callbacks rather than promises: an in-memory network then delivers a stream's response inside the fake-clock
 * timer that carries it, so a simulation stays synchronous and replays exactly.
 */
export interface TransportHandlers {
  /** The messages of one received packet, in order (already authenticated and envelope-decoded). */
  onPacket(from: string, messages: readonly Envelope[]): void;
  /** A request on a stream: call `respond` once, with the response or undefined (close without one). */
  onRequest(from: string, request: Envelope, respond: (response: Message | undefined) => void): void;
}

/** The outcome of a request: the response, or the error the exchange failed with. */
export type RequestResult = { ok: true; response: Envelope } | { ok: false; error: Error };

export interface TransportStats {
  packetsSent: number;
  packetBytesSent: number;
  packetsReceived: number;
  packetBytesReceived: number;
  /** Packets not sent because they were larger than the MTU or the socket refused them. */
  packetSendFailures: number;
  streamsOpened: number;
  streamsAccepted: number;
  streamFailures: number;
  /** Bytes of stream messages sent and received (requests and responses; the in-memory network counts sealed
   *  bytes, the TCP transport envelope bytes, without framing and sealing). */
  streamBytesSent: number;
  streamBytesReceived: number;
}

export interface Transport {
  /** Where others reach us (`host:port`, or the memory-network name). Valid once start() resolved. */
  readonly address: string;
  /** Bytes a packet adds around its messages (packet header, seal, compound header). */
  readonly packetOverheadBytes: number;
  /** Bytes each message adds inside a compound packet. */
  readonly partOverheadBytes: number;
  /** Largest packet sent, overhead included. */
  readonly mtu: number;
  /** Received packets and stream messages dropped, by reason. */
  readonly drops: DropCounters;
  /** Encodes a message the way this transport's peers expect it (the envelope). */
  encode(message: Message): Uint8Array;
  start(handlers: TransportHandlers): Promise<void>;
  /**
   * Best effort: `parts` are encoded envelopes (from encode()), packed into one packet. Never throws; a packet
   * that cannot be sent is counted in stats().packetSendFailures.
   */
  sendPacket(to: string, parts: readonly Uint8Array[]): void;
  /**
   * Opens a stream, sends one request and calls `done` once with the one response, or with the error (refused,
   * closed without a response, timeout). Never throws.
   */
  request(to: string, message: Message, timeoutMs: number, done: (result: RequestResult) => void): void;
  stats(): TransportStats;
  /** Stops receiving and closes sockets; pending requests complete with an error. Idempotent. */
  close(): Promise<void>;
}

export function emptyTransportStats(): TransportStats {
  return {
    packetsSent: 0,
    packetBytesSent: 0,
    packetsReceived: 0,
    packetBytesReceived: 0,
    packetSendFailures: 0,
    streamsOpened: 0,
    streamsAccepted: 0,
    streamFailures: 0,
    streamBytesSent: 0,
    streamBytesReceived: 0,
  };
}
