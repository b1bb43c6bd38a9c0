/**
 * `dataport trace --ledger DIR --identity DIR --file LEAKED.csv [--key COL] [--json]`: names the
 * fingerprinted release(s) and recipient a leaked table came from, with the false-accusation
 * probability, or says that it cannot tell (docs/trace.md); appends trace entries to the ledger.
 * @module
 */
import { InputError } from '../../errors.js';
import { readFile } from 'node:fs/promises';
import { sha256 } from '../../crypto/sha256.js';
import { releaseRecordOf, resultReleaseRecordOf, traceReceiptBody } from '../../ledger/release-records.js';
import { signOneSidedReceipt } from '../../ledger/receipt.js';
import { fingerprintSecretFromIdentity, matchResultRelease, numbersIn, traceTable, FINGERPRINT_DEFAULTS } from '../../protocols/fingerprint/index.js';
import type { ReleaseRecord, ResultReleaseRecord } from '../../protocols/fingerprint/index.js';
import { scanCsv } from '../../sources/csv-scan.js';
import { equalBytes, toHex } from '../../utils/bytes.js';
import { parseColumnList, parseCommandArgs, stringOption } from '../args.js';
import { loadIdentity, readTextFile } from '../identity-files.js';
import { openCliLedger } from '../ledger-wiring.js';
import { TRACE_MESSAGES as M } from '../messages.js';
import { createReporter } from '../summary.js';
import { MAX_RELEASE_ROWS, MAX_RESULT_FILE_BYTES } from './release.js';

const HELP = `usage: dataport trace --ledger DIR --identity DIR --file LEAKED.csv [--key COL[,COL]]
                      [--max-false-accusation P] [--json]

Checks a leaked table against every fingerprinted release in my ledger ('dataport release', or
payloads of 'dataport psi') and names the release(s) and recipient it came from, with the
probability that a file not from that release would score as well (the false-accusation
probability), or says that it cannot tell. Survives reordering, subsets, re-formatted numbers and
dates, renamed or dropped columns and rounding within the declared tolerance (docs/trace.md).
Result releases ('dataport release --result') are matched by their values instead: a file that
holds every released value (in any layout) or is the released file itself is reported with
"kind": "result" and no probability. Appends one trace entry per attributed or matched release
(or one 'unattributed' entry) to the ledger.

options:
  --ledger DIR            my ledger (holds the release entries)
  --identity DIR          my identity: the ledger's owner; the fingerprint keys derive from it
  --file LEAKED.csv       the leaked table (CSV with a header row)
  --key COL[,COL]         the leaked table's key column(s), when renamed (default: each
                          release's own key columns)
  --max-false-accusation P  attribute only at or below this probability (default 1e-6); the
                          probability is already multiplied by the number of releases checked
                          and of column assignments tried
  --json                  one JSON line on stdout: {"ok", "matches": [{"releaseId",
                          "recipient", "rowsMatched", "falseAccusationProbability", ...}], ...}
  --help                  this text

exit codes: 0 (whether attributed or not: see the output), 1 error, 2 usage`;

function parseThreshold(text: string | undefined): number {
  if (text === undefined) return FINGERPRINT_DEFAULTS.maxFalseAccusation;
  const p = /^[0-9.eE+-]+$/.test(text) ? Number(text) : Number.NaN;
  if (!(p >= 1e-30 && p <= 0.01)) throw new InputError(M.badThreshold(text));
  return p;
}

const fmt = (p: number): string => (p === 0 ? '< 1e-300' : p < 1e-3 ? p.toExponential(2) : p.toPrecision(3));

/**
 * Runs `dataport trace`; returns the exit code.
 * @example
 * ```ts
 * process.exitCode = await run(['--ledger', 'ledger', '--identity', 'me', '--file', 'leak.csv']);
 * ```
 */
