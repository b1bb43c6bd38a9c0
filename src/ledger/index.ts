/**
 * The usage ledger's runtime-neutral parts: receipt codec and signatures, Merkle tree maths,
 * checkpoints, proofs, price schedules and budgets. File storage is in `dataport/node`.
 * @module
 */
export type { UsageReceipt, UsageReceiptBody, ReceiptParty, GuardrailDecision } from './receipt-types.js';
export {
  RECEIPT_LIMITS,
  RECEIPT_SIGNATURE_CONTEXT,
  ONE_SIDED_RECEIPT_SIGNATURE_CONTEXT,
  encodeReceiptBody,
  decodeReceiptBody,
  encodeReceipt,
  decodeReceipt,
  signReceiptBody,
  signOneSidedReceipt,
  verifyReceipt,
} from './receipt.js';
export type { Ed25519Verifier, VerifyReceiptOptions } from './receipt.js';
export { HASH_BYTES, MerkleTree, hashLeaf, hashChildren, emptyRoot, verifyInclusionProof, verifyConsistencyProof } from './merkle.js';
export {
  CHECKPOINT_LIMITS,
  assertOrigin,
  formatCheckpointBody,
  noteKeyId,
  formatNoteVerifierKey,
  formatSignedNote,
  signCheckpoint,
  parseCheckpoint,
  verifyCheckpoint,
} from './checkpoint.js';
export type { Checkpoint, NoteSignature, SignedCheckpoint } from './checkpoint.js';
export { verifyLedgerBytes, checkWitness } from './verify.js';
export { LEDGER_EXPORT_LIMITS, parseLedgerExport, crossCheckLedgers } from './cross-check.js';
export type { LedgerEntries, CrossCheckItem, CrossCheckResult } from './cross-check.js';
export type { VerifyLedgerOptions, VerifyLedgerResult, LedgerProblem, WitnessCheckpoint, WitnessTarget } from './verify.js';
export {
  parsePriceSchedule,
  priceRun,
  billRun,
  encodePriceSchedule,
  decodePriceSchedule,
  priceScheduleRef,
  parsePriceScheduleRef,
  MAX_PRICE_SCHEDULE_BYTES,
} from './pricing.js';
export type { PriceSchedule, ProtocolPrice, PricedRun, ReceiptBilling } from './pricing.js';
export { parseBudgetPolicy, budgetPeriodBounds, budgetStatus, checkBudget } from './budget.js';
export type { BudgetPeriod, BudgetLimits, BudgetPolicy, BudgetStatus, BudgetCheckOptions, PendingRun } from './budget.js';
export { buildUsageReport, formatUsageReport } from './report.js';
export type { ReportGrouping, ReportFormat, UsageReportRow, UsageReportOptions } from './report.js';
export {
  RELEASE_PROTOCOL,
  TRACE_PROTOCOL,
  isRunReceipt,
  releaseReceiptBody,
  releaseRecordOf,
  resultReleaseReceiptBody,
  resultReleaseRecordOf,
  traceReceiptBody,
} from './release-records.js';
export {
  KEY_SKETCH_K,
  KEY_SKETCH_SALT_BYTES,
  computeKeySketch,
  decodeKeySketch,
  encodeKeySketch,
  estimateKeySetDifference,
  keySketchCommitment,
} from './key-sketch.js';
export type { KeySketch } from './key-sketch.js';
