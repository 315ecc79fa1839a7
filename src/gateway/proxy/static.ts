/**
 * The static proxy, after Lura's `proxy/static.go` (`NewStaticMiddleware`): merges a fixed object (`proxy.static.data`)
 * into the endpoint's response when the outcome of the stack below matches the configured `strategy`. It sits
 * outermost in the endpoint's stack (Lura's factory.go applies it last, after merge and flatmap).
 *
 * What counts as an error: Lura's proxies return `(response, err)`. Here a rejection is an error, and so is a
 * response that carries `errors` (a partial merge or sequence, which Lura returns together with a `mergeError`).
 *
 * | strategy     | merges the data when (Lura's matcher)                          |
 * |--------------|----------------------------------------------------------------|
 * | `always`     | always                                                         |
 * | `success`    | no error (`err == nil`), complete or not                       |
 * | `complete`   | no error and the response is complete                          |
 * | `errored`    | an error: a rejection or a partial response                    |
 * | `incomplete` | no response (a rejection) or an incomplete one                 |
 *
 * - Merge: a shallow merge at the root in which the static data wins every collision (Lura writes each static key
 *   into `result.Data`). Existing keys keep their position, new keys come after them.
 * - A matching rejection: Lura builds `&Response{Data: {}}` and returns it together with the error, and the router
 *   logs the error and renders the response (status 200, `X-KrakenD-Completed: false`). Here the promise resolves
 *   with the static data, `isComplete: false`, empty metadata (status 0, as a merged response) and `errors` holding
 *   the error, or each backend's error for a MergeError (the router logs each, as Lura's does for a multi-error).
 *   The error is therefore surfaced for logging but no longer fails the request.
 * - A matching response keeps its `isComplete`, metadata and `errors`; only `data` is replaced by a new object.
 * - No match: the response, or the rejection, passes through untouched.
 * - A streamed (`no-op`) response passes through untouched: it has no data to merge into.
 *
 * Config: Lura silently disables the middleware when `data` is not an object, and treats a missing, non-string or
 * unknown `strategy` as `always`. Here a missing `strategy` is `always` too, but every bad shape is a config error,
 * so that a typo such as `"strategy": "erorred"` cannot silently turn into `always`.
 *
 * The static data is copied and deep-frozen when the middleware is built: every response shares it, so a
 * consumer that tried to modify it would corrupt other requests; a frozen object makes that fail loudly instead.
 *
 * This module also hosts `validateProxyNamespace`, the loader's entry point for the whole `proxy` namespace.
 */
import { ErrorCode, KrakendError } from '../../base/errors.js';
import type { ExtraConfig } from '../config/types.js';
import { isJsonObject, JsonNumber } from '../json/types.js';
import type { JsonObject, JsonValue } from '../json/types.js';
import { validateFlatmapNamespace } from './flatmap.js';
import { isMergeError } from './merge.js';
import type { MergedResponse, MergeProxy } from './merge.js';
import { validateSequentialNamespace } from './sequential.js';
import type { Middleware, Proxy, ProxyRequest } from './types.js';

/** The `extra_config` namespace shared by static, flatmap and sequential. */
export const PROXY_NAMESPACE = 'proxy';

export const STATIC_STRATEGIES = ['always', 'success', 'complete', 'errored', 'incomplete'] as const;
export type StaticStrategy = (typeof STATIC_STRATEGIES)[number];

export interface StaticConfig {
  readonly strategy: StaticStrategy;
  /** Deep-frozen. */
  readonly data: Readonly<JsonObject>;
}

/**
 * Builds the static middleware of an endpoint from its `extra_config`. Returns undefined when `proxy.static` is
 * absent. Throws a KrakendError (`E_CONFIG_INVALID`) naming the key when the namespace is malformed.
 */
export function staticMiddleware(extra: ExtraConfig): Middleware | undefined {
  const config = readStaticConfig(extra);
  if (config === undefined) return undefined;
  const { data, strategy } = config;

  const merge = (response: MergedResponse): MergedResponse =>
    response.stream !== undefined ? response : { ...response, data: mergeStatic(response.data, data) };

  const fromError = (err: unknown): MergedResponse => ({
    data: mergeStatic({}, data),
    isComplete: false,
    metadata: { statusCode: 0, headers: {} },
    errors: isMergeError(err) ? [...err.errors] : [err],
  });

  const onAnswer = (response: MergedResponse): MergedResponse => {
    const errored = response.errors !== undefined && response.errors.length > 0;
    return matches(strategy, response, errored) ? merge(response) : response;
  };
  const onError = (err: unknown): MergedResponse => {
    if (matches(strategy, undefined, true)) return fromError(err);
    throw err;
  };

  return function staticProxyMiddleware(next: Proxy): Proxy {
    const inner = next as MergeProxy;
    return function staticProxy(request: ProxyRequest, signal: AbortSignal): Promise<MergedResponse> {
      return inner(request, signal).then(onAnswer, onError);
    };
  };
}

