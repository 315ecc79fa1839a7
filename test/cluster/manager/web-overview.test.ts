/** The overview's license warning: a sentence when the license needs attention, null otherwise. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { expiryWarning } from '../../../src/cluster/manager/web/overview.js';
import type { LicenseState } from '../../../src/cluster/manager/license.js';

const fields = { licensee: 'ACME', license_id: 'l1', max_nodes: 10, not_before: '2026-01-01', not_after: '2026-12-31', issued_at: '2025-12-01T00:00:00Z' };

function license(over: Partial<LicenseState>): LicenseState {
  return { tier: 'licensed', maxNodes: 10, status: 'valid', license: fields, source: 'x', expiresAt: 0, daysLeft: 100, marginDaysLeft: undefined, pending: undefined, ...over };
}

describe('expiryWarning', () => {
  test('no warning for the free tier or a license with more than 30 days left', () => {
    assert.equal(expiryWarning(license({ tier: 'free', status: 'none', license: undefined, daysLeft: undefined, maxNodes: 2 })), null);
    assert.equal(expiryWarning(license({ daysLeft: 31 })), null);
  });

  test('a warning from 30 days before expiry, through the margin, and once expired', () => {
    assert.equal(expiryWarning(license({ daysLeft: 30 })), 'The license expires in 30 days (2026-12-31).');
    assert.equal(expiryWarning(license({ daysLeft: 1 })), 'The license expires in 1 day (2026-12-31).');
    assert.equal(expiryWarning(license({ daysLeft: 0 })), 'The license expires today (2026-12-31).');
    assert.match(expiryWarning(license({ status: 'expired_in_margin', daysLeft: -2, marginDaysLeft: 5 }))!, /expired on 2026-12-31; 5 days left in the grace margin/);
    assert.match(expiryWarning(license({ tier: 'free', status: 'expired', daysLeft: -40, maxNodes: 2 }))!, /expired on 2026-12-31: the cluster runs on the free tier \(2 nodes\)/);
    assert.match(expiryWarning(license({ status: 'not_yet_valid' }))!, /not valid before 2026-01-01/);
  });
});
