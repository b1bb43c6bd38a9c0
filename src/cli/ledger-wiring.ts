/**
 * `--price-schedule` and `--budget` of `dataport psi` / `dataport psi-sum`: loading the files,
 * the query-budget check run once the peer is authenticated (the session's `beforeRun`), and the
 * billing annotation recorded next to each ledger entry.
 *
 * Billing is a ledger-side annotation, not part of the co-signed receipt: the session layer builds
 * the signed body deterministically from both parties' receipt views and the signed terms, and
 * neither carries a price, so a party cannot add an amount to the body without the peer's
 * signature breaking. The party that bills (usually the listener) records `priceRun(schedule,
 * body)` for the entry in `billing.jsonl` in its ledger directory, bound to the entry by its index
 * and the SHA-256 of its bytes; `dataport ledger report` adds these amounts (an entry whose own
 * body carries `billing` keeps that one).
 * @module
 */
import { open, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError } from '../errors.js';
import { checkLedgerBudget, type Ledger } from '../ledger/file-ledger.js';
import { sha256 } from '../ledger/hash.js';
import { parseBudgetPolicy, type BudgetPolicy } from '../ledger/budget.js';
import { parsePriceSchedule, priceRun, type PriceSchedule, type ReceiptBilling } from '../ledger/pricing.js';
import type { UsageReceipt } from '../ledger/receipt-types.js';
import type { SessionTerms } from '../session/messages.js';
import { fromBase64, toBase64 } from '../utils/bytes.js';

/**
 * The billing annotation file in a ledger directory (one JSON line per billed entry).
 * @example
 * ```ts
 * const path = join(ledgerDir, BILLING_FILE); // ledger/hospital/billing.jsonl
 * ```
 */
export const BILLING_FILE = 'billing.jsonl';

/** Largest schedule / budget file read. */
const MAX_POLICY_FILE_BYTES = 1 << 20;
/** Largest annotation file read by a report. */
const MAX_BILLING_FILE_BYTES = 256 << 20;

