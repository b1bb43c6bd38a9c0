// Shared helpers for the benchmarks: timing by repeated rounds, machine description, peers
// installed on demand, result files. Benchmarks measure; they never assert.
import os from 'node:os';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync, spawn } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

export const benchDir = path.dirname(fileURLToPath(import.meta.url));

/** Machine, runtime and date, recorded with every result. */
export function machine() {
  return {
    date: new Date().toISOString(),
    node: process.version,
    v8: process.versions.v8,
    openssl: process.versions.openssl,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.availableParallelism?.() ?? os.cpus().length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    loadavg: os.loadavg().map((x) => Math.round(x * 100) / 100),
    x25519: nativeKernel(),
  };
}

/** Which X25519 this checkout's CLI uses, as `dataport --version` reports it (one answer, one place). */
function nativeKernel() {
  try {
    const out = execFileSync(process.execPath, [path.join(benchDir, '..', 'dist', 'cli', 'main.js'), '--version'], { encoding: 'utf8' });
    return /^x25519: (.*)$/m.exec(out)?.[1] ?? 'unknown';
  } catch {
    return 'unknown (dist/cli/main.js not built)';
  }
}

/**
 * Measures several cases side by side: `rounds` rounds, each running every case (in rotated order)
 * for about `ms` milliseconds, and reports each case's median cost per item across rounds. Running
 * the cases interleaved means background load affects them alike, so their ratios stay meaningful.
 * Each case is `{ name, items, run }` where one call of `run()` (sync or async) processes `items` items.
 */
export async function compare(cases, { rounds = 5, ms = 400 } = {}) {
  const samples = new Map(cases.map((c) => [c.name, []]));
  for (const c of cases) await c.run(); // warm-up (JIT, lazy init)
  for (let r = 0; r < rounds; r++) {
    const order = cases.map((_, i) => cases[(i + r) % cases.length]);
    for (const c of order) {
      let calls = 0;
      const t0 = performance.now();
      let t = t0;
      while (t - t0 < ms || calls === 0) {
        await c.run();
        calls++;
        t = performance.now();
      }
      samples.get(c.name).push(((t - t0) * 1000) / (calls * c.items));
    }
  }
  const out = {};
  for (const [name, s] of samples) {
    s.sort((a, b) => a - b);
    out[name] = { usPerItem: s[Math.floor(s.length / 2)], min: s[0], max: s[s.length - 1] };
  }
  return out;
}

/** Prints rows as an aligned table. */
export function printTable(rows, columns) {
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c] ?? '').length)));
  const line = (cells) => cells.map((v, i) => String(v ?? '').padEnd(widths[i])).join('  ');
  console.log(line(columns));
  console.log(line(widths.map((w) => '-'.repeat(w))));
  for (const r of rows) console.log(line(columns.map((c) => r[c])));
}

/** Writes `data` to bench/results/<name>-<date>.json and bench/results/<name>-latest.json. */
export function writeResult(name, data) {
  const dir = path.join(benchDir, 'results');
  fs.mkdirSync(dir, { recursive: true });
  const stamp = new Date().toISOString().slice(0, 10);
  const text = JSON.stringify(data, null, 2) + '\n';
  fs.writeFileSync(path.join(dir, `${name}-${stamp}.json`), text);
  fs.writeFileSync(path.join(dir, `${name}-latest.json`), text);
  return path.join(dir, `${name}-${stamp}.json`);
}

/**
 * Installs an npm package into bench/.peers/<folder> on first use, with install scripts disabled
 * (psi.js's dependencies' scripts download from GitHub, which this environment cannot reach), and
 * returns the folder. Never a dependency of dataport itself.
 */
