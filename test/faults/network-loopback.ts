/**
 * The fallback network of the fault-injection suite: every host is 127.0.0.1 and processes are plain children.
 * Nothing stands between two processes on loopback, so it cannot partition or drop; `supports` says so and the
 * suite skips (and names) the scenarios that need it.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess, SpawnOptions } from 'node:child_process';
import type { FaultNetwork, Host } from './network.js';

function loopbackHost(name: string): Host {
  return {
    name,
    ip: '127.0.0.1',
    spawn: (command: string, args: readonly string[], options: SpawnOptions = {}): ChildProcess => spawn(command, args, options),
  };
}

function unsupported(what: string): Promise<never> {
  return Promise.reject(new Error(`${what} needs network namespaces; this run uses loopback`));
}

export function createLoopbackNetwork(nodes: number, reason: string): FaultNetwork {
  return {
    kind: 'loopback',
    reason,
    supports: { partition: false, loss: false },
    hub: loopbackHost('hub'),
    nodes: Array.from({ length: nodes }, (_, i) => loopbackHost(`node${i + 1}`)),
    partition: () => unsupported('a partition'),
    loss: () => unsupported('packet loss'),
    heal: async () => {},
    dropped: async () => 0,
    destroy: async () => {},
  };
}
