/**
 * `--price-schedule` and `--budget` of `dataport psi` / `dataport psi-sum`: loading the files,
 * the query-budget reservation taken once the peer is authenticated (the session's `beforeRun`;
 * see src/ledger/reservations.ts), and appending the co-signed receipt.
 *
 * Billing is part of the co-signed receipt: the schedule goes to the session
 * (`priceSchedule`), is announced in the handshake before the run (the peer may refuse it:
 * `--accept-price-schedule`, {@link acceptOnlySchedule}), and both parties sign the amount
 * computed from the responder's schedule (or the requester's, if only it has one) — see
 * docs/ledger.md *Billing*. There is no side file: the amount an entry holds is the amount both
 * parties signed.
 * @module
 */
import { readTextFile } from './identity-files.js';
import { noteFailureSummary } from './summary.js';
import { DataportError, InputError, TermsRefusedError } from '../errors.js';
import { openLedger, type Ledger } from '../ledger/file-ledger.js';
import type { Identity } from '../session/identity.js';
import { FILE_MESSAGES } from './messages.js';
import { releaseLedgerBudget, reserveLedgerBudget } from '../ledger/reservations.js';
import { parseBudgetPolicy, type BudgetPolicy } from '../ledger/budget.js';
import {
  encodePriceSchedule,
  parsePriceSchedule,
  parsePriceScheduleRef,
  priceScheduleRef,
  type PriceSchedule,
  type ReceiptBilling,
} from '../ledger/pricing.js';
import type { UsageReceipt } from '../ledger/receipt-types.js';
import { writeKeySketch } from '../ledger/sketch-store.js';
import type { StoredKeySketch } from '../session/run-options.js';
import type { SessionTerms } from '../session/messages.js';
import type { BeforeRunContext } from '../session/session.js';

/**
 * Opens `--ledger DIR` for `owner` (and checks it), as every command does before any peer is
 * contacted: a broken ledger is found now, not after a run whose receipt has nowhere to go. Its
 * problems become one line naming the flag.
 */
export async function openCliLedger(dir: string, owner: Identity): Promise<Ledger> {
  try {
    return await openLedger(dir, { owner });
  } catch (err) {
    if (err instanceof DataportError) throw new DataportError(err.code, FILE_MESSAGES.ledgerProblem(dir, err.message), { cause: err });
    throw new InputError(FILE_MESSAGES.cannotOpenLedger(dir, err));
  }
}

/** Largest schedule / budget file read. */
const MAX_POLICY_FILE_BYTES = 1 << 20;

function readPolicyFile(flag: string, path: string): Promise<string> {
  return readTextFile(path, flag, MAX_POLICY_FILE_BYTES);
}

/**
 * Reads and checks a `--price-schedule` file for `protocol`; `InputError` naming the file if it
 * is invalid, larger than a receipt view carries (16 KiB canonical), or has no price for the
 * protocol (and no default). Without `protocol` (auditing), only the file is checked.
 * @example
 * ```ts
 * const schedule = await loadPriceSchedule('prices.json', 'ecdh-psi');
 * ```
 */
export async function loadPriceSchedule(path: string, protocol?: string): Promise<PriceSchedule> {
  const text = await readPolicyFile('--price-schedule', path);
  let schedule: PriceSchedule;
  try {
    schedule = parsePriceSchedule(text);
  } catch (err) {
    throw new InputError(FILE_MESSAGES.invalid('--price-schedule', path, (err as Error).message));
  }
  if (protocol !== undefined && !Object.prototype.hasOwnProperty.call(schedule.protocols, protocol) && schedule.default === undefined) {
    throw new InputError(FILE_MESSAGES.invalid('--price-schedule', path, FILE_MESSAGES.noPriceFor(protocol)));
  }
  try {
    encodePriceSchedule(schedule); // what the receipt view will carry: at most 16 KiB
  } catch (err) {
    throw new InputError(FILE_MESSAGES.invalid('--price-schedule', path, (err as Error).message));
  }
  return schedule;
}

/**
 * The session's `acceptPriceSchedule` for `--accept-price-schedule FILE`: the peer's announced
 * schedule, when it is the one that bills the run, must be exactly `accepted` (same canonical
 * bytes, hence the same receipt reference); otherwise the run is refused before anything runs, on
 * both sides, with a reason naming both schedules by id and hash prefix. A peer that announces no
 * schedule (or whose schedule does not bill: a listener that bills itself) is not asked about.
 * @example
 * ```ts
 * await runPsi({ ...options, acceptPriceSchedule: acceptOnlySchedule(await loadPriceSchedule('agreed.json')) });
 * ```
 */
export function acceptOnlySchedule(accepted: PriceSchedule): (schedule: PriceSchedule, ref: string) => void {
  const want = priceScheduleRef(accepted);
  const short = (ref: string): string => {
    const p = parsePriceScheduleRef(ref);
    return p ? `'${p.id.slice(0, 40)}' (sha256 ${p.sha256Hex.slice(0, 12)}…)` : `'${ref.slice(0, 40)}'`;
  };
  return (_schedule, ref) => {
    // The reason goes to the peer: schedule ids and hashes are not secret.
    if (ref !== want) throw new TermsRefusedError(`the peer's price schedule ${short(ref)} is not the accepted ${short(want)}`);
  };
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
    throw new InputError(FILE_MESSAGES.invalid('--budget', path, (err as Error).message));
  }
}

