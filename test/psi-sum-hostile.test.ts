/**
 * psi-sum against a hostile peer: the honest party runs the real role function over an in-memory
 * transport; the test plays the other side with crafted frames. Every case must end with a typed
 * error (never a hang, never a wrong result). The value holder checks the ID holder's HE objects
 * (public key, selection blocks) before SEAL parses them, as the ID holder checks V's results.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DataportError,
  HeParameterMismatchError,
  InvalidPointError,
  MalformedMessageError,
  ProtocolVersionError,
  UnexpectedMessageError,
  VerificationFailedError,
} from '../src/errors.js';
import { createInlineExecutor, type CryptoExecutor } from '../src/protocols/executor.js';
import {
  PSI_SUM_VERSION,
  PointRound,
  encodeCiphertext,
  encodePoints,
  encodeResult,
  encodeSelection,
  encodeSetup,
  decodeSetup,
  decodePoints,
  decodeCiphertext,
  decodeSelection,
  type ColumnSpec,
} from '../src/protocols/psi-sum/codec.js';
import { HeContext, type HeKeyPair } from '../src/protocols/psi-sum/he.js';
import { runPsiSumIdHolder, runPsiSumValueHolder, type PsiSumPartyOutcome, type PsiSumProtocolOptions } from '../src/protocols/psi-sum/protocol.js';
import { createMemoryTransportPair } from '../src/transport/memory.js';
import type { FrameTransport } from '../src/transport/types.js';

const enc = new TextEncoder();
const ekm = new Uint8Array(32).fill(7);
const options: PsiSumProtocolOptions = { minCohort: 0, revealToIdHolder: true, revealToValueHolder: true };
const columns: ColumnSpec[] = [{ name: 'v', decimals: 0, bound: 100n }];

let executor: CryptoExecutor;
let he: HeContext;
let keys: HeKeyPair;
let plainBits: number;

beforeAll(async () => {
  executor = await createInlineExecutor();
  plainBits = 20;
  he = await HeContext.create(plainBits);
  keys = he.generateKeys();
}, 120_000);
afterAll(async () => {
  keys?.delete();
  he?.delete();
  await executor?.close();
});

function setup(over: Partial<Parameters<typeof encodeSetup>[0]> = {}): Uint8Array {
  return encodeSetup({ version: PSI_SUM_VERSION, plainBits, plainModulus: he.t, valueKeys: 2, columns, ...over });
}

async function validPoints(n: number): Promise<Uint8Array> {
  const recs = Array.from({ length: n }, (_, i) => enc.encode(`k${i}`));
  return executor.hashToGroup(recs, ekm);
}

/** Runs the ID holder (2 keys) against `script`, which plays V on the other end. */
async function againstIdHolder(script: (t: FrameTransport) => Promise<void>, peerSetSize = 2): Promise<unknown> {
  const [a, b] = createMemoryTransportPair();
  const run = runPsiSumIdHolder({ transport: a, ekm, executor, options, peerSetSize, keys: [enc.encode('k0'), enc.encode('x')] });
  const fake = script(b).catch(() => {});
  const err = await run.then(
    () => undefined,
    (e: unknown) => e,
  );
  await b.close().catch(() => {});
  await fake;
  return err;
}

/** Runs the value holder (2 keys) against `script`, which plays I. */
async function againstValueHolder(script: (t: FrameTransport) => Promise<void>): Promise<unknown> {
  const [a, b] = createMemoryTransportPair();
  const run = runPsiSumValueHolder({
    transport: a,
    ekm,
    executor,
    options,
    peerSetSize: 1,
    input: { keys: [enc.encode('k0'), enc.encode('k1')], columns, totals: [[5n, -7n]] },
  });
  const fake = script(b).catch(() => {});
  const err = await run.then(
    () => undefined,
    (e: unknown) => e,
  );
  await b.close().catch(() => {});
  await fake;
  return err;
}

/** Plays V honestly up to I's selection; returns I's public key and blocks. */
async function upToSelection(t: FrameTransport): Promise<{ publicKey: Uint8Array; blocks: Uint8Array[] }> {
  await t.send(setup());
  await t.send(encodePoints(PointRound.VALUE_KEYS, await validPoints(2)));
  decodePoints(await t.receive(), PointRound.ID_KEYS);
  await t.send(encodePoints(PointRound.ID_KEYS_REMASKED, await validPoints(2)));
  const sel = decodeSelection(await t.receive());
  return { publicKey: sel.publicKey!, blocks: [decodeCiphertext(await t.receive()).ciphertext] };
}

/** An honest result of V's for I's key and blocks, with the constant term `constant`. */
function honestResult(publicKey: Uint8Array, blocks: Uint8Array[], values: bigint[], constant = 0n): Uint8Array {
  const pk = he.loadPublicKey(publicKey);
  const ev = he.createEvaluator(pk, 1);
  try {
    const ct = he.loadCiphertext(blocks[0]!, 'fresh');
    ev.addBlock(ct, [values]);
    ct.delete();
    return ev.finish(0, constant, he.resultPlan(1, columns[0]!.bound));
  } finally {
    ev.delete();
    pk.delete();
  }
}

