/**
 * The data-product cache (docs/products.md): the holder's truncated OPRF outputs, sorted, bucketed
 * by their leading bytes and split into chunks, each chunk named by its SHA-256 in a manifest the
 * holder signs with its identity key; and deltas (values added / removed) between two sequence
 * numbers of one OPRF key. Pure functions over bytes: files and sockets are the callers' business.
 *
 * Truncation and false positives. Each value is the first {@link PRODUCT_VALUE_BYTES} = 12 bytes
 * (the low 96 bits) of the OPRF output k·H(x)'s 32-byte little-endian u-coordinate. A querier key that is not in the index
 * matches one of the N cache values with probability at most N·2^-96, so a query of q keys has a
 * false positive with probability at most q·N·2^-96. The limits {@link MAX_INDEX_KEYS} = 2^28 and
 * {@link MAX_QUERY_KEYS} = 2^16 make that at most 2^-52 per query (below the 2^-40 target); both
 * are enforced (publish refuses larger indexes, the holder refuses larger queries).
 *
 * Layout. With p = {@link CacheLayout.prefixBytes} leading bytes used as the bucket number (0, 1 or
 * 2 by index size) a value is stored as its 12 − p remaining bytes, so a cache costs 12 − p bytes
 * per key plus a 4-byte count per bucket (10.02 bytes per key at 2^24 keys). Chunk j holds the
 * buckets [j·B, (j+1)·B), B = 2^(8p − c) with 2^c chunks: a big-endian u32 count per bucket, then
 * the entries in ascending order. The layout follows from the key count alone, so a querier that
 * applies deltas rebuilds byte-identical chunks and checks them against the signed hashes.
 * @module
 */
import { MalformedMessageError, VerificationFailedError } from '../../errors.js';
import { sha256 } from '../../crypto/sha256.js';
import { BinaryReader, BinaryWriter } from '../../utils/binary.js';
import { assertBytes, concatBytes, equalBytes, utf8 } from '../../utils/bytes.js';

/** Bytes kept of each OPRF output (96 bits; see the module comment for the false-positive bound). */
export const PRODUCT_VALUE_BYTES = 12;
/** Largest index a product may hold (2^28 keys): bounds the false-positive rate and chunk sizes. */
export const MAX_INDEX_KEYS = 2 ** 28;
/** Largest number of keys in one query (2^16): q·N·2^-96 ≤ 2^-52 with {@link MAX_INDEX_KEYS}. */
export const MAX_QUERY_KEYS = 2 ** 16;
/** Deltas a manifest lists (older queriers download the whole cache again). */
export const MAX_MANIFEST_DELTAS = 1024;
/** Longest version note, UTF-8 bytes. */
export const MAX_NOTE_BYTES = 1024;
/** Largest manifest (256 chunks and 1024 deltas fit with room to spare). */
export const MAX_MANIFEST_BYTES = 64 * 1024;

const V = PRODUCT_VALUE_BYTES;
const MANIFEST_MAGIC = utf8('DPPRODM1');
const DELTA_MAGIC = utf8('DPPRODD1');
const CTX_MANIFEST = utf8('dataport-product-v1 manifest\0');

/**
 * SHA-256 of a cache file or chunk (the digest the signed manifest names).
 * @internal
 */
export const productHash: (...parts: Uint8Array[]) => Uint8Array = sha256;

/**
 * How a cache of `count` values is bucketed and chunked.
 * @example
 * ```ts
 * cacheLayout(1 << 24); // { prefixBytes: 2, chunkBits: 8 }
 * ```
 */
export interface CacheLayout {
  /** Leading bytes of a value used as its bucket number (0, 1 or 2). */
  prefixBytes: number;
  /** log2 of the number of chunks (0 … 8·prefixBytes). */
  chunkBits: number;
}

