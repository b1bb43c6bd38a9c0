// Multi-party aggregation over authenticated sessions (src/session/run-aggregate.ts): every link
// runs the handshake, the operator tells roles apart by the signed terms, and each link ends with a
// receipt both its ends signed.
import { describe, expect, it } from 'vitest';
import { createMemoryTransportPair, type MemoryTransport, type MemoryTransportOptions } from '../src/transport/memory.js';
import type { FrameTransport } from '../src/transport/types.js';
import { AbortReason, AggregateMessageType, parseAggregateQuery, runProvider, type AggregateQuery } from '../src/protocols/aggregate/index.js';
import { InputError } from '../src/errors.js';
import {
  AGGREGATE_PROTOCOL_NAME,
  createAggregateOperator,
  establishSession,
  generateIdentity,
  runAggregateAnalyst,
  runAggregateProvider,
  SessionMessageType,
  type AggregateOperatorOptions,
  type Identity,
} from '../src/session/index.js';
import { encodeReceipt, verifyReceipt } from '../src/ledger/receipt.js';
import type { UsageReceipt } from '../src/ledger/receipt-types.js';
import { AbortError, DataportError, GuardrailRefusedError, TermsRefusedError, TransportClosedError, VerificationFailedError } from '../src/errors.js';
import { toBase64 } from '../src/utils/bytes.js';
import { aggregateTerms } from './session-fixtures.js';

const query = (over: Record<string, unknown> = {}): AggregateQuery =>
  parseAggregateQuery({
    version: 1,
    id: 'wards-session',
    columns: [{ name: 'cost', type: 'decimal', decimals: 2, min: '0.00', max: '100000.00' }],
    groupBy: { column: 'ward', categories: ['oncology', 'surgery'] },
    statistics: [{ type: 'count' }, { type: 'sum', column: 'cost' }],
    maxRowsPerProvider: 100,
    providers: 3,
    minCohort: 2,
    ...over,
  });

const data = [
  [
    { ward: 'oncology', cost: '100.00' },
    { ward: 'oncology', cost: '0.50' },
  ],
  [{ ward: 'oncology', cost: '20.25' }],
  [
    { ward: 'surgery', cost: '7.00' },
    { ward: 'oncology', cost: '1.00' },
    { ward: 'oncology', cost: '2.00' },
  ],
];

interface Parties {
  operator: Identity;
  analyst: Identity;
  hospitals: Identity[];
}

function parties(): Parties {
  return { operator: generateIdentity(), analyst: generateIdentity(), hospitals: data.map(() => generateIdentity()) };
}

/** A connection to the operator: the participant's end (the operator handles the other). */
function connect(operator: { handle(t: MemoryTransport): Promise<void> }, options: MemoryTransportOptions = {}): MemoryTransport {
  const [mine, theirs] = createMemoryTransportPair(options);
  void operator.handle(theirs);
  return mine;
}

function operatorOptions(p: Parties, over: Partial<AggregateOperatorOptions> = {}): AggregateOperatorOptions {
  return {
    identity: p.operator,
    providers: 3,
    analystKeys: [p.analyst.publicKey],
    providerKeys: p.hospitals.map((h) => h.publicKey),
    timeoutMs: 120_000,
    ...over,
  };
}


/**
 * The operator's end of a connection, delivering a provider's ABORT only once the frame after it
 * (the provider's receipt view) has arrived too — as a network does when both come in one segment.
 * So whoever asks for the next frame gets it at once: the ordering under which the round used to
 * consume that receipt view (and the link lost its `failed` receipt).
 */
