import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DataportError, GuardrailRefusedError, InputError, LimitExceededError, TermsRefusedError } from '../src/errors.js';
import { formatFixedPoint, divideToDecimal } from '../src/he/fixed-point.js';
import { createInlineExecutor } from '../src/protocols/executor.js';
import { normalizeKey } from '../src/protocols/psi/normalize.js';
import {
  PSI_SUM_HE_MEMORY_BUDGET,
  estimatePsiSumHeMemory,
  createPsiSumIdHolder,
  createPsiSumValueHolder,
  type PsiSumMachine,
  type PsiSumPartyOutcome,
} from '../src/protocols/psi-sum/index.js';
import { runPsiSum, type RunPsiSumOptions, type RunPsiSumResult } from '../src/session/index.js';
import { aggregateValueRows } from '../src/protocols/psi-sum/values.js';
import { generateIdentity } from '../src/session/identity.js';
import { createMemoryTransportPair } from '../src/transport/memory.js';
import type { UsageReceipt } from '../src/ledger/receipt-types.js';

const pharma = generateIdentity();
const hospital = generateIdentity();

interface Scenario {
  ids: string[];
  valueKeys: string[];
  values: string[][];
  columns: { name: string; decimals?: number; bound?: string }[];
  terms?: RunPsiSumOptions['terms'];
  policy?: RunPsiSumOptions['policy'];
  /** Which side connects (requester): the ID holder (default) or the value holder. */
  requester?: 'ids' | 'values';
}

async function run(s: Scenario): Promise<{ ids: RunPsiSumResult; values: RunPsiSumResult; receipts: UsageReceipt[] }> {
  const [a, b] = createMemoryTransportPair();
  const receipts: UsageReceipt[] = [];
  const idsRole = (s.requester ?? 'ids') === 'ids' ? 'requester' : 'responder';
  const valuesRole = idsRole === 'requester' ? 'responder' : 'requester';
  const idsOpts: RunPsiSumOptions = {
    role: idsRole,
    records: s.ids,
    transport: idsRole === 'requester' ? a : b,
    identity: pharma,
    peerPublicKey: hospital.publicKey,
    onReceipt: (r) => void receipts.push(r),
    ...(idsRole === 'requester' ? { terms: s.terms ?? {} } : { policy: s.policy ?? {} }),
  };
  const valuesOpts: RunPsiSumOptions = {
    role: valuesRole,
    records: s.valueKeys,
    values: { columns: s.columns, rows: s.values },
    transport: valuesRole === 'requester' ? a : b,
    identity: hospital,
    peerPublicKey: pharma.publicKey,
    onReceipt: (r) => void receipts.push(r),
    ...(valuesRole === 'requester' ? { terms: s.terms ?? {} } : { policy: s.policy ?? {} }),
  };
  const [ids, values] = await Promise.all([runPsiSum(idsOpts), runPsiSum(valuesOpts)]);
  return { ids, values, receipts };
}

/** The plain computation: per column, exact sum over every value-holder row whose key is in the ID set. */
function plain(s: Scenario): { count: number; sums: bigint[]; decimals: number[] } {
  const idSet = new Set(s.ids.map((x) => normalizeKey([x])).filter((k) => k !== undefined).map((k) => Buffer.from(k!).toString('hex')));
  const agg = aggregateValueRows(
    s.valueKeys.map((k) => normalizeKey([k])),
    s.values,
    s.columns,
  );
  const sums = agg.columns.map(() => 0n);
  let count = 0;
  agg.keys.forEach((k, i) => {
    if (!idSet.has(Buffer.from(k).toString('hex'))) return;
    count++;
    agg.columns.forEach((_, c) => (sums[c] = sums[c]! + agg.totals[c]![i]!));
  });
  return { count, sums, decimals: agg.columns.map((c) => c.decimals) };
}

