/**
 * Multi-party aggregation (DESIGN.md §4.3) over authenticated sessions: every link — operator ↔
 * analyst and operator ↔ each provider — runs the session handshake (operator = responder, the
 * others = requesters), carries the aggregation frames over the session's MAC'd channel, and ends
 * with a usage receipt that the operator and that participant both sign.
 *
 * Terms of a link: protocol `aggregate`, option `role` (`analyst` or `provider`), the purpose,
 * recipients `['requester']`, `requesterSetSize` = the rows the party contributes (0 for the
 * analyst), `minIntersection` = the query's `minCohort` (analyst; 0 for providers). The analyst's
 * terms also name the query (`query` = its id, `dp-epsilon` = its DP budget when it has one) and
 * make its released cell count part of the receipt (`output-size=public`, `output-max` = the
 * query's groups × statistics; docs/session.md), and the operator refuses a query that does not
 * match them. The operator learns each party's role from
 * these signed terms, never from a frame it could not authenticate.
 *
 * Every link's terms state the security model (`security=aggregator-semi-honest`,
 * security-model.ts). Every link's receipt names the exact query by `query-sha256` (SHA-256 of its
 * canonical bytes): the analyst signs it into its terms (and the operator refuses a query that does
 * not hash to it); a provider joins before the query exists, so its link adds it after the round
 * as a fact both ends observed (the provider: the query bytes it was announced; the operator: the
 * query it forwarded) — they must be equal, or the link gets no receipt.
 * @module
 */
import { sourceOf } from './run-options.js';
import type { ReceiptSource } from './source-commit.js';
import { AbortError, TermsRefusedError, TimeoutError, TransportClosedError } from '../errors.js';
import type { PriceSchedule } from '../ledger/pricing.js';
import type { GuardrailDecision, UsageReceipt } from '../ledger/receipt-types.js';
import { AGGREGATE_QUERY_LIMITS, aggregateLayout, aggregateQueryHash, type AggregateQuery } from '../protocols/aggregate/query.js';
import type { AggregatorOutcome } from '../protocols/aggregate/aggregator.js';
import { runAggregatorRound, runAnalyst, runProvider, type AggregateProgressHook } from '../protocols/aggregate/drive.js';
import { MIN_QUORUM_FLOOR } from '../protocols/aggregate/provider.js';
import { computeLocalAggregates } from '../protocols/aggregate/local.js';
import type { AggregateResult } from '../protocols/aggregate/result.js';
import type { FrameTransport } from '../transport/types.js';
import { equalBytes } from '../utils/bytes.js';
import type { Identity } from './identity.js';
import type { SessionTerms } from './messages.js';
import { OUTPUT_MAX_OPTION, OUTPUT_SIZE_OPTION } from './policy.js';
import { checkSecurityModel, SECURITY_MODEL_OPTION, withSecurityModel } from './security-model.js';
import { checkOfferedColumns, OFFERED_COLUMNS_OPTION, offeredColumnsTermsOptions, statedColumns } from './column-schema.js';
import {
  establishSession,
  recordAbortedRun,
  sessionBaseOptions,
  type ReceiptContribution,
  type Session,
  type SessionOptionsBase,
} from './session.js';

/**
 * The protocol name of multi-party aggregation in terms and receipts.
 *
 * @example
 * ```ts
 * if (receipt.body.protocol === AGGREGATE_PROTOCOL_NAME) console.log(receipt.body.options.role);
 * ```
 */
export const AGGREGATE_PROTOCOL_NAME = 'aggregate';

/** Row of a provider's data: column name → cell text. */
type Row = Readonly<Record<string, string | undefined>>;

/** Options both requester roles share: the session (identity, the operator's pinned key, hooks). */
interface AggregateRequesterBase extends SessionOptionsBase {
  /** Purpose / authorisation reference, signed into the terms and the receipt (default empty). */
  purpose?: string;
  /** How long to wait for the operator's messages (default 15 minutes). */
  timeoutMs?: number;
  /**
   * Receives the co-signed receipt (completed, withheld, refused or failed rounds) before the
   * function returns or throws — where a caller appends it to its ledger — or, when the link is
   * gone after protocol data flowed, this party's one-sided `aborted-after-data` receipt.
   */
  onReceipt?: (receipt: UsageReceipt) => void | Promise<void>;
  /**
   * Called once the operator accepted this party's terms (it holds a place in the round), before
   * the round's first frame: e.g. to tell the user it is waiting for the others. Errors it throws
   * are ignored.
   */
  onJoined?: (sessionId: Uint8Array) => void;
  /** Progress of the round's phases (see `AggregateProgress`); errors it throws are ignored. */
  onProgress?: AggregateProgressHook;
  /**
   * Where this party's rows came from (`{ kind: 'postgres', query }`), as in `runPsi`: the link's
   * receipt records the kind and a commitment to the query that only this party can open.
   */
  source?: ReceiptSource;
}