function readAheadAfterAbort(t: FrameTransport): FrameTransport & { readAhead: number } {
  let held: Uint8Array | undefined;
  const w = {
    readAhead: 0,
    stats: t.stats,
    send: (f: Uint8Array, s?: AbortSignal) => t.send(f, s),
    close: (r?: string) => t.close(r),
    async receive(signal?: AbortSignal): Promise<Uint8Array> {
      if (held !== undefined) {
        const f = held;
        held = undefined;
        return f;
      }
      const f = await t.receive(signal);
      // A session DATA frame whose payload is an aggregation ABORT (type bytes are in clear; the MAC trails).
      if (f[0] === SessionMessageType.DATA && f[1] === AggregateMessageType.ABORT) {
        held = await t.receive(signal);
        w.readAhead++;
      }
      return f;
    },
  };
  return w;
}

const same = (a: UsageReceipt, b: UsageReceipt) => expect(toBase64(encodeReceipt(a))).toBe(toBase64(encodeReceipt(b)));

describe('aggregation over authenticated sessions', () => {
  it('completes a round; every link has a receipt both its ends signed, identical on both sides', async () => {
    const p = parties();
    const seen: { role: string; receipt: UsageReceipt }[] = [];
    const operator = createAggregateOperator(operatorOptions(p, { onReceipt: (receipt, link) => void seen.push({ role: link.role, receipt }) }));
    const q = query();
    const provided = Promise.all(
      data.map((rows, i) =>
        runAggregateProvider({ transport: connect(operator), identity: p.hospitals[i]!, peerPublicKey: p.operator.publicKey, rows, analystPublicKey: p.analyst.publicKey, purpose: 'ward costs' }),
      ),
    );
    const analyst = await runAggregateAnalyst({ transport: connect(operator), identity: p.analyst, peerPublicKey: p.operator.publicKey, query: q, purpose: 'ward costs' });
    const providers = await provided;
    const op = await operator.result;

    expect(op.outcome).toMatchObject({ status: 'completed', contributors: 3 });
    expect(analyst.result.groups).toEqual([
      { group: 'oncology', withheld: false, statistics: [{ type: 'count', value: '5' }, { type: 'sum', column: 'cost', value: '123.75' }] },
      { group: 'surgery', withheld: true, reason: 'fewer than 2 rows (minimum cohort)' },
    ]);
    expect(op.receipts).toHaveLength(4);
    expect(op.linksWithoutReceipt).toBe(0);
    expect(seen.map((s) => s.role)).toEqual(['analyst', 'provider', 'provider', 'provider']);

    // The analyst's link: withheld (a group was), the min-cohort rule recorded, signed by both.
    const ar = analyst.receipt;
    verifyReceipt(ar, [p.analyst.publicKey, p.operator.publicKey]);
    same(ar, op.receipts[0]!);
    expect(ar.body.protocol).toBe(AGGREGATE_PROTOCOL_NAME);
    expect(ar.body.outcome).toBe('withheld');
    expect(ar.body.options).toMatchObject({ role: 'analyst', query: 'wards-session', recipients: 'requester' });
    expect(ar.body.purpose).toBe('ward costs');
    expect(ar.body.inputSizes).toEqual({ requester: 0, responder: 0 });
    expect(ar.body.guardrails).toEqual([{ rule: 'min-cohort', outcome: 'withheld', detail: 'k=2' }]);
    // The released cells (oncology's count and sum; surgery withheld) are in the receipt both signed,
    // bounded by the query's 2 groups x 2 statistics.
    expect(ar.body.outputSizes).toEqual({ requester: 2, responder: 0 });
    expect(ar.body.options).toMatchObject({ 'output-size': 'public', 'output-max': '4' });

    // Each provider's link: its rows as the requester's input, completed, signed by it and the operator.
    for (const [i, r] of providers.entries()) {
      expect(r.contributors).toBe(3);
      verifyReceipt(r.receipt, [p.hospitals[i]!.publicKey, p.operator.publicKey]);
      const j = op.providerPublicKeys.findIndex((k) => toBase64(k) === toBase64(p.hospitals[i]!.publicKey));
      same(r.receipt, op.receipts[1 + j]!);
      expect(r.receipt.body.outcome).toBe('completed');
      expect(r.receipt.body.inputSizes).toEqual({ requester: data[i]!.length, responder: 0 });
      expect(r.receipt.body.options).toMatchObject({ role: 'provider' });
      expect(r.receipt.body.bytesExchanged).toBeGreaterThan(0);
    }
    // Receipts carry sizes and keys, never a value.
    const text = new TextDecoder().decode(encodeReceipt(ar)) + providers.map((r) => new TextDecoder().decode(encodeReceipt(r.receipt))).join('');
    expect(text).not.toContain('123.75');
    expect(text).not.toContain('100.00');
  }, 180_000);

  it('refuses an unknown provider key and a provider pinning the wrong operator; the round still completes', async () => {
    const p = parties();
    const operator = createAggregateOperator(operatorOptions(p));
    const stranger = generateIdentity();
    // Not in the operator's keys: the handshake fails, no slot is taken.
    await expect(
      runAggregateProvider({ transport: connect(operator), identity: stranger, peerPublicKey: p.operator.publicKey, rows: data[0]! }),
    ).rejects.toBeInstanceOf(VerificationFailedError);
    // A provider that pins another operator key refuses the operator.
    await expect(
      runAggregateProvider({ transport: connect(operator), identity: p.hospitals[0]!, peerPublicKey: stranger.publicKey, rows: data[0]! }),
    ).rejects.toBeInstanceOf(VerificationFailedError);
    // The bare protocol (no session handshake, a JOIN frame first) is not accepted either.
    await expect(runProvider(connect(operator), { rows: () => data[0]! })).rejects.toBeInstanceOf(DataportError);
    // Unpinned requester: misuse, refused before anything is sent.
    await expect(runAggregateProvider({ transport: createMemoryTransportPair()[0], identity: p.hospitals[0]!, rows: data[0]! })).rejects.toBeInstanceOf(TypeError);
    const provided = Promise.all(
      data.map((rows, i) => runAggregateProvider({ transport: connect(operator), identity: p.hospitals[i]!, peerPublicKey: p.operator.publicKey, rows })),
    );
    const analyst = await runAggregateAnalyst({ transport: connect(operator), identity: p.analyst, peerPublicKey: p.operator.publicKey, query: query() });
    await provided;
    expect((await operator.result).outcome.status).toBe('completed');
    expect(analyst.result.contributors).toBe(3);
  }, 180_000);

  it('a provider whose columns differ from the query\'s is refused before encrypting, both it and the operator naming both schemas', async () => {
    const p = parties();
    const operator = createAggregateOperator(operatorOptions(p));
    // Hospital 3 exports the cost as cost_yuan: the query's `cost` is not among its columns.
    const rows = data.map((r, i) => (i === 2 ? r.map((x) => ({ ward: x.ward, cost_yuan: x.cost })) : r));
    const outcomes = rows.map((r, i) =>
      runAggregateProvider({ transport: connect(operator), identity: p.hospitals[i]!, peerPublicKey: p.operator.publicKey, rows: r }).then(
        (v) => ({ ok: v }),
        (e: unknown) => ({ error: e }),
      ),
    );
    const analyst = await runAggregateAnalyst({ transport: connect(operator), identity: p.analyst, peerPublicKey: p.operator.publicKey, query: query({ quorum: 2 }) });
    const [a, b, c] = await Promise.all(outcomes);
    const op = await operator.result;
    const reason =
      'column schemas differ: the query needs ward (group-by), cost (decimal, 2 places); the provider offers ward, cost_yuan (missing: cost)';
    // The provider: a terms refusal naming both schemas, raised before its rows are reduced or encrypted.
    expect('error' in c! && c.error).toBeInstanceOf(TermsRefusedError);
    expect(((c as { error: Error }).error).message).toBe(reason);
    // The operator names the same two schemas for that provider; the round goes on without it.
    const j = op.providerPublicKeys.findIndex((k) => toBase64(k) === toBase64(p.hospitals[2]!.publicKey));
    expect(op.columnMismatches).toEqual([{ provider: j, reason }]);
    expect(op.outcome.refusals).toEqual([{ provider: j, reason: AbortReason.QUERY_REFUSED }]);
    expect(op.outcome).toMatchObject({ status: 'completed', contributors: 2 });
    expect(analyst.result.contributors).toBe(2);
    expect('ok' in a! && 'ok' in b!).toBe(true);
    // The offered columns are in each provider's signed terms, so in its receipt.
    expect((a as { ok: { receipt: UsageReceipt } }).ok.receipt.body.options).toMatchObject({ columns: '["ward","cost"]' });
  }, 180_000);

  it('an analyst whose key is not allowed as analyst is refused on both sides with a refused receipt', async () => {
    const p = parties();
    const opReceipts: UsageReceipt[] = [];
    const operator = createAggregateOperator(operatorOptions(p, { onReceipt: (r) => void opReceipts.push(r), joinTimeoutMs: 60_000 }));
    // A provider's key (allowed, authenticated) asking to be the analyst.
    const mine: UsageReceipt[] = [];
    const err = await runAggregateAnalyst({
      transport: connect(operator),
      identity: p.hospitals[0]!,
      peerPublicKey: p.operator.publicKey,
      query: query(),
      onReceipt: (r) => void mine.push(r),
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TermsRefusedError);
    expect((err as Error).message).toBe('this key is not allowed as analyst');
    expect(mine).toHaveLength(1);
    expect(mine[0]!.body.outcome).toBe('refused');
    verifyReceipt(mine[0]!, [p.hospitals[0]!.publicKey, p.operator.publicKey]);
    // A key the operator does not know at all fails authentication (no receipt).
    await expect(
      runAggregateAnalyst({ transport: connect(operator), identity: generateIdentity(), peerPublicKey: p.operator.publicKey, query: query() }),
    ).rejects.toBeInstanceOf(VerificationFailedError);
    // The real analyst can still join; the round then runs.
    const provided = Promise.all(
      data.map((rows, i) => runAggregateProvider({ transport: connect(operator), identity: p.hospitals[i]!, peerPublicKey: p.operator.publicKey, rows })),
    );
    await runAggregateAnalyst({ transport: connect(operator), identity: p.analyst, peerPublicKey: p.operator.publicKey, query: query() });
    await provided;
    await operator.result;
    expect(opReceipts.map((r) => r.body.outcome)).toEqual(['refused', 'withheld', 'completed', 'completed', 'completed']);
  }, 180_000);

  it('the operator refuses an analyst whose terms do not make its released cell count public', async () => {
    const p = parties();
    const stop = new AbortController();
    const operator = createAggregateOperator(operatorOptions(p, { signal: stop.signal }));
    const s = await establishSession({
      role: 'requester',
      transport: connect(operator),
      identity: p.analyst,
      peerPublicKey: p.operator.publicKey,
      terms: aggregateTerms({ options: { role: 'analyst', query: 'wards-session' }, minIntersection: 2 }),
    });
    expect(s.accepted).toBe(false);
    expect(s.refusalReason).toMatch(/output-size=public and output-max/);
    await s.exchangeReceipt({ outcome: 'refused', inputSize: 0, outputSize: 0, computeMs: 0 });
    await s.close();
    stop.abort();
    await expect(operator.result).rejects.toBeInstanceOf(AbortError);
  }, 60_000);

  it('a refusal by the operator (e.g. a spent budget) ends that link with a refused receipt on both sides', async () => {
    const p = parties();
    const refused = p.hospitals[1]!.publicKey;
    const stop = new AbortController();
    const operator = createAggregateOperator(
      operatorOptions(p, {
        beforeRun: (_terms, peer) => {
          if (toBase64(peer) === toBase64(refused)) throw new GuardrailRefusedError('query budget for this counterparty is spent');
        },
        signal: stop.signal,
      }),
    );
    const receipts: UsageReceipt[] = [];
    const err = await runAggregateProvider({
      transport: connect(operator),
      identity: p.hospitals[1]!,
      peerPublicKey: p.operator.publicKey,
      rows: data[1]!,
      onReceipt: (r) => void receipts.push(r),
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TermsRefusedError);
    expect((err as Error).message).toMatch(/budget/);
    expect(receipts.map((r) => r.body.outcome)).toEqual(['refused']);
    expect(receipts[0]!.body.inputSizes).toEqual({ requester: 0, responder: 0 });
    // A participant's own budget check runs before its terms leave: it stops, with no receipt.
    const own: UsageReceipt[] = [];
    const self = await runAggregateProvider({
      transport: connect(operator),
      identity: p.hospitals[0]!,
      peerPublicKey: p.operator.publicKey,
      rows: data[0]!,
      beforeRun: () => {
        throw new GuardrailRefusedError('query budget for the operator is spent');
      },
      onReceipt: (r) => void own.push(r),
    }).catch((e: unknown) => e);
    expect(self).toBeInstanceOf(TermsRefusedError);
    expect(own).toEqual([]);
    // The refused provider took no slot; stopping the operator ends the round with a typed error.
    stop.abort();
    await expect(operator.result).rejects.toBeInstanceOf(AbortError);
  }, 60_000);

  it('a provider that drops out: no quorum, every remaining link records a failed receipt', async () => {
    const p = parties();
    const operator = createAggregateOperator(operatorOptions(p));
    // Provider 0 joins with a real session, reads the announcement, then its connection dies.
    const dropT = connect(operator);
    const dropped = (async () => {
      const s = await establishSession({
        role: 'requester',
        transport: dropT,
        identity: p.hospitals[0]!,
        peerPublicKey: p.operator.publicKey,
        terms: aggregateTerms({ requesterSetSize: 2 }),
      });
      expect(s.accepted).toBe(true);
      await s.channel.receive(); // ANNOUNCE
      dropT.destroy();
    })();
    const others = data.slice(1).map((rows, i) =>
      runAggregateProvider({ transport: connect(operator), identity: p.hospitals[i + 1]!, peerPublicKey: p.operator.publicKey, rows }).catch((e: unknown) => e),
    );
    const analystReceipts: UsageReceipt[] = [];
    const a = await runAggregateAnalyst({
      transport: connect(operator),
      identity: p.analyst,
      peerPublicKey: p.operator.publicKey,
      query: query(),
      onReceipt: (r) => void analystReceipts.push(r),
    }).catch((e: unknown) => e);
    await dropped;
    const [o1, o2] = await Promise.all(others);
    const op = await operator.result;
    expect(op.outcome.status).toBe('aborted');
    expect(a).toBeInstanceOf(TransportClosedError);
    expect((a as Error).message).toMatch(/provider left/);
    expect(analystReceipts.map((r) => r.body.outcome)).toEqual(['failed']);
    for (const o of [o1, o2]) expect(o).toBeInstanceOf(TransportClosedError);
    expect(op.receipts.map((r) => r.body.outcome)).toEqual(['failed', 'failed', 'failed']);
    expect(op.linksWithoutReceipt).toBe(1);
    for (const r of op.receipts) verifyReceipt(r);
  }, 180_000);
  it("a failing provider's ABORT and receipt view arrive together: the round does not read the view, every link records failed", async () => {
    const p = parties();
    const operator = createAggregateOperator(operatorOptions(p));
    const [badEnd, operatorEnd] = createMemoryTransportPair();
    const forced = readAheadAfterAbort(operatorEnd);
    void operator.handle(forced);
    const own: UsageReceipt[][] = data.map(() => []);
    const runs = data.map((rows, i) =>
      runAggregateProvider({
        transport: i === 2 ? badEnd : connect(operator),
        identity: p.hospitals[i]!,
        peerPublicKey: p.operator.publicKey,
        ...(i === 2
          ? {
              rowCount: rows.length,
              localAggregates: () => Promise.reject(new InputError('line 2: column cost is not a number')),
            }
          : { rows }),
        onReceipt: (r) => void own[i]!.push(r),
      }).catch((e: unknown) => e),
    );
    const analystReceipts: UsageReceipt[] = [];
    const a = await runAggregateAnalyst({
      transport: connect(operator),
      identity: p.analyst,
      peerPublicKey: p.operator.publicKey,
      query: query(),
      onReceipt: (r) => void analystReceipts.push(r),
    }).catch((e: unknown) => e);
    const [r0, r1, r2] = await Promise.all(runs);
    const op = await operator.result;
    // The ordering was forced: the ABORT was delivered with the receipt view already behind it.
    expect(forced.readAhead).toBe(1);
    expect(op.outcome).toMatchObject({ status: 'aborted' });
    expect(r2).toBeInstanceOf(InputError);
    for (const r of [r0, r1, a]) expect(r).toBeInstanceOf(DataportError);
    expect(op.linksWithoutReceipt).toBe(0);
    expect(op.receipts.map((r) => r.body.outcome)).toEqual(['failed', 'failed', 'failed', 'failed']);
    expect([...own.flat(), ...analystReceipts].map((r) => r.body.outcome)).toEqual(['failed', 'failed', 'failed', 'failed']);
    for (const r of op.receipts) verifyReceipt(r);
  }, 180_000);
  it('a frame altered on the wire fails its MAC: that link is dropped and the round aborts', async () => {
    const p = parties();
    const operator = createAggregateOperator(operatorOptions(p));
    // Provider 0's third frame (after HELLO and CONFIRM) is its CONTRIBUTION: flip one bit of it.
    const tampered = connect(operator, {
      intercept: (frame, from, index) => {
        if (from !== 'a' || index !== 2) return undefined;
        const copy = frame.slice();
        copy[copy.length - 40]! ^= 1;
        return copy;
      },
    });
    const runs = data.map((rows, i) =>
      runAggregateProvider({ transport: i === 0 ? tampered : connect(operator), identity: p.hospitals[i]!, peerPublicKey: p.operator.publicKey, rows }).catch((e: unknown) => e),
    );
    const analyst = await runAggregateAnalyst({ transport: connect(operator), identity: p.analyst, peerPublicKey: p.operator.publicKey, query: query() }).catch((e: unknown) => e);
    const [r0, r1, r2] = await Promise.all(runs);
    const op = await operator.result;
    expect(op.outcome.status).toBe('aborted');
    expect(analyst).toBeInstanceOf(TransportClosedError);
    expect(r0).toBeInstanceOf(DataportError);
    for (const r of [r1, r2]) expect(r).toBeInstanceOf(TransportClosedError);
    // The altered link has no receipt; the others record the failure.
    expect(op.linksWithoutReceipt).toBe(1);
    expect(op.receipts.map((r) => r.body.outcome)).toEqual(['failed', 'failed', 'failed']);
  }, 180_000);
  it('a connection that never completes its handshake is closed (it holds no place)', async () => {
    const p = parties();
    const stop = new AbortController();
    const operator = createAggregateOperator(operatorOptions(p, { handshakeTimeoutMs: 200, signal: stop.signal }));
    const [silent, theirs] = createMemoryTransportPair();
    await operator.handle(theirs); // returns once the handshake deadline passed
    // It is told why (a session error frame), then the connection is closed.
    expect((await silent.receive())[0]).toBe(SessionMessageType.ERROR);
    await expect(silent.receive()).rejects.toBeInstanceOf(TransportClosedError);
    stop.abort();
    await expect(operator.result).rejects.toBeInstanceOf(AbortError);
  }, 60_000);
});
