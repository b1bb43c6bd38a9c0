/**
 * The object a worker exposes through comlink. Kept apart from the entry file (`worker.ts`) so it
 * can be exercised without a thread.
 * @module
 */
import { transfer } from 'comlink';
import type { BackendName } from '../crypto/group.js';
import { createTaskContext, runTaskInThread, type TaskContext, type WorkerTaskName } from './tasks.js';

/** What the pool calls in a worker. */
export interface WorkerApi {
  /** Loads the crypto core with `backend` (default: fastest); resolves with the backend in use. */
  init(backend: BackendName | undefined): Promise<BackendName>;
  /** Runs one task; the result's buffers are transferred back. */
  run(name: WorkerTaskName, payload: unknown): Promise<unknown>;
}

/** Creates the API of one worker thread. */
export function createWorkerApi(): WorkerApi {
  let ctx: Promise<TaskContext> | undefined;
  return {
    async init(backend) {
      ctx ??= createTaskContext(backend);
      return (await ctx).group.backend;
    },
    async run(name, payload) {
      if (!ctx) throw new TypeError('worker used before init()');
      try {
        const out = await runTaskInThread(name, payload as never, await ctx);
        return transfer(out.value, out.transfer);
      } finally {
        // The payload is this thread's own copy (cloned or transferred), so wiping the secret
        // scalar cannot touch the caller's.
        const scalar = (payload as { scalar?: unknown } | null)?.scalar;
        if ((name === 'multiply' || name === 'multiplyTruncate' || name === 'ppcaMultiply') && scalar instanceof Uint8Array) scalar.fill(0);
      }
    },
  };
}
