/**
 * Internal byte writer / reader for the ledger's canonical encodings: fixed-width big-endian
 * integers, length-prefixed strings and bytes, every length checked against a limit before
 * anything is allocated. Not part of the public API.
 * @module
 */
import { MalformedMessageError } from '../errors.js';

const encoder = new TextEncoder();
const strictDecoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** 2^53 - 1: every integer of a receipt must be a safe, non-negative JavaScript integer. */
const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/** True if `s` has no lone surrogate, i.e. its UTF-8 encoding round-trips exactly. */
export function isWellFormedString(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (!(d >= 0xdc00 && d <= 0xdfff)) return false;
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      return false;
    }
  }
  return true;
}

/** Compares two byte strings lexicographically (memcmp order, shorter first on a tie). */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return a[i]! - b[i]!;
  }
  return a.length - b.length;
}

/** Growable big-endian writer. Misuse (a value out of range) throws `RangeError` / `TypeError`. */
export class ByteWriter {
  private buf = new Uint8Array(256);
  private view = new DataView(this.buf.buffer);
  private len = 0;

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  u8(v: number): this {
    this.reserve(1);
    this.buf[this.len++] = v;
    return this;
  }

  u16(v: number): this {
    this.reserve(2);
    this.view.setUint16(this.len, v);
    this.len += 2;
    return this;
  }

  u32(v: number): this {
    this.reserve(4);
    this.view.setUint32(this.len, v);
    this.len += 4;
    return this;
  }

  /** A safe non-negative integer as a 64-bit big-endian unsigned integer. */
  u64(v: number, name: string): this {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
      throw new RangeError(`${name} must be a non-negative safe integer`);
    }
    this.reserve(8);
    this.view.setUint32(this.len, Math.floor(v / 0x1_0000_0000));
    this.view.setUint32(this.len + 4, v >>> 0);
    this.len += 8;
    return this;
  }

  raw(bytes: Uint8Array): this {
    this.reserve(bytes.length);
    this.buf.set(bytes, this.len);
    this.len += bytes.length;
    return this;
  }

  /** UTF-8 string with a u16 byte-length prefix; refuses strings longer than `max` bytes. */
  str(s: string, max: number, name: string): this {
    if (typeof s !== 'string') throw new TypeError(`${name} must be a string`);
    if (!isWellFormedString(s)) throw new RangeError(`${name} is not well-formed Unicode`);
    const bytes = encoder.encode(s);
    if (bytes.length > max) throw new RangeError(`${name} must be at most ${max} UTF-8 bytes`);
    return this.u16(bytes.length).raw(bytes);
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

/** Bounds-checked big-endian reader; every failure is a `MalformedMessageError`. */
export class ByteReader {
  private off = 0;
  private readonly view: DataView;

  private readonly buf: Uint8Array;

  constructor(input: Uint8Array) {
    this.buf = input;
    this.view = new DataView(input.buffer, input.byteOffset, input.byteLength);
  }

  get offset(): number {
    return this.off;
  }

  get remaining(): number {
    return this.buf.length - this.off;
  }

  private need(n: number, what: string): void {
    if (this.buf.length - this.off < n) throw new MalformedMessageError(`truncated ${what}`);
  }

  u8(what: string): number {
    this.need(1, what);
    return this.buf[this.off++]!;
  }

  u16(what: string): number {
    this.need(2, what);
    const v = this.view.getUint16(this.off);
    this.off += 2;
    return v;
  }

  u32(what: string): number {
    this.need(4, what);
    const v = this.view.getUint32(this.off);
    this.off += 4;
    return v;
  }

  /** A 64-bit unsigned integer; values above 2^53 - 1 are rejected. */
  u64(what: string): number {
    this.need(8, what);
    const hi = this.view.getUint32(this.off);
    const lo = this.view.getUint32(this.off + 4);
    this.off += 8;
    const v = hi * 0x1_0000_0000 + lo;
    if (v > MAX_SAFE) throw new MalformedMessageError(`${what} out of range`);
    return v;
  }

  /** A copy of the next `n` bytes. */
  bytes(n: number, what: string): Uint8Array {
    this.need(n, what);
    const out = this.buf.slice(this.off, this.off + n);
    this.off += n;
    return out;
  }

  /** A u16-prefixed UTF-8 string of at most `max` bytes; invalid UTF-8 is rejected. */
  str(max: number, what: string): string {
    const n = this.u16(what);
    if (n > max) throw new MalformedMessageError(`${what} too long`);
    this.need(n, what);
    const view = this.buf.subarray(this.off, this.off + n);
    this.off += n;
    try {
      return strictDecoder.decode(view);
    } catch {
      throw new MalformedMessageError(`${what} is not valid UTF-8`);
    }
  }

  /** Throws unless every byte was consumed (a canonical encoding has no trailing data). */
  end(what: string): void {
    if (this.off !== this.buf.length) throw new MalformedMessageError(`trailing bytes after ${what}`);
  }
}
