/**
 * Node-only ledger APIs: the on-disk ledger (files, fsync, locks).
 * @module
 */
export { LEDGER_FILES, checkLedgerBudget, defaultOrigin, openLedger, readLedgerCheckpoint, verifyLedgerDir } from './file-ledger.js';
export type { AppendResult, Ledger, OpenLedgerOptions } from './file-ledger.js';
