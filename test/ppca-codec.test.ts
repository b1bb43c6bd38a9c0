import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { anyPack } from '@bufbuild/protobuf/wkt';
import {
  PushRequestSchema,
  decodeCipherBatch,
  encodeCipherBatch,
  encodePushResponseError,
  encodePushResponseOk,
  PpcaErrorCode,
} from '../src/protocols/ppca/codec.js';
import { checkPpcaHandshakeRequest, checkPpcaHandshakeResponse, encodePpcaHandshakeRequest } from '../src/protocols/ppca/handshake.js';
import { HandshakeRequestSchema, HandshakeResponseSchema } from '../src/protocols/ppca/gen/interconnection/handshake/entry_pb.js';
import { EccProtocolProposalSchema, EccProtocolResultSchema } from '../src/protocols/ppca/gen/interconnection/handshake/protocol_family/ecc_pb.js';
import { PsiDataIoProposalSchema } from '../src/protocols/ppca/gen/interconnection/handshake/algos/psi_pb.js';
import { EcdhPsiCipherBatchSchema } from '../src/protocols/ppca/gen/interconnection/runtime/ecdh_psi_pb.js';
import { MalformedMessageError, ProtocolVersionError } from '../src/errors.js';
import { fromHex, toHex } from '../src/utils/bytes.js';

const ascii = (s: string): string => toHex(new TextEncoder().encode(s));

describe('messages against the .proto files (brief §1.1, §2.2, §3.4)', () => {
  it('the handshake request of the brief, byte for byte (curve25519, 2000 rows, result to all; 190 bytes)', () => {
    const expected =
      '0802' + '1001' + '1a0101' + '3a0101' +
      '4259' + '0a47' + ascii('type.googleapis.com/org.interconnection.v2.protocol.EccProtocolProposal') +
      '120e' + '0a0101' + '1206080110' + '0b1803' + '1a0101' +
      '4a57' + '0a42' + ascii('type.googleapis.com/org.interconnection.v2.algos.PsiDataIoProposal') +
      '1211' + '0a0101' + '10d00f' + '18ffffffffffffffffff01';
    const got = encodePpcaHandshakeRequest({ suite: 'curve25519-sha256-direct', resultToRank: -1, itemNum: 2000 });
    expect(got.length).toBe(190);
    expect(toHex(got)).toBe(expected);
    // and it round-trips through the generated code
    const back = fromBinary(HandshakeRequestSchema, got);
    expect(back.version).toBe(2);
    expect(toHex(toBinary(HandshakeRequestSchema, back))).toBe(expected);
  });

  it('result_to_rank = 0 leaves the field out', () => {
    const got = encodePpcaHandshakeRequest({ suite: 'curve25519-sha256-direct', resultToRank: 0, itemNum: 2000 });
    expect(toHex(got).endsWith('0a010110d00f')).toBe(true);
  });

  it('PushResponse OK is 0a 00; a refusal carries code and message', () => {
    expect(toHex(encodePushResponseOk())).toBe('0a00');
    const err = encodePushResponseError(PpcaErrorCode.INVALID_REQUEST, 'x');
    // 31100100 = varint c4 99 ea 0e
    expect(toHex(err)).toBe('0a08' + '08c499ea0e' + '120178');
  });

  it('EcdhPsiCipherBatch examples of §3.4', () => {
    const pts = new Uint8Array(64).fill(7);
    expect(toHex(encodeCipherBatch('enc', 0, false, 2, pts))).toBe('0a03' + ascii('enc') + '3002' + '3a40' + toHex(pts));
    expect(toHex(encodeCipherBatch('enc', 1, true, 0, new Uint8Array()))).toBe('0a03' + ascii('enc') + '18012001');
    expect(toHex(encodeCipherBatch('enc', 0, true, 0, new Uint8Array()))).toBe('0a03' + ascii('enc') + '2001');
  });

  it('the refusal of §2.3, byte for byte', () => {
    const req = encodePpcaHandshakeRequest({ suite: 'sm2-sha256-tar', resultToRank: -1, itemNum: 1 });
    const v = checkPpcaHandshakeRequest(req, { suite: 'curve25519-sha256-direct', resultToRank: -1, itemNum: 1 });
    expect(v.refusal?.code).toBe(PpcaErrorCode.HANDSHAKE_REFUSED);
    const res = fromBinary(HandshakeResponseSchema, v.response);
    expect(res.header?.errorMsg.startsWith('negotiate ec suits failed')).toBe(true);
    expect(res.header?.errorMsg).toContain('SM2, SHA_256, TRY_AND_REHASH');
    expect(res.header?.errorMsg).toContain('CURVE25519');
    // 0a LEN 08 a8 9a ea 0e 12 LEN "negotiate ec suits failed…"
    expect(toHex(v.response).slice(0, 2)).toBe('0a');
    expect(toHex(v.response)).toContain('08a89aea0e12');
    expect(() => checkPpcaHandshakeResponse(v.response, { suite: 'sm2-sha256-tar', resultToRank: -1, itemNum: 1 })).toThrow(/31100200 HANDSHAKE_REFUSED: negotiate ec suits failed/);
  });
});

