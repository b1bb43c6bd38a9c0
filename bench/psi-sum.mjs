// psi-sum figures (docs/psi-sum.md): wall time of psi-sum (count + two value columns) against
// plain ECDH-PSI at the same size in the same run, and wire bytes per value per column.
// Both parties run in this process (one thread, inline executor) over the in-memory transport,
// without the session layer on either side, so the two protocols are compared like for like.
//
// Usage: npx tsup && node bench/psi-sum.mjs [log2 n = 16] [rounds = 1]
//        (DATAPORT_DIST=/path/to/dist/index.js to use another build)
import os from 'node:os';
import { machine, writeResult } from './lib.mjs';

const dist = process.env.DATAPORT_DIST ?? '../dist/index.js';
const {
  createMemoryTransportPair,
  createInlineExecutor,
  runPsiProtocol,
  runPsiSumIdHolder,
  runPsiSumValueHolder,
} = await import(dist);

const logN = Number(process.argv[2] ?? 16);
const rounds = Number(process.argv[3] ?? 1);
const n = 1 << logN;
const enc = new TextEncoder();
const rows = (count, prefix) => Array.from({ length: count }, (_, i) => enc.encode(`${prefix}${String(i).padStart(18, '0')}`));
const X = rows(n, 'id');
const Y = [...rows(n / 2, 'id'), ...rows(n / 2, 'other')];
// Two value columns: cost in cents up to 10^6 yuan, and a 0/1 flag. Per-key totals, signed.
const cost = Array.from({ length: n }, (_, i) => BigInt(((i * 7919) % 100_000_000) - 1_000_000));
const flag = Array.from({ length: n }, (_, i) => BigInt(i % 17 === 0 ? 1 : 0));
const columns = [
  { name: 'cost_yuan', decimals: 2, bound: 100_000_000n },
  { name: 'adverse_event', decimals: 0, bound: 1n },
];
const executor = await createInlineExecutor();
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

async function plainPsi(options = { output: 'both' }) {
  const [a, b] = createMemoryTransportPair({ maxFrameBytes: 1 << 26, maxSessionBytes: 2 ** 40 });
  const c0 = cpuMs();
  const t0 = performance.now();
  const [r, s] = await Promise.all([
    runPsiProtocol({ role: 'requester', records: X, transport: a, ekm, executor, options }),
    runPsiProtocol({ role: 'responder', records: Y, transport: b, ekm, executor, options }),
  ]);
  return { ms: performance.now() - t0, cpu: cpuMs() - c0, size: r.intersectionSize, bytes: r.bytesSent + s.bytesSent };
}

async function psiSum() {
  const [a, b] = createMemoryTransportPair({ maxFrameBytes: 1 << 26, maxSessionBytes: 2 ** 40 });
  const byType = new Map();
  const options = { minCohort: 0, revealToIdHolder: true, revealToValueHolder: true };
  const c0 = cpuMs();
  const t0 = performance.now();
  const [i, v] = await Promise.all([
    runPsiSumIdHolder({ transport: tally(a, byType), ekm, executor, options, peerSetSize: n, keys: X }),
    runPsiSumValueHolder({ transport: tally(b, byType), ekm, executor, options, peerSetSize: n, input: { keys: Y, columns, totals: [cost, flag] } }),
  ]);
  const ms = performance.now() - t0;
  const cpu = cpuMs() - c0;
  let expected = [0n, 0n];
  for (let k = 0; k < n / 2; k++) expected = [expected[0] + cost[k], expected[1] + flag[k]];
  if (i.sums[0] !== expected[0] || i.sums[1] !== expected[1] || v.sums[0] !== expected[0]) throw new Error('psi-sum result differs from the plain sum');
  return { ms, cpu, size: Number(i.count), byType, plainBits: i.plainBits };
}

