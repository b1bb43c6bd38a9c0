#!/usr/bin/env node
// Builds dataport's optional native X25519 addon (native/x25519.c, plus the SIMD kernels
// native/x25519-ifma.c and native/x25519-avx2.c on x86-64, and SM2 scalar multiplication in
// native/sm2.c) into build/dataport_x25519.node. Runs at
// `npm install` / `npm ci` (the package's install script) and at `npm run build`.
// `--probe` only answers whether a build would be attempted here (exit 0) or skipped (exit 1, with
// the reason): CI uses it to decide whether the addon must exist.
//
// It never fails the install: without a C compiler or Node's headers (or on Windows) it prints one
// line and exits 0, and dataport then uses OpenSSL through node:crypto (the `node` backend). It never
// downloads anything: the headers must be the ones installed with this Node.js (or under
// `npm_config_nodedir`). A freshly built addon must reproduce the RFC 7748 §5.2 vectors and SM2
// known answers in a child process before it is kept. Set DATAPORT_SKIP_NATIVE=1 to skip the build.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outDir = path.join(root, 'build');
const target = path.join(outDir, 'dataport_x25519.node');
const quiet = process.argv.includes('--quiet');
const probe = process.argv.includes('--probe');

function skip(reason) {
  console.error(`dataport: native X25519 addon not built (${reason}); PSI will use OpenSSL through node:crypto (and the portable SM2)`);
  process.exit(probe ? 1 : 0);
}

if (process.env.DATAPORT_SKIP_NATIVE === '1') skip('DATAPORT_SKIP_NATIVE=1');
if (process.platform === 'win32') skip('no build recipe for Windows yet');

const headerDirs = [
  process.env.npm_config_nodedir && path.join(process.env.npm_config_nodedir, 'include', 'node'),
  path.resolve(path.dirname(process.execPath), '..', 'include', 'node'),
  '/usr/include/node',
  '/usr/local/include/node',
].filter(Boolean);
const include = headerDirs.find((d) => fs.existsSync(path.join(d, 'node_api.h')));
if (!include) skip(`node_api.h not found in ${headerDirs.join(', ')}`);

const cc = process.env.CC || 'cc';
if (spawnSync(cc, ['--version'], { stdio: 'ignore' }).status !== 0) skip(`no C compiler (${cc})`);
if (probe) process.exit(0);

// Each source with the flags that measured fastest here (median of interleaved runs, gcc 12):
// the 64-bit ladder at -O3 (1.2x over -O2), the IFMA kernel at -O2 (-O3 was 6 % slower); sm2.c at
// -O3, sm2-ifma.c at -O3 (1.6x over -O2: -O2 leaves its small loops over vectors rolled, with the
// limbs in memory).
const units = [{ src: 'x25519.c', opt: '-O3' }, { src: 'sm2.c', opt: '-O3' }];
const defines = ['-DDP_HAVE_SM2'];
// The SIMD kernels (x86-64 only; each checks the CPU at run time before it is used).
if (process.arch === 'x64' && fs.existsSync(path.join(root, 'native', 'x25519-ifma.c'))) {
  units.push({ src: 'x25519-ifma.c', opt: '-O2' }, { src: 'sm2-ifma.c', opt: '-O3' });
  defines.push('-DDP_HAVE_IFMA');
}
if (process.arch === 'x64' && fs.existsSync(path.join(root, 'native', 'x25519-avx2.c'))) {
  units.push({ src: 'x25519-avx2.c', opt: '-O2' });
  defines.push('-DDP_HAVE_AVX2');
}
fs.mkdirSync(outDir, { recursive: true });
const tmp = path.join(outDir, `dataport_x25519.${process.pid}.tmp.node`);
const objects = units.map((u) => path.join(outDir, `${u.src}.${process.pid}.o`));
const common = ['-fPIC', '-fvisibility=hidden', '-Wall', '-Wextra', '-std=gnu11', `-I${include}`, `-I${path.join(root, 'native')}`, ...defines];
const steps = [
  ...units.map((u, i) => [u.opt, ...common, '-c', '-o', objects[i], path.join(root, 'native', u.src)]),
  ['-shared', ...(process.platform === 'darwin' ? ['-undefined', 'dynamic_lookup'] : []), '-o', tmp, ...objects],
];
for (const args of steps) {
  const built = spawnSync(cc, args, { encoding: 'utf8' });
  if (built.status !== 0) {
    for (const f of [tmp, ...objects]) fs.rmSync(f, { force: true });
    skip(`${cc} failed: ${(built.stderr || built.error?.message || '').trim().split('\n').slice(0, 3).join(' | ')}`);
  }
}
for (const f of objects) fs.rmSync(f, { force: true });

