/**
 * The crypto core: curve25519 hash-to-curve, point validation, scalars and x-only multiplication.
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
