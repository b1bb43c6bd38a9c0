/**
 * Database URLs of `--input` / `--output` (`postgres://`, `postgresql://`, `mysql://`) and the one
 * place where a database error becomes a message: no password, no connection string, one line.
 * @module
 */
import { InputError } from '../errors.js';

/** Database kinds a URL may name. */
export type DatabaseKind = 'postgres' | 'mysql';

/** A parsed database URL (never holding a password: such a URL is refused). */
export interface DatabaseUrl {
  kind: DatabaseKind;
  url: URL;
  /** `postgres://user@host:port/db`: what messages show (no parameters). */
  label: string;
}

/**
 * The kind of database `text` names, or `undefined` if it is not a database URL (then it is a file).
 * @example
 * ```ts
 * databaseKindOf('postgres://hospital@db/his'); // 'postgres'
 * databaseKindOf('admissions.csv'); // undefined
 * ```
 */
export function databaseKindOf(text: string): DatabaseKind | undefined {
  const m = /^([a-z][a-z0-9+.-]*):\/\//i.exec(text);
  if (!m) return undefined;
  const scheme = m[1]!.toLowerCase();
  if (scheme === 'postgres' || scheme === 'postgresql') return 'postgres';
  if (scheme === 'mysql' || scheme === 'mariadb') return 'mysql';
  return undefined;
}

/**
 * Parses a database URL; `InputError` if it is malformed or carries a password (passwords come
 * from the environment: `PGPASSWORD` / `PGPASSFILE` / `~/.pgpass`, `MYSQL_PWD` / `~/.my.cnf`).
 * The message never repeats the URL's userinfo.
 * @example
 * ```ts
 * const db = parseDatabaseUrl('postgres://hospital@127.0.0.1:5432/his?sslmode=require', '--input');
 * ```
 */
export function parseDatabaseUrl(text: string, option: string): DatabaseUrl {
  const kind = databaseKindOf(text);
  if (kind === undefined) throw new InputError(`${option}: not a postgres:// or mysql:// URL`);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new InputError(`${option}: malformed ${kind} URL (expected ${kind}://USER@HOST[:PORT]/DATABASE)`);
  }
  if (url.password !== '') {
    throw new InputError(
      `${option}: the URL must not contain a password (it would show in the process list and shell history); ` +
        (kind === 'postgres' ? 'set PGPASSWORD or use PGPASSFILE / ~/.pgpass' : 'set MYSQL_PWD or use ~/.my.cnf ([client] password=…)'),
    );
  }
  if (url.hostname === '' && kind === 'mysql') throw new InputError(`${option}: the mysql:// URL needs a host`);
  const user = url.username !== '' ? `${url.username}@` : '';
  const label = `${kind}://${user}${url.host}${url.pathname === '/' ? '' : url.pathname}`;
  return { kind, url, label };
}

/** Node/driver network error codes, as the few words a person needs. */
const NETWORK_ERRORS: Record<string, string> = {
  ECONNREFUSED: 'connection refused: is the server running and listening there?',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed',
  ETIMEDOUT: 'connection timed out',
  ECONNRESET: 'connection to the server lost (reset)',
  EHOSTUNREACH: 'host unreachable',
  EPIPE: 'connection closed by the server',
};

/** PostgreSQL SQLSTATE classes / codes → the fix. */
function postgresText(code: string, message: string, user: string): string | undefined {
  if (code === '28P01' || code === '28000') return `authentication failed for user '${user}' (check PGPASSWORD, PGPASSFILE / ~/.pgpass, or the server's pg_hba.conf)`;
  if (code === '3D000') return `${message} (check the database name in the URL)`;
  if (code === '25006') return 'the query tried to modify data; only read-only SELECT queries are run';
  if (code === '42501') return `${message} (grant the user SELECT on it)`;
  if (code === '57014') return 'the query was cancelled';
  if (code === '57P01' || code === '57P02') return 'connection to the server lost (ended by the server: an administrator or a shutdown)';
  if (code === '57P03') return 'the server is not accepting connections (starting up or shutting down)';
  if (code.startsWith('42') || code.startsWith('22') || code.startsWith('0A')) return `query error: ${message}`;
  return undefined;
}

