/**
 * Browser implementations of the platform hooks (the build swaps this in for `node.ts`).
 * @module
 */

/** Always `undefined` in browsers: there is no `node:crypto`. */
export function getNodeCrypto(): typeof import('node:crypto') | undefined {
  return undefined;
}

/** `navigator.hardwareConcurrency`, or 1 when unknown. */
export function availableCores(): number {
  const n = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency;
  return typeof n === 'number' && n > 0 ? n : 1;
}

/** Which runtime this build is for. */
export const PLATFORM: 'node' | 'browser' = 'browser';
