/**
 * `runPsiSum`: the SDK's one call for count, exact sums and means over a private intersection,
 * inside an authenticated session (identity pinning, signed terms, `ekm` binding, co-signed
 * receipt), like `runPsi` does for plain PSI.
 *
 * It lives in the session layer because it drives a session; the sans-I/O protocol it runs is
 * `src/protocols/psi-sum/protocol.ts` (DESIGN.md §2: session → protocols, never the reverse).
 * @module
 */
import { AbortError, GuardrailRefusedError, TermsRefusedError, VerificationFailedError } from '../errors.js';
import { divideToDecimal, formatFixedPoint } from '../he/fixed-point.js';
import type { GuardrailDecision, UsageReceipt } from '../ledger/receipt-types.js';
import type { SessionTerms } from './messages.js';
import { checkKeySchema, KEY_SCHEMA_OPTIONS, keySchemaOf, keySchemaTermsOptions, type KeySchema, type KeySchemaSpec } from './key-schema.js';
import { runKeySketch, sketchOf, sourceOf, type SessionRunOptions } from './run-options.js';
import { compareValueScales, encodeValueScales, VALUE_SCALES_OPTION, valueScalesOf, type ValueScale } from './value-scales.js';
import { checkSecurityModel, SECURITY_MODEL_OPTION, withSecurityModel } from './security-model.js';
import { endFailedRun, establishSession, sessionBaseOptions, type AbortedRunContribution, type Session, type SessionPolicy } from './session.js';
import { createInlineExecutor, type CryptoExecutor } from '../protocols/executor.js';
import { parseEpsilon } from '../protocols/guardrails.js';
import { dedupeRecords, normalizeKey } from '../protocols/psi/normalize.js';
import { DEFAULT_MAX_PEER_SET_SIZE } from '../protocols/psi/party.js';
import type { ColumnSpec } from '../protocols/psi-sum/codec.js';
import type { PsiSumHeOffload } from '../protocols/psi-sum/he-parallel.js';
import { runPsiSumIdHolder, runPsiSumValueHolder, type PsiSumJobShare, type PsiSumPartyOutcome, type PsiSumProgress, type PsiSumProtocolOptions } from '../protocols/psi-sum/protocol.js';
import { jobBindingOptions, type JobBucketBinding } from './run-psi.js';
import { aggregateValueRows, type ValueColumnRequest } from '../protocols/psi-sum/values.js';

/** The protocol name of psi-sum in terms and receipts. */
export const PSI_SUM_PROTOCOL_NAME = 'psi-sum';

/** What the requester asks for (the job's terms). */
export interface PsiSumTerms {
  /** Who receives count, sums and means: both parties (default) or the requester only. */
  reveal?: 'both' | 'requester';
  /** Below this intersection size the sums are withheld (default 0: never). */
  minCohort?: number;
  /** Total ε (decimal such as "0.5", ≤ 6 places, ≤ 100) of discrete-Laplace noise on the released count and sums (default: none, exact). */
  dpEpsilon?: string;
  /** Purpose / authorisation reference, recorded in both receipts. */
  purpose?: string;
  /** Bounds on the responder's distinct keys (default 0 … 2^23). */
  peerSetSize?: { min?: number; max?: number };
  /**
   * ID holder only: the value columns and decimal places it expects (`{ cost_yuan: 2 }`), stated in
   * the terms (`value-scales`); a value holder whose columns differ refuses before any point.
   * A value holder always states its own columns' scales.
   */
  expectValues?: Record<string, number>;
}

/** What a responder allows (besides the session layer's own policy fields). */
export interface PsiSumPolicy {
  /** `both`, `requester`, or `either` (default). */
  reveal?: 'both' | 'requester' | 'either';
  /** The smallest minimum cohort accepted (default 0). */
  minCohort?: number;
  /** If set, the terms must carry DP noise with ε at most this (decimal string). */
  maxDpEpsilon?: string;
  /** Refuse requests with an empty purpose. */
  requirePurpose?: boolean;
  /** Largest requester set size accepted (default 2^23, as for PSI). */
  maxPeerSetSize?: number;
  /** ID holder only: the value columns and decimal places it expects; other scales are refused (value-scales.ts). */
  expectValues?: Record<string, number>;
  /** Further check of the signed terms once the peer is authenticated: a refusal reason, or `undefined` to go on. */
  check?: (terms: SessionTerms, peerPublicKey: Uint8Array) => string | undefined;
}

