// Builds the whole synthetic scenario in memory: the pharma programme list, the hospital's
// admission table, K hospitals' per-admission tables for multi-party aggregation, and the ground
// truth. Pure apart from node:crypto hashing: no file or clock access, so it is deterministic.

import { createHash } from 'node:crypto';
import { createRng, expDet, MAX_SEED } from './prng.mjs';
import { residentIdCheckChar, normaliseKey, toFullWidth, parseResidentId } from './resident-id.mjs';
import {
  REFERENCE_DATE,
  WENZHOU_AREA_CODES,
  WARDS,
  SPECIALIST_WARDS,
  SPECIALIST_DROP_PROBABILITY,
  ADMISSIONS_PER_PATIENT,
  AGE_BINS,
  COST_BINS_YUAN,
  generateAdmission,
  drawAge,
  formatCents,
  meanCents,
} from './model.mjs';

/** Bump when the output for given parameters changes; recorded in truth.json. */
export const GENERATOR_VERSION = 1;

/** Defaults: a quick demo that runs in well under a second. */
export const DEFAULTS = Object.freeze({
  seed: 2023,
  pharma: 2000,
  hospital: 5000,
  overlap: 0.3,
  hospitals: 3,
  rows: 4000,
  bom: false,
  crlf: false,
});

/** Upper bounds: everything is built in memory (about 100 bytes per row). */
export const LIMITS = Object.freeze({ pharma: 2_000_000, hospital: 2_000_000, hospitals: 50, rows: 2_000_000 });

/**
 * Noise model, as exact proportions: for a proportion p of n candidate rows, exactly
 * Math.round(p * n) rows are chosen at random (so counts are exact, not "on average").
 * Selections are independent, so one row can carry several kinds of noise.
 */
export const NOISE = Object.freeze({
  pharma: Object.freeze({
    /** Distinct programme patients who get one extra (duplicate) row. Candidates: distinct patients. */
    duplicatePatients: 0.02,
    /** Rows whose ID is written in full-width characters. Candidates: all rows. */
    fullWidth: 0.02,
    /** Rows whose trailing X is written as x (or ｘ). Candidates: rows whose ID ends in X. */
    lowercaseX: 0.3,
    /** Rows whose ID has leading and/or trailing white space. Candidates: all rows. */
    whitespace: 0.05,
    /** Of the white-space rows, those padded with U+3000 IDEOGRAPHIC SPACE instead of U+0020. */
    ideographicSpace: 0.2,
    /** Rows whose ID field is wrapped in double quotes. Candidates: all rows. */
    quotedId: 0.01,
    /** Rows with a free-text note containing a comma (so the field is quoted). Candidates: all rows. */
    note: 0.01,
  }),
  hospital: Object.freeze({
    /** Rows whose trailing X is written as x. Candidates: rows whose ID ends in X. */
    lowercaseX: 0.2,
    /** Rows whose ID has one leading or trailing U+0020. Candidates: all rows. */
    whitespace: 0.01,
  }),
});

/** Synthetic free-text notes; every one has a comma, some have embedded double quotes. */
export const NOTES = Object.freeze([
  '复诊, 需随访',
  '转诊自外院, 资料已核实',
  '家属代办, 电话随访',
  '停药观察, 3个月后复查',
  '身份证末位"X"手写, 已更正',
  'enrolled by phone, consent form "B" on file',
]);

const ENROL_FIRST = Date.UTC(2021, 0, 1);
const ENROL_DAYS = Math.round((Date.UTC(2023, 10, 30) - ENROL_FIRST) / 86_400_000) + 1; // 2021-01-01..2023-11-30
const FIRST_MONTH = { year: 2022, month: 1 };
const MONTHS = 24; // admissions 2022-01..2023-12

/**
 * Checks and completes generator parameters (missing ones take DEFAULTS).
 *
 * Overlap is defined on distinct keys: the intersection has exactly
 * `Math.round(overlap * pharma)` patients, all of whom appear in hospital.csv; it must not exceed
 * the `hospital` patient count.
 *
 * @param {Partial<typeof DEFAULTS>} [params]
 * @example
 * resolveParams({ pharma: 100 }); // { seed: 2023, pharma: 100, hospital: 5000, ... }
 */
