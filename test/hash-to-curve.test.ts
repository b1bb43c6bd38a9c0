/**
 * RFC 9380 hash-to-curve for curve25519: official vectors (Appendix J.4 / J.5, copied in
 * test/vectors/rfc9380 with provenance in test/vectors/PROVENANCE.md) through the fast
 * (WebAssembly) and the reference (BigInt / @noble/curves) paths, and properties fast == reference.
 */
import { describe, expect, it, afterEach } from 'vitest';
import fc from 'fast-check';
import { ed25519_hasher } from '@noble/curves/ed25519.js';
import { expand_message_xmd } from '@noble/curves/abstract/hash-to-curve.js';
import { sha512 } from '@noble/hashes/sha2.js';
import vectors from './vectors/rfc9380/curve25519-edwards25519-h2c.json' with { type: 'json' };
import {
  encodeToCurve,
  encodeToCurveBatch,
  hashToCurve,
  initCrypto,
  isFastCryptoReady,
  PSI_DST,
} from '../src/crypto/index.js';
import { encodeToCurveRef, hashToCurveRef, mapToCurveRef } from '../src/crypto/hash-to-curve-ref.js';
import { encodeToCurveFast, expandMessageFast, mapToCurveFast } from '../src/crypto/fast/encode.js';
import { getWasm, setWasmDisabledForTesting, type WasmHandle } from '../src/crypto/fast/wasm.js';
import { bytesToNumberLE, mod, numberToBytesLE, pow } from '../src/crypto/field-ref.js';
import { P } from '../src/crypto/constants.js';
import { concatBytes, fromHex, toHex, utf8 } from '../src/utils/bytes.js';

interface Vector {
  msg: string;
  P: { x: string; y: string };
  u: string[];
  derived_not_in_rfc?: { P_x_rfc7748_little_endian_32_bytes: string };
}
interface Suite {
  suite: string;
  dst: string;
  vectors: Vector[];
}
const suites = (vectors as { suites: Suite[] }).suites;
const suite = (name: string): Suite => {
  const s = suites.find((x) => x.suite === name);
  if (!s) throw new Error(`missing suite ${name}`);
  return s;
};
const NU = suite('curve25519_XMD:SHA-512_ELL2_NU_');
const RO = suite('curve25519_XMD:SHA-512_ELL2_RO_');
const ED_NU = suite('edwards25519_XMD:SHA-512_ELL2_NU_');
const ED_RO = suite('edwards25519_XMD:SHA-512_ELL2_RO_');

function wasm(): WasmHandle {
  const w = getWasm();
  if (!w) throw new Error('WebAssembly path unavailable on Node');
  return w;
}

/** A field element as the 48-byte big-endian string hash_to_field would have produced. */
function be48(n: bigint): Uint8Array {
  return numberToBytesLE(n, 48).reverse();
}

afterEach(() => setWasmDisabledForTesting(false));


