/**
 * `dataport psi`: private set intersection of a CSV file's keys with a peer's, over WebSocket
 * (optionally TLS), authenticated by the session layer, with a co-signed receipt. See docs/cli.md.
 *
 * Order of work: every option and file is checked before any socket is opened; the input is read
 * once for its distinct keys; the session runs (requester: connect; responder: listen, one
 * session unless `--keep-serving`); then `--output` is written by a second pass over the input, the
 * summary printed, and the receipt appended to `--ledger`.
 * @module
 */
import { constants as fsConstants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { InputError, TimeoutError, AbortError, DataportError } from '../../errors.js';
import { createInlineExecutor, type CryptoExecutor } from '../../protocols/executor.js';
import {
  DEFAULT_MAX_PEER_SET_SIZE,
  normalizeKey,
  runPsiProtocol,
  type PsiProtocolOptions,
} from '../../protocols/psi/index.js';
import type { PsiProgress } from '../../protocols/psi/party.js';
import type { FrameTransport } from '../../transport/types.js';
import { connectWebSocket } from '../../transport/websocket-node.js';
import type { WebSocketLimits } from '../../transport/websocket-core.js';
import { createWorkerPool } from '../../workers/index.js';
import type { Ledger } from '../../ledger/file-ledger.js';
import { toBase64 } from '../../utils/bytes.js';
import { keyBytes, keyId, readInputKeys, writeMatchingRows, type KeyInput } from '../key-input.js';
import { isDatabaseOutput, openInput, preflightTable, writeMatchingInputRows } from '../record-input.js';
import { databaseLabel, sourceSummary } from '../summary.js';
import { FILE_MESSAGES, CSV_MESSAGES, outputExistsMessage, DATABASE_MESSAGES, PSI_MESSAGES as M, SESSION_ERROR_HINTS, SESSION_MESSAGES, sessionTimedOutMessage } from '../messages.js';
import { createProgress } from '../progress.js';
import { PSI_HELP, parsePsiOptions, type PsiCliOptions } from '../psi-options.js';
import { cliSignal } from '../signals.js';
import { loadIdentity, loadPeerKey, readTextFile } from '../identity-files.js';
import { createReporter, failureSummary, securitySummary } from '../summary.js';
import { preparePsiKeys, runSessionPsi } from '../psi-session.js';
import { serveListener } from '../listen-loop.js';
import { loadBudgetPolicy, loadPriceSchedule, openCliLedger } from '../ledger-wiring.js';
import { PSI_PROTOCOL_NAME } from '../../session/run-psi.js';
import type { PsiContext, PsiRunOutcome } from '../psi-context.js';
import { readPayloadInput, type PayloadInput } from '../payload-input.js';

const PHASE_LABELS: Record<string, string> = {
  handshake: 'handshake',
  'round1-send': 'hashing+masking',
  'round1-receive': 'receiving',
  'round2-send': 're-masking',
  'round2-receive': 'matching',
};

function describePeerKey(key: Uint8Array | undefined): string {
  return key ? toBase64(key) : 'unauthenticated';
}

async function preflight(opts: PsiCliOptions): Promise<void> {
  for (const [flag, file] of [
    ['tls-cert', opts.tlsCert],
    ['tls-key', opts.tlsKey],
    ['ca', opts.ca],
  ] as const) {
    if (file !== undefined) await readTextFile(file, `--${flag}`, 1 << 20);
  }
  if (opts.output !== undefined && isDatabaseOutput(opts.output)) {
    // Reachable, credentials right, the table absent (or --replace): found now, not after the run.
    await preflightTable(opts.output, opts.outputTable!, opts.replace);
  } else if (opts.output !== undefined) {
    const dir = dirname(opts.output);
    await access(dir, fsConstants.W_OK).catch((err: unknown) => {
      throw new InputError(FILE_MESSAGES.outputDirNotWritable('--output', opts.output!, err));
    });
    const st = await stat(opts.output).catch(() => undefined);
    if (st?.isDirectory()) throw new InputError(FILE_MESSAGES.outputIsDirectory('--output', opts.output));
    const inSt = await stat(opts.input).catch(() => undefined);
    if (st && inSt && st.dev === inSt.dev && st.ino === inSt.ino) throw new InputError(FILE_MESSAGES.outputIsInput());
    if (st && !opts.force) throw new InputError(`--output ${outputExistsMessage(opts.output)}`);
  }
  if (opts.outputDir !== undefined) {
    const st = await stat(opts.outputDir).catch(() => undefined);
    if (!st?.isDirectory()) throw new InputError(FILE_MESSAGES.notADirectory('--output-dir', opts.outputDir));
    await access(opts.outputDir, fsConstants.W_OK).catch((err: unknown) => {
      throw new InputError(FILE_MESSAGES.outputDirNotWritable('--output-dir', opts.outputDir!, err));
    });
  }
}

function transportLimits(opts: PsiCliOptions): WebSocketLimits {
  return { overallTimeoutMs: opts.timeoutMs, idleTimeoutMs: Math.min(120_000, opts.timeoutMs) };
}

function protocolOptionsOf(opts: PsiCliOptions): PsiProtocolOptions {
  return {
    output: opts.reveal,
    cardinalityOnly: opts.countOnly,
    truncation: opts.truncate === 0 ? 0 : opts.truncate === 128 ? 1 : 2,
    suite: opts.suite,
    ...(opts.insecureInterop ? { interop: true } : {}),
  };
}

/** Runs one session over `transport`, in interop mode or through the session layer. */
async function runOne(ctx: PsiContext, role: 'requester' | 'responder', transport: FrameTransport, signal: AbortSignal): Promise<PsiRunOutcome> {
  const onProgress = (p: PsiProgress) => {
    if (!ctx.progress.enabled) return;
    if (p.phase === 'done') return ctx.progress.end();
    ctx.progress.phase(PHASE_LABELS[p.phase] ?? p.phase, p.totalPoints, 'points');
    ctx.progress.update(p.points);
  };
  if (ctx.opts.insecureInterop) {
    const result = await runPsiProtocol({
      role,
      records: ctx.input.ids.map(keyBytes),
      transport,
      ekm: new Uint8Array(0),
      options: ctx.protocolOptions,
      executor: ctx.executor,
      signal,
      onProgress,
    });
    return { role, result, bytesSent: transport.stats.bytesSent, bytesReceived: transport.stats.bytesReceived };
  }
  return runSessionPsi(ctx, role, transport, signal, onProgress);
}

/** Prints the outcome, writes `--output`; returns the exit code. */
async function finish(ctx: PsiContext, outcome: PsiRunOutcome, startedAt: number, output = ctx.opts.output): Promise<number> {
  const { opts, input, reporter, result } = { ...ctx, result: outcome.result };
  let outputRows: number | null = null;
  if (output !== undefined) {
    if (!result.intersection) throw new InputError(M.noIntersection());
    const matches = new Set(result.intersection.map((i) => input.ids[i]!));
    const delivered = outcome.payload?.byKey;
    if (input.scan && !isDatabaseOutput(output) && delivered === undefined) {
      ctx.progress.phase('writing', input.scan.bytes, 'B');
      outputRows = await writeMatchingRows(opts.input, output, opts.keyColumns, normalizeKey, matches, input.scan.sha256, {
        onBytes: (n) => ctx.progress.update(n),
        signal: cliSignal,
        // --output-dir names are new per session and never replace a file.
        force: opts.force && opts.outputDir === undefined,
      });
    } else {
      // A query's rows (read again in the first pass's snapshot), or any input into a table.
      ctx.progress.phase('writing', input.scan?.bytes ?? 0, input.scan ? 'B' : '');
      outputRows = await writeMatchingInputRows(
        ctx.reader,
        opts.keyColumns,
        (values) => {
          const key = normalizeKey(values);
          return key !== undefined && matches.has(keyId(key));
        },
        {
          output,
          ...(opts.outputTable !== undefined ? { table: opts.outputTable } : {}),
          replace: opts.replace || (opts.force && opts.outputDir === undefined),
          // PSI with payload: the delivered columns appended, one output row per delivered record.
          ...(delivered !== undefined
            ? { append: { header: outcome.payload!.columns, rowsFor: (values: readonly string[]) => delivered.get(keyId(normalizeKey(values)!)) ?? [] } }
            : {}),
          onBytes: (n) => ctx.progress.update(n),
          signal: cliSignal,
        },
      );
    }
    ctx.progress.end();
  }
  const size = result.intersectionSize;
  const learned = result.learned;
  reporter.info(
    learned === 'nothing'
      ? M.responderDone(opts.countOnly, input.ids.length, result.peerSetSize)
      : M.intersection(size, input.ids.length, result.peerSetSize, learned === 'cardinality'),
  );
  const payload = outcome.payload;
  if (payload?.byKey !== undefined) {
    reporter.info(M.payloadDelivered(payload.records ?? 0, payload.columns.join(',')));
    if (output === undefined) reporter.warn(M.payloadNotWritten());
  } else if (payload !== undefined) {
    reporter.info(M.payloadSealed(input.rows - input.skippedRows, payload.columns.join(',')));
  }
  if (outputRows !== null) reporter.info(isDatabaseOutput(output) ? DATABASE_MESSAGES.wroteTable(outputRows, opts.outputTable!, databaseLabel(output!)) : M.wroteRows(outputRows, output!));
  if (outcome.ledger) reporter.info(SESSION_MESSAGES.receiptAppended(outcome.ledger.dir, outcome.ledger.index));
  if (outcome.billing) reporter.info(SESSION_MESSAGES.billed(outcome.billing));
  reporter.json({
    ok: true,
    role: outcome.role,
    intersectionSize: size ?? null,
    learned,
    inputRecords: input.rows,
    source: sourceSummary(ctx.reader.info),
    distinctKeys: input.ids.length,
    skippedRows: input.skippedRows,
    peerDistinctKeys: result.peerSetSize,
    outputRows,
    bytesSent: outcome.bytesSent,
    bytesReceived: outcome.bytesReceived,
    ms: Math.round(performance.now() - startedAt),
    reveal: opts.reveal,
    countOnly: opts.countOnly,
    truncate: opts.truncate,
    suite: opts.suite,
    purpose: opts.purpose,
    authenticated: !opts.insecureInterop,
    peerKey: outcome.peerPublicKey ? toBase64(outcome.peerPublicKey) : null,
    security: securitySummary(outcome.receipt),
    receipt: outcome.receipt ?? null,
    ledger: outcome.ledger ?? null,
    billing: outcome.billing ?? null,
    ...(payload !== undefined ? { payloadColumns: payload.columns, payloadRecords: payload.records } : {}),
  });
  return 0;
}

async function requester(ctx: PsiContext, startedAt: number): Promise<number> {
  const { opts } = ctx;
  const signal = sessionSignal(opts);
  await preparePsiKeys(ctx, signal);
  let transport: FrameTransport;
  try {
    transport = await connectWebSocket(opts.connect!, {
      limits: transportLimits(opts),
      connectTimeoutMs: Math.min(30_000, opts.timeoutMs),
      ...(opts.ca !== undefined ? { caFile: opts.ca } : {}),
      signal,
    });
  } catch (err) {
    throw asRunError(err, signal, opts.connect!);
  }
  try {
    const outcome = await runOne(ctx, 'requester', transport, signal);
    ctx.progress.end();
    return await finish(ctx, outcome, startedAt);
  } catch (err) {
    throw asRunError(err, signal, opts.connect!);
  } finally {
    ctx.progress.stop();
    await transport.close().catch(() => {});
  }
}

/**
 * Rewords a run's error for the user: a timeout through our own signal reads as a timeout (not as
 * an abort), and a few codes get a hint about the likely cause.
 */
function asRunError(err: unknown, signal: AbortSignal, where: string): unknown {
  if (signal.aborted && !cliSignal.aborted && (err instanceof AbortError || !(err instanceof DataportError))) {
    return new TimeoutError(sessionTimedOutMessage(ctxTimeoutSeconds(signal), where));
  }
  if (err instanceof DataportError && !(err instanceof InputError)) {
    const hint = SESSION_ERROR_HINTS[err.code];
    if (hint !== undefined && !err.message.startsWith(hint)) return new DataportError(err.code, `${hint}${err.message}`, { cause: err });
  }
  return err;
}

const timeoutSeconds = new WeakMap<AbortSignal, number>();
function ctxTimeoutSeconds(signal: AbortSignal): string {
  const s = timeoutSeconds.get(signal);
  return s === undefined ? 'limit' : `${s}s`;
}
function sessionSignal(opts: PsiCliOptions): AbortSignal {
  const signal = AbortSignal.any([cliSignal, AbortSignal.timeout(opts.timeoutMs)]);
  timeoutSeconds.set(signal, opts.timeoutMs / 1000);
  return signal;
}


async function listener(ctx: PsiContext, startedAt: number): Promise<number> {
  const { opts, reporter } = ctx;
  const single = !opts.keepServing;
  let served = 0;
  let failed = 0;
  await preparePsiKeys(ctx, cliSignal);
  const r = await serveListener<{ outcome: PsiRunOutcome; t0: number }>(
    {
      listen: opts.listen!,
      ...(opts.tlsCert !== undefined ? { tls: { certFile: opts.tlsCert, keyFile: opts.tlsKey! } } : {}),
      limits: transportLimits(opts),
      handshakeTimeoutMs: opts.handshakeTimeoutMs,
      maxSessions: single ? 1 : 4,
      keepServing: !single,
      ...(single ? { waitTimeoutMs: opts.timeoutMs } : {}),
      unauthenticated: opts.insecureInterop,
      run: async (transport, who) => {
        const signal = sessionSignal(opts);
        // A listener's time counts from its peer's connection, not from its own start.
        const t0 = performance.now();
        try {
          const outcome = await runOne(ctx, 'responder', transport, signal);
          ctx.progress.end();
          return { outcome, t0 };
        } catch (err) {
          throw asRunError(err, signal, who);
        } finally {
          if (transport.authenticated) ctx.progress.stop();
        }
      },
      onServed: async ({ result, error }, who) => {
        if (result) {
          const { outcome, t0 } = result;
          served++;
          reporter.info(M.sessionFrom(who, describePeerKey(outcome.peerPublicKey)));
          await finish(ctx, outcome, t0, outputFileOf(opts, outcome, served)).catch((e: unknown) => {
            failed++;
            process.stderr.write(`dataport: ${SESSION_MESSAGES.sessionFailed(who, oneLine(e))}\n`);
          });
          return;
        }
        failed++;
        process.stderr.write(`dataport: ${SESSION_MESSAGES.sessionFailed(who, oneLine(error))}\n`);
        if (opts.json) {
          const code = error instanceof DataportError ? error.code : 'ERR_INTERNAL';
          process.stdout.write(`${JSON.stringify({ ok: false, code, error: SESSION_MESSAGES.sessionFailed(who, oneLine(error)), ...failureSummary(error) })}\n`);
        }
      },
    },
    (server) => {
      process.stderr.write(`${SESSION_MESSAGES.listening(server.address().url)}\n`);
      if (opts.insecureInterop) reporter.warn(M.interopListening());
    },
  );
  if ('error' in r) {
    if (!single && r.error instanceof AbortError) {
      reporter.info(M.stopped(served, failed));
      return 0;
    }
    throw r.error;
  }
  return await finish(ctx, r.result.outcome, r.result.t0, outputFileOf(opts, r.result.outcome, 1));
}

/**
 * Where a listener's session writes its rows: `--output FILE`, or with `--output-dir DIR` one file
 * per session, named by the UTC time, the session's number since the start and the receipt's
 * session id (the ledger entry's), e.g. `psi-20261206T050102Z-0001-3f9c….csv`.
 */
function outputFileOf(opts: PsiCliOptions, outcome: PsiRunOutcome, n: number): string | undefined {
  if (opts.outputDir === undefined) return opts.output;
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const id = outcome.receipt ? `-${Buffer.from(outcome.receipt.body.sessionId).toString('hex')}` : '';
  return join(opts.outputDir, `psi-${stamp}-${String(n).padStart(4, '0')}${id}.csv`);
}

function oneLine(err: unknown): string {
  return String((err as Error)?.message ?? err).replace(/\s*\n\s*/g, ' ');
}

/**
 * Runs `dataport psi`; returns the exit code (errors are thrown as typed errors, printed by main).
 * @example
 * ```ts
 * process.exitCode = await run(['--connect', 'ws://127.0.0.1:7400', '--input', 'a.csv', '--key', 'id',
 *   '--identity', 'keys/me', '--peer-key', 'keys/peer.pub']);
 * ```
 */
export async function run(argv: string[]): Promise<number> {
  const startedAt = performance.now();
  const opts = parsePsiOptions(argv);
  if (!opts) {
    console.log(PSI_HELP);
    return 0;
  }
  const reporter = createReporter(opts.json);
  // Several sessions at once would interleave one display: none unless asked for.
  const progress = createProgress(opts.keepServing && opts.progress.mode === undefined ? { mode: 'none' } : opts.progress);
  if (opts.insecureInterop) {
    process.stderr.write(M.interopBanner());
  } else if (opts.mode === 'listen' && opts.allowAnyPeer) {
    reporter.warn(SESSION_MESSAGES.allowAnyPeer());
  }

  await preflight(opts);
  // Schedule and budget files are checked before anything else happens (no connection yet).
  const schedule = opts.priceScheduleFile !== undefined ? await loadPriceSchedule(opts.priceScheduleFile, PSI_PROTOCOL_NAME) : undefined;
  const budget = opts.budgetFile !== undefined ? await loadBudgetPolicy(opts.budgetFile) : undefined;
  const acceptSchedule = opts.acceptPriceScheduleFile !== undefined ? await loadPriceSchedule(opts.acceptPriceScheduleFile, PSI_PROTOCOL_NAME) : undefined;
  const identity = opts.identityDir !== undefined ? await loadIdentity(opts.identityDir, reporter) : undefined;
  const peerKey = opts.peerKeyFile !== undefined ? await loadPeerKey(opts.peerKeyFile) : undefined;

  // A query's snapshot stays open until the rows for --output have been read again from it.
  const reader = await openInput(opts.input, opts.query, {
    keepOpen: opts.output !== undefined || opts.outputDir !== undefined || opts.payloadColumns !== undefined,
  });
  let input: KeyInput;
  try {
    if (reader.kind === 'file') progress.phase('reading input', (await stat(opts.input).catch(() => ({ size: 0 }))).size, 'B');
    else progress.phase('reading input', 0, 'rows');
    // The peer refuses more than DEFAULT_MAX_PEER_SET_SIZE keys anyway: stop reading there.
    input = await readInputKeys(reader, opts.keyColumns, normalizeKey, {
      onBytes: (n) => progress.update(n),
      onRows: (n) => progress.update(n),
      signal: cliSignal,
      maxKeys: DEFAULT_MAX_PEER_SET_SIZE,
    });
    progress.end();
  } catch (err) {
    await reader.close();
    throw err;
  } finally {
    progress.stop();
  }
  if (input.skippedRows > 0) {
    reporter.warn(CSV_MESSAGES.emptyKeysSkipped(input.skippedRows, input.firstSkippedRow));
  }
  // --payload: the delivered columns of every row, every key's payload checked against
  // --payload-max-bytes before listening.
  let payload: PayloadInput | undefined;
  if (opts.payloadColumns !== undefined) {
    try {
      payload = await readPayloadInput(reader, input, opts.keyColumns, opts.payloadColumns, opts.payloadMaxBytes, cliSignal, opts.payloadTolerance);
    } catch (err) {
      await reader.close();
      throw err;
    }
    if (opts.payloadTolerance === undefined) reporter.warn(M.payloadUnmarked(opts.payloadColumns.join(',')));
  }

  // The ledger is opened (and checked) before any peer is contacted: a broken ledger is found now,
  // not after a run whose receipt then has nowhere to go.
  let ledger: Ledger | undefined;
  if (opts.ledgerDir !== undefined) {
    try {
      ledger = await openCliLedger(opts.ledgerDir, identity!);
    } catch (err) {
      await reader.close();
      throw err;
    }
  }

  let executor: CryptoExecutor | undefined;
  try {
    executor = opts.workers === 0 ? await createInlineExecutor() : await createWorkerPool({ workers: opts.workers });
    const ctx: PsiContext = {
      opts,
      input,
      reader,
      executor,
      protocolOptions: protocolOptionsOf(opts),
      reporter,
      progress,
      ...(identity ? { identity } : {}),
      ...(peerKey ? { peerKey } : {}),
      ...(ledger ? { ledger } : {}),
      ...(schedule ? { schedule } : {}),
      ...(budget ? { budget } : {}),
      ...(acceptSchedule ? { acceptSchedule } : {}),
      ...(payload ? { payload } : {}),
    };
    return opts.mode === 'connect' ? await requester(ctx, startedAt) : await listener(ctx, startedAt);
  } finally {
    progress.stop();
    await executor?.close().catch(() => {});
    await ledger?.close();
    await reader.close();
    identity?.secretKey.fill(0);
  }
}
