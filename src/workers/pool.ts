/**
 * The worker pool (DESIGN.md §5): a {@link CryptoExecutor} that splits batches into chunks and runs
 * them on N workers through comlink — hash-to-curve and X25519 in chunks of records / points, BFV
 * encryption one vector per task, and any task of `WorkerTasks` through `runTask`.
 *
 * - Transfers: records travel packed (`pack.ts`) and points as one slice per chunk, in fresh
 *   buffers that are transferred (moved) to the worker; results are transferred back. The caller's
 *   arrays are never detached. Inputs are read when a chunk is dispatched, so callers must not
 *   modify them until the operation settles.
 * - Order: chunk `i` covers records `[i * size, (i + 1) * size)` and its result lands at that offset,
 *   so results are byte-for-byte those of the inline executor.
 * - Settling: an operation settles only once none of its chunks is running anywhere. On the first
 *   failure (a task error, a crashed worker, an abort, `close()`), its queued chunks are dropped,
 *   chunks already running finish and are discarded, then it rejects with that first error.
 * - Crashes: a worker that exits or throws an uncaught error fails the chunks it held with
 *   `WorkerCrashedError` and is replaced. A worker that dies before it is ready is not respawned
 *   until the next operation asks for workers, so a broken worker file cannot spin.
 * - Threads: a worker holds a reference on the Node event loop only while it has work, so an idle
 *   pool never keeps a process alive; `close()` terminates every thread and waits for it to end.
 * @module
 */
import { transfer, wrap, type Remote } from 'comlink';
import { POINT_BYTES, SCALAR_BYTES } from '../crypto/constants.js';
import type { BackendName } from '../crypto/group.js';
import { AbortError, WorkerCrashedError, throwIfAborted } from '../errors.js';
import { availableCores, spawnWorker as platformSpawnWorker } from '../platform/node.js';
import { createInlineExecutor, type CryptoExecutor } from '../protocols/executor.js';
import { ppcaPointBytes, type PpcaSuiteName } from '../crypto/ppca-suite.js';
import { assertBytes } from '../utils/bytes.js';
import { installErrorTransfer } from './error-transfer.js';
import { packRecords } from './pack.js';
import { createTaskContext, runTaskInThread, WorkerTaskNames, type TaskContext, type WorkerTaskName, type WorkerTasks } from './tasks.js';
import type { SpawnWorker, WorkerHandle } from './types.js';
import type { WorkerApi } from './worker-api.js';

/**
 * Default records per chunk, per task, chosen from the per-chunk dispatch overhead measured by
 * `bench/workers.mjs` (section 1): a chunk should carry ~50× its overhead in work, so dispatch costs
 * ~2 % of the time; the size is that ratio rounded to the nearest power of two. Measured on the
 * project's 2-core machine (Node 20, 2026-11-26, results in bench/results/workers-*.json):
 * hashToGroup 9.7 µs per record, 56 µs per chunk → 50 × 56 / 9.7 ≈ 290 → 256 (a ~2.5 ms chunk);
 * multiply 55 µs per point, 554 µs per chunk (most of it the backend importing the secret key on
 * every call) → 50 × 554 / 55 ≈ 500 → 512 (a ~28 ms chunk). With the native addon's IFMA kernel
 * (23:56 UTC, same machine): multiply 9.3 µs per point, ~100 µs per chunk → 50 × 100 / 9.3 ≈ 540
 * → still 512 (a ~5 ms chunk); the sweep had 256 and 512 within 1 %. On the loaded machine the rule gave
 * 256–512 for hashToGroup across runs; the chunk-size sweep (section 2) had 256 fastest or tied in
 * every run for both tasks and 16–64 clearly slower, hence 256 and 512. Chunks this size abort
 * within tens of milliseconds, and `planChunks` gives every worker a share of a small batch.
 *
 * @example
 * ```ts
 * const pool = await createWorkerPool({ chunkSize: DEFAULT_CHUNK_SIZE.multiply * 4 });
 * ```
 */
