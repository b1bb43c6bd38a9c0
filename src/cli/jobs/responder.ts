/**
 * The responder's side of a job (`job serve`): every connection's upgrade path names what it is —
 * `/job/<id>/open`, `/job/<id>/bucket/<b>` or `/job/<id>/close` — and the session's signed terms
 * must say the same (the path only picks which input to load; it is never trusted).
 * @module
 */
import { readdir, rm } from 'node:fs/promises';
import { InputError } from '../../errors.js';
import type { BudgetPolicy } from '../../ledger/budget.js';
import type { Ledger } from '../../ledger/file-ledger.js';
import type { PriceSchedule } from '../../ledger/pricing.js';
import type { UsageReceipt } from '../../ledger/receipt-types.js';
import { collectGarbage } from './memory.js';
import type { CryptoExecutor } from '../../protocols/executor.js';
import type { Identity } from '../../session/identity.js';
import { closePsiJob, openPsiJob, type JobTotals, type OpenedPsiJob, type PsiJobSpec } from '../../session/run-job.js';
import type { FrameTransport } from '../../transport/types.js';
import type { SessionTerms } from '../../session/messages.js';
import { policyOf } from '../psi-session.js';
import { equalBytes } from '../../utils/bytes.js';
import { budgetCheck, recordReceipt, type BudgetHook } from '../ledger-wiring.js';
import { JOB_MESSAGES as M } from '../messages.js';
import type { JobServeOptions } from './options.js';
import { mergeOutput, runBucket } from './run-bucket.js';
import { prepareSumColumns, sumCloseSide, sumManifestOf } from './sum-bucket.js';
import { parseEpsilon } from '../../protocols/guardrails.js';
import { closePsiSumJob, type PsiSumJobOutcome } from '../../session/run-psi-sum-job.js';
import { checkDeclared, jobPaths, makeJobDir, newJobManifest, partitionInput, readBucketResult, readManifest, writeManifest, type BucketResult, type JobManifest } from './work-dir.js';

/** Refusal reason of a closing session when buckets have no result on the responder. */
export const MISSING_BUCKETS = 'buckets not run on the responder: ';

/** What `job serve` prepared before listening. */
export interface ServeContext {
  opts: JobServeOptions;
  identity: Identity;
  peerKey: Uint8Array;
  executor: CryptoExecutor;
  ledger?: Ledger;
  schedule?: PriceSchedule;
  budget?: BudgetPolicy;
  /**
   * The records this side declares in every job it opens: counted when `job serve` starts, and
   * updated by every partitioning (so a grown input refuses one opening, not all of them).
   */
  declared: { records: number };
  /** Budget reservations of open jobs (by job id), released when the job's receipt is appended. */
  held: Map<string, BudgetHook>;
}

/** What one served session did, for the serve loop's report. */
export type ServedSession =
  | { kind: 'open'; jobId: string; buckets: number; rows: number }
  | { kind: 'bucket'; jobId: string; bucket: number; result: BucketResult }
  | {
      kind: 'close';
      /** psi-sum jobs: what was released to this side. */
      sum?: PsiSumJobOutcome;
      jobId: string;
      buckets: number;
      distinctKeys: number;
      peerDistinctKeys: number;
      intersectionSize: number | null;
      inputRecords: number;
      receipt: UsageReceipt;
      ledger?: { dir: string; index: number };
      outputRows?: number;
    };

/**
 * Parses a job session's upgrade path.
 * @example
 * ```ts
 * parseJobPath('/job/j1/bucket/7'); // { jobId: 'j1', what: 'bucket', bucket: 7 }
 * ```
 */
export function parseJobPath(path: string): { jobId: string; what: 'open' | 'close' | 'bucket'; bucket?: number } {
  const m = /^\/job\/([A-Za-z0-9][A-Za-z0-9_.-]{0,63})\/(open|close|bucket\/(0|[1-9][0-9]{0,5}))$/.exec(path);
  if (!m) throw new InputError(M.notJobPath());
  return m[3] !== undefined ? { jobId: m[1]!, what: 'bucket', bucket: Number(m[3]) } : { jobId: m[1]!, what: m[2] as 'open' | 'close' };
}

