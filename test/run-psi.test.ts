import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  AbortError,
  DataportError,
  GuardrailRefusedError,
  TermsRefusedError,
  TransportClosedError,
  VerificationFailedError,
} from '../src/errors.js';
import type { UsageReceipt } from '../src/ledger/receipt-types.js';
import { verifyReceipt } from '../src/ledger/receipt.js';
import { generateIdentity } from '../src/session/identity.js';
import { SessionMessageType } from '../src/session/messages.js';
import { preparePsiRecords, runPsi, type PsiTerms, type RunPsiSessionOptions } from '../src/session/run-psi.js';
import type { SessionPolicy } from '../src/session/session.js';
import { createMemoryTransportPair, type MemoryTransportOptions } from '../src/transport/index.js';
import { connectWebSocket, listenWebSocket } from '../src/transport/websocket-node.js';
import { connectNativeWebSocket, type NativeWebSocketConstructor } from '../src/transport/websocket-browser.js';
import WebSocket from 'ws';

const pharma = generateIdentity();
const hospital = generateIdentity();

/** Deterministic pseudo-random resident-ID-like keys. */
function ids(seed: number, n: number, prefix = 'id'): string[] {
  let x = seed >>> 0;
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out.push(`${prefix}${x % 500}`);
  }
  return out;
}

/** Plain (non-private) intersection: indexes of `mine` rows whose normalised key is in `theirs`. */
function plainRows(mine: string[], theirs: string[]): number[] {
  const norm = (s: string) => s.normalize('NFKC').trim().toLowerCase();
  const set = new Set(theirs.map(norm));
  return mine.flatMap((k, i) => (set.has(norm(k)) ? [i] : []));
}

function plainSize(a: string[], b: string[]): number {
  const norm = (s: string) => s.normalize('NFKC').trim().toLowerCase();
  const sb = new Set(b.map(norm));
  return new Set(a.map(norm).filter((k) => sb.has(k))).size;
}

async function both(
  reqRecords: RunPsiSessionOptions['records'],
  resRecords: RunPsiSessionOptions['records'],
  terms: PsiTerms,
  policy: SessionPolicy = {},
  transport?: MemoryTransportOptions,
) {
  const [a, b] = createMemoryTransportPair(transport);
  const receipts: UsageReceipt[] = [];
  return {
    receipts,
    results: await Promise.allSettled([
      runPsi({
        role: 'requester', records: reqRecords, transport: a, identity: pharma, peerPublicKey: hospital.publicKey, terms,
        onReceipt: (r) => void receipts.push(r), batchSize: 64,
      }),
      runPsi({
        role: 'responder', records: resRecords, transport: b, identity: hospital, peerPublicKey: pharma.publicKey, policy,
        onReceipt: (r) => void receipts.push(r), batchSize: 64,
      }),
    ]),
  };
}

function value<T>(r: PromiseSettledResult<T>): T {
  if (r.status === 'rejected') throw r.reason;
  return r.value;
}

