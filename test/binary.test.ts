/**
 * The shared reader/writer of src/utils/binary.ts: round trips, every bound checked before a read,
 * the codec's own fault messages, arbitrary input only ever throwing `MalformedMessageError`, and
 * the writer's misuse errors.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCode, MalformedMessageError } from '../src/errors.js';
import { BinaryReader, BinaryWriter, describeFault, isWellFormedString, toWellFormedString, type BinaryFault, type LengthPrefix } from '../src/utils/binary.js';
import { toHex } from '../src/utils/bytes.js';

function faultOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(MalformedMessageError);
    expect((e as MalformedMessageError).code).toBe(ErrorCode.MALFORMED_MESSAGE);
    return (e as Error).message;
  }
  throw new Error('expected a MalformedMessageError');
}

const hex = (w: BinaryWriter) => toHex(w.finish());

describe('BinaryWriter', () => {
  it('writes fixed-width big-endian integers', () => {
    expect(hex(new BinaryWriter().u8(0xab).u16(0x0102).u32(0xdeadbeef))).toBe('ab0102deadbeef');
    expect(hex(new BinaryWriter().u64(0x0102030405060708n).i64(-2n))).toBe('0102030405060708fffffffffffffffe');
    expect(hex(new BinaryWriter().safeU64(Number.MAX_SAFE_INTEGER).safeU64(2 ** 32 + 5))).toBe('001fffffffffffff0000000100000005');
  });

  it('writes length-prefixed bytes and UTF-8 with each prefix width', () => {
    const b = Uint8Array.of(1, 2, 3);
    expect(hex(new BinaryWriter().varBytes(1, b, 3))).toBe('03010203');
    expect(hex(new BinaryWriter().varBytes(2, b, 3))).toBe('0003010203');
    expect(hex(new BinaryWriter().varBytes(4, b, 3))).toBe('00000003010203');
    expect(hex(new BinaryWriter().varBytes(8, b, 3))).toBe('0000000000000003010203');
    expect(hex(new BinaryWriter().string(2, '病区', 6))).toBe('0006e79785e58cba');
  });

  it('grows past its capacity and returns an exactly-sized copy', () => {
    const w = new BinaryWriter(1);
    const big = Uint8Array.from({ length: 1000 }, (_, i) => i & 0xff);
    w.u8(7).bytes(big).u32(1);
    const out = w.finish();
    expect(out.length).toBe(1005);
    expect(out.buffer.byteLength).toBe(1005);
    expect(out[0]).toBe(7);
    expect(out.subarray(1, 1001)).toEqual(big);
  });

  it('returns its buffer itself when it was sized exactly', () => {
    const out = new BinaryWriter(3).u8(1).u16(2).finish();
    expect(out.buffer.byteLength).toBe(3);
    expect(toHex(out)).toBe('010002');
  });

  it('refuses out-of-range values naming the field (no silent wrap)', () => {
    expect(() => new BinaryWriter().u8(256, 'version')).toThrow(new RangeError('version must be a uint8'));
    expect(() => new BinaryWriter().u8(-1)).toThrow(RangeError);
    expect(() => new BinaryWriter().u8(1.5)).toThrow(RangeError);
    expect(() => new BinaryWriter().u16(0x1_0000, 'n')).toThrow(new RangeError('n must be a uint16'));
    expect(() => new BinaryWriter().u32(2 ** 32, 'n')).toThrow(new RangeError('n must be a uint32'));
    expect(() => new BinaryWriter().u32(Number.NaN)).toThrow(RangeError);
    expect(() => new BinaryWriter().u64(1n << 64n, 'index')).toThrow(new RangeError('index must be a uint64 bigint'));
    expect(() => new BinaryWriter().u64(-1n)).toThrow(RangeError);
    expect(() => new BinaryWriter().i64(1n << 63n, 'sum')).toThrow(new RangeError('sum must be an int64 bigint'));
    expect(() => new BinaryWriter().safeU64(2 ** 53, 'size')).toThrow(new RangeError('size must be a non-negative safe integer'));
    expect(() => new BinaryWriter().safeU64(-1)).toThrow(RangeError);
    expect(() => new BinaryWriter().varBytes(4, new Uint8Array(5), 4, 'payload')).toThrow(new RangeError('payload must be at most 4 bytes'));
    expect(() => new BinaryWriter().varBytes(1, new Uint8Array(256), 1000)).toThrow(RangeError); // the u8 prefix
    expect(() => new BinaryWriter().string(2, 'abcde', 4, 'name')).toThrow(new RangeError('name must be at most 4 UTF-8 bytes'));
    expect(() => new BinaryWriter().string(2, 'a\ud800', 40, 'name')).toThrow(new RangeError('name is not well-formed Unicode'));
    expect(() => new BinaryWriter().string(2, 5 as unknown as string, 40, 'name')).toThrow(new TypeError('name must be a string'));
    expect(() => new BinaryWriter(-1)).toThrow(RangeError);
  });
});

describe('BinaryReader', () => {
  it('reads what the writer wrote', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 255 }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.integer({ min: 0, max: 0xffff_ffff }),
        fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
        fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }),
        fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        fc.uint8Array({ maxLength: 300 }),
        fc.string({ unit: 'grapheme', maxLength: 12 }),
        fc.constantFrom<LengthPrefix>(1, 2, 4, 8),
        (a, b, c, d, e, f, bytes, text, prefix) => {
          const maxBytes = prefix === 1 ? 255 : 1000;
          fc.pre(bytes.length <= maxBytes);
          const frame = new BinaryWriter(0).u8(a).u16(b).u32(c).u64(d).i64(e).safeU64(f).varBytes(prefix, bytes, maxBytes).string(prefix, text, 255).finish();
          const r = new BinaryReader(frame);
          expect([r.u8(), r.u16(), r.u32(), r.u64(), r.i64(), r.safeU64()]).toEqual([a, b, c, d, e, f]);
          expect(r.varBytes(prefix, maxBytes)).toEqual(bytes);
          expect(r.string(prefix, 255)).toBe(text);
          expect(r.remaining).toBe(0);
          r.expectEnd();
        },
      ),
    );
  });

  it('checks a length against its bounds before the remaining bytes, and both before reading', () => {
    // Length 5 but only 2 bytes follow: the maximum is checked first.
    const frame = Uint8Array.of(5, 0xaa, 0xbb);
    expect(faultOf(() => new BinaryReader(frame).varBytes(1, 4, 'payload'))).toBe('payload too long');
    expect(faultOf(() => new BinaryReader(frame).varBytes(1, 10, 'payload'))).toBe('truncated payload');
    expect(faultOf(() => new BinaryReader(Uint8Array.of(0)).varBytes(1, 10, 'payload', { min: 1 }))).toBe('payload too short');
    const r = new BinaryReader(frame);
    expect(faultOf(() => r.varBytes(1, 10, 'payload'))).toBe('truncated payload');
    // A u64 length far above any safe maximum is refused without being converted.
    const huge = new BinaryWriter().u64((1n << 64n) - 1n).finish();
    expect(faultOf(() => new BinaryReader(huge).varBytes(8, Number.MAX_SAFE_INTEGER, 'points'))).toBe('points too long');
    expect(new BinaryReader(Uint8Array.of(3)).checkLength(3, 1, 3, 'n')).toBe(3);
  });

  it('reports each fault with the codec-chosen text', () => {
    const seen: [BinaryFault, string][] = [];
    const messages = (fault: BinaryFault, what: string) => {
      seen.push([fault, what]);
      return `codec: ${fault} ${what}`;
    };
    expect(faultOf(() => new BinaryReader(Uint8Array.of(1), messages).u16('count'))).toBe('codec: truncated count');
    expect(faultOf(() => new BinaryReader(Uint8Array.of(0x00, 0x20, 0, 0, 0, 0, 0, 0), messages).safeU64('size'))).toBe('codec: out-of-range size');
    expect(faultOf(() => new BinaryReader(Uint8Array.of(1, 0xff), messages).string(1, 10, 'name'))).toBe('codec: invalid-utf8 name');
    expect(faultOf(() => new BinaryReader(Uint8Array.of(1, 2), messages).expectEnd('frame'))).toBe('codec: trailing frame');
    expect(seen.map((s) => s[0])).toEqual(['truncated', 'out-of-range', 'invalid-utf8', 'trailing']);
    expect(describeFault('too-long', 'purpose')).toBe('purpose too long');
  });

  it('reads 2^53 − 1 as a safe number and refuses 2^53', () => {
    expect(new BinaryReader(new BinaryWriter().u64(2n ** 53n - 1n).finish()).safeU64()).toBe(Number.MAX_SAFE_INTEGER);
    expect(faultOf(() => new BinaryReader(new BinaryWriter().u64(2n ** 53n).finish()).safeU64('amount'))).toBe('amount out of range');
  });

  it('copies with bytes() and varBytes(), views with view() and copy: false', () => {
    const frame = Uint8Array.of(2, 7, 8, 9, 10);
    const r = new BinaryReader(frame);
    const copied = r.varBytes(1, 2);
    const viewed = r.view(2);
    frame[1] = 0;
    frame[3] = 0;
    expect([...copied]).toEqual([7, 8]);
    expect([...viewed]).toEqual([0, 10]);
    expect(viewed.buffer).toBe(frame.buffer);
  });

  it('keeps a BOM and refuses overlong or surrogate UTF-8 (fatal decoding)', () => {
    expect(new BinaryReader(Uint8Array.of(4, 0xef, 0xbb, 0xbf, 0x41)).string(1, 10)).toBe('\ufeffA');
    expect(faultOf(() => new BinaryReader(Uint8Array.of(2, 0xc0, 0x80)).string(1, 10, 's'))).toBe('s is not valid UTF-8');
    expect(faultOf(() => new BinaryReader(Uint8Array.of(3, 0xed, 0xa0, 0x80)).string(1, 10, 's'))).toBe('s is not valid UTF-8');
  });

  it('only ever throws MalformedMessageError on arbitrary input', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.array(fc.integer({ min: 0, max: 9 }), { maxLength: 12 }), (bytes, ops) => {
        const r = new BinaryReader(bytes);
        try {
          for (const op of ops) {
            if (op === 0) r.u8();
            else if (op === 1) r.u16();
            else if (op === 2) r.u32();
            else if (op === 3) r.u64();
            else if (op === 4) r.i64();
            else if (op === 5) r.safeU64();
            else if (op === 6) r.varBytes(1, 16);
            else if (op === 7) r.varBytes(8, 1 << 20, 'v', { copy: false });
            else if (op === 8) r.string(2, 32);
            else r.bytes(3);
          }
          r.expectEnd();
        } catch (e) {
          expect(e).toBeInstanceOf(MalformedMessageError);
        }
        expect(r.offset).toBeLessThanOrEqual(bytes.length);
      }),
    );
  });

  it('refuses a non-Uint8Array input as misuse', () => {
    expect(() => new BinaryReader([1, 2] as unknown as Uint8Array)).toThrow(new TypeError('bytes must be a Uint8Array'));
  });
});

describe('well-formed strings', () => {
  it('detects and replaces lone surrogates as TextEncoder would', () => {
    for (const s of ['a\ud800', '\udc00b', 'x\ud800\ud800y', '\ud83d\ude00', 'plain']) {
      const fixed = toWellFormedString(s);
      expect(isWellFormedString(fixed)).toBe(true);
      expect(new TextEncoder().encode(fixed)).toEqual(new TextEncoder().encode(s));
    }
    expect(isWellFormedString('a\ud800')).toBe(false);
    expect(toWellFormedString('\ud83d\ude00')).toBe('\ud83d\ude00');
  });
});
