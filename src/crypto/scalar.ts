/**
 * Secret scalars: 32 random bytes used as an X25519 secret key (RFC 7748 §5 clamps them on use).
 * @module
 */
import { SCALAR_BYTES } from './constants.js';

/**
 * A fresh secret scalar from the platform CSPRNG (`crypto.getRandomValues`).
 * Use a new one for every session: reusing a scalar across sessions turns the peer into a static
 * ECDH oracle (draft-wang-ppm-ecdh-psi-01 §5).
 *
 * @example
 * ```ts
 * const secretKey = generateScalar();
 * ```
 */
export function generateScalar(): Uint8Array {
  const out = new Uint8Array(SCALAR_BYTES);
  globalThis.crypto.getRandomValues(out);
  return out;
}
