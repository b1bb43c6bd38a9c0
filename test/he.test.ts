import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import * as fc from 'fast-check';
import {
  chooseHeParameters,
  createHeContext,
  decodeHeParameters,
  encodeHeParameters,
  encryptBatch,
  heParametersHash,
  readPublicKeyParameters,
  type HeContext,
  type HeKeyPair,
  type HeParameters,
} from '../src/he/index.js';
import { noiseBudgetsForTest } from '../src/he/context.js';
import { estimateRemainingNoiseBudget, HE_FLOOD_STATISTICAL_BITS } from '../src/he/params.js';
import { HeParameterMismatchError, MalformedMessageError } from '../src/errors.js';

const MAX = 10n ** 12n;

describe('HE parameters', () => {
  it('chooses the cheapest ring and a plaintext modulus that cannot wrap', async () => {
    const p = await chooseHeParameters({ slots: 10, maxAbsValue: 1000n, maxAddends: 10 });
    expect(p.polyModulusDegree).toBe(4096);
    expect((p.plainModulus - 1n) / 2n).toBeGreaterThanOrEqual(10_000n);
    const big = await chooseHeParameters({ slots: 10, maxAbsValue: 2n ** 50n, maxAddends: 100 });
    expect(big.polyModulusDegree).toBe(8192);
    expect((big.plainModulus - 1n) / 2n).toBeGreaterThanOrEqual(2n ** 50n * 100n);
  });

  it('never picks a plaintext modulus equal to a coefficient prime (SEAL would reject it)', async () => {
    for (const bits of [35, 36, 37, 43, 44, 48, 49]) {
      const p = await chooseHeParameters({ slots: 4, maxAbsValue: 2n ** BigInt(bits - 3), maxAddends: 2 });
      expect(p.coeffModulus).not.toContain(p.plainModulus);
      (await createHeContext(p)).dispose();
    }
  });

  it('refuses bounds whose sum could wrap any 60-bit plaintext modulus', async () => {
    await expect(chooseHeParameters({ slots: 1, maxAbsValue: 2n ** 55n, maxAddends: 32 })).rejects.toThrow(RangeError);
    await expect(chooseHeParameters({ slots: 0, maxAbsValue: 1n, maxAddends: 1 })).rejects.toThrow(RangeError);
  });

  it('round-trips the canonical description and rejects tampering', async () => {
    const p = await chooseHeParameters({ slots: 5, maxAbsValue: 7n, maxAddends: 3, maxAbsPlainAddend: 9n });
    const bytes = encodeHeParameters(p);
    expect(decodeHeParameters(bytes)).toEqual(p);
    const text = new TextDecoder().decode(bytes);
    for (const bad of [text + ' ', text.replace('maxabs=7', 'maxabs=07'), text.replace(/t=\d+/, 't=3'), '', 'x'.repeat(5000)]) {
      expect(() => decodeHeParameters(new TextEncoder().encode(bad))).toThrow(MalformedMessageError);
    }
  });
});

