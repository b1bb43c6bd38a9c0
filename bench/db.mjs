// Database source benchmark (issue 13): `dataport psi` 2^k x 2^k over WebSocket on 127.0.0.1, the
// hospital side (listener) reading its keys from PostgreSQL (`--input postgres://… --query`) or from
// the same data as CSV, alternating in the same run so that both see the same machine load.
//   - wall time of the whole run, database / CSV (target <= 1.2x);
//   - peak RSS (getrusage maxrss) of the hospital's process, database / CSV (target <= +10 %).
// PostgreSQL is Debian's, started by this script in a temporary directory on a free loopback port
// (test/helpers/postgres.ts, bundled on the fly) and stopped at the end; without it, the script says
// so and exits.
// Run: npm run build && node bench/db.mjs [--log 18] [--rounds 2] [--workers N]
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { benchDir, fmt, machine, printTable, writeResult, writeKeyCsv } from './lib.mjs';

const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : dflt;
};
const log = Number(opt('--log', 18));
const rounds = Number(opt('--rounds', 2));
const workers = opt('--workers', undefined);
const root = path.resolve(benchDir, '..');
const cli = path.join(root, 'dist/cli/main.js');
const probe = path.join(benchDir, 'rss-probe.mjs');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dataport-bench-db-'));

// The test helper that starts PostgreSQL, bundled for plain Node (pg stays an external import).
await build({ entryPoints: [path.join(root, 'test/helpers/postgres.ts')], bundle: true, platform: 'node', format: 'esm', packages: 'external', outfile: path.join(root, 'bench/.db-helper.mjs'), logLevel: 'error' });
const { startPostgres, postgresBinDir } = await import(pathToFileURL(path.join(root, 'bench/.db-helper.mjs')).href);

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
      if (code !== 0) return resolve({ error: `exit ${code}: ${stderr.trim().split('\n').filter((l) => l && !l.startsWith('dataport-bench-')).slice(-3).join(' | ')}` });
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

const server = await startPostgres();
if (!server) {
  console.log('PostgreSQL is not installed (apt-get install postgresql): nothing to measure');
  process.exit(0);
}
try {
  process.env.PGPASSWORD = server.password;
  for (const who of ['p', 'h']) {
    const r = await spawnCli(['keygen', '--out', path.join(tmp, who)]).done;
    if (r.error) throw new Error(`keygen: ${r.error}`);
  }
  const n = 2 ** log;
  const a = path.join(tmp, 'pharma.csv');
  const b = path.join(tmp, 'hospital.csv');
  writeKeyCsv(a, 'resident_id,x', 0, n);
  writeKeyCsv(b, 'patient_id,y', n / 2, n);
  await server.query('CREATE TABLE admissions (patient_id text, y integer)');
  const psql = path.join(postgresBinDir(), 'psql');
  const load = spawnSync(psql, ['-h', '127.0.0.1', '-p', String(server.port), '-U', 'dataport', '-d', 'dataport', '-c', `\\copy admissions FROM '${b}' CSV HEADER`], { encoding: 'utf8' });
  if (load.status !== 0) throw new Error(load.stderr);
  await server.query('ANALYZE admissions');

  // A generous --timeout: the machines this runs on are shared, and a run must not fail on load.
  const common = ['--reveal', 'both', '--json', '--timeout', '3600', ...(workers ? ['--workers', workers] : [])];
  const inputs = {
    csv: ['--input', b],
    postgres: ['--input', server.url, '--query', 'SELECT patient_id, y FROM admissions'],
  };
  async function runPair(kind) {
    const t0 = performance.now();
    const listener = spawnCli(['psi', '--listen', '127.0.0.1:0', '--handshake-timeout', '300', ...inputs[kind], '--key', 'patient_id', '--identity', path.join(tmp, 'h'), '--peer-key', path.join(tmp, 'p', 'identity.pub'), ...common]);
    const url = await new Promise((resolve, reject) => {
      const timer = setInterval(() => {
        const m = /listening on (ws:\/\/\S+)/.exec(listener.stderr());
        if (m) {
          clearInterval(timer);
          resolve(m[1]);
        }
      }, 20);
      listener.done.then((r) => {
        clearInterval(timer);
        reject(new Error(`listener ended: ${r.error}`));
      });
    });
    const requester = spawnCli(['psi', '--connect', url, '--input', a, '--key', 'resident_id', '--identity', path.join(tmp, 'p'), '--peer-key', path.join(tmp, 'h', 'identity.pub'), ...common]);
    const [rq, rs] = await Promise.all([requester.done, listener.done]);
    const wallMs = performance.now() - t0;
    if (rq.error || rs.error) throw new Error(`${kind} run failed: ${rq.error ?? ''} ${rs.error ?? ''}`);
    if (rq.json.intersectionSize !== n / 2) throw new Error(`wrong intersection ${rq.json.intersectionSize}`);
    return { kind, wallMs, hospitalRss: rs.maxRss, hospitalCpuMs: rs.cpuMs };
  }

  console.log('machine:', JSON.stringify(machine()));
  const runs = [];
  for (let r = 0; r < rounds; r++) {
    // Alternate which goes first, so that neither always runs on a warmer machine.
    for (const kind of r % 2 === 0 ? ['csv', 'postgres'] : ['postgres', 'csv']) {
      const res = await runPair(kind);
      runs.push(res);
      console.log(`round ${r + 1} ${kind}: ${fmt(res.wallMs / 1000)} s, hospital peak RSS ${fmt(res.hospitalRss / 2 ** 20)} MiB`);
    }
  }
  const median = (xs) => {
    const s = [...xs].sort((x, y) => x - y);
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  };
  const of = (kind, f) => median(runs.filter((x) => x.kind === kind).map(f));
  const summary = {
    log,
    n,
    rounds,
    csvWallMs: of('csv', (x) => x.wallMs),
    postgresWallMs: of('postgres', (x) => x.wallMs),
    csvHospitalRssMiB: of('csv', (x) => x.hospitalRss) / 2 ** 20,
    postgresHospitalRssMiB: of('postgres', (x) => x.hospitalRss) / 2 ** 20,
  };
  summary.wallRatio = summary.postgresWallMs / summary.csvWallMs;
  summary.rssRatio = summary.postgresHospitalRssMiB / summary.csvHospitalRssMiB;
  printTable(
    [
      { source: 'csv', 'wall s': fmt(summary.csvWallMs / 1000), 'hospital RSS MiB': fmt(summary.csvHospitalRssMiB) },
      { source: 'postgres', 'wall s': fmt(summary.postgresWallMs / 1000), 'hospital RSS MiB': fmt(summary.postgresHospitalRssMiB) },
    ],
    ['source', 'wall s', 'hospital RSS MiB'],
  );
  console.log(`postgres / csv: wall ${fmt(summary.wallRatio, 3)}x (target <= 1.2), peak RSS ${fmt(summary.rssRatio, 3)}x (target <= 1.1)`);
  const file = writeResult(`db-psi-2e${log}`, { machine: machine(), command: `node bench/db.mjs --log ${log} --rounds ${rounds}${workers ? ` --workers ${workers}` : ''}`, summary, runs });
  console.log(`written to ${file}`);
} finally {
  await server.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.rmSync(path.join(root, 'bench/.db-helper.mjs'), { force: true });
}
