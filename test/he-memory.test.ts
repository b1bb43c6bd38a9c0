import { describe, expect, it } from 'vitest';
import { chooseHeParameters, createHeContext, type HeCiphertext } from '../src/he/index.js';

// Resource assertion (not timing): 1,000 encrypt/add/decrypt cycles must not grow memory beyond a
// fixed allowance. SEAL's WebAssembly heap only ever grows, so leaked SEAL objects (~130 KB per
// 4096-degree ciphertext) show up in `process.memoryUsage().external`, which counts WebAssembly
// memory and ArrayBuffers but not the V8 JavaScript heap. RSS would also count JavaScript garbage
// that has not been collected yet, which differs between Node versions (Node 24 grew RSS by ~90 MB
// here with no SEAL leak at all).
const ALLOWANCE_BYTES = 48 * 1024 * 1024;

describe('HE memory', () => {
  it('1,000 encrypt/add/decrypt operations do not grow memory beyond a fixed allowance', async () => {
    const he = await createHeContext(await chooseHeParameters({ slots: 16, maxAbsValue: 1000n, maxAddends: 2 }));
    const { publicKey, secretKey } = he.generateKeys();
    const cycle = (i: number) => {
      const a = he.encrypt(publicKey, [BigInt(i % 1000), -1n]);
      const b = he.encrypt(publicKey, [1n, 1n]);
      const c = he.add(a, b);
      // Serialisation round trip on every 10th cycle (the envelope path allocates too).
      const d = i % 10 === 0 ? he.importCiphertext(he.exportCiphertext(c)) : c;
      const out = he.decrypt(secretKey, d);
      for (const h of new Set([a, b, c, d])) h.dispose();
      return out;
    };
    for (let i = 0; i < 100; i++) cycle(i); // warm-up: heap reaches its working size
    global.gc?.();
    const before = process.memoryUsage().external;
    for (let i = 0; i < 1000; i++) expect(cycle(i)).toEqual([BigInt((i % 1000) + 1), 0n]);
    global.gc?.();
    const growth = process.memoryUsage().external - before;
    expect(growth).toBeLessThan(ALLOWANCE_BYTES);

    // Control: the same measurement does detect leaked ciphertexts. The heap's free space left by
    // the cycles above absorbs the first leaks (600 leaked ciphertexts grew it by only 43 MB once on
    // Node 24), so leak enough (~190 MB) that growth must exceed the allowance whatever was free.
    const leaked: HeCiphertext[] = [];
    const beforeLeak = process.memoryUsage().external;
    for (let i = 0; i < 1500; i++) leaked.push(he.encrypt(publicKey, [1n]));
    const leakGrowth = process.memoryUsage().external - beforeLeak;
    expect(leakGrowth).toBeGreaterThan(ALLOWANCE_BYTES);
    for (const h of leaked) h.dispose();
    publicKey.dispose();
    secretKey.dispose();
    he.dispose();
  }, 300_000);
});
