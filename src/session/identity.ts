/**
 * Ed25519 identities (DESIGN.md §6): each party signs its handshake and its receipts with one key.
 * Text formats of the key files written by `dataport keygen`:
 *
 * - `identity.key`: `dataport-ed25519-secret-v1 <base64 of the 32-byte seed>` (mode 0600)
 * - `identity.pub`: `dataport-ed25519-public-v1 <base64 of the 32-byte public key>`
 *
 * One line each, a trailing newline allowed. Runtime-neutral (no file I/O here).
 * @module
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { isValidEd25519PublicKey, verifyEd25519 } from '../crypto/ed25519.js';
import { InputError } from '../errors.js';
import { assertBytes, fromBase64, toBase64 } from '../utils/bytes.js';

/** An Ed25519 key pair. `secretKey` is the 32-byte seed of RFC 8032 §5.1.5. */
export interface Identity {
  secretKey: Uint8Array;
  publicKey: Uint8Array;
}

const SECRET_TAG = 'dataport-ed25519-secret-v1';
const PUBLIC_TAG = 'dataport-ed25519-public-v1';

/**
 * A fresh identity from the platform CSPRNG.
 * @example
 * ```ts
 * const { secretKey, publicKey } = generateIdentity();
 * ```
 */
export function generateIdentity(): Identity {
  const secretKey = ed25519.utils.randomSecretKey();
  return { secretKey, publicKey: ed25519.getPublicKey(secretKey) };
}

/**
 * The identity of a 32-byte seed.
 * @example
 * ```ts
 * const id = identityFromSecretKey(seed);
 * ```
 */
export function identityFromSecretKey(secretKey: Uint8Array): Identity {
  assertBytes(secretKey, 'secretKey', 32);
  return { secretKey: new Uint8Array(secretKey), publicKey: ed25519.getPublicKey(secretKey) };
}

/**
 * Ed25519 signature (RFC 8032) of `message`.
 * @example
 * ```ts
 * const sig = signMessage(id.secretKey, bytes);
 * ```
 */
export function signMessage(secretKey: Uint8Array, message: Uint8Array): Uint8Array {
  assertBytes(secretKey, 'secretKey', 32);
  assertBytes(message, 'message');
  return ed25519.sign(message, secretKey);
}

/**
 * Verifies an Ed25519 signature under dataport's one rule (strict RFC 8032 encodings, no
 * small-order key, S < L, cofactorless equation: `crypto/ed25519.ts`), the same rule as the ledger's;
 * returns false (never throws) on any malformed input.
 * @example
 * ```ts
 * if (!verifyMessage(peerKey, bytes, sig)) throw new VerificationFailedError();
 * ```
 */
export function verifyMessage(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  return verifyEd25519(publicKey, message, signature);
}

/**
 * Text of an `identity.key` file (the secret: keep it mode 0600).
 * @example
 * ```ts
 * const text = formatSecretKeyFile(id.secretKey);
 * ```
 */
export function formatSecretKeyFile(secretKey: Uint8Array): string {
  assertBytes(secretKey, 'secretKey', 32);
  return `${SECRET_TAG} ${toBase64(secretKey)}\n`;
}

/**
 * Text of an `identity.pub` file (the public key to hand to peers).
 * @example
 * ```ts
 * const text = formatPublicKeyFile(id.publicKey);
 * ```
 */
export function formatPublicKeyFile(publicKey: Uint8Array): string {
  assertBytes(publicKey, 'publicKey', 32);
  return `${PUBLIC_TAG} ${toBase64(publicKey)}\n`;
}

function parseKeyLine(text: string, tag: string, what: string): Uint8Array {
  const parts = text.trim().split(/\s+/);
  if (parts.length !== 2 || parts[0] !== tag) throw new InputError(`not a dataport ${what} file`);
  let bytes: Uint8Array;
  try {
    bytes = fromBase64(parts[1]!);
  } catch {
    throw new InputError(`${what} file: invalid base64`);
  }
  if (bytes.length !== 32) throw new InputError(`${what} file: key must be 32 bytes`);
  return bytes;
}

/**
 * Whether `publicKey` may identify a party: a canonical encoding of an Ed25519 point of prime order
 * (never small-order or mixed-order, which dataport's verification rule could treat differently
 * from another verifier's).
 * @example
 * ```ts
 * if (!isValidIdentityKey(key)) throw new RangeError('not an Ed25519 identity key');
 * ```
 */
export function isValidIdentityKey(publicKey: Uint8Array): boolean {
  return isValidEd25519PublicKey(publicKey);
}

/**
 * Parses an `identity.key` file; throws `InputError` if it is not one.
 * @example
 * ```ts
 * const id = identityFromSecretKey(parseSecretKeyFile(text));
 * ```
 */
export function parseSecretKeyFile(text: string): Uint8Array {
  return parseKeyLine(text, SECRET_TAG, 'secret key');
}

/**
 * Parses an `identity.pub` file; throws `InputError` if it is not one.
 * @example
 * ```ts
 * const peerKey = parsePublicKeyFile(text);
 * ```
 */
export function parsePublicKeyFile(text: string): Uint8Array {
  const key = parseKeyLine(text, PUBLIC_TAG, 'public key');
  if (!isValidEd25519PublicKey(key)) throw new InputError('public key file: not a valid Ed25519 identity key (small-order, mixed-order or non-canonical)');
  return key;
}
