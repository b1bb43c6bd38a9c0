import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PpcaSuiteNames } from '../src/crypto/ppca-suite.js';
import { createInlineExecutor, type CryptoExecutor } from '../src/protocols/executor.js';
import { runPpcaPsi, trimAsciiWhitespace, type PpcaProgress, type PpcaPsiResult } from '../src/protocols/ppca/index.js';
import { createMemoryPpcaLinkPair } from '../src/transport/ppca-link.js';
import { ProtocolVersionError } from '../src/errors.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const ex = await createInlineExecutor();

async function both(a: string[], b: string[], opts: { suite?: (typeof PpcaSuiteNames)[number]; resultToRank?: -1 | 0 | 1; batchSize?: number; chunkBytes?: number } = {}): Promise<[PpcaPsiResult, PpcaPsiResult]> {
  const [l0, l1] = createMemoryPpcaLinkPair({ recvTimeoutMs: 5000, ...(opts.chunkBytes ? { chunkBytes: opts.chunkBytes } : {}) });
  const common = { executor: ex, ...(opts.suite ? { suite: opts.suite } : {}), ...(opts.resultToRank !== undefined ? { resultToRank: opts.resultToRank } : {}), ...(opts.batchSize ? { batchSize: opts.batchSize } : {}) };
  return Promise.all([
    runPpcaPsi({ rank: 0, records: a.map(enc), link: l0, ...common }),
    runPpcaPsi({ rank: 1, records: b.map(enc), link: l1, ...common }),
  ]);
}

const expectedRows = (mine: string[], theirs: string[]): number[] => mine.flatMap((k, i) => (theirs.includes(k) ? [i] : []));

