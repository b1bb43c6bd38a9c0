/**
 * Fingerprinting a released table for its recipient (keyed relational fingerprinting after
 * Agrawal–Kiernan 2002 and Li–Swarup–Jajodia 2005). Per row, a keyed PRF of the row's normalised
 * primary key (the same normalisation as PSI keys) decides whether the row carries a mark (about
 * one row in γ), in which marked column, at which position l of the recipient's fingerprint F, and
 * a mask bit x; the cell then carries the bit F[l] ⊕ x (values.ts: a parity on the column's
 * tolerance grid). Everything is keyed by the release's fingerprint key, so a leaker without it
 * cannot tell which cells carry marks: every value of a marked column is snapped to the same grid.
 * docs/trace.md states the parameters and the false-accusation probability.
 * @module
 */
import { blockPrf, hmacTags, BLOCK_PRF_BYTES } from '../../crypto/block-prf.js';
import { normalizeKey } from '../psi/normalize.js';
import { fingerprintKeyCommit, fingerprintRowKey, recipientFingerprint, releaseFingerprintKey, RELEASE_ID_BYTES } from './keys.js';
import { parseTolerance, readBit, writeBit, type ColumnTolerance } from './values.js';

/**
 * Default parameters: one row in γ = 5 carries a mark; fingerprints of 64 bits; attribution only
 * when the false-accusation probability is at most 10^-6.
 * @example
 * ```ts
 * fingerprintRelease({ ...options, gamma: FINGERPRINT_DEFAULTS.gamma });
 * ```
 */
export const FINGERPRINT_DEFAULTS = { gamma: 5, bits: 64, maxFalseAccusation: 1e-6 } as const;

/** Name and version of the marking scheme, recorded with every release. */
export const FINGERPRINT_SCHEME = 'qim-v1';

/** Largest γ accepted (one marked row in 1000). */
export const MAX_GAMMA = 1000;

/**
 * What the releasing party records about a release (the ledger's release entry holds all of it;
 * the fingerprint key itself is derived again from the party's secret when tracing).
 * @example
 * ```ts
 * const { record } = fingerprintRelease(options);
 * console.log(toHex(record.releaseId), record.rows);
 * ```
 */
export interface ReleaseRecord {
  /** 16 random bytes. */
  releaseId: Uint8Array;
  /** The recipient's Ed25519 public key (32 bytes). */
  recipient: Uint8Array;
  /** The primary-key column(s) the marks are keyed by. */
  keyColumns: string[];
  /** The released columns (marked or not), in order. */
  columns: string[];
  /** Declared tolerance per marked column (`0.01`, `1d`); columns without one are not marked. */
  tolerance: Record<string, string>;
  /** One row in `gamma` carries a mark. */
  gamma: number;
  /** Length of the recipient's fingerprint in bits. */
  bits: number;
  /** Rows released. */
  rows: number;
  /** Commitment to the release's fingerprint key ({@link fingerprintKeyCommit}). */
  keyCommit: Uint8Array;
}

/**
 * Options of {@link fingerprintRelease}.
 * @example
 * ```ts
 * const options: FingerprintReleaseOptions = { header, rows, keyColumns: ['resident_id'], tolerance: { cost: '0.01' }, recipient, secret };
 * ```
 */
export interface FingerprintReleaseOptions {
  /** Column names of `rows`. */
  header: readonly string[];
  /** The rows to release, one string per header column. */
  rows: readonly (readonly string[])[];
  /**
   * The primary-key column(s) (the join key): columns of `header`, or, with `normalizedKeys`, only
   * the names recorded with the release (then not in `header`).
   */
  keyColumns: readonly string[];
  /**
   * Each row's key already normalised (`normalizeKey` of its key fields; `undefined`: empty key), for
   * a caller that holds normalised keys rather than the key cells (PSI with payload).
   */
  normalizedKeys?: readonly (Uint8Array | undefined)[];
  /** Released columns recorded with the release (default: every header column that is not a key). */
  columns?: readonly string[];
  /** Tolerance per column to mark: `{ cost: '0.01', visit_date: '1d' }`. At least one. */
  tolerance: Readonly<Record<string, string>>;
  /** The recipient's public key (32 bytes). */
  recipient: Uint8Array;
  /** The releasing party's fingerprint secret (32 bytes; keys.ts). */
  secret: Uint8Array;
  /** Release id (16 bytes; default: random). */
  releaseId?: Uint8Array;
  gamma?: number;
  bits?: number;
}

