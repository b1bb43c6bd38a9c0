/**
 * psi-sum: count, exact sums and means over a private intersection (DESIGN.md §4.2, §4.4; design
 * and leakage in docs/psi-sum.md). Two parties: the ID holder I (identifiers only; it holds the BFV
 * secret key) and the value holder V (identifiers + numeric columns). Either may be the session's
 * requester.
 *
 * ```
 *   V (value holder)                                  I (ID holder, BFV secret key)
 *   SETUP (version, t, columns, bounds, |Y|)        ──▶ checks parameters and bounds
 *   POINTS round 1: H(y_j)^b in slot order j        ──▶ H(y_j)^ba
 *                                                  ◀── POINTS round 2: H(x_i)^a, shuffled
 *   POINTS round 3: H(x_i)^ab, reshuffled           ──▶ s_j = [H(y_j)^ba ∈ {H(x)^ab}], count = Σ s_j
 *                                                  ◀── SELECTION: withheld (count < k), or I's seeded
 *                                                       public key (+ count if V is a recipient)
 *                                                  ◀── CIPHERTEXT × ⌈|Y|/N⌉: Enc(p_k), seeded
 *                                                       symmetric, p_k = s_0 − Σ_{j≥1} s_j X^(N−j)
 *   per column Σ_k Enc(p_k)·m_k + mask R(X), started
 *   from Enc_pk(0), flooded, switched down
 *   RESULT: one ciphertext per column              ──▶ decrypts coefficient 0; range check
 *                                                  ◀── SUMS (if V is a recipient; + I's DP noise)
 *   removes its mask r0 (when I is no recipient)
 * ```
 *
 * V only ever sees ciphertexts under I's key and the released outputs, so a deviating V learns
 * nothing about I's selection beyond them (issue 16, finding 1: today's V held the key and could
 * read every selection bit from a result whose error term it had chosen). V's privacy holds against
 * a semi-honest I (a malicious I can send a non-{0, ±1} selection and learn a value).
 *
 * Each role is a sans-I/O state machine — an async generator of {@link PsiSumStep}s (send this
 * frame / give me the next frame) — created by `createPsiSumValueHolder` / `createPsiSumIdHolder`
 * and pumped over a transport by `drivePsiSumMachine` (`runPsiSumValueHolder` /
 * `runPsiSumIdHolder` do both). Batch curve work goes through the injected `CryptoExecutor`; when
 * that executor is a worker pool, I's encryption and V's products are split over its workers too
 * (`he-parallel.ts`, `heOffload`).
 * @module
 */
import { decodePointBatch } from '../../crypto/point.js';
import { generateScalar } from '../../crypto/scalar.js';
import {
  AbortError,
  DataportError,
  HeParameterMismatchError,
  InputError,
  LimitExceededError,
  MalformedMessageError,
  UnexpectedMessageError,
  VerificationFailedError,
  throwIfAborted,
} from '../../errors.js';
import type { FrameTransport } from '../../transport/types.js';
import type { CryptoExecutor } from '../executor.js';
import { ValueTable, randomPermutation } from '../psi/values.js';
import {
  PSI_SUM_VERSION,
  PointRound,
  decodeCiphertext,
  decodePoints,
  decodeResult,
  decodeSelection,
  decodeSetup,
  decodeSums,
  encodeCiphertext,
  encodePoints,
  encodeResult,
  encodeSelection,
  encodeSetup,
  encodeSums,
  type ColumnSpec,
} from './codec.js';
import { discreteLaplaceBound, sampleBoundedDiscreteLaplace, splitEpsilon } from '../guardrails.js';
import { HeContext, MAX_PLAIN_BITS, PSI_SUM_POLY_DEGREE, plainBitsFor, type ResultPlan } from './he.js';
import { checkHeOffload, encryptBlocksOnWorkers, evaluateOnWorkers, heRunnerOf, type PsiSumHeOffload, type PsiSumTaskRunner } from './he-parallel.js';

/** Options both parties agree on (the session's terms). */
export interface PsiSumProtocolOptions {
  /** Below this intersection size I withholds the sums (0: never). */
  minCohort: number;
  /** Total ε (decimal string, see `parseEpsilon`) of discrete-Laplace noise, split evenly over count and columns; absent: exact. */
  epsilon?: string;
  /** Whether the ID holder receives the sums. */
  revealToIdHolder: boolean;
  /** Whether the value holder receives the sums and the count. */
  revealToValueHolder: boolean;
  /** Points per frame this party sends (default 16384). */
  batchSize?: number;
}

/** V's prepared input: distinct keys and per-key totals per column (scaled integers). */
export interface ValueHolderInput {
  keys: readonly Uint8Array[];
  columns: readonly ColumnSpec[];
  /** totals[c][k]: the total of column c over the rows of key k, × 10^decimals. */
  totals: readonly (readonly bigint[])[];
}

