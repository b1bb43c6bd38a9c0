/**
 * PostgreSQL as a record source (`fromPostgres`) and as the sink of `--output-table`, through the
 * `pg` and `pg-cursor` drivers (loaded only when used).
 *
 * Reading: one connection; `BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY`; the query through a
 * server-side cursor fetched `batchRows` rows at a time (bounded memory, and the next fetch waits
 * for the consumer: backpressure). Every value comes as PostgreSQL's own text output (the type
 * parsers are switched off), so a row reads exactly as `COPY … TO … CSV` / `psql --csv` prints it:
 * a table and its CSV export give the same keys and values. NULL is an empty cell.
 *
 * Credentials: the URL (refused with a password) plus libpq's environment as `pg` reads it
 * (`PGPASSWORD`, `PGPASSFILE` / `~/.pgpass`, `PGSSLMODE`, `PGUSER`, …); TLS as the URL's
 * `sslmode` / `sslrootcert` / … ask.
 * @module
 */
import { createHash } from 'node:crypto';
import type { Client, ClientConfig } from 'pg';
import type CursorType from 'pg-cursor';
import { InputError } from '../errors.js';
import { snapshotRows } from './cells.js';
import { databaseError, importDriver, parseDatabaseUrl, type DatabaseUrl } from './db-url.js';
import { checkSelectQuery } from './sql-guard.js';
import type { TableSink, TableSinkOptions } from './table-sink.js';
import { checkTableName, MAX_INSERT_PARAMS } from './table-sink.js';
import type { RecordSource, SourceSnapshot, TableScan } from './types.js';

/** Options of {@link fromPostgres}. */
export interface PostgresSourceOptions {
  /** Rows fetched from the cursor at a time (default 4096). */
  batchRows?: number;
  /** Limit for connecting, in ms (default 30 000). */
  connectTimeoutMs?: number;
}

type PgModule = typeof import('pg');
let drivers: Promise<{ pg: PgModule; Cursor: typeof CursorType }> | undefined;
function loadDrivers(): Promise<{ pg: PgModule; Cursor: typeof CursorType }> {
  drivers ??= (async () => {
    const pg = await importDriver('pg', () => import('pg'), 'a postgres:// source');
    const cursor = await importDriver('pg-cursor', () => import('pg-cursor'), 'a postgres:// source');
    return { pg: ((pg as unknown as { default?: PgModule }).default ?? pg) as PgModule, Cursor: ((cursor as unknown as { default?: typeof CursorType }).default ?? cursor) as typeof CursorType };
  })();
  drivers.catch(() => (drivers = undefined));
  return drivers;
}

/** Every value as the server's text: no type parser (dates stay as printed, numerics exact). */
const TEXT_TYPES = { getTypeParser: () => (value: string) => value } as unknown as NonNullable<ClientConfig['types']>;

/**
 * The `pg` client configuration for a URL: the connection string as libpq would read it (with
 * `sslmode` and friends), text values, and a connect timeout. Exposed for tests of the TLS option.
 * @example
 * ```ts
 * postgresClientConfig(parseDatabaseUrl('postgres://u@h/db?sslmode=require', '--input')).connectionString;
 * ```
 */
export function postgresClientConfig(db: DatabaseUrl, connectTimeoutMs = 30_000): ClientConfig {
  return { connectionString: db.url.href, types: TEXT_TYPES, connectionTimeoutMillis: connectTimeoutMs, application_name: 'dataport' };
}

/** A connected client whose asynchronous errors (a dropped connection) are kept, not thrown. */
async function connect(db: DatabaseUrl, connectTimeoutMs?: number): Promise<{ client: Client; lost: () => unknown }> {
  const { pg } = await loadDrivers();
  const client = new pg.Client(postgresClientConfig(db, connectTimeoutMs));
  let lost: unknown;
  client.on('error', (err) => (lost ??= err));
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => {});
    throw databaseError(err, db, secretsOf(client));
  }
  return { client, lost: () => lost };
}

