// Cost of the per-run key sketch of `dataport supervise` (issue 17 part 3) against the run it is
// part of, measured in the same process and the same run: a 2^k x 2^k runPsi over the in-memory
// transport (both parties here, one worker pool each, reveal to both) with and without
// `onKeySketch` on the requester, and the sketch alone (what `onKeySketch` adds: bottom-128 MinHash
// of the 2^k normalised keys, its encoding and the salted commitment), median of 5.
// The ratio reported is sketch ms / run ms at the same size (one party's sketch against the run).
// Run: npm run build && node bench/supervise-sketch.mjs [--log 20] [--sketch-only]
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { benchDir, machine, printTable, writeResult } from './lib.mjs';

const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : dflt;
};
const log = Number(opt('--log', 20));
const sketchOnly = argv.includes('--sketch-only');
const lib = await import(pathToFileURL(path.join(benchDir, '..', 'dist', 'node.js')).href);
const { computeKeySketch, encodeKeySketch, keySketchCommitment, createMemoryTransportPair, createWorkerPool, generateIdentity, runPsi } = lib;

const ids = (from, n) => Array.from({ length: n }, (_, i) => `ID${String(from + i).padStart(12, '0')}X`);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** The sketch step alone, on keys as the run has them (normalised UTF-8 bytes). */
function sketchMs(n, secretKey) {
  const te = new TextEncoder();
  const keys = ids(0, n).map((k) => te.encode(k.toLowerCase()));
  const times = [];
  for (let r = 0; r < 5; r++) {
    const t0 = performance.now();
    const bytes = encodeKeySketch(computeKeySketch(keys, secretKey));
    keySketchCommitment(bytes, globalThis.crypto.getRandomValues(new Uint8Array(32)));
    times.push(performance.now() - t0);
  }
  return median(times);
}

async function runMs(n, withSketch) {
  const A = ids(0, n);
  const B = ids(n / 2, n);
  const pharma = generateIdentity();
  const hospital = generateIdentity();
  const [ea, eb] = [await createWorkerPool({}), await createWorkerPool({})];
  const [ta, tb] = createMemoryTransportPair();
  let sketched = 0;
  const t0 = performance.now();
  const [r] = await Promise.all([
    runPsi({
      role: 'requester', records: A, transport: ta, identity: pharma, peerPublicKey: hospital.publicKey, executor: ea, terms: { reveal: 'both' },
      ...(withSketch ? { onKeySketch: (s) => void (sketched = s.record.setSize) } : {}),
    }),
    runPsi({ role: 'responder', records: B, transport: tb, identity: hospital, peerPublicKey: pharma.publicKey, executor: eb }),
  ]);
  const ms = performance.now() - t0;
  await ea.close();
  await eb.close();
  if (r.intersectionSize !== n / 2) throw new Error(`wrong intersection ${r.intersectionSize}`);
  if (withSketch && sketched !== n) throw new Error('the run did not sketch');
  if (withSketch && !/^[0-9a-f]{64}$/.test(r.receipt.body.options['requester-sketch-commit'] ?? '')) throw new Error('no sketch commitment in the receipt');
  return ms;
}

const secret = generateIdentity().secretKey;
const rows = [];
for (const k of [16, 18, log].filter((v, i, a) => a.indexOf(v) === i && v <= log)) {
  const n = 2 ** k;
  const s = sketchMs(n, secret);
  const row = { log: k, keys: n, sketchMs: Math.round(s), sketchNsPerKey: Math.round((s * 1e6) / n) };
  if (!sketchOnly && k === log) {
    // Alternate without / with the sketch so both see the same load.
    const plain = [];
    const sketched = [];
    for (let r = 0; r < 2; r++) {
      plain.push(await runMs(n, false));
      sketched.push(await runMs(n, true));
    }
    Object.assign(row, {
      runMs: Math.round(median(plain)),
      runWithSketchMs: Math.round(median(sketched)),
      sketchShareOfRun: Number((s / median(plain)).toFixed(4)),
    });
  }
  rows.push(row);
}
printTable(rows, ['log', 'keys', 'sketchMs', 'sketchNsPerKey', 'runMs', 'runWithSketchMs', 'sketchShareOfRun']);
const file = writeResult(`supervise-sketch-2e${log}`, { machine: machine(), note: 'sketch = bottom-128 MinHash + encoding + commitment of the requester\'s 2^k keys; run = runPsi 2^k x 2^k, both parties in this process, a worker pool each; sketchShareOfRun = sketch ms / run ms', rows });
console.log(`written ${file} (cpu ${machine().cpu})`);
