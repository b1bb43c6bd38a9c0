// HE figures (docs/aggregate.md): BFV encryption throughput per core (values per second with full
// batching), per-ciphertext costs of each operation, envelope sizes, and the end-to-end time of a
// multi-party aggregation round: 10 providers × 100,000 rows × 4 columns, all parties in this
// process over the in-memory transport, with the providers' encryption inline and through a worker
// pool (`pool.encryptBatches`, as `dataport aggregate provide --workers N` does), interleaved.
//
// Usage: npx tsup && node bench/he.mjs [providers = 10] [rows = 100000] [rounds = 3] [workers = 2]
//        (DATAPORT_DIST=/path/to/dist/index.js to use another build)
import fs from 'node:fs';
import path from 'node:path';
import { benchDir, machine } from './lib.mjs';

const dist = process.env.DATAPORT_DIST ?? '../dist/index.js';
const {
  chooseHeParameters,
  createHeContext,
  encryptBatch,
  createMemoryTransportPair,
  createWorkerPool,
  parseAggregateQuery,
  runAggregator,
  runAnalyst,
  runProvider,
} = await import(dist);

const providers = Number(process.argv[2] ?? 10);
const rowsPerProvider = Number(process.argv[3] ?? 100_000);
const rounds = Number(process.argv[4] ?? 3);
const workers = Number(process.argv[5] ?? 2);
const skipOps = process.env.BENCH_SKIP_OPS === '1';
const minMs = Number(process.env.BENCH_MS ?? 1500);
const results = { machine: machine(), ops: [], aggregate: null };

function time(fn) {
  fn();
  let calls = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < minMs) {
    fn();
    calls++;
    t = performance.now();
  }
  return (t - t0) / calls;
}

for (const n of skipOps ? [] : [4096, 8192, 16384]) {
  const params = await chooseHeParameters({ slots: n, maxAbsValue: 10n ** 9n, maxAddends: 16, polyModulusDegree: n });
  const he = await createHeContext(params);
  const { publicKey, secretKey } = he.generateKeys();
  const values = Array.from({ length: n }, (_, i) => BigInt((i * 7919) % 2_000_000_000) - 1_000_000_000n);
  const pkBytes = he.exportPublicKey(publicKey);
  const ct = he.encrypt(publicKey, values);
  const ct2 = he.encrypt(publicKey, values);
  const wire = he.exportCiphertext(ct);
  const encryptMs = time(() => he.encrypt(publicKey, values).dispose());
  const addMs = time(() => he.add(ct, ct2).dispose());
  const exportMs = time(() => he.exportCiphertext(ct));
  const importMs = time(() => he.importCiphertext(wire).dispose());
  const decryptMs = time(() => he.decrypt(secretKey, ct));
  const fin = he.add(ct, ct2);
  he.rerandomise(fin, publicKey);
  he.finalise(fin);
  const finalBytes = he.exportCiphertext(fin).length;
  const row = {
    n,
    plainModulusBits: params.plainModulus.toString(2).length,
    finalPrimes: `${params.finalPrimes}/${params.coeffModulus.length - 1}`,
    encryptMs: +encryptMs.toFixed(2),
    valuesPerSecondPerCore: Math.round((n / encryptMs) * 1000),
    addMs: +addMs.toFixed(3),
    exportMs: +exportMs.toFixed(2),
    importMs: +importMs.toFixed(2),
    decryptMs: +decryptMs.toFixed(2),
    publicKeyBytes: pkBytes.length,
    ciphertextBytes: wire.length,
    finalisedCiphertextBytes: finalBytes,
    bytesPerValue: +(wire.length / n).toFixed(2),
  };
  row.encryptBatchMs = +(await (async () => {
    await encryptBatch(pkBytes, values);
    const t0 = performance.now();
    let k = 0;
    while (performance.now() - t0 < minMs) {
      await encryptBatch(pkBytes, values);
      k++;
    }
    return (performance.now() - t0) / k;
  })()).toFixed(2);
  results.ops.push(row);
  console.log(JSON.stringify(row));
  for (const h of [ct, ct2, fin, publicKey, secretKey]) h.dispose();
  he.dispose();
}

