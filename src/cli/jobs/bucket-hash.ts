/**
 * The job's bucket function, HMAC-SHA256 under the job's bucket key (RFC 2104, FIPS 180-4),
 * computed here in plain JavaScript from the key's two precomputed midstates: the states after
 * the `key ⊕ ipad` and `key ⊕ opad` blocks. A normalised key of up to 55 bytes then costs two
 * compressions and no allocation, where a `node:crypto` HMAC object per row costs several
 * microseconds of call overhead (measured: the partition of 2^20 rows spent more time creating
 * HMAC objects than parsing the file). The bytes are those of `createHmac('sha256', key)`
 * (test/bucket-hash.test.ts compares them for every message length up to three blocks).
 * @module
 */

const K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);
const IV = new Int32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);

/** One SHA-256 compression of the 16 words `w[0..15]` into `h` (`w` is used as the schedule). */
function compress(h: Int32Array, w: Int32Array): void {
  for (let t = 16; t < 64; t++) {
    const a = w[t - 15]!;
    const b = w[t - 2]!;
    const s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3);
    const s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10);
    w[t] = (w[t - 16]! + s0 + w[t - 7]! + s1) | 0;
  }
  let a = h[0]!;
  let b = h[1]!;
  let c = h[2]!;
  let d = h[3]!;
  let e = h[4]!;
  let f = h[5]!;
  let g = h[6]!;
  let hh = h[7]!;
  for (let t = 0; t < 64; t++) {
    const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const t1 = (hh + S1 + ((e & f) ^ (~e & g)) + K[t]! + w[t]!) | 0;
    const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const t2 = (S0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
    hh = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) | 0;
  }
  h[0] = (h[0]! + a) | 0;
  h[1] = (h[1]! + b) | 0;
  h[2] = (h[2]! + c) | 0;
  h[3] = (h[3]! + d) | 0;
  h[4] = (h[4]! + e) | 0;
  h[5] = (h[5]! + f) | 0;
  h[6] = (h[6]! + g) | 0;
  h[7] = (h[7]! + hh) | 0;
}

/** The state after one block of `key ⊕ pad` (the key zero-padded to 64 bytes). */
function midstate(key: Uint8Array, pad: number, w: Int32Array): Int32Array {
  const h = Int32Array.from(IV);
  for (let i = 0; i < 16; i++) {
    let word = 0;
    for (let j = 0; j < 4; j++) word = (word << 8) | ((key[4 * i + j] ?? 0) ^ pad);
    w[i] = word;
  }
  compress(h, w);
  return h;
}

/**
 * HMAC-SHA256 under `key` (at most 64 bytes), returning the MAC's first 8 bytes as two unsigned
 * 32-bit big-endian words `[hi, lo]` (what {@link bucketIndex} reads). The returned function
 * reuses one result array: read it before the next call.
 *
 * @example
 * ```ts
 * const mac = createHmacSha256Prefix(bucketKey);
 * const [hi, lo] = mac(normalizeKey(['110101199003070011'])!);
 * ```
 */
export function createHmacSha256Prefix(key: Uint8Array): (message: Uint8Array) => readonly [number, number] {
  if (key.length > 64) throw new RangeError('key: at most 64 bytes');
  const w = new Int32Array(64);
  const inner = midstate(key, 0x36, w);
  const outer = midstate(key, 0x5c, w);
  const h = new Int32Array(8);
  const out: [number, number] = [0, 0];
  return (m) => {
    h.set(inner);
    const n = m.length;
    // Blocks of the message, then its padding (0x80, zeros, the bit length of ipad block + message).
    const total = n + 9;
    const blocks = Math.ceil(total / 64);
    for (let blk = 0; blk < blocks; blk++) {
      const base = blk * 64;
      for (let i = 0; i < 16; i++) {
        let word = 0;
        for (let j = 0; j < 4; j++) {
          const p = base + 4 * i + j;
          const byte = p < n ? m[p]! : p === n ? 0x80 : 0;
          word = (word << 8) | byte;
        }
        w[i] = word;
      }
      if (blk === blocks - 1) {
        const bits = (64 + n) * 8;
        w[14] = Math.floor(bits / 2 ** 32);
        w[15] = bits | 0;
      }
      compress(h, w);
    }
    // Outer: the inner digest (8 words), 0x80, zeros, length (64 + 32) * 8 bits.
    for (let i = 0; i < 8; i++) w[i] = h[i]!;
    w[8] = 0x80000000 | 0;
    for (let i = 9; i < 15; i++) w[i] = 0;
    w[15] = (64 + 32) * 8;
    h.set(outer);
    compress(h, w);
    out[0] = h[0]! >>> 0;
    out[1] = h[1]! >>> 0;
    return out;
  };
}
