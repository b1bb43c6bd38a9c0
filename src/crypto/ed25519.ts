/**
 * The one Ed25519 verification rule of dataport (issue 16 finding 5), used by the session, receipts,
 * checkpoints, the ledger and its parallel verifier, and aggregate query signatures alike:
 *
 * - public key A: a canonical encoding (y < p, no "negative zero" x), not one of the 8 small-order
 *   points (Chalkias et al., "Taming the many EdDSAs", cases 0–2 and 11–12);
 * - R not one of the 8 small-order points (OpenSSL's own verdict on those differs between the
 *   OpenSSL of Node 20 and of Node 24; refusing them keeps one rule on every runtime);
 * - S < L (RFC 8032 §5.1.7 step 1, §8.4: no malleability);
 * - the cofactorless equation [S]B = R + [k]A, checked by re-encoding R + … and comparing it byte
 *   for byte with the signature's R, so a non-canonical or mixed-order R never verifies.
 *
 * RFC 8032 §5.1.7 allows the cofactorless or the cofactored check; this is the cofactorless one,
 * because that is what OpenSSL implements, and on Node OpenSSL is the fast path (~10× @noble/curves).
 * The checks OpenSSL lacks (it accepts small-order and non-canonical keys) run first, here, on
 * every path, so OpenSSL and the portable path (@noble/curves point arithmetic) accept exactly
 * the same set (test/ed25519-rule.test.ts). Before this, the session used @noble/curves' default
 * (ZIP-215: cofactored, non-canonical encodings accepted) and the ledger OpenSSL, and a peer could
 * co-sign a receipt that one accepted and the other refused.
 *
 * Identity keys (key files, pinned keys, keys in the handshake) must also lie in the prime-order
 * subgroup ({@link isValidEd25519PublicKey}): a key with a torsion component verifies some
 * signatures under one equation and not the other, and no honest key generator makes one.
 * @module
 */
import { ed25519, ED25519_TORSION_SUBGROUP } from '@noble/curves/ed25519.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { getNodeCrypto } from '../platform/node.js';
import { concatBytes, equalBytes, fromHex } from '../utils/bytes.js';

const Point = ed25519.Point;
const L = Point.Fn.ORDER;
const SMALL_ORDER = ED25519_TORSION_SUBGROUP.map((h) => fromHex(h));
const nodeCrypto = getNodeCrypto();
/** A signature that passes every precheck (R = B, S = 0), to run only the key's checks. */
const KEY_ONLY_SIGNATURE = concatBytes(Point.BASE.toBytes(), new Uint8Array(32));

function fromLE(bytes: Uint8Array): bigint {
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]!);
  return n;
}

/**
 * The cheap part of the rule, without curve arithmetic: lengths, A canonical and not of small
 * order, R not of small order, S < L. The parallel ledger verifier runs it before handing the rest to OpenSSL in workers.
 */
export function ed25519Precheck(publicKey: Uint8Array, signature: Uint8Array): boolean {
  if (!(publicKey instanceof Uint8Array) || !(signature instanceof Uint8Array)) return false;
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  // RFC 8032 §5.1.3: y is the low 255 bits, x's sign the top bit; y must be < p.
  const y = fromLE(publicKey) & ((1n << 255n) - 1n);
  const p = Point.Fp.ORDER;
  if (y >= p) return false;
  // x = 0 exactly when y = ±1; its "negative" encoding (sign bit set) is non-canonical.
  if ((y === 1n || y === p - 1n) && (publicKey[31]! & 0x80) !== 0) return false;
  for (const t of SMALL_ORDER) if (equalBytes(t, publicKey)) return false;
  // R of small order is refused too: OpenSSL 3.0 (Node 20) accepts it, newer OpenSSL (Node 24)
  // refuses it, so without this check the verdict would depend on the Node version.
  const r = signature.subarray(0, 32);
  for (const t of SMALL_ORDER) if (equalBytes(t, r)) return false;
  return fromLE(signature.subarray(32)) < L;
}

