import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { halfSipHash } from '../src/crypto/halfsiphash.js';

const vectors = JSON.parse(readFileSync(new URL('./vectors/siphash/halfsiphash-2-4-32.json', import.meta.url), 'utf8')) as { outputs: string[] };

describe('halfSipHash', () => {
  it('gives the reference HalfSipHash-2-4 32-bit outputs (veorq/SipHash vectors_hsip32, all 64)', () => {
    const key = { k0: 0x03020100, k1: 0x07060504 }; // key bytes 00..07, little-endian words
    const msg = Uint8Array.from({ length: 64 }, (_, i) => i);
    expect(vectors.outputs).toHaveLength(64);
    vectors.outputs.forEach((hex, i) => {
      const le = Buffer.from(hex, 'hex').readUInt32LE(0);
      expect(halfSipHash(key, msg, 0, i, 2, 4)).toBe(le);
    });
  });

  it('reads only src[off .. off+len) and depends on the key', () => {
    const key = { k0: 1, k1: 2 };
    const a = Uint8Array.from([9, 9, 1, 2, 3, 4, 5, 9]);
    const b = Uint8Array.from([1, 2, 3, 4, 5]);
    expect(halfSipHash(key, a, 2, 5)).toBe(halfSipHash(key, b, 0, 5));
    expect(halfSipHash({ k0: 1, k1: 3 }, b, 0, 5)).not.toBe(halfSipHash(key, b, 0, 5));
  });
});