/** Common arguments of the two role functions. */
export interface PsiSumPartyArgs {
  transport: FrameTransport;
  ekm: Uint8Array;
  executor: CryptoExecutor;
  options: PsiSumProtocolOptions;
  /** Distinct keys the peer declared (in the signed handshake); exactly that many are accepted. */
  peerSetSize: number;
  signal?: AbortSignal;
  /**
   * Whether the HE steps run on the executor's workers when it is a worker pool (default `auto`:
   * only when there is enough HE work to pay for the workers' SEAL set-up; see
   * `PSI_SUM_HE_OFFLOAD_MIN_BLOCKS`). Results are the same either way.
   */
  heOffload?: PsiSumHeOffload;
  /**
   * Most bytes of homomorphic working memory this party may use (default
   * {@link PSI_SUM_HE_MEMORY_BUDGET}); a job whose declared sizes need more
   * ({@link estimatePsiSumHeMemory}) is refused before anything is computed.
   */
  heMemoryBudget?: number;
  /**
   * Called as the run moves on (no I/O: the caller decides what to show). Each phase is reported
   * with `done === total` when it ends, before the next phase is first reported.
   */
  onProgress?: (progress: PsiSumProgress) => void;
  /**
   * This run is one bucket of a psi-sum job (docs/jobs.md, "psi-sum jobs"): nobody receives a
   * result in it (`options` must reveal to neither party, with no minimum cohort and no DP), V
   * masks coefficient 0 with its job share instead of a fresh r0, and I returns the masked value it
   * decrypts (uniform in [0, t) on its own; the shares of a job sum to 0, so only the job's total
   * is ever learned).
   */
  jobShare?: PsiSumJobShare;
}

/**
 * What binds a psi-sum run to its job (see {@link PsiSumPartyArgs.jobShare}).
 *
 * @example
 * ```ts
 * const share: PsiSumJobShare = { plainBits: 45, mask: [r7] }; // V's share of bucket 7, one column
 * ```
 */
export interface PsiSumJobShare {
  /** The job's plaintext-modulus size: V announces it (it must hold this bucket too); I, when given, requires it. */
  plainBits?: number;
  /** V only: per column, the bucket's mask share in [0, t). */
  mask?: readonly bigint[];
}

/**
 * Steps of a psi-sum run, for progress reports: `hashing` (own keys hashed and masked),
 * `round1-send`/`round1-receive` (value keys), `round2-send`/`round2-receive` (id keys, and the
 * re-masked id keys back to the id holder), `selecting` (matching), `encrypting` (id holder: the
 * selection blocks sent), `multiplying` (value holder: blocks received and multiplied in).
 */
export type PsiSumPhase = 'hashing' | 'round1-send' | 'round1-receive' | 'round2-send' | 'round2-receive' | 'remasking' | 'selecting' | 'encrypting' | 'multiplying';

/** Progress of one psi-sum party: units (points, keys or blocks) done / expected in `phase`. */
export interface PsiSumProgress {
  readonly phase: PsiSumPhase;
  readonly done: number;
  readonly total: number;
  readonly unit: 'points' | 'keys' | 'blocks';
}

type Report = (phase: PsiSumPhase, done: number, total: number, unit: PsiSumProgress['unit']) => void;

function reporter(onProgress: PsiSumPartyArgs['onProgress']): Report {
  if (typeof onProgress !== 'function') return () => {};
  return (phase, done, total, unit) => {
    try {
      onProgress({ phase, done, total, unit });
    } catch {
      /* a display hook; the run does not depend on it */
    }
  };
}

/** What a party obtained. Sums are scaled integers (× 10^decimals of their column). */
export interface PsiSumPartyOutcome {
  withheld: boolean;
  /** I: the exact intersection size. V: the released (maybe noisy) count, when it is a recipient. */
  count?: bigint;
  /** I: the count it released to V (noisy under DP), when V is a recipient. */
  releasedCount?: bigint;
  /** Per column, when this party is a recipient and nothing was withheld. */
  sums?: bigint[];
  /**
   * I only: V's result failed I's checks (a column sum beyond its declared bound × count, or a
   * ciphertext beyond the honest noise bound), so the sums are withheld from I's caller. Set only
   * when V is not a recipient: I's messages to V were then exactly those of a passing run.
   */
  resultRejected?: boolean;
  /**
   * I only, in a job's bucket ({@link PsiSumPartyArgs.jobShare}): per column, the decrypted
   * coefficient 0 in [0, t) — the bucket's sum plus V's mask share, uniform on its own.
   */
  masked?: bigint[];
  columns: ColumnSpec[];
  /** Plaintext modulus size used. */
  plainBits: number;
  /** Per-released-statistic ε (when DP is on), decimal string. */
  epsilonEach?: string;
}

const DEFAULT_BATCH = 1 << 14;
const N = PSI_SUM_POLY_DEGREE;

/**
 * Default {@link PsiSumPartyArgs.heMemoryBudget}: 512 MiB of homomorphic working memory per party.
 * The largest declared job (2^23 keys, 16 columns) needs ~8 MB inline, ~42 MB with two workers
 * and ~144 MB with eight ({@link estimatePsiSumHeMemory}); the version-1 arrangement (the ID holder
 * loading all columns × blocks ciphertexts) needed ~4 GB for it.
 */
export const PSI_SUM_HE_MEMORY_BUDGET = 512 * 1024 * 1024;

