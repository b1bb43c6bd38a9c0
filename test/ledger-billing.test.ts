/**
 * Co-signed billing (docs/ledger.md *Billing*): each party's price schedule is announced in the
 * signed handshake (CONFIRM / DECISION) and repeated in its receipt view; both parties price the
 * run with the same schedule (the responder's, else the requester's) and sign the amount as part
 * of the receipt body.
 *
 * A hostile peer is simulated by replacing the RECEIPT_VIEW encoder for views that carry a marker
 * input size (the frames are MAC'd per session, so a test cannot splice bytes on the wire; this
 * is what a modified peer would send).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { psiTerms } from './session-fixtures.js';
import { MalformedMessageError, TermsRefusedError, VerificationFailedError } from '../src/errors.js';
import { formatCheckpointBody } from '../src/ledger/checkpoint.js';
import { openLedger, verifyLedgerDir } from '../src/ledger/file-ledger.js';
import { decodeLogHeader, encodeRecord, scanRecords } from '../src/ledger/log-format.js';
import { MerkleTree, hashLeaf } from '../src/ledger/merkle.js';
import {
  billRun,
  decodePriceSchedule,
  encodePriceSchedule,
  MAX_PRICE_SCHEDULE_BYTES,
  parsePriceSchedule,
  parsePriceScheduleRef,
  priceScheduleRef,
  type PriceSchedule,
} from '../src/ledger/pricing.js';
import { decodeReceipt, encodeReceipt, verifyReceipt } from '../src/ledger/receipt.js';
import type { UsageReceipt } from '../src/ledger/receipt-types.js';
import { generateIdentity, signMessage } from '../src/session/identity.js';
import type { ReceiptView, SessionTerms } from '../src/session/messages.js';
import { decodeDecision, decodeReceiptView, encodeDecisionUnsigned, encodeReceiptView } from '../src/session/messages.js';
import { establishSession, type ReceiptContribution, type Session } from '../src/session/session.js';
import { createMemoryTransportPair } from '../src/transport/index.js';
import { concatBytes, toHex, utf8 } from '../src/utils/bytes.js';
import { sha256 } from '@noble/hashes/sha2.js';

/** Views with this input size are re-encoded by `hostile.view` (the simulated modified peer). */
const HOSTILE_INPUT = 777;
const hostile = vi.hoisted(() => ({ schedule: undefined as Uint8Array | undefined }));
vi.mock('../src/session/messages.js', async (importOriginal) => {
  const m = await importOriginal<typeof import('../src/session/messages.js')>();
  return {
    ...m,
    encodeReceiptView: (v: ReceiptView): Uint8Array => {
      if (v.inputSize !== HOSTILE_INPUT || hostile.schedule === undefined) return m.encodeReceiptView(v);
      // The honest encoding without a schedule ends with the flag byte 0; put the crafted bytes there.
      const { priceSchedule: _drop, ...rest } = v;
      const plain = m.encodeReceiptView(rest);
      const n = hostile.schedule.length;
      return concatBytes(plain.subarray(0, plain.length - 1), Uint8Array.of(1, (n >>> 8) & 0xff, n & 0xff), hostile.schedule);
    },
  };
});

const requesterId = generateIdentity();
const responderId = generateIdentity();

const PSI_PRICES: PriceSchedule = parsePriceSchedule({
  id: 'port-2026-01',
  currency: 'CNY',
  guideCap: 500000,
  protocols: { 'ecdh-psi': { perRun: 1000, per1000Records: 50, perGB: 2000 }, 'psi-sum': { perRun: 2000 } },
});
const REQUESTER_PRICES: PriceSchedule = parsePriceSchedule({ id: 'pharma-internal', currency: 'EUR', protocols: {}, default: { perRun: 7 } });

const terms = (): SessionTerms => psiTerms();

interface SessionSetup {
  requesterSchedule?: PriceSchedule;
  responderSchedule?: PriceSchedule;
  refuse?: boolean;
  acceptPriceSchedule?: (schedule: PriceSchedule, ref: string) => void | Promise<void>;
  responderAccept?: (schedule: PriceSchedule, ref: string) => void | Promise<void>;
}

