// Data products (unbalanced PSI, EC-OPRF): publish N keys, fetch the cache, query 1,000 keys, and
// a balanced `runPsi` of the same 1,000 keys against the same N keys in the same run, both over
// WebSocket on 127.0.0.1 (both parties in this process, one worker pool each side's crypto uses).
//
//   node bench/product.mjs [--log2 20] [--queries 1000] [--rounds 3] [--workers N] [--no-balanced]
//
// Reports: the multiplication kernel's rate (X25519 on the pool, points/s) and hash+multiply rate,
// publish records/s and its ratio to the kernel, cache bytes per key on disk (the chunks) and on
// the wire (the fetch session), query online wall (median of rounds: session handshake, one round
// trip, unblinding, lookups, receipt), and the balanced PSI wall for the same inputs.
import { argv } from 'node:process';
import { machine, printTable, writeResult } from './lib.mjs';

const dp = await import('../dist/index.js');
const dn = await import('../dist/node.js');

const arg = (name, fallback) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? Number(argv[i + 1]) : fallback;
};
const log2 = arg('log2', 20);
const N = 2 ** log2;
const Q = arg('queries', 1000);
const rounds = arg('rounds', 3);
const workers = arg('workers', undefined);
const balanced = !argv.includes('--no-balanced');

const key = (i) => `1101011990${String(i).padStart(8, '0')}`;
const index = Array.from({ length: N }, (_, i) => key(i));
// Half of the query keys are in the index.
const mine = Array.from({ length: Q }, (_, i) => (i % 2 === 0 ? key((i * 7919) % N) : `4401${String(i).padStart(14, '0')}`));
const expected = new Set(mine.filter((_, i) => i % 2 === 0)).size;

// Generous transport limits: on a shared machine the balanced responder hashes 2^24 keys before it
// sends anything, longer than the default idle timeout.
const limits = { maxFrameBytes: 16 << 20, idleTimeoutMs: 1_800_000, overallTimeoutMs: 7_200_000 };
// runPsi's responder normalises its 2^22+ keys before its handshake: give it time to authenticate.
const handshakeTimeoutMs = 1_800_000;
const stamp = (what) => console.error(`${new Date().toISOString()} ${what}`);
const loadavgAtStart = (await import('node:os')).loadavg().map((x) => Math.round(x * 100) / 100);
const pool = await dp.createWorkerPool(workers !== undefined ? { workers } : {});
const hospital = dp.generateIdentity();
const pharma = dp.generateIdentity();
const te = new TextEncoder();

// Kernel: X25519 on the pool, and hash-to-curve + X25519, over 2^16 points, measured before and
// after the publish and averaged (the machine is shared: its load drifts during a long run).
const K = 1 << 16;
const sample = Array.from({ length: K }, (_, i) => te.encode(key(i)));
const scalar = dp.generateScalar();
async function kernel() {
  const pts = await pool.hashToGroup(sample, new Uint8Array(16));
  let t0 = performance.now();
  await pool.multiply(scalar, pts);
  const mul = K / ((performance.now() - t0) / 1000);
  t0 = performance.now();
  await pool.multiply(scalar, await pool.hashToGroup(sample, new Uint8Array(16)));
  return { mul, hashMul: K / ((performance.now() - t0) / 1000) };
}
const k1 = await kernel();
let t;

stamp('publish');
// Publish.
const records = index.map((s) => te.encode(s));
t = performance.now();
const built = await dp.buildProduct({
  executor: pool,
  records,
  keyColumns: 1,
  profile: 'nfkc-trim-lower-v1',
  holderPublicKey: hospital.publicKey,
  sign: (m) => dp.signMessage(hospital.secretKey, m),
});
const publishMs = performance.now() - t;
const k2 = await kernel();
const kernelMul = (k1.mul + k2.mul) / 2;
const kernelHashMul = (k1.hashMul + k2.hashMul) / 2;
const cacheBytes = built.chunks.reduce((s, c) => s + c.length, 0) + built.manifestBytes.length;
const holder = { manifestBytes: built.manifestBytes, manifest: built.manifest, oprfKey: built.oprfKey, readFile: async (kind, i) => built.chunks[i] };

// One WebSocket server for the holder; each connection one product session.
const server = await dn.listenWebSocket({ host: '127.0.0.1', port: 0, limits, handshakeTimeoutMs }, async (transport) => {
  await dp.serveProductSession({ transport, identity: hospital, allowAnyPeer: true, holder, executor: pool }).catch((e) => console.error('holder:', e.message));
});
const url = server.address().url;
stamp('fetch');
const store = dp.createMemoryProductCacheStore();
t = performance.now();
let tr = await dn.connectWebSocket(url, { limits });
const fetched = await dp.fetchProductCache({ transport: tr, identity: pharma, peerPublicKey: hospital.publicKey, store });
await tr.close();
const fetchMs = performance.now() - t;
t = performance.now();
const cache = await dp.openStoredProductCache(store, hospital.publicKey);
const openMs = performance.now() - t;

