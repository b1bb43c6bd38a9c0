// Worker pool (DESIGN.md §5): identical results with 0, 1 and N workers, typed errors across the
// boundary, crash recovery, abort, clean close, zero-copy transfers.
//
// Why the tests build their own worker bundle: a worker thread runs plain JavaScript outside
// vitest's transform, so the TypeScript worker entry cannot be loaded from src/ directly. Rather
// than depend on the shared dist/ (which every `npx tsup` wipes and rebuilds), beforeAll bundles the
// sources with tsup's API into a private temporary folder laid out like dist/ (the pool module at
// the root, the worker at workers/worker.js). The in-process tests import the pool from src/ and
// point `workerUrl` at that bundle; the child-process tests import the bundled pool itself, so
// they also check how the default worker location is found from a code-split build.
import { PpcaSuiteNames, generatePpcaScalar } from '../src/crypto/ppca-suite.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { createWorkerPool, DEFAULT_CHUNK_SIZE, type WorkerPool } from '../src/workers/index.js';
import { bundleTestWorkers, src } from './worker-bundle.js';
import { packRecords, unpackRecords } from '../src/workers/pack.js';
import { deserializeThrown, serializeThrown } from '../src/workers/error-transfer.js';
import { spawnWorker as platformSpawnWorker } from '../src/platform/node.js';
import type { SpawnWorker } from '../src/workers/types.js';
import { createInlineExecutor, type CryptoExecutor } from '../src/protocols/executor.js';
import { truncateValues } from '../src/protocols/psi/values.js';
import { generateScalar } from '../src/crypto/index.js';
import { chooseHeParameters, createHeContext } from '../src/he/index.js';
import { LOW_ORDER_U } from '../src/crypto/constants.js';
import { numberToBytesLE } from '../src/crypto/field-ref.js';
import {
  AbortError,
  DataportError,
  ErrorCode,
  InvalidPointError,
  LedgerIntegrityError,
  WorkerCrashedError,
} from '../src/errors.js';

const enc = new TextEncoder();
const utf8 = (s: string): Uint8Array => enc.encode(s);

// Poison records understood only by the test worker below: the worker handling them dies.
const POISON_EXIT = 'dataport-test:process.exit';
const POISON_THROW = 'dataport-test:uncaught-throw';

let dir: string;
let workerUrl: URL;
let crashWorkerUrl: URL;

