/**
 * BFV parameter selection from declared value bounds, and the canonical parameter description whose
 * SHA-256 binds every key and ciphertext envelope to one parameter set.
 * @module
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { HeParameterMismatchError, MalformedMessageError } from '../errors.js';
import { loadSeal } from './seal-loader.js';

/**
 * Ring dimensions dataport uses (slots per ciphertext = polynomial modulus degree with batching).
 *
 * @example
 * ```ts
 * HE_POLY_MODULUS_DEGREES.includes(params.polyModulusDegree); // true
 * ```
 */
export const HE_POLY_MODULUS_DEGREES = [4096, 8192, 16384] as const;

/**
 * One of {@link HE_POLY_MODULUS_DEGREES}.
 *
 * @example
 * ```ts
 * const n: HePolyModulusDegree = 8192;
 * ```
 */
export type HePolyModulusDegree = (typeof HE_POLY_MODULUS_DEGREES)[number];

/** Largest plaintext modulus SEAL accepts (bits). */
const MAX_PLAIN_BITS = 60;
/** Smallest plaintext modulus we ask for; batching needs t ≡ 1 (mod 2n) anyway. */
const MIN_PLAIN_BITS = 17;
/** Noise budget (bits) kept in reserve after every planned operation. */
const NOISE_MARGIN_BITS = 10;
/**
 * Statistical security of noise flooding: the flooding noise is 2^HE_FLOOD_STATISTICAL_BITS times
 * larger than the computation's noise in every coefficient, so the statistical distance between
 * the noise of a total and that of a fresh encryption is at most n·2^-HE_FLOOD_STATISTICAL_BITS.
 *
 * @example
 * ```ts
 * console.log(`flooding hides the computation's noise up to 2^-${HE_FLOOD_STATISTICAL_BITS - 14}`);
 * ```
 */
export const HE_FLOOD_STATISTICAL_BITS = 54;
/** Upper limits on requests, so that a hostile description cannot ask for absurd work. */
const MAX_SLOTS = 1 << 22;
const MAX_ADDENDS = 1 << 24;

/**
 * What the caller needs from a parameter set. Values are signed integers centred in the plaintext
 * modulus; the chosen plaintext modulus is large enough that the largest possible sum cannot wrap:
 * `maxAbsValue * maxAddends + maxAbsPlainAddend < t / 2`.
 *
 * @example
 * ```ts
 * const request: HeParameterRequest = { slots: 40, maxAbsValue: 10n ** 12n, maxAddends: 10 };
 * ```
 */
export interface HeParameterRequest {
  /** Number of values per encrypted vector (a vector longer than one ciphertext uses several). */
  slots: number;
  /** Largest absolute value of any single encrypted slot. */
  maxAbsValue: bigint;
  /** Largest number of encrypted vectors that will be added together (≥ 1). */
  maxAddends: number;
  /** Largest absolute value of one plaintext vector added to a sum (e.g. DP noise); default 0. */
  maxAbsPlainAddend?: bigint;
  /** 1 if ciphertexts will be multiplied by a 0/1 plaintext mask (slot selection); default 0. */
  plainMultiplications?: 0 | 1;
  /**
   * 1 to flood the noise at `finalise` (circuit privacy against the decryptor): needs a
   * {@link HE_FLOOD_STATISTICAL_BITS}-bit larger noise margin, hence usually a larger ring.
   */
  noiseFlooding?: 0 | 1;
  /** Force a ring dimension instead of choosing the cheapest sufficient one. */
  polyModulusDegree?: HePolyModulusDegree;
}

/**
 * A complete, canonical BFV parameter set (128-bit security, HE-standard default coefficient
 * moduli) together with the bounds it was chosen for. Plain data; safe to log and to send.
 *
 * @example
 * ```ts
 * const params = await chooseHeParameters({ slots: 10, maxAbsValue: 1000n, maxAddends: 5 });
 * console.log(params.polyModulusDegree, params.plainModulus);
 * ```
 */
export interface HeParameters {
  readonly scheme: 'bfv';
  readonly securityBits: 128;
  readonly polyModulusDegree: HePolyModulusDegree;
  /** Coefficient modulus primes, key level (special prime last) included. */
  readonly coeffModulus: readonly bigint[];
  /** Batching plaintext modulus t (prime, t ≡ 1 mod 2n). */
  readonly plainModulus: bigint;
  readonly slots: number;
  readonly maxAbsValue: bigint;
  readonly maxAddends: number;
  readonly maxAbsPlainAddend: bigint;
  readonly plainMultiplications: 0 | 1;
  /** 1 if `finalise` floods the noise (see {@link HeParameterRequest.noiseFlooding}). */
  readonly noiseFlooding: 0 | 1;
  /** Number of coefficient-modulus primes kept by `finalise` (modulus switching; ≥ 1). */
  readonly finalPrimes: number;
}

