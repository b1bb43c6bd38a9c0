/**
 * Typed errors with stable codes.
 *
 * Misuse of the API (a wrong type, a wrong length) throws `TypeError` / `RangeError` naming the
 * argument. Everything else throws a {@link DataportError} subclass whose `code` is stable and safe
 * to show to a peer or log: messages never contain secrets, raw identifiers or stack traces of the
 * other side.
 *
 * @module
 */

/** Every stable error code dataport emits. */
export const ErrorCode = {
  MALFORMED_MESSAGE: 'ERR_MALFORMED_MESSAGE',
  INVALID_POINT: 'ERR_INVALID_POINT',
  UNEXPECTED_MESSAGE: 'ERR_UNEXPECTED_MESSAGE',
  PROTOCOL_VERSION: 'ERR_PROTOCOL_VERSION',
  VERIFICATION_FAILED: 'ERR_VERIFICATION_FAILED',
  TRANSPORT_CLOSED: 'ERR_TRANSPORT_CLOSED',
  LIMIT_EXCEEDED: 'ERR_LIMIT_EXCEEDED',
  TIMEOUT: 'ERR_TIMEOUT',
  ABORTED: 'ERR_ABORTED',
  WORKER_CRASHED: 'ERR_WORKER_CRASHED',
  HE_PARAMETER_MISMATCH: 'ERR_HE_PARAMETER_MISMATCH',
  LEDGER_INTEGRITY: 'ERR_LEDGER_INTEGRITY',
  GUARDRAIL_REFUSED: 'ERR_GUARDRAIL_REFUSED',
  TERMS_REFUSED: 'ERR_TERMS_REFUSED',
  INPUT: 'ERR_INPUT',
  UNSUPPORTED: 'ERR_UNSUPPORTED',
} as const;

/** One of the values of {@link ErrorCode}. */
export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

/**
 * Base class of every non-misuse error dataport throws.
 *
 * @example
 * ```ts
 * try { decodePoint(bytes); } catch (e) {
 *   if (e instanceof DataportError) console.error(e.code);
 * }
 * ```
 */
export class DataportError extends Error {
  /** Stable, machine-readable code. */
  readonly code: ErrorCodeValue;
  constructor(code: ErrorCodeValue, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A message or encoded value from a peer or a file could not be decoded. */
export class MalformedMessageError extends DataportError {
  constructor(message = 'malformed message', options?: { cause?: unknown }) {
    super(ErrorCode.MALFORMED_MESSAGE, message, options);
  }
}

/** A received group element was rejected (wrong length, non-canonical, twist or low-order point). */
export class InvalidPointError extends DataportError {
  constructor(message = 'invalid point', options?: { cause?: unknown }) {
    super(ErrorCode.INVALID_POINT, message, options);
  }
}

/** A well-formed message arrived when the protocol state did not allow it. */
export class UnexpectedMessageError extends DataportError {
  constructor(message = 'unexpected message', options?: { cause?: unknown }) {
    super(ErrorCode.UNEXPECTED_MESSAGE, message, options);
  }
}

/** The peer speaks a protocol version, suite or option this build does not support. */
export class ProtocolVersionError extends DataportError {
  constructor(message = 'unsupported protocol version', options?: { cause?: unknown }) {
    super(ErrorCode.PROTOCOL_VERSION, message, options);
  }
}

/** A signature, MAC, proof or pinned key did not verify. The message is deliberately uninformative. */
export class VerificationFailedError extends DataportError {
  constructor(message = 'verification failed', options?: { cause?: unknown }) {
    super(ErrorCode.VERIFICATION_FAILED, message, options);
  }
}

/** The connection closed before the session finished. */
export class TransportClosedError extends DataportError {
  constructor(message = 'transport closed', options?: { cause?: unknown }) {
    super(ErrorCode.TRANSPORT_CLOSED, message, options);
  }
}

/** A configured limit (frame size, bytes per session, set size) was exceeded. */
export class LimitExceededError extends DataportError {
  constructor(message = 'limit exceeded', options?: { cause?: unknown }) {
    super(ErrorCode.LIMIT_EXCEEDED, message, options);
  }
}

/** An idle or overall timeout expired. */
export class TimeoutError extends DataportError {
  constructor(message = 'timed out', options?: { cause?: unknown }) {
    super(ErrorCode.TIMEOUT, message, options);
  }
}

/** The operation was cancelled through its `AbortSignal`. */
export class AbortError extends DataportError {
  constructor(message = 'aborted', options?: { cause?: unknown }) {
    super(ErrorCode.ABORTED, message, options);
  }
}

/** A worker thread died while it held work of this operation. */
export class WorkerCrashedError extends DataportError {
  constructor(message = 'worker crashed', options?: { cause?: unknown }) {
    super(ErrorCode.WORKER_CRASHED, message, options);
  }
}

/** Homomorphic-encryption parameters of a peer's message do not match the session's. */
export class HeParameterMismatchError extends DataportError {
  constructor(message = 'HE parameter mismatch', options?: { cause?: unknown }) {
    super(ErrorCode.HE_PARAMETER_MISMATCH, message, options);
  }
}

/** A ledger file or proof failed an integrity check. */
export class LedgerIntegrityError extends DataportError {
  /** Index of the first bad entry, when known. */
  readonly index: number | undefined;
  constructor(message = 'ledger integrity check failed', options?: { cause?: unknown; index?: number }) {
    super(ErrorCode.LEDGER_INTEGRITY, message, options);
    this.index = options?.index;
  }
}

/** A guardrail (minimum cohort, budget) refused to release a result. */
export class GuardrailRefusedError extends DataportError {
  constructor(message = 'refused by guardrail', options?: { cause?: unknown }) {
    super(ErrorCode.GUARDRAIL_REFUSED, message, options);
  }
}

/** The peer's requested job terms are outside what this party allows. */
export class TermsRefusedError extends DataportError {
  constructor(message = 'terms refused', options?: { cause?: unknown }) {
    super(ErrorCode.TERMS_REFUSED, message, options);
  }
}

/** A local input (CSV file, key file, option) is unusable. */
export class InputError extends DataportError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCode.INPUT, message, options);
  }
}

/** The requested feature or backend is not available in this runtime. */
export class UnsupportedError extends DataportError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCode.UNSUPPORTED, message, options);
  }
}

/** Throws {@link AbortError} if `signal` is aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortError();
}
