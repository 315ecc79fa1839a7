/**
 * A config push that some nodes reject: it names TLS files by a path relative to each node's working directory,
 * and only the first two nodes' hosts have them. Those two ack and serve the new version; the other two nack,
 * keep serving the previous one (their requests still succeed), and the manager's API shows their error. A
 * last push restores one version everywhere (and takes the TLS settings out of every node's cache).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { judge, outcome } from '../lib/scenario.js';
import type { Scenario } from '../lib/scenario.js';
import { now } from '../lib/load.js';
import { CONFIG_ACK_DEADLINE_MS } from '../lib/timings.js';
import { sleep, waitFor } from '../lib/procs.js';
import type { Cluster } from '../lib/cluster.js';

const HAVE_FILES = [0, 1];

async function statusOf(url: string): Promise<number> {
  const r = await fetch(url, { signal: AbortSignal.timeout(5_000) }).catch(() => undefined);
  await r?.arrayBuffer();
  return r?.status ?? 0;
}

async function waitVersionEverywhere(cluster: Cluster, version: number): Promise<void> {
  const ids = cluster.nodes.map((_, i) => cluster.nodeId(i));
  await waitFor(
    `every node on version ${version}`,
    async () => {
      const views = await cluster.nodesView();
      return ids.every((id) => {
        const v = views.find((x) => x.id === id);
        return v?.config_version === version && v.config_error === null;
      });
    },
    CONFIG_ACK_DEADLINE_MS,
  );
}

export const configReject: Scenario = {
  name: 'config-reject',
  async run(ctx) {
    const { cluster } = ctx;
    const problems: string[] = [];
    for (const i of HAVE_FILES) {
      const dir = join(cluster.node(i).dir, 'certs');
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'cert.pem'), '-----BEGIN CERTIFICATE-----\n(placeholder: only its presence is checked)\n');
      writeFileSync(join(dir, 'key.pem'), '-----BEGIN PRIVATE KEY-----\n(placeholder)\n');
    }
    const before = await cluster.nodesView();
    const from = now();
    await sleep(1_000);
    const text = ctx.baseConfig(['/pushed', '/partial'], { tls: { public_key: 'certs/cert.pem', private_key: 'certs/key.pem' } });
    const result = (await cluster.applyConfig(text, 'fault suite: only some hosts have the TLS files')) as {
      version: number;
      answers: Record<string, { kind: string; error?: string }>;
    };
    const ids = cluster.nodes.map((_, i) => cluster.nodeId(i) ?? '');
    const kinds = ids.map((id) => result.answers[id]?.kind ?? 'none');
    ids.forEach((_, i) => {
      const want = HAVE_FILES.includes(i) ? 'ack' : 'nack';
      if (kinds[i] !== want) problems.push(`node${i + 1} answered ${kinds[i]}, expected ${want}`);
    });
    const views = await cluster.nodesView();
    let errorsShown = 0;
    ids.forEach((id, i) => {
      const v = views.find((x) => x.id === id);
      const previous = before.find((x) => x.id === id)?.config_version;
      if (HAVE_FILES.includes(i)) {
        if (v?.config_version !== result.version) problems.push(`node${i + 1} shows version ${v?.config_version}, not ${result.version}`);
      } else {
        if (v?.config_version !== previous) problems.push(`node${i + 1} shows version ${v?.config_version}, not its previous ${previous}`);
        if (v?.config_error && /not readable on this node/.test(v.config_error)) errorsShown++;
        else problems.push(`node${i + 1}: the API shows no config error (${v?.config_error})`);
      }
    });
    const partial = await Promise.all(cluster.nodes.map((n) => statusOf(`${n.url}/partial`)));
    partial.forEach((status, i) => {
      const want = HAVE_FILES.includes(i) ? 200 : 404;
      if (status !== want) problems.push(`node${i + 1} answers ${status} on the new endpoint, expected ${want}`);
    });
    await sleep(3_000);
    const to = now();
    const j = judge(ctx, from, to);
    problems.push(...j.problems);

    // Back to one version everywhere, without the TLS settings (a restart would otherwise try them).
    const restore = (await cluster.applyConfig(ctx.baseConfig(['/pushed', '/restored']), 'fault suite: restore')) as { version: number };
    try {
      await waitVersionEverywhere(cluster, restore.version);
    } catch (err) {
      problems.push(`restore: ${(err as Error).message}`);
    }
    return outcome(problems, {
      version: result.version,
      answers: kinds.join(','),
      errors_shown: errorsShown,
      new_endpoint_status: partial.join(','),
      restored_version: restore.version,
      ...j.figures,
    });
  },
};