const bitLength = (x: bigint): number => (x <= 0n ? 0 : x.toString(2).length);

/** Rough constant of SEAL's fresh-encryption noise for ring dimension n (bits), measured on 6.0.3. */
const freshNoiseBits = (n: number): number => Math.log2(n) / 2 + 2;

function consumedBits(p: Pick<HeParameters, 'maxAddends' | 'maxAbsPlainAddend' | 'plainMultiplications' | 'polyModulusDegree'>, tBits: number): number {
  // Additions: log2(addends) bits; re-randomisation (one more fresh encryption of zero): 1 bit.
  let c = Math.ceil(Math.log2(p.maxAddends + 1)) + 1;
  if (p.maxAbsPlainAddend > 0n) c += 1;
  // Multiplying by a batched plaintext mask multiplies the noise by ~ t·sqrt(n) (measured: t + 5..7 bits).
  if (p.plainMultiplications === 1) c += tBits + Math.log2(p.polyModulusDegree) / 2 + 1;
  return c;
}

/**
 * Estimated noise budget (bits) left after the planned operations when `primes` data primes remain.
 * Conservative model, checked against SEAL's own measurement in tests.
 * @internal
 */
export function estimateRemainingNoiseBudget(params: Omit<HeParameters, 'finalPrimes'>, primes: number): number {
  const primeBits = params.coeffModulus.map(bitLength);
  let bits = 0;
  for (let i = 0; i < primes; i++) bits += primeBits[i]!;
  const tBits = bitLength(params.plainModulus);
  return bits - tBits - freshNoiseBits(params.polyModulusDegree) - consumedBits(params, tBits);
}

/** Largest absolute sum the parameters must represent without wrapping. */
export function heMaxAbsSum(params: Pick<HeParameters, 'maxAbsValue' | 'maxAddends' | 'maxAbsPlainAddend'>): bigint {
  return params.maxAbsValue * BigInt(params.maxAddends) + params.maxAbsPlainAddend;
}

function checkRequest(r: HeParameterRequest): void {
  if (typeof r !== 'object' || r === null) throw new TypeError('request must be an object');
  if (!Number.isSafeInteger(r.slots) || r.slots < 1 || r.slots > MAX_SLOTS) throw new RangeError(`slots must be an integer in [1, ${MAX_SLOTS}]`);
  if (typeof r.maxAbsValue !== 'bigint' || r.maxAbsValue < 0n) throw new RangeError('maxAbsValue must be a non-negative bigint');
  if (!Number.isSafeInteger(r.maxAddends) || r.maxAddends < 1 || r.maxAddends > MAX_ADDENDS) throw new RangeError(`maxAddends must be an integer in [1, ${MAX_ADDENDS}]`);
  const plainAbs = r.maxAbsPlainAddend ?? 0n;
  if (typeof plainAbs !== 'bigint' || plainAbs < 0n) throw new RangeError('maxAbsPlainAddend must be a non-negative bigint');
  if (r.plainMultiplications !== undefined && r.plainMultiplications !== 0 && r.plainMultiplications !== 1) throw new RangeError('plainMultiplications must be 0 or 1');
  if (r.noiseFlooding !== undefined && r.noiseFlooding !== 0 && r.noiseFlooding !== 1) throw new RangeError('noiseFlooding must be 0 or 1');
  if (r.polyModulusDegree !== undefined && !HE_POLY_MODULUS_DEGREES.includes(r.polyModulusDegree)) throw new RangeError('polyModulusDegree must be 4096, 8192 or 16384');
}

/**
 * Chooses the cheapest BFV parameter set (ring dimension 4096, 8192 or 16384; SEAL's HE-standard
 * 128-bit coefficient moduli; a batching plaintext modulus just large enough) under which the
 * largest possible sum cannot wrap and every planned operation keeps a noise margin. Throws
 * `RangeError` if no parameter set can hold `maxAbsValue × maxAddends` (SEAL's plaintext modulus
 * is at most 60 bits, so |sum| must stay below about 2^58).
 *
 * @example
 * ```ts
 * const params = await chooseHeParameters({ slots: 3, maxAbsValue: 100_000_000n, maxAddends: 10 });
 * ```
 */