/** Blocks per worker in one wave of V's (or I's) offloaded work. */
const WAVE_BLOCKS_PER_WORKER = 8;
/** A SEAL ciphertext at the data level in memory: 2 polynomials × 3 primes × N × 8 bytes. */
const LOADED_CIPHERTEXT_BYTES = 2 * 3 * N * 8;
/** A seeded ciphertext's bytes as received (one polynomial + seed), rounded up. */
const SEEDED_CIPHERTEXT_BYTES = 3 * N * 8 + 1024;
/** Per-block plaintext and scratch, and a SEAL context's share (NTT tables), rounded up. */
const BLOCK_SCRATCH_BYTES = 2 * N * 8;

/**
 * The homomorphic working memory one party needs for a job of these declared sizes (bytes, an
 * upper estimate): V holds one accumulator per column, a scratch product and one block at a time
 * (blocks are multiplied in as they arrive); with workers, two waves of received blocks and, per
 * worker, its own accumulators and the partials it returns. I encrypts one block (inline) or one
 * wave (workers) at a time. Nothing grows with the number of blocks.
 *
 * @example
 * ```ts
 * estimatePsiSumHeMemory({ holder: 'values', valueKeys: 1 << 23, columns: 16, workers: 0 }); // ~7.5 MB
 * ```
 */
export function estimatePsiSumHeMemory(o: { holder: 'ids' | 'values'; valueKeys: number; columns: number; workers: number }): number {
  if (!Number.isSafeInteger(o.valueKeys) || o.valueKeys < 0) throw new RangeError('valueKeys must be a non-negative integer');
  if (!Number.isSafeInteger(o.columns) || o.columns < 1) throw new RangeError('columns must be a positive integer');
  if (!Number.isSafeInteger(o.workers) || o.workers < 0) throw new RangeError('workers must be a non-negative integer');
  const blocks = Math.ceil(o.valueKeys / N);
  const wave = Math.min(blocks, o.workers * WAVE_BLOCKS_PER_WORKER);
  if (o.holder === 'ids') {
    // One block in SEAL at a time; with workers, two waves of encrypted bytes (one being sent).
    return LOADED_CIPHERTEXT_BYTES + BLOCK_SCRATCH_BYTES + 2 * wave * SEEDED_CIPHERTEXT_BYTES + o.workers * (LOADED_CIPHERTEXT_BYTES + BLOCK_SCRATCH_BYTES);
  }
  const own = (o.columns + 3) * LOADED_CIPHERTEXT_BYTES + BLOCK_SCRATCH_BYTES;
  if (o.workers === 0) return own;
  const perWorker = (2 * o.columns + 3) * LOADED_CIPHERTEXT_BYTES + BLOCK_SCRATCH_BYTES;
  return own + 2 * wave * SEEDED_CIPHERTEXT_BYTES + o.workers * perWorker;
}

function checkMemory(budget: number | undefined, need: number, refuse: (msg: string) => Error): void {
  const b = budget ?? PSI_SUM_HE_MEMORY_BUDGET;
  if (!Number.isSafeInteger(b) || b < 1) throw new RangeError('heMemoryBudget must be a positive integer (bytes)');
  if (need > b) {
    const mib = (x: number) => (x / 1048576).toFixed(1);
    throw refuse(`psi-sum needs ~${mib(need)} MiB of homomorphic working memory for the declared sizes; the heMemoryBudget is ${mib(b)} MiB — raise it, use fewer workers or columns, or split the job`);
  }
}

/**
 * ε for each released statistic: the total split evenly over the count and every column (basic
 * sequential composition; `splitEpsilon` of the shared guardrails, rounded down).
 * @example
 * ```ts
 * epsilonEach('1', 2); // "0.333333"
 * ```
 */
export function epsilonEach(epsilon: string, columns: number): string {
  return splitEpsilon(epsilon, 1 + columns);
}

/** Draws bounded exact discrete-Laplace noise (the shared guardrails' sampler, δ ≤ 2^-40). */
function noise(eps: string, sensitivity: bigint): bigint {
  return sampleBoundedDiscreteLaplace(eps, sensitivity).noise;
}

/** The largest |released value| of a column: n keys × bound, plus two bounded noise draws. */
function columnRange(c: ColumnSpec, valueKeys: number, eps: string | undefined): bigint {
  const h = eps === undefined ? 0n : discreteLaplaceBound(eps, c.bound);
  return BigInt(valueKeys) * c.bound + 2n * h;
}

/**
 * The plaintext-modulus size V uses for its columns, or an `InputError` naming the column whose
 * total could wrap (checked before anything is encrypted).
 * @example
 * ```ts
 * const bits = choosePlainBits(columns, 600, undefined);
 * ```
 */
export function choosePlainBits(columns: readonly ColumnSpec[], valueKeys: number, epsilon: string | undefined): number {
  const eps = epsilon === undefined ? undefined : epsilonEach(epsilon, columns.length);
  let bits = 0;
  for (const c of columns) {
    const b = plainBitsFor(columnRange(c, valueKeys, eps));
    if (b > MAX_PLAIN_BITS) {
      throw new InputError(
        `column ${c.name}: ${valueKeys} keys × bound ${c.bound} (scaled)${eps !== undefined ? ' plus DP noise headroom' : ''} needs a ${b}-bit plaintext modulus; the limit is ${MAX_PLAIN_BITS} bits (the sum could wrap) — lower the bound or the decimals, or split the job`,
      );
    }
    bits = Math.max(bits, b);
  }
  return bits;
}

