/**
 * HKDF-SHA-512 (RFC 5869) of many 32-byte inputs at once, with no salt: the round-2 truncation of
 * ECDH-PSI (draft-wang-ppm-ecdh-psi-01 §3, info "ECDH-PSI", 16 or 24 bytes).
 *
 * The WebAssembly module (fast/curve25519.c, `hkdf_batch`) computes it in 6 SHA-512 compressions per
 * value, with the zero-salt HMAC pads precomputed — about 10x cheaper than one `hkdfSync` call per
 * value, whose cost is mostly the per-call overhead. Without WebAssembly (a browser main thread before
 * `initCrypto()`, a CSP that blocks it) the same bytes come from `@noble/hashes`.
 * @module
 */
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { getWasm, type WasmHandle } from './fast/wasm.js';
import { assertBytes } from '../utils/bytes.js';

/** Longest `info` the WebAssembly path takes (info || 0x01 must fit one SHA-512 block). */
const WASM_INFO_MAX = 110;

function hkdfWasm(wasm: WasmHandle, ikms: Uint8Array, info: Uint8Array, outBytes: number): Uint8Array {
  const x = wasm.exports;
  const n = ikms.length / 32;
  const out = new Uint8Array(n * outBytes);
  wasm.dst.set(info);
  if (x.hkdf_begin(info.length) !== 0) throw new Error('internal: hkdf_begin refused its arguments');
  // Outputs of one call must fit io_out() (chunk * 32 bytes).
  const per = Math.min(wasm.chunk, Math.floor((wasm.chunk * 32) / outBytes));
  let used = 0;
  try {
    for (let s = 0; s < n; s += per) {
      const k = Math.min(per, n - s);
      used = Math.max(used, k);
      wasm.input.set(ikms.subarray(s * 32, (s + k) * 32));
      if (x.hkdf_batch(k, outBytes) !== 0) throw new Error('internal: hkdf_batch refused its arguments');
      out.set(wasm.output.subarray(0, k * outBytes), s * outBytes);
    }
  } finally {
    // The inputs are jointly masked values: do not leave them (or the PRKs on the stack) behind.
    x.wipe(0, Math.min(wasm.chunk, Math.max(used, Math.ceil((used * outBytes) / 32))));
  }
  return out;
}

/**
 * For each 32-byte value of `ikms`, the first `outBytes` bytes of HKDF-SHA-512 with IKM = that
 * value, no salt (RFC 5869 §2.2: HashLen zero bytes) and `info`; returned back to back.
 * Throws `RangeError` unless `ikms.length` is a multiple of 32 and `outBytes` is in 1..64.
 *
 * @example
 * ```ts
 * const truncated = hkdfSha512Batch(jointlyMasked, new TextEncoder().encode('ECDH-PSI'), 16);
 * ```
 */
export function hkdfSha512Batch(ikms: Uint8Array, info: Uint8Array, outBytes: number): Uint8Array {
  assertBytes(ikms, 'ikms');
  assertBytes(info, 'info');
  if (ikms.length % 32 !== 0) throw new RangeError('ikms length must be a multiple of 32');
  if (!Number.isInteger(outBytes) || outBytes < 1 || outBytes > 64) throw new RangeError('outBytes must be an integer in 1..64');
  const wasm = info.length <= WASM_INFO_MAX ? getWasm() : undefined;
  if (wasm !== undefined) return hkdfWasm(wasm, ikms, info, outBytes);
  const n = ikms.length / 32;
  const out = new Uint8Array(n * outBytes);
  for (let i = 0; i < n; i++) out.set(hkdf(sha512, ikms.subarray(i * 32, i * 32 + 32), undefined, info, outBytes), i * outBytes);
  return out;
}
