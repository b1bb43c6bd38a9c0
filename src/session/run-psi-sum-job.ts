/**
 * psi-sum jobs (docs/jobs.md, "psi-sum jobs"): the value holder V's zero-sum mask shares, the ID
 * holder I's job totals, and the closing session that releases them once — with the minimum
 * cohort and the range check applied to the job's total, never to a bucket.
 *
 * Each bucket is a full `runPsiSum` session (`jobBucket` + `jobShare`) in which nobody receives a
 * result: V masks coefficient 0 of each column with its share r_b, I decrypts r_b + sum_b (mod t),
 * uniform on its own. The shares of a job add up to V's per-column offset Z (mod t): V's DP noise
 * (or 0) when I receives the sums, a uniform value V keeps otherwise. So the only value anyone can
 * compute is the job's total (+ Z), and only by adding all B buckets' values.
 * @module
 */
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { MalformedMessageError, UnexpectedMessageError, VerificationFailedError } from '../errors.js';
import type { GuardrailDecision, UsageReceipt } from '../ledger/receipt-types.js';
import { discreteLaplaceBound, sampleBoundedDiscreteLaplace } from '../protocols/guardrails.js';
import type { ColumnSpec } from '../protocols/psi-sum/codec.js';
import { HeContext } from '../protocols/psi-sum/he.js';
import { epsilonEach } from '../protocols/psi-sum/protocol.js';
import { BinaryReader, BinaryWriter } from '../utils/binary.js';
import { utf8 } from '../utils/bytes.js';
import { formatSums } from './run-psi-sum.js';
import { closePsiJob, jobSpecOf, type ClosePsiJobOptions, type JobRelease } from './run-job.js';
import { encodeValueScales, VALUE_SCALES_OPTION } from './value-scales.js';

const MASK_INFO = utf8('dataport psi-sum-job v1 mask\0');
/** Message type of the closing session's totals (I → V). */
const JOB_TOTALS = 0x57;
const FLAG_WITHHELD = 1;
const FLAG_RELEASED = 2;

/** r_{b,c}: HMAC-SHA256(seed, info ‖ u32 b ‖ u8 c), its first 128 bits mod t (bias < 2^-78 for t < 2^50). */
function prf(seed: Uint8Array, bucket: number, column: number, t: bigint): bigint {
  const msg = new Uint8Array(MASK_INFO.length + 5);
  msg.set(MASK_INFO);
  new DataView(msg.buffer).setUint32(MASK_INFO.length, bucket);
  msg[MASK_INFO.length + 4] = column;
  const d = hmac(sha256, seed, msg);
  let x = 0n;
  for (let i = 0; i < 16; i++) x = (x << 8n) | BigInt(d[i]!);
  return x % t;
}

function modT(v: bigint, t: bigint): bigint {
  const r = v % t;
  return r < 0n ? r + t : r;
}

/** [0, t) → (−t/2, t/2]. */
function centre(v: bigint, t: bigint): bigint {
  return v > t / 2n ? v - t : v;
}

/**
 * V's mask shares of one bucket, per column, in [0, t): r_b = PRF(seed, b) for b < B − 1 and
 * r_{B−1} = offset − Σ_{b<B−1} r_b, so that the shares of the job add up to `offset` (mod t).
 * Deterministic in the seed: a bucket run again uses the same share.
 *
 * @example
 * ```ts
 * const mask = jobMaskShares({ seed, t: he.t, buckets: 64, bucket: 7, offsets: [0n] });
 * ```
 */
