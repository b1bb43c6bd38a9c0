/**
 * A hostile or broken PPCA peer (the list): every case ends with a typed error on both
 * sides — the side that detects it fails with the precise error and refuses the peer's pushes,
 * so the other side fails on its next push or, if it only waits, after the (small) receive
 * timeout. No sleeps: the in-memory link's tap plays the hostile peer.
 */
import { describe, expect, it } from 'vitest';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { createInlineExecutor } from '../src/protocols/executor.js';
import { runPpcaPsi, type PpcaPsiResult } from '../src/protocols/ppca/index.js';
import { PushRequestSchema, PushResponseSchema, TransType, decodeCipherBatch, encodeCipherBatch, encodePushRequest } from '../src/protocols/ppca/codec.js';
import { createMemoryPpcaLinkPair, createPpcaLinkEndpoint, type MemoryPpcaLinkOptions } from '../src/transport/ppca-link.js';
import {
  DataportError,
  InvalidPointError,
  LimitExceededError,
  MalformedMessageError,
  TimeoutError,
  TransportClosedError,
  UnexpectedMessageError,
} from '../src/errors.js';
import type { PushRequest } from '../src/protocols/ppca/codec.js';
import { decodeSm2Point } from '../src/crypto/sm2/curve.js';
import { EcdhPsiCipherBatchSchema } from '../src/protocols/ppca/gen/interconnection/runtime/ecdh_psi_pb.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const ex = await createInlineExecutor();
const keys = (n: number, p = 'k'): Uint8Array[] => Array.from({ length: n }, (_, i) => enc(`${p}${i}`));
const decode = (b: Uint8Array): PushRequest => fromBinary(PushRequestSchema, b);
const base = (r: PushRequest): string => r.key.split('\x01\x02')[0]!;
const isNormal = (r: PushRequest): boolean => /:P2P-/.test(r.key);

async function run(tap: MemoryPpcaLinkOptions['tap'], opts: { a?: Uint8Array[]; b?: Uint8Array[]; suite?: 'sm2-sha256-tar'; batchSize?: number; link?: Omit<MemoryPpcaLinkOptions, 'tap'> } = {}) {
  const [l0, l1] = createMemoryPpcaLinkPair({ recvTimeoutMs: 1500, ...opts.link, tap });
  const common = { executor: ex, batchSize: opts.batchSize ?? 2, ...(opts.suite ? { suite: opts.suite } : {}) };
  return Promise.allSettled([
    runPpcaPsi({ rank: 0, records: opts.a ?? keys(5), link: l0, ...common }),
    runPpcaPsi({ rank: 1, records: opts.b ?? keys(4), link: l1, ...common }),
  ]);
}

function failed(r: PromiseSettledResult<PpcaPsiResult>): DataportError {
  expect(r.status).toBe('rejected');
  const e = (r as PromiseRejectedResult).reason;
  expect(e).toBeInstanceOf(DataportError);
  return e as DataportError;
}

/** The side that did not detect the problem: refused on its next push, or timed out waiting. */
function peerStopped(r: PromiseSettledResult<PpcaPsiResult>): void {
  const e = failed(r);
  expect(e instanceof TransportClosedError || e instanceof TimeoutError, `${e.name}: ${e.message}`).toBe(true);
}

/** Rewrites the n-th normal message rank `from` sends (1-based). */
function rewriteNth(from: 0 | 1, n: number, f: (r: PushRequest) => Uint8Array | Uint8Array[]): MemoryPpcaLinkOptions['tap'] {
  let seen = 0;
  return (who, bytes) => {
    if (who !== from) return bytes;
    const r = decode(bytes);
    if (!isNormal(r) || ++seen !== n) return bytes;
    return f(r);
  };
}

/** A compressed encoding whose x is not the abscissa of any SM2 point (the smallest such x). */
const notOnCurve = ((): Uint8Array => {
  for (let x = 1; ; x++) {
    const c = new Uint8Array(33);
    c[0] = 2;
    c[32] = x;
    try {
      decodeSm2Point(c);
    } catch {
      return c;
    }
  }
})();

