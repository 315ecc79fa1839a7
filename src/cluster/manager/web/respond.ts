/** JSON answers and request parsing shared by the web interface's routes. */
import type { IncomingMessage, ServerResponse } from 'node:http';

export type RouteHandler = (req: IncomingMessage, res: ServerResponse, params: Record<string, string | undefined>) => void | Promise<void>;
export type Mount = (method: 'GET' | 'HEAD', path: string, handler: RouteHandler) => void;

/** A client error: answered with its status and message as `{"error": …}`. */
export class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
  });
  res.end(text);
}

/** Runs a handler body, turning an HttpError into its JSON answer. */
export function guarded(handler: RouteHandler): RouteHandler {
  return async (req, res, params) => {
    try {
      await handler(req, res, params);
    } catch (err) {
      if (!(err instanceof HttpError)) throw err;
      sendJson(res, err.status, { error: err.message });
    }
  };
}

export function searchParams(req: IncomingMessage): URLSearchParams {
  return new URL(req.url ?? '/', 'http://x').searchParams;
}
