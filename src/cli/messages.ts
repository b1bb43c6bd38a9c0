/**
 * User-facing texts of the CLI, gathered in one place so that they can be offered in another
 * language (Chinese first) without hunting through the commands. Each is a function of what it
 * names, grouped by area in `*_MESSAGES` tables keyed by message (a translation is a table of the
 * same type: `const zh: typeof OPTION_MESSAGES = { … }`); the error class and exit code stay with
 * the caller. What stays with its command: the `--help` texts (whole documents) and the layouts of
 * reports (tables, JSON). See docs/cli.md ("Messages") for the table of what the CLI prints.
 * @module
 */
import { CSV_SCAN_MESSAGES, fsErrorText } from '../sources/messages.js';
import { SUPERVISE_MESSAGES } from '../supervise/messages.js';

export { fsErrorText };
/** The alert texts of `dataport supervise` (an alert's `messageKey` is `supervise.<key>`). */
export { SUPERVISE_MESSAGES };

/** An output file that exists, without `--force`. */
export function outputExistsMessage(path: string): string {
  return `${path} already exists; refusing to overwrite it (use --force to replace it)`;
}

/** A key file that exists, without `--force` (`keygen`). */
export function keyExistsMessage(path: string): string {
  return `${path} already exists; refusing to overwrite a key (use --force to replace it)`;
}

/** A problem at a place in an input file, in the one form CSV and value errors share. */
export function fileLineMessage(file: string, line: number, problem: string, column?: string): string {
  return `${file}: line ${line}: ${column !== undefined ? `column ${column}: ` : ''}${problem}`;
}

/** What a peer-authentication failure usually means, before the error's own words. */
const AUTH_HINT = 'peer authentication failed (wrong --peer-key, or not the expected peer): ';

/**
 * Prefixes added to an error's message by its stable code, when the usual cause is a wrong flag
 * or the other side's policy: `psi` and `psi-sum` (a two-party session).
 */
export const SESSION_ERROR_HINTS: Readonly<Partial<Record<string, string>>> = {
  ERR_VERIFICATION_FAILED: AUTH_HINT,
  ERR_TRANSPORT_CLOSED: 'connection: ',
  ERR_TERMS_REFUSED: 'terms refused: ',
  ERR_GUARDRAIL_REFUSED: 'refused by guardrail: ',
};

/** The same for `aggregate` (the other side is the operator, or a participant it refused). */
export const AGGREGATE_ERROR_HINTS: Readonly<Partial<Record<string, string>>> = {
  ERR_VERIFICATION_FAILED: 'peer authentication failed (wrong --peer-key, or a key the other side does not accept): ',
  ERR_TRANSPORT_CLOSED: 'connection: ',
  ERR_TERMS_REFUSED: 'terms refused: ',
};

/** A session that ran past `--timeout` (`where`: the peer's address or URL, when known). */
export function sessionTimedOutMessage(seconds: string, where?: string): string {
  return `${where !== undefined ? `session with ${where}` : 'session'} timed out (--timeout ${seconds})`;
}

/** Options, arguments and their combinations (args.ts and every command's option checks). */
export const OPTION_MESSAGES = {
  givenTwice: (option: string, command: string) => `option --${option} given twice (see 'dataport ${command} --help')`,
  /** `option`: as typed (`--x`, `-x`), or empty when the parser did not say which. */
  unknown: (option: string, command: string) => `unknown option ${option === '' ? '' : `${option} `}(see 'dataport ${command} --help')`,
  takesNoValue: (option: string) => `option ${option} takes no value`,
  /** `option`: with its dashes. */
  needsValue: (option: string) => `option ${option} needs a value`,
  unexpectedArgument: (arg: string, command: string) => `unexpected argument ${arg} (see 'dataport ${command} --help')`,
  missing: (option: string) => `missing required option --${option}`,
  empty: (option: string) => `option --${option} must not be empty`,
  notInteger: (option: string, got: string) => `option --${option} must be an integer, got '${got}'`,
  outOfRange: (option: string, min: number, max: number, got: string) => `option --${option} must be between ${min} and ${max}, got ${got}`,
  notSeconds: (option: string, got: string) => `option --${option} must be a number of seconds, got '${got}'`,
  secondsRange: (option: string) => `option --${option} must be between 0.001 and 2147483 seconds`,
  notOneOf: (option: string, choices: readonly string[], got: string) => `option --${option} must be one of ${choices.join(', ')}, got '${got}'`,
  notHostPort: (option: string, got: string) => `option --${option} must be HOST:PORT (e.g. 127.0.0.1:7400 or [::1]:7400), got '${got}'`,
  portTooLarge: (option: string, port: number) => `option --${option}: port must be at most 65535, got ${port}`,
  emptyColumn: (option: string, text: string) => `option --${option}: empty column name in '${text}'`,
  columnTwice: (option: string, column: string) => `option --${option}: column '${column}' given twice`,
  goTogether: (a: string, b: string, why = '') => `options --${a} and --${b} go together${why === '' ? '' : ` (${why})`}`,
  contradict: (a: string, b: string) => `options --${a} and --${b} contradict each other`,
  /** `when`: e.g. `--listen`, `--output FILE`. */
  onlyWith: (option: string, when: string) => `option --${option} applies only with ${when}`,
  needsLedger: (option: string) => `option --${option} needs --ledger DIR (it is recorded in and checked against the ledger)`,
  missingIdentity: () => "missing required option --identity DIR (create one with 'dataport keygen --out DIR')",
  listenOrConnect: () => 'give exactly one of --listen HOST:PORT or --connect ws://HOST:PORT',
  connectNotUrl: (got: string) => `option --connect must be a URL like ws://HOST:PORT or wss://HOST:PORT, got '${got}'`,
  connectScheme: (got: string) => `option --connect must start with ws:// or wss://, got '${got}'`,
  connectCredentials: () => 'option --connect: credentials in the URL are not supported',
  caNeedsWss: () => 'option --ca needs a wss:// URL in --connect',
  purpose: (maxChars: number) => `option --purpose must be at most ${maxChars} characters without control characters`,
  requesterPeerKey: () => "missing required option --peer-key FILE: the requester must pin the listener's public key (its identity.pub)",
  listenerPeerKey: () => '--listen needs --peer-key FILE (accept only that peer) or --allow-any-peer',
  workers: (max: number, got: string) => `option --workers must be auto or an integer from 0 to ${max}, got '${got}'`,
  unknownSubcommand: (command: string, sub: string, choices: string) => `unknown ${command} subcommand '${sub}' (${choices}; see 'dataport ${command} --help')`,
} as const;

