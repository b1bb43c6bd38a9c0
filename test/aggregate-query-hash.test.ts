// Aggregation receipts name the query precisely (issue 16, "also examine"): every link's receipt
// carries `query-sha256` (SHA-256 of the canonical query bytes) — the analyst's in its signed terms
// (the operator refuses a query that does not hash to it), a provider link's as a fact both ends
// add after the round and must agree on.
import { describe, expect, it } from 'vitest';
import { TermsRefusedError, VerificationFailedError } from '../src/errors.js';
import { encodeReceipt } from '../src/ledger/receipt.js';
import { aggregateQueryHash, encodeAggregateQuery, parseAggregateQuery, runAnalyst, type AggregateQuery } from '../src/protocols/aggregate/index.js';
import {
  createAggregateOperator,
  establishSession,
  generateIdentity,
  runAggregateAnalyst,
  runAggregateProvider,
  SECURITY_MODELS,
  type AggregateOperator,
} from '../src/session/index.js';
import { createMemoryTransportPair, type MemoryTransport } from '../src/transport/memory.js';
import { toBase64 } from '../src/utils/bytes.js';
import { aggregateTerms } from './session-fixtures.js';

const query = (over: Record<string, unknown> = {}): AggregateQuery =>
  parseAggregateQuery({
    version: 1,
    id: 'ward-costs',
    columns: [{ name: 'cost', type: 'decimal', decimals: 2, min: '0.00', max: '1000.00' }],
    statistics: [{ type: 'count' }, { type: 'sum', column: 'cost' }],
    maxRowsPerProvider: 10,
    providers: 2,
    ...over,
  });

function connect(operator: AggregateOperator): MemoryTransport {
  const [mine, theirs] = createMemoryTransportPair();
  void operator.handle(theirs);
  return mine;
}

function setup() {
  const operatorId = generateIdentity();
  const analystId = generateIdentity();
  const hospitals = [generateIdentity(), generateIdentity()];
  const operator = createAggregateOperator({
    identity: operatorId,
    providers: 2,
    analystKeys: [analystId.publicKey],
    providerKeys: hospitals.map((h) => h.publicKey),
    timeoutMs: 60_000,
  });
  const providers = () =>
    Promise.all(
      hospitals.map((h, i) =>
        runAggregateProvider({ transport: connect(operator), identity: h, peerPublicKey: operatorId.publicKey, rows: [{ cost: `${i + 1}.00` }] }).catch(
          (e: Error) => e,
        ),
      ),
    );
  return { operatorId, analystId, operator, providers };
}

