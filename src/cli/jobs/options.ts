/**
 * Options and help of `dataport job serve | submit | worker | status` (docs/cli.md, docs/jobs.md).
 * @module
 */
import { InputError } from '../../errors.js';
import { MAX_JOB_BUCKETS } from '../../session/run-job.js';
import {
  checkConnectUrl,
  choiceOption,
  intOption,
  parseColumnList,
  parseCommandArgs,
  parseHostPort,
  progressHelp,
  progressOption,
  purposeOption,
  PROGRESS_OPTION_SPECS,
  secondsOption,
  stringOption,
  type HostPort,
  type OptionSpec,
} from '../args.js';
import type { ProgressOptions } from '../progress.js';
import { DEFAULT_QUEUE_TIMEOUT_MS, redisOptions } from './queue.js';
import { checkInputOptions, isDatabaseOutput } from '../record-input.js';
import { databaseKindOf } from '../../sources/db-url.js';
import { parsePsiTermsOptions, PSI_TERMS_HELP, PSI_TERMS_OPTION_SPECS, type PsiCliOptions } from '../psi-options.js';
import { FILE_MESSAGES, JOB_MESSAGES as M, OPTION_MESSAGES, PSI_MESSAGES, PSI_SUM_MESSAGES } from '../messages.js';
import { setRefusalLog } from '../listen-loop.js';
import { parseValueOptions, VALUE_OPTION_SPECS, type ValueOptions } from '../value-options.js';

/**
 * `job serve`'s default `--handshake-timeout` (60 s, where `psi --listen` has 10 s): a bucket's keys
 * (2^18 for a 2^24 job in 64 buckets) are read and normalised after its connection arrives — the
 * path names the bucket — and that must fit in the deadline on a loaded machine. The connecting
 * side is still pinned, and admission still limits pending connections.
 */
export const JOB_HANDSHAKE_TIMEOUT_MS = 60_000;

/** Default bucket session limit (each bucket is one session). */
export const DEFAULT_BUCKET_TIMEOUT_MS = 600_000;
/** Default `--concurrency`: bucket sessions at once per process. */
export const DEFAULT_JOB_CONCURRENCY = 2;
/** Exit code of `job submit` when a psi-sum job's result was withheld (minimum cohort), as `psi-sum`'s. */
export const EXIT_JOB_WITHHELD = 3;

