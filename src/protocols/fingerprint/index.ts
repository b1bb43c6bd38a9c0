/**
 * Fingerprinted releases and their tracing (issue 17 part 2; docs/trace.md). Node-only: detection
 * evaluates one AES block per (row, release) through `node:crypto`.
 * @module
 */
export {
  FINGERPRINT_DEFAULTS,
  FINGERPRINT_SCHEME,
  MAX_GAMMA,
  fingerprintRelease,
  type FingerprintReleaseOptions,
  type FingerprintReleaseResult,
  type ReleaseRecord,
} from './release.js';
export { traceTable, type TraceTableOptions, type TraceReleaseResult } from './trace.js';
export {
  RELEASE_ID_BYTES,
  fingerprintSecretFromIdentity,
  fingerprintKeyCommit,
  releaseFingerprintKey,
  recipientFingerprint,
} from './keys.js';
export { parseTolerance, parseNumber, parseDate, readBit, writeBit, type ColumnTolerance } from './values.js';
export { binomialTailHalf } from './binomial.js';
export {
  MAX_RESULT_VALUES,
  MIN_MATCH_VALUES,
  VALUE_TAG_BYTES,
  canonicalNumber,
  matchResultRelease,
  numbersIn,
  resultRelease,
  type ResultReleaseRecord,
} from './result-values.js';
