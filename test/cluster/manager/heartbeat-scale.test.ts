/**
 * max_heartbeats_per_second end to end, in one process: a real ClusterManager and real ClusterAgents over
 * 127.0.0.1 (control channel only: the agents join no gossip here, so only the channel can make a node
 * unreachable). With `heartbeat` 200 ms and one heartbeat a second allowed, the beat grows to 1 s and 2 s as two
 * nodes join and comes back down when one leaves; the nodes follow it and no channel is cut.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Logger } from '../../../src/base/logger.js';
import { ClusterAgent } from '../../../src/cluster/agent/agent.js';
import { parseServiceFile } from '../../../src/cluster/agent/service-file.js';
import { ClusterManager } from '../../../src/cluster/manager/manager.js';
import { defaultManagerConfig } from '../../../src/cluster/manager/manager-config.js';
import { PROJECT_VERSION } from '../../../src/version.js';
import { tempDir, waitFor } from '../../helpers/cluster.js';

const DEADLINE_MS = 10_000;

describe('the control channel heartbeat under max_heartbeats_per_second', () => {
  const cleanup: Array<() => Promise<unknown>> = [];
  after(async () => {
    for (const c of cleanup.reverse()) await c().catch(() => {});
  });

  test('grows as nodes join, reaches the nodes, cuts no channel, and comes back down when a node leaves', async () => {
    const managerLog: string[] = [];
    const config = {
      ...defaultManagerConfig(tempDir('cm-beat-')),
      clusterPort: 0,
      webPort: 0,
      bind: '127.0.0.1',
      webBind: '127.0.0.1',
      heartbeatMs: 200,
      maxHeartbeatsPerSecond: 1,
      preset: 'local' as const,
    };
    const manager = new ClusterManager(config, {
      version: PROJECT_VERSION,
      logger: new Logger({ prefix: 'CM ', sink: (line) => void managerLog.push(line) }),
    });
    const ports = await manager.start();
    cleanup.push(() => manager.close());
    const gauge = async (): Promise<number> => {
      const text = await (await fetch(`http://127.0.0.1:${ports.web}/metrics`)).text();
      const m = /^krakend_cluster_control_heartbeat_seconds (\S+)$/m.exec(text);
      assert.ok(m, 'the gauge is exported');
      return Number(m[1]);
    };
    assert.equal(await gauge(), 0.2, 'no node: the configured beat');

    const nodeLogs = new Map<ClusterAgent, string[]>();
    const startAgent = async (name: string): Promise<ClusterAgent> => {
      const stateDir = join(config.stateDir, name);
      mkdirSync(stateDir, { recursive: true });
      const parsed = parseServiceFile(`seed: 127.0.0.1:${ports.cluster}\nstate_dir: ${stateDir}\nname: ${name}\nport: 0\n`, `${name}/service.yml`);
      if (parsed.mode !== 'cluster') throw new Error(`service file: ${JSON.stringify(parsed)}`);
      const lines: string[] = [];
      const agent = new ClusterAgent({
        service: parsed.service,
        host: { setRefusal: () => {} },
        logger: new Logger({ prefix: '[KRAKEND]', sink: (line) => void lines.push(line) }),
        version: PROJECT_VERSION,
        apiAddress: '127.0.0.1:8080',
        backoffMs: { initial: 50, max: 200 },
      });
      nodeLogs.set(agent, lines);
      cleanup.push(() => agent.leave());
      await agent.start();
      await waitFor(`${name} to be admitted`, () => agent.state === 'admitted', DEADLINE_MS);
      return agent;
    };
    const aliveIds = () => manager.nodes().filter((n) => n.state === 'alive').map((n) => n.id);

    const a = await startAgent('a');
    await waitFor('a 1 s beat for one node', async () => (await gauge()) === 1, DEADLINE_MS);
    await waitFor('node a to beat every 1 s', () => a.heartbeatMs === 1000, DEADLINE_MS);
    const b = await startAgent('b');
    await waitFor('a 2 s beat for two nodes', async () => (await gauge()) === 2, DEADLINE_MS);
    assert.equal(manager.controlHeartbeatMs(), 2000);
    await waitFor('both nodes to beat every 2 s', () => a.heartbeatMs === 2000 && b.heartbeatMs === 2000, DEADLINE_MS);
    assert.ok(
      managerLog.some((l) => /^CM  .* ▶ INFO Control channel heartbeat set to 2s for 2 nodes \(max_heartbeats_per_second: 1\)$/.test(l.trimEnd())),
      managerLog.join(''),
    );

    // Idle nodes, a 2 s beat: at the configured 200 ms beat either side would have cut the channel after 600 ms
    // of silence. Over 3.5 s (almost 6 of those periods, more than one new beat) both stay connected and alive.
    const ids = [a.id, b.id];
    await sleep(3_500);
    assert.deepEqual(aliveIds().sort(), [...ids].sort());
    for (const id of ids) assert.equal(manager.controlConnected(id as string), true);
    for (const [agent, lines] of nodeLogs) {
      assert.equal(agent.state, 'admitted');
      assert.equal(lines.some((l) => l.includes('Lost the control channel')), false, lines.join(''));
    }
    assert.equal(managerLog.some((l) => l.includes('unreachable')), false, managerLog.join(''));

    // One node leaves: one node, a 1 s beat again, which the other follows; the shorter silence comes after the
    // old one (6 s) has passed, and the remaining channel survives both.
    await b.leave();
    await waitFor('a 1 s beat again', async () => (await gauge()) === 1, DEADLINE_MS);
    await waitFor('node a to beat every 1 s again', () => a.heartbeatMs === 1000, DEADLINE_MS);
    assert.ok(managerLog.some((l) => l.includes('Control channel heartbeat set to 1s for 1 node (max_heartbeats_per_second: 1)')), managerLog.join(''));
    await sleep(3_500);
    assert.equal(manager.controlConnected(a.id as string), true);
    assert.deepEqual(aliveIds(), [a.id]);
    assert.equal(managerLog.some((l) => l.includes('unreachable')), false, managerLog.join(''));
    assert.equal((nodeLogs.get(a) as string[]).some((l) => l.includes('Lost the control channel')), false);
  });
});