export function jobMaskShares(o: { seed: Uint8Array; t: bigint; buckets: number; bucket: number; offsets: readonly bigint[] }): bigint[] {
  if (!(o.seed instanceof Uint8Array) || o.seed.length !== 32) throw new RangeError('seed must be 32 bytes');
  if (typeof o.t !== 'bigint' || o.t < 3n) throw new RangeError('t must be a bigint above 2');
  if (!Number.isSafeInteger(o.buckets) || o.buckets < 1) throw new RangeError('buckets must be a positive integer');
  if (!Number.isSafeInteger(o.bucket) || o.bucket < 0 || o.bucket >= o.buckets) throw new RangeError('bucket must be in 0..buckets-1');
  if (!Array.isArray(o.offsets) || o.offsets.length < 1 || o.offsets.length > 255) throw new RangeError('offsets must hold one bigint per column');
  return o.offsets.map((off, c) => {
    if (o.bucket < o.buckets - 1) return prf(o.seed, o.bucket, c, o.t);
    let s = 0n;
    for (let b = 0; b < o.buckets - 1; b++) s += prf(o.seed, b, c, o.t);
    return modT(off - s, o.t);
  });
}

/**
 * V's per-column offsets Z, drawn once when the job's columns are known: V's discrete-Laplace noise
 * (ε split as in a single run) when I receives the sums and ε is set, 0 when I receives them
 * without DP, and a uniform 128-bit value (reduced mod t when used) when I does not receive them —
 * V removes it from the total I sends back.
 *
 * @example
 * ```ts
 * const offsets = drawJobOffsets(columns, { idHolderReceives: true, epsilon: '1' });
 * ```
 */
export function drawJobOffsets(columns: readonly ColumnSpec[], o: { idHolderReceives: boolean; epsilon?: string }): bigint[] {
  if (!o.idHolderReceives) {
    return columns.map(() => {
      const b = crypto.getRandomValues(new Uint8Array(16));
      return b.reduce((x, v) => (x << 8n) | BigInt(v), 0n);
    });
  }
  if (o.epsilon === undefined) return columns.map(() => 0n);
  const each = epsilonEach(o.epsilon, columns.length);
  return columns.map((c) => sampleBoundedDiscreteLaplace(each, c.bound).noise);
}

/**
 * The plaintext modulus t of a job's plaintext size (the prime psi-sum uses for `plainBits`).
 *
 * @example
 * ```ts
 * const t = await psiSumJobModulus(45);
 * ```
 */
export async function psiSumJobModulus(plainBits: number): Promise<bigint> {
  return (await HeContext.create(plainBits)).t;
}

/** What I decrypted in one bucket (`RunPsiSumResult.jobBucketResult`). */
export interface PsiSumBucketPart {
  count: number;
  masked: readonly bigint[];
  valid: boolean;
}

/**
 * I's job totals: the intersection size over all buckets and, per column, Σ_b masked (mod t),
 * centred — the job's total sum plus V's offset. `valid` is false when any bucket failed the noise
 * check.
 *
 * @example
 * ```ts
 * const totals = psiSumJobTotals(he.t, parts); // { count, sums, valid }
 * ```
 */
export function psiSumJobTotals(t: bigint, parts: readonly PsiSumBucketPart[]): { count: number; sums: bigint[]; valid: boolean } {
  if (parts.length === 0) throw new RangeError('parts must not be empty');
  const C = parts[0]!.masked.length;
  const acc = new Array<bigint>(C).fill(0n);
  let count = 0;
  let valid = true;
  for (const p of parts) {
    if (p.masked.length !== C) throw new RangeError('every part must have the same number of columns');
    count += p.count;
    valid &&= p.valid;
    p.masked.forEach((v, c) => (acc[c] = (acc[c]! + v) % t));
  }
  return { count, sums: acc.map((v) => centre(v, t)), valid };
}

function encodeTotals(m: { withheld: boolean; count?: bigint; sums?: readonly bigint[] }): Uint8Array {
  const w = new BinaryWriter(32).u8(JOB_TOTALS).u8((m.withheld ? FLAG_WITHHELD : 0) | (m.count !== undefined ? FLAG_RELEASED : 0));
  if (m.count !== undefined) {
    w.i64(m.count).u8(m.sums!.length);
    for (const s of m.sums!) w.i64(s);
  }
  return w.finish();
}

