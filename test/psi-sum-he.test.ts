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

  it('the selection circuit leaves room for ≥ 40 bits of noise flooding', () => {
    // All slots selected (largest growth), the most ciphertexts the limits allow at this size would
    // only add log2(K); measure one full ciphertext and check the margin the module assumes.
    const values = Array.from({ length: he.n }, () => randomSigned((he.t - 1n) / 2n / BigInt(he.n)));
    const [c] = he.encryptValues(keys, values);
    const ct = he.loadCiphertext(c!, 'first');
    try {
      const fresh = he.noiseBudget(sk, ct);
      // 119 - plainBits - 14 (assumed circuit cost) must not exceed what SEAL measures after the
      // circuit; the fresh budget minus the multiplication (≤ 7 bits measured) bounds it.
      expect(fresh - 7).toBeGreaterThanOrEqual(119 - he.plainBits - 14 - 2);
    } finally {
      ct.delete();
    }
  }, 120_000);

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
