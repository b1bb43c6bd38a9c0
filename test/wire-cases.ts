/**
 * Messages of every hand-written binary codec (ledger receipts, session, ECDH-PSI, psi-sum,
 * aggregation), each with a decoder, for `wire-fixtures.test.ts`: their encodings and what their
 * decoders say about every truncation and every byte set to 0xff are pinned in
 * `test/vectors/wire-v1.json`, so a refactoring that changes one byte on the wire or one error
 * message fails.
 */
import { encodeAggregateMessage, decodeAggregateMessage, AggregateMessageType, AbortReason } from '../src/protocols/aggregate/messages.js';
import * as psi from '../src/protocols/psi/codec.js';
import * as psiSum from '../src/protocols/psi-sum/codec.js';
import { decodeReceipt, encodeReceipt, signOneSidedReceipt, signReceiptBody } from '../src/ledger/receipt.js';
import type { UsageReceipt, UsageReceiptBody } from '../src/ledger/receipt-types.js';
import { identityFromSecretKey, signMessage } from '../src/session/identity.js';
import * as session from '../src/session/messages.js';
import { concatBytes } from '../src/utils/bytes.js';
import { psiTerms } from './session-fixtures.js';

/** Deterministic bytes: `n` bytes counting up from `seed`. */
export function seq(n: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (seed + i * 7) & 0xff);
}

/** One pinned message: how to encode it and a decoder that accepts exactly those bytes. */
export interface WireCase {
  name: string;
  encode(): Uint8Array;
  decode(bytes: Uint8Array): unknown;
}

const alice = identityFromSecretKey(seq(32, 1));
const bob = identityFromSecretKey(seq(32, 101));

function body(over: Partial<UsageReceiptBody> = {}): UsageReceiptBody {
  return {
    version: 1,
    sessionId: seq(16, 50),
    startedAt: 1_764_000_000_000,
    endedAt: 1_764_000_012_345,
    parties: [
      { role: 'requester', publicKey: alice.publicKey },
      { role: 'responder', publicKey: bob.publicKey },
    ],
    protocol: 'ecdh-psi',
    options: { truncate: '128', 'count-only': 'false', 'key-schema': '患者编号' },
    purpose: '药物项目审计 2026-12 / programme audit',
    inputSizes: { requester: 1_000_000, responder: Number.MAX_SAFE_INTEGER },
    outputSizes: { requester: 4_321 },
    bytesExchanged: 2 ** 40 + 5,
    computeMs: 77_000,
    guardrails: [
      { rule: 'min-intersection', outcome: 'passed' },
      { rule: 'set-size', outcome: 'passed', detail: '1000000 ≤ 2^24' },
    ],
    billing: { currency: 'CNY', amountMinor: 12_345, schedule: 'port-2026 sha256:' + 'ab'.repeat(32) },
    outcome: 'completed',
    ...over,
  };
}

function coSigned(b: UsageReceiptBody): UsageReceipt {
  return {
    body: b,
    signatures: [
      { publicKey: alice.publicKey, signature: signReceiptBody(alice.secretKey, b) },
      { publicKey: bob.publicKey, signature: signReceiptBody(bob.secretKey, b) },
    ],
  };
}

/** A signed session frame: the unsigned prefix followed by a 64-byte signature over it. */
function signed(unsigned: Uint8Array): Uint8Array {
  return concatBytes(unsigned, signMessage(alice.secretKey, unsigned));
}

const { billing: _billing, ...bodyWithoutBilling } = body();

