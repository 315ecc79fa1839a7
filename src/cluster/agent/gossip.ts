/**
 * The node's membership in the cluster's gossip (SWIM with Lifeguard). It starts once the manager has given the
 * node its id — the gossip name is that id — and joins through the manager's cluster address; from then on
 * members see each other even while no manager answers. A new id (a clone detected) restarts it under the new
 * name.
 */
import type { Clock } from '../../base/clock.js';
import type { Logger } from '../../base/logger.js';
import { Keyring } from '../wire/index.js';
import { Membership, NetTransport } from '../membership/index.js';
import type { Member, MembershipPreset } from '../membership/index.js';
import type { ServiceFile } from './service-file.js';

export interface NodeGossipOptions {
  service: ServiceFile;
  logger: Logger;
  clock?: Clock;
  version: string;
  apiAddress: string;
  preset?: MembershipPreset;
}

export class NodeGossip {
  private membership: Membership | undefined;
  private readonly options: NodeGossipOptions;
  private readonly keyring: Keyring | undefined;

  constructor(options: NodeGossipOptions) {
    this.options = options;
    this.keyring = options.service.clusterKeys.length > 0 ? Keyring.fromConfig(options.service.clusterKeys) : undefined;
  }

  /** This node's cluster address, once gossip runs. */
  get address(): string | undefined {
    return this.membership?.running ? this.membership.address : undefined;
  }

  members(): Member[] {
    return this.membership?.members() ?? [];
  }

  /**
   * Nodes (not managers) this node is in contact with, itself included (alive and not suspected), and nodes known
   * (all but those that left). Undefined until gossip runs: then nothing is known.
   */
  reachability(): { reachable: number; known: number } | undefined {
    if (!this.membership?.running) return undefined;
    let reachable = 0;
    let known = 0;
    for (const m of this.membership.members()) {
      if (m.meta.role !== 'node' || m.state === 'removed') continue;
      known++;
      if (m.local || (m.state === 'alive' && !m.suspect)) reachable++;
    }
    return { reachable, known };
  }

  /** Starts (or restarts, under a new id) and joins through `seeds`. */
  async ensure(id: string, seeds: readonly string[]): Promise<void> {
    if (this.membership && this.membership.id !== id) {
      await this.membership.close();
      this.membership = undefined;
    }
    if (!this.membership) {
      const svc = this.options.service;
      const transport = new NetTransport({
        host: svc.bind.host,
        port: svc.bind.port,
        ...(svc.advertise ? { advertiseHost: svc.advertise.host, advertisePort: svc.advertise.port } : {}),
        ...(this.keyring ? { keyring: this.keyring } : {}),
        ...(this.options.clock ? { clock: this.options.clock } : {}),
        logger: this.options.logger,
      });
      const membership = new Membership({
        id,
        meta: { role: 'node', version: this.options.version, addresses: { api: this.options.apiAddress } },
        transport,
        preset: this.options.preset ?? 'lan',
        ...(this.options.clock ? { clock: this.options.clock } : {}),
        logger: this.options.logger,
      });
      await membership.start();
      this.membership = membership;
      this.options.logger.info(`[CLUSTER] Gossip started as ${id} at ${membership.address}`);
    }
    const joined = await this.membership.join(seeds);
    if (joined === 0) this.options.logger.warning(`[CLUSTER] Gossip: no answer from ${seeds.join(', ')} yet (retrying)`);
  }

  /** Announces the departure and stops. */
  async leave(): Promise<void> {
    const m = this.membership;
    this.membership = undefined;
    await m?.leave();
  }
}
