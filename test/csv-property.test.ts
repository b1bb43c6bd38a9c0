/**
 * Property tests of the CSV reader: for any table of fields (commas, quotes, CR/LF, non-ASCII,
 * empty strings), any mix of line ends, an optional BOM and unneeded quoting, scanCsv returns the
 * fields as written and raw rows that concatenate back to the file exactly.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { scanCsv, type CsvRow } from '../src/sources/csv-scan.js';

const dir = mkdtempSync(join(tmpdir(), 'dataport-csvprop-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const fieldChar = fc.constantFrom('a', 'Z', '0', ' ', ',', '"', '\n', '\r', 'é', '中', '😀', '\t', 'x');
const field = fc.array(fieldChar, { maxLength: 6 }).map((cs) => cs.join(''));

function encodeField(f: string, forceQuote: boolean): string {
  return forceQuote || /[",\r\n]/.test(f) ? `"${f.replace(/"/g, '""')}"` : f;
}

describe('scanCsv (properties)', () => {
  it('round-trips fields and raw bytes', async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4 }).chain((cols) =>
          fc.record({
            header: fc.uniqueArray(fc.stringMatching(/^[a-z]{1,5}$/), { minLength: cols, maxLength: cols }),
            rows: fc.array(fc.array(field, { minLength: cols, maxLength: cols }), { minLength: 1, maxLength: 12 }),
            quote: fc.array(fc.boolean(), { minLength: 64, maxLength: 64 }),
            crlf: fc.boolean(),
            bom: fc.boolean(),
            finalNewline: fc.boolean(),
          }),
        ),
        async ({ header, rows, quote, crlf, bom, finalNewline }) => {
          // A one-column row whose only field is empty would be a blank line: quote it.
          const eol = crlf ? '\r\n' : '\n';
          const lines = [header.join(','), ...rows.map((r, i) => r.map((f, j) => encodeField(f, quote[(i * 7 + j) % 64]! || (r.length === 1 && f === ''))).join(','))];
          const text = (bom ? '\uFEFF' : '') + lines.join(eol) + (finalNewline ? eol : '');
          const path = join(dir, `p${n++}.csv`);
          writeFileSync(path, text);
          const got: CsvRow[] = [];
          const res = await scanCsv(path, { columns: header, raw: true }, (r) => {
            got.push(r);
          });
          expect(res.header).toEqual(header);
          expect(got.map((r) => r.values)).toEqual(rows);
          const dec = new TextDecoder('utf-8', { ignoreBOM: true });
          expect(dec.decode(res.headerRaw) + got.map((r) => dec.decode(r.raw)).join('')).toBe(text);
        },
      ),
      { numRuns: 150 },
    );
  });
});
