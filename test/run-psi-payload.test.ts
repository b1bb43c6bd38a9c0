/**
 * `runPsi` with a payload over the in-memory pair: the SDK result (payloads aligned with
 * intersectionRows), the signed terms and receipts, and the refusals on both sides.
 */
import { describe, expect, it } from 'vitest';
import { LimitExceededError, TermsRefusedError } from '../src/errors.js';
import { generateIdentity } from '../src/session/identity.js';
import { runPsi, type PsiPayloadSpec, type PsiTerms } from '../src/session/run-psi.js';
import { createMemoryTransportPair } from '../src/transport/index.js';
import { toHex } from '../src/utils/bytes.js';

const pharma = generateIdentity();
const hospital = generateIdentity();

const A = ['p1', 'P2', 'p3', 'p2', 'p9'];
const B = ['p2', 'p3', 'p4', 'p2', 'p7'];
const Brows = [['ward 1', '10'], ['ward 2', '20'], ['ward 3', '30'], ['ward "4", east', '40'], ['ward 7', '70']];

async function both(terms: PsiTerms, accept: PsiPayloadSpec | undefined, offer: PsiPayloadSpec | undefined) {
  const [a, b] = createMemoryTransportPair();
  return Promise.allSettled([
    runPsi({ role: 'requester', records: A, transport: a, identity: pharma, peerPublicKey: hospital.publicKey, terms, ...(accept ? { payload: accept } : {}) }),
    runPsi({ role: 'responder', records: B, transport: b, identity: hospital, peerPublicKey: pharma.publicKey, ...(offer ? { payload: offer } : {}) }),
  ]);
}

describe('runPsi with payload', () => {
  it('returns every payload row of each matched key, aligned with intersectionRows; receipts record the terms, not values', async () => {
    const [r, s] = await both({ purpose: 'audit' }, { columns: ['ward', 'cost'] }, { columns: ['ward', 'cost'], rows: Brows });
    if (r.status === 'rejected') throw r.reason;
    if (s.status === 'rejected') throw s.reason;
    const req = r.value;
    expect(req.intersectionRows).toEqual([1, 2, 3]);
    expect(req.payloadColumns).toEqual(['ward', 'cost']);
    expect(req.payloads).toEqual([
      [['ward 1', '10'], ['ward "4", east', '40']],
      [['ward 2', '20']],
      [['ward 1', '10'], ['ward "4", east', '40']],
    ]);
    expect(req.payloadRecords).toBe(3);
    expect(s.value.payloads).toBeUndefined();
    const o = req.receipt.body.options;
    expect(o['payload-columns']).toBe('ward,cost');
    expect(o['payload-max-bytes']).toBe('256');
    expect(o['payload-recipient']).toBe(toHex(pharma.publicKey));
    // Reveal requester: the responder must not learn how many of its records were delivered.
    expect(o['payload-records']).toBeUndefined();
    expect(req.receipt).toEqual(s.value.receipt);
  });

  it('delivers the same with the sm2-sm3 suite', async () => {
    const [a, b] = createMemoryTransportPair();
    const [r, s] = await Promise.all([
      runPsi({ role: 'requester', suite: 'sm2-sm3', records: A, transport: a, identity: pharma, peerPublicKey: hospital.publicKey, terms: { purpose: 'audit' }, payload: { columns: ['ward', 'cost'] } }),
      runPsi({ role: 'responder', suite: 'sm2-sm3', records: B, transport: b, identity: hospital, peerPublicKey: pharma.publicKey, payload: { columns: ['ward', 'cost'], rows: Brows } }),
    ]);
    expect(r.payloads).toEqual([
      [['ward 1', '10'], ['ward "4", east', '40']],
      [['ward 2', '20']],
      [['ward 1', '10'], ['ward "4", east', '40']],
    ]);
    expect(s.receipt.body.options['suite']).toBe('sm2-sm3');
  });

  it('records payload-records in the co-signed receipt when both learn the intersection', async () => {
    const [r, s] = await both({ purpose: 'audit', reveal: 'both' }, { columns: ['ward', 'cost'] }, { columns: ['ward', 'cost'], rows: Brows });
    if (r.status === 'rejected') throw r.reason;
    if (s.status === 'rejected') throw s.reason;
    expect(r.value.receipt.body.options['payload-records']).toBe('3');
    expect(s.value.receipt).toEqual(r.value.receipt);
  });

  it('refuses mismatched payload terms on both sides', async () => {
    for (const [accept, offer, reason] of [
      [{ columns: ['ward'] }, undefined, /responder delivers none/],
      [undefined, { columns: ['ward'], rows: Brows.map((x) => [x[0]!]) }, /did not accept/],
      [{ columns: ['cost', 'ward'] }, { columns: ['ward', 'cost'], rows: Brows }, /payloads differ: requester accepts cost,ward/],
      [{ columns: ['ward'], maxBytes: 64 }, { columns: ['ward'], rows: Brows.map((x) => [x[0]!]) }, /payloads differ: requester accepts ward \(64 bytes\); responder delivers ward \(256 bytes\)/],
    ] as const) {
      const results = await both({ purpose: 'audit' }, accept as PsiPayloadSpec | undefined, offer as PsiPayloadSpec | undefined);
      for (const x of results) {
        expect(x.status).toBe('rejected');
        expect((x as PromiseRejectedResult).reason).toBeInstanceOf(TermsRefusedError);
        expect(String((x as PromiseRejectedResult).reason.message)).toMatch(reason);
      }
    }
  });

  it('checks the arguments before the session: purpose, count-only, oversize rows', async () => {
    const [a] = createMemoryTransportPair();
    const common = { records: A, transport: a, identity: pharma, peerPublicKey: hospital.publicKey };
    await expect(runPsi({ ...common, role: 'requester', payload: { columns: ['ward'] } })).rejects.toThrow(/purpose/);
    await expect(runPsi({ ...common, role: 'requester', terms: { purpose: 'x', countOnly: true }, payload: { columns: ['ward'] } })).rejects.toThrow(/countOnly/);
    await expect(runPsi({ ...common, role: 'responder', payload: { columns: ['ward'], rows: A.map(() => ['x'.repeat(300)]) } })).rejects.toThrow(LimitExceededError);
    await expect(runPsi({ ...common, role: 'responder', payload: { columns: ['a,b'], rows: A.map(() => ['x']) } })).rejects.toThrow(/without commas/);
  });
});

