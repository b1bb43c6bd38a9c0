// Tests for seeds/generate.mjs: determinism, ID validity, the documented noise model, the overlap
// definition, and truth.json against an independent recomputation from the CSV files.

import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, readFileSync, readdirSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { parse } from 'csv-parse/sync';
import {
  DEFAULTS,
  GENERATOR_VERSION,
  NOISE,
  WARDS,
  WENZHOU_AREA_CODES,
  AGE_BINS,
  COST_BINS_YUAN,
  generateScenario,
  writeScenario,
  parseCliArgs,
  residentIdCheckChar,
  createRng,
  expDet,
  type Truth,
} from '../seeds/generate.mjs';

const GENERATOR = fileURLToPath(new URL('../seeds/generate.mjs', import.meta.url));
const REFERENCE = { y: 2023, m: 12, d: 31 };

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'dataport-seeds-'));
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

/** The normalisation dataport applies (DESIGN.md §8), restated here rather than imported. */
const norm = (s: string) => s.normalize('NFKC').trim().toLowerCase();

/**
 * Independent ISO 7064 MOD 11-2 check: with weights 2^(18-i) mod 11 over all 18 characters
 * (X = 10), a valid number sums to 1 mod 11. Written from the standard's definition, not from the
 * generator's weight table.
 */
function mod112Valid(id: string): boolean {
  let sum = 0;
  let w = 1;
  for (let i = 17; i >= 0; i--) {
    const c = id[i]!;
    const v = c === 'X' ? 10 : Number(c);
    sum = (sum + v * w) % 11;
    w = (w * 2) % 11;
  }
  return sum === 1;
}

function validCleanAdultId(id: string): boolean {
  if (!/^[0-9]{17}[0-9X]$/.test(id)) return false;
  if (!mod112Valid(id)) return false;
  const y = Number(id.slice(6, 10));
  const m = Number(id.slice(10, 12));
  const d = Number(id.slice(12, 14));
  const dt = new Date(Date.UTC(y, m - 1, d));
  if (dt.getUTCFullYear() !== y || dt.getUTCMonth() !== m - 1 || dt.getUTCDate() !== d) return false;
  const age = REFERENCE.y - y - (REFERENCE.m < m || (REFERENCE.m === m && REFERENCE.d < d) ? 1 : 0);
  if (age < 18 || age > 100) return false;
  if (id.slice(14, 17) === '000') return false;
  return WENZHOU_AREA_CODES.some((a) => a.code === id.slice(0, 6));
}

type Row = Record<string, string>;
const readCsv = (text: string): Row[] => parse(text, { columns: true, bom: true, skip_empty_lines: false }) as Row[];

/** Yuan string with exactly two decimals → integer cents (BigInt), rejecting anything else. */
function cents(s: string): bigint {
  const m = /^([0-9]+)\.([0-9]{2})$/.exec(s);
  if (!m) throw new Error(`not a two-decimal amount: ${JSON.stringify(s)}`);
  return BigInt(m[1]!) * 100n + BigInt(m[2]!);
}
const yuan = (c: bigint) => `${c / 100n}.${String(c % 100n).padStart(2, '0')}`;

function readDir(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const name of readdirSync(dir)) {
    if (name === 'hospitals') {
      for (const h of readdirSync(join(dir, name))) out.set(`hospitals/${h}`, readFileSync(join(dir, name, h)));
    } else out.set(name, readFileSync(join(dir, name)));
  }
  return out;
}

describe('resident ID check character', () => {
  it('matches the example number of GB 11643-1999 and the independent MOD 11-2 definition', () => {
    expect(residentIdCheckChar('11010519491231002')).toBe('X');
    expect(mod112Valid('11010519491231002X')).toBe(true);
    expect(mod112Valid('110105194912310021')).toBe(false);
    const rng = createRng(99, 'test-check');
    for (let i = 0; i < 2000; i++) {
      let s = '';
      for (let j = 0; j < 17; j++) s += String(rng.int(10));
      expect(mod112Valid(s + residentIdCheckChar(s))).toBe(true);
    }
  });

  it('rejects malformed input', () => {
    expect(() => residentIdCheckChar('1234')).toThrow(TypeError);
    expect(() => residentIdCheckChar('１１０１０５１９４９１２３１００２')).toThrow(TypeError);
  });
});

