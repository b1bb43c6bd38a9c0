import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  decodeReceipt,
  decodeReceiptBody,
  encodeReceipt,
  encodeReceiptBody,
  signReceiptBody,
  verifyReceipt,
} from '../src/ledger/index.js';
import type { UsageReceipt, UsageReceiptBody } from '../src/ledger/index.js';
import { generateIdentity } from '../src/session/identity.js';
import { MalformedMessageError, VerificationFailedError } from '../src/errors.js';

const alice = generateIdentity();
const bob = generateIdentity();

function sampleBody(over: Partial<UsageReceiptBody> = {}): UsageReceiptBody {
  return {
    version: 1,
    sessionId: new Uint8Array(16).fill(7),
    startedAt: 1_764_000_000_000,
    endedAt: 1_764_000_005_000,
    parties: [
      { role: 'requester', publicKey: alice.publicKey },
      { role: 'responder', publicKey: bob.publicKey },
    ],
    protocol: 'ecdh-psi',
    options: { truncate: '128', reveal: 'both' },
    purpose: 'pharmacovigilance study #42',
    inputSizes: { responder: 5000, requester: 1000 },
    outputSizes: { requester: 120 },
    bytesExchanged: 123_456,
    computeMs: 4_321,
    guardrails: [{ rule: 'min-cohort', outcome: 'passed', detail: 'k=10' }, { rule: 'budget', outcome: 'passed' }],
    billing: { currency: 'CNY', amountMinor: 1500, schedule: 'port-2026' },
    outcome: 'completed',
    ...over,
  };
}

function signed(body: UsageReceiptBody): UsageReceipt {
  return {
    body,
    signatures: [
      { publicKey: alice.publicKey, signature: signReceiptBody(alice.secretKey, body) },
      { publicKey: bob.publicKey, signature: signReceiptBody(bob.secretKey, body) },
    ],
  };
}

const str = fc.string({ maxLength: 20, unit: 'grapheme' });
const key = fc.uint8Array({ minLength: 32, maxLength: 32 });
const u = fc.maxSafeNat();
const arbBody: fc.Arbitrary<UsageReceiptBody> = fc
  .record({
    sessionId: fc.uint8Array({ minLength: 16, maxLength: 16 }),
    startedAt: u,
    endedAt: u,
    parties: fc.uniqueArray(fc.record({ role: str, publicKey: key }), {
      maxLength: 4,
      selector: (p) => Array.from(p.publicKey).join(','),
    }),
    protocol: str,
    options: fc.dictionary(str, str, { maxKeys: 5 }),
    purpose: fc.string({ maxLength: 100 }),
    inputSizes: fc.dictionary(str, u, { maxKeys: 4 }),
    outputSizes: fc.dictionary(str, u, { maxKeys: 4 }),
    bytesExchanged: u,
    computeMs: u,
    guardrails: fc.array(
      fc.oneof(fc.record({ rule: str, outcome: str }), fc.record({ rule: str, outcome: str, detail: str })),
      { maxLength: 3 },
    ),
    billing: fc.option(fc.record({ currency: str, amountMinor: u, schedule: str }), { nil: undefined }),
    outcome: str,
  })
  .map((r) => {
    const body: UsageReceiptBody = { version: 1, ...r };
    if (r.billing === undefined) delete body.billing;
    return body;
  });

