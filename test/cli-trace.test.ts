/**
 * `dataport release` and `dataport trace` end to end, as separate processes (issue 17 part 2): ten
 * recipients of overlapping fingerprinted releases; a leak of 30 % of one recipient's rows,
 * reordered, re-formatted and with one column dropped, names that recipient and no other; the
 * unmarked original is not attributed; release and trace entries are in the ledger, which still
 * verifies, and usage reports do not count them as runs.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readLedgerSnapshot } from '../src/ledger/node.js';
import { releaseRecordOf } from '../src/ledger/release-records.js';
import { parseDate } from '../src/protocols/fingerprint/index.js';
import { toHex } from '../src/utils/bytes.js';
import { prng, shuffle, csv } from './helpers/random.js';
import { assertBuilt, expectOneLineError, killAll, lastJson, runCli, tempDir, writeIdentityDir } from './cli-helpers.js';

const RECIPIENTS = 10;
let work: { dir: string; cleanup(): void };
const recipientKeys: string[] = [];
let original: string[][];

const HEADER = ['patient_id', 'ward', 'cost', 'visit_date', 'stay_days'];

beforeAll(async () => {
  assertBuilt();
  work = tempDir('dataport-trace-');
  const rand = prng(17);
  writeIdentityDir(join(work.dir, 'port'));
  original = Array.from({ length: 5000 }, (_, i) => [
    `R${String(200000 + i)}`,
    `ward-${1 + Math.floor(rand() * 6)}`,
    (50 + rand() * 5000).toFixed(2),
    new Date((19500 + Math.floor(rand() * 500)) * 86_400_000).toISOString().slice(0, 10),
    String(1 + Math.floor(rand() * 40)),
  ]);
  writeFileSync(join(work.dir, 'all.csv'), csv(HEADER, original));
  // Ten overlapping releases of 2000 of the 5000 rows each, one per recipient.
  for (let r = 0; r < RECIPIENTS; r++) {
    const id = writeIdentityDir(join(work.dir, `recipient${r}`));
    recipientKeys.push(toHex(id.publicKey));
    writeFileSync(join(work.dir, `src${r}.csv`), csv(HEADER, shuffle(original, rand).slice(0, 2000)));
    const res = await runCli([
      'release', '--input', join(work.dir, `src${r}.csv`), '--key', 'patient_id', '--columns', 'ward,cost,visit_date,stay_days',
      '--tolerance', 'cost=0.01,visit_date=1d', '--tolerance', 'stay_days=1', '--recipient-key', join(work.dir, `recipient${r}`, 'identity.pub'),
      '--identity', join(work.dir, 'port'), '--ledger', join(work.dir, 'ledger'), '--out', join(work.dir, `out${r}.csv`), '--purpose', 'cohort study 2026-11', '--json',
    ]);
    expect(res.code, res.stderr).toBe(0);
    const j = lastJson(res.stdout);
    expect(j).toMatchObject({ ok: true, recipient: recipientKeys[r], rows: 2000, ledgerIndex: r });
  }
}, 120_000);

afterAll(() => {
  killAll();
  work?.cleanup();
});

function trace(file: string, extra: string[] = []): Promise<Awaited<ReturnType<typeof runCli>>> {
  return runCli(['trace', '--ledger', join(work.dir, 'ledger'), '--identity', join(work.dir, 'port'), '--file', file, '--json', ...extra]);
}

describe('dataport release / trace', () => {
  it('delivers every value within its tolerance, keys and unmarked columns unchanged', () => {
    const src = readFileSync(join(work.dir, 'src0.csv'), 'utf8').trim().split('\n').map((l) => l.split(','));
    const out = readFileSync(join(work.dir, 'out0.csv'), 'utf8').trim().split('\n').map((l) => l.split(','));
    expect(out[0]).toEqual(HEADER);
    expect(out).toHaveLength(src.length);
    let changed = 0;
    for (let i = 1; i < src.length; i++) {
      expect(out[i]![0]).toBe(src[i]![0]);
      expect(out[i]![1]).toBe(src[i]![1]);
      expect(Math.abs(Number(out[i]![2]) - Number(src[i]![2]))).toBeLessThanOrEqual(0.01 + 1e-9);
      expect(Math.abs(parseDate(out[i]![3]!)!.day - parseDate(src[i]![3]!)!.day)).toBeLessThanOrEqual(1);
      expect(Math.abs(Number(out[i]![4]) - Number(src[i]![4]))).toBeLessThanOrEqual(1);
      if (out[i]!.join() !== src[i]!.join()) changed++;
    }
    expect(changed).toBeGreaterThan(100);
  });

  it('names the one recipient of a 30 % leak, reordered, re-formatted, with a column dropped', async () => {
    const victim = 6;
    const rows = readFileSync(join(work.dir, `out${victim}.csv`), 'utf8').trim().split('\n').slice(1).map((l) => l.split(','));
    const leaked = shuffle(rows, prng(4)).slice(0, 600).map((r) => {
      const d = new Date(parseDate(r[3]!)!.day * 86_400_000);
      // ward dropped; cost with thousands separators in quotes; dates as 5 Mar 2024.
      const month = d.toLocaleString('en-US', { month: 'short', timeZone: 'UTC' });
      return [r[0]!, `"${Number(r[2]).toLocaleString('en-US', { minimumFractionDigits: 2 })}"`, `${d.getUTCDate()} ${month} ${d.getUTCFullYear()}`, r[4]!];
    });
    const file = join(work.dir, 'leak.csv');
    writeFileSync(file, csv(['patient_id', 'cost', 'visit_date', 'stay_days'], leaked));
    const res = await trace(file);
    expect(res.code, res.stderr).toBe(0);
    const j = lastJson(res.stdout) as { ok: boolean; matches: { releaseId: string; recipient: string; rowsMatched: number; falseAccusationProbability: number }[] };
    expect(j.ok).toBe(true);
    expect(j.matches.map((m) => m.recipient)).toEqual([recipientKeys[victim]]);
    expect(j.matches[0]!.falseAccusationProbability).toBeLessThanOrEqual(1e-6);
    expect(j.matches[0]!.rowsMatched).toBeGreaterThan(50);
    expect(res.stderr).toMatch(/came from release [0-9a-f]{32} to recipient [0-9a-f]{64}: \d+ of \d+ marks agree; false-accusation probability/);

    // The trace entry is in the ledger, names the release and recipient; the ledger verifies.
    const snap = await readLedgerSnapshot(join(work.dir, 'ledger'));
    const entries = snap.receipts();
    const last = entries[entries.length - 1]!;
    expect(last.kind).toBe('one-sided');
    expect(last.body.protocol).toBe('trace');
    expect(last.body.outcome).toBe('attributed');
    expect(last.body.options).toMatchObject({ 'release-id': j.matches[0]!.releaseId, recipient: recipientKeys[victim], 'rows-matched': String(j.matches[0]!.rowsMatched) });
    expect(Number(last.body.options['false-accusation'])).toBeLessThanOrEqual(1e-6);
    expect(last.body.options['file-sha256']).toMatch(/^[0-9a-f]{64}$/);
    const verify = await runCli(['ledger', 'verify', '--ledger', join(work.dir, 'ledger'), '--json']);
    expect(verify.code, verify.stderr).toBe(0);
  });

  it('does not attribute the unmarked original and records the trace as unattributed', async () => {
    const res = await trace(join(work.dir, 'all.csv'));
    expect(res.code, res.stderr).toBe(0);
    expect(lastJson(res.stdout)).toMatchObject({ ok: true, matches: [], releasesChecked: RECIPIENTS });
    expect(res.stderr).toMatch(/cannot tell: no release of the 10 checked is attributed/);
    const snap = await readLedgerSnapshot(join(work.dir, 'ledger'));
    const last = snap.receipts()[snap.size - 1]!;
    expect(last.body).toMatchObject({ protocol: 'trace', outcome: 'unattributed' });
  });

  it('records releases with the fixed options, and reports count no run', async () => {
    const snap = await readLedgerSnapshot(join(work.dir, 'ledger'));
    const releases = snap.receipts().filter((r) => r.body.protocol === 'release');
    expect(releases).toHaveLength(RECIPIENTS);
    const o = releases[0]!.body.options;
    expect(Object.keys(o).sort()).toEqual(
      ['columns', 'fingerprint', 'fingerprint-key-commit', 'key-columns', 'recipient', 'release-id', 'rows', 'source-protocol', 'tolerance'].sort(),
    );
    expect(o).toMatchObject({ columns: 'ward,cost,visit_date,stay_days', tolerance: 'cost=0.01,visit_date=1d,stay_days=1', rows: '2000', recipient: recipientKeys[0] });
    expect(releases[0]!.body.purpose).toBe('cohort study 2026-11');
    expect(releaseRecordOf(releases[0]!)).toBeDefined();
    // No value and no key of the file is in the ledger.
    const log = readFileSync(join(work.dir, 'ledger', 'ledger.log')).toString('latin1');
    expect(log).not.toContain(original[0]![0]);
    const report = await runCli(['ledger', 'report', '--ledger', join(work.dir, 'ledger'), '--format', 'json']);
    expect(report.code, report.stderr).toBe(0);
    expect(JSON.parse(report.stdout)).toEqual({ by: 'counterparty', rows: [] });
  });

  it('refuses a bad tolerance and a renamed key without --key, in one line', async () => {
    const bad = await runCli([
      'release', '--input', join(work.dir, 'src0.csv'), '--key', 'patient_id', '--columns', 'cost', '--tolerance', 'cost=abc',
      '--recipient-key', join(work.dir, 'recipient0', 'identity.pub'), '--identity', join(work.dir, 'port'), '--ledger', join(work.dir, 'ledger'), '--out', join(work.dir, 'x.csv'),
    ]);
    expect(bad.code).toBe(1);
    expectOneLineError(bad.stderr, /--tolerance cost=abc: tolerance 'abc' is not a positive decimal number/);
    const renamed = join(work.dir, 'renamed.csv');
    writeFileSync(renamed, readFileSync(join(work.dir, 'out1.csv'), 'utf8').replace(/^patient_id/, 'pid'));
    const without = await trace(renamed);
    expect(lastJson(without.stdout)).toMatchObject({ matches: [] });
    expect(without.stderr).toMatch(/not checked: key column patient_id not in the file \(pass --key COL/);
    const withKey = await trace(renamed, ['--key', 'pid']);
    expect((lastJson(withKey.stdout) as { matches: { recipient: string }[] }).matches.map((m) => m.recipient)).toEqual([recipientKeys[1]]);
  });

  it('records an aggregate result release and matches a re-laid-out copy of its values, not another result', async () => {
    const result = {
      queryId: 'q-2026-11',
      contributors: 3,
      expectedProviders: 3,
      groups: [
        { group: 'cardiology', withheld: false, statistics: [{ type: 'count', value: '128' }, { type: 'sum', column: 'cost', value: '40211.37' }] },
        { group: 'oncology', withheld: false, statistics: [{ type: 'count', value: '77' }, { type: 'sum', column: 'cost', value: '88120.5' }] },
      ],
      guardrails: { minCohort: 10, withheldGroups: 0, minCohortOnNoisyCounts: false, dp: null },
    };
    const file = join(work.dir, 'result.json');
    writeFileSync(file, JSON.stringify(result, null, 2));
    const rel = await runCli(['release', '--result', file, '--recipient-key', join(work.dir, 'recipient2', 'identity.pub'), '--identity', join(work.dir, 'port'), '--ledger', join(work.dir, 'ledger'), '--json']);
    expect(rel.code, rel.stderr).toBe(0);
    const { releaseId } = lastJson(rel.stdout) as { releaseId: string };
    const copy = join(work.dir, 'forwarded.csv');
    writeFileSync(copy, 'ward,patients,total\ncardiology,128,"40,211.37"\noncology,77,"88,120.50"\n');
    const hit = await trace(copy);
    expect(hit.code, hit.stderr).toBe(0);
    const j = lastJson(hit.stdout) as { matches: { kind: string; releaseId: string; recipient: string; falseAccusationProbability: null }[] };
    expect(j.matches).toEqual([expect.objectContaining({ kind: 'result', releaseId, recipient: recipientKeys[2], falseAccusationProbability: null })]);
    const snap = await readLedgerSnapshot(join(work.dir, 'ledger'));
    expect(snap.receipts()[snap.size - 1]!.body.options).toMatchObject({ 'release-id': releaseId, 'false-accusation': 'not-computed' });
    writeFileSync(copy, 'ward,patients,total\ncardiology,128,"40,211.37"\noncology,78,"88,120.50"\n');
    const miss = await trace(copy);
    expect((lastJson(miss.stdout) as { matches: unknown[] }).matches).toEqual([]);
  });
});
