// psi-sum version 2 (the ID holder holds the BFV key; issue 16, finding 1) against the version-1
// design (the value holder held the key) of another build, in the same run: bytes per value per
// column of the homomorphic traffic, CPU and wall time, for n × n keys with two value columns.
//
// Each measurement is one child process (`--child DIST`) that imports one build's library, runs
// both parties in that process over the in-memory transport with the inline executor (no session
// layer), checks the sums against the plain computation, and reports: wall and CPU time (process-
// wide, user + system) of the run, including the SEAL context of that run's plaintext size (every
// CLI run pays it; the WebAssembly compilation is warmed up first and excluded), and the bytes of
// each message type. Builds alternate (baseline first in even rounds), so machine load drifts
// affect both alike; the figures to compare are the medians' ratios.
//
// HE traffic = every frame except the POINTS rounds (which are the same ECDH-PSI in both): v1 the
// SETUP (carrying V's public key), V's value ciphertexts, I's RESULT and V's SUMS; v2 the SETUP,
// I's SELECTION (its public key), I's selection ciphertexts, V's RESULT and I's SUMS.
//
// Usage: npm run build && node bench/psi-sum-compare.mjs --baseline-cli /work/baseline/dist/cli/main.js [--log 16] [--rounds 2]
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { machine, psiSumWorkload, writeResult } from './lib.mjs';

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : def;
};

if (args[0] === '--child') {
  await child(args[1], Number(args[2]));
} else {
  await parent();
}

async function child(dist, logN) {
  const { createMemoryTransportPair, createInlineExecutor, runPsiSumIdHolder, runPsiSumValueHolder } = await import(pathToFileURL(dist).href);
  const n = 1 << logN;
  const { X, Y, cost, flag, columns } = psiSumWorkload(n);
  const inline = await createInlineExecutor();
  const ekm = new Uint8Array(32).fill(1);
  const options = { minCohort: 0, revealToIdHolder: true, revealToValueHolder: true };
  const tally = (t, byType) => ({
    stats: t.stats,
    receive: (s) => t.receive(s),
    close: (r) => t.close(r),
    send(frame, s) {
      byType.set(frame[0], (byType.get(frame[0]) ?? 0) + frame.length);
      return t.send(frame, s);
    },
  });
  const run = async (keysI, keysV, totals) => {
    const [a, b] = createMemoryTransportPair({ maxFrameBytes: 1 << 26, maxSessionBytes: 2 ** 40 });
    const byType = new Map();
    const [i, v] = await Promise.all([
      runPsiSumIdHolder({ transport: tally(a, byType), ekm, executor: inline, options, peerSetSize: keysV.length, keys: keysI, heOffload: 'never' }),
      runPsiSumValueHolder({ transport: tally(b, byType), ekm, executor: inline, options, peerSetSize: keysI.length, input: { keys: keysV, columns, totals }, heOffload: 'never' }),
    ]);
    return { i, v, byType };
  };
  // Warm-up: SEAL's WebAssembly compilation and the hash-to-curve module (a 2-key run).
  await run(X.slice(0, 2), Y.slice(0, 2), [cost.slice(0, 2), flag.slice(0, 2)]);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const { i, v, byType } = await run(X, Y, [cost, flag]);
  const wallMs = performance.now() - t0;
  const c = process.cpuUsage(cpu0);
  let expected = [0n, 0n];
  for (let k = 0; k < n / 2; k++) expected = [expected[0] + cost[k], expected[1] + flag[k]];
  for (const out of [i, v]) if (out.sums[0] !== expected[0] || out.sums[1] !== expected[1] || Number(out.count) !== n / 2) throw new Error('psi-sum result differs from the plain computation');
  const bytes = Object.fromEntries([...byType.entries()].map(([k, b]) => [`0x${k.toString(16)}`, b]));
  const he = [...byType.entries()].filter(([k]) => k !== 0x52).reduce((s, [, b]) => s + b, 0);
  process.stdout.write(
    JSON.stringify({ wallMs, cpuMs: (c.user + c.system) / 1000, bytes, heBytes: he, heBytesPerValuePerColumn: he / (n * columns.length), plainBits: i.plainBits, rssMiB: process.memoryUsage().rss / 2 ** 20 }) + '\n',
  );
  await inline.close();
}