/**
 * The layout for `count` values: 2-byte buckets from 2^18 keys on, 1-byte from 2^10, none below
 * (a bucket table only pays when it saves more than it costs); about 2^16 values per chunk, at most
 * 256 chunks.
 * @example
 * ```ts
 * const { prefixBytes, chunkBits } = cacheLayout(100_000); // { prefixBytes: 1, chunkBits: 0 }
 * ```
 */
export function cacheLayout(count: number): CacheLayout {
  if (!Number.isSafeInteger(count) || count < 0 || count > MAX_INDEX_KEYS) throw new RangeError(`count must be an integer in 0..${MAX_INDEX_KEYS}`);
  const prefixBytes = count >= 2 ** 18 ? 2 : count >= 2 ** 10 ? 1 : 0;
  const log2 = count > 0 ? Math.floor(Math.log2(count)) : 0;
  const chunkBits = Math.min(8 * prefixBytes, Math.max(0, log2 - 16));
  return { prefixBytes, chunkBits };
}

function compareAt(a: Uint8Array, ai: number, b: Uint8Array, bi: number): number {
  for (let k = 0; k < V; k++) {
    const d = a[ai + k]! - b[bi + k]!;
    if (d !== 0) return d;
  }
  return 0;
}

/**
 * Sorts a flat array of 12-byte values ascending and drops duplicates; returns a new array.
 * Counting sort on the first two bytes, then a comparison sort inside each of the 65536 buckets,
 * so 2^24 values sort in a few seconds.
 * @example
 * ```ts
 * const sorted = sortProductValues(values); // values.length % 12 === 0
 * ```
 */
export function sortProductValues(values: Uint8Array): Uint8Array {
  assertBytes(values, 'values');
  if (values.length % V !== 0) throw new RangeError(`values length must be a multiple of ${V}`);
  const n = values.length / V;
  const starts = new Uint32Array(65537);
  for (let i = 0; i < n; i++) starts[((values[i * V]! << 8) | values[i * V + 1]!) + 1]!++;
  for (let b = 0; b < 65536; b++) starts[b + 1]! += starts[b]!;
  const order = new Uint32Array(n);
  const fill = starts.slice(0, 65536);
  for (let i = 0; i < n; i++) order[fill[(values[i * V]! << 8) | values[i * V + 1]!]!++] = i;
  // Inside a bucket: the remaining 10 bytes as a 48-bit and a 32-bit number.
  const hi = new Float64Array(n);
  const lo = new Uint32Array(n);
  const dv = new DataView(values.buffer, values.byteOffset, values.byteLength);
  for (let i = 0; i < n; i++) {
    hi[i] = dv.getUint16(i * V + 2) * 2 ** 32 + dv.getUint32(i * V + 4);
    lo[i] = dv.getUint32(i * V + 8);
  }
  const cmp = (a: number, b: number): number => hi[a]! - hi[b]! || lo[a]! - lo[b]!;
  for (let b = 0; b < 65536; b++) {
    if (starts[b + 1]! - starts[b]! > 1) order.subarray(starts[b]!, starts[b + 1]!).sort(cmp);
  }
  const out = new Uint8Array(values.length);
  let m = 0;
  for (let k = 0; k < n; k++) {
    const i = order[k]!;
    if (m > 0 && compareAt(out, (m - 1) * V, values, i * V) === 0) continue;
    out.set(values.subarray(i * V, i * V + V), m * V);
    m++;
  }
  return m === n ? out : out.slice(0, m * V);
}

function bucketOf(values: Uint8Array, off: number, prefixBytes: number): number {
  return prefixBytes === 0 ? 0 : prefixBytes === 1 ? values[off]! : (values[off]! << 8) | values[off + 1]!;
}

/**
 * Splits sorted, distinct values (from {@link sortProductValues}) into the chunks of
 * {@link cacheLayout}(count).
 * @example
 * ```ts
 * const chunks = encodeCacheChunks(sortProductValues(values));
 * ```
 */
