/**
 * Issue 16, finding 1: a MALICIOUS value holder V must not learn the ID holder I's selection (which
 * of V's keys are in I's set) beyond the released outputs.
 *
 * The attack on protocol version 1 (V held the BFV key): V adds ⌊Δ/4⌋ to coefficient 0 of c0 of
 * its ciphertexts (every RNS component). That passes I's shape checks, survives I's selection
 * product as E·p(X), is not hidden by I's flooding (≈ Δ/2^10), and V reads every selection bit as
 * Dec(4·ct) − 4·Dec(ct) mod t — in one run, undetected, even when V receives no output at all.
 *
 * The test plays V by hand against the real ID holder machine (`createPsiSumIdHolder`, sans-I/O):
 * - on a version-1 build it runs exactly that attack and its "recovered" selection is I's whole
 *   selection, so the assertions below fail there (verified against the baseline build of b917fb3:
 *   the copied test fails with the selection recovered bit for bit);
 * - on version 2 (I holds the key) V deviates wherever it can — a result whose error term it chose,
 *   crafted plaintext multipliers — and its whole view is checked: it holds no key, receives only
 *   I's SELECTION and ciphertext blocks (nothing after its RESULT when it is not a recipient), and
 *   that view has the same message kinds and sizes for two ID sets of equal count; as a recipient
 *   it learns the sum of its chosen multipliers over the selection and nothing else (the exact-sum
 *   leakage SECURITY.md states: ≤ plainBits memberships per column with multipliers 2^j).
 */
import { describe, expect, it } from 'vitest';
import { generateScalar } from '../../src/crypto/scalar.js';
import { loadSeal } from '../../src/he/seal-loader.js';
import { createInlineExecutor, type CryptoExecutor } from '../../src/protocols/executor.js';
import * as codec from '../../src/protocols/psi-sum/codec.js';
import * as heModule from '../../src/protocols/psi-sum/he.js';
import { createPsiSumIdHolder, type PsiSumMachine, type PsiSumPartyOutcome, type PsiSumProtocolOptions } from '../../src/protocols/psi-sum/protocol.js';

const enc = new TextEncoder();
const ekm = new Uint8Array(32).fill(5);
const N = 8192;
const PLAIN_BITS = 20;
/** V's keys, in the slot order V chooses (a malicious V picks the identity order). */
const V_KEYS = Array.from({ length: 24 }, (_, i) => `patient-${i}`);
/** Two ID sets with the same number of V's keys (8), different members, plus keys V does not hold. */
const I_SET_A = [...[0, 1, 2, 5, 8, 13, 21, 23].map((i) => V_KEYS[i]!), 'x-1', 'x-2'];
const I_SET_B = [...[3, 4, 6, 7, 9, 10, 11, 12].map((i) => V_KEYS[i]!), 'x-3', 'x-4'];

function truth(set: string[]): number[] {
  return V_KEYS.map((k) => (set.includes(k) ? 1 : 0));
}

