/**
 * Per-run key sketches for the differencing check of `dataport supervise` (issue 17 part 3).
 *
 * At the end of a PSI, psi-sum or product-query run each party may sketch ITS OWN distinct
 * normalised keys: a bottom-k MinHash (KMV) sketch — the {@link KEY_SKETCH_K} smallest distinct
 * values of a keyed 32-bit hash (HalfSipHash-2-4) over the keys. The hash key is derived from the
 * party's identity secret key (HMAC-SHA256 under the label `dataport-key-sketch-v1`), so every run of one party hashes alike (two
 * of its sketches can be compared) and nobody without that secret can test a guessed identifier
 * against a sketch. The sketch stays with the party (beside its ledger, never in a receipt, never
 * sent); the receipt records only the set size and a salted SHA-256 commitment to the sketch
 * ({@link keySketchCommitment}), which reveals nothing about the keys (the 32-byte salt is random
 * and kept with the sketch) and binds the party to the sketch it holds: a supervisor checks a
 * stored sketch against the co-signed commitment before it trusts it.
 *
 * Estimating |A Δ B| ({@link estimateKeySetDifference}): from two sketches the Jaccard index
 * J = |A ∩ B| / |A ∪ B| is estimated as the share of the k smallest values of the union of both
 * sketches that lie in both (Broder 1997; Cohen–Kaplan 2007, bottom-k), and then
 * |A Δ B| = (|A| + |B|) (1 − J) / (1 + J), never below the exact ||A| − |B||. The count of the k
 * union values not in both is about Binomial(k, 1 − J), so the standard error of 1 − J is
 * √(J(1 − J)/k): a difference is resolved only down to about 3·|A ∪ B|/k keys (the 95 % bound when
 * all k agree). Below that the estimate is ||A| − |B|| and a "differ by fewer than k keys" verdict
 * means "too similar for the sketch to tell apart" (docs/supervise.md). With |A ∪ B| ≤ k the
 * sketches hold every hash value and the estimate is exact but for 32-bit hash collisions.
 * @module
 */
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import { MalformedMessageError } from '../errors.js';
import { halfSipHash, type HalfSipKey } from '../crypto/halfsiphash.js';
import { sha256 } from '../crypto/sha256.js';
import { BinaryReader, BinaryWriter } from '../utils/binary.js';
import { assertBytes, toHex, utf8 } from '../utils/bytes.js';

/**
 * Values a sketch keeps (the k of bottom-k).
 * @example
 * ```ts
 * const resolution = (3 * unionSize) / KEY_SKETCH_K; // keys the estimate cannot resolve below
 * ```
 */
export const KEY_SKETCH_K = 128;

const SKETCH_VERSION = 1;
const KEY_LABEL = utf8('dataport-key-sketch-v1');
const COMMIT_LABEL = utf8('dataport-key-sketch-commit-v1\0');
/** Bytes of the commitment salt. */
export const KEY_SKETCH_SALT_BYTES = 32;

/**
 * A party's sketch of its own distinct keys of one run.
 * @example
 * ```ts
 * const s: KeySketch = computeKeySketch(keys, identity.secretKey);
 * console.log(s.setSize, s.mins.length);
 * ```
 */
export interface KeySketch {
  /** Distinct keys sketched (exact). */
  setSize: number;
  /** The smallest distinct hash values, ascending (min(k, distinct hash values) of them). */
  mins: Uint32Array;
}

/**
 * The sketch hash key of a party: HMAC-SHA256(identity secret key, "dataport-key-sketch-v1"),
 * first 8 bytes as a HalfSipHash key. Fixed per identity so its sketches are comparable.
 */
function keySketchKey(secretKey: Uint8Array): HalfSipKey {
  assertBytes(secretKey, 'secretKey', 32);
  const d = hmac(nobleSha256, secretKey, KEY_LABEL);
  const v = new DataView(d.buffer, d.byteOffset, d.byteLength);
  const key = { k0: v.getUint32(0, true), k1: v.getUint32(4, true) };
  d.fill(0);
  return key;
}

/**
 * Bottom-k sketch of `keys` (distinct normalised keys; duplicates only repeat a value), hashed
 * under the key derived from `secretKey` (the party's identity secret key). One hash per key and a
 * compare against the current k-th smallest: O(n) and no allocation per key.
 * @example
 * ```ts
 * const sketch = computeKeySketch(deduped.keys, identity.secretKey);
 * ```
 */
export function computeKeySketch(keys: readonly Uint8Array[], secretKey: Uint8Array): KeySketch {
  if (!Array.isArray(keys)) throw new TypeError('keys must be an array');
  const key = keySketchKey(secretKey);
  const k = KEY_SKETCH_K;
  // A max-heap of the k smallest values seen; `inHeap` rejects a repeated value (a collision).
  const heap = new Uint32Array(k);
  const inHeap = new Set<number>();
  let n = 0;
  for (const bytes of keys) {
    const h = halfSipHash(key, bytes, 0, bytes.length, 2, 4);
    if (n === k && h >= heap[0]!) continue;
    if (inHeap.has(h)) continue;
    if (n < k) {
      // sift up
      let i = n++;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (heap[p]! >= h) break;
        heap[i] = heap[p]!;
        i = p;
      }
      heap[i] = h;
    } else {
      inHeap.delete(heap[0]!);
      // replace the root, sift down
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= k) break;
        const c = l + 1 < k && heap[l + 1]! > heap[l]! ? l + 1 : l;
        if (heap[c]! <= h) break;
        heap[i] = heap[c]!;
        i = c;
      }
      heap[i] = h;
    }
    inHeap.add(h);
  }
  const mins = heap.slice(0, n).sort();
  return { setSize: keys.length, mins };
}

