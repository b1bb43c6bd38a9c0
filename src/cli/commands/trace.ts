/**
 * `dataport trace --ledger DIR --identity DIR --file LEAKED.csv [--key COL] [--json]`: names the
 * fingerprinted release(s) and recipient a leaked table came from, with the false-accusation
 * probability, or says that it cannot tell (docs/trace.md); appends trace entries to the ledger.
 * @module
 */
import { InputError } from '../../errors.js';
import { releaseRecordOf, traceReceiptBody } from '../../ledger/release-records.js';
import { signOneSidedReceipt } from '../../ledger/receipt.js';
import type { UsageReceipt } from '../../ledger/receipt-types.js';
import { fingerprintSecretFromIdentity, traceTable, FINGERPRINT_DEFAULTS } from '../../protocols/fingerprint/index.js';
import type { ReleaseRecord } from '../../protocols/fingerprint/index.js';
import { scanCsv } from '../../sources/csv-scan.js';
import { equalBytes, toHex } from '../../utils/bytes.js';
import { parseColumnList, parseCommandArgs, stringOption } from '../args.js';
import { loadIdentity } from '../identity-files.js';
import { openCliLedger } from '../ledger-wiring.js';
import { TRACE_MESSAGES as M } from '../messages.js';
import { createReporter } from '../summary.js';
import { MAX_RELEASE_ROWS } from './release.js';

const HELP = `usage: dataport trace --ledger DIR --identity DIR --file LEAKED.csv [--key COL[,COL]]
                      [--max-false-accusation P] [--json]

Checks a leaked table against every fingerprinted release in my ledger ('dataport release', or
payloads of 'dataport psi') and names the release(s) and recipient it came from, with the
probability that a file not from that release would score as well (the false-accusation
probability), or says that it cannot tell. Survives reordering, subsets, re-formatted numbers and
dates, renamed or dropped columns and rounding within the declared tolerance (docs/trace.md).
Appends one trace entry per attributed release (or one 'unattributed' entry) to the ledger.

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
    for (const r of await ledger.readReceipts()) {
      const record = ownRelease(r, identity.publicKey);
      if (record) releases.push(record);
    }
    const rows: string[][] = [];
    const scan = await scanCsv(file, { columns: [], all: true, lines: false }, (row) => {
      if (rows.length >= MAX_RELEASE_ROWS) throw new InputError(M.tooManyRows(file, MAX_RELEASE_ROWS));
      rows.push(row.all!);
    });
    if (releases.length === 0) out.warn(M.noReleases(ledger.dir));
    const secret = fingerprintSecretFromIdentity(identity.secretKey);
    const results = traceTable({ header: scan.header, rows, releases, secret, maxFalseAccusation: threshold, ...(keyColumns ? { keyColumns } : {}) });
    secret.fill(0);
    const hits = results.filter((r) => r.attributed);
    const at = Date.now();
    const entries: number[] = [];
    for (const hit of hits.length > 0 ? hits : [undefined]) {
      const body = traceReceiptBody({
        owner: identity.publicKey,
        fileSha256: scan.sha256,
        rows: scan.rows,
        at,
        ...(hit ? { hit: { releaseId: hit.releaseId, recipient: hit.recipient, rowsMatched: hit.agreements, falseAccusation: hit.falseAccusationProbability } } : {}),
      });
      entries.push((await ledger.append(signOneSidedReceipt(identity, body))).index);
    }
    for (const r of results) if (r.unchecked !== undefined) out.warn(M.unchecked(toHex(r.releaseId), r.unchecked));
    if (hits.length > 0) {
      for (const h of hits) out.info(M.attributed(toHex(h.releaseId), toHex(h.recipient), h.agreements, h.marksRead, fmt(h.falseAccusationProbability)));
    } else {
      const best = results.find((r) => r.unchecked === undefined && r.marksRead > 0);
      out.info(M.cannotTell(results.length, fmt(threshold), best ? { releaseId: toHex(best.releaseId), agreements: best.agreements, marks: best.marksRead, p: fmt(best.falseAccusationProbability) } : undefined));
    }
    out.info(M.traceRecorded(entries.length, ledger.dir));
    out.json({
      ok: true,
      matches: hits.map((h) => ({
        releaseId: toHex(h.releaseId),
        recipient: toHex(h.recipient),
        rowsMatched: h.agreements,
        marksRead: h.marksRead,
        falseAccusationProbability: h.falseAccusationProbability,
        columns: h.columns,
      })),
      releasesChecked: results.length,
      maxFalseAccusation: threshold,
      fileSha256: toHex(scan.sha256),
      rows: scan.rows,
      ledgerEntries: entries,
    });
    return 0;
  } finally {
    identity.secretKey.fill(0);
    await ledger.close();
  }
}

function ownRelease(receipt: UsageReceipt, owner: Uint8Array): ReleaseRecord | undefined {
  if (receipt.kind !== 'one-sided' || !equalBytes(receipt.signatures[0]!.publicKey, owner)) return undefined;
  return releaseRecordOf(receipt);
}
