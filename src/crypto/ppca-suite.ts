/**
 * The PPCA 9-2023 ECDH-PSI suites as groups of the crypto core (`../shared/interop/PPCA-ECDH-PSI.md`
 * §4): hash to the group, fresh scalars, and the multiplication of a flat batch of encoded points.
 * Curve25519 multiplies through the X25519 backends of `group.ts`, SM2 through `sm2/`.
 * @module
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { InvalidPointError } from '../errors.js';
import { assertBytes } from '../utils/bytes.js';
import { POINT_BYTES } from './constants.js';
import type { Group } from './group.js';
import { generateScalar } from './scalar.js';
import { SM2_COMPRESSED_BYTES, SM2_UNCOMPRESSED_BYTES, decodeSm2Point, encodeSm2Point, generateSm2Scalar } from './sm2/curve.js';
import { checkSm2PointBatch, hashToSm2Batch, sm2MultiplyBatch } from './sm2/index.js';

/**
 * The suites dataport speaks over PPCA, by their command-line names.
 *
 * @example
 * ```ts
 * PpcaSuiteNames[0]; // 'curve25519-sha256-direct'
 * ```
 */
export const PpcaSuiteNames = ['curve25519-sha256-direct', 'sm2-sha256-tar', 'sm2-sm3-tai'] as const;

/**
 * One of {@link PpcaSuiteNames}.
 *
 * @example
 * ```ts
 * const suite: PpcaSuiteName = 'sm2-sha256-tar';
 * ```
 */
export type PpcaSuiteName = (typeof PpcaSuiteNames)[number];

/**
 * Bytes of one encoded point of a suite on the wire (`enc` items): 32 (X25519 u, little-endian)
 * or 33 (SM2, X9.62 compressed).
 *
 * @example
 * ```ts
 * ppcaPointBytes('sm2-sm3-tai'); // 33
 * ```
 */
export function ppcaPointBytes(suite: PpcaSuiteName): 32 | 33 {
  return checkSuite(suite) === 'curve25519-sha256-direct' ? POINT_BYTES : SM2_COMPRESSED_BYTES;
}

function checkSuite(suite: unknown): PpcaSuiteName {
  if (!(PpcaSuiteNames as readonly unknown[]).includes(suite)) throw new TypeError(`suite must be one of ${PpcaSuiteNames.join(', ')}`);
  return suite as PpcaSuiteName;
}

/**
 * Hashes every record to the suite's group; flat `n × ppcaPointBytes(suite)` bytes.
 * `curve25519-sha256-direct`: SHA-256(record) used as is as the X25519 u-coordinate (§4.1);
 * `sm2-sha256-tar`: §4.2; `sm2-sm3-tai`: candidate A of §4.3.
 *
 * @example
 * ```ts
 * const points = ppcaHashBatch('curve25519-sha256-direct', [new TextEncoder().encode('alice')]);
 * ```
 */
export function ppcaHashBatch(suite: PpcaSuiteName, records: readonly Uint8Array[]): Uint8Array {
  const size = ppcaPointBytes(suite);
  // SM2: in one batch, so the native addon takes the square roots (hashToSm2Batch).
  if (suite !== 'curve25519-sha256-direct') return hashToSm2Batch(suite === 'sm2-sha256-tar' ? 'sha256-tar' : 'sm3-tai', records);
  const out = new Uint8Array(records.length * size);
  for (let i = 0; i < records.length; i++) {
    const r = records[i];
    if (!(r instanceof Uint8Array)) assertBytes(r, `records[${i}]`);
    out.set(sha256(r), i * size);
  }
  return out;
}

/**
 * A fresh secret scalar for the suite: 32 random bytes for X25519 (clamped on use), 32 bytes
 * big-endian in [1, n−1] for SM2. One per run: a reused scalar makes this party an ECDH oracle.
 *
 * @example
 * ```ts
 * const secretKey = generatePpcaScalar('sm2-sha256-tar');
 * ```
 */
export function generatePpcaScalar(suite: PpcaSuiteName): Uint8Array {
  return checkSuite(suite) === 'curve25519-sha256-direct' ? generateScalar() : generateSm2Scalar();
}

/**
 * Checks a peer's `ciphertext` of `count` points and returns it as `count` points of the suite's
 * own width. X25519 takes any 32-byte string (RFC 7748 §5; the reference does not check either);
 * SM2 items may be 33-byte compressed or 65-byte uncompressed (the reference decodes with
 * `EC_POINT_oct2point`) and must be points of the curve other than the identity; uncompressed
 * ones are re-encoded compressed. Throws `InvalidPointError` naming the index, or `RangeError`
 * when the length is not `count` items.
 *
 * @example
 * ```ts
 * const points = ppcaNormalizePeerPoints('sm2-sha256-tar', batch.ciphertext, batch.count);
 * ```
 */
export function ppcaNormalizePeerPoints(suite: PpcaSuiteName, ciphertext: Uint8Array, count: number): Uint8Array {
  assertBytes(ciphertext, 'ciphertext');
  const size = ppcaPointBytes(suite);
  if (count === 0 || ciphertext.length === count * size) {
    if (ciphertext.length !== count * size) throw new RangeError('ciphertext length differs from count');
    // Validated again by the multiplication; checked here so a bad point fails before any work
    // (in the native addon: a square root per point, not a BigInt decoding).
    if (size === SM2_COMPRESSED_BYTES) checkSm2PointBatch(ciphertext);
    return ciphertext;
  }
  if (size === SM2_COMPRESSED_BYTES && ciphertext.length === count * SM2_UNCOMPRESSED_BYTES) {
    const out = new Uint8Array(count * size);
    for (let i = 0; i < count; i++) {
      out.set(encodeSm2Point(checkSm2(ciphertext.subarray(i * SM2_UNCOMPRESSED_BYTES, (i + 1) * SM2_UNCOMPRESSED_BYTES), i)), i * size);
    }
    return out;
  }
  throw new RangeError('ciphertext length differs from count');
}

function checkSm2(bytes: Uint8Array, i: number): ReturnType<typeof decodeSm2Point> {
  try {
    return decodeSm2Point(bytes);
  } catch (cause) {
    throw new InvalidPointError(`invalid SM2 point at index ${i}`, { cause });
  }
}

/**
 * Multiplies every point of a flat batch by `scalar` in the suite's group: X25519 through `group`
 * (which rejects an all-zero result with `InvalidPointError`, as the reference aborts), SM2
 * through {@link sm2MultiplyBatch}.
 *
 * @example
 * ```ts
 * const masked = await ppcaMultiplyBatch('curve25519-sha256-direct', secretKey, points, await createGroup());
 * ```
 */
export async function ppcaMultiplyBatch(suite: PpcaSuiteName, scalar: Uint8Array, points: Uint8Array, group: Group, signal?: AbortSignal): Promise<Uint8Array> {
  if (checkSuite(suite) === 'curve25519-sha256-direct') return group.multiplyBatch(scalar, points, signal);
  return sm2MultiplyBatch(scalar, points);
}
