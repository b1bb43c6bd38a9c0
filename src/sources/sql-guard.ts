/**
 * The parser-light check that a query is one read-only SELECT (docs/databases.md, SECURITY.md §5).
 *
 * It is the first of three guards, and the weakest: it gives a clear message before anything is
 * sent. The real guards are the read-only transaction every query runs in (the server refuses any
 * write, including a data-modifying CTE, `SELECT … INTO` a table, `nextval()`), and single-statement
 * execution (PostgreSQL's extended protocol; mysql2 without `multipleStatements`). The database
 * role's own privileges remain the user's last line (give dataport a role that can only SELECT).
 * @module
 */
import { InputError } from '../errors.js';

/** Longest query accepted, in characters. */
export const MAX_QUERY_CHARS = 1 << 20;

/** SQL dialect of the tokenizer: where backslashes escape, which quotes delimit identifiers. */
export type SqlDialect = 'postgres' | 'mysql';

/**
 * The query's words outside comments, string literals and quoted identifiers (upper-cased), and
 * the positions of `;` outside them. Throws `InputError` for an unterminated literal or comment.
 */
function tokens(sql: string, dialect: SqlDialect): { words: string[]; semicolons: number[] } {
  const words: string[] = [];
  const semicolons: number[] = [];
  let i = 0;
  const n = sql.length;
  const unterminated = (what: string) => new InputError(`--query: unterminated ${what}`);
  while (i < n) {
    const c = sql[i]!;
    if (c === '-' && sql[i + 1] === '-') {
      const e = sql.indexOf('\n', i);
      i = e === -1 ? n : e + 1;
    } else if (c === '#' && dialect === 'mysql') {
      const e = sql.indexOf('\n', i);
      i = e === -1 ? n : e + 1;
    } else if (c === '/' && sql[i + 1] === '*') {
      // PostgreSQL nests block comments; MySQL does not (and runs /*! … */ as code: refused).
      if (dialect === 'mysql' && sql[i + 2] === '!') throw new InputError('--query: MySQL executable comments (/*! … */) are not accepted');
      let depth = 1;
      i += 2;
      while (depth > 0) {
        if (i >= n) throw unterminated('comment');
        if (sql[i] === '*' && sql[i + 1] === '/') {
          depth--;
          i += 2;
        } else if (dialect === 'postgres' && sql[i] === '/' && sql[i + 1] === '*') {
          depth++;
          i += 2;
        } else i++;
      }
    } else if (c === "'" || c === '"' || (c === '`' && dialect === 'mysql')) {
      const prev = sql[i - 1];
      const backslash = c !== '`' && (dialect === 'mysql' || (c === "'" && (prev === 'E' || prev === 'e')));
      i++;
      for (;;) {
        if (i >= n) throw unterminated(c === "'" ? 'string literal' : 'quoted identifier');
        if (backslash && sql[i] === '\\') i += 2;
        else if (sql[i] === c && sql[i + 1] === c) i += 2;
        else if (sql[i] === c) {
          i++;
          break;
        } else i++;
      }
      words.push(c === "'" ? "'" : '"');
    } else if (c === '$' && dialect === 'postgres' && /^\$[A-Za-z_]?[A-Za-z0-9_]*\$/.test(sql.slice(i, i + 64))) {
      const tag = /^\$[A-Za-z_]?[A-Za-z0-9_]*\$/.exec(sql.slice(i, i + 64))![0];
      const e = sql.indexOf(tag, i + tag.length);
      if (e === -1) throw unterminated('dollar-quoted string');
      i = e + tag.length;
      words.push("'");
    } else if (c === ';') {
      semicolons.push(i);
      i++;
    } else if (/[A-Za-z_]/.test(c)) {
      let e = i + 1;
      while (e < n && /[A-Za-z0-9_$]/.test(sql[e]!)) e++;
      words.push(sql.slice(i, e).toUpperCase());
      i = e;
    } else if (c === '(') {
      words.push('(');
      i++;
    } else i++;
  }
  return { words, semicolons };
}

/**
 * Checks that `sql` is a single `SELECT` (or `WITH … SELECT`) statement that neither writes into
 * a table or file (`INTO`) nor locks rows (`FOR UPDATE` / `FOR SHARE`); returns it without a
 * trailing `;`. Throws `InputError` naming the problem otherwise.
 * @example
 * ```ts
 * checkSelectQuery('SELECT resident_id, cost FROM admissions;', 'postgres'); // 'SELECT resident_id, cost FROM admissions'
 * ```
 */
export function checkSelectQuery(sql: string, dialect: SqlDialect): string {
  if (typeof sql !== 'string') throw new TypeError('query must be a string');
  if (sql.length > MAX_QUERY_CHARS) throw new InputError(`--query is longer than ${MAX_QUERY_CHARS} characters`);
  if (sql.includes('\u0000')) throw new InputError('--query must not contain NUL characters');
  const { words, semicolons } = tokens(sql, dialect);
  let text = sql;
  // One trailing `;` (then only blanks and comments) is the end of the statement, not a second one.
  const last = semicolons.at(-1);
  if (last !== undefined && tokens(sql.slice(last + 1), dialect).words.length === 0) {
    semicolons.pop();
    text = sql.slice(0, last);
  }
  if (semicolons.length > 0) throw new InputError('--query must be a single statement (a SELECT); it contains several');
  const first = words.find((w) => w !== '(');
  if (first === undefined) throw new InputError('--query is empty');
  if (first !== 'SELECT' && first !== 'WITH') {
    throw new InputError(`--query must be a SELECT (or WITH … SELECT) statement, not ${first}; only read-only queries are run`);
  }
  for (let k = 0; k < words.length; k++) {
    const w = words[k]!;
    if (w === 'INTO') throw new InputError('--query must not write its result anywhere (SELECT … INTO); only read-only queries are run');
    if (w === 'FOR' && ['UPDATE', 'SHARE', 'NO'].includes(words[k + 1] ?? '')) {
      throw new InputError('--query must not lock rows (FOR UPDATE / FOR SHARE); only read-only queries are run');
    }
    if (w === 'LOCK' && words[k + 1] === 'IN') throw new InputError('--query must not lock rows (LOCK IN SHARE MODE); only read-only queries are run');
    if (dialect === 'postgres' && ['INSERT', 'UPDATE', 'DELETE', 'MERGE'].includes(w) && words[k - 1] === '(') {
      throw new InputError(`--query must not modify data (a ${w} in a WITH clause); only read-only queries are run`);
    }
  }
  return text.trim();
}
