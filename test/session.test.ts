import { describe, expect, it, vi } from 'vitest';
import { x25519 } from '@noble/curves/ed25519.js';
import fc from 'fast-check';
import {
  GuardrailRefusedError,
  MalformedMessageError,
  TermsRefusedError,
  TransportClosedError,
  VerificationFailedError,
  ProtocolVersionError,
} from '../src/errors.js';
import { verifyReceipt } from '../src/ledger/receipt.js';
import { sourceCommitment, sourceCommitmentKey } from '../src/session/source-commit.js';
import { generateIdentity, signMessage } from '../src/session/identity.js';
import { concatBytes } from '../src/utils/bytes.js';
import {
  decodeConfirm,
  decodeDecision,
  decodeError,
  decodeHello,
  decodeReceiptView,
  decodeReply,
  encodeConfirmUnsigned,
  encodeHello,
  SessionMessageType,
  type SessionTerms,
} from '../src/session/messages.js';
import { establishSession, type Session, type SessionPolicy } from '../src/session/session.js';
import { createMemoryTransportPair, type MemoryTransportOptions } from '../src/transport/index.js';
import { psiTerms } from './session-fixtures.js';

const requesterId = generateIdentity();
const responderId = generateIdentity();

const terms = psiTerms;

interface PairOptions {
  terms?: SessionTerms;
  policy?: SessionPolicy;
  pinned?: Uint8Array;
  allowedPeers?: Uint8Array[];
  transport?: MemoryTransportOptions;
}

async function handshake(o: PairOptions = {}) {
  const [a, b] = createMemoryTransportPair(o.transport);
  const req = establishSession({
    role: 'requester',
    transport: a,
    identity: requesterId,
    peerPublicKey: o.pinned ?? responderId.publicKey,
    terms: o.terms ?? terms(),
  });
  const res = establishSession({
    role: 'responder',
    transport: b,
    identity: responderId,
    allowedPeers: o.allowedPeers ?? [requesterId.publicKey],
    policy: o.policy ?? {},
    localSetSize: 20,
  });
  const [r1, r2] = await Promise.allSettled([req, res]);
  return { req: r1, res: r2, a, b };
}

function ok(r: PromiseSettledResult<Session>): Session {
  if (r.status === 'rejected') throw r.reason;
  return r.value;
}

