/**
 * Batched RFC 9380 `encode_to_curve` for curve25519 (curve25519_XMD:SHA-512_ELL2_NU_) in
 * WebAssembly: JS only copies records into wasm memory; per chunk of up to 1024 records, one call
 * runs expand_message_xmd with SHA-512 (hash_to_field, §5.2-5.3, count = 1, L = 48) and one call
 * reduces mod p, applies Elligator 2 (§6.7.1), clears the cofactor (×8) and writes canonical
 * 32-byte little-endian u's. SHA-512 runs in wasm too (not node:crypto / @noble/hashes): measured
 * ~3x faster than node:crypto's per-call path on Node and far faster than JS SHA-512 in browsers.
 * @module
 */
import { POINT_BYTES } from '../constants.js';
import type { WasmHandle } from './wasm.js';

/** hash_to_field's L for curve25519: ceil((255 + 128) / 8) = 48 (RFC 9380 §5, k = 128). */
const FIELD_HASH_BYTES = 48;

function check(rc: number): void {
  // Only reachable through a bug in this file (arguments are sized here): not a peer's fault.
  if (rc !== 0) throw new Error('internal error: curve25519 wasm call refused its arguments');
}

/**
 * Runs expand_message_xmd(prefix || records[i], dst, 48) for `count` records starting at `start`,
 * leaving the outputs in `wasm.input`; returns the number of message bytes used (for wiping).
 */
function hashChunk(wasm: WasmHandle, records: readonly Uint8Array[], start: number, count: number): number {
  const { exports: x, msg, lens } = wasm;
  const cap = msg.length;
  let packFirst = 0;
  let packed = 0;
  let used = 0;
  let maxUsed = 0;
  const flush = (): void => {
    if (packed > 0) check(x.xmd_many(packed, packFirst));
    packFirst += packed;
    packed = 0;
    maxUsed = Math.max(maxUsed, used);
    used = 0;
  };
  for (let i = 0; i < count; i++) {
    const r = records[start + i]!;
    if (r.length > cap) {
      // Too long to pack: stream it through the message area.
      flush();
      x.xmd_start();
      for (let off = 0; off < r.length; off += cap) {
        const part = r.subarray(off, off + cap);
        msg.set(part);
        check(x.xmd_update(part.length));
      }
      check(x.xmd_finish(i));
      maxUsed = cap;
      packFirst = i + 1;
      continue;
    }
    if (used + r.length > cap) flush();
    msg.set(r, used);
    lens[packed++] = r.length;
    used += r.length;
  }
  flush();
  return maxUsed;
}

/** Loads the DST and absorbs Z_pad || prefix into the shared hash state. */
function beginXmd(wasm: WasmHandle, prefix: Uint8Array, dst: Uint8Array): number {
  const { exports: x, msg } = wasm;
  if (dst.length < 1 || dst.length > 255) throw new RangeError('dst must be 1..255 bytes');
  wasm.dst.set(dst);
  check(x.xmd_begin(dst.length));
  for (let off = 0; off < prefix.length; off += msg.length) {
    const part = prefix.subarray(off, off + msg.length);
    msg.set(part);
    check(x.xmd_prefix(part.length));
  }
  return Math.min(prefix.length, msg.length);
}

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
  const n = records.length;
  const out = new Uint8Array(n * POINT_BYTES);
  let msgUsed = 0;
  try {
    msgUsed = beginXmd(wasm, prefix, dst);
    for (let start = 0; start < n; start += wasm.chunk) {
      const m = Math.min(wasm.chunk, n - start);
      msgUsed = Math.max(msgUsed, hashChunk(wasm, records, start, m));
      wasm.exports.map_batch(m);
      out.set(wasm.output.subarray(0, m * POINT_BYTES), start * POINT_BYTES);
    }
  } finally {
    // The buffers held record bytes and values derived from them: do not leave them behind.
    wasm.exports.wipe(msgUsed, Math.min(n, wasm.chunk));
  }
  return out;
}

/** Test hook: expand_message_xmd(prefix || msgs[i], dst, 48) for up to `chunk` messages, concatenated. */
export function expandMessageFast(wasm: WasmHandle, msgs: readonly Uint8Array[], prefix: Uint8Array, dst: Uint8Array): Uint8Array {
  if (msgs.length > wasm.chunk) throw new RangeError('too many messages');
  beginXmd(wasm, prefix, dst);
  hashChunk(wasm, msgs, 0, msgs.length);
  const out = wasm.input.slice(0, msgs.length * FIELD_HASH_BYTES);
  wasm.exports.wipe(wasm.msg.length, wasm.chunk);
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