/**
 * Canonical bytes of a sketch: `u8 version (1) | u64 setSize | u16 count | count × u32 (ascending)`.
 * @example
 * ```ts
 * const bytes = encodeKeySketch(sketch);
 * ```
 */
export function encodeKeySketch(sketch: KeySketch): Uint8Array {
  if (sketch === null || typeof sketch !== 'object' || !(sketch.mins instanceof Uint32Array)) throw new TypeError('sketch must be a KeySketch');
  if (sketch.mins.length > KEY_SKETCH_K) throw new RangeError(`sketch.mins must have at most ${KEY_SKETCH_K} values`);
  if (sketch.mins.length > sketch.setSize) throw new RangeError('sketch.mins has more values than sketch.setSize');
  const w = new BinaryWriter();
  w.u8(SKETCH_VERSION).safeU64(sketch.setSize, 'sketch.setSize').u16(sketch.mins.length);
  for (let i = 0; i < sketch.mins.length; i++) {
    if (i > 0 && sketch.mins[i]! <= sketch.mins[i - 1]!) throw new RangeError('sketch.mins must be strictly ascending');
    w.u32(sketch.mins[i]!);
  }
  return w.finish();
}

/**
 * Decodes {@link encodeKeySketch}'s bytes; `MalformedMessageError` on anything else.
 * @example
 * ```ts
 * const sketch = decodeKeySketch(bytes);
 * ```
 */
export function decodeKeySketch(bytes: Uint8Array): KeySketch {
  assertBytes(bytes, 'bytes');
  const r = new BinaryReader(bytes, (fault, what) => `key sketch: ${fault} ${what}`);
  if (r.u8('version') !== SKETCH_VERSION) throw new MalformedMessageError('key sketch: unsupported version');
  const setSize = r.safeU64('set size');
  const n = r.u16('count');
  if (n > KEY_SKETCH_K || n > setSize) throw new MalformedMessageError('key sketch: too many values');
  const mins = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    mins[i] = r.u32('value');
    if (i > 0 && mins[i]! <= mins[i - 1]!) throw new MalformedMessageError('key sketch: values not strictly ascending');
  }
  r.expectEnd('key sketch');
  return { setSize, mins };
}

/**
 * The receipt's commitment (hex) to an encoded sketch: SHA-256("dataport-key-sketch-commit-v1\0"
 * ‖ salt ‖ sketch bytes). Hiding because the 32-byte salt is random and never leaves the party;
 * binding because SHA-256 is collision-resistant.
 * @example
 * ```ts
 * const salt = crypto.getRandomValues(new Uint8Array(KEY_SKETCH_SALT_BYTES));
 * const commit = keySketchCommitment(encodeKeySketch(sketch), salt);
 * ```
 */
export function keySketchCommitment(sketchBytes: Uint8Array, salt: Uint8Array): string {
  assertBytes(sketchBytes, 'sketchBytes');
  assertBytes(salt, 'salt', KEY_SKETCH_SALT_BYTES);
  return toHex(sha256(COMMIT_LABEL, salt, sketchBytes));
}

/**
 * An estimate of |A Δ B| from two sketches made with one key (see the module comment for the
 * estimator and its error).
 * @example
 * ```ts
 * const { difference, jaccard } = estimateKeySetDifference(a, b);
 * ```
 */
export function estimateKeySetDifference(a: KeySketch, b: KeySketch): { difference: number; jaccard: number; resolution: number; exact: boolean } {
  const sa = new Set(a.mins);
  const sb = new Set(b.mins);
  // The k smallest values of the union sketch: all of them lie within both sketches' ranges.
  const union = [...new Set([...a.mins, ...b.mins])].sort((x, y) => x - y);
  const k = Math.min(KEY_SKETCH_K, union.length);
  const sizeSum = a.setSize + b.setSize;
  const floor = Math.abs(a.setSize - b.setSize);
  if (k === 0) return { difference: floor, jaccard: 1, resolution: 0, exact: true };
  // Whole sets in both sketches (each smaller than k): the union is exact.
  const exact = a.mins.length === a.setSize && b.mins.length === b.setSize && union.length <= KEY_SKETCH_K;
  let both = 0;
  for (let i = 0; i < k; i++) if (sa.has(union[i]!) && sb.has(union[i]!)) both++;
  const jaccard = both / k;
  if (exact) return { difference: union.length - both, jaccard, resolution: 0, exact };
  const est = Math.round((sizeSum * (1 - jaccard)) / (1 + jaccard));
  const unionSize = sizeSum / (1 + jaccard);
  return { difference: Math.max(floor, est), jaccard, resolution: Math.ceil((3 * unionSize) / k), exact };
}