/** The value holder's columns: one request per column and, per row, the cells in that order. */
export interface PsiSumValues {
  columns: readonly ValueColumnRequest[];
  /** rows[r][c]: row r's value of column c, a decimal string. Same length as `records`. */
  rows: readonly (readonly string[])[];
}

/** Options of {@link runPsiSum}. */
export interface RunPsiSumOptions extends SessionRunOptions {
  /** `requester` (proposes the terms; usually the connecting side) or `responder`. */
  role: 'requester' | 'responder';
  /** Key of each row: a string or the fields of a multi-column key (normalised like `runPsi`). */
  records: readonly (readonly string[])[] | readonly string[];
  /** The key schema, in the signed terms and checked by the responder as for `runPsi` (key-schema.ts). */
  keySchema?: KeySchemaSpec;
  /** Given only by the value holder. */
  values?: PsiSumValues;
  /** Requester: the job's terms. */
  terms?: PsiSumTerms;
  /** Responder: what it allows. */
  policy?: PsiSumPolicy;
  /**
   * Batch crypto (default: a fresh inline executor). A worker pool (`createWorkerPool`) runs the
   * curve work on its workers and, per `heOffload`, the HE work too.
   */
  executor?: CryptoExecutor;
  /**
   * Whether the HE steps (I's selection encryption, V's products) run on the pool's workers:
   * `auto` (default) when there are at least `PSI_SUM_HE_OFFLOAD_MIN_BLOCKS` ciphertext blocks,
   * `always`, or `never`. Ignored with an inline executor. Results are the same either way.
   */
  heOffload?: PsiSumHeOffload;
  /**
   * Most bytes of homomorphic working memory this party may use (default
   * `PSI_SUM_HE_MEMORY_BUDGET`, 512 MiB); a job whose declared sizes need more is refused before
   * anything is computed (value holder: `InputError`; ID holder: `LimitExceededError`).
   */
  heMemoryBudget?: number;
  /** Progress of the protocol's phases (see `PsiSumProgress`); a display hook, never fatal. */
  onProgress?: (progress: PsiSumProgress) => void;
  /**
   * A bucket session of a psi-sum job (docs/jobs.md): the requester puts the binding in the signed
   * terms, the responder refuses terms without exactly this binding. The terms carry the job's
   * reveal, minimum cohort and ε, but the bucket releases nothing: V masks its result with its
   * `jobShare`, I returns the masked values in `jobBucketResult`, and the job's guardrails apply
   * to its total when it closes. Requires `jobShare`.
   */
  jobBucket?: JobBucketBinding;
  /** With `jobBucket`: the job's plaintext size and (value holder) this bucket's mask share. */
  jobShare?: PsiSumJobShare;
}

/** Result of {@link runPsiSum}. */
export interface RunPsiSumResult {
  /** `ids` (identifiers only) or `values`. */
  holder: 'ids' | 'values';
  /** Intersection size as this party learned it (I: exact; V: the released, maybe noisy, count). */
  intersectionSize?: number;
  /** Column → exact decimal sum over the intersection (noisy if DP is on); when revealed to this party. */
  sums?: Record<string, string>;
  /** Column → sum / count, rounded half away from zero to max(2, decimals) places; null when count ≤ 0. */
  means?: Record<string, string | null>;
  /** The columns as the value holder announced them (name, decimals, bound in scaled units). */
  columns: ColumnSpec[];
  /** DP parameters in force, if any. */
  dp?: { epsilon: string; epsilonPerStatistic: string };
  stats: {
    inputRecords: number;
    distinctKeys: number;
    peerDistinctKeys: number;
    bytesSent: number;
    bytesReceived: number;
    ms: number;
    plainModulusBits: number;
  };
  receipt: UsageReceipt;
  sessionId: Uint8Array;
  /**
   * ID holder, in a job's bucket: the bucket's exact intersection size, per column the decrypted
   * masked value in [0, t) (the bucket's sum plus V's share: uniform on its own), and whether V's
   * ciphertext passed the noise check.
   */
  jobBucketResult?: { count: number; masked: bigint[]; valid: boolean };
}

/**
 * Column → decimal sum and mean (the released sum over the released count, rounded half away from
 * zero to max(2, decimals) places; `null` when the count is ≤ 0), as `runPsiSum` returns them.
 *
 * @example
 * ```ts
 * formatSums([{ name: 'cost', decimals: 2, bound: 10n ** 8n }], [120050n], 2n); // { sums: { cost: '1200.50' }, means: { cost: '600.25' } }
 * ```
 */