describe('handshake checks (brief §2.3)', () => {
  const mine = { suite: 'sm2-sm3-tai', resultToRank: 1, itemNum: 5 } as const;
  it('accepts a matching request and the answer satisfies the requester', () => {
    const v = checkPpcaHandshakeRequest(encodePpcaHandshakeRequest({ ...mine, itemNum: 9 }), mine);
    expect(v.refusal).toBeUndefined();
    expect(v.peerItemNum).toBe(9);
    const res = fromBinary(HandshakeResponseSchema, v.response);
    expect(toHex(v.response).startsWith('0a00')).toBe(true);
    expect(res.algo).toBe(1);
    expect(res.protocolFamilyParams[0]!.typeUrl).toBe('type.googleapis.com/org.interconnection.v2.protocol.EccProtocolResult');
    expect(fromBinary(EccProtocolResultSchema, res.protocolFamilyParams[0]!.value).version).toBe(0);
    expect(res.ioParam!.typeUrl).toBe('type.googleapis.com/org.interconnection.v2.algos.PsiDataIoProposal');
    expect(checkPpcaHandshakeResponse(v.response, { ...mine, itemNum: 9 })).toEqual({ bitLengthAfterTruncated: -1, peerItemNum: 5 });
  });
  it('refuses another result_to_rank, naming both', () => {
    const v = checkPpcaHandshakeRequest(encodePpcaHandshakeRequest({ ...mine, resultToRank: -1 }), mine);
    expect(v.refusal?.message).toBe('negotiate result_to_rank failed: requester -1, rank 0 1');
  });
  it('refuses version 1, a missing ecc param, a missing io param, another point format', () => {
    const base = fromBinary(HandshakeRequestSchema, encodePpcaHandshakeRequest(mine));
    const v1 = checkPpcaHandshakeRequest(toBinary(HandshakeRequestSchema, { ...base, version: 1 }), mine);
    expect(v1.refusal?.message).toMatch(/^handshake versions inconsistent/);
    const noEcc = checkPpcaHandshakeRequest(toBinary(HandshakeRequestSchema, { ...base, protocolFamilyParams: [] }), mine);
    expect(noEcc.refusal).toEqual({ code: PpcaErrorCode.INVALID_REQUEST, message: 'certain request has no ecc params' });
    const noIo = create(HandshakeRequestSchema, { ...base });
    noIo.ioParam = undefined;
    expect(checkPpcaHandshakeRequest(toBinary(HandshakeRequestSchema, noIo), mine).refusal?.message).toBe('certain request has no psi io params');
    const ecc = fromBinary(EccProtocolProposalSchema, base.protocolFamilyParams[0]!.value);
    ecc.pointOctetFormats = [1];
    const fmt = checkPpcaHandshakeRequest(toBinary(HandshakeRequestSchema, { ...base, protocolFamilyParams: [anyPack(EccProtocolProposalSchema, ecc)] }), mine);
    expect(fmt.refusal?.message).toMatch(/^negotiate point octet format failed: requester offers UNCOMPRESSED, rank 0 uses X962_COMPRESSED/);
  });
  it('accepts the standard\'s io message name PsiDataInfoProposal (same layout)', () => {
    const base = fromBinary(HandshakeRequestSchema, encodePpcaHandshakeRequest(mine));
    base.ioParam = { $typeName: 'google.protobuf.Any', typeUrl: 'type.googleapis.com/org.interconnection.v2.algos.PsiDataInfoProposal', value: toBinary(PsiDataIoProposalSchema, create(PsiDataIoProposalSchema, { resultToRank: 1 })) };
    expect(checkPpcaHandshakeRequest(toBinary(HandshakeRequestSchema, base), mine).refusal).toBeUndefined();
  });
  it('the requester refuses an answer with another suite or a truncation it did not offer', () => {
    const v = checkPpcaHandshakeRequest(encodePpcaHandshakeRequest(mine), mine);
    expect(() => checkPpcaHandshakeResponse(v.response, { ...mine, suite: 'sm2-sha256-tar' })).toThrow(ProtocolVersionError);
    const res = fromBinary(HandshakeResponseSchema, v.response);
    const r = fromBinary(EccProtocolResultSchema, res.protocolFamilyParams[0]!.value);
    r.bitLengthAfterTruncated = 128;
    res.protocolFamilyParams = [anyPack(EccProtocolResultSchema, r)];
    expect(() => checkPpcaHandshakeResponse(toBinary(HandshakeResponseSchema, res), mine)).toThrow(/truncation to 128 bits/);
  });
  it('decoding arbitrary bytes only ever throws MalformedMessageError (or refuses)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        for (const f of [() => checkPpcaHandshakeRequest(bytes, mine), () => checkPpcaHandshakeResponse(bytes, mine), () => decodeCipherBatch(bytes, 'enc')]) {
          try {
            f();
          } catch (e) {
            if (!(e instanceof MalformedMessageError) && !(e instanceof ProtocolVersionError)) throw e;
          }
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('cipher batches', () => {
  it('round-trip through the generated code', () => {
    fc.assert(
      fc.property(fc.nat(1000), fc.boolean(), fc.integer({ min: 1, max: 20 }), (index, last, count) => {
        const ct = new Uint8Array(count * 12).map((_, i) => i);
        const bytes = encodeCipherBatch('dual.enc', index, last, count, ct);
        const b = decodeCipherBatch(bytes, 'dual.enc');
        expect([b.batchIndex, b.isLastBatch, b.count, toHex(b.ciphertext)]).toEqual([index, last, count, toHex(ct)]);
        expect(toHex(toBinary(EcdhPsiCipherBatchSchema, fromBinary(EcdhPsiCipherBatchSchema, bytes)))).toBe(toHex(bytes));
      }),
    );
  });
  it('refuses a size that differs from the count, a negative count, the wrong type', () => {
    expect(() => decodeCipherBatch(encodeCipherBatch('enc', 0, false, 3, new Uint8Array(64)), 'enc')).toThrow(MalformedMessageError);
    expect(() => decodeCipherBatch(encodeCipherBatch('enc', 0, false, 0, new Uint8Array(32)), 'enc')).toThrow(MalformedMessageError);
    expect(() => decodeCipherBatch(encodeCipherBatch('enc', 0, false, -1, new Uint8Array(32)), 'enc')).toThrow(MalformedMessageError);
    expect(() => decodeCipherBatch(encodeCipherBatch('enc', 0, false, 1, new Uint8Array(32)), 'dual.enc')).toThrow(MalformedMessageError);
  });
  it('ignores duplicate_item_cnt_map', () => {
    const m = create(EcdhPsiCipherBatchSchema, { type: 'enc', count: 1, ciphertext: new Uint8Array(32), duplicateItemCntMap: { 0: 2 } });
    expect(decodeCipherBatch(toBinary(EcdhPsiCipherBatchSchema, m), 'enc').count).toBe(1);
  });
  it('PushRequest keys and values survive the generated codec', () => {
    const r = create(PushRequestSchema, { senderRank: 1n, key: 'root:P2P-1:1->0\x01\x021', value: fromHex('0102') });
    const back = fromBinary(PushRequestSchema, toBinary(PushRequestSchema, r));
    expect(back.key).toBe('root:P2P-1:1->0\x01\x021');
    expect(back.transType).toBe(0);
  });
});
