/**
 * The one reader and writer of dataport's hand-written binary encodings (ledger receipts, session
 * messages, ECDH-PSI, psi-sum and aggregation frames): fixed-width big-endian integers, length-
 * prefixed bytes and UTF-8 strings. Every length read from the input is checked here, in one place,
 * against an explicit caller-given bound and against the bytes that remain, before anything is
 * sliced or allocated; every failure is a `MalformedMessageError` whose text the codec chooses (a
 * {@link BinaryFaultMessages} function), so each wire format keeps its own stable messages. A
 * writer's misuse (a value out of range, a string too long) throws `RangeError` / `TypeError`
 * naming the field. Internal: not part of the public API.
 * @module
 * @internal
 */
import { MalformedMessageError } from '../errors.js';

/** What went wrong while reading. */
export type BinaryFault =
  /** Fewer bytes remain than the field needs. */
  | 'truncated'
  /** A length or count above its maximum. */
  | 'too-long'
  /** A length or count below its minimum (e.g. an empty vector where one entry is required). */
  | 'too-short'
  /** A 64-bit integer above 2^53 − 1 where a safe JavaScript number is required. */
  | 'out-of-range'
  /** A string that is not well-formed UTF-8. */
  | 'invalid-utf8'
  /** Bytes left over after the last field. */
  | 'trailing';

/** Turns a fault and the name of the field it concerns into the text of the `MalformedMessageError`. */
export type BinaryFaultMessages = (fault: BinaryFault, what: string) => string;

/**
 * The default fault messages, naming the field: `truncated <what>`, `<what> too long`, `<what> too
 * short`, `<what> out of range`, `<what> is not valid UTF-8`, `trailing bytes after <what>`.
 */
export const describeFault: BinaryFaultMessages = (fault, what) => {
  switch (fault) {
    case 'truncated':
      return `truncated ${what}`;
    case 'too-long':
      return `${what} too long`;
    case 'too-short':
      return `${what} too short`;
    case 'out-of-range':
      return `${what} out of range`;
    case 'invalid-utf8':
      return `${what} is not valid UTF-8`;
    case 'trailing':
      return `trailing bytes after ${what}`;
  }
};

/** Bytes of a length prefix: u8, u16, u32 or u64 (a u64 length is still bounded by a safe `max`). */
export type LengthPrefix = 1 | 2 | 4 | 8;

const encoder = new TextEncoder();
const strictDecoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const TWO_32 = 0x1_0000_0000;
const U64_MAX = (1n << 64n) - 1n;
const I64_MIN = -(1n << 63n);
const I64_MAX = (1n << 63n) - 1n;

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

/**
 * `s` with every lone surrogate replaced by U+FFFD (what `TextEncoder` would write for it), so text
 * of unknown origin can go through {@link BinaryWriter.string}.
 */
export function toWellFormedString(s: string): string {
  return isWellFormedString(s) ? s : s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');
}

function checkMax(max: number, name: string): void {
  if (!Number.isSafeInteger(max) || max < 0) throw new RangeError(`${name} must be a non-negative safe integer`);
}

/**
 * Bounds-checked big-endian reader over one message. Every failure throws `MalformedMessageError`
 * with the text `messages(fault, what)`; nothing is returned from a read that failed.
 *
 * @example
 * ```ts
 * const r = new BinaryReader(frame);
 * const version = r.u8('version');
 * const name = r.string(2, 256, 'name');
 * const payload = r.varBytes(4, 1 << 20, 'payload');
 * r.expectEnd('message');
 * ```
 */
export class BinaryReader {
  readonly #buf: Uint8Array;
  readonly #view: DataView;
  readonly #messages: BinaryFaultMessages;
  #off = 0;

  constructor(bytes: Uint8Array, messages: BinaryFaultMessages = describeFault) {
    if (!(bytes instanceof Uint8Array)) throw new TypeError('bytes must be a Uint8Array');
    this.#buf = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.#messages = messages;
  }

  /** Bytes read so far. */
  get offset(): number {
    return this.#off;
  }

  /** Bytes not read yet. */
  get remaining(): number {
    return this.#buf.length - this.#off;
  }

