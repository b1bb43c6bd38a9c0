/**
 * The one place where the responder's payload rows are built for a release (PSI with payload):
 * the values of the delivered columns, per input record, as they will be sealed. Issue 17 part 2
 * (fingerprinting per recipient) inserts its step here.
 * @module
 */

/**
 * What a release is built for.
 *
 * @example
 * ```ts
 * const ctx: PayloadReleaseContext = { columns: ['ward'], recipient: peerKey, purpose: 'audit', sessionId };
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
}

/**
 * The payload strings to seal, per input record (same order and width as `rows`). Today the rows
 * as given.
 *
 * @example
 * ```ts
 * const sealedRows = buildPayloadRows(rows, { columns, recipient, purpose, sessionId });
 * ```
 */
export function buildPayloadRows(rows: readonly (readonly string[])[], context: PayloadReleaseContext): readonly (readonly string[])[] {
  void context;
  return rows;
}
