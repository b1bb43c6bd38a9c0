/**
 * The homomorphic-encryption context: BFV over node-seal behind opaque handles.
 *
 * Every SEAL object created here is released with `.delete()` as soon as it is no longer needed;
 * handles hold their SEAL objects until `dispose()` (a FinalizationRegistry releases forgotten
 * handles as a safety net, but hot loops must dispose explicitly). SEAL types never appear in the
 * public API.
 *
 * Circuit privacy (DESIGN.md §4.2/§4.3). `rerandomise` adds a fresh public-key encryption of
 * zero (re-randomising c1), and `finalise` switches to the lowest modulus level the noise budget
 * allows and, with `noiseFlooding: 1`, floods the noise: it adds to c0 a uniform integer in
 * [-Δ/4, Δ/4] per coefficient, 2^HE_FLOOD_STATISTICAL_BITS times the computation's noise, so the
 * decryptor's view of the noise is statistically close (≤ n·2^-54) to one that does not depend on
 * how the total was computed. Without flooding, the decryptor could in principle learn something
 * from the final noise term (chiefly the number of addends and, after a plaintext multiplication,
 * the mask's size). Slot values that are not part of the answer must still be zeroed
 * (`multiplyMask`) or masked (`addRandomMask`) by the evaluator: flooding hides noise, not slots.
 * @module
 */
import { HeParameterMismatchError, MalformedMessageError } from '../errors.js';
import { loadSeal, type BatchEncoder, type CipherText, type Context, type Encryptor, type Evaluator, type PublicKey, type Seal, type SecretKey } from './seal-loader.js';
import { decodeHeParameters, encodeHeParameters, heMaxAbsSum, heParametersHash, type HeParameters } from './params.js';
import { packCoefficients, packedSize, SEAL_DATA_OFFSET, unpackCoefficients } from './packing.js';

/**
 * An HE public key (opaque). Export with {@link HeContext.exportPublicKey}.
 *
 * @example
 * ```ts
 * const { publicKey, secretKey } = he.generateKeys();
 * const bytes = he.exportPublicKey(publicKey);
 * publicKey.dispose();
 * ```
 */
export interface HePublicKey {
  /** True once released. */
  readonly disposed: boolean;
  /** Releases the native key. */
  dispose(): void;
}

/**
 * An HE secret key (opaque; never serialised by dataport, never leaves the process).
 *
 * @example
 * ```ts
 * const values = he.decrypt(secretKey, ciphertext);
 * secretKey.dispose();
 * ```
 */
export interface HeSecretKey {
  /** True once released. */
  readonly disposed: boolean;
  /** Releases the native key. */
  dispose(): void;
}

/**
 * An encrypted vector of signed integers (opaque; one or more BFV ciphertexts).
 *
 * @example
 * ```ts
 * const ct = he.encrypt(publicKey, [1n, -2n, 3n]);
 * console.log(ct.length, ct.addends); // 3 1
 * ct.dispose();
 * ```
 */
export interface HeCiphertext {
  /** Number of meaningful slots. */
  readonly length: number;
  /** How many fresh encryptions were summed into it (checked against the parameters' limit). */
  readonly addends: number;
  /** True after `finalise` (modulus switched; no further homomorphic operations). */
  readonly finalised: boolean;
  /** True once released. */
  readonly disposed: boolean;
  /** Releases the native ciphertexts. */
  dispose(): void;
}

/**
 * A fresh key pair (the secret key stays in this process).
 *
 * @example
 * ```ts
 * const { publicKey, secretKey }: HeKeyPair = he.generateKeys();
 * ```
 */
export interface HeKeyPair {
  publicKey: HePublicKey;
  secretKey: HeSecretKey;
}

/**
 * Options of {@link HeContext.importCiphertext}.
 *
 * @example
 * ```ts
 * const ct = he.importCiphertext(bytes, { length: 12, finalised: false, maxAddends: 1 });
 * ```
 */
export interface HeImportOptions {
  /** Refuse a ciphertext that claims more addends than this (default: the parameters' limit). */
  maxAddends?: number;
  /** Require exactly this vector length. */
  length?: number;
  /** Refuse (`false`) or require (`true`) a finalised ciphertext; default: either. */
  finalised?: boolean;
}

