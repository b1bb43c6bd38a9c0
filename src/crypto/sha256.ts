/**
 * SHA-256 over several parts: `node:crypto` where the platform has it (reached only through
 * `src/platform`), `@noble/hashes` elsewhere; both give identical bytes. Used by the ledger (which
 * hashes O(n log n) nodes to verify) and by data-product caches. Internal: not part of the public API.
 * @module
 */
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import { getNodeCrypto } from '../platform/node.js';

const nodeCrypto = getNodeCrypto();

/**
 * SHA-256 of the concatenation of `parts`, as a fresh Uint8Array.
 * @internal
 */
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
