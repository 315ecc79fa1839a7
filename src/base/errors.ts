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
  /** A cluster key is not 32 bytes of base64, or a keyring change makes no sense (removing the primary key). */
  WireKeyInvalid: 'E_WIRE_KEY_INVALID',
  /** A cluster stream's handshake failed: wrong key, a key on one side only, no common version, unknown kind. */
  WireHandshake: 'E_WIRE_HANDSHAKE',
  /** A cluster stream timed out (connect, handshake, idle, or waiting for a message). */
  WireTimeout: 'E_WIRE_TIMEOUT',
  /** A cluster stream is closed: nothing more can be sent or received on it. */
  WireClosed: 'E_WIRE_CLOSED',
  /** The peer broke the framing of a cluster stream (oversized, tampered or out-of-order frame): it is closed. */
  WireProtocol: 'E_WIRE_PROTOCOL',
  /** A message to send is larger than the packet or message limit. */
  WireOversized: 'E_WIRE_OVERSIZED',
  /** A backend's circuit breaker is open (or half-open with its trial request in flight): the call failed fast. */
  CircuitOpen: 'E_CIRCUIT_OPEN',
  /** The manager's store file cannot be read back (not JSON, wrong format, inconsistent): it is never emptied. */
  StoreCorrupt: 'E_STORE_CORRUPT',
  /** An operation on a store that has been closed. */
  StoreClosed: 'E_STORE_CLOSED',
  /** The manager's state directory is held by another running manager (or its lock cannot be created). */
  StateLocked: 'E_STATE_LOCKED',
  /** License fields that cannot be issued (missing licensee, bad dates, max_nodes not a positive integer). */
  LicenseInvalid: 'E_LICENSE_INVALID',
  /** A config version named by a request (show, diff, rollback) is not stored: never applied, or pruned. */
  ConfigVersionNotFound: 'E_CONFIG_VERSION_NOT_FOUND',
  /** Another writer kept changing the current config version while an apply retried its compare-and-set. */
  ConfigConflict: 'E_CONFIG_CONFLICT',
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
