/**
 * Wire codecs of ECDH-PSI (draft-wang-ppm-ecdh-psi-01 §3): HandshakeRequest, HandshakeResponse and
 * EcdhPsiBatch in TLS presentation-language encoding (RFC 8446 §3): fixed-width big-endian
 * integers, vectors prefixed by their length in bytes.
 *
 * The field layout below is this project's pinned reading of the draft (see docs/psi-protocol.md);
 * where the draft text was not at hand, the choices of the project brief decide: `<1..255>` vectors
 * carry a 1-byte length, `encoded_points<1..2^64-1>` an 8-byte length in bytes, `index` is a
 * uint64 chosen by the owner of the points and preserved by the party that re-masks them.
 *
 * ```
 * struct {
 *   uint8  version;                          // 1
 *   uint8  suites<1..255>;                   // CipherSuite code points, preference order
 *   uint8  point_octet_formats<1..255>;      // 0 = 32-byte little-endian u-coordinate
 *   uint8  output_mode;                      // 0 both learn, 1 requester only (+ 2, 3: see OutputMode)
 *   uint8  truncation_options<1..255>;       // 0 none, 1 = 128 bits, 2 = 192 bits
 *   uint64 item_num;                         // the requester's number of distinct records
 * } HandshakeRequest;
 *
 * struct {
 *   uint8  version;
 *   uint8  status;                           // 0 accepted, 1 refused (then the session ends)
 *   uint8  suite;
 *   uint8  point_octet_format;
 *   uint8  output_mode;
 *   uint8  truncation_option;
 *   uint64 item_num;                         // the responder's number of distinct records
 * } HandshakeResponse;
 *
 * struct {
 *   uint8  type;                             // 1 = round 1 (H(x)^a), 2 = round 2 (H(x)^ab)
 *   uint64 index;
 *   uint8  is_last_batch;                    // 0 or 1
 *   opaque encoded_points<1..2^64-1>;        // concatenated points (round 2: maybe truncated)
 * } EcdhPsiBatch;
 * ```
 *
 * Decoders return a whole typed message or throw `MalformedMessageError` (never a partial result),
 * check every length against explicit limits before slicing, and reject trailing bytes. A
 * well-formed message naming a version, suite, point format or option this build does not know
 * throws `ProtocolVersionError`.
 * @module
 */
import { MalformedMessageError, ProtocolVersionError } from '../../errors.js';
import { BinaryReader, BinaryWriter, type BinaryFaultMessages } from '../../utils/binary.js';

/**
 * The protocol version this build speaks.
 *
 * @example
 * ```ts
 * decodeHandshakeRequest(frame).version === PSI_VERSION;
 * ```
 */
export const PSI_VERSION = 1;

/**
 * CipherSuite code points: curve25519 (4, draft-01 §3) and dataport's SM2 suite (0xF1, from the
 * private range: SM2 with the SM3 try-and-increment map, `suite.ts`; not the draft's SM2 SSWU suite).
 *
 * @example
 * ```ts
 * request.suites.includes(CipherSuite.CURVE25519);
 * ```
 */
export const CipherSuite = { CURVE25519: 4, SM2_SM3_TAI: 0xf1 } as const;

/**
 * Point octet formats: 0 is the 32-byte little-endian u-coordinate (RFC 7748 §5), 2 the 33-byte
 * X9.62 compressed point (SEC 1 §2.3.3; PPCA 9-2023's number for it).
 *
 * @example
 * ```ts
 * response.pointOctetFormat === PointOctetFormat.U_COORDINATE;
 * ```
 */
export const PointOctetFormat = { U_COORDINATE: 0, X962_COMPRESSED: 2 } as const;

/**
 * Output modes. 0 and 1 are the draft's; 2 and 3 are dataport extensions (cardinality only), never
 * used in interop mode.
 *
 * @example
 * ```ts
 * if (response.outputMode === OutputMode.REQUESTER) console.log('only the requester learns');
 * ```
 */
