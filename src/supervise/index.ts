/**
 * Supervision of the usage ledger (issue 17 part 3, docs/supervise.md): rules over the ledger,
 * the runs' key sketches and the listeners' refusal logs, raising alerts linked to ledger entries
 * with inclusion proofs; and the sharing records of GB/T 35273 §9.2. Node-only (reads files):
 * exported from `dataport/node`.
 * @module
 */
export { ALERT_RULES, alertId } from './alert.js';
export type { Alert, AlertEntry, AlertRule } from './alert.js';
export { DEFAULT_SUPERVISION_RULES, MAX_RULES_BYTES, parseSupervisionRules } from './rules.js';
export type { AlertLevel, SupervisionRules } from './rules.js';
export { alertText, SUPERVISE_MESSAGES, SUPERVISE_MESSAGES_ZH } from './messages.js';
export type { AlertDetails, SuperviseMessageKey } from './messages.js';
export { REFUSAL_LOG_LIMITS, formatRefusalLine, parseRefusalLog } from './refusal-log.js';
export type { RefusalRecord } from './refusal-log.js';
export { MAX_REFUSAL_LOG_BYTES, superviseLedger } from './supervise-ledger.js';
export type { SuperviseOptions, SuperviseResult, SupervisedHead } from './supervise-ledger.js';
export { sharingRecords } from './sharing.js';
export type { SharingRecord } from './sharing.js';