export const DEFAULT_CHUNK_SIZE: Readonly<Record<'hashToGroup' | 'multiply', number>> = { hashToGroup: 256, multiply: 512 };

/** Chunks a worker may hold at once: two, so it never waits for a round trip between chunks. */
const MAX_IN_FLIGHT_PER_WORKER = 2;

/**
 * Upper bound on `workers` (a guard against typos such as 1e6).
 *
 * @example
 * ```ts
 * const pool = await createWorkerPool({ workers: Math.min(requested, MAX_WORKERS) });
 * ```
 */
export const MAX_WORKERS = 256;

/**
 * Options of {@link createWorkerPool}.
 *
 * @example
 * ```ts
 * const options: WorkerPoolOptions = { workers: 2, backend: 'node', chunkSize: 128 };
 * ```
 */
export interface WorkerPoolOptions {
  /** Number of workers (default: available cores). `0` runs everything inline on this thread. */
  workers?: number;
  /** Scalar-multiplication backend in every worker (default: the fastest available there). */
  backend?: BackendName;
  /** Records (or points) per chunk for batch operations (default: {@link DEFAULT_CHUNK_SIZE}). */
  chunkSize?: number;
  /**
   * Location of the worker module (default: `./workers/worker.js` next to the built library, which
   * is where `dist/` and `dist/browser/` put it). Set it when a bundler moves the file.
   */
  workerUrl?: URL | string;
  /** Replaces the platform's worker factory (tests, custom resource limits). */
  spawnWorker?: SpawnWorker;
}

/**
 * Options of {@link WorkerPool.runTask}.
 *
 * @example
 * ```ts
 * const points = new Uint8Array(32 * 10);
 * await pool.runTask('multiply', { scalar, points }, { transfer: [points.buffer], signal });
 * ```
 */
export interface RunTaskOptions {
  /** Buffers of the payload to transfer (they become unusable here). */
  transfer?: ArrayBuffer[];
  /** Cancels the task while it is still queued. */
  signal?: AbortSignal;
}

/**
 * A snapshot of the pool's load (see {@link WorkerPool.stats}).
 *
 * @example
 * ```ts
 * const { queuedChunks, runningChunks } = pool.stats();
 * ```
 */
export interface WorkerPoolStats {
  /** Workers alive (ready or starting). */
  workers: number;
  /** Chunks waiting for a worker. */
  queuedChunks: number;
  /** Chunks running in a worker. */
  runningChunks: number;
  /** Workers that crashed since the pool was created. */
  crashes: number;
}

/**
 * A pool of crypto workers; a {@link CryptoExecutor} plus generic tasks and lifecycle.
 *
 * @example
 * ```ts
 * await using pool = await createWorkerPool({ workers: 2 });
 * const points = await pool.hashToGroup(records, ekm);
 * const masked = await pool.multiply(secretKey, points);
 * ```
 */
