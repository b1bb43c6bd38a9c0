/**
 * `runPsi`: the SDK's one-call private set intersection between two organisations. It normalises
 * and de-duplicates the caller's keys, runs the authenticated session handshake (terms, pinning),
 * runs ECDH-PSI bound to the session (`ekm` = the session binding value), enforces the
 * minimum-intersection guardrail, and exchanges the co-signed usage receipt.
 * @module
 */
import { AbortError, GuardrailRefusedError, TermsRefusedError, VerificationFailedError } from '../errors.js';
import type { UsageReceipt } from '../ledger/receipt-types.js';
import { createInlineExecutor, type CryptoExecutor } from '../protocols/executor.js';
import { runPsiProtocol } from '../protocols/psi/driver.js';
import { dedupeRecordsAsync, normalizeKeysAsync, type DedupedRecords } from '../protocols/psi/normalize.js';
import { DEFAULT_MAX_PEER_SET_SIZE, type PsiProgress, type PsiProtocolOptions } from '../protocols/psi/party.js';
import { checkPsiSuite, type PsiSuiteName } from '../protocols/psi/suite.js';
import { encodePayloadPlaintexts } from '../protocols/psi/payload.js';
import { buildPayloadRows, worstCasePayloadRows } from './payload-release.js';
import { fingerprintSecretFromIdentity, type ReleaseRecord } from '../protocols/fingerprint/index.js';
import { checkPayloadTerms, PAYLOAD_OPTIONS, PAYLOAD_TERMS_OPTIONS, payloadShapeOf, payloadTermsOptions, statedPayload, type PayloadShape } from './payload-terms.js';
import { sanitizeText, type SessionTerms } from './messages.js';
import { checkKeySchema, KEY_SCHEMA_OPTIONS, keySchemaOf, keySchemaTermsOptions, type KeySchema, type KeySchemaSpec } from './key-schema.js';
import { runKeySketch, sketchOf, sourceOf, type SessionRunOptions } from './run-options.js';
import { checkSecurityModel, SECURITY_MODEL_OPTION, withSecurityModel } from './security-model.js';
import { endFailedRun, establishSession, sessionBaseOptions, type AbortedRunContribution, type Session, type SessionPolicy } from './session.js';

/**
 * The protocol name of ECDH-PSI in terms and receipts.
 *
 * @example
 * ```ts
 * if (receipt.body.protocol === PSI_PROTOCOL_NAME) count++;
 * ```
 */
export const PSI_PROTOCOL_NAME = 'ecdh-psi';

/**
 * Terms option naming the PSI group (`curve25519` or `sm2-sm3`). Signed with the terms, so it is in
 * both parties' receipts and ledgers; terms without it (from builds before the option) mean
 * `curve25519`, the only suite those builds ran.
 *
 * @example
 * ```ts
 * receipt.body.options[PSI_SUITE_OPTION]; // 'sm2-sm3'
 * ```
 */
export const PSI_SUITE_OPTION = 'suite';

/**
 * The terms options that bind a bucket session to its job (docs/jobs.md): the job id, the bucket
 * number and the job terms hash (hex SHA-256 of the job session's transcript).
 *
 * @example
 * ```ts
 * terms.options[JOB_BUCKET_OPTIONS.bucket]; // '7'
 * ```
 */
export const JOB_BUCKET_OPTIONS = { jobId: 'job-id', bucket: 'job-bucket', jobTerms: 'job-terms' } as const;

/**
 * What binds one bucket session to its job: both parties put (requester) or require (responder)
 * exactly these values in the signed terms.
 *
 * @example
 * ```ts
 * const binding: JobBucketBinding = { jobId: 'city-2026-12', bucket: 7, jobTerms: '9f…' };
 * ```
 */
export interface JobBucketBinding {
  jobId: string;
  bucket: number;
  jobTerms: string;
}

/**
 * The terms options of a job binding (checked: `TypeError` / `RangeError` naming `jobBucket`).
 *
 * @example
 * ```ts
 * jobBindingOptions({ jobId: 'j1', bucket: 7, jobTerms: '9f…' })['job-bucket']; // '7'
 * ```
 */
