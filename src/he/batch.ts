/**
 * Stateless batch encryption, usable from a worker: a pure function of (public-key envelope,
 * values) → ciphertext envelope. Contexts are cached per parameter hash inside this module.
 * @module
 */
import { toHex } from '../utils/bytes.js';
import { createHeContext, readPublicKeyParameters, type HeContext } from './context.js';
import { heParametersHash } from './params.js';

const MAX_CACHED = 4;
const cache = new Map<string, Promise<HeContext>>();

async function contextFor(publicKey: Uint8Array): Promise<HeContext> {
  const params = readPublicKeyParameters(publicKey);
  const key = toHex(heParametersHash(params));
  let ctx = cache.get(key);
  if (ctx === undefined) {
    if (cache.size >= MAX_CACHED) {
      const oldest = cache.keys().next().value as string;
      const evicted = cache.get(oldest)!;
      cache.delete(oldest);
      void evicted.then((c) => c.dispose(), () => {});
    }
    ctx = createHeContext(params);
    cache.set(key, ctx);
    ctx.catch(() => cache.delete(key));
  }
  return ctx;
}

/**
 * Encrypts `values` under the public key in `publicKey` (an envelope from
 * `HeContext.exportPublicKey`, which carries its parameters) and returns the ciphertext envelope.
 * Throws `RangeError` for a value outside the declared bound, `MalformedMessageError` for a bad key.
 *
 * @example
 * ```ts
 * const ciphertext = await encryptBatch(publicKeyBytes, [1n, -2n, 3n]);
 * ```
 */
export async function encryptBatch(publicKey: Uint8Array, values: ArrayLike<bigint | number>): Promise<Uint8Array> {
  const he = await contextFor(publicKey);
  const pk = he.importPublicKey(publicKey);
  try {
    const ct = he.encrypt(pk, values);
    try {
      return he.exportCiphertext(ct);
    } finally {
      ct.dispose();
    }
  } finally {
    pk.dispose();
  }
}