/**
 * Options of {@link runAggregateAnalyst}.
 *
 * @example
 * ```ts
 * const options: RunAggregateAnalystOptions = { transport, identity: analyst, peerPublicKey: operatorKey, query, purpose: 'ward costs 2026' };
 * ```
 */
export interface RunAggregateAnalystOptions extends AggregateRequesterBase {
  query: AggregateQuery;
  /** Sign (query, HE public key) with `identity` so that providers can pin the analyst (default true). */
  signQuery?: boolean;
}

/**
 * Result of {@link runAggregateAnalyst}.
 *
 * @example
 * ```ts
 * const { result, receipt } = await runAggregateAnalyst(options);
 * ```
 */
export interface RunAggregateAnalystResult {
  /** The released totals (groups below the minimum cohort withheld). */
  result: AggregateResult;
  /** The receipt the analyst and the operator signed. */
  receipt: UsageReceipt;
  sessionId: Uint8Array;
}

/**
 * Options of {@link runAggregateProvider}: `rows` (an array), or `localAggregates` with the
 * `rowCount` it will reduce (declared in the signed terms before the query is known).
 *
 * @example
 * ```ts
 * const options: RunAggregateProviderOptions = { transport, identity: hospital, peerPublicKey: operatorKey, rows };
 * ```
 */
export interface RunAggregateProviderOptions extends AggregateRequesterBase {
  rows?: readonly Row[];
  /** Computes the slot vector itself (e.g. streaming a file); must reduce exactly `rowCount` rows. */
  localAggregates?: (query: AggregateQuery) => Promise<bigint[]>;
  /** Rows `localAggregates` reduces (declared to the operator and recorded in the receipt). */
  rowCount?: number;
  /**
   * The columns this provider offers (e.g. its file's header), stated in its signed terms
   * (column-schema.ts). A query needing another column is refused before anything is encrypted,
   * the provider and the operator naming both schemas. Default: every column of `rows`; with
   * `localAggregates` and no `columns`, nothing is stated and a missing column is only an input error.
   */
  columns?: readonly string[];
  /** The analyst's identity key: contribute only under a query and HE key it signed. */
  analystPublicKey?: Uint8Array;
  /** Local policy: return false to refuse a query. */
  acceptQuery?: (query: AggregateQuery) => boolean;
  /**
   * The smallest query `quorum` this provider contributes under (default 2, the format's floor):
   * a lower one is refused with `TermsRefusedError` here and a one-line reason for the operator
   * and the analyst (ABORT `QUORUM_REFUSED`). The quorum is the analyst's choice (SECURITY.md §1.2).
   */
  minQuorum?: number;
  /** Encrypts the vector (default inline; a worker pool may be injected). */
  encrypt?: (publicKey: Uint8Array, values: bigint[]) => Promise<Uint8Array>;
}

/**
 * Result of {@link runAggregateProvider}.
 *
 * @example
 * ```ts
 * const { contributors, receipt } = await runAggregateProvider(options);
 * ```
 */
export interface RunAggregateProviderResult {
  queryId: string;
  /** Providers whose contributions are in the released total. */
  contributors: number;
  /** Rows this provider contributed. */
  rows: number;
  receipt: UsageReceipt;
  sessionId: Uint8Array;
}

function checkPurpose(purpose: string | undefined): string {
  if (purpose === undefined) return '';
  if (typeof purpose !== 'string') throw new TypeError('purpose must be a string');
  return purpose;
}

/**
 * The cells a query can release: one per (group, statistic); a histogram is one cell. Public to
 * the operator (it follows from the query it forwards), so the analyst's receipt records how many
 * were released (`output-size=public` with this bound; docs/session.md).
 */
function releasableCells(query: AggregateQuery): number {
  return aggregateLayout(query).groups * query.statistics.length;
}

/** The cells a result released (groups withheld below the minimum cohort release none). */
function releasedCells(result: AggregateResult): number {
  let n = 0;
  for (const g of result.groups) if (!g.withheld) n += g.statistics.length;
  return n;
}

/** Terms option: SHA-256 (hex) of the canonical query a link is about (`aggregateQueryHash`). */
const QUERY_HASH_OPTION = 'query-sha256';

/** The terms of a link to the operator: the requester (analyst or provider) alone learns the output. */
function linkTerms(options: SessionTerms['options'], purpose: string, requesterSetSize: number, minIntersection: number): SessionTerms {
  return withSecurityModel({
    protocol: AGGREGATE_PROTOCOL_NAME,
    options,
    purpose,
    recipients: ['requester'],
    requesterSetSize,
    responderSetSize: { min: 0, max: 0 },
    minIntersection,
  });
}

function analystTerms(query: AggregateQuery, purpose: string): SessionTerms {
  const options = {
    role: 'analyst',
    query: query.id,
    [QUERY_HASH_OPTION]: aggregateQueryHash(query),
    ...(query.dp !== null ? { 'dp-epsilon': query.dp.epsilon } : {}),
    // The number of released cells is recorded in the co-signed receipt, bounded by the query.
    [OUTPUT_SIZE_OPTION]: 'public',
    [OUTPUT_MAX_OPTION]: String(releasableCells(query)),
  };
  return linkTerms(options, purpose, 0, query.minCohort);
}