beforeAll(async () => {
  // A worker that behaves like the real one but dies (mid-task) on a poison record: exit from
  // inside the task, or an uncaught exception thrown from a timer.
  ({ dir, workerUrl, crashWorkerUrl } = await bundleTestWorkers({
    prefix: 'dataport-workers-test-',
    entries: { index: src('workers/index.ts') },
    imports: `import { unpackRecords } from ${JSON.stringify(src('workers/pack.ts'))};\nconst text = new TextDecoder();`,
    intercept: `
    if (name === 'hashToGroup') {
      for (const r of unpackRecords(payload)) {
        const s = text.decode(r);
        if (s === ${JSON.stringify(POISON_EXIT)}) process.exit(70);
        if (s === ${JSON.stringify(POISON_THROW)}) {
          setTimeout(() => { throw new Error('boom'); });
          return new Promise(() => {});
        }
      }
    }`,
  }));
}, 120_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A platform factory that records every `run` message posted to a worker (and its transfers). */
function recordingSpawn(onRun?: (msg: { argumentList: unknown[] }, transfer: unknown[]) => void): {
  spawn: SpawnWorker;
  runs: { argumentList: unknown[]; transfer: unknown[] }[];
} {
  const runs: { argumentList: unknown[]; transfer: unknown[] }[] = [];
  const spawn: SpawnWorker = (url, name) => {
    const h = platformSpawnWorker(url, name);
    const post = h.endpoint.postMessage.bind(h.endpoint);
    return {
      ...h,
      onExit: h.onExit.bind(h),
      terminate: h.terminate.bind(h),
      setKeepAlive: h.setKeepAlive.bind(h),
      endpoint: {
        addEventListener: h.endpoint.addEventListener.bind(h.endpoint),
        removeEventListener: h.endpoint.removeEventListener.bind(h.endpoint),
        postMessage(message: { path?: string[]; argumentList: unknown[] }, transfer?: Transferable[]) {
          post(message, transfer);
          if (message?.path?.[0] === 'run') {
            runs.push({ argumentList: message.argumentList, transfer: transfer ?? [] });
            onRun?.(message, transfer ?? []);
          }
        },
      },
    };
  };
  return { spawn, runs };
}

type Outcome = { ok: true; hex: string } | { ok: false; name: string; code: unknown; message: string };
async function outcome(p: Promise<Uint8Array>): Promise<Outcome> {
  try {
    return { ok: true, hex: Buffer.from(await p).toString('hex') };
  } catch (e) {
    const err = e as Error & { code?: unknown };
    return { ok: false, name: err.constructor.name, code: err.code, message: err.message };
  }
}

describe('pack / unpack', () => {
  it('round-trips any run of records, each into buffers of its own', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 50 }), fc.nat(50), fc.nat(50), (recs, a, b) => {
        const [s, e] = [Math.min(a, b, recs.length), Math.min(Math.max(a, b), recs.length)];
        const packed = packRecords(recs, s, e);
        expect(packed.bytes.buffer).not.toBe(packed.offsets.buffer);
        expect(packed.bytes.byteLength).toBe(packed.bytes.buffer.byteLength);
        expect(unpackRecords(packed).map((r) => Buffer.from(r).toString('hex'))).toEqual(
          recs.slice(s, e).map((r) => Buffer.from(r).toString('hex')),
        );
      }),
    );
  });

  it('rejects offsets that do not span the bytes or go backwards', () => {
    const bytes = new Uint8Array(4);
    expect(() => unpackRecords({ bytes, offsets: new Uint32Array([0, 3]) })).toThrow(RangeError);
    expect(() => unpackRecords({ bytes, offsets: new Uint32Array([1, 4]) })).toThrow(RangeError);
    expect(() => unpackRecords({ bytes, offsets: new Uint32Array([0, 3, 2, 4]) })).toThrow(RangeError);
    expect(() => unpackRecords({ bytes, offsets: new Uint32Array([]) })).toThrow(TypeError);
    expect(() => unpackRecords({ bytes, offsets: [0, 4] as unknown as Uint32Array })).toThrow(TypeError);
  });
});

describe('typed errors across the boundary (serialize / deserialize)', () => {
  const codes = Object.values(ErrorCode);

  it('every DataportError code comes back as its own class with its code and message', async () => {
    // Build one instance per code by round-tripping a base DataportError with that code.
    for (const code of codes) {
      const back = deserializeThrown(serializeThrown(new DataportError(code, `m-${code}`))) as DataportError;
      expect(back).toBeInstanceOf(DataportError);
      expect(back.code).toBe(code);
      expect(back.message).toBe(`m-${code}`);
      expect(back.constructor).not.toBe(DataportError); // the specific subclass, not the base
      // and the subclass round-trips to itself
      const again = deserializeThrown(serializeThrown(back)) as DataportError;
      expect(again.constructor).toBe(back.constructor);
    }
  });

  it('keeps the index of a ledger error, TypeError and RangeError classes, and non-errors as they are', () => {
    const l = deserializeThrown(serializeThrown(new LedgerIntegrityError('bad', { index: 7 }))) as LedgerIntegrityError;
    expect(l).toBeInstanceOf(LedgerIntegrityError);
    expect(l.index).toBe(7);
    expect(deserializeThrown(serializeThrown(new TypeError('t')))).toBeInstanceOf(TypeError);
    expect(deserializeThrown(serializeThrown(new RangeError('r')))).toBeInstanceOf(RangeError);
    const plain = deserializeThrown(serializeThrown(new Error('p'))) as Error;
    expect(plain.constructor).toBe(Error);
    expect(plain.message).toBe('p');
    expect(deserializeThrown(serializeThrown('a string'))).toBe('a string');
  });
});

