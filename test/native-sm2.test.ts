import { describe, expect, it, vi } from 'vitest';
import fc from 'fast-check';
import { createECDH } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { weierstrass } from '@noble/curves/abstract/weierstrass.js';
import { fileURLToPath } from 'node:url';
import { loadNativeX25519 } from '../src/platform/node.js';
import { hasNativeSm2, nativeSm2MultiplyBatch } from '../src/crypto/sm2/native.js';
import { InvalidPointError } from '../src/errors.js';
import { fromHex, toHex } from '../src/utils/bytes.js';

// SM2 scalar multiplication in the native addon (native/sm2.c) against two independent references:
// OpenSSL's SM2 in node:crypto (the library the PPCA reference peer uses) and @noble/curves'
// generic short-Weierstrass arithmetic with the SM2 parameters (GB/T 32918.5).
const native = loadNativeX25519();

const P = 0xfffffffeffffffffffffffffffffffffffffffff00000000ffffffffffffffffn;
const N = 0xfffffffeffffffffffffffffffffffff7203df6b21c6052b53bbf40939d54123n;
const Sm2 = weierstrass({
  p: P,
  n: N,
  h: 1n,
  a: P - 3n,
  b: 0x28e9fa9e9d9f5e344d5a9e4bcf6509a7f39789f515ab8f92ddbcbd414d940e93n,
  Gx: 0x32c4ae2c1f1981195f9904466a39c9948fe30bbff2660be1715a4589334c74c7n,
  Gy: 0xbc3736a2f4f6779c59bdcee36b692153d0a9877cc62a474002df32e52139f0a0n,
});
const G = Sm2.BASE.toBytes(true);

const be32 = (v: bigint) => fromHex(v.toString(16).padStart(64, '0'));
const toBig = (b: Uint8Array) => BigInt(`0x${toHex(b) || '0'}`);

function nobleBatch(k: bigint, points: Uint8Array): Uint8Array {
  const out = new Uint8Array(points.length);
  for (let i = 0; i < points.length; i += 33) out.set(Sm2.fromBytes(points.subarray(i, i + 33)).multiply(k).toBytes(true), i);
  return out;
}

/**
 * Whether this Node's OpenSSL computes SM2 ECDH (Node 20's OpenSSL 3.0 does; Node 24's does not:
 * "Failed to compute ECDH key"). Without it the x-only cross-check is skipped, loudly; the
 * full-point check against OpenSSL's key derivation (opensslFull) and @noble/curves still run.
 */
const OPENSSL_SM2_ECDH = (() => {
  try {
    const a = createECDH('SM2');
    a.generateKeys();
    const b = createECDH('SM2');
    b.generateKeys();
    return a.computeSecret(b.getPublicKey()).length === 32;
  } catch {
    return false;
  }
})();
if (!OPENSSL_SM2_ECDH) console.warn(`native-sm2: this Node's OpenSSL has no SM2 ECDH (node ${process.version}); the x-only OpenSSL cross-check is SKIPPED`);

/** x of k·P from OpenSSL (ECDH computeSecret returns only x). */
function opensslX(k: Uint8Array, point: Uint8Array): string {
  const ecdh = createECDH('SM2');
  ecdh.setPrivateKey(k);
  return ecdh.computeSecret(point).toString('hex');
}

/** The whole compressed k·P from OpenSSL, for P = r·G: it is (k·r mod n)·G. */
function opensslFull(k: bigint, r: bigint): string {
  const ecdh = createECDH('SM2');
  ecdh.setPrivateKey(be32((k * r) % N));
  return ecdh.getPublicKey('hex', 'compressed');
}

const scalarArb = fc.bigInt({ min: 1n, max: N - 1n });