console.log(`node ${process.version}, ${os.cpus()[0]?.model} x${os.cpus().length}, loadavg ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}, ${new Date().toISOString()}`);
console.log(`n = 2^${logN} keys per side, 50 % overlap, 2 value columns, inline executor, both parties in one thread`);
// Warm-up (not timed): WebAssembly compilation of SEAL (~2 s once per process, paid by every CLI
// run; reported separately) and of the hash-to-curve module.
{
  const t0 = performance.now();
  const [a, b] = createMemoryTransportPair();
  const options = { minCohort: 0, revealToIdHolder: true, revealToValueHolder: true };
  await Promise.all([
    runPsiSumIdHolder({ transport: a, ekm, executor, options, peerSetSize: 2, keys: X.slice(0, 2) }),
    runPsiSumValueHolder({ transport: b, ekm, executor, options, peerSetSize: 2, input: { keys: Y.slice(0, 2), columns, totals: [cost.slice(0, 2), flag.slice(0, 2)] } }),
  ]);
  console.log(`warm-up (SEAL load + a 2-key run): ${((performance.now() - t0) / 1000).toFixed(2)} s, not included below`);
}
const psiTimes = [];
const countTimes = [];
const sumTimes = [];
const psiCpu = [];
const countCpu = [];
const sumCpu = [];
let last;
for (let r = 0; r < rounds; r++) {
  // Interleaved, so machine load drifts affect all alike. Baselines: plain PSI returning the
  // intersection to both, and count-only PSI (the cardinality psi-sum also computes).
  const p = await plainPsi();
  const c = await plainPsi({ output: 'both', cardinalityOnly: true });
  const s = await psiSum();
  psiTimes.push(p.ms);
  countTimes.push(c.ms);
  sumTimes.push(s.ms);
  psiCpu.push(p.cpu);
  countCpu.push(c.cpu);
  sumCpu.push(s.cpu);
  last = { p, s };
  console.log(
    `round ${r + 1}: plain PSI ${(p.ms / 1000).toFixed(2)} s (|X∩Y| = ${p.size}), count-only PSI ${(c.ms / 1000).toFixed(2)} s, ` +
      `psi-sum ${(s.ms / 1000).toFixed(2)} s (|X∩Y| = ${s.size}), wall ratio ${(s.ms / p.ms).toFixed(2)} / ${(s.ms / c.ms).toFixed(2)}; ` +
      `CPU ${(p.cpu / 1000).toFixed(2)} / ${(c.cpu / 1000).toFixed(2)} / ${(s.cpu / 1000).toFixed(2)} s, CPU ratio ${(s.cpu / p.cpu).toFixed(2)} / ${(s.cpu / c.cpu).toFixed(2)}`,
  );
}
const med = (a) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
console.log(
  `median: plain PSI ${(med(psiTimes) / 1000).toFixed(2)} s, count-only PSI ${(med(countTimes) / 1000).toFixed(2)} s, psi-sum ${(med(sumTimes) / 1000).toFixed(2)} s, ` +
    `ratio ${(med(sumTimes) / med(psiTimes)).toFixed(2)} vs plain, ${(med(sumTimes) / med(countTimes)).toFixed(2)} vs count-only (target ≤ 1.3)`,
);
console.log(
  `median CPU time: plain PSI ${(med(psiCpu) / 1000).toFixed(2)} s, count-only PSI ${(med(countCpu) / 1000).toFixed(2)} s, psi-sum ${(med(sumCpu) / 1000).toFixed(2)} s, ` +
    `ratio ${(med(sumCpu) / med(psiCpu)).toFixed(2)} vs plain, ${(med(sumCpu) / med(countCpu)).toFixed(2)} vs count-only (less sensitive to other load than wall time)`,
);

const bt = last.s.byType;
const he = (bt.get(0x51) ?? 0) + (bt.get(0x53) ?? 0) + (bt.get(0x54) ?? 0) + (bt.get(0x55) ?? 0);
const points = bt.get(0x52) ?? 0;
const values = n * columns.length;
console.log(
  `wire (psi-sum, t = ${last.s.plainBits} bits): points ${(points / 2 ** 20).toFixed(1)} MiB, ` +
    `setup+public key ${((bt.get(0x51) ?? 0) / 1024).toFixed(0)} KiB, value ciphertexts ${((bt.get(0x53) ?? 0) / 2 ** 20).toFixed(2)} MiB, ` +
    `results ${(((bt.get(0x54) ?? 0) + (bt.get(0x55) ?? 0)) / 1024).toFixed(0)} KiB`,
);
console.log(
  `HE bytes per value per column: ${(he / values).toFixed(2)} B (all HE traffic / (${n} keys × ${columns.length} columns); target ≤ 32); ` +
    `whole psi-sum run ${((he + points) / n).toFixed(1)} B per value-holder key vs plain PSI ${(last.p.bytes / n).toFixed(1)} B per key`,
);
const file = writeResult(`psi-sum-2e${logN}`, {
  machine: machine(),
  command: `node bench/psi-sum.mjs ${logN} ${rounds}`,
  n,
  columns: columns.length,
  plainModulusBits: last.s.plainBits,
  plainPsiMs: psiTimes.map(Math.round),
  countOnlyPsiMs: countTimes.map(Math.round),
  psiSumMs: sumTimes.map(Math.round),
  ratioMedian: Math.round((med(sumTimes) / med(psiTimes)) * 100) / 100,
  ratioMedianVsCountOnly: Math.round((med(sumTimes) / med(countTimes)) * 100) / 100,
  cpuMs: { plainPsi: psiCpu.map(Math.round), countOnlyPsi: countCpu.map(Math.round), psiSum: sumCpu.map(Math.round) },
  cpuRatioMedian: Math.round((med(sumCpu) / med(psiCpu)) * 100) / 100,
  cpuRatioMedianVsCountOnly: Math.round((med(sumCpu) / med(countCpu)) * 100) / 100,
  bytes: Object.fromEntries([...bt.entries()].map(([k, v]) => [`0x${k.toString(16)}`, v])),
  heBytesPerValuePerColumn: Math.round((he / values) * 100) / 100,
  plainPsiBytes: last.p.bytes,
});
console.log(`wrote ${file}`);
await executor.close();
