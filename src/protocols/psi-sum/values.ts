/**
 * The value holder's input: per distinct key, the exact total of each value column over all of its
 * rows (every row whose key matches counts), as integers × 10^decimals. Values are never rounded:
 * a value with more decimal places than declared is refused, as is a value or a key's total beyond
 * the column's declared bound.
 * @module
 */
import { InputError } from '../../errors.js';
import { decimalPlaces, parseFixedPoint, MAX_DECIMALS } from '../../he/fixed-point.js';
import { dedupeRecords } from '../psi/normalize.js';
import type { ColumnSpec } from './codec.js';
import type { ValueHolderInput } from './protocol.js';

/** How a value column is to be read. */
export interface ValueColumnRequest {
  /** Column name (as announced to the peer). */
  name: string;
  /** Decimal places; default: the most places any value of the column has. */
  decimals?: number;
  /**
   * Bound on |each row's value| and |each key's total|, as a decimal string. Default: the smallest
   * power of ten (in scaled units) ≥ the largest key total — the peer then learns its order of
   * magnitude (docs/psi-sum.md).
   */
  bound?: string;
}

const DECIMAL_RE = /^[+-]?[0-9]+(?:\.([0-9]+))?$/;

/**
 * Aggregates the value holder's rows per distinct key.
 *
 * @example
 * ```ts
 * const input = aggregateValueRows([utf8('a'), utf8('a'), utf8('b')],
 *   [['10.50'], ['1.25'], ['-3']], [{ name: 'cost', decimals: 2 }]);
 * input.totals[0]; // [1175n, -300n] (key order: first appearance)
 * ```
 */
export function aggregateValueRows(
  records: readonly (Uint8Array | undefined)[],
  rows: readonly (readonly string[])[],
  columns: readonly ValueColumnRequest[],
  options: {
    /**
     * Words the message of a bad cell (`row`: 0-based index into `rows`) so that it names where the
     * row came from, e.g. a file and line; default `column C, data row N: PROBLEM`.
     */
    rowMessage?: (row: number, column: string, problem: string) => string;
  } = {},
): ValueHolderInput {
  const rowMessage = options.rowMessage ?? ((r: number, column: string, problem: string) => `column ${column}, data row ${r + 1}: ${problem}`);
  if (!Array.isArray(records) || !Array.isArray(rows) || records.length !== rows.length) throw new RangeError('records and rows must have the same length');
  if (!Array.isArray(columns) || columns.length === 0) throw new RangeError('columns must be a non-empty array');
  const dedup = dedupeRecords(records);
  const specs: ColumnSpec[] = [];
  const totals: bigint[][] = [];
  columns.forEach((col, ci) => {
    const name = col.name;
    let decimals = col.decimals;
    if (decimals === undefined) {
      decimals = 0;
      for (let r = 0; r < rows.length; r++) {
        if (dedup.keyOfRow[r] === -1) continue;
        const m = DECIMAL_RE.exec((rows[r]![ci] ?? '').trim());
        if (m?.[1] !== undefined) decimals = Math.max(decimals, m[1].length);
      }
      if (decimals > MAX_DECIMALS) throw new InputError(`column ${name}: more than ${decimalPlaces(MAX_DECIMALS)}`);
    } else if (!Number.isSafeInteger(decimals) || decimals < 0 || decimals > MAX_DECIMALS) {
      throw new InputError(`column ${name}: decimals must be 0..${MAX_DECIMALS}`);
    }
    let bound: bigint | undefined;
    if (col.bound !== undefined) {
      try {
        bound = parseFixedPoint(col.bound.trim(), decimals);
      } catch (e) {
        throw new InputError(`column ${name}: bound '${col.bound}': ${(e as Error).message}`);
      }
      if (bound < 1n) throw new InputError(`column ${name}: the bound must be positive`);
    }
    const t = new Array<bigint>(dedup.keys.length).fill(0n);
    for (let r = 0; r < rows.length; r++) {
      const k = dedup.keyOfRow[r]!;
      if (k === -1) continue; // a row without a key takes no part
      const cell = (rows[r]![ci] ?? '').trim();
      if (cell === '') throw new InputError(rowMessage(r, name, 'empty value'));
      let v: bigint;
      try {
        v = parseFixedPoint(cell, decimals);
      } catch (e) {
        throw new InputError(rowMessage(r, name, `'${cell.slice(0, 32)}': ${(e as Error).message} (declared ${decimalPlaces(decimals)}; values are never rounded)`));
      }
      if (bound !== undefined && (v > bound || v < -bound)) {
        throw new InputError(rowMessage(r, name, `value exceeds the declared bound ${col.bound}; refused before encryption`));
      }
      t[k] = t[k]! + v;
    }
    let max = 0n;
    for (const v of t) {
      const a = v < 0n ? -v : v;
      if (a > max) max = a;
    }
    if (bound === undefined) {
      bound = 1n;
      while (bound < max) bound *= 10n;
    } else if (max > bound) {
      throw new InputError(`column ${name}: a key's total exceeds the declared bound ${col.bound}; refused before encryption`);
    }
    specs.push({ name, decimals, bound });
    totals.push(t);
  });
  return { keys: dedup.keys, columns: specs, totals };
}