export function encodeCacheChunks(sorted: Uint8Array): Uint8Array[] {
  assertBytes(sorted, 'sorted');
  if (sorted.length % V !== 0) throw new RangeError(`sorted length must be a multiple of ${V}`);
  const n = sorted.length / V;
  const { prefixBytes: p, chunkBits: c } = cacheLayout(n);
  const chunks = 2 ** c;
  const perChunk = 2 ** (8 * p - c);
  const counts = new Uint32Array(2 ** (8 * p));
  for (let i = 0; i < n; i++) {
    if (i > 0 && compareAt(sorted, (i - 1) * V, sorted, i * V) >= 0) throw new RangeError('sorted must be ascending without duplicates');
    counts[bucketOf(sorted, i * V, p)]!++;
  }
  const out: Uint8Array[] = [];
  let next = 0;
  const entry = V - p;
  for (let j = 0; j < chunks; j++) {
    let m = 0;
    for (let b = j * perChunk; b < (j + 1) * perChunk; b++) m += counts[b]!;
    const chunk = new Uint8Array(4 * perChunk + m * entry);
    const dv = new DataView(chunk.buffer);
    for (let b = 0; b < perChunk; b++) dv.setUint32(4 * b, counts[j * perChunk + b]!);
    let at = 4 * perChunk;
    for (let k = 0; k < m; k++, next++) {
      chunk.set(sorted.subarray(next * V + p, next * V + V), at);
      at += entry;
    }
    out.push(chunk);
  }
  return out;
}

/**
 * One chunk checked and ready for lookups: bucket starts and the stored suffixes.
 * @internal
 */
interface LoadedChunk {
  starts: Uint32Array;
  entries: Uint8Array;
}