export const OutputMode = {
  /** Both parties learn which of their records are in the intersection. */
  BOTH: 0,
  /** Only the requester learns which of its records are in the intersection. */
  REQUESTER: 1,
  /** Only the requester learns the intersection size (no record learns its membership). */
  CARDINALITY_REQUESTER: 2,
  /** Both parties learn the intersection size, and nothing about single records. */
  CARDINALITY_BOTH: 3,
} as const;

/** One of the values of {@link OutputMode}. */
export type OutputModeValue = (typeof OutputMode)[keyof typeof OutputMode];

/**
 * Truncation options of round-2 values: none (32 bytes), 128 bits (16), 192 bits (24).
 *
 * @example
 * ```ts
 * valueBytes(TruncationOption.BITS_128); // 16
 * ```
 */
export const TruncationOption = { NONE: 0, BITS_128: 1, BITS_192: 2 } as const;

/** One of the values of {@link TruncationOption}. */
export type TruncationOptionValue = (typeof TruncationOption)[keyof typeof TruncationOption];

/**
 * Batch types: round 1 carries singly masked points, round 2 jointly masked values.
 *
 * @example
 * ```ts
 * encodeEcdhPsiBatch({ type: BatchType.ROUND1, index: 7n, isLastBatch: true, encodedPoints: flat });
 * ```
 */
export const BatchType = { ROUND1: 1, ROUND2: 2 } as const;

/** One of the values of {@link BatchType}. */
export type BatchTypeValue = (typeof BatchType)[keyof typeof BatchType];

/**
 * Handshake status codes: 0 accepted, 1 refused.
 *
 * @example
 * ```ts
 * if (decodeHandshakeResponse(frame).status === HandshakeStatus.REFUSED) throw new TermsRefusedError();
 * ```
 */
export const HandshakeStatus = { ACCEPTED: 0, REFUSED: 1 } as const;

/**
 * Bytes per round-2 value for each truncation option.
 *
 * @example
 * ```ts
 * valueBytes(0); // 32
 * ```
 */
export function valueBytes(truncation: TruncationOptionValue): number {
  return truncation === TruncationOption.NONE ? 32 : truncation === TruncationOption.BITS_128 ? 16 : 24;
}

/** A decoded HandshakeRequest. */
export interface HandshakeRequest {
  readonly version: number;
  readonly suites: readonly number[];
  readonly pointOctetFormats: readonly number[];
  readonly outputMode: OutputModeValue;
  readonly truncationOptions: readonly number[];
  readonly itemNum: bigint;
}

/** A decoded HandshakeResponse. */
export interface HandshakeResponse {
  readonly version: number;
  readonly status: number;
  readonly suite: number;
  readonly pointOctetFormat: number;
  readonly outputMode: OutputModeValue;
  readonly truncationOption: TruncationOptionValue;
  readonly itemNum: bigint;
}

/** A decoded EcdhPsiBatch. `encodedPoints` is a view into the decoded frame. */
export interface EcdhPsiBatch {
  readonly type: BatchTypeValue;
  readonly index: bigint;
  readonly isLastBatch: boolean;
  readonly encodedPoints: Uint8Array;
}

/** Fault texts of the PSI decoders (stable: logs and tests rely on them). */
const PSI_FAULT: BinaryFaultMessages = (fault) =>
  fault === 'too-short'
    ? 'malformed message: empty vector'
    : fault === 'too-long'
      ? 'malformed message: vector too long'
      : fault === 'trailing'
        ? 'malformed message: trailing bytes'
        : 'malformed message: truncated';

/** A `<1..255>` vector of uint8 (RFC 8446 §3.4). */
function writeVec8(w: BinaryWriter, items: readonly number[], name: string): void {
  if (items.length < 1 || items.length > 255) throw new RangeError(`${name} must have 1..255 entries`);
  w.u8(items.length);
  for (const it of items) w.u8(it, 'vector entry');
}

function readVec8(r: BinaryReader): number[] {
  return Array.from(r.varBytes(1, 255, 'vector', { min: 1, copy: false }));
}

function assertFrame(frame: unknown): asserts frame is Uint8Array {
  if (!(frame instanceof Uint8Array)) throw new TypeError('frame must be a Uint8Array');
}

