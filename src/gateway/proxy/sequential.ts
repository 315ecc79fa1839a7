/**
 * The sequential proxy (`"proxy": {"sequential": true}`), after Lura's `proxy/merging.go` (`sequentialMerge` and the
 * replacements built in `NewMergeDataMiddleware`): the backends of an endpoint are called one after the other, and a
 * backend's `url_pattern` can read values from the responses of the backends before it as `{resp<i>_<path>}`
 * (`{resp0_user.id}` reads `user.id` of backend 0's response, after that backend's own formatting).
 *
 * Params. Before calling backend i, each `{respJ_path}` of its url_pattern is resolved against backend J's response
 * and placed in `request.params["respJ_path"]`, which the url_pattern renderer reads. The path walks objects only
 * (KrakenD's docs: no reaching into arrays). The value is written as Lura writes it (`fmt` verb `%v` on what Go's
 * JSON decoder with `UseNumber` gives):
 * - a string as it is; a number as its exact source text (a JsonNumber's `text`, so ids beyond 2^53 are carried
 *   exactly); `true`/`false`; `null` as `<nil>`;
 * - an array as its items joined with `,` (`["a","b"]` → `a,b`; `[]` → empty), each item written with `%v`
 *   (a nested array as `[x y]`, an object as `map[k:v …]` with sorted keys);
 * - an object as `map[k:v …]`, keys sorted as Go sorts them.
 * A value the response does not have: Lura leaves the param unset, so its request builder leaves the template
 * placeholder in the URL and the backend is still called, with `{{.Resp0_name}}` in its path (percent-encoded on
 * the wire). This module does the same, deterministically: the param is set to that placeholder text, the
 * backend is called, and the sequence goes on (Lura's `sequential_unavailableParams` test). A path that stops on a
 * missing key or a non-object part way is missing too; Lura then looks the last segment up in the object where
 * the walk stopped (so `{resp0_user.id}` with no `user` would read the top-level `id`), which reads the wrong
 * field and is not reproduced.
 *
 * Sequence and result (Lura's accumulator):
 * - Backend 0 fails: the promise rejects with that error, unchanged (Lura returns it as is, not as a merge error).
 * - Backend i > 0 fails: the sequence stops; the result is the merge of the responses so far, `isComplete: false`,
 *   with the error in `errors`. The backends after i are never called.
 * - A backend answers with an incomplete response: it is merged and the sequence stops there (Lura breaks out of
 *   the loop); the result is incomplete, without `errors`.
 * - Merge: as the merge proxy, later backends winning key collisions; with one response merged its metadata
 *   passes through, with two or more the metadata is empty (status 0). Each `respJ_` reads backend J's own
 *   response: Lura's combiner writes the later bodies into backend 0's map, so there `{resp0_x}` can read a key
 *   that a later backend returned; that aliasing is not reproduced.
 * - Timeout: one deadline for the whole sequence (the caller passes Lura's 85% of the endpoint timeout). When it
 *   passes, the backend in flight is cut off at once and counts as failed with E_BACKEND_TIMEOUT; Lura lets the
 *   backend and its context race, and which one wins a tie is random. Cancellation (the incoming signal) works the
 *   same way with E_REQUEST_CANCELLED. Either way the shared signal given to the backends is aborted.
 * - One backend: its proxy is returned as it is (Lura's merge middleware does no sequencing for one backend).
 *
 * `sequential_propagated_params` (Lura, so KrakenD CE): values listed there (`resp0_user.id`, or `resp0` for the
 * whole body of a no-op backend) are placed in the params of every later backend, for consumers other than the
 * url_pattern (Lua, plugins). This gateway has no such consumer, and a no-op backend cannot be sequenced here, so
 * the option is accepted (`propagatedParams`) and its field values are set, but it changes nothing else.
 *
 * Neither the request nor any response is modified: each backend that needs params gets a new request object.
 */
import type { Clock, TimerHandle } from '../../base/clock.js';
import { systemClock } from '../../base/clock.js';
import { ErrorCode, KrakendError } from '../../base/errors.js';
import { compareGoKeys } from '../json/encode.js';
import { isJsonObject, JsonNumber } from '../json/types.js';
import type { JsonObject, JsonValue } from '../json/types.js';
import type { MergedResponse, MergeProxy } from './merge.js';
import type { Proxy, ProxyRequest, ProxyResponse } from './types.js';
import { compileUrlPattern } from './url-pattern.js';

export interface SequentialBackend {
  readonly proxy: Proxy;
  /** The backend's url_pattern, to find the `{respJ_…}` params it reads. */
  readonly urlPattern: string;
}

export interface SequentialOptions {
  /** Milliseconds for the whole sequence (`mergeTimeoutFor(endpoint.timeout)`). `Infinity` for no deadline. */
  timeout: number;
  clock?: Clock;
  /** `sequential_propagated_params`, as written in the config. */
  propagatedParams?: readonly string[];
}

