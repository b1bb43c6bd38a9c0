import { describe, expect, it } from 'vitest';
import { createGroup } from '../src/crypto/group.js';
import { encodeToCurveBatch } from '../src/crypto/hash-to-curve.js';
import { clampedScalarModOrder, generateOprfBlind, GROUP_ORDER } from '../src/crypto/oprf.js';
import { generateScalar } from '../src/crypto/scalar.js';

const te = new TextEncoder();

describe('EC-OPRF blinding on the X25519 group', () => {
  it('unblind(k·blind(H(x))) = k·H(x) on every backend', async () => {
    const records = Array.from({ length: 8 }, (_, i) => te.encode(`11010119900307${String(i).padStart(4, '0')}`));
    const hashed = encodeToCurveBatch(records, new Uint8Array(16));
    const noble = await createGroup('noble');
    const fast = await createGroup();
    for (let trial = 0; trial < 4; trial++) {
      const k = generateScalar();
      const direct = await noble.multiplyBatch(k, hashed);
      const { blind, unblind } = generateOprfBlind();
      const blinded = await fast.multiplyBatch(blind, hashed);
      expect(blinded).not.toEqual(hashed);
      const evaluated = await fast.multiplyBatch(k, blinded);
      expect(await noble.multiplyBatch(unblind, evaluated)).toEqual(direct);
      expect(await fast.multiplyBatch(unblind, evaluated)).toEqual(direct);
    }
  });

  it('the unblinding scalar is the inverse of the blinding one mod the group order', () => {
    for (let i = 0; i < 16; i++) {
      const { blind, unblind } = generateOprfBlind();
      expect((clampedScalarModOrder(blind) * clampedScalarModOrder(unblind)) % GROUP_ORDER).toBe(1n);
      expect(unblind[0]! & 7).toBe(0);
      expect(unblind[31]! & 0xc0).toBe(0x40);
    }
  });

  it('a wrong unblinding scalar does not give k·H(x)', async () => {
    const g = await createGroup();
    const hashed = encodeToCurveBatch([te.encode('a')], new Uint8Array(0));
    const k = generateScalar();
    const a = generateOprfBlind();
    const b = generateOprfBlind();
    const evaluated = await g.multiplyBatch(k, await g.multiplyBatch(a.blind, hashed));
    expect(await g.multiplyBatch(b.unblind, evaluated)).not.toEqual(await g.multiplyBatch(k, hashed));
  });
});
