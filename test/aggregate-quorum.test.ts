// Aggregation quorum (issue 16, "also examine"): the quorum — the fewest providers a released total
// may cover — is the analyst's choice; a provider refuses a query whose quorum is below its own
// minimum (`minQuorum`, `aggregate provide --min-quorum N`, default 2), with a one-line reason for
// itself, the operator and (when the round cannot go on without it) the analyst.
import { describe, expect, it } from 'vitest';
import { TermsRefusedError } from '../src/errors.js';
import { AbortReason, createProvider, parseAggregateQuery, type AggregateQuery } from '../src/protocols/aggregate/index.js';
import {
  createAggregateOperator,
  generateIdentity,
  runAggregateAnalyst,
  runAggregateProvider,
  type AggregateOperator,
  type Identity,
} from '../src/session/index.js';
import type { UsageReceipt } from '../src/ledger/receipt-types.js';
import { createMemoryTransportPair, type MemoryTransport } from '../src/transport/memory.js';
import { toBase64 } from '../src/utils/bytes.js';

const query = (providers: number, quorum: number): AggregateQuery =>
  parseAggregateQuery({
    version: 1,
    id: `quorum-${providers}-${quorum}`,
    columns: [{ name: 'cost', type: 'decimal', decimals: 2, min: '0.00', max: '1000.00' }],
    statistics: [{ type: 'count' }, { type: 'sum', column: 'cost' }],
    maxRowsPerProvider: 10,
    providers,
    quorum,
  });

const rowsOf = (i: number) => [{ cost: `${i + 1}.00` }];

function connect(operator: AggregateOperator): MemoryTransport {
  const [mine, theirs] = createMemoryTransportPair();
  void operator.handle(theirs);
  return mine;
}

interface Round {
  providers: (Awaited<ReturnType<typeof runAggregateProvider>> | Error)[];
  providerReceipts: UsageReceipt[][];
  analyst: Awaited<ReturnType<typeof runAggregateAnalyst>> | Error;
  op: Awaited<AggregateOperator['result']>;
  hospitals: Identity[];
}

/** One round with `minQuorums[i]` as provider i's minimum (undefined: the default). */
async function round(q: AggregateQuery, minQuorums: (number | undefined)[]): Promise<Round> {
  const operatorId = generateIdentity();
  const analystId = generateIdentity();
  const hospitals = minQuorums.map(() => generateIdentity());
  const operator = createAggregateOperator({
    identity: operatorId,
    providers: minQuorums.length,
    analystKeys: [analystId.publicKey],
    providerKeys: hospitals.map((h) => h.publicKey),
    timeoutMs: 60_000,
  });
  const providerReceipts: UsageReceipt[][] = minQuorums.map(() => []);
  const provided = Promise.all(
    minQuorums.map((minQuorum, i) =>
      runAggregateProvider({
        transport: connect(operator),
        identity: hospitals[i]!,
        peerPublicKey: operatorId.publicKey,
        rows: rowsOf(i),
        ...(minQuorum !== undefined ? { minQuorum } : {}),
        onReceipt: (r) => void providerReceipts[i]!.push(r),
      }).catch((e: Error) => e),
    ),
  );
  const analyst = await runAggregateAnalyst({ transport: connect(operator), identity: analystId, peerPublicKey: operatorId.publicKey, query: q }).catch(
    (e: Error) => e,
  );
  return { providers: await provided, providerReceipts, analyst, op: await operator.result, hospitals };
}

describe('aggregation quorum checked by providers', () => {
  it('a provider whose minimum equals the quorum contributes; the default minimum accepts the format floor', async () => {
    const r = await round(query(2, 2), [2, undefined]);
    expect(r.op.outcome).toMatchObject({ status: 'completed', contributors: 2 });
    expect(r.op.outcome.refusals).toBeUndefined();
    for (const p of r.providers) expect(p).not.toBeInstanceOf(Error);
  }, 120_000);

  it('a provider with a larger minimum refuses a smaller quorum; the operator gets its reason; the round completes without it when the quorum still holds', async () => {
    const r = await round(query(3, 2), [3, undefined, undefined]);
    const refused = r.providers[0] as Error;
    expect(refused).toBeInstanceOf(TermsRefusedError);
    expect(refused.message).toBe("query quorum 2 is below this provider's minimum of 3");
    // Its link still gets a co-signed (failed) receipt.
    expect(r.providerReceipts[0]!.map((x) => x.body.outcome)).toEqual(['failed']);
    const idx = r.op.providerPublicKeys.findIndex((k) => toBase64(k) === toBase64(r.hospitals[0]!.publicKey));
    expect(r.op.outcome).toMatchObject({ status: 'completed', contributors: 2, refusals: [{ provider: idx, reason: AbortReason.QUORUM_REFUSED }] });
    expect(r.analyst).not.toBeInstanceOf(Error);
    expect((r.analyst as Exclude<Round['analyst'], Error>).result.contributors).toBe(2);
  }, 120_000);

  it('when the refusal leaves no quorum, the analyst is told why in one line', async () => {
    const r = await round(query(2, 2), [3, undefined]);
    expect(r.providers[0]).toBeInstanceOf(TermsRefusedError);
    expect(r.op.outcome).toMatchObject({ status: 'aborted', reason: AbortReason.QUORUM_REFUSED });
    expect(r.analyst).toBeInstanceOf(TermsRefusedError);
    expect((r.analyst as Error).message).toBe("aggregation round aborted: a provider refused the query: its quorum is below that provider's minimum");
    // The other provider is told the same.
    expect(r.providers[1]).toBeInstanceOf(TermsRefusedError);
  }, 120_000);

  it('minQuorum below the floor or above the provider limit is misuse (RangeError), before any connection', async () => {
    expect(() => createProvider({ rows: () => [], minQuorum: 1 })).toThrow(RangeError);
    expect(() => createProvider({ rows: () => [], minQuorum: 2.5 })).toThrow(RangeError);
    const [a] = createMemoryTransportPair();
    await expect(
      runAggregateProvider({ transport: a, identity: generateIdentity(), peerPublicKey: generateIdentity().publicKey, rows: [], minQuorum: 1 }),
    ).rejects.toBeInstanceOf(RangeError);
    expect(a.stats.bytesSent).toBe(0);
  });
});
