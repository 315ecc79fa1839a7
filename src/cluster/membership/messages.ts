/**
 * The membership protocol's messages (after memberlist's net.go), their wire types (16–63, the membership range
 * of the wire's registry) and their MessagePack bodies. Bodies are positional arrays: short on the wire, and a
 * later protocol version may append fields that this version ignores (rolling upgrades).
 */

/** Message type numbers, in the membership range of the wire registry. Never reuse a number. */
export const MsgType = {
  Ping: 16,
  PingReq: 17,
  Ack: 18,
  Nack: 19,
  Alive: 20,
  Suspect: 21,
  Dead: 22,
  PushPullRequest: 23,
  PushPullResponse: 24,
  StreamPing: 25,
} as const;

export type MsgTypeNumber = (typeof MsgType)[keyof typeof MsgType];

/** Versions of this protocol this build speaks (carried in every envelope and in every alive message). */
export const PROTOCOL_MIN = 1;
export const PROTOCOL_MAX = 1;

/** Bounds that a decoder enforces whatever the configuration says. */
export const LIMITS = {
  name: 128,
  address: 300,
  /** A member's metadata as any sender may send it; the local metaMaxBytes setting is usually lower. */
  meta: 4096,
  /** Members in one push-pull state. */
  members: 100_000,
} as const;

/** Direct probe. `target` names whom the sender means, so a ping reaching the wrong process is not acked. */
export interface PingMsg {
  readonly type: typeof MsgType.Ping;
  readonly seq: number;
  readonly target: string;
  readonly source: string;
}

/** Ask a member to probe `target` on our behalf; ack (and nack after its own timeout, if asked) to the sender. */
export interface PingReqMsg {
  readonly type: typeof MsgType.PingReq;
  readonly seq: number;
  readonly target: string;
  readonly targetAddr: string;
  readonly wantNack: boolean;
  readonly source: string;
}

export interface AckMsg {
  readonly type: typeof MsgType.Ack;
  readonly seq: number;
}

/** Sent by an indirect prober that got no ack from the target in time: evidence that the network is fine. */
export interface NackMsg {
  readonly type: typeof MsgType.Nack;
  readonly seq: number;
}

export interface AliveMsg {
  readonly type: typeof MsgType.Alive;
  readonly name: string;
  readonly incarnation: number;
  readonly addr: string;
  readonly meta: Uint8Array;
  readonly vmin: number;
  readonly vmax: number;
}

export interface SuspectMsg {
  readonly type: typeof MsgType.Suspect;
  readonly name: string;
  readonly incarnation: number;
  readonly from: string;
}

/** `from === name` means the member left on its own. */
export interface DeadMsg {
  readonly type: typeof MsgType.Dead;
  readonly name: string;
  readonly incarnation: number;
  readonly from: string;
}

export type WireStatus = 0 | 1 | 2 | 3;
/** Status codes in push-pull states. */
export const WireStatus = { Alive: 0, Suspect: 1, Dead: 2, Left: 3 } as const;

export interface PushPullMember {
  readonly name: string;
  readonly addr: string;
  readonly meta: Uint8Array;
  readonly incarnation: number;
  readonly status: WireStatus;
  readonly vmin: number;
  readonly vmax: number;
}

export interface PushPullRequestMsg {
  readonly type: typeof MsgType.PushPullRequest;
  readonly join: boolean;
  readonly members: readonly PushPullMember[];
  /** The requester's name (its own record is among `members`); '' when unknown. */
  readonly source: string;
}

export interface PushPullResponseMsg {
  readonly type: typeof MsgType.PushPullResponse;
  readonly members: readonly PushPullMember[];
}

/** The TCP fallback ping: answered with an Ack on the same stream. */
export interface StreamPingMsg {
  readonly type: typeof MsgType.StreamPing;
  readonly seq: number;
  readonly target: string;
  readonly source: string;
}

export type BroadcastMsg = AliveMsg | SuspectMsg | DeadMsg;
export type PacketMsg = PingMsg | PingReqMsg | AckMsg | NackMsg | BroadcastMsg;
export type StreamMsg = PushPullRequestMsg | PushPullResponseMsg | StreamPingMsg | AckMsg;
export type ProtocolMsg = PacketMsg | StreamMsg;

/** The MessagePack body of a message (its type goes in the envelope header). */
export function toBody(msg: ProtocolMsg): unknown[] {
  switch (msg.type) {
    case MsgType.Ping:
      return [msg.seq, msg.target, msg.source];
    case MsgType.PingReq:
      return [msg.seq, msg.target, msg.targetAddr, msg.wantNack, msg.source];
    case MsgType.Ack:
    case MsgType.Nack:
      return [msg.seq];
    case MsgType.Alive:
      return [msg.name, msg.incarnation, msg.addr, msg.meta, msg.vmin, msg.vmax];
    case MsgType.Suspect:
    case MsgType.Dead:
      return [msg.name, msg.incarnation, msg.from];
    case MsgType.PushPullRequest:
      return [msg.join, msg.members.map(memberToBody), msg.source];
    case MsgType.PushPullResponse:
      return [msg.members.map(memberToBody)];
    case MsgType.StreamPing:
      return [msg.seq, msg.target, msg.source];
  }
}

