/**
 * Query-budget reservations (Node-only): a run's share of a budget is reserved atomically when the
 * run is allowed, and settled when its receipt is in the ledger, so concurrent sessions — in one
 * process (`--keep-serving`) or in several processes sharing a ledger directory — can never
 * together overspend a budget that each checked alone (DESIGN.md §4.4).
 *
 * Storage: `reservations.json` in the ledger directory, `{ "version": 1, "reservations": [ … ] }`,
 * each reservation `{ id, pid, counterparty, records, expiresAt[, sessionId] }` (keys and ids in
 * base64 / hex). It is read and rewritten only inside {@link ReservableLedger.exclusive}, i.e. under the
 * ledger's own lock file and after the handle adopted every entry other processes committed: the
 * check "entries + live reservations + this run ≤ budget" and the write of the new reservation are
 * one atomic step for every process on the host. The rewrite goes through a temporary file and a
 * rename, so a crash never leaves a torn file.
 *
 * A reservation stops counting when
 * - an entry with its session id is in the ledger (settled: the entry counts instead — the append
 *   and the settlement are the same durable write, so there is no moment where the run counts
 *   twice or not at all);
 * - its holder releases it ({@link releaseLedgerBudget}: the run failed before a receipt, or
 *   after the append, to tidy up);
 * - its process is gone (`kill(pid, 0)` fails: crashed or exited without releasing);
 * - it expired (`ttlMs`, default 24 h — a safety net for a live process that leaked it).
 * Dead, expired and settled reservations are dropped from the file whenever it is rewritten.
 *
 * Limits: local file systems only (like the lock: pids mean nothing across hosts); a run that
 * outlives `ttlMs` loses its reservation (the budget can then be overspent by that run); at most
 * {@link MAX_RESERVATIONS} live reservations per ledger.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { LedgerIntegrityError, LimitExceededError } from '../errors.js';
import { assertBytes, fromBase64, toBase64 } from '../utils/bytes.js';
import { checkBudget, type BudgetCheckOptions, type BudgetStatus, type PendingRun } from './budget.js';
import { decodeReceipt } from './receipt.js';
import type { UsageReceipt } from './receipt-types.js';

/**
 * The reservations file in a ledger directory.
 * @example
 * ```ts
 * const path = join(ledgerDir, RESERVATIONS_FILE);
 * ```
 */
export const RESERVATIONS_FILE = 'reservations.json';

/**
 * Most live reservations a ledger holds; one more is refused (`LimitExceededError`).
 * @example
 * ```ts
 * if (pending.length >= MAX_RESERVATIONS) console.log('too many runs in progress');
 * ```
 */
export const MAX_RESERVATIONS = 10_000;

/** Largest reservations file read (a full one is ~2 MB). */
const MAX_FILE_BYTES = 4 << 20;
const DEFAULT_TTL_MS = 24 * 60 * 60 * 1000;

/**
 * One stored reservation.
 * @example
 * ```ts
 * const live = (await readBudgetReservations(dir)).filter((r) => r.expiresAt > Date.now());
 * ```
 */
export interface BudgetReservation extends PendingRun {
  /** Random id (hex) of the reservation. */
  id: string;
  /** Process that holds it. */
  pid: number;
  /** After this (ms since the epoch) it no longer counts. */
  expiresAt: number;
}

/**
 * Options of {@link reserveLedgerBudget}: those of `checkBudget` plus the run's session id.
 * @example
 * ```ts
 * await reserveLedgerBudget(ledger, { counterparty: peerKey, policy, records: 5000, sessionId });
 * ```
 */
export interface ReserveBudgetOptions extends Omit<BudgetCheckOptions, 'pending'> {
  /** The session id the run's receipt will carry (settles the reservation); see `BeforeRunContext`. */
  sessionId?: Uint8Array;
  /** Lifetime of the reservation if never settled nor released (default 24 h). */
  ttlMs?: number;
}

function pidAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function corrupt(dir: string, what: string): LedgerIntegrityError {
  return new LedgerIntegrityError(
    `${join(dir, RESERVATIONS_FILE)}: ${what}; it only holds runs in progress: if no dataport process uses this ledger, delete it`,
  );
}

