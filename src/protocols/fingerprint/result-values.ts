/**
 * Releases of aggregate results (issue 17 part 2): a result is a few numbers, too few to carry a
 * fingerprint, so it is traced by matching instead. The release entry holds a keyed 32-bit tag of
 * each released value (HMAC under the release key of the value's canonical form) and the file's
 * SHA-256; a leaked file matches a release when every tagged value appears among its numbers (in
 * whatever layout: JSON, CSV, a table, a report) or when it is byte for byte the released file.
 * This names the release — whoever received those exact numbers — but it is not a fingerprint: two
 * recipients of the same result match alike, and no false-accusation probability is computed (an
 * unrelated file could hold the same numbers by coincidence; releases of fewer than
 * {@link MIN_MATCH_VALUES} values are matched only by file hash). docs/trace.md.
 * @module
 */
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes, equalBytes, toHex, utf8 } from '../../utils/bytes.js';
import { fingerprintKeyCommit, releaseFingerprintKey, RELEASE_ID_BYTES } from './keys.js';
import { parseNumber } from './values.js';

/** Most values one result release records (the ledger option holding their tags is ≤ 256 bytes). */
export const MAX_RESULT_VALUES = 28;
/** Fewest distinct values a release needs to be matched by its values (not only by file hash). */
export const MIN_MATCH_VALUES = 3;
/** Bytes of a value tag. */
export const VALUE_TAG_BYTES = 4;

const VALUE_LABEL = utf8('dataport-result-value-v1\0');

/**
 * What the releasing party records about a released result.
 * @example
 * ```ts
 * const record = resultRelease({ values: ['12', '3401.5'], recipient, secret, fileSha256 });
 * ```
 */
export interface ResultReleaseRecord {
  releaseId: Uint8Array;
  recipient: Uint8Array;
  /** One {@link VALUE_TAG_BYTES}-byte tag per distinct released value, concatenated. */
  valueTags: Uint8Array;
  /** SHA-256 of the released file. */
  fileSha256: Uint8Array;
  keyCommit: Uint8Array;
}

/**
 * A number's canonical text (12 significant digits, shortest form): `1,234.50` and `1234.5` agree.
 * @example
 * ```ts
 * canonicalNumber('¥1,234.50'); // '1234.5'
 * ```
 */
export function canonicalNumber(text: string): string | undefined {
  const v = parseNumber(text);
  return v === undefined ? undefined : String(Number(v.toPrecision(12)));
}

/**
 * Every number written in `text` (canonical forms). Commas are read both ways — as separators
 * (CSV) and as thousands separators — so a value is found in either layout.
 * @example
 * ```ts
 * numbersIn('cardiology,count,,,1,234\n'); // Set {'1', '234', '1234'}
 * ```
 */
export function numbersIn(text: string): Set<string> {
  const out = new Set<string>();
  const add = (t: string): void => {
    const c = canonicalNumber(t);
    if (c !== undefined) out.add(c);
  };
  const s = text.normalize('NFKC');
  for (const m of s.matchAll(/-?(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?/g)) add(m[0]);
  for (const m of s.matchAll(/-?[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?/g)) add(m[0]);
  return out;
}

function tagOf(releaseKey: Uint8Array, canonical: string): Uint8Array {
  return hmac(sha256, releaseKey, concatBytes(VALUE_LABEL, utf8(canonical))).subarray(0, VALUE_TAG_BYTES);
}

/**
 * The release record of a result file holding `values` (numeric cells; others are ignored),
 * released to `recipient`. `RangeError` when it holds no number or more than {@link MAX_RESULT_VALUES}
 * distinct ones.
 * @example
 * ```ts
 * const record = resultRelease({ values: aggregateResultRows(result).map((r) => r[4]!), recipient, secret, fileSha256 });
 * ```
 */
export function resultRelease(options: { values: readonly string[]; recipient: Uint8Array; secret: Uint8Array; fileSha256: Uint8Array; releaseId?: Uint8Array }): ResultReleaseRecord {
  const distinct = [...new Set(options.values.map(canonicalNumber).filter((v): v is string => v !== undefined))];
  if (distinct.length === 0) throw new RangeError('options.values holds no number');
  if (distinct.length > MAX_RESULT_VALUES) throw new RangeError(`options.values holds ${distinct.length} distinct numbers; at most ${MAX_RESULT_VALUES} are recorded per result release`);
  if (!(options.fileSha256 instanceof Uint8Array) || options.fileSha256.length !== 32) throw new RangeError('options.fileSha256 must be 32 bytes');
  if (!(options.recipient instanceof Uint8Array) || options.recipient.length !== 32) throw new RangeError('options.recipient must be 32 bytes');
  const releaseId = options.releaseId ?? globalThis.crypto.getRandomValues(new Uint8Array(RELEASE_ID_BYTES));
  const key = releaseFingerprintKey(options.secret, releaseId);
  const valueTags = concatBytes(...distinct.map((v) => tagOf(key, v)));
  const keyCommit = fingerprintKeyCommit(key);
  key.fill(0);
  return { releaseId: releaseId.slice(), recipient: options.recipient.slice(), valueTags, fileSha256: options.fileSha256.slice(), keyCommit };
}

/**
 * How a leaked file matches a result release: the release's values found among `numbers`
 * ({@link numbersIn} of the file), whether the file is the released one, and whether that counts
 * as a match (the same file, or every value found and at least {@link MIN_MATCH_VALUES} of them).
 * @example
 * ```ts
 * const m = matchResultRelease(record, numbersIn(text), fileSha256, secret);
 * ```
 */
export function matchResultRelease(
  record: ResultReleaseRecord,
  numbers: ReadonlySet<string>,
  fileSha256: Uint8Array,
  secret: Uint8Array,
): { found: number; total: number; sameFile: boolean; matched: boolean } {
  const key = releaseFingerprintKey(secret, record.releaseId);
  const want = new Set<string>();
  for (let i = 0; i < record.valueTags.length; i += VALUE_TAG_BYTES) want.add(toHex(record.valueTags.subarray(i, i + VALUE_TAG_BYTES)));
  const found = new Set<string>();
  for (const n of numbers) {
    const t = toHex(tagOf(key, n));
    if (want.has(t)) found.add(t);
  }
  key.fill(0);
  const sameFile = equalBytes(fileSha256, record.fileSha256);
  const total = want.size;
  return { found: found.size, total, sameFile, matched: sameFile || (total >= MIN_MATCH_VALUES && found.size === total) };
}
