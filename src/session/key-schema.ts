/**
 * The key schema of a PSI or psi-sum run, in the signed terms: how many key columns each row's key
 * has and which normalisation profile turned them into record bytes (`nfkc-trim-lower-v1`,
 * protocols/psi/normalize.ts). Two parties whose keys are built differently (`patient_id,ward`
 * against `resident_id`) would otherwise run to completion with an intersection of 0 — a silently
 * wrong answer. The requester states its schema in the terms (option `key-schema`, e.g.
 * `2/nfkc-trim-lower-v1`, and, for the operator's messages only, its column names in `key-columns`);
 * the responder compares the count and the profile with its own and refuses a mismatch through the
 * standard terms refusal, naming both schemas, before any protocol data is sent. Column names are
 * never compared: they differ legitimately (`patient_id` against `resident_id`).
 * @module
 */
import { NORMALIZATION_PROFILE } from '../protocols/psi/normalize.js';
import type { SessionTerms } from './messages.js';

/** Terms option: `<number of key columns>/<normalisation profile id>`. */
export const KEY_SCHEMA_OPTION = 'key-schema';
/** Terms option: the requester's key column names as a JSON array (for messages; never compared). */
export const KEY_COLUMNS_OPTION = 'key-columns';

/** Most key columns a key may have. */
const MAX_KEY_COLUMNS = 64;
/** Longest `key-columns` value put in the terms (the terms codec's option limit); longer lists are left out. */
const MAX_COLUMNS_OPTION_BYTES = 256;

/**
 * How a party's keys are built.
 *
 * @example
 * ```ts
 * const s: KeySchema = { columns: 2, profile: 'nfkc-trim-lower-v1', names: ['patient_id', 'ward'] };
 * ```
 */
export interface KeySchema {
  /** Number of key columns. */
  columns: number;
  /** Normalisation profile id. */
  profile: string;
  /** Column names, for messages only. */
  names?: readonly string[];
}

/**
 * What a caller says about its keys (`runPsi` / `runPsiSum` option `keySchema`).
 *
 * @example
 * ```ts
 * const spec: KeySchemaSpec = { columns: ['patient_id', 'ward'] };
 * ```
 */
export interface KeySchemaSpec {
  /** The key column names; their number must equal every record's width. Default: width of the records, unnamed. */
  columns?: readonly string[];
  /** Normalisation profile id (default and only one in this build: `nfkc-trim-lower-v1`). */
  profile?: string;
}

/**
 * The key schema of `records` (a string per row: one column; an array per row: its length, equal
 * for every row) under `spec`. Throws `RangeError` for rows of different widths, a width other
 * than `spec.columns`' length, or a profile this build does not implement.
 *
 * @example
 * ```ts
 * keySchemaOf([['1', 'a'], ['2', 'b']], { columns: ['patient_id', 'ward'] }).columns; // 2
 * ```
 */
export function keySchemaOf(records: readonly (readonly string[])[] | readonly string[], spec: KeySchemaSpec = {}): KeySchema {
  if (spec === null || typeof spec !== 'object') throw new TypeError('keySchema must be an object');
  const profile = spec.profile ?? NORMALIZATION_PROFILE;
  if (profile !== NORMALIZATION_PROFILE) throw new RangeError(`keySchema.profile must be '${NORMALIZATION_PROFILE}' (the only profile of this build)`);
  let width: number | undefined;
  for (let i = 0; i < records.length; i++) {
    const r = records[i];
    const w = typeof r === 'string' ? 1 : Array.isArray(r) ? r.length : undefined;
    if (w === undefined) continue; // reported by the normaliser with its index
    if (width === undefined) width = w;
    else if (w !== width) throw new RangeError(`records[${i}] has ${w} key fields, records[0] has ${width}: every key must have the same columns`);
  }
  const names = spec.columns;
  if (names !== undefined) {
    if (!Array.isArray(names) || names.some((n) => typeof n !== 'string')) throw new TypeError('keySchema.columns must be an array of strings');
    if (names.length === 0 || names.length > MAX_KEY_COLUMNS) throw new RangeError(`keySchema.columns must name 1 to ${MAX_KEY_COLUMNS} columns`);
    if (width !== undefined && width !== names.length) {
      throw new RangeError(`records have ${width} key fields but keySchema.columns names ${names.length}`);
    }
  }
  const columns = names?.length ?? width ?? 1;
  if (columns < 1 || columns > MAX_KEY_COLUMNS) throw new RangeError(`keys must have 1 to ${MAX_KEY_COLUMNS} fields`);
  return names !== undefined ? { columns, profile, names: [...names] } : { columns, profile };
}

