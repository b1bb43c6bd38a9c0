/**
 * SHA-256 and Ed25519 for the ledger: `node:crypto` where the platform has it (reached only through
 * `src/platform`), `@noble/hashes` / `@noble/curves` elsewhere. Both give identical bytes; the
 * native path matters because verifying a ledger hashes O(n log n) nodes and checks 3n signatures.
 * Internal: not part of the public API.
 * @module
 */
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import { getNodeCrypto } from '../platform/node.js';
import { signMessage, verifyMessage } from '../session/identity.js';

const nodeCrypto = getNodeCrypto();

/** SHA-256 of the concatenation of `parts`, as a fresh Uint8Array. */
export function sha256(...parts: Uint8Array[]): Uint8Array {
  if (nodeCrypto) {
    const h = nodeCrypto.createHash('sha256');
    for (const p of parts) h.update(p);
    return new Uint8Array(h.digest());
  }
  const h = nobleSha256.create();
  for (const p of parts) h.update(p);
  return h.digest();
}

// DER prefixes of RFC 8410 keys: SPKI for a 32-byte public key, PKCS#8 for a 32-byte seed.
const SPKI_PREFIX = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00]);
const PKCS8_PREFIX = Uint8Array.from([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
]);

type KeyObject = import('node:crypto').KeyObject;
// Ledgers involve a handful of keys; key import dominates a native verify, so cache a few.
const publicKeyCache = new Map<string, KeyObject>();
const MAX_CACHED_KEYS = 256;

function nodePublicKey(publicKey: Uint8Array): KeyObject {
  const id = String.fromCharCode(...publicKey);
  let key = publicKeyCache.get(id);
  if (!key) {
    const der = new Uint8Array(SPKI_PREFIX.length + 32);
    der.set(SPKI_PREFIX);
    der.set(publicKey, SPKI_PREFIX.length);
    key = nodeCrypto!.createPublicKey({ key: der as unknown as Buffer, format: 'der', type: 'spki' });
    if (publicKeyCache.size >= MAX_CACHED_KEYS) publicKeyCache.clear();
    publicKeyCache.set(id, key);
  }
  return key;
}

/** Ed25519 verification; false (never a throw) on any malformed input. */
export function ed25519Verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (!nodeCrypto) return verifyMessage(publicKey, message, signature);
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  try {
    return nodeCrypto.verify(null, message, nodePublicKey(publicKey), signature);
  } catch {
    return false;
  }
}

/** A signing function bound to one secret key (the key object is imported once). */
export function ed25519Signer(secretKey: Uint8Array): (message: Uint8Array) => Uint8Array {
  if (!nodeCrypto) {
    const sk = new Uint8Array(secretKey);
    return (message) => signMessage(sk, message);
  }
  const der = new Uint8Array(PKCS8_PREFIX.length + 32);
  der.set(PKCS8_PREFIX);
  der.set(secretKey, PKCS8_PREFIX.length);
  const key = nodeCrypto.createPrivateKey({ key: der as unknown as Buffer, format: 'der', type: 'pkcs8' });
  der.fill(0);
  return (message) => new Uint8Array(nodeCrypto.sign(null, message, key));
}