export async function chooseHeParameters(request: HeParameterRequest): Promise<HeParameters> {
  checkRequest(request);
  const seal = await loadSeal();
  const maxAbsPlainAddend = request.maxAbsPlainAddend ?? 0n;
  const plainMultiplications = request.plainMultiplications ?? 0;
  const noiseFlooding = request.noiseFlooding ?? 0;
  // Flooding noise is at most Δ/4 = q/(4t) and 2^FLOOD times the computation's noise: it needs
  // FLOOD + 2 more bits of budget at the final level, plus 1 bit for the flooded sum itself.
  const margin = NOISE_MARGIN_BITS + (noiseFlooding === 1 ? HE_FLOOD_STATISTICAL_BITS + 3 : 0);
  const maxAbsSum = request.maxAbsValue * BigInt(request.maxAddends) + maxAbsPlainAddend;
  const needBits = Math.max(MIN_PLAIN_BITS, bitLength(2n * maxAbsSum + 1n));
  if (needBits > MAX_PLAIN_BITS) {
    throw new RangeError(`maxAbsValue × maxAddends (${maxAbsSum}) could wrap: it needs a plaintext modulus over ${MAX_PLAIN_BITS} bits`);
  }
  const degrees = request.polyModulusDegree !== undefined ? [request.polyModulusDegree] : HE_POLY_MODULUS_DEGREES;
  let best: { params: HeParameters; cost: number } | undefined;
  for (const n of degrees) {
    const coeff = seal.CoeffModulus.BFVDefault(n, seal.SecurityLevel.tc128);
    const coeffModulus = Array.from(coeff.toArray() as BigUint64Array, (v) => BigInt(v));
    coeff.delete();
    let plainModulus: bigint | undefined;
    for (let bits = needBits; bits <= MAX_PLAIN_BITS && plainModulus === undefined; bits++) {
      let m;
      try {
        m = seal.PlainModulus.Batching(n, bits);
      } catch {
        continue; // SEAL found no suitable prime of this size
      }
      const t = BigInt(m.value);
      m.delete();
      // t must also differ from every coefficient prime (SEAL's primes ≡ 1 mod 2n collide at 36-60 bits).
      if ((t - 1n) / 2n >= maxAbsSum && !coeffModulus.includes(t)) plainModulus = t;
    }
    if (plainModulus === undefined) continue;
    const base = {
      scheme: 'bfv' as const,
      securityBits: 128 as const,
      polyModulusDegree: n,
      coeffModulus,
      plainModulus,
      slots: request.slots,
      maxAbsValue: request.maxAbsValue,
      maxAddends: request.maxAddends,
      maxAbsPlainAddend,
      plainMultiplications,
      noiseFlooding,
    };
    const dataPrimes = coeffModulus.length - 1;
    if (estimateRemainingNoiseBudget(base, dataPrimes) < margin) continue;
    // SEAL only builds levels whose modulus still exceeds t; the noise estimate is stricter anyway.
    let finalPrimes = dataPrimes;
    while (finalPrimes > 1 && estimateRemainingNoiseBudget(base, finalPrimes - 1) >= margin) finalPrimes--;
    const params: HeParameters = Object.freeze({ ...base, coeffModulus: Object.freeze(coeffModulus), finalPrimes });
    const cost = Math.ceil(request.slots / n) * n * dataPrimes;
    if (best === undefined || cost < best.cost) best = { params, cost };
  }
  if (best === undefined) {
    throw new RangeError('no 128-bit BFV parameter set has enough noise budget for this request');
  }
  return best.params;
}

const DESCRIPTION_PREFIX = 'dataport-he/1';
/** Maximum length of an encoded parameter description. */
export const HE_PARAMETERS_MAX_BYTES = 2048;

/**
 * The canonical text description of a parameter set (ASCII, one line). Equal parameters give
 * equal bytes; {@link heParametersHash} is its SHA-256.
 *
 * @example
 * ```ts
 * const text = describeHeParameters(params); // "dataport-he/1 bfv sec=128 n=4096 …"
 * ```
 */
