/**
 * The PPCA handshake (brief §2): rank 1 proposes, rank 0 checks its own configuration against
 * the proposal and answers with it or refuses with the standard's error codes. Pure functions
 * over bytes; the caller moves them over the link.
 * @module
 */
import { create, toBinary } from '@bufbuild/protobuf';
import { anyPack, type Any } from '@bufbuild/protobuf/wkt';
import type { PpcaSuiteName } from '../../crypto/ppca-suite.js';
import { MalformedMessageError, ProtocolVersionError } from '../../errors.js';
import { decodeProto, peerText, PpcaErrorCode } from './codec.js';
import { PsiDataIoProposalSchema, type PsiDataIoProposal } from './gen/interconnection/handshake/algos/psi_pb.js';
import { AlgoType, HandshakeRequestSchema, HandshakeResponseSchema, HandshakeVersionCheckHelperSchema, ProtocolFamily, type HandshakeRequest } from './gen/interconnection/handshake/entry_pb.js';
import {
  CurveType,
  EccProtocolProposalSchema,
  EccProtocolResultSchema,
  HashToCurveStrategy,
  HashType,
  PointOctetFormat,
  type EcSuit,
} from './gen/interconnection/handshake/protocol_family/ecc_pb.js';

/** The handshake version the reference speaks (flag `-ic_version`, default 2; 1 is refused). */
export const PPCA_HANDSHAKE_VERSION = 2;

/** Who receives the result: -1 both, else that rank (brief §3.3). */
export type PpcaResultToRank = -1 | 0 | 1;

interface SuiteIds {
  readonly curve: CurveType;
  readonly hash: HashType;
  readonly strategy: HashToCurveStrategy;
  readonly format: PointOctetFormat;
}

/** The suites' numbers in `ecc.proto` (brief §2.4; `sm2-sm3-tai` is the standard's mandatory SM2 suite). */
export const PPCA_SUITE_IDS: Readonly<Record<PpcaSuiteName, SuiteIds>> = {
  'curve25519-sha256-direct': { curve: CurveType.CURVE25519, hash: HashType.SHA_256, strategy: HashToCurveStrategy.DIRECT_HASH_AS_POINT_X, format: PointOctetFormat.UNCOMPRESSED },
  'sm2-sha256-tar': { curve: CurveType.SM2, hash: HashType.SHA_256, strategy: HashToCurveStrategy.TRY_AND_REHASH, format: PointOctetFormat.X962_COMPRESSED },
  'sm2-sm3-tai': { curve: CurveType.SM2, hash: HashType.SM3, strategy: HashToCurveStrategy.TRY_AND_INCREMENT, format: PointOctetFormat.X962_COMPRESSED },
};

/** A suit triple as people read it, e.g. `⟨SM2, SHA_256, TRY_AND_REHASH⟩` (unknown numbers printed as numbers). */
export function describeSuit(s: Pick<EcSuit, 'curve' | 'hash' | 'hash2curveStrategy'>): string {
  const name = (e: Record<number, string>, v: number): string => (typeof e[v] === 'string' ? e[v]! : String(v));
  return `⟨${name(CurveType, s.curve)}, ${name(HashType, s.hash)}, ${name(HashToCurveStrategy, s.hash2curveStrategy)}⟩`;
}

/** The suite name of a suit triple, if dataport speaks it. */
export function suiteOf(s: Pick<EcSuit, 'curve' | 'hash' | 'hash2curveStrategy'>): PpcaSuiteName | undefined {
  for (const [name, ids] of Object.entries(PPCA_SUITE_IDS) as [PpcaSuiteName, SuiteIds][]) {
    if (ids.curve === s.curve && ids.hash === s.hash && ids.strategy === s.hash2curveStrategy) return name;
  }
  return undefined;
}

/** What one side brings to the handshake. */
export interface PpcaHandshakeConfig {
  readonly suite: PpcaSuiteName;
  readonly resultToRank: PpcaResultToRank;
  /** Number of input rows (the reference's `item_num`; informational, never checked). */
  readonly itemNum: number;
}

const suitOf = (suite: PpcaSuiteName): { curve: CurveType; hash: HashType; hash2curveStrategy: HashToCurveStrategy } => {
  const ids = PPCA_SUITE_IDS[suite];
  return { curve: ids.curve, hash: ids.hash, hash2curveStrategy: ids.strategy };
};

const ioParam = (c: PpcaHandshakeConfig, withVersions: boolean): Any =>
  anyPack(PsiDataIoProposalSchema, create(PsiDataIoProposalSchema, { supportedVersions: withVersions ? [1] : [], itemNum: BigInt(c.itemNum), resultToRank: c.resultToRank }));

/**
 * Rank 1's `HandshakeRequest`, field by field as `BuildHandshakeRequest` (brief §2.2): version 2,
 * ECDH-PSI, the ECC family with one suit and one point format, no truncation offered, and the
 * io proposal with `item_num` and `result_to_rank`.
 *
 * @example
 * ```ts
 * const bytes = encodePpcaHandshakeRequest({ suite: 'curve25519-sha256-direct', resultToRank: -1, itemNum: 2000 }); // 190 bytes
 * ```
 */