describe.skipIf(native === undefined)('native SM2 (native/sm2.c)', () => {
  const mul = (k: Uint8Array, points: Uint8Array) => nativeSm2MultiplyBatch(k, points)!;
  // Each kernel forced in turn: 8-way AVX-512 IFMA (native/sm2-ifma.c) where the CPU has it, 64-bit C.
  const kernels = native?.sm2Kernels ?? [];
  const mulWith = (kernel: (typeof kernels)[number]) => (k: Uint8Array, points: Uint8Array) => {
    const out = new Uint8Array(points.length);
    expect(native!.sm2MultiplyBatch(k, points, out, kernel)).toBe(-1);
    return out;
  };

  it('is present wherever the addon is', () => {
    if (process.env['DATAPORT_REQUIRE_NATIVE'] === '1') expect(hasNativeSm2()).toBe(true);
    expect(hasNativeSm2()).toBe(native !== undefined);
    expect(kernels.at(-1)).toBe('portable');
    // The 8-way kernel is offered exactly where the X25519 one is (same CPU check).
    expect(kernels.includes('ifma8')).toBe(native!.kernels.includes('ifma8'));
  });

  it.each(['default', ...kernels] as const)('reproduces the PPCA brief §4.6 worked examples (d·G; a·H and b·a·H of both SM2 suites; kernel %s)', (kname) => {
    const mul = kname === 'default' ? (k: Uint8Array, p: Uint8Array) => nativeSm2MultiplyBatch(k, p)! : mulWith(kname);
    // Source: ../shared/interop/PPCA-ECDH-PSI.md §4.6 (OpenSSL 3 EC_POINT_mul on NID_sm2).
    const d = fromHex('112eb66358cd75963f1131ff34777cda364c5ead685f53898c3f44eb2bf86e61');
    expect(toHex(mul(d, G))).toBe('03e61874fdd2c436964343cd1ec9daa20cb12051799ca8ded7d261a63d0e6b9d2c');
    const a = fromHex('1a8a3d3c37e30cd85131ce8f4a5fc432c9e36d62e8537c8dcf6f292c0e209389');
    const b = fromHex('3ab0aad70e6bd68d86099f45fa7da6db50ead711581a2d655476b56bafbc40d1');
    const rows = [
      // sm2-sha256-tar: alice, id-1
      ['02bd306425d873dc3e9fd1520e693954d6d605e8ad2fae4e48f53a395526f39abe', '0211650d2cf86667b89a9453eeaa08f2f5785e4749570f1aef25ce80e0ec7faac5', '021bf265c7b70a88c620b9832cca9c8985bcd9a32358211a8c2c237c4b6fec9029'],
      ['02dce8dcc4541b88bb06491e6480b2a05faf39c5c51a1f26687210ff960b5f71e8', '03191d66a55a4a62e482b7edd29f132b3d8b7c1700d04230af83dd4e1b78047342', '03b06b6e4a6a63cf9eea2de69eaa0617da9691ba5bc60b1a168a08cce6b67dcbc0'],
      // sm2-sm3-tai (candidate A): alice, id-0
      ['02f8cd5ca8fa96a9e9836677c699ba6650ed8e2a6478fed1eb93c3d3eda6cf5447', '03f28befac3f6e44601db91f6fb307dcf9a3039abfa5faa09ba7567ea697f43a16', '03c85a9dc92f29abf0cc42eace887ebba4d45be58f76cc2fbe6493819949881e03'],
      ['027d812555efadbaaab48d90e178839031629b850e5cda4a7ebcf1103c1be9ee8e', '02b765e5415acb416e988b72cec26b2026d353f2a457e538c21c6991b59ee08419', '036c754aca4f95d1d498c6c86d861fe9a65f507743c2dbdcf509bac22d6a611714'],
    ];
    const hs = fromHex(rows.map((r) => r[0]).join(''));
    const aH = mul(a, hs);
    expect(toHex(aH)).toBe(rows.map((r) => r[1]).join(''));
    expect(toHex(mul(b, aH))).toBe(rows.map((r) => r[2]).join(''));
    expect(toHex(mul(a, mul(b, hs)))).toBe(rows.map((r) => r[2]).join(''));
  });

  it.each(kernels)('equals @noble/curves and OpenSSL on random scalars and batches around the group sizes (kernel %s)', (kernel) => {
    const mul = mulWith(kernel);
    fc.assert(
      fc.property(scalarArb, fc.array(scalarArb, { minLength: 0, maxLength: 3 }), fc.constantFrom(0, 1, 2, 7, 8, 9, 63, 64, 65, 129), (k, rs, n) => {
        // n points: multiples of G by the drawn r's, repeated, so every point has a known discrete log.
        const logs = Array.from({ length: n }, (_, i) => (rs.length > 0 ? rs[i % rs.length]! : BigInt(i + 1)));
        const points = new Uint8Array(33 * n);
        logs.forEach((r, i) => points.set(Sm2.BASE.multiply(r).toBytes(true), 33 * i));
        const kb = be32(k);
        const out = mul(kb, points);
        expect(toHex(out)).toBe(toHex(nobleBatch(k, points)));
        for (const i of new Set([0, n - 1, Math.floor(n / 2)])) {
          if (i < 0 || i >= n) continue;
          expect(toHex(out.subarray(33 * i, 33 * i + 33))).toBe(opensslFull(k, logs[i]!));
          if (OPENSSL_SM2_ECDH) expect(toHex(out.subarray(33 * i + 1, 33 * i + 33))).toBe(opensslX(kb, points.subarray(33 * i, 33 * i + 33)));
        }
      }),
      { numRuns: 12 },
    );
  });

  it.each(kernels)('handles edge scalars: 1, 2, 15, 16, 2^252, 2^255, a scalar of all-0xf nibbles, n−16, n−2, n−1 (kernel %s)', (kernel) => {
    const mul = mulWith(kernel);
    const points = new Uint8Array(33 * 3);
    points.set(G);
    points.set(Sm2.BASE.multiply(0xdeadbeefn).toBytes(true), 33);
    points.set(fromHex('02bd306425d873dc3e9fd1520e693954d6d605e8ad2fae4e48f53a395526f39abe'), 66);
    const edges = [1n, 2n, 15n, 16n, 2n ** 252n, 2n ** 255n, 0xfffffffeffffffffffffffffffffffffffffffffffffffffffffffffn, N - 16n, N - 2n, N - 1n];
    for (const k of edges) expect(toHex(mul(be32(k), points)), `k = ${k}`).toBe(toHex(nobleBatch(k, points)));
    // 1·P = P and (n−1)·P = −P: the same x, the other y parity.
    expect(toHex(mul(be32(1n), points))).toBe(toHex(points));
    const neg = mul(be32(N - 1n), points);
    for (let i = 0; i < 3; i++) {
      expect(neg[33 * i]! ^ points[33 * i]!).toBe(1);
      expect(toHex(neg.subarray(33 * i + 1, 33 * i + 33))).toBe(toHex(points.subarray(33 * i + 1, 33 * i + 33)));
    }
  });

  it.each(kernels)('commutes: b·(a·P) = a·(b·P) (kernel %s)', (kernel) => {
    const mul = mulWith(kernel);
    fc.assert(
      fc.property(scalarArb, scalarArb, scalarArb, (a, b, r) => {
        const p = Sm2.BASE.multiply(r).toBytes(true);
        expect(toHex(mul(be32(b), mul(be32(a), p)))).toBe(toHex(mul(be32(a), mul(be32(b), p))));
      }),
      { numRuns: 20 },
    );
  });

  it('refuses invalid points with the index of the first one: off curve, x ≥ p, wrong prefix, infinity', () => {
    const k = be32(0x1234567n);
    const good = Sm2.BASE.multiply(77n).toBytes(true);
    const invalid: Record<string, Uint8Array> = {
      'off curve (x = 2)': fromHex(`02${'00'.repeat(31)}02`),
      'off curve (x = 2, odd)': fromHex(`03${'00'.repeat(31)}02`),
      'x = p': fromHex(`02${P.toString(16)}`),
      'x = 2^256 − 1': fromHex(`03${'ff'.repeat(32)}`),
      'prefix 04 (uncompressed marker)': Uint8Array.of(4, ...good.subarray(1)),
      'prefix 00 (infinity)': new Uint8Array(33),
      'prefix 01': Uint8Array.of(1, ...good.subarray(1)),
      'prefix 05': Uint8Array.of(5, ...good.subarray(1)),
    };
    // Cross-check that the references refuse the same inputs.
    for (const [what, bad] of Object.entries(invalid)) {
      expect(() => Sm2.fromBytes(bad), what).toThrow();
      for (const at of [0, 70]) {
        const points = new Uint8Array(33 * 100);
        for (let i = 0; i < 100; i++) points.set(good, 33 * i);
        points.set(bad, 33 * at);
        points.set(bad, 33 * 99);
        expect(() => mul(k, points), what).toThrow(InvalidPointError);
        expect(() => mul(k, points), what).toThrow(new RegExp(`index ${at}\\b`));
        for (const kernel of kernels) expect(native!.sm2MultiplyBatch(k, points, new Uint8Array(points.length), kernel), what).toBe(at);
      }
    }
  });

  it('reports the first invalid point whichever check refuses it (prefix and x < p first, the curve after the square roots)', () => {
    const k = be32(99n);
    const good = Sm2.BASE.multiply(5n).toBytes(true);
    const offCurve = fromHex(`02${'00'.repeat(31)}02`);
    const badPrefix = Uint8Array.of(4, ...good.subarray(1));
    for (const [first, second] of [[offCurve, badPrefix], [badPrefix, offCurve]] as const) {
      for (const kernel of kernels) {
        const points = new Uint8Array(33 * 40);
        for (let i = 0; i < 40; i++) points.set(good, 33 * i);
        points.set(first, 33 * 13);
        points.set(second, 33 * 21);
        expect(native!.sm2MultiplyBatch(k, points, new Uint8Array(points.length), kernel)).toBe(13);
      }
    }
  });

  it('runs in worker threads, several at once (each thread loads the addon, as the worker pool does)', async () => {
    const file = fileURLToPath(new URL('../build/dataport_x25519.node', import.meta.url));
    const code = `
      const { parentPort, workerData } = require('node:worker_threads');
      const m = require(workerData.file);
      const out = new Uint8Array(workerData.points.length);
      const r = m.sm2MultiplyBatch(workerData.k, workerData.points, out);
      parentPort.postMessage({ r, out });`;
    const k = be32(0x5eedn);
    const points = new Uint8Array(33 * 20);
    for (let i = 0; i < 20; i++) points.set(Sm2.BASE.multiply(BigInt(i + 11)).toBytes(true), 33 * i);
    const results = await Promise.all(
      [0, 1, 2].map(
        () =>
          new Promise<{ r: number; out: Uint8Array }>((resolve, reject) => {
            const w = new Worker(code, { eval: true, workerData: { file, k, points } });
            w.once('message', (msg: { r: number; out: Uint8Array }) => {
              resolve(msg);
              void w.terminate();
            });
            w.once('error', reject);
          }),
      ),
    );
    const expected = toHex(nobleBatch(0x5eedn, points));
    for (const { r, out } of results) {
      expect(r).toBe(-1);
      expect(toHex(out)).toBe(expected);
    }
  });

  it('multiplies in place and accepts an empty batch', () => {
    const k = be32(123456789n);
    const points = new Uint8Array(33 * 70);
    for (let i = 0; i < 70; i++) points.set(Sm2.BASE.multiply(BigInt(i + 2)).toBytes(true), 33 * i);
    const expected = toHex(nobleBatch(123456789n, points));
    expect(native!.sm2MultiplyBatch(k, points, points)).toBe(-1);
    expect(toHex(points)).toBe(expected);
    expect(toHex(mul(k, new Uint8Array(0)))).toBe('');
  });

  it('refuses misuse with TypeError / RangeError naming the argument, never echoing the scalar', () => {
    const k = be32(5n);
    expect(() => mul(be32(0n), G)).toThrow(RangeError);
    expect(() => mul(be32(N), G)).toThrow(/scalar must be in \[1, n-1\]/);
    expect(() => mul(be32(N + 1n), G)).toThrow(RangeError);
    expect(() => mul(fromHex('ff'.repeat(32)), G)).toThrow(RangeError);
    expect(() => mul(new Uint8Array(31).fill(1), G)).toThrow(/scalar must be 32 bytes/);
    expect(() => mul(k, G.subarray(0, 32))).toThrow(/points length must be a multiple of 33/);
    expect(() => mul([...k] as unknown as Uint8Array, G)).toThrow(TypeError);
    expect(() => mul(k, 'G' as unknown as Uint8Array)).toThrow(/points must be a Uint8Array/);
    const raw = native!.sm2MultiplyBatch as (...a: unknown[]) => number;
    expect(() => raw(k, G)).toThrow(TypeError);
    expect(() => raw(k, G, new Uint8Array(32))).toThrow(/out must have the length of points/);
    const shared = new Uint8Array(33 * 3);
    shared.set(G);
    expect(() => raw(k, shared.subarray(0, 33), shared.subarray(1, 34))).toThrow(/overlap/);
    expect(() => raw(k, G, new Uint8Array(33), 'avx2x4')).toThrow(/kernel must be one of the SM2 kernels/);
    expect(() => raw(k, G, new Uint8Array(33), 8)).toThrow(TypeError);
    // The message is fixed: no byte of an out-of-range scalar appears in it.
    expect(() => mul(fromHex('ff'.repeat(32)), G)).toThrow(/^scalar must be in \[1, n-1\] \(big-endian, n the SM2 group order\)$/);
  });
});