function loadChunk(bytes: Uint8Array, j: number, layout: CacheLayout): LoadedChunk {
  const p = layout.prefixBytes;
  const perChunk = 2 ** (8 * p - layout.chunkBits);
  const entry = V - p;
  if (bytes.length < 4 * perChunk) throw new MalformedMessageError(`cache chunk ${j}: truncated`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const starts = new Uint32Array(perChunk + 1);
  for (let b = 0; b < perChunk; b++) starts[b + 1] = starts[b]! + dv.getUint32(4 * b);
  const m = starts[perChunk]!;
  if (bytes.length !== 4 * perChunk + m * entry) throw new MalformedMessageError(`cache chunk ${j}: length does not match its bucket counts`);
  return { starts, entries: bytes.subarray(4 * perChunk) };
}

/** Ascending order inside each bucket (what {@link encodeCacheChunks} writes). */
function checkChunkOrder(c: LoadedChunk, j: number, entry: number): void {
  for (let b = 0; b + 1 < c.starts.length; b++) {
    for (let i = c.starts[b]! + 1; i < c.starts[b + 1]!; i++) {
      let d = 0;
      for (let k = 0; k < entry && d === 0; k++) d = c.entries[i * entry + k]! - c.entries[(i - 1) * entry + k]!;
      if (d <= 0) throw new MalformedMessageError(`cache chunk ${j}: entries out of order`);
    }
  }
}

/**
 * A cache loaded for lookups (the querier's side). Built from chunks whose hashes were checked
 * against a verified manifest ({@link openProductCache}).
 * @example
 * ```ts
 * const cache = openProductCache(manifest, chunks);
 * cache.has(value12); // true / false
 * ```
 */
export interface ProductCacheView {
  readonly count: number;
  /** Whether the 12-byte value at `values[offset…]` is in the cache. */
  has(values: Uint8Array, offset?: number): boolean;
  /** All values, sorted (12 bytes each): for applying deltas. */
  values(): Uint8Array;
}

/**
 * Checks every chunk against the manifest (count, SHA-256, layout, order) and returns the lookup
 * view; `VerificationFailedError` naming the first chunk whose hash differs.
 * @example
 * ```ts
 * const cache = openProductCache(manifest, chunks);
 * ```
 */
export function openProductCache(manifest: ProductManifest, chunks: readonly Uint8Array[], options: { checkHashes?: boolean } = {}): ProductCacheView {
  const layout = cacheLayout(manifest.count);
  if (chunks.length !== manifest.chunks.length) throw new VerificationFailedError(`cache has ${chunks.length} chunks, the manifest ${manifest.chunks.length}`);
  const p = layout.prefixBytes;
  const entry = V - p;
  const perChunkBits = 8 * p - layout.chunkBits;
  const loaded: LoadedChunk[] = [];
  let total = 0;
  for (let j = 0; j < chunks.length; j++) {
    const bytes = chunks[j]!;
    assertBytes(bytes, `chunks[${j}]`);
    if (options.checkHashes !== false && (bytes.length !== manifest.chunks[j]!.size || !equalBytes(productHash(bytes), manifest.chunks[j]!.sha256))) {
      throw new VerificationFailedError(`cache chunk ${j} does not match the signed manifest (corrupt or tampered)`);
    }
    const c = loadChunk(bytes, j, layout);
    checkChunkOrder(c, j, entry);
    total += c.starts[c.starts.length - 1]!;
    loaded.push(c);
  }
  if (total !== manifest.count) throw new VerificationFailedError(`cache holds ${total} values, the manifest ${manifest.count}`);
  const has = (values: Uint8Array, offset = 0): boolean => {
    const bucket = bucketOf(values, offset, p);
    const c = loaded[bucket >>> perChunkBits]!;
    const b = bucket & (2 ** perChunkBits - 1);
    let lo = c.starts[b]!;
    let hi = c.starts[b + 1]!;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      let d = 0;
      for (let k = 0; k < entry && d === 0; k++) d = c.entries[mid * entry + k]! - values[offset + p + k]!;
      if (d === 0) return true;
      if (d < 0) lo = mid + 1;
      else hi = mid;
    }
    return false;
  };
  const values = (): Uint8Array => {
    const out = new Uint8Array(total * V);
    let at = 0;
    for (let j = 0; j < loaded.length; j++) {
      const c = loaded[j]!;
      for (let b = 0; b + 1 < c.starts.length; b++) {
        const bucket = (j << perChunkBits) | b;
        for (let i = c.starts[b]!; i < c.starts[b + 1]!; i++) {
          if (p === 2) {
            out[at] = bucket >>> 8;
            out[at + 1] = bucket & 0xff;
          } else if (p === 1) out[at] = bucket;
          out.set(c.entries.subarray(i * entry, (i + 1) * entry), at + p);
          at += V;
        }
      }
    }
    return out;
  };
  return { count: total, has, values };
}

/** Size and SHA-256 of a chunk or delta file named by a manifest. */
export interface ProductFileRef {
  size: number;
  sha256: Uint8Array;
}

/**
 * A product version's manifest: what the holder signs and queriers verify.
 * @example
 * ```ts
 * const v = `${toHex(manifest.keyId)}.${manifest.seq}`; // the product version
 * ```
 */
export interface ProductManifest {
  /** Stable id of the product (16 bytes), kept across key rotations. */
  productId: Uint8Array;
  /** Id of the OPRF key (8 bytes), new at every rotation. */
  keyId: Uint8Array;
  /** Sequence number under this key: 0 at publish, +1 per update. */
  seq: number;
  /** Distinct keys in the index. */
  count: number;
  /** Key columns per key and the normalisation profile (queriers must build keys the same way). */
  keyColumns: number;
  profile: string;
  /** When this version was made (ms since the epoch). */
  createdAt: number;
  /** The holder's version note (free text, ≤ 1024 bytes). */
  note: string;
  /** The holder's Ed25519 identity key: the manifest's signer. */
  holderPublicKey: Uint8Array;
  /** The chunks of the full cache at this version. */
  chunks: ProductFileRef[];
  /** Sequence number the first listed delta starts from; delta i takes seq firstDeltaFrom+i to +i+1. */
  firstDeltaFrom: number;
  deltas: ProductFileRef[];
}


