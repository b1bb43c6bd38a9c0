/**
 * The one place where the responder's payload rows are built for a release (PSI with payload):
 * the values of the delivered columns, per input record, as they will be sealed. Columns the
 * signed terms give a tolerance are fingerprinted for the authenticated recipient
 * (`fingerprintRelease`, docs/trace.md), under a fresh release id per session; the others are
 * delivered as they are.
 * @module
 */
import { fingerprintRelease, parseTolerance, writeBit, type ReleaseRecord } from '../protocols/fingerprint/index.js';

/**
 * What a release is built for.
 *
 * @example
 * ```ts
 * const ctx: PayloadReleaseContext = { columns: ['ward', 'cost'], recipient: peerKey, purpose: 'audit', sessionId,
 *   tolerance: { cost: '0.01' }, keyColumns: ['patient_id'], keys: keyFieldsPerRow, secret };
 * ```
 */
export interface PayloadReleaseContext {
  /** The delivered column names, in order. */
  readonly columns: readonly string[];
  /** The recipient's Ed25519 public key (the authenticated requester). */
  readonly recipient: Uint8Array;
  /** The purpose in the signed terms. */
  readonly purpose: string;
  /** The session id (16 bytes). */
  readonly sessionId: Uint8Array;
  /** Columns to fingerprint and their tolerance, as the signed terms state them (empty: none marked). */
  readonly tolerance?: Readonly<Record<string, string>>;
  /** Names of the key columns (recorded with the release; `dataport trace --key` when renamed). */
  readonly keyColumns?: readonly string[];
  /** Each record's normalised key (same order as `rows`; `undefined`: empty): the marks are keyed by them. */
  readonly keys?: readonly (Uint8Array | undefined)[];
  /** The responder's fingerprint secret (`fingerprintSecretFromIdentity`); needed with a tolerance. */
  readonly secret?: Uint8Array;
}

/**
 * The rows to seal and, when columns were fingerprinted, the release to record.
 * @example
 * ```ts
 * const { rows, release } = buildPayloadRows(payloadRows, ctx);
 * ```
 */
export interface PayloadRelease {
  /** The payload strings to seal, per input record (same order and width as the input rows). */
  readonly rows: readonly (readonly string[])[];
  /** The release entry's record and the number of cells that carry a mark (absent: unmarked). */
  readonly release?: { readonly record: ReleaseRecord; readonly marked: number };
}

/** The key column names recorded with the release (`key` when the caller named none). */
function keyNames(context: PayloadReleaseContext): string[] {
  return context.keyColumns !== undefined && context.keyColumns.length > 0 ? [...context.keyColumns] : ['key'];
}

/**
 * The payload rows of a release for `context.recipient`: unchanged when no column has a
 * tolerance, else fingerprinted for the recipient (every value of a marked column within its
 * tolerance of the original; docs/trace.md).
 *
 * @example
 * ```ts
 * const { rows: sealed, release } = buildPayloadRows(rows, { columns, recipient, purpose, sessionId, tolerance, keyColumns, keys, secret });
 * ```
 */
export function buildPayloadRows(rows: readonly (readonly string[])[], context: PayloadReleaseContext): PayloadRelease {
  const tolerance = context.tolerance ?? {};
  if (Object.keys(tolerance).length === 0) return { rows };
  const { keys, secret } = context;
  if (keys === undefined || keys.length !== rows.length) throw new RangeError('context.keys must hold the key of every row');
  if (!(secret instanceof Uint8Array)) throw new TypeError('context.secret is needed to fingerprint a payload');
  const keyColumns = keyNames(context);
  const fp = fingerprintRelease({ header: context.columns, rows, keyColumns, normalizedKeys: keys, columns: context.columns, tolerance, recipient: context.recipient, secret });
  return { rows: fp.rows, release: { record: fp.record, marked: fp.marked } };
}

/**
 * The longest form each payload row can take once fingerprinted: every cell of a column with a
 * tolerance replaced by the longer of its two marked forms. Checking these against the padded
 * size before the session guarantees that the marked release fits, whoever the recipient.
 *
 * @example
 * ```ts
 * encodePayloadPlaintexts(deduped, worstCasePayloadRows(rows, columns, { cost: '0.01' }), columns.length, maxBytes);
 * ```
 */
export function worstCasePayloadRows(
  rows: readonly (readonly string[])[],
  columns: readonly string[],
  tolerance: Readonly<Record<string, string>>,
): readonly (readonly string[])[] {
  const marked = columns.map((c) => (Object.hasOwn(tolerance, c) ? parseTolerance(tolerance[c]!) : undefined));
  if (marked.every((t) => t === undefined)) return rows;
  return rows.map((row) =>
    row.map((v, i) => {
      const tol = marked[i];
      if (tol === undefined) return v;
      const a = writeBit(v, tol, 0);
      const b = writeBit(v, tol, 1);
      return new TextEncoder().encode(a).length >= new TextEncoder().encode(b).length ? a : b;
    }),
  );
}
