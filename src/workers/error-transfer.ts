/**
 * Typed errors across the worker boundary.
 *
 * comlink's default 'throw' handler sends `{ message, name, stack }` and rebuilds a plain `Error`,
 * so a worker's `InvalidPointError` would arrive as an `Error` without its `code`. The handler
 * below keeps comlink's wire shape (`{ isError, value }`, so an endpoint with the default handler
 * still understands it) and adds `code` (and `index` for ledger errors); the receiving side rebuilds
 * the `DataportError` subclass from the code, and `TypeError` / `RangeError` from the name. It must
 * be installed on both sides: the pool installs it in the main thread, the worker entry in the worker.
 *
 * comlink keeps its handlers in one module-wide map, so installing this affects every comlink user
 * sharing this copy of comlink: for anything that is not one of these errors it behaves exactly as
 * comlink's default.
 * @module
 */
import { transferHandlers, type TransferHandler } from 'comlink';
import {
  AbortError,
  DataportError,
  ErrorCode,
  GuardrailRefusedError,
  HeParameterMismatchError,
  InputError,
  InvalidPointError,
  LedgerIntegrityError,
  LimitExceededError,
  MalformedMessageError,
  ProtocolVersionError,
  TermsRefusedError,
  TimeoutError,
  TransportClosedError,
  UnexpectedMessageError,
  UnsupportedError,
  VerificationFailedError,
  WorkerCrashedError,
  type ErrorCodeValue,
} from '../errors.js';

/** What travels for a thrown value: comlink's default shape plus `code` / `index`. */
interface SerializedThrow {
  isError: boolean;
  value: unknown;
}
interface SerializedError {
  message: string;
  name: string;
  stack?: string | undefined;
  code?: string;
  index?: number;
}

// One constructor per stable code; `satisfies` makes the compiler flag a code added to ErrorCode
// without a class here.
const BY_CODE = {
  [ErrorCode.MALFORMED_MESSAGE]: (m) => new MalformedMessageError(m),
  [ErrorCode.INVALID_POINT]: (m) => new InvalidPointError(m),
  [ErrorCode.UNEXPECTED_MESSAGE]: (m) => new UnexpectedMessageError(m),
  [ErrorCode.PROTOCOL_VERSION]: (m) => new ProtocolVersionError(m),
  [ErrorCode.VERIFICATION_FAILED]: (m) => new VerificationFailedError(m),
  [ErrorCode.TRANSPORT_CLOSED]: (m) => new TransportClosedError(m),
  [ErrorCode.LIMIT_EXCEEDED]: (m) => new LimitExceededError(m),
  [ErrorCode.TIMEOUT]: (m) => new TimeoutError(m),
  [ErrorCode.ABORTED]: (m) => new AbortError(m),
  [ErrorCode.WORKER_CRASHED]: (m) => new WorkerCrashedError(m),
  [ErrorCode.HE_PARAMETER_MISMATCH]: (m) => new HeParameterMismatchError(m),
  [ErrorCode.LEDGER_INTEGRITY]: (m, index) => new LedgerIntegrityError(m, index === undefined ? {} : { index }),
  [ErrorCode.GUARDRAIL_REFUSED]: (m) => new GuardrailRefusedError(m),
  [ErrorCode.TERMS_REFUSED]: (m) => new TermsRefusedError(m),
  [ErrorCode.INPUT]: (m) => new InputError(m),
  [ErrorCode.UNSUPPORTED]: (m) => new UnsupportedError(m),
} satisfies Record<ErrorCodeValue, (message: string, index?: number) => DataportError>;

const BUILTIN: Record<string, ErrorConstructor> = { TypeError, RangeError };

/** Turns a thrown value into what crosses the boundary (structured-clone friendly). */
export function serializeThrown(value: unknown): SerializedThrow {
  if (!(value instanceof Error)) return { isError: false, value };
  const out: SerializedError = { message: value.message, name: value.name, stack: value.stack };
  if (value instanceof DataportError) {
    out.code = value.code;
    if (value instanceof LedgerIntegrityError && value.index !== undefined) out.index = value.index;
  }
  return { isError: true, value: out };
}

/** Rebuilds the error on the receiving side (the inverse of {@link serializeThrown}). */
export function deserializeThrown(serialized: SerializedThrow): unknown {
  if (!serialized.isError) return serialized.value;
  const v = serialized.value as SerializedError;
  const message = String(v.message);
  let err: Error;
  const make = typeof v.code === 'string' ? BY_CODE[v.code as ErrorCodeValue] : undefined;
  if (make) err = make(message, typeof v.index === 'number' ? v.index : undefined);
  else if (typeof v.name === 'string' && Object.hasOwn(BUILTIN, v.name)) err = new BUILTIN[v.name]!(message);
  else err = Object.assign(new Error(message), v);
  // The worker's stack says where it failed; the main-thread stack would only show comlink's
  // message handler.
  if (typeof v.stack === 'string') err.stack = v.stack;
  return err;
}

const handler: TransferHandler<{ value: unknown }, SerializedThrow> = {
  // comlink marks thrown values with a private symbol; like its default handler, recognise them by
  // that marker (the only symbol-keyed property comlink puts on a throw wrapper).
  canHandle: (value): value is { value: unknown } =>
    typeof value === 'object' && value !== null && Object.getOwnPropertySymbols(value).some((s) => s.description === 'Comlink.thrown'),
  serialize: ({ value }) => [serializeThrown(value), []],
  deserialize: (serialized) => {
    throw deserializeThrown(serialized);
  },
};

/**
 * Installs the typed-error 'throw' handler in this thread's comlink (idempotent).
 *
 * @example
 * ```ts
 * installErrorTransfer(); // before expose() in a worker, before wrap() in the main thread
 * ```
 */
export function installErrorTransfer(): void {
  if (transferHandlers.get('throw') !== handler) {
    transferHandlers.set('throw', handler as TransferHandler<unknown, unknown>);
  }
}
