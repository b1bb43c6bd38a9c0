// Benchmark of bucketed PSI jobs (issue 14, docs/jobs.md): 2^N x 2^N keys, B buckets, on BullMQ
// with a private redis-server, two workers per side (requester: two `job worker` processes;
// responder: two `job serve` processes sharing a work directory), against an unbucketed
// `dataport psi` run of 2^M x 2^M measured in the same session. Reports wall time, records/s
// (2n / wall), the ratio to the baseline's records/s (baseline run before and after the job), per-bucket time, and the peak RSS of every
// process (getrusage maxrss through rss-probe.mjs).
// Run: node bench/jobs.mjs [--log 22] [--buckets 64] [--baseline-log 20] [--concurrency 1]
// Needs dist/ (npm run build) and Debian's redis-server.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { spawn } from 'node:child_process';
import { benchDir, fmt, machine, printTable, writeResult, writeKeyCsv } from './lib.mjs';

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : def;
};
const log = Number(opt('--log', '22'));
const buckets = Number(opt('--buckets', '64'));
const baseLog = Number(opt('--baseline-log', '20'));
const concurrency = opt('--concurrency', '1');
const cli = path.join(benchDir, '..', 'dist', 'cli', 'main.js');
const probe = path.join(benchDir, 'rss-probe.mjs');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dataport-bench-jobs-'));

function spawnCli(cliArgs, name) {
  const child = spawn(process.execPath, ['--import', probe, cli, ...cliArgs], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
  const done = new Promise((resolve) =>
    child.once('exit', (code, signal) => {
      const rss = /dataport-bench-maxrss-bytes (\d+)/.exec(stderr);
      const cpu = /dataport-bench-cpu-us (\d+)/.exec(stderr);
      let json;
      try {
        json = JSON.parse(stdout.trim().split('\n').at(-1));
      } catch {
        json = undefined;
      }
      resolve({ name, code, signal, json, maxRss: rss ? Number(rss[1]) : undefined, cpuMs: cpu ? Number(cpu[1]) / 1000 : undefined, tail: stderr.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('dataport-bench-') && !l.includes('progress phase=')).slice(-6).join(' | ') });
    }),
  );
  const listening = () =>
    new Promise((resolve, reject) => {
      const check = () => {
        const m = /listening on (ws:\/\/\S+)/.exec(stderr);
        if (m) return resolve(m[1]);
        if (child.exitCode !== null) return reject(new Error(`${name} exited: ${stderr}`));
        setTimeout(check, 50);
      };
      check();
    });
  return { child, done, listening };
}

function ping(port) {
  return new Promise((resolve) => {
    const c = net.connect({ host: '127.0.0.1', port });
    let buf = '';
    c.once('error', () => resolve(false));
    c.on('data', (d) => {
      buf += d;
      if (buf.includes('\r\n')) {
        c.destroy();
        resolve(buf.startsWith('+PONG'));
      }
    });
    c.once('connect', () => c.write('PING\r\n'));
  });
}

// The same launch as test/helpers/redis.ts (which is TypeScript; benchmarks run on plain Node).
async function startRedis() {
  const port = await new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
  const dir = fs.mkdtempSync(path.join(tmp, 'redis-'));
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--save', ''], { stdio: 'ignore' });
  while (!(await ping(port))) {
    if (child.exitCode !== null) throw new Error('redis-server exited (is the redis-server package installed?)');
    await new Promise((r) => setTimeout(r, 50));
  }
  return { url: `redis://127.0.0.1:${port}/0`, stop: () => child.kill('SIGTERM') };
}

const ids = { p: path.join(tmp, 'p'), h: path.join(tmp, 'h') };
for (const d of Object.values(ids)) await spawnCli(['keygen', '--out', d], 'keygen').done;
const side = (who) =>
  who === 'p'
    ? ['--identity', ids.p, '--peer-key', path.join(ids.h, 'identity.pub')]
    : ['--identity', ids.h, '--peer-key', path.join(ids.p, 'identity.pub')];

let baselineRuns = 0;
async function baseline(k) {
  const n = 2 ** k;
  const a = path.join(tmp, `a-${k}.csv`);
  const b = path.join(tmp, `b-${k}.csv`);
  writeKeyCsv(a, 'resident_id,x', 0, n);
  writeKeyCsv(b, 'patient_id,y', n / 2, n);
  const l = spawnCli(['psi', '--listen', '127.0.0.1:0', '--input', b, '--key', 'patient_id', ...side('h'), '--json', '--progress', 'none', '--timeout', '7200'], 'psi listener');
  const url = await l.listening();
  const t0 = performance.now();
  const r = spawnCli(['psi', '--connect', url, '--input', a, '--key', 'resident_id', ...side('p'), '--output', path.join(tmp, `single-${k}-${++baselineRuns}.csv`), '--json', '--progress', 'none', '--timeout', '7200'], 'psi requester');
  const rq = await r.done;
  const wallMs = performance.now() - t0;
  if (rq.code !== 0) {
    l.child.kill('SIGINT');
    const rs = await l.done;
    throw new Error(`baseline failed (exit ${rq.code}, signal ${rq.signal}): ${rq.tail} // listener: ${rs.tail}`);
  }
  const rs = await l.done;
  fs.rmSync(a);
  fs.rmSync(b);
  return { n, wallMs, recordsPerS: (2 * n) / (wallMs / 1000), rss: { requester: rq.maxRss, responder: rs.maxRss } };
}