export interface WorkerPool extends CryptoExecutor {
  /** Configured number of workers (0: inline). */
  readonly size: number;
  /**
   * X25519 then the ECDH-PSI HKDF truncation, both in the worker that holds the chunk (see
   * {@link CryptoExecutor.multiplyAndTruncate}); byte-identical to the inline executor.
   */
  multiplyAndTruncate(scalar: Uint8Array, points: Uint8Array, outBytes: 16 | 24 | 32, signal?: AbortSignal): Promise<Uint8Array>;
  /**
   * BFV-encrypts every vector of `vectors` under `publicKey` (an envelope from
   * `HeContext.exportPublicKey`), one vector per task spread over the workers; returns the
   * ciphertext envelopes in order. Fails like `encryptBatch` (`RangeError` for a value out of
   * bounds, `MalformedMessageError` for a bad key), with the first failure.
   */
  encryptBatches(publicKey: Uint8Array, vectors: readonly ArrayLike<bigint | number>[], signal?: AbortSignal): Promise<Uint8Array[]>;
  /** Runs one task from `WorkerTasks` on a worker (inline when `size` is 0). */
  runTask<K extends WorkerTaskName>(name: K, payload: WorkerTasks[K]['payload'], options?: RunTaskOptions): Promise<WorkerTasks[K]['result']>;
  /** Current load. */
  stats(): WorkerPoolStats;
  /**
   * Terminates every worker and waits for the threads to end. Operations still queued or running
   * reject with `AbortError`; later calls reject with `AbortError` too. Idempotent.
   */
  close(): Promise<void>;
  /** Same as {@link WorkerPool.close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

// `Symbol.asyncDispose` is missing in older browsers; fall back to the registered symbol the
// TypeScript downlevel helpers use.
const asyncDispose: typeof Symbol.asyncDispose = Symbol.asyncDispose ?? (Symbol.for('Symbol.asyncDispose') as typeof Symbol.asyncDispose);

/** How one operation is cut into chunks and put back together. */
interface OpSpec<R> {
  readonly task: WorkerTaskName;
  readonly chunks: number;
  /** Builds chunk `i`'s payload and its transfer list (called at dispatch time). */
  payload(i: number): { payload: object; transfer: ArrayBuffer[] };
  /** Stores chunk `i`'s result; throws if it is malformed. */
  accept(i: number, result: unknown): void;
  /** The operation's value once every chunk is accepted. */
  finish(): R;
  /** Called once when the operation settles either way (wipe secrets). */
  cleanup?(): void;
}

class Operation<R = unknown> {
  next = 0;
  running = 0;
  done = 0;
  failed = false;
  error: unknown;
  settled = false;
  private readonly onAbort: () => void;