export function jobBindingOptions(b: JobBucketBinding): Record<string, string> {
  if (b === null || typeof b !== 'object') throw new TypeError('jobBucket must be an object');
  if (typeof b.jobId !== 'string' || b.jobId === '' || b.jobId.length > 128) throw new RangeError('jobBucket.jobId must be 1 to 128 characters');
  if (!Number.isSafeInteger(b.bucket) || b.bucket < 0) throw new RangeError('jobBucket.bucket must be a non-negative integer');
  if (typeof b.jobTerms !== 'string' || !/^[0-9a-f]{64}$/.test(b.jobTerms)) throw new RangeError('jobBucket.jobTerms must be 64 hex digits');
  return { [JOB_BUCKET_OPTIONS.jobId]: b.jobId, [JOB_BUCKET_OPTIONS.bucket]: String(b.bucket), [JOB_BUCKET_OPTIONS.jobTerms]: b.jobTerms };
}

/** Largest set size the protocol's 32-bit counters allow. */
const MAX_SET_SIZE = 2 ** 32 - 1;

/**
 * What the requester asks for (the job's terms).
 *
 * @example
 * ```ts
 * const terms: PsiTerms = { reveal: 'requester', countOnly: true, purpose: 'programme audit', minIntersection: 10 };
 * ```
 */
export interface PsiTerms {
  /** Who receives the result: the requester only (default) or both parties. */
  reveal?: 'requester' | 'both';
  /** Output only the intersection size, never which rows matched (default false). */
  countOnly?: boolean;
  /** HKDF truncation of round-2 values (draft-01 §3): `'none'`, 128 (default) or 192 bits. */
  truncation?: 'none' | 128 | 192;
  /** Purpose / authorisation reference, recorded in both ledgers (default empty). */
  purpose?: string;
  /** Below this intersection size the result is withheld (default 0: never). */
  minIntersection?: number;
  /** Bounds on the responder's distinct keys (default 0 … 2^23). */
  peerSetSize?: { min?: number; max?: number };
}

const PREPARED: unique symbol = Symbol('dataport.preparedPsiRecords');

/**
 * Keys normalised and de-duplicated once by {@link preparePsiRecords}, ready for {@link runPsi}.
 * Read-only: one preparation serves any number of sessions (a listener that keeps serving).
 */
export interface PreparedPsiRecords {
  /** Rows given (including rows whose key is empty). */
  readonly inputRecords: number;
  /** Distinct normalised keys. */
  readonly distinctKeys: number;
  /** @internal */
  readonly [PREPARED]: { schema: KeySchema; rows: (Uint8Array | undefined)[]; deduped: DedupedRecords };
}

/**
 * Normalises and de-duplicates `records` for {@link runPsi} ahead of the session. Large inputs take
 * seconds (2^20 keys: a few, far more on a loaded machine): prepare them before connecting or
 * listening, so that the time is not spent inside the peer's handshake deadline.
 *
 * @example
 * ```ts
 * const prepared = await preparePsiRecords(['110101199003070011', '11010119900307002X'], { keySchema: { columns: ['id'] } });
 * prepared.distinctKeys; // 2
 * // … connect, then: runPsi({ role: 'requester', records: prepared, transport, … })
 * ```
 */
export async function preparePsiRecords(
  records: readonly (readonly string[])[] | readonly string[],
  options: { keySchema?: KeySchemaSpec; signal?: AbortSignal } = {},
): Promise<PreparedPsiRecords> {
  if (!Array.isArray(records)) throw new TypeError('records must be an array');
  const schema = keySchemaOf(records, options.keySchema);
  const rows = await normalizeKeysAsync(records, options.signal);
  const deduped = await dedupeRecordsAsync(rows, options.signal);
  return { inputRecords: rows.length, distinctKeys: deduped.keys.length, [PREPARED]: { schema, rows, deduped } };
}

function isPrepared(records: unknown): records is PreparedPsiRecords {
  return typeof records === 'object' && records !== null && PREPARED in records;
}

/**
 * PSI with payload (docs/psi-protocol.md §8): the responder delivers agreed columns of its matched
 * records to the requester, sealed so that only matched records' payloads can be opened.
 *
 * @example
 * ```ts
 * // responder (the hospital): what it delivers, one row of values per record
 * const offer: PsiPayloadSpec = { columns: ['ward', 'cost'], rows: [['3', '1200.50'], ['1', '80']] };
 * // requester (the pharma company): what it accepts
 * const accept: PsiPayloadSpec = { columns: ['ward', 'cost'] };
 * ```
 */
