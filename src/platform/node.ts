/**
 * Node.js implementations of the few platform-specific hooks. The browser build replaces this file
 * with `browser.ts` (see tsup.config.ts); both export the same names and types.
 * @module
 */
import * as nodeCrypto from 'node:crypto';
import * as os from 'node:os';

/** The `node:crypto` module where it exists (Node), `undefined` in browsers. */
export function getNodeCrypto(): typeof import('node:crypto') | undefined {
  return nodeCrypto;
}

/** Number of logical CPUs available to this process. */
export function availableCores(): number {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

/** Which runtime this build is for. */
export const PLATFORM: 'node' | 'browser' = 'node';
