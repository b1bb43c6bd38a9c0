/**
 * Query budgets per counterparty per period, enforced from the ledger before a job starts
 * (DESIGN.md §4.4): the defence against learning a record's membership by repeating slightly
 * different queries.
 *
 * Policy JSON:
 *
 * ```json
 * { "period": "month", "maxQueries": 20, "maxRecords": 1000000,
 *   "counterparties": { "<base64 public key>": { "maxQueries": 5 } } }
 * ```
 *
 * Every ledger entry that names the counterparty as a party, started inside the current period
 * (calendar UTC day, ISO week starting Monday, or month) and whose outcome is not `refused` uses
 * one query and its input records (release and trace records are not runs and never count). So does every pending run (a reservation taken when a run was
 * allowed and not yet settled by its receipt: see `reservations.ts`), whatever its start. A new job
 * is allowed iff one more query (and its records) fits.
 *
 * Data products (docs/products.md) add `maxKeys`: keys evaluated per period per product, counted
 * from the `product-query` entries of that product (their requester input size, i.e. the keys the
 * holder evaluated) plus the pending queries of that product.
 * @module
 */
import { GuardrailRefusedError, InputError } from '../errors.js';
import { assertBytes, equalBytes, fromBase64, toBase64 } from '../utils/bytes.js';
import type { UsageReceipt } from './receipt-types.js';
import { isRunReceipt } from './release-records.js';

/** The protocol name of data-product queries (session/run-product.ts `PRODUCT_PROTOCOLS.query`). */
const PRODUCT_QUERY = 'product-query';

/**
 * Calendar periods, in UTC.
 * @example
 * ```ts
 * const period: BudgetPeriod = 'month';
 * ```
 */
export type BudgetPeriod = 'day' | 'week' | 'month';

/**
 * Limits for one counterparty (or everyone).
 * @example
 * ```ts
 * const limits: BudgetLimits = { maxQueries: 20, maxRecords: 1_000_000 };
 * ```
 */
export interface BudgetLimits {
  /** Runs per period. */
  maxQueries: number;
  /** Input records (sum of input sizes of counted runs) per period. */
  maxRecords?: number;
  /** Keys evaluated per period per data product (`product-query` runs of one product). */
  maxKeys?: number;
}

/**
 * A budget policy.
 * @example
 * ```ts
 * const policy: BudgetPolicy = { period: 'month', maxQueries: 20 };
 * ```
 */
export interface BudgetPolicy extends BudgetLimits {
  period: BudgetPeriod;
  /** Overrides per counterparty, keyed by base64 public key. */
  counterparties?: Record<string, Partial<BudgetLimits>>;
}

/**
 * Where a counterparty stands in the current period.
 * @example
 * ```ts
 * const { queriesUsed, maxQueries } = budgetStatus(receipts, { counterparty, policy });
 * ```
 */
export interface BudgetStatus {
  period: BudgetPeriod;
  /** Start (inclusive) and end (exclusive) of the period, ms since the epoch. */
  periodStart: number;
  periodEnd: number;
  /** Queries of entries in the period (not counting pending runs). */
  queriesUsed: number;
  /** Pending runs of the counterparty (reserved, no receipt yet). */
  queriesReserved: number;
  maxQueries: number;
  /** Records of entries in the period. */
  recordsUsed: number;
  /** Records of pending runs. */
  recordsReserved: number;
  maxRecords?: number;
  /** With `options.product`: keys evaluated for that product in the period, and pending. */
  keysUsed?: number;
  keysReserved?: number;
  maxKeys?: number;
  /** Whether a job of `records` more records may start now. */
  allowed: boolean;
}

const PERIODS: readonly BudgetPeriod[] = ['day', 'week', 'month'];

function limit(v: unknown, where: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new InputError(`budget policy: ${where} must be a non-negative integer`);
  return v;
}

/**
 * Validates a budget policy (JSON text or parsed value); throws `InputError` naming the field.
 * @example
 * ```ts
 * const policy = parseBudgetPolicy('{"period":"month","maxQueries":20}');
 * ```
 */
