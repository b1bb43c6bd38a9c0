/**
 * psi-sum's heavy homomorphic steps as pure functions of a payload, so that a worker thread can
 * run them (they are registered as worker tasks in `src/workers/tasks.ts`) and the calling thread
 * can split the work over several workers (`he-parallel.ts`):
 *
 * - `psiSumEncrypt` — the ID holder I's seeded symmetric encryption of a run of selection blocks
 *   (N = 8192 coefficients per ciphertext) under its own key. The payload carries I's serialized
 *   secret key: it is I's key, used only by I's own threads, never logged, never in an error
 *   message, and the task wipes its copy when done.
 * - `psiSumEvaluate` — the value holder V's products Σ_k Enc(p_k)·m_{c,k} over a run of I's
 *   selection blocks, one partial accumulator per column. Partials of disjoint runs add up (in any
 *   order) to the whole sum, which the calling thread then masks, floods and switches
 *   (`SelectionEvaluator.finish`), so the result I decrypts is distributed as inline. I's
 *   ciphertexts are checked here like any peer input (`HeContext.loadCiphertext`).
 *
 * Each worker loads node-seal on first use and caches one SEAL context per plaintext size for its
 * lifetime (`HeContext.create`); every SEAL object a task creates is `.delete()`d before it returns.
 * @module
 */
import { HeContext, MAX_PLAIN_BITS, MIN_PLAIN_BITS, PSI_SUM_POLY_DEGREE } from './he.js';

/**
 * Payload of the `psiSumEncrypt` worker task.
 *
 * @example
 * ```ts
 * const payload: PsiSumEncryptPayload = { plainBits: 45, secretKey, publicKey, values: BigInt64Array.of(1n, -1n) };
 * ```
 */
export interface PsiSumEncryptPayload {
  /** Plaintext-modulus size of the run (selects the SEAL context). */
  readonly plainBits: number;
  /** I's secret key, serialized by the same parameters (wiped by the task). */
  readonly secretKey: Uint8Array;
  /** I's seeded public key (the bytes of its SELECTION message). */
  readonly publicKey: Uint8Array;
  /** Signed coefficients, |v| < t/2; ciphertext i holds values[i·N, (i+1)·N). */
  readonly values: BigInt64Array;
}

/**
 * Payload of the `psiSumEvaluate` worker task.
 *
 * @example
 * ```ts
 * const payload: PsiSumEvaluatePayload = { plainBits: 45, publicKey, ciphertexts: [ct0, ct1], values: [column0, column1] };
 * ```
 */
export interface PsiSumEvaluatePayload {
  /** Plaintext-modulus size of the run. */
  readonly plainBits: number;
  /** I's seeded public key (for the encryptions of zero the accumulators start from). */
  readonly publicKey: Uint8Array;
  /** I's selection ciphertexts of consecutive blocks, as received. */
  readonly ciphertexts: readonly Uint8Array[];
  /** Per column, V's signed slot values of those blocks (|v| < t/2; shorter than blocks × N at the end). */
  readonly values: readonly BigInt64Array[];
}

/** Most blocks one task may carry (a job has at most 1024; see `MAX_PSI_SUM_PEER_SET_SIZE`). */
const MAX_BLOCKS_PER_TASK = 1024;
/** Most columns (the codec's limit). */
const MAX_COLUMNS = 16;

function checkPlainBits(plainBits: unknown): number {
  if (typeof plainBits !== 'number' || !Number.isSafeInteger(plainBits) || plainBits < MIN_PLAIN_BITS || plainBits > MAX_PLAIN_BITS) {
    throw new RangeError(`plainBits must be an integer in ${MIN_PLAIN_BITS}..${MAX_PLAIN_BITS}`);
  }
  return plainBits;
}

function checkBytes(value: unknown, name: string): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new TypeError(`${name} must be a Uint8Array`);
  return value;
}

/** Checks signed values against the plaintext modulus: |v| ≤ (t - 1) / 2 (t is odd). */
function checkValues(he: HeContext, values: BigInt64Array): void {
  const half = (he.t - 1n) / 2n;
  for (const v of values) if (v > half || v < -half) throw new RangeError('a value does not fit the plaintext modulus');
}

/**
 * Encrypts a run of I's selection blocks (see {@link PsiSumEncryptPayload}); returns one seeded
 * ciphertext per block, in order. Wipes `payload.secretKey` whatever happens.
 *
 * @example
 * ```ts
 * const cts = await psiSumEncryptTask({ plainBits: 45, secretKey, publicKey, values });
 * ```
 */
export async function psiSumEncryptTask(payload: PsiSumEncryptPayload): Promise<Uint8Array[]> {
  const secretKey = payload?.secretKey;
  try {
    const plainBits = checkPlainBits(payload.plainBits);
    checkBytes(secretKey, 'secretKey');
    checkBytes(payload.publicKey, 'publicKey');
    if (!(payload.values instanceof BigInt64Array)) throw new TypeError('values must be a BigInt64Array');
    if (payload.values.length > MAX_BLOCKS_PER_TASK * PSI_SUM_POLY_DEGREE) throw new RangeError('too many values for one task');
    const he = await HeContext.create(plainBits);
    checkValues(he, payload.values);
    const keys = he.importKeys(secretKey, payload.publicKey);
    try {
      return he.encryptValues(keys, payload.values);
    } finally {
      keys.delete();
    }
  } finally {
    if (secretKey instanceof Uint8Array) secretKey.fill(0);
  }
}

/**
 * Multiplies a run of I's selection blocks by V's values (see {@link PsiSumEvaluatePayload});
 * returns one serialized partial accumulator per column. Blocks are loaded one at a time.
 *
 * @example
 * ```ts
 * const partials = await psiSumEvaluateTask({ plainBits: 45, publicKey, ciphertexts, values });
 * ```
 */
export async function psiSumEvaluateTask(payload: PsiSumEvaluatePayload): Promise<Uint8Array[]> {
  const plainBits = checkPlainBits(payload?.plainBits);
  checkBytes(payload.publicKey, 'publicKey');
  const blocks = payload.ciphertexts;
  if (!Array.isArray(blocks) || blocks.length === 0 || blocks.length > MAX_BLOCKS_PER_TASK) {
    throw new RangeError(`ciphertexts must be an array of 1..${MAX_BLOCKS_PER_TASK} byte arrays`);
  }
  blocks.forEach((c, i) => checkBytes(c, `ciphertexts[${i}]`));
  const values = payload.values;
  if (!Array.isArray(values) || values.length === 0 || values.length > MAX_COLUMNS) throw new RangeError(`values must be an array of 1..${MAX_COLUMNS} columns`);
  const he = await HeContext.create(plainBits);
  values.forEach((v, c) => {
    if (!(v instanceof BigInt64Array)) throw new TypeError(`values[${c}] must be a BigInt64Array`);
    if (v.length > blocks.length * he.n || v.length !== values[0]!.length) throw new RangeError('values must cover the blocks, the same length per column');
    checkValues(he, v);
  });
  const pk = he.loadPublicKey(payload.publicKey);
  try {
    const evaluator = he.createEvaluator(pk, values.length);
    try {
      for (let k = 0; k < blocks.length; k++) {
        const ct = he.loadCiphertext(blocks[k]!, 'fresh');
        try {
          evaluator.addBlock(ct, values.map((v) => v.subarray(Math.min(v.length, k * he.n), Math.min(v.length, (k + 1) * he.n))));
        } finally {
          ct.delete();
        }
      }
      return evaluator.savePartials();
    } finally {
      evaluator.delete();
    }
  } finally {
    pk.delete();
  }
}