describe('session handshake', () => {
  it('authenticates both sides and agrees on session id, ekm and terms', async () => {
    const { req, res } = await handshake();
    const s1 = ok(req);
    const s2 = ok(res);
    expect(s1.sessionId).toHaveLength(16);
    expect(s1.sessionId).toEqual(s2.sessionId);
    expect(s1.ekm).toHaveLength(32);
    expect(s1.ekm).toEqual(s2.ekm);
    expect(s1.transcriptHash).toEqual(s2.transcriptHash);
    expect(s1.peerPublicKey).toEqual(responderId.publicKey);
    expect(s2.peerPublicKey).toEqual(requesterId.publicKey);
    expect(s2.terms).toEqual(terms());
    expect(s1.accepted && s2.accepted).toBe(true);
    expect(s1.responderSetSize).toBe(20);
    expect(s1.channelBound).toBe(false);

    // Data channel both ways, then the co-signed receipt.
    await s1.channel.send(new Uint8Array([1, 2, 3]));
    expect(await s2.channel.receive()).toEqual(new Uint8Array([1, 2, 3]));
    await s2.channel.send(new Uint8Array([4]));
    expect(await s1.channel.receive()).toEqual(new Uint8Array([4]));
    const [r1, r2] = await Promise.all([
      s1.exchangeReceipt({ outcome: 'completed', inputSize: 10, outputSize: 3, computeMs: 5, expectedPeerInputSize: 20 }),
      s2.exchangeReceipt({ outcome: 'completed', inputSize: 20, outputSize: 0, computeMs: 7, expectedPeerInputSize: 10 }),
    ]);
    expect(r1).toEqual(r2);
    verifyReceipt(r1, [requesterId.publicKey, responderId.publicKey]);
    expect(r1.body.sessionId).toEqual(s1.sessionId);
    expect(r1.body.inputSizes).toEqual({ requester: 10, responder: 20 });
    // Only the requester receives the result here, so its size is not disclosed in the receipt.
    expect(r1.body.outputSizes).toEqual({ responder: 0 });
    expect(r1.body.bytesExchanged).toBe(4);
    expect(r1.body.computeMs).toBe(7);
    expect(r1.body.outcome).toBe('completed');
    expect(r1.body.purpose).toBe('programme audit');
    expect(r1.body.options).toEqual({ 'count-only': 'false', truncate: 'none', recipients: 'requester' });
  });

  it('gives every session a fresh id and ekm', async () => {
    const x = ok((await handshake()).req);
    const y = ok((await handshake()).req);
    expect(x.sessionId).not.toEqual(y.sessionId);
    expect(x.ekm).not.toEqual(y.ekm);
  });

  it('wrong pinned key: VerificationFailedError on the requester, a clean refusal on the listener', async () => {
    const { req, res } = await handshake({ pinned: generateIdentity().publicKey });
    expect(req.status).toBe('rejected');
    expect((req as PromiseRejectedResult).reason).toBeInstanceOf(VerificationFailedError);
    expect(res.status).toBe('rejected');
    const e = (res as PromiseRejectedResult).reason;
    expect(e).toBeInstanceOf(VerificationFailedError);
    expect(e.message).toMatch(/^peer: /);
  });

  it('a requester key outside the allow-list is refused on both sides', async () => {
    const { req, res } = await handshake({ allowedPeers: [generateIdentity().publicKey] });
    expect((res as PromiseRejectedResult).reason).toBeInstanceOf(VerificationFailedError);
    const e = (req as PromiseRejectedResult).reason;
    expect(e).toBeInstanceOf(VerificationFailedError);
    expect(e.message).toBe('peer: key not allowed by the peer');
  });

  it('refuses to run unpinned unless allowAnyPeer is set', async () => {
    const [a] = createMemoryTransportPair();
    await expect(
      establishSession({ role: 'requester', transport: a, identity: requesterId, terms: terms() }),
    ).rejects.toBeInstanceOf(TypeError);
  });

  const refusals: [string, SessionPolicy, Partial<SessionTerms>, string][] = [
    ['reveal to both', { reveal: 'requester' }, { recipients: ['requester', 'responder'] }, 'listener does not reveal results to both parties'],
    ['requester-only', { reveal: 'both' }, {}, 'listener requires results revealed to both parties'],
    ['count-only required', { countOnly: 'required' }, {}, 'listener allows cardinality-only (count) results only'],
    ['protocol', { protocols: ['psi-sum'] }, {}, 'listener does not offer this protocol'],
    ['set too large', { maxSetSize: 5 }, {}, "requester set size is above the listener's maximum of 5"],
    ['set too small', { minSetSize: 50 }, {}, "requester set size is below the listener's minimum of 50"],
    ['min cohort', { minIntersection: 10 }, { minIntersection: 3 }, 'listener requires a minimum intersection of at least 10'],
    ['purpose', { requirePurpose: true }, { purpose: ' ' }, 'listener requires a purpose / authorisation reference'],
    ['truncation', { truncation: ['none'] }, { options: { truncate: '128' } }, 'listener does not allow this truncation'],
    ['responder bounds', {}, { responderSetSize: { min: 100, max: 200 } }, 'responder set size is outside the requested bounds'],
    ['custom check', { check: () => 'budget exhausted for this counterparty' }, {}, 'budget exhausted for this counterparty'],
  ];
  for (const [name, policy, t, reason] of refusals) {
    it(`terms outside the policy (${name}) → TermsRefusedError on both sides with the reason`, async () => {
      const { req, res } = await handshake({ policy, terms: terms(t) });
      const s1 = ok(req);
      const s2 = ok(res);
      expect(s1.accepted).toBe(false);
      expect(s1.refusalReason).toBe(reason);
      expect(s2.refusalReason).toBe(reason);
      // Refused runs still get a co-signed receipt.
      const [r1, r2] = await Promise.all([
        s1.exchangeReceipt({ outcome: 'refused', inputSize: 0, outputSize: 0, computeMs: 0 }),
        s2.exchangeReceipt({ outcome: 'refused', inputSize: 0, outputSize: 0, computeMs: 0 }),
      ]);
      expect(r1).toEqual(r2);
      expect(r1.body.outcome).toBe('refused');
      verifyReceipt(r1, [requesterId.publicKey, responderId.publicKey]);
      void TermsRefusedError;
    });
  }

  it('a refused session carries no protocol data; the receipt is exchanged once', async () => {
    const { req, res } = await handshake({ policy: { reveal: 'both' } });
    const s1 = ok(req);
    const s2 = ok(res);
    await expect(s1.channel.send(new Uint8Array([1]))).rejects.toBeInstanceOf(TransportClosedError);
    const r = await Promise.all([
      s1.exchangeReceipt({ outcome: 'refused', inputSize: 0, outputSize: 0, computeMs: 0 }),
      s2.exchangeReceipt({ outcome: 'refused', inputSize: 0, outputSize: 0, computeMs: 0 }),
    ]);
    expect(r[0]).toEqual(r[1]);
    await expect(s1.exchangeReceipt({ outcome: 'refused', inputSize: 0, outputSize: 0, computeMs: 0 })).rejects.toBeInstanceOf(TypeError);
  });

  it('a requester-side beforeRun refusal reaches the listener as TermsRefusedError', async () => {
    const [a, b] = createMemoryTransportPair();
    const [r1, r2] = await Promise.allSettled([
      establishSession({
        role: 'requester', transport: a, identity: requesterId, peerPublicKey: responderId.publicKey, terms: terms(),
        beforeRun: () => { throw new GuardrailRefusedError('query budget exhausted'); },
      }),
      establishSession({ role: 'responder', transport: b, identity: responderId, allowAnyPeer: true, policy: {}, localSetSize: 1 }),
    ]);
    expect((r1 as PromiseRejectedResult).reason).toBeInstanceOf(TermsRefusedError);
    const e = (r2 as PromiseRejectedResult).reason;
    expect(e).toBeInstanceOf(TermsRefusedError);
    expect(e.message).toBe('query budget exhausted');
  });

  it('a tampered reply (terms, nonce or signature) fails verification on the requester', async () => {
    for (const offset of [2, 40, -1]) {
      const { req, res } = await handshake({
        transport: {
          intercept: (frame, from) => {
            if (from !== 'b' || frame[0] !== SessionMessageType.REPLY) return undefined;
            const f = new Uint8Array(frame);
            const i = offset < 0 ? f.length + offset : offset;
            f[i]! ^= 1;
            return f;
          },
        },
      });
      const e = (req as PromiseRejectedResult).reason;
      // Flipping a key byte trips pinning, the rest the signature: VerificationFailedError either way.
      expect(e).toBeInstanceOf(VerificationFailedError);
      expect((res as PromiseRejectedResult).reason).toBeInstanceOf(VerificationFailedError);
    }
  });

  it('terms altered in flight fail the listener’s check of the requester’s signature', async () => {
    const { req, res } = await handshake({
      transport: {
        intercept: (frame, from) => {
          if (from !== 'a' || frame[0] !== SessionMessageType.CONFIRM) return undefined;
          // Re-encode the terms with a different purpose, keeping the signature, as a man in the middle would.
          const { message } = decodeConfirm(frame);
          return concatBytes(encodeConfirmUnsigned({ ...message.terms, purpose: 'something else' }), message.signature);
        },
      },
    });
    expect((res as PromiseRejectedResult).reason).toBeInstanceOf(VerificationFailedError);
    expect((req as PromiseRejectedResult).reason).toBeInstanceOf(VerificationFailedError);
  });

  it('a tampered decision fails the requester’s check', async () => {
    const { req, res } = await handshake({
      policy: { reveal: 'requester' },
      transport: {
        intercept: (frame, from) => {
          if (from !== 'b' || frame[0] !== SessionMessageType.DECISION) return undefined;
          const f = new Uint8Array(frame);
          f[f.length - 70]! ^= 1; // inside the set size
          return f;
        },
      },
    });
    expect((req as PromiseRejectedResult).reason).toBeInstanceOf(VerificationFailedError);
    // The responder's handshake was complete; it learns of the failure on its next receive.
    await expect(ok(res).channel.receive()).rejects.toBeInstanceOf(VerificationFailedError);
  });

  it('an impostor who only knows an allowed public key learns neither the policy nor the set size', async () => {
    const [a, b] = createMemoryTransportPair();
    const res = establishSession({
      role: 'responder', transport: b, identity: responderId, allowedPeers: [requesterId.publicKey],
      policy: { reveal: 'both', maxSetSize: 5 }, localSetSize: 1234,
    });
    const impostor = generateIdentity();
    await a.send(encodeHello({ version: 1, publicKey: requesterId.publicKey, nonce: new Uint8Array(32).fill(1), ephemeral: x25519.getPublicKey(x25519.utils.randomSecretKey()), bindingHash: undefined }));
    const reply = await a.receive();
    expect(reply[0]).toBe(SessionMessageType.REPLY);
    const unsigned = encodeConfirmUnsigned(terms());
    await a.send(concatBytes(unsigned, signMessage(impostor.secretKey, unsigned)));
    await expect(res).rejects.toBeInstanceOf(VerificationFailedError);
    const err = await a.receive();
    expect(err[0]).toBe(SessionMessageType.ERROR);
    await expect(a.receive()).rejects.toBeInstanceOf(TransportClosedError);
  });

  it('replaying a previous session’s HELLO and CONFIRM to the listener fails', async () => {
    const recorded: Uint8Array[] = [];
    await handshake({ transport: { intercept: (f, from) => { if (from === 'a') recorded.push(new Uint8Array(f)); return undefined; } } });
    const [hello, confirm] = recorded;
    const [a, b] = createMemoryTransportPair();
    const res = establishSession({ role: 'responder', transport: b, identity: responderId, allowAnyPeer: true, policy: {}, localSetSize: 1 });
    await a.send(hello!);
    const reply = await a.receive();
    expect(reply[0]).toBe(SessionMessageType.REPLY);
    await a.send(confirm!);
    await expect(res).rejects.toBeInstanceOf(VerificationFailedError);
    const err = await a.receive();
    expect(decodeError(err).code).toBe('ERR_VERIFICATION_FAILED');
  });

  it('replaying a previous session’s REPLY to the requester fails', async () => {
    const recorded: Uint8Array[] = [];
    await handshake({ transport: { intercept: (f, from) => { if (from === 'b') recorded.push(new Uint8Array(f)); return undefined; } } });
    const [a, b] = createMemoryTransportPair();
    const req = establishSession({ role: 'requester', transport: a, identity: requesterId, peerPublicKey: responderId.publicKey, terms: terms() });
    await b.receive(); // the fresh hello
    await b.send(recorded[0]!);
    await expect(req).rejects.toBeInstanceOf(VerificationFailedError);
  });

  it('garbage instead of a handshake message is MalformedMessageError on the receiver and reported to the sender', async () => {
    const [a, b] = createMemoryTransportPair();
    const res = establishSession({ role: 'responder', transport: b, identity: responderId, allowAnyPeer: true, policy: {}, localSetSize: 1 });
    await a.send(new Uint8Array([SessionMessageType.HELLO, 1, 2, 3]));
    await expect(res).rejects.toBeInstanceOf(MalformedMessageError);
    expect(decodeError(await a.receive())).toEqual({ code: 'ERR_MALFORMED_MESSAGE', message: 'malformed message' });
    await expect(a.receive()).rejects.toBeInstanceOf(TransportClosedError);
  });

  it('another session version is ProtocolVersionError', async () => {
    const [a, b] = createMemoryTransportPair();
    const res = establishSession({ role: 'responder', transport: b, identity: responderId, allowAnyPeer: true, policy: {}, localSetSize: 1 });
    const hello = encodeHello({ version: 1, publicKey: requesterId.publicKey, nonce: new Uint8Array(32), ephemeral: new Uint8Array(32).fill(9), bindingHash: undefined });
    hello[1] = 2;
    await a.send(hello);
    await expect(res).rejects.toBeInstanceOf(ProtocolVersionError);
  });

  it('a peer dropping mid-handshake is TransportClosedError, not a hang', async () => {
    const [a, b] = createMemoryTransportPair();
    const res = establishSession({ role: 'responder', transport: b, identity: responderId, allowAnyPeer: true, policy: {}, localSetSize: 1 });
    await a.close();
    await expect(res).rejects.toBeInstanceOf(TransportClosedError);
  });

  it('a tampered receipt signature fails verification', async () => {
    let n = 0;
    const { req, res } = await handshake({
      transport: {
        intercept: (frame, from) => {
          if (from === 'b' && frame[0] === SessionMessageType.RECEIPT_SIGNATURE && n++ === 0) {
            const f = new Uint8Array(frame);
            f[10]! ^= 0x40;
            return f;
          }
          return undefined;
        },
      },
    });
    const [x, y] = await Promise.allSettled([
      ok(req).exchangeReceipt({ outcome: 'completed', inputSize: 10, outputSize: 0, computeMs: 1 }),
      ok(res).exchangeReceipt({ outcome: 'completed', inputSize: 20, outputSize: 0, computeMs: 1 }),
    ]);
    expect((x as PromiseRejectedResult).reason).toBeInstanceOf(VerificationFailedError);
    // The responder already holds a valid receipt or learns of the failure; it never hangs.
    expect(['fulfilled', 'rejected']).toContain(y.status);
  });

  it('a peer view that contradicts what the protocol observed is rejected', async () => {
    const { req, res } = await handshake();
    const [x, y] = await Promise.allSettled([
      ok(req).exchangeReceipt({ outcome: 'completed', inputSize: 10, outputSize: 0, computeMs: 1, expectedPeerInputSize: 999 }),
      ok(res).exchangeReceipt({ outcome: 'completed', inputSize: 20, outputSize: 0, computeMs: 1 }),
    ]);
    expect((x as PromiseRejectedResult).reason).toBeInstanceOf(VerificationFailedError);
    expect((y as PromiseRejectedResult).reason).toBeInstanceOf(VerificationFailedError);
  });
});

