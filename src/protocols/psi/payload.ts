/**
 * PSI with payload (docs/psi-protocol.md §8): after the ECDH-PSI rounds, the responder delivers
 * agreed columns of its records so that the requester can open exactly those of matched records.
 *
 * Construction (either suite, `suite.ts`). The responder draws a second fresh secret c. It returns the
 * requester's round-1 points raised to c, H(x)^{ac} (type {@link PayloadBatchType.POINTS}), then, for
 * every one of its own records y in its round-1 order, the payload sealed with AES-256-GCM under
 * `KDF(ekm, H(y)^c)` (type {@link PayloadBatchType.SEALED}). The requester's round-1 secret a was
 * drawn with an inverse (`generateInvertiblePsiScalarPair`), so it unmasks H(x)^{ac} to H(x)^c for
 * its matched records only and opens the sealed payload at the responder position its round 2
 * matched. For an unmatched y it would need H(y)^c without y in its input: it holds H(y)^b and
 * values Z^c only for points Z it sent before seeing any H(y)^b (CDH). Every payload is padded to
 * the declared maximum before sealing, so ciphertexts all have one length.
 *
 * Frames (one struct per transport frame, after the PSI's last frame):
 * ```
 * struct {
 *   uint8  type;            // 0x11 points (H(x)^{ac}), 0x12 sealed payloads
 *   uint64 index;           // 0x11: the requester's round-1 batch index; 0x12: first responder position
 *   uint8  is_last_batch;
 *   opaque data<1..2^64-1>; // 0x11: k × 32 (sm2-sm3: 33) bytes; 0x12: k × (maxBytes + 16) bytes
 * } PayloadBatch;
 * ```
 * @module
 */
import { aeadAvailable, AEAD_TAG_BYTES, openOnce, sealOnce } from '../../crypto/aead.js';
import { sha256 } from '../../crypto/sha256.js';
import {
  LimitExceededError,
  MalformedMessageError,
  UnexpectedMessageError,
  UnsupportedError,
  throwIfAborted,
} from '../../errors.js';
import { BinaryReader, BinaryWriter } from '../../utils/binary.js';
import { utf8 } from '../../utils/bytes.js';
import type { CryptoExecutor } from '../executor.js';
import type { DedupedRecords } from './normalize.js';
import { checkPeerPoints, generatePsiScalar, hashAndMask, multiplyPsiPoints, psiPointBytes, type PsiSuiteName } from './suite.js';

/**
 * Default largest encoded payload per key, in bytes (`--payload-max-bytes`).
 *
 * @example
 * ```ts
 * const terms = { payload: { columns: ['ward'], maxBytes: DEFAULT_PAYLOAD_MAX_BYTES } };
 * ```
 */
export const DEFAULT_PAYLOAD_MAX_BYTES = 256;
/**
 * Largest `maxBytes` a party accepts.
 *
 * @example
 * ```ts
 * if (maxBytes > MAX_PAYLOAD_MAX_BYTES) throw new RangeError('too large');
 * ```
 */
export const MAX_PAYLOAD_MAX_BYTES = 65535;
/** Most payload columns. @internal */
export const MAX_PAYLOAD_COLUMNS = 64;
/** Bytes of sealed payloads per frame (rounded down to whole records, at least one). */
const SEALED_FRAME_BYTES = 1 << 19;

/** Types of {@link PayloadBatch}. @internal */
export const PayloadBatchType = { POINTS: 0x11, SEALED: 0x12 } as const;

/** One payload-phase frame. @internal */
export interface PayloadBatch {
  type: number;
  index: bigint;
  isLastBatch: boolean;
  data: Uint8Array;
}

const KDF_DOMAIN = utf8('dataport psi payload v1 key\0');
const AD_DOMAIN = utf8('dataport psi payload v1 ad\0');

/** @internal */
export function encodePayloadBatch(m: PayloadBatch): Uint8Array {
  const w = new BinaryWriter(18 + m.data.length);
  w.u8(m.type);
  w.u64(m.index, 'index');
  w.u8(m.isLastBatch ? 1 : 0);
  w.varBytes(8, m.data, Number.MAX_SAFE_INTEGER, 'data');
  return w.finish();
}

