/**
 * Reference (BigInt) arithmetic in GF(2^255 - 19): simple, slow, used for cross-checks and as the
 * fallback where the fast path is unavailable. Not constant time: use only on public values.
 * @module
 */
import { mod as modN, pow as powN } from '@noble/curves/abstract/modular.js';
import { P } from './constants.js';

/** `a` reduced into [0, P). */
export function mod(a: bigint): bigint {
  return modN(a, P);
}

/** `base^exp` mod P (square and multiply, @noble/curves). */
export function pow(base: bigint, exp: bigint): bigint {
  return powN(mod(base), exp, P); // noble's pow does not reduce its base
}

/** Little-endian bytes to integer (no masking). */
export function bytesToNumberLE(bytes: Uint8Array): bigint {
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]!);
  return n;
}

/** Integer to 32 little-endian bytes. */
export function numberToBytesLE(n: bigint, length = 32): Uint8Array {
  const out = new Uint8Array(length);
  let v = n;
  for (let i = 0; i < length; i++) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/** Euler's criterion: true when `a` is a non-zero square or zero. */
export function isSquare(a: bigint): boolean {
  const l = pow(a, (P - 1n) / 2n);
  return l === 0n || l === 1n;
}
