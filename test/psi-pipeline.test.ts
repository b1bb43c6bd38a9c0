/**
 * Round-1 pipelining (party.ts) and event-loop yielding (yield.ts): masking of received batches
 * that completes out of order still fills the table in arrival order; failures of a batch that is
 * no longer awaited still fail the run with their typed error; the async normalisation and
 * de-duplication give the synchronous results.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createMemoryTransportPair } from '../src/transport/index.js';
import { createInlineExecutor, type CryptoExecutor } from '../src/protocols/executor.js';
import { runPsiProtocol, encodeEcdhPsiBatch, decodeEcdhPsiBatch, type PsiProtocolOptions } from '../src/protocols/index.js';
import { dedupeRecords, dedupeRecordsAsync, normalizeKey, normalizeKeysAsync } from '../src/protocols/psi/normalize.js';
import { createYielder, yieldToEventLoop } from '../src/protocols/psi/yield.js';
import { decodePointBatch } from '../src/crypto/point.js';
import { AbortError, MalformedMessageError, WorkerCrashedError } from '../src/errors.js';

const enc = new TextEncoder();
const ekm = enc.encode('binding');
let inline: CryptoExecutor;
beforeAll(async () => {
  inline = await createInlineExecutor();
});

/** `n` event-loop turns (setImmediate hops): a deterministic delay that needs no clock. */
async function hops(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await yieldToEventLoop();
}

/**
 * The inline executor whose masking results arrive out of order: call i settles after
 * 1 + 3 * ((i + 1) % 2) event-loop turns, so every second call overtakes its predecessor.
 * Records how many calls were in flight at once; `failCall` makes that call reject.
 */
function reorderingExecutor(failCall?: number): CryptoExecutor & { maxInFlight: number; calls: number } {
  let inFlight = 0;
  const ex = {
    maxInFlight: 0,
    calls: 0,
    hashToGroup: (r: readonly Uint8Array[], k: Uint8Array, s?: AbortSignal) => inline.hashToGroup(r, k, s),
    multiply: (sc: Uint8Array, p: Uint8Array, s?: AbortSignal) => inline.multiply(sc, p, s),
    async multiplyAndTruncate(sc: Uint8Array, p: Uint8Array, L: 16 | 24 | 32, s?: AbortSignal) {
      const i = ex.calls++;
      inFlight++;
      ex.maxInFlight = Math.max(ex.maxInFlight, inFlight);
      try {
        const out = await inline.multiplyAndTruncate!(sc, p, L, s);
        await hops(1 + 3 * ((i + 1) % 2));
        if (i === failCall) throw new WorkerCrashedError('worker 0 crashed (test)');
        return out;
      } finally {
        inFlight--;
      }
    },
    close: async () => {},
  };
  return ex;
}

function plainIntersection(xs: string[], ys: string[]): number[] {
  const set = new Set(ys);
  return xs.flatMap((x, i) => (set.has(x) ? [i] : []));
}

