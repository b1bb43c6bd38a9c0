import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  decodeEcdhPsiBatch,
  decodeHandshakeRequest,
  decodeHandshakeResponse,
  encodeEcdhPsiBatch,
  encodeHandshakeRequest,
  encodeHandshakeResponse,
  type HandshakeRequest,
  type HandshakeResponse,
  type OutputModeValue,
  type TruncationOptionValue,
  type BatchTypeValue,
} from '../src/protocols/psi/codec.js';
import { MalformedMessageError, ProtocolVersionError } from '../src/errors.js';

const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const u8list = fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 255 });

const requestArb: fc.Arbitrary<HandshakeRequest> = fc.record({
  version: fc.constant(1),
  suites: u8list,
  pointOctetFormats: u8list,
  outputMode: fc.constantFrom(0, 1, 2, 3) as fc.Arbitrary<OutputModeValue>,
  truncationOptions: u8list,
  itemNum: u64,
});

const responseArb: fc.Arbitrary<HandshakeResponse> = fc.record({
  version: fc.constant(1),
  status: fc.constantFrom(0, 1),
  suite: fc.constant(4),
  pointOctetFormat: fc.constant(0),
  outputMode: fc.constantFrom(0, 1, 2, 3) as fc.Arbitrary<OutputModeValue>,
  truncationOption: fc.constantFrom(0, 1, 2) as fc.Arbitrary<TruncationOptionValue>,
  itemNum: u64,
});

const batchArb = fc.record({
  type: fc.constantFrom(1, 2) as fc.Arbitrary<BatchTypeValue>,
  index: u64,
  isLastBatch: fc.boolean(),
  encodedPoints: fc.uint8Array({ minLength: 1, maxLength: 200 }),
});

/** Only the two documented error types may escape a decoder fed arbitrary bytes. */
function onlyTypedErrors(fn: () => unknown): void {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof MalformedMessageError) && !(e instanceof ProtocolVersionError)) throw e;
  }
}