describe('receipt body codec', () => {
  it('round-trips and is deterministic', () => {
    fc.assert(
      fc.property(arbBody, (body) => {
        const bytes = encodeReceiptBody(body);
        const back = decodeReceiptBody(bytes);
        expect(back).toEqual(body);
        expect(encodeReceiptBody(back)).toEqual(bytes);
      }),
    );
  });

  it('sorts map keys: insertion order does not change the bytes', () => {
    const a = encodeReceiptBody(sampleBody({ options: { b: '1', a: '2', é: '3' } }));
    const b = encodeReceiptBody(sampleBody({ options: { é: '3', a: '2', b: '1' } }));
    expect(a).toEqual(b);
  });

  it('keeps __proto__ as a plain key', () => {
    const options: Record<string, string> = {};
    Object.defineProperty(options, '__proto__', { value: 'x', enumerable: true, writable: true, configurable: true });
    const back = decodeReceiptBody(encodeReceiptBody(sampleBody({ options })));
    expect(Object.keys(back.options)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(back.options)).toBe(Object.prototype);
  });

  it('decoding arbitrary bytes only ever throws MalformedMessageError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
        try {
          const body = decodeReceiptBody(bytes);
          expect(encodeReceiptBody(body)).toEqual(bytes);
        } catch (e) {
          expect(e).toBeInstanceOf(MalformedMessageError);
        }
      }),
    );
  });

  it('every truncation and every trailing byte is rejected', () => {
    const bytes = encodeReceiptBody(sampleBody());
    for (let n = 0; n < bytes.length; n++) {
      expect(() => decodeReceiptBody(bytes.subarray(0, n))).toThrow(MalformedMessageError);
    }
    const longer = new Uint8Array(bytes.length + 1);
    longer.set(bytes);
    expect(() => decodeReceiptBody(longer)).toThrow(MalformedMessageError);
  });

  it('rejects a non-canonical key order, a wrong version, bad UTF-8 and out-of-range integers', () => {
    const body = sampleBody({ parties: [], protocol: 'p', options: { a: '1', b: '2' }, guardrails: [] });
    const bytes = encodeReceiptBody(body);
    // Layout: version 1, sessionId 16, times 16, party count 1, protocol 2+1, option count 1, then
    // key 'a' (2+1), value '1' (2+1), key 'b' (2+1).
    const i = 1 + 16 + 16 + 1 + 3 + 1 + 2;
    const j = i + 1 + 3 + 2;
    expect([bytes[i], bytes[j]]).toEqual([0x61, 0x62]);
    const swapped = new Uint8Array(bytes);
    swapped[i] = 0x62;
    swapped[j] = 0x61;
    expect(() => decodeReceiptBody(swapped)).toThrow(/canonical order/);
    const v2 = new Uint8Array(bytes);
    v2[0] = 2;
    expect(() => decodeReceiptBody(v2)).toThrow(MalformedMessageError);
    const badUtf8 = new Uint8Array(bytes);
    badUtf8[i] = 0xff;
    expect(() => decodeReceiptBody(badUtf8)).toThrow(MalformedMessageError);
    const big = new Uint8Array(bytes);
    big[17] = 0xff; // startedAt high byte → above 2^53 - 1
    expect(() => decodeReceiptBody(big)).toThrow(/out of range/);
  });

  it('refuses to encode what it cannot encode exactly', () => {
    expect(() => encodeReceiptBody(sampleBody({ bytesExchanged: 1.5 }))).toThrow(RangeError);
    expect(() => encodeReceiptBody(sampleBody({ computeMs: -1 }))).toThrow(RangeError);
    expect(() => encodeReceiptBody(sampleBody({ startedAt: 2 ** 53 }))).toThrow(RangeError);
    expect(() => encodeReceiptBody(sampleBody({ protocol: 'x'.repeat(257) }))).toThrow(RangeError);
    expect(() => encodeReceiptBody(sampleBody({ purpose: '\ud800' }))).toThrow(/well-formed/);
    expect(() => encodeReceiptBody(sampleBody({ sessionId: new Uint8Array(15) }))).toThrow(RangeError);
    expect(() =>
      encodeReceiptBody(sampleBody({ parties: [{ role: 'a', publicKey: alice.publicKey }, { role: 'b', publicKey: alice.publicKey }] })),
    ).toThrow(/duplicate/);
    expect(() => encodeReceiptBody(sampleBody({ options: { a: 1 as unknown as string } }))).toThrow(TypeError);
    expect(() => encodeReceiptBody({ ...sampleBody(), version: 2 as 1 })).toThrow(RangeError);
  });
});