describe('input sources in the receipt', () => {
  it('each side records its own source kind and query commitment; both receipts carry the same map', async () => {
    const { req, res } = await handshake();
    const s1 = ok(req);
    const s2 = ok(res);
    const sql = 'SELECT patient_id FROM admissions';
    const [r1, r2] = await Promise.all([
      s1.exchangeReceipt({ outcome: 'completed', inputSize: 10, outputSize: 0, computeMs: 1, source: { kind: 'csv' } }),
      s2.exchangeReceipt({ outcome: 'completed', inputSize: 20, outputSize: 0, computeMs: 1, source: { kind: 'postgres', query: sql } }),
    ]);
    expect(r1).toEqual(r2);
    verifyReceipt(r1, [requesterId.publicKey, responderId.publicKey]);
    const o = r1.body.options;
    expect(o['requester-source']).toBe('csv');
    expect(o['requester-source-commit']).toBeUndefined();
    expect(o['responder-source']).toBe('postgres');
    expect(JSON.stringify(o)).not.toContain('admissions');
    const k = sourceCommitmentKey(responderId.secretKey, r1.body.sessionId);
    expect(o['responder-source-commit']).toBe(sourceCommitment(k, sql));
    expect(sourceCommitment(k, 'SELECT patient_id FROM admissions2')).not.toBe(o['responder-source-commit']);
    expect(sourceCommitment(sourceCommitmentKey(requesterId.secretKey, r1.body.sessionId), sql)).not.toBe(o['responder-source-commit']);
  });

  it('a source is given only as contribution.source, well formed', async () => {
    const { req } = await handshake();
    await expect(ok(req).exchangeReceipt({ outcome: 'completed', inputSize: 1, outputSize: 0, computeMs: 1, options: { 'responder-source': 'csv' } })).rejects.toBeInstanceOf(RangeError);
    const again = await handshake();
    await expect(ok(again.req).exchangeReceipt({ outcome: 'completed', inputSize: 1, outputSize: 0, computeMs: 1, source: { kind: 'postgres://u@h/db' } })).rejects.toBeInstanceOf(RangeError);
    expect(() => sourceCommitment(new Uint8Array(31), 'x')).toThrow(RangeError);
    expect(() => sourceCommitmentKey(new Uint8Array(0), new Uint8Array(16))).toThrow(RangeError);
  });
});

