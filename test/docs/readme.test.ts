import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { MANAGER_KEYS } from '../../src/cluster/manager/manager-config.js';

const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');

test('the README documents every Cluster Manager setting with its flag and environment variable', () => {
  for (const k of MANAGER_KEYS) {
    assert.ok(readme.includes(`\`${k.key}\``), `README lacks the key ${k.key}`);
    assert.ok(readme.includes(`\`${k.flag}\``), `README lacks the flag ${k.flag}`);
    assert.ok(readme.includes(`\`${k.env}\``), `README lacks the variable ${k.env}`);
  }
});

test('the README names the one command that runs the tests and the one that starts a local cluster', () => {
  assert.match(readme, /```sh\nnpm test\n```/);
  assert.match(readme, /```sh\nnpm start\n```/);
});
