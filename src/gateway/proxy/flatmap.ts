/**
 * The flatmap filter (`proxy.flatmap_filter`), after Lura's `proxy/formatter.go` (`flatmapFormatter`,
 * `NewFlatmapMiddleware`) and the tree of the flatmap library it uses (krakendio/flatmap `tree/tree.go`,
 * `tree/node.go`). Operations run in the order they are declared:
 *
 * - `{"type": "move", "args": [src, dst]}`: renames, extracts or embeds.
 * - `{"type": "del", "args": [path, …]}`: deletes each path in turn.
 * - `{"type": "append", "args": [src, dst]}`: appends the array at `src` to the array at `dst`, then deletes `src`.
 *
 * Paths are dot-separated; a segment is an object key or an array index, and `*` matches every key or index at its
 * level (nested: `a.*.b.*.c`). There is no special `collection` key: an `is_collection` backend's array is just
 * the value of the key `collection` by the time the filter runs, so `collection.*.id` reaches into it.
 *
 * The algorithm is the library's, ported operation by operation, because its rules are easy to state but have
 * corners users see (tested in test/gateway/proxy/flatmap.test.ts, where Lura's tables are ported):
 * - The body is a tree whose edges carry a key or an index as label. An array is a node flagged as a collection;
 *   when it is turned back into JSON its children are listed in order and their labels are ignored, so deleting
 *   `a.1` from a three-item array gives a two-item array.
 * - A container whose last child is removed becomes `null` (`move b.a → c` on `{"b": {"a": 1}}` leaves `b: null`;
 *   `del a.*` leaves `a: null`), while an array or object that was empty to begin with stays as it was.
 * - `move` depends on the lengths of its paths. Same length: only the last label is renamed, in place, at every
 *   node the source's prefix reaches; the destination's other segments are not read (`a.*.b1.*.c → a.*.x.*.d`
 *   renames `c` to `d`). Shorter destination (extraction): the edge is detached and re-attached under the node the
 *   destination's prefix reaches from the root, a `*` there standing for the key or index the source matched at
 *   the same level; the walk stops at the first segment that does not exist, and the edge is attached where it
 *   stopped. Longer destination (embedding): from the source's parent, the extra destination segments are found or
 *   created as objects, and the edge is attached at the end. Attaching under a scalar turns it into an object;
 *   attaching under an array adds an item to it.
 * - Only the first edge with a given label is considered at each step (labels are unique except after a collision,
 *   see below).
 * - `append` reads both values (a `*` gives an array of the matches), does nothing unless both are arrays, then
 *   writes `dst` + `src` at `dst` index by index over what is there, and deletes `src`. So `append x x` deletes `x`,
 *   and appending to an array with holes from an earlier `del` merges items into the wrong slots, as in Lura.
 * - Anything that does not match does nothing: an invalid or absent path is never an error.
 *
 * Where this differs from Lura:
 * - Order. Lura flattens objects in Go's random map order, so when a `move` renames a key onto a key that already
 *   exists, which one survives depends on that order. Here keys keep their document order and a renamed edge that
 *   lands on an existing label is moved after it, so the moved value always wins, as it does for extraction and
 *   embedding (which append the edge). Output objects keep the body's key order, renamed keys staying in place.
 * - Paths with `*` more than three levels deep: Go's `append(nap.p, label)` can share a backing array between
 *   sibling candidates, so the key an extraction's `*` stands for can come from another branch. Each candidate's
 *   path is its own here.
 * - A filter that removes every key of the root: Lura's body becomes `nil` (rendered `null`); here it is `{}`.
 *
 * Where it sits (Lura's factory.go and formatter.go):
 * - Backend level: the flatmap filter replaces `allow`, `deny` and `mapping` (ignored when a filter is set) and runs
 *   between `target` and `group`: `backendFlatmapMiddleware` does the three steps and takes the place of the entity
 *   formatter.
 * - Endpoint level: right after the merge (or sequential) stage, only when the endpoint has two or more backends.
 *   Like Lura's middleware, it leaves an errored response untouched: a partial response (one carrying `errors`) is
 *   returned as it came, without the filter applied.
 *
 * Cost and mutation: operations are compiled once. The body is never modified: the tree is built lazily, one level
 * at a time, only where an operation goes, and subtrees no operation reaches are reused as they are in the result,
 * which therefore shares structure with the input and must be treated as read-only.
 */
