/**
 * The holder's side of a data product, without I/O: building a product version from its keys
 * (publish: a new OPRF key, hence a new version and a full cache) and the next version from keys
 * added and removed (update: a delta under the same key). The caller stores the results.
 * @module
 */
import { generateScalar } from '../../crypto/scalar.js';
import { assertBytes } from '../../utils/bytes.js';
import type { CryptoExecutor } from '../executor.js';
import {
  applyProductDelta,
  encodeCacheChunks,
  encodeProductDelta,
  MAX_INDEX_KEYS,
  MAX_MANIFEST_DELTAS,
  PRODUCT_VALUE_BYTES,
  productHash,
  signProductManifest,
  sortProductValues,
  type ProductFileRef,
  type ProductManifest,
} from './cache.js';
import { productValues } from './oprf-query.js';

const V = PRODUCT_VALUE_BYTES;

/** A product version ready to store. */
export interface BuiltProductVersion {
  manifest: ProductManifest;
  manifestBytes: Uint8Array;
  chunks: Uint8Array[];
  /** Every value, sorted (what the next update starts from). */
  sorted: Uint8Array;
}

/** Options of {@link buildProduct}. */
export interface BuildProductOptions {
  executor: CryptoExecutor;
  /** Normalised, distinct key bytes. */
  records: readonly Uint8Array[];
  keyColumns: number;
  profile: string;
  holderPublicKey: Uint8Array;
  /** Ed25519 signature with the holder's identity. */
  sign: (message: Uint8Array) => Uint8Array;
  /** Keep this product id (a rotation); default: a fresh one (a new product). */
  productId?: Uint8Array;
  note?: string;
  signal?: AbortSignal;
  /** Clock (default `Date.now()`). */
  now?: number;
}

function random(n: number): Uint8Array {
  const b = new Uint8Array(n);
  globalThis.crypto.getRandomValues(b);
  return b;
}

/**
 * Publish (and rotate): draws a fresh OPRF key and key id, evaluates every key, sorts and chunks
 * the values and signs the manifest (sequence 0, no deltas). Returns the secret `oprfKey` too.
 *
 * @example
 * ```ts
 * const v = await buildProduct({ executor, records, keyColumns: 1, profile: NORMALIZATION_PROFILE,
 *   holderPublicKey: id.publicKey, sign: (m) => signMessage(id.secretKey, m) });
 * ```
 */
export async function buildProduct(o: BuildProductOptions): Promise<BuiltProductVersion & { oprfKey: Uint8Array }> {
  if (!Array.isArray(o.records)) throw new TypeError('records must be an array');
  if (o.records.length > MAX_INDEX_KEYS) throw new RangeError(`records: at most ${MAX_INDEX_KEYS} keys per product (the false-positive bound)`);
  const productId = o.productId ?? random(16);
  assertBytes(productId, 'productId', 16);
  const oprfKey = generateScalar();
  const values = await productValues(o.executor, oprfKey, productId, o.records, o.signal);
  const sorted = sortProductValues(values);
  const chunks = encodeCacheChunks(sorted);
  const manifest: ProductManifest = {
    productId,
    keyId: random(8),
    seq: 0,
    count: sorted.length / V,
    keyColumns: o.keyColumns,
    profile: o.profile,
    createdAt: o.now ?? Date.now(),
    note: o.note ?? '',
    holderPublicKey: o.holderPublicKey,
    chunks: chunks.map(refOf),
    firstDeltaFrom: 0,
    deltas: [],
  };
  return { oprfKey, manifest, manifestBytes: signProductManifest(manifest, o.sign), chunks, sorted };
}

function refOf(bytes: Uint8Array): ProductFileRef {
  return { size: bytes.length, sha256: productHash(bytes) };
}

/** Options of {@link buildProductUpdate}. */
export interface BuildProductUpdateOptions {
  executor: CryptoExecutor;
  oprfKey: Uint8Array;
  /** The current version and all its values, sorted. */
  current: ProductManifest;
  currentSorted: Uint8Array;
  /** Normalised, distinct keys to add and to remove (a key in both is a `RangeError`). */
  add: readonly Uint8Array[];
  remove: readonly Uint8Array[];
  sign: (message: Uint8Array) => Uint8Array;
  note?: string;
  signal?: AbortSignal;
  now?: number;
}

