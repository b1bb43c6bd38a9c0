/**
 * The two job sessions of a bucketed PSI job (docs/jobs.md): `openPsiJob` agrees the job's terms,
 * its id, the number of buckets B and a fresh per-job bucket key; `closePsiJob` exchanges the one
 * co-signed job receipt (buckets, total sizes, outcome) once every bucket has run. The buckets
 * themselves are ordinary `runPsi` sessions bound to the job (`jobBucket`).
 *
 * Both are authenticated sessions like any other (pinning, signed terms, budget and price hooks
 * through {@link SessionOptionsBase}). The bucket key is derived from the open session's `ekm`,
 * which both parties contribute randomness to (nonces and ephemeral X25519 keys of the
 * handshake), so neither party chooses it alone and it differs for every job.
 * @module
 */
import { expand } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { AbortError, MalformedMessageError, TermsRefusedError, VerificationFailedError } from '../errors.js';
import type { GuardrailDecision, UsageReceipt } from '../ledger/receipt-types.js';
import { parseEpsilon } from '../protocols/guardrails.js';
import type { FrameTransport } from '../transport/types.js';
import { toHex, utf8 } from '../utils/bytes.js';
import type { SessionTerms } from './messages.js';
import { checkPsiSuite, type PsiSuiteName } from '../protocols/psi/suite.js';
import { PSI_SUITE_OPTION, type PsiTerms } from './run-psi.js';
import { establishSession, sessionBaseOptions, type Session, type SessionOptionsBase } from './session.js';

/**
 * The protocol name of the job sessions in terms and receipts.
 *
 * @example
 * ```ts
 * if (receipt.body.protocol === PSI_JOB_PROTOCOL_NAME) jobs++;
 * ```
 */
export const PSI_JOB_PROTOCOL_NAME = 'ecdh-psi-job';

/**
 * The protocol name of a psi-sum job's sessions (docs/jobs.md, "psi-sum jobs").
 *
 * @example
 * ```ts
 * if (receipt.body.protocol === PSI_SUM_JOB_PROTOCOL_NAME) sumJobs++;
 * ```
 */
export const PSI_SUM_JOB_PROTOCOL_NAME = 'psi-sum-job';

/**
 * The bucket PRF named in the terms (HMAC-SHA256, see docs/jobs.md for the choice).
 *
 * @example
 * ```ts
 * terms.options['bucket-prf'] === BUCKET_PRF;
 * ```
 */
export const BUCKET_PRF = 'hmac-sha256';

/**
 * Most buckets a job may have.
 *
 * @example
 * ```ts
 * if (buckets > MAX_JOB_BUCKETS) throw new RangeError('too many buckets');
 * ```
 */
export const MAX_JOB_BUCKETS = 65_536;

const INFO_BUCKET_KEY = 'dataport-job-v1 bucket key\0';
const READY = 0x01;
/**
 * Sent by the responder while `prepare` runs (partitioning 2^24 rows takes minutes): each one resets
 * the requester's idle timeout, so a long partition is not mistaken for a dead peer. The overall
 * timeout still bounds the wait.
 */
const PREPARING = 0x02;
const PREPARING_INTERVAL_MS = 10_000;
const MAX_SET = 2 ** 32 - 1;

/** What a job is: the same on both sides once agreed. */
export interface PsiJobSpec {
  /** Caller-chosen job id (1–64 of `A-Z a-z 0-9 _ . -`, first an alphanumeric). */
  jobId: string;
  /** Number of buckets B. */
  buckets: number;
  /** The PSI terms every bucket runs with. */
  terms: PsiTerms;
  /** Number of key columns (compared, like the key schema of a PSI run). */
  keyColumns: number;
  /** The PSI group every bucket runs in (default curve25519; in the terms as `suite`). */
  suite?: PsiSuiteName;
  /** A psi-sum job (protocol `psi-sum-job`): its options; absent for a PSI job. */
  sum?: PsiSumJobTerms;
}

