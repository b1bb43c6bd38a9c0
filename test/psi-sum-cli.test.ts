/**
 * End-to-end tests of `dataport psi-sum`: two processes of the built CLI over real sockets on
 * 127.0.0.1, with the seed scenario (seeds/generate.mjs) checked against its truth.json.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, expectOneLineError, killAll, runCli, tempDir, runCliPair, lastJson, writeIdentityDir } from './cli-helpers.js';

const tmp = tempDir('dataport-psi-sum-');
const D = tmp.dir;
const p = (name: string) => join(D, name);

function writeIdentity(name: string): void {
  writeIdentityDir(p(name));
}

interface Truth {
  psi: { intersectionSize: number; intersectionCostSumYuan: string; intersectionAdverseEvents: number; intersectionCostMeanPerPatientYuan: string };
}
let truth: Truth;

beforeAll(() => {
  assertBuilt();
  writeIdentity('pharma');
  writeIdentity('hospital');
  execFileSync(process.execPath, [resolve(import.meta.dirname, '..', 'seeds', 'generate.mjs'), '--out', p('seed'), '--pharma', '300', '--hospital', '600'], {
    stdio: 'ignore',
  });
  truth = JSON.parse(readFileSync(p('seed/truth.json'), 'utf8')) as Truth;
});
afterEach(killAll);
afterAll(() => tmp.cleanup());

const W = 120_000;
const hospitalArgs = (extra: string[] = []) => [
  'psi-sum', '--listen', '127.0.0.1:0', '--identity', p('hospital'), '--peer-key', p('pharma/identity.pub'), '--workers', '0',
  '--input', p('seed/hospital.csv'), '--key', 'patient_id', '--values', 'cost_yuan,adverse_event', '--json', ...extra,
];
const pharmaArgs = (url: string, extra: string[] = []) => [
  'psi-sum', '--connect', url, '--identity', p('pharma'), '--peer-key', p('hospital/identity.pub'), '--workers', '0',
  '--input', p('seed/pharma.csv'), '--key', 'resident_id', '--json', ...extra,
];

const pair = (listenerArgs: string[], requesterArgs: (url: string) => string[]) => runCliPair(listenerArgs, requesterArgs, { watchdogMs: W });

describe('dataport psi-sum (two processes, seed data)', () => {
  it('count, cost sum and adverse events equal truth.json on both sides; receipts agree', async () => {
    const { l, r } = await pair(hospitalArgs(['--ledger', p('ledger-h')]), (url) =>
      pharmaArgs(url, ['--purpose', 'drug programme audit', '--ledger', p('ledger-p')]),
    );
    expect(l.code, l.stderr).toBe(0);
    expect(r.code, r.stderr).toBe(0);
    const lj = lastJson(l.stdout);
    const rj = lastJson(r.stdout);
    for (const j of [lj, rj]) {
      expect(j['intersectionSize']).toBe(truth.psi.intersectionSize);
      expect(j['sums']).toEqual({ cost_yuan: truth.psi.intersectionCostSumYuan, adverse_event: String(truth.psi.intersectionAdverseEvents) });
      expect((j['means'] as Record<string, string>)['cost_yuan']).toBe(truth.psi.intersectionCostMeanPerPatientYuan);
      expect(j['withheld']).toBe(false);
    }
    expect(lj['holder']).toBe('values');
    expect(rj['holder']).toBe('ids');
    expect(lj['receipt']).toEqual(rj['receipt']);
    expect((rj['receipt'] as { body: { protocol: string; purpose: string } }).body).toMatchObject({ protocol: 'psi-sum', purpose: 'drug programme audit' });
    // Each side appended the co-signed receipt to its own ledger, which verifies offline.
    expect(lj['ledger']).toEqual({ dir: p('ledger-h'), index: 0 });
    expect(rj['ledger']).toEqual({ dir: p('ledger-p'), index: 0 });
    const v = await runCli(['ledger', 'verify', '--ledger', p('ledger-p'), '--public-key', p('pharma/identity.pub')], { watchdogMs: W });
    expect(v.code, v.stderr).toBe(0);
  }, W);

  it('min-cohort above the intersection: withheld on both sides (exit 3), receipts say so', async () => {
    const k = String(truth.psi.intersectionSize + 1);
    const { l, r } = await pair(hospitalArgs(['--min-cohort', k]), (url) => pharmaArgs(url, ['--min-cohort', k]));
    expect(l.code, l.stderr).toBe(3);
    expect(r.code, r.stderr).toBe(3);
    for (const res of [l, r]) {
      const j = lastJson(res.stdout);
      expect(j).toMatchObject({ withheld: true, intersectionSize: null, sums: null });
      expect((j['receipt'] as { body: { outcome: string } }).body.outcome).toBe('withheld');
      expect(res.stderr).toMatch(/result withheld/);
    }
  }, W);

  it('--dp-epsilon: noisy releases, epsilon in the receipt, I still knows the exact count', async () => {
    const { l, r } = await pair(hospitalArgs(['--dp-epsilon', '2', '--bound', 'cost_yuan=20000000.00,adverse_event=1']), (url) =>
      pharmaArgs(url, ['--dp-epsilon', '1']),
    );
    expect(l.code, l.stderr).toBe(0);
    expect(r.code, r.stderr).toBe(0);
    const lj = lastJson(l.stdout);
    const rj = lastJson(r.stdout);
    expect(rj['intersectionSize']).toBe(truth.psi.intersectionSize);
    expect(rj['dpEpsilon']).toBe('1');
    const body = (rj['receipt'] as { body: { guardrails: unknown[]; options: Record<string, string> } }).body;
    expect(body.options['dp-epsilon']).toBe('1');
    expect(body.guardrails).toContainEqual({ rule: 'dp-noise', outcome: 'applied', detail: 'epsilon=1' });
    expect(lj['receipt']).toEqual(rj['receipt']);
    // Integers in cents / counts, formatted as exact decimals.
    expect((lj['sums'] as Record<string, string>)['cost_yuan']).toMatch(/^-?[0-9]+\.[0-9]{2}$/);
    expect((rj['sums'] as Record<string, string>)['adverse_event']).toMatch(/^-?[0-9]+$/);
  }, W);

  it('a listener demanding a larger minimum cohort refuses the terms: one-line errors, non-zero on both sides', async () => {
    const { l, r } = await pair(hospitalArgs(['--min-cohort', '50']), (url) => pharmaArgs(url));
    expect(l.code).toBe(1);
    expect(r.code).toBe(1);
    expectOneLineError(r.stderr, /minimum intersection/);
  }, W);

  it('refuses a value with too many decimals before connecting', async () => {
    writeFileSync(p('bad.csv'), 'patient_id,cost_yuan\n1,10.001\n2,3\n');
    const res = await runCli(['psi-sum', '--listen', '127.0.0.1:0', '--identity', p('hospital'), '--allow-any-peer', '--input', p('bad.csv'), '--key', 'patient_id', '--values', 'cost_yuan', '--decimals', 'cost_yuan=2'], { watchdogMs: W });
    expect(res.code).toBe(1);
    expectOneLineError(res.stderr, /decimal places/);
    expect(res.stderr).not.toMatch(/listening on/);
  }, W);

  it('rejects bad options with one line', async () => {
    const res = await runCli(['psi-sum', '--connect', 'ws://127.0.0.1:1', '--identity', p('pharma'), '--input', p('seed/pharma.csv'), '--key', 'resident_id'], { watchdogMs: W });
    expect(res.code).toBe(1);
    expectOneLineError(res.stderr, /--peer-key/);
  }, W);
});
