/**
 * The analyst's released result: decrypted totals turned into per-group statistics, with the
 * minimum-cohort guardrail applied (withheld groups say so) and DP parameters recorded.
 * @module
 */
import { divideToDecimal, formatFixedPoint } from '../../he/fixed-point.js';
import { meetsMinCohort, type DpRecord } from '../guardrails.js';
import { aggregateLayout, dpPlan, type AggregateQuery } from './query.js';
import { csvCell } from '../../utils/csv-cell.js';

/**
 * One released statistic (values are exact decimal strings; with DP they include the noise).
 *
 * @example
 * ```ts
 * const s: AggregateStatisticResult = { type: 'sum', column: 'cost', value: '1234.50' };
 * ```
 */
export type AggregateStatisticResult =
  | { type: 'count'; value: string }
  | { type: 'sum'; column: string; value: string }
  | { type: 'mean'; column: string; value: string | null }
  | { type: 'histogram'; column: string; bins: string[]; counts: string[] };

/**
 * One group of the result: released, or withheld below the minimum cohort.
 *
 * @example
 * ```ts
 * if (g.withheld) console.log(g.group, g.reason);
 * ```
 */
export type AggregateGroupResult =
  | { group: string | null; withheld: false; statistics: AggregateStatisticResult[] }
  | { group: string | null; withheld: true; reason: string };

/**
 * What the analyst outputs (and `dataport aggregate analyst --output` writes as JSON).
 *
 * @example
 * ```ts
 * console.log(JSON.stringify(result, null, 2));
 * ```
 */
export interface AggregateResult {
  queryId: string;
  contributors: number;
  expectedProviders: number;
  groups: AggregateGroupResult[];
  guardrails: {
    minCohort: number;
    withheldGroups: number;
    /** With DP, withholding is decided on the noisy count (the analyst never sees exact counts). */
    minCohortOnNoisyCounts: boolean;
    dp: null | { epsilonTotal: string; perStatistic: ({ statistic: number } & DpRecord)[] };
  };
}

/**
 * Builds the released result from the decrypted total vector (centred integers in slot layout).
 *
 * @example
 * ```ts
 * const result = buildAggregateResult(query, totals, 3, 3, false);
 * ```
 */
export function buildAggregateResult(
  query: AggregateQuery,
  totals: readonly bigint[],
  contributors: number,
  expectedProviders: number,
  noiseAdded: boolean,
): AggregateResult {
  const layout = aggregateLayout(query);
  if (totals.length !== layout.slots) throw new RangeError(`totals must have ${layout.slots} values`);
  const decimalsOf = (column: string) => query.columns.find((c) => c.name === column)!.decimals;
  const groups: AggregateGroupResult[] = [];
  let withheldGroups = 0;
  for (let g = 0; g < layout.groups; g++) {
    const base = g * layout.perGroup;
    const name = query.groupBy === null ? null : query.groupBy.categories[g]!;
    const count = totals[base]!;
    if (!meetsMinCohort(count < 0n ? 0n : count, query.minCohort)) {
      withheldGroups++;
      groups.push({ group: name, withheld: true, reason: `fewer than ${query.minCohort} rows (minimum cohort)` });
      continue;
    }
    const sumOf = (column: string) => totals[base + 1 + layout.sumColumns.indexOf(column)]!;
    const statistics: AggregateStatisticResult[] = query.statistics.map((s, i) => {
      switch (s.type) {
        case 'count':
          return { type: 'count', value: count.toString() };
        case 'sum':
          return { type: 'sum', column: s.column, value: formatFixedPoint(sumOf(s.column), decimalsOf(s.column)) };
        case 'mean': {
          // Mean = sum / count of the same group, rounded half away from zero to decimals + 2 places.
          const d = decimalsOf(s.column);
          const value = count > 0n ? divideToDecimal(sumOf(s.column), count * 10n ** BigInt(d), Math.min(d + 2, 18)) : null;
          return { type: 'mean', column: s.column, value };
        }
        case 'histogram': {
          const off = base + layout.histogramOffsets.get(i)!;
          return { type: 'histogram', column: s.column, bins: s.bins, counts: s.bins.slice(1).map((_, b) => totals[off + b]!.toString()) };
        }
      }
    });
    groups.push({ group: name, withheld: false, statistics });
  }
  const plan = noiseAdded ? dpPlan(query) : null;
  let dp: AggregateResult['guardrails']['dp'] = null;
  if (plan !== null && query.dp !== null) {
    const perStatistic = query.statistics.map((s, i) => {
      const off = s.type === 'count' ? 0 : s.type === 'histogram' ? layout.histogramOffsets.get(i)! : 1 + layout.sumColumns.indexOf(s.column);
      const p = plan.perSlot[off]!;
      const rec: { statistic: number } & DpRecord = { statistic: i, mechanism: 'discrete-laplace', epsilon: p.epsilon, sensitivity: p.sensitivity.toString(), delta: '2^-40' };
      return rec;
    });
    dp = { epsilonTotal: query.dp.epsilon, perStatistic };
  }
  return {
    queryId: query.id,
    contributors,
    expectedProviders,
    groups,
    guardrails: { minCohort: query.minCohort, withheldGroups, minCohortOnNoisyCounts: noiseAdded, dp },
  };
}