describe('receipt views from a dishonest peer', () => {
  // The peer holds the session's MAC key, so these are played through its own API (what modified
  // software on the other side could send), not by a party in the middle.
  type Contribution = Parameters<Session['exchangeReceipt']>[0];
  const honest: Contribution = { outcome: 'completed', inputSize: 20, outputSize: 0, computeMs: 1 };
  const cases: [string, (s: Session) => Contribution][] = [
    ['inflated bytes', (s) => { s.channel.stats.bytesSent += 1000; return honest; }],
    ['an end time far in the future', (s) => { vi.spyOn(Date, 'now').mockReturnValueOnce(s.startedAt + 86_400_000); return honest; }],
    ['an invented guardrail', () => ({ ...honest, guardrails: [{ rule: 'dp-noise', outcome: 'applied', detail: 'epsilon=1' }] })],
    ['withheld without the guardrail', () => ({ ...honest, outcome: 'withheld' })],
    ['an output although it receives none', () => ({ ...honest, outputSize: 1 })],
    ['a refusal that the handshake did not make', () => ({ ...honest, outcome: 'refused' })],
  ];
  for (const [name, dishonest] of cases) {
    it(`${name} is refused, not signed`, async () => {
      const { req, res } = await handshake();
      const peer = ok(res);
      const contribution = dishonest(peer);
      const [x, y] = await Promise.allSettled([
        ok(req).exchangeReceipt({ outcome: 'completed', inputSize: 10, outputSize: 2, computeMs: 1 }),
        peer.exchangeReceipt(contribution),
      ]);
      vi.restoreAllMocks();
      expect((x as PromiseRejectedResult).reason).toBeInstanceOf(VerificationFailedError);
      expect((y as PromiseRejectedResult).reason).toBeInstanceOf(VerificationFailedError);
    });
  }
});

