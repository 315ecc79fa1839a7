import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ErrorCode, isKrakendError } from '../../../src/base/errors.js';
import { FakeClock } from '../../../src/base/fake-clock.js';
import { memoryLogger } from '../../../src/base/logger.js';
import {
  canonicalJson,
  FREE_TIER_MAX_NODES,
  generateKeyPair,
  issueLicense,
  keyId,
  LicenseKeeper,
  parseIsoDate,
  verifyLicense,
} from '../../../src/cluster/manager/license.js';
import type { LicenseFields } from '../../../src/cluster/manager/license.js';

const DAY = 24 * 60 * 60 * 1000;
const keys = generateKeyPair();
const otherKeys = generateKeyPair();

function fields(overrides: Partial<LicenseFields> = {}): LicenseFields {
  return {
    licensee: 'ACME Corp',
    license_id: 'lic-0001',
    max_nodes: 10,
    not_before: '2025-01-01',
    not_after: '2025-12-31',
    issued_at: '2024-12-20T10:00:00Z',
    ...overrides,
  };
}

const MID_2025 = Date.UTC(2025, 5, 15);
const END_2025 = Date.UTC(2025, 11, 31, 23, 59, 59, 999);

describe('canonicalJson', () => {
  test('sorts keys at every depth and writes no whitespace', () => {
    assert.equal(canonicalJson({ b: 1, a: { d: [1, { z: true, y: null }], c: 'x' } }), '{"a":{"c":"x","d":[1,{"y":null,"z":true}]},"b":1}');
  });
  test('refuses values JSON cannot carry exactly', () => {
    assert.throws(() => canonicalJson({ a: undefined }), TypeError);
    assert.throws(() => canonicalJson(Number.NaN), TypeError);
  });
});

describe('parseIsoDate', () => {
  test('a date alone is the first or last millisecond of its UTC day', () => {
    assert.equal(parseIsoDate('2025-12-31', 'start'), Date.UTC(2025, 11, 31));
    assert.equal(parseIsoDate('2025-12-31', 'end'), END_2025);
  });
  test('timestamps need a zone, and offsets are applied', () => {
    assert.equal(parseIsoDate('2025-03-01T10:00:00Z', 'start'), Date.UTC(2025, 2, 1, 10));
    assert.equal(parseIsoDate('2025-03-01T12:00:00+02:00', 'start'), Date.UTC(2025, 2, 1, 10));
    assert.equal(parseIsoDate('2025-03-01T10:00:00.250Z', 'start'), Date.UTC(2025, 2, 1, 10, 0, 0, 250));
    assert.equal(parseIsoDate('2025-03-01T10:00:00', 'start'), undefined);
  });
  test('impossible or sloppy dates are refused', () => {
    for (const bad of ['2025-02-30', '2025-13-01', '25-01-01', 'March 1, 2025', '2025-01-01T25:00:00Z', '']) {
      assert.equal(parseIsoDate(bad, 'start'), undefined, bad);
    }
  });
});