async function job(k) {
  const n = 2 ** k;
  const a = path.join(tmp, `ja-${k}.csv`);
  const b = path.join(tmp, `jb-${k}.csv`);
  writeKeyCsv(a, 'resident_id,x', 0, n);
  writeKeyCsv(b, 'patient_id,y', n / 2, n);
  const redis = await startRedis();
  const work = { p: path.join(tmp, 'work-p'), h: path.join(tmp, 'work-h') };
  const serveArgs = ['job', 'serve', '--listen', '127.0.0.1:0', '--input', b, '--key', 'patient_id', ...side('h'), '--work-dir', work.h, '--concurrency', concurrency, '--progress', 'none', '--timeout', '7200'];
  const servers = [spawnCli(serveArgs, 'serve 1'), spawnCli(serveArgs, 'serve 2')];
  const urls = await Promise.all(servers.map((s) => s.listening()));
  const workerArgs = ['job', 'worker', '--queue', redis.url, '--concurrency', concurrency, '--timeout', '7200'];
  const workers = [spawnCli(workerArgs, 'worker 1'), spawnCli(workerArgs, 'worker 2')];
  const t0 = performance.now();
  const sub = spawnCli(
    ['job', 'submit', '--connect', urls.join(','), '--input', a, '--key', 'resident_id', ...side('p'), '--buckets', String(buckets), '--work-dir', work.p, '--output', path.join(tmp, `job-${k}.csv`), '--job-id', `bench-${k}`, '--queue', redis.url, '--json', '--progress', 'none', '--timeout', '7200'],
    'submit',
  );
  const s = await sub.done;
  const wallMs = performance.now() - t0;
  for (const p of [...workers, ...servers]) p.child.kill('SIGINT');
  const others = await Promise.all([...workers, ...servers].map((p) => p.done));
  redis.stop();
  if (s.code !== 0) throw new Error(`job failed (exit ${s.code}, signal ${s.signal}): ${s.tail}`);
  // Per-bucket figures from the requester's results.
  const resDir = path.join(work.p, `bench-${k}`, 'results');
  const results = fs.readdirSync(resDir).filter((f) => f.endsWith('.json')).map((f) => JSON.parse(fs.readFileSync(path.join(resDir, f), 'utf8')));
  const bucketMs = results.map((r) => r.ms).sort((x, y) => x - y);
  fs.rmSync(a);
  fs.rmSync(b);
  return {
    n,
    buckets,
    wallMs,
    recordsPerS: (2 * n) / (wallMs / 1000),
    summary: s.json,
    bucketMs: { median: bucketMs[bucketMs.length >> 1], max: bucketMs.at(-1), sum: bucketMs.reduce((x, y) => x + y, 0) },
    keysPerBucket: n / buckets,
    rss: Object.fromEntries([s, ...others].map((p) => [p.name, p.maxRss])),
    cpuMs: Object.fromEntries([s, ...others].map((p) => [p.name, p.cpuMs])),
  };
}

const m = machine();
console.log(`machine: ${m.cpu}, ${m.cores} cores, load ${m.loadavg.join(' ')}, ${m.date}`);
// The baseline runs before and after the job: on a shared machine the load drifts over a long run,
// and bracketing shows how much. The ratio uses the mean of the two baseline rates.
const before = await baseline(baseLog);
console.log(`baseline psi 2^${baseLog} (before): ${fmt(before.wallMs / 1000)} s, ${fmt(before.recordsPerS, 0)} records/s`);
const j = await job(log);
console.log(`job 2^${log}: ${fmt(j.wallMs / 1000)} s, ${fmt(j.recordsPerS, 0)} records/s`);
const after = await baseline(baseLog);
console.log(`baseline psi 2^${baseLog} (after): ${fmt(after.wallMs / 1000)} s, ${fmt(after.recordsPerS, 0)} records/s`);
const base = { ...before, recordsPerS: (before.recordsPerS + after.recordsPerS) / 2, wallMs: (before.wallMs + after.wallMs) / 2 };
const rows = [
  ...[
    ['before', before],
    ['after', after],
  ].map(([when, b]) => ({ case: `psi 2^${baseLog} x 2^${baseLog} (one session, ${when})`, 'wall s': fmt(b.wallMs / 1000), 'records/s': fmt(b.recordsPerS, 0), ratio: fmt(b.recordsPerS / base.recordsPerS), 'peak RSS MB': `req ${fmt(b.rss.requester / 2 ** 20, 0)} / resp ${fmt(b.rss.responder / 2 ** 20, 0)}` })),
  {
    case: `job 2^${log} x 2^${log}, B=${buckets}, 2 workers/side`,
    'wall s': fmt(j.wallMs / 1000),
    'records/s': fmt(j.recordsPerS, 0),
    ratio: fmt(j.recordsPerS / base.recordsPerS),
    'peak RSS MB': Object.entries(j.rss)
      .map(([k2, v]) => `${k2} ${fmt(v / 2 ** 20, 0)}`)
      .join(', '),
  },
];
printTable(rows, ['case', 'wall s', 'records/s', 'ratio', 'peak RSS MB']);
console.log(`per bucket (${j.keysPerBucket} keys per side): median ${fmt(j.bucketMs.median / 1000)} s, max ${fmt(j.bucketMs.max / 1000)} s, sum ${fmt(j.bucketMs.sum / 1000)} s`);
const file = writeResult(`jobs-2e${log}-b${buckets}`, { machine: m, machineAfter: machine(), baseline: base, baselineBefore: before, baselineAfter: after, job: j });
console.log(`wrote ${file}`);
fs.rmSync(tmp, { recursive: true, force: true });
