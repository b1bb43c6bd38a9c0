/**
 * MySQL / MariaDB as a record source (`fromMysql`) and as the sink of `--output-table`, through
 * the `mysql2` driver (loaded only when used).
 *
 * Reading: one connection; `START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY` at REPEATABLE
 * READ; the query's rows streamed (`query().stream()`: the driver pauses the socket while the
 * consumer is behind, so memory stays bounded). Every value is the server's text (`field.string()`),
 * as `mysql --batch` prints it; NULL is an empty cell.
 *
 * Credentials: the URL (refused with a password), the password from `MYSQL_PWD` or the `[client]`
 * section of `~/.my.cnf` (the MySQL option file; also its `user`). TLS when the URL asks:
 * `?ssl-mode=REQUIRED` (encrypted), `VERIFY_CA` / `VERIFY_IDENTITY` (certificate checked, with
 * `&ssl-ca=FILE` for a private CA).
 *
 * The sink: MySQL commits DDL implicitly, so the table is built under a temporary name
 * (`NAME__dataport_<random>`) and renamed into place with one atomic `RENAME TABLE`; on failure
 * the temporary table is dropped.
 * @module
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Connection, ConnectionOptions, FieldPacket } from 'mysql2';
import { InputError } from '../errors.js';
import { snapshotRows } from './cells.js';
import { databaseError, importDriver, parseDatabaseUrl, type DatabaseUrl } from './db-url.js';
import { checkSelectQuery } from './sql-guard.js';
import { checkTableName, MAX_INSERT_PARAMS, type TableSink, type TableSinkOptions } from './table-sink.js';
import type { RecordSource, SourceSnapshot, TableScan } from './types.js';

/** Options of {@link fromMysql}. */
export interface MysqlSourceOptions {
  /** Rows buffered ahead of the consumer (default 4096). */
  batchRows?: number;
  /** Limit for connecting, in ms (default 30 000). */
  connectTimeoutMs?: number;
}

type Mysql2 = typeof import('mysql2');
let driver: Promise<Mysql2> | undefined;
function loadDriver(): Promise<Mysql2> {
  driver ??= importDriver('mysql2', () => import('mysql2'), 'a mysql:// source').then((m) => ((m as unknown as { default?: Mysql2 }).default ?? m) as Mysql2);
  driver.catch(() => (driver = undefined));
  return driver;
}

