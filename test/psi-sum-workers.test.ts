// psi-sum's HE on the worker pool (he-tasks.ts, he-parallel.ts): inline, 1 and 2 workers decrypt to
// the same exact sums (random data with negatives, zeros and the largest values that cannot wrap);
// a worker crash during HE fails the run with WorkerCrashedError and the pool recovers; an abort
// during HE rejects with AbortError; the tasks release every SEAL object.
//
// The worker threads run a bundle of the sources built into a temporary folder (see
// test/workers.test.ts for why), with a second entry that dies on poison input.
import fc from 'fast-check';
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AbortError, WorkerCrashedError } from '../src/errors.js';
import { createInlineExecutor, type CryptoExecutor } from '../src/protocols/executor.js';
import { HeContext, type HeKeyPair } from '../src/protocols/psi-sum/he.js';
import { encryptBlocksOnWorkers, evaluateOnWorkers, type PsiSumTaskRunner } from '../src/protocols/psi-sum/he-parallel.js';
import { psiSumEncryptTask, psiSumEvaluateTask } from '../src/protocols/psi-sum/he-tasks.js';
import { runPsiSumIdHolder, runPsiSumValueHolder, type PsiSumProtocolOptions } from '../src/protocols/psi-sum/protocol.js';
import { createMemoryTransportPair } from '../src/transport/memory.js';
import { generateIdentity } from '../src/session/identity.js';
import { runPsiSum } from '../src/session/index.js';
import { createWorkerPool, type WorkerPool } from '../src/workers/index.js';
import { bundleTestWorkers } from './worker-bundle.js';

const N = 8192;
/** The crash worker dies (exit code 70) on a psiSumEvaluate run holding this value. */
const POISON = -777_777n;

let dir: string;
let workerUrl: URL;
let crashWorkerUrl: URL;
const pools: WorkerPool[] = [];

beforeAll(async () => {
  ({ dir, workerUrl, crashWorkerUrl } = await bundleTestWorkers({
    prefix: 'dataport-psi-sum-workers-',
    intercept: `    if (name === 'psiSumEvaluate' && payload.values.some((v) => v.includes(${POISON}n))) process.exit(70);`,
  }));
}, 180_000);

