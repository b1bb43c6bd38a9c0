/**
 * `dataport psi-sum`: intersection size, exact sums and means of value columns over the private
 * intersection of two CSV files' keys (docs/psi-sum.md). The side with `--values` is the value
 * holder; the other holds identifiers only. Authenticated by the session layer; co-signed receipt,
 * appended to `--ledger` when given.
 *
 * Order of work: every option and file is checked (values parsed, decimals and bounds enforced,
 * the plaintext size checked so no sum can wrap) before any socket is opened.
 * @module
 */
import { AbortError, DataportError, GuardrailRefusedError, InputError, TimeoutError } from '../../errors.js';
import type { Ledger } from '../../ledger/node.js';
import type { UsageReceipt } from '../../ledger/receipt-types.js';
import { createInlineExecutor, type CryptoExecutor } from '../../protocols/executor.js';
import { dedupeRecords, normalizeKey } from '../../protocols/psi/normalize.js';
import type { ReceiptBilling } from '../../ledger/pricing.js';
import { choosePlainBits } from '../../protocols/psi-sum/protocol.js';
import { PSI_SUM_PROTOCOL_NAME, runPsiSum, type RunPsiSumOptions, type RunPsiSumResult } from '../../session/run-psi-sum.js';
import { acceptOnlySchedule, budgetCheck, keySketchHook, loadBudgetPolicy, loadPriceSchedule, noteAbortedRun, openCliLedger, recordReceipt } from '../ledger-wiring.js';
import { aggregateValueRows, type ValueColumnRequest } from '../../protocols/psi-sum/values.js';
import type { FrameTransport } from '../../transport/types.js';
import { connectWebSocket } from '../../transport/websocket-node.js';
import { toBase64 } from '../../utils/bytes.js';
import { createWorkerPool } from '../../workers/index.js';
import { availableCores } from '../../platform/node.js';
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
  type HostPort,
} from '../args.js';
import { CSV_MESSAGES, OPTION_MESSAGES as O, PSI_SUM_MESSAGES as M, SESSION_ERROR_HINTS, SESSION_MESSAGES } from '../messages.js';
import { parseAssignments, parseValueOptions, valueColumnRequests, VALUE_OPTION_SPECS } from '../value-options.js';
import { checkInputOptions, openInput, rowPlaceMessage, type InputReader, type RowPlace } from '../record-input.js';
import { createProgress, progressHook, type ProgressOptions } from '../progress.js';
import { cliSignal } from '../signals.js';
import { DEFAULT_HANDSHAKE_TIMEOUT_MS, DEFAULT_LISTEN_TIMEOUT_MS, serveListener, setRefusalLog } from '../listen-loop.js';
import { loadIdentity, loadPeerKey } from '../identity-files.js';
import { createReporter, receiptSource, securitySummary, sourceSummary, type Reporter } from '../summary.js';

/** Exit code when the result was withheld by the minimum-cohort guardrail. */
export const EXIT_WITHHELD = 3;