function providerTerms(rows: number, purpose: string, columns: readonly string[] | undefined): SessionTerms {
  return linkTerms({ role: 'provider', ...(columns !== undefined ? offeredColumnsTermsOptions(columns) : {}) }, purpose, rows, 0);
}

/** The providers (by join index) whose stated columns lack one `query` needs, with the reason. */
function columnMismatchesOf(query: AggregateQuery, terms: readonly SessionTerms[]): { provider: number; reason: string }[] {
  return terms.flatMap((t, provider) => {
    const offered = statedColumns(t);
    const reason = offered !== undefined ? checkOfferedColumns(query, offered) : undefined;
    return reason !== undefined ? [{ provider, reason }] : [];
  });
}

/** The columns of `rows` in first-seen order (a provider's default offer). */
function columnsOfRows(rows: readonly Row[]): string[] | undefined {
  const seen = new Set<string>();
  for (const r of rows) for (const k of Object.keys(r)) seen.add(k);
  return seen.size > 0 ? [...seen] : undefined;
}

/**
 * Runs the protocol part of a requester's link and the receipt exchange that follows, whatever
 * happened: a refusal gets a `refused` receipt, a failed round a `failed` one (when the link still
 * works) or, when the link is gone after protocol data flowed, a one-sided `aborted-after-data`
 * one, and the error is rethrown after `onReceipt` saw the receipt.
 */
async function runRequesterLink<T>(
  o: AggregateRequesterBase,
  terms: SessionTerms,
  body: (session: Session) => Promise<T>,
  contribution: (value: T | undefined, computeMs: number) => ReceiptContribution,
): Promise<{ value: T; receipt: UsageReceipt; session: Session }> {
  const session = await establishSession({ ...sessionBaseOptions(o), role: 'requester', terms });
  if (!session.accepted) {
    let receipt: UsageReceipt;
    try {
      receipt = await session.exchangeReceipt({ outcome: 'refused', inputSize: 0, outputSize: 0, computeMs: 0, ...sourceOf(o) });
    } finally {
      await session.close().catch(() => {});
    }
    await o.onReceipt?.(receipt);
    throw new TermsRefusedError(session.refusalReason ?? 'terms refused');
  }
  try {
    o.onJoined?.(session.sessionId.slice());
  } catch {
    /* a progress hook; the round does not depend on it */
  }
  const t0 = Date.now();
  let value: T | undefined;
  let failure: { error: unknown } | undefined;
  try {
    value = await body(session);
  } catch (e) {
    failure = { error: e };
  }
  let receipt: UsageReceipt | undefined;
  try {
    // After a peer's error frame or a dead connection this fails fast (and tells the peer).
    if (!o.signal?.aborted) receipt = await session.exchangeReceipt({ ...contribution(value, Date.now() - t0), ...sourceOf(o) });
    else if (failure === undefined) failure = { error: new AbortError() };
  } catch (e) {
    if (failure === undefined) failure = { error: e };
  }
  try {
    if (receipt !== undefined) await o.onReceipt?.(receipt);
  } finally {
    if (failure !== undefined && receipt === undefined) await session.fail(failure.error).catch(() => {});
    else await session.close().catch(() => {});
  }
  if (failure !== undefined && receipt === undefined) {
    const { inputSize, outputSize, computeMs, guardrails } = contribution(value, Date.now() - t0);
    await recordAbortedRun(session, { inputSize, outputSize, computeMs, ...(guardrails ? { guardrails } : {}), ...sourceOf(o) }, failure.error, o.onReceipt);
  }
  if (failure !== undefined) throw failure.error;
  return { value: value as T, receipt: receipt!, session };
}

/**
 * Runs one aggregation round as the analyst over an authenticated session with the operator: the
 * handshake (pinning the operator's key), the query and HE public key (signed with the analyst's
 * identity unless `signQuery: false`), the decrypted total, and the co-signed receipt.
 *
 * Rejects with `TermsRefusedError` when the operator refuses the terms, or with the round's typed
 * error (after the `failed` receipt, when the link still works, went to `onReceipt`).
 *
 * @example
 * ```ts
 * const { result, receipt } = await runAggregateAnalyst({
 *   transport, identity: analyst, peerPublicKey: operator.publicKey, query, purpose: 'ward costs 2026',
 *   onReceipt: (r) => ledger.append(r),
 * });
 * console.log(result.groups);
 * ```
 */
