/**
 * `dataport aggregate serve|analyst|provide`: multi-party homomorphic aggregation over WebSocket
 * (docs/aggregate.md). The port operator runs `serve`; each hospital runs `provide` on its CSV file;
 * the analyst runs `analyst` with a query file and receives only the total.
 *
 * Every connection runs the session layer (src/session/run-aggregate.ts): the operator is the
 * responder and pins the analyst's and providers' keys (or `--allow-any-peer`), each participant
 * pins the operator's key (`--peer-key`), roles come from the signed terms, frames travel MAC'd,
 * and every link ends with a receipt that the operator and that participant both sign (appended to
 * `--ledger` on each side). `serve` speaks `wss://` with `--tls-cert/--tls-key`.
 * @module
 */
import { stat } from 'node:fs/promises';
import { DataportError, InputError, MalformedMessageError } from '../../errors.js';
import {
  AGGREGATE_MAX_FRAME_BYTES,
  AGGREGATE_QUERY_LIMITS,
  AbortReason,
  MIN_QUORUM_FLOOR,
  createLocalAggregator,
  AGGREGATE_RESULT_COLUMNS,
  aggregateResultRows,
  formatAggregateResult,
  parseAggregateQuery,
  requiredColumns,
  type AggregateQuery,
} from '../../protocols/aggregate/index.js';
import type { BudgetPolicy } from '../../ledger/budget.js';
import type { Ledger } from '../../ledger/file-ledger.js';
import type { PriceSchedule } from '../../ledger/pricing.js';
import type { UsageReceipt } from '../../ledger/receipt-types.js';
import type { Identity } from '../../session/identity.js';
import {
  AGGREGATE_PROTOCOL_NAME,
  createAggregateOperator,
  runAggregateAnalyst,
  runAggregateProvider,
} from '../../session/run-aggregate.js';
import { offeredColumnsTermsOptions } from '../../session/column-schema.js';
import type { WebSocketLimits } from '../../transport/websocket-core.js';
import { connectWebSocket, listenWebSocket } from '../../transport/websocket-node.js';
import { DEFAULT_HANDSHAKE_TIMEOUT_MS, DEFAULT_LISTEN_TIMEOUT_MS, LISTENER_MAX_PENDING, reportRejected, setRefusalLog } from '../listen-loop.js';
import { toBase64, toHex } from '../../utils/bytes.js';
import {
  checkConnectUrl,
  choiceOption,
  intOption,
  parseColumnList,
  parseCommandArgs,
  parseHostPort,
  PROGRESS_OPTION_SPECS,
  progressHelp,
  progressOption,
  purposeOption,
  secondsOption,
  stringOption,
  type ParsedOptions,
} from '../args.js';
import { createProgress, progressHook, type Progress } from '../progress.js';
import { resolveColumns } from '../../sources/csv-scan.js';
import { checkInputOptions, checkOutputOptions, isDatabaseOutput, openInput, preflightTable, rowPlaceMessage } from '../record-input.js';
import { openTableSink } from '../../sources/database.js';
import { databaseKindOf } from '../../sources/db-url.js';
import { checkOutputPath, openAtomicOutput } from '../files.js';
import { AGGREGATE_ERROR_HINTS, AGGREGATE_MESSAGES as M, CSV_MESSAGES, DATABASE_MESSAGES, FILE_MESSAGES, OPTION_MESSAGES as O, SESSION_MESSAGES, TRACE_MESSAGES } from '../messages.js';
import { loadIdentity, loadNamedKeys, loadPeerKey, readTextFile } from '../identity-files.js';
import { budgetCheck, loadBudgetPolicy, loadPriceSchedule, noteAbortedRun, openCliLedger, recordReceipt } from '../ledger-wiring.js';
import { resultReleaseReceiptBody } from '../../ledger/release-records.js';
import { signOneSidedReceipt } from '../../ledger/receipt.js';
import { fingerprintSecretFromIdentity, resultRelease, VALUE_TAG_BYTES } from '../../protocols/fingerprint/index.js';
import { sha256 } from '../../crypto/sha256.js';
import { resultFileValues } from './release.js';
import { cliSignal } from '../signals.js';
import { parseEpsilon } from '../../protocols/guardrails.js';
import { createReporter, databaseLabel, receiptSource, securitySummary, sourceSummary, type Reporter } from '../summary.js';
import { availableCores } from '../../platform/node.js';
import { createWorkerPool, MAX_WORKERS, type WorkerPool } from '../../workers/index.js';
import { encryptBatch } from '../../he/batch.js';

