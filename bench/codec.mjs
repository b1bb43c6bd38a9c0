// Codec hot paths before/after in one run: the wire codecs of this checkout's src/ against those of a
// baseline revision (default `main`), both bundled from source with esbuild and measured interleaved,
// in CPU time of this process (not wall time), so the ratio is meaningful on a busy machine. Cases: ECDH-PSI point
// batches (2^14 points of 32 bytes, the default batch), psi-sum POINTS frames and 192 KiB selection
// ciphertext frames, and a co-signed ledger receipt.
// Usage: node bench/codec.mjs [--baseline REV] [--rounds N] [--ms MS]
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { benchDir, fmt, machine, printTable, writeResult } from './lib.mjs';

const { values: args } = parseArgs({
  options: { baseline: { type: 'string', default: 'main' }, rounds: { type: 'string', default: '7' }, ms: { type: 'string', default: '300' } },
});
const root = path.join(benchDir, '..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dataport-bench-codec-'));

/** Bundles the codecs of the source tree at `srcRoot` into one ESM file and imports it. */
async function load(srcRoot, name) {
  const outfile = path.join(tmp, `${name}.mjs`);
  const entry = [
    `export { encodeEcdhPsiBatch, decodeEcdhPsiBatch } from './src/protocols/psi/codec.ts';`,
    `export { encodeCiphertext, decodeCiphertext, encodePoints, decodePoints } from './src/protocols/psi-sum/codec.ts';`,
    `export { encodeReceipt, decodeReceipt, signReceiptBody } from './src/ledger/receipt.ts';`,
  ].join('\n');
  await build({ stdin: { contents: entry, resolveDir: srcRoot, loader: 'ts' }, nodePaths: [path.join(root, 'node_modules')], bundle: true, format: 'esm', platform: 'node', target: 'node20', outfile, logLevel: 'error' });
  return import(pathToFileURL(outfile).href);
}

/** CPU microseconds (user + system) this process has used. */
function cpuUs() {
  const u = process.cpuUsage();
  return u.user + u.system;
}

/**
 * Like bench/lib.mjs `compare`, but per-call cost in CPU time of this process rather than wall
 * time: on a shared machine under load, wall time measures mostly the other processes.
 */
function compareCpu(cases, { rounds, ms }) {
  const samples = new Map(cases.map((c) => [c.name, []]));
  // Warm-up (JIT), and calls per block so that one block takes about 1 ms of CPU (reading the
  // CPU clock costs about a microsecond, as much as the cheapest case).
  const block = new Map();
  for (const c of cases) {
    const t0 = cpuUs();
    for (let i = 0; i < 50; i++) c.run();
    block.set(c.name, Math.max(1, Math.ceil(1000 / Math.max((cpuUs() - t0) / 50, 0.01))));
  }
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < cases.length; k++) {
      const c = cases[(k + r) % cases.length];
      let calls = 0;
      const t0 = cpuUs();
      let t = t0;
      const n = block.get(c.name);
      while (t - t0 < ms * 1000) {
        for (let i = 0; i < n; i++) c.run();
        calls += n;
        t = cpuUs();
      }
      samples.get(c.name).push((t - t0) / calls);
    }
  }
  const out = {};
  for (const [name, s] of samples) {
    s.sort((a, b) => a - b);
    out[name] = { usPerItem: s[Math.floor(s.length / 2)], min: s[0], max: s[s.length - 1] };
  }
  return out;
}

