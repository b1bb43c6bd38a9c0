/**
 * `dataport psi --suite sm2-sm3` below the CLI: the SM2 suite of the PSI protocol (the same
 * intersection as curve25519, its handshake code points), the suite in the signed terms (a
 * mismatch refused on both sides before any point, naming both suites; the suite in the
 * co-signed receipt), and hostile round-1 points, inline and through the worker pool.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { rmSync } from 'node:fs';
import { createInlineExecutor, type CryptoExecutor } from '../src/protocols/executor.js';
import {
  CipherSuite,
  PointOctetFormat,
  decodeEcdhPsiBatch,
  decodeHandshakeRequest,
  encodeEcdhPsiBatch,
  runPsiProtocol,
  type PsiProtocolOptions,
  type PsiResult,
} from '../src/protocols/index.js';
import { SM2_P } from '../src/crypto/sm2/index.js';
import { InvalidPointError, MalformedMessageError, ProtocolVersionError, TermsRefusedError, TransportClosedError } from '../src/errors.js';
import { generateIdentity } from '../src/session/identity.js';
import { PSI_SUITE_OPTION, runPsi, type RunPsiSessionOptions } from '../src/session/run-psi.js';
import { createMemoryTransportPair, type MemoryTransportOptions } from '../src/transport/index.js';
import { createWorkerPool, type WorkerPool } from '../src/workers/index.js';
import { bundleTestWorkers } from './worker-bundle.js';

const enc = new TextEncoder();
const ekm = enc.encode('session binding');
const X = Array.from({ length: 10 }, (_, i) => enc.encode(`x${i}`));
const Y = Array.from({ length: 7 }, (_, i) => enc.encode(`x${i * 2}`));
const SM2: PsiProtocolOptions = { suite: 'sm2-sm3', batchSize: 4, output: 'both' };

let inline: CryptoExecutor;
let pool: WorkerPool;
let bundleDir: string;
beforeAll(async () => {
  inline = await createInlineExecutor();
  // A real worker thread (bundled from src/; it finds no native addon there, so the SM2 in it is
  // the portable one): typed errors must cross the thread boundary.
  const bundle = await bundleTestWorkers({ prefix: 'dataport-psi-sm2-', intercept: '' });
  bundleDir = bundle.dir;
  pool = await createWorkerPool({ workers: 1, workerUrl: bundle.workerUrl, chunkSize: 3 });
}, 120_000);
afterAll(async () => {
  await pool?.close();
  if (bundleDir) rmSync(bundleDir, { recursive: true, force: true });
});

type Settled = [PromiseSettledResult<PsiResult>, PromiseSettledResult<PsiResult>];

async function pair(
  options: PsiProtocolOptions,
  executor: CryptoExecutor = inline,
  transport: MemoryTransportOptions = {},
  responderOptions: PsiProtocolOptions = options,
  xs: Uint8Array[] = X,
  ys: Uint8Array[] = Y,
): Promise<Settled> {
  const [a, b] = createMemoryTransportPair(transport);
  return (await Promise.allSettled([
    runPsiProtocol({ role: 'requester', records: xs, transport: a, ekm, executor, options }),
    runPsiProtocol({ role: 'responder', records: ys, transport: b, ekm, executor, options: responderOptions }),
  ])) as Settled;
}

const value = (r: PromiseSettledResult<PsiResult>): PsiResult => {
  if (r.status === 'rejected') throw r.reason;
  return r.value;
};
const reason = (r: PromiseSettledResult<PsiResult>): unknown => {
  expect(r.status).toBe('rejected');
  return (r as PromiseRejectedResult).reason;
};

describe('the sm2-sm3 suite of the PSI protocol', () => {
  it('gives the plain intersection, the same as curve25519, inline and with the worker pool', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(fc.integer({ min: 0, max: 40 }), { maxLength: 14 }), fc.uniqueArray(fc.integer({ min: 0, max: 40 }), { maxLength: 14 }), async (a, b) => {
        const xs = a.map((i) => enc.encode(`k${i}`));
        const ys = b.map((i) => enc.encode(`k${i}`));
        const expected = a.flatMap((k, i) => (b.includes(k) ? [i] : []));
        for (const suite of ['sm2-sm3', 'curve25519'] as const) {
          const [r, s] = await pair({ ...SM2, suite }, inline, {}, { ...SM2, suite }, xs, ys);
          expect(value(r).intersection).toEqual(expected);
          expect(value(s).intersectionSize).toBe(expected.length);
        }
      }),
      { numRuns: 12 },
    );
    const [r, s] = await pair(SM2, pool);
    expect(value(r).intersection).toEqual([0, 2, 4, 6, 8]);
    expect(value(s).intersection).toEqual([0, 1, 2, 3, 4]);
  });

  it('offers its own code point and the compressed point format, 33-byte round-1 points, 16-byte round-2 values', async () => {
    const frames: Uint8Array[] = [];
    const [r] = await pair(SM2, inline, { intercept: (f, from) => void (from === 'a' && frames.push(f)) });
    value(r);
    const req = decodeHandshakeRequest(frames[0]!);
    expect(req.suites).toEqual([CipherSuite.SM2_SM3_TAI]);
    expect(req.pointOctetFormats).toEqual([PointOctetFormat.X962_COMPRESSED]);
    const round1 = decodeEcdhPsiBatch(frames[1]!, { maxPointsBytes: 1 << 20 });
    expect(round1.encodedPoints.length).toBe(4 * 33);
    for (let i = 0; i < 4; i++) expect([2, 3]).toContain(round1.encodedPoints[33 * i]);
    const round2 = decodeEcdhPsiBatch(frames.at(-1)!, { maxPointsBytes: 1 << 20 });
    expect(round2.type).toBe(2);
    expect(round2.encodedPoints.length % 16).toBe(0);
  });

  it('a curve25519 peer shares no suite: refused before any point, typed errors on both sides', async () => {
    const [r, s] = await pair(SM2, inline, {}, { ...SM2, suite: 'curve25519' });
    expect(reason(s)).toBeInstanceOf(ProtocolVersionError);
    expect(reason(r)).toBeInstanceOf(TermsRefusedError);
    const [a] = createMemoryTransportPair();
    await expect(runPsiProtocol({ role: 'requester', records: X, transport: a, ekm: new Uint8Array(0), executor: inline, options: { suite: 'sm2-sm3', interop: true } })).rejects.toThrow(
      /options.suite must be 'curve25519' in interop mode/,
    );
    await expect(runPsiProtocol({ role: 'requester', records: X, transport: a, ekm, executor: inline, options: { suite: 'p256' as never } })).rejects.toThrow(
      /options.suite must be one of curve25519, sm2-sm3/,
    );
  });
});

/** A 33-byte compressed encoding: `prefix` ‖ x (big-endian). */
function point(prefix: number, x: bigint): Uint8Array {
  const out = new Uint8Array(33);
  out[0] = prefix;
  for (let i = 32; i >= 1; i--, x >>= 8n) out[i] = Number(x & 0xffn);
  return out;
}

