/**
 * `dataport job serve | submit | worker | status`: bucketed, resumable PSI jobs (docs/jobs.md).
 * @module
 */
import { DataportError, InputError } from '../../errors.js';
import type { Ledger } from '../../ledger/file-ledger.js';
import type { Identity } from '../../session/identity.js';
import { PSI_JOB_PROTOCOL_NAME, PSI_SUM_JOB_PROTOCOL_NAME } from '../../session/run-job.js';
import { createWorkerPool } from '../../workers/index.js';
import { checkOutputPath } from '../files.js';
import { loadIdentity, loadPeerKey } from '../identity-files.js';
import { serveListener } from '../listen-loop.js';
import { loadBudgetPolicy, loadPriceSchedule, openCliLedger } from '../ledger-wiring.js';
import { createProgress } from '../progress.js';
import { cliSignal } from '../signals.js';
import { createReporter, type Reporter } from '../summary.js';
import {
  EXIT_JOB_WITHHELD,
  JOB_HELP,
  parseJobServeOptions,
  parseJobStatusOptions,
  parseJobSubmitOptions,
  parseJobWorkerOptions,
  type JobServeOptions,
  type JobSubmitOptions,
} from '../jobs/options.js';
import { queueJobStatus, queueLabel, startQueueWorker, watchRedis } from '../jobs/queue.js';
import { runRequesterTask, submitJob, type BucketWorkerState } from '../jobs/requester.js';
import { serveJobSession, type ServeContext } from '../jobs/responder.js';
import { countRecords } from '../jobs/work-dir.js';
import { JOB_MESSAGES as M, PSI_MESSAGES, PSI_SUM_MESSAGES, SESSION_ERROR_HINTS } from '../messages.js';

function oneLine(err: unknown): string {
  return String((err as Error)?.message ?? err).replace(/\s*\n\s*/g, ' ');
}

function openLedgerFor(dir: string | undefined, identity: Identity): Promise<Ledger | undefined> {
  return dir === undefined ? Promise.resolve(undefined) : openCliLedger(dir, identity);
}

async function policies(opts: JobServeOptions | JobSubmitOptions) {
  return {
    ...(opts.priceScheduleFile !== undefined ? { schedule: await loadPriceSchedule(opts.priceScheduleFile, opts.sum ? PSI_SUM_JOB_PROTOCOL_NAME : PSI_JOB_PROTOCOL_NAME) } : {}),
    ...(opts.budgetFile !== undefined ? { budget: await loadBudgetPolicy(opts.budgetFile) } : {}),
  };
}

