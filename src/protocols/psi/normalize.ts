/**
 * Identifier normalisation and the record bytes that enter the protocol (DESIGN.md §8), and the
 * collapse of duplicate keys before the protocol (§4.1: the peer sees only distinct keys; all of
 * the caller's rows whose key matches are output).
 *
 * Record bytes, pinned:
 * - every field is normalised with `s.normalize('NFKC').trim().toLowerCase()` (NFKC folds
 *   full-width digits and letters to ASCII and U+3000 to a space, which `trim` then removes;
 *   lower-casing makes a resident ID ending in `X` match one ending in `x`);
 * - a single-column key is exactly the UTF-8 of its normalised field (so interop mode hashes the
 *   same bytes as any other implementation of the draft fed the same identifier);
 * - a key of two or more columns is, for each field in order, its UTF-8 byte length as a 4-byte
 *   big-endian integer followed by those bytes. The length prefixes make it unambiguous
 *   (`['ab','c']` and `['a','bc']` differ), and a multi-column encoding can never equal a
 *   single-column one for the same number of columns, which both parties must agree on anyway;
 * - a key whose fields are all empty after normalisation is dropped (`undefined`): blank cells
 *   must not all match each other.
 * @module
 */
import { throwIfAborted } from '../../errors.js';
import { createYielder } from './yield.js';

const encoder = new TextEncoder();

/**
 * The id of the normalisation profile this module implements (NFKC, trim, lower-case; the
 * record-byte encoding above). Versioned: a change to what enters the protocol gets a new id, and
 * both parties state the id in the signed terms (session/key-schema.ts).
 *
 * @example
 * ```ts
 * NORMALIZATION_PROFILE; // 'nfkc-trim-lower-v1'
 * ```
 */
export const NORMALIZATION_PROFILE = 'nfkc-trim-lower-v1';

/**
 * Normalises one identifier field: Unicode NFKC, trim, lower-case.
 *
 * @example
 * ```ts
 * normalizeField(' １１０１０１１９９００３０７００１Ｘ '); // '11010119900307001x'
 * ```
 */
export function normalizeField(field: string): string {
  if (typeof field !== 'string') throw new TypeError('field must be a string');
  return field.normalize('NFKC').trim().toLowerCase();
}

/**
 * The record bytes of a key made of `fields` (one string per key column), or `undefined` when every
 * field is empty after normalisation. See the module documentation for the exact encoding.
 *
 * @example
 * ```ts
 * normalizeKey([' 11010119900307001x ']);   // UTF-8 of '11010119900307001x'
 * normalizeKey(['Zhang San', '1990-03-07']); // 4-byte lengths + bytes, per field
 * normalizeKey(['  ']);                      // undefined
 * ```
 */
export function normalizeKey(fields: readonly string[]): Uint8Array | undefined {
  if (!Array.isArray(fields)) throw new TypeError('fields must be an array of strings');
  if (fields.length === 0) throw new RangeError('fields must have at least one column');
  const parts = fields.map((f) => encoder.encode(normalizeField(f)));
  if (parts.every((p) => p.length === 0)) return undefined;
  if (parts.length === 1) return parts[0]!;
  let total = 0;
  for (const p of parts) total += 4 + p.length;
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  let off = 0;
  for (const p of parts) {
    view.setUint32(off, p.length, false);
    out.set(p, off + 4);
    off += 4 + p.length;
  }
  return out;
}

/** Distinct keys of a list of rows and the map back from keys to rows ({@link dedupeRecords}). */
export interface DedupedRecords {
  /** The distinct record bytes, in order of first appearance. */
  readonly keys: readonly Uint8Array[];
  /** For each input row, the index of its key in `keys`, or -1 for a dropped (`undefined`) row. */
  readonly keyOfRow: Int32Array;
}

/** FNV-1a over bytes, from a per-call random basis (local input only; the basis just spreads it). */
function hashBytes(bytes: Uint8Array, basis: number): number {
  let h = basis;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193);
  return h >>> 0;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Incremental de-duplication: rows are added in order; see {@link dedupeRecords}. */
class Deduper {
  private readonly slots: Int32Array; // key index + 1; 0 = empty
  private readonly mask: number;
  private readonly basis: number;
  readonly keys: Uint8Array[] = [];
  readonly keyOfRow: Int32Array;

  constructor(
    private readonly records: readonly (Uint8Array | undefined)[],
  ) {
    const n = records.length;
    let size = 16;
    while (size < 2 * n) size *= 2;
    this.mask = size - 1;
    this.slots = new Int32Array(size);
    const basisWord = new Uint32Array(1);
    globalThis.crypto.getRandomValues(basisWord);
    this.basis = basisWord[0]! | 1;
    this.keyOfRow = new Int32Array(n);
  }

  /** Rows `from .. to - 1`. */
  addRows(from: number, to: number): void {
    const { records, slots, mask, keys, keyOfRow } = this;
    for (let row = from; row < to; row++) {
      const r = records[row];
      if (r === undefined) {
        keyOfRow[row] = -1;
        continue;
      }
      if (!(r instanceof Uint8Array)) throw new TypeError(`records[${row}] must be a Uint8Array or undefined`);
      let s = hashBytes(r, this.basis) & mask;
      for (;;) {
        const k = slots[s]!;
        if (k === 0) {
          keys.push(r);
          slots[s] = keys.length;
          keyOfRow[row] = keys.length - 1;
          break;
        }
        if (sameBytes(keys[k - 1]!, r)) {
          keyOfRow[row] = k - 1;
          break;
        }
        s = (s + 1) & mask;
      }
    }
  }
}

