/**
 * The requester's side of a job: `job submit` (open or resume, partition, run or queue the
 * buckets, close, merge) and the bucket handler that `job submit` and `job worker` share.
 * @module
 */
import { readdir, rm, stat } from 'node:fs/promises';
import { AbortError, InputError, TermsRefusedError, VerificationFailedError } from '../../errors.js';
import type { UsageReceipt } from '../../ledger/receipt-types.js';
import { MISSING_BUCKETS } from './responder.js';
import { JOB_MESSAGES as M } from '../messages.js';
import type { Ledger } from '../../ledger/file-ledger.js';
import type { PriceSchedule } from '../../ledger/pricing.js';
import type { BudgetPolicy } from '../../ledger/budget.js';
import type { CryptoExecutor } from '../../protocols/executor.js';
import { closePsiJob, openPsiJob, type OpenedPsiJob, type PsiJobSpec } from '../../session/run-job.js';
import type { Identity } from '../../session/identity.js';
import { connectWebSocket } from '../../transport/websocket-node.js';
import type { FrameTransport } from '../../transport/types.js';
import { toBase64 } from '../../utils/bytes.js';
import { loadIdentity } from '../identity-files.js';
import { termsOf } from '../psi-session.js';
import { budgetCheck, recordReceipt, type BudgetHook } from '../ledger-wiring.js';
import type { Progress } from '../progress.js';
import { createReporter, type Reporter } from '../summary.js';
import type { JobSubmitOptions } from './options.js';
import { enqueueBuckets, failedTask, Queue, QUEUE_NAME, queueJobStatus, queueLabel, redisOptions, runInProcess, watchRedis, type BucketTask } from './queue.js';
import { collectGarbage } from './memory.js';
import { loadBucket, mergeOutput, runBucket, termsOfManifest } from './run-bucket.js';
import { loadSumBucket, prepareSumColumns, runSumBucket, sumCloseSide, sumManifestOf, sumTermsOf } from './sum-bucket.js';
import { closePsiSumJob, type PsiSumJobOutcome } from '../../session/run-psi-sum-job.js';
import { checkDeclared, countRecords, jobPaths, makeJobDir, newJobManifest, partitionInput, readBucketResult, readManifest, writeManifest, type BucketResult, type JobManifest } from './work-dir.js';

/** URL of a job session at a responder: `ws://HOST:PORT/job/<id>/open|close|bucket/<b>`. */
export function jobUrl(base: string, jobId: string, what: string): string {
  return `${base}/job/${encodeURIComponent(jobId)}/${what}`;
}

/** Connects to one of the responder's job sessions (`open`, `close` or `bucket/<b>`) at `base`. */
function connectJob(base: string, jobId: string, what: string, timeoutMs: number, signal: AbortSignal): Promise<FrameTransport> {
  return connectWebSocket(jobUrl(base, jobId, what), { limits: limits(timeoutMs), connectTimeoutMs: Math.min(30_000, timeoutMs), signal });
}

function limits(timeoutMs: number) {
  return { overallTimeoutMs: timeoutMs, idleTimeoutMs: Math.min(120_000, timeoutMs) };
}

/** What the bucket handler keeps between tasks in one process. */
export interface BucketWorkerState {
  executor: CryptoExecutor;
  timeoutMs: number;
  signal: AbortSignal;
  identities?: Map<string, Promise<Identity>>;
  manifests?: Map<string, Promise<JobManifest | undefined>>;
}

/**
 * Runs one requester bucket task: nothing if the bucket already has a result; else one bucket
 * session with a responder (the `--connect` URLs taken in turn, one further on each attempt).
 *
 * @example
 * ```ts
 * await runRequesterTask(state, { jobId: 'j1', workDir: '/srv/jobs', bucket: 7 }, 0);
 * ```
 */
