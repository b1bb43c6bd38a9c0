// PPCA 9-2023 ECDH-PSI benchmark (issue 11): two `dataport ppca-psi` processes over gRPC on
// 127.0.0.1 against two `dataport psi` processes over WebSocket at the same size, in the same run,
// balanced sets of 2^k keys with half in common, result to both sides.
//   - wall time of the whole run (both processes started to both exited), ratio ppca / psi
//     (target <= 1.2 x at 2^20 x 2^20 for curve25519-sha256-direct);
//   - wire bytes per record in each direction (every PushRequest byte, ACKs and FIN included);
//   - the SM2 suites at a small size with the portable multiplication.
// Run: npm run build && node bench/ppca.mjs [--log 16] [--sm2-log 10 (0: skip)] [--rounds 2] [--workers N]
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { benchDir, fmt, machine, printTable, writeResult } from './lib.mjs';

const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : dflt;
};
const log = Number(opt('--log', 16));
const sm2Log = Number(opt('--sm2-log', 10));
const rounds = Number(opt('--rounds', 2));
const workers = opt('--workers', undefined);
const root = path.resolve(benchDir, '..');
const cli = path.join(root, 'dist/cli/main.js');
const probe = path.join(benchDir, 'rss-probe.mjs');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dataport-bench-ppca-'));

function writeCsv(file, header, start, n) {
  const fd = fs.openSync(file, 'w');
  let buf = header + '\n';
  for (let i = start; i < start + n; i++) {
    buf += `ID${String(i).padStart(12, '0')}X,${i % 97}\n`;
    if (buf.length > 1 << 20) {
      fs.writeSync(fd, buf);
      buf = '';
    }
  }
  fs.writeSync(fd, buf);
  fs.closeSync(fd);
}

