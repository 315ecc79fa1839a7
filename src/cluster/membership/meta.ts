/**
 * Member metadata: what every member tells the others about itself (ARCHITECTURE.md: role, id, version,
 * addresses). The id is the member's gossip name; the rest travels as a small MessagePack map, bounded by
 * metaMaxBytes, and can be updated at any time (a new incarnation carries it).
 */
import { decode, encode } from '@msgpack/msgpack';
import { ErrorCode, KrakendError } from '../../base/errors.js';

export interface MemberMeta {
  /** `node` or `manager` (free text for later roles). */
  readonly role: string;
  /** The software version the member runs. */
  readonly version: string;
  /** Named addresses, e.g. `{ api: "10.0.0.5:8080" }`. */
  readonly addresses: Readonly<Record<string, string>>;
  /** Anything else small: config hash, zone. */
  readonly tags: Readonly<Record<string, string>>;
}

export const EMPTY_META: MemberMeta = Object.freeze({ role: '', version: '', addresses: {}, tags: {} });

/** Encodes metadata; throws E_CONFIG_INVALID when it exceeds `maxBytes` or is not made of strings. */
export function encodeMeta(meta: Partial<MemberMeta>, maxBytes: number): Uint8Array {
  const role = meta.role ?? '';
  const version = meta.version ?? '';
  const addresses = meta.addresses ?? {};
  const tags = meta.tags ?? {};
  if (typeof role !== 'string' || typeof version !== 'string' || !isStringMap(addresses) || !isStringMap(tags)) {
    throw new KrakendError(ErrorCode.ConfigInvalid, 'member metadata must be made of strings');
  }
  const bytes = encode({ r: role, v: version, a: addresses, t: tags });
  if (bytes.length > maxBytes) {
    throw new KrakendError(
      ErrorCode.ConfigInvalid,
      `member metadata is ${bytes.length} bytes, more than the ${maxBytes} allowed (metaMaxBytes)`,
    );
  }
  return bytes;
}

/** Decodes metadata from a peer; anything unreadable becomes empty fields, never an exception. */
export function decodeMeta(bytes: Uint8Array): MemberMeta {
  if (bytes.length === 0) return EMPTY_META;
  let raw: unknown;
  try {
    raw = decode(bytes, { maxStrLength: bytes.length, maxMapLength: bytes.length, maxArrayLength: bytes.length });
  } catch {
    return EMPTY_META;
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return EMPTY_META;
  const r = raw as Record<string, unknown>;
  return Object.freeze({
    role: typeof r['r'] === 'string' ? r['r'] : '',
    version: typeof r['v'] === 'string' ? r['v'] : '',
    addresses: Object.freeze(stringMap(r['a'])),
    tags: Object.freeze(stringMap(r['t'])),
  });
}

function isStringMap(v: unknown): v is Record<string, string> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  return Object.values(v).every((x) => typeof x === 'string');
}

function stringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return out;
  for (const [k, x] of Object.entries(v)) if (typeof x === 'string') out[k] = x;
  return out;
}