export function resolveParams(params = {}) {
  const p = { ...DEFAULTS, ...params };
  const intIn = (name, lo, hi) => {
    if (!Number.isSafeInteger(p[name]) || p[name] < lo || p[name] > hi) throw new RangeError(`${name} must be an integer in [${lo}, ${hi}], got ${p[name]}`);
  };
  intIn('seed', 0, MAX_SEED);
  intIn('pharma', 1, LIMITS.pharma);
  intIn('hospital', 1, LIMITS.hospital);
  intIn('hospitals', 1, LIMITS.hospitals);
  intIn('rows', 1, LIMITS.rows);
  if (typeof p.overlap !== 'number' || !(p.overlap >= 0 && p.overlap <= 1)) throw new RangeError(`overlap must be a number in [0, 1], got ${p.overlap}`);
  if (typeof p.bom !== 'boolean') throw new TypeError('bom must be a boolean');
  if (typeof p.crlf !== 'boolean') throw new TypeError('crlf must be a boolean');
  const intersection = Math.round(p.overlap * p.pharma);
  if (intersection > p.hospital) throw new RangeError(`overlap ${p.overlap} of ${p.pharma} programme patients is ${intersection}, more than the ${p.hospital} hospital patients`);
  return {
    seed: p.seed,
    pharma: p.pharma,
    hospital: p.hospital,
    overlap: p.overlap,
    hospitals: p.hospitals,
    rows: p.rows,
    bom: p.bom,
    crlf: p.crlf,
  };
}

