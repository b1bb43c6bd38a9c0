/**
 * RFC 9162 §2.1 (= RFC 6962 §2.1) Merkle tree hashing, inclusion and consistency proofs.
 *
 * Leaf hash = SHA-256(0x00 || entry), interior node = SHA-256(0x01 || left || right), the empty
 * tree's root = SHA-256(""). Tree sizes and indexes are safe integers (≤ 2^53 − 1), so shifts are
 * written as divisions rather than 32-bit `>>`.
 * @module
 */
import { VerificationFailedError } from '../errors.js';
import { assertBytes, equalBytes } from '../utils/bytes.js';
import { sha256 } from './hash.js';

/**
 * Bytes of a hash.
 * @example
 * ```ts
 * assert(root.length === HASH_BYTES);
 * ```
 */
export const HASH_BYTES = 32;
const LEAF_PREFIX = Uint8Array.of(0x00);
const NODE_PREFIX = Uint8Array.of(0x01);

/**
 * The leaf hash of an entry: SHA-256(0x00 || entry) (RFC 9162 §2.1.1).
 * @example
 * ```ts
 * const leafHash = hashLeaf(encodeReceipt(receipt));
 * ```
 */
export function hashLeaf(entry: Uint8Array): Uint8Array {
  assertBytes(entry, 'entry');
  return sha256(LEAF_PREFIX, entry);
}

/**
 * An interior node: SHA-256(0x01 || left || right) (RFC 9162 §2.1.1).
 * @example
 * ```ts
 * const parent = hashChildren(left, right);
 * ```
 */
export function hashChildren(left: Uint8Array, right: Uint8Array): Uint8Array {
  return sha256(NODE_PREFIX, left, right);
}

/**
 * The root of the empty tree: SHA-256 of the empty string.
 * @example
 * ```ts
 * const root0 = emptyRoot();
 * ```
 */
export function emptyRoot(): Uint8Array {
  return sha256();
}

/** Largest power of two strictly less than `n` (n ≥ 2). */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** Exact power-of-two test for safe integers (bitwise `&` would truncate to 32 bits). */
function powerOfTwoExponent(n: number): number {
  let p = 1;
  let e = 0;
  while (p < n) {
    p *= 2;
    e++;
  }
  return p === n ? e : -1;
}

const isOdd = (x: number): boolean => x % 2 === 1;
const half = (x: number): number => Math.floor(x / 2);

