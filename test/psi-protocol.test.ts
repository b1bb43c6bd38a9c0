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

/** A pool of identifiers with Unicode, full-width and case variants that normalise together. */
const POOL = [
  '11010119900307001x',
  ' 11010119900307001X ',
  '１１０１０１１９９００３０７００１Ｘ',
  '張三',
  'zhang san',
  'ZHANG SAN',
  'müller',
  'MÜLLER',
  'ﬁsh', // NFKC: 'fish'
  'fish',
  '',
  '   ',
  'a',
  'b',
  'c',
  'd',
  'e',
  'f',
];

const rowsArb = fc.array(fc.constantFrom(...POOL), { maxLength: 14 }).map((xs) => xs.map((x) => keyOf([x])));
const multiRowsArb = fc
  .array(fc.tuple(fc.constantFrom('ab', 'a', 'b', '', 'Ｃ', 'c'), fc.constantFrom('c', 'bc', '', 'x', 'X')), { maxLength: 12 })
  .map((xs) => xs.map(([p, q]) => keyOf([p, q])));

const MODES: { name: string; options: PsiProtocolOptions; ekm?: Uint8Array<ArrayBuffer> }[] = [
  { name: 'both, truncation 128', options: { output: 'both', truncation: 1, batchSize: 3 } },
  { name: 'both, truncation none', options: { output: 'both', truncation: 0, batchSize: 4 } },
  { name: 'both, truncation 192', options: { output: 'both', truncation: 2, batchSize: 5 } },
  { name: 'requester only', options: { output: 'requester', batchSize: 2 } },
  { name: 'count to requester', options: { output: 'requester', cardinalityOnly: true, batchSize: 3 } },
  { name: 'count to both', options: { output: 'both', cardinalityOnly: true, batchSize: 4, truncation: 0 } },
  { name: 'interop, both', options: { interop: true, output: 'both', truncation: 0 }, ekm: new Uint8Array(0) },
  { name: 'interop, requester, truncation 128', options: { interop: true, output: 'requester', truncation: 1 }, ekm: new Uint8Array(0) },
];

describe.each(MODES)('PSI output equals the plain intersection: $name', ({ options, ekm }) => {
  const check = async (mine: (Uint8Array | undefined)[], theirs: (Uint8Array | undefined)[]) => {
    const [r, s] = await run(mine, theirs, options, ekm);
    const expectR = plainIntersection(mine, theirs);
    const expectS = plainIntersection(theirs, mine);
    const size = distinctCount(expectR.map((i) => mine[i]));
    expect(r.selfSetSize).toBe(distinctCount(mine));
    expect(r.peerSetSize).toBe(distinctCount(theirs));
    expect(s.peerSetSize).toBe(distinctCount(mine));
    const bothLearn = (options.output ?? 'both') === 'both';
    if (options.cardinalityOnly) {
      expect(r.learned).toBe('cardinality');
      expect(r.intersection).toBeUndefined();
      expect(r.intersectionSize).toBe(size);
      if (bothLearn) expect(s.intersectionSize).toBe(size);
      else expect(s.learned).toBe('nothing');
      expect(s.intersection).toBeUndefined();
    } else {
      expect(r.intersection).toEqual(expectR);
      expect(r.intersectionSize).toBe(size);
      if (bothLearn) expect(s.intersection).toEqual(expectS);
      else {
        expect(s.learned).toBe('nothing');
        expect(s.intersection).toBeUndefined();
        expect(s.intersectionSize).toBeUndefined();
      }
    }
  };

  it('single-column keys (Unicode, full-width, case, blanks, duplicates, empty sides)', async () => {
    await fc.assert(fc.asyncProperty(rowsArb, rowsArb, check), { numRuns: 12 });
  });

  it('multi-column keys', async () => {
    await fc.assert(fc.asyncProperty(multiRowsArb, multiRowsArb, check), { numRuns: 6 });
  });

  it('overlap 0 % and 100 %, and an empty side', async () => {
    const xs = Array.from({ length: 9 }, (_, i) => enc.encode(`id-${i}`));
    const ys = Array.from({ length: 7 }, (_, i) => enc.encode(`other-${i}`));
    await check(xs, ys);
    await check(xs, [...xs].reverse());
    await check([], xs);
    await check(xs, []);
    await check([], []);
  });
});

describe('normalisation reaches the protocol', () => {
  it("' 11010119900307001x ', '11010119900307001X' and full-width digits all match", async () => {
    const mine = [keyOf([' 11010119900307001x ']), keyOf(['other'])];
    const theirs = [keyOf(['11010119900307001X']), keyOf(['１１０１０１１９９００３０７００１ｘ'])];
    const [r, s] = await run(mine, theirs);
    expect(r.intersection).toEqual([0]);
    expect(s.intersection).toEqual([0, 1]);
    expect(r.peerSetSize).toBe(1);
  });

  it('different ekm values never match (records are bound to the session)', async () => {
    const rows = ['a', 'b', 'c'].map((x) => enc.encode(x));
    const [a, b] = createMemoryTransportPair();
    const [r, s] = await Promise.all([
      runPsiProtocol({ role: 'requester', records: rows, transport: a, ekm: enc.encode('session-1'), executor }),
      runPsiProtocol({ role: 'responder', records: rows, transport: b, ekm: enc.encode('session-2'), executor }),
    ]);
    expect(r.intersection).toEqual([]);
    expect(s.intersection).toEqual([]);
  });

  it('reports progress up to done', async () => {
    const rows = Array.from({ length: 10 }, (_, i) => enc.encode(`r${i}`));
    const [a, b] = createMemoryTransportPair();
    const phases: string[] = [];
    await Promise.all([
      runPsiProtocol({ role: 'requester', records: rows, transport: a, ekm: new Uint8Array(), executor, options: { batchSize: 4 }, onProgress: (p) => phases.push(p.phase) }),
      runPsiProtocol({ role: 'responder', records: rows, transport: b, ekm: new Uint8Array(), executor, options: { batchSize: 4 } }),
    ]);
    expect(phases.at(-1)).toBe('done');
    expect(phases).toContain('round1-send');
  });
});
