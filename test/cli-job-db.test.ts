/**
 * `dataport job` with database inputs (postgres:// and mysql:// with --query, read through the
 * same reader as `dataport psi`): a job's output files are exactly what one `dataport psi --output`
 * run writes for the same inputs, and rows that changed between partitioning and the merge are
 * detected (their digest) and nothing is written. Throw-away PostgreSQL and MariaDB servers on
 * 127.0.0.1 (test/helpers); without the binaries the cases skip loudly.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { startMariadb, type MariadbServer } from './helpers/mariadb.js';
import { startPostgres, type PostgresServer } from './helpers/postgres.js';
import { assertBuilt, expectOneLineError, killAll, lastJson, runCli, startCli, tempDir, type CliProcess, writeIdentityDir, seededIds, stopCli, until } from './cli-helpers.js';

vi.setConfig({ testTimeout: 240_000, hookTimeout: 180_000 });

const tmp = tempDir('dataport-jobdb-');
const p = (name: string) => join(tmp.dir, name);
const saved = { PGPASSWORD: process.env.PGPASSWORD, MYSQL_PWD: process.env.MYSQL_PWD };
let pgs: PostgresServer | undefined;
let mys: MariadbServer | undefined;

const HOSPITAL_SQL = 'SELECT patient_id, ward, cost FROM admissions ORDER BY id';
const PHARMA_SQL = 'SELECT resident_id, note FROM programme ORDER BY id';
// Awkward cells: a comma, a quote, a line break, NULL, a duplicate key, an empty key, case.
const hospitalRows = (): (string | null)[][] => [
  ['11010119900307001x', 'ward, east', '10.50'],
  ['110101199003070033', 'say "hi"', null],
  ['110101199003070033', 'duplicate', '1.00'],
  [null, 'no key', '2.00'],
  ...seededIds(31, 250, 500).map((k, i) => [k, `w${i % 5}`, `${i}.25`]),
];
const pharmaRows = (): (string | null)[][] => [
  ['11010119900307001X', 'multi\nline'],
  [' 110101199003070033 ', null],
  ['', 'empty key'],
  ...seededIds(32, 250, 500).map((k, i) => [k, `p${i}`]),
];

const ident = (side: 'pharma' | 'hospital') =>
  side === 'pharma' ? ['--identity', p('pharma'), '--peer-key', p('hospital/identity.pub')] : ['--identity', p('hospital'), '--peer-key', p('pharma/identity.pub')];
const hospitalIn = () => ['--input', pgs!.url, '--query', HOSPITAL_SQL, '--key', 'patient_id'];
const pharmaIn = (db: 'pg' | 'my') => ['--input', db === 'pg' ? pgs!.url : mys!.url, '--query', PHARMA_SQL, '--key', 'resident_id'];


/** One `dataport psi` run, both sides writing --output: the reference. */
async function single(db: 'pg' | 'my', name: string): Promise<{ pharma: Buffer; hospital: Buffer }> {
  const l = startCli(['psi', '--listen', '127.0.0.1:0', ...ident('hospital'), ...hospitalIn(), '--reveal', 'both', '--output', p(`${name}-single-hospital.csv`)]);
  const url = await l.listening();
  const r = await runCli(['psi', '--connect', url, ...ident('pharma'), ...pharmaIn(db), '--reveal', 'both', '--output', p(`${name}-single-pharma.csv`)]);
  expect(r.code, r.stderr).toBe(0);
  expect((await l.done).code).toBe(0);
  return { pharma: readFileSync(p(`${name}-single-pharma.csv`)), hospital: readFileSync(p(`${name}-single-hospital.csv`)) };
}

beforeAll(async () => {
  assertBuilt();
  writeIdentityDir(p('pharma'));
  writeIdentityDir(p('hospital'));
  [pgs, mys] = await Promise.all([startPostgres(), startMariadb()]);
  if (pgs) {
    process.env.PGPASSWORD = pgs.password;
    await pgs.query('CREATE TABLE admissions (id serial, patient_id text, ward text, cost numeric(12,2))');
    for (const r of hospitalRows()) await pgs.query('INSERT INTO admissions (patient_id, ward, cost) VALUES ($1, $2, $3)', r);
    await pgs.query('CREATE TABLE programme (id serial, resident_id text, note text)');
    for (const r of pharmaRows()) await pgs.query('INSERT INTO programme (resident_id, note) VALUES ($1, $2)', r);
  }
  if (mys) {
    process.env.MYSQL_PWD = mys.password;
    await mys.query('CREATE TABLE programme (id INT AUTO_INCREMENT PRIMARY KEY, resident_id VARCHAR(32), note TEXT)');
    for (const r of pharmaRows()) await mys.query('INSERT INTO programme (resident_id, note) VALUES (?, ?)', r);
  }
});
afterEach(() => killAll());
afterAll(async () => {
  for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k];
  else process.env[k] = v;
  await Promise.all([pgs?.stop(), mys?.stop()]);
  tmp.cleanup();
});

