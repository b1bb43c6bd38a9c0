/**
 * Wire messages of the multi-party aggregation protocol (one message per frame). Explicit binary:
 * `type u8 | version u8 | fields`, lengths u32 big-endian checked against limits before use; a
 * decoder returns a whole message or throws `MalformedMessageError`.
 * @module
 */
import { MalformedMessageError } from '../../errors.js';
import { HE_ENVELOPE_MAX_BYTES } from '../../he/context.js';
import { BinaryReader, BinaryWriter, type BinaryFaultMessages } from '../../utils/binary.js';
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

/** Fault texts of the aggregation decoder (stable). */
const AGGREGATE_FAULT: BinaryFaultMessages = (fault) =>
  fault === 'too-long' ? 'aggregation field too long' : fault === 'trailing' ? 'trailing bytes in aggregation frame' : 'aggregation frame truncated';

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
  const w = new BinaryWriter().u8(m.type, 'type').u8(AGGREGATE_VERSION);
  switch (m.type) {
    case AggregateMessageType.QUERY:
    case AggregateMessageType.ANNOUNCE:
      w.varBytes(4, m.query, AGGREGATE_QUERY_LIMITS.maxBytes, 'query').varBytes(4, m.publicKey, HE_ENVELOPE_MAX_BYTES, 'publicKey');
      if (m.signature === undefined) w.u8(0);
      else {
        if (m.signature.signer.length !== 32 || m.signature.signature.length !== 64) throw new RangeError('signer must be 32 bytes and signature 64');
        w.u8(1).bytes(m.signature.signer).bytes(m.signature.signature);
      }
      break;
    case AggregateMessageType.CONTRIBUTION:
      w.varBytes(4, m.ciphertext, HE_ENVELOPE_MAX_BYTES, 'ciphertext');
      break;
    case AggregateMessageType.TOTAL:
      w.u32(m.contributors, 'contributors').u32(m.expected, 'expected').u8(m.noiseAdded ? 1 : 0);
      w.varBytes(4, m.ciphertext, HE_ENVELOPE_MAX_BYTES, 'ciphertext');
      break;
    case AggregateMessageType.DONE:
      w.u32(m.contributors, 'contributors');
      break;
    case AggregateMessageType.ABORT:
      w.u8(m.reason, 'reason');
      break;
    case AggregateMessageType.JOIN:
      break;
    default:
      throw new TypeError('unknown message type');
  }
  return w.finish();
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
  const r = new BinaryReader(frame, AGGREGATE_FAULT);
  const type = r.u8();
  r.u8(); // the version, checked above
  let m: AggregateMessage;
  switch (type) {
    case AggregateMessageType.QUERY:
    case AggregateMessageType.ANNOUNCE:
    {
      const query = r.varBytes(4, AGGREGATE_QUERY_LIMITS.maxBytes);
      const publicKey = r.varBytes(4, HE_ENVELOPE_MAX_BYTES);
      const flag = r.u8();
      if (flag > 1) throw new MalformedMessageError('malformed flag');
      if (flag === 0) m = { type, query, publicKey };
      else {
        const signer = r.bytes(32);
        const signature = r.bytes(64);
        m = { type, query, publicKey, signature: { signer, signature } };
      }
      break;
    }
    case AggregateMessageType.CONTRIBUTION:
      m = { type, ciphertext: r.varBytes(4, HE_ENVELOPE_MAX_BYTES) };
      break;
    case AggregateMessageType.TOTAL: {
      const contributors = r.u32();
      const expected = r.u32();
      const flag = r.u8();
      if (flag > 1) throw new MalformedMessageError('malformed flag');
      if (contributors < 1 || contributors > expected || expected > AGGREGATE_QUERY_LIMITS.maxProviders) throw new MalformedMessageError('contributor count out of range');
      m = { type, contributors, expected, noiseAdded: flag === 1, ciphertext: r.varBytes(4, HE_ENVELOPE_MAX_BYTES) };
      break;
    }
    case AggregateMessageType.DONE: {
      const contributors = r.u32();
      if (contributors < 1 || contributors > AGGREGATE_QUERY_LIMITS.maxProviders) throw new MalformedMessageError('contributor count out of range');
      m = { type, contributors };
      break;
    }
    case AggregateMessageType.ABORT: {
      const reason = r.u8();
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
  r.expectEnd();
  return m;
}