describe('query-sha256 in aggregation receipts', () => {
  it('is the SHA-256 of the canonical query, and changes with the query', () => {
    const q = query();
    expect(aggregateQueryHash(q)).toMatch(/^[0-9a-f]{64}$/);
    expect(aggregateQueryHash(q)).toBe(aggregateQueryHash(encodeAggregateQuery(q)));
    expect(aggregateQueryHash(query({ minCohort: 1 }))).not.toBe(aggregateQueryHash(q));
    expect(aggregateQueryHash(query({ quorum: 2, providers: 3 }))).not.toBe(aggregateQueryHash(query({ providers: 3 })));
    expect(aggregateQueryHash(query({ id: 'other' }))).not.toBe(aggregateQueryHash(q));
  });

  it('is in the analyst’s, every provider’s and the operator’s receipts, equal on both ends of each link', async () => {
    const s = setup();
    const q = query();
    const provided = s.providers();
    const analyst = await runAggregateAnalyst({ transport: connect(s.operator), identity: s.analystId, peerPublicKey: s.operatorId.publicKey, query: q });
    const providers = await provided;
    const op = await s.operator.result;
    expect(op.outcome.status).toBe('completed');
    const h = aggregateQueryHash(q);
    expect(analyst.receipt.body.options).toMatchObject({ 'query-sha256': h, security: SECURITY_MODELS.aggregation.model });
    for (const p of providers) {
      if (p instanceof Error) throw p;
      expect(p.receipt.body.options).toMatchObject({ role: 'provider', 'query-sha256': h, security: 'aggregator-semi-honest' });
    }
    // The operator holds the same receipts, byte for byte.
    const mine = [analyst.receipt, ...providers.map((p) => (p as Exclude<typeof p, Error>).receipt)].map((r) => toBase64(encodeReceipt(r))).sort();
    expect(op.receipts.map((r) => toBase64(encodeReceipt(r))).sort()).toEqual(mine);
    for (const r of op.receipts) expect(r.body.options['query-sha256']).toBe(h);
  }, 120_000);

  it('the operator refuses a query that does not hash to the one the analyst signed into its terms', async () => {
    const s = setup();
    const q = query();
    const provided = s.providers();
    const session = await establishSession({
      role: 'requester',
      transport: connect(s.operator),
      identity: s.analystId,
      peerPublicKey: s.operatorId.publicKey,
      terms: aggregateTerms({
        options: {
          role: 'analyst',
          query: q.id,
          'query-sha256': aggregateQueryHash(query({ minCohort: 5 })), // another query, same id
          'output-size': 'public',
          'output-max': '2',
          security: SECURITY_MODELS.aggregation.model,
        },
      }),
    });
    expect(session.accepted).toBe(true);
    await expect(runAnalyst(session.channel, { query: q, timeoutMs: 60_000 })).rejects.toBeInstanceOf(TermsRefusedError);
    await session.exchangeReceipt({ outcome: 'failed', inputSize: 0, outputSize: 0, computeMs: 0, expectedPeerInputSize: 0 }).catch(() => {});
    await session.close();
    const op = await s.operator.result;
    expect(op.outcome.status).toBe('aborted');
    for (const p of await provided) expect(p).toBeInstanceOf(TermsRefusedError);
  }, 120_000);

  it('an analyst that does not name its query by hash is refused at the handshake', async () => {
    const s = setup();
    const session = await establishSession({
      role: 'requester',
      transport: connect(s.operator),
      identity: s.analystId,
      peerPublicKey: s.operatorId.publicKey,
      terms: aggregateTerms({
        options: { role: 'analyst', query: 'ward-costs', 'output-size': 'public', 'output-max': '2', security: SECURITY_MODELS.aggregation.model },
      }),
    });
    expect(session.accepted).toBe(false);
    expect(session.refusalReason).toMatch(/query-sha256/);
    await session.exchangeReceipt({ outcome: 'refused', inputSize: 0, outputSize: 0, computeMs: 0 });
    await session.close();
  }, 60_000);

  it('the two ends of a link must have seen the same query: different hashes give no receipt, on either side', async () => {
    const operatorId = generateIdentity();
    const hospital = generateIdentity();
    const [a, b] = createMemoryTransportPair();
    const [req, res] = await Promise.all([
      establishSession({ role: 'requester', transport: a, identity: hospital, peerPublicKey: operatorId.publicKey, terms: aggregateTerms() }),
      establishSession({ role: 'responder', transport: b, identity: operatorId, peerPublicKey: hospital.publicKey, policy: {}, localSetSize: 0 }),
    ]);
    const view = (h: string) => ({ outcome: 'failed' as const, inputSize: 0, outputSize: 0, computeMs: 0, options: { 'query-sha256': h } });
    const [x, y] = await Promise.allSettled([
      req.exchangeReceipt(view(aggregateQueryHash(query()))),
      res.exchangeReceipt(view(aggregateQueryHash(query({ minCohort: 3 })))),
    ]);
    expect(x.status).toBe('rejected');
    expect(y.status).toBe('rejected');
    const errors = [x, y].map((r) => (r as PromiseRejectedResult).reason as Error);
    expect(errors.some((e) => e instanceof VerificationFailedError && /another query/.test(e.message))).toBe(true);
    // A run option may not overwrite a signed terms option.
    const [c, d] = createMemoryTransportPair();
    const [req2] = await Promise.all([
      establishSession({ role: 'requester', transport: c, identity: hospital, peerPublicKey: operatorId.publicKey, terms: aggregateTerms() }),
      establishSession({ role: 'responder', transport: d, identity: operatorId, peerPublicKey: hospital.publicKey, policy: {}, localSetSize: 0 }),
    ]);
    await expect(req2.exchangeReceipt({ outcome: 'failed', inputSize: 0, outputSize: 0, computeMs: 0, options: { role: 'analyst' } })).rejects.toBeInstanceOf(RangeError);
  }, 60_000);
});