/**
 * BFV operations under one parameter set. Synchronous (SEAL runs on the calling thread); offload
 * bulk encryption with {@link encryptBatch} from a worker.
 *
 * @example
 * ```ts
 * const he = await createHeContext(await chooseHeParameters({ slots: 3, maxAbsValue: 100n, maxAddends: 2 }));
 * const { publicKey, secretKey } = he.generateKeys();
 * const a = he.encrypt(publicKey, [1n, -2n, 3n]);
 * const b = he.encrypt(publicKey, [10n, 20n, -30n]);
 * he.addInPlace(a, b);
 * he.decrypt(secretKey, a); // [11n, 18n, -27n]
 * for (const h of [a, b, publicKey, secretKey]) h.dispose();
 * he.dispose();
 * ```
 */
export interface HeContext {
  /** The parameter set. */
  readonly parameters: HeParameters;
  /** SHA-256 of its canonical description. */
  readonly parametersHash: Uint8Array;
  /** Slots per BFV ciphertext (= polynomial modulus degree). */
  readonly slotsPerCiphertext: number;
  /** Generates a key pair. */
  generateKeys(): HeKeyPair;
  /** Serialises a public key into a self-describing envelope (parameters included). */
  exportPublicKey(publicKey: HePublicKey): Uint8Array;
  /** Loads a public key envelope; `HeParameterMismatchError` if made for other parameters. */
  importPublicKey(bytes: Uint8Array): HePublicKey;
  /**
   * Encrypts signed integers (bigint or safe-integer numbers), `1 ≤ values.length ≤ slots`.
   * Throws `RangeError` before encrypting if any |value| exceeds `maxAbsValue`.
   */
  encrypt(publicKey: HePublicKey, values: ArrayLike<bigint | number>): HeCiphertext;
  /** Returns a new ciphertext `a + b` (inputs untouched). */
  add(a: HeCiphertext, b: HeCiphertext): HeCiphertext;
  /** `acc += b`. Throws `RangeError` if the sum could exceed the declared addend count. */
  addInPlace(acc: HeCiphertext, b: HeCiphertext): void;
  /** `ct += values` (plaintext); |value| ≤ `maxAbsPlainAddend`, at most once per ciphertext. */
  addPlain(ct: HeCiphertext, values: ArrayLike<bigint | number>): void;
  /** Multiplies slot-wise by a 0/1 mask (slot selection); needs `plainMultiplications: 1`. */
  multiplyMask(ct: HeCiphertext, mask: ArrayLike<number>): void;
  /**
   * Adds a uniformly random vector mod t to every slot and returns it; the decryptor then sees only
   * uniformly random values until {@link HeContext.unmask} is applied by the mask holder.
   */
  addRandomMask(ct: HeCiphertext): bigint[];
  /** Removes a mask from decrypted values: centred `(value - mask) mod t`. */
  unmask(values: readonly bigint[], mask: readonly bigint[]): bigint[];
  /** Adds a fresh encryption of zero under `publicKey` (re-randomisation). */
  rerandomise(ct: HeCiphertext, publicKey: HePublicKey): void;
  /** Switches to the parameters' final (lowest usable) modulus level. */
  finalise(ct: HeCiphertext): void;
  /** Serialises a ciphertext into an envelope bound to the parameter hash. */
  exportCiphertext(ct: HeCiphertext): Uint8Array;
  /**
   * Loads an untrusted ciphertext envelope: exact size, parameter hash, coefficient ranges are
   * checked before SEAL sees it. `MalformedMessageError` / `HeParameterMismatchError` otherwise.
   */
  importCiphertext(bytes: Uint8Array, options?: HeImportOptions): HeCiphertext;
  /** Decrypts into centred signed integers; `MalformedMessageError` if the noise budget is exhausted. */
  decrypt(secretKey: HeSecretKey, ct: HeCiphertext): bigint[];
  /** Releases the context's own SEAL objects (handles must be disposed separately). */
  dispose(): void;
}

// ---------------------------------------------------------------------------------------------
// Envelopes: "DPHE" | version | kind | parameter hash (32) | kind-specific header | packed body.

const MAGIC = [0x44, 0x50, 0x48, 0x45] as const; // "DPHE"
const ENVELOPE_VERSION = 1;
const KIND_PUBLIC_KEY = 1;
const KIND_CIPHERTEXT = 2;
const PREFIX = 4 + 1 + 1 + 32;
const CT_HEADER = PREFIX + 4 + 4 + 1 + 1 + 1 + 2; // length, addends, flags, finalised, primes, parts
/**
 * Upper bound on any HE envelope, checked before anything is parsed.
 *
 * @example
 * ```ts
 * if (frame.length > HE_ENVELOPE_MAX_BYTES) throw new Error('too large');
 * ```
 */
export const HE_ENVELOPE_MAX_BYTES = 64 * 1024 * 1024;

