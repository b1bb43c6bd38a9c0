/**
 * The binomial upper tail P[X ≥ k] for X ~ Binomial(n, 1/2): the chance that a file carrying no
 * mark of a release agrees with it on at least k of n marks (each mark of an unrelated file agrees
 * with probability exactly 1/2, independently: the mask bit is a fresh PRF output per key).
 * @module
 */

/** ln Γ(x) for x > 0 (Lanczos, g = 7, n = 9; relative error below 1e-14). */
function logGamma(x: number): number {
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const y = x - 1;
  let a = c[0]!;
  const t = y + 7.5;
  for (let i = 1; i < 9; i++) a += c[i]! / (y + i);
  return 0.5 * Math.log(2 * Math.PI) + (y + 0.5) * Math.log(t) - t + Math.log(a);
}

/** ln C(n, k). */
function logChoose(n: number, k: number): number {
  return logGamma(n + 1) - logGamma(k + 1) - logGamma(n - k + 1);
}

/**
 * P[X ≥ k] for X ~ Binomial(n, 1/2), accurate far into the tail (down to ~1e-300; below that 0).
 * @example
 * ```ts
 * binomialTailHalf(20, 20); // 2^-20 ≈ 9.5e-7
 * ```
 */
export function binomialTailHalf(n: number, k: number): number {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError('n must be a non-negative integer');
  if (!Number.isSafeInteger(k)) throw new RangeError('k must be an integer');
  if (k <= 0) return 1;
  if (k > n) return 0;
  const ln2n = n * Math.LN2;
  // Terms decrease from k on when k ≥ n/2; below, sum the complement instead.
  if (k <= n / 2) {
    return Math.max(0, Math.min(1, 1 - lowerTail(n, k - 1, ln2n)));
  }
  let sum = 0;
  const first = logChoose(n, k) - ln2n;
  // term(j+1)/term(j) = (n-j)/(j+1)
  let logTerm = first;
  for (let j = k; j <= n; j++) {
    const t = Math.exp(logTerm - first);
    sum += t;
    if (t < 1e-17 * sum) break;
    logTerm += Math.log((n - j) / (j + 1));
  }
  return Math.min(1, Math.exp(first + Math.log(sum)));
}

/** P[X ≤ k] for k < n/2 (terms decrease going down from k). */
function lowerTail(n: number, k: number, ln2n: number): number {
  if (k < 0) return 0;
  const first = logChoose(n, k) - ln2n;
  let sum = 0;
  let logTerm = first;
  for (let j = k; j >= 0; j--) {
    const t = Math.exp(logTerm - first);
    sum += t;
    if (t < 1e-17 * sum) break;
    logTerm += Math.log(j / (n - j + 1));
  }
  return Math.exp(first + Math.log(sum));
}
