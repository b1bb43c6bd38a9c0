import { describe, expect, it } from 'vitest';
import {
  budgetPeriodBounds,
  budgetStatus,
  buildUsageReport,
  checkBudget,
  formatUsageReport,
  parseBudgetPolicy,
  parsePriceSchedule,
  priceRun,
  billRun,
  priceScheduleRef,
} from '../src/ledger/index.js';
import type { UsageReceipt, UsageReceiptBody } from '../src/ledger/index.js';
import { GuardrailRefusedError, InputError } from '../src/errors.js';
import { generateIdentity } from '../src/session/identity.js';
import { toBase64 } from '../src/utils/bytes.js';

const owner = generateIdentity().publicKey;
const hospital = generateIdentity().publicKey;
const insurer = generateIdentity().publicKey;

const SCHEDULE = {
  id: 'port-2026-01',
  currency: 'CNY',
  guideCap: 500_000,
  protocols: {
    'ecdh-psi': { perRun: 1000, per1000Records: 50, perGB: 2000, cap: 200_000 },
    'psi-sum': { perRun: 2000, per1000Records: 80, perGB: 2000 },
  },
  default: { perRun: 700 },
};

function run(over: Partial<UsageReceiptBody>, peer = hospital): UsageReceipt {
  return {
    body: {
      version: 1,
      sessionId: new Uint8Array(16),
      startedAt: Date.UTC(2026, 10, 15, 12),
      endedAt: Date.UTC(2026, 10, 15, 12, 1),
      parties: [
        { role: 'requester', publicKey: owner },
        { role: 'responder', publicKey: peer },
      ],
      protocol: 'ecdh-psi',
      options: {},
      purpose: '',
      inputSizes: { requester: 1000, responder: 5000 },
      outputSizes: { requester: 120 },
      bytesExchanged: 1_000_000,
      computeMs: 10,
      guardrails: [],
      outcome: 'completed',
      ...over,
    },
    signatures: [],
  };
}

describe('price schedule', () => {
  const schedule = parsePriceSchedule(JSON.stringify(SCHEDULE));
  it('prices a run: flat + per 1,000 records + per GB, rounded up, capped', () => {
    // 1000 + ceil(6000*50/1000)=300 + ceil(1e6*2000/1e9)=2 → 1302
    expect(priceRun(schedule, run({}).body)).toEqual({ currency: 'CNY', amountMinor: 1302, schedule: 'port-2026-01' });
    expect(priceRun(schedule, run({ inputSizes: { a: 1 }, bytesExchanged: 1 }).body).amountMinor).toBe(1000 + 1 + 1);
    expect(priceRun(schedule, run({ inputSizes: {}, bytesExchanged: 0 }).body).amountMinor).toBe(1000);
    expect(priceRun(schedule, run({ inputSizes: { a: 10_000_000 } }).body).amountMinor).toBe(200_000); // protocol cap
    expect(priceRun(schedule, run({ protocol: 'psi-sum', inputSizes: { a: 100_000_000 } }).body).amountMinor).toBe(500_000); // guide cap
    expect(priceRun(schedule, run({ protocol: 'aggregate' }).body).amountMinor).toBe(700); // default
    expect(priceRun(schedule, run({ outcome: 'refused' }).body).amountMinor).toBe(0);
    // Exact integer arithmetic far beyond 2^53 intermediate products.
    expect(priceRun(schedule, run({ protocol: 'psi-sum', inputSizes: {}, bytesExchanged: 2 ** 52 }).body).amountMinor).toBe(500_000);
  });

  it('rejects malformed schedules with the offending field named', () => {
    const bad: [unknown, RegExp][] = [
      ['{', /JSON/],
      [{ ...SCHEDULE, currency: 'yuan' }, /currency/],
      [{ ...SCHEDULE, protocols: { x: { perRun: 1.5 } } }, /protocols\.x\.perRun/],
      [{ ...SCHEDULE, protocols: { x: { perRun: -1 } } }, /perRun/],
      [{ ...SCHEDULE, protocols: { x: { perHour: 1 } } }, /unknown field protocols\.x\.perHour/],
      [{ ...SCHEDULE, guideCap: '5' }, /guideCap/],
      [{ ...SCHEDULE, extra: 1 }, /unknown field extra/],
      [[], /object/],
    ];
    for (const [input, msg] of bad) expect(() => parsePriceSchedule(input)).toThrow(msg);
    const noDefault = parsePriceSchedule({ ...SCHEDULE, default: undefined });
    expect(() => priceRun(noDefault, run({ protocol: 'aggregate' }).body)).toThrow(InputError);
  });
});

