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
