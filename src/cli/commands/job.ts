/**
 * `dataport job serve | submit | worker | status`: bucketed, resumable PSI jobs (docs/jobs.md).
 * @module
 */
import { DataportError, InputError } from '../../errors.js';
import { openLedger, type Ledger } from '../../ledger/file-ledger.js';
import { PSI_JOB_PROTOCOL_NAME } from '../../session/run-job.js';
import { createWorkerPool } from '../../workers/index.js';
import { checkOutputPath } from '../files.js';
import { loadIdentity, loadPeerKey } from '../identity-files.js';
import { serveListener } from '../listen-loop.js';
import { loadBudgetPolicy, loadPriceSchedule } from '../ledger-wiring.js';
import { createProgress } from '../progress.js';
import { cliSignal } from '../signals.js';
import { createReporter, type Reporter } from '../summary.js';
import {
  JOB_HELP,
  parseJobServeOptions,
  parseJobStatusOptions,
  parseJobSubmitOptions,
  parseJobWorkerOptions,
  type JobServeOptions,
  type JobSubmitOptions,
} from '../jobs/options.js';
import { queueJobStatus, startQueueWorker } from '../jobs/queue.js';
import { runRequesterTask, submitJob, type BucketWorkerState } from '../jobs/requester.js';
import { serveJobSession, type ServeContext } from '../jobs/responder.js';
import { jobFailedMessage, jobSessionFailedMessage, SESSION_ERROR_HINTS } from '../messages.js';

function oneLine(err: unknown): string {
  return String((err as Error)?.message ?? err).replace(/\s*\n\s*/g, ' ');
}

async function openLedgerFor(dir: string | undefined, identity: Parameters<typeof openLedger>[1]['owner']): Promise<Ledger | undefined> {
  if (dir === undefined) return undefined;
  try {
    return await openLedger(dir, { owner: identity });
  } catch (err) {
    if (err instanceof DataportError) throw new DataportError(err.code, `--ledger ${dir}: ${err.message}`, { cause: err });
    throw new InputError(`--ledger ${dir}: cannot open (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

async function policies(opts: JobServeOptions | JobSubmitOptions) {
  return {
    ...(opts.priceScheduleFile !== undefined ? { schedule: await loadPriceSchedule(opts.priceScheduleFile, PSI_JOB_PROTOCOL_NAME) } : {}),
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
  const ledger = await openLedgerFor(opts.ledgerDir, identity);
  const executor = await createWorkerPool({ workers: opts.concurrency });
  const ctx: ServeContext = { opts, identity, peerKey, executor, ...(ledger ? { ledger } : {}), ...pol };
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
            process.stderr.write(`${jobSessionFailedMessage(who, oneLine(error))}\n`);
            return;
          }
          if (result.kind === 'open') reporter.info(`job ${result.jobId}: opened, ${result.rows} rows partitioned into ${result.buckets} buckets`);
          else if (result.kind === 'bucket') {
            if (opts.progress.mode === 'lines') reporter.info(`job ${result.jobId}: bucket ${result.bucket} done`);
          } else {
            reporter.info(
              `job ${result.jobId}: completed, ${result.buckets} buckets; ${result.intersectionSize === null ? 'this side learns only the set sizes' : `intersection ${result.intersectionSize}`} (mine: ${result.distinctKeys} distinct keys, peer: ${result.peerDistinctKeys})`,
            );
            if (result.outputRows !== undefined) reporter.info(`wrote ${result.outputRows} rows to ${opts.output}`);
            if (result.ledger) reporter.info(`job receipt appended to ${result.ledger.dir} (entry ${result.ledger.index})`);
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
    if (!('detached' in summary)) {
      reporter.info(
        `job ${summary.jobId}: ${summary.buckets} buckets (${summary.bucketsRun} run now, ${summary.bucketsRetried} retries); ${summary.intersectionSize === null ? 'intersection not revealed to this side' : `intersection ${summary.intersectionSize}`} of ${summary.distinctKeys} distinct keys (peer: ${summary.peerDistinctKeys})`,
      );
      if (summary.outputRows !== undefined) reporter.info(`wrote ${summary.outputRows} rows to ${opts.output}`);
      if (summary.ledger) reporter.info(`job receipt appended to ${summary.ledger.dir} (entry ${summary.ledger.index})`);
    }
    reporter.json(summary as unknown as Record<string, unknown>);
    return 0;
  } catch (err) {
    if (!(err instanceof DataportError)) throw err;
    const hint = err instanceof InputError ? '' : (SESSION_ERROR_HINTS[err.code] ?? '');
    throw new DataportError(err.code, jobFailedMessage(opts.jobId, `${hint}${err.message}`), { cause: err });
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
  // Redis going away is waited out (ioredis reconnects); say so once per outage.
  let down = false;
  w.on('error', (err) => {
    if (!down) process.stderr.write(`dataport: queue unreachable (${oneLine(err)}); retrying\n`);
    down = true;
  });
  w.on('ready', () => (down = false));
  w.on('failed', (job, err) => {
    if (job) process.stderr.write(`dataport: task ${job.id} failed (attempt ${job.attemptsMade}): ${oneLine(err)}\n`);
  });
  process.stderr.write(`worker ${process.pid} waiting for bucket tasks\n`);
  try {
    await new Promise<void>((resolve) => {
      if (cliSignal.aborted) resolve();
      cliSignal.addEventListener('abort', () => resolve(), { once: true });
    });
    return 0;
  } finally {
    await w.close().catch(() => {});
    await executor.close().catch(() => {});
  }
}

async function status(argv: string[]): Promise<number> {
  const opts = parseJobStatusOptions(argv);
  if (!opts) return help();
  const reporter = createReporter(opts.json);
  const s = await queueJobStatus(opts.queue, opts.jobId);
  if (!s) throw new InputError(`job ${opts.jobId}: not on the queue ${opts.queue}`);
  const count = (state: string) => s.states.filter((x) => x.state === state).length;
  const done = count('completed');
  for (const x of s.states) reporter.info(`bucket ${x.bucket}: ${x.state}${x.attempts > 1 ? ` (${x.attempts} attempts)` : ''}${x.failedReason ? `: ${x.failedReason}` : ''}`);
  const width = 30;
  const filled = Math.round((done / s.buckets) * width);
  reporter.info(`[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${s.buckets} buckets done, ${count('active')} running, ${count('waiting') + count('delayed') + count('prioritized')} waiting, ${count('failed')} failed`);
  reporter.json({ ok: true, jobId: opts.jobId, buckets: s.buckets, done, active: count('active'), failed: count('failed'), states: s.states });
  return 0;
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
      throw new InputError(`unknown job command '${sub}' (serve, submit, worker or status)`);
  }
}
