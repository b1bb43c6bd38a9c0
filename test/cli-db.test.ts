/**
 * End-to-end: `dataport psi` / `psi-sum` with the hospital's side read from PostgreSQL or MariaDB
 * (servers started once for this file, test/helpers) against the pharmaceutical company's CSV,
 * compared with the same data read from CSV; table outputs; the bad-input cases of issue 13; and
 * the rule that a database password never appears in any output.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Identity } from '../src/session/identity.js';
import { sourceCommitment, sourceCommitmentKey } from '../src/session/source-commit.js';
import { openLedger } from '../src/ledger/file-ledger.js';
import { loadIdentity } from '../src/cli/identity-files.js';
import type { Reporter } from '../src/cli/summary.js';
import { postgresBinDir, startPostgres, type PostgresServer } from './helpers/postgres.js';
import { startMariadb, type MariadbServer } from './helpers/mariadb.js';

/** Every file of a ledger folder as text, the key sketches (sketches/) included. */
function folderText(dir: string): string {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => readFileSync(join(e.parentPath, e.name)).toString('latin1'))
    .join('');
}
import { assertBuilt, expectOneLineError, killAll, lastJson, runCli, runCliPair, startCli, tempDir, writeIdentityDir } from './cli-helpers.js';

const startCliLocal = (args: string[]) => startCli(args, { watchdogMs: W });

const tmp = tempDir('dataport-cli-db-');
const p = (name: string) => join(tmp.dir, name);
const W = 120_000;

const ids: Record<string, Identity> = {};
function writeIdentity(name: string): void {
  ids[name] = writeIdentityDir(p(name));
}

let pgs: PostgresServer | undefined;
let mys: MariadbServer | undefined;
const saved = { PGPASSWORD: process.env.PGPASSWORD, MYSQL_PWD: process.env.MYSQL_PWD };
interface Truth {
  psi: { intersectionSize: number; intersectionCostSumYuan: string; intersectionAdverseEvents: number };
}
let truth: Truth;
const HOSPITAL_SQL = 'SELECT patient_id, ward, admission_month, cost_yuan, adverse_event FROM admissions';

