/**
 * The cluster under test: one manager on the hub and N nodes, each on its own host, started from the built CLIs
 * with fixed ports and state directories, so that a killed process restarts as the same member (same id, same
 * addresses) and the load keeps reaching it at the same URL.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateKeyPair, issueLicense } from '../../../src/cluster/manager/license.js';
import type { ClusterRouting, FaultNetwork, Host } from '../network.js';
import { startProc, waitFor } from './procs.js';
import type { Proc } from './procs.js';
import { GRACE_MS, HEARTBEAT_MS, NODE_START_MS } from './timings.js';
import { freePort } from './ports.js';

export const MANAGER_CLI = fileURLToPath(new URL('../../../src/cli/krakend-cluster-manager.js', import.meta.url));
export const NODE_CLI = fileURLToPath(new URL('../../../src/cli/krakend.js', import.meta.url));

export type NodeState = 'alive' | 'unreachable' | 'down' | 'removed' | 'refused';

export interface NodeView {
  id: string;
  name: string;
  state: NodeState;
  since: string;
  control_connected: boolean;
  config_version: number | null;
  config_error: string | null;
  refused_reason: string | null;
  addresses: { api?: string; cluster?: string };
}

export interface ManagerHandle {
  readonly host: Host;
  readonly stateDir: string;
  /** The address its cluster port binds (host.ip, unless the network routes the cluster through a proxy). */
  readonly clusterBind: string;
  readonly clusterPort: number;
  readonly webPort: number;
  proc: Proc;
}

export interface NodeHandle {
  readonly index: number;
  readonly name: string;
  readonly host: Host;
  readonly dir: string;
  readonly stateDir: string;
  readonly apiPort: number;
  /** The port its gossip binds (the real one, also with a fault proxy in front). */
  readonly clusterPort: number;
  /** The manager address it dials (host:port). */
  readonly seed: string;
  /** The gossip address it advertises, when the network routes gossip through a proxy (host:port). */
  readonly advertise: string | undefined;
  readonly url: string;
  proc: Proc | undefined;
}

export interface ClusterOptions {
  net: FaultNetwork;
  workDir: string;
  clusterKey: string;
  /** The krakend.json every node starts with (the manager's version 1 is the same text). */
  krakendJson: string;
  maxNodes: number;
}

/** Fixed ports in namespaces (every host has its own address); free ones on a shared loopback. */
async function choosePorts(net: FaultNetwork, nodes: number) {
  if (net.kind === 'netns') return { managerCluster: 7000, managerWeb: 9897, nodes: Array.from({ length: nodes }, () => ({ api: 8080, cluster: 7946 })) };
  const managerCluster = await freePort();
  const managerWeb = await freePort();
  const list = [];
  for (let i = 0; i < nodes; i++) list.push({ api: await freePort(), cluster: await freePort() });
  return { managerCluster, managerWeb, nodes: list };
}

export class Cluster {
  readonly net: FaultNetwork;
  readonly workDir: string;
  readonly clusterKey: string;
  readonly manager: ManagerHandle;
  readonly nodes: NodeHandle[];
  private readonly krakendJson: string;
  private readonly logDir: string;

  private constructor(options: ClusterOptions, ports: Awaited<ReturnType<typeof choosePorts>>, routing: ClusterRouting | undefined) {
    this.net = options.net;
    this.workDir = options.workDir;
    this.clusterKey = options.clusterKey;
    this.krakendJson = options.krakendJson;
    this.logDir = join(options.workDir, 'logs');
    mkdirSync(this.logDir, { recursive: true });
    const managerDir = join(options.workDir, 'manager');
    mkdirSync(managerDir, { recursive: true });
    this.manager = {
      host: options.net.hub,
      stateDir: managerDir,
      clusterBind: routing?.managerBind ?? options.net.hub.ip,
      clusterPort: ports.managerCluster,
      webPort: ports.managerWeb,
      proc: undefined as unknown as Proc,
    };
    this.nodes = options.net.nodes.map((host, index) => {
      const dir = join(options.workDir, `node${index + 1}`);
      const p = ports.nodes[index] as { api: number; cluster: number };
      return {
        index,
        name: `node${index + 1}`,
        host,
        dir,
        stateDir: join(dir, 'state'),
        apiPort: p.api,
        clusterPort: p.cluster,
        seed: routing?.nodes[index]?.seed ?? this.seed,
        advertise: routing?.nodes[index]?.advertise,
        url: `http://${host.ip}:${p.api}`,
        proc: undefined,
      };
    });
    this.writeLicense(options.maxNodes);
  }

