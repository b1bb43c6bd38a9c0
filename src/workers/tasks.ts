/**
 * The tasks a worker can run: pure functions of a payload, registered by name. The worker entry
 * exposes them through comlink; the pool with `workers: 0` calls them directly, so both paths run
 * the same code. A new task (HE encryption, say) is one entry in {@link WorkerTasks} and one in
 * `TASKS`, and is then available through `pool.runTask(name, payload)`.
 * @module
 */
import { encodeToCurveBatch } from '../crypto/hash-to-curve.js';
import { createGroup, type BackendName, type Group } from '../crypto/group.js';
import { initCrypto } from '../crypto/fast/init.js';
import { ppcaHashBatch, ppcaMultiplyBatch, type PpcaSuiteName } from '../crypto/ppca-suite.js';
import { encryptBatch } from '../he/batch.js';
import { psiSumEncryptTask, psiSumEvaluateTask, type PsiSumEncryptPayload, type PsiSumEvaluatePayload } from '../protocols/psi-sum/he-tasks.js';
import { truncateValues } from '../protocols/psi/values.js';
import { assertBytes } from '../utils/bytes.js';
import { unpackRecords, type PackedRecords } from './pack.js';

/**
 * Payload and result of every task a worker runs. Byte arrays in payloads should own their
 * buffers (the pool transfers them); results always do (the worker transfers them back).
 *
 * @example
 * ```ts
 * const payload: WorkerTasks['multiply']['payload'] = { scalar, points };
 * ```
 */
export interface WorkerTasks {
  /** `encode_to_curve(ekm || record)` for each packed record; flat `count * 32` bytes. */
  hashToGroup: { payload: PackedRecords & { readonly ekm: Uint8Array }; result: Uint8Array };
  /** X25519(scalar, u) for each 32-byte u of `points`; flat, same length. A worker wipes its copy of the scalar after use. */
  multiply: { payload: { readonly scalar: Uint8Array; readonly points: Uint8Array }; result: Uint8Array };
  /**
   * X25519(scalar, u) for each u, then the ECDH-PSI HKDF truncation to `outBytes` (16, 24; 32 = none)
   * in the same pass; flat `count * outBytes`. A worker wipes its copy of the scalar after use.
   */
  multiplyTruncate: {
    payload: { readonly scalar: Uint8Array; readonly points: Uint8Array; readonly outBytes: 16 | 24 | 32 };
    result: Uint8Array;
  };
  /** PPCA suites: each packed record hashed to the suite's group (`ppcaHashBatch`); flat bytes. */
  ppcaHash: { payload: PackedRecords & { readonly suite: PpcaSuiteName }; result: Uint8Array };
  /** PPCA suites: each point of `points` times `scalar` (`ppcaMultiplyBatch`); the worker wipes its copy of the scalar. */
  ppcaMultiply: { payload: { readonly suite: PpcaSuiteName; readonly scalar: Uint8Array; readonly points: Uint8Array }; result: Uint8Array };
  /**
   * BFV encryption of one vector under a public-key envelope (`src/he`'s `encryptBatch`); the
   * ciphertext envelope. node-seal is loaded in the worker on first use.
   */
  heEncrypt: { payload: { readonly publicKey: Uint8Array; readonly values: ArrayLike<bigint | number> }; result: Uint8Array };
  /**
   * psi-sum, ID holder: seeded symmetric BFV encryption of a run of selection blocks under I's own
   * key (`src/protocols/psi-sum/he-tasks.ts`); one ciphertext per block. The worker wipes its copy
   * of the secret key.
   */
  psiSumEncrypt: { payload: PsiSumEncryptPayload; result: Uint8Array[] };
  /** psi-sum, value holder: I's selection blocks times V's values over a run of blocks; one serialized partial accumulator per column. */
  psiSumEvaluate: { payload: PsiSumEvaluatePayload; result: Uint8Array[] };
}

/**
 * Name of a task in {@link WorkerTasks}.
 *
 * @example
 * ```ts
 * const name: WorkerTaskName = 'hashToGroup';
 * ```
 */
