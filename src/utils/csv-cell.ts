/**
 * One CSV cell for output meant for people and spreadsheets: RFC 4180 quoting, plus a leading `'`
 * on a cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, CR). Shared by every
 * CSV the CLI writes from data (ledger reports, aggregation results).
 * @module
 */

/**
 * Quotes `s` as one CSV cell.
 *
 * @example
 * ```ts
 * csvCell('a,b'); // '"a,b"'
 * csvCell('=1+1'); // "'=1+1"
 * ```
 */
export function csvCell(s: string): string {
  let v = /^[=+\-@\t\r]/.test(s) ? `'${s}` : s;
  if (/[",\r\n]/.test(v)) v = `"${v.replace(/"/g, '""')}"`;
  return v;
}