describe('signed receipts', () => {
  it('round-trips with signatures in canonical order', () => {
    const r = signed(sampleBody());
    const reversed = { body: r.body, signatures: [...r.signatures].reverse() };
    const bytes = encodeReceipt(r);
    expect(encodeReceipt(reversed)).toEqual(bytes);
    const back = decodeReceipt(bytes);
    expect(back.body).toEqual(r.body);
    verifyReceipt(back, [alice.publicKey, bob.publicKey]);
  });

  it('decoding arbitrary bytes only ever throws MalformedMessageError', () => {
    const valid = encodeReceipt(signed(sampleBody()));
    fc.assert(
      fc.property(fc.nat(valid.length - 1), fc.integer({ min: 1, max: 255 }), (pos, x) => {
        const m = new Uint8Array(valid);
        m[pos]! ^= x;
        try {
          decodeReceipt(m);
        } catch (e) {
          expect(e).toBeInstanceOf(MalformedMessageError);
        }
      }),
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        try {
          decodeReceipt(bytes);
        } catch (e) {
          expect(e).toBeInstanceOf(MalformedMessageError);
        }
      }),
    );
  });

  it('rejects unsorted or duplicate signatures on decode', () => {
    const r = signed(sampleBody());
    const bytes = encodeReceipt(r);
    const sigStart = bytes.length - 2 * 96;
    const swapped = new Uint8Array(bytes);
    swapped.set(bytes.subarray(sigStart + 96), sigStart);
    swapped.set(bytes.subarray(sigStart, sigStart + 96), sigStart + 96);
    expect(() => decodeReceipt(swapped)).toThrow(/canonical order/);
    const dup = new Uint8Array(bytes);
    dup.set(bytes.subarray(sigStart, sigStart + 96), sigStart + 96);
    expect(() => decodeReceipt(dup)).toThrow(MalformedMessageError);
  });

  it('detects every tampered byte of the body through the signatures', () => {
    const r = signed(sampleBody());
    const bytes = encodeReceipt(r);
    for (let pos = 0; pos < bytes.length; pos++) {
      const m = new Uint8Array(bytes);
      m[pos]! ^= 0x01;
      let ok = false;
      try {
        verifyReceipt(decodeReceipt(m));
        ok = true;
      } catch (e) {
        expect(e instanceof MalformedMessageError || e instanceof VerificationFailedError).toBe(true);
      }
      expect(ok, `flip at ${pos} went unnoticed`).toBe(false);
    }
  });

  it('refuses missing, foreign and unexpected signers', () => {
    const body = sampleBody();
    const r = signed(body);
    expect(() => verifyReceipt({ body, signatures: [r.signatures[0]!] })).toThrow(/every party/);
    verifyReceipt({ body, signatures: [r.signatures[0]!] }, [alice.publicKey], { requireAllParties: false });
    expect(() => verifyReceipt({ body, signatures: [r.signatures[0]!] }, [bob.publicKey], { requireAllParties: false })).toThrow(
      VerificationFailedError,
    );
    const eve = generateIdentity();
    expect(() =>
      verifyReceipt({ body, signatures: [...r.signatures, { publicKey: eve.publicKey, signature: signReceiptBody(eve.secretKey, body) }] }),
    ).toThrow(/not a party/);
    expect(() => verifyReceipt(r, [eve.publicKey])).toThrow(VerificationFailedError);
    expect(() => verifyReceipt({ body, signatures: [] })).toThrow(VerificationFailedError);
    // A signature over another body does not transfer.
    const other = sampleBody({ computeMs: 1 });
    const forged = { body: other, signatures: r.signatures };
    expect(() => verifyReceipt(forged)).toThrow(/does not verify/);
  });
});