/**
 * What a psi-sum state machine wants next: send a frame, or receive one (passed back through the
 * generator's `next`). The machines are sans-I/O: they never touch a transport; the batch crypto
 * goes through the injected executor. {@link drivePsiSumMachine} pumps one over a transport.
 */
export type PsiSumStep = { readonly send: Uint8Array } | { readonly receive: true };

/** A psi-sum party as an async generator of {@link PsiSumStep}s returning its outcome. */
export type PsiSumMachine = AsyncGenerator<PsiSumStep, PsiSumPartyOutcome, Uint8Array | undefined>;

const RECEIVE: PsiSumStep = Object.freeze({ receive: true as const });

/** Receives the next frame inside a machine (the driver always answers a RECEIVE with a frame). */
async function* receive(): AsyncGenerator<PsiSumStep, Uint8Array, Uint8Array | undefined> {
  const frame = yield RECEIVE;
  if (!(frame instanceof Uint8Array)) throw new TypeError('the driver must answer a receive step with a frame');
  return frame;
}

async function* sendPoints(
  round: number,
  flat: Uint8Array,
  batch: number,
  signal: AbortSignal | undefined,
  report: (done: number, total: number) => void,
): AsyncGenerator<PsiSumStep, void, Uint8Array | undefined> {
  const n = flat.length / 32;
  report(0, n);
  for (let off = 0; off < n; off += batch) {
    throwIfAborted(signal);
    yield { send: encodePoints(round, flat.subarray(off * 32, Math.min(n, off + batch) * 32)) };
    report(Math.min(n, off + batch), n);
  }
  if (n === 0) report(0, 0);
}

async function* receivePoints(round: number, total: number, report: (done: number, total: number) => void): AsyncGenerator<PsiSumStep, Uint8Array, Uint8Array | undefined> {
  const out = new Uint8Array(total * 32);
  let got = 0;
  report(0, total);
  if (total === 0) report(0, 0);
  while (got < total) {
    const flat = decodePoints(yield* receive(), round);
    const k = flat.length / 32;
    if (got + k > total) throw new MalformedMessageError('malformed message: more points than declared');
    out.set(flat, got * 32);
    got += k;
    report(got, total);
  }
  return out;
}

function permuteFlat(flat: Uint8Array, perm: Uint32Array): Uint8Array {
  const out = new Uint8Array(flat.length);
  for (let i = 0; i < perm.length; i++) out.set(flat.subarray(perm[i]! * 32, perm[i]! * 32 + 32), i * 32);
  return out;
}

function checkOptions(o: PsiSumProtocolOptions, share: PsiSumJobShare | undefined): void {
  if (!Number.isSafeInteger(o.minCohort) || o.minCohort < 0) throw new RangeError('options.minCohort must be a non-negative integer');
  if (o.epsilon !== undefined) epsilonEach(o.epsilon, 1); // parseEpsilon's RangeError / TypeError
  if (share !== undefined) {
    // A job's bucket releases nothing: the job's guardrails apply to its total when it closes.
    if (share === null || typeof share !== 'object') throw new TypeError('jobShare must be an object');
    if (o.revealToIdHolder || o.revealToValueHolder || o.minCohort !== 0 || o.epsilon !== undefined) {
      throw new RangeError('options must reveal nothing, with no minCohort and no epsilon, in a job bucket (jobShare)');
    }
    if (share.plainBits !== undefined && (!Number.isSafeInteger(share.plainBits) || share.plainBits < 20 || share.plainBits > MAX_PLAIN_BITS)) {
      throw new RangeError(`jobShare.plainBits must be an integer in 20..${MAX_PLAIN_BITS}`);
    }
  } else if (!o.revealToIdHolder && !o.revealToValueHolder) throw new RangeError('someone must receive the result');
  if (o.batchSize !== undefined && (!Number.isSafeInteger(o.batchSize) || o.batchSize < 1 || o.batchSize > 1 << 16)) {
    throw new RangeError('options.batchSize must be in 1..65536');
  }
}

/** Largest peer set size the role functions accept (the session bounds it earlier; 2^23). */
export const MAX_PSI_SUM_PEER_SET_SIZE = 1 << 23;

function checkPeerSetSize(n: number): void {
  if (!Number.isSafeInteger(n) || n < 0 || n > MAX_PSI_SUM_PEER_SET_SIZE) throw new RangeError(`peerSetSize must be an integer in 0..${MAX_PSI_SUM_PEER_SET_SIZE}`);
}

/**
 * Pumps a psi-sum machine over `transport`. Any failure (a typed error from a malformed, unexpected
 * or out-of-limit frame, a closed transport, an abort) stops the machine (its SEAL objects are
 * released by its `finally` blocks), closes the transport so the peer ends too, and rethrows.
 *
 * @example
 * ```ts
 * const outcome = await drivePsiSumMachine(createPsiSumIdHolder({ ekm, executor, options, peerSetSize, keys }), transport);
 * ```
 */
export async function drivePsiSumMachine(machine: PsiSumMachine, transport: FrameTransport, signal?: AbortSignal): Promise<PsiSumPartyOutcome> {
  let input: Uint8Array | undefined;
  try {
    for (;;) {
      throwIfAborted(signal);
      const r = await machine.next(input);
      if (r.done) return r.value;
      input = undefined;
      if ('send' in r.value) await transport.send(r.value.send, signal);
      else input = await transport.receive(signal);
    }
  } catch (e) {
    await machine.return(undefined as never).catch(() => {});
    await transport.close('psi-sum failed').catch(() => {});
    if (signal?.aborted && !(e instanceof DataportError)) throw new AbortError();
    throw e;
  }
}