/**
 * Lura's matchers (`staticAlwaysMatch` …). `response` is undefined for a rejection, where `errored` is true.
 * Exported for the matcher tables of the tests.
 */
export function matches(strategy: StaticStrategy, response: MergedResponse | undefined, errored: boolean): boolean {
  switch (strategy) {
    case 'always':
      return true;
    case 'success':
      return !errored;
    case 'errored':
      return errored;
    case 'complete':
      return !errored && response !== undefined && response.isComplete;
    case 'incomplete':
      return response === undefined || !response.isComplete;
  }
}

/** Reads and validates `proxy.static`; undefined when absent. Throws on a malformed namespace. */
export function readStaticConfig(extra: ExtraConfig): StaticConfig | undefined {
  const ns = extra[PROXY_NAMESPACE];
  if (ns === undefined) return undefined;
  const problems = validateStaticNamespace(ns);
  if (problems.length > 0) throw configError(problems);
  if (!isJsonObject(ns) || ns.static === undefined) return undefined;
  const raw = ns.static as JsonObject;
  return {
    strategy: (raw.strategy ?? 'always') as StaticStrategy,
    data: freezeCopy(raw.data as JsonObject) as JsonObject,
  };
}

/** Problems with `proxy.static` (each message starts with the key it is about). `ns` is the namespace's value. */
export function validateStaticNamespace(ns: JsonValue): string[] {
  if (!isJsonObject(ns)) return [`${PROXY_NAMESPACE}: expected an object, got ${describe(ns)}`];
  const raw = ns.static;
  if (raw === undefined) return [];
  const key = `${PROXY_NAMESPACE}.static`;
  if (!isJsonObject(raw)) return [`${key}: expected an object with "data" and "strategy", got ${describe(raw)}`];
  const problems: string[] = [];
  if (raw.data === undefined) {
    problems.push(`${key}.data: missing: the object to merge into the response`);
  } else if (!isJsonObject(raw.data)) {
    problems.push(`${key}.data: expected an object (merged at the root of the response), got ${describe(raw.data)}`);
  }
  const strategy = raw.strategy;
  if (strategy !== undefined) {
    if (typeof strategy !== 'string') {
      problems.push(`${key}.strategy: expected a string, got ${describe(strategy)}`);
    } else if (!(STATIC_STRATEGIES as readonly string[]).includes(strategy)) {
      problems.push(`${key}.strategy: unknown strategy "${strategy}": use one of ${STATIC_STRATEGIES.join(', ')}`);
    }
  }
  return problems;
}

/**
 * Every problem in an `extra_config`'s `proxy` namespace: `static`, `flatmap_filter`, `sequential`,
 * `sequential_propagated_params` and `combiner`. Empty when the namespace is absent or valid. Each message starts
 * with the key it is about (`proxy.static.strategy: …`); the loader adds the file and JSON path.
 */
export function validateProxyNamespace(extra: ExtraConfig): string[] {
  const ns = extra[PROXY_NAMESPACE];
  if (ns === undefined) return [];
  if (!isJsonObject(ns)) return [`${PROXY_NAMESPACE}: expected an object, got ${describe(ns)}`];
  return [...validateStaticNamespace(ns), ...validateFlatmapNamespace(ns), ...validateSequentialNamespace(ns)];
}

/** A new object: `base`'s keys in their order with static values winning, then the static keys `base` lacks. */
function mergeStatic(base: JsonObject, data: Readonly<JsonObject>): JsonObject {
  const out: JsonObject = {};
  for (const key of Object.keys(base)) setKey(out, key, base[key]!);
  for (const key of Object.keys(data)) setKey(out, key, data[key]!);
  return out;
}

function freezeCopy(value: JsonValue): JsonValue {
  if (Array.isArray(value)) return Object.freeze(value.map(freezeCopy)) as JsonValue[];
  if (value instanceof JsonNumber) return Object.freeze(new JsonNumber(value.text));
  if (isJsonObject(value)) {
    const out: JsonObject = {};
    for (const key of Object.keys(value)) setKey(out, key, freezeCopy(value[key]!));
    return Object.freeze(out);
  }
  return value;
}

/** `__proto__` is an ordinary key in a JSON body; a plain assignment would set the prototype instead. */
function setKey(target: JsonObject, key: string, value: JsonValue): void {
  if (key === '__proto__') {
    Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true });
  } else {
    target[key] = value;
  }
}

function configError(problems: readonly string[]): KrakendError {
  return new KrakendError(ErrorCode.ConfigInvalid, problems.join('; '));
}

function describe(value: JsonValue): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (value instanceof JsonNumber || typeof value === 'number') return `the number ${String(value)}`;
  if (typeof value === 'string') return `the string ${JSON.stringify(value)}`;
  if (typeof value === 'boolean') return String(value);
  return 'an object';
}
