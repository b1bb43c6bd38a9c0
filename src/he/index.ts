/**
 * Homomorphic encryption (BFV over node-seal, loaded lazily): parameter selection from declared
 * bounds, exact fixed-point decimals, opaque key and ciphertext handles, validated envelopes.
 * @module
 */
export {
  HE_FLOOD_STATISTICAL_BITS,
  HE_POLY_MODULUS_DEGREES,
  chooseHeParameters,
  decodeHeParameters,
  describeHeParameters,
  encodeHeParameters,
  heParametersHash,
  type HeParameterRequest,
  type HeParameters,
  type HePolyModulusDegree,
} from './params.js';
export {
  HE_ENVELOPE_MAX_BYTES,
  createHeContext,
  readPublicKeyParameters,
  type HeCiphertext,
  type HeContext,
  type HeImportOptions,
  type HeKeyPair,
  type HePublicKey,
  type HeSecretKey,
} from './context.js';
export { encryptBatch } from './batch.js';
export { MAX_DECIMALS, divideToDecimal, formatFixedPoint, parseFixedPoint } from './fixed-point.js';
