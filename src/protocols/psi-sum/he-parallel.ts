/**
 * Splits psi-sum's homomorphic work over a worker pool (the tasks are in `he-tasks.ts`) and puts
 * the pieces back together on the calling thread:
 *
 * - V encrypts a column as runs of consecutive blocks, one run per worker; the ciphertexts come
 *   back in block order (each is a fresh, independently seeded encryption, as inline).
 * - I evaluates a column as runs of consecutive blocks, one partial sum per run; this thread adds
 *   the partials (cheap) and applies the mask, re-randomisation, flooding and modulus switch once,
 *   exactly as inline. Each partial starts from its own encryption of zero, which only adds fresh
 *   encryption noise, far below the flooding (docs/psi-sum.md, "Workers").
 *
 * The runner is anything with the worker pool's `size` and `runTask` (the protocols layer does not
 * import `src/workers/`); a runner of size 0 means "inline".
 * @module
 */
import { AbortError, throwIfAborted } from '../../errors.js';
import type { CryptoExecutor } from '../executor.js';
import type { HeContext, HeKeyPair, HePublicKey } from './he.js';
import type { PsiSumEncryptPayload, PsiSumSelectPayload } from './he-tasks.js';

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
  /** Runs V's encryption of a run of blocks on a worker. */
  runTask(name: 'psiSumEncrypt', payload: PsiSumEncryptPayload, options?: PsiSumTaskOptions): Promise<Uint8Array[]>;
  /** Runs I's selection circuit over a run of blocks on a worker. */
  runTask(name: 'psiSumSelect', payload: PsiSumSelectPayload, options?: PsiSumTaskOptions): Promise<Uint8Array>;
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
 * Smallest number of ciphertext blocks (columns × ⌈keys / 8192⌉) for which `auto` moves the HE
 * steps to the workers. A worker builds its own SEAL context on its first psi-sum task (0.5–2.5 s
 * on the project's 2-core machine: the NTT tables for N = 8192), while a block costs ~10 ms to
 * encrypt and ~15 ms to select (bench/psi-sum.mjs); with a cold pool, as in every CLI run, the
 * split only pays beyond roughly a hundred blocks per party on two workers.
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
 * V: encrypts one column's slot values on the workers; one seeded ciphertext per N values, in
 * order, like `HeContext.encryptValues`. `secretKey` is V's serialized key (each task gets, and
 * wipes, its own copy; the caller wipes this one).
 */
export async function encryptColumnOnWorkers(
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

/** One column of I's evaluation: V's blocks of the column as received (already checked) and the constant term. */
export interface SelectColumnInput {
  readonly ciphertexts: readonly Uint8Array[];
  readonly constant: bigint;
}

/**
 * I: the selection sums of `columns` on the workers (every column's block runs submitted at once,
 * so the pool keeps all workers busy), each masked and finished on this thread; result `c` is what
 * `HeContext.selectSumAndMask` returns for column `c` (a fresh sample of the same distribution).
 */
export async function selectColumnsOnWorkers(
  runner: PsiSumTaskRunner,
  he: HeContext,
  publicKeyBytes: Uint8Array,
  publicKey: HePublicKey,
  columns: readonly SelectColumnInput[],
  selected: Uint8Array,
  signal?: AbortSignal,
): Promise<Uint8Array[]> {
  throwIfAborted(signal);
  const plan: { column: number; b0: number; b1: number }[] = [];
  columns.forEach((col, column) => {
    if (col.ciphertexts.length === 0) throw new RangeError('no ciphertexts to select from');
    for (const [b0, b1] of runs(col.ciphertexts.length, runner.size)) plan.push({ column, b0, b1 });
  });
  const partials = await all(
    signal,
    plan.map(({ column, b0, b1 }) => (s: AbortSignal) => {
      const payload: PsiSumSelectPayload = {
        plainBits: he.plainBits,
        publicKey: publicKeyBytes,
        ciphertexts: columns[column]!.ciphertexts.slice(b0, b1),
        selected: selected.slice(Math.min(selected.length, b0 * he.n), Math.min(selected.length, b1 * he.n)),
      };
      return runner.runTask('psiSumSelect', payload, { transfer: [payload.selected.buffer as ArrayBuffer], signal: s }).then((p) => {
        if (!(p instanceof Uint8Array)) throw new TypeError('worker returned a malformed result');
        return p;
      });
    }),
  );
  throwIfAborted(signal);
  return columns.map((col, column) => {
    let acc: ReturnType<HeContext['addPartial']> | undefined;
    try {
      plan.forEach((p, i) => {
        if (p.column === column) acc = he.addPartial(acc, partials[i]!);
      });
      return he.maskAndFinish(acc!, col.constant, publicKey);
    } finally {
      acc?.delete();
    }
  });
}

/**
 * I: the selection sum of one column on the workers (see {@link selectColumnsOnWorkers}).
 */
export async function selectColumnOnWorkers(
  runner: PsiSumTaskRunner,
  he: HeContext,
  publicKeyBytes: Uint8Array,
  publicKey: HePublicKey,
  ciphertexts: readonly Uint8Array[],
  selected: Uint8Array,
  constant: bigint,
  signal?: AbortSignal,
): Promise<Uint8Array> {
  return (await selectColumnsOnWorkers(runner, he, publicKeyBytes, publicKey, [{ ciphertexts, constant }], selected, signal))[0]!;
}