export function parseBudgetPolicy(input: string | unknown): BudgetPolicy {
  let v: unknown = input;
  if (typeof input === 'string') {
    try {
      v = JSON.parse(input);
    } catch {
      throw new InputError('budget policy: not valid JSON');
    }
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new InputError('budget policy: must be a JSON object');
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!['period', 'maxQueries', 'maxRecords', 'maxKeys', 'counterparties'].includes(k)) throw new InputError(`budget policy: unknown field ${k}`);
  }
  if (!PERIODS.includes(o.period as BudgetPeriod)) throw new InputError('budget policy: period must be day, week or month');
  const out: BudgetPolicy = { period: o.period as BudgetPeriod, maxQueries: limit(o.maxQueries, 'maxQueries') };
  if (o.maxRecords !== undefined) out.maxRecords = limit(o.maxRecords, 'maxRecords');
  if (o.maxKeys !== undefined) out.maxKeys = limit(o.maxKeys, 'maxKeys');
  if (o.counterparties !== undefined) {
    if (o.counterparties === null || typeof o.counterparties !== 'object' || Array.isArray(o.counterparties)) {
      throw new InputError('budget policy: counterparties must be an object');
    }
    const cps: Record<string, Partial<BudgetLimits>> = {};
    for (const [key, lim] of Object.entries(o.counterparties as Record<string, unknown>)) {
      let pk: Uint8Array;
      try {
        pk = fromBase64(key);
      } catch {
        pk = new Uint8Array(0);
      }
      if (pk.length !== 32) throw new InputError(`budget policy: counterparty key '${key.slice(0, 60)}' is not a base64 Ed25519 public key`);
      if (lim === null || typeof lim !== 'object' || Array.isArray(lim)) throw new InputError('budget policy: counterparty limits must be objects');
      const l: Partial<BudgetLimits> = {};
      for (const [k, val] of Object.entries(lim)) {
        if (k !== 'maxQueries' && k !== 'maxRecords' && k !== 'maxKeys') throw new InputError(`budget policy: unknown field counterparties.*.${k}`);
        l[k] = limit(val, `counterparties.*.${k}`);
      }
      cps[toBase64(pk)] = l;
    }
    out.counterparties = cps;
  }
  return out;
}

/**
 * The calendar period (UTC) containing `now`: `[start, end)` in ms since the epoch.
 * @example
 * ```ts
 * const { start, end } = budgetPeriodBounds('month', Date.now());
 * ```
 */
export function budgetPeriodBounds(period: BudgetPeriod, now: number): { start: number; end: number } {
  const d = new Date(now);
  const y = d.getUTCFullYear();
  const m = d.getUTCMonth();
  const day = d.getUTCDate();
  if (period === 'day') return { start: Date.UTC(y, m, day), end: Date.UTC(y, m, day + 1) };
  if (period === 'month') return { start: Date.UTC(y, m, 1), end: Date.UTC(y, m + 1, 1) };
  const sinceMonday = (d.getUTCDay() + 6) % 7; // ISO 8601 weeks start on Monday
  return { start: Date.UTC(y, m, day - sinceMonday), end: Date.UTC(y, m, day - sinceMonday + 7) };
}

/**
 * Options of {@link budgetStatus} and {@link checkBudget}.
 * @example
 * ```ts
 * checkBudget(receipts, { counterparty: peerKey, policy, records: 5000 });
 * ```
 */
export interface BudgetCheckOptions {
  /** The counterparty's Ed25519 public key. */
  counterparty: Uint8Array;
  policy: BudgetPolicy;
  /** Records the new job will use (default 0). */
  records?: number;
  /** A data-product query: the product id (32 hex digits) and the keys it will evaluate (`maxKeys`). */
  product?: { id: string; keys: number };
  /** Clock (default `Date.now()`). */
  now?: number;
  /**
   * Runs allowed but not yet in `receipts` (budget reservations). One whose `sessionId` is the
   * session id of an entry in `receipts` is settled: the entry counts instead.
   */
  pending?: Iterable<PendingRun>;
}

/**
 * A run that holds part of a budget until its receipt is in the ledger.
 * @example
 * ```ts
 * const run: PendingRun = { counterparty: peerKey, records: 5000, sessionId };
 * ```
 */
export interface PendingRun {
  /** The counterparty's Ed25519 public key. */
  counterparty: Uint8Array;
  /** Records the run was allowed. */
  records: number;
  /** Session id of the run, once known: its receipt settles the reservation. */
  sessionId?: Uint8Array;
  /** Data-product query: the product id (hex) and the keys it was allowed. */
  product?: string;
  keys?: number;
}

/**
 * Where `counterparty` stands in the current period, counting the given ledger entries.
 * @example
 * ```ts
 * const s = budgetStatus(await ledger.readReceipts(), { counterparty: peerKey, policy });
 * ```
 */
