/**
 * Any (async) iterable of row objects as a record source, and {@link readRecords}: the keys and
 * values of any record source, ready for `runPsi` / `runPsiSum`.
 * @module
 */
import { AbortError } from '../errors.js';
import { normalizeKey } from '../protocols/psi/normalize.js';
import { cellText, snapshotRows } from './cells.js';
import { resolveColumns } from './csv-scan.js';
import type { RecordSource, SourceInfo, SourceRow, SourceSnapshot, TableScan } from './types.js';

/**
 * Wraps your own rows as a record source: the column names are the first row's keys; a key a
 * later row lacks is an empty cell. Read it twice only if the iterable can be iterated twice.
 * @example
 * ```ts
 * const src = fromRows([{ resident_id: '110101199003074518', cost: 1200.5 }]);
 * ```
 */
export function fromRows(rows: AsyncIterable<SourceRow> | Iterable<SourceRow>, label = 'rows'): RecordSource {
  if (rows === null || typeof rows !== 'object' || (!(Symbol.asyncIterator in rows) && !(Symbol.iterator in rows))) {
    throw new TypeError('fromRows: rows must be an iterable or async iterable of row objects');
  }
  const snapshot = async (): Promise<SourceSnapshot> => ({
    async scan(): Promise<TableScan> {
      const it = (Symbol.asyncIterator in rows ? (rows as AsyncIterable<SourceRow>)[Symbol.asyncIterator]() : (rows as Iterable<SourceRow>)[Symbol.iterator]()) as AsyncIterator<SourceRow> | Iterator<SourceRow>;
      const first = await it.next();
      const header = first.done ? [] : Object.keys(first.value);
      async function* cells(): AsyncGenerator<readonly (string | null)[]> {
        let r = first;
        while (!r.done) {
          const row = r.value;
          if (row === null || typeof row !== 'object') throw new TypeError(`${label}: every row must be an object`);
          yield header.map((h) => (row[h] === null || row[h] === undefined ? null : cellText(row[h])));
          r = await it.next();
        }
      }
      return { header, rows: cells() };
    },
    close: async () => {},
  });
  return { info: { kind: 'iterable', label }, snapshot, [Symbol.asyncIterator]: () => snapshotRows(snapshot) };
}

/** Options of {@link readRecords}. */
export interface ReadRecordsOptions {
  /** Key column(s). */
  key: readonly string[];
  /** Value columns (psi-sum's value holder). */
  values?: readonly string[];
  signal?: AbortSignal;
}

/** What {@link readRecords} found. */
export interface ReadRecordsResult {
  /** Key fields of every row with a non-empty key (as read; normalised by the protocols). */
  keys: string[][];
  /** The value columns' text of the same rows (empty without `values`). */
  values: string[][];
  /** Rows read. */
  rows: number;
  /** Rows skipped because a key column was empty (or NULL). */
  skippedRows: number;
  info: SourceInfo;
}

/**
 * Reads a record source's key (and value) columns: what `runPsi` (`records: keys`) and
 * `runPsiSum` (`records: keys, values: { columns, rows: values }`) take. NULL cells are empty;
 * rows whose key is empty are skipped, as for CSV. `InputError` for a missing column.
 * @example
 * ```ts
 * const { keys, values } = await readRecords(fromCsv('hospital.csv'), { key: ['resident_id'], values: ['cost'] });
 * ```
 */
export async function readRecords(source: RecordSource, options: ReadRecordsOptions): Promise<ReadRecordsResult> {
  if (!source || typeof source.snapshot !== 'function') throw new TypeError('readRecords: source must be a record source (fromCsv, fromPostgres, fromMysql, fromRows)');
  const keyCols = [...options.key];
  const valueCols = [...(options.values ?? [])];
  if (keyCols.length === 0) throw new RangeError('readRecords: options.key must name at least one column');
  const snap = await source.snapshot(options.signal ? { signal: options.signal } : {});
  try {
    const { header, rows } = await snap.scan(options.signal ? { signal: options.signal } : {});
    const idx = resolveColumns(source.info.label, header, [...keyCols, ...valueCols]);
    const out: ReadRecordsResult = { keys: [], values: [], rows: 0, skippedRows: 0, info: source.info };
    for await (const cells of rows) {
      if (options.signal?.aborted) throw new AbortError();
      out.rows++;
      const picked = idx.map((i) => cells[i] ?? '');
      const key = picked.slice(0, keyCols.length);
      if (normalizeKey(key) === undefined) {
        out.skippedRows++;
        continue;
      }
      out.keys.push(key);
      if (valueCols.length > 0) out.values.push(picked.slice(keyCols.length));
    }
    return out;
  } finally {
    await snap.close();
  }
}
