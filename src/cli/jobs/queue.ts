/**
 * The queues that run a job's bucket tasks (docs/jobs.md): BullMQ on Redis (`--queue
 * redis://HOST:PORT/DB`), or without `--queue` an in-process queue with the same semantics —
 * one task per bucket with the id `<job id>/<bucket>` (BullMQ forbids `:` in ids), retried with
 * exponential backoff, a refusal (terms, budget, guardrail) or a bad local input failing the job
 * at once. A finished bucket is never redone: the handler returns at once when the bucket's
 * result exists, so a task that runs twice (a stalled worker's task re-run by BullMQ) is harmless.
 * @module
 */
import { Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { DataportError, ErrorCode, InputError } from '../../errors.js';
import { JOB_MESSAGES as M } from '../messages.js';

/** The BullMQ queue every dataport job uses. */
export const QUEUE_NAME = 'dataport-psi-buckets';
/** Attempts per bucket task (the first run included). */
export const TASK_ATTEMPTS = 8;
/** First retry delay; doubled at every further attempt. */
export const TASK_BACKOFF_MS = 500;
/**
 * Default `--queue-timeout`: how long `job submit`, `job worker` and `job status` wait for an
 * unreachable Redis before they exit 1 naming the queue (long enough for a Redis restart).
 */
export const DEFAULT_QUEUE_TIMEOUT_MS = 30_000;
/** Delay between reconnection attempts to Redis. */
const RECONNECT_MS = 500;

/** One bucket of one job; the job's manifest in `workDir` says everything else. */
export interface BucketTask {
  jobId: string;
  workDir: string;
  bucket: number;
}

/** Runs a task; `attempt` counts from 0 (used to rotate among `--connect` URLs). */
export type BucketHandler = (task: BucketTask, attempt: number) => Promise<void>;

/**
 * The queue task id of a bucket.
 * @example
 * ```ts
 * taskId('city-2026-12', 7); // 'city-2026-12/7'
 * ```
 */
export function taskId(jobId: string, bucket: number): string {
  return `${jobId}/${bucket}`;
}

/** Errors that retrying cannot fix: the job fails at once. */
export function isFatal(err: unknown): boolean {
  if (err instanceof InputError) return true;
  if (!(err instanceof DataportError)) return false;
  return err.code === ErrorCode.TERMS_REFUSED || err.code === ErrorCode.GUARDRAIL_REFUSED || err.code === ErrorCode.LEDGER_INTEGRITY;
}

/** What a queue reports while a job runs. */
export interface QueueEvents {
  onRetry?: (task: BucketTask, attempt: number, err: unknown) => void;
  onDone?: (task: BucketTask) => void;
}

/**
 * The embedded queue: `concurrency` tasks at once in this process, the same retry rule as the
 * BullMQ queue. Resolves with the number of retries once every task finished; rejects with the
 * first fatal error (or the last error of a task that used all its attempts), after the tasks
 * already running have ended.
 *
 * @example
 * ```ts
 * const { retried } = await runInProcess(tasks, handler, { concurrency: 2 });
 * ```
 */
export async function runInProcess(
  tasks: readonly BucketTask[],
  handler: BucketHandler,
  o: { concurrency: number; attempts?: number; backoffMs?: number; signal?: AbortSignal } & QueueEvents,
): Promise<{ retried: number }> {
  const attempts = o.attempts ?? TASK_ATTEMPTS;
  const backoff = o.backoffMs ?? TASK_BACKOFF_MS;
  const pending = tasks.map((task) => ({ task, attempt: 0 }));
  let retried = 0;
  let failure: unknown;
  let delayed = 0;
  // Lanes with nothing to do wait for a retry to come due (or for the end).
  const idle: (() => void)[] = [];
  const wakeAll = () => {
    for (const w of idle.splice(0)) w();
  };
  const lane = async (): Promise<void> => {
    for (;;) {
      if (failure !== undefined || o.signal?.aborted) return;
      const next = pending.shift();
      if (next === undefined) {
        if (delayed === 0) return;
        await new Promise<void>((r) => idle.push(r));
        continue;
      }
      try {
        await handler(next.task, next.attempt);
        o.onDone?.(next.task);
      } catch (err) {
        if (isFatal(err) || next.attempt + 1 >= attempts || o.signal?.aborted) {
          failure ??= err;
          wakeAll();
          return;
        }
        retried++;
        o.onRetry?.(next.task, next.attempt + 1, err);
        delayed++;
        // Not unref'd: a pending retry keeps the process alive.
        setTimeout(() => {
          delayed--;
          pending.push({ task: next.task, attempt: next.attempt + 1 });
          wakeAll();
        }, backoff * 2 ** next.attempt);
      }
    }
  };
  const onAbort = () => wakeAll();
  o.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await Promise.all(Array.from({ length: Math.max(1, o.concurrency) }, lane));
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
  }
  if (failure !== undefined) throw failure;
  if (o.signal?.aborted) throw o.signal.reason;
  return { retried };
}

