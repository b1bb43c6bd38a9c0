/**
 * `dataport release --input FILE --key COL --columns COL,… --tolerance COL=TOL,… --recipient-key FILE
 * --identity DIR --ledger DIR --out FILE`: delivers columns of a CSV file to one known recipient,
 * fingerprinted for that recipient (docs/trace.md), and appends the release entry to the ledger.
 * The fingerprint key is derived from the identity key (never written anywhere); the ledger gets
 * only a commitment to it.
 * @module
 */
import { readFile } from 'node:fs/promises';
import { InputError } from '../../errors.js';
import { releaseReceiptBody, resultReleaseReceiptBody } from '../../ledger/release-records.js';
import { signOneSidedReceipt } from '../../ledger/receipt.js';
import { fingerprintRelease, fingerprintSecretFromIdentity, resultRelease, FINGERPRINT_DEFAULTS, MAX_GAMMA, MAX_RESULT_VALUES } from '../../protocols/fingerprint/index.js';
import { aggregateResultRows, type AggregateResult } from '../../protocols/aggregate/index.js';
import { sha256 } from '../../crypto/sha256.js';
import { parseTolerance } from '../../protocols/fingerprint/values.js';
import { scanCsv } from '../../sources/csv-scan.js';
import { toHex, utf8 } from '../../utils/bytes.js';
import { intOption, parseColumnList, parseCommandArgs, purposeOption, stringListOption, stringOption } from '../args.js';
import type { ParsedOptions } from '../args.js';
import { openAtomicOutput } from '../files.js';
import { loadIdentity, loadPeerKey, readTextFile } from '../identity-files.js';
import { openCliLedger } from '../ledger-wiring.js';
import { TRACE_MESSAGES as M } from '../messages.js';
import { createReporter } from '../summary.js';

const HELP = `usage: dataport release --input FILE.csv --key COL[,COL] --columns COL[,COL...]
                        --tolerance COL=TOL[,COL=TOL...] --recipient-key FILE
                        --identity DIR --ledger DIR --out FILE [--purpose TEXT]
                        [--gamma N] [--force] [--json]
       dataport release --result RESULT --recipient-key FILE --identity DIR --ledger DIR
                        [--purpose TEXT] [--json]

Delivers the --key and --columns of FILE.csv to one recipient, fingerprinted for that recipient:
about one row in N (--gamma, default ${FINGERPRINT_DEFAULTS.gamma}) carries one bit of a fingerprint
derived from a fresh release key and the recipient's public key, in one of the columns given a
tolerance. 'dataport trace' later names the recipient of a leaked copy (docs/trace.md).

options:
  --input FILE.csv      the table to deliver (CSV with a header row)
  --key COL[,COL]       the primary key: marks are keyed by it; delivered unchanged
  --columns COL,...     the columns delivered after the key
  --tolerance COL=TOL   how far a value may move: a decimal step for numbers (cost=0.01,
                        stay_days=1) or whole days for dates (visit_date=1d). Only these
                        columns carry marks; each of their values is delivered on the TOL grid
                        (within TOL/2, a marked one within TOL); dates are delivered as ISO
                        dates. Comma list or repeated
  --recipient-key FILE  the recipient's identity.pub
  --identity DIR        my identity: signs the ledger entry; the fingerprint keys derive from it
                        (keep identity.key: without it, releases cannot be traced)
  --ledger DIR          my ledger: gets the release entry (release id, recipient, columns,
                        tolerances, a commitment to the fingerprint key; never a value)
  --out FILE            the fingerprinted file to hand over (refused if it exists, unless --force)
  --purpose TEXT        the purpose / authorisation reference recorded with the release
  --gamma N             one row in N carries a mark (1..${MAX_GAMMA}, default ${FINGERPRINT_DEFAULTS.gamma})
  --result RESULT       instead: record the release of an aggregate result file ('aggregate
                        analyst --output', JSON, CSV or table) handed over as it is. A result is
                        too few numbers to fingerprint: the entry holds keyed tags of its values
                        (at most ${MAX_RESULT_VALUES}) and the file's SHA-256, and 'trace' matches a leaked copy
                        by them (the same numbers, in any layout)
  --json                one JSON line on stdout: {"ok", "releaseId", "recipient", "rows",
                        "markedCells", "ledgerIndex", "out"} (--result: "values" instead of
                        "rows", "markedCells" and "out")
  --help                this text`;

