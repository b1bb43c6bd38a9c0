/**
 * The worker pool (DESIGN.md §5): batch crypto on every core, in Node (`worker_threads`) and
 * browsers (module Web Workers), driven with comlink.
 * @module
 */
export {
  createWorkerPool,
  DEFAULT_CHUNK_SIZE,
  MAX_WORKERS,
  type RunTaskOptions,
  type WorkerPool,
  type WorkerPoolOptions,
  type WorkerPoolStats,
} from './pool.js';
export { WorkerTaskNames, type WorkerTaskName, type WorkerTasks } from './tasks.js';
export type { PackedRecords } from './pack.js';
export type { SpawnWorker, WorkerHandle } from './types.js';
