/**
 * psi-sum's heavy homomorphic steps as pure functions of a payload, so that a worker thread can
 * run them (they are registered as worker tasks in `src/workers/tasks.ts`) and the calling thread
 * can split a column's work over several workers (`he-parallel.ts`):
 *
 * - `psiSumEncrypt` — the value holder V's seeded symmetric encryption of a run of value blocks
 *   (N = 8192 slot values per ciphertext) under its own key. The payload carries V's serialized
 *   secret key: it is V's key, used only by V's own threads, never logged, never in an error
 *   message, and the task wipes its copy when done.
 * - `psiSumSelect` — the ID holder I's selection circuit Σ_k ct_k · p_k(X) over a run of V's
 *   ciphertext blocks. Partial sums of disjoint runs add up (in any order) to the whole column's
 *   selection, which the calling thread then masks, re-randomises, floods and switches
 *   (`HeContext.maskAndFinish`), so the result V decrypts is distributed exactly as inline.
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
 * const payload: PsiSumEncryptPayload = { plainBits: 45, secretKey, publicKey, values: BigInt64Array.of(1n, -2n) };
 * ```
 */
export interface PsiSumEncryptPayload {
  /** Plaintext-modulus size of the run (selects the SEAL context). */
  readonly plainBits: number;
  /** V's secret key, serialized by the same parameters (wiped by the task). */
  readonly secretKey: Uint8Array;
  /** V's seeded public key (the bytes of its SETUP message). */
  readonly publicKey: Uint8Array;
  /** Signed slot values, |v| < t/2; ciphertext i holds values[i·N, (i+1)·N). */
  readonly values: BigInt64Array;
}

/**
 * Payload of the `psiSumSelect` worker task.
 *
 * @example
 * ```ts
 * const payload: PsiSumSelectPayload = { plainBits: 45, publicKey, ciphertexts: [ct0, ct1], selected };
 * ```
 */
export interface PsiSumSelectPayload {
  /** Plaintext-modulus size of the run. */
  readonly plainBits: number;
  /** V's seeded public key (for the encryption of zero the circuit starts from). */
  readonly publicKey: Uint8Array;
  /** V's fresh ciphertexts of consecutive blocks of one column. */
  readonly ciphertexts: readonly Uint8Array[];
  /** One byte per slot of those blocks (1 = selected); shorter than blocks × N at the column's end. */
  readonly selected: Uint8Array;
}

/** Most blocks one task may carry (a column has at most 128; see `maxCiphertextsPerColumn`). */
const MAX_BLOCKS_PER_TASK = 1024;

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

/**
 * Encrypts a run of V's value blocks (see {@link PsiSumEncryptPayload}); returns one seeded
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
    // |v| ≤ (t - 1) / 2: the values `HeContext.centre` decodes back unchanged (t is odd).
    const half = (he.t - 1n) / 2n;
    for (const v of payload.values) if (v > half || v < -half) throw new RangeError('a value does not fit the plaintext modulus');
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
 * Runs the selection circuit over a run of V's blocks (see {@link PsiSumSelectPayload}); returns
 * the serialized partial sum. The ciphertexts are checked like any peer input (`HeContext.loadCiphertext`).
 *
 * @example
 * ```ts
 * const partial = await psiSumSelectTask({ plainBits: 45, publicKey, ciphertexts, selected });
 * ```
 */
export async function psiSumSelectTask(payload: PsiSumSelectPayload): Promise<Uint8Array> {
  const plainBits = checkPlainBits(payload?.plainBits);
  checkBytes(payload.publicKey, 'publicKey');
  checkBytes(payload.selected, 'selected');
  if (!Array.isArray(payload.ciphertexts) || payload.ciphertexts.length === 0 || payload.ciphertexts.length > MAX_BLOCKS_PER_TASK) {
    throw new RangeError(`ciphertexts must be an array of 1..${MAX_BLOCKS_PER_TASK} byte arrays`);
  }
  payload.ciphertexts.forEach((c, i) => checkBytes(c, `ciphertexts[${i}]`));
  if (payload.selected.length > payload.ciphertexts.length * PSI_SUM_POLY_DEGREE) throw new RangeError('selected is longer than the blocks');
  const he = await HeContext.create(plainBits);
  const pk = he.loadPublicKey(payload.publicKey);
  const cts: ReturnType<HeContext['loadCiphertext']>[] = [];
  try {
    for (const bytes of payload.ciphertexts) cts.push(he.loadCiphertext(bytes, 'first'));
    const acc = he.selectionCircuit(cts, payload.selected, pk);
    try {
      return he.savePartial(acc);
    } finally {
      acc.delete();
    }
  } finally {
    for (const c of cts) c.delete();
    pk.delete();
  }
}