describe('identical results with 0, 1 and N workers', () => {
  let inline: CryptoExecutor;
  const pools: Record<string, WorkerPool> = {};

  beforeAll(async () => {
    inline = await createInlineExecutor();
    pools.zero = await createWorkerPool({ workers: 0 });
    pools.one = await createWorkerPool({ workers: 1, workerUrl, chunkSize: 5 });
    pools.three = await createWorkerPool({ workers: 3, workerUrl, chunkSize: 3 });
    pools.twoDefault = await createWorkerPool({ workers: 2, workerUrl });
  }, 60_000);
  afterAll(async () => {
    for (const p of Object.values(pools)) await p.close();
  });

  const records = fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 80 });
  const ekm = fc.uint8Array({ maxLength: 48 });

  it('hashToGroup: byte-identical to the inline executor', async () => {
    await fc.assert(
      fc.asyncProperty(records, ekm, async (recs, k) => {
        const want = await outcome(inline.hashToGroup(recs, k));
        for (const p of Object.values(pools)) expect(await outcome(p.hashToGroup(recs, k))).toEqual(want);
      }),
      { numRuns: 25 },
    );
  });

  it('ppcaHash and ppcaMultiply: byte-identical to the inline executor for every PPCA suite', async () => {
    for (const suite of PpcaSuiteNames) {
      const recs = Array.from({ length: suite === 'curve25519-sha256-direct' ? 40 : 12 }, (_, i) => new TextEncoder().encode(`id-${i}`));
      const scalar = generatePpcaScalar(suite);
      const hashed = await inline.ppcaHash!(suite, recs);
      const want = await inline.ppcaMultiply!(suite, scalar, hashed);
      for (const p of Object.values(pools)) {
        expect(await p.ppcaHash!(suite, recs)).toEqual(hashed);
        expect(await p.ppcaMultiply!(suite, scalar, hashed)).toEqual(want);
      }
    }
    // An invalid SM2 point fails the same way in a worker as inline.
    const bad = new Uint8Array(33 * 3);
    await expect(pools.three!.ppcaMultiply!('sm2-sha256-tar', generatePpcaScalar('sm2-sha256-tar'), bad)).rejects.toBeInstanceOf(InvalidPointError);
  }, 120_000);

  it('multiply: byte-identical results, and the same error for low-order inputs', async () => {
    const lowOrder = LOW_ORDER_U.map((u) => numberToBytesLE(u));
    const point = fc.oneof({ weight: 20, arbitrary: fc.uint8Array({ minLength: 32, maxLength: 32 }) }, { weight: 1, arbitrary: fc.constantFrom(...lowOrder) });
    await fc.assert(
      fc.asyncProperty(fc.array(point, { maxLength: 60 }), fc.uint8Array({ minLength: 32, maxLength: 32 }), async (pts, scalar) => {
        const flat = new Uint8Array(pts.length * 32);
        pts.forEach((p, i) => flat.set(p, i * 32));
        const want = await outcome(inline.multiply(scalar, flat));
        for (const p of Object.values(pools)) expect(await outcome(p.multiply(scalar, flat))).toEqual(want);
      }),
      { numRuns: 25 },
    );
  });

  it('multiplyAndTruncate: byte-identical to the inline executor and to truncateValues(multiply) for 16, 24 and 32 bytes', async () => {
    const lowOrder = LOW_ORDER_U.map((u) => numberToBytesLE(u));
    const point = fc.oneof({ weight: 30, arbitrary: fc.uint8Array({ minLength: 32, maxLength: 32 }) }, { weight: 1, arbitrary: fc.constantFrom(...lowOrder) });
    await fc.assert(
      fc.asyncProperty(fc.array(point, { maxLength: 40 }), fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.constantFrom(16, 24, 32), async (pts, scalar, L) => {
        const flat = new Uint8Array(pts.length * 32);
        pts.forEach((p, i) => flat.set(p, i * 32));
        const outBytes = L as 16 | 24 | 32;
        const want = await outcome(inline.multiplyAndTruncate!(scalar, flat, outBytes));
        const joint = await outcome(inline.multiply(scalar, flat));
        expect(want).toEqual(joint.ok ? { ok: true, hex: Buffer.from(truncateValues(Buffer.from(joint.hex!, 'hex'), outBytes)).toString('hex') } : joint);
        for (const p of Object.values(pools)) expect(await outcome(p.multiplyAndTruncate(scalar, flat, outBytes))).toEqual(want);
      }),
      { numRuns: 20 },
    );
    const base = new Uint8Array(32);
    base[0] = 9;
    for (const p of Object.values(pools)) await expect(p.multiplyAndTruncate(new Uint8Array(32), base, 20 as 16)).rejects.toBeInstanceOf(RangeError);
  });

  it('a large batch spread over every chunk and worker keeps its order', async () => {
    const recs = Array.from({ length: 2 * DEFAULT_CHUNK_SIZE.hashToGroup * 2 + 17 }, (_, i) => utf8(`1101011990${String(i).padStart(8, '0')}`));
    const k = utf8('session-binding');
    const want = await inline.hashToGroup(recs, k);
    expect(Buffer.from(await pools.twoDefault!.hashToGroup(recs, k)).equals(want)).toBe(true);
    const s = generateScalar();
    expect(Buffer.from(await pools.twoDefault!.multiply(s, want)).equals(await inline.multiply(s, want))).toBe(true);
  });

  it('concurrent operations share the workers and each gets its own results', async () => {
    const batches = Array.from({ length: 6 }, (_, b) => Array.from({ length: 37 + b * 11 }, (_, i) => utf8(`b${b}-r${i}`)));
    const k = utf8('ekm');
    const want = await Promise.all(batches.map((recs) => inline.hashToGroup(recs, k)));
    const s = generateScalar();
    const wantMul = await Promise.all(want.map((pts) => inline.multiply(s, pts)));
    for (const p of [pools.one!, pools.three!]) {
      const got = await Promise.all([...batches.map((recs) => p.hashToGroup(recs, k)), ...want.map((pts) => p.multiply(s, pts))]);
      expect(got.map((g) => Buffer.from(g).toString('hex'))).toEqual([...want, ...wantMul].map((g) => Buffer.from(g).toString('hex')));
      expect(p.stats()).toMatchObject({ queuedChunks: 0, runningChunks: 0 });
    }
  });

  it('misuse fails like the inline executor (TypeError / RangeError naming the argument)', async () => {
    for (const p of Object.values(pools)) {
      for (const [call, ref] of [
        [() => p.hashToGroup([utf8('a'), 'b' as unknown as Uint8Array], new Uint8Array()), () => inline.hashToGroup([utf8('a'), 'b' as unknown as Uint8Array], new Uint8Array())],
        [() => p.hashToGroup([], 'ekm' as unknown as Uint8Array), () => inline.hashToGroup([], 'ekm' as unknown as Uint8Array)],
        [() => p.multiply(new Uint8Array(31), new Uint8Array(32)), () => inline.multiply(new Uint8Array(31), new Uint8Array(32))],
        [() => p.multiply(new Uint8Array(32), new Uint8Array(33)), () => inline.multiply(new Uint8Array(32), new Uint8Array(33))],
      ] as const) {
        expect(await outcome(call())).toEqual(await outcome(ref()));
        expect((await outcome(call())).ok).toBe(false);
      }
    }
  });

  it('runTask runs a registered task like the inline path and refuses unknown names', async () => {
    const scalar = generateScalar();
    const points = await inline.hashToGroup([utf8('x'), utf8('y')], new Uint8Array());
    const want = await inline.multiply(scalar, points);
    for (const p of Object.values(pools)) {
      const got = await p.runTask('multiply', { scalar: scalar.slice(), points: points.slice() });
      expect(Buffer.from(got).equals(want)).toBe(true);
      await expect(p.runTask('nope' as 'multiply', { scalar, points })).rejects.toBeInstanceOf(TypeError);
    }
  });
});