/**
 * The result of {@link fingerprintRelease}.
 * @example
 * ```ts
 * const { rows, record, marked } = fingerprintRelease(options);
 * ```
 */
export interface FingerprintReleaseResult {
  /** The rows as delivered: same shape as the input, marked columns snapped and marked. */
  rows: string[][];
  record: ReleaseRecord;
  /** Cells that carry a mark. */
  marked: number;
}

/** Checks a column name that ends up in comma lists (`columns`, `tolerance` options). */
function checkColumnName(name: unknown, what: string): asserts name is string {
  if (typeof name !== 'string' || name === '') throw new TypeError(`${what} must be non-empty strings`);
  if (/[,=\n\r]/.test(name) || name.length > 128) throw new RangeError(`${what}: column name '${name.slice(0, 40)}' must be at most 128 characters without ',', '=' or a line break`);
}

/**
 * The marked columns of a release and their tolerances, in the order marks are assigned (the
 * order of `record.columns`). Throws `RangeError` on a tolerance that does not parse.
 * @internal
 */
export function markedColumns(record: Pick<ReleaseRecord, 'columns' | 'tolerance'>): { name: string; tol: ColumnTolerance }[] {
  return record.columns.filter((c) => Object.hasOwn(record.tolerance, c)).map((name) => ({ name, tol: parseTolerance(record.tolerance[name]!) }));
}

/**
 * Where release marks go, for one row whose 16-byte PRF output is at `u[off..off+16)`: whether it
 * carries one (`u32 mod γ = 0`), in which marked column, and the bit. Shared by marking and tracing.
 * @internal
 */
export function markAt(u: Uint8Array, off: number, gamma: number, columns: number, fingerprint: Uint8Array): { column: number; bit: 0 | 1 } | undefined {
  const sel = ((u[off]! << 24) | (u[off + 1]! << 16) | (u[off + 2]! << 8) | u[off + 3]!) >>> 0;
  if (sel % gamma !== 0) return undefined;
  const attr = ((u[off + 4]! << 24) | (u[off + 5]! << 16) | (u[off + 6]! << 8) | u[off + 7]!) >>> 0;
  const l = (((u[off + 8]! << 8) | u[off + 9]!) >>> 0) % fingerprint.length;
  const mask = u[off + 10]! & 1;
  return { column: attr % columns, bit: ((fingerprint[l]! ^ mask) & 1) as 0 | 1 };
}

/**
 * Per-row PRF outputs of a release: 16 bytes per key, HMAC of the key under the party's row key,
 * then AES under the release key (see crypto/block-prf.ts). Keys `undefined` get zero blocks.
 * @internal
 */
export function releasePrf(rowKey: Uint8Array, releaseKey: Uint8Array, keys: readonly Uint8Array[]): Uint8Array {
  return releasePrfOfTags(releaseKey, hmacTags(rowKey, keys));
}

/**
 * {@link releasePrf} from the row tags (`hmacTags(rowKey, keys)`), which do not depend on the
 * release: tracing computes them once per leaked row and calls this once per release.
 * @internal
 */
export function releasePrfOfTags(releaseKey: Uint8Array, tags: Uint8Array): Uint8Array {
  return blockPrf(releaseKey.subarray(0, BLOCK_PRF_BYTES), tags);
}

function checkParams(gamma: number, bits: number): void {
  if (!Number.isSafeInteger(gamma) || gamma < 1 || gamma > MAX_GAMMA) throw new RangeError(`gamma must be an integer 1..${MAX_GAMMA}`);
  if (!Number.isSafeInteger(bits) || bits < 1 || bits > 256) throw new RangeError('bits must be an integer 1..256');
}

/**
 * Fingerprints `rows` for `recipient`: returns the rows as they should be delivered (marked
 * columns snapped to their tolerance grid and about one row in γ carrying a fingerprint bit; every
 * value within its tolerance of the original) and the release record for the ledger. Rows whose key
 * is empty carry no mark (their marked columns are still snapped). Sans-I/O; Node-only (AES).
 * @example
 * ```ts
 * const { rows, record } = fingerprintRelease({
 *   header: ['resident_id', 'ward', 'cost'], rows: payloadRows, keyColumns: ['resident_id'],
 *   tolerance: { cost: '0.01' }, recipient: requesterKey, secret: fingerprintSecretFromIdentity(me.secretKey),
 * });
 * ```
 */
