/**
 * psi-sum against a hostile peer: the honest party runs the real role function over an in-memory
 * transport; the test plays the other side with crafted frames. Every case must end with a typed
 * error (never a hang, never a wrong result).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DataportError,
  HeParameterMismatchError,
  InvalidPointError,
  MalformedMessageError,
  UnexpectedMessageError,
} from '../src/errors.js';
import { createInlineExecutor, type CryptoExecutor } from '../src/protocols/executor.js';
import {
  PointRound,
  encodeCiphertext,
  encodePoints,
  encodeResult,
  encodeSetup,
  decodeSetup,
  decodePoints,
  decodeCiphertext,
  type ColumnSpec,
} from '../src/protocols/psi-sum/codec.js';
import { HeContext, type HeKeyPair } from '../src/protocols/psi-sum/he.js';
import { runPsiSumIdHolder, runPsiSumValueHolder, type PsiSumProtocolOptions } from '../src/protocols/psi-sum/protocol.js';
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
  return encodeSetup({ version: 1, plainBits, plainModulus: he.t, valueKeys: 2, columns, publicKey: keys.publicKeyBytes, ...over });
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

describe('psi-sum ID holder vs a hostile value holder', () => {
  it('garbage or truncated SETUP → MalformedMessageError', async () => {
    expect(await againstIdHolder((t) => t.send(Uint8Array.of(0x51, 1, 2, 3)))).toBeInstanceOf(MalformedMessageError);
    expect(await againstIdHolder((t) => t.send(new Uint8Array(100)))).toBeInstanceOf(MalformedMessageError);
    const s = setup();
    expect(await againstIdHolder((t) => t.send(s.subarray(0, s.length - 1)))).toBeInstanceOf(MalformedMessageError);
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

  it('a public key that is not one → MalformedMessageError', async () => {
    const junk = new Uint8Array(2000).fill(9);
    expect(await againstIdHolder((t) => t.send(setup({ publicKey: junk })))).toBeInstanceOf(MalformedMessageError);
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

  it('garbage, oversized, out-of-order or foreign-parameter ciphertexts → typed errors', async () => {
    const pts = await validPoints(2);
    const prefix = async (t: FrameTransport) => {
      await t.send(setup());
      await t.send(encodePoints(PointRound.VALUE_KEYS, pts));
    };
    const garbage = new Uint8Array(4000);
    globalThis.crypto.getRandomValues(garbage);
    expect(await againstIdHolder(async (t) => (await prefix(t), t.send(encodeCiphertext(0, 0, garbage))))).toBeInstanceOf(MalformedMessageError);
    // Oversized: a length field beyond the limit, crafted by hand (the encoder refuses it).
    const big = new Uint8Array(1 + 1 + 4 + 4 + 16);
    big[0] = 0x53;
    new DataView(big.buffer).setUint32(6, 2_000_000);
    expect(await againstIdHolder(async (t) => (await prefix(t), t.send(big)))).toBeInstanceOf(MalformedMessageError);
    const [good] = he.encryptValues(keys, [1n, 2n]);
    expect(await againstIdHolder(async (t) => (await prefix(t), t.send(encodeCiphertext(0, 1, good!))))).toBeInstanceOf(UnexpectedMessageError);
    // A ciphertext under another plaintext modulus.
    const other = await HeContext.create(25);
    const k2 = other.generateKeys();
    const [foreign] = other.encryptValues(k2, [1n]);
    k2.delete();
    other.delete();
    const err = await againstIdHolder(async (t) => (await prefix(t), t.send(encodeCiphertext(0, 0, foreign!))));
    expect(err instanceof HeParameterMismatchError || err instanceof MalformedMessageError).toBe(true);
  }, 120_000);
});

describe('psi-sum value holder vs a hostile ID holder', () => {
  /** Plays I honestly up to RESULT, then sends `result`. */
  function upToResult(result: (t: FrameTransport) => Promise<void>) {
    return async (t: FrameTransport) => {
      const s = decodeSetup(await t.receive());
      await t.receive(); // V's points
      for (let i = 0; i < s.columns.length; i++) await t.receive(); // ciphertexts
      await t.send(encodePoints(PointRound.ID_KEYS, await validPoints(1)));
      decodePoints(await t.receive(), PointRound.ID_KEYS_REMASKED);
      await result(t);
    };
  }

  it('a RESULT with the wrong number of ciphertexts or garbage → MalformedMessageError', async () => {
    expect(await againstValueHolder(upToResult((t) => t.send(encodeResult({ withheld: false, count: 1n, ciphertexts: [] }))))).toBeInstanceOf(
      MalformedMessageError,
    );
    expect(
      await againstValueHolder(upToResult((t) => t.send(encodeResult({ withheld: false, count: 1n, ciphertexts: [new Uint8Array(500).fill(1)] })))),
    ).toBeInstanceOf(MalformedMessageError);
    expect(await againstValueHolder(upToResult((t) => t.send(Uint8Array.of(0x54, 9))))).toBeInstanceOf(MalformedMessageError);
  }, 120_000);

  it('an implausible count → MalformedMessageError; a missing count → UnexpectedMessageError', async () => {
    expect(await againstValueHolder(upToResult((t) => t.send(encodeResult({ withheld: false, count: 99n, ciphertexts: [new Uint8Array(10)] }))))).toBeInstanceOf(
      MalformedMessageError,
    );
    expect(await againstValueHolder(upToResult((t) => t.send(encodeResult({ withheld: false, ciphertexts: [new Uint8Array(10)] }))))).toBeInstanceOf(
      UnexpectedMessageError,
    );
  }, 120_000);

  it('a result ciphertext that is not at the final level (e.g. V’s own fresh one echoed) → HeParameterMismatchError', async () => {
    const err = await againstValueHolder(async (t) => {
      decodeSetup(await t.receive());
      await t.receive();
      const { ciphertext } = decodeCiphertext(await t.receive());
      await t.send(encodePoints(PointRound.ID_KEYS, await validPoints(1)));
      await t.receive();
      await t.send(encodeResult({ withheld: false, count: 1n, ciphertexts: [ciphertext] }));
    });
    expect(err).toBeInstanceOf(HeParameterMismatchError);
  }, 120_000);

  it('the peer closing mid-run ends with a typed error, not a hang', async () => {
    const err = await againstValueHolder(async (t) => {
      await t.receive();
      await t.close();
    });
    expect(err).toBeInstanceOf(DataportError);
  }, 120_000);
});