describe('PPCA ECDH-PSI over the in-memory link', () => {
  for (const suite of PpcaSuiteNames) {
    for (const resultToRank of [-1, 0, 1] as const) {
      it(`${suite}, result_to_rank ${resultToRank}`, async () => {
        const a = ['alice', 'bob', 'carol', 'dave', 'bob'];
        const b = ['carol', 'erin', 'bob', 'frank'];
        const [r0, r1] = await both(a, b, { suite, resultToRank, batchSize: 2 });
        expect(r0.learned).toBe(resultToRank !== 1);
        expect(r1.learned).toBe(resultToRank !== 0);
        expect(r0.indices).toEqual(resultToRank === 1 ? null : expectedRows(a, b));
        expect(r1.indices).toEqual(resultToRank === 0 ? null : expectedRows(b, a));
        expect(r0.intersectionSize).toBe(resultToRank === 1 ? null : 2);
        expect([r0.peerItemNum, r1.peerItemNum, r0.distinctKeys]).toEqual([4, 5, 4]);
      });
    }
  }

  it('equals the plain intersection (property, batches of 3, chunked messages)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.string({ maxLength: 4 }), { maxLength: 12 }), fc.array(fc.string({ maxLength: 4 }), { maxLength: 12 }), async (a, b) => {
        const [r0, r1] = await both(a, b, { batchSize: 3, chunkBytes: 40 });
        expect(r0.indices).toEqual(expectedRows(a, b));
        expect(r1.indices).toEqual(expectedRows(b, a));
      }),
      { numRuns: 15 },
    );
  });

  it('both sides streaming through a full throttle window do not deadlock (sends are queued, not awaited)', async () => {
    // Multiplication answers on a later turn of the event loop, as the worker pool does; with
    // sends awaited, each side's enc stream filled the window while its dual answers waited for a
    // slot, and both stalled (seen at 2^20 × 2^20 with the reference's window of 10).
    const pooled: CryptoExecutor = {
      ...ex,
      ppcaHash: undefined,
      ppcaMultiply: undefined,
      multiply: async (k, p) => {
        await new Promise((r) => setImmediate(r));
        return ex.multiply(k, p);
      },
    };
    const a = Array.from({ length: 40 }, (_, i) => `a${i}`);
    const b = Array.from({ length: 40 }, (_, i) => `a${i * 2}`);
    const [l0, l1] = createMemoryPpcaLinkPair({ recvTimeoutMs: 3000, throttleWindow: 1 });
    const [r0, r1] = await Promise.all([
      runPpcaPsi({ rank: 0, records: a.map(enc), link: l0, executor: pooled, batchSize: 1 }),
      runPpcaPsi({ rank: 1, records: b.map(enc), link: l1, executor: pooled, batchSize: 1 }),
    ]);
    expect(r0.indices).toEqual(expectedRows(a, b));
    expect(r1.indices).toEqual(expectedRows(b, a));
  });

  it('reports its steps one at a time, in order, each ending at done = total (items), whoever learns', async () => {
    const a = Array.from({ length: 7 }, (_, i) => `a${i}`);
    const b = Array.from({ length: 5 }, (_, i) => `a${i * 2}`);
    for (const resultToRank of [-1, 0, 1] as const) {
      const seen: [PpcaProgress[], PpcaProgress[]] = [[], []];
      const [l0, l1] = createMemoryPpcaLinkPair({ recvTimeoutMs: 5000, throttleWindow: 1 });
      await Promise.all([
        runPpcaPsi({ rank: 0, records: a.map(enc), link: l0, executor: ex, batchSize: 2, resultToRank, onProgress: (p) => seen[0].push(p) }),
        runPpcaPsi({ rank: 1, records: b.map(enc), link: l1, executor: ex, batchSize: 2, resultToRank, onProgress: (p) => seen[1].push(p) }),
      ]);
      for (const rank of [0, 1] as const) {
        const events = seen[rank];
        const [mine, peer] = rank === 0 ? [a.length, b.length] : [b.length, a.length];
        const learns = resultToRank === -1 || resultToRank === rank;
        const phases: string[] = [];
        events.forEach((e, i) => {
          expect(e.unit).toBe('items');
          expect(e.done).toBeLessThanOrEqual(e.total);
          if (phases[phases.length - 1] !== e.phase) {
            expect(phases, `${e.phase} restarted`).not.toContain(e.phase);
            phases.push(e.phase);
          } else {
            expect(e.done).toBeGreaterThanOrEqual(events[i - 1]!.done);
          }
          const next = events[i + 1];
          if (!next || next.phase !== e.phase) expect(e.done, `end of ${e.phase}`).toBe(e.total);
        });
        expect(phases).toEqual(['encrypting', 'sending', 'dual-encrypting', ...(learns ? ['comparing'] : [])]);
        const last = (phase: string) => events.filter((e) => e.phase === phase).pop()!.total;
        expect([last('encrypting'), last('sending'), last('dual-encrypting')]).toEqual([mine, mine, peer]);
        if (learns) expect(last('comparing')).toBe(mine);
      }
    }
  });

  it('a throwing progress hook does not disturb the run', async () => {
    const [l0, l1] = createMemoryPpcaLinkPair({ recvTimeoutMs: 5000 });
    const boom = () => {
      throw new Error('display broke');
    };
    const [r0] = await Promise.all([
      runPpcaPsi({ rank: 0, records: ['x', 'y'].map(enc), link: l0, executor: ex, onProgress: boom }),
      runPpcaPsi({ rank: 1, records: ['y'].map(enc), link: l1, executor: ex, onProgress: boom }),
    ]);
    expect(r0.indices).toEqual([1]);
  });

  it('empty sets on either or both sides', async () => {
    for (const [a, b] of [[[], []], [['x'], []], [[], ['x']]] as [string[], string[]][]) {
      const [r0, r1] = await both(a, b);
      expect(r0.indices).toEqual([]);
      expect(r1.indices).toEqual([]);
    }
  });

  it('more than one default batch of 4096 (two data batches and the empty last one)', async () => {
    const a = Array.from({ length: 4100 }, (_, i) => `id-${i}`);
    const b = Array.from({ length: 50 }, (_, i) => `id-${i * 100}`);
    const [r0, r1] = await both(a, b);
    expect(r0.indices).toEqual(expectedRows(a, b));
    expect(r1.indices!.length).toBe(41);
  });

  it('refuses a suite mismatch on both sides with one line naming what differed', async () => {
    const [l0, l1] = createMemoryPpcaLinkPair({ recvTimeoutMs: 5000 });
    const [r0, r1] = await Promise.allSettled([
      runPpcaPsi({ rank: 0, records: [enc('a')], link: l0, suite: 'sm2-sha256-tar' }),
      runPpcaPsi({ rank: 1, records: [enc('a')], link: l1, suite: 'sm2-sm3-tai' }),
    ]);
    expect(r0.status === 'rejected' && r0.reason).toBeInstanceOf(ProtocolVersionError);
    expect(r1.status === 'rejected' && r1.reason).toBeInstanceOf(ProtocolVersionError);
    const m0 = (r0 as PromiseRejectedResult).reason.message as string;
    const m1 = (r1 as PromiseRejectedResult).reason.message as string;
    expect(m0).toMatch(/negotiate ec suits failed: requester offers ⟨SM2, SM3, TRY_AND_INCREMENT⟩, rank 0 uses ⟨SM2, SHA_256, TRY_AND_REHASH⟩/);
    expect(m1).toMatch(/refused the handshake: 31100200 HANDSHAKE_REFUSED: negotiate ec suits failed/);
    expect(m0.includes('\n') || m1.includes('\n')).toBe(false);
  });

  it('refuses a result_to_rank mismatch on both sides', async () => {
    const [l0, l1] = createMemoryPpcaLinkPair({ recvTimeoutMs: 5000 });
    const rs = await Promise.allSettled([
      runPpcaPsi({ rank: 0, records: [], link: l0, resultToRank: 0 }),
      runPpcaPsi({ rank: 1, records: [], link: l1, resultToRank: 1 }),
    ]);
    for (const r of rs) expect(r.status === 'rejected' && String(r.reason.message)).toMatch(/negotiate result_to_rank failed: requester 1, rank 0 0/);
  });

  it('keys: only ASCII whitespace is trimmed', () => {
    const t = (s: string): string => new TextDecoder().decode(trimAsciiWhitespace(enc(s)));
    expect(t(' \t a b\r\n')).toBe('a b');
    expect(t('\u00a0a\u3000')).toBe('\u00a0a\u3000');
    expect(t('\v\f')).toBe('');
  });
});
