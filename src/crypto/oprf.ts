/**
 * EC-OPRF scalars on the PSI group (2HashDH, Jarecki et al.; the construction SecretFlow ships as
 * "unbalanced PSI"): F_k(x) = k·H(x) with H = the suite's `encode_to_curve`, the querier blinding
 * H(x) with r and unblinding with r^-1 mod ℓ.
 *
 * Why this group and how the inverse is done. The group is curve25519's prime-order subgroup
 * (order ℓ = 2^252 + 27742317777372353535851937790883648493) reached through X25519's u-only
 * ladder, so that the native, OpenSSL, WebCrypto and noble backends all serve the OPRF unchanged
 * (ristretto255 would be cleaner algebra but runs ~30x slower here: DESIGN.md §3). Two facts make it
 * correct:
 * - `encode_to_curve` clears the cofactor (RFC 9380 §6.7.1, h_eff = 8), so every H(x) — and every
 *   multiple of it — has order ℓ, and X25519(s, u(P)) = u((c mod ℓ)·P) with c = clamp(s) (RFC 7748
 *   §5). The u-only form loses only the sign of P, and u(c·P) = u(c·(−P)), so nothing is lost.
 * - clamping means a 32-byte scalar s acts as c = 2^254 + 8t for some t < 2^251: not every residue
 *   mod ℓ is reachable. The unblinding scalar must act as c_r^-1 mod ℓ; we solve
 *   t ≡ (c_r^-1 − 2^254)·8^-1 (mod ℓ) and keep r only if t < 2^251 (about half of all r), else draw
 *   a fresh r. Conditioning r this way leaves c_r uniform on a set of ~2^250 residues (X25519 keys
 *   already range over 2^251 of them); hiding H(x) from the holder rests on the discrete-log-type
 *   assumptions the PSI suite already makes.
 * These scalars are secrets; the BigInt arithmetic here is not constant time, but it runs once per
 * query on the querier's own random r, never on the holder's long-term key.
 * @module
 */
import { mod, pow } from '@noble/curves/abstract/modular.js';
import { SCALAR_BYTES } from './constants.js';
import { bytesToNumberLE, numberToBytesLE } from './field-ref.js';
import { generateScalar } from './scalar.js';
import { assertBytes } from '../utils/bytes.js';

/** Order ℓ of curve25519's prime-order subgroup (RFC 7748 §4.1). */
export const GROUP_ORDER = (1n << 252n) + 27742317777372353535851937790883648493n;

const TWO_254 = 1n << 254n;
const T_LIMIT = 1n << 251n;

const modL = (a: bigint): bigint => mod(a, GROUP_ORDER);
// noble's pow does not reduce its base: reduce first.
const powL = (base: bigint, exp: bigint): bigint => pow(modL(base), exp, GROUP_ORDER);

const INV8 = powL(8n, GROUP_ORDER - 2n);

/**
 * The integer an X25519 secret key acts as (RFC 7748 §5 `decodeScalar25519`), reduced mod ℓ.
 *
 * @example
 * ```ts
 * const c = clampedScalarModOrder(generateScalar()); // 0 < c < GROUP_ORDER
 * ```
 */
export function clampedScalarModOrder(scalar: Uint8Array): bigint {
  assertBytes(scalar, 'scalar', SCALAR_BYTES);
  const k = scalar.slice();
  k[0]! &= 248;
  k[31]! &= 127;
  k[31]! |= 64;
  return modL(bytesToNumberLE(k));
}

/**
 * A 32-byte X25519 secret key that acts on the prime-order subgroup as `c` (mod ℓ), or `undefined`
 * when no clamped scalar does (about half of all residues; see the module comment).
 */
function scalarActingAs(c: bigint): Uint8Array | undefined {
  const t = modL((c - TWO_254) * INV8);
  if (t >= T_LIMIT) return undefined;
  // 2^254 + 8t is already clamped: bit 254 set, bit 255 and the three low bits clear.
  return numberToBytesLE(TWO_254 + 8n * t, SCALAR_BYTES);
}

/**
 * A fresh blinding pair for one OPRF query: `blind` masks the hashed keys (X25519(blind, H(x))),
 * `unblind` removes it from the holder's answer (X25519(unblind, k·r·H(x)) = k·H(x)). Draw a new
 * pair for every query.
 *
 * @example
 * ```ts
 * const { blind, unblind } = generateOprfBlind();
 * const blinded = await group.multiplyBatch(blind, hashed);
 * const evaluated = await holderGroup.multiplyBatch(oprfKey, blinded);
 * const outputs = await group.multiplyBatch(unblind, evaluated); // = X25519(oprfKey, hashed)
 * ```
 */
export function generateOprfBlind(): { blind: Uint8Array; unblind: Uint8Array } {
  for (;;) {
    const blind = generateScalar();
    const c = clampedScalarModOrder(blind);
    const unblind = scalarActingAs(powL(c, GROUP_ORDER - 2n));
    if (unblind !== undefined) return { blind, unblind };
  }
}
