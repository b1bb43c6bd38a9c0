/**
 * The byte format of a ledger's log file (`ledger.log`), runtime-neutral so that an auditor can
 * check a ledger anywhere. All integers big-endian.
 *
 * ```
 * header:  8 "DPLEDGER" | u8 format (= 1) | 32 owner public key | u8 n | n origin (ASCII)
 *          | u32 CRC-32C of the preceding header bytes
 * record:  u32 payloadLength | u32 CRC-32C(payloadLength || payload) | payload
 * payload: u64 index | entry (the canonical signed receipt) | 64 seal
 * ```
 *
 * The seal of the record at index i is the owner's Ed25519 signature over the C2SP checkpoint body
 * of the tree of the first i + 1 entries: every record carries a signed tree head, so a removed,
 * reordered or rewritten entry is located even when an attacker recomputed every checksum.
 * The checksum is for torn and corrupted writes; authenticity comes from the signatures.
 * @module
 */
import { MalformedMessageError } from '../errors.js';
import { equalBytes } from '../utils/bytes.js';

/** File magic of a ledger log. */
export const LOG_MAGIC: Uint8Array = Uint8Array.from([0x44, 0x50, 0x4c, 0x45, 0x44, 0x47, 0x45, 0x52]); // "DPLEDGER"
/** Log format version. */
export const LOG_FORMAT_VERSION = 1;
/** Bytes of a record's length + checksum prefix. */
export const RECORD_PREFIX_BYTES = 8;
/** Bytes of a record seal (an Ed25519 signature). */
export const SEAL_BYTES = 64;
/** Largest payload a record may declare (an encoded receipt is at most ~69 KiB). */
export const MAX_RECORD_PAYLOAD = 128 * 1024;
const MIN_RECORD_PAYLOAD = 8 + 1 + SEAL_BYTES;

// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), table-driven.
const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/**
 * CRC-32C of `bytes` (RFC 3720 appendix B.4 polynomial).
 * @example
 * ```ts
 * crc32c(new TextEncoder().encode('123456789')); // 0xe3069283
 * ```
 */
export function crc32c(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let c = 0xffffffff;
  for (let i = start; i < end; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** The fixed part of a ledger: who owns it and what it is called. */
export interface LogHeader {
  ownerPublicKey: Uint8Array;
  origin: string;
}

/** Encodes the header of a new log (`origin` must already be valid, see `assertOrigin`). */
export function encodeLogHeader(h: LogHeader): Uint8Array {
  const origin = new TextEncoder().encode(h.origin);
  if (origin.length === 0 || origin.length > 255) throw new RangeError('origin must be 1-255 bytes');
  const out = new Uint8Array(8 + 1 + 32 + 1 + origin.length + 4);
  out.set(LOG_MAGIC, 0);
  out[8] = LOG_FORMAT_VERSION;
  out.set(h.ownerPublicKey, 9);
  out[41] = origin.length;
  out.set(origin, 42);
  new DataView(out.buffer).setUint32(42 + origin.length, crc32c(out, 0, 42 + origin.length));
  return out;
}

/** Decodes a log header; throws `MalformedMessageError` if the file does not start with one. */
export function decodeLogHeader(bytes: Uint8Array): { header: LogHeader; length: number } {
  if (bytes.length < 42 || !equalBytes(bytes.subarray(0, 8), LOG_MAGIC)) throw new MalformedMessageError('not a dataport ledger log');
  if (bytes[8] !== LOG_FORMAT_VERSION) throw new MalformedMessageError('unsupported ledger log format');
  const n = bytes[41]!;
  const length = 42 + n + 4;
  if (n === 0 || bytes.length < length) throw new MalformedMessageError('truncated ledger header');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(42 + n) !== crc32c(bytes, 0, 42 + n)) throw new MalformedMessageError('ledger header checksum mismatch');
  let origin: string;
  try {
    origin = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(42, 42 + n));
  } catch {
    throw new MalformedMessageError('ledger origin is not UTF-8');
  }
  return { header: { ownerPublicKey: bytes.slice(9, 41), origin }, length };
}

