/**
 * Wire messages of psi-sum (docs/psi-sum.md §Wire). Each message is one frame of the session's data
 * channel; the first byte is its type. Integers are big-endian; every length is checked against a
 * limit before anything is allocated; a decoder returns a whole message or throws
 * `MalformedMessageError`.
 * @module
 */
import { MalformedMessageError, ProtocolVersionError } from '../../errors.js';
import { BinaryReader, BinaryWriter, type BinaryFaultMessages } from '../../utils/binary.js';

/**
 * Version of the psi-sum messages. 2: the ID holder holds the BFV key (issue 16, finding 1); a
 * version-1 peer (the value holder held the key) is refused with `ProtocolVersionError`.
 */
export const PSI_SUM_VERSION = 2;

/** First byte of each psi-sum frame. */
export const PsiSumMessage = {
  SETUP: 0x51,
  POINTS: 0x52,
  CIPHERTEXT: 0x53,
  RESULT: 0x54,
  SUMS: 0x55,
  SELECTION: 0x56,
} as const;

/** Which exchange a batch of points belongs to. */
export const PointRound = {
  /** V's masked keys H(y)^b, in slot order. */
  VALUE_KEYS: 1,
  /** I's masked keys H(x)^a, shuffled. */
  ID_KEYS: 2,
  /** H(x)^ab, reshuffled by V. */
  ID_KEYS_REMASKED: 3,
} as const;

/** Limits of the decoders. */
export const PSI_SUM_LIMITS = Object.freeze({
  maxColumns: 16,
  maxColumnNameBytes: 64,
  maxPointsPerFrame: 1 << 16,
  maxHeObjectBytes: 1_000_000,
  maxDecimals: 18,
});
const LIM = PSI_SUM_LIMITS;

/** A value column as V announces it. */
export interface ColumnSpec {
  /** Column name (≤ 64 UTF-8 bytes). */
  name: string;
  /** Decimal places: values travel as integers × 10^decimals. */
  decimals: number;
  /** Declared bound on |per-key total| in scaled units (≥ 1). */
  bound: bigint;
}

/** V's first message. */
export interface SetupMessage {
  version: number;
  plainBits: number;
  plainModulus: bigint;
  valueKeys: number;
  columns: ColumnSpec[];
}

/**
 * I's answer after matching: withheld (below the minimum cohort), or I's seeded BFV public key
 * (its selection blocks follow as CIPHERTEXT frames).
 */
export interface SelectionMessage {
  withheld: boolean;
  /** The (maybe noisy) count, present when V is a recipient and not withheld. */
  count?: bigint;
  /** I's seeded public key (absent when withheld). */
  publicKey?: Uint8Array;
}

/** V's result: one serialized ciphertext per column. */
export interface ResultMessage {
  ciphertexts: Uint8Array[];
}

/**
 * Fault texts of the psi-sum decoders (stable): the field's name, or truncated / trailing bytes.
 * A column name cut short has always been reported as a bad column name.
 */
const PSI_SUM_FAULT: BinaryFaultMessages = (fault, what) =>
  fault === 'trailing'
    ? 'malformed message: trailing bytes'
    : fault === 'truncated' && what !== 'column name'
      ? 'malformed message: truncated'
      : `malformed message: ${what}`;

function expectType(bytes: Uint8Array, type: number): BinaryReader {
  if (!(bytes instanceof Uint8Array) || bytes.length === 0 || bytes[0] !== type) throw new MalformedMessageError('malformed message: unexpected type');
  const r = new BinaryReader(bytes, PSI_SUM_FAULT);
  r.u8();
  return r;
}

const enc = new TextEncoder();

/**
 * Encodes V's SETUP message.
 * @example
 * ```ts
 * const frame = encodeSetup({ version: PSI_SUM_VERSION, plainBits: 40, plainModulus: t, valueKeys: 600, columns });
 * ```
 */
export function encodeSetup(m: SetupMessage): Uint8Array {
  if (m.columns.length > LIM.maxColumns) throw new RangeError('too many columns');
  const w = new BinaryWriter().u8(PsiSumMessage.SETUP).u8(m.version, 'version').u8(m.plainBits, 'plainBits');
  w.u64(m.plainModulus, 'plainModulus').u32(m.valueKeys, 'valueKeys').u8(m.columns.length);
  for (const c of m.columns) {
    const name = enc.encode(c.name);
    if (name.length === 0 || name.length > LIM.maxColumnNameBytes) throw new RangeError('column name must be 1..64 bytes');
    if (c.bound < 1n || c.bound >= 1n << 63n) throw new RangeError('column bound out of range');
    w.varBytes(1, name, LIM.maxColumnNameBytes, 'column name').u8(c.decimals, 'decimals').u64(c.bound, 'bound');
  }
  return w.finish();
}

