/**
 * A config push under load: every node acks the new version and serves it, with zero failed requests across the
 * push.
 */
import { judge, outcome } from '../lib/scenario.js';
import type { Scenario } from '../lib/scenario.js';
import { now } from '../lib/load.js';
import { CONFIG_ACK_DEADLINE_MS } from '../lib/timings.js';
import { sleep, waitFor } from '../lib/procs.js';

export const configPush: Scenario = {
  name: 'config-push',
  async run(ctx) {
    const { cluster } = ctx;
    const problems: string[] = [];
    const from = now();
    await sleep(1_000);
    const tPush = now();
    const result = (await cluster.applyConfig(ctx.baseConfig(['/pushed']), 'fault suite: push under load')) as {
      version: number;
      answers: Record<string, { kind: string }>;
    };
    const pushMs = now() - tPush;
    const ids = cluster.nodes.map((_, i) => cluster.nodeId(i));
    const acks = ids.filter((id) => result.answers[id ?? '']?.kind === 'ack').length;
    if (acks !== ids.length) problems.push(`acks from ${acks} of ${ids.length} nodes: ${JSON.stringify(result.answers)}`);
    try {
      await waitFor(
        `every node on version ${result.version}`,
        async () => {
          const views = await cluster.nodesView();
          return ids.every((id) => views.find((v) => v.id === id)?.config_version === result.version);
        },
        CONFIG_ACK_DEADLINE_MS,
      );
    } catch (err) {
      problems.push((err as Error).message);
    }
    let serving = 0;
    for (const n of cluster.nodes) {
      const r = await fetch(`${n.url}/pushed`, { signal: AbortSignal.timeout(5_000) }).catch(() => undefined);
      await r?.arrayBuffer();
      if (r?.status === 200) serving++;
    }
    if (serving !== cluster.nodes.length) problems.push(`the new endpoint answers on ${serving} of ${cluster.nodes.length} nodes`);
    await sleep(2_000);
    const j = judge(ctx, from, now());
    problems.push(...j.problems);
    return outcome(problems, { version: result.version, acks, push_ms: Math.round(pushMs), serving_new_endpoint: serving, ...j.figures });
  },
};
