/**
 * Public switch for the fast (WebAssembly) crypto path.
 * @module
 */
import { getWasm, initWasm } from './wasm.js';

/**
 * Prepares the fast WebAssembly path of hash-to-curve and point validation by compiling it
 * asynchronously. Optional on Node and in workers, where the module is compiled synchronously on
 * first use; call it once at start-up on a browser's main thread, where synchronous compilation of
 * modules above 4 KB is refused (until then, and wherever WebAssembly is blocked, the same results
 * come from the slower reference implementation). Never rejects.
 *
 * @example
 * ```ts
 * import { initCrypto, encodeToCurve } from 'dataport/crypto';
 * await initCrypto();
 * const u = encodeToCurve(new TextEncoder().encode('110101199003070011'));
 * ```
 */
export async function initCrypto(): Promise<void> {
  if (getWasm() !== undefined) return;
  await initWasm();
}

/**
 * Whether hash-to-curve and point validation currently take the fast WebAssembly path.
 *
 * @example
 * ```ts
 * await initCrypto();
 * console.log(isFastCryptoReady()); // true unless WebAssembly is blocked
 * ```
 */
export function isFastCryptoReady(): boolean {
  return getWasm() !== undefined;
}