/** Files: the checked readers, outputs, identities and key folders (files.ts, identity-files.ts). */
export const FILE_MESSAGES = {
  /** `what`: the role of the file (`identity`, `peer key`, `--budget`, …). */
  cannotRead: (what: string, path: string, err: unknown) => `${what} ${path}: cannot read (${fsErrorText(err)})`,
  notRegular: (what: string, path: string) => `${what} ${path}: not a regular file`,
  tooLarge: (what: string, path: string, maxBytes: number) => `${what} ${path}: larger than ${maxBytes} bytes`,
  isDirectory: (path: string) => `${path}: is a directory`,
  cannotReadInput: CSV_SCAN_MESSAGES.cannotReadInput,
  cannotWriteOutput: (path: string, err: unknown) => `${path}: cannot write output (${fsErrorText(err)})`,
  cannotWrite: (path: string, err: unknown) => `${path}: cannot write (${fsErrorText(err)})`,
  /** `--output FILE` / `--output-dir DIR` checked before any connection. */
  outputDirNotWritable: (option: string, path: string, err: unknown) => `${option} ${path}: directory not writable (${fsErrorText(err)})`,
  outputIsDirectory: (option: string, path: string) => `${option} ${path}: is a directory`,
  outputIsInput: () => '--output must not be the input file',
  notADirectory: (option: string, path: string) => `${option}${option === '' ? '' : ' '}${path}: not a directory`,
  cannotCreateDirectory: (path: string, err: unknown) => `${path}: cannot create directory (${fsErrorText(err)})`,
  noIdentity: (dir: string) => `no identity in ${dir} (missing identity.key; create one with 'dataport keygen --out ${dir}')`,
  identityReadableByOthers: (path: string, mode: number) =>
    `${path} is readable by other users (mode ${(mode & 0o777).toString(8)}); run: chmod 600 ${path}`,
  badKeyFile: (path: string, problem: string) => `${path}: ${problem}`,
  badPeerKey: (path: string, problem: string) => `${path}: ${problem} (expected a peer's identity.pub)`,
  keysDirUnreadable: (option: string, dir: string, err: unknown) => `${option} ${dir}: cannot read directory (${fsErrorText(err)})`,
  keyNameTwice: (option: string, dir: string, name: string, first: string, second: string) =>
    `${option} ${dir}: the name '${name}' is given twice (${first} and ${second}); keep one`,
  tooManyKeys: (option: string, dir: string, max: number) => `${option} ${dir}: more than ${max} keys`,
  noKeys: (option: string, dir: string) => `${option} ${dir}: no NAME.pub files or NAME/identity.pub keygen folders`,
  sameKeyTwice: (option: string, dir: string, a: { name: string; file: string }, b: { name: string; file: string }) =>
    `${option} ${dir}: the same key is given as '${a.name}' (${a.file}) and '${b.name}' (${b.file}); keep one`,
  /** A file's contents that did not parse (JSON, a policy, a query): `option` names the flag or role. */
  invalid: (option: string, path: string, problem: string) => `${option === '' ? '' : `${option} `}${path}: ${problem}`,
  cannotOpenLedger: (dir: string, err: unknown) =>
    `--ledger ${dir}: cannot open (${(err as NodeJS.ErrnoException | undefined)?.code !== undefined ? fsErrorText(err) : String((err as Error)?.message ?? err)})`,
  /** The ledger's own error, prefixed with the flag that named it. */
  ledgerProblem: (dir: string, problem: string) => `--ledger ${dir}: ${problem}`,
  cannotListen: (where: string, err: unknown) => `--listen ${where}: cannot listen (${fsErrorText(err)})`,
  noPriceFor: (protocol: string) => `no price for protocol '${protocol}' and no default`,
} as const;