async function job(db: 'pg' | 'my', name: string, buckets: number): Promise<{ code: number | null; json: Record<string, unknown>; hospital: CliProcess }> {
  const s = startCli(['job', 'serve', '--listen', '127.0.0.1:0', ...ident('hospital'), ...hospitalIn(), '--work-dir', p(`${name}-hospital`), '--reveal', 'both', '--output', p(`${name}-hospital.csv`)], { watchdogMs: 230_000 });
  const url = await s.listening();
  const r = await runCli(['job', 'submit', '--connect', url, ...ident('pharma'), ...pharmaIn(db), '--buckets', String(buckets), '--work-dir', p(`${name}-pharma`), '--output', p(`${name}-pharma.csv`), '--job-id', name, '--reveal', 'both', '--json', '--progress', 'none'], { watchdogMs: 230_000 });
  expect(r.code, r.stderr).toBe(0);
  await until(() => s.stdout().includes(`job ${name}: completed`) && existsSync(p(`${name}-hospital.csv`)));
  return { code: r.code, json: lastJson(r.stdout), hospital: s };
}

describe('dataport job with database inputs', () => {
  it('PostgreSQL on both sides: both outputs are exactly the single psi run\'s', async (t) => {
    if (!pgs) return t.skip();
    const want = await single('pg', 'pg');
    const { json, hospital } = await job('pg', 'pg', 5);
    // 253 rows, one with an empty key (declared: 252 records).
    expect(json).toMatchObject({ ok: true, buckets: 5, inputRecords: 253 });
    expect(readFileSync(p('pg-pharma.csv')).equals(want.pharma)).toBe(true);
    expect(readFileSync(p('pg-hospital.csv')).equals(want.hospital)).toBe(true);
    expect(want.pharma.toString()).toContain('"multi\nline"');
    await stopCli(hospital);
    // The bucket files of a database input hold only the key column.
    const bucket = readFileSync(p('pg-pharma/pg/buckets/00000.csv'), 'utf8');
    expect(bucket.split('\r\n')[0]).toBe('resident_id');
    expect(bucket).not.toContain('p1');
  });

  it('rows changed between partitioning and the merge: detected, nothing written', async (t) => {
    if (!pgs) return t.skip();
    const { hospital } = await job('pg', 'chg', 3);
    await stopCli(hospital);
    // Resubmitting the finished job merges again (a new snapshot) — after the rows changed.
    await pgs!.query("UPDATE programme SET note = 'changed' WHERE id = 5");
    try {
      const s = startCli(['job', 'serve', '--listen', '127.0.0.1:0', ...ident('hospital'), ...hospitalIn(), '--work-dir', p('chg-hospital'), '--reveal', 'both'], { watchdogMs: 230_000 });
      const url = await s.listening();
      const r = await runCli(['job', 'submit', '--connect', url, ...ident('pharma'), ...pharmaIn('pg'), '--buckets', '3', '--work-dir', p('chg-pharma'), '--output', p('chg-again.csv'), '--job-id', 'chg', '--reveal', 'both', '--progress', 'none']);
      expect(r.code).toBe(1);
      expectOneLineError(r.stderr, /the query's rows differ from those read when the job partitioned them \(changed, or in another order: give the query an ORDER BY\); no output written$/);
      expect(existsSync(p('chg-again.csv'))).toBe(false);
      await stopCli(s);
    } finally {
      await pgs!.query("UPDATE programme SET note = 'p1' WHERE id = 5");
    }
  });

  it('MariaDB requester, PostgreSQL responder: exactly the single run', async (t) => {
    if (!pgs || !mys) return t.skip();
    const want = await single('my', 'my');
    const { hospital } = await job('my', 'my', 4);
    expect(readFileSync(p('my-pharma.csv')).equals(want.pharma)).toBe(true);
    expect(readFileSync(p('my-hospital.csv')).equals(want.hospital)).toBe(true);
    await stopCli(hospital);
  });
});