/**
 * The psi-sum options of a job, in its signed terms; every bucket session carries exactly them.
 *
 * @example
 * ```ts
 * const sum: PsiSumJobTerms = { values: 'responder', minCohort: 10 };
 * ```
 */
export interface PsiSumJobTerms {
  /** Which party holds the value columns. */
  values: 'requester' | 'responder';
  /** Minimum cohort, applied to the job's total intersection size (0: none). */
  minCohort: number;
  /** Total ε of discrete-Laplace noise on the released totals (absent: exact). */
  dpEpsilon?: string;
}

/**
 * Checks a job id: 1–64 characters of `A-Z a-z 0-9 _ . -`, starting with a letter or digit (it
 * names directories and queue tasks).
 *
 * @example
 * ```ts
 * checkJobId('city-2026-12'); // ok; checkJobId('../x') throws RangeError
 * ```
 */
export function checkJobId(jobId: string): void {
  if (typeof jobId !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(jobId)) {
    throw new RangeError('jobId must be 1 to 64 characters of A-Z a-z 0-9 _ . - starting with a letter or digit');
  }
}

function jobOptions(spec: PsiJobSpec, phase: 'open' | 'close', extra: Record<string, string> = {}): Record<string, string> {
  const t = spec.terms;
  if (spec.sum !== undefined) {
    return {
      phase,
      'job-id': spec.jobId,
      buckets: String(spec.buckets),
      'bucket-prf': BUCKET_PRF,
      'key-columns': String(spec.keyColumns),
      values: spec.sum.values,
      'dp-epsilon': spec.sum.dpEpsilon ?? 'none',
      ...extra,
    };
  }
  return {
    phase,
    'job-id': spec.jobId,
    buckets: String(spec.buckets),
    'bucket-prf': BUCKET_PRF,
    'count-only': t.countOnly ? 'true' : 'false',
    truncate: String(t.truncation ?? 128),
    'key-columns': String(spec.keyColumns),
    [PSI_SUITE_OPTION]: spec.suite ?? 'curve25519',
    ...extra,
  };
}

function jobTerms(spec: PsiJobSpec, options: Record<string, string>, requesterSetSize: number, responderMax = MAX_SET): SessionTerms {
  return {
    protocol: spec.sum !== undefined ? PSI_SUM_JOB_PROTOCOL_NAME : PSI_JOB_PROTOCOL_NAME,
    options,
    purpose: spec.terms.purpose ?? '',
    recipients: spec.terms.reveal === 'both' ? ['requester', 'responder'] : ['requester'],
    requesterSetSize,
    responderSetSize: { min: 0, max: responderMax },
    minIntersection: spec.sum?.minCohort ?? 0,
  };
}

/**
 * Reads a job spec back from signed job terms, or a refusal reason.
 *
 * @example
 * ```ts
 * const spec = jobSpecOf(session.terms);
 * if (typeof spec === 'string') refuse(spec);
 * ```
 */
