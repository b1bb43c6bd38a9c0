// ECDH-PSI protocol figures (docs/psi-protocol.md): wire bytes per record from the in-memory
// transport's counters, and records/s of an in-process run with the inline executor.
// Usage: npx tsup && node bench/psi-protocol.mjs [log2 n = 16]
import os from 'node:os';
import { createMemoryTransportPair, createInlineExecutor, runPsiProtocol, createGroup, generateScalar, encodeToCurveBatch } from '../dist/index.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { hkdfSync } from 'node:crypto';

const logN = Number(process.argv[2] ?? 16);
const enc = new TextEncoder();
const executor = await createInlineExecutor();
const rows = (n, prefix) => Array.from({ length: n }, (_, i) => enc.encode(`${prefix}${String(i).padStart(18, '0')}`));

async function run(nA, nB, overlap, options) {
  const A = rows(nA, 'id');
  const B = [...rows(Math.round(nB * overlap), 'id'), ...rows(nB - Math.round(nB * overlap), 'other')];
  const [a, b] = createMemoryTransportPair({ maxFrameBytes: 1 << 26 });
  const ekm = new Uint8Array(32);
  const t0 = performance.now();
  const [r, s] = await Promise.all([
    runPsiProtocol({ role: 'requester', records: A, transport: a, ekm, executor, options }),
    runPsiProtocol({ role: 'responder', records: B, transport: b, ekm, executor, options }),
  ]);
  return { r, s, ms: performance.now() - t0 };
}

console.log(`node ${process.version}, ${os.cpus()[0]?.model} x${os.cpus().length}, ${new Date().toISOString()}`);

// Wire bytes per record (2^12 x 2^12, 50 % overlap).
for (const [name, options] of [
  ['both, truncation 128', { output: 'both', truncation: 1 }],
  ['both, truncation 0', { output: 'both', truncation: 0 }],
  ['requester, truncation 128', { output: 'requester', truncation: 1 }],
  ['requester, truncation 0', { output: 'requester', truncation: 0 }],
  ['count to requester, truncation 128', { output: 'requester', cardinalityOnly: true, truncation: 1 }],
]) {
  const n = 1 << 12;
  const { r, s } = await run(n, n, 0.5, options);
  const total = r.bytesSent + s.bytesSent;
  console.log(`${name}: requester sent ${r.bytesSent} B, responder sent ${s.bytesSent} B, ` +
    `total ${(total / (2 * n)).toFixed(2)} B per record (of ${2 * n}), |X∩Y| = ${r.intersectionSize}`);
}

// Per-operation costs in this process: HKDF vs X25519 vs encode_to_curve.
{
  const k = 4096;
  const ikm = new Uint8Array(32);
  const info = enc.encode('ECDH-PSI');
  let t = performance.now();
  for (let i = 0; i < k; i++) { ikm[0] = i; hkdf(sha512, ikm, undefined, info, 16); }
  const noble = k / ((performance.now() - t) / 1000);
  t = performance.now();
  for (let i = 0; i < k; i++) { ikm[0] = i; hkdfSync('sha512', ikm, new Uint8Array(0), info, 16); }
  const node = k / ((performance.now() - t) / 1000);
  const group = await createGroup();
  const pts = encodeToCurveBatch(rows(k, 'p'), new Uint8Array(0));
  t = performance.now();
  await group.multiplyBatch(generateScalar(), pts);
  const mul = k / ((performance.now() - t) / 1000);
  t = performance.now();
  encodeToCurveBatch(rows(k, 'q'), new Uint8Array(0));
  const h2c = k / ((performance.now() - t) / 1000);
  console.log(`per op/s: HKDF-SHA512 noble ${noble.toFixed(0)}, node ${node.toFixed(0)}; X25519 (${group.backend}) ${mul.toFixed(0)}; encode_to_curve ${h2c.toFixed(0)}`);
}

// Throughput: 2^logN x 2^logN, 50 % overlap, inline executor, default options.
{
  const n = 1 << logN;
  const mem0 = process.memoryUsage().rss;
  const { r, ms } = await run(n, n, 0.5, {});
  console.log(`2^${logN} x 2^${logN} (both, truncation 128, batch 2^14): ${(ms / 1000).toFixed(1)} s, ` +
    `${((2 * n) / (ms / 1000)).toFixed(0)} records/s (both sides together, one thread), |X∩Y| = ${r.intersectionSize}, ` +
    `rss ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB (start ${(mem0 / 2 ** 20).toFixed(0)} MiB)`);
}
await executor.close();