describe('a hostile PPCA peer', () => {
  it('never ACKs: the throttle window holds (at most 10 unacknowledged), then a timeout on both sides', async () => {
    let normalFrom1 = 0;
    const rs = await run(
      (from, bytes) => {
        const r = decode(bytes);
        if (from === 0 && r.key.startsWith('ACK')) return null; // rank 0 never acknowledges
        if (from === 1 && isNormal(r)) normalFrom1++;
        return bytes;
      },
      { a: keys(3), b: keys(40), batchSize: 1 },
    );
    expect(normalFrom1).toBe(10);
    // Whichever bounded wait of rank 1 ends first: its held-back queue or a message it waits for.
    const e = failed(rs[1]);
    expect(e).toBeInstanceOf(TimeoutError);
    expect(e.message).toMatch(/throttle window wait timeout|no message/);
    peerStopped(rs[0]);
  });

  it('never ACKs, with nothing to wait for: the held-back queue fails with the throttle timeout', async () => {
    const [l0, l1] = createMemoryPpcaLinkPair({ recvTimeoutMs: 500, tap: (from, bytes) => (from === 0 && decode(bytes).key.startsWith('ACK') ? null : bytes) });
    await Promise.all([l0.connect(), l1.connect()]);
    const sends = Array.from({ length: 12 }, () => l1.send('main', new Uint8Array([1])));
    const settled = await Promise.allSettled(sends);
    expect(settled.filter((r) => r.status === 'fulfilled').length).toBe(10);
    const e = (settled[11] as PromiseRejectedResult).reason;
    expect(e).toBeInstanceOf(TimeoutError);
    expect(e.message).toMatch(/throttle window wait timeout: the peer acknowledged none of 10 messages/);
  });

  it('never sends FIN: a bounded wait, then a clear error (the FIN-sending side completes)', async () => {
    const rs = await run((from, bytes) => (from === 0 && decode(bytes).key.startsWith('FIN') ? null : bytes));
    expect(rs[0].status).toBe('fulfilled');
    const e = failed(rs[1]);
    expect(e).toBeInstanceOf(TimeoutError);
    expect(e.message).toMatch(/the peer did not finish the link \(no FIN\)/);
  });

  it('sends malformed protobuf', async () => {
    const rs = await run(rewriteNth(1, 2, () => new Uint8Array([0x0a, 0xff, 0xff, 0xff])));
    expect(failed(rs[0])).toBeInstanceOf(MalformedMessageError);
    expect(failed(rs[1]).message).toMatch(/the peer refused a message: 31100100 INVALID_REQUEST: PushRequest: malformed protobuf/);
  });

  it('sends an unknown key (another channel, another pair of ranks)', async () => {
    for (const key of ['other:P2P-2:1->0\x01\x022', 'root:P2P-2:1->7\x01\x022', 'root:P2P-2:1->0;x\x01\x022', 'hello']) {
      const rs = await run(rewriteNth(1, 2, (r) => encodePushRequest({ ...r, key })));
      const e = failed(rs[0]);
      expect(e, key).toBeInstanceOf(UnexpectedMessageError);
      expect(e.message).toMatch(/unknown key/);
      peerStopped(rs[1]);
    }
  });

  it('sends a wrong sender_rank', async () => {
    const rs = await run(rewriteNth(1, 1, (r) => encodePushRequest({ ...r, senderRank: 0n })));
    expect(failed(rs[0]).message).toMatch(/dispatch error: a message with sender_rank 0, the peer is rank 1/);
    expect(failed(rs[1]).message).toMatch(/31100001 UNEXPECTED_ERROR/);
  });

  it('sends a chunk past message_length', async () => {
    const rs = await run(
      rewriteNth(1, 2, (r) => (r.transType === TransType.CHUNKED ? encodePushRequest({ ...r, chunkInfo: { ...r.chunkInfo!, chunkOffset: r.chunkInfo!.messageLength - 1n } }) : encodePushRequest(r))),
      { link: { chunkBytes: 20 } },
    );
    expect(failed(rs[0]).message).toMatch(/a chunk past message_length/);
    peerStopped(rs[1]);
  });

  it('a retried push (same seq, same key) is dropped and the run completes', async () => {
    const rs = await run(rewriteNth(1, 2, (r) => [encodePushRequest(r), encodePushRequest(r)]));
    expect(rs.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled']);
    expect((rs[0] as PromiseFulfilledResult<PpcaPsiResult>).value.indices).toEqual([0, 1, 2, 3]);
  });

  it('sends a duplicated seq on another message', async () => {
    let firstSeq = '';
    const rs = await run((from, bytes) => {
      if (from !== 1) return bytes;
      const r = decode(bytes);
      if (!isNormal(r)) return bytes;
      const [k, s] = r.key.split('\x01\x02');
      if (!firstSeq) {
        firstSeq = s!;
        return bytes;
      }
      return encodePushRequest({ ...r, key: `${k}\x01\x02${firstSeq}` });
    });
    const e = failed(rs[0]);
    expect(e).toBeInstanceOf(UnexpectedMessageError);
    expect(e.message).toMatch(/seq 1 used twice/);
    peerStopped(rs[1]);
  });

  it('sends a batch whose size differs from its count', async () => {
    const rs = await run(
      rewriteNth(1, 2, (r) => {
        const b = fromBinary(EcdhPsiCipherBatchSchema, r.value);
        return encodePushRequest({ ...r, value: toBinary(EcdhPsiCipherBatchSchema, { ...b, count: b.count + 1 }) });
      }),
    );
    const e = failed(rs[0]);
    expect(e).toBeInstanceOf(MalformedMessageError);
    expect(e.message).toMatch(/does not hold count = 3 items/);
    peerStopped(rs[1]);
  });

  it('answers with a dual.enc batch of another count than the enc batch', async () => {
    // rank 1's first dual.enc message answers rank 0's first enc batch (2 items): claim 1
    let done = false;
    const rs = await run((from, bytes) => {
      if (from !== 1 || done) return bytes;
      const r = decode(bytes);
      if (!base(r).startsWith('root-0:')) return bytes;
      done = true;
      const b = decodeCipherBatch(r.value, 'dual.enc');
      return encodePushRequest({ ...r, value: encodeCipherBatch('dual.enc', b.batchIndex, false, 1, b.ciphertext.subarray(0, 12)) });
    });
    expect(failed(rs[0]).message).toMatch(/dual.enc batch 0 holds 1 items, enc batch 0 had 2/);
    peerStopped(rs[1]);
  });

  it('sends a point not on the curve (SM2)', async () => {
    const rs = await run(
      rewriteNth(1, 2, (r) => {
        const b = fromBinary(EcdhPsiCipherBatchSchema, r.value);
        const ct = b.ciphertext.slice();
        ct.set(notOnCurve, 0);
        return encodePushRequest({ ...r, value: toBinary(EcdhPsiCipherBatchSchema, { ...b, ciphertext: ct }) });
      }),
      { suite: 'sm2-sha256-tar' },
    );
    const e = failed(rs[0]);
    expect(e).toBeInstanceOf(InvalidPointError);
    expect(e.message).toMatch(/enc batch 0: invalid SM2 point at index 0/);
    peerStopped(rs[1]);
  });

  it('sends batches out of order (index 1 first)', async () => {
    const rs = await run(
      rewriteNth(1, 2, (r) => {
        const b = fromBinary(EcdhPsiCipherBatchSchema, r.value);
        return encodePushRequest({ ...r, value: toBinary(EcdhPsiCipherBatchSchema, { ...b, batchIndex: 1 }) });
      }),
    );
    expect(failed(rs[0]).message).toMatch(/enc batch 1 where batch 0 was expected/);
    peerStopped(rs[1]);
  });

  it('floods messages far ahead of what was read', async () => {
    const rs = await run(rewriteNth(1, 2, (r) => encodePushRequest({ ...r, key: r.key.replace('P2P-2', 'P2P-900') })), { link: { maxPendingMessages: 16 } });
    expect(failed(rs[0])).toBeInstanceOf(LimitExceededError);
    peerStopped(rs[1]);
  });
});

describe('CHUNKED reassembly (brief §1.5)', () => {
  const key = 'root:P2P-1:1->0\x01\x021';
  const chunk = (value: Uint8Array, length: number, offset: number): Uint8Array =>
    encodePushRequest(create(PushRequestSchema, { senderRank: 1n, key, value, transType: TransType.CHUNKED, chunkInfo: { messageLength: BigInt(length), chunkOffset: BigInt(offset) } }));
  const ok = (answer: Uint8Array): number => fromBinary(PushResponseSchema, answer).header?.errorCode ?? -1;
  const endpoint = () => createPpcaLinkEndpoint({ rank: 0, recvTimeoutMs: 1000 }, async () => toBinary(PushResponseSchema, create(PushResponseSchema, { header: {} })));

  it('reassembles chunks in shuffled order, ignoring a repeated chunk', async () => {
    const msg = new Uint8Array(1000).map((_, i) => (i * 7) & 0xff);
    const parts = Array.from({ length: 10 }, (_, i) => chunk(msg.subarray(i * 100, (i + 1) * 100), 1000, i * 100));
    const order = [7, 2, 9, 0, 0, 5, 1, 8, 3, 6, 4];
    const e = endpoint();
    for (const i of order) expect(ok(e.onPush(parts[i]!))).toBe(0);
    expect(await e.recv('main')).toEqual(msg);
  });

  it('refuses overlapping chunks that would leave a gap', async () => {
    const e = endpoint();
    expect(ok(e.onPush(chunk(new Uint8Array(60), 100, 0)))).toBe(0);
    expect(ok(e.onPush(chunk(new Uint8Array(40), 100, 50)))).not.toBe(0);
    expect(e.failure).toBeInstanceOf(MalformedMessageError);
    await expect(e.recv('main')).rejects.toBeInstanceOf(MalformedMessageError);
  });

  it('refuses a message_length above the limit before allocating', () => {
    const e = createPpcaLinkEndpoint({ rank: 0, maxMessageBytes: 1000 }, async () => new Uint8Array());
    expect(ok(e.onPush(chunk(new Uint8Array(10), 1001, 0)))).not.toBe(0);
    expect(e.failure).toBeInstanceOf(LimitExceededError);
  });

  it('after a failure every push is refused', () => {
    const e = endpoint();
    e.abort(new TimeoutError());
    expect(ok(e.onPush(chunk(new Uint8Array(10), 10, 0)))).toBe(31100001);
  });
});