export interface PsiPayloadSpec {
  /** Responder: the columns it delivers; requester: the columns it accepts (same names, same order). */
  columns: readonly string[];
  /** Responder: the values of `columns` per record (same order and length as `records`). */
  rows?: readonly (readonly string[])[];
  /**
   * Bytes every key's payload is padded to (default 256; both parties must state the same): the
   * encoded rows of one key (2 bytes, then 2 bytes + UTF-8 per value) must fit, else the
   * responder refuses with `LimitExceededError` naming the record, before the session starts.
   */
  maxBytes?: number;
  /**
   * Columns fingerprinted for the recipient and how far their values may move (`{ cost: '0.01',
   * visit_date: '1d' }`; docs/trace.md). In the signed terms: both parties must state the same (the
   * requester accepts the marking by stating it). Responder: the marked release's longest form must
   * fit `maxBytes` (checked before the session), and `onRelease` gets the release to record.
   * Columns without a tolerance are delivered unmarked.
   */
  tolerance?: Readonly<Record<string, string>>;
  /**
   * Responder with a `tolerance`: called with the release (its ledger record and the number of
   * marked cells) once the recipient is authenticated, before any payload is sent; a throw aborts
   * the run. Record it (`releaseReceiptBody`): without the entry the release cannot be traced.
   */
  onRelease?: (release: { record: ReleaseRecord; marked: number; sessionId: Uint8Array; purpose: string }) => void | Promise<void>;
}

/** Options of {@link runPsi}. */
export interface RunPsiSessionOptions extends SessionRunOptions {
  /** `requester` (proposes terms; usually the connecting side) or `responder` (the listener). */
  role: 'requester' | 'responder';
  /**
   * The caller's key per row: a string (one key column) or the key fields of a multi-column key.
   * Fields are normalised (NFKC, trim, lower-case); rows whose fields are all empty are skipped.
   */
  records: readonly (readonly string[])[] | readonly string[] | PreparedPsiRecords;
  /**
   * The key schema (key-schema.ts): the key column names (for messages; their number must equal
   * the records' width) and the normalisation profile. The number of key columns and the profile
   * are in the signed terms; a responder refuses a requester whose schema differs, naming both.
   */
  keySchema?: KeySchemaSpec;
  /** Requester: the job's terms. */
  terms?: PsiTerms;
  /**
   * The group (default `'curve25519'`; `'sm2-sm3'`: SM2 with the SM3 map, for deployments that must
   * use the national curves end to end). Both parties set it: the requester states it in the
   * signed terms, and a responder of another suite refuses before any point is sent, the reason
   * naming both (`TermsRefusedError` on both sides).
   */
  suite?: PsiSuiteName;
  /**
   * Responder: what it allows (defaults: any reveal, count-only allowed, any truncation, requester
   * sets of at most 2^23 distinct keys).
   */
  policy?: SessionPolicy;
  /** Batch crypto (default: a fresh inline executor). */
  executor?: CryptoExecutor;
  /** Progress of the protocol (points per phase). */
  onProgress?: (progress: PsiProgress) => void;
  /**
   * A bucket session of a job (docs/jobs.md): the requester puts the binding in the signed terms;
   * the responder refuses terms that do not carry exactly this binding. Without it, terms that
   * carry a job binding are refused ('unsupported protocol option').
   */
  jobBucket?: JobBucketBinding;
  /**
   * PSI with payload ({@link PsiPayloadSpec}). Requester: the columns it accepts (stated in the
   * signed terms with the size and itself as recipient; needs a purpose and not `countOnly`). Responder: the columns and rows it delivers; it refuses terms that do
   * not accept exactly these (and terms with a payload when it offers none), naming both sides.
   */
  payload?: PsiPayloadSpec;
}