describe('PSI codecs', () => {
  it('HandshakeRequest round-trips', () => {
    fc.assert(
      fc.property(requestArb, (m) => {
        expect(decodeHandshakeRequest(encodeHandshakeRequest(m))).toEqual(m);
      }),
    );
  });

  it('HandshakeResponse round-trips', () => {
    fc.assert(
      fc.property(responseArb, (m) => {
        expect(decodeHandshakeResponse(encodeHandshakeResponse(m))).toEqual(m);
      }),
    );
  });

  it('EcdhPsiBatch round-trips', () => {
    fc.assert(
      fc.property(batchArb, (m) => {
        const d = decodeEcdhPsiBatch(encodeEcdhPsiBatch(m), { maxPointsBytes: 1000 });
        expect({ ...d, encodedPoints: new Uint8Array(d.encodedPoints) }).toEqual(m);
      }),
    );
  });

  it('pins the byte layout (big-endian, 1-byte vector lengths, 8-byte points length)', () => {
    const req = encodeHandshakeRequest({ version: 1, suites: [4], pointOctetFormats: [0], outputMode: 1, truncationOptions: [1, 2], itemNum: 0x0102n });
    expect(Array.from(req)).toEqual([1, 1, 4, 1, 0, 1, 2, 1, 2, 0, 0, 0, 0, 0, 0, 1, 2]);
    const res = encodeHandshakeResponse({ version: 1, status: 0, suite: 4, pointOctetFormat: 0, outputMode: 0, truncationOption: 2, itemNum: 5n });
    expect(Array.from(res)).toEqual([1, 0, 4, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 5]);
    const batch = encodeEcdhPsiBatch({ type: 2, index: 0xaabbn, isLastBatch: true, encodedPoints: new Uint8Array([9, 8]) });
    expect(Array.from(batch)).toEqual([2, 0, 0, 0, 0, 0, 0, 0xaa, 0xbb, 1, 0, 0, 0, 0, 0, 0, 0, 2, 9, 8]);
  });

  it('rejects trailing bytes, truncation and bad fields with MalformedMessageError', () => {
    const req = encodeHandshakeRequest({ version: 1, suites: [4], pointOctetFormats: [0], outputMode: 0, truncationOptions: [1], itemNum: 1n });
    expect(() => decodeHandshakeRequest(new Uint8Array([...req, 0]))).toThrow(MalformedMessageError);
    for (let cut = 0; cut < req.length; cut++) {
      expect(() => decodeHandshakeRequest(req.subarray(0, cut))).toThrow(MalformedMessageError);
    }
    const emptyVec = new Uint8Array([1, 0, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1]);
    expect(() => decodeHandshakeRequest(emptyVec)).toThrow(MalformedMessageError);
    const batch = encodeEcdhPsiBatch({ type: 1, index: 1n, isLastBatch: false, encodedPoints: new Uint8Array(64) });
    expect(() => decodeEcdhPsiBatch(batch, { maxPointsBytes: 32 })).toThrow(MalformedMessageError);
    expect(() => decodeEcdhPsiBatch(batch, { maxPointsBytes: 64, elementBytes: 24 })).toThrow(MalformedMessageError);
    const badLast = new Uint8Array(batch);
    badLast[9] = 2;
    expect(() => decodeEcdhPsiBatch(badLast, { maxPointsBytes: 64 })).toThrow(MalformedMessageError);
    const badType = new Uint8Array(batch);
    badType[0] = 3;
    expect(() => decodeEcdhPsiBatch(badType, { maxPointsBytes: 64 })).toThrow(MalformedMessageError);
    // A length of 2^64-1 is refused from the limit, before any slicing or allocation.
    const huge = new Uint8Array(batch);
    huge.fill(0xff, 10, 18);
    expect(() => decodeEcdhPsiBatch(huge, { maxPointsBytes: 64 })).toThrow(MalformedMessageError);
    const zeroLen = encodeEcdhPsiBatch({ type: 1, index: 1n, isLastBatch: true, encodedPoints: new Uint8Array(1) }).subarray(0, 18);
    expect(() => decodeEcdhPsiBatch(zeroLen.map((b, i) => (i === 17 ? 0 : b)), { maxPointsBytes: 64 })).toThrow(MalformedMessageError);
  });

  it('a well-formed unknown version, suite or option is a ProtocolVersionError', () => {
    const req = encodeHandshakeRequest({ version: 2, suites: [4], pointOctetFormats: [0], outputMode: 0, truncationOptions: [1], itemNum: 1n });
    expect(() => decodeHandshakeRequest(req)).toThrow(ProtocolVersionError);
    const mode = encodeHandshakeRequest({ version: 1, suites: [4], pointOctetFormats: [0], outputMode: 9 as OutputModeValue, truncationOptions: [1], itemNum: 1n });
    expect(() => decodeHandshakeRequest(mode)).toThrow(ProtocolVersionError);
    const base = { version: 1, status: 0, suite: 4, pointOctetFormat: 0, outputMode: 0 as OutputModeValue, truncationOption: 1 as TruncationOptionValue, itemNum: 1n };
    expect(() => decodeHandshakeResponse(encodeHandshakeResponse({ ...base, suite: 3 }))).toThrow(ProtocolVersionError);
    expect(() => decodeHandshakeResponse(encodeHandshakeResponse({ ...base, pointOctetFormat: 1 }))).toThrow(ProtocolVersionError);
    expect(() => decodeHandshakeResponse(encodeHandshakeResponse({ ...base, version: 7 }))).toThrow(ProtocolVersionError);
    expect(() => decodeHandshakeResponse(encodeHandshakeResponse({ ...base, truncationOption: 3 as TruncationOptionValue }))).toThrow(ProtocolVersionError);
    expect(() => decodeHandshakeResponse(encodeHandshakeResponse({ ...base, status: 2 }))).toThrow(MalformedMessageError);
  });

  it('decoding arbitrary bytes only ever throws MalformedMessageError or ProtocolVersionError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        onlyTypedErrors(() => decodeHandshakeRequest(bytes));
        onlyTypedErrors(() => decodeHandshakeResponse(bytes));
        onlyTypedErrors(() => decodeEcdhPsiBatch(bytes, { maxPointsBytes: 256, elementBytes: 32 }));
      }),
      { numRuns: 3000 },
    );
  });

  it('mutated valid messages only ever throw the typed errors (or decode whole)', () => {
    const msgs = fc.oneof(requestArb.map(encodeHandshakeRequest), responseArb.map(encodeHandshakeResponse), batchArb.map(encodeEcdhPsiBatch));
    fc.assert(
      fc.property(msgs, fc.nat(), fc.integer({ min: 0, max: 255 }), fc.nat({ max: 4 }), (m, pos, byte, cut) => {
        const bytes = new Uint8Array(m);
        if (bytes.length > 0) bytes[pos % bytes.length] = byte;
        const mutated = bytes.subarray(0, Math.max(0, bytes.length - cut));
        onlyTypedErrors(() => decodeHandshakeRequest(mutated));
        onlyTypedErrors(() => decodeHandshakeResponse(mutated));
        onlyTypedErrors(() => decodeEcdhPsiBatch(mutated, { maxPointsBytes: 256 }));
      }),
      { numRuns: 3000 },
    );
  });

  it('misuse of the encoders throws TypeError / RangeError', () => {
    expect(() => encodeHandshakeRequest({ version: 1, suites: [], pointOctetFormats: [0], outputMode: 0, truncationOptions: [1], itemNum: 1n })).toThrow(RangeError);
    expect(() => encodeHandshakeRequest({ version: 1, suites: [4], pointOctetFormats: [0], outputMode: 0, truncationOptions: [1], itemNum: -1n })).toThrow(RangeError);
    expect(() => encodeEcdhPsiBatch({ type: 1, index: 0n, isLastBatch: true, encodedPoints: new Uint8Array() })).toThrow(RangeError);
    expect(() => decodeEcdhPsiBatch('x' as unknown as Uint8Array, { maxPointsBytes: 1 })).toThrow(TypeError);
  });
});
