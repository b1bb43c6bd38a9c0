import { beforeAll, describe, expect, it } from 'vitest';
import { generateInvertibleScalarPair } from '../src/crypto/scalar.js';
import { ppcaHashBatch } from '../src/crypto/ppca-suite.js';
import { generateInvertiblePsiScalarPair, multiplyPsiPoints, PsiSuiteNames, type PsiSuiteName } from '../src/protocols/psi/suite.js';
import { InvalidPointError, LimitExceededError, MalformedMessageError, UnexpectedMessageError } from '../src/errors.js';
import { createInlineExecutor, type CryptoExecutor } from '../src/protocols/executor.js';
import { dedupeRecords, encodePayloadPlaintexts, normalizeKey, runPsiProtocol, sealedPayloadBytes, type PsiResult } from '../src/protocols/index.js';
import { decodePayloadBatch, openPayloadForTest, PayloadBatchType, payloadKeyForTest } from '../src/protocols/psi/payload.js';
import { createMemoryTransportPair } from '../src/transport/index.js';
import type { FrameTransport } from '../src/transport/types.js';

const enc = new TextEncoder();
const ekm = enc.encode('payload-session-binding');
let executor: CryptoExecutor;
beforeAll(async () => {
  executor = await createInlineExecutor();
});

const keys = (ids: string[]) => ids.map((id) => normalizeKey([id]));

/** Requester ids, responder rows [id, ward, cost] (with a duplicated id, one unmatched and one matched row per key). */
const mine = ['p01', 'p02', 'p03', 'P04', 'p05', 'p06', 'p02', 'p99'];
const theirs: [string, string, string][] = [
  ['p02', 'ward 3', '1200.50'],
  ['p04', 'ward 1', '80'],
  ['p07', 'ward 9', '999999.99'],
  ['p02', 'ward 7, east', '300'],
  ['p08', '', '1'],
  ['p05', '病房 2', '42'],
  ['p10', 'x'.repeat(100), '7'],
];

interface Captured {
  frames: Uint8Array[];
  scalars: Uint8Array[];
}