export function jobSpecOf(terms: SessionTerms): PsiJobSpec | string {
  if (terms.protocol !== PSI_JOB_PROTOCOL_NAME && terms.protocol !== PSI_SUM_JOB_PROTOCOL_NAME) return 'not a job session';
  const o = terms.options;
  const isSum = terms.protocol === PSI_SUM_JOB_PROTOCOL_NAME;
  const known = ['phase', 'job-id', 'buckets', 'bucket-prf', 'key-columns', 'job-terms', ...(isSum ? ['values', 'dp-epsilon'] : ['count-only', 'truncate', PSI_SUITE_OPTION])];
  if (Object.keys(o).some((k) => !known.includes(k))) return 'unsupported protocol option';
  const buckets = Number(o['buckets']);
  if (!/^[1-9][0-9]{0,5}$/.test(o['buckets'] ?? '') || buckets > MAX_JOB_BUCKETS) return 'unsupported number of buckets';
  if (o['bucket-prf'] !== BUCKET_PRF) return 'unsupported bucket function';
  const jobId = o['job-id'] ?? '';
  try {
    checkJobId(jobId);
  } catch {
    return 'malformed job id';
  }
  const kc = Number(o['key-columns']);
  if (!Number.isInteger(kc) || kc < 1 || kc > 16) return 'unsupported protocol option';
  if (isSum) {
    const values = o['values'];
    if (values !== 'requester' && values !== 'responder') return 'unsupported protocol option';
    const e = o['dp-epsilon'];
    if (e === undefined) return 'unsupported dp-epsilon';
    if (e !== 'none') {
      try {
        parseEpsilon(e);
      } catch {
        return 'unsupported dp-epsilon';
      }
    }
    return {
      jobId,
      buckets,
      keyColumns: kc,
      terms: { reveal: terms.recipients.includes('responder') ? 'both' : 'requester', purpose: terms.purpose },
      sum: { values, minCohort: terms.minIntersection, ...(e !== 'none' ? { dpEpsilon: e } : {}) },
    };
  }
  const co = o['count-only'];
  const tr = o['truncate'];
  if ((co !== 'true' && co !== 'false') || (tr !== 'none' && tr !== '128' && tr !== '192')) return 'unsupported protocol option';
  let suite: PsiSuiteName;
  try {
    // Terms without it (jobs opened by earlier builds) mean curve25519, as for a PSI run.
    suite = checkPsiSuite(o[PSI_SUITE_OPTION] ?? 'curve25519');
  } catch {
    return 'unsupported PSI suite';
  }
  return {
    jobId,
    buckets,
    keyColumns: kc,
    suite,
    terms: {
      reveal: terms.recipients.includes('responder') ? 'both' : 'requester',
      countOnly: co === 'true',
      truncation: tr === 'none' ? 'none' : (Number(tr) as 128 | 192),
      purpose: terms.purpose,
    },
  };
}

/** Options of {@link openPsiJob}. */
export interface OpenPsiJobOptions extends SessionOptionsBase {
  role: 'requester' | 'responder';
  /** Requester: the job. */
  spec?: PsiJobSpec;
  /**
   * Responder: refuse (return a reason) or accept a job's spec; called once the peer is
   * authenticated, with the signed terms the spec was read from.
   */
  check?: (spec: PsiJobSpec, peerPublicKey: Uint8Array, terms: SessionTerms) => string | undefined;
  /**
   * This side's declared size: the records it will bring to the job (counted before the job
   * opens; docs/jobs.md). The requester's goes into the signed terms, the responder's into its
   * signed answer; budgets are checked with them (`beforeRun`). Default 0.
   */
  setSize?: number;
  /**
   * Called with the agreed job (e.g. to partition this side's input into buckets with the key).
   * Responder: before the requester is told the job is ready; the requester waits for it.
   * Requester: at the same time as the responder's (both sides partition at once); `openPsiJob`
   * resolves once both have finished, and if the responder fails, this one's `signal` aborts
   * and the call waits for it to settle before rejecting.
   */
  prepare?: (job: OpenedPsiJob, signal: AbortSignal) => Promise<void>;
  /**
   * Responder: while `prepare` runs, a keep-alive frame is sent this often (milliseconds; default
   * 10 000), so that the requester's idle timeout measures silence, not the length of the partition.
   */
  keepaliveMs?: number;
}

/** What both parties hold after {@link openPsiJob}. */
export interface OpenedPsiJob {
  spec: PsiJobSpec;
  /** The 32-byte per-job bucket key (secret; see docs/jobs.md for where it is kept). */
  bucketKey: Uint8Array;
  /** Hex SHA-256 of the open session's transcript: every bucket session carries it. */
  jobTerms: string;
  peerPublicKey: Uint8Array;
  sessionId: Uint8Array;
  /** The sizes both sides declared when the job opened (signed in the open session). */
  requesterSetSize: number;
  responderSetSize: number;
}