import { ErrorCode, KrakendError } from '../../base/errors.js';
import type { BackendConfig, ExtraConfig } from '../config/types.js';
import { isJsonObject, JsonNumber } from '../json/types.js';
import type { JsonObject, JsonValue } from '../json/types.js';
import { createEntityFormatter } from './entity-formatter.js';
import type { Middleware, Proxy, ProxyResponse } from './types.js';
import type { MergedResponse } from './merge.js';
import { isErrorDetailsResponse } from './http-proxy.js';

const NAMESPACE = 'proxy';
const KEY = 'flatmap_filter';
const WILDCARD = '*';

export type FlatmapOperation =
  | { readonly type: 'move' | 'append'; readonly args: readonly [readonly string[], readonly string[]] }
  | { readonly type: 'del'; readonly args: readonly (readonly string[])[] };

/** A compiled filter: a pure function of the body. */
export type Flatmap = (data: JsonObject) => JsonObject;

/**
 * The endpoint-level middleware (Lura's `NewFlatmapMiddleware`). Undefined when `proxy.flatmap_filter` is absent or
 * empty. Throws a KrakendError (`E_CONFIG_INVALID`) naming the key on a malformed filter. The caller adds it only
 * to endpoints with two or more backends, right after the merge or sequential stage.
 */
export function flatmapMiddleware(extra: ExtraConfig): Middleware | undefined {
  const operations = readFlatmapFilter(extra);
  if (operations === undefined) return undefined;
  const flatmap = createFlatmap(operations);
  const apply = (response: MergedResponse): MergedResponse => {
    // Lura: `if err != nil { return resp, err }`, and a partial merge comes with an error.
    if (response.stream !== undefined || (response.errors !== undefined && response.errors.length > 0)) {
      return response;
    }
    return { ...response, data: flatmap(response.data) };
  };
  return function flatmapProxyMiddleware(next: Proxy): Proxy {
    return function flatmapProxy(request, signal) {
      return next(request, signal).then(apply);
    };
  };
}

/**
 * The backend-level formatter when the backend declares `proxy.flatmap_filter` (Lura's `flatmapFormatter.Format`):
 * `target`, then the operations, then `group`; `allow`, `deny` and `mapping` are ignored. Use it instead of the
 * entity formatter. Undefined when the backend has no (or an empty) filter. Throws on a malformed filter.
 */
export function backendFlatmapMiddleware(
  backend: Pick<BackendConfig, 'extraConfig' | 'target' | 'group'>,
): Middleware | undefined {
  const operations = readFlatmapFilter(backend.extraConfig);
  if (operations === undefined) return undefined;
  const flatmap = createFlatmap(operations);
  const target = createEntityFormatter({
    target: backend.target,
    allow: [],
    deny: [],
    mapping: {},
    group: undefined,
    isCollection: false,
  });
  const group = backend.group ? backend.group : undefined;
  const apply = (response: ProxyResponse): ProxyResponse => {
    if (response.stream !== undefined || isErrorDetailsResponse(response)) return response;
    let data = target === undefined ? response.data : target(response.data);
    data = flatmap(data);
    if (group !== undefined) {
      const wrapped: JsonObject = {};
      setKey(wrapped, group, data);
      data = wrapped;
    }
    return { ...response, data };
  };
  return function backendFlatmapProxyMiddleware(next: Proxy): Proxy {
    return function backendFlatmapProxy(request, signal) {
      return next(request, signal).then(apply);
    };
  };
}