/** A transport that keeps a copy of every frame it receives. */
function tapped(t: FrameTransport, into: Uint8Array[]): FrameTransport {
  return new Proxy(t, {
    get(target, prop, receiver) {
      if (prop === 'receive') {
        return async (signal?: AbortSignal) => {
          const f = await target.receive(signal);
          into.push(f.slice());
          return f;
        };
      }
      const v = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

/** An executor that remembers the scalars it multiplied with (to recover the requester's unmask key). */
function recording(ex: CryptoExecutor, scalars: Uint8Array[]): CryptoExecutor {
  return {
    ...ex,
    multiplyAndTruncate: ex.multiplyAndTruncate!.bind(ex),
    multiply: (s, p, signal) => {
      scalars.push(s.slice());
      return ex.multiply(s, p, signal);
    },
    ppcaHash: ex.ppcaHash!.bind(ex),
    ppcaMultiply: (suite, s, p, signal) => {
      scalars.push(s.slice());
      return ex.ppcaMultiply!(suite, s, p, signal);
    },
  };
}

async function run(
  output: 'requester' | 'both' = 'requester',
  maxBytes = 128,
  batchSize = 3,
  suite: PsiSuiteName = 'curve25519',
): Promise<{ req: PsiResult; res: PsiResult; cap: Captured; plaintexts: Uint8Array[] }> {
  const requesterRecords = keys(mine);
  const responderRecords = keys(theirs.map((r) => r[0]));
  const deduped = dedupeRecords(responderRecords);
  const plaintexts = encodePayloadPlaintexts(deduped, theirs.map((r) => [r[1], r[2]]), 2, maxBytes);
  const [a, b] = createMemoryTransportPair();
  const cap: Captured = { frames: [], scalars: [] };
  const [req, res] = await Promise.all([
    runPsiProtocol({
      role: 'requester',
      records: requesterRecords,
      transport: tapped(a, cap.frames),
      ekm,
      executor: recording(executor, cap.scalars),
      options: { output, batchSize, suite },
      payload: { columns: 2, maxBytes },
    }),
    runPsiProtocol({
      role: 'responder',
      records: responderRecords,
      deduped,
      transport: b,
      ekm,
      executor,
      options: { output, batchSize, suite },
      payload: { columns: 2, maxBytes, plaintexts },
    }),
  ]);
  return { req, res, cap, plaintexts };
}

/** The plain join: for each requester row, the responder's [ward, cost] rows with the same normalised key. */
function plainJoin(): Map<number, string[][]> {
  const out = new Map<number, string[][]>();
  mine.forEach((id, i) => {
    const rows = theirs.filter((r) => r[0].toLowerCase() === id.toLowerCase()).map((r) => [r[1], r[2]]);
    if (rows.length > 0) out.set(i, rows);
  });
  return out;
}

describe('PSI with payload (protocol)', () => {
  it('X25519 with the unmask key undoes the mask key on hashed points', async () => {
    const { mask, unmask } = generateInvertibleScalarPair();
    // Both keys are already clamped (RFC 7748 §5), so every backend multiplies by exactly them.
    expect(mask[0]! & 7).toBe(0);
    expect(unmask[0]! & 7).toBe(0);
    expect(mask[31]! & 0xc0).toBe(0x40);
    expect(unmask[31]! & 0xc0).toBe(0x40);
    const points = await executor.hashToGroup(keys(['a', 'b', 'c']).map((k) => k!), ekm);
    const back = await executor.multiply(unmask, await executor.multiply(mask, points));
    expect(Buffer.from(back).toString('hex')).toBe(Buffer.from(points).toString('hex'));
  });

  it('the sm2-sm3 unmask key undoes the mask key on hashed points', async () => {
    const { mask, unmask } = generateInvertiblePsiScalarPair('sm2-sm3');
    const points = ppcaHashBatch('sm2-sm3-tai', keys(['a', 'b', 'c']).map((k) => k!));
    const back = await multiplyPsiPoints('sm2-sm3', executor, unmask, await multiplyPsiPoints('sm2-sm3', executor, mask, points));
    expect(Buffer.from(back).toString('hex')).toBe(Buffer.from(points).toString('hex'));
  });

  for (const [output, suite] of [['requester', 'curve25519'], ['both', 'curve25519'], ['requester', 'sm2-sm3']] as const) {
    it(`delivers exactly the plain join's payloads, for matched records only (output ${output}, ${suite})`, async () => {
      const { req, res } = await run(output, 128, 3, suite);
      expect(res.payloadOfKey).toBeUndefined();
      const deduped = dedupeRecords(keys(mine));
      const got = new Map<number, string[][]>();
      for (const row of req.intersection!) got.set(row, req.payloadOfKey![deduped.keyOfRow[row]!]!);
      expect(got).toEqual(plainJoin());
      // Keys that did not match get nothing.
      deduped.keys.forEach((_, k) => {
        const matched = req.intersection!.some((row) => deduped.keyOfRow[row] === k);
        expect(req.payloadOfKey![k] !== undefined).toBe(matched);
      });
      // p02 (2 rows), p04, p05: 4 responder rows delivered.
      expect(req.payloadRecords).toBe(4);
    });
  }

  it('pads every payload to the declared maximum: all sealed payloads have one length', async () => {
    const { cap } = await run('requester', 200);
    const sealed = cap.frames.map((f) => f).filter((f) => f[0] === PayloadBatchType.SEALED);
    expect(sealed.length).toBeGreaterThan(0);
    let total = 0;
    for (const f of sealed) {
      const b = decodePayloadBatch(f, sealedPayloadBytes(200), 1 << 16);
      expect(b.data.length % sealedPayloadBytes(200)).toBe(0);
      total += b.data.length / sealedPayloadBytes(200);
    }
    expect(total).toBe(new Set(theirs.map((r) => r[0])).size);
  });

  for (const suite of PsiSuiteNames) it(`leaves unmatched payloads unopenable: the requester's keys open matched slots only (${suite})`, async () => {
    const W = suite === 'curve25519' ? 32 : 33;
    const { req, cap } = await run('requester', 128, 2, suite);
    // The unmask key is the last scalar the requester multiplied with (payload.ts PayloadReceiver).
    const unmask = cap.scalars.at(-1)!;
    const pointFrames = cap.frames.filter((f) => f[0] === PayloadBatchType.POINTS).map((f) => decodePayloadBatch(f, W, 1 << 16));
    expect(pointFrames.length).toBeGreaterThan(0);
    // Derive a key for EVERY requester record (matched or not), as a curious requester could.
    const allKeys: Uint8Array[] = [];
    for (const f of pointFrames) {
      const unmasked = await multiplyPsiPoints(suite, executor, unmask, f.data);
      for (let i = 0; i < unmasked.length / W; i++) allKeys.push(payloadKeyForTest(ekm, unmasked.subarray(i * W, (i + 1) * W)));
    }
    expect(allKeys.length).toBe(new Set(mine.map((m) => m.toLowerCase())).size);
    const L = sealedPayloadBytes(128);
    let openable = 0;
    let unopenable = 0;
    for (const f of cap.frames.filter((x) => x[0] === PayloadBatchType.SEALED)) {
      const b = decodePayloadBatch(f, L, 1 << 16);
      for (let i = 0; i < b.data.length / L; i++) {
        const slot = Number(b.index) + i;
        const opened = allKeys.filter((k) => openPayloadForTest(k, ekm, slot, b.data.subarray(i * L, (i + 1) * L)) !== undefined).length;
        expect(opened).toBeLessThanOrEqual(1);
        if (opened === 1) openable++;
        else unopenable++;
      }
    }
    expect(openable).toBe(req.intersectionSize);
    expect(unopenable).toBe(new Set(theirs.map((r) => r[0])).size - req.intersectionSize!);
    expect(unopenable).toBeGreaterThan(0);
  });

  it('refuses an oversize payload on the responder before anything is sent, naming the record', () => {
    const d = dedupeRecords(keys(['a', 'b', 'a']));
    expect(() => encodePayloadPlaintexts(d, [['x'], ['y'.repeat(20)], ['z']], 1, 16)).toThrow(LimitExceededError);
    expect(() => encodePayloadPlaintexts(d, [['x'], ['y'.repeat(20)], ['z']], 1, 16)).toThrow(/record 2\b.*declared maximum of 16/);
    // The rows of one key share the budget: 2 + (2+6) + (2+6) = 18 > 16.
    expect(() => encodePayloadPlaintexts(d, [['aaaaaa'], ['b'], ['cccccc']], 1, 16)).toThrow(/record 3\b/);
    expect(encodePayloadPlaintexts(d, [['aaaaa'], ['b'], ['ccccc']], 1, 16).map((p) => p.length)).toEqual([16, 16]);
  });

  /** Runs a ['a','b'] × ['b','c'] payload PSI whose responder rewrites its payload frames with `tamper`. */
  async function tampered(tamper: (f: Uint8Array) => Uint8Array) {
    const requesterRecords = keys(['a', 'b']);
    const responderRecords = keys(['b', 'c']);
    const deduped = dedupeRecords(responderRecords);
    const plaintexts = encodePayloadPlaintexts(deduped, [['1'], ['2']], 1, 32);
    const [a, b] = createMemoryTransportPair();
    const evil = new Proxy(b, {
      get(target, prop, receiver) {
        if (prop === 'send') return (f: Uint8Array, signal?: AbortSignal) => target.send(tamper(f), signal);
        const v = Reflect.get(target, prop, receiver);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    return Promise.allSettled([
      runPsiProtocol({ role: 'requester', records: requesterRecords, transport: a, ekm, executor, options: { output: 'requester' }, payload: { columns: 1, maxBytes: 32 } }),
      runPsiProtocol({ role: 'responder', records: responderRecords, deduped, transport: evil, ekm, executor, options: { output: 'requester' }, payload: { columns: 1, maxBytes: 32, plaintexts } }),
    ]);
  }

  it('counts an altered matched payload as a failure without failing the run (no selective failure)', async () => {
    // Flip a bit in every sealed payload: the matched one ('b') fails, the run still completes,
    // so a cheating responder cannot learn from the outcome which of its records matched.
    const results = await tampered((f) => {
      if (f[0] !== PayloadBatchType.SEALED) return f;
      const g = f.slice();
      for (let off = g.length - 1; off > 18; off -= sealedPayloadBytes(32)) g[off]! ^= 1;
      return g;
    });
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled']);
    const req = (results[0] as PromiseFulfilledResult<PsiResult>).value;
    expect(req.intersection).toEqual([1]);
    expect(req.payloadFailures).toBe(1);
    expect(req.payloadRecords).toBe(0);
    expect(req.payloadOfKey!.every((p) => p === undefined)).toBe(true);
  });

  it('fails the run on an invalid c-masked point whether or not its record matched', async () => {
    for (const position of [0, 1]) {
      const results = await tampered((f) => {
        if (f[0] !== PayloadBatchType.POINTS) return f;
        const g = f.slice();
        g.fill(0, 18 + 32 * position, 18 + 32 * (position + 1)); // u = 0: a low-order point
        return g;
      });
      expect(results[0].status).toBe('rejected');
      expect((results[0] as PromiseRejectedResult).reason).toBeInstanceOf(InvalidPointError);
    }
  });

  it('fails the run on malformed or out-of-place payload frames', async () => {
    const cases: [(f: Uint8Array) => Uint8Array, new (...a: never[]) => Error][] = [
      // A sealed batch announced at another position.
      [(f) => (f[0] === PayloadBatchType.SEALED ? Object.assign(f.slice(), { [8]: f[8]! ^ 1 }) : f), UnexpectedMessageError],
      // Points where sealed payloads are expected (and the other way round).
      [(f) => (f[0] === PayloadBatchType.POINTS ? Object.assign(f.slice(), { [0]: PayloadBatchType.SEALED }) : f), UnexpectedMessageError],
      // An unknown frame type.
      [(f) => (f[0] === PayloadBatchType.SEALED ? Object.assign(f.slice(), { [0]: 0x13 }) : f), MalformedMessageError],
      // A truncated sealed payload (not a whole number of records).
      [(f) => (f[0] === PayloadBatchType.SEALED ? f.slice(0, f.length - 1) : f), MalformedMessageError],
    ];
    for (const [tamper, type] of cases) {
      const results = await tampered(tamper);
      expect(results[0].status).toBe('rejected');
      expect((results[0] as PromiseRejectedResult).reason).toBeInstanceOf(type);
    }
  });

  it('refuses payload with count-only or interop', async () => {
    const [a] = createMemoryTransportPair();
    await expect(
      runPsiProtocol({ role: 'requester', records: keys(['a']), transport: a, ekm, executor, options: { cardinalityOnly: true }, payload: { columns: 1, maxBytes: 32 } }),
    ).rejects.toThrow(/cardinality-only/);
    await expect(
      runPsiProtocol({ role: 'requester', records: keys(['a']), transport: a, ekm: new Uint8Array(0), executor, options: { interop: true }, payload: { columns: 1, maxBytes: 32 } }),
    ).rejects.toThrow(/interop/);
  });
});