export async function runAggregateAnalyst(options: RunAggregateAnalystOptions): Promise<RunAggregateAnalystResult> {
  if (options === null || typeof options !== 'object') throw new TypeError('options must be an object');
  if (options.signal?.aborted) throw new AbortError();
  const { query } = options;
  const terms = analystTerms(query, checkPurpose(options.purpose));
  const k = query.minCohort;
  const { value, receipt, session } = await runRequesterLink<AggregateResult>(
    options,
    terms,
    (session) =>
      runAnalyst(session.channel, {
        query,
        ...(options.signQuery !== false ? { identitySecretKey: options.identity.secretKey } : {}),
        ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
        ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      }),
    (result, computeMs) => {
      if (result === undefined) return { outcome: 'failed', inputSize: 0, outputSize: 0, computeMs, expectedPeerInputSize: 0 };
      // Any withheld group makes the round `withheld` in the receipt; the output size is the number
      // of cells released (the groups not withheld), public to the operator under the terms'
      // `output-size=public`, so both sides sign it.
      const withheld = result.guardrails.withheldGroups > 0;
      const guardrails: GuardrailDecision[] = [];
      if (k > 0) guardrails.push({ rule: 'min-cohort', outcome: withheld ? 'withheld' : 'passed', detail: `k=${k}` });
      if (query.dp !== null) guardrails.push({ rule: 'dp-noise', outcome: 'applied', detail: `epsilon=${query.dp.epsilon}` });
      return {
        outcome: withheld ? 'withheld' : 'completed',
        inputSize: 0,
        outputSize: releasedCells(result),
        computeMs,
        guardrails,
        expectedPeerInputSize: 0,
      };
    },
  );
  return { result: value, receipt, sessionId: session.sessionId };
}

/**
 * Runs one aggregation round as a data provider over an authenticated session with the operator:
 * the handshake (pinning the operator's key; the row count is declared in the signed terms), the
 * encrypted contribution once the query is announced, and the co-signed receipt.
 *
 * Rejects with `TermsRefusedError` when the operator refuses, or with the round's typed error
 * (after the `failed` receipt, when the link still works, went to `onReceipt`).
 *
 * @example
 * ```ts
 * const { contributors, receipt } = await runAggregateProvider({
 *   transport, identity: hospital, peerPublicKey: operator.publicKey, analystPublicKey: analyst.publicKey,
 *   rows: [{ ward: 'oncology', cost: '1200.50' }, { ward: 'surgery', cost: '80.00' }],
 * });
 * ```
 */
export async function runAggregateProvider(options: RunAggregateProviderOptions): Promise<RunAggregateProviderResult> {
  if (options === null || typeof options !== 'object') throw new TypeError('options must be an object');
  if (options.signal?.aborted) throw new AbortError();
  let rowCount: number;
  if (options.rows !== undefined) {
    if (!Array.isArray(options.rows)) throw new TypeError('rows must be an array');
    if (options.localAggregates !== undefined) throw new TypeError('give rows or localAggregates, not both');
    rowCount = options.rows.length;
    if (options.rowCount !== undefined && options.rowCount !== rowCount) throw new RangeError('rowCount must equal rows.length');
  } else {
    if (typeof options.localAggregates !== 'function') throw new TypeError('options.rows or options.localAggregates is required');
    if (options.rowCount === undefined) throw new TypeError('rowCount is required with localAggregates');
    rowCount = options.rowCount;
  }
  if (!Number.isSafeInteger(rowCount) || rowCount < 0 || rowCount > AGGREGATE_QUERY_LIMITS.maxRowsPerProvider) {
    throw new RangeError(`rowCount must be an integer in [0, ${AGGREGATE_QUERY_LIMITS.maxRowsPerProvider}]`);
  }
  if (options.minQuorum !== undefined && (!Number.isSafeInteger(options.minQuorum) || options.minQuorum < MIN_QUORUM_FLOOR || options.minQuorum > AGGREGATE_QUERY_LIMITS.maxProviders)) {
    throw new RangeError(`minQuorum must be an integer in [${MIN_QUORUM_FLOOR}, ${AGGREGATE_QUERY_LIMITS.maxProviders}]`);
  }
  const rows = options.rows;
  const offered = options.columns ?? (rows !== undefined ? columnsOfRows(rows) : undefined);
  const terms = providerTerms(rowCount, checkPurpose(options.purpose), offered);
  // Checked once the query is known, before the rows are reduced or anything is encrypted.
  const checkColumns = (query: AggregateQuery): void => {
    const why = offered !== undefined ? checkOfferedColumns(query, offered) : undefined;
    if (why !== undefined) throw new TermsRefusedError(why);
  };
  const localAggregates = options.localAggregates;
  // SHA-256 of the query bytes the operator announced, recorded in the receipt (see the module doc).
  let queryHash: string | undefined;
  const { value, receipt, session } = await runRequesterLink(
    options,
    terms,
    (session) =>
      runProvider(session.channel, {
        join: false, // the operator knows the role from the signed terms
        ...(rows !== undefined
          ? { localAggregates: async (q: AggregateQuery) => (checkColumns(q), computeLocalAggregates(q, rows)) }
          : { localAggregates: async (q: AggregateQuery) => (checkColumns(q), localAggregates!(q)) }),
        ...(options.analystPublicKey !== undefined ? { analystPublicKey: options.analystPublicKey } : {}),
        ...(options.acceptQuery ? { acceptQuery: options.acceptQuery } : {}),
        ...(options.minQuorum !== undefined ? { minQuorum: options.minQuorum } : {}),
        onQuery: (bytes) => {
          queryHash = aggregateQueryHash(bytes);
        },
        ...(options.encrypt ? { encrypt: options.encrypt } : {}),
        ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
        ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      }),
    (done, computeMs) => ({
      outcome: done !== undefined ? 'completed' : 'failed',
      inputSize: rowCount,
      outputSize: 0,
      computeMs,
      expectedPeerInputSize: 0,
      ...(queryHash !== undefined ? { options: { [QUERY_HASH_OPTION]: queryHash } } : {}),
    }),
  );
  return { queryId: value.queryId, contributors: value.contributors, rows: rowCount, receipt, sessionId: session.sessionId };
}

