import { describe, expect, it } from 'vitest';
import * as fc from 'fast-check';
import { createMemoryTransportPair, type MemoryTransport } from '../src/transport/memory.js';
import {
  AbortReason,
  AggregateMessageType,
  aggregateLayout,
  computeLocalAggregates,
  createAggregator,
  createAnalyst,
  decodeAggregateMessage,
  decodeAggregateQuery,
  encodeAggregateMessage,
  encodeAggregateQuery,
  parseAggregateQuery,
  runAggregator,
  runAnalyst,
  runProvider,
  type AggregateQuery,
  type AggregateResult,
} from '../src/protocols/aggregate/index.js';
import { InputError, MalformedMessageError, TimeoutError, TransportClosedError } from '../src/errors.js';
import { formatFixedPoint } from '../src/he/fixed-point.js';

type Row = Record<string, string>;

const baseQuery = (over: Record<string, unknown> = {}): AggregateQuery =>
  parseAggregateQuery({
    version: 1,
    id: 'ward-stats-test',
    columns: [
      { name: 'cost', type: 'decimal', decimals: 2, min: '-5000.00', max: '1000000.00' },
      { name: 'age', type: 'integer', min: '0', max: '120' },
    ],
    groupBy: { column: 'ward', categories: ['cardiology', 'oncology', 'surgery'] },
    statistics: [
      { type: 'count' },
      { type: 'sum', column: 'cost' },
      { type: 'mean', column: 'cost' },
      { type: 'histogram', column: 'age', bins: ['0', '18', '65', '120'] },
    ],
    maxRowsPerProvider: 1000,
    providers: 3,
    ...over,
  });

async function runRound(query: AggregateQuery, data: Row[][], opts: { drop?: number[]; timeoutMs?: number; stall?: number[] } = {}) {
  const [analystEnd, aggAnalystEnd] = createMemoryTransportPair();
  const pairs = data.map(() => createMemoryTransportPair());
  const aggregator = runAggregator({ analyst: aggAnalystEnd, providers: pairs.map((p) => p[1]), timeoutMs: opts.timeoutMs ?? 60_000 });
  const providers = data.map((rows, i) => {
    const end: MemoryTransport = pairs[i]![0];
    if (opts.drop?.includes(i)) {
      end.destroy();
      return Promise.resolve('dropped' as const);
    }
    if (opts.stall?.includes(i)) return end.receive().then(() => 'stalled' as const); // never answers
    return runProvider(end, { rows: () => rows }).catch((e: unknown) => e);
  });
  const analyst = runAnalyst(analystEnd, { query }).catch((e: unknown) => e);
  const [outcome, result, ...provided] = await Promise.all([aggregator, analyst, ...providers]);
  return { outcome, result: result as AggregateResult | Error, provided };
}

function plainStats(query: AggregateQuery, data: Row[][]) {
  const all = data.flat();
  const cats = query.groupBy!.categories;
  return cats.map((c) => {
    const rows = all.filter((r) => r.ward === c);
    const cents = rows.reduce((s, r) => s + BigInt(r.cost!.replace('.', '')), 0n);
    return { count: rows.length, sum: formatFixedPoint(cents, 2), ages: rows.map((r) => Number(r.age)) };
  });
}

const rowArb = fc.record({
  ward: fc.constantFrom('cardiology', 'oncology', 'surgery'),
  cost: fc.oneof(fc.constantFrom(-500000n, 0n, 100000000n), fc.bigInt({ min: -500000n, max: 100000000n })).map((c) => formatFixedPoint(c, 2)),
  age: fc.integer({ min: 0, max: 120 }).map(String),
});

