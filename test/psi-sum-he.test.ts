import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HeParameterMismatchError, MalformedMessageError } from '../src/errors.js';
import { HeContext, MAX_PLAIN_BITS, maxCiphertextsPerColumn, plainBitsFor, type HeKeyPair } from '../src/protocols/psi-sum/he.js';

function randomSigned(bound: bigint): bigint {
  const w = new BigUint64Array(1);
  globalThis.crypto.getRandomValues(w);
  return (w[0]! % (2n * bound + 1n)) - bound;
}

describe('psi-sum HE (coefficient-encoded BFV)', () => {
  let he: HeContext;
  let keys: HeKeyPair;
  let sk: HeKeyPair['secretKey'];
  let pkBytes: Uint8Array;
  beforeAll(async () => {
    he = await HeContext.create(40);
    keys = he.generateKeys();
    sk = keys.secretKey;
    pkBytes = keys.publicKeyBytes;
  }, 120_000);
  afterAll(() => {
    keys?.delete();
    he?.delete();
  });

  it('plainBitsFor leaves room for the signed total', () => {
    expect(plainBitsFor(0n)).toBe(20);
    const bits = plainBitsFor(10n ** 12n);
    expect(2n ** BigInt(bits - 1)).toBeGreaterThan(2n * 10n ** 12n);
    expect(maxCiphertextsPerColumn(MAX_PLAIN_BITS)).toBeGreaterThanOrEqual(64);
  });

  it('selects and sums exactly the chosen slots across ciphertexts (extreme values, negatives, zeros)', () => {
    const n = he.n + 37; // two ciphertexts, the second partly filled
    const bound = (he.t - 1n) / 2n / BigInt(n); // largest per-slot value that cannot wrap
    const values: bigint[] = [];
    for (let i = 0; i < n; i++) values.push(i % 7 === 0 ? 0n : i % 5 === 0 ? bound : i % 5 === 1 ? -bound : randomSigned(bound));
    const selected = new Uint8Array(n);
    let expected = 0n;
    for (let i = 0; i < n; i++) {
      if (i % 3 === 0 || i === n - 1 || values[i] === bound) {
        selected[i] = 1;
        expected += values[i]!;
      }
    }
    const cts = he.encryptValues(keys, values);
    expect(cts.length).toBe(2);
    const pk = he.loadPublicKey(pkBytes);
    const loaded = cts.map((c) => he.loadCiphertext(c, 'first'));
    try {
      const out = he.selectSumAndMask(loaded, selected, 12345n, pk);
      expect(he.decryptConstant(sk, out)).toBe(expected + 12345n);
    } finally {
      for (const c of loaded) c.delete();
      pk.delete();
    }
  }, 120_000);

  it('a block with nothing selected is still multiplied (constant time) and adds nothing', () => {
    const values = Array.from({ length: he.n + 5 }, (_, i) => BigInt(i % 100) - 50n);
    const selected = new Uint8Array(he.n + 5);
    selected[he.n + 2] = 1; // only in the second block
    const pk = he.loadPublicKey(pkBytes);
    const cts = he.encryptValues(keys, values).map((c) => he.loadCiphertext(c, 'first'));
    try {
      expect(he.decryptConstant(sk, he.selectSumAndMask(cts, selected, 0n, pk))).toBe(values[he.n + 2]);
      expect(he.decryptConstant(sk, he.selectSumAndMask(cts, new Uint8Array(he.n + 5), 0n, pk))).toBe(0n);
    } finally {
      for (const c of cts) c.delete();
      pk.delete();
    }
  }, 120_000);

  it('decrypts exactly on both sides of the mod-switch threshold (45 bits: switched; 46 and 50: not)', async () => {
    for (const bits of [45, 46, 50]) {
      const h = await HeContext.create(bits);
      const k = h.generateKeys();
      const bound = (h.t - 1n) / 2n / BigInt(h.n);
      const values = Array.from({ length: h.n }, (_, i) => (i % 2 === 0 ? bound : -bound + BigInt(i % 3)));
      const expected = values.reduce((a, b) => a + b, 0n);
      const pk = h.loadPublicKey(k.publicKeyBytes);
      const [ct] = h.encryptValues(k, values).map((c) => h.loadCiphertext(c, 'first'));
      try {
        const out = h.selectSumAndMask([ct!], new Uint8Array(h.n).fill(1), -5n, pk);
        expect(out.length).toBeLessThan(bits <= 45 ? 140_000 : 280_000);
        expect(h.decryptConstant(k.secretKey, out)).toBe(expected - 5n);
      } finally {
        ct!.delete();
        pk.delete();
        k.delete();
      }
    }
  }, 300_000);

  it('the selection circuit leaves room for ≥ 40 bits of noise flooding (measured, worst case: every slot selected)', async () => {
    // For the largest plaintext modulus and the most ciphertexts per column allowed there, the
    // budget left after the circuit minus what the flooding consumes must stay ≥ 40 bits: the
    // flooding noise then exceeds the circuit noise by 2^40 (statistical hiding of the selection).
    for (const bits of [40, MAX_PLAIN_BITS]) {
      const h = bits === 40 ? he : await HeContext.create(bits);
      const k = bits === 40 ? keys : h.generateKeys();
      const K = Math.min(4, maxCiphertextsPerColumn(bits)); // 4 here keeps the test fast; log2 K is accounted below
      const bound = (h.t - 1n) / 2n / BigInt(K * h.n);
      const values = Array.from({ length: K * h.n }, () => randomSigned(bound));
      const pk = h.loadPublicKey(k.publicKeyBytes);
      const cts = h.encryptValues(k, values).map((c) => h.loadCiphertext(c, 'first'));
      const acc = h.selectionCircuit(cts, new Uint8Array(K * h.n).fill(1), pk);
      try {
        const budget = h.noiseBudget(k.secretKey, acc);
        // Flooding leaves ≈ 8 bits; the allowed maximum K adds log2(Kmax / K) more circuit noise.
        const extra = Math.log2(maxCiphertextsPerColumn(bits) / K);
        expect(budget - extra - 8).toBeGreaterThanOrEqual(40);
      } finally {
        acc.delete();
        for (const c of cts) c.delete();
        pk.delete();
        if (bits !== 40) {
          k.delete();
          h.delete();
        }
      }
    }
  }, 300_000);

  it('accepts only a seeded public key (a full one would let V choose pk1 and read the selection)', () => {
    const full = keys.publicKey.saveArray(); // node-seal's default: zstd, which cannot shrink uniform data
    expect(full.length).toBeGreaterThan(pkBytes.length);
    full[5] = 0; // even claiming to be uncompressed, a full key is refused by its length
    new DataView(full.buffer, full.byteOffset).setBigUint64(8, BigInt(full.length), true);
    expect(() => he.loadPublicKey(full)).toThrow(/seeded/);
    he.loadPublicKey(pkBytes).delete();
  });

  it('refuses compressed HE objects and raw ones whose body is cut short (SEAL keeps working)', () => {
    const [c] = he.encryptValues(keys, [1n, 2n, 3n]);
    const loaded = he.loadCiphertext(c!, 'first');
    const compressed = loaded.saveArray(); // node-seal's default compression: zstd
    loaded.delete();
    expect(compressed[5]).toBe(2);
    expect(() => he.loadCiphertext(compressed, 'first')).toThrow(/header/);
    // Cut the body but keep the header's size field consistent with the shorter buffer.
    const cut = c!.slice(0, c!.length - 4096);
    new DataView(cut.buffer).setBigUint64(8, BigInt(cut.length), true);
    expect(() => he.loadCiphertext(cut, 'first')).toThrow(HeParameterMismatchError);
    // Same length, but an inner size field altered: refused by the shape check, before SEAL.
    const bent = c!.slice();
    bent[60] = bent[60]! ^ 1;
    expect(() => he.loadCiphertext(bent, 'first')).toThrow(HeParameterMismatchError);
    const again = he.loadCiphertext(c!, 'first');
    again.delete();
  });

  it('rejects garbage, truncated and oversized ciphertexts and keys with typed errors', async () => {
    const [c] = he.encryptValues(keys, [1n, 2n, 3n]);
    expect(() => he.loadCiphertext(new Uint8Array(0), 'first')).toThrow(MalformedMessageError);
    expect(() => he.loadCiphertext(c!.subarray(0, c!.length - 10), 'first')).toThrow(MalformedMessageError);
    const garbage = new Uint8Array(5000);
    globalThis.crypto.getRandomValues(garbage);
    expect(() => he.loadCiphertext(garbage, 'first')).toThrow(MalformedMessageError);
    expect(() => he.loadCiphertext(new Uint8Array(10_000_000), 'first')).toThrow(MalformedMessageError);
    expect(() => he.loadPublicKey(garbage)).toThrow(MalformedMessageError);
    // A ciphertext under other parameters (another plaintext modulus) is refused.
    const other = await HeContext.create(30);
    try {
      const k2 = other.generateKeys();
      const [c2] = other.encryptValues(k2, [1n]);
      k2.delete();
      expect(() => he.loadCiphertext(c2!, 'first')).toThrow(/ciphertext|parameter/);
      let err: unknown;
      try {
        he.loadCiphertext(c2!, 'first');
      } catch (e) {
        err = e;
      }
      expect(err instanceof MalformedMessageError || err instanceof HeParameterMismatchError).toBe(true);
    } finally {
      other.delete();
    }
    // A fresh ciphertext is not accepted where a final-level result is expected.
    expect(() => he.decryptConstant(sk, c!)).toThrow(HeParameterMismatchError);
  }, 120_000);
});