describe('transfers', () => {
  it('records go packed and transferred (moved, not cloned); the caller keeps its arrays', async () => {
    const rec = recordingSpawn();
    const pool = await createWorkerPool({ workers: 2, workerUrl, chunkSize: 4, spawnWorker: rec.spawn });
    try {
      const recs = Array.from({ length: 10 }, (_, i) => utf8(`r${i}`));
      const out = await pool.hashToGroup(recs, utf8('ekm'));
      expect(out.length).toBe(320);
      expect(rec.runs.length).toBe(4); // 10 records, chunks of at most 4, a multiple of 2 chunks
      for (const run of rec.runs) {
        const payload = (run.argumentList[1] as { value: { bytes: Uint8Array; offsets: Uint32Array } }).value;
        expect(run.transfer).toHaveLength(2);
        expect(run.transfer).toContain(payload.bytes.buffer);
        expect(run.transfer).toContain(payload.offsets.buffer);
        expect(payload.bytes.buffer.byteLength).toBe(0); // detached here: it moved to the worker
      }
      expect(recs.every((r, i) => new TextDecoder().decode(r) === `r${i}`)).toBe(true);

      rec.runs.length = 0;
      const scalar = generateScalar();
      await pool.multiply(scalar, out);
      expect(out.length).toBe(320); // the caller's points are not detached
      expect(scalar.some((b) => b !== 0)).toBe(true); // nor is its scalar wiped
      for (const run of rec.runs) expect(run.transfer).toHaveLength(2); // the chunk's copy of the scalar and its points
    } finally {
      await pool.close();
    }
  });
});

