/**
 * The homomorphic part of psi-sum (docs/psi-sum.md): BFV over node-seal with *coefficient*
 * encoding, so that selecting and summing the matching values is one plaintext multiplication by a
 * polynomial with coefficients in {0, -1, 1} (tiny noise growth, no rotations, no Galois keys).
 *
 * Roles (protocol version 2): the ID holder I holds the BFV secret key. I encrypts its selection
 * polynomials; the value holder V multiplies them by its plaintext values, masks, re-randomises,
 * floods and sends one ciphertext per column back; I decrypts coefficient 0. V only ever sees
 * IND-CPA ciphertexts under I's key, so no deviation of V's (malformed error terms, crafted
 * multipliers) gives it a decryption oracle on I's selection (issue 16, finding 1).
 *
 * Encoding (pinned): block k of V's slots carries N = 8192 values v_0..v_{N-1} as the plaintext
 * polynomial m_k(X) = Σ v_j X^j (coefficients mod t, negatives as t - |v|; SEAL's multiply_plain
 * lifts coefficients ≥ (t+1)/2 as negatives, so the multiplier is centred, |coefficient| ≤ bound).
 * In Z_t[X]/(X^N + 1), X^j · X^(N-j) = -1, so with I's selection polynomial
 * p_k(X) = s_0 - Σ_{j≥1} s_j X^(N-j) the constant coefficient of p_k·m_k is Σ_j s_j v_j. The other
 * N - 1 coefficients are other linear combinations of V's values: V masks them with uniform values.
 *
 * Parameters (one family; the level of the result is chosen from the declared bounds): N = 8192,
 * coefficient modulus 60+60+60 bits of data level (q ≈ 2^180) plus a 38-bit special prime (37 bits
 * when the plaintext prime itself has 38 bits: SEAL takes the largest prime ≡ 1 mod 2N of a size
 * for both, and they must differ), 218 bits in all — SEAL's tc128 bound for N = 8192 (HE
 * standard). No key switching is ever done, so a special prime smaller than the data primes costs
 * nothing but a little extra noise in public-key encryption. The plaintext modulus t is the largest
 * prime ≡ 1 (mod 2N) below 2^plainBits (node-seal 6 accepts only such "batching" primes),
 * plainBits in [20, 50].
 *
 * Circuit privacy for V (against a semi-honest I), derivation in {@link HeContext.resultPlan}: I
 * knows the error e_k of its own ciphertexts exactly, so after decrypting it can read the noise of
 * the result, which contains Σ_k e_k·m_k — a linear function of V's values. V therefore floods c0
 * with a uniform integer per coefficient far above that term, re-randomises with a fresh encryption
 * of zero under I's public key (so c1 = Σ a_k·m_k + fresh is no longer a linear function of V's
 * values I could solve), masks every coefficient but the constant one, and then switches the result
 * down to the lowest level at which decryption stays correct in the worst case.
 *
 * SEAL objects never leave this file; every one is `.delete()`d.
 * @module
 */
import { HeParameterMismatchError, MalformedMessageError } from '../../errors.js';
import { loadSeal, type Seal } from '../../he/seal-loader.js';

type CipherText = ReturnType<Seal['CipherText']>;
type Context = ReturnType<Seal['Context']>;
type PlainText = ReturnType<Seal['PlainText']>;
type PublicKey = ReturnType<Seal['PublicKey']>;
/** I's BFV secret key (a SEAL object; never leaves the process). @internal */
export type SecretKey = ReturnType<Seal['SecretKey']>;
/** I's BFV key pair (SEAL objects that never leave the process). @internal */
export interface HeKeyPair {
  readonly secretKey: SecretKey;
  readonly publicKey: PublicKey;
  /** The seeded public key sent to the peer (uncompressed). */
  readonly publicKeyBytes: Uint8Array;
  delete(): void;
}
/** A loaded ciphertext (a SEAL object). @internal */
export type { CipherText as HeCiphertext, PublicKey as HePublicKey };

/** The key pair object of both constructors; `delete()` releases both SEAL keys. */
function keyPair(secretKey: SecretKey, publicKey: PublicKey, publicKeyBytes: Uint8Array): HeKeyPair {
  return {
    secretKey,
    publicKey,
    publicKeyBytes,
    delete() {
      secretKey.delete();
      publicKey.delete();
    },
  };
}

/** Polynomial degree of psi-sum ciphertexts (values per ciphertext). */
export const PSI_SUM_POLY_DEGREE = 8192;
/** Bit sizes of the data-level coefficient-modulus primes (q ≈ 2^180; the special prime comes on top). */
export const PSI_SUM_DATA_BITS: readonly number[] = Object.freeze([60, 60, 60]);
/** Smallest plaintext modulus size used. */
export const MIN_PLAIN_BITS = 20;
/** Largest plaintext modulus size used (the derivation in `resultPlan` holds up to here). */
export const MAX_PLAIN_BITS = 50;
/**
 * Bit sizes of the whole coefficient modulus for a plaintext size: the data primes and a special
 * prime of 38 bits (37 when t itself has 38 bits: SEAL picks the largest prime ≡ 1 mod 2N of a
 * given size both for t and for the modulus, and t must be coprime to q). 180 + 38 = 218 bits,
 * SEAL's tc128 bound for N = 8192.
 * @example
 * ```ts
 * coeffBitsFor(40); // [60, 60, 60, 38]
 * ```
 */