/**
 * Options of {@link createAggregateOperator}.
 *
 * @example
 * ```ts
 * const options: AggregateOperatorOptions = {
 *   identity: operator, providers: 3, analystKeys: [analyst.publicKey], providerKeys: hospitals.map((h) => h.publicKey),
 * };
 * ```
 */
export interface AggregateOperatorOptions {
  /** The operator's Ed25519 identity. */
  identity: Identity;
  /** Providers in the round (the query's `providers` must equal it). */
  providers: number;
  /** Analyst keys accepted. Without it, any authenticated analyst when `allowAnyPeer`. */
  analystKeys?: readonly Uint8Array[];
  /** Provider keys accepted. Without it, any authenticated provider when `allowAnyPeer`. */
  providerKeys?: readonly Uint8Array[];
  /** Accept any authenticated key for a role whose keys are not given (recorded in receipts). */
  allowAnyPeer?: boolean;
  /** Progress of each round's collection (`collecting`, unit providers); errors it throws are ignored. */
  onProgress?: AggregateProgressHook;
  /** When given, every participant's purpose must equal it. */
  purpose?: string;
  /** Collection deadline once the query arrived (default 10 minutes). */
  timeoutMs?: number;
  /** How long everyone has to join (default `timeoutMs`); then the round ends with `TimeoutError`. */
  joinTimeoutMs?: number;
  /** How long one participant's handshake may take (default 30 s): a silent connection frees its place. */
  handshakeTimeoutMs?: number;
  /** How long to wait for replies still owed once the round is decided (default 30 s). */
  drainTimeoutMs?: number;
  /** Operator policy on the query (return false to refuse it). */
  acceptQuery?: (query: AggregateQuery) => boolean;
  /**
   * Called once a participant is authenticated and its terms are acceptable (budgets): throw
   * `TermsRefusedError` / `GuardrailRefusedError` to refuse it (both sides sign a `refused` receipt).
   */
  beforeRun?: (terms: SessionTerms, peerPublicKey: Uint8Array) => void | Promise<void>;
  /** Bill every link with this price schedule (the amount is part of each co-signed receipt). */
  priceSchedule?: PriceSchedule;
  /**
   * Receives each receipt the operator co-signed (one per link, refusals included), and the
   * operator's one-sided `aborted-after-data` receipt of each link lost after protocol data flowed.
   */
  onReceipt?: (receipt: UsageReceipt, link: { role: 'analyst' | 'provider'; peerPublicKey: Uint8Array }) => void | Promise<void>;
  /**
   * Called for each connection that never became a participant: its handshake failed (unknown or
   * wrong key, malformed frames, silence past `handshakeTimeoutMs`) or it came after the round
   * started. Such a connection never affects the round. `from` is what the caller passed to
   * `handle` (e.g. the listener's `remoteAddress`).
   */
  onRejected?: (rejection: { error: unknown; from: string | undefined }) => void;
  signal?: AbortSignal;
}

/**
 * What the operator's round produced.
 *
 * @example
 * ```ts
 * const { outcome, receipts } = await operator.result;
 * ```
 */
export interface AggregateOperatorResult {
  outcome: AggregatorOutcome;
  /** Receipts co-signed for the round's links (analyst first, then providers in join order). */
  receipts: UsageReceipt[];
  /**
   * One-sided `aborted-after-data` receipts (signed by the operator alone, also passed to
   * `onReceipt`) of links that ended without a co-signed receipt after protocol data flowed.
   */
  oneSidedReceipts: UsageReceipt[];
  /** Links of the round that ended without a co-signed receipt (dropped, or their receipt exchange failed). */
  linksWithoutReceipt: number;
  analystPublicKey: Uint8Array;
  /** Providers in join order (`outcome.included` indexes into it). */
  providerPublicKeys: Uint8Array[];
  /**
   * Providers whose signed offered columns (column-schema.ts) lack a column the query needs, with
   * the reason naming both schemas (the provider refuses such a query before encrypting anything).
   */
  columnMismatches: { provider: number; reason: string }[];
}