/** Column names of {@link aggregateResultRows}. */
export const AGGREGATE_RESULT_COLUMNS = ['group', 'statistic', 'column', 'bin', 'value'] as const;

/**
 * The result as flat rows, one per released value: `group, statistic, column, bin, value`
 * (a histogram gives one row per bin; a withheld group one row with statistic `withheld` and the
 * reason as its value; the ungrouped total has group `*`). What the CSV format and a result table
 * (`aggregate analyst --output-table`) hold.
 * @example
 * ```ts
 * for (const [group, statistic, column, bin, value] of aggregateResultRows(result)) console.log(group, statistic, value);
 * ```
 */
export function aggregateResultRows(result: AggregateResult): string[][] {
  const rows: string[][] = [];
  for (const g of result.groups) {
    const group = g.group ?? '*';
    if (g.withheld) {
      rows.push([group, 'withheld', '', '', g.reason]);
      continue;
    }
    for (const s of g.statistics) {
      if (s.type === 'count') rows.push([group, 'count', '', '', s.value]);
      else if (s.type === 'histogram') s.bins.forEach((b, i) => rows.push([group, 'histogram', s.column, b, s.counts[i] ?? '']));
      else rows.push([group, s.type, s.column, '', s.value ?? '']);
    }
  }
  return rows;
}

/**
 * Renders a result: `json` (the full object, as before), `csv` (RFC 4180 with a header row
 * `group,statistic,column,bin,value`, cells quoted like `ledger report`'s, formula-safe) or
 * `table` (the same rows aligned for a terminal, control characters replaced). CSV and table
 * carry the values only; the guardrail and DP details are in the JSON.
 *
 * @example
 * ```ts
 * process.stdout.write(formatAggregateResult(result, 'csv')); // group,statistic,column,bin,value\r\ncardiology,count,,,12\r\n…
 * ```
 */
export function formatAggregateResult(result: AggregateResult, format: 'table' | 'csv' | 'json'): string {
  if (format === 'json') return `${JSON.stringify(result, null, 2)}\n`;
  const header = [...AGGREGATE_RESULT_COLUMNS];
  const rows = aggregateResultRows(result);
  if (format === 'csv') return [header, ...rows].map((r) => r.map(csvCell).join(',')).join('\r\n') + '\r\n';
  if (format !== 'table') throw new RangeError("format must be 'table', 'csv' or 'json'");
  // Group names and columns come from the query (the analyst's own) but may hold anything: keep them off the terminal's controls.
  const all = [header, ...rows.map((r) => r.map((c) => c.replace(/[\x00-\x1f\x7f-\x9f\u2028\u2029]/g, '\uFFFD')))];
  const widths = header.map((_, i) => Math.max(...all.map((r) => r[i]!.length)));
  return all.map((r) => r.map((c, i) => (i === r.length - 1 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n') + '\n';
}
