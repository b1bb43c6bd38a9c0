/**
 * Byte writer / reader of the session messages: fixed-width big-endian integers, length-prefixed
 * strings and bytes checked against limits before allocation. A reader throws
 * `MalformedMessageError` on anything short, long, out of range or not well-formed UTF-8.
 * @module
 * @internal
 */
import { MalformedMessageError } from '../errors.js';
import { concatBytes } from '../utils/bytes.js';

const te = new TextEncoder();
const td = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** @internal */
export class Writer {
  #parts: Uint8Array[] = [];

  u8(v: number): this {
    this.#parts.push(Uint8Array.of(v & 0xff));
    return this;
  }

  u16(v: number): this {
    this.#parts.push(Uint8Array.of((v >>> 8) & 0xff, v & 0xff));
    return this;
  }

  /** Unsigned integer up to 2^53 − 1 in 8 bytes. */
  u64(v: number, name: string): this {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`${name} must be a non-negative safe integer`);
    const b = new Uint8Array(8);
    const hi = Math.floor(v / 2 ** 32);
    new DataView(b.buffer).setUint32(0, hi);
    new DataView(b.buffer).setUint32(4, v >>> 0);
    this.#parts.push(b);
    return this;
  }

  raw(bytes: Uint8Array): this {
    this.#parts.push(bytes);
    return this;
  }

  /** UTF-8 string with a 16-bit length prefix, at most `max` bytes. */
  str(s: string, max: number, name: string): this {
    if (typeof s !== 'string') throw new TypeError(`${name} must be a string`);
    const b = te.encode(s);
    if (b.length > max) throw new RangeError(`${name} must be at most ${max} UTF-8 bytes`);
    return this.u16(b.length).raw(b);
  }

  finish(): Uint8Array {
    return concatBytes(...this.#parts);
  }
}

/** @internal */
export class Reader {
  #b: Uint8Array;
  #off = 0;

  constructor(bytes: Uint8Array) {
    this.#b = bytes;
  }

  #need(n: number): void {
    if (this.#off + n > this.#b.length) throw new MalformedMessageError();
  }

  u8(): number {
    this.#need(1);
    return this.#b[this.#off++]!;
  }

  u16(): number {
    this.#need(2);
    const v = (this.#b[this.#off]! << 8) | this.#b[this.#off + 1]!;
    this.#off += 2;
    return v;
  }

  u64(): number {
    this.#need(8);
    const dv = new DataView(this.#b.buffer, this.#b.byteOffset + this.#off, 8);
    const hi = dv.getUint32(0);
    const lo = dv.getUint32(4);
    this.#off += 8;
    if (hi >= 2 ** 21) throw new MalformedMessageError(); // above 2^53 − 1
    return hi * 2 ** 32 + lo;
  }

  /** A copy of the next `n` bytes. */
  bytes(n: number): Uint8Array {
    this.#need(n);
    const out = this.#b.slice(this.#off, this.#off + n);
    this.#off += n;
    return out;
  }

  str(max: number): string {
    const n = this.u16();
    if (n > max) throw new MalformedMessageError();
    this.#need(n);
    let s: string;
    try {
      s = td.decode(this.#b.subarray(this.#off, this.#off + n));
    } catch {
      throw new MalformedMessageError();
    }
    this.#off += n;
    return s;
  }

  /** Bytes read so far. */
  get offset(): number {
    return this.#off;
  }

  /** Throws unless every byte was consumed (no trailing data). */
  end(): void {
    if (this.#off !== this.#b.length) throw new MalformedMessageError();
  }
}
