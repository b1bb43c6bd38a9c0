/**
 * Browser implementations of the platform hooks (the build swaps this in for `node.ts`).
 * @module
 */
import type { Endpoint } from 'comlink';
import type { WorkerHandle } from '../workers/types.js';
import type { NativeX25519 } from '../crypto/backends/types.js';

/** Always `undefined` in browsers: there is no `node:crypto`. */
export function getNodeCrypto(): typeof import('node:crypto') | undefined {
  return undefined;
}

/** Always `undefined` in browsers: native addons are a Node.js feature. */
export function loadNativeX25519(): NativeX25519 | undefined {
  return undefined;
}

/** Why there is no native addon: browsers have none. */
export function nativeX25519Absence(): string | undefined {
  return 'native addons are a Node.js feature';
}

/** `navigator.hardwareConcurrency`, or 1 when unknown. */
export function availableCores(): number {
  const n = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency;
  return typeof n === 'number' && n > 0 ? n : 1;
}

/** Which runtime this build is for. */
export const PLATFORM: 'node' | 'browser' = 'browser';

// --- Workers (src/workers/): the only platform-specific part of the worker pool. ---

/**
 * Spawns a module Web Worker running the ES module at `url` and wraps it for the pool.
 *
 * @example
 * ```ts
 * const handle = spawnWorker(new URL('./workers/worker.js', import.meta.url), 'dataport-worker-0');
 * ```
 */
export function spawnWorker(url: URL, name: string): WorkerHandle {
  const worker = new Worker(url, { type: 'module', name });
  let exitListener: ((reason: string, cause?: unknown) => void) | undefined;
  const report = (reason: string, cause?: unknown): void => {
    const l = exitListener;
    exitListener = undefined;
    l?.(reason, cause);
  };
  // Browsers fire no event when a worker dies; an uncaught error (including a script that fails to
  // load) fires 'error', after which the pool terminates and replaces the worker.
  worker.addEventListener('error', (ev) => {
    ev.preventDefault();
    report('uncaught error', ev);
  });
  worker.addEventListener('messageerror', (ev) => report('message could not be deserialized', ev));
  return {
    endpoint: worker,
    onExit(listener) {
      exitListener = listener;
    },
    async terminate() {
      exitListener = undefined;
      worker.terminate();
    },
    setKeepAlive() {},
  };
}

/**
 * Inside a worker: the comlink endpoint to the page that spawned it (the worker's global scope).
 *
 * @example
 * ```ts
 * expose(api, parentEndpoint());
 * ```
 */
export function parentEndpoint(): Endpoint {
  return globalThis as unknown as Endpoint;
}
