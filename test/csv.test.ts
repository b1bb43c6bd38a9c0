import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { scanCsv, resolveColumns, type CsvRow } from '../src/sources/csv-scan.js';
import { InputError } from '../src/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'dataport-csv-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
function file(content: string | Uint8Array): string {
  const p = join(dir, `f${n++}.csv`);
  writeFileSync(p, content);
  return p;
}
async function scan(content: string | Uint8Array, columns: string[], raw = false, lines = true) {
  const rows: CsvRow[] = [];
  const info = await scanCsv(file(content), { columns, raw, lines }, (r) => {
    rows.push(r);
  });
  return { rows, info };
}
const dec = (b: Uint8Array | undefined) => new TextDecoder('utf-8', { ignoreBOM: true }).decode(b);

describe('scanCsv', () => {
  it('extracts the selected columns in the requested order, with line numbers', async () => {
    const { rows, info } = await scan('a,b,c\n1,2,3\n4,5,6\n', ['c', 'a']);
    expect(info.header).toEqual(['a', 'b', 'c']);
    expect(info.rows).toBe(2);
    expect(rows.map((r) => r.values)).toEqual([['3', '1'], ['6', '4']]);
    expect(rows.map((r) => r.line)).toEqual([2, 3]);
  });

  it('numbers data rows; line numbers unless lines: false (they cost parsing time)', async () => {
    const { rows } = await scan('a,b\n"x\ny",2\n\n3,4\n', ['a'], false, false);
    expect(rows.map((r) => [r.row, r.line])).toEqual([[1, undefined], [2, undefined]]);
    const withLines = await scan('a,b\n"x\ny",2\n\n3,4\n', ['a']);
    expect(withLines.rows.map((r) => [r.row, r.line])).toEqual([[1, 3], [2, 5]]);
  });

  it('strips a BOM from the header names, handles quotes, CRLF and multi-line fields', async () => {
    const text = '\uFEFFid,"note, with comma"\r\n"x ""1""","multi\nline"\r\n  y2 ,plain\r\n';
    const { rows, info } = await scan(text, ['id', 'note, with comma'], true);
    expect(info.header).toEqual(['id', 'note, with comma']);
    expect(rows.map((r) => r.values)).toEqual([['x "1"', 'multi\nline'], ['  y2 ', 'plain']]);
    expect(dec(info.headerRaw)).toBe('\uFEFFid,"note, with comma"\r\n');
    expect(rows.map((r) => dec(r.raw))).toEqual(['"x ""1""","multi\nline"\r\n', '  y2 ,plain\r\n']);
  });

  it('slices raw rows exactly across read chunks and blank lines, last line without a newline', async () => {
    const lines = ['k,v'];
    for (let i = 0; i < 5000; i++) lines.push(i % 7 === 0 ? `"k${i}, quoted","é ${'z'.repeat(i % 50)}"` : `k${i},${i}`);
    const text = lines.join('\n') + '\n\n\n' + 'last,"1"';
    const { rows, info } = await scan(text, ['k'], true);
    expect(rows).toHaveLength(5001);
    const rebuilt = dec(info.headerRaw) + rows.map((r) => dec(r.raw)).join('');
    expect(rebuilt).toBe(text.replace('\n\n\n', '\n'));
    expect(rows[5000]!.line).toBe(5004);
  });

  it('names a missing column and lists the available ones', async () => {
    await expect(scan('patient_id,ward\n1,2\n', ['resident_id'])).rejects.toThrow(
      /no column 'resident_id'; the header has 'patient_id', 'ward'/,
    );
    await expect(scan('Resident_ID,ward\n1,2\n', ['resident_id'])).rejects.toThrow(/did you mean 'Resident_ID'/);
  });

  it('refuses an empty file, a header-only file and a blank file', async () => {
    await expect(scan('', ['a'])).rejects.toThrow(/empty/);
    await expect(scan('a,b\n', ['a'])).rejects.toThrow(/header but no data rows/);
    await expect(scan('\n\n', ['a'])).rejects.toThrow(/no header row/);
  });

  it('reports a malformed line with its line number', async () => {
    await expect(scan('a,b\n1,2\n3,4,5\n6,7\n', ['a'])).rejects.toThrow(/line 3: expected 2 fields like the header, got 3/);
    await expect(scan('a,b\n1,2\n3,"4\n', ['a'])).rejects.toThrow(/quoted field is never closed/);
    await expect(scan('a,b\n1,2\n"3"x,4\n', ['a'])).rejects.toThrow(/line 3/);
    const err = await scan('a,b\n1,2,3\n', ['a']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
  });

  it('refuses invalid UTF-8 instead of replacing it', async () => {
    const bytes = new Uint8Array([...new TextEncoder().encode('a,b\n1,2\n'), 0xff, 0x2c, 0x33, 0x0a]);
    await expect(scan(bytes, ['a'])).rejects.toThrow(/not valid UTF-8 at line 3/);
  });

  it('refuses a missing file and a directory', async () => {
    await expect(scanCsv(join(dir, 'nope.csv'), { columns: ['a'] }, () => {})).rejects.toThrow(/cannot read input \(no such file or directory \(ENOENT\)\)/);
    await expect(scanCsv(dir, { columns: ['a'] }, () => {})).rejects.toThrow(/not a regular file/);
  });

  it('detects a changed file through its hash', async () => {
    const a = await scan('a\n1\n', ['a']);
    const b = await scan('a\n2\n', ['a']);
    expect(a.info.sha256).not.toEqual(b.info.sha256);
    expect(a.info.sha256).toEqual((await scan('a\n1\n', ['a'])).info.sha256);
  });
});

describe('resolveColumns', () => {
  it('refuses a duplicated header column', () => {
    expect(() => resolveColumns('f', ['a', 'b', 'a'], ['a'])).toThrow(/more than once/);
    expect(resolveColumns('f', ['a', 'b', 'a'], ['b'])).toEqual([1]);
  });
});

describe('readKeys / writeMatchingRows', () => {
  it('collects distinct normalised keys and copies matching rows byte-for-byte', async () => {
    const { readKeys, writeMatchingRows, keyId } = await import('../src/cli/key-input.js');
    const { normalizeKey } = await import('../src/protocols/psi/normalize.js');
    const text = '\uFEFFid,v\r\n"A1", x \r\na1,"y, z"\r\n,empty\r\nb2,w\r\n';
    const src = file(text);
    const input = await readKeys(src, ['id'], normalizeKey);
    expect(input.ids).toEqual(['a1', 'b2']);
    expect(input.fields).toEqual([['A1'], ['b2']]);
    expect([input.rows, input.skippedRows, input.firstSkippedRow]).toEqual([4, 1, 3]);
    const out = join(dir, 'out.csv');
    const n = await writeMatchingRows(src, out, ['id'], normalizeKey, new Set([keyId(new TextEncoder().encode('a1'))]), input.scan.sha256);
    expect(n).toBe(2);
    expect(readFileSync(out)).toEqual(Buffer.from('\uFEFFid,v\r\n"A1", x \r\na1,"y, z"\r\n'));
  });

  it('refuses a file that changed between the passes and leaves no output behind', async () => {
    const { readKeys, writeMatchingRows } = await import('../src/cli/key-input.js');
    const { normalizeKey } = await import('../src/protocols/psi/normalize.js');
    const src = file('id\na\nb\n');
    const input = await readKeys(src, ['id'], normalizeKey);
    writeFileSync(src, 'id\na\nc\n');
    const out = join(dir, 'changed-out.csv');
    await expect(writeMatchingRows(src, out, ['id'], normalizeKey, new Set(['a']), input.scan.sha256)).rejects.toThrow(/changed during the run/);
    expect(readdirSync(dir).filter((f) => f.includes('changed-out'))).toEqual([]);
  });

  it('refuses a file whose every key is empty', async () => {
    const { readKeys } = await import('../src/cli/key-input.js');
    const { normalizeKey } = await import('../src/protocols/psi/normalize.js');
    await expect(readKeys(file('id,v\n ,1\n\u3000,2\n'), ['id'], normalizeKey)).rejects.toThrow(/every row has an empty key/);
  });
});
