/** The parser-light SELECT-only check of `--query` (src/sources/sql-guard.ts). */
import { describe, expect, it } from 'vitest';
import { InputError } from '../src/errors.js';
import { checkSelectQuery } from '../src/sources/sql-guard.js';

describe('checkSelectQuery', () => {
  it('accepts one SELECT or WITH … SELECT, with comments, literals and one trailing ;', () => {
    expect(checkSelectQuery('SELECT a FROM t;', 'postgres')).toBe('SELECT a FROM t');
    expect(checkSelectQuery('  -- the index\n with x as (select 1 as a) select a from x ; -- done\n', 'postgres')).toMatch(/^-- the index/);
    expect(checkSelectQuery("SELECT 'a;b', \"c;d\" FROM t /* ; */", 'postgres')).toContain("'a;b'");
    expect(checkSelectQuery('SELECT $q$ ; drop $q$ AS x', 'postgres')).toContain('$q$');
    expect(checkSelectQuery("SELECT 'it\\'s; fine', `x;y` FROM t # c;\n", 'mysql')).toContain('`x;y`');
    expect(checkSelectQuery('(SELECT 1)', 'postgres')).toBe('(SELECT 1)');
    expect(checkSelectQuery("SELECT 'x' AS into_col, 'for update' FROM t", 'postgres')).toContain('into_col');
  });

  it.each([
    ['DELETE FROM t', /must be a SELECT/],
    ['UPDATE t SET a = 1', /must be a SELECT/],
    ['COPY t TO PROGRAM \'x\'', /must be a SELECT/],
    ['SELECT 1; DROP TABLE t', /single statement/],
    ['SELECT 1;; ', /single statement/],
    ['', /empty/],
    ['-- nothing', /empty/],
    ['SELECT * INTO t2 FROM t', /SELECT … INTO/],
    ['SELECT * FROM t FOR UPDATE', /lock rows/],
    ['SELECT * FROM t FOR SHARE', /lock rows/],
    ['WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d', /modify data/],
    ["SELECT 'unterminated", /unterminated string/],
    ['SELECT /* open', /unterminated comment/],
    ['SELECT $a$ x', /unterminated dollar/],
  ])('refuses %j (postgres)', (sql, re) => {
    expect(() => checkSelectQuery(sql, 'postgres')).toThrow(InputError);
    expect(() => checkSelectQuery(sql, 'postgres')).toThrow(re);
  });

  it.each([
    ["SELECT * FROM t INTO OUTFILE '/tmp/x'", /SELECT … INTO/],
    ['SELECT * FROM t LOCK IN SHARE MODE', /lock rows/],
    ['SELECT 1 /*!50000 ; DROP TABLE t */', /executable comments/],
    ["SELECT 'a\\'; DELETE FROM t; -- '", /./],
  ])('refuses %j (mysql)', (sql, re) => {
    if (sql.startsWith("SELECT 'a\\'")) {
      // In MySQL the backslash escapes the quote: the literal runs to the end, so this is one statement.
      expect(checkSelectQuery(sql, 'mysql')).toBe(sql);
      return;
    }
    expect(() => checkSelectQuery(sql, 'mysql')).toThrow(re);
  });

  it('a PostgreSQL standard string does not treat \\ as an escape (so a smuggled ; is seen)', () => {
    expect(() => checkSelectQuery("SELECT 'a\\'; DELETE FROM t; --'", 'postgres')).toThrow(/single statement/);
  });
});
