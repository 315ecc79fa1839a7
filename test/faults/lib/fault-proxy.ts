/**
 * The fault proxies of the loopback network (network-loopback.ts). With every process on 127.0.0.1 there is no
 * link to cut and no namespace to hold a firewall rule, so cluster traffic is routed through relays in the
 * suite's own process, and the relays consult a fault table for every datagram and every connection:
 *
 * - `UdpRelay` stands in front of one member's gossip port: a datagram to the front goes on to the real port
 *   from an upstream socket of its own per remote source, so the member's replies (sent to the UDP source it saw)
 *   come back through that socket and the relay can drop them too. Each datagram crosses exactly one relay, and
 *   is judged once there.
 * - `TcpRelay` stands in front of a TCP port (the manager's control channel, a member's gossip streams). TCP
 *   cannot lose a segment without breaking the stream, so a partition freezes what is open (nothing read or
 *   forwarded either way, as if every segment were dropped; the peers' heartbeats notice) and holds new
 *   connections unforwarded; the heal lets both carry on. Loss leaves TCP alone (the kernel's retransmission would
 *   only delay it).
 *
 * Which member sent a datagram is known from its source address (every member gossips from its bound port).
 * A connection comes from an ephemeral port, so its owner is looked up in /proc (Linux): the socket's inode in
 * /proc/net/tcp, then the process whose fd table holds it (`procPeerLookup`). That costs a read of a table of
 * every TCP socket on the machine, so it is done only while a fault is in force (for connections accepted then,
 * and for those open when it is set).
 */
import { createSocket } from 'node:dgram';
import type { RemoteInfo, Socket as UdpSocket } from 'node:dgram';
import { readdir, readFile, readlink } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import type { Server, Socket } from 'node:net';

export interface Address {
  readonly host: string;
  readonly port: number;
}

/** A party to cluster traffic: the manager, node `index` (0-based, as in `FaultNetwork.nodes`), or unknown. */
export type Endpoint = { readonly kind: 'manager' } | { readonly kind: 'node'; readonly index: number } | { readonly kind: 'unknown' };

export const MANAGER: Endpoint = { kind: 'manager' };
export const UNKNOWN: Endpoint = { kind: 'unknown' };

/** Gossip (UDP and gossip streams) or the control channel (a node's TCP connection to the manager). */
export type Channel = 'gossip' | 'control';

export interface Fault {
  readonly kind: 'partition' | 'loss';
  /** Share of datagrams dropped each way (loss); 100 for a partition. */
  readonly percent: number;
  /** The cluster ports the fault covers (see FaultTable for what a port stands for). */
  readonly ports: ReadonlySet<number>;
}

/** Most connections a TCP relay holds unforwarded during a partition; beyond, new ones are closed at once. */
const MAX_HELD = 64;
/** Upstream sockets per UDP relay (one per remote source); the least recently used goes first beyond it. */
const MAX_UPSTREAMS = 256;
/** An upstream socket silent this long is closed (a restarted peer gossips from the same port anyway). */
const UPSTREAM_IDLE_MS = 120_000;
const SWEEP_MS = 30_000;
/** Kernel receive buffer of a front socket: a hostile flood of 60 KB datagrams must reach the member, not overflow here. */
const FRONT_RECV_BUFFER = 4 * 1024 * 1024;
/** Bound on the fds read per process when looking up a socket's owner. */
const MAX_FDS = 4096;

const ignore = (): void => {};

/**
 * The faults in force, by node, and what they dropped. A fault on node `i` whose ports hold:
 * - node i's own cluster port covers all of node i's gossip (in namespaces every node gossips on the same port,
 *   so naming its own port there cuts its gossip with everyone);
 * - the manager's cluster port covers everything between node i and the manager (control channel and gossip);
 * - node j's cluster port covers everything between node i and node j.
 */
export class FaultTable {
  private readonly faults = new Map<number, Fault>();
  private readonly drops: number[];
  private readonly listeners = new Set<() => Promise<void>>();

  constructor(
    private readonly ports: { readonly manager: number; readonly nodes: readonly number[] },
    private readonly random: () => number = Math.random,
  ) {
    this.drops = ports.nodes.map(() => 0);
  }