async function readPolicyFile(flag: string, path: string): Promise<string> {
  let st;
  try {
    st = await stat(path);
  } catch (err) {
    throw new InputError(`${flag} ${path}: cannot read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (!st.isFile()) throw new InputError(`${flag} ${path}: not a regular file`);
  if (st.size > MAX_POLICY_FILE_BYTES) throw new InputError(`${flag} ${path}: larger than ${MAX_POLICY_FILE_BYTES} bytes`);
  return readFile(path, 'utf8');
}

/**
 * Reads and checks a `--price-schedule` file for `protocol`; `InputError` naming the file if it
 * is invalid or has no price for the protocol (and no default).
 * @example
 * ```ts
 * const schedule = await loadPriceSchedule('prices.json', 'ecdh-psi');
 * ```
 */
export async function loadPriceSchedule(path: string, protocol: string): Promise<PriceSchedule> {
  const text = await readPolicyFile('--price-schedule', path);
  let schedule: PriceSchedule;
  try {
    schedule = parsePriceSchedule(text);
  } catch (err) {
    throw new InputError(`--price-schedule ${path}: ${(err as Error).message}`);
  }
  if (!Object.prototype.hasOwnProperty.call(schedule.protocols, protocol) && schedule.default === undefined) {
    throw new InputError(`--price-schedule ${path}: no price for protocol '${protocol}' and no default`);
  }
  return schedule;
}

/**
 * Reads and checks a `--budget` policy file; `InputError` naming the file if it is invalid.
 * @example
 * ```ts
 * const policy = await loadBudgetPolicy('budget.json');
 * ```
 */
export async function loadBudgetPolicy(path: string): Promise<BudgetPolicy> {
  const text = await readPolicyFile('--budget', path);
  try {
    return parseBudgetPolicy(text);
  } catch (err) {
    throw new InputError(`--budget ${path}: ${(err as Error).message}`);
  }
}

/**
 * The session's `beforeRun` for a budget: refuses (`GuardrailRefusedError`, whose message the
 * session sends to the peer) once the authenticated peer's budget in `ledger` is spent. The
 * records counted for `maxRecords` are this party's distinct keys plus what the peer declared in
 * the signed terms (the requester's set size; a requester knows only the responder's minimum).
 * @example
 * ```ts
 * await runPsi({ ...options, beforeRun: budgetCheck(ledger, policy, 'responder', distinctKeys) });
 * ```
 */
export function budgetCheck(
  ledger: Ledger,
  policy: BudgetPolicy,
  role: 'requester' | 'responder',
  localRecords: number,
): (terms: SessionTerms, peerPublicKey: Uint8Array) => Promise<void> {
  return async (terms, peerPublicKey) => {
    const peerRecords = role === 'responder' ? terms.requesterSetSize : terms.responderSetSize.min;
    await checkLedgerBudget(ledger, { counterparty: peerPublicKey, policy, records: localRecords + peerRecords });
  };
}

/**
 * Appends `receipt` to `ledger` and, with a schedule, records its billing next to the entry.
 * Returns the entry index and the billing recorded (none without a schedule).
 * @example
 * ```ts
 * const { index, billing } = await recordReceipt(ledger, receipt, schedule);
 * ```
 */
export async function recordReceipt(
  ledger: Ledger,
  receipt: UsageReceipt,
  schedule: PriceSchedule | undefined,
): Promise<{ index: number; billing?: ReceiptBilling }> {
  const { index } = await ledger.append(receipt);
  if (!schedule) return { index };
  const billing = receipt.body.billing ?? priceRun(schedule, receipt.body);
  const line = {
    index,
    entrySha256: toBase64(sha256(await ledger.readEntry(index))),
    sessionId: toBase64(receipt.body.sessionId),
    currency: billing.currency,
    amountMinor: billing.amountMinor,
    schedule: billing.schedule,
  };
  // One write per line in append mode: concurrent runs sharing the ledger do not interleave lines.
  const fh = await open(join(ledger.dir, BILLING_FILE), 'a', 0o600);
  try {
    await fh.write(`${JSON.stringify(line)}\n`);
    await fh.datasync();
  } finally {
    await fh.close();
  }
  return { index, billing };
}

/**
 * The billing annotations of a ledger directory, by entry index, keeping only those whose
 * recorded SHA-256 matches the entry bytes at that index (`entries`, e.g. a verified snapshot's).
 * Lines that are malformed or do not match are counted in `ignored`, never believed. The last
 * valid annotation of an index wins.
 * @example
 * ```ts
 * const { billing } = await readBillingAnnotations(dir, snapshot.entries);
 * ```
 */
export async function readBillingAnnotations(
  dir: string,
  entries: readonly Uint8Array[],
): Promise<{ billing: Map<number, ReceiptBilling>; ignored: number }> {
  const billing = new Map<number, ReceiptBilling>();
  let ignored = 0;
  let text: string;
  try {
    const path = join(dir, BILLING_FILE);
    const st = await stat(path);
    if (!st.isFile() || st.size > MAX_BILLING_FILE_BYTES) throw new InputError(`${path}: not a regular file of at most ${MAX_BILLING_FILE_BYTES} bytes`);
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { billing, ignored };
    throw err;
  }
  for (const raw of text.split('\n')) {
    if (raw.trim() === '') continue;
    let v: Record<string, unknown>;
    try {
      v = JSON.parse(raw) as Record<string, unknown>;
    } catch {
      ignored++;
      continue;
    }
    const { index, entrySha256, currency, amountMinor, schedule } = v ?? {};
    const entry = typeof index === 'number' && Number.isSafeInteger(index) && index >= 0 ? entries[index] : undefined;
    let expected: Uint8Array | undefined;
    try {
      expected = typeof entrySha256 === 'string' ? fromBase64(entrySha256) : undefined;
    } catch {
      expected = undefined;
    }
    const ok =
      entry !== undefined &&
      expected !== undefined &&
      toBase64(sha256(entry)) === toBase64(expected) &&
      typeof currency === 'string' &&
      /^[A-Z]{3}$/.test(currency) &&
      typeof amountMinor === 'number' &&
      Number.isSafeInteger(amountMinor) &&
      amountMinor >= 0 &&
      typeof schedule === 'string' &&
      schedule.length <= 128;
    if (!ok) {
      ignored++;
      continue;
    }
    billing.set(index as number, { currency: currency as string, amountMinor: amountMinor as number, schedule: schedule as string });
  }
  return { billing, ignored };
}
