/**
 * Usage and billing reports from ledger entries (DESIGN.md §7): per counterparty, per protocol or
 * per month, as a table, CSV or JSON.
 * @module
 */
import { equalBytes, toBase64 } from '../utils/bytes.js';
import type { UsageReceipt } from './receipt-types.js';
import { csvCell } from '../utils/csv-cell.js';
import { isRunReceipt } from './release-records.js';

/**
 * How rows are grouped.
 * @example
 * ```ts
 * const by: ReportGrouping = 'month';
 * ```
 */
export type ReportGrouping = 'counterparty' | 'protocol' | 'month' | 'security';
/**
 * Output formats of {@link formatUsageReport}.
 * @example
 * ```ts
 * const format: ReportFormat = 'csv';
 * ```
 */
export type ReportFormat = 'table' | 'csv' | 'json';

/**
 * One row of a usage report.
 * @example
 * ```ts
 * for (const row of buildUsageReport(receipts, { by: 'protocol' })) console.log(row.key, row.runs);
 * ```
 */
export interface UsageReportRow {
  /**
   * The counterparty's base64 public key, the protocol, `YYYY-MM` (UTC, from `startedAt`), or the
   * protocol and its signed security model (`ecdh-psi semi-honest`; `unrecorded` in receipts
   * from before the model was recorded; SECURITY.md §1.2).
   */
  key: string;
  runs: number;
  /**
   * Runs per outcome (`completed`, `withheld`, `refused`, `failed`, `aborted-after-data` — one-sided
   * entries of runs aborted after protocol data flowed —, or others as recorded).
   */
  outcomes: Record<string, number>;
  /** Sum of input sizes. */
  recordsIn: number;
  /** Sum of released output sizes. */
  recordsOut: number;
  bytesExchanged: number;
  computeMs: number;
  /** Co-signed billed amounts (receipt `billing`) in minor units, per currency. */
  billed: Record<string, number>;
}

/**
 * Options of {@link buildUsageReport}.
 * @example
 * ```ts
 * buildUsageReport(receipts, { by: 'counterparty', owner: myKey });
 * ```
 */
export interface UsageReportOptions {
  by: ReportGrouping;
  /** The ledger owner's key: excluded from counterparties (default: every party is one). */
  owner?: Uint8Array;
}

function add(map: Record<string, number>, key: string, n: number): void {
  map[key] = (Object.prototype.hasOwnProperty.call(map, key) ? map[key]! : 0) + n;
}

/**
 * Aggregates entries into report rows, sorted by key. With `by: 'counterparty'` a run with two
 * counterparties counts in both rows.
 * @example
 * ```ts
 * const rows = buildUsageReport(await ledger.readReceipts(), { by: 'month' });
 * ```
 */
export function buildUsageReport(receipts: Iterable<UsageReceipt>, options: UsageReportOptions): UsageReportRow[] {
  // Keyed by strings built from co-signed receipt fields (hex keys, protocol names, months): V8
  // hashes strings with a per-process random seed, and one row per distinct key is the output anyway.
  const rows = new Map<string, UsageReportRow>();
  for (const r of receipts) {
    if (!isRunReceipt(r)) continue; // release and trace records are not runs
    const b = r.body;
    // The co-signed amount (both parties signed the body that holds it).
    const billed = b.billing;
    let keys: string[];
    if (options.by === 'protocol') keys = [b.protocol];
    else if (options.by === 'month') {
      const d = new Date(b.startedAt);
      keys = [Number.isNaN(d.getTime()) ? 'out-of-range' : d.toISOString().slice(0, 7)];
    }
    else if (options.by === 'security') keys = [`${b.protocol} ${b.options['security'] ?? 'unrecorded'}`];
    else if (options.by === 'counterparty') {
      keys = b.parties.filter((p) => !(options.owner && equalBytes(p.publicKey, options.owner))).map((p) => toBase64(p.publicKey));
    } else throw new RangeError("options.by must be 'counterparty', 'protocol', 'month' or 'security'");
    for (const key of keys) {
      let row = rows.get(key);
      if (!row) {
        row = { key, runs: 0, outcomes: {}, recordsIn: 0, recordsOut: 0, bytesExchanged: 0, computeMs: 0, billed: {} };
        rows.set(key, row);
      }
      row.runs++;
      add(row.outcomes, b.outcome, 1);
      for (const n of Object.values(b.inputSizes)) row.recordsIn += n;
      for (const n of Object.values(b.outputSizes)) row.recordsOut += n;
      row.bytesExchanged += b.bytesExchanged;
      row.computeMs += b.computeMs;
      if (billed) add(row.billed, billed.currency, billed.amountMinor);
    }
  }
  return [...rows.values()].sort((x, y) => (x.key < y.key ? -1 : x.key > y.key ? 1 : 0));
}

