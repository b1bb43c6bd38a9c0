/**
 * `dataport ppca-psi`: ECDH-PSI with another platform (SecretFlow's interconnection mode, or
 * another dataport) over the PPCA 9-2023 open protocol. See docs/interconnection.md.
 *
 * Order of work: options and the input file are checked, and `--output` opened, before the
 * server starts; then the link (both parties serve and call), the run, `--output`, the summary.
 * @module
 */
import { availableCores } from '../../platform/node.js';
import { InputError } from '../../errors.js';
import type { Ledger } from '../../ledger/file-ledger.js';
import { signOneSidedReceipt } from '../../ledger/receipt.js';
import type { UsageReceiptBody } from '../../ledger/receipt-types.js';
import type { Identity } from '../../session/identity.js';
import { loadIdentity, readTextFile } from '../identity-files.js';
import { openCliLedger } from '../ledger-wiring.js';
import { OPTION_MESSAGES as O, PPCA_MESSAGES as M } from '../messages.js';
import { PpcaSuiteNames, type PpcaSuiteName } from '../../crypto/ppca-suite.js';
import { createInlineExecutor, type CryptoExecutor } from '../../protocols/executor.js';
import { runPpcaPsi, type PpcaPsiResult } from '../../protocols/ppca/run.js';
import type { PpcaResultToRank } from '../../protocols/ppca/handshake.js';
import { createGrpcPpcaLink, type GrpcPpcaLink, type PpcaTlsOptions } from '../../transport/ppca-link-grpc.js';
import { createWorkerPool } from '../../workers/index.js';
import {
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
} from '../args.js';
import { openAtomicOutput, type AtomicOutput } from '../files.js';
import { readPpcaInput } from '../ppca-csv.js';
import { MAX_WORKERS } from '../psi-options.js';
import { createProgress, progressHook, type ProgressOptions } from '../progress.js';
import { cliSignal } from '../signals.js';
import { createReporter } from '../summary.js';

/** `--help` of `dataport ppca-psi`. */
export const PPCA_PSI_HELP = `usage: dataport ppca-psi --rank 0|1 --listen HOST:PORT --peer HOST:PORT
                         --input FILE.csv --key COL [options]

ECDH-PSI with another privacy-computing platform over the PPCA 9-2023 interconnection protocol
(SecretFlow's interconnection mode, or another dataport). Both parties serve and call each other
over gRPC (org.interconnection.link.ReceiverService/Push). Rank 1 proposes, rank 0 checks: both
must give the same --suite and --result-to-rank, or the run is refused on both sides.
There is no dataport session layer here: the peer is authenticated only by mutual TLS (--ca),
and nothing is co-signed.

  --rank 0|1              my rank (0 answers the handshake, 1 proposes)
  --listen HOST:PORT      where my server listens (the peer calls it)
  --peer HOST:PORT        the peer's server (tried once a second at start-up, for --timeout
                          and at least 10 times, so the two may start in either order)
  --input FILE.csv        CSV with a header line, read as the reference reads it: fields split on
                          every comma (no quotes), key fields stripped of ASCII whitespace only
  --key COL[,COL...]      key column(s); several are joined with ','
  --suite NAME            curve25519-sha256-direct (default) | sm2-sha256-tar | sm2-sm3-tai
  --result-to-rank N      who learns the intersection: -1 both (default), 0 or 1
  --output FILE.csv       write my input rows whose key is in the intersection, byte-for-byte
                          (only when my rank learns it); an existing FILE is refused (before
                          the server starts) unless --force
  --force                 replace an existing --output FILE
  --json                  print a one-line JSON summary as the last line of stdout
${progressHelp()}
                          phases: encrypting, sending, dual-encrypting, comparing (items)
  --channel NAME          link channel id (default root; the dual channel is NAME-0)
  --timeout SECONDS       longest wait for any expected message, ACK or FIN (default 30, the
                          reference's receive timeout)
  --workers N             worker threads for the cryptography (0 = none; default: core count)
  --tls-cert FILE         serve and call over TLS with this certificate (PEM) ...
  --tls-key FILE          ... and this private key (PEM)
  --ca FILE               trust this CA for the peer and require its client certificate
                          (mutual TLS; without it the peer is not authenticated)
  --ledger DIR            append a one-sided receipt of the run (signed by me alone: the peer
                          platform does not co-sign) with the suite, sizes and the peer's address
  --identity DIR          my identity (DIR/identity.key, from 'dataport keygen'): signs the
                          receipt, needed with --ledger (the PPCA peer never sees it)
  --purpose TEXT          purpose / authorisation reference recorded in that receipt (the
                          sharing record of GB/T 35273 §9.2; needs --ledger)
  --help                  this text

exit codes: 0 success, 1 error (a one-line message on stderr), 130 interrupted.`;

