/**
 * Release guardrails shared by the aggregation protocols (DESIGN.md §4.4): minimum cohort size and
 * differential-privacy noise on released counts and sums.
 *
 * Noise is the discrete Laplace (two-sided geometric) distribution, P(X = k) ∝ exp(-ε|k|/Δ),
 * sampled EXACTLY with integer arithmetic and rejection (Canonne, Kamath, Steinke, "The Discrete
 * Gaussian for Differential Privacy", NeurIPS 2020, Algorithms 1–2) — no floating point, so none of
 * the floating-point Laplace attacks (Mironov 2012) apply. Randomness: `crypto.getRandomValues`.
 *
 * When noise must fit a fixed range (a homomorphic plaintext addend), it is clamped at a tail
 * bound: that changes the guarantee from ε-DP to (ε, δ)-DP with δ ≤ 2^-40. That bounded sampler,
 * the one the protocols use, does a fixed amount of work whatever the noise (`bounded-laplace.ts`).
 * @module
 */
import { GuardrailRefusedError } from '../errors.js';
import { laplaceTable, sampleClampedLaplace, type RandomSource } from './bounded-laplace.js';

// RandomSource lives in bounded-laplace.ts (the lower module), re-exported here for callers.
export type { RandomSource } from './bounded-laplace.js';

const defaultRandom: RandomSource = (b) => {
  crypto.getRandomValues(b);
};

/**
 * What a release applied: recorded with the result and in the ledger (no values, only parameters).
 *
 * @example
 * ```ts
 * const rec: DpRecord = { mechanism: 'discrete-laplace', epsilon: '0.5', sensitivity: '1' };
 * ```
 */
export interface DpRecord {
  mechanism: 'discrete-laplace';
  /** ε of this statistic, decimal string. */
  epsilon: string;
  /** L1 sensitivity Δ in the statistic's integer units (fixed-point for decimals), decimal string. */
  sensitivity: string;
  /** δ from truncating the noise to a fixed range, if truncated (e.g. "2^-40"). */
  delta?: string;
}

/**
 * A parsed ε = num / den (den = 10^6).
 *
 * @example
 * ```ts
 * const { num, den }: EpsilonRational = parseEpsilon('0.5');
 * ```
 */
export interface EpsilonRational {
  num: bigint;
  den: bigint;
}

const EPSILON_RE = /^(0|[1-9][0-9]{0,5})(?:\.([0-9]{1,6}))?$/;

/**
 * Parses ε (a decimal string such as "0.5" or "1"; 0 < ε ≤ 100, at most 6 decimals). Throws
 * `RangeError` otherwise.
 *
 * @example
 * ```ts
 * parseEpsilon('0.25'); // { num: 250000n, den: 1000000n }
 * ```
 */
export function parseEpsilon(epsilon: string): EpsilonRational {
  if (typeof epsilon !== 'string') throw new TypeError('epsilon must be a decimal string');
  const m = EPSILON_RE.exec(epsilon);
  if (m === null) throw new RangeError('epsilon must be a decimal such as "0.5" (at most 6 decimals)');
  const num = BigInt(m[1]! + (m[2] ?? '').padEnd(6, '0'));
  const den = 1_000_000n;
  if (num === 0n || num > 100n * den) throw new RangeError('epsilon must be in (0, 100]');
  return { num, den };
}

function randomBelow(n: bigint, random: RandomSource): bigint {
  if (n <= 0n) throw new RangeError('n must be positive');
  if (n === 1n) return 0n;
  const bits = (n - 1n).toString(2).length;
  const bytes = new Uint8Array(Math.ceil(bits / 8));
  const excess = BigInt(bytes.length * 8 - bits);
  for (;;) {
    random(bytes);
    let r = 0n;
    for (const b of bytes) r = (r << 8n) | BigInt(b);
    r >>= excess;
    if (r < n) return r;
  }
}

/** Bernoulli(num/den). */
function bernoulli(num: bigint, den: bigint, random: RandomSource): boolean {
  return randomBelow(den, random) < num;
}

/** Bernoulli(exp(-num/den)), CKS 2020 Algorithm 1. */
function bernoulliExp(num: bigint, den: bigint, random: RandomSource): boolean {
  if (num > den) {
    for (let k = 0n; k < num / den; k++) if (!bernoulliExp(1n, 1n, random)) return false;
    return bernoulliExp(num % den, den, random);
  }
  let k = 1n;
  while (bernoulli(num, den * k, random)) k++;
  return k % 2n === 1n;
}

/**
 * Draws exact discrete Laplace noise with P(X = k) ∝ exp(-ε·|k| / Δ) (CKS 2020 Algorithm 2 with
 * scale Δ/ε). `sensitivity` is the L1 sensitivity of the statistic in its integer units.
 * Its running time and randomness use grow with |X| (rejection loops): the protocols use
 * {@link sampleBoundedDiscreteLaplace}, whose work is fixed.
 *
 * @example
 * ```ts
 * const noisyCount = trueCount + sampleDiscreteLaplace('1', 1n);
 * ```
 */