export type WorkerTaskName = keyof WorkerTasks;

/**
 * Names of the registered tasks.
 *
 * @example
 * ```ts
 * WorkerTaskNames.includes('multiply'); // true
 * ```
 */
export const WorkerTaskNames: readonly WorkerTaskName[] = ['hashToGroup', 'multiply', 'multiplyTruncate', 'heEncrypt', 'psiSumEncrypt', 'psiSumEvaluate', 'ppcaHash', 'ppcaMultiply'];

/** What a task returns: its value and the buffers to transfer with it. */
export interface TaskOutput<T> {
  value: T;
  transfer: ArrayBuffer[];
}

/** Per-thread state a task may use (created once per worker). */
export interface TaskContext {
  readonly group: Group;
}

type TaskImpl<K extends WorkerTaskName> = (
  payload: WorkerTasks[K]['payload'],
  ctx: TaskContext,
) => Promise<TaskOutput<WorkerTasks[K]['result']>>;

/** `[bytes, [its buffer]]` when `bytes` owns its whole buffer, otherwise a copy that does. */
export function owned(bytes: Uint8Array): TaskOutput<Uint8Array> {
  const b = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer ? bytes : new Uint8Array(bytes);
  return { value: b, transfer: [b.buffer as ArrayBuffer] };
}

const TASKS: { [K in WorkerTaskName]: TaskImpl<K> } = {
  async hashToGroup(payload) {
    assertBytes(payload.ekm, 'ekm');
    return owned(encodeToCurveBatch(unpackRecords(payload), payload.ekm));
  },
  async multiply(payload, ctx) {
    return owned(await ctx.group.multiplyBatch(payload.scalar, payload.points));
  },
  async multiplyTruncate(payload, ctx) {
    const joint = await ctx.group.multiplyBatch(payload.scalar, payload.points);
    // The untruncated values are secret-derived; the truncation allocates its own output.
    const out = truncateValues(joint, payload.outBytes);
    if (out !== joint) joint.fill(0);
    return owned(out);
  },
  async ppcaHash(payload) {
    return owned(ppcaHashBatch(payload.suite, unpackRecords(payload)));
  },
  async ppcaMultiply(payload, ctx) {
    return owned(await ppcaMultiplyBatch(payload.suite, payload.scalar, payload.points, ctx.group));
  },
  async heEncrypt(payload) {
    return owned(await encryptBatch(payload.publicKey, payload.values));
  },
  async psiSumEncrypt(payload) {
    const cts = (await psiSumEncryptTask(payload)).map((c) => owned(c).value);
    return { value: cts, transfer: cts.map((c) => c.buffer as ArrayBuffer) };
  },
  async psiSumEvaluate(payload) {
    const parts = (await psiSumEvaluateTask(payload)).map((c) => owned(c).value);
    return { value: parts, transfer: parts.map((c) => c.buffer as ArrayBuffer) };
  },
};

/**
 * Runs task `name` on `payload`. Throws `TypeError` for an unknown task name.
 *
 * @example
 * ```ts
 * const { value } = await runTaskInThread('multiply', { scalar, points }, { group: await createGroup() });
 * ```
 */
export function runTaskInThread<K extends WorkerTaskName>(
  name: K,
  payload: WorkerTasks[K]['payload'],
  ctx: TaskContext,
): Promise<TaskOutput<WorkerTasks[K]['result']>> {
  if (typeof name !== 'string' || !Object.hasOwn(TASKS, name)) throw new TypeError(`unknown worker task: ${String(name)}`);
  if (typeof payload !== 'object' || payload === null) throw new TypeError('payload must be an object');
  return (TASKS[name] as TaskImpl<K>)(payload, ctx);
}

/**
 * Creates the per-thread task context: the group, and the fast hash-to-curve path compiled up
 * front (asynchronously) so the first task does not pay for it.
 */
export async function createTaskContext(backend?: BackendName): Promise<TaskContext> {
  await initCrypto();
  return { group: await createGroup(backend) };
}