/** `[client]` (and `[mysql]`) entries of `~/.my.cnf`, the MySQL option file; empty if absent. */
function optionFile(): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(join(homedir(), '.my.cnf'), 'utf8');
  } catch {
    return {};
  }
  const out: Record<string, string> = {};
  let section = '';
  for (const line of text.split(/\r?\n/)) {
    const t = line.trim();
    if (t === '' || t.startsWith('#') || t.startsWith(';')) continue;
    const s = /^\[(.+)\]$/.exec(t);
    if (s) {
      section = s[1]!.trim().toLowerCase();
      continue;
    }
    if (section !== 'client' && section !== 'mysql') continue;
    const eq = t.indexOf('=');
    if (eq <= 0) continue;
    let v = t.slice(eq + 1).trim();
    if (/^(['"]).*\1$/.test(v)) v = v.slice(1, -1);
    out[t.slice(0, eq).trim().toLowerCase().replace(/_/g, '-')] = v;
  }
  return out;
}

/**
 * The `mysql2` connection options for a URL: host, port, database, user (URL, else the option
 * file), password (`MYSQL_PWD`, else the option file), TLS from `ssl-mode` / `ssl-ca`, text values.
 * @example
 * ```ts
 * mysqlConnectionOptions(parseDatabaseUrl('mysql://u@h/db?ssl-mode=REQUIRED', '--input')).ssl; // { rejectUnauthorized: false }
 * ```
 */
export function mysqlConnectionOptions(db: DatabaseUrl, connectTimeoutMs = 30_000): ConnectionOptions {
  const file = optionFile();
  const params = db.url.searchParams;
  const mode = (params.get('ssl-mode') ?? params.get('sslmode') ?? file['ssl-mode'] ?? '').toUpperCase().replace(/-/g, '_');
  const caFile = params.get('ssl-ca') ?? file['ssl-ca'];
  const options: ConnectionOptions = {
    host: db.url.hostname.replace(/^\[|\]$/g, ''),
    port: db.url.port === '' ? 3306 : Number(db.url.port),
    user: db.url.username !== '' ? decodeURIComponent(db.url.username) : (file['user'] ?? process.env.USER ?? ''),
    database: decodeURIComponent(db.url.pathname.replace(/^\//, '')) || undefined,
    connectTimeout: connectTimeoutMs,
    charset: 'utf8mb4',
    supportBigNumbers: true,
    bigNumberStrings: true,
    dateStrings: true,
    multipleStatements: false,
  };
  const password = process.env.MYSQL_PWD ?? file['password'];
  if (password !== undefined) options.password = password;
  if (mode === 'REQUIRED' || mode === 'REQUIRE' || mode === 'PREFERRED') options.ssl = { rejectUnauthorized: false };
  else if (mode === 'VERIFY_CA' || mode === 'VERIFY_IDENTITY' || mode === 'VERIFY_FULL') {
    let ca: string | undefined;
    if (caFile !== undefined) {
      try {
        ca = readFileSync(caFile, 'utf8');
      } catch {
        throw new InputError(`${db.label}: cannot read ssl-ca file ${caFile}`);
      }
    }
    options.ssl = { rejectUnauthorized: true, ...(ca !== undefined ? { ca } : {}), ...(mode === 'VERIFY_CA' ? { checkServerIdentity: () => undefined } : {}) };
  } else if (mode !== '' && mode !== 'DISABLED' && mode !== 'DISABLE') {
    throw new InputError(`${db.label}: unknown ssl-mode '${mode}' (DISABLED, REQUIRED, VERIFY_CA or VERIFY_IDENTITY)`);
  }
  return options;
}

async function connect(db: DatabaseUrl, connectTimeoutMs?: number): Promise<{ conn: Connection; secrets: string[]; lost: () => unknown; lostPromise: Promise<never> }> {
  const mysql = await loadDriver();
  const options = mysqlConnectionOptions(db, connectTimeoutMs);
  const secrets = [options.password].filter((s): s is string => typeof s === 'string' && s !== '');
  let lost: unknown;
  let onLost: ((err: unknown) => void) | undefined;
  // A connection killed while its result streams is not always reported to the stream: this
  // promise rejects when the connection fails or ends, and reads race against it.
  const lostPromise = new Promise<never>((_, reject) => (onLost = reject));
  lostPromise.catch(() => {});
  const conn = await new Promise<Connection>((resolve, reject) => {
    const c = mysql.createConnection(options);
    c.on('error', (err) => {
      lost ??= err;
      onLost?.(err);
    });
    c.on('end', () => onLost?.(Object.assign(new Error('connection to the server lost'), { code: 'PROTOCOL_CONNECTION_LOST' })));
    c.connect((err) => (err ? (c.destroy(), reject(databaseError(err, db, secrets))) : resolve(c)));
  });
  return { conn, secrets, lost: () => lost, lostPromise };
}

function run(conn: Connection, sql: string, params: unknown[] = []): Promise<unknown> {
  return new Promise((resolve, reject) => conn.query(sql, params, (err, rows) => (err ? reject(err) : resolve(rows))));
}

const textCast = (field: { string(): string | null }) => field.string();

/**
 * Rows of a MySQL / MariaDB query as a record source (see the module comment). The query must be
 * one SELECT (or WITH … SELECT); it runs in a read-only consistent-snapshot transaction, so both
 * reads of a snapshot see the same rows.
 * @example
 * ```ts
 * import { fromMysql, readRecords } from 'dataport/node';
 * // MYSQL_PWD or ~/.my.cnf holds the password.
 * const src = fromMysql('mysql://pharma@db.internal/crm', 'SELECT resident_id FROM programme');
 * const { keys } = await readRecords(src, { key: ['resident_id'] });
 * ```
 */
export function fromMysql(url: string, query: string, options: MysqlSourceOptions = {}): RecordSource {
  const db = parseDatabaseUrl(url, 'mysql source');
  if (db.kind !== 'mysql') throw new InputError('fromMysql: the URL must start with mysql://');
  const sql = checkSelectQuery(query, 'mysql');
  const batchRows = options.batchRows ?? 4096;
  if (!Number.isInteger(batchRows) || batchRows < 1 || batchRows > 1 << 20) throw new RangeError('batchRows must be an integer from 1 to 2^20');
  const snapshot = async (): Promise<SourceSnapshot> => {
    const { conn, secrets, lost, lostPromise } = await connect(db, options.connectTimeoutMs);
    const fail = (err: unknown, context = '') => databaseError(lost() ?? err, db, secrets, context);
    try {
      await run(conn, 'SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ');
      await run(conn, 'START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY');
    } catch (err) {
      conn.destroy();
      throw fail(err);
    }
    let closed = false;
    // A scan not read to the end keeps the connection busy: close() then destroys the connection
    // (the server rolls the read-only transaction back) instead of queueing a ROLLBACK behind it.
    let busy = false;
    return {
      async scan(): Promise<TableScan> {
        busy = true;
        let fields: FieldPacket[] | undefined;
        const q = conn.query({ sql, rowsAsArray: true, typeCast: textCast as never });
        q.on('fields', (f: FieldPacket[]) => (fields ??= f));
        const stream = q.stream({ highWaterMark: batchRows });
        const it = stream[Symbol.asyncIterator]() as AsyncIterator<(string | null)[]>;
        let first: IteratorResult<(string | null)[]>;
        try {
          first = await Promise.race([it.next(), lostPromise]);
        } catch (err) {
          throw fail(err);
        }
        const header = (fields ?? []).map((f) => f.name);
        async function* rows(): AsyncGenerator<readonly (string | null)[]> {
          let r = first;
          try {
            while (!r.done) {
              yield r.value;
              try {
                r = await Promise.race([it.next(), lostPromise]);
              } catch (err) {
                throw fail(err, 'while reading the query result: ');
              }
            }
          } finally {
            if (!r.done) stream.destroy();
            else busy = false;
          }
        }
        return { header, rows: rows() };
      },
      async close() {
        if (closed) return;
        closed = true;
        if (!busy && lost() === undefined) {
          await run(conn, 'ROLLBACK').catch(() => {});
          await new Promise<void>((r) => conn.end(() => r()));
        }
        conn.destroy();
      },
    };
  };
  return {
    info: { kind: 'mysql', label: db.label, queryHash: createHash('sha256').update(sql, 'utf8').digest('hex') },
    snapshot,
    [Symbol.asyncIterator]: () => snapshotRows(snapshot),
  };
}

const quoteIdent = (name: string) => `\`${name.replace(/`/g, '``')}\``;
const quoteTable = (name: string) => name.split('.').map(quoteIdent).join('.');

async function tableExists(conn: Connection, table: string): Promise<boolean> {
  const parts = table.split('.');
  const rows = (await run(
    conn,
    parts.length === 2
      ? 'SELECT 1 FROM information_schema.tables WHERE table_schema = ? AND table_name = ?'
      : 'SELECT 1 FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?',
    parts,
  )) as unknown[];
  return rows.length > 0;
}

/**
 * Checks, before a run, that the table can be created (server reachable, credentials right, the
 * table absent unless `replace`); `InputError` otherwise.
 * @example
 * ```ts
 * await checkMysqlTable('mysql://port@db/results', 'matched', { replace: false });
 * ```
 */
export async function checkMysqlTable(url: string, table: string, options: { replace?: boolean } = {}): Promise<void> {
  const db = parseDatabaseUrl(url, '--output');
  checkTableName(table);
  const { conn, secrets } = await connect(db);
  try {
    if ((await tableExists(conn, table)) && !options.replace) {
      throw new InputError(`${db.label}: table ${table} already exists; refusing to replace it (use --replace)`);
    }
  } catch (err) {
    throw databaseError(err, db, secrets);
  } finally {
    conn.destroy();
  }
}

/**
 * Opens a new table `table` (every column `TEXT`, utf8mb4): rows go into a temporary table in one
 * transaction; `commit` renames it into place atomically (an existing table is refused unless
 * `replace`, then swapped out and dropped); `abort` or a failure drops the temporary table.
 * @example
 * ```ts
 * const sink = await openMysqlTable('mysql://port@db/results', 'matched', ['resident_id']);
 * await sink.write([['110101199003074518']]);
 * await sink.commit();
 * ```
 */
export async function openMysqlTable(url: string, table: string, columns: readonly string[], options: TableSinkOptions = {}): Promise<TableSink> {
  const db = parseDatabaseUrl(url, '--output');
  checkTableName(table);
  const { conn, secrets, lost } = await connect(db);
  const fail = (err: unknown) => databaseError(lost() ?? err, db, secrets, `table ${table}: `);
  const suffix = `__dataport_${randomBytes(4).toString('hex')}`;
  const parts = table.split('.');
  const temp = [...parts.slice(0, -1), `${parts.at(-1)!.slice(0, 63 - suffix.length)}${suffix}`].join('.');
  const perInsert = Math.max(1, Math.floor(MAX_INSERT_PARAMS / Math.max(1, columns.length)));
  let rows = 0;
  let finished = false;
  const dropTemp = async () => {
    finished = true;
    await run(conn, 'ROLLBACK').catch(() => {});
    await run(conn, `DROP TABLE IF EXISTS ${quoteTable(temp)}`).catch(() => {});
    conn.destroy();
  };
  try {
    if ((await tableExists(conn, table)) && !options.replace) {
      throw new InputError(`${db.label}: table ${table} already exists; refusing to replace it (use --replace)`);
    }
    await run(conn, `CREATE TABLE ${quoteTable(temp)} (${columns.map((c) => `${quoteIdent(c)} TEXT`).join(', ')}) DEFAULT CHARSET=utf8mb4`);
    await run(conn, 'START TRANSACTION');
  } catch (err) {
    await dropTemp();
    throw fail(err);
  }
  return {
    async write(batch) {
      try {
        for (let i = 0; i < batch.length; i += perInsert) {
          const part = batch.slice(i, i + perInsert);
          const params: (string | null)[] = [];
          for (const r of part) {
            if (r.length !== columns.length) throw new RangeError(`row of ${r.length} cells for ${columns.length} columns`);
            params.push(...r);
          }
          const tuple = `(${columns.map(() => '?').join(', ')})`;
          await run(conn, `INSERT INTO ${quoteTable(temp)} VALUES ${part.map(() => tuple).join(', ')}`, params);
        }
        rows += batch.length;
      } catch (err) {
        throw fail(err);
      }
    },
    async commit() {
      try {
        await run(conn, 'COMMIT');
        if (options.replace && (await tableExists(conn, table))) {
          const old = `${temp}_old`;
          await run(conn, `RENAME TABLE ${quoteTable(table)} TO ${quoteTable(old)}, ${quoteTable(temp)} TO ${quoteTable(table)}`);
          await run(conn, `DROP TABLE ${quoteTable(old)}`);
        } else {
          await run(conn, `RENAME TABLE ${quoteTable(temp)} TO ${quoteTable(table)}`);
        }
      } catch (err) {
        await dropTemp();
        if ((err as { code?: string })?.code === 'ER_TABLE_EXISTS_ERROR') {
          throw new InputError(`${db.label}: table ${table} already exists; refusing to replace it (use --replace)`);
        }
        throw fail(err);
      }
      finished = true;
      conn.destroy();
      return rows;
    },
    async abort() {
      if (!finished) await dropTemp();
    },
  };
}
