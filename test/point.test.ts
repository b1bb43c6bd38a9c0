/**
 * Validation of received points: a negative test for every rejection reason, positive tests, and
 * the fast (WebAssembly Jacobi symbol) on-curve test against the BigInt Euler criterion.
 */
import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { checkPoint, decodePoint, decodePointBatch, encodeToCurveBatch, isFastCryptoReady } from '../src/crypto/index.js';
import { onCurveRef } from '../src/crypto/point.js';
import { onCurveBatch } from '../src/crypto/fast/legendre.js';
import { getWasm, setWasmDisabledForTesting, type WasmHandle } from '../src/crypto/fast/wasm.js';
import { A, LOW_ORDER_U, P } from '../src/crypto/constants.js';
import { isSquare, mod, numberToBytesLE } from '../src/crypto/field-ref.js';
import { InvalidPointError } from '../src/errors.js';
import { utf8 } from '../src/utils/bytes.js';

afterEach(() => setWasmDisabledForTesting(false));

function wasm(): WasmHandle {
  const w = getWasm();
  if (!w) throw new Error('WebAssembly path unavailable on Node');
  return w;
}

const g = (u: bigint): bigint => mod(u * u * u + A * u * u + u);
const le = (u: bigint): Uint8Array => numberToBytesLE(u);

/** Twist points: the smallest u > 1 with g(u) a non-square, found here rather than hard-coded. */
function twistU(count: number): bigint[] {
  const out: bigint[] = [];
  for (let u = 2n; out.length < count; u++) if (!isSquare(g(u))) out.push(u);
  return out;
}

const valid = (): Uint8Array[] => {
  const flat = encodeToCurveBatch(Array.from({ length: 8 }, (_, i) => utf8(`rec-${i}`)), new Uint8Array());
  return Array.from({ length: 8 }, (_, i) => flat.slice(i * 32, i * 32 + 32));
};

/** Both paths: the fast one (WebAssembly) and the fallback (BigInt). */
const paths = [
  ['fast', false],
  ['reference', true],
] as const;

for (const [name, disable] of paths) {
  describe(`checkPoint / decodePoint (${name} path)`, () => {
    const use = (): void => setWasmDisabledForTesting(disable);

    it('runs on the intended path', () => {
      use();
      expect(isFastCryptoReady()).toBe(!disable);
    });

    it('accepts the base point 9 and encode_to_curve outputs', () => {
      use();
      expect(checkPoint(le(9n))).toBeUndefined();
      for (const u of valid()) {
        expect(checkPoint(u)).toBeUndefined();
        expect(decodePoint(u)).toBe(u);
      }
    });

    it("rejects a wrong length: 'length'", () => {
      use();
      expect(checkPoint(new Uint8Array(31))).toBe('length');
      expect(checkPoint(new Uint8Array(33))).toBe('length');
      expect(checkPoint(new Uint8Array(0))).toBe('length');
      expect(() => decodePoint(new Uint8Array(31))).toThrow(InvalidPointError);
    });

    it("rejects the top bit set and u >= p: 'non-canonical'", () => {
      use();
      const nine = le(9n);
      nine[31]! |= 0x80;
      expect(checkPoint(nine)).toBe('non-canonical');
      for (const u of [P, P + 1n, P + 9n, (1n << 255n) - 1n, P + 18n]) {
        expect(checkPoint(le(u)), `u = ${u}`).toBe('non-canonical');
      }
      expect(checkPoint(le(P - 1n))).not.toBe('non-canonical'); // p - 1 is canonical (but on the twist)
      expect(() => decodePoint(le(P))).toThrow(/non-canonical/);
    });

    it("rejects twist points: 'not-on-curve'", () => {
      use();
      const twist = twistU(5);
      expect(twist[0]).toBe(2n);
      for (const u of [...twist, P - 1n]) {
        expect(checkPoint(le(u)), `u = ${u}`).toBe('not-on-curve');
      }
      expect(() => decodePoint(le(2n))).toThrow(InvalidPointError);
    });

    it("rejects each low-order point: 'low-order'", () => {
      use();
      expect(LOW_ORDER_U).toHaveLength(4);
      for (const u of LOW_ORDER_U) {
        expect(checkPoint(le(u)), `u = ${u}`).toBe('low-order');
        expect(() => decodePoint(le(u))).toThrow(/low-order/);
      }
    });

    it('throws TypeError for a non-Uint8Array', () => {
      use();
      expect(() => checkPoint('x' as unknown as Uint8Array)).toThrow(TypeError);
      expect(() => decodePointBatch([1, 2] as unknown as Uint8Array)).toThrow(TypeError);
    });
  });

  describe(`decodePointBatch (${name} path)`, () => {
    const use = (): void => setWasmDisabledForTesting(disable);
    const n = disable ? 60 : 3000;
    const big = (): Uint8Array =>
      encodeToCurveBatch(Array.from({ length: n }, (_, i) => utf8(`id-${i}`)), utf8('ekm'));

    it('accepts a large array of valid points and returns it unchanged', () => {
      const flat = big();
      use();
      expect(decodePointBatch(flat)).toBe(flat);
      expect(decodePointBatch(new Uint8Array(0))).toHaveLength(0);
    });

    it("rejects a length that is not a multiple of 32: 'length'", () => {
      use();
      expect(() => decodePointBatch(new Uint8Array(33))).toThrow(/length/);
    });

    it('names the first bad position and its reason', () => {
      const base = big();
      use();
      const at = (i: number, u: Uint8Array, flat: Uint8Array = base.slice()): Uint8Array => {
        flat.set(u, i * 32);
        return flat;
      };
      const last = n - 1;
      expect(() => decodePointBatch(at(last, le(2n)))).toThrow(`invalid point at position ${last}: not-on-curve`);
      expect(() => decodePointBatch(at(last, le(P)))).toThrow(`invalid point at position ${last}: non-canonical`);
      expect(() => decodePointBatch(at(7, le(1n)))).toThrow('invalid point at position 7: low-order');
      // two bad points: the lower position wins whichever check finds it
      expect(() => decodePointBatch(at(5, le(2n), at(20, le(P))))).toThrow('position 5: not-on-curve');
      expect(() => decodePointBatch(at(5, le(P), at(20, le(2n))))).toThrow('position 5: non-canonical');
      expect(() => decodePointBatch(at(5, le(0n), at(3, le(3n))))).toThrow('position 3: not-on-curve');
      try {
        decodePointBatch(at(0, le(2n)));
        expect.unreachable();
      } catch (e) {
        expect(e).toBeInstanceOf(InvalidPointError);
      }
    });
  });
}

