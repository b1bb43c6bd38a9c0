/**
 * End-to-end tests of `--price-schedule` and `--budget` on `dataport psi` and `dataport psi-sum`:
 * separate processes of the built CLI over 127.0.0.1 (listener on port 0), ledgers read back with
 * `dataport ledger report` / `verify` and the ledger API.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { openLedger, verifyLedgerDir } from '../src/ledger/file-ledger.js';
import { parsePriceSchedule, priceScheduleRef } from '../src/ledger/pricing.js';
import { signReceiptBody } from '../src/ledger/receipt.js';
import type { UsageReceiptBody } from '../src/ledger/receipt-types.js';
import { type Identity } from '../src/session/identity.js';
import { toBase64 } from '../src/utils/bytes.js';
import { assertBuilt, expectOneLineError, killAll, runCli, startCli, tempDir, runCliPair, lastJson, writeIdentityDir } from './cli-helpers.js';

vi.setConfig({ testTimeout: 180_000 });

const tmp = tempDir('dataport-wiring-');
const D = tmp.dir;
const p = (name: string) => join(D, name);
const ids: Record<string, Identity> = {};

function writeIdentity(name: string): void {
  ids[name] = writeIdentityDir(p(name));
}

// 4 distinct requester keys, 5 distinct listener keys, 3 in common.
const PHARMA = 'resident_id\n1001\n1002\n1003\n1004\n1002\n';
const HOSPITAL = 'patient_id,cost_yuan\n1001,10.5\n1002,20\n1003,1.25\n2001,7\n2002,8\n';

const SCHEDULE = {
  id: 'port-2026-01',
  currency: 'CNY',
  guideCap: 500000,
  protocols: { 'ecdh-psi': { perRun: 1000, per1000Records: 50, perGB: 2000 }, 'psi-sum': { perRun: 2000 } },
};
/** How receipts name SCHEDULE: its id and the SHA-256 of its canonical bytes. */
const SCHEDULE_REF = priceScheduleRef(parsePriceSchedule(SCHEDULE));

beforeAll(() => {
  assertBuilt();
  writeIdentity('pharma');
  writeIdentity('hospital');
  writeFileSync(p('pharma.csv'), PHARMA);
  writeFileSync(p('hospital.csv'), HOSPITAL);
  writeFileSync(p('prices.json'), JSON.stringify(SCHEDULE));
  writeFileSync(p('budget-1.json'), JSON.stringify({ period: 'month', maxQueries: 1 }));
  writeFileSync(p('bad-prices.json'), JSON.stringify({ ...SCHEDULE, currency: 'yuan' }));
  writeFileSync(p('no-psi-price.json'), JSON.stringify({ id: 'x', currency: 'CNY', protocols: { aggregate: { perRun: 1 } } }));
  writeFileSync(p('bad-budget.json'), '{"period":"year","maxQueries":1}');
  writeFileSync(p('not-json.json'), '{"period":');
});
afterEach(killAll);
afterAll(() => tmp.cleanup());

const W = 120_000;
const psiListener = (ledger: string, extra: string[] = []) => [
  'psi', '--listen', '127.0.0.1:0', '--identity', p('hospital'), '--peer-key', p('pharma/identity.pub'), '--workers', '0',
  '--input', p('hospital.csv'), '--key', 'patient_id', '--ledger', p(ledger), '--json', ...extra,
];
const psiRequester = (url: string, ledger: string, extra: string[] = []) => [
  'psi', '--connect', url, '--identity', p('pharma'), '--peer-key', p('hospital/identity.pub'), '--workers', '0',
  '--input', p('pharma.csv'), '--key', 'resident_id', '--ledger', p(ledger), '--json', ...extra,
];
const sumListener = (ledger: string, extra: string[] = []) => [
  'psi-sum', '--listen', '127.0.0.1:0', '--identity', p('hospital'), '--peer-key', p('pharma/identity.pub'), '--workers', '0',
  '--input', p('hospital.csv'), '--key', 'patient_id', '--values', 'cost_yuan', '--ledger', p(ledger), '--json', ...extra,
];
const sumRequester = (url: string, ledger: string, extra: string[] = []) => [
  'psi-sum', '--connect', url, '--identity', p('pharma'), '--peer-key', p('hospital/identity.pub'), '--workers', '0',
  '--input', p('pharma.csv'), '--key', 'resident_id', '--ledger', p(ledger), '--json', ...extra,
];

