/**
 * Node-only ledger APIs: the on-disk ledger (files, fsync, locks).
 * @module
 */
export { LEDGER_FILES, checkLedgerBudget, defaultOrigin, openLedger, readLedgerCheckpoint, readLedgerSnapshot, verifyLedgerDir } from './file-ledger.js';
export { MAX_RESERVATIONS, RESERVATIONS_FILE, liveBudgetReservations, readBudgetReservations, releaseLedgerBudget, reserveLedgerBudget } from './reservations.js';
export type { BudgetReservation, ReservableLedger, ReserveBudgetOptions } from './reservations.js';
export type { AppendResult, Ledger, LedgerSnapshot, OpenLedgerOptions } from './file-ledger.js';
export { KEY_SKETCH_DIR, readKeySketch, writeKeySketch } from './sketch-store.js';
