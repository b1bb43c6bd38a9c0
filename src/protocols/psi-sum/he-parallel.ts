/**
 * Splits psi-sum's homomorphic work over a worker pool (the tasks are in `he-tasks.ts`) and puts
 * the pieces back together on the calling thread:
 *
 * - I encrypts its selection blocks as runs of consecutive blocks, one run per worker; the
 *   ciphertexts come back in block order (each a fresh, independently seeded encryption, as inline).
 * - V multiplies a wave of I's blocks by its values as runs, one partial accumulator per column and
 *   run; this thread adds the partials (cheap) into its own accumulators and later applies the
 *   mask, flooding and modulus switch once, exactly as inline. Each partial starts from its own
 *   encryption of zero, which only adds fresh encryption noise, far below the flooding and within
 *   the correctness margin of `HeContext.resultPlan` (docs/psi-sum.md, "Workers").
 *
 * The runner is anything with the worker pool's `size` and `runTask` (the protocols layer does not
 * import `src/workers/`); a runner of size 0 means "inline".
 * @module
 */
import { AbortError, throwIfAborted } from '../../errors.js';
import type { CryptoExecutor } from '../executor.js';
import type { HeContext, HeKeyPair, SelectionEvaluator } from './he.js';
import type { PsiSumEncryptPayload, PsiSumEvaluatePayload } from './he-tasks.js';

/**
 * Options of one task run (the worker pool's `RunTaskOptions`).
 *
 * @example
 * ```ts
 * const options: PsiSumTaskOptions = { transfer: [values.buffer], signal: AbortSignal.timeout(60_000) };
 * ```
 */
export interface PsiSumTaskOptions {
  /** Buffers of the payload to transfer (they become unusable here). */
  transfer?: ArrayBuffer[];
  /** Cancels the task while it is queued. */
  signal?: AbortSignal;
}

/**
 * What psi-sum needs from a worker pool to run its HE steps on workers: the number of workers and
 * the two tasks. The pool from `createWorkerPool` is one (it registers both tasks), so passing it
 * as a psi-sum `executor` is enough.
 *
 * @example
 * ```ts
 * const pool = await createWorkerPool({ workers: 2 });
 * const runner: PsiSumTaskRunner = pool;
 * ```
 */
export interface PsiSumTaskRunner {
  /** Workers available (0: the pool runs everything inline). */
  readonly size: number;
  /** Runs I's encryption of a run of selection blocks on a worker. */
  runTask(name: 'psiSumEncrypt', payload: PsiSumEncryptPayload, options?: PsiSumTaskOptions): Promise<Uint8Array[]>;
  /** Runs V's products over a run of I's blocks on a worker (one partial per column). */
  runTask(name: 'psiSumEvaluate', payload: PsiSumEvaluatePayload, options?: PsiSumTaskOptions): Promise<Uint8Array[]>;
}

/**
 * When the HE steps go to the workers: `auto` (default) when the executor is a worker pool with
 * at least one worker and this party has at least {@link PSI_SUM_HE_OFFLOAD_MIN_BLOCKS} ciphertext
 * blocks to process; `always` whenever the executor is such a pool; `never` keeps them inline.
 *
 * @example
 * ```ts
 * const mode: PsiSumHeOffload = 'always';
 * ```
 */
export type PsiSumHeOffload = 'auto' | 'always' | 'never';

/**
 * Smallest number of block operations for which `auto` moves the HE steps to the workers: I
 * encrypts ⌈|Y| / 8192⌉ selection blocks, V multiplies each of them once per column
 * (columns × ⌈|Y| / 8192⌉). A worker builds its own SEAL context on its first psi-sum task
 * (0.5–2.5 s on the project's 2-core machine: the NTT tables for N = 8192), while a block costs
 * ~10–20 ms (bench/psi-sum.mjs); with a cold pool, as in every CLI run, the split only pays beyond
 * roughly a hundred blocks per party on two workers.
 *
 * @example
 * ```ts
 * const offload = columns * Math.ceil(keys / 8192) >= PSI_SUM_HE_OFFLOAD_MIN_BLOCKS;
 * ```
 */
export const PSI_SUM_HE_OFFLOAD_MIN_BLOCKS = 128;

/** The executor as a task runner, if it is a worker pool (has `size` ≥ 1 and `runTask`). @internal */
export function heRunnerOf(executor: CryptoExecutor, mode: PsiSumHeOffload, blocks: number): PsiSumTaskRunner | undefined {
  if (mode === 'never') return undefined;
  const r = executor as Partial<PsiSumTaskRunner>;
  if (typeof r.runTask !== 'function' || typeof r.size !== 'number' || !(r.size >= 1)) return undefined;
  if (blocks < 1) return undefined;
  if (mode === 'auto' && blocks < PSI_SUM_HE_OFFLOAD_MIN_BLOCKS) return undefined;
  return r as PsiSumTaskRunner;
}

/** Checks an offload mode (`TypeError` naming the option). @internal */
export function checkHeOffload(mode: unknown): PsiSumHeOffload {
  if (mode === undefined) return 'auto';
  if (mode !== 'auto' && mode !== 'always' && mode !== 'never') throw new TypeError("heOffload must be 'auto', 'always' or 'never'");
  return mode;
}

