/**
 * SM2 scalar multiplication in dataport's native addon (native/sm2.c, built into
 * `build/dataport_x25519.node` by scripts/build-native.mjs), reached through the addon's one loader
 * ({@link loadNativeX25519}: `DATAPORT_NATIVE=0` turns it off, an addon of another interface
 * version is refused). Where the addon is absent the callers use the portable implementation.
 * @module
 */
import { InvalidPointError } from '../../errors.js';
import { loadNativeX25519 } from '../../platform/node.js';
import type { NativeSm2Kernel } from '../backends/types.js';

/** Bytes of an X9.62-compressed SM2 point. */
const POINT_BYTES = 33;

/**
 * Whether the native SM2 multiplication is available in this thread (the addon was built and
 * passed its known-answer self-check, and `DATAPORT_NATIVE` is not `0`).
 *
 * @example
 * ```ts
 * const path = hasNativeSm2() ? 'native' : 'portable';
 * ```
 */
export function hasNativeSm2(): boolean {
  return loadNativeX25519() !== undefined;
}

/**
 * Which SM2 kernel the addon runs here by default — `ifma8` (eight points at once with AVX-512
 * IFMA) or `portable` (64-bit C) — or `undefined` without the addon. `DATAPORT_NATIVE_KERNEL`
 * forces `ifma8` or `portable` for SM2 as for X25519.
 *
 * @example
 * ```ts
 * console.log(`sm2: ${nativeSm2Kernel() ?? 'portable JavaScript'}`);
 * ```
 */
export function nativeSm2Kernel(): NativeSm2Kernel | undefined {
  const native = loadNativeX25519();
  if (native === undefined) return undefined;
  return native.sm2Kernels.find((k) => k === native.kernel) ?? native.sm2Kernels[0];
}

/**
 * n × 33-byte compressed SM2 points → n × 33-byte compressed k·P, in the native addon (constant
 * time in `scalar`; see native/sm2.c), or `undefined` when the addon is absent. `scalar` is 32
 * bytes big-endian in [1, n−1]. Synchronous, one call into the addon (tens of µs per point with
 * AVX-512 IFMA, several hundred without): callers slice large batches or run them in the worker
 * pool, whose threads each load the addon.
 *
 * @throws TypeError / RangeError naming the argument (not Uint8Arrays, a scalar of another length
 *   or out of range, `points` not a multiple of 33 bytes).
 * @throws InvalidPointError for the first input that is not a valid compressed point (wrong
 *   prefix, x ≥ p, x not on the curve), naming its index.
 * @example
 * ```ts
 * const out = nativeSm2MultiplyBatch(scalar, points) ?? sm2MultiplyBatchPortable(scalar, points);
 * ```
 */
export function nativeSm2MultiplyBatch(scalar: Uint8Array, points: Uint8Array): Uint8Array | undefined {
  const native = loadNativeX25519();
  if (native === undefined) return undefined;
  if (!(points instanceof Uint8Array)) throw new TypeError('points must be a Uint8Array');
  if (points.length % POINT_BYTES !== 0) throw new RangeError(`points length must be a multiple of ${POINT_BYTES}`);
  const out = new Uint8Array(points.length);
  const bad = native.sm2MultiplyBatch(scalar, points, out);
  if (bad >= 0) throw new InvalidPointError(`invalid point at index ${bad}: not a compressed SM2 point`);
  return out;
}

/**
 * The SM2 hash-to-curve step in the native addon, or `undefined` without the addon (or with a
 * build that predates it): for each 32-byte big-endian x of `xs`, the first of x mod p, x + 1, …,
 * x + `maxIncrements` (mod p) that is the abscissa of a curve point, as the compressed point
 * 02 ‖ x (even y); items with none are left with a first byte 0. Public data only (hashes of
 * keys): not constant time. Cross-checked against the portable maps in test/native-sm2.test.ts.
 *
 * @throws RangeError when `maxIncrements` is not an integer in 0..1000.
 * @example
 * ```ts
 * const lifted = nativeSm2LiftX(digests, 99); // sm2-sm3-tai's increments
 * ```
 */
export function nativeSm2LiftX(xs: Uint8Array, maxIncrements: number): { points: Uint8Array; left: number } | undefined {
  const native = loadNativeX25519();
  if (native?.sm2LiftX === undefined) return undefined;
  if (!(xs instanceof Uint8Array)) throw new TypeError('xs must be a Uint8Array');
  if (xs.length % 32 !== 0) throw new RangeError('xs length must be a multiple of 32');
  if (!Number.isInteger(maxIncrements) || maxIncrements < 0 || maxIncrements > 1000) throw new RangeError('maxIncrements must be an integer in 0..1000');
  const points = new Uint8Array((xs.length / 32) * POINT_BYTES);
  const left = native.sm2LiftX(xs, points, maxIncrements);
  return { points, left };
}
