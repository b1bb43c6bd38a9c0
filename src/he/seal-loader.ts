/**
 * Lazy, once-only loading of node-seal (Microsoft SEAL compiled to WebAssembly).
 *
 * Internal: SEAL types never leave `src/he/` so the node-seal version can move without an API
 * change. node-seal 6.0.3 is pinned because node-seal 7 does not load on Node 20.
 * @module
 */
import type { SEALLibrary } from 'node-seal/implementation/seal.js';
import { UnsupportedError } from '../errors.js';

/** The loaded SEAL library (internal type). */
export type Seal = SEALLibrary;

/** Internal SEAL object types, derived from the library type so only one module path is named. */
export type CipherText = ReturnType<Seal['CipherText']>;
export type Context = ReturnType<Seal['Context']>;
export type BatchEncoder = ReturnType<Seal['BatchEncoder']>;
export type Encryptor = ReturnType<Seal['Encryptor']>;
export type Evaluator = ReturnType<Seal['Evaluator']>;
export type PublicKey = ReturnType<Seal['PublicKey']>;
export type SecretKey = ReturnType<Seal['SecretKey']>;

let loading: Promise<Seal> | undefined;

/** Loads node-seal on first use (dynamic import, WebAssembly instantiation); later calls share it. */
export function loadSeal(): Promise<Seal> {
  if (loading === undefined) {
    loading = (async () => {
      try {
        const mod = (await import('node-seal')) as unknown as { default: () => Promise<Seal> };
        return await mod.default();
      } catch (cause) {
        loading = undefined;
        throw new UnsupportedError('homomorphic encryption (node-seal) could not be loaded', { cause });
      }
    })();
  }
  return loading;
}
