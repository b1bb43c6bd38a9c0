/**
 * The CSV scanner (DESIGN.md §8) behind the SDK's `fromCsv` (src/sources/csv.ts) and the CLI's
 * `psi`, `psi-sum` and `aggregate`, so that a file reads the same everywhere.
 *
 * Rules: RFC 4180 style (comma separator, `"` quotes, `""` escapes a quote, quoted fields may
 * span lines), a header row, UTF-8 (checked: invalid bytes are an error, not replacement
 * characters that could make two different keys collide), an optional UTF-8 BOM, `\n` or `\r\n`
 * line ends, blank lines ignored, every row with as many fields as the header.
 *
 * Files are streamed: only the selected columns of the current row are held, plus — when `raw`
 * is asked for — the original bytes of that row, sliced from the file at the row's boundaries
 * (the parser's byte offsets, or with `lines: false` the scanner's own quote-aware row ends), so an
 * output row is byte-for-byte the input row, quotes and all.
 * @module
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parse, CsvError } from 'csv-parse';
import { AbortError, InputError } from '../errors.js';
import { CSV_SCAN_MESSAGES as M } from './messages.js';

/** Longest accepted row, in characters (a guard against a file that is one unterminated quote). */
export const MAX_CSV_RECORD_CHARS = 1 << 20;

/** Options of {@link scanCsv}. */
export interface ScanCsvOptions {
  /** Header names of the columns to extract, in the order wanted. */
  columns: readonly string[];
  /**
   * Also hand each row's original bytes (its line end included) to `onRow`. With `lines: false`
   * the rows are delimited by the scanner itself (quote-aware, the parser's line end rule), much
   * faster than asking the parser for offsets.
   */
  raw?: boolean;
  /**
   * Report each row's line number (default true). It costs about a fifth of the parsing time (the
   * parser then builds an info object per row): pass `false` for big files whose rows need no line
   * numbers. Parse errors carry line numbers regardless.
   */
  lines?: boolean;
  /** Also hand every field of each row to `onRow` (`CsvRow.all`). */
  all?: boolean;
  /** Called once with the header's names and original bytes, before any row. */
  onHeader?: (header: readonly string[], headerRaw: Uint8Array, headerOffset: number) => void;
  /** Called with the number of bytes read so far (for progress bars). */
  onBytes?: (bytesRead: number) => void;
  signal?: AbortSignal;
  /**
   * With `raw` and `lines: false`: a row's `raw` may be a view of the file's read buffer instead of
   * a copy (no allocation per row). Only for a caller that copies the bytes before it keeps many
   * rows: each view keeps its whole read chunk (64 KiB) in memory.
   */
  rawView?: boolean;
  /** With `raw` and `lines: false`: take row offsets from the parser, not from the scanner's own row boundaries (internal; tests compare the two). */
  parserOffsets?: boolean;
}

/** One data row handed to {@link scanCsv}'s callback. */
export interface CsvRow {
  /** The selected columns' values, in the order of `ScanCsvOptions.columns`, as parsed (unquoted). */
  values: string[];
  /** Data row number (1-based, the header not counted). */
  row: number;
  /** Line number (1-based) of the row's last line in the file (absent with `lines: false`). */
  line?: number;
  /** The row's original bytes, line end included, when `raw` was asked for. */
  raw?: Uint8Array;
  /** With `raw`: the file offset of `raw`'s first byte. */
  offset?: number;
  /** Every field of the row, when `all` was asked for. */
  all?: string[];
}

/** What {@link scanCsv} found. */
export interface CsvScanResult {
  /** The header's column names. */
  header: string[];
  /** The header row's original bytes (BOM and line end included). */
  headerRaw: Uint8Array;
  /** Number of data rows. */
  rows: number;
  /** File size in bytes. */
  bytes: number;
  /** SHA-256 of the whole file, to detect a file that changed between two passes. */
  sha256: Uint8Array;
}