export function coeffBitsFor(plainBits: number): number[] {
  return [...PSI_SUM_DATA_BITS, plainBits === 38 ? 37 : 38];
}
/** Required statistical margin of the noise flooding, in bits (total over all N coefficients). */
export const FLOOD_SECURITY_BITS = 40;
/**
 * Largest |error coefficient| of a fresh SEAL encryption. node-seal 6.0.3 is SEAL 4.1 built with
 * its default sampler, the centred binomial distribution of `sample_poly_cbd`
 * (native/src/seal/util/rlwe.cpp: 21 random bits minus 21 random bits, so |e| ≤ 21, σ ≈ 3.24);
 * with SEAL_USE_GAUSSIAN_NOISE the clipped normal is cut at noise_max_deviation = 6σ = 19.2
 * (util/globals.h). 21 bounds both. Only an honest I's noise matters here: a malicious I can
 * learn V's values anyway (docs/psi-sum.md).
 */
export const SEAL_MAX_ERROR = 21n;
/** Largest serialized ciphertext accepted (fresh seeded or full). */
export const MAX_CIPHERTEXT_BYTES = 800_000;
/** Largest serialized public key accepted. */
export const MAX_PUBLIC_KEY_BYTES = 800_000;
/** Largest serialized secret key accepted from this process's own thread (uncompressed: ~197 KB). */
const MAX_SECRET_KEY_BYTES = 400_000;
/**
 * Bound on the noise of the fresh public-key encryptions of zero in a result (one per accumulator:
 * V's own and one per worker run). SEAL encrypts at the key level and divides by the special
 * prime: |e·u + e1 + e2·s| ≤ 21·(2N + 1) ≈ 2^18.4 shrinks to ≤ 1 and the rounding adds
 * ≤ (1 + ||s||_1)/2 ≤ 2^12; 2^24 covers up to 2^11 of them with room to spare.
 */
const FRESH_NOISE_BOUND = 1n << 24n;

/**
 * Smallest plaintext-modulus size whose prime t satisfies t > 2·maxAbsTotal (so a signed total
 * can never wrap), at least {@link MIN_PLAIN_BITS}.
 * @example
 * ```ts
 * plainBitsFor(10n ** 12n); // 42
 * ```
 */
export function plainBitsFor(maxAbsTotal: bigint): number {
  if (typeof maxAbsTotal !== 'bigint' || maxAbsTotal < 0n) throw new RangeError('maxAbsTotal must be a non-negative bigint');
  // t is a prime in (2^(bits-1), 2^bits): 2^(bits-1) ≥ 2·maxAbsTotal + 1 suffices.
  const need = (2n * maxAbsTotal + 1n).toString(2).length + 1;
  return Math.max(MIN_PLAIN_BITS, need);
}

/** How V finishes a result and what I expects back: flooding width and the level it ends at. */
export interface ResultPlan {
  /** The flooding adds a uniform integer of [-2^floodBits, 2^floodBits) to each coefficient of c0. */
  readonly floodBits: number;
  /** Data primes the result keeps after the final modulus switch (1..3). */
  readonly primes: number;
}

function sealError(e: unknown, seal: Seal): Error {
  if (typeof e === 'number') return seal.Exception.safe(e as never);
  return e instanceof Error ? e : new Error(String(e));
}

const contextCache = new Map<number, Promise<HeContext>>();

/** A BFV context for psi-sum plus the helpers both roles need (cached per plaintext size). */
export class HeContext {
  readonly n = PSI_SUM_POLY_DEGREE;
  readonly #seal: Seal;
  readonly #context: Context;
  /** The plaintext modulus. */
  readonly t: bigint;
  readonly plainBits: number;
  /** Data-level primes. */
  readonly #primes: bigint[];
  readonly #plainTemplate: Uint8Array;
  readonly #plainDataOffset: number;

  private constructor(seal: Seal, context: Context, t: bigint, plainBits: number) {
    this.#seal = seal;
    this.#context = context;
    this.t = t;
    this.plainBits = plainBits;
    this.#primes = Array.from(context.firstContextData.parms.coeffModulus);
    const p = seal.PlainText({ coeffCount: this.n });
    try {
      p.setZero();
      this.#plainTemplate = p.saveArray(seal.ComprModeType.none);
    } finally {
      p.delete();
    }
    this.#plainDataOffset = this.#plainTemplate.length - this.n * 8;
  }