function start(o: SessionSetup = {}) {
  const [a, b] = createMemoryTransportPair();
  return [
    establishSession({
      role: 'requester',
      transport: a,
      identity: requesterId,
      peerPublicKey: responderId.publicKey,
      terms: terms(),
      ...(o.requesterSchedule ? { priceSchedule: o.requesterSchedule } : {}),
      ...(o.acceptPriceSchedule ? { acceptPriceSchedule: o.acceptPriceSchedule } : {}),
    }),
    establishSession({
      role: 'responder',
      transport: b,
      identity: responderId,
      peerPublicKey: requesterId.publicKey,
      policy: o.refuse ? { check: () => 'not today' } : {},
      localSetSize: 20,
      ...(o.responderSchedule ? { priceSchedule: o.responderSchedule } : {}),
      ...(o.responderAccept ? { acceptPriceSchedule: o.responderAccept } : {}),
    }),
  ] as const;
}

async function sessions(o: SessionSetup = {}) {
  const [req, res] = await Promise.all(start(o));
  return { req, res };
}

const done = (inputSize: number, extra: Partial<ReceiptContribution> = {}): ReceiptContribution => ({
  outcome: 'completed',
  inputSize,
  outputSize: 0,
  computeMs: 1,
  ...extra,
});

async function exchange(req: Session, res: Session, cReq: ReceiptContribution, cRes: ReceiptContribution) {
  return Promise.allSettled([req.exchangeReceipt(cReq), res.exchangeReceipt(cRes)]);
}

function receiptsOf(r: PromiseSettledResult<UsageReceipt>[]): UsageReceipt[] {
  return r.map((x) => {
    if (x.status === 'rejected') throw x.reason;
    return x.value;
  });
}

