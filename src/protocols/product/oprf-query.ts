/**
 * The data-product protocol (sans-I/O): the holder's OPRF evaluation of a querier's blinded keys,
 * and the fetch of a product's cache, as frame codecs and pure steps. docs/products.md has the
 * message flow; the session layer (`session/run-product.ts`) moves the frames.
 *
 * Query (one round trip): querier → holder `QUERY(n, r·H(x_1..n))`; holder → querier
 * `ANSWER(n, k·r·H(x_i))`; the querier unblinds with r^-1 and looks the truncated k·H(x_i) up in
 * its cache. H(x) = encode_to_curve(productId || key) (the PSI suite, `ekm` = the product id), so
 * outputs are bound to one product. The holder learns n and nothing else; see SECURITY.md.
 * @module
 */
import { MalformedMessageError, UnexpectedMessageError, LimitExceededError } from '../../errors.js';
import { decodePointBatch } from '../../crypto/point.js';
import { generateOprfBlind } from '../../crypto/oprf.js';
import { assertBytes } from '../../utils/bytes.js';
import type { CryptoExecutor } from '../executor.js';
import { MAX_QUERY_KEYS, PRODUCT_VALUE_BYTES } from './cache.js';

/**
 * Frame types of the product protocol (first byte of each frame).
 * @example
 * ```ts
 * frame[0] === ProductMessageType.QUERY;
 * ```
 */
export const ProductMessageType = {
  QUERY: 0x01,
  ANSWER: 0x02,
  GET_MANIFEST: 0x10,
  MANIFEST: 0x11,
  GET_FILE: 0x12,
  FILE: 0x13,
  FETCH_DONE: 0x14,
} as const;

/** What a `GET_FILE` asks for. */
export type ProductFileKind = 'chunk' | 'delta';

function pointsFrame(type: number, points: Uint8Array): Uint8Array {
  const n = points.length / 32;
  const out = new Uint8Array(5 + points.length);
  out[0] = type;
  new DataView(out.buffer).setUint32(1, n);
  out.set(points, 5);
  return out;
}

/**
 * Decodes a QUERY or ANSWER frame: exactly `expected` points (the number declared in the signed
 * terms), each a valid curve25519 point (canonical, on the curve, not of low order). Throws
 * `UnexpectedMessageError` (wrong type), `LimitExceededError` (more than declared or than
 * {@link MAX_QUERY_KEYS}), `MalformedMessageError`, `InvalidPointError`.
 * @example
 * ```ts
 * const blinded = decodePointsFrame(frame, ProductMessageType.QUERY, terms.requesterSetSize);
 * ```
 */
export function decodePointsFrame(frame: Uint8Array, type: number, expected: number): Uint8Array {
  assertBytes(frame, 'frame');
  if (frame.length < 1 || frame[0] !== type) throw new UnexpectedMessageError('unexpected product message');
  if (frame.length < 5) throw new MalformedMessageError('product message truncated');
  const n = new DataView(frame.buffer, frame.byteOffset, frame.byteLength).getUint32(1);
  if (n > MAX_QUERY_KEYS) throw new LimitExceededError(`query of ${n} keys exceeds the limit of ${MAX_QUERY_KEYS}`);
  if (n !== expected) throw new LimitExceededError(`query carries ${n} keys, ${expected} were declared`);
  if (frame.length !== 5 + 32 * n) throw new MalformedMessageError('product message length does not match its key count');
  return decodePointBatch(frame.slice(5));
}

/** The querier's secret state between QUERY and ANSWER. */
export interface ProductQueryState {
  readonly n: number;
  readonly unblind: Uint8Array;
}

/**
 * Querier, step 1: hashes and blinds `records` (normalised key bytes, distinct) for product
 * `productId`; returns the QUERY frame and the state needed for the answer.
 * @example
 * ```ts
 * const { frame, state } = await createProductQuery(executor, productId, records);
 * ```
 */
export async function createProductQuery(
  executor: CryptoExecutor,
  productId: Uint8Array,
  records: readonly Uint8Array[],
  signal?: AbortSignal,
): Promise<{ frame: Uint8Array; state: ProductQueryState }> {
  assertBytes(productId, 'productId', 16);
  if (!Array.isArray(records)) throw new TypeError('records must be an array');
  if (records.length > MAX_QUERY_KEYS) throw new RangeError(`records: at most ${MAX_QUERY_KEYS} keys per query`);
  const { blind, unblind } = generateOprfBlind();
  const hashed = await executor.hashToGroup(records, productId, signal);
  const blinded = records.length ? await executor.multiply(blind, hashed, signal) : new Uint8Array(0);
  blind.fill(0);
  return { frame: pointsFrame(ProductMessageType.QUERY, blinded), state: { n: records.length, unblind } };
}

/**
 * Holder: evaluates a QUERY frame with the product's OPRF key; `declared` is the number of keys
 * the querier declared in the signed terms (and the budget was charged for). Returns the ANSWER
 * frame. Hostile input ends here with a typed error before any multiplication.
 * @example
 * ```ts
 * const answer = await answerProductQuery(executor, oprfKey, frame, session.terms.requesterSetSize);
 * ```
 */
export async function answerProductQuery(executor: CryptoExecutor, oprfKey: Uint8Array, frame: Uint8Array, declared: number, signal?: AbortSignal): Promise<Uint8Array> {
  assertBytes(oprfKey, 'oprfKey', 32);
  const blinded = decodePointsFrame(frame, ProductMessageType.QUERY, declared);
  const evaluated = blinded.length ? await executor.multiply(oprfKey, blinded, signal) : new Uint8Array(0);
  return pointsFrame(ProductMessageType.ANSWER, evaluated);
}