export async function runRequesterTask(state: BucketWorkerState, task: BucketTask, attempt: number): Promise<BucketResult> {
  const done = await readBucketResult(task.workDir, task.jobId, task.bucket);
  if (done) return done;
  const manifests = (state.manifests ??= new Map());
  const key = `${task.workDir}\0${task.jobId}`;
  if (!manifests.has(key)) manifests.set(key, readManifest(task.workDir, task.jobId));
  const m = await manifests.get(key)!;
  if (!m || m.role !== 'requester' || !m.connect) throw new InputError(M.noManifest(task.jobId, task.workDir));
  if (!Number.isInteger(task.bucket) || task.bucket < 0 || task.bucket >= m.buckets) throw new InputError(M.noBucket(task.jobId, task.bucket));
  const identities = (state.identities ??= new Map());
  if (!identities.has(m.identityDir)) identities.set(m.identityDir, loadIdentity(m.identityDir, createReporter(false)));
  const identity = await identities.get(m.identityDir)!;
  const base = m.connect[(task.bucket + attempt) % m.connect.length]!;
  const signal = AbortSignal.any([state.signal, AbortSignal.timeout(state.timeoutMs)]);
  // The previous bucket's data is unreachable now: collect it before this bucket's arrives.
  collectGarbage();
  const loaded = m.sum ? undefined : await loadBucket(m, task.workDir, task.bucket, signal);
  const loadedSum = m.sum ? await loadSumBucket(m, task.workDir, task.bucket, signal) : undefined;
  const transport = await connectJob(base, m.jobId, `bucket/${task.bucket}`, state.timeoutMs, signal);
  try {
    const ctx = { workDir: task.workDir, identity, executor: state.executor, signal };
    if (loadedSum) return await runSumBucket(ctx, m, task.bucket, 'requester', transport, loadedSum);
    return await runBucket(ctx, m, task.bucket, 'requester', transport, loaded);
  } finally {
    await transport.close().catch(() => {});
  }
}

/** What `job submit` prepared before any connection. */
export interface SubmitContext {
  opts: JobSubmitOptions;
  identity: Identity;
  peerKey: Uint8Array;
  executor: CryptoExecutor;
  reporter: Reporter;
  progress: Progress;
  signal: AbortSignal;
  ledger?: Ledger;
  schedule?: PriceSchedule;
  budget?: BudgetPolicy;
}

function sameJob(m: JobManifest, o: JobSubmitOptions, peerKey: Uint8Array): string | undefined {
  if (m.role !== 'requester') return 'it is a responder job';
  if (m.buckets !== o.buckets) return `it has --buckets ${m.buckets}`;
  if (m.input !== o.input) return `its input is ${m.input}`;
  if ((m.query ?? '') !== (o.query ?? '')) return 'its --query differs';
  if (m.keyColumns.join(',') !== o.keyColumns.join(',')) return `its --key is ${m.keyColumns.join(',')}`;
  if (m.reveal !== o.reveal) return `it has --reveal ${m.reveal}`;
  if (m.countOnly !== o.countOnly) return m.countOnly ? 'it has --count-only' : 'it has no --count-only';
  if (m.truncate !== o.truncate) return `it has --truncate ${m.truncate}`;
  if ((m.suite ?? 'curve25519') !== o.suite) return `it has --suite ${m.suite ?? 'curve25519'}`;
  if (m.peerKey !== toBase64(peerKey)) return 'its peer key differs';
  if (m.purpose !== o.purpose) return 'its purpose differs';
  const sum = o.sum ? sumManifestOf(o.sum, 'requester') : undefined;
  if (JSON.stringify(sum ? sumTermsOf(sum) : null) !== JSON.stringify(m.sum ? sumTermsOf(m.sum) : null)) return 'its protocol or psi-sum options differ';
  if (sum && m.sum && JSON.stringify([sum.valueColumns, sum.decimals, sum.bounds]) !== JSON.stringify([m.sum.valueColumns, m.sum.decimals, m.sum.bounds])) return 'its value columns differ';
  return undefined;
}

/**
 * Opens the job: counts the input's records (the size this side declares), the job session (the
 * budget reserved with both declared sizes, held by `held` until the job's receipt is appended),
 * then partitions the input under the agreed key.
 */
