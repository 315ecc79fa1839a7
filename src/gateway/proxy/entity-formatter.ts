/**
 * The backend entity formatter, after Lura's `proxy/formatter.go` (`entityFormatter.Format`): reshapes one backend's
 * decoded body before it is merged with the others. The steps run in Lura's order:
 *
 *   target → allow | deny → mapping → group
 *
 * - `target` ("a.b"): the object at that path becomes the body; a missing key or a value that is not an object
 *   gives `{}` (Lura's `extractTarget`).
 * - `allow` (dot paths): keeps only the listed leaves. A nested object is kept only if something inside it is kept;
 *   a path that runs into a non-object drops that key (Lura's `AllowlistPrune`).
 * - `deny` (dot paths, any depth): removes the listed keys; parents that end up empty stay as `{}` (Lura's
 *   `buildDenyTree`/`recDelete`). When both lists are set, `allow` wins and `deny` is ignored, as in
 *   `NewEntityFormatter` (`if len(AllowList) > 0 … else deny`); KrakenD's docs say not to combine them.
 * - `mapping`: renames top-level keys only. Lura splits each new name at the first dot and keeps the head
 *   (`sanitizedMappings[i] = strings.Split(m, ".")[0]`), and looks the old name up literally, so
 *   `{"a.b": "a.c"}` renames a top-level key named "a.b" to "a" and never reaches into `a`. A renamed key
 *   overwrites an existing key of the new name.
 * - `group`: wraps the body as `{[group]: body}`, also when the body is empty.
 *
 * Arrays are never entered: paths walk objects only, as KrakenD documents. A backend declared with `is_collection`
 * reaches the formatter already wrapped as `{collection: [...]}` by the decoder; the formatter gives `collection` no
 * special treatment (formatter.go never mentions it), so `mapping: {collection: "items"}` renames it and
 * `allow: ["collection"]` keeps it, exactly as for any other key.
 *
 * Where this deliberately differs from Lura, because Lura ranges over a Go map and its result depends on the
 * iteration order:
 * - Renames are simultaneous: every new key takes the value its old key had before any rename, so chains
 *   (`a→b, b→c`) and swaps (`a→b, b→a`) are deterministic. When two old keys map to one new key, the later one
 *   in the config wins.
 * - A mapping onto itself (`{"a": "a"}`, or `{"a": "a.x"}` after the split) is a no-op; Lura deletes the key.
 *
 * Mutation: the formatter never writes to the object it is given nor to anything inside it, so a body shared
 * with a cache or another consumer is safe to pass. It copies only the levels it changes; the rest of the result
 * shares structure with the input (a deny that matches nothing returns the input itself), so callers must treat
 * the result as read-only too.
 */
import type { BackendConfig } from '../config/types.js';
import type { JsonObject, JsonValue } from '../json/types.js';
import { isJsonObject } from '../json/types.js';
import type { Middleware, Proxy, ProxyResponse } from './types.js';
import { isErrorDetailsResponse } from './http-proxy.js';

export type EntityFormatterOptions = Pick<
  BackendConfig,
  'target' | 'allow' | 'deny' | 'mapping' | 'group' | 'isCollection'
>;

export type EntityFormatter = (data: JsonObject) => JsonObject;

/**
 * Compiles the backend's formatting options once. Returns undefined when none is set, so the caller can skip the
 * step entirely.
 */
export function createEntityFormatter(backend: EntityFormatterOptions): EntityFormatter | undefined {
  // `isCollection` is deliberately not read: the decoder has already wrapped the array (see the module comment).
  const target = backend.target ? backend.target.split('.') : undefined;
  const allow = backend.allow.length > 0 ? compileAllow(backend.allow) : undefined;
  const deny = allow === undefined && backend.deny.length > 0 ? compileDeny(backend.deny) : undefined;
  const mapping = compileMapping(backend.mapping);
  const group = backend.group ? backend.group : undefined;

  if (!target && !allow && !deny && !mapping && group === undefined) return undefined;

  return function formatEntity(data: JsonObject): JsonObject {
    let out = data;
    if (target) out = extractTarget(target, out);
    if (allow) out = keepAllowed(allow, out) ?? {};
    else if (deny) out = removeDenied(deny, out);
    if (mapping) out = rename(mapping, out);
    if (group !== undefined) {
      const wrapped: JsonObject = {};
      setKey(wrapped, group, out);
      out = wrapped;
    }
    return out;
  };
}