  constructor(
    readonly spec: OpSpec<R>,
    private readonly signal: AbortSignal | undefined,
    private readonly resolve: (value: R) => void,
    private readonly reject: (reason: unknown) => void,
    private readonly dequeue: (op: Operation<R>) => void,
  ) {
    this.onAbort = () => this.fail(new AbortError());
    signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  get queued(): number {
    return this.failed ? 0 : this.spec.chunks - this.next;
  }

  chunkDone(i: number, result: unknown): void {
    this.running--;
    if (!this.failed) {
      try {
        this.spec.accept(i, result);
        this.done++;
      } catch (err) {
        this.fail(err);
        return;
      }
      if (this.done === this.spec.chunks) {
        this.settle();
        this.resolve(this.spec.finish());
        return;
      }
    }
    this.maybeReject();
  }

  chunkFailed(err: unknown): void {
    this.running--;
    this.fail(err);
  }

  /** First failure wins: drop queued chunks, reject once nothing of this operation runs. */
  fail(err: unknown): void {
    if (this.settled) return;
    if (!this.failed) {
      this.failed = true;
      this.error = err;
      this.dequeue(this);
    }
    this.maybeReject();
  }

  private maybeReject(): void {
    if (this.failed && this.running === 0 && !this.settled) {
      this.settle();
      this.reject(this.error);
    }
  }

  private settle(): void {
    this.settled = true;
    this.signal?.removeEventListener('abort', this.onAbort);
    this.spec.cleanup?.();
  }
}

interface Running {
  readonly op: Operation;
  readonly index: number;
}

interface Slot {
  readonly id: number;
  readonly handle: WorkerHandle;
  readonly api: Remote<WorkerApi>;
  ready: boolean;
  gone: boolean;
  readonly inFlight: Set<Running>;
  /** Resolves when ready; rejects if the worker dies or fails before that. */
  readonly started: Promise<void>;
}

/** `[start, end)` of chunk `i` when `n` items are cut into chunks of `size`. */
const chunkRange = (i: number, size: number, n: number): [number, number] => [i * size, Math.min(n, (i + 1) * size)];

/**
 * Chunk size for `n` items: at most `max`, and a chunk count that is a multiple of the worker count
 * so that every worker gets the same share.
 */
function planChunks(n: number, max: number, workers: number): { size: number; chunks: number } {
  let chunks = Math.ceil(n / max);
  chunks = Math.min(n, Math.ceil(chunks / workers) * workers);
  const size = Math.ceil(n / chunks);
  return { size, chunks: Math.ceil(n / size) };
}

function resolveWorkerUrl(url: URL | string | undefined): URL {
  if (url instanceof URL) return url;
  if (typeof url === 'string') return new URL(url, (globalThis as { location?: { href?: string } }).location?.href);
  if (url !== undefined) throw new TypeError('workerUrl must be a URL or a string');
  // The built library keeps this module at the root of dist/ (dist/browser/): tsup's code
  // splitting puts modules shared by several entries (index, node, cli) into chunks at the output
  // root, and the worker entry is built to workers/worker.js below it. From the TypeScript sources
  // (vitest) this file does not exist; tests pass `workerUrl` (see test/workers.test.ts).
  return new URL('./workers/worker.js', import.meta.url);
}

function checkEncryptArgs(publicKey: unknown, vectors: unknown): void {
  assertBytes(publicKey, 'publicKey');
  if (!Array.isArray(vectors)) throw new TypeError('vectors must be an array');
}

/**
 * A vector's values in a form that crosses the boundary cheaply: a typed array is copied into a
 * buffer of its own and transferred; anything else goes as a plain array (structured clone).
 */
function copyValues(v: ArrayLike<bigint | number>): { values: ArrayLike<bigint | number>; transfer: ArrayBuffer[] } {
  if (ArrayBuffer.isView(v) && !(v instanceof DataView)) {
    const copy = (v as unknown as { slice(): ArrayBufferView & ArrayLike<bigint | number> }).slice();
    return { values: copy, transfer: [copy.buffer as ArrayBuffer] };
  }
  return { values: Array.from(v), transfer: [] };
}

function checkCount(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) throw new TypeError(`${name} must be an integer`);
  if (value < min || value > max) throw new RangeError(`${name} must be in ${min}..${max}, got ${value}`);
  return value;
}

/**
 * Creates a worker pool with `options.workers` workers (default: available cores) and waits until
 * every worker is ready. Rejects with `WorkerCrashedError` if a worker fails to start (for example
 * when the worker module cannot be found: see `workerUrl`). With `workers: 0` the pool runs
 * everything inline, like `createInlineExecutor`.
 *
 * @example
 * ```ts
 * const pool = await createWorkerPool();
 * try {
 *   const points = await pool.hashToGroup(records, ekm, AbortSignal.timeout(60_000));
 * } finally {
 *   await pool.close();
 * }
 * ```
 */
export async function createWorkerPool(options: WorkerPoolOptions = {}): Promise<WorkerPool> {
  const size = checkCount(options.workers ?? availableCores(), 'workers', 0, MAX_WORKERS);
  if (options.chunkSize !== undefined) checkCount(options.chunkSize, 'chunkSize', 1, 2 ** 24);
  if (size === 0) return createInlinePool(options.backend);
  const url = resolveWorkerUrl(options.workerUrl);
  const spawn = options.spawnWorker ?? platformSpawnWorker;
  installErrorTransfer();

  let slots: Slot[] = [];
  const queue: Operation[] = [];
  let nextId = 0;
  let crashes = 0;
  let closing: Promise<void> | undefined;

  const dequeue = (op: Operation): void => {
    const i = queue.indexOf(op);
    if (i >= 0) queue.splice(i, 1);
  };

  const live = (): Slot[] => slots.filter((s) => !s.gone);

  function startSlot(): Slot {
    const id = nextId++;
    let handle: WorkerHandle;
    try {
      handle = spawn(url, `dataport-worker-${id}`);
    } catch (cause) {
      throw new WorkerCrashedError(`worker ${id} failed to start (spawn failed)`, { cause });
    }
    const api = wrap<WorkerApi>(handle.endpoint);
    let markStarted!: () => void;
    let markFailed!: (err: unknown) => void;
    const started = new Promise<void>((res, rej) => {
      markStarted = res;
      markFailed = rej;
    });
    started.catch(() => {}); // observed by createWorkerPool or by onStartFailure
    const slot: Slot = { id, handle, api, ready: false, gone: false, inFlight: new Set(), started };
    slots.push(slot);
    handle.setKeepAlive(true); // until init answers
    handle.onExit((reason, cause) => {
      if (slot.gone) return;
      const err = new WorkerCrashedError(`worker ${id} crashed (${reason})`, { cause });
      if (slot.ready) onCrash(slot, err);
      else {
        markFailed(new WorkerCrashedError(`worker ${id} failed to start (${reason})`, { cause }));
        onStartFailure(slot);
      }
    });
    api.init(options.backend).then(
      () => {
        if (slot.gone) return;
        slot.ready = true;
        handle.setKeepAlive(false);
        markStarted();
        pump();
      },
      (err: unknown) => {
        // init threw (e.g. the requested backend is unavailable in a worker): same as a failed start.
        if (slot.gone) return;
        markFailed(err);
        onStartFailure(slot);
      },
    );
    return slot;
  }

  function retire(slot: Slot): Running[] {
    slot.gone = true;
    slots = slots.filter((s) => s !== slot);
    const held = [...slot.inFlight];
    slot.inFlight.clear();
    void slot.handle.terminate().catch(() => {});
    return held;
  }

  function onCrash(slot: Slot, err: WorkerCrashedError): void {
    crashes++;
    for (const run of retire(slot)) run.op.chunkFailed(err);
    if (closing) return;
    ensureWorkers(); // the replacement
    pump();
  }

  function onStartFailure(slot: Slot): void {
    retire(slot);
    if (closing) return;
    // Nothing alive to run queued work: fail it rather than let it wait forever.
    if (live().length === 0) {
      const err = new WorkerCrashedError('no worker could be started');
      for (const op of [...queue]) op.fail(err);
    }
  }

  /** Spawns workers up to `size` (after start failures, when new work arrives). */
  function ensureWorkers(): void {
    try {
      while (!closing && live().length < size) startSlot();
    } catch (err) {
      // The platform refused to create a worker; with none alive, queued work cannot run.
      if (live().length === 0) for (const op of [...queue]) op.fail(err);
    }
  }

  function pump(): void {
    while (queue.length > 0 && !closing) {
      let slot: Slot | undefined;
      for (const s of slots) {
        if (s.ready && !s.gone && s.inFlight.size < MAX_IN_FLIGHT_PER_WORKER && (!slot || s.inFlight.size < slot.inFlight.size)) slot = s;
      }
      if (!slot) return;
      const op = queue[0]!;
      const index = op.next++;
      if (op.next >= op.spec.chunks) queue.shift();
      dispatch(slot, op, index);
    }
  }

  function dispatch(slot: Slot, op: Operation, index: number): void {
    let built: { payload: object; transfer: ArrayBuffer[] };
    try {
      built = op.spec.payload(index);
    } catch (err) {
      op.fail(err);
      return;
    }
    const run: Running = { op, index };
    slot.inFlight.add(run);
    op.running++;
    slot.handle.setKeepAlive(true);
    const after = (): void => {
      if (slot.inFlight.size === 0) slot.handle.setKeepAlive(false);
      pump();
    };
    slot.api.run(op.spec.task, transfer(built.payload, built.transfer)).then(
      (result) => {
        if (!slot.inFlight.delete(run)) return; // the worker crashed or the pool closed meanwhile
        op.chunkDone(index, result);
        after();
      },
      (err: unknown) => {
        if (!slot.inFlight.delete(run)) return;
        op.chunkFailed(err);
        after();
      },
    );
  }

  function submit<R>(spec: OpSpec<R>, signal: AbortSignal | undefined): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      if (closing) {
        spec.cleanup?.();
        reject(new AbortError('worker pool closed'));
        return;
      }
      if (signal?.aborted) {
        spec.cleanup?.();
        reject(new AbortError());
        return;
      }
      const op = new Operation<R>(spec, signal, resolve, reject, dequeue as (op: Operation<R>) => void);
      queue.push(op as Operation);
      ensureWorkers();
      pump();
    });
  }

  const chunkMax = (task: 'hashToGroup' | 'multiply'): number => options.chunkSize ?? DEFAULT_CHUNK_SIZE[task];

  /** `multiply` (outBytes 32) or `multiplyAndTruncate`: chunks of points, results in order. */
  async function multiplyChunked(scalar: Uint8Array, points: Uint8Array, outBytes: 16 | 24 | 32, signal: AbortSignal | undefined): Promise<Uint8Array> {
    throwIfAborted(signal);
    assertBytes(scalar, 'secretKey', SCALAR_BYTES);
    assertBytes(points, 'points');
    if (points.length % POINT_BYTES !== 0) throw new RangeError('points length must be a multiple of 32');
    if (outBytes !== 16 && outBytes !== 24 && outBytes !== 32) throw new RangeError('outBytes must be 16, 24 or 32');
    if (closing) throw new AbortError('worker pool closed');
    const n = points.length / POINT_BYTES;
    if (n === 0) return new Uint8Array(0);
    const key = new Uint8Array(scalar); // snapshot; every chunk gets (and wipes) its own copy
    const plan = planChunks(n, chunkMax('multiply'), size);
    const out = new Uint8Array(n * outBytes);
    const task = outBytes === 32 ? 'multiply' : 'multiplyTruncate';
    return submit(
      {
        task,
        chunks: plan.chunks,
        payload(i) {
          const [s, e] = chunkRange(i, plan.size, n);
          const chunkKey = key.slice();
          const chunkPoints = points.slice(s * POINT_BYTES, e * POINT_BYTES);
          return {
            payload: task === 'multiply' ? { scalar: chunkKey, points: chunkPoints } : { scalar: chunkKey, points: chunkPoints, outBytes },
            transfer: [chunkKey.buffer as ArrayBuffer, chunkPoints.buffer as ArrayBuffer],
          };
        },
        accept(i, result) {
          const [s, e] = chunkRange(i, plan.size, n);
          if (!(result instanceof Uint8Array) || result.length !== (e - s) * outBytes) throw new TypeError('worker returned a malformed result');
          out.set(result, s * outBytes);
        },
        finish: () => out,
        cleanup: () => key.fill(0),
      },
      signal,
    );
  }

  /**
   * PPCA suites: records (hash) or points (multiply) in chunks, each result at its offset. SHA-256
   * of a record costs ~1 µs, so the curve25519 hash goes in chunks 8× larger than the SM2 maps
   * (two modular exponentiations' worth per record).
   */
  async function ppcaChunked(
    suite: PpcaSuiteName,
    n: number,
    task: 'ppcaHash' | 'ppcaMultiply',
    payloadFor: (s: number, e: number) => { payload: object; transfer: ArrayBuffer[] },
    cleanup: (() => void) | undefined,
    signal: AbortSignal | undefined,
  ): Promise<Uint8Array> {
    const width = ppcaPointBytes(suite);
    if (closing) throw new AbortError('worker pool closed');
    if (n === 0) return new Uint8Array(0);
    const max = options.chunkSize ?? (task === 'ppcaMultiply' ? DEFAULT_CHUNK_SIZE.multiply : suite === 'curve25519-sha256-direct' ? 8 * DEFAULT_CHUNK_SIZE.hashToGroup : DEFAULT_CHUNK_SIZE.hashToGroup);
    const plan = planChunks(n, max, size);
    const out = new Uint8Array(n * width);
    return submit(
      {
        task,
        chunks: plan.chunks,
        payload(i) {
          const [s, e] = chunkRange(i, plan.size, n);
          return payloadFor(s, e);
        },
        accept(i, result) {
          const [s, e] = chunkRange(i, plan.size, n);
          if (!(result instanceof Uint8Array) || result.length !== (e - s) * width) throw new TypeError('worker returned a malformed result');
          out.set(result, s * width);
        },
        finish: () => out,
        ...(cleanup ? { cleanup } : {}),
      },
      signal,
    );
  }

  const pool: WorkerPool = {
    size,

    async ppcaHash(suite, records, signal) {
      throwIfAborted(signal);
      ppcaPointBytes(suite);
      const n = records.length;
      for (let i = 0; i < n; i++) if (!(records[i] instanceof Uint8Array)) assertBytes(records[i], `records[${i}]`);
      return ppcaChunked(
        suite,
        n,
        'ppcaHash',
        (s, e) => {
          const packed = packRecords(records, s, e);
          return { payload: { bytes: packed.bytes, offsets: packed.offsets, suite }, transfer: [packed.bytes.buffer as ArrayBuffer, packed.offsets.buffer as ArrayBuffer] };
        },
        undefined,
        signal,
      );
    },

    async ppcaMultiply(suite, scalar, points, signal) {
      throwIfAborted(signal);
      const width = ppcaPointBytes(suite);
      if (width === POINT_BYTES) return multiplyChunked(scalar, points, 32, signal);
      assertBytes(scalar, 'scalar', SCALAR_BYTES);
      assertBytes(points, 'points');
      if (points.length % width !== 0) throw new RangeError(`points length must be a multiple of ${width}`);
      const key = new Uint8Array(scalar); // snapshot; every chunk gets (and wipes) its own copy
      return ppcaChunked(
        suite,
        points.length / width,
        'ppcaMultiply',
        (s, e) => {
          const chunkKey = key.slice();
          const chunkPoints = points.slice(s * width, e * width);
          return { payload: { suite, scalar: chunkKey, points: chunkPoints }, transfer: [chunkKey.buffer as ArrayBuffer, chunkPoints.buffer as ArrayBuffer] };
        },
        () => key.fill(0),
        signal,
      );
    },

    async hashToGroup(records, ekm, signal) {
      throwIfAborted(signal);
      assertBytes(ekm, 'ekm');
      const n = records.length;
      // Checked up front, like the inline executor; the message is only built for a bad record.
      for (let i = 0; i < n; i++) if (!(records[i] instanceof Uint8Array)) assertBytes(records[i], `records[${i}]`);
      if (closing) throw new AbortError('worker pool closed');
      if (n === 0) return new Uint8Array(0);
      const ekmCopy = new Uint8Array(ekm); // cloned into each chunk's message (it is small)
      const plan = planChunks(n, chunkMax('hashToGroup'), size);
      const out = new Uint8Array(n * POINT_BYTES);
      return submit(
        {
          task: 'hashToGroup',
          chunks: plan.chunks,
          payload(i) {
            const [s, e] = chunkRange(i, plan.size, n);
            const packed = packRecords(records, s, e);
            return {
              payload: { bytes: packed.bytes, offsets: packed.offsets, ekm: ekmCopy },
              transfer: [packed.bytes.buffer as ArrayBuffer, packed.offsets.buffer as ArrayBuffer],
            };
          },
          accept(i, result) {
            const [s, e] = chunkRange(i, plan.size, n);
            if (!(result instanceof Uint8Array) || result.length !== (e - s) * POINT_BYTES) throw new TypeError('worker returned a malformed result');
            out.set(result, s * POINT_BYTES);
          },
          finish: () => out,
        },
        signal,
      );
    },

    multiply(scalar, points, signal) {
      return multiplyChunked(scalar, points, 32, signal);
    },

    multiplyAndTruncate(scalar, points, outBytes, signal) {
      return multiplyChunked(scalar, points, outBytes, signal);
    },

    async encryptBatches(publicKey, vectors, signal) {
      throwIfAborted(signal);
      checkEncryptArgs(publicKey, vectors);
      if (closing) throw new AbortError('worker pool closed');
      const n = vectors.length;
      if (n === 0) return [];
      const pk = new Uint8Array(publicKey); // cloned into each task's message
      const out = new Array<Uint8Array>(n);
      return submit(
        {
          task: 'heEncrypt',
          chunks: n,
          payload(i) {
            const { values, transfer } = copyValues(vectors[i]!);
            return { payload: { publicKey: pk, values }, transfer };
          },
          accept(i, result) {
            if (!(result instanceof Uint8Array)) throw new TypeError('worker returned a malformed result');
            out[i] = result;
          },
          finish: () => out,
        },
        signal,
      );
    },

    async runTask(name, payload, opts = {}) {
      if (!WorkerTaskNames.includes(name)) throw new TypeError(`unknown worker task: ${String(name)}`);
      throwIfAborted(opts.signal);
      let result: unknown;
      await submit(
        {
          task: name,
          chunks: 1,
          payload: () => ({ payload: payload as object, transfer: opts.transfer ?? [] }),
          accept: (_i, r) => {
            result = r;
          },
          finish: () => undefined,
        },
        opts.signal,
      );
      return result as WorkerTasks[typeof name]['result'];
    },

    stats() {
      let queuedChunks = 0;
      for (const op of queue) queuedChunks += op.queued;
      let runningChunks = 0;
      for (const s of slots) runningChunks += s.inFlight.size;
      return { workers: live().length, queuedChunks, runningChunks, crashes };
    },

    close() {
      closing ??= (async () => {
        const err = new AbortError('worker pool closed');
        for (const op of [...queue]) op.fail(err);
        const all = slots;
        const held = all.flatMap((s) => retire(s));
        for (const run of held) run.op.chunkFailed(err);
        await Promise.all(all.map((s) => s.handle.terminate().catch(() => {})));
      })();
      return closing;
    },

    [asyncDispose]() {
      return pool.close();
    },
  };

  // Start every worker now, so that a missing worker file or an unavailable backend surfaces here.
  try {
    const first = Array.from({ length: size }, () => startSlot());
    await Promise.all(first.map((s) => s.started));
  } catch (err) {
    await pool.close();
    throw err;
  }
  return pool;
}

