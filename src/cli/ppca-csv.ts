/**
 * CSV input of `dataport ppca-psi`, read the way SecretFlow's interconnection mode reads it
 * (brief §3.1, `psi/utils/batch_provider.cc`, `csv_header_analyzer.h`), so that the same file gives
 * the same keys on both platforms: lines split on `\n`, fields on every `,` (no quoting), header
 * names and the selected fields stripped of ASCII whitespace, several key columns joined with `,`,
 * a UTF-8 BOM refused, bytes compared as they are (no UTF-8 decoding, no other normalisation).
 * Blank lines are skipped. `dataport psi` keeps its own RFC 4180 reader and normalisation.
 * @module
 */
import { readFile, stat } from 'node:fs/promises';
import { InputError } from '../errors.js';
import { trimAsciiWhitespace } from '../protocols/ppca/run.js';
import { resolveColumns } from '../sources/csv-scan.js';
import { CSV_MESSAGES as M, FILE_MESSAGES } from './messages.js';

/** Largest input file (the whole file is held in memory to write matching rows byte for byte). */
export const MAX_PPCA_INPUT_BYTES = 2 ** 31 - 1;

/** A file read for ppca-psi. */
export interface PpcaInput {
  /** The key bytes of every data row, in file order (duplicates included). */
  keys: Uint8Array[];
  /** The header line's bytes (line end included). */
  header: Uint8Array;
  /** Each data row's original bytes, line end included (for `--output`). */
  rows: Uint8Array[];
}

const COMMA = 0x2c;
const LF = 0x0a;

function splitFields(line: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let s = 0;
  for (let i = 0; i <= line.length; i++) {
    if (i === line.length || line[i] === COMMA) {
      out.push(line.subarray(s, i));
      s = i + 1;
    }
  }
  return out;
}

const isBlank = (line: Uint8Array): boolean => trimAsciiWhitespace(line).length === 0;

/**
 * Reads `path` and extracts the key of every row from the columns `keyColumns`.
 *
 * @example
 * ```ts
 * const { keys, rows } = await readPpcaInput('patients.csv', ['id']);
 * ```
 */
export async function readPpcaInput(path: string, keyColumns: readonly string[]): Promise<PpcaInput> {
  let bytes: Uint8Array;
  try {
    const st = await stat(path);
    if (st.isDirectory()) throw new InputError(FILE_MESSAGES.isDirectory(path));
    if (st.size > MAX_PPCA_INPUT_BYTES) throw new InputError(FILE_MESSAGES.tooLarge('input', path, MAX_PPCA_INPUT_BYTES));
    bytes = new Uint8Array(await readFile(path));
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError(FILE_MESSAGES.cannotReadInput(path, err));
  }
  const lines: Uint8Array[] = [];
  for (let s = 0; s < bytes.length; ) {
    let e = bytes.indexOf(LF, s);
    e = e < 0 ? bytes.length : e + 1;
    lines.push(bytes.subarray(s, e));
    s = e;
  }
  const headerAt = lines.findIndex((l) => !isBlank(l));
  if (headerAt < 0) throw new InputError(M.noHeaderLine(path));
  const header = lines[headerAt]!;
  if (header[0] === 0xef && header[1] === 0xbb && header[2] === 0xbf) {
    throw new InputError(M.bom(path));
  }
  const dec = new TextDecoder();
  const names = splitFields(header).map((f) => dec.decode(trimAsciiWhitespace(f)));
  // Names compared exactly, as the reference does; the message is the one `dataport psi` gives.
  const idx = resolveColumns(path, names, keyColumns);
  const keys: Uint8Array[] = [];
  const rows: Uint8Array[] = [];
  for (let n = headerAt + 1; n < lines.length; n++) {
    const line = lines[n]!;
    if (isBlank(line)) continue;
    const fields = splitFields(line);
    const parts = idx.map((i) => {
      const f = fields[i];
      if (f === undefined) throw new InputError(M.missingField(path, n + 1, fields.length, names[i]!, i + 1));
      return trimAsciiWhitespace(f);
    });
    let key: Uint8Array;
    if (parts.length === 1) key = parts[0]!;
    else {
      // psi/utils/key.cc KeysJoin: the fields joined with ','.
      const total = parts.reduce((a, p) => a + p.length, 0) + parts.length - 1;
      key = new Uint8Array(total);
      let o = 0;
      parts.forEach((p, j) => {
        if (j > 0) key[o++] = COMMA;
        key.set(p, o);
        o += p.length;
      });
    }
    keys.push(key);
    rows.push(line);
  }
  return { keys, header, rows };
}
