/**
 * Discrete Laplace (two-sided geometric) noise for released counts and sums (DESIGN.md §4.4).
 *
 * X = G1 - G2 with G1, G2 independent geometric on {0, 1, …} with success probability
 * 1 - e^(-ε/Δ): P(X = k) ∝ e^(-ε|k|/Δ), the ε-differentially-private integer mechanism for a query
 * of sensitivity Δ (Ghosh, Roughgarden, Sundararajan 2009). Geometrics are drawn by inversion from
 * 53-bit CSPRNG uniforms in floating point; the textbook caveat applies (floating-point sampling
 * is not exactly the ideal distribution — Mironov 2012), and draws are clamped to ±`headroom`
 * (probability e^-50 per draw at the default tail) so the plaintext modulus can be sized to
 * never wrap. Both are documented in docs/psi-sum.md.
 * @module
 */

/** Headroom, in units of the noise scale Δ/ε, reserved in the plaintext modulus for DP noise. */
export const DP_TAIL_SCALES = 50;

function uniform01(): number {
  const w = new Uint32Array(2);
  for (;;) {
    globalThis.crypto.getRandomValues(w);
    // 53 random bits → (0, 1); 0 is excluded (log(0)).
    const u = ((w[0]! >>> 5) * 67108864 + (w[1]! >>> 6)) / 9007199254740992;
    if (u > 0) return u;
  }
}

function geometric(lambda: number): bigint {
  // P(G ≥ k) = e^(-λk): G = floor(-ln(U) / λ).
  const g = Math.floor(-Math.log(uniform01()) / lambda);
  return BigInt(Number.isFinite(g) ? Math.min(g, Number.MAX_SAFE_INTEGER) : Number.MAX_SAFE_INTEGER);
}

/**
 * The largest noise magnitude one draw can take for (`epsilon`, `sensitivity`): draws are clamped
 * to ± this, and the plaintext modulus leaves room for it.
 * @example
 * ```ts
 * noiseHeadroom(1, 100n); // 5000n
 * ```
 */
export function noiseHeadroom(epsilon: number, sensitivity: bigint): bigint {
  checkArgs(epsilon, sensitivity);
  const scale = Number(sensitivity) / epsilon;
  return BigInt(Math.ceil(DP_TAIL_SCALES * Math.max(scale, 1)));
}

function checkArgs(epsilon: number, sensitivity: bigint): void {
  if (typeof epsilon !== 'number' || !Number.isFinite(epsilon) || epsilon <= 0) throw new RangeError('epsilon must be a positive finite number');
  if (typeof sensitivity !== 'bigint' || sensitivity < 1n) throw new RangeError('sensitivity must be a positive bigint');
}

/**
 * One draw of discrete Laplace noise with scale Δ/ε, clamped to ±{@link noiseHeadroom}.
 *
 * @example
 * ```ts
 * const noisyCount = BigInt(count) + sampleDiscreteLaplace(0.5, 1n);
 * ```
 */
export function sampleDiscreteLaplace(epsilon: number, sensitivity: bigint): bigint {
  checkArgs(epsilon, sensitivity);
  const lambda = epsilon / Number(sensitivity);
  const x = geometric(lambda) - geometric(lambda);
  const h = noiseHeadroom(epsilon, sensitivity);
  return x > h ? h : x < -h ? -h : x;
}