function isOutputMode(v: number): v is OutputModeValue {
  return v >= 0 && v <= 3;
}

function isTruncation(v: number): v is TruncationOptionValue {
  return v >= 0 && v <= 2;
}

/**
 * Encodes a HandshakeRequest.
 *
 * @example
 * ```ts
 * const frame = encodeHandshakeRequest({ version: 1, suites: [4], pointOctetFormats: [0],
 *   outputMode: 0, truncationOptions: [1], itemNum: 1000n });
 * ```
 */
export function encodeHandshakeRequest(m: HandshakeRequest): Uint8Array {
  const w = new BinaryWriter(1 + 1 + m.suites.length + 1 + m.pointOctetFormats.length + 1 + 1 + m.truncationOptions.length + 8);
  w.u8(m.version, 'version');
  writeVec8(w, m.suites, 'suites');
  writeVec8(w, m.pointOctetFormats, 'pointOctetFormats');
  w.u8(m.outputMode, 'outputMode');
  writeVec8(w, m.truncationOptions, 'truncationOptions');
  w.u64(m.itemNum, 'itemNum');
  return w.finish();
}

/**
 * Decodes a HandshakeRequest. Throws `MalformedMessageError` on any structural fault and
 * `ProtocolVersionError` for a well-formed request of another version or an unknown output mode.
 * Unknown suites, formats and truncation options may appear in the lists (the responder picks).
 *
 * @example
 * ```ts
 * const req = decodeHandshakeRequest(frame);
 * ```
 */
export function decodeHandshakeRequest(frame: Uint8Array): HandshakeRequest {
  assertFrame(frame);
  const r = new BinaryReader(frame, PSI_FAULT);
  const version = r.u8();
  const suites = readVec8(r);
  const pointOctetFormats = readVec8(r);
  const outputMode = r.u8();
  const truncationOptions = readVec8(r);
  const itemNum = r.u64();
  r.expectEnd();
  if (version !== PSI_VERSION) throw new ProtocolVersionError('unsupported protocol version');
  if (!isOutputMode(outputMode)) throw new ProtocolVersionError('unsupported output mode');
  return { version, suites, pointOctetFormats, outputMode, truncationOptions, itemNum };
}

/**
 * Encodes a HandshakeResponse.
 *
 * @example
 * ```ts
 * const frame = encodeHandshakeResponse({ version: 1, status: 0, suite: 4, pointOctetFormat: 0,
 *   outputMode: 0, truncationOption: 1, itemNum: 800n });
 * ```
 */
export function encodeHandshakeResponse(m: HandshakeResponse): Uint8Array {
  const w = new BinaryWriter(6 + 8);
  w.u8(m.version, 'version');
  w.u8(m.status, 'status');
  w.u8(m.suite, 'suite');
  w.u8(m.pointOctetFormat, 'pointOctetFormat');
  w.u8(m.outputMode, 'outputMode');
  w.u8(m.truncationOption, 'truncationOption');
  w.u64(m.itemNum, 'itemNum');
  return w.finish();
}

/**
 * Decodes a HandshakeResponse. `ProtocolVersionError` for a well-formed response naming another
 * version, suite, point format, output mode or truncation option than this build supports;
 * `MalformedMessageError` for anything structurally wrong (including an unknown status).
 *
 * @example
 * ```ts
 * const res = decodeHandshakeResponse(frame);
 * ```
 */
