/**
 * Errors across the session boundary: what a peer may be told about a local failure (a stable
 * code and a short fixed message, never a stack trace) and the typed error a side raises for an
 * error frame from its peer.
 * @module
 */
import {
  DataportError,
  ErrorCode,
  type ErrorCodeValue,
  GuardrailRefusedError,
  HeParameterMismatchError,
  InvalidPointError,
  LedgerIntegrityError,
  LimitExceededError,
  MalformedMessageError,
  ProtocolVersionError,
  TermsRefusedError,
  TimeoutError,
  TransportClosedError,
  UnexpectedMessageError,
  VerificationFailedError,
} from '../errors.js';
import type { FrameTransport } from '../transport/types.js';
import { encodeError } from './messages.js';

/** Errors that came from the peer (not re-sent to it). */
const fromPeer = new WeakSet<object>();
/** Peer-safe messages attached to local errors (otherwise a fixed message per code is sent). */
const peerMessages = new WeakMap<object, string>();

/** Attaches a peer-safe message to a local error. @internal */
export function localError<E extends DataportError>(error: E, peerMessage?: string): E {
  if (peerMessage !== undefined) peerMessages.set(error, peerMessage);
  return error;
}

const FIXED_MESSAGES: Partial<Record<ErrorCodeValue, string>> = {
  [ErrorCode.MALFORMED_MESSAGE]: 'malformed message',
  [ErrorCode.INVALID_POINT]: 'invalid point',
  [ErrorCode.UNEXPECTED_MESSAGE]: 'unexpected message',
  [ErrorCode.PROTOCOL_VERSION]: 'unsupported protocol version',
  [ErrorCode.VERIFICATION_FAILED]: 'verification failed',
  [ErrorCode.LIMIT_EXCEEDED]: 'limit exceeded',
  [ErrorCode.TIMEOUT]: 'timed out',
  [ErrorCode.HE_PARAMETER_MISMATCH]: 'HE parameter mismatch',
};

/** The code and message a peer may see for a local error. @internal */
export function wireError(error: unknown): { code: ErrorCodeValue; message: string } {
  if (error instanceof DataportError) {
    const custom = peerMessages.get(error);
    if (custom !== undefined) return { code: error.code, message: custom };
    if (error.code === ErrorCode.TERMS_REFUSED || error.code === ErrorCode.GUARDRAIL_REFUSED) {
      return { code: error.code, message: error.message };
    }
    const fixed = FIXED_MESSAGES[error.code];
    if (fixed) return { code: error.code, message: fixed };
  }
  // Anything else (aborts, local failures, bugs): the peer learns only that we stopped.
  return { code: ErrorCode.ABORTED, message: 'peer aborted the session' };
}

/** The typed error a side raises for an error frame from its peer. @internal */
export function errorFromPeer(code: ErrorCodeValue, message: string): DataportError {
  const m = `peer: ${message}`;
  let e: DataportError;
  switch (code) {
    case ErrorCode.TERMS_REFUSED:
      e = new TermsRefusedError(message);
      break;
    case ErrorCode.GUARDRAIL_REFUSED:
      e = new GuardrailRefusedError(message);
      break;
    case ErrorCode.MALFORMED_MESSAGE:
      e = new MalformedMessageError(m);
      break;
    case ErrorCode.INVALID_POINT:
      e = new InvalidPointError(m);
      break;
    case ErrorCode.UNEXPECTED_MESSAGE:
      e = new UnexpectedMessageError(m);
      break;
    case ErrorCode.PROTOCOL_VERSION:
      e = new ProtocolVersionError(m);
      break;
    case ErrorCode.VERIFICATION_FAILED:
      e = new VerificationFailedError(m);
      break;
    case ErrorCode.LIMIT_EXCEEDED:
      e = new LimitExceededError(m);
      break;
    case ErrorCode.TIMEOUT:
      e = new TimeoutError(m);
      break;
    case ErrorCode.HE_PARAMETER_MISMATCH:
      e = new HeParameterMismatchError(m);
      break;
    case ErrorCode.LEDGER_INTEGRITY:
      e = new LedgerIntegrityError(m);
      break;
    default:
      e = new TransportClosedError(code === ErrorCode.ABORTED ? 'peer aborted the session' : m);
  }
  fromPeer.add(e);
  return e;
}


/** Tells the peer (unless the error came from it) and closes the transport. @internal */
export async function sendErrorAndClose(transport: FrameTransport, error: unknown): Promise<void> {
  if (!(error instanceof Object) || !fromPeer.has(error)) {
    try {
      // Bounded: a peer that stopped reading must not keep us here.
      await transport.send(encodeError(wireError(error)), AbortSignal.timeout(2_000));
    } catch {
      // the transport is already gone; the peer has seen its close
    }
  }
  try {
    await transport.close('session failed');
  } catch {
    // closing twice is harmless
  }
}


/**
 * True if `error` was reported by the peer through an error frame (rather than raised locally).
 * @example
 * ```ts
 * try { await runPsi(opts); } catch (e) { if (isPeerError(e)) console.error('the peer ended the run'); }
 * ```
 */
export function isPeerError(error: unknown): boolean {
  return error instanceof Object && fromPeer.has(error);
}