describe('a worker crashing mid-batch', () => {
  for (const [how, poison] of [
    ['process.exit inside a task', POISON_EXIT],
    ['an uncaught exception', POISON_THROW],
  ] as const) {
    it(`${how}: the batch fails with WorkerCrashedError, the worker is replaced, the next batch succeeds`, async () => {
      const pool = await createWorkerPool({ workers: 2, workerUrl: crashWorkerUrl, chunkSize: 4 });
      try {
        const inline = await createInlineExecutor();
        const recs = Array.from({ length: 40 }, (_, i) => utf8(`rec-${i}`));
        recs[21] = utf8(poison);
        const err = await pool.hashToGroup(recs, new Uint8Array()).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(WorkerCrashedError);
        expect((err as WorkerCrashedError).code).toBe('ERR_WORKER_CRASHED');
        expect((err as Error).message).toMatch(/^worker \d+ crashed \((exit code 70|uncaught Error)\)$/);
        // Settled only once nothing of it runs: no chunk queued or running.
        expect(pool.stats()).toMatchObject({ queuedChunks: 0, runningChunks: 0, crashes: 1, workers: 2 });

        recs[21] = utf8('rec-21');
        const again = await pool.hashToGroup(recs, new Uint8Array());
        expect(Buffer.from(again).equals(await inline.hashToGroup(recs, new Uint8Array()))).toBe(true);
        expect(pool.stats().crashes).toBe(1);
      } finally {
        await pool.close();
      }
    });
  }

  it('a task error (InvalidPointError) keeps its class and code and leaves the pool usable', async () => {
    const pool = await createWorkerPool({ workers: 2, workerUrl, chunkSize: 2 });
    try {
      const pts = new Uint8Array(32 * 9);
      for (let i = 0; i < 9; i++) pts.set(generateScalar(), i * 32);
      pts.set(numberToBytesLE(LOW_ORDER_U[0]!), 32 * 6);
      const err = await pool.multiply(generateScalar(), pts).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InvalidPointError);
      expect((err as InvalidPointError).code).toBe('ERR_INVALID_POINT');
      expect(pool.stats()).toMatchObject({ queuedChunks: 0, runningChunks: 0, crashes: 0 });
      expect((await pool.multiply(generateScalar(), pts.subarray(0, 64))).length).toBe(64);
    } finally {
      await pool.close();
    }
  });

  it('a replacement that fails to start fails the queued work; the next operation starts a new worker', async () => {
    let spawned = 0;
    const missing = pathToFileURL(path.join(dir, 'no-such-worker.js'));
    // Worker #0 is the crash worker, the replacement #1 cannot load, #2 is fine again.
    const spawn: SpawnWorker = (url, name) => platformSpawnWorker(spawned++ === 1 ? missing : url, name);
    const pool = await createWorkerPool({ workers: 1, workerUrl: crashWorkerUrl, spawnWorker: spawn });
    try {
      await expect(pool.hashToGroup([utf8(POISON_EXIT)], new Uint8Array())).rejects.toBeInstanceOf(WorkerCrashedError);
      const err = await pool.hashToGroup([utf8('queued')], new Uint8Array()).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WorkerCrashedError);
      expect((err as Error).message).toBe('no worker could be started');
      expect((await pool.hashToGroup([utf8('later')], new Uint8Array())).length).toBe(32);
      expect(spawned).toBe(3);
    } finally {
      await pool.close();
    }
  });

  it('a platform that refuses to spawn fails createWorkerPool and leaves no worker behind', async () => {
    const handles: { terminated: boolean }[] = [];
    const spawn: SpawnWorker = (url, name) => {
      if (handles.length === 1) throw new Error('no more threads');
      const h = platformSpawnWorker(url, name);
      const rec = { terminated: false };
      handles.push(rec);
      return {
        endpoint: h.endpoint,
        onExit: h.onExit.bind(h),
        setKeepAlive: h.setKeepAlive.bind(h),
        terminate: async () => {
          rec.terminated = true;
          await h.terminate();
        },
      };
    };
    const err = await createWorkerPool({ workers: 2, workerUrl, spawnWorker: spawn }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkerCrashedError);
    expect(handles).toEqual([{ terminated: true }]);
  });

  it('a worker module that cannot load fails createWorkerPool with WorkerCrashedError', async () => {
    const missing = pathToFileURL(path.join(dir, 'no-such-worker.js'));
    const err = await createWorkerPool({ workers: 2, workerUrl: missing }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkerCrashedError);
    expect((err as Error).message).toMatch(/failed to start/);
  });
});

