import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { dedupeRecords, normalizeField, normalizeKey, rowsForKeys } from '../src/protocols/psi/normalize.js';

const enc = new TextEncoder();
const hex = (b: Uint8Array | undefined) => (b === undefined ? 'undefined' : Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(''));

describe('normalizeKey', () => {
  it('trims, applies NFKC and lower-cases, so resident-ID variants match', () => {
    const a = normalizeKey([' 11010119900307001x ']);
    const b = normalizeKey(['11010119900307001X']);
    const c = normalizeKey(['１１０１０１１９９００３０７００１Ｘ']);
    const d = normalizeKey(['\u300011010119900307001x\t']);
    expect(hex(a)).toBe(hex(enc.encode('11010119900307001x')));
    expect(hex(b)).toBe(hex(a));
    expect(hex(c)).toBe(hex(a));
    expect(hex(d)).toBe(hex(a));
    expect(normalizeField('ＭÜＬＬＥＲ')).toBe('müller');
  });

  it('a single-column key is exactly the UTF-8 of the normalised field', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 20 }), (s) => {
        const k = normalizeKey([s]);
        const norm = s.normalize('NFKC').trim().toLowerCase();
        if (norm === '') expect(k).toBeUndefined();
        else expect(hex(k)).toBe(hex(enc.encode(norm)));
      }),
    );
  });

  it('multi-column keys are length-prefixed (4-byte big-endian) and unambiguous', () => {
    expect(Array.from(normalizeKey(['Ab', 'c'])!)).toEqual([0, 0, 0, 2, 0x61, 0x62, 0, 0, 0, 1, 0x63]);
    expect(hex(normalizeKey(['ab', 'c']))).not.toBe(hex(normalizeKey(['a', 'bc'])));
    expect(hex(normalizeKey(['', 'x']))).not.toBe(hex(normalizeKey(['x', ''])));
    fc.assert(
      fc.property(fc.array(fc.string(), { minLength: 2, maxLength: 4 }), fc.array(fc.string(), { minLength: 2, maxLength: 4 }), (p, q) => {
        const np = p.map(normalizeField);
        const nq = q.map(normalizeField);
        const same = np.length === nq.length && np.every((x, i) => x === nq[i]);
        const kp = normalizeKey(p);
        const kq = normalizeKey(q);
        if (kp !== undefined && kq !== undefined) expect(hex(kp) === hex(kq)).toBe(same);
      }),
    );
  });

  it('drops keys whose fields are all empty', () => {
    expect(normalizeKey(['   '])).toBeUndefined();
    expect(normalizeKey(['', '\u3000'])).toBeUndefined();
    expect(normalizeKey(['', 'x'])).toBeDefined();
  });

  it('refuses misuse', () => {
    expect(() => normalizeKey([])).toThrow(RangeError);
    expect(() => normalizeKey('x' as unknown as string[])).toThrow(TypeError);
    expect(() => normalizeKey([1 as unknown as string])).toThrow(TypeError);
  });
});

describe('dedupeRecords', () => {
  it('maps rows to distinct keys and back to every matching row', () => {
    fc.assert(
      fc.property(fc.array(fc.option(fc.constantFrom('a', 'b', 'c', 'dd', ''), { nil: undefined }), { maxLength: 40 }), (xs) => {
        const rows = xs.map((x) => (x === undefined ? undefined : enc.encode(x)));
        const d = dedupeRecords(rows);
        const distinct = new Set(xs.filter((x) => x !== undefined));
        expect(d.keys.length).toBe(distinct.size);
        rows.forEach((r, i) => {
          if (r === undefined) expect(d.keyOfRow[i]).toBe(-1);
          else expect(hex(d.keys[d.keyOfRow[i]!])).toBe(hex(r));
        });
        // Mark the key of 'a' and check every 'a' row comes back, sorted.
        const matched = new Uint8Array(d.keys.length);
        const ia = d.keys.findIndex((k) => hex(k) === hex(enc.encode('a')));
        if (ia >= 0) matched[ia] = 1;
        expect(rowsForKeys(d, matched)).toEqual(xs.flatMap((x, i) => (x === 'a' ? [i] : [])));
      }),
    );
  });
});
