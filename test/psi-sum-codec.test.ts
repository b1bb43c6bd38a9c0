import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MalformedMessageError, ProtocolVersionError } from '../src/errors.js';
import {
  PSI_SUM_VERSION,
  PointRound,
  decodeSelection,
  encodeSelection,
  decodeCiphertext,
  decodePoints,
  decodeResult,
  decodeSetup,
  decodeSums,
  encodeCiphertext,
  encodePoints,
  encodeResult,
  encodeSetup,
  encodeSums,
} from '../src/protocols/psi-sum/codec.js';
import { discreteLaplaceBound, sampleBoundedDiscreteLaplace } from '../src/protocols/guardrails.js';
import { epsilonEach } from '../src/protocols/psi-sum/protocol.js';

const bytes = (max: number) => fc.uint8Array({ minLength: 1, maxLength: max });

describe('psi-sum codecs', () => {
  it('round-trip every message', () => {
    fc.assert(
      fc.property(
        fc.record({
          plainBits: fc.integer({ min: 20, max: 50 }),
          plainModulus: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
          valueKeys: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
          columns: fc.uniqueArray(
            fc.record({
              name: fc.stringMatching(/^[a-z_][a-z0-9_]{0,20}$/),
              decimals: fc.integer({ min: 0, max: 18 }),
              bound: fc.bigInt({ min: 1n, max: 2n ** 63n - 1n }),
            }),
            { minLength: 1, maxLength: 16, selector: (c) => c.name },
          ),
        }),
        (m) => {
          const s = { version: PSI_SUM_VERSION, ...m };
          expect(decodeSetup(encodeSetup(s))).toEqual(s);
        },
      ),
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.constantFrom(1, 2, 3), (n, round) => {
        const flat = new Uint8Array(n * 32).map((_, i) => i);
        expect(decodePoints(encodePoints(round, flat), round)).toEqual(flat);
      }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 2 ** 32 - 1 }), bytes(100), (c, i, ct) => {
        expect(decodeCiphertext(encodeCiphertext(c, i, ct))).toEqual({ col: c, index: i, ciphertext: ct });
      }),
    );
    fc.assert(
      fc.property(fc.option(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), { nil: undefined }), bytes(300), (count, publicKey) => {
        const m = { withheld: false, ...(count !== undefined ? { count } : {}), publicKey };
        expect(decodeSelection(encodeSelection(m))).toEqual(m);
      }),
    );
    expect(decodeSelection(encodeSelection({ withheld: true }))).toEqual({ withheld: true });
    fc.assert(
      fc.property(fc.array(bytes(50), { minLength: 1, maxLength: 16 }), (cts) => {
        expect(decodeResult(encodeResult({ ciphertexts: cts }), cts.length)).toEqual({ ciphertexts: cts });
      }),
    );
    fc.assert(
      fc.property(fc.array(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), { maxLength: 16 }), (sums) => {
        expect(decodeSums(encodeSums(sums), sums.length)).toEqual(sums);
      }),
    );
  });

  it('decoding arbitrary bytes only ever throws MalformedMessageError', () => {
    const decoders = [
      (b: Uint8Array) => decodeSetup(b),
      (b: Uint8Array) => decodePoints(b, PointRound.VALUE_KEYS),
      (b: Uint8Array) => decodeCiphertext(b),
      (b: Uint8Array) => decodeResult(b, 2),
      (b: Uint8Array) => decodeSelection(b),
      (b: Uint8Array) => decodeSums(b, 2),
    ];
    fc.assert(
      fc.property(fc.integer({ min: 0x51, max: 0x56 }), fc.uint8Array({ maxLength: 200 }), (type, rest) => {
        const b = Uint8Array.of(type, ...rest);
        for (const d of decoders) {
          try {
            d(b);
          } catch (e) {
            // A SETUP of another version is refused as such before its layout is read.
            if (type === 0x51 && rest[0] !== PSI_SUM_VERSION && e instanceof ProtocolVersionError) continue;
            expect(e).toBeInstanceOf(MalformedMessageError);
          }
        }
      }),
      { numRuns: 500 },
    );
  });

  it('refuses withheld selections that carry data, results of the wrong width, duplicate column names, trailing bytes', () => {
    expect(() => decodeSelection(Uint8Array.of(0x56, 1, 0, 0, 0, 1, 7))).toThrow(MalformedMessageError);
    expect(() => decodeSelection(Uint8Array.of(0x56, 3, 0, 0, 0, 0, 0, 0, 0, 1))).toThrow(MalformedMessageError);
    expect(() => decodeResult(encodeResult({ ciphertexts: [Uint8Array.of(1)] }), 2)).toThrow(MalformedMessageError);
    const s = encodeSetup({ version: PSI_SUM_VERSION, plainBits: 20, plainModulus: 5n, valueKeys: 1, columns: [{ name: 'a', decimals: 0, bound: 1n }, { name: 'b', decimals: 0, bound: 1n }] });
    const dup = s.slice();
    dup[dup.indexOf(0x62)] = 0x61; // 'b' → 'a'
    expect(() => decodeSetup(dup)).toThrow(MalformedMessageError);
    expect(() => decodeSums(Uint8Array.of(...encodeSums([1n]), 0), 1)).toThrow(MalformedMessageError);
  });

  it('a version-1 SETUP (the value holder held the key) is refused with ProtocolVersionError', () => {
    const v2 = encodeSetup({ version: PSI_SUM_VERSION, plainBits: 20, plainModulus: 5n, valueKeys: 1, columns: [{ name: 'a', decimals: 0, bound: 1n }] });
    // Version 1 carried the value holder's public key after the columns.
    const v1 = Uint8Array.of(...v2, 0, 0, 0, 2, 9, 9);
    v1[1] = 1;
    expect(() => decodeSetup(v1)).toThrow(ProtocolVersionError);
  });
});

describe('the noise psi-sum releases (shared guardrails sampler)', () => {
  it('integer support on both sides of zero, symmetric, within the bound the plaintext modulus reserves', () => {
    const n = 3000;
    let pos = 0;
    let neg = 0;
    let zero = 0;
    let sum = 0n;
    const h = discreteLaplaceBound('1', 3n);
    for (let i = 0; i < n; i++) {
      const x = sampleBoundedDiscreteLaplace('1', 3n).noise;
      expect(typeof x).toBe('bigint');
      expect(x <= h && x >= -h).toBe(true);
      if (x > 0n) pos++;
      else if (x < 0n) neg++;
      else zero++;
      sum += x;
    }
    // P(0) = tanh(ε/2Δ) ≈ 0.165 at scale 3; P(>0) = P(<0) ≈ 0.417. Bounds are ≥ 6 standard
    // deviations wide: a check of sign symmetry and support, not a flaky statistic.
    expect(zero).toBeGreaterThan(n * 0.1);
    expect(zero).toBeLessThan(n * 0.24);
    expect(Math.abs(pos - neg)).toBeLessThan(6 * Math.sqrt(n * 0.84));
    // Mean 0, standard deviation ≈ √2·3 ≈ 4.2 per draw → the sum's sd is ≈ 230.
    expect(Number(sum < 0n ? -sum : sum)).toBeLessThan(6 * 230);
  });

  it('splits epsilon over the count and the columns, rejecting malformed epsilons', () => {
    expect(epsilonEach('1', 2)).toBe('0.333333');
    expect(epsilonEach('0.05', 1)).toBe('0.025');
    expect(() => epsilonEach('1e-3', 1)).toThrow(RangeError);
    expect(() => epsilonEach('0', 1)).toThrow(RangeError);
  });
});