/** The `workers: 0` pool: the inline executor plus tasks run on this thread. */
async function createInlinePool(backend: BackendName | undefined): Promise<WorkerPool> {
  const inline = await createInlineExecutor(backend === undefined ? {} : { backend });
  let ctx: Promise<TaskContext> | undefined;
  let closed = false;
  const open = (): void => {
    if (closed) throw new AbortError('worker pool closed');
  };
  const pool: WorkerPool = {
    size: 0,
    async hashToGroup(records, ekm, signal) {
      open();
      return inline.hashToGroup(records, ekm, signal);
    },
    async multiply(scalar, points, signal) {
      open();
      return inline.multiply(scalar, points, signal);
    },
    async multiplyAndTruncate(scalar, points, outBytes, signal) {
      open();
      return inline.multiplyAndTruncate!(scalar, points, outBytes, signal);
    },
    async ppcaHash(suite, records, signal) {
      open();
      return inline.ppcaHash!(suite, records, signal);
    },
    async ppcaMultiply(suite, scalar, points, signal) {
      open();
      return inline.ppcaMultiply!(suite, scalar, points, signal);
    },
    async encryptBatches(publicKey, vectors, signal) {
      throwIfAborted(signal);
      checkEncryptArgs(publicKey, vectors);
      open();
      ctx ??= createTaskContext(backend);
      const out: Uint8Array[] = [];
      for (const v of vectors) {
        throwIfAborted(signal);
        out.push((await runTaskInThread('heEncrypt', { publicKey, values: v }, await ctx)).value);
      }
      return out;
    },
    async runTask(name, payload, opts = {}) {
      if (!WorkerTaskNames.includes(name)) throw new TypeError(`unknown worker task: ${String(name)}`);
      throwIfAborted(opts.signal);
      open();
      ctx ??= createTaskContext(backend);
      return (await runTaskInThread(name, payload, await ctx)).value;
    },
    stats: () => ({ workers: 0, queuedChunks: 0, runningChunks: 0, crashes: 0 }),
    async close() {
      closed = true;
    },
    [asyncDispose]() {
      return pool.close();
    },
  };
  return pool;
}
