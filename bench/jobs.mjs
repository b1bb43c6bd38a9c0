// Benchmark of bucketed PSI jobs (issue 14, docs/jobs.md): 2^N x 2^N keys, B buckets, on BullMQ
// with a private redis-server, two workers per side (requester: two `job worker` processes;
// responder: two `job serve` processes sharing a work directory), against an unbucketed
// `dataport psi` run of 2^M x 2^M measured in the same session. Reports wall time, records/s
// (2n / wall), the ratio to the baseline's records/s (baseline run before and after the job), per-bucket time, and the peak RSS of every
// process (getrusage maxrss through rss-probe.mjs).
// Run: node bench/jobs.mjs [--log 22] [--buckets 64] [--baseline-log 20] [--concurrency 1]
// Resume cost: node bench/jobs.mjs --log 20 --buckets 16 --kill 4 runs the same job twice, clean and
// with worker 1 killed (SIGKILL) 4 times at spread-out moments and replaced at once, and reports
// the buckets re-run (vs the buckets in flight when each kill landed) and the extra wall time.
// Needs dist/ (npm run build) and Debian's redis-server.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
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
const kills = Number(opt('--kill', '0'));
const lockSeconds = opt('--lock-duration', '5');
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
      const served = (stdout + stderr).split('\n').filter((l) => /^job \S+: bucket \d+ done/.test(l)).length;
      const cut = stderr.split('\n').filter((l) => l.includes('job session from')).length;
      resolve({ name, code, signal, json, served, cut, maxRss: rss ? Number(rss[1]) : undefined, cpuMs: cpu ? Number(cpu[1]) / 1000 : undefined, tail: stderr.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('dataport-bench-') && !l.includes('progress phase=')).slice(-6).join(' | ') });
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

async function job(k, killing = false) {
  const n = 2 ** k;
  const a = path.join(tmp, `ja-${k}.csv`);
  const b = path.join(tmp, `jb-${k}.csv`);
  writeKeyCsv(a, 'resident_id,x', 0, n);
  writeKeyCsv(b, 'patient_id,y', n / 2, n);
  const redis = await startRedis();
  const work = { p: path.join(tmp, 'work-p'), h: path.join(tmp, 'work-h') };
  const serveArgs = ['job', 'serve', '--listen', '127.0.0.1:0', '--input', b, '--key', 'patient_id', ...side('h'), '--work-dir', work.h, '--concurrency', concurrency, '--progress', killing ? 'lines' : 'none', '--timeout', '7200'];
  const servers = [spawnCli(serveArgs, 'serve 1'), spawnCli(serveArgs, 'serve 2')];
  const urls = await Promise.all(servers.map((s) => s.listening()));
  const workerArgs = ['job', 'worker', '--queue', redis.url, '--concurrency', concurrency, '--timeout', '7200', ...(killing ? ['--lock-duration', lockSeconds] : [])];
  const workers = [spawnCli(workerArgs, 'worker 1'), spawnCli(workerArgs, 'worker 2')];
  const t0 = performance.now();
  const killLog = [];
  const resultsDir = path.join(work.p, `bench-${k}`, 'results');
  const finished = () => (fs.existsSync(resultsDir) ? fs.readdirSync(resultsDir).filter((f) => f.endsWith('.json')).length : 0);
  let killer = Promise.resolve();
  if (killing) {
    // Kill i (1..kills) lands once i/(kills+1) of the buckets are finished, 0–2 s later (mid-bucket).
    killer = (async () => {
      for (let i = 1; i <= kills; i++) {
        while (finished() < Math.floor((i * buckets) / (kills + 1))) await new Promise((r) => setTimeout(r, 100));
        await new Promise((r) => setTimeout(r, Math.random() * 2000));
        const victim = workers[0];
        const at = finished();
        victim.child.kill('SIGKILL');
        await victim.done;
        killLog.push({ atFinished: at, inFlight: Number(concurrency), ms: Math.round(performance.now() - t0) });
        workers[0] = spawnCli(workerArgs, 'worker 1');
      }
    })();
  }
  const sub = spawnCli(
    ['job', 'submit', '--connect', urls.join(','), '--input', a, '--key', 'resident_id', ...side('p'), '--buckets', String(buckets), '--work-dir', work.p, '--output', path.join(tmp, `job-${k}${killing ? '-killed' : ''}.csv`), '--job-id', `bench-${k}`, '--queue', redis.url, '--json', '--progress', 'none', '--timeout', '7200'],
    'submit',
  );
  const s = await sub.done;
  const wallMs = performance.now() - t0;
  await killer;
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
    kills: killLog,
    // The responder's view of lost work: bucket sessions completed beyond B, and sessions cut off.
    sessions: { completed: others.reduce((a, p) => a + (p.name.startsWith('serve') ? p.served : 0), 0), cut: others.reduce((a, p) => a + (p.name.startsWith('serve') ? p.cut : 0), 0) },
    outputSha256: createHash('sha256').update(fs.readFileSync(path.join(tmp, `job-${k}${killing ? '-killed' : ''}.csv`))).digest('hex'),
    rss: Object.fromEntries([s, ...others].map((p) => [p.name, p.maxRss])),
    cpuMs: Object.fromEntries([s, ...others].map((p) => [p.name, p.cpuMs])),
  };
}

const m0 = machine;
const m = machine();
console.log(`machine: ${m.cpu}, ${m.cores} cores, load ${m.loadavg.join(' ')}, ${m.date}`);
// The baseline runs before and after the job: on a shared machine the load drifts over a long run,
// and bracketing shows how much. The ratio uses the mean of the two baseline rates.
if (kills > 0) {
  const clean = await job(log);
  fs.rmSync(path.join(tmp, 'work-p'), { recursive: true, force: true });
  fs.rmSync(path.join(tmp, 'work-h'), { recursive: true, force: true });
  const killed = await job(log, true);
  const rows = [clean, killed].map((j, i) => ({
    case: i === 0 ? `job 2^${log}, B=${buckets}, clean` : `same, worker 1 SIGKILLed ${kills}x (lock ${lockSeconds} s)`,
    'wall s': fmt(j.wallMs / 1000),
    'buckets run': j.summary.bucketsRun,
    retried: j.summary.bucketsRetried,
    'in flight at kills': j.kills.reduce((a, x) => a + x.inFlight, 0),
    'sessions completed / cut (responder)': `${j.sessions.completed} / ${j.sessions.cut}`,
    'same output': j.outputSha256 === clean.outputSha256 ? 'yes' : 'NO',
  }));
  printTable(rows, ['case', 'wall s', 'buckets run', 'retried', 'in flight at kills', 'sessions completed / cut (responder)', 'same output']);
  const extra = killed.wallMs - clean.wallMs;
  console.log(`lost work: ${killed.summary.bucketsRetried} bucket(s) re-run for ${kills} kills; ${killed.sessions.completed - buckets} bucket session(s) completed twice, ${killed.sessions.cut} cut off (${concurrency} in flight each); extra wall ${fmt(extra / 1000)} s = ${fmt(extra / kills / 1000)} s per kill (median bucket ${fmt(clean.bucketMs.median / 1000)} s, lock ${lockSeconds} s)`);
  const file = writeResult(`jobs-resume-2e${log}-b${buckets}`, { machine: m0(), clean, killed, kills, lockSeconds: Number(lockSeconds) });
  console.log(`wrote ${file}`);
  fs.rmSync(tmp, { recursive: true, force: true });
  process.exit(0);
}
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