  /**
   * Creates the context for `plainBits` ({@link MIN_PLAIN_BITS}..{@link MAX_PLAIN_BITS}).
   * @example
   * ```ts
   * const he = await HeContext.create(40);
   * he.delete();
   * ```
   */
  static create(plainBits: number): Promise<HeContext> {
    if (!Number.isSafeInteger(plainBits) || plainBits < MIN_PLAIN_BITS || plainBits > MAX_PLAIN_BITS) {
      return Promise.reject(new RangeError(`plainBits must be an integer in ${MIN_PLAIN_BITS}..${MAX_PLAIN_BITS}`));
    }
    // Creating a SEAL context for N = 8192 costs 1.5–2.5 s in WebAssembly on a 2-core machine
    // (NTT tables of three 60-bit primes), far more than the homomorphic work of a typical job, so
    // contexts are cached per plaintext size for the life of the process (at most 31 of them; a
    // context holds public parameters only, no key material).
    let p = contextCache.get(plainBits);
    if (p === undefined) {
      p = HeContext.#build(plainBits);
      contextCache.set(plainBits, p);
      p.catch(() => contextCache.delete(plainBits));
    }
    return p;
  }

  static async #build(plainBits: number): Promise<HeContext> {
    const seal = await loadSeal();
    const parms = seal.EncryptionParameters(seal.SchemeType.bfv);
    const coeff = seal.CoeffModulus.Create(PSI_SUM_POLY_DEGREE, Int32Array.from(coeffBitsFor(plainBits)));
    const plain = seal.PlainModulus.Batching(PSI_SUM_POLY_DEGREE, plainBits);
    try {
      parms.setPolyModulusDegree(PSI_SUM_POLY_DEGREE);
      parms.setCoeffModulus(coeff);
      parms.setPlainModulus(plain);
      const context = seal.Context(parms, true, seal.SecurityLevel.tc128);
      if (!context.parametersSet()) {
        context.delete();
        throw new HeParameterMismatchError('HE parameters rejected by SEAL');
      }
      return new HeContext(seal, context, plain.value, plainBits);
    } catch (e) {
      throw e instanceof HeParameterMismatchError ? e : new HeParameterMismatchError('HE parameters rejected by SEAL', { cause: sealError(e, seal) });
    } finally {
      plain.delete();
      coeff.delete();
      parms.delete();
    }
  }

  /**
   * Kept for the `.delete()` discipline of SEAL objects: contexts are cached per plaintext size for
   * the process lifetime (see {@link HeContext.create}), so this releases nothing.
   */
  delete(): void {}

  /** The data-level primes (public parameters). @internal */
  get dataPrimes(): readonly bigint[] {
    return [...this.#primes];
  }

  /** Reduces a signed integer into [0, t). */
  mod(v: bigint): bigint {
    const r = v % this.t;
    return r < 0n ? r + this.t : r;
  }

  /** Centres a value of [0, t) into (-t/2, t/2]. */
  centre(v: bigint): bigint {
    return v > this.t / 2n ? v - this.t : v;
  }

  /** A uniformly random element of [0, t) from the CSPRNG. */
  randomModT(count: number): bigint[] {
    const out: bigint[] = [];
    const mask = (1n << BigInt(this.plainBits)) - 1n;
    const words = new BigUint64Array(Math.max(16, Math.ceil(count * 1.1) + 8));
    while (out.length < count) {
      fillRandom(words);
      for (const w of words) {
        const x = w & mask;
        if (x < this.t) {
          out.push(x);
          if (out.length === count) break;
        }
      }
    }
    return out;
  }

  /** A plaintext whose coefficient i is `coeffs[i]` (already in [0, t)); missing ones are 0. */
  plaintext(coeffs: ArrayLike<bigint>): PlainText {
    if (coeffs.length > this.n) throw new RangeError('too many coefficients');
    const bytes = this.#plainTemplate.slice();
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < coeffs.length; i++) view.setBigUint64(this.#plainDataOffset + 8 * i, coeffs[i]!, true);
    const p = this.#seal.PlainText();
    try {
      p.loadArray(this.#context, bytes);
    } catch (e) {
      p.delete();
      throw sealError(e, this.#seal);
    }
    return p;
  }

  /** Coefficient 0 of a plaintext, in [0, t). */
  constantOf(p: PlainText): bigint {
    const bytes = p.saveArray(this.#seal.ComprModeType.none);
    const count = p.coeffCount;
    if (count === 0) return 0n;
    const off = bytes.length - count * 8;
    return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(off, true);
  }

  /**
   * Generates I's key pair: the secret key and a public key (kept; SEAL's symmetric encryptor needs
   * one) and the bytes of a second, seeded public key for the peer. Call `delete()` on the result.
   */
  generateKeys(): HeKeyPair {
    const kg = this.#seal.KeyGenerator(this.#context);
    try {
      const secretKey = kg.secretKey();
      const publicKey = kg.createPublicKey();
      const ser = kg.createPublicKeySerializable();
      try {
        const publicKeyBytes = ser.saveArray(this.#seal.ComprModeType.none);
        return keyPair(secretKey, publicKey, publicKeyBytes);
      } finally {
        ser.delete();
      }
    } finally {
      kg.delete();
    }
  }

  /**
   * I's secret key, serialized (uncompressed) for its own worker threads, which encrypt selection blocks
   * with it (`he-tasks.ts`). Secret: it goes only into a task payload in this process, is never
   * logged or sent, and the caller wipes the array after use.
   */
  exportSecretKey(keys: HeKeyPair): Uint8Array {
    return keys.secretKey.saveArray(this.#seal.ComprModeType.none);
  }

  /**
   * Rebuilds I's key pair in a worker from {@link HeContext.exportSecretKey}'s bytes and the seeded
   * public key I sends its peer (SEAL's symmetric encryptor wants both). `RangeError` if the bytes
   * are not a key for these parameters. Call `delete()` on the result: SEAL allocates a secret key
   * in a memory pool that is cleared when it is released.
   */
  importKeys(secretKeyBytes: Uint8Array, publicKeyBytes: Uint8Array): HeKeyPair {
    const publicKey = this.loadPublicKey(publicKeyBytes);
    const secretKey = this.#seal.SecretKey();
    try {
      if (secretKeyBytes.length === 0 || secretKeyBytes.length > MAX_SECRET_KEY_BYTES) throw new RangeError('secret key size');
      checkSealHeader(secretKeyBytes);
      secretKey.loadArray(this.#context, secretKeyBytes);
    } catch {
      secretKey.delete();
      publicKey.delete();
      // Fixed message: nothing of the key's bytes goes into an error.
      throw new RangeError('secretKey is not a psi-sum secret key for these parameters');
    }
    return keyPair(secretKey, publicKey, publicKeyBytes);
  }

  /**
   * Encrypts `values` (signed, |v| < t/2, at most N per ciphertext, in slot order) under the secret
   * key with seeded symmetric encryption (half the bytes of a public-key ciphertext).
   */
  encryptValues(keys: HeKeyPair, values: ArrayLike<bigint>): Uint8Array[] {
    const seal = this.#seal;
    const enc = seal.Encryptor(this.#context, keys.publicKey, keys.secretKey);
    const out: Uint8Array[] = [];
    try {
      for (let off = 0; off < values.length; off += this.n) {
        const end = Math.min(values.length, off + this.n);
        const chunk = new Array<bigint>(end - off);
        for (let i = off; i < end; i++) chunk[i - off] = this.mod(values[i]!);
        const p = this.plaintext(chunk);
        try {
          const ser = enc.encryptSymmetricSerializable(p);
          try {
            out.push(ser.saveArray(seal.ComprModeType.none));
          } finally {
            ser.delete();
          }
        } finally {
          p.delete();
        }
      }
    } catch (e) {
      throw sealError(e, seal);
    } finally {
      enc.delete();
    }
    return out;
  }

  /**
   * Encrypts I's selection for the slots of block `block`: the polynomial
   * p(X) = s_0 - Σ_{j≥1} s_j X^(N-j) of the block's bits (`selected`: one byte per slot of the whole
   * column, 1 = in the intersection), coefficients in {0, ±1}. Returns the plaintext coefficients
   * (signed) for {@link HeContext.encryptValues}.
   */
  selectionCoefficients(selected: Uint8Array, block: number): bigint[] {
    const coeffs = new Array<bigint>(this.n).fill(0n);
    const base = block * this.n;
    // Every slot of the block is visited whatever its bit (no data-dependent branch on the count).
    for (let j = 0; j < this.n; j++) {
      const bit = base + j < selected.length ? BigInt(selected[base + j]! & 1) : 0n;
      // Constant term of X^j · X^(N-j) is -1 (negacyclic), hence -s_j at N - j for j ≥ 1.
      if (j === 0) coeffs[0] = bit;
      else coeffs[this.n - j] = -bit;
    }
    return coeffs;
  }

  /**
   * How V finishes a result for `blocks` selection blocks and per-key totals of |v| ≤ `maxBound`,
   * and at which level I expects it (a function of public, declared values only, so both sides
   * compute the same). Derivation (docs/psi-sum.md, "Parameters and noise"):
   *
   * - I's ciphertext k decrypts as c0 + c1·s = (q/t)·p_k + ε_k + e_k with |e_k| ≤ 21 (SEAL's CBD,
   *   {@link SEAL_MAX_ERROR}) and the scaling's rounding |ε_k| ≤ 1/2. Times V's centred multiplier
   *   m_k (|coefficient| ≤ B): (q/t)·[p_k·m_k]_t + (e_k + ε_k)·m_k exactly (the q·K wrap vanishes
   *   mod q). So every coefficient of the noise V's values induce is at most
   *   W = K·N·B·(21 + 1/2) plus ≤ 1/2 from the mask's scaling; we use W = K·N·B·22 + 1.
   * - I knows e_k and can read all N noise coefficients after decrypting, so V floods each with an
   *   independent uniform value of [-2^F, 2^F). Statistical distance per coefficient
   *   ≤ W / 2^(F+1), over the N coefficients ≤ N·W / 2^(F+1) ≤ 2^-40 with
   *   F = ⌈log2 W⌉ + 40 + log2 N.
   * - Correctness: the total noise (flood + W + the fresh encryptions of zero) must stay below
   *   q/(2t). A switch to a lower level q' scales it by q'/q and adds ≤ (1 + ||s||_1)/2 ≤ (N + 1)/2
   *   of rounding; the result goes to the lowest level where the worst case stays below
   *   q'/(4t) (one bit of margin). The switch happens after the flooding, so it is
   *   post-processing of an already hidden value.
   *
   * `RangeError` if even the data level cannot hold it (impossible within {@link MAX_PLAIN_BITS}
   * and the protocol's limits: |Y|·B < 2^48 at 50 bits, so F ≤ 106 against log2(q/4t) ≈ 128).
   */
  resultPlan(blocks: number, maxBound: bigint): ResultPlan {
    if (!Number.isSafeInteger(blocks) || blocks < 1) throw new RangeError('blocks must be a positive integer');
    if (typeof maxBound !== 'bigint' || maxBound < 1n) throw new RangeError('maxBound must be a positive bigint');
    const n = BigInt(this.n);
    const w = BigInt(blocks) * n * maxBound * (SEAL_MAX_ERROR + 1n) + 1n;
    const floodBits = bitLength(w - 1n) + FLOOD_SECURITY_BITS + Math.log2(this.n);
    if (floodBits + 1 > 128) throw new RangeError('declared bounds too large for the noise flooding');
    const before = (1n << BigInt(floodBits)) + w + FRESH_NOISE_BOUND;
    const q = this.#primes.reduce((a, b) => a * b, 1n);
    for (let primes = 1; primes <= this.#primes.length; primes++) {
      const qLevel = this.#primes.slice(0, primes).reduce((a, b) => a * b, 1n);
      // ⌈(q'/q)·before⌉ + (N + 1)/2 + 1 < q'/(4t), in integers.
      const after = (qLevel * before + q - 1n) / q + (n + 1n) / 2n + 1n;
      if (after * 4n * this.t < qLevel) return { floodBits, primes };
    }
    throw new RangeError('declared bounds too large for the noise flooding');
  }

  /**
   * The exact shapes of the HE objects a peer sends (seeded public key, fresh seeded ciphertext,
   * result ciphertext at 1, 2 or 3 data primes): their byte length and the structural prefix (SEAL
   * header, parms_id, sizes, scale, inner array headers) that every honest object of the kind
   * shares byte for byte. Learned once per context from locally made objects (three of each; the
   * prefix ends where they first differ). SEAL's loader aborts the WebAssembly instance, instead of
   * throwing, on some truncated or inconsistent bodies, so a peer's bytes must match a shape before
   * SEAL sees them; what remains variable is coefficient data and the seed, which SEAL validates.
   */
  #shapes(): Record<ShapeKind, { length: number; prefix: Uint8Array }> {
    if (this.#shapeCache !== undefined) return this.#shapeCache;
    const seal = this.#seal;
    const none = seal.ComprModeType.none;
    const kg = seal.KeyGenerator(this.#context);
    const sk = kg.secretKey();
    const pk = kg.createPublicKey();
    const enc = seal.Encryptor(this.#context, pk, sk);
    const ev = seal.Evaluator(this.#context);
    const zero = this.plaintext([]);
    const samples: Record<ShapeKind, Uint8Array[]> = { publicKey: [], fresh: [], result1: [], result2: [], result3: [] };
    try {
      for (let i = 0; i < 3; i++) {
        const spk = kg.createPublicKeySerializable();
        samples.publicKey.push(spk.saveArray(none));
        spk.delete();
        const sct = enc.encryptSymmetricSerializable(zero);
        samples.fresh.push(sct.saveArray(none));
        sct.delete();
        const ct = seal.CipherText();
        enc.encryptZero(ct);
        for (let primes = this.#primes.length; primes >= 1; primes--) {
          samples[`result${primes}` as ShapeKind].push(ct.saveArray(none));
          if (primes > 1) ev.cipherModSwitchToNext(ct, ct);
        }
        ct.delete();
      }
    } finally {
      zero.delete();
      ev.delete();
      enc.delete();
      pk.delete();
      sk.delete();
      kg.delete();
    }
    const shape = (xs: Uint8Array[]) => {
      const [a, b, c] = xs as [Uint8Array, Uint8Array, Uint8Array];
      if (a.length !== b.length || a.length !== c.length) throw new Error('SEAL object sizes vary');
      let i = 0;
      while (i < a.length && a[i] === b[i] && a[i] === c[i]) i++;
      return { length: a.length, prefix: a.slice(0, i) };
    };
    const out = {} as Record<ShapeKind, { length: number; prefix: Uint8Array }>;
    for (const k of Object.keys(samples) as ShapeKind[]) out[k] = shape(samples[k]);
    this.#shapeCache = out;
    return out;
  }
  #shapeCache: Record<ShapeKind, { length: number; prefix: Uint8Array }> | undefined;

  /** Serialized size of a fresh seeded ciphertext and of a result with `primes` data primes (bytes). */
  objectSize(kind: 'fresh' | 'publicKey' | 1 | 2 | 3): number {
    return this.#shapes()[typeof kind === 'number' ? (`result${kind}` as ShapeKind) : kind].length;
  }

  #checkShape(bytes: Uint8Array, kind: ShapeKind): void {
    const { length, prefix } = this.#shapes()[kind];
    let ok = bytes.length === length;
    for (let i = 0; ok && i < prefix.length; i++) ok = bytes[i] === prefix[i];
    if (!ok) {
      if (kind === 'publicKey') throw new MalformedMessageError('malformed message: public key must be a seeded key for these parameters');
      throw new HeParameterMismatchError('ciphertext is not of the expected parameters, level or form');
    }
  }

  /**
   * Loads I's public key (V does, before SEAL parses anything: header, exact seeded shape);
   * `MalformedMessageError` if it is not one for these parameters, or if it is not *seeded*. A
   * seeded key carries only pk0 and a seed, and SEAL expands pk1 from the seed on load, so pk1 is a
   * PRG output whatever the seed: the received length must be exactly the seeded length.
   */
  loadPublicKey(bytes: Uint8Array): PublicKey {
    if (bytes.length === 0 || bytes.length > MAX_PUBLIC_KEY_BYTES) throw new MalformedMessageError('malformed message: public key size');
    checkSealHeader(bytes);
    this.#checkShape(bytes, 'publicKey');
    const pk = this.#seal.PublicKey();
    try {
      pk.loadArray(this.#context, bytes);
    } catch (e) {
      pk.delete();
      throw new MalformedMessageError('malformed message: public key', { cause: sealError(e, this.#seal) });
    }
    return pk;
  }

  /**
   * The byte-level checks of {@link HeContext.loadCiphertext} alone (size, SEAL header, exact
   * shape), without SEAL: for bytes that go on to a worker, which loads (and checks) them again.
   */
  checkCiphertextBytes(bytes: Uint8Array, level: 'fresh' | 1 | 2 | 3): void {
    if (bytes.length === 0 || bytes.length > MAX_CIPHERTEXT_BYTES) throw new MalformedMessageError('malformed message: ciphertext size');
    checkSealHeader(bytes);
    this.#checkShape(bytes, level === 'fresh' ? 'fresh' : (`result${level}` as ShapeKind));
  }

  /**
   * Loads a ciphertext from a peer after checking its bytes against the exact shape of its kind:
   * `'fresh'` = a seeded symmetric encryption at the data level (I's selection blocks, checked by
   * V), or a number = a full result ciphertext with that many data primes (V's results, checked by
   * I). Then checks SEAL's view: 2 polynomials, not NTT, degree N, that many primes.
   */
  loadCiphertext(bytes: Uint8Array, level: 'fresh' | 1 | 2 | 3): CipherText {
    this.checkCiphertextBytes(bytes, level);
    const ct = this.#seal.CipherText();
    try {
      ct.loadArray(this.#context, bytes);
    } catch (e) {
      ct.delete();
      throw new MalformedMessageError('malformed message: ciphertext', { cause: sealError(e, this.#seal) });
    }
    const primes = level === 'fresh' ? this.#primes.length : level;
    if (ct.size !== 2 || ct.isNttForm || ct.polyModulusDegree !== this.n || ct.coeffModulusSize !== primes) {
      ct.delete();
      throw new HeParameterMismatchError('ciphertext is not at the expected parameters or level');
    }
    return ct;
  }

  /**
   * V's evaluation state for `columns` columns under I's public key: one accumulator per column,
   * each starting as a fresh encryption of zero under I's key (the re-randomisation: it makes c1 of
   * the result pseudo-random instead of Σ a_k·m_k, a linear function of V's values that I could
   * solve). Blocks are multiplied in as they arrive ({@link SelectionEvaluator.addBlock}), so
   * memory holds the accumulators and one block, whatever the number of blocks. Call `delete()`.
   */
  createEvaluator(publicKey: PublicKey, columns: number): SelectionEvaluator {
    return new SelectionEvaluator(this, this.#seal, this.#context, publicKey, columns);
  }

  /** Loads a partial accumulator from one of this process's workers (checked like a peer's). @internal */
  loadPartial(bytes: Uint8Array): CipherText {
    if (bytes.length !== this.objectSize(this.#primes.length as 3)) throw new TypeError('worker returned a malformed partial sum');
    try {
      return this.loadCiphertext(bytes, this.#primes.length as 3);
    } catch (e) {
      throw new TypeError('worker returned a malformed partial sum', { cause: e });
    }
  }

  /**
   * Noise flooding: adds to each coefficient of c0 an independent uniform integer in
   * [-2^B, 2^B), B = `floodBits` ({@link HeContext.resultPlan}), in every RNS component. Works on
   * the uncompressed serialization: the coefficient data (poly-major, then RNS prime, then
   * coefficient, little-endian uint64) ends the buffer. @internal
   */
  flood(ct: CipherText, floodBits: number): Uint8Array {
    const bytes = ct.saveArray(this.#seal.ComprModeType.none);
    const L = this.#primes.length;
    const dataBytes = 2 * L * this.n * 8;
    const off = bytes.length - dataBytes;
    if (off <= 0 || ct.coeffModulusSize !== L) throw new Error('unexpected ciphertext layout');
    if (!Number.isSafeInteger(floodBits) || floodBits < 1 || floodBits + 1 > 128) throw new RangeError('floodBits out of range');
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const fb = BigInt(floodBits);
    const words = new BigUint64Array(this.n * 2);
    fillRandom(words);
    const low = (1n << 64n) - 1n;
    for (let i = 0; i < this.n; i++) {
      // 128 random bits → a value in [0, 2^(B+1)) minus 2^B: uniform in [-2^B, 2^B).
      const r = ((words[2 * i]! << 64n) | (words[2 * i + 1]! & low)) & ((1n << (fb + 1n)) - 1n);
      const e = r - (1n << fb);
      for (let l = 0; l < L; l++) {
        const q = this.#primes[l]!;
        const pos = off + (l * this.n + i) * 8;
        const c = view.getBigUint64(pos, true);
        let v = (c + (e % q)) % q;
        if (v < 0n) v += q;
        view.setBigUint64(pos, v, true);
      }
    }
    words.fill(0n);
    return bytes;
  }

  /** Switches serialized data-level ciphertext bytes down to `primes` data primes; returns the bytes. @internal */
  switchDown(bytes: Uint8Array, primes: number): Uint8Array {
    const seal = this.#seal;
    const ct = seal.CipherText();
    const ev = seal.Evaluator(this.#context);
    try {
      ct.loadArray(this.#context, bytes);
      for (let l = this.#primes.length; l > primes; l--) ev.cipherModSwitchToNext(ct, ct);
      return ct.saveArray(seal.ComprModeType.none);
    } catch (e) {
      throw sealError(e, seal);
    } finally {
      ev.delete();
      ct.delete();
    }
  }

  /**
   * I's decryption of one of V's results: coefficient 0, centred into (-t/2, t/2]. The bytes are
   * checked against the expected result shape at `primes` data primes before SEAL parses them
   * (`HeParameterMismatchError` / `MalformedMessageError`: a function of V's bytes only). `ok` is
   * false when the noise exceeds what an honest V's result can have (invariant noise budget < 1 bit;
   * {@link HeContext.resultPlan} leaves an honest result ≥ 1 bit): a deviating V. It is returned,
   * not thrown, because it depends on I's key and selection: the protocol decides what may show.
   */
  decryptConstant(secretKey: SecretKey, bytes: Uint8Array, primes: number): { value: bigint; ok: boolean } {
    if (primes !== 1 && primes !== 2 && primes !== 3) throw new RangeError('primes must be 1, 2 or 3');
    const ct = this.loadCiphertext(bytes, primes);
    const dec = this.#seal.Decryptor(this.#context, secretKey);
    const p = this.#seal.PlainText();
    try {
      const ok = dec.invariantNoiseBudget(ct) >= 1;
      dec.decrypt(ct, p);
      return { value: this.centre(this.constantOf(p)), ok };
    } catch (e) {
      throw sealError(e, this.#seal);
    } finally {
      p.delete();
      dec.delete();
      ct.delete();
    }
  }

  /** Test hook: the invariant noise budget of `ct` under `secretKey`. @internal */
  noiseBudget(secretKey: SecretKey, ct: CipherText): number {
    const dec = this.#seal.Decryptor(this.#context, secretKey);
    try {
      return dec.invariantNoiseBudget(ct);
    } finally {
      dec.delete();
    }
  }
}

type ShapeKind = 'publicKey' | 'fresh' | 'result1' | 'result2' | 'result3';

/**
 * V's side of the homomorphic evaluation: Σ_k Enc(p_k)·m_{c,k} per column c, accumulated block by
 * block (created by {@link HeContext.createEvaluator}). @internal
 */
export class SelectionEvaluator {
  readonly #he: HeContext;
  readonly #seal: Seal;
  readonly #ev: ReturnType<Seal['Evaluator']>;
  readonly #enc: ReturnType<Seal['Encryptor']>;
  readonly #acc: CipherText[] = [];
  readonly #tmp: CipherText;
  readonly #scratch: CipherText;
  #deleted = false;

  constructor(he: HeContext, seal: Seal, context: Context, publicKey: PublicKey, columns: number) {
    if (!Number.isSafeInteger(columns) || columns < 1) throw new RangeError('columns must be a positive integer');
    this.#he = he;
    this.#seal = seal;
    this.#ev = seal.Evaluator(context);
    this.#enc = seal.Encryptor(context, publicKey);
    this.#tmp = seal.CipherText();
    this.#scratch = seal.CipherText();
    try {
      this.#enc.encryptZero(this.#scratch);
      for (let c = 0; c < columns; c++) {
        const a = seal.CipherText();
        this.#acc.push(a);
        this.#enc.encryptZero(a);
      }
    } catch (e) {
      this.delete();
      throw sealError(e, seal);
    }
  }

  /** Number of columns. */
  get columns(): number {
    return this.#acc.length;
  }

  /**
   * Multiplies one of I's selection blocks (loaded and checked) by V's values of that block for
   * every column (`values[c][j]` = column c's total of slot j of the block, signed, |v| < t/2) and
   * adds the products into the accumulators. Every block is multiplied for every column, even when
   * a column's values are all zero in it: skipping would make V's running time depend on its data.
   * SEAL refuses a product by the zero polynomial (a transparent ciphertext), so such a block is
   * multiplied by 1 into a scratch ciphertext that is thrown away.
   */
  addBlock(ct: CipherText, values: readonly ArrayLike<bigint>[]): void {
    if (values.length !== this.#acc.length) throw new RangeError('values: one array per column');
    const he = this.#he;
    try {
      for (let c = 0; c < values.length; c++) {
        const v = values[c]!;
        if (v.length > he.n) throw new RangeError('values: at most N per block');
        const coeffs = new Array<bigint>(v.length);
        let empty = true;
        for (let j = 0; j < v.length; j++) {
          coeffs[j] = he.mod(v[j]!);
          if (coeffs[j] !== 0n) empty = false;
        }
        if (empty) coeffs[0] = 1n;
        const p = he.plaintext(coeffs);
        try {
          this.#ev.multiplyPlain(ct, p, this.#tmp);
          if (empty) this.#ev.add(this.#scratch, this.#tmp, this.#scratch);
          else this.#ev.add(this.#acc[c]!, this.#tmp, this.#acc[c]!);
        } finally {
          p.delete();
        }
      }
    } catch (e) {
      throw e instanceof RangeError ? e : sealError(e, this.#seal);
    }
  }

  /** Adds a worker's partial accumulator (from {@link SelectionEvaluator.savePartials}) into column `c`. */
  addPartial(c: number, bytes: Uint8Array): void {
    const part = this.#he.loadPartial(bytes);
    try {
      this.#ev.add(this.#acc[c]!, part, this.#acc[c]!);
    } catch (e) {
      throw sealError(e, this.#seal);
    } finally {
      part.delete();
    }
  }

  /** The accumulators, serialized uncompressed (a worker's partial sums; local data, never sent). */
  savePartials(): Uint8Array[] {
    return this.#acc.map((a) => a.saveArray(this.#seal.ComprModeType.none));
  }

  /**
   * The result of column `c` for I: adds the mask (coefficient 0 = `constant`, every other
   * coefficient uniform in Z_t, so I learns nothing from the N - 1 other linear combinations of
   * V's values), floods c0 ({@link HeContext.resultPlan}) and switches down to `plan.primes` data
   * primes. Returns the serialized ciphertext.
   */
  finish(c: number, constant: bigint, plan: ResultPlan): Uint8Array {
    const he = this.#he;
    const work = this.#seal.CipherText();
    try {
      work.copy(this.#acc[c]!);
      const mask = he.randomModT(he.n);
      mask[0] = he.mod(constant);
      const mp = he.plaintext(mask);
      try {
        this.#ev.addPlain(work, mp, work);
      } finally {
        mp.delete();
      }
      return he.switchDown(he.flood(work, plan.floodBits), plan.primes);
    } catch (e) {
      throw e instanceof RangeError ? e : sealError(e, this.#seal);
    } finally {
      work.delete();
    }
  }

  /** Releases every SEAL object (idempotent). */
  delete(): void {
    if (this.#deleted) return;
    this.#deleted = true;
    for (const a of this.#acc) a.delete();
    this.#tmp.delete();
    this.#scratch.delete();
    this.#enc.delete();
    this.#ev.delete();
  }
}

function bitLength(v: bigint): number {
  return v <= 0n ? 0 : v.toString(2).length;
}

/**
 * Checks the 16-byte SEAL serialization header before SEAL sees the bytes. Peers' HE objects must
 * be uncompressed: SEAL's loader aborts the WebAssembly instance (instead of throwing) on some
 * malformed zstd streams, and only the compressed path decompresses. Layout (SEAL 4.x
 * `SEALHeader`): magic 0xA15E (LE), header size 16, version major 4, minor, compression mode
 * (0 none — required here), two reserved zero bytes, total size (uint64 LE) = the whole buffer.
 */
function checkSealHeader(bytes: Uint8Array): void {
  const bad = (): never => {
    throw new MalformedMessageError('malformed message: HE object header');
  };
  if (bytes.length < 16) bad();
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint16(0, true) !== 0xa15e || bytes[2] !== 16 || bytes[3] !== 4) bad();
  // Uncompressed only: SEAL's zstd path aborts the WebAssembly instance on some malformed streams
  // (which a header check cannot rule out), and zstd gains nothing on uniform 60-bit coefficients.
  if (bytes[5] !== 0) bad();
  if (view.getUint16(6, true) !== 0) bad();
  if (view.getBigUint64(8, true) !== BigInt(bytes.length)) bad();
}

/** Fills `words` from the CSPRNG (getRandomValues takes at most 65,536 bytes per call). */
function fillRandom(words: BigUint64Array): void {
  for (let off = 0; off < words.length; off += 8192) globalThis.crypto.getRandomValues(words.subarray(off, off + 8192));
}