afterAll(async () => {
  await Promise.all(pools.map((p) => p.close()));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function pool(workers: number, url = workerUrl): Promise<WorkerPool> {
  const p = await createWorkerPool({ workers, workerUrl: url });
  pools.push(p);
  return p;
}

/** Uniform in [-bound, bound] from the CSPRNG. */
function randomSigned(bound: bigint): bigint {
  const w = new BigUint64Array(2);
  globalThis.crypto.getRandomValues(w);
  return (((w[0]! << 64n) | w[1]!) % (2n * bound + 1n)) - bound;
}

describe('psi-sum HE on workers: same decrypted sums as inline', () => {
  // The WorkerPool is a PsiSumTaskRunner (checked by the type checker here).
  const asRunner = (p: WorkerPool): PsiSumTaskRunner => p;

  it('inline, 1 and 2 workers (I’s encryption and V’s evaluation, each way) decrypt to the plain sum', async () => {
    const one = asRunner(await pool(1));
    const two = asRunner(await pool(2));
    const contexts = new Map<number, { he: HeContext; keys: HeKeyPair }>();
    const setup = async (bits: number) => {
      let c = contexts.get(bits);
      if (!c) {
        const he = await HeContext.create(bits);
        c = { he, keys: he.generateKeys() };
        contexts.set(bits, c);
      }
      return c;
    };
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(20, 45, 50), // smallest t, the largest with the final modulus switch, the largest
          fc.integer({ min: 1, max: 3 * N }), // up to three blocks, the last one partly filled
          fc.integer({ min: 0, max: 2 ** 31 - 1 }),
          async (bits, n, seed) => {
            const { he, keys } = await setup(bits);
            // Largest per-slot |value| for which no sum of n values can wrap.
            const bound = (he.t - 1n) / 2n / BigInt(n);
            let r = seed;
            const next = (): number => (r = (Math.imul(r, 1103515245) + 12345) >>> 0);
            const values: bigint[] = [];
            const selected = new Uint8Array(n);
            let expected = 0n;
            for (let i = 0; i < n; i++) {
              const k = next() % 6;
              const v = k === 0 ? 0n : k === 1 ? bound : k === 2 ? -bound : randomSigned(bound);
              values.push(v);
              if (next() % 3 !== 0 || i === n - 1) {
                selected[i] = 1;
                expected += v;
              }
            }
            const constant = BigInt(next()) - 2n ** 31n;
            const secretKey = he.exportSecretKey(keys);
            const blocks = Math.ceil(n / N);
            const plan = he.resultPlan(blocks, bound);
            const coeffs = Array.from({ length: blocks }, (_, k) => he.selectionCoefficients(selected, k)).flat();
            const pk = he.loadPublicKey(keys.publicKeyBytes);
            try {
              // I's encryption: inline, on 1 and on 2 workers.
              const byInline = he.encryptValues(keys, coeffs);
              const byOne = await encryptBlocksOnWorkers(one, he, keys, secretKey, coeffs);
              const byTwo = await encryptBlocksOnWorkers(two, he, keys, secretKey, coeffs);
              for (const cts of [byOne, byTwo]) expect(cts.length).toBe(byInline.length);
              const decrypted: bigint[] = [];
              // Every encryption path × every evaluation path (V: inline, 1 and 2 workers).
              for (const cts of [byInline, byOne, byTwo]) {
                for (const runner of [undefined, one, two]) {
                  const ev = he.createEvaluator(pk, 1);
                  try {
                    if (runner) await evaluateOnWorkers(runner, he, keys.publicKeyBytes, ev, cts, (_, b0, b1) => BigInt64Array.from(values.slice(b0 * N, b1 * N)));
                    else {
                      cts.forEach((bytes, k) => {
                        const ct = he.loadCiphertext(bytes, 'fresh');
                        ev.addBlock(ct, [values.slice(k * N, (k + 1) * N)]);
                        ct.delete();
                      });
                    }
                    decrypted.push(he.decryptConstant(keys.secretKey, ev.finish(0, constant, plan), plan.primes).value);
                  } finally {
                    ev.delete();
                  }
                }
              }
              const want = he.centre(he.mod(expected + constant));
              expect(decrypted).toEqual(Array(9).fill(want));
            } finally {
              pk.delete();
              secretKey.fill(0);
            }
          },
        ),
        { numRuns: 6, examples: [[20, 1, 240088613], [45, 2 * N + 5, 12345]] }, // the largest single value; three blocks
      );
    } finally {
      for (const { he, keys } of contexts.values()) {
        keys.delete();
        he.delete();
      }
    }
  }, 600_000);

  it('the whole protocol with HE on 2 workers (both parties) gives the plain sums, counts and the inline result', async () => {
    const two = await pool(2);
    const inline = await createInlineExecutor();
    const enc = new TextEncoder();
    const nV = N + 100; // two blocks per column
    const yKeys = Array.from({ length: nV }, (_, i) => enc.encode(`y${i}`));
    const xKeys = [...Array.from({ length: 150 }, (_, i) => enc.encode(`y${i * 7}`)), ...Array.from({ length: 50 }, (_, i) => enc.encode(`x${i}`))];
    const bound = 1_000_000n;
    const cost = Array.from({ length: nV }, (_, i) => (i % 11 === 0 ? 0n : i % 13 === 0 ? -bound : i % 17 === 0 ? bound : randomSigned(bound)));
    const flag = Array.from({ length: nV }, (_, i) => BigInt(i % 3 === 0 ? 1 : 0));
    const columns = [
      { name: 'cost', decimals: 2, bound },
      { name: 'flag', decimals: 0, bound: 1n },
    ];
    let expected = [0n, 0n];
    for (let i = 0; i < 150; i++) expected = [expected[0]! + cost[i * 7]!, expected[1]! + flag[i * 7]!];
    const options: PsiSumProtocolOptions = { minCohort: 0, revealToIdHolder: true, revealToValueHolder: true };
    const ekm = new Uint8Array(32).fill(9);
    const runWith = async (exI: CryptoExecutor, exV: CryptoExecutor, heOffload: 'always' | 'never') => {
      const [a, b] = createMemoryTransportPair({ maxFrameBytes: 1 << 24 });
      return Promise.all([
        runPsiSumIdHolder({ transport: a, ekm, executor: exI, options, peerSetSize: nV, keys: xKeys, heOffload }),
        runPsiSumValueHolder({ transport: b, ekm, executor: exV, options, peerSetSize: xKeys.length, input: { keys: yKeys, columns, totals: [cost, flag] }, heOffload }),
      ]);
    };
    const [iw, vw] = await runWith(two, two, 'always');
    const [ii, vi] = await runWith(inline, inline, 'never');
    for (const out of [iw, vw, ii, vi]) {
      expect(out.sums).toEqual(expected);
      expect(out.count).toBe(150n);
    }
    expect(two.stats().crashes).toBe(0);
  }, 300_000);
});