/** CSV input (key-input.ts, ppca-csv.ts), with the scanner's own texts (src/sources/messages.ts). */
export const CSV_MESSAGES = {
  ...CSV_SCAN_MESSAGES,
  badKey: (path: string, row: number, problem: string) => `${path}: data row ${row}: ${problem}`,
  tooManyKeys: (path: string, max: number, row: number) => `${path}: more than ${max} distinct keys (at data row ${row}); split the job into hash buckets`,
  allKeysEmpty: (path: string, columns: readonly string[]) => `${path}: every row has an empty key (${columns.join(', ')}); nothing to compare`,
  changedDuringRun: (path: string) => `${path}: the file changed during the run; no output written`,
  changedWhileRunning: (path: string, declared: number, read: number) => `${path}: changed while running (${declared} rows declared, ${read} read)`,
  tooManyRows: (path: string, max: number) => `${path}: more than ${max} rows`,
  emptyKeysSkipped: (rows: number, firstRow?: number) =>
    `${rows} rows with an empty key were skipped${firstRow !== undefined ? ` (first at data row ${firstRow})` : ''}`,
  /** ppca-psi's reader (the reference implementation's rules). */
  noHeaderLine: (path: string) => `${path}: no header line`,
  bom: (path: string) => `${path}: starts with a UTF-8 BOM, which the reference implementation refuses; remove it`,
  missingField: (path: string, line: number, fields: number, column: string, field: number) =>
    `${path}: line ${line} has ${fields} fields, column '${column}' is field ${field}`,
} as const;

/** Lines every session command prints (psi, psi-sum, aggregate, ppca-psi). */
export const SESSION_MESSAGES = {
  /** On stderr whatever `--json` says: scripts and tests read the bound port from it. */
  listening: (url: string) => `listening on ${url}`,
  allowAnyPeer: () => '--allow-any-peer: any peer with a valid identity may run this job; its key is recorded in the receipt',
  receiptAppended: (dir: string, index: number | undefined) => `receipt appended to ${dir} (entry ${index})`,
  receiptOfOutcomeAppended: (what: string, dir: string, index: number) => `receipt of the ${what} appended to ${dir} (entry ${index})`,
  billed: (b: { amountMinor: string | number | bigint; currency: string; schedule: string }) =>
    `billed: ${b.amountMinor} ${b.currency} minor units (schedule ${b.schedule})`,
  sessionFailed: (who: string, problem: string) => `session from ${who} failed: ${problem}`,
  /** A connection a listener closed before authentication (never fatal to its job). */
  rejected: (who: string, problem: string) => `rejected connection from ${who}: ${problem}`,
  shuttingDown: () => 'the listener is shutting down',
  closedBeforeAuthentication: () => 'closed before authentication',
} as const;

/** `dataport psi`. */
export const PSI_MESSAGES = {
  outputNeedsMatches: (option: string) => `${option} needs to know which keys matched; it cannot be used with --count-only`,
  outputNotLearned: (option: string) => `${option}: with --reveal requester the listener (responder) learns no intersection`,
  outputOrOutputDir: () => 'give one of --output FILE or --output-dir DIR',
  forceNeedsOutput: () => 'option --force applies only with --output FILE (--output-dir never replaces a file)',
  outputKeepServing: () => '--output cannot be used with --keep-serving (one file, many sessions): use --output-dir DIR',
  countOnlyInterop: () => '--count-only is a dataport extension, not part of the draft: not available with --insecure-interop',
  suiteInterop: (suite: string) => `--suite ${suite} is a dataport suite, not the draft's: not available with --insecure-interop`,
  meaninglessInInterop: (option: string) => `option --${option} has no meaning with --insecure-interop (no session, no identities, no receipt)`,
  noIntersection: () => '--output: this party did not learn the intersection',
  responderDone: (countOnly: boolean, mine: number, peer: number) =>
    `done: the requester learns the intersection${countOnly ? ' size' : ''}; this side learns only the set sizes (mine: ${mine} distinct keys, peer: ${peer})`,
  intersection: (size: number | undefined, mine: number, peer: number, countOnly: boolean) =>
    `intersection: ${size} of ${mine} distinct keys (peer: ${peer} distinct keys)${countOnly ? ', count only' : ''}`,
  wroteRows: (rows: number, path: string) => `wrote ${rows} rows to ${path}`,
  sessionFrom: (who: string, peer: string) => `session from ${who} (peer ${peer}):`,
  stopped: (served: number, failed: number) => `stopped after ${served} sessions (${failed} failed)`,
  interopListening: () => 'insecure interop mode: anyone who can reach this port can take part',
  payloadCountOnly: () => '--payload/--accept-payload deliver columns of matched records: not available with --count-only',
  payloadNeedsPurpose: () => '--accept-payload needs --purpose TEXT: the purpose of the release is part of the signed terms',
  payloadMaxBytesAlone: () => 'option --payload-max-bytes applies only with --payload or --accept-payload',
  payloadMaxBytesTooSmall: (min: number) => `option --payload-max-bytes must be at least ${min} for these columns (2 bytes, then 2 per value)`,
  payloadTooLarge: (detail: string) => `--payload: ${detail}; raise --payload-max-bytes on both sides or shorten the values`,
  payloadDelivered: (records: number, columns: string) => `payload: ${records} records of ${columns} delivered`,
  payloadSealed: (records: number, columns: string) => `payload: ${columns} of ${records} records sealed for the requester (only matched ones can be opened)`,
  payloadToleranceAlone: () => 'option --payload-tolerance applies only with --payload or --accept-payload',
  payloadUnmarked: (columns: string) =>
    `--payload ${columns} is delivered unmarked (no --payload-tolerance): a leaked copy cannot be traced to its recipient (docs/trace.md)`,
  payloadReleaseRecorded: (releaseId: string, marked: number, index: number, dir: string) =>
    `payload fingerprinted for the requester (release ${releaseId}, ${marked} marked cells); release entry ${index} appended to ${dir}`,
  payloadNotWritten: () => '--accept-payload: the delivered payload is written only with --output (add it to keep the values)',
  interopBanner: () =>
    '\n*** WARNING: --insecure-interop: NO AUTHENTICATION, NO SESSION BINDING, NO RECEIPT. ***\n' +
    '*** The peer is whoever connects; a relay in the middle goes undetected.            ***\n' +
    '*** For testing against other implementations of the draft only; never real data.   ***\n\n',
} as const;

