/** Names of the scalar-multiplication backends. */
export const BackendNames = ['native', 'node', 'webcrypto', 'noble'] as const;

/**
 * `native` (dataport's own C addon, Node.js only, when it was built at install), `node`
 * (node:crypto / OpenSSL), `webcrypto` (SubtleCrypto X25519) or `noble` (@noble/curves).
 */
export type BackendName = (typeof BackendNames)[number];

/** A loaded scalar for one backend (imported once, used for a whole batch or session). */
export interface X25519Backend {
  readonly name: BackendName;
  /**
   * X25519(scalar, u) for each 32-byte u of the flat `points` array (RFC 7748 §5: the scalar is
   * clamped and the top bit of u masked). Returns `undefined` at index positions whose result is the
   * all-zero value by throwing instead: callers get `InvalidPointError` for low-order inputs.
   */
  multiplyBatch(scalar: Uint8Array, points: Uint8Array, signal?: AbortSignal): Promise<Uint8Array>;
}

/** DER prefix of a PKCS#8 X25519 private key (RFC 8410 §7), followed by the 32 secret bytes. */
export const PKCS8_X25519_PREFIX = new Uint8Array([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20,
]);

/**
 * The loaded native addon (build/dataport_x25519.node, from native/x25519.c). Internal: reached
 * only through the `native` backend.
 */
export interface NativeX25519 {
  /**
   * Which kernel runs by default here: eight points at once with AVX-512 IFMA, four with AVX2, or
   * 64-bit C.
   */
  readonly kernel: NativeKernel;
  /** The kernels this CPU can run, fastest first (`portable` always last). */
  readonly kernels: readonly NativeKernel[];
  /** Interface version of the build. */
  readonly abi: number;
  /**
   * out[32i..] = X25519(scalar, points[32i..]); returns the index of the first all-zero result
   * (low-order input) or -1. `kernel` forces one of {@link NativeX25519.kernels}.
   */
  x25519Batch(scalar: Uint8Array, points: Uint8Array, out: Uint8Array, kernel?: NativeKernel): number;
  /**
   * SM2 (native/sm2.c): out[33i..] = scalar·points[33i..] for X9.62-compressed points, the scalar
   * 32 bytes big-endian in [1, n−1] (RangeError otherwise); returns the index of the first invalid
   * input point or -1. `kernel` forces one of {@link NativeX25519.sm2Kernels}. Reached through
   * `src/crypto/sm2/native.ts`.
   */
  sm2MultiplyBatch(scalar: Uint8Array, points: Uint8Array, out: Uint8Array, kernel?: NativeSm2Kernel): number;
  /** The SM2 kernels this CPU can run, fastest first (`portable` always last). */
  readonly sm2Kernels: readonly NativeSm2Kernel[];
  /**
   * SM2 hash-to-curve step on public data (native/sm2.c `dp_sm2_lift_x`): for each 32-byte
   * big-endian x of `xs`, the first of x mod p, +1, …, +maxIncrements that is an abscissa, as
   * 02 ‖ x into out[33i..], or out[33i] = 0 when none is; returns how many found none. Absent from
   * builds that predate it (callers feature-detect it and use the portable map).
   */
  sm2LiftX?(xs: Uint8Array, out: Uint8Array, maxIncrements: number): number;
}

/** The native addon's SM2 kernels: eight points at once with AVX-512 IFMA, or 64-bit C. */
export type NativeSm2Kernel = 'ifma8' | 'portable';

/** The native addon's X25519 kernels (see native/x25519.c). */
export type NativeKernel = 'ifma8' | 'avx2x4' | 'portable';

/** The addon interface version this code expects (DP_ABI in native/x25519.c). */
export const NATIVE_X25519_ABI = 3;
