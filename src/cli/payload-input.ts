/**
 * The listener's side of `dataport psi --payload`: the second pass over `--input` that reads the
 * delivered columns of every record, checked against `--payload-max-bytes` before listening.
 * @module
 */
import { InputError, LimitExceededError } from '../errors.js';
import { dedupeRecords, encodePayloadPlaintexts, normalizeKey } from '../protocols/psi/index.js';
import { worstCasePayloadRows } from '../session/payload-release.js';
import { keyId, type KeyInput } from './key-input.js';
import { PSI_MESSAGES as P } from './messages.js';
import type { InputReader } from './record-input.js';

/** Every data row's key fields and payload values (rows with an empty key included: runPsi skips them). */
export interface PayloadInput {
  columns: string[];
  maxBytes: number;
  /** `--payload-tolerance`: the columns fingerprinted for each recipient (empty: unmarked). */
  tolerance: Record<string, string>;
  /** Key fields per data row. */
  records: string[][];
  /** Payload values per data row. */
  rows: string[][];
  /** Per data row, the index of its key in `KeyInput.ids` (-1: empty key). */
  keyIndexOfRecord: Int32Array;
}

/**
 * Reads the payload columns of every row of `reader` and checks that every key's payload fits
 * `maxBytes` (`InputError` naming the row otherwise), in the longest form fingerprinting by
 * `tolerance` can give it.
 * @example
 * ```ts
 * const payload = await readPayloadInput(reader, input, ['resident_id'], ['ward', 'cost'], 256, signal);
 * ```
 */
export async function readPayloadInput(
  reader: InputReader,
  input: KeyInput,
  keyColumns: readonly string[],
  columns: readonly string[],
  maxBytes: number,
  signal?: AbortSignal,
  tolerance: Record<string, string> = {},
): Promise<PayloadInput> {
  const k = keyColumns.length;
  const records: string[][] = [];
  const rows: string[][] = [];
  await reader.forEach(
    [...keyColumns, ...columns],
    (row) => {
      records.push(row.values.slice(0, k));
      rows.push(row.values.slice(k));
    },
    signal ? { signal } : {},
  );
  const index = new Map<string, number>();
  input.ids.forEach((id, i) => index.set(id, i));
  const keys = records.map((r) => normalizeKey(r));
  const keyIndexOfRecord = Int32Array.from(keys, (key) => (key === undefined ? -1 : (index.get(keyId(key)) ?? -1)));
  try {
    encodePayloadPlaintexts(dedupeRecords(keys), worstCasePayloadRows(rows, columns, tolerance), columns.length, maxBytes);
  } catch (e) {
    if (e instanceof LimitExceededError) throw new InputError(P.payloadTooLarge(e.message));
    throw e;
  }
  return { columns: [...columns], maxBytes, tolerance: { ...tolerance }, records, rows, keyIndexOfRecord };
}