// Importing a key dominates a native verify; peers and ledgers involve a handful of keys.
type KeyObject = import('node:crypto').KeyObject;
const SPKI_PREFIX = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00]); // RFC 8410
const keyCache = new Map<string, KeyObject>();
const MAX_CACHED_KEYS = 256;

function nodePublicKey(publicKey: Uint8Array): KeyObject {
  const id = String.fromCharCode(...publicKey);
  let key = keyCache.get(id);
  if (!key) {
    const der = new Uint8Array(SPKI_PREFIX.length + 32);
    der.set(SPKI_PREFIX);
    der.set(publicKey, SPKI_PREFIX.length);
    key = nodeCrypto!.createPublicKey({ key: der as unknown as Buffer, format: 'der', type: 'spki' });
    if (keyCache.size >= MAX_CACHED_KEYS) keyCache.clear();
    keyCache.set(id, key);
  }
  return key;
}

/** The equation part of the rule on the portable path: [S]B − [k]A re-encoded must equal R's bytes. */
function cofactorlessEquation(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  let A;
  try {
    A = Point.fromBytes(publicKey, false); // strict decoding; the precheck already made it canonical
  } catch {
    return false;
  }
  const r = signature.subarray(0, 32);
  const s = fromLE(signature.subarray(32));
  const k = fromLE(sha512(concatBytes(r, publicKey, message))) % L; // RFC 8032 §5.1.7 step 2
  // Public data only: the variable-time multiplications are fine here.
  const check = Point.BASE.multiplyUnsafe(s).subtract(A.multiplyUnsafe(k));
  return equalBytes(check.toBytes(), r);
}

/**
 * Verifies an Ed25519 signature under dataport's one rule (see the module documentation); returns
 * false, never throws, on any malformed input. OpenSSL where the platform has it, otherwise
 * @noble/curves point arithmetic: both accept exactly the same signatures.
 *
 * @example
 * ```ts
 * if (!verifyEd25519(peerKey, bytes, sig)) throw new VerificationFailedError();
 * ```
 */
export function verifyEd25519(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (!(message instanceof Uint8Array) || !ed25519Precheck(publicKey, signature)) return false;
  try {
    if (nodeCrypto) return nodeCrypto.verify(null, message, nodePublicKey(publicKey), signature);
    return cofactorlessEquation(publicKey, message, signature);
  } catch {
    return false;
  }
}

/** {@link verifyEd25519} on the portable path whatever the platform (tests compare the two paths). */
export function verifyEd25519Portable(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (!(message instanceof Uint8Array) || !ed25519Precheck(publicKey, signature)) return false;
  return cofactorlessEquation(publicKey, message, signature);
}

/**
 * Whether `publicKey` may serve as an identity: 32 bytes, a canonical encoding of a curve point of
 * prime order L (so neither small-order nor mixed-order, "Taming the many EdDSAs" §3).
 *
 * @example
 * ```ts
 * if (!isValidEd25519PublicKey(key)) throw new InputError('not an Ed25519 identity key');
 * ```
 */
export function isValidEd25519PublicKey(publicKey: Uint8Array): boolean {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32) return false;
  if (!ed25519Precheck(publicKey, KEY_ONLY_SIGNATURE)) return false;
  // The subgroup check is a multiplication by L (~5 ms with @noble/curves): remember recent verdicts,
  // since the same pinned keys are checked at every session.
  const id = String.fromCharCode(...publicKey);
  let ok = verdicts.get(id);
  if (ok === undefined) {
    try {
      ok = Point.fromBytes(publicKey, false).isTorsionFree();
    } catch {
      ok = false;
    }
    if (verdicts.size >= MAX_VERDICTS) verdicts.clear();
    verdicts.set(id, ok);
  }
  return ok;
}

const verdicts = new Map<string, boolean>();
const MAX_VERDICTS = 4096;