describe('RFC 9380 vectors (J.4.1, J.4.2, J.5.1, J.5.2)', () => {
  it('has the five vectors of each suite', () => {
    for (const s of [NU, RO, ED_NU, ED_RO]) expect(s.vectors).toHaveLength(5);
  });

  it('the fast path is in use on Node', async () => {
    await initCrypto();
    expect(isFastCryptoReady()).toBe(true);
  });

  for (const v of NU.vectors) {
    const expected = v.derived_not_in_rfc!.P_x_rfc7748_little_endian_32_bytes;
    const dst = utf8(NU.dst);
    it(`NU msg=${JSON.stringify(v.msg.slice(0, 12))}: fast encode_to_curve`, () => {
      // the derived LE string is the RFC's P.x, byte-reversed
      expect(toHex(fromHex(v.P.x).reverse())).toBe(expected);
      expect(toHex(encodeToCurve(utf8(v.msg), dst))).toBe(expected);
      expect(toHex(encodeToCurveBatch([utf8(v.msg)], new Uint8Array(), dst))).toBe(expected);
      expect(toHex(encodeToCurveFast(wasm(), [utf8(v.msg)], new Uint8Array(), dst))).toBe(expected);
    });
    it(`NU msg=${JSON.stringify(v.msg.slice(0, 12))}: hash_to_field (wasm SHA-512) and the map alone`, () => {
      const out = expandMessageFast(wasm(), [utf8(v.msg)], new Uint8Array(), dst);
      expect(out).toHaveLength(48);
      expect(mod(bytesToNumberLE(out.slice().reverse()))).toBe(BigInt('0x' + v.u[0]));
      expect(toHex(mapToCurveFast(wasm(), be48(BigInt('0x' + v.u[0]))))).toBe(expected);
      expect(toHex(mapToCurveRef(BigInt('0x' + v.u[0])))).toBe(expected);
    });
    it(`NU msg=${JSON.stringify(v.msg.slice(0, 12))}: reference path`, () => {
      expect(toHex(encodeToCurveRef(utf8(v.msg), dst))).toBe(expected);
      setWasmDisabledForTesting(true);
      expect(toHex(encodeToCurve(utf8(v.msg), dst))).toBe(expected);
      expect(toHex(encodeToCurveBatch([utf8(v.msg)], new Uint8Array(), dst))).toBe(expected);
    });
  }

  for (const v of RO.vectors) {
    const expected = v.derived_not_in_rfc!.P_x_rfc7748_little_endian_32_bytes;
    it(`RO msg=${JSON.stringify(v.msg.slice(0, 12))}: hash_to_curve (reference path)`, () => {
      expect(toHex(fromHex(v.P.x).reverse())).toBe(expected);
      expect(toHex(hashToCurve(utf8(v.msg), utf8(RO.dst)))).toBe(expected);
      expect(toHex(hashToCurveRef(utf8(v.msg), utf8(RO.dst)))).toBe(expected);
    });
  }

  for (const [s, kind] of [
    [ED_NU, 'encode'],
    [ED_RO, 'hash'],
  ] as const) {
    for (const v of s.vectors) {
      it(`edwards25519 ${kind} msg=${JSON.stringify(v.msg.slice(0, 12))} via @noble/curves`, () => {
        const opts = { DST: utf8(s.dst) };
        const pt = kind === 'encode' ? ed25519_hasher.encodeToCurve(utf8(v.msg), opts) : ed25519_hasher.hashToCurve(utf8(v.msg), opts);
        const { x, y } = pt.toAffine();
        expect(x).toBe(BigInt('0x' + v.P.x));
        expect(y).toBe(BigInt('0x' + v.P.y));
      });
    }
  }
});

