// psi-sum figures (docs/psi-sum.md): wall and CPU time of psi-sum (count + two value columns)
// against plain ECDH-PSI at the same size, each with the inline executor (--workers 0) and with a
// worker pool (--workers W), all interleaved in the same run so that machine load affects them
// alike; plus wire bytes per value per column.
// Both parties run in this process over the in-memory transport, without the session layer on
// either side, so the protocols are compared like for like; with workers, both parties share one
// fresh pool per run (created before the clock starts; its workers build their SEAL context on
// their first psi-sum HE task, inside the timed run, as in a CLI run). Cases:
//   psi/w0, psi/wW            plain PSI (intersection to both)
//   sum/w0, sum/wW            psi-sum, HE placement 'auto' (inline below 128 ciphertext blocks)
//   sum/wW-he                 psi-sum with heOffload 'always': the HE steps on the workers too
// CPU time is process-wide (all threads).
//
// Usage: npx tsup && node bench/psi-sum.mjs [log2 n = 16] [rounds = 1] [workers = 2]
//        (DATAPORT_DIST=/path/to/dist/index.js to use another build)
import os from 'node:os';
import { machine, psiSumWorkload, writeResult } from './lib.mjs';

const dist = process.env.DATAPORT_DIST ?? '../dist/index.js';
const {
  createMemoryTransportPair,
  createInlineExecutor,
  createWorkerPool,
  runPsiProtocol,
  runPsiSumIdHolder,
  runPsiSumValueHolder,
} = await import(dist);

const logN = Number(process.argv[2] ?? 16);
const rounds = Number(process.argv[3] ?? 1);
const workers = Number(process.argv[4] ?? 2);
const n = 1 << logN;
const { X, Y, cost, flag, columns } = psiSumWorkload(n);
const inline = await createInlineExecutor();
const ekm = new Uint8Array(32).fill(1);

/** Wraps a transport and tallies sent bytes by message type (first byte). */
function tally(t, byType) {
  return {
    stats: t.stats,
    receive: (s) => t.receive(s),
    close: (r) => t.close(r),
    async send(frame, s) {
      byType.set(frame[0], (byType.get(frame[0]) ?? 0) + frame.length);
      return t.send(frame, s);
    },
  };
}

/** CPU time (user + system) of this process, ms: far less disturbed by other load than wall time. */
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

async function plainPsi(executor, options = { output: 'both' }) {
  const [a, b] = createMemoryTransportPair({ maxFrameBytes: 1 << 26, maxSessionBytes: 2 ** 40 });
  const c0 = cpuMs();
  const t0 = performance.now();
  const [r, s] = await Promise.all([
    runPsiProtocol({ role: 'requester', records: X, transport: a, ekm, executor, options }),
    runPsiProtocol({ role: 'responder', records: Y, transport: b, ekm, executor, options }),
  ]);
  return { ms: performance.now() - t0, cpu: cpuMs() - c0, size: r.intersectionSize, bytes: r.bytesSent + s.bytesSent };
}

async function psiSum(executor, heOffload = 'auto') {
  const [a, b] = createMemoryTransportPair({ maxFrameBytes: 1 << 26, maxSessionBytes: 2 ** 40 });
  const byType = new Map();
  const options = { minCohort: 0, revealToIdHolder: true, revealToValueHolder: true };
  const c0 = cpuMs();
  const t0 = performance.now();
  const [i, v] = await Promise.all([
    runPsiSumIdHolder({ transport: tally(a, byType), ekm, executor, options, peerSetSize: n, keys: X, heOffload }),
    runPsiSumValueHolder({ transport: tally(b, byType), ekm, executor, options, peerSetSize: n, input: { keys: Y, columns, totals: [cost, flag] }, heOffload }),
  ]);
  const ms = performance.now() - t0;
  const cpu = cpuMs() - c0;
  let expected = [0n, 0n];
  for (let k = 0; k < n / 2; k++) expected = [expected[0] + cost[k], expected[1] + flag[k]];
  if (i.sums[0] !== expected[0] || i.sums[1] !== expected[1] || v.sums[0] !== expected[0]) throw new Error('psi-sum result differs from the plain sum');
  return { ms, cpu, size: Number(i.count), byType, plainBits: i.plainBits };
}

/** Runs `fn(executor)` with a fresh pool of `workers` workers (0: the inline executor). */
async function withExecutor(w, fn) {
  if (w === 0) return fn(inline);
  const t0 = performance.now();
  const pool = await createWorkerPool({ workers: w });
  const startMs = performance.now() - t0;
  try {
    return { ...(await fn(pool)), poolStartMs: startMs };
  } finally {
    await pool.close();
  }
}

const cases = [
  { name: 'psi/w0', run: () => withExecutor(0, (ex) => plainPsi(ex)) },
  { name: `psi/w${workers}`, run: () => withExecutor(workers, (ex) => plainPsi(ex)) },
  { name: 'sum/w0', run: () => withExecutor(0, (ex) => psiSum(ex)) },
  { name: `sum/w${workers}`, run: () => withExecutor(workers, (ex) => psiSum(ex)) },
  { name: `sum/w${workers}-he`, run: () => withExecutor(workers, (ex) => psiSum(ex, 'always')) },
];

