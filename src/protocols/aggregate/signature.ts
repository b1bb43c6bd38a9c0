/**
 * The analyst's signature over its query and HE public key, so that providers who pin the
 * analyst's Ed25519 identity encrypt only under that analyst's key: an aggregator (or anyone
 * reaching the server) cannot substitute its own key and decrypt a provider's vector.
 * @module
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { verifyEd25519 } from '../../crypto/ed25519.js';
import { VerificationFailedError } from '../../errors.js';
import { BinaryWriter } from '../../utils/binary.js';
import { equalBytes } from '../../utils/bytes.js';
import { AGGREGATE_QUERY_LIMITS } from './query.js';

const DOMAIN = new TextEncoder().encode('dataport-aggregate-query-v1');

/**
 * The bytes the analyst signs: a domain tag, the canonical query (length-prefixed) and SHA-256 of
 * the public-key envelope.
 *
 * @example
 * ```ts
 * const input = querySigningInput(queryBytes, publicKeyEnvelope);
 * ```
 */
export function querySigningInput(query: Uint8Array, publicKey: Uint8Array): Uint8Array {
  return new BinaryWriter(DOMAIN.length + 4 + query.length + 32)
    .bytes(DOMAIN)
    .varBytes(4, query, AGGREGATE_QUERY_LIMITS.maxBytes, 'query')
    .bytes(sha256(publicKey))
    .finish();
}

/**
 * Signs (query, public key) with an Ed25519 identity secret key (32-byte seed).
 *
 * @example
 * ```ts
 * const sig = signQuery(identity.secretKey, queryBytes, publicKeyEnvelope);
 * ```
 */
export function signQuery(secretKey: Uint8Array, query: Uint8Array, publicKey: Uint8Array): { signer: Uint8Array; signature: Uint8Array } {
  return { signer: ed25519.getPublicKey(secretKey), signature: ed25519.sign(querySigningInput(query, publicKey), secretKey) };
}

/**
 * Throws `VerificationFailedError` unless `signature` is `pinned`'s signature over (query, public key).
 *
 * @example
 * ```ts
 * verifyQuerySignature(pinnedAnalystKey, msg.query, msg.publicKey, msg.signature);
 * ```
 */
export function verifyQuerySignature(
  pinned: Uint8Array,
  query: Uint8Array,
  publicKey: Uint8Array,
  signature: { signer: Uint8Array; signature: Uint8Array } | undefined,
): void {
  let ok = false;
  if (signature !== undefined && equalBytes(signature.signer, pinned)) {
    ok = verifyEd25519(pinned, querySigningInput(query, publicKey), signature.signature); // the one rule
  }
  if (!ok) throw new VerificationFailedError();
}
