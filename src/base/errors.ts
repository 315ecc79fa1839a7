/**
 * The project's one list of error codes. Every error a module raises on purpose is a KrakendError with one of
 * these codes, so callers, logs and the API can branch on a stable string rather than on a message.
 */
export const ErrorCode = {
  /** krakend.json (or another config) could not be read, parsed or validated. */
  ConfigInvalid: 'E_CONFIG_INVALID',
  /** A Go-style duration string did not parse. */
  DurationInvalid: 'E_DURATION_INVALID',
  /** A backend did not answer before the endpoint's timeout. */
  BackendTimeout: 'E_BACKEND_TIMEOUT',
  /** A backend answered with a status KrakenD treats as a failure (anything but 200 and 201). */
  BackendStatus: 'E_BACKEND_STATUS',
  /** The connection to a backend failed or was reset. */
  BackendConnection: 'E_BACKEND_CONNECTION',
  /** A backend body could not be decoded with the backend's encoding. */
  BackendDecode: 'E_BACKEND_DECODE',
  /** A backend body was larger than the configured maximum. */
  BackendBodyTooLarge: 'E_BACKEND_BODY_TOO_LARGE',
  /** The client's request was cancelled (client gone, or the endpoint's timeout). */
  RequestCancelled: 'E_REQUEST_CANCELLED',
  /** A client request could not be served as sent (bad body, bad headers). */
  BadRequest: 'E_BAD_REQUEST',
  /** Writing a file crash-safely failed. */
  FileWrite: 'E_FILE_WRITE',
  /** A rate limit rejected the request. */
  RateLimited: 'E_RATE_LIMITED',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export class KrakendError extends Error {
  readonly code: ErrorCode;
  /** HTTP status to answer with, where the error decides it. */
  readonly status: number | undefined;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; status?: number } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'KrakendError';
    this.code = code;
    this.status = options.status;
  }
}

export function isKrakendError(err: unknown, code?: ErrorCode): err is KrakendError {
  return err instanceof KrakendError && (code === undefined || err.code === code);
}
