/**
 * The fallback network of the fault-injection suite: every host is 127.0.0.1 and processes are plain children.
 * Nothing stands between two processes on loopback, so the cluster's traffic is routed through fault proxies in
 * the suite's own process (lib/fault-proxy.ts), set up by `routeCluster` before any member starts:
 *
 *   manager   binds its cluster port M on 127.0.0.2 and advertises 127.0.0.1:M, where a front relays UDP and
 *             TCP (gossip, and the seed of anything else that dials the manager) on to 127.0.0.2:M
 *   node i    binds its gossip on 127.0.0.1:R_i (its real cluster port), advertises a front 127.0.0.1:P_i that
 *             relays UDP and TCP on to R_i, and dials the manager through its own control relay 127.0.0.1:C_i
 *
 * Members address each other only by advertised address (and reply to the UDP source they saw, a relay's own
 * upstream socket), so every datagram and connection between two members crosses exactly one relay, which
 * knows both ends: the member behind it, and the sender by its source port (UDP), by the relay (control) or by
 * the owner of the client's socket in /proc (gossip streams). A fault on a node drops its datagrams (all of them,
 * or a random share each way), freezes its open connections and holds new ones (partition only: loss leaves TCP
 * alone). The manager binds a second loopback address because its advertised address can name no other port.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess, SpawnOptions } from 'node:child_process';
import { createSocket } from 'node:dgram';
import type { ClusterPorts, ClusterRouting, FaultNetwork, Host } from './network.js';
import { FaultTable, MANAGER, TcpRelay, UdpRelay, UNKNOWN, procPeerLookup } from './lib/fault-proxy.js';
import type { Endpoint, Fault } from './lib/fault-proxy.js';
import { freePort } from './lib/ports.js';

const LOOPBACK = '127.0.0.1';
/** Where the manager's real cluster port binds, so that its front can take 127.0.0.1 on the same port number. */
const MANAGER_REAL_HOST = '127.0.0.2';

/** The reason line of a loopback run: why no namespaces, and how faults are injected instead. */
export function loopbackReason(why: string): string {
  return `no network namespaces (${why}): partition and loss through a fault proxy on the cluster ports`;
}

interface Relay {
  close(): Promise<void>;
}

/** Whether a socket can bind `host` (127.0.0.2 is loopback on Linux, not necessarily elsewhere). */
function canBind(host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createSocket('udp4');
    socket.once('error', () => resolve(false));
    socket.bind(0, host, () => socket.close(() => resolve(true)));
  });
}

function checkPorts(ports: readonly number[]): void {
  if (ports.length === 0) throw new Error('a fault needs at least one cluster port');
  for (const port of ports) {
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`invalid cluster port ${port}`);
  }
}

