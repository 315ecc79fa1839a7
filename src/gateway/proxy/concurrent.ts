import type { Middleware, Proxy, ProxyResponse } from './types.js';

/**
 * `concurrent_calls` (Lura's concurrent middleware): sends the same request N times and answers with the first
 * complete response, cancelling the others; trades backend load for tail latency.
 */
export function concurrentMiddleware(calls: number): Middleware {
  if (calls <= 1) return (next) => next;
  return (next: Proxy): Proxy =>
    function concurrentProxy(request, signal) {
      const controller = new AbortController();
      const onAbort = () => controller.abort(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      return new Promise<ProxyResponse>((resolve, reject) => {
        let pending = calls;
        let lastError: unknown;
        let partial: ProxyResponse | undefined;
        let done = false;
        const settle = () => {
          if (done || --pending > 0) return;
          done = true;
          signal.removeEventListener('abort', onAbort);
          if (partial) resolve(partial);
          else reject(lastError);
        };
        for (let i = 0; i < calls; i++) {
          next(request, controller.signal).then(
            (response) => {
              if (done) return;
              if (response.isComplete) {
                done = true;
                signal.removeEventListener('abort', onAbort);
                controller.abort();
                resolve(response);
                return;
              }
              partial ??= response;
              settle();
            },
            (err: unknown) => {
              lastError = err;
              settle();
            },
          );
        }
      });
    };
}
