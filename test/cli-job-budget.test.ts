/**
 * `dataport job` budgets by the declared job size: each side declares its input's records (rows
 * with a key) when the job opens, `--budget` reserves them (plus the peer's declaration, the rule
 * of `dataport psi`) once per job, and a side whose buckets add up to more than it declared is
 * refused at close. Separate CLI processes over real sockets.
 */
import { existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { openLedger } from '../src/ledger/file-ledger.js';
import type { Identity } from '../src/session/identity.js';
import { assertBuilt, expectOneLineError, killAll, lastJson, runCli, startCli, tempDir, type CliProcess, writeIdentityDir, seededIds, stopCli, until } from './cli-helpers.js';

vi.setConfig({ testTimeout: 240_000 });

const tmp = tempDir('dataport-jobbudget-');
const p = (name: string) => join(tmp.dir, name);
const ids: Record<string, Identity> = {};

const pharma = (size: 'big' | 'small') => ['--identity', p('pharma'), '--peer-key', p('hospital/identity.pub'), '--input', p(`pharma-${size}.csv`), '--key', 'resident_id'];
const hospital = ['--identity', p('hospital'), '--peer-key', p('pharma/identity.pub'), '--input', p('hospital.csv'), '--key', 'patient_id'];

function serve(name: string, extra: string[] = []): CliProcess {
  return startCli(['job', 'serve', '--listen', '127.0.0.1:0', ...hospital, '--work-dir', p(`${name}-hospital`), ...extra], { watchdogMs: 230_000 });
}
function submit(name: string, url: string, size: 'big' | 'small', extra: string[] = []): string[] {
  return ['job', 'submit', '--connect', url, ...pharma(size), '--buckets', '4', '--work-dir', p(`${name}-pharma`), '--output', p(`${name}.csv`), '--job-id', name, '--json', '--progress', 'none', ...extra];
}
async function receipts(dir: string, owner: Identity) {
  const ledger = await openLedger(dir, { owner });
  try {
    return await ledger.readReceipts();
  } finally {
    await ledger.close();
  }
}

// 100 records a month: pharma-small (40) + hospital (45) fits; pharma-big (300) + 45 does not —
// with 100 queries allowed, so only the size can refuse.
const BUDGET = JSON.stringify({ period: 'month', maxQueries: 100, maxRecords: 100 });
// The messages of `dataport psi`'s budget (ledger/budget.ts), with the job's declared sizes.
const SPENT = (records: number) => new RegExp(`query budget for counterparty \\S+ is spent: 0 of 100 records used this month, the job needs ${records} more \\(resets [^)]+\\)$`);

beforeAll(() => {
  assertBuilt();
  ids['pharma'] = writeIdentityDir(p('pharma'));
  ids['hospital'] = writeIdentityDir(p('hospital'));
  // Two rows without a key: not declared (as `psi` skips them).
  writeFileSync(p('pharma-small.csv'), 'resident_id,name\n,none\n' + seededIds(21, 40, 60).map((k, i) => `${k},p${i}\n`).join('') + ',none\n');
  writeFileSync(p('pharma-big.csv'), 'resident_id,name\n' + seededIds(22, 300, 600).map((k, i) => `${k},p${i}\n`).join(''));
  writeFileSync(p('hospital.csv'), 'patient_id,ward\n' + seededIds(23, 45, 60).map((k, i) => `${k},w${i}\n`).join(''));
  writeFileSync(p('budget.json'), BUDGET);
});

afterEach(() => killAll());
afterAll(() => tmp.cleanup());

describe('dataport job --budget: by the declared job size', () => {
  it("the responder's budget refuses a larger job on both sides and allows a small one", async () => {
    const s = serve('rb', ['--ledger', p('ledger-rb'), '--budget', p('budget.json')]);
    const url = await s.listening();
    expect(s.stdout()).toContain('hospital.csv: 45 records with a key');
    const big = await runCli(submit('rb-big', url, 'big'));
    expect(big.code).toBe(1);
    const line = expectOneLineError(big.stderr, SPENT(345));
    expect(line).toMatch(/^dataport: job rb-big failed, no output written: /);
    await until(() => /job session from .* failed: .*the job needs 345 more/.test(s.stderr()));
    expect(existsSync(p('rb-big.csv'))).toBe(false);
    expect(existsSync(p('rb-hospital/rb-big/manifest.json'))).toBe(false);

    const small = await runCli(submit('rb-small', url, 'small'));
    expect(small.code, small.stderr).toBe(0);
    expect(lastJson(small.stdout)).toMatchObject({ ok: true, inputRecords: 42, distinctKeys: 40 });
    await until(() => s.stdout().includes('job rb-small: completed'));
    await stopCli(s);
    const r = await receipts(p('ledger-rb'), ids['hospital']!);
    expect(r).toHaveLength(1);
    // The receipt's sizes are the distinct keys, within what each side declared (40 ≤ 40, 45 ≤ 45).
    expect(r[0]!.body.inputSizes).toEqual({ requester: 40, responder: 45 });
  });

  it("the requester's budget refuses a larger job before the responder partitions, and allows a small one", async () => {
    const s = serve('qb');
    const url = await s.listening();
    const big = await runCli(submit('qb-big', url, 'big', ['--ledger', p('ledger-qb'), '--budget', p('budget.json')]));
    expect(big.code).toBe(1);
    expectOneLineError(big.stderr, SPENT(300));
    expect(existsSync(p('qb-big.csv'))).toBe(false);
    expect(existsSync(p('qb-hospital/qb-big/manifest.json'))).toBe(false);
    const small = await runCli(submit('qb-small', url, 'small', ['--ledger', p('ledger-qb'), '--budget', p('budget.json')]));
    expect(small.code, small.stderr).toBe(0);
    await stopCli(s);
    expect(await receipts(p('ledger-qb'), ids['pharma']!)).toHaveLength(1);
  });

  it('a requester whose buckets add up to more than it declared is refused at close, with no output', async () => {
    const s = serve('over', ['--ledger', p('ledger-over')]);
    const url = await s.listening();
    // Once the job is open (the responder's manifest written), and long before its 32 buckets
    // have run: as if the requester had declared fewer records than it brings.
    const sub = startCli(submit('over', url, 'small').map((a) => (a === '4' ? '32' : a)), { watchdogMs: 230_000 });
    const mp = p('over-hospital/over/manifest.json');
    await until(() => existsSync(mp));
    const m = JSON.parse(readFileSync(mp, 'utf8')) as { peerDeclaredRecords: number };
    expect(m.peerDeclaredRecords).toBe(40);
    writeFileSync(`${mp}.edit`, JSON.stringify({ ...m, peerDeclaredRecords: 30 }));
    renameSync(`${mp}.edit`, mp);
    const again = await sub.done;
    expect(again.code).toBe(1);
    expectOneLineError(again.stderr, /job over failed, no output written: terms refused: the requester's 40 distinct keys exceed the 30 records it declared when the job opened$/);
    expect(existsSync(p('over.csv'))).toBe(false);
    await stopCli(s);
    expect(readdirSync(p('ledger-over')).length).toBeGreaterThan(0);
    expect(await receipts(p('ledger-over'), ids['hospital']!)).toHaveLength(0);
  });
});