/** MySQL error codes → the fix. */
function mysqlText(code: string, message: string, user: string): string | undefined {
  if (code === 'ER_ACCESS_DENIED_ERROR' || code === 'ER_DBACCESS_DENIED_ERROR' || code === 'ER_NOT_SUPPORTED_AUTH_MODE') {
    return `access denied for user '${user}' (check MYSQL_PWD or ~/.my.cnf, and the user's grants)`;
  }
  if (code === 'ER_BAD_DB_ERROR') return `${message} (check the database name in the URL)`;
  if (code === 'ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION') return 'the query tried to modify data; only read-only SELECT queries are run';
  if (code === 'PROTOCOL_CONNECTION_LOST') return 'connection to the server lost';
  if (code.startsWith('ER_')) return `query error: ${message}`;
  return undefined;
}

/**
 * Turns any error of a database driver into an `InputError` whose one-line message names the
 * database (`label`, no password) and what to fix, and never contains `secrets` nor the userinfo
 * of any URL the driver may echo. The one place where driver errors are worded (and sanitised).
 * @example
 * ```ts
 * try { await client.connect(); } catch (e) { throw databaseError(e, db, [password]); }
 * ```
 */
export function databaseError(err: unknown, db: DatabaseUrl, secrets: readonly (string | undefined)[] = [], context = ''): InputError {
  if (err instanceof InputError) return err;
  const e = err as { code?: unknown; message?: unknown; sqlMessage?: unknown; errno?: unknown };
  const code = typeof e?.code === 'string' ? e.code : '';
  const raw = typeof e?.sqlMessage === 'string' ? e.sqlMessage : typeof e?.message === 'string' ? e.message : String(err);
  const message = raw.split('\n')[0]!;
  const user = decodeURIComponent(db.url.username) || '(default user)';
  let text: string | undefined = NETWORK_ERRORS[code];
  if (text === undefined) text = db.kind === 'postgres' ? postgresText(code, message, user) : mysqlText(code, message, user);
  if (text === undefined) {
    if (/Connection terminated|connection.*(lost|closed)|socket hang up/i.test(message)) text = 'connection to the server lost';
    else if (/timeout/i.test(message)) text = 'connection timed out';
    else if (/SSL|TLS|certificate/i.test(message)) text = `TLS: ${message}`;
    else if (/password/i.test(message)) text = `authentication failed for user '${user}' (${db.kind === 'postgres' ? 'set PGPASSWORD or use ~/.pgpass' : 'set MYSQL_PWD or use ~/.my.cnf'})`;
    else text = message;
  }
  return new InputError(`${db.label}: ${context}${redact(text, secrets)}`);
}

/**
 * Removes every secret and any URL userinfo (`//user:password@`) from `text`, and keeps it to one
 * line of at most 300 characters.
 * @example
 * ```ts
 * redact('postgres://u:s3cret@h/db failed', ['s3cret']); // 'postgres://u@h/db failed'
 * ```
 */
export function redact(text: string, secrets: readonly (string | undefined)[] = []): string {
  let out = text.replace(/\/\/([^/@\s:]*):[^@\s/]*@/g, '//$1@').replace(/\s*\n\s*/g, ' ');
  for (const s of secrets) if (s) out = out.split(s).join('***');
  return out.length > 300 ? `${out.slice(0, 297)}...` : out;
}

/**
 * Loads an optional driver, with an `InputError` naming the package to install when it is missing
 * (files-only users never load a database driver).
 */
export async function importDriver<T>(name: string, load: () => Promise<T>, what: string): Promise<T> {
  try {
    return await load();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException)?.code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
      throw new InputError(`${what} needs the '${name}' package, which is not installed (npm install ${name})`);
    }
    throw err;
  }
}
