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
          // Without line numbers the scanner finds the row boundaries itself: the same bytes.
          const fast: CsvRow[] = [];
          const resFast = await scanCsv(path, { columns: header, raw: true, lines: false }, (r) => {
            fast.push(r);
          });
          expect(resFast.headerRaw).toEqual(res.headerRaw);
          expect(fast.map((r) => r.values)).toEqual(rows);
          expect(fast.map((r) => r.raw)).toEqual(got.map((r) => r.raw));
        },
      ),
      { numRuns: 150 },
    );
  });

  it('finds the same raw rows as the parser with blank lines, mixed line ends and a bare-CR file', async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          rows: fc.array(fc.tuple(field, field), { minLength: 1, maxLength: 10 }),
          blanks: fc.array(fc.constantFrom('', '\n', '\r\n', '\n\n'), { minLength: 12, maxLength: 12 }),
          eol: fc.constantFrom('\n', '\r\n', '\r'),
          finalNewline: fc.boolean(),
          bom: fc.boolean(),
        }),
        async ({ rows, blanks, eol, finalNewline, bom }) => {
          // A bare CR file's blank lines are bare CRs too; other files mix in both kinds.
          const blank = (i: number) => (eol === '\r' ? blanks[i]!.replace(/\r?\n/g, '\r') : blanks[i]!);
          const body = rows.map((r, i) => blank(i) + r.map((f) => encodeField(f, false)).join(',')).join(eol);
          const text = `${bom ? '\uFEFF' : ''}${blank(11)}a,b${eol}${body}${finalNewline ? eol : ''}`;
          const bytes = Buffer.from(text);
          const path = join(dir, `m${n++}.csv`);
          writeFileSync(path, text);
          const scan = async (lines: boolean) => {
            const out: Uint8Array[] = [];
            const at: Uint8Array[] = [];
            const r = await scanCsv(path, { columns: ['a', 'b'], raw: true, lines }, (row) => {
              out.push(row.raw!);
              at.push(bytes.subarray(row.offset!, row.offset! + row.raw!.length));
            }).catch((e: Error) => e);
            // Each row's offset is where its bytes are in the file.
            expect(at.map((b) => Buffer.from(b))).toEqual(out.map((b) => Buffer.from(b)));
            return r instanceof Error ? r.message : { header: r.headerRaw, rows: out };
          };
          expect(await scan(false)).toEqual(await scan(true));
        },
      ),
      { numRuns: 150 },
    );
  });
});
