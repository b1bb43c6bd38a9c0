import { InvalidPointError, throwIfAborted } from '../../errors.js';
import { concatBytes } from '../../utils/bytes.js';
import { PKCS8_X25519_PREFIX, type X25519Backend } from './types.js';

/** True when this runtime's SubtleCrypto implements X25519 (Node ≥ 20, recent browsers). */
export async function webCryptoHasX25519(): Promise<boolean> {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) return false;
  try {
    const u = new Uint8Array(32);
    u[0] = 9;
    await subtle.importKey('raw', u, { name: 'X25519' }, false, []);
    return true;
  } catch {
    return false;
  }
}

/** Backend on WebCrypto's X25519 (`deriveBits`), the fast path in browsers that have it. */
export function createWebCryptoBackend(): X25519Backend {
  const subtle = globalThis.crypto.subtle;
  return {
    name: 'webcrypto',
    async multiplyBatch(scalar, points, signal) {
      const privateKey = await subtle.importKey(
        'pkcs8',
        concatBytes(PKCS8_X25519_PREFIX, scalar),
        { name: 'X25519' },
        false,
        ['deriveBits'],
      );
      const out = new Uint8Array(points.length);
      for (let i = 0; i < points.length; i += 32) {
        if ((i & 0x3fff) === 0) throwIfAborted(signal);
        const publicKey = await subtle.importKey('raw', points.slice(i, i + 32), { name: 'X25519' }, false, []);
        let r: ArrayBuffer;
        try {
          r = await subtle.deriveBits({ name: 'X25519', public: publicKey }, privateKey, 256);
        } catch (cause) {
          throw new InvalidPointError('invalid point: low-order', { cause });
        }
        out.set(new Uint8Array(r), i);
      }
      return out;
    },
  };
}
