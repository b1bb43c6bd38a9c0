/**
 * Reading the join keys of an input (first pass) and writing the matching rows of a CSV file
 * (second pass; other pairings: record-input.ts `writeMatchingInputRows`).
 *
 * Only the distinct normalised keys are held in memory (one entry per distinct key); the second
 * pass streams the file again, recomputes each row's key and copies the row's original bytes when
 * its key is in the intersection. The file's SHA-256 is compared between the two passes, so a file
 * modified during the run is an error rather than a silently wrong output.
 * @module
 */
import { InputError } from '../errors.js';
import { concatBytes, equalBytes } from '../utils/bytes.js';
import { scanCsv, type CsvScanResult } from '../sources/csv-scan.js';
import { openAtomicOutput } from './files.js';
import { CSV_MESSAGES as M, DATABASE_MESSAGES } from './messages.js';
import { openInput, type InputReader } from './record-input.js';

/** Normalises one row's key columns to the bytes the protocol hashes, or `undefined` to skip the row. */
export type KeyNormalizer = (values: readonly string[]) => Uint8Array | undefined;

/** The distinct keys of an input file. */
export interface KeyInput {
  /** Distinct normalised keys as {@link keyId} strings, in first-seen order. */
  ids: string[];
  /** For each distinct key, the key fields of the first row that had it (as in the file). */
  fields: string[][];
  /** Data rows in the file. */
  rows: number;
  /** With `rowKeys`: for each data row, the index in `ids` of its key (-1: no key). */
  rowKeys?: Int32Array;
  /** Rows skipped because a key column was empty. */
  skippedRows: number;
  /** Data row number of the first skipped row (for the warning). */
  firstSkippedRow?: number;
  /** For a CSV file: its size and hash (a second pass checks it did not change). */
  scan?: CsvScanResult;
}

/**
 * A lookup key for a `Map`/`Set`: the bytes as a Latin-1 string (1:1, cheap).
 * @example
 * ```ts
 * const matches = new Set(intersection.map(keyId));
 * ```
 */
export function keyId(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('latin1');
}

/**
 * The bytes of a {@link keyId} string.
 * @example
 * ```ts
 * const records = input.ids.map(keyBytes);
 * ```
 */
export function keyBytes(id: string): Uint8Array {
  const b = Buffer.from(id, 'latin1');
  return new Uint8Array(b.buffer, b.byteOffset, b.length);
}

/**
 * First pass: the distinct normalised keys of an input (a CSV file or a database query, see
 * record-input.ts). For a database, row numbers stand where a file has lines.
 *
 * @example
 * ```ts
 * const input = await readInputKeys(await openInput(url, 'SELECT resident_id FROM programme', { keepOpen: false }), ['resident_id'], normalize);
 * console.log(input.rows, input.ids.length);
 * ```
 */