describe('runPsi over the memory pair', () => {
  it('reveal to both: each side gets exactly its rows of the plain intersection, duplicates included', async () => {
    const A = ids(1, 300);
    const B = ids(2, 250);
    const { results, receipts } = await both(A, B, { reveal: 'both', purpose: 'audit' });
    const [ra, rb] = results.map(value);
    expect(ra!.intersectionRows).toEqual(plainRows(A, B));
    expect(rb!.intersectionRows).toEqual(plainRows(B, A));
    expect(ra!.intersectionSize).toBe(plainSize(A, B));
    expect(rb!.intersectionSize).toBe(plainSize(A, B));
    expect(ra!.inputRecords).toBe(300);
    expect(ra!.distinctKeys).toBe(new Set(A).size);
    expect(ra!.peerDistinctKeys).toBe(new Set(B).size);
    expect(rb!.peerDistinctKeys).toBe(new Set(A).size);
    expect(ra!.bytesSent).toBe(rb!.bytesReceived);
    expect(ra!.bytesReceived).toBe(rb!.bytesSent);
    // One receipt, signed by both, identical on both sides, with no identifiers in it.
    expect(ra!.receipt).toEqual(rb!.receipt);
    expect(receipts).toHaveLength(2);
    verifyReceipt(ra!.receipt, [pharma.publicKey, hospital.publicKey]);
    const body = ra!.receipt.body;
    expect(body.protocol).toBe('ecdh-psi');
    expect(body.outcome).toBe('completed');
    expect(body.inputSizes).toEqual({ requester: new Set(A).size, responder: new Set(B).size });
    expect(body.outputSizes).toEqual({ requester: plainSize(A, B), responder: plainSize(A, B) });
    expect(body.options).toEqual({ 'count-only': 'false', truncate: '128', security: 'malicious-up-to-input-choice', 'key-schema': '1/nfkc-trim-lower-v1', suite: 'curve25519', recipients: 'requester+responder' });
    expect(JSON.stringify(body, (_k, v) => (v instanceof Uint8Array ? [...v] : v))).not.toMatch(/id\d/);
  }, 60_000);

  it('records prepared ahead of the session (before connecting / listening) give the same result, and serve many sessions', async () => {
    const A = ids(11, 200);
    const B = ids(12, 220);
    const prepA = await preparePsiRecords(A);
    const prepB = await preparePsiRecords(B.map((k) => [k]), { keySchema: { columns: ['patient_id'] } });
    expect(prepA.inputRecords).toBe(200);
    expect(prepA.distinctKeys).toBe(new Set(A).size);
    // The responder's preparation is reused by two sessions (a listener that keeps serving).
    for (const reqRecords of [prepA, A] as const) {
      const [ra, rb] = (await both(reqRecords, prepB, { reveal: 'both' })).results.map(value);
      expect(ra!.intersectionRows).toEqual(plainRows(A, B));
      expect(rb!.intersectionRows).toEqual(plainRows(B, A));
    }
    // The key schema belongs to the preparation: giving it again is a mistake, not silently ignored.
    const [a] = createMemoryTransportPair();
    await expect(runPsi({ role: 'requester', records: prepA, keySchema: { columns: ['x'] }, transport: a, identity: pharma, peerPublicKey: hospital.publicKey, terms: {} })).rejects.toThrow(TypeError);
  }, 60_000);

  it('reveal to the requester only: the responder learns nothing', async () => {
    const A = ids(3, 120);
    const B = ids(4, 140);
    const { results } = await both(A, B, { reveal: 'requester', truncation: 'none' });
    const [ra, rb] = results.map(value);
    expect(ra!.learned).toBe('intersection');
    expect(ra!.intersectionRows).toEqual(plainRows(A, B));
    expect(rb!.learned).toBe('nothing');
    expect(rb!.intersectionRows).toBeUndefined();
    expect(rb!.intersectionSize).toBeUndefined();
    // The requester is the only recipient: its result size stays out of the co-signed receipt,
    // which the responder also holds.
    expect(rb!.receipt.body.outputSizes).toEqual({ responder: 0 });
  }, 60_000);

  it('count-only: the size and no rows; normalisation and multi-column keys', async () => {
    const A = [['Zhang San', '1990-03-07'], ['LI SI ', '1985-01-01'], ['wang wu', '2000-12-12'], ['zhang san', '1990-03-07']];
    const B = [['zhang san', '1990-03-07'], ['li si', '1985-01-01'], ['li si', '1985-01-02']];
    const { results } = await both(A, B, { reveal: 'both', countOnly: true, truncation: 192 });
    const [ra, rb] = results.map(value);
    expect(ra!.learned).toBe('cardinality');
    expect(ra!.intersectionRows).toBeUndefined();
    expect(ra!.intersectionSize).toBe(2);
    expect(rb!.intersectionSize).toBe(2);
    expect(ra!.distinctKeys).toBe(3);
  }, 60_000);

  it('a resident ID ending in x matches one ending in X; duplicate rows are all returned', async () => {
    const A = ['11010119900307002X', '110101199003070011', '11010119900307002x', ' 11010119900307002X '];
    const B = ['11010119900307002x'];
    const { results } = await both(A, B, {});
    expect(value(results[0]!).intersectionRows).toEqual([0, 2, 3]);
  }, 60_000);

  it('property: the rows returned are exactly the plain intersection (random small sets)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom('a', 'b', 'c', 'd', 'e', 'F', 'f ', 'g', ''), { maxLength: 12 }),
        fc.array(fc.constantFrom('a', 'B', 'c', 'x', 'y', 'f', 'g', ' '), { maxLength: 12 }),
        fc.boolean(),
        async (A, B, revealBoth) => {
          const { results } = await both(A, B, { reveal: revealBoth ? 'both' : 'requester' });
          const [ra, rb] = results.map(value);
          const nonEmpty = (xs: string[]) => xs.filter((x) => x.trim() !== '');
          expect(ra!.intersectionRows).toEqual(plainRows(A, nonEmpty(B)).filter((i) => A[i]!.trim() !== ''));
          expect(ra!.intersectionSize).toBe(plainSize(nonEmpty(A), nonEmpty(B)));
          if (revealBoth) expect(rb!.intersectionRows).toEqual(plainRows(B, nonEmpty(A)).filter((i) => B[i]!.trim() !== ''));
          else expect(rb!.learned).toBe('nothing');
          expect(ra!.receipt).toEqual(rb!.receipt);
        },
      ),
      { numRuns: 8 },
    );
  }, 120_000);

  it('terms outside the policy: TermsRefusedError with the reason on both sides, and a refused receipt', async () => {
    const { results, receipts } = await both(ids(5, 10), ids(6, 10), { reveal: 'both' }, { reveal: 'requester' });
    for (const r of results) {
      expect(r.status).toBe('rejected');
      const e = (r as PromiseRejectedResult).reason;
      expect(e).toBeInstanceOf(TermsRefusedError);
      expect(e.message).toBe('listener does not reveal results to both parties');
    }
    expect(receipts).toHaveLength(2);
    expect(receipts[0]).toEqual(receipts[1]);
    expect(receipts[0]!.body.outcome).toBe('refused');
  }, 60_000);

  it('an intersection below minIntersection is withheld on both sides and recorded', async () => {
    const A = ['a', 'b', 'c'];
    const B = ['b', 'c', 'd'];
    const { results, receipts } = await both(A, B, { minIntersection: 5 });
    for (const r of results) expect((r as PromiseRejectedResult).reason).toBeInstanceOf(GuardrailRefusedError);
    expect(receipts).toHaveLength(2);
    expect(receipts[0]!.body.outcome).toBe('withheld');
    expect(receipts[0]!.body.outputSizes).toEqual({ responder: 0 });
    expect(receipts[0]!.body.guardrails).toEqual([{ rule: 'min-cohort', outcome: 'withheld', detail: 'k=5' }]);
  }, 60_000);

  it('an intersection at the minimum passes and says so', async () => {
    const { results } = await both(['a', 'b', 'c'], ['b', 'c', 'd'], { minIntersection: 2 });
    const ra = value(results[0]!);
    expect(ra.intersectionSize).toBe(2);
    expect(ra.receipt.body.guardrails).toEqual([{ rule: 'min-cohort', outcome: 'passed', detail: 'k=2' }]);
  }, 60_000);

  it('a requester set above the listener’s maximum is refused; absurd bounds are misuse', async () => {
    const [a, b] = createMemoryTransportPair();
    const res = runPsi({ role: 'responder', records: ['a'], transport: b, identity: hospital, allowAnyPeer: true, policy: { maxSetSize: 2 } });
    const req = runPsi({ role: 'requester', records: ['a', 'b', 'c'], transport: a, identity: pharma, peerPublicKey: hospital.publicKey });
    await expect(req).rejects.toThrow("requester set size is above the listener's maximum of 2");
    await expect(res).rejects.toBeInstanceOf(TermsRefusedError);
    await expect(
      runPsi({ role: 'requester', records: ['a'], transport: a, identity: pharma, peerPublicKey: hospital.publicKey, terms: { peerSetSize: { max: 2 ** 40 } } }),
    ).rejects.toBeInstanceOf(RangeError);
  });

  it('a beforeRun refusal on the listener yields a signed refusal on both sides', async () => {
    const [a, b] = createMemoryTransportPair();
    const results = await Promise.allSettled([
      runPsi({ role: 'requester', records: ['a'], transport: a, identity: pharma, peerPublicKey: hospital.publicKey, terms: {} }),
      runPsi({
        role: 'responder', records: ['a'], transport: b, identity: hospital, allowAnyPeer: true,
        beforeRun: () => { throw new TermsRefusedError('monthly query budget for this counterparty is used up'); },
      }),
    ]);
    for (const r of results) {
      expect((r as PromiseRejectedResult).reason).toBeInstanceOf(TermsRefusedError);
      expect((r as PromiseRejectedResult).reason.message).toBe('monthly query budget for this counterparty is used up');
    }
  });

  it('a corrupted protocol frame ends both sides with a typed error, no hang', async () => {
    let n = 0;
    const { results } = await both(ids(7, 50), ids(8, 50), { reveal: 'both' }, {}, {
      intercept: (frame, from) => {
        if (from === 'b' && frame[0] === SessionMessageType.DATA && n++ === 1) {
          return frame.subarray(0, Math.max(2, frame.length >> 1)); // truncate the responder's second data frame
        }
        return undefined;
      },
    });
    for (const r of results) {
      expect(r.status).toBe('rejected');
      expect((r as PromiseRejectedResult).reason).toBeInstanceOf(DataportError);
    }
    const codes = results.map((r) => (r as PromiseRejectedResult).reason.code);
    expect(codes[0]).toBe(codes[1]);
  }, 60_000);

  it('abort: AbortError locally, a typed end at the peer', async () => {
    const [a, b] = createMemoryTransportPair();
    const ac = new AbortController();
    const res = runPsi({
      role: 'responder', records: ids(9, 200), transport: b, identity: hospital, allowAnyPeer: true,
      onProgress: () => ac.abort(), signal: ac.signal, batchSize: 16,
    });
    const req = runPsi({ role: 'requester', records: ids(10, 200), transport: a, identity: pharma, peerPublicKey: hospital.publicKey, batchSize: 16 });
    await expect(res).rejects.toBeInstanceOf(AbortError);
    await expect(req).rejects.toBeInstanceOf(TransportClosedError);
  }, 60_000);

  it('a responder with a different identity than pinned is VerificationFailedError', async () => {
    const [a, b] = createMemoryTransportPair();
    const results = await Promise.allSettled([
      runPsi({ role: 'requester', records: ['a'], transport: a, identity: pharma, peerPublicKey: generateIdentity().publicKey }),
      runPsi({ role: 'responder', records: ['a'], transport: b, identity: hospital, allowAnyPeer: true }),
    ]);
    for (const r of results) expect((r as PromiseRejectedResult).reason).toBeInstanceOf(VerificationFailedError);
  });
});