/** Result of {@link runPsi}. */
export interface RunPsiResult {
  /** What this party learned: which rows matched, only how many, or nothing. */
  learned: 'intersection' | 'cardinality' | 'nothing';
  /** Indexes of the caller's rows whose key matched, ascending, duplicates included. */
  intersectionRows?: number[];
  /** Distinct keys in the intersection (absent when this party learns nothing). */
  intersectionSize?: number;
  /** Rows given. */
  inputRecords: number;
  /** Distinct non-empty keys among them (what the peer learns as this party's set size). */
  distinctKeys: number;
  /** The peer's distinct keys. */
  peerDistinctKeys: number;
  /** Bytes sent and received over the transport for the whole session. */
  bytesSent: number;
  bytesReceived: number;
  /** Wall-clock time of the whole run, ms. */
  ms: number;
  /** The receipt both parties signed. */
  receipt: UsageReceipt;
  /** The session id (16 bytes). */
  sessionId: Uint8Array;
  /** The group the run used (as the signed terms name it). */
  suite: PsiSuiteName;
  /** Requester with payload: the payload column names. */
  payloadColumns?: string[];
  /**
   * Requester with payload: for each of `intersectionRows` (same order), the responder's rows of
   * payload values for that key (several when the responder has several rows with the key).
   */
  payloads?: string[][][];
  /** Requester with payload: the responder rows whose payload was delivered. */
  payloadRecords?: number;
}

function toTerms(t: PsiTerms, setSize: number, schema: KeySchema, suite: PsiSuiteName, binding: Record<string, string>, payload: Record<string, string>): SessionTerms {
  const reveal = t.reveal ?? 'requester';
  if (reveal !== 'requester' && reveal !== 'both') throw new TypeError("terms.reveal must be 'requester' or 'both'");
  const truncation = t.truncation ?? 128;
  if (truncation !== 'none' && truncation !== 128 && truncation !== 192) throw new RangeError("terms.truncation must be 'none', 128 or 192");
  const min = t.peerSetSize?.min ?? 0;
  const max = t.peerSetSize?.max ?? DEFAULT_MAX_PEER_SET_SIZE;
  const k = t.minIntersection ?? 0;
  for (const [v, n] of [[min, 'terms.peerSetSize.min'], [max, 'terms.peerSetSize.max'], [k, 'terms.minIntersection']] as const) {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`${n} must be a non-negative integer`);
  }
  if (max > MAX_SET_SIZE) throw new RangeError(`terms.peerSetSize.max must be at most ${MAX_SET_SIZE}`);
  if (min > max) throw new RangeError('terms.peerSetSize.min must be <= max');
  // The security model (count-only: semi-honest only) is part of the signed terms (security-model.ts).
  return withSecurityModel({
    protocol: PSI_PROTOCOL_NAME,
    options: { 'count-only': t.countOnly ? 'true' : 'false', truncate: String(truncation), [PSI_SUITE_OPTION]: suite, ...keySchemaTermsOptions(schema), ...binding, ...payload },
    purpose: t.purpose ?? '',
    recipients: reveal === 'both' ? ['requester', 'responder'] : ['requester'],
    requesterSetSize: setSize,
    responderSetSize: { min, max },
    minIntersection: k,
  });
}

/** The protocol options the signed terms imply, or a refusal reason for values this build does not run. */
function protocolOptions(terms: SessionTerms, binding: Record<string, string>): PsiProtocolOptions | string {
  if (terms.protocol !== PSI_PROTOCOL_NAME) return 'listener does not offer this protocol';
  const co = terms.options['count-only'];
  const tr = terms.options['truncate'];
  const known = new Set(['count-only', 'truncate', PSI_SUITE_OPTION, SECURITY_MODEL_OPTION, ...KEY_SCHEMA_OPTIONS, ...PAYLOAD_TERMS_OPTIONS, ...Object.keys(binding)]);
  if (Object.keys(terms.options).some((k) => !known.has(k))) return 'unsupported protocol option';
  // A bucket session: exactly this job, bucket and job terms (the job layer chose them).
  for (const [k, v] of Object.entries(binding)) if (terms.options[k] !== v) return `not a session of this job bucket (${k})`;
  if (co !== 'true' && co !== 'false') return 'unsupported protocol option';
  const model = checkSecurityModel(terms);
  if (model !== undefined) return model;
  const truncation = tr === 'none' ? 0 : tr === '128' ? 1 : tr === '192' ? 2 : undefined;
  if (truncation === undefined) return 'unsupported protocol option';
  const suite = termsSuite(terms);
  if (suite === undefined) return `unsupported PSI suite '${sanitizeText(terms.options[PSI_SUITE_OPTION]!, 64)}'`;
  if (terms.options[PAYLOAD_OPTIONS.columns] !== undefined && co === 'true') return 'a payload needs the matched records: not available with count-only';
  return {
    output: terms.recipients.includes('responder') ? 'both' : 'requester',
    cardinalityOnly: co === 'true',
    truncation,
    suite,
  };
}

