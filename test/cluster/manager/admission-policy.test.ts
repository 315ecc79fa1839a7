import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  checkVersionCompatibility,
  excessNodes,
  isCounted,
  parseVersion,
} from '../../../src/cluster/manager/admission-policy.js';

describe('parseVersion', () => {
  test('reads semantic versions, with an optional v, pre-release and build metadata', () => {
    assert.deepEqual(parseVersion('1.2.3'), { major: 1, minor: 2, patch: 3, prerelease: '' });
    assert.deepEqual(parseVersion('v2.0.10'), { major: 2, minor: 0, patch: 10, prerelease: '' });
    assert.deepEqual(parseVersion('1.4.0-beta.2+build.77'), { major: 1, minor: 4, patch: 0, prerelease: 'beta.2' });
  });
  test('refuses anything else', () => {
    for (const bad of ['', '1', '1.2', '1.2.3.4', '01.2.3', '1.02.3', 'a.b.c', '1.2.3-', '1.2.3+', ' ', 'latest']) {
      assert.equal(parseVersion(bad), undefined, JSON.stringify(bad));
    }
  });
});

describe('checkVersionCompatibility (Kong\'s rule: same major, node minor <= manager minor)', () => {
  const table: Array<[node: string, manager: string, ok: boolean, why?: RegExp]> = [
    ['1.2.3', '1.2.3', true],
    ['1.2.9', '1.2.0', true],
    ['1.0.0', '1.5.0', true],
    ['1.5.0-rc.1', '1.5.0', true],
    ['1.3.0', '1.2.7', false, /newer than the manager's 1\.2\.7: upgrade the manager to 1\.3/],
    ['2.0.0', '1.9.0', false, /major versions differ/],
    ['1.9.0', '2.0.0', false, /major versions differ/],
    ['0.1.0', '0.1.4', true],
    ['banana', '1.0.0', false, /not a semantic version/],
  ];
  for (const [node, manager, ok, why] of table) {
    test(`node ${node} with manager ${manager}: ${ok ? 'served' : 'refused'}`, () => {
      const result = checkVersionCompatibility(node, manager);
      assert.equal(result.ok, ok);
      if (!result.ok && why) assert.match(result.message, why);
    });
  }
});

describe('isCounted', () => {
  test('alive and unreachable count toward max_nodes; down, removed and refused do not', () => {
    assert.deepEqual(
      (['alive', 'unreachable', 'down', 'removed', 'refused'] as const).map((s) => [s, isCounted(s)]),
      [['alive', true], ['unreachable', true], ['down', false], ['removed', false], ['refused', false]],
    );
  });
});

describe('excessNodes', () => {
  const nodes = [
    { id: 'a', admittedAt: 100 },
    { id: 'b', admittedAt: 300 },
    { id: 'c', admittedAt: 200 },
    { id: 'd', admittedAt: 400 },
  ];

  test('nothing to degrade while the count fits', () => {
    assert.deepEqual(excessNodes(nodes, 4), []);
    assert.deepEqual(excessNodes(nodes, 10), []);
  });

  test('the most recently admitted go first; the oldest keep running', () => {
    assert.deepEqual(excessNodes(nodes, 2), ['d', 'b']);
    assert.deepEqual(excessNodes(nodes, 0), ['d', 'b', 'c', 'a']);
  });

  test('unreachable nodes are degraded before any alive one, however old', () => {
    const withUnreachable = [...nodes.slice(0, 3), { id: 'd', admittedAt: 400 }, { id: 'old', admittedAt: 1, state: 'unreachable' as const }];
    assert.deepEqual(excessNodes(withUnreachable, 3), ['old', 'd']);
  });

  test('ties on admission time are broken by id, the same way every time', () => {
    const tied = [
      { id: 'x', admittedAt: 5 },
      { id: 'y', admittedAt: 5 },
      { id: 'w', admittedAt: 5 },
    ];
    assert.deepEqual(excessNodes(tied, 1), ['y', 'x']);
    assert.deepEqual(excessNodes([...tied].reverse(), 1), ['y', 'x']);
  });

  test('nodes that are not counted are ignored', () => {
    const mixed = [...nodes, { id: 'gone', admittedAt: 999, state: 'removed' as const }];
    assert.deepEqual(excessNodes(mixed, 3), ['d']);
  });
});
