/**
 * The command line of `dataport psi`: parsing and every cross-option check, done before any file
 * is read or any socket opened, so a mistake costs nothing and is named precisely.
 * @module
 */
import { InputError } from '../errors.js';
import { availableCores } from '../platform/node.js';
import { PsiSuiteNames, type PsiSuiteName } from '../protocols/psi/suite.js';
import { DEFAULT_PAYLOAD_MAX_BYTES, MAX_PAYLOAD_MAX_BYTES } from '../protocols/psi/payload.js';
import { DEFAULT_HANDSHAKE_TIMEOUT_MS, DEFAULT_LISTEN_TIMEOUT_MS, setRefusalLog } from './listen-loop.js';
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
  stringListOption,
  stringOption,
  type HostPort,
} from './args.js';
import { parseToleranceOption } from './commands/release.js';
import { FILE_MESSAGES, OPTION_MESSAGES as M, PSI_MESSAGES as P } from './messages.js';
import type { ProgressOptions } from './progress.js';
import { checkInputOptions, checkOutputOptions } from './record-input.js';

/** Everything `dataport psi` was asked to do. */
export interface PsiCliOptions {
  /** `listen` = the responder (waits for a peer), `connect` = the requester. */
  mode: 'listen' | 'connect';
  listen?: HostPort;
  connect?: string;
  /** A CSV file, or a postgres:// / mysql:// URL read with `query`. */
  input: string;
  /** `--query SQL` (with a database `--input`). */
  query?: string;
  keyColumns: string[];
  identityDir?: string;
  peerKeyFile?: string;
  allowAnyPeer: boolean;
  reveal: 'both' | 'requester';
  countOnly: boolean;
  truncate: 0 | 128 | 192;
  /** `--suite`: the group (default curve25519). */
  suite: PsiSuiteName;
  output?: string;
  /** `--force`: replace an existing `--output` file (otherwise refused, before any connection). */
  force: boolean;
  /** `--output-table NAME` (with a database `--output`). */
  outputTable?: string;
  /** `--replace`: replace an existing `--output-table` (otherwise refused, before any connection). */
  replace: boolean;
  /** `--output-dir DIR` (listener): one output file per session, see docs/cli.md. */
  outputDir?: string;
  json: boolean;
  /** `--progress` (mode absent: the stream's default) and `--progress-interval`. */
  progress: Pick<ProgressOptions, 'mode' | 'intervalSeconds'>;
  keepServing: boolean;
  workers: number;
  tlsCert?: string;
  tlsKey?: string;
  ca?: string;
  /** Overall limit of one session (connect included), in ms. */
  timeoutMs: number;
  /** Listener: time a connection has to complete the authenticated handshake, in ms. */
  handshakeTimeoutMs: number;
  purpose: string;
  insecureInterop: boolean;
  ledgerDir?: string;
  /** `--price-schedule FILE`: bill runs with this schedule (needs `--ledger`). */
  priceScheduleFile?: string;
  /** `--budget FILE`: query budget policy checked against `--ledger` before a run. */
  budgetFile?: string;
  /** `--accept-price-schedule FILE`: the only peer price schedule accepted (when the peer's bills). */
  acceptPriceScheduleFile?: string;
  /** `--payload COL[,COL…]` (listener): columns of its matched records delivered to the requester. */
  payloadColumns?: string[];
  /** `--accept-payload COL[,COL…]` (requester): the payload columns it accepts. */
  acceptPayload?: string[];
  /** `--payload-max-bytes N`: bytes every key's payload is padded to (default 256). */
  payloadMaxBytes: number;
  /** `--payload-tolerance COL=TOL,…`: payload columns fingerprinted for the recipient (both sides state it). */
  payloadTolerance?: Record<string, string>;
}

/** Default `--timeout`: the one default of every listener (listen-loop.ts). */
export const DEFAULT_TIMEOUT_MS = DEFAULT_LISTEN_TIMEOUT_MS;
/** Longest `--purpose` accepted, in characters (it is signed into the receipt); checked in args.ts. */
export { MAX_PURPOSE_CHARS } from './args.js';
/** Largest `--workers`. */
export const MAX_WORKERS = 256;