/**
 * A middleware that formats the `data` of every response of the proxy it wraps. Returns the proxy unchanged when
 * the backend declares no formatting. Streamed (`no-op`) responses pass untouched, as in Lura where the no-op
 * response parser has no formatter.
 */
export function formatterMiddleware(backend: EntityFormatterOptions): Middleware {
  const format = createEntityFormatter(backend);
  if (format === undefined) return passThrough;

  // Hoisted so a request allocates no closure; a new response object keeps the one from `next` unmodified.
  const apply = (response: ProxyResponse): ProxyResponse => {
    // return_error_details responses are not the backend's data: Lura never reshapes them.
    if (response.stream !== undefined || isErrorDetailsResponse(response)) return response;
    const data = format(response.data);
    return data === response.data ? response : { ...response, data };
  };
  return function entityFormatterMiddleware(next: Proxy): Proxy {
    return function formattedProxy(request, signal) {
      return next(request, signal).then(apply);
    };
  };
}

function passThrough(next: Proxy): Proxy {
  return next;
}

/**
 * One level of a compiled path list. `next[i]` is the level below `keys[i]`, or undefined when `keys[i]` is a leaf
 * (for allow: keep the whole value; for deny: remove the key). Parallel arrays so the hot path iterates without
 * allocating.
 */
interface PathLevel {
  readonly keys: readonly string[];
  readonly next: readonly (PathLevel | undefined)[];
}

/** Build-time tree: `true` marks a leaf. */
type PathTree = Map<string, PathTree | true>;

/**
 * As Lura's `buildDictPath`: a later, deeper path replaces an earlier leaf on its way down, and a later leaf
 * replaces an earlier subtree. So the list order matters when one entry is a prefix of another: `["a", "a.b"]` keeps
 * only `a.b`, while `["a.b", "a"]` keeps all of `a`.
 */
function compileAllow(paths: readonly string[]): PathLevel {
  const root: PathTree = new Map();
  for (const path of paths) {
    const parts = path.split('.');
    let node = root;
    for (let i = 0; i < parts.length - 1; i++) {
      const child = node.get(parts[i]!);
      if (child instanceof Map) {
        node = child;
      } else {
        const created: PathTree = new Map();
        node.set(parts[i]!, created);
        node = created;
      }
    }
    node.set(parts[parts.length - 1]!, true);
  }
  return toLevel(root);
}

/** As Lura's `buildDenyTree`: removing a key removes its subtree, so the shallower entry wins whatever the order. */
function compileDeny(paths: readonly string[]): PathLevel {
  const root: PathTree = new Map();
  for (const path of paths) {
    const parts = path.split('.');
    let node = root;
    for (let i = 0; i < parts.length; i++) {
      const key = parts[i]!;
      if (i === parts.length - 1) {
        node.set(key, true);
        break;
      }
      const child = node.get(key);
      if (child === true) break;
      if (child instanceof Map) {
        node = child;
      } else {
        const created: PathTree = new Map();
        node.set(key, created);
        node = created;
      }
    }
  }
  return toLevel(root);
}

function toLevel(tree: PathTree): PathLevel {
  const keys: string[] = [];
  const next: (PathLevel | undefined)[] = [];
  for (const [key, child] of tree) {
    keys.push(key);
    next.push(child === true ? undefined : toLevel(child));
  }
  return { keys, next };
}

