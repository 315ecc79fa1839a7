import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { resolveManagerConfig } from '../../../src/cluster/manager/manager-config.js';
import { tempDir } from '../../helpers/cluster.js';

/** An empty config file of the test's own, so a host's /etc/krakend/cluster-manager.yml never leaks in. */
function configFile(text = ''): string {
  const path = join(tempDir('cm-config-'), 'cluster-manager.yml');
  writeFileSync(path, text);
  return path;
}

describe('max_heartbeats_per_second', () => {
  test('defaults to 100', async () => {
    const r = await resolveManagerConfig([], { KRAKEND_CM_CONFIG: configFile() });
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.config.maxHeartbeatsPerSecond, 100);
  });

  test('is read from the file, the environment and the flag, each overriding the one before; 0 turns it off', async () => {
    const file = configFile('max_heartbeats_per_second: 250\n');
    const fromFile = await resolveManagerConfig([], { KRAKEND_CM_CONFIG: file });
    assert.ok(fromFile.ok, JSON.stringify(fromFile));
    assert.equal(fromFile.config.maxHeartbeatsPerSecond, 250);
    const fromEnv = await resolveManagerConfig([], { KRAKEND_CM_CONFIG: file, KRAKEND_CM_MAX_HEARTBEATS_PER_SECOND: '40' });
    assert.ok(fromEnv.ok, JSON.stringify(fromEnv));
    assert.equal(fromEnv.config.maxHeartbeatsPerSecond, 40);
    const fromFlag = await resolveManagerConfig(['--max-heartbeats-per-second', '0'], { KRAKEND_CM_CONFIG: file, KRAKEND_CM_MAX_HEARTBEATS_PER_SECOND: '40' });
    assert.ok(fromFlag.ok, JSON.stringify(fromFlag));
    assert.equal(fromFlag.config.maxHeartbeatsPerSecond, 0);
  });

  test('anything but a whole number, 0 or more, is refused with a message naming where it came from', async () => {
    const cases: Array<[argv: string[], env: Record<string, string>, where: string, shown: string]> = [
      [['--max-heartbeats-per-second', '-1'], {}, '--max-heartbeats-per-second', '"-1"'],
      [['--max-heartbeats-per-second=1.5'], {}, '--max-heartbeats-per-second', '"1.5"'],
      [[], { KRAKEND_CM_MAX_HEARTBEATS_PER_SECOND: 'many' }, 'KRAKEND_CM_MAX_HEARTBEATS_PER_SECOND', '"many"'],
      [[], { KRAKEND_CM_MAX_HEARTBEATS_PER_SECOND: '' }, 'KRAKEND_CM_MAX_HEARTBEATS_PER_SECOND', '""'],
      [[], { KRAKEND_CM_MAX_HEARTBEATS_PER_SECOND: '1e3' }, 'KRAKEND_CM_MAX_HEARTBEATS_PER_SECOND', '"1e3"'],
    ];
    for (const [argv, env, where, shown] of cases) {
      const r = await resolveManagerConfig(argv, { KRAKEND_CM_CONFIG: configFile(), ...env });
      assert.equal(r.ok, false, `${argv.join(' ')} ${JSON.stringify(env)}`);
      if (r.ok) continue;
      assert.deepEqual(r.errors, [`${where}: a whole number (0 or more) expected, got ${shown}`]);
    }
    const file = configFile('max_heartbeats_per_second: 2.5\n');
    const r = await resolveManagerConfig([], { KRAKEND_CM_CONFIG: file });
    assert.equal(r.ok, false);
    if (!r.ok) assert.deepEqual(r.errors, [`${file}: max_heartbeats_per_second: a whole number (0 or more) expected, got 2.5`]);
  });
});