/** RFC 4180 field: quoted when it holds a comma, quote or line break (or when forced). */
function csvField(s, force = false) {
  if (force || /[",\r\n]/.test(s)) return `"${s.replace(/"/g, '""')}"`;
  return s;
}

function pad2(n) {
  return n < 10 ? `0${n}` : String(n);
}

function dateFromDays(epochDay) {
  const d = new Date(epochDay * 86_400_000);
  return `${d.getUTCFullYear()}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}`;
}

function isLeap(y) {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}

/** Draws distinct clean adult resident IDs of Wenzhou-registered people. */
function createPopulation(rng) {
  const pickArea = rng.picker(
    WENZHOU_AREA_CODES.map((a) => a.code),
    WENZHOU_AREA_CODES.map((a) => a.weight),
  );
  const refYear = Number(REFERENCE_DATE.slice(0, 4));
  const seen = new Set();
  return (ageMean, ageSd) => {
    for (;;) {
      const age = drawAge(rng, ageMean, ageSd, 18, 100);
      // Born in refYear - age, any day of that year: aged exactly `age` on 31 December refYear.
      const year = refYear - age;
      const epochDay = Date.UTC(year, 0, 1) / 86_400_000 + rng.int(isLeap(year) ? 366 : 365);
      const birth = dateFromDays(epochDay).replace(/-/g, '');
      const male = rng.int(2) === 1;
      const sexDigit = 2 * rng.int(5) + (male ? 1 : 0); // odd = male, even = female
      const seq = `${pad2(rng.int(100))}${sexDigit}`;
      if (seq === '000') continue;
      const first17 = `${pickArea()}${birth}${seq}`;
      const id = first17 + residentIdCheckChar(first17);
      if (seen.has(id)) continue;
      seen.add(id);
      return id;
    }
  };
}

/** Joins CSV lines with the chosen line ending, with a final line ending and an optional BOM. */
function csvText(header, lines, { bom, crlf }) {
  const eol = crlf ? '\r\n' : '\n';
  return (bom ? '\ufeff' : '') + header + eol + (lines.length ? lines.join(eol) + eol : '');
}

function selfCheck(rendered, clean) {
  // The truth below is computed from the rendered files; this guards the promise that every noisy
  // form normalises to the clean ID.
  if (normaliseKey(rendered) !== clean.toLowerCase()) throw new Error(`internal error: noisy ID does not normalise to its clean form`);
}

function emptyStats() {
  return {
    count: 0,
    costSumCents: 0n,
    adverseEvents: 0,
    lengthOfStayDaysSum: 0,
    ageHistogram: AGE_BINS.map(() => 0),
    costHistogram: COST_BINS_YUAN.map(() => 0),
  };
}

function binIndex(bins, x) {
  let i = 0;
  while (i + 1 < bins.length && x >= bins[i + 1]) i++;
  return i;
}

function addStats(s, row) {
  s.count += 1;
  s.costSumCents += BigInt(row.costCents);
  s.adverseEvents += row.adverseEvent;
  s.lengthOfStayDaysSum += row.lengthOfStayDays;
  s.ageHistogram[binIndex(AGE_BINS, row.age)] += 1;
  // Bin on exact cents against yuan bounds without floating point.
  let i = 0;
  while (i + 1 < COST_BINS_YUAN.length && row.costCents >= COST_BINS_YUAN[i + 1] * 100) i++;
  s.costHistogram[i] += 1;
}

function statsJson(s) {
  return {
    count: s.count,
    costSumYuan: formatCents(s.costSumCents),
    costMeanYuan: meanCents(s.costSumCents, s.count),
    adverseEvents: s.adverseEvents,
    lengthOfStayDaysSum: s.lengthOfStayDaysSum,
    ageHistogram: s.ageHistogram,
    costHistogram: s.costHistogram,
  };
}

/**
 * Generates every file of the scenario and its ground truth, in memory.
 *
 * @param {Partial<typeof DEFAULTS>} [params]
 * @returns {{ params: ReturnType<typeof resolveParams>, files: Map<string, string>, truth: object }}
 *   `files` maps a relative path (POSIX separators) to its text, in a fixed order; truth.json is
 *   included as the last entry.
 * @example
 * const { files, truth } = generateScenario({ pharma: 100, hospital: 200, overlap: 0.5 });
 * files.get('pharma.csv'); // 'resident_id,enrolled_on,note\n...'
 * truth.psi.intersectionSize; // 50
 */
export function generateScenario(params = {}) {
  const P = resolveParams(params);
  const fmt = { bom: P.bom, crlf: P.crlf };
  const intersectionTarget = Math.round(P.overlap * P.pharma);

  // --- population -------------------------------------------------------------------------
  const popRng = createRng(P.seed, 'population');
  const newPerson = createPopulation(popRng);
  const pharmaIds = [];
  for (let i = 0; i < P.pharma; i++) pharmaIds.push(newPerson(60, 12)); // programme: older, chronic
  const hospitalOnlyIds = [];
  for (let i = 0; i < P.hospital - intersectionTarget; i++) hospitalOnlyIds.push(newPerson(55, 18));

  const overlapRng = createRng(P.seed, 'overlap');
  const inHospital = overlapRng.mask(P.pharma, intersectionTarget);
  const hospitalIds = hospitalOnlyIds.slice();
  for (let i = 0; i < P.pharma; i++) if (inHospital[i]) hospitalIds.push(pharmaIds[i]);

  // --- pharma.csv -------------------------------------------------------------------------
  const pharmaRng = createRng(P.seed, 'pharma');
  const enrolled = pharmaIds.map(() => dateFromDays(ENROL_FIRST / 86_400_000 + pharmaRng.int(ENROL_DAYS)));
  const duplicateCount = Math.round(NOISE.pharma.duplicatePatients * P.pharma);
  const dupMask = pharmaRng.mask(P.pharma, duplicateCount);
  /** @type {number[]} indexes into pharmaIds, one per row */
  const pharmaRows = [];
  for (let i = 0; i < P.pharma; i++) pharmaRows.push(i);
  for (let i = 0; i < P.pharma; i++) if (dupMask[i]) pharmaRows.push(i);
  pharmaRng.shuffle(pharmaRows);

  const pnRng = createRng(P.seed, 'pharma-noise');
  const nRows = pharmaRows.length;
  const fullMask = pnRng.mask(nRows, Math.round(NOISE.pharma.fullWidth * nRows));
  const xRows = [];
  for (let r = 0; r < nRows; r++) if (pharmaIds[pharmaRows[r]].endsWith('X')) xRows.push(r);
  const lowerSel = pnRng.mask(xRows.length, Math.round(NOISE.pharma.lowercaseX * xRows.length));
  const lowerMask = new Uint8Array(nRows);
  xRows.forEach((r, j) => (lowerMask[r] = lowerSel[j]));
  const wsCount = Math.round(NOISE.pharma.whitespace * nRows);
  const wsMask = pnRng.mask(nRows, wsCount);
  const wsRows = [];
  for (let r = 0; r < nRows; r++) if (wsMask[r]) wsRows.push(r);
  const ideoSel = pnRng.mask(wsRows.length, Math.round(NOISE.pharma.ideographicSpace * wsRows.length));
  const ideoMask = new Uint8Array(nRows);
  wsRows.forEach((r, j) => (ideoMask[r] = ideoSel[j]));
  const quoteMask = pnRng.mask(nRows, Math.round(NOISE.pharma.quotedId * nRows));
  const noteMask = pnRng.mask(nRows, Math.round(NOISE.pharma.note * nRows));

  const pharmaLines = [];
  const pharmaKeys = new Set();
  for (let r = 0; r < nRows; r++) {
    const clean = pharmaIds[pharmaRows[r]];
    let s = clean;
    if (lowerMask[r]) s = s.slice(0, 17) + 'x';
    if (fullMask[r]) s = toFullWidth(s);
    if (wsMask[r]) {
      const pad = (ideoMask[r] ? '\u3000' : ' ').repeat(1 + pnRng.int(2));
      const where = pnRng.int(3); // 0 leading, 1 trailing, 2 both
      s = (where !== 1 ? pad : '') + s + (where !== 0 ? pad : '');
    }
    selfCheck(s, clean);
    pharmaKeys.add(normaliseKey(s));
    const note = noteMask[r] ? NOTES[pnRng.int(NOTES.length)] : '';
    pharmaLines.push(`${csvField(s, quoteMask[r] === 1)},${enrolled[pharmaRows[r]]},${csvField(note)}`);
  }

  // --- hospital.csv -----------------------------------------------------------------------
  const hRng = createRng(P.seed, 'hospital');
  const pickWard = hRng.picker(WARDS, WARDS.map((w) => w.weight));
  const pickAdmissions = hRng.picker(ADMISSIONS_PER_PATIENT.values, ADMISSIONS_PER_PATIENT.weights);
  const hospitalRows = [];
  for (const id of hospitalIds) {
    const k = pickAdmissions();
    const monthMask = hRng.mask(MONTHS, k); // distinct months, in calendar order
    for (let m = 0; m < MONTHS; m++) {
      if (!monthMask[m]) continue;
      const w = pickWard();
      const a = generateAdmission(hRng, w);
      const total = FIRST_MONTH.month - 1 + m;
      const month = `${FIRST_MONTH.year + Math.floor(total / 12)}-${pad2((total % 12) + 1)}`;
      hospitalRows.push({ id, ward: w.ward, month, costCents: a.costCents, adverseEvent: a.adverseEvent });
    }
  }
  hRng.shuffle(hospitalRows);

  const hnRng = createRng(P.seed, 'hospital-noise');
  const hRowsN = hospitalRows.length;
  const hxRows = [];
  for (let r = 0; r < hRowsN; r++) if (hospitalRows[r].id.endsWith('X')) hxRows.push(r);
  const hLowerSel = hnRng.mask(hxRows.length, Math.round(NOISE.hospital.lowercaseX * hxRows.length));
  const hLowerMask = new Uint8Array(hRowsN);
  hxRows.forEach((r, j) => (hLowerMask[r] = hLowerSel[j]));
  const hWsMask = hnRng.mask(hRowsN, Math.round(NOISE.hospital.whitespace * hRowsN));

  const hospitalLines = [];
  const hospitalKeys = new Set();
  const hospitalKeyOfRow = [];
  for (let r = 0; r < hRowsN; r++) {
    const row = hospitalRows[r];
    let s = row.id;
    if (hLowerMask[r]) s = s.slice(0, 17) + 'x';
    if (hWsMask[r]) s = hnRng.int(2) === 0 ? ` ${s}` : `${s} `;
    selfCheck(s, row.id);
    const key = normaliseKey(s);
    hospitalKeys.add(key);
    hospitalKeyOfRow.push(key);
    hospitalLines.push(`${s},${row.ward},${row.month},${formatCents(row.costCents)},${row.adverseEvent}`);
  }

  // --- PSI truth, from the rendered keys --------------------------------------------------
  let intersectionSize = 0;
  for (const k of pharmaKeys) if (hospitalKeys.has(k)) intersectionSize++;
  if (intersectionSize !== intersectionTarget) throw new Error('internal error: intersection size differs from the overlap target');
  let iRows = 0;
  let iCost = 0n;
  let iAdverse = 0;
  const iPatientsWithAdverse = new Set();
  for (let r = 0; r < hRowsN; r++) {
    const key = hospitalKeyOfRow[r];
    if (!pharmaKeys.has(key)) continue;
    iRows++;
    iCost += BigInt(hospitalRows[r].costCents);
    iAdverse += hospitalRows[r].adverseEvent;
    if (hospitalRows[r].adverseEvent) iPatientsWithAdverse.add(key);
  }
  let allCost = 0n;
  let allAdverse = 0;
  for (const row of hospitalRows) {
    allCost += BigInt(row.costCents);
    allAdverse += row.adverseEvent;
  }

  // --- hospitals/hospital-k.csv -----------------------------------------------------------
  const aggFiles = [];
  const perWard = new Map(WARDS.map((w) => [w.ward, emptyStats()]));
  const totals = emptyStats();
  const perHospital = [];
  for (let k = 1; k <= P.hospitals; k++) {
    const rng = createRng(P.seed, `aggregation-${k}`);
    // Hospital 1 is the largest (a tertiary hospital with every ward); sizes fall linearly from
    // 1.4 × rows to 0.6 × rows, so the mean size is `rows`.
    const factor = P.hospitals === 1 ? 1 : 1.4 - (0.8 * (k - 1)) / (P.hospitals - 1);
    const size = Math.max(1, Math.round(P.rows * factor));
    const wards = WARDS.filter((w) => k === 1 || !SPECIALIST_WARDS.includes(w.ward) || rng.float() >= SPECIALIST_DROP_PROBABILITY);
    // Each hospital's case mix differs: base weights times a log-normal factor.
    const pick = rng.picker(wards, wards.map((w) => Math.max(1, Math.round(w.weight * 100 * expDet(0.3 * rng.normal())))));
    const stats = emptyStats();
    const lines = [];
    for (let i = 0; i < size; i++) {
      const w = pick();
      const sex = rng.int(2) === 1 ? 'M' : 'F';
      const age = drawAge(rng, w.ageMean, 14, 18, 100);
      const a = generateAdmission(rng, w);
      const row = { age, ...a };
      addStats(perWard.get(w.ward), row);
      addStats(totals, row);
      addStats(stats, row);
      lines.push(`${w.ward},${sex},${age},${a.lengthOfStayDays},${formatCents(a.costCents)},${a.adverseEvent}`);
    }
    const path = `hospitals/hospital-${k}.csv`;
    aggFiles.push([path, csvText('ward,sex,age,length_of_stay_days,cost_yuan,adverse_event', lines, fmt)]);
    perHospital.push({ file: path, wards: wards.map((w) => w.ward), ...statsJson(stats) });
  }

  // --- assemble ---------------------------------------------------------------------------
  const files = new Map();
  files.set('pharma.csv', csvText('resident_id,enrolled_on,note', pharmaLines, fmt));
  files.set('hospital.csv', csvText('patient_id,ward,admission_month,cost_yuan,adverse_event', hospitalLines, fmt));
  for (const [path, text] of aggFiles) files.set(path, text);

  const fileInfo = {};
  for (const [path, text] of files) {
    const bytes = Buffer.from(text, 'utf8');
    fileInfo[path] = { bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
  }

  const noiseCounts = {
    pharma: {
      rows: nRows,
      duplicateRows: duplicateCount,
      fullWidthRows: fullMask.reduce((a, b) => a + b, 0),
      rowsEndingInX: xRows.length,
      lowercaseXRows: lowerSel.reduce((a, b) => a + b, 0),
      whitespaceRows: wsCount,
      ideographicSpaceRows: ideoSel.reduce((a, b) => a + b, 0),
      quotedIdRows: quoteMask.reduce((a, b) => a + b, 0),
      noteRows: noteMask.reduce((a, b) => a + b, 0),
    },
    hospital: {
      rows: hRowsN,
      rowsEndingInX: hxRows.length,
      lowercaseXRows: hLowerSel.reduce((a, b) => a + b, 0),
      whitespaceRows: hWsMask.reduce((a, b) => a + b, 0),
    },
  };

  const truth = {
    generator: 'dataport seeds/generate.mjs',
    generatorVersion: GENERATOR_VERSION,
    syntheticData: true,
    params: P,
    referenceDate: REFERENCE_DATE,
    normalisation: "s.normalize('NFKC').trim().toLowerCase()",
    files: fileInfo,
    psi: {
      pharmaRows: nRows,
      pharmaDistinctKeys: pharmaKeys.size,
      hospitalRows: hRowsN,
      hospitalDistinctKeys: hospitalKeys.size,
      intersectionSize,
      intersectionHospitalRows: iRows,
      intersectionCostSumYuan: formatCents(iCost),
      intersectionCostMeanPerAdmissionYuan: meanCents(iCost, iRows),
      intersectionCostMeanPerPatientYuan: meanCents(iCost, intersectionSize),
      intersectionAdverseEvents: iAdverse,
      intersectionPatientsWithAdverseEvent: iPatientsWithAdverse.size,
      hospitalCostSumYuan: formatCents(allCost),
      hospitalAdverseEvents: allAdverse,
    },
    aggregation: {
      columns: ['ward', 'sex', 'age', 'length_of_stay_days', 'cost_yuan', 'adverse_event'],
      wards: WARDS.map((w) => w.ward),
      ageBins: AGE_BINS,
      costBinsYuan: COST_BINS_YUAN,
      perWard: Object.fromEntries([...perWard].map(([w, s]) => [w, statsJson(s)])),
      totals: statsJson(totals),
      perHospital,
    },
    noise: { rates: NOISE, counts: noiseCounts },
  };
  files.set('truth.json', JSON.stringify(truth, null, 2) + '\n');
  return { params: P, files, truth };
}

// Exported for tests and callers that validate IDs they read back.
export { parseResidentId };
