/**
 * The SM2 recommended curve (GB/T 32918.5-2017) for the PPCA 9-2023 interconnection suites:
 * constants, strict point decoding, X9.62 compressed encoding and the two hash-to-curve maps
 * (`../shared/interop/PPCA-ECDH-PSI.md` §4.2, §4.3). Portable: noble's generic short-Weierstrass
 * arithmetic; SM3 comes from the platform (OpenSSL in Node.js).
 * @module
 */
import { mod as modN, pow } from '@noble/curves/abstract/modular.js';
import { weierstrass } from '@noble/curves/abstract/weierstrass.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { InvalidPointError, UnsupportedError } from '../../errors.js';
import { getNodeCrypto } from '../../platform/node.js';
import { assertBytes } from '../../utils/bytes.js';

/** GB/T 32918.5-2017 §A (the recommended 256-bit curve; OpenSSL `NID_sm2`). Cofactor 1, p ≡ 3 (mod 4). */
export const SM2_P = 0xfffffffeffffffffffffffffffffffffffffffff00000000ffffffffffffffffn;
/** Order of the base point (prime). */
export const SM2_N = 0xfffffffeffffffffffffffffffffffff7203df6b21c6052b53bbf40939d54123n;
const SM2_A = SM2_P - 3n;
const SM2_B = 0x28e9fa9e9d9f5e344d5a9e4bcf6509a7f39789f515ab8f92ddbcbd414d940e93n;
const SM2_GX = 0x32c4ae2c1f1981195f9904466a39c9948fe30bbff2660be1715a4589334c74c7n;
const SM2_GY = 0xbc3736a2f4f6779c59bdcee36b692153d0a9877cc62a474002df32e52139f0a0n;

/** Bytes of a compressed SM2 point (X9.62: `02`/`03` ‖ x, 32 bytes big-endian). */
export const SM2_COMPRESSED_BYTES = 33;
/** Bytes of an uncompressed SM2 point (`04` ‖ x ‖ y). */
export const SM2_UNCOMPRESSED_BYTES = 65;

/** noble's point class on the SM2 curve (projective coordinates, complete formulas). */
export const Sm2Point = weierstrass<bigint>({ p: SM2_P, n: SM2_N, h: 1n, a: SM2_A, b: SM2_B, Gx: SM2_GX, Gy: SM2_GY });
/** A point of {@link Sm2Point}. */
export type Sm2PointValue = InstanceType<typeof Sm2Point>;

const mod = (x: bigint): bigint => modN(x, SM2_P);
// noble's pow does not reduce its base: reduce first.
const powMod = (base: bigint, exp: bigint): bigint => pow(mod(base), exp, SM2_P);

const SQRT_EXP = (SM2_P + 1n) / 4n;

/** The even y with y² = x³ + ax + b, or undefined when the right side is not a square. */
function evenYFor(x: bigint): bigint | undefined {
  const rhs = mod(x * x * x + SM2_A * x + SM2_B);
  // p ≡ 3 (mod 4): the candidate root is rhs^((p+1)/4); it is a root iff rhs is a square.
  const y = powMod(rhs, SQRT_EXP);
  if ((y * y) % SM2_P !== rhs) return undefined;
  // Both roots ±y: pick the even one, as EC_POINT_set_compressed_coordinates(…, y_bit = 0) does.
  return (y & 1n) === 0n ? y : SM2_P - y;
}

const bytesToBigInt = (b: Uint8Array): bigint => {
  let x = 0n;
  for (let i = 0; i < b.length; i++) x = (x << 8n) | BigInt(b[i]!);
  return x;
};

function bigIntTo32(x: bigint, out: Uint8Array, offset: number): void {
  for (let i = 31; i >= 0; i--) {
    out[offset + i] = Number(x & 0xffn);
    x >>= 8n;
  }
}

/** X9.62 compressed encoding of the affine point (x, y) into `out` at `offset` (33 bytes). */
function writeCompressed(x: bigint, y: bigint, out: Uint8Array, offset: number): void {
  out[offset] = (y & 1n) === 0n ? 0x02 : 0x03;
  bigIntTo32(x, out, offset + 1);
}

/**
 * Decodes an SM2 point: 33-byte X9.62 compressed or 65-byte uncompressed, as the reference's
 * `EC_POINT_oct2point` accepts (brief §4.2). Throws `InvalidPointError` for a wrong length or
 * prefix, a coordinate ≥ p, an x with no point, a point off the curve, or the identity (which has
 * no encoding of these lengths; the one-byte `00` form is refused by length).
 *
 * @example
 * ```ts
 * const P = decodeSm2Point(bytes33);
 * ```
 */