const queryMs = [];
let matched;
for (let r = 0; r < rounds; r++) {
  t = performance.now();
  tr = await dn.connectWebSocket(url, { limits });
  const q = await dp.queryProduct({ transport: tr, identity: pharma, peerPublicKey: hospital.publicKey, cache, records: mine, executor: pool });
  queryMs.push(performance.now() - t);
  await tr.close();
  matched = q.matched;
  if (matched !== expected) throw new Error(`query found ${matched}, expected ${expected}`);
}
await server.close();
queryMs.sort((a, b) => a - b);
const queryMedian = queryMs[Math.floor(queryMs.length / 2)];

stamp('balanced');
let balancedMs = null;
if (balanced) {
  let done;
  const finished = new Promise((r) => (done = r));
  const psiServer = await dn.listenWebSocket({ host: '127.0.0.1', port: 0, limits, handshakeTimeoutMs }, async (transport) => {
    await dp
      .runPsi({ role: 'responder', records: index, transport, identity: hospital, allowAnyPeer: true, executor: pool, policy: { maxSetSize: 1 << 24 } })
      .catch((e) => console.error('psi responder:', e.message))
      .finally(done);
  });
  t = performance.now();
  const pt = await dn.connectWebSocket(psiServer.address().url, { limits });
  const r = await dp.runPsi({
    role: 'requester', records: mine, transport: pt, identity: pharma, peerPublicKey: hospital.publicKey, executor: pool,
    terms: { peerSetSize: { max: 1 << 24 } },
  });
  balancedMs = performance.now() - t;
  await finished;
  await psiServer.close();
  if (r.intersectionSize !== expected) throw new Error(`balanced PSI found ${r.intersectionSize}, expected ${expected}`);
}
await pool.close();

const result = {
  machine: { ...machine(), loadavgAtStart },
  workers: workers ?? 'cores',
  indexKeys: N,
  queryKeys: Q,
  kernel: {
    x25519PerSec: Math.round(kernelMul),
    hashAndX25519PerSec: Math.round(kernelHashMul),
    beforePublish: { x25519PerSec: Math.round(k1.mul), hashAndX25519PerSec: Math.round(k1.hashMul) },
    afterPublish: { x25519PerSec: Math.round(k2.mul), hashAndX25519PerSec: Math.round(k2.hashMul) },
  },
  publish: {
    ms: Math.round(publishMs),
    recordsPerSec: Math.round(N / (publishMs / 1000)),
    ratioToX25519Kernel: +(N / (publishMs / 1000) / kernelMul).toFixed(3),
    ratioToHashAndX25519: +(N / (publishMs / 1000) / kernelHashMul).toFixed(3),
    cacheBytes,
    bytesPerKeyOnDisk: +(cacheBytes / N).toFixed(3),
  },
  fetch: { ms: Math.round(fetchMs), bytesReceived: fetched.bytesReceived, bytesPerKeyOnWire: +(fetched.bytesReceived / N).toFixed(3), openAndVerifyMs: Math.round(openMs) },
  query: { roundsMs: queryMs.map(Math.round), medianMs: Math.round(queryMedian), matched },
  balancedPsi: balancedMs === null ? null : { ms: Math.round(balancedMs), ratioBalancedOverQuery: +(balancedMs / queryMedian).toFixed(1) },
};
printTable(
  [
    { what: 'x25519 kernel (pool)', value: `${result.kernel.x25519PerSec} points/s` },
    { what: 'hash+x25519 (pool)', value: `${result.kernel.hashAndX25519PerSec} records/s` },
    { what: `publish 2^${log2}`, value: `${result.publish.recordsPerSec} records/s (×${result.publish.ratioToX25519Kernel} of x25519, ×${result.publish.ratioToHashAndX25519} of hash+x25519), ${publishMs.toFixed(0)} ms` },
    { what: 'cache on disk', value: `${result.publish.bytesPerKeyOnDisk} bytes/key` },
    { what: 'cache on the wire', value: `${result.fetch.bytesPerKeyOnWire} bytes/key (${result.fetch.ms} ms)` },
    { what: `query ${Q} keys (median)`, value: `${result.query.medianMs} ms online wall` },
    { what: `balanced psi ${Q} vs 2^${log2}`, value: balancedMs === null ? 'skipped' : `${result.balancedPsi.ms} ms (×${result.balancedPsi.ratioBalancedOverQuery})` },
  ],
  ['what', 'value'],
);
writeResult(`product-2e${log2}`, result);
