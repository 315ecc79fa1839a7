/**
 * A structural diff of two JSON documents, for `config diff N M` and `config apply --dry-run`: what an operator
 * reads before a push, one line per leaf that changed.
 *
 * - Objects are compared key by key, arrays index by index; a value whose type changes (object → array, string →
 *   number) is one `changed` entry for the whole value.
 * - Exception: the top-level `endpoints` array of a krakend.json is matched by each endpoint's `METHOD path` (the
 *   gateway's stable endpoint id), so inserting one endpoint shows one `added` entry instead of every later
 *   endpoint as changed. Such an element's path is `endpoints[GET /users/{id}]`. When the endpoints cannot be keyed
 *   (an element that is not an object or has no `endpoint` string, or two elements with one key) the array is
 *   diffed by index like any other. A pure reordering of endpoints is reported as one `changed` entry on the path
 *   `endpoints` whose before/after are the keys in their old and new order (order changes the hash, so it shows).
 * - Numbers are compared by their exact text (`1.0` ≠ `1`): the values come from `parseJson`, which keeps big and
 *   non-canonical numbers as JsonNumber.
 *
 * Paths read like JavaScript: `endpoints[3].backend[0].url_pattern`; a key that is not identifier-like is quoted,
 * `extra_config["qos/ratelimit/router"].max_rate`. The root itself is the empty path.
 *
 * Values are the documents' own values (not copies). To send entries as JSON, encode them with `encodeJson` (which
 * writes a JsonNumber as its text), not JSON.stringify. Configs hold secrets, and so do their diffs.
 */
import { encodeJson } from '../../gateway/json/encode.js';
import { JsonNumber, isJsonObject } from '../../gateway/json/types.js';
import type { JsonObject, JsonValue } from '../../gateway/json/types.js';

export type DiffKind = 'added' | 'removed' | 'changed';

export interface DiffEntry {
  /** `endpoints[GET /users].backend[0].url_pattern`; `''` for the root. */
  readonly path: string;
  readonly kind: DiffKind;
  /** Present for `removed` and `changed`. */
  readonly before?: JsonValue;
  /** Present for `added` and `changed`. */
  readonly after?: JsonValue;
}

/** The changes that turn `a` into `b`, in document order (b's order, removals where they stood in a). */
export function diffJson(a: JsonValue, b: JsonValue): DiffEntry[] {
  const out: DiffEntry[] = [];
  diffValue(a, b, '', out, true);
  return out;
}

/** Longest rendering of one value in {@link formatDiff}, in characters, ellipsis included. */
export const MAX_VALUE_CHARS = 120;

/**
 * One line per entry: `+ path: value`, `- path: value`, `~ path: before → after`, values as compact JSON cut to
 * {@link MAX_VALUE_CHARS} characters. The root path prints as `(root)`. No entries: the empty string.
 */
export function formatDiff(entries: readonly DiffEntry[]): string {
  return entries
    .map((e) => {
      const path = e.path === '' ? '(root)' : e.path;
      switch (e.kind) {
        case 'added':
          return `+ ${path}: ${renderValue(e.after)}`;
        case 'removed':
          return `- ${path}: ${renderValue(e.before)}`;
        default:
          return `~ ${path}: ${renderValue(e.before)} → ${renderValue(e.after)}`;
      }
    })
    .join('\n');
}

function renderValue(value: JsonValue | undefined): string {
  let text: string;
  try {
    text = value === undefined ? 'undefined' : encodeJson(value);
  } catch (err) {
    text = `<unencodable: ${(err as Error).message}>`;
  }
  return text.length > MAX_VALUE_CHARS ? `${text.slice(0, MAX_VALUE_CHARS - 1)}…` : text;
}

// ---------------------------------------------------------------------------------------------------------------

type Kind = 'object' | 'array' | 'scalar';

function kindOf(v: JsonValue): Kind {
  if (Array.isArray(v)) return 'array';
  return isJsonObject(v) ? 'object' : 'scalar';
}

function sameScalar(a: JsonValue, b: JsonValue): boolean {
  if (a === b) return true;
  // A JsonNumber and a number (or two JsonNumbers) are equal when they are written the same.
  const an = typeof a === 'number' || a instanceof JsonNumber;
  const bn = typeof b === 'number' || b instanceof JsonNumber;
  if (an && bn) return encodeJson(a) === encodeJson(b);
  return false;
}