/** The suite the signed terms name (absent: curve25519), or undefined for a name this build does not know. */
function termsSuite(terms: SessionTerms): PsiSuiteName | undefined {
  const v = terms.options[PSI_SUITE_OPTION] ?? 'curve25519';
  try {
    return checkPsiSuite(v);
  } catch {
    return undefined;
  }
}

/**
 * Runs a private set intersection with one peer over an authenticated session.
 *
 * Each side calls it with its own keys. The requester proposes `terms`; the responder checks them
 * against its `policy` and refuses what it does not allow (`TermsRefusedError` on both sides, with
 * the listener's reason). Both sides pin the other's Ed25519 key. On success both hold the same
 * receipt, signed by both, which `onReceipt` can append to the ledger. A run whose intersection is
 * below `minIntersection` ends with `GuardrailRefusedError` after a `withheld` receipt.
 *
 * @example
 * ```ts
 * import { runPsi, createMemoryTransportPair, generateIdentity } from 'dataport';
 * const pharma = generateIdentity();
 * const hospital = generateIdentity();
 * const [a, b] = createMemoryTransportPair();
 * const [mine] = await Promise.all([
 *   runPsi({ role: 'requester', records: ['110101199003070011', '11010119900307002X'], transport: a,
 *            identity: pharma, peerPublicKey: hospital.publicKey,
 *            terms: { reveal: 'requester', purpose: 'drug programme audit 2026' } }),
 *   runPsi({ role: 'responder', records: [['11010119900307002x'], ['440101198001010033']], transport: b,
 *            identity: hospital, peerPublicKey: pharma.publicKey, policy: { reveal: 'requester' } }),
 * ]);
 * mine.intersectionRows; // [1]
 * mine.receipt.body.outputSizes; // { responder: 0 }: the requester's size is its own, not in the receipt
 * ```
 */