function keyOf(session: Session, jobId: string): Uint8Array {
  // HKDF-Expand (RFC 5869 §2.3) of the session's binding value: a key neither party chose alone.
  return expand(sha256, session.ekm, utf8(`${INFO_BUCKET_KEY}${jobId}`), 32);
}

/**
 * Opens a bucketed PSI job: agrees the spec (the responder may refuse it) and the bucket key. The
 * responder runs `prepare` before answering "ready"; the requester resolves only after that.
 * A refusal rejects with `TermsRefusedError` on both sides (no receipt: nothing ran).
 *
 * @example
 * ```ts
 * const [mine] = await Promise.all([
 *   openPsiJob({ role: 'requester', transport: a, identity: pharma, peerPublicKey: hospital.publicKey,
 *                spec: { jobId: 'j1', buckets: 64, keyColumns: 1, terms: { reveal: 'requester' } } }),
 *   openPsiJob({ role: 'responder', transport: b, identity: hospital, peerPublicKey: pharma.publicKey }),
 * ]);
 * mine.bucketKey.length; // 32
 * ```
 */
export async function openPsiJob(options: OpenPsiJobOptions): Promise<OpenedPsiJob> {
  const common = sessionBaseOptions(options);
  const setSize = options.setSize ?? 0;
  if (!Number.isSafeInteger(setSize) || setSize < 0 || setSize > MAX_SET) throw new RangeError(`setSize must be an integer from 0 to ${MAX_SET}`);
  let session: Session;
  if (options.role === 'requester') {
    const spec = options.spec;
    if (spec === undefined) throw new TypeError('spec is required for the requester');
    checkJobId(spec.jobId);
    if (!Number.isInteger(spec.buckets) || spec.buckets < 1 || spec.buckets > MAX_JOB_BUCKETS) {
      throw new RangeError(`spec.buckets must be an integer from 1 to ${MAX_JOB_BUCKETS}`);
    }
    session = await establishSession({ ...common, role: 'requester', terms: jobTerms(spec, jobOptions(spec, 'open'), setSize) });
  } else {
    session = await establishSession({
      ...common,
      role: 'responder',
      localSetSize: setSize,
      policy: {
        protocols: [PSI_JOB_PROTOCOL_NAME, PSI_SUM_JOB_PROTOCOL_NAME],
        // A psi-sum job's minimum cohort is checked by the caller's `check` (it applies to the total).
        minIntersection: 0,
        check: (terms, peer) => {
          const spec = jobSpecOf(terms);
          if (typeof spec === 'string') return spec;
          if (terms.options['phase'] !== 'open') return 'not a job opening';
          return options.check?.(spec, peer, terms);
        },
      },
    });
  }
  try {
    if (!session.accepted) throw new TermsRefusedError(session.refusalReason ?? 'terms refused');
    const spec = jobSpecOf(session.terms);
    if (typeof spec === 'string') throw new TermsRefusedError(spec);
    const job: OpenedPsiJob = {
      spec,
      bucketKey: keyOf(session, spec.jobId),
      jobTerms: toHex(session.transcriptHash),
      peerPublicKey: session.peerPublicKey,
      sessionId: session.sessionId,
      requesterSetSize: session.terms.requesterSetSize,
      responderSetSize: session.responderSetSize,
    };
    if (options.role === 'responder') {
      const signal = options.signal ?? new AbortController().signal;
      await prepareWithKeepalive(session, () => options.prepare?.(job, signal), options.keepaliveMs ?? PREPARING_INTERVAL_MS, options.signal);
      await session.channel.send(Uint8Array.of(READY), options.signal);
    } else {
      // This side prepares while the responder does; a failure of either stops the other.
      const stop = new AbortController();
      const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
      const mine = options.prepare ? Promise.resolve().then(() => options.prepare!(job, signal)) : Promise.resolve();
      const ready = (async () => {
        for (;;) {
          const frame = await session.channel.receive(signal);
          if (frame.length === 1 && frame[0] === PREPARING) continue;
          if (frame.length !== 1 || frame[0] !== READY) throw new MalformedMessageError('expected the job-ready message');
          return;
        }
      })();
      const settled = await Promise.allSettled([
        mine.catch((e: unknown) => {
          stop.abort();
          throw e;
        }),
        ready.catch((e: unknown) => {
          stop.abort();
          throw e;
        }),
      ]);
      // The first failure is the cause; the other side's is then usually an abort.
      const isAbort = (e: unknown) => e instanceof AbortError || (e as Error | undefined)?.name === 'AbortError';
      const failed = settled.find((r) => r.status === 'rejected' && !isAbort(r.reason)) ?? settled.find((r) => r.status === 'rejected');
      if (failed) throw (failed as PromiseRejectedResult).reason;
    }
    await session.close();
    return job;
  } catch (e) {
    if (session.accepted) await session.fail(e);
    else await session.close().catch(() => {});
    throw e;
  }
}

