/**
 * The security model of a run: which adversary each party's privacy holds against, as one short,
 * stable string that goes into the signed terms (option `security`) and so into every co-signed
 * receipt, with the SECURITY.md anchor that explains it (SECURITY.md §1.2, "Security models").
 *
 * Both parties compute the model from the protocol and its options with {@link securityModelOf};
 * the requester states it in its terms and the responder refuses terms whose stated model differs
 * from its own computation ({@link checkSecurityModel}), like any other terms mismatch. The string
 * is a statement both parties signed, not a switch: it changes nothing in how the protocol runs.
 * @module
 */
import type { SessionTerms } from './messages.js';

/**
 * The terms / receipt option that carries the security model.
 *
 * @example
 * ```ts
 * receipt.body.options[SECURITY_MODEL_OPTION]; // e.g. 'semi-honest'
 * ```
 */
export const SECURITY_MODEL_OPTION = 'security';

/**
 * A run's security model.
 *
 * @example
 * ```ts
 * const m: SecurityModel = { model: 'semi-honest', anchor: 'SECURITY.md#model-semi-honest' };
 * ```
 */
export interface SecurityModel {
  /** Short, stable string recorded in the terms and the receipt. */
  model: string;
  /** Where SECURITY.md explains it (a path and an anchor). */
  anchor: string;
}

/**
 * The models, by name. Changing a string breaks agreement with peers and ledger reports that group
 * by it: add a new one instead.
 *
 * - `malicious-up-to-input-choice` — ECDH-PSI modes 0/1: a malicious peer learns no more than an
 *   honest one holding the same input set would (it can still choose that set: probing).
 * - `semi-honest` — ECDH-PSI count-only modes 2/3: "only the count" holds only while the learner
 *   follows the protocol; a malicious learner recovers which of its keys matched (SECURITY.md
 *   finding 2, `test/attacks/count-only-membership-test.test.ts`), i.e. modes 2/3 degrade to 1/0.
 * - `idholder-malicious/valueholder-semi-honest` — psi-sum: the ID holder's privacy holds against a
 *   malicious value holder, the value holder's only against a semi-honest ID holder.
 * - `aggregator-semi-honest` — aggregation: the operator (aggregator) is trusted to follow the
 *   protocol and not to collude with the analyst; providers and the analyst may deviate without
 *   learning another provider's vector, but a deviating provider can corrupt the total.
 * - `querier-malicious/holder-unverified-answers` — data products (EC-OPRF): a malicious querier
 *   learns F_k only on keys it pays for (the budget bounds the oracle), a malicious holder learns
 *   only the number of keys; the holder's answers carry no proof, so it can make a querier's
 *   result wrong (not learn more).
 *
 * @example
 * ```ts
 * if (receipt.body.options.security === SECURITY_MODELS.semiHonest.model) flagForReview(receipt);
 * ```
 */
export const SECURITY_MODELS = Object.freeze({
  maliciousUpToInputChoice: Object.freeze({ model: 'malicious-up-to-input-choice', anchor: 'SECURITY.md#model-malicious-up-to-input-choice' }),
  semiHonest: Object.freeze({ model: 'semi-honest', anchor: 'SECURITY.md#model-semi-honest' }),
  psiSum: Object.freeze({ model: 'idholder-malicious/valueholder-semi-honest', anchor: 'SECURITY.md#model-idholder-malicious-valueholder-semi-honest' }),
  aggregation: Object.freeze({ model: 'aggregator-semi-honest', anchor: 'SECURITY.md#model-aggregator-semi-honest' }),
  product: Object.freeze({ model: 'querier-malicious/holder-unverified-answers', anchor: 'SECURITY.md#model-querier-malicious-holder-unverified-answers' }),
} as const);

/**
 * The security model of a run of `protocol` with `options` (the terms' option map), or `undefined`
 * for a protocol or an option value this build does not run.
 *
 * @example
 * ```ts
 * securityModelOf('ecdh-psi', { 'count-only': 'true', truncate: '128' }).model; // 'semi-honest'
 * ```
 */
export function securityModelOf(protocol: string, options: Readonly<Record<string, string>>): SecurityModel | undefined {
  if (typeof protocol !== 'string') throw new TypeError('protocol must be a string');
  if (options === null || typeof options !== 'object') throw new TypeError('options must be an object');
  switch (protocol) {
    case 'ecdh-psi': {
      const co = options['count-only'];
      if (co === 'true') return SECURITY_MODELS.semiHonest;
      if (co === 'false') return SECURITY_MODELS.maliciousUpToInputChoice;
      return undefined;
    }
    case 'psi-sum':
      return SECURITY_MODELS.psiSum;
    case 'aggregate':
      return SECURITY_MODELS.aggregation;
    case 'product-query':
    case 'product-fetch':
      return SECURITY_MODELS.product;
    default:
      return undefined;
  }
}

/**
 * `terms` with the `security` option set to the model its protocol and options imply (what a
 * requester proposes). Throws `RangeError` for terms no model covers.
 *
 * @example
 * ```ts
 * const terms = withSecurityModel({ protocol: 'ecdh-psi', options: { 'count-only': 'true', truncate: '128' }, ...rest });
 * terms.options.security; // 'semi-honest'
 * ```
 */
export function withSecurityModel(terms: SessionTerms): SessionTerms {
  const m = securityModelOf(terms.protocol, terms.options);
  if (m === undefined) throw new RangeError(`terms.protocol '${terms.protocol}' with these options has no security model`);
  return { ...terms, options: { ...terms.options, [SECURITY_MODEL_OPTION]: m.model } };
}

/**
 * Checks the `security` option of signed terms against this party's own computation: `undefined`
 * when they agree, else the refusal reason the peer will see.
 *
 * @example
 * ```ts
 * const reason = checkSecurityModel(session.terms); // undefined, or e.g. "the terms state security model 'x' …"
 * ```
 */
export function checkSecurityModel(terms: SessionTerms): string | undefined {
  const m = securityModelOf(terms.protocol, terms.options);
  if (m === undefined) return 'these terms have no security model in this build';
  const stated = terms.options[SECURITY_MODEL_OPTION];
  if (stated === undefined) return `the terms state no security model (option security; this run's is '${m.model}')`;
  // The peer's string is echoed back bounded (the session layer sanitises refusal reasons too).
  if (stated !== m.model) return `the terms state security model '${stated.slice(0, 64)}', but this run's is '${m.model}'`;
  return undefined;
}
