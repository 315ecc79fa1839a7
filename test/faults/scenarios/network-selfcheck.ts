/**
 * The network's own self-check (namespaces only), before any scenario relies on it: hosts reach each other, a
 * partition cuts cluster ports and spares HTTP, loss drops about the share asked for, and heal restores.
 */
import type { Scenario } from '../lib/scenario.js';
import { checkNetwork } from '../network-check.js';

export const networkSelfcheck: Scenario = {
  name: 'network-selfcheck',
  async run(ctx) {
    if (ctx.net.kind !== 'netns') return { status: 'SKIP', reason: `loopback network (${ctx.net.reason ?? 'no namespaces'})`, figures: {} };
    const result = await checkNetwork(ctx.net);
    const lines = result.detail.split('\n').filter((l) => l.trim().length > 0);
    ctx.note(`network self-check:\n${result.detail}`);
    const checks = lines.filter((l) => /^\s*(ok|FAIL)\b/.test(l));
    const failed = checks.filter((l) => /^\s*FAIL\b/.test(l)).map((l) => l.replace(/^\s*FAIL\s*/, ''));
    const loss = /(\d+)\/(\d+) echoes lost = ([\d.]+%)/.exec(result.detail);
    const figures = { checks: checks.length, failed: failed.length, ...(loss ? { loss_echoes_lost: loss[3] as string } : {}) };
    return result.ok ? { status: 'PASS', figures } : { status: 'FAIL', reason: failed.join('; ') || 'self-check failed', figures };
  },
};