describe('runPsi with a fingerprinted payload (payload.tolerance)', () => {
  const rows = B.map((_, i) => [`ward ${i}`, (1000 + i * 37.123).toFixed(3)]);

  it('marks the tolerance columns for the authenticated requester, reports the release before delivery, and keeps values within the tolerance', async () => {
    const releases: { recipient: string; tolerance: Record<string, string>; keyColumns: string[]; rows: number; purpose: string }[] = [];
    const [a, b] = createMemoryTransportPair();
    const [r] = await Promise.all([
      runPsi({ role: 'requester', records: A, transport: a, identity: pharma, peerPublicKey: hospital.publicKey, terms: { purpose: 'audit' }, payload: { columns: ['ward', 'cost'], tolerance: { cost: '0.01' } } }),
      runPsi({
        role: 'responder', records: B, keySchema: { columns: ['patient_id'] }, transport: b, identity: hospital, peerPublicKey: pharma.publicKey,
        payload: { columns: ['ward', 'cost'], rows, tolerance: { cost: '0.01' }, onRelease: ({ record, purpose }) => void releases.push({ recipient: toHex(record.recipient), tolerance: record.tolerance, keyColumns: record.keyColumns, rows: record.rows, purpose }) },
      }),
    ]);
    expect(releases).toEqual([{ recipient: toHex(pharma.publicKey), tolerance: { cost: '0.01' }, keyColumns: ['patient_id'], rows: 5, purpose: 'audit' }]);
    expect(r.receipt.body.options['payload-tolerance']).toBe('cost=0.01');
    // Every delivered cost on the 0.01 grid and within 0.01 of the original; the ward unchanged.
    const flat = r.payloads!.flat();
    for (const [ward, cost] of flat) {
      const src = rows.find((x) => x[0] === ward)!;
      expect(cost).toMatch(/^\d+\.\d{2}$/);
      expect(Math.abs(Number(cost) - Number(src[1]))).toBeLessThanOrEqual(0.01 + 1e-9);
    }
  });

  it('refuses a tolerance that differs between the sides, and a marked release without onRelease or beyond the padded size', async () => {
    const [r, s] = await both({ purpose: 'audit' }, { columns: ['ward', 'cost'] }, { columns: ['ward', 'cost'], rows, tolerance: { cost: '0.01' }, onRelease: () => {} });
    expect(r.status).toBe('rejected');
    expect(s.status).toBe('rejected');
    expect((r as PromiseRejectedResult).reason).toBeInstanceOf(TermsRefusedError);
    expect(String((r as PromiseRejectedResult).reason.message)).toMatch(/responder delivers ward,cost \(256 bytes, tolerance cost=0\.01\)/);
    const [a] = createMemoryTransportPair();
    await expect(runPsi({ role: 'responder', records: B, transport: a, identity: hospital, peerPublicKey: pharma.publicKey, payload: { columns: ['ward', 'cost'], rows, tolerance: { cost: '0.01' } } })).rejects.toThrow(/onRelease/);
    // '9.99' fits 8 bytes as given (2 + 2 + 4), but one of its marked forms is '10.00' (2 + 2 + 5 = 9): refused before the session.
    await expect(
      runPsi({ role: 'responder', records: ['k'], transport: a, identity: hospital, peerPublicKey: pharma.publicKey, payload: { columns: ['cost'], rows: [['9.99']], maxBytes: 8, tolerance: { cost: '0.01' }, onRelease: () => {} } }),
    ).rejects.toThrow(LimitExceededError);
  });
});