/**
 * The port operator's side of a round: give it every incoming connection (`handle`); it
 * authenticates each one, learns its role from the signed terms, refuses what its keys, purpose,
 * budget or free slots do not allow (with a co-signed `refused` receipt), and once the analyst and
 * all providers have joined runs the round and exchanges a receipt on every link.
 *
 * @example
 * ```ts
 * const operator = createAggregateOperator({ identity, providers: 3, providerKeys, analystKeys });
 * const server = await listenWebSocket({ host: '127.0.0.1', port: 0 }, (t, info) => operator.handle(t, info.remoteAddress));
 * const { outcome, receipts } = await operator.result;
 * await server.close();
 * ```
 */
export interface AggregateOperator {
  /**
   * Runs one incoming connection; resolves when the connection is finished with (after the round).
   * `from` (e.g. the peer's address) is only passed back to `onRejected`.
   */
  handle(transport: FrameTransport, from?: string): Promise<void>;
  /** The round; rejects with `TimeoutError` if not everyone joined in time, `AbortError` on abort. */
  readonly result: Promise<AggregateOperatorResult>;
}

interface Link {
  role: 'analyst' | 'provider';
  session: Session;
}

/**
 * Creates the operator of one aggregation round; see {@link AggregateOperator}.
 *
 * @example
 * ```ts
 * const operator = createAggregateOperator({ identity, providers: 2, allowAnyPeer: true });
 * ```
 */