  /**
   * Sets (or, with undefined, removes) node `i`'s fault; datagrams are judged by it at once, and the promise
   * resolves once every relay re-judged its open connections.
   */
  async set(i: number, fault: Fault | undefined): Promise<void> {
    this.checkIndex(i);
    if (fault) this.faults.set(i, fault);
    else this.faults.delete(i);
    await Promise.all([...this.listeners].map((listener) => listener()));
  }

  /** Whether any fault is in force (a connection's owner need only be known then). */
  get active(): boolean {
    return this.faults.size > 0;
  }

  onChange(listener: () => Promise<void>): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Datagrams dropped and connections frozen or held for node `i`'s faults, so far. */
  dropped(i: number): number {
    this.checkIndex(i);
    return this.drops[i]!;
  }

  count(i: number): void {
    this.drops[i]!++;
  }

  /** Whether to drop one datagram between `a` and `b` (a draw per lossy end); a drop is counted. */
  dropDatagram(a: Endpoint, b: Endpoint): boolean {
    for (const [end, other] of [
      [a, b],
      [b, a],
    ] as const) {
      const fault = this.covering(end, other, 'gossip');
      if (!fault || end.kind !== 'node') continue;
      if (fault.kind === 'partition' || this.random() * 100 < fault.percent) {
        this.drops[end.index]!++;
        return true;
      }
    }
    return false;
  }

  /** The node whose partition cuts a connection between `a` and `b` on `channel`, if any. */
  cutBy(a: Endpoint, b: Endpoint, channel: Channel): number | undefined {
    for (const [end, other] of [
      [a, b],
      [b, a],
    ] as const) {
      if (end.kind === 'node' && this.covering(end, other, channel)?.kind === 'partition') return end.index;
    }
    return undefined;
  }

  private covering(end: Endpoint, other: Endpoint, channel: Channel): Fault | undefined {
    if (end.kind !== 'node') return undefined;
    const fault = this.faults.get(end.index);
    if (!fault) return undefined;
    if (channel === 'gossip' && fault.ports.has(this.ports.nodes[end.index]!)) return fault;
    const port = other.kind === 'manager' ? this.ports.manager : other.kind === 'node' ? this.ports.nodes[other.index] : undefined;
    return port !== undefined && fault.ports.has(port) ? fault : undefined;
  }

