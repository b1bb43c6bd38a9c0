import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createECDH, createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { availableBackends, createGroup, type BackendName } from '../src/crypto/index.js';
import { PpcaSuiteNames, generatePpcaScalar, ppcaHashBatch, ppcaMultiplyBatch, ppcaNormalizePeerPoints, type PpcaSuiteName } from '../src/crypto/ppca-suite.js';
import { SM2_N, Sm2Point, decodeSm2Point, encodeSm2Point, hashToSm2Sha256Tar, sm3 } from '../src/crypto/sm2/curve.js';
import { sm2MultiplyBatch, sm2MultiplyBatchPortable } from '../src/crypto/sm2/index.js';
import { InvalidPointError } from '../src/errors.js';
import { fromHex, toHex } from '../src/utils/bytes.js';

// The brief's worked examples (§4.6); provenance in the file's "provenance" field.
const kat = JSON.parse(readFileSync(new URL('./vectors/ppca/worked-examples.json', import.meta.url), 'utf8')) as {
  a: string;
  b: string;
  sm3Abc: string;
  sm2Base: { d: string; dG: string };
  suites: Record<PpcaSuiteName, { item: string; H: string; aH: string; baH: string; dual: string }[]>;
};
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const modN = (hex: string): Uint8Array => fromHex((BigInt('0x' + hex) % SM2_N).toString(16).padStart(64, '0'));
const group = await createGroup();

describe('PPCA worked examples (brief §4.6)', () => {
  it('SM3("abc") and d·G on SM2 match the primitive checks', () => {
    expect(toHex(sm3(enc('abc')))).toBe(kat.sm3Abc);
    expect(toHex(encodeSm2Point(Sm2Point.BASE.multiply(BigInt('0x' + kat.sm2Base.d))))).toBe(kat.sm2Base.dG);
  });

  for (const suite of PpcaSuiteNames) {
    it(`${suite}: H, a·H, b·a·H and the 12-byte dual item`, async () => {
      const rows = kat.suites[suite];
      const [a, b] = suite === 'curve25519-sha256-direct' ? [fromHex(kat.a), fromHex(kat.b)] : [modN(kat.a), modN(kat.b)];
      const H = ppcaHashBatch(suite, rows.map((r) => enc(r.item)));
      expect(toHex(H)).toBe(rows.map((r) => r.H).join(''));
      const aH = await ppcaMultiplyBatch(suite, a, H, group);
      expect(toHex(aH)).toBe(rows.map((r) => r.aH).join(''));
      const baH = await ppcaMultiplyBatch(suite, b, aH, group);
      expect(toHex(baH)).toBe(rows.map((r) => r.baH).join(''));
      const abH = await ppcaMultiplyBatch(suite, a, await ppcaMultiplyBatch(suite, b, H, group), group);
      expect(toHex(abH)).toBe(toHex(baH));
      const size = baH.length / rows.length;
      rows.forEach((r, i) => expect(toHex(baH.subarray((i + 1) * size - 12, (i + 1) * size))).toBe(r.dual));
    });
  }

  it('every X25519 backend gives the curve25519 rows (the hashes have the top bit set)', async () => {
    const rows = kat.suites['curve25519-sha256-direct'];
    for (const name of (await availableBackends()) as BackendName[]) {
      const g = await createGroup(name);
      const aH = await ppcaMultiplyBatch('curve25519-sha256-direct', fromHex(kat.a), fromHex(rows.map((r) => r.H).join('')), g);
      expect(toHex(aH), name).toBe(rows.map((r) => r.aH).join(''));
    }
  });
});

/** Node 20's OpenSSL computes SM2 ECDH; Node 24's does not ("Failed to compute ECDH key"). */
const OPENSSL_SM2_ECDH = (() => {
  try {
    const a = createECDH('SM2');
    a.generateKeys();
    return a.computeSecret(createECDH('SM2').generateKeys()).length === 32;
  } catch {
    return false;
  }
})();
if (!OPENSSL_SM2_ECDH) console.warn(`ppca-suites: this Node's OpenSSL has no SM2 ECDH (node ${process.version}); the OpenSSL cross-check is SKIPPED`);