/**
 * `provide --workers auto`: the fewest ciphertexts for which a contribution is encrypted through a
 * worker pool. Below it the main thread does it: a pool started for a few ciphertexts costs more
 * (worker start, SEAL loaded again in the worker) than it saves. Chosen from bench/he.mjs
 * (docs/aggregate.md, "Workers"): a fresh 2-worker pool against inline encryption for rounds of
 * K one-ciphertext contributions lost at every K up to 64 and first broke even at K = 256. A
 * contribution is one ciphertext today, so auto means inline.
 */
const AUTO_POOL_MIN_CIPHERTEXTS = 256;

const HELP = `Usage:
  dataport aggregate serve   --listen HOST:PORT --providers N --identity DIR
                             (--analyst-key FILE.pub | --allow-any-peer) (--provider-keys DIR | --allow-any-peer)
                             [--tls-cert FILE --tls-key FILE] [--purpose TEXT] [--handshake-timeout SECONDS]
                             [--refusal-log FILE]
                             [common options]
  dataport aggregate analyst --connect URL --query QUERY.json --output RESULT.json [--force] [--format json|csv|table] --identity DIR
                             (or --output DB-URL --output-table NAME [--replace]: the CSV rows into a new table)
                             --peer-key OPERATOR.pub [--ca FILE] [--purpose TEXT] [common options]
  dataport aggregate provide --connect URL --input FILE.csv|DB-URL [--query SQL] --identity DIR --peer-key OPERATOR.pub
                             [--columns COL,...] [--analyst-key FILE.pub] [--min-cohort N] [--max-epsilon E] [--min-quorum N] [--ca FILE]
                             [--purpose TEXT] [--workers N] [common options]
common options: [--ledger DIR [--price-schedule FILE] [--budget FILE]] [--timeout SECONDS] [--json]
                [--progress none|bar|lines|json] [--progress-interval SECONDS]

serve     the port operator: waits for the analyst and N providers, sums their encrypted
          vectors and returns only the re-randomised total to the analyst (no secret key)
analyst   sends the query (docs/aggregate.md) and an HE public key, both signed with its
          identity; writes the result to --output: JSON (default), or with --format csv a
          CSV of group,statistic,column,bin,value (quoted like 'ledger report'), or with
          --format table the same rows aligned; with --output postgres://… or mysql://…
          and --output-table NAME, those rows into a new table, in one transaction
          (refused if it exists unless --replace; docs/databases.md)
provide   reduces FILE.csv (or the rows of --query) to the query's statistics and sends
          them encrypted

Every connection is mutually authenticated (Ed25519 identities from 'dataport keygen'):
--identity       my identity (DIR/identity.key)
--peer-key       analyst/provide: the operator's identity.pub (pinned)
--analyst-key    serve: the only analyst accepted (its identity.pub);
                 provide: encrypt only under a query and HE key this analyst signed
--provider-keys  serve: directory of the accepted providers' keys: NAME.pub files and/or
                 keygen folders NAME/identity.pub (a name or a key given twice is refused)
--allow-any-peer serve: accept any authenticated analyst / provider whose key is not pinned
--purpose        purpose / authorisation reference, signed into every receipt; with serve,
                 participants must state the same one
--tls-cert/--tls-key  serve: speak wss:// with this certificate and key (PEM)
--ca             analyst/provide: trust this CA / self-signed certificate for wss://
--query          provide: with --input postgres://USER@HOST/DB or mysql://USER@HOST/DB, the one
                 SELECT whose rows are contributed (read-only transaction; no password in the
                 URL: PGPASSWORD, ~/.pgpass / MYSQL_PWD, ~/.my.cnf; see docs/databases.md)
--force          analyst: replace an existing --output file (otherwise refused before connecting)
--ledger         append the co-signed receipt of every link to this ledger (serve: one per link);
                 analyst: also the release of its --output file, so that 'dataport trace'
                 matches a leaked copy of the result (docs/trace.md)
--price-schedule bill with this schedule (the amount is part of the signed receipt; needs --ledger)
--budget         query budget per counterparty, checked against --ledger once the peer is
                 authenticated; a spent budget refuses that link on both sides (needs --ledger).
                 A link counts once protocol data flowed: a peer that hangs up before the
                 receipt leaves a one-sided 'aborted-after-data' entry that uses its query
--columns        provide: the columns of FILE.csv a query may use (default: all of the header),
                 stated in the signed terms; a query needing another is refused before anything
                 is encrypted, this provider and the operator naming both column lists
--min-cohort     provide: refuse a query whose minCohort is below N
--max-epsilon    provide: refuse a query without differential privacy or with a total epsilon above E
--min-quorum     provide: refuse a query whose quorum (fewest providers a released total may
                 cover; the analyst chooses it) is below N (default 2, the format's floor); the
                 operator and the analyst are told why in one line
--workers        provide: auto (default), 0 or N. auto encrypts on the main thread unless the
                 contribution has at least ${AUTO_POOL_MIN_CIPHERTEXTS} ciphertexts (today it is one: starting a
                 worker costs more than it saves); N >= 1 always uses a worker pool (one worker
                 per ciphertext, at most N); 0 never does
--handshake-timeout  serve: seconds a connection has to authenticate (default 10). A connection
           that does not (unknown or wrong key, garbage, silence) is closed and logged as one
           line on stderr; it never ends the round (16 pending at most; per address a burst of
           16 connections, then 1 per second)
--refusal-log  serve: also append each refused connection to FILE as a JSON line (for
           'dataport supervise --listener-log FILE'; docs/supervise.md)
--timeout  serve: seconds for everyone to join, and to collect contributions once the query
           arrived (default 600); analyst/provide: seconds to wait for the server (default 900)
${progressHelp(19).replace(/^ {2}/gm, '')}
`;