describe('abort', () => {
  it('mid-batch: queued chunks are dropped, running ones finish, then AbortError; the pool stays usable', async () => {
    const ac = new AbortController();
    // Abort right after the first chunk has been posted to a worker: that chunk is in flight,
    // the rest of the batch is still queued.
    const rec = recordingSpawn(() => {
      if (!ac.signal.aborted && armed) ac.abort();
    });
    let armed = false;
    const pool = await createWorkerPool({ workers: 2, workerUrl, chunkSize: 2, spawnWorker: rec.spawn });
    try {
      const recs = Array.from({ length: 64 }, (_, i) => utf8(`a${i}`));
      armed = true;
      const err = await pool.hashToGroup(recs, new Uint8Array(), ac.signal).catch((e: unknown) => e);
      armed = false;
      expect(err).toBeInstanceOf(AbortError);
      expect((err as AbortError).code).toBe('ERR_ABORTED');
      expect(rec.runs.length).toBe(1); // 32 chunks, only the first ever reached a worker
      expect(pool.stats()).toMatchObject({ queuedChunks: 0, runningChunks: 0 });
      expect((await pool.hashToGroup(recs.slice(0, 3), new Uint8Array())).length).toBe(96);
    } finally {
      await pool.close();
    }
  });

  it('an already aborted signal rejects at once without posting anything', async () => {
    const rec = recordingSpawn();
    const pool = await createWorkerPool({ workers: 1, workerUrl, spawnWorker: rec.spawn });
    try {
      const signal = AbortSignal.abort();
      await expect(pool.hashToGroup([utf8('a')], new Uint8Array(), signal)).rejects.toBeInstanceOf(AbortError);
      await expect(pool.multiply(generateScalar(), new Uint8Array(32), signal)).rejects.toBeInstanceOf(AbortError);
      expect(rec.runs.length).toBe(0);
    } finally {
      await pool.close();
    }
  });
});

