/**
 * SM2 batch scalar multiplication: the one seam behind which a faster implementation (the native
 * addon) is chosen. Points travel as flat arrays of 33-byte X9.62 compressed encodings.
 * @module
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { InvalidPointError, UnsupportedError } from '../../errors.js';
import { getNodeCrypto } from '../../platform/node.js';
import { assertBytes, concatBytes } from '../../utils/bytes.js';
import {
  SM2_COMPRESSED_BYTES,
  SM2_HASH_MAX_TRIES,
  SM2_P,
  Sm2Point,
  decodeSm2Point,
  encodeSm2Point,
  hashToSm2Sha256Tar,
  hashToSm2Sm3Tai,
  sm2ScalarFromBytes,
} from './curve.js';
import { nativeSm2LiftX, nativeSm2MultiplyBatch } from './native.js';

export {
  SM2_COMPRESSED_BYTES,
  SM2_N,
  SM2_P,
  decodeSm2Point,
  encodeSm2Point,
  generateSm2Scalar,
  hashToSm2Sha256Tar,
  hashToSm2Sm3Tai,
  sm3,
} from './curve.js';

function checkArgs(scalar: Uint8Array, points: Uint8Array): bigint {
  assertBytes(points, 'points');
  if (points.length % SM2_COMPRESSED_BYTES !== 0) throw new RangeError('points length must be a multiple of 33');
  return sm2ScalarFromBytes(scalar);
}

/**
 * n × 33-byte compressed SM2 points → n × 33-byte compressed k·P; k is 32 bytes big-endian in
 * [1, n−1]. Throws InvalidPointError (with the index) for an invalid input point.
 *
 * @example
 * ```ts
 * const masked = sm2MultiplyBatch(generateSm2Scalar(), points);
 * ```
 */
export function sm2MultiplyBatch(scalar: Uint8Array, points: Uint8Array): Uint8Array {
  // The native addon's constant-time kernels (native/sm2*.c) when the addon is present; the
  // portable implementation wherever it is absent (browsers, no compiler, DATAPORT_NATIVE=0).
  return nativeSm2MultiplyBatch(scalar, points) ?? sm2MultiplyBatchPortable(scalar, points);
}

/**
 * The portable implementation of {@link sm2MultiplyBatch} (noble's generic short-Weierstrass
 * arithmetic, about a millisecond per point). noble's `multiply` is written to run in time
 * independent of the scalar, but BigInt arithmetic gives no hard constant-time guarantee.
 *
 * @example
 * ```ts
 * const masked = sm2MultiplyBatchPortable(generateSm2Scalar(), points);
 * ```
 */
export function sm2MultiplyBatchPortable(scalar: Uint8Array, points: Uint8Array): Uint8Array {
  const k = checkArgs(scalar, points);
  const n = points.length / SM2_COMPRESSED_BYTES;
  const out = new Uint8Array(points.length);
  for (let i = 0; i < n; i++) {
    let P: InstanceType<typeof Sm2Point>;
    try {
      P = decodeSm2Point(points.subarray(i * SM2_COMPRESSED_BYTES, (i + 1) * SM2_COMPRESSED_BYTES));
    } catch (cause) {
      throw new InvalidPointError(`invalid SM2 point at index ${i}`, { cause });
    }
    // Cofactor 1 and k in [1, n-1]: k·P is never the identity for P ≠ O.
    out.set(encodeSm2Point(P.multiply(k)), i * SM2_COMPRESSED_BYTES);
  }
  return out;
}

/**
 * The two maps to SM2 of the PPCA suites (src/crypto/sm2/curve.ts): `sha256-tar`
 * (`sm2-sha256-tar`, re-hash with SHA-256) and `sm3-tai` (`sm2-sm3-tai`, SM3 then increment).
 *
 * @example
 * ```ts
 * const map: Sm2HashMap = 'sm3-tai';
 * ```
 */
export type Sm2HashMap = 'sha256-tar' | 'sm3-tai';

const EMPTY = new Uint8Array(0);

/**
 * Hashes every record, preceded by `prefix` (dataport's own PSI passes the session binding there;
 * PPCA passes nothing), to SM2 with `map`; flat `n × 33` bytes, the same bytes as
 * `hashToSm2Sha256Tar` / `hashToSm2Sm3Tai` of `prefix ‖ record` one by one. The digests are taken
 * here and the square roots (the cost: ~200 µs per record in BigInt) in the native addon's
 * `sm2LiftX` when present, all pending items at once per try; the portable maps otherwise.
 * Throws `InvalidPointError` if a record finds no point in 100 tries (probability 2⁻¹⁰⁰).
 *
 * @example
 * ```ts
 * const points = hashToSm2Batch('sm3-tai', [new TextEncoder().encode('alice')]);
 * ```
 */