describe('issueLicense and verifyLicense', () => {
  test('a license issued with the private key verifies with the public key, fields intact', () => {
    const text = issueLicense(fields({ features: ['web-ui'] }), keys.privateKeyPem);
    const result = verifyLicense(text, keys.publicKeyPem, MID_2025);
    assert.ok(result.ok, JSON.stringify(result));
    assert.equal(result.status, 'valid');
    assert.deepEqual(result.license, fields({ features: ['web-ui'] }));
    const file = JSON.parse(text) as { signature: string; key_id: string };
    assert.equal(Buffer.from(file.signature, 'base64').length, 64);
    assert.equal(file.key_id, keyId(keys.publicKeyPem));
  });

  test('the signature covers the canonical form: reformatting the file keeps it valid', () => {
    const file = JSON.parse(issueLicense(fields(), keys.privateKeyPem)) as { license: Record<string, unknown> };
    const reordered = { signature: (file as unknown as { signature: string }).signature, license: Object.fromEntries(Object.entries(file.license).reverse()) };
    const result = verifyLicense(JSON.stringify(reordered), keys.publicKeyPem, MID_2025);
    assert.ok(result.ok, JSON.stringify(result));
  });

  test('raising max_nodes in a signed file is detected as tampering', () => {
    const file = JSON.parse(issueLicense(fields(), keys.privateKeyPem)) as { license: { max_nodes: number } };
    file.license.max_nodes = 1000;
    const result = verifyLicense(JSON.stringify(file), keys.publicKeyPem, MID_2025);
    assert.equal(result.ok, false);
    assert.ok(!result.ok && result.code === 'tampered', JSON.stringify(result));
    assert.match(!result.ok ? result.reason : '', /altered/);
  });

  test('tampering is detected even without the key id, and even when the edit makes the fields invalid', () => {
    const file = JSON.parse(issueLicense(fields(), keys.privateKeyPem)) as Record<string, any>;
    delete file['key_id'];
    file['license'].max_nodes = 'lots';
    const result = verifyLicense(JSON.stringify(file), keys.publicKeyPem, MID_2025);
    assert.ok(!result.ok && result.code === 'tampered', JSON.stringify(result));
  });

  test('a license signed with another key is refused, naming both key ids', () => {
    const text = issueLicense(fields(), otherKeys.privateKeyPem);
    const result = verifyLicense(text, keys.publicKeyPem, MID_2025);
    assert.ok(!result.ok && result.code === 'wrong_key', JSON.stringify(result));
    assert.ok(!result.ok && result.reason.includes(keyId(otherKeys.publicKeyPem)) && result.reason.includes(keyId(keys.publicKeyPem)));
  });

  test('a key id swapped to match is still caught by the signature', () => {
    const file = JSON.parse(issueLicense(fields(), otherKeys.privateKeyPem)) as Record<string, unknown>;
    file['key_id'] = keyId(keys.publicKeyPem);
    const result = verifyLicense(JSON.stringify(file), keys.publicKeyPem, MID_2025);
    assert.ok(!result.ok && result.code === 'tampered');
  });

  test('malformed files are refused with a reason, never an exception', () => {
    const good = JSON.parse(issueLicense(fields(), keys.privateKeyPem)) as Record<string, unknown>;
    const cases: Array<[string, string, RegExp]> = [
      ['not JSON', '{"license": ', /not JSON/],
      ['an array', '[]', /not a JSON object/],
      ['no license object', JSON.stringify({ signature: good['signature'] }), /no "license" object/],
      ['no signature', JSON.stringify({ license: good['license'] }), /no "signature"/],
      ['a signature that is not base64', JSON.stringify({ ...good, signature: '***' }), /not base64/],
      ['a short signature', JSON.stringify({ ...good, signature: 'AAAA' }), /3 bytes/],
      ['a huge file', ' '.repeat(70_000), /larger than/],
      ['empty', '', /not JSON/],
    ];
    for (const [name, text, reason] of cases) {
      const result = verifyLicense(text, keys.publicKeyPem, MID_2025);
      assert.ok(!result.ok && result.code === 'malformed', `${name}: ${JSON.stringify(result)}`);
      assert.match(!result.ok ? result.reason : '', reason, name);
    }
  });

  test('a configured public key that is not an Ed25519 PEM key is reported as such', () => {
    const text = issueLicense(fields(), keys.privateKeyPem);
    const result = verifyLicense(text, 'not a key', MID_2025);
    assert.ok(!result.ok && result.code === 'bad_public_key');
  });

  test('validity: not yet valid, valid through the last day, in the margin, then expired', () => {
    const text = issueLicense(fields(), keys.privateKeyPem);
    const at = (now: number) => {
      const r = verifyLicense(text, keys.publicKeyPem, now, { marginDays: 7 });
      return r.ok ? r.status : r.code;
    };
    assert.equal(at(Date.UTC(2024, 11, 31, 23, 59)), 'not_yet_valid');
    assert.equal(at(Date.UTC(2025, 0, 1)), 'valid');
    assert.equal(at(END_2025), 'valid');
    assert.equal(at(END_2025 + 1), 'expired_in_margin');
    assert.equal(at(END_2025 + 7 * DAY), 'expired_in_margin');
    assert.equal(at(END_2025 + 7 * DAY + 1), 'expired');
  });

  test('issuing refuses unusable fields and keys', () => {
    const bad: Array<Partial<LicenseFields>> = [
      { licensee: '' },
      { license_id: '  ' },
      { max_nodes: 0 },
      { max_nodes: 2.5 },
      { not_before: '2025/01/01' },
      { not_after: '2024-12-31' },
      { issued_at: 'yesterday' },
      { features: [1 as unknown as string] },
    ];
    for (const b of bad) {
      assert.throws(() => issueLicense(fields(b), keys.privateKeyPem), (err) => isKrakendError(err, ErrorCode.LicenseInvalid), JSON.stringify(b));
    }
    assert.throws(() => issueLicense(fields(), keys.publicKeyPem), (err) => isKrakendError(err, ErrorCode.LicenseInvalid));
  });
});

function keeper(options: { start?: number; marginDays?: number; publicKeyPem?: string | null } = {}) {
  const clock = new FakeClock({ epoch: options.start ?? MID_2025 });
  const { logger, lines } = memoryLogger('CM ');
  const k = new LicenseKeeper({
    publicKeyPem: options.publicKeyPem === null ? undefined : (options.publicKeyPem ?? keys.publicKeyPem),
    clock,
    logger,
    ...(options.marginDays === undefined ? {} : { marginDays: options.marginDays }),
  });
  return { keeper: k, clock, lines };
}