function encodeManifestBody(m: ProductManifest): Uint8Array {
  assertBytes(m.productId, 'manifest.productId', 16);
  assertBytes(m.keyId, 'manifest.keyId', 8);
  assertBytes(m.holderPublicKey, 'manifest.holderPublicKey', 32);
  for (const [v, n, max] of [
    [m.seq, 'seq', 0xffffffff],
    [m.count, 'count', MAX_INDEX_KEYS],
    [m.keyColumns, 'keyColumns', 255],
    [m.createdAt, 'createdAt', 2 ** 53 - 1],
    [m.firstDeltaFrom, 'firstDeltaFrom', 0xffffffff],
  ] as const) {
    if (!Number.isSafeInteger(v) || v < 0 || v > max) throw new RangeError(`manifest.${n} must be an integer in 0..${max}`);
  }
  const note = utf8(m.note);
  if (note.length > MAX_NOTE_BYTES) throw new RangeError(`manifest.note must be at most ${MAX_NOTE_BYTES} UTF-8 bytes`);
  const profile = utf8(m.profile);
  if (profile.length === 0 || profile.length > 64) throw new RangeError('manifest.profile must be 1..64 bytes');
  const layout = cacheLayout(m.count);
  if (m.chunks.length !== 2 ** layout.chunkBits) throw new RangeError(`manifest.chunks must have ${2 ** layout.chunkBits} entries for ${m.count} keys`);
  if (m.deltas.length > MAX_MANIFEST_DELTAS) throw new RangeError(`manifest.deltas must have at most ${MAX_MANIFEST_DELTAS} entries`);
  if (m.firstDeltaFrom + m.deltas.length !== m.seq) throw new RangeError('manifest.deltas must end at manifest.seq');
  const w = new BinaryWriter(256 + 36 * (m.chunks.length + m.deltas.length) + note.length);
  w.bytes(MANIFEST_MAGIC).bytes(m.productId).bytes(m.keyId).u32(m.seq, 'manifest.seq').u32(m.count, 'manifest.count').u8(V);
  w.u8(m.keyColumns, 'manifest.keyColumns').varBytes(1, profile, 64, 'manifest.profile').safeU64(m.createdAt, 'manifest.createdAt');
  w.varBytes(2, note, MAX_NOTE_BYTES, 'manifest.note').bytes(m.holderPublicKey);
  for (const c of [...m.chunks, ...m.deltas]) {
    assertBytes(c.sha256, 'manifest file sha256', 32);
    if (!Number.isSafeInteger(c.size) || c.size < 0 || c.size > 0xffffffff) throw new RangeError('manifest file size out of range');
  }
  for (const c of m.chunks) w.u32(c.size).bytes(c.sha256);
  w.u32(m.firstDeltaFrom, 'manifest.firstDeltaFrom').u32(m.deltas.length);
  for (const d of m.deltas) w.u32(d.size).bytes(d.sha256);
  return w.finish();
}

/**
 * Encodes `manifest` and signs it with the holder's identity (`sign`: Ed25519 over a context
 * string and the body). The signer must be `manifest.holderPublicKey`'s secret.
 * @example
 * ```ts
 * const bytes = signProductManifest(manifest, (msg) => signMessage(identity.secretKey, msg));
 * ```
 */
export function signProductManifest(manifest: ProductManifest, sign: (message: Uint8Array) => Uint8Array): Uint8Array {
  const body = encodeManifestBody(manifest);
  const sig = sign(concatBytes(CTX_MANIFEST, body));
  assertBytes(sig, 'signature', 64);
  const out = concatBytes(body, sig);
  if (out.length > MAX_MANIFEST_BYTES) throw new RangeError('manifest too large');
  return out;
}

/**
 * Decodes signed manifest bytes and checks the signature with `verify` against the key the
 * caller pins (`holderPublicKey` must equal it). `MalformedMessageError` for bad bytes,
 * `VerificationFailedError` for a wrong signer or signature.
 * @example
 * ```ts
 * const m = verifyProductManifest(bytes, holderKey, verifyMessage);
 * ```
 */
