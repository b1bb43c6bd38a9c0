/**
 * Per-frame integrity after the handshake: every DATA / RECEIPT_* frame carries a 16-byte tag
 * `HMAC-SHA256(k_direction, seq_u64 || frame)[0..16]`, with one key and one counter per direction.
 * Keys come from the authenticated ephemeral X25519 exchange of the handshake, so a party in the
 * middle (no TLS, or TLS terminated by a relay) can neither alter, inject, drop, reorder nor replay
 * a frame without the next check failing with `VerificationFailedError`.
 * @module
 * @internal
 */
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { MalformedMessageError, VerificationFailedError } from '../errors.js';
import { getNodeCrypto } from '../platform/node.js';
import { equalBytes } from '../utils/bytes.js';

/** Bytes of the truncated tag (128 bits, as HMAC truncation in RFC 2104 §5 allows). */
export const TAG_BYTES = 16;

function seqBytes(seq: number): Uint8Array {
  const b = new Uint8Array(8);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, Math.floor(seq / 2 ** 32));
  dv.setUint32(4, seq >>> 0);
  return b;
}

/** @internal */
export class FrameMac {
  readonly #sendKey: Uint8Array;
  readonly #recvKey: Uint8Array;
  #sendSeq = 0;
  #recvSeq = 0;

  constructor(sendKey: Uint8Array, recvKey: Uint8Array) {
    this.#sendKey = sendKey;
    this.#recvKey = recvKey;
  }

  #tag(key: Uint8Array, seq: number, body: Uint8Array): Uint8Array {
    // On Node, OpenSSL's HMAC: ~10x faster than the portable one on a 512 KiB frame (0.4 vs 4.5 ms
    // here), and this runs on the event loop for every frame. Same bytes either way (tested).
    const nc = getNodeCrypto();
    if (nc) {
      const d = nc.createHmac('sha256', key).update(seqBytes(seq)).update(body).digest();
      return new Uint8Array(d.buffer, d.byteOffset, TAG_BYTES);
    }
    return hmac.create(sha256, key).update(seqBytes(seq)).update(body).digest().subarray(0, TAG_BYTES);
  }

  /** `frame || tag`; advances the send counter. */
  seal(frame: Uint8Array): Uint8Array {
    const out = new Uint8Array(frame.length + TAG_BYTES);
    out.set(frame, 0);
    out.set(this.#tag(this.#sendKey, this.#sendSeq++, frame), frame.length);
    return out;
  }

  /** The frame without its tag; throws `VerificationFailedError` if the tag is wrong. */
  open(frame: Uint8Array): Uint8Array {
    if (frame.length < 1 + TAG_BYTES) throw new MalformedMessageError();
    const body = frame.subarray(0, frame.length - TAG_BYTES);
    const tag = frame.subarray(frame.length - TAG_BYTES);
    if (!equalBytes(tag, this.#tag(this.#recvKey, this.#recvSeq, body))) throw new VerificationFailedError();
    this.#recvSeq++;
    return body;
  }
}