async function parent() {
  const baselineCli = opt('--baseline-cli', undefined);
  if (!baselineCli) throw new Error('--baseline-cli PATH (the dist/cli/main.js of the version-1 build) is required');
  const logN = Number(opt('--log', 16));
  const rounds = Number(opt('--rounds', 2));
  const here = path.dirname(fileURLToPath(import.meta.url));
  const builds = {
    baseline: path.resolve(path.dirname(path.dirname(path.resolve(baselineCli))), 'index.js'),
    current: path.resolve(here, '..', 'dist', 'index.js'),
  };
  console.log(`node ${process.version}, ${os.cpus()[0]?.model} x${os.cpus().length}, loadavg ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}, ${new Date().toISOString()}`);
  console.log(`psi-sum 2^${logN} x 2^${logN}, 2 columns, inline, ${rounds} round(s) per build, alternating; baseline ${builds.baseline}`);
  const runs = { baseline: [], current: [] };
  for (let r = 0; r < rounds; r++) {
    for (const which of r % 2 === 0 ? ['baseline', 'current'] : ['current', 'baseline']) {
      const load = os.loadavg()[0];
      const out = JSON.parse(execFileSync(process.execPath, [fileURLToPath(import.meta.url), '--child', builds[which], String(logN)], { encoding: 'utf8', maxBuffer: 1 << 24 }));
      out.loadavg1 = Math.round(load * 100) / 100;
      runs[which].push(out);
      console.log(`round ${r + 1} ${which}: wall ${(out.wallMs / 1000).toFixed(2)} s, CPU ${(out.cpuMs / 1000).toFixed(2)} s, HE ${out.heBytesPerValuePerColumn.toFixed(2)} B/value/column, t ${out.plainBits} bits, load ${out.loadavg1}`);
    }
  }
  const med = (a) => {
    const s = [...a].sort((x, y) => x - y);
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  };
  const summary = {};
  for (const which of ['baseline', 'current']) {
    summary[which] = {
      wallMsMedian: Math.round(med(runs[which].map((x) => x.wallMs))),
      cpuMsMedian: Math.round(med(runs[which].map((x) => x.cpuMs))),
      heBytesPerValuePerColumn: Math.round(runs[which][0].heBytesPerValuePerColumn * 100) / 100,
      bytes: runs[which][0].bytes,
    };
  }
  const ratio = (k) => Math.round((summary.current[k] / summary.baseline[k]) * 1000) / 1000;
  const ratios = { wall: ratio('wallMsMedian'), cpu: ratio('cpuMsMedian'), heBytesPerValuePerColumn: ratio('heBytesPerValuePerColumn') };
  console.log(`medians: baseline wall ${(summary.baseline.wallMsMedian / 1000).toFixed(2)} s CPU ${(summary.baseline.cpuMsMedian / 1000).toFixed(2)} s; current wall ${(summary.current.wallMsMedian / 1000).toFixed(2)} s CPU ${(summary.current.cpuMsMedian / 1000).toFixed(2)} s`);
  console.log(`current / baseline: wall ${ratios.wall}, CPU ${ratios.cpu}, HE bytes per value per column ${ratios.heBytesPerValuePerColumn} (${summary.current.heBytesPerValuePerColumn} vs ${summary.baseline.heBytesPerValuePerColumn})`);
  const file = writeResult(`psi-sum-compare-2e${logN}`, {
    machine: machine(),
    command: `node bench/psi-sum-compare.mjs --baseline-cli ${baselineCli} --log ${logN} --rounds ${rounds}`,
    n: 1 << logN,
    columns: 2,
    builds,
    runs,
    summary,
    ratiosCurrentOverBaseline: ratios,
  });
  console.log(`wrote ${file}`);
}
