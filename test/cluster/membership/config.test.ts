import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isKrakendError } from '../../../src/base/errors.js';
import { PRESETS, resolveConfig } from '../../../src/cluster/membership/config.js';

describe('membership presets and settings', () => {
  test('lan is memberlist\'s LAN configuration', () => {
    const lan = PRESETS.lan;
    assert.equal(lan.probeIntervalMs, 1000);
    assert.equal(lan.probeTimeoutMs, 500);
    assert.equal(lan.indirectChecks, 3);
    assert.equal(lan.suspicionMult, 4);
    assert.equal(lan.suspicionMaxTimeoutMult, 6);
    assert.equal(lan.retransmitMult, 4);
    assert.equal(lan.gossipIntervalMs, 200);
    assert.equal(lan.gossipNodes, 3);
    assert.equal(lan.pushPullIntervalMs, 30_000);
    assert.equal(lan.awarenessMaxMultiplier, 8);
    assert.equal(lan.packetMaxBytes, 1400);
  });

  test('local is faster than lan and valid', () => {
    const local = resolveConfig('local');
    assert.ok(local.probeIntervalMs < PRESETS.lan.probeIntervalMs);
    assert.ok(local.gossipIntervalMs < PRESETS.lan.gossipIntervalMs);
  });

  test('overrides apply on top of a preset', () => {
    const c = resolveConfig('lan', { probeIntervalMs: 2000, gossipNodes: 4 });
    assert.equal(c.probeIntervalMs, 2000);
    assert.equal(c.gossipNodes, 4);
    assert.equal(c.probeTimeoutMs, 500);
  });

  test('bad settings are refused with E_CONFIG_INVALID naming the field', () => {
    const bad: Array<[Record<string, unknown>, RegExp]> = [
      [{ probeIntervalMs: 0 }, /probeIntervalMs/],
      [{ probeTimeoutMs: 1500 }, /probeTimeoutMs/],
      [{ indirectChecks: -1 }, /indirectChecks/],
      [{ gossipNodes: 1.5 }, /gossipNodes/],
      [{ packetMaxBytes: 100 }, /packetMaxBytes/],
      [{ eventMaxDelayMs: 10 }, /eventMaxDelayMs/],
      [{ noSuchSetting: 1 }, /noSuchSetting/],
      [{ tcpFallbackPing: 'yes' }, /tcpFallbackPing/],
    ];
    for (const [overrides, pattern] of bad) {
      assert.throws(
        () => resolveConfig('lan', overrides as never),
        (err: unknown) => isKrakendError(err, 'E_CONFIG_INVALID') && pattern.test((err as Error).message),
        JSON.stringify(overrides),
      );
    }
  });
});