// Keep the build only if it computes X25519 correctly: RFC 7748 §5.2 with every kernel this CPU
// offers, and the low-order point u = 0 reported as such; and SM2 (below). (The vectors are copied here because the
// script ships in the package without the tests; source: RFC 7748 section 5.2.)
const check = `
  const m = require(${JSON.stringify(tmp)});
  const h = (s) => Uint8Array.from(Buffer.from(s, 'hex'));
  const v = [
    ['a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4', 'e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c', 'c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552'],
    ['4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d', 'e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493', '95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957'],
  ];
  for (const kernel of [undefined, ...m.kernels]) for (const [k, u, r] of v) {
    const pts = new Uint8Array(32 * 9);
    for (let i = 0; i < 9; i++) pts.set(h(u), 32 * i);
    const out = new Uint8Array(pts.length);
    if (m.x25519Batch(h(k), pts, out, kernel) !== -1) process.exit(3);
    for (let i = 0; i < 9; i++) if (Buffer.from(out.subarray(32 * i, 32 * i + 32)).toString('hex') !== r) process.exit(4);
    if (m.x25519Batch(h(k), new Uint8Array(32), new Uint8Array(32), kernel) !== 0) process.exit(5);
  }
  // SM2 (native/sm2.c): d·G for the key pair of the PPCA brief §4.6 (OpenSSL's answer), a·H for
  // its item "alice" (sm2-sha256-tar), in place, and an off-curve point reported by its index.
  const sm2 = [
    ['112eb66358cd75963f1131ff34777cda364c5ead685f53898c3f44eb2bf86e61', '0232c4ae2c1f1981195f9904466a39c9948fe30bbff2660be1715a4589334c74c7', '03e61874fdd2c436964343cd1ec9daa20cb12051799ca8ded7d261a63d0e6b9d2c'],
    ['1a8a3d3c37e30cd85131ce8f4a5fc432c9e36d62e8537c8dcf6f292c0e209389', '02bd306425d873dc3e9fd1520e693954d6d605e8ad2fae4e48f53a395526f39abe', '0211650d2cf86667b89a9453eeaa08f2f5785e4749570f1aef25ce80e0ec7faac5'],
  ];
  for (const kernel of m.sm2Kernels) for (const [k, p, r] of sm2) {
    const pts = new Uint8Array(33 * 9);
    for (let i = 0; i < 9; i++) pts.set(h(p), 33 * i);
    if (m.sm2MultiplyBatch(h(k), pts, pts, kernel) !== -1) process.exit(6);
    for (let i = 0; i < 9; i++) if (Buffer.from(pts.subarray(33 * i, 33 * i + 33)).toString('hex') !== r) process.exit(7);
    const bad = new Uint8Array(66);
    bad.set(h(p));
    bad[33] = 2;
    bad[65] = 2; // x = 2: x³ − 3x + b is not a square mod p, so no curve point has it
    if (m.sm2MultiplyBatch(h(k), bad, new Uint8Array(66), kernel) !== 1) process.exit(8);
  }
  process.stdout.write(m.kernels.join(', ') + '; sm2: ' + m.sm2Kernels.join(', '));
`;
const verified = spawnSync(process.execPath, ['-e', check], { encoding: 'utf8' });
if (verified.status !== 0) {
  fs.rmSync(tmp, { force: true });
  skip(`the built addon failed its self-check (exit ${verified.status})`);
}
fs.renameSync(tmp, target);
if (!quiet) console.error(`dataport: native X25519 addon built (kernels: ${verified.stdout}): ${path.relative(root, target)}`);
