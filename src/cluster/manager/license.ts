/**
 * Subscription licenses: signed JSON files that set how many nodes a cluster may run.
 *
 * A license file is
 * ```json
 * { "license": { "licensee": "ACME", "license_id": "…", "max_nodes": 10, "not_before": "2025-01-01",
 *                "not_after": "2025-12-31", "issued_at": "2024-12-20T10:00:00Z", "features": ["…"] },
 *   "signature": "<base64 Ed25519 signature over canonicalJson(license)>",
 *   "key_id": "<fingerprint of the signing key, a diagnostic hint only>" }
 * ```
 * Only `license` is signed; `key_id` (optional) lets a verifier tell "signed by another key" from "altered after
 * signing", which Ed25519 alone cannot. Dates are ISO 8601: a full timestamp with `Z` or an offset, or a date alone,
 * in which case `not_before` starts at 00:00 UTC of that day and `not_after` ends at 23:59:59.999 UTC of that day.
 *
 * Pure functions (generate, issue, verify) plus {@link LicenseKeeper}, which holds the last good license for the
 * manager and answers "how many nodes now?". What a smaller or expired license does to running nodes is decided in
 * admission-policy.ts and documented in docs/cluster-manager.md.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import type { Clock } from '../../base/clock.js';
import { ErrorCode, KrakendError } from '../../base/errors.js';
import type { Logger } from '../../base/logger.js';

/**
 * Nodes a manager admits with no valid license. Two, because the quick start (`npm start`: one manager, two nodes)
 * and any evaluation of clustering — config distribution, cluster-wide rate limits shared between nodes, one node
 * failing while the other serves — needs two nodes, while a production fleet with redundancy needs more and so a
 * license. Also the floor: a license for fewer nodes than this still allows this many.
 */
export const FREE_TIER_MAX_NODES = 2;

/** Days after `not_after` during which an expired license still counts (with a daily warning). */
export const DEFAULT_EXPIRY_MARGIN_DAYS = 7;

/** Days before `not_after` from which the keeper warns daily that the license is about to expire. */
export const DEFAULT_WARN_BEFORE_DAYS = 30;

/** License files larger than this are refused unread: a license is a few hundred bytes. */
export const MAX_LICENSE_BYTES = 64 * 1024;

const DAY_MS = 24 * 60 * 60 * 1000;

/** The signed part of a license file. */
export interface LicenseFields {
  readonly licensee: string;
  readonly license_id: string;
  /** Nodes counted toward the subscription (`alive` + `unreachable`) that may run at once. */
  readonly max_nodes: number;
  /** ISO 8601 date or timestamp. */
  readonly not_before: string;
  /** ISO 8601 date or timestamp; a date alone means the end of that day, UTC. */
  readonly not_after: string;
  readonly issued_at: string;
  readonly features?: readonly string[];
}

export type LicenseStatus = 'valid' | 'not_yet_valid' | 'expired_in_margin' | 'expired';

/** Why a license file was refused. `reason` is a sentence for logs and the API; `code` is for branching. */
export type LicenseFailureCode = 'malformed' | 'tampered' | 'wrong_key' | 'bad_public_key' | 'unreadable';

export type VerifyResult =
  | { readonly ok: true; readonly license: LicenseFields; readonly status: LicenseStatus }
  | { readonly ok: false; readonly code: LicenseFailureCode; readonly reason: string };

export interface KeyPair {
  readonly publicKeyPem: string;
  readonly privateKeyPem: string;
}