describe('psi-sum HE on workers: many columns', () => {
  it('16 columns with one signal: every column right, and no MaxListenersExceededWarning', async () => {
    const two = await pool(2);
    const enc = new TextEncoder();
    const warnings: string[] = [];
    const onWarning = (w: Error): void => void warnings.push(w.name);
    process.on('warning', onWarning);
    try {
      const yKeys = Array.from({ length: 60 }, (_, i) => enc.encode(`k${i}`));
      const xKeys = Array.from({ length: 30 }, (_, i) => enc.encode(`k${i * 2}`));
      const columns = Array.from({ length: 16 }, (_, c) => ({ name: `c${c}`, decimals: 0, bound: 1000n }));
      const totals = columns.map((_, c) => yKeys.map((_, i) => BigInt(((i * 31 + c * 7) % 2001) - 1000)));
      const options: PsiSumProtocolOptions = { minCohort: 0, revealToIdHolder: true, revealToValueHolder: true };
      const ekm = new Uint8Array(32).fill(1);
      const signal = new AbortController().signal;
      const [a, b] = createMemoryTransportPair();
      const [i, v] = await Promise.all([
        runPsiSumIdHolder({ transport: a, ekm, executor: two, options, peerSetSize: 60, keys: xKeys, signal, heOffload: 'always' }),
        runPsiSumValueHolder({ transport: b, ekm, executor: two, options, peerSetSize: 30, input: { keys: yKeys, columns, totals }, signal, heOffload: 'always' }),
      ]);
      const want = totals.map((col) => xKeys.reduce((sum, _, j) => sum + col[j * 2]!, 0n));
      expect(i.sums).toEqual(want);
      expect(v.sums).toEqual(want);
      await new Promise((r) => setImmediate(r)); // warnings are emitted on a later tick
      expect(warnings).not.toContain('MaxListenersExceededWarning');
    } finally {
      process.off('warning', onWarning);
    }
  }, 300_000);
});

describe('runPsiSum (session layer) with a worker pool', () => {
  it('the pool as executor with heOffload always: exact decimal sums and means on both sides; a bad heOffload is a TypeError before anything runs', async () => {
    const two = await pool(2);
    const pharma = generateIdentity();
    const hospital = generateIdentity();
    const ids = ['110101199003070011', '11010119900307002X', '440101198001010033', '310101197512120044'];
    const valueKeys = ['11010119900307002x', '440101198001010033', '440101198001010033', '999'];
    const rows = [['1200.50', '1'], ['-80.25', '0'], ['10.00', '1'], ['5.00', '0']];
    // The pool, counting the HE tasks it runs (so the test sees that heOffload reached the protocol).
    const tasks: string[] = [];
    const counted: CryptoExecutor & PsiSumTaskRunner = {
      size: two.size,
      hashToGroup: (r, e, sg) => two.hashToGroup(r, e, sg),
      multiply: (k, p, sg) => two.multiply(k, p, sg),
      close: async () => {},
      runTask: ((name: 'psiSumEvaluate', payload: never, o?: { signal?: AbortSignal }) => {
        tasks.push(name);
        return two.runTask(name, payload, o);
      }) as PsiSumTaskRunner['runTask'],
    };
    const [a, b] = createMemoryTransportPair();
    const [mine, theirs] = await Promise.all([
      runPsiSum({ role: 'requester', records: ids, transport: a, identity: pharma, peerPublicKey: hospital.publicKey, executor: counted, heOffload: 'always' }),
      runPsiSum({
        role: 'responder',
        records: valueKeys,
        values: { columns: [{ name: 'cost' }, { name: 'adverse' }], rows },
        transport: b,
        identity: hospital,
        peerPublicKey: pharma.publicKey,
        executor: counted,
        heOffload: 'always',
      }),
    ]);
    // One block: I encrypts it in one task, V multiplies it by both columns in one task.
    expect(tasks.sort()).toEqual(['psiSumEncrypt', 'psiSumEvaluate']);
    for (const r of [mine, theirs]) {
      expect(r.intersectionSize).toBe(2);
      expect(r.sums).toEqual({ cost: '1130.25', adverse: '2' });
      expect(r.means).toEqual({ cost: '565.13', adverse: '1.00' });
    }
    const [c] = createMemoryTransportPair();
    await expect(
      runPsiSum({ role: 'requester', records: ids, transport: c, identity: pharma, peerPublicKey: hospital.publicKey, heOffload: 'sometimes' as never }),
    ).rejects.toBeInstanceOf(TypeError);
    expect(c.stats.bytesSent).toBe(0);
  }, 300_000);
});

