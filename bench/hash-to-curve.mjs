// Micro-benchmark: fast curve25519 encode_to_curve and point validation against one node:crypto
// X25519 multiplication and the BigInt reference, measured in the same run; prints ratios.
//
//   npx tsup && node bench/hash-to-curve.mjs [records=20000]
//
// The reference is what src/crypto/hash-to-curve-ref.ts does (the @noble/curves edwards25519
// hasher, mapped to Montgomery u); it is re-created here because the built package does not export it.
import * as nodeCrypto from 'node:crypto';
import os from 'node:os';
import { ed25519_hasher } from '@noble/curves/ed25519.js';
import { encodeToCurveBatch, encodeToCurve, decodePointBatch, isFastCryptoReady } from '../dist/crypto/index.js';

const N = Number(process.argv[2] ?? 20000);
const P = (1n << 255n) - 19n;
const enc = new TextEncoder();
const ekm = nodeCrypto.randomBytes(32);
// ~30-byte records, like an 18-character resident ID plus a column separator and some context
const records = Array.from({ length: N }, (_, i) => enc.encode(`11010119900307${String(i).padStart(6, '0')}|hospital-a`));
const DST = enc.encode('ECDH-PSI-V01-curve25519_XMD_SHA512_ELL2_NU_');

function powmod(b, e) {
  let r = 1n;
  b %= P;
  while (e > 0n) {
    if (e & 1n) r = (r * b) % P;
    b = (b * b) % P;
    e >>= 1n;
  }
  return r;
}
function refEncode(msg) {
  const { y } = ed25519_hasher.encodeToCurve(msg, { DST }).toAffine();
  const den = (((1n - y) % P) + P) % P;
  return den === 0n ? 0n : ((1n + y) * powmod(den, P - 2n)) % P;
}
function refOnCurve(u) {
  const g = (u * u * u + 486662n * u * u + u) % P;
  const l = powmod(g, (P - 1n) / 2n);
  return l === 0n || l === 1n;
}

/**
 * Runs fn(count) repeatedly for ~ms milliseconds (after a warm-up); returns microseconds of this
 * process's CPU time per item. CPU time rather than wall time because the machines this project
 * runs on are shared: other processes stretch wall time but (mostly) not our CPU time. Everything
 * measured here is synchronous on the main thread, so CPU time is the work done.
 */
function measure(fn, count, ms = 1500) {
  fn(Math.min(count, 200));
  let items = 0;
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  while (performance.now() - t0 < ms) {
    fn(count);
    items += count;
  }
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / items;
}

const keyA = nodeCrypto.generateKeyPairSync('x25519');
const keyB = nodeCrypto.generateKeyPairSync('x25519');
const x25519 = (n) => {
  for (let i = 0; i < n; i++) nodeCrypto.diffieHellman({ privateKey: keyA.privateKey, publicKey: keyB.publicKey });
};
const fastBatch = (n) => encodeToCurveBatch(n === N ? records : records.slice(0, n), ekm);
const fastSingle = (n) => {
  for (let i = 0; i < n; i++) encodeToCurve(records[i]);
};
const ref = (n) => {
  for (let i = 0; i < n; i++) refEncode(Buffer.concat([ekm, records[i]]));
};
const points = encodeToCurveBatch(records, ekm);
const checkFast = (n) => decodePointBatch(n === N ? points : points.subarray(0, n * 32));
const us = Array.from({ length: 2000 }, (_, i) => {
  let u = 0n;
  for (let k = 31; k >= 0; k--) u = (u << 8n) | BigInt(points[i * 32 + k]);
  return u;
});
const checkRef = (n) => {
  for (let i = 0; i < n; i++) refOnCurve(us[i % us.length]);
};

if (!isFastCryptoReady()) throw new Error('fast path unavailable');
const rows = [];
// interleave the baseline with the candidates so that load from other processes hits both
const x1 = measure(x25519, 2000);
const fb = measure(fastBatch, N);
const fs1 = measure(fastSingle, 5000);
const cf = measure(checkFast, N);
const x2 = measure(x25519, 2000);
const rf = measure(ref, 500);
const cr = measure(checkRef, 500);
const x3 = measure(x25519, 2000);
const xs = [x1, x2, x3].sort((a, b) => a - b);
const x = xs[1];
rows.push(['node:crypto X25519 multiplication (baseline)', x, 1]);
rows.push(['fast encode_to_curve, batch (ekm || ~30-byte record)', fb, fb / x]);
rows.push(['fast encode_to_curve, one call per record', fs1, fs1 / x]);
rows.push(['reference encode_to_curve (noble + BigInt)', rf, rf / x]);
rows.push(['fast decodePointBatch, per point', cf, cf / x]);
rows.push(['reference on-curve check (BigInt Euler), per point', cr, cr / x]);
console.log(`# ${new Date().toISOString()} node ${process.version} ${os.cpus()[0]?.model ?? ''} x${os.cpus().length}, load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
console.log(`# CPU time per item; X25519 samples (us): ${xs.map((v) => v.toFixed(1)).join(' ')}; records per batch: ${N}`);
for (const [name, v, r] of rows) console.log(`${name.padEnd(56)} ${v.toFixed(2).padStart(8)} us  ${r.toFixed(3).padStart(7)} x X25519`);
console.log(`fast vs reference encode_to_curve: ${(rf / fb).toFixed(1)}x faster; on-curve check: ${(cr / cf).toFixed(1)}x faster`);