function decodeTotals(bytes: Uint8Array, columns: number): { withheld: boolean; count?: bigint; sums?: bigint[] } {
  const r = new BinaryReader(bytes);
  if (r.u8() !== JOB_TOTALS) throw new UnexpectedMessageError('unexpected message: expected the job totals');
  const flags = r.u8();
  if ((flags & ~(FLAG_WITHHELD | FLAG_RELEASED)) !== 0 || flags === (FLAG_WITHHELD | FLAG_RELEASED)) throw new MalformedMessageError('malformed message: job totals flags');
  if ((flags & FLAG_RELEASED) === 0) {
    r.expectEnd();
    return { withheld: (flags & FLAG_WITHHELD) !== 0 };
  }
  const count = r.i64();
  if (r.u8() !== columns) throw new MalformedMessageError('malformed message: job totals column count');
  const sums = Array.from({ length: columns }, () => r.i64());
  r.expectEnd();
  return { withheld: false, count, sums };
}

/** Options of {@link closePsiSumJob}: those of `closePsiJob` plus what each holder brings. */
export interface ClosePsiSumJobOptions extends Omit<ClosePsiJobOptions, 'release'> {
  holder: 'ids' | 'values';
  /** The job's value columns (V: its own; I: those every bucket announced). */
  columns: readonly ColumnSpec[];
  /** The job's plaintext modulus t. */
  plainModulus: bigint;
  /** V's distinct keys and I's (the declared job sizes), to bound a released count. */
  sizes: { values: number; ids: number };
  /** I: {@link psiSumJobTotals} of its buckets. */
  idTotals?: { count: number; sums: readonly bigint[]; valid: boolean };
  /** V: its offsets ({@link drawJobOffsets}). */
  offsets?: readonly bigint[];
}

/** What a psi-sum job released to this party. */
export interface PsiSumJobOutcome {
  receipt: UsageReceipt;
  withheld: boolean;
  /** I: the exact total intersection size; V: the released (maybe noisy) one, when a recipient. */
  intersectionSize?: number;
  sums?: Record<string, string>;
  means?: Record<string, string | null>;
  /** I only: the sums failed I's range check (only V can cause that): withheld from I's caller. */
  resultRejected?: boolean;
}

/**
 * Closes a psi-sum job: the one co-signed job receipt, and before it the release of the job's
 * totals. I applies the minimum cohort to the total count (withheld: nothing is released, both
 * receipts say `withheld`), checks each total sum against bound × count (when it receives the
 * sums), and sends V the count and sums when V is a recipient (each with I's DP noise under ε).
 *
 * @example
 * ```ts
 * const out = await closePsiSumJob({ role: 'requester', holder: 'ids', transport, identity, peerPublicKey, spec, jobTerms,
 *   totals: { distinctKeys: 1000, intersectionSize: 0 }, columns, plainModulus: he.t, sizes: { values: 900, ids: 1000 },
 *   idTotals: psiSumJobTotals(he.t, parts) });
 * ```
 */