describe('aggregation query', () => {
  it('has a canonical encoding and a layout', () => {
    const q = baseQuery();
    const bytes = encodeAggregateQuery(q);
    expect(decodeAggregateQuery(bytes)).toEqual(q);
    const layout = aggregateLayout(q);
    expect(layout.perGroup).toBe(1 + 1 + 3);
    expect(layout.slots).toBe(15);
    expect(layout.meaning(6)).toEqual({ kind: 'sum', group: 1, column: 'cost' });
    const spaced = new TextEncoder().encode(JSON.stringify(JSON.parse(new TextDecoder().decode(bytes)), null, 1));
    expect(() => decodeAggregateQuery(spaced)).toThrow(MalformedMessageError);
  });

  it('rejects invalid queries', () => {
    const bad: Record<string, unknown>[] = [
      { version: 2 },
      { providers: 1 },
      { quorum: 4 },
      { quorum: 1 },
      { statistics: [{ type: 'sum', column: 'nope' }] },
      { statistics: [{ type: 'histogram', column: 'age', bins: ['10', '120'] }] },
      { statistics: [{ type: 'median', column: 'age' }] },
      { extra: true },
      { dp: { epsilon: '0' } },
      { columns: [{ name: 'x', type: 'decimal', decimals: 2, min: '0.001', max: '1' }], statistics: [{ type: 'count' }] },
    ];
    for (const b of bad) expect(() => baseQuery(b)).toThrow(MalformedMessageError);
  });

  it('local aggregates refuse bad rows before anything is encrypted', () => {
    const q = baseQuery();
    const ok = { ward: 'oncology', cost: '12.50', age: '40' };
    expect(computeLocalAggregates(q, [ok]).slice(5, 10)).toEqual([1n, 1250n, 0n, 1n, 0n]);
    for (const row of [
      { ...ok, cost: '12.505' }, // more places than declared: refused, never rounded
      { ...ok, cost: '1000000.01' },
      { ...ok, cost: '-5000.01' },
      { ...ok, age: '121' },
      { ...ok, ward: 'dermatology' },
      { ward: 'oncology', age: '3' },
    ]) {
      expect(() => computeLocalAggregates(q, [row])).toThrow(InputError);
    }
    expect(() => computeLocalAggregates(baseQuery({ maxRowsPerProvider: 2 }), [ok, ok, ok])).toThrow(InputError);
  });
});

describe('aggregation messages', () => {
  it('round-trip, and arbitrary bytes only ever throw MalformedMessageError', () => {
    const msgs = [
      { type: AggregateMessageType.QUERY, query: new Uint8Array([1, 2]), publicKey: new Uint8Array([3]) },
      { type: AggregateMessageType.CONTRIBUTION, ciphertext: new Uint8Array(10) },
      { type: AggregateMessageType.TOTAL, contributors: 2, expected: 3, noiseAdded: true, ciphertext: new Uint8Array(5) },
      { type: AggregateMessageType.DONE, contributors: 3 },
      { type: AggregateMessageType.ABORT, reason: AbortReason.TIMEOUT },
      { type: AggregateMessageType.JOIN },
    ] as const;
    for (const m of msgs) {
      const f = encodeAggregateMessage(m);
      expect(decodeAggregateMessage(f)).toEqual(m);
      if (f.length > 2) expect(() => decodeAggregateMessage(f.subarray(0, f.length - 1))).toThrow(MalformedMessageError);
      expect(() => decodeAggregateMessage(new Uint8Array([...f, 0]))).toThrow(MalformedMessageError);
    }
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        try {
          decodeAggregateMessage(bytes);
        } catch (e) {
          expect(e).toBeInstanceOf(MalformedMessageError);
        }
      }),
    );
    // A declared length beyond the limit is refused before allocation.
    expect(() => decodeAggregateMessage(new Uint8Array([3, 1, 0xff, 0xff, 0xff, 0xff]))).toThrow(MalformedMessageError);
  });
});

