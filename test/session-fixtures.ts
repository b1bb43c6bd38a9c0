/** Fixtures shared by the session-layer tests. */
import type { SessionTerms } from '../src/session/messages.js';
import { AGGREGATE_PROTOCOL_NAME } from '../src/session/run-aggregate.js';
import { SECURITY_MODELS } from '../src/session/security-model.js';

/** ECDH-PSI terms a requester of 10 keys proposes (requester-only output, no truncation), with overrides. */
export function psiTerms(over: Partial<SessionTerms> = {}): SessionTerms {
  return {
    protocol: 'ecdh-psi',
    options: { 'count-only': 'false', truncate: 'none' },
    purpose: 'programme audit',
    recipients: ['requester'],
    requesterSetSize: 10,
    responderSetSize: { min: 0, max: 1000 },
    minIntersection: 0,
    ...over,
  };
}

/** Terms of an aggregation link to the operator (requester-only output, no purpose), with overrides. */
export function aggregateTerms(over: Partial<SessionTerms> = {}): SessionTerms {
  return {
    protocol: AGGREGATE_PROTOCOL_NAME,
    options: { role: 'provider', security: SECURITY_MODELS.aggregation.model },
    purpose: '',
    recipients: ['requester'],
    requesterSetSize: 0,
    responderSetSize: { min: 0, max: 0 },
    minIntersection: 0,
    ...over,
  };
}
