/** Names of the scalar-multiplication backends. */
export const BackendNames = ['node', 'webcrypto', 'noble'] as const;

/** `node` (node:crypto / OpenSSL), `webcrypto` (SubtleCrypto X25519) or `noble` (@noble/curves). */
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