  /** The `MalformedMessageError` this reader reports for `fault` on field `what` (to throw it). */
  fault(fault: BinaryFault, what: string): MalformedMessageError {
    return new MalformedMessageError(this.#messages(fault, what));
  }

  /** Moves past `n` bytes after checking that they are there; returns where they start. */
  #take(n: number, what: string): number {
    const at = this.#off;
    if (n > this.#buf.length - at) throw this.fault('truncated', what);
    this.#off = at + n;
    return at;
  }

  u8(what = 'message'): number {
    return this.#buf[this.#take(1, what)]!;
  }

  u16(what = 'message'): number {
    return this.#view.getUint16(this.#take(2, what));
  }

  u32(what = 'message'): number {
    return this.#view.getUint32(this.#take(4, what));
  }

  /** A 64-bit unsigned integer, every value allowed. */
  u64(what = 'message'): bigint {
    return this.#view.getBigUint64(this.#take(8, what));
  }

  /** A 64-bit two's-complement signed integer. */
  i64(what = 'message'): bigint {
    return this.#view.getBigInt64(this.#take(8, what));
  }

  /** A 64-bit unsigned integer as a number; above 2^53 − 1 is the fault `out-of-range`. */
  safeU64(what = 'message'): number {
    const at = this.#take(8, what);
    const hi = this.#view.getUint32(at);
    if (hi >= 0x20_0000) throw this.fault('out-of-range', what);
    return hi * TWO_32 + this.#view.getUint32(at + 4);
  }

  /**
   * Checks a length or count read from the input against `[min, max]` (`too-short` / `too-long`)
   * and returns it. {@link varBytes} and {@link string} check theirs through this.
   */
  checkLength(n: number, min: number, max: number, what: string): number {
    if (n < min) throw this.fault('too-short', what);
    if (n > max) throw this.fault('too-long', what);
    return n;
  }

  /** A copy of the next `n` bytes (`n` must already be bounded by the caller). */
  bytes(n: number, what = 'message'): Uint8Array {
    const at = this.#take(n, what);
    return this.#buf.slice(at, at + n);
  }

  /** A view (no copy) of the next `n` bytes: it shares the input's memory. */
  view(n: number, what = 'message'): Uint8Array {
    const at = this.#take(n, what);
    return this.#buf.subarray(at, at + n);
  }

  /** A length prefix of `prefix` bytes, checked against `[min, max]` before anything else. */
  #length(prefix: LengthPrefix, min: number, max: number, what: string): number {
    let n: number;
    if (prefix === 1) n = this.u8(what);
    else if (prefix === 2) n = this.u16(what);
    else if (prefix === 4) n = this.u32(what);
    else {
      const at = this.#take(8, what);
      // Above 2^53 the sum may round, but it stays above any safe `max`.
      n = this.#view.getUint32(at) * TWO_32 + this.#view.getUint32(at + 4);
    }
    return this.checkLength(n, min, max, what);
  }

  /**
   * Length-prefixed bytes: the length is checked against `[min, max]`, then against the bytes that
   * remain, then the bytes are copied (or, with `copy: false`, viewed without a copy).
   */
  varBytes(prefix: LengthPrefix, max: number, what = 'message', options: { min?: number; copy?: boolean } = {}): Uint8Array {
    const n = this.#length(prefix, options.min ?? 0, max, what);
    return options.copy === false ? this.view(n, what) : this.bytes(n, what);
  }