export function describeHeParameters(p: HeParameters): string {
  return [
    DESCRIPTION_PREFIX,
    p.scheme,
    `sec=${p.securityBits}`,
    `n=${p.polyModulusDegree}`,
    `q=${p.coeffModulus.join(',')}`,
    `t=${p.plainModulus}`,
    `slots=${p.slots}`,
    `maxabs=${p.maxAbsValue}`,
    `addends=${p.maxAddends}`,
    `plainabs=${p.maxAbsPlainAddend}`,
    `mul=${p.plainMultiplications}`,
    `flood=${p.noiseFlooding}`,
    `final=${p.finalPrimes}`,
  ].join(' ');
}

/**
 * SHA-256 of the canonical description: the fingerprint carried by every key and ciphertext envelope.
 *
 * @example
 * ```ts
 * const fingerprint = heParametersHash(params); // 32 bytes
 * ```
 */
export function heParametersHash(p: HeParameters): Uint8Array {
  return sha256(new TextEncoder().encode(describeHeParameters(p)));
}

/**
 * Encodes a parameter set for the wire (its canonical description, UTF-8).
 *
 * @example
 * ```ts
 * const bytes = encodeHeParameters(params);
 * const same = decodeHeParameters(bytes);
 * ```
 */
export function encodeHeParameters(p: HeParameters): Uint8Array {
  return new TextEncoder().encode(describeHeParameters(p));
}

const DEC = '(0|[1-9][0-9]{0,19})';
const DESCRIPTION_RE = new RegExp(
  `^${DESCRIPTION_PREFIX} bfv sec=128 n=(4096|8192|16384) q=(${DEC}(?:,${DEC}){0,15}) t=${DEC} slots=${DEC} maxabs=${DEC} addends=${DEC} plainabs=${DEC} mul=([01]) flood=([01]) final=([0-9]{1,2})$`,
);

/**
 * Decodes and validates a parameter description from a peer. Throws `MalformedMessageError` on
 * anything that is not the canonical description of a parameter set dataport would choose
 * (shape, limits, modulus sizes); the parameters are then re-checked by SEAL when a context is made.
 *
 * @example
 * ```ts
 * const params = decodeHeParameters(bytesFromPeer);
 * ```
 */
export function decodeHeParameters(bytes: Uint8Array): HeParameters {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('bytes must be a Uint8Array');
  if (bytes.length > HE_PARAMETERS_MAX_BYTES) throw new MalformedMessageError('HE parameter description too long');
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new MalformedMessageError('HE parameter description is not UTF-8');
  }
  const m = DESCRIPTION_RE.exec(text);
  if (m === null) throw new MalformedMessageError('malformed HE parameter description');
  const [, nText, qText, , , tText, slotsText, maxAbsText, addendsText, plainAbsText, mulText, floodText, finalText] = m;
  const n = Number(nText) as HePolyModulusDegree;
  const coeffModulus = qText!.split(',').map((x) => BigInt(x));
  const p: HeParameters = Object.freeze({
    scheme: 'bfv',
    securityBits: 128,
    polyModulusDegree: n,
    coeffModulus: Object.freeze(coeffModulus),
    plainModulus: BigInt(tText!),
    slots: Number(slotsText),
    maxAbsValue: BigInt(maxAbsText!),
    maxAddends: Number(addendsText),
    maxAbsPlainAddend: BigInt(plainAbsText!),
    plainMultiplications: Number(mulText) as 0 | 1,
    noiseFlooding: Number(floodText) as 0 | 1,
    finalPrimes: Number(finalText),
  });
  if (
    coeffModulus.length < 2 ||
    coeffModulus.some((q) => q < 2n || q >= 1n << 61n) ||
    p.plainModulus < 2n ||
    p.plainModulus >= 1n << 60n ||
    p.slots < 1 ||
    p.slots > MAX_SLOTS ||
    p.maxAddends < 1 ||
    p.maxAddends > MAX_ADDENDS ||
    p.finalPrimes < 1 ||
    p.finalPrimes > coeffModulus.length - 1 ||
    (p.plainModulus - 1n) / 2n < heMaxAbsSum(p)
  ) {
    throw new MalformedMessageError('HE parameter description out of range');
  }
  return p;
}

/** Throws `HeParameterMismatchError` unless two parameter fingerprints are equal. */
export function assertSameHeParameters(expected: Uint8Array, actual: Uint8Array): void {
  let diff = expected.length ^ actual.length;
  for (let i = 0; i < Math.min(expected.length, actual.length); i++) diff |= expected[i]! ^ actual[i]!;
  if (diff !== 0) throw new HeParameterMismatchError();
}
