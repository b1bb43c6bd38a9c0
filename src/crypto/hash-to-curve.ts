/**
 * Records to curve points for the curve25519 ECDH-PSI suite.
 *
 * draft-wang-ppm-ecdh-psi-01 §3 maps a record to `encode_to_curve(ekm || record)` (RFC 9380 §3, the
 * `curve25519_XMD:SHA-512_ELL2_NU_` construction, §6.7.1 Elligator 2 with Z = 2, h_eff = 8) under the
 * DST `ECDH-PSI-V01-curve25519_XMD_SHA512_ELL2_NU_`; the point is encoded as its 32-byte
 * little-endian u-coordinate (RFC 7748 §5).
 * @module
 */
import { PSI_DST, POINT_BYTES } from './constants.js';
import { encodeToCurveRef, hashToCurveRef } from './hash-to-curve-ref.js';
import { assertBytes, concatBytes } from '../utils/bytes.js';

/**
 * RFC 9380 `encode_to_curve` for curve25519 (SHA-512, Elligator 2, NU); returns the 32-byte
 * little-endian u-coordinate.
 *
 * @param msg - the message (for PSI: `ekm || record`)
 * @param dst - the domain-separation tag (default: the PSI suite's DST)
 * @example
 * ```ts
 * const u = encodeToCurve(new TextEncoder().encode('110101199003070011'));
 * ```
 */
export function encodeToCurve(msg: Uint8Array, dst: Uint8Array = PSI_DST): Uint8Array {
  assertBytes(msg, 'msg');
  assertBytes(dst, 'dst');
  if (dst.length === 0 || dst.length > 255) throw new RangeError('dst must be 1..255 bytes');
  return encodeToCurveRef(msg, dst);
}

/**
 * RFC 9380 `hash_to_curve` (random-oracle variant) for curve25519; 32-byte little-endian u.
 * Provided for conformance testing; the PSI suite uses {@link encodeToCurve}.
 *
 * @example
 * ```ts
 * const u = hashToCurve(new Uint8Array(), new TextEncoder().encode('QUUX-V01-CS02-with-curve25519_XMD:SHA-512_ELL2_RO_'));
 * ```
 */
export function hashToCurve(msg: Uint8Array, dst: Uint8Array): Uint8Array {
  assertBytes(msg, 'msg');
  assertBytes(dst, 'dst');
  if (dst.length === 0 || dst.length > 255) throw new RangeError('dst must be 1..255 bytes');
  return hashToCurveRef(msg, dst);
}

/**
 * Maps every record to its PSI point, `encode_to_curve(ekm || record)` with the PSI DST.
 * Returns the points as one flat array of `records.length * 32` bytes.
 *
 * @param records - record bytes (already normalised by the caller)
 * @param ekm - the session binding value (empty in interop mode)
 * @example
 * ```ts
 * const flat = encodeToCurveBatch([utf8('a'), utf8('b')], new Uint8Array());
 * flat.length; // 64
 * ```
 */
export function encodeToCurveBatch(records: readonly Uint8Array[], ekm: Uint8Array): Uint8Array {
  assertBytes(ekm, 'ekm');
  const out = new Uint8Array(records.length * POINT_BYTES);
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    assertBytes(r, `records[${i}]`);
    out.set(encodeToCurveRef(ekm.length ? concatBytes(ekm, r) : r, PSI_DST), i * POINT_BYTES);
  }
  return out;
}