export const WIRE_CASES: readonly WireCase[] = [
  // ── ledger receipts (the ledger's entries and the signed bytes) ─────────────────────────────
  { name: 'ledger receipt co-signed', encode: () => encodeReceipt(coSigned(body())), decode: decodeReceipt },
  {
    name: 'ledger receipt co-signed, no billing, empty maps',
    encode: () => encodeReceipt(coSigned({ ...bodyWithoutBilling, options: {}, outputSizes: {}, guardrails: [], purpose: '' })),
    decode: decodeReceipt,
  },
  {
    name: 'ledger receipt one-sided',
    encode: () => encodeReceipt(signOneSidedReceipt(alice, body({ outcome: 'aborted-after-data' }))),
    decode: decodeReceipt,
  },
  // ── session handshake and receipt exchange ──────────────────────────────────────────────────
  {
    name: 'session HELLO with binding',
    encode: () => session.encodeHello({ version: 1, publicKey: alice.publicKey, nonce: seq(32, 3), ephemeral: seq(32, 9), bindingHash: seq(32, 200) }),
    decode: session.decodeHello,
  },
  {
    name: 'session HELLO without binding',
    encode: () => session.encodeHello({ version: 1, publicKey: alice.publicKey, nonce: seq(32, 3), ephemeral: seq(32, 9), bindingHash: undefined }),
    decode: session.decodeHello,
  },
  {
    name: 'session REPLY',
    encode: () => signed(session.encodeReplyUnsigned({ version: 1, publicKey: bob.publicKey, nonce: seq(32, 4), ephemeral: seq(32, 10), bindingHash: seq(32, 201) })),
    decode: session.decodeReply,
  },
  {
    name: 'session CONFIRM',
    encode: () =>
      signed(
        session.encodeConfirmUnsigned(
          psiTerms({
            options: { 'count-only': 'false', truncate: '128', 'key-schema': '患者编号,病区' },
            purpose: '药物项目审计',
            recipients: ['requester', 'responder'],
            requesterSetSize: 2 ** 40,
            responderSetSize: { min: 1, max: Number.MAX_SAFE_INTEGER },
            minIntersection: 10,
          }),
        ),
      ),
    decode: session.decodeConfirm,
  },
  {
    name: 'session DECISION accepted',
    encode: () => signed(session.encodeDecisionUnsigned({ accepted: true, reason: '', responderSetSize: 123_456 })),
    decode: session.decodeDecision,
  },
  {
    name: 'session DECISION refused',
    encode: () => signed(session.encodeDecisionUnsigned({ accepted: false, reason: 'purpose not allowed / 用途不符', responderSetSize: 0 })),
    decode: session.decodeDecision,
  },
  {
    name: 'session RECEIPT_VIEW',
    encode: () =>
      session.encodeReceiptView({
        startedAt: 1_764_000_000_000,
        endedAt: 1_764_000_012_345,
        computeMs: 12_000,
        bytesExchanged: 2 ** 33 + 1,
        inputSize: 1_000_000,
        outputSize: 4_321,
        outcome: 'completed',
        guardrails: [
          { rule: 'min-intersection', outcome: 'passed' },
          { rule: 'set-size', outcome: 'passed', detail: '≤ 2^24' },
        ],
        options: { 'query-sha256': 'cd'.repeat(32) },
      }),
    decode: session.decodeReceiptView,
  },
  {
    name: 'session RECEIPT_SIGNATURE',
    encode: () => session.encodeSignatureMessage(session.SessionMessageType.RECEIPT_SIGNATURE, seq(64, 77)),
    decode: (b) => session.decodeSignatureMessage(session.SessionMessageType.RECEIPT_SIGNATURE, b),
  },
  {
    name: 'session ERROR',
    encode: () => session.encodeError({ code: 'ERR_TERMS_REFUSED', message: 'terms refused: 用途不符' }),
    decode: session.decodeError,
  },
  // ── ECDH-PSI (draft-wang-ppm-ecdh-psi-01 §3) ────────────────────────────────────────────────
  {
    name: 'psi HandshakeRequest',
    encode: () => psi.encodeHandshakeRequest({ version: 1, suites: [4, 9], pointOctetFormats: [0], outputMode: 2, truncationOptions: [0, 1, 2], itemNum: 1_000_000n }),
    decode: psi.decodeHandshakeRequest,
  },
  {
    name: 'psi HandshakeResponse',
    encode: () => psi.encodeHandshakeResponse({ version: 1, status: 0, suite: 4, pointOctetFormat: 0, outputMode: 1, truncationOption: 1, itemNum: (1n << 64n) - 1n }),
    decode: psi.decodeHandshakeResponse,
  },
  {
    name: 'psi EcdhPsiBatch round 1',
    encode: () => psi.encodeEcdhPsiBatch({ type: 1, index: 0x0123_4567_89ab_cdefn, isLastBatch: false, encodedPoints: seq(96, 11) }),
    decode: (b) => psi.decodeEcdhPsiBatch(b, { maxPointsBytes: 96, elementBytes: 32 }),
  },
  {
    name: 'psi EcdhPsiBatch round 2 truncated',
    encode: () => psi.encodeEcdhPsiBatch({ type: 2, index: (1n << 64n) - 1n, isLastBatch: true, encodedPoints: seq(48, 13) }),
    decode: (b) => psi.decodeEcdhPsiBatch(b, { maxPointsBytes: 1 << 20, elementBytes: 16 }),
  },
  // ── psi-sum ─────────────────────────────────────────────────────────────────────────────────
  {
    name: 'psi-sum SETUP',
    encode: () =>
      psiSum.encodeSetup({
        version: psiSum.PSI_SUM_VERSION,
        plainBits: 40,
        plainModulus: 1_099_511_922_689n,
        valueKeys: 600,
        columns: [
          { name: 'cost', decimals: 2, bound: 10n ** 12n },
          { name: '不良事件', decimals: 0, bound: (1n << 63n) - 1n },
        ],
      }),
    decode: psiSum.decodeSetup,
  },
  { name: 'psi-sum POINTS', encode: () => psiSum.encodePoints(psiSum.PointRound.ID_KEYS, seq(64, 21)), decode: (b) => psiSum.decodePoints(b, psiSum.PointRound.ID_KEYS) },
  { name: 'psi-sum CIPHERTEXT', encode: () => psiSum.encodeCiphertext(0, 70_000, seq(40, 31)), decode: psiSum.decodeCiphertext },
  { name: 'psi-sum SELECTION withheld', encode: () => psiSum.encodeSelection({ withheld: true }), decode: psiSum.decodeSelection },
  { name: 'psi-sum SELECTION with count', encode: () => psiSum.encodeSelection({ withheld: false, count: -3n, publicKey: seq(20, 41) }), decode: psiSum.decodeSelection },
  { name: 'psi-sum SELECTION without count', encode: () => psiSum.encodeSelection({ withheld: false, publicKey: seq(9, 43) }), decode: psiSum.decodeSelection },
  { name: 'psi-sum RESULT', encode: () => psiSum.encodeResult({ ciphertexts: [seq(12, 51), seq(5, 52)] }), decode: (b) => psiSum.decodeResult(b, 2) },
  { name: 'psi-sum SUMS', encode: () => psiSum.encodeSums([123n, -4n, (1n << 63n) - 1n, -(1n << 63n)]), decode: (b) => psiSum.decodeSums(b, 4) },
  // ── multi-party aggregation ─────────────────────────────────────────────────────────────────
  {
    name: 'aggregate QUERY signed',
    encode: () =>
      encodeAggregateMessage({ type: AggregateMessageType.QUERY, query: seq(30, 61), publicKey: seq(50, 62), signature: { signer: alice.publicKey, signature: seq(64, 63) } }),
    decode: decodeAggregateMessage,
  },
  {
    name: 'aggregate ANNOUNCE unsigned',
    encode: () => encodeAggregateMessage({ type: AggregateMessageType.ANNOUNCE, query: seq(30, 61), publicKey: seq(50, 62) }),
    decode: decodeAggregateMessage,
  },
  { name: 'aggregate CONTRIBUTION', encode: () => encodeAggregateMessage({ type: AggregateMessageType.CONTRIBUTION, ciphertext: seq(33, 71) }), decode: decodeAggregateMessage },
  {
    name: 'aggregate TOTAL',
    encode: () => encodeAggregateMessage({ type: AggregateMessageType.TOTAL, contributors: 3, expected: 4, noiseAdded: true, ciphertext: seq(21, 72) }),
    decode: decodeAggregateMessage,
  },
  { name: 'aggregate DONE', encode: () => encodeAggregateMessage({ type: AggregateMessageType.DONE, contributors: 3 }), decode: decodeAggregateMessage },
  { name: 'aggregate ABORT', encode: () => encodeAggregateMessage({ type: AggregateMessageType.ABORT, reason: AbortReason.QUORUM_REFUSED }), decode: decodeAggregateMessage },
  { name: 'aggregate JOIN', encode: () => encodeAggregateMessage({ type: AggregateMessageType.JOIN }), decode: decodeAggregateMessage },
];

