import { InvalidPointError, throwIfAborted } from '../../errors.js';
import { concatBytes, equalBytes } from '../../utils/bytes.js';
import { PKCS8_X25519_PREFIX, type X25519Backend } from './types.js';

type NodeCrypto = typeof import('node:crypto');
type KeyObject = import('node:crypto').KeyObject;

/**
 * Backend on `node:crypto` (OpenSSL's constant-time X25519). Public keys are imported from JWK,
 * which is several times cheaper than DER for one-shot keys; the secret is imported from PKCS#8
 * once per scalar array.
 */
export function createNodeBackend(crypto: NodeCrypto): X25519Backend {
  // Importing the PKCS#8 secret costs ~0.2–0.6 ms, paid per batch otherwise. Keyed weakly by the
  // caller's scalar array, so the imported key lives exactly as long as the caller keeps the scalar
  // (a protocol party holds it for its session) and is never shared between scalars.
  // The bytes are kept beside the key and compared on every use, so a caller that rewrites its
  // array in place (to wipe it, or to reuse it for another scalar) never gets a stale key.
  const imported = new WeakMap<Uint8Array, { bytes: Uint8Array; key: KeyObject }>();
  const privateKeyFor = (scalar: Uint8Array): KeyObject => {
    const hit = imported.get(scalar);
    if (hit !== undefined && equalBytes(hit.bytes, scalar)) return hit.key;
    const key = crypto.createPrivateKey({ key: Buffer.from(concatBytes(PKCS8_X25519_PREFIX, scalar)), format: 'der', type: 'pkcs8' });
    imported.set(scalar, { bytes: new Uint8Array(scalar), key });
    return key;
  };
  return {
    name: 'node',
    async multiplyBatch(scalar, points, signal) {
      const privateKey = privateKeyFor(scalar);
      // A view, not a copy: Buffer's base64url of the 32 bytes is what the JWK `x` member holds.
      const view = Buffer.from(points.buffer, points.byteOffset, points.length);
      const out = new Uint8Array(points.length);
      for (let i = 0; i < points.length; i += 32) {
        if ((i & 0x3fff) === 0) throwIfAborted(signal);
        const publicKey = crypto.createPublicKey({
          key: { kty: 'OKP', crv: 'X25519', x: view.toString('base64url', i, i + 32) },
          format: 'jwk',
        });
        let r: Buffer;
        try {
          r = crypto.diffieHellman({ privateKey, publicKey });
        } catch (cause) {
          // OpenSSL fails the derivation when the result is all zero (a small-order input).
          throw new InvalidPointError('invalid point: low-order', { cause });
        }
        out.set(r, i);
      }
      return out;
    },
  };
}