/** The password `pg` used (URL-less: from the environment or a pgpass file), to keep it out of messages. */
function secretsOf(client: Client): string[] {
  const p = (client as unknown as { password?: unknown }).password;
  return [typeof p === 'string' ? p : undefined, process.env.PGPASSWORD].filter((s): s is string => typeof s === 'string' && s !== '');
}

function readBatch(cursor: CursorType, n: number): Promise<{ rows: unknown[][]; fields: { name: string }[] }> {
  return new Promise((resolve, reject) => {
    cursor.read(n, (err: Error | undefined, rows: unknown[], result: { fields: { name: string }[] }) =>
      err ? reject(err) : resolve({ rows: rows as unknown[][], fields: result?.fields ?? [] }),
    );
  });
}

/**
 * Rows of a PostgreSQL query as a record source (see the module comment). The query must be one
 * SELECT (or WITH … SELECT); it runs in a read-only REPEATABLE READ transaction, so both reads of
 * a snapshot see the same rows.
 * @example
 * ```ts
 * import { fromPostgres, readRecords } from 'dataport/node';
 * // PGPASSWORD or ~/.pgpass holds the password.
 * const src = fromPostgres('postgres://hospital@db.internal/his?sslmode=verify-full', 'SELECT resident_id, cost FROM admissions');
 * const { keys, values } = await readRecords(src, { key: ['resident_id'], values: ['cost'] });
 * ```
 */
export function fromPostgres(url: string, query: string, options: PostgresSourceOptions = {}): RecordSource {
  const db = parseDatabaseUrl(url, 'postgres source');
  if (db.kind !== 'postgres') throw new InputError('fromPostgres: the URL must start with postgres:// or postgresql://');
  const sql = checkSelectQuery(query, 'postgres');
  const batchRows = options.batchRows ?? 4096;
  if (!Number.isInteger(batchRows) || batchRows < 1 || batchRows > 1 << 20) throw new RangeError('batchRows must be an integer from 1 to 2^20');
  const snapshot = async (): Promise<SourceSnapshot> => {
    const { Cursor } = await loadDrivers();
    const { client, lost } = await connect(db, options.connectTimeoutMs);
    const secrets = secretsOf(client);
    const fail = (err: unknown, context = '') => databaseError(lost() ?? err, db, secrets, context);
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY');
    } catch (err) {
      await client.end().catch(() => {});
      throw fail(err);
    }
    let closed = false;
    // A scan whose rows were not read to the end keeps the connection busy: close() then drops
    // the connection (the server rolls the read-only transaction back) instead of queueing a
    // ROLLBACK behind it.
    let busy = false;
    return {
      async scan(): Promise<TableScan> {
        busy = true;
        const cursor = client.query(new Cursor(sql, [], { rowMode: 'array', types: TEXT_TYPES } as ConstructorParameters<typeof Cursor>[2]));
        let first: { rows: unknown[][]; fields: { name: string }[] };
        try {
          first = await readBatch(cursor, batchRows);
        } catch (err) {
          throw fail(err);
        }
        const header = first.fields.map((f) => f.name);
        async function* rows(): AsyncGenerator<readonly (string | null)[]> {
          let batch = first.rows;
          let done = false;
          try {
            while (batch.length > 0) {
              for (const r of batch) yield r as (string | null)[];
              if (batch.length < batchRows) break;
              try {
                batch = (await readBatch(cursor, batchRows)).rows;
              } catch (err) {
                throw fail(err, 'while reading the query result: ');
              }
            }
            done = true;
          } finally {
            if (done && lost() === undefined) {
              await new Promise<void>((r) => cursor.close(() => r()));
              busy = false;
            }
          }
        }
        return { header, rows: rows() };
      },
      async close() {
        if (closed) return;
        closed = true;
        // Read-only: nothing to commit; ROLLBACK ends the snapshot.
        if (!busy && lost() === undefined) await client.query('ROLLBACK').catch(() => {});
        else (client as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
        await client.end().catch(() => {});
      },
    };
  };
  return {
    info: { kind: 'postgres', label: db.label, queryHash: createHash('sha256').update(sql, 'utf8').digest('hex') },
    snapshot,
    [Symbol.asyncIterator]: () => snapshotRows(snapshot),
  };
}