/** Most rows one release holds in memory. */
export const MAX_RELEASE_ROWS = 5_000_000;

/** RFC 4180 quoting only: a delivered file holds data, so cells are not altered for spreadsheets. */
function csvField(s: string): string {
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/**
 * `--tolerance` values (comma lists, repeatable) as a column → tolerance map; `flags` names the
 * options in messages (`dataport psi` uses `--payload-tolerance` over `--payload`).
 */
export function parseToleranceOption(
  items: readonly string[],
  columns: readonly string[],
  keys: readonly string[],
  flags: { tolerance: string; columns: string } = { tolerance: 'tolerance', columns: 'columns' },
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items.flatMap((i) => i.split(','))) {
    const eq = item.lastIndexOf('=');
    if (eq <= 0) throw new InputError(M.badTolerance(item, 'expected COL=TOL', flags.tolerance));
    const col = item.slice(0, eq).trim();
    const tol = item.slice(eq + 1).trim();
    if (keys.includes(col)) throw new InputError(M.toleranceOnKey(col, flags.tolerance));
    if (!columns.includes(col)) throw new InputError(M.toleranceNotReleased(col, flags.tolerance, flags.columns));
    try {
      parseTolerance(tol);
    } catch (err) {
      throw new InputError(M.badTolerance(item, (err as Error).message, flags.tolerance));
    }
    out[col] = tol;
  }
  if (Object.keys(out).length === 0) throw new InputError(M.noTolerance(flags.tolerance, flags.columns));
  return out;
}

/**
 * Runs `dataport release`; returns the exit code.
 * @example
 * ```ts
 * process.exitCode = await run(['--input', 'wards.csv', '--key', 'id', '--columns', 'cost', '--tolerance', 'cost=0.01', …]);
 * ```
 */