/** `--help` lines of `--truncate` and `--suite` (shared by `psi` and `job`). */
export const PSI_TERMS_HELP = `  --truncate 0|128|192    truncate the exchanged values to this many bits (0 = none; default 128)
  --suite curve25519|sm2-sm3
                          the group: curve25519 (default) or SM2 with SM3 hashing, for
                          deployments that must use the national curves end to end (both sides
                          must give the same; docs/psi-protocol.md)`;

/** The PSI term options `psi` and `job` share: `--count-only`, `--truncate`, `--suite`. */
export const PSI_TERMS_OPTION_SPECS = {
  'count-only': { type: 'boolean' },
  truncate: { type: 'string' },
  suite: { type: 'string' },
} as const;

/**
 * Parses {@link PSI_TERMS_OPTION_SPECS} (the same rules for `psi` and `job`).
 * @example
 * ```ts
 * const { countOnly, truncate, suite } = parsePsiTermsOptions(values);
 * ```
 */
export function parsePsiTermsOptions(values: Parameters<typeof choiceOption>[0]): Pick<PsiCliOptions, 'countOnly' | 'truncate' | 'suite'> {
  const truncText = choiceOption(values, 'truncate', ['0', '128', '192'] as const, '128');
  return {
    countOnly: values['count-only'] === true,
    truncate: Number(truncText) as 0 | 128 | 192,
    suite: choiceOption(values, 'suite', PsiSuiteNames, 'curve25519'),
  };
}

/** `--help` of `dataport psi`. */
export const PSI_HELP = `usage: dataport psi (--listen HOST:PORT | --connect ws://HOST:PORT | wss://HOST:PORT)
                    --input FILE.csv|URL [--query SQL] --key COL[,COL...] [options]

Private set intersection of the keys in FILE.csv with a peer's keys. The --connect side is the
requester, the --listen side the responder. Both sides must state the same terms
(--reveal, --count-only, --truncate, --suite, --purpose); otherwise the run is refused on both sides.

input and output:
  --input FILE.csv        CSV with a header row (UTF-8, optional BOM, quoted fields)
  --input URL --query SQL a database instead: postgres://USER@HOST[:PORT]/DB or
                          mysql://USER@HOST[:PORT]/DB (no password in the URL: PGPASSWORD,
                          ~/.pgpass / MYSQL_PWD, ~/.my.cnf); SQL is one SELECT, run in a
                          read-only transaction; NULL is an empty cell (docs/databases.md)
  --key COL[,COL...]      key column(s); values are trimmed, NFKC-normalised and case-folded
  --output FILE.csv       write my input rows whose key is in the intersection, byte-for-byte;
                          an existing FILE is refused (before connecting) unless --force
  --output URL --output-table NAME
                          the same rows (all columns of the input, as text) into a new table,
                          written in one transaction; an existing table is refused unless --replace
  --force                 replace an existing --output FILE
  --replace               replace an existing --output-table
  --output-dir DIR        listener: the same, one new file per session in DIR, named
                          psi-<UTC time>-<session number>-<session id>.csv (for --keep-serving)
  --json                  print a one-line JSON summary as the last line of stdout
${progressHelp()}

peers and identity:
  --identity DIR          my identity (DIR/identity.key, from 'dataport keygen')
  --peer-key FILE         the peer's identity.pub: required with --connect; with --listen,
                          only this peer is accepted
  --allow-any-peer        --listen without --peer-key: accept any authenticated peer (warns)
  --tls-cert FILE         listener: serve wss:// with this certificate (PEM) ...
  --tls-key FILE          ... and this private key (PEM)
  --ca FILE               requester: trust this CA / self-signed certificate for wss://

terms:
  --reveal both|requester who learns the intersection (default requester)
  --count-only            learn only its size, not which keys are in it — while the peer runs
                          dataport unmodified (semi-honest): a modified peer that learns the
                          count can test which of its own keys matched (SECURITY.md §1.2,
                          finding 2), so count-only then gives what --reveal gives. Receipts
                          record security=semi-honest; against a peer you do not trust to run
                          it unmodified, rely on contracts, --budget and the ledger (and the
                          SDK's minIntersection), not on count-only
${PSI_TERMS_HELP}
  --purpose TEXT          purpose / authorisation reference, signed into the receipt

payload (the listener delivers columns of its matched records; docs/psi-payload.md):
  --payload COL[,COL...]  listener: deliver these columns of my records to the requester; every
                          record's values are sealed, and only those of matched records can be
                          opened (all rows of a matched key; the same size for every record)
  --accept-payload COL[,COL...]
                          requester: accept exactly these columns (needs --purpose); they are
                          appended to my --output rows (one row per delivered record). Columns,
                          size, recipient (my key) and purpose are in the signed terms; a
                          mismatch is refused on both sides
  --payload-max-bytes N   bytes every key's payload is padded to (default ${DEFAULT_PAYLOAD_MAX_BYTES}; both sides
                          the same): 2 + (2 + UTF-8 bytes) per value of every row of the key;
                          the listener refuses a longer key, naming its row, before listening
  --payload-tolerance COL=TOL[,COL=TOL...]
                          fingerprint these payload columns for the requester (docs/trace.md):
                          a decimal step for numbers (cost_yuan=0.01) or days for dates
                          (visit_date=1d); each value moves by at most TOL. Both sides give the
                          same (the requester accepts the marking by stating it; refused
                          otherwise). The listener needs --ledger: every session's release is
                          recorded there for 'dataport trace'. Without it the payload is
                          delivered unmarked (untraceable; the listener warns)

running:
  --keep-serving          listener: serve sessions until interrupted (default: exit after one)
  --handshake-timeout SECONDS
                          listener: time a connection has to authenticate (default 10). Only a
                          peer that authenticates with an accepted key can end the job; any
                          other connection is closed, logged as one line on stderr, and the
                          listener goes on waiting (16 pending at most; per address a burst of
                          16 connections, then 1 per second)
  --refusal-log FILE      listener: also append each refused connection to FILE as a JSON line
                          (for 'dataport supervise --listener-log FILE'; docs/supervise.md)
  --workers N             worker threads for the cryptography (0 = none; default: core count)
  --timeout SECONDS       limit of one session (default 600); with --listen and no
                          --keep-serving, also the longest wait for a peer that
                          authenticates (the same rule for every listener)
  --ledger DIR            append the signed usage receipt of every run to this ledger
  --price-schedule FILE   bill each run with this price schedule (JSON, see docs/ledger.md);
                          the amount is part of the co-signed receipt (needs --ledger)
  --budget FILE           query budget per counterparty (JSON, see docs/ledger.md), checked
                          against --ledger once the peer is authenticated; a spent budget
                          refuses the run on both sides (needs --ledger). A run counts once
                          protocol data flowed: a peer that hangs up before the receipt leaves
                          a one-sided 'aborted-after-data' entry that uses its query
  --accept-price-schedule FILE
                          run only if the peer's price schedule, when it bills the run, is
                          exactly this one (both announce theirs before the run; the listener's
                          wins); otherwise the run is refused on both sides before any data
  --insecure-interop      bare draft protocol, NO authentication (testing against other
                          implementations of draft-wang-ppm-ecdh-psi only)
  --help                  this text

exit codes: 0 success, 1 error (a one-line message on stderr), 130 interrupted.`;