function parseReservation(v: unknown, dir: string): BudgetReservation {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw corrupt(dir, 'a reservation is not an object');
  const o = v as Record<string, unknown>;
  const int = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
  const key = (x: unknown, n: number): Uint8Array => {
    let b: Uint8Array | undefined;
    try {
      b = typeof x === 'string' ? fromBase64(x) : undefined;
    } catch {
      b = undefined;
    }
    if (b === undefined || b.length !== n) throw corrupt(dir, 'a reservation has a bad key or session id');
    return b;
  };
  if (typeof o.id !== 'string' || !/^[0-9a-f]{32}$/.test(o.id) || !int(o.pid) || !int(o.records) || !int(o.expiresAt)) {
    throw corrupt(dir, 'a reservation has a bad field');
  }
  const r: BudgetReservation = { id: o.id, pid: o.pid, counterparty: key(o.counterparty, 32), records: o.records, expiresAt: o.expiresAt };
  if (o.sessionId !== undefined) r.sessionId = key(o.sessionId, 16);
  if (o.product !== undefined || o.keys !== undefined) {
    if (typeof o.product !== 'string' || !/^[0-9a-f]{32}$/.test(o.product) || !int(o.keys)) throw corrupt(dir, 'a reservation has a bad product field');
    r.product = o.product;
    r.keys = o.keys;
  }
  return r;
}

/**
 * The reservations stored in ledger directory `dir` (live or not; see the module documentation
 * for which count). Throws `LedgerIntegrityError` naming the file if it is malformed.
 * @example
 * ```ts
 * const reservations = await readBudgetReservations('./ledger');
 * ```
 */
export async function readBudgetReservations(dir: string): Promise<BudgetReservation[]> {
  const path = join(dir, RESERVATIONS_FILE);
  let text: string;
  try {
    const st = await fsp.stat(path);
    if (!st.isFile() || st.size > MAX_FILE_BYTES) throw corrupt(dir, `not a regular file of at most ${MAX_FILE_BYTES} bytes`);
    text = await fsp.readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw corrupt(dir, 'not valid JSON');
  }
  const o = v as { version?: unknown; reservations?: unknown };
  if (v === null || typeof v !== 'object' || o.version !== 1 || !Array.isArray(o.reservations) || o.reservations.length > MAX_RESERVATIONS) {
    throw corrupt(dir, 'not a version 1 reservations file');
  }
  return o.reservations.map((r) => parseReservation(r, dir));
}

async function writeReservations(dir: string, reservations: readonly BudgetReservation[]): Promise<void> {
  const json = JSON.stringify({
    version: 1,
    reservations: reservations.map((r) => ({
      id: r.id,
      pid: r.pid,
      counterparty: toBase64(r.counterparty),
      records: r.records,
      expiresAt: r.expiresAt,
      ...(r.sessionId !== undefined ? { sessionId: toBase64(r.sessionId) } : {}),
      ...(r.product !== undefined ? { product: r.product, keys: r.keys ?? 0 } : {}),
    })),
  });
  // Rename over the old file: readers (all under the lock) see the old or the new content, never a
  // mix. No fsync: after a machine crash every process that held a reservation is gone anyway.
  const tmp = join(dir, `.${RESERVATIONS_FILE}.${process.pid}.tmp`);
  await fsp.writeFile(tmp, json, { mode: 0o600 });
  await fsp.rename(tmp, join(dir, RESERVATIONS_FILE));
}

/** Decoded entries per open handle: the log is append-only, so only new entries are read. */
/**
 * What the reservations need of a ledger. `Ledger` (file-ledger.ts) has all of it; the shape is
 * declared here so that the dependency points one way (file-ledger imports this module, not the
 * reverse).
 */
export interface ReservableLedger {
  /** The ledger's folder (reservations.json lives beside the log). */
  readonly dir: string;
  /** Number of entries. */
  readonly size: number;
  /** The encoded entry at `index`. */
  readEntry(index: number): Promise<Uint8Array>;
  /** Every entry decoded. */
  readReceipts(): Promise<UsageReceipt[]>;
  /** Runs `fn` under the ledger's exclusive lock. */
  exclusive<T>(fn: () => Promise<T>): Promise<T>;
}

const decoded = new WeakMap<ReservableLedger, UsageReceipt[]>();

/**
 * Every entry of `ledger` this handle knows of, decoded (as `ledger.readReceipts()`), reading and
 * decoding only the entries appended since the previous call on this handle. The array is shared:
 * do not modify it.
 * @example
 * ```ts
 * const receipts = await cachedLedgerReceipts(ledger);
 * ```
 */
