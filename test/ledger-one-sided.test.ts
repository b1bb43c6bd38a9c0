// One-sided receipts (src/ledger/receipt.ts): a distinct entry kind signed by one party — the
// ledger owner — for runs the other side never signed (a peer that hung up after protocol data
// flowed; later, foreign platforms). They must round-trip, verify, never pass for co-signed
// receipts (nor the reverse), be refused when tampered with or signed by anyone but the owner, and
// count for budgets and reports like any run.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MalformedMessageError, VerificationFailedError } from '../src/errors.js';
import { budgetStatus, checkBudget } from '../src/ledger/budget.js';
import { formatCheckpointBody } from '../src/ledger/checkpoint.js';
import { openLedger, readLedgerSnapshot, verifyLedgerDir } from '../src/ledger/file-ledger.js';
import { encodeLogHeader, encodeRecord } from '../src/ledger/log-format.js';
import { MerkleTree, hashLeaf } from '../src/ledger/merkle.js';
import {
  decodeAndVerifyReceipt,
  decodeReceipt,
  encodeReceipt,
  ONE_SIDED_RECEIPT_SIGNATURE_CONTEXT,
  RECEIPT_SIGNATURE_CONTEXT,
  signOneSidedReceipt,
  signReceiptBody,
  verifyReceipt,
} from '../src/ledger/receipt.js';
import type { UsageReceipt, UsageReceiptBody } from '../src/ledger/receipt-types.js';
import { buildUsageReport, formatUsageReport } from '../src/ledger/report.js';
import { verifyLedgerBytes } from '../src/ledger/verify.js';
import { generateIdentity, signMessage } from '../src/session/identity.js';
import { GuardrailRefusedError } from '../src/errors.js';
import { concatBytes, toBase64, utf8 } from '../src/utils/bytes.js';

const owner = generateIdentity(); // the responder, whose ledger it is
const peer = generateIdentity();

function body(over: Partial<UsageReceiptBody> = {}): UsageReceiptBody {
  return {
    version: 1,
    sessionId: new Uint8Array(16).fill(9),
    startedAt: Date.UTC(2026, 11, 3, 10),
    endedAt: Date.UTC(2026, 11, 3, 10, 1),
    parties: [
      { role: 'requester', publicKey: peer.publicKey },
      { role: 'responder', publicKey: owner.publicKey },
    ],
    protocol: 'ecdh-psi',
    options: { 'count-only': 'false', error: 'ERR_TRANSPORT_CLOSED', recipients: 'requester', truncate: '128' },
    purpose: 'programme audit',
    inputSizes: { requester: 3, responder: 4 },
    outputSizes: {},
    bytesExchanged: 4096,
    computeMs: 12,
    guardrails: [],
    outcome: 'aborted-after-data',
    ...over,
  };
}

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'dataport-one-sided-'));
  dirs.push(d);
  return d;
}