describe('close', () => {
  it('rejects work in flight and later calls with AbortError, and is idempotent', async () => {
    let closeNow: (() => void) | undefined;
    const rec = recordingSpawn(() => closeNow?.());
    const pool = await createWorkerPool({ workers: 2, workerUrl, chunkSize: 2, spawnWorker: rec.spawn });
    let closed: Promise<void> | undefined;
    closeNow = () => {
      closeNow = undefined;
      closed = pool.close();
    };
    const err = await pool.hashToGroup(Array.from({ length: 20 }, (_, i) => utf8(`c${i}`)), new Uint8Array()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortError);
    await closed;
    expect(pool.stats()).toMatchObject({ workers: 0, queuedChunks: 0, runningChunks: 0 });
    await expect(pool.hashToGroup([utf8('a')], new Uint8Array())).rejects.toBeInstanceOf(AbortError);
    await expect(pool.multiply(generateScalar(), new Uint8Array(32))).rejects.toBeInstanceOf(AbortError);
    await pool.close();
    await pool[Symbol.asyncDispose]();
  });

  it('rejects bad options with TypeError / RangeError', async () => {
    await expect(createWorkerPool({ workers: -1 })).rejects.toBeInstanceOf(RangeError);
    await expect(createWorkerPool({ workers: 1.5 })).rejects.toBeInstanceOf(TypeError);
    await expect(createWorkerPool({ workers: 1, chunkSize: 0 })).rejects.toBeInstanceOf(RangeError);
    await expect(createWorkerPool({ workers: 1, workerUrl: 42 as unknown as string })).rejects.toBeInstanceOf(TypeError);
  });
});

describe('HE encryption in workers', () => {
  it('encryptBatches: every vector decrypts to its values, in order, with 0 and 2 workers; errors keep their class', async () => {
    const he = await createHeContext(await chooseHeParameters({ slots: 16, maxAbsValue: 1000n, maxAddends: 4 }));
    const keys = he.generateKeys();
    const pk = he.exportPublicKey(keys.publicKey);
    const vectors: ArrayLike<bigint | number>[] = [[1n, -2n, 3n], BigInt64Array.from([7n, 8n]), [1000, -1000, 0, 5], [42n]];
    const want = [[1n, -2n, 3n], [7n, 8n], [1000n, -1000n, 0n, 5n], [42n]];
    const pools = [await createWorkerPool({ workers: 0 }), await createWorkerPool({ workers: 2, workerUrl })];
    try {
      for (const pool of pools) {
        const cts = await pool.encryptBatches(pk, vectors);
        expect(cts).toHaveLength(vectors.length);
        cts.forEach((bytes, i) => {
          const ct = he.importCiphertext(bytes);
          expect(he.decrypt(keys.secretKey, ct)).toEqual(want[i]);
          ct.dispose();
        });
        expect(vectors[1]).toEqual(BigInt64Array.from([7n, 8n])); // the caller's typed array is not detached
        // A value beyond the declared bound: RangeError from inside the worker, class intact.
        await expect(pool.encryptBatches(pk, [[1n], [1001n]])).rejects.toBeInstanceOf(RangeError);
        await expect(pool.encryptBatches(pk.subarray(0, 10), [[1n]])).rejects.toMatchObject({ code: 'ERR_MALFORMED_MESSAGE' });
        await expect(pool.encryptBatches(pk, 'x' as unknown as bigint[][])).rejects.toBeInstanceOf(TypeError);
        expect(await pool.encryptBatches(pk, [])).toEqual([]);
      }
    } finally {
      for (const p of pools) await p.close();
      keys.publicKey.dispose();
      keys.secretKey.dispose();
      he.dispose();
    }
  });
});

