/**
 * Secret scalars: 32 random bytes used as an X25519 secret key (RFC 7748 §5 clamps them on use).
 * @module
 */
import { SCALAR_BYTES } from './constants.js';

/**
 * A fresh secret scalar from the platform CSPRNG (`crypto.getRandomValues`).
 * Use a new one for every session: reusing a scalar across sessions turns the peer into a static
 * ECDH oracle (draft-wang-ppm-ecdh-psi-01 §5).
 *
 * @example
 * ```ts
 * const secretKey = generateScalar();
 * ```
 */
export function generateScalar(): Uint8Array {
  const out = new Uint8Array(SCALAR_BYTES);
  globalThis.crypto.getRandomValues(out);
  return out;
}

/** The order ℓ of curve25519's prime-order subgroup (RFC 7748 §4.1). */
const ELL = 2n ** 252n + 27742317777372353535851937790883648493n;

function scalarToBigInt(s: Uint8Array): bigint {
  let v = 0n;
  for (let i = s.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(s[i]!);
  return v;
}

function bigIntToScalar(v: bigint): Uint8Array {
  const out = new Uint8Array(SCALAR_BYTES);
  for (let i = 0; i < SCALAR_BYTES; i++) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/** a^-1 mod m for a coprime to m (extended Euclid; m is public). */
function invertMod(a: bigint, m: bigint): bigint {
  let [r0, r1] = [m, ((a % m) + m) % m];
  let [t0, t1] = [0n, 1n];
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [t0, t1] = [t1, t0 - q * t1];
  }
  return ((t0 % m) + m) % m;
}

/**
 * A fresh pair of X25519 secret keys `mask`, `unmask` that undo each other on the prime-order
 * subgroup: X25519(unmask, X25519(mask, u)) = u for every u of a point of order ℓ (the outputs of
 * `encode_to_curve`, which clears the cofactor), up to the sign that the u-coordinate drops anyway.
 *
 * X25519 clamps its scalar (RFC 7748 §5: bits 0–2 and 255 cleared, bit 254 set), so an inverse
 * mod ℓ cannot be used as it is. Both keys are therefore chosen already clamped: `unmask` = a
 * random clamped T, `mask` = the representative s of T^-1 mod ℓ with s ≡ 0 mod 8 and
 * 2^254 ≤ s < 2^255, which exists for about half of the T (8ℓ > 2^255): otherwise T is drawn
 * again. Clamping leaves both unchanged, so every backend (OpenSSL, the native addon, noble)
 * multiplies by exactly T and s, and T·s ≡ 1 mod ℓ. `mask` keeps about 250 bits of entropy.
 * The inversion runs on BigInt (not constant time) once per session; see SECURITY.md (payload).
 *
 * @example
 * ```ts
 * const { mask, unmask } = generateInvertibleScalarPair();
 * const back = await executor.multiply(unmask, await executor.multiply(mask, points)); // = points
 * ```
 */
export function generateInvertibleScalarPair(): { mask: Uint8Array; unmask: Uint8Array } {
  for (;;) {
    const t = generateScalar();
    t[0]! &= 248;
    t[31]! &= 127;
    t[31]! |= 64;
    const s = invertMod(scalarToBigInt(t), ELL);
    // s + jℓ ≡ 0 (mod 8): j ≡ -s·ℓ^-1 (mod 8); ℓ ≡ 5 (mod 8) and 5·5 ≡ 1, so ℓ^-1 ≡ 5.
    const j = (((-s * 5n) % 8n) + 8n) % 8n;
    const m = s + j * ELL;
    if (m >= 1n << 254n && m < 1n << 255n) return { mask: bigIntToScalar(m), unmask: t };
    t.fill(0);
  }
}