function memberToBody(m: PushPullMember): unknown[] {
  return [m.name, m.addr, m.meta, m.incarnation, m.status, m.vmin, m.vmax];
}

/**
 * A message from a decoded envelope body, or undefined when the body does not have the shape this version
 * requires (the caller counts it as malformed). Never throws. Extra trailing fields are ignored.
 */
export function fromBody(type: number, body: unknown): ProtocolMsg | undefined {
  if (!Array.isArray(body)) return undefined;
  const b = body as unknown[];
  switch (type) {
    case MsgType.Ping:
    case MsgType.StreamPing: {
      if (!isSeq(b[0]) || !isName(b[1], true) || !isName(b[2])) return undefined;
      return { type, seq: b[0], target: b[1], source: b[2] };
    }
    case MsgType.PingReq: {
      if (!isSeq(b[0]) || !isName(b[1]) || !isAddr(b[2]) || typeof b[3] !== 'boolean' || !isName(b[4])) {
        return undefined;
      }
      return { type, seq: b[0], target: b[1], targetAddr: b[2], wantNack: b[3], source: b[4] };
    }
    case MsgType.Ack:
    case MsgType.Nack:
      if (!isSeq(b[0])) return undefined;
      return { type, seq: b[0] };
    case MsgType.Alive: {
      const [name, incarnation, addr, meta, vmin, vmax] = b;
      if (!isName(name) || !isIncarnation(incarnation) || !isAddr(addr) || !isMeta(meta)) return undefined;
      if (!isVersion(vmin) || !isVersion(vmax) || vmin > vmax) return undefined;
      return { type, name, incarnation, addr, meta: copy(meta), vmin, vmax };
    }
    case MsgType.Suspect:
    case MsgType.Dead: {
      if (!isName(b[0]) || !isIncarnation(b[1]) || !isName(b[2])) return undefined;
      return { type, name: b[0], incarnation: b[1], from: b[2] };
    }
    case MsgType.PushPullRequest: {
      if (typeof b[0] !== 'boolean') return undefined;
      const members = membersFromBody(b[1]);
      const source = b[2] === undefined ? '' : b[2];
      if (!isName(source, true)) return undefined;
      return members && { type, join: b[0], members, source };
    }
    case MsgType.PushPullResponse: {
      const members = membersFromBody(b[0]);
      return members && { type, members };
    }
    default:
      return undefined;
  }
}

function membersFromBody(value: unknown): PushPullMember[] | undefined {
  if (!Array.isArray(value) || value.length > LIMITS.members) return undefined;
  const out: PushPullMember[] = [];
  for (const item of value as unknown[]) {
    if (!Array.isArray(item)) return undefined;
    const [name, addr, meta, incarnation, status, vmin, vmax] = item as unknown[];
    if (!isName(name) || !isAddr(addr) || !isMeta(meta) || !isIncarnation(incarnation)) return undefined;
    if (status !== 0 && status !== 1 && status !== 2 && status !== 3) return undefined;
    if (!isVersion(vmin) || !isVersion(vmax) || vmin > vmax) return undefined;
    out.push({ name, addr, meta: copy(meta), incarnation, status, vmin, vmax });
  }
  return out;
}

/** A wire-registry validator for one membership type: the body decodes into a message. */
export function validatorFor(type: number): (body: unknown) => boolean {
  return (body) => fromBody(type, body) !== undefined;
}

export const MSG_NAMES: Readonly<Record<MsgTypeNumber, string>> = {
  [MsgType.Ping]: 'ping',
  [MsgType.PingReq]: 'ping-req',
  [MsgType.Ack]: 'ack',
  [MsgType.Nack]: 'nack',
  [MsgType.Alive]: 'alive',
  [MsgType.Suspect]: 'suspect',
  [MsgType.Dead]: 'dead',
  [MsgType.PushPullRequest]: 'push-pull-request',
  [MsgType.PushPullResponse]: 'push-pull-response',
  [MsgType.StreamPing]: 'stream-ping',
};

/** A decoded `bin` is a view into the received packet: copy it, so a member's metadata does not pin the packet. */
function copy(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}

function isSeq(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff;
}
function isIncarnation(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= Number.MAX_SAFE_INTEGER;
}
function isVersion(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 255;
}
function isName(v: unknown, allowEmpty = false): v is string {
  return typeof v === 'string' && (allowEmpty || v.length > 0) && v.length <= LIMITS.name;
}
function isAddr(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= LIMITS.address;
}
function isMeta(v: unknown): v is Uint8Array {
  return v instanceof Uint8Array && v.length <= LIMITS.meta;
}