/** Decodes a payload frame; `elementBytes` divides the data, which is at most `maxElements` of them. @internal */
export function decodePayloadBatch(frame: Uint8Array, elementBytes: number, maxElements: number): PayloadBatch {
  const r = new BinaryReader(frame);
  const type = r.u8('payload batch');
  const index = r.u64('payload batch');
  const last = r.u8('payload batch');
  const data = r.varBytes(8, elementBytes * maxElements, 'payload batch', { min: 1, copy: false });
  r.expectEnd('payload batch');
  if (type !== PayloadBatchType.POINTS && type !== PayloadBatchType.SEALED) throw new MalformedMessageError('malformed message: unknown payload batch type');
  if (last !== 0 && last !== 1) throw new MalformedMessageError('malformed message: bad is_last_batch');
  if (data.length % elementBytes !== 0) throw new MalformedMessageError('malformed message: payload batch is not a whole number of elements');
  return { type, index, isLastBatch: last === 1, data };
}

/** The AES-256-GCM key of the record whose c-masked point has u-coordinate `u`, bound to the session. */
function payloadKey(ekm: Uint8Array, u: Uint8Array): Uint8Array {
  const len = new Uint8Array(4);
  new DataView(len.buffer).setUint32(0, ekm.length);
  return sha256(KDF_DOMAIN, len, ekm, u);
}

/** Associated data of the payload at responder position `slot`: the session binding and the slot. */
function payloadAd(ekm: Uint8Array, slot: number): Uint8Array {
  const w = new BinaryWriter(AD_DOMAIN.length + 4 + ekm.length + 8);
  w.bytes(AD_DOMAIN);
  w.varBytes(4, ekm, 1 << 16, 'ekm');
  w.u64(BigInt(slot), 'slot');
  return w.finish();
}

/**
 * Sealed bytes per record for `maxBytes`.
 *
 * @example
 * ```ts
 * sealedPayloadBytes(256); // 272
 * ```
 */
export function sealedPayloadBytes(maxBytes: number): number {
  return maxBytes + AEAD_TAG_BYTES;
}

/**
 * Checks the payload shape both parties agreed (`TypeError` / `RangeError` naming the field) and
 * that this runtime can seal (`UnsupportedError` otherwise).
 * @internal
 */
export function checkPayloadShape(columns: number, maxBytes: number, name = 'payload'): void {
  if (!Number.isSafeInteger(columns) || columns < 1 || columns > MAX_PAYLOAD_COLUMNS) {
    throw new RangeError(`${name}.columns must be 1 to ${MAX_PAYLOAD_COLUMNS} columns`);
  }
  const min = 2 + 2 * columns;
  if (!Number.isSafeInteger(maxBytes) || maxBytes < min || maxBytes > MAX_PAYLOAD_MAX_BYTES) {
    throw new RangeError(`${name}.maxBytes must be an integer in ${min}..${MAX_PAYLOAD_MAX_BYTES}`);
  }
  if (!aeadAvailable()) throw new UnsupportedError('PSI with payload needs node:crypto (AES-256-GCM): not available in this runtime');
}

/**
 * The padded plaintext of every distinct key of `deduped`: the payload rows of all input rows
 * with that key, in input order, encoded as `uint16 rows`, then per row and column
 * `uint16 length, UTF-8`, then zeros up to `maxBytes`. A key whose encoding is longer throws
 * `LimitExceededError` naming the first such input row (never its values): the responder refuses
 * before anything is sent.
 *
 * @example
 * ```ts
 * const plaintexts = encodePayloadPlaintexts(deduped, [['ward 3', '1200'], ['ward 1', '80']], 2, 256);
 * ```
 */
