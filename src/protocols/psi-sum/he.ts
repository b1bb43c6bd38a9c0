/**
 * The homomorphic part of psi-sum (docs/psi-sum.md): BFV over node-seal with *coefficient*
 * encoding, so that selecting and summing the matching values is one plaintext multiplication by a
 * polynomial with coefficients in {0, -1, 1} (tiny noise growth, no rotations, no Galois keys).
 *
 * Encoding (pinned): a ciphertext carries N = 8192 values v_0..v_{N-1} as the plaintext polynomial
 * m(X) = Σ v_j X^j (coefficients mod t, negatives as t - |v|). In Z_t[X]/(X^N + 1),
 * X^j · X^(N-j) = -1, so with the selection polynomial p(X) = s_0 - Σ_{j≥1} s_j X^(N-j) the constant
 * coefficient of m·p is Σ_j s_j v_j. The other N - 1 coefficients of m·p are other linear
 * combinations of V's values and are masked with uniform values before V decrypts.
 *
 * Parameters (one family, chosen from the declared bounds): N = 8192, coefficient modulus
 * 60+60+60 bits (the first two are the data level, q ≈ 2^120; the third is the special prime), the
 * plaintext modulus t the largest prime ≡ 1 (mod 2N) below 2^plainBits (node-seal 6 accepts only
 * such "batching" primes), plainBits in [20, 50]. 128-bit security per the HE standard (SEAL
 * enforces the tc128 bound for N = 8192: at most 218 bits).
 *
 * Circuit privacy (the key holder V decrypts what I computed): I re-randomises the result with a
 * fresh encryption of zero under V's public key (hides the c1 component, which otherwise is a
 * linear function of the selection V could solve for), then *floods* the noise — adds to every
 * coefficient of c0 a uniform integer of about 2^(119 - plainBits - 8) bits, far above the noise
 * the selection produced (statistical distance ≤ 2^-(40) under the limits enforced here) yet below
 * the decryption bound — and finally switches to the last modulus level when t ≤ 2^45 (small
 * enough for that to stay correct in the worst case). See docs/psi-sum.md for the residual leakage.
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
/** V's BFV secret key (a SEAL object; never leaves the process). @internal */
export type SecretKey = ReturnType<Seal['SecretKey']>;
/** V's BFV key pair (SEAL objects that never leave the process). @internal */
export interface HeKeyPair {
  readonly secretKey: SecretKey;
  readonly publicKey: PublicKey;
  /** The seeded public key sent to the peer (zstd). */
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
/** Bit sizes of the coefficient-modulus primes (data level: the first two). */
export const PSI_SUM_COEFF_BITS: readonly number[] = Object.freeze([60, 60, 60]);
/** Smallest plaintext modulus size used. */
export const MIN_PLAIN_BITS = 20;
/** Largest plaintext modulus size used (keeps ≥ 40 bits of noise-flooding margin, see above). */
export const MAX_PLAIN_BITS = 50;
/** Bits kept between the flooding noise and the decryption bound. */
const FLOOD_MARGIN_BITS = 8;
/**
 * Largest plainBits for which the final switch to the last 60-bit level stays correct in the worst
 * case: the switch adds at most (1 + ||s||_1)/2 ≤ (N + 1)/2 ≈ 2^12 to the noise, which relative to
 * q_last/t = 2^(60 - plainBits) is ≤ 1/8 at 45 bits; with the flooding's ≤ 2^-7 the invariant
 * noise stays below 1/2. Measured budget after flood + switch: 8 bits at 40, 7 at 45, 2 at 50.
 */
const MOD_SWITCH_MAX_PLAIN_BITS = 45;
/** Required statistical margin of the noise flooding, in bits. */
export const FLOOD_SECURITY_BITS = 40;
/** Noise-budget bits the selection circuit consumes beyond log2(ciphertexts), measured ≤ 12. */
const CIRCUIT_COST_BITS = 14;
/** Largest serialized ciphertext accepted (fresh seeded or full, zstd). */
export const MAX_CIPHERTEXT_BYTES = 600_000;
/** Largest serialized public key accepted. */
export const MAX_PUBLIC_KEY_BYTES = 800_000;
/** Largest serialized secret key accepted from this process's own thread (uncompressed: ~197 KB). */
const MAX_SECRET_KEY_BYTES = 400_000;

/**
 * Largest number of ciphertexts per column for a given plaintext size such that the flooding still
 * hides the circuit noise by {@link FLOOD_SECURITY_BITS} bits.
 * @example
 * ```ts
 * maxCiphertextsPerColumn(50); // 128 (2^20 keys per column)
 * ```
 */
export function maxCiphertextsPerColumn(plainBits: number): number {
  // Budget after the circuit ≈ 119 - plainBits - CIRCUIT_COST - log2 K; flooding leaves
  // FLOOD_MARGIN bits, so the hiding margin is (119 - plainBits - CIRCUIT_COST - log2 K) - FLOOD_MARGIN.
  const log2k = 119 - plainBits - CIRCUIT_COST_BITS - FLOOD_MARGIN_BITS - FLOOD_SECURITY_BITS;
  return log2k < 0 ? 0 : 2 ** Math.min(log2k, 30);
}

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
    const coeff = seal.CoeffModulus.Create(PSI_SUM_POLY_DEGREE, Int32Array.from(PSI_SUM_COEFF_BITS));
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
   * Generates V's key pair: the secret key and a public key (kept; SEAL's symmetric encryptor needs
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
   * V's secret key, serialized (uncompressed) for its own worker threads, which encrypt columns
   * with it (`he-tasks.ts`). Secret: it goes only into a task payload in this process, is never
   * logged or sent, and the caller wipes the array after use.
   */
  exportSecretKey(keys: HeKeyPair): Uint8Array {
    return keys.secretKey.saveArray(this.#seal.ComprModeType.none);
  }

  /**
   * Rebuilds V's key pair in a worker from {@link HeContext.exportSecretKey}'s bytes and the seeded
   * public key V sends its peer (SEAL's symmetric encryptor wants both). `RangeError` if the bytes
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
   * The exact shapes of the three kinds of HE object a peer sends (seeded public key, fresh seeded
   * ciphertext, final result ciphertext): their byte length and the length of the structural prefix
   * (SEAL header, parms_id, sizes, scale, inner array headers) that every honest object of the kind
   * shares byte for byte. Learned once per context from locally made objects (three of each; the
   * prefix ends where they first differ). SEAL's loader aborts the WebAssembly instance, instead of
   * throwing, on some truncated or inconsistent bodies, so a peer's bytes must match a shape before
   * SEAL sees them; what remains variable is coefficient data and the seed, which SEAL validates.
   */
  #shapes(): Record<'publicKey' | 'fresh' | 'final', { length: number; prefix: Uint8Array }> {
    if (this.#shapeCache !== undefined) return this.#shapeCache;
    const seal = this.#seal;
    const none = seal.ComprModeType.none;
    const kg = seal.KeyGenerator(this.#context);
    const sk = kg.secretKey();
    const pk = kg.createPublicKey();
    const enc = seal.Encryptor(this.#context, pk, sk);
    const ev = seal.Evaluator(this.#context);
    const zero = this.plaintext([]);
    const samples: Record<'publicKey' | 'fresh' | 'final', Uint8Array[]> = { publicKey: [], fresh: [], final: [] };
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
        if (this.plainBits <= MOD_SWITCH_MAX_PLAIN_BITS) ev.cipherModSwitchTo(ct, this.#context.lastParmsId, ct);
        samples.final.push(ct.saveArray(none));
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
    this.#shapeCache = { publicKey: shape(samples.publicKey), fresh: shape(samples.fresh), final: shape(samples.final) };
    return this.#shapeCache;
  }
  #shapeCache: Record<'publicKey' | 'fresh' | 'final', { length: number; prefix: Uint8Array }> | undefined;

  #checkShape(bytes: Uint8Array, kind: 'publicKey' | 'fresh' | 'final'): void {
    const { length, prefix } = this.#shapes()[kind];
    let ok = bytes.length === length;
    for (let i = 0; ok && i < prefix.length; i++) ok = bytes[i] === prefix[i];
    if (!ok) {
      if (kind === 'publicKey') throw new MalformedMessageError('malformed message: public key must be a seeded key for these parameters');
      throw new HeParameterMismatchError('ciphertext is not of the expected parameters, level or form');
    }
  }

  /**
   * Loads V's public key; `MalformedMessageError` if it is not one for these parameters, or if it
   * is not *seeded*. Circuit privacy rests on the re-randomiser's c1 = pk1·u + e being
   * pseudo-random; a V that sent a full key could choose pk1 (e.g. 0) and then read I's selection
   * from the result's c1 (SECURITY.md §8.7). A seeded key carries only pk0 and a seed, and SEAL
   * expands pk1 from the seed on load, so pk1 is a PRG output whatever the seed: the received
   * length must be exactly the seeded length, and the loaded key exactly a full key's.
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
   * Loads a ciphertext from a peer and checks it is a fresh-size (2 polynomials), non-NTT BFV
   * ciphertext at the expected level (`'first'` = data level, or `'any'` of this chain).
   */
  loadCiphertext(bytes: Uint8Array, level: 'first' | 'final'): CipherText {
    if (bytes.length === 0 || bytes.length > MAX_CIPHERTEXT_BYTES) throw new MalformedMessageError('malformed message: ciphertext size');
    checkSealHeader(bytes);
    this.#checkShape(bytes, level === 'first' ? 'fresh' : 'final');
    const ct = this.#seal.CipherText();
    try {
      ct.loadArray(this.#context, bytes);
    } catch (e) {
      ct.delete();
      throw new MalformedMessageError('malformed message: ciphertext', { cause: sealError(e, this.#seal) });
    }
    const ok = ct.size === 2 && !ct.isNttForm && ct.polyModulusDegree === this.n;
    const parms = ct.parmsId;
    const want = level === 'first' || this.plainBits > MOD_SWITCH_MAX_PLAIN_BITS ? this.#context.firstParmsId : this.#context.lastParmsId;
    const sameLevel = equalIds(parms.values, want.values);
    parms.delete();
    want.delete();
    if (!ok || !sameLevel) {
      ct.delete();
      throw new HeParameterMismatchError('ciphertext is not at the expected parameters or level');
    }
    return ct;
  }

  /**
   * Σ_k ct_k · p_k(X): the selected slots' sum lands in the constant coefficient. Starts from an
   * encryption of zero so that an empty selection still yields a well-formed ciphertext. The
   * caller deletes the result. Exposed for the noise-budget test. @internal
   */
  selectionCircuit(cts: readonly CipherText[], selected: Uint8Array, publicKey: PublicKey): CipherText {
    const seal = this.#seal;
    const ev = seal.Evaluator(this.#context);
    const enc = seal.Encryptor(this.#context, publicKey);
    const acc = seal.CipherText();
    const tmp = seal.CipherText();
    const scratch = seal.CipherText();
    const tMinus1 = this.t - 1n;
    try {
      enc.encryptZero(acc);
      enc.encryptZero(scratch);
      for (let k = 0; k < cts.length; k++) {
        const coeffs = new Array<bigint>(this.n).fill(0n);
        for (let j = 0; j < this.n; j++) {
          const slot = k * this.n + j;
          if (slot >= selected.length || selected[slot] !== 1) continue;
          // Constant term of X^j · X^(N-j) is -1 (negacyclic), hence -1 = t - 1 for j ≥ 1.
          if (j === 0) coeffs[0] = 1n;
          else coeffs[this.n - j] = tMinus1;
        }
        // Every ciphertext is multiplied, even with nothing selected in it: skipping one would make
        // I's running time (which V observes) depend on how many blocks hold a match. SEAL refuses
        // a product by the zero polynomial (a transparent ciphertext), so an empty block is
        // multiplied by 1 into a scratch accumulator that is thrown away.
        const empty = !coeffs.some((c) => c !== 0n);
        if (empty) coeffs[0] = 1n;
        const p = this.plaintext(coeffs);
        try {
          ev.multiplyPlain(cts[k]!, p, tmp);
          if (empty) ev.add(scratch, tmp, scratch);
          else ev.add(acc, tmp, acc);
        } finally {
          p.delete();
        }
      }
      return acc;
    } catch (e) {
      acc.delete();
      throw sealError(e, seal);
    } finally {
      scratch.delete();
      tmp.delete();
      enc.delete();
      ev.delete();
    }
  }

  /**
   * I's computation for one column: Σ_k ct_k · p_k(X) where p_k selects the slots whose bit is set
   * in `selected` (one byte per slot, in slot order), plus `mask` (coefficient 0 = `constant`, the
   * others uniform), re-randomised with a fresh encryption of zero under `publicKey`, noise-flooded
   * and switched to the final level. Returns the serialized ciphertext.
   */
  selectSumAndMask(cts: readonly CipherText[], selected: Uint8Array, constant: bigint, publicKey: PublicKey): Uint8Array {
    const acc = this.selectionCircuit(cts, selected, publicKey);
    try {
      return this.maskAndFinish(acc, constant, publicKey);
    } finally {
      acc.delete();
    }
  }

  /**
   * The circuit-privacy tail of {@link HeContext.selectSumAndMask} on an accumulated selection
   * `acc` (left intact; the caller deletes it): mask every coefficient but the constant one, set
   * the constant's offset to `constant`, re-randomise, flood, switch to the final level. Returns
   * the serialized ciphertext for V.
   */
  maskAndFinish(acc: CipherText, constant: bigint, publicKey: PublicKey): Uint8Array {
    const seal = this.#seal;
    const ev = seal.Evaluator(this.#context);
    const enc = seal.Encryptor(this.#context, publicKey);
    const tmp = seal.CipherText();
    const work = seal.CipherText();
    try {
      work.copy(acc);
      // Mask: every coefficient except the constant one uniform in Z_t; constant = `constant`.
      const mask = this.randomModT(this.n);
      mask[0] = this.mod(constant);
      const mp = this.plaintext(mask);
      try {
        ev.addPlain(work, mp, work);
      } finally {
        mp.delete();
      }
      // Re-randomise: a fresh encryption of zero under V's public key (hides c1).
      enc.encryptZero(tmp);
      ev.add(work, tmp, work);
      const flooded = this.#flood(work);
      const out = seal.CipherText();
      try {
        out.loadArray(this.#context, flooded);
        if (this.plainBits <= MOD_SWITCH_MAX_PLAIN_BITS) ev.cipherModSwitchTo(out, this.#context.lastParmsId, out);
        return out.saveArray(seal.ComprModeType.none);
      } finally {
        out.delete();
      }
    } catch (e) {
      throw sealError(e, seal);
    } finally {
      work.delete();
      tmp.delete();
      enc.delete();
      ev.delete();
    }
  }

  /**
   * A partial selection (the output of {@link HeContext.selectionCircuit} on a range of blocks),
   * serialized uncompressed so a worker can hand it back to the thread that combines the ranges.
   * Local data (never sent to the peer).
   */
  savePartial(ct: CipherText): Uint8Array {
    return ct.saveArray(this.#seal.ComprModeType.none);
  }

  /**
   * Loads a partial selection from one of this process's workers and adds it into `acc` (or
   * returns it as the new accumulator when `acc` is undefined). The bytes are local, yet checked
   * like a peer's (header, size, level, form) so that a broken worker cannot crash SEAL.
   */
  addPartial(acc: CipherText | undefined, bytes: Uint8Array): CipherText {
    if (bytes.length === 0 || bytes.length > 2 * MAX_CIPHERTEXT_BYTES) throw new TypeError('worker returned a malformed partial sum');
    checkSealHeader(bytes);
    const ct = this.#seal.CipherText();
    try {
      ct.loadArray(this.#context, bytes);
      const parms = ct.parmsId;
      const want = this.#context.firstParmsId;
      const sameLevel = equalIds(parms.values, want.values);
      parms.delete();
      want.delete();
      if (ct.size !== 2 || ct.isNttForm || ct.polyModulusDegree !== this.n || !sameLevel) throw new TypeError('worker returned a malformed partial sum');
    } catch (e) {
      ct.delete();
      throw e instanceof TypeError ? e : new TypeError('worker returned a malformed partial sum', { cause: sealError(e, this.#seal) });
    }
    if (acc === undefined) return ct;
    const ev = this.#seal.Evaluator(this.#context);
    try {
      ev.add(acc, ct, acc);
      return acc;
    } catch (e) {
      throw sealError(e, this.#seal);
    } finally {
      ev.delete();
      ct.delete();
    }
  }

  /**
   * Noise flooding: adds to each coefficient of c0 an independent uniform integer in
   * [-2^B, 2^B], B = ⌊log2 q⌋ - plainBits - 1 - FLOOD_MARGIN_BITS, in every RNS component.
   * Works on the uncompressed serialization: the coefficient data (poly-major, then RNS prime,
   * then coefficient, little-endian uint64) ends the buffer.
   */
  #flood(ct: CipherText): Uint8Array {
    const bytes = ct.saveArray(this.#seal.ComprModeType.none);
    const L = this.#primes.length;
    const dataBytes = 2 * L * this.n * 8;
    const off = bytes.length - dataBytes;
    if (off <= 0) throw new Error('unexpected ciphertext layout');
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let logQ = 0;
    for (const p of this.#primes) logQ += p.toString(2).length;
    const floodBits = BigInt(logQ - 1 - this.plainBits - 1 - FLOOD_MARGIN_BITS);
    const words = new BigUint64Array(this.n * 2);
    fillRandom(words);
    const low = (1n << 64n) - 1n;
    for (let i = 0; i < this.n; i++) {
      // 128 random bits → a value in [0, 2^(B+1)) minus 2^B: uniform in [-2^B, 2^B).
      const r = ((words[2 * i]! << 64n) | (words[2 * i + 1]! & low)) & ((1n << (floodBits + 1n)) - 1n);
      const e = r - (1n << floodBits);
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

  /**
   * V's decryption of I's result: coefficient 0, centred. Refuses a ciphertext whose noise budget
   * is exhausted (the sum would be wrong) with `HeParameterMismatchError`.
   */
  decryptConstant(secretKey: SecretKey, bytes: Uint8Array): bigint {
    const ct = this.loadCiphertext(bytes, 'final');
    const dec = this.#seal.Decryptor(this.#context, secretKey);
    const p = this.#seal.PlainText();
    try {
      if (dec.invariantNoiseBudget(ct) <= 0) throw new HeParameterMismatchError('returned ciphertext cannot be decrypted correctly (noise budget exhausted)');
      dec.decrypt(ct, p);
      return this.centre(this.constantOf(p));
    } catch (e) {
      if (e instanceof HeParameterMismatchError) throw e;
      throw sealError(e, this.#seal);
    } finally {
      p.delete();
      dec.delete();
      ct.delete();
    }
  }

  /** Test hook: the invariant noise budget of `bytes` under `secretKey`. @internal */
  noiseBudget(secretKey: SecretKey, ct: CipherText): number {
    const dec = this.#seal.Decryptor(this.#context, secretKey);
    try {
      return dec.invariantNoiseBudget(ct);
    } finally {
      dec.delete();
    }
  }
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

function equalIds(a: BigUint64Array, b: BigUint64Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