  static async create(options: ClusterOptions): Promise<Cluster> {
    const ports = await choosePorts(options.net, options.net.nodes.length);
    const routing = await options.net.routeCluster?.({ manager: ports.managerCluster, nodes: ports.nodes.map((p) => p.cluster) });
    return new Cluster(options, ports, routing);
  }

  /** The manager's advertised cluster address: the seed of any process that is not one of the suite's nodes. */
  get seed(): string {
    return `${this.manager.host.ip}:${this.manager.clusterPort}`;
  }

  get apiBase(): string {
    return `http://${this.manager.host.ip}:${this.manager.webPort}`;
  }

  logFile(name: string): string {
    return join(this.logDir, `${name}.log`);
  }

  private writeLicense(maxNodes: number): void {
    const keys = generateKeyPair();
    const now = Date.now();
    writeFileSync(join(this.manager.stateDir, 'license-public.pem'), keys.publicKeyPem);
    writeFileSync(
      join(this.manager.stateDir, 'license.json'),
      issueLicense(
        {
          licensee: 'Fault suite',
          license_id: 'lic-faults',
          max_nodes: maxNodes,
          not_before: new Date(now - 86_400_000).toISOString(),
          not_after: new Date(now + 30 * 86_400_000).toISOString(),
          issued_at: new Date(now).toISOString(),
        },
        keys.privateKeyPem,
      ),
    );
    // An empty config file of its own, so a host's /etc/krakend/cluster-manager.yml never leaks in.
    writeFileSync(join(this.manager.stateDir, 'none.yml'), '');
  }

  /** Starts (or restarts, on the same state directory and ports) the manager; resolves once it listens. */
  async startManager(): Promise<void> {
    const m = this.manager;
    const ip = m.host.ip;
    m.proc = startProc(
      m.host,
      'manager',
      [
        MANAGER_CLI,
        '--state-dir', m.stateDir,
        '--cluster-port', String(m.clusterPort),
        '--web-port', String(m.webPort),
        '--bind', m.clusterBind,
        ...(m.clusterBind === ip ? [] : ['--advertise', ip]),
        '--web-bind', ip,
        '--heartbeat', `${HEARTBEAT_MS}ms`,
        '--grace-period', `${GRACE_MS / 1000}s`,
        '--preset', 'local',
        '--cluster-key', this.clusterKey,
        '--stats-interval', '2s',
      ],
      { env: { KRAKEND_CM_CONFIG: join(m.stateDir, 'none.yml') }, logFile: this.logFile('manager') },
    );
    const proc = m.proc;
    await waitFor(
      'the manager to listen',
      () => {
        if (!proc.running()) throw new Error(`the manager exited:\n${proc.output().slice(-2000)}`);
        return /listening: cluster port \d+, web port \d+/.test(proc.output());
      },
      NODE_START_MS,
    );
  }

  /** Writes a node's files (once) and starts it; resolves once its API listens. */
  async startNode(i: number, options: { clusterKey?: string } = {}): Promise<void> {
    const n = this.node(i);
    mkdirSync(n.stateDir, { recursive: true });
    writeFileSync(join(n.dir, 'krakend.json'), this.krakendJson);
    writeFileSync(join(n.dir, 'service.yml'), this.serviceYml(n, options.clusterKey ?? this.clusterKey));
    n.proc = this.spawnNode(n.host, n.name, n.dir);
    await this.waitListening(n.proc);
  }

  /** Restarts a node on its existing files. */
  async restartNode(i: number): Promise<void> {
    const n = this.node(i);
    n.proc = this.spawnNode(n.host, n.name, n.dir);
    await this.waitListening(n.proc);
  }