const pair = (listenerArgs: string[], requesterArgs: (url: string) => string[]) => runCliPair(listenerArgs, requesterArgs, { watchdogMs: W });

async function outcomes(dir: string, owner: Identity): Promise<string[]> {
  const ledger = await openLedger(dir, { owner });
  try {
    return (await ledger.readReceipts()).map((r) => r.body.outcome);
  } finally {
    await ledger.close();
  }
}

/** A TCP server that only counts connections: proves a command gave up before connecting. */
async function countingServer(): Promise<{ server: Server; url: string; connections: () => number }> {
  let n = 0;
  const server = createServer((s) => {
    n++;
    s.destroy();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}`, connections: () => n };
}

describe('dataport psi --price-schedule', () => {
  it('the listener bills: both parties sign the amount, both ledgers and reports hold it, no side file', async () => {
    const { l, r } = await pair(psiListener('h-priced', ['--price-schedule', p('prices.json')]), (url) => psiRequester(url, 'p-priced'));
    expect(l.code, l.stderr).toBe(0);
    expect(r.code, r.stderr).toBe(0);
    const ls = lastJson(l.stdout);
    const rs = lastJson(r.stdout);
    const receipt = ls.receipt as { body: { inputSizes: Record<string, number>; bytesExchanged: number; billing?: unknown } };
    expect(receipt.body.inputSizes).toEqual({ requester: 4, responder: 5 });
    // perRun 1000 + ⌈9 records × 50 / 1000⌉ = 1 + ⌈bytes × 2000 / 10^9⌉ = 1 (a few KB).
    const bytes = receipt.body.bytesExchanged;
    expect(bytes).toBeGreaterThan(0);
    expect(bytes).toBeLessThan(500_000);
    const expected = { currency: 'CNY', amountMinor: 1000 + 1 + 1, schedule: SCHEDULE_REF };
    expect(receipt.body.billing).toEqual(expected);
    expect(ls.billing).toEqual(expected);
    // The requester had no schedule: it signed the listener's bill and reports it too.
    expect(rs.billing).toEqual(expected);
    expect(rs.receipt).toEqual(ls.receipt);

    for (const dir of ['h-priced', 'p-priced']) {
      const report = await runCli(['ledger', 'report', '--ledger', p(dir), '--by', 'protocol', '--format', 'json']);
      expect(report.code, report.stderr).toBe(0);
      const rows = (JSON.parse(report.stdout) as { rows: { key: string; runs: number; billed: Record<string, number> }[] }).rows;
      expect(rows).toEqual([expect.objectContaining({ key: 'ecdh-psi', runs: 1, billed: { CNY: expected.amountMinor } })]);
      expect((await verifyLedgerDir(p(dir))).ok).toBe(true);
      expect(existsSync(p(`${dir}/billing.jsonl`))).toBe(false);
    }
    const byPeer = await runCli(['ledger', 'report', '--ledger', p('h-priced'), '--format', 'json']);
    const peerRows = (JSON.parse(byPeer.stdout) as { rows: { key: string; billed: Record<string, number> }[] }).rows;
    expect(peerRows).toEqual([expect.objectContaining({ key: toBase64(ids.pharma!.publicKey), billed: { CNY: expected.amountMinor } })]);
    const table = await runCli(['ledger', 'report', '--ledger', p('p-priced'), '--by', 'month']);
    expect(table.stdout).toMatch(/CNY 1002/);
  });
});

describe('dataport psi --budget', () => {
  it('allows one query per month, then refuses on both sides with the reason; the refusal is recorded and the ledgers verify', async () => {
    const budget = ['--budget', p('budget-1.json')];
    const first = await pair(psiListener('h-budget', budget), (url) => psiRequester(url, 'p-budget'));
    expect(first.l.code, first.l.stderr).toBe(0);
    expect(first.r.code, first.r.stderr).toBe(0);

    const second = await pair(psiListener('h-budget', budget), (url) => psiRequester(url, 'p-budget'));
    expect(second.l.code).not.toBe(0);
    expect(second.r.code).not.toBe(0);
    const who = toBase64(ids.pharma!.publicKey).replace(/[+/=]/g, '\\$&');
    const message = new RegExp(`query budget for counterparty ${who} is spent: 1 of 1 queries used this month \\(resets \\d{4}-\\d\\d-01T00:00:00\\.000Z\\)`);
    expectOneLineError(second.l.stderr, message);
    expectOneLineError(second.r.stderr, message);
    expect(second.r.stdout).not.toMatch(/intersection/);

    // Both sides hold the completed run and the co-signed refusal; refusals use no budget.
    expect(await outcomes(p('h-budget'), ids.hospital!)).toEqual(['completed', 'refused']);
    expect(await outcomes(p('p-budget'), ids.pharma!)).toEqual(['completed', 'refused']);
    for (const dir of ['h-budget', 'p-budget']) {
      const v = await runCli(['ledger', 'verify', '--ledger', p(dir)]);
      expect(v.code, v.stderr).toBe(0);
    }
  });

  it('a requester with a spent budget refuses before the listener computes anything', async () => {
    // The requester's own ledger already holds a completed run with the hospital.
    const listener = startCli(psiListener('h-req-budget'), { watchdogMs: W });
    const r = await runCli(psiRequester(await listener.listening(), 'p-budget', ['--budget', p('budget-1.json')]), { watchdogMs: W });
    expect(r.code).not.toBe(0);
    const who = toBase64(ids.hospital!.publicKey).replace(/[+/=]/g, '\\$&');
    expectOneLineError(r.stderr, new RegExp(`query budget for counterparty ${who} is spent: 1 of 1 queries used this month`));
    // The requester refused before proving its key: to the listener it is an unauthenticated
    // connection, logged, and the listener goes on waiting (here until Ctrl-C).
    await vi.waitFor(() => expect(listener.stderr()).toMatch(/rejected connection/));
    listener.child.kill('SIGINT');
    const l = await listener.done;
    expect(l.code).toBe(130);
    expect(l.stderr).toMatch(/^dataport: rejected connection from 127\.0\.0\.1: .*query budget for counterparty \S+ is spent: 1 of 1 queries used this month /m);
    // No session was established, so there is no receipt to record on either side.
    expect(await outcomes(p('h-req-budget'), ids.hospital!)).toEqual([]);
    expect(await outcomes(p('p-budget'), ids.pharma!)).toEqual(['completed', 'refused']);
  });
});

describe('dataport psi --accept-price-schedule (a party agrees to the peer\'s price before the run)', () => {
  it('runs when the billing peer announces exactly the accepted schedule; refuses on both sides, before any data, when it announces another', async () => {
    writeFileSync(p('cheap.json'), JSON.stringify({ id: 'cheap', currency: 'CNY', protocols: { 'ecdh-psi': { perRun: 1 } } }));
    // Same schedule, written differently: same canonical bytes, accepted.
    writeFileSync(p('prices-reordered.json'), JSON.stringify({ protocols: SCHEDULE.protocols, guideCap: SCHEDULE.guideCap, currency: 'CNY', id: SCHEDULE.id }, null, 2));
    const ok = await pair(psiListener('h-accept', ['--price-schedule', p('prices.json')]), (url) =>
      psiRequester(url, 'p-accept', ['--accept-price-schedule', p('prices-reordered.json')]),
    );
    expect(ok.l.code, ok.l.stderr).toBe(0);
    expect(ok.r.code, ok.r.stderr).toBe(0);
    expect((lastJson(ok.r.stdout).billing as { schedule: string }).schedule).toBe(SCHEDULE_REF);

    const no = await pair(psiListener('h-accept', ['--price-schedule', p('prices.json')]), (url) =>
      psiRequester(url, 'p-accept', ['--accept-price-schedule', p('cheap.json')]),
    );
    expect(no.r.code).toBe(1);
    expect(no.l.code).toBe(1);
    const reason = /terms refused: the peer's price schedule 'port-2026-01' \(sha256 [0-9a-f]{12}…\) is not the accepted 'cheap' \(sha256 [0-9a-f]{12}…\)/;
    expectOneLineError(no.r.stderr, reason);
    expectOneLineError(no.l.stderr, reason);
    expect(no.r.stdout).not.toMatch(/intersection/);
    // Nothing ran, so neither side has a receipt of the refused price (only the first run's).
    expect(await outcomes(p('h-accept'), ids.hospital!)).toEqual(['completed']);
    expect(await outcomes(p('p-accept'), ids.pharma!)).toEqual(['completed']);

    // The other way round: the requester bills (the listener has no schedule); a listener that
    // accepts only the cheap schedule refuses it with a co-signed refusal in both ledgers.
    const back = await pair(psiListener('h-accept-2', ['--accept-price-schedule', p('cheap.json')]), (url) =>
      psiRequester(url, 'p-accept-2', ['--price-schedule', p('prices.json')]),
    );
    expect(back.l.code).toBe(1);
    expect(back.r.code).toBe(1);
    expectOneLineError(back.r.stderr, reason);
    expect(await outcomes(p('h-accept-2'), ids.hospital!)).toEqual(['refused']);
    expect(await outcomes(p('p-accept-2'), ids.pharma!)).toEqual(['refused']);
  });
});

describe('dataport ledger verify --price-schedule (an auditor recomputes the co-signed amounts)', () => {
  it('recomputes every amount billed with the schedule; an entry both parties signed with a wrong amount fails, naming its index', async () => {
    // h-priced holds the run billed by the first test of this file.
    const ok = await runCli(['ledger', 'verify', '--ledger', p('h-priced'), '--price-schedule', p('prices.json'), '--json']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toContain(`billing     1 of 1 billed entries priced with ${SCHEDULE_REF}: amounts recomputed, all equal`);
    expect(lastJson(ok.stdout).billingRechecked).toEqual({ schedule: SCHEDULE_REF, billed: 1, checked: 1 });
    // Another schedule: nothing of this ledger was priced with it.
    const other = await runCli(['ledger', 'verify', '--ledger', p('h-priced'), '--price-schedule', p('no-psi-price.json')]);
    expect(other.code, other.stderr).toBe(0);
    expect(other.stdout).toMatch(/billing {5}0 of 1 billed entries priced with x sha256:[0-9a-f]{64}/);

    // Both parties signed an amount that the named schedule does not give: intact, but wrong.
    const body: UsageReceiptBody = {
      version: 1, sessionId: new Uint8Array(16).fill(7), startedAt: Date.now() - 1000, endedAt: Date.now(),
      parties: [{ role: 'requester', publicKey: ids.pharma!.publicKey }, { role: 'responder', publicKey: ids.hospital!.publicKey }],
      protocol: 'ecdh-psi', options: {}, purpose: '', inputSizes: { requester: 4, responder: 5 }, outputSizes: {},
      bytesExchanged: 3000, computeMs: 5, guardrails: [], outcome: 'completed',
      billing: { currency: 'CNY', amountMinor: 999, schedule: SCHEDULE_REF },
    };
    const ledger = await openLedger(p('h-wrong-bill'), { owner: ids.hospital! });
    await ledger.append({
      body,
      signatures: [
        { publicKey: ids.pharma!.publicKey, signature: signReceiptBody(ids.pharma!.secretKey, body) },
        { publicKey: ids.hospital!.publicKey, signature: signReceiptBody(ids.hospital!.secretKey, body) },
      ],
    });
    await ledger.close();
    expect((await runCli(['ledger', 'verify', '--ledger', p('h-wrong-bill')])).code).toBe(0);
    const bad = await runCli(['ledger', 'verify', '--ledger', p('h-wrong-bill'), '--price-schedule', p('prices.json')]);
    expect(bad.code).toBe(1);
    expectOneLineError(bad.stderr, new RegExp(`entry 0: billed 999 CNY but ${SCHEDULE_REF} gives 1002 CNY`));
  });
});

describe('concurrent sessions share one budget (reservations)', () => {
  const budgetRefusal = /query budget for counterparty \S+ is spent: 2 of 2 queries used this month/;

  it('N = 4 concurrent requesters against one --keep-serving listener with a budget of K = 2: exactly 2 run, 2 are refused and recorded', async () => {
    writeFileSync(p('budget-2.json'), JSON.stringify({ period: 'month', maxQueries: 2 }));
    const listener = startCli(psiListener('h-conc', ['--keep-serving', '--budget', p('budget-2.json')]), { watchdogMs: W });
    const url = await listener.listening();
    const results = await Promise.all([0, 1, 2, 3].map((i) => runCli(psiRequester(url, `p-conc-${i}`), { watchdogMs: W })));
    const ok = results.filter((r) => r.code === 0);
    const refused = results.filter((r) => r.code !== 0);
    expect(ok.length, results.map((r) => r.stderr).join('\n')).toBe(2);
    expect(refused.length).toBe(2);
    for (const r of refused) expectOneLineError(r.stderr, budgetRefusal);
    listener.child.kill('SIGINT');
    const l = await listener.done;
    expect(l.code, l.stderr).toBe(0);
    expect(l.stderr).toMatch(budgetRefusal);
    const outs = await outcomes(p('h-conc'), ids.hospital!);
    expect(outs.filter((o) => o === 'completed').length).toBe(2);
    expect(outs.filter((o) => o === 'refused').length).toBe(2);
    expect(outs.length).toBe(4);
    // Every requester's own ledger holds its one co-signed receipt.
    for (const i of [0, 1, 2, 3]) expect((await outcomes(p(`p-conc-${i}`), ids.pharma!)).length).toBe(1);
    expect((await verifyLedgerDir(p('h-conc'))).ok).toBe(true);
    // Every reservation was settled or released.
    const { readBudgetReservations } = await import('../src/ledger/reservations.js');
    expect(await readBudgetReservations(p('h-conc'))).toEqual([]);
  });

  it('two listener processes sharing one ledger directory respect one budget of 1', async () => {
    const a = startCli(psiListener('h-shared', ['--budget', p('budget-1.json')]), { watchdogMs: W });
    const b = startCli(psiListener('h-shared', ['--budget', p('budget-1.json')]), { watchdogMs: W });
    const [ua, ub] = await Promise.all([a.listening(), b.listening()]);
    const [ra, rb] = await Promise.all([runCli(psiRequester(ua, 'p-shared-a'), { watchdogMs: W }), runCli(psiRequester(ub, 'p-shared-b'), { watchdogMs: W })]);
    await Promise.all([a.done, b.done]);
    expect([ra.code, rb.code].filter((c) => c === 0).length, `${ra.stderr}\n${rb.stderr}`).toBe(1);
    const loser = ra.code === 0 ? rb : ra;
    expectOneLineError(loser.stderr, /query budget for counterparty \S+ is spent: 1 of 1 queries used this month/);
    expect((await outcomes(p('h-shared'), ids.hospital!)).sort()).toEqual(['completed', 'refused']);
    expect((await verifyLedgerDir(p('h-shared'))).ok).toBe(true);
  });
});

describe('dataport psi-sum --budget and --price-schedule', () => {
  it('first run billed and allowed, second refused on both sides; ledgers verify', async () => {
    const extra = ['--budget', p('budget-1.json'), '--price-schedule', p('prices.json')];
    const first = await pair(sumListener('h-sum', extra), (url) => sumRequester(url, 'p-sum'));
    expect(first.l.code, first.l.stderr).toBe(0);
    expect(first.r.code, first.r.stderr).toBe(0);
    expect(lastJson(first.r.stdout).sums).toEqual({ cost_yuan: '31.75' });
    expect(lastJson(first.l.stdout).billing).toEqual({ currency: 'CNY', amountMinor: 2000, schedule: SCHEDULE_REF });
    expect(lastJson(first.r.stdout).billing).toEqual({ currency: 'CNY', amountMinor: 2000, schedule: SCHEDULE_REF });

    const second = await pair(sumListener('h-sum', extra), (url) => sumRequester(url, 'p-sum'));
    expect(second.l.code).not.toBe(0);
    expect(second.r.code).not.toBe(0);
    const message = /query budget for counterparty \S+ is spent: 1 of 1 queries used this month \(resets /;
    expectOneLineError(second.l.stderr, message);
    expectOneLineError(second.r.stderr, message);
    expect(await outcomes(p('h-sum'), ids.hospital!)).toEqual(['completed', 'refused']);
    expect(await outcomes(p('p-sum'), ids.pharma!)).toEqual(['completed', 'refused']);
    expect((await verifyLedgerDir(p('h-sum'))).ok).toBe(true);
    expect((await verifyLedgerDir(p('p-sum'))).ok).toBe(true);
    // Billed once: the refusal costs 0. Both ledgers hold the same co-signed amounts.
    for (const dir of ['h-sum', 'p-sum']) {
      const report = await runCli(['ledger', 'report', '--ledger', p(dir), '--by', 'protocol', '--format', 'json']);
      expect((JSON.parse(report.stdout) as { rows: unknown[] }).rows).toEqual([
        expect.objectContaining({ key: 'psi-sum', runs: 2, outcomes: { completed: 1, refused: 1 }, billed: { CNY: 2000 } }),
      ]);
    }
  });
});

describe('invalid --price-schedule / --budget', () => {
  const cases: [string, string[], RegExp][] = [
    ['psi', ['--price-schedule', 'bad-prices.json'], /--price-schedule \S+bad-prices\.json: price schedule: currency must be an ISO 4217 code/],
    ['psi', ['--price-schedule', 'no-psi-price.json'], /--price-schedule \S+no-psi-price\.json: no price for protocol 'ecdh-psi' and no default/],
    ['psi', ['--budget', 'bad-budget.json'], /--budget \S+bad-budget\.json: budget policy: period must be day, week or month/],
    ['psi', ['--budget', 'missing.json'], /--budget \S+missing\.json: cannot read \(no such file or directory \(ENOENT\)\)/],
    ['psi-sum', ['--budget', 'not-json.json'], /--budget \S+not-json\.json: budget policy: not valid JSON/],
    ['psi-sum', ['--price-schedule', 'no-psi-price.json'], /--price-schedule \S+no-psi-price\.json: no price for protocol 'psi-sum' and no default/],
  ];
  for (const [command, [flag, file], pattern] of cases) {
    it(`${command} ${flag} ${file}: one line naming the file, exit 1, no connection`, async () => {
      const srv = await countingServer();
      try {
        const base = command === 'psi' ? psiRequester(srv.url, 'unused') : sumRequester(srv.url, 'unused');
        const res = await runCli([...base, flag!, p(file!)], { watchdogMs: W });
        expect(res.code).toBe(1);
        expectOneLineError(res.stderr, pattern);
        expect(srv.connections()).toBe(0);
      } finally {
        srv.server.close();
      }
    });
  }

  it('--price-schedule and --budget need --ledger', async () => {
    for (const args of [
      ['psi', '--connect', 'ws://127.0.0.1:9', '--identity', p('pharma'), '--peer-key', p('hospital/identity.pub'), '--input', p('pharma.csv'), '--key', 'resident_id', '--budget', p('budget-1.json')],
      ['psi-sum', '--connect', 'ws://127.0.0.1:9', '--identity', p('pharma'), '--peer-key', p('hospital/identity.pub'), '--input', p('pharma.csv'), '--key', 'resident_id', '--price-schedule', p('prices.json')],
    ]) {
      const res = await runCli(args, { watchdogMs: W });
      expect(res.code).toBe(1);
      expectOneLineError(res.stderr, /option --(budget|price-schedule) needs --ledger DIR/);
    }
  });
});