function checkPrefix(bytes: Uint8Array, kind: number): void {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('bytes must be a Uint8Array');
  if (bytes.length > HE_ENVELOPE_MAX_BYTES) throw new MalformedMessageError('HE envelope too large');
  if (bytes.length < PREFIX) throw new MalformedMessageError('HE envelope truncated');
  for (let i = 0; i < 4; i++) if (bytes[i] !== MAGIC[i]) throw new MalformedMessageError('not an HE envelope');
  if (bytes[4] !== ENVELOPE_VERSION) throw new MalformedMessageError('unsupported HE envelope version');
  if (bytes[5] !== kind) throw new MalformedMessageError('unexpected HE envelope kind');
}

/**
 * Reads the parameters embedded in a public-key envelope (without loading the key).
 *
 * @example
 * ```ts
 * const params = readPublicKeyParameters(publicKeyBytes);
 * const he = await createHeContext(params);
 * ```
 */
export function readPublicKeyParameters(bytes: Uint8Array): HeParameters {
  checkPrefix(bytes, KIND_PUBLIC_KEY);
  if (bytes.length < PREFIX + 2) throw new MalformedMessageError('HE envelope truncated');
  const len = (bytes[PREFIX]! << 8) | bytes[PREFIX + 1]!;
  if (bytes.length < PREFIX + 2 + len) throw new MalformedMessageError('HE envelope truncated');
  const params = decodeHeParameters(bytes.subarray(PREFIX + 2, PREFIX + 2 + len));
  const hash = heParametersHash(params);
  for (let i = 0; i < 32; i++) if (hash[i] !== bytes[6 + i]) throw new MalformedMessageError('HE envelope parameter hash inconsistent');
  return params;
}

// ---------------------------------------------------------------------------------------------
// Handles.

type Releasable = { delete(): void };
const registry = new FinalizationRegistry<Releasable[]>((objects) => {
  for (const o of objects) {
    try {
      o.delete();
    } catch {
      /* already released */
    }
  }
});

class Handle {
  protected native: Releasable[] | undefined;
  readonly owner: object;
  constructor(owner: object, native: Releasable[]) {
    this.owner = owner;
    this.native = native;
    registry.register(this, native, this);
  }
  get disposed(): boolean {
    return this.native === undefined;
  }
  dispose(): void {
    if (this.native === undefined) return;
    registry.unregister(this);
    for (const o of this.native) o.delete();
    this.native = undefined;
  }
}

class PublicKeyHandle extends Handle implements HePublicKey {
  /** The key's seeded SEAL serialisation (what goes on the wire). */
  seeded: Uint8Array;
  constructor(owner: object, key: PublicKey, seeded: Uint8Array) {
    super(owner, [key]);
    this.seeded = seeded;
  }
  get key(): PublicKey {
    if (this.native === undefined) throw new TypeError('publicKey has been disposed');
    return this.native[0] as PublicKey;
  }
}

class SecretKeyHandle extends Handle implements HeSecretKey {
  get key(): SecretKey {
    if (this.native === undefined) throw new TypeError('secretKey has been disposed');
    return this.native[0] as SecretKey;
  }
}

class CiphertextHandle extends Handle implements HeCiphertext {
  length: number;
  addends: number;
  plainAdded = false;
  masked = false;
  finalised = false;
  constructor(owner: object, parts: CipherText[], length: number, addends: number) {
    super(owner, parts);
    this.length = length;
    this.addends = addends;
  }
  get parts(): CipherText[] {
    if (this.native === undefined) throw new TypeError('ciphertext has been disposed');
    return this.native as CipherText[];
  }
}

const probes = new WeakMap<HeContext, (secretKey: HeSecretKey, ct: HeCiphertext) => number[]>();

// ---------------------------------------------------------------------------------------------

function toBigInt(v: bigint | number, name: string): bigint {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v);
  throw new TypeError(`${name} must contain bigints or safe integers`);
}

function randomBelowBig(range: bigint): bigint {
  // Rejection sampling on just enough random bits: uniform in [0, range).
  const bits = (range - 1n).toString(2).length;
  const bytes = new Uint8Array(Math.ceil(bits / 8));
  const excess = BigInt(bytes.length * 8 - bits);
  for (;;) {
    crypto.getRandomValues(bytes);
    let r = 0n;
    for (const b of bytes) r = (r << 8n) | BigInt(b);
    r >>= excess;
    if (r < range) return r;
  }
}

function randomBelow(t: bigint): bigint {
  // Rejection sampling on 64 random bits: uniform in [0, t).
  const limit = (1n << 64n) - ((1n << 64n) % t);
  const buf = new BigUint64Array(1);
  for (;;) {
    crypto.getRandomValues(buf);
    const r = buf[0]!;
    if (r < limit) return r % t;
  }
}