/**
 * ioredis options of a `--queue redis://HOST:PORT/DB` URL.
 * @example
 * ```ts
 * redisOptions('redis://127.0.0.1:6379/0'); // { host: '127.0.0.1', port: 6379, db: 0, … }
 * ```
 */
export function redisOptions(
  url: string,
  failAfterMs?: number,
): { host: string; port: number; db: number; maxRetriesPerRequest: null; retryStrategy?: (times: number) => number | null; password?: string; username?: string } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new InputError(M.queueUrl(url));
  }
  if (u.protocol !== 'redis:') throw new InputError(M.queueScheme(url));
  const db = u.pathname === '' || u.pathname === '/' ? 0 : Number(u.pathname.slice(1));
  if (!Number.isInteger(db) || db < 0 || db > 15) throw new InputError(M.queueDb());
  const port = u.port === '' ? 6379 : Number(u.port);
  return {
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port,
    db,
    // BullMQ needs it (blocking commands); a Redis restart is waited out, not an error.
    maxRetriesPerRequest: null,
    // One-shot commands (enqueue, status) give up after about `failAfterMs` without Redis instead
    // of waiting for ever; workers and a waiting submit keep reconnecting (a Redis restart) and
    // are bounded by watchRedis instead.
    ...(failAfterMs !== undefined ? { retryStrategy: (times: number) => (times * RECONNECT_MS > failAfterMs ? null : RECONNECT_MS) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
  };
}

/**
 * A `--queue` URL as messages show it: without its password.
 * @example
 * ```ts
 * queueLabel('redis://:s3cret@queue.internal:6379/0'); // 'redis://queue.internal:6379/0'
 * ```
 */
export function queueLabel(url: string): string {
  try {
    const u = new URL(url);
    u.password = '';
    u.username = '';
    return u.toString();
  } catch {
    return 'the --queue URL';
  }
}

/** What {@link watchRedis} returns. */
export interface RedisWatch {
  /** Whether Redis answered last. */
  readonly up: boolean;
  close(): void;
}

/**
 * Watches Redis for a long-running command (a waiting `job submit`, `job worker`): its own
 * connection, reconnecting every 0.5 s; `onDown` once per outage (with the driver's reason),
 * `onTimeout` once Redis has been unreachable for `timeoutMs` without a break — with the one-line
 * `InputError` naming the queue — so a Redis that does not come back ends the command instead of
 * leaving it waiting silently.
 * @example
 * ```ts
 * const watch = watchRedis(url, 30_000, { onTimeout: (err) => fail(err) });
 * ```
 */
export function watchRedis(url: string, timeoutMs: number, on: { onTimeout: (err: InputError) => void; onDown?: (why: string) => void }): RedisWatch {
  const r = new Redis({ ...redisOptions(url), enableOfflineQueue: false, retryStrategy: () => RECONNECT_MS });
  let up = false;
  let downSince: number | undefined = Date.now();
  let why = 'not connected yet';
  let told = false;
  let fired = false;
  r.on('ready', () => {
    up = true;
    downSince = undefined;
    told = false;
  });
  r.on('error', (err: Error) => (why = err.message || String(err)));
  r.on('close', () => {
    up = false;
    downSince ??= Date.now();
  });
  const timer = setInterval(() => {
    if (downSince === undefined || fired) return;
    if (!told && Date.now() - downSince >= RECONNECT_MS * 2) {
      told = true;
      on.onDown?.(why);
    }
    if (Date.now() - downSince >= timeoutMs) {
      fired = true;
      on.onTimeout(new InputError(M.queueDown(queueLabel(url), timeoutMs / 1000, why)));
    }
  }, 100);
  timer.unref();
  return {
    get up() {
      return up;
    },
    close() {
      clearInterval(timer);
      r.disconnect();
    },
  };
}

const jobKey = (jobId: string) => `dataport:job:${jobId}`;

async function withRedis<T>(url: string, failAfterMs: number, f: (r: Redis) => Promise<T>): Promise<T> {
  const r = new Redis(redisOptions(url, failAfterMs));
  // The driver's reason (e.g. ECONNREFUSED) is what the user needs, not "Connection is closed".
  let last: Error | undefined;
  r.on('error', (err: Error) => (last = err));
  try {
    return await f(r);
  } catch (err) {
    throw last !== undefined && r.status !== 'ready' ? new Error(last.message, { cause: err }) : err;
  } finally {
    r.disconnect();
  }
}

/**
 * Puts a job's unfinished buckets on the BullMQ queue. Idempotent: a task that exists is left
 * alone (waiting, running, done), a failed one is retried (a resubmitted job resumes).
 *
 * @example
 * ```ts
 * await enqueueBuckets('redis://127.0.0.1:6379/0', tasks, 64);
 * ```
 */
export async function enqueueBuckets(url: string, tasks: readonly BucketTask[], buckets: number, failAfterMs = DEFAULT_QUEUE_TIMEOUT_MS): Promise<void> {
  const queue = new Queue(QUEUE_NAME, { connection: redisOptions(url, failAfterMs) });
  queue.on('error', () => {}); // the command's own rejection says it
  try {
    const first = tasks[0];
    if (first !== undefined) await withRedis(url, failAfterMs, (r) => r.hset(jobKey(first.jobId), { buckets: String(buckets), workDir: first.workDir }));
    for (const task of tasks) {
      const id = taskId(task.jobId, task.bucket);
      const existing = await queue.getJob(id);
      if (existing) {
        const state = await existing.getState();
        if (state === 'failed') await existing.retry('failed');
        continue;
      }
      await queue.add('bucket', task, {
        jobId: id,
        attempts: TASK_ATTEMPTS,
        backoff: { type: 'exponential', delay: TASK_BACKOFF_MS },
        removeOnComplete: false,
        removeOnFail: false,
      });
    }
  } finally {
    await queue.close();
  }
}

/** Per-bucket state of a job on the queue. */
export interface QueueJobStatus {
  buckets: number;
  workDir: string;
  states: { bucket: number; state: string; attempts: number; failedReason?: string }[];
}

/**
 * The state of every bucket task of a job, or `undefined` when the queue does not know the job.
 * @example
 * ```ts
 * const s = await queueJobStatus('redis://127.0.0.1:6379/0', 'city-2026-12');
 * ```
 */
export async function queueJobStatus(url: string, jobId: string, failAfterMs = DEFAULT_QUEUE_TIMEOUT_MS): Promise<QueueJobStatus | undefined> {
  const queue = new Queue(QUEUE_NAME, { connection: redisOptions(url, failAfterMs) });
  queue.on('error', () => {}); // the command's own rejection says it
  try {
    const rec = await withRedis(url, failAfterMs, (r) => r.hgetall(jobKey(jobId)));
    if (!rec || rec['buckets'] === undefined) return undefined;
    const buckets = Number(rec['buckets']);
    const states: QueueJobStatus['states'] = [];
    for (let b = 0; b < buckets; b++) {
      const job = await queue.getJob(taskId(jobId, b));
      if (!job) {
        states.push({ bucket: b, state: 'unknown', attempts: 0 });
        continue;
      }
      const state = await job.getState();
      // A run cut off by a killed worker (stalled, put back by BullMQ) is not an attempt to BullMQ; it is one here.
      const attempts = job.attemptsMade + (job.stalledCounter ?? 0);
      states.push({ bucket: b, state, attempts, ...(job.failedReason ? { failedReason: job.failedReason } : {}) });
    }
    return { buckets, workDir: rec['workDir'] ?? '', states };
  } finally {
    await queue.close();
  }
}

/** The first failed task of a job (its reason), if any; `undefined` while Redis is unreachable. */
export async function failedTask(queue: Queue, jobId: string, buckets: readonly number[]): Promise<{ bucket: number; reason: string } | undefined> {
  for (const b of buckets) {
    const job = await queue.getJob(taskId(jobId, b));
    if (job && (await job.getState()) === 'failed') return { bucket: b, reason: job.failedReason ?? 'failed' };
  }
  return undefined;
}

/**
 * A BullMQ worker running bucket tasks with `handler`. A worker killed mid-task loses its lock
 * after `lockMs`; BullMQ's stalled check then puts the task back (up to 100 times) and another
 * worker runs it. Fatal errors fail the task without retry (`UnrecoverableError`).
 *
 * @example
 * ```ts
 * const worker = startQueueWorker('redis://127.0.0.1:6379/0', handler, { concurrency: 2 });
 * ```
 */
export function startQueueWorker(url: string, handler: BucketHandler, o: { concurrency: number; lockMs?: number }): Worker {
  const lockMs = o.lockMs ?? 30_000;
  return new Worker(
    QUEUE_NAME,
    async (job: Job) => {
      try {
        await handler(job.data as BucketTask, job.attemptsMade);
      } catch (err) {
        // Only a one-line message reaches Redis (failedReason), never a stack.
        const msg = err instanceof DataportError || err instanceof TypeError || err instanceof RangeError ? err.message : `internal error: ${String((err as Error)?.message ?? err)}`;
        if (isFatal(err)) throw new UnrecoverableError(msg);
        throw new Error(msg);
      }
    },
    {
      connection: redisOptions(url),
      concurrency: o.concurrency,
      lockDuration: lockMs,
      stalledInterval: Math.max(1000, Math.floor(lockMs / 2)),
      maxStalledCount: 100,
    },
  );
}

export { Queue };
