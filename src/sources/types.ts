/**
 * Record sources: where the rows of a joint computation come from (a CSV file, a PostgreSQL or
 * MySQL query, or any async iterable of rows), behind one interface so that every command and the
 * SDK read them the same way (docs/databases.md).
 * @module
 */

/** One cell as a source may hand it over; `null` / `undefined` is an empty cell (SQL NULL). */
export type CellValue = string | number | bigint | boolean | Date | Uint8Array | null | undefined;

/** One row: column name → cell. */
export type SourceRow = Readonly<Record<string, CellValue>>;

/** What a source is, safe to print and to record: never a password, never a connection string's secrets. */
export interface SourceInfo {
  /** `csv`, `postgres`, `mysql` or `iterable`. */
  kind: 'csv' | 'postgres' | 'mysql' | 'iterable';
  /** For messages: the file path, or the database URL without password and parameters. */
  label: string;
  /** SHA-256 (hex) of the query text, for database sources. */
  queryHash?: string;
}

/** One read of a source: the column names of the result, then its rows as cell text (`null` = NULL). */
export interface TableScan {
  header: readonly string[];
  rows: AsyncIterable<readonly (string | null)[]>;
}

/**
 * A consistent view of a source: every {@link SourceSnapshot.scan} sees the same rows (for a
 * database, the same REPEATABLE READ, read-only transaction), until `close`.
 */
export interface SourceSnapshot {
  scan(options?: { signal?: AbortSignal }): Promise<TableScan>;
  close(): Promise<void>;
}

/**
 * A record source: an async iterable of rows (`for await (const row of source)`), with what it is
 * and a way to read it more than once consistently (used for `--output`).
 * @example
 * ```ts
 * for await (const row of fromCsv('hospital.csv')) console.log(row.resident_id);
 * ```
 */
export interface RecordSource extends AsyncIterable<SourceRow> {
  readonly info: SourceInfo;
  /** Opens a consistent view; close it when done. */
  snapshot(options?: { signal?: AbortSignal }): Promise<SourceSnapshot>;
}
