/**
 * A batched 128-bit PRF: AES-128 in ECB mode over many independent 16-byte blocks in one call
 * (`node:crypto`, AES-NI where the CPU has it). A block cipher under a secret random key is a
 * pseudo-random permutation, hence (PRP/PRF switching, distinct inputs, far below 2^64 blocks) a
 * pseudo-random function of each block; ECB is exactly "the PRF applied to each block" and leaks
 * nothing here because its inputs are themselves secret PRF outputs. Used by fingerprint
 * detection, which must evaluate one PRF per (row, release): 10^7 evaluations take well under a
 * second this way, against ~20 s for as many HMAC calls. Node-only: browsers have no synchronous
 * AES-ECB. Internal: not part of the public API.
 * @module
 */
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { getNodeCrypto } from '../platform/node.js';

const nodeCrypto = getNodeCrypto();

/** Bytes of a key and of a block. */
export const BLOCK_PRF_BYTES = 16;

/**
 * AES-128-ECB of `blocks` (a multiple of 16 bytes) under `key` (16 bytes): block i of the result is
 * the PRF of block i of the input.
 * @internal
 */
export function blockPrf(key: Uint8Array, blocks: Uint8Array): Uint8Array {
  if (!(key instanceof Uint8Array) || key.length !== BLOCK_PRF_BYTES) throw new RangeError('key must be 16 bytes');
  if (!(blocks instanceof Uint8Array) || blocks.length % BLOCK_PRF_BYTES !== 0) throw new RangeError('blocks must be a multiple of 16 bytes');
  if (!nodeCrypto) throw new TypeError('blockPrf needs node:crypto (fingerprinting is Node-only)');
  if (blocks.length === 0) return new Uint8Array(0);
  const cipher = nodeCrypto.createCipheriv('aes-128-ecb', key, null);
  cipher.setAutoPadding(false);
  const out = cipher.update(blocks);
  cipher.final();
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

/**
 * The first 16 bytes of HMAC-SHA256(`key`, message) for each message, concatenated: the inputs of
 * {@link blockPrf}. `node:crypto` where present (several times faster per call than JavaScript).
 * @internal
 */
export function hmacTags(key: Uint8Array, messages: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(messages.length * BLOCK_PRF_BYTES);
  if (nodeCrypto) {
    const k = nodeCrypto.createSecretKey(key);
    for (let i = 0; i < messages.length; i++) {
      out.set(nodeCrypto.createHmac('sha256', k).update(messages[i]!).digest().subarray(0, BLOCK_PRF_BYTES), i * BLOCK_PRF_BYTES);
    }
    return out;
  }
  for (let i = 0; i < messages.length; i++) out.set(hmac(sha256, key, messages[i]!).subarray(0, BLOCK_PRF_BYTES), i * BLOCK_PRF_BYTES);
  return out;
}