/** The smallest x ≥ 0 that is not the abscissa of an SM2 point: its "compressed point" is off the curve. */
function offCurve(): Uint8Array {
  let x = 0n;
  while (isAbscissa(x)) x++;
  return point(2, x);
}

function isAbscissa(x: bigint): boolean {
  const p = SM2_P;
  const b = 0x28e9fa9e9d9f5e344d5a9e4bcf6509a7f39789f515ab8f92ddbcbd414d940e93n;
  const rhs = (((x * x * x - 3n * x + b) % p) + p) % p;
  let r = 1n;
  let base = rhs;
  let e = (p - 1n) / 2n; // Euler's criterion
  while (e > 0n) {
    if (e & 1n) r = (r * base) % p;
    base = (base * base) % p;
    e >>= 1n;
  }
  return r === 1n || rhs === 0n;
}

/** The requester's round-1 frames (frames 1, 2, 3 of `a`) with every point replaced by `bad`. */
function replacePoints(bad: Uint8Array, width = 33): MemoryTransportOptions {
  return {
    intercept: (f, from, i) => {
      if (from !== 'a' || i !== 1) return undefined;
      const b = decodeEcdhPsiBatch(f, { maxPointsBytes: 1 << 20 });
      const k = b.encodedPoints.length / 33;
      const flat = new Uint8Array(k * width);
      for (let j = 0; j < k; j++) flat.set(bad, j * width);
      return encodeEcdhPsiBatch({ ...b, encodedPoints: flat });
    },
  };
}