/**
 * Runs the value holder's side. Refuses (`InputError`) before anything is sent if a per-key total
 * exceeds its column's declared bound, a column total could wrap, or the job does not fit the
 * homomorphic memory budget.
 *
 * @example
 * ```ts
 * const out = await runPsiSumValueHolder({ transport, ekm, executor, options, peerSetSize: 300,
 *   input: { keys, columns: [{ name: 'cost', decimals: 2, bound: 10_000_000n }], totals: [costs] } });
 * ```
 */
export function runPsiSumValueHolder(args: PsiSumPartyArgs & { input: ValueHolderInput }): Promise<PsiSumPartyOutcome> {
  const { transport, signal } = args;
  let machine: PsiSumMachine;
  try {
    machine = createPsiSumValueHolder(args);
  } catch (e) {
    return Promise.reject(e);
  }
  return drivePsiSumMachine(machine, transport, signal);
}

/** The largest declared bound of the columns (the flooding is sized for it, see `HeContext.resultPlan`). */
function maxBound(columns: readonly ColumnSpec[]): bigint {
  return columns.reduce((m, c) => (c.bound > m ? c.bound : m), 1n);
}

/**
 * The value holder as a sans-I/O machine (see {@link PsiSumStep}). Checks its input synchronously
 * (`InputError` before anything is sent), then yields the frames to send / asks for frames.
 *
 * V holds no key: it multiplies I's encrypted selection by its plaintext values, masks every
 * coefficient (coefficient 0 with its DP noise for I and, when I is not a recipient, a uniform r0
 * it removes later), floods and re-randomises (docs/psi-sum.md). Whatever it sends, it only ever
 * receives ciphertexts under I's key, the count (when a recipient) and the sums (when a recipient).
 *
 * @example
 * ```ts
 * const machine = createPsiSumValueHolder({ ekm, executor, options, peerSetSize: 300, input });
 * const outcome = await drivePsiSumMachine(machine, transport);
 * ```
 */
