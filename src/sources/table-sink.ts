/**
 * The sink of `--output URL --output-table NAME`: a new database table written in one
 * transaction (docs/databases.md).
 * @module
 */
import { InputError } from '../errors.js';

/** Options of a table sink. */
export interface TableSinkOptions {
  /** Replace an existing table (otherwise refused). */
  replace?: boolean;
}

/** A table being written; nothing is visible to others before `commit`. */
export interface TableSink {
  /** Inserts rows (cells as text, `null` = NULL), one per column. */
  write(rows: readonly (readonly (string | null)[])[]): Promise<void>;
  /** Makes the table visible; returns the number of rows written. */
  commit(): Promise<number>;
  /** Drops everything written (no table is left behind). */
  abort(): Promise<void>;
}

/** Most bind parameters in one INSERT (PostgreSQL allows 65 535). */
export const MAX_INSERT_PARAMS = 30_000;

/**
 * Checks `--output-table NAME`: `table` or `schema.table`, each part a plain identifier
 * (letters, digits, `_`, at most 63 characters, not starting with a digit); `InputError` otherwise.
 * @example
 * ```ts
 * checkTableName('results.matched_patients');
 * ```
 */
export function checkTableName(name: string): void {
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?$/.test(name)) {
    throw new InputError(`--output-table '${name}': expected NAME or SCHEMA.NAME (letters, digits and _, not starting with a digit, at most 63 each)`);
  }
}