/**
 * Parses and checks `dataport psi` arguments; `InputError` for any inconsistency. Returns
 * `undefined` when `--help` was asked for.
 *
 * @example
 * ```ts
 * const opts = parsePsiOptions(['--connect', 'ws://127.0.0.1:7400', '--input', 'a.csv', '--key', 'id',
 *   '--identity', 'me', '--peer-key', 'peer.pub']);
 * ```
 */
export function parsePsiOptions(argv: readonly string[]): PsiCliOptions | undefined {
  const { values } = parseCommandArgs('psi', argv, {
    listen: { type: 'string' },
    connect: { type: 'string' },
    input: { type: 'string' },
    query: { type: 'string' },
    key: { type: 'string' },
    identity: { type: 'string' },
    'peer-key': { type: 'string' },
    'allow-any-peer': { type: 'boolean' },
    reveal: { type: 'string' },
    ...PSI_TERMS_OPTION_SPECS,
    output: { type: 'string' },
    force: { type: 'boolean' },
    'output-table': { type: 'string' },
    replace: { type: 'boolean' },
    'output-dir': { type: 'string' },
    json: { type: 'boolean' },
    ...PROGRESS_OPTION_SPECS,
    'keep-serving': { type: 'boolean' },
    workers: { type: 'string' },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
    ca: { type: 'string' },
    timeout: { type: 'string' },
    'handshake-timeout': { type: 'string' },
    'refusal-log': { type: 'string' },
    purpose: { type: 'string' },
    'insecure-interop': { type: 'boolean' },
    ledger: { type: 'string' },
    'price-schedule': { type: 'string' },
    budget: { type: 'string' },
    'accept-price-schedule': { type: 'string' },
    payload: { type: 'string' },
    'accept-payload': { type: 'string' },
    'payload-max-bytes': { type: 'string' },
    'payload-tolerance': { type: 'string', multiple: true },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) return undefined;

  const listenText = stringOption(values, 'listen');
  const connect = stringOption(values, 'connect');
  if ((listenText === undefined) === (connect === undefined)) {
    throw new InputError(M.listenOrConnect());
  }
  const mode = listenText !== undefined ? 'listen' : 'connect';
  const listen = listenText !== undefined ? parseHostPort(listenText, 'listen') : undefined;
  if (connect !== undefined) checkConnectUrl(connect);

  const opts: PsiCliOptions = {
    mode,
    input: stringOption(values, 'input', true),
    keyColumns: parseColumnList(stringOption(values, 'key', true), 'key'),
    allowAnyPeer: values['allow-any-peer'] === true,
    reveal: choiceOption(values, 'reveal', ['both', 'requester'] as const, 'requester'),
    ...parsePsiTermsOptions(values),
    json: values.json === true,
    force: values.force === true,
    replace: values.replace === true,
    progress: progressOption(values),
    keepServing: values['keep-serving'] === true,
    workers: intOption(values, 'workers', 0, MAX_WORKERS, availableCores()),
    timeoutMs: secondsOption(values, 'timeout', DEFAULT_TIMEOUT_MS),
    handshakeTimeoutMs: secondsOption(values, 'handshake-timeout', DEFAULT_HANDSHAKE_TIMEOUT_MS),
    purpose: purposeOption(values) ?? '',
    insecureInterop: values['insecure-interop'] === true,
    payloadMaxBytes: intOption(values, 'payload-max-bytes', 4, MAX_PAYLOAD_MAX_BYTES, DEFAULT_PAYLOAD_MAX_BYTES),
  };
  const payloadText = stringOption(values, 'payload');
  const acceptText = stringOption(values, 'accept-payload');
  if (payloadText !== undefined) opts.payloadColumns = parseColumnList(payloadText, 'payload');
  if (acceptText !== undefined) opts.acceptPayload = parseColumnList(acceptText, 'accept-payload');
  if (listen) opts.listen = listen;
  if (connect !== undefined) opts.connect = connect;
  const optional = {
    identityDir: stringOption(values, 'identity'),
    peerKeyFile: stringOption(values, 'peer-key'),
    output: stringOption(values, 'output'),
    query: stringOption(values, 'query'),
    outputTable: stringOption(values, 'output-table'),
    outputDir: stringOption(values, 'output-dir'),
    tlsCert: stringOption(values, 'tls-cert'),
    tlsKey: stringOption(values, 'tls-key'),
    ca: stringOption(values, 'ca'),
    ledgerDir: stringOption(values, 'ledger'),
    priceScheduleFile: stringOption(values, 'price-schedule'),
    budgetFile: stringOption(values, 'budget'),
    acceptPriceScheduleFile: stringOption(values, 'accept-price-schedule'),
  };
  for (const [k, v] of Object.entries(optional)) if (v !== undefined) (opts as unknown as Record<string, unknown>)[k] = v;

  const listenerOnly = (flag: string, given: boolean) => {
    if (given && mode !== 'listen') throw new InputError(M.onlyWith(flag, '--listen'));
  };
  listenerOnly('keep-serving', opts.keepServing);
  listenerOnly('allow-any-peer', opts.allowAnyPeer);
  listenerOnly('tls-cert', opts.tlsCert !== undefined);
  listenerOnly('tls-key', opts.tlsKey !== undefined);
  listenerOnly('output-dir', opts.outputDir !== undefined);
  listenerOnly('handshake-timeout', values['handshake-timeout'] !== undefined);
  listenerOnly('refusal-log', values['refusal-log'] !== undefined);
  setRefusalLog(stringOption(values, 'refusal-log'));
  if (opts.ca !== undefined && mode !== 'connect') throw new InputError(M.onlyWith('ca', '--connect'));
  listenerOnly('payload', opts.payloadColumns !== undefined);
  if (opts.acceptPayload !== undefined && mode !== 'connect') throw new InputError(M.onlyWith('accept-payload', '--connect'));
  const payload = opts.payloadColumns ?? opts.acceptPayload;
  if (payload === undefined && values['payload-max-bytes'] !== undefined) throw new InputError(P.payloadMaxBytesAlone());
  const toleranceItems = stringListOption(values, 'payload-tolerance');
  if (toleranceItems.length > 0) {
    if (payload === undefined) throw new InputError(P.payloadToleranceAlone());
    opts.payloadTolerance = parseToleranceOption(toleranceItems, payload, opts.keyColumns, { tolerance: 'payload-tolerance', columns: payload === opts.payloadColumns ? 'payload' : 'accept-payload' });
    if (mode === 'listen' && opts.ledgerDir === undefined && !opts.insecureInterop) throw new InputError(M.needsLedger('payload-tolerance'));
  }
  if (payload !== undefined) {
    if (opts.countOnly) throw new InputError(P.payloadCountOnly());
    if (opts.payloadMaxBytes < 2 + 2 * payload.length) throw new InputError(P.payloadMaxBytesTooSmall(2 + 2 * payload.length));
    if (opts.acceptPayload !== undefined && opts.purpose.trim() === '' && !opts.insecureInterop) throw new InputError(P.payloadNeedsPurpose());
  }
  if ((opts.tlsCert === undefined) !== (opts.tlsKey === undefined)) throw new InputError(M.goTogether('tls-cert', 'tls-key'));
  if (opts.ca !== undefined) checkConnectUrl(connect!, opts.ca);

  checkInputOptions(opts.input, opts.query);
  checkOutputOptions(opts.output, opts.outputTable, opts.replace, opts.force);
  if (opts.output !== undefined && opts.outputDir !== undefined) throw new InputError(P.outputOrOutputDir());
  if (opts.force && opts.output === undefined) throw new InputError(P.forceNeedsOutput());
  if (opts.outputDir !== undefined) {
    if (opts.countOnly) throw new InputError(P.outputNeedsMatches('--output-dir'));
    if (opts.reveal === 'requester') throw new InputError(P.outputNotLearned('--output-dir'));
  }
  if (opts.output !== undefined) {
    if (opts.countOnly) throw new InputError(P.outputNeedsMatches('--output'));
    if (mode === 'listen' && opts.reveal === 'requester') throw new InputError(P.outputNotLearned('--output'));
    if (opts.keepServing) throw new InputError(P.outputKeepServing());
    if (opts.output === opts.input && opts.outputTable === undefined) throw new InputError(FILE_MESSAGES.outputIsInput());
  }

  if (opts.insecureInterop) {
    if (opts.countOnly) throw new InputError(P.countOnlyInterop());
    if (opts.suite !== 'curve25519') throw new InputError(P.suiteInterop(opts.suite));
    for (const [flag, given] of [
      ['identity', opts.identityDir !== undefined],
      ['peer-key', opts.peerKeyFile !== undefined],
      ['allow-any-peer', opts.allowAnyPeer],
      ['ledger', opts.ledgerDir !== undefined],
      ['price-schedule', opts.priceScheduleFile !== undefined],
      ['budget', opts.budgetFile !== undefined],
      ['accept-price-schedule', opts.acceptPriceScheduleFile !== undefined],
      ['purpose', values.purpose !== undefined],
      ['payload', opts.payloadColumns !== undefined],
      ['accept-payload', opts.acceptPayload !== undefined],
      ['payload-tolerance', opts.payloadTolerance !== undefined],
    ] as const) {
      if (given) throw new InputError(P.meaninglessInInterop(flag));
    }
  } else {
    for (const [flag, given] of [
      ['price-schedule', opts.priceScheduleFile !== undefined],
      ['budget', opts.budgetFile !== undefined],
    ] as const) {
      if (given && opts.ledgerDir === undefined) throw new InputError(M.needsLedger(flag));
    }
    if (opts.identityDir === undefined) throw new InputError(M.missingIdentity());
    if (mode === 'connect' && opts.peerKeyFile === undefined) throw new InputError(M.requesterPeerKey());
    if (mode === 'listen' && opts.peerKeyFile === undefined && !opts.allowAnyPeer) throw new InputError(M.listenerPeerKey());
    if (opts.peerKeyFile !== undefined && opts.allowAnyPeer) throw new InputError(M.contradict('peer-key', 'allow-any-peer'));
  }
  return opts;
}