async function serve(argv: string[]): Promise<number> {
  const opts = parseJobServeOptions(argv);
  if (!opts) return help();
  const reporter = createReporter(opts.json);
  const pol = await policies(opts);
  const identity = await loadIdentity(opts.identityDir, reporter);
  const peerKey = await loadPeerKey(opts.peerKeyFile);
  if (opts.output !== undefined) await checkOutputPath(opts.output);
  // The size this side declares in every job (docs/jobs.md): counted once now, before listening.
  reporter.info(M.counting(opts.input));
  const records = await countRecords(opts.input, opts.query, opts.keyColumns, { signal: cliSignal });
  reporter.info(M.counted(opts.input, records));
  const ledger = await openLedgerFor(opts.ledgerDir, identity);
  const executor = await createWorkerPool({ workers: opts.concurrency });
  const ctx: ServeContext = { opts, identity, peerKey, executor, declared: { records }, held: new Map(), ...(ledger ? { ledger } : {}), ...pol };
  try {
    const r = await serveListener(
      {
        listen: opts.listen,
        limits: { overallTimeoutMs: opts.timeoutMs, idleTimeoutMs: Math.min(120_000, opts.timeoutMs) },
        handshakeTimeoutMs: opts.handshakeTimeoutMs,
        // The bucket sessions, and one more for a job's opening or closing meanwhile.
        maxSessions: opts.concurrency + 1,
        // One requester host opens a session per bucket: more than `psi`'s per-address default.
        rateLimit: { burst: 16 + 4 * (opts.concurrency + 1), perSecond: 4 * (opts.concurrency + 1) },
        keepServing: true,
        run: (transport, _who, path) => serveJobSession(ctx, transport, path, AbortSignal.any([cliSignal, AbortSignal.timeout(opts.timeoutMs)])),
        onServed: ({ result, error }, who) => {
          if (error !== undefined || !result) {
            process.stderr.write(`${M.sessionFailed(who, oneLine(error))}\n`);
            return;
          }
          if (result.kind === 'open') reporter.info(M.opened(result.jobId, result.rows, result.buckets));
          else if (result.kind === 'bucket') {
            if (opts.progress.mode === 'lines') reporter.info(M.bucketDone(result.jobId, result.bucket));
          } else if (result.sum) {
            // A psi-sum job: what was released to this side, as `dataport psi-sum` prints it.
            const s = result.sum;
            if (s.withheld) reporter.info(M.sumWithheld(result.jobId, Number(/^k=(\d+)$/.exec(s.receipt.body.guardrails.find((g) => g.rule === 'min-cohort')?.detail ?? '')?.[1] ?? 0)));
            else reportSum(reporter, M.sumClosed(result.jobId, result.buckets, result.distinctKeys, result.peerDistinctKeys), s, result.distinctKeys, result.peerDistinctKeys);
            if (result.ledger) reporter.info(M.receiptAppended(result.ledger.dir, result.ledger.index));
            reporter.json({
              ok: true,
              role: 'responder',
              jobId: result.jobId,
              buckets: result.buckets,
              withheld: s.withheld,
              intersectionSize: s.withheld ? null : (s.intersectionSize ?? null),
              sums: s.withheld ? null : (s.sums ?? null),
              means: s.withheld ? null : (s.means ?? null),
              inputRecords: result.inputRecords,
              distinctKeys: result.distinctKeys,
              peerDistinctKeys: result.peerDistinctKeys,
              receipt: result.receipt,
              ledger: result.ledger ?? null,
            });
          } else {
            reporter.info(M.closed(result.jobId, result.buckets, result.intersectionSize, result.distinctKeys, result.peerDistinctKeys));
            if (result.outputRows !== undefined) reporter.info(PSI_MESSAGES.wroteRows(result.outputRows, opts.output!));
            if (result.ledger) reporter.info(M.receiptAppended(result.ledger.dir, result.ledger.index));
            reporter.json({
              ok: true,
              role: 'responder',
              jobId: result.jobId,
              buckets: result.buckets,
              intersectionSize: result.intersectionSize,
              inputRecords: result.inputRecords,
              distinctKeys: result.distinctKeys,
              peerDistinctKeys: result.peerDistinctKeys,
              outputRows: result.outputRows ?? null,
              receipt: result.receipt,
              ledger: result.ledger ?? null,
            });
          }
        },
      },
      (server) => process.stderr.write(`listening on ${server.address().url}\n`),
    );
    if ('error' in r && !cliSignal.aborted) throw r.error;
    return 0;
  } finally {
    for (const h of ctx.held.values()) await h.release();
    await executor.close().catch(() => {});
    await ledger?.close();
    identity.secretKey.fill(0);
  }
}

async function submit(argv: string[]): Promise<number> {
  const startedAt = performance.now();
  const opts = parseJobSubmitOptions(argv);
  if (!opts) return help();
  const reporter: Reporter = createReporter(opts.json);
  const pol = await policies(opts);
  const identity = await loadIdentity(opts.identityDir, reporter);
  const peerKey = await loadPeerKey(opts.peerKeyFile);
  if (opts.output !== undefined) await checkOutputPath(opts.output);
  const ledger = await openLedgerFor(opts.ledgerDir, identity);
  const progress = createProgress(opts.progress);
  const executor = await createWorkerPool({ workers: opts.concurrency });
  try {
    const summary = await submitJob({ opts, identity, peerKey, executor, reporter, progress, signal: cliSignal, ...(ledger ? { ledger } : {}), ...pol }, startedAt);
    if (!('detached' in summary) && summary.withheld !== undefined) {
      // A psi-sum job: the result as `dataport psi-sum` prints it; withheld → exit code 3.
      if (summary.withheld) {
        reporter.info(M.sumWithheld(summary.jobId, opts.sum!.minCohort));
        if (summary.ledger) reporter.info(M.receiptAppended(summary.ledger.dir, summary.ledger.index));
        reporter.json({ ...summary, intersectionSize: null, sums: null, means: null } as unknown as Record<string, unknown>);
        return EXIT_JOB_WITHHELD;
      }
      reportSum(reporter, M.sumFinished(summary.jobId, summary.buckets, summary.bucketsRun, summary.bucketsRetried), summary, summary.distinctKeys, summary.peerDistinctKeys);
      if (summary.ledger) reporter.info(M.receiptAppended(summary.ledger.dir, summary.ledger.index));
    } else if (!('detached' in summary)) {
      reporter.info(M.finished(summary.jobId, summary.buckets, summary.bucketsRun, summary.bucketsRetried, summary.intersectionSize, summary.distinctKeys, summary.peerDistinctKeys));
      if (summary.outputRows !== undefined) reporter.info(PSI_MESSAGES.wroteRows(summary.outputRows, opts.output!));
      if (summary.ledger) reporter.info(M.receiptAppended(summary.ledger.dir, summary.ledger.index));
    }
    reporter.json(summary as unknown as Record<string, unknown>);
    return 0;
  } catch (err) {
    if (!(err instanceof DataportError)) throw err;
    const hint = err instanceof InputError ? '' : (SESSION_ERROR_HINTS[err.code] ?? '');
    throw new DataportError(err.code, M.failed(opts.jobId, `${hint}${err.message}`), { cause: err });
  } finally {
    progress.stop();
    await executor.close().catch(() => {});
    await ledger?.close();
    identity.secretKey.fill(0);
  }
}