/** `{resp0_a.b}` in a url_pattern: backend index and field path. Same rule as the config loader. */
const URL_PARAM = /^resp(\d+)_(.+)$/;
/** An entry of `sequential_propagated_params`: Lura matches `[Rr]esp(\d+)_?([\w-.]+)?`. */
const PROPAGATED_PARAM = /^[Rr]esp(\d+)(?:_([\w.-]+))?$/;

/** Node clamps longer timers to 1 ms; anything above is treated as "no deadline". */
const MAX_TIMER_MS = 2 ** 31 - 1;

interface Replacement {
  /** The param name, as the url_pattern reads it. */
  readonly name: string;
  readonly from: number;
  readonly path: readonly string[];
  /** Set the placeholder when the value is missing (url params); leave it unset otherwise (propagated params). */
  readonly required: boolean;
}

export function createSequentialProxy(
  backends: readonly SequentialBackend[],
  options: SequentialOptions,
): MergeProxy {
  const total = backends.length;
  if (total === 0) throw new RangeError('a sequence needs at least one backend');
  if (total === 1) return backends[0]!.proxy;
  const { timeout } = options;
  if (!(timeout > 0)) throw new RangeError(`the sequence timeout must be positive, got ${timeout}`);
  const timed = timeout <= MAX_TIMER_MS;
  const clock = options.clock ?? systemClock;
  const proxies = backends.map((b) => b.proxy);
  const plans = backends.map((b, i) => planFor(b.urlPattern, i, total, options.propagatedParams ?? []));

  return function sequentialProxy(request: ProxyRequest, signal: AbortSignal): Promise<MergedResponse> {
    return new Promise<MergedResponse>((resolve, reject) => {
      const controller = new AbortController();
      const parts: ProxyResponse[] = [];
      let current = 0;
      let done = false;
      let timer: TimerHandle | undefined;

      /** Ends the sequence: `error` is the failure of backend `current`, if any. */
      const finish = (error: unknown, failed: boolean): void => {
        done = true;
        if (timer !== undefined) clock.clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        if (parts.length === 0) {
          reject(error);
          return;
        }
        resolve(combine(parts, total, failed ? error : undefined, failed));
      };

      const cutOff = (reason: unknown, error: unknown): void => {
        if (done) return;
        finish(error, true);
        controller.abort(reason);
      };

      const onAbort = (): void => {
        const reason: unknown = signal.reason;
        cutOff(
          reason,
          new KrakendError(ErrorCode.RequestCancelled, `request cancelled before backend #${current} answered`, {
            cause: reason,
          }),
        );
      };

      const onTimeout = (): void => {
        timer = undefined;
        cutOff(
          new KrakendError(ErrorCode.BackendTimeout, `sequence timed out after ${timeout} ms`),
          new KrakendError(ErrorCode.BackendTimeout, `backend #${current} did not answer within ${timeout} ms`),
        );
      };

      const answered = (index: number, response: ProxyResponse): void => {
        // Lura's errNullResult.
        if (typeof response !== 'object' || response === null) {
          failedWith(index, new TypeError(`backend #${index} resolved without a response`));
          return;
        }
        // A merged response never carries a stream; closing it frees the backend connection.
        response.stream?.destroy();
        if (done) return;
        parts.push(response);
        if (!response.isComplete || index + 1 === total) {
          finish(undefined, false);
          return;
        }
        call(index + 1);
      };

      const failedWith = (index: number, err: unknown): void => {
        if (done || index !== current) return;
        finish(err, true);
      };

      const call = (index: number): void => {
        current = index;
        let answer: Promise<ProxyResponse>;
        try {
          answer = proxies[index]!(requestFor(request, plans[index]!, parts), controller.signal);
        } catch (err) {
          failedWith(index, err);
          return;
        }
        answer.then(
          (response) => answered(index, response),
          (err: unknown) => failedWith(index, err),
        );
      };

      if (signal.aborted) {
        onAbort();
        return;
      }
      signal.addEventListener('abort', onAbort, { once: true });
      if (timed) timer = clock.setTimeout(onTimeout, timeout);
      call(0);
    });
  };
}

/** The params backend `index` reads, checked against the sequence: only earlier backends can be read. */
function planFor(
  urlPattern: string,
  index: number,
  total: number,
  propagated: readonly string[],
): readonly Replacement[] {
  const plan: Replacement[] = [];
  const names = new Set<string>();
  for (const name of compileUrlPattern(urlPattern).params) {
    const m = URL_PARAM.exec(name);
    if (m === null || names.has(name)) continue;
    const from = Number(m[1]);
    if (from >= index) {
      throw new RangeError(
        `backend #${index}'s url_pattern reads {${name}}, but only the responses of earlier backends can be read`,
      );
    }
    names.add(name);
    plan.push({ name, from, path: m[2]!.split('.'), required: true });
  }
  if (index === 0) return plan;
  for (const entry of propagated) {
    const m = PROPAGATED_PARAM.exec(entry);
    // Lura skips what does not parse, indexes beyond the sequence, and (at run time) backends not yet called.
    if (m === null || m[2] === undefined) continue;
    const from = Number(m[1]);
    const name = `resp${from}_${m[2]}`;
    if (from >= index || from >= total || names.has(name)) continue;
    names.add(name);
    plan.push({ name, from, path: m[2].split('.'), required: false });
  }
  return plan;
}