/** What a decoder does with `bytes`: `ok`, or the error's class, code and message. */
export function outcome(decode: (b: Uint8Array) => unknown, bytes: Uint8Array): string {
  try {
    decode(bytes);
    return 'ok';
  } catch (e) {
    const err = e as Error & { code?: string };
    return `${err.name} ${err.code ?? '-'} ${err.message}`;
  }
}

/**
 * The decoder's outcome for every truncation of `bytes` (lengths 0 … n−1), then for every byte set
 * to 0xff, then for one trailing zero byte — run-length encoded as `[outcome, count]` pairs.
 */
export function faultProfile(c: WireCase, bytes: Uint8Array): [string, number][] {
  const outcomes: string[] = [];
  for (let n = 0; n < bytes.length; n++) outcomes.push(outcome(c.decode, bytes.slice(0, n)));
  for (let i = 0; i < bytes.length; i++) {
    const m = bytes.slice();
    m[i] = 0xff;
    outcomes.push(outcome(c.decode, m));
  }
  outcomes.push(outcome(c.decode, concatBytes(bytes, new Uint8Array(1))));
  const rle: [string, number][] = [];
  for (const o of outcomes) {
    const last = rle[rle.length - 1];
    if (last !== undefined && last[0] === o) last[1]++;
    else rle.push([o, 1]);
  }
  return rle;
}
