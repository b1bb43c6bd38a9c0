/**
 * Round-2 value handling: HKDF truncation (draft-wang-ppm-ecdh-psi-01 truncation options 1 and 2),
 * a compact hash table over packed fixed-size values, and CSPRNG helpers (shuffles, random uint64
 * indexes) used so that order and indexes leak nothing.
 * @module
 */
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { hkdfSha512Batch } from '../../crypto/hkdf.js';
import { getWasm } from '../../crypto/fast/wasm.js';
import { getNodeCrypto } from '../../platform/node.js';
import { halfSipHash, randomHalfSipKey } from '../../crypto/halfsiphash.js';
import { MalformedMessageError } from '../../errors.js';

const INFO = new TextEncoder().encode('ECDH-PSI');
const EMPTY = new Uint8Array(0);

/**
 * Truncates jointly masked values: for each 32-byte value v of `flat`, HKDF-SHA-512 (RFC 5869) with
 * no salt (= 64 zero bytes, §2.2), IKM v, info "ECDH-PSI", output `outBytes` bytes. With
 * `outBytes` = 32 the input is returned unchanged (truncation option 0).
 *
 * Where WebAssembly runs, the whole batch goes through the wasm HKDF (`crypto/hkdf.ts`, ~3 µs per
 * value); otherwise OpenSSL's `hkdfSync` on Node (~15–25 µs, mostly per-call overhead) or
 * `@noble/hashes` in browsers. All give the same bytes. The PSI parties do not call this on their
 * own thread: the executor's `multiplyAndTruncate` runs it next to the multiplication (in a worker
 * with the pool).
 *
 * @example
 * ```ts
 * const values = truncateValues(jointlyMasked, 16); // 128-bit values
 * ```
 */
export function truncateValues(flat: Uint8Array, outBytes: number): Uint8Array {
  if (flat.length % 32 !== 0) throw new RangeError('flat length must be a multiple of 32');
  if (outBytes === 32) return flat;
  if (outBytes !== 16 && outBytes !== 24) throw new RangeError('outBytes must be 16, 24 or 32');
  if (getWasm() !== undefined) return hkdfSha512Batch(flat, INFO, outBytes);
  const n = flat.length / 32;
  const out = new Uint8Array(n * outBytes);
  const nc = getNodeCrypto();
  for (let i = 0; i < n; i++) {
    const ikm = flat.subarray(i * 32, i * 32 + 32);
    const okm = nc
      ? new Uint8Array(nc.hkdfSync('sha512', ikm, EMPTY, INFO, outBytes))
      : hkdf(sha512, ikm, undefined, INFO, outBytes);
    out.set(okm, i * outBytes);
  }
  return out;
}

/**
 * A set of `capacity` fixed-size values packed in one `Uint8Array`, indexed by an open-addressing
 * table of `Int32Array` slots (4 bytes per slot, at most 50 % full, linear probing). Exact
 * duplicates are refused, since distinct records never give equal values.
 *
 * Slots are chosen by HalfSipHash-1-3 of the whole value under a key drawn from the CSPRNG for this
 * table alone (`crypto/halfsiphash.ts`). Some inserted or looked-up values come straight from the
 * peer (psi-sum's round-3 values), and the others are ones it can steer or learns (it receives
 * round 2): with a hash it could compute, values sharing a slot would make every insertion walk one
 * growing cluster (O(n^2) on the event loop: issue 16 finding 4, 2^16 values sharing their first
 * 4 bytes took over a minute). Without the key the peer cannot aim values at a slot, so probe
 * lengths are those of random values whatever it sends (bench/value-table.mjs).
 */
export class ValueTable {
  /** The packed values, in insertion order. */
  readonly values: Uint8Array;
  private readonly slots: Int32Array;
  private readonly mask: number;
  private readonly key = randomHalfSipKey();
  /** A slot holds entry + 1 in its low bits and, above them, the same bits of the value's hash. */
  private readonly entryMask: number;
  private readonly tagMask: number;
  private count = 0;

  constructor(
    readonly capacity: number,
    readonly valueBytes: number,
  ) {
    let size = 16;
    while (size < 2 * capacity) size *= 2;
    this.slots = new Int32Array(size);
    this.mask = size - 1;
    this.values = new Uint8Array(capacity * valueBytes);
    let bits = 1;
    while (2 ** bits <= capacity) bits++;
    this.entryMask = 2 ** bits - 1;
    this.tagMask = bits >= 31 ? 0 : ~this.entryMask;
  }

  /** Number of values inserted. */
  get size(): number {
    return this.count;
  }

  private same(entry: number, src: Uint8Array, off: number): boolean {
    const L = this.valueBytes;
    const base = entry * L;
    for (let i = 0; i < L; i++) if (this.values[base + i] !== src[off + i]) return false;
    return true;
  }

  /** Appends every value of `flat`; throws `MalformedMessageError` on a duplicate. */
  insertAll(flat: Uint8Array): void {
    const L = this.valueBytes;
    const k = flat.length / L;
    if (this.count + k > this.capacity) throw new RangeError('ValueTable capacity exceeded');
    const values = this.values;
    values.set(flat, this.count * L);
    for (let t = 0; t < k; t++) {
      const entry = this.count;
      const off = entry * L;
      const h = halfSipHash(this.key, values, off, L);
      const tag = h & this.tagMask;
      let s = h & this.mask;
      for (;;) {
        const e = this.slots[s]!;
        if (e === 0) {
          this.slots[s] = tag | (entry + 1);
          break;
        }
        if ((e & this.tagMask) === tag && this.same((e & this.entryMask) - 1, values, off)) {
          throw new MalformedMessageError('malformed message: duplicated point');
        }
        s = (s + 1) & this.mask;
      }
      this.count++;
    }
  }

