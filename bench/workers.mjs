// Worker-pool benchmark (DESIGN.md §5). Measures, in one run:
//  1. dispatch overhead per chunk: a one-item call through a 1-worker pool against the same call
//     inline (latency of one round trip), and 256 one-item chunks pipelined through one worker
//     against one inline call on 256 items (overhead per chunk when the worker is kept busy);
//  1 also prints the chunk sizes the rule gives (≈ 50 × per-chunk overhead / per-item cost, i.e.
//     dispatch ≤ ~2 % of the work, nearest power of two) next to the defaults in use;
//  2. a chunk-size sweep (2 workers) for hash-to-curve and multiplication, as a check of that rule;
//  3. the speed-up of batch EC operations (hashToGroup + multiply): inline, 1 worker, 2 workers;
//  4. the largest event-loop delay (perf_hooks.monitorEventLoopDelay) while 2 workers run a
//     2^18-record hashToGroup + multiply batch (stand-in for the 2^18-record PSI run, which needs
//     the PSI protocol; the batch crypto is the same);
//  5. BFV encryption (encryptBatches, one 4096-slot vector per task): inline, 1 worker, 2 workers.
// Run: npx tsup && node bench/workers.mjs [--quick] [--sections=12345]     (DATAPORT_DIST=/path/to/dist to use another build)
// On a machine shared with other jobs, wall-clock speed-ups only mean something when the cores are
// free; the recorded results were taken at raised priority (Linux autogroup + nice):
//   setsid bash -c 'echo -10 > /proc/self/autogroup && exec nice -n -10 node bench/workers.mjs'
// and section 3 also reports CPU time per record, which does not depend on free cores.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { compare, fmt, machine, printTable, writeResult } from './lib.mjs';

const distDir = process.env.DATAPORT_DIST ?? new URL('../dist', import.meta.url).pathname;
const { createWorkerPool, createInlineExecutor, generateScalar, DEFAULT_CHUNK_SIZE, chooseHeParameters, createHeContext } = await import(`${distDir}/index.js`);

const quick = process.argv.includes('--quick');
// --sections=134 runs only those sections (default: all five).
const sections = (process.argv.find((a) => a.startsWith('--sections=')) ?? '--sections=12345').slice(11);
const opts = quick ? { rounds: 3, ms: 300 } : { rounds: 5, ms: 1000 };
const enc = new TextEncoder();
const makeRecords = (n) => Array.from({ length: n }, (_, i) => enc.encode(`11010119${String(800000 + (i % 199999)).padStart(6, '0')}${String(i).padStart(7, '0')}`));
const ekm = new Uint8Array(32).fill(7);
const scalar = generateScalar();

console.log('machine:', JSON.stringify(machine()));
const inline = await createInlineExecutor();
const one = await createWorkerPool({ workers: 1 });
const oneTiny = await createWorkerPool({ workers: 1, chunkSize: 1 });
const two = await createWorkerPool({ workers: 2 });
const results = { machine: machine(), options: { quick, ...opts }, defaults: DEFAULT_CHUNK_SIZE };

// ---- 1. dispatch overhead -------------------------------------------------------------------
if (sections.includes('1')) {
  const rec1 = makeRecords(1);
  const pt1 = await inline.hashToGroup(rec1, ekm);
  const recs256 = makeRecords(256);
  const pts256 = await inline.hashToGroup(recs256, ekm);
  const d = await compare(
    [
      { name: 'inline multiply x1', items: 1, run: () => inline.multiply(scalar, pt1) },
      { name: 'pool(1) multiply x1', items: 1, run: () => one.multiply(scalar, pt1) },
      { name: 'inline hashToGroup x1', items: 1, run: () => inline.hashToGroup(rec1, ekm) },
      { name: 'pool(1) hashToGroup x1', items: 1, run: () => one.hashToGroup(rec1, ekm) },
      { name: 'inline multiply x256', items: 256, run: () => inline.multiply(scalar, pts256) },
      { name: 'pool(1) multiply 256 chunks of 1', items: 256, run: () => oneTiny.multiply(scalar, pts256) },
      { name: 'inline hashToGroup x256', items: 256, run: () => inline.hashToGroup(recs256, ekm) },
      { name: 'pool(1) hashToGroup 256 chunks of 1', items: 256, run: () => oneTiny.hashToGroup(recs256, ekm) },
    ],
    opts,
  );
  const overhead = {
    roundTripMultiplyUs: d['pool(1) multiply x1'].usPerItem - d['inline multiply x1'].usPerItem,
    roundTripHashUs: d['pool(1) hashToGroup x1'].usPerItem - d['inline hashToGroup x1'].usPerItem,
    pipelinedMultiplyUsPerChunk: d['pool(1) multiply 256 chunks of 1'].usPerItem - d['inline multiply x256'].usPerItem,
    pipelinedHashUsPerChunk: d['pool(1) hashToGroup 256 chunks of 1'].usPerItem - d['inline hashToGroup x256'].usPerItem,
    multiplyUsPerItem: d['inline multiply x256'].usPerItem,
    hashUsPerItem: d['inline hashToGroup x256'].usPerItem,
  };
  console.log('\n1. dispatch overhead (µs)');
  printTable(
    Object.entries(d).map(([name, r]) => ({ case: name, 'µs/item': fmt(r.usPerItem), min: fmt(r.min), max: fmt(r.max) })),
    ['case', 'µs/item', 'min', 'max'],
  );
  for (const [k, v] of Object.entries(overhead)) console.log(`  ${k}: ${fmt(v)}`);
  // Rule for the default chunk size: dispatch overhead ≤ 2 % of a chunk's work, i.e. a chunk carries
  // ~50 × the per-chunk overhead of its task, rounded to the nearest power of two. The overhead is
  // the larger of the two measures (a worker that idles between chunks pays the whole round trip;
  // for multiply it includes the per-call import of the secret key in the backend).
  const perChunk = {
    hashToGroup: Math.max(overhead.roundTripHashUs, overhead.pipelinedHashUsPerChunk),
    multiply: Math.max(overhead.roundTripMultiplyUs, overhead.pipelinedMultiplyUsPerChunk),
  };
  const suggest = (over, usPerItem) => 2 ** Math.round(Math.log2(Math.max(1, (50 * over) / usPerItem)));
  const suggested = { hashToGroup: suggest(perChunk.hashToGroup, overhead.hashUsPerItem), multiply: suggest(perChunk.multiply, overhead.multiplyUsPerItem) };
  results.dispatch = { cases: d, overhead, perChunkOverheadUs: perChunk, suggested };
  console.log(
    `  → per-chunk overhead: hashToGroup ${fmt(perChunk.hashToGroup)} µs, multiply ${fmt(perChunk.multiply)} µs; ` +
      `chunk ≈ 50× that: hashToGroup ${suggested.hashToGroup}, multiply ${suggested.multiply} (defaults in use: ${JSON.stringify(DEFAULT_CHUNK_SIZE)})`,
  );

}