function requestFor(
  request: ProxyRequest,
  plan: readonly Replacement[],
  parts: readonly ProxyResponse[],
): ProxyRequest {
  if (plan.length === 0) return request;
  const params: Record<string, string> = { ...request.params };
  for (const r of plan) {
    const value = lookup(parts[r.from]!.data, r.path);
    if (value !== undefined) params[r.name] = formatParam(value);
    // Lura's request builder leaves `{{.Resp0_x}}` in the path when the param is unset.
    else if (r.required) params[r.name] = `{{.R${r.name.slice(1)}}}`;
  }
  return { ...request, params };
}

/** The value at `path`, walking objects only; undefined when a key is missing or a step is not an object. */
export function lookup(data: JsonObject, path: readonly string[]): JsonValue | undefined {
  let value: JsonValue = data;
  for (const key of path) {
    if (!isJsonObject(value) || !Object.prototype.hasOwnProperty.call(value, key)) return undefined;
    value = value[key]!;
  }
  return value;
}

/** A response value as Lura writes it into a param (see the module comment). */
export function formatParam(value: JsonValue): string {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return value.map(goValue).join(',');
  return goValue(value);
}

/** Go's `fmt.Sprintf("%v", v)` for what its JSON decoder produces with `UseNumber`. */
function goValue(value: JsonValue): string {
  if (value === null) return '<nil>';
  if (typeof value === 'string') return value;
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') return String(value);
  if (value instanceof JsonNumber) return value.text;
  if (Array.isArray(value)) return `[${value.map(goValue).join(' ')}]`;
  const keys = Object.keys(value).sort(compareGoKeys);
  return `map[${keys.map((k) => `${k}:${goValue(value[k]!)}`).join(' ')}]`;
}

/** The accumulated result of a sequence that has at least one response. */
function combine(
  parts: readonly ProxyResponse[],
  total: number,
  error: unknown,
  failed: boolean,
): MergedResponse {
  const complete = !failed && parts.length === total && parts.every((p) => p.isComplete);
  if (parts.length === 1) {
    const only = parts[0]!;
    const result: MergedResponse = { data: only.data, isComplete: complete, metadata: only.metadata };
    return failed ? { ...result, errors: [error] } : result;
  }
  const data: JsonObject = {};
  for (const part of parts) {
    for (const key of Object.keys(part.data)) {
      const value = part.data[key]!;
      // `__proto__` is an ordinary key in a JSON body; a plain assignment would set the prototype instead.
      if (key === '__proto__') {
        Object.defineProperty(data, key, { value, writable: true, enumerable: true, configurable: true });
      } else {
        data[key] = value;
      }
    }
  }
  const metadata = { statusCode: 0, headers: {} };
  return failed ? { data, isComplete: false, metadata, errors: [error] } : { data, isComplete: complete, metadata };
}

/** Problems with `proxy.sequential`, `proxy.sequential_propagated_params` and `proxy.combiner`. */
export function validateSequentialNamespace(ns: Readonly<JsonObject>): string[] {
  const problems: string[] = [];
  const sequential = ns.sequential;
  if (sequential !== undefined && typeof sequential !== 'boolean') {
    problems.push(`proxy.sequential: expected true or false, got ${describe(sequential)}`);
  }
  const propagated = ns.sequential_propagated_params;
  if (propagated !== undefined) {
    if (!Array.isArray(propagated)) {
      problems.push(
        `proxy.sequential_propagated_params: expected a list such as ["resp0_id"], got ${describe(propagated)}`,
      );
    } else {
      propagated.forEach((entry, i) => {
        if (typeof entry !== 'string' || !PROPAGATED_PARAM.test(entry)) {
          problems.push(
            `proxy.sequential_propagated_params[${i}]: expected "resp<backend index>_<field path>" or ` +
              `"resp<backend index>", got ${describe(entry)}`,
          );
        }
      });
    }
  }
  const combiner = ns.combiner;
  if (combiner !== undefined && combiner !== 'default') {
    problems.push(
      `proxy.combiner: ${describe(combiner)} is not supported: only the default merge is (custom response ` +
        'combiners are plugins)',
    );
  }
  return problems;
}

function describe(value: JsonValue): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (value instanceof JsonNumber || typeof value === 'number') return `the number ${String(value)}`;
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'boolean') return String(value);
  return 'an object';
}