function diffValue(a: JsonValue, b: JsonValue, path: string, out: DiffEntry[], top: boolean): void {
  const ka = kindOf(a);
  const kb = kindOf(b);
  if (ka !== kb) {
    out.push({ path, kind: 'changed', before: a, after: b });
    return;
  }
  if (ka === 'scalar') {
    if (!sameScalar(a, b)) out.push({ path, kind: 'changed', before: a, after: b });
    return;
  }
  if (ka === 'array') {
    diffArray(a as JsonValue[], b as JsonValue[], path, out);
    return;
  }
  diffObject(a as JsonObject, b as JsonObject, path, out, top);
}

function diffObject(a: JsonObject, b: JsonObject, path: string, out: DiffEntry[], top: boolean): void {
  for (const key of Object.keys(b)) {
    const p = joinKey(path, key);
    if (!Object.hasOwn(a, key)) {
      out.push({ path: p, kind: 'added', after: b[key] as JsonValue });
      continue;
    }
    if (top && key === 'endpoints' && Array.isArray(a[key]) && Array.isArray(b[key])) {
      diffEndpoints(a[key] as JsonValue[], b[key] as JsonValue[], p, out);
      continue;
    }
    diffValue(a[key] as JsonValue, b[key] as JsonValue, p, out, false);
  }
  for (const key of Object.keys(a)) {
    if (!Object.hasOwn(b, key)) out.push({ path: joinKey(path, key), kind: 'removed', before: a[key] as JsonValue });
  }
}

function diffArray(a: readonly JsonValue[], b: readonly JsonValue[], path: string, out: DiffEntry[]): void {
  const common = Math.min(a.length, b.length);
  for (let i = 0; i < common; i++) diffValue(a[i] as JsonValue, b[i] as JsonValue, `${path}[${i}]`, out, false);
  for (let i = common; i < b.length; i++) out.push({ path: `${path}[${i}]`, kind: 'added', after: b[i] as JsonValue });
  for (let i = common; i < a.length; i++) {
    out.push({ path: `${path}[${i}]`, kind: 'removed', before: a[i] as JsonValue });
  }
}

/** `METHOD path` of each endpoint, or undefined when the array cannot be keyed uniquely. */
function endpointKeys(items: readonly JsonValue[]): string[] | undefined {
  const keys: string[] = [];
  const seen = new Set<string>();
  for (const item of items) {
    if (!isJsonObject(item) || typeof item['endpoint'] !== 'string') return undefined;
    const method = item['method'];
    if (method !== undefined && typeof method !== 'string') return undefined;
    const key = `${(method ?? 'GET').toUpperCase()} ${item['endpoint']}`;
    if (seen.has(key)) return undefined;
    seen.add(key);
    keys.push(key);
  }
  return keys;
}

function diffEndpoints(a: readonly JsonValue[], b: readonly JsonValue[], path: string, out: DiffEntry[]): void {
  const ka = endpointKeys(a);
  const kb = endpointKeys(b);
  if (!ka || !kb) {
    diffArray(a, b, path, out);
    return;
  }
  const indexA = new Map(ka.map((k, i) => [k, i]));
  const inB = new Set(kb);
  for (let j = 0; j < b.length; j++) {
    const key = kb[j] as string;
    const p = `${path}[${renderEndpointKey(key)}]`;
    const i = indexA.get(key);
    if (i === undefined) out.push({ path: p, kind: 'added', after: b[j] as JsonValue });
    else diffValue(a[i] as JsonValue, b[j] as JsonValue, p, out, false);
  }
  for (let i = 0; i < a.length; i++) {
    const key = ka[i] as string;
    if (inB.has(key)) continue;
    out.push({ path: `${path}[${renderEndpointKey(key)}]`, kind: 'removed', before: a[i] as JsonValue });
  }
  // Order: the endpoints both sides have, in each side's order.
  const before = ka.filter((k) => inB.has(k));
  const after = kb.filter((k) => indexA.has(k));
  if (before.some((k, i) => k !== after[i])) out.push({ path, kind: 'changed', before, after });
}

/** The gateway's own rule for its issue paths (load.ts), so both kinds of path read alike. */
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Printable ASCII without brackets: shown as is inside `[...]`. */
const PLAIN_ENDPOINT_KEY = /^[\x20-\x5a\x5c\x5e-\x7e]+$/;

function joinKey(path: string, key: string): string {
  if (IDENTIFIER.test(key)) return path === '' ? key : `${path}.${key}`;
  return `${path}[${JSON.stringify(key)}]`;
}

function renderEndpointKey(key: string): string {
  return PLAIN_ENDPOINT_KEY.test(key) && !key.startsWith('"') ? key : JSON.stringify(key);
}