export function formatSums(columns: readonly ColumnSpec[], sums: readonly bigint[], count: bigint): { sums: Record<string, string>; means: Record<string, string | null> } {
  const out = { sums: {} as Record<string, string>, means: {} as Record<string, string | null> };
  columns.forEach((c, i) => {
    const s = sums[i]!;
    out.sums[c.name] = formatFixedPoint(s, c.decimals);
    const places = Math.max(2, c.decimals);
    out.means[c.name] = count > 0n ? divideToDecimal(s, count * 10n ** BigInt(c.decimals), places) : null;
  });
  return out;
}

function normalizeRecords(records: RunPsiSumOptions['records']): (Uint8Array | undefined)[] {
  if (!Array.isArray(records)) throw new TypeError('records must be an array');
  return records.map((r: string | readonly string[], i: number) => {
    if (typeof r === 'string') return normalizeKey([r]);
    if (Array.isArray(r)) return normalizeKey(r);
    throw new TypeError(`records[${i}] must be a string or an array of strings`);
  });
}

function toTerms(t: PsiSumTerms, setSize: number, mine: readonly ValueScale[] | undefined, schema: KeySchema, binding: Record<string, string>): SessionTerms {
  const iHoldValues = mine !== undefined;
  if (iHoldValues && t.expectValues !== undefined) throw new TypeError('terms.expectValues is for the ID holder: the value holder states its own columns');
  const scales = mine ?? (t.expectValues !== undefined ? valueScalesOf(t.expectValues, 'terms.expectValues') : undefined);
  const reveal = t.reveal ?? 'both';
  if (reveal !== 'both' && reveal !== 'requester') throw new TypeError("terms.reveal must be 'both' or 'requester'");
  const k = t.minCohort ?? 0;
  const min = t.peerSetSize?.min ?? 0;
  const max = t.peerSetSize?.max ?? DEFAULT_MAX_PEER_SET_SIZE;
  for (const [v, n] of [[k, 'terms.minCohort'], [min, 'terms.peerSetSize.min'], [max, 'terms.peerSetSize.max']] as const) {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`${n} must be a non-negative integer`);
  }
  if (t.dpEpsilon !== undefined) parseEpsilon(t.dpEpsilon); // RangeError / TypeError
  // The security model is part of the signed terms (security-model.ts).
  return withSecurityModel({
    protocol: PSI_SUM_PROTOCOL_NAME,
    options: { values: iHoldValues ? 'requester' : 'responder', 'dp-epsilon': t.dpEpsilon === undefined ? 'none' : String(t.dpEpsilon), ...keySchemaTermsOptions(schema),
      ...(scales !== undefined ? { [VALUE_SCALES_OPTION]: encodeValueScales(scales) } : {}),
      ...binding,
    },
    purpose: t.purpose ?? '',
    recipients: reveal === 'both' ? ['requester', 'responder'] : ['requester'],
    requesterSetSize: setSize,
    responderSetSize: { min, max },
    minIntersection: k,
  });
}

/** a > b for two ε decimal strings (exact: both are integers over 10^6). */
function greaterEpsilon(a: string, b: string): boolean {
  return parseEpsilon(a).num > parseEpsilon(b).num;
}

/** Parses the psi-sum options of signed terms, or a refusal reason. */
function parseTermsOptions(terms: SessionTerms, binding: Record<string, string>): { valuesRole: 'requester' | 'responder'; epsilon?: string } | string {
  if (terms.protocol !== PSI_SUM_PROTOCOL_NAME) return 'listener does not offer this protocol';
  const known = new Set(['values', 'dp-epsilon', VALUE_SCALES_OPTION, SECURITY_MODEL_OPTION, ...KEY_SCHEMA_OPTIONS, ...Object.keys(binding)]);
  if (Object.keys(terms.options).some((k) => !known.has(k))) return 'unsupported protocol option';
  // A bucket session: exactly this job, bucket and job terms (the job layer chose them).
  for (const [k, v] of Object.entries(binding)) if (terms.options[k] !== v) return `not a session of this job bucket (${k})`;
  const model = checkSecurityModel(terms);
  if (model !== undefined) return model;
  const valuesRole = terms.options['values'];
  if (valuesRole !== 'requester' && valuesRole !== 'responder') return 'unsupported protocol option';
  const e = terms.options['dp-epsilon'];
  if (e === 'none') return { valuesRole };
  if (e === undefined) return 'unsupported dp-epsilon';
  try {
    parseEpsilon(e);
  } catch {
    return 'unsupported dp-epsilon';
  }
  return { valuesRole, epsilon: e };
}