/** `dataport psi-sum`. */
export const PSI_SUM_MESSAGES = {
  assignments: (option: string, got: string) => `option --${option} takes COL=VALUE[,COL=VALUE...], got '${got}'`,
  decimals: (option: string, column: string, got: string) => `option --${option} ${column}=${got}: decimals must be an integer 0..18`,
  expectValuesForIdHolder: () => 'option --expect-values is for the identifier holder: the value holder (--values) states its own scales',
  notAValueColumn: (column: string) => `column '${column}' in --decimals/--bound is not one of --values`,
  badEpsilon: (got: string, problem: string) => `option --dp-epsilon '${got}': ${problem}`,
  keyAndValue: (column: string) => `column '${column}' is both a key and a value column`,
  tlsSides: () => '--tls-cert/--tls-key apply only with --listen, --ca only with --connect',
  timedOut: (seconds: string) => `psi-sum ${sessionTimedOutMessage(seconds)}`,
  withheld: (why: string) => `result withheld: ${why}`,
  peerReceives: (mine: number, peer: number) => `done: the peer receives the result (mine: ${mine} distinct keys, peer: ${peer})`,
  intersection: (size: number, mine: number, peer: number, epsilon?: string) =>
    `intersection: ${size} of ${mine} distinct keys (peer: ${peer})${epsilon !== undefined ? `, with DP noise (epsilon ${epsilon})` : ''}`,
  columnSum: (column: string, sum: string, mean: string | null | undefined) => `  ${column}: sum ${sum}, mean ${mean ?? 'n/a'}`,
} as const;

/** `dataport aggregate`. */
export const AGGREGATE_MESSAGES = {
  providersRequired: () => "option --providers is required (see 'dataport aggregate --help')",
  serveNeedsKeys: () => 'serve needs --analyst-key FILE and --provider-keys DIR (the keys it accepts), or --allow-any-peer',
  allowAnyPeer: () => '--allow-any-peer: any participant with a valid identity may join a role whose keys are not given; its key is recorded in the receipt',
  operatorKey: () => "missing required option --peer-key FILE: pin the operator's public key (its identity.pub)",
  maxEpsilon: (got: string) => `option --max-epsilon must be a decimal in (0, 100] with at most 6 places, got '${got}'`,
  listening: (url: string, providers: number) => `listening on ${url} for 1 analyst and ${providers} providers`,
  refusedLink: (role: string, key: string) => `refused ${role} ${key}`,
  receiptsAppended: (count: number, dir: string) => `${count} receipt(s) appended to ${dir}`,
  providerRefused: (key: string, why: string) => `provider ${key} refused: ${why}`,
  linksWithoutReceipt: (count: number) => `${count} link(s) ended without a co-signed receipt (participant gone)`,
  roundCompleted: (queryId: string, contributors: number, expected: number) => `round ${queryId} completed: ${contributors} of ${expected} providers contributed`,
  roundAborted: (reason: string) => `round aborted: ${reason}`,
  analystResult: (r: { queryId: string; groups: number; withheld: number; contributors: number; expected: number }, path: string) =>
    `result of ${r.queryId}: ${r.groups} group(s), ${r.withheld} withheld, ${r.contributors} of ${r.expected} providers; written to ${path}`,
  joined: () => 'joined the round; waiting for the query',
  tooManyColumns: (path: string, count: number) =>
    `${path}: its ${count} columns do not fit in the signed terms (256 bytes as a JSON list); name the ones a query may use with --columns`,
  contributed: (rows: number, queryId: string, contributors: number) => `contributed ${rows} rows to ${queryId}; the released total covers ${contributors} providers`,
  /** Why a provider refused (its `AbortReason`), after "provider KEY refused: ". */
  refusal: {
    query: 'the query is against its policy (e.g. --min-cohort, --max-epsilon, the analyst key)',
    quorum: "the query's quorum is below its minimum (--min-quorum)",
    input: 'it could not use its input',
    other: 'error',
  },
} as const;

/** `dataport ledger`. */
export const LEDGER_MESSAGES = {
  notIntact: (dir: string, problem: string, index?: number) => `ledger ${dir} is NOT intact: ${index === undefined ? problem : `entry ${index}: ${problem}`}`,
  cannotPrice: (dir: string, index: number, ref: string, problem: string) => `ledger ${dir}: entry ${index}: billed with ${ref}, which cannot price it (${problem})`,
  billedWrong: (dir: string, index: number, billed: string, ref: string, expected: string) => `ledger ${dir}: entry ${index}: billed ${billed} but ${ref} gives ${expected}`,
  exceedsSize: (option: string, value: number, size: number) => `--${option} ${value} exceeds the ledger size ${size}`,
  indexNotBelow: (index: number, size: number) => `--index ${index} is not below the tree size ${size}`,
  fromAfterTo: (from: number, to: number) => `--from ${from} must not exceed --to ${to}`,
  labelledTwice: (where: string, key: string, a: string, b: string) => `${where}: key ${key} is labelled both '${a}' and '${b}'`,
  namesNotJson: () => 'not JSON (expected {"<base64 public key>": "label", ...})',
  namesNotObject: () => 'expected a JSON object {"<base64 public key>": "label", ...}',
  tooManyEntries: (max: number) => `more than ${max} entries`,
  notAKey: (text: string) => `'${text}' is not a base64 Ed25519 public key`,
  badLabel: (key: string) => `the label of ${key} must be 1 to 64 characters without control characters`,
  checkpointWritten: (size: number, path: string) => `checkpoint of ${size} ${size === 1 ? 'entry' : 'entries'} written to ${path}`,
  exportNotJson: (problem: string) => `not JSON (${problem})`,
  ownExport: () => "it is of this ledger's own owner; cross-check compares two parties",
  peerKeyUnpinned: (file: string) => `the peer's key was read from ${file}; pass --peer-key to pin it (an export of another key compares nothing)`,
} as const;