export async function readInputKeys(
  reader: InputReader,
  columns: readonly string[],
  normalize: KeyNormalizer,
  options: { onBytes?: (n: number) => void; onRows?: (n: number) => void; signal?: AbortSignal; maxKeys?: number; rowKeys?: boolean } = {},
): Promise<KeyInput> {
  const label = reader.info.label;
  const seen = new Map<string, number>();
  let rowKeys = options.rowKeys ? new Int32Array(1024) : undefined;
  const noteRow = (row: number, k: number) => {
    if (!rowKeys) return;
    if (row > rowKeys.length) {
      const grown = new Int32Array(rowKeys.length * 2);
      grown.set(rowKeys);
      rowKeys = grown;
    }
    rowKeys[row - 1] = k;
  };
  const ids: string[] = [];
  const fields: string[][] = [];
  let skippedRows = 0;
  let firstSkippedRow: number | undefined;
  const maxKeys = options.maxKeys ?? Number.POSITIVE_INFINITY;
  // No per-row line numbers: they cost ~20 % of the parse, and data row numbers are enough here.
  const read = await reader.forEach(
    columns,
    (row) => {
      let key: Uint8Array | undefined;
      try {
        key = normalize(row.values);
      } catch (err) {
        throw new InputError(M.badKey(label, row.row, (err as Error).message));
      }
      if (options.onRows !== undefined && (row.row & 0x3fff) === 0) options.onRows(row.row);
      if (key === undefined) {
        skippedRows++;
        firstSkippedRow ??= row.row;
        noteRow(row.row, -1);
        return;
      }
      const id = keyId(key);
      const known = seen.get(id);
      if (known !== undefined) return noteRow(row.row, known);
      if (ids.length >= maxKeys) {
        throw new InputError(M.tooManyKeys(label, maxKeys, row.row));
      }
      noteRow(row.row, ids.length);
      seen.set(id, ids.length);
      ids.push(id);
      fields.push(row.values);
    },
    { lines: false, ...(options.onBytes ? { onBytes: options.onBytes } : {}), ...(options.signal ? { signal: options.signal } : {}) },
  );
  if (read.rows === 0) throw new InputError(DATABASE_MESSAGES.noRows(label));
  if (ids.length === 0) {
    throw new InputError(M.allKeysEmpty(label, columns));
  }
  const result: KeyInput = { ids, fields, rows: read.rows, skippedRows, ...(read.csv ? { scan: read.csv } : {}), ...(rowKeys ? { rowKeys: rowKeys.subarray(0, read.rows) } : {}) };
  if (firstSkippedRow !== undefined) result.firstSkippedRow = firstSkippedRow;
  return result;
}

/**
 * First pass over a CSV file: {@link readInputKeys} of the file.
 *
 * @example
 * ```ts
 * const input = await readKeys('pharma.csv', ['resident_id'], normalize);
 * ```
 */
export async function readKeys(
  path: string,
  columns: readonly string[],
  normalize: KeyNormalizer,
  options: { onBytes?: (n: number) => void; signal?: AbortSignal; maxKeys?: number; rowKeys?: boolean } = {},
): Promise<KeyInput & { scan: CsvScanResult }> {
  return (await readInputKeys(await openInput(path, undefined, { keepOpen: false }), columns, normalize, options)) as KeyInput & { scan: CsvScanResult };
}

/**
 * Second pass: copies the header and every data row whose normalised key is in `matches` to
 * `outPath`, byte-for-byte (BOM, quoting and line ends as in the input). Written atomically;
 * fails if the input changed since the first pass. Returns the number of rows written.
 *
 * @example
 * ```ts
 * const n = await writeMatchingRows('pharma.csv', 'matched.csv', ['resident_id'], normalize, matchSet, first.scan.sha256);
 * ```
 */
export async function writeMatchingRows(
  path: string,
  outPath: string,
  columns: readonly string[],
  normalize: KeyNormalizer,
  matches: { has(id: string): boolean },
  expectedSha256: Uint8Array,
  options: { onBytes?: (n: number) => void; signal?: AbortSignal; force?: boolean } = {},
): Promise<number> {
  const out = await openAtomicOutput(outPath, { force: options.force === true });
  let written = 0;
  try {
    // Rows are gathered into ~1 MiB batches; reading waits while a batch is being written.
    let batch: Uint8Array[] = [];
    let batchBytes = 0;
    const flush = async () => {
      const rows = batch;
      batch = [];
      batchBytes = 0;
      if (rows.length > 0) await out.write(concatBytes(...rows));
    };
    const scan = await scanCsv(
      path,
      {
        columns,
        raw: true,
        onBytes: options.onBytes,
        signal: options.signal,
        onHeader: (_names, headerRaw) => {
          batch.push(headerRaw);
          batchBytes += headerRaw.length;
        },
      },
      (row) => {
        const key = normalize(row.values);
        if (key === undefined || !matches.has(keyId(key))) return;
        batch.push(row.raw!);
        batchBytes += row.raw!.length;
        written++;
        return batchBytes >= 1 << 20 ? flush() : undefined;
      },
    );
    if (!equalBytes(scan.sha256, expectedSha256)) {
      throw new InputError(M.changedDuringRun(path));
    }
    await flush();
    await out.commit();
  } catch (err) {
    await out.abort();
    throw err;
  }
  return written;
}