describe('psi-sum HE on workers: failures', () => {
  const enc = new TextEncoder();
  const options: PsiSumProtocolOptions = { minCohort: 0, revealToIdHolder: true, revealToValueHolder: true };
  const ekm = new Uint8Array(32).fill(3);
  const keysOf = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => enc.encode(`${prefix}${i}`));

  it('a worker crash while V evaluates: WorkerCrashedError, the pool replaces the worker and the next run succeeds', async () => {
    const crashy = await pool(2, crashWorkerUrl);
    const inline = await createInlineExecutor();
    const yKeys = keysOf('k', 40);
    const xKeys = keysOf('k', 25);
    const columns = [{ name: 'v', decimals: 0, bound: 1_000_000n }];
    const run = (totals: bigint[]) => {
      const [a, b] = createMemoryTransportPair();
      return Promise.allSettled([
        runPsiSumIdHolder({ transport: a, ekm, executor: inline, options, peerSetSize: yKeys.length, keys: xKeys }),
        runPsiSumValueHolder({ transport: b, ekm, executor: crashy, options, peerSetSize: xKeys.length, input: { keys: yKeys, columns, totals: [totals] }, heOffload: 'always' }),
      ]);
    };
    const poisoned = Array.from({ length: 40 }, (_, i) => (i === 17 ? POISON : BigInt(i)));
    const [i1, v1] = await run(poisoned);
    expect(v1.status).toBe('rejected');
    const err = (v1 as PromiseRejectedResult).reason as Error;
    expect(err).toBeInstanceOf(WorkerCrashedError);
    expect(err.message).toMatch(/^worker \d+ crashed \(exit code 70\)$/);
    expect(i1.status).toBe('rejected'); // the peer sees the session end, not a hang
    expect(crashy.stats()).toMatchObject({ crashes: 1, queuedChunks: 0, runningChunks: 0 });

    const clean = Array.from({ length: 40 }, (_, i) => BigInt(i) - 20n);
    const [i2, v2] = await run(clean);
    const want = clean.slice(0, 25).reduce((s, x) => s + x, 0n);
    expect(i2.status === 'fulfilled' && i2.value.sums).toEqual([want]);
    expect(v2.status === 'fulfilled' && v2.value.sums).toEqual([want]);
    expect(crashy.stats()).toMatchObject({ crashes: 1, workers: 2 });
  }, 300_000);

  it('an abort while I encrypts on the workers rejects with AbortError; the pool stays usable', async () => {
    const two = await pool(2);
    const inline = await createInlineExecutor();
    const ctl = new AbortController();
    // The pool, seen through a wrapper that aborts the run when I's encryption is submitted.
    const aborting: CryptoExecutor & PsiSumTaskRunner = {
      size: two.size,
      hashToGroup: (r, e, s) => two.hashToGroup(r, e, s),
      multiply: (k, p, s) => two.multiply(k, p, s),
      close: async () => {},
      runTask: ((name: 'psiSumEncrypt', payload: never, o?: { signal?: AbortSignal }) => {
        if (name === 'psiSumEncrypt') ctl.abort();
        return two.runTask(name, payload, o);
      }) as PsiSumTaskRunner['runTask'],
    };
    const yKeys = keysOf('k', 30);
    const xKeys = keysOf('k', 20);
    const columns = [
      { name: 'a', decimals: 0, bound: 100n },
      { name: 'b', decimals: 0, bound: 100n },
    ];
    const totals = [yKeys.map((_, i) => BigInt(i)), yKeys.map((_, i) => BigInt(-i))];
    const [a, b] = createMemoryTransportPair();
    const [iOut, vOut] = await Promise.allSettled([
      runPsiSumIdHolder({ transport: a, ekm, executor: aborting, options, peerSetSize: yKeys.length, keys: xKeys, signal: ctl.signal, heOffload: 'always' }),
      runPsiSumValueHolder({ transport: b, ekm, executor: inline, options, peerSetSize: xKeys.length, input: { keys: yKeys, columns, totals } }),
    ]);
    expect(iOut.status).toBe('rejected');
    expect((iOut as PromiseRejectedResult).reason).toBeInstanceOf(AbortError);
    expect(vOut.status).toBe('rejected');
    // Still usable: the same pool runs the encryption for a fresh run.
    const [c, d] = createMemoryTransportPair();
    const [i2, v2] = await Promise.all([
      runPsiSumIdHolder({ transport: c, ekm, executor: two, options, peerSetSize: yKeys.length, keys: xKeys, heOffload: 'always' }),
      runPsiSumValueHolder({ transport: d, ekm, executor: inline, options, peerSetSize: xKeys.length, input: { keys: yKeys, columns, totals } }),
    ]);
    const s = totals[0]!.slice(0, 20).reduce((x, y) => x + y, 0n);
    expect(i2.sums).toEqual([s, -s]);
    expect(v2.sums).toEqual([s, -s]);
  }, 300_000);

  it('an already aborted signal: the split rejects with AbortError before any task runs', async () => {
    const two = await pool(2);
    const he = await HeContext.create(30);
    const keys = he.generateKeys();
    const sk = he.exportSecretKey(keys);
    try {
      await expect(encryptBlocksOnWorkers(two, he, keys, sk, [1n, 0n], AbortSignal.abort())).rejects.toBeInstanceOf(AbortError);
      expect(two.stats()).toMatchObject({ queuedChunks: 0, runningChunks: 0 });
    } finally {
      sk.fill(0);
      keys.delete();
    }
  }, 120_000);

  it('the encryption task wipes the secret key it was given, even when it fails', async () => {
    const he = await HeContext.create(30);
    const keys = he.generateKeys();
    try {
      const sk = he.exportSecretKey(keys);
      await psiSumEncryptTask({ plainBits: 30, secretKey: sk, publicKey: keys.publicKeyBytes, values: BigInt64Array.of(1n, -1n) });
      expect(sk.every((b) => b === 0)).toBe(true);
      const sk2 = he.exportSecretKey(keys);
      // A value that does not fit the plaintext modulus: RangeError, key wiped all the same.
      await expect(psiSumEncryptTask({ plainBits: 30, secretKey: sk2, publicKey: keys.publicKeyBytes, values: BigInt64Array.of(1n << 40n) })).rejects.toBeInstanceOf(RangeError);
      expect(sk2.every((b) => b === 0)).toBe(true);
      // Bytes that are not a key: a fixed message that quotes nothing of them.
      const junk = he.exportSecretKey(keys).subarray(0, 4096); // a truncated key
      const e = await psiSumEncryptTask({ plainBits: 30, secretKey: junk, publicKey: keys.publicKeyBytes, values: BigInt64Array.of(1n) }).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(RangeError);
      expect((e as Error).message).toBe('secretKey is not a psi-sum secret key for these parameters');
    } finally {
      keys.delete();
    }
  }, 120_000);
});