export function verifyProductManifest(
  bytes: Uint8Array,
  holderPublicKey: Uint8Array,
  verify: (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array) => boolean,
): ProductManifest {
  assertBytes(bytes, 'bytes');
  assertBytes(holderPublicKey, 'holderPublicKey', 32);
  if (bytes.length > MAX_MANIFEST_BYTES || bytes.length < 64) throw new MalformedMessageError('product manifest: bad size');
  const body = bytes.subarray(0, bytes.length - 64);
  const sig = bytes.subarray(bytes.length - 64);
  const r = new BinaryReader(body, (fault, what) => `product manifest: ${what}: ${fault}`);
  if (!equalBytes(r.view(8, 'magic'), MANIFEST_MAGIC)) throw new MalformedMessageError('product manifest: not a product manifest');
  const productId = r.bytes(16, 'product id');
  const keyId = r.bytes(8, 'key id');
  const seq = r.u32('seq');
  const count = r.checkLength(r.u32('count'), 0, MAX_INDEX_KEYS, 'count');
  if (r.u8('value size') !== V) throw new MalformedMessageError('product manifest: unsupported value size');
  const keyColumns = r.u8('key columns');
  const profile = r.string(1, 64, 'profile', 1);
  const createdAt = r.safeU64('created at');
  const note = r.string(2, MAX_NOTE_BYTES, 'note');
  const holder = r.bytes(32, 'holder key');
  const chunks: ProductFileRef[] = [];
  for (let j = 0; j < 2 ** cacheLayout(count).chunkBits; j++) chunks.push({ size: r.u32('chunk size'), sha256: r.bytes(32, 'chunk hash') });
  const firstDeltaFrom = r.u32('first delta');
  const nd = r.checkLength(r.u32('delta count'), 0, MAX_MANIFEST_DELTAS, 'delta count');
  if (firstDeltaFrom + nd !== seq) throw new MalformedMessageError('product manifest: bad delta list');
  const deltas: ProductFileRef[] = [];
  for (let i = 0; i < nd; i++) deltas.push({ size: r.u32('delta size'), sha256: r.bytes(32, 'delta hash') });
  r.expectEnd('manifest');
  const m: ProductManifest = { productId, keyId, seq, count, keyColumns, profile, createdAt, note, holderPublicKey: holder, chunks, firstDeltaFrom, deltas };
  if (!equalBytes(m.holderPublicKey, holderPublicKey)) throw new VerificationFailedError('product manifest is not signed by the pinned holder key');
  if (!verify(holderPublicKey, concatBytes(CTX_MANIFEST, body), sig)) throw new VerificationFailedError('product manifest signature is invalid');
  return m;
}

/**
 * The product version as text: `<keyId hex>.<seq>`.
 * @example
 * ```ts
 * productVersion(manifest); // e.g. '9f2c4e01aa03b7d2.3'
 * ```
 */
export function productVersion(m: Pick<ProductManifest, 'keyId' | 'seq'>): string {
  return `${Array.from(m.keyId, (b) => b.toString(16).padStart(2, '0')).join('')}.${m.seq}`;
}

/**
 * A delta between two sequence numbers of one key: values added and removed (sorted, distinct).
 * @example
 * ```ts
 * const d: ProductDelta = { productId, keyId, fromSeq: 0, added, removed };
 * ```
 */
export interface ProductDelta {
  productId: Uint8Array;
  keyId: Uint8Array;
  /** The delta takes seq `fromSeq` to `fromSeq + 1`. */
  fromSeq: number;
  added: Uint8Array;
  removed: Uint8Array;
}

/**
 * Encodes a delta (its integrity comes from the hash the signed manifest lists).
 * @example
 * ```ts
 * const bytes = encodeProductDelta(delta);
 * ```
 */
