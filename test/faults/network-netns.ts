/**
 * The fault network on Linux network namespaces (see network.ts for the contract).
 *
 * Layout, with the default prefix `kcf` and subnet 10.213.0.0/24:
 *
 *   kcf-hub   lo, br0 10.213.0.1/24, vn1..vnN (bridge ports)   manager, backend, load, the suite itself
 *   kcf-n<i>  lo, eth0 10.213.0.(10+i)/24 = peer of vn<i>       node i
 *
 * Nothing but the namespaces themselves is created in the root namespace: the bridge and the veth pairs live in
 * the hub (each pair is created there with its peer end moved straight into the node's namespace), so a crashed
 * run leaves no interface behind once its namespaces are deleted.
 *
 * Faults are one nftables table (`inet kcf_fault`) inside a node's namespace, so healing is deleting it. Both
 * base chains (input and output) send any TCP or UDP packet whose source or destination port is a cluster port
 * to one regular chain, `fault`, which drops it (partition) or drops a random share (loss) and otherwise accepts
 * it at once, so a packet whose two ports are both cluster ports (node-to-node gossip) gets one draw, not two.
 * Only the drop rule carries a counter, so the counters add up to exactly the packets dropped.
 *
 * Node index: `partition(i)`, `loss(i)`, `heal(i)` and `dropped(i)` take the index into `nodes` (0-based), the
 * same index the suite uses for `net.nodes[i]`: `nodes[0]` is host `node1` in namespace `kcf-n1`.
 *
 * CLI: `node dist/test/faults/network-netns.js --selfcheck [--nodes N] [--prefix P]` builds a network, runs
 * network-check.ts inside its hub and tears everything down (also on failure and on Ctrl-C).
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import type { ChildProcess, SpawnOptions } from 'node:child_process';
import { statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FaultNetwork, Host } from './network.js';

export const DEFAULT_PREFIX = 'kcf';
export const DEFAULT_SUBNET = '10.213.0.0/24';
/** The nftables table holding a node's fault; one per node namespace. */
export const FAULT_TABLE = 'kcf_fault';
/** Each `ip`/`nft` call is bounded: a hung one fails the run instead of stalling it. */
const EXEC_TIMEOUT_MS = 15_000;
/** Node i gets host address 10+i, so the /24 holds this many nodes. */
const MAX_NODES = 240;
/** Short and plain: the prefix names files under /run/netns and is spliced into a RegExp, so no metacharacters. */
const PREFIX_PATTERN = /^[a-z][a-z0-9]{0,15}$/;

export interface NetnsOptions {
  /** Namespace names are `<prefix>-hub` and `<prefix>-n<i>`; default `kcf`. */
  readonly prefix?: string;
  /** A /24 in CIDR form whose last octet is 0; default 10.213.0.0/24. */
  readonly subnet?: string;
}

/** The namespace implementation adds what main.ts needs from the root namespace. */
export interface NetnsNetwork extends FaultNetwork {
  readonly kind: 'netns';
  readonly prefix: string;
  /** Name of the hub namespace, to re-execute the suite inside it. */
  readonly hubNamespace: string;
  /** Names of the node namespaces, in `nodes` order. */
  readonly nodeNamespaces: readonly string[];
  /** `destroy()` with execFileSync only: for exit and signal handlers. */
  destroySync(): void;
}

export function hubNamespaceName(prefix: string = DEFAULT_PREFIX): string {
  return `${prefix}-hub`;
}

export function nodeNamespaceName(prefix: string, index: number): string {
  return `${prefix}-n${index + 1}`;
}

/** Spawns `command` inside network namespace `ns` (works from the root namespace or from another one, as root). */
export function spawnInNamespace(
  ns: string,
  command: string,
  args: readonly string[],
  options: SpawnOptions = {},
): ChildProcess {
  // `ip netns exec` execs the command without forking, so the child's pid is the command's own pid and signals
  // (SIGSTOP, SIGKILL) sent to it reach the process itself.
  return spawn('ip', ['netns', 'exec', ns, command, ...args], options);
}