/** Runs `prepare`, sending a PREPARING frame every `everyMs` until it settles. */
async function prepareWithKeepalive(session: Session, prepare: () => Promise<void> | undefined, everyMs: number, signal?: AbortSignal): Promise<void> {
  if (!Number.isInteger(everyMs) || everyMs < 1) throw new RangeError('keepaliveMs must be a positive integer');
  let sending: Promise<void> = Promise.resolve();
  let failed: unknown;
  const timer = setInterval(() => {
    sending = sending
      .then(() => session.channel.send(Uint8Array.of(PREPARING), signal))
      .catch((e: unknown) => {
        failed ??= e;
      });
  }, everyMs);
  try {
    await prepare();
  } finally {
    clearInterval(timer);
    await sending;
  }
  if (failed !== undefined) throw failed;
}

/** What each party contributes to the job receipt. */
export interface JobTotals {
  /** This party's distinct keys over all buckets. */
  distinctKeys: number;
  /** Distinct keys in the intersection, if this party learned it (else 0). */
  intersectionSize: number;
}

/** Options of {@link closePsiJob}. */
export interface ClosePsiJobOptions extends SessionOptionsBase {
  role: 'requester' | 'responder';
  /** Requester: the job as opened, and the hex job terms hash. */
  spec?: PsiJobSpec;
  jobTerms?: string;
  /**
   * Responder: the job's record and this side's totals for the job the terms name, or a refusal
   * reason (unknown job, job terms that differ, buckets not all run here, a requester total
   * `peerDistinctKeys` above what it declared when the job opened).
   */
  lookup?: (spec: PsiJobSpec, jobTerms: string, peerPublicKey: Uint8Array, peerDistinctKeys: number) => JobTotals | string;
  /** Requester: its totals. */
  totals?: JobTotals;
  /**
   * Requester: the size the responder declared when the job opened; a larger total in its answer
   * refuses the closing (`TermsRefusedError`) before any receipt is signed. Default: no bound.
   */
  peerDeclared?: number;
  /**
   * Runs on the accepted closing session before its receipt (a psi-sum job releases its totals
   * here, see `closePsiSumJob`); returns what it decided for the receipt.
   */
  release?: (channel: FrameTransport, terms: SessionTerms, signal?: AbortSignal) => Promise<JobRelease>;
}

/** What a closing session's `release` step puts in the job receipt. */
export interface JobRelease {
  outcome: 'completed' | 'withheld';
  /** Result size released to this party. */
  outputSize: number;
  guardrails?: GuardrailDecision[];
  /** Facts both parties observed (each side's must be equal), e.g. the value columns' scales. */
  options?: Record<string, string>;
}

/**
 * Ends a job with its one co-signed receipt: protocol `ecdh-psi-job`, the job id, B and the job
 * terms hash in its options, both parties' total distinct keys as input sizes, the released
 * intersection size, outcome `completed`. Price schedules (session options) bill this receipt.
 *
 * @example
 * ```ts
 * const receipt = await closePsiJob({ role: 'requester', transport, identity, peerPublicKey, spec, jobTerms,
 *   totals: { distinctKeys: 1000, intersectionSize: 120 } });
 * ```
 */
