import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { x25519 } from '@noble/curves/ed25519.js';
import {
  availableBackends,
  createGroup,
  encodeToCurve,
  encodeToCurveBatch,
  generateScalar,
  type BackendName,
} from '../src/crypto/index.js';
import { InvalidPointError, UnsupportedError } from '../src/errors.js';
import { fromHex, toHex } from '../src/utils/bytes.js';
import { LOW_ORDER_U } from '../src/crypto/constants.js';
import { numberToBytesLE } from '../src/crypto/field-ref.js';

// RFC 7748 §5.2 vectors; provenance in test/vectors/PROVENANCE.md and in the file's "source" field.
const rfc7748 = JSON.parse(readFileSync(new URL('./vectors/rfc7748/x25519.json', import.meta.url), 'utf8')) as {
  vectors: { scalar: string; u: string; out: string }[];
  iterated: { start: string; after1: string; after1000: string };
};

const backends = await availableBackends();
const groups = Object.fromEntries(
  await Promise.all(backends.map(async (b) => [b, await createGroup(b)] as const)),
) as Record<BackendName, Awaited<ReturnType<typeof createGroup>>>;

describe('backends', () => {
  it('offers native (when built), node, webcrypto and noble on Node', () => {
    const native = backends.includes('native');
    // CI builds the addon and sets DATAPORT_REQUIRE_NATIVE=1, so a broken build cannot go unnoticed.
    if (process.env['DATAPORT_REQUIRE_NATIVE'] === '1') expect(native).toBe(true);
    expect(backends).toEqual([...(native ? ['native'] : []), 'node', 'webcrypto', 'noble']);
  });

  it('picks the fastest by default and honours an override', async () => {
    expect((await createGroup()).backend).toBe(backends[0]);
    expect((await createGroup('noble')).backend).toBe('noble');
  });

  it('rejects an unknown backend name', async () => {
    await expect(createGroup('openssl' as BackendName)).rejects.toThrow(TypeError);
  });

  it('rejects a wrong scalar length and a ragged point array', async () => {
    const g = groups.noble;
    expect(() => g.multiplyBatch(new Uint8Array(31), new Uint8Array(32))).toThrow(RangeError);
    expect(() => g.multiplyBatch(new Uint8Array(32), new Uint8Array(33))).toThrow(RangeError);
  });

  it('UnsupportedError is what a missing backend gives', () => {
    expect(new UnsupportedError('x').code).toBe('ERR_UNSUPPORTED');
  });
});

describe.each(backends)('RFC 7748 §5.2 on backend %s', (name) => {
  const g = () => groups[name];

  it('known answers', async () => {
    for (const v of rfc7748.vectors) {
      const out = await g().multiplyBatch(fromHex(v.scalar), fromHex(v.u));
      expect(toHex(out)).toBe(v.out);
    }
  });

  it('iterated vector: 1 and 1,000 iterations', async () => {
    let k = fromHex(rfc7748.iterated.start);
    let u = fromHex(rfc7748.iterated.start);
    for (let i = 1; i <= 1000; i++) {
      const r = await g().multiplyBatch(k, u);
      u = k;
      k = r;
      if (i === 1) expect(toHex(k)).toBe(rfc7748.iterated.after1);
    }
    expect(toHex(k)).toBe(rfc7748.iterated.after1000);
  });

  it('a low-order input fails with InvalidPointError', async () => {
    for (const u of LOW_ORDER_U) {
      await expect(g().multiplyBatch(generateScalar(), numberToBytesLE(u))).rejects.toBeInstanceOf(InvalidPointError);
    }
  });

  it('honours an aborted signal', async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(g().multiplyBatch(generateScalar(), new Uint8Array(64).fill(9), ac.signal)).rejects.toMatchObject({
      code: 'ERR_ABORTED',
    });
  });
});

describe('cross-backend properties', () => {
  const record = fc.uint8Array({ minLength: 0, maxLength: 64 });

  it('every backend gives byte-identical results (and equals noble x25519)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(record, { minLength: 1, maxLength: 8 }), fc.uint8Array({ minLength: 32, maxLength: 32 }), async (records, scalar) => {
        const points = encodeToCurveBatch(records, new Uint8Array(0));
        const results = await Promise.all(backends.map((b) => groups[b].multiplyBatch(scalar, points)));
        for (const r of results) expect(toHex(r)).toBe(toHex(results[0]!));
        expect(toHex(results[0]!.subarray(0, 32))).toBe(toHex(x25519.scalarMult(scalar, points.subarray(0, 32))));
      }),
      { numRuns: 25 },
    );
  });

  it('masking commutes: (H(x)·a)·b = (H(x)·b)·a', async () => {
    await fc.assert(
      fc.asyncProperty(
        record,
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.constantFrom(...backends),
        async (rec, a, b, name) => {
          const g = groups[name];
          const h = encodeToCurve(rec);
          const ab = await g.multiplyBatch(b, await g.multiplyBatch(a, h));
          const ba = await g.multiplyBatch(a, await g.multiplyBatch(b, h));
          expect(toHex(ab)).toBe(toHex(ba));
        },
      ),
      { numRuns: 40 },
    );
  });

  it('different records give different masked values under one scalar', async () => {
    const a = generateScalar();
    const pts = encodeToCurveBatch([new TextEncoder().encode('x'), new TextEncoder().encode('y')], new Uint8Array());
    const m = await groups.node.multiplyBatch(a, pts);
    expect(toHex(m.subarray(0, 32))).not.toBe(toHex(m.subarray(32)));
  });

  it('generateScalar gives 32 fresh bytes', () => {
    const a = generateScalar();
    const b = generateScalar();
    expect(a.length).toBe(32);
    expect(toHex(a)).not.toBe(toHex(b));
  });
});

describe('node backend key reuse', () => {
  it('a scalar array rewritten in place is re-imported, never served from a stale key', async () => {
    const g = await createGroup('node');
    const scalar = generateScalar();
    const point = encodeToCurve(new TextEncoder().encode('reuse'));
    const first = await g.multiplyBatch(scalar, point);
    scalar.set(generateScalar());
    const second = await g.multiplyBatch(scalar, point);
    expect(toHex(second)).toBe(toHex(x25519.scalarMult(scalar, point)));
    expect(toHex(second)).not.toBe(toHex(first));
  });
});