describe('expand_message_xmd (SHA-512, 48 bytes) in WebAssembly', () => {
  const xmdRef = (prefix: Uint8Array, msg: Uint8Array, dst: Uint8Array): string =>
    toHex(expand_message_xmd(concatBytes(prefix, msg), dst, 48, sha512));

  it('agrees with @noble/curves expand_message_xmd on random prefixes, messages and DSTs', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 300 }),
        fc.array(fc.uint8Array({ maxLength: 300 }), { minLength: 1, maxLength: 8 }),
        fc.uint8Array({ minLength: 1, maxLength: 255 }),
        (prefix, msgs, dst) => {
          const out = expandMessageFast(wasm(), msgs, prefix, dst);
          msgs.forEach((m, i) => expect(toHex(out.subarray(48 * i, 48 * i + 48))).toBe(xmdRef(prefix, m, dst)));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('every length around the SHA-512 block boundaries (padding into a second block)', () => {
    const dst = utf8('QUUX-V01-CS02-with-curve25519_XMD:SHA-512_ELL2_NU_');
    const msgs = Array.from({ length: 300 }, (_, len) => new Uint8Array(len).map((_, i) => (i * 13 + len) & 0xff));
    const out = expandMessageFast(wasm(), msgs, new Uint8Array(), dst);
    msgs.forEach((m, i) => expect(toHex(out.subarray(48 * i, 48 * i + 48)), `len ${i}`).toBe(xmdRef(new Uint8Array(), m, dst)));
  });

  it('messages and prefixes longer than the wasm message area, and packs that overflow it', () => {
    const w = wasm();
    const cap = w.msg.length;
    const dst = utf8('DST');
    const mk = (len: number, seed: number): Uint8Array => new Uint8Array(len).map((_, i) => (i * 31 + seed) & 0xff);
    const msgs = [mk(3, 1), mk(cap + 1, 2), mk(5, 3), mk(cap, 4), mk(2 * cap + 77, 5), ...Array.from({ length: 40 }, (_, i) => mk(1500, i)), mk(0, 9)];
    for (const prefix of [new Uint8Array(), mk(40, 7), mk(cap + 100, 8)]) {
      const out = expandMessageFast(w, msgs, prefix, dst);
      msgs.forEach((m, i) => expect(toHex(out.subarray(48 * i, 48 * i + 48)), `msg ${i}`).toBe(xmdRef(prefix, m, dst)));
    }
    // and through the whole encode path
    const prefix = mk(33, 1);
    const flat = encodeToCurveBatch(msgs, prefix, dst);
    msgs.forEach((m, i) => expect(toHex(flat.subarray(32 * i, 32 * i + 32))).toBe(toHex(encodeToCurveRef(concatBytes(prefix, m), dst))));
  });

  it('refuses an empty or oversized DST', () => {
    expect(() => expandMessageFast(wasm(), [], new Uint8Array(), new Uint8Array(0))).toThrow(RangeError);
    expect(() => expandMessageFast(wasm(), [], new Uint8Array(), new Uint8Array(256))).toThrow(RangeError);
    expect(() => encodeToCurve(utf8('x'), new Uint8Array(256))).toThrow(RangeError);
    expect(() => encodeToCurve(utf8('x'), new Uint8Array(0))).toThrow(RangeError);
    expect(() => hashToCurve(utf8('x'), new Uint8Array(256))).toThrow(RangeError);
    expect(() => encodeToCurveBatch([utf8('x')], new Uint8Array(), new Uint8Array(256))).toThrow(RangeError);
  });

  it('accepts a 255-byte DST (fast == reference)', () => {
    const dst = new Uint8Array(255).fill(0x41);
    expect(toHex(encodeToCurve(utf8('abc'), dst))).toBe(toHex(encodeToCurveRef(utf8('abc'), dst)));
  });
});