interface PpcaCliOptions {
  rank: 0 | 1;
  listen: string;
  peer: string;
  input: string;
  key: string[];
  suite: PpcaSuiteName;
  resultToRank: PpcaResultToRank;
  output?: string;
  /** `--force`: replace an existing `--output` file. */
  force: boolean;
  json: boolean;
  progress: Pick<ProgressOptions, 'mode' | 'intervalSeconds'>;
  channel: string;
  timeoutMs: number;
  workers: number;
  tls?: { certFile: string; keyFile: string; caFile?: string };
  ledger?: string;
  identity?: string;
  /** `--purpose`: recorded in the one-sided receipt (the peer platform signs no terms). */
  purpose: string;
}

function parseOptions(argv: readonly string[]): PpcaCliOptions | undefined {
  // `--result-to-rank -1`: parseArgs would take '-1' for an option; bind it to the option.
  const args = argv.flatMap((a, i) => (a === '--result-to-rank' && /^-[0-9]+$/.test(argv[i + 1] ?? '') ? [] : i > 0 && argv[i - 1] === '--result-to-rank' && /^-[0-9]+$/.test(a) ? [`--result-to-rank=${a}`] : [a]));
  const { values } = parseCommandArgs('ppca-psi', args, {
    rank: { type: 'string' },
    listen: { type: 'string' },
    peer: { type: 'string' },
    input: { type: 'string' },
    key: { type: 'string' },
    suite: { type: 'string' },
    'result-to-rank': { type: 'string' },
    output: { type: 'string' },
    force: { type: 'boolean' },
    json: { type: 'boolean' },
    ...PROGRESS_OPTION_SPECS,
    channel: { type: 'string' },
    timeout: { type: 'string' },
    workers: { type: 'string' },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
    ca: { type: 'string' },
    ledger: { type: 'string' },
    identity: { type: 'string' },
    purpose: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) return undefined;
  const rank = Number(choiceOption(values, 'rank', ['0', '1'] as const, stringOption(values, 'rank', true) as '0')) as 0 | 1;
  const listen = stringOption(values, 'listen', true);
  const peer = stringOption(values, 'peer', true);
  parseHostPort(listen, 'listen');
  parseHostPort(peer, 'peer');
  const resultToRank = Number(choiceOption(values, 'result-to-rank', ['-1', '0', '1'] as const, '-1')) as PpcaResultToRank;
  const channel = stringOption(values, 'channel') ?? 'root';
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(channel)) throw new InputError(M.channel(channel));
  const certFile = stringOption(values, 'tls-cert');
  const keyFile = stringOption(values, 'tls-key');
  const caFile = stringOption(values, 'ca');
  if ((certFile === undefined) !== (keyFile === undefined)) throw new InputError(O.goTogether('tls-cert', 'tls-key'));
  if (caFile !== undefined && certFile === undefined) throw new InputError(M.caNeedsTls());
  const output = stringOption(values, 'output');
  const learns = resultToRank === -1 || resultToRank === rank;
  if (output !== undefined && !learns) throw new InputError(M.rankDoesNotLearn(rank, resultToRank));
  if (values.force === true && output === undefined) throw new InputError(O.onlyWith('force', '--output FILE'));
  const ledger = stringOption(values, 'ledger');
  const identity = stringOption(values, 'identity');
  if ((ledger === undefined) !== (identity === undefined)) throw new InputError(O.goTogether('ledger', 'identity', 'the identity signs the ledger receipt'));
  const purpose = purposeOption(values);
  if (purpose !== undefined && ledger === undefined) throw new InputError(O.needsLedger('purpose'));
  return {
    purpose: purpose ?? '',
    rank,
    listen,
    peer,
    input: stringOption(values, 'input', true),
    key: parseColumnList(stringOption(values, 'key', true), 'key'),
    suite: choiceOption(values, 'suite', PpcaSuiteNames, 'curve25519-sha256-direct'),
    resultToRank,
    ...(output !== undefined ? { output } : {}),
    force: values.force === true,
    json: values.json === true,
    progress: progressOption(values),
    channel,
    timeoutMs: secondsOption(values, 'timeout', 30_000),
    workers: intOption(values, 'workers', 0, MAX_WORKERS, availableCores()),
    ...(certFile !== undefined && keyFile !== undefined ? { tls: { certFile, keyFile, ...(caFile !== undefined ? { caFile } : {}) } } : {}),
    ...(ledger !== undefined ? { ledger } : {}),
    ...(identity !== undefined ? { identity } : {}),
  };
}