export async function closePsiSumJob(options: ClosePsiSumJobOptions): Promise<PsiSumJobOutcome> {
  const { holder, columns, plainModulus: t } = options;
  if (holder === 'ids' && options.idTotals === undefined) throw new TypeError('idTotals is required for the ID holder');
  if (holder === 'values' && (options.offsets === undefined || options.offsets.length !== columns.length)) throw new TypeError('offsets (one per column) are required for the value holder');
  const state: Omit<PsiSumJobOutcome, 'receipt'> = { withheld: false };
  let released: { count: bigint; sums?: readonly bigint[] } | undefined;
  const release = async (channel: Parameters<NonNullable<ClosePsiJobOptions['release']>>[0], terms: Parameters<NonNullable<ClosePsiJobOptions['release']>>[1], signal?: AbortSignal): Promise<JobRelease> => {
    const spec = jobSpecOf(terms);
    if (typeof spec === 'string' || spec.sum === undefined) throw new VerificationFailedError('not a psi-sum job');
    const { minCohort: k, dpEpsilon } = spec.sum;
    const valuesRole = spec.sum.values;
    const idRole = valuesRole === 'requester' ? 'responder' : 'requester';
    const toId = terms.recipients.includes(idRole);
    const toV = terms.recipients.includes(valuesRole);
    const eps = dpEpsilon === undefined ? undefined : epsilonEach(dpEpsilon, columns.length);
    const guardrails: GuardrailDecision[] = [];
    const facts = { [VALUE_SCALES_OPTION]: encodeValueScales(columns) };
    let withheld: boolean;
    let outputSize = 0;
    const maxCount = Math.min(options.sizes.values, options.sizes.ids);
    if (holder === 'ids') {
      const tot = options.idTotals!;
      withheld = k > 0 && tot.count < k;
      state.intersectionSize = tot.count;
      if (withheld) {
        await channel.send(encodeTotals({ withheld: true }), signal);
      } else {
        // The range check runs on the job's total (a bucket's masked value cannot be checked).
        let valid = tot.valid;
        if (toId) {
          columns.forEach((col, c) => {
            const headroom = eps === undefined ? 0n : discreteLaplaceBound(eps, col.bound);
            const limit = col.bound * BigInt(tot.count) + headroom;
            if (tot.sums[c]! > limit || tot.sums[c]! < -limit) valid = false;
          });
        }
        if (toV) {
          // V learns the sums anyway: refusing openly tells it no more than they would.
          if (!valid) throw new VerificationFailedError("the value holder's result failed the range check: sums withheld");
          const noise = (bound: bigint) => (eps === undefined ? 0n : sampleBoundedDiscreteLaplace(eps, bound).noise);
          const count = BigInt(tot.count) + noise(1n);
          released = { count, sums: tot.sums.map((s, c) => s + noise(columns[c]!.bound)) };
          await channel.send(encodeTotals({ withheld: false, ...released }), signal);
          if (toId) outputSize = Math.max(0, Math.min(Number(count), maxCount));
        } else {
          await channel.send(encodeTotals({ withheld: false }), signal);
        }
        if (toId) {
          if (valid) Object.assign(state, formatSums(columns, tot.sums, BigInt(tot.count)));
          else state.resultRejected = true;
        }
      }
    } else {
      const m = decodeTotals(await channel.receive(signal), columns.length);
      withheld = m.withheld;
      if (!withheld && (m.count !== undefined) !== toV) throw new UnexpectedMessageError('unexpected message: released totals do not match the terms');
      if (m.count !== undefined) {
        const slack = eps === undefined ? 0n : discreteLaplaceBound(eps, 1n);
        if (m.count < -slack || m.count > BigInt(maxCount) + slack) throw new MalformedMessageError('malformed message: implausible count');
        // When I is not a recipient the shares added up to V's uniform offset: V removes it.
        const sums = m.sums!.map((v, c) => (toId ? v : centre(modT(v - options.offsets![c]!, t), t)));
        state.intersectionSize = Number(m.count);
        Object.assign(state, formatSums(columns, sums, m.count));
        outputSize = Math.max(0, Math.min(Number(m.count), maxCount));
      }
    }
    state.withheld = withheld;
    if (k > 0) guardrails.push({ rule: 'min-cohort', outcome: withheld ? 'withheld' : 'passed', detail: `k=${k}` });
    if (dpEpsilon !== undefined && !withheld) guardrails.push({ rule: 'dp-noise', outcome: 'applied', detail: `epsilon=${terms.options['dp-epsilon']}` });
    return { outcome: withheld ? 'withheld' : 'completed', outputSize: withheld ? 0 : outputSize, guardrails, options: facts };
  };
  const receipt = await closePsiJob({ ...options, release });
  return { receipt, ...state };
}
