/**
 * Ed25519 signatures built to sit on the edges between verification rules (issue 16 finding 5),
 * for a key whose secret the test knows: small-order / mixed-order / non-canonical A or R, S ≥ L.
 * Built with @noble/curves point arithmetic; `k` is RFC 8032 §5.1.7's SHA-512(R || A || M) mod L
 * over the exact bytes.
 */
import { ed25519, ED25519_TORSION_SUBGROUP } from '@noble/curves/ed25519.js';
import { sha512 } from '@noble/hashes/sha2.js';

const Point = ed25519.Point;
export const L = Point.Fn.ORDER;
const p = Point.Fp.ORDER;

export function le(n: bigint, len = 32): Uint8Array {
  const b = new Uint8Array(len);
  for (let i = 0; i < len; i++) {
    b[i] = Number(n & 255n);
    n >>= 8n;
  }
  return b;
}
function fromLE(b: Uint8Array): bigint {
  let n = 0n;
  for (let i = b.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(b[i]!);
  return n;
}
const cat = (...parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((s, x) => s + x.length, 0));
  let off = 0;
  for (const x of parts) {
    out.set(x, off);
    off += x.length;
  }
  return out;
};
const kOf = (R: Uint8Array, A: Uint8Array, M: Uint8Array): bigint => fromLE(sha512(cat(R, A, M))) % L;

/** A point of order 8 (the torsion subgroup as @noble/curves lists it). */
export const T8 = Point.fromBytes(Uint8Array.from(Buffer.from(ED25519_TORSION_SUBGROUP[1]!, 'hex')));

export interface EdgeCase {
  publicKey: Uint8Array;
  signature: Uint8Array;
  message: Uint8Array;
  /** Under dataport's rule (strict encodings, no small-order A, S < L, cofactorless). */
  accept: boolean;
}

/** Signs `message` with scalar `a` (A = aB) and nonce `r`, R = rB + `torsion` (a mixed-order R when given). */
export function signWithScalar(a: bigint, r: bigint, message: Uint8Array, torsion?: typeof T8): { publicKey: Uint8Array; signature: Uint8Array } {
  const A = Point.BASE.multiply(a).toBytes();
  const Rp = Point.BASE.multiply(r);
  const R = (torsion ? Rp.add(torsion) : Rp).toBytes();
  return { publicKey: A, signature: cat(R, le((r + kOf(R, A, message) * a) % L)) };
}

/** The constructed edge cases, by name. */
export function edgeCases(): Record<string, EdgeCase> {
  const M = new TextEncoder().encode('usage receipt');
  const a = 0x1234567890abcdef1234567890abcdefn;
  const r = 0xfedcba0987654321fedcba0987654321n;
  const A = Point.BASE.multiply(a).toBytes();
  const R = Point.BASE.multiply(r).toBytes();
  const cases: Record<string, EdgeCase> = {};
  const honest = signWithScalar(a, r, M);
  cases['honest'] = { ...honest, message: M, accept: true };
  // Small-order A (the identity): R = rB, S = r verifies for every message under every equation.
  cases['small-order A'] = { publicKey: Point.ZERO.toBytes(), signature: cat(R, le(r)), message: M, accept: false };
  // Small-order R (the identity), S = k·a: valid under both equations, and allowed by RFC 8032.
  const Rid = Point.ZERO.toBytes();
  cases['small-order R'] = { publicKey: A, signature: cat(Rid, le((kOf(Rid, A, M) * a) % L)), message: M, accept: false }; // refused: OpenSSL's verdict on it differs between Node 20 and 24
  // Mixed-order R = rB + T8: cofactored accepts, cofactorless refuses.
  cases['mixed-order R'] = { ...signWithScalar(a, r, M, T8), message: M, accept: false };
  // S + L (non-canonical S).
  const s = honest.signature.subarray(32);
  cases['S >= L'] = { publicKey: A, signature: cat(R, le(fromLE(s) + L)), message: M, accept: false };
  // Mixed-order A = aB + T8: the cofactorless equation holds only when 8 | k; find one message each way.
  const Am = Point.BASE.multiply(a).add(T8).toBytes();
  for (let i = 0; !(cases['mixed-order A, 8 ∤ k'] && cases['mixed-order A, 8 | k']); i++) {
    const m = new TextEncoder().encode(`usage receipt ${i}`);
    const k = kOf(R, Am, m);
    const c = { publicKey: Am, signature: cat(R, le((r + k * a) % L)), message: m };
    if (k % 8n !== 0n) cases['mixed-order A, 8 ∤ k'] ??= { ...c, accept: false };
    else cases['mixed-order A, 8 | k'] ??= { ...c, accept: true }; // the equation holds; identity parsing refuses such keys
  }
  // Non-canonical A: the identity as y = p + 1, and as "negative zero" (x = 0, sign bit set).
  cases['non-canonical A (y >= p)'] = { publicKey: le(p + 1n), signature: cat(R, le(r)), message: M, accept: false };
  const negZero = Point.ZERO.toBytes();
  negZero[31]! |= 0x80;
  cases['non-canonical A (-0)'] = { publicKey: negZero, signature: cat(R, le(r)), message: M, accept: false };
  // Non-canonical R: the identity as y = p + 1, S = k·a (k over the bytes sent).
  const Rnc = le(p + 1n);
  cases['non-canonical R'] = { publicKey: A, signature: cat(Rnc, le((kOf(Rnc, A, M) * a) % L)), message: M, accept: false };
  return cases;
}