  /** Length-prefixed UTF-8 (fatal decoding: invalid UTF-8 is the fault `invalid-utf8`), at most `max` bytes. */
  string(prefix: LengthPrefix, max: number, what = 'message', min = 0): string {
    return this.utf8(this.#length(prefix, min, max, what), what);
  }

  /** The next `n` bytes (`n` already bounded by the caller) as UTF-8, decoded fatally. */
  utf8(n: number, what = 'message'): string {
    const at = this.#take(n, what);
    try {
      return strictDecoder.decode(this.#buf.subarray(at, at + n));
    } catch {
      throw this.fault('invalid-utf8', what);
    }
  }

  /** Throws the fault `trailing` unless every byte was read (a canonical encoding has no trailing data). */
  expectEnd(what = 'message'): void {
    if (this.#off !== this.#buf.length) throw this.fault('trailing', what);
  }
}

/**
 * Big-endian writer. It grows as needed; give the exact size when it is known (a hot path) and
 * {@link finish} returns the buffer itself without a copy. Misuse throws `RangeError` /
 * `TypeError` naming the field.
 *
 * @example
 * ```ts
 * const frame = new BinaryWriter().u8(1).string(2, 'ward 3', 256, 'name').varBytes(4, payload, 1 << 20, 'payload').finish();
 * ```
 */
export class BinaryWriter {
  #buf: Uint8Array;
  #view: DataView;
  #len = 0;

  /** `capacity`: bytes to allocate up front (the writer grows past it when needed). */
  constructor(capacity = 256) {
    checkMax(capacity, 'capacity');
    this.#buf = new Uint8Array(capacity);
    this.#view = new DataView(this.#buf.buffer);
  }

  /** Bytes written so far. */
  get length(): number {
    return this.#len;
  }

  /** Makes room for `n` more bytes; returns where they start. */
  #reserve(n: number): number {
    const at = this.#len;
    if (at + n > this.#buf.length) {
      let cap = Math.max(this.#buf.length * 2, 64);
      while (cap < at + n) cap *= 2;
      const next = new Uint8Array(cap);
      next.set(this.#buf.subarray(0, at));
      this.#buf = next;
      this.#view = new DataView(next.buffer);
    }
    this.#len = at + n;
    return at;
  }

  u8(v: number, name = 'value'): this {
    if ((v & 0xff) !== v) throw new RangeError(`${name} must be a uint8`);
    const at = this.#reserve(1); // before reading #buf: reserving may replace it
    this.#buf[at] = v;
    return this;
  }

  u16(v: number, name = 'value'): this {
    if ((v & 0xffff) !== v) throw new RangeError(`${name} must be a uint16`);
    const at = this.#reserve(2);
    this.#view.setUint16(at, v);
    return this;
  }

  u32(v: number, name = 'value'): this {
    if (v >>> 0 !== v) throw new RangeError(`${name} must be a uint32`);
    const at = this.#reserve(4);
    this.#view.setUint32(at, v);
    return this;
  }

  /** A bigint in [0, 2^64 − 1]. */
  u64(v: bigint, name = 'value'): this {
    if (typeof v !== 'bigint' || v < 0n || v > U64_MAX) throw new RangeError(`${name} must be a uint64 bigint`);
    const at = this.#reserve(8);
    this.#view.setBigUint64(at, v);
    return this;
  }

  /** A bigint in [−2^63, 2^63 − 1], two's complement. */
  i64(v: bigint, name = 'value'): this {
    if (typeof v !== 'bigint' || v < I64_MIN || v > I64_MAX) throw new RangeError(`${name} must be an int64 bigint`);
    const at = this.#reserve(8);
    this.#view.setBigInt64(at, v);
    return this;
  }

  /** A non-negative safe integer (a number) as a 64-bit unsigned integer. */
  safeU64(v: number, name = 'value'): this {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new RangeError(`${name} must be a non-negative safe integer`);
    const at = this.#reserve(8);
    this.#view.setUint32(at, Math.floor(v / TWO_32));
    this.#view.setUint32(at + 4, v >>> 0);
    return this;
  }

  /** The bytes as they are, no prefix. */
  bytes(b: Uint8Array): this {
    const at = this.#reserve(b.length);
    this.#buf.set(b, at);
    return this;
  }

  #prefix(prefix: LengthPrefix, n: number): void {
    if (prefix === 1) this.u8(n);
    else if (prefix === 2) this.u16(n);
    else if (prefix === 4) this.u32(n);
    else this.safeU64(n);
  }

  /** Bytes after a `prefix`-byte length; more than `max` bytes is a `RangeError`. */
  varBytes(prefix: LengthPrefix, b: Uint8Array, max: number, name = 'value'): this {
    if (!(b instanceof Uint8Array)) throw new TypeError(`${name} must be a Uint8Array`);
    if (b.length > max) throw new RangeError(`${name} must be at most ${max} bytes`);
    this.#prefix(prefix, b.length);
    return this.bytes(b);
  }

  /**
   * UTF-8 after a `prefix`-byte length. A string with a lone surrogate (whose UTF-8 would not
   * decode back to it) or longer than `max` bytes is a `RangeError`.
   */
  string(prefix: LengthPrefix, s: string, max: number, name = 'value'): this {
    if (typeof s !== 'string') throw new TypeError(`${name} must be a string`);
    if (!isWellFormedString(s)) throw new RangeError(`${name} is not well-formed Unicode`);
    const b = encoder.encode(s);
    if (b.length > max) throw new RangeError(`${name} must be at most ${max} UTF-8 bytes`);
    this.#prefix(prefix, b.length);
    return this.bytes(b);
  }

  /**
   * The bytes written, as a fresh exactly-sized array (the buffer itself when it was sized exactly).
   * The writer must not be used afterwards.
   */
  finish(): Uint8Array {
    return this.#len === this.#buf.length ? this.#buf : this.#buf.slice(0, this.#len);
  }
}
