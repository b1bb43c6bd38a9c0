/**
 * The responder's policy: what a listener allows, and the refusal reasons both sides see when a
 * request falls outside it (docs/session.md, "Refusals").
 * @module
 */
import { sanitizeText, type SessionTerms } from './messages.js';

/**
 * What a responder (listener) allows. A request outside it is refused with a human-readable reason
 * that both sides see (`TermsRefusedError`). Options are read from the terms' option map:
 * `count-only` (`true` / `false`) and `truncate` (`none`, `128`, `192`).
 *
 * @example
 * ```ts
 * const policy: SessionPolicy = { reveal: 'requester', minIntersection: 10, requirePurpose: true, maxSetSize: 1_000_000 };
 * ```
 */
export interface SessionPolicy {
  /** Protocols offered (default: any). */
  protocols?: readonly string[];
  /** Who may receive results: only the requester, both parties, or either (default `either`). */
  reveal?: 'requester' | 'both' | 'either';
  /** Cardinality-only results: `allowed` (default), `required` or `forbidden`. */
  countOnly?: 'allowed' | 'required' | 'forbidden';
  /** Allowed values of the `truncate` option (default: any). */
  truncation?: readonly string[];
  /** Bounds on the requester's declared distinct keys. */
  minSetSize?: number;
  maxSetSize?: number;
  /** The smallest minimum-intersection guardrail the responder accepts (default 0). */
  minIntersection?: number;
  /** Refuse requests with an empty purpose / authorisation reference. */
  requirePurpose?: boolean;
  /**
   * Accept terms with `output-size=public` (default false: refused). Under that option the sole
   * recipient's output size is recorded in the co-signed receipt instead of being omitted, and it
   * is bounded by the terms' `output-max` instead of by the input sizes. Only for protocols whose
   * output size is public to the other party anyway (multi-party aggregation: the number of cells
   * released follows from the query) — never for PSI, where it is the intersection size.
   */
  publicOutputSize?: boolean;
  /** Extra check: return a refusal reason (sent to the peer) or `undefined` to accept. */
  check?: (terms: SessionTerms, peerPublicKey: Uint8Array) => string | undefined;
}

/** Terms option making the recipient's output size part of the receipt (see `publicOutputBound`). */
export const OUTPUT_SIZE_OPTION = 'output-size';
/** Terms option: the largest output size a party may report under `output-size=public`. */
export const OUTPUT_MAX_OPTION = 'output-max';
/** Largest `output-max` (the receipt view's output size is a 32-bit field). */
const MAX_OUTPUT_MAX = 0xffff_ffff;

/**
 * The public-output-size rule of `terms`: `undefined` when neither `output-size` nor `output-max`
 * is set (the default: a sole recipient's output size is omitted from the receipt, and a reported
 * size must not exceed the smaller input size); the bound `output-max` when `output-size=public`;
 * `null` when the options are malformed (`output-size` other than `public`, `output-max` missing,
 * not a canonical decimal integer, or given without `output-size`).
 * @internal
 */
export function publicOutputBound(terms: SessionTerms): number | null | undefined {
  const mode = terms.options[OUTPUT_SIZE_OPTION];
  const max = terms.options[OUTPUT_MAX_OPTION];
  if (mode === undefined && max === undefined) return undefined;
  if (mode !== 'public' || max === undefined || !/^(0|[1-9][0-9]{0,9})$/.test(max)) return null;
  const n = Number(max);
  return n <= MAX_OUTPUT_MAX ? n : null;
}


/**
 * The first policy rule the terms break, as a reason the peer will see, or `undefined`.
 * @example
 * ```ts
 * const reason = checkTerms(terms, { reveal: 'requester' }, peerKey, 1000);
 * // 'listener does not reveal results to both parties' when terms.recipients has both
 * ```
 */
export function checkTerms(
  terms: SessionTerms,
  policy: SessionPolicy,
  peerPublicKey: Uint8Array,
  localSetSize: number,
): string | undefined {
  const both = terms.recipients.includes('responder');
  if (policy.protocols && !policy.protocols.includes(terms.protocol)) return 'listener does not offer this protocol';
  if (!terms.recipients.includes('requester')) return 'results must be revealed to the requester';
  const reveal = policy.reveal ?? 'either';
  if (reveal === 'requester' && both) return 'listener does not reveal results to both parties';
  if (reveal === 'both' && !both) return 'listener requires results revealed to both parties';
  const countOnly = terms.options['count-only'] === 'true';
  const co = policy.countOnly ?? 'allowed';
  if (co === 'required' && !countOnly) return 'listener allows cardinality-only (count) results only';
  if (co === 'forbidden' && countOnly) return 'listener does not run cardinality-only jobs';
  const truncate = terms.options['truncate'] ?? 'none';
  if (policy.truncation && !policy.truncation.includes(truncate)) return 'listener does not allow this truncation';
  if (policy.minSetSize !== undefined && terms.requesterSetSize < policy.minSetSize) {
    return `requester set size is below the listener's minimum of ${policy.minSetSize}`;
  }
  if (policy.maxSetSize !== undefined && terms.requesterSetSize > policy.maxSetSize) {
    return `requester set size is above the listener's maximum of ${policy.maxSetSize}`;
  }
  if (policy.minIntersection !== undefined && terms.minIntersection < policy.minIntersection) {
    return `listener requires a minimum intersection of at least ${policy.minIntersection}`;
  }
  if (policy.requirePurpose && terms.purpose.trim() === '') return 'listener requires a purpose / authorisation reference';
  const bound = publicOutputBound(terms);
  if (bound === null) return 'malformed output-size / output-max options';
  if (bound !== undefined && policy.publicOutputSize !== true) return 'listener does not record the output size of a sole recipient (output-size=public)';
  if (localSetSize < terms.responderSetSize.min || localSetSize > terms.responderSetSize.max) {
    return 'responder set size is outside the requested bounds';
  }
  const custom = policy.check?.(terms, peerPublicKey);
  if (custom !== undefined) return sanitizeText(String(custom));
  return undefined;
}