function checkSpec(ctx: ServeContext, jobId: string, spec: PsiJobSpec, terms: SessionTerms, peer: Uint8Array): string | undefined {
  const { opts } = ctx;
  if (spec.jobId !== jobId) return 'the job id differs from the one in the request';
  if ((spec.sum !== undefined) !== (opts.sum !== undefined)) return `the listener runs ${opts.sum ? 'psi-sum' : 'psi'} jobs, the request is a ${spec.sum ? 'psi-sum' : 'psi'} job`;
  if (spec.sum && opts.sum) {
    if (spec.terms.reveal !== opts.reveal) return `the listener runs with --reveal ${opts.reveal}, the request asks for --reveal ${spec.terms.reveal ?? 'requester'}`;
    if (spec.keyColumns !== opts.keyColumns.length) return `the listener's key has ${opts.keyColumns.length} columns, the request's ${spec.keyColumns}`;
    if (opts.purpose !== '' && spec.terms.purpose !== opts.purpose) return 'the purpose differs from the one the listener was started with';
    const iHoldValues = opts.sum.valueColumns.length > 0;
    if ((spec.sum.values === 'responder') !== iHoldValues) return iHoldValues ? 'both parties hold values: exactly one side gives --values' : 'neither party holds values: the value holder must give --values';
    if (spec.sum.minCohort < opts.sum.minCohort) return `listener requires a minimum cohort of at least ${opts.sum.minCohort}`;
    const max = opts.sum.dpEpsilon;
    if (max !== undefined && (spec.sum.dpEpsilon === undefined || parseEpsilon(spec.sum.dpEpsilon).num > parseEpsilon(max).num)) {
      return `listener requires differential-privacy noise with epsilon at most ${max}`;
    }
    return undefined;
  }
  // The same policy (and refusal reasons) as a `dataport psi` listener: reveal, count-only, truncation, purpose.
  const psiReason = policyOf(opts).check?.(terms, peer);
  if (psiReason !== undefined) return psiReason;
  if (spec.suite !== opts.suite) return `PSI suites differ: requester ${spec.suite ?? 'curve25519'}; responder ${opts.suite}`;
  if (spec.keyColumns !== opts.keyColumns.length) return `the listener's key has ${opts.keyColumns.length} columns, the request's ${spec.keyColumns}`;
  return undefined;
}

async function serveOpen(ctx: ServeContext, jobId: string, transport: FrameTransport, signal: AbortSignal): Promise<ServedSession> {
  const { opts } = ctx;
  // The same rule as `dataport psi`: this side's records plus the requester's declared records.
  const declared = ctx.declared.records;
  const budget = ctx.ledger && ctx.budget ? budgetCheck(ctx.ledger, ctx.budget, 'responder', declared) : undefined;
  let manifest: JobManifest | undefined;
  try {
    await openPsiJob({
      role: 'responder',
      transport,
      identity: ctx.identity,
      peerPublicKey: ctx.peerKey,
      setSize: declared,
      signal,
      check: (spec, peer, terms) => checkSpec(ctx, jobId, spec, terms, peer),
      ...(ctx.schedule ? { priceSchedule: ctx.schedule } : {}),
      ...(budget ? { beforeRun: budget } : {}),
      prepare: async (job: OpenedPsiJob) => {
        await makeJobDir(opts.workDir, jobId);
        // A job opened again (the requester lost its state before partitioning) starts over.
        await rm(jobPaths(opts.workDir, jobId).results, { recursive: true, force: true });
        const m: JobManifest = {
          ...newJobManifest({ jobId, role: 'responder', buckets: job.spec.buckets, job, peerKey: job.peerPublicKey, opts, purpose: job.spec.terms.purpose ?? '', declared, peerDeclared: job.requesterSetSize }),
          // The job's psi-sum options are the signed ones (a listener's are its limits).
          ...(job.spec.sum && opts.sum ? { sum: { ...sumManifestOf(opts.sum, 'responder'), minCohort: job.spec.sum.minCohort, ...(job.spec.sum.dpEpsilon !== undefined ? { dpEpsilon: job.spec.sum.dpEpsilon } : {}) } } : {}),
        };
        if (m.sum && job.spec.sum?.dpEpsilon === undefined) delete m.sum.dpEpsilon;
        job.bucketKey.fill(0);
        await partitionInput(opts.workDir, m, { signal });
        ctx.declared.records = m.inputRecords - m.skippedRows;
        checkDeclared(m);
        if (m.sum?.holder === 'values') await prepareSumColumns(opts.workDir, m, signal);
        await writeManifest(opts.workDir, m);
        manifest = m;
      },
    });
  } catch (err) {
    await budget?.release();
    throw err;
  }
  // Held until the job's receipt is appended (serveClose), so that open jobs count against the
  // budget; a job opened again gives back its earlier reservation.
  const earlier = ctx.held.get(jobId);
  if (budget) ctx.held.set(jobId, budget);
  else ctx.held.delete(jobId);
  await earlier?.release();
  return { kind: 'open', jobId, buckets: manifest!.buckets, rows: manifest!.inputRecords };
}

async function jobManifest(ctx: ServeContext, jobId: string): Promise<JobManifest> {
  const m = await readManifest(ctx.opts.workDir, jobId);
  if (!m || m.role !== 'responder') throw new InputError(M.unknownJob(jobId));
  if (!equalBytes(Buffer.from(m.peerKey, 'base64'), ctx.peerKey)) throw new InputError(M.otherPeer(jobId));
  return m;
}

