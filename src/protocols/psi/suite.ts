/**
 * The groups dataport's own ECDH-PSI runs in (`--suite`): `curve25519` (the draft's code point 4,
 * the default) and `sm2-sm3` (the national curves end to end: SM2 with SM3, for deployments that
 * must use them). Everything the state machines do differently per suite is here: hashing a batch
 * of records to the group, masking, the wire width of a round-1 point, the checks on a received
 * one, and the value a jointly masked point contributes to round 2.
 *
 * sm2-sm3: H(record) = the `sm2-sm3-tai` map of the PPCA suites (src/crypto/sm2/, this project's
 * reading of PPCA 9-2023's ⟨SM2, SM3, TRY_AND_INCREMENT⟩) applied to `ekm ‖ record`, as the
 * curve25519 suite hashes `ekm ‖ record` (draft §3); points travel X9.62-compressed (33 bytes);
 * the round-2 value of a jointly masked point is its x-coordinate (32 bytes, like X25519's u, then
 * the same HKDF truncation). Dropping y's parity merges only P and −P, and −H(y)·ab = H(x)·ab would
 * need H(y) = −H(x): the map only outputs points of even y, and −P has the other parity.
 * @module
 */
import { POINT_BYTES } from '../../crypto/constants.js';
import { decodePointBatch } from '../../crypto/point.js';
import { ppcaHashBatch, type PpcaSuiteName } from '../../crypto/ppca-suite.js';
import { invert } from '@noble/curves/abstract/modular.js';
import { generateInvertibleScalarPair, generateScalar } from '../../crypto/scalar.js';
import { SM2_COMPRESSED_BYTES, SM2_N, checkSm2PointBatch, generateSm2Scalar, sm2MultiplyBatch } from '../../crypto/sm2/index.js';
import { concatBytes } from '../../utils/bytes.js';
import type { CryptoExecutor } from '../executor.js';
import { truncateValues } from './values.js';

/**
 * The suites of `dataport psi`, by their command-line names; the first is the default.
 *
 * @example
 * ```ts
 * PsiSuiteNames.includes('sm2-sm3'); // true
 * ```
 */
export const PsiSuiteNames = ['curve25519', 'sm2-sm3'] as const;

/**
 * One of {@link PsiSuiteNames}.
 *
 * @example
 * ```ts
 * const suite: PsiSuiteName = 'sm2-sm3';
 * ```
 */
export type PsiSuiteName = (typeof PsiSuiteNames)[number];

/** The PPCA map (and executor task name) the sm2-sm3 suite reuses. */
const SM2_MAP: PpcaSuiteName = 'sm2-sm3-tai';

/**
 * `suite` if it is one of {@link PsiSuiteNames}; else `TypeError` naming `name`.
 *
 * @example
 * ```ts
 * const suite = checkPsiSuite(options.suite ?? 'curve25519', 'options.suite');
 * ```
 */
export function checkPsiSuite(suite: unknown, name = 'suite'): PsiSuiteName {
  if (!(PsiSuiteNames as readonly unknown[]).includes(suite)) throw new TypeError(`${name} must be one of ${PsiSuiteNames.join(', ')}`);
  return suite as PsiSuiteName;
}

/**
 * Bytes of one round-1 point of the suite on the wire: 32 (curve25519 u) or 33 (compressed SM2).
 *
 * @example
 * ```ts
 * psiPointBytes('sm2-sm3'); // 33
 * ```
 */
export function psiPointBytes(suite: PsiSuiteName): number {
  return suite === 'curve25519' ? POINT_BYTES : SM2_COMPRESSED_BYTES;
}

/**
 * A fresh secret scalar of the suite's group (one per session: draft §5).
 *
 * @example
 * ```ts
 * const secret = generatePsiScalar('sm2-sm3');
 * ```
 */
export function generatePsiScalar(suite: PsiSuiteName): Uint8Array {
  return suite === 'curve25519' ? generateScalar() : generateSm2Scalar();
}

/**
 * H(ekm ‖ record)·scalar for every record: this party's round-1 points, flat, through the executor
 * (the worker pool's `hashToGroup`/`multiply` for curve25519, `ppcaHash`/`ppcaMultiply` for SM2,
 * inline where an executor lacks the optional SM2 methods).
 *
 * @example
 * ```ts
 * const round1 = await hashAndMask('sm2-sm3', executor, records, ekm, secret);
 * ```
 */
