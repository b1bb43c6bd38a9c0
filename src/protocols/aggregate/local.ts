/**
 * A provider's local aggregates: its rows reduced to one vector in the query's slot layout, with
 * every value checked against the declared bounds before anything is encrypted.
 * @module
 */
import { InputError } from '../../errors.js';
import { decimalPlaces, parseFixedPoint } from '../../he/fixed-point.js';
import { aggregateLayout, type AggregateQuery } from './query.js';

/**
 * An incremental reducer of rows to the query's slot vector (for streamed inputs such as CSV files).
 *
 * @example
 * ```ts
 * const acc = createLocalAggregator(query);
 * acc.add({ ward: 'oncology', cost: '120.50' });
 * const vector = acc.result();
 * ```
 */
export interface LocalAggregator {
  /** Adds one row; throws `InputError` as {@link computeLocalAggregates} describes. */
  add(row: Readonly<Record<string, string | undefined>>): void;
  /** Rows added so far. */
  readonly rows: number;
  /** The slot vector (a copy). */
  result(): bigint[];
}

/**
 * Creates an incremental local aggregator for a query.
 *
 * @example
 * ```ts
 * const acc = createLocalAggregator(query);
 * ```
 */
export function createLocalAggregator(query: AggregateQuery): LocalAggregator {
  const layout = aggregateLayout(query);
  const out = new Array<bigint>(layout.slots).fill(0n);
  const numeric = new Map(query.columns.map((c) => [c.name, { c, min: parseFixedPoint(c.min, c.decimals), max: parseFixedPoint(c.max, c.decimals) }]));
  const needed = new Set<string>([...layout.sumColumns]);
  const histograms: { offset: number; column: string; edges: bigint[] }[] = [];
  query.statistics.forEach((s, i) => {
    if (s.type === 'histogram') {
      needed.add(s.column);
      const col = numeric.get(s.column)!.c;
      histograms.push({ offset: layout.histogramOffsets.get(i)!, column: s.column, edges: s.bins.map((b) => parseFixedPoint(b, col.decimals)) });
    }
  });
  const categoryIndex = new Map(query.groupBy?.categories.map((c, i) => [c, i]) ?? []);
  let rowNumber = 0;
  return {
    get rows() {
      return rowNumber;
    },
    result: () => out.slice(),
    add(row) {
      rowNumber++;
      if (rowNumber > query.maxRowsPerProvider) throw new InputError(`more than ${query.maxRowsPerProvider} rows (the query's maxRowsPerProvider)`);
      let group = 0;
      if (query.groupBy !== null) {
        const cat = row[query.groupBy.column];
        if (cat === undefined) throw new InputError(`row ${rowNumber}: missing column ${query.groupBy.column}`);
        const g = categoryIndex.get(cat.trim());
        if (g === undefined) throw new InputError(`row ${rowNumber}: ${query.groupBy.column} is not one of the query's categories`);
        group = g;
      }
      const base = group * layout.perGroup;
      const values = new Map<string, bigint>();
      for (const name of needed) {
        const { c, min, max } = numeric.get(name)!;
        const cell = row[name];
        if (cell === undefined || cell.trim() === '') throw new InputError(`row ${rowNumber}: missing value in column ${name}`);
        let v: bigint;
        try {
          v = parseFixedPoint(cell.trim(), c.decimals);
        } catch {
          throw new InputError(`row ${rowNumber}: column ${name} is not a number with at most ${decimalPlaces(c.decimals)}`);
        }
        if (v < min || v > max) throw new InputError(`row ${rowNumber}: column ${name} is outside the declared [${c.min}, ${c.max}]`);
        values.set(name, v);
      }
      out[base] = out[base]! + 1n;
      layout.sumColumns.forEach((name, i) => {
        out[base + 1 + i] = out[base + 1 + i]! + values.get(name)!;
      });
      for (const h of histograms) {
        const v = values.get(h.column)!;
        // Bin i = [e_i, e_{i+1}), the last bin closed: [e_{k-1}, e_k].
        let bin = -1;
        for (let i = 0; i < h.edges.length - 1; i++) {
          const last = i === h.edges.length - 2;
          if (v >= h.edges[i]! && (v < h.edges[i + 1]! || (last && v === h.edges[i + 1]!))) {
            bin = i;
            break;
          }
        }
        if (bin < 0) throw new InputError(`row ${rowNumber}: column ${h.column} is outside the histogram bins`);
        out[base + h.offset + bin] = out[base + h.offset + bin]! + 1n;
      }
    },
  };
}

/**
 * Columns a provider's input must have for a query (group column first, then numeric ones).
 *
 * @example
 * ```ts
 * requiredColumns(query); // ['ward', 'cost', 'age']
 * ```
 */
export function requiredColumns(query: AggregateQuery): string[] {
  const layout = aggregateLayout(query);
  const cols = query.groupBy === null ? [] : [query.groupBy.column];
  for (const c of layout.sumColumns) if (!cols.includes(c)) cols.push(c);
  for (const s of query.statistics) if (s.type === 'histogram' && !cols.includes(s.column)) cols.push(s.column);
  return cols;
}

/**
 * Reduces rows (column name → cell text, e.g. from a CSV file) to the query's slot vector.
 * Throws `InputError` (naming the row and column, never the value) for a missing cell, a value that
 * is not a decimal with at most the declared places, a value outside [min, max], a category that
 * the query does not declare, or more rows than `maxRowsPerProvider`.
 *
 * @example
 * ```ts
 * const vector = computeLocalAggregates(query, [{ ward: 'oncology', cost: '120.50' }]);
 * ```
 */
export function computeLocalAggregates(query: AggregateQuery, rows: Iterable<Readonly<Record<string, string | undefined>>>): bigint[] {
  const acc = createLocalAggregator(query);
  for (const row of rows) acc.add(row);
  return acc.result();
}
