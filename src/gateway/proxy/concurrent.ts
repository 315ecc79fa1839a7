import type { Middleware, Proxy, ProxyResponse } from './types.js';

/**
 * `concurrent_calls` (Lura's concurrent middleware): sends the same request N times and answers with the first
 * complete response, cancelling the others; trades backend load for tail latency. Each call has its own
 * cancellation, so the winner's body (which may still be streaming) is never cut off.
 */
export function concurrentMiddleware(calls: number): Middleware {
  if (calls <= 1) return (next) => next;
  return (next: Proxy): Proxy =>
    function concurrentProxy(request, signal) {
      const controllers = Array.from({ length: calls }, () => new AbortController());
      const abortAll = (reason: unknown, except = -1) =>
        controllers.forEach((c, i) => {
          if (i !== except) c.abort(reason);
        });
      const onAbort = () => abortAll(signal.reason);
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });

      return new Promise<ProxyResponse>((resolve, reject) => {
        let pending = calls;
        let done = false;
        let lastError: unknown;
        let partial: ProxyResponse | undefined;
        const finish = () => {
          done = true;
          signal.removeEventListener('abort', onAbort);
        };
        controllers.forEach((controller, i) => {
          next(request, controller.signal).then(
            (response) => {
              if (done) return;
              if (response.isComplete) {
                finish();
                abortAll(undefined, i);
                resolve(response);
                return;
              }
              partial ??= response;
              if (--pending === 0) {
                finish();
                resolve(partial);
              }
            },
            (err: unknown) => {
              if (done) return;
              lastError = err;
              if (--pending === 0) {
                finish();
                if (partial) resolve(partial);
                else reject(lastError);
              }
            },
          );
        });
      });
    };
}