describe('query budget', () => {
  const now = Date.UTC(2026, 10, 26, 18);
  const inMonth = (d: number): Partial<UsageReceiptBody> => ({ startedAt: Date.UTC(2026, 10, d) });
  const ledger = [
    run(inMonth(1)),
    run(inMonth(10)),
    run({ ...inMonth(11), outcome: 'refused' }),
    run(inMonth(12), insurer),
    run({ startedAt: Date.UTC(2026, 9, 31, 23, 59) }), // previous month
  ];

  it('counts the counterparty’s runs in the period, and refuses once spent', () => {
    const policy = parseBudgetPolicy({ period: 'month', maxQueries: 3 });
    const s = checkBudget(ledger, { counterparty: hospital, policy, now });
    expect([s.queriesUsed, s.maxQueries, s.allowed]).toEqual([2, 3, true]);
    expect(s.periodStart).toBe(Date.UTC(2026, 10, 1));
    expect(s.periodEnd).toBe(Date.UTC(2026, 11, 1));
    const spent = [...ledger, run(inMonth(20))];
    expect(() => checkBudget(spent, { counterparty: hospital, policy, now })).toThrow(GuardrailRefusedError);
    expect(() => checkBudget(spent, { counterparty: hospital, policy, now })).toThrow(
      /3 of 3 queries used this month \(resets 2026-12-01T00:00:00\.000Z\)/,
    );
    // Another counterparty has its own budget; next month starts afresh.
    expect(checkBudget(spent, { counterparty: insurer, policy, now }).queriesUsed).toBe(1);
    expect(checkBudget(spent, { counterparty: hospital, policy, now: Date.UTC(2026, 11, 1) }).queriesUsed).toBe(0);
  });

  it('applies per-counterparty overrides and record limits', () => {
    const policy = parseBudgetPolicy({
      period: 'month',
      maxQueries: 100,
      maxRecords: 20_000,
      counterparties: { [toBase64(insurer)]: { maxQueries: 1 } },
    });
    expect(() => checkBudget(ledger, { counterparty: insurer, policy, now })).toThrow(/1 of 1 queries/);
    expect(budgetStatus(ledger, { counterparty: hospital, policy, now, records: 8000 }).allowed).toBe(true);
    expect(() => checkBudget(ledger, { counterparty: hospital, policy, now, records: 8001 })).toThrow(/12000 of 20000 records/);
  });

  it('computes UTC calendar periods', () => {
    const t = Date.UTC(2026, 10, 26, 18); // a Thursday
    expect(budgetPeriodBounds('day', t)).toEqual({ start: Date.UTC(2026, 10, 26), end: Date.UTC(2026, 10, 27) });
    expect(budgetPeriodBounds('week', t)).toEqual({ start: Date.UTC(2026, 10, 23), end: Date.UTC(2026, 10, 30) });
    expect(budgetPeriodBounds('week', Date.UTC(2026, 10, 29, 23))).toEqual({ start: Date.UTC(2026, 10, 23), end: Date.UTC(2026, 10, 30) });
    expect(budgetPeriodBounds('month', Date.UTC(2026, 11, 31, 23))).toEqual({ start: Date.UTC(2026, 11, 1), end: Date.UTC(2027, 0, 1) });
  });

  it('rejects malformed policies', () => {
    expect(() => parseBudgetPolicy({ period: 'year', maxQueries: 1 })).toThrow(/period/);
    expect(() => parseBudgetPolicy({ period: 'day', maxQueries: -1 })).toThrow(/maxQueries/);
    expect(() => parseBudgetPolicy({ period: 'day', maxQueries: 1, counterparties: { abc: {} } })).toThrow(/public key/);
    expect(() => parseBudgetPolicy('nope')).toThrow(InputError);
  });
});