/** `--help` of `dataport psi-sum`. */
export const PSI_SUM_HELP = `usage: dataport psi-sum (--listen HOST:PORT | --connect ws://HOST:PORT | wss://HOST:PORT)
                        --input FILE.csv|URL [--query SQL] --key COL[,COL...] [--values COL[,COL...]] [options]

Intersection size, exact sums and means of value columns over the private intersection of this
file's keys with a peer's. The side that gives --values is the value holder (e.g. the hospital);
the other holds identifiers only (e.g. the pharmaceutical company). Neither learns which records
matched. The identifier holder holds the encryption key: which of the value holder's keys it has
stays private even against a value holder running modified software (beyond the released sums);
the values stay private against an identifier holder that follows the protocol (docs/psi-sum.md).
So does which of the identifier holder's keys matched: a modified identifier holder, which learns
the exact count, can test each of its keys (SECURITY.md §1.2). Receipts record
security=idholder-malicious/valueholder-semi-honest; against a peer you do not trust to run
dataport unmodified, rely on contracts, --budget, the ledger and --min-cohort.
The --connect side proposes the terms (--reveal, --min-cohort, --dp-epsilon, --purpose); the
--listen side refuses terms weaker than its own.

input:
  --input FILE.csv          CSV with a header row (UTF-8, optional BOM, quoted fields)
  --input URL --query SQL   a database instead: postgres://USER@HOST[:PORT]/DB or mysql://…
                            (no password in the URL: PGPASSWORD, ~/.pgpass / MYSQL_PWD,
                            ~/.my.cnf); SQL is one SELECT, run in a read-only transaction;
                            NULL is an empty cell (docs/databases.md)
  --key COL[,COL...]        key column(s); trimmed, NFKC-normalised and case-folded
  --values COL[,COL...]     value holder: numeric columns to sum (every row of a matching key counts)
  --decimals COL=N[,...]    decimal places of a value column (default: the most found in the data);
                            a value with more places is refused, never rounded
  --bound COL=X[,...]       bound on |each value| and |each key's total| (default: the next power of
                            ten above the largest key total; the peer learns the bound)
  --expect-values COL=N[,...]  identifier holder: the value columns and decimal places expected;
                            the terms state them and a value holder with other scales is refused
                            (without it the scales announced are recorded in the receipt)

peers and identity:
  --identity DIR            my identity (DIR/identity.key, from 'dataport keygen')
  --peer-key FILE           the peer's identity.pub (required with --connect)
  --allow-any-peer          --listen without --peer-key: accept any authenticated peer (warns)
  --tls-cert FILE, --tls-key FILE   listener: serve wss://;  --ca FILE  requester: trust this CA

terms:
  --reveal both|requester   who receives count, sums and means (default both)
  --min-cohort K            below K matching keys the sums are withheld (listener: minimum accepted)
  --dp-epsilon E            exact discrete-Laplace noise on released count and sums, total epsilon E
                            (decimal, at most 6 places, <= 100) split evenly over them
                            (listener: the largest epsilon accepted; DP then required)
  --purpose TEXT            purpose / authorisation reference, signed into the receipt

running:
  --workers N               worker threads for the curve and HE work (0 = none; default: core count);
                            HE goes to them from 128 block operations (value holder: columns x
                            keys/8192; identifier holder: keys/8192) up
  --timeout SECONDS         limit of the session (default 600); the listener's wait too
  --handshake-timeout SECONDS
                            listener: time a connection has to authenticate (default 10); only a
                            peer with an accepted key can end the job, any other connection is
                            closed and logged as one line on stderr (see dataport psi --help)
  --refusal-log FILE        listener: also append each refused connection to FILE as a JSON line
                            (for 'dataport supervise --listener-log FILE')
  --ledger DIR              append the co-signed receipt to this ledger
  --price-schedule FILE     bill the run with this price schedule (JSON, see docs/ledger.md); the
                            amount is part of the co-signed receipt (needs --ledger)
  --budget FILE             query budget per counterparty (JSON, see docs/ledger.md), checked
                            against --ledger once the peer is authenticated; a spent budget
                            refuses the run on both sides (needs --ledger). A run counts once
                            protocol data flowed: a peer that hangs up before the receipt
                            leaves a one-sided 'aborted-after-data' entry that uses its query
  --accept-price-schedule FILE
                            run only if the peer's price schedule, when it bills the run, is
                            exactly this one (announced before the run); otherwise both refuse
  --json                    print a one-line JSON summary as the last line of stdout
${progressHelp(28)}
  --help                    this text

Means are the released sum divided by the released count, rounded half away from zero to
max(2, decimals) places. When the identifier holder receives the sums it checks each against the
value holder's declared bound x count and, if one is beyond, withholds them (exit code 1).
exit codes: 0 success, 1 error, ${EXIT_WITHHELD} result withheld (min cohort), 130 interrupted.`;