  /** Index of the value at `src[off .. off+valueBytes)`, or -1. */
  find(src: Uint8Array, off: number): number {
    const h = halfSipHash(this.key, src, off, this.valueBytes);
    const tag = h & this.tagMask;
    let s = h & this.mask;
    for (;;) {
      const e = this.slots[s]!;
      if (e === 0) return -1;
      // The tag spares most non-matching slots a read of their value (a cache miss in a large table).
      if ((e & this.tagMask) === tag && this.same((e & this.entryMask) - 1, src, off)) return (e & this.entryMask) - 1;
      s = (s + 1) & this.mask;
    }
  }
}

/**
 * A set of uint64 values the peer chooses (batch indexes). A JavaScript `Set<bigint>` would not do:
 * V8 hashes a BigInt by an unseeded function of its low 64 bits, so a peer can choose indexes that
 * all share a bucket and make each insertion walk all earlier ones (issue 16 finding 4). Buckets
 * here are picked by HalfSipHash-1-3 under a per-set CSPRNG key, which the peer does not know.
 */
export class PeerIndexSet {
  private readonly key = randomHalfSipKey();
  private readonly buckets = new Map<number, bigint[]>();
  private readonly word = new Uint8Array(8);
  private readonly view = new DataView(this.word.buffer);

  private bucket(x: bigint): number {
    this.view.setBigUint64(0, BigInt.asUintN(64, x));
    return halfSipHash(this.key, this.word, 0, 8) & 0x3fffffff; // a small integer: an unsteerable Map key
  }

  /** True if `x` was added. */
  has(x: bigint): boolean {
    return this.buckets.get(this.bucket(x))?.includes(x) ?? false;
  }

  /** Adds `x` (a no-op if present). */
  add(x: bigint): void {
    const h = this.bucket(x);
    const b = this.buckets.get(h);
    if (b === undefined) this.buckets.set(h, [x]);
    else if (!b.includes(x)) b.push(x);
  }
}

/** A uniformly random integer in [0, bound) from the CSPRNG (rejection sampling), bound ≤ 2^32. */
function makeRandomBelow(): (bound: number) => number {
  // 16 KiB per getRandomValues call (its limit is 64 KiB): the per-call cost dominates small draws.
  const pool = new Uint32Array(4096);
  let pos = pool.length;
  return (bound) => {
    const limit = 2 ** 32 - (2 ** 32 % bound);
    for (;;) {
      if (pos === pool.length) {
        globalThis.crypto.getRandomValues(pool);
        pos = 0;
      }
      const x = pool[pos++]!;
      if (x < limit) return x % bound;
    }
  };
}

/**
 * A uniformly random permutation of 0..n-1 (Fisher–Yates with CSPRNG draws).
 *
 * @example
 * ```ts
 * const order = randomPermutation(1000);
 * ```
 */
export function randomPermutation(n: number): Uint32Array {
  const perm = new Uint32Array(n);
  for (let i = 0; i < n; i++) perm[i] = i;
  const below = makeRandomBelow();
  for (let i = n - 1; i > 0; i--) {
    const j = below(i + 1);
    const t = perm[i]!;
    perm[i] = perm[j]!;
    perm[j] = t;
  }
  return perm;
}

/**
 * A uniformly random permutation of 0..n-1 whose entries are drawn when first needed: `ensure(k)`
 * fixes positions 0..k-1 (forward Fisher–Yates: position p swaps with a uniform position in p..n-1,
 * after which it never changes), so a large permutation costs its draws batch by batch instead of
 * all at once on the caller's thread. Same distribution as {@link randomPermutation}.
 *
 * @example
 * ```ts
 * const perm = new LazyPermutation(1 << 20);
 * perm.ensure(16384);
 * const first = perm.values[0]; // final
 * ```
 */
export class LazyPermutation {
  /** The permutation; entries below {@link LazyPermutation.fixed} are final. */
  readonly values: Uint32Array;
  private done = 0;
  private readonly below = makeRandomBelow();

  constructor(readonly n: number) {
    if (!Number.isSafeInteger(n) || n < 0 || n > 2 ** 32 - 1) throw new RangeError('n must be an integer in 0..2^32-1');
    this.values = new Uint32Array(n);
    for (let i = 0; i < n; i++) this.values[i] = i;
  }

  /** Number of leading positions already fixed. */
  get fixed(): number {
    return this.done;
  }

  /** Fixes positions up to `k` (capped at n). */
  ensure(k: number): void {
    const v = this.values;
    const n = this.n;
    const end = Math.min(k, n);
    for (let p = this.done; p < end; p++) {
      const j = p + this.below(n - p);
      const t = v[p]!;
      v[p] = v[j]!;
      v[j] = t;
    }
    if (end > this.done) this.done = end;
  }
}

/**
 * `count` distinct uint64 values from the CSPRNG (batch indexes: they carry no order information).
 *
 * @example
 * ```ts
 * const indexes = randomIndexes(4);
 * ```
 */
export function randomIndexes(count: number): bigint[] {
  const seen = new Set<bigint>(); // own CSPRNG values: nothing a peer can aim at one bucket
  const out: bigint[] = [];
  const words = new BigUint64Array(Math.max(1, count));
  while (out.length < count) {
    globalThis.crypto.getRandomValues(words);
    for (const w of words) {
      if (out.length === count) break;
      if (!seen.has(w)) {
        seen.add(w);
        out.push(w);
      }
    }
  }
  return out;
}
