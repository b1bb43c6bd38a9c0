/**
 * AES-256-GCM (NIST SP 800-38D) for payloads of PSI with payload: one key per record, used once,
 * so the 96-bit nonce is fixed (all zero) and the key alone is never reused. `node:crypto` only
 * (reached through `src/platform`); elsewhere {@link aeadAvailable} is false and callers refuse
 * with `UnsupportedError`. Internal: not part of the public API.
 * @module
 */
import { getNodeCrypto } from '../platform/node.js';

const nodeCrypto = getNodeCrypto();

/** Bytes of the GCM tag appended to every ciphertext. @internal */
export const AEAD_TAG_BYTES = 16;
/** Bytes of an AES-256-GCM key. @internal */
export const AEAD_KEY_BYTES = 32;
const NONCE = new Uint8Array(12);

/** Whether this runtime has the AEAD (Node.js: yes; browsers: no). @internal */
export function aeadAvailable(): boolean {
  return nodeCrypto !== undefined;
}

function crypto(): NonNullable<typeof nodeCrypto> {
  if (!nodeCrypto) throw new TypeError('AES-256-GCM needs node:crypto');
  return nodeCrypto;
}

/**
 * AES-256-GCM of `plaintext` under a single-use `key` with associated data `ad`: ciphertext ‖ tag.
 * @internal
 */
export function sealOnce(key: Uint8Array, ad: Uint8Array, plaintext: Uint8Array): Uint8Array {
  const c = crypto().createCipheriv('aes-256-gcm', key, NONCE);
  c.setAAD(ad);
  const head = c.update(plaintext);
  const tail = c.final();
  const out = new Uint8Array(head.length + tail.length + AEAD_TAG_BYTES);
  out.set(head, 0);
  out.set(tail, head.length);
  out.set(c.getAuthTag(), head.length + tail.length);
  return out;
}

/**
 * The plaintext of `sealed` (ciphertext ‖ tag) under `key` and `ad`, or `undefined` when the tag
 * does not verify (wrong key, other associated data, altered bytes).
 * @internal
 */
export function openOnce(key: Uint8Array, ad: Uint8Array, sealed: Uint8Array): Uint8Array | undefined {
  if (sealed.length < AEAD_TAG_BYTES) return undefined;
  const d = crypto().createDecipheriv('aes-256-gcm', key, NONCE);
  d.setAAD(ad);
  d.setAuthTag(sealed.subarray(sealed.length - AEAD_TAG_BYTES));
  const head = d.update(sealed.subarray(0, sealed.length - AEAD_TAG_BYTES));
  try {
    const tail = d.final();
    const out = new Uint8Array(head.length + tail.length);
    out.set(head, 0);
    out.set(tail, head.length);
    return out;
  } catch {
    head.fill(0);
    return undefined;
  }
}
