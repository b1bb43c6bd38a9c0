// HE figures (docs/aggregate.md): BFV encryption throughput per core (values per second with full
// batching), per-ciphertext costs of each operation, envelope sizes, and the end-to-end time of a
// multi-party aggregation round: 10 providers × 100,000 rows × 4 columns, all parties in this
// process (one thread) over the in-memory transport.
//
// Usage: npx tsup && node bench/he.mjs [providers = 10] [rows = 100000]
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
  parseAggregateQuery,
  runAggregator,
  runAnalyst,
  runProvider,
} = await import(dist);

const providers = Number(process.argv[2] ?? 10);
const rowsPerProvider = Number(process.argv[3] ?? 100_000);
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

for (const n of [4096, 8192, 16384]) {
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
const [analystEnd, aggAnalyst] = createMemoryTransportPair({ maxFrameBytes: 1 << 26 });
const pairs = data.map(() => createMemoryTransportPair({ maxFrameBytes: 1 << 26 }));
const t0 = performance.now();
const [outcome, result] = await Promise.all([
  runAggregator({ analyst: aggAnalyst, providers: pairs.map((p) => p[1]) }),
  runAnalyst(analystEnd, { query }),
  ...data.map((rows, i) => runProvider(pairs[i][0], { rows: () => rows })),
]);
const totalMs = performance.now() - t0;
const bytes = pairs.reduce((s, p) => s + p[0].stats.bytesSent + p[0].stats.bytesReceived, 0) + analystEnd.stats.bytesSent + analystEnd.stats.bytesReceived;
results.aggregate = {
  providers,
  rowsPerProvider,
  columns: 4,
  slots: 3 * (1 + 4 + 4),
  status: outcome.status,
  contributors: result.contributors,
  totalMs: Math.round(totalMs),
  rowsPerSecond: Math.round((providers * rowsPerProvider) / (totalMs / 1000)),
  bytesOnAllLinks: bytes,
};
console.log(JSON.stringify(results.aggregate));
const dir = path.join(benchDir, 'results');
fs.mkdirSync(dir, { recursive: true });
const text = JSON.stringify(results, (_, v) => (typeof v === 'bigint' ? v.toString() : v), 2);
fs.writeFileSync(path.join(dir, `he-${results.machine.date.slice(0, 10)}.json`), text);
fs.writeFileSync(path.join(dir, 'he-latest.json'), text);
