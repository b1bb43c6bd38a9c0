// Micro-benchmark (issues 3/4): the two per-value costs of ECDH-PSI besides the scalar multiplication
// itself, each against its alternatives in the same interleaved rounds (lib.mjs `compare`):
//   1. importing the PEER POINT into OpenSSL for node:crypto's X25519: JWK (what the node backend
//      uses), DER/SPKI (12-byte prefix + u), WebCrypto raw import + KeyObject.from;
//   2. the round-2 truncation, HKDF-SHA-512 (no salt, info "ECDH-PSI", 16 bytes of a 32-byte value):
//      the WebAssembly batch (hkdfSha512Batch), one node:crypto hkdfSync call per value, @noble/hashes.
// Every alternative is first checked to give the same bytes. Run: npm run build && node bench/truncation-import.mjs [--quick]
import crypto from 'node:crypto';
import path from 'node:path';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { compare, fmt, machine, printTable, writeResult } from './lib.mjs';
import { hkdfSha512Batch } from '../dist/crypto/index.js';

const quick = process.argv.includes('--quick');
const opts = quick ? { rounds: 3, ms: 150 } : { rounds: 5, ms: 400 };
const N = 1024;
const points = [];
for (let i = 0; i < N; i++) points.push(new Uint8Array(crypto.generateKeyPairSync('x25519').publicKey.export({ format: 'der', type: 'spki' }).subarray(12)));
const SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex'); // RFC 8410 §4: SubjectPublicKeyInfo of an X25519 key
const der = Buffer.alloc(44);
SPKI_PREFIX.copy(der, 0);
const imports = {
  jwk: (u) => crypto.createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(u.buffer, u.byteOffset, 32).toString('base64url') }, format: 'jwk' }),
  spki: (u) => {
    der.set(u, 12);
    return crypto.createPublicKey({ key: der, format: 'der', type: 'spki' });
  },
  webcryptoRaw: async (u) => crypto.KeyObject.from(await crypto.subtle.importKey('raw', u, { name: 'X25519' }, true, [])),
};
const priv = crypto.generateKeyPairSync('x25519').privateKey;
const ref = crypto.diffieHellman({ privateKey: priv, publicKey: imports.jwk(points[3]) });
for (const [name, f] of Object.entries(imports)) {
  if (!crypto.diffieHellman({ privateKey: priv, publicKey: await f(points[3]) }).equals(ref)) throw new Error(`${name} import differs`);
}

const INFO = new TextEncoder().encode('ECDH-PSI');
const flat = crypto.randomBytes(N * 32);
const viaNode = () => {
  const out = new Uint8Array(N * 16);
  for (let i = 0; i < N; i++) out.set(new Uint8Array(crypto.hkdfSync('sha512', flat.subarray(i * 32, i * 32 + 32), new Uint8Array(0), INFO, 16)), i * 16);
  return out;
};
const viaNoble = () => {
  const out = new Uint8Array(N * 16);
  for (let i = 0; i < N; i++) out.set(hkdf(sha512, flat.subarray(i * 32, i * 32 + 32), undefined, INFO, 16), i * 16);
  return out;
};
const viaWasm = () => hkdfSha512Batch(flat, INFO, 16);
if (!Buffer.from(viaWasm()).equals(Buffer.from(viaNode())) || !Buffer.from(viaWasm()).equals(Buffer.from(viaNoble()))) throw new Error('HKDF paths differ');

const cases = [
  { name: 'import peer point: JWK', items: N, run: () => points.forEach(imports.jwk) },
  { name: 'import peer point: DER/SPKI', items: N, run: () => points.forEach(imports.spki) },
  { name: 'import peer point: WebCrypto raw + KeyObject.from', items: N, run: async () => { for (const u of points) await imports.webcryptoRaw(u); } },
  { name: 'X25519 diffieHellman (imported key)', items: N, run: (() => { const keys = points.map(imports.jwk); return () => keys.forEach((k) => crypto.diffieHellman({ privateKey: priv, publicKey: k })); })() },
  { name: 'HKDF truncation: wasm batch', items: N, run: viaWasm },
  { name: 'HKDF truncation: hkdfSync per value', items: N, run: viaNode },
  { name: 'HKDF truncation: @noble/hashes', items: N, run: viaNoble },
];
console.log('machine:', JSON.stringify(machine()));
const r = await compare(cases, opts);
const jwk = r['import peer point: JWK'].usPerItem;
const wasm = r['HKDF truncation: wasm batch'].usPerItem;
printTable(
  cases.map((c) => ({
    case: c.name,
    'us/item (median)': fmt(r[c.name].usPerItem),
    'min..max': `${fmt(r[c.name].min)}..${fmt(r[c.name].max)}`,
    'x baseline': c.name.startsWith('import') ? fmt(r[c.name].usPerItem / jwk) : c.name.startsWith('HKDF') ? fmt(r[c.name].usPerItem / wasm) : '',
  })),
  ['case', 'us/item (median)', 'min..max', 'x baseline'],
);
console.log('(x baseline: cost relative to JWK import / the wasm HKDF batch, same rounds)');
const file = writeResult('truncation-import', { machine: machine(), opts, results: r });
console.log(`written ${path.relative(process.cwd(), file)}`);