  serviceYml(
    n: { host: Host; stateDir: string; apiPort: number; clusterPort: number; name: string; seed?: string; advertise?: string | undefined },
    clusterKey: string,
    extra = '',
  ): string {
    return [
      `seed: ${n.seed ?? this.seed}`,
      `cluster_key: ${clusterKey}`,
      `state_dir: ${n.stateDir}`,
      `port: ${n.apiPort}`,
      `bind: ${n.host.ip}:${n.clusterPort}`,
      ...(n.advertise ? [`advertise: ${n.advertise}`] : []),
      `api_advertise: ${n.host.ip}:${n.apiPort}`,
      'preset: local',
      `name: ${n.name}`,
      extra,
    ].join('\n');
  }

  /** Starts a node process on `host` from the files in `dir` (krakend.json, service.yml), cwd = dir. */
  spawnNode(host: Host, name: string, dir: string): Proc {
    return startProc(host, name, [NODE_CLI, 'run', '-c', join(dir, 'krakend.json'), '--service', join(dir, 'service.yml')], {
      cwd: dir,
      logFile: this.logFile(name),
    });
  }

  async waitListening(proc: Proc): Promise<void> {
    await waitFor(
      `${proc.name} to listen`,
      () => {
        if (!proc.running()) throw new Error(`${proc.name} exited:\n${proc.output().slice(-2000)}`);
        return /Listening on port: \d+/.test(proc.output());
      },
      NODE_START_MS,
    );
  }

  node(i: number): NodeHandle {
    const n = this.nodes[i];
    if (!n) throw new Error(`no node ${i}`);
    return n;
  }

  /** The id the manager gave node `i` (from its state directory). */
  nodeId(i: number): string | undefined {
    try {
      return readFileSync(join(this.node(i).stateDir, 'node-id'), 'utf8').trim();
    } catch {
      return undefined;
    }
  }

  apiToken(): string {
    return readFileSync(join(this.manager.stateDir, 'api-token'), 'utf8').trim();
  }

  async api<T = unknown>(path: string, init: RequestInit = {}): Promise<T> {
    const r = await fetch(`${this.apiBase}${path}`, { ...init, signal: AbortSignal.timeout(5_000) });
    const text = await r.text();
    if (!r.ok) throw new Error(`${init.method ?? 'GET'} ${path}: ${r.status} ${text.slice(0, 300)}`);
    return (path === '/metrics' ? text : JSON.parse(text)) as T;
  }

  async nodesView(): Promise<NodeView[]> {
    return (await this.api<{ nodes: NodeView[] }>('/api/v1/nodes')).nodes;
  }

  /** The registry entry of node `i`, by the id in its state directory. */
  async view(i: number): Promise<NodeView | undefined> {
    const id = this.nodeId(i);
    return (await this.nodesView()).find((v) => v.id === id);
  }

  /** POST /api/v1/config with the token; the manager answers once every connected node answered. */
  async applyConfig(text: string, note: string): Promise<Record<string, unknown>> {
    return this.api('/api/v1/config?author=fault-suite&note=' + encodeURIComponent(note), {
      method: 'POST',
      headers: { Authorization: `Bearer ${this.apiToken()}`, 'Content-Type': 'application/json' },
      body: text,
    });
  }

  /** Waits until each of the suite's nodes is `alive` with a live control channel. */
  async waitAllAlive(timeoutMs: number): Promise<void> {
    await waitFor(
      'every node alive',
      async () => {
        const views = await this.nodesView();
        return this.nodes.every((_, i) => {
          const v = views.find((x) => x.id === this.nodeId(i));
          return v?.state === 'alive' && v.control_connected;
        });
      },
      timeoutMs,
    );
  }

  /** Every process this cluster started, stopped (SIGTERM, then SIGKILL). */
  async stopAll(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.proc?.stop().catch(() => {})));
    await this.manager.proc?.stop().catch(() => {});
  }

  /** Processes that should run and do not (a crash the suite did not cause). */
  crashed(): string[] {
    const out: string[] = [];
    if (this.manager.proc && !this.manager.proc.running()) out.push('manager');
    for (const n of this.nodes) if (n.proc && !n.proc.running()) out.push(n.name);
    return out;
  }
}
