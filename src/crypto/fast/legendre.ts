/**
 * Batched on-curve test for received u-coordinates: is g(u) = u^3 + A u^2 + u a square in GF(p)
 * (RFC 7748 §4.1; otherwise u lies on the quadratic twist)? Runs in WebAssembly with a binary
 * Jacobi-symbol algorithm, which is variable time: it is applied to PUBLIC received points only.
 * @module
 */
import { POINT_BYTES } from '../constants.js';
import type { WasmHandle } from './wasm.js';

/**
 * For each 32-byte little-endian u of `flat` (canonical: top bit clear and u < p, checked by the
 * caller), writes 1 to `result[i]` if g(u) is a square or zero, else 0.
 * `constantTime` selects Euler's criterion by exponentiation instead (a cross-check).
 */
export function onCurveBatch(wasm: WasmHandle, flat: Uint8Array, result: Uint8Array, constantTime = false): void {
  const n = flat.length / POINT_BYTES;
  // The input buffer holds chunk * 48 bytes; use it for chunk * 32-byte points.
  const step = wasm.chunk;
  for (let start = 0; start < n; start += step) {
    const m = Math.min(step, n - start);
    wasm.input.set(flat.subarray(start * POINT_BYTES, (start + m) * POINT_BYTES));
    if (constantTime) wasm.exports.legendre_batch_ct(m);
    else wasm.exports.legendre_batch(m);
    result.set(wasm.output.subarray(0, m), start);
  }
}
