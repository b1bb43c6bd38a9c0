/**
 * The value-holder and guardrail options that `dataport psi-sum` and `dataport job` (psi-sum jobs)
 * share: `--values`, `--decimals`, `--bound`, `--min-cohort`, `--dp-epsilon` (docs/psi-sum.md).
 * @module
 */
import { InputError } from '../errors.js';
import { epsilonEach } from '../protocols/psi-sum/protocol.js';
import type { ValueColumnRequest } from '../protocols/psi-sum/values.js';
import { intOption, parseColumnList, stringOption, type OptionSpec } from './args.js';
import { OPTION_MESSAGES as O, PSI_SUM_MESSAGES as M } from './messages.js';

/** The option specs of {@link parseValueOptions}. */
export const VALUE_OPTION_SPECS: Record<string, OptionSpec> = {
  values: { type: 'string' },
  decimals: { type: 'string' },
  bound: { type: 'string' },
  'min-cohort': { type: 'string' },
  'dp-epsilon': { type: 'string' },
};

/** What {@link parseValueOptions} read. */
export interface ValueOptions {
  /** Value holder: the columns to sum (empty: this side holds identifiers only). */
  valueColumns: string[];
  decimals: Map<string, number>;
  bounds: Map<string, string>;
  minCohort: number;
  dpEpsilon?: string;
}

/**
 * Parses `COL=VALUE[,COL=VALUE…]` (a column named twice is an error).
 * @example
 * ```ts
 * parseAssignments('cost=2,flag=0', 'decimals'); // Map { 'cost' => '2', 'flag' => '0' }
 * ```
 */
export function parseAssignments(text: string | undefined, option: string): Map<string, string> {
  const out = new Map<string, string>();
  if (text === undefined) return out;
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0 || eq === part.length - 1) throw new InputError(M.assignments(option, part));
    const col = part.slice(0, eq).trim();
    if (out.has(col)) throw new InputError(O.columnTwice(option, col));
    out.set(col, part.slice(eq + 1).trim());
  }
  return out;
}

/**
 * Reads `--values`, `--decimals`, `--bound`, `--min-cohort` and `--dp-epsilon`.
 * @example
 * ```ts
 * const v = parseValueOptions(values); // { valueColumns: ['cost'], decimals: Map {…}, bounds: Map {}, minCohort: 0 }
 * ```
 */
export function parseValueOptions(values: Record<string, unknown>): ValueOptions {
  const v = values as Parameters<typeof stringOption>[0];
  const valuesText = stringOption(v, 'values');
  const valueColumns = valuesText === undefined ? [] : parseColumnList(valuesText, 'values');
  const decimals = new Map<string, number>();
  for (const [col, d] of parseAssignments(stringOption(v, 'decimals'), 'decimals')) {
    if (!/^[0-9]{1,2}$/.test(d) || Number(d) > 18) throw new InputError(M.decimals('decimals', col, d));
    decimals.set(col, Number(d));
  }
  const bounds = parseAssignments(stringOption(v, 'bound'), 'bound');
  for (const col of [...decimals.keys(), ...bounds.keys()]) {
    if (!valueColumns.includes(col)) throw new InputError(M.notAValueColumn(col));
  }
  const dpEpsilon = stringOption(v, 'dp-epsilon');
  if (dpEpsilon !== undefined) {
    try {
      epsilonEach(dpEpsilon, Math.max(1, valueColumns.length || 1));
    } catch (err) {
      throw new InputError(M.badEpsilon(dpEpsilon, (err as Error).message));
    }
  }
  return { valueColumns, decimals, bounds, minCohort: intOption(v, 'min-cohort', 0, 2 ** 31, 0), ...(dpEpsilon !== undefined ? { dpEpsilon } : {}) };
}

/**
 * The value column requests of parsed options (`aggregateValueRows`' input).
 * @example
 * ```ts
 * valueColumnRequests(parseValueOptions(values)); // [{ name: 'cost', decimals: 2 }]
 * ```
 */
export function valueColumnRequests(o: Pick<ValueOptions, 'valueColumns' | 'decimals' | 'bounds'>): ValueColumnRequest[] {
  return o.valueColumns.map((name) => ({
    name,
    ...(o.decimals.has(name) ? { decimals: o.decimals.get(name)! } : {}),
    ...(o.bounds.has(name) ? { bound: o.bounds.get(name)! } : {}),
  }));
}
