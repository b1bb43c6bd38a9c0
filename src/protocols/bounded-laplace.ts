/**
 * Constant-work bounded discrete Laplace noise (issue 16, "also examine": the rejection sampler's
 * loop count grew with |noise|, so its running time said something about the noise).
 *
 * The discrete Laplace distribution with P(X = k) ∝ q^|k|, q = exp(−ε/Δ), is the difference
 * G1 − G2 of two independent geometric variables with P(G = g) = (1 − q)·q^g, and a geometric
 * variable restricted to [0, 2^m) has INDEPENDENT bits: P(g) ∝ q^g = Π_i (q^(2^i))^(b_i), so bit i
 * is 1 with probability p_i = q^(2^i) / (1 + q^(2^i)). A sample is therefore 2m Bernoulli trials with
 * fixed probabilities, each one comparison of W random bits with ⌊p_i·2^W⌋ from a table computed
 * once per (ε, Δ) in exact integer arithmetic: the same loop counts, the same random bytes
 * (2m·W/8, in one call) and the same big-integer operations whatever the noise. The result is
 * clamped to ±B ({@link discreteLaplaceBound}) without a data-dependent redraw.
 *
 * Distance from the exact law: rounding each p_i down to W bits moves at most 2^−W per trial, and
 * restricting G to [0, 2^m) at most q^(2^m) per variable; m and W are chosen so the total η is below
 * 2^−(100 + ⌈ε·log2 e⌉), so that a DP bound carried over from the exact law loses at most
 * η·(1 + e^ε) < 2^−100 in δ. Clamping at ±B is the δ ≤ 2^−40 already recorded. What remains is
 * instruction-level timing of JavaScript big-integer comparison and shifts (not constant-time in
 * V8, nanoseconds per operation); the peer sees only when a message leaves, after homomorphic work
 * that takes milliseconds and varies far more.
 * @module
 */
/**
 * A source of uniform random bytes (defaults to `crypto.getRandomValues`); injectable for tests.
 *
 * @example
 * ```ts
 * const random: RandomSource = (bytes) => crypto.getRandomValues(bytes);
 * ```
 */
export type RandomSource = (bytes: Uint8Array) => void;

/** ln 2 < 6931472 / 10^7 (a rational upper bound, so the sizes below never come out short). */
const LN2_NUM = 6931472n;
const LN2_DEN = 10_000_000n;
/** log2(e) < 1.4426951 */
const LOG2E_NUM = 14426951n;
const LOG2E_DEN = 10_000_000n;

const bitLength = (n: bigint): number => (n <= 0n ? 0 : n.toString(2).length);

/** exp(−f/b) for 0 ≤ f < b (or f = b), in fixed point with `P` fractional bits (Taylor series, truncated terms). */
function expNegFraction(f: bigint, b: bigint, P: bigint): bigint {
  const one = 1n << P;
  let term = one;
  let sum = 0n;
  for (let k = 1n; term !== 0n; k++) {
    sum += k % 2n === 1n ? term : -term; // terms alternate: +1, −x, +x²/2, …
    term = (term * f) / (b * k);
  }
  return sum;
}

/** exp(−a/b) in fixed point with `P` fractional bits (0 when below 2^−P). */
function expNeg(a: bigint, b: bigint, P: bigint): bigint {
  const n = a / b;
  if (n > P) return 0n; // e^−n < 2^−P
  let result = expNegFraction(a % b, b, P);
  let base = expNegFraction(1n, 1n, P);
  for (let e = n; e > 0n; e >>= 1n) {
    if (e & 1n) result = (result * base) >> P;
    base = (base * base) >> P;
  }
  return result;
}

/** The per-(ε, Δ) table of bit probabilities. */
export interface LaplaceTable {
  /** Bits of each geometric variable. */
  readonly m: number;
  /** Random bits per Bernoulli trial (a multiple of 8). */
  readonly w: number;
  /** ⌊p_i · 2^w⌋ for i = 0..m−1. */
  readonly thresholds: readonly bigint[];
}

const tables = new Map<string, LaplaceTable>();
const MAX_TABLES = 64;

/**
 * The table for ε = `epsNum`/`epsDen` and sensitivity Δ (exact integer arithmetic; cached).
 * q = exp(−s/t) with s = epsNum and t = epsDen·Δ.
 */
export function laplaceTable(epsNum: bigint, epsDen: bigint, sensitivity: bigint): LaplaceTable {
  const key = `${epsNum}/${epsDen}/${sensitivity}`;
  const hit = tables.get(key);
  if (hit) return hit;
  const s = epsNum;
  const t = epsDen * sensitivity;
  // K: target η < 2^−K with K = 100 + ⌈ε·log2 e⌉ + 1 (see the module documentation).
  const K = 101n + (s * LOG2E_NUM + epsDen * LOG2E_DEN - 1n) / (epsDen * LOG2E_DEN);
  // q^(2^m) ≤ 2^−(K+2)  ⇐  2^m ≥ (K+2)·ln2·t/s.
  const minRange = ((K + 2n) * LN2_NUM * t + LN2_DEN * s - 1n) / (LN2_DEN * s);
  const m = Math.max(1, bitLength(minRange));
  // 2m trials, each off by < 2^−(w−1) (rounding plus fixed-point error): w ≥ K + 2 + log2(2m) + 1.
  const w = Math.ceil((Number(K) + 4 + bitLength(BigInt(2 * m))) / 8) * 8;
  const P = BigInt(w + 64); // guard bits for the fixed-point exponentials
  const one = 1n << P;
  const thresholds: bigint[] = [];
  for (let i = 0; i < m; i++) {
    const r = expNeg(s << BigInt(i), t, P); // q^(2^i)
    thresholds.push((r << BigInt(w)) / (one + r)); // ⌊r/(1+r) · 2^w⌋
  }
  const table: LaplaceTable = { m, w, thresholds };
  if (tables.size >= MAX_TABLES) tables.clear();
  tables.set(key, table);
  return table;
}

/**
 * One draw of G1 − G2 clamped to ±`bound`, with a fixed amount of work and exactly one call of
 * `random` for 2·m·w/8 bytes.
 */
export function sampleClampedLaplace(table: LaplaceTable, bound: bigint, random: RandomSource): bigint {
  const { m, w, thresholds } = table;
  const chunk = w / 8;
  const bytes = new Uint8Array(2 * m * chunk);
  random(bytes);
  const g = [0n, 0n];
  for (let v = 0; v < 2; v++) {
    for (let i = 0; i < m; i++) {
      let u = 0n;
      const off = (v * m + i) * chunk;
      for (let j = 0; j < chunk; j++) u = (u << 8n) | BigInt(bytes[off + j]!);
      g[v]! |= BigInt(+(u < thresholds[i]!)) << BigInt(i);
    }
  }
  const x = g[0]! - g[1]!;
  // Clamp without a data-dependent redraw: both comparisons always run.
  const over = BigInt(+(x > bound));
  const under = BigInt(+(x < -bound));
  return x * (1n - over - under) + bound * over - bound * under;
}