const quoteIdent = (name: string) => `"${name.replace(/"/g, '""')}"`;
const quoteTable = (name: string) => name.split('.').map(quoteIdent).join('.');

/**
 * Checks, before a run, that the table can be created: the server is reachable with these
 * credentials, and the table does not exist (unless `replace`). `InputError` otherwise.
 * @example
 * ```ts
 * await checkPostgresTable('postgres://port@db/results', 'matched', { replace: false });
 * ```
 */
export async function checkPostgresTable(url: string, table: string, options: { replace?: boolean } = {}): Promise<void> {
  const db = parseDatabaseUrl(url, '--output');
  checkTableName(table);
  const { client } = await connect(db);
  try {
    const r = await client.query('SELECT to_regclass($1) IS NOT NULL AS present', [quoteTable(table)]);
    if ((r.rows[0] as { present: unknown }).present === 't' && !options.replace) {
      throw new InputError(`${db.label}: table ${table} already exists; refusing to replace it (use --replace)`);
    }
  } catch (err) {
    throw databaseError(err, db, secretsOf(client));
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * Opens a new table `table` (every column `text`, in `columns`' order) in one transaction: rows
 * written go into it, `commit` makes it visible, `abort` (or a failure, or a lost connection)
 * leaves nothing. An existing table is refused unless `replace` (then dropped in the same
 * transaction).
 * @example
 * ```ts
 * const sink = await openPostgresTable('postgres://port@db/results', 'matched', ['resident_id', 'cost']);
 * await sink.write([['110101199003074518', '1200.50']]);
 * await sink.commit();
 * ```
 */
export async function openPostgresTable(url: string, table: string, columns: readonly string[], options: TableSinkOptions = {}): Promise<TableSink> {
  const db = parseDatabaseUrl(url, '--output');
  checkTableName(table);
  const { client, lost } = await connect(db);
  const secrets = secretsOf(client);
  const fail = (err: unknown) => databaseError(lost() ?? err, db, secrets, `table ${table}: `);
  const perInsert = Math.max(1, Math.floor(MAX_INSERT_PARAMS / Math.max(1, columns.length)));
  let rows = 0;
  let finished = false;
  const end = async (sql: string) => {
    finished = true;
    try {
      await client.query(sql);
    } finally {
      await client.end().catch(() => {});
    }
  };
  try {
    await client.query('BEGIN');
    if (options.replace) await client.query(`DROP TABLE IF EXISTS ${quoteTable(table)}`);
    await client.query(`CREATE TABLE ${quoteTable(table)} (${columns.map((c) => `${quoteIdent(c)} text`).join(', ')})`);
  } catch (err) {
    await end('ROLLBACK').catch(() => {});
    const e = err as { code?: string };
    if (e?.code === '42P07') throw new InputError(`${db.label}: table ${table} already exists; refusing to replace it (use --replace)`);
    throw fail(err);
  }
  const insert = async (batch: readonly (readonly (string | null)[])[]) => {
    const params: (string | null)[] = [];
    const tuples = batch.map((r) => {
      if (r.length !== columns.length) throw new RangeError(`row of ${r.length} cells for ${columns.length} columns`);
      return `(${r.map((v) => (params.push(v), `$${params.length}`)).join(', ')})`;
    });
    await client.query(`INSERT INTO ${quoteTable(table)} VALUES ${tuples.join(', ')}`, params);
  };
  return {
    async write(batch) {
      try {
        for (let i = 0; i < batch.length; i += perInsert) await insert(batch.slice(i, i + perInsert));
        rows += batch.length;
      } catch (err) {
        throw fail(err);
      }
    },
    async commit() {
      try {
        await end('COMMIT');
      } catch (err) {
        throw fail(err);
      }
      return rows;
    },
    async abort() {
      if (!finished) await end('ROLLBACK').catch(() => {});
    },
  };
}
