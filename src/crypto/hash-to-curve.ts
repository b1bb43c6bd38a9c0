/**
 * Records to curve points for the curve25519 ECDH-PSI suite.
 *
 * draft-wang-ppm-ecdh-psi-01 §3 maps a record to `encode_to_curve(ekm || record)` (RFC 9380 §3, the
 * `curve25519_XMD:SHA-512_ELL2_NU_` construction, §6.7.1 Elligator 2 with Z = 2, h_eff = 8) under the
 * DST `ECDH-PSI-V01-curve25519_XMD_SHA512_ELL2_NU_`; the point is encoded as its 32-byte
 * little-endian u-coordinate (RFC 7748 §5).
 *
 * `encode_to_curve` takes the fast path (`fast/`: SHA-512 in JS, field arithmetic in WebAssembly,
 * constant time in the record) whenever the WebAssembly module is available, and the BigInt
 * reference (`hash-to-curve-ref.ts`) otherwise; both give identical bytes (tests check it).
 * `hash_to_curve` (RO) always uses the reference: only conformance tests need it.
 * @module
 */
import { PSI_DST, POINT_BYTES } from './constants.js';
import { encodeToCurveRef, hashToCurveRef } from './hash-to-curve-ref.js';
import { encodeToCurveFast } from './fast/encode.js';
import { getWasm } from './fast/wasm.js';
import { assertBytes, concatBytes } from '../utils/bytes.js';

const EMPTY = new Uint8Array(0);

function assertDst(dst: Uint8Array): void {
  assertBytes(dst, 'dst');
  // RFC 9380 §3.1: a DST must be non-empty; §5.3.3: longer than 255 bytes needs the oversize rule,
  // which no suite used here requires, so it is refused.
  if (dst.length === 0 || dst.length > 255) throw new RangeError('dst must be 1..255 bytes');
}

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
  assertDst(dst);
  const wasm = getWasm();
  if (wasm === undefined) return encodeToCurveRef(msg, dst);
  return encodeToCurveFast(wasm, [msg], EMPTY, dst);
}

/**
 * RFC 9380 `hash_to_curve` (random-oracle variant) for curve25519; 32-byte little-endian u.
 * Provided for conformance testing; the PSI suite uses {@link encodeToCurve}. Slow (BigInt).
 *
 * @example
 * ```ts
 * const u = hashToCurve(new Uint8Array(), new TextEncoder().encode('QUUX-V01-CS02-with-curve25519_XMD:SHA-512_ELL2_RO_'));
 * ```
 */
export function hashToCurve(msg: Uint8Array, dst: Uint8Array): Uint8Array {
  assertBytes(msg, 'msg');
  assertDst(dst);
  return hashToCurveRef(msg, dst);
}

/**
 * Maps every record to its PSI point, `encode_to_curve(ekm || record)` with the PSI DST.
 * Returns the points as one flat array of `records.length * 32` bytes.
 *
 * @param records - record bytes (already normalised by the caller)
 * @param ekm - the session binding value (empty in interop mode)
 * @param dst - the domain-separation tag (default: the PSI suite's DST)
 * @example
 * ```ts
 * const flat = encodeToCurveBatch([utf8('a'), utf8('b')], new Uint8Array());
 * flat.length; // 64
 * ```
 */
export function encodeToCurveBatch(records: readonly Uint8Array[], ekm: Uint8Array, dst: Uint8Array = PSI_DST): Uint8Array {
  assertBytes(ekm, 'ekm');
  assertDst(dst);
  if (!Array.isArray(records)) throw new TypeError('records must be an array of Uint8Array');
  for (let i = 0; i < records.length; i++) assertBytes(records[i], `records[${i}]`);
  const wasm = getWasm();
  if (wasm !== undefined) return encodeToCurveFast(wasm, records, ekm, dst);
  const out = new Uint8Array(records.length * POINT_BYTES);
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    out.set(encodeToCurveRef(ekm.length ? concatBytes(ekm, r) : r, dst), i * POINT_BYTES);
  }
  return out;
}