let report;
try {
  const baseDir = path.join(tmp, 'baseline');
  fs.mkdirSync(baseDir);
  const commit = execFileSync('git', ['-C', root, 'rev-parse', '--short', args.baseline], { encoding: 'utf8' }).trim();
  execFileSync('sh', ['-c', `git -C "${root}" archive ${commit} src | tar -x -C "${baseDir}"`]);
  const head = execFileSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  const dirty = execFileSync('git', ['-C', root, 'status', '--porcelain', 'src'], { encoding: 'utf8' }).trim() !== '';
  const impls = { baseline: await load(baseDir, 'baseline'), current: await load(root, 'current') };

  const points = new Uint8Array(32 << 14).map((_, i) => (i * 131) & 0xff);
  const psiPoints = points.subarray(0, 32 * 4096);
  const ct = new Uint8Array(192 * 1024).map((_, i) => (i * 17) & 0xff);
  const key = (n) => new Uint8Array(32).fill(n);
  const body = {
    version: 1, sessionId: new Uint8Array(16).fill(9), startedAt: 1_764_000_000_000, endedAt: 1_764_000_012_345,
    parties: [{ role: 'requester', publicKey: key(1) }, { role: 'responder', publicKey: key(2) }],
    protocol: 'ecdh-psi', options: { truncate: '128', 'count-only': 'false' }, purpose: 'programme audit',
    inputSizes: { requester: 1_000_000, responder: 2_000_000 }, outputSizes: { requester: 4_321 },
    bytesExchanged: 2 ** 33, computeMs: 77_000, guardrails: [{ rule: 'min-intersection', outcome: 'passed' }], outcome: 'completed',
  };
  const receipt = { body, signatures: [{ publicKey: key(1), signature: new Uint8Array(64).fill(3) }, { publicKey: key(2), signature: new Uint8Array(64).fill(4) }] };

  const cases = [];
  for (const [impl, c] of Object.entries(impls)) {
    const batch = c.encodeEcdhPsiBatch({ type: 1, index: 7n, isLastBatch: false, encodedPoints: points });
    const psFrame = c.encodePoints(2, psiPoints);
    const ctFrame = c.encodeCiphertext(0, 3, ct);
    const entry = c.encodeReceipt(receipt);
    cases.push(
      { group: 'psi batch encode (2^14 points)', impl, run: () => c.encodeEcdhPsiBatch({ type: 1, index: 7n, isLastBatch: false, encodedPoints: points }) },
      { group: 'psi batch decode (2^14 points)', impl, run: () => c.decodeEcdhPsiBatch(batch, { maxPointsBytes: 1 << 21, elementBytes: 32 }) },
      { group: 'psi-sum POINTS encode (4096)', impl, run: () => c.encodePoints(2, psiPoints) },
      { group: 'psi-sum POINTS decode (4096)', impl, run: () => c.decodePoints(psFrame, 2) },
      { group: 'psi-sum CIPHERTEXT encode (192 KiB)', impl, run: () => c.encodeCiphertext(0, 3, ct) },
      { group: 'psi-sum CIPHERTEXT decode (192 KiB)', impl, run: () => c.decodeCiphertext(ctFrame) },
      { group: 'ledger receipt encode', impl, run: () => c.encodeReceipt(receipt) },
      { group: 'ledger receipt decode', impl, run: () => c.decodeReceipt(entry) },
    );
  }
  for (const x of cases) x.name = `${x.group} / ${x.impl}`;
  const res = compareCpu(cases, { rounds: Number(args.rounds), ms: Number(args.ms) });
  const rows = [...new Set(cases.map((x) => x.group))].map((group) => {
    const b = res[`${group} / baseline`];
    const cur = res[`${group} / current`];
    return {
      case: group,
      'baseline CPU µs/call': fmt(b.usPerItem),
      'current CPU µs/call': fmt(cur.usPerItem),
      'current/baseline': (cur.usPerItem / b.usPerItem).toFixed(3),
    };
  });
  console.log(`codec hot paths: baseline ${args.baseline} (${commit}) vs current ${head}${dirty ? ' + uncommitted src changes' : ''}; median of ${args.rounds} interleaved rounds, CPU time`);
  printTable(rows, ['case', 'baseline CPU µs/call', 'current CPU µs/call', 'current/baseline']);
  report = { machine: machine(), baseline: { rev: args.baseline, commit }, current: { commit: head, dirty }, rounds: Number(args.rounds), rows, raw: res };
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}
console.log(`wrote ${writeResult('codec', report)}`);
