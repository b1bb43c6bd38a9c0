import { InvalidPointError, throwIfAborted } from '../../errors.js';
import type { NativeX25519, X25519Backend } from './types.js';

/** Points per call into the addon: abort checks between calls, ~3–30 ms of work each. */
const SLICE_BYTES = 512 * 32;

/**
 * Backend on dataport's own C addon (native/x25519.c): a whole slice of points per call, shared
 * final inversions, and eight (AVX-512 IFMA) or four (AVX2) points at once where the CPU can. No
 * key import per point, which is what makes it faster than `node` (OpenSSL behind KeyObjects).
 */
export function createNativeBackend(native: NativeX25519): X25519Backend {
  return {
    name: 'native',
    async multiplyBatch(scalar, points, signal) {
      const out = new Uint8Array(points.length);
      for (let i = 0; i < points.length; i += SLICE_BYTES) {
        throwIfAborted(signal);
        const end = Math.min(points.length, i + SLICE_BYTES);
        if (native.x25519Batch(scalar, points.subarray(i, end), out.subarray(i, end)) >= 0) {
          throw new InvalidPointError('invalid point: low-order');
        }
      }
      return out;
    },
  };
}