export function createPsiSumValueHolder(args: Omit<PsiSumPartyArgs, 'transport'> & { input: ValueHolderInput }): PsiSumMachine {
  const { ekm, executor, options: o, peerSetSize, signal, input, jobShare } = args;
  const report = reporter(args.onProgress);
  checkOptions(o, jobShare);
  checkPeerSetSize(peerSetSize);
  const heOffload = checkHeOffload(args.heOffload);
  const nV = input.keys.length;
  if (input.columns.length === 0 || input.columns.length !== input.totals.length) throw new RangeError('input: one totals array per column');
  input.columns.forEach((c, ci) => {
    const totals = input.totals[ci]!;
    if (totals.length !== nV) throw new RangeError(`input.totals[${ci}] must have one entry per key`);
    for (const v of totals) {
      if (v > c.bound || v < -c.bound) throw new InputError(`column ${c.name}: a key's total exceeds the declared bound; refused before encryption`);
    }
  });
  const needBits = choosePlainBits(input.columns, nV, o.epsilon);
  // A job's bucket announces the job's plaintext size (planned for the job's total, so ≥ this bucket's need).
  const plainBits = jobShare?.plainBits ?? needBits;
  if (plainBits < needBits) throw new RangeError(`jobShare.plainBits: this bucket needs ${needBits} bits`);
  if (jobShare !== undefined && (!Array.isArray(jobShare.mask) || jobShare.mask.length !== input.columns.length || !jobShare.mask.every((r) => typeof r === 'bigint' && r >= 0n && r < 1n << BigInt(plainBits)))) {
    throw new RangeError('jobShare.mask must hold one value of [0, t) per column');
  }
  const eps = o.epsilon === undefined ? undefined : epsilonEach(o.epsilon, input.columns.length);
  const batch = o.batchSize ?? DEFAULT_BATCH;
  const C = input.columns.length;
  const blocks = Math.ceil(nV / N);
  const runner = heRunnerOf(executor, heOffload, C * blocks);
  checkMemory(
    args.heMemoryBudget,
    estimatePsiSumHeMemory({ holder: 'values', valueKeys: nV, columns: C, workers: runner?.size ?? 0 }),
    (m) => new InputError(m),
  );

  return (async function* valueHolder(): PsiSumMachine {
    const he = await HeContext.create(plainBits);
    const plan = he.resultPlan(Math.max(1, blocks), maxBound(input.columns));
    let pk: ReturnType<HeContext['loadPublicKey']> | undefined;
    let evaluator: ReturnType<HeContext['createEvaluator']> | undefined;
    try {
      const b = generateScalar();
      // Slot order j = a CSPRNG permutation of V's keys: nothing about V's row order reaches I.
      const perm = randomPermutation(nV);
      const ordered = Array.from(perm, (i) => input.keys[i]!);
      report('hashing', 0, nV, 'keys');
      const yb = nV === 0 ? new Uint8Array(0) : await executor.multiply(b, await executor.hashToGroup(ordered, ekm, signal), signal);
      report('hashing', nV, nV, 'keys');
      yield { send: encodeSetup({ version: PSI_SUM_VERSION, plainBits, plainModulus: he.t, valueKeys: nV, columns: [...input.columns] }) };
      yield* sendPoints(PointRound.VALUE_KEYS, yb, batch, signal, (d, t) => report('round1-send', d, t, 'points'));
      // I's masked keys: validated, re-masked, reshuffled (no link to I's positions survives).
      const xa = yield* receivePoints(PointRound.ID_KEYS, peerSetSize, (d, t) => report('round2-receive', d, t, 'points'));
      decodePointBatch(xa);
      report('remasking', 0, peerSetSize, 'points');
      const xab = peerSetSize === 0 ? xa : await executor.multiply(b, xa, signal);
      report('remasking', peerSetSize, peerSetSize, 'points');
      b.fill(0);
      yield* sendPoints(PointRound.ID_KEYS_REMASKED, permuteFlat(xab, randomPermutation(peerSetSize)), batch, signal, (d, t) => report('round2-send', d, t, 'points'));

      const selection = decodeSelection(yield* receive());
      const base = { columns: [...input.columns], plainBits, ...(eps !== undefined ? { epsilonEach: eps } : {}) };
      if (selection.withheld) return { withheld: true, ...base };
      if ((selection.count !== undefined) !== o.revealToValueHolder) throw new UnexpectedMessageError('unexpected message: count presence does not match the terms');
      if (selection.count !== undefined) {
        const maxCount = BigInt(Math.min(nV, peerSetSize));
        const slack = eps === undefined ? 0n : discreteLaplaceBound(eps, 1n);
        if (selection.count < -slack || selection.count > maxCount + slack) throw new MalformedMessageError('malformed message: implausible count');
      }
      // I's key is checked (header, exact seeded shape) before SEAL parses it.
      pk = he.loadPublicKey(selection.publicKey!);
      evaluator = he.createEvaluator(pk, C);
      // V's values of slot range [from, to) of column c, in slot order.
      const slotValues = (c: number, from: number, to: number): bigint[] => {
        const out = new Array<bigint>(Math.max(0, Math.min(nV, to) - from));
        for (let j = 0; j < out.length; j++) out[j] = input.totals[c]![perm[from + j]!]!;
        return out;
      };
      // Exactly ⌈|Y|/N⌉ blocks, in order; each is checked before SEAL parses it and multiplied in
      // as it arrives (inline), or in waves on the workers (two waves in memory at most).
      let wave: Uint8Array[] = [];
      let waveStart = 0;
      let pending: Promise<void> | undefined;
      const flush = (w: Uint8Array[], start: number): Promise<void> => {
        const p = evaluateOnWorkers(
          runner!,
          he,
          selection.publicKey!,
          evaluator!,
          w,
          (c, b0, b1) => BigInt64Array.from(slotValues(c, (start + b0) * N, (start + b1) * N)),
          signal,
        );
        p.catch(() => {}); // observed when awaited
        return p;
      };
      report('multiplying', 0, blocks, 'blocks');
      for (let k = 0; k < blocks; k++) {
        throwIfAborted(signal);
        const m = decodeCiphertext(yield* receive());
        if (m.col !== 0 || m.index !== k) throw new UnexpectedMessageError('unexpected message: selection block out of order');
        if (runner) {
          he.checkCiphertextBytes(m.ciphertext, 'fresh');
          wave.push(m.ciphertext);
          if (wave.length === runner.size * WAVE_BLOCKS_PER_WORKER || k === blocks - 1) {
            if (pending) await pending;
            pending = flush(wave, waveStart);
            report('multiplying', waveStart, blocks, 'blocks');
            waveStart = k + 1;
            wave = [];
          }
        } else {
          const ct = he.loadCiphertext(m.ciphertext, 'fresh');
          try {
            evaluator.addBlock(ct, Array.from({ length: C }, (_, c) => slotValues(c, k * N, (k + 1) * N)));
          } finally {
            ct.delete();
          }
          report('multiplying', k + 1, blocks, 'blocks');
        }
      }
      if (pending) await pending;
      report('multiplying', blocks, blocks, 'blocks');
      // Coefficient 0 of column c's mask: V's DP noise when I is a recipient (protects V's values
      // from I, which removes nothing), a uniform r0 when I is not (I then learns nothing at all).
      // In a job's bucket r0 is V's share of the job's zero-sum mask (never removed by V: the
      // shares of all buckets add up to 0, or to V's DP noise, mod t).
      if (jobShare !== undefined && jobShare.mask!.some((r) => r >= he.t)) throw new RangeError('jobShare.mask must hold values of [0, t)');
      const r0 = o.revealToIdHolder ? undefined : jobShare !== undefined ? [...jobShare.mask!] : he.randomModT(C);
      const constants = input.columns.map((col, c) => (r0 ? r0[c]! : eps === undefined ? 0n : noise(eps, col.bound)));
      const out: Uint8Array[] = [];
      for (let c = 0; c < C; c++) {
        throwIfAborted(signal);
        out.push(evaluator.finish(c, constants[c]!, plan));
      }
      yield { send: encodeResult({ ciphertexts: out }) };
      if (!o.revealToValueHolder) return { withheld: false, ...base };
      const got = decodeSums(yield* receive(), C);
      const sums = got.map((v, c) => (r0 ? he.centre(he.mod(v - r0[c]!)) : v));
      return { withheld: false, ...base, count: selection.count!, sums };
    } finally {
      evaluator?.delete();
      pk?.delete();
      he.delete();
    }
  })();
}

