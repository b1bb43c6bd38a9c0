#!/usr/bin/env node
// Deterministic synthetic scenario data for dataport (see seeds/README.md).
//
//   node seeds/generate.mjs [--out DIR] [--seed N] [--pharma N] [--hospital N] [--overlap F]
//                           [--hospitals K] [--rows N] [--bom] [--crlf] [--help]
//
// Also a module: every generator function is exported (types in generate.d.mts).

import { mkdirSync, readdirSync, rmSync, writeFileSync, realpathSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DEFAULTS, LIMITS, generateScenario } from './lib/scenario.mjs';

export { createRng, expDet, MAX_SEED } from './lib/prng.mjs';
export { ID_WEIGHTS, ID_CHECK_CHARS, residentIdCheckChar, parseResidentId, ageOn, isValidAdultResidentId, normaliseKey, toFullWidth } from './lib/resident-id.mjs';
export {
  REFERENCE_DATE,
  WENZHOU_AREA_CODES,
  WARDS,
  SPECIALIST_WARDS,
  SPECIALIST_DROP_PROBABILITY,
  MIN_COST_CENTS,
  MAX_COST_CENTS,
  ADMISSIONS_PER_PATIENT,
  AGE_BINS,
  COST_BINS_YUAN,
  generateAdmission,
  drawAge,
  formatCents,
  meanCents,
} from './lib/model.mjs';
export { GENERATOR_VERSION, DEFAULTS, LIMITS, NOISE, NOTES, resolveParams, generateScenario } from './lib/scenario.mjs';

/** Default output directory: seeds/out next to this file (git-ignored). */
export const DEFAULT_OUT = join(dirname(fileURLToPath(import.meta.url)), 'out');

export const HELP = `Usage: node seeds/generate.mjs [options]

Writes deterministic, synthetic scenario data for dataport (no real person):
  pharma.csv                 programme list of resident IDs, with realistic noise
  hospital.csv               hospital admissions (patient_id, ward, month, cost, adverse event)
  hospitals/hospital-K.csv   per-admission rows of K hospitals for multi-party aggregation
  truth.json                 the ground truth dataport's results are compared with

Options:
  --out DIR        output directory                                  (default: seeds/out)
  --seed N         PRNG seed, integer 0..2^53-1                      (default: ${DEFAULTS.seed})
  --pharma N       distinct programme patients                       (default: ${DEFAULTS.pharma}, max ${LIMITS.pharma})
  --hospital N     distinct hospital patients                        (default: ${DEFAULTS.hospital}, max ${LIMITS.hospital})
  --overlap F      fraction of the programme treated at the hospital;
                   intersection = round(F * pharma) distinct patients (default: ${DEFAULTS.overlap})
  --hospitals K    hospitals in the aggregation example              (default: ${DEFAULTS.hospitals}, max ${LIMITS.hospitals})
  --rows N         mean rows per aggregation hospital (1.4N .. 0.6N)  (default: ${DEFAULTS.rows}, max ${LIMITS.rows})
  --bom            start every CSV file with a UTF-8 byte order mark (as Excel writes)
  --crlf           end CSV lines with CRLF instead of LF
  --help           show this text
`;

/**
 * Writes the scenario's files under `outDir` (created if needed). Stale
 * `hospitals/hospital-N.csv` files from an earlier run with more hospitals are removed; nothing
 * else in `outDir` is touched. truth.json is written last.
 *
 * @param {Partial<typeof DEFAULTS>} [params]
 * @param {string} [outDir]
 * @example
 * const { truth } = writeScenario({ seed: 7 }, '/tmp/dataport-seeds');
 */
export function writeScenario(params = {}, outDir = DEFAULT_OUT) {
  const { files, truth, params: resolved } = generateScenario(params);
  const out = resolve(outDir);
  mkdirSync(join(out, 'hospitals'), { recursive: true });
  for (const name of readdirSync(join(out, 'hospitals'))) {
    if (/^hospital-\d+\.csv$/.test(name) && !files.has(`hospitals/${name}`)) rmSync(join(out, 'hospitals', name));
  }
  const written = [];
  for (const [path, text] of files) {
    const target = join(out, ...path.split('/'));
    writeFileSync(target, text, 'utf8');
    written.push(target);
  }
  return { outDir: out, files: written, truth, params: resolved };
}

