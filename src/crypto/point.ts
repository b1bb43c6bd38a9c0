/**
 * Validation of received group elements (draft-wang-ppm-ecdh-psi-01 §5: received round-1 values are
 * checked before they are multiplied by a long-lived secret).
 * @module
 */
import { A, LOW_ORDER_U, P, POINT_BYTES } from './constants.js';
import { bytesToNumberLE, isSquare, mod } from './field-ref.js';
import { InvalidPointError } from '../errors.js';
import { assertBytes } from '../utils/bytes.js';

/** Why a point was rejected. */
export type PointRejection = 'length' | 'non-canonical' | 'not-on-curve' | 'low-order';

/**
 * Classifies a 32-byte little-endian u-coordinate: `undefined` when it is acceptable, otherwise the
 * reason it is not.
 *
 * - `non-canonical`: the top bit is set or u ≥ p (RFC 7748 §5 would silently reduce these; a
 *   well-behaved peer never sends them, so we refuse rather than accept two encodings of one value);
 * - `not-on-curve`: u^3 + A·u^2 + u is not a square, so u lies on the quadratic twist;
 * - `low-order`: u is one of the torsion points of order 1, 2, 4 or 8.
 */
export function checkPoint(bytes: Uint8Array): PointRejection | undefined {
  if (bytes.length !== POINT_BYTES) return 'length';
  if ((bytes[31]! & 0x80) !== 0) return 'non-canonical';
  const u = bytesToNumberLE(bytes);
  if (u >= P) return 'non-canonical';
  if (LOW_ORDER_U.includes(u)) return 'low-order';
  const rhs = mod(u * u * u + A * u * u + u);
  if (!isSquare(rhs)) return 'not-on-curve';
  return undefined;
}

/**
 * Checks a received encoded point and returns it unchanged; throws {@link InvalidPointError} if it
 * is not a canonical, on-curve, non-low-order u-coordinate.
 *
 * @example
 * ```ts
 * const u = decodePoint(frameBytes.subarray(0, 32));
 * ```
 */
export function decodePoint(bytes: Uint8Array): Uint8Array {
  assertBytes(bytes, 'bytes');
  const why = checkPoint(bytes);
  if (why !== undefined) throw new InvalidPointError(`invalid point: ${why}`);
  return bytes;
}

/**
 * Checks every 32-byte point of a flat array; throws {@link InvalidPointError} naming the first bad
 * position.
 *
 * @example
 * ```ts
 * decodePointBatch(flat); // flat.length must be a multiple of 32
 * ```
 */
export function decodePointBatch(flat: Uint8Array): Uint8Array {
  assertBytes(flat, 'flat');
  if (flat.length % POINT_BYTES !== 0) throw new InvalidPointError('invalid point: length');
  for (let i = 0; i < flat.length; i += POINT_BYTES) {
    const why = checkPoint(flat.subarray(i, i + POINT_BYTES));
    if (why !== undefined) throw new InvalidPointError(`invalid point at position ${i / POINT_BYTES}: ${why}`);
  }
  return flat;
}