describe('psi-sum ID holder vs a hostile value holder', () => {
  it('garbage or truncated SETUP → MalformedMessageError; a version-1 SETUP → ProtocolVersionError', async () => {
    expect(await againstIdHolder((t) => t.send(Uint8Array.of(0x51, PSI_SUM_VERSION, 2, 3)))).toBeInstanceOf(MalformedMessageError);
    expect(await againstIdHolder((t) => t.send(new Uint8Array(100)))).toBeInstanceOf(MalformedMessageError);
    const s = setup();
    expect(await againstIdHolder((t) => t.send(s.subarray(0, s.length - 1)))).toBeInstanceOf(MalformedMessageError);
    expect(await againstIdHolder((t) => t.send(setup({ version: 1 })))).toBeInstanceOf(ProtocolVersionError);
  }, 120_000);

  it('SETUP with a set size other than the declared one → MalformedMessageError', async () => {
    expect(await againstIdHolder((t) => t.send(setup({ valueKeys: 3 })))).toBeInstanceOf(MalformedMessageError);
  }, 120_000);

  it('mismatched HE parameters → HeParameterMismatchError', async () => {
    expect(await againstIdHolder((t) => t.send(setup({ plainBits: 60 })))).toBeInstanceOf(HeParameterMismatchError);
    expect(await againstIdHolder((t) => t.send(setup({ plainModulus: he.t + 2n })))).toBeInstanceOf(HeParameterMismatchError);
    // A bound its own plaintext modulus cannot hold (the sum could wrap).
    expect(await againstIdHolder((t) => t.send(setup({ columns: [{ name: 'v', decimals: 0, bound: 1n << 40n }] })))).toBeInstanceOf(
      HeParameterMismatchError,
    );
  }, 120_000);

  it('invalid (low-order) points → InvalidPointError', async () => {
    const err = await againstIdHolder(async (t) => {
      await t.send(setup());
      await t.send(encodePoints(PointRound.VALUE_KEYS, new Uint8Array(64))); // u = 0 is low order
    });
    expect(err).toBeInstanceOf(InvalidPointError);
  }, 120_000);

  it('too many points, wrong round → MalformedMessageError', async () => {
    const pts = await validPoints(3);
    expect(
      await againstIdHolder(async (t) => {
        await t.send(setup());
        await t.send(encodePoints(PointRound.VALUE_KEYS, pts));
      }),
    ).toBeInstanceOf(MalformedMessageError);
    expect(
      await againstIdHolder(async (t) => {
        await t.send(setup());
        await t.send(encodePoints(PointRound.ID_KEYS, pts.subarray(0, 64)));
      }),
    ).toBeInstanceOf(MalformedMessageError);
  }, 120_000);

  it('garbage, wrong-width, compressed, echoed or wrong-level results → typed errors before SEAL parses them', async () => {
    const garbage = new Uint8Array(4000);
    globalThis.crypto.getRandomValues(garbage);
    expect(await againstIdHolder(async (t) => (await upToSelection(t), t.send(encodeResult({ ciphertexts: [garbage] }))))).toBeInstanceOf(MalformedMessageError);
    expect(await againstIdHolder(async (t) => (await upToSelection(t), t.send(Uint8Array.of(0x54, 2))))).toBeInstanceOf(MalformedMessageError);
    // I's own fresh block echoed back as the result.
    expect(await againstIdHolder(async (t) => t.send(encodeResult({ ciphertexts: (await upToSelection(t)).blocks })))).toBeInstanceOf(HeParameterMismatchError);
    // An honest result, but compressed (SEAL's zstd path can abort the WebAssembly instance).
    const compressedErr = await againstIdHolder(async (t) => {
      const { publicKey, blocks } = await upToSelection(t);
      const bytes = honestResult(publicKey, blocks, [1n, 2n]);
      const ct = he.loadCiphertext(bytes, he.resultPlan(1, 100n).primes as 1);
      const z = ct.saveArray();
      ct.delete();
      await t.send(encodeResult({ ciphertexts: [z] }));
    });
    expect(compressedErr).toBeInstanceOf(MalformedMessageError);
    // An honest result left at the data level instead of the agreed one.
    const levelErr = await againstIdHolder(async (t) => {
      const { publicKey, blocks } = await upToSelection(t);
      const pk = he.loadPublicKey(publicKey);
      const ev = he.createEvaluator(pk, 1);
      const bytes = ev.savePartials()[0]!;
      ev.delete();
      pk.delete();
      void blocks;
      await t.send(encodeResult({ ciphertexts: [bytes] }));
    });
    expect(levelErr).toBeInstanceOf(HeParameterMismatchError);
  }, 120_000);

  it('a result beyond the declared bound × count: withheld from I, and I’s messages do not change when V is no recipient', async () => {
    // V recipient too: I refuses openly (V would learn the sum anyway).
    const both = await againstIdHolder(async (t) => {
      const { publicKey, blocks } = await upToSelection(t);
      await t.send(encodeResult({ ciphertexts: [honestResult(publicKey, blocks, [0n, 0n], 5000n)] }));
    });
    expect(both).toBeInstanceOf(VerificationFailedError);
    // V no recipient: the run completes as usual; the outcome says the result was rejected.
    const [a, b] = createMemoryTransportPair();
    const ids = runPsiSumIdHolder({
      transport: a,
      ekm,
      executor,
      options: { ...options, revealToValueHolder: false },
      peerSetSize: 2,
      keys: [enc.encode('k0'), enc.encode('x')],
    });
    const fake = (async () => {
      const { publicKey, blocks } = await upToSelection(b);
      await b.send(encodeResult({ ciphertexts: [honestResult(publicKey, blocks, [0n, 0n], 5000n)] }));
    })();
    const out: PsiSumPartyOutcome = await ids;
    await fake;
    expect(out.resultRejected).toBe(true);
    expect(out.sums).toBeUndefined();
    // (That V then receives nothing at all is asserted in test/attacks/psi-sum-malicious-value-holder.test.ts.)
    await b.close();
  }, 120_000);
});