describe('SM2 multiplication against OpenSSL (node:crypto createECDH("SM2"))', () => {
  it.skipIf(!OPENSSL_SM2_ECDH)('x of k·P agrees for random k and P', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 40 }), (item) => {
        const P = hashToSm2Sha256Tar(item);
        const k = generatePpcaScalar('sm2-sha256-tar');
        const ours = sm2MultiplyBatchPortable(k, P);
        const ecdh = createECDH('SM2');
        ecdh.setPrivateKey(k);
        const x = ecdh.computeSecret(P);
        expect(toHex(ours.subarray(1))).toBe(toHex(x));
        expect(toHex(sm2MultiplyBatch(k, P))).toBe(toHex(ours));
      }),
      { numRuns: 25 },
    );
  });

  it('is commutative on batches', () => {
    const pts = ppcaHashBatch('sm2-sm3-tai', ['x', 'y', 'z'].map(enc));
    const a = generatePpcaScalar('sm2-sm3-tai');
    const b = generatePpcaScalar('sm2-sm3-tai');
    expect(toHex(sm2MultiplyBatch(a, sm2MultiplyBatch(b, pts)))).toBe(toHex(sm2MultiplyBatch(b, sm2MultiplyBatch(a, pts))));
  });
});

describe('SM2 point decoding', () => {
  const good = hashToSm2Sha256Tar(enc('alice'));
  it('accepts compressed and uncompressed encodings of the same point', () => {
    const P = decodeSm2Point(good);
    const U = P.toBytes(false);
    expect(U.length).toBe(65);
    expect(toHex(encodeSm2Point(decodeSm2Point(U)))).toBe(toHex(good));
    expect(toHex(ppcaNormalizePeerPoints('sm2-sha256-tar', U, 1))).toBe(toHex(good));
  });
  it('refuses wrong lengths, bad prefixes, x ≥ p, x not on the curve, off-curve uncompressed points', () => {
    const bad: Uint8Array[] = [new Uint8Array(0), new Uint8Array([0]), good.subarray(0, 32), new Uint8Array([...good, 0])];
    const prefix = good.slice();
    prefix[0] = 0x05;
    bad.push(prefix);
    bad.push(new Uint8Array([0x02, ...new Uint8Array(32).fill(0xff)]));
    // x = 0: 0³ + a·0 + b = b; find an x that is not an abscissa by scanning small values.
    for (let x = 1; bad.length < 7; x++) {
      const c = new Uint8Array(33);
      c[0] = 2;
      c[32] = x;
      try {
        decodeSm2Point(c);
      } catch {
        bad.push(c);
      }
    }
    const U = decodeSm2Point(good).toBytes(false);
    U[64] = U[64]! ^ 1;
    bad.push(U);
    for (const b of bad) expect(() => decodeSm2Point(b)).toThrow(InvalidPointError);
  });
  it('the multiplication names the index of an invalid point', () => {
    const pts = new Uint8Array(66);
    pts.set(good, 0);
    pts.set(good, 33);
    pts[33] = 0x07;
    expect(() => sm2MultiplyBatch(generatePpcaScalar('sm2-sha256-tar'), pts)).toThrow(/index 1/);
    expect(() => ppcaNormalizePeerPoints('sm2-sha256-tar', pts, 2)).toThrow(InvalidPointError);
    expect(() => ppcaNormalizePeerPoints('sm2-sha256-tar', pts, 3)).toThrow(RangeError);
  });
  it('refuses scalars outside [1, n-1]', () => {
    expect(() => sm2MultiplyBatch(new Uint8Array(32), good)).toThrow(RangeError);
    expect(() => sm2MultiplyBatch(fromHex(SM2_N.toString(16)), good)).toThrow(RangeError);
  });
  it('sha256 of the key bytes is the curve25519 point, byte for byte', () => {
    expect(toHex(ppcaHashBatch('curve25519-sha256-direct', [enc(' a ')]))).toBe(createHash('sha256').update(' a ').digest('hex'));
  });
});