/**
 * Collapses duplicate keys: returns the distinct keys and, for every row, which key it has.
 * `undefined` rows (keys dropped by {@link normalizeKey}) map to -1. Linear time and memory: an
 * open-addressing table of `Int32Array` slots, no per-key strings.
 *
 * @example
 * ```ts
 * const d = dedupeRecords([utf8('a'), utf8('b'), utf8('a'), undefined]);
 * d.keys.length; // 2
 * d.keyOfRow;    // Int32Array [0, 1, 0, -1]
 * ```
 */
export function dedupeRecords(records: readonly (Uint8Array | undefined)[]): DedupedRecords {
  if (!Array.isArray(records)) throw new TypeError('records must be an array');
  const d = new Deduper(records);
  d.addRows(0, records.length);
  return { keys: d.keys, keyOfRow: d.keyOfRow };
}

/** Rows per slice of the asynchronous variants (~1–3 ms of work each). */
const SLICE_ROWS = 4096;
/** Bytes per slab of encoded one-column keys ({@link normalizeKeysAsync}). */
const SLAB_BYTES = 1 << 18;

/**
 * {@link dedupeRecords} in slices that yield to the event loop (see `yield.ts`), for large inputs
 * on a thread that must stay responsive. Same result; rejects with `AbortError` if `signal` aborts.
 *
 * @example
 * ```ts
 * const d = await dedupeRecordsAsync(rows, AbortSignal.timeout(60_000));
 * ```
 */
export async function dedupeRecordsAsync(records: readonly (Uint8Array | undefined)[], signal?: AbortSignal): Promise<DedupedRecords> {
  if (!Array.isArray(records)) throw new TypeError('records must be an array');
  const d = new Deduper(records);
  const maybeYield = createYielder();
  for (let from = 0; from < records.length; from += SLICE_ROWS) {
    throwIfAborted(signal);
    d.addRows(from, Math.min(records.length, from + SLICE_ROWS));
    await maybeYield();
  }
  return { keys: d.keys, keyOfRow: d.keyOfRow };
}

/**
 * {@link normalizeKey} for every row (a string for a one-column key, or the fields of a multi-column
 * key), in slices that yield to the event loop. Throws `TypeError` naming the first row that is
 * neither; rejects with `AbortError` if `signal` aborts.
 *
 * @example
 * ```ts
 * const records = await normalizeKeysAsync(['11010119900307001X', ['Zhang San', '1990-03-07']]);
 * ```
 */
export async function normalizeKeysAsync(
  rows: readonly (string | readonly string[])[],
  signal?: AbortSignal,
): Promise<(Uint8Array | undefined)[]> {
  if (!Array.isArray(rows)) throw new TypeError('records must be an array');
  const out = new Array<Uint8Array | undefined>(rows.length);
  const maybeYield = createYielder();
  // One-column keys are encoded into shared slabs (views of one ArrayBuffer each) rather than one
  // ArrayBuffer per key: 10^5–10^6 small ArrayBuffers make every major GC pause long (measured:
  // 100–200 ms pauses at 2^18 keys per party), views of a few slabs do not. Same bytes as
  // normalizeKey (UTF-8 of the normalised field).
  let slab = new Uint8Array(0);
  let used = 0;
  for (let from = 0; from < rows.length; from += SLICE_ROWS) {
    throwIfAborted(signal);
    const to = Math.min(rows.length, from + SLICE_ROWS);
    for (let i = from; i < to; i++) {
      const r: unknown = rows[i];
      if (typeof r === 'string') {
        const f = normalizeField(r);
        if (f.length === 0) {
          out[i] = undefined;
          continue;
        }
        const max = 3 * f.length; // UTF-8 bytes per UTF-16 code unit: at most 3
        if (slab.length - used < max) {
          slab = new Uint8Array(Math.max(SLAB_BYTES, max));
          used = 0;
        }
        const { written } = encoder.encodeInto(f, slab.subarray(used));
        out[i] = slab.subarray(used, used + written);
        used += written;
      } else if (Array.isArray(r)) out[i] = normalizeKey(r as string[]);
      else throw new TypeError(`records[${i}] must be a string or an array of strings`);
    }
    await maybeYield();
  }
  return out;
}

/**
 * The rows (sorted, ascending) whose key is marked in `matchedKeys` (one byte per distinct key,
 * non-zero = matched).
 *
 * @example
 * ```ts
 * const d = dedupeRecords(rows);
 * const rowsOut = rowsForKeys(d, matched); // every row with a matching key
 * ```
 */
export function rowsForKeys(deduped: DedupedRecords, matchedKeys: Uint8Array): number[] {
  if (matchedKeys.length !== deduped.keys.length) throw new RangeError('matchedKeys must have one entry per key');
  const out: number[] = [];
  const { keyOfRow } = deduped;
  for (let row = 0; row < keyOfRow.length; row++) {
    const k = keyOfRow[row]!;
    if (k >= 0 && matchedKeys[k] !== 0) out.push(row);
  }
  return out;
}