/** Keeps the bytes the parser has seen but whose rows have not been emitted yet. */
class ByteWindow {
  private chunks: Uint8Array[] = [];
  private base = 0; // file offset of chunks[0][0]
  push(chunk: Uint8Array): void {
    this.chunks.push(chunk);
  }
  /**
   * The bytes [from, to) of the file; drops everything before `to`. With `view`, bytes within one
   * read chunk come back as a view of it (no copy: valid as long as the caller keeps it, but it
   * keeps the whole chunk alive).
   */
  take(from: number, to: number, view = false): Uint8Array {
    if (view) {
      const c = this.chunks[0];
      if (c !== undefined && from >= this.base && to <= this.base + c.length) {
        const out = c.subarray(from - this.base, to - this.base);
        if (to === this.base + c.length) {
          this.chunks.shift();
          this.base = to;
        }
        return out;
      }
    }
    const out = new Uint8Array(to - from);
    let off = this.base;
    let w = 0;
    let drop = 0;
    for (const c of this.chunks) {
      const end = off + c.length;
      const s = Math.max(from, off);
      const e = Math.min(to, end);
      if (e > s) {
        out.set(c.subarray(s - off, e - off), w);
        w += e - s;
      }
      if (end <= to) drop++;
      off = end;
      if (off >= to) break;
    }
    if (w !== out.length) throw new Error('csv: byte window out of sync');
    for (let i = 0; i < drop; i++) this.base += this.chunks.shift()!.length;
    return out;
  }
}

/**
 * Row boundaries found without the parser's per-row info object (which costs about three times
 * the parsing itself): a row ends at the first line end outside quotes. The line end is the one
 * the parser discovers first (its rule: the first `\r\n`, `\n` or `\r` outside quotes), so a
 * bare `\n` inside a `\r\n` file is data here as it is there. A quote toggles the state: in a
 * file the parser accepts, quotes only open and close quoted fields, and `""` toggles twice.
 * Rows made only of line ends (blank lines, which the parser skips) are not rows: their bytes lead
 * the next row, whose raw bytes then lose their leading line ends as with the parser's offsets. A file
 * whose rows end with a bare `\r` is `unsupported` (the scanner then asks the parser for offsets).
 */
const BOM = [0xef, 0xbb, 0xbf];

class RowSpans {
  private inQuote = false;
  /** 0 = line end not seen yet, 1 = `\n`, 2 = `\r\n`. */
  private mode = 0;
  private prevCR = false;
  private blank = true;
  private start = 0;
  private pos = 0;
  private readonly ends: number[] = [];
  private head = 0;
  unsupported = false;
  push(chunk: Uint8Array): void {
    let pos = this.pos;
    for (let i = 0; i < chunk.length; i++, pos++) {
      const c = chunk[i]!;
      const afterCR = this.prevCR;
      this.prevCR = false;
      if (this.mode === 0 && afterCR && c !== 0x0a) this.unsupported = true;
      if (c === 0x22) {
        this.inQuote = !this.inQuote;
        this.blank = false;
      } else if (c === 0x0a) {
        if (this.inQuote) continue;
        if (this.mode === 0) this.mode = afterCR ? 2 : 1;
        if (this.mode === 1 || afterCR) this.close(pos + 1);
      } else if (c === 0x0d) {
        if (!this.inQuote) this.prevCR = true;
      } else if (!(pos < 3 && c === BOM[pos])) this.blank = false; // a BOM alone is a blank line to the parser
    }
    this.pos = pos;
  }
  /** At the end of the file: the last row may have no line end. */
  end(): void {
    if (this.mode === 0 && this.prevCR) this.unsupported = true;
    if (this.pos > this.start) this.close(this.pos);
  }
  /** A row ends at `end`; a blank line stays in front of the next row (which strips it, as with the parser's offsets). */
  private close(end: number): void {
    if (!this.blank) {
      this.ends.push(this.start, end);
      this.start = end;
    }
    this.blank = true;
  }
  /** The next row's [start, end) in the file, or `undefined` if none was found. */
  next(): [number, number] | undefined {
    if (this.head >= this.ends.length) return undefined;
    const span: [number, number] = [this.ends[this.head]!, this.ends[this.head + 1]!];
    this.head += 2;
    if (this.head > 4096) {
      this.ends.splice(0, this.head);
      this.head = 0;
    }
    return span;
  }
  /** Rows found and not yet taken. */
  get pending(): number {
    return (this.ends.length - this.head) / 2;
  }
}

/** Thrown inside {@link scanCsv} when {@link RowSpans} cannot delimit the file: it reads it again with the parser's offsets. */
class RowSpansUnsupported extends Error {}

/**
 * Offset of the first byte of `chunk` that starts an invalid UTF-8 sequence (used only to locate
 * an error the native decoder found). Leading continuation bytes belong to a sequence that began
 * in the previous chunk and are skipped.
 */