// ---- 2. chunk-size sweep (2 workers) ----------------------------------------------------------
if (sections.includes('2')) {
  const SWEEP_N = quick ? 4096 : 8192;
  const sweepRecs = makeRecords(SWEEP_N);
  const sweepPts = await inline.hashToGroup(sweepRecs, ekm);
  const sizes = [16, 64, 256, 512, 1024, 2048];
  const sweepPools = await Promise.all(sizes.map((chunkSize) => createWorkerPool({ workers: 2, chunkSize })));
  const sweepCases = [];
  sizes.forEach((s, i) => {
    sweepCases.push({ name: `hashToGroup chunk ${s}`, items: SWEEP_N, run: () => sweepPools[i].hashToGroup(sweepRecs, ekm) });
    sweepCases.push({ name: `multiply chunk ${s}`, items: SWEEP_N, run: () => sweepPools[i].multiply(scalar, sweepPts) });
  });
  const sweep = await compare(sweepCases, { rounds: quick ? 2 : 3, ms: opts.ms });
  for (const p of sweepPools) await p.close();
  console.log(`\n2. chunk-size sweep, 2 workers, ${SWEEP_N} items`);
  printTable(
    Object.entries(sweep).map(([name, r]) => ({ case: name, 'µs/item': fmt(r.usPerItem), min: fmt(r.min), max: fmt(r.max) })),
    ['case', 'µs/item', 'min', 'max'],
  );
  results.sweep = { items: SWEEP_N, cases: sweep };

}

// ---- 3. speed-up: 1 vs 2 workers --------------------------------------------------------------
if (sections.includes('3')) {
  const N = quick ? 2 ** 12 : 2 ** 14;
  const recs = makeRecords(N);
  const ecBatch = (ex) => async () => ex.multiply(scalar, await ex.hashToGroup(recs, ekm));
  const sp = await compare(
    [
      { name: 'inline', items: N, run: ecBatch(inline) },
      { name: '1 worker', items: N, run: ecBatch(one) },
      { name: '2 workers', items: N, run: ecBatch(two) },
    ],
    { rounds: quick ? 3 : 5, ms: opts.ms },
  );
  const speedup = sp['1 worker'].usPerItem / sp['2 workers'].usPerItem;
  // Best-of ratio too: on a shared machine the minimum is the least disturbed sample.
  const speedupBest = sp['1 worker'].min / sp['2 workers'].min;
  console.log(`\n3. batch EC ops (hashToGroup + multiply), ${N} records, default chunk sizes`);
  printTable(
    Object.entries(sp).map(([name, r]) => ({ case: name, 'µs/record': fmt(r.usPerItem), min: fmt(r.min), max: fmt(r.max), 'k records/s': fmt(1000 / r.usPerItem) })),
    ['case', 'µs/record', 'min', 'max', 'k records/s'],
  );
  console.log(`  speed-up 2 workers vs 1: ${fmt(speedup)}× (median of rounds), ${fmt(speedupBest)}× (best rounds)`);
  // CPU time per record (all threads of this process): on a machine shared with other jobs the wall
  // clock ratio depends on how many cores are free; equal CPU cost per record with 1 and 2 workers
  // means the pool adds no work, so 2 free cores give ~2x.
  const cpu = {};
  for (const [name, ex] of [['inline', inline], ['1 worker', one], ['2 workers', two]]) {
    const c0 = process.cpuUsage();
    const w0 = performance.now();
    for (let i = 0; i < 3; i++) await ecBatch(ex)();
    const c = process.cpuUsage(c0);
    cpu[name] = { cpuUsPerRecord: (c.user + c.system) / (3 * N), wallUsPerRecord: ((performance.now() - w0) * 1000) / (3 * N) };
  }
  printTable(
    Object.entries(cpu).map(([name, r]) => ({ case: name, 'CPU µs/record': fmt(r.cpuUsPerRecord), 'wall µs/record': fmt(r.wallUsPerRecord), 'cores used': fmt(r.cpuUsPerRecord / r.wallUsPerRecord) })),
    ['case', 'CPU µs/record', 'wall µs/record', 'cores used'],
  );
  results.speedup = { records: N, cases: sp, twoVsOne: speedup, twoVsOneBest: speedupBest, cpu };

}