describe('HE context (4096)', () => {
  let params: HeParameters;
  let he: HeContext;
  let keys: HeKeyPair;
  beforeAll(async () => {
    params = await chooseHeParameters({ slots: 64, maxAbsValue: MAX, maxAddends: 8, maxAbsPlainAddend: 1000n });
    he = await createHeContext(params);
    keys = he.generateKeys();
  });
  afterAll(() => {
    keys.publicKey.dispose();
    keys.secretKey.dispose();
    he.dispose();
  });

  it('decrypted sums equal plaintext sums exactly (negatives, zeros, extremes)', () => {
    const value = fc.oneof(fc.constantFrom(0n, MAX, -MAX, 1n, -1n), fc.bigInt({ min: -MAX, max: MAX }));
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 64 }), fc.infiniteStream(value), (k, len, stream) => {
        const it = stream[Symbol.iterator]();
        const vectors = Array.from({ length: k }, () => Array.from({ length: len }, () => it.next().value as bigint));
        const cts = vectors.map((v) => he.encrypt(keys.publicKey, v));
        const acc = cts[0]!;
        for (const c of cts.slice(1)) he.addInPlace(acc, c);
        he.rerandomise(acc, keys.publicKey);
        he.finalise(acc);
        const wire = he.exportCiphertext(acc);
        const back = he.importCiphertext(wire);
        const got = he.decrypt(keys.secretKey, back);
        const want = Array.from({ length: len }, (_, i) => vectors.reduce((s, v) => s + v[i]!, 0n));
        for (const c of [...cts, back]) c.dispose();
        expect(got).toEqual(want);
      }),
      { numRuns: 15 },
    );
  });

  it('refuses out-of-bound values and too many addends before encrypting', () => {
    expect(() => he.encrypt(keys.publicKey, [MAX + 1n])).toThrow(RangeError);
    expect(() => he.encrypt(keys.publicKey, [-MAX - 1n])).toThrow(RangeError);
    expect(() => he.encrypt(keys.publicKey, [1.5])).toThrow(TypeError);
    expect(() => he.encrypt(keys.publicKey, new Array(65).fill(0n))).toThrow(RangeError);
    const a = he.encrypt(keys.publicKey, [1n]);
    const b = he.encrypt(keys.publicKey, [1n]);
    for (let i = 0; i < 7; i++) he.addInPlace(a, b);
    expect(a.addends).toBe(8);
    expect(() => he.addInPlace(a, b)).toThrow(RangeError);
    expect(he.decrypt(keys.secretKey, a)).toEqual([8n]);
    a.dispose();
    b.dispose();
  });

  it('adds a bounded plaintext once; random masks hide and unmask exactly', () => {
    const a = he.encrypt(keys.publicKey, [5n, -5n, MAX]);
    expect(() => he.addPlain(a, [1001n, 0n, 0n])).toThrow(RangeError);
    he.addPlain(a, [-1000n, 1000n, 0n]);
    expect(() => he.addPlain(a, [1n, 1n, 1n])).toThrow(RangeError);
    const mask = he.addRandomMask(a);
    const masked = he.decrypt(keys.secretKey, a);
    expect(masked).not.toEqual([-995n, 995n, MAX]);
    expect(he.unmask(masked, mask)).toEqual([-995n, 995n, MAX]);
    a.dispose();
  });

  it('keeps a noise margin after the planned operations, at every level it uses', () => {
    const cts = Array.from({ length: 8 }, () => he.encrypt(keys.publicKey, Array(64).fill(MAX)));
    for (const c of cts.slice(1)) he.addInPlace(cts[0]!, c);
    he.addPlain(cts[0]!, Array(64).fill(1000n));
    he.rerandomise(cts[0]!, keys.publicKey);
    const before = noiseBudgetsForTest(he, keys.secretKey, cts[0]!)[0]!;
    expect(before).toBeGreaterThanOrEqual(estimateRemainingNoiseBudget(params, params.coeffModulus.length - 1));
    he.finalise(cts[0]!);
    const after = noiseBudgetsForTest(he, keys.secretKey, cts[0]!)[0]!;
    expect(after).toBeGreaterThan(0);
    expect(he.decrypt(keys.secretKey, cts[0]!)).toEqual(Array(64).fill(MAX * 8n + 1000n));
    for (const c of cts) c.dispose();
  });

  it('public keys travel in self-describing envelopes; encryptBatch is a pure function of them', async () => {
    const pkBytes = he.exportPublicKey(keys.publicKey);
    expect(readPublicKeyParameters(pkBytes)).toEqual(params);
    const ctBytes = await encryptBatch(pkBytes, [3n, -4n]);
    const ct = he.importCiphertext(ctBytes, { length: 2, finalised: false });
    expect(he.decrypt(keys.secretKey, ct)).toEqual([3n, -4n]);
    ct.dispose();
    const pk2 = he.importPublicKey(pkBytes);
    const c2 = he.encrypt(pk2, [9n]);
    expect(he.decrypt(keys.secretKey, c2)).toEqual([9n]);
    c2.dispose();
    pk2.dispose();
  });

  it('public keys must be seeded (pk1 from a PRNG seed): full, altered or cut keys are refused before SEAL parses them', async () => {
    const { loadSeal } = await import('../src/he/seal-loader.js');
    const seal = await loadSeal();
    const good = he.exportPublicKey(keys.publicKey);
    const bodyOffset = 38 + 2 + ((good[38]! << 8) | good[39]!); // prefix, description length, description
    // A full (unseeded) SEAL public key of the right parameters, in the same envelope: refused.
    const p = params;
    const ep = seal.EncryptionParameters(seal.SchemeType.bfv);
    ep.setPolyModulusDegree(p.polyModulusDegree);
    ep.setCoeffModulus(seal.CoeffModulus.BFVDefault(p.polyModulusDegree, seal.SecurityLevel.tc128));
    ep.setPlainModulus(seal.Modulus(p.plainModulus));
    const ctx = seal.Context(ep, true, seal.SecurityLevel.tc128);
    const kg = seal.KeyGenerator(ctx);
    const full = kg.createPublicKey();
    const fullBytes = full.saveArray(seal.ComprModeType.none);
    const forged = new Uint8Array(bodyOffset + fullBytes.length);
    forged.set(good.subarray(0, bodyOffset));
    forged.set(fullBytes, bodyOffset);
    expect(() => he.importPublicKey(forged)).toThrow(MalformedMessageError);
    for (const o of [full, kg, ctx, ep]) o.delete();
    // Structural prefix altered (e.g. the "seeded" marker or sizes), or cut: refused.
    for (const i of [bodyOffset, bodyOffset + 5, bodyOffset + 20, bodyOffset + 60]) {
      const b = good.slice();
      b[i] = b[i]! ^ 0x01;
      expect(() => he.importPublicKey(b)).toThrow(MalformedMessageError);
    }
    expect(() => he.importPublicKey(good.subarray(0, good.length - 1))).toThrow(MalformedMessageError);
    // The genuine key still loads and works.
    const pk = he.importPublicKey(good);
    const ct = he.encrypt(pk, [5n]);
    expect(he.decrypt(keys.secretKey, ct)).toEqual([5n]);
    ct.dispose();
    pk.dispose();
  });

  it('mismatched parameters give HeParameterMismatchError', async () => {
    const other = await createHeContext(await chooseHeParameters({ slots: 64, maxAbsValue: MAX, maxAddends: 9, maxAbsPlainAddend: 1000n }));
    const otherKeys = other.generateKeys();
    const ct = other.encrypt(otherKeys.publicKey, [1n]);
    expect(() => he.importCiphertext(other.exportCiphertext(ct))).toThrow(HeParameterMismatchError);
    expect(() => he.importPublicKey(other.exportPublicKey(otherKeys.publicKey))).toThrow(HeParameterMismatchError);
    expect(heParametersHash(other.parameters)).not.toEqual(he.parametersHash);
    ct.dispose();
    otherKeys.publicKey.dispose();
    otherKeys.secretKey.dispose();
    other.dispose();
  });

  it('malformed, truncated, oversized and out-of-range ciphertexts give MalformedMessageError', () => {
    const ct = he.encrypt(keys.publicKey, [1n, 2n]);
    const good = he.exportCiphertext(ct);
    ct.dispose();
    const cases: Uint8Array[] = [
      new Uint8Array(0),
      good.subarray(0, 20),
      good.subarray(0, good.length - 1),
      new Uint8Array([...good, 0]),
      new Uint8Array(65 * 1024 * 1024),
    ];
    const flip = (i: number, v: number) => {
      const b = good.slice();
      b[i] = v;
      return b;
    };
    cases.push(flip(0, 0x41), flip(4, 9), flip(5, 1), flip(38 + 3, 0), flip(38 + 7, 0), flip(38 + 8, 7), flip(38 + 10, 0), flip(38 + 12, 2));
    // Every byte of the first coefficient set to 0xff: coefficient >= q.
    const big = good.slice();
    big.fill(0xff, 51, 51 + 16);
    cases.push(big);
    for (const c of cases) expect(() => he.importCiphertext(c)).toThrow(MalformedMessageError);
    // Arbitrary bytes after a valid header: only ever MalformedMessageError or a valid ciphertext.
    fc.assert(
      fc.property(fc.integer({ min: 51, max: good.length - 1 }), fc.integer({ min: 0, max: 255 }), (i, v) => {
        try {
          he.importCiphertext(flip(i, v)).dispose();
        } catch (e) {
          expect(e).toBeInstanceOf(MalformedMessageError);
        }
      }),
      { numRuns: 50 },
    );
  });
});