describe('fast == reference', () => {
  it('on random records, ekm prefixes and DSTs (1..255 bytes)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 64 }),
        fc.uint8Array({ maxLength: 160 }),
        fc.uint8Array({ minLength: 1, maxLength: 255 }),
        (ekm, record, dst) => {
          const fast = encodeToCurveBatch([record], ekm, dst);
          const ref = encodeToCurveRef(concatBytes(ekm, record), dst);
          expect(toHex(fast)).toBe(toHex(ref));
          expect(toHex(encodeToCurve(concatBytes(ekm, record), dst))).toBe(toHex(ref));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('the map on random 48-byte hash_to_field outputs, including values above p', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 48, maxLength: 48 }), (h) => {
        const u0 = mod(bytesToNumberLE(h.slice().reverse()));
        expect(toHex(mapToCurveFast(wasm(), h))).toBe(toHex(mapToCurveRef(u0)));
      }),
      { numRuns: 300 },
    );
  });

  it('the map at edge inputs: u0 = 0, ±1, p - 1 as 2^384 - 1 etc.', () => {
    const twoTo384 = 1n << 384n;
    const cases: bigint[] = [0n, 1n, 2n, P - 1n, P, P + 1n, 2n * P, twoTo384 - 1n, twoTo384 - 1n - ((twoTo384 - 1n) % P), 1n << 255n, (1n << 256n) - 1n, 1n << 256n];
    for (const n of cases) {
      const got = toHex(mapToCurveFast(wasm(), be48(n)));
      expect(got, `u0 = ${n}`).toBe(toHex(mapToCurveRef(mod(n))));
    }
    // u0 = 0: d = 1, x1 = -J; -J is not a square mod p, so x2 = 0 is chosen (the point (0, 0) of
    // order 2) and 8 * (0, 0) is the identity, encoded u = 0 (RFC 7748).
    expect(toHex(mapToCurveFast(wasm(), be48(0n)))).toBe('00'.repeat(32));
  });

  it('the map where a candidate is a torsion point, so its cofactor-cleared Z is 0', () => {
    // Solve x1 = -J / (1 + 2 u0^2) = t and x2 = -2 J u0^2 / (1 + 2 u0^2) = t for the torsion
    // x-coordinates t; the map must then output u = 0 (or the other candidate's u) like the reference.
    const J = 486662n;
    const inv = (a: bigint): bigint => pow(a, P - 2n);
    const sqrt = (a: bigint): bigint | undefined => {
      const x0 = pow(a, (P + 3n) / 8n);
      if (mod(x0 * x0 - a) === 0n) return x0;
      const x1 = mod(x0 * pow(2n, (P - 1n) / 4n));
      return mod(x1 * x1 - a) === 0n ? x1 : undefined;
    };
    const torsion = [1n, P - 1n, 325606250916557431795983626356110631294008115727848805560023387167927233504n, 39382357235489614581723060781553021112529911719440698176882885853963445705823n];
    const inputs: bigint[] = [];
    for (const t of torsion) {
      const d = mod(-J * inv(t));
      const a = sqrt(mod((d - 1n) * inv(2n)));
      if (a !== undefined) inputs.push(a, P - a);
      const b = sqrt(mod(t * inv(mod(-2n * (J + t)))));
      if (b !== undefined) inputs.push(b, P - b);
    }
    // x1 = 1 and x2 = 1 (the order-4 point) are both reachable: 4 inputs at least.
    expect(inputs.length).toBeGreaterThanOrEqual(4);
    for (const u0 of inputs) {
      const want = toHex(mapToCurveRef(u0));
      expect(want).toBe('00'.repeat(32));
      expect(toHex(mapToCurveFast(wasm(), be48(u0))), `u0 = ${u0}`).toBe(want);
    }
  });
});