/** Passes frames between two sans-I/O machines directly: no transport at all. */
async function pump(a: PsiSumMachine, b: PsiSumMachine): Promise<[PsiSumPartyOutcome, PsiSumPartyOutcome]> {
  const toA: Uint8Array[] = [];
  const toB: Uint8Array[] = [];
  let ra = await a.next(undefined);
  let rb = await b.next(undefined);
  while (!ra.done || !rb.done) {
    let moved = false;
    if (!ra.done) {
      if ('send' in ra.value) (toB.push(ra.value.send), (ra = await a.next(undefined)), (moved = true));
      else if (toA.length > 0) (ra = await a.next(toA.shift())), (moved = true);
    }
    if (!rb.done) {
      if ('send' in rb.value) (toA.push(rb.value.send), (rb = await b.next(undefined)), (moved = true));
      else if (toB.length > 0) (rb = await b.next(toB.shift())), (moved = true);
    }
    if (!moved) throw new Error('both machines wait for a frame');
  }
  return [ra.value, rb.value];
}

describe('psi-sum state machines (sans-I/O)', () => {
  it('two machines exchange frames with no transport and compute the exact sums', async () => {
    const executor = await createInlineExecutor();
    const enc = new TextEncoder();
    const ekm = new Uint8Array(32).fill(3);
    const options = { minCohort: 0, revealToIdHolder: true, revealToValueHolder: true };
    const [i, v] = await pump(
      createPsiSumIdHolder({ ekm, executor, options, peerSetSize: 3, keys: ['a', 'b', 'q'].map((k) => enc.encode(k)) }),
      createPsiSumValueHolder({
        ekm,
        executor,
        options,
        peerSetSize: 3,
        input: { keys: ['a', 'b', 'c'].map((k) => enc.encode(k)), columns: [{ name: 'v', decimals: 0, bound: 100n }], totals: [[10n, -3n, 50n]] },
      }),
    );
    expect(i.count).toBe(2n);
    expect(i.sums).toEqual([7n]);
    expect(v.sums).toEqual([7n]);
    expect(v.count).toBe(2n);
    await executor.close();
  }, 300_000);
});

describe('psi-sum memory: bounded by the declared sizes, refused up front beyond the budget', () => {
  it('the largest declared job (2^23 keys × 16 columns) fits the default budget; the old arrangement would not', () => {
    const big = { valueKeys: 1 << 23, columns: 16 };
    for (const workers of [0, 2, 8]) {
      expect(estimatePsiSumHeMemory({ holder: 'values', ...big, workers })).toBeLessThan(PSI_SUM_HE_MEMORY_BUDGET);
      expect(estimatePsiSumHeMemory({ holder: 'ids', ...big, workers })).toBeLessThan(PSI_SUM_HE_MEMORY_BUDGET);
    }
    // Streaming: V's working set does not grow with the number of blocks.
    const at = (valueKeys: number) => estimatePsiSumHeMemory({ holder: 'values', valueKeys, columns: 16, workers: 0 });
    expect(at(1 << 23)).toBe(at(8192));
    // Version 1 loaded every column's blocks on I: 16 × 1024 ciphertexts of 2 × 2 × 8192 × 8 bytes.
    expect(16 * 1024 * 2 * 2 * 8192 * 8).toBeGreaterThan(PSI_SUM_HE_MEMORY_BUDGET);
  });

  it('a job beyond heMemoryBudget is refused before anything is sent (V: InputError; I: LimitExceededError at SETUP)', async () => {
    const executor = await createInlineExecutor();
    const enc = new TextEncoder();
    const ekm = new Uint8Array(32).fill(4);
    const options = { minCohort: 0, revealToIdHolder: true, revealToValueHolder: true };
    const input = { keys: ['a', 'b'].map((k) => enc.encode(k)), columns: [{ name: 'v', decimals: 0, bound: 10n }], totals: [[1n, 2n]] };
    const need = estimatePsiSumHeMemory({ holder: 'values', valueKeys: 2, columns: 1, workers: 0 });
    expect(() => createPsiSumValueHolder({ ekm, executor, options, peerSetSize: 1, input, heMemoryBudget: need - 1 })).toThrow(InputError);
    expect(() => createPsiSumValueHolder({ ekm, executor, options, peerSetSize: 1, input, heMemoryBudget: need - 1 })).toThrow(/heMemoryBudget/);
    expect(() => createPsiSumValueHolder({ ekm, executor, options, peerSetSize: 1, input, heMemoryBudget: 0 })).toThrow(RangeError);
    // I learns the sizes from V's SETUP and refuses there, before any point is sent.
    const v = createPsiSumValueHolder({ ekm, executor, options, peerSetSize: 1, input });
    const setupFrame = (await v.next(undefined)).value as { send: Uint8Array };
    await v.return(undefined as never);
    const i = createPsiSumIdHolder({ ekm, executor, options, peerSetSize: 2, keys: [enc.encode('a')], heMemoryBudget: 1000 });
    await i.next(undefined);
    await expect(i.next(setupFrame.send)).rejects.toBeInstanceOf(LimitExceededError);
    await executor.close();
  }, 120_000);
});