export function encodePpcaHandshakeRequest(c: PpcaHandshakeConfig, requesterRank = 1): Uint8Array {
  const ecc = create(EccProtocolProposalSchema, {
    supportedVersions: [1],
    ecSuits: [suitOf(c.suite)],
    pointOctetFormats: [PPCA_SUITE_IDS[c.suite].format],
    supportPointTruncation: false,
  });
  const req = create(HandshakeRequestSchema, {
    version: PPCA_HANDSHAKE_VERSION,
    requesterRank,
    supportedAlgos: [AlgoType.ECDH_PSI],
    protocolFamilies: [ProtocolFamily.ECC],
    protocolFamilyParams: [anyPack(EccProtocolProposalSchema, ecc)],
    ioParam: ioParam(c, true),
  });
  return toBinary(HandshakeRequestSchema, req);
}

/** The message name of an `Any`: what follows the last `/` of its type URL (as the reference compares). */
const anyName = (a: Any): string => a.typeUrl.slice(a.typeUrl.lastIndexOf('/') + 1);

/** Rank 0's verdict on a request: the response to send, and a refusal to raise after sending it. */
export interface PpcaHandshakeVerdict {
  /** `HandshakeResponse` bytes to send to the requester. */
  readonly response: Uint8Array;
  /** Set when refused: a one-line reason naming what differed (also in the response's `error_msg`). */
  readonly refusal?: { readonly code: PpcaErrorCode; readonly message: string };
  /** The requester's `item_num`, when it sent one. */
  readonly peerItemNum?: number;
}

function refuse(code: PpcaErrorCode, message: string): PpcaHandshakeVerdict {
  return { response: toBinary(HandshakeResponseSchema, create(HandshakeResponseSchema, { header: { errorCode: code, errorMsg: message } })), refusal: { code, message } };
}

function unpackIo(a: Any | undefined): PsiDataIoProposal | undefined {
  if (!a) return undefined;
  // The .proto name, and the standard's name for the same layout (brief §2.5).
  const n = anyName(a);
  if (n !== 'org.interconnection.v2.algos.PsiDataIoProposal' && n !== 'org.interconnection.v2.algos.PsiDataInfoProposal') return undefined;
  return decodeProto(PsiDataIoProposalSchema, a.value, 'PsiDataIoProposal');
}

/**
 * Rank 0: checks a request against this side's configuration in the reference's order (brief
 * §2.3) and builds the answer. Throws `MalformedMessageError` only for bytes that are not a
 * `HandshakeRequest` at all; every other disagreement is a refusal with the standard's code, whose
 * message starts with the reference's wording and then names both sides' values.
 *
 * @example
 * ```ts
 * const v = checkPpcaHandshakeRequest(bytes, { suite: 'sm2-sha256-tar', resultToRank: -1, itemNum: 10 });
 * ```
 */
export function checkPpcaHandshakeRequest(bytes: Uint8Array, mine: PpcaHandshakeConfig): PpcaHandshakeVerdict {
  const { version } = decodeProto(HandshakeVersionCheckHelperSchema, bytes, 'HandshakeRequest');
  if (version !== PPCA_HANDSHAKE_VERSION) {
    // The reference throws for version < 2 without answering; a refusal tells the peer why.
    return refuse(PpcaErrorCode.HANDSHAKE_REFUSED, `handshake versions inconsistent: requester ${version}, rank 0 ${PPCA_HANDSHAKE_VERSION}`);
  }
  const req: HandshakeRequest = decodeProto(HandshakeRequestSchema, bytes, 'HandshakeRequest');
  const at = req.protocolFamilies.indexOf(ProtocolFamily.ECC);
  const eccAny = at >= 0 ? req.protocolFamilyParams[at] : undefined;
  if (!eccAny || anyName(eccAny) !== 'org.interconnection.v2.protocol.EccProtocolProposal') {
    return refuse(PpcaErrorCode.INVALID_REQUEST, 'certain request has no ecc params');
  }
  const ecc = decodeProto(EccProtocolProposalSchema, eccAny.value, 'EccProtocolProposal');
  const own = PPCA_SUITE_IDS[mine.suite];
  if (!ecc.ecSuits.some((s) => s.curve === own.curve && s.hash === own.hash && s.hash2curveStrategy === own.strategy)) {
    const offered = ecc.ecSuits.slice(0, 8).map(describeSuit).join(', ') || 'none';
    return refuse(PpcaErrorCode.HANDSHAKE_REFUSED, `negotiate ec suits failed: requester offers ${offered}, rank 0 uses ${describeSuit(suitOf(mine.suite))} (${mine.suite})`);
  }
  if (!ecc.pointOctetFormats.includes(own.format)) {
    const offered = ecc.pointOctetFormats.slice(0, 8).map((f) => PointOctetFormat[f] ?? String(f)).join(', ') || 'none';
    return refuse(PpcaErrorCode.HANDSHAKE_REFUSED, `negotiate point octet format failed: requester offers ${offered}, rank 0 uses ${PointOctetFormat[own.format]}`);
  }
  // Truncation: this side configures none (-1), so whatever the requester offers the answer is -1.
  let io: PsiDataIoProposal | undefined;
  try {
    io = unpackIo(req.ioParam);
  } catch {
    io = undefined;
  }
  if (!io) return refuse(PpcaErrorCode.INVALID_REQUEST, 'certain request has no psi io params');
  if (io.resultToRank !== mine.resultToRank) {
    return refuse(PpcaErrorCode.HANDSHAKE_REFUSED, `negotiate result_to_rank failed: requester ${io.resultToRank}, rank 0 ${mine.resultToRank}`);
  }
  const response = create(HandshakeResponseSchema, {
    header: {},
    algo: AlgoType.ECDH_PSI,
    protocolFamilies: [ProtocolFamily.ECC],
    protocolFamilyParams: [
      anyPack(EccProtocolResultSchema, create(EccProtocolResultSchema, { ecSuit: suitOf(mine.suite), pointOctetFormat: own.format, bitLengthAfterTruncated: -1 })),
    ],
    // The reference answers with a PsiDataIoProposal, not a PsiDataIoResult (brief §2.3).
    ioParam: ioParam(mine, false),
  });
  const itemNum = io.itemNum <= BigInt(Number.MAX_SAFE_INTEGER) && io.itemNum >= 0n ? Number(io.itemNum) : undefined;
  return { response: toBinary(HandshakeResponseSchema, response), ...(itemNum !== undefined ? { peerItemNum: itemNum } : {}) };
}