/**
 * The terms options stating `schema` (what a requester adds to its terms).
 *
 * @example
 * ```ts
 * keySchemaTermsOptions({ columns: 1, profile: 'nfkc-trim-lower-v1' }); // { 'key-schema': '1/nfkc-trim-lower-v1' }
 * ```
 */
export function keySchemaTermsOptions(schema: KeySchema): Record<string, string> {
  const out: Record<string, string> = { [KEY_SCHEMA_OPTION]: `${schema.columns}/${schema.profile}` };
  if (schema.names !== undefined) {
    const json = JSON.stringify(schema.names);
    if (new TextEncoder().encode(json).length <= MAX_COLUMNS_OPTION_BYTES) out[KEY_COLUMNS_OPTION] = json;
  }
  return out;
}

/** Bounded, printable form of a peer's string for a message. */
function clean(s: string, max = 64): string {
  // eslint-disable-next-line no-control-regex
  const t = s.replace(/[\u0000-\u001f\u007f]/g, '?');
  return t.length > max ? `${t.slice(0, max)}…` : t;
}

/**
 * One-line description of a schema for messages.
 *
 * @example
 * ```ts
 * describeKeySchema({ columns: 2, profile: 'nfkc-trim-lower-v1', names: ['patient_id', 'ward'] });
 * // '2 key columns (patient_id, ward), nfkc-trim-lower-v1'
 * ```
 */
export function describeKeySchema(schema: KeySchema): string {
  const n = `${schema.columns} key column${schema.columns === 1 ? '' : 's'}`;
  const names = schema.names !== undefined ? ` (${clean(schema.names.join(', '), 120)})` : '';
  return `${n}${names}, ${clean(schema.profile)}`;
}

/** The requester's schema as its terms state it, or `undefined` when absent or malformed. */
function statedSchema(terms: SessionTerms): KeySchema | undefined {
  const v = terms.options[KEY_SCHEMA_OPTION];
  if (v === undefined) return undefined;
  const m = /^([1-9][0-9]{0,2})\/([a-z0-9-]{1,64})$/.exec(v);
  if (!m) return undefined;
  const schema: KeySchema = { columns: Number(m[1]), profile: m[2]! };
  const names = terms.options[KEY_COLUMNS_OPTION];
  if (names !== undefined) {
    try {
      const parsed: unknown = JSON.parse(names);
      if (Array.isArray(parsed) && parsed.length === schema.columns && parsed.every((x) => typeof x === 'string')) schema.names = parsed as string[];
    } catch {
      // informational only: a malformed list is ignored
    }
  }
  return schema;
}

/**
 * Checks the requester's key schema in signed `terms` against this party's own: `undefined` when
 * the number of key columns and the profile agree, else the refusal reason, naming both schemas.
 *
 * @example
 * ```ts
 * checkKeySchema(terms, { columns: 1, profile: 'nfkc-trim-lower-v1', names: ['resident_id'] });
 * // "key schemas differ: requester 2 key columns (patient_id, ward), nfkc-trim-lower-v1; responder 1 key column (resident_id), nfkc-trim-lower-v1"
 * ```
 */
export function checkKeySchema(terms: SessionTerms, mine: KeySchema): string | undefined {
  const theirs = statedSchema(terms);
  if (theirs === undefined) {
    const raw = terms.options[KEY_SCHEMA_OPTION];
    return raw === undefined
      ? `the terms state no key schema (option ${KEY_SCHEMA_OPTION}); responder ${describeKeySchema(mine)}`
      : `the terms state a malformed key schema '${clean(raw)}'; responder ${describeKeySchema(mine)}`;
  }
  if (theirs.columns === mine.columns && theirs.profile === mine.profile) return undefined;
  return `key schemas differ: requester ${describeKeySchema(theirs)}; responder ${describeKeySchema(mine)}`;
}

/** The options a run's terms may carry for the key schema (for a protocol's known-options list). */
export const KEY_SCHEMA_OPTIONS: readonly string[] = Object.freeze([KEY_SCHEMA_OPTION, KEY_COLUMNS_OPTION]);
