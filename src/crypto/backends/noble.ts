import { x25519 } from '@noble/curves/ed25519.js';
import { InvalidPointError, throwIfAborted } from '../../errors.js';
import type { X25519Backend } from './types.js';

/** Portable backend on `@noble/curves` (pure JavaScript; the reference in tests). */
export function createNobleBackend(): X25519Backend {
  return {
    name: 'noble',
    async multiplyBatch(scalar, points, signal) {
      const out = new Uint8Array(points.length);
      for (let i = 0; i < points.length; i += 32) {
        if ((i & 0x3fff) === 0) throwIfAborted(signal);
        let r: Uint8Array;
        try {
          r = x25519.scalarMult(scalar, points.subarray(i, i + 32));
        } catch (cause) {
          // noble refuses an all-zero shared secret: the input had small order.
          throw new InvalidPointError('invalid point: low-order', { cause });
        }
        out.set(r, i);
      }
      return out;
    },
  };
}
