/**
 * Types shared by the worker pool, the worker entry and the platform factories.
 * @module
 */
import type { Endpoint } from 'comlink';

/**
 * One running worker as the platform factory hands it to the pool: a comlink endpoint plus the
 * lifecycle hooks the pool needs. `spawnWorker` in `src/platform/node.ts` builds it on
 * `worker_threads`, the browser variant on `new Worker(url, { type: 'module' })`.
 *
 * @example
 * ```ts
 * // A custom factory (for example to add resource limits) wraps the default one:
 * const pool = await createWorkerPool({
 *   spawnWorker: (url, name) => {
 *     const handle = defaultSpawn(url, name);
 *     console.log('spawned', name);
 *     return handle;
 *   },
 * });
 * ```
 */
export interface WorkerHandle {
  /** The comlink endpoint talking to the worker. */
  readonly endpoint: Endpoint;
  /**
   * Registers `listener`, called once when the worker stops without `terminate()` having been
   * called: it exited, threw an uncaught error, or failed to load. `reason` is short and free of
   * data (an exit code or an error code / name); `cause` is the platform's error, if any.
   */
  onExit(listener: (reason: string, cause?: unknown) => void): void;
  /** Stops the worker; resolves once its thread is gone (Node) or the stop was requested (browsers). */
  terminate(): Promise<void>;
  /**
   * Whether the worker keeps the process alive (Node's `ref()` / `unref()`; no-op in browsers).
   * The pool holds a reference only while the worker has work, so an idle pool never keeps a
   * Node process running.
   */
  setKeepAlive(keepAlive: boolean): void;
}

/**
 * Creates one worker running the module at `url`; `name` shows up in debuggers and thread lists.
 *
 * @example
 * ```ts
 * const spawn: SpawnWorker = (url, name) => mySpawn(url, name);
 * ```
 */
export type SpawnWorker = (url: URL, name: string) => WorkerHandle;
