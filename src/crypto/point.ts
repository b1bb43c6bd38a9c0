/**
 * Validation of received group elements (draft-wang-ppm-ecdh-psi-01 §5: received round-1 values are
 * checked before they are multiplied by a long-lived secret).
 *
 * The length, canonical-encoding and low-order checks are byte comparisons in JS; the on-curve
 * test (is u^3 + A u^2 + u a square?) is a Jacobi symbol computed in WebAssembly for a whole batch
 * per call (fast/legendre.ts), or Euler's criterion in BigInt where WebAssembly is unavailable.
 * Received points are public, so these checks may take variable time.
 * @module
 */
import { A, LOW_ORDER_U, POINT_BYTES } from './constants.js';
import { bytesToNumberLE, isSquare, mod, numberToBytesLE } from './field-ref.js';
import { onCurveBatch } from './fast/legendre.js';
import { getWasm } from './fast/wasm.js';
import { InvalidPointError } from '../errors.js';
import { assertBytes } from '../utils/bytes.js';

/** Why a point was rejected. */
export type PointRejection = 'length' | 'non-canonical' | 'not-on-curve' | 'low-order';

const LOW_ORDER_BYTES: readonly Uint8Array[] = LOW_ORDER_U.map((u) => numberToBytesLE(u));

/** Canonical encoding (RFC 7748 §5): top bit clear and u < p = 2^255 - 19. */
function isCanonicalAt(b: Uint8Array, off: number): boolean {
  const top = b[off + 31]!;
  if (top & 0x80) return false;
  if (top !== 0x7f) return true;
  for (let i = 30; i >= 1; i--) if (b[off + i] !== 0xff) return true;
  return b[off]! < 0xed;
}

function isLowOrderAt(b: Uint8Array, off: number): boolean {
  for (const lo of LOW_ORDER_BYTES) {
    let same = true;
    for (let i = 0; i < POINT_BYTES; i++) {
      if (b[off + i] !== lo[i]) {
        same = false;
        break;
      }
    }
    if (same) return true;
  }
  return false;
}

/** The checks that need no field arithmetic, in the order they are reported. */
function cheapCheckAt(b: Uint8Array, off: number): PointRejection | undefined {
  if (!isCanonicalAt(b, off)) return 'non-canonical';
  if (isLowOrderAt(b, off)) return 'low-order';
  return undefined;
}

/** Euler's criterion on g(u) in BigInt: the fallback without WebAssembly (and the reference). */
export function onCurveRef(bytes: Uint8Array): boolean {
  const u = bytesToNumberLE(bytes);
  return isSquare(mod(u * u * u + A * u * u + u));
}

/**
 * Classifies a 32-byte little-endian u-coordinate: `undefined` when it is acceptable, otherwise the
 * reason it is not.
 *
 * - `non-canonical`: the top bit is set or u ≥ p (RFC 7748 §5 would silently reduce these; a
 *   well-behaved peer never sends them, so we refuse rather than accept two encodings of one value);
 * - `low-order`: u is one of the torsion points of order 1, 2, 4 or 8;
 * - `not-on-curve`: u^3 + A·u^2 + u is not a square, so u lies on the quadratic twist.
 *
 * @example
 * ```ts
 * checkPoint(new Uint8Array(32)); // 'low-order' (u = 0)
 * ```
 */
export function checkPoint(bytes: Uint8Array): PointRejection | undefined {
  assertBytes(bytes, 'bytes');
  if (bytes.length !== POINT_BYTES) return 'length';
  const why = cheapCheckAt(bytes, 0);
  if (why !== undefined) return why;
  const wasm = getWasm();
  if (wasm === undefined) return onCurveRef(bytes) ? undefined : 'not-on-curve';
  const res = new Uint8Array(1);
  onCurveBatch(wasm, bytes, res);
  return res[0] === 1 ? undefined : 'not-on-curve';
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
 * position. Fast for large arrays: the on-curve tests run in WebAssembly, one call per 1024 points.
 * `firstPosition` (default 0) is added to the position named, for a caller that checks a long
 * array in slices.
 *
 * @example
 * ```ts
 * decodePointBatch(flat); // flat.length must be a multiple of 32
 * decodePointBatch(flat.subarray(32 * 1000), 1000); // errors name positions from 1000 on
 * ```
 */
export function decodePointBatch(flat: Uint8Array, firstPosition = 0): Uint8Array {
  assertBytes(flat, 'flat');
  if (!Number.isSafeInteger(firstPosition) || firstPosition < 0) throw new RangeError('firstPosition must be a non-negative integer');
  if (flat.length % POINT_BYTES !== 0) throw new InvalidPointError('invalid point: length');
  const n = flat.length / POINT_BYTES;
  const fail = (i: number, why: PointRejection): never => {
    throw new InvalidPointError(`invalid point at position ${firstPosition + i}: ${why}`);
  };
  const wasm = getWasm();
  if (wasm === undefined) {
    for (let i = 0; i < n; i++) {
      const why = cheapCheckAt(flat, i * POINT_BYTES) ?? (onCurveRef(flat.subarray(i * POINT_BYTES, (i + 1) * POINT_BYTES)) ? undefined : 'not-on-curve');
      if (why !== undefined) fail(i, why);
    }
    return flat;
  }
  // Cheap checks first for the whole array (the first failure bounds where we must look), then
  // the on-curve test in WebAssembly; a failure is reported at the lowest position either way.
  let firstCheap = n;
  let cheapWhy: PointRejection | undefined;
  for (let i = 0; i < n; i++) {
    const why = cheapCheckAt(flat, i * POINT_BYTES);
    if (why !== undefined) {
      firstCheap = i;
      cheapWhy = why;
      break;
    }
  }
  const onCurve = new Uint8Array(firstCheap);
  onCurveBatch(wasm, flat.subarray(0, firstCheap * POINT_BYTES), onCurve);
  const bad = onCurve.indexOf(0);
  if (bad !== -1) fail(bad, 'not-on-curve');
  if (cheapWhy !== undefined) fail(firstCheap, cheapWhy);
  return flat;
}
