/**
 * The payload of PSI with payload in the signed terms (docs/psi-protocol.md §8). The requester
 * states what it accepts: `payload-columns` (comma list, in order), `payload-max-bytes` (the
 * padded size of every payload) and `payload-recipient` (its own Ed25519 public key, hex); the
 * purpose is the terms' own `purpose`, which must not be empty. The responder refuses terms whose
 * payload differs from what it delivers — columns, size, a recipient other than the authenticated
 * peer, a payload it does not offer or an offer the requester did not accept — naming both sides,
 * before any protocol data is sent. All three options are in both co-signed receipts.
 * `payload-tolerance` (`COL=TOL,…`, absent: none) declares the columns the responder fingerprints
 * for the recipient and how far their values may move (docs/trace.md); both sides state it and it
 * must agree exactly, like the columns.
 * @module
 */
import { DEFAULT_PAYLOAD_MAX_BYTES, MAX_PAYLOAD_COLUMNS, MAX_PAYLOAD_MAX_BYTES } from '../protocols/psi/payload.js';
import { parseTolerance } from '../protocols/fingerprint/values.js';
import { toHex } from '../utils/bytes.js';
import type { SessionTerms } from './messages.js';

/**
 * The terms and receipt options of a payload (`payload-records`: run option, see `runPsi`).
 *
 * @example
 * ```ts
 * receipt.body.options[PAYLOAD_OPTIONS.columns]; // 'ward,cost'
 * ```
 */
export const PAYLOAD_OPTIONS = {
  columns: 'payload-columns',
  maxBytes: 'payload-max-bytes',
  recipient: 'payload-recipient',
  records: 'payload-records',
  tolerance: 'payload-tolerance',
} as const;

/** Longest `payload-columns` value (the terms codec's limit on one option). */
const MAX_COLUMNS_OPTION_BYTES = 256;

/**
 * What a party states about a payload: the columns (responder: delivers; requester: accepts) and
 * the padded size.
 *
 * @example
 * ```ts
 * const p: PayloadShape = { columns: ['ward', 'cost'], maxBytes: 256 };
 * ```
 */
export interface PayloadShape {
  columns: readonly string[];
  maxBytes: number;
  /** Fingerprinted columns and their declared tolerance (`{ cost: '0.01' }`; empty: delivered unmarked). */
  tolerance: Readonly<Record<string, string>>;
}

/**
 * `columns` and `maxBytes` checked (`TypeError` / `RangeError` naming `name`), with the default size.
 * @internal
 */
export function payloadShapeOf(spec: { columns?: unknown; maxBytes?: unknown; tolerance?: unknown }, name = 'payload'): PayloadShape {
  if (spec === null || typeof spec !== 'object') throw new TypeError(`${name} must be an object`);
  const cols = spec.columns;
  if (!Array.isArray(cols) || cols.some((c) => typeof c !== 'string')) throw new TypeError(`${name}.columns must be an array of strings`);
  if (cols.length < 1 || cols.length > MAX_PAYLOAD_COLUMNS) throw new RangeError(`${name}.columns must name 1 to ${MAX_PAYLOAD_COLUMNS} columns`);
  for (const c of cols as string[]) {
    // eslint-disable-next-line no-control-regex
    if (c === '' || c.includes(',') || /[\u0000-\u001f\u007f]/.test(c)) throw new RangeError(`${name}.columns: '${c.slice(0, 64)}' must be non-empty, without commas or control characters`);
  }
  if (new Set(cols).size !== cols.length) throw new RangeError(`${name}.columns must not repeat a column`);
  if (new TextEncoder().encode(cols.join(',')).length > MAX_COLUMNS_OPTION_BYTES) throw new RangeError(`${name}.columns must fit ${MAX_COLUMNS_OPTION_BYTES} bytes joined with commas`);
  const maxBytes = spec.maxBytes ?? DEFAULT_PAYLOAD_MAX_BYTES;
  const min = 2 + 2 * cols.length;
  if (typeof maxBytes !== 'number' || !Number.isSafeInteger(maxBytes) || maxBytes < min || maxBytes > MAX_PAYLOAD_MAX_BYTES) {
    throw new RangeError(`${name}.maxBytes must be an integer in ${min}..${MAX_PAYLOAD_MAX_BYTES}`);
  }
  const tolerance: Record<string, string> = {};
  const tol = spec.tolerance ?? {};
  if (tol === null || typeof tol !== 'object' || Array.isArray(tol)) throw new TypeError(`${name}.tolerance must be an object of column → tolerance`);
  // In column order, so that both sides write the same terms option.
  for (const c of Object.keys(tol)) if (!(cols as string[]).includes(c)) throw new RangeError(`${name}.tolerance: '${c.slice(0, 64)}' is not a payload column`);
  for (const c of cols as string[]) {
    if (!Object.hasOwn(tol, c)) continue;
    const t = (tol as Record<string, unknown>)[c];
    if (typeof t !== 'string') throw new TypeError(`${name}.tolerance.${c} must be a string`);
    parseTolerance(t); // RangeError naming the value
    tolerance[c] = t;
  }
  if (new TextEncoder().encode(toleranceText(tolerance, cols as string[])).length > MAX_COLUMNS_OPTION_BYTES) throw new RangeError(`${name}.tolerance must fit ${MAX_COLUMNS_OPTION_BYTES} bytes as COL=TOL,…`);
  return { columns: [...(cols as string[])], maxBytes, tolerance };
}