describe('schedule encoding', () => {
  it('is canonical: decode(encode(s)) = s, one encoding per schedule, ref = id + SHA-256 of the bytes', () => {
    const bytes = encodePriceSchedule(PSI_PRICES);
    expect(new TextDecoder().decode(bytes)).toBe(
      '{"id":"port-2026-01","currency":"CNY","guideCap":500000,"protocols":{"ecdh-psi":{"perRun":1000,"per1000Records":50,"perGB":2000},"psi-sum":{"perRun":2000}}}',
    );
    expect(decodePriceSchedule(bytes)).toEqual(PSI_PRICES);
    // Same schedule written differently (key order, whitespace) → same canonical bytes.
    const shuffled = parsePriceSchedule('{ "protocols": { "psi-sum": {"perRun":2000}, "ecdh-psi": {"perGB":2000,"perRun":1000,"per1000Records":50} }, "guideCap": 500000, "currency":"CNY", "id":"port-2026-01" }');
    expect(encodePriceSchedule(shuffled)).toEqual(bytes);
    expect(priceScheduleRef(PSI_PRICES)).toBe(`port-2026-01 sha256:${toHex(sha256(bytes))}`);
    expect(parsePriceScheduleRef(priceScheduleRef(PSI_PRICES))).toEqual({ id: 'port-2026-01', sha256Hex: toHex(sha256(bytes)) });
    expect(parsePriceScheduleRef('port-2026-01')).toBeUndefined();
  });

  it('property: any valid schedule round-trips, and decoding arbitrary bytes only throws MalformedMessageError', () => {
    const amount = fc.option(fc.integer({ min: 0, max: 2 ** 40 }), { nil: undefined });
    const price = fc.record({ perRun: amount, per1000Records: amount, perGB: amount, cap: amount }).map((p) =>
      Object.fromEntries(Object.entries(p).filter(([, v]) => v !== undefined)),
    );
    const schedule = fc.record({
      id: fc.string({ minLength: 1, maxLength: 20 }).filter((s) => !/[\u0000-\u001f\u007f-\u009f]/.test(s)),
      currency: fc.constantFrom('CNY', 'EUR', 'USD'),
      protocols: fc.dictionary(fc.string({ minLength: 1, maxLength: 12 }), price, { maxKeys: 5 }),
    });
    fc.assert(
      fc.property(schedule, (raw) => {
        let s: PriceSchedule;
        try {
          s = parsePriceSchedule(raw);
        } catch {
          return; // e.g. a lone surrogate in a name: not a schedule
        }
        expect(decodePriceSchedule(encodePriceSchedule(s))).toEqual(s);
      }),
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        try {
          decodePriceSchedule(bytes);
        } catch (e) {
          expect(e).toBeInstanceOf(MalformedMessageError);
        }
      }),
    );
  });

  it('refuses oversized, invalid and non-canonical schedules', () => {
    const canonical = encodePriceSchedule(PSI_PRICES);
    const text = new TextDecoder().decode(canonical);
    expect(() => decodePriceSchedule(utf8(text.replace(':', ': ')))).toThrow(MalformedMessageError);
    expect(() => decodePriceSchedule(utf8(text.replace('CNY', 'cny')))).toThrow(MalformedMessageError);
    expect(() => decodePriceSchedule(utf8(`${text.slice(0, -1)},"default":{"perRun":1},"default":{"perRun":2}}`))).toThrow(MalformedMessageError);
    expect(() => decodePriceSchedule(new Uint8Array(MAX_PRICE_SCHEDULE_BYTES + 1))).toThrow(MalformedMessageError);
    const many = parsePriceSchedule({ id: 'big', currency: 'CNY', protocols: Object.fromEntries(Array.from({ length: 600 }, (_, i) => [`protocol-${i}`, { perRun: 1 }])) });
    expect(() => encodePriceSchedule(many)).toThrow(RangeError);
    expect(() => parsePriceSchedule({ id: 'x'.repeat(129), currency: 'CNY', protocols: {} })).toThrow(/id must be/);
    expect(() => parsePriceSchedule({ id: 'a\nb', currency: 'CNY', protocols: {} })).toThrow(/id must be/);
  });

  it('the receipt view carries the schedule; its decoder checks it as hostile input', () => {
    const view: ReceiptView = { startedAt: 1, endedAt: 2, computeMs: 0, bytesExchanged: 5, inputSize: 3, outputSize: 0, outcome: 'completed', guardrails: [] };
    const bytes = encodePriceSchedule(PSI_PRICES);
    expect(decodeReceiptView(encodeReceiptView({ ...view, priceSchedule: bytes }))).toEqual({ ...view, priceSchedule: bytes });
    expect(decodeReceiptView(encodeReceiptView(view))).toEqual(view);
    const plain = encodeReceiptView(view);
    const withBytes = (b: Uint8Array) => concatBytes(plain.subarray(0, plain.length - 1), Uint8Array.of(1, b.length >>> 8, b.length & 0xff), b);
    expect(() => decodeReceiptView(withBytes(utf8(' ')))).toThrow(MalformedMessageError);
    expect(() => decodeReceiptView(withBytes(new Uint8Array(MAX_PRICE_SCHEDULE_BYTES + 1)))).toThrow(MalformedMessageError);
    expect(() => decodeReceiptView(concatBytes(plain.subarray(0, plain.length - 1), Uint8Array.of(2)))).toThrow(MalformedMessageError);
    expect(() => decodeReceiptView(plain.subarray(0, plain.length - 1))).toThrow(MalformedMessageError);
    expect(() => encodeReceiptView({ ...view, priceSchedule: new Uint8Array(MAX_PRICE_SCHEDULE_BYTES + 1) })).toThrow(RangeError);
  });
});