describe.skipIf(native === undefined)('DATAPORT_NATIVE_KERNEL', () => {
  it('forces the SM2 kernel of that name (ifma8, portable); another name leaves SM2 on its default', async () => {
    try {
      for (const [forced, expected] of [...native!.sm2Kernels.map((k) => [k, k]), ['avx2x4', native!.sm2Kernels[0]]] as const) {
        if (forced === 'avx2x4' && !native!.kernels.includes('avx2x4')) continue;
        vi.stubEnv('DATAPORT_NATIVE_KERNEL', forced);
        vi.resetModules();
        const fresh = (await import('../src/crypto/sm2/native.js')) as typeof import('../src/crypto/sm2/native.js');
        expect(fresh.nativeSm2Kernel()).toBe(expected);
        const points = new Uint8Array(33 * 9);
        for (let i = 0; i < 9; i++) points.set(Sm2.BASE.multiply(BigInt(i + 3)).toBytes(true), 33 * i);
        expect(toHex(fresh.nativeSm2MultiplyBatch(be32(7n), points)!)).toBe(toHex(nobleBatch(7n, points)));
      }
    } finally {
      vi.unstubAllEnvs();
      vi.resetModules();
    }
  });
});

describe('DATAPORT_NATIVE=0', () => {
  it('leaves the native SM2 out, so callers fall back to the portable implementation', async () => {
    try {
      vi.stubEnv('DATAPORT_NATIVE', '0');
      vi.resetModules();
      const fresh = (await import('../src/crypto/sm2/native.js')) as typeof import('../src/crypto/sm2/native.js');
      expect(fresh.hasNativeSm2()).toBe(false);
      expect(fresh.nativeSm2Kernel()).toBeUndefined();
      expect(fresh.nativeSm2MultiplyBatch(be32(5n), G)).toBeUndefined();
    } finally {
      vi.unstubAllEnvs();
      vi.resetModules();
    }
  });
});