describe('aggregation rounds over memory transports', () => {
  it('decrypted totals equal plaintext statistics exactly, to the cent', async () => {
    const data = fc.sample(fc.array(rowArb, { minLength: 0, maxLength: 40 }), 3);
    data[0]!.push({ ward: 'surgery', cost: '1000000.00', age: '120' }, { ward: 'surgery', cost: '-5000.00', age: '0' });
    const q = baseQuery();
    const { outcome, result, provided } = await runRound(q, data);
    expect(outcome).toMatchObject({ status: 'completed', contributors: 3, included: [0, 1, 2] });
    for (const p of provided) expect(p).toMatchObject({ contributors: 3, queryId: 'ward-stats-test' });
    if (result instanceof Error) throw result;
    const plain = plainStats(q, data);
    expect(result.contributors).toBe(3);
    result.groups.forEach((g, i) => {
      expect(g.withheld).toBe(false);
      if (g.withheld) return;
      const want = plain[i]!;
      expect(g.statistics[0]).toEqual({ type: 'count', value: String(want.count) });
      expect(g.statistics[1]).toEqual({ type: 'sum', column: 'cost', value: want.sum });
      const hist = [0, 0, 0];
      for (const a of want.ages) hist[a < 18 ? 0 : a < 65 ? 1 : 2]!++;
      expect(g.statistics[3]).toEqual({ type: 'histogram', column: 'age', bins: ['0', '18', '65', '120'], counts: hist.map(String) });
    });
  });

  it('withholds groups below the minimum cohort and says so', async () => {
    const rows = (ward: string, n: number) => Array.from({ length: n }, () => ({ ward, cost: '10.00', age: '30' }));
    const data = [[...rows('oncology', 4), ...rows('cardiology', 1)], rows('oncology', 3), rows('cardiology', 1)];
    const { result } = await runRound(baseQuery({ minCohort: 5 }), data);
    if (result instanceof Error) throw result;
    expect(result.groups.map((g) => [g.group, g.withheld])).toEqual([
      ['cardiology', true],
      ['oncology', false],
      ['surgery', true],
    ]);
    expect(result.guardrails.withheldGroups).toBe(2);
    const g = result.groups[0]!;
    expect(g.withheld && g.reason).toMatch(/minimum cohort/);
    expect(JSON.stringify(result.groups[0])).not.toMatch(/"count"/);
    const onc = result.groups[1]!;
    expect(!onc.withheld && onc.statistics[2]).toEqual({ type: 'mean', column: 'cost', value: '10.0000' });
  });

  it('a provider that disconnects ends the round without a quorum', async () => {
    const data = [[{ ward: 'oncology', cost: '1.00', age: '1' }], [], []];
    const { outcome, result, provided } = await runRound(baseQuery(), data, { drop: [1] });
    expect(outcome).toMatchObject({ status: 'aborted', reason: AbortReason.PROVIDER_LOST });
    expect(result).toBeInstanceOf(TransportClosedError);
    expect((result as Error).message).toMatch(/provider left/);
    expect(provided[0]).toBeInstanceOf(TransportClosedError);
  });

  it('with a quorum, the round completes over the remaining providers', async () => {
    const data = [[{ ward: 'oncology', cost: '1.00', age: '1' }], [{ ward: 'oncology', cost: '2.00', age: '1' }], [{ ward: 'oncology', cost: '4.00', age: '1' }]];
    const { outcome, result } = await runRound(baseQuery({ quorum: 2 }), data, { drop: [1] });
    expect(outcome).toMatchObject({ status: 'completed', contributors: 2, included: [0, 2] });
    if (result instanceof Error) throw result;
    expect(result.contributors).toBe(2);
    const onc = result.groups[1]!;
    expect(!onc.withheld && onc.statistics[1]).toEqual({ type: 'sum', column: 'cost', value: '5.00' });
  });

  it('a provider that never answers: timeout without quorum, partial total with quorum', async () => {
    const data = [[{ ward: 'oncology', cost: '1.00', age: '1' }], [{ ward: 'oncology', cost: '2.00', age: '1' }], []];
    const noQuorum = await runRound(baseQuery(), data, { stall: [2], timeoutMs: 300 });
    expect(noQuorum.outcome).toMatchObject({ status: 'aborted', reason: AbortReason.TIMEOUT });
    expect(noQuorum.result).toBeInstanceOf(TimeoutError);
    const withQuorum = await runRound(baseQuery({ quorum: 2 }), data, { stall: [2], timeoutMs: 300 });
    expect(withQuorum.outcome).toMatchObject({ status: 'completed', contributors: 2 });
    const r = withQuorum.result as AggregateResult;
    expect(r.groups[1]!.withheld === false && r.groups[1]!.statistics[1]).toEqual({ type: 'sum', column: 'cost', value: '3.00' });
  });

  it('a provider with a bad row aborts the round (its value is never sent)', async () => {
    const data = [[{ ward: 'oncology', cost: '1.001', age: '1' }], [], []];
    const { outcome, result, provided } = await runRound(baseQuery(), data);
    expect(outcome).toMatchObject({ status: 'aborted', reason: AbortReason.INPUT_ERROR });
    expect(result).toBeInstanceOf(InputError);
    expect(provided[0]).toBeInstanceOf(InputError);
  });

  it('with DP the released figures are noisy and the parameters recorded', async () => {
    const rows = Array.from({ length: 50 }, () => ({ ward: 'oncology', cost: '100.00', age: '30' }));
    const { result } = await runRound(baseQuery({ dp: { epsilon: '1' } }), [rows, rows, rows]);
    if (result instanceof Error) throw result;
    expect(result.guardrails.dp?.epsilonTotal).toBe('1');
    expect(result.guardrails.dp?.perStatistic[1]).toMatchObject({ mechanism: 'discrete-laplace', epsilon: '0.333333', sensitivity: '100000000' });
    const onc = result.groups[1]!;
    if (onc.withheld) throw new Error('unexpected');
    const count = BigInt((onc.statistics[0] as { value: string }).value);
    expect(count > 150n - 200n && count < 150n + 200n).toBe(true); // noise bounded by the tail bound
  });
});

