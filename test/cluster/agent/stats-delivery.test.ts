/**
 * How a node delivers its stats deltas (control protocol v3): each delta once per channel, however long the
 * manager takes to ack it (TCP delivers it or the channel closes), and on a new channel everything not yet
 * acknowledged, oldest first. The manager here is a bare FramedConnection server on 127.0.0.1 that acks only
 * when the test says so; the node is a real ClusterAgent with a real StatsCollector.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Logger } from '../../../src/base/logger.js';
import { ClusterAgent } from '../../../src/cluster/agent/agent.js';
import { parseServiceFile } from '../../../src/cluster/agent/service-file.js';
import { CONTROL_VERSIONS, ControlType, createControlRegistry } from '../../../src/cluster/control/messages.js';
import type { JoinBody, WelcomeBody } from '../../../src/cluster/control/messages.js';
import { statsDeltaOf } from '../../../src/cluster/control/stats-body.js';
import { FramedConnection, StreamKind, StreamServer } from '../../../src/cluster/wire/index.js';
import { StatsCollector } from '../../../src/stats/collector.js';
import { PROJECT_VERSION } from '../../../src/version.js';
import { tempDir, waitFor } from '../../helpers/cluster.js';

const STATS_INTERVAL_MS = 40;
const cleanup: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => {});
});

/** One channel as the fake manager sees it: the seqs it received, in order. */
interface Channel {
  conn: FramedConnection;
  seqs: number[];
}

test('each delta goes once per channel without acks; a new channel resends only what was not acknowledged', async () => {
  const channels: Channel[] = [];
  const server = new StreamServer({
    routes: {
      [StreamKind.Control]: {
        options: { registry: createControlRegistry(), versions: CONTROL_VERSIONS },
        onConnection: (conn) => {
          void (async () => {
            const join = await conn.receive(5_000);
            assert.equal(join.type, ControlType.Join);
            const welcome: WelcomeBody = {
              id: (join.body as JoinBody).claimedId ?? 'krakend_test',
              managerId: 'cm_test',
              epoch: 1,
              heartbeatMs: 60_000,
              limits: [],
              statsIntervalMs: STATS_INTERVAL_MS,
            };
            await conn.send({ type: ControlType.Welcome, body: welcome });
            const channel: Channel = { conn, seqs: [] };
            channels.push(channel);
            for await (const e of conn) {
              if (e.type === ControlType.Stats) channel.seqs.push(statsDeltaOf(e.body)!.seq);
            }
          })().catch(() => {});
        },
      },
    },
  });
  const { port } = await server.listen(0, '127.0.0.1');
  cleanup.push(() => server.close());

  const stateDir = tempDir('agent-stats-');
  mkdirSync(join(stateDir, 'n'), { recursive: true });
  const parsed = parseServiceFile(`seed: 127.0.0.1:${port}\nstate_dir: ${join(stateDir, 'n')}\nname: n\nport: 0\n`, 'service.yml');
  if (parsed.mode !== 'cluster') throw new Error(JSON.stringify(parsed));
  const stats = new StatsCollector({ stream: 'run-1' });
  const agent = new ClusterAgent({
    service: parsed.service,
    host: { setRefusal: () => {} },
    logger: new Logger({ prefix: '[KRAKEND]', sink: () => {} }),
    version: PROJECT_VERSION,
    apiAddress: '127.0.0.1:8080',
    backoffMs: { initial: 20, max: 50 },
    stats,
  });
  cleanup.push(() => agent.leave());
  await agent.start();
  await waitFor('the first channel', () => channels.length === 1, 10_000);
  const first = channels[0]!;
  // A manager that acks nothing for 20 intervals: nothing is sent twice on the channel meanwhile.
  await waitFor('a few deltas on the first channel', () => first.seqs.length >= 6, 10_000);
  await sleep(STATS_INTERVAL_MS * 20);
  assert.deepEqual(first.seqs, first.seqs.map((_, i) => i + 1), 'every delta once, in order');
  assert.ok(stats.pending().length >= first.seqs.length, 'and all still waiting for an ack');

  // A cumulative ack for the first three, then the channel breaks.
  await first.conn.send({ type: ControlType.StatsAck, body: { stream: 'run-1', seq: 3 } });
  await waitFor('the ack to free the first three', () => stats.pending()[0]?.seq === 4, 10_000);
  const sentOnFirst = first.seqs.length;
  first.conn.destroy();

  await waitFor('a second channel', () => channels.length === 2, 10_000);
  const second = channels[1]!;
  await waitFor('the resends and a few new deltas', () => second.seqs.length >= sentOnFirst, 10_000);
  await sleep(STATS_INTERVAL_MS * 5);
  assert.equal(second.seqs[0], 4, 'the oldest unacknowledged delta first; the acknowledged ones never again');
  assert.deepEqual(second.seqs, second.seqs.map((_, i) => i + 4), 'each delta once on this channel too, none skipped');
  assert.ok(second.seqs.includes(sentOnFirst), 'what the broken channel carried without an ack is resent');
});
