/**
 * `superviseLedger` (issue 17 part 3): for each rule a ledger that triggers it and one that does
 * not, built from real signed receipts; every alert's inclusion proofs verify against the head.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { computeKeySketch, decodeKeySketch, encodeKeySketch, estimateKeySetDifference, keySketchCommitment, KEY_SKETCH_K } from '../src/ledger/key-sketch.js';
import { openLedger, readLedgerCheckpoint } from '../src/ledger/node.js';
import { hashLeaf, verifyInclusionProof } from '../src/ledger/merkle.js';
import { MalformedMessageError } from '../src/errors.js';
import { encodeReceipt } from '../src/ledger/receipt.js';
import { traceReceiptBody } from '../src/ledger/release-records.js';
import { generateIdentity } from '../src/session/identity.js';
import { runPsi } from '../src/session/run-psi.js';
import { writeKeySketch, KEY_SKETCH_DIR } from '../src/ledger/sketch-store.js';
import { createMemoryTransportPair } from '../src/transport/memory.js';
import { fromHex, toHex, utf8 } from '../src/utils/bytes.js';
import { alertId, DEFAULT_SUPERVISION_RULES, formatRefusalLine, parseSupervisionRules, sharingRecords, superviseLedger, type Alert, type SuperviseResult } from '../src/supervise/index.js';
import { psiTerms } from './session-fixtures.js';
import { DAY, fixtureLedger, HOUR, ids, MONDAY_10H } from './supervise-fixtures.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

async function ledgerWith(build: (f: Awaited<ReturnType<typeof fixtureLedger>>) => Promise<void>) {
  const f = await fixtureLedger();
  cleanups.push(() => f.cleanup());
  await build(f);
  await f.close();
  return f;
}

const only = (r: SuperviseResult, rule: string): Alert[] => r.alerts.filter((a) => a.rule === rule);

/** Every alert's entries: the leaf hash is the entry's, and the proof verifies against the head root. */
function expectProofsVerify(r: SuperviseResult): void {
  expect(r.alerts.some((a) => a.entries.length > 0)).toBe(true);
  for (const a of r.alerts) {
    for (const e of a.entries) {
      expect(() => verifyInclusionProof(fromHex(e.leafHash), e.index, r.head.size, e.proof.map(fromHex), fromHex(r.head.root))).not.toThrow();
    }
  }
}