export function sampleDiscreteLaplace(epsilon: string, sensitivity: bigint, random: RandomSource = defaultRandom): bigint {
  const eps = parseEpsilon(epsilon);
  if (typeof sensitivity !== 'bigint' || sensitivity < 1n) throw new RangeError('sensitivity must be a positive bigint');
  // exp(-|y|·s/t) with s/t = ε/Δ = num / (den·Δ).
  const s = eps.num;
  const t = eps.den * sensitivity;
  for (;;) {
    const u = randomBelow(t, random);
    if (!bernoulliExp(u, t, random)) continue;
    let v = 0n;
    while (bernoulliExp(1n, 1n, random)) v++;
    const x = u + t * v;
    const y = x / s;
    const negative = bernoulli(1n, 2n, random);
    if (negative && y === 0n) continue;
    return negative ? -y : y;
  }
}

/**
 * A bound B with P(|X| > B) < 2^-40 for discrete Laplace noise of scale Δ/ε: B = ⌈40·ln2·Δ/ε⌉ + 1.
 * Computed with a rational upper bound of ln 2 so it never under-estimates.
 *
 * @example
 * ```ts
 * const bound = discreteLaplaceBound('0.5', 100n); // room for noise in a plaintext modulus
 * ```
 */
export function discreteLaplaceBound(epsilon: string, sensitivity: bigint): bigint {
  const eps = parseEpsilon(epsilon);
  if (typeof sensitivity !== 'bigint' || sensitivity < 1n) throw new RangeError('sensitivity must be a positive bigint');
  // ln 2 < 0.6931472 = 6931472 / 10^7. P(|X| ≥ k) ≤ 2·exp(-ε k/Δ) ≤ 2^-40 for k ≥ 41·ln2·Δ/ε.
  const num = 41n * 6931472n * sensitivity * eps.den;
  const den = 10_000_000n * eps.num;
  return (num + den - 1n) / den + 1n;
}

/**
 * Discrete Laplace noise limited to |X| ≤ {@link discreteLaplaceBound} (for a fixed-range
 * homomorphic addend), drawn with a fixed amount of work and randomness whatever its value
 * (`bounded-laplace.ts`: independent bits of two geometric variables from a table; within 2^-100
 * of the exact law after the e^ε factor, and clamped rather than re-drawn). Records δ = 2^-40 for
 * the clamping. This is what the protocols use.
 *
 * @example
 * ```ts
 * const { noise, record } = sampleBoundedDiscreteLaplace('1', 1n);
 * ```
 */
export function sampleBoundedDiscreteLaplace(
  epsilon: string,
  sensitivity: bigint,
  random: RandomSource = defaultRandom,
): { noise: bigint; record: DpRecord } {
  const bound = discreteLaplaceBound(epsilon, sensitivity); // validates both arguments
  const eps = parseEpsilon(epsilon);
  const noise = sampleClampedLaplace(laplaceTable(eps.num, eps.den, sensitivity), bound, random);
  return { noise, record: { mechanism: 'discrete-laplace', epsilon, sensitivity: sensitivity.toString(), delta: '2^-40' } };
}

/**
 * The minimum-cohort decision for one group: released only if `count ≥ minCohort`. The count used
 * must be the exact (pre-noise) count, decided by the party that releases.
 *
 * @example
 * ```ts
 * if (!meetsMinCohort(count, 10)) console.log('withheld');
 * ```
 */
export function meetsMinCohort(count: bigint | number, minCohort: number): boolean {
  if (!Number.isSafeInteger(minCohort) || minCohort < 0) throw new RangeError('minCohort must be a non-negative integer');
  return BigInt(count) >= BigInt(minCohort);
}

/**
 * Throws `GuardrailRefusedError` when a whole result falls below the minimum cohort (for protocols
 * that release one figure, e.g. an intersection size).
 *
 * @example
 * ```ts
 * enforceMinCohort(intersectionSize, terms.minCohort);
 * ```
 */
export function enforceMinCohort(count: bigint | number, minCohort: number): void {
  if (!meetsMinCohort(count, minCohort)) throw new GuardrailRefusedError('result withheld: below the minimum cohort size');
}

/**
 * Splits a total ε evenly over `parts` statistics (basic sequential composition), as a decimal
 * string with 6 decimals, rounded down so the parts never exceed the total.
 *
 * @example
 * ```ts
 * splitEpsilon('1', 3); // "0.333333"
 * ```
 */
export function splitEpsilon(total: string, parts: number): string {
  const eps = parseEpsilon(total);
  if (!Number.isSafeInteger(parts) || parts < 1) throw new RangeError('parts must be a positive integer');
  const share = eps.num / BigInt(parts);
  if (share === 0n) throw new RangeError('epsilon too small to split');
  const whole = share / eps.den;
  const frac = (share % eps.den).toString().padStart(6, '0').replace(/0+$/, '');
  return frac === '' ? whole.toString() : `${whole}.${frac}`;
}
