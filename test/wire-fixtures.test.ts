/**
 * Byte-for-byte wire compatibility of the hand-written codecs: every message of `wire-cases.ts`
 * must encode to the hex pinned in `test/vectors/wire-v1.json` (written by the codecs before they
 * shared one reader/writer), decode back to the same bytes, and every decoder must say exactly
 * what it said before (class, code, message) about every truncation and byte change.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeAndVerifyReceipt, encodeReceipt } from '../src/ledger/receipt.js';
import { querySigningInput } from '../src/protocols/aggregate/signature.js';
import { fromHex, toHex } from '../src/utils/bytes.js';
import { faultProfile, seq, WIRE_CASES } from './wire-cases.js';

const PINNED = JSON.parse(readFileSync(new URL('./vectors/wire-v1.json', import.meta.url), 'utf8')) as Record<
  string,
  { hex: string; faults: [string, number][] }
>;

describe('wire fixtures (v1)', () => {
  it('pins every case and nothing else', () => {
    expect(Object.keys(PINNED).filter((k) => !k.startsWith('_')).sort()).toEqual(WIRE_CASES.map((c) => c.name).sort());
  });

  for (const c of WIRE_CASES) {
    describe(c.name, () => {
      const pinned = PINNED[c.name]!;
      it('encodes to the pinned bytes', () => {
        expect(toHex(c.encode())).toBe(pinned.hex);
      });
      it('decodes the pinned bytes', () => {
        expect(() => c.decode(fromHex(pinned.hex))).not.toThrow();
      });
      it('reports every truncation and byte change as before', () => {
        expect(faultProfile(c, fromHex(pinned.hex))).toEqual(pinned.faults);
      });
    });
  }

  it('receipts written before still verify and re-encode to the same entry', () => {
    for (const c of WIRE_CASES.filter((x) => x.name.startsWith('ledger receipt'))) {
      const entry = fromHex(PINNED[c.name]!.hex);
      const receipt = decodeAndVerifyReceipt(entry);
      expect(toHex(encodeReceipt(receipt))).toBe(PINNED[c.name]!.hex);
    }
  });

  it("the analyst's query signing input is unchanged (pinned from commit d20c9f8)", () => {
    expect(toHex(querySigningInput(seq(30, 61), seq(50, 62)))).toBe(
      '64617461706f72742d6167677265676174652d71756572792d76310000001e3d444b525960676e757c838a91989fa6adb4bbc2c9d0d7dee5ecf3fa0108fde23ee6942618433a6a06032eafc662254f29eac724d6e72ee2d0284ad6850b',
    );
  });
});