describe('LicenseKeeper', () => {
  test('with no license, the free tier applies: 2 nodes', () => {
    const { keeper: k } = keeper();
    assert.equal(FREE_TIER_MAX_NODES, 2);
    assert.equal(k.effectiveMaxNodes(), 2);
    assert.equal(k.state().tier, 'free');
    assert.equal(k.state().status, 'none');
  });

  test('a valid license sets the limit and is reported with the days left', () => {
    const { keeper: k, lines } = keeper();
    const outcome = k.load(issueLicense(fields(), keys.privateKeyPem), '/etc/krakend/license.json');
    assert.equal(outcome.kind, 'adopted');
    assert.equal(k.effectiveMaxNodes(), 10);
    const state = k.state();
    assert.equal(state.tier, 'licensed');
    assert.equal(state.daysLeft, Math.floor((END_2025 - MID_2025) / DAY));
    assert.ok(lines.some((l) => l.includes('INFO License lic-0001 (ACME Corp) loaded from /etc/krakend/license.json')), lines.join('\n'));
  });

  test('a bad reload keeps the last good license and logs why', () => {
    const { keeper: k, lines } = keeper();
    k.load(issueLicense(fields(), keys.privateKeyPem), 'license.json');
    const tampered = JSON.parse(issueLicense(fields({ max_nodes: 5 }), keys.privateKeyPem)) as { license: { max_nodes: number } };
    tampered.license.max_nodes = 500;
    const cases: Array<[string | undefined, string]> = [
      [undefined, 'unreadable'],
      ['{garbage', 'malformed'],
      [JSON.stringify(tampered), 'tampered'],
      [issueLicense(fields({ max_nodes: 50 }), otherKeys.privateKeyPem), 'wrong_key'],
    ];
    for (const [text, code] of cases) {
      const outcome = k.load(text, 'license.json');
      assert.ok(outcome.kind === 'rejected' && outcome.code === code, JSON.stringify(outcome));
      assert.equal(k.effectiveMaxNodes(), 10, code);
    }
    assert.ok(lines.some((l) => /ERROR license license\.json rejected: .*altered.*keeping the license lic-0001/.test(l)), lines.join('\n'));
  });

  test('the same file loaded again changes nothing', () => {
    const { keeper: k } = keeper();
    const text = issueLicense(fields(), keys.privateKeyPem);
    assert.equal(k.load(text, 'a').kind, 'adopted');
    assert.equal(k.load(text, 'a').kind, 'unchanged');
  });

  test('without a public key every license is refused and the free tier applies', () => {
    const { keeper: k } = keeper({ publicKeyPem: null });
    const outcome = k.load(issueLicense(fields(), keys.privateKeyPem), 'license.json');
    assert.ok(outcome.kind === 'rejected' && outcome.code === 'bad_public_key');
    assert.equal(k.effectiveMaxNodes(), FREE_TIER_MAX_NODES);
  });

  test('a smaller license is adopted, with a warning that the limit drops', () => {
    const { keeper: k, lines } = keeper();
    k.load(issueLicense(fields(), keys.privateKeyPem), 'license.json');
    const outcome = k.load(issueLicense(fields({ license_id: 'lic-0002', max_nodes: 4 }), keys.privateKeyPem), 'license.json');
    assert.equal(outcome.kind, 'adopted');
    assert.equal(k.effectiveMaxNodes(), 4);
    assert.ok(lines.some((l) => l.includes('WARNING') && l.includes('drops from 10 to 4')), lines.join('\n'));
  });

  test('a license smaller than the free tier still allows the free tier', () => {
    const { keeper: k } = keeper();
    k.load(issueLicense(fields({ max_nodes: 1 }), keys.privateKeyPem), 'license.json');
    assert.equal(k.effectiveMaxNodes(), FREE_TIER_MAX_NODES);
  });

  test('expiry: counts through the margin with daily warnings, then the free tier applies', () => {
    const { keeper: k, clock, lines } = keeper({ start: END_2025 - 2 * DAY, marginDays: 7 });
    k.load(issueLicense(fields(), keys.privateKeyPem), 'license.json');
    assert.equal(lines.filter((l) => l.includes('WARNING') && l.includes('expires on 2025-12-31')).length, 1);
    k.tick();
    assert.equal(lines.filter((l) => l.includes('expires on')).length, 1, 'no repeat within a day');

    clock.advance(2 * DAY + 1000); // past not_after
    const state = k.tick();
    assert.equal(state.status, 'expired_in_margin');
    assert.equal(state.tier, 'licensed');
    assert.equal(k.effectiveMaxNodes(), 10);
    assert.equal(state.daysLeft, -1);
    assert.equal(state.marginDaysLeft, 6);
    const marginWarnings = () => lines.filter((l) => l.includes('still honoured')).length;
    assert.equal(marginWarnings(), 1);
    clock.advance(DAY / 2);
    k.tick();
    assert.equal(marginWarnings(), 1, 'at most daily');
    clock.advance(DAY / 2);
    k.tick();
    assert.equal(marginWarnings(), 2, 'again the next day');

    clock.advance(6 * DAY);
    const expired = k.tick();
    assert.equal(expired.status, 'expired');
    assert.equal(expired.tier, 'free');
    assert.equal(k.effectiveMaxNodes(), FREE_TIER_MAX_NODES);
    assert.ok(lines.some((l) => l.includes('ERROR') && l.includes('margin is over')), lines.join('\n'));
  });

  test('the margin is configurable, zero included', () => {
    const { keeper: k } = keeper({ start: END_2025 + 1000, marginDays: 0 });
    k.load(issueLicense(fields(), keys.privateKeyPem), 'license.json');
    assert.equal(k.effectiveMaxNodes(), FREE_TIER_MAX_NODES);
    assert.equal(k.state().status, 'expired');
  });

  test('an already expired file does not replace a license that still counts', () => {
    const { keeper: k } = keeper();
    k.load(issueLicense(fields(), keys.privateKeyPem), 'license.json');
    const old = issueLicense(fields({ license_id: 'old', max_nodes: 50, not_before: '2023-01-01', not_after: '2023-12-31' }), keys.privateKeyPem);
    const outcome = k.load(old, 'license.json');
    assert.ok(outcome.kind === 'rejected' && outcome.code === 'expired');
    assert.equal(k.effectiveMaxNodes(), 10);
  });

  test('a renewal that starts later waits, then takes over at its start with no reload', () => {
    const { keeper: k, clock, lines } = keeper({ start: END_2025 - 3 * DAY });
    k.load(issueLicense(fields(), keys.privateKeyPem), 'license.json');
    const renewal = issueLicense(fields({ license_id: 'lic-2026', max_nodes: 20, not_before: '2026-01-01', not_after: '2026-12-31' }), keys.privateKeyPem);
    const outcome = k.load(renewal, 'license.json');
    assert.equal(outcome.kind, 'pending');
    assert.equal(k.effectiveMaxNodes(), 10);
    assert.equal(k.state().pending?.license_id, 'lic-2026');
    clock.advance(3 * DAY + 1);
    assert.equal(k.effectiveMaxNodes(), 20, 'counts from its start even before tick');
    k.tick();
    assert.equal(k.state().license?.license_id, 'lic-2026');
    assert.ok(lines.some((l) => l.includes('lic-2026') && l.includes('takes effect')));
  });

  test('a license not yet valid with nothing else in force leaves the free tier until it starts', () => {
    const { keeper: k, clock } = keeper({ start: Date.UTC(2024, 11, 30) });
    assert.equal(k.load(issueLicense(fields(), keys.privateKeyPem), 'license.json').kind, 'adopted');
    assert.equal(k.effectiveMaxNodes(), FREE_TIER_MAX_NODES);
    clock.advance(2 * DAY);
    assert.equal(k.effectiveMaxNodes(), 10);
  });

  test('a restart restores the current license and a pending renewal from what persistable() returned', () => {
    const { keeper: k } = keeper({ start: END_2025 - 3 * DAY });
    k.load(issueLicense(fields(), keys.privateKeyPem), 'license.json');
    const renewal = fields({ license_id: 'lic-2026', max_nodes: 20, not_before: '2026-01-01', not_after: '2026-12-31' });
    k.load(issueLicense(renewal, keys.privateKeyPem), 'license.json');
    const saved = k.persistable();
    assert.ok(saved.current && saved.pending);

    const { keeper: restarted, clock } = keeper({ start: END_2025 - 2 * DAY });
    assert.equal(restarted.load(saved.current, 'store').kind, 'adopted');
    assert.equal(restarted.load(saved.pending, 'store').kind, 'pending');
    assert.equal(restarted.effectiveMaxNodes(), 10);
    clock.advance(3 * DAY);
    assert.equal(restarted.effectiveMaxNodes(), 20);
  });

  test('a daily reload of an unchanged file gives the daily expiry warning', () => {
    const { keeper: k, clock, lines } = keeper({ start: END_2025 + DAY });
    const text = issueLicense(fields(), keys.privateKeyPem);
    k.load(text, 'license.json');
    clock.advance(DAY);
    assert.equal(k.load(text, 'license.json').kind, 'unchanged');
    assert.equal(lines.filter((l) => l.includes('still honoured')).length, 2, lines.join('\n'));
  });
});