describe('fast on-curve test == Euler criterion', () => {
  const canonicalU = fc.bigInt({ min: 0n, max: P - 1n });

  it('on random canonical u (both outcomes occur)', () => {
    fc.assert(
      fc.property(fc.array(canonicalU, { minLength: 1, maxLength: 40 }), (us) => {
        const flat = new Uint8Array(us.length * 32);
        us.forEach((u, i) => flat.set(le(u), i * 32));
        const fast = new Uint8Array(us.length);
        const ct = new Uint8Array(us.length);
        onCurveBatch(wasm(), flat, fast);
        onCurveBatch(wasm(), flat, ct, true);
        us.forEach((u, i) => {
          const want = isSquare(g(u)) ? 1 : 0;
          expect(fast[i], `u = ${u}`).toBe(want);
          expect(ct[i], `u = ${u}`).toBe(want);
          expect(onCurveRef(le(u))).toBe(want === 1);
        });
      }),
      { numRuns: 100 },
    );
    // the property above must see both answers: count them on a fixed sample
    const flat = new Uint8Array(200 * 32);
    for (let i = 0; i < 200; i++) flat.set(le(mod(BigInt(i) * 0x1234567890abcdefn ** 3n)), i * 32);
    const res = new Uint8Array(200);
    onCurveBatch(wasm(), flat, res);
    const squares = res.reduce((a, b) => a + b, 0);
    expect(squares).toBeGreaterThan(50);
    expect(squares).toBeLessThan(150);
  });

  it('at edge values (0, 1, p - 1, p - 2, 2^254, values with long runs of zero words)', () => {
    const us = [0n, 1n, 2n, P - 1n, P - 2n, 1n << 254n, 1n << 64n, 1n << 128n, (1n << 192n) + 1n, P - (1n << 64n)];
    const flat = new Uint8Array(us.length * 32);
    us.forEach((u, i) => flat.set(le(u), i * 32));
    const fast = new Uint8Array(us.length);
    onCurveBatch(wasm(), flat, fast);
    us.forEach((u, i) => expect(fast[i], `u = ${u}`).toBe(isSquare(g(u)) ? 1 : 0));
  });

  it('checkPoint agrees between the fast and reference paths on random input', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (b) => {
        const fast = checkPoint(b);
        setWasmDisabledForTesting(true);
        const ref = checkPoint(b);
        setWasmDisabledForTesting(false);
        expect(fast).toBe(ref);
      }),
      { numRuns: 300 },
    );
  });
});
