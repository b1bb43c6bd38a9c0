/**
 * Wire messages of the multi-party aggregation protocol (one message per frame). Explicit binary:
 * `type u8 | version u8 | fields`, lengths u32 big-endian checked against limits before use; a
 * decoder returns a whole message or throws `MalformedMessageError`.
 * @module
 */
import { MalformedMessageError } from '../../errors.js';
import { HE_ENVELOPE_MAX_BYTES } from '../../he/context.js';
import { AGGREGATE_QUERY_LIMITS } from './query.js';

/** Protocol version carried by every message. */
export const AGGREGATE_VERSION = 1;

/**
 * Message type codes.
 *
 * @example
 * ```ts
 * if (frame[0] === AggregateMessageType.ABORT) console.log('round aborted');
 * ```
 */
export const AggregateMessageType = {
  /** analyst → aggregator: canonical query + HE public key. */
  QUERY: 1,
  /** aggregator → provider: the same, forwarded. */
  ANNOUNCE: 2,
  /** provider → aggregator: encrypted local aggregates. */
  CONTRIBUTION: 3,
  /** aggregator → analyst: the re-randomised, finalised encrypted total. */
  TOTAL: 4,
  /** aggregator → provider: the round completed (with this many contributors). */
  DONE: 5,
  /** any → any: the round ends with an error code. */
  ABORT: 6,
  /** provider → aggregator: first frame of a provider connection (lets a server tell roles apart). */
  JOIN: 7,
} as const;

/**
 * Why a round ended early (carried in ABORT; stable, safe to show).
 *
 * @example
 * ```ts
 * const m: AggregateMessage = { type: AggregateMessageType.ABORT, reason: AbortReason.PROVIDER_LOST };
 * ```
 */
export const AbortReason = {
  PROTOCOL_ERROR: 1,
  PROVIDER_LOST: 2,
  TIMEOUT: 3,
  QUERY_REFUSED: 4,
  INPUT_ERROR: 5,
  ANALYST_LOST: 6,
  /** A provider refused the query because its quorum is below that provider's minimum. */
  QUORUM_REFUSED: 7,
} as const;

/** One aggregation message. */
export type AggregateMessage =
  | {
      type: typeof AggregateMessageType.QUERY | typeof AggregateMessageType.ANNOUNCE;
      query: Uint8Array;
      publicKey: Uint8Array;
      /** The analyst's Ed25519 signature over (query, public key), if it signs (see `querySigningInput`). */
      signature?: { signer: Uint8Array; signature: Uint8Array };
    }
  | { type: typeof AggregateMessageType.CONTRIBUTION; ciphertext: Uint8Array }
  | { type: typeof AggregateMessageType.TOTAL; contributors: number; expected: number; noiseAdded: boolean; ciphertext: Uint8Array }
  | { type: typeof AggregateMessageType.DONE; contributors: number }
  | { type: typeof AggregateMessageType.ABORT; reason: number }
  | { type: typeof AggregateMessageType.JOIN };

/** Largest frame this protocol produces or accepts. */
export const AGGREGATE_MAX_FRAME_BYTES = HE_ENVELOPE_MAX_BYTES + AGGREGATE_QUERY_LIMITS.maxBytes + 64;

/**
 * Encodes one message.
 *
 * @example
 * ```ts
 * const frame = encodeAggregateMessage({ type: AggregateMessageType.DONE, contributors: 3 });
 * ```
 */