describe('psi-sum HE tasks: memory', () => {
  // Resource assertion (not timing), as in test/he-memory.test.ts: WebAssembly memory (counted in
  // `external`) only grows, so SEAL objects a task forgot to delete (a loaded public key alone is
  // ~390 KB, a secret key ~200 KB, a ciphertext ~260 KB) show up as growth. The tasks run here
  // on this thread, the same code a worker runs.
  const ALLOWANCE_BYTES = 32 * 1024 * 1024;

  it('60 encryption + evaluation tasks do not grow memory beyond a fixed allowance; the control leak does', async () => {
    const he = await HeContext.create(35);
    const keys = he.generateKeys();
    const values = BigInt64Array.from({ length: N + 10 }, (_, i) => BigInt(i % 100) - 50n);
    const selected = new Uint8Array(N + 10).fill(1);
    const coeffs = BigInt64Array.from([0, 1].flatMap((k) => he.selectionCoefficients(selected, k)));
    const cycle = async () => {
      const cts = await psiSumEncryptTask({ plainBits: 35, secretKey: he.exportSecretKey(keys), publicKey: keys.publicKeyBytes, values: coeffs.slice() });
      return psiSumEvaluateTask({ plainBits: 35, publicKey: keys.publicKeyBytes, ciphertexts: cts, values: [values.slice(), values.slice()] });
    };
    try {
      for (let i = 0; i < 5; i++) await cycle(); // warm-up: the heap reaches its working size
      global.gc?.();
      const before = process.memoryUsage().external;
      for (let i = 0; i < 60; i++) await cycle();
      global.gc?.();
      expect(process.memoryUsage().external - before).toBeLessThan(ALLOWANCE_BYTES);

      // Control: the same measurement sees loaded public keys that are never deleted.
      const leaked: ReturnType<HeContext['loadPublicKey']>[] = [];
      const beforeLeak = process.memoryUsage().external;
      for (let i = 0; i < 150; i++) leaked.push(he.loadPublicKey(keys.publicKeyBytes));
      expect(process.memoryUsage().external - beforeLeak).toBeGreaterThan(ALLOWANCE_BYTES);
      for (const k of leaked) k.delete();
    } finally {
      keys.delete();
    }
  }, 300_000);
});
