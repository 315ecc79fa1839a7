/**
 * The merge stage, after Lura's `proxy/merging.go` (`parallelMerge`, `incrementalMergeAccumulator`, `combineData`):
 * calls every backend of an endpoint at once and combines their bodies into one response.
 *
 * - Data: a shallow merge of the top-level keys. Bodies are applied in declaration order, so on a key collision the
 *   backend declared last wins, whatever the order the answers arrive in. Lura merges in arrival order, which makes
 *   the winner depend on timing; declaration order keeps the result deterministic. Use `group` to avoid collisions.
 * - isComplete: true only if every backend answered and each answer was complete.
 * - Some backends fail: the merged data of the others, with isComplete false and the failures in `errors`
 *   (Lura returns the response together with a `mergeError`).
 * - All backends fail: rejects with a MergeError carrying each backend's error (Lura returns nil and the
 *   `mergeError`).
 * - Metadata: when two or more answers are combined it is empty (status 0, no headers), because Lura's
 *   `combineData` builds a new `Response{Data, IsComplete}`. When exactly one backend answered and the rest
 *   failed, Lura's accumulator returns that answer as it came, so its metadata passes through; so does ours.
 * - Timeout: Lura runs the backends under `context.WithTimeout(ctx, 85% of the endpoint timeout)`, and a backend
 *   that has not answered by then fails with "context deadline exceeded". Here the deadline aborts the shared
 *   signal and the merge settles at once with what has arrived, without waiting for backends to notice the abort;
 *   answers that come later are dropped. `mergeTimeoutFor` gives Lura's 85%.
 * - Cancellation: aborting the incoming signal aborts every pending backend (one AbortController shared by all, as
 *   Lura derives one context) and settles the same way, the pending backends counting as cancelled.
 * - One backend: the backend's proxy is returned as it is, as Lura's merge middleware does for one backend; its
 *   own errors, status included, reach the caller unchanged. The endpoint timeout is then the caller's business.
 *
 * Neither the request nor any backend's data is mutated: the merged body is a new object whose values are shared
 * with the backends' bodies. Backends receive the same request object and must not modify it (Lura clones it for
 * non-idempotent methods; ours is read-only by type).
 */
import type { Clock, TimerHandle } from '../../base/clock.js';
import { systemClock } from '../../base/clock.js';
import { ErrorCode, KrakendError } from '../../base/errors.js';
import type { JsonObject } from '../json/types.js';
import type { Proxy, ProxyRequest, ProxyResponse } from './types.js';

/** A merged response. `errors` is present only on a partial response: the failed backends' errors, in declaration order. */
export interface MergedResponse extends ProxyResponse {
  readonly errors?: readonly unknown[];
}

/** A Proxy whose responses may carry `errors`. Every Proxy is one, and a MergeProxy can be used as a Proxy. */
export type MergeProxy = (request: ProxyRequest, signal: AbortSignal) => Promise<MergedResponse>;

export interface MergeOptions {
  /** Milliseconds the merge waits for all backends (see `mergeTimeoutFor`). `Infinity` for no deadline. */
  timeout: number;
  clock?: Clock;
}

/** Every backend of a merge failed. `errors` holds each backend's error, in declaration order. */
export class MergeError extends AggregateError {
  constructor(errors: readonly unknown[]) {
    super(errors, `all ${errors.length} backends failed: ${errors.map(describe).join('; ')}`);
    this.name = 'MergeError';
  }
}

export function isMergeError(err: unknown): err is MergeError {
  return err instanceof MergeError;
}

/** Lura gives the merge 85% of the endpoint timeout, which leaves the rest for rendering a partial response. */
export function mergeTimeoutFor(endpointTimeout: number): number {
  return (endpointTimeout * 85) / 100;
}

/** Node clamps longer timers to 1 ms; anything above is treated as "no deadline". */
const MAX_TIMER_MS = 2 ** 31 - 1;

const PENDING = 0;
const ANSWERED = 1;
const FAILED = 2;

