/**
 * Fingerprinted releases and their tracing (issue 17 part 2): the cell encoding, the binomial tail,
 * and the scenario — 10 recipients of overlapping releases, a leak of 30 % of one
 * recipient's rows, reordered, re-formatted and with one column dropped, names that recipient and
 * no other; an unmarked file (the original, or random) is never attributed.
 */
import { describe, expect, it } from 'vitest';
import {
  binomialTailHalf,
  canonicalNumber,
  fingerprintKeyCommit,
  fingerprintRelease,
  fingerprintSecretFromIdentity,
  parseDate,
  parseNumber,
  parseTolerance,
  matchResultRelease,
  numbersIn,
  readBit,
  releaseFingerprintKey,
  resultRelease,
  traceTable,
  writeBit,
  type ReleaseRecord,
} from '../src/protocols/fingerprint/index.js';
import { budgetStatus, buildUsageReport, isRunReceipt, parseBudgetPolicy, releaseReceiptBody, releaseRecordOf, resultReleaseReceiptBody, resultReleaseRecordOf, signOneSidedReceipt, traceReceiptBody } from '../src/ledger/index.js';
import { generateIdentity } from '../src/session/identity.js';
import { prng } from './helpers/random.js';
import { toHex } from '../src/utils/bytes.js';

const HEADER = ['patient_id', 'ward', 'cost', 'visit_date', 'stay_days'];
const TOLERANCE = { cost: '0.01', visit_date: '1d', stay_days: '1' };

function population(n: number, rand: () => number): string[][] {
  const wards = ['cardiology', 'oncology', 'surgery', 'paediatrics'];
  return Array.from({ length: n }, (_, i) => {
    const day = 19000 + Math.floor(rand() * 700);
    return [
      `P${String(100000 + i)}`,
      wards[Math.floor(rand() * wards.length)]!,
      (100 + rand() * 9900).toFixed(2),
      new Date(day * 86_400_000).toISOString().slice(0, 10),
      String(1 + Math.floor(rand() * 30)),
    ];
  });
}

function sample<T>(rows: readonly T[], k: number, rand: () => number): T[] {
  const copy = [...rows];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy.slice(0, k);
}

describe('cell encoding', () => {
  it('parses tolerances and refuses nonsense', () => {
    expect(parseTolerance('0.01')).toMatchObject({ kind: 'number', mantissa: 1, decimals: 2 });
    expect(parseTolerance('0.50')).toMatchObject({ kind: 'number', mantissa: 5, decimals: 1 });
    expect(parseTolerance('7d')).toMatchObject({ kind: 'date', days: 7 });
    for (const bad of ['0', '-1', '1e-3', 'abc', '0d', '', '0.0']) expect(() => parseTolerance(bad), bad).toThrow(RangeError);
  });

  it('reads re-formatted numbers and dates', () => {
    expect(parseNumber('¥1,234.50')).toBe(1234.5);
    expect(parseNumber(' １２３.４ ')).toBe(123.4);
    expect(parseNumber("'-12.5")).toBe(-12.5);
    expect(parseNumber('12,5x')).toBeUndefined();
    const day = parseDate('2024-03-05')!.day;
    for (const s of ['2024/3/5', '2024.03.05', '20240305', '2024年3月5日', '5 Mar 2024', 'March 5, 2024', '05/03/2024'.replace('05/03', '15/03')]) {
      const d = parseDate(s);
      expect(d, s).toBeDefined();
      if (s.startsWith('15/03')) expect(d!.day).toBe(day + 10);
      else expect(d!.day, s).toBe(day);
    }
    expect(parseDate('2024-03-05T10:00:00Z')).toEqual({ day, rest: 'T10:00:00Z' });
    expect(parseDate('03/05/2024')).toBeUndefined(); // ambiguous: no mark rather than a wrong one
    expect(parseDate('2024-02-30')).toBeUndefined();
  });

  it('writes a bit within the tolerance that survives re-formatting and rounding to the tolerance', () => {
    const rand = prng(7);
    const tol = parseTolerance('0.01');
    for (let i = 0; i < 2000; i++) {
      const v = (rand() - 0.3) * 20000;
      const text = v.toFixed(4);
      for (const bit of [0, 1] as const) {
        const out = writeBit(text, tol, bit);
        expect(Math.abs(Number(out) - Number(text))).toBeLessThanOrEqual(0.01 + 1e-9);
        expect(readBit(out, tol)).toBe(bit);
        expect(readBit(Number(out).toLocaleString('en-US', { maximumFractionDigits: 2 }), tol)).toBe(bit);
        expect(readBit(Number(out).toFixed(2), tol)).toBe(bit);
        // any perturbation below tol/2
        expect(readBit(String(Number(out) + 0.0049), tol)).toBe(bit);
      }
      // snapping alone stays within tol/2
      expect(Math.abs(Number(writeBit(text, tol, undefined)) - Number(text))).toBeLessThanOrEqual(0.005 + 1e-9);
    }
    const days = parseTolerance('1d');
    const marked = writeBit('2024/3/5 08:30', days, 0);
    expect(marked).toMatch(/^2024-03-0[456] 08:30$/);
    expect(readBit(marked, days)).toBe(0);
    expect(readBit('2024年3月' + marked.slice(8, 10) + '日', days)).toBe(0);
    expect(writeBit('n/a', tol, 1)).toBe('n/a');
    expect(readBit('', tol)).toBeUndefined();
  });
});