interface Options {
  mode: 'listen' | 'connect';
  listen?: HostPort;
  connect?: string;
  input: string;
  query?: string;
  keyColumns: string[];
  valueColumns: string[];
  decimals: Map<string, number>;
  /** ID holder: expected value columns → decimal places (`--expect-values`). */
  expectValues?: Record<string, number>;
  bounds: Map<string, string>;
  identityDir: string;
  peerKeyFile?: string;
  allowAnyPeer: boolean;
  reveal: 'both' | 'requester';
  minCohort: number;
  dpEpsilon?: string;
  purpose: string;
  workers: number;
  timeoutMs: number;
  handshakeTimeoutMs: number;
  ledgerDir?: string;
  priceScheduleFile?: string;
  budgetFile?: string;
  acceptPriceScheduleFile?: string;
  json: boolean;
  progress: Pick<ProgressOptions, 'mode' | 'intervalSeconds'>;
  tlsCert?: string;
  tlsKey?: string;
  ca?: string;
}

function parseOptions(argv: readonly string[]): Options | undefined {
  const { values } = parseCommandArgs('psi-sum', argv, {
    listen: { type: 'string' },
    connect: { type: 'string' },
    input: { type: 'string' },
    query: { type: 'string' },
    key: { type: 'string' },
    ...VALUE_OPTION_SPECS,
    'expect-values': { type: 'string' },
    identity: { type: 'string' },
    'peer-key': { type: 'string' },
    'allow-any-peer': { type: 'boolean' },
    reveal: { type: 'string' },
    purpose: { type: 'string' },
    workers: { type: 'string' },
    timeout: { type: 'string' },
    'handshake-timeout': { type: 'string' },
    'refusal-log': { type: 'string' },
    ledger: { type: 'string' },
    'price-schedule': { type: 'string' },
    budget: { type: 'string' },
    'accept-price-schedule': { type: 'string' },
    json: { type: 'boolean' },
    ...PROGRESS_OPTION_SPECS,
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
    ca: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) return undefined;
  const listenText = stringOption(values, 'listen');
  const connect = stringOption(values, 'connect');
  if ((listenText === undefined) === (connect === undefined)) throw new InputError(O.listenOrConnect());
  if (connect !== undefined) checkConnectUrl(connect);
  const identityDir = stringOption(values, 'identity');
  if (identityDir === undefined) throw new InputError(O.missingIdentity());
  const { valueColumns, decimals, bounds, minCohort, dpEpsilon } = parseValueOptions(values);
  const expectText = stringOption(values, 'expect-values');
  let expectValues: Record<string, number> | undefined;
  if (expectText !== undefined) {
    if (valueColumns.length > 0) throw new InputError(M.expectValuesForIdHolder());
    expectValues = {};
    for (const [col, v] of parseAssignments(expectText, 'expect-values')) {
      if (!/^[0-9]{1,2}$/.test(v) || Number(v) > 18) throw new InputError(M.decimals('expect-values', col, v));
      expectValues[col] = Number(v);
    }
  }
  const purpose = purposeOption(values) ?? '';
  const opts: Options = {
    mode: listenText !== undefined ? 'listen' : 'connect',
    input: stringOption(values, 'input', true),
    keyColumns: parseColumnList(stringOption(values, 'key', true), 'key'),
    valueColumns,
    decimals,
    bounds,
    identityDir,
    allowAnyPeer: values['allow-any-peer'] === true,
    reveal: choiceOption(values, 'reveal', ['both', 'requester'] as const, 'both'),
    minCohort,
    purpose,
    workers: intOption(values, 'workers', 0, 256, availableCores()),
    timeoutMs: secondsOption(values, 'timeout', DEFAULT_LISTEN_TIMEOUT_MS),
    handshakeTimeoutMs: secondsOption(values, 'handshake-timeout', DEFAULT_HANDSHAKE_TIMEOUT_MS),
    json: values.json === true,
    progress: progressOption(values),
  };
  if (dpEpsilon !== undefined) opts.dpEpsilon = dpEpsilon;
  if (expectValues !== undefined) opts.expectValues = expectValues;
  if (listenText !== undefined) opts.listen = parseHostPort(listenText, 'listen');
  if (connect !== undefined) opts.connect = connect;
  for (const [k, name] of [
    ['peerKeyFile', 'peer-key'],
    ['query', 'query'],
    ['ledgerDir', 'ledger'],
    ['priceScheduleFile', 'price-schedule'],
    ['budgetFile', 'budget'],
    ['acceptPriceScheduleFile', 'accept-price-schedule'],
    ['tlsCert', 'tls-cert'],
    ['tlsKey', 'tls-key'],
    ['ca', 'ca'],
  ] as const) {
    const v = stringOption(values, name);
    if (v !== undefined) opts[k] = v;
  }
  checkInputOptions(opts.input, opts.query);
  for (const c of opts.valueColumns) if (opts.keyColumns.includes(c)) throw new InputError(M.keyAndValue(c));
  for (const [flag, given] of [
    ['price-schedule', opts.priceScheduleFile !== undefined],
    ['budget', opts.budgetFile !== undefined],
  ] as const) {
    if (given && opts.ledgerDir === undefined) throw new InputError(O.needsLedger(flag));
  }
  if (opts.mode === 'connect' && opts.peerKeyFile === undefined) throw new InputError(O.requesterPeerKey());
  if (opts.mode === 'listen' && opts.peerKeyFile === undefined && !opts.allowAnyPeer) throw new InputError(O.listenerPeerKey());
  if (opts.peerKeyFile !== undefined && opts.allowAnyPeer) throw new InputError(O.contradict('peer-key', 'allow-any-peer'));
  if (opts.allowAnyPeer && opts.mode !== 'listen') throw new InputError(O.onlyWith('allow-any-peer', '--listen'));
  if ((opts.tlsCert === undefined) !== (opts.tlsKey === undefined)) throw new InputError(O.goTogether('tls-cert', 'tls-key'));
  if (values['handshake-timeout'] !== undefined && opts.mode !== 'listen') throw new InputError(O.onlyWith('handshake-timeout', '--listen'));
  if (values['refusal-log'] !== undefined && opts.mode !== 'listen') throw new InputError(O.onlyWith('refusal-log', '--listen'));
  setRefusalLog(stringOption(values, 'refusal-log'));
  if ((opts.tlsCert !== undefined && opts.mode !== 'listen') || (opts.ca !== undefined && opts.mode !== 'connect')) throw new InputError(M.tlsSides());
  if (opts.ca !== undefined) checkConnectUrl(opts.connect!, opts.ca);
  return opts;
}

interface Table {
  keys: string[][];
  values: string[][];
  rows: number;
  skipped: number;
  /** Where each entry of `values` came from (a file line or a query row, for messages). */
  places: RowPlace[];
  reader: InputReader;
}

async function readTable(opts: Options): Promise<Table> {
  const keys: string[][] = [];
  const values: string[][] = [];
  const places: RowPlace[] = [];
  let skipped = 0;
  const nk = opts.keyColumns.length;
  const reader = await openInput(opts.input, opts.query, { keepOpen: false });
  const read = await reader.forEach([...opts.keyColumns, ...opts.valueColumns], (row) => {
    const k = row.values.slice(0, nk);
    if (normalizeKey(k) === undefined) {
      skipped++;
      return;
    }
    keys.push(k);
    if (opts.valueColumns.length > 0) {
      values.push(row.values.slice(nk));
      places.push(row.line !== undefined ? { row: row.row, line: row.line } : { row: row.row });
    }
  }, { signal: cliSignal });
  if (read.rows === 0) throw new InputError(`${reader.info.label}: the query returned no rows`);
  return { keys, values, places, rows: read.rows, skipped, reader };
}

function sessionSignal(opts: Options): AbortSignal {
  return AbortSignal.any([cliSignal, AbortSignal.timeout(opts.timeoutMs)]);
}

function asRunError(err: unknown, signal: AbortSignal, opts: Options): unknown {
  if (signal.aborted && !cliSignal.aborted && (err instanceof AbortError || !(err instanceof DataportError))) {
    return new TimeoutError(M.timedOut(`${opts.timeoutMs / 1000}s`));
  }
  // The ID holder's range check on the value holder's result is a VerificationFailedError too.
  if (err instanceof DataportError && err.code === 'ERR_VERIFICATION_FAILED' && !/peer authentication|range check/.test(err.message)) {
    return new DataportError(err.code, `${SESSION_ERROR_HINTS['ERR_VERIFICATION_FAILED']}${err.message}`, { cause: err });
  }
  return err;
}

/** Runs the session on an open transport. */
async function runOn(
  opts: Options,
  role: 'requester' | 'responder',
  transport: FrameTransport,
  base: Omit<RunPsiSumOptions, 'role' | 'transport' | 'signal'>,
  signal: AbortSignal,
): Promise<RunPsiSumResult> {
  return runPsiSum({
    ...base,
    role,
    transport,
    signal,
    ...(role === 'requester'
      ? {
          terms: {
            reveal: opts.reveal,
            minCohort: opts.minCohort,
            purpose: opts.purpose,
            ...(opts.dpEpsilon !== undefined ? { dpEpsilon: opts.dpEpsilon } : {}),
            ...(opts.expectValues !== undefined ? { expectValues: opts.expectValues } : {}),
          },
        }
      : {
          policy: {
            reveal: opts.reveal,
            minCohort: opts.minCohort,
            ...(opts.dpEpsilon !== undefined ? { maxDpEpsilon: opts.dpEpsilon } : {}),
            ...(opts.expectValues !== undefined ? { expectValues: opts.expectValues } : {}),
          },
        }),
  });
}

/**
 * Runs `dataport psi-sum`; returns the exit code (errors are thrown as typed errors, printed by main).
 * @example
 * ```ts
 * process.exitCode = await run(['--connect', 'ws://127.0.0.1:7400', '--input', 'pharma.csv', '--key', 'resident_id',
 *   '--identity', 'keys/pharma', '--peer-key', 'keys/hospital.pub', '--json']);
 * ```
 */
export async function run(argv: string[]): Promise<number> {
  const startedAt = performance.now();
  const opts = parseOptions(argv);
  if (!opts) {
    console.log(PSI_SUM_HELP);
    return 0;
  }
  const reporter = createReporter(opts.json);
  // Schedule and budget files are checked before anything else happens (no connection yet).
  const schedule = opts.priceScheduleFile !== undefined ? await loadPriceSchedule(opts.priceScheduleFile, PSI_SUM_PROTOCOL_NAME) : undefined;
  const budget = opts.budgetFile !== undefined ? await loadBudgetPolicy(opts.budgetFile) : undefined;
  const acceptSchedule = opts.acceptPriceScheduleFile !== undefined ? await loadPriceSchedule(opts.acceptPriceScheduleFile, PSI_SUM_PROTOCOL_NAME) : undefined;
  if (opts.mode === 'listen' && opts.allowAnyPeer) reporter.warn(SESSION_MESSAGES.allowAnyPeer());
  const identity = await loadIdentity(opts.identityDir, reporter);
  const peerKey = opts.peerKeyFile !== undefined ? await loadPeerKey(opts.peerKeyFile) : undefined;
  const table = await readTable(opts);
  if (table.skipped > 0) reporter.warn(CSV_MESSAGES.emptyKeysSkipped(table.skipped));
  const columns: ValueColumnRequest[] = valueColumnRequests(opts);
  if (columns.length > 0) {
    // Refuse before connecting: decimals, bounds and the plaintext size (no sum can wrap).
    const agg = aggregateValueRows(table.keys.map((k) => normalizeKey(k)), table.values, columns, {
      rowMessage: (r, column, problem) => rowPlaceMessage(table.reader, table.places[r]!, problem, column),
    });
    choosePlainBits(agg.columns, agg.keys.length, opts.dpEpsilon);
  }
  let ledger: Ledger | undefined;
  if (opts.ledgerDir !== undefined) ledger = await openCliLedger(opts.ledgerDir, identity);

  const executor: CryptoExecutor = opts.workers === 0 ? await createInlineExecutor() : await createWorkerPool({ workers: opts.workers });
  let receipt: UsageReceipt | undefined;
  let ledgerIndex: number | undefined;
  let billing: ReceiptBilling | undefined;
  const role = opts.mode === 'connect' ? 'requester' : 'responder';
  const distinctKeys = dedupeRecords(table.keys.map((k) => normalizeKey(k))).keys.length;
  // Reserved once the peer is authenticated, settled by the appended receipt, released when over.
  const budgetHook = ledger && budget ? budgetCheck(ledger, budget, role, distinctKeys) : undefined;
  const progress = createProgress(opts.progress);
  const base: Omit<RunPsiSumOptions, 'role' | 'transport' | 'signal'> = {
    records: table.keys,
    onProgress: progressHook(progress),
    keySchema: { columns: opts.keyColumns },
    source: receiptSource(table.reader.info, opts.query),
    ...keySketchHook(ledger),
    ...(columns.length > 0 ? { values: { columns, rows: table.values } } : {}),
    identity,
    ...(peerKey ? { peerPublicKey: peerKey } : { allowAnyPeer: true }),
    executor,
    onReceipt: async (r) => {
      receipt = r;
      // The co-signed amount (whichever party's schedule priced it).
      billing = r.body.billing;
      if (ledger) {
        ledgerIndex = (await recordReceipt(ledger, r)).index;
        if (r.body.outcome === 'refused') process.stderr.write(`${SESSION_MESSAGES.receiptOfOutcomeAppended('refused run', ledger.dir, ledgerIndex)}\n`);
      }
    },
    ...(schedule ? { priceSchedule: schedule } : {}),
    ...(acceptSchedule ? { acceptPriceSchedule: acceptOnlySchedule(acceptSchedule) } : {}),
    ...(budgetHook ? { beforeRun: budgetHook } : {}),
  };
  const signal = sessionSignal(opts);
  let result: RunPsiSumResult | undefined;
  let withheld: GuardrailRefusedError | undefined;
  try {
    try {
      progress.phase(opts.mode === 'connect' ? 'connecting' : 'waiting-for-peer', 0);
      if (opts.mode === 'connect') {
        const transport = await connectWebSocket(opts.connect!, {
          limits: { overallTimeoutMs: opts.timeoutMs, idleTimeoutMs: Math.min(120_000, opts.timeoutMs) },
          connectTimeoutMs: Math.min(30_000, opts.timeoutMs),
          ...(opts.ca !== undefined ? { caFile: opts.ca } : {}),
          signal,
        });
        try {
          result = await runOn(opts, role, transport, base, signal);
        } finally {
          await transport.close().catch(() => {});
        }
      } else {
        result = await listenOnce(opts, role, base, signal);
      }
      progress.end();
    } catch (err) {
      if (err instanceof GuardrailRefusedError && receipt?.body.outcome === 'withheld') withheld = err;
      else {
        noteAbortedRun(err, receipt, ledgerIndex !== undefined ? { dir: opts.ledgerDir!, index: ledgerIndex } : undefined);
        throw asRunError(err, signal, opts);
      }
    }
  } finally {
    progress.stop();
    await budgetHook?.release();
    identity.secretKey.fill(0);
    await executor.close().catch(() => {});
    await ledger?.close().catch(() => {});
  }

  const common = {
    role,
    holder: columns.length > 0 ? 'values' : 'ids',
    inputRecords: table.rows,
    source: sourceSummary(table.reader.info),
    reveal: opts.reveal,
    minCohort: opts.minCohort,
    // The epsilon in force is the signed terms' (a listener's --dp-epsilon is only its maximum).
    dpEpsilon: (result?.dp?.epsilon ?? receipt?.body.options['dp-epsilon'] ?? 'none') === 'none' ? null : (result?.dp?.epsilon ?? receipt?.body.options['dp-epsilon']),
    purpose: opts.purpose,
    ms: Math.round(performance.now() - startedAt),
    security: securitySummary(receipt),
    receipt: receipt ?? null,
    ledger: ledgerIndex !== undefined ? { dir: opts.ledgerDir, index: ledgerIndex } : null,
    billing: billing ?? null,
  };
  if (withheld) {
    reporter.info(M.withheld(withheld.message));
    reporter.json({ ...common, withheld: true, intersectionSize: null, sums: null, means: null });
    return EXIT_WITHHELD;
  }
  const r = result!;
  const size = r.intersectionSize;
  reporter.info(
    size === undefined
      ? M.peerReceives(r.stats.distinctKeys, r.stats.peerDistinctKeys)
      : M.intersection(size, r.stats.distinctKeys, r.stats.peerDistinctKeys, r.dp?.epsilon),
  );
  if (r.sums) for (const c of r.columns) reporter.info(M.columnSum(c.name, String(r.sums[c.name]), r.means![c.name]));
  if (ledgerIndex !== undefined) reporter.info(SESSION_MESSAGES.receiptAppended(opts.ledgerDir!, ledgerIndex));
  if (billing) reporter.info(SESSION_MESSAGES.billed(billing));
  reporter.json({
    intersectionSize: size ?? null,
    sums: r.sums ?? null,
    means: r.means ?? null,
    withheld: false,
    ...common,
    distinctKeys: r.stats.distinctKeys,
    peerDistinctKeys: r.stats.peerDistinctKeys,
    columns: r.columns.map((c) => ({ name: c.name, decimals: c.decimals, bound: c.bound.toString() })),
    plainModulusBits: r.stats.plainModulusBits,
    bytesSent: r.stats.bytesSent,
    bytesReceived: r.stats.bytesReceived,
    peerKey: toBase64(r.receipt.body.parties.find((p) => p.role !== role)?.publicKey ?? new Uint8Array()),
  });
  return 0;
}

async function listenOnce(
  opts: Options,
  role: 'requester' | 'responder',
  base: Omit<RunPsiSumOptions, 'role' | 'transport' | 'signal'>,
  signal: AbortSignal,
): Promise<RunPsiSumResult> {
  // The session's --timeout signal also bounds the wait; only an authenticated peer ends the job.
  const r = await serveListener<RunPsiSumResult>(
    {
      listen: opts.listen!,
      ...(opts.tlsCert !== undefined ? { tls: { certFile: opts.tlsCert, keyFile: opts.tlsKey! } } : {}),
      limits: { overallTimeoutMs: opts.timeoutMs, idleTimeoutMs: Math.min(120_000, opts.timeoutMs) },
      handshakeTimeoutMs: opts.handshakeTimeoutMs,
      maxSessions: 1,
      keepServing: false,
      waitTimeoutMs: opts.timeoutMs,
      run: async (transport) => {
        try {
          return await runOn(opts, role, transport, base, signal);
        } catch (err) {
          // A withheld result is not an error here: the caller reports it from the receipt.
          throw err instanceof GuardrailRefusedError ? err : asRunError(err, signal, opts);
        }
      },
    },
    (server) => process.stderr.write(`${SESSION_MESSAGES.listening(server.address().url)}\n`),
  );
  if ('error' in r) throw r.error;
  return r.result;
}