describe('key sketches', () => {
  const secret = new Uint8Array(32).fill(7);
  const enc = (xs: readonly string[]) => xs.map((x) => utf8(x));

  it('holds the whole set below k and then estimates |A Δ B| exactly', () => {
    const a = computeKeySketch(enc(ids(0, 50)), secret);
    const b = computeKeySketch(enc([...ids(0, 47), ...ids(1000, 2)]), secret);
    expect(a.mins.length).toBe(50);
    const e = estimateKeySetDifference(a, b);
    expect(e.exact).toBe(true);
    expect(e.difference).toBe(5); // 3 left out, 2 added
  });

  it('estimates large differences within the documented error and floors at ||A| - |B||', () => {
    const a = computeKeySketch(enc(ids(0, 20_000)), secret);
    const b = computeKeySketch(enc(ids(5_000, 20_000)), secret); // |A Δ B| = 10 000, J = 0.6
    expect(a.mins.length).toBe(KEY_SKETCH_K);
    const e = estimateKeySetDifference(a, b);
    expect(e.exact).toBe(false);
    // sd of J ≈ sqrt(0.6·0.4/128) ≈ 0.043: four sd in J is about ±3 000 keys here.
    expect(Math.abs(e.difference - 10_000)).toBeLessThan(3_000);
    const c = computeKeySketch(enc(ids(0, 20_005)), secret);
    expect(estimateKeySetDifference(a, c).difference).toBeGreaterThanOrEqual(5);
  });

  it('hashes under the identity: another secret gives another sketch of the same keys', () => {
    const a = computeKeySketch(enc(ids(0, 500)), secret);
    const b = computeKeySketch(enc(ids(0, 500)), new Uint8Array(32).fill(8));
    expect(toHex(encodeKeySketch(a))).not.toBe(toHex(encodeKeySketch(b)));
    expect(estimateKeySetDifference(a, computeKeySketch(enc(ids(0, 500)), secret)).difference).toBe(0);
  });

  it('round-trips its encoding; refuses anything else; the commitment depends on the salt', () => {
    const s = computeKeySketch(enc(ids(0, 300)), secret);
    const bytes = encodeKeySketch(s);
    expect(decodeKeySketch(bytes)).toEqual(s);
    const bad = bytes.slice();
    bad.fill(0, bad.length - 4); // last value 0: no longer ascending
    expect(() => decodeKeySketch(bad)).toThrow(MalformedMessageError);
    expect(() => decodeKeySketch(bytes.subarray(0, bytes.length - 1))).toThrow(MalformedMessageError);
    const c1 = keySketchCommitment(bytes, new Uint8Array(32).fill(1));
    expect(keySketchCommitment(bytes, new Uint8Array(32).fill(2))).not.toBe(c1);
    expect(c1).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('superviseLedger: each rule fires on its fixture and not on the other', () => {
  it('differencing: near-identical key sets with one counterparty', async () => {
    const peer = generateIdentity();
    const other = generateIdentity();
    const f = await ledgerWith(async (f) => {
      await f.run({ peer, keys: ids(0, 1000) });
      await f.run({ peer, keys: [...ids(0, 999), ...ids(5000, 1)] }); // differs by 2 keys
      await f.run({ peer: other, keys: ids(0, 1000) }); // same keys, another counterparty: no pair
    });
    const r = await superviseLedger({ ledgerDir: f.dir });
    const d = only(r, 'differencing');
    expect(d).toHaveLength(1);
    expect(d[0]!.counterparty).toBe(toHex(peer.publicKey));
    expect(d[0]!.entries.map((e) => e.index)).toEqual([0, 1]);
    expect(d[0]!.details['estimatedDifference']).toBeLessThan(10);
    expect(d[0]!.level).toBe('warning');
    expectProofsVerify(r);

    const g = await ledgerWith(async (g) => {
      await g.run({ peer, keys: ids(0, 1000) });
      await g.run({ peer, keys: ids(3000, 1000) }); // disjoint
    });
    expect(only(await superviseLedger({ ledgerDir: g.dir }), 'differencing')).toHaveLength(0);
  });

  it('sketch-integrity: a changed sketch file is not used; a missing one is reported', async () => {
    const peer = generateIdentity();
    const f = await ledgerWith(async (f) => {
      await f.run({ peer, keys: ids(0, 1000) });
      await f.run({ peer, keys: ids(0, 1000) });
    });
    const r0 = await superviseLedger({ ledgerDir: f.dir });
    expect(only(r0, 'differencing')).toHaveLength(1);
    expect(only(r0, 'sketch-integrity')).toHaveLength(0);
    // Replace the second run's sketch with one of other keys (same salt): the commitment fails.
    const receipts = await (async () => {
      const l = await openLedger(f.dir, { owner: f.owner });
      try {
        return await l.readReceipts();
      } finally {
        await l.close();
      }
    })();
    const sid = toHex(receipts[1]!.body.sessionId);
    const path = join(f.dir, KEY_SKETCH_DIR, `${sid}.json`);
    const stored = JSON.parse(readFileSync(path, 'utf8')) as { salt: string };
    await writeKeySketch(f.dir, {
      sessionId: receipts[1]!.body.sessionId,
      role: 'requester',
      sketch: encodeKeySketch(computeKeySketch(ids(7000, 1000).map((x) => utf8(x)), f.owner.secretKey)),
      salt: fromHex(stored.salt),
    });
    const r1 = await superviseLedger({ ledgerDir: f.dir });
    expect(only(r1, 'differencing')).toHaveLength(0);
    expect(only(r1, 'sketch-integrity').map((a) => [a.level, a.details['problem']])).toEqual([['warning', 'mismatch']]);
    writeFileSync(path, 'not json');
    expect(only(await superviseLedger({ ledgerDir: f.dir }), 'sketch-integrity')[0]!.details['problem']).toBe('malformed');
  });

  it('distinct-keys: the counterparty probes more keys in a period than allowed', async () => {
    const peer = generateIdentity();
    const rules = parseSupervisionRules({ distinctKeys: { maxKeys: 100, period: 'month' } });
    const f = await ledgerWith(async (f) => {
      await f.run({ peer, peerSize: 60 });
      await f.run({ peer, peerSize: 60 });
    });
    const a = only(await superviseLedger({ ledgerDir: f.dir, rules }), 'distinct-keys');
    expect(a.map((x) => [x.entries[0]!.index, x.details['keys']])).toEqual([[1, 120]]);
    const g = await ledgerWith(async (g) => {
      await g.run({ peer, peerSize: 60, at: MONDAY_10H });
      await g.run({ peer, peerSize: 60, at: MONDAY_10H + 31 * DAY }); // next month
    });
    expect(only(await superviseLedger({ ledgerDir: g.dir, rules }), 'distinct-keys')).toHaveLength(0);
  });

  it('rate: more runs than allowed within an hour, once per burst', async () => {
    const peer = generateIdentity();
    const rules = parseSupervisionRules({ rate: { maxRunsPerHour: 3 } });
    const f = await ledgerWith(async (f) => {
      for (let i = 0; i < 5; i++) await f.run({ peer, at: MONDAY_10H + i * 60_000 });
    });
    const a = only(await superviseLedger({ ledgerDir: f.dir, rules }), 'rate');
    expect(a.map((x) => x.entries.map((e) => e.index))).toEqual([[0, 3]]);
    const g = await ledgerWith(async (g) => {
      for (let i = 0; i < 5; i++) await g.run({ peer, at: MONDAY_10H + i * 31 * 60_000 });
    });
    expect(only(await superviseLedger({ ledgerDir: g.dir, rules }), 'rate')).toHaveLength(0);
  });

  it('off-hours: a run at 03:00 UTC+8 or on Sunday, none at 10:00 on a Monday', async () => {
    const peer = generateIdentity();
    const f = await ledgerWith(async (f) => {
      await f.run({ peer, at: MONDAY_10H });
      await f.run({ peer, at: MONDAY_10H - 7 * HOUR }); // Monday 03:00 local
      await f.run({ peer, at: MONDAY_10H - DAY }); // Sunday 10:00 local
    });
    const a = only(await superviseLedger({ ledgerDir: f.dir }), 'off-hours');
    expect(a.map((x) => x.entries[0]!.index).sort()).toEqual([1, 2]);
    expect(a.find((x) => x.entries[0]!.index === 1)!.details['localTime']).toBe('2026-03-02 03:00');
  });

  it('first-contact: once per counterparty, at its first entry', async () => {
    const a1 = generateIdentity();
    const a2 = generateIdentity();
    const f = await ledgerWith(async (f) => {
      await f.run({ peer: a1 });
      await f.run({ peer: a1 });
      await f.run({ peer: a2 });
    });
    const a = only(await superviseLedger({ ledgerDir: f.dir, peerLabels: { [toHex(a2.publicKey)]: 'hospital-b' } }), 'first-contact');
    expect(a.map((x) => [x.counterparty, x.entries[0]!.index, x.level])).toEqual([
      [toHex(a1.publicKey), 0, 'info'],
      [toHex(a2.publicKey), 2, 'info'],
    ]);
    expect(a[1]!.message).toContain('hospital-b');
    const off = parseSupervisionRules({ firstContact: { enabled: false } });
    expect(only(await superviseLedger({ ledgerDir: f.dir, rules: off }), 'first-contact')).toHaveLength(0);
  });

  it('budgets: a warning at 80 % and an error at 100 % of the period, none below', async () => {
    const peer = generateIdentity();
    const rules = parseSupervisionRules({ budget: { policy: { period: 'month', maxQueries: 5 } } });
    const f = await ledgerWith(async (f) => {
      for (let i = 0; i < 5; i++) await f.run({ peer });
      await f.run({ peer, outcome: 'refused' });
    });
    const r = await superviseLedger({ ledgerDir: f.dir, rules });
    expect(only(r, 'budget-80').map((a) => [a.level, a.entries[0]!.index, a.details['used']])).toEqual([['warning', 3, 4]]);
    expect(only(r, 'budget-100').map((a) => [a.level, a.entries[0]!.index, a.details['used']])).toEqual([['error', 4, 5]]);
    expectProofsVerify(r);
    const g = await ledgerWith(async (g) => {
      for (let i = 0; i < 3; i++) await g.run({ peer });
    });
    const s = await superviseLedger({ ledgerDir: g.dir, rules });
    expect(only(s, 'budget-80')).toHaveLength(0);
    expect(only(s, 'budget-100')).toHaveLength(0);
  });

  it('aborted-after-data: one-sided receipts of aborted runs, not other one-sided entries', async () => {
    const peer = generateIdentity();
    const f = await ledgerWith(async (f) => {
      await f.run({ peer });
      await f.run({ peer, oneSided: true, outcome: 'aborted-after-data', options: { error: 'ERR_TRANSPORT_CLOSED' } });
      await f.record('release', 'completed', { 'release-id': '00'.repeat(16), recipient: toHex(peer.publicKey) });
    });
    const a = only(await superviseLedger({ ledgerDir: f.dir }), 'aborted-after-data');
    expect(a.map((x) => [x.entries[0]!.index, x.details['error']])).toEqual([[1, 'ERR_TRANSPORT_CLOSED']]);
  });

  it('trace-hit: an attributed trace entry is an error naming the recipient; no trace entry, no alert', async () => {
    const peer = generateIdentity();
    const f = await ledgerWith(async (f) => {
      await f.run({ peer });
      const fileSha256 = new Uint8Array(32).fill(0xcd);
      const releaseId = new Uint8Array(16).fill(0xab);
      await f.oneSided(traceReceiptBody({ owner: f.owner.publicKey, fileSha256, rows: 1000, hit: { releaseId, recipient: peer.publicKey, rowsMatched: 300, falseAccusation: 1e-9 }, at: MONDAY_10H }));
      await f.oneSided(traceReceiptBody({ owner: f.owner.publicKey, fileSha256, rows: 1000, at: MONDAY_10H }));
    });
    const r = await superviseLedger({ ledgerDir: f.dir });
    const a = only(r, 'trace-hit');
    expect(a.map((x) => [x.level, x.counterparty, x.entries[0]!.index])).toEqual([
      ['error', toHex(peer.publicKey), 1],
      ['warning', null, 2],
    ]);
    expect(a[0]!.details).toMatchObject({ releaseId: 'ab'.repeat(16), rowsMatched: '300', falseAccusation: '1.00e-9' });
    // Trace and release records are not runs: no first contact, rate or budget from them.
    expect(only(r, 'first-contact')).toHaveLength(1);
    const g = await ledgerWith(async (g) => void (await g.run({ peer })));
    expect(only(await superviseLedger({ ledgerDir: g.dir }), 'trace-hit')).toHaveLength(0);
  });

  it('ledger-integrity: a changed byte is an error naming the entry; the rules still run on the entries before it', async () => {
    const peer = generateIdentity();
    const f = await ledgerWith(async (f) => {
      for (let i = 0; i < 3; i++) await f.run({ peer });
    });
    const ok = await superviseLedger({ ledgerDir: f.dir });
    expect(ok.head.verified).toBe(true);
    expect(only(ok, 'ledger-integrity')).toHaveLength(0);
    const log = join(f.dir, 'ledger.log');
    const bytes = readFileSync(log);
    bytes[bytes.length - 200]! ^= 0x01; // inside the last record
    writeFileSync(log, bytes);
    const r = await superviseLedger({ ledgerDir: f.dir });
    const a = only(r, 'ledger-integrity');
    expect(a).toHaveLength(1);
    expect(a[0]!.level).toBe('error');
    expect(a[0]!.details['index']).toBe(2);
    expect(r.head.verified).toBe(false);
    expect(r.head.size).toBe(2);
    expect(only(r, 'first-contact')).toHaveLength(1);
  });

  it('witness: a ledger its owner rewrote no longer extends a saved checkpoint', async () => {
    const peer = generateIdentity();
    const f = await ledgerWith(async (f) => {
      for (let i = 0; i < 3; i++) await f.run({ peer });
    });
    const saved = (await readLedgerCheckpoint(f.dir))!;
    expect(only(await superviseLedger({ ledgerDir: f.dir, witnesses: [{ name: 'peer.cp', text: saved }] }), 'witness')).toHaveLength(0);
    // The owner drops entry 1 and seals the rest again.
    const l = await openLedger(f.dir, { owner: f.owner });
    const receipts = await l.readReceipts();
    const origin = l.origin;
    await l.close();
    const { rmSync } = await import('node:fs');
    rmSync(join(f.dir, 'ledger.log'));
    rmSync(join(f.dir, 'checkpoint'));
    const l2 = await openLedger(f.dir, { owner: f.owner, origin });
    for (const [i, r] of receipts.entries()) if (i !== 1) await l2.append(r);
    await l2.close();
    const r = await superviseLedger({ ledgerDir: f.dir, witnesses: [{ name: 'peer.cp', text: saved }] });
    expect(r.head.verified).toBe(true);
    const a = only(r, 'witness');
    expect(a.map((x) => [x.level, x.details['witness']])).toEqual([['error', 'peer.cp']]);
  });

  it('refused-connections: a burst from one address within an hour, from the listener log', async () => {
    const peer = generateIdentity();
    const f = await ledgerWith(async (f) => void (await f.run({ peer })));
    const logFile = join(f.dir, '..', 'refused.jsonl');
    const lines = (n: number, addr: string) => Array.from({ length: n }, (_, i) => formatRefusalLine({ at: MONDAY_10H + i * 1000, address: addr, reason: 'peer key not allowed' }));
    writeFileSync(logFile, `${[...lines(10, '198.51.100.7'), ...lines(9, '203.0.113.9'), 'garbage'].join('\n')}\n`);
    const r = await superviseLedger({ ledgerDir: f.dir, listenerLogs: [logFile] });
    const a = only(r, 'refused-connections');
    expect(a.map((x) => [x.details['address'], x.details['count'], x.entries.length])).toEqual([['198.51.100.7', 10, 0]]);
    expect(r.refusalLinesSkipped).toBe(1);
  });
});

describe('superviseLedger: the real pipeline', () => {
  it('runPsi with onKeySketch writes the sketch, records its commitment, and a repeated query is a differencing pair', async () => {
    const f = await fixtureLedger();
    cleanups.push(() => f.cleanup());
    const hospital = generateIdentity();
    const hospitalRows = ids(0, 400);
    const query = async (keys: string[]) => {
      const [a, b] = createMemoryTransportPair();
      await Promise.all([
        runPsi({
          role: 'requester', records: keys, transport: a, identity: f.owner, peerPublicKey: hospital.publicKey,
          terms: psiTerms({ requesterSetSize: keys.length }),
          onKeySketch: async (s) => void (await writeKeySketch(f.dir, s)),
          onReceipt: async (r) => void (await f.ledger.append(r)),
        }),
        runPsi({ role: 'responder', records: hospitalRows, transport: b, identity: hospital, peerPublicKey: f.owner.publicKey }),
      ]);
    };
    await query(ids(100, 200));
    await query([...ids(100, 199), ...ids(9000, 1)]); // one patient swapped: the classic differencing pair
    await query(ids(2000, 200));
    await f.close();
    const r = await superviseLedger({ ledgerDir: f.dir });
    const l = await openLedger(f.dir, { owner: f.owner });
    const receipts = await l.readReceipts();
    await l.close();
    expect(receipts[0]!.body.options['requester-set-size']).toBe('200');
    expect(receipts[0]!.body.options['requester-sketch-commit']).toMatch(/^[0-9a-f]{64}$/);
    expect(receipts[0]!.body.options['responder-sketch-commit']).toBeUndefined();
    expect(only(r, 'sketch-integrity')).toHaveLength(0);
    const d = only(r, 'differencing');
    // 200 keys are more than the sketch holds: an estimate (true difference 2), below the default k = 10.
    expect(d.map((a) => [a.entries.map((e) => e.index), a.details['exact']])).toEqual([[[0, 1], false]]);
    expect(d[0]!.details['estimatedDifference']).toBeLessThan(10);
    for (const a of r.alerts) for (const e of a.entries) expect(e.leafHash).toBe(toHex(hashLeaf(encodeReceipt(receipts[e.index]!))));
  });
});

describe('rules file, alert ids and sharing records', () => {
  it('refuses unknown rules and fields, wrong levels and ranges, naming them', () => {
    expect(() => parseSupervisionRules('{"rat":{}}')).toThrow(/unknown rule rat/);
    expect(() => parseSupervisionRules({ rate: { maxRunsPerHr: 3 } })).toThrow(/unknown field rate.maxRunsPerHr/);
    expect(() => parseSupervisionRules({ rate: { level: 'fatal' } })).toThrow(/rate.level/);
    expect(() => parseSupervisionRules({ differencing: { minDifference: 0 } })).toThrow(/differencing.minDifference/);
    expect(() => parseSupervisionRules({ offHours: { workStart: 20, workEnd: 8 } })).toThrow(/workEnd/);
    expect(() => parseSupervisionRules({ budget: { policy: { period: 'year', maxQueries: 1 } } })).toThrow(/budget.policy/);
    expect(parseSupervisionRules('{}')).toEqual(DEFAULT_SUPERVISION_RULES);
  });

  it('alertId ignores time and wording, not entries or details', () => {
    const a = { rule: 'rate' as const, counterparty: null, entries: [{ index: 1, leafHash: '', proof: [] as string[] }], details: { runs: 4 } };
    expect(alertId({ ...a })).toBe(alertId({ ...a, entries: [{ index: 1, leafHash: 'x', proof: ['y'] }] }));
    expect(alertId(a)).not.toBe(alertId({ ...a, details: { runs: 5 } }));
  });

  it('sharing records carry date, scale, purpose and recipients; missing fields are named', async () => {
    const peer = generateIdentity();
    const f = await ledgerWith(async (f) => {
      await f.run({ peer, ownSize: 200, peerSize: 5000 });
      await f.run({ peer, purpose: '', options: { recipients: 'requester+responder' } });
      await f.run({ peer, outcome: 'refused' });
      await f.record('trace', 'unattributed', {});
    });
    const l = await openLedger(f.dir, { owner: f.owner });
    const receipts = await l.readReceipts();
    await l.close();
    const recs = sharingRecords(receipts, f.owner.publicKey);
    expect(recs.map((r) => r.index)).toEqual([0, 1]);
    expect(recs[0]).toMatchObject({
      date: new Date(receipts[0]!.body.startedAt).toISOString(),
      purpose: 'programme audit',
      scale: { input: { requester: 200, responder: 5000 }, output: { requester: 10 } },
      recipients: [{ role: 'requester', publicKey: toHex(f.owner.publicKey) }],
      counterparties: [toHex(peer.publicKey)],
      missing: [],
    });
    expect(recs[1]!.recipients.map((x) => x.role)).toEqual(['requester', 'responder']);
    expect(recs[1]!.missing).toEqual(['purpose']);
  });
});

describe('the listeners\' refusal log', () => {
  it('reportRejected appends one JSON line per refusal once --refusal-log is set, read back by parseRefusalLog', async () => {
    const { reportRejected, setRefusalLog } = await import('../src/cli/listen-loop.js');
    const { parseRefusalLog } = await import('../src/supervise/refusal-log.js');
    const f = await fixtureLedger();
    cleanups.push(() => f.cleanup());
    await f.close();
    const file = join(f.dir, '..', 'refused.jsonl');
    const stderr = process.stderr.write;
    process.stderr.write = (() => true) as typeof process.stderr.write;
    try {
      reportRejected('192.0.2.1', 'not logged: no file set');
      setRefusalLog(file);
      reportRejected('192.0.2.7', 'peer key not allowed\nsecond line');
      reportRejected('192.0.2.8', 'handshake timed out');
    } finally {
      setRefusalLog(undefined);
      process.stderr.write = stderr;
    }
    const { records, skipped } = parseRefusalLog(readFileSync(file, 'utf8'));
    expect(skipped).toBe(0);
    expect(records.map((r) => [r.address, r.reason])).toEqual([
      ['192.0.2.7', 'peer key not allowed second line'],
      ['192.0.2.8', 'handshake timed out'],
    ]);
  });
});

describe('alert texts in Chinese', () => {
  it('every rule has a Chinese text, rendered from the same details as the English one', async () => {
    const { SUPERVISE_MESSAGES, alertText } = await import('../src/supervise/messages.js');
    const details = { index: 4, earlierIndex: 2, counterpartyLabel: '某医院', period: 'day', share: 0.8, used: 8, max: 10, limit: 'maxQueries', outcome: 'attributed', problem: 'missing' };
    for (const rule of Object.keys(SUPERVISE_MESSAGES)) {
      const zh = alertText('zh', rule, details)!;
      expect(zh, rule).toMatch(/[\u4e00-\u9fff]/);
      expect(alertText('en', rule, details), rule).toBe((SUPERVISE_MESSAGES as Record<string, (d: object) => string>)[rule]!(details));
    }
    expect(alertText('zh', 'no-such-rule', details)).toBeUndefined();
  });
});
