import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { createHmac, hkdfSync } from 'node:crypto';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { hkdfSha512Batch } from '../src/crypto/hkdf.js';
import { getWasm, setWasmDisabledForTesting } from '../src/crypto/fast/wasm.js';
import { truncateValues } from '../src/protocols/psi/values.js';
import { fromHex, toHex } from '../src/utils/bytes.js';

interface Vector {
  tcId: number;
  ikm: string;
  salt: string;
  info: string;
  size: number;
  okm: string;
}
const vectors = (
  JSON.parse(readFileSync(new URL('./vectors/wycheproof/hkdf-sha512-emptysalt-ikm32.json', import.meta.url), 'utf8')) as { tests: Vector[] }
).tests;

afterEach(() => setWasmDisabledForTesting(false));

const paths = [
  ['WebAssembly', false],
  ['@noble/hashes fallback', true],
] as const;

describe('hkdfSha512Batch', () => {
  it('the WebAssembly module is in use by default on Node', () => {
    expect(getWasm()).toBeDefined();
  });

  for (const [name, disabled] of paths) {
    it(`${name}: Wycheproof HKDF-SHA-512 known answers (32-byte IKM, empty salt)`, () => {
      setWasmDisabledForTesting(disabled);
      expect(vectors.length).toBe(6);
      for (const v of vectors) {
        expect(v.salt).toBe('');
        const out = hkdfSha512Batch(fromHex(v.ikm), fromHex(v.info), v.size);
        expect(toHex(out), `tcId ${v.tcId}`).toBe(v.okm);
      }
      // Several IKMs in one call: each output is that IKM's own.
      const all = new Uint8Array(vectors.filter((v) => v.info === '' && v.size === 20).length * 32);
      const same = vectors.filter((v) => v.info === '' && v.size === 20);
      same.forEach((v, i) => all.set(fromHex(v.ikm), i * 32));
      expect(toHex(hkdfSha512Batch(all, new Uint8Array(), 20))).toBe(same.map((v) => v.okm).join(''));
    });
  }

  it('equals @noble/hashes and node:crypto hkdf on random inputs, lengths and batch sizes (across chunk boundaries)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1300 }),
        fc.integer({ min: 1, max: 64 }),
        fc.uint8Array({ maxLength: 110 }),
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        (n, L, info, seed) => {
          const ikms = new Uint8Array(n * 32);
          let x = seed;
          for (let i = 0; i < ikms.length; i++) ikms[i] = (x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 24;
          const got = hkdfSha512Batch(ikms, info, L);
          expect(got.length).toBe(n * L);
          for (let i = 0; i < n; i++) {
            const ikm = ikms.subarray(i * 32, i * 32 + 32);
            const want = hkdf(sha512, ikm, undefined, info, L);
            expect(toHex(got.subarray(i * L, (i + 1) * L))).toBe(toHex(want));
            if (i === 0) expect(toHex(new Uint8Array(hkdfSync('sha512', ikm, new Uint8Array(), info, L)))).toBe(toHex(want));
          }
        },
      ),
      { numRuns: 40 },
    );
  });

  it('an info longer than one block takes the portable path with the same bytes', () => {
    const info = new Uint8Array(300).map((_, i) => i);
    const ikms = new Uint8Array(64).map((_, i) => 255 - i);
    const got = hkdfSha512Batch(ikms, info, 24);
    expect(toHex(got.subarray(24))).toBe(toHex(hkdf(sha512, ikms.subarray(32), undefined, info, 24)));
  });

  it('the extract step is HMAC-SHA-512 keyed with 64 zero bytes (RFC 5869 §2.2), checked independently', () => {
    // OKM for L ≤ 64 is HMAC(PRK, info || 0x01) with PRK = HMAC(0^64, IKM) (§2.2-2.3).
    const ikm = new Uint8Array(32).fill(7);
    const info = new TextEncoder().encode('ECDH-PSI');
    const prk = createHmac('sha512', new Uint8Array(64)).update(ikm).digest();
    const t1 = createHmac('sha512', prk).update(Buffer.concat([info, Buffer.from([1])])).digest();
    expect(toHex(hkdfSha512Batch(ikm, info, 16))).toBe(toHex(t1.subarray(0, 16)));
  });

  it('refuses misuse with TypeError / RangeError', () => {
    expect(() => hkdfSha512Batch(new Uint8Array(33), new Uint8Array(), 16)).toThrow(RangeError);
    expect(() => hkdfSha512Batch(new Uint8Array(32), new Uint8Array(), 0)).toThrow(RangeError);
    expect(() => hkdfSha512Batch(new Uint8Array(32), new Uint8Array(), 65)).toThrow(RangeError);
    expect(() => hkdfSha512Batch('x' as unknown as Uint8Array, new Uint8Array(), 16)).toThrow(TypeError);
  });
});

describe('truncateValues on every path', () => {
  for (const [name, disabled] of paths) {
    it(`${name}: same bytes as @noble/hashes hkdf for 16 and 24 bytes`, () => {
      setWasmDisabledForTesting(disabled);
      const flat = new Uint8Array(32 * 37).map((_, i) => (i * 131 + 7) & 0xff);
      for (const L of [16, 24] as const) {
        const out = truncateValues(flat, L);
        for (let i = 0; i < 37; i++) {
          expect(toHex(out.subarray(i * L, i * L + L))).toBe(toHex(hkdf(sha512, flat.subarray(i * 32, i * 32 + 32), undefined, new TextEncoder().encode('ECDH-PSI'), L)));
        }
      }
    });
  }
});