export function createAggregateOperator(options: AggregateOperatorOptions): AggregateOperator {
  if (options === null || typeof options !== 'object') throw new TypeError('options must be an object');
  const n = options.providers;
  if (!Number.isSafeInteger(n) || n < 2 || n > AGGREGATE_QUERY_LIMITS.maxProviders) {
    throw new RangeError(`providers must be an integer in [2, ${AGGREGATE_QUERY_LIMITS.maxProviders}]`);
  }
  const analystKeys = options.analystKeys;
  const providerKeys = options.providerKeys;
  const allowAny = options.allowAnyPeer === true;
  if ((!analystKeys || !providerKeys) && !allowAny) {
    throw new TypeError('give analystKeys and providerKeys, or set allowAnyPeer: true');
  }
  const pinned = allowAny ? undefined : [...analystKeys!, ...providerKeys!];
  const timeoutMs = options.timeoutMs ?? 600_000;
  // Receipt exchanges run under the caller's signal only (never the handshake's deadline).
  const roundSignal = options.signal ?? new AbortController().signal;

  let phase: 'joining' | 'running' | 'over' = 'joining';
  // Slots are reserved during the handshake (so two analysts racing cannot both be accepted) and
  // released if that participant's session does not end up accepted.
  let analystSlot: Uint8Array | undefined;
  const providerSlots: Uint8Array[] = [];
  let analyst: Link | undefined;
  const providers: Link[] = [];
  const settledLinks = new Set<Session>();

  let resolveResult!: (r: AggregateOperatorResult) => void;
  let rejectResult!: (e: unknown) => void;
  const result = new Promise<AggregateOperatorResult>((res, rej) => {
    resolveResult = res;
    rejectResult = rej;
  });
  result.catch(() => {}); // the caller may only look at it later
  let roundOver!: () => void;
  const over = new Promise<void>((r) => (roundOver = r));

  const endJoining = (error: unknown): void => {
    if (phase !== 'joining') return;
    phase = 'over';
    clearTimeout(joinTimer);
    const links = [analyst, ...providers].filter((l): l is Link => l !== undefined);
    void Promise.all(links.map((l) => l.session.fail(error).catch(() => {}))).then(() => {
      rejectResult(error);
      roundOver();
    });
  };
  const joinTimer = setTimeout(
    () => endJoining(new TimeoutError(`the analyst and ${n} providers did not all join in time`)),
    options.joinTimeoutMs ?? timeoutMs,
  );
  const onAbort = () => endJoining(new AbortError());
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted) onAbort();

  const roleOf = (terms: SessionTerms): 'analyst' | 'provider' | undefined => {
    const r = terms.options['role'];
    return r === 'analyst' || r === 'provider' ? r : undefined;
  };

  // Runs inside the handshake, after the peer is authenticated; a reason refuses it on both sides.
  const check = (terms: SessionTerms, peer: Uint8Array): string | undefined => {
    const role = roleOf(terms);
    if (role === undefined) return 'the terms name no aggregation role (analyst or provider)';
    const allowedOpts =
      role === 'analyst'
        ? ['role', 'query', QUERY_HASH_OPTION, 'dp-epsilon', OUTPUT_SIZE_OPTION, OUTPUT_MAX_OPTION, SECURITY_MODEL_OPTION]
        : ['role', SECURITY_MODEL_OPTION, OFFERED_COLUMNS_OPTION];
    if (Object.keys(terms.options).some((k) => !allowedOpts.includes(k))) return 'unsupported protocol option';
    // The analyst's released cell count goes into the receipt (bound checked against the query).
    if (role === 'analyst' && (terms.options[OUTPUT_SIZE_OPTION] !== 'public' || terms.options[OUTPUT_MAX_OPTION] === undefined)) {
      return 'the analyst must state output-size=public and output-max (the cells its query can release)';
    }
    if (terms.recipients.length !== 1 || terms.recipients[0] !== 'requester') return 'only the requester may be a recipient';
    if (role === 'analyst' && (terms.requesterSetSize !== 0 || terms.options['query'] === undefined)) return 'the analyst contributes no rows and names its query';
    if (role === 'provider' && terms.minIntersection !== 0) return 'a provider sets no minimum cohort (the query does)';
    if (role === 'provider' && terms.options[OFFERED_COLUMNS_OPTION] !== undefined && statedColumns(terms) === undefined) {
      return 'the offered columns must be a JSON array of column names';
    }
    if (role === 'analyst' && !/^[0-9a-f]{64}$/.test(terms.options[QUERY_HASH_OPTION] ?? '')) {
      return 'the analyst must name its query by query-sha256 (SHA-256 of the canonical query, hex)';
    }
    const model = checkSecurityModel(terms);
    if (model !== undefined) return model;
    if (options.purpose !== undefined && terms.purpose !== options.purpose) return 'the purpose differs from the one the operator was started with';
    const keys = role === 'analyst' ? analystKeys : providerKeys;
    if (keys !== undefined && !keys.some((k) => equalBytes(k, peer))) return `this key is not allowed as ${role}`;
    if (phase !== 'joining') return 'the round has already started';
    if (role === 'analyst') {
      if (analystSlot !== undefined) return 'the round already has an analyst';
      analystSlot = peer;
    } else {
      if (providerSlots.some((k) => equalBytes(k, peer))) return 'this provider has already joined the round';
      if (providerSlots.length >= n) return 'the round already has all its providers';
      providerSlots.push(peer);
    }
    return undefined;
  };
  const release = (role: 'analyst' | 'provider' | undefined, peer: Uint8Array | undefined): void => {
    if (role === 'analyst' && analystSlot !== undefined && peer !== undefined && equalBytes(analystSlot, peer)) analystSlot = undefined;
    if (role === 'provider' && peer !== undefined) {
      const i = providerSlots.findIndex((k) => equalBytes(k, peer));
      if (i >= 0) providerSlots.splice(i, 1);
    }
  };

  const runRound = async (): Promise<void> => {
    phase = 'running';
    clearTimeout(joinTimer);
    options.signal?.removeEventListener('abort', onAbort);
    const a = analyst!;
    const links = [a, ...providers];
    const t0 = Date.now();
    // A link's co-signed receipt, or (none, after protocol data flowed) its one-sided one, to `onReceipt`.
    const recordLink = async (i: number, r: UsageReceipt | undefined, error: unknown, c: ReceiptContribution, oneSided?: UsageReceipt[]): Promise<void> => {
      const link = { role: links[i]!.role, peerPublicKey: links[i]!.session.peerPublicKey };
      const sink = (receipt: UsageReceipt) => options.onReceipt?.(receipt, link);
      if (r !== undefined) return void (await sink(r));
      const made = await recordAbortedRun(links[i]!.session, { inputSize: c.inputSize, outputSize: c.outputSize, computeMs: c.computeMs }, error, sink);
      if (made !== undefined) oneSided?.push(made);
    };
    try {
      const declared = a.session.terms;
      let forwarded: AggregateQuery | undefined;
      const { outcome, settled, announced } = await runAggregatorRound({
        analyst: a.session.channel,
        providers: providers.map((p) => p.session.channel),
        timeoutMs,
        drainTimeoutMs: options.drainTimeoutMs ?? 30_000,
        // The query must be the one the analyst's signed terms name (id, minimum cohort, DP).
        acceptQuery: (q) =>
          q.id === declared.options['query'] &&
          aggregateQueryHash(q) === declared.options[QUERY_HASH_OPTION] &&
          q.minCohort === declared.minIntersection &&
          (q.dp === null ? declared.options['dp-epsilon'] === undefined : declared.options['dp-epsilon'] === q.dp.epsilon) &&
          declared.options[OUTPUT_MAX_OPTION] === String(releasableCells(q)) &&
          (options.acceptQuery === undefined || options.acceptQuery(q)) &&
          (forwarded = q) !== undefined,
        ...(options.signal ? { signal: options.signal } : {}),
        ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      });
      const computeMs = Date.now() - t0;
      // A provider that was announced the query records its hash; the operator records the hash
      // of the query it forwarded (the analyst's signed one: acceptQuery checked it) on that link.
      const queryHash = declared.options[QUERY_HASH_OPTION]!;
      const contribution = (i: number): ReceiptContribution =>
        i === 0
          ? { outcome: outcome.status === 'completed' ? 'completed' : 'failed', inputSize: 0, outputSize: 0, computeMs, expectedPeerInputSize: 0 }
          : {
              outcome: outcome.status === 'completed' && outcome.included.includes(i - 1) ? 'completed' : 'failed',
              inputSize: 0,
              outputSize: 0,
              computeMs,
              expectedPeerInputSize: links[i]!.session.terms.requesterSetSize,
              ...(announced[i - 1] ? { options: { [QUERY_HASH_OPTION]: queryHash } } : {}),
            };
      const quiet = [settled.analyst, ...settled.providers];
      const lost: unknown[] = [];
      const receipts = await Promise.all(
        links.map(async (l, i) => {
          if (!quiet[i]) {
            lost[i] = new TransportClosedError('aggregation link lost');
            await l.session.fail(lost[i]).catch(() => {});
            return undefined;
          }
          try {
            return await l.session.exchangeReceipt(contribution(i), roundSignal);
          } catch (e) {
            lost[i] = e;
            return undefined; // the session told the peer; this link has no co-signed receipt
          } finally {
            settledLinks.add(l.session);
          }
        }),
      );
      const got: UsageReceipt[] = [];
      const oneSided: UsageReceipt[] = [];
      for (let i = 0; i < links.length; i++) {
        const r = receipts[i];
        if (r !== undefined) got.push(r);
        await recordLink(i, r, lost[i], contribution(i), r === undefined ? oneSided : undefined);
      }
      resolveResult({
        outcome,
        receipts: got,
        oneSidedReceipts: oneSided,
        linksWithoutReceipt: links.length - got.length,
        analystPublicKey: a.session.peerPublicKey,
        providerPublicKeys: providers.map((p) => p.session.peerPublicKey),
        columnMismatches: forwarded === undefined ? [] : columnMismatchesOf(forwarded, providers.map((p) => p.session.terms)),
      });
    } catch (e) {
      const open = links.map((l, i) => [l, i] as const).filter(([l]) => !settledLinks.has(l.session));
      await Promise.all(open.map(([l]) => l.session.fail(e).catch(() => {})));
      // Links over which data flowed count for their peer's budget: one-sided receipts. A ledger
      // that cannot take them is the error reported.
      let failure = e;
      try {
        const soFar = { outcome: 'failed' as const, inputSize: 0, outputSize: 0, computeMs: Date.now() - t0 };
        for (const [, i] of open) await recordLink(i, undefined, e, soFar);
      } catch (err) {
        failure = err;
      }
      rejectResult(failure);
    } finally {
      phase = 'over';
      await Promise.all(links.map((l) => l.session.close().catch(() => {})));
      roundOver();
    }
  };

  const rejected = (error: unknown, from: string | undefined): void => {
    try {
      options.onRejected?.({ error, from });
    } catch {
      // a logging callback must not end the round
    }
  };
  const handle = async (transport: FrameTransport, from?: string): Promise<void> => {
    if (phase !== 'joining') {
      rejected(new TransportClosedError('the round is not accepting participants'), from);
      await transport.close('the round is not accepting participants').catch(() => {});
      return;
    }
    let reservedRole: 'analyst' | 'provider' | undefined;
    let reservedKey: Uint8Array | undefined;
    let session: Session;
    const deadline = AbortSignal.timeout(options.handshakeTimeoutMs ?? 30_000);
    try {
      session = await establishSession({
        role: 'responder',
        transport,
        identity: options.identity,
        ...(pinned !== undefined ? { allowedPeers: pinned } : { allowAnyPeer: true }),
        localSetSize: 0,
        policy: {
          protocols: [AGGREGATE_PROTOCOL_NAME],
          maxSetSize: AGGREGATE_QUERY_LIMITS.maxRowsPerProvider,
          // The analyst's link records its released cell count (checked in `check` and acceptQuery).
          publicOutputSize: true,
          check: (terms, peer) => {
            const reason = check(terms, peer);
            if (reason === undefined) {
              reservedRole = roleOf(terms);
              reservedKey = peer;
            }
            return reason;
          },
        },
        ...(options.beforeRun ? { beforeRun: options.beforeRun } : {}),
        ...(options.priceSchedule !== undefined ? { priceSchedule: options.priceSchedule } : {}),
        signal: options.signal ? AbortSignal.any([options.signal, deadline]) : deadline,
      });
    } catch (error) {
      release(reservedRole, reservedKey);
      rejected(error, from);
      await transport.close('handshake failed').catch(() => {});
      return; // the session already told the peer why
    }
    if (!session.accepted) {
      release(reservedRole, reservedKey);
      try {
        const receipt = await session.exchangeReceipt({ outcome: 'refused', inputSize: 0, outputSize: 0, computeMs: 0 }, roundSignal);
        await options.onReceipt?.(receipt, { role: roleOf(session.terms) ?? 'provider', peerPublicKey: session.peerPublicKey });
      } catch {
        /* the peer left before signing the refusal */
      } finally {
        await session.close().catch(() => {});
      }
      return;
    }
    if (phase !== 'joining') {
      // The round ended (timeout, abort) while this handshake ran.
      await session.fail(new TransportClosedError('the round is over')).catch(() => {});
      return;
    }
    const link: Link = { role: reservedRole!, session };
    if (link.role === 'analyst') analyst = link;
    else providers.push(link);
    if (analyst !== undefined && providers.length === n) void runRound();
    await over;
  };

  return { handle, result };
}