// The hash-to-curve helper (native/sm2.c dp_sm2_lift_x, through hashToSm2Batch) against the
// portable BigInt maps of src/crypto/sm2/curve.ts, which the PPCA brief's worked examples pin.
describe.skipIf(native?.sm2LiftX === undefined)('native SM2 hash to curve (sm2LiftX)', () => {
  it('gives the bytes of the portable maps, with and without a prefix, across batch sizes', async () => {
    const { hashToSm2Batch } = await import('../src/crypto/sm2/index.js');
    const { hashToSm2Sha256Tar, hashToSm2Sm3Tai } = await import('../src/crypto/sm2/curve.js');
    const { concatBytes } = await import('../src/utils/bytes.js');
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 150 }), fc.uint8Array({ maxLength: 33 }), (records, prefix) => {
        for (const [map, one] of [['sha256-tar', hashToSm2Sha256Tar], ['sm3-tai', hashToSm2Sm3Tai]] as const) {
          const expected = new Uint8Array(records.length * 33);
          records.forEach((r, i) => one(concatBytes(prefix, r), expected, i * 33));
          expect(toHex(hashToSm2Batch(map, records, prefix))).toBe(toHex(expected));
        }
      }),
      { numRuns: 25 },
    );
    // The brief's worked examples: `alice` needs one re-hash (sha256-tar), `id-0` three increments (sm3-tai).
    const enc = (s: string) => new TextEncoder().encode(s);
    expect(toHex(hashToSm2Batch('sha256-tar', [enc('alice')]))).toBe(toHex(hashToSm2Sha256Tar(enc('alice'))));
    expect(toHex(hashToSm2Batch('sm3-tai', [enc('id-0')]))).toBe(toHex(hashToSm2Sm3Tai(enc('id-0'))));
  });

  it('reduces x ≥ p, increments past non-abscissae, and reports items left without a point', () => {
    const lift = (x: bigint, inc: number) => {
      const out = new Uint8Array(33);
      const left = native!.sm2LiftX!(be32(x), out, inc);
      return { left, out: toHex(out) };
    };
    // The first abscissa at or after x, by the curve equation in BigInt.
    const isAbscissa = (x: bigint) => {
      try {
        Sm2.fromBytes(new Uint8Array([2, ...be32(x)])).assertValidity();
        return true;
      } catch {
        return false;
      }
    };
    let x = (1n << 256n) - 1n; // ≥ p: reduced to 2^256 − 1 − p first
    let r = x % P;
    while (!isAbscissa(r)) r++;
    expect(lift(x, 99)).toEqual({ left: 0, out: `02${toHex(be32(r))}` });
    x = 5n;
    while (isAbscissa(x)) x++; // a non-abscissa: with no increments allowed, nothing is found
    expect(lift(x, 0)).toEqual({ left: 1, out: '00'.repeat(33) });
    expect(() => native!.sm2LiftX!(new Uint8Array(31), new Uint8Array(33), 0)).toThrow(RangeError);
    expect(() => native!.sm2LiftX!(new Uint8Array(32), new Uint8Array(33), 1001)).toThrow(RangeError);
  });
});