/**
 * 12-byte product values from OPRF outputs: X25519(scalar, point) for every point, and of each
 * 32-byte u-coordinate its first 12 bytes (the low 96 bits). k·H(x) is pseudo-random in the group
 * (DDH), and the low bits of its u-coordinate are statistically uniform (u < p ≈ 2^255), so no hash
 * is needed on top; an HKDF pass here (the PSI suite's truncation) measured as costly as the
 * multiplication itself. The PPCA suites compare 12 bytes of the point the same way.
 */
async function valuesOf(executor: CryptoExecutor, scalar: Uint8Array, points: Uint8Array, signal?: AbortSignal): Promise<Uint8Array> {
  const n = points.length / 32;
  if (n === 0) return new Uint8Array(0);
  const full = await executor.multiply(scalar, points, signal);
  const out = new Uint8Array(n * PRODUCT_VALUE_BYTES);
  for (let i = 0; i < n; i++) out.set(full.subarray(i * 32, i * 32 + PRODUCT_VALUE_BYTES), i * PRODUCT_VALUE_BYTES);
  return out;
}

/**
 * Querier, step 2: unblinds the ANSWER frame; returns the n 12-byte values, in query order, to
 * look up in the cache. `InvalidPointError` / `MalformedMessageError` for a bad answer.
 * @example
 * ```ts
 * const values = await finishProductQuery(executor, state, answerFrame);
 * ```
 */
export async function finishProductQuery(executor: CryptoExecutor, state: ProductQueryState, frame: Uint8Array, signal?: AbortSignal): Promise<Uint8Array> {
  const evaluated = decodePointsFrame(frame, ProductMessageType.ANSWER, state.n);
  try {
    return await valuesOf(executor, state.unblind, evaluated, signal);
  } finally {
    state.unblind.fill(0);
  }
}

/**
 * Holder, at publish / update: the 12-byte values of `records` under the product's OPRF key
 * (k·H(productId || x), its u-coordinate's first 12 bytes), in record order.
 * @example
 * ```ts
 * const values = await productValues(executor, oprfKey, productId, records);
 * ```
 */
export async function productValues(
  executor: CryptoExecutor,
  oprfKey: Uint8Array,
  productId: Uint8Array,
  records: readonly Uint8Array[],
  signal?: AbortSignal,
): Promise<Uint8Array> {
  assertBytes(oprfKey, 'oprfKey', 32);
  assertBytes(productId, 'productId', 16);
  const hashed = await executor.hashToGroup(records, productId, signal);
  return valuesOf(executor, oprfKey, hashed, signal);
}

/**
 * GET_FILE frame.
 * @example
 * ```ts
 * transport.send(encodeGetFile('chunk', 3));
 * ```
 */
export function encodeGetFile(kind: ProductFileKind, index: number): Uint8Array {
  if (kind !== 'chunk' && kind !== 'delta') throw new TypeError("kind must be 'chunk' or 'delta'");
  if (!Number.isSafeInteger(index) || index < 0 || index > 0xffffffff) throw new RangeError('index must be a u32');
  const out = new Uint8Array(6);
  out[0] = ProductMessageType.GET_FILE;
  out[1] = kind === 'chunk' ? 0 : 1;
  new DataView(out.buffer).setUint32(2, index);
  return out;
}

/**
 * Decodes a fetch request: GET_MANIFEST, GET_FILE or FETCH_DONE.
 * @example
 * ```ts
 * const req = decodeFetchRequest(frame); // { type: 'file', kind: 'chunk', index: 3 }
 * ```
 */
export function decodeFetchRequest(frame: Uint8Array): { type: 'manifest' } | { type: 'done' } | { type: 'file'; kind: ProductFileKind; index: number } {
  assertBytes(frame, 'frame');
  if (frame.length === 1 && frame[0] === ProductMessageType.GET_MANIFEST) return { type: 'manifest' };
  if (frame.length === 1 && frame[0] === ProductMessageType.FETCH_DONE) return { type: 'done' };
  if (frame.length === 6 && frame[0] === ProductMessageType.GET_FILE && (frame[1] === 0 || frame[1] === 1)) {
    return { type: 'file', kind: frame[1] === 0 ? 'chunk' : 'delta', index: new DataView(frame.buffer, frame.byteOffset, 6).getUint32(2) };
  }
  throw new UnexpectedMessageError('unexpected product fetch message');
}

/**
 * A frame of type `type` carrying `payload` (MANIFEST, FILE), or a one-byte request.
 * @example
 * ```ts
 * transport.send(encodePayloadFrame(ProductMessageType.MANIFEST, manifestBytes));
 * ```
 */
export function encodePayloadFrame(type: number, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  const out = new Uint8Array(1 + payload.length);
  out[0] = type;
  out.set(payload, 1);
  return out;
}

/**
 * The payload of a frame of type `type`; `UnexpectedMessageError` otherwise.
 * @example
 * ```ts
 * const manifest = decodePayloadFrame(frame, ProductMessageType.MANIFEST);
 * ```
 */
export function decodePayloadFrame(frame: Uint8Array, type: number): Uint8Array {
  assertBytes(frame, 'frame');
  if (frame.length < 1 || frame[0] !== type) throw new UnexpectedMessageError('unexpected product message');
  return frame.slice(1);
}