export function hashToSm2Batch(map: Sm2HashMap, records: readonly Uint8Array[], prefix: Uint8Array = EMPTY): Uint8Array {
  if (map !== 'sha256-tar' && map !== 'sm3-tai') throw new TypeError("map must be 'sha256-tar' or 'sm3-tai'");
  assertBytes(prefix, 'prefix');
  const n = records.length;
  for (let i = 0; i < n; i++) if (!(records[i] instanceof Uint8Array)) assertBytes(records[i], `records[${i}]`);
  const out = new Uint8Array(n * SM2_COMPRESSED_BYTES);
  const xs = new Uint8Array(n * 32);
  if (map === 'sm3-tai') {
    const c = getNodeCrypto();
    if (!c) throw new UnsupportedError('SM3 needs node:crypto (OpenSSL); it is not available in this runtime');
    for (let i = 0; i < n; i++) xs.set(c.createHash('sm3').update(prefix).update(records[i]!).digest(), i * 32);
  } else {
    for (let i = 0; i < n; i++) xs.set(prefix.length === 0 ? sha256(records[i]!) : sha256(concatBytes(prefix, records[i]!)), i * 32);
  }
  // sm3-tai: every increment inside the addon; sha256-tar: one try per call, re-hashing the failures.
  const lifted = nativeSm2LiftX(xs, map === 'sm3-tai' ? SM2_HASH_MAX_TRIES - 1 : 0);
  if (lifted === undefined) {
    const one = map === 'sm3-tai' ? hashToSm2Sm3Tai : hashToSm2Sha256Tar;
    for (let i = 0; i < n; i++) one(prefix.length === 0 ? records[i]! : concatBytes(prefix, records[i]!), out, i * SM2_COMPRESSED_BYTES);
    return out;
  }
  out.set(lifted.points);
  let pending: number[] = [];
  for (let i = 0; i < n; i++) if (out[i * SM2_COMPRESSED_BYTES] === 0) pending.push(i);
  for (let t = 1; pending.length > 0 && map === 'sha256-tar' && t < SM2_HASH_MAX_TRIES; t++) {
    const d = new Uint8Array(pending.length * 32);
    pending.forEach((i, j) => {
      const next = sha256(xs.subarray(i * 32, i * 32 + 32)); // d = SHA-256(d): the digest, not x mod p
      xs.set(next, i * 32);
      d.set(next, j * 32);
    });
    const r = nativeSm2LiftX(d, 0)!;
    const still: number[] = [];
    pending.forEach((i, j) => {
      if (r.points[j * SM2_COMPRESSED_BYTES] === 0) still.push(i);
      else out.set(r.points.subarray(j * SM2_COMPRESSED_BYTES, (j + 1) * SM2_COMPRESSED_BYTES), i * SM2_COMPRESSED_BYTES);
    });
    pending = still;
  }
  if (pending.length > 0) throw new InvalidPointError('hash to SM2 failed after 100 tries');
  return out;
}

/** p big-endian, for the x < p comparison on encodings. */
const P_BYTES = ((): Uint8Array => {
  const out = new Uint8Array(32);
  let v = SM2_P;
  for (let i = 31; i >= 0; i--, v >>= 8n) out[i] = Number(v & 0xffn);
  return out;
})();

/**
 * Checks a flat batch of received compressed SM2 points before they meet a secret: the length is a
 * multiple of 33, every prefix is 02 or 03 (so not the identity, `00`, and not uncompressed), every
 * x < p (bytes), and every x the abscissa of a curve point — one square root per point, in the
 * native addon (`sm2LiftX`, eight at a time with IFMA: a few µs per point) or with the portable
 * decoder where the addon is absent (BigInt: ~0.1 ms, still below the portable multiplication).
 * Public data: not constant time. Throws `InvalidPointError` naming `firstPosition + i`.
 *
 * @example
 * ```ts
 * checkSm2PointBatch(batch.encodedPoints, pointsSoFar);
 * ```
 */
export function checkSm2PointBatch(flat: Uint8Array, firstPosition = 0): void {
  assertBytes(flat, 'flat');
  if (flat.length % SM2_COMPRESSED_BYTES !== 0) throw new InvalidPointError('invalid SM2 point: length');
  const n = flat.length / SM2_COMPRESSED_BYTES;
  const fail = (i: number, why: string): never => {
    throw new InvalidPointError(`invalid SM2 point at index ${firstPosition + i}: ${why}`);
  };
  const xs = new Uint8Array(n * 32);
  for (let i = 0; i < n; i++) {
    const off = i * SM2_COMPRESSED_BYTES;
    if (flat[off] !== 0x02 && flat[off] !== 0x03) fail(i, 'prefix');
    if (!xBelowP(flat, off + 1)) fail(i, 'x >= p');
    xs.set(flat.subarray(off + 1, off + SM2_COMPRESSED_BYTES), i * 32);
  }
  const lifted = nativeSm2LiftX(xs, 0);
  for (let i = 0; i < n; i++) {
    if (lifted !== undefined) {
      if (lifted.points[i * SM2_COMPRESSED_BYTES] === 0) fail(i, 'not on the curve');
    } else {
      try {
        decodeSm2Point(flat.subarray(i * SM2_COMPRESSED_BYTES, (i + 1) * SM2_COMPRESSED_BYTES));
      } catch {
        fail(i, 'not on the curve');
      }
    }
  }
}

function xBelowP(b: Uint8Array, off: number): boolean {
  for (let i = 0; i < 32; i++) {
    const d = b[off + i]! - P_BYTES[i]!;
    if (d !== 0) return d < 0;
  }
  return false;
}
