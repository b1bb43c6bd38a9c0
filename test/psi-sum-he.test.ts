import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HeParameterMismatchError, MalformedMessageError } from '../src/errors.js';
import { HeContext, MAX_PLAIN_BITS, SEAL_MAX_ERROR, coeffBitsFor, plainBitsFor, type HeKeyPair } from '../src/protocols/psi-sum/he.js';

function randomSigned(bound: bigint): bigint {
  const w = new BigUint64Array(1);
  globalThis.crypto.getRandomValues(w);
  return (w[0]! % (2n * bound + 1n)) - bound;
}

/**
 * The whole homomorphic path of one run: I encrypts its selection blocks under `keys`; V (who
 * sees only I's public key and the blocks) multiplies them by its columns, masks and finishes; I
 * decrypts. Returns I's decryptions and the plan used.
 */
function roundTrip(h: HeContext, keys: HeKeyPair, columns: bigint[][], selected: Uint8Array, constants: bigint[]) {
  const blocks = Math.max(1, Math.ceil(selected.length / h.n));
  const bound = columns.flat().reduce((m, v) => (v > m ? v : -v > m ? -v : m), 1n);
  const plan = h.resultPlan(blocks, bound);
  const pk = h.loadPublicKey(keys.publicKeyBytes);
  const ev = h.createEvaluator(pk, columns.length);
  try {
    for (let b = 0; b < blocks; b++) {
      const [bytes] = h.encryptValues(keys, h.selectionCoefficients(selected, b));
      const ct = h.loadCiphertext(bytes!, 'fresh');
      try {
        ev.addBlock(ct, columns.map((v) => v.slice(b * h.n, (b + 1) * h.n)));
      } finally {
        ct.delete();
      }
    }
    const results = columns.map((_, c) => ev.finish(c, constants[c]!, plan));
    return { plan, results, decrypted: results.map((r) => h.decryptConstant(keys.secretKey, r, plan.primes)) };
  } finally {
    ev.delete();
    pk.delete();
  }
}