/** Encodes one record. */
export function encodeRecord(index: number, entry: Uint8Array, seal: Uint8Array): Uint8Array {
  const payloadLength = 8 + entry.length + SEAL_BYTES;
  if (payloadLength > MAX_RECORD_PAYLOAD) throw new RangeError('entry too large for a ledger record');
  if (seal.length !== SEAL_BYTES) throw new RangeError('seal must be 64 bytes');
  const out = new Uint8Array(RECORD_PREFIX_BYTES + payloadLength);
  const view = new DataView(out.buffer);
  view.setUint32(0, payloadLength);
  view.setUint32(8, Math.floor(index / 0x1_0000_0000));
  view.setUint32(12, index >>> 0);
  out.set(entry, 16);
  out.set(seal, 16 + entry.length);
  // The checksum covers the length field too, so a flipped length bit cannot go unnoticed.
  view.setUint32(4, recordChecksum(out));
  return out;
}

/** CRC-32C over the length field and then the payload of the record at offset 0 of `rec`. */
function recordChecksum(rec: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < rec.length; i++) {
    if (i === 4) i = 8; // skip the checksum field itself
    c = CRC_TABLE[(c ^ rec[i]!) & 0xff]! ^ (c >>> 8);
  }
  return (c ^ 0xffffffff) >>> 0;
}

/** A record read back from a log. */
export interface LogRecord {
  /** Byte offset of the record in the file. */
  offset: number;
  /** Bytes of the whole record (prefix + payload). */
  length: number;
  index: number;
  entry: Uint8Array;
  seal: Uint8Array;
}

/** How a scan of the log ended. */
export type ScanEnd =
  | { kind: 'clean' }
  /** An incomplete final record (a write interrupted by a crash): `bytes` from `offset` to the end. */
  | { kind: 'torn'; offset: number; bytes: number }
  /** A bad record followed by more data: corruption or tampering, never a crash artefact. */
  | { kind: 'corrupt'; offset: number; index: number; reason: string };

/** Result of {@link scanRecords}. */
export interface ScanResult {
  records: LogRecord[];
  /** Offset just past the last good record. */
  end: number;
  stop: ScanEnd;
}

function allZero(bytes: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (bytes[i] !== 0) return false;
  return true;
}

/**
 * Reads records from `bytes[offset…]`, expecting the first to have index `firstIndex`. Stops at the
 * first bad record and says whether it looks like a torn tail (the last, incomplete write: its
 * declared extent runs past the end, or it is the final record and fails its checksum, or
 * everything from it to the end is zero) or corruption (anything else).
 */
export function scanRecords(bytes: Uint8Array, offset: number, firstIndex: number): ScanResult {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const records: LogRecord[] = [];
  let off = offset;
  let index = firstIndex;
  const fileEnd = bytes.length;
  const stopAt = (reason: string, extentEnd: number, checksumBad: boolean): ScanResult => {
    const torn =
      extentEnd > fileEnd || (checksumBad && extentEnd === fileEnd) || allZero(bytes, off, fileEnd);
    return {
      records,
      end: off,
      stop: torn ? { kind: 'torn', offset: off, bytes: fileEnd - off } : { kind: 'corrupt', offset: off, index, reason },
    };
  };
  while (off < fileEnd) {
    if (fileEnd - off < RECORD_PREFIX_BYTES) return stopAt('truncated record header', off + RECORD_PREFIX_BYTES, false);
    const len = view.getUint32(off);
    if (len < MIN_RECORD_PAYLOAD || len > MAX_RECORD_PAYLOAD) {
      return stopAt(`record length ${len} out of range`, off, false);
    }
    const extentEnd = off + RECORD_PREFIX_BYTES + len;
    if (extentEnd > fileEnd) return stopAt('record runs past the end of the file', extentEnd, false);
    const rec = bytes.subarray(off, extentEnd);
    if (view.getUint32(off + 4) !== recordChecksum(rec)) return stopAt('record checksum mismatch', extentEnd, true);
    const idx = view.getUint32(off + 8) * 0x1_0000_0000 + view.getUint32(off + 12);
    if (idx !== index) {
      return {
        records,
        end: off,
        stop: { kind: 'corrupt', offset: off, index, reason: `record holds index ${idx} (an entry is missing, duplicated or out of order)` },
      };
    }
    records.push({
      offset: off,
      length: extentEnd - off,
      index,
      entry: rec.slice(16, rec.length - SEAL_BYTES),
      seal: rec.slice(rec.length - SEAL_BYTES),
    });
    off = extentEnd;
    index++;
  }
  return { records, end: off, stop: { kind: 'clean' } };
}