/** What a provider's ABORT reason says, for the operator's one line per refusal. */
const REFUSAL_TEXT: Record<number, string> = {
  [AbortReason.QUERY_REFUSED]: M.refusal.query,
  [AbortReason.QUORUM_REFUSED]: M.refusal.quorum,
  [AbortReason.INPUT_ERROR]: M.refusal.input,
};

/** Largest number of keys read from `--provider-keys`. */
const MAX_PROVIDER_KEY_FILES = AGGREGATE_QUERY_LIMITS.maxProviders * 4;

function limitsFor(timeoutMs: number): WebSocketLimits {
  // Session frames add a type byte and a 16-byte tag; receipt frames are far smaller than a total.
  const maxFrameBytes = AGGREGATE_MAX_FRAME_BYTES + 1024;
  return {
    maxFrameBytes,
    receiveQueueBytes: 2 * maxFrameBytes,
    idleTimeoutMs: timeoutMs + 60_000,
    overallTimeoutMs: timeoutMs * 2 + 120_000,
  };
}

/** The options every role shares (identity, ledger, billing, budget, purpose). */
const COMMON_SPEC = {
  identity: { type: 'string' },
  purpose: { type: 'string' },
  ledger: { type: 'string' },
  'price-schedule': { type: 'string' },
  budget: { type: 'string' },
  timeout: { type: 'string' },
  json: { type: 'boolean' },
  ...(PROGRESS_OPTION_SPECS as { progress: { type: 'string' }; 'progress-interval': { type: 'string' } }),
  help: { type: 'boolean', short: 'h' },
} as const;

interface Common {
  out: Reporter;
  /** `--progress` on stderr; ended by the role on success, stopped by `closeCommon`. */
  progress: Progress;
  identity: Identity;
  purpose: string | undefined;
  ledger?: Ledger;
  schedule?: PriceSchedule;
  budget?: BudgetPolicy;
}

/**
 * Appends the release entry of the analyst's result file (recipient: the analyst itself, the
 * holder of the file; linked to the run by `session-id`). A result with no number or more than
 * MAX_RESULT_VALUES distinct ones cannot be recorded: said on stderr, the file is still written.
 */
async function recordResultRelease(c: Common, bytes: Uint8Array, file: string, receipt: UsageReceipt): Promise<void> {
  const secret = fingerprintSecretFromIdentity(c.identity.secretKey);
  let record;
  try {
    record = resultRelease({ values: resultFileValues(new TextDecoder().decode(bytes)), recipient: c.identity.publicKey, secret, fileSha256: sha256(bytes) });
  } catch (err) {
    if (!(err instanceof RangeError)) throw err;
    c.out.warn(TRACE_MESSAGES.resultNotRecorded(file, err.message));
    return;
  } finally {
    secret.fill(0);
  }
  const body = resultReleaseReceiptBody(record, { owner: c.identity.publicKey, sourceProtocol: 'aggregate', purpose: receipt.body.purpose, runSessionId: receipt.body.sessionId });
  const { index } = await c.ledger!.append(signOneSidedReceipt(c.identity, body));
  c.out.info(TRACE_MESSAGES.resultReleased(file, record.valueTags.length / VALUE_TAG_BYTES, toHex(record.releaseId), index, c.ledger!.dir));
}