/** `dataport supervise` itself (the alerts' texts are {@link SUPERVISE_MESSAGES}). */
export const SUPERVISE_CLI_MESSAGES = {
  head: (dir: string, size: number, root: string, verified: boolean) =>
    `ledger ${dir}: ${size} ${size === 1 ? 'entry' : 'entries'}, root ${root}${verified ? '' : ' (NOT intact: see the ledger-integrity alert)'}`,
  noAlerts: () => 'no alerts',
  counts: (errors: number, warnings: number, infos: number) => `${errors} error, ${warnings} warning and ${infos} info alerts`,
  watching: (dir: string, seconds: number) => `watching ${dir} (every ${seconds} s and on change); Ctrl-C stops`,
  refusalLinesSkipped: (n: number) => `${n} lines of the listener logs are not refusal records and were left out`,
  noSharingRecords: () => 'no sharing records',
  sharingOnlyOnce: () => '--sharing-records prints the records once (not with --watch)',
} as const;

/** `dataport dashboard` (docs/dashboard.md); the page's own texts are in src/dashboard/messages.ts. */
export const DASHBOARD_MESSAGES = {
  listening: (url: string) => `dashboard listening on ${url} (read-only; Ctrl-C to stop)`,
  notLoopback: (host: string) =>
    `--listen ${host}: the dashboard is reachable from other machines, without TLS or a login; put it behind a reverse proxy that has both (docs/dashboard.md)`,
  publicKeyCount: (keys: number, ledgers: number) => `--public-key: ${keys} files for ${ledgers} ledgers; give one per --ledger DIR, in the same order`,
  ledgerTwice: (dir: string) => `--ledger: ${dir} is given twice`,
  emptyPath: (option: string, text: string) => `option --${option}: empty path in '${text}'`,
  requestFailed: (problem: string) => `dashboard: a request failed: ${problem}`,
} as const;

/** `dataport ppca-psi`. */
export const PPCA_MESSAGES = {
  channel: (got: string) => `option --channel must be 1..64 characters of [A-Za-z0-9_.-], got '${got}'`,
  caNeedsTls: () => 'option --ca needs --tls-cert and --tls-key (mutual TLS: both sides present a certificate)',
  rankDoesNotLearn: (rank: number, resultToRank: number) => `option --output: rank ${rank} does not learn the intersection with --result-to-rank ${resultToRank}`,
  plainLink: () => 'the link is plain h2c: not encrypted, and the peer is not authenticated (use --tls-cert, --tls-key and --ca)',
  peerUnauthenticated: () => 'the peer is not authenticated: without --ca its client certificate is not required',
  listening: (host: string, port: number, rank: number, peer: string) => `listening on ${host}:${port} as rank ${rank} (peer ${peer})`,
  oneSidedReceipt: (dir: string, index: number) => `one-sided receipt appended to ${dir} (entry ${index}; not co-signed by the peer)`,
  intersection: (size: number | null | undefined, rows: number, mine: number, output: string | undefined) =>
    `intersection: ${size} distinct keys (${rows} of my ${mine} rows)${output !== undefined ? `, written to ${output}` : ''}`,
  notLearned: (resultToRank: number) => `done: rank ${resultToRank} learns the intersection, this rank does not`,
  stats: (s: { suite: string; rows: number; distinct: number; peerItems: number; sent: number; received: number; ms: number }) =>
    `suite ${s.suite}; my rows ${s.rows} (${s.distinct} distinct keys), peer's items ${s.peerItems}; sent ${s.sent} B, received ${s.received} B; ${s.ms} ms`,
} as const;

