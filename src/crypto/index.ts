/**
 * The crypto core: curve25519 hash-to-curve, point validation, scalars and x-only multiplication;
 * SM2 and the PPCA interconnection suites.
 * Runtime-neutral; no I/O.
 * @module
 */
export { PSI_DST, PSI_DST_STRING, POINT_BYTES, SCALAR_BYTES } from './constants.js';
export { encodeToCurve, encodeToCurveBatch, hashToCurve } from './hash-to-curve.js';
export { checkPoint, decodePoint, decodePointBatch, type PointRejection } from './point.js';
export { initCrypto, isFastCryptoReady } from './fast/init.js';
export { generateScalar } from './scalar.js';
export { hkdfSha512Batch } from './hkdf.js';
export { availableBackends, createGroup, BackendNames, type BackendName, type Group } from './group.js';
export {
  PpcaSuiteNames,
  generatePpcaScalar,
  ppcaHashBatch,
  ppcaMultiplyBatch,
  ppcaNormalizePeerPoints,
  ppcaPointBytes,
  type PpcaSuiteName,
} from './ppca-suite.js';
export { sm2MultiplyBatch, sm2MultiplyBatchPortable, decodeSm2Point, encodeSm2Point, hashToSm2Sha256Tar, hashToSm2Sm3Tai, generateSm2Scalar, sm3, SM2_P, SM2_N, SM2_COMPRESSED_BYTES } from './sm2/index.js';
export { clampedScalarModOrder, generateOprfBlind, GROUP_ORDER } from './oprf.js';
