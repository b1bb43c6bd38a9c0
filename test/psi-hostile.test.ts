/**
 * Hostile-peer scenarios: every one must end in a typed error on the honest side, and never hang
 * (the honest side closes the transport on failure, so the other end ends too).
 */
import { describe, expect, it, beforeAll } from 'vitest';
import { createMemoryTransportPair, type MemoryTransportOptions } from '../src/transport/index.js';
import { createInlineExecutor, type CryptoExecutor } from '../src/protocols/executor.js';
import {
  runPsiProtocol,
  encodeEcdhPsiBatch,
  encodeHandshakeRequest,
  decodeEcdhPsiBatch,
  type PsiProtocolOptions,
  type PsiResult,
} from '../src/protocols/index.js';
import { checkPoint } from '../src/crypto/point.js';
import {
  AbortError,
  InvalidPointError,
  LimitExceededError,
  MalformedMessageError,
  ProtocolVersionError,
  TermsRefusedError,
  TimeoutError,
  TransportClosedError,
  UnexpectedMessageError,
} from '../src/errors.js';

const enc = new TextEncoder();
const ekm = enc.encode('binding');
let executor: CryptoExecutor;
beforeAll(async () => {
  executor = await createInlineExecutor();
});

const X = Array.from({ length: 10 }, (_, i) => enc.encode(`x${i}`));
const Y = Array.from({ length: 7 }, (_, i) => enc.encode(`x${i * 2}`));

type Settled = [PromiseSettledResult<PsiResult>, PromiseSettledResult<PsiResult>];

/** Runs two honest parties over a pair whose frames may be tampered with. */
async function runPair(
  transport: MemoryTransportOptions,
  options: PsiProtocolOptions = { batchSize: 4 },
  responderOptions: PsiProtocolOptions = options,
  ys: Uint8Array[] = Y,
): Promise<Settled> {
  const [a, b] = createMemoryTransportPair(transport);
  return (await Promise.allSettled([
    runPsiProtocol({ role: 'requester', records: X, transport: a, ekm, executor, options }),
    runPsiProtocol({ role: 'responder', records: ys, transport: b, ekm, executor, options: responderOptions }),
  ])) as Settled;
}

function reason(r: PromiseSettledResult<PsiResult>): unknown {
  expect(r.status).toBe('rejected');
  return (r as PromiseRejectedResult).reason;
}

/** A 32-byte little-endian encoding of a small integer u. */
function u(n: number): Uint8Array {
  const b = new Uint8Array(32);
  b[0] = n & 0xff;
  b[1] = n >> 8;
  return b;
}

function firstTwistPoint(): Uint8Array {
  for (let n = 2; n < 1000; n++) if (checkPoint(u(n)) === 'not-on-curve') return u(n);
  throw new Error('no twist point found');
}

/** Replaces the points of a round-1 batch with `points` repeated, keeping everything else. */
function withPoints(frame: Uint8Array, points: Uint8Array): Uint8Array {
  const b = decodeEcdhPsiBatch(frame, { maxPointsBytes: 1 << 20 });
  const k = b.encodedPoints.length / 32;
  const flat = new Uint8Array(k * 32);
  for (let i = 0; i < k; i++) flat.set(points, i * 32);
  return encodeEcdhPsiBatch({ ...b, encodedPoints: flat });
}