export function decodeSm2Point(bytes: Uint8Array): Sm2PointValue {
  assertBytes(bytes, 'bytes');
  if (bytes.length !== SM2_COMPRESSED_BYTES && bytes.length !== SM2_UNCOMPRESSED_BYTES) {
    throw new InvalidPointError('SM2 point must be 33 (compressed) or 65 (uncompressed) bytes');
  }
  try {
    // noble checks the prefix, x, y < p, that the point is on the curve and not the identity.
    const P = Sm2Point.fromBytes(bytes);
    P.assertValidity();
    return P;
  } catch (cause) {
    throw new InvalidPointError('not a point of the SM2 curve', { cause });
  }
}

/**
 * X9.62 compressed encoding (33 bytes) of a point other than the identity.
 *
 * @example
 * ```ts
 * encodeSm2Point(Sm2Point.BASE); // 03 32c4ae2c…
 * ```
 */
export function encodeSm2Point(P: Sm2PointValue): Uint8Array {
  if (P.is0()) throw new InvalidPointError('the identity has no compressed encoding');
  const { x, y } = P.toAffine();
  const out = new Uint8Array(SM2_COMPRESSED_BYTES);
  writeCompressed(x, y, out, 0);
  return out;
}

/** The reference's bound on tries (yacl `HashToCurve(TryAndRehash_SHA2)`): failure has probability 2⁻¹⁰⁰. */
export const SM2_HASH_MAX_TRIES = 100;
const MAX_TRIES = SM2_HASH_MAX_TRIES;

/**
 * `sm2-sha256-tar`: ⟨SM2, SHA-256, TRY_AND_REHASH⟩ as SecretFlow computes it (brief §4.2):
 * d = SHA-256(item); up to 100 times x = int(d) mod p, take the even y if x is on the curve,
 * else d = SHA-256(d) (the 32 digest bytes, not the reduced x). Writes 33-byte compressed points.
 *
 * @example
 * ```ts
 * const H = hashToSm2Sha256Tar(new TextEncoder().encode('alice')); // 02bd3064…
 * ```
 */
export function hashToSm2Sha256Tar(item: Uint8Array, out = new Uint8Array(SM2_COMPRESSED_BYTES), offset = 0): Uint8Array {
  let d = sha256(item);
  for (let i = 0; i < MAX_TRIES; i++) {
    const x = mod(bytesToBigInt(d));
    const y = evenYFor(x);
    if (y !== undefined) {
      writeCompressed(x, y, out, offset);
      return out;
    }
    d = sha256(d);
  }
  throw new InvalidPointError('hash to SM2 failed after 100 tries');
}

/** SM3 (GB/T 32905) of `data` through the platform; `UnsupportedError` where there is none. */
export function sm3(data: Uint8Array): Uint8Array {
  const c = getNodeCrypto();
  if (!c) throw new UnsupportedError('SM3 needs node:crypto (OpenSSL); it is not available in this runtime');
  return new Uint8Array(c.createHash('sm3').update(data).digest());
}

/**
 * `sm2-sm3-tai`: ⟨SM2, SM3, TRY_AND_INCREMENT⟩, this project's reading (candidate A of brief
 * §4.3; no reference implements the suite): x = int(SM3(item), big-endian) mod p; while x is not
 * the abscissa of a point, x = x + 1 mod p; the even y; 33-byte compressed.
 *
 * @example
 * ```ts
 * const H = hashToSm2Sm3Tai(new TextEncoder().encode('alice')); // 02f8cd5c…
 * ```
 */
export function hashToSm2Sm3Tai(item: Uint8Array, out = new Uint8Array(SM2_COMPRESSED_BYTES), offset = 0): Uint8Array {
  let x = mod(bytesToBigInt(sm3(item)));
  // Same bound as the re-hash map; about half the field elements are abscissae.
  for (let i = 0; i < MAX_TRIES; i++) {
    const y = evenYFor(x);
    if (y !== undefined) {
      writeCompressed(x, y, out, offset);
      return out;
    }
    x = mod(x + 1n);
  }
  throw new InvalidPointError('hash to SM2 failed after 100 tries');
}

/**
 * The scalar of a 32-byte big-endian string; `RangeError` unless it is in [1, n−1].
 *
 * @example
 * ```ts
 * const k = sm2ScalarFromBytes(generateSm2Scalar());
 * ```
 */
export function sm2ScalarFromBytes(scalar: Uint8Array): bigint {
  assertBytes(scalar, 'scalar', 32);
  const k = bytesToBigInt(scalar);
  if (k === 0n || k >= SM2_N) throw new RangeError('scalar must be in [1, n-1]');
  return k;
}

/**
 * A fresh secret scalar in [1, n−1] as 32 bytes big-endian (rejection sampling from the platform
 * CSPRNG).
 *
 * @example
 * ```ts
 * const k = generateSm2Scalar();
 * ```
 */
export function generateSm2Scalar(): Uint8Array {
  const out = new Uint8Array(32);
  for (;;) {
    globalThis.crypto.getRandomValues(out);
    const k = bytesToBigInt(out);
    if (k !== 0n && k < SM2_N) return out;
  }
}