/**
 * Decodes a SETUP message (shape only; the protocol checks the values). The version comes first
 * and is checked before anything else: another version's layout is refused with
 * `ProtocolVersionError`.
 * @example
 * ```ts
 * const setup = decodeSetup(frame);
 * ```
 */
export function decodeSetup(bytes: Uint8Array): SetupMessage {
  const r = expectType(bytes, PsiSumMessage.SETUP);
  const version = r.u8();
  if (version !== PSI_SUM_VERSION) throw new ProtocolVersionError(`unsupported psi-sum version ${version} (this build speaks ${PSI_SUM_VERSION})`);
  const plainBits = r.u8();
  const plainModulus = r.u64();
  const valueKeys = r.u32();
  const n = r.u8();
  if (n === 0 || n > LIM.maxColumns) throw new MalformedMessageError('malformed message: column count');
  const columns: ColumnSpec[] = [];
  const names = new Set<string>(); // at most LIM.maxColumns short names
  for (let i = 0; i < n; i++) {
    const len = r.checkLength(r.u8(), 1, LIM.maxColumnNameBytes, 'column name');
    const name = r.utf8(len, 'column name');
    // eslint-disable-next-line no-control-regex
    if (/[\u0000-\u001f\u007f]/.test(name) || names.has(name)) throw new MalformedMessageError('malformed message: column name');
    names.add(name);
    const decimals = r.u8();
    if (decimals > LIM.maxDecimals) throw new MalformedMessageError('malformed message: decimals');
    const bound = r.u64();
    if (bound < 1n || bound >= 1n << 63n) throw new MalformedMessageError('malformed message: bound');
    columns.push({ name, decimals, bound });
  }
  r.expectEnd();
  return { version, plainBits, plainModulus, valueKeys, columns };
}

/**
 * Encodes a batch of 32-byte points of one round.
 * @example
 * ```ts
 * const frame = encodePoints(PointRound.ID_KEYS, flat);
 * ```
 */
export function encodePoints(round: number, flat: Uint8Array): Uint8Array {
  if (flat.length % 32 !== 0 || flat.length / 32 > LIM.maxPointsPerFrame) throw new RangeError('points: bad length');
  return new BinaryWriter(6 + flat.length).u8(PsiSumMessage.POINTS).u8(round, 'round').u32(flat.length / 32).bytes(flat).finish();
}

/**
 * Decodes a batch of points; `round` must be the expected one.
 * @example
 * ```ts
 * const flat = decodePoints(frame, PointRound.VALUE_KEYS);
 * ```
 */
export function decodePoints(bytes: Uint8Array, round: number): Uint8Array {
  const r = expectType(bytes, PsiSumMessage.POINTS);
  if (r.u8() !== round) throw new MalformedMessageError('malformed message: unexpected round');
  const count = r.checkLength(r.u32(), 1, LIM.maxPointsPerFrame, 'point count');
  const flat = r.bytes(count * 32);
  r.expectEnd();
  return flat;
}

/**
 * Encodes one of I's selection ciphertexts (`col` is 0; `index` = block).
 * @example
 * ```ts
 * const frame = encodeCiphertext(0, 0, bytes);
 * ```
 */
export function encodeCiphertext(col: number, index: number, ct: Uint8Array): Uint8Array {
  return new BinaryWriter(10 + ct.length).u8(PsiSumMessage.CIPHERTEXT).u8(col, 'col').u32(index, 'index').varBytes(4, ct, LIM.maxHeObjectBytes, 'ciphertext').finish();
}

/**
 * Decodes a ciphertext frame.
 * @example
 * ```ts
 * const { col, index, ciphertext } = decodeCiphertext(frame);
 * ```
 */
export function decodeCiphertext(bytes: Uint8Array): { col: number; index: number; ciphertext: Uint8Array } {
  const r = expectType(bytes, PsiSumMessage.CIPHERTEXT);
  const col = r.u8();
  const index = r.u32();
  const ciphertext = r.varBytes(4, LIM.maxHeObjectBytes, 'ciphertext length', { min: 1 });
  r.expectEnd();
  return { col, index, ciphertext };
}