export function decodeHandshakeResponse(frame: Uint8Array): HandshakeResponse {
  assertFrame(frame);
  const r = new BinaryReader(frame, PSI_FAULT);
  const version = r.u8();
  const status = r.u8();
  const suite = r.u8();
  const pointOctetFormat = r.u8();
  const outputMode = r.u8();
  const truncationOption = r.u8();
  const itemNum = r.u64();
  r.expectEnd();
  if (status !== HandshakeStatus.ACCEPTED && status !== HandshakeStatus.REFUSED) {
    throw new MalformedMessageError('malformed message: unknown status');
  }
  if (version !== PSI_VERSION) throw new ProtocolVersionError('unsupported protocol version');
  if (status === HandshakeStatus.ACCEPTED) {
    if (suite !== CipherSuite.CURVE25519 && suite !== CipherSuite.SM2_SM3_TAI) throw new ProtocolVersionError('unsupported cipher suite');
    if (pointOctetFormat !== PointOctetFormat.U_COORDINATE && pointOctetFormat !== PointOctetFormat.X962_COMPRESSED) {
      throw new ProtocolVersionError('unsupported point format');
    }
  }
  if (!isOutputMode(outputMode)) throw new ProtocolVersionError('unsupported output mode');
  if (!isTruncation(truncationOption)) throw new ProtocolVersionError('unsupported truncation option');
  return { version, status, suite, pointOctetFormat, outputMode, truncationOption, itemNum };
}

/**
 * Fixed bytes of an EcdhPsiBatch besides its points: type, index, is_last_batch, length.
 *
 * @example
 * ```ts
 * const frameBytes = BATCH_OVERHEAD_BYTES + 32 * points; // a round-1 frame
 * ```
 */
export const BATCH_OVERHEAD_BYTES = 1 + 8 + 1 + 8;

/**
 * Encodes an EcdhPsiBatch (`encodedPoints` must be non-empty).
 *
 * @example
 * ```ts
 * const frame = encodeEcdhPsiBatch({ type: 1, index: 0x1234n, isLastBatch: true, encodedPoints: flat });
 * ```
 */
export function encodeEcdhPsiBatch(m: EcdhPsiBatch): Uint8Array {
  if (m.type !== BatchType.ROUND1 && m.type !== BatchType.ROUND2) throw new RangeError('type must be 1 or 2');
  if (!(m.encodedPoints instanceof Uint8Array) || m.encodedPoints.length === 0) {
    throw new RangeError('encodedPoints must be a non-empty Uint8Array');
  }
  const w = new BinaryWriter(BATCH_OVERHEAD_BYTES + m.encodedPoints.length);
  w.u8(m.type);
  w.u64(m.index, 'index');
  w.u8(m.isLastBatch ? 1 : 0);
  w.varBytes(8, m.encodedPoints, Number.MAX_SAFE_INTEGER, 'encodedPoints');
  return w.finish();
}

/** Limits applied by {@link decodeEcdhPsiBatch}. */
export interface BatchDecodeLimits {
  /** Largest accepted `encoded_points`, in bytes. */
  maxPointsBytes: number;
  /** When given, `encoded_points` must be a whole number of elements of this size. */
  elementBytes?: number;
}

/**
 * Decodes an EcdhPsiBatch, checking the points length against `limits` before slicing.
 *
 * @example
 * ```ts
 * const batch = decodeEcdhPsiBatch(frame, { maxPointsBytes: 1 << 21, elementBytes: 32 });
 * ```
 */
export function decodeEcdhPsiBatch(frame: Uint8Array, limits: BatchDecodeLimits): EcdhPsiBatch {
  assertFrame(frame);
  if (!Number.isSafeInteger(limits.maxPointsBytes) || limits.maxPointsBytes < 1) {
    throw new RangeError('limits.maxPointsBytes must be a positive safe integer');
  }
  const r = new BinaryReader(frame, PSI_FAULT);
  const type = r.u8();
  const index = r.u64();
  const last = r.u8();
  // An opaque `<1..2^64-1>` vector, its length checked against the limit before slicing; a view.
  const encodedPoints = r.varBytes(8, limits.maxPointsBytes, 'encoded_points', { min: 1, copy: false });
  r.expectEnd();
  if (type !== BatchType.ROUND1 && type !== BatchType.ROUND2) throw new MalformedMessageError('malformed message: unknown batch type');
  if (last !== 0 && last !== 1) throw new MalformedMessageError('malformed message: bad is_last_batch');
  if (limits.elementBytes !== undefined && encodedPoints.length % limits.elementBytes !== 0) {
    throw new MalformedMessageError('malformed message: points length is not a whole number of elements');
  }
  return { type, index, isLastBatch: last === 1, encodedPoints };
}