export const JOB_HELP = `usage: dataport job serve | submit | worker | status [options]

Bucketed, resumable PSI jobs (docs/jobs.md): both sides split their keys into B buckets with a
per-job keyed hash agreed in an authenticated job session; each bucket is its own authenticated
PSI session; finished buckets are kept in --work-dir and never redone; the output equals what one
'dataport psi' run writes; one co-signed job receipt per side.

dataport job serve --listen HOST:PORT --identity DIR --peer-key FILE --input SRC --key COL[,COL…]
                   --work-dir DIR [--reveal both] [--output FILE] [--ledger DIR] [--concurrency N]
  Responder: serves job, bucket and closing sessions until interrupted (several processes may
  serve the same --work-dir). --output (with --reveal both) is written when a job ends.

dataport job submit --connect ws://HOST:PORT[,ws://HOST:PORT…] --identity DIR --peer-key FILE
                    --input SRC --key COL[,COL…] --buckets B --work-dir DIR --output FILE --job-id ID
                    [--queue redis://HOST:PORT/DB] [--reveal both] [--ledger DIR] [--detach] [--json]
  Requester: opens the job (or resumes it: same --job-id and --work-dir), runs the buckets on the
  in-process queue (default) or puts them on the BullMQ queue for 'job worker' processes, then
  closes the job and writes --output. --detach (needs --queue) returns once the buckets are queued;
  run the same 'job submit' again to wait for them and finish the job.

dataport job worker --queue redis://HOST:PORT/DB [--concurrency N]
  Runs bucket tasks from the queue until interrupted (on any host that sees --work-dir's files).

dataport job status --queue redis://HOST:PORT/DB --job-id ID [--json]
  Per-bucket state of a queued job and a progress line.

SRC is a CSV file, or postgres://USER@HOST[:PORT]/DB or mysql://USER@HOST[:PORT]/DB with
--query 'SELECT …' (as for 'dataport psi'; give the query an ORDER BY: the output is written from
a second run of it, which must return the same rows in the same order, or nothing is written).

options:
  --reveal both|requester   who learns the intersection (default requester)
  --count-only              learn only the intersection's size (no --output); as for 'dataport
                            psi --count-only', and the requester also learns each bucket's count
${PSI_TERMS_HELP}
                            (--reveal, --count-only, --truncate and --suite are in the job's terms
                            and every bucket's; the responder refuses a job whose terms differ)
  --concurrency N           bucket sessions at once in this process (default ${DEFAULT_JOB_CONCURRENCY})
  --timeout SECONDS         limit of each bucket session (default ${DEFAULT_BUCKET_TIMEOUT_MS / 1000})
  --handshake-timeout SECONDS  (serve) time a connection has to authenticate (default ${JOB_HANDSHAKE_TIMEOUT_MS / 1000})
  --refusal-log FILE        (serve) also append each refused connection to FILE as a JSON line
                            (for dataport supervise --listener-log)
  --purpose TEXT            purpose / authorisation reference, in the job's terms and receipt
  --price-schedule FILE     bill the job receipt with this schedule (needs --ledger)
  --budget FILE             query budget checked once per job, when it opens, with the records
                            both sides declare (rows with a key: submit counts its input before
                            opening, serve when it starts); held until the job's receipt is
                            appended (needs --ledger)
  --queue-timeout SECONDS   (submit, worker, status) how long an unreachable Redis is waited for
                            (a restart shorter than this is waited out); then exit 1 with one
                            line naming --queue (default ${DEFAULT_QUEUE_TIMEOUT_MS / 1000}); a finished bucket stays finished:
                            the same command again resumes once Redis is back
  --lock-duration SECONDS   (worker) how long a task's lock lasts without renewal: a killed
                            worker's task is re-run after at most about this long (default 30)

psi-sum jobs (count, sums and means over the intersection; serve and submit):
  --protocol psi|psi-sum    the job's protocol (default psi; psi-sum when --values is given)
  --values COL[,COL...]     value holder: numeric columns to sum (the other side holds identifiers)
  --decimals COL=N[,...]    decimal places of a value column (default: the most found in the input)
  --bound COL=X[,...]       bound on |each value| and |each key's total| (default: the next power of
                            ten above the largest key total)
  --min-cohort K            below K matching keys in the WHOLE job the result is withheld on both
                            sides (exit code ${EXIT_JOB_WITHHELD} for job submit); a listener's is the minimum it accepts
  --dp-epsilon E            discrete-Laplace noise on the job's released count and sums (total ε E);
                            a listener's is the largest it accepts
  No bucket's sum is ever decrypted: each bucket's is masked with the value holder's share of a
  zero-sum mask, and only the job's total is released, once, when the job closes. A psi-sum job
  writes no --output file: the result is printed (and in --json).
${progressHelp()}
  --json                    one JSON summary line on stdout when the command ends
`;

interface Common extends Pick<PsiCliOptions, 'countOnly' | 'truncate' | 'suite'> {
  identityDir: string;
  peerKeyFile: string;
  input: string;
  /** `--query SQL` of a database `--input`. */
  query?: string;
  keyColumns: string[];
  workDir: string;
  reveal: 'requester' | 'both';
  ledgerDir?: string;
  priceScheduleFile?: string;
  budgetFile?: string;
  purpose: string;
  concurrency: number;
  timeoutMs: number;
  json: boolean;
  progress: Pick<ProgressOptions, 'mode' | 'intervalSeconds'>;
  /** A psi-sum job (`--protocol psi-sum` or `--values`): the value and guardrail options. */
  sum?: ValueOptions;
}

export interface JobServeOptions extends Common {
  listen: HostPort;
  output?: string;
  handshakeTimeoutMs: number;
}

export interface JobSubmitOptions extends Common {
  connect: string[];
  buckets: number;
  output?: string;
  jobId: string;
  queue?: string;
  detach: boolean;
  /** `--queue-timeout`: how long an unreachable Redis is waited for (ms). */
  queueTimeoutMs: number;
}

export interface JobWorkerOptions {
  queue: string;
  queueTimeoutMs: number;
  concurrency: number;
  lockMs: number;
  timeoutMs: number;
}

export interface JobStatusOptions {
  queue: string;
  queueTimeoutMs: number;
  jobId: string;
  json: boolean;
}