describe('checkSm2PointBatch (received points), native and portable', () => {
  it('gives the same verdicts with and without the addon, naming the first bad position', async () => {
    const enc = (prefix: number, x: bigint) => new Uint8Array([prefix, ...be32(x)]);
    let off = 0n;
    for (;;) {
      try {
        Sm2.fromBytes(enc(2, off)).assertValidity();
        off++;
      } catch {
        break;
      }
    }
    const good = Sm2.BASE.multiply(12345n).toBytes(true);
    const batch = (bad: Uint8Array) => new Uint8Array([...good, ...good, ...bad, ...good]);
    const cases: [Uint8Array, RegExp][] = [
      [enc(2, off), /index 12: not on the curve/],
      [enc(3, P), /index 12: x >= p/],
      [enc(0, 0n), /index 12: prefix/],
      [enc(4, 5n), /index 12: prefix/],
    ];
    const check = async (native: boolean) => {
      try {
        if (!native) vi.stubEnv('DATAPORT_NATIVE', '0');
        vi.resetModules();
        const m = (await import('../src/crypto/sm2/index.js')) as typeof import('../src/crypto/sm2/index.js');
        expect(() => m.checkSm2PointBatch(batch(good), 10)).not.toThrow();
        for (const [bad, why] of cases) {
          // (modules were reset: the error class is the fresh module's, so compare its stable code)
          expect(() => m.checkSm2PointBatch(batch(bad), 10)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_POINT', message: expect.stringMatching(why) }));
        }
        expect(() => m.checkSm2PointBatch(new Uint8Array(32), 0)).toThrow(/length/);
      } finally {
        vi.unstubAllEnvs();
        vi.resetModules();
      }
    };
    if (native?.sm2LiftX !== undefined) await check(true);
    else console.warn('native-sm2: no native addon here; checkSm2PointBatch checked on the portable path only');
    await check(false);
  });
});
