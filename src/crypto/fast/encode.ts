/**
 * Batched RFC 9380 `encode_to_curve` for curve25519 (curve25519_XMD:SHA-512_ELL2_NU_) on the
 * WebAssembly field arithmetic: JS runs expand_message_xmd (hash_to_field, §5.2, count = 1) and
 * writes the 48-byte outputs into wasm memory; one wasm call per chunk reduces them mod p, applies
 * Elligator 2 (§6.7.1), clears the cofactor (×8) and writes canonical 32-byte little-endian u's.
 * @module
 */
import { POINT_BYTES } from '../constants.js';
import { createXmd48, FIELD_HASH_BYTES } from './expand-message.js';
import type { WasmHandle } from './wasm.js';

/**
 * `encode_to_curve(prefix || records[i], dst)` for every record, as one flat array of
 * `records.length * 32` bytes. Arguments must already be validated.
 */
export function encodeToCurveFast(
  wasm: WasmHandle,
  records: readonly Uint8Array[],
  prefix: Uint8Array,
  dst: Uint8Array,
): Uint8Array {
  const xmd = createXmd48(dst, prefix);
  const n = records.length;
  const out = new Uint8Array(n * POINT_BYTES);
  const { input, output, chunk } = wasm;
  for (let start = 0; start < n; start += chunk) {
    const m = Math.min(chunk, n - start);
    for (let i = 0; i < m; i++) xmd.hashInto(records[start + i]!, input, i * FIELD_HASH_BYTES);
    wasm.exports.map_batch(m);
    out.set(output.subarray(0, m * POINT_BYTES), start * POINT_BYTES);
  }
  // The buffers held values derived from private records: do not leave them in the instance.
  xmd.wipe();
  const used = Math.min(n, chunk);
  input.fill(0, 0, used * FIELD_HASH_BYTES);
  output.fill(0, 0, used * POINT_BYTES);
  return out;
}

/**
 * Test hook: the map alone, on caller-chosen 48-byte big-endian hash_to_field outputs (so edge
 * cases such as u0 = 0 can be reached). Returns `n * 32` bytes.
 */
export function mapToCurveFast(wasm: WasmHandle, fieldHashes: Uint8Array): Uint8Array {
  const n = fieldHashes.length / FIELD_HASH_BYTES;
  if (!Number.isInteger(n)) throw new RangeError('fieldHashes must be a multiple of 48 bytes');
  const out = new Uint8Array(n * POINT_BYTES);
  for (let start = 0; start < n; start += wasm.chunk) {
    const m = Math.min(wasm.chunk, n - start);
    wasm.input.set(fieldHashes.subarray(start * FIELD_HASH_BYTES, (start + m) * FIELD_HASH_BYTES));
    wasm.exports.map_batch(m);
    out.set(wasm.output.subarray(0, m * POINT_BYTES), start * POINT_BYTES);
  }
  return out;
}