const COMMON_SPEC: Record<string, OptionSpec> = {
  identity: { type: 'string' },
  'peer-key': { type: 'string' },
  input: { type: 'string' },
  query: { type: 'string' },
  key: { type: 'string' },
  'work-dir': { type: 'string' },
  reveal: { type: 'string' },
  ledger: { type: 'string' },
  'price-schedule': { type: 'string' },
  budget: { type: 'string' },
  purpose: { type: 'string' },
  concurrency: { type: 'string' },
  timeout: { type: 'string' },
  json: { type: 'boolean' },
  output: { type: 'string' },
  ...PSI_TERMS_OPTION_SPECS,
  protocol: { type: 'string' },
  ...VALUE_OPTION_SPECS,
  ...PROGRESS_OPTION_SPECS,
  help: { type: 'boolean', short: 'h' },
};

function common(values: Record<string, unknown>): Common {
  const v = values as Parameters<typeof stringOption>[0];
  const o: Common = {
    identityDir: stringOption(v, 'identity', true),
    peerKeyFile: stringOption(v, 'peer-key', true),
    input: stringOption(v, 'input', true),
    keyColumns: parseColumnList(stringOption(v, 'key', true), 'key'),
    workDir: stringOption(v, 'work-dir', true),
    reveal: choiceOption(v, 'reveal', ['both', 'requester'] as const, 'requester'),
    ...parsePsiTermsOptions(v),
    purpose: purposeOption(v) ?? '',
    concurrency: intOption(v, 'concurrency', 1, 256, DEFAULT_JOB_CONCURRENCY),
    timeoutMs: secondsOption(v, 'timeout', DEFAULT_BUCKET_TIMEOUT_MS),
    json: v['json'] === true,
    progress: progressOption(v),
  };
  const query = stringOption(v, 'query');
  // The same inputs as `dataport psi` (a CSV file, or postgres:// / mysql:// with --query), checked alike.
  checkInputOptions(o.input, query);
  if (query !== undefined) o.query = query;
  const output = stringOption(v, 'output');
  if (output !== undefined && isDatabaseOutput(output)) throw new InputError(M.outputFileOnly());
  for (const [k, flag] of [
    ['ledgerDir', 'ledger'],
    ['priceScheduleFile', 'price-schedule'],
    ['budgetFile', 'budget'],
  ] as const) {
    const s = stringOption(v, flag);
    if (s !== undefined) o[k] = s;
  }
  for (const flag of ['price-schedule', 'budget'] as const) {
    if (v[flag] !== undefined && o.ledgerDir === undefined) throw new InputError(OPTION_MESSAGES.needsLedger(flag));
  }
  const sum = parseValueOptions(v);
  const protocol = choiceOption(v, 'protocol', ['psi', 'psi-sum'] as const, sum.valueColumns.length > 0 ? 'psi-sum' : 'psi');
  if (protocol === 'psi-sum') {
    for (const c of sum.valueColumns) if (o.keyColumns.includes(c)) throw new InputError(PSI_SUM_MESSAGES.keyAndValue(c));
    for (const flag of ['count-only', 'truncate', 'suite'] as const) {
      if (v[flag] !== undefined) throw new InputError(M.sumPsiOptionOnly(flag));
    }
    // The value holder's bucket files carry its value columns; a database input's carry only keys.
    if (sum.valueColumns.length > 0 && databaseKindOf(o.input) !== undefined) throw new InputError(M.sumValuesFromDatabase());
    o.sum = sum;
  } else {
    for (const flag of ['values', 'decimals', 'bound', 'min-cohort', 'dp-epsilon'] as const) {
      if (v[flag] !== undefined) throw new InputError(M.sumOptionOnly(flag));
    }
  }
  return o;
}

/**
 * Parses `job serve` options (`undefined` for `--help`).
 * @example
 * ```ts
 * const o = parseJobServeOptions(['--listen', '127.0.0.1:7400', …]);
 * ```
 */
export function parseJobServeOptions(argv: readonly string[]): JobServeOptions | undefined {
  const { values } = parseCommandArgs('job serve', argv, { ...COMMON_SPEC, listen: { type: 'string' }, 'handshake-timeout': { type: 'string' }, 'refusal-log': { type: 'string' } });
  if (values.help) return undefined;
  setRefusalLog(stringOption(values, 'refusal-log'));
  const o: JobServeOptions = {
    ...common(values),
    listen: parseHostPort(stringOption(values, 'listen', true), 'listen'),
    handshakeTimeoutMs: secondsOption(values, 'handshake-timeout', JOB_HANDSHAKE_TIMEOUT_MS),
  };
  const output = stringOption(values, 'output');
  if (output !== undefined) {
    if (o.sum) throw new InputError(M.sumNoOutput());
    if (o.countOnly) throw new InputError(PSI_MESSAGES.outputNeedsMatches('--output'));
    if (o.reveal !== 'both') throw new InputError(PSI_MESSAGES.outputNotLearned('--output'));
    o.output = output;
  }
  return o;
}