export function encodeAggregateMessage(m: AggregateMessage): Uint8Array {
  const parts: Uint8Array[] = [];
  const u32 = (v: number) => {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v);
    parts.push(b);
  };
  const bytes = (b: Uint8Array) => {
    u32(b.length);
    parts.push(b);
  };
  parts.push(new Uint8Array([m.type, AGGREGATE_VERSION]));
  switch (m.type) {
    case AggregateMessageType.QUERY:
    case AggregateMessageType.ANNOUNCE:
      bytes(m.query);
      bytes(m.publicKey);
      if (m.signature === undefined) parts.push(new Uint8Array([0]));
      else {
        if (m.signature.signer.length !== 32 || m.signature.signature.length !== 64) throw new RangeError('signer must be 32 bytes and signature 64');
        parts.push(new Uint8Array([1]), m.signature.signer, m.signature.signature);
      }
      break;
    case AggregateMessageType.CONTRIBUTION:
      bytes(m.ciphertext);
      break;
    case AggregateMessageType.TOTAL:
      u32(m.contributors);
      u32(m.expected);
      parts.push(new Uint8Array([m.noiseAdded ? 1 : 0]));
      bytes(m.ciphertext);
      break;
    case AggregateMessageType.DONE:
      u32(m.contributors);
      break;
    case AggregateMessageType.ABORT:
      parts.push(new Uint8Array([m.reason]));
      break;
    case AggregateMessageType.JOIN:
      break;
    default:
      throw new TypeError('unknown message type');
  }
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/**
 * Decodes one frame. Throws `MalformedMessageError` for an unknown type or version, a length over
 * its limit, truncation or trailing bytes.
 *
 * @example
 * ```ts
 * const msg = decodeAggregateMessage(await transport.receive());
 * ```
 */
export function decodeAggregateMessage(frame: Uint8Array): AggregateMessage {
  if (!(frame instanceof Uint8Array)) throw new TypeError('frame must be a Uint8Array');
  if (frame.length > AGGREGATE_MAX_FRAME_BYTES) throw new MalformedMessageError('aggregation frame too large');
  if (frame.length < 2) throw new MalformedMessageError('aggregation frame truncated');
  if (frame[1] !== AGGREGATE_VERSION) throw new MalformedMessageError('unsupported aggregation protocol version');
  const dv = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  let off = 2;
  const need = (n: number) => {
    if (frame.length - off < n) throw new MalformedMessageError('aggregation frame truncated');
  };
  const u32 = () => {
    need(4);
    const v = dv.getUint32(off);
    off += 4;
    return v;
  };
  const u8 = () => {
    need(1);
    return frame[off++]!;
  };
  const bytes = (max: number) => {
    const len = u32();
    if (len > max) throw new MalformedMessageError('aggregation field too long');
    need(len);
    const b = frame.slice(off, off + len);
    off += len;
    return b;
  };
  let m: AggregateMessage;
  const type = frame[0];
  switch (type) {
    case AggregateMessageType.QUERY:
    case AggregateMessageType.ANNOUNCE:
    {
      const query = bytes(AGGREGATE_QUERY_LIMITS.maxBytes);
      const publicKey = bytes(HE_ENVELOPE_MAX_BYTES);
      const flag = u8();
      if (flag > 1) throw new MalformedMessageError('malformed flag');
      if (flag === 0) m = { type, query, publicKey };
      else {
        need(96);
        const signer = frame.slice(off, off + 32);
        const signature = frame.slice(off + 32, off + 96);
        off += 96;
        m = { type, query, publicKey, signature: { signer, signature } };
      }
      break;
    }
    case AggregateMessageType.CONTRIBUTION:
      m = { type, ciphertext: bytes(HE_ENVELOPE_MAX_BYTES) };
      break;
    case AggregateMessageType.TOTAL: {
      const contributors = u32();
      const expected = u32();
      const flag = u8();
      if (flag > 1) throw new MalformedMessageError('malformed flag');
      if (contributors < 1 || contributors > expected || expected > AGGREGATE_QUERY_LIMITS.maxProviders) throw new MalformedMessageError('contributor count out of range');
      m = { type, contributors, expected, noiseAdded: flag === 1, ciphertext: bytes(HE_ENVELOPE_MAX_BYTES) };
      break;
    }
    case AggregateMessageType.DONE: {
      const contributors = u32();
      if (contributors < 1 || contributors > AGGREGATE_QUERY_LIMITS.maxProviders) throw new MalformedMessageError('contributor count out of range');
      m = { type, contributors };
      break;
    }
    case AggregateMessageType.ABORT: {
      const reason = u8();
      if (reason < 1 || reason > 7) throw new MalformedMessageError('unknown abort reason');
      m = { type, reason };
      break;
    }
    case AggregateMessageType.JOIN:
      m = { type };
      break;
    default:
      throw new MalformedMessageError('unknown aggregation message type');
  }
  if (off !== frame.length) throw new MalformedMessageError('trailing bytes in aggregation frame');
  return m;
}