describe('aggregator state machine', () => {
  it('never forwards an individual ciphertext; refuses a key for other parameters', async () => {
    const q = baseQuery();
    const analyst = await createAnalyst(q);
    const agg = createAggregator({ providers: 3 });
    const step = await agg.receiveFromAnalyst(analyst.queryFrame);
    expect(step.send.map((s) => s.to)).toEqual([0, 1, 2]);
    // A provider contribution produces no frame for the analyst until all have contributed.
    const frame = step.send[0]!.frame;
    const msg = decodeAggregateMessage(frame);
    expect(msg.type).toBe(AggregateMessageType.ANNOUNCE);
    const { encryptBatch } = await import('../src/he/batch.js');
    const vec = computeLocalAggregates(q, [{ ward: 'oncology', cost: '1.00', age: '2' }]);
    const ct = await encryptBatch((msg as { publicKey: Uint8Array }).publicKey, vec);
    const s1 = agg.receiveFromProvider(0, encodeAggregateMessage({ type: AggregateMessageType.CONTRIBUTION, ciphertext: ct }));
    expect(s1.send).toEqual([]);
    // A replayed ciphertext from another provider slot is fine cryptographically, but a second frame from
    // the same provider is a protocol error.
    const s2 = agg.receiveFromProvider(0, encodeAggregateMessage({ type: AggregateMessageType.CONTRIBUTION, ciphertext: ct }));
    expect(s2.outcome).toMatchObject({ status: 'aborted' });
    expect(s2.send.some((s) => s.to === 'analyst' && decodeAggregateMessage(s.frame).type === AggregateMessageType.ABORT)).toBe(true);
    analyst.dispose();

    const other = await createAnalyst(baseQuery({ maxRowsPerProvider: 10 ** 7 }));
    const forged = decodeAggregateMessage(other.queryFrame) as { query: Uint8Array; publicKey: Uint8Array };
    const mixed = encodeAggregateMessage({ type: AggregateMessageType.QUERY, query: encodeAggregateQuery(q), publicKey: forged.publicKey });
    const agg2 = createAggregator({ providers: 3 });
    const refused = await agg2.receiveFromAnalyst(mixed);
    expect(refused.outcome).toMatchObject({ status: 'aborted', reason: AbortReason.QUERY_REFUSED });
    other.dispose();
  });

  it('malformed contributions remove that provider', async () => {
    const q = baseQuery({ quorum: 2 });
    const analyst = await createAnalyst(q);
    const agg = createAggregator({ providers: 3 });
    await agg.receiveFromAnalyst(analyst.queryFrame);
    const s = agg.receiveFromProvider(1, encodeAggregateMessage({ type: AggregateMessageType.CONTRIBUTION, ciphertext: new Uint8Array(100) }));
    expect(s.send).toEqual([{ to: 1, frame: encodeAggregateMessage({ type: AggregateMessageType.ABORT, reason: AbortReason.PROTOCOL_ERROR }) }]);
    expect(s.outcome).toBeUndefined();
    const s2 = agg.providerLost(2);
    expect(s2.outcome).toMatchObject({ status: 'aborted', reason: AbortReason.PROVIDER_LOST });
    agg.dispose();
    analyst.dispose();
  });

  it('arbitrary frames from providers or the analyst never throw: the round aborts with a reason', async () => {
    const q = baseQuery({ quorum: 2 });
    const analyst = await createAnalyst(q);
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.integer({ min: 0, max: 2 }), fc.uint8Array({ maxLength: 80 })), { minLength: 1, maxLength: 6 }), async (frames) => {
        const agg = createAggregator({ providers: 3 });
        await agg.receiveFromAnalyst(analyst.queryFrame);
        let ended = false;
        for (const [who, bytes] of frames) {
          const step = agg.receiveFromProvider(who, bytes);
          for (const out of step.send) expect(decodeAggregateMessage(out.frame).type).toBe(AggregateMessageType.ABORT);
          if (step.outcome) {
            expect(step.outcome.status).toBe('aborted');
            ended = true;
          }
        }
        if (!ended) expect(agg.deadline().outcome?.status).toBe('aborted');
        agg.dispose();
        const agg2 = createAggregator({ providers: 3 });
        const s2 = await agg2.receiveFromAnalyst(frames[0]![1]);
        expect(s2.outcome).toMatchObject({ status: 'aborted', reason: AbortReason.PROTOCOL_ERROR });
      }),
      { numRuns: 25 },
    );
    analyst.dispose();
  });

  it('providers that pin the analyst refuse a substituted key or an unsigned query', async () => {
    const { ed25519 } = await import('@noble/curves/ed25519.js');
    const { createProvider } = await import('../src/protocols/aggregate/index.js');
    const { VerificationFailedError } = await import('../src/errors.js');
    const analystId = ed25519.utils.randomSecretKey();
    const pinned = ed25519.getPublicKey(analystId);
    const q = baseQuery();
    const honest = await createAnalyst(q, { identitySecretKey: analystId });
    const agg = createAggregator({ providers: 3 });
    const announce = (await agg.receiveFromAnalyst(honest.queryFrame)).send[0]!.frame;
    const rows = () => [{ ward: 'oncology', cost: '1.00', age: '1' }];
    // The genuine, signed announcement is accepted.
    const ok = await createProvider({ rows, analystPublicKey: pinned }).receive(announce);
    expect(decodeAggregateMessage(ok.send!).type).toBe(AggregateMessageType.CONTRIBUTION);
    // An aggregator that swaps in its own key (keeping the analyst's signature) is refused.
    const mallory = await createAnalyst(q);
    const m = decodeAggregateMessage(announce) as { query: Uint8Array; publicKey: Uint8Array; signature: { signer: Uint8Array; signature: Uint8Array } };
    const theirs = decodeAggregateMessage(mallory.queryFrame) as { publicKey: Uint8Array };
    const swapped = encodeAggregateMessage({ type: AggregateMessageType.ANNOUNCE, query: m.query, publicKey: theirs.publicKey, signature: m.signature });
    await expect(createProvider({ rows, analystPublicKey: pinned }).receive(swapped)).rejects.toBeInstanceOf(VerificationFailedError);
    // Unsigned, or signed by someone else: refused too.
    await expect(createProvider({ rows, analystPublicKey: pinned }).receive(mallory.queryFrame.slice().fill(AggregateMessageType.ANNOUNCE, 0, 1))).rejects.toBeInstanceOf(VerificationFailedError);
    const other = await createAnalyst(q, { identitySecretKey: ed25519.utils.randomSecretKey() });
    const otherAnnounce = other.queryFrame.slice().fill(AggregateMessageType.ANNOUNCE, 0, 1);
    await expect(createProvider({ rows, analystPublicKey: pinned }).receive(otherAnnounce)).rejects.toBeInstanceOf(VerificationFailedError);
    for (const a of [honest, mallory, other]) a.dispose();
    agg.dispose();
  });
});