export async function runPsi(options: RunPsiSessionOptions): Promise<RunPsiResult> {
  if (options === null || typeof options !== 'object') throw new TypeError('options must be an object');
  const t0 = Date.now();
  const { role, transport, identity, signal } = options;
  if (role !== 'requester' && role !== 'responder') throw new TypeError("role must be 'requester' or 'responder'");
  if (signal?.aborted) throw new AbortError();
  // Normalised and de-duplicated in slices that yield, so 10^5–10^6 keys do not hold the event loop
  // (or ahead of the session, by preparePsiRecords).
  let prepared: PreparedPsiRecords;
  if (isPrepared(options.records)) {
    if (options.keySchema !== undefined) throw new TypeError('keySchema goes to preparePsiRecords when records are prepared');
    prepared = options.records;
  } else {
    if (!Array.isArray(options.records)) throw new TypeError('records must be an array');
    prepared = await preparePsiRecords(options.records, { ...(options.keySchema ? { keySchema: options.keySchema } : {}), ...(signal ? { signal } : {}) });
  }
  const { schema, rows, deduped } = prepared[PREPARED];
  const suite = checkPsiSuite(options.suite ?? 'curve25519', 'suite');
  const distinct = deduped.keys.length;
  const sketch = runKeySketch(options, deduped.keys);
  const sent0 = transport.stats.bytesSent;
  const received0 = transport.stats.bytesReceived;

  const binding = options.jobBucket !== undefined ? jobBindingOptions(options.jobBucket) : {};
  // PSI with payload: the shape each side states, checked before anything is sent.
  let payloadShape: PayloadShape | undefined;
  if (options.payload !== undefined) {
    payloadShape = payloadShapeOf(options.payload as { columns?: unknown; maxBytes?: unknown; tolerance?: unknown });
    if (role === 'requester') {
      if (options.terms?.countOnly) throw new TypeError('payload needs the matched records: not available with terms.countOnly');
      if ((options.terms?.purpose ?? '').trim() === '') throw new RangeError('payload needs terms.purpose (the purpose of the release)');
    } else {
      const pr = options.payload.rows;
      if (!Array.isArray(pr) || pr.length !== rows.length) throw new RangeError('payload.rows must have one row per record');
      // Oversize rows are refused here, before the session starts (the release is built again for
      // the recipient below): with marked columns, their longest marked form must fit.
      encodePayloadPlaintexts(deduped, worstCasePayloadRows(pr, payloadShape.columns, payloadShape.tolerance), payloadShape.columns.length, payloadShape.maxBytes);
      if (Object.keys(payloadShape.tolerance).length > 0 && options.payload.onRelease === undefined) {
        throw new TypeError('payload.onRelease is needed with payload.tolerance: a fingerprinted release must be recorded to be traced');
      }
    }
  }
  let terms: SessionTerms | undefined;
  if (role === 'requester') {
    const payloadOptions = payloadShape !== undefined ? payloadTermsOptions(payloadShape, identity.publicKey) : {};
    terms = toTerms(options.terms ?? {}, distinct, schema, suite, binding, payloadOptions);
  }
  const basePolicy = options.policy ?? {};
  const policy: SessionPolicy = {
    ...basePolicy,
    protocols: basePolicy.protocols ?? [PSI_PROTOCOL_NAME],
    // The protocol accepts exactly the declared number of points from the requester, so the
    // declared size is what bounds the responder's memory: cap it by default.
    maxSetSize: basePolicy.maxSetSize ?? DEFAULT_MAX_PEER_SET_SIZE,
    check: (t, peer) => {
      const o = protocolOptions(t, binding);
      if (typeof o === 'string') return o;
      // Before any point is sent: the two groups share no point, so this would fail later, less clearly.
      if (o.suite !== suite) return `PSI suites differ: requester ${o.suite}; responder ${suite}`;
      // Before any point is sent: keys built differently would silently intersect to nothing.
      const mismatch = checkKeySchema(t, schema);
      if (mismatch !== undefined) return mismatch;
      const payloadMismatch = checkPayloadTerms(t, payloadShape, peer);
      if (payloadMismatch !== undefined) return payloadMismatch;
      return basePolicy.check?.(t, peer);
    },
  };
  const common = sessionBaseOptions(options);
  const session: Session =
    role === 'requester'
      ? await establishSession({ ...common, role, terms: terms! })
      : await establishSession({ ...common, role, policy, localSetSize: distinct });

  // Errors raised after both receipts are signed (a refusal, a withheld result) end the session
  // cleanly: the peer raises the same error from the same receipt, so no error frame is sent.
  let afterReceipt: Error | undefined;
  // What this party knows of the run so far, for a one-sided receipt if it ends without a co-signed one.
  const soFar: AbortedRunContribution = { inputSize: distinct, outputSize: 0, computeMs: 0, ...sourceOf(options), ...sketchOf(sketch) };
  let tc: number | undefined;
  const finish = async (receipt: UsageReceipt): Promise<void> => {
    await options.onReceipt?.(receipt);
  };

  try {
    if (!session.accepted) {
      const receipt = await session.exchangeReceipt({ outcome: 'refused', inputSize: 0, outputSize: 0, computeMs: 0, ...sourceOf(options) });
      await finish(receipt);
      afterReceipt = new TermsRefusedError(session.refusalReason ?? 'terms refused');
      throw afterReceipt;
    }
    await sketch?.store(session.sessionId, role);
    const psiOptions = protocolOptions(session.terms, binding);
    // The requester built these terms itself and the responder's policy check ran the same function.
    if (typeof psiOptions === 'string') throw new TermsRefusedError(psiOptions);
    const peerDeclared = role === 'requester' ? session.responderSetSize : session.terms.requesterSetSize;
    // The peer declared its set size in the signed handshake: accept exactly that many points.
    psiOptions.maxPeerSetSize = Math.max(1, peerDeclared);
    if (options.batchSize !== undefined) psiOptions.batchSize = options.batchSize;

    // The payload the signed terms name (the requester's own, the responder's checked against its offer).
    const agreed = statedPayload(session.terms);
    if (typeof agreed === 'string') throw new TermsRefusedError(agreed);
    let payload: { columns: number; maxBytes: number; plaintexts?: Uint8Array[] } | undefined;
    if (agreed !== undefined) {
      payload = { columns: agreed.columns.length, maxBytes: agreed.maxBytes };
      if (role === 'responder') {
        const marking = Object.keys(agreed.tolerance).length > 0;
        const secret = marking ? fingerprintSecretFromIdentity(identity.secretKey) : undefined;
        let built;
        try {
          built = buildPayloadRows(options.payload!.rows!, {
            columns: agreed.columns,
            recipient: session.peerPublicKey,
            purpose: session.terms.purpose,
            sessionId: session.sessionId,
            tolerance: agreed.tolerance,
            ...(schema.names !== undefined ? { keyColumns: schema.names } : {}),
            keys: rows,
            ...(secret !== undefined ? { secret } : {}),
          });
        } finally {
          secret?.fill(0);
        }
        payload.plaintexts = encodePayloadPlaintexts(deduped, built.rows, agreed.columns.length, agreed.maxBytes);
        // Recorded before any payload leaves: a delivered release always has its entry.
        if (built.release !== undefined) await options.payload!.onRelease!({ ...built.release, sessionId: session.sessionId, purpose: session.terms.purpose });
      }
    }

    const executor = options.executor ?? (await createInlineExecutor());
    tc = Date.now();
    let result;
    try {
      result = await runPsiProtocol({
        role,
        records: rows,
        deduped,
        transport: session.channel,
        ekm: session.ekm,
        options: psiOptions,
        executor,
        ...(payload !== undefined ? { payload } : {}),
        ...(signal ? { signal } : {}),
        ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      });
    } finally {
      if (!options.executor) await executor.close();
    }
    const computeMs = Date.now() - tc;
    if (result.peerSetSize !== peerDeclared) {
      throw new VerificationFailedError('peer set size differs from the one it declared');
    }

    // Minimum-intersection guardrail, applied by whichever party learns the size. It binds honest
    // parties (and both ledgers record it); see docs/session.md for what it cannot stop.
    const k = session.terms.minIntersection;
    const size = result.intersectionSize;
    const withheld = k > 0 && size !== undefined && size < k;
    const guardrails =
      k > 0 && size !== undefined ? [{ rule: 'min-cohort', outcome: withheld ? 'withheld' : 'passed', detail: `k=${k}` }] : [];
    Object.assign(soFar, { outputSize: size !== undefined && !withheld ? size : 0, computeMs, guardrails });
    // Rows whose payload was delivered, in the co-signed receipt only when both parties observe it
    // (both learn the intersection): in requester-only mode it would tell the responder the
    // intersection the terms withhold from it.
    const payloadRecords = agreed === undefined ? undefined : withheld ? 0 : role === 'requester' ? result.payloadRecords! : (result.intersection?.length ?? 0);
    const bothLearn = session.terms.recipients.includes('responder');
    const receipt = await session.exchangeReceipt({
      outcome: withheld ? 'withheld' : 'completed',
      inputSize: distinct,
      outputSize: size !== undefined && !withheld ? size : 0,
      computeMs,
      guardrails,
      expectedPeerInputSize: peerDeclared,
      ...sourceOf(options),
      ...(payloadRecords !== undefined && bothLearn ? { options: { [PAYLOAD_OPTIONS.records]: String(payloadRecords) } } : {}),
      ...sketchOf(sketch),
    });
    await finish(receipt);
    if (role === 'requester' && (result.payloadFailures ?? 0) > 0) {
      // Raised only now, after the receipt: failing earlier would show the responder whether the
      // records it corrupted matched (selective failure; docs/psi-payload.md).
      afterReceipt = new VerificationFailedError(`${result.payloadFailures} matched payload(s) failed authentication: the responder sent wrong payloads`);
      throw afterReceipt;
    }
    if (receipt.body.outcome === 'withheld') {
      afterReceipt = new GuardrailRefusedError(`intersection below the minimum of ${k}: result withheld`);
      throw afterReceipt;
    }
    await session.close();
    return {
      learned: result.learned,
      ...(result.intersection !== undefined ? { intersectionRows: result.intersection } : {}),
      ...(size !== undefined ? { intersectionSize: size } : {}),
      inputRecords: rows.length,
      distinctKeys: distinct,
      peerDistinctKeys: result.peerSetSize,
      bytesSent: transport.stats.bytesSent - sent0,
      bytesReceived: transport.stats.bytesReceived - received0,
      ms: Date.now() - t0,
      receipt,
      sessionId: session.sessionId,
      suite,
      ...(agreed !== undefined && role === 'requester'
        ? {
            payloadColumns: [...agreed.columns],
            payloads: (result.intersection ?? []).map((row) => result.payloadOfKey![deduped.keyOfRow[row]!]!),
            payloadRecords: payloadRecords!,
          }
        : {}),
    };
  } catch (e) {
    await endFailedRun(session, e, afterReceipt, soFar, tc, options.onReceipt);
    throw e;
  }
}
