/** crossCheckLedgers: which co-signed receipts between two owners each side holds. */
import { describe, expect, it } from 'vitest';
import { crossCheckLedgers, encodeReceipt, signOneSidedReceipt, signReceiptBody } from '../src/ledger/index.js';
import type { LedgerEntries, UsageReceipt, UsageReceiptBody } from '../src/ledger/index.js';
import { generateIdentity, type Identity } from '../src/session/identity.js';

const a = generateIdentity();
const b = generateIdentity();
const c = generateIdentity();

function body(session: number, peer: Identity, over: Partial<UsageReceiptBody> = {}): UsageReceiptBody {
  return {
    version: 1, sessionId: new Uint8Array(16).fill(session), startedAt: 1_000, endedAt: 2_000,
    parties: [{ role: 'requester', publicKey: a.publicKey }, { role: 'responder', publicKey: peer.publicKey }],
    protocol: 'ecdh-psi', options: {}, purpose: '', inputSizes: { requester: 5 }, outputSizes: { requester: 1 },
    bytesExchanged: 10, computeMs: 1, guardrails: [], outcome: 'completed', ...over,
  };
}
function coSigned(bd: UsageReceiptBody, peer: Identity): Uint8Array {
  const r: UsageReceipt = { body: bd, signatures: [a, peer].map((p) => ({ publicKey: p.publicKey, signature: signReceiptBody(p.secretKey, bd) })) };
  return encodeReceipt(r);
}
const ledger = (owner: Identity, entries: Uint8Array[]): LedgerEntries => ({ origin: 'o', ownerPublicKey: owner.publicKey, entries });

describe('crossCheckLedgers', () => {
  it('matches by session and body hash; reports missing on either side and different bodies; one-sided and third-party entries apart', () => {
    const mine = ledger(a, [
      coSigned(body(1, b), b),
      coSigned(body(2, b), b), // the peer lacks it
      coSigned(body(3, c), c), // a run with a third party: not compared
      coSigned(body(4, b, { outcome: 'completed' }), b),
      encodeReceipt(signOneSidedReceipt(a, body(5, b, { outcome: 'aborted-after-data' }))),
    ]);
    const peer = ledger(b, [
      coSigned(body(1, b), b),
      coSigned(body(4, b, { outcome: 'withheld' }), b), // same session, another (co-signed) body
      coSigned(body(6, b), b), // I lack it
    ]);
    const r = crossCheckLedgers(mine, peer);
    expect(r.agree).toBe(false);
    expect(r.matched).toBe(1);
    expect(r.missingAtPeer.map((i) => [i.index, i.receipt.body.sessionId[0]])).toEqual([[1, 2]]);
    expect(r.missingHere.map((i) => [i.peerIndex, i.receipt.body.sessionId[0]])).toEqual([[2, 6]]);
    expect(r.different.map((i) => [i.index, i.peerIndex, i.differs])).toEqual([[3, 1, 'body']]);
    expect(r.oneSidedHere.map((i) => i.index)).toEqual([4]);
    expect(r.oneSidedAtPeer).toEqual([]);
    expect(crossCheckLedgers(ledger(a, [coSigned(body(1, b), b)]), ledger(b, [coSigned(body(1, b), b)])).agree).toBe(true);
    expect(() => crossCheckLedgers(mine, ledger(a, []))).toThrow(RangeError);
  });
});
