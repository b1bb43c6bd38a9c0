/**
 * The column schema of an aggregation provider, in its signed terms: the names of the columns it
 * offers (option `columns`, a JSON array). A provider joins before the query exists, so the
 * comparison happens once the query is known and before anything is encrypted: the provider
 * refuses a query over columns it does not offer (a terms refusal, ABORT `QUERY_REFUSED`), and the
 * operator, which holds both the query and the provider's signed terms, names the same two schemas
 * for that provider. Without it a provider whose file says `cost_yuan` where the query says `cost`
 * is reported only as "could not use its input". Column names are not data, but they are recorded
 * in the receipt (terms options are).
 * @module
 */
import { requiredColumns } from '../protocols/aggregate/local.js';
import type { AggregateQuery } from '../protocols/aggregate/query.js';
import type { SessionTerms } from './messages.js';

/** Terms option of a provider: the column names it offers, as a JSON array. */
export const OFFERED_COLUMNS_OPTION = 'columns';

/** Longest `columns` value (the terms codec's option limit). */
const MAX_COLUMNS_OPTION_BYTES = 256;

/**
 * The terms option stating `names` (what a provider adds to its terms). Throws `RangeError` when
 * the list is empty, has a repeated or empty name, or does not fit the terms' 256-byte option.
 *
 * @example
 * ```ts
 * offeredColumnsTermsOptions(['ward', 'cost']); // { columns: '["ward","cost"]' }
 * ```
 */
export function offeredColumnsTermsOptions(names: readonly string[]): Record<string, string> {
  if (!Array.isArray(names) || names.some((n) => typeof n !== 'string' || n === '')) throw new TypeError('columns must be an array of non-empty strings');
  if (names.length === 0) throw new RangeError('columns must name at least one column');
  if (new Set(names).size !== names.length) throw new RangeError('columns must not repeat a name');
  const json = JSON.stringify(names);
  if (new TextEncoder().encode(json).length > MAX_COLUMNS_OPTION_BYTES) {
    throw new RangeError(`columns must fit in ${MAX_COLUMNS_OPTION_BYTES} bytes as JSON (offer only the columns a query may use)`);
  }
  return { [OFFERED_COLUMNS_OPTION]: json };
}

/**
 * The offered columns a provider's terms state, or `undefined` when absent or malformed.
 *
 * @example
 * ```ts
 * statedColumns(session.terms); // ['ward', 'cost']
 * ```
 */
export function statedColumns(terms: SessionTerms): string[] | undefined {
  const v = terms.options[OFFERED_COLUMNS_OPTION];
  if (v === undefined) return undefined;
  try {
    const parsed: unknown = JSON.parse(v);
    if (Array.isArray(parsed) && parsed.length > 0 && parsed.every((x) => typeof x === 'string' && x !== '')) return parsed as string[];
  } catch {
    // malformed: treated as absent (the operator refuses such terms)
  }
  return undefined;
}

/** Bounded, printable form of a name for a message. */
function clean(s: string, max = 64): string {
  // eslint-disable-next-line no-control-regex
  const t = s.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
  return t.length > max ? `${t.slice(0, max)}…` : t;
}

/**
 * One-line description of the columns a query needs, each with its role.
 *
 * @example
 * ```ts
 * describeQueryColumns(query); // 'ward (group-by), cost (decimal, 2 places)'
 * ```
 */
export function describeQueryColumns(query: AggregateQuery): string {
  return requiredColumns(query)
    .map((name) => {
      const c = query.columns.find((x) => x.name === name);
      const role = c !== undefined ? (c.type === 'integer' ? 'integer' : `decimal, ${c.decimals} place${c.decimals === 1 ? '' : 's'}`) : 'group-by';
      return `${clean(name)} (${role})`;
    })
    .join(', ');
}

/**
 * Checks the columns `query` needs against the ones a provider `offered`: `undefined` when every
 * one is offered, else the refusal reason naming both schemas and what is missing.
 *
 * @example
 * ```ts
 * checkOfferedColumns(query, ['ward', 'cost_yuan']);
 * // "column schemas differ: the query needs ward (group-by), cost (decimal, 2 places); the provider offers ward, cost_yuan (missing: cost)"
 * ```
 */
export function checkOfferedColumns(query: AggregateQuery, offered: readonly string[]): string | undefined {
  const missing = requiredColumns(query).filter((c) => !offered.includes(c));
  if (missing.length === 0) return undefined;
  const shown = offered.slice(0, 30).map((c) => clean(c));
  const list = shown.join(', ') + (offered.length > shown.length ? `, … (${offered.length} columns)` : '');
  return `column schemas differ: the query needs ${describeQueryColumns(query)}; the provider offers ${list} (missing: ${missing.map((c) => clean(c)).join(', ')})`;
}