/** What an update made. */
export interface BuiltProductUpdate extends BuiltProductVersion {
  /** The delta file taking the current sequence number to the next. */
  delta: Uint8Array;
  added: number;
  removed: number;
  /** Keys to add that the index already held, keys to remove that it did not: left as they are. */
  alreadyPresent: number;
  notPresent: number;
}

function keySet(keys: readonly Uint8Array[]): Set<string> {
  const s = new Set<string>();
  for (const k of keys) s.add(String.fromCharCode(...k));
  return s;
}

/**
 * Update: the next sequence number under the same OPRF key. Added and removed keys are evaluated,
 * the delta (sorted values added and removed) is encoded, the full cache re-chunked (no OPRF work
 * for the keys already there) and the manifest signed, listing the new delta after the previous
 * ones (the oldest dropped beyond {@link MAX_MANIFEST_DELTAS}).
 *
 * @example
 * ```ts
 * const u = await buildProductUpdate({ executor, oprfKey, current, currentSorted, add, remove, sign });
 * ```
 */
export async function buildProductUpdate(o: BuildProductUpdateOptions): Promise<BuiltProductUpdate> {
  const cur = o.current;
  if (!Array.isArray(o.add) || !Array.isArray(o.remove)) throw new TypeError('add and remove must be arrays');
  const addSet = keySet(o.add);
  for (const k of o.remove) if (addSet.has(String.fromCharCode(...k))) throw new RangeError('a key is both added and removed');
  const has = (sorted: Uint8Array, v: Uint8Array, off: number): boolean => {
    let lo = 0;
    let hi = sorted.length / V;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      let d = 0;
      for (let k = 0; k < V && d === 0; k++) d = sorted[mid * V + k]! - v[off + k]!;
      if (d === 0) return true;
      if (d < 0) lo = mid + 1;
      else hi = mid;
    }
    return false;
  };
  const pick = (values: Uint8Array, wantPresent: boolean): { kept: Uint8Array; skipped: number } => {
    const sorted = sortProductValues(values);
    const out = new Uint8Array(sorted.length);
    let m = 0;
    for (let i = 0; i < sorted.length / V; i++) {
      if (has(o.currentSorted, sorted, i * V) === wantPresent) out.set(sorted.subarray(i * V, i * V + V), V * m++);
    }
    return { kept: out.slice(0, m * V), skipped: sorted.length / V - m };
  };
  const add = pick(await productValues(o.executor, o.oprfKey, cur.productId, o.add, o.signal), false);
  const rem = pick(await productValues(o.executor, o.oprfKey, cur.productId, o.remove, o.signal), true);
  const sorted = applyProductDelta(o.currentSorted, add.kept, rem.kept);
  if (sorted.length / V > MAX_INDEX_KEYS) throw new RangeError(`the index would exceed ${MAX_INDEX_KEYS} keys`);
  const delta = encodeProductDelta({ productId: cur.productId, keyId: cur.keyId, fromSeq: cur.seq, added: add.kept, removed: rem.kept });
  const chunks = encodeCacheChunks(sorted);
  let deltas = [...cur.deltas, refOf(delta)];
  let firstDeltaFrom = cur.firstDeltaFrom;
  if (deltas.length > MAX_MANIFEST_DELTAS) {
    firstDeltaFrom += deltas.length - MAX_MANIFEST_DELTAS;
    deltas = deltas.slice(deltas.length - MAX_MANIFEST_DELTAS);
  }
  const manifest: ProductManifest = {
    ...cur,
    seq: cur.seq + 1,
    count: sorted.length / V,
    createdAt: o.now ?? Date.now(),
    note: o.note ?? cur.note,
    chunks: chunks.map(refOf),
    firstDeltaFrom,
    deltas,
  };
  return {
    manifest,
    manifestBytes: signProductManifest(manifest, o.sign),
    chunks,
    sorted,
    delta,
    added: add.kept.length / V,
    removed: rem.kept.length / V,
    alreadyPresent: add.skipped,
    notPresent: rem.skipped,
  };
}
