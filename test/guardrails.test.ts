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