describe('psi-sum value holder vs a hostile ID holder', () => {
  /** Plays I honestly up to SELECTION, then runs `rest`. */
  function upToSelectionAsI(rest: (t: FrameTransport) => Promise<void>) {
    return async (t: FrameTransport) => {
      decodeSetup(await t.receive());
      decodePoints(await t.receive(), PointRound.VALUE_KEYS);
      await t.send(encodePoints(PointRound.ID_KEYS, await validPoints(1)));
      decodePoints(await t.receive(), PointRound.ID_KEYS_REMASKED);
      await rest(t);
    };
  }

  it('a public key that is not one, a full (unseeded) one or a compressed one → MalformedMessageError, before SEAL parses it', async () => {
    const junk = new Uint8Array(2000).fill(9);
    expect(await againstValueHolder(upToSelectionAsI((t) => t.send(encodeSelection({ withheld: false, count: 1n, publicKey: junk }))))).toBeInstanceOf(
      MalformedMessageError,
    );
    const compressed = keys.publicKey.saveArray(); // node-seal's default: zstd
    const full = compressed.slice();
    full[5] = 0; // claiming to be uncompressed: a full key is refused by its shape (not seeded)
    new DataView(full.buffer).setBigUint64(8, BigInt(full.length), true);
    for (const publicKey of [compressed, full]) {
      expect(await againstValueHolder(upToSelectionAsI((t) => t.send(encodeSelection({ withheld: false, count: 1n, publicKey }))))).toBeInstanceOf(
        MalformedMessageError,
      );
    }
  }, 120_000);

  it('garbage, out-of-order, result-shaped or foreign-parameter selection blocks → typed errors', async () => {
    const sel = encodeSelection({ withheld: false, count: 1n, publicKey: keys.publicKeyBytes });
    const garbage = new Uint8Array(4000);
    globalThis.crypto.getRandomValues(garbage);
    expect(await againstValueHolder(upToSelectionAsI(async (t) => (await t.send(sel), t.send(encodeCiphertext(0, 0, garbage)))))).toBeInstanceOf(
      MalformedMessageError,
    );
    const [good] = he.encryptValues(keys, [1n, 0n]);
    expect(await againstValueHolder(upToSelectionAsI(async (t) => (await t.send(sel), t.send(encodeCiphertext(0, 1, good!)))))).toBeInstanceOf(
      UnexpectedMessageError,
    );
    // A full (result-shaped) ciphertext where a seeded block is expected.
    const pk = he.loadPublicKey(keys.publicKeyBytes);
    const ev = he.createEvaluator(pk, 1);
    const fullCt = ev.savePartials()[0]!;
    ev.delete();
    pk.delete();
    expect(await againstValueHolder(upToSelectionAsI(async (t) => (await t.send(sel), t.send(encodeCiphertext(0, 0, fullCt)))))).toBeInstanceOf(
      HeParameterMismatchError,
    );
    const other = await HeContext.create(25);
    const k2 = other.generateKeys();
    const [foreign] = other.encryptValues(k2, [1n]);
    k2.delete();
    const err = await againstValueHolder(upToSelectionAsI(async (t) => (await t.send(sel), t.send(encodeCiphertext(0, 0, foreign!)))));
    expect(err instanceof HeParameterMismatchError || err instanceof MalformedMessageError).toBe(true);
  }, 120_000);

  it('an implausible count → MalformedMessageError; a missing count → UnexpectedMessageError', async () => {
    expect(
      await againstValueHolder(upToSelectionAsI((t) => t.send(encodeSelection({ withheld: false, count: 99n, publicKey: keys.publicKeyBytes })))),
    ).toBeInstanceOf(MalformedMessageError);
    expect(await againstValueHolder(upToSelectionAsI((t) => t.send(encodeSelection({ withheld: false, publicKey: keys.publicKeyBytes }))))).toBeInstanceOf(
      UnexpectedMessageError,
    );
  }, 120_000);

  it('the peer closing mid-run ends with a typed error, not a hang', async () => {
    const err = await againstValueHolder(async (t) => {
      await t.receive();
      await t.close();
    });
    expect(err).toBeInstanceOf(DataportError);
  }, 120_000);
});