export async function cachedLedgerReceipts(ledger: ReservableLedger): Promise<readonly UsageReceipt[]> {
  const n = ledger.size;
  let list = decoded.get(ledger);
  if (list === undefined) {
    list = await ledger.readReceipts();
    const other = decoded.get(ledger);
    // A concurrent first call may have finished first; keep the longer (both are complete prefixes).
    if (other !== undefined && other.length >= list.length) return other;
    decoded.set(ledger, list);
    return list;
  }
  // Concurrent calls on one handle must not push the same entries twice: read into a local array,
  // then append only if nobody else extended the list meanwhile (check and push are synchronous).
  while (list.length < n) {
    const start = list.length;
    const fresh: UsageReceipt[] = [];
    for (let i = start; i < n; i++) fresh.push(decodeReceipt(await ledger.readEntry(i)));
    if (list.length === start) list.push(...fresh);
  }
  return list;
}

/** The reservations that still count, given the ledger's entries' session ids. */
function live(all: readonly BudgetReservation[], settled: ReadonlySet<string>, now: number): BudgetReservation[] {
  return all.filter((r) => r.expiresAt > now && pidAlive(r.pid) && !(r.sessionId !== undefined && settled.has(toBase64(r.sessionId))));
}

/**
 * The reservations of ledger directory `dir` that still count against `receipts` (the ledger's
 * entries): not settled by an entry, not expired, held by a live process. A snapshot: without the
 * ledger's lock it may be outdated as soon as it is returned (use {@link reserveLedgerBudget} to
 * act on it).
 * @example
 * ```ts
 * const pending = await liveBudgetReservations(ledger.dir, await ledger.readReceipts());
 * ```
 */
export async function liveBudgetReservations(dir: string, receipts: readonly UsageReceipt[], now: number = Date.now()): Promise<BudgetReservation[]> {
  return live(await readBudgetReservations(dir), new Set(receipts.map((r) => toBase64(r.body.sessionId))), now);
}

/**
 * Reserves one query (and `records` records) of the counterparty's budget for a run about to
 * start, or throws `GuardrailRefusedError` (the message of `checkBudget`, counting runs in
 * progress) if entries plus live reservations leave no room. Atomic across the processes and
 * handles that share the ledger directory. Returns the reservation id (for
 * {@link releaseLedgerBudget}) and the status before this run.
 * @example
 * ```ts
 * const { id } = await reserveLedgerBudget(ledger, { counterparty: peerKey, policy, records: 5000, sessionId });
 * try { await run(); } finally { await releaseLedgerBudget(ledger, id); }
 * ```
 */
export async function reserveLedgerBudget(ledger: ReservableLedger, options: ReserveBudgetOptions): Promise<{ id: string; status: BudgetStatus }> {
  assertBytes(options.counterparty, 'options.counterparty', 32);
  if (options.sessionId !== undefined) assertBytes(options.sessionId, 'options.sessionId', 16);
  const ttlMs = options.ttlMs ?? DEFAULT_TTL_MS;
  if (!Number.isSafeInteger(ttlMs) || ttlMs <= 0) throw new RangeError('options.ttlMs must be a positive integer');
  const records = options.records ?? 0;
  return ledger.exclusive(async () => {
    const receipts = await cachedLedgerReceipts(ledger);
    const now = options.now ?? Date.now();
    const settled = new Set(receipts.map((r) => toBase64(r.body.sessionId)));
    const pending = live(await readBudgetReservations(ledger.dir), settled, now);
    const { sessionId: _s, ttlMs: _t, ...check } = options;
    const status = checkBudget(receipts, { ...check, now, pending });
    if (pending.length >= MAX_RESERVATIONS) throw new LimitExceededError(`more than ${MAX_RESERVATIONS} runs in progress on this ledger`);
    const id = randomBytes(16).toString('hex');
    const mine: BudgetReservation = { id, pid: process.pid, counterparty: options.counterparty.slice(), records, expiresAt: now + ttlMs };
    if (options.sessionId !== undefined) mine.sessionId = options.sessionId.slice();
    if (options.product !== undefined) Object.assign(mine, { product: options.product.id, keys: options.product.keys });
    await writeReservations(ledger.dir, [...pending, mine]);
    return { id, status };
  });
}

/**
 * Gives back a reservation (the run failed before its receipt, or its receipt is appended and the
 * reservation is settled anyway). Releasing an unknown or already dropped id does nothing.
 * @example
 * ```ts
 * await releaseLedgerBudget(ledger, id);
 * ```
 */
export async function releaseLedgerBudget(ledger: ReservableLedger, id: string): Promise<void> {
  if (typeof id !== 'string') throw new TypeError('id must be a string');
  await ledger.exclusive(async () => {
    const all = await readBudgetReservations(ledger.dir);
    if (!all.some((r) => r.id === id)) return;
    // Settled ones are dropped by the next reservation (which reads the entries anyway).
    await writeReservations(
      ledger.dir,
      live(all, new Set(), Date.now()).filter((r) => r.id !== id),
    );
  });
}
