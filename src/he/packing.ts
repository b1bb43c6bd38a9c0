/**
 * Compact, validating (de)serialisation of SEAL polynomials.
 *
 * Why not SEAL's own `save(zstd)` / `load`: fuzzing node-seal 6.0.3 showed that loading a mutated
 * zstd-compressed ciphertext can hang the WebAssembly module, and a truncated buffer aborts it.
 * So untrusted bytes never reach SEAL's parser. On the wire each coefficient of each RNS component
 * is bit-packed in exactly `bitLength(q_i)` bits (smaller than zstd for these uniformly random
 * coefficients) and checked `< q_i`; the SEAL buffer handed to `loadArray` is then rebuilt from a
 * trusted template (header, parms_id, sizes — taken from an object this process serialised itself)
 * plus those checked coefficients.
 * @internal
 * @module
 */
import { MalformedMessageError } from '../errors.js';

/** Byte offset of the coefficient data in SEAL 4.x's uncompressed ciphertext / public-key layout. */
export const SEAL_DATA_OFFSET = 113;

/** Bits of each modulus. */
export const bitLengths = (moduli: readonly bigint[]): number[] => moduli.map((q) => q.toString(2).length);

/** Bytes of one packed polynomial pair (`polys` polynomials of `n` coefficients over `moduli`). */
export function packedSize(n: number, moduli: readonly bigint[], polys: number): number {
  let bits = 0;
  for (const b of bitLengths(moduli)) bits += b;
  return (polys * n * bits) / 8; // n is a multiple of 8, so this is exact
}

/**
 * Packs the u64 coefficients of a SEAL uncompressed buffer (`polys × moduli.length × n` words from
 * SEAL_DATA_OFFSET) into `out` at `offset`. Returns the new offset.
 */
export function packCoefficients(
  seal: Uint8Array,
  n: number,
  moduli: readonly bigint[],
  polys: number,
  out: Uint8Array,
  offset: number,
): number {
  const view = new DataView(seal.buffer, seal.byteOffset, seal.byteLength);
  const widths = bitLengths(moduli);
  let acc = 0;
  let accBits = 0;
  let pos = offset;
  let word = SEAL_DATA_OFFSET;
  // 32-bit integer operations only: `acc` holds fewer than 8 pending bits.
  const push = (v: number, w: number): void => {
    let val = v >>> 0;
    let left = w;
    while (left > 0) {
      const space = 8 - accBits;
      const take = left < space ? left : space;
      acc |= (val & ((1 << take) - 1)) << accBits;
      val >>>= take;
      left -= take;
      accBits += take;
      if (accBits === 8) {
        out[pos++] = acc;
        acc = 0;
        accBits = 0;
      }
    }
  };
  for (let j = 0; j < polys; j++) {
    for (let i = 0; i < moduli.length; i++) {
      const w = widths[i]!;
      for (let l = 0; l < n; l++, word += 8) {
        const lo = view.getUint32(word, true);
        const hi = view.getUint32(word + 4, true);
        if (w <= 32) push(lo, w);
        else {
          push(lo, 32);
          push(hi, w - 32);
        }
      }
    }
  }
  if (accBits !== 0) throw new Error('internal: packing not byte aligned');
  return pos;
}

/**
 * Unpacks coefficients from `input` at `offset` into a SEAL buffer (template already copied in),
 * rejecting any coefficient `>= q_i` with `MalformedMessageError`. Returns the new offset.
 */
export function unpackCoefficients(
  input: Uint8Array,
  offset: number,
  n: number,
  moduli: readonly bigint[],
  polys: number,
  seal: Uint8Array,
): number {
  const view = new DataView(seal.buffer, seal.byteOffset, seal.byteLength);
  const widths = bitLengths(moduli);
  let acc = 0;
  let accBits = 0;
  let pos = offset;
  let word = SEAL_DATA_OFFSET;
  // 32-bit integer operations only: `acc` holds `accBits` (< 8) unread bits of the current byte.
  const pull = (w: number): number => {
    let v = 0;
    let got = 0;
    while (got < w) {
      if (accBits === 0) {
        acc = input[pos++]!;
        accBits = 8;
      }
      const need = w - got;
      const take = need < accBits ? need : accBits;
      v |= (acc & ((1 << take) - 1)) << got;
      acc >>>= take;
      accBits -= take;
      got += take;
    }
    return v >>> 0;
  };
  for (let j = 0; j < polys; j++) {
    for (let i = 0; i < moduli.length; i++) {
      const w = widths[i]!;
      const q = moduli[i]!;
      const qHi = Number(q >> 32n);
      const qLo = Number(q & 0xffffffffn);
      for (let l = 0; l < n; l++, word += 8) {
        let lo: number;
        let hi = 0;
        if (w <= 32) lo = pull(w);
        else {
          lo = pull(32);
          hi = pull(w - 32);
        }
        if (hi > qHi || (hi === qHi && lo >= qLo)) throw new MalformedMessageError('HE coefficient out of range');
        view.setUint32(word, lo, true);
        view.setUint32(word + 4, hi, true);
      }
    }
  }
  if (accBits !== 0 || acc !== 0) throw new MalformedMessageError('HE polynomial padding not zero');
  return pos;
}