async function openJob(ctx: SubmitContext, held: BudgetHook[]): Promise<JobManifest> {
  const { opts } = ctx;
  ctx.progress.phase('counting records', (await stat(opts.input).catch(() => ({ size: 0 }))).size, 'B');
  const declared = await countRecords(opts.input, opts.query, opts.keyColumns, { onBytes: (n) => ctx.progress.update(n), signal: ctx.signal });
  ctx.progress.end();
  const spec: PsiJobSpec = {
    jobId: opts.jobId,
    buckets: opts.buckets,
    keyColumns: opts.keyColumns.length,
    suite: opts.suite,
    terms: termsOf(opts),
  };
  const sum = opts.sum ? sumManifestOf(opts.sum, 'requester') : undefined;
  if (sum) spec.sum = sumTermsOf(sum);
  // The same rule as `dataport psi`: this side's records plus what the peer declared (a requester
  // knows only the responder's minimum, 0, when it checks).
  const budget = ctx.ledger && ctx.budget ? budgetCheck(ctx.ledger, ctx.budget, 'requester', declared) : undefined;
  if (budget) held.push(budget);
  const transport = await connectJob(opts.connect[0]!, opts.jobId, 'open', opts.timeoutMs, ctx.signal);
  let manifest: JobManifest | undefined;
  // Both sides partition at once, each with the agreed key (openPsiJob's `prepare`).
  const prepare = async (job: OpenedPsiJob, signal: AbortSignal) => {
    const m: JobManifest = {
      ...newJobManifest({ jobId: opts.jobId, role: 'requester', buckets: opts.buckets, job, peerKey: ctx.peerKey, opts, purpose: opts.purpose, declared, peerDeclared: job.responderSetSize }),
      connect: opts.connect,
      ...(sum ? { sum } : {}),
    };
    job.bucketKey.fill(0);
    ctx.progress.phase('partitioning input (both sides)', (await stat(opts.input).catch(() => ({ size: 0 }))).size, 'B');
    await partitionInput(opts.workDir, m, { onBytes: (n) => ctx.progress.update(n), signal });
    checkDeclared(m);
    if (sum?.holder === 'values') await prepareSumColumns(opts.workDir, m, signal);
    manifest = m;
  };
  try {
    ctx.progress.phase('opening job', 1, 'sessions');
    await openPsiJob({
      role: 'requester',
      transport,
      identity: ctx.identity,
      peerPublicKey: ctx.peerKey,
      spec,
      setSize: declared,
      signal: ctx.signal,
      prepare,
      ...(ctx.schedule ? { priceSchedule: ctx.schedule } : {}),
      ...(budget ? { beforeRun: budget } : {}),
    });
    ctx.progress.end();
  } finally {
    await transport.close().catch(() => {});
  }
  const m = manifest!;
  // Only a partitioned job has a manifest: a crash before this point opens the job again.
  await writeManifest(opts.workDir, m);
  return m;
}

async function countResults(workDir: string, jobId: string): Promise<number> {
  const names = await readdir(jobPaths(workDir, jobId).results).catch(() => [] as string[]);
  return names.filter((n) => n.endsWith('.json')).length;
}

/**
 * Waits for the queued buckets (their results appear in the work dir); fails with a failed task's
 * reason, or once Redis has been unreachable for `--queue-timeout` (a restart shorter than that is
 * waited out; the buckets' results stay in the work directory, so the same submit resumes).
 */