/** Reads and validates `proxy.flatmap_filter`; undefined when absent or empty. Throws on a malformed filter. */
export function readFlatmapFilter(extra: ExtraConfig): FlatmapOperation[] | undefined {
  const ns = extra[NAMESPACE];
  if (ns === undefined) return undefined;
  const problems = isJsonObject(ns) ? validateFlatmapNamespace(ns) : [`${NAMESPACE}: expected an object`];
  if (problems.length > 0) throw new KrakendError(ErrorCode.ConfigInvalid, problems.join('; '));
  const list = (ns as JsonObject)[KEY];
  if (list === undefined || (list as JsonValue[]).length === 0) return undefined;
  return (list as JsonObject[]).map((op): FlatmapOperation => {
    const args = (op.args as string[]).map((arg) => arg.split('.'));
    return op.type === 'del'
      ? { type: 'del', args }
      : { type: op.type as 'move' | 'append', args: [args[0]!, args[1]!] };
  });
}

/** Problems with `proxy.flatmap_filter` (each message starts with its key). `ns` is the namespace's object. */
export function validateFlatmapNamespace(ns: Readonly<JsonObject>): string[] {
  const list = ns[KEY];
  if (list === undefined) return [];
  const key = `${NAMESPACE}.${KEY}`;
  if (!Array.isArray(list)) return [`${key}: expected a list of operations, got ${describe(list)}`];
  const problems: string[] = [];
  list.forEach((op, i) => {
    const at = `${key}[${i}]`;
    if (!isJsonObject(op)) {
      problems.push(`${at}: expected an operation object {"type", "args"}, got ${describe(op)}`);
      return;
    }
    const { type, args } = op;
    if (type !== 'move' && type !== 'del' && type !== 'append') {
      problems.push(
        `${at}.type: ${type === undefined ? 'missing' : `unknown operation ${describe(type)}`}: ` +
          'use "move", "del" or "append"',
      );
    }
    if (!Array.isArray(args)) {
      const problem = args === undefined ? 'missing' : `expected a list of paths, got ${describe(args)}`;
      problems.push(`${at}.args: ${problem}`);
      return;
    }
    args.forEach((arg, j) => {
      if (typeof arg !== 'string') problems.push(`${at}.args[${j}]: expected a path string, got ${describe(arg)}`);
    });
    if ((type === 'move' || type === 'append') && args.length !== 2) {
      const what = type === 'move' ? '[source, destination]' : '[array to append, array appended to]';
      problems.push(`${at}.args: "${type}" takes exactly 2 paths ${what}, got ${args.length}`);
    }
    if (type === 'del' && args.length === 0) problems.push(`${at}.args: "del" takes at least one path, got none`);
  });
  return problems;
}

/** Compiles a list of operations into a pure function of the body. */
export function createFlatmap(operations: readonly FlatmapOperation[]): Flatmap {
  const ops = operations.map((op) => ({ type: op.type, args: op.args.map((a) => a.slice()) }));
  return function flatmap(data: JsonObject): JsonObject {
    const root = rawNode(data);
    for (const op of ops) {
      switch (op.type) {
        case 'move':
          move(root, op.args[0]!, op.args[1]!);
          break;
        case 'append':
          append(root, op.args[0]!, op.args[1]!);
          break;
        case 'del':
          for (const path of op.args) del(root, path, 0);
          break;
      }
    }
    const out = expand(root);
    return isJsonObject(out) ? out : {};
  };
}

// ---------------------------------------------------------------------------------------------------------------
// The tree (krakendio/flatmap tree/node.go and tree/tree.go)

interface Edge {
  label: string;
  node: Node;
}

/**
 * Go's `node`. A node is either raw (`hasRaw`: built from `raw` and not yet split into edges; `expand` returns `raw`
 * itself) or split (`edges`, `value`, `isCollection` as in Go). `value` undefined is Go's nil.
 */
interface Node {
  hasRaw: boolean;
  raw: JsonValue;
  value: JsonValue | undefined;
  isCollection: boolean;
  edges: Edge[];
}

