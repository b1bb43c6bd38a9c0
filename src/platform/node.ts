/**
 * Node.js implementations of the few platform-specific hooks. The browser build replaces this file
 * with `browser.ts` (see tsup.config.ts); both export the same names and types.
 * @module
 */
import * as nodeCrypto from 'node:crypto';
import * as os from 'node:os';
import { Worker, parentPort } from 'node:worker_threads';
import type { Endpoint } from 'comlink';
// @ts-expect-error comlink 4.4.2 ships no .d.mts for its ESM Node adapter (the types live in
// dist/umd/node-adapter.d.ts, which NodeNext resolution does not pair with the .mjs); typed below.
import nodeEndpointUntyped from 'comlink/dist/esm/node-adapter.mjs';
import type { WorkerHandle } from '../workers/types.js';

const nodeEndpoint = nodeEndpointUntyped as (port: import('node:worker_threads').Worker | import('node:worker_threads').MessagePort) => Endpoint;

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

// --- Workers (src/workers/): the only platform-specific part of the worker pool. ---

/**
 * Spawns a `worker_threads` worker running the ES module at `url` and wraps it for the pool.
 *
 * @example
 * ```ts
 * const handle = spawnWorker(new URL('./workers/worker.js', import.meta.url), 'dataport-worker-0');
 * ```
 */
export function spawnWorker(url: URL, name: string): WorkerHandle {
  const worker = new Worker(url, { name, execArgv: workerExecArgv() });
  let terminating = false;
  let exited = false;
  let exitListener: ((reason: string, cause?: unknown) => void) | undefined;
  let lastError: unknown;
  const report = (reason: string, cause?: unknown): void => {
    const l = exitListener;
    exitListener = undefined;
    if (!terminating) l?.(reason, cause);
  };
  // An uncaught error (or a module that fails to load) emits 'error' and then 'exit'; report the
  // error's code or name, not its message, which may echo data.
  worker.on('error', (err) => {
    lastError = err;
    const code = (err as { code?: unknown }).code;
    report(`uncaught ${typeof code === 'string' ? code : err instanceof Error ? err.name : 'error'}`, err);
  });
  worker.on('messageerror', (err) => {
    report('message could not be deserialized', err);
    void worker.terminate();
  });
  const exitedPromise = new Promise<void>((resolve) => {
    worker.once('exit', (code) => {
      exited = true;
      report(`exit code ${code}`, lastError);
      resolve();
    });
  });
  return {
    endpoint: nodeEndpoint(worker),
    onExit(listener) {
      exitListener = listener;
    },
    async terminate() {
      terminating = true;
      if (!exited) await worker.terminate();
      await exitedPromise;
    },
    setKeepAlive(keepAlive) {
      if (keepAlive) worker.ref();
      else worker.unref();
    },
  };
}

/**
 * The parent's Node options minus those that describe the main script (`-e` / `--eval`, `-p` /
 * `--print`, `--input-type`): a worker inherits `process.execArgv` by default, and with
 * `--input-type` it refuses to load its module file (ERR_INPUT_TYPE_NOT_ALLOWED).
 */
function workerExecArgv(): string[] {
  const out: string[] = [];
  const argv = process.execArgv;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-e' || a === '--eval' || a === '-p' || a === '--print' || a === '--input-type') i++;
    else if (!/^--(input-type|eval|print)=/.test(a)) out.push(a);
  }
  return out;
}

/**
 * Inside a worker: the comlink endpoint to the thread that spawned it.
 *
 * @example
 * ```ts
 * expose(api, parentEndpoint());
 * ```
 */
export function parentEndpoint(): Endpoint {
  if (!parentPort) throw new TypeError('parentEndpoint() must be called inside a worker');
  return nodeEndpoint(parentPort);
}