export function createLoopbackNetwork(nodes: number, why: string): FaultNetwork {
  // The processes each host started, by pid: the owners a gossip stream's client socket is looked up among.
  const owners = new Map<number, Endpoint>();
  let table: FaultTable | undefined;
  let relays: Relay[] = [];
  let reason = loopbackReason(why);
  let proxied = true;

  const host = (name: string, endpoint: Endpoint): Host => ({
    name,
    ip: LOOPBACK,
    spawn: (command: string, args: readonly string[], options: SpawnOptions = {}): ChildProcess => {
      const child = spawn(command, args, options);
      const pid = child.pid;
      if (pid !== undefined) {
        owners.set(pid, endpoint);
        child.once('exit', () => owners.delete(pid));
      }
      return child;
    },
  });

  const faults = (): FaultTable => {
    if (!table) throw new Error('the cluster is not routed through the fault proxy yet (Cluster.create calls routeCluster)');
    return table;
  };

  async function routeCluster(ports: ClusterPorts): Promise<ClusterRouting | undefined> {
    if (table) throw new Error('the loopback network routes one cluster only');
    if (ports.nodes.length !== nodes) throw new Error(`routeCluster: ${ports.nodes.length} node ports for ${nodes} nodes`);
    if (!(await canBind(MANAGER_REAL_HOST))) {
      // Not Linux, say: run the rest of the suite on the real addresses, and skip (and name) the network faults.
      proxied = false;
      reason = `no network namespaces (${why}) and no second loopback address ${MANAGER_REAL_HOST} for the fault proxy: partition and loss are skipped`;
      return undefined;
    }
    const faultTable = new FaultTable(ports);
    table = faultTable;
    const bySource = new Map<string, Endpoint>([[`${MANAGER_REAL_HOST}:${ports.manager}`, MANAGER]]);
    ports.nodes.forEach((port, index) => bySource.set(`${LOOPBACK}:${port}`, { kind: 'node', index }));
    const peerOf = (address: string, port: number): Endpoint => bySource.get(`${address}:${port}`) ?? UNKNOWN;
    const streamPeer = procPeerLookup(() => owners);
    const managerReal = { host: MANAGER_REAL_HOST, port: ports.manager };

    const started: Relay[] = [];
    const start = async (relay: UdpRelay | TcpRelay): Promise<void> => {
      await relay.start();
      started.push(relay);
    };
    try {
      const managerFront = { host: LOOPBACK, port: ports.manager };
      await start(new UdpRelay({ listen: managerFront, target: managerReal, self: MANAGER, table: faultTable, peerOf }));
      await start(new TcpRelay({ listen: managerFront, target: managerReal, self: MANAGER, channel: 'gossip', table: faultTable, peerOf: streamPeer }));
      const routes: { seed: string; advertise: string }[] = [];
      for (const [index, realPort] of ports.nodes.entries()) {
        const self: Endpoint = { kind: 'node', index };
        const real = { host: LOOPBACK, port: realPort };
        const front = { host: LOOPBACK, port: await freePort() };
        await start(new UdpRelay({ listen: front, target: real, self, table: faultTable, peerOf }));
        await start(new TcpRelay({ listen: front, target: real, self, channel: 'gossip', table: faultTable, peerOf: streamPeer }));
        // The control channel gets a relay of its own per node: who dialled it is then known without /proc.
        const control = { host: LOOPBACK, port: await freePort() };
        await start(new TcpRelay({ listen: control, target: managerReal, self: MANAGER, channel: 'control', table: faultTable, peerOf: () => self }));
        routes.push({ seed: `${control.host}:${control.port}`, advertise: `${front.host}:${front.port}` });
      }
      relays = started;
      return { managerBind: MANAGER_REAL_HOST, nodes: routes };
    } catch (err) {
      await Promise.all(started.map((r) => r.close()));
      table = undefined;
      throw err;
    }
  }

  const setFault = async (i: number, fault: Fault | undefined): Promise<void> => faults().set(i, fault);

  return {
    kind: 'loopback',
    get reason() {
      return reason;
    },
    get supports() {
      return { partition: proxied, loss: proxied };
    },
    hub: host('hub', MANAGER),
    nodes: Array.from({ length: nodes }, (_, index) => host(`node${index + 1}`, { kind: 'node', index })),
    routeCluster,
    partition: async (i, clusterPorts) => {
      checkPorts(clusterPorts);
      await setFault(i, { kind: 'partition', percent: 100, ports: new Set(clusterPorts) });
    },
    loss: async (i, percent, clusterPorts) => {
      checkPorts(clusterPorts);
      if (!(percent >= 0 && percent <= 100)) throw new Error(`loss percent must be within 0..100, got ${percent}`);
      await setFault(i, { kind: 'loss', percent, ports: new Set(clusterPorts) });
    },
    // Before routeCluster there is no fault to remove.
    heal: async (i) => {
      await table?.set(i, undefined);
    },
    dropped: async (i) => table?.dropped(i) ?? 0,
    destroy: async () => {
      const closing = relays;
      relays = [];
      await Promise.all(closing.map((r) => r.close()));
    },
  };
}