describe('runPsiSum over the in-memory transport', () => {
  it('hospital example: count, exact sums and means to both; duplicated keys sum all rows; receipts agree', async () => {
    const s: Scenario = {
      ids: ['110101199003070011', '11010119900307002X', '330101198001010099', '  440101198001010033 '],
      valueKeys: ['11010119900307002x', '440101198001010033', '440101198001010033', '999999999999999999'],
      values: [
        ['1200.50', '1'],
        ['80.00', '0'],
        ['-19.99', '1'],
        ['5000.00', '1'],
      ],
      columns: [{ name: 'cost_yuan' }, { name: 'adverse_event' }],
    };
    const { ids, values, receipts } = await run(s);
    expect(ids.intersectionSize).toBe(2);
    expect(values.intersectionSize).toBe(2);
    expect(ids.sums).toEqual({ cost_yuan: '1260.51', adverse_event: '2' });
    expect(values.sums).toEqual(ids.sums);
    expect(ids.means).toEqual({ cost_yuan: '630.26', adverse_event: '1.00' });
    expect(ids.holder).toBe('ids');
    expect(values.holder).toBe('values');
    expect(receipts).toHaveLength(2);
    expect(receipts[0]!.body).toEqual(receipts[1]!.body);
    expect(receipts[0]!.body.protocol).toBe('psi-sum');
    expect(receipts[0]!.body.outcome).toBe('completed');
    expect(receipts[0]!.body.outputSizes).toEqual({ requester: 2, responder: 2 });
  }, 300_000);

  it('property: results equal the plaintext computation exactly (negatives, zeros, the largest declared values)', async () => {
    const bound = '99999.99';
    const idArb = fc.integer({ min: 0, max: 40 }).map((i) => `id-${i}`);
    const cents = fc.oneof(fc.constant(9999999n), fc.constant(-9999999n), fc.constant(0n), fc.bigInt({ min: -9999999n, max: 9999999n }));
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(idArb, { maxLength: 25 }),
        fc.array(fc.tuple(idArb, cents, fc.integer({ min: -3, max: 3 })), { maxLength: 30 }),
        fc.boolean(),
        async (ids, rows, valuesConnects) => {
          // Keep every key total within the bound: drop rows that would push one beyond it.
          const totals = new Map<string, bigint>();
          const kept = rows.filter(([k, v]) => {
            const t = (totals.get(k) ?? 0n) + v;
            if (t > 9999999n || t < -9999999n) return false;
            totals.set(k, t);
            return true;
          });
          const s: Scenario = {
            ids,
            valueKeys: kept.map((r) => r[0]),
            values: kept.map(([, v, n]) => [formatFixedPoint(v, 2), String(n)]),
            columns: [
              { name: 'cost', decimals: 2, bound },
              { name: 'n', decimals: 0, bound: '1000' },
            ],
            requester: valuesConnects ? 'values' : 'ids',
          };
          const expected = plain(s);
          const { ids: I, values: V } = await run(s);
          expect(I.intersectionSize).toBe(expected.count);
          expect(V.intersectionSize).toBe(expected.count);
          const want = { cost: formatFixedPoint(expected.sums[0]!, 2), n: formatFixedPoint(expected.sums[1]!, 0) };
          expect(I.sums).toEqual(want);
          expect(V.sums).toEqual(want);
          if (expected.count > 0) expect(I.means!['cost']).toBe(divideToDecimal(expected.sums[0]!, BigInt(expected.count) * 100n, 2));
          else expect(I.means!['cost']).toBeNull();
        },
      ),
      { numRuns: 6 },
    );
  }, 600_000);

  it('reveal=requester with the ID holder requesting: the value holder learns neither sums nor count', async () => {
    const s: Scenario = {
      ids: ['a', 'b', 'c'],
      valueKeys: ['a', 'b', 'z'],
      values: [['10'], ['-4'], ['7']],
      columns: [{ name: 'v' }],
      terms: { reveal: 'requester' },
    };
    const { ids, values, receipts } = await run(s);
    expect(ids.sums).toEqual({ v: '6' });
    expect(ids.intersectionSize).toBe(2);
    expect(values.sums).toBeUndefined();
    expect(values.intersectionSize).toBeUndefined();
    // The receipt V keeps must not carry the count the terms withhold from V: the sole
    // recipient's output size is left out of the co-signed body.
    expect(receipts[0]!.body.outputSizes).toEqual({ responder: 0 });
  }, 300_000);

  it('reveal=requester with the value holder requesting: only it receives the sums', async () => {
    const s: Scenario = {
      ids: ['a', 'b', 'c'],
      valueKeys: ['a', 'b', 'z'],
      values: [['10'], ['-4'], ['7']],
      columns: [{ name: 'v' }],
      terms: { reveal: 'requester' },
      requester: 'values',
    };
    const { ids, values } = await run(s);
    expect(values.sums).toEqual({ v: '6' });
    expect(values.intersectionSize).toBe(2);
    expect(ids.sums).toBeUndefined();
  }, 300_000);

  it('min-cohort: below k the sums are withheld on both sides, with a withheld receipt', async () => {
    const s: Scenario = {
      ids: ['a', 'b'],
      valueKeys: ['a', 'b', 'c'],
      values: [['1'], ['2'], ['3']],
      columns: [{ name: 'v' }],
      terms: { minCohort: 3 },
    };
    const receipts: UsageReceipt[] = [];
    const [a, b] = createMemoryTransportPair();
    const results = await Promise.allSettled([
      runPsiSum({ role: 'requester', records: s.ids, transport: a, identity: pharma, peerPublicKey: hospital.publicKey, terms: s.terms!, onReceipt: (r) => void receipts.push(r) }),
      runPsiSum({
        role: 'responder',
        records: s.valueKeys,
        values: { columns: s.columns, rows: s.values },
        transport: b,
        identity: hospital,
        peerPublicKey: pharma.publicKey,
        onReceipt: (r) => void receipts.push(r),
      }),
    ]);
    for (const r of results) {
      expect(r.status).toBe('rejected');
      expect((r as PromiseRejectedResult).reason).toBeInstanceOf(GuardrailRefusedError);
    }
    expect(receipts).toHaveLength(2);
    expect(receipts[0]!.body.outcome).toBe('withheld');
    expect(receipts[0]!.body.guardrails).toContainEqual({ rule: 'min-cohort', outcome: 'withheld', detail: 'k=3' });
    expect(receipts[0]!.body.outputSizes).toEqual({ requester: 0, responder: 0 });
  }, 300_000);

  it('min-cohort: at k the result is released and the decision recorded as passed', async () => {
    const { ids, receipts } = await run({ ids: ['a', 'b'], valueKeys: ['a', 'b'], values: [['1'], ['2']], columns: [{ name: 'v' }], terms: { minCohort: 2 } });
    expect(ids.sums).toEqual({ v: '3' });
    expect(receipts[0]!.body.guardrails).toContainEqual({ rule: 'min-cohort', outcome: 'passed', detail: 'k=2' });
  }, 300_000);

  it('DP: noise is applied to released count and sums, epsilon recorded in the receipt', async () => {
    const keys = Array.from({ length: 40 }, (_, i) => `k${i}`);
    const s: Scenario = {
      ids: keys,
      valueKeys: keys,
      values: keys.map(() => ['100']),
      columns: [{ name: 'v', bound: '100' }],
      terms: { dpEpsilon: '0.05' },
    };
    const { ids, values, receipts } = await run(s);
    expect(ids.intersectionSize).toBe(40); // I learns the exact count (inherent; docs/psi-sum.md)
    expect(ids.dp).toEqual({ epsilon: '0.05', epsilonPerStatistic: '0.025' });
    expect(receipts[0]!.body.options['dp-epsilon']).toBe('0.05');
    expect(receipts[0]!.body.guardrails).toContainEqual({ rule: 'dp-noise', outcome: 'applied', detail: 'epsilon=0.05' });
    // Scale Δ/ε = 100/0.025 = 4000 (sum) and 40 (count): exact values are very unlikely
    // (P ≈ tanh(ε/2Δ) ≤ 1.3 %); at least one of the three released statistics differs.
    const exact = ids.sums!['v'] === '4000' && values.sums!['v'] === '4000' && values.intersectionSize === 40;
    expect(exact).toBe(false);
    expect(Number.isInteger(Number(ids.sums!['v']))).toBe(true);
  }, 300_000);

  it('refuses before encryption: value beyond its bound, too many decimals, a sum that could wrap', async () => {
    const base = { ids: ['a'], valueKeys: ['a', 'b'], columns: [{ name: 'v', decimals: 2, bound: '10' }] };
    await expect(run({ ...base, values: [['10.01'], ['1']] })).rejects.toBeInstanceOf(InputError);
    await expect(run({ ...base, values: [['1.001'], ['1']] })).rejects.toThrow(/decimal places/);
    // Two rows of one key: each within the bound, the key total beyond it.
    await expect(run({ ...base, valueKeys: ['a', 'a'], values: [['6'], ['6']] })).rejects.toThrow(/total exceeds the declared bound/);
    // Bound so large that |Y| × bound cannot fit the largest plaintext modulus.
    await expect(
      run({ ids: ['a'], valueKeys: ['a', 'b'], values: [['1'], ['2']], columns: [{ name: 'v', decimals: 0, bound: String(2n ** 60n) }] }),
    ).rejects.toThrow(/could wrap/);
  }, 300_000);

  it('refuses when both or neither party holds values, and when the listener demands DP', async () => {
    const [a, b] = createMemoryTransportPair();
    const both = await Promise.allSettled([
      runPsiSum({ role: 'requester', records: ['a'], values: { columns: [{ name: 'v' }], rows: [['1']] }, transport: a, identity: pharma, peerPublicKey: hospital.publicKey }),
      runPsiSum({ role: 'responder', records: ['a'], values: { columns: [{ name: 'v' }], rows: [['1']] }, transport: b, identity: hospital, peerPublicKey: pharma.publicKey }),
    ]);
    for (const r of both) expect((r as PromiseRejectedResult).reason).toBeInstanceOf(TermsRefusedError);
    await expect(
      run({ ids: ['a'], valueKeys: ['a'], values: [['1']], columns: [{ name: 'v' }], requester: 'ids', policy: { maxDpEpsilon: '1' } }),
    ).rejects.toBeInstanceOf(TermsRefusedError);
  }, 300_000);

  it('a requester set size above the listener cap is refused before any buffer is sized by it', async () => {
    await expect(
      run({ ids: ['a', 'b', 'c'], valueKeys: ['a'], values: [['1']], columns: [{ name: 'v' }], policy: { maxPeerSetSize: 2 } }),
    ).rejects.toBeInstanceOf(TermsRefusedError);
  }, 300_000);

  it('abort mid-run (after the SETUP arrives): both sides end with a typed error, no hang', async () => {
    const [a, b] = createMemoryTransportPair();
    const ac = new AbortController();
    // Deterministic: abort the ID holder the moment V's SETUP (session DATA 0x10, psi-sum 0x51) arrives.
    const tapped = {
      stats: a.stats,
      send: (f: Uint8Array, s?: AbortSignal) => a.send(f, s),
      close: (r?: string) => a.close(r),
      async receive(s?: AbortSignal) {
        const f = await a.receive(s);
        if (f[0] === 0x10 && f[1] === 0x51) ac.abort();
        return f;
      },
    };
    const results = await Promise.allSettled([
      runPsiSum({ role: 'requester', records: ['a', 'b'], transport: tapped, identity: pharma, peerPublicKey: hospital.publicKey, signal: ac.signal }),
      runPsiSum({
        role: 'responder',
        records: ['a', 'c'],
        values: { columns: [{ name: 'v' }], rows: [['1'], ['2']] },
        transport: b,
        identity: hospital,
        peerPublicKey: pharma.publicKey,
      }),
    ]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect((results[0] as PromiseRejectedResult).reason).toBeInstanceOf(DataportError);
    expect((results[1] as PromiseRejectedResult).reason).toBeInstanceOf(DataportError);
  }, 300_000);

  it('beforeRun (e.g. a ledger query budget) can refuse the run on the listener', async () => {
    const [a, b] = createMemoryTransportPair();
    const results = await Promise.allSettled([
      runPsiSum({ role: 'requester', records: ['a'], transport: a, identity: pharma, peerPublicKey: hospital.publicKey }),
      runPsiSum({
        role: 'responder',
        records: ['a'],
        values: { columns: [{ name: 'v' }], rows: [['1']] },
        transport: b,
        identity: hospital,
        peerPublicKey: pharma.publicKey,
        beforeRun: () => {
          throw new TermsRefusedError('query budget for this counterparty exhausted');
        },
      }),
    ]);
    for (const r of results) expect((r as PromiseRejectedResult).reason).toBeInstanceOf(TermsRefusedError);
    expect(String((results[0] as PromiseRejectedResult).reason.message)).toMatch(/budget/);
  }, 300_000);

  it('empty intersection and empty sets', async () => {
    const r1 = await run({ ids: ['x'], valueKeys: ['y'], values: [['5']], columns: [{ name: 'v' }] });
    expect(r1.ids.intersectionSize).toBe(0);
    expect(r1.ids.sums).toEqual({ v: '0' });
    expect(r1.ids.means).toEqual({ v: null });
    const r2 = await run({ ids: [], valueKeys: [], values: [], columns: [{ name: 'v' }] });
    expect(r2.values.intersectionSize).toBe(0);
  }, 300_000);

  it('uses an injected executor and reports wire bytes', async () => {
    const executor = await createInlineExecutor();
    const [a, b] = createMemoryTransportPair();
    const [I] = await Promise.all([
      runPsiSum({ role: 'requester', records: ['a', 'b'], transport: a, identity: pharma, peerPublicKey: hospital.publicKey, executor }),
      runPsiSum({ role: 'responder', records: ['a'], values: { columns: [{ name: 'v' }], rows: [['2']] }, transport: b, identity: hospital, peerPublicKey: pharma.publicKey, executor }),
    ]);
    expect(I.stats.bytesReceived).toBeGreaterThan(100_000); // public key + one ciphertext
    expect(I.stats.plainModulusBits).toBeGreaterThanOrEqual(20);
    await executor.close();
  }, 300_000);
});
