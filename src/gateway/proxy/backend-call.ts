/**
 * Calls a backend on undici's dispatch API with our own handlers, rather than `pool.request`: the body is
 * gathered straight into a list of chunks (no Readable, no async iterator), the size limit is enforced as bytes
 * arrive, and cancellation comes from the pipeline's signal without a per-request AbortController — together
 * the larger part of the per-request cost a gateway adds over a bare proxy.
 */
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { IncomingHttpHeaders } from 'node:http';
import { ErrorCode, KrakendError } from '../../base/errors.js';

export interface BackendCall {
  path: string;
  method: string;
  headers: Record<string, string | string[]>;
  body: Buffer | undefined;
}

export interface BufferedResponse {
  statusCode: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface StreamedResponse {
  statusCode: number;
  headers: IncomingHttpHeaders;
  body: Readable;
}

export function bodyTooLarge(max: number): KrakendError {
  return new KrakendError(ErrorCode.BackendBodyTooLarge, `backend body larger than ${max} bytes`);
}

type AbortListener = () => void;

abstract class SignalledHandler implements Dispatcher.DispatchHandler {
  protected controller: Dispatcher.DispatchController | undefined;
  private readonly onAbort: AbortListener;

  constructor(protected readonly signal: AbortSignal) {
    this.onAbort = () => this.abort(this.signal.reason);
    signal.addEventListener('abort', this.onAbort);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.signal.aborted) controller.abort(asError(this.signal.reason));
  }

  protected abort(reason: unknown): void {
    this.controller?.abort(asError(reason));
  }

  protected detach(): void {
    this.signal.removeEventListener('abort', this.onAbort);
  }
}

class BufferingHandler extends SignalledHandler {
  private chunks: Buffer[] = [];
  private size = 0;
  private statusCode = 0;
  private headers: IncomingHttpHeaders = {};

  constructor(
    signal: AbortSignal,
    private readonly max: number,
    private readonly resolve: (r: BufferedResponse) => void,
    private readonly reject: (err: unknown) => void,
  ) {
    super(signal);
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    this.statusCode = statusCode;
    this.headers = headers;
    this.chunks = [];
    this.size = 0;
    if (Number(headers['content-length']) > this.max) controller.abort(bodyTooLarge(this.max));
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.size += chunk.length;
    if (this.size > this.max) {
      controller.abort(bodyTooLarge(this.max));
      return;
    }
    this.chunks.push(chunk);
  }

  onResponseEnd(): void {
    this.detach();
    const body = this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks, this.size);
    this.resolve({ statusCode: this.statusCode, headers: this.headers, body });
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    this.detach();
    this.reject(error);
  }
}

class StreamingHandler extends SignalledHandler {
  private stream: Readable | undefined;

  constructor(
    signal: AbortSignal,
    private readonly resolve: (r: StreamedResponse) => void,
    private readonly reject: (err: unknown) => void,
  ) {
    super(signal);
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    if (statusCode < 200) return;
    this.stream = new Readable({
      read: () => controller.resume(),
      destroy: (err, cb) => {
        // The client went away: stop reading from the backend too.
        if (!controller.aborted && err) controller.abort(err);
        this.detach();
        cb(err);
      },
    });
    this.resolve({ statusCode, headers, body: this.stream });
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.stream && !this.stream.push(chunk)) controller.pause();
  }

  onResponseEnd(): void {
    this.detach();
    this.stream?.push(null);
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    this.detach();
    if (this.stream) this.stream.destroy(error);
    else this.reject(error);
  }
}

/** Sends a request and gathers the whole body, failing once it grows past `maxBody` bytes. */
export function requestBuffered(
  dispatcher: Dispatcher,
  call: BackendCall,
  signal: AbortSignal,
  maxBody: number,
): Promise<BufferedResponse> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    dispatcher.dispatch(options(call), new BufferingHandler(signal, maxBody, resolve, reject));
  });
}

/** Sends a request and resolves at the response's head, with its body as a stream (for `no-op`). */
export function requestStreamed(dispatcher: Dispatcher, call: BackendCall, signal: AbortSignal): Promise<StreamedResponse> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    dispatcher.dispatch(options(call), new StreamingHandler(signal, resolve, reject));
  });
}

function options(call: BackendCall): Dispatcher.DispatchOptions {
  return {
    path: call.path,
    method: call.method as Dispatcher.HttpMethod,
    headers: call.headers,
    body: call.body ?? null,
  };
}

function asError(reason: unknown): Error {
  return reason instanceof Error ? reason : new Error(String(reason ?? 'aborted'));
}
