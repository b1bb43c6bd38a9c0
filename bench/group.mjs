// Group-core benchmark (issue: foundation). Per-operation cost of each X25519 backend (the native
// addon's kernels included) and of
// hash-to-curve, the per-record crypto cost of ECDH-PSI (one encode_to_curve + two multiplications)
// against its floor (two node:crypto multiplications, the foundation issue's yardstick), and, in the same run, @noble/curves
// ristretto255 (hash + two multiplications per record) and @openmined/psi.js (per-record cost of a
// balanced 4096 x 4096 intersection), all in the same interleaved rounds. Single-threaded. Run: npm run bench [-- --quick] [-- --no-psijs]
import { createRequire } from 'node:module';
import path from 'node:path';
import { ed25519_hasher, ristretto255, ristretto255_hasher } from '@noble/curves/ed25519.js';
import { compare, fmt, installPeer, machine, printTable, psijsIntersect, writeResult } from './lib.mjs';
import { availableBackends, createGroup, encodeToCurve, encodeToCurveBatch, generateScalar, PSI_DST } from '../dist/crypto/index.js';

const args = new Set(process.argv.slice(2));
const quick = args.has('--quick');
const opts = quick ? { rounds: 3, ms: 150 } : { rounds: 5, ms: 500 };
const BATCH = 256;

const enc = new TextEncoder();
const records = Array.from({ length: BATCH }, (_, i) => enc.encode(`11010119${String(900000 + i).padStart(6, '0')}00${i % 10}x`));
const ekm = new Uint8Array(32).fill(7);
const points = encodeToCurveBatch(records, ekm);
const a = generateScalar();
const b = generateScalar();
const groups = {
  ...((await availableBackends()).includes('native') ? { native: await createGroup('native') } : {}),
  node: await createGroup('node'),
  webcrypto: await createGroup('webcrypto'),
  noble: await createGroup('noble'),
};
const nobleBatch = 16; // noble is ~30x slower; smaller calls keep rounds short
const rScalar = ristretto255.Point.Fn.create(BigInt('0x' + Buffer.from(a).toString('hex')));
const rScalar2 = ristretto255.Point.Fn.create(BigInt('0x' + Buffer.from(b).toString('hex')));
const withEkm = records.map((r) => new Uint8Array([...ekm, ...r]));