/** Whether this process already runs in namespace `ns` (same nsfs inode as its bind mount under /run/netns). */
export function inNamespace(ns: string): boolean {
  try {
    const self = statSync('/proc/self/ns/net');
    const named = statSync(`/run/netns/${ns}`);
    return self.ino === named.ino && self.dev === named.dev;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Running ip and nft

class CommandError extends Error {
  constructor(
    readonly command: string,
    readonly stderr: string,
    cause?: unknown,
  ) {
    super(`${command} failed: ${stderr.trim() || String(cause)}`);
    this.name = 'CommandError';
  }
}

function describe(command: string, args: readonly string[]): string {
  return [command, ...args].join(' ');
}

function run(command: string, args: readonly string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(command, args, { timeout: EXEC_TIMEOUT_MS, encoding: 'utf8' }, (error, stdout, stderr) => {
      if (error) reject(new CommandError(describe(command, args), stderr, error));
      else resolve(stdout);
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

function runSync(command: string, args: readonly string[]): string {
  try {
    return execFileSync(command, args, { timeout: EXEC_TIMEOUT_MS, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? '';
    throw new CommandError(describe(command, args), stderr, error);
  }
}

function nft(ns: string, args: readonly string[], input?: string): Promise<string> {
  return run('ip', ['netns', 'exec', ns, 'nft', ...args], input);
}

// ---------------------------------------------------------------------------------------------------------------
// Naming and addressing

function resolveOptions(nodes: number, options: NetnsOptions): { prefix: string; base: string } {
  const prefix = options.prefix ?? DEFAULT_PREFIX;
  if (!PREFIX_PATTERN.test(prefix)) {
    throw new Error(`netns prefix ${JSON.stringify(prefix)} must match ${PREFIX_PATTERN}`);
  }
  if (!Number.isInteger(nodes) || nodes < 1 || nodes > MAX_NODES) {
    throw new Error(`netns network needs 1..${MAX_NODES} nodes, got ${nodes}`);
  }
  const subnet = options.subnet ?? DEFAULT_SUBNET;
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.0\/24$/.exec(subnet);
  if (!match || match.slice(1).some((octet) => Number(octet) > 255)) {
    throw new Error(`netns subnet ${JSON.stringify(subnet)} must be a /24 written a.b.c.0/24`);
  }
  return { prefix, base: `${match[1]}.${match[2]}.${match[3]}` };
}

/** Namespaces of this prefix that exist now, whatever node count created them. */
function listOwnNamespaces(prefix: string, output: string): string[] {
  const own = new RegExp(`^${prefix}-(hub|n\\d+)$`);
  // `ip -j netns list` prints `[]` or nothing at all when there are none, depending on the version.
  const entries = output.trim() === '' ? [] : (JSON.parse(output) as { name: string }[]);
  const names = entries.map((entry) => entry.name).filter((name) => own.test(name));
  // Nodes first, the hub last: deleting the hub then finds no veth left to take down.
  return names.sort((a, b) => Number(a.endsWith('-hub')) - Number(b.endsWith('-hub')));
}

function parsePids(output: string): number[] {
  return output
    .split(/\s+/)
    .filter((word) => /^\d+$/.test(word))
    .map(Number)
    .filter((pid) => pid !== process.pid && pid !== process.ppid);
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

/**
 * Deletes every namespace of this prefix, after SIGKILLing what still runs inside (a crashed run's nodes would
 * otherwise keep their namespace alive, unnamed). This process and its parent are spared, so the suite may call
 * it from inside the hub. Idempotent.
 */
export async function destroyNetnsNetwork(prefix: string = DEFAULT_PREFIX): Promise<void> {
  const names = listOwnNamespaces(prefix, await run('ip', ['-j', 'netns', 'list']));
  const failures: string[] = [];
  for (const ns of names) {
    try {
      parsePids(await run('ip', ['netns', 'pids', ns])).forEach(killQuietly);
      await run('ip', ['netns', 'delete', ns]);
    } catch (error) {
      failures.push((error as Error).message);
    }
  }
  if (failures.length > 0) throw new Error(`destroying netns network ${prefix}: ${failures.join('; ')}`);
}

/** `destroyNetnsNetwork` with execFileSync only, for exit and signal handlers; never throws. */
export function destroyNetnsNetworkSync(prefix: string = DEFAULT_PREFIX): string[] {
  const failures: string[] = [];
  let names: string[] = [];
  try {
    names = listOwnNamespaces(prefix, runSync('ip', ['-j', 'netns', 'list']));
  } catch (error) {
    return [(error as Error).message];
  }
  for (const ns of names) {
    try {
      parsePids(runSync('ip', ['netns', 'pids', ns])).forEach(killQuietly);
      runSync('ip', ['netns', 'delete', ns]);
    } catch (error) {
      failures.push((error as Error).message);
    }
  }
  return failures;
}

// ---------------------------------------------------------------------------------------------------------------
// Faults

function checkPorts(ports: readonly number[]): void {
  if (ports.length === 0) throw new Error('a fault needs at least one cluster port');
  for (const port of ports) {
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`invalid cluster port ${port}`);
  }
}

/**
 * The whole fault table, replacing any previous one atomically: `nft -f` applies a file as one transaction, and
 * the add-then-delete idiom makes the delete succeed whether or not the table existed.
 */
function faultScript(ports: readonly number[], dropRule: string): string {
  const elements = [...new Set(ports)].sort((a, b) => a - b).join(', ');
  const hooks = ['input', 'output'].map(
    (hook) => `  chain ${hook} {
    type filter hook ${hook} priority -10; policy accept;
    meta l4proto { tcp, udp } th dport @cluster_ports jump fault
    meta l4proto { tcp, udp } th sport @cluster_ports jump fault
  }`,
  );
  return `table inet ${FAULT_TABLE}
delete table inet ${FAULT_TABLE}
table inet ${FAULT_TABLE} {
  set cluster_ports {
    type inet_service
    elements = { ${elements} }
  }
  chain fault {
    ${dropRule}
    accept
  }
${hooks.join('\n')}
}
`;
}

const REMOVE_TABLE = `table inet ${FAULT_TABLE}\ndelete table inet ${FAULT_TABLE}\n`;

interface NftJson {
  nftables?: { rule?: { chain?: string; expr?: Record<string, unknown>[] } }[];
}

/** Packets dropped by the fault table now in `ns`, 0 if there is none. */
async function readDropped(ns: string): Promise<number> {
  let output: string;
  try {
    output = await nft(ns, ['-j', 'list', 'table', 'inet', FAULT_TABLE]);
  } catch (error) {
    if (error instanceof CommandError && /No such file or directory/.test(error.stderr)) return 0;
    throw error;
  }
  let total = 0;
  for (const item of (JSON.parse(output) as NftJson).nftables ?? []) {
    const expr = item.rule?.expr ?? [];
    if (!expr.some((e) => 'drop' in e)) continue;
    for (const e of expr) {
      const counter = e['counter'] as { packets?: number } | undefined;
      if (counter?.packets !== undefined) total += counter.packets;
    }
  }
  return total;
}

// ---------------------------------------------------------------------------------------------------------------
// The network object

function buildNetwork(nodes: number, options: NetnsOptions): NetnsNetwork {
  const { prefix, base } = resolveOptions(nodes, options);
  const hubNamespace = hubNamespaceName(prefix);
  const nodeNamespaces = Array.from({ length: nodes }, (_, i) => nodeNamespaceName(prefix, i));

  const hub: Host = {
    name: 'hub',
    ip: `${base}.1`,
    // The suite runs inside the hub (main.ts re-executes it there), so a plain spawn lands in the hub; from
    // anywhere else, go through `ip netns exec`.
    spawn: (command, args, spawnOptions) =>
      inNamespace(hubNamespace)
        ? spawn(command, args, spawnOptions ?? {})
        : spawnInNamespace(hubNamespace, command, args, spawnOptions),
  };
  const nodeHosts: Host[] = nodeNamespaces.map((ns, i) => ({
    name: `node${i + 1}`,
    ip: `${base}.${11 + i}`,
    spawn: (command, args, spawnOptions) => spawnInNamespace(ns, command, args, spawnOptions),
  }));

  // Counters vanish with the table, so what a table dropped is banked before it is replaced or deleted:
  // `dropped(i)` only ever grows.
  const banked = new Array<number>(nodes).fill(0);
  // Faults on one node are serialised: a heal racing a partition must not bank the same counters twice.
  const queues = new Array<Promise<unknown>>(nodes).fill(Promise.resolve());

  function nodeNs(i: number): string {
    const ns = nodeNamespaces[i];
    if (ns === undefined) throw new Error(`no node ${i}: the network has nodes 0..${nodes - 1}`);
    return ns;
  }

  function serial<T>(i: number, task: (ns: string) => Promise<T>): Promise<T> {
    const ns = nodeNs(i);
    const next = queues[i]!.then(() => task(ns));
    queues[i] = next.catch(() => undefined);
    return next;
  }

  async function replaceTable(i: number, ns: string, script: string): Promise<void> {
    banked[i]! += await readDropped(ns);
    await nft(ns, ['-f', '-'], script);
  }

  return {
    kind: 'netns',
    supports: { partition: true, loss: true },
    prefix,
    hub,
    nodes: nodeHosts,
    hubNamespace,
    nodeNamespaces,
    partition: (i, clusterPorts) =>
      serial(i, async (ns) => {
        checkPorts(clusterPorts);
        await replaceTable(i, ns, faultScript(clusterPorts, 'counter drop'));
      }),
    loss: (i, percent, clusterPorts) =>
      serial(i, async (ns) => {
        checkPorts(clusterPorts);
        if (!(percent >= 0 && percent <= 100)) throw new Error(`loss percent must be within 0..100, got ${percent}`);
        // mod 10000 gives the draw a resolution of 0.01%, so fractional percentages work too.
        const threshold = Math.round(percent * 100);
        await replaceTable(i, ns, faultScript(clusterPorts, `numgen random mod 10000 < ${threshold} counter drop`));
      }),
    heal: (i) => serial(i, (ns) => replaceTable(i, ns, REMOVE_TABLE)),
    dropped: (i) => serial(i, async (ns) => banked[i]! + (await readDropped(ns))),
    destroy: () => destroyNetnsNetwork(prefix),
    destroySync: () => {
      const failures = destroyNetnsNetworkSync(prefix);
      if (failures.length > 0) process.stderr.write(`netns cleanup: ${failures.join('; ')}\n`);
    },
  };
}

/**
 * Creates the hub and `nodes` node namespaces, after removing what an earlier run with the same prefix left.
 * Call from the root namespace, as root. On failure, whatever was created is removed again.
 */
export async function createNetnsNetwork(nodes: number, options: NetnsOptions = {}): Promise<NetnsNetwork> {
  const network = buildNetwork(nodes, options);
  const hubNs = network.hubNamespace;
  await destroyNetnsNetwork(network.prefix);
  try {
    await run('ip', ['netns', 'add', hubNs]);
    await run('ip', ['-n', hubNs, 'link', 'set', 'lo', 'up']);
    // STP off (the default) puts bridge ports straight into forwarding, with no 15-second listening delay.
    await run('ip', ['-n', hubNs, 'link', 'add', 'br0', 'type', 'bridge']);
    await run('ip', ['-n', hubNs, 'addr', 'add', `${network.hub.ip}/24`, 'dev', 'br0']);
    await run('ip', ['-n', hubNs, 'link', 'set', 'br0', 'up']);
    for (const [i, ns] of network.nodeNamespaces.entries()) {
      const hubEnd = `vn${i + 1}`;
      await run('ip', ['netns', 'add', ns]);
      await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
      await run('ip', ['-n', hubNs, 'link', 'add', hubEnd, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
      await run('ip', ['-n', hubNs, 'link', 'set', hubEnd, 'master', 'br0', 'up']);
      await run('ip', ['-n', ns, 'addr', 'add', `${network.nodes[i]!.ip}/24`, 'dev', 'eth0']);
      await run('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
    }
  } catch (error) {
    await destroyNetnsNetwork(network.prefix).catch(() => undefined);
    throw error;
  }
  return network;
}

/**
 * The same network, without creating anything: for the suite, which runs inside the hub of a network that
 * main.ts created. Throws if the namespaces are missing.
 */
export function openNetnsNetwork(nodes: number, options: NetnsOptions = {}): NetnsNetwork {
  const network = buildNetwork(nodes, options);
  const missing = [network.hubNamespace, ...network.nodeNamespaces].filter((ns) => {
    try {
      statSync(`/run/netns/${ns}`);
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length > 0) throw new Error(`netns network ${network.prefix}: missing namespaces ${missing.join(', ')}`);
  return network;
}

// ---------------------------------------------------------------------------------------------------------------
// Availability

export type Availability = { ok: true } | { ok: false; reason: string };

/**
 * Whether this machine can run the namespace network: root, `ip` and `nft` present, and a scratch namespace with
 * a bridge, a veth pair and an nft table using `numgen random` can actually be created (containers often lack
 * CAP_SYS_ADMIN or the nf_tables module even as uid 0). Leaves nothing behind.
 */
export async function netnsAvailable(): Promise<Availability> {
  if (process.platform !== 'linux') return { ok: false, reason: `network namespaces need Linux, not ${process.platform}` };
  if (process.getuid?.() !== 0) return { ok: false, reason: 'network namespaces need root (uid 0)' };
  for (const [tool, args] of [
    ['ip', ['-V']],
    ['nft', ['--version']],
  ] as const) {
    try {
      await run(tool, args);
    } catch (error) {
      return { ok: false, reason: `${tool} is not usable (${firstLine(error)}); install iproute2 and nftables` };
    }
  }
  const scratch = `kcfprobe-${process.pid}`;
  const steps: [string, string, string[], string?][] = [
    ['creating a namespace', 'ip', ['netns', 'add', scratch]],
    ['bringing lo up in it', 'ip', ['-n', scratch, 'link', 'set', 'lo', 'up']],
    ['creating a bridge in it', 'ip', ['-n', scratch, 'link', 'add', 'br0', 'type', 'bridge']],
    ['creating a veth pair in it', 'ip', ['-n', scratch, 'link', 'add', 'va', 'type', 'veth', 'peer', 'name', 'vb']],
    [
      'loading an nft table with numgen in it',
      'ip',
      ['netns', 'exec', scratch, 'nft', '-f', '-'],
      faultScript([9], 'numgen random mod 10000 < 1000 counter drop'),
    ],
    ['listing that nft table', 'ip', ['netns', 'exec', scratch, 'nft', '-j', 'list', 'table', 'inet', FAULT_TABLE]],
  ];
  try {
    for (const [what, command, args, input] of steps) {
      try {
        await run(command, args, input);
      } catch (error) {
        return { ok: false, reason: `${what} failed: ${firstLine(error)}` };
      }
    }
  } finally {
    await run('ip', ['netns', 'delete', scratch]).catch(() => undefined);
  }
  return { ok: true };
}

function firstLine(error: unknown): string {
  return ((error as Error).message ?? String(error)).split('\n')[0]!.trim();
}

// ---------------------------------------------------------------------------------------------------------------
// CLI: --selfcheck

function flag(argv: readonly string[], name: string): string | undefined {
  const at = argv.indexOf(name);
  return at >= 0 ? argv[at + 1] : undefined;
}

/** Inside the hub: run the check on the network the outer process created, print it, exit with its verdict. */
async function selfcheckInner(nodes: number, prefix: string): Promise<number> {
  const { checkNetwork } = await import('./network-check.js');
  const network = openNetnsNetwork(nodes, { prefix });
  const result = await checkNetwork(network);
  process.stdout.write(`${result.ok ? 'PASS' : 'FAIL'} netns self-check\n${result.detail}\n`);
  return result.ok ? 0 : 1;
}

/** In the root namespace: create, re-execute this file inside the hub, destroy whatever happens. */
async function selfcheckOuter(nodes: number, prefix: string): Promise<number> {
  const available = await netnsAvailable();
  if (!available.ok) {
    process.stderr.write(`network namespaces unavailable: ${available.reason}\n`);
    return 2;
  }
  let network: NetnsNetwork | undefined;
  let child: ChildProcess | undefined;
  const cleanup = (): void => {
    network?.destroySync();
    network = undefined;
  };
  // Ctrl-C reaches the whole foreground group, the inner process included; wait for it to stop, then clean up.
  const onSignal = (signal: NodeJS.Signals): void => {
    process.stderr.write(`\n${signal}: stopping the self-check and removing the namespaces\n`);
    child?.kill('SIGTERM');
    cleanup();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.once('exit', cleanup);
  try {
    const started = Date.now();
    network = await createNetnsNetwork(nodes, { prefix });
    process.stdout.write(
      `created ${network.hubNamespace} (${network.hub.ip}) and ${network.nodes.map((n, i) => `${network!.nodeNamespaces[i]} (${n.ip})`).join(', ')} in ${Date.now() - started} ms\n`,
    );
    const self = fileURLToPath(import.meta.url);
    const inner = spawnInNamespace(
      network.hubNamespace,
      process.execPath,
      [self, '--selfcheck-inner', '--nodes', String(nodes), '--prefix', prefix],
      { stdio: 'inherit' },
    );
    child = inner;
    const code = await new Promise<number>((resolve) => {
      inner.on('error', (error) => {
        process.stderr.write(`cannot start the check inside ${network!.hubNamespace}: ${error.message}\n`);
        resolve(1);
      });
      inner.on('exit', (exitCode, signal) => resolve(exitCode ?? (signal ? 1 : 0)));
    });
    child = undefined;
    await network.destroy();
    network = undefined;
    const leftovers = listOwnNamespaces(prefix, await run('ip', ['-j', 'netns', 'list']));
    process.stdout.write(`destroyed; namespaces left with prefix ${prefix}: ${leftovers.length === 0 ? 'none' : leftovers.join(', ')}\n`);
    return leftovers.length === 0 ? code : 1;
  } finally {
    cleanup();
  }
}

async function main(argv: readonly string[]): Promise<number> {
  const nodes = Number(flag(argv, '--nodes') ?? 2);
  // Not `kcf`: a self-check must not tear down the network of a fault suite running at the same time.
  const prefix = flag(argv, '--prefix') ?? 'kcfcheck';
  if (argv.includes('--selfcheck-inner')) return selfcheckInner(nodes, prefix);
  if (argv.includes('--selfcheck')) return selfcheckOuter(nodes, prefix);
  process.stderr.write(
    'usage: node dist/test/faults/network-netns.js --selfcheck [--nodes N] [--prefix P]\n' +
      '  creates an N-node namespace network (default 2, prefix kcfcheck), checks it from its hub, destroys it\n',
  );
  return 2;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
      process.exit(1);
    },
  );
}
