/**
 * The declared scale (decimal places) of each psi-sum value column, signed into the terms or the
 * receipt (option `value-scales`). A sum read at the wrong scale is off by a power of ten without a
 * word, so the scale is a term of the job, like the key schema (key-schema.ts):
 * - a value holder that proposes the terms states its columns' scales in them;
 * - an ID holder that proposes the terms may state the scales it expects (`expectValues`);
 * - a responder compares its own columns (value holder) or expectations (ID holder) with the
 *   stated ones and refuses a mismatch before any point, naming both;
 * - when the terms state scales, the ID holder checks that the columns the value holder announces
 *   in the protocol have exactly those (`VerificationFailedError` otherwise); when they do not, both
 *   parties add the announced scales to the co-signed receipt as a fact of the run.
 *
 * Encoding: `name=decimals` per column, names percent-encoded (`encodeURIComponent`), sorted by
 * name, joined by `,`; a list longer than the terms' option limit (256 bytes) is replaced by
 * `sha256:` and the SHA-256 (hex) of that list.
 * @module
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { toHex } from '../utils/bytes.js';

/** Terms / receipt option carrying the value columns' scales. */
export const VALUE_SCALES_OPTION = 'value-scales';

const MAX_OPTION_BYTES = 256;
const encoder = new TextEncoder();

/** One value column's name and scale. */
export interface ValueScale {
  name: string;
  decimals: number;
}

/** The canonical list (unhashed). */
function canonical(columns: readonly ValueScale[]): string {
  return [...columns]
    .map((c) => `${encodeURIComponent(c.name)}=${c.decimals}`)
    .sort()
    .join(',');
}

/**
 * The `value-scales` option value for `columns` (see the module documentation).
 *
 * @example
 * ```ts
 * encodeValueScales([{ name: 'cost_yuan', decimals: 2 }]); // 'cost_yuan=2'
 * ```
 */
export function encodeValueScales(columns: readonly ValueScale[]): string {
  const s = canonical(columns);
  return encoder.encode(s).length <= MAX_OPTION_BYTES ? s : `sha256:${toHex(sha256(encoder.encode(s)))}`;
}

/**
 * Checks an expectation map (`{ column: decimals }`) and returns it as a list.
 *
 * @example
 * ```ts
 * valueScalesOf({ cost_yuan: 2 }, 'terms.expectValues'); // [{ name: 'cost_yuan', decimals: 2 }]
 * ```
 */
export function valueScalesOf(expect: Readonly<Record<string, number>>, name: string): ValueScale[] {
  if (expect === null || typeof expect !== 'object') throw new TypeError(`${name} must be an object`);
  const out = Object.entries(expect).map(([k, v]) => {
    if (!Number.isInteger(v) || v < 0 || v > 18) throw new RangeError(`${name}.${k} must be an integer 0..18`);
    return { name: k, decimals: v };
  });
  if (out.length === 0) throw new RangeError(`${name} must name at least one column`);
  return out;
}

/** Printable, bounded form of a stated `value-scales` value. */
function describe(encoded: string): string {
  if (encoded.startsWith('sha256:')) return `${encoded.slice(0, 23)}… (a long column list)`;
  // eslint-disable-next-line no-control-regex
  const s = encoded.replace(/[\u0000-\u001f\u007f]/g, '?');
  return s.length > 160 ? `${s.slice(0, 160)}…` : s;
}

/**
 * `undefined` when `stated` (a peer's `value-scales`) equals this party's `mine`, else a
 * one-line refusal reason naming both.
 *
 * @example
 * ```ts
 * compareValueScales('cost_yuan=1', [{ name: 'cost_yuan', decimals: 2 }], 'requester', 'responder');
 * // "value column scales differ: requester cost_yuan=1; responder cost_yuan=2"
 * ```
 */
export function compareValueScales(stated: string, mine: readonly ValueScale[], statedBy: string, me: string): string | undefined {
  const own = encodeValueScales(mine);
  if (stated === own) return undefined;
  return `value column scales differ: ${statedBy} ${describe(stated)}; ${me} ${describe(own)}`;
}