describe('usage report', () => {
  const schedule = parsePriceSchedule(SCHEDULE);
  const priced = (r: UsageReceipt): UsageReceipt => ({ ...r, body: { ...r.body, billing: priceRun(schedule, r.body) } });
  const entries = [
    priced(run({})),
    priced(run({ protocol: 'psi-sum', startedAt: Date.UTC(2026, 9, 3) })),
    priced(run({ outcome: 'withheld' }, insurer)),
    priced(run({ protocol: '=cmd|evil', outcome: 'refused' }, insurer)),
  ];

  it('groups by protocol, month and counterparty', () => {
    const byProto = buildUsageReport(entries, { by: 'protocol' });
    expect(byProto.map((r) => [r.key, r.runs])).toEqual([
      ['=cmd|evil', 1],
      ['ecdh-psi', 2],
      ['psi-sum', 1],
    ]);
    expect(byProto[1]!.billed).toEqual({ CNY: 2604 });
    expect(byProto[1]!.outcomes).toEqual({ completed: 1, withheld: 1 });
    expect(buildUsageReport(entries, { by: 'month' }).map((r) => [r.key, r.runs])).toEqual([
      ['2026-10', 1],
      ['2026-11', 3],
    ]);
    const byCp = buildUsageReport(entries, { by: 'counterparty', owner });
    expect(byCp.map((r) => [r.key, r.runs]).sort()).toEqual([[toBase64(hospital), 2], [toBase64(insurer), 2]].sort());
    expect(buildUsageReport(entries, { by: 'counterparty' }).length).toBe(3);
  });

  it('renders table, CSV (formula-safe) and JSON', () => {
    const rows = buildUsageReport(entries, { by: 'protocol' });
    const table = formatUsageReport(rows, 'protocol', 'table');
    expect(table.split('\n')[0]).toMatch(/^protocol\s+runs\s+completed/);
    expect(table).toMatch(/TOTAL\s+4\s+2\s+1\s+1\s+0\s+0\s+24000\s+480\s+4000000\s+40\s+CNY 5086/);
    const csv = formatUsageReport(rows, 'protocol', 'csv');
    expect(csv.split('\r\n')[0]).toBe('protocol,runs,completed,withheld,refused,failed,aborted,records_in,records_out,bytes,compute_ms,billed');
    expect(csv).toContain("\r\n'=cmd|evil,1,0,0,1,0,0,6000,120,1000000,10,CNY 0\r\n");
    const json = JSON.parse(formatUsageReport(rows, 'protocol', 'json'));
    expect(json.rows[1].key).toBe('ecdh-psi');
    expect(formatUsageReport([{ ...rows[0]!, key: 'a\x1b[31mb' }], 'protocol', 'table')).not.toContain('\x1b');
  });
});

describe('usage report of co-signed amounts', () => {
  const cny = parsePriceSchedule(SCHEDULE);
  const eur = parsePriceSchedule({ id: 'insurer-2026', currency: 'EUR', protocols: {}, default: { perRun: 7 } });
  const billed = (r: UsageReceipt, s = cny): UsageReceipt => ({ ...r, body: { ...r.body, billing: billRun(s, r.body) } });
  // ecdh-psi: 1000 + ⌈6000 × 50 / 1000⌉ = 300 + ⌈10^6 × 2000 / 10^9⌉ = 2 → 1302.
  // psi-sum:  2000 + ⌈6000 × 80 / 1000⌉ = 480 + 2 → 2482.
  const entries = [
    billed(run({})),
    billed(run({ protocol: 'psi-sum', startedAt: Date.UTC(2026, 9, 3) })),
    billed(run({}, insurer), eur),
    run({ protocol: 'aggregate' }, insurer), // nobody billed
    billed(run({ outcome: 'refused' }, insurer)),
  ];

  it('the amounts are the co-signed billing, named by schedule id and hash', () => {
    expect(entries[0]!.body.billing).toEqual({ currency: 'CNY', amountMinor: 1302, schedule: priceScheduleRef(cny) });
    expect(entries[0]!.body.billing!.schedule).toMatch(/^port-2026-01 sha256:[0-9a-f]{64}$/);
    expect(entries[4]!.body.billing!.amountMinor).toBe(0);
  });

  it('sums per counterparty, per protocol and per month, per currency', () => {
    const byCp = buildUsageReport(entries, { by: 'counterparty', owner });
    expect(Object.fromEntries(byCp.map((r) => [r.key, r.billed]))).toEqual({
      [toBase64(hospital)]: { CNY: 1302 + 2482 },
      [toBase64(insurer)]: { EUR: 7, CNY: 0 },
    });
    const byProto = buildUsageReport(entries, { by: 'protocol' });
    expect(Object.fromEntries(byProto.map((r) => [r.key, r.billed]))).toEqual({
      aggregate: {},
      'ecdh-psi': { CNY: 1302, EUR: 7 },
      'psi-sum': { CNY: 2482 },
    });
    const byMonth = buildUsageReport(entries, { by: 'month' });
    expect(Object.fromEntries(byMonth.map((r) => [r.key, r.billed]))).toEqual({
      '2026-10': { CNY: 2482 },
      '2026-11': { CNY: 1302, EUR: 7 },
    });
    expect(formatUsageReport(byMonth, 'month', 'table')).toMatch(/TOTAL\s+5\s.*CNY 3784; EUR 7\n$/);
    expect(formatUsageReport(byProto, 'protocol', 'csv')).toContain('\r\necdh-psi,3,2,0,1,0,');
  });
});