function firstInvalidUtf8(chunk: Uint8Array): number {
  let i = 0;
  while (i < 3 && i < chunk.length && (chunk[i]! & 0xc0) === 0x80) i++;
  while (i < chunk.length) {
    const b = chunk[i]!;
    const n = b < 0x80 ? 0 : b >= 0xc2 && b <= 0xdf ? 1 : b >= 0xe0 && b <= 0xef ? 2 : b >= 0xf0 && b <= 0xf4 ? 3 : -1;
    if (n < 0) return i;
    for (let k = 1; k <= n; k++) {
      if (i + k >= chunk.length) return i + k; // truncated at the end of the chunk: reported near here
      if ((chunk[i + k]! & 0xc0) !== 0x80) return i;
    }
    i += n + 1;
  }
  return chunk.length;
}

/** Strips blank lines the parser skipped before a row (a row never starts with CR or LF). */
function stripLeadingLineEnds(bytes: Uint8Array): Uint8Array {
  let i = 0;
  while (i < bytes.length && (bytes[i] === 0x0a || bytes[i] === 0x0d)) i++;
  return i === 0 ? bytes : bytes.subarray(i);
}

function csvErrorMessage(path: string, err: CsvError): string {
  const line = (err as unknown as { lines?: number }).lines;
  const where = line !== undefined ? ` at line ${line}` : '';
  switch (err.code) {
    case 'CSV_RECORD_INCONSISTENT_FIELDS_LENGTH': {
      const m = /expect (\d+), got (\d+)/.exec(err.message);
      return M.malformed(path, where, m ? M.fieldCount(m[1]!, m[2]!) : M.wrongFieldCount());
    }
    case 'CSV_QUOTE_NOT_CLOSED':
      return M.quoteNotClosed(path, line);
    case 'CSV_INVALID_CLOSING_QUOTE':
    case 'CSV_NON_TRIMABLE_CHAR_AFTER_CLOSING_QUOTE':
      return M.malformed(path, where, M.afterClosingQuote());
    case 'CSV_MAX_RECORD_SIZE':
      return M.malformed(path, where, M.rowTooLong(MAX_CSV_RECORD_CHARS));
    default:
      return M.malformed(path, where, err.message.split('\n')[0]!);
  }
}

/**
 * Streams a CSV file once, checking its header and handing the selected columns of every data
 * row to `onRow` in file order (if it returns a promise, reading waits for it: backpressure). Throws `InputError` with a precise message for an
 * unreadable or empty file, a header without data rows, a missing or duplicated column, invalid
 * UTF-8, or a malformed line (with its line number).
 *
 * @example
 * ```ts
 * const keys = new Set<string>();
 * const info = await scanCsv('pharma.csv', { columns: ['resident_id'] }, (row) => keys.add(row.values[0]!));
 * console.log(info.rows, keys.size);
 * ```
 */