/** A new Ed25519 key pair, PEM encoded (SPKI public key, PKCS#8 private key). */
export function generateKeyPair(): KeyPair {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  return {
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

/**
 * JSON with object keys sorted (by UTF-16 code units, recursively) and no whitespace: the bytes that are signed.
 * Throws a TypeError on values JSON cannot represent exactly (undefined, functions, non-finite numbers).
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError('canonical JSON cannot hold a non-finite number');
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v)).join(',')}]`;
  if (typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    const keys = Object.keys(obj).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
  }
  throw new TypeError(`canonical JSON cannot hold a ${typeof value}`);
}

/** A short, stable fingerprint of an Ed25519 public key: the first 16 hex digits of SHA-256 over its SPKI DER. */
export function keyId(publicKeyPem: string): string {
  const der = createPublicKey(publicKeyPem).export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('hex').slice(0, 16);
}

/**
 * Signs `fields` and returns the license file text (indented JSON, final newline). Throws E_LICENSE_INVALID when a
 * field is missing or wrong (so an issuer can never produce a file verifiers call malformed) or when the private
 * key is not an Ed25519 PEM key.
 */
export function issueLicense(fields: LicenseFields, privateKeyPem: string): string {
  const problem = checkFields(fields);
  if (problem) throw new KrakendError(ErrorCode.LicenseInvalid, `cannot issue the license: ${problem}`);
  let key: KeyObject;
  try {
    key = createPrivateKey(privateKeyPem);
  } catch (err) {
    throw new KrakendError(ErrorCode.LicenseInvalid, `the private key is not a PEM key: ${(err as Error).message}`, {
      cause: err,
    });
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new KrakendError(ErrorCode.LicenseInvalid, `the private key is ${key.asymmetricKeyType}, not ed25519`);
  }
  // Copy only the known fields, so the file holds exactly what was checked.
  const license: LicenseFields = {
    licensee: fields.licensee,
    license_id: fields.license_id,
    max_nodes: fields.max_nodes,
    not_before: fields.not_before,
    not_after: fields.not_after,
    issued_at: fields.issued_at,
    ...(fields.features === undefined ? {} : { features: [...fields.features] }),
  };
  const signature = sign(null, Buffer.from(canonicalJson(license), 'utf8'), key).toString('base64');
  const publicPem = createPublicKey(key).export({ type: 'spki', format: 'pem' }).toString();
  return JSON.stringify({ license, signature, key_id: keyId(publicPem) }, null, 2) + '\n';
}

/**
 * Verifies a license file against the configured public key and tells where `now` (wall ms) falls in its validity.
 * The signature is checked before the fields, so any edit of a signed file reads as `tampered`, whatever it made of
 * the fields. Never throws.
 */
export function verifyLicense(
  text: string,
  publicKeyPem: string,
  now: number,
  options: { marginDays?: number } = {},
): VerifyResult {
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey(publicKeyPem);
  } catch (err) {
    return fail('bad_public_key', `the configured public key is not a PEM public key: ${(err as Error).message}`);
  }
  if (publicKey.asymmetricKeyType !== 'ed25519') {
    return fail('bad_public_key', `the configured public key is ${publicKey.asymmetricKeyType}, not ed25519`);
  }
  const parsed = parseLicenseFile(text);
  if (!parsed.ok) return parsed;
  const { license, signature, key_id: fileKeyId } = parsed.file;

  const expectedKeyId = keyId(publicKeyPem);
  if (fileKeyId !== undefined && fileKeyId !== expectedKeyId) {
    return fail(
      'wrong_key',
      `the license was signed with another key (key id ${fileKeyId}; the configured public key is ${expectedKeyId})`,
    );
  }
  let signedOk: boolean;
  try {
    signedOk = verify(null, Buffer.from(canonicalJson(license), 'utf8'), publicKey, signature);
  } catch {
    signedOk = false;
  }
  if (!signedOk) {
    return fail(
      'tampered',
      fileKeyId === undefined
        ? 'the signature does not match: the license was altered after signing, or signed with another key'
        : 'the signature does not match: the license was altered after it was signed',
    );
  }
  const problem = checkFields(license);
  if (problem) return fail('malformed', `the signed license is not usable: ${problem}`);
  const fields = license as unknown as LicenseFields;
  return { ok: true, license: fields, status: licenseStatus(fields, now, options.marginDays) };
}

/** A license file's parts, read without verifying anything: for `license inspect` and for verifyLicense. */
export interface LicenseFileParts {
  readonly license: Record<string, unknown>;
  readonly signature: Buffer;
  readonly key_id: string | undefined;
}

/** Parses the envelope of a license file (not the license fields, not the signature's validity). */
export function parseLicenseFile(
  text: string,
): { ok: true; file: LicenseFileParts } | { ok: false; code: 'malformed'; reason: string } {
  if (typeof text !== 'string') return fail('malformed', 'the license is not text');
  if (Buffer.byteLength(text, 'utf8') > MAX_LICENSE_BYTES) {
    return fail('malformed', `the license file is larger than ${MAX_LICENSE_BYTES} bytes`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return fail('malformed', `the license file is not JSON: ${(err as Error).message}`);
  }
  if (!isPlainObject(raw)) return fail('malformed', 'the license file is not a JSON object');
  const license = raw['license'];
  const signature = raw['signature'];
  const kid = raw['key_id'];
  if (!isPlainObject(license)) return fail('malformed', 'the license file has no "license" object');
  if (typeof signature !== 'string' || signature.length === 0) {
    return fail('malformed', 'the license file has no "signature" string');
  }
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(signature)) return fail('malformed', 'the signature is not base64');
  const sig = Buffer.from(signature, 'base64');
  if (sig.length !== 64) return fail('malformed', `the signature is ${sig.length} bytes; an Ed25519 signature is 64`);
  if (kid !== undefined && typeof kid !== 'string') return fail('malformed', '"key_id" is not a string');
  return { ok: true, file: { license, signature: sig, key_id: kid } };
}

/** Where `now` falls: before `not_before`, inside, after `not_after` but within the margin, or past it. */
export function licenseStatus(
  license: LicenseFields,
  now: number,
  marginDays: number = DEFAULT_EXPIRY_MARGIN_DAYS,
): LicenseStatus {
  const notBefore = parseIsoDate(license.not_before, 'start');
  const notAfter = parseIsoDate(license.not_after, 'end');
  if (notBefore === undefined || notAfter === undefined) return 'expired';
  if (now < notBefore) return 'not_yet_valid';
  if (now <= notAfter) return 'valid';
  if (now <= notAfter + marginDays * DAY_MS) return 'expired_in_margin';
  return 'expired';
}

/**
 * Parses an ISO 8601 date (`2025-12-31`) or timestamp with a zone (`2025-12-31T23:00:00Z`, `…+02:00`) into
 * epoch ms. A date alone is the first (`start`) or last (`end`) millisecond of that UTC day. Anything else,
 * including impossible dates such as February 30, is undefined: Date.parse accepts far too much.
 */
export function parseIsoDate(text: string, dateOnlyMeans: 'start' | 'end'): number | undefined {
  if (typeof text !== 'string') return undefined;
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2}))?$/.exec(text);
  if (!m) return undefined;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const dayStart = Date.UTC(year, month - 1, day);
  const check = new Date(dayStart);
  if (check.getUTCFullYear() !== year || check.getUTCMonth() !== month - 1 || check.getUTCDate() !== day) {
    return undefined;
  }
  if (m[4] === undefined) return dateOnlyMeans === 'start' ? dayStart : dayStart + DAY_MS - 1;
  const [hour, minute, second] = [Number(m[4]), Number(m[5]), Number(m[6] ?? '0')];
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  const millis = m[7] === undefined ? 0 : Math.floor(Number(`0.${m[7]}`) * 1000);
  let offsetMinutes = 0;
  const zone = m[8] as string;
  if (zone !== 'Z') {
    const oh = Number(zone.slice(1, 3));
    const om = Number(zone.slice(4, 6));
    if (oh > 23 || om > 59) return undefined;
    offsetMinutes = (zone[0] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  return dayStart + ((hour * 60 + minute) * 60 + second) * 1000 + millis - offsetMinutes * 60_000;
}

/** The first problem with a license's fields, or undefined when they are usable. */
function checkFields(fields: unknown): string | undefined {
  if (!isPlainObject(fields)) return 'the license is not an object';
  for (const name of ['licensee', 'license_id'] as const) {
    const v = fields[name];
    if (typeof v !== 'string' || v.trim() === '') return `"${name}" must be a non-empty string`;
  }
  const max = fields['max_nodes'];
  if (typeof max !== 'number' || !Number.isSafeInteger(max) || max < 1) {
    return '"max_nodes" must be a positive integer';
  }
  for (const name of ['not_before', 'not_after', 'issued_at'] as const) {
    const v = fields[name];
    if (typeof v !== 'string' || parseIsoDate(v, 'start') === undefined) {
      return `"${name}" must be an ISO 8601 date (2025-12-31) or timestamp with a zone (2025-12-31T23:00:00Z)`;
    }
  }
  const from = parseIsoDate(fields['not_before'] as string, 'start') as number;
  const to = parseIsoDate(fields['not_after'] as string, 'end') as number;
  if (to < from) return '"not_after" is before "not_before"';
  const features = fields['features'];
  if (features !== undefined && (!Array.isArray(features) || !features.every((f) => typeof f === 'string'))) {
    return '"features" must be a list of strings';
  }
  return undefined;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function fail<C extends LicenseFailureCode>(code: C, reason: string): { ok: false; code: C; reason: string } {
  return { ok: false, code, reason };
}

// ---------------------------------------------------------------------------------------------------------------
// LicenseKeeper

export interface LicenseKeeperOptions {
  /** The PEM public key licenses must be signed with; without one every license is refused (free tier). */
  readonly publicKeyPem: string | undefined;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Days after `not_after` during which the license still counts. Default 7. */
  readonly marginDays?: number;
  /** Days before `not_after` from which a daily warning announces the expiry. Default 30. */
  readonly warnBeforeDays?: number;
  /** Nodes allowed without a usable license. Default {@link FREE_TIER_MAX_NODES}. */
  readonly freeTierMaxNodes?: number;
}

/** What `load` did with a file. */
export type LicenseLoadOutcome =
  /** The file is now the current license. `text` is what to persist (e.g. in the Store) as the last good one. */
  | { readonly kind: 'adopted'; readonly license: LicenseFields; readonly status: LicenseStatus; readonly text: string }
  /**
   * A verified license that starts later while the current one is still usable: kept aside, it takes over at its
   * `not_before` with no further reload. `text` is what to persist.
   */
  | { readonly kind: 'pending'; readonly license: LicenseFields; readonly text: string }
  /** The same license as the current (or pending) one: nothing changed. */
  | { readonly kind: 'unchanged' }
  /** Refused: the current license (or the free tier) stays. The reason has been logged. */
  | { readonly kind: 'rejected'; readonly code: LicenseFailureCode | 'expired' | 'older'; readonly reason: string };

/** The keeper's answer to "what applies now?", for the API and `/metrics`. */
export interface LicenseState {
  /** `licensed` when a license is in force (valid or within its expiry margin), else `free`. */
  readonly tier: 'licensed' | 'free';
  /** Nodes that may be counted now: the license's `max_nodes` (at least the free tier), or the free tier. */
  readonly maxNodes: number;
  /** Status of the license in force or on file; `none` when there is none. */
  readonly status: LicenseStatus | 'none';
  readonly license: LicenseFields | undefined;
  /** Where the license came from (a path, `store`), as given to `load`. */
  readonly source: string | undefined;
  /** Wall ms of the license's last valid instant. */
  readonly expiresAt: number | undefined;
  /** Whole days until `not_after` (0 on its last day; negative once past it). For a `/metrics` gauge. */
  readonly daysLeft: number | undefined;
  /** Whole days left in the expiry margin, once past `not_after`; undefined before. */
  readonly marginDaysLeft: number | undefined;
  /** A verified license waiting for its `not_before`. */
  readonly pending: LicenseFields | undefined;
}

interface Held {
  readonly license: LicenseFields;
  readonly text: string;
  readonly signature: string;
  readonly source: string;
}

type WarningKind = 'not_yet_valid' | 'expiring' | 'margin' | 'expired';

/**
 * Holds the manager's license: the last good one, a pending renewal, and the free tier when there is none.
 * It reads no file and sets no timer: the caller reads the file (at start, daily, on SIGHUP, when it changes) and
 * passes the text to `load`, and calls `tick` now and then (every minute is fine) for promotions and warnings.
 *
 * Tolerance: a missing, unreadable, malformed, tampered or wrongly signed new file never replaces a good license —
 * the keeper logs why and keeps what it has. A verified license replaces the current one unless it is worse right
 * now (an expired file while the current one still counts is refused; one that starts later waits as `pending`).
 * A smaller license is adopted: the operator chose it (see docs/cluster-manager.md for what happens to the
 * nodes above the new limit).
 */
export class LicenseKeeper {
  private readonly publicKeyPem: string | undefined;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly marginDays: number;
  private readonly warnBeforeDays: number;
  private readonly freeTier: number;
  private current: Held | undefined;
  private pending: Held | undefined;
  private lastWarning: { kind: WarningKind; at: number; licenseId: string } | undefined;

  constructor(options: LicenseKeeperOptions) {
    this.publicKeyPem = options.publicKeyPem;
    this.clock = options.clock;
    this.logger = options.logger;
    this.marginDays = options.marginDays ?? DEFAULT_EXPIRY_MARGIN_DAYS;
    this.warnBeforeDays = options.warnBeforeDays ?? DEFAULT_WARN_BEFORE_DAYS;
    this.freeTier = options.freeTierMaxNodes ?? FREE_TIER_MAX_NODES;
    const bad = !(this.marginDays >= 0) || !(this.warnBeforeDays >= 0) || !Number.isSafeInteger(this.freeTier);
    if (bad || this.freeTier < 0) {
      throw new KrakendError(ErrorCode.ConfigInvalid, 'license margin, warning days and free tier must be >= 0');
    }
  }

  /**
   * Offers a license file's text (`undefined` when it could not be read) from `source` (a path, or `store` for
   * the copy persisted by the manager). Logs what it did, then runs `tick` (so a daily reload also gives the daily
   * expiry warnings); never throws.
   */
  load(text: string | undefined, source: string): LicenseLoadOutcome {
    const now = this.clock.now();
    const outcome = this.offer(text, source, now);
    this.tick(now);
    return outcome;
  }

  private offer(text: string | undefined, source: string, now: number): LicenseLoadOutcome {
    this.promote(now);
    if (text === undefined) {
      return this.reject('unreadable', `cannot read the license from ${source}`);
    }
    if (this.publicKeyPem === undefined) {
      return this.reject('bad_public_key', `license ${source} ignored: no license public key is configured`);
    }
    const result = verifyLicense(text, this.publicKeyPem, now, { marginDays: this.marginDays });
    if (!result.ok) return this.reject(result.code, `license ${source} rejected: ${result.reason}`);

    const parts = parseLicenseFile(text) as { ok: true; file: LicenseFileParts };
    const signature = parts.file.signature.toString('base64');
    if (this.current?.signature === signature || this.pending?.signature === signature) {
      this.logger.debug(`license ${source} unchanged (${result.license.license_id})`);
      return { kind: 'unchanged' };
    }
    const held: Held = { license: result.license, text, signature, source };
    const currentRank = this.current ? rank(this.statusOf(this.current.license, now)) : 0;
    const newRank = rank(result.status);

    if (newRank < currentRank) {
      if (result.status === 'not_yet_valid') {
        this.pending = held;
        this.logger.info(
          `License ${describe(result.license)} from ${source} starts on ${result.license.not_before}; ` +
            `${this.describeCurrent(now)} applies until then`,
        );
        return { kind: 'pending', license: result.license, text };
      }
      const reason =
        result.status === 'expired'
          ? `license ${source} (${result.license.license_id}) expired on ${result.license.not_after}`
          : `license ${source} (${result.license.license_id}) is past its end date while the current one is not`;
      return this.reject(result.status === 'expired' ? 'expired' : 'older', reason);
    }

    const before = this.effectiveMaxNodes(now);
    const previous = this.current;
    this.current = held;
    // The file is the operator's intent: a renewal waiting from an earlier file is dropped with it.
    this.pending = undefined;
    this.lastWarning = undefined;
    const after = this.effectiveMaxNodes(now);
    const line =
      `License ${describe(result.license)} loaded from ${source}: up to ${result.license.max_nodes} nodes, ` +
      `valid from ${result.license.not_before} to ${result.license.not_after} (${result.status.replace(/_/g, ' ')})`;
    if (after < before) {
      this.logger.warning(
        `${line}; the node limit drops from ${before} to ${after}: nodes above it, the most recently admitted ` +
          'first, will be told to degrade',
      );
    } else if (previous === undefined) {
      this.logger.info(line);
    } else {
      this.logger.info(`${line}, replacing ${previous.license.license_id}`);
    }
    return { kind: 'adopted', license: result.license, status: result.status, text };
  }

  /** Nodes that may be counted at `now`. Pure: a pending license counts from its `not_before` even before `tick`. */
  effectiveMaxNodes(now: number = this.clock.now()): number {
    const inForce = this.inForce(now);
    return inForce ? Math.max(this.freeTier, inForce.license.max_nodes) : this.freeTier;
  }

  /** The situation at `now`, for the API and `/metrics`. */
  state(now: number = this.clock.now()): LicenseState {
    const held = this.inForce(now) ?? this.current;
    const maxNodes = this.effectiveMaxNodes(now);
    if (!held) {
      return {
        tier: 'free',
        maxNodes,
        status: 'none',
        license: undefined,
        source: undefined,
        expiresAt: undefined,
        daysLeft: undefined,
        marginDaysLeft: undefined,
        pending: this.pending?.license,
      };
    }
    const status = this.statusOf(held.license, now);
    const expiresAt = parseIsoDate(held.license.not_after, 'end') as number;
    const marginEnd = expiresAt + this.marginDays * DAY_MS;
    return {
      tier: status === 'valid' || status === 'expired_in_margin' ? 'licensed' : 'free',
      maxNodes,
      status,
      license: held.license,
      source: held.source,
      expiresAt,
      daysLeft: Math.floor((expiresAt - now) / DAY_MS),
      marginDaysLeft: now > expiresAt ? Math.max(0, Math.floor((marginEnd - now) / DAY_MS)) : undefined,
      pending: held === this.pending ? undefined : this.pending?.license,
    };
  }

  /**
   * Housekeeping to call periodically: promotes a pending license whose time has come, and logs expiry warnings —
   * at once when the situation changes, then at most once a day (WARNING within the last `warnBeforeDays` and in
   * the margin, ERROR once expired). Returns the current state.
   */
  tick(now: number = this.clock.now()): LicenseState {
    this.promote(now);
    const state = this.state(now);
    const license = state.license;
    let kind: WarningKind | undefined;
    if (license) {
      if (state.status === 'not_yet_valid') kind = 'not_yet_valid';
      else if (state.status === 'expired_in_margin') kind = 'margin';
      else if (state.status === 'expired') kind = 'expired';
      else if ((state.daysLeft ?? Infinity) < this.warnBeforeDays) kind = 'expiring';
    }
    if (!license || !kind) {
      this.lastWarning = undefined;
      return state;
    }
    const last = this.lastWarning;
    if (last && last.kind === kind && last.licenseId === license.license_id && now - last.at < DAY_MS) return state;
    this.lastWarning = { kind, at: now, licenseId: license.license_id };
    const id = describe(license);
    switch (kind) {
      case 'not_yet_valid':
        this.logger.warning(
          `License ${id} is not valid before ${license.not_before}: ` +
            `the free tier (${this.freeTier} nodes) applies until then`,
        );
        break;
      case 'expiring':
        this.logger.warning(
          `License ${id} expires on ${license.not_after} (` +
            `${state.daysLeft === 0 ? 'less than a day' : `${state.daysLeft} days`} left): renew it to keep ` +
            `${license.max_nodes} nodes`,
        );
        break;
      case 'margin':
        this.logger.warning(
          `License ${id} expired on ${license.not_after}; it is still honoured for ${state.marginDaysLeft} more ` +
            `days, then the limit drops to the free tier (${this.freeTier} nodes)`,
        );
        break;
      case 'expired':
        this.logger.error(
          `License ${id} expired on ${license.not_after} and its ${this.marginDays}-day margin is over: the free ` +
            `tier (${this.freeTier} nodes) applies`,
        );
        break;
    }
    return state;
  }

  /**
   * The texts to persist so that a restart restores the keeper: the current license and a pending renewal. Load
   * them back (current first, then pending) before the file: `load(current, 'store')`, `load(pending, 'store')`.
   * Persisting only the last adopted-or-pending text would lose the current license when a renewal is pending.
   */
  persistable(): { readonly current: string | undefined; readonly pending: string | undefined } {
    return { current: this.current?.text, pending: this.pending?.text };
  }

  private inForce(now: number): Held | undefined {
    for (const held of [this.pending, this.current]) {
      if (!held) continue;
      const s = this.statusOf(held.license, now);
      if (s === 'valid' || s === 'expired_in_margin') return held;
    }
    return undefined;
  }

  private promote(now: number): void {
    if (!this.pending) return;
    const s = this.statusOf(this.pending.license, now);
    if (s === 'not_yet_valid') return;
    const pending = this.pending;
    this.pending = undefined;
    this.current = pending;
    this.lastWarning = undefined;
    this.logger.info(
      `License ${describe(pending.license)} takes effect: up to ${pending.license.max_nodes} nodes until ` +
        `${pending.license.not_after}`,
    );
  }

  private statusOf(license: LicenseFields, now: number): LicenseStatus {
    return licenseStatus(license, now, this.marginDays);
  }

  private describeCurrent(now: number): string {
    const held = this.inForce(now);
    return held
      ? `the license ${describe(held.license)} (${this.effectiveMaxNodes(now)} nodes)`
      : `the free tier (${this.freeTier} nodes)`;
  }

  private reject(code: LicenseFailureCode | 'expired' | 'older', message: string): LicenseLoadOutcome {
    const keeping = `keeping ${this.describeCurrent(this.clock.now())}`;
    this.logger.error(`${message}; ${keeping}`);
    return { kind: 'rejected', code, reason: message };
  }
}

function rank(status: LicenseStatus): number {
  return status === 'valid' ? 2 : status === 'expired_in_margin' ? 1 : 0;
}

function describe(license: LicenseFields): string {
  return `${license.license_id} (${license.licensee})`;
}