export async function closePsiJob(options: ClosePsiJobOptions): Promise<UsageReceipt> {
  const common = sessionBaseOptions(options);
  let totals = options.totals;
  let session: Session;
  if (options.role === 'requester') {
    const { spec, jobTerms: jt } = options;
    if (spec === undefined || jt === undefined || totals === undefined) throw new TypeError('spec, jobTerms and totals are required for the requester');
    session = await establishSession({
      ...common,
      role: 'requester',
      terms: jobTerms(spec, jobOptions(spec, 'close', { 'job-terms': jt }), totals.distinctKeys, options.peerDeclared ?? MAX_SET),
    });
  } else {
    // The responder's set size (its job total) depends on which job the terms name.
    let found: JobTotals | undefined;
    session = await establishSession({
      ...common,
      role: 'responder',
      localSetSize: 0,
      localSetSizeFor: (terms, peer) => {
        const spec = jobSpecOf(terms);
        if (typeof spec === 'string') return spec;
        if (terms.options['phase'] !== 'close') return 'not a job closing';
        const r = options.lookup?.(spec, terms.options['job-terms'] ?? '', peer, terms.requesterSetSize) ?? 'unknown job';
        if (typeof r === 'string') return r;
        found = r;
        return r.distinctKeys;
      },
      policy: { protocols: [PSI_JOB_PROTOCOL_NAME, PSI_SUM_JOB_PROTOCOL_NAME], minIntersection: 0 },
    });
    totals = found;
  }
  try {
    if (!session.accepted) throw new TermsRefusedError(session.refusalReason ?? 'terms refused');
    if (totals === undefined) throw new VerificationFailedError('job totals missing');
    const peerInput = options.role === 'requester' ? session.responderSetSize : session.terms.requesterSetSize;
    const learns = session.terms.recipients.includes(options.role);
    const released = options.release ? await options.release(session.channel, session.terms, options.signal) : undefined;
    const receipt = await session.exchangeReceipt({
      outcome: released?.outcome ?? 'completed',
      inputSize: totals.distinctKeys,
      outputSize: released?.outputSize ?? (learns ? totals.intersectionSize : 0),
      ...(released?.guardrails ? { guardrails: released.guardrails } : {}),
      ...(released?.options ? { options: released.options } : {}),
      // A receipt's compute time must fit in its session's span (session.ts checks it): the
      // closing session computes nothing; the buckets' times are not in the job receipt.
      computeMs: 0,
      expectedPeerInputSize: peerInput,
    });
    await session.close();
    return receipt;
  } catch (e) {
    if (session.accepted) await session.fail(e);
    else await session.close().catch(() => {});
    throw e;
  }
}

/**
 * The bucket of a key from its MAC = HMAC-SHA256(bucketKey, normalised key): the MAC's first 8
 * bytes as an integer, reduced to [0, B) by multiply-shift (bias below 2^-32 for B ≤ 2^16).
 *
 * @example
 * ```ts
 * const b = bucketIndex(hmac(sha256, job.bucketKey, normalizeKey(['110101199003070011'])!), 64);
 * ```
 */
export function bucketIndex(mac: Uint8Array, buckets: number): number {
  const hi = ((mac[0]! << 24) | (mac[1]! << 16) | (mac[2]! << 8) | mac[3]!) >>> 0;
  const lo = ((mac[4]! << 24) | (mac[5]! << 16) | (mac[6]! << 8) | mac[7]!) >>> 0;
  return bucketOfWords(hi, lo, buckets);
}

/**
 * {@link bucketIndex} from the MAC's first two big-endian 32-bit words (unsigned).
 * @internal
 */
export function bucketOfWords(hi: number, lo: number, buckets: number): number {
  // (hi32 · B + ((lo32 · B) >> 32)) >> 32, exact in doubles for B ≤ 2^16 (products < 2^48).
  const carry = Math.floor((lo * buckets) / 2 ** 32);
  return Math.floor((hi * buckets + carry) / 2 ** 32);
}