describe('co-signed billing in the session', () => {
  it('the responder bills: both parties hold the same receipt, whose signed body has the amount', async () => {
    const { req, res } = await sessions({ responderSchedule: PSI_PRICES });
    const [a, b] = receiptsOf(await exchange(req, res, done(10), done(20)));
    expect(encodeReceipt(a!)).toEqual(encodeReceipt(b!));
    const body = a!.body;
    // perRun 1000 + ⌈30 records × 50 / 1000⌉ = 2 + ⌈0 bytes⌉ = 0.
    expect(body.billing).toEqual({ currency: 'CNY', amountMinor: 1002, schedule: priceScheduleRef(PSI_PRICES) });
    expect(body.billing).toEqual(billRun(PSI_PRICES, body));
    verifyReceipt(a!, [requesterId.publicKey, responderId.publicKey]);
    // The amount is covered by both signatures.
    const forged = decodeReceipt(encodeReceipt(a!));
    forged.body.billing!.amountMinor += 1;
    expect(() => verifyReceipt(forged)).toThrow(VerificationFailedError);
  });

  it('only the requester bills: its schedule is used, and the responder signs the same amount', async () => {
    const { req, res } = await sessions({ requesterSchedule: REQUESTER_PRICES });
    const [a, b] = receiptsOf(await exchange(req, res, done(10), done(20)));
    expect(a!.body.billing).toEqual({ currency: 'EUR', amountMinor: 7, schedule: priceScheduleRef(REQUESTER_PRICES) });
    expect(encodeReceipt(a!)).toEqual(encodeReceipt(b!));
  });

  it('both bill: the responder’s schedule wins on both sides', async () => {
    const { req, res } = await sessions({ requesterSchedule: REQUESTER_PRICES, responderSchedule: PSI_PRICES });
    expect(req.announcedPriceSchedule).toEqual(PSI_PRICES);
    expect(res.announcedPriceSchedule).toEqual(PSI_PRICES);
    const [a, b] = receiptsOf(await exchange(req, res, done(10), done(20)));
    expect(a!.body.billing!.schedule).toBe(priceScheduleRef(PSI_PRICES));
    expect(encodeReceipt(a!)).toEqual(encodeReceipt(b!));
  });

  it('nobody bills: no billing field (the body encodes exactly as before billing existed)', async () => {
    const { req, res } = await sessions();
    const [a] = receiptsOf(await exchange(req, res, done(10), done(20)));
    expect(a!.body.billing).toBeUndefined();
    expect('billing' in a!.body).toBe(false);
  });

  it('a refused run is priced at 0 under the session default schedule', async () => {
    const { req, res } = await sessions({ responderSchedule: PSI_PRICES, refuse: true });
    expect(req.accepted).toBe(false);
    const refused: ReceiptContribution = { outcome: 'refused', inputSize: 0, outputSize: 0, computeMs: 0 };
    const [a, b] = receiptsOf(await exchange(req, res, refused, refused));
    expect(a!.body.billing).toEqual({ currency: 'CNY', amountMinor: 0, schedule: priceScheduleRef(PSI_PRICES) });
    expect(encodeReceipt(a!)).toEqual(encodeReceipt(b!));
  });

  it('misuse (RangeError, nothing sent): a requester schedule without a price for the protocol, an invalid schedule, a contribution schedule that was not announced', async () => {
    const noPsi = parsePriceSchedule({ id: 'agg', currency: 'CNY', protocols: { aggregate: { perRun: 1 } } });
    const [a1, b1] = createMemoryTransportPair();
    await expect(establishSession({ role: 'requester', transport: a1, identity: requesterId, peerPublicKey: responderId.publicKey, terms: terms(), priceSchedule: noPsi })).rejects.toThrow(/no price for protocol 'ecdh-psi'/);
    expect(b1.stats.framesReceived).toBe(0);
    await expect(establishSession({ role: 'responder', transport: createMemoryTransportPair()[1], identity: responderId, allowAnyPeer: true, policy: {}, localSetSize: 1, priceSchedule: { id: 'x', currency: 'cny', protocols: {} } })).rejects.toThrow(RangeError);
    for (const [cReq, cRes] of [
      [done(10, { priceSchedule: REQUESTER_PRICES }), done(20)],
      [done(10), done(20, { priceSchedule: PSI_PRICES })],
    ] as const) {
      const { req, res } = await sessions();
      const [a, b] = await exchange(req, res, cReq, cRes);
      const mine = cReq.priceSchedule ? a : b;
      expect(mine.status === 'rejected' && (mine.reason as Error).message).toMatch(/announced in the handshake/);
      expect([a.status, b.status]).toEqual(['rejected', 'rejected']);
    }
    // Repeating the announced schedule is fine.
    const { req, res } = await sessions({ responderSchedule: PSI_PRICES, requesterSchedule: REQUESTER_PRICES });
    receiptsOf(await exchange(req, res, done(10, { priceSchedule: REQUESTER_PRICES }), done(20, { priceSchedule: PSI_PRICES })));
  });

  it('the requester announces its schedule in the signed CONFIRM: a responder without one may refuse it (a co-signed refusal) or accept it', async () => {
    const seen: string[] = [];
    let { req, res } = await sessions({
      requesterSchedule: REQUESTER_PRICES,
      responderAccept: (_s, ref) => {
        seen.push(ref);
        throw new TermsRefusedError('we do not pay per-run fees');
      },
    });
    expect(seen).toEqual([priceScheduleRef(REQUESTER_PRICES)]);
    expect([req.accepted, res.accepted]).toEqual([false, false]);
    expect(req.refusalReason).toBe('we do not pay per-run fees');
    const refused: ReceiptContribution = { outcome: 'refused', inputSize: 0, outputSize: 0, computeMs: 0 };
    const [a] = receiptsOf(await exchange(req, res, refused, refused));
    expect(a!.body.outcome).toBe('refused');
    expect(a!.body.billing!.amountMinor).toBe(0);
    ({ req, res } = await sessions({ requesterSchedule: REQUESTER_PRICES, responderAccept: () => undefined }));
    expect(res.announcedPriceSchedule).toEqual(REQUESTER_PRICES);
    // The responder's hook is not asked when the responder bills itself.
    ({ req, res } = await sessions({ requesterSchedule: REQUESTER_PRICES, responderSchedule: PSI_PRICES, responderAccept: () => { throw new TermsRefusedError('never'); } }));
    expect(res.accepted).toBe(true);
  });

  it('the responder announces its schedule in the signed DECISION, before the run', async () => {
    const seen: [PriceSchedule, string][] = [];
    const { req, res } = await sessions({ responderSchedule: PSI_PRICES, acceptPriceSchedule: (s, ref) => void seen.push([s, ref]) });
    expect(seen).toEqual([[PSI_PRICES, priceScheduleRef(PSI_PRICES)]]);
    expect(req.announcedPriceSchedule).toEqual(PSI_PRICES);
    expect(res.announcedPriceSchedule).toEqual(PSI_PRICES);
    const [a] = receiptsOf(await exchange(req, res, done(10), done(20)));
    expect(a!.body.billing!.schedule).toBe(priceScheduleRef(PSI_PRICES));
  });

  it('a requester can refuse the announced price before anything runs: both sides end with the reason, no receipt', async () => {
    const [reqP, resP] = start({
      responderSchedule: PSI_PRICES,
      acceptPriceSchedule: (s) => {
        if ((s.protocols['ecdh-psi']?.perRun ?? 0) > 500) throw new TermsRefusedError('price above 500 fen per run');
      },
    });
    const [req, res] = await Promise.allSettled([reqP, resP]);
    expect(req.status === 'rejected' && req.reason).toBeInstanceOf(TermsRefusedError);
    expect((req as PromiseRejectedResult).reason.message).toBe('price above 500 fen per run');
    // The responder's handshake was complete; it learns the refusal on its next receive.
    const session = (res as PromiseFulfilledResult<Session>).value;
    await expect(session.channel.receive()).rejects.toThrow(/price above 500 fen per run/);
  });

  it('a responder whose schedule cannot price the requested protocol refuses the terms with that reason', async () => {
    const noPsi = parsePriceSchedule({ id: 'agg', currency: 'CNY', protocols: { aggregate: { perRun: 1 } } });
    const { req, res } = await sessions({ responderSchedule: noPsi });
    expect([req.accepted, res.accepted]).toEqual([false, false]);
    expect(req.refusalReason).toBe('the listener has no price for this protocol');
    expect(req.announcedPriceSchedule).toBeUndefined();
  });

  it('the DECISION codec carries the schedule and checks it as hostile input', () => {
    const sig = new Uint8Array(64);
    const bytes = encodePriceSchedule(PSI_PRICES);
    const m = { accepted: true, reason: '', responderSetSize: 5 };
    expect(decodeDecision(concatBytes(encodeDecisionUnsigned({ ...m, priceSchedule: bytes }), sig)).message.priceSchedule).toEqual(bytes);
    expect(decodeDecision(concatBytes(encodeDecisionUnsigned(m), sig)).message.priceSchedule).toBeUndefined();
    const plain = encodeDecisionUnsigned(m);
    const withBytes = (b: Uint8Array) => concatBytes(plain.subarray(0, plain.length - 1), Uint8Array.of(1, b.length >>> 8, b.length & 0xff), b, sig);
    expect(() => decodeDecision(withBytes(utf8('{"id":"x"}')))).toThrow(MalformedMessageError);
    expect(() => decodeDecision(withBytes(new Uint8Array(MAX_PRICE_SCHEDULE_BYTES + 1)))).toThrow(MalformedMessageError);
    expect(() => encodeDecisionUnsigned({ ...m, priceSchedule: new Uint8Array(MAX_PRICE_SCHEDULE_BYTES + 1) })).toThrow(RangeError);
  });

  const hostileCases: [string, () => Uint8Array, new (...args: never[]) => Error][] = [
    ['oversized', () => new Uint8Array(MAX_PRICE_SCHEDULE_BYTES + 1).fill(0x20), MalformedMessageError],
    ['not canonical (whitespace)', () => utf8(new TextDecoder().decode(encodePriceSchedule(PSI_PRICES)).replace(',', ', ')), MalformedMessageError],
    ['invalid (negative price)', () => utf8('{"id":"x","currency":"CNY","protocols":{"ecdh-psi":{"perRun":-5}}}'), MalformedMessageError],
    ['not JSON', () => utf8('{"id":"x",'), MalformedMessageError],
    ['no price for the protocol', () => encodePriceSchedule(parsePriceSchedule({ id: 'agg', currency: 'CNY', protocols: { aggregate: { perRun: 1 } } })), VerificationFailedError],
  ];
  for (const [name, bytes, type] of hostileCases) {
    for (const hostileRole of ['responder', 'requester'] as const) {
      it(`a ${hostileRole} that sends a ${name} schedule: typed error, no receipt on either side`, async () => {
        hostile.schedule = bytes();
        try {
          const { req, res } = await sessions();
          const [a, b] =
            hostileRole === 'responder'
              ? await exchange(req, res, done(10), done(HOSTILE_INPUT))
              : await exchange(req, res, done(HOSTILE_INPUT), done(20));
          // The honest side decodes the hostile view and refuses to sign; the peer is told the code.
          expect(a.status === 'rejected' && a.reason).toBeInstanceOf(type);
          expect(b.status === 'rejected' && b.reason).toBeInstanceOf(type);
        } finally {
          hostile.schedule = undefined;
        }
      });
    }
  }

  it('a responder whose view bills with a valid schedule other than the one it announced: VerificationFailedError, no receipt', async () => {
    hostile.schedule = encodePriceSchedule(REQUESTER_PRICES);
    try {
      const { req, res } = await sessions({ responderSchedule: PSI_PRICES });
      const [a, b] = await exchange(req, res, done(10), done(HOSTILE_INPUT));
      expect(a.status === 'rejected' && a.reason).toBeInstanceOf(VerificationFailedError);
      expect(b.status === 'rejected' && b.reason).toBeInstanceOf(VerificationFailedError);
    } finally {
      hostile.schedule = undefined;
    }
  });
});