describe('HE: vectors longer than one ciphertext, slot selection', () => {
  it('splits long vectors across ciphertexts and sums them exactly', async () => {
    const he = await createHeContext(await chooseHeParameters({ slots: 9000, maxAbsValue: 1000n, maxAddends: 3, polyModulusDegree: 4096 }));
    const { publicKey, secretKey } = he.generateKeys();
    const a = Array.from({ length: 9000 }, (_, i) => BigInt((i % 2001) - 1000));
    const b = a.map((v) => -v / 2n + 7n);
    const ca = he.encrypt(publicKey, a);
    const cb = he.encrypt(publicKey, b);
    he.addInPlace(ca, cb);
    he.rerandomise(ca, publicKey);
    he.finalise(ca);
    const back = he.importCiphertext(he.exportCiphertext(ca), { finalised: true });
    expect(he.decrypt(secretKey, back)).toEqual(a.map((v, i) => v + b[i]!));
    for (const h of [ca, cb, back, publicKey, secretKey]) h.dispose();
    he.dispose();
  });

  it('multiplies by a 0/1 mask (parameters chosen for it) and refuses it otherwise', async () => {
    const params = await chooseHeParameters({ slots: 100, maxAbsValue: 10n ** 9n, maxAddends: 100, plainMultiplications: 1 });
    const he = await createHeContext(params);
    const { publicKey, secretKey } = he.generateKeys();
    const values = Array.from({ length: 100 }, (_, i) => BigInt(i * 1_000_003 - 50_000_000));
    const mask = values.map((_, i) => (i % 3 === 0 ? 1 : 0));
    const ct = he.encrypt(publicKey, values);
    he.multiplyMask(ct, mask);
    he.rerandomise(ct, publicKey);
    he.finalise(ct);
    expect(noiseBudgetsForTest(he, secretKey, ct)[0]).toBeGreaterThan(0);
    expect(he.decrypt(secretKey, ct)).toEqual(values.map((v, i) => (mask[i] ? v : 0n)));
    expect(() => he.multiplyMask(he.encrypt(publicKey, [1n]), [2])).toThrow(RangeError);
    for (const h of [ct, publicKey, secretKey]) h.dispose();
    he.dispose();
    const plain = await createHeContext(await chooseHeParameters({ slots: 4, maxAbsValue: 1n, maxAddends: 1 }));
    const k = plain.generateKeys();
    const c = plain.encrypt(k.publicKey, [1n]);
    expect(() => plain.multiplyMask(c, [1])).toThrow(RangeError);
    for (const h of [c, k.publicKey, k.secretKey]) h.dispose();
    plain.dispose();
  });

  it('handles from another context and disposed handles are refused', async () => {
    const p = await chooseHeParameters({ slots: 4, maxAbsValue: 1n, maxAddends: 1 });
    const a = await createHeContext(p);
    const b = await createHeContext(p);
    const ka = a.generateKeys();
    expect(() => b.encrypt(ka.publicKey, [1n])).toThrow(TypeError);
    const c = a.encrypt(ka.publicKey, [1n]);
    c.dispose();
    expect(c.disposed).toBe(true);
    expect(() => a.decrypt(ka.secretKey, c)).toThrow(TypeError);
    ka.publicKey.dispose();
    ka.secretKey.dispose();
    a.dispose();
    b.dispose();
  });
});