export async function hashAndMask(
  suite: PsiSuiteName,
  executor: CryptoExecutor,
  records: readonly Uint8Array[],
  ekm: Uint8Array,
  scalar: Uint8Array,
  signal?: AbortSignal,
): Promise<Uint8Array> {
  if (suite === 'curve25519') return executor.multiply(scalar, await executor.hashToGroup(records, ekm, signal), signal);
  const prefixed = ekm.length === 0 ? records : records.map((r) => concatBytes(ekm, r));
  const hashed = executor.ppcaHash ? await executor.ppcaHash(SM2_MAP, prefixed, signal) : ppcaHashBatch(SM2_MAP, prefixed);
  return multiplySm2(executor, scalar, hashed, signal);
}

function multiplySm2(executor: CryptoExecutor, scalar: Uint8Array, points: Uint8Array, signal?: AbortSignal): Promise<Uint8Array> {
  return executor.ppcaMultiply ? executor.ppcaMultiply(SM2_MAP, scalar, points, signal) : Promise.resolve(sm2MultiplyBatch(scalar, points));
}

/**
 * The checks on received round-1 points before they meet this party's secret (draft §5), naming
 * `firstPosition + i` in the `InvalidPointError`. curve25519: canonical, on the curve, not of low
 * order (`decodePointBatch`). sm2-sm3: prefix 02/03, x < p, x an abscissa (`checkSm2PointBatch`:
 * a square root per point in the native addon); the multiplication checks again.
 *
 * @example
 * ```ts
 * checkPeerPoints('sm2-sm3', batch.encodedPoints, received);
 * ```
 */
export function checkPeerPoints(suite: PsiSuiteName, points: Uint8Array, firstPosition: number): void {
  if (suite === 'curve25519') decodePointBatch(points, firstPosition);
  else checkSm2PointBatch(points, firstPosition);
}

/**
 * The peer's round-1 points times this party's secret, as round-2 values of `outBytes` each
 * (HKDF truncation, draft §3; 32 = untruncated): X25519 u, or the x-coordinate of the SM2 point.
 *
 * @example
 * ```ts
 * const values = await maskPeerPoints('sm2-sm3', executor, secret, peerPoints, 16);
 * ```
 */
export async function maskPeerPoints(
  suite: PsiSuiteName,
  executor: CryptoExecutor,
  scalar: Uint8Array,
  points: Uint8Array,
  outBytes: 16 | 24 | 32,
  signal?: AbortSignal,
): Promise<Uint8Array> {
  if (suite === 'curve25519') {
    if (typeof executor.multiplyAndTruncate === 'function') return executor.multiplyAndTruncate(scalar, points, outBytes, signal);
    return truncateValues(await executor.multiply(scalar, points, signal), outBytes);
  }
  const joint = await multiplySm2(executor, scalar, points, signal);
  const n = joint.length / SM2_COMPRESSED_BYTES;
  const xs = new Uint8Array(n * 32);
  for (let i = 0; i < n; i++) xs.set(joint.subarray(i * SM2_COMPRESSED_BYTES + 1, (i + 1) * SM2_COMPRESSED_BYTES), i * 32);
  joint.fill(0);
  const out = truncateValues(xs, outBytes);
  if (out !== xs) xs.fill(0);
  return out;
}

/**
 * A fresh secret `mask` of the suite's group with an `unmask` that undoes it on the group's points
 * (PSI with payload, payload.ts): curve25519 through `generateInvertibleScalarPair` (both keys
 * pre-clamped); sm2-sm3 (prime order n, scalars big-endian) mask⁻¹ mod n.
 *
 * @example
 * ```ts
 * const { mask, unmask } = generateInvertiblePsiScalarPair('sm2-sm3');
 * ```
 */
export function generateInvertiblePsiScalarPair(suite: PsiSuiteName): { mask: Uint8Array; unmask: Uint8Array } {
  if (suite === 'curve25519') return generateInvertibleScalarPair();
  const mask = generateSm2Scalar();
  let v = 0n;
  for (const b of mask) v = (v << 8n) | BigInt(b);
  let u = invert(v, SM2_N);
  const unmask = new Uint8Array(32);
  for (let i = 31; i >= 0; i--) {
    unmask[i] = Number(u & 0xffn);
    u >>= 8n;
  }
  return { mask, unmask };
}

/**
 * Every point of `points` (already checked with {@link checkPeerPoints} if a peer sent it) times
 * `scalar`, in the suite's encoding, through the executor.
 *
 * @example
 * ```ts
 * const masked = await multiplyPsiPoints('sm2-sm3', executor, secret, points);
 * ```
 */
export function multiplyPsiPoints(suite: PsiSuiteName, executor: CryptoExecutor, scalar: Uint8Array, points: Uint8Array, signal?: AbortSignal): Promise<Uint8Array> {
  return suite === 'curve25519' ? executor.multiply(scalar, points, signal) : multiplySm2(executor, scalar, points, signal);
}