/**
 * Runs psi-sum with one peer over an authenticated session.
 *
 * The party that passes `values` is the value holder V (identifiers + numeric columns); the other
 * is the ID holder I, which holds the BFV key: I encrypts its selection, V multiplies it by its
 * values and masks the result, and only I decrypts — so I's selection stays private even against
 * a V that deviates from the protocol, V's values against an I that follows it (docs/psi-sum.md).
 * I learns the exact intersection size; below `minCohort` it withholds the sums
 * (`GuardrailRefusedError` on both sides after a `withheld` receipt). When the ID holder receives
 * the sums it checks each against the declared bound × count and otherwise withholds them from its
 * caller (`VerificationFailedError` after the receipt). With `dpEpsilon`, released counts and sums
 * carry discrete-Laplace noise and the receipt records ε.
 *
 * @example
 * ```ts
 * import { runPsiSum, createMemoryTransportPair, generateIdentity } from 'dataport';
 * const pharma = generateIdentity();
 * const hospital = generateIdentity();
 * const [a, b] = createMemoryTransportPair();
 * const [mine, theirs] = await Promise.all([
 *   runPsiSum({ role: 'requester', records: ['110101199003070011', '11010119900307002X'], transport: a,
 *               identity: pharma, peerPublicKey: hospital.publicKey, terms: { reveal: 'both' } }),
 *   runPsiSum({ role: 'responder', records: ['11010119900307002x', '440101198001010033'], transport: b,
 *               identity: hospital, peerPublicKey: pharma.publicKey,
 *               values: { columns: [{ name: 'cost_yuan' }], rows: [['1200.50'], ['80.00']] } }),
 * ]);
 * mine.intersectionSize; // 1
 * mine.sums;             // { cost_yuan: '1200.50' }
 * ```
 */
