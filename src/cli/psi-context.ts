/**
 * The shapes `dataport psi` passes between its command (commands/psi.ts) and its session runner
 * (psi-session.ts): kept apart so both import them and neither imports the other.
 * @module
 */
import type { BudgetPolicy } from '../ledger/budget.js';
import type { Ledger } from '../ledger/file-ledger.js';
import type { PriceSchedule, ReceiptBilling } from '../ledger/pricing.js';
import type { UsageReceipt } from '../ledger/receipt-types.js';
import type { CryptoExecutor } from '../protocols/executor.js';
import type { PsiProtocolOptions, PsiResult } from '../protocols/psi/index.js';
import type { Identity } from '../session/identity.js';
import type { PreparedPsiRecords } from '../session/run-psi.js';
import type { KeyInput } from './key-input.js';
import type { PayloadInput } from './payload-input.js';
import type { Progress } from './progress.js';
import type { InputReader } from './record-input.js';
import type { PsiCliOptions } from './psi-options.js';
import type { Reporter } from './summary.js';

/** What one run (one session) produced, whichever mode ran it. */
export interface PsiRunOutcome {
  role: 'requester' | 'responder';
  result: PsiResult;
  /** Set when the session layer ran (not in interop mode). */
  receipt?: UsageReceipt;
  peerPublicKey?: Uint8Array;
  /** Bytes of the whole connection (session layer included). */
  bytesSent: number;
  bytesReceived: number;
  /** Where the receipt was appended, if `--ledger` was given. */
  ledger?: { dir: string; index: number };
  /** The co-signed billing of the receipt (priced with the responder's schedule, or the requester's), if any. */
  billing?: ReceiptBilling;
  /**
   * PSI with payload: the columns; requester: the delivered rows per matched key id and their
   * number; responder: the number only when the receipt records it (both learn the intersection).
   */
  payload?: { columns: string[]; byKey?: Map<string, string[][]>; records: number | null };
}

/** Everything a session needs, prepared once before any socket is opened. */
export interface PsiContext {
  opts: PsiCliOptions;
  input: KeyInput;
  /** `--input` (file or query): read again for `--output`. */
  reader: InputReader;
  identity?: Identity;
  peerKey?: Uint8Array;
  executor: CryptoExecutor;
  protocolOptions: PsiProtocolOptions;
  reporter: Reporter;
  progress: Progress;
  /** The ledger receipts are appended to (`--ledger`). */
  ledger?: Ledger;
  /** `--price-schedule`: the schedule this party bills with (the amount is in the co-signed receipt). */
  schedule?: PriceSchedule;
  /** `--accept-price-schedule`: the only peer schedule accepted (when the peer's bills the run). */
  acceptSchedule?: PriceSchedule;
  /** `--budget`: checked against `ledger` once the peer is authenticated. */
  budget?: BudgetPolicy;
  /** The keys normalised before connecting or listening (psi-session.ts `preparePsiKeys`); every session reuses them. */
  prepared?: PreparedPsiRecords;
  /** `--payload` (listener): every row's key fields and payload values. */
  payload?: PayloadInput;
}

