/**
 * Dispatch on a database URL's scheme: the source or table sink of the right driver.
 * @module
 */
import { InputError } from '../errors.js';
import { databaseKindOf } from './db-url.js';
import { checkMysqlTable, fromMysql, openMysqlTable } from './mysql.js';
import { checkPostgresTable, fromPostgres, openPostgresTable } from './postgres.js';
import type { TableSink, TableSinkOptions } from './table-sink.js';
import type { RecordSource } from './types.js';

/**
 * `fromPostgres` or `fromMysql`, by the URL's scheme.
 * @example
 * ```ts
 * const src = fromDatabase(process.argv[2]!, 'SELECT resident_id FROM programme');
 * ```
 */
export function fromDatabase(url: string, query: string): RecordSource {
  const kind = databaseKindOf(url);
  if (kind === 'postgres') return fromPostgres(url, query);
  if (kind === 'mysql') return fromMysql(url, query);
  throw new InputError('not a postgres:// or mysql:// URL');
}

/**
 * Checks before a run that `table` can be created at `url` (see `checkPostgresTable`).
 * @example
 * ```ts
 * await checkTableSink('postgres://port@db/results', 'matched', { replace: false });
 * ```
 */
export async function checkTableSink(url: string, table: string, options: TableSinkOptions = {}): Promise<void> {
  if (databaseKindOf(url) === 'postgres') return checkPostgresTable(url, table, options);
  if (databaseKindOf(url) === 'mysql') return checkMysqlTable(url, table, options);
  throw new InputError('--output: not a postgres:// or mysql:// URL');
}

/**
 * Opens a new table at `url` (see `openPostgresTable` / `openMysqlTable`).
 * @example
 * ```ts
 * const sink = await openTableSink('postgres://port@db/results', 'matched', ['resident_id']);
 * ```
 */
export async function openTableSink(url: string, table: string, columns: readonly string[], options: TableSinkOptions = {}): Promise<TableSink> {
  const seen = new Set<string>();
  for (const c of columns) {
    if (c === '') throw new InputError(`--output-table ${table}: a column of the input has an empty name`);
    if (seen.has(c.toLowerCase())) throw new InputError(`--output-table ${table}: the input has column '${c}' more than once`);
    seen.add(c.toLowerCase());
  }
  if (databaseKindOf(url) === 'postgres') return openPostgresTable(url, table, columns, options);
  if (databaseKindOf(url) === 'mysql') return openMysqlTable(url, table, columns, options);
  throw new InputError('--output: not a postgres:// or mysql:// URL');
}
