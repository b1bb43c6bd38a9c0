/**
 * Constants of the curve25519 ECDH-PSI suite (draft-wang-ppm-ecdh-psi-01, code point 4,
 * `curve25519_XMD_SHA512_ELL2_NU_`).
 * @module
 */

/** Field prime p = 2^255 - 19 (RFC 7748 §4.1). */
export const P = (1n << 255n) - 19n;

/** Montgomery coefficient A of curve25519, v^2 = u^3 + A*u^2 + u (RFC 7748 §4.1). */
export const A = 486662n;

/** Length in bytes of an encoded point (the little-endian u-coordinate, RFC 7748 §5). */
export const POINT_BYTES = 32;

/** Length in bytes of a secret scalar (an X25519 secret key, RFC 7748 §5). */
export const SCALAR_BYTES = 32;

/** ASCII of the domain-separation tag the draft fixes for the curve25519 suite. */
export const PSI_DST_STRING = 'ECDH-PSI-V01-curve25519_XMD_SHA512_ELL2_NU_';

/** The domain-separation tag as bytes. */
export const PSI_DST: Uint8Array = new TextEncoder().encode(PSI_DST_STRING);

/**
 * u-coordinates of the points of small order on curve25519 (orders 1, 2, 4 and 8), as integers.
 * Multiplying any of them by a clamped scalar gives u = 0, so they are rejected on receipt.
 * Values from the curve's torsion subgroup (RFC 7748 §7 notes the all-zero output they produce).
 */
export const LOW_ORDER_U: readonly bigint[] = [
  0n,
  1n,
  325606250916557431795983626356110631294008115727848805560023387167927233504n,
  39382357235489614581723060781553021112529911719440698176882885853963445705823n,
];