/**
 * Creates an HE context for a parameter set (loads node-seal on first use). The parameters are
 * re-validated by SEAL (128-bit security, batching); `HeParameterMismatchError` if this build's
 * SEAL would not produce the same coefficient moduli.
 *
 * @example
 * ```ts
 * const he = await createHeContext(await chooseHeParameters({ slots: 8, maxAbsValue: 1000n, maxAddends: 10 }));
 * ```
 */
export async function createHeContext(parameters: HeParameters): Promise<HeContext> {
  const seal = await loadSeal();
  // Round-trip through the canonical encoding: validates a caller-built object too.
  const params = decodeHeParameters(encodeHeParameters(parameters));
  return buildContext(seal, params);
}

function buildContext(seal: Seal, params: HeParameters): HeContext {
  const n = params.polyModulusDegree;
  const t = params.plainModulus;
  const half = t / 2n;
  const maxAbsSum = heMaxAbsSum(params);
  const hash = heParametersHash(params);
  const description = encodeHeParameters(params);

  const coeff = seal.CoeffModulus.BFVDefault(n, seal.SecurityLevel.tc128);
  const defaults = Array.from(coeff.toArray() as BigUint64Array, (v) => BigInt(v));
  if (defaults.length !== params.coeffModulus.length || defaults.some((q, i) => q !== params.coeffModulus[i])) {
    coeff.delete();
    throw new HeParameterMismatchError('HE coefficient modulus is not the 128-bit default of this SEAL build');
  }
  const encParms = seal.EncryptionParameters(seal.SchemeType.bfv);
  const plainMod = seal.Modulus(t);
  let ctx: Context;
  try {
    encParms.setPolyModulusDegree(n);
    encParms.setCoeffModulus(coeff);
    encParms.setPlainModulus(plainMod);
    ctx = seal.Context(encParms, true, seal.SecurityLevel.tc128);
  } catch (cause) {
    throw new MalformedMessageError('HE parameters rejected by SEAL', { cause });
  } finally {
    coeff.delete();
    plainMod.delete();
    encParms.delete();
  }
  const firstData = ctx.firstContextData;
  const qualifiers = firstData.qualifiers;
  const ok = ctx.parametersSet() && qualifiers.usingBatching;
  qualifiers.delete();
  const firstChainIndex = firstData.chainIndex;
  firstData.delete();
  const dataPrimes = params.coeffModulus.length - 1;
  const switches = dataPrimes - params.finalPrimes;
  if (!ok || firstChainIndex < switches) {
    ctx.delete();
    throw new MalformedMessageError('HE parameters rejected by SEAL (no batching or insecure)');
  }
  const encoder: BatchEncoder = seal.BatchEncoder(ctx);
  const evaluator: Evaluator = seal.Evaluator(ctx);
  const owner = {};
  const parts = (len: number): number => Math.ceil(len / n);

  // Templates (the first SEAL_DATA_OFFSET bytes of an uncompressed SEAL serialisation) for every
  // chain index and for the public key, made from objects this process created itself.
  const templates = new Map<string, Uint8Array>();
  let seededPkShape: { length: number; prefix: Uint8Array } = { length: 0, prefix: new Uint8Array() };
  {
    const kg = seal.KeyGenerator(ctx);
    const pk = kg.createPublicKey();
    const enc = seal.Encryptor(ctx, pk);
    // Shape of a *seeded* public key (SEAL header, parms_id, sizes, array headers: the prefix every
    // honest key shares byte for byte; then pk0's coefficients and the seed of pk1). Learned from
    // three local keys; a peer's key must match it exactly before SEAL parses it.
    const samples = [0, 1, 2].map(() => {
      const spk = kg.createPublicKeySerializable();
      const b = spk.saveArray(seal.ComprModeType.none);
      spk.delete();
      return b;
    });
    const [s0, s1, s2] = samples as [Uint8Array, Uint8Array, Uint8Array];
    if (s0.length !== s1.length || s0.length !== s2.length) throw new Error('internal: SEAL seeded key sizes vary');
    let common = 0;
    while (common < s0.length && s0[common] === s1[common] && s0[common] === s2[common]) common++;
    seededPkShape = { length: s0.length, prefix: s0.slice(0, common) };
    const ct = seal.CipherText();
    enc.encryptZero(ct);
    for (let primes = dataPrimes; ; primes--) {
      templates.set(`ct${primes}`, ct.saveArray(seal.ComprModeType.none).slice(0, SEAL_DATA_OFFSET));
      if (primes === params.finalPrimes) break;
      evaluator.cipherModSwitchToNext(ct, ct);
    }
    for (const o of [ct, enc, pk, kg]) o.delete();
  }
  const moduliAt = (primes: number): bigint[] => params.coeffModulus.slice(0, primes);

  let disposed = false;
  const live = (): void => {
    if (disposed) throw new TypeError('HE context has been disposed');
  };
  const own = <H extends Handle>(h: unknown, cls: abstract new (...a: never[]) => H, name: string): H => {
    if (!(h instanceof cls) || h.owner !== owner) throw new TypeError(`${name} does not belong to this HE context`);
    return h;
  };

  const encodeSlots = (values: readonly bigint[], part: number) => {
    const arr = new BigInt64Array(n);
    const end = Math.min(values.length, (part + 1) * n);
    for (let i = part * n; i < end; i++) arr[i - part * n] = values[i]!;
    return encoder.encode(arr)!;
  };
  const checkedValues = (values: ArrayLike<bigint | number>, bound: bigint, name: string, len?: number): bigint[] => {
    if (values === null || typeof values !== 'object' || typeof values.length !== 'number') throw new TypeError(`${name} must be an array`);
    if (values.length < 1 || values.length > params.slots) throw new RangeError(`${name} must have 1..${params.slots} values`);
    if (len !== undefined && values.length !== len) throw new RangeError(`${name} must have ${len} values`);
    const out = new Array<bigint>(values.length);
    for (let i = 0; i < values.length; i++) {
      const v = toBigInt(values[i]!, name);
      if (v > bound || v < -bound) throw new RangeError(`${name}[${i}] is outside the declared bound ±${bound}`);
      out[i] = v;
    }
    return out;
  };
  const centre = (v: bigint): bigint => {
    const r = ((v % t) + t) % t;
    return r > half ? r - t : r;
  };

  // Noise flooding (circuit privacy): add to every coefficient of c0 one uniform integer in
  // [-B, B], B = floor(q_final / 4t) = Δ/4, the same integer in every RNS component. The phase
  // c0 + c1·s = Δ·m + e becomes Δ·m + e + f; decryption stays correct while |e + f| < Δ/2, and the
  // parameters guarantee |e| ≤ 2^-HE_FLOOD_STATISTICAL_BITS · B, so f statistically hides e.
  // (c1 was already re-randomised by a fresh public-key encryption of zero.)
  const finalModuli = params.coeffModulus.slice(0, params.finalPrimes);
  const floodBound = finalModuli.reduce((a, q) => a * q, 1n) / (4n * t);
  const flood = (c: CipherText): void => {
    const raw = c.saveArray(seal.ComprModeType.none);
    if (raw.length !== SEAL_DATA_OFFSET + 8 * 2 * finalModuli.length * n) throw new Error('internal: unexpected SEAL ciphertext layout');
    const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const range = 2n * floodBound + 1n;
    for (let l = 0; l < n; l++) {
      const f = randomBelowBig(range) - floodBound;
      for (let i = 0; i < finalModuli.length; i++) {
        const q = finalModuli[i]!;
        const off = SEAL_DATA_OFFSET + 8 * (i * n + l); // polynomial 0 (c0), RNS component i, coefficient l
        let v = dv.getBigUint64(off, true) + (((f % q) + q) % q);
        if (v >= q) v -= q;
        dv.setBigUint64(off, v, true);
      }
    }
    c.loadArray(ctx, raw);
  };

  const he: HeContext = {
    parameters: params,
    parametersHash: hash,
    slotsPerCiphertext: n,

    generateKeys() {
      live();
      const kg = seal.KeyGenerator(ctx);
      try {
        // The public key is made *seeded*: pk1 is expanded from a seed by SEAL's PRNG, so whoever
        // loads it knows pk1 is pseudo-random (a chosen pk1 such as 0 would make encryptions and
        // re-randomisation transparent). The local handle loads the same seeded bytes.
        const spk = kg.createPublicKeySerializable();
        const seeded = spk.saveArray(seal.ComprModeType.none);
        spk.delete();
        const pk = seal.PublicKey();
        pk.loadArray(ctx, seeded);
        return {
          publicKey: new PublicKeyHandle(owner, pk, seeded),
          secretKey: new SecretKeyHandle(owner, [kg.secretKey()]),
        };
      } finally {
        kg.delete();
      }
    },

    exportPublicKey(publicKey) {
      live();
      const pk = own(publicKey, PublicKeyHandle, 'publicKey');
      const out = new Uint8Array(PREFIX + 2 + description.length + pk.seeded.length);
      out.set(MAGIC, 0);
      out[4] = ENVELOPE_VERSION;
      out[5] = KIND_PUBLIC_KEY;
      out.set(hash, 6);
      out[PREFIX] = description.length >> 8;
      out[PREFIX + 1] = description.length & 0xff;
      out.set(description, PREFIX + 2);
      out.set(pk.seeded, PREFIX + 2 + description.length);
      return out;
    },

    importPublicKey(bytes) {
      live();
      checkPrefix(bytes, KIND_PUBLIC_KEY);
      for (let i = 0; i < 32; i++) if (bytes[6 + i] !== hash[i]) throw new HeParameterMismatchError();
      const len = bytes.length >= PREFIX + 2 ? (bytes[PREFIX]! << 8) | bytes[PREFIX + 1]! : -1;
      const bodyOffset = PREFIX + 2 + len;
      if (len !== description.length || bytes.length !== bodyOffset + seededPkShape.length) {
        throw new MalformedMessageError('HE public key envelope has the wrong size (a seeded key is required)');
      }
      for (let i = 0; i < len; i++) if (bytes[PREFIX + 2 + i] !== description[i]) throw new HeParameterMismatchError();
      const body = bytes.slice(bodyOffset);
      const { prefix } = seededPkShape;
      for (let i = 0; i < prefix.length; i++) {
        if (body[i] !== prefix[i]) throw new MalformedMessageError('HE public key is not a seeded key for these parameters');
      }
      const pk = seal.PublicKey();
      try {
        pk.loadArray(ctx, body);
      } catch (cause) {
        pk.delete();
        throw new MalformedMessageError('HE public key rejected', { cause });
      }
      return new PublicKeyHandle(owner, pk, body);
    },

    encrypt(publicKey, values) {
      live();
      const pk = own(publicKey, PublicKeyHandle, 'publicKey');
      const vals = checkedValues(values, params.maxAbsValue, 'values');
      const enc: Encryptor = seal.Encryptor(ctx, pk.key);
      const cts: CipherText[] = [];
      try {
        for (let p = 0; p < parts(vals.length); p++) {
          const pt = encodeSlots(vals, p);
          try {
            cts.push(enc.encrypt(pt)!);
          } finally {
            pt.delete();
          }
        }
      } catch (e) {
        for (const c of cts) c.delete();
        throw e;
      } finally {
        enc.delete();
      }
      return new CiphertextHandle(owner, cts, vals.length, 1);
    },

    add(a, b) {
      live();
      const x = own(a, CiphertextHandle, 'a');
      const copy = new CiphertextHandle(owner, x.parts.map((c) => c.clone()), x.length, x.addends);
      copy.plainAdded = x.plainAdded;
      copy.masked = x.masked;
      copy.finalised = x.finalised;
      try {
        he.addInPlace(copy, b);
      } catch (e) {
        copy.dispose();
        throw e;
      }
      return copy;
    },

    addInPlace(acc, b) {
      live();
      const x = own(acc, CiphertextHandle, 'acc');
      const y = own(b, CiphertextHandle, 'b');
      if (x.length !== y.length) throw new RangeError('ciphertexts have different lengths');
      if (x.finalised || y.finalised) throw new RangeError('finalised ciphertexts cannot be added');
      if (x.addends + y.addends > params.maxAddends) throw new RangeError(`sum of more than ${params.maxAddends} vectors could wrap`);
      if (x.plainAdded && y.plainAdded) throw new RangeError('sum would contain two plaintext addends');
      const xp = x.parts;
      const yp = y.parts;
      for (let i = 0; i < xp.length; i++) evaluator.add(xp[i]!, yp[i]!, xp[i]!);
      x.addends += y.addends;
      x.plainAdded ||= y.plainAdded;
      x.masked ||= y.masked;
    },

    addPlain(ct, values) {
      live();
      const x = own(ct, CiphertextHandle, 'ct');
      if (x.finalised) throw new RangeError('ciphertext is finalised');
      if (x.plainAdded) throw new RangeError('a plaintext vector was already added');
      const vals = checkedValues(values, params.maxAbsPlainAddend, 'values', x.length);
      const xp = x.parts;
      for (let p = 0; p < xp.length; p++) {
        const pt = encodeSlots(vals, p);
        try {
          evaluator.addPlain(xp[p]!, pt, xp[p]!);
        } finally {
          pt.delete();
        }
      }
      x.plainAdded = true;
    },

    multiplyMask(ct, mask) {
      live();
      const x = own(ct, CiphertextHandle, 'ct');
      if (params.plainMultiplications !== 1) throw new RangeError('parameters were not chosen for plaintext multiplication');
      if (x.finalised) throw new RangeError('ciphertext is finalised');
      if (mask === null || typeof mask !== 'object' || mask.length !== x.length) throw new RangeError(`mask must have ${x.length} entries`);
      const bits = new Array<bigint>(x.length);
      for (let i = 0; i < x.length; i++) {
        const m = mask[i];
        if (m !== 0 && m !== 1) throw new RangeError('mask entries must be 0 or 1');
        bits[i] = BigInt(m);
      }
      const xp = x.parts;
      for (let p = 0; p < xp.length; p++) {
        const pt = encodeSlots(bits, p);
        try {
          evaluator.multiplyPlain(xp[p]!, pt, xp[p]!);
        } finally {
          pt.delete();
        }
      }
    },

    addRandomMask(ct) {
      live();
      const x = own(ct, CiphertextHandle, 'ct');
      if (x.finalised) throw new RangeError('ciphertext is finalised');
      const mask = Array.from({ length: x.length }, () => randomBelow(t));
      const centred = mask.map(centre);
      const xp = x.parts;
      for (let p = 0; p < xp.length; p++) {
        const pt = encodeSlots(centred, p);
        try {
          evaluator.addPlain(xp[p]!, pt, xp[p]!);
        } finally {
          pt.delete();
        }
      }
      x.masked = true;
      return mask;
    },

    unmask(values, mask) {
      if (values.length !== mask.length) throw new RangeError('values and mask differ in length');
      return values.map((v, i) => centre(v - mask[i]!));
    },

    rerandomise(ct, publicKey) {
      live();
      const x = own(ct, CiphertextHandle, 'ct');
      const pk = own(publicKey, PublicKeyHandle, 'publicKey');
      if (x.finalised) throw new RangeError('ciphertext is finalised');
      const enc = seal.Encryptor(ctx, pk.key);
      const zero = seal.CipherText();
      try {
        for (const c of x.parts) {
          enc.encryptZero(zero);
          evaluator.add(c, zero, c);
        }
      } finally {
        zero.delete();
        enc.delete();
      }
    },

    finalise(ct) {
      live();
      const x = own(ct, CiphertextHandle, 'ct');
      if (x.finalised) return;
      for (const c of x.parts) {
        for (let i = 0; i < switches; i++) evaluator.cipherModSwitchToNext(c, c);
        if (params.noiseFlooding === 1) flood(c);
      }
      x.finalised = true;
    },

    exportCiphertext(ct) {
      live();
      const x = own(ct, CiphertextHandle, 'ct');
      const primes = x.finalised ? params.finalPrimes : dataPrimes;
      const moduli = moduliAt(primes);
      const partSize = packedSize(n, moduli, 2);
      const xp = x.parts;
      const out = new Uint8Array(CT_HEADER + xp.length * partSize);
      const dv = new DataView(out.buffer);
      out.set(MAGIC, 0);
      out[4] = ENVELOPE_VERSION;
      out[5] = KIND_CIPHERTEXT;
      out.set(hash, 6);
      dv.setUint32(PREFIX, x.length);
      dv.setUint32(PREFIX + 4, x.addends);
      out[PREFIX + 8] = (x.plainAdded ? 1 : 0) | (x.masked ? 2 : 0);
      out[PREFIX + 9] = x.finalised ? 1 : 0;
      out[PREFIX + 10] = primes;
      dv.setUint16(PREFIX + 11, xp.length);
      let off = CT_HEADER;
      for (const c of xp) {
        const raw = c.saveArray(seal.ComprModeType.none);
        if (raw.length !== SEAL_DATA_OFFSET + 8 * 2 * moduli.length * n) throw new Error('internal: unexpected SEAL ciphertext layout');
        off = packCoefficients(raw, n, moduli, 2, out, off);
      }
      return out;
    },

    importCiphertext(bytes, options = {}) {
      live();
      checkPrefix(bytes, KIND_CIPHERTEXT);
      for (let i = 0; i < 32; i++) if (bytes[6 + i] !== hash[i]) throw new HeParameterMismatchError();
      if (bytes.length < CT_HEADER) throw new MalformedMessageError('HE ciphertext envelope truncated');
      const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const length = dv.getUint32(PREFIX);
      const addends = dv.getUint32(PREFIX + 4);
      const flags = bytes[PREFIX + 8]!;
      const finalised = bytes[PREFIX + 9]!;
      const primes = bytes[PREFIX + 10]!;
      const count = dv.getUint16(PREFIX + 11);
      const maxAddends = Math.min(options.maxAddends ?? params.maxAddends, params.maxAddends);
      if (length < 1 || length > params.slots) throw new MalformedMessageError('HE ciphertext length out of range');
      if (options.length !== undefined && length !== options.length) throw new MalformedMessageError('HE ciphertext has an unexpected length');
      if (addends < 1 || addends > maxAddends) throw new MalformedMessageError('HE ciphertext addend count out of range');
      if (flags > 3 || finalised > 1) throw new MalformedMessageError('malformed HE ciphertext flags');
      if (primes !== (finalised === 1 ? params.finalPrimes : dataPrimes)) throw new MalformedMessageError('HE ciphertext at an unexpected level');
      if (options.finalised !== undefined && options.finalised !== (finalised === 1)) throw new MalformedMessageError('HE ciphertext finalisation state unexpected');
      if (count !== parts(length)) throw new MalformedMessageError('HE ciphertext part count inconsistent');
      const moduli = moduliAt(primes);
      const partSize = packedSize(n, moduli, 2);
      if (bytes.length !== CT_HEADER + count * partSize) throw new MalformedMessageError('HE ciphertext envelope has the wrong size');
      const template = templates.get(`ct${primes}`)!;
      const raw = new Uint8Array(SEAL_DATA_OFFSET + 8 * 2 * moduli.length * n);
      raw.set(template, 0);
      const cts: CipherText[] = [];
      let off = CT_HEADER;
      try {
        for (let p = 0; p < count; p++) {
          off = unpackCoefficients(bytes, off, n, moduli, 2, raw);
          const c = seal.CipherText();
          cts.push(c);
          try {
            c.loadArray(ctx, raw);
          } catch (cause) {
            throw new MalformedMessageError('HE ciphertext rejected', { cause });
          }
          if (c.size !== 2 || c.isNttForm) throw new MalformedMessageError('HE ciphertext has an unexpected shape');
        }
      } catch (e) {
        for (const c of cts) c.delete();
        if (e instanceof MalformedMessageError) throw e;
        throw new MalformedMessageError('HE ciphertext rejected', { cause: e });
      }
      const h = new CiphertextHandle(owner, cts, length, addends);
      h.plainAdded = (flags & 1) !== 0;
      h.masked = (flags & 2) !== 0;
      h.finalised = finalised === 1;
      return h;
    },

    decrypt(secretKey, ct) {
      live();
      const sk = own(secretKey, SecretKeyHandle, 'secretKey');
      const x = own(ct, CiphertextHandle, 'ct');
      const dec = seal.Decryptor(ctx, sk.key);
      const out = new Array<bigint>(x.length);
      try {
        const xp = x.parts;
        for (let p = 0; p < xp.length; p++) {
          if (dec.invariantNoiseBudget(xp[p]!) <= 0) throw new MalformedMessageError('HE ciphertext cannot be decrypted (noise budget exhausted)');
          const pt = dec.decrypt(xp[p]!)!;
          try {
            const slots = encoder.decodeBigInt(pt, true) as BigInt64Array;
            const end = Math.min(x.length, (p + 1) * n);
            for (let i = p * n; i < end; i++) out[i] = slots[i - p * n]!;
          } finally {
            pt.delete();
          }
        }
      } finally {
        dec.delete();
      }
      // A masked vector is uniformly random until unmasked; otherwise anything beyond the declared
      // bounds means the ciphertext was not computed as the parameters promise.
      if (!x.masked) for (const v of out) {
        if (v > maxAbsSum || v < -maxAbsSum) throw new MalformedMessageError('decrypted value outside the declared bounds');
      }
      return out;
    },

    dispose() {
      if (disposed) return;
      disposed = true;
      encoder.delete();
      evaluator.delete();
      ctx.delete();
    },
  };
  probes.set(he, (secretKey, ct) => {
    const dec = seal.Decryptor(ctx, own(secretKey, SecretKeyHandle, 'secretKey').key);
    try {
      return own(ct, CiphertextHandle, 'ct').parts.map((c) => dec.invariantNoiseBudget(c));
    } finally {
      dec.delete();
    }
  });
  return he;
}

/**
 * Internal test hook: SEAL's invariant noise budget (bits) of each part of a ciphertext.
 * @internal
 */
export function noiseBudgetsForTest(he: HeContext, secretKey: HeSecretKey, ct: HeCiphertext): number[] {
  const probe = probes.get(he);
  if (probe === undefined) throw new TypeError('unknown HE context');
  return probe(secretKey, ct);
}
