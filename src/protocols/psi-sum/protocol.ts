/**
 * psi-sum: count, exact sums and means over a private intersection (DESIGN.md §4.2, §4.4; design
 * and leakage in docs/psi-sum.md). Two parties: the ID holder I (identifiers only) and the value
 * holder V (identifiers + numeric columns). Either may be the session's requester.
 *
 * ```
 *   V (value holder)                                  I (ID holder)
 *   SETUP (t, columns, bounds, |Y|, BFV public key) ──▶ checks parameters and bounds
 *   POINTS round 1: H(y_j)^b in slot order j        ──▶ H(y_j)^ba
 *   CIPHERTEXT × (columns × ⌈|Y|/N⌉): per-key totals,
 *     coefficient j = key j, seeded symmetric BFV   ──▶
 *                                                  ◀── POINTS round 2: H(x_i)^a, shuffled
 *   POINTS round 3: H(x_i)^ab, reshuffled           ──▶ selection s_j = [H(y_j)^ba ∈ {H(x)^ab}],
 *                                                       count = Σ s_j
 *                                                  ◀── RESULT: withheld (count < k), or per column
 *                                                       Σ_k ct_k·p_k + mask, re-randomised,
 *                                                       flooded, mod-switched (+ count if V is a
 *                                                       recipient, DP-noised when ε is set)
 *   decrypts the constant coefficient of each
 *   SUMS (if I is a recipient; + V's DP noise)      ──▶ removes its mask
 * ```
 *
 * Each role is a sans-I/O state machine — an async generator of {@link PsiSumStep}s (send this
 * frame / give me the next frame) — created by `createPsiSumValueHolder` / `createPsiSumIdHolder`
 * and pumped over a transport by `drivePsiSumMachine` (`runPsiSumValueHolder` /
 * `runPsiSumIdHolder` do both). Batch curve work goes through the injected `CryptoExecutor`; when
 * that executor is a worker pool, V's encryption and I's selection circuit are split over its
 * workers too (`he-parallel.ts`, `heOffload`).
 *
 * What each side learns beyond its output is in docs/psi-sum.md (both learn both set sizes; I learns
 * the exact intersection size; neither learns which records matched).
 * @module
 */
import { decodePointBatch } from '../../crypto/point.js';
import { generateScalar } from '../../crypto/scalar.js';
import {
  AbortError,
  DataportError,
  HeParameterMismatchError,
  InputError,
  MalformedMessageError,
  UnexpectedMessageError,
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
  decodeSetup,
  decodeSums,
  encodeCiphertext,
  encodePoints,
  encodeResult,
  encodeSetup,
  encodeSums,
  type ColumnSpec,
} from './codec.js';
import { discreteLaplaceBound, sampleBoundedDiscreteLaplace, splitEpsilon } from '../guardrails.js';
import { HeContext, MAX_PLAIN_BITS, maxCiphertextsPerColumn, plainBitsFor, type HeCiphertext } from './he.js';
import { checkHeOffload, encryptColumnOnWorkers, heRunnerOf, selectColumnsOnWorkers, type PsiSumHeOffload } from './he-parallel.js';

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
  columns: ColumnSpec[];
  /** Plaintext modulus size used. */
  plainBits: number;
  /** Per-released-statistic ε (when DP is on), decimal string. */
  epsilonEach?: string;
}