const INT = /^[0-9]+$/;
const FRACTION = /^(?:0|1|0?\.[0-9]+|[01]\.[0-9]*)$/;

/**
 * Parses command-line arguments into `{ help: true }` or `{ help: false, outDir, params }`.
 * Throws RangeError / TypeError with a one-line message on bad input.
 *
 * @param {string[]} argv arguments after the script name
 * @example
 * parseCliArgs(['--pharma', '100', '--overlap', '0.5']); // { help: false, outDir: '.../seeds/out', params: { pharma: 100, overlap: 0.5 } }
 */
export function parseCliArgs(argv) {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      out: { type: 'string' },
      seed: { type: 'string' },
      pharma: { type: 'string' },
      hospital: { type: 'string' },
      overlap: { type: 'string' },
      hospitals: { type: 'string' },
      rows: { type: 'string' },
      bom: { type: 'boolean' },
      crlf: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return { help: true };
  const params = {};
  for (const name of ['seed', 'pharma', 'hospital', 'hospitals', 'rows']) {
    const v = values[name];
    if (v === undefined) continue;
    if (!INT.test(v)) throw new RangeError(`--${name} must be a non-negative integer, got '${v}'`);
    params[name] = Number(v);
  }
  if (values.overlap !== undefined) {
    if (!FRACTION.test(values.overlap) || Number(values.overlap) > 1) throw new RangeError(`--overlap must be a number in [0, 1], got '${values.overlap}'`);
    params.overlap = Number(values.overlap);
  }
  if (values.bom) params.bom = true;
  if (values.crlf) params.crlf = true;
  return { help: false, outDir: values.out === undefined ? DEFAULT_OUT : values.out, params };
}

/**
 * The CLI: parses `argv`, writes the files, prints a summary; returns the exit code
 * (0 success, 2 usage error, 1 I/O error).
 *
 * @param {string[]} argv
 * @example
 * process.exitCode = main(['--seed', '1', '--out', '/tmp/seeds']);
 */
export function main(argv) {
  let parsed;
  try {
    parsed = parseCliArgs(argv); // ranges are checked by generateScenario
  } catch (e) {
    process.stderr.write(`seeds: ${oneLine(e)} (see --help)\n`);
    return 2;
  }
  if (parsed.help) {
    process.stdout.write(HELP);
    return 0;
  }
  let result;
  try {
    result = writeScenario(parsed.params, parsed.outDir);
  } catch (e) {
    const usage = e instanceof RangeError || e instanceof TypeError;
    process.stderr.write(`seeds: ${oneLine(e)}${usage ? ' (see --help)' : ''}\n`);
    return usage ? 2 : 1;
  }
  const { truth, outDir } = result;
  const t = truth.psi;
  process.stdout.write(
    `wrote ${result.files.length} files to ${outDir} (seed ${result.params.seed})\n` +
      `  pharma.csv    ${t.pharmaRows} rows, ${t.pharmaDistinctKeys} distinct IDs\n` +
      `  hospital.csv  ${t.hospitalRows} rows, ${t.hospitalDistinctKeys} distinct IDs\n` +
      `  intersection  ${t.intersectionSize} patients, ${t.intersectionHospitalRows} admissions, cost ${t.intersectionCostSumYuan} yuan, ${t.intersectionAdverseEvents} adverse events\n` +
      `  aggregation   ${truth.aggregation.perHospital.map((h) => h.count).join(' + ')} = ${truth.aggregation.totals.count} rows in ${truth.aggregation.perHospital.length} hospitals\n`,
  );
  return 0;
}

/** Error message on one line (node:util parseArgs messages span several). */
function oneLine(e) {
  return (e instanceof Error ? e.message : String(e)).replace(/\s*\n\s*/g, ' ');
}

function isMainModule() {
  if (!process.argv[1]) return false;
  try {
    return realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMainModule()) process.exitCode = main(process.argv.slice(2));
