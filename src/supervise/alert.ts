/**
 * The alert of `dataport supervise` (the fixed JSON-lines format of issue 17, read by the
 * dashboard): one per line with `--json`.
 * @module
 */
import type { AlertLevel } from './rules.js';

/**
 * Rule ids an alert may carry (docs/supervise.md, "Rules").
 * @example
 * ```ts
 * if (alert.rule === ALERT_RULES.traceHit) page(alert);
 * ```
 */
export const ALERT_RULES = {
  differencing: 'differencing',
  distinctKeys: 'distinct-keys',
  rate: 'rate',
  offHours: 'off-hours',
  firstContact: 'first-contact',
  budget80: 'budget-80',
  budget100: 'budget-100',
  abortedAfterData: 'aborted-after-data',
  ledgerIntegrity: 'ledger-integrity',
  witness: 'witness',
  traceHit: 'trace-hit',
  refusedConnections: 'refused-connections',
  sketchIntegrity: 'sketch-integrity',
} as const;

/** One of {@link ALERT_RULES}' values. */
export type AlertRule = (typeof ALERT_RULES)[keyof typeof ALERT_RULES];

/**
 * A ledger entry an alert is about, with its RFC 9162 inclusion proof in the tree of the
 * supervised head (`SuperviseResult.head`): check it with `verifyInclusionProof`.
 * @example
 * ```ts
 * verifyInclusionProof(fromHex(e.leafHash), e.index, head.size, e.proof.map(fromHex), fromHex(head.root));
 * ```
 */
export interface AlertEntry {
  index: number;
  /** SHA-256(0x00 ‖ entry), hex. */
  leafHash: string;
  /** Audit path, hex hashes. */
  proof: string[];
}

/**
 * One alert. `message` is English; `messageKey` names its text in `SUPERVISE_MESSAGES`
 * (`supervise.<rule>`), which renders it from `details` (so it can be offered in Chinese).
 * @example
 * ```ts
 * process.stdout.write(`${JSON.stringify(alert)}\n`);
 * ```
 */
export interface Alert {
  level: AlertLevel;
  rule: AlertRule;
  message: string;
  messageKey: string;
  /** The counterparty's Ed25519 public key (hex), or null when the alert is not about one. */
  counterparty: string | null;
  entries: AlertEntry[];
  /** When it happened (the run's start, the refusal hour, or the time of the check), ms since the epoch. */
  at: number;
  /** Rule-specific facts (numbers, hex keys, ids; never a key or value of a record). */
  details: Record<string, unknown>;
}

/**
 * A stable identity of an alert across evaluations of a growing ledger (what `--watch` uses to
 * print only new alerts): its rule, counterparty, entries and details — not its time or wording.
 * @example
 * ```ts
 * const seen = new Set(alerts.map(alertId));
 * ```
 */
export function alertId(a: Pick<Alert, 'rule' | 'counterparty' | 'entries' | 'details'>): string {
  return JSON.stringify([a.rule, a.counterparty, a.entries.map((e) => e.index), a.details]);
}