describe('output-size=public (the sole recipient\'s output size in the receipt)', () => {
  const pub = (max: string, over: Partial<SessionTerms> = {}) =>
    terms({ protocol: 'aggregate', options: { 'output-size': 'public', 'output-max': max }, requesterSetSize: 0, responderSetSize: { min: 0, max: 100 }, ...over });

  it('records the recipient\'s output size, bounded by output-max instead of the input sizes', async () => {
    const { req, res } = await handshake({ terms: pub('6'), policy: { publicOutputSize: true } });
    // Inputs are 0 and 20: the default bound (min of the inputs) would refuse 4.
    const [r1, r2] = await Promise.all([
      ok(req).exchangeReceipt({ outcome: 'completed', inputSize: 0, outputSize: 4, computeMs: 1 }),
      ok(res).exchangeReceipt({ outcome: 'completed', inputSize: 20, outputSize: 0, computeMs: 1 }),
    ]);
    expect(r1).toEqual(r2);
    expect(r1.body.outputSizes).toEqual({ requester: 4, responder: 0 });
    expect(r1.body.options).toMatchObject({ 'output-size': 'public', 'output-max': '6' });
  });

  it('a size above output-max is refused, not signed; without the option the input-size bound still holds', async () => {
    for (const o of [
      { terms: pub('3'), policy: { publicOutputSize: true } },
      // Both parties recipients (nothing omitted): 4 > min(0, 20).
      { terms: terms({ protocol: 'aggregate', requesterSetSize: 0, recipients: ['requester', 'responder'] }), policy: {} },
    ]) {
      const { req, res } = await handshake(o);
      const [x, y] = await Promise.allSettled([
        ok(req).exchangeReceipt({ outcome: 'completed', inputSize: 0, outputSize: 4, computeMs: 1 }),
        ok(res).exchangeReceipt({ outcome: 'completed', inputSize: 20, outputSize: 0, computeMs: 1 }),
      ]);
      expect((x as PromiseRejectedResult).reason).toBeInstanceOf(VerificationFailedError);
      expect((y as PromiseRejectedResult).reason).toBeInstanceOf(VerificationFailedError);
    }
  });

  it('without the option a sole recipient\'s size stays out of the receipt (PSI)', async () => {
    const { req, res } = await handshake();
    const [r1] = await Promise.all([
      ok(req).exchangeReceipt({ outcome: 'completed', inputSize: 10, outputSize: 4, computeMs: 1 }),
      ok(res).exchangeReceipt({ outcome: 'completed', inputSize: 20, outputSize: 0, computeMs: 1 }),
    ]);
    expect(r1.body.outputSizes).toEqual({ responder: 0 });
  });

  it('a withheld run may record the part it released only under the option', async () => {
    const k = { minIntersection: 2 };
    const withheld = { outcome: 'withheld' as const, inputSize: 0, outputSize: 2, computeMs: 1, guardrails: [{ rule: 'min-cohort', outcome: 'withheld' as const, detail: 'k=2' }] };
    const { req, res } = await handshake({ terms: pub('6', k), policy: { publicOutputSize: true } });
    const [r1] = await Promise.all([ok(req).exchangeReceipt(withheld), ok(res).exchangeReceipt({ outcome: 'completed', inputSize: 20, outputSize: 0, computeMs: 1 })]);
    expect(r1.body.outcome).toBe('withheld');
    expect(r1.body.outputSizes).toEqual({ requester: 2, responder: 0 });
  });

  it('a listener refuses the option unless its policy allows it (PSI keeps the intersection size out of the receipt), and refuses malformed forms', async () => {
    for (const [t, policy, reason] of [
      [terms({ options: { 'count-only': 'false', truncate: 'none', 'output-size': 'public', 'output-max': '10' } }), {}, /does not record the output size/],
      [pub('6'), {}, /does not record the output size/],
      [pub('06'), { publicOutputSize: true }, /malformed output-size/],
      [pub('-1'), { publicOutputSize: true }, /malformed output-size/],
      [pub('4294967296'), { publicOutputSize: true }, /malformed output-size/],
      [terms({ options: { 'output-size': 'hidden', 'output-max': '1' } }), { publicOutputSize: true }, /malformed output-size/],
      [terms({ options: { 'output-max': '1' } }), { publicOutputSize: true }, /malformed output-size/],
      [terms({ options: { 'output-size': 'public' } }), { publicOutputSize: true }, /malformed output-size/],
    ] as const) {
      const { req, res } = await handshake({ terms: t, policy });
      expect(ok(req).accepted).toBe(false);
      expect(ok(res).accepted).toBe(false);
      expect(ok(req).refusalReason).toMatch(reason);
    }
  });
});