export async function scanCsv(path: string, options: ScanCsvOptions, onRow: (row: CsvRow) => void | Promise<void>): Promise<CsvScanResult> {
  const name = path;
  let size: number;
  try {
    const st = await stat(path);
    if (!st.isFile()) throw new InputError(M.notRegular(name));
    size = st.size;
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError(M.cannotReadInput(name, err));
  }
  if (size === 0) throw new InputError(M.empty(name));

  const window = options.raw ? new ByteWindow() : undefined;
  // Raw rows without line numbers: our own row boundaries instead of the parser's info objects.
  const spans = options.raw === true && options.lines === false && !options.parserOffsets ? new RowSpans() : undefined;
  const hash = createHash('sha256');
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let bytesRead = 0;
  let newlines = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      try {
        decoder.decode(chunk, { stream: true });
      } catch {
        const at = firstInvalidUtf8(chunk);
        let line = newlines + 1;
        for (let i = chunk.indexOf(0x0a); i !== -1 && i < at; i = chunk.indexOf(0x0a, i + 1)) line++;
        cb(new InputError(M.notUtf8(name, line)));
        return;
      }
      for (let i = chunk.indexOf(0x0a); i !== -1; i = chunk.indexOf(0x0a, i + 1)) newlines++;
      const bytes = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length);
      hash.update(bytes);
      window?.push(bytes);
      spans?.push(bytes);
      bytesRead += chunk.length;
      options.onBytes?.(bytesRead);
      cb(null, chunk);
    },
    flush(cb) {
      spans?.end();
      try {
        decoder.decode();
        cb();
      } catch {
        cb(new InputError(M.truncatedUtf8(name)));
      }
    },
  });
  const withInfo = (options.raw === true && spans === undefined) || options.lines !== false;
  const parser = parse({
    bom: true,
    info: withInfo,
    skip_empty_lines: true,
    max_record_size: MAX_CSV_RECORD_CHARS,
    relax_column_count: false,
  });

  let header: string[] | undefined;
  let headerRaw: Uint8Array = new Uint8Array(0);
  let indexes: number[] = [];
  let rows = 0;
  let prevEnd = 0;
  // Errors thrown while consuming rows are kept here: pipeline() may report the teardown of the
  // other streams ("aborted", "premature close") instead of the error that caused it.
  let consumeError: unknown;
  const consume = async (source: AsyncIterable<string[] | { record: string[]; info: { bytes: number; lines: number } }>) => {
    try {
      for await (const item of source) {
        if (options.signal?.aborted) throw new AbortError();
        let record: string[];
        let line: number | undefined;
        let raw: Uint8Array | undefined;
        let rawEnd = 0;
        if (withInfo) {
          const { record: r, info } = item as { record: string[]; info: { bytes: number; lines: number } };
          record = r;
          line = info.lines;
          if (window) {
            raw = stripLeadingLineEnds(window.take(prevEnd, info.bytes));
            rawEnd = info.bytes;
            prevEnd = info.bytes;
          }
        } else {
          record = item as string[];
          if (spans) {
            // The header ends at the first line end, so the line end rule is known by now.
            if (spans.unsupported) throw new RowSpansUnsupported();
            const span = spans.next();
            if (span === undefined) throw new Error('csv: row boundaries out of sync');
            raw = stripLeadingLineEnds(window!.take(span[0], span[1], options.rawView === true));
            rawEnd = span[1];
          }
        }
        if (header === undefined) {
          header = record;
          headerRaw = raw ?? new Uint8Array(0);
          indexes = resolveColumns(name, header, options.columns);
          options.onHeader?.(header, headerRaw, rawEnd - headerRaw.length);
          continue;
        }
        rows++;
        const row: CsvRow = { values: indexes.map((i) => record[i]!), row: rows };
        if (line !== undefined) row.line = line;
        if (raw !== undefined) {
          row.raw = raw;
          row.offset = rawEnd - raw.length;
        }
        if (options.all) row.all = record;
        const pending = onRow(row);
        if (pending) await pending;
      }
    } catch (err) {
      consumeError ??= err;
      throw err;
    }
  };
  try {
    await pipeline(createReadStream(path, { highWaterMark: 1 << 16 }), tap, parser, consume, { signal: options.signal });
  } catch (caught) {
    const err = consumeError ?? caught;
    // Rows ending with a bare CR: nothing was handed out yet (it is known at the header).
    if (err instanceof RowSpansUnsupported) return scanCsv(path, { ...options, parserOffsets: true }, onRow);
    if (err instanceof InputError || err instanceof AbortError) throw err;
    if (err instanceof CsvError) throw new InputError(csvErrorMessage(name, err));
    if ((err as Error)?.name === 'AbortError') throw new AbortError();
    if ((err as NodeJS.ErrnoException)?.code) throw new InputError(M.cannotReadInput(name, err));
    throw err;
  }
  if (header === undefined) throw new InputError(M.noHeader(name));
  if (rows === 0) throw new InputError(M.noDataRows(name));
  if (spans && spans.pending !== 0) throw new Error('csv: row boundaries out of sync');
  return { header, headerRaw, rows, bytes: bytesRead, sha256: new Uint8Array(hash.digest()) };
}

/**
 * Indexes of `wanted` in `header`; `InputError` naming a missing column and listing the ones
 * available, or naming a column the header holds twice (which one would be meant?).
 *
 * @example
 * ```ts
 * resolveColumns('a.csv', ['id', 'cost'], ['cost']); // [1]
 * ```
 */
export function resolveColumns(file: string, header: readonly string[], wanted: readonly string[]): number[] {
  return wanted.map((col) => {
    const i = header.indexOf(col);
    if (i === -1) {
      const hint = header.find((h) => h.trim().normalize('NFKC').toLowerCase() === col.trim().normalize('NFKC').toLowerCase());
      const shown = header.slice(0, 30).map((h) => `'${h}'`);
      const list = shown.join(', ') + (header.length > shown.length ? `, … (${header.length} columns)` : '');
      throw new InputError(M.noColumn(file, col, hint, list));
    }
    if (header.indexOf(col, i + 1) !== -1) throw new InputError(M.columnTwice(file, col));
    return i;
  });
}
