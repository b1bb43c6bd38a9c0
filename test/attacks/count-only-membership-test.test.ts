// Issue 16, finding 2: in a count-only mode a requester that masks each H(x_i) with its own
// exponent a_i (instead of one session scalar) can test every one of its keys against the
// responder's shuffled round-2 set: (H(y)^b)^{a_i} over the responder's round-1 points is in that
// set exactly when x_i ∈ Y (|Y| multiplications per key). So count-only holds only against a
// semi-honest requester (and, in mode 3, a semi-honest responder, symmetrically).
//
// No DH-PSI stops this; the fix is to say so. The test asserts what the fix delivers — the terms
// and the co-signed receipt of every count-only run state `security=semi-honest` — and, as
// documentation by test, that the attack does recover membership (so nobody "fixes" the docs back
// to a malicious-secure claim). Before the fix receipts carried no security model: the second test
// fails on that code (`options.security` undefined).
import { beforeAll, describe, expect, it } from 'vitest';
import { generateScalar } from '../../src/crypto/scalar.js';
import { createInlineExecutor, type CryptoExecutor } from '../../src/protocols/executor.js';
import {
  BatchType,
  CipherSuite,
  OutputMode,
  PSI_VERSION,
  PointOctetFormat,
  TruncationOption,
  createPsiResponder,
  decodeEcdhPsiBatch,
  decodeHandshakeResponse,
  encodeEcdhPsiBatch,
  encodeHandshakeRequest,
  normalizeKey,
  valueBytes,
} from '../../src/protocols/index.js';
import { truncateValues } from '../../src/protocols/psi/values.js';
import { createMemoryTransportPair } from '../../src/transport/memory.js';
import { generateIdentity, runPsi, SECURITY_MODELS, securityModelOf } from '../../src/session/index.js';
import { buildUsageReport } from '../../src/ledger/report.js';
import { toHex } from '../../src/utils/bytes.js';

let executor: CryptoExecutor;
beforeAll(async () => {
  executor = await createInlineExecutor();
});

const key = (s: string): Uint8Array => normalizeKey([s])!;
// The requester's keys (the targets) and the responder's set: targets 1, 3 and 4 are in it.
const TARGETS = ['110101199003070011', '11010119900307002x', '440101198001010033', '310101197512120044', '510101196605050055'];
const RESPONDER = ['11010119900307002X', '310101197512120044', '510101196605050055', '120101200001010066', '130101200101010077', '140101200201010088'];
const IN_Y = TARGETS.map((t) => RESPONDER.some((y) => key(y).every((b, i) => b === key(t)[i]) && key(y).length === key(t).length));

describe('finding 2: count-only membership test by a malicious requester', () => {
  it('per-key exponents recover exactly which of the requester’s keys are in the responder’s set (mode 2)', async () => {
    const ekm = crypto.getRandomValues(new Uint8Array(32));
    const truncation = TruncationOption.BITS_128;
    const L = valueBytes(truncation);
    // The honest responder of a count-to-requester run (dataport mode 2).
    const s = createPsiResponder({
      records: RESPONDER.map(key),
      ekm,
      executor,
      options: { output: 'requester', cardinalityOnly: true, truncation },
    });
    // The malicious requester speaks the wire format itself.
    await s.receiveFrame(
      encodeHandshakeRequest({
        version: PSI_VERSION,
        suites: [CipherSuite.CURVE25519],
        pointOctetFormats: [PointOctetFormat.U_COORDINATE],
        outputMode: OutputMode.CARDINALITY_REQUESTER,
        truncationOptions: [truncation],
        itemNum: BigInt(TARGETS.length),
      }),
    );
    const hs = decodeHandshakeResponse(await s.nextFrame());
    expect(hs.status).toBe(0);
    // Round 1: H(x_i)^{a_i}, one fresh exponent per key (an honest party uses one per session).
    const exps = TARGETS.map(() => generateScalar());
    const hashed = await executor.hashToGroup(TARGETS.map(key), ekm);
    const r1 = new Uint8Array(TARGETS.length * 32);
    for (let i = 0; i < TARGETS.length; i++) r1.set(await executor.multiply(exps[i]!, hashed.subarray(i * 32, i * 32 + 32)), i * 32);
    await s.receiveFrame(encodeEcdhPsiBatch({ type: BatchType.ROUND1, index: 7n, isLastBatch: true, encodedPoints: r1 }));
    // The responder sends H(y)^b (its round 1), then the shuffled, re-indexed H(x_i)^{a_i b} (round 2).
    const yb: Uint8Array[] = [];
    const returned = new Set<string>();
    while (s.status === 'send') {
      const frame = await s.nextFrame();
      const batch = decodeEcdhPsiBatch(frame, { maxPointsBytes: 1 << 20, elementBytes: frame[0] === BatchType.ROUND1 ? 32 : L });
      if (batch.type === BatchType.ROUND1) yb.push(batch.encodedPoints.slice());
      else for (let t = 0; t < batch.encodedPoints.length / L; t++) returned.add(toHex(batch.encodedPoints.subarray(t * L, t * L + L)));
    }
    expect(s.status).toBe('done');
    expect(returned.size).toBe(TARGETS.length);
    const ybAll = new Uint8Array(yb.reduce((n, b) => n + b.length, 0));
    yb.reduce((off, b) => (ybAll.set(b, off), off + b.length), 0);
    // The test: for each key, (H(y)^b)^{a_i} for every y; a hit in the returned set means x_i ∈ Y.
    const recovered: boolean[] = [];
    for (let i = 0; i < TARGETS.length; i++) {
      const mine = truncateValues(await executor.multiply(exps[i]!, ybAll), L);
      let hit = false;
      for (let t = 0; t < mine.length / L; t++) hit ||= returned.has(toHex(mine.subarray(t * L, t * L + L)));
      recovered.push(hit);
    }
    // Membership of every target, not just the count: count-only is semi-honest only.
    expect(IN_Y).toEqual([false, true, false, true, true]);
    expect(recovered).toEqual(IN_Y);
  });

  it('so every count-only run states security=semi-honest in its signed terms and co-signed receipt (and a ledger report shows it)', async () => {
    const pharma = generateIdentity();
    const hospital = generateIdentity();
    const [a, b] = createMemoryTransportPair();
    const [mine, theirs] = await Promise.all([
      runPsi({
        role: 'requester',
        records: TARGETS,
        transport: a,
        identity: pharma,
        peerPublicKey: hospital.publicKey,
        terms: { countOnly: true, reveal: 'both' },
      }),
      runPsi({ role: 'responder', records: RESPONDER, transport: b, identity: hospital, peerPublicKey: pharma.publicKey }),
    ]);
    expect(mine.learned).toBe('cardinality');
    expect(mine.intersectionSize).toBe(3);
    for (const r of [mine.receipt, theirs.receipt]) {
      expect(r.body.options['count-only']).toBe('true');
      expect(r.body.options['security']).toBe('semi-honest');
      expect(securityModelOf(r.body.protocol, r.body.options)).toEqual(SECURITY_MODELS.semiHonest);
    }
    const rows = buildUsageReport([mine.receipt], { by: 'security' });
    expect(rows.map((r) => r.key)).toEqual(['ecdh-psi semi-honest']);
  });
});