/** `dataport keygen`. */
export const KEYGEN_MESSAGES = {
  wrote: (keyPath: string, pubPath: string) => `wrote ${keyPath} (secret, mode 0600) and ${pubPath}`,
} as const;
/** `dataport job` (docs/jobs.md). */
export const JOB_MESSAGES = {
  failed: (jobId: string, why: string) => `job ${jobId} failed, no output written: ${why}`,
  sessionFailed: (who: string, why: string) => `dataport: job session from ${who} failed: ${why}`,
  exists: (jobId: string, workDir: string, why: string) => `job ${jobId} already exists in ${workDir} and ${why}; use another --job-id`,
  resuming: (jobId: string) => `resuming job ${jobId}`,
  queued: (jobId: string, pending: number, buckets: number) =>
    `job ${jobId}: ${pending} of ${buckets} buckets queued; run the same 'job submit' without --detach to finish it`,
  finished: (jobId: string, buckets: number, run: number, retries: number, size: number | null, mine: number, peer: number) =>
    `job ${jobId}: ${buckets} buckets (${run} run now, ${retries} retries); ${size === null ? 'intersection not revealed to this side' : `intersection ${size}`} of ${mine} distinct keys (peer: ${peer})`,
  opened: (jobId: string, rows: number, buckets: number) => `job ${jobId}: opened, ${rows} rows partitioned into ${buckets} buckets`,
  bucketDone: (jobId: string, bucket: number) => `job ${jobId}: bucket ${bucket} done`,
  closed: (jobId: string, buckets: number, size: number | null, mine: number, peer: number) =>
    `job ${jobId}: completed, ${buckets} buckets; ${size === null ? 'this side learns only the set sizes' : `intersection ${size}`} (mine: ${mine} distinct keys, peer: ${peer})`,
  receiptAppended: (dir: string, index: number) => `job receipt appended to ${dir} (entry ${index})`,
  retry: (bucket: number, why: string, attempt: number) => `bucket ${bucket}: ${why}; retry ${attempt}`,
  bucketFailed: (jobId: string, bucket: number, why: string) => `job ${jobId}: bucket ${bucket} failed: ${why}`,
  noResult: (jobId: string, bucket: number) => `job ${jobId}: bucket ${bucket} has no result`,
  noManifest: (jobId: string, workDir: string) => `job ${jobId}: no requester manifest in ${workDir}`,
  noBucket: (jobId: string, bucket: number) => `job ${jobId} has no bucket ${bucket}`,
  unknownJob: (jobId: string) => `unknown job ${jobId}`,
  otherPeer: (jobId: string) => `job ${jobId} belongs to another peer`,
  notJobPath: () => 'not a job session path',
  manifestUnreadable: (workDir: string, jobId: string, why: string) => `--work-dir ${workDir}: cannot read the manifest of job ${jobId} (${why})`,
  manifestDamaged: (workDir: string, jobId: string, dir: string) => `--work-dir ${workDir}: the manifest of job ${jobId} is damaged; remove ${dir} to start the job over`,
  resultUnreadable: (jobId: string, bucket: number, why: string) => `job ${jobId}: bucket ${bucket}'s result is unreadable (${why})`,
  damagedRows: (path: string) => `${path}: damaged result`,
  damagedIndex: (path: string) => `${path}: damaged row index (the job's partition is unusable: remove its buckets directory and submit the job again)`,
  workDirNotDir: (workDir: string) => `--work-dir ${workDir}: not a directory`,
  cannotCreate: (workDir: string, why: string) => `--work-dir ${workDir}: cannot create the job directory (${why})`,
  jobId: () => 'option --job-id must be 1 to 64 characters of A-Z a-z 0-9 _ . - starting with a letter or digit',
  connectPath: (got: string) => `option --connect: give HOST:PORT only, without a path ('${got}')`,
  detachNeedsQueue: () => 'option --detach needs --queue (without it the job runs in this process)',
  grewSinceDeclared: (jobId: string, input: string, now: number, declared: number) =>
    `job ${jobId}: ${input} has ${now} records with a key, more than the ${declared} declared when the job opened (it changed meanwhile); submit the job again`,
  overDeclared: (side: string, total: number, declared: number) =>
    `the ${side}'s ${total} distinct keys exceed the ${declared} records it declared when the job opened`,
  counting: (input: string) => `counting the records of ${input}`,
  counted: (input: string, n: number) => `${input}: ${n} records with a key (declared in every job this process opens)`,
  outputFileOnly: () => 'job --output is a CSV file (a database --output is not offered for jobs)',
  queryChanged: (input: string) => `${input}: the query's rows differ from those read when the job partitioned them (changed, or in another order: give the query an ORDER BY); no output written`,
  outputNeeded: () => 'missing required option --output FILE (or --count-only)',
  queueUrl: (got: string) => `option --queue must be a URL like redis://HOST:PORT/DB, got '${got}'`,
  queueScheme: (got: string) => `option --queue must start with redis://, got '${got}'`,
  queueDb: () => 'option --queue: the database must be a number from 0 to 15',
  queueDown: (queue: string, seconds: number, why: string) =>
    `--queue ${queue}: Redis unreachable for ${seconds} s (${why}); start it and run the same command again (a job resumes)`,
  notQueued: (jobId: string, queue: string) => `job ${jobId}: not on the queue ${queue}`,
  statusBucket: (bucket: number, state: string, attempts: number, reason?: string) =>
    `bucket ${bucket}: ${state}${attempts > 1 ? ` (${attempts} attempts)` : ''}${reason ? `: ${reason}` : ''}`,
  statusBar: (bar: string, done: number, buckets: number, active: number, waiting: number, failed: number) =>
    `[${bar}] ${done}/${buckets} buckets done, ${active} running, ${waiting} waiting, ${failed} failed`,
  workerWaiting: (pid: number) => `worker ${pid} waiting for bucket tasks`,
  queueUnreachable: (queue: string, why: string, seconds: number) => `--queue ${queue}: Redis unreachable (${why}); waiting up to ${seconds} s (--queue-timeout)`,
  taskFailed: (id: string, attempt: number, why: string) => `dataport: task ${id} failed (attempt ${attempt}): ${why}`,
  unknownCommand: (sub: string) => `unknown job command '${sub}' (serve, submit, worker or status)`,
  sumOptionOnly: (flag: string) => `option --${flag} applies to psi-sum jobs (give --values, or --protocol psi-sum on the identifier holder's side)`,
  sumPsiOptionOnly: (flag: string) => `option --${flag} applies to psi jobs, not to psi-sum jobs`,
  sumValuesFromDatabase: () => 'a psi-sum job reads its value columns from a CSV --input (a database input is offered for identifiers and psi jobs)',
  sumNoOutput: () => 'option --output: a psi-sum job writes no file (its count, sums and means are printed, and in --json)',
  sumWithheld: (jobId: string, k: number) => `job ${jobId}: result withheld: the job's intersection is below the minimum cohort of ${k}`,
  sumClosed: (jobId: string, buckets: number, mine: number, peer: number) => `job ${jobId}: completed, ${buckets} buckets (mine: ${mine} distinct keys, peer: ${peer})`,
  sumFinished: (jobId: string, buckets: number, run: number, retries: number) => `job ${jobId}: ${buckets} buckets (${run} run now, ${retries} retries)`,
  sumColumnsDiffer: (jobId: string) => `job ${jobId}: the value holder announced different value columns or plaintext sizes in different buckets`,
  sumModulusTooSmall: (jobId: string) => `job ${jobId}: the value holder's plaintext modulus cannot hold the job's total (its sums could wrap)`,
  sumRejected: () => "the value holder's result failed the range check on the job's total (a column sum beyond its declared bound × count): sums withheld",
} as const;