/** Checks and loads the shared options; the ledger is opened before any peer is contacted. */
async function loadCommon(values: ParsedOptions): Promise<Common> {
  const out = createReporter(values.json === true);
  const progressOptions = progressOption(values);
  const identityDir = stringOption(values, 'identity');
  if (identityDir === undefined) throw new InputError(O.missingIdentity());
  const purpose = purposeOption(values);
  const ledgerDir = stringOption(values, 'ledger');
  const scheduleFile = stringOption(values, 'price-schedule');
  const budgetFile = stringOption(values, 'budget');
  for (const [flag, given] of [
    ['price-schedule', scheduleFile !== undefined],
    ['budget', budgetFile !== undefined],
  ] as const) {
    if (given && ledgerDir === undefined) throw new InputError(O.needsLedger(flag));
  }
  const schedule = scheduleFile !== undefined ? await loadPriceSchedule(scheduleFile, AGGREGATE_PROTOCOL_NAME) : undefined;
  const budget = budgetFile !== undefined ? await loadBudgetPolicy(budgetFile) : undefined;
  const identity = await loadIdentity(identityDir, out);
  let ledger: Ledger | undefined;
  if (ledgerDir !== undefined) {
    try {
      ledger = await openCliLedger(ledgerDir, identity);
    } catch (err) {
      identity.secretKey.fill(0);
      throw err;
    }
  }
  return { out, progress: createProgress(progressOptions), identity, purpose, ...(ledger ? { ledger } : {}), ...(schedule ? { schedule } : {}), ...(budget ? { budget } : {}) };
}

async function closeCommon(c: Common): Promise<void> {
  c.progress.stop();
  await c.ledger?.close();
  c.identity.secretKey.fill(0);
}

/** The ledger hook of a participant: appends each receipt, tells the user where; `seen.last` is the latest receipt. */
function receiptRecorder(c: Common, appended: number[], seen: { last?: UsageReceipt } = {}): (receipt: UsageReceipt) => Promise<void> {
  return async (receipt) => {
    seen.last = receipt;
    if (!c.ledger) return;
    const { index } = await recordReceipt(c.ledger, receipt);
    appended.push(index);
    if (receipt.body.outcome !== 'completed' && receipt.kind !== 'one-sided') {
      process.stderr.write(`${SESSION_MESSAGES.receiptOfOutcomeAppended(`${receipt.body.outcome} round`, c.ledger.dir, index)}\n`);
    }
  };
}

/** For the `--json` failure line: the one-sided receipt a participant's failed round ended with, if any. */
function noteParticipantAbort(e: unknown, c: Common, entries: readonly number[], seen: { last?: UsageReceipt }): void {
  const index = entries[entries.length - 1];
  noteAbortedRun(e, seen.last, c.ledger && index !== undefined ? { dir: c.ledger.dir, index } : undefined);
}


/** Adds a hint to errors whose usual cause is a wrong flag or the other side's policy. */
function withHint(err: unknown): unknown {
  if (err instanceof DataportError) {
    const hint = AGGREGATE_ERROR_HINTS[err.code];
    // A refused round (a provider's policy) already says so in its own words.
    if (hint !== undefined && !err.message.startsWith(hint) && !err.message.startsWith('aggregation round aborted')) {
      return new DataportError(err.code, `${hint}${err.message}`, { cause: err });
    }
  }
  return err;
}

async function loadProviderKeys(dir: string): Promise<Uint8Array[]> {
  return (await loadNamedKeys(dir, '--provider-keys', MAX_PROVIDER_KEY_FILES)).map((k) => k.key);
}

