/**
 * PPCA 9-2023 messages through the code generated from the SecretFlow interconnection `.proto`
 * files (`./gen/`, `npm run gen:ppca`): every decoder checks the size before parsing and returns a
 * whole message or throws `MalformedMessageError`; no hand-written protobuf.
 * @module
 */
import { create, fromBinary, toBinary, type DescMessage, type MessageShape } from '@bufbuild/protobuf';
import { MalformedMessageError } from '../../errors.js';
import { PushRequestSchema, PushResponseSchema, TransType, type PushRequest, type PushResponse } from './gen/interconnection/link/transport_pb.js';
import { ErrorCode as PpcaErrorCode } from './gen/interconnection/common/header_pb.js';
import { EcdhPsiCipherBatchSchema, type EcdhPsiCipherBatch } from './gen/interconnection/runtime/ecdh_psi_pb.js';

export { PushRequestSchema, PushResponseSchema, TransType, type PushRequest, type PushResponse };
export { EcdhPsiCipherBatchSchema, type EcdhPsiCipherBatch };
export { PpcaErrorCode };

/** The largest protobuf message dataport decodes from a peer (64 MiB; the reference's are ≤ ~1 MiB per RPC). */
export const PPCA_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

/** `fromBinary` that throws `MalformedMessageError` (never a partial message) and refuses oversize input. */
export function decodeProto<Desc extends DescMessage>(schema: Desc, bytes: Uint8Array, what: string, maxBytes = PPCA_MAX_MESSAGE_BYTES): MessageShape<Desc> {
  if (!(bytes instanceof Uint8Array)) throw new MalformedMessageError(`${what}: not bytes`);
  if (bytes.length > maxBytes) throw new MalformedMessageError(`${what}: ${bytes.length} bytes exceeds the limit of ${maxBytes}`);
  try {
    // Unknown fields are dropped, not kept: nothing of the peer's is echoed back.
    return fromBinary(schema, bytes, { readUnknownFields: false });
  } catch (cause) {
    throw new MalformedMessageError(`${what}: malformed protobuf`, { cause });
  }
}

/** `PushRequest` bytes, exactly as `toBinary` writes them. */
export function encodePushRequest(req: PushRequest): Uint8Array {
  return toBinary(PushRequestSchema, req);
}

/** The reference's success answer: a `PushResponse` with an empty header, bytes `0a 00` (brief §1.1). */
export function encodePushResponseOk(): Uint8Array {
  return toBinary(PushResponseSchema, create(PushResponseSchema, { header: {} }));
}

/** A `PushResponse` carrying `error_code` and a short message (brief §1.1 `FillResponseError`). */
export function encodePushResponseError(code: PpcaErrorCode, message: string): Uint8Array {
  return toBinary(PushResponseSchema, create(PushResponseSchema, { header: { errorCode: code, errorMsg: message } }));
}

/**
 * Text from a peer made safe to print: printable ASCII only, at most 200 characters (a peer
 * controls these bytes; they must not forge log lines or flood a terminal).
 */
export function peerText(s: string): string {
  const clean = s.replace(/[^\x20-\x7e]/g, '?');
  return clean.length > 200 ? `${clean.slice(0, 200)}…` : clean;
}

/** Batch types of `EcdhPsiCipherBatch.type` (brief §3.2). */
export const PpcaBatchType = { enc: 'enc', dualEnc: 'dual.enc' } as const;

/** Largest `count` accepted in one batch (the reference sends 4096; 2^20 leaves room for other peers). */
export const PPCA_MAX_BATCH_ITEMS = 1 << 20;

/** Encodes an `EcdhPsiCipherBatch` (proto3: zero, false and empty fields are absent, brief §3.4). */
export function encodeCipherBatch(type: string, batchIndex: number, isLast: boolean, count: number, ciphertext: Uint8Array): Uint8Array {
  return toBinary(EcdhPsiCipherBatchSchema, create(EcdhPsiCipherBatchSchema, { type, batchIndex, isLastBatch: isLast, count, ciphertext }));
}

/**
 * Decodes an `EcdhPsiCipherBatch` and checks what does not depend on the suite: the type, a
 * count in [0, 2^20], a ciphertext that is empty exactly when the count is 0 and a whole
 * multiple of the count otherwise. `duplicate_item_cnt_map` is ignored (brief §3.5).
 */
export function decodeCipherBatch(bytes: Uint8Array, expectedType: string): EcdhPsiCipherBatch {
  const b = decodeProto(EcdhPsiCipherBatchSchema, bytes, 'EcdhPsiCipherBatch');
  if (b.type !== expectedType) throw new MalformedMessageError(`EcdhPsiCipherBatch: type '${peerText(b.type)}', expected '${expectedType}'`);
  if (b.count < 0 || b.count > PPCA_MAX_BATCH_ITEMS) throw new MalformedMessageError(`EcdhPsiCipherBatch: count ${b.count} out of range`);
  if (b.count === 0 ? b.ciphertext.length !== 0 : b.ciphertext.length % b.count !== 0 || b.ciphertext.length === 0) {
    throw new MalformedMessageError(`EcdhPsiCipherBatch ${b.batchIndex}: ciphertext of ${b.ciphertext.length} bytes does not hold count = ${b.count} items`);
  }
  return b;
}