export function encodePayloadPlaintexts(
  deduped: DedupedRecords,
  rows: readonly (readonly string[] | undefined)[],
  columns: number,
  maxBytes: number,
): Uint8Array[] {
  checkPayloadShape(columns, maxBytes);
  if (!Array.isArray(rows) || rows.length !== deduped.keyOfRow.length) throw new RangeError('payload rows must have one entry per record');
  const n = deduped.keys.length;
  const cells: (Uint8Array[] | undefined)[] = new Array(n);
  const rowCount = new Uint16Array(n);
  const used = new Int32Array(n).fill(2);
  for (let i = 0; i < rows.length; i++) {
    const k = deduped.keyOfRow[i]!;
    if (k < 0) continue;
    const row = rows[i];
    if (!Array.isArray(row) || row.length !== columns) throw new RangeError(`payload rows[${i}] must have ${columns} fields`);
    if (rowCount[k] === 0xffff) throw new LimitExceededError(`payload of record ${i + 1}: more than 65535 rows share its key`);
    rowCount[k] = rowCount[k]! + 1;
    const list = (cells[k] ??= []);
    for (const field of row) {
      if (typeof field !== 'string') throw new TypeError(`payload rows[${i}] must hold strings`);
      const b = utf8(field);
      used[k]! += 2 + b.length;
      list.push(b);
    }
    if (used[k]! > maxBytes) {
      throw new LimitExceededError(`payload of record ${i + 1} (with the other rows of its key) is ${used[k]} bytes, over the declared maximum of ${maxBytes}`);
    }
  }
  const out: Uint8Array[] = new Array(n);
  for (let k = 0; k < n; k++) {
    const p = new Uint8Array(maxBytes);
    const view = new DataView(p.buffer);
    view.setUint16(0, rowCount[k]!);
    let off = 2;
    for (const b of cells[k] ?? []) {
      view.setUint16(off, b.length);
      p.set(b, off + 2);
      off += 2 + b.length;
    }
    out[k] = p;
  }
  return out;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** The rows of one opened payload; `MalformedMessageError` unless canonical (at least one row, zeros after the rows). */
function decodePayloadPlaintext(p: Uint8Array, columns: number): string[][] {
  const bad = () => new MalformedMessageError('malformed message: payload encoding');
  const view = new DataView(p.buffer, p.byteOffset, p.length);
  if (p.length < 2) throw bad();
  const count = view.getUint16(0);
  if (count === 0) throw bad();
  let off = 2;
  const rows: string[][] = [];
  for (let i = 0; i < count; i++) {
    const row: string[] = [];
    for (let c = 0; c < columns; c++) {
      if (off + 2 > p.length) throw bad();
      const len = view.getUint16(off);
      off += 2;
      if (off + len > p.length) throw bad();
      try {
        row.push(strictUtf8.decode(p.subarray(off, off + len)));
      } catch {
        throw bad();
      }
      off += len;
    }
    rows.push(row);
  }
  for (let i = off; i < p.length; i++) if (p[i] !== 0) throw bad();
  return rows;
}

/** What the responder's PSI party kept for the payload phase (`PsiParty.payloadView`). @internal */
export interface PayloadResponderView {
  /** The requester's round-1 batches (checked points) in arrival order. */
  readonly peerBatches: readonly { readonly index: bigint; readonly points: Uint8Array }[];
  /** Responder round-1 position → its distinct-key index. */
  readonly sendOrder: Uint32Array;
  /** Its distinct keys (record bytes). */
  readonly keys: readonly Uint8Array[];
}

/** What the requester's PSI party kept for the payload phase. @internal */
export interface PayloadRequesterView {
  /** Key undoing the requester's round-1 secret (`generateInvertiblePsiScalarPair`). */
  readonly unmask: Uint8Array;
  /** Own round-1 batch index → batch number. */
  readonly batchOfIndex: ReadonlyMap<bigint, number>;
  readonly batchSize: number;
  /** Own round-1 position → own distinct-key index. */
  readonly sendOrder: Uint32Array;
  /** Own distinct-key index → the responder position it matched, or -1. */
  readonly matchedEntry: Int32Array;
  /** The responder's distinct keys. */
  readonly peerN: number;
}

/** The payload phase of the responder: a pull-driven frame source. @internal */
export class PayloadSender {
  readonly #c: Uint8Array;
  readonly #W: number;
  #pointBatch = 0;
  #position = 0;
  readonly #perFrame: number;
  readonly #sealedBytes: number;

  constructor(
    private readonly suite: PsiSuiteName,
    private readonly view: PayloadResponderView,
    private readonly plaintexts: readonly Uint8Array[],
    private readonly ekm: Uint8Array,
    private readonly executor: CryptoExecutor,
    maxBytes: number,
  ) {
    this.#c = generatePsiScalar(suite);
    this.#W = psiPointBytes(suite);
    if (plaintexts.length !== view.keys.length) throw new RangeError('payload plaintexts must have one entry per distinct key');
    for (const p of plaintexts) if (p.length !== maxBytes) throw new RangeError('every payload plaintext must be maxBytes long');
    this.#sealedBytes = sealedPayloadBytes(maxBytes);
    this.#perFrame = Math.max(1, Math.floor(SEALED_FRAME_BYTES / this.#sealedBytes));
  }

  get done(): boolean {
    return this.#pointBatch === this.view.peerBatches.length && this.#position === this.view.keys.length;
  }

  /** Zeroises c (also when the run failed). */
  dispose(): void {
    this.#c.fill(0);
  }

  async nextFrame(signal?: AbortSignal): Promise<Uint8Array> {
    throwIfAborted(signal);
    const batches = this.view.peerBatches;
    if (this.#pointBatch < batches.length) {
      // H(x)^{ac}: the requester's own checked round-1 points raised to c, under its batch index.
      const b = batches[this.#pointBatch]!;
      const data = await multiplyPsiPoints(this.suite, this.executor, this.#c, b.points, signal);
      this.#pointBatch++;
      return encodePayloadBatch({ type: PayloadBatchType.POINTS, index: b.index, isLastBatch: this.#pointBatch === batches.length, data });
    }
    const n = this.view.keys.length;
    const from = this.#position;
    if (from >= n) throw new TypeError('payload: nothing left to send');
    const to = Math.min(n, from + this.#perFrame);
    const records: Uint8Array[] = [];
    for (let p = from; p < to; p++) records.push(this.view.keys[this.view.sendOrder[p]!]!);
    // H(y)^c for the responder's own records, in the order of its round 1 (so position p here is
    // the p-th value of its round 1, the slot the requester's round 2 matched).
    const masked = await hashAndMask(this.suite, this.executor, records, this.ekm, this.#c, signal);
    const W = this.#W;
    const L = this.#sealedBytes;
    const data = new Uint8Array((to - from) * L);
    for (let p = from; p < to; p++) {
      const i = p - from;
      const key = payloadKey(this.ekm, masked.subarray(i * W, (i + 1) * W));
      data.set(sealOnce(key, payloadAd(this.ekm, p), this.plaintexts[this.view.sendOrder[p]!]!), i * L);
      key.fill(0);
    }
    masked.fill(0);
    this.#position = to;
    if (to === n) this.dispose();
    return encodePayloadBatch({ type: PayloadBatchType.SEALED, index: BigInt(from), isLastBatch: to === n, data });
  }
}

/** The payload phase of the requester: consumes frames until {@link PayloadReceiver.done}. @internal */
export class PayloadReceiver {
  readonly #seen = new Set<bigint>();
  #points = 0;
  #position = 0;
  /** Responder position → [own key index, AES key]. */
  readonly #keys = new Map<number, [number, Uint8Array]>();
  readonly #perFrame: number;
  readonly #sealedBytes: number;
  readonly #n: number;
  readonly #W: number;
  /** Payload rows per own distinct key (matched keys only). */
  readonly rowsOfKey: (string[][] | undefined)[];
  /** Responder rows delivered (summed over matched keys). */
  delivered = 0;
  /**
   * Matched records whose payload did not open (or was not canonical). Not an error here: failing
   * the run at this point would tell a cheating responder which of its records matched (selective
   * failure); the session layer reports it after the receipt.
   */
  failed = 0;

  constructor(
    private readonly suite: PsiSuiteName,
    private readonly view: PayloadRequesterView,
    private readonly ekm: Uint8Array,
    private readonly executor: CryptoExecutor,
    private readonly columns: number,
    maxBytes: number,
  ) {
    this.#W = psiPointBytes(suite);
    this.#sealedBytes = sealedPayloadBytes(maxBytes);
    this.#perFrame = Math.max(1, Math.floor(SEALED_FRAME_BYTES / this.#sealedBytes));
    this.#n = view.sendOrder.length;
    this.rowsOfKey = new Array(this.#n);
  }

  get done(): boolean {
    return this.#points === this.#n && this.#position === this.view.peerN;
  }

  dispose(): void {
    this.view.unmask.fill(0);
    for (const [, k] of this.#keys.values()) k.fill(0);
    this.#keys.clear();
  }

  async receiveFrame(frame: Uint8Array, signal?: AbortSignal): Promise<void> {
    throwIfAborted(signal);
    if (this.#points < this.#n) return this.#receivePoints(frame, signal);
    return this.#receiveSealed(frame);
  }

  async #receivePoints(frame: Uint8Array, signal?: AbortSignal): Promise<void> {
    const v = this.view;
    const W = this.#W;
    const b = decodePayloadBatch(frame, W, v.batchSize);
    if (b.type !== PayloadBatchType.POINTS) throw new UnexpectedMessageError('unexpected message: expected a payload points batch');
    const j = v.batchOfIndex.get(b.index);
    if (j === undefined || this.#seen.has(b.index)) throw new UnexpectedMessageError('unexpected message: unknown or repeated payload batch index');
    const from = j * v.batchSize;
    const k = b.data.length / W;
    if (k !== Math.min(this.#n, from + v.batchSize) - from) throw new UnexpectedMessageError('unexpected message: wrong number of points in payload batch');
    // Every point is checked, matched or not, so that a bad one fails the run whatever matched.
    checkPeerPoints(this.suite, b.data, from);
    this.#seen.add(b.index);
    this.#points += k;
    if (b.isLastBatch !== (this.#points === this.#n)) throw new UnexpectedMessageError('unexpected message: is_last_batch does not match the expected count');
    // Only matched records are unmasked: H(x)^{ac} · a^-1 = H(x)^c.
    const mine: number[] = [];
    for (let t = 0; t < k; t++) if (v.matchedEntry[v.sendOrder[from + t]!]! >= 0) mine.push(t);
    if (mine.length === 0) return;
    const flat = new Uint8Array(mine.length * W);
    mine.forEach((t, i) => flat.set(b.data.subarray(t * W, (t + 1) * W), i * W));
    const unmasked = await multiplyPsiPoints(this.suite, this.executor, v.unmask, flat, signal);
    mine.forEach((t, i) => {
      const key = v.sendOrder[from + t]!;
      this.#keys.set(v.matchedEntry[key]!, [key, payloadKey(this.ekm, unmasked.subarray(i * W, (i + 1) * W))]);
    });
    unmasked.fill(0);
    if (this.#points === this.#n) v.unmask.fill(0);
  }

  #receiveSealed(frame: Uint8Array): void {
    const L = this.#sealedBytes;
    const b = decodePayloadBatch(frame, L, this.#perFrame);
    if (b.type !== PayloadBatchType.SEALED) throw new UnexpectedMessageError('unexpected message: expected a sealed payload batch');
    if (b.index !== BigInt(this.#position)) throw new UnexpectedMessageError('unexpected message: sealed payloads out of order');
    const k = b.data.length / L;
    const after = this.#position + k;
    if (after > this.view.peerN) throw new UnexpectedMessageError('unexpected message: more payloads than announced records');
    if (b.isLastBatch !== (after === this.view.peerN)) throw new UnexpectedMessageError('unexpected message: is_last_batch does not match the expected count');
    for (let p = this.#position; p < after; p++) {
      const entry = this.#keys.get(p);
      if (entry === undefined) continue; // not matched: not openable, not tried
      const [ownKey, key] = entry;
      const plain = openOnce(key, payloadAd(this.ekm, p), b.data.subarray((p - this.#position) * L, (p - this.#position + 1) * L));
      key.fill(0);
      this.#keys.delete(p);
      let rows: string[][] | undefined;
      if (plain !== undefined) {
        try {
          rows = decodePayloadPlaintext(plain, this.columns);
        } catch {
          rows = undefined;
        }
        plain.fill(0);
      }
      if (rows === undefined) {
        this.failed++;
        continue;
      }
      this.rowsOfKey[ownKey] = rows;
      this.delivered += rows.length;
    }
    this.#position = after;
  }
}

/** For tests: what the requester would try on one sealed payload (its derived keys). @internal */
export function openPayloadForTest(key: Uint8Array, ekm: Uint8Array, slot: number, sealed: Uint8Array): Uint8Array | undefined {
  return openOnce(key, payloadAd(ekm, slot), sealed);
}
/** For tests: the payload key of a c-masked u-coordinate. @internal */
export const payloadKeyForTest = payloadKey;