export function fingerprintRelease(options: FingerprintReleaseOptions): FingerprintReleaseResult {
  if (options === null || typeof options !== 'object') throw new TypeError('options must be an object');
  const { header, rows, recipient, secret } = options;
  if (!Array.isArray(header) || header.length === 0) throw new TypeError('options.header must be a non-empty array of strings');
  header.forEach((h) => checkColumnName(h, 'options.header'));
  if (new Set(header).size !== header.length) throw new RangeError('options.header names a column twice');
  if (!Array.isArray(rows)) throw new TypeError('options.rows must be an array of rows');
  const keyColumns = [...options.keyColumns];
  if (keyColumns.length === 0) throw new RangeError('options.keyColumns must name at least one column');
  const index = (c: string, what: string): number => {
    const i = header.indexOf(c);
    if (i === -1) throw new RangeError(`${what}: '${c}' is not a column of options.header`);
    return i;
  };
  const given = options.normalizedKeys;
  if (given !== undefined) {
    if (!Array.isArray(given) || given.length !== rows.length) throw new RangeError('options.normalizedKeys must hold one key per row');
    keyColumns.forEach((c) => checkColumnName(c, 'options.keyColumns'));
    for (const c of keyColumns) if (header.includes(c)) throw new RangeError(`options.keyColumns: '${c}' is also a column of options.header`);
  }
  const keyIdx = given !== undefined ? [] : keyColumns.map((c) => index(c, 'options.keyColumns'));
  const columns = options.columns ? [...options.columns] : header.filter((h) => !keyColumns.includes(h));
  columns.forEach((c) => index(c, 'options.columns'));
  if (new Set(columns).size !== columns.length) throw new RangeError('options.columns names a column twice');
  const tolerance: Record<string, string> = {};
  for (const [c, t] of Object.entries(options.tolerance ?? {})) {
    if (!columns.includes(c)) throw new RangeError(`options.tolerance: '${c}' is not a released column`);
    if (keyColumns.includes(c)) throw new RangeError(`options.tolerance: '${c}' is a key column (keys are never changed)`);
    parseTolerance(t);
    tolerance[c] = t;
  }
  const marked = markedColumns({ columns, tolerance });
  if (marked.length === 0) throw new RangeError('options.tolerance must give a tolerance for at least one released column (only those carry marks)');
  const gamma = options.gamma ?? FINGERPRINT_DEFAULTS.gamma;
  const bits = options.bits ?? FINGERPRINT_DEFAULTS.bits;
  checkParams(gamma, bits);
  const releaseId = options.releaseId ?? globalThis.crypto.getRandomValues(new Uint8Array(RELEASE_ID_BYTES));
  if (!(releaseId instanceof Uint8Array) || releaseId.length !== RELEASE_ID_BYTES) throw new RangeError('options.releaseId must be 16 bytes');

  const releaseKey = releaseFingerprintKey(secret, releaseId);
  const fingerprint = recipientFingerprint(releaseKey, recipient, bits);
  const markedIdx = marked.map((m) => index(m.name, 'options.tolerance'));
  const keys: Uint8Array[] = [];
  const keyed: number[] = []; // row numbers with a key
  rows.forEach((row, r) => {
    if (!Array.isArray(row) || row.length !== header.length) throw new RangeError(`options.rows[${r}] must have ${header.length} strings`);
    const key = given !== undefined ? given[r] : normalizeKey(keyIdx.map((i) => row[i]!));
    if (key !== undefined) {
      keys.push(key);
      keyed.push(r);
    }
  });
  const u = releasePrf(fingerprintRowKey(secret), releaseKey, keys);
  const out = rows.map((row) => {
    const copy = [...row];
    for (let m = 0; m < marked.length; m++) copy[markedIdx[m]!] = writeBit(row[markedIdx[m]!]!, marked[m]!.tol, undefined);
    return copy;
  });
  let count = 0;
  for (let k = 0; k < keyed.length; k++) {
    const mark = markAt(u, k * BLOCK_PRF_BYTES, gamma, marked.length, fingerprint);
    if (!mark) continue;
    const r = keyed[k]!;
    const col = markedIdx[mark.column]!;
    const tol = marked[mark.column]!.tol;
    out[r]![col] = writeBit(rows[r]![col]!, tol, mark.bit);
    if (readBit(out[r]![col]!, tol) !== undefined) count++; // an empty or non-numeric cell carries nothing
  }
  const keyCommit = fingerprintKeyCommit(releaseKey);
  releaseKey.fill(0);
  const record: ReleaseRecord = {
    releaseId: releaseId.slice(),
    recipient: recipient.slice(),
    keyColumns,
    columns,
    tolerance,
    gamma,
    bits,
    rows: rows.length,
    keyCommit,
  };
  return { rows: out, record, marked: count };
}
