/**
 * `--price-schedule` and `--budget` of `dataport psi` / `dataport psi-sum`: loading the files,
 * the query-budget check run once the peer is authenticated (the session's `beforeRun`), and
 * appending the co-signed receipt.
 *
 * Billing is part of the co-signed receipt: the schedule goes to the session
 * (`priceSchedule`), travels in this party's receipt view, and both parties sign the amount
 * computed from the responder's schedule (or the requester's, if only it has one) — see
 * docs/ledger.md *Billing*. There is no side file: the amount an entry holds is the amount both
 * parties signed.
 * @module
 */
import { readFile, stat } from 'node:fs/promises';
import { InputError } from '../errors.js';
import { checkLedgerBudget, type Ledger } from '../ledger/file-ledger.js';
import { parseBudgetPolicy, type BudgetPolicy } from '../ledger/budget.js';
import { encodePriceSchedule, parsePriceSchedule, type PriceSchedule, type ReceiptBilling } from '../ledger/pricing.js';
import type { UsageReceipt } from '../ledger/receipt-types.js';
import type { SessionTerms } from '../session/messages.js';

/** Largest schedule / budget file read. */
const MAX_POLICY_FILE_BYTES = 1 << 20;

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
  try {
    encodePriceSchedule(schedule); // what the receipt view will carry: at most 16 KiB
  } catch (err) {
    throw new InputError(`--price-schedule ${path}: ${(err as Error).message}`);
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
 * Appends `receipt` to `ledger`. Returns the entry index and the co-signed billing of the receipt
 * (none if neither party billed). The third argument is accepted for compatibility and ignored:
 * the schedule goes to the session (`priceSchedule`) so that the amount is in the signed body.
 * @example
 * ```ts
 * const { index, billing } = await recordReceipt(ledger, receipt);
 * ```
 */
export async function recordReceipt(
  ledger: Ledger,
  receipt: UsageReceipt,
  _schedule?: PriceSchedule,
): Promise<{ index: number; billing?: ReceiptBilling }> {
  const { index } = await ledger.append(receipt);
  return receipt.body.billing ? { index, billing: receipt.body.billing } : { index };
}