interface Mapping {
  /** Old names, in config order. */
  readonly from: readonly string[];
  /** New names, parallel to `from`. */
  readonly to: readonly string[];
  readonly renamed: ReadonlySet<string>;
}

function compileMapping(mapping: Readonly<Record<string, string>>): Mapping | undefined {
  const from: string[] = [];
  const to: string[] = [];
  for (const oldName of Object.keys(mapping)) {
    const newName = mapping[oldName]!.split('.')[0]!;
    if (newName === oldName) continue;
    from.push(oldName);
    to.push(newName);
  }
  return from.length === 0 ? undefined : { from, to, renamed: new Set(from) };
}

function extractTarget(path: readonly string[], data: JsonObject): JsonObject {
  let current = data;
  for (const part of path) {
    const value = hasOwn(current, part) ? current[part] : undefined;
    if (!isJsonObject(value)) return {};
    current = value;
  }
  return current;
}

/**
 * Returns the allowed part of `data` as new objects (allowed leaves are shared, not copied), or undefined when
 * nothing survives. Keys come out in allow-list order: walking the list rather than the body keeps the cost
 * proportional to the config, whatever the size of the response.
 */
function keepAllowed(level: PathLevel, data: JsonObject): JsonObject | undefined {
  let out: JsonObject | undefined;
  const { keys, next } = level;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    if (!hasOwn(data, key)) continue;
    const value = data[key]!;
    const below = next[i];
    let kept: JsonValue | undefined = value;
    if (below !== undefined) kept = isJsonObject(value) ? keepAllowed(below, value) : undefined;
    if (kept === undefined) continue;
    out ??= {};
    setKey(out, key, kept);
  }
  return out;
}

const REMOVED: unique symbol = Symbol('removed');

/** Returns `data` itself when no denied key is present, else a copy of the levels that change, in body order. */
function removeDenied(level: PathLevel, data: JsonObject): JsonObject {
  let changes: Map<string, JsonValue | typeof REMOVED> | undefined;
  const { keys, next } = level;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    if (!hasOwn(data, key)) continue;
    const below = next[i];
    if (below === undefined) {
      (changes ??= new Map()).set(key, REMOVED);
      continue;
    }
    const value = data[key]!;
    if (!isJsonObject(value)) continue;
    const filtered = removeDenied(below, value);
    if (filtered !== value) (changes ??= new Map()).set(key, filtered);
  }
  if (changes === undefined) return data;

  const out: JsonObject = {};
  for (const key in data) {
    if (!hasOwn(data, key)) continue;
    const change = changes.get(key);
    if (change === undefined) setKey(out, key, data[key]!);
    else if (change !== REMOVED) setKey(out, key, change);
  }
  return out;
}

/** Returns `data` itself when no old name is present. Kept keys stay in body order; renamed keys follow them. */
function rename(mapping: Mapping, data: JsonObject): JsonObject {
  const { from, to, renamed } = mapping;
  let hit = false;
  for (let i = 0; i < from.length; i++) {
    if (hasOwn(data, from[i]!)) {
      hit = true;
      break;
    }
  }
  if (!hit) return data;

  const out: JsonObject = {};
  for (const key in data) {
    if (hasOwn(data, key) && !renamed.has(key)) setKey(out, key, data[key]!);
  }
  for (let i = 0; i < from.length; i++) {
    if (hasOwn(data, from[i]!)) setKey(out, to[i]!, data[from[i]!]!);
  }
  return out;
}

/**
 * Bodies come from JSON, where `__proto__` and `constructor` are ordinary keys: lookups must check own properties
 * (`data["toString"]` would find Object.prototype's), and a plain assignment to `__proto__` would set the prototype
 * instead of adding the key.
 */
function hasOwn(object: JsonObject, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(object, key);
}

function setKey(object: JsonObject, key: string, value: JsonValue): void {
  if (key === '__proto__') {
    Object.defineProperty(object, key, { value, writable: true, enumerable: true, configurable: true });
  } else {
    object[key] = value;
  }
}
