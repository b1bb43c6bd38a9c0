/**
 * Record sources and table sinks (Node.js only: files and database drivers), exported by
 * `dataport/node`. The drivers (`pg`, `pg-cursor`, `mysql2`) are loaded only when a database is used.
 * @module
 */
export type { CellValue, RecordSource, SourceInfo, SourceRow, SourceSnapshot, TableScan } from './types.js';
export { cellText } from './cells.js';
export { fromCsv } from './csv.js';
export { fromRows, readRecords, type ReadRecordsOptions, type ReadRecordsResult } from './iterable.js';
export { fromPostgres, postgresClientConfig, checkPostgresTable, openPostgresTable, type PostgresSourceOptions } from './postgres.js';
export { fromMysql, mysqlConnectionOptions, checkMysqlTable, openMysqlTable, type MysqlSourceOptions } from './mysql.js';
export { fromDatabase, checkTableSink, openTableSink } from './database.js';
export { checkSelectQuery, type SqlDialect } from './sql-guard.js';
export { databaseKindOf, parseDatabaseUrl, redact, type DatabaseKind, type DatabaseUrl } from './db-url.js';
export { checkTableName, type TableSink, type TableSinkOptions } from './table-sink.js';
