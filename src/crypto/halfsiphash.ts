/**
 * HalfSipHash (Aumasson and Bernstein's 32-bit SipHash variant, reference code at
 * https://github.com/veorq/SipHash `halfsiphash.c`): a keyed hash with a 64-bit key and a 32-bit
 * output, for hash tables whose keys come from a peer. Without the key, the peer cannot choose
 * inputs that collide, so a table's probe lengths stay those of random keys whatever it sends
 * (hash flooding, issue 16 finding 4). HalfSipHash-1-3 is what Linux's `hsiphash` uses for the same
 * purpose; it is not meant as a MAC.
 * @module
 */

/** A HalfSipHash key: two 32-bit words (the reference's key bytes 0..3 and 4..7, little-endian). */
export interface HalfSipKey {
  readonly k0: number;
  readonly k1: number;
}

/** A fresh key from the CSPRNG (one per table / run: never reused across peers). */
export function randomHalfSipKey(): HalfSipKey {
  const w = globalThis.crypto.getRandomValues(new Uint32Array(2));
  return { k0: w[0]!, k1: w[1]! };
}

/**
 * HalfSipHash-c-d with a 32-bit output of `src[off .. off+len)`, as an unsigned 32-bit number
 * (the reference's 4 output bytes read little-endian). `c` = compression rounds per 4-byte word,
 * `d` = finalisation rounds; the table uses 1-3, the official vectors are for 2-4.
 */
export function halfSipHash(key: HalfSipKey, src: Uint8Array, off: number, len: number, c = 1, d = 3): number {
  let v0 = key.k0 | 0;
  let v1 = key.k1 | 0;
  let v2 = 0x6c796765 ^ key.k0;
  let v3 = 0x74656462 ^ key.k1;
  const words = len >>> 2;
  // The message words, then the last word b = (len << 24) | trailing bytes, each compressed the same way.
  for (let w = 0; w <= words; w++) {
    const p = off + 4 * w;
    let m: number;
    if (w < words) m = src[p]! | (src[p + 1]! << 8) | (src[p + 2]! << 16) | (src[p + 3]! << 24);
    else {
      const left = len & 3;
      m = len << 24;
      if (left >= 3) m |= src[p + 2]! << 16;
      if (left >= 2) m |= src[p + 1]! << 8;
      if (left >= 1) m |= src[p]!;
    }
    v3 ^= m;
    for (let i = 0; i < c; i++) {
      // SIPROUND on 32-bit words (rotations 5, 16, 8, 7, 13, 16)
      v0 = (v0 + v1) | 0; v1 = (v1 << 5) | (v1 >>> 27); v1 ^= v0; v0 = (v0 << 16) | (v0 >>> 16);
      v2 = (v2 + v3) | 0; v3 = (v3 << 8) | (v3 >>> 24); v3 ^= v2;
      v0 = (v0 + v3) | 0; v3 = (v3 << 7) | (v3 >>> 25); v3 ^= v0;
      v2 = (v2 + v1) | 0; v1 = (v1 << 13) | (v1 >>> 19); v1 ^= v2; v2 = (v2 << 16) | (v2 >>> 16);
    }
    v0 ^= m;
  }
  v2 ^= 0xff; // 32-bit output
  for (let i = 0; i < d; i++) {
    v0 = (v0 + v1) | 0; v1 = (v1 << 5) | (v1 >>> 27); v1 ^= v0; v0 = (v0 << 16) | (v0 >>> 16);
    v2 = (v2 + v3) | 0; v3 = (v3 << 8) | (v3 >>> 24); v3 ^= v2;
    v0 = (v0 + v3) | 0; v3 = (v3 << 7) | (v3 >>> 25); v3 ^= v0;
    v2 = (v2 + v1) | 0; v1 = (v1 << 13) | (v1 >>> 19); v1 ^= v2; v2 = (v2 << 16) | (v2 >>> 16);
  }
  return (v1 ^ v3) >>> 0;
}