/**
 * Runs the ID holder's side: learns the exact intersection size, enforces the minimum cohort, and
 * returns the sums when the terms reveal them to it (after its range check on V's result).
 *
 * @example
 * ```ts
 * const out = await runPsiSumIdHolder({ transport, ekm, executor, options, peerSetSize: 600, keys });
 * out.count; // exact intersection size
 * ```
 */
export function runPsiSumIdHolder(args: PsiSumPartyArgs & { keys: readonly Uint8Array[] }): Promise<PsiSumPartyOutcome> {
  const { transport, signal } = args;
  let machine: PsiSumMachine;
  try {
    machine = createPsiSumIdHolder(args);
  } catch (e) {
    return Promise.reject(e);
  }
  return drivePsiSumMachine(machine, transport, signal);
}

/** Encrypts selection blocks [from, to) on the workers (I). */
function encryptWave(
  runner: PsiSumTaskRunner,
  he: HeContext,
  keys: ReturnType<HeContext['generateKeys']>,
  secretKeyBytes: Uint8Array,
  selected: Uint8Array,
  from: number,
  to: number,
  signal: AbortSignal,
): Promise<Uint8Array[]> {
  const coeffs: bigint[] = [];
  for (let k = from; k < to; k++) for (const c of he.selectionCoefficients(selected, k)) coeffs.push(c);
  const p = encryptBlocksOnWorkers(runner, he, keys, secretKeyBytes, coeffs, signal);
  p.catch(() => {}); // observed when awaited; a prefetch abandoned by a failure is aborted
  return p;
}

/**
 * The ID holder as a sans-I/O machine (see {@link PsiSumStep}). I generates a fresh BFV key pair
 * per run and is the only party that ever decrypts.
 *
 * @example
 * ```ts
 * const outcome = await drivePsiSumMachine(createPsiSumIdHolder({ ekm, executor, options, peerSetSize: 600, keys }), transport);
 * ```
 */