async function waitForQueue(ctx: SubmitContext, m: JobManifest, pending: number[]): Promise<number> {
  const { opts } = ctx;
  const queue = new Queue(QUEUE_NAME, { connection: redisOptions(opts.queue!) });
  queue.on('error', () => {}); // reported once per outage by the watch below
  let fatal: InputError | undefined;
  let onFatal: (err: InputError) => void = () => {};
  const dead = new Promise<never>((_, reject) => (onFatal = reject));
  dead.catch(() => {});
  const watch = watchRedis(opts.queue!, opts.queueTimeoutMs, {
    onDown: (why) => ctx.reporter.warn(M.queueUnreachable(queueLabel(opts.queue!), why, opts.queueTimeoutMs / 1000)),
    onTimeout: (err) => {
      fatal = err;
      onFatal(err);
    },
  });
  try {
    let tick = 0;
    for (;;) {
      const done = await countResults(opts.workDir, m.jobId);
      ctx.progress.update(done);
      if (done >= m.buckets) break;
      if (fatal) throw fatal;
      if (ctx.signal.aborted) throw new AbortError('interrupted');
      if (tick++ % 4 === 0 && watch.up) {
        // A command sent just as Redis goes away waits for it: bounded by the same timeout.
        const failed = await Promise.race([failedTask(queue, m.jobId, pending).catch(() => undefined), dead]);
        if (failed) throw new InputError(M.bucketFailed(m.jobId, failed.bucket, failed.reason));
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    const status = await queueJobStatus(opts.queue!, m.jobId, opts.queueTimeoutMs).catch(() => undefined);
    return status ? status.states.filter((s) => pending.includes(s.bucket)).reduce((n, s) => n + Math.max(0, s.attempts - 1), 0) : 0;
  } finally {
    watch.close();
    // Without Redis a graceful close would wait for it: drop the connection instead.
    if (fatal) void queue.disconnect().catch(() => {});
    else await queue.close().catch(() => {});
  }
}

async function closeJob(ctx: SubmitContext, m: JobManifest, distinctKeys: number, intersectionSize: number): Promise<UsageReceipt> {
  const { opts } = ctx;
  const transport = await connectJob(opts.connect[0]!, m.jobId, 'close', opts.timeoutMs, ctx.signal);
  try {
    return await closePsiJob({
      role: 'requester',
      transport,
      identity: ctx.identity,
      peerPublicKey: ctx.peerKey,
      spec: { jobId: m.jobId, buckets: m.buckets, keyColumns: m.keyColumns.length, suite: m.suite ?? 'curve25519', terms: termsOfManifest(m) },
      jobTerms: m.jobTerms,
      totals: { distinctKeys, intersectionSize },
      ...(m.peerDeclaredRecords !== undefined ? { peerDeclared: m.peerDeclaredRecords } : {}),
      signal: ctx.signal,
      ...(ctx.schedule ? { priceSchedule: ctx.schedule } : {}),
    });
  } finally {
    await transport.close().catch(() => {});
  }
}

async function closeSumJob(ctx: SubmitContext, m: JobManifest, results: readonly BucketResult[]): Promise<PsiSumJobOutcome> {
  const { opts } = ctx;
  const side = await sumCloseSide(m, results);
  const transport = await connectJob(opts.connect[0]!, m.jobId, 'close', opts.timeoutMs, ctx.signal);
  try {
    return await closePsiSumJob({
      role: 'requester',
      transport,
      identity: ctx.identity,
      peerPublicKey: ctx.peerKey,
      spec: { jobId: m.jobId, buckets: m.buckets, keyColumns: m.keyColumns.length, terms: termsOfManifest(m), sum: sumTermsOf(m.sum!) },
      jobTerms: m.jobTerms,
      totals: { distinctKeys: results.reduce((n, r) => n + r.distinctKeys, 0), intersectionSize: 0 },
      signal: ctx.signal,
      ...(ctx.schedule ? { priceSchedule: ctx.schedule } : {}),
      ...side,
    });
  } finally {
    await transport.close().catch(() => {});
  }
}

/** The `--json` summary of a finished job. */
export interface JobSubmitSummary {
  ok: true;
  jobId: string;
  buckets: number;
  bucketsRun: number;
  bucketsRetried: number;
  intersectionSize: number | null;
  inputRecords: number;
  distinctKeys: number;
  peerDistinctKeys: number;
  bytesSent: number;
  bytesReceived: number;
  ms: number;
  outputRows?: number;
  ledger?: { dir: string; index: number };
  /** psi-sum jobs: the result as psi-sum's `--json` prints it. */
  withheld?: boolean;
  sums?: Record<string, string> | null;
  means?: Record<string, string | null> | null;
}

/**
 * Runs `job submit` to its end (or, with `--detach`, until the buckets are queued).
 * @example
 * ```ts
 * const summary = await submitJob(ctx);
 * ```
 */
export async function submitJob(ctx: SubmitContext, startedAt: number): Promise<JobSubmitSummary | { ok: true; jobId: string; detached: true; buckets: number; pending: number }> {
  const held: BudgetHook[] = [];
  try {
    return await submitOpened(ctx, startedAt, held);
  } finally {
    // The budget reserved when the job opened stops counting once the job's receipt counts (or
    // the job failed); a --detach-ed job's reservation ends with this process (docs/jobs.md).
    for (const h of held) await h.release();
  }
}

async function submitOpened(ctx: SubmitContext, startedAt: number, held: BudgetHook[]): ReturnType<typeof submitJob> {
  const { opts } = ctx;
  await makeJobDir(opts.workDir, opts.jobId);
  let m = await readManifest(opts.workDir, opts.jobId);
  if (m) {
    const why = sameJob(m, opts, ctx.peerKey);
    if (why !== undefined) throw new InputError(M.exists(opts.jobId, opts.workDir, why));
    ctx.reporter.info(M.resuming(opts.jobId));
  } else {
    m = await openJob(ctx, held);
  }
  const pending: number[] = [];
  for (let b = 0; b < m.buckets; b++) if (!(await readBucketResult(opts.workDir, m.jobId, b))) pending.push(b);
  const tasks: BucketTask[] = pending.map((bucket) => ({ jobId: m.jobId, workDir: opts.workDir, bucket }));
  let retried = 0;
  ctx.progress.phase('buckets', m.buckets, 'buckets');
  ctx.progress.update(m.buckets - pending.length);
  if (opts.queue !== undefined) {
    await enqueueBuckets(opts.queue, tasks, m.buckets, opts.queueTimeoutMs).catch((err: unknown) => {
      throw new InputError(M.queueDown(queueLabel(opts.queue!), opts.queueTimeoutMs / 1000, String((err as Error)?.message ?? err)));
    });
    if (opts.detach) {
      ctx.progress.stop();
      ctx.reporter.info(M.queued(m.jobId, pending.length, m.buckets));
      return { ok: true, jobId: m.jobId, detached: true, buckets: m.buckets, pending: pending.length };
    }
    retried = await waitForQueue(ctx, m, pending);
  } else {
    let done = m.buckets - pending.length;
    const state: BucketWorkerState = { executor: ctx.executor, timeoutMs: opts.timeoutMs, signal: ctx.signal };
    ({ retried } = await runInProcess(tasks, async (t, attempt) => void (await runRequesterTask(state, t, attempt)), {
      concurrency: opts.concurrency,
      signal: ctx.signal,
      onDone: () => ctx.progress.update(++done),
      onRetry: (t, attempt, err) => ctx.reporter.warn(M.retry(t.bucket, String((err as Error)?.message ?? err), attempt)),
    }));
  }
  ctx.progress.end();

  const results: BucketResult[] = [];
  for (let b = 0; b < m.buckets; b++) {
    const r = await readBucketResult(opts.workDir, m.jobId, b);
    if (!r) throw new InputError(M.noResult(m.jobId, b));
    results.push(r);
  }
  const sum = (f: (r: BucketResult) => number) => results.reduce((n, r) => n + f(r), 0);
  const learned = results.every((r) => r.intersectionSize !== null);
  const intersectionSize = learned ? sum((r) => r.intersectionSize ?? 0) : null;
  const distinctKeys = sum((r) => r.distinctKeys);
  // Never more than declared (distinct keys ≤ rows with a key): a mismatch is a changed input or a bug.
  if (m.declaredRecords !== undefined && distinctKeys > m.declaredRecords) throw new InputError(M.overDeclared('requester', distinctKeys, m.declaredRecords));

  // The one co-signed receipt of the job, then the output. A responder that lost the result of
  // a bucket (killed between the bucket's receipt and its result file) names it: run it again here.
  let receipt;
  let sumOut: PsiSumJobOutcome | undefined;
  for (let round = 0; ; round++) {
    try {
      if (m.sum) {
        // Re-read: a bucket run again below has a new result.
        const now: BucketResult[] = [];
        for (let b = 0; b < m.buckets; b++) now.push((await readBucketResult(opts.workDir, m.jobId, b))!);
        sumOut = await closeSumJob(ctx, m, now);
        receipt = sumOut.receipt;
      } else receipt = await closeJob(ctx, m, distinctKeys, intersectionSize ?? 0);
      break;
    } catch (err) {
      const missing = err instanceof TermsRefusedError && err.message.startsWith(MISSING_BUCKETS) ? err.message.slice(MISSING_BUCKETS.length).split(',').map(Number) : [];
      if (missing.length === 0 || round >= 2) throw err;
      const state: BucketWorkerState = { executor: ctx.executor, timeoutMs: opts.timeoutMs, signal: ctx.signal };
      for (const b of missing) {
        if (!Number.isInteger(b) || b < 0 || b >= m.buckets) throw err;
        await rm(jobPaths(opts.workDir, m.jobId).result(b), { force: true });
      }
      const rerun = await runInProcess(missing.map((bucket) => ({ jobId: m.jobId, workDir: opts.workDir, bucket })), async (t, a) => void (await runRequesterTask(state, t, a)), {
        concurrency: opts.concurrency,
        signal: ctx.signal,
      });
      retried += missing.length + rerun.retried;
    }
  }
  let ledger: { dir: string; index: number } | undefined;
  if (ctx.ledger) {
    const { index } = await recordReceipt(ctx.ledger, receipt);
    ledger = { dir: ctx.ledger.dir, index };
  }
  let outputRows: number | undefined;
  if (opts.output !== undefined) {
    ctx.progress.phase('writing', 0, 'B');
    outputRows = await mergeOutput(opts.workDir, m, opts.output, { signal: ctx.signal, onBytes: (n) => ctx.progress.update(n) });
    ctx.progress.end();
  }
  if (sumOut?.resultRejected) throw new VerificationFailedError(M.sumRejected());
  return {
    ok: true,
    jobId: m.jobId,
    buckets: m.buckets,
    bucketsRun: pending.length,
    bucketsRetried: retried,
    intersectionSize: sumOut ? (sumOut.intersectionSize ?? null) : intersectionSize,
    ...(sumOut ? { withheld: sumOut.withheld, sums: sumOut.sums ?? null, means: sumOut.means ?? null } : {}),
    inputRecords: m.inputRecords,
    distinctKeys,
    peerDistinctKeys: sum((r) => r.peerDistinctKeys),
    bytesSent: sum((r) => r.bytesSent),
    bytesReceived: sum((r) => r.bytesReceived),
    ms: Math.round(performance.now() - startedAt),
    ...(outputRows !== undefined ? { outputRows } : {}),
    ...(ledger ? { ledger } : {}),
  };
}
