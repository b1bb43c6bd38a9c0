/**
 * The keys of fingerprinting, all derived from one long-term 32-byte fingerprint secret of the
 * releasing party (HMAC-SHA256 with distinct labels):
 * - the row key: one PRF of each row's normalised primary key, shared by all the party's releases,
 *   so that trace hashes every leaked row once whatever the number of releases;
 * - one release key per release id: it decides which rows and cells carry a mark and which bits;
 *   the ledger holds only a commitment to it.
 * The CLI derives the fingerprint secret from the party's identity key
 * ({@link fingerprintSecretFromIdentity}), so it lives where `identity.key` lives and is never
 * written anywhere else.
 * @module
 */
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes, utf8 } from '../../utils/bytes.js';

/** Bytes of a release id. */
export const RELEASE_ID_BYTES = 16;
/** Bytes of the fingerprint secret and of each derived key. */
export const FINGERPRINT_KEY_BYTES = 32;

const SECRET_LABEL = utf8('dataport-fingerprint-secret-v1\0');
const ROW_LABEL = utf8('dataport-fingerprint-row-key-v1\0');
const RELEASE_LABEL = utf8('dataport-fingerprint-release-key-v1\0');
const COMMIT_LABEL = utf8('dataport-fingerprint-key-commit-v1\0');
const RECIPIENT_LABEL = utf8('dataport-fingerprint-recipient-v1\0');

function checkKey(key: Uint8Array, name: string, length = FINGERPRINT_KEY_BYTES): void {
  if (!(key instanceof Uint8Array)) throw new TypeError(`${name} must be a Uint8Array`);
  if (key.length !== length) throw new RangeError(`${name} must be ${length} bytes`);
}

/**
 * The fingerprint secret of a party whose Ed25519 identity seed is `identitySecretKey`: a PRF of
 * the seed under a fixed label (it reveals nothing of the seed, and nothing signs with it).
 * @example
 * ```ts
 * const secret = fingerprintSecretFromIdentity(identity.secretKey);
 * ```
 */
export function fingerprintSecretFromIdentity(identitySecretKey: Uint8Array): Uint8Array {
  checkKey(identitySecretKey, 'identitySecretKey');
  return hmac(sha256, identitySecretKey, SECRET_LABEL);
}

/**
 * The row key: HMAC key of the per-row PRF of primary keys.
 * @example
 * ```ts
 * const rowKey = fingerprintRowKey(secret);
 * ```
 */
export function fingerprintRowKey(secret: Uint8Array): Uint8Array {
  checkKey(secret, 'secret');
  return hmac(sha256, secret, ROW_LABEL);
}

/**
 * The fingerprint key of release `releaseId` (16 bytes).
 * @example
 * ```ts
 * const key = releaseFingerprintKey(secret, releaseId);
 * ```
 */
export function releaseFingerprintKey(secret: Uint8Array, releaseId: Uint8Array): Uint8Array {
  checkKey(secret, 'secret');
  checkKey(releaseId, 'releaseId', RELEASE_ID_BYTES);
  return hmac(sha256, secret, concatBytes(RELEASE_LABEL, releaseId));
}

/**
 * The commitment to a release's fingerprint key that the ledger records (SHA-256 under its own
 * label): it binds the release to one key without revealing it, so the releasing party cannot later
 * claim another key produced the marks.
 * @example
 * ```ts
 * toHex(fingerprintKeyCommit(key)); // the release entry's `fingerprint-key-commit`
 * ```
 */
export function fingerprintKeyCommit(releaseKey: Uint8Array): Uint8Array {
  checkKey(releaseKey, 'releaseKey');
  return sha256(concatBytes(COMMIT_LABEL, releaseKey));
}

/**
 * The recipient's fingerprint: `bits` bits (≤ 256) derived from the release key and the recipient's
 * public key, one byte per bit (0 or 1).
 * @example
 * ```ts
 * const f = recipientFingerprint(key, recipientPublicKey, 64);
 * ```
 */
export function recipientFingerprint(releaseKey: Uint8Array, recipient: Uint8Array, bits: number): Uint8Array {
  checkKey(releaseKey, 'releaseKey');
  checkKey(recipient, 'recipient');
  if (!Number.isSafeInteger(bits) || bits < 1 || bits > 256) throw new RangeError('bits must be 1..256');
  const h = hmac(sha256, releaseKey, concatBytes(RECIPIENT_LABEL, recipient));
  const out = new Uint8Array(bits);
  for (let i = 0; i < bits; i++) out[i] = (h[i >> 3]! >> (i & 7)) & 1;
  return out;
}