describe('round-1 pipelining', () => {
  it('out-of-order masking results still give exactly the plain intersection, in every output mode', async () => {
    const options: PsiProtocolOptions[] = [
      { batchSize: 5 },
      { batchSize: 3, output: 'requester', truncation: 2 },
      { batchSize: 4, cardinalityOnly: true },
      { batchSize: 7, truncation: 0 },
    ];
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.integer({ min: 0, max: 80 }), { minLength: 1, maxLength: 40 }),
        fc.uniqueArray(fc.integer({ min: 0, max: 80 }), { minLength: 1, maxLength: 40 }),
        async (xi, yi) => {
          const xs = xi.map((v) => `id${v}`);
          const ys = yi.map((v) => `id${v}`);
          for (const opts of options) {
            const [a, b] = createMemoryTransportPair();
            const [exA, exB] = [reorderingExecutor(), reorderingExecutor()];
            const [r, s] = await Promise.all([
              runPsiProtocol({ role: 'requester', records: xs.map((x) => enc.encode(x)), transport: a, ekm, executor: exA, options: opts }),
              runPsiProtocol({ role: 'responder', records: ys.map((y) => enc.encode(y)), transport: b, ekm, executor: exB, options: opts }),
            ]);
            const want = plainIntersection(xs, ys);
            expect(r.intersectionSize).toBe(want.length);
            if (!opts.cardinalityOnly) expect(r.intersection).toEqual(want);
            if (opts.output !== 'requester' && !opts.cardinalityOnly) expect(s.intersection).toEqual(plainIntersection(ys, xs));
          }
        },
      ),
      { numRuns: 6 },
    );
  });

  it('several received batches are masked at once, at most three (depth 2 plus the newest)', async () => {
    const xs = Array.from({ length: 60 }, (_, i) => enc.encode(`x${i}`));
    const ys = Array.from({ length: 60 }, (_, i) => enc.encode(`x${i + 30}`));
    const [a, b] = createMemoryTransportPair();
    const [exA, exB] = [reorderingExecutor(), reorderingExecutor()];
    const [r] = await Promise.all([
      runPsiProtocol({ role: 'requester', records: xs, transport: a, ekm, executor: exA, options: { batchSize: 5 } }),
      runPsiProtocol({ role: 'responder', records: ys, transport: b, ekm, executor: exB, options: { batchSize: 5 } }),
    ]);
    expect(r.intersectionSize).toBe(30);
    expect(exB.calls).toBe(12); // the responder masks the requester's 12 round-1 batches
    expect(exB.maxInFlight).toBeGreaterThanOrEqual(2);
    expect(exB.maxInFlight).toBeLessThanOrEqual(3);
  });

  it('the responder starts hashing its own round 1 while the requester\'s round 1 is still arriving', async () => {
    const xs = Array.from({ length: 12 }, (_, i) => enc.encode(`x${i}`));
    const ys = Array.from({ length: 9 }, (_, i) => enc.encode(`x${i * 3}`));
    const log: string[] = [];
    const base = reorderingExecutor();
    const logging: CryptoExecutor = {
      ...base,
      hashToGroup: (r, k, sig) => {
        log.push('hash');
        return base.hashToGroup(r, k, sig);
      },
      multiplyAndTruncate: (sc, pts, L, sig) => {
        log.push('mask');
        return base.multiplyAndTruncate!(sc, pts, L, sig);
      },
    };
    const [a, b] = createMemoryTransportPair();
    const [r, s] = await Promise.all([
      runPsiProtocol({ role: 'requester', records: xs, transport: a, ekm, executor: reorderingExecutor(), options: { batchSize: 4 } }),
      runPsiProtocol({ role: 'responder', records: ys, transport: b, ekm, executor: logging, options: { batchSize: 4 } }),
    ]);
    expect(r.intersection).toEqual([0, 3, 6, 9]);
    expect(s.intersection).toEqual([0, 1, 2, 3]);
    // 3 received batches are masked; the first own batch is hashed before the last of them.
    expect(log.filter((e) => e === 'mask')).toHaveLength(3);
    expect(log.indexOf('hash')).toBeLessThan(log.lastIndexOf('mask'));
  });

  it('a masking failure of an earlier batch fails the run with its own typed error', async () => {
    const xs = Array.from({ length: 40 }, (_, i) => enc.encode(`x${i}`));
    const [a, b] = createMemoryTransportPair();
    const r = await Promise.allSettled([
      runPsiProtocol({ role: 'requester', records: xs, transport: a, ekm, executor: reorderingExecutor(), options: { batchSize: 4 } }),
      runPsiProtocol({ role: 'responder', records: xs, transport: b, ekm, executor: reorderingExecutor(1), options: { batchSize: 4 } }),
    ]);
    expect(r[1].status).toBe('rejected');
    expect((r[1] as PromiseRejectedResult).reason).toBeInstanceOf(WorkerCrashedError);
    expect(r[0].status).toBe('rejected');
  });

  it('a duplicated point in a batch that is not the last is refused (MalformedMessageError)', async () => {
    const xs = Array.from({ length: 12 }, (_, i) => enc.encode(`x${i}`));
    // The requester's first round-1 batch (frame 1 after the handshake request) repeats its first point.
    const [a, b] = createMemoryTransportPair({
      intercept: (f, from, i) => {
        if (from !== 'a' || i !== 1) return undefined;
        const batch = decodeEcdhPsiBatch(f, { maxPointsBytes: 1 << 20 });
        const pts = batch.encodedPoints.slice();
        pts.copyWithin(32, 0, 32);
        return encodeEcdhPsiBatch({ ...batch, encodedPoints: pts });
      },
    });
    const r = await Promise.allSettled([
      runPsiProtocol({ role: 'requester', records: xs, transport: a, ekm, executor: reorderingExecutor(), options: { batchSize: 4 } }),
      runPsiProtocol({ role: 'responder', records: xs, transport: b, ekm, executor: reorderingExecutor(), options: { batchSize: 4 } }),
    ]);
    expect(r[1].status).toBe('rejected');
    expect((r[1] as PromiseRejectedResult).reason).toBeInstanceOf(MalformedMessageError);
  });
});

describe('slices and yields', () => {
  it('decodePointBatch names positions from firstPosition on', () => {
    const flat = new Uint8Array(64);
    flat[32] = 9; // position 0: u = 0 (low order); position 1: u = 9 (valid)
    expect(() => decodePointBatch(flat, 4096)).toThrow('invalid point at position 4096: low-order');
    expect(decodePointBatch(flat.subarray(32), 7)).toHaveLength(32);
    expect(() => decodePointBatch(flat, -1)).toThrow(RangeError);
  });

  it('yieldToEventLoop resumes after a macrotask queued before it; createYielder yields only past its budget', async () => {
    const order: string[] = [];
    setImmediate(() => order.push('immediate'));
    await yieldToEventLoop();
    order.push('resumed');
    expect(order).toEqual(['immediate', 'resumed']);
    expect(createYielder(Number.POSITIVE_INFINITY)()).toBeUndefined();
    const always = createYielder(0);
    const y = always();
    expect(y).toBeInstanceOf(Promise);
    await y;
  });

  it('normalizeKeysAsync and dedupeRecordsAsync equal their synchronous forms (across slices)', async () => {
    const rows: (string | string[])[] = Array.from({ length: 9000 }, (_, i) =>
      i % 7 === 0 ? [` Name${i % 50} `, `${i % 13}`] : i % 11 === 0 ? '   ' : `ID${String(i % 3000).padStart(6, '0')}X`,
    );
    const want = rows.map((r) => normalizeKey(typeof r === 'string' ? [r] : r));
    const got = await normalizeKeysAsync(rows);
    expect(got).toEqual(want);
    const d = dedupeRecords(want);
    const da = await dedupeRecordsAsync(got);
    expect(da.keyOfRow).toEqual(d.keyOfRow);
    expect(da.keys).toEqual(d.keys);
    await expect(normalizeKeysAsync([1 as unknown as string])).rejects.toBeInstanceOf(TypeError);
    const ac = new AbortController();
    ac.abort();
    await expect(dedupeRecordsAsync(got, ac.signal)).rejects.toBeInstanceOf(AbortError);
  });
});
