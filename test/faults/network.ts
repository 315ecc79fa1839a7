/**
 * The hosts a fault-injection run places its processes on, and the network faults it can inject between them.
 *
 * Two implementations share this contract:
 * - `network-netns.ts`: one network namespace per node plus a hub namespace (manager, backend, load and the
 *   suite's own driver), joined by veth pairs on a bridge inside the hub; faults are nftables rules inside a
 *   node's namespace. Needs root, iproute2 and nft.
 * - `network-loopback.ts`: every host is 127.0.0.1; faults are injected by fault proxies in the suite's process
 *   that the cluster's traffic is routed through (`routeCluster`), since no rule can sit between two processes on
 *   loopback.
 *
 * Faults only ever touch cluster traffic (gossip UDP and the control channel TCP), never the node's HTTP port,
 * so the load keeps reaching a partitioned node and the suite can check what that node admits on its own.
 */
import type { ChildProcess, SpawnOptions } from 'node:child_process';

export interface Host {
  /** e.g. `hub`, `node1`. */
  readonly name: string;
  /** The address processes on this host bind and advertise. */
  readonly ip: string;
  /** Spawns a command on this host (inside its namespace, if any). */
  spawn(command: string, args: readonly string[], options?: SpawnOptions): ChildProcess;
}

/** The real cluster ports of a cluster (each member binds its own), for `routeCluster`. */
export interface ClusterPorts {
  readonly manager: number;
  /** In `nodes` order. */
  readonly nodes: readonly number[];
}

/** Where a cluster's processes must bind, dial and advertise for its traffic to cross the network's faults. */
export interface ClusterRouting {
  /** The address the manager binds its cluster port to (its real port); it advertises `hub.ip`, same port. */
  readonly managerBind: string;
  /** Per node, in `nodes` order: its `seed` (the control channel) and its gossip `advertise`, both host:port. */
  readonly nodes: readonly { readonly seed: string; readonly advertise: string }[];
}

export interface FaultNetwork {
  readonly kind: 'netns' | 'loopback';
  /** Why namespaces are not used (loopback only), for the suite's output. */
  readonly reason?: string;
  /** Whether `partition`/`loss` work. */
  readonly supports: { partition: boolean; loss: boolean };
  /** Where the manager, the backend and the load generator run. */
  readonly hub: Host;
  readonly nodes: readonly Host[];
  /**
   * Networks that inject faults in between the processes (loopback) need the cluster routed through them: called
   * once, before any process starts, with the ports the members will bind. Absent, or resolving to undefined (the
   * network cannot stand in between after all; `supports` then says so): bind, dial and advertise the real
   * addresses (namespaces drop packets wherever they go).
   */
  routeCluster?(ports: ClusterPorts): Promise<ClusterRouting | undefined>;
  /** Drops all cluster traffic (UDP and TCP to/from the given ports) between node `i` and every other host. */
  partition(i: number, clusterPorts: readonly number[]): Promise<void>;
  /** Drops `percent`% of the packets node `i` sends and receives on the given cluster ports, at random. */
  loss(i: number, percent: number, clusterPorts: readonly number[]): Promise<void>;
  /** Removes every fault on node `i`. */
  heal(i: number): Promise<void>;
  /**
   * Counts of packets the fault rules on node `i` dropped so far (to prove a fault bit); with the fault proxy,
   * datagrams dropped plus connections frozen or held.
   */
  dropped(i: number): Promise<number>;
  /** Removes namespaces, links and rules. Idempotent; also safe after a crash of an earlier run. */
  destroy(): Promise<void>;
}