describe('frame integrity after the handshake (a party in the middle)', () => {
  const attacks: [string, (frame: Uint8Array) => Uint8Array | Uint8Array[]][] = [
    ['a flipped bit', (f) => { const g = new Uint8Array(f); g[1]! ^= 1; return g; }],
    ['a dropped frame', () => []],
    ['a duplicated frame', (f) => [f, f]],
  ];
  for (const [name, attack] of attacks) {
    it(`${name} in the data channel is VerificationFailedError on both sides`, async () => {
      let n = 0;
      const { req, res } = await handshake({
        transport: {
          intercept: (frame, from) => (from === 'a' && frame[0] === SessionMessageType.DATA && n++ === 0 ? attack(frame) : undefined),
        },
      });
      const s1 = ok(req);
      const s2 = ok(res);
      await s1.channel.send(new Uint8Array([1]));
      await s1.channel.send(new Uint8Array([2]));
      const err = await (async () => { for (;;) await s2.channel.receive(); })().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(VerificationFailedError);
      await s2.fail(err); // what runPsi does with any error: tell the peer, then close
      await expect(s1.channel.receive()).rejects.toBeInstanceOf(VerificationFailedError);
    });
  }

  it('the ekm is secret: it depends on the ephemeral exchange, not only on the public transcript', async () => {
    const { req, res } = await handshake();
    expect(ok(req).ekm).toEqual(ok(res).ekm);
    expect(ok(req).ekm).not.toEqual(ok(req).transcriptHash);
  });
});

describe('session codecs', () => {
  it('decoding arbitrary bytes only ever throws MalformedMessageError or ProtocolVersionError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.constantFrom(1, 2, 3, 4, 0x20, 0x7f), (body, type) => {
        const frame = new Uint8Array([type, ...body]);
        for (const decode of [decodeHello, decodeReply, decodeConfirm, decodeDecision, decodeReceiptView, decodeError]) {
          try {
            decode(frame);
          } catch (e) {
            expect(e instanceof MalformedMessageError || e instanceof ProtocolVersionError).toBe(true);
          }
        }
      }),
    );
  });

  it('terms round-trip through CONFIRM', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), fc.nat(1e9), fc.boolean(), fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), fc.string({ maxLength: 8 }), { maxKeys: 5 }), (purpose, size, both, options) => {
        const t = terms({ purpose, options, requesterSetSize: size, recipients: both ? ['requester', 'responder'] : ['requester'] });
        const sig = new Uint8Array(64).fill(9);
        const { message } = decodeConfirm(concatBytes(encodeConfirmUnsigned(t), sig));
        expect(message.terms).toEqual(t);
        expect(message.signature).toEqual(sig);
      }),
    );
  });
});
