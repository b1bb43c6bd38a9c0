// SM2 scalar multiplication (issue 11, item 4): µs per multiplication of dataport's native addon
// (native/sm2.c and its 8-way AVX-512 IFMA kernel native/sm2-ifma.c, one call per batch of
// compressed points, each kernel), OpenSSL's SM2 in node:crypto (ECDH
// computeSecret with one fixed private key over the same points; it returns only x, so it does less
// than the addon, which returns the compressed point), and the portable JavaScript — dataport's
// own (src/crypto/sm2, when built) and @noble/curves' generic short-Weierstrass code with the SM2
// parameters — and, for scale, X25519 in the addon (the curve25519 suite's multiplication). All cases run in the same interleaved rounds (bench/lib.mjs compare), so machine load
// affects them alike and the ratios are what to read. Single-threaded.
// Run: npm run build && node bench/sm2.mjs [--quick]
import fs from 'node:fs';
import path from 'node:path';
import { createECDH, randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { weierstrass } from '@noble/curves/abstract/weierstrass.js';
import { benchDir, compare, fmt, machine, printTable, writeResult } from './lib.mjs';

const quick = process.argv.includes('--quick');
const opts = quick ? { rounds: 3, ms: 300 } : { rounds: 7, ms: 600 };
const BATCH = 256;

const P = 0xfffffffeffffffffffffffffffffffffffffffff00000000ffffffffffffffffn;
const N = 0xfffffffeffffffffffffffffffffffff7203df6b21c6052b53bbf40939d54123n;
const Sm2 = weierstrass({
  p: P,
  n: N,
  h: 1n,
  a: P - 3n,
  b: 0x28e9fa9e9d9f5e344d5a9e4bcf6509a7f39789f515ab8f92ddbcbd414d940e93n,
  Gx: 0x32c4ae2c1f1981195f9904466a39c9948fe30bbff2660be1715a4589334c74c7n,
  Gy: 0xbc3736a2f4f6779c59bdcee36b692153d0a9877cc62a474002df32e52139f0a0n,
});
const randScalar = () => (BigInt('0x' + randomBytes(32).toString('hex')) % (N - 1n)) + 1n;
const be32 = (v) => Uint8Array.from(Buffer.from(v.toString(16).padStart(64, '0'), 'hex'));

const points = new Uint8Array(33 * BATCH);
for (let i = 0; i < BATCH; i++) points.set(Sm2.BASE.multiply(randScalar()).toBytes(true), 33 * i);
const k = randScalar();
const kb = be32(k);

const addonFile = path.join(benchDir, '..', 'build', 'dataport_x25519.node');
const addon = fs.existsSync(addonFile) ? createRequire(import.meta.url)(addonFile) : undefined;
const sm2Dist = path.join(benchDir, '..', 'dist', 'crypto', 'sm2', 'index.js');
const portable = fs.existsSync(sm2Dist) ? await import(sm2Dist).catch(() => undefined) : undefined;

const ecdh = createECDH('SM2');
ecdh.setPrivateKey(kb);
const pointBufs = Array.from({ length: BATCH }, (_, i) => Buffer.from(points.subarray(33 * i, 33 * i + 33)));
const out = new Uint8Array(points.length);
const xk = randomBytes(32);
const xPoints = new Uint8Array(randomBytes(32 * BATCH));
const xOut = new Uint8Array(xPoints.length);

// Every implementation must agree with OpenSSL on x before it is timed.
const check = (name, got) => {
  for (const i of [0, BATCH - 1]) {
    if (Buffer.from(got.subarray(33 * i + 1, 33 * i + 33)).toString('hex') !== ecdh.computeSecret(pointBufs[i]).toString('hex')) {
      throw new Error(`${name} disagrees with OpenSSL at point ${i}`);
    }
  }
};
for (const kern of addon?.sm2Kernels ?? []) {
  addon.sm2MultiplyBatch(kb, points, out, kern);
  check(`native ${kern}`, out);
}
const NOBLE = 8; // noble is far slower; smaller calls keep rounds short
const cases = [
  // The addon's default SM2 kernel (8-way AVX-512 IFMA where the CPU has it), then each other one forced.
  ...(addon?.sm2MultiplyBatch
    ? [
        { name: `sm2 native (${addon.sm2Kernels[0]})`, items: BATCH, run: () => addon.sm2MultiplyBatch(kb, points, out) },
        ...addon.sm2Kernels.slice(1).map((kern) => ({ name: `sm2 native (${kern}, forced)`, items: BATCH, run: () => addon.sm2MultiplyBatch(kb, points, out, kern) })),
      ]
    : []),
  // For scale: the curve25519 suite's multiplication (the addon's default X25519 kernel), same run.
  ...(addon ? [{ name: `x25519 native (${addon.kernel})`, items: BATCH, run: () => addon.x25519Batch(xk, xPoints, xOut) }] : []),
  {
    name: 'sm2 node:crypto ECDH (x only)',
    items: BATCH,
    run: () => {
      for (const p of pointBufs) ecdh.computeSecret(p);
    },
  },
  ...(portable?.sm2MultiplyBatchPortable
    ? [{ name: 'sm2 portable (src/crypto/sm2)', items: NOBLE, run: () => portable.sm2MultiplyBatchPortable(kb, points.subarray(0, 33 * NOBLE)) }]
    : []),
  {
    name: 'sm2 @noble/curves (generic JS)',
    items: NOBLE,
    run: () => {
      for (let i = 0; i < NOBLE; i++) Sm2.fromBytes(points.subarray(33 * i, 33 * i + 33)).multiply(k).toBytes(true);
    },
  },
];

const m = machine();
console.log('machine:', JSON.stringify(m));
const r = await compare(cases, opts);
const base = r['sm2 node:crypto ECDH (x only)'].usPerItem;
const rows = Object.entries(r).map(([name, v]) => ({
  case: name,
  'us/mul': fmt(v.usPerItem),
  'min..max': `${fmt(v.min)}..${fmt(v.max)}`,
  'x node:crypto': fmt(base / v.usPerItem),
}));
printTable(rows, ['case', 'us/mul', 'min..max', 'x node:crypto']);
const ratios = Object.fromEntries(Object.entries(r).map(([name, v]) => [name, base / v.usPerItem]));
const file = writeResult('sm2', { machine: m, sm2Kernels: addon?.sm2Kernels ?? [], loadavgAfter: (await import('node:os')).loadavg(), options: { quick, batch: BATCH, ...opts }, results: r, speedupOverNodeCrypto: ratios });
console.log(`\nwritten: ${path.relative(process.cwd(), file)}`);