async function serve(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs('aggregate serve', argv, {
    ...COMMON_SPEC,
    listen: { type: 'string' },
    providers: { type: 'string' },
    'analyst-key': { type: 'string' },
    'provider-keys': { type: 'string' },
    'allow-any-peer': { type: 'boolean' },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
    'handshake-timeout': { type: 'string' },
    'refusal-log': { type: 'string' },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const { host, port } = parseHostPort(stringOption(values, 'listen', true), 'listen');
  const handshakeTimeoutMs = secondsOption(values, 'handshake-timeout', DEFAULT_HANDSHAKE_TIMEOUT_MS);
  setRefusalLog(stringOption(values, 'refusal-log'));
  const n = intOption(values, 'providers', 2, AGGREGATE_QUERY_LIMITS.maxProviders);
  if (n === undefined) throw new InputError(M.providersRequired());
  const timeoutMs = secondsOption(values, 'timeout', DEFAULT_LISTEN_TIMEOUT_MS);
  const analystKeyFile = stringOption(values, 'analyst-key');
  const providerKeysDir = stringOption(values, 'provider-keys');
  const allowAny = values['allow-any-peer'] === true;
  if (!allowAny && (analystKeyFile === undefined || providerKeysDir === undefined)) {
    throw new InputError(M.serveNeedsKeys());
  }
  const tlsCert = stringOption(values, 'tls-cert');
  const tlsKey = stringOption(values, 'tls-key');
  if ((tlsCert === undefined) !== (tlsKey === undefined)) throw new InputError(O.goTogether('tls-cert', 'tls-key'));
  for (const [flag, file] of [
    ['tls-cert', tlsCert],
    ['tls-key', tlsKey],
  ] as const) {
    if (file !== undefined) await readTextFile(file, `--${flag}`, 1 << 20);
  }
  const analystKeys = analystKeyFile !== undefined ? [await loadPeerKey(analystKeyFile)] : undefined;
  const providerKeys = providerKeysDir !== undefined ? await loadProviderKeys(providerKeysDir) : undefined;
  const c = await loadCommon(values);
  const { out, ledger } = c;
  if (allowAny) out.warn(M.allowAnyPeer());
  const entries: number[] = [];
  const record = receiptRecorder(c, entries);
  // One reservation per link, taken once its peer is authenticated, settled by its receipt and
  // released when the round is over (refused, failed or dropped links give their share back).
  const budgetHook = ledger && c.budget ? budgetCheck(ledger, c.budget, 'responder', 0) : undefined;
  try {
    const operator = createAggregateOperator({
      identity: c.identity,
      providers: n,
      ...(analystKeys ? { analystKeys } : {}),
      ...(providerKeys ? { providerKeys } : {}),
      allowAnyPeer: allowAny,
      ...(c.purpose !== undefined ? { purpose: c.purpose } : {}),
      timeoutMs,
      ...(c.schedule ? { priceSchedule: c.schedule } : {}),
      ...(budgetHook ? { beforeRun: budgetHook } : {}),
      onProgress: progressHook(c.progress),
      onReceipt: async (receipt, link) => {
        if (receipt.body.outcome === 'refused') process.stderr.write(`${M.refusedLink(link.role, toBase64(link.peerPublicKey))}\n`);
        await record(receipt);
      },
      // Never fatal to the round: an unknown or wrong key, garbage, silence — one line each.
      onRejected: ({ error, from }) => reportRejected(from ?? 'unknown address', (error as Error)?.message ?? String(error)),
      handshakeTimeoutMs,
      signal: cliSignal,
    });
    let server;
    try {
      server = await listenWebSocket(
        {
          host,
          port,
          limits: limitsFor(timeoutMs),
          maxConnections: n + 4,
          maxPending: LISTENER_MAX_PENDING,
          handshakeTimeoutMs,
          onRefused: (r) => reportRejected(r.remoteAddress ?? 'unknown address', r.message),
          ...(tlsCert !== undefined ? { tls: { certFile: tlsCert, keyFile: tlsKey! } } : {}),
        },
        (t, info) => operator.handle(t, info.remoteAddress),
      );
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code) throw new InputError(FILE_MESSAGES.cannotListen(`${host}:${port}`, err));
      throw err;
    }
    // On stderr whatever --json says: scripts and tests read the bound port from it.
    process.stderr.write(`${M.listening(server.address().url, n)}\n`);
    c.progress.phase('waiting-for-participants', n + 1);
    try {
      const r = await operator.result;
      c.progress.end();
      const { outcome } = r;
      const summary = {
        ok: outcome.status === 'completed',
        command: 'aggregate serve',
        ...outcome,
        analystKey: toBase64(r.analystPublicKey),
        providerKeys: r.providerPublicKeys.map(toBase64),
        security: securitySummary(r.receipts[0]),
        receipts: r.receipts.length,
        // Links lost after protocol data flowed: one-sided `aborted-after-data` entries.
        abortedLinks: r.oneSidedReceipts.length,
        linksWithoutReceipt: r.linksWithoutReceipt,
        ledger: ledger ? { dir: ledger.dir, entries } : null,
      };
      if (ledger) out.info(M.receiptsAppended(entries.length, ledger.dir));
      // A provider's own refusal (its policy, its quorum minimum, its input), one line each.
      for (const f of outcome.refusals ?? []) {
        // A query over columns the provider does not offer: both schemas, as the provider says them.
        const why = r.columnMismatches.find((m) => m.provider === f.provider)?.reason ?? REFUSAL_TEXT[f.reason] ?? M.refusal.other;
        out.warn(M.providerRefused(toBase64(r.providerPublicKeys[f.provider] ?? new Uint8Array()), why));
      }
      if (r.linksWithoutReceipt > 0) out.warn(M.linksWithoutReceipt(r.linksWithoutReceipt));
      if (outcome.status === 'completed') {
        out.info(M.roundCompleted(outcome.queryId ?? '', outcome.contributors, outcome.expected));
        out.json(summary);
        return 0;
      }
      const reason = Object.entries(AbortReason).find(([, v]) => v === outcome.reason)?.[0]?.toLowerCase().replace(/_/g, ' ') ?? 'error';
      out.info(M.roundAborted(reason));
      out.json({ ...summary, reason });
      return 1;
    } finally {
      await server.close();
    }
  } finally {
    await budgetHook?.release();
    await closeCommon(c);
  }
}

async function readQueryFile(path: string): Promise<AggregateQuery> {
  const text = await readTextFile(path, 'query file', AGGREGATE_QUERY_LIMITS.maxBytes);
  let value: unknown;
  try {
    value = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch {
    throw new InputError(FILE_MESSAGES.invalid('', path, 'not valid JSON'));
  }
  try {
    return parseAggregateQuery(value);
  } catch (e) {
    if (e instanceof MalformedMessageError) throw new InputError(FILE_MESSAGES.invalid('', path, e.message));
    throw e;
  }
}

/** The options of a participant (analyst / provide): the operator's pinned key and the connection. */
async function participantSetup(values: ParsedOptions): Promise<{ url: string; ca?: string; operatorKey: Uint8Array; timeoutMs: number }> {
  const url = stringOption(values, 'connect', true);
  const ca = stringOption(values, 'ca');
  checkConnectUrl(url, ca);
  if (ca !== undefined) await readTextFile(ca, '--ca', 1 << 20);
  const peerKeyFile = stringOption(values, 'peer-key');
  if (peerKeyFile === undefined) throw new InputError(M.operatorKey());
  return { url, ...(ca !== undefined ? { ca } : {}), operatorKey: await loadPeerKey(peerKeyFile), timeoutMs: secondsOption(values, 'timeout', 900_000) };
}

async function analystCommand(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs('aggregate analyst', argv, {
    ...COMMON_SPEC,
    connect: { type: 'string' },
    query: { type: 'string' },
    output: { type: 'string' },
    force: { type: 'boolean' },
    'output-table': { type: 'string' },
    replace: { type: 'boolean' },
    format: { type: 'string' },
    'peer-key': { type: 'string' },
    ca: { type: 'string' },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const format = choiceOption(values, 'format', ['json', 'csv', 'table'] as const, 'json');
  const query = await readQueryFile(stringOption(values, 'query', true));
  const outputPath = stringOption(values, 'output', true);
  const outputTable = stringOption(values, 'output-table');
  const replace = values.replace === true;
  checkOutputOptions(outputPath, outputTable, replace, values.force === true);
  const toTable = isDatabaseOutput(outputPath);
  if (toTable && values.format !== undefined) throw new InputError(DATABASE_MESSAGES.formatNotTable());
  // Refused now, before any file is loaded or any connection made (and again atomically at commit).
  if (toTable) await preflightTable(outputPath, outputTable!, replace);
  else await checkOutputPath(outputPath, { force: values.force === true });
  const p = await participantSetup(values);
  const c = await loadCommon(values);
  const { out, ledger } = c;
  const entries: number[] = [];
  const seen: { last?: UsageReceipt } = {};
  const budgetHook = ledger && c.budget ? budgetCheck(ledger, c.budget, 'requester', 0) : undefined;
  try {
    // A table is written once the result is in (one transaction); a file is prepared now.
    const output = toTable ? undefined : await openAtomicOutput(outputPath, { force: values.force === true });
    try {
      const t = await connectWebSocket(p.url, { limits: limitsFor(p.timeoutMs), signal: cliSignal, ...(p.ca !== undefined ? { caFile: p.ca } : {}) });
      try {
        const { result, receipt } = await runAggregateAnalyst({
          transport: t,
          identity: c.identity,
          peerPublicKey: p.operatorKey,
          query,
          ...(c.purpose !== undefined ? { purpose: c.purpose } : {}),
          timeoutMs: p.timeoutMs,
          signal: cliSignal,
          ...(c.schedule ? { priceSchedule: c.schedule } : {}),
          ...(budgetHook ? { beforeRun: budgetHook } : {}),
          onReceipt: receiptRecorder(c, entries, seen),
          onProgress: progressHook(c.progress),
        });
        c.progress.end();
        if (output) {
          const bytes = new TextEncoder().encode(formatAggregateResult(result, format));
          await output.write(bytes);
          // With --ledger the result file's release is recorded first (docs/trace.md): a leaked copy is then matched by 'dataport trace'.
          if (ledger) await recordResultRelease(c, bytes, outputPath, receipt);
          await output.commit();
        } else {
          const sink = await openTableSink(outputPath, outputTable!, AGGREGATE_RESULT_COLUMNS, { replace });
          try {
            await sink.write(aggregateResultRows(result));
            await sink.commit();
          } catch (err) {
            await sink.abort();
            throw err;
          }
        }
        out.info(
          M.analystResult(
            { queryId: result.queryId, groups: result.groups.length, withheld: result.guardrails.withheldGroups, contributors: result.contributors, expected: result.expectedProviders },
            toTable ? DATABASE_MESSAGES.tableOf(outputTable!, databaseLabel(outputPath)) : outputPath,
          ),
        );
        if (ledger) out.info(SESSION_MESSAGES.receiptAppended(ledger.dir, entries[0]));
        out.json({
          ok: true,
          command: 'aggregate analyst',
          queryId: result.queryId,
          contributors: result.contributors,
          groups: result.groups.length,
          withheldGroups: result.guardrails.withheldGroups,
          output: toTable ? { table: outputTable, database: databaseLabel(outputPath) } : outputPath,
          security: securitySummary(receipt),
          receipt,
          ledger: ledger ? { dir: ledger.dir, index: entries[0] } : null,
        });
        return 0;
      } finally {
        await t.close();
      }
    } catch (e) {
      await output?.abort();
      noteParticipantAbort(e, c, entries, seen);
      throw withHint(e);
    }
  } finally {
    await budgetHook?.release();
    await closeCommon(c);
  }
}

async function provideCommand(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs('aggregate provide', argv, {
    ...COMMON_SPEC,
    connect: { type: 'string' },
    input: { type: 'string' },
    query: { type: 'string' },
    'peer-key': { type: 'string' },
    ca: { type: 'string' },
    'analyst-key': { type: 'string' },
    'min-cohort': { type: 'string' },
    'max-epsilon': { type: 'string' },
    'min-quorum': { type: 'string' },
    columns: { type: 'string' },
    workers: { type: 'string' },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const input = stringOption(values, 'input', true);
  const query = stringOption(values, 'query');
  // The provider's own guardrails: the data owner decides what it will contribute to.
  const minCohort = intOption(values, 'min-cohort', 0, 1_000_000_000, 0);
  const minQuorum = intOption(values, 'min-quorum', MIN_QUORUM_FLOOR, AGGREGATE_QUERY_LIMITS.maxProviders, MIN_QUORUM_FLOOR);
  const maxEpsilonText = stringOption(values, 'max-epsilon');
  let maxEpsilon: bigint | undefined;
  if (maxEpsilonText !== undefined) {
    try {
      maxEpsilon = parseEpsilon(maxEpsilonText).num;
    } catch {
      throw new InputError(M.maxEpsilon(maxEpsilonText));
    }
  }
  const analystKeyFile = stringOption(values, 'analyst-key');
  const analystPublicKey = analystKeyFile !== undefined ? await loadPeerKey(analystKeyFile) : undefined;
  const acceptQuery = (q: AggregateQuery): boolean =>
    q.minCohort >= minCohort && (maxEpsilon === undefined || (q.dp !== null && parseEpsilon(q.dp.epsilon).num <= maxEpsilon));
  checkInputOptions(input, query);
  if (databaseKindOf(input) === undefined) {
    const st = await stat(input).catch((err: unknown) => {
      throw new InputError(FILE_MESSAGES.cannotReadInput(input, err));
    });
    if (!st.isFile()) throw new InputError(CSV_MESSAGES.notRegular(input));
  }
  const p = await participantSetup(values);
  // A query's snapshot stays open until the aggregates are computed: both reads see the same rows.
  const reader = await openInput(input, query, { keepOpen: true });
  const label = reader.info.label;
  // The row count and the columns offered are declared in the signed terms before the query is known.
  let declared: number;
  let offered: string[];
  try {
    let header: readonly string[] = [];
    declared = (await reader.forEach([], () => {}, { lines: false, signal: cliSignal, onHeader: (h) => (header = h) })).rows;
    if (declared === 0) throw new InputError(DATABASE_MESSAGES.noRows(label));
    const offeredText = stringOption(values, 'columns');
    // Unnamed columns (a trailing comma) cannot be queried: not offered.
    offered = offeredText !== undefined ? parseColumnList(offeredText, 'columns') : header.filter((h) => h !== '');
    resolveColumns(label, header, offered);
    try {
      offeredColumnsTermsOptions(offered);
    } catch {
      throw new InputError(M.tooManyColumns(label, offered.length));
    }
    if (declared > AGGREGATE_QUERY_LIMITS.maxRowsPerProvider) throw new InputError(CSV_MESSAGES.tooManyRows(label, AGGREGATE_QUERY_LIMITS.maxRowsPerProvider));
  } catch (err) {
    await reader.close();
    throw err;
  }
  const localAggregates = async (query: AggregateQuery): Promise<bigint[]> => {
    const columns = requiredColumns(query);
    const acc = createLocalAggregator(query);
    await reader.forEach(columns, (row) => {
      const record: Record<string, string> = {};
      columns.forEach((c, i) => (record[c] = row.values[i]!));
      try {
        acc.add(record);
      } catch (e) {
        if (e instanceof InputError) throw new InputError(rowPlaceMessage(reader, row, e.message.replace(/^row \d+: /, '')));
        throw e;
      }
    }, { signal: cliSignal });
    if (acc.rows !== declared) throw new InputError(CSV_MESSAGES.changedWhileRunning(label, declared, acc.rows));
    return acc.result();
  };
  const workersText = stringOption(values, 'workers') ?? 'auto';
  if (workersText !== 'auto' && !/^[0-9]+$/.test(workersText)) {
    throw new InputError(O.workers(MAX_WORKERS, workersText));
  }
  const workers = workersText === 'auto' ? 'auto' : intOption(values, 'workers', 0, MAX_WORKERS, 0);
  // The encryption goes through the pool (`encryptBatches`) once a query is accepted, when
  // --workers N >= 1, or with auto when the contribution is large enough; the pool is started only
  // then, with one worker per ciphertext (at most N). A contribution is a single vector today.
  let pool: WorkerPool | undefined;
  let encryptedOn: 'main thread' | 'worker pool' | undefined;
  const encrypt = async (publicKey: Uint8Array, vector: bigint[]): Promise<Uint8Array> => {
    const vectors = [vector];
    const usePool = workers === 'auto' ? vectors.length >= AUTO_POOL_MIN_CIPHERTEXTS : workers > 0;
    if (!usePool) {
      encryptedOn = 'main thread';
      return encryptBatch(publicKey, vector);
    }
    encryptedOn = 'worker pool';
    const size = Math.min(vectors.length, workers === 'auto' ? availableCores() : workers);
    pool ??= await createWorkerPool({ workers: size });
    return (await pool.encryptBatches(publicKey, vectors, cliSignal))[0]!;
  };
  const c = await loadCommon(values);
  const { out, ledger } = c;
  const entries: number[] = [];
  const seen: { last?: UsageReceipt } = {};
  const budgetHook = ledger && c.budget ? budgetCheck(ledger, c.budget, 'requester', declared) : undefined;
  try {
    const t = await connectWebSocket(p.url, { limits: limitsFor(p.timeoutMs), signal: cliSignal, ...(p.ca !== undefined ? { caFile: p.ca } : {}) });
    try {
      const done = await runAggregateProvider({
        transport: t,
        identity: c.identity,
        peerPublicKey: p.operatorKey,
        localAggregates,
        rowCount: declared,
        columns: offered,
        source: receiptSource(reader.info, query),
        acceptQuery,
        minQuorum,
        encrypt,
        // On stderr whatever --json says (scripts and tests wait for it, as for `listening on`).
        onJoined: () => process.stderr.write(`${M.joined()}\n`),
        ...(analystPublicKey !== undefined ? { analystPublicKey } : {}),
        ...(c.purpose !== undefined ? { purpose: c.purpose } : {}),
        timeoutMs: p.timeoutMs,
        signal: cliSignal,
        ...(c.schedule ? { priceSchedule: c.schedule } : {}),
        ...(budgetHook ? { beforeRun: budgetHook } : {}),
        onReceipt: receiptRecorder(c, entries, seen),
        onProgress: progressHook(c.progress),
      });
      c.progress.end();
      out.info(M.contributed(declared, done.queryId, done.contributors));
      if (ledger) out.info(SESSION_MESSAGES.receiptAppended(ledger.dir, entries[0]));
      out.json({
        ok: true,
        command: 'aggregate provide',
        queryId: done.queryId,
        rows: declared,
        source: sourceSummary(reader.info),
        contributors: done.contributors,
        encryptedOn: encryptedOn ?? null,
        security: securitySummary(done.receipt),
        receipt: done.receipt,
        ledger: ledger ? { dir: ledger.dir, index: entries[0] } : null,
      });
      return 0;
    } catch (e) {
      noteParticipantAbort(e, c, entries, seen);
      throw withHint(e);
    } finally {
      await t.close();
    }
  } finally {
    await (pool as WorkerPool | undefined)?.close();
    await budgetHook?.release();
    await closeCommon(c);
    await reader.close();
  }
}

/**
 * Entry point of `dataport aggregate`.
 *
 * @example
 * ```ts
 * process.exitCode = await run(['serve', '--listen', '127.0.0.1:7400', '--providers', '3']);
 * ```
 */
export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'serve':
      return serve(rest);
    case 'analyst':
      return analystCommand(rest);
    case 'provide':
      return provideCommand(rest);
    case undefined:
    case '--help':
    case '-h':
      process.stdout.write(HELP);
      return sub === undefined ? 2 : 0;
    default:
      throw new InputError(O.unknownSubcommand('aggregate', sub, 'serve, analyst or provide'));
  }
}