describe('hostile round-1 points (sm2-sm3): a typed error on the honest side, the other side sees the close', () => {
  const cases: [string, Uint8Array, number, new (...a: never[]) => Error][] = [
    ['a point not on the curve', offCurve(), 33, InvalidPointError],
    ['the identity (prefix 00)', new Uint8Array(33), 33, InvalidPointError],
    ['an uncompressed prefix (04) in a 33-byte item', point(4, 5n), 33, InvalidPointError],
    ['x = p', point(2, SM2_P), 33, InvalidPointError],
    ['a wrong length (32-byte items: the batch is not a multiple of 33)', new Uint8Array(32).fill(7), 32, MalformedMessageError],
  ];
  for (const [what, bad, width, type] of cases) {
    it(`${what} — inline`, async () => {
      const [r, s] = await pair(SM2, inline, replacePoints(bad, width));
      expect(reason(s)).toBeInstanceOf(type);
      expect(reason(r)).toBeInstanceOf(TransportClosedError);
    });
  }
  it('a point not on the curve — through the worker pool (checked in the worker, the type survives)', async () => {
    const [r, s] = await pair(SM2, pool, replacePoints(offCurve()));
    expect(reason(s)).toBeInstanceOf(InvalidPointError);
    expect(reason(r)).toBeInstanceOf(TransportClosedError);
  });
});

describe('runPsi with suite sm2-sm3 (SDK)', () => {
  const pharma = generateIdentity();
  const hospital = generateIdentity();
  const mine = ['110101199003070011', '11010119900307002X', '440101198001010033', 'p4'];
  const theirs = ['11010119900307002x', '440101198001010033', 'h3'];

  function run(requester: Partial<RunPsiSessionOptions>, responder: Partial<RunPsiSessionOptions>) {
    const [a, b] = createMemoryTransportPair();
    return Promise.allSettled([
      runPsi({ role: 'requester', records: mine, transport: a, identity: pharma, peerPublicKey: hospital.publicKey, terms: { reveal: 'both' }, ...requester }),
      runPsi({ role: 'responder', records: theirs, transport: b, identity: hospital, peerPublicKey: pharma.publicKey, ...responder }),
    ]);
  }

  it('gives the same rows as curve25519, and the co-signed receipt names the suite', async () => {
    for (const suite of ['sm2-sm3', 'curve25519'] as const) {
      const [r, s] = await run({ suite }, { suite });
      if (r.status === 'rejected') throw r.reason;
      if (s.status === 'rejected') throw s.reason;
      expect(r.value.intersectionRows).toEqual([1, 2]);
      expect(s.value.intersectionRows).toEqual([0, 1]);
      expect(r.value.suite).toBe(suite);
      expect(r.value.receipt.body.options[PSI_SUITE_OPTION]).toBe(suite);
      expect(s.value.receipt.body.options[PSI_SUITE_OPTION]).toBe(suite);
    }
  });

  it('refuses a requester of another suite on both sides before any point, naming both suites', async () => {
    const [r, s] = await run({ suite: 'sm2-sm3' }, {});
    for (const x of [r, s]) {
      expect(x.status).toBe('rejected');
      const e = (x as PromiseRejectedResult).reason as Error;
      expect(e).toBeInstanceOf(TermsRefusedError);
      expect(e.message).toMatch(/PSI suites differ: requester sm2-sm3; responder curve25519/);
    }
    const [r2] = await run({}, { suite: 'sm2-sm3' });
    expect(((r2 as PromiseRejectedResult).reason as Error).message).toMatch(/requester curve25519; responder sm2-sm3/);
  });

  it('names a bad suite option as a TypeError, before anything is sent', async () => {
    const [a] = createMemoryTransportPair();
    const r = runPsi({ role: 'requester', records: mine, transport: a, identity: pharma, peerPublicKey: hospital.publicKey, suite: 'sm9' as never });
    await expect(r).rejects.toThrow(TypeError);
    await expect(r).rejects.toThrow(/^suite must be one of curve25519, sm2-sm3$/);
    expect(a.stats.bytesSent).toBe(0);
  });
});
