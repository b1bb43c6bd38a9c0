import { describe, expect, it } from 'vitest';
import {
  discreteLaplaceBound,
  enforceMinCohort,
  meetsMinCohort,
  parseEpsilon,
  sampleBoundedDiscreteLaplace,
  sampleDiscreteLaplace,
  splitEpsilon,
} from '../src/protocols/guardrails.js';
import { GuardrailRefusedError } from '../src/errors.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { laplaceTable } from '../src/protocols/bounded-laplace.js';

/** A deterministic byte source (SHA-256 in counter mode over a seed), counting its use. */
function counterRng(seed: number): { random: (b: Uint8Array) => void; calls: number; bytes: number } {
  let ctr = 0;
  const state = {
    calls: 0,
    bytes: 0,
    random: (b: Uint8Array) => {
      state.calls++;
      state.bytes += b.length;
      for (let off = 0; off < b.length; off += 32) {
        const block = sha256(new TextEncoder().encode(`${seed}/${ctr++}`));
        b.set(block.subarray(0, Math.min(32, b.length - off)), off);
      }
    },
  };
  return state;
}

/** Exact pmf of the discrete Laplace with q = exp(-ε/Δ): (1 - q)/(1 + q) · q^|k|. */
const pmf = (eps: number, delta: number) => (k: number) => {
  const q = Math.exp(-eps / delta);
  return ((1 - q) / (1 + q)) * q ** Math.abs(k);
};

/** Pearson's chi-square statistic of `counts` in bins `[lo, hi]` (tails pooled into the end bins). */
function chiSquare(samples: bigint[], bins: [number, number][], p: (k: number) => number): number {
  const N = samples.length;
  let stat = 0;
  bins.forEach(([lo, hi], i) => {
    const first = i === 0;
    const last = i === bins.length - 1;
    let expected = 0;
    for (let k = lo; k <= hi; k++) expected += p(k);
    if (first) for (let k = lo - 1; k > lo - 2000; k--) expected += p(k);
    if (last) for (let k = hi + 1; k < hi + 2000; k++) expected += p(k);
    const observed = samples.filter((x) => (first || x >= BigInt(lo)) && (last || x <= BigInt(hi))).length;
    stat += (observed - N * expected) ** 2 / (N * expected);
  });
  return stat;
}