/**
 * A problem at a row of an input: `FILE: line N: …` for a CSV file, `postgres://…: row N: …` for
 * a query's result (its rows have no lines).
 */
export function inputRowMessage(input: string, place: { line: number } | { row: number }, problem: string, column?: string): string {
  if ('line' in place) return fileLineMessage(input, place.line, problem, column);
  return `${input}: row ${place.row}: ${column !== undefined ? `column ${column}: ` : ''}${problem}`;
}

/** Databases as `--input` / `--output` (record-input.ts, docs/databases.md). */
export const DATABASE_MESSAGES = {
  queryNeeded: (kind: string) => `--input ${kind}://…: give the rows to read with --query 'SELECT …'`,
  queryOnlyWithUrl: () => 'option --query applies only when --input is a postgres:// or mysql:// URL',
  unsupportedUrl: () => '--input: only files, postgres://, postgresql:// and mysql:// URLs are supported',
  noRows: (input: string) => `${input}: the query returned no rows`,
  tableNeeded: () => '--output to a database needs --output-table NAME',
  tableNeedsDatabase: () => 'option --output-table needs --output postgres://… or mysql://…',
  replaceOnlyTable: () => 'option --replace applies only with --output-table (files: --force)',
  forceNotTable: () => 'option --force applies to files; to replace a table use --replace',
  formatNotTable: () => 'option --format applies to files; a result table has the columns group, statistic, column, bin, value',
  tableOf: (table: string, database: string) => `table ${table} of ${database}`,
  wroteTable: (rows: number, table: string, database: string) => `wrote ${rows} rows to table ${table} of ${database}`,
};

/** Data products (`dataport product`, product-files.ts). */
export const PRODUCT_MESSAGES = {
  notPublished: (dir: string) => `--product ${dir}: no published product here (run dataport product publish --out ${dir} first)`,
  cacheBusy: (dir: string, pid: number | undefined, lockFile: string) =>
    `--cache ${dir}: another 'dataport product fetch'${pid === undefined ? '' : ` (process ${pid})`} is writing this cache; run this one again when it has finished (if no dataport process uses it, delete ${lockFile})`,
  cacheUnwritable: (dir: string, err: unknown) => `--cache ${dir}: cannot create the folder (${fsErrorText(err)})`,
  cacheMissing: (dir: string) => `--cache ${dir}: no product cache here; run dataport product fetch --cache ${dir} first`,
  chunkMissing: (dir: string, chunk: number, version: string) => `--cache ${dir}: chunk ${chunk} of version ${version} is missing; run dataport product fetch again`,
  cannotReadManifest: (dir: string, err: unknown) => `--product ${dir}: cannot read manifest.bin (${fsErrorText(err)})`,
  badManifest: (dir: string, why: string) => `--product ${dir}: manifest.bin: ${why} (is --identity the identity that published it?)`,
  cannotReadKey: (dir: string, path: string, err: unknown) => `--product ${dir}: cannot read the OPRF key ${path} (${fsErrorText(err)})`,
  wrongKey: (dir: string, path: string) => `--product ${dir}: ${path} is not the OPRF key of this product version`,
  notApplicable: (option: string, sub: string) => `option --${option} does not apply to dataport product ${sub} (see 'dataport product --help')`,
  tooManyKeys: (flag: string, path: string, max: number) => `${flag} ${path}: more than ${max} distinct keys`,
  skippedRows: (flag: string, n: number, first: number | undefined) => `${flag}: ${n} rows with an empty key were skipped (first at data row ${first})`,
  noteTooLong: (max: number) => `--version-note must be at most ${max} bytes`,
  addOrRemove: () => 'give --add SRC, --remove SRC or both',
  keyColumns: (given: number, product: number) => `--key names ${given} columns; the product's keys have ${product}`,
  alreadyPresent: (n: number) => `${n} keys of --add were already in the index`,
  notPresent: (n: number) => `${n} keys of --remove were not in the index`,
  peerKeysOrAny: () => 'give exactly one of --peer-keys DIR and --allow-any-peer',
  budgetRecords: (path: string) => `--budget ${path}: maxRecords counts the index size of every product run; use maxKeys (keys evaluated per period per product)`,
  allowAnyPeer: () => '--allow-any-peer: any authenticated querier may query this product; its key is recorded in the receipt',
  rotated: () => 'key rotated: caches of earlier versions are refused; queriers must fetch again',
  productId: () => '--product-id must be 32 lower-case hex digits',
  noKeys: (path: string) => `--input ${path}: no non-empty key`,
  unknownSub: (sub: string) => `unknown product command '${sub}' (publish, update, serve, fetch, query; see 'dataport product --help')`,
  published: (rotated: boolean, productId: string, version: string, keys: number, bytes: number, dir: string) =>
    `${rotated ? 'rotated' : 'published'} product ${productId} version ${version}: ${keys} keys, cache ${bytes} bytes (${keys ? (bytes / keys).toFixed(2) : '0'} bytes/key) in ${dir}`,
  updated: (productId: string, version: string, added: number, removed: number, keys: number, deltaBytes: number) =>
    `updated product ${productId} to version ${version}: +${added} −${removed}, ${keys} keys; delta ${deltaBytes} bytes`,
  serving: (productId: string, version: string, keys: number) => `serving product ${productId} version ${version} (${keys} keys)`,
  served: (who: string, peer: string, query: boolean, count: number, version: string, billed?: { amountMinor: number; currency: string }) =>
    `${who} (peer ${peer}): ${query ? `query of ${count} keys` : `fetch of ${count} files`}, version ${version}${billed ? `, billed ${billed.amountMinor} ${billed.currency}` : ''}`,
  upToDate: (dir: string, version: string, keys: number) => `cache in ${dir} is up to date (version ${version}, ${keys} keys)`,
  fetched: (dir: string, version: string, keys: number, delta: boolean, files: number, resumed: number, bytes: number) =>
    `cache in ${dir} now at version ${version} (${keys} keys): ${delta ? `${files} deltas applied` : `${files} chunks fetched${resumed ? `, ${resumed} resumed` : ''}`}, ${bytes} bytes received`,
  outputNeedsFile: () => '--output copies rows of a CSV --input; with a database --input use --json and the matched count, or export the rows to a file first',
  found: (matched: number, queried: number, version: string) => `found ${matched} of ${queried} distinct keys in the product (version ${version})`,
} as const;