export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs('trace', argv, {
    ledger: { type: 'string' },
    identity: { type: 'string' },
    file: { type: 'string' },
    key: { type: 'string' },
    'max-false-accusation': { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const ledgerDir = stringOption(values, 'ledger', true);
  const identityDir = stringOption(values, 'identity', true);
  const file = stringOption(values, 'file', true);
  const keyText = stringOption(values, 'key');
  const keyColumns = keyText === undefined ? undefined : parseColumnList(keyText, 'key');
  const threshold = parseThreshold(stringOption(values, 'max-false-accusation'));
  const out = createReporter(values.json === true);

  const identity = await loadIdentity(identityDir, out);
  const ledger = await openCliLedger(ledgerDir, identity);
  try {
    // Only my own release entries (one-sided, signed by me): a copied-in entry could name any key.
    const releases: ReleaseRecord[] = [];
    const resultReleases: ResultReleaseRecord[] = [];
    for (const r of await ledger.readReceipts()) {
      if (r.kind !== 'one-sided' || !equalBytes(r.signatures[0]!.publicKey, identity.publicKey)) continue;
      const table = releaseRecordOf(r);
      if (table) releases.push(table);
      const result = table ? undefined : resultReleaseRecordOf(r);
      if (result) resultReleases.push(result);
    }
    if (releases.length + resultReleases.length === 0) out.warn(M.noReleases(ledger.dir));
    const rows: string[][] = [];
    let header: string[] = [];
    let fileSha256: Uint8Array;
    let fileRows = 0;
    try {
      const scan = await scanCsv(file, { columns: [], all: true, lines: false }, (row) => {
        if (rows.length >= MAX_RELEASE_ROWS) throw new InputError(M.tooManyRows(file, MAX_RELEASE_ROWS));
        rows.push(row.all!);
      });
      header = scan.header;
      fileSha256 = scan.sha256;
      fileRows = scan.rows;
    } catch (err) {
      // A result file (JSON, a report) need not be a table: match it against result releases only.
      if (!(err instanceof InputError) || resultReleases.length === 0) throw err;
      out.warn(M.notReadAsTable(err.message));
      rows.length = 0;
      fileSha256 = sha256(new Uint8Array(await readFile(file)));
    }
    const secret = fingerprintSecretFromIdentity(identity.secretKey);
    const results = releases.length > 0 && header.length > 0 ? traceTable({ header, rows, releases, secret, maxFalseAccusation: threshold, ...(keyColumns ? { keyColumns } : {}) }) : [];
    const resultMatches: { record: ResultReleaseRecord; found: number; total: number; sameFile: boolean }[] = [];
    if (resultReleases.length > 0) {
      const numbers = numbersIn(await readTextFile(file, '--file', MAX_RESULT_FILE_BYTES).catch(() => ''));
      for (const record of resultReleases) {
        const m = matchResultRelease(record, numbers, fileSha256, secret);
        if (m.matched) resultMatches.push({ record, ...m });
      }
    }
    secret.fill(0);
    const hits = results.filter((r) => r.attributed);
    const at = Date.now();
    const entries: number[] = [];
    const traceHits = [
      ...hits.map((h) => ({ releaseId: h.releaseId, recipient: h.recipient, rowsMatched: h.agreements, falseAccusation: h.falseAccusationProbability as number | null })),
      ...resultMatches.map((m) => ({ releaseId: m.record.releaseId, recipient: m.record.recipient, rowsMatched: m.found, falseAccusation: null })),
    ];
    for (const hit of traceHits.length > 0 ? traceHits : [undefined]) {
      const body = traceReceiptBody({ owner: identity.publicKey, fileSha256, rows: fileRows, at, ...(hit ? { hit } : {}) });
      entries.push((await ledger.append(signOneSidedReceipt(identity, body))).index);
    }
    for (const r of results) if (r.unchecked !== undefined) out.warn(M.unchecked(toHex(r.releaseId), r.unchecked));
    for (const m of resultMatches) out.info(M.resultMatched(toHex(m.record.releaseId), toHex(m.record.recipient), m.found, m.total, m.sameFile));
    if (hits.length > 0) {
      for (const h of hits) out.info(M.attributed(toHex(h.releaseId), toHex(h.recipient), h.agreements, h.marksRead, fmt(h.falseAccusationProbability)));
    } else if (resultMatches.length === 0) {
      const best = results.find((r) => r.unchecked === undefined && r.marksRead > 0);
      out.info(M.cannotTell(results.length, fmt(threshold), best ? { releaseId: toHex(best.releaseId), agreements: best.agreements, marks: best.marksRead, p: fmt(best.falseAccusationProbability) } : undefined));
    }
    out.info(M.traceRecorded(entries.length, ledger.dir));
    out.json({
      ok: true,
      matches: [
        ...hits.map((h) => ({
          kind: 'table',
          releaseId: toHex(h.releaseId),
          recipient: toHex(h.recipient),
          rowsMatched: h.agreements,
          marksRead: h.marksRead,
          falseAccusationProbability: h.falseAccusationProbability,
          columns: h.columns,
        })),
        ...resultMatches.map((m) => ({
          kind: 'result',
          releaseId: toHex(m.record.releaseId),
          recipient: toHex(m.record.recipient),
          rowsMatched: m.found,
          valuesReleased: m.total,
          sameFile: m.sameFile,
          falseAccusationProbability: null,
        })),
      ],
      releasesChecked: results.length + resultReleases.length,
      maxFalseAccusation: threshold,
      fileSha256: toHex(fileSha256),
      rows: fileRows,
      ledgerEntries: entries,
    });
    return 0;
  } finally {
    identity.secretKey.fill(0);
    await ledger.close();
  }
}