const COLUMNS = ['runs', 'completed', 'withheld', 'refused', 'failed', 'aborted', 'records_in', 'records_out', 'bytes', 'compute_ms', 'billed'] as const;

function cells(row: UsageReportRow): string[] {
  const o = (k: string): string => String(row.outcomes[k] ?? 0);
  const billed = Object.keys(row.billed)
    .sort()
    .map((c) => `${c} ${row.billed[c]}`)
    .join('; ');
  return [
    String(row.runs),
    o('completed'),
    o('withheld'),
    o('refused'),
    o('failed'),
    o('aborted-after-data'),
    String(row.recordsIn),
    String(row.recordsOut),
    String(row.bytesExchanged),
    String(row.computeMs),
    billed,
  ];
}

/**
 * Keys come from signed receipts, i.e. from peers: never let them drive a terminal. Replaces
 * control characters (C0, C1, line and paragraph separators) with U+FFFD.
 * @example
 * ```ts
 * console.log(printable(receipt.body.protocol));
 * ```
 */
export function printable(s: string): string {
  return s.replace(/[\x00-\x1f\x7f-\x9f\u2028\u2029]/g, '\uFFFD');
}


/**
 * Renders report rows. `table`: aligned columns for a terminal; `csv`: RFC 4180 with a header
 * row (amounts in minor units); `json`: `{ by, rows }`. Billed amounts are in minor units.
 * `labels` (base64 key → operator's name), with `by` counterparty: the table shows the label in
 * place of a known key, the CSV adds a `label` column, the JSON a `label` field; unknown keys stay base64.
 * @example
 * ```ts
 * console.log(formatUsageReport(rows, 'month', 'table'));
 * ```
 */
export function formatUsageReport(
  rows: readonly UsageReportRow[],
  by: ReportGrouping,
  format: ReportFormat,
  labels?: ReadonlyMap<string, string>,
): string {
  // Operator labels of counterparty keys (`ledger report --names/--keys`); unknown keys stay base64.
  const label = (r: UsageReportRow): string | undefined => (by === 'counterparty' ? labels?.get(r.key) : undefined);
  const labelled = by === 'counterparty' && labels !== undefined;
  if (format === 'json') return JSON.stringify({ by, rows: labelled ? rows.map((r) => (label(r) !== undefined ? { ...r, label: label(r) } : r)) : rows }, null, 2);
  const header = [by, ...COLUMNS];
  if (format === 'csv') {
    const head = labelled ? [by, 'label', ...COLUMNS] : header;
    const lines = rows.map((r) => (labelled ? [r.key, label(r) ?? '', ...cells(r)] : [r.key, ...cells(r)]));
    return [head, ...lines].map((line) => line.map(csvCell).join(',')).join('\r\n') + '\r\n';
  }
  if (format !== 'table') throw new RangeError("format must be 'table', 'csv' or 'json'");
  const body = rows.map((r) => [printable(label(r) ?? r.key), ...cells(r)]);
  const total: UsageReportRow = { key: 'TOTAL', runs: 0, outcomes: {}, recordsIn: 0, recordsOut: 0, bytesExchanged: 0, computeMs: 0, billed: {} };
  // Totals are not meaningful per counterparty (a run can count twice); only per protocol / month.
  if (by !== 'counterparty' && rows.length > 0) {
    for (const r of rows) {
      total.runs += r.runs;
      for (const [k, n] of Object.entries(r.outcomes)) add(total.outcomes, k, n);
      total.recordsIn += r.recordsIn;
      total.recordsOut += r.recordsOut;
      total.bytesExchanged += r.bytesExchanged;
      total.computeMs += r.computeMs;
      for (const [c, n] of Object.entries(r.billed)) add(total.billed, c, n);
    }
    body.push(['TOTAL', ...cells(total)]);
  }
  const all = [header, ...body];
  const widths = header.map((_, i) => Math.max(...all.map((line) => line[i]!.length)));
  return all.map((line) => line.map((c, i) => (i === 0 || i === line.length - 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd()).join('\n') + '\n';
}