/** Runs `script` (an ES module) in a child node process; resolves with its exit code and output. */
function runChild(script: string, asEval = false, nodeArgs: string[] = []): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  const file = path.join(dir, `child-${Math.random().toString(36).slice(2)}.mjs`);
  writeFileSync(file, script);
  const args = [...nodeArgs, ...(asEval ? ['--input-type=module', '-e', script] : [file])];
  return new Promise((resolve, reject) => {
    // A child that hangs is killed, so a leaked thread fails the test instead of hanging it.
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000, killSignal: 'SIGKILL' });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

describe('no stray threads (child processes using the bundled pool with its default worker location)', () => {
  const threads = `() => Number(/^Threads:\\s+(\\d+)$/m.exec(require('node:fs').readFileSync('/proc/self/status', 'utf8'))[1])`;

  it('after close() the threads are gone and the process exits by itself with code 0', async () => {
    const r = await runChild(`
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
import { createWorkerPool } from ${JSON.stringify(pathToFileURL(path.join(dir, 'index.js')).href)};
const threads = ${threads};
const recs = Array.from({ length: 300 }, (_, i) => new TextEncoder().encode('r' + i));
// One full cycle first, so that lazily started runtime threads are part of the baseline.
const warm = await createWorkerPool({ workers: 2 });
await warm.hashToGroup(recs, new Uint8Array());
await warm.close();
const before = threads();
const pool = await createWorkerPool({ workers: 2 });
const inline = await createWorkerPool({ workers: 0 });
const out = await pool.hashToGroup(recs, new Uint8Array());
const same = Buffer.from(out).equals(await inline.hashToGroup(recs, new Uint8Array()));
const workers = pool.stats().workers;
await pool.close();
console.log(JSON.stringify({ before, workers, after: threads(), same }));
`);
    expect(r.stderr).toBe('');
    expect(r.signal).toBeNull();
    expect(r.code).toBe(0);
    const m = JSON.parse(r.stdout.trim()) as { before: number; workers: number; after: number; same: boolean };
    expect(m.same).toBe(true);
    // The pool's own count, not the OS thread count: a worker that has not received a chunk yet
    // may still be starting, so counting threads mid-run raced with the start-up.
    expect(m.workers).toBe(2);
    expect(m.after).toBeLessThanOrEqual(m.before);
  });

  it('works in a host started with --input-type=module -e (options a worker must not inherit)', async () => {
    const r = await runChild(
      `import { createWorkerPool } from ${JSON.stringify(pathToFileURL(path.join(dir, 'index.js')).href)};
const pool = await createWorkerPool({ workers: 1 });
console.log((await pool.hashToGroup([new TextEncoder().encode('x')], new Uint8Array())).length);
await pool.close();`,
      true,
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe('32');
  });

  it('works in a host started with heap-size flags (a worker refuses them in execArgv; the old-space limit becomes its resourceLimits)', async () => {
    const r = await runChild(
      `import { createWorkerPool } from ${JSON.stringify(pathToFileURL(path.join(dir, 'index.js')).href)};
const pool = await createWorkerPool({ workers: 1 });
console.log((await pool.hashToGroup([new TextEncoder().encode('x')], new Uint8Array())).length);
await pool.close();`,
      false,
      ['--max-old-space-size=512', '--max_semi_space_size=8'],
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe('32');
  });

  it('an idle pool that was never closed does not keep the process alive', async () => {
    const r = await runChild(`
import { createWorkerPool } from ${JSON.stringify(pathToFileURL(path.join(dir, 'index.js')).href)};
const pool = await createWorkerPool({ workers: 2 });
const out = await pool.hashToGroup([new TextEncoder().encode('x')], new Uint8Array());
console.log(out.length);
`);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe('32');
  });
});