// End to end: 10 providers × 100,000 rows × 4 numeric columns (count + 4 sums + 1 histogram, 3 groups).
const query = parseAggregateQuery({
  version: 1,
  id: 'bench',
  columns: [
    { name: 'cost', type: 'decimal', decimals: 2, min: '-10000.00', max: '1000000.00' },
    { name: 'days', type: 'integer', min: '0', max: '365' },
    { name: 'age', type: 'integer', min: '0', max: '120' },
    { name: 'events', type: 'integer', min: '0', max: '50' },
  ],
  groupBy: { column: 'ward', categories: ['cardiology', 'oncology', 'surgery'] },
  statistics: [
    { type: 'count' },
    { type: 'sum', column: 'cost' },
    { type: 'mean', column: 'days' },
    { type: 'sum', column: 'age' },
    { type: 'sum', column: 'events' },
    { type: 'histogram', column: 'age', bins: ['0', '18', '40', '65', '120'] },
  ],
  maxRowsPerProvider: rowsPerProvider,
  providers,
  minCohort: 10,
});
const wards = ['cardiology', 'oncology', 'surgery'];
const data = Array.from({ length: providers }, (_, p) =>
  Array.from({ length: rowsPerProvider }, (_, i) => ({
    ward: wards[(i + p) % 3],
    cost: `${(i * 7919 + p) % 1_000_000}.${String(i % 100).padStart(2, '0')}`,
    days: String(i % 366),
    age: String((i * 31) % 121),
    events: String(i % 51),
  })),
);
/**
 * One aggregation round; `encrypt` (optional) is the providers' encryption. Returns wall and
 * process CPU time (all threads) of the round, and its outcome.
 */
async function aggregateRound(encrypt) {
  const [analystEnd, aggAnalyst] = createMemoryTransportPair({ maxFrameBytes: 1 << 26 });
  const pairs = data.map(() => createMemoryTransportPair({ maxFrameBytes: 1 << 26 }));
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const [outcome, result] = await Promise.all([
    runAggregator({ analyst: aggAnalyst, providers: pairs.map((p) => p[1]) }),
    runAnalyst(analystEnd, { query }),
    ...data.map((rows, i) => runProvider(pairs[i][0], { rows: () => rows, ...(encrypt ? { encrypt } : {}) })),
  ]);
  const ms = performance.now() - t0;
  const c = process.cpuUsage(c0);
  const bytes = pairs.reduce((s, p) => s + p[0].stats.bytesSent + p[0].stats.bytesReceived, 0) + analystEnd.stats.bytesSent + analystEnd.stats.bytesReceived;
  return { ms, cpu: (c.user + c.system) / 1000, outcome, result, bytes };
}

/** A round with a fresh pool (created before the clock starts; its workers load SEAL inside the round). */
async function pooledRound() {
  const pool = await createWorkerPool({ workers });
  try {
    return await aggregateRound(async (publicKey, values) => (await pool.encryptBatches(publicKey, [values]))[0]);
  } finally {
    await pool.close();
  }
}

await aggregateRound(); // warm-up (SEAL contexts of this thread), not timed
const samples = { inline: [], pool: [] };
let last;
for (let r = 0; r < rounds; r++) {
  const order = r % 2 === 0 ? ['inline', 'pool'] : ['pool', 'inline'];
  const line = [];
  for (const k of order) {
    const out = k === 'inline' ? await aggregateRound() : await pooledRound();
    if (out.outcome.status !== 'completed' || out.result.contributors !== providers) throw new Error('aggregation round did not complete');
    samples[k].push(out);
    last = out;
    line.push(`${k} ${(out.ms / 1000).toFixed(2)} s (CPU ${(out.cpu / 1000).toFixed(2)} s)`);
  }
  console.log(`aggregation round ${r + 1}: ${line.join(', ')}`);
}
const med = (a) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const medInline = med(samples.inline.map((x) => x.ms));
const medPool = med(samples.pool.map((x) => x.ms));
results.aggregate = {
  providers,
  rowsPerProvider,
  columns: 4,
  slots: 3 * (1 + 4 + 4),
  status: last.outcome.status,
  contributors: last.result.contributors,
  workers,
  inlineMs: samples.inline.map((x) => Math.round(x.ms)),
  poolMs: samples.pool.map((x) => Math.round(x.ms)),
  inlineCpuMs: samples.inline.map((x) => Math.round(x.cpu)),
  poolCpuMs: samples.pool.map((x) => Math.round(x.cpu)),
  totalMs: Math.round(medInline),
  totalMsPool: Math.round(medPool),
  poolVsInlineWall: Math.round((medPool / medInline) * 100) / 100,
  poolVsInlineCpu: Math.round((med(samples.pool.map((x) => x.cpu)) / med(samples.inline.map((x) => x.cpu))) * 100) / 100,
  rowsPerSecond: Math.round((providers * rowsPerProvider) / (medInline / 1000)),
  bytesOnAllLinks: last.bytes,
  command: `node bench/he.mjs ${providers} ${rowsPerProvider} ${rounds} ${workers}`,
};
console.log(JSON.stringify(results.aggregate));
const dir = path.join(benchDir, 'results');
fs.mkdirSync(dir, { recursive: true });
const text = JSON.stringify(results, (_, v) => (typeof v === 'bigint' ? v.toString() : v), 2);
// With BENCH_SKIP_OPS=1 only the aggregation rounds ran: a result file of their own.
const name = skipOps ? 'he-aggregate-workers' : 'he';
fs.writeFileSync(path.join(dir, `${name}-${results.machine.date.slice(0, 10)}.json`), text);
fs.writeFileSync(path.join(dir, `${name}-latest.json`), text);