export function encodeProductDelta(d: ProductDelta): Uint8Array {
  assertBytes(d.productId, 'delta.productId', 16);
  assertBytes(d.keyId, 'delta.keyId', 8);
  for (const [b, n] of [[d.added, 'delta.added'], [d.removed, 'delta.removed']] as const) {
    assertBytes(b, n);
    if (b.length % V !== 0) throw new RangeError(`${n} length must be a multiple of ${V}`);
  }
  const w = new BinaryWriter(48 + d.added.length + d.removed.length);
  w.bytes(DELTA_MAGIC).bytes(d.productId).bytes(d.keyId).u32(d.fromSeq, 'delta.fromSeq');
  w.u32(d.added.length / V).u32(d.removed.length / V).bytes(d.added).bytes(d.removed);
  return w.finish();
}

/**
 * Decodes a delta; `MalformedMessageError` on anything but {@link encodeProductDelta}'s output.
 * @example
 * ```ts
 * const d = decodeProductDelta(bytes);
 * ```
 */
export function decodeProductDelta(bytes: Uint8Array): ProductDelta {
  assertBytes(bytes, 'bytes');
  const r = new BinaryReader(bytes, (fault, what) => `product delta: ${what}: ${fault}`);
  if (!equalBytes(r.view(8, 'magic'), DELTA_MAGIC)) throw new MalformedMessageError('product delta: not a product delta');
  const productId = r.bytes(16, 'product id');
  const keyId = r.bytes(8, 'key id');
  const fromSeq = r.u32('from seq');
  const na = r.checkLength(r.u32('added count'), 0, MAX_INDEX_KEYS, 'added count');
  const nr = r.checkLength(r.u32('removed count'), 0, MAX_INDEX_KEYS, 'removed count');
  const added = r.bytes(na * V, 'added values');
  const removed = r.bytes(nr * V, 'removed values');
  r.expectEnd('delta');
  return { productId, keyId, fromSeq, added, removed };
}

/**
 * `sorted` (ascending, distinct) without `removed` and with `added` (both sorted, distinct), as a
 * new sorted array. Every removed value must be present and no added one may be:
 * `VerificationFailedError` otherwise (a delta that does not fit the cache it is applied to).
 * @example
 * ```ts
 * const next = applyProductDelta(cache.values(), delta.added, delta.removed);
 * ```
 */
export function applyProductDelta(sorted: Uint8Array, added: Uint8Array, removed: Uint8Array): Uint8Array {
  for (const [b, n] of [[sorted, 'sorted'], [added, 'added'], [removed, 'removed']] as const) {
    assertBytes(b, n);
    if (b.length % V !== 0) throw new RangeError(`${n} length must be a multiple of ${V}`);
  }
  const n = sorted.length / V;
  const na = added.length / V;
  const nr = removed.length / V;
  for (const [b, m, name] of [[added, na, 'added'], [removed, nr, 'removed']] as const) {
    for (let i = 1; i < m; i++) if (compareAt(b, (i - 1) * V, b, i * V) >= 0) throw new VerificationFailedError(`delta: ${name} values are not sorted`);
  }
  const out = new Uint8Array((n + na) * V);
  let i = 0;
  let a = 0;
  let r = 0;
  let o = 0;
  while (i < n || a < na) {
    if (r < nr && i < n && compareAt(sorted, i * V, removed, r * V) === 0) {
      i++;
      r++;
      continue;
    }
    if (r < nr && (i >= n || compareAt(removed, r * V, sorted, i * V) < 0)) throw new VerificationFailedError('delta removes a value the cache does not hold');
    const takeAdded = a < na && (i >= n || compareAt(added, a * V, sorted, i * V) <= 0);
    if (takeAdded) {
      if (i < n && compareAt(added, a * V, sorted, i * V) === 0) throw new VerificationFailedError('delta adds a value the cache already holds');
      out.set(added.subarray(a * V, a * V + V), o * V);
      a++;
    } else {
      out.set(sorted.subarray(i * V, i * V + V), o * V);
      i++;
    }
    o++;
  }
  if (r < nr) throw new VerificationFailedError('delta removes a value the cache does not hold');
  return out.slice(0, o * V);
}