// ---- 4. event-loop delay during a 2^18 batch ----------------------------------------------------
if (sections.includes('4')) {
  const BIG = quick ? 2 ** 15 : 2 ** 18;
  const big = makeRecords(BIG);
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  await new Promise((r) => setTimeout(r, 20)); // the monitor's first tick only starts its clock
  const elu0 = performance.eventLoopUtilization();
  const t0 = performance.now();
  const bigOut = await two.multiply(scalar, await two.hashToGroup(big, ekm));
  const elapsed = performance.now() - t0;
  const elu = performance.eventLoopUtilization(elu0).utilization; // share of the time the main thread was busy
  h.disable();
  const ms = (ns) => ns / 1e6;
  const loop = { records: BIG, seconds: elapsed / 1000, maxMs: ms(h.max), p99Ms: ms(h.percentile(99)), meanMs: ms(h.mean), mainThreadUtilization: elu };
  // For contrast: the inline executor on 1/16 of the batch holds the loop for the whole call.
  const SMALL = BIG / 16;
  const h2 = monitorEventLoopDelay({ resolution: 1 });
  h2.enable();
  await new Promise((r) => setTimeout(r, 20));
  await inline.multiply(scalar, await inline.hashToGroup(big.slice(0, SMALL), ekm));
  await new Promise((r) => setTimeout(r, 5)); // let the monitor take a sample after the blocking call
  h2.disable();
  loop.inlineContrast = { records: SMALL, maxMs: ms(h2.max) };
  console.log(`\n4. event loop during ${BIG} records (hashToGroup + multiply) on 2 workers: ${fmt(loop.seconds)} s, ` + `max delay ${fmt(loop.maxMs)} ms, p99 ${fmt(loop.p99Ms)} ms, mean ${fmt(loop.meanMs)} ms, main thread busy ${fmt(100 * elu)} % ` + `(inline on ${SMALL} records: max delay ${fmt(loop.inlineContrast.maxMs)} ms)`);
  results.eventLoop = loop;
  if (bigOut.length !== BIG * 32) throw new Error('unexpected output length');
}

// ---- 5. HE encryption -------------------------------------------------------------------------
if (sections.includes('5')) {
  const params = await chooseHeParameters({ slots: 4096, maxAbsValue: 2n ** 20n, maxAddends: 100 });
  const he = await createHeContext(params);
  const keys = he.generateKeys();
  const pk = he.exportPublicKey(keys.publicKey);
  const V = quick ? 8 : 16;
  const vectors = Array.from({ length: V }, (_, j) => BigInt64Array.from({ length: 4096 }, (_, i) => BigInt((i * 7919 + j) % 1000000)));
  const inlinePool = await createWorkerPool({ workers: 0 });
  const heCases = await compare(
    [
      { name: 'inline', items: V, run: () => inlinePool.encryptBatches(pk, vectors) },
      { name: '1 worker', items: V, run: () => one.encryptBatches(pk, vectors) },
      { name: '2 workers', items: V, run: () => two.encryptBatches(pk, vectors) },
    ],
    { rounds: quick ? 2 : 3, ms: opts.ms },
  );
  console.log(`\n5. BFV encryption of ${V} vectors × 4096 slots (n = ${params.polyModulusDegree})`);
  printTable(
    Object.entries(heCases).map(([name, r]) => ({ case: name, 'ms/vector': fmt(r.usPerItem / 1000), min: fmt(r.min / 1000), max: fmt(r.max / 1000) })),
    ['case', 'ms/vector', 'min', 'max'],
  );
  const heSpeedup = heCases['1 worker'].usPerItem / heCases['2 workers'].usPerItem;
  console.log(`  speed-up 2 workers vs 1: ${fmt(heSpeedup)}×`);
  results.he = { vectors: V, slots: 4096, polyModulusDegree: params.polyModulusDegree, cases: heCases, twoVsOne: heSpeedup };
  keys.publicKey.dispose();
  keys.secretKey.dispose();
  he.dispose();
}

await Promise.all([one.close(), oneTiny.close(), two.close()]);
console.log('\nwrote', writeResult(sections === '12345' ? 'workers' : `workers-sections-${sections}`, results));