describe('binomialTailHalf', () => {
  it('equals the exact sum for small n and stays accurate deep in the tail', () => {
    const choose = (n: number, k: number): number => {
      let c = 1;
      for (let i = 1; i <= k; i++) c = (c * (n - k + i)) / i;
      return c;
    };
    for (const n of [1, 2, 7, 20, 50]) {
      for (let k = 0; k <= n + 1; k++) {
        let exact = 0;
        for (let j = k; j <= n; j++) exact += choose(n, j) / 2 ** n;
        expect(binomialTailHalf(n, k)).toBeCloseTo(exact, 12);
        if (exact > 0) expect(Math.abs(binomialTailHalf(n, k) - exact) / exact).toBeLessThan(1e-9);
      }
    }
    expect(binomialTailHalf(200, 200) / 2 ** -200).toBeCloseTo(1, 9);
    expect(binomialTailHalf(100000, 50000)).toBeGreaterThan(0.5);
  });
});

describe('fingerprintRelease / traceTable', () => {
  const owner = generateIdentity();
  const secret = fingerprintSecretFromIdentity(owner.secretKey);
  const rand = prng(2026);
  const all = population(6000, rand);
  const recipients = Array.from({ length: 10 }, () => generateIdentity().publicKey);
  // 10 overlapping releases of 2000 rows each out of 6000.
  const releases = recipients.map((recipient) => {
    const original = sample(all, 2000, rand);
    const r = fingerprintRelease({ header: HEADER, rows: original, keyColumns: ['patient_id'], tolerance: TOLERANCE, recipient, secret });
    return { original, delivered: r.rows, record: r.record, marked: r.marked };
  });
  const records: ReleaseRecord[] = releases.map((r) => r.record);

  it('keeps every delivered value within its tolerance and leaves keys and unmarked columns alone', () => {
    for (const release of releases.slice(0, 3)) {
      const marked = release.delivered;
      let changed = 0;
      release.original.forEach((orig, i) => {
        const out = marked[i]!;
        expect(out[0]).toBe(orig[0]);
        expect(out[1]).toBe(orig[1]);
        expect(Math.abs(Number(out[2]) - Number(orig[2]))).toBeLessThanOrEqual(0.01 + 1e-9);
        expect(Math.abs(parseDate(out[3]!)!.day - parseDate(orig[3]!)!.day)).toBeLessThanOrEqual(1);
        expect(Math.abs(Number(out[4]) - Number(orig[4]))).toBeLessThanOrEqual(1);
        if (out.join() !== orig.join()) changed++;
      });
      expect(changed).toBeGreaterThan(0);
      // about one row in γ = 5 carries a mark
      expect(release.marked).toBeGreaterThan(2000 / 5 / 1.5);
      expect(release.marked).toBeLessThan((2000 / 5) * 1.5);
    }
  });

  it('names the leaker of 30 % of a release, reordered, re-formatted and with a column dropped — and no one else', () => {
    const victim = 3;
    const leakRand = prng(99);
    const delivered = releases[victim]!.delivered;
    const leaked = sample(delivered, 600, leakRand); // 30 %, in a new order
    // Re-format: drop stay_days, costs with thousands separators and a currency sign, dates as 2024年3月5日.
    const header = ['patient_id', 'ward', 'cost', 'visit_date'];
    const rows = leaked.map((r) => {
      const d = new Date(parseDate(r[3]!)!.day * 86_400_000);
      return [
        ` ${r[0]!.toLowerCase()} `,
        r[1]!,
        `¥${Number(r[2]).toLocaleString('en-US', { minimumFractionDigits: 1, maximumFractionDigits: 2 })}`,
        `${d.getUTCFullYear()}年${d.getUTCMonth() + 1}月${d.getUTCDate()}日`,
      ];
    });
    const results = traceTable({ header, rows, releases: records, secret });
    const hits = results.filter((r) => r.attributed);
    expect(hits).toHaveLength(1);
    expect(hits[0]!.recipient).toEqual(recipients[victim]);
    expect(hits[0]!.falseAccusationProbability).toBeLessThanOrEqual(1e-6);
    expect(hits[0]!.agreements).toBe(hits[0]!.marksRead);
    expect(hits[0]!.columns).toEqual({ cost: 'cost', visit_date: 'visit_date', stay_days: null });
    for (const other of results.filter((r) => !r.attributed)) expect(other.falseAccusationProbability).toBeGreaterThan(1e-6);
  });

  it('finds a renamed column by its marks and counts the columns tried', () => {
    const delivered = releases[5]!.delivered;
    const leaked = sample(delivered, 600, prng(5));
    const header = ['id', 'dept', 'amount', 'date', 'los', 'noise'];
    const rows = leaked.map((r) => [r[0]!, r[1]!, r[2]!, r[3]!, r[4]!, (Number(r[2]) * 1.37).toFixed(2)]);
    const results = traceTable({ header, rows, releases: records, secret, keyColumns: ['id'] });
    const hits = results.filter((r) => r.attributed);
    expect(hits.map((h) => h.recipient)).toEqual([recipients[5]]);
    expect(hits[0]!.columns).toEqual({ cost: 'amount', visit_date: 'date', stay_days: 'los' });
    expect(hits[0]!.falseAccusationProbability).toBeGreaterThan(hits[0]!.pValue * 10); // corrected for releases and assignments
  });

  it('counts one renamed leaked column for one released column only, even when two are missing', () => {
    // cost renamed, stay_days dropped: 'amount' could stand for either (both numeric); counting it
    // for both would add the noise of reading cost as stay_days.
    const delivered = releases[5]!.delivered;
    const rows = sample(delivered, 600, prng(8)).map((r) => [r[0]!, r[1]!, r[2]!, r[3]!]);
    const results = traceTable({ header: ['patient_id', 'ward', 'amount', 'visit_date'], rows, releases: records, secret });
    const hits = results.filter((r) => r.attributed);
    expect(hits.map((h) => h.recipient)).toEqual([recipients[5]]);
    expect(hits[0]!.columns).toEqual({ cost: 'amount', visit_date: 'visit_date', stay_days: null });
    expect(hits[0]!.agreements).toBe(hits[0]!.marksRead);
  });

  it('never attributes the unmarked original, nor random files', () => {
    const original = traceTable({ header: HEADER, rows: all, releases: records, secret });
    expect(original.filter((r) => r.attributed)).toEqual([]);
    for (let seed = 1; seed <= 12; seed++) {
      const r = prng(seed);
      const rows = population(3000, r).map((row) => [row[0]!, row[1]!, (Number(row[2]) + r()).toFixed(2), row[3]!, row[4]!]);
      const results = traceTable({ header: HEADER, rows, releases: records, secret });
      expect(results.filter((x) => x.attributed)).toEqual([]);
      for (const x of results) expect(x.marksRead).toBeGreaterThan(0);
    }
  });

  it('never attributes with another party secret, nor with the key column missing', () => {
    const delivered = releases[0]!.delivered;
    const other = fingerprintSecretFromIdentity(generateIdentity().secretKey);
    expect(traceTable({ header: HEADER, rows: delivered, releases: records, secret: other }).filter((r) => r.attributed)).toEqual([]);
    const noKey = traceTable({ header: ['x', ...HEADER.slice(1)], rows: delivered, releases: records, secret });
    expect(noKey.every((r) => !r.attributed && r.unchecked !== undefined)).toBe(true);
  });

  it('survives rounding within the tolerance (costs rounded to 0.01 from 3 decimals)', () => {
    const delivered = releases[7]!.delivered;
    const noisy = delivered.map((r) => [r[0]!, r[1]!, (Number(r[2]) + 0.004).toFixed(3), r[3]!, r[4]!]);
    const hits = traceTable({ header: HEADER, rows: sample(noisy, 600, prng(3)), releases: records, secret }).filter((r) => r.attributed);
    expect(hits.map((h) => h.recipient)).toEqual([recipients[7]]);
  });

  it('refuses misuse with errors naming the argument', () => {
    const base = { header: HEADER, rows: all.slice(0, 10), keyColumns: ['patient_id'], tolerance: TOLERANCE, recipient: recipients[0]!, secret };
    expect(() => fingerprintRelease({ ...base, tolerance: {} })).toThrow(/options.tolerance/);
    expect(() => fingerprintRelease({ ...base, tolerance: { patient_id: '1' } })).toThrow(/options.tolerance/);
    expect(() => fingerprintRelease({ ...base, keyColumns: ['nope'] })).toThrow(/options.keyColumns/);
    expect(() => fingerprintRelease({ ...base, gamma: 0 })).toThrow(/gamma/);
    expect(() => fingerprintRelease({ ...base, rows: [['a']] })).toThrow(/options.rows\[0\]/);
    expect(() => fingerprintRelease({ ...base, secret: new Uint8Array(3) })).toThrow(RangeError);
  });
});