describe('deterministic arithmetic', () => {
  it('expDet agrees with Math.exp to a few ulps', () => {
    for (const x of [-6, -3.3, -1, -0.25, 0, 0.1, 0.5, 1, 2.7, 6]) {
      expect(Math.abs(expDet(x) / Math.exp(x) - 1)).toBeLessThan(1e-14);
    }
  });

  it('the same stream gives the same numbers; different labels give different ones', () => {
    const a = createRng(1, 'a');
    const b = createRng(1, 'a');
    const c = createRng(1, 'b');
    const xs = Array.from({ length: 8 }, () => a.nextU32());
    expect(Array.from({ length: 8 }, () => b.nextU32())).toEqual(xs);
    expect(Array.from({ length: 8 }, () => c.nextU32())).not.toEqual(xs);
  });
});

describe('determinism', () => {
  it('same parameters → byte-identical files; a different seed → different data', () => {
    const params = { pharma: 500, hospital: 900, overlap: 0.4, hospitals: 4, rows: 300 };
    const a = join(tmp, 'det-a');
    const b = join(tmp, 'det-b');
    const c = join(tmp, 'det-c');
    writeScenario(params, a);
    writeScenario(params, b);
    writeScenario({ ...params, seed: DEFAULTS.seed + 1 }, c);
    const fa = readDir(a);
    const fb = readDir(b);
    const fc = readDir(c);
    expect([...fa.keys()].sort()).toEqual(['hospital.csv', 'hospitals/hospital-1.csv', 'hospitals/hospital-2.csv', 'hospitals/hospital-3.csv', 'hospitals/hospital-4.csv', 'pharma.csv', 'truth.json']);
    for (const [name, bytes] of fa) expect(bytes.equals(fb.get(name)!), name).toBe(true);
    for (const [name, bytes] of fa) expect(bytes.equals(fc.get(name)!), name).toBe(false);
    // The recorded hashes describe the files actually written.
    const truth = JSON.parse(fa.get('truth.json')!.toString('utf8')) as Truth;
    for (const [name, info] of Object.entries(truth.files)) expect(fa.get(name)!.length).toBe(info.bytes);
  });

  it('the CLI writes the same bytes as the module, and removes stale hospital files', () => {
    const viaModule = join(tmp, 'cli-module');
    const viaCli = join(tmp, 'cli-process');
    writeScenario({ seed: 5, pharma: 300, hospital: 400, overlap: 0.25, hospitals: 2, rows: 100 }, viaModule);
    // First a run with more hospitals, so that the second run has stale files to remove.
    let r = spawnSync(process.execPath, [GENERATOR, '--out', viaCli, '--seed', '5', '--pharma', '300', '--hospital', '400', '--overlap', '0.25', '--hospitals', '4', '--rows', '100'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(existsSync(join(viaCli, 'hospitals', 'hospital-4.csv'))).toBe(true);
    r = spawnSync(process.execPath, [GENERATOR, '--out', viaCli, '--seed', '5', '--pharma', '300', '--hospital', '400', '--overlap', '0.25', '--hospitals', '2', '--rows', '100'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('intersection  75 patients');
    const m = readDir(viaModule);
    const c = readDir(viaCli);
    expect([...c.keys()].sort()).toEqual([...m.keys()].sort());
    for (const [name, bytes] of m) expect(bytes.equals(c.get(name)!), name).toBe(true);
  });

  it('the CLI prints help and rejects bad arguments with exit code 2 and a one-line message', () => {
    const help = spawnSync(process.execPath, [GENERATOR, '--help'], { encoding: 'utf8' });
    expect(help.status).toBe(0);
    for (const opt of ['--out', '--seed', '--pharma', '--hospital', '--overlap', '--hospitals', '--rows']) expect(help.stdout).toContain(opt);
    for (const bad of [['--overlap', '1.5'], ['--pharma', '-3'], ['--pharma', '1e3'], ['--rows', '0'], ['--bogus'], ['--pharma', '10', '--hospital', '2', '--overlap', '0.5']]) {
      const r = spawnSync(process.execPath, [GENERATOR, '--out', join(tmp, 'never'), ...bad], { encoding: 'utf8' });
      expect(r.status, bad.join(' ')).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/^seeds: /);
    }
    expect(existsSync(join(tmp, 'never', 'truth.json'))).toBe(false);
  });

  it('the default scenario is pinned: any change to the output must come with a new GENERATOR_VERSION', () => {
    // Regression pin for the byte-identity promise across machines and Node versions. If the
    // generator's logic changes on purpose, bump GENERATOR_VERSION and update these hashes.
    const { files } = generateScenario();
    const sha = (t: string) => createHash('sha256').update(t, 'utf8').digest('hex');
    expect(GENERATOR_VERSION).toBe(1);
    expect(sha(files.get('pharma.csv')!)).toBe('b989d1278dbfb6bd509d29ceb825b2b8f7d4b0be47d6987bae52d4a334e0896c');
    expect(sha(files.get('hospital.csv')!)).toBe('d116aaa7106268af82d1cb8c27c8610379394b3236bb547f51cfd978c6b4f31c');
    expect(sha(files.get('hospitals/hospital-1.csv')!)).toBe('f77762e303a6eabdcf4470644af67e526fc29077dfcf60ca627cf96a377dc687');
  });

  it('parseCliArgs converts values and leaves the rest to the defaults', () => {
    const p = parseCliArgs(['--seed', '9', '--overlap', '.5', '--bom']);
    expect(p).toMatchObject({ help: false, params: { seed: 9, overlap: 0.5, bom: true } });
    expect(parseCliArgs(['-h'])).toEqual({ help: true });
  });
});

describe('the default scenario', () => {
  const { files, truth } = generateScenario();
  const pharmaText = files.get('pharma.csv')!;
  const pharma = readCsv(pharmaText);
  const hospital = readCsv(files.get('hospital.csv')!);

  it('has the documented shape and sizes', () => {
    expect(pharmaText.split('\n')[0]).toBe('resident_id,enrolled_on,note');
    expect(files.get('hospital.csv')!.split('\n')[0]).toBe('patient_id,ward,admission_month,cost_yuan,adverse_event');
    expect(new Set(pharma.map((r) => norm(r.resident_id!))).size).toBe(DEFAULTS.pharma);
    expect(new Set(hospital.map((r) => norm(r.patient_id!))).size).toBe(DEFAULTS.hospital);
    expect(truth.syntheticData).toBe(true);
    expect(truth.params).toEqual(DEFAULTS);
  });

  it('every ID, noisy or not, normalises to a valid clean adult Wenzhou ID', () => {
    for (const r of [...pharma.map((x) => x.resident_id!), ...hospital.map((x) => x.patient_id!)]) {
      const clean = norm(r).toUpperCase();
      expect(validCleanAdultId(clean), JSON.stringify(r)).toBe(true);
    }
  });

  it('about one ID in eleven ends in X', () => {
    const keys = new Set([...pharma.map((x) => norm(x.resident_id!)), ...hospital.map((x) => norm(x.patient_id!))]);
    const xs = [...keys].filter((k) => k.endsWith('x')).length;
    expect(xs / keys.size).toBeGreaterThan(0.06);
    expect(xs / keys.size).toBeLessThan(0.125);
  });

  it('pharma.csv carries exactly the documented noise', () => {
    const n = pharma.length;
    const ids = pharma.map((r) => r.resident_id!);
    const fullWidth = ids.filter((s) => /[\uff10-\uff19\uff38\uff58]/.test(s));
    // A full-width row is entirely full-width: no ASCII digit survives in it.
    for (const s of fullWidth) expect(/[0-9]/.test(s)).toBe(false);
    const endsX = ids.filter((s) => /[xXｘＸ]$/.test(s.trim()));
    const lowerX = ids.filter((s) => /[xｘ]$/.test(s.trim()));
    const padded = ids.filter((s) => s !== s.trim());
    const ideographic = ids.filter((s) => s.includes('\u3000'));
    const quotedIds = pharmaText.split('\n').filter((l) => l.startsWith('"'));
    const notes = pharma.filter((r) => r.note !== '');
    const duplicates = n - new Set(ids.map(norm)).size;

    expect(duplicates).toBe(Math.round(NOISE.pharma.duplicatePatients * DEFAULTS.pharma));
    expect(n).toBe(DEFAULTS.pharma + duplicates);
    expect(fullWidth.length).toBe(Math.round(NOISE.pharma.fullWidth * n));
    expect(lowerX.length).toBe(Math.round(NOISE.pharma.lowercaseX * endsX.length));
    expect(padded.length).toBe(Math.round(NOISE.pharma.whitespace * n));
    expect(ideographic.length).toBe(Math.round(NOISE.pharma.ideographicSpace * padded.length));
    expect(quotedIds.length).toBe(Math.round(NOISE.pharma.quotedId * n));
    expect(notes.length).toBe(Math.round(NOISE.pharma.note * n));
    for (const r of notes) expect(r.note).toContain(',');
    // Sanity of the proportions themselves, not only of the rounding.
    expect(fullWidth.length / n).toBeCloseTo(0.02, 2);
    expect(padded.length / n).toBeCloseTo(0.05, 2);
    expect(truth.noise.counts.pharma).toEqual({
      rows: n,
      duplicateRows: duplicates,
      fullWidthRows: fullWidth.length,
      rowsEndingInX: endsX.length,
      lowercaseXRows: lowerX.length,
      whitespaceRows: padded.length,
      ideographicSpaceRows: ideographic.length,
      quotedIdRows: quotedIds.length,
      noteRows: notes.length,
    });
  });

  it('hospital.csv carries exactly the documented light noise, and some patients have several admissions', () => {
    const ids = hospital.map((r) => r.patient_id!);
    const endsX = ids.filter((s) => /[xX]$/.test(s.trim()));
    const lowerX = ids.filter((s) => /x$/.test(s.trim()));
    const padded = ids.filter((s) => s !== s.trim());
    expect(ids.some((s) => /[^\x20-\x7e]/.test(s))).toBe(false);
    expect(lowerX.length).toBe(Math.round(NOISE.hospital.lowercaseX * endsX.length));
    expect(padded.length).toBe(Math.round(NOISE.hospital.whitespace * ids.length));

    const perPatient = new Map<string, string[]>();
    for (const r of hospital) {
      const k = norm(r.patient_id!);
      perPatient.set(k, [...(perPatient.get(k) ?? []), r.admission_month!]);
    }
    const multi = [...perPatient.values()].filter((m) => m.length > 1);
    expect(multi.length).toBeGreaterThan(0.15 * perPatient.size);
    for (const months of perPatient.values()) expect(new Set(months).size).toBe(months.length);
    const wards = new Set(WARDS.map((w) => w.ward));
    for (const r of hospital) {
      expect(wards.has(r.ward!)).toBe(true);
      expect(r.admission_month).toMatch(/^(2022-(0[1-9]|1[0-2])|2023-(0[1-9]|1[0-2]))$/);
      expect(r.adverse_event).toMatch(/^[01]$/);
    }
  });

  it('every cost has exactly two decimals and lies in 200.00..300000.00', () => {
    const costs = [...hospital.map((r) => r.cost_yuan!)];
    for (const [path, text] of files) if (path.startsWith('hospitals/')) costs.push(...readCsv(text).map((r) => r.cost_yuan!));
    for (const c of costs) {
      expect(c).toMatch(/^[0-9]+\.[0-9]{2}$/);
      const v = cents(c);
      expect(v >= 20000n && v <= 30000000n, c).toBe(true);
    }
  });

  it('adverse events are a few percent', () => {
    const rate = hospital.filter((r) => r.adverse_event === '1').length / hospital.length;
    expect(rate).toBeGreaterThan(0.01);
    expect(rate).toBeLessThan(0.1);
  });
});

/** Index of the last bin whose lower bound satisfies `ok`. */
function lastIndexAtMost(bins: readonly number[], ok: (b: number) => boolean): number {
  let i = -1;
  bins.forEach((b, j) => {
    if (ok(b)) i = j;
  });
  return i;
}

/** PSI truth recomputed from the CSV text alone. */
function recomputePsi(files: Map<string, string>) {
  const pharma = readCsv(files.get('pharma.csv')!);
  const hospital = readCsv(files.get('hospital.csv')!);
  const pKeys = new Set(pharma.map((r) => norm(r.resident_id!)));
  const hKeys = new Set(hospital.map((r) => norm(r.patient_id!)));
  const inter = new Set([...pKeys].filter((k) => hKeys.has(k)));
  let rows = 0;
  let sum = 0n;
  let adverse = 0;
  for (const r of hospital) {
    if (!inter.has(norm(r.patient_id!))) continue;
    rows++;
    sum += cents(r.cost_yuan!);
    adverse += Number(r.adverse_event);
  }
  return { pharmaRows: pharma.length, pharmaDistinctKeys: pKeys.size, hospitalRows: hospital.length, hospitalDistinctKeys: hKeys.size, intersectionSize: inter.size, intersectionHospitalRows: rows, intersectionCostSumYuan: yuan(sum), intersectionAdverseEvents: adverse, sum };
}

describe('truth.json', () => {
  it.each([
    { pharma: 2000, hospital: 5000, overlap: 0.3 },
    { pharma: 7, hospital: 10, overlap: 0.5 }, // round(3.5) = 4
    { pharma: 333, hospital: 333, overlap: 1 },
    { pharma: 250, hospital: 80, overlap: 0.32 }, // 80 = every hospital patient is in the programme
    { pharma: 400, hospital: 300, overlap: 0 },
  ])('honours the overlap exactly and matches a recomputation from the CSV: %o', (params) => {
    const { files, truth } = generateScenario({ ...params, hospitals: 1, rows: 10 });
    const fromFile = JSON.parse(files.get('truth.json')!) as Truth;
    expect(fromFile.psi).toEqual(truth.psi);
    const r = recomputePsi(files);
    expect(truth.psi.intersectionSize).toBe(Math.round(params.overlap * params.pharma));
    expect(truth.psi.pharmaDistinctKeys).toBe(params.pharma);
    expect(truth.psi.hospitalDistinctKeys).toBe(params.hospital);
    expect(truth.psi).toMatchObject({
      pharmaRows: r.pharmaRows,
      pharmaDistinctKeys: r.pharmaDistinctKeys,
      hospitalRows: r.hospitalRows,
      hospitalDistinctKeys: r.hospitalDistinctKeys,
      intersectionSize: r.intersectionSize,
      intersectionHospitalRows: r.intersectionHospitalRows,
      intersectionCostSumYuan: r.intersectionCostSumYuan,
      intersectionAdverseEvents: r.intersectionAdverseEvents,
    });
    if (r.intersectionHospitalRows > 0) {
      // Mean rounded half up to the cent.
      const n = BigInt(r.intersectionHospitalRows);
      expect(truth.psi.intersectionCostMeanPerAdmissionYuan).toBe(yuan((2n * r.sum + n) / (2n * n)));
    } else {
      expect(truth.psi.intersectionCostMeanPerAdmissionYuan).toBeNull();
    }
  });

  it('per-ward aggregation totals match a recomputation from the hospital files', () => {
    const { files, truth } = generateScenario({ hospitals: 5, rows: 600 });
    const byWard = new Map<string, { count: number; sum: bigint; adverse: number; los: number; age: number[]; cost: number[] }>();
    const sizes: number[] = [];
    for (let k = 1; k <= 5; k++) {
      const rows = readCsv(files.get(`hospitals/hospital-${k}.csv`)!);
      sizes.push(rows.length);
      for (const r of rows) {
        const s = byWard.get(r.ward!) ?? { count: 0, sum: 0n, adverse: 0, los: 0, age: AGE_BINS.map(() => 0), cost: COST_BINS_YUAN.map(() => 0) };
        s.count++;
        const c = cents(r.cost_yuan!);
        s.sum += c;
        s.adverse += Number(r.adverse_event);
        s.los += Number(r.length_of_stay_days);
        const age = Number(r.age);
        expect(Number.isInteger(age) && age >= 18 && age <= 100).toBe(true);
        expect(r.sex).toMatch(/^[MF]$/);
        s.age[lastIndexAtMost(AGE_BINS, (b) => age >= b)]! += 1;
        s.cost[lastIndexAtMost(COST_BINS_YUAN, (b) => c >= BigInt(b) * 100n)]! += 1;
        byWard.set(r.ward!, s);
      }
    }
    // Sizes differ, fall from 1.4 × rows to 0.6 × rows, and are what truth says.
    expect(sizes).toEqual([840, 720, 600, 480, 360]);
    expect(truth.aggregation.perHospital.map((h) => h.count)).toEqual(sizes);
    let total = 0n;
    for (const ward of truth.aggregation.wards) {
      const want = truth.aggregation.perWard[ward]!;
      const got = byWard.get(ward);
      expect(want.count).toBe(got?.count ?? 0);
      if (!got) continue;
      expect(want.costSumYuan).toBe(yuan(got.sum));
      expect(want.adverseEvents).toBe(got.adverse);
      expect(want.lengthOfStayDaysSum).toBe(got.los);
      expect(want.ageHistogram).toEqual(got.age);
      expect(want.costHistogram).toEqual(got.cost);
      total += got.sum;
    }
    expect([...byWard.keys()].every((w) => truth.aggregation.wards.includes(w))).toBe(true);
    expect(truth.aggregation.totals.costSumYuan).toBe(yuan(total));
    expect(truth.aggregation.totals.count).toBe(sizes.reduce((a, b) => a + b, 0));
  });

  it('--bom and --crlf change only the framing, not the records', () => {
    const plain = generateScenario({ pharma: 200, hospital: 300, hospitals: 2, rows: 50 });
    const framed = generateScenario({ pharma: 200, hospital: 300, hospitals: 2, rows: 50, bom: true, crlf: true });
    for (const [path, text] of plain.files) {
      if (!path.endsWith('.csv')) continue;
      const other = framed.files.get(path)!;
      expect(other.startsWith('\ufeff')).toBe(true);
      expect(other).toContain('\r\n');
      expect(readCsv(other)).toEqual(readCsv(text));
    }
    expect(framed.truth.psi).toEqual(plain.truth.psi);
  });

  it('rejects impossible parameters', () => {
    expect(() => generateScenario({ pharma: 100, hospital: 10, overlap: 0.5 })).toThrow(RangeError);
    expect(() => generateScenario({ overlap: 1.01 })).toThrow(RangeError);
    expect(() => generateScenario({ overlap: Number.NaN })).toThrow(RangeError);
    expect(() => generateScenario({ pharma: 0 })).toThrow(RangeError);
    expect(() => generateScenario({ seed: -1 })).toThrow(RangeError);
    expect(() => generateScenario({ hospitals: 51 })).toThrow(RangeError);
  });
});
