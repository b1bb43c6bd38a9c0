// Seeded, reproducible randomness for the synthetic scenario data.
//
// Why home-made: Math.random cannot be seeded, and the generator must produce byte-identical files
// for the same parameters on any machine. Every number drawn here comes from integer operations and
// IEEE-754 +, -, *, / and Math.sqrt (all correctly rounded), never from Math.exp / Math.log /
// Math.cos, whose last bit the ECMAScript spec leaves to the engine. That is why normal deviates
// use the Irwin–Hall sum and `expDet` is written out below.

import { createHash } from 'node:crypto';

/** Domain-separation prefix for stream seeding; bump the version if the streams ever change. */
const DOMAIN = 'dataport-seeds/v1';

/** Largest seed accepted: seeds are written in decimal and must survive a round trip through JSON. */
export const MAX_SEED = Number.MAX_SAFE_INTEGER;

/**
 * Creates an independent xoshiro128** stream for `(seed, label)`.
 *
 * The 128-bit state is the first 16 bytes of SHA-256("dataport-seeds/v1" NUL seed NUL label), so
 * each part of the scenario (population, overlap, noise, each aggregation hospital) draws from its
 * own stream: changing the number of aggregation hospitals does not change the pharma list.
 *
 * xoshiro128** 1.1: D. Blackman and S. Vigna, https://prng.di.unimi.it/xoshiro128starstar.c
 *
 * @param {number} seed non-negative safe integer
 * @param {string} label stream name
 * @example
 * const rng = createRng(2023, 'population');
 * rng.int(6); // 0 (the same on every run)
 */
export function createRng(seed, label) {
  if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`seed must be an integer in [0, ${MAX_SEED}]`);
  if (typeof label !== 'string') throw new TypeError('label must be a string');
  const h = createHash('sha256').update(`${DOMAIN}\0${seed}\0${label}`, 'utf8').digest();
  let s0 = h.readUInt32LE(0);
  let s1 = h.readUInt32LE(4);
  let s2 = h.readUInt32LE(8);
  let s3 = h.readUInt32LE(12);
  // The all-zero state is the one fixed point of xoshiro; SHA-256 will not give it, but be safe.
  if ((s0 | s1 | s2 | s3) === 0) s0 = 1;

  const rotl = (x, k) => (x << k) | (x >>> (32 - k));

  /** Next 32-bit unsigned integer. */
  function nextU32() {
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = rotl(s3, 11);
    return result;
  }

  /** Uniform double in [0, 1) with 53 random bits. */
  function float() {
    const a = nextU32() >>> 5; // 27 bits
    const b = nextU32() >>> 6; // 26 bits
    return (a * 67108864 + b) / 9007199254740992;
  }

  /** Unbiased integer in [0, n), n an integer in [1, 2^32] (rejection sampling, no modulo bias). */
  function int(n) {
    if (!Number.isInteger(n) || n < 1 || n > 4294967296) throw new RangeError('int(n): n must be an integer in [1, 2^32]');
    const limit = 4294967296 - (4294967296 % n);
    for (;;) {
      const x = nextU32();
      if (x < limit) return x % n;
    }
  }

  /**
   * Approximately standard normal deviate: Irwin–Hall sum of 12 uniforms minus 6 (mean 0,
   * variance 1, support [-6, 6]). Exact tails do not matter for synthetic data; reproducibility does.
   */
  function normal() {
    let s = 0;
    for (let i = 0; i < 12; i++) s += float();
    return s - 6;
  }

  /** Shuffles `arr` in place (Fisher–Yates) and returns it. */
  function shuffle(arr) {
    for (let i = arr.length - 1; i > 0; i--) {
      const j = int(i + 1);
      const t = arr[i];
      arr[i] = arr[j];
      arr[j] = t;
    }
    return arr;
  }

  /**
   * Exactly `k` distinct indices of [0, n), as a 0/1 mask of length n (partial Fisher–Yates).
   * Used for the noise model, so that the documented proportions are met exactly, not on average.
   */
  function mask(n, k) {
    if (!Number.isInteger(k) || k < 0 || k > n) throw new RangeError(`mask: k must be in [0, ${n}]`);
    const idx = new Uint32Array(n);
    for (let i = 0; i < n; i++) idx[i] = i;
    const out = new Uint8Array(n);
    for (let i = 0; i < k; i++) {
      const j = i + int(n - i);
      const t = idx[i];
      idx[i] = idx[j];
      idx[j] = t;
      out[idx[i]] = 1;
    }
    return out;
  }

  /**
   * Returns a sampler over `items` with positive integer `weights` (exact integer arithmetic, so
   * no floating-point edge at the bucket boundaries).
   */
  function picker(items, weights) {
    if (items.length === 0 || items.length !== weights.length) throw new RangeError('picker: items and weights must be non-empty and of equal length');
    const cumulative = [];
    let total = 0;
    for (const w of weights) {
      if (!Number.isInteger(w) || w < 1) throw new RangeError('picker: weights must be positive integers');
      total += w;
      cumulative.push(total);
    }
    return () => {
      const x = int(total);
      let lo = 0;
      let hi = cumulative.length - 1;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (x < cumulative[mid]) hi = mid;
        else lo = mid + 1;
      }
      return items[lo];
    };
  }

  return { nextU32, float, int, normal, shuffle, mask, picker };
}

const LN2 = 0.6931471805599453;

/**
 * e^x using only correctly rounded arithmetic (range reduction to |r| <= ln2/2, Taylor series,
 * exact scaling by powers of two), so results are identical on every IEEE-754 engine.
 * Accurate to a few ulps for |x| <= 700, which is far more than synthetic costs need.
 *
 * @param {number} x
 * @example
 * expDet(0); // 1
 */
export function expDet(x) {
  if (!Number.isFinite(x) || Math.abs(x) > 700) throw new RangeError('expDet: x must be finite with |x| <= 700');
  const k = Math.round(x / LN2);
  const r = x - k * LN2;
  let term = 1;
  let sum = 1;
  for (let i = 1; i <= 24; i++) {
    term = (term * r) / i;
    sum += term;
  }
  let scale = 1;
  if (k > 0) for (let i = 0; i < k; i++) scale *= 2;
  else for (let i = 0; i < -k; i++) scale *= 0.5;
  return sum * scale;
}