describe('HE noise flooding', () => {
  it('finalise floods the noise: still exact, and the remaining budget is that of a flooded ciphertext', async () => {
    const params = await chooseHeParameters({ slots: 20, maxAbsValue: 10n ** 9n, maxAddends: 10, noiseFlooding: 1 });
    expect(params.noiseFlooding).toBe(1);
    const he = await createHeContext(params);
    const { publicKey, secretKey } = he.generateKeys();
    const vectors = Array.from({ length: 10 }, (_, k) => Array.from({ length: 20 }, (_, i) => BigInt((i * 7919 + k * 104729) % 2_000_000_001) - 1_000_000_000n));
    const cts = vectors.map((v) => he.encrypt(publicKey, v));
    for (const c of cts.slice(1)) he.addInPlace(cts[0]!, c);
    he.rerandomise(cts[0]!, publicKey);
    const unflooded = he.importCiphertext(he.exportCiphertext(cts[0]!)); // a copy, not finalised
    he.finalise(cts[0]!);
    const budget = noiseBudgetsForTest(he, secretKey, cts[0]!)[0]!;
    // Flooding noise ~ Δ/4: only ~1-2 bits of budget remain, whatever the computation was.
    expect(budget).toBeGreaterThan(0);
    expect(budget).toBeLessThanOrEqual(3);
    expect(noiseBudgetsForTest(he, secretKey, unflooded)[0]!).toBeGreaterThan(HE_FLOOD_STATISTICAL_BITS);
    const back = he.importCiphertext(he.exportCiphertext(cts[0]!), { finalised: true });
    expect(he.decrypt(secretKey, back)).toEqual(vectors[0]!.map((_, i) => vectors.reduce((s, v) => s + v[i]!, 0n)));
    for (const h of [...cts, unflooded, back, publicKey, secretKey]) h.dispose();
    he.dispose();
  });
});