function emptyNode(): Node {
  return { hasRaw: false, raw: null, value: undefined, isCollection: false, edges: [] };
}

/** `newNode` followed by `flatten(v)`, deferred. */
function rawNode(v: JsonValue): Node {
  return { hasRaw: true, raw: v, value: undefined, isCollection: false, edges: [] };
}

/** Splits a raw node one level down: Go's `flatten` on a new node, with the children left raw. */
function split(n: Node): Node {
  if (!n.hasRaw) return n;
  n.hasRaw = false;
  const v = n.raw;
  n.raw = null;
  if (Array.isArray(v)) {
    n.isCollection = true;
    if (v.length === 0) n.value = v;
    for (let i = 0; i < v.length; i++) n.edges.push({ label: String(i), node: rawNode(v[i]!) });
  } else if (isJsonObject(v)) {
    n.isCollection = false;
    const keys = Object.keys(v);
    if (keys.length === 0) n.value = v;
    for (const k of keys) n.edges.push({ label: k, node: rawNode(v[k]!) });
  } else {
    n.isCollection = false;
    n.value = v;
  }
  return n;
}

/** Go's `node.flatten` on a node that may already have edges (only `append` writes into existing nodes). */
function flatten(n: Node, v: JsonValue): void {
  // A node still holding exactly this value: flattening it again changes nothing.
  if (n.hasRaw && n.raw === v) return;
  split(n);
  if (Array.isArray(v)) {
    n.isCollection = true;
    if (v.length === 0) n.value = v;
    for (let i = 0; i < v.length; i++) add(n, [String(i)], 0, v[i]!);
  } else if (isJsonObject(v)) {
    n.isCollection = false;
    const keys = Object.keys(v);
    if (keys.length === 0) n.value = v;
    for (const k of keys) add(n, [k], 0, v[k]!);
  } else {
    n.isCollection = false;
    n.value = v;
  }
}

/** Go's `node.Add(ks[from:], v)`. */
function add(n: Node, ks: readonly string[], from: number, v: JsonValue): void {
  if (from === ks.length) {
    flatten(n, v);
    return;
  }
  const label = ks[from]!;
  for (const e of split(n).edges) {
    if (e.label === label) {
      add(e.node, ks, from + 1, v);
      return;
    }
  }
  const child = from + 1 === ks.length ? rawNode(v) : emptyNode();
  n.edges.push({ label, node: child });
  if (from + 1 < ks.length) add(child, ks, from + 1, v);
}

/** Go's `node.Del(ks[from:]...)`. */
function del(n: Node, ks: readonly string[], from: number): void {
  if (from === ks.length) return;
  const edges = split(n).edges;
  if (edges.length === 0) return;
  const label = ks[from]!;
  const last = from + 1 === ks.length;
  if (label === WILDCARD) {
    if (last) n.edges = [];
    else for (const e of edges) del(e.node, ks, from + 1);
    return;
  }
  for (let i = 0; i < edges.length; i++) {
    const e = edges[i]!;
    if (e.label !== label) continue;
    if (last) edges.splice(i, 1);
    else del(e.node, ks, from + 1);
    return;
  }
}

/** Go's `node.Get(ks[from:]...)`; undefined is Go's nil. */
function get(n: Node, ks: readonly string[], from: number): JsonValue | undefined {
  if (from === ks.length) return expand(n);
  const edges = split(n).edges;
  if (edges.length === 0) return undefined;
  const label = ks[from]!;
  if (label === WILDCARD) return edges.map((e) => get(e.node, ks, from + 1) ?? null);
  for (const e of edges) if (e.label === label) return get(e.node, ks, from + 1);
  return undefined;
}

/** Go's `node.expand`: the node back as JSON. Raw nodes give back the value they were built from. */
function expand(n: Node): JsonValue | undefined {
  if (n.hasRaw) return n.raw;
  const edges = n.edges;
  if (edges.length === 0) return n.value;
  if (n.isCollection) return edges.map((e) => expand(e.node) ?? null);
  const out: JsonObject = {};
  for (const e of edges) setKey(out, e.label, expand(e.node) ?? null);
  return out;
}