describe('discrete Laplace', () => {
  it('matches the two-sided geometric distribution (ε = 1, Δ = 1)', () => {
    const N = 20_000;
    const alpha = Math.exp(-1);
    let sum = 0;
    let sumSq = 0;
    let zeros = 0;
    for (let i = 0; i < N; i++) {
      const x = Number(sampleDiscreteLaplace('1', 1n));
      sum += x;
      sumSq += x * x;
      if (x === 0) zeros++;
    }
    const variance = (2 * alpha) / (1 - alpha) ** 2; // 1.84
    const p0 = (1 - alpha) / (1 + alpha); // 0.462
    // 6-sigma acceptance regions: fails only if the sampler is wrong (or with negligible probability).
    expect(Math.abs(sum / N)).toBeLessThan(6 * Math.sqrt(variance / N));
    expect(Math.abs(sumSq / N - variance)).toBeLessThan(6 * Math.sqrt(60 / N));
    expect(Math.abs(zeros / N - p0)).toBeLessThan(6 * Math.sqrt((p0 * (1 - p0)) / N));
  });

  it('scales with Δ/ε', () => {
    const N = 4000;
    let abs = 0;
    for (let i = 0; i < N; i++) abs += Math.abs(Number(sampleDiscreteLaplace('0.5', 100n)));
    // E|X| ≈ Δ/ε = 200 for a large scale.
    expect(abs / N).toBeGreaterThan(170);
    expect(abs / N).toBeLessThan(230);
  });

  it('is a deterministic function of the random source', () => {
    const seeded = () => {
      let s = 12345;
      return (b: Uint8Array) => {
        for (let i = 0; i < b.length; i++) {
          s = (s * 1103515245 + 12345) >>> 0;
          b[i] = s >>> 24;
        }
      };
    };
    const a = Array.from({ length: 20 }, ((r) => () => sampleDiscreteLaplace('0.3', 7n, r))(seeded()));
    const b = Array.from({ length: 20 }, ((r) => () => sampleDiscreteLaplace('0.3', 7n, r))(seeded()));
    expect(a).toEqual(b);
  });

  it('bounded noise stays within its tail bound and records δ', () => {
    const bound = discreteLaplaceBound('1', 1n);
    expect(bound).toBe(30n); // ⌈41·ln2⌉ + 1
    for (let i = 0; i < 200; i++) {
      const { noise, record } = sampleBoundedDiscreteLaplace('1', 1n);
      expect(noise <= bound && noise >= -bound).toBe(true);
      expect(record).toEqual({ mechanism: 'discrete-laplace', epsilon: '1', sensitivity: '1', delta: '2^-40' });
    }
  });

  // Fixed seed and count: the statistic is a deterministic number, so the test cannot flake; a
  // wrong bit probability or sign would move it far above the critical value.
  it('bounded sampler: chi-square against the exact pmf (ε = 1, Δ = 1; ε = 0.3, Δ = 7), fixed seed', () => {
    const rng = counterRng(1);
    const a = Array.from({ length: 20_000 }, () => sampleBoundedDiscreteLaplace('1', 1n, rng.random).noise);
    const binsA = Array.from({ length: 13 }, (_, i) => [i - 6, i - 6] as [number, number]); // -6..6, tails pooled
    // 12 degrees of freedom: the 0.1 % critical value is 32.91.
    expect(chiSquare(a, binsA, pmf(1, 1))).toBeLessThan(32.91);
    const b = Array.from({ length: 20_000 }, () => sampleBoundedDiscreteLaplace('0.3', 7n, rng.random).noise);
    const binsB = Array.from({ length: 16 }, (_, i) => [-80 + 10 * i, -71 + 10 * i] as [number, number]);
    // 15 degrees of freedom: the 0.1 % critical value is 37.70.
    expect(chiSquare(b, binsB, pmf(0.3, 7))).toBeLessThan(37.7);
  });

  it('bounded sampler: the same randomness and work whatever the value drawn', () => {
    for (const [eps, delta] of [['1', 1n], ['0.3', 7n], ['0.000001', 1_000_000_000n], ['100', 1n]] as const) {
      const rng = counterRng(2);
      const seen = new Set<bigint>();
      const table = laplaceTable(BigInt(Math.round(Number(eps) * 1e6)), 1_000_000n, delta);
      for (let i = 0; i < 300; i++) {
        const before = { calls: rng.calls, bytes: rng.bytes };
        seen.add(sampleBoundedDiscreteLaplace(eps, delta, rng.random).noise);
        // One call, 2·m trials of w bits each, for every sample.
        expect(rng.calls - before.calls).toBe(1);
        expect(rng.bytes - before.bytes).toBe((2 * table.m * table.w) / 8);
      }
      if (eps !== '100') expect(seen.size).toBeGreaterThan(2); // values differ while the draws do not
    }
  });

  it('bounded sampler: clamps at the bound instead of re-drawing', () => {
    const bound = discreteLaplaceBound('1', 1n);
    const { m, w } = laplaceTable(1_000_000n, 1_000_000n, 1n);
    // All-zero bytes for G1 (every bit with p_i > 0 set) and all-ones for G2 (no bit set).
    const extreme = (b: Uint8Array) => {
      b.fill(0, 0, (m * w) / 8);
      b.fill(0xff, (m * w) / 8);
    };
    const { noise } = sampleBoundedDiscreteLaplace('1', 1n, extreme);
    expect(noise).toBe(bound);
    const flipped = (b: Uint8Array) => {
      b.fill(0xff, 0, (m * w) / 8);
      b.fill(0, (m * w) / 8);
    };
    expect(sampleBoundedDiscreteLaplace('1', 1n, flipped).noise).toBe(-bound);
  });

  it('validates epsilon and splits it without exceeding the total', () => {
    expect(parseEpsilon('0.25')).toEqual({ num: 250000n, den: 1000000n });
    for (const bad of ['0', '-1', '1e3', '0.1234567', '101', ' 1']) expect(() => parseEpsilon(bad)).toThrow(RangeError);
    expect(splitEpsilon('1', 3)).toBe('0.333333');
    expect(splitEpsilon('2', 2)).toBe('1');
    expect(() => sampleDiscreteLaplace('1', 0n)).toThrow(RangeError);
  });
});

describe('minimum cohort', () => {
  it('withholds below the threshold', () => {
    expect(meetsMinCohort(9n, 10)).toBe(false);
    expect(meetsMinCohort(10n, 10)).toBe(true);
    expect(meetsMinCohort(0, 0)).toBe(true);
    expect(() => enforceMinCohort(3, 5)).toThrow(GuardrailRefusedError);
    expect(() => enforceMinCohort(5, 5)).not.toThrow();
  });
});