async function serveClose(ctx: ServeContext, jobId: string, transport: FrameTransport, signal: AbortSignal): Promise<ServedSession> {
  const { opts } = ctx;
  const m = await jobManifest(ctx, jobId);
  const results: BucketResult[] = [];
  for (let b = 0; b < m.buckets; b++) {
    const r = await readBucketResult(opts.workDir, jobId, b);
    if (r) results.push(r);
  }
  const sum = (f: (r: BucketResult) => number) => results.reduce((n, r) => n + f(r), 0);
  const learned = results.every((r) => r.intersectionSize !== null);
  const totals: JobTotals = { distinctKeys: sum((r) => r.distinctKeys), intersectionSize: learned ? sum((r) => r.intersectionSize ?? 0) : 0 };
  // psi-sum: this side's part of the release (only when every bucket has a result; else the
  // closing session is refused below and the requester runs the missing buckets again).
  const sumSide = m.sum && results.length === m.buckets ? await sumCloseSide(m, results) : undefined;
  const base = {
    role: 'responder' as const,
    transport,
    identity: ctx.identity,
    peerPublicKey: ctx.peerKey,
    signal,
    ...(ctx.schedule ? { priceSchedule: ctx.schedule } : {}),
    lookup: (spec: PsiJobSpec, jobTerms: string, _peer: Uint8Array, peerDistinctKeys: number) => {
      if (spec.jobId !== jobId || jobTerms !== m.jobTerms) return 'the job terms differ from the job this listener opened';
      if (spec.buckets !== m.buckets) return 'the number of buckets differs';
      // Each side's total must stay within what it declared (and was budgeted) at the opening.
      if (m.peerDeclaredRecords !== undefined && peerDistinctKeys > m.peerDeclaredRecords) return M.overDeclared('requester', peerDistinctKeys, m.peerDeclaredRecords);
      if (m.declaredRecords !== undefined && totals.distinctKeys > m.declaredRecords) return M.overDeclared('responder', totals.distinctKeys, m.declaredRecords);
      if (results.length !== m.buckets) {
        const have = new Set(results.map((r) => r.bucket));
        const missing = Array.from({ length: m.buckets }, (_, b) => b).filter((b) => !have.has(b));
        // The requester re-runs these (a responder killed after a bucket's receipt, before its result).
        return `${MISSING_BUCKETS}${missing.slice(0, 32).join(',')}`;
      }
      return totals;
    },
  };
  let sumOut: PsiSumJobOutcome | undefined;
  let receipt: UsageReceipt;
  if (sumSide) {
    sumOut = await closePsiSumJob({ ...base, ...sumSide });
    receipt = sumOut.receipt;
  } else receipt = await closePsiJob(base); // a psi-sum job without every result: the lookup refuses
  let ledger: { dir: string; index: number } | undefined;
  if (ctx.ledger) {
    const { index } = await recordReceipt(ctx.ledger, receipt);
    ledger = { dir: ctx.ledger.dir, index };
  }
  // The receipt counts now: the reservation taken when the job opened is given back.
  const held = ctx.held.get(jobId);
  ctx.held.delete(jobId);
  await held?.release();
  let outputRows: number | undefined;
  if (opts.output !== undefined && m.reveal === 'both') outputRows = await mergeOutput(opts.workDir, m, opts.output, { signal });
  return {
    kind: 'close',
    jobId,
    buckets: m.buckets,
    distinctKeys: totals.distinctKeys,
    peerDistinctKeys: sum((r) => r.peerDistinctKeys),
    intersectionSize: learned ? totals.intersectionSize : null,
    inputRecords: m.inputRecords,
    receipt,
    ...(ledger ? { ledger } : {}),
    ...(outputRows !== undefined ? { outputRows } : {}),
    ...(sumOut ? { sum: sumOut } : {}),
  };
}

/**
 * Serves one connection of `job serve` by its path; rejects like any failed session.
 * @example
 * ```ts
 * const served = await serveJobSession(ctx, transport, '/job/j1/bucket/7', signal);
 * ```
 */
export async function serveJobSession(ctx: ServeContext, transport: FrameTransport, path: string, signal: AbortSignal): Promise<ServedSession> {
  const p = parseJobPath(path);
  if (p.what === 'open') return serveOpen(ctx, p.jobId, transport, signal);
  if (p.what === 'close') return serveClose(ctx, p.jobId, transport, signal);
  const m = await jobManifest(ctx, p.jobId);
  if (p.bucket! >= m.buckets) throw new InputError(M.noBucket(p.jobId, p.bucket!));
  // As on the requester (memory.ts): earlier buckets' garbage goes before this one loads.
  collectGarbage();
  const result = await runBucket({ workDir: ctx.opts.workDir, identity: ctx.identity, executor: ctx.executor, signal }, m, p.bucket!, 'responder', transport);
  return { kind: 'bucket', jobId: p.jobId, bucket: p.bucket!, result };
}

/** Buckets with a result on this side (for messages). */
export async function finishedBuckets(workDir: string, jobId: string): Promise<number> {
  const names = await readdir(jobPaths(workDir, jobId).results).catch(() => [] as string[]);
  return names.filter((n) => n.endsWith('.json')).length;
}
