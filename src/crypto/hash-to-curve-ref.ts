/**
 * Reference hash-to-curve for the curve25519 suites, built on `@noble/curves`' edwards25519 hasher.
 *
 * The curve25519 and edwards25519 suites of RFC 9380 share hash_to_field and the Elligator 2 map
 * (§6.7.1); edwards25519 applies the birational map of RFC 7748 §4.1 afterwards (§6.8.2), and cofactor
 * clearing (×8) commutes with it. So mapping the edwards25519 result back to Montgomery form
 * (u = (1 + y) / (1 - y)) gives the curve25519 suite's u for the same DST. The conformance tests check
 * this against the RFC 9380 Appendix J.4.1 vectors. This path is slow (BigInt); the fast path lives
 * in `fast/`.
 * @module
 */
import { ed25519_hasher } from '@noble/curves/ed25519.js';
import { mod, numberToBytesLE, pow } from './field-ref.js';
import { P } from './constants.js';

type EdPoint = { toAffine(): { x: bigint; y: bigint } };
type RefHasher = { mapToCurve(scalar: bigint): unknown };

function edwardsToU(point: EdPoint): Uint8Array {
  const { y } = point.toAffine();
  // u = (1 + y) / (1 - y); the identity (y = 1) maps to u = 0 by the convention of RFC 7748.
  const den = mod(1n - y);
  if (den === 0n) return new Uint8Array(32);
  const u = mod((1n + y) * pow(den, P - 2n));
  return numberToBytesLE(u);
}

/** RFC 9380 `encode_to_curve` (NU) for curve25519 with SHA-512 and Elligator 2; 32-byte LE u. */
export function encodeToCurveRef(msg: Uint8Array, dst: Uint8Array): Uint8Array {
  return edwardsToU(ed25519_hasher.encodeToCurve(msg, { DST: dst }) as unknown as EdPoint);
}

/** RFC 9380 `hash_to_curve` (RO) for curve25519 with SHA-512 and Elligator 2; 32-byte LE u. */
export function hashToCurveRef(msg: Uint8Array, dst: Uint8Array): Uint8Array {
  return edwardsToU(ed25519_hasher.hashToCurve(msg, { DST: dst }) as unknown as EdPoint);
}

/**
 * u of clear_cofactor(map_to_curve(u0)) for a field element u0 (RFC 9380 §6.7.1 then ×8): the map
 * alone, without hash_to_field, so tests can reach chosen inputs such as u0 = 0.
 */
export function mapToCurveRef(u0: bigint): Uint8Array {
  // noble's public mapToCurve() returns the cofactor-cleared point.
  return edwardsToU((ed25519_hasher as unknown as RefHasher).mapToCurve(mod(u0)) as EdPoint);
}