/** Hints before a `product fetch` / `query` error, by code (a stale cache is a terms refusal). */
export const PRODUCT_ERROR_HINTS: Readonly<Partial<Record<string, string>>> = {
  ERR_VERIFICATION_FAILED: 'verification failed (wrong --peer-key, or a corrupt or tampered cache): ',
  ERR_TRANSPORT_CLOSED: 'connection: ',
  ERR_TERMS_REFUSED: 'refused by the holder: ',
  ERR_GUARDRAIL_REFUSED: 'refused by guardrail: ',
};

/** `dataport release` and `dataport trace` (fingerprinted releases; docs/trace.md). */
export const TRACE_MESSAGES = {
  badTolerance: (item: string, problem: string, flag = 'tolerance') => `--${flag} ${item}: ${problem}`,
  toleranceNotReleased: (column: string, flag = 'tolerance', columns = 'columns') => `--${flag} ${column}: not one of the --${columns}`,
  toleranceOnKey: (column: string, flag = 'tolerance') => `--${flag} ${column}: is a --key column (keys are never changed)`,
  noTolerance: (flag = 'tolerance', columns = 'columns') => `--${flag}: give COL=TOL for at least one of the --${columns} (only those carry the fingerprint)`,
  keyInColumns: (column: string) => `--columns ${column}: is a --key column (the key columns are always delivered first)`,
  tooManyRows: (file: string, max: number) => `${file}: more than ${max} data rows`,
  released: (rows: number, marked: number, out: string, releaseId: string, index: number, dir: string) =>
    `released ${rows} rows to ${out} (release ${releaseId}, ${marked} marked cells); release entry ${index} appended to ${dir}`,
  noReleases: (dir: string) => `ledger ${dir} holds no fingerprinted release; nothing to trace against`,
  attributed: (releaseId: string, recipient: string, agreements: number, marks: number, p: string) =>
    `came from release ${releaseId} to recipient ${recipient}: ${agreements} of ${marks} marks agree; false-accusation probability ${p}`,
  cannotTell: (checked: number, threshold: string, best?: { releaseId: string; agreements: number; marks: number; p: string }) =>
    `cannot tell: no release of the ${checked} checked is attributed at a false-accusation probability of at most ${threshold}${best ? ` (closest: release ${best.releaseId}, ${best.agreements} of ${best.marks} marks agree, probability ${best.p})` : ''}`,
  unchecked: (releaseId: string, why: string) => `release ${releaseId} not checked: ${why} (pass --key COL if the key column was renamed)`,
  traceRecorded: (count: number, dir: string) => `${count} trace ${count === 1 ? 'entry' : 'entries'} appended to ${dir}`,
  badThreshold: (text: string) => `--max-false-accusation ${text}: expected a probability between 1e-30 and 0.01`,
  resultExcludes: (flag: string) => `--result records a result file as it is: --${flag} does not apply`,
  badResult: (file: string, problem: string) => `--result ${file}: ${problem}`,
  resultReleased: (file: string, values: number, releaseId: string, index: number, dir: string) =>
    `recorded the release of ${file} (${values} values, release ${releaseId}); release entry ${index} appended to ${dir}`,
  resultNotRecorded: (file: string, problem: string) => `${file}: the result's release is not recorded (${problem}); 'dataport trace' cannot match a copy of it`,
  resultMatched: (releaseId: string, recipient: string, found: number, total: number, sameFile: boolean) =>
    `holds the values of result release ${releaseId} to recipient ${recipient}: ${sameFile ? 'the released file itself' : `all ${total} values found`} (${found} of ${total}; matched by values, not a fingerprint: no false-accusation probability)`,
  notReadAsTable: (problem: string) => `not read as a table (${problem}); matched against result releases only`,
} as const;
