/**
 * Records travel to a worker packed flat: one byte array holding the records back to back and one
 * `Uint32Array` of `count + 1` offsets, each with a buffer of its own so both can be transferred
 * (moved, not copied) instead of structured-cloning thousands of small arrays.
 * @module
 */

/**
 * A run of records packed for transfer.
 *
 * @example
 * ```ts
 * // records 'ab' and 'c':
 * const packed: PackedRecords = { bytes: new Uint8Array([0x61, 0x62, 0x63]), offsets: new Uint32Array([0, 2, 3]) };
 * ```
 */
export interface PackedRecords {
  /** The records' bytes back to back. */
  readonly bytes: Uint8Array;
  /** `offsets[i]..offsets[i + 1]` is record `i`; `offsets.length` is `count + 1`. */
  readonly offsets: Uint32Array;
}

/** Largest packed chunk: offsets are 32-bit. */
export const MAX_PACKED_BYTES = 0xffff_ffff;

/**
 * Packs `records[start..end)` into fresh buffers. Throws `RangeError` if the run exceeds
 * {@link MAX_PACKED_BYTES}. The caller has already checked that every record is a Uint8Array.
 */
export function packRecords(records: readonly Uint8Array[], start: number, end: number): PackedRecords {
  const count = end - start;
  const offsets = new Uint32Array(count + 1);
  let total = 0;
  for (let i = 0; i < count; i++) {
    total += records[start + i]!.length;
    if (total > MAX_PACKED_BYTES) throw new RangeError(`records[${start}..${end}) exceed ${MAX_PACKED_BYTES} bytes`);
    offsets[i + 1] = total;
  }
  const bytes = new Uint8Array(total);
  for (let i = 0; i < count; i++) bytes.set(records[start + i]!, offsets[i]!);
  return { bytes, offsets };
}

/**
 * Views of the records in a packed run (no copies). Throws `RangeError` unless the offsets are
 * non-decreasing, start at 0 and end exactly at `bytes.length`.
 */
export function unpackRecords(packed: PackedRecords): Uint8Array[] {
  const { bytes, offsets } = packed;
  if (!(bytes instanceof Uint8Array)) throw new TypeError('bytes must be a Uint8Array');
  if (!(offsets instanceof Uint32Array) || offsets.length === 0) throw new TypeError('offsets must be a non-empty Uint32Array');
  if (offsets[0] !== 0 || offsets[offsets.length - 1] !== bytes.length) throw new RangeError('offsets do not span bytes');
  const out = new Array<Uint8Array>(offsets.length - 1);
  for (let i = 0; i < out.length; i++) {
    const a = offsets[i]!;
    const b = offsets[i + 1]!;
    if (b < a) throw new RangeError('offsets must be non-decreasing');
    out[i] = bytes.subarray(a, b);
  }
  return out;
}