describe('hostile peers end in typed errors on the honest side', () => {
  it('garbage instead of the HandshakeRequest', async () => {
    const [a, b] = createMemoryTransportPair();
    const honest = runPsiProtocol({ role: 'responder', records: Y, transport: b, ekm, executor });
    await a.send(new Uint8Array([0xde, 0xad, 0xbe, 0xef]));
    await expect(honest).rejects.toBeInstanceOf(MalformedMessageError);
    await expect(a.receive()).rejects.toBeInstanceOf(TransportClosedError);
  });

  it('a well-formed request of an unknown version', async () => {
    const [a, b] = createMemoryTransportPair();
    const honest = runPsiProtocol({ role: 'responder', records: Y, transport: b, ekm, executor });
    await a.send(encodeHandshakeRequest({ version: 9, suites: [4], pointOctetFormats: [0], outputMode: 0, truncationOptions: [1], itemNum: 3n }));
    await expect(honest).rejects.toBeInstanceOf(ProtocolVersionError);
  });

  it('no common suite: the responder refuses, both sides end with typed errors', async () => {
    const [a, b] = createMemoryTransportPair();
    const honest = runPsiProtocol({ role: 'responder', records: Y, transport: b, ekm, executor });
    await a.send(encodeHandshakeRequest({ version: 1, suites: [1, 2], pointOctetFormats: [0], outputMode: 0, truncationOptions: [1], itemNum: 3n }));
    await expect(honest).rejects.toBeInstanceOf(ProtocolVersionError);
    const refusal = await a.receive();
    expect(refusal[1]).toBe(1); // status: refused
  });

  it('different options on the two sides: refused with TermsRefusedError on both', async () => {
    const [a, b] = createMemoryTransportPair();
    const r = await Promise.allSettled([
      runPsiProtocol({ role: 'requester', records: X, transport: a, ekm, executor, options: { output: 'both' } }),
      runPsiProtocol({ role: 'responder', records: Y, transport: b, ekm, executor, options: { output: 'requester' } }),
    ]);
    expect(reason(r[0])).toBeInstanceOf(TermsRefusedError);
    expect(reason(r[1])).toBeInstanceOf(TermsRefusedError);
  });

  it('a peer announcing more records than allowed', async () => {
    // The responder's limit: it refuses the request (the requester only learns "refused").
    const r = await runPair({}, { batchSize: 4 }, { batchSize: 4, maxPeerSetSize: 8 });
    expect(reason(r[1])).toBeInstanceOf(LimitExceededError);
    expect(reason(r[0])).toBeInstanceOf(TermsRefusedError);
    // The requester's limit: it fails on the response's item_num and closes.
    const r2 = await runPair({}, { batchSize: 4, maxPeerSetSize: 5 }, { batchSize: 4 });
    expect(reason(r2[0])).toBeInstanceOf(LimitExceededError);
    expect(reason(r2[1])).toBeInstanceOf(TransportClosedError);
  });

  it('a truncated round-1 frame', async () => {
    const r = await runPair({ intercept: (f, from, i) => (from === 'a' && i === 1 ? f.subarray(0, f.length - 5) : undefined) });
    expect(reason(r[1])).toBeInstanceOf(MalformedMessageError);
    expect(reason(r[0])).toBeInstanceOf(TransportClosedError);
  });

  it('an oversized frame trips the receiver’s frame limit', async () => {
    const r = await runPair({
      maxFrameBytes: 4096,
      intercept: (f, from, i) => (from === 'b' && i === 1 ? new Uint8Array(8192) : undefined),
    });
    expect(reason(r[0])).toBeInstanceOf(LimitExceededError);
    expect(reason(r[1])).toBeInstanceOf(TransportClosedError);
  });

  it('a batch larger than maxBatchPoints is refused before decoding points', async () => {
    const [a, b] = createMemoryTransportPair();
    const r = Promise.allSettled([
      runPsiProtocol({ role: 'requester', records: X, transport: a, ekm, executor, options: { batchSize: 10 } }),
      runPsiProtocol({ role: 'responder', records: Y, transport: b, ekm, executor, options: { batchSize: 10, maxBatchPoints: 4 } }),
    ]);
    const [ra, rb] = (await r) as Settled;
    expect(reason(rb)).toBeInstanceOf(MalformedMessageError);
    expect(reason(ra)).toBeInstanceOf(TransportClosedError);
  });

  it('wrong message order: a round-2 batch where round 1 is expected', async () => {
    const r = await runPair({ intercept: (f, from, i) => (from === 'a' && i === 1 ? f.map((x, j) => (j === 0 ? 2 : x)) : undefined) });
    expect(reason(r[1])).toBeInstanceOf(UnexpectedMessageError);
  });

  it('wrong message order: a batch instead of the HandshakeResponse', async () => {
    const [a, b] = createMemoryTransportPair();
    const honest = runPsiProtocol({ role: 'requester', records: X, transport: a, ekm, executor });
    await b.receive();
    await b.send(encodeEcdhPsiBatch({ type: 1, index: 1n, isLastBatch: true, encodedPoints: u(9) }));
    await expect(honest).rejects.toBeInstanceOf(MalformedMessageError);
  });

  it('wrong batch counts: a batch dropped (fewer points than announced)', async () => {
    const r = await runPair({ intercept: (_f, from, i) => (from === 'a' && i === 2 ? [] : undefined) });
    expect(reason(r[1])).toBeInstanceOf(UnexpectedMessageError);
  });

  it('wrong batch counts: a batch repeated (duplicated index)', async () => {
    const r = await runPair({ intercept: (f, from, i) => (from === 'a' && i === 1 ? [f, f] : undefined) });
    expect(reason(r[1])).toBeInstanceOf(UnexpectedMessageError);
  });

  it('wrong batch counts: last flag missing on the final batch', async () => {
    const r = await runPair({ intercept: (f, from, i) => (from === 'b' && i === 2 ? f.map((x, j) => (j === 9 ? 0 : x)) : undefined) });
    // The responder's 7 points go in batches of 4 + 3; the second (frame 2) must carry the flag.
    expect(reason(r[0])).toBeInstanceOf(UnexpectedMessageError);
  });

  it('round 2: an unknown (missing) index, and a batch with the wrong number of values', async () => {
    // Responder frames: 0 = response, 1..2 = round 1, 3..5 = round 2 (10 requester points / 4).
    const wrongIndex = await runPair({ intercept: (f, from, i) => (from === 'b' && i === 3 ? f.map((x, j) => (j === 8 ? x ^ 1 : x)) : undefined) });
    expect(reason(wrongIndex[0])).toBeInstanceOf(UnexpectedMessageError);
    const wrongCount = await runPair({
      intercept: (f, from, i) => {
        if (from !== 'b' || i !== 3) return undefined;
        const b = decodeEcdhPsiBatch(f, { maxPointsBytes: 1 << 20 });
        return encodeEcdhPsiBatch({ ...b, encodedPoints: b.encodedPoints.subarray(16) });
      },
    });
    expect(reason(wrongCount[0])).toBeInstanceOf(UnexpectedMessageError);
  });

  it('round 2: a duplicated value is refused', async () => {
    // Every responder record is also the requester's, so every round-2 value matches; the
    // requester's frames are 0 = request, 1..3 = round 1 (10 points), 4..5 = round 2 (7 points).
    const subset = X.slice(0, 7);
    const r = await runPair(
      {
        intercept: (f, from, i) => {
          if (from !== 'a' || i !== 4) return undefined;
          const b = decodeEcdhPsiBatch(f, { maxPointsBytes: 1 << 20 });
          const flat = new Uint8Array(b.encodedPoints);
          flat.copyWithin(16, 0, 16);
          return encodeEcdhPsiBatch({ ...b, encodedPoints: flat });
        },
      },
      { batchSize: 4 },
      { batchSize: 4 },
      subset,
    );
    expect(reason(r[1])).toBeInstanceOf(MalformedMessageError);
  });

  it('count-only mode: inflating the count with a repeated matching value is refused', async () => {
    // The responder holds every requester record, so every value of its round 2 (the requester's
    // 10 values, shuffled: frames 4..6 after the response and 3 round-1 frames) matches, and a
    // copied value always repeats a match.
    const r = await runPair(
      {
        intercept: (f, from, i) => {
          if (from !== 'b' || i !== 4) return undefined;
          const b = decodeEcdhPsiBatch(f, { maxPointsBytes: 1 << 20 });
          const flat = new Uint8Array(b.encodedPoints);
          flat.copyWithin(16, 0, 16);
          return encodeEcdhPsiBatch({ ...b, encodedPoints: flat });
        },
      },
      { batchSize: 4, output: 'requester', cardinalityOnly: true },
      { batchSize: 4, output: 'requester', cardinalityOnly: true },
      X,
    );
    expect(reason(r[0])).toBeInstanceOf(MalformedMessageError);
  });

  it('count-only mode: more round-2 values than the learner has records', async () => {
    const opts: PsiProtocolOptions = { batchSize: 4, output: 'requester', cardinalityOnly: true };
    // A copy under another index; no record in common, so no repeated match is detected first.
    const reindexed = (f: Uint8Array) => f.map((x, j) => (j === 8 ? x ^ 1 : x));
    const disjoint = Array.from({ length: 7 }, (_, i) => enc.encode(`y${i}`));
    const r = await runPair({ intercept: (f, from, i) => (from === 'b' && i === 3 ? [f, reindexed(f)] : undefined) }, opts, opts, disjoint);
    expect(reason(r[0])).toBeInstanceOf(UnexpectedMessageError);
    expect(String((reason(r[0]) as Error).message)).toMatch(/more points/);
  });

  it('low-order points in round 1', async () => {
    for (const bad of [u(0), u(1)]) {
      const r = await runPair({ intercept: (f, from, i) => (from === 'a' && i === 1 ? withPoints(f, bad) : undefined) });
      expect(reason(r[1])).toBeInstanceOf(InvalidPointError);
      expect(reason(r[0])).toBeInstanceOf(TransportClosedError);
    }
  });

  it('twist points and non-canonical encodings in round 1', async () => {
    const twist = firstTwistPoint();
    const r = await runPair({ intercept: (f, from, i) => (from === 'b' && i === 1 ? withPoints(f, twist) : undefined) });
    expect(reason(r[0])).toBeInstanceOf(InvalidPointError);
    const high = u(9);
    high[31] = 0x80;
    const r2 = await runPair({ intercept: (f, from, i) => (from === 'b' && i === 1 ? withPoints(f, high) : undefined) });
    expect(reason(r2[0])).toBeInstanceOf(InvalidPointError);
  });

  it('duplicated points in round 1', async () => {
    const r = await runPair({ intercept: (f, from, i) => (from === 'a' && i === 1 ? withPoints(f, u(9)) : undefined) });
    expect(reason(r[1])).toBeInstanceOf(MalformedMessageError);
  });

  it('a round replayed from another session', async () => {
    const captured: Uint8Array[] = [];
    const first = await runPair({ intercept: (f, from, i) => void (from === 'b' && i >= 3 && captured.push(f)) });
    expect(first[0].status).toBe('fulfilled');
    expect(captured.length).toBe(3);
    const replay = await runPair({ intercept: (_f, from, i) => (from === 'b' && i >= 3 ? captured[i - 3] : undefined) });
    // Fresh random indexes per session: the replayed batches name indexes this session never used.
    expect(reason(replay[0])).toBeInstanceOf(UnexpectedMessageError);
  });

  it('disconnect mid-run', async () => {
    const [a, b] = createMemoryTransportPair({
      intercept: (_f, from, i) => {
        if (from === 'b' && i === 2) queueMicrotask(() => b.destroy());
        return undefined;
      },
    });
    const r = (await Promise.allSettled([
      runPsiProtocol({ role: 'requester', records: X, transport: a, ekm, executor, options: { batchSize: 4 } }),
      runPsiProtocol({ role: 'responder', records: Y, transport: b, ekm, executor, options: { batchSize: 4 } }),
    ])) as Settled;
    expect(reason(r[0])).toBeInstanceOf(TransportClosedError);
    expect(reason(r[1])).toBeInstanceOf(TransportClosedError);
  });

  it('a silent peer ends in TimeoutError with an idle timeout', async () => {
    const [a] = createMemoryTransportPair({ a: { idleTimeoutMs: 50 } });
    await expect(runPsiProtocol({ role: 'requester', records: X, transport: a, ekm, executor })).rejects.toBeInstanceOf(TimeoutError);
  });

  it('abort ends the run with AbortError and closes the transport', async () => {
    const [a, b] = createMemoryTransportPair();
    const ac = new AbortController();
    const honest = runPsiProtocol({ role: 'requester', records: X, transport: a, ekm, executor, signal: ac.signal });
    await b.receive(); // the request arrived; the requester now waits for the response
    ac.abort();
    await expect(honest).rejects.toBeInstanceOf(AbortError);
    await expect(b.receive()).rejects.toBeInstanceOf(TransportClosedError);
  });

  it('misuse of the state machine is a TypeError and leaves it usable', async () => {
    const { createPsiRequester } = await import('../src/protocols/index.js');
    const p = createPsiRequester({ records: X, ekm, executor });
    await expect(p.receiveFrame(new Uint8Array(1))).rejects.toBeInstanceOf(TypeError);
    expect(p.status).toBe('send');
    expect(() => p.result()).toThrow(TypeError);
  });
});