export async function runPsiSum(options: RunPsiSumOptions): Promise<RunPsiSumResult> {
  if (options === null || typeof options !== 'object') throw new TypeError('options must be an object');
  const t0 = Date.now();
  const { role, transport, identity, signal } = options;
  if (role !== 'requester' && role !== 'responder') throw new TypeError("role must be 'requester' or 'responder'");
  if (options.heOffload !== undefined && !['auto', 'always', 'never'].includes(options.heOffload)) {
    throw new TypeError("heOffload must be 'auto', 'always' or 'never'");
  }
  if (signal?.aborted) throw new AbortError();
  if (!Array.isArray(options.records)) throw new TypeError('records must be an array');
  const schema = keySchemaOf(options.records, options.keySchema);
  const rows = normalizeRecords(options.records);
  const holder: 'ids' | 'values' = options.values !== undefined ? 'values' : 'ids';
  const binding = options.jobBucket !== undefined ? jobBindingOptions(options.jobBucket) : {};
  const inJob = options.jobBucket !== undefined;
  if (inJob !== (options.jobShare !== undefined)) throw new TypeError('jobBucket and jobShare go together');
  // Values are read and checked (decimals, bounds) before any connection is used.
  const valueInput =
    options.values !== undefined ? aggregateValueRows(rows, options.values.rows, options.values.columns) : undefined;
  const keys = valueInput ? valueInput.keys : dedupeRecords(rows).keys;
  const distinct = keys.length;
  const sketch = runKeySketch(options, keys);
  const sent0 = transport.stats.bytesSent;
  const received0 = transport.stats.bytesReceived;

  const pol = options.policy ?? {};
  if (holder === 'values' && pol.expectValues !== undefined) throw new TypeError('policy.expectValues is for the ID holder');
  const expected = pol.expectValues !== undefined ? valueScalesOf(pol.expectValues, 'policy.expectValues') : undefined;
  const myScales = valueInput?.columns.map((c) => ({ name: c.name, decimals: c.decimals }));
  const sessionPolicy: SessionPolicy = {
    protocols: [PSI_SUM_PROTOCOL_NAME],
    reveal: pol.reveal ?? 'either',
    minIntersection: pol.minCohort ?? 0,
    // The requester's declared size sizes this side's buffers: bounded before anything runs.
    maxSetSize: pol.maxPeerSetSize ?? DEFAULT_MAX_PEER_SET_SIZE,
    ...(pol.requirePurpose ? { requirePurpose: true } : {}),
    check: (t, peer) => {
      const o = parseTermsOptions(t, binding);
      if (typeof o === 'string') return o;
      const peerHasValues = o.valuesRole === 'requester';
      if (peerHasValues && holder === 'values') return 'both parties hold values: exactly one side gives value columns';
      if (!peerHasValues && holder === 'ids') return 'neither party holds values: the value holder must give value columns';
      // Before any point is sent: keys built differently would silently intersect to nothing.
      const mismatch = checkKeySchema(t, schema);
      if (mismatch !== undefined) return mismatch;
      const stated = t.options[VALUE_SCALES_OPTION];
      if (holder === 'values' && stated !== undefined) return compareValueScales(stated, myScales!, 'requester expects', 'responder has');
      if (expected !== undefined) {
        if (stated === undefined) return 'the terms state no value column scales (option value-scales), and this responder expects some';
        return compareValueScales(stated, expected, 'requester has', 'responder expects');
      }
      if (pol.maxDpEpsilon !== undefined && (o.epsilon === undefined || greaterEpsilon(o.epsilon, pol.maxDpEpsilon))) {
        return `listener requires differential-privacy noise with epsilon at most ${pol.maxDpEpsilon}`;
      }
      return pol.check?.(t, peer);
    },
  };
  const common = sessionBaseOptions(options);
  const session: Session =
    role === 'requester'
      ? await establishSession({ ...common, role, terms: toTerms(options.terms ?? {}, distinct, myScales, schema, binding) })
      : await establishSession({ ...common, role, policy: sessionPolicy, localSetSize: distinct });

  let afterReceipt: Error | undefined;
  // What this party knows of the run so far, for a one-sided receipt if it ends without a co-signed one.
  const soFar: AbortedRunContribution = { inputSize: distinct, outputSize: 0, computeMs: 0, ...sourceOf(options), ...sketchOf(sketch) };
  let tc: number | undefined;
  try {
    if (!session.accepted) {
      const receipt = await session.exchangeReceipt({ outcome: 'refused', inputSize: 0, outputSize: 0, computeMs: 0, ...sourceOf(options) });
      await options.onReceipt?.(receipt);
      afterReceipt = new TermsRefusedError(session.refusalReason ?? 'terms refused');
      throw afterReceipt;
    }
    await sketch?.store(session.sessionId, role);
    const parsed = parseTermsOptions(session.terms, binding);
    if (typeof parsed === 'string') throw new TermsRefusedError(parsed);
    const valuesRole = parsed.valuesRole;
    if ((valuesRole === role) !== (holder === 'values')) {
      throw new TermsRefusedError(holder === 'values' ? 'both parties hold values' : 'neither party holds values');
    }
    const recipients = session.terms.recipients;
    const idRole = valuesRole === 'requester' ? 'responder' : 'requester';
    // A job's bucket releases nothing: the terms' guardrails apply to the job's total at its close.
    const protocolOptions: PsiSumProtocolOptions = {
      minCohort: inJob ? 0 : session.terms.minIntersection,
      revealToIdHolder: !inJob && recipients.includes(idRole),
      revealToValueHolder: !inJob && recipients.includes(valuesRole),
      ...(parsed.epsilon !== undefined && !inJob ? { epsilon: parsed.epsilon } : {}),
      ...(options.batchSize !== undefined ? { batchSize: options.batchSize } : {}),
    };
    const peerDeclared = role === 'requester' ? session.responderSetSize : session.terms.requesterSetSize;
    const executor = options.executor ?? (await createInlineExecutor());
    tc = Date.now();
    let out: PsiSumPartyOutcome;
    try {
      const base = {
        transport: session.channel,
        ekm: session.ekm,
        executor,
        options: protocolOptions,
        peerSetSize: peerDeclared,
        ...(signal ? { signal } : {}),
        ...(options.heOffload !== undefined ? { heOffload: options.heOffload } : {}),
        ...(options.heMemoryBudget !== undefined ? { heMemoryBudget: options.heMemoryBudget } : {}),
        ...(options.onProgress ? { onProgress: options.onProgress } : {}),
        ...(options.jobShare !== undefined ? { jobShare: options.jobShare } : {}),
      };
      out = valueInput ? await runPsiSumValueHolder({ ...base, input: valueInput }) : await runPsiSumIdHolder({ ...base, keys });
    } finally {
      if (!options.executor) await executor.close();
    }
    const computeMs = Date.now() - tc;
    // The scales the value holder announced in the protocol: those the terms state, if they do
    // (only the ID holder can be misled: a value holder's own were compared before the run).
    const announced = encodeValueScales(out.columns);
    const statedScales = session.terms.options[VALUE_SCALES_OPTION];
    if (statedScales !== undefined && statedScales !== announced) {
      throw new VerificationFailedError('the value holder announced value column scales other than the signed terms state');
    }

    const k = session.terms.minIntersection;
    const guardrails: GuardrailDecision[] = [];
    // Both parties record the same decisions (I takes the min-cohort one, V observes it); the
    // receipt merges identical entries. The DP detail is the signed terms' epsilon, verbatim.
    if (k > 0 && !inJob) guardrails.push({ rule: 'min-cohort', outcome: out.withheld ? 'withheld' : 'passed', detail: `k=${k}` });
    if (parsed.epsilon !== undefined && !out.withheld && !inJob) {
      guardrails.push({ rule: 'dp-noise', outcome: 'applied', detail: `epsilon=${session.terms.options['dp-epsilon']}` });
    }
    const amRecipient = recipients.includes(role);
    // The receipt's output size is the count as released (the noisy one under DP, identical in
    // both views), never I's exact count when that differs.
    // When V is not a recipient, the co-signed receipt (which V keeps) must not tell it the count
    // the terms withhold from it: I then records 0 (docs/psi-sum.md, "Receipts").
    const countHiddenFromPeer = holder === 'ids' && !recipients.includes(valuesRole);
    const released =
      !inJob && !out.withheld && amRecipient && !countHiddenFromPeer && out.count !== undefined ? Number(out.releasedCount ?? out.count) : 0;
    Object.assign(soFar, { outputSize: Math.max(0, Math.min(released, distinct, peerDeclared)), computeMs, guardrails });
    const receipt = await session.exchangeReceipt({
      outcome: out.withheld ? 'withheld' : 'completed',
      ...soFar,
      expectedPeerInputSize: peerDeclared,
      ...sourceOf(options),
      // Not in the terms: the scales both parties saw announced become a signed fact of the run.
      ...(statedScales === undefined ? { options: { [VALUE_SCALES_OPTION]: announced } } : {}),
    });
    await options.onReceipt?.(receipt);
    if (receipt.body.outcome === 'withheld') {
      afterReceipt = new GuardrailRefusedError(`intersection below the minimum cohort of ${k}: result withheld`);
      throw afterReceipt;
    }
    if (out.resultRejected && !inJob) {
      // The ID holder's range check failed on the value holder's result (only V can cause that).
      // The run and its receipt were exactly those of a passing run — when V is not a recipient,
      // nothing I sends may depend on this check — so the sums are withheld here, locally.
      afterReceipt = new VerificationFailedError(
        "the value holder's result failed the ID holder's range check (a column sum beyond its declared bound × count): sums withheld",
      );
      throw afterReceipt;
    }
    await session.close();

    const result: RunPsiSumResult = {
      holder,
      columns: out.columns,
      ...(parsed.epsilon !== undefined ? { dp: { epsilon: parsed.epsilon, epsilonPerStatistic: out.epsilonEach! } } : {}),
      stats: {
        inputRecords: rows.length,
        distinctKeys: distinct,
        peerDistinctKeys: peerDeclared,
        bytesSent: transport.stats.bytesSent - sent0,
        bytesReceived: transport.stats.bytesReceived - received0,
        ms: Date.now() - t0,
        plainModulusBits: out.plainBits,
      },
      receipt,
      sessionId: session.sessionId,
    };
    if (out.count !== undefined && (holder === 'ids' || amRecipient)) result.intersectionSize = Number(out.count);
    if (inJob && out.masked !== undefined) result.jobBucketResult = { count: Number(out.count ?? 0n), masked: out.masked, valid: out.resultRejected !== true };
    if (out.sums !== undefined) Object.assign(result, formatSums(out.columns, out.sums, out.count ?? 0n));
    return result;
  } catch (e) {
    await endFailedRun(session, e, afterReceipt, soFar, tc, options.onReceipt);
    throw e;
  }
}