/** `COL=TOL,…` in column order (empty: no tolerance). */
function toleranceText(tolerance: Readonly<Record<string, string>>, columns: readonly string[]): string {
  return columns.filter((c) => Object.hasOwn(tolerance, c)).map((c) => `${c}=${tolerance[c]}`).join(',');
}

/** `COL=TOL,…` back to a map (`undefined` when malformed; unchecked values). */
function parseToleranceText(text: string): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  for (const item of text.split(',')) {
    const eq = item.lastIndexOf('=');
    if (eq <= 0 || Object.hasOwn(out, item.slice(0, eq))) return undefined;
    out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}

/**
 * The terms options of a requester accepting `shape`, delivered to `recipient` (its own key).
 * @internal
 */
export function payloadTermsOptions(shape: PayloadShape, recipient: Uint8Array): Record<string, string> {
  return {
    [PAYLOAD_OPTIONS.columns]: shape.columns.join(','),
    [PAYLOAD_OPTIONS.maxBytes]: String(shape.maxBytes),
    [PAYLOAD_OPTIONS.recipient]: toHex(recipient),
    ...(Object.keys(shape.tolerance).length > 0 ? { [PAYLOAD_OPTIONS.tolerance]: toleranceText(shape.tolerance, shape.columns) } : {}),
  };
}

/** The terms' payload options that this build reads (for a protocol's known-options list). @internal */
export const PAYLOAD_TERMS_OPTIONS: readonly string[] = Object.freeze([
  PAYLOAD_OPTIONS.columns,
  PAYLOAD_OPTIONS.maxBytes,
  PAYLOAD_OPTIONS.recipient,
  PAYLOAD_OPTIONS.tolerance,
]);

/** Bounded, printable form of a peer's string for a message. */
function clean(s: string, max = 120): string {
  // eslint-disable-next-line no-control-regex
  const t = s.replace(/[\u0000-\u001f\u007f]/g, '?');
  return t.length > max ? `${t.slice(0, max)}…` : t;
}

/**
 * The payload the signed terms state (`undefined`: none), or a refusal reason when malformed.
 * @internal
 */
export function statedPayload(terms: SessionTerms): PayloadShape | undefined | string {
  const cols = terms.options[PAYLOAD_OPTIONS.columns];
  const max = terms.options[PAYLOAD_OPTIONS.maxBytes];
  const rcpt = terms.options[PAYLOAD_OPTIONS.recipient];
  const tol = terms.options[PAYLOAD_OPTIONS.tolerance];
  if (cols === undefined && max === undefined && rcpt === undefined && tol === undefined) return undefined;
  if (cols === undefined || max === undefined || rcpt === undefined || !/^[1-9][0-9]{0,5}$/.test(max) || !/^[0-9a-f]{64}$/.test(rcpt)) {
    return 'the terms state a malformed payload (payload-columns, payload-max-bytes, payload-recipient)';
  }
  const tolerance = tol === undefined ? {} : parseToleranceText(tol);
  if (tolerance === undefined) return `the terms state a malformed payload tolerance '${clean(tol!)}'`;
  try {
    return payloadShapeOf({ columns: cols.split(','), maxBytes: Number(max), tolerance });
  } catch {
    return `the terms state a malformed payload '${clean(cols)}'`;
  }
}

/**
 * The responder's check of the terms' payload against what it delivers (`mine`, `undefined`: no
 * payload): `undefined` when they agree, else the refusal reason naming both sides.
 *
 * @example
 * ```ts
 * checkPayloadTerms(terms, { columns: ['ward'], maxBytes: 256 }, peerKey);
 * // 'payloads differ: requester accepts ward,cost (256 bytes); responder delivers ward (256 bytes)'
 * ```
 */
export function checkPayloadTerms(terms: SessionTerms, mine: PayloadShape | undefined, peerPublicKey: Uint8Array): string | undefined {
  const theirs = statedPayload(terms);
  if (typeof theirs === 'string') return theirs;
  const describe = (p: PayloadShape) => {
    const t = toleranceText(p.tolerance, p.columns);
    return `${clean(p.columns.join(','))} (${p.maxBytes} bytes${t === '' ? '' : `, tolerance ${clean(t)}`})`;
  };
  if (theirs === undefined && mine === undefined) return undefined;
  if (theirs === undefined) return `the responder delivers a payload (${describe(mine!)}) that the requester did not accept (--accept-payload)`;
  if (mine === undefined) return `the requester accepts a payload (${describe(theirs)}) but the responder delivers none (--payload)`;
  if (theirs.columns.join(',') !== mine.columns.join(',') || theirs.maxBytes !== mine.maxBytes || toleranceText(theirs.tolerance, theirs.columns) !== toleranceText(mine.tolerance, mine.columns)) {
    return `payloads differ: requester accepts ${describe(theirs)}; responder delivers ${describe(mine)}`;
  }
  if (terms.options[PAYLOAD_OPTIONS.recipient] !== toHex(peerPublicKey)) return 'the payload recipient in the terms is not the authenticated requester';
  if (terms.purpose.trim() === '') return 'a payload release needs a purpose in the terms (--purpose)';
  return undefined;
}