function spawnCli(args) {
  const child = spawn(process.execPath, ['--import', probe, cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
  const done = new Promise((resolve) =>
    child.once('exit', (code) => {
      const rss = /dataport-bench-maxrss-bytes (\d+)/.exec(stderr);
      const cpu = /dataport-bench-cpu-us (\d+)/.exec(stderr);
      if (code !== 0) return resolve({ error: `exit ${code}: ${stderr.split('\n').filter((l) => l.startsWith('dataport: ')).join(' | ')}` });
      let json;
      try {
        json = JSON.parse(stdout.trim().split('\n').at(-1));
      } catch {
        json = undefined;
      }
      resolve({ json, maxRss: rss ? Number(rss[1]) : undefined, cpuMs: cpu ? Number(cpu[1]) / 1000 : undefined });
    }),
  );
  return { done, stderr: () => stderr };
}

const waitFor = (p, re) =>
  new Promise((resolve, reject) => {
    const timer = setInterval(() => {
      const m = re.exec(p.stderr());
      if (m) {
        clearInterval(timer);
        resolve(m[1]);
      }
    }, 10);
    p.done.then((r) => {
      clearInterval(timer);
      reject(new Error(`ended before listening: ${r.error}`));
    });
  });

const freePort = () =>
  new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

function files(k) {
  const n = 2 ** k;
  const a = path.join(tmp, `a-${k}.csv`);
  const b = path.join(tmp, `b-${k}.csv`);
  if (!fs.existsSync(a)) {
    writeCsv(a, 'id,x', 0, n);
    writeCsv(b, 'id,y', n / 2, n);
  }
  return { n, a, b };
}

async function runPpca(k, suite) {
  const { n, a, b } = files(k);
  const common = ['--suite', suite, '--json', '--timeout', '120', ...(workers ? ['--workers', workers] : [])];
  const p1 = await freePort();
  const t0 = performance.now();
  const r0 = spawnCli(['ppca-psi', '--rank', '0', '--listen', '127.0.0.1:0', '--peer', `127.0.0.1:${p1}`, '--input', a, '--key', 'id', ...common]);
  const port0 = await waitFor(r0, /listening on 127\.0\.0\.1:(\d+)/);
  const r1 = spawnCli(['ppca-psi', '--rank', '1', '--listen', `127.0.0.1:${p1}`, '--peer', `127.0.0.1:${port0}`, '--input', b, '--key', 'id', ...common]);
  const [x0, x1] = await Promise.all([r0.done, r1.done]);
  const wallMs = performance.now() - t0;
  if (x0.error || x1.error) throw new Error(`ppca run failed: ${x0.error ?? ''} ${x1.error ?? ''}`);
  if (x0.json.intersectionSize !== n / 2 || x1.json.intersectionSize !== n / 2) throw new Error('wrong intersection');
  return {
    what: `ppca-psi ${suite}`,
    n,
    wallMs,
    cpuMs: x0.cpuMs + x1.cpuMs,
    bytesPerRecord0to1: x0.json.bytesSent / n,
    bytesPerRecord1to0: x1.json.bytesSent / n,
    rss: [x0.maxRss, x1.maxRss],
  };
}

async function keygen(who) {
  const r = await spawnCli(['keygen', '--out', path.join(tmp, who)]).done;
  if (r.error) throw new Error(`keygen failed: ${r.error}`);
}

async function runPsi(k) {
  const { n, a, b } = files(k);
  const common = ['--reveal', 'both', '--json', ...(workers ? ['--workers', workers] : [])];
  const t0 = performance.now();
  const l = spawnCli(['psi', '--listen', '127.0.0.1:0', '--input', b, '--key', 'id', '--identity', path.join(tmp, 'h'), '--peer-key', path.join(tmp, 'p', 'identity.pub'), ...common]);
  const url = await waitFor(l, /listening on (ws:\/\/\S+)/);
  const r = spawnCli(['psi', '--connect', url, '--input', a, '--key', 'id', '--identity', path.join(tmp, 'p'), '--peer-key', path.join(tmp, 'h', 'identity.pub'), ...common]);
  const [rq, rs] = await Promise.all([r.done, l.done]);
  const wallMs = performance.now() - t0;
  if (rq.error || rs.error) throw new Error(`psi run failed: ${rq.error ?? ''} ${rs.error ?? ''}`);
  if (rq.json.intersectionSize !== n / 2) throw new Error('wrong intersection');
  return { what: 'dataport psi (reveal both, truncate 128)', n, wallMs, cpuMs: rq.cpuMs + rs.cpuMs, bytesPerRecord0to1: rs.json.bytesSent / n, bytesPerRecord1to0: rq.json.bytesSent / n, rss: [rs.maxRss, rq.maxRss] };
}

console.log('machine:', JSON.stringify(machine()));
await keygen('p');
await keygen('h');
const result = { machine: machine(), log, sm2Log, rounds, workers: workers ?? 'default (cores)', runs: [] };
const median = (xs) => [...xs].sort((x, y) => x.wallMs - y.wallMs)[Math.floor(xs.length / 2)];
const ppca = [];
const psi = [];
for (let r = 0; r < rounds; r++) {
  for (const which of r % 2 === 0 ? ['ppca', 'psi'] : ['psi', 'ppca']) {
    const m = which === 'ppca' ? await runPpca(log, 'curve25519-sha256-direct') : await runPsi(log);
    (which === 'ppca' ? ppca : psi).push(m);
    result.runs.push({ ...m, load: os.loadavg()[0] });
    console.log(`round ${r}: ${m.what} wall ${fmt(m.wallMs / 1000)} s, CPU ${fmt(m.cpuMs / 1000)} s (load ${os.loadavg()[0].toFixed(2)})`);
  }
}
const p = median(ppca);
const q = median(psi);
result.ratioWall = p.wallMs / q.wallMs;
result.ratioCpu = p.cpuMs / q.cpuMs;
const rows = [p, q];
for (const suite of sm2Log > 0 ? ['sm2-sha256-tar', 'sm2-sm3-tai'] : []) {
  const m = await runPpca(sm2Log, suite);
  result.runs.push({ ...m, load: os.loadavg()[0] });
  rows.push(m);
}
printTable(
  rows.map((m) => ({
    case: `${m.what} 2^${Math.log2(m.n)} x 2^${Math.log2(m.n)}`,
    'wall s': fmt(m.wallMs / 1000),
    'records/s': fmt((2 * m.n) / (m.wallMs / 1000), 0),
    'B/record 0->1': fmt(m.bytesPerRecord0to1),
    'B/record 1->0': fmt(m.bytesPerRecord1to0),
  })),
  ['case', 'wall s', 'records/s', 'B/record 0->1', 'B/record 1->0'],
);
console.log(`\nppca-psi curve25519-sha256-direct / dataport psi at 2^${log} (medians of ${rounds}): wall ${fmt(result.ratioWall)} x (target <= 1.2), CPU ${fmt(result.ratioCpu)} x`);
const file = writeResult(`ppca-2e${log}`, result);
console.log(`written ${path.relative(process.cwd(), file)}`);
fs.rmSync(tmp, { recursive: true, force: true });
