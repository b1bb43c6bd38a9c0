/**
 * `--input FILE | URL --query SQL` and `--output FILE | URL --output-table NAME` of `psi`,
 * `psi-sum` and `aggregate provide`: one reader over a CSV file or a database query (record
 * sources, src/sources), and the writers of "my rows whose key matched" to a CSV file or a table.
 *
 * A CSV file is read with the CSV scanner directly (line numbers in messages, the original bytes
 * for a byte-for-byte `--output`); a database query through its source's snapshot: one read-only
 * REPEATABLE READ transaction held open from the first read to the last, so a second pass (the
 * rows for `--output`, a provider's aggregates) sees exactly the rows of the first, without any
 * copy of the data being spooled to disk (docs/databases.md).
 * @module
 */
import { AbortError, InputError } from '../errors.js';
import { resolveColumns, scanCsv, type CsvScanResult } from '../sources/csv-scan.js';
import { databaseKindOf } from '../sources/db-url.js';
import { fromDatabase } from '../sources/database.js';
import { openTableSink, checkTableSink } from '../sources/database.js';
import { checkTableName } from '../sources/table-sink.js';
import type { SourceInfo, SourceSnapshot } from '../sources/types.js';
import { openAtomicOutput } from './files.js';
import { DATABASE_MESSAGES as D, inputRowMessage } from './messages.js';

/** Where a row came from, for messages: a CSV line or a query result's row number. */
export interface RowPlace {
  /** Data row number, 1-based. */
  row: number;
  /** CSV line number (files only). */
  line?: number;
}

/** One row handed to {@link InputReader.forEach}. */
export interface InputRow extends RowPlace {
  /** The selected columns' text (NULL and empty cells alike: ''). */
  values: string[];
  /** Every cell of the row (`full` reads), NULL kept as `null`. */
  cells?: readonly (string | null)[];
  /** CSV only (`full` reads): the row's original bytes. */
  raw?: Uint8Array;
}

/** The input of a command: a CSV file or a database query, read once or several times consistently. */
export interface InputReader {
  readonly info: SourceInfo;
  /** `file` or `database`. */
  readonly kind: 'file' | 'database';
  /**
   * Streams every row's `columns` to `onRow` (waiting on its promise: backpressure); `full` also
   * hands over every cell (and, for CSV, the raw bytes) plus the header to `onHeader`. Errors name
   * the input and the row / line.
   */
  forEach(
    columns: readonly string[],
    onRow: (row: InputRow) => void | Promise<void>,
    options?: { full?: boolean; lines?: boolean; onHeader?: (header: readonly string[], raw: Uint8Array) => void; onBytes?: (n: number) => void; signal?: AbortSignal },
  ): Promise<{ rows: number; csv?: CsvScanResult }>;
  /** Ends a database snapshot (a no-op for files). */
  close(): Promise<void>;
}

/**
 * Checks `--input` / `--query` together: a database URL needs `--query`, a file refuses it.
 * @example
 * ```ts
 * checkInputOptions('postgres://hospital@db/his', 'SELECT resident_id FROM admissions');
 * ```
 */