const DEFAULT_BATCH = 1 << 14;

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
  const perColumn = Math.ceil(valueKeys / 8192);
  if (perColumn > maxCiphertextsPerColumn(bits)) {
    throw new InputError(`${valueKeys} value-holder keys are more than this plaintext size allows (${maxCiphertextsPerColumn(bits) * 8192}); split the job`);
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

async function* sendPoints(round: number, flat: Uint8Array, batch: number, signal?: AbortSignal): AsyncGenerator<PsiSumStep, void, Uint8Array | undefined> {
  const n = flat.length / 32;
  for (let off = 0; off < n; off += batch) {
    throwIfAborted(signal);
    yield { send: encodePoints(round, flat.subarray(off * 32, Math.min(n, off + batch) * 32)) };
  }
}

async function* receivePoints(round: number, total: number): AsyncGenerator<PsiSumStep, Uint8Array, Uint8Array | undefined> {
  const out = new Uint8Array(total * 32);
  let got = 0;
  while (got < total) {
    const flat = decodePoints(yield* receive(), round);
    const k = flat.length / 32;
    if (got + k > total) throw new MalformedMessageError('malformed message: more points than declared');
    out.set(flat, got * 32);
    got += k;
  }
  return out;
}

function permuteFlat(flat: Uint8Array, perm: Uint32Array): Uint8Array {
  const out = new Uint8Array(flat.length);
  for (let i = 0; i < perm.length; i++) out.set(flat.subarray(perm[i]! * 32, perm[i]! * 32 + 32), i * 32);
  return out;
}

function checkOptions(o: PsiSumProtocolOptions): void {
  if (!Number.isSafeInteger(o.minCohort) || o.minCohort < 0) throw new RangeError('options.minCohort must be a non-negative integer');
  if (o.epsilon !== undefined) epsilonEach(o.epsilon, 1); // parseEpsilon's RangeError / TypeError
  if (!o.revealToIdHolder && !o.revealToValueHolder) throw new RangeError('someone must receive the result');
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
 * Runs the value holder's side. Refuses (`InputError`) before encrypting anything if a per-key
 * total exceeds its column's declared bound or a column total could wrap.
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

/**
 * The value holder as a sans-I/O machine (see {@link PsiSumStep}). Checks its input synchronously
 * (`InputError` before anything is encrypted), then yields the frames to send / asks for frames.
 *
 * @example
 * ```ts
 * const machine = createPsiSumValueHolder({ ekm, executor, options, peerSetSize: 300, input });
 * const outcome = await drivePsiSumMachine(machine, transport);
 * ```
 */
export function createPsiSumValueHolder(args: Omit<PsiSumPartyArgs, 'transport'> & { input: ValueHolderInput }): PsiSumMachine {
  const { ekm, executor, options: o, peerSetSize, signal, input } = args;
  checkOptions(o);
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
  const plainBits = choosePlainBits(input.columns, nV, o.epsilon);
  const eps = o.epsilon === undefined ? undefined : epsilonEach(o.epsilon, input.columns.length);
  const batch = o.batchSize ?? DEFAULT_BATCH;

  const runner = heRunnerOf(executor, heOffload, input.columns.length * Math.ceil(nV / 8192));

  return (async function* valueHolder(): PsiSumMachine {
    const he = await HeContext.create(plainBits);
    const keys = he.generateKeys();
    // V's serialized secret key, only when its own workers encrypt (wiped below).
    const secretKeyBytes = runner ? he.exportSecretKey(keys) : undefined;
    const stop = new AbortController();
    const workSignal = signal ? AbortSignal.any([signal, stop.signal]) : stop.signal;
    try {
      const b = generateScalar();
      // Slot order j = a CSPRNG permutation of V's keys: nothing about V's row order reaches I.
      const perm = randomPermutation(nV);
      const ordered = Array.from(perm, (i) => input.keys[i]!);
      const yb = nV === 0 ? new Uint8Array(0) : await executor.multiply(b, await executor.hashToGroup(ordered, ekm, signal), signal);
      yield { send: encodeSetup({ version: PSI_SUM_VERSION, plainBits, plainModulus: he.t, valueKeys: nV, columns: [...input.columns], publicKey: keys.publicKeyBytes }) };
      yield* sendPoints(PointRound.VALUE_KEYS, yb, batch, signal);
      const slotValues = (c: number): bigint[] => Array.from(perm, (i) => input.totals[c]![i]!);
      // On workers, column c + 1 is encrypted while column c's frames go out (two columns of
      // ciphertexts in memory at most); inline, one column at a time as before.
      const encryptOnWorkers = (c: number): Promise<Uint8Array[]> => {
        const p = encryptColumnOnWorkers(runner!, he, keys, secretKeyBytes!, slotValues(c), workSignal);
        p.catch(() => {}); // observed when awaited; a prefetch abandoned by a failure is aborted below
        return p;
      };
      let next = runner ? encryptOnWorkers(0) : undefined;
      for (let c = 0; c < input.columns.length; c++) {
        let cts: Uint8Array[];
        if (next) {
          cts = await next;
          next = c + 1 < input.columns.length ? encryptOnWorkers(c + 1) : undefined;
        } else {
          cts = he.encryptValues(keys, slotValues(c));
        }
        for (let k = 0; k < cts.length; k++) {
          throwIfAborted(signal);
          yield { send: encodeCiphertext(c, k, cts[k]!) };
        }
      }
      // I's masked keys: validated, re-masked, reshuffled (no link to I's positions survives).
      const xa = yield* receivePoints(PointRound.ID_KEYS, peerSetSize);
      decodePointBatch(xa);
      const xab = peerSetSize === 0 ? xa : await executor.multiply(b, xa, signal);
      b.fill(0);
      yield* sendPoints(PointRound.ID_KEYS_REMASKED, permuteFlat(xab, randomPermutation(peerSetSize)), batch, signal);

      const result = decodeResult(yield* receive());
      const base = { columns: [...input.columns], plainBits, ...(eps !== undefined ? { epsilonEach: eps } : {}) };
      if (result.withheld) return { withheld: true, ...base };
      if (result.ciphertexts.length !== input.columns.length) throw new MalformedMessageError('malformed message: one result per column expected');
      if ((result.count !== undefined) !== o.revealToValueHolder) throw new UnexpectedMessageError('unexpected message: count presence does not match the terms');
      if (result.count !== undefined) {
        const maxCount = BigInt(Math.min(nV, peerSetSize));
        const slack = eps === undefined ? 0n : discreteLaplaceBound(eps, 1n);
        if (result.count < -slack || result.count > maxCount + slack) throw new MalformedMessageError('malformed message: implausible count');
      }
      const decrypted = result.ciphertexts.map((ct) => he.decryptConstant(keys.secretKey, ct));
      if (o.revealToIdHolder) {
        // V's own noise protects its values from I (I removes only the noise it added itself).
        const out = decrypted.map((d, c) => (eps === undefined ? d : d + noise(eps, input.columns[c]!.bound)));
        yield { send: encodeSums(out) };
      }
      return {
        withheld: false,
        ...base,
        ...(o.revealToValueHolder ? { count: result.count!, sums: decrypted } : {}),
      };
    } finally {
      stop.abort(); // drops any encryption still queued on the workers
      secretKeyBytes?.fill(0);
      keys.delete();
      he.delete();
    }
  })();
}

/**
 * Runs the ID holder's side: learns the exact intersection size, enforces the minimum cohort, and
 * returns the sums when the terms reveal them to it.
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

/**
 * The ID holder as a sans-I/O machine (see {@link PsiSumStep}).
 *
 * @example
 * ```ts
 * const outcome = await drivePsiSumMachine(createPsiSumIdHolder({ ekm, executor, options, peerSetSize: 600, keys }), transport);
 * ```
 */
export function createPsiSumIdHolder(args: Omit<PsiSumPartyArgs, 'transport'> & { keys: readonly Uint8Array[] }): PsiSumMachine {
  const { ekm, executor, options: o, peerSetSize, signal, keys } = args;
  checkOptions(o);
  checkPeerSetSize(peerSetSize);
  const heOffload = checkHeOffload(args.heOffload);
  const nI = keys.length;
  const batch = o.batchSize ?? DEFAULT_BATCH;
  return (async function* idHolder(): PsiSumMachine {
    const setup = decodeSetup(yield* receive());
    if (setup.version !== PSI_SUM_VERSION) throw new MalformedMessageError('malformed message: psi-sum version');
    if (setup.valueKeys !== peerSetSize) throw new MalformedMessageError('malformed message: set size differs from the declared one');
    if (setup.plainBits < 20 || setup.plainBits > MAX_PLAIN_BITS) throw new HeParameterMismatchError('HE parameters outside the allowed set');
    const eps = o.epsilon === undefined ? undefined : epsilonEach(o.epsilon, setup.columns.length);
    // The peer's bounds must fit its own plaintext modulus (so a sum cannot wrap silently).
    let expectedBits: number;
    try {
      expectedBits = choosePlainBits(setup.columns, setup.valueKeys, o.epsilon);
    } catch {
      throw new HeParameterMismatchError('peer HE parameters cannot hold its declared bounds');
    }
    if (setup.plainBits < expectedBits) throw new HeParameterMismatchError('peer plaintext modulus too small for its declared bounds');
    const he = await HeContext.create(setup.plainBits);
    const cts: HeCiphertext[] = [];
    let pk: ReturnType<HeContext['loadPublicKey']> | undefined;
    const stop = new AbortController();
    const workSignal = signal ? AbortSignal.any([signal, stop.signal]) : stop.signal;
    try {
      if (he.t !== setup.plainModulus) throw new HeParameterMismatchError('peer plaintext modulus is not the agreed prime');
      pk = he.loadPublicKey(setup.publicKey);
      const nV = setup.valueKeys;
      const perColumn = Math.ceil(nV / he.n);
      const runner = heRunnerOf(executor, heOffload, setup.columns.length * perColumn);
      // On workers, the checked ciphertexts are kept as bytes (the workers load their own copies).
      const ctBytes: Uint8Array[] = [];

      const a = generateScalar();
      const xa = nI === 0 ? new Uint8Array(0) : await executor.multiply(a, await executor.hashToGroup(keys, ekm, signal), signal);
      const xaShuffled = permuteFlat(xa, randomPermutation(nI));

      const yb = yield* receivePoints(PointRound.VALUE_KEYS, nV);
      decodePointBatch(yb);
      const yba = nV === 0 ? yb : await executor.multiply(a, yb, signal);
      a.fill(0);
      for (let c = 0; c < setup.columns.length; c++) {
        for (let k = 0; k < perColumn; k++) {
          const m = decodeCiphertext(yield* receive());
          if (m.col !== c || m.index !== k) throw new UnexpectedMessageError('unexpected message: ciphertext out of order');
          const loaded = he.loadCiphertext(m.ciphertext, 'first'); // checked here whatever runs the circuit
          if (runner) {
            loaded.delete();
            ctBytes.push(m.ciphertext.slice());
          } else cts.push(loaded);
        }
      }
      yield* sendPoints(PointRound.ID_KEYS, xaShuffled, batch, signal);
      const xab = yield* receivePoints(PointRound.ID_KEYS_REMASKED, nI);

      const table = new ValueTable(nI, 32);
      table.insertAll(xab);
      const selected = new Uint8Array(nV);
      let count = 0;
      for (let j = 0; j < nV; j++) {
        if (table.find(yba, j * 32) >= 0) {
          selected[j] = 1;
          count++;
        }
      }
      const base = { columns: setup.columns, plainBits: setup.plainBits, ...(eps !== undefined ? { epsilonEach: eps } : {}) };
      if (o.minCohort > 0 && count < o.minCohort) {
        yield { send: encodeResult({ withheld: true, ciphertexts: [] }) };
        return { withheld: true, count: BigInt(count), ...base };
      }
      const masks: bigint[] = [];
      const constants: bigint[] = [];
      for (let c = 0; c < setup.columns.length; c++) {
        // Constant term: I's DP noise (protects I's membership from V's view of the sum), plus a
        // uniform mask when V must not learn the sum.
        const eta = eps === undefined ? 0n : noise(eps, setup.columns[c]!.bound);
        const mask = o.revealToValueHolder ? 0n : he.randomModT(1)[0]!;
        masks.push(he.mod(mask + eta));
        constants.push(mask + eta);
      }
      let out: Uint8Array[];
      if (runner) {
        // Every column at once: the pool spreads all their block runs over the workers.
        out = await selectColumnsOnWorkers(
          runner,
          he,
          setup.publicKey,
          pk,
          constants.map((constant, c) => ({ ciphertexts: ctBytes.slice(c * perColumn, (c + 1) * perColumn), constant })),
          selected,
          workSignal,
        );
      } else {
        out = [];
        for (let c = 0; c < setup.columns.length; c++) {
          throwIfAborted(signal);
          out.push(he.selectSumAndMask(cts.slice(c * perColumn, (c + 1) * perColumn), selected, constants[c]!, pk));
        }
      }
      const released = o.revealToValueHolder ? BigInt(count) + (eps === undefined ? 0n : noise(eps, 1n)) : undefined;
      yield { send: encodeResult({ withheld: false, ...(released !== undefined ? { count: released } : {}), ciphertexts: out }) };
      const rel = released !== undefined ? { releasedCount: released } : {};
      if (!o.revealToIdHolder) return { withheld: false, count: BigInt(count), ...rel, ...base };
      const got = decodeSums(yield* receive(), setup.columns.length);
      const sums = got.map((v, c) => he.centre(he.mod(v - masks[c]!)));
      return { withheld: false, count: BigInt(count), sums, ...rel, ...base };
    } finally {
      stop.abort();
      for (const c of cts) c.delete();
      pk?.delete();
      he.delete();
    }
  })();
}
