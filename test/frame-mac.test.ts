/**
 * The per-frame MAC (src/session/frame-mac.ts): on Node the tag comes from node:crypto, elsewhere
 * from @noble/hashes; both must give HMAC-SHA256(key, seq_u64_be || frame) truncated to 16 bytes.
 */
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { VerificationFailedError } from '../src/errors.js';
import { FrameMac, TAG_BYTES } from '../src/session/frame-mac.js';

function expectedTag(key: Uint8Array, seq: number, frame: Uint8Array): Uint8Array {
  const s = new Uint8Array(8);
  new DataView(s.buffer).setBigUint64(0, BigInt(seq));
  return hmac.create(sha256, key).update(s).update(frame).digest().subarray(0, TAG_BYTES);
}

describe('FrameMac', () => {
  it('tags equal the portable HMAC-SHA256 over seq || frame, per direction and sequence number', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.array(fc.uint8Array({ minLength: 1, maxLength: 300 }), { minLength: 1, maxLength: 5 }),
        (k1, k2, frames) => {
          const a = new FrameMac(k1, k2);
          const b = new FrameMac(k2, k1);
          frames.forEach((f, seq) => {
            const sealed = a.seal(f);
            expect(sealed.subarray(0, f.length)).toEqual(f);
            expect(sealed.subarray(f.length)).toEqual(expectedTag(k1, seq, f));
            expect(b.open(sealed)).toEqual(f);
          });
        },
      ),
      { numRuns: 50 },
    );
  });

  it('a large frame (512 KiB) gets the same tag', () => {
    const key = new Uint8Array(32).fill(9);
    const frame = new Uint8Array(512 * 1024).map((_, i) => i * 7);
    const sealed = new FrameMac(key, key).seal(frame);
    expect(sealed.subarray(frame.length)).toEqual(expectedTag(key, 0, frame));
  });

  it('a flipped bit, a replayed frame or a frame out of order fails', () => {
    const k = new Uint8Array(32).fill(1);
    const send = new FrameMac(k, k);
    const f0 = send.seal(new Uint8Array([1, 2, 3]));
    const f1 = send.seal(new Uint8Array([4, 5, 6]));
    const flipped = f0.slice();
    flipped[1]! ^= 1;
    expect(() => new FrameMac(k, k).open(flipped)).toThrow(VerificationFailedError);
    expect(() => new FrameMac(k, k).open(f1)).toThrow(VerificationFailedError);
    const recv = new FrameMac(k, k);
    recv.open(f0);
    expect(() => recv.open(f0)).toThrow(VerificationFailedError);
    expect(recv.open(f1)).toEqual(new Uint8Array([4, 5, 6]));
  });
});