/** `[start, end)` block ranges: `blocks` cut into at most `parts` runs of near-equal length. */
function runs(blocks: number, parts: number): [number, number][] {
  const k = Math.max(1, Math.min(blocks, parts));
  const out: [number, number][] = [];
  for (let i = 0; i < k; i++) out.push([Math.floor((i * blocks) / k), Math.floor(((i + 1) * blocks) / k)]);
  return out;
}

/**
 * Runs `tasks` together; on the first failure aborts the others (queued ones are dropped by the
 * pool, running ones finish and are discarded) and rejects with that failure once all settled.
 * Each task gets a signal of its own (one listener each: the pool's), and `signal` one listener in
 * all, however many tasks run (Node warns beyond ten listeners on one signal).
 */
async function all<T>(signal: AbortSignal | undefined, tasks: ((signal: AbortSignal) => Promise<T>)[]): Promise<T[]> {
  const controllers = tasks.map(() => new AbortController());
  const abortAll = (): void => {
    for (const c of controllers) c.abort();
  };
  signal?.addEventListener('abort', abortAll, { once: true });
  try {
    const settled = await Promise.allSettled(
      tasks.map((t, i) =>
        t(controllers[i]!.signal).catch((e: unknown) => {
          abortAll();
          throw e;
        }),
      ),
    );
    const failures = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected').map((s) => s.reason as unknown);
    if (failures.length > 0) {
      // The first real failure, not the AbortErrors it caused in its siblings.
      if (signal?.aborted) throw new AbortError();
      throw failures.find((e) => !(e instanceof AbortError)) ?? failures[0];
    }
    return settled.map((s) => (s as PromiseFulfilledResult<T>).value);
  } finally {
    signal?.removeEventListener('abort', abortAll);
  }
}

/**
 * I: encrypts signed coefficients on the workers; one seeded ciphertext per N values, in order,
 * like `HeContext.encryptValues`. `secretKey` is I's serialized key (each task gets, and wipes,
 * its own copy; the caller wipes this one).
 */
export async function encryptBlocksOnWorkers(
  runner: PsiSumTaskRunner,
  he: HeContext,
  keys: HeKeyPair,
  secretKey: Uint8Array,
  values: readonly bigint[],
  signal?: AbortSignal,
): Promise<Uint8Array[]> {
  throwIfAborted(signal);
  const blocks = Math.ceil(values.length / he.n);
  if (blocks === 0) return [];
  // Checked before packing: a BigInt64Array would wrap a value beyond 64 bits silently.
  const half = (he.t - 1n) / 2n;
  for (const v of values) if (typeof v !== 'bigint' || v > half || v < -half) throw new RangeError('a value does not fit the plaintext modulus');
  const parts = await all(
    signal,
    runs(blocks, runner.size).map(([b0, b1]) => (s: AbortSignal) => {
      const vals = BigInt64Array.from(values.slice(b0 * he.n, Math.min(values.length, b1 * he.n)));
      const sk = secretKey.slice();
      const payload: PsiSumEncryptPayload = { plainBits: he.plainBits, secretKey: sk, publicKey: keys.publicKeyBytes, values: vals };
      return runner
        .runTask('psiSumEncrypt', payload, { transfer: [sk.buffer as ArrayBuffer, vals.buffer as ArrayBuffer], signal: s })
        .then((cts) => {
          if (!Array.isArray(cts) || cts.length !== b1 - b0 || !cts.every((c) => c instanceof Uint8Array)) throw new TypeError('worker returned a malformed result');
          return cts;
        })
        .finally(() => {
          // Transferred to the worker (detached here, length 0), or wiped if the task never left.
          if (sk.byteLength > 0) sk.fill(0);
        });
    }),
  );
  return parts.flat();
}

/**
 * V: multiplies a wave of I's selection blocks (bytes as received, already shape-checked here;
 * the workers load and check them again) by V's values on the workers and adds the partial
 * accumulators into `evaluator`. `valuesOf(c, b0, b1)` gives column c's signed slot values of the
 * wave's blocks [b0, b1) (relative to the wave), |v| < t/2.
 */
export async function evaluateOnWorkers(
  runner: PsiSumTaskRunner,
  he: HeContext,
  publicKeyBytes: Uint8Array,
  evaluator: SelectionEvaluator,
  ciphertexts: readonly Uint8Array[],
  valuesOf: (column: number, b0: number, b1: number) => BigInt64Array,
  signal?: AbortSignal,
): Promise<void> {
  throwIfAborted(signal);
  if (ciphertexts.length === 0) return;
  const columns = evaluator.columns;
  const plan = runs(ciphertexts.length, runner.size);
  const partials = await all(
    signal,
    plan.map(([b0, b1]) => (s: AbortSignal) => {
      const values = Array.from({ length: columns }, (_, c) => valuesOf(c, b0, b1));
      const payload: PsiSumEvaluatePayload = { plainBits: he.plainBits, publicKey: publicKeyBytes, ciphertexts: ciphertexts.slice(b0, b1), values };
      return runner.runTask('psiSumEvaluate', payload, { transfer: values.map((v) => v.buffer as ArrayBuffer), signal: s }).then((p) => {
        if (!Array.isArray(p) || p.length !== columns || !p.every((c) => c instanceof Uint8Array)) throw new TypeError('worker returned a malformed result');
        return p;
      });
    }),
  );
  throwIfAborted(signal);
  for (const p of partials) p.forEach((bytes, c) => evaluator.addPartial(c, bytes));
}