export function budgetStatus(receipts: Iterable<UsageReceipt>, options: BudgetCheckOptions): BudgetStatus {
  assertBytes(options.counterparty, 'options.counterparty', 32);
  const { policy } = options;
  const now = options.now ?? Date.now();
  const records = options.records ?? 0;
  if (!Number.isSafeInteger(records) || records < 0) throw new RangeError('options.records must be a non-negative safe integer');
  const override = policy.counterparties?.[toBase64(options.counterparty)] ?? {};
  const maxQueries = override.maxQueries ?? policy.maxQueries;
  const maxRecords = override.maxRecords ?? policy.maxRecords;
  const maxKeys = override.maxKeys ?? policy.maxKeys;
  const product = options.product;
  if (product !== undefined && (typeof product.id !== 'string' || !Number.isSafeInteger(product.keys) || product.keys < 0)) {
    throw new RangeError('options.product must be { id: string, keys: non-negative integer }');
  }
  let keysUsed = 0;
  let keysReserved = 0;
  const { start, end } = budgetPeriodBounds(policy.period, now);
  let queriesUsed = 0;
  let recordsUsed = 0;
  const settled = new Set<string>();
  for (const r of receipts) {
    const b = r.body;
    if (options.pending !== undefined) settled.add(toBase64(b.sessionId));
    if (b.startedAt < start || b.startedAt >= end || b.outcome === 'refused' || !isRunReceipt(r)) continue;
    if (!b.parties.some((p) => equalBytes(p.publicKey, options.counterparty))) continue;
    queriesUsed++;
    for (const n of Object.values(b.inputSizes)) recordsUsed += n;
    if (product !== undefined && b.protocol === PRODUCT_QUERY && b.options['product'] === product.id) keysUsed += b.inputSizes['requester'] ?? 0;
  }
  let queriesReserved = 0;
  let recordsReserved = 0;
  for (const p of options.pending ?? []) {
    if (!equalBytes(p.counterparty, options.counterparty)) continue;
    if (p.sessionId !== undefined && settled.has(toBase64(p.sessionId))) continue;
    queriesReserved++;
    recordsReserved += p.records;
    if (product !== undefined && p.product === product.id) keysReserved += p.keys ?? 0;
  }
  const q = queriesUsed + queriesReserved;
  const n = recordsUsed + recordsReserved;
  const keysFit = product === undefined || maxKeys === undefined || keysUsed + keysReserved + product.keys <= maxKeys;
  const allowed = q + 1 <= maxQueries && (maxRecords === undefined || n + records <= maxRecords) && keysFit;
  const status: BudgetStatus = {
    period: policy.period,
    periodStart: start,
    periodEnd: end,
    queriesUsed,
    queriesReserved,
    maxQueries,
    recordsUsed,
    recordsReserved,
    allowed,
  };
  if (maxRecords !== undefined) status.maxRecords = maxRecords;
  if (product !== undefined) Object.assign(status, { keysUsed, keysReserved }, maxKeys !== undefined ? { maxKeys } : {});
  return status;
}

/**
 * Refuses a new job once the counterparty's budget for the period is spent: throws
 * `GuardrailRefusedError` with a message saying what is spent and when it resets; otherwise
 * returns the status.
 * @example
 * ```ts
 * checkBudget(await ledger.readReceipts(), { counterparty: peerKey, policy, records: rows.length });
 * ```
 */
export function checkBudget(receipts: Iterable<UsageReceipt>, options: BudgetCheckOptions): BudgetStatus {
  const s = budgetStatus(receipts, options);
  if (!s.allowed) {
    const who = toBase64(options.counterparty);
    const resets = new Date(s.periodEnd).toISOString();
    // Runs in progress count: they were allowed and will be recorded.
    const q = s.queriesUsed + s.queriesReserved;
    const inProgress = (n: number): string => (n > 0 ? ` (${n} in progress)` : '');
    const k = (s.keysUsed ?? 0) + (s.keysReserved ?? 0);
    const what =
      q + 1 > s.maxQueries
        ? `${q} of ${s.maxQueries} queries used this ${s.period}${inProgress(s.queriesReserved)}`
        : s.maxKeys !== undefined && options.product !== undefined && k + options.product.keys > s.maxKeys
        ? `${k} of ${s.maxKeys} keys of product ${options.product.id} evaluated this ${s.period}${inProgress(s.queriesReserved)}, the query has ${options.product.keys}`
        : `${s.recordsUsed + s.recordsReserved} of ${s.maxRecords} records used this ${s.period}${inProgress(s.queriesReserved)}, the job needs ${options.records ?? 0} more`;
    throw new GuardrailRefusedError(`query budget for counterparty ${who} is spent: ${what} (resets ${resets})`);
  }
  return s;
}
