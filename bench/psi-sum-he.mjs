// psi-sum's HE steps on the worker pool (docs/psi-sum.md, "Workers"): a job where the HE work is
// a large share — V holds 2^16 keys with 16 value columns (128 ciphertext blocks), I holds 2^10
// keys — run with the curve work on a pool of W workers in every case and the HE steps
//   he-inline  on the calling thread (heOffload 'never'),
//   he-cold    on a fresh pool (heOffload 'always'; each worker builds its SEAL context in the run,
//              as in a CLI run),
//   he-warm    on a pool that already ran a psi-sum task at this plaintext size (an SDK service
//              keeping its pool).
// Interleaved rounds, rotated order; wall and process CPU (all threads). Both parties in this
// process over the in-memory transport, no session layer.
//
// Usage: npx tsup && node bench/psi-sum-he.mjs [rounds = 3] [workers = 2] [log2 nV = 16] [columns = 16]
//        (DATAPORT_DIST=/path/to/dist/index.js to use another build)
import os from 'node:os';
import { machine, writeResult } from './lib.mjs';

const dist = process.env.DATAPORT_DIST ?? '../dist/index.js';
const { createMemoryTransportPair, createWorkerPool, runPsiSumIdHolder, runPsiSumValueHolder } = await import(dist);

const rounds = Number(process.argv[2] ?? 3);
const workers = Number(process.argv[3] ?? 2);
const logV = Number(process.argv[4] ?? 16);
const nColumns = Number(process.argv[5] ?? 16);
const nV = 1 << logV;
const nI = 1 << 10;
const enc = new TextEncoder();
const Y = Array.from({ length: nV }, (_, i) => enc.encode(`id${i}`));
const X = Array.from({ length: nI }, (_, i) => enc.encode(`id${i * 3}`)); // all in Y
const columns = Array.from({ length: nColumns }, (_, c) => ({ name: `c${c}`, decimals: 0, bound: 1_000_000n }));
const totals = columns.map((_, c) => Array.from({ length: nV }, (_, i) => BigInt(((i * 7919 + c * 104729) % 2_000_001) - 1_000_000)));
const expected = totals.map((col) => X.reduce((s, _, j) => s + col[j * 3], 0n));
const ekm = new Uint8Array(32).fill(5);
const options = { minCohort: 0, revealToIdHolder: true, revealToValueHolder: true };
const blocks = nColumns * Math.ceil(nV / 8192);

async function run(pool, heOffload) {
  const [a, b] = createMemoryTransportPair({ maxFrameBytes: 1 << 26, maxSessionBytes: 2 ** 40 });
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const [i, v] = await Promise.all([
    runPsiSumIdHolder({ transport: a, ekm, executor: pool, options, peerSetSize: nV, keys: X, heOffload }),
    runPsiSumValueHolder({ transport: b, ekm, executor: pool, options, peerSetSize: nI, input: { keys: Y, columns, totals }, heOffload }),
  ]);
  const ms = performance.now() - t0;
  const c = process.cpuUsage(c0);
  if (i.sums.some((s, k) => s !== expected[k]) || v.sums.some((s, k) => s !== expected[k])) throw new Error('psi-sum result differs from the plain sums');
  return { ms, cpu: (c.user + c.system) / 1000 };
}

async function withFreshPool(fn) {
  const pool = await createWorkerPool({ workers });
  try {
    return await fn(pool);
  } finally {
    await pool.close();
  }
}

console.log(`node ${process.version}, ${os.cpus()[0]?.model} x${os.cpus().length}, loadavg ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}, ${new Date().toISOString()}`);
console.log(`V: 2^${logV} keys × ${nColumns} columns (${blocks} ciphertext blocks), I: ${nI} keys; curve work on ${workers} workers in every case`);
const warm = await createWorkerPool({ workers });
{
  // Warm-up, not timed: this thread's SEAL context, and the warm pool's (every worker runs tasks).
  const t0 = performance.now();
  await run(warm, 'always');
  console.log(`warm-up: ${((performance.now() - t0) / 1000).toFixed(2)} s`);
}
const cases = [
  { name: 'he-inline', run: () => withFreshPool((p) => run(p, 'never')) },
  { name: 'he-cold', run: () => withFreshPool((p) => run(p, 'always')) },
  { name: 'he-warm', run: () => run(warm, 'always') },
];
const wall = Object.fromEntries(cases.map((c) => [c.name, []]));
const cpu = Object.fromEntries(cases.map((c) => [c.name, []]));
for (let r = 0; r < rounds; r++) {
  const line = [];
  for (const c of cases.map((_, i) => cases[(i + r) % cases.length])) {
    const out = await c.run();
    wall[c.name].push(out.ms);
    cpu[c.name].push(out.cpu);
    line.push(`${c.name} ${(out.ms / 1000).toFixed(2)} s (CPU ${(out.cpu / 1000).toFixed(2)} s)`);
  }
  console.log(`round ${r + 1}: ${line.join(', ')}`);
}
await warm.close();
const med = (a) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const ratio = (t, a, b) => Math.round((med(t[a]) / med(t[b])) * 100) / 100;
const ratios = {
  'he-cold vs he-inline': { wall: ratio(wall, 'he-cold', 'he-inline'), cpu: ratio(cpu, 'he-cold', 'he-inline') },
  'he-warm vs he-inline': { wall: ratio(wall, 'he-warm', 'he-inline'), cpu: ratio(cpu, 'he-warm', 'he-inline') },
};
console.log(`median wall (s): ${cases.map((c) => `${c.name} ${(med(wall[c.name]) / 1000).toFixed(2)}`).join(', ')}`);
console.log(`median CPU (s):  ${cases.map((c) => `${c.name} ${(med(cpu[c.name]) / 1000).toFixed(2)}`).join(', ')}`);
for (const [k, v] of Object.entries(ratios)) console.log(`ratio ${k}: wall ${v.wall}, CPU ${v.cpu}`);
const file = writeResult(`psi-sum-he-2e${logV}x${nColumns}-workers`, {
  machine: machine(),
  command: `node bench/psi-sum-he.mjs ${rounds} ${workers} ${logV} ${nColumns}`,
  valueKeys: nV,
  idKeys: nI,
  columns: nColumns,
  blocks,
  workers,
  wallMs: Object.fromEntries(Object.entries(wall).map(([k, v]) => [k, v.map(Math.round)])),
  cpuMs: Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, v.map(Math.round)])),
  ratiosOfMedians: ratios,
});
console.log(`wrote ${file}`);
