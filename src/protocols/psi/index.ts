/**
 * ECDH-PSI (draft-wang-ppm-ecdh-psi-01; curve25519 suite, or SM2/SM3): record normalisation, wire codecs,
 * sans-I/O state machines and the driver. See docs/psi-protocol.md.
 * @module
 */
export { NORMALIZATION_PROFILE, normalizeField, normalizeKey, dedupeRecords, rowsForKeys, type DedupedRecords } from './normalize.js';
export {
  PSI_VERSION,
  CipherSuite,
  PointOctetFormat,
  OutputMode,
  TruncationOption,
  BatchType,
  HandshakeStatus,
  BATCH_OVERHEAD_BYTES,
  valueBytes,
  encodeHandshakeRequest,
  decodeHandshakeRequest,
  encodeHandshakeResponse,
  decodeHandshakeResponse,
  encodeEcdhPsiBatch,
  decodeEcdhPsiBatch,
  type OutputModeValue,
  type TruncationOptionValue,
  type BatchTypeValue,
  type HandshakeRequest,
  type HandshakeResponse,
  type EcdhPsiBatch,
  type BatchDecodeLimits,
} from './codec.js';
export {
  createPsiRequester,
  createPsiResponder,
  resolvePsiOptions,
  DEFAULT_BATCH_SIZE,
  DEFAULT_MAX_BATCH_POINTS,
  DEFAULT_MAX_PEER_SET_SIZE,
  type PsiOutput,
  type PsiProtocolOptions,
  type ResolvedPsiOptions,
  type PsiParty,
  type PsiPartyConfig,
  type PsiPartyResult,
  type PsiPartyStatus,
  type PsiPhase,
  type PsiProgress,
} from './party.js';
export { PsiSuiteNames, type PsiSuiteName } from './suite.js';
export { runPsiProtocol, type RunPsiOptions, type PsiResult, type PsiPayloadProtocolOptions } from './driver.js';
export { DEFAULT_PAYLOAD_MAX_BYTES, MAX_PAYLOAD_MAX_BYTES, encodePayloadPlaintexts, sealedPayloadBytes } from './payload.js';
