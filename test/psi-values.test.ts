import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { LazyPermutation, PeerIndexSet, ValueTable, randomIndexes, randomPermutation, truncateValues } from '../src/protocols/psi/values.js';
import { MalformedMessageError } from '../src/errors.js';

const info = new TextEncoder().encode('ECDH-PSI');

describe('truncateValues', () => {
  it('is HKDF-SHA-512 (no salt, info "ECDH-PSI") per 32-byte value, same bytes as @noble/hashes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 * 5 }).filter((b) => b.length % 32 === 0), fc.constantFrom(16, 24), (flat, L) => {
        const out = truncateValues(flat, L);
        expect(out.length).toBe((flat.length / 32) * L);
        for (let i = 0; i < flat.length / 32; i++) {
          expect(Array.from(out.subarray(i * L, i * L + L))).toEqual(Array.from(hkdf(sha512, flat.subarray(i * 32, i * 32 + 32), undefined, info, L)));
        }
      }),
      { numRuns: 30 },
    );
  });

  it('returns 32-byte values unchanged (option 0) and refuses other sizes', () => {
    const flat = new Uint8Array(64).fill(3);
    expect(truncateValues(flat, 32)).toBe(flat);
    expect(() => truncateValues(flat, 20)).toThrow(RangeError);
    expect(() => truncateValues(new Uint8Array(33), 16)).toThrow(RangeError);
  });
});

describe('ValueTable', () => {
  it('finds exactly the inserted values and refuses duplicates', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.uint8Array({ minLength: 16, maxLength: 16 }), { maxLength: 60, selector: (b) => Array.from(b).join(',') }), (vals) => {
        const t = new ValueTable(vals.length, 16);
        const flat = new Uint8Array(vals.length * 16);
        vals.forEach((v, i) => flat.set(v, i * 16));
        t.insertAll(flat);
        expect(t.size).toBe(vals.length);
        vals.forEach((v, i) => expect(t.find(v, 0)).toBe(i));
        const other = new Uint8Array(16).fill(0xee);
        if (!vals.some((v) => v.every((x) => x === 0xee))) expect(t.find(other, 0)).toBe(-1);
      }),
    );
    const t = new ValueTable(2, 16);
    expect(() => t.insertAll(new Uint8Array(32))).toThrow(MalformedMessageError);
  });

  it('works for every value size and capacity boundary (slot tags next to the entry number)', () => {
    for (const [capacity, L] of [[1, 4], [15, 7], [16, 32], [255, 24], [256, 16], [257, 1]] as const) {
      const distinct = Math.min(capacity, 2 ** (8 * L));
      const flat = new Uint8Array(distinct * L);
      for (let i = 0; i < distinct; i++) for (let j = 0; j < Math.min(L, 4); j++) flat[i * L + j] = (i >> (8 * j)) & 0xff;
      const t = new ValueTable(capacity, L);
      t.insertAll(flat);
      for (let i = 0; i < distinct; i++) expect(t.find(flat, i * L)).toBe(i);
      expect(() => t.insertAll(flat.subarray(0, L))).toThrow(capacity === distinct ? RangeError : MalformedMessageError);
    }
  });
});

describe('PeerIndexSet', () => {
  it('is a set of uint64 values', () => {
    fc.assert(
      fc.property(fc.array(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), { maxLength: 200 }), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), (xs, y) => {
        const s = new PeerIndexSet();
        for (const x of xs) s.add(x);
        for (const x of xs) expect(s.has(x)).toBe(true);
        expect(s.has(y)).toBe(xs.includes(y));
      }),
      { numRuns: 50 },
    );
  });
});

describe('CSPRNG helpers', () => {
  it('randomPermutation is a permutation', () => {
    for (const n of [0, 1, 2, 17, 1000]) {
      const p = randomPermutation(n);
      expect(Array.from(p).sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
    }
  });

  it('randomIndexes are distinct uint64s', () => {
    const xs = randomIndexes(500);
    expect(new Set(xs).size).toBe(500);
    for (const x of xs) expect(x >= 0n && x < 1n << 64n).toBe(true);
    expect(randomIndexes(0)).toEqual([]);
  });
});

describe('LazyPermutation', () => {
  it('fixes prefixes that never change and ends as a permutation, whatever the ensure steps', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 300 }), fc.array(fc.integer({ min: 0, max: 320 }), { maxLength: 8 }), (n, steps) => {
        const p = new LazyPermutation(n);
        let fixedSoFar: number[] = [];
        for (const k of [...steps, n]) {
          p.ensure(k);
          expect(p.fixed).toBe(Math.max(fixedSoFar.length, Math.min(k, n)));
          expect(Array.from(p.values.subarray(0, fixedSoFar.length))).toEqual(fixedSoFar);
          fixedSoFar = Array.from(p.values.subarray(0, p.fixed));
        }
        expect(Array.from(p.values).sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
      }),
    );
  });

  it('is roughly uniform: each of the 6 orders of 3 elements appears (6000 draws, each within 5 sigma)', () => {
    const counts = new Map<string, number>();
    for (let i = 0; i < 6000; i++) {
      const p = new LazyPermutation(3);
      p.ensure(1);
      p.ensure(3);
      const key = Array.from(p.values).join('');
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    expect(counts.size).toBe(6);
    // Binomial(6000, 1/6): mean 1000, sigma ~28.9.
    for (const c of counts.values()) expect(Math.abs(c - 1000)).toBeLessThan(5 * 28.9);
  });
});