describe('stored amounts', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('a changed amount in a stored entry fails ledger verify, even when the owner re-seals the log', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dataport-billing-'));
    dirs.push(dir);
    const ledger = await openLedger(dir, { owner: responderId });
    for (let i = 0; i < 3; i++) {
      const { req, res } = await sessions({ responderSchedule: PSI_PRICES });
      const [r] = receiptsOf(await exchange(req, res, done(10 + i), done(20)));
      await ledger.append(r!);
    }
    await ledger.close();
    expect((await verifyLedgerDir(dir)).ok).toBe(true);

    const path = join(dir, 'ledger.log');
    const bytes = new Uint8Array(readFileSync(path));
    const { length: headerLength, header } = decodeLogHeader(bytes);
    const records = scanRecords(bytes, headerLength, 0).records;
    // The owner (who has the secret key) raises the amount of entry 1 tenfold,
    // keeping both signatures, recomputing the checksums and re-signing every seal.
    const entries = records.map((r) => r.entry);
    const receipt = decodeReceipt(entries[1]!);
    receipt.body.billing!.amountMinor *= 10;
    entries[1] = encodeReceipt(receipt);
    const tree = new MerkleTree();
    const out = entries.map((entry, index) => {
      tree.append(hashLeaf(entry));
      const seal = signMessage(responderId.secretKey, utf8(formatCheckpointBody({ origin: header.origin, size: index + 1, root: tree.root() })));
      return encodeRecord(index, entry, seal);
    });
    writeFileSync(path, concatBytes(bytes.subarray(0, headerLength), ...out));
    rmSync(join(dir, 'checkpoint'));
    const v = await verifyLedgerDir(dir);
    expect(v.ok).toBe(false);
    expect(v.problem!.index).toBe(1);
    expect(v.problem!.message).toMatch(/receipt/);
  });
});