export function createPsiSumIdHolder(args: Omit<PsiSumPartyArgs, 'transport'> & { keys: readonly Uint8Array[] }): PsiSumMachine {
  const { ekm, executor, options: o, peerSetSize, signal, keys, jobShare } = args;
  const report = reporter(args.onProgress);
  checkOptions(o, jobShare);
  checkPeerSetSize(peerSetSize);
  const heOffload = checkHeOffload(args.heOffload);
  if (args.heMemoryBudget !== undefined) checkMemory(args.heMemoryBudget, 0, (m) => new LimitExceededError(m));
  const nI = keys.length;
  const batch = o.batchSize ?? DEFAULT_BATCH;
  return (async function* idHolder(): PsiSumMachine {
    const setup = decodeSetup(yield* receive()); // ProtocolVersionError for another version
    if (setup.valueKeys !== peerSetSize) throw new MalformedMessageError('malformed message: set size differs from the declared one');
    if (setup.plainBits < 20 || setup.plainBits > MAX_PLAIN_BITS) throw new HeParameterMismatchError('HE parameters outside the allowed set');
    if (jobShare?.plainBits !== undefined && setup.plainBits !== jobShare.plainBits) throw new HeParameterMismatchError("peer plaintext modulus is not the job's");
    const eps = o.epsilon === undefined ? undefined : epsilonEach(o.epsilon, setup.columns.length);
    // The peer's bounds must fit its own plaintext modulus (so a sum cannot wrap silently).
    let expectedBits: number;
    try {
      expectedBits = choosePlainBits(setup.columns, setup.valueKeys, o.epsilon);
    } catch {
      throw new HeParameterMismatchError('peer HE parameters cannot hold its declared bounds');
    }
    if (setup.plainBits < expectedBits) throw new HeParameterMismatchError('peer plaintext modulus too small for its declared bounds');
    const nV = setup.valueKeys;
    const C = setup.columns.length;
    const blocks = Math.ceil(nV / N);
    const runner = heRunnerOf(executor, heOffload, blocks);
    checkMemory(args.heMemoryBudget, estimatePsiSumHeMemory({ holder: 'ids', valueKeys: nV, columns: C, workers: runner?.size ?? 0 }), (m) => new LimitExceededError(m));
    const he = await HeContext.create(setup.plainBits);
    let hk: ReturnType<HeContext['generateKeys']> | undefined;
    let secretKeyBytes: Uint8Array | undefined;
    const stop = new AbortController();
    const workSignal = signal ? AbortSignal.any([signal, stop.signal]) : stop.signal;
    try {
      if (he.t !== setup.plainModulus) throw new HeParameterMismatchError('peer plaintext modulus is not the agreed prime');
      let plan: ResultPlan;
      try {
        plan = he.resultPlan(Math.max(1, blocks), maxBound(setup.columns));
      } catch {
        throw new HeParameterMismatchError('peer declared bounds too large for the noise flooding');
      }

      const a = generateScalar();
      report('hashing', 0, nI, 'keys');
      const xa = nI === 0 ? new Uint8Array(0) : await executor.multiply(a, await executor.hashToGroup(keys, ekm, signal), signal);
      const xaShuffled = permuteFlat(xa, randomPermutation(nI));
      report('hashing', nI, nI, 'keys');

      const yb = yield* receivePoints(PointRound.VALUE_KEYS, nV, (d, t) => report('round1-receive', d, t, 'points'));
      decodePointBatch(yb);
      report('remasking', 0, nV, 'points');
      const yba = nV === 0 ? yb : await executor.multiply(a, yb, signal);
      report('remasking', nV, nV, 'points');
      a.fill(0);
      yield* sendPoints(PointRound.ID_KEYS, xaShuffled, batch, signal, (d, t) => report('round2-send', d, t, 'points'));
      const xab = yield* receivePoints(PointRound.ID_KEYS_REMASKED, nI, (d, t) => report('round2-receive', d, t, 'points'));

      const table = new ValueTable(nI, 32);
      table.insertAll(xab);
      const selected = new Uint8Array(nV);
      let count = 0;
      report('selecting', 0, nV, 'keys');
      for (let j = 0; j < nV; j++) {
        if (table.find(yba, j * 32) >= 0) {
          selected[j] = 1;
          count++;
        }
      }
      report('selecting', nV, nV, 'keys');
      const base = { columns: setup.columns, plainBits: setup.plainBits, ...(eps !== undefined ? { epsilonEach: eps } : {}) };
      if (o.minCohort > 0 && count < o.minCohort) {
        yield { send: encodeSelection({ withheld: true }) };
        return { withheld: true, count: BigInt(count), ...base };
      }
      hk = he.generateKeys();
      secretKeyBytes = runner ? he.exportSecretKey(hk) : undefined;
      const released = o.revealToValueHolder ? BigInt(count) + (eps === undefined ? 0n : noise(eps, 1n)) : undefined;
      yield { send: encodeSelection({ withheld: false, ...(released !== undefined ? { count: released } : {}), publicKey: hk.publicKeyBytes }) };
      report('encrypting', 0, blocks, 'blocks');
      if (runner) {
        // Waves of blocks: the next wave is encrypted while this one's frames go out.
        const size = runner.size * WAVE_BLOCKS_PER_WORKER;
        let next: Promise<Uint8Array[]> | undefined = encryptWave(runner, he, hk, secretKeyBytes!, selected, 0, Math.min(blocks, size), workSignal);
        for (let from = 0; from < blocks; from += size) {
          const cts = await next!;
          const to2 = Math.min(blocks, from + 2 * size);
          next = from + size < blocks ? encryptWave(runner, he, hk, secretKeyBytes!, selected, from + size, to2, workSignal) : undefined;
          for (let i = 0; i < cts.length; i++) {
            throwIfAborted(signal);
            yield { send: encodeCiphertext(0, from + i, cts[i]!) };
            report('encrypting', from + i + 1, blocks, 'blocks');
          }
        }
      } else {
        for (let k = 0; k < blocks; k++) {
          throwIfAborted(signal);
          yield { send: encodeCiphertext(0, k, he.encryptValues(hk, he.selectionCoefficients(selected, k))[0]!) };
          report('encrypting', k + 1, blocks, 'blocks');
        }
      }
      if (blocks === 0) report('encrypting', 0, 0, 'blocks');
      selected.fill(0);

      const result = decodeResult(yield* receive(), C);
      // Shape and level are checked on V's bytes before SEAL parses them (a malformed result ends
      // the run: that depends only on V's bytes). What depends on I's key or selection — the noise
      // check and the range check — never changes I's messages when V is not a recipient.
      const decrypted = result.ciphertexts.map((ct) => he.decryptConstant(hk!.secretKey, ct, plan.primes));
      let valid = decrypted.every((d) => d.ok);
      if (o.revealToIdHolder) {
        // V's honest per-key totals are within ±bound, so |sum| ≤ bound·count (+ V's DP noise).
        setup.columns.forEach((col, c) => {
          const headroom = eps === undefined ? 0n : discreteLaplaceBound(eps, col.bound);
          const limit = col.bound * BigInt(count) + headroom;
          const d = decrypted[c]!.value;
          if (d > limit || d < -limit) valid = false;
        });
      }
      const rel = released !== undefined ? { releasedCount: released } : {};
      if (jobShare !== undefined) {
        // A job's bucket: the masked values are kept for the job's total (range-checked there).
        const masked = decrypted.map((d) => he.mod(d.value));
        return { withheld: false, count: BigInt(count), masked, ...(valid ? {} : { resultRejected: true }), ...base };
      }
      if (o.revealToValueHolder) {
        // V learns the sums anyway: refusing openly tells it no more than they would.
        if (!valid) throw new VerificationFailedError("the value holder's result failed the range check: sums withheld");
        yield { send: encodeSums(decrypted.map((d, c) => d.value + (eps === undefined ? 0n : noise(eps, setup.columns[c]!.bound)))) };
      }
      if (!o.revealToIdHolder) return { withheld: false, count: BigInt(count), ...rel, ...base };
      if (!valid) return { withheld: false, count: BigInt(count), resultRejected: true, ...rel, ...base };
      return { withheld: false, count: BigInt(count), sums: decrypted.map((d) => d.value), ...rel, ...base };
    } finally {
      stop.abort();
      secretKeyBytes?.fill(0);
      hk?.delete();
      he.delete();
    }
  })();
}
