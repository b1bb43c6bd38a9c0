/**
 * `dataport job` with the PSI term options of `dataport psi` (--count-only, --truncate, --suite):
 * separate CLI processes over real sockets. Each job equals one `dataport psi` run with the same
 * options, and a job whose terms differ from the responder's is refused on both sides.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { assertBuilt, expectOneLineError, killAll, lastJson, runCli, startCli, tempDir, type CliProcess, writeIdentityDir, seededIds, stopCli } from './cli-helpers.js';

vi.setConfig({ testTimeout: 240_000 });

const tmp = tempDir('dataport-jobopt-');
const p = (name: string) => join(tmp.dir, name);

const common = (side: 'pharma' | 'hospital', size: 'big' | 'small' = 'big') =>
  side === 'pharma'
    ? ['--identity', p('pharma'), '--peer-key', p('hospital/identity.pub'), '--input', p(`pharma-${size}.csv`), '--key', 'resident_id']
    : ['--identity', p('hospital'), '--peer-key', p('pharma/identity.pub'), '--input', p(`hospital-${size}.csv`), '--key', 'patient_id'];

function serve(name: string, size: 'big' | 'small', extra: string[] = []): CliProcess {
  return startCli(['job', 'serve', '--listen', '127.0.0.1:0', ...common('hospital', size), '--work-dir', p(`${name}-hospital`), ...extra], { watchdogMs: 230_000 });
}
function submit(name: string, url: string, size: 'big' | 'small', buckets: number, extra: string[]): string[] {
  return ['job', 'submit', '--connect', url, ...common('pharma', size), '--buckets', String(buckets), '--work-dir', p(`${name}-pharma`), '--job-id', name, '--json', '--progress', 'none', ...extra];
}
async function singleRun(size: 'big' | 'small', extra: string[], output?: string): Promise<Record<string, unknown>> {
  const l = startCli(['psi', '--listen', '127.0.0.1:0', ...common('hospital', size), ...extra]);
  const url = await l.listening();
  const r = await runCli(['psi', '--connect', url, ...common('pharma', size), ...extra, '--json', ...(output ? ['--output', output] : [])]);
  expect(r.code, r.stderr).toBe(0);
  expect((await l.done).code).toBe(0);
  return lastJson(r.stdout);
}

beforeAll(() => {
  assertBuilt();
  writeIdentityDir(p('pharma'));
  writeIdentityDir(p('hospital'));
  writeFileSync(p('pharma-big.csv'), 'resident_id,name\n' + seededIds(11, 300, 900).map((k, i) => `${k},p${i}\n`).join(''));
  writeFileSync(p('hospital-big.csv'), 'patient_id,ward\n' + seededIds(12, 300, 900).map((k, i) => `${k},w${i}\n`).join(''));
  // SM2 is slow (portable code without the native kernels): small sets.
  writeFileSync(p('pharma-small.csv'), 'resident_id,name\n' + seededIds(13, 40, 80).map((k, i) => `${k},p${i}\n`).join(''));
  writeFileSync(p('hospital-small.csv'), 'patient_id,ward\n' + seededIds(14, 40, 80).map((k, i) => `${k},w${i}\n`).join(''));
});

afterEach(() => killAll());
afterAll(() => tmp.cleanup());

describe('dataport job: the PSI term options of dataport psi', () => {
  it('--count-only --truncate 192: the job learns the single run\'s count and writes nothing', async () => {
    const want = await singleRun('big', ['--count-only', '--truncate', '192']);
    expect(want.intersectionSize).toBeGreaterThan(20);
    const s = serve('count', 'big', ['--count-only', '--truncate', '192']);
    const url = await s.listening();
    const r = await runCli(submit('count', url, 'big', 7, ['--count-only', '--truncate', '192']), { watchdogMs: 230_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(lastJson(r.stdout)).toMatchObject({ ok: true, buckets: 7, intersectionSize: want.intersectionSize, distinctKeys: want.distinctKeys, peerDistinctKeys: want.peerDistinctKeys });
    expect(lastJson(r.stdout).outputRows).toBeUndefined();
    await stopCli(s);
  });

  it('--count-only and --output do not go together; without --count-only --output is required', async () => {
    const a = await runCli(submit('x', 'ws://127.0.0.1:1', 'big', 2, ['--count-only', '--output', p('x.csv')]));
    expect(a.code).toBe(1);
    expectOneLineError(a.stderr, /--output.*--count-only|--count-only.*--output/);
    const b = await runCli(submit('x', 'ws://127.0.0.1:1', 'big', 2, []));
    expect(b.code).toBe(1);
    expectOneLineError(b.stderr, /missing required option --output FILE \(or --count-only\)/);
  });

  it('a job whose terms differ from the responder\'s is refused on both sides (count-only, suite)', async () => {
    const s = serve('differ', 'big');
    const url = await s.listening();
    const a = await runCli(submit('differ1', url, 'big', 3, ['--count-only']));
    expect(a.code).toBe(1);
    expectOneLineError(a.stderr, /job differ1 failed, no output written: terms refused: the listener does not run with --count-only$/);
    const b = await runCli(submit('differ2', url, 'big', 3, ['--suite', 'sm2-sm3', '--output', p('differ2.csv')]));
    expect(b.code).toBe(1);
    expectOneLineError(b.stderr, /job differ2 failed, no output written: terms refused: PSI suites differ: requester sm2-sm3; responder curve25519$/);
    expect(existsSync(p('differ2.csv'))).toBe(false);
    await stopCli(s);
  });

  it('--suite sm2-sm3: the output is byte for byte the single SM2 run', async () => {
    const want = await singleRun('small', ['--suite', 'sm2-sm3'], p('sm2-single.csv'));
    expect(want.intersectionSize).toBeGreaterThan(3);
    const s = serve('sm2', 'small', ['--suite', 'sm2-sm3', '--ledger', p('ledger-hospital')]);
    const url = await s.listening();
    const r = await runCli(submit('sm2', url, 'small', 3, ['--suite', 'sm2-sm3', '--output', p('sm2.csv')]), { watchdogMs: 230_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(lastJson(r.stdout)).toMatchObject({ ok: true, intersectionSize: want.intersectionSize });
    expect(readFileSync(p('sm2.csv')).equals(readFileSync(p('sm2-single.csv')))).toBe(true);
    await stopCli(s);
  });
});