describe('release and trace ledger records', () => {
  const owner = generateIdentity();
  const recipient = generateIdentity().publicKey;
  const secret = fingerprintSecretFromIdentity(owner.secretKey);
  const rows = population(50, prng(1));
  const { record } = fingerprintRelease({ header: HEADER, rows, keyColumns: ['patient_id'], tolerance: TOLERANCE, recipient, secret });
  const release = signOneSidedReceipt(owner, releaseReceiptBody(record, { owner: owner.publicKey, sourceProtocol: 'ecdh-psi', purpose: 'study', at: Date.UTC(2026, 11, 1) }));
  const trace = signOneSidedReceipt(
    owner,
    traceReceiptBody({ owner: owner.publicKey, fileSha256: new Uint8Array(32), rows: 10, at: Date.UTC(2026, 11, 2), hit: { releaseId: record.releaseId, recipient, rowsMatched: 40, falseAccusation: 1e-12 } }),
  );

  it('round-trips the release record through the entry, and refuses entries it cannot trace', () => {
    expect(releaseRecordOf(release)).toEqual(record);
    expect(release.body.options['fingerprint-key-commit']).toBe(toHex(fingerprintKeyCommit(releaseFingerprintKey(secret, record.releaseId))));
    expect(trace.body.options).toMatchObject({ 'rows-matched': '40', 'false-accusation': '1.00e-12', recipient: toHex(recipient) });
    expect(releaseRecordOf(trace)).toBeUndefined();
    const bad = (options: Record<string, string>) => releaseRecordOf({ ...release, body: { ...release.body, options: { ...release.body.options, ...options } } });
    expect(bad({ fingerprint: 'qim-v9 gamma=5 bits=64' })).toBeUndefined();
    expect(bad({ tolerance: 'nope=0.01' })).toBeUndefined();
    expect(bad({ tolerance: 'cost=abc' })).toBeUndefined();
    expect(bad({ 'release-id': 'xyz' })).toBeUndefined();
  });

  it('are not runs: budgets and usage reports do not count them', () => {
    const policy = parseBudgetPolicy(JSON.stringify({ period: 'month', maxQueries: 1 }));
    const status = budgetStatus([release, trace], { counterparty: recipient, policy, now: Date.UTC(2026, 11, 15) });
    expect(status.queriesUsed).toBe(0);
    expect(status.allowed).toBe(true);
    expect(buildUsageReport([release, trace], { by: 'protocol' })).toEqual([]);
    expect(isRunReceipt(release) || isRunReceipt(trace)).toBe(false);
  });
});

