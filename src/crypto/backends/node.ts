import { InvalidPointError, throwIfAborted } from '../../errors.js';
import { concatBytes, toBase64Url } from '../../utils/bytes.js';
import { PKCS8_X25519_PREFIX, type X25519Backend } from './types.js';

type NodeCrypto = typeof import('node:crypto');

/**
 * Backend on `node:crypto` (OpenSSL's constant-time X25519). Public keys are imported from JWK,
 * which is several times cheaper than DER for one-shot keys; the secret is imported once per batch
 * from PKCS#8.
 */
export function createNodeBackend(crypto: NodeCrypto): X25519Backend {
  return {
    name: 'node',
    async multiplyBatch(scalar, points, signal) {
      const privateKey = crypto.createPrivateKey({
        key: Buffer.from(concatBytes(PKCS8_X25519_PREFIX, scalar)),
        format: 'der',
        type: 'pkcs8',
      });
      const out = new Uint8Array(points.length);
      for (let i = 0; i < points.length; i += 32) {
        if ((i & 0x3fff) === 0) throwIfAborted(signal);
        const publicKey = crypto.createPublicKey({
          key: { kty: 'OKP', crv: 'X25519', x: toBase64Url(points.subarray(i, i + 32)) },
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