describe('batches', () => {
  it('batch == one-by-one across wasm chunk boundaries, with and without ekm', () => {
    const records = Array.from({ length: 2100 }, (_, i) => utf8(`1101011990030${String(i).padStart(5, '0')}`));
    const ekm = new Uint8Array(32).map((_, i) => i * 7);
    for (const prefix of [new Uint8Array(), ekm]) {
      const flat = encodeToCurveBatch(records, prefix);
      expect(flat.length).toBe(records.length * 32);
      for (let i = 0; i < records.length; i++) {
        expect(toHex(flat.subarray(i * 32, i * 32 + 32))).toBe(toHex(encodeToCurve(concatBytes(prefix, records[i]!))));
      }
      // and a sample through the reference
      for (const i of [0, 1, 1023, 1024, 2047, 2048, 2099]) {
        expect(toHex(flat.subarray(i * 32, i * 32 + 32))).toBe(toHex(encodeToCurveRef(concatBytes(prefix, records[i]!), PSI_DST)));
      }
    }
  });

  it('the reference fallback gives the same batch', () => {
    const records = Array.from({ length: 40 }, (_, i) => utf8(`r${i}`));
    const ekm = utf8('session-binding');
    const fast = encodeToCurveBatch(records, ekm);
    setWasmDisabledForTesting(true);
    expect(isFastCryptoReady()).toBe(false);
    expect(toHex(encodeToCurveBatch(records, ekm))).toBe(toHex(fast));
  });

  it('an empty batch gives an empty array; bad arguments throw TypeError', () => {
    expect(encodeToCurveBatch([], new Uint8Array())).toHaveLength(0);
    expect(() => encodeToCurveBatch([utf8('a'), 'b' as unknown as Uint8Array], new Uint8Array())).toThrow(TypeError);
    expect(() => encodeToCurveBatch([utf8('a')], 'ekm' as unknown as Uint8Array)).toThrow(TypeError);
    expect(() => encodeToCurve('a' as unknown as Uint8Array)).toThrow(TypeError);
  });

  it('leaves no record-derived bytes in the wasm buffers', () => {
    const w = wasm();
    const secret = utf8('secret-record-110101199003070011');
    encodeToCurveBatch([secret, utf8('another')], utf8('ekm'));
    expect(w.input.every((b) => b === 0)).toBe(true);
    expect(w.output.every((b) => b === 0)).toBe(true);
    expect(w.msg.every((b) => b === 0)).toBe(true);
    expect(w.lens.every((b) => b === 0)).toBe(true);
    // nowhere in the instance's memory
    const all = new Uint8Array(w.exports.memory.buffer);
    const hay = Buffer.from(all);
    expect(hay.indexOf(Buffer.from(secret))).toBe(-1);
    expect(hay.indexOf(Buffer.from(secret.subarray(0, 8)))).toBe(-1);
  });
});

describe('lazy and asynchronous WebAssembly start-up (browser main thread)', () => {
  it('falls back to the reference when synchronous compilation is refused, until initCrypto()', async () => {
    const { vi } = await import('vitest');
    vi.resetModules();
    const RealModule = WebAssembly.Module;
    // Chromium's main thread refuses `new WebAssembly.Module` above 4 KB with a RangeError.
    const Refusing = function () {
      throw new RangeError('WebAssembly.Module is disallowed on the main thread, if the buffer size is larger than 4KB');
    } as unknown as typeof WebAssembly.Module;
    vi.stubGlobal('WebAssembly', { ...WebAssembly, Module: Refusing, compile: WebAssembly.compile, instantiate: WebAssembly.instantiate, Instance: WebAssembly.Instance });
    try {
      const crypto = await import('../src/crypto/index.js');
      const v = NU.vectors[1]!;
      const expected = v.derived_not_in_rfc!.P_x_rfc7748_little_endian_32_bytes;
      expect(crypto.isFastCryptoReady()).toBe(false);
      expect(toHex(crypto.encodeToCurve(utf8(v.msg), utf8(NU.dst)))).toBe(expected);
      expect(crypto.checkPoint(numberToBytesLE(2n))).toBe('not-on-curve');
      await crypto.initCrypto();
      expect(crypto.isFastCryptoReady()).toBe(true);
      expect(toHex(crypto.encodeToCurve(utf8(v.msg), utf8(NU.dst)))).toBe(expected);
      expect(crypto.checkPoint(numberToBytesLE(2n))).toBe('not-on-curve');
    } finally {
      vi.unstubAllGlobals();
      vi.resetModules();
    }
    expect(WebAssembly.Module).toBe(RealModule);
  });
});

describe('the committed WebAssembly module', () => {
  it('was generated from the committed C source (run scripts/build-wasm.sh after editing it)', async () => {
    const { readFileSync } = await import('node:fs');
    const { createHash } = await import('node:crypto');
    const src = readFileSync(new URL('../src/crypto/fast/curve25519.c', import.meta.url));
    const gen = readFileSync(new URL('../src/crypto/fast/wasm-bytes.generated.ts', import.meta.url), 'utf8');
    expect(gen).toContain(`// Source sha256: ${createHash('sha256').update(src).digest('hex')}`);
  });
});