export function createMergeProxy(backends: readonly Proxy[], options: MergeOptions): MergeProxy {
  const total = backends.length;
  if (total === 0) throw new RangeError('a merge needs at least one backend');
  if (total === 1) return backends[0]!;
  const { timeout } = options;
  if (!(timeout > 0)) throw new RangeError(`the merge timeout must be positive, got ${timeout}`);
  const timed = timeout <= MAX_TIMER_MS;
  const clock = options.clock ?? systemClock;
  const proxies = backends.slice();

  return function mergeProxy(request: ProxyRequest, signal: AbortSignal): Promise<MergedResponse> {
    return new Promise<MergedResponse>((resolve, reject) => {
      const controller = new AbortController();
      const state = new Uint8Array(total);
      const responses = new Array<ProxyResponse | undefined>(total);
      const errors = new Array<unknown>(total);
      let pending = total;
      let done = false;
      let timer: TimerHandle | undefined;

      const settle = (): void => {
        done = true;
        if (timer !== undefined) clock.clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        try {
          resolve(combine(state, responses, errors));
        } catch (err) {
          reject(err);
        }
      };

      /** Ends the merge now: every backend still pending fails with `errorFor(index)`. */
      const cutOff = (reason: unknown, errorFor: (index: number) => unknown): void => {
        if (done) return;
        for (let i = 0; i < total; i++) {
          if (state[i] !== PENDING) continue;
          state[i] = FAILED;
          errors[i] = errorFor(i);
        }
        pending = 0;
        settle();
        controller.abort(reason);
      };

      const onAbort = (): void => {
        const reason: unknown = signal.reason;
        cutOff(
          reason,
          (i) =>
            new KrakendError(ErrorCode.RequestCancelled, `request cancelled before backend #${i} answered`, {
              cause: reason,
            }),
        );
      };

      const onTimeout = (): void => {
        timer = undefined;
        cutOff(
          new KrakendError(ErrorCode.BackendTimeout, `merge timed out after ${timeout} ms`),
          (i) => new KrakendError(ErrorCode.BackendTimeout, `backend #${i} did not answer within ${timeout} ms`),
        );
      };

      const answered = (index: number, response: ProxyResponse): void => {
        // Lura's errNullResult. Checked here because a throw in this callback would be an unhandled rejection.
        if (typeof response !== 'object' || response === null) {
          failed(index, new TypeError(`backend #${index} resolved without a response`));
          return;
        }
        // A merged response never carries a stream; closing it frees the backend connection.
        response.stream?.destroy();
        if (done) return;
        state[index] = ANSWERED;
        responses[index] = response;
        if (--pending === 0) settle();
      };

      const failed = (index: number, err: unknown): void => {
        if (done) return;
        state[index] = FAILED;
        errors[index] = err;
        if (--pending === 0) settle();
      };

      if (signal.aborted) {
        onAbort();
        return;
      }
      signal.addEventListener('abort', onAbort, { once: true });
      if (timed) timer = clock.setTimeout(onTimeout, timeout);

      for (let i = 0; i < total && !done; i++) {
        let answer: Promise<ProxyResponse>;
        try {
          answer = proxies[i]!(request, controller.signal);
        } catch (err) {
          failed(i, err);
          continue;
        }
        answer.then(
          (response) => answered(i, response),
          (err: unknown) => failed(i, err),
        );
      }
    });
  };
}

/** Throws MergeError when nothing answered. */
function combine(
  state: Uint8Array,
  responses: readonly (ProxyResponse | undefined)[],
  errors: readonly unknown[],
): MergedResponse {
  let answers = 0;
  let only: ProxyResponse | undefined;
  let complete = true;
  let failures: unknown[] | undefined;
  for (let i = 0; i < state.length; i++) {
    if (state[i] === ANSWERED) {
      const response = responses[i]!;
      answers++;
      only = response;
      complete &&= response.isComplete;
    } else {
      (failures ??= []).push(errors[i]);
    }
  }
  if (answers === 0) throw new MergeError(failures ?? []);
  if (answers === 1) {
    // Only reachable with failures: two or more backends, one answer.
    return { data: only!.data, isComplete: false, metadata: only!.metadata, errors: failures! };
  }

  const data: JsonObject = {};
  for (let i = 0; i < state.length; i++) {
    if (state[i] !== ANSWERED) continue;
    const part = responses[i]!.data;
    for (const key in part) {
      if (!Object.prototype.hasOwnProperty.call(part, key)) continue;
      // `__proto__` is an ordinary key in a JSON body; a plain assignment would set the prototype instead.
      if (key === '__proto__') {
        Object.defineProperty(data, key, { value: part[key], writable: true, enumerable: true, configurable: true });
      } else {
        data[key] = part[key]!;
      }
    }
  }
  const metadata = { statusCode: 0, headers: {} };
  return failures === undefined
    ? { data, isComplete: complete, metadata }
    : { data, isComplete: false, metadata, errors: failures };
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
