// Event-loop responsiveness during a PSI run (issue: worker offloading). Both parties of a
// 2^k x 2^k runPsi (default k = 18) run in this process over the in-memory transport, each with a
// worker pool of 2 (or --workers N) as its CryptoExecutor; perf_hooks.monitorEventLoopDelay records
// how long this process's event loop was blocked (both parties' main-thread work counts: parsing
// nothing here, but normalisation, HKDF truncation, matching, framing and the session MACs).
// Run: npm run build && node bench/event-loop-psi.mjs [--log 18] [--workers 2] [--baseline DIST] [--rounds R]
// --baseline DIST also measures another build (e.g. of an earlier commit: `git archive <rev> | tar -x
// -C /tmp/old && (cd /tmp/old && ln -s $PWD/node_modules && npx tsup)`, then --baseline /tmp/old/dist)
// in the same run, alternating with this one for R rounds (default 1), so both see the same load.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import path from 'node:path';
import { fmt, machine, printTable, writeResult } from './lib.mjs';
import { pathToFileURL } from 'node:url';

const argv = process.argv.slice(2);
const opt = (name, dflt) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : dflt);
const log = Number(opt('--log', 18));
const workers = Number(opt('--workers', 2));
const baselineDist = opt('--baseline', undefined);
const rounds = Number(opt('--rounds', 1));
const current = await import('../dist/index.js');
const baseline = baselineDist ? await import(pathToFileURL(path.resolve(baselineDist, 'index.js')).href) : undefined;

async function measure(lib, k, makeExecutor) {
  const { createMemoryTransportPair, generateIdentity, runPsi } = lib;
  const n = 2 ** k;
  const A = Array.from({ length: n }, (_, i) => `ID${String(i).padStart(12, '0')}X`);
  const B = Array.from({ length: n }, (_, i) => `ID${String(i + n / 2).padStart(12, '0')}X`);
  const pharma = generateIdentity();
  const hospital = generateIdentity();
  const [ea, eb] = [await makeExecutor(), await makeExecutor()];
  const [ta, tb] = createMemoryTransportPair();
  const h = monitorEventLoopDelay({ resolution: 10 });
  h.enable();
  const t0 = performance.now();
  const [r] = await Promise.all([
    runPsi({ role: 'requester', records: A, transport: ta, identity: pharma, peerPublicKey: hospital.publicKey, executor: ea, terms: { reveal: 'both' } }),
    runPsi({ role: 'responder', records: B, transport: tb, identity: hospital, peerPublicKey: pharma.publicKey, executor: eb }),
  ]);
  const ms = performance.now() - t0;
  // Let the monitor's timer fire once more, so a run that never yielded is still recorded.
  await new Promise((resolve) => setTimeout(resolve, 20));
  h.disable();
  await ea.close();
  await eb.close();
  if (r.intersectionSize !== n / 2) throw new Error(`wrong intersection ${r.intersectionSize}`);
  return { k, n, ms, maxDelayMs: h.max / 1e6, p99DelayMs: h.percentile(99) / 1e6, meanDelayMs: h.mean / 1e6 };
}

console.log('machine:', JSON.stringify(machine()));
const runs = { current: [], baseline: [] };
for (let r = 0; r < rounds; r++) {
  const order = baseline ? (r % 2 === 0 ? ['baseline', 'current'] : ['current', 'baseline']) : ['current'];
  for (const which of order) {
    const lib = which === 'current' ? current : baseline;
    runs[which].push(await measure(lib, log, () => lib.createWorkerPool({ workers })));
  }
}
const rows = [];
for (const which of ['baseline', 'current']) {
  for (const m of runs[which]) {
    rows.push({ build: which === 'current' ? 'this build' : `baseline (${baselineDist})`, case: `2^${log} x 2^${log}, worker pools of ${workers}`, 'wall s': fmt(m.ms / 1000), 'max delay ms': fmt(m.maxDelayMs), 'p99 delay ms': fmt(m.p99DelayMs), 'mean delay ms': fmt(m.meanDelayMs) });
  }
}
printTable(rows, ['build', 'case', 'wall s', 'max delay ms', 'p99 delay ms', 'mean delay ms']);
const pooled = runs.current.at(-1);
const result = { machine: machine(), workers, rounds, pooled, runs: runs.current };
if (baseline) {
  const worst = (xs, f) => Math.max(...xs.map(f));
  result.baseline = { dist: baselineDist, runs: runs.baseline };
  result.ratios = {
    maxDelayBaselineOverCurrent: worst(runs.baseline, (m) => m.maxDelayMs) / worst(runs.current, (m) => m.maxDelayMs),
    wallBaselineOverCurrent: runs.baseline.reduce((a, m) => a + m.ms, 0) / runs.current.reduce((a, m) => a + m.ms, 0),
  };
  console.log(`baseline / this build: worst max delay ${fmt(result.ratios.maxDelayBaselineOverCurrent)} x, wall ${fmt(result.ratios.wallBaselineOverCurrent)} x`);
}
const file = writeResult(`event-loop-psi-2e${log}`, result);
console.log(`written ${path.relative(process.cwd(), file)}`);