describe('runPsi over WebSocket', () => {
  const stops: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const s of stops.splice(0)) await s();
  });

  it('equals the plain intersection', async () => {
    const A = ids(11, 400);
    const B = ids(12, 300);
    let serverResult!: Promise<Awaited<ReturnType<typeof runPsi>>>;
    let started!: () => void;
    const sessionStarted = new Promise<void>((r) => (started = r));
    const server = await listenWebSocket({}, (transport) => {
      serverResult = runPsi({ role: 'responder', records: B, transport, identity: hospital, peerPublicKey: pharma.publicKey, batchSize: 64 });
      started();
      return serverResult.then(() => undefined);
    });
    stops.push(() => server.close());
    const transport = await connectWebSocket(server.address().url);
    const mine = await runPsi({
      role: 'requester', records: A, transport, identity: pharma, peerPublicKey: hospital.publicKey,
      terms: { reveal: 'both' }, batchSize: 64,
    });
    await sessionStarted;
    const theirs = await serverResult;
    expect(mine.intersectionRows).toEqual(plainRows(A, B));
    expect(theirs.intersectionRows).toEqual(plainRows(B, A));
    expect(mine.receipt).toEqual(theirs.receipt);
    expect(mine.bytesSent).toBe(theirs.bytesReceived);
  }, 60_000);

  it('works from the native (browser) WebSocket client too', async () => {
    const A = ids(13, 150);
    const B = ids(14, 150);
    let serverResult!: Promise<Awaited<ReturnType<typeof runPsi>>>;
    const server = await listenWebSocket({}, (transport) => {
      serverResult = runPsi({ role: 'responder', records: B, transport, identity: hospital, allowAnyPeer: true, batchSize: 32 });
      return serverResult.then(() => undefined);
    });
    stops.push(() => server.close());
    // Node 20 has no global WebSocket; ws implements the WHATWG interface the browser client uses.
    const transport = await connectNativeWebSocket(server.address().url, { WebSocket: WebSocket as unknown as NativeWebSocketConstructor });
    const mine = await runPsi({ role: 'requester', records: A, transport, identity: pharma, peerPublicKey: hospital.publicKey, batchSize: 32 });
    expect(mine.intersectionRows).toEqual(plainRows(A, B));
    expect((await serverResult).receipt).toEqual(mine.receipt);
  }, 60_000);
});