function checkSize(n: number, name: string): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${name} must be a non-negative safe integer`);
}

/** One level of the tree, hashes packed back to back in a growable buffer. */
class Level {
  buf = new Uint8Array(HASH_BYTES * 64);
  count = 0;
  push(h: Uint8Array): void {
    if ((this.count + 1) * HASH_BYTES > this.buf.length) {
      const next = new Uint8Array(this.buf.length * 2);
      next.set(this.buf);
      this.buf = next;
    }
    this.buf.set(h, this.count * HASH_BYTES);
    this.count++;
  }
  get(i: number): Uint8Array {
    return this.buf.subarray(i * HASH_BYTES, (i + 1) * HASH_BYTES);
  }
}

/**
 * An append-only Merkle tree held in memory: every complete subtree's hash is kept (about 2n
 * hashes), so roots and proofs for any size ≤ n cost O(log² n) hashes at most.
 * @example
 * ```ts
 * const tree = new MerkleTree();
 * tree.append(hashLeaf(entry));
 * const proof = tree.inclusionProof(0, tree.size);
 * ```
 */
export class MerkleTree {
  private readonly levels: Level[] = [new Level()];

  /** Number of leaves. */
  get size(): number {
    return this.levels[0]!.count;
  }

  /** Appends a leaf hash (32 bytes); returns its index. */
  append(leafHash: Uint8Array): number {
    assertBytes(leafHash, 'leafHash', HASH_BYTES);
    const index = this.size;
    this.levels[0]!.push(leafHash);
    // Complete every subtree that this leaf closes.
    let i = index;
    let h = 0;
    while (isOdd(i)) {
      const level = this.levels[h]!;
      const parent = hashChildren(level.get(i - 1), level.get(i));
      h++;
      if (this.levels.length === h) this.levels.push(new Level());
      this.levels[h]!.push(parent);
      i = half(i);
    }
    return index;
  }

  /** Drops every leaf at index ≥ `size` (used to undo a failed append). */
  truncate(size: number): void {
    checkSize(size, 'size');
    if (size > this.size) throw new RangeError('size exceeds the tree size');
    for (let h = 0; h < this.levels.length; h++) this.levels[h]!.count = Math.floor(size / 2 ** h);
  }

  /** The leaf hash at `index` (a copy). */
  leafHash(index: number): Uint8Array {
    if (!Number.isSafeInteger(index) || index < 0 || index >= this.size) throw new RangeError('index out of range');
    return this.levels[0]!.get(index).slice();
  }

  /** MTH(D[start:end]) for 0 ≤ start < end ≤ size. */
  private hashRange(start: number, end: number): Uint8Array {
    const n = end - start;
    // A complete, aligned subtree: stored.
    const h = powerOfTwoExponent(n);
    if (h >= 0) {
      if (start % n === 0 && h < this.levels.length) {
        const level = this.levels[h]!;
        const j = start / n;
        if (j < level.count) return level.get(j);
      }
    }
    const k = splitPoint(n);
    return hashChildren(this.hashRange(start, start + k), this.hashRange(start + k, end));
  }

  /** The root of the tree of the first `size` leaves (default: all). */
  root(size: number = this.size): Uint8Array {
    checkSize(size, 'size');
    if (size > this.size) throw new RangeError('size exceeds the tree size');
    if (size === 0) return emptyRoot();
    return this.hashRange(0, size).slice();
  }

  /** The audit path of leaf `index` in the tree of size `size` (RFC 6962 §2.1.1 PATH). */
  inclusionProof(index: number, size: number = this.size): Uint8Array[] {
    checkSize(size, 'size');
    if (size > this.size) throw new RangeError('size exceeds the tree size');
    if (!Number.isSafeInteger(index) || index < 0 || index >= size) throw new RangeError('index must be below size');
    const out: Uint8Array[] = [];
    let start = 0;
    let end = size;
    let m = index;
    // Iterative PATH: collect siblings top-down, then reverse (the proof is leaf-to-root).
    while (end - start > 1) {
      const k = splitPoint(end - start);
      if (m < k) {
        out.push(this.hashRange(start + k, end).slice());
        end = start + k;
      } else {
        out.push(this.hashRange(start, start + k).slice());
        start += k;
        m -= k;
      }
    }
    return out.reverse();
  }

  /**
   * The consistency proof between sizes `size1` ≤ `size2` (RFC 6962 §2.1.2 PROOF / SUBPROOF).
   * Empty when `size1` is 0 or equal to `size2` (both trivially consistent).
   */
  consistencyProof(size1: number, size2: number = this.size): Uint8Array[] {
    checkSize(size1, 'size1');
    checkSize(size2, 'size2');
    if (size2 > this.size) throw new RangeError('size2 exceeds the tree size');
    if (size1 > size2) throw new RangeError('size1 must not exceed size2');
    if (size1 === 0 || size1 === size2) return [];
    const out: Uint8Array[] = [];
    let start = 0;
    let end = size2;
    let m = size1;
    let complete = true; // SUBPROOF's b flag
    for (;;) {
      const n = end - start;
      if (m === n) {
        if (!complete) out.push(this.hashRange(start, end).slice());
        break;
      }
      const k = splitPoint(n);
      if (m <= k) {
        out.push(this.hashRange(start + k, end).slice());
        end = start + k;
      } else {
        out.push(this.hashRange(start, start + k).slice());
        start += k;
        m -= k;
        complete = false;
      }
    }
    return out.reverse();
  }
}

function checkHash(h: unknown): h is Uint8Array {
  return h instanceof Uint8Array && h.length === HASH_BYTES;
}

/**
 * Verifies an inclusion proof (RFC 9162 §2.1.3.2); throws `VerificationFailedError` if it fails,
 * including on any malformed argument from an untrusted source (wrong hash lengths, index ≥ size).
 * @example
 * ```ts
 * verifyInclusionProof(leafHash, 5, 8, proof, root);
 * ```
 */
export function verifyInclusionProof(
  leafHash: Uint8Array,
  leafIndex: number,
  treeSize: number,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): void {
  const fail = (): never => {
    throw new VerificationFailedError('inclusion proof does not verify');
  };
  if (!checkHash(leafHash) || !checkHash(root) || !Array.isArray(proof)) fail();
  if (!Number.isSafeInteger(leafIndex) || !Number.isSafeInteger(treeSize) || leafIndex < 0 || leafIndex >= treeSize) fail();
  let fn = leafIndex;
  let sn = treeSize - 1;
  let r = leafHash;
  for (const p of proof) {
    if (!checkHash(p) || sn === 0) fail();
    if (isOdd(fn) || fn === sn) {
      r = hashChildren(p, r);
      if (!isOdd(fn)) {
        while (!isOdd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      r = hashChildren(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  if (sn !== 0 || !equalBytes(r, root)) fail();
}

/**
 * Verifies a consistency proof between two tree heads (RFC 9162 §2.1.4.2); throws
 * `VerificationFailedError` if it fails. Like the transparency-dev reference, a proof from size 0
 * is rejected (every tree extends the empty one, so such a proof proves nothing).
 * @example
 * ```ts
 * verifyConsistencyProof(2, 5, proof, root2of, root5of);
 * ```
 */
export function verifyConsistencyProof(
  size1: number,
  size2: number,
  proof: readonly Uint8Array[],
  root1: Uint8Array,
  root2: Uint8Array,
): void {
  const fail = (): never => {
    throw new VerificationFailedError('consistency proof does not verify');
  };
  if (!(root1 instanceof Uint8Array) || !(root2 instanceof Uint8Array) || !Array.isArray(proof)) fail();
  if (!Number.isSafeInteger(size1) || !Number.isSafeInteger(size2) || size1 < 1 || size1 > size2) fail();
  // Equal sizes: consistent iff the proof is empty and the roots are the same bytes (as in the
  // transparency-dev reference, which does not look at their length here).
  if (size1 === size2) {
    if (proof.length !== 0 || !equalBytes(root1, root2)) fail();
    return;
  }
  if (!checkHash(root1) || !checkHash(root2)) fail();
  if (proof.length === 0) fail();
  for (const p of proof) if (!checkHash(p)) fail();
  const path = powerOfTwoExponent(size1) >= 0 ? [root1, ...proof] : [...proof];
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (isOdd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  let fr = path[0]!;
  let sr = path[0]!;
  for (let i = 1; i < path.length; i++) {
    const c = path[i]!;
    if (sn === 0) fail();
    if (isOdd(fn) || fn === sn) {
      fr = hashChildren(c, fr);
      sr = hashChildren(c, sr);
      if (!isOdd(fn)) {
        while (!isOdd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      sr = hashChildren(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  if (sn !== 0 || !equalBytes(fr, root1) || !equalBytes(sr, root2)) fail();
}
