/**
 * SHA-256 and Ed25519 for the ledger: `node:crypto` where the platform has it (reached only through
 * `src/platform`), `@noble/hashes` / `@noble/curves` elsewhere. Both give identical bytes; the
 * native path matters because verifying a ledger hashes O(n log n) nodes and checks 3n signatures.
 * Internal: not part of the public API.
 * @module
 */
import { getNodeCrypto } from '../platform/node.js';
import { verifyEd25519 } from '../crypto/ed25519.js';
import { sha256 } from '../crypto/sha256.js';
import { signMessage } from '../session/identity.js';

export { sha256 };

const nodeCrypto = getNodeCrypto();

// DER prefix of an RFC 8410 PKCS#8 key for a 32-byte seed.
const PKCS8_PREFIX = Uint8Array.from([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
]);

/** Ed25519 verification under dataport's one rule (`crypto/ed25519.ts`, OpenSSL where it runs). */
export const ed25519Verify = verifyEd25519;

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