/** Feeds frames to a sans-I/O machine by hand and collects what it sends. */
class Driven {
  done: PsiSumPartyOutcome | undefined;
  failed: unknown;
  #r: IteratorResult<{ readonly send: Uint8Array } | { readonly receive: true }, PsiSumPartyOutcome> | undefined;
  constructor(readonly machine: PsiSumMachine) {}
  /** Advances with `frame` (or starts) and returns every frame the machine sends until it waits or ends. */
  async step(frame?: Uint8Array): Promise<Uint8Array[]> {
    const out: Uint8Array[] = [];
    try {
      this.#r = await this.machine.next(frame);
      while (!this.#r.done && 'send' in this.#r.value) {
        out.push(this.#r.value.send);
        this.#r = await this.machine.next(undefined);
      }
      if (this.#r.done) this.done = this.#r.value;
    } catch (e) {
      this.failed = e;
    }
    return out;
  }
}

async function pointsOf(executor: CryptoExecutor, keys: string[], b: Uint8Array): Promise<Uint8Array> {
  return executor.multiply(b, await executor.hashToGroup(keys.map((k) => enc.encode(k)), ekm));
}

interface View {
  /** Frames V received: first byte (message kind) and length. */
  received: { kind: number; length: number }[];
  /** What V could reconstruct of I's selection (undefined: nothing). */
  recovered?: number[];
  /** The sums V received (when a recipient). */
  sums?: bigint[];
  idHolder?: PsiSumPartyOutcome;
  idHolderError?: unknown;
}

/** The version-1 attack: V holds the key and tampers with the error term of its ciphertexts. */
async function attackVersion1(idSet: string[], options: PsiSumProtocolOptions): Promise<View> {
  const seal = await loadSeal();
  const executor = await createInlineExecutor();
  const parms = seal.EncryptionParameters(seal.SchemeType.bfv);
  parms.setPolyModulusDegree(N);
  const coeff = seal.CoeffModulus.Create(N, Int32Array.from([60, 60, 60]));
  parms.setCoeffModulus(coeff);
  const plain = seal.PlainModulus.Batching(N, PLAIN_BITS);
  parms.setPlainModulus(plain);
  const context = seal.Context(parms, true, seal.SecurityLevel.tc128);
  const t = plain.value;
  const primes = Array.from(context.firstContextData.parms.coeffModulus as BigUint64Array); // data level
  const q = primes[0]! * primes[1]!;
  const quarterDelta = q / t / 4n;
  const kg = seal.KeyGenerator(context);
  const sk = kg.secretKey();
  const pk = kg.createPublicKey();
  const spk = kg.createPublicKeySerializable();
  const publicKey = spk.saveArray(seal.ComprModeType.none);
  const encryptor = seal.Encryptor(context, pk, sk);
  const ev = seal.Evaluator(context);
  const dec = seal.Decryptor(context, sk);
  const view: View = { received: [] };
  const I = new Driven(createPsiSumIdHolder({ ekm, executor, options, peerSetSize: V_KEYS.length, keys: idSet.map((k) => enc.encode(k)) }));
  const note = (frames: Uint8Array[]) => frames.forEach((f) => view.received.push({ kind: f[0]!, length: f.length }));
  try {
    await I.step();
    const b = generateScalar();
    const setupFrame = (codec.encodeSetup as (m: unknown) => Uint8Array)({
      version: 1,
      plainBits: PLAIN_BITS,
      plainModulus: t,
      valueKeys: V_KEYS.length,
      columns: [{ name: 'v', decimals: 0, bound: 1n }],
      publicKey,
    });
    note(await I.step(setupFrame));
    note(await I.step(codec.encodePoints(codec.PointRound.VALUE_KEYS, await pointsOf(executor, V_KEYS, b))));
    // The tampered ciphertext: a seeded encryption of zeros whose c0 coefficient 0 gets ⌊Δ/4⌋ in
    // every RNS component. c0 is stored in full in the seeded form: locate it through the full form.
    const zero = seal.PlainText({ coeffCount: N });
    zero.setZero();
    const ser = encryptor.encryptSymmetricSerializable(zero);
    const seeded = ser.saveArray(seal.ComprModeType.none);
    const full = seal.CipherText();
    full.loadArray(context, seeded);
    const fullBytes = full.saveArray(seal.ComprModeType.none);
    const c0At = fullBytes.length - 2 * 2 * N * 8;
    const needle = fullBytes.subarray(c0At, c0At + 64);
    let off = -1;
    for (let i = 0; i + 64 <= seeded.length && off < 0; i++) if (seeded.subarray(i, i + 64).every((x, k) => x === needle[k])) off = i;
    expect(off).toBeGreaterThan(0);
    const view64 = new DataView(seeded.buffer, seeded.byteOffset, seeded.byteLength);
    primes.forEach((p, l) => {
      const pos = off + l * N * 8;
      view64.setBigUint64(pos, (view64.getBigUint64(pos, true) + (quarterDelta % p)) % p, true);
    });
    let out = await I.step(codec.encodeCiphertext(0, 0, seeded));
    note(out);
    // I's round 2 arrives; answer honestly (re-masked), then read I's result.
    const xa = new Uint8Array(out.filter((f) => f[0] === codec.PsiSumMessage.POINTS).flatMap((f) => Array.from(codec.decodePoints(f, codec.PointRound.ID_KEYS))));
    out = await I.step(codec.encodePoints(codec.PointRound.ID_KEYS_REMASKED, await executor.multiply(b, xa)));
    note(out);
    const result = (codec.decodeResult as (f: Uint8Array) => { ciphertexts: Uint8Array[] })(out.find((f) => f[0] === codec.PsiSumMessage.RESULT)!);
    const ct = seal.CipherText();
    ct.loadArray(context, result.ciphertexts[0]!);
    const decryptAll = (c: typeof ct): bigint[] => {
      const p = seal.PlainText();
      dec.decrypt(c, p);
      const bytes = p.saveArray(seal.ComprModeType.none);
      const count = p.coeffCount;
      const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const coeffs = Array.from({ length: N }, (_, i) => (i < count ? dv.getBigUint64(bytes.length - count * 8 + i * 8, true) : 0n));
      p.delete();
      return coeffs;
    };
    const once = decryptAll(ct);
    ev.add(ct, ct, ct);
    ev.add(ct, ct, ct);
    const four = decryptAll(ct);
    // Coefficient N − j of E·p(X) is −E·s_j (j ≥ 1), coefficient 0 is E·s_0: ×4 turns E into Δ.
    const diff = (i: number) => (((four[i]! - 4n * once[i]!) % t) + t) % t;
    view.recovered = V_KEYS.map((_, j) => (diff(j === 0 ? 0 : N - j) !== 0n ? 1 : 0));
    if (I.done) view.idHolder = I.done;
    if (I.failed) view.idHolderError = I.failed;
    ct.delete();
    full.delete();
    ser.delete();
    zero.delete();
  } finally {
    await I.machine.return(undefined as never).catch(() => {});
    for (const o of [dec, ev, encryptor, spk, pk, sk, kg, context, plain, coeff, parms]) o.delete();
    await executor.close();
  }
  return view;
}

/**
 * Version 2: V deviates everywhere it can. It has no key: I's ciphertexts are IND-CPA under I's
 * key. It answers with a result whose error term it chose (⌊Δ/4⌋ added to coefficient 0 of c0 in
 * every RNS component) and crafted multipliers w_j = 2^j, then records everything it receives.
 */
async function attackVersion2(idSet: string[], options: PsiSumProtocolOptions): Promise<View> {
  const executor = await createInlineExecutor();
  const view: View = { received: [] };
  const I = new Driven(createPsiSumIdHolder({ ekm, executor, options, peerSetSize: V_KEYS.length, keys: idSet.map((k) => enc.encode(k)) }));
  const got: Uint8Array[] = [];
  const note = (frames: Uint8Array[]) => frames.forEach((f) => (got.push(f), view.received.push({ kind: f[0]!, length: f.length })));
  // Bound 2^23: multipliers 2^0..2^23 are within the declared bound, so I's range check passes.
  const bound = 1n << 23n;
  const columns = [{ name: 'v', decimals: 0, bound }];
  const plainBits = Math.max(PLAIN_BITS, heModule.plainBitsFor(BigInt(V_KEYS.length) * bound));
  const he2 = await heModule.HeContext.create(plainBits);
  try {
    await I.step();
    const b = generateScalar();
    note(await I.step(codec.encodeSetup({ version: codec.PSI_SUM_VERSION, plainBits, plainModulus: he2.t, valueKeys: V_KEYS.length, columns })));
    note(await I.step(codec.encodePoints(codec.PointRound.VALUE_KEYS, await pointsOf(executor, V_KEYS, b))));
    const xa = new Uint8Array(got.filter((f) => f[0] === codec.PsiSumMessage.POINTS).flatMap((f) => Array.from(codec.decodePoints(f, codec.PointRound.ID_KEYS))));
    note(await I.step(codec.encodePoints(codec.PointRound.ID_KEYS_REMASKED, await executor.multiply(b, xa))));
    const sel = codec.decodeSelection(got.find((f) => f[0] === codec.PsiSumMessage.SELECTION)!);
    const blocks = got.filter((f) => f[0] === codec.PsiSumMessage.CIPHERTEXT).map((f) => codec.decodeCiphertext(f).ciphertext);
    expect(blocks).toHaveLength(1);
    // V's evaluation with crafted multipliers w_j = 2^j, then its own error term in the result.
    const pk = he2.loadPublicKey(sel.publicKey!);
    const ev = he2.createEvaluator(pk, 1);
    const ct = he2.loadCiphertext(blocks[0]!, 'fresh');
    ev.addBlock(ct, [V_KEYS.map((_, j) => 1n << BigInt(j))]);
    ct.delete();
    const plan = he2.resultPlan(1, bound);
    const resultBytes = ev.finish(0, 0n, plan);
    ev.delete();
    pk.delete();
    // ⌊Δ/4⌋ on coefficient 0 of c0 (full form: c0 then c1, each primes × N little-endian words).
    const loaded = he2.loadCiphertext(resultBytes, plan.primes as 1 | 2 | 3);
    loaded.delete();
    const dv = new DataView(resultBytes.buffer, resultBytes.byteOffset, resultBytes.byteLength);
    const c0At = resultBytes.length - 2 * plan.primes * N * 8;
    const primes = he2.dataPrimes.slice(0, plan.primes);
    const q = primes.reduce((x, y) => x * y, 1n);
    const quarterDelta = q / he2.t / 4n;
    if (!options.revealToValueHolder) primes.forEach((p, l) => {
      const pos = c0At + l * N * 8;
      dv.setBigUint64(pos, (dv.getBigUint64(pos, true) + (quarterDelta % p)) % p, true);
    });
    note(await I.step(codec.encodeResult({ ciphertexts: [resultBytes] })));
    const sums = got.find((f) => f[0] === codec.PsiSumMessage.SUMS);
    if (sums) view.sums = codec.decodeSums(sums, 1);
    // V holds no secret key: there is nothing it can decrypt; its view is the frames above.
    view.recovered = undefined;
    if (I.done) view.idHolder = I.done;
    if (I.failed) view.idHolderError = I.failed;
  } finally {
    await I.machine.return(undefined as never).catch(() => {});
    he2.delete();
    await executor.close();
  }
  return view;
}

/** Σ_j 2^j s_j: what the crafted multipliers w_j = 2^j sum to over a selection. */
const weighted = (set: string[]): bigint => truth(set).reduce((acc, s, j) => acc + (s ? 1n << BigInt(j) : 0n), 0n);

const attack = (idSet: string[], options: PsiSumProtocolOptions): Promise<View> =>
  (codec.PSI_SUM_VERSION as number) === 1 ? attackVersion1(idSet, options) : attackVersion2(idSet, options);

describe('issue 16 finding 1: a malicious value holder learns nothing of the ID holder selection', () => {
  it('V is no recipient: it cannot recover the selection and receives nothing after its result', async () => {
    const options: PsiSumProtocolOptions = { minCohort: 0, revealToIdHolder: true, revealToValueHolder: false };
    const a = await attack(I_SET_A, options);
    const b = await attack(I_SET_B, options);
    // The heart of the finding: V must not reconstruct I's selection.
    expect(a.recovered).not.toEqual(truth(I_SET_A));
    expect(b.recovered).not.toEqual(truth(I_SET_B));
    // V's whole view: the same message kinds and sizes for two ID sets of equal count …
    expect(a.received).toEqual(b.received);
    // … and nothing but I's points, its SELECTION and its ciphertext blocks (no result, no sums).
    const kinds = new Set(a.received.map((r) => r.kind));
    expect([...kinds].sort()).toEqual([codec.PsiSumMessage.POINTS, codec.PsiSumMessage.SELECTION, codec.PsiSumMessage.CIPHERTEXT].sort());
    // I, a recipient, either noticed the tampered result (and withheld the sums from its own
    // caller, without a message V could see) or decrypted the right value anyway.
    expect(a.idHolderError).toBeUndefined();
    expect(a.idHolder?.count).toBe(8n);
    if (a.idHolder?.resultRejected !== true) expect(a.idHolder?.sums).toEqual([weighted(I_SET_A)]);
  }, 300_000);

  it('V is a recipient with crafted multipliers: it learns their sum over the selection and nothing else', async () => {
    const options: PsiSumProtocolOptions = { minCohort: 0, revealToIdHolder: false, revealToValueHolder: true };
    const a = await attack(I_SET_A, options);
    const b = await attack(I_SET_B, options);
    expect(a.recovered).not.toEqual(truth(I_SET_A));
    // Same kinds and sizes up to the released outputs, which are the only difference.
    expect(a.received).toEqual(b.received);
    // The inherent exact-sum leakage (SECURITY.md): Σ_j 2^j s_j, i.e. ≤ plainBits memberships.
    expect(a.sums).toEqual([weighted(I_SET_A)]);
    expect(b.sums).toEqual([weighted(I_SET_B)]);
  }, 300_000);
});
