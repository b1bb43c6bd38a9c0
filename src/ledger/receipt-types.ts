/**
 * The usage receipt: what both parties sign at the end of every joint run and what each appends to
 * its ledger (DESIGN.md §7). It never holds a raw identifier or value.
 * @module
 */

/**
 * A party of a run, identified by its Ed25519 public key (32 bytes).
 * @example
 * ```ts
 * const party: ReceiptParty = { role: 'requester', publicKey: identity.publicKey };
 * ```
 */
export interface ReceiptParty {
  /** Role in the run, e.g. `requester`, `responder`, `provider`, `aggregator`, `analyst`. */
  role: string;
  /** Ed25519 public key, 32 bytes. */
  publicKey: Uint8Array;
}

/**
 * A guardrail decision taken during the run.
 * @example
 * ```ts
 * const g: GuardrailDecision = { rule: 'min-cohort', outcome: 'passed', detail: 'k=10' };
 * ```
 */
export interface GuardrailDecision {
  /** e.g. `min-cohort`, `dp-noise`, `budget`. */
  rule: string;
  /** e.g. `passed`, `withheld`, `refused`, `applied`. */
  outcome: string;
  /** Free-form, non-identifying detail, e.g. `k=10` or `epsilon=1`. */
  detail?: string;
}

/**
 * The content both parties sign. Times are milliseconds since the Unix epoch.
 * @example
 * ```ts
 * const bytes = encodeReceiptBody(body); // what both parties sign
 * ```
 */
export interface UsageReceiptBody {
  /** Receipt format version (currently 1). */
  version: 1;
  /** 16 random bytes agreed in the session handshake. */
  sessionId: Uint8Array;
  /** When the run started / ended. */
  startedAt: number;
  endedAt: number;
  parties: ReceiptParty[];
  /** `ecdh-psi`, `psi-sum`, `aggregate`, … */
  protocol: string;
  /** Protocol options as sorted key/value strings (e.g. `reveal=both`, `truncate=128`). */
  options: Record<string, string>;
  /** Purpose / authorisation reference from the job's terms (may be empty). */
  purpose: string;
  /** Input sizes (distinct keys or rows) per role, e.g. `{ requester: 1000, responder: 5000 }`. */
  inputSizes: Record<string, number>;
  /** Output sizes released per role, e.g. `{ requester: 120 }`. */
  outputSizes: Record<string, number>;
  bytesExchanged: number;
  computeMs: number;
  guardrails: GuardrailDecision[];
  /** Billable units from the price schedule (integers, in the schedule's smallest unit), if any. */
  billing?: { currency: string; amountMinor: number; schedule: string };
  /**
   * `completed`, `refused`, `withheld` or `failed` (co-signed receipts); `aborted-after-data` (a
   * one-sided receipt of a run that failed or whose peer hung up after protocol data flowed).
   */
  outcome: string;
}

/**
 * A receipt with its parties' Ed25519 signatures over the canonical encoding of `body`: every
 * party's (co-signed, the default), or, with `kind: 'one-sided'`, exactly one party's — a run the
 * other side never signed (a peer that hung up after protocol data flowed; a foreign platform
 * without dataport identities). The outcome says why it is one-sided.
 * @example
 * ```ts
 * const receipt: UsageReceipt = { body, signatures: [mine, theirs] };
 * const aborted: UsageReceipt = { kind: 'one-sided', body, signatures: [mine] };
 * ```
 */
export interface UsageReceipt {
  /** Absent (or `'co-signed'`): signed by every party. `'one-sided'`: signed by one party only. */
  kind?: 'co-signed' | 'one-sided';
  body: UsageReceiptBody;
  signatures: { publicKey: Uint8Array; signature: Uint8Array }[];
}