describe('one-sided receipt codec', () => {
  it('round-trips as its own kind, signed by one party, and verifies', () => {
    const r = signOneSidedReceipt(owner, body());
    expect(r.kind).toBe('one-sided');
    expect(r.signatures).toHaveLength(1);
    expect(toBase64(r.signatures[0]!.publicKey)).toBe(toBase64(owner.publicKey));
    const bytes = encodeReceipt(r);
    expect(bytes[0]).toBe(2); // a co-signed receipt starts with 1
    const back = decodeReceipt(bytes);
    expect(back).toEqual(r);
    expect(encodeReceipt(back)).toEqual(bytes);
    verifyReceipt(back);
    verifyReceipt(back, [owner.publicKey]);
    expect(() => verifyReceipt(back, [peer.publicKey])).toThrow(VerificationFailedError);
    expect(decodeAndVerifyReceipt(bytes, { oneSidedSigner: owner.publicKey })).toEqual(r);
  });

  it('cannot be confused with a co-signed receipt, either way', () => {
    const b = body({ outcome: 'completed' });
    // A party's co-signature is not a one-sided receipt (distinct signature contexts)…
    const coSig = signReceiptBody(owner.secretKey, b);
    expect(() => verifyReceipt({ kind: 'one-sided', body: b, signatures: [{ publicKey: owner.publicKey, signature: coSig }] })).toThrow(
      VerificationFailedError,
    );
    // …and a one-sided signature does not make a co-signed receipt, even when not all parties are required.
    const one = signOneSidedReceipt(owner, b);
    expect(() => verifyReceipt({ body: b, signatures: one.signatures }, undefined, { requireAllParties: false })).toThrow(VerificationFailedError);
    // Relabelling the bytes: kind 2 → 1 no longer parses (no signature count), 1 → 2 leaves trailing bytes.
    const asCo = encodeReceipt(one).slice();
    asCo[0] = 1;
    expect(() => decodeReceipt(asCo)).toThrow(MalformedMessageError);
    const co = encodeReceipt({
      body: b,
      signatures: [
        { publicKey: owner.publicKey, signature: coSig },
        { publicKey: peer.publicKey, signature: signReceiptBody(peer.secretKey, b) },
      ],
    }).slice();
    co[0] = 2;
    expect(() => decodeReceipt(co)).toThrow(MalformedMessageError);
    expect(ONE_SIDED_RECEIPT_SIGNATURE_CONTEXT).not.toEqual(RECEIPT_SIGNATURE_CONTEXT);
    // Unknown kinds are misuse.
    expect(() => encodeReceipt({ ...one, kind: 'half' as 'one-sided' })).toThrow(RangeError);
  });

  it('is refused when tampered with, signed by a non-party, or carrying more than one signature', () => {
    const r = signOneSidedReceipt(owner, body());
    const bytes = encodeReceipt(r);
    // Every byte of body and signature is covered: flip one in the body (bytesExchanged) and one in the signature.
    const tampered = { ...r, body: { ...r.body, bytesExchanged: r.body.bytesExchanged + 1 } };
    expect(() => verifyReceipt(tampered)).toThrow(VerificationFailedError);
    const badSig = bytes.slice();
    badSig[badSig.length - 1]! ^= 1;
    expect(() => decodeAndVerifyReceipt(badSig)).toThrow(VerificationFailedError);
    const stranger = generateIdentity();
    expect(() => signOneSidedReceipt(stranger, body())).toThrow(RangeError);
    const sig = signMessage(stranger.secretKey, concatBytes(ONE_SIDED_RECEIPT_SIGNATURE_CONTEXT, encodeReceipt(r).subarray(5, bytes.length - 96)));
    expect(() => verifyReceipt({ kind: 'one-sided', body: r.body, signatures: [{ publicKey: stranger.publicKey, signature: sig }] })).toThrow(
      VerificationFailedError,
    );
    expect(() => encodeReceipt({ ...r, signatures: [...r.signatures, signOneSidedReceipt(peer, body()).signatures[0]!] })).toThrow(RangeError);
    // Signed by a party that is not the expected signer (the ledger owner).
    const byPeer = encodeReceipt(signOneSidedReceipt(peer, body()));
    expect(() => decodeAndVerifyReceipt(byPeer, { oneSidedSigner: owner.publicKey })).toThrow(/not signed by the ledger owner/);
  });
});