  private checkIndex(i: number): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.drops.length) {
      throw new Error(`no node ${i}: the fault table has nodes 0..${this.drops.length - 1}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// UDP

interface Upstream {
  readonly socket: UdpSocket;
  readonly source: RemoteInfo;
  readonly peer: Endpoint;
  lastUsed: number;
}

export interface UdpRelayOptions {
  /** Where the relay listens (the address the member advertises). */
  readonly listen: Address;
  /** The member's real gossip port. */
  readonly target: Address;
  /** The member behind the relay. */
  readonly self: Endpoint;
  readonly table: FaultTable;
  /** The member a datagram came from, by its source address. */
  peerOf(host: string, port: number): Endpoint;
}

export class UdpRelay {
  private front: UdpSocket | undefined;
  private readonly upstreams = new Map<string, Upstream>();
  private sweeper: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly options: UdpRelayOptions) {}

  async start(): Promise<void> {
    const { listen } = this.options;
    const front = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      front.once('error', reject);
      front.bind(listen.port, listen.host, () => {
        front.off('error', reject);
        resolve();
      });
    });
    try {
      front.setRecvBufferSize(FRONT_RECV_BUFFER);
    } catch {
      // Capped by net.core.rmem_max: the default buffer still relays.
    }
    front.on('error', ignore);
    front.on('message', (msg, from) => this.inbound(msg, from));
    this.front = front;
    this.sweeper = setInterval(() => this.sweep(Date.now() - UPSTREAM_IDLE_MS), SWEEP_MS);
    this.sweeper.unref();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sweeper);
    this.sweep(Infinity);
    const front = this.front;
    this.front = undefined;
    if (front) await new Promise<void>((resolve) => front.close(() => resolve()));
  }

  private inbound(msg: Buffer, from: RemoteInfo): void {
    const key = `${from.address}:${from.port}`;
    const known = this.upstreams.get(key);
    const peer = known?.peer ?? this.options.peerOf(from.address, from.port);
    if (this.options.table.dropDatagram(this.options.self, peer)) return;
    const upstream = known ?? this.open(key, from, peer);
    upstream.lastUsed = Date.now();
    const { target } = this.options;
    // An unbound socket queues the send until its bind completes.
    upstream.socket.send(msg, target.port, target.host, ignore);
  }

  /** One upstream socket per remote source, so that the member's reply to it can be sent on to that source. */
  private open(key: string, source: RemoteInfo, peer: Endpoint): Upstream {
    if (this.upstreams.size >= MAX_UPSTREAMS) this.evictOldest();
    const socket = createSocket('udp4');
    socket.on('error', ignore);
    socket.bind(0, this.options.listen.host);
    const upstream: Upstream = { socket, source, peer, lastUsed: Date.now() };
    const { target, table, self } = this.options;
    socket.on('message', (msg, from) => {
      if (from.port !== target.port || from.address !== target.host) return;
      if (table.dropDatagram(self, peer)) return;
      upstream.lastUsed = Date.now();
      this.front?.send(msg, source.port, source.address, ignore);
    });
    this.upstreams.set(key, upstream);
    return upstream;
  }

  private evictOldest(): void {
    let oldest: [string, Upstream] | undefined;
    for (const entry of this.upstreams) if (!oldest || entry[1].lastUsed < oldest[1].lastUsed) oldest = entry;
    if (!oldest) return;
    this.upstreams.delete(oldest[0]);
    oldest[1].socket.close();
  }

  /** Closes upstream sockets last used before `before` (all of them with Infinity). */
  private sweep(before: number): void {
    for (const [key, upstream] of [...this.upstreams]) {
      if (upstream.lastUsed >= before) continue;
      this.upstreams.delete(key);
      try {
        upstream.socket.close();
      } catch {
        // Already closed.
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// TCP

interface Link {
  readonly client: Socket;
  /** Who dialled; undefined until a fault makes it matter (looking it up costs a read of /proc/net/tcp). */
  peer: Endpoint | undefined;
  upstream: Socket | undefined;
  /** Partitioned: nothing read or forwarded either way until the heal. */
  frozen: boolean;
}

export interface TcpRelayOptions {
  readonly listen: Address;
  readonly target: Address;
  readonly self: Endpoint;
  readonly channel: Channel;
  readonly table: FaultTable;
  /** Who dialled the relay (a fixed node for a per-node control relay; a /proc lookup for a shared front). */
  peerOf(client: Socket): Endpoint | Promise<Endpoint>;
}

export class TcpRelay {
  private server: Server | undefined;
  private readonly links = new Set<Link>();
  private unsubscribe: (() => void) | undefined;
  private closed = false;

  constructor(private readonly options: TcpRelayOptions) {}

  async start(): Promise<void> {
    const { listen, table } = this.options;
    // Paused until the fault table says whether the connection may be forwarded; half-open so that either
    // side's FIN passes through on its own (a peer that closes after its last request still gets the answer).
    const server = createServer({ pauseOnConnect: true, allowHalfOpen: true }, (client) => void this.accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(listen.port, listen.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', ignore);
    this.server = server;
    this.unsubscribe = table.onChange(() => this.rejudge());
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe?.();
    for (const link of [...this.links]) this.drop(link);
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async accept(client: Socket): Promise<void> {
    client.on('error', ignore);
    const link: Link = { client, peer: undefined, upstream: undefined, frozen: false };
    client.once('close', () => {
      this.links.delete(link);
      // Closed cleanly, the client's FIN was passed on (upstream ended): let the upstream flush and close.
      if (!link.upstream?.writableEnded) link.upstream?.destroy();
    });
    if (this.options.table.active) await this.resolve(link);
    if (this.closed || client.destroyed) {
      client.destroy();
      return;
    }
    // Judged after the lookup: a fault set meanwhile applies to this connection too.
    const { table, self, channel } = this.options;
    const cutter = link.peer === undefined ? undefined : table.cutBy(self, link.peer, channel);
    if (cutter === undefined) {
      this.links.add(link);
      this.forward(link);
      return;
    }
    table.count(cutter);
    if ([...this.links].filter((l) => l.frozen).length >= MAX_HELD) {
      client.destroy();
      return;
    }
    link.frozen = true;
    this.links.add(link);
  }

  private async resolve(link: Link): Promise<void> {
    if (link.peer !== undefined) return;
    try {
      link.peer = await this.options.peerOf(link.client);
    } catch {
      link.peer = UNKNOWN;
    }
  }

  private forward(link: Link): void {
    const { target } = this.options;
    const upstream = createConnection({ host: target.host, port: target.port, allowHalfOpen: true });
    link.upstream = upstream;
    upstream.on('error', () => this.drop(link));
    // Closed without an error: both directions ended and were passed on; only a close the pipes did not see
    // (the client still writable) needs the client torn down.
    upstream.once('close', () => {
      if (!link.client.writableEnded) this.drop(link);
    });
    link.client.pipe(upstream);
    upstream.pipe(link.client);
  }

  /** After a fault change: freeze the links a partition now cuts, let the others (and held ones) carry on. */
  private async rejudge(): Promise<void> {
    const { table, self, channel } = this.options;
    const links = [...this.links];
    if (table.active) await Promise.all(links.map((link) => this.resolve(link)));
    for (const link of links) {
      if (!this.links.has(link)) continue;
      const cutter = table.cutBy(self, link.peer ?? UNKNOWN, channel);
      if (cutter !== undefined && !link.frozen) {
        table.count(cutter);
        this.freeze(link);
      } else if (cutter === undefined && link.frozen) {
        this.thaw(link);
      }
    }
  }

  private freeze(link: Link): void {
    link.frozen = true;
    const { client, upstream } = link;
    if (!upstream) return;
    client.unpipe(upstream);
    upstream.unpipe(client);
    client.pause();
    upstream.pause();
  }

  private thaw(link: Link): void {
    link.frozen = false;
    if (!link.upstream) {
      this.forward(link);
      return;
    }
    // pipe() resumes its source: what queued in the kernel while frozen flows on, as retransmission would.
    link.client.pipe(link.upstream);
    link.upstream.pipe(link.client);
  }

  private drop(link: Link): void {
    this.links.delete(link);
    link.client.destroy();
    link.upstream?.destroy();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Who owns a connection

/**
 * The endpoint whose process holds the client end of an accepted loopback connection, or UNKNOWN (not Linux, no
 * /proc, a process not in `owners`, or the client already gone): the socket's inode from /proc/net/tcp, then the
 * process whose fd table links to it. Asynchronous, so that a large /proc/net/tcp never stalls the relays.
 */
export function procPeerLookup(owners: () => ReadonlyMap<number, Endpoint>): (client: Socket) => Promise<Endpoint> {
  return async (client) => {
    const clientPort = client.remotePort;
    const relayPort = client.localPort;
    if (clientPort === undefined || relayPort === undefined) return UNKNOWN;
    const inode = await socketInode(clientPort, relayPort);
    if (inode === undefined) return UNKNOWN;
    const link = `socket:[${inode}]`;
    for (const [pid, endpoint] of owners()) {
      const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
      const targets = await Promise.all(fds.slice(0, MAX_FDS).map((fd) => readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')));
      if (targets.includes(link)) return endpoint;
    }
    return UNKNOWN;
  };
}

/** The inode of the IPv4 TCP socket bound to `localPort` and connected to `remotePort` (a client's end). */
async function socketInode(localPort: number, remotePort: number): Promise<string | undefined> {
  let table: string;
  try {
    table = await readFile('/proc/net/tcp', 'utf8');
  } catch {
    return undefined;
  }
  // `sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode`, addresses as HEXIP:HEXPORT.
  for (const line of table.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 10) continue;
    if (portOf(fields[1]!) === localPort && portOf(fields[2]!) === remotePort && fields[9] !== '0') return fields[9];
  }
  return undefined;
}

function portOf(hexAddress: string): number {
  return parseInt(hexAddress.slice(hexAddress.lastIndexOf(':') + 1), 16);
}