describe('psi-sum HE (coefficient-encoded BFV, the ID holder holds the key)', () => {
  let he: HeContext;
  let keys: HeKeyPair;
  beforeAll(async () => {
    he = await HeContext.create(40);
    keys = he.generateKeys();
  }, 120_000);
  afterAll(() => {
    keys?.delete();
    he?.delete();
  });

  it('plainBitsFor leaves room for the signed total; the special prime never equals t', () => {
    expect(plainBitsFor(0n)).toBe(20);
    const bits = plainBitsFor(10n ** 12n);
    expect(2n ** BigInt(bits - 1)).toBeGreaterThan(2n * 10n ** 12n);
    for (let b = 20; b <= MAX_PLAIN_BITS; b++) {
      const bitsAll = coeffBitsFor(b);
      expect(bitsAll.reduce((x, y) => x + y, 0)).toBeLessThanOrEqual(218); // SEAL tc128, N = 8192
      expect(bitsAll).not.toContain(b);
    }
  });

  it('resultPlan: flooding 2^40·N above the worst-case product noise, and a level that stays correct', async () => {
    // K = 1 block, B = 1: W = N·22 + 1, ⌈log2 W⌉ = 18, F = 18 + 40 + 13.
    expect(he.resultPlan(1, 1n).floodBits).toBe(18 + 40 + 13);
    const w = (k: number, b: bigint) => BigInt(k) * BigInt(he.n) * b * (SEAL_MAX_ERROR + 1n) + 1n;
    for (const [k, b] of [[1, 1n], [8, 1000n], [1024, 2n ** 20n]] as const) {
      const plan = he.resultPlan(k, b);
      expect(2n ** BigInt(plan.floodBits)).toBeGreaterThanOrEqual(w(k, b) * 2n ** 40n * BigInt(he.n));
    }
    // The largest plaintext size with the largest job it can declare still has a plan.
    const h = await HeContext.create(MAX_PLAIN_BITS);
    const bound = (1n << 47n) / (1n << 23n);
    const plan = h.resultPlan(1024, bound);
    expect(plan.primes).toBeGreaterThanOrEqual(2);
    // 45 bits: the result goes down to one prime; 46 and above keep two.
    expect((await HeContext.create(45)).resultPlan(8, 1000n).primes).toBe(1);
    expect((await HeContext.create(46)).resultPlan(8, 1000n).primes).toBe(2);
  }, 300_000);

  it('sums exactly the selected slots across blocks, per column (extreme values, negatives, zeros)', () => {
    const n = he.n + 37; // two blocks, the second partly filled
    const bound = (he.t - 1n) / 2n / BigInt(n); // largest per-slot value that cannot wrap
    const col0: bigint[] = [];
    const col1: bigint[] = [];
    for (let i = 0; i < n; i++) {
      col0.push(i % 7 === 0 ? 0n : i % 5 === 0 ? bound : i % 5 === 1 ? -bound : randomSigned(bound));
      col1.push(BigInt(i % 11) - 5n);
    }
    const selected = new Uint8Array(n);
    const expected = [0n, 0n];
    for (let i = 0; i < n; i++) {
      if (i % 3 === 0 || i === n - 1 || col0[i] === bound) {
        selected[i] = 1;
        expected[0]! += col0[i]!;
        expected[1]! += col1[i]!;
      }
    }
    const { decrypted } = roundTrip(he, keys, [col0, col1], selected, [12345n, -7n]);
    expect(decrypted).toEqual([
      { value: expected[0]! + 12345n, ok: true },
      { value: expected[1]! - 7n, ok: true },
    ]);
  }, 120_000);

  it('a block or a column of zeros is still multiplied (constant work) and adds nothing', () => {
    const values = Array.from({ length: he.n + 5 }, (_, i) => BigInt(i % 100) - 50n);
    const zeros = new Array<bigint>(he.n + 5).fill(0n);
    const selected = new Uint8Array(he.n + 5);
    selected[he.n + 2] = 1; // only in the second block
    expect(roundTrip(he, keys, [values, zeros], selected, [0n, 0n]).decrypted.map((d) => d.value)).toEqual([values[he.n + 2], 0n]);
    expect(roundTrip(he, keys, [values], new Uint8Array(he.n + 5), [0n]).decrypted[0]!.value).toBe(0n);
  }, 120_000);

  it('decrypts exactly at each result level (45 bits: one prime; 46 and 50: two), worst-case values, every slot selected', async () => {
    for (const bits of [45, 46, 50]) {
      const h = await HeContext.create(bits);
      const k = h.generateKeys();
      try {
        const bound = (h.t - 1n) / 2n / BigInt(h.n);
        const values = Array.from({ length: h.n }, (_, i) => (i % 2 === 0 ? bound : -bound + BigInt(i % 3)));
        const expected = values.reduce((a, b) => a + b, 0n);
        const { plan, results, decrypted } = roundTrip(h, k, [values], new Uint8Array(h.n).fill(1), [-5n]);
        expect(plan.primes).toBe(bits <= 45 ? 1 : 2);
        expect(results[0]!.length).toBe(h.objectSize(plan.primes as 1 | 2));
        expect(decrypted[0]).toEqual({ value: expected - 5n, ok: true });
      } finally {
        k.delete();
      }
    }
  }, 300_000);

  it('measured: the flooding exceeds the product noise I could read by ≥ 2^(40 + log2 N)', async () => {
    for (const bits of [40, MAX_PLAIN_BITS]) {
      const h = await HeContext.create(bits);
      const k = bits === 40 ? keys : h.generateKeys();
      const K = 2;
      const bound = (h.t - 1n) / 2n / BigInt(K * h.n);
      const pk = h.loadPublicKey(k.publicKeyBytes);
      const ev = h.createEvaluator(pk, 1);
      try {
        const selected = new Uint8Array(K * h.n).fill(1);
        for (let b = 0; b < K; b++) {
          const ct = h.loadCiphertext(h.encryptValues(k, h.selectionCoefficients(selected, b))[0]!, 'fresh');
          ev.addBlock(ct, [Array.from({ length: h.n }, () => randomSigned(bound))]);
          ct.delete();
        }
        const acc = h.loadPartial(ev.savePartials()[0]!);
        // SEAL's budget = bits(q) − bits(t·|noise|) − 1, so |noise| < 2^(bits(q) − budget − bits(t)).
        const qBits = h.dataPrimes.reduce((a, p) => a + p.toString(2).length, 0);
        const noiseBits = qBits - h.noiseBudget(k.secretKey, acc) - h.t.toString(2).length;
        acc.delete();
        expect(h.resultPlan(K, bound).floodBits - noiseBits).toBeGreaterThanOrEqual(40 + 13);
      } finally {
        ev.delete();
        pk.delete();
        if (bits !== 40) k.delete();
      }
    }
  }, 300_000);

  it('a result whose error term V chose is flagged (ok: false), not thrown', () => {
    const selected = new Uint8Array(10).fill(1);
    const { plan, results } = roundTrip(he, keys, [Array.from({ length: 10 }, () => 3n)], selected, [0n]);
    const bytes = results[0]!.slice();
    const dv = new DataView(bytes.buffer);
    const primes = he.dataPrimes.slice(0, plan.primes);
    const q = primes.reduce((a, b) => a * b, 1n);
    const c0 = bytes.length - 2 * plan.primes * he.n * 8;
    // ⌊q/(2t)⌋·(3/4) on coefficient 0 of c0: the noise is then far beyond any honest result's.
    const e = ((q / he.t) * 3n) / 8n;
    primes.forEach((p, l) => dv.setBigUint64(c0 + l * he.n * 8, (dv.getBigUint64(c0 + l * he.n * 8, true) + (e % p)) % p, true));
    expect(he.decryptConstant(keys.secretKey, bytes, plan.primes).ok).toBe(false);
  }, 120_000);

  it('accepts only a seeded public key (a full one could carry a chosen pk1)', () => {
    const full = keys.publicKey.saveArray(); // node-seal's default: zstd, which cannot shrink uniform data
    expect(full.length).toBeGreaterThan(keys.publicKeyBytes.length);
    full[5] = 0; // even claiming to be uncompressed, a full key is refused by its length
    new DataView(full.buffer, full.byteOffset).setBigUint64(8, BigInt(full.length), true);
    expect(() => he.loadPublicKey(full)).toThrow(/seeded/);
    he.loadPublicKey(keys.publicKeyBytes).delete();
  });

  it('refuses compressed HE objects and raw ones whose body is cut short (SEAL keeps working)', () => {
    const [c] = he.encryptValues(keys, [1n, 0n, -1n]);
    const loaded = he.loadCiphertext(c!, 'fresh');
    const compressed = loaded.saveArray(); // node-seal's default compression: zstd
    loaded.delete();
    expect(compressed[5]).toBe(2);
    expect(() => he.loadCiphertext(compressed, 'fresh')).toThrow(/header/);
    // Cut the body but keep the header's size field consistent with the shorter buffer.
    const cut = c!.slice(0, c!.length - 4096);
    new DataView(cut.buffer).setBigUint64(8, BigInt(cut.length), true);
    expect(() => he.loadCiphertext(cut, 'fresh')).toThrow(HeParameterMismatchError);
    // Same length, but an inner size field altered: refused by the shape check, before SEAL.
    const bent = c!.slice();
    bent[60] = bent[60]! ^ 1;
    expect(() => he.loadCiphertext(bent, 'fresh')).toThrow(HeParameterMismatchError);
    he.loadCiphertext(c!, 'fresh').delete();
  });

  it('rejects garbage, truncated, oversized and wrong-kind ciphertexts and keys with typed errors', async () => {
    const [c] = he.encryptValues(keys, [1n, 0n, 1n]);
    expect(() => he.loadCiphertext(new Uint8Array(0), 'fresh')).toThrow(MalformedMessageError);
    expect(() => he.loadCiphertext(c!.subarray(0, c!.length - 10), 'fresh')).toThrow(MalformedMessageError);
    const garbage = new Uint8Array(5000);
    globalThis.crypto.getRandomValues(garbage);
    expect(() => he.loadCiphertext(garbage, 'fresh')).toThrow(MalformedMessageError);
    expect(() => he.loadCiphertext(new Uint8Array(10_000_000), 'fresh')).toThrow(MalformedMessageError);
    expect(() => he.loadPublicKey(garbage)).toThrow(MalformedMessageError);
    // A ciphertext under other parameters (another plaintext modulus) is refused.
    const other = await HeContext.create(30);
    const k2 = other.generateKeys();
    const [c2] = other.encryptValues(k2, [1n]);
    k2.delete();
    let err: unknown;
    try {
      he.loadCiphertext(c2!, 'fresh');
    } catch (e) {
      err = e;
    }
    expect(err instanceof MalformedMessageError || err instanceof HeParameterMismatchError).toBe(true);
    // A fresh ciphertext is not accepted where a result is expected, nor a result at another level.
    expect(() => he.decryptConstant(keys.secretKey, c!, 1)).toThrow(HeParameterMismatchError);
    const { results, plan } = roundTrip(he, keys, [[1n]], Uint8Array.of(1), [0n]);
    expect(() => he.decryptConstant(keys.secretKey, results[0]!, plan.primes === 1 ? 2 : 1)).toThrow(HeParameterMismatchError);
    expect(() => he.loadCiphertext(results[0]!, 'fresh')).toThrow(HeParameterMismatchError);
  }, 120_000);
});
