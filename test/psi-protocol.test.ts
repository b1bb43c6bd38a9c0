import { describe, expect, it, beforeAll } from 'vitest';
import fc from 'fast-check';
import { createMemoryTransportPair } from '../src/transport/index.js';
import { createInlineExecutor, type CryptoExecutor } from '../src/protocols/executor.js';
import { normalizeKey, runPsiProtocol, type PsiProtocolOptions, type PsiResult } from '../src/protocols/index.js';

const enc = new TextEncoder();
let executor: CryptoExecutor;
beforeAll(async () => {
  executor = await createInlineExecutor();
});

function keyOf(fields: string[]): Uint8Array | undefined {
  return normalizeKey(fields);
}

/** Rows of `mine` whose normalised key also occurs among `theirs` (the plain intersection). */
function plainIntersection(mine: (Uint8Array | undefined)[], theirs: (Uint8Array | undefined)[]): number[] {
  const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  const set = new Set(theirs.filter((t): t is Uint8Array => t !== undefined).map(hex));
  const out: number[] = [];
  mine.forEach((m, i) => {
    if (m !== undefined && set.has(hex(m))) out.push(i);
  });
  return out;
}

function distinctCount(rows: (Uint8Array | undefined)[]): number {
  return new Set(rows.filter((r) => r !== undefined).map((r) => Array.from(r!).join(','))).size;
}

async function run(
  mine: (Uint8Array | undefined)[],
  theirs: (Uint8Array | undefined)[],
  options: PsiProtocolOptions = {},
  ekm = enc.encode('session-binding'),
): Promise<[PsiResult, PsiResult]> {
  const [a, b] = createMemoryTransportPair();
  return Promise.all([
    runPsiProtocol({ role: 'requester', records: mine, transport: a, ekm, executor, options }),
    runPsiProtocol({ role: 'responder', records: theirs, transport: b, ekm, executor, options }),
  ]);
}

describe('runPsiProtocol over the in-memory transport', () => {
  it('finds the intersection for both parties (smoke)', async () => {
    const mine = ['alice', 'bob', 'carol', 'bob'].map((s) => enc.encode(s));
    const theirs = ['carol', 'dave', 'bob'].map((s) => enc.encode(s));
    const [r, s] = await run(mine, theirs, { batchSize: 2 });
    expect(r.intersection).toEqual([1, 2, 3]);
    expect(r.intersectionSize).toBe(2);
    expect(s.intersection).toEqual([0, 2]);
    expect(r.selfSetSize).toBe(3);
    expect(r.peerSetSize).toBe(3);
    expect(r.bytesSent).toBe(s.bytesReceived);
    expect(s.bytesSent).toBe(r.bytesReceived);
  });
});