console.log(`node ${process.version}, ${os.cpus()[0]?.model} x${os.cpus().length}, loadavg ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}, ${new Date().toISOString()}`);
console.log(`n = 2^${logN} keys per side, 50 % overlap, 2 value columns, both parties in one process; cases ${cases.map((c) => c.name).join(', ')}`);
// Warm-up (not timed): WebAssembly compilation of SEAL on this thread (~2 s once per process, paid
// by every CLI run; reported separately) and of the hash-to-curve module.
{
  const t0 = performance.now();
  const [a, b] = createMemoryTransportPair();
  const options = { minCohort: 0, revealToIdHolder: true, revealToValueHolder: true };
  await Promise.all([
    runPsiSumIdHolder({ transport: a, ekm, executor: inline, options, peerSetSize: 2, keys: X.slice(0, 2) }),
    runPsiSumValueHolder({ transport: b, ekm, executor: inline, options, peerSetSize: 2, input: { keys: Y.slice(0, 2), columns, totals: [cost.slice(0, 2), flag.slice(0, 2)] } }),
  ]);
  console.log(`warm-up (SEAL load + a 2-key run): ${((performance.now() - t0) / 1000).toFixed(2)} s, not included below`);
}
const wall = Object.fromEntries(cases.map((c) => [c.name, []]));
const cpu = Object.fromEntries(cases.map((c) => [c.name, []]));
const poolStart = [];
let lastSum;
let lastPsi;
for (let r = 0; r < rounds; r++) {
  // Rotated order each round, so drifts in machine load do not favour one case.
  const order = cases.map((_, i) => cases[(i + r) % cases.length]);
  const line = [];
  for (const c of order) {
    const out = await c.run();
    wall[c.name].push(out.ms);
    cpu[c.name].push(out.cpu);
    if (out.poolStartMs !== undefined) poolStart.push(out.poolStartMs);
    if (c.name === 'sum/w0') lastSum = out;
    if (c.name === 'psi/w0') lastPsi = out;
    line.push(`${c.name} ${(out.ms / 1000).toFixed(2)} s (CPU ${(out.cpu / 1000).toFixed(2)} s)`);
  }
  console.log(`round ${r + 1}: ${line.join(', ')}`);
}
const med = (a) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const W = `w${workers}`;
const ratio = (table, a, b) => Math.round((med(table[a]) / med(table[b])) * 100) / 100;
const ratios = {
  [`sum/${W} vs psi/${W}`]: { wall: ratio(wall, `sum/${W}`, `psi/${W}`), cpu: ratio(cpu, `sum/${W}`, `psi/${W}`) },
  'sum/w0 vs psi/w0': { wall: ratio(wall, 'sum/w0', 'psi/w0'), cpu: ratio(cpu, 'sum/w0', 'psi/w0') },
  [`sum/${W} vs sum/w0`]: { wall: ratio(wall, `sum/${W}`, 'sum/w0'), cpu: ratio(cpu, `sum/${W}`, 'sum/w0') },
  [`sum/${W}-he vs sum/${W}`]: { wall: ratio(wall, `sum/${W}-he`, `sum/${W}`), cpu: ratio(cpu, `sum/${W}-he`, `sum/${W}`) },
  [`sum/${W}-he vs psi/${W}`]: { wall: ratio(wall, `sum/${W}-he`, `psi/${W}`), cpu: ratio(cpu, `sum/${W}-he`, `psi/${W}`) },
  [`psi/${W} vs psi/w0`]: { wall: ratio(wall, `psi/${W}`, 'psi/w0'), cpu: ratio(cpu, `psi/${W}`, 'psi/w0') },
};
console.log(`median wall (s): ${cases.map((c) => `${c.name} ${(med(wall[c.name]) / 1000).toFixed(2)}`).join(', ')}`);
console.log(`median CPU (s):  ${cases.map((c) => `${c.name} ${(med(cpu[c.name]) / 1000).toFixed(2)}`).join(', ')}`);
for (const [k, v] of Object.entries(ratios)) console.log(`ratio ${k}: wall ${v.wall}, CPU ${v.cpu}${k.startsWith('sum/') && k.includes('vs psi') ? ' (target <= 1.3)' : ''}`);

const bt = lastSum.byType;
const he = [...bt.entries()].filter(([k]) => k !== 0x52).reduce((s, [, b]) => s + b, 0); // everything but the POINTS rounds
const points = bt.get(0x52) ?? 0;
const values = n * columns.length;
console.log(
  `wire (psi-sum, t = ${lastSum.plainBits} bits): points ${(points / 2 ** 20).toFixed(1)} MiB, ` +
    `setup+selection (public key) ${(((bt.get(0x51) ?? 0) + (bt.get(0x56) ?? 0)) / 1024).toFixed(0)} KiB, selection ciphertexts ${((bt.get(0x53) ?? 0) / 2 ** 20).toFixed(2)} MiB, ` +
    `results ${(((bt.get(0x54) ?? 0) + (bt.get(0x55) ?? 0)) / 1024).toFixed(0)} KiB`,
);
console.log(
  `HE bytes per value per column: ${(he / values).toFixed(2)} B (all HE traffic / (${n} keys × ${columns.length} columns); target ≤ 32); ` +
    `whole psi-sum run ${((he + points) / n).toFixed(1)} B per value-holder key vs plain PSI ${(lastPsi.bytes / n).toFixed(1)} B per key`,
);
const file = writeResult(`psi-sum-2e${logN}-workers`, {
  machine: machine(),
  command: `node bench/psi-sum.mjs ${logN} ${rounds} ${workers}`,
  n,
  columns: columns.length,
  workers,
  plainModulusBits: lastSum.plainBits,
  wallMs: Object.fromEntries(Object.entries(wall).map(([k, v]) => [k, v.map(Math.round)])),
  cpuMs: Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, v.map(Math.round)])),
  poolStartMs: poolStart.map(Math.round),
  ratiosOfMedians: ratios,
  bytes: Object.fromEntries([...bt.entries()].map(([k, v]) => [`0x${k.toString(16)}`, v])),
  heBytesPerValuePerColumn: Math.round((he / values) * 100) / 100,
  plainPsiBytes: lastPsi.bytes,
});
console.log(`wrote ${file}`);
await inline.close();
