/**
 * Record sources and table sinks against real servers: PostgreSQL and MariaDB from Debian's
 * packages, each started once for this file in a temporary directory on a free loopback port
 * (test/helpers). Without the packages the tests skip loudly.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../src/errors.js';
import { normalizeKey } from '../src/protocols/psi/normalize.js';
import {
  fromCsv,
  fromMysql,
  fromPostgres,
  fromRows,
  mysqlConnectionOptions,
  openMysqlTable,
  openPostgresTable,
  parseDatabaseUrl,
  postgresClientConfig,
  readRecords,
} from '../src/sources/node.js';
import { startMariadb, type MariadbServer } from './helpers/mariadb.js';
import { startPostgres, type PostgresServer } from './helpers/postgres.js';
import pg from 'pg';

// Admissions as a hospital exports them: case, width and spacing variants of the same resident
// IDs, a NULL / empty key, duplicates, non-ASCII, decimals and a quoted comma.
const ROWS: [string | null, string | null, string][] = [
  ['110101199003074518', '1200.50', '张三'],
  ['11010119900307451x', '80.00', 'Li, Si'],
  [' 11010119900307451X ', '19.99', 'x'],
  ['１１０１０１１９９００３０７４５２６', '5.25', '全角'],
  [null, '7.00', 'no key'],
  ['', '1.00', 'empty key'],
  ['110101199003074518', '0.01', 'duplicate'],
  ['220102198512120021', null, 'null cost'],
];
const csvField = (v: string | null) => (v === null ? '' : /[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
const CSV = `resident_id,cost,name\n${ROWS.map((r) => r.map(csvField).join(',')).join('\n')}\n`;

let pgServer: PostgresServer | undefined;
let myServer: MariadbServer | undefined;
const dir = mkdtempSync(join(tmpdir(), 'dataport-dbsrc-'));
const csvPath = join(dir, 'admissions.csv');
const env = { PGPASSWORD: process.env.PGPASSWORD, MYSQL_PWD: process.env.MYSQL_PWD };

beforeAll(async () => {
  writeFileSync(csvPath, CSV);
  [pgServer, myServer] = await Promise.all([startPostgres(), startMariadb()]);
  if (pgServer) {
    process.env.PGPASSWORD = pgServer.password;
    await pgServer.query('CREATE TABLE admissions (resident_id text, cost numeric(12,2), name text)');
    for (const r of ROWS) await pgServer.query('INSERT INTO admissions VALUES ($1, $2, $3)', r);
    await pgServer.query('CREATE SEQUENCE s');
  }
  if (myServer) {
    process.env.MYSQL_PWD = myServer.password;
    await myServer.query('CREATE TABLE admissions (resident_id TEXT, cost DECIMAL(12,2), name TEXT) DEFAULT CHARSET=utf8mb4');
    for (const r of ROWS) await myServer.query('INSERT INTO admissions VALUES (?, ?, ?)', r);
    await myServer.query('CREATE TABLE log (x INT)');
    await myServer.query('CREATE FUNCTION writes() RETURNS INT MODIFIES SQL DATA BEGIN INSERT INTO log VALUES (1); RETURN 1; END');
  }
}, 120_000);

afterAll(async () => {
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete process.env[k];
  else process.env[k] = v;
  await Promise.all([pgServer?.stop(), myServer?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

const QUERY = 'SELECT resident_id, cost, name FROM admissions';
const keyBytes = (keys: string[][]) => keys.map((k) => Buffer.from(normalizeKey(k)!).toString('hex'));

describe.each([
  ['postgres', () => pgServer && fromPostgres(pgServer.url, QUERY, { batchRows: 3 })],
  ['mysql', () => myServer && fromMysql(myServer.url, QUERY, { batchRows: 3 })],
] as const)('%s source', (kind, source) => {
  it('gives the same keys, normalised bytes and values as the same data in CSV (NULL = empty cell)', async (t) => {
    const src = source();
    if (!src) return t.skip();
    const fromDb = await readRecords(src, { key: ['resident_id'], values: ['cost'] });
    const fromFile = await readRecords(fromCsv(csvPath), { key: ['resident_id'], values: ['cost'] });
    // Row order of a query without ORDER BY is the server's: compare as sorted multisets.
    const pair = (r: typeof fromDb) => r.keys.map((k, i) => `${keyBytes([k])[0]}|${r.values[i]!.join(',')}`).sort();
    expect(pair(fromDb)).toEqual(pair(fromFile));
    expect(fromDb.rows).toBe(ROWS.length);
    expect(fromDb.skippedRows).toBe(2);
    expect(fromDb.info.kind).toBe(kind);
    expect(fromDb.info.queryHash).toMatch(/^[0-9a-f]{64}$/);
    expect(fromDb.info.label).not.toContain(pgServer?.password ?? '-');
  });

  it('iterates rows as objects (NULL as null)', async (t) => {
    const src = source();
    if (!src) return t.skip();
    const rows = [];
    for await (const r of src) rows.push(r);
    expect(rows).toHaveLength(ROWS.length);
    expect(rows.find((r) => r.name === 'no key')!.resident_id).toBeNull();
    expect(rows.find((r) => r.name === '张三')!.cost).toBe('1200.50');
  });

  it('names a missing column and lists the ones the query returns', async (t) => {
    const src = source();
    if (!src) return t.skip();
    await expect(readRecords(src, { key: ['patient_id'] })).rejects.toThrow(/no column 'patient_id'.*'resident_id', 'cost', 'name'/);
  });

  it('reads in one read-only snapshot: two scans see the same rows while another session writes', async (t) => {
    const src = source();
    if (!src) return t.skip();
    const snap = await src.snapshot();
    try {
      const count = async () => {
        let n = 0;
        for await (const _ of (await snap.scan()).rows) n++;
        return n;
      };
      const before = await count();
      if (kind === 'postgres') await pgServer!.query("INSERT INTO admissions VALUES ('330101', '1', 'later')");
      else await myServer!.query("INSERT INTO admissions VALUES ('330101', '1', 'later')");
      expect(await count()).toBe(before);
    } finally {
      await snap.close();
      if (kind === 'postgres') await pgServer!.query("DELETE FROM admissions WHERE name = 'later'");
      else await myServer!.query("DELETE FROM admissions WHERE name = 'later'");
    }
  });

  it('refuses a query that writes, at the server (the read-only transaction), with a one-line message', async (t) => {
    const src = source();
    if (!src) return t.skip();
    // Both pass the text check; the transaction is what stops them.
    const writer = kind === 'postgres' ? fromPostgres(pgServer!.url, "SELECT nextval('s') AS n") : fromMysql(myServer!.url, 'SELECT writes() AS n');
    await expect(readRecords(writer, { key: ['n'] })).rejects.toThrow(/only read-only SELECT queries are run/);
  });

  it('reports a query error as one line naming the database', async (t) => {
    const src = source();
    if (!src) return t.skip();
    const bad = kind === 'postgres' ? fromPostgres(pgServer!.url, 'SELECT nope FROM admissions') : fromMysql(myServer!.url, 'SELECT nope FROM admissions');
    const err = await readRecords(bad, { key: ['nope'] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toMatch(new RegExp(`^${kind}://dataport@127\\.0\\.0\\.1:\\d+/dataport: query error: .*nope`));
    expect((err as Error).message).not.toContain('\n');
  });

  it('fails with a clear message when the connection drops mid-stream', async (t) => {
    const src = source();
    if (!src) return t.skip();
    const big = kind === 'postgres' ? fromPostgres(pgServer!.url, 'SELECT g AS id FROM generate_series(1, 200000) g', { batchRows: 100 }) : fromMysql(myServer!.url, "SELECT seq AS id, REPEAT('x', 200) AS pad FROM seq_1_to_1000000", { batchRows: 100 });
    const snap = await big.snapshot();
    const { rows } = await snap.scan();
    const err = await (async () => {
      let n = 0;
      for await (const _ of rows) {
        if (++n === 10) {
          if (kind === 'postgres') await pgServer!.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'dataport' AND pid <> pg_backend_pid()");
          else {
            const list = (await myServer!.query("SELECT id FROM information_schema.processlist WHERE user = 'dataport' AND id <> CONNECTION_ID()")) as { id: number }[];
            for (const p of list) await myServer!.query(`KILL CONNECTION ${p.id}`);
          }
        }
      }
      return undefined;
    })().catch((e: unknown) => e);
    await snap.close();
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toMatch(/while reading the query result: connection to the server lost/);
  });
});

describe('credentials', () => {
  it('refuses a URL with a password, without echoing it', () => {
    for (const url of ['postgres://u:hunter2@h/db', 'mysql://u:hunter2@h/db']) {
      const err = (() => {
        try {
          parseDatabaseUrl(url, '--input');
        } catch (e) {
          return e as Error;
        }
      })();
      expect(err).toBeInstanceOf(InputError);
      expect(err!.message).not.toContain('hunter2');
      expect(err!.message).toMatch(/must not contain a password/);
    }
  });

  it('a wrong password: one line naming the user, never the password', async (t) => {
    if (!pgServer || !myServer) return t.skip();
    const saved = [process.env.PGPASSWORD, process.env.MYSQL_PWD];
    process.env.PGPASSWORD = 'wrong-secret-123';
    process.env.MYSQL_PWD = 'wrong-secret-123';
    try {
      for (const src of [fromPostgres(pgServer.url, QUERY), fromMysql(myServer.url, QUERY)]) {
        const err = (await readRecords(src, { key: ['resident_id'] }).catch((e: unknown) => e)) as Error;
        expect(err).toBeInstanceOf(InputError);
        expect(err.message).toMatch(/(authentication failed|access denied) for user 'dataport'/);
        expect(err.message).not.toContain('wrong-secret-123');
        expect(String(err.stack)).not.toContain('wrong-secret-123');
      }
    } finally {
      [process.env.PGPASSWORD, process.env.MYSQL_PWD] = saved;
    }
  });

  it('an unreachable server: connection refused', async () => {
    const err = (await readRecords(fromPostgres('postgres://dataport@127.0.0.1:1/x', QUERY), { key: ['resident_id'] }).catch((e: unknown) => e)) as Error;
    expect(err.message).toMatch(/^postgres:\/\/dataport@127\.0\.0\.1:1\/x: connection refused/);
    const err2 = (await readRecords(fromMysql('mysql://dataport@127.0.0.1:1/x', QUERY), { key: ['resident_id'] }).catch((e: unknown) => e)) as Error;
    expect(err2.message).toMatch(/^mysql:\/\/dataport@127\.0\.0\.1:1\/x: connection refused/);
  });

  it('TLS: sslmode / ssl-mode in the URL reach the drivers', () => {
    const client = new pg.Client(postgresClientConfig(parseDatabaseUrl('postgres://u@h/db?sslmode=require', '--input')));
    expect((client as unknown as { connectionParameters: { ssl: unknown } }).connectionParameters.ssl).toBeTruthy();
    const plain = new pg.Client(postgresClientConfig(parseDatabaseUrl('postgres://u@h/db?sslmode=disable', '--input')));
    expect((plain as unknown as { connectionParameters: { ssl: unknown } }).connectionParameters.ssl).toBeFalsy();
    expect(mysqlConnectionOptions(parseDatabaseUrl('mysql://u@h/db?ssl-mode=REQUIRED', '--input')).ssl).toEqual({ rejectUnauthorized: false });
    expect(mysqlConnectionOptions(parseDatabaseUrl('mysql://u@h/db?ssl-mode=VERIFY_IDENTITY', '--input')).ssl).toMatchObject({ rejectUnauthorized: true });
    expect(mysqlConnectionOptions(parseDatabaseUrl('mysql://u@h/db', '--input')).ssl).toBeUndefined();
  });

  it('TLS asked for but the server has none: the run fails (no silent plaintext)', async (t) => {
    if (!pgServer) return t.skip();
    const err = (await readRecords(fromPostgres(`${pgServer.url}?sslmode=require`, QUERY), { key: ['resident_id'] }).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(InputError);
    expect(err.message).toMatch(/SSL|TLS/);
  });
});

describe.each([
  ['postgres', (table: string, cols: string[], replace = false) => openPostgresTable(pgServer!.url, table, cols, { replace }), () => pgServer],
  ['mysql', (table: string, cols: string[], replace = false) => openMysqlTable(myServer!.url, table, cols, { replace }), () => myServer],
] as const)('%s table sink', (kind, open, server) => {
  const tables = async (): Promise<string[]> =>
    kind === 'postgres'
      ? ((await pgServer!.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).rows as { tablename: string }[]).map((r) => r.tablename)
      : ((await myServer!.query('SHOW TABLES')) as Record<string, string>[]).map((r) => Object.values(r)[0]!);

  it('creates the table in one transaction; refuses an existing one unless replace', async (t) => {
    if (!server()) return t.skip();
    const sink = await open('matched', ['resident_id', 'cost']);
    await sink.write([['a', '1.5'], ['b', null]]);
    expect(await tables()).not.toContain('matched');
    expect(await sink.commit()).toBe(2);
    expect(await tables()).toContain('matched');
    await expect(open('matched', ['x'])).rejects.toThrow(/table matched already exists; refusing to replace it \(use --replace\)/);
    const again = await open('matched', ['x'], true);
    await again.write([['z']]);
    await again.commit();
    const rows = kind === 'postgres' ? (await pgServer!.query('SELECT x FROM matched')).rows : await myServer!.query('SELECT x FROM matched');
    expect(rows).toEqual([{ x: 'z' }]);
  });

  it('leaves nothing behind when aborted', async (t) => {
    if (!server()) return t.skip();
    const before = await tables();
    const sink = await open('aborted_one', ['a']);
    await sink.write([['1']]);
    await sink.abort();
    expect(await tables()).toEqual(before);
  });
});

describe('fromRows', () => {
  it('any iterable of objects is a source; cells become text', async () => {
    const r = await readRecords(fromRows([{ id: ' A ', v: 1.5 }, { id: null, v: 2 }, { id: 'b', v: 10n }]), { key: ['id'], values: ['v'] });
    expect(r.keys).toEqual([[' A '], ['b']]);
    expect(r.values).toEqual([['1.5'], ['10']]);
    expect(r.skippedRows).toBe(1);
  });
});