describe('fixed point', () => {
  it('parses exactly and refuses extra places instead of rounding', async () => {
    const { parseFixedPoint, formatFixedPoint, divideToDecimal } = await import('../src/he/fixed-point.js');
    expect(parseFixedPoint('1234.56', 2)).toBe(123456n);
    expect(parseFixedPoint('-0.5', 2)).toBe(-50n);
    expect(parseFixedPoint('7', 2)).toBe(700n);
    for (const bad of ['0.125', '1.000', '1e3', '', '.5', '1.', '--1', ' 1']) expect(() => parseFixedPoint(bad, 2)).toThrow(RangeError);
    expect(() => parseFixedPoint('0.25', 1)).toThrow(/more than 1 decimal place$/); // singular, not '1 decimal places'
    expect(() => parseFixedPoint('0.125', 2)).toThrow('more than 2 decimal places');
    expect(formatFixedPoint(-5n, 2)).toBe('-0.05');
    expect(formatFixedPoint(123456n, 0)).toBe('123456');
    expect(divideToDecimal(1000n, 3n, 2)).toBe('333.33');
    expect(divideToDecimal(-1000n, 6n, 1)).toBe('-166.7');
    fc.assert(
      fc.property(fc.bigInt({ min: -(10n ** 20n), max: 10n ** 20n }), fc.integer({ min: 0, max: 6 }), (v, d) => {
        expect(parseFixedPoint(formatFixedPoint(v, d), d)).toBe(v);
      }),
    );
  });
});