describe('one-sided entries in a ledger', () => {
  it('are appended only when the owner signed them, verify, and read back with their kind', async () => {
    const dir = tmp();
    const ledger = await openLedger(dir, { owner });
    const co = body({ sessionId: new Uint8Array(16).fill(1), outcome: 'completed', options: { truncate: '128' } });
    await ledger.append({
      body: co,
      signatures: [
        { publicKey: owner.publicKey, signature: signReceiptBody(owner.secretKey, co) },
        { publicKey: peer.publicKey, signature: signReceiptBody(peer.secretKey, co) },
      ],
    });
    const mine = signOneSidedReceipt(owner, body());
    expect((await ledger.append(mine)).index).toBe(1);
    // The peer's one-sided receipt is not the owner's to record (it names the owner as a party, but
    // only the peer vouches for it).
    await expect(ledger.append(signOneSidedReceipt(peer, body()))).rejects.toThrow(VerificationFailedError);
    const read = await ledger.readReceipts();
    expect(read.map((r) => r.kind ?? 'co-signed')).toEqual(['co-signed', 'one-sided']);
    expect(read[1]).toEqual(mine);
    await ledger.close();
    const v = await verifyLedgerDir(dir, { publicKey: owner.publicKey });
    expect(v).toMatchObject({ ok: true, size: 2 });
    const snap = await readLedgerSnapshot(dir);
    expect(snap.receipts()[1]).toEqual(mine);
  });

  it('verify refuses a one-sided entry the owner sealed but did not sign, naming its index', () => {
    const origin = 'dataport.ledger/test';
    const tree = new MerkleTree();
    const entry = encodeReceipt(signOneSidedReceipt(peer, body()));
    tree.append(hashLeaf(entry));
    const seal = signMessage(owner.secretKey, utf8(formatCheckpointBody({ origin, size: 1, root: tree.root() })));
    const log = concatBytes(encodeLogHeader({ ownerPublicKey: owner.publicKey, origin }), encodeRecord(0, entry, seal));
    const r = verifyLedgerBytes(log, { publicKey: owner.publicKey });
    expect(r.ok).toBe(false);
    expect(r.problem).toEqual({ index: 0, message: expect.stringMatching(/one-sided receipt is not signed by the ledger owner/) });
    // The same log with the owner's own one-sided receipt verifies.
    const okEntry = encodeReceipt(signOneSidedReceipt(owner, body()));
    const t2 = new MerkleTree();
    t2.append(hashLeaf(okEntry));
    const seal2 = signMessage(owner.secretKey, utf8(formatCheckpointBody({ origin, size: 1, root: t2.root() })));
    expect(verifyLedgerBytes(concatBytes(encodeLogHeader({ ownerPublicKey: owner.publicKey, origin }), encodeRecord(0, okEntry, seal2)), { publicKey: owner.publicKey, allowMissingCheckpoint: true }).ok).toBe(true);
  });

  it('count for budgets like a completed run and settle the run’s reservation', () => {
    const r = signOneSidedReceipt(owner, body());
    const policy = { period: 'month' as const, maxQueries: 1, maxRecords: 100 };
    const now = Date.UTC(2026, 11, 20);
    const s = budgetStatus([r], { counterparty: peer.publicKey, policy, now, pending: [{ counterparty: peer.publicKey, records: 7, sessionId: r.body.sessionId }] });
    expect(s).toMatchObject({ queriesUsed: 1, recordsUsed: 7, queriesReserved: 0, allowed: false });
    expect(() => checkBudget([r], { counterparty: peer.publicKey, policy, now })).toThrow(GuardrailRefusedError);
  });

  it('appear in reports as their own outcome, unbilled', () => {
    const co = body({ sessionId: new Uint8Array(16).fill(1), outcome: 'completed', billing: { currency: 'CNY', amountMinor: 100, schedule: 's' } });
    const receipts: UsageReceipt[] = [
      { body: co, signatures: [] },
      signOneSidedReceipt(owner, body()),
      signOneSidedReceipt(owner, body({ sessionId: new Uint8Array(16).fill(2) })),
    ];
    const [row] = buildUsageReport(receipts, { by: 'counterparty', owner: owner.publicKey });
    expect(row).toMatchObject({ key: toBase64(peer.publicKey), runs: 3, outcomes: { completed: 1, 'aborted-after-data': 2 }, billed: { CNY: 100 } });
    const csv = formatUsageReport([row!], 'counterparty', 'csv').split('\r\n');
    expect(csv[0]).toBe('counterparty,runs,completed,withheld,refused,failed,aborted,records_in,records_out,bytes,compute_ms,billed');
    expect(csv[1]).toMatch(/,3,1,0,0,0,2,21,0,12288,36,CNY 100$/);
  });
});