describe('result releases (matched by values)', () => {
  const secret = fingerprintSecretFromIdentity(generateIdentity().secretKey);
  const recipient = generateIdentity().publicKey;
  const file = new Uint8Array(32).fill(7);
  const record = resultRelease({ values: ['128', '40211.37', '314.15', 'withheld: below min cohort', '77'], recipient, secret, fileSha256: file });

  it('reads numbers in any layout and matches only when every value is there', () => {
    expect(canonicalNumber('¥40,211.370')).toBe('40211.37');
    expect(numbersIn('ward,n,cost\ncardiology,128,"40,211.37"\n')).toEqual(new Set(['128', '40', '211.37', '40211.37']));
    const other = new Uint8Array(32);
    expect(matchResultRelease(record, numbersIn('n 128 | 77 | total 40,211.37 | mean 314.150'), other, secret)).toMatchObject({ found: 4, total: 4, matched: true, sameFile: false });
    expect(matchResultRelease(record, numbersIn('128 77 40211.37 314.16'), other, secret)).toMatchObject({ found: 3, matched: false });
    expect(matchResultRelease(record, new Set(), file, secret)).toMatchObject({ sameFile: true, matched: true });
    // Another party's key finds nothing.
    const otherSecret = fingerprintSecretFromIdentity(generateIdentity().secretKey);
    expect(matchResultRelease(record, numbersIn('128 77 40211.37 314.15'), other, otherSecret).found).toBe(0);
  });

  it('matches a release of fewer than 3 values by file hash only, and records it in the ledger', () => {
    const small = resultRelease({ values: ['12', '5'], recipient, secret, fileSha256: file });
    expect(matchResultRelease(small, new Set(['12', '5']), new Uint8Array(32), secret).matched).toBe(false);
    const owner = generateIdentity();
    const entry = signOneSidedReceipt(owner, resultReleaseReceiptBody(record, { owner: owner.publicKey, sourceProtocol: 'aggregate' }));
    expect(resultReleaseRecordOf(entry)).toEqual(record);
    expect(releaseRecordOf(entry)).toBeUndefined();
    expect(entry.body.options).toMatchObject({ rows: '4', columns: 'value', tolerance: 'none', 'source-protocol': 'aggregate' });
    expect(() => resultRelease({ values: Array.from({ length: 29 }, (_, i) => String(i)), recipient, secret, fileSha256: file })).toThrow(/at most 28/);
  });
});