async function worker(argv: string[]): Promise<number> {
  const opts = parseJobWorkerOptions(argv);
  if (!opts) return help();
  const executor = await createWorkerPool({ workers: opts.concurrency });
  const state: BucketWorkerState = { executor, timeoutMs: opts.timeoutMs, signal: cliSignal };
  const w = startQueueWorker(opts.queue, async (task, attempt) => void (await runRequesterTask(state, task, attempt)), {
    concurrency: opts.concurrency,
    lockMs: opts.lockMs,
  });
  w.on('error', () => {}); // reported once per outage by the watch below
  w.on('failed', (job, err) => {
    if (job) process.stderr.write(`${M.taskFailed(String(job.id), job.attemptsMade, oneLine(err))}\n`);
  });
  // A Redis restart is waited out (ioredis reconnects); one that takes longer than
  // --queue-timeout ends the worker with one line (a task it was running is re-run elsewhere).
  let fatal: InputError | undefined;
  let wake = () => {};
  const watch = watchRedis(opts.queue, opts.queueTimeoutMs, {
    onDown: (why) => process.stderr.write(`dataport: warning: ${M.queueUnreachable(queueLabel(opts.queue), why, opts.queueTimeoutMs / 1000)}\n`),
    onTimeout: (err) => {
      fatal = err;
      wake();
    },
  });
  process.stderr.write(`${M.workerWaiting(process.pid)}\n`);
  try {
    await new Promise<void>((resolve) => {
      wake = resolve;
      if (cliSignal.aborted) resolve();
      cliSignal.addEventListener('abort', () => resolve(), { once: true });
    });
    if (fatal) throw fatal;
    return 0;
  } finally {
    watch.close();
    if (fatal) void w.close(true).catch(() => {});
    else await w.close().catch(() => {});
    await executor.close().catch(() => {});
  }
}

async function status(argv: string[]): Promise<number> {
  const opts = parseJobStatusOptions(argv);
  if (!opts) return help();
  const reporter = createReporter(opts.json);
  const s = await queueJobStatus(opts.queue, opts.jobId, opts.queueTimeoutMs).catch((err: unknown) => {
    throw err instanceof DataportError ? err : new InputError(M.queueDown(queueLabel(opts.queue), opts.queueTimeoutMs / 1000, oneLine(err)));
  });
  if (!s) throw new InputError(M.notQueued(opts.jobId, opts.queue));
  const count = (state: string) => s.states.filter((x) => x.state === state).length;
  const done = count('completed');
  for (const x of s.states) reporter.info(M.statusBucket(x.bucket, x.state, x.attempts, x.failedReason));
  const width = 30;
  const filled = Math.round((done / s.buckets) * width);
  reporter.info(M.statusBar(`${'#'.repeat(filled)}${'.'.repeat(width - filled)}`, done, s.buckets, count('active'), count('waiting') + count('delayed') + count('prioritized'), count('failed')));
  reporter.json({ ok: true, jobId: opts.jobId, buckets: s.buckets, done, active: count('active'), failed: count('failed'), states: s.states });
  return 0;
}

/** Prints a psi-sum job's released result as `dataport psi-sum` does. */
function reportSum(
  reporter: Reporter,
  head: string,
  s: { intersectionSize?: number | null; sums?: Record<string, string> | null; means?: Record<string, string | null> | null },
  mine: number,
  peer: number,
): void {
  reporter.info(head);
  const size = s.intersectionSize ?? undefined;
  reporter.info(size === undefined ? PSI_SUM_MESSAGES.peerReceives(mine, peer) : PSI_SUM_MESSAGES.intersection(size, mine, peer));
  if (s.sums) for (const [name, sum] of Object.entries(s.sums)) reporter.info(PSI_SUM_MESSAGES.columnSum(name, sum, s.means?.[name]));
}

function help(): number {
  console.log(JOB_HELP);
  return 0;
}

/**
 * Runs `dataport job …`; returns the exit code.
 * @example
 * ```ts
 * process.exitCode = await run(['status', '--queue', 'redis://127.0.0.1:6379/0', '--job-id', 'j1']);
 * ```
 */
export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'serve':
      return serve(rest);
    case 'submit':
      return submit(rest);
    case 'worker':
      return worker(rest);
    case 'status':
      return status(rest);
    case undefined:
    case '--help':
    case '-h':
      return help();
    default:
      throw new InputError(M.unknownCommand(sub));
  }
}
