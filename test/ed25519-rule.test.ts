/**
 * One Ed25519 verification rule (issue 16 finding 5): OpenSSL (the Node fast path) and the portable
 * path accept exactly the same signatures, on the "Taming the many EdDSAs" vectors, on constructed
 * edge cases, and on random mutations of valid signatures; identity keys are prime-order and canonical.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { ed25519, ED25519_TORSION_SUBGROUP } from '@noble/curves/ed25519.js';
import { ed25519Precheck, isValidEd25519PublicKey, verifyEd25519, verifyEd25519Portable } from '../src/crypto/ed25519.js';
import { getNodeCrypto } from '../src/platform/node.js';
import { edgeCases, le, L, T8 } from './ed25519-cases.js';
import { InputError } from '../src/errors.js';
import { formatPublicKeyFile, generateIdentity, parsePublicKeyFile } from '../src/session/identity.js';
import { runPsi } from '../src/session/run-psi.js';
import { createMemoryTransportPair } from '../src/transport/index.js';

const hex = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h, 'hex'));
const spec = JSON.parse(readFileSync(new URL('./vectors/ed25519-speccheck/cases.json', import.meta.url), 'utf8')) as {
  cases: { message: string; pub_key: string; signature: string }[];
};

/** OpenSSL's own verdict, without dataport's prechecks. */
function rawOpenSsl(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  const nc = getNodeCrypto()!;
  try {
    const key = nc.createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), publicKey]), format: 'der', type: 'spki' });
    return nc.verify(null, message, key, signature);
  } catch {
    return false;
  }
}

describe('the Ed25519 rule', () => {
  it('runs on OpenSSL in this test environment (so both paths are compared)', () => {
    expect(getNodeCrypto()).toBeDefined();
  });

  it('speccheck vectors: both paths agree, and accept exactly what OpenSSL accepts under a canonical, non-small-order key', () => {
    const verdicts = spec.cases.map((c) => {
      const [pk, m, sig] = [hex(c.pub_key), hex(c.message), hex(c.signature)];
      const v = verifyEd25519(pk, m, sig);
      expect(verifyEd25519Portable(pk, m, sig)).toBe(v);
      expect(v).toBe(rawOpenSsl(pk, m, sig) && ed25519Precheck(pk, sig));
      return v;
    });
    // Pinned: only case 6 verifies; every other one fails a precheck (small-order or
    // non-canonical key, S >= L) or the cofactorless equation (torsion in R or in the key).
    expect(verdicts.map((v, i) => (v ? i : -1)).filter((i) => i >= 0)).toEqual([6]);
  });

  for (const [name, c] of Object.entries(edgeCases())) {
    it(`${name}: ${c.accept ? 'accepted' : 'refused'} on both paths`, () => {
      expect(verifyEd25519(c.publicKey, c.message, c.signature)).toBe(c.accept);
      expect(verifyEd25519Portable(c.publicKey, c.message, c.signature)).toBe(c.accept);
    });
  }

  it('random signatures and single-bit mutations of them: both paths agree', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ maxLength: 64 }), fc.option(fc.nat(96 * 8 - 1)), (seed, msg, flip) => {
        const pk = ed25519.getPublicKey(seed);
        const sig = ed25519.sign(msg, seed);
        const bytes = new Uint8Array([...pk, ...sig]);
        if (flip !== null) bytes[flip >> 3]! ^= 1 << (flip & 7);
        const [k, s] = [bytes.subarray(0, 32), bytes.subarray(32)];
        const v = verifyEd25519(k, msg, s);
        expect(verifyEd25519Portable(k, msg, s)).toBe(v);
        if (flip === null) expect(v).toBe(true);
      }),
      { numRuns: 60 },
    );
  });

  it('never throws on malformed input', () => {
    expect(verifyEd25519(new Uint8Array(31), new Uint8Array(0), new Uint8Array(64))).toBe(false);
    expect(verifyEd25519(new Uint8Array(32), new Uint8Array(0), new Uint8Array(63))).toBe(false);
    expect(verifyEd25519('x' as unknown as Uint8Array, new Uint8Array(0), new Uint8Array(64))).toBe(false);
  });
});

describe('isValidEd25519PublicKey (identity keys)', () => {
  it('accepts generated keys', () => {
    for (let i = 0; i < 5; i++) expect(isValidEd25519PublicKey(ed25519.getPublicKey(ed25519.utils.randomSecretKey()))).toBe(true);
  });
  it('refuses the 8 small-order points, mixed-order keys, non-canonical encodings and non-points', () => {
    for (const h of ED25519_TORSION_SUBGROUP) expect(isValidEd25519PublicKey(hex(h))).toBe(false);
    const A = ed25519.Point.BASE.multiply(12345n);
    expect(isValidEd25519PublicKey(A.toBytes())).toBe(true);
    expect(isValidEd25519PublicKey(A.add(T8).toBytes())).toBe(false);
    const p = ed25519.Point.Fp.ORDER;
    expect(isValidEd25519PublicKey(le(p + 1n))).toBe(false); // the identity, y = p + 1
    expect(isValidEd25519PublicKey(le(p + 3n))).toBe(false); // y = 3 + p, whatever y = 3 is
    let notOnCurve = 2n;
    for (; ; notOnCurve++) {
      try {
        ed25519.Point.fromBytes(le(notOnCurve), false);
      } catch {
        break;
      }
    }
    expect(isValidEd25519PublicKey(le(notOnCurve))).toBe(false);
    expect(L > 0n).toBe(true);
  });
});

describe('identity parsing refuses small-order, mixed-order and non-canonical keys', () => {
  const small = hex(ED25519_TORSION_SUBGROUP[0]!);
  const mixed = ed25519.Point.BASE.multiply(99n).add(T8).toBytes();
  it('in identity.pub files (keygen output, --peer-key, provider-key folders)', () => {
    const good = ed25519.getPublicKey(ed25519.utils.randomSecretKey());
    expect(parsePublicKeyFile(formatPublicKeyFile(good))).toEqual(good);
    for (const k of [small, mixed, le(ed25519.Point.Fp.ORDER + 1n)]) expect(() => parsePublicKeyFile(formatPublicKeyFile(k))).toThrow(InputError);
  });
  it('in peerPublicKey / allowedPeers (RangeError naming the option)', async () => {
    const [a] = createMemoryTransportPair();
    const identity = generateIdentity();
    const common = { role: 'requester' as const, records: ['x'], transport: a, identity, terms: { reveal: 'requester' as const } };
    await expect(runPsi({ ...common, peerPublicKey: small })).rejects.toThrow(/peerPublicKey/);
    await expect(runPsi({ ...common, allowedPeers: [mixed] })).rejects.toThrow(RangeError);
  });
});