/**
 * Parses `job submit` options (`undefined` for `--help`).
 * @example
 * ```ts
 * const o = parseJobSubmitOptions(['--connect', 'ws://127.0.0.1:7400', '--buckets', '64', …]);
 * ```
 */
export function parseJobSubmitOptions(argv: readonly string[]): JobSubmitOptions | undefined {
  const { values } = parseCommandArgs('job submit', argv, {
    ...COMMON_SPEC,
    connect: { type: 'string' },
    buckets: { type: 'string' },
    'job-id': { type: 'string' },
    queue: { type: 'string' },
    'queue-timeout': { type: 'string' },
    detach: { type: 'boolean' },
  });
  if (values.help) return undefined;
  const connect = stringOption(values, 'connect', true).split(',');
  for (const c of connect) {
    const url = checkConnectUrl(c);
    if (url.pathname !== '/' || url.search !== '') throw new InputError(M.connectPath(c));
  }
  const jobId = stringOption(values, 'job-id', true);
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(jobId)) throw new InputError(M.jobId());
  const o: JobSubmitOptions = {
    ...common(values),
    connect: connect.map((c) => c.replace(/\/$/, '')),
    buckets: intOption(values, 'buckets', 1, MAX_JOB_BUCKETS, 0),
    jobId,
    detach: values.detach === true,
    queueTimeoutMs: secondsOption(values, 'queue-timeout', DEFAULT_QUEUE_TIMEOUT_MS),
  };
  if (values.buckets === undefined) throw new InputError('missing required option --buckets B');
  const output = stringOption(values, 'output');
  if (o.sum) {
    if (output !== undefined) throw new InputError(M.sumNoOutput());
  } else {
    // --count-only learns no rows: no --output (as for psi); otherwise the job's rows go somewhere.
    if (output !== undefined && o.countOnly) throw new InputError(PSI_MESSAGES.outputNeedsMatches('--output'));
    if (output === undefined && !o.countOnly) throw new InputError(M.outputNeeded());
    if (output !== undefined && output === o.input) throw new InputError(FILE_MESSAGES.outputIsInput());
    if (output !== undefined) o.output = output;
  }
  const queue = stringOption(values, 'queue');
  if (queue !== undefined) {
    redisOptions(queue);
    o.queue = queue;
  }
  if (o.detach && o.queue === undefined) throw new InputError(M.detachNeedsQueue());
  return o;
}

/**
 * Parses `job worker` options (`undefined` for `--help`).
 * @example
 * ```ts
 * const o = parseJobWorkerOptions(['--queue', 'redis://127.0.0.1:6379/0']);
 * ```
 */
export function parseJobWorkerOptions(argv: readonly string[]): JobWorkerOptions | undefined {
  const { values } = parseCommandArgs('job worker', argv, {
    queue: { type: 'string' },
    'queue-timeout': { type: 'string' },
    concurrency: { type: 'string' },
    'lock-duration': { type: 'string' },
    timeout: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) return undefined;
  const queue = stringOption(values, 'queue', true);
  redisOptions(queue);
  return {
    queue,
    queueTimeoutMs: secondsOption(values, 'queue-timeout', DEFAULT_QUEUE_TIMEOUT_MS),
    concurrency: intOption(values, 'concurrency', 1, 256, DEFAULT_JOB_CONCURRENCY),
    lockMs: secondsOption(values, 'lock-duration', 30_000),
    timeoutMs: secondsOption(values, 'timeout', DEFAULT_BUCKET_TIMEOUT_MS),
  };
}

/**
 * Parses `job status` options (`undefined` for `--help`).
 * @example
 * ```ts
 * const o = parseJobStatusOptions(['--queue', 'redis://127.0.0.1:6379/0', '--job-id', 'j1']);
 * ```
 */
export function parseJobStatusOptions(argv: readonly string[]): JobStatusOptions | undefined {
  const { values } = parseCommandArgs('job status', argv, {
    queue: { type: 'string' },
    'queue-timeout': { type: 'string' },
    'job-id': { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) return undefined;
  const queue = stringOption(values, 'queue', true);
  redisOptions(queue);
  return { queue, queueTimeoutMs: secondsOption(values, 'queue-timeout', DEFAULT_QUEUE_TIMEOUT_MS), jobId: stringOption(values, 'job-id', true), json: values.json === true };
}