export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs('release', argv, {
    input: { type: 'string' },
    key: { type: 'string' },
    columns: { type: 'string' },
    tolerance: { type: 'string', multiple: true },
    'recipient-key': { type: 'string' },
    identity: { type: 'string' },
    ledger: { type: 'string' },
    out: { type: 'string' },
    purpose: { type: 'string' },
    gamma: { type: 'string' },
    result: { type: 'string' },
    force: { type: 'boolean' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (values.result !== undefined) return releaseResult(values);
  const input = stringOption(values, 'input', true);
  const keys = parseColumnList(stringOption(values, 'key', true), 'key');
  const columns = parseColumnList(stringOption(values, 'columns', true), 'columns');
  for (const c of columns) if (keys.includes(c)) throw new InputError(M.keyInColumns(c));
  const tolerance = parseToleranceOption(stringListOption(values, 'tolerance'), columns, keys);
  const recipientFile = stringOption(values, 'recipient-key', true);
  const identityDir = stringOption(values, 'identity', true);
  const ledgerDir = stringOption(values, 'ledger', true);
  const outPath = stringOption(values, 'out', true);
  const purpose = purposeOption(values) ?? '';
  const gamma = intOption(values, 'gamma', 1, MAX_GAMMA, FINGERPRINT_DEFAULTS.gamma);
  const out = createReporter(values.json === true);

  const recipient = await loadPeerKey(recipientFile);
  const identity = await loadIdentity(identityDir, out);
  const ledger = await openCliLedger(ledgerDir, identity);
  try {
    const output = await openAtomicOutput(outPath, { force: values.force === true });
    try {
      const header = [...keys, ...columns];
      const rows: string[][] = [];
      await scanCsv(input, { columns: header, lines: false }, (row) => {
        if (rows.length >= MAX_RELEASE_ROWS) throw new InputError(M.tooManyRows(input, MAX_RELEASE_ROWS));
        rows.push(row.values);
      });
      const secret = fingerprintSecretFromIdentity(identity.secretKey);
      const release = fingerprintRelease({ header, rows, keyColumns: keys, columns, tolerance, recipient, secret, gamma });
      secret.fill(0);
      rows.length = 0;
      const chunk: string[] = [`${header.map(csvField).join(',')}\n`];
      for (const row of release.rows) {
        chunk.push(`${row.map(csvField).join(',')}\n`);
        if (chunk.length >= 4096) await output.write(utf8(chunk.splice(0).join('')));
      }
      await output.write(utf8(chunk.join('')));
      // The entry first, then the file: a delivered file is never without its release entry.
      const body = releaseReceiptBody(release.record, { owner: identity.publicKey, sourceProtocol: 'file', purpose });
      const { index } = await ledger.append(signOneSidedReceipt(identity, body));
      await output.commit();
      const releaseId = toHex(release.record.releaseId);
      out.info(M.released(release.record.rows, release.marked, outPath, releaseId, index, ledger.dir));
      out.json({ ok: true, releaseId, recipient: toHex(recipient), rows: release.record.rows, markedCells: release.marked, ledgerIndex: index, out: outPath });
      return 0;
    } catch (err) {
      await output.abort();
      if (err instanceof RangeError) throw new InputError(err.message);
      throw err;
    }
  } finally {
    identity.secretKey.fill(0);
    await ledger.close();
  }
}

/** Largest result file read by `--result` (and matched by `trace`). */
export const MAX_RESULT_FILE_BYTES = 16 << 20;

/**
 * The released values of a result file: the value cells of a JSON result (`aggregateResultRows`),
 * else the last field of each line after the header (the CSV and table formats).
 */
export function resultFileValues(text: string): string[] {
  try {
    const parsed = JSON.parse(text) as AggregateResult;
    if (parsed !== null && typeof parsed === 'object' && Array.isArray(parsed.groups)) return aggregateResultRows(parsed).map((r) => r[4]!);
  } catch {
    // not JSON: CSV or table
  }
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  return lines.slice(1).map((l) => l.trim().split(l.includes(',') ? ',' : /\s{2,}/).pop()!.replace(/^"|"$/g, ''));
}

async function releaseResult(values: ParsedOptions): Promise<number> {
  for (const flag of ['input', 'key', 'columns', 'tolerance', 'out', 'gamma', 'force']) {
    if (values[flag] !== undefined) throw new InputError(M.resultExcludes(flag));
  }
  const file = stringOption(values, 'result', true);
  const recipient = await loadPeerKey(stringOption(values, 'recipient-key', true));
  const identityDir = stringOption(values, 'identity', true);
  const ledgerDir = stringOption(values, 'ledger', true);
  const purpose = purposeOption(values) ?? '';
  const out = createReporter(values.json === true);
  const text = await readTextFile(file, '--result', MAX_RESULT_FILE_BYTES);
  const identity = await loadIdentity(identityDir, out);
  const ledger = await openCliLedger(ledgerDir, identity);
  try {
    const secret = fingerprintSecretFromIdentity(identity.secretKey);
    let record;
    try {
      record = resultRelease({ values: resultFileValues(text), recipient, secret, fileSha256: sha256(new Uint8Array(await readFile(file))) });
    } catch (err) {
      throw new InputError(M.badResult(file, (err as Error).message));
    } finally {
      secret.fill(0);
    }
    const { index } = await ledger.append(signOneSidedReceipt(identity, resultReleaseReceiptBody(record, { owner: identity.publicKey, sourceProtocol: 'aggregate', purpose })));
    const releaseId = toHex(record.releaseId);
    const count = record.valueTags.length / 4;
    out.info(M.resultReleased(file, count, releaseId, index, ledger.dir));
    out.json({ ok: true, releaseId, recipient: toHex(recipient), values: count, ledgerIndex: index });
    return 0;
  } finally {
    identity.secretKey.fill(0);
    await ledger.close();
  }
}
