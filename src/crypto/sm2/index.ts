/**
 * SM2 batch scalar multiplication: the one seam behind which a faster implementation (the native
 * addon) is chosen. Points travel as flat arrays of 33-byte X9.62 compressed encodings.
 * @module
 */
import { InvalidPointError } from '../../errors.js';
import { assertBytes } from '../../utils/bytes.js';
import { SM2_COMPRESSED_BYTES, Sm2Point, decodeSm2Point, encodeSm2Point, sm2ScalarFromBytes } from './curve.js';
import { nativeSm2MultiplyBatch } from './native.js';

export {
  SM2_COMPRESSED_BYTES,
  SM2_N,
  SM2_P,
  decodeSm2Point,
  encodeSm2Point,
  generateSm2Scalar,
  hashToSm2Sha256Tar,
  hashToSm2Sm3Tai,
  sm3,
} from './curve.js';

function checkArgs(scalar: Uint8Array, points: Uint8Array): bigint {
  assertBytes(points, 'points');
  if (points.length % SM2_COMPRESSED_BYTES !== 0) throw new RangeError('points length must be a multiple of 33');
  return sm2ScalarFromBytes(scalar);
}

/**
 * n × 33-byte compressed SM2 points → n × 33-byte compressed k·P; k is 32 bytes big-endian in
 * [1, n−1]. Throws InvalidPointError (with the index) for an invalid input point.
 *
 * @example
 * ```ts
 * const masked = sm2MultiplyBatch(generateSm2Scalar(), points);
 * ```
 */
export function sm2MultiplyBatch(scalar: Uint8Array, points: Uint8Array): Uint8Array {
  // The native addon's constant-time kernels (native/sm2*.c) when the addon is present; the
  // portable implementation wherever it is absent (browsers, no compiler, DATAPORT_NATIVE=0).
  return nativeSm2MultiplyBatch(scalar, points) ?? sm2MultiplyBatchPortable(scalar, points);
}

/**
 * The portable implementation of {@link sm2MultiplyBatch} (noble's generic short-Weierstrass
 * arithmetic, about a millisecond per point). noble's `multiply` is written to run in time
 * independent of the scalar, but BigInt arithmetic gives no hard constant-time guarantee.
 *
 * @example
 * ```ts
 * const masked = sm2MultiplyBatchPortable(generateSm2Scalar(), points);
 * ```
 */
export function sm2MultiplyBatchPortable(scalar: Uint8Array, points: Uint8Array): Uint8Array {
  const k = checkArgs(scalar, points);
  const n = points.length / SM2_COMPRESSED_BYTES;
  const out = new Uint8Array(points.length);
  for (let i = 0; i < n; i++) {
    let P: InstanceType<typeof Sm2Point>;
    try {
      P = decodeSm2Point(points.subarray(i * SM2_COMPRESSED_BYTES, (i + 1) * SM2_COMPRESSED_BYTES));
    } catch (cause) {
      throw new InvalidPointError(`invalid SM2 point at index ${i}`, { cause });
    }
    // Cofactor 1 and k in [1, n-1]: k·P is never the identity for P ≠ O.
    out.set(encodeSm2Point(P.multiply(k)), i * SM2_COMPRESSED_BYTES);
  }
  return out;
}