/** Go's `Tree.Append`. */
function append(root: Node, src: readonly string[], dst: readonly string[]): void {
  const appended = get(root, src, 0);
  if (!Array.isArray(appended)) return;
  const base = get(root, dst, 0);
  if (!Array.isArray(base)) return;
  add(root, dst, 0, base.concat(appended));
  del(root, src, 0);
}

interface Candidate {
  readonly node: Node;
  /** Labels from the root to `node`. */
  readonly path: readonly string[];
}

/** Go's `Tree.Move`. */
function move(root: Node, src: readonly string[], dst: readonly string[]): void {
  const prefixLen = src.length;
  const candidates = prefixLen > 1 ? collectCandidates(root, src, prefixLen - 1) : [{ node: root, path: [] }];
  const relabel = prefixLen === dst.length;
  const label = src[prefixLen - 1]!;
  const moved: { from: Candidate; edge: Edge }[] = [];

  for (const candidate of candidates) {
    const edges = split(candidate.node).edges;
    const i = edges.findIndex((e) => e.label === label);
    if (i < 0) continue;
    const edge = edges[i]!;
    if (relabel) {
      edge.label = dst[prefixLen - 1]!;
      // Deterministic where Lura is not (see the module comment): on a collision the renamed edge goes last.
      if (edges.some((e, j) => j !== i && e.label === edge.label)) {
        edges.splice(i, 1);
        edges.push(edge);
      }
      continue;
    }
    edges.splice(i, 1);
    moved.push({ from: candidate, edge });
  }
  if (relabel) return;

  if (prefixLen > dst.length) {
    // Extraction ("promotion" in the library).
    const newLabel = dst[dst.length - 1]!;
    for (const { from, edge } of moved) {
      let parent = root;
      for (let i = 0; i < dst.length - 1; i++) {
        const step = dst[i] === WILDCARD ? from.path[i]! : dst[i]!;
        const next = split(parent).edges.find((e) => e.label === step);
        if (next === undefined) break;
        parent = next.node;
      }
      edge.label = newLabel;
      split(parent).edges.push(edge);
    }
    return;
  }

  // Embedding: from the source's parent, find or create the extra destination segments.
  const tail = dst.slice(prefixLen - 1);
  const newLabel = tail[tail.length - 1]!;
  for (const { from, edge } of moved) {
    let parent = from.node;
    for (let i = 0; i < tail.length - 1; i++) {
      const step = tail[i]!;
      const edges = split(parent).edges;
      const next = edges.find((e) => e.label === step);
      if (next !== undefined) {
        parent = next.node;
      } else {
        const child = emptyNode();
        edges.push({ label: step, node: child });
        parent = child;
      }
    }
    edge.label = newLabel;
    split(parent).edges.push(edge);
  }
}

/** Go's `collectMoveCandidates` over `src[0:count]`: `*` takes every child, a label the first child with it. */
function collectCandidates(root: Node, src: readonly string[], count: number): Candidate[] {
  let current: Candidate[] = [{ node: root, path: [] }];
  for (let s = 0; s < count; s++) {
    const step = src[s]!;
    const next: Candidate[] = [];
    for (const c of current) {
      for (const e of split(c.node).edges) {
        if (step !== WILDCARD && e.label !== step) continue;
        next.push({ node: e.node, path: [...c.path, e.label] });
        if (step !== WILDCARD) break;
      }
    }
    current = next;
  }
  return current;
}

/** `__proto__` is an ordinary key in a JSON body; a plain assignment would set the prototype instead. */
function setKey(target: JsonObject, key: string, value: JsonValue): void {
  if (key === '__proto__') {
    Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true });
  } else {
    target[key] = value;
  }
}

function describe(value: JsonValue): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (value instanceof JsonNumber || typeof value === 'number') return `the number ${String(value)}`;
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'boolean') return String(value);
  return 'an object';
}