/** The protocol name in the ledger for PPCA runs. */
const PPCA_PROTOCOL_NAME = 'ppca-ecdh-psi';

/**
 * The one-sided receipt of a completed run: only this party is named (the peer platform has no
 * dataport identity); the peer is recorded by its address. Sizes, never keys.
 */
function receiptBody(opts: PpcaCliOptions, identity: Identity, result: PpcaPsiResult, inputRows: number, startedAt: number, bytes: number, computeMs: number): UsageReceiptBody {
  const me = `rank-${opts.rank}`;
  const peer = `rank-${1 - opts.rank}`;
  const sessionId = new Uint8Array(16);
  globalThis.crypto.getRandomValues(sessionId);
  return {
    version: 1,
    sessionId,
    startedAt,
    endedAt: Math.max(Date.now(), startedAt),
    parties: [{ role: me, publicKey: identity.publicKey }],
    protocol: PPCA_PROTOCOL_NAME,
    options: { suite: result.suite, 'result-to-rank': String(opts.resultToRank), peer: opts.peer, channel: opts.channel, cosigned: 'no' },
    // GB/T 35273 §9.2 wants the purpose of every sharing: `--purpose` (empty when not given).
    purpose: opts.purpose,
    inputSizes: { [me]: inputRows, [peer]: result.peerItemNum },
    outputSizes: result.learned ? { [me]: result.intersectionSize! } : {},
    bytesExchanged: bytes,
    computeMs: Math.max(0, Math.round(computeMs)),
    guardrails: [],
    outcome: 'completed',
  };
}

/** A PEM file, through the CLI's one checked reader (at most 1 MiB). */
async function readPem(path: string, option: string): Promise<Uint8Array> {
  return new TextEncoder().encode(await readTextFile(path, `--${option}`, 1 << 20));
}

/**
 * Runs `dataport ppca-psi`; returns the exit code.
 *
 * @example
 * ```ts
 * await run(['--rank', '0', '--listen', '127.0.0.1:9100', '--peer', '127.0.0.1:9101', '--input', 'a.csv', '--key', 'id']);
 * ```
 */
