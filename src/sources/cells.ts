/**
 * Cells to text, and turning a snapshot into an async iterable of row objects (shared by every
 * record source).
 * @module
 */
import { toHex } from '../utils/bytes.js';
import type { CellValue, SourceRow, SourceSnapshot } from './types.js';

/**
 * The text of a cell as the key and value parsers see it: SQL NULL and `undefined` are the empty
 * string (an empty CSV cell), strings unchanged, numbers and bigints in their shortest decimal
 * form, booleans `true` / `false`, dates in ISO 8601 (UTC), bytes in lowercase hex.
 * @example
 * ```ts
 * cellText(null); // ''
 * cellText(12.5); // '12.5'
 * ```
 */
export function cellText(value: CellValue): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (value instanceof Date) return value.toISOString();
  if (value instanceof Uint8Array) return toHex(value);
  throw new TypeError(`record source: a cell must be a string, number, bigint, boolean, Date, Uint8Array or null, got ${typeof value}`);
}

/**
 * Rows of a fresh snapshot as objects (the `AsyncIterable` side of every record source).
 * @example
 * ```ts
 * const it = snapshotRows(() => source.snapshot());
 * ```
 */
export async function* snapshotRows(open: () => Promise<SourceSnapshot>): AsyncGenerator<SourceRow> {
  const snap = await open();
  try {
    const { header, rows } = await snap.scan();
    for await (const cells of rows) {
      const row: Record<string, string | null> = {};
      header.forEach((name, i) => (row[name] = cells[i] ?? null));
      yield row;
    }
  } finally {
    await snap.close();
  }
}
