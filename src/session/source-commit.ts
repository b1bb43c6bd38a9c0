/**
 * What a receipt records of where a party's input came from: the source kind (`csv`, `postgres`,
 * `mysql`, `rows`) and, for a query, a commitment to the query text that the peer cannot invert
 * but the party can open for an auditor (docs/databases.md, "What the ledger records").
 *
 * The commitment is `HMAC-SHA256(k, query)` with `k = HMAC-SHA256(identity secret key,
 * "dataport-source-commit-v1" ‖ sessionId)`: nothing extra is stored (the party re-derives `k` from
 * its identity and the receipt's session id), the peer — who sees only the commitment — cannot test
 * guessed queries without `k`, and a party cannot later claim another query (HMAC is
 * collision-resistant and `k` was fixed by the identity and the session before the run). To open it,
 * the party hands the auditor `k` and the query text (never its secret key); the auditor checks
 * {@link sourceCommitment}`(k, query)` against the receipt. `k` opens only that run's commitment.
 * @module
 */
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { assertBytes, concatBytes, toHex, utf8 } from '../utils/bytes.js';

/** Where a party's input came from, as its receipt records it. */
export interface ReceiptSource {
  /** The source kind: `csv`, `postgres`, `mysql`, `rows` (lower case letters, digits, `-`; ≤ 32 characters). */
  kind: string;
  /** The query text the rows came from (only its commitment is recorded, never the text). */
  query?: string;
}

const KEY_LABEL = utf8('dataport-source-commit-v1');
/** Longest query text committed to (a guard, not a limit any real query reaches). */
export const MAX_COMMITTED_QUERY_CHARS = 1 << 20;
const KIND = /^[a-z][a-z0-9-]{0,31}$/;

/**
 * The key that opens one run's source commitment: derived from this party's identity secret key
 * and the receipt's `sessionId`. Hand it (not the secret key) to an auditor with the query text.
 * @example
 * ```ts
 * const k = sourceCommitmentKey(identity.secretKey, receipt.body.sessionId);
 * ```
 */
export function sourceCommitmentKey(secretKey: Uint8Array, sessionId: Uint8Array): Uint8Array {
  assertBytes(secretKey, 'secretKey');
  assertBytes(sessionId, 'sessionId');
  if (secretKey.length === 0) throw new RangeError('secretKey must not be empty');
  if (sessionId.length === 0) throw new RangeError('sessionId must not be empty');
  return hmac(sha256, secretKey, concatBytes(KEY_LABEL, sessionId));
}

/**
 * The commitment (hex) a receipt records for a query run under `key` ({@link sourceCommitmentKey}):
 * an auditor given the key and the query text recomputes it and compares it with the receipt's
 * `requester-source-commit` / `responder-source-commit` option.
 * @example
 * ```ts
 * const ok = sourceCommitment(k, 'SELECT id FROM admissions') === receipt.body.options['responder-source-commit'];
 * ```
 */
export function sourceCommitment(key: Uint8Array, query: string): string {
  assertBytes(key, 'key');
  if (key.length !== 32) throw new RangeError('key must be 32 bytes (a sourceCommitmentKey)');
  if (typeof query !== 'string') throw new TypeError('query must be a string');
  if (query.length > MAX_COMMITTED_QUERY_CHARS) throw new RangeError(`query must be at most ${MAX_COMMITTED_QUERY_CHARS} characters`);
  return toHex(hmac(sha256, key, utf8(query)));
}

/** The receipt option keys a party's source is recorded under. */
export function sourceOptionKeys(role: 'requester' | 'responder'): { kind: string; commit: string } {
  return { kind: `${role}-source`, commit: `${role}-source-commit` };
}

/** The receipt options recording `source` for `role` (`TypeError`/`RangeError` on a malformed source). */
export function sourceOptions(role: 'requester' | 'responder', source: ReceiptSource, secretKey: Uint8Array, sessionId: Uint8Array): Record<string, string> {
  if (source === null || typeof source !== 'object') throw new TypeError('source must be an object');
  if (typeof source.kind !== 'string' || !KIND.test(source.kind)) throw new RangeError('source.kind must be lower-case letters, digits or - (at most 32 characters)');
  const keys = sourceOptionKeys(role);
  const out: Record<string, string> = { [keys.kind]: source.kind };
  if (source.query !== undefined) out[keys.commit] = sourceCommitment(sourceCommitmentKey(secretKey, sessionId), source.query);
  return out;
}

/** True when `options` is a well-formed source record of `role` (what a peer's receipt view may add). */
export function isSourceRecord(role: 'requester' | 'responder', options: Record<string, string>): boolean {
  const keys = sourceOptionKeys(role);
  const names = Object.keys(options);
  if (names.length === 0) return true;
  if (!KIND.test(options[keys.kind] ?? '')) return false;
  const commit = options[keys.commit];
  if (commit !== undefined && !/^[0-9a-f]{64}$/.test(commit)) return false;
  return names.every((n) => n === keys.kind || n === keys.commit);
}