beforeAll(async () => {
  assertBuilt();
  writeIdentity('pharma');
  writeIdentity('hospital');
  execFileSync(process.execPath, [resolve(import.meta.dirname, '..', 'seeds', 'generate.mjs'), '--out', p('seed'), '--pharma', '300', '--hospital', '600'], { stdio: 'ignore' });
  truth = JSON.parse(readFileSync(p('seed/truth.json'), 'utf8')) as Truth;
  [pgs, mys] = await Promise.all([startPostgres(), startMariadb()]);
  const rows = readFileSync(p('seed/hospital.csv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split(','));
  if (pgs) {
    process.env.PGPASSWORD = pgs.password;
    await pgs.query('CREATE TABLE admissions (patient_id text, ward text, admission_month text, cost_yuan numeric(12,2), adverse_event integer)');
    // Loaded with psql's \copy, as a hospital would; the CLI then reads the table back.
    const psql = join(postgresBinDir()!, 'psql');
    const r = spawnSync(psql, ['-h', '127.0.0.1', '-p', String(pgs.port), '-U', 'dataport', '-d', 'dataport', '-c', `\\copy admissions FROM '${p('seed/hospital.csv')}' CSV HEADER`], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(r.stderr);
  }
  if (mys) {
    process.env.MYSQL_PWD = mys.password;
    await mys.query('CREATE TABLE admissions (patient_id VARCHAR(32), ward TEXT, admission_month TEXT, cost_yuan DECIMAL(12,2), adverse_event INT)');
    for (let i = 0; i < rows.length; i += 200) {
      const part = rows.slice(i, i + 200);
      await mys.query(`INSERT INTO admissions VALUES ${part.map(() => '(?, ?, ?, ?, ?)').join(', ')}`, part.flat());
    }
  }
}, W);
afterEach(killAll);
afterAll(async () => {
  for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k];
  else process.env[k] = v;
  await Promise.all([pgs?.stop(), mys?.stop()]);
  tmp.cleanup();
});

const psiListener = (input: string[], extra: string[] = []) => [
  'psi', '--listen', '127.0.0.1:0', '--identity', p('hospital'), '--peer-key', p('pharma/identity.pub'), '--workers', '0',
  ...input, '--key', 'patient_id', '--json', ...extra,
];
const psiRequester = (url: string, extra: string[] = []) => [
  'psi', '--connect', url, '--identity', p('pharma'), '--peer-key', p('hospital/identity.pub'), '--workers', '0',
  '--input', p('seed/pharma.csv'), '--key', 'resident_id', '--json', ...extra,
];

describe('dataport psi with a database source', () => {
  it('PostgreSQL and MariaDB tables give exactly the CSV run: same keys, same intersection, same rows out', async (t) => {
    if (!pgs || !mys) return t.skip();
    const results: Record<string, unknown>[] = [];
    for (const [name, input] of [
      ['csv', ['--input', p('seed/hospital.csv')]],
      ['pg', ['--input', pgs.url, '--query', HOSPITAL_SQL]],
      ['my', ['--input', mys.url, '--query', HOSPITAL_SQL]],
    ] as const) {
      const { l, r } = await runCliPair(psiListener([...input], ['--reveal', 'both', '--output', p(`h-${name}.csv`)]), (url) => psiRequester(url, ['--reveal', 'both']), { watchdogMs: W });
      expect(l.code, l.stderr).toBe(0);
      expect(r.code, r.stderr).toBe(0);
      results.push(lastJson(l.stdout));
      expect(lastJson(r.stdout)['intersectionSize']).toBe(truth.psi.intersectionSize);
    }
    const [csv, pg, my] = results as Record<string, unknown>[];
    for (const j of [pg!, my!]) {
      for (const k of ['intersectionSize', 'distinctKeys', 'inputRecords', 'skippedRows', 'peerDistinctKeys']) expect(j[k]).toEqual(csv![k]);
    }
    expect(csv!['source']).toEqual({ kind: 'csv', queryHash: null });
    expect((pg!['source'] as { kind: string }).kind).toBe('postgres');
    expect((pg!['source'] as { queryHash: string }).queryHash).toMatch(/^[0-9a-f]{64}$/);
    // The rows written: the CSV run copies the file's bytes; a query's rows are re-read from its
    // snapshot and written as CSV. Same rows (numeric(12,2) prints as the file had it).
    const sorted = (f: string) => readFileSync(p(f), 'utf8').trim().split(/\r?\n/).sort();
    expect(sorted('h-pg.csv')).toEqual(sorted('h-csv.csv'));
    expect(sorted('h-my.csv')).toEqual(sorted('h-csv.csv'));
    expect(sorted('h-csv.csv').length).toBe(1 + Number(csv!['outputRows']));
  }, 4 * W);

  it('--output to a table: the matching rows, all columns, in one new table; an existing table is refused before listening', async (t) => {
    if (!pgs || !mys) return t.skip();
    const { l, r } = await runCliPair(
      psiListener(['--input', pgs.url, '--query', HOSPITAL_SQL], ['--reveal', 'both', '--output', pgs.url, '--output-table', 'matched']),
      (url) => psiRequester(url, ['--reveal', 'both', '--output', mys!.url, '--output-table', 'programme_matched']),
      { watchdogMs: W },
    );
    expect(l.code, l.stderr).toBe(0);
    expect(r.code, r.stderr).toBe(0);
    const n = (await pgs.query('SELECT count(*) AS n FROM matched')).rows[0] as { n: string };
    expect(Number(n.n)).toBe(lastJson(l.stdout)['outputRows']);
    const cols = (await pgs.query("SELECT column_name FROM information_schema.columns WHERE table_name = 'matched' ORDER BY ordinal_position")).rows.map((c) => (c as { column_name: string }).column_name);
    expect(cols).toEqual(['patient_id', 'ward', 'admission_month', 'cost_yuan', 'adverse_event']);
    const m = (await mys.query('SELECT count(*) AS n FROM programme_matched')) as { n: number }[];
    expect(Number(m[0]!.n)).toBe(lastJson(r.stdout)['outputRows']);

    // Again: the table exists. Refused with one line before listening; nothing changes.
    const again = await runCli(psiListener(['--input', pgs.url, '--query', HOSPITAL_SQL], ['--reveal', 'both', '--output', pgs.url, '--output-table', 'matched']), { watchdogMs: W });
    expect(again.code).toBe(1);
    expectOneLineError(again.stderr, /table matched already exists; refusing to replace it \(use --replace\)/);
    expect(again.stderr).not.toMatch(/listening on/);
  }, 2 * W);

  it('bad input: one line naming what to fix, exit 1, before any peer is contacted', async (t) => {
    if (!pgs) return t.skip();
    const cases: [string[], RegExp][] = [
      [['--input', pgs.url], /give the rows to read with --query/],
      [['--input', p('seed/hospital.csv'), '--query', 'SELECT 1'], /--query applies only when --input is a postgres/],
      [['--input', pgs.url, '--query', 'DELETE FROM admissions'], /must be a SELECT/],
      [['--input', pgs.url, '--query', 'SELECT 1; DROP TABLE admissions'], /single statement/],
      [['--input', pgs.url, '--query', 'SELECT id FROM admissions'], /query error: column "id" does not exist/],
      [['--input', pgs.url, '--query', 'SELECT ward FROM admissions'], /no column 'patient_id'.*'ward'/],
      [['--input', pgs.url.replace(/:\d+\//, ':1/'), '--query', HOSPITAL_SQL], /connection refused/],
      [['--input', pgs.url.replace('dataport@', 'dataport:s3cr3t@'), '--query', HOSPITAL_SQL], /must not contain a password/],
    ];
    for (const [input, re] of cases) {
      const res = await runCli(psiListener(input), { watchdogMs: W });
      expect(res.code, res.stderr).toBe(1);
      expectOneLineError(res.stderr, re);
      expect(res.stderr).not.toMatch(/listening on|s3cr3t/);
    }
  }, 2 * W);
});

describe('dataport psi-sum with a database source', () => {
  it('sums over the intersection from MariaDB equal truth.json; a non-numeric value names the row and column', async (t) => {
    if (!mys) return t.skip();
    const { l, r } = await runCliPair(
      ['psi-sum', '--listen', '127.0.0.1:0', '--identity', p('hospital'), '--peer-key', p('pharma/identity.pub'), '--workers', '0',
        '--input', mys.url, '--query', HOSPITAL_SQL, '--key', 'patient_id', '--values', 'cost_yuan,adverse_event', '--json'],
      (url) => ['psi-sum', '--connect', url, '--identity', p('pharma'), '--peer-key', p('hospital/identity.pub'), '--workers', '0',
        '--input', p('seed/pharma.csv'), '--key', 'resident_id', '--json'],
      { watchdogMs: W },
    );
    expect(l.code, l.stderr).toBe(0);
    expect(r.code, r.stderr).toBe(0);
    const rj = lastJson(r.stdout);
    expect(rj['intersectionSize']).toBe(truth.psi.intersectionSize);
    expect(rj['sums']).toEqual({ cost_yuan: truth.psi.intersectionCostSumYuan, adverse_event: String(truth.psi.intersectionAdverseEvents) });

    const bad = await runCli(['psi-sum', '--listen', '127.0.0.1:0', '--identity', p('hospital'), '--allow-any-peer', '--input', mys.url,
      '--query', "SELECT patient_id, CASE WHEN ward = 'neurology' THEN 'n/a' ELSE cost_yuan END AS cost_yuan FROM admissions", '--key', 'patient_id', '--values', 'cost_yuan'], { watchdogMs: W });
    expect(bad.code).toBe(1);
    expectOneLineError(bad.stderr, /^dataport: mysql:\/\/dataport@127\.0\.0\.1:\d+\/dataport: row \d+: column cost_yuan: /);
    expect(bad.stderr).not.toMatch(/listening on/);
  }, 2 * W);
});

describe('credentials never appear in any output', () => {
  it('not in stdout, stderr, --json or the ledger, whether the password is right or wrong', async (t) => {
    if (!pgs) return t.skip();
    const ok = await runCliPair(
      psiListener(['--input', pgs.url, '--query', HOSPITAL_SQL], ['--ledger', p('ledger-h'), '--progress', 'lines']),
      (url) => psiRequester(url, ['--ledger', p('ledger-p')]),
      { watchdogMs: W },
    );
    expect(ok.l.code, ok.l.stderr).toBe(0);
    const ledgerBytes = folderText(p('ledger-h'));
    for (const text of [ok.l.stdout, ok.l.stderr, ok.r.stdout, ok.r.stderr, ledgerBytes]) expect(text).not.toContain(pgs.password);
    // Both ledgers record each side's source kind and, for the query, a commitment to its text —
    // never the URL, the password or the query — and the hospital can open it from its identity.
    const options = [];
    for (const [dir, owner] of [['ledger-h', 'hospital'], ['ledger-p', 'pharma']] as const) {
      const ledger = await openLedger(p(dir), { owner: ids[owner]! });
      try {
        const receipts = await ledger.readReceipts();
        expect(receipts).toHaveLength(1);
        options.push(receipts[0]!.body);
      } finally {
        await ledger.close();
      }
      const bytes = folderText(p(dir));
      for (const secret of [pgs.password, pgs.url, '127.0.0.1:' + String(pgs.port), HOSPITAL_SQL, 'FROM admissions']) expect(bytes).not.toContain(secret);
    }
    const [h, ph] = options;
    expect(h!.options).toEqual(ph!.options);
    expect(h!.options['requester-source']).toBe('csv');
    expect(h!.options['requester-source-commit']).toBeUndefined();
    expect(h!.options['responder-source']).toBe('postgres');
    const commit = h!.options['responder-source-commit']!;
    expect(commit).toMatch(/^[0-9a-f]{64}$/);
    expect(commit).not.toBe(createHash('sha256').update(HOSPITAL_SQL).digest('hex'));
    const k = sourceCommitmentKey(ids['hospital']!.secretKey, h!.sessionId);
    expect(sourceCommitment(k, HOSPITAL_SQL)).toBe(commit);
    expect(sourceCommitment(k, HOSPITAL_SQL + ' ')).not.toBe(commit);
    // The peer's key (or another session's) does not open it.
    expect(sourceCommitment(sourceCommitmentKey(ids['pharma']!.secretKey, h!.sessionId), HOSPITAL_SQL)).not.toBe(commit);
    // A wrong password from the environment: named as such, never printed.
    process.env.PGPASSWORD = 'wrong-Pa55word-xyz';
    try {
      const res = await runCli(psiListener(['--input', pgs.url, '--query', HOSPITAL_SQL]), { watchdogMs: W });
      expect(res.code).toBe(1);
      expectOneLineError(res.stderr, /authentication failed for user 'dataport'/);
      expect(res.stderr + res.stdout).not.toContain('wrong-Pa55word-xyz');
    } finally {
      process.env.PGPASSWORD = pgs.password;
    }
  }, 2 * W);
});

describe('dataport aggregate with a database', () => {
  it('a provider reads its rows from PostgreSQL, the analyst writes the result into a MariaDB table: same totals as from CSV', async (t) => {
    if (!pgs || !mys) return t.skip();
    for (const who of ['operator', 'analyst', 'h1', 'h2']) expect((await runCli(['keygen', '--out', p(who)], { watchdogMs: W })).code).toBe(0);
    mkdirSync(p('providers'));
    for (const h of ['h1', 'h2']) writeFileSync(p(`providers/${h}.pub`), readFileSync(p(`${h}/identity.pub`)));
    writeFileSync(p('q.json'), JSON.stringify({
      version: 1, id: 'wards-db', providers: 2, minCohort: 1, maxRowsPerProvider: 1000,
      columns: [{ name: 'cost_yuan', type: 'decimal', decimals: 2, min: '0.00', max: '1000000.00' }],
      statistics: [{ type: 'count' }, { type: 'sum', column: 'cost_yuan' }],
    }));
    writeFileSync(p('h2.csv'), 'cost_yuan\n1.50\n2.25\n');
    const sum = (await pgs.query('SELECT count(*) AS n, sum(cost_yuan) AS s FROM admissions')).rows[0] as { n: string; s: string };
    const run = async (analystExtra: string[]) => {
      const server = startCliLocal(['aggregate', 'serve', '--listen', '127.0.0.1:0', '--providers', '2', '--identity', p('operator'), '--analyst-key', p('analyst/identity.pub'), '--provider-keys', p('providers')]);
      const url = await server.listening();
      const common = ['--peer-key', p('operator/identity.pub')];
      const [a, b, an] = await Promise.all([
        runCli(['aggregate', 'provide', '--connect', url, '--input', pgs!.url, '--query', 'SELECT cost_yuan FROM admissions', '--identity', p('h1'), ...common, '--json', '--ledger', p('ledger-h1')], { watchdogMs: W }),
        runCli(['aggregate', 'provide', '--connect', url, '--input', p('h2.csv'), '--identity', p('h2'), ...common, '--ledger', p('ledger-h2')], { watchdogMs: W }),
        runCli(['aggregate', 'analyst', '--connect', url, '--query', p('q.json'), '--identity', p('analyst'), ...common, ...analystExtra], { watchdogMs: W }),
      ]);
      await server.done;
      return { a, b, an };
    };
    const { a, b, an } = await run(['--output', mys.url, '--output-table', 'ward_result', '--json']);
    for (const r of [a, b, an]) expect(r.code, r.stderr).toBe(0);
    expect(lastJson(a.stdout)).toMatchObject({ rows: Number(sum.n), source: { kind: 'postgres' } });
    const rows = (await mys.query('SELECT `group`, statistic, `column`, bin, value FROM ward_result ORDER BY statistic')) as Record<string, string>[];
    expect(rows).toEqual([
      { group: '*', statistic: 'count', column: '', bin: '', value: String(Number(sum.n) + 2) },
      { group: '*', statistic: 'sum', column: 'cost_yuan', bin: '', value: (Math.round(Number(sum.s) * 100 + 375) / 100).toFixed(2) },
    ]);
    // Each provider's link receipt records its source kind; the database one a commitment to its
    // query that its identity opens (never the URL, the password or the text).
    const quiet: Reporter = { info() {}, warn() {}, json() {} };
    const linkOptions: Record<string, string>[] = [];
    for (const h of ['h1', 'h2']) {
      const owner = await loadIdentity(p(h), quiet);
      const ledger = await openLedger(p(`ledger-${h}`), { owner });
      try {
        const receipts = await ledger.readReceipts();
        expect(receipts).toHaveLength(1);
        linkOptions.push(receipts[0]!.body.options);
      } finally {
        await ledger.close();
      }
      const bytes = folderText(p(`ledger-${h}`));
      for (const secret of [pgs.password, pgs.url, 'FROM admissions']) expect(bytes).not.toContain(secret);
    }
    expect(linkOptions[0]!['requester-source']).toBe('postgres');
    const h1 = await loadIdentity(p('h1'), quiet);
    const h1Ledger = await openLedger(p('ledger-h1'), { owner: h1 });
    const [h1Receipt] = await h1Ledger.readReceipts();
    await h1Ledger.close();
    expect(sourceCommitment(sourceCommitmentKey(h1.secretKey, h1Receipt!.body.sessionId), 'SELECT cost_yuan FROM admissions')).toBe(linkOptions[0]!['requester-source-commit']);
    expect(linkOptions[1]!['requester-source']).toBe('csv');
    expect(linkOptions[1]!['requester-source-commit']).toBeUndefined();
    // The table exists now: refused before the analyst connects.
    const again = await runCli(['aggregate', 'analyst', '--connect', 'ws://127.0.0.1:1', '--query', p('q.json'), '--identity', p('analyst'), '--peer-key', p('operator/identity.pub'), '--output', mys.url, '--output-table', 'ward_result'], { watchdogMs: W });
    expect(again.code).toBe(1);
    expectOneLineError(again.stderr, /table ward_result already exists; refusing to replace it \(use --replace\)/);
  }, 2 * W);
});