/**
 * A session `beforeRun` hook that reserves budget, with {@link BudgetHook.release} to give the
 * reservation back.
 * @example
 * ```ts
 * const hook: BudgetHook = budgetCheck(ledger, policy, 'responder', distinctKeys);
 * try { await runPsi({ ...options, beforeRun: hook }); } finally { await hook.release(); }
 * ```
 */
export interface BudgetHook {
  (terms: SessionTerms, peerPublicKey: Uint8Array, context?: BeforeRunContext): Promise<void>;
  /**
   * Releases the reservations this hook took (best effort, never rejects: one that cannot be
   * released now stops counting when its receipt is appended, when this process exits, or after
   * 24 h). Call it when the run is over, whether it failed or not.
   */
  release(): Promise<void>;
}

/**
 * The session's `beforeRun` for a budget: atomically reserves one query (and its records) of the
 * authenticated peer's budget in `ledger` — counting the ledger's entries and the runs in progress
 * in every process sharing the ledger — or refuses (`GuardrailRefusedError`, whose message the
 * session sends to the peer) once it is spent. The reservation is settled by the run's receipt
 * (same session id) when it is appended — the co-signed one, or the one-sided `aborted-after-data`
 * one of a run that failed after protocol data flowed; call `release()` when the run is over so
 * that a run that failed before any protocol data gives its share back. The records counted for `maxRecords` are this
 * party's distinct keys plus what the peer declared in the signed terms (the requester's set size;
 * a requester knows only the responder's minimum).
 * @example
 * ```ts
 * const beforeRun = budgetCheck(ledger, policy, 'responder', distinctKeys);
 * try {
 *   await runPsi({ ...options, beforeRun });
 * } finally {
 *   await beforeRun.release();
 * }
 * ```
 */
export function budgetCheck(ledger: Ledger, policy: BudgetPolicy, role: 'requester' | 'responder', localRecords: number): BudgetHook {
  const ids: string[] = [];
  const hook = async (terms: SessionTerms, peerPublicKey: Uint8Array, context?: BeforeRunContext): Promise<void> => {
    const peerRecords = role === 'responder' ? terms.requesterSetSize : terms.responderSetSize.min;
    const { id } = await reserveLedgerBudget(ledger, {
      counterparty: peerPublicKey,
      policy,
      records: localRecords + peerRecords,
      ...(context?.sessionId ? { sessionId: context.sessionId } : {}),
    });
    ids.push(id);
  };
  return Object.assign(hook, {
    release: async (): Promise<void> => {
      for (const id of ids.splice(0)) await releaseLedgerBudget(ledger, id).catch(() => undefined);
    },
  });
}

/**
 * Appends `receipt` to `ledger`. Returns the entry index and the co-signed billing of the receipt
 * (none if neither party billed). A one-sided receipt (a run aborted after protocol data flowed)
 * is announced with one line on stderr: it counts against the peer's budget. The third argument
 * is accepted for compatibility and ignored: the schedule goes to the session (`priceSchedule`)
 * so that the amount is in the signed body.
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
  if (receipt.kind === 'one-sided') {
    const code = receipt.body.options['error'];
    process.stderr.write(
      `one-sided receipt of the run ${receipt.body.outcome}${code ? ` (${code})` : ''} appended to ${ledger.dir} (entry ${index}); it counts against the peer's budget\n`,
    );
  }
  return receipt.body.billing ? { index, billing: receipt.body.billing } : { index };
}

/**
 * For the `--json` failure line of a run that failed with `error`: when the run's last receipt is
 * one-sided, its outcome (`aborted-after-data`) and where it was appended.
 * @example
 * ```ts
 * catch (err) { noteAbortedRun(err, lastReceipt, { dir: ledger.dir, index }); throw err; }
 * ```
 */
export function noteAbortedRun(error: unknown, receipt: UsageReceipt | undefined, ledger: { dir: string; index: number } | undefined): void {
  if (receipt?.kind !== 'one-sided') return;
  noteFailureSummary(error, { outcome: receipt.body.outcome, receipt, ledger: ledger ?? null });
}

/**
 * The run option that sketches this party's keys for `dataport supervise` when there is a ledger:
 * the sketch goes to `<ledger>/sketches/<session id>.json`, the receipt gets its commitment.
 * @example
 * ```ts
 * await runPsi({ ...options, ...keySketchHook(ledger) });
 * ```
 */
export function keySketchHook(ledger: Ledger | undefined): { onKeySketch?: (s: StoredKeySketch) => Promise<void> } {
  if (!ledger) return {};
  return { onKeySketch: async (s) => void (await writeKeySketch(ledger.dir, s)) };
}