export async function run(argv: string[]): Promise<number> {
  const startedAt = performance.now();
  const opts = parseOptions(argv);
  if (!opts) {
    console.log(PPCA_PSI_HELP);
    return 0;
  }
  const reporter = createReporter(opts.json);
  const progress = createProgress(opts.progress);
  const startedAtMs = Date.now();
  const input = await readPpcaInput(opts.input, opts.key);
  let tls: PpcaTlsOptions | undefined;
  if (opts.tls) {
    tls = { cert: await readPem(opts.tls.certFile, 'tls-cert'), key: await readPem(opts.tls.keyFile, 'tls-key') };
    if (opts.tls.caFile !== undefined) tls.ca = await readPem(opts.tls.caFile, 'ca');
  }
  let out: AtomicOutput | undefined;
  let executor: CryptoExecutor | undefined;
  let link: GrpcPpcaLink | undefined;
  let identity: Identity | undefined;
  let ledger: Ledger | undefined;
  let ledgerIndex: number | undefined;
  let result: PpcaPsiResult;
  try {
    if (opts.identity !== undefined && opts.ledger !== undefined) {
      // Opened (and checked) before the peer is contacted, as for `dataport psi`.
      identity = await loadIdentity(opts.identity, reporter);
      ledger = await openCliLedger(opts.ledger, identity);
    }
    if (opts.output !== undefined) out = await openAtomicOutput(opts.output, { force: opts.force });
    executor = opts.workers === 0 ? await createInlineExecutor() : await createWorkerPool({ workers: opts.workers });
    link = await createGrpcPpcaLink({
      rank: opts.rank,
      listen: opts.listen,
      peer: opts.peer,
      channel: opts.channel,
      recvTimeoutMs: opts.timeoutMs,
      // The reference tries 10 times, 1 s apart; the CLI keeps trying for --timeout as well, so a
      // peer that takes long to start (a big input file, a loaded machine) is still met.
      connectRetries: Math.max(10, Math.ceil(opts.timeoutMs / 1000)),
      ...(tls ? { tls } : {}),
    });
    if (!tls) reporter.warn(M.plainLink());
    else if (!tls.ca) reporter.warn(M.peerUnauthenticated());
    // On stderr whatever --json says (scripts and tests wait for it, as for `dataport psi`).
    process.stderr.write(`${M.listening(parseHostPort(opts.listen, 'listen').host, link.port, opts.rank, opts.peer)}\n`);
    result = await runPpcaPsi({
      rank: opts.rank,
      records: input.keys,
      suite: opts.suite,
      resultToRank: opts.resultToRank,
      link,
      executor,
      signal: cliSignal,
      onProgress: progressHook(progress),
    });
    progress.end();
    if (out && result.indices) {
      await out.write(input.header);
      for (const i of result.indices) await out.write(input.rows[i]!);
      await out.commit();
      out = undefined;
    }
    if (ledger && identity) {
      const st = link.stats();
      const receipt = signOneSidedReceipt(identity, receiptBody(opts, identity, result, input.keys.length, startedAtMs, st.bytesSent + st.bytesReceived, performance.now() - startedAt));
      ledgerIndex = (await ledger.append(receipt)).index;
    }
  } finally {
    progress.stop();
    await out?.abort().catch(() => {});
    await link?.close();
    await executor?.close().catch(() => {});
    await ledger?.close();
    identity?.secretKey.fill(0);
  }
  const stats = link.stats();
  const ms = Math.round(performance.now() - startedAt);
  if (ledgerIndex !== undefined) reporter.info(M.oneSidedReceipt(opts.ledger!, ledgerIndex));
  reporter.info(
    result.learned
      ? M.intersection(result.intersectionSize, result.indices!.length, input.keys.length, opts.output)
      : M.notLearned(opts.resultToRank),
  );
  reporter.info(M.stats({ suite: result.suite, rows: input.keys.length, distinct: result.distinctKeys, peerItems: result.peerItemNum, sent: stats.bytesSent, received: stats.bytesReceived, ms }));
  reporter.json({
    ok: true,
    rank: opts.rank,
    suite: result.suite,
    learned: result.learned,
    intersectionSize: result.intersectionSize,
    inputRecords: input.keys.length,
    distinctKeys: result.distinctKeys,
    peerItemNum: result.peerItemNum,
    bytesSent: stats.bytesSent,
    bytesReceived: stats.bytesReceived,
    ms,
  });
  return 0;
}