export function installPeer(folder, spec) {
  const prefix = path.join(benchDir, '.peers', folder);
  const pkgName = spec.replace(/@[^@/]*$/, '');
  if (!fs.existsSync(path.join(prefix, 'node_modules', pkgName, 'package.json'))) {
    fs.mkdirSync(prefix, { recursive: true });
    console.error(`installing ${spec} into ${prefix} (npm install --ignore-scripts) …`);
    execFileSync('npm', ['install', '--ignore-scripts', '--no-audit', '--no-fund', '--no-save', '--prefix', prefix, spec], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
  }
  return prefix;
}

export const fmt = (x, digits = 2) => (x >= 100 ? x.toFixed(0) : x.toFixed(digits));

/**
 * One balanced @openmined/psi.js run (client and server in this process, raw data structure,
 * false-positive rate 0): the intersection the client computes. `psi` is the loaded module.
 */
export function psijsIntersect(psi, clientInputs, serverInputs) {
  const client = psi.client.createWithNewKey(true);
  const server = psi.server.createWithNewKey(true);
  try {
    const setup = psi.serverSetup.deserializeBinary(server.createSetupMessage(0.0, clientInputs.length, serverInputs, psi.dataStructure.Raw).serializeBinary());
    const req = psi.request.deserializeBinary(client.createRequest(clientInputs).serializeBinary());
    const resp = psi.response.deserializeBinary(server.processRequest(req).serializeBinary());
    return client.getIntersection(setup, resp);
  } finally {
    client.delete?.();
    server.delete?.();
  }
}

/**
 * The psi-sum workload of bench/psi-sum.mjs and bench/psi-sum-compare.mjs: n keys for I, n for V of
 * which n/2 are shared, and V's two value columns — cost in cents up to 10^6 yuan (signed per-key
 * totals) and a 0/1 flag — with their declared scales and bounds.
 */
export function psiSumWorkload(n) {
  const enc = new TextEncoder();
  const rows = (count, prefix) => Array.from({ length: count }, (_, i) => enc.encode(`${prefix}${String(i).padStart(18, '0')}`));
  return {
    X: rows(n, 'id'),
    Y: [...rows(n / 2, 'id'), ...rows(n / 2, 'other')],
    cost: Array.from({ length: n }, (_, i) => BigInt(((i * 7919) % 100_000_000) - 1_000_000)),
    flag: Array.from({ length: n }, (_, i) => BigInt(i % 17 === 0 ? 1 : 0)),
    columns: [
      { name: 'cost_yuan', decimals: 2, bound: 100_000_000n },
      { name: 'adverse_event', decimals: 0, bound: 1n },
    ],
  };
}

/** The built CLI of this checkout. */
export const benchCli = path.join(benchDir, '..', 'dist/cli/main.js');
const rssProbe = path.join(benchDir, 'rss-probe.mjs');

/** Writes a CSV of `n` distinct keys `ID<12 digits>X` from `start`, and a second small column. */
export function writeKeyCsv(file, header, start, n) {
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

/**
 * Starts `dataport ARGS` (with the rss/cpu probe); `done` resolves with the last stdout line as
 * JSON (when it is), peak RSS and CPU ms, or `{ error }` naming the exit code and the CLI's lines.
 */
export function spawnCli(args, cliPath = benchCli) {
  const child = spawn(process.execPath, ['--import', rssProbe, cliPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
  const done = new Promise((resolve) =>
    child.once('exit', (code) => {
      const rss = /dataport-bench-maxrss-bytes (\d+)/.exec(stderr);
      const cpu = /dataport-bench-cpu-us (\d+)/.exec(stderr);
      if (code !== 0) {
        const lines = stderr.split('\n').filter((l) => l.startsWith('dataport: ') && !l.startsWith('dataport: progress '));
        return resolve({ error: `exit ${code}: ${(lines.length > 0 ? lines : stderr.trim().split('\n').slice(-3)).join(' | ')}` });
      }
      let json;
      try {
        json = JSON.parse(stdout.trim().split('\n').at(-1));
      } catch {
        json = undefined; // keygen prints a key line, not JSON
      }
      resolve({ json, maxRss: rss ? Number(rss[1]) : undefined, cpuMs: cpu ? Number(cpu[1]) / 1000 : undefined });
    }),
  );
  return { child, done, stderr: () => stderr };
}

/** `dataport keygen --out DIR`, or throws. */
export async function keygen(dir, cliPath = benchCli) {
  const r = await spawnCli(['keygen', '--out', dir], cliPath).done;
  if (r.error) throw new Error(`keygen failed: ${r.error}`);
}

/** A port the system just handed out on 127.0.0.1 (a listener on port 0, closed again). */
export const freePort = () =>
  new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

/**
 * The process pair every two-party benchmark runs: starts `first`, waits for `ready` (a regexp
 * with one group) on its stderr, starts `second(match)`, and waits for both. Wall time counts from
 * the first start to both exits; throws when either failed.
 */
export async function runCliPair(first, ready, second, cliPath = benchCli) {
  const t0 = performance.now();
  const a = spawnCli(first, cliPath);
  const match = await new Promise((resolve, reject) => {
    const timer = setInterval(() => {
      const m = ready.exec(a.stderr());
      if (m) {
        clearInterval(timer);
        resolve(m[1]);
      }
    }, 10);
    a.done.then((r) => {
      clearInterval(timer);
      reject(new Error(`ended before it was ready: ${r.error}`));
    });
  });
  const b = spawnCli(second(match), cliPath);
  const [x, y] = await Promise.all([a.done, b.done]);
  const wallMs = performance.now() - t0;
  if (x.error || y.error) throw new Error(`run failed: ${x.error ?? ''} ${y.error ?? ''}`);
  return { first: x, second: y, wallMs };
}