/**
 * Encodes I's SELECTION.
 * @example
 * ```ts
 * const frame = encodeSelection({ withheld: true });
 * ```
 */
export function encodeSelection(m: SelectionMessage): Uint8Array {
  if (m.withheld && (m.count !== undefined || m.publicKey !== undefined)) throw new RangeError('a withheld selection carries nothing');
  if (!m.withheld && m.publicKey === undefined) throw new RangeError('publicKey is required');
  const w = new BinaryWriter().u8(PsiSumMessage.SELECTION).u8((m.withheld ? 1 : 0) | (m.count !== undefined ? 2 : 0));
  if (m.count !== undefined) w.i64(m.count, 'count');
  if (m.publicKey !== undefined) {
    if (m.publicKey.length === 0) throw new RangeError('publicKey must not be empty');
    w.varBytes(4, m.publicKey, LIM.maxHeObjectBytes, 'publicKey');
  }
  return w.finish();
}

/**
 * Decodes I's SELECTION.
 * @example
 * ```ts
 * const selection = decodeSelection(frame);
 * ```
 */
export function decodeSelection(bytes: Uint8Array): SelectionMessage {
  const r = expectType(bytes, PsiSumMessage.SELECTION);
  const flags = r.u8();
  if (flags > 3 || flags === 3) throw new MalformedMessageError('malformed message: flags');
  const withheld = (flags & 1) === 1;
  const count = (flags & 2) === 2 ? r.i64() : undefined;
  if (withheld) {
    r.expectEnd();
    return { withheld };
  }
  const publicKey = r.varBytes(4, LIM.maxHeObjectBytes, 'public key length', { min: 1 });
  r.expectEnd();
  return { withheld, ...(count !== undefined ? { count } : {}), publicKey };
}

/**
 * Encodes V's RESULT (one ciphertext per column).
 * @example
 * ```ts
 * const frame = encodeResult({ ciphertexts: [ct0, ct1] });
 * ```
 */
export function encodeResult(m: ResultMessage): Uint8Array {
  if (m.ciphertexts.length === 0 || m.ciphertexts.length > LIM.maxColumns) throw new RangeError('one ciphertext per column');
  const w = new BinaryWriter().u8(PsiSumMessage.RESULT).u8(m.ciphertexts.length);
  for (const c of m.ciphertexts) {
    if (c.length === 0) throw new RangeError('ciphertext must not be empty');
    w.varBytes(4, c, LIM.maxHeObjectBytes, 'ciphertext');
  }
  return w.finish();
}

/**
 * Decodes V's RESULT; exactly `columns` ciphertexts.
 * @example
 * ```ts
 * const result = decodeResult(frame, 2);
 * ```
 */
export function decodeResult(bytes: Uint8Array, columns: number): ResultMessage {
  const r = expectType(bytes, PsiSumMessage.RESULT);
  const n = r.u8();
  if (n !== columns) throw new MalformedMessageError('malformed message: result shape');
  const ciphertexts: Uint8Array[] = [];
  for (let i = 0; i < n; i++) ciphertexts.push(r.varBytes(4, LIM.maxHeObjectBytes, 'ciphertext length', { min: 1 }));
  r.expectEnd();
  return { ciphertexts };
}

/**
 * Encodes I's SUMS for V (one signed 64-bit value per column).
 * @example
 * ```ts
 * const frame = encodeSums([123n, -4n]);
 * ```
 */
export function encodeSums(sums: readonly bigint[]): Uint8Array {
  const w = new BinaryWriter(2 + 8 * sums.length).u8(PsiSumMessage.SUMS).u8(sums.length, 'sums.length');
  for (const s of sums) w.i64(s, 'sum');
  return w.finish();
}

/**
 * Decodes I's SUMS; exactly `columns` values.
 * @example
 * ```ts
 * const sums = decodeSums(frame, 2);
 * ```
 */
export function decodeSums(bytes: Uint8Array, columns: number): bigint[] {
  const r = expectType(bytes, PsiSumMessage.SUMS);
  const n = r.u8();
  if (n !== columns) throw new MalformedMessageError('malformed message: column count');
  const out: bigint[] = [];
  for (let i = 0; i < n; i++) out.push(r.i64());
  r.expectEnd();
  return out;
}
