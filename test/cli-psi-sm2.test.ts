/**
 * `dataport psi --suite sm2-sm3` end to end: two processes of the built CLI over WebSocket on
 * 127.0.0.1, with the worker pool; the same intersection as `--suite curve25519` on the same
 * files, the suite in `--json` and in the co-signed receipt both ledgers hold, and a suite
 * mismatch refused on both sides with one line naming both suites.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { openLedger, verifyLedgerDir } from '../src/ledger/file-ledger.js';
import { type Identity } from '../src/session/identity.js';
import { assertBuilt, expectOneLineError, killAll, lastJson, runCliPair, tempDir, writeIdentityDir } from './cli-helpers.js';

vi.setConfig({ testTimeout: 180_000 });

const tmp = tempDir('dataport-psi-sm2-');
const p = (name: string) => join(tmp.dir, name);
const ids: Record<string, Identity> = {};

function writeIdentity(name: string): void {
  ids[name] = writeIdentityDir(p(name));
}

// 300 and 250 rows, keys overlapping in a known pattern (case differs, as resident IDs do).
const pharmaKeys = Array.from({ length: 300 }, (_, i) => `1101011990${String(i * 3).padStart(7, '0')}X`);
const hospitalKeys = Array.from({ length: 250 }, (_, i) => `1101011990${String(i * 2).padStart(7, '0')}x`);
const expectedPharmaRows = pharmaKeys.flatMap((k, i) => (hospitalKeys.includes(k.replace('X', 'x')) ? [i] : []));

beforeAll(() => {
  assertBuilt();
  writeIdentity('pharma');
  writeIdentity('hospital');
  writeFileSync(p('pharma.csv'), 'resident_id,n\n' + pharmaKeys.map((k, i) => `${k},${i}\n`).join(''));
  writeFileSync(p('hospital.csv'), 'patient_id,cost\n' + hospitalKeys.map((k, i) => `${k},${i * 10}\n`).join(''));
});
afterEach(killAll);
afterAll(() => tmp.cleanup());

const listener = (suite: string[], extra: string[] = []) => [
  'psi', '--listen', '127.0.0.1:0', '--identity', p('hospital'), '--peer-key', p('pharma/identity.pub'),
  '--input', p('hospital.csv'), '--key', 'patient_id', '--reveal', 'both', '--workers', '2', '--json', ...suite, ...extra,
];
const requester = (url: string, suite: string[], extra: string[] = []) => [
  'psi', '--connect', url, '--identity', p('pharma'), '--peer-key', p('hospital/identity.pub'),
  '--input', p('pharma.csv'), '--key', 'resident_id', '--reveal', 'both', '--workers', '2', '--json', ...suite, ...extra,
];

describe('dataport psi --suite', () => {
  it('sm2-sm3 gives the exact intersection, the same --output as curve25519; --json, receipt and ledgers name the suite', async () => {
    const outputs: Record<string, Buffer> = {};
    for (const suite of ['sm2-sm3', 'curve25519'] as const) {
      const flag = suite === 'curve25519' ? [] : ['--suite', suite]; // curve25519 is the default
      const { l, r } = await runCliPair(listener(flag, ['--ledger', p('ledger-h')]), (url) =>
        requester(url, flag, ['--output', p(`out-${suite}.csv`), '--ledger', p('ledger-p')]),
      );
      expect([l.code, r.code], l.stderr + r.stderr).toEqual([0, 0]);
      const rj = lastJson(r.stdout);
      const lj = lastJson(l.stdout);
      expect(rj).toMatchObject({ ok: true, suite, intersectionSize: expectedPharmaRows.length, outputRows: expectedPharmaRows.length });
      expect(lj).toMatchObject({ ok: true, suite, intersectionSize: expectedPharmaRows.length });
      expect((rj.receipt as { body: { options: Record<string, string> } }).body.options.suite).toBe(suite);
      expect(rj.receipt).toEqual(lj.receipt);
      outputs[suite] = readFileSync(p(`out-${suite}.csv`));
    }
    const expected = 'resident_id,n\n' + expectedPharmaRows.map((i) => `${pharmaKeys[i]},${i}\n`).join('');
    expect(outputs['sm2-sm3']!.toString('utf8')).toBe(expected);
    expect(outputs['curve25519']).toEqual(outputs['sm2-sm3']);
    for (const [dir, owner] of [['ledger-h', 'hospital'], ['ledger-p', 'pharma']] as const) {
      expect((await verifyLedgerDir(p(dir), { publicKey: ids[owner]!.publicKey })).ok).toBe(true);
      const ledger = await openLedger(p(dir), { owner: ids[owner]! });
      const receipts = await ledger.readReceipts();
      await ledger.close();
      expect(receipts.map((x) => x.body.options['suite'])).toEqual(['sm2-sm3', 'curve25519']);
    }
  });

  it('a requester with sm2-sm3 and a listener with curve25519 are refused on both sides, one line naming both suites', async () => {
    const { l, r } = await runCliPair(listener([]), (url) => requester(url, ['--suite', 'sm2-sm3']));
    expect([l.code, r.code]).toEqual([1, 1]);
    expect(lastJson(r.stdout)).toMatchObject({ ok: false, code: 'ERR_TERMS_REFUSED' });
    for (const err of [r.stderr, l.stderr]) expectOneLineError(err, /terms refused: PSI suites differ: requester sm2-sm3; responder curve25519/);
  });

  it('an unknown suite is a usage error naming the choices; sm2-sm3 is refused with --insecure-interop', async () => {
    const { runCli } = await import('./cli-helpers.js');
    const bad = await runCli(['psi', '--connect', 'ws://127.0.0.1:1', '--input', p('pharma.csv'), '--key', 'resident_id', '--identity', p('pharma'), '--peer-key', p('hospital/identity.pub'), '--suite', 'p256']);
    expect(bad.code).not.toBe(0);
    expectOneLineError(bad.stderr, /option --suite must be one of curve25519, sm2-sm3, got 'p256'/);
    const interop = await runCli(['psi', '--connect', 'ws://127.0.0.1:1', '--input', p('pharma.csv'), '--key', 'resident_id', '--insecure-interop', '--suite', 'sm2-sm3']);
    expect(interop.code).not.toBe(0);
    expectOneLineError(interop.stderr, /--suite sm2-sm3 is a dataport suite, not the draft's: not available with --insecure-interop/);
  });
});