/** What rank 1 learns from an accepted answer. */
export interface PpcaHandshakeOutcome {
  /** The negotiated `bit_length_after_truncated` (-1: none; the data path compares 96 bits anyway, brief §3.6). */
  readonly bitLengthAfterTruncated: number;
  /** Rank 0's `item_num`, when its answer carries one. */
  readonly peerItemNum?: number;
}

/**
 * Rank 1: checks rank 0's answer as `ProcessHandshakeResponse` (brief §2.3). Throws
 * `ProtocolVersionError` with one line naming what differed (for a refusal, rank 0's code and
 * message), `MalformedMessageError` for bytes that are not a `HandshakeResponse`.
 *
 * @example
 * ```ts
 * const { bitLengthAfterTruncated } = checkPpcaHandshakeResponse(bytes, mine);
 * ```
 */
export function checkPpcaHandshakeResponse(bytes: Uint8Array, mine: PpcaHandshakeConfig): PpcaHandshakeOutcome {
  const res = decodeProto(HandshakeResponseSchema, bytes, 'HandshakeResponse');
  const code = res.header?.errorCode ?? 0;
  if (code !== 0) {
    const name = PpcaErrorCode[code] ?? 'error';
    throw new ProtocolVersionError(`the peer (rank 0) refused the handshake: ${code} ${name}: ${peerText(res.header?.errorMsg ?? '')}`);
  }
  if (res.algo !== AlgoType.ECDH_PSI) throw new ProtocolVersionError(`the peer answered algo ${res.algo}, expected ${AlgoType.ECDH_PSI} (ECDH_PSI)`);
  const at = res.protocolFamilies.indexOf(ProtocolFamily.ECC);
  const eccAny = at >= 0 ? res.protocolFamilyParams[at] : undefined;
  if (!eccAny || anyName(eccAny) !== 'org.interconnection.v2.protocol.EccProtocolResult') throw new MalformedMessageError('HandshakeResponse: no EccProtocolResult');
  const ecc = decodeProto(EccProtocolResultSchema, eccAny.value, 'EccProtocolResult');
  const own = PPCA_SUITE_IDS[mine.suite];
  const s = ecc.ecSuit;
  if (!s || s.curve !== own.curve || s.hash !== own.hash || s.hash2curveStrategy !== own.strategy) {
    throw new ProtocolVersionError(`the peer chose suite ${s ? describeSuit(s) : 'none'}, this side uses ${describeSuit(suitOf(mine.suite))} (${mine.suite})`);
  }
  if (ecc.pointOctetFormat !== own.format) {
    throw new ProtocolVersionError(`the peer chose point format ${PointOctetFormat[ecc.pointOctetFormat] ?? ecc.pointOctetFormat}, this side uses ${PointOctetFormat[own.format]}`);
  }
  // This side never offers truncation, so any other answer than -1 is refused as the reference does.
  if (ecc.bitLengthAfterTruncated !== -1) throw new ProtocolVersionError(`the peer chose truncation to ${ecc.bitLengthAfterTruncated} bits, which this side did not offer`);
  let peerItemNum: number | undefined;
  try {
    const io = unpackIo(res.ioParam);
    if (io && io.itemNum >= 0n && io.itemNum <= BigInt(Number.MAX_SAFE_INTEGER)) peerItemNum = Number(io.itemNum);
  } catch {
    // The reference never reads io_param of the answer; neither does this side, beyond the count.
  }
  return { bitLengthAfterTruncated: -1, ...(peerItemNum !== undefined ? { peerItemNum } : {}) };
}