console.log('machine:', JSON.stringify(machine()));
// The native addon's two kernels side by side: its default (8-way AVX-512 IFMA where the CPU has it)
// and each other kernel this CPU can run (AVX2, the 64-bit one), forced through the addon's `kernel` argument.
const addon = groups.native ? createRequire(import.meta.url)('../build/dataport_x25519.node') : undefined;
const addonOut = new Uint8Array(points.length);
const cases = [
  ...(addon
    ? [
        { name: `x25519 native (${addon.kernel})`, items: BATCH, run: () => groups.native.multiplyBatch(a, points) },
        ...addon.kernels.slice(1).map((k) => ({ name: `x25519 native (${k}, forced)`, items: BATCH, run: () => addon.x25519Batch(a, points, addonOut, k) })),
        {
          name: 'ECDH-PSI record (h2c + 2 mul, native)',
          items: BATCH,
          run: async () => groups.native.multiplyBatch(b, await groups.native.multiplyBatch(a, encodeToCurveBatch(records, ekm))),
        },
      ]
    : []),
  { name: 'x25519 node:crypto', items: BATCH, run: () => groups.node.multiplyBatch(a, points) },
  { name: 'x25519 webcrypto', items: BATCH, run: () => groups.webcrypto.multiplyBatch(a, points) },
  { name: 'x25519 noble', items: nobleBatch, run: () => groups.noble.multiplyBatch(a, points.subarray(0, 32 * nobleBatch)) },
  { name: 'encode_to_curve dataport', items: BATCH, run: () => encodeToCurveBatch(records, ekm) },
  {
    name: 'encode_to_curve noble',
    items: nobleBatch,
    run: () => {
      for (let i = 0; i < nobleBatch; i++) ed25519_hasher.encodeToCurve(withEkm[i], { DST: PSI_DST });
    },
  },
  {
    name: 'ECDH-PSI record (h2c + 2 mul, node)',
    items: BATCH,
    run: async () => groups.node.multiplyBatch(b, await groups.node.multiplyBatch(a, encodeToCurveBatch(records, ekm))),
  },
  {
    name: 'ristretto255 record (noble: hash + 2 mul)',
    items: nobleBatch,
    run: () => {
      for (let i = 0; i < nobleBatch; i++) ristretto255_hasher.hashToCurve(withEkm[i]).multiply(rScalar).multiply(rScalar2).toBytes();
    },
  },
];
// psi.js runs as one more case of the same interleaved rounds (one whole balanced intersection per
// call), so that machine load affects it and dataport alike.
let psijs;
if (!args.has('--no-psijs')) {
  try {
    const prefix = installPeer('psijs', '@openmined/psi.js@2.0.6');
    const require = createRequire(path.join(prefix, 'package.json'));
    const PSI = require('@openmined/psi.js');
    const psi = await PSI();
    const n = quick ? 1024 : 4096;
    const cIn = Array.from({ length: n }, (_, i) => `id-${i % 2 ? i : i + 10 * n}`);
    const sIn = Array.from({ length: n }, (_, i) => `id-${i}`);
    psijs = { n };
    cases.push({
      name: `psi.js record (${n}x${n}, balanced)`,
      items: 2 * n,
      run: () => {
        const inter = psijsIntersect(psi, cIn, sIn);
        if (inter.length !== n / 2) throw new Error(`psi.js returned ${inter.length} matches, expected ${n / 2}`);
      },
    });
  } catch (e) {
    console.error(`psi.js baseline unavailable: ${e.message}`);
  }
}
const r = await compare(cases, opts);
if (psijs) psijs.usPerItem = r[`psi.js record (${psijs.n}x${psijs.n}, balanced)`].usPerItem;

const mulNode = r['x25519 node:crypto'].usPerItem;
const floor = 2 * mulNode;
const psiRec = r['ECDH-PSI record (h2c + 2 mul, node)'].usPerItem;
const rows = Object.entries(r).map(([name, v]) => ({ case: name, 'us/item': fmt(v.usPerItem), 'items/s': fmt(1e6 / v.usPerItem, 0), 'x node mul': fmt(v.usPerItem / mulNode) }));
printTable(rows, ['case', 'us/item', 'items/s', 'x node mul']);

const ratios = {
  'h2c / one native mul (target <= 1)': r['encode_to_curve dataport'].usPerItem / mulNode,
  'ECDH-PSI record / floor of 2 native mul (target <= 1.5)': psiRec / floor,
  'noble encode_to_curve / dataport encode_to_curve': r['encode_to_curve noble'].usPerItem / r['encode_to_curve dataport'].usPerItem,
  'ristretto255 record / ECDH-PSI record (target >= 10)': r['ristretto255 record (noble: hash + 2 mul)'].usPerItem / psiRec,
  ...(psijs ? { 'psi.js record / ECDH-PSI record (target >= 10)': psijs.usPerItem / psiRec } : {}),
  ...(addon
    ? {
        'node:crypto mul / native mul (default kernel)': mulNode / r[`x25519 native (${addon.kernel})`].usPerItem,
        ...Object.fromEntries(addon.kernels.slice(1).map((k) => [`node:crypto mul / native mul (${k} kernel)`, mulNode / r[`x25519 native (${k}, forced)`].usPerItem])),
        'ECDH-PSI record node / native': psiRec / r['ECDH-PSI record (h2c + 2 mul, native)'].usPerItem,
        ...(psijs ? { 'psi.js record / ECDH-PSI record native': psijs.usPerItem / r['ECDH-PSI record (h2c + 2 mul, native)'].usPerItem } : {}),
      }
    : {}),
};
console.log('\nratios (same run):');
for (const [k, v] of Object.entries(ratios)) console.log(`  ${k}: ${fmt(v)}`);
const file = writeResult('group', { machine: machine(), options: { quick, batch: BATCH }, results: r, psijs, ratios });
console.log(`\nwritten ${path.relative(process.cwd(), file)}`);
