// Event-loop responsiveness during a PSI run (issue: worker offloading). Both parties of a
// 2^k x 2^k runPsi (default k = 18) run in this process over the in-memory transport, each with a
// worker pool of 2 (or --workers N) as its CryptoExecutor; perf_hooks.monitorEventLoopDelay records
// how long this process's event loop was blocked (both parties' main-thread work counts: parsing
// nothing here, but normalisation, HKDF truncation, matching, framing and the session MACs).
// Run: npm run build && node bench/event-loop-psi.mjs [--log 18] [--workers 2] [--baseline DIST] [--rounds R] [--peer-process]
// --baseline DIST also measures another build (e.g. of an earlier commit: `git archive <rev> | tar -x
// -C /tmp/old && (cd /tmp/old && ln -s $PWD/node_modules && npx tsup)`, then --baseline /tmp/old/dist)
// in the same run, alternating with this one for R rounds (default 1), so both see the same load.
import { spawn } from 'node:child_process';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import path from 'node:path';
import { benchDir, fmt, machine, printTable, writeResult } from './lib.mjs';
import { pathToFileURL } from 'node:url';

const argv = process.argv.slice(2);
const opt = (name, dflt) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : dflt);
const log = Number(opt('--log', 18));
const workers = Number(opt('--workers', 2));
const baselineDist = opt('--baseline', undefined);
const rounds = Number(opt('--rounds', 1));
const current = await import('../dist/index.js');
const baseline = baselineDist ? await import(pathToFileURL(path.resolve(baselineDist, 'index.js')).href) : undefined;

// --peer-process: the responder runs in a child process (as in a deployment, one party per process)
// and this process is only the requester, over WebSocket on 127.0.0.1; the monitor then sees one
// party's event loop instead of both parties sharing one.
const peerProcess = argv.includes('--peer-process');
const PEER_SCRIPT = `
const dp = await import(process.env.DP_INDEX);
const dn = await import(process.env.DP_NODE);
const n = Number(process.env.DP_N);
const B = Array.from({ length: n }, (_, i) => 'ID' + String(i + n / 2).padStart(12, '0') + 'X');
const hospital = dp.identityFromSecretKey(Uint8Array.from(Buffer.from(process.env.DP_SK, 'hex')));
const pool = await dp.createWorkerPool({ workers: Number(process.env.DP_WORKERS) });
const server = await dn.listenWebSocket({ port: 0 }, async (t) => {
  try {
    await dp.runPsi({ role: 'responder', records: B, transport: t, identity: hospital, allowAnyPeer: true, executor: pool });
  } finally {
    await pool.close();
    void server.close();
  }
});
console.log(server.address().url);
`;

async function peerInChild(lib, distDir, n, hospital) {
  const child = spawn(process.execPath, ['--input-type=module', '-e', PEER_SCRIPT], {
    env: {
      ...process.env,
      DP_INDEX: pathToFileURL(path.join(distDir, 'index.js')).href,
      DP_NODE: pathToFileURL(path.join(distDir, 'node.js')).href,
      DP_N: String(n),
      DP_SK: Buffer.from(hospital.secretKey).toString('hex'),
      DP_WORKERS: String(workers),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const url = await new Promise((resolve, reject) => {
    let buf = '';
    child.stdout.on('data', (d) => {
      buf += d;
      if (buf.includes('\n')) resolve(buf.trim().split('\n')[0]);
    });
    child.once('exit', (code) => reject(new Error(`peer exited with ${code} before listening`)));
  });
  return { url, exited };
}

async function measure(lib, k, makeExecutor, distDir) {
  if (peerProcess) return measureWithPeerProcess(lib, k, makeExecutor, distDir);
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

async function measureWithPeerProcess(lib, k, makeExecutor, distDir) {
  const { connectWebSocket } = await import(pathToFileURL(path.join(distDir, 'node.js')).href);
  const n = 2 ** k;
  const A = Array.from({ length: n }, (_, i) => `ID${String(i).padStart(12, '0')}X`);
  const pharma = lib.generateIdentity();
  const hospital = lib.generateIdentity();
  const peer = await peerInChild(lib, distDir, n, hospital);
  const ea = await makeExecutor();
  const transport = await connectWebSocket(peer.url);
  const h = monitorEventLoopDelay({ resolution: 10 });
  h.enable();
  const t0 = performance.now();
  const r = await lib.runPsi({ role: 'requester', records: A, transport, identity: pharma, peerPublicKey: hospital.publicKey, executor: ea, terms: { reveal: 'both' } });
  const ms = performance.now() - t0;
  await new Promise((resolve) => setTimeout(resolve, 20));
  h.disable();
  await ea.close();
  await peer.exited;
  if (r.intersectionSize !== n / 2) throw new Error(`wrong intersection ${r.intersectionSize}`);
  return { k, n, ms, maxDelayMs: h.max / 1e6, p99DelayMs: h.percentile(99) / 1e6, meanDelayMs: h.mean / 1e6 };
}

console.log('machine:', JSON.stringify(machine()));
const runs = { current: [], baseline: [] };
for (let r = 0; r < rounds; r++) {
  const order = baseline ? (r % 2 === 0 ? ['baseline', 'current'] : ['current', 'baseline']) : ['current'];
  for (const which of order) {
    const lib = which === 'current' ? current : baseline;
    const distDir = which === 'current' ? path.join(benchDir, '..', 'dist') : path.resolve(baselineDist);
    runs[which].push(await measure(lib, log, () => lib.createWorkerPool({ workers }), distDir));
  }
}
const rows = [];
for (const which of ['baseline', 'current']) {
  for (const m of runs[which]) {
    rows.push({ build: which === 'current' ? 'this build' : `baseline (${baselineDist})`, case: `2^${log} x 2^${log}, worker pools of ${workers}${peerProcess ? ', peer in a child process' : ''}`, 'wall s': fmt(m.ms / 1000), 'max delay ms': fmt(m.maxDelayMs), 'p99 delay ms': fmt(m.p99DelayMs), 'mean delay ms': fmt(m.meanDelayMs) });
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
result.peerProcess = peerProcess;
const file = writeResult(`event-loop-psi-2e${log}${peerProcess ? '-peer-process' : ''}`, result);
console.log(`written ${path.relative(process.cwd(), file)}`);