export function checkInputOptions(input: string, query: string | undefined): void {
  const kind = databaseKindOf(input);
  if (kind !== undefined && query === undefined) throw new InputError(D.queryNeeded(kind));
  if (kind === undefined && query !== undefined) throw new InputError(D.queryOnlyWithUrl());
  if (kind === undefined && /^[a-z][a-z0-9+.-]*:\/\//i.test(input)) throw new InputError(D.unsupportedUrl());
  // Parsed (and a URL with a password refused) before anything else happens.
  if (kind !== undefined) fromDatabase(input, query!);
}

/**
 * Checks `--output` / `--output-table` / `--replace` / `--force` together (no I/O).
 * @example
 * ```ts
 * checkOutputOptions('postgres://port@db/results', 'matched', false, false);
 * ```
 */
export function checkOutputOptions(output: string | undefined, table: string | undefined, replace: boolean, force: boolean): void {
  const toDb = output !== undefined && databaseKindOf(output) !== undefined;
  if (toDb && table === undefined) throw new InputError(D.tableNeeded());
  if (!toDb && table !== undefined) throw new InputError(D.tableNeedsDatabase());
  if (replace && !toDb) throw new InputError(D.replaceOnlyTable());
  if (force && toDb) throw new InputError(D.forceNotTable());
  if (table !== undefined) checkTableName(table);
  if (toDb) fromDatabase(output!, 'SELECT 1'); // parses the URL: a password in it is refused now
}

/**
 * Whether `output` names a database (then `--output-table` says where).
 * @example
 * ```ts
 * isDatabaseOutput('mysql://port@db/results'); // true
 * ```
 */
export function isDatabaseOutput(output: string | undefined): boolean {
  return output !== undefined && databaseKindOf(output) !== undefined;
}

/**
 * Before any connection to the peer: the output table can be created (server reachable, the
 * credentials right, the table absent unless `--replace`).
 * @example
 * ```ts
 * await preflightTable('postgres://port@db/results', 'matched', false);
 * ```
 */
export function preflightTable(output: string, table: string, replace: boolean): Promise<void> {
  return checkTableSink(output, table, { replace });
}

/**
 * Opens `--input` (with `--query` for a database). `keepOpen`: the database snapshot stays open
 * across `forEach` calls until `close` (for a second, consistent pass); otherwise each `forEach`
 * opens and closes its own.
 * @example
 * ```ts
 * const input = await openInput('admissions.csv', undefined, { keepOpen: false });
 * ```
 */
export async function openInput(input: string, query: string | undefined, options: { keepOpen: boolean }): Promise<InputReader> {
  checkInputOptions(input, query);
  if (databaseKindOf(input) === undefined) {
    return {
      info: { kind: 'csv', label: input },
      kind: 'file',
      async forEach(columns, onRow, o = {}) {
        const csv = await scanCsv(
          input,
          {
            columns,
            ...(o.full ? { raw: true, all: true } : {}),
            ...(o.lines === false ? { lines: false } : {}),
            ...(o.onHeader ? { onHeader: o.onHeader } : {}),
            ...(o.onBytes ? { onBytes: o.onBytes } : {}),
            ...(o.signal ? { signal: o.signal } : {}),
          },
          (r) => {
            const row: InputRow = { values: r.values, row: r.row };
            if (r.line !== undefined) row.line = r.line;
            if (r.all) row.cells = r.all;
            if (r.raw) row.raw = r.raw;
            return onRow(row);
          },
        );
        return { rows: csv.rows, csv };
      },
      close: async () => {},
    };
  }
  const source = fromDatabase(input, query!);
  let open: SourceSnapshot | undefined;
  const snapshot = async () => (open ??= await source.snapshot());
  return {
    info: source.info,
    kind: 'database',
    async forEach(columns, onRow, o = {}) {
      const snap = await snapshot();
      try {
        const { header, rows } = await snap.scan(o.signal ? { signal: o.signal } : {});
        const idx = resolveColumns(source.info.label, header, columns);
        o.onHeader?.(header, new Uint8Array(0));
        let n = 0;
        for await (const cells of rows) {
          if (o.signal?.aborted) throw new AbortError();
          n++;
          const row: InputRow = { values: idx.map((i) => cells[i] ?? ''), row: n };
          if (o.full) row.cells = cells;
          const pending = onRow(row);
          if (pending) await pending;
        }
        return { rows: n };
      } catch (err) {
        if (err instanceof InputError && !err.message.startsWith(source.info.label)) {
          throw new InputError(`${source.info.label}: ${err.message}`, { cause: err });
        }
        throw err;
      } finally {
        if (!options.keepOpen) {
          open = undefined;
          await snap.close();
        }
      }
    },
    async close() {
      const snap = open;
      open = undefined;
      await snap?.close();
    },
  };
}

/** How a row's place reads in a message: `line N` for files, `row N` for a query result. */
export function rowPlaceMessage(reader: InputReader, place: RowPlace, problem: string, column?: string): string {
  return inputRowMessage(reader.info.label, place.line !== undefined ? { line: place.line } : { row: place.row }, problem, column);
}

/** CSV text of one field (RFC 4180: quoted when it holds a comma, quote, CR or LF). */
function csvField(v: string | null): string {
  if (v === null) return '';
  return /[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

/**
 * One CSV line (`\r\n`-terminated) of cells, as {@link writeMatchingInputRows} writes a row (NULL:
 * an empty field).
 * @example
 * ```ts
 * csvLine(['a,b', null, 'c']); // '"a,b",,c\r\n'
 * ```
 */
export function csvLine(cells: readonly (string | null)[]): string {
  return `${cells.map(csvField).join(',')}\r\n`;
}

/** Options of {@link writeMatchingInputRows}. */
export interface MatchingRowsOutput {
  /** A CSV file path or a database URL. */
  output: string;
  /** With a database URL: the new table's name. */
  table?: string;
  /** Replace an existing table (`--replace`) / file (`--force`). */
  replace?: boolean;
  onBytes?: (n: number) => void;
  signal?: AbortSignal;
  /**
   * Columns appended to every matched row (PSI with payload): `rowsFor(keyValues)` gives the rows
   * of values to append; the matched row is written once per appended row (a join).
   */
  append?: { header: readonly string[]; rowsFor: (keyValues: readonly string[]) => readonly (readonly string[])[] };
}

/**
 * Writes every row of `reader` whose key (by `matches`) is in the intersection — all its columns —
 * to a new table (one transaction: nothing left on failure) or a CSV file (atomic: written aside and
 * renamed). For a database input the read runs in the snapshot of the first pass. Used for every
 * pairing except CSV → CSV (which copies the original bytes: key-input.ts `writeMatchingRows`).
 * Returns the number of rows written.
 * @example
 * ```ts
 * const n = await writeMatchingInputRows(reader, ['resident_id'], (v) => matches.has(keyId(normalizeKey(v)!)), { output: url, table: 'matched' });
 * ```
 */
export async function writeMatchingInputRows(
  reader: InputReader,
  keyColumns: readonly string[],
  isMatch: (keyValues: readonly string[]) => boolean,
  out: MatchingRowsOutput,
): Promise<number> {
  let header: readonly string[] = [];
  const toDb = isDatabaseOutput(out.output);
  // Appended columns keep their names; one that the input has already gets the prefix `payload_`.
  const fullHeader = (): readonly string[] =>
    out.append === undefined ? header : [...header, ...out.append.header.map((h) => (header.includes(h) ? `payload_${h}` : h))];
  type Writer = { write(rows: (readonly (string | null)[])[]): Promise<void>; commit(): Promise<number>; abort(): Promise<void> };
  let writer: Writer | undefined;
  let pendingWriter: Promise<Writer> | undefined;
  const openWriter = async (): Promise<Writer> => {
    if (toDb) return openTableSink(out.output, out.table!, fullHeader(), { replace: out.replace === true });
    const file = await openAtomicOutput(out.output, { force: out.replace === true });
    const enc = new TextEncoder();
    let n = 0;
    await file.write(enc.encode(csvLine(fullHeader())));
    return {
      async write(rows) {
        n += rows.length;
        await file.write(enc.encode(rows.map(csvLine).join('')));
      },
      async commit() {
        await file.commit();
        return n;
      },
      abort: () => file.abort(),
    };
  };
  let batch: (readonly (string | null)[])[] = [];
  const BATCH = 2048;
  let written = 0;
  try {
    await reader.forEach(
      keyColumns,
      async (row) => {
        if (!isMatch(row.values)) return;
        if (out.append === undefined) {
          batch.push(row.cells!);
          written++;
        } else {
          for (const extra of out.append.rowsFor(row.values)) {
            batch.push([...row.cells!, ...extra]);
            written++;
          }
        }
        if (batch.length >= BATCH) {
          writer ??= await (pendingWriter ??= openWriter());
          const b = batch;
          batch = [];
          await writer.write(b);
        }
      },
      { full: true, lines: false, onHeader: (h) => (header = h), ...(out.signal ? { signal: out.signal } : {}), ...(out.onBytes ? { onBytes: out.onBytes } : {}) },
    );
    writer ??= await (pendingWriter ??= openWriter());
    if (batch.length > 0) await writer.write(batch);
    await writer.commit();
    return written;
  } catch (err) {
    await (writer ?? (await pendingWriter?.catch(() => undefined)))?.abort();
    throw err;
  }
}
