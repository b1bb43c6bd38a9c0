/**
 * End-to-end tests of `dataport job` on the embedded (in-process) queue: separate processes of
 * the built CLI over real sockets on 127.0.0.1. The job's output must be byte for byte what one
 * `dataport psi` run writes (B = 1, 7, 64), a refused job fails on both sides without output, a
 * resubmitted job resumes, and a responder killed mid-job and restarted lets the job finish.
 * The redis-backed cases are in job-queue.test.ts.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { openLedger, verifyLedgerDir } from '../src/ledger/file-ledger.js';
import { type Identity } from '../src/session/identity.js';
import { assertBuilt, expectOneLineError, killAll, lastJson, runCli, startCli, tempDir, type CliProcess, writeIdentityDir, seededIds, stopCli, until, finishedBuckets } from './cli-helpers.js';

vi.setConfig({ testTimeout: 240_000 });

const tmp = tempDir('dataport-job-');
const D = tmp.dir;
const p = (name: string) => join(D, name);
const ids: Record<string, Identity> = {};

function writeIdentity(name: string): void {
  ids[name] = writeIdentityDir(p(name));
}

// The awkward rows of the psi tests (BOM, quotes, multi-line field, duplicates, empty key,
// full-width digits, case) followed by enough random keys to fill many buckets.
const PHARMA =
  '\uFEFFresident_id,name,note\r\n' +
  '"11010119900307001X","Zhang, San","said ""hi"""\r\n' +
  ' 110101199003070033 ,Wang Wu,"multi\nline"\r\n' +
  '"11010119900307001x",duplicate key,z\r\n' +
  ',no key,skipped\r\n' +
  '１１０１０１１９９００３０７００６６,full width,w\r\n' +
  seededIds(1, 400, 1500).map((k, i) => `${k},p${i},\r\n`).join('');
const HOSPITAL =
  'patient_id,ward,cost_yuan\n' +
  '11010119900307001x,cardiology,10.5\n' +
  '110101199003070033,oncology,20\n' +
  '110101199003070066,"ward, east",7\n' +
  seededIds(2, 400, 1500).map((k, i) => `${k},w${i % 7},${i}\n`).join('');

const common = (side: 'pharma' | 'hospital') =>
  side === 'pharma'
    ? ['--identity', p('pharma'), '--peer-key', p('hospital/identity.pub'), '--input', p('pharma.csv'), '--key', 'resident_id']
    : ['--identity', p('hospital'), '--peer-key', p('pharma/identity.pub'), '--input', p('hospital.csv'), '--key', 'patient_id'];

let single: { pharma: Buffer; hospital: Buffer };

function serve(name: string, extra: string[] = [], listen = '127.0.0.1:0'): CliProcess {
  return startCli(['job', 'serve', '--listen', listen, ...common('hospital'), '--work-dir', p(`${name}-hospital`), ...extra], { watchdogMs: 230_000 });
}

function submitArgs(name: string, url: string, buckets: number, extra: string[] = []): string[] {
  return ['job', 'submit', '--connect', url, ...common('pharma'), '--buckets', String(buckets), '--work-dir', p(`${name}-pharma`), '--output', p(`${name}.csv`), '--job-id', name, '--json', '--progress', 'none', ...extra];
}



beforeAll(async () => {
  assertBuilt();
  writeIdentity('pharma');
  writeIdentity('hospital');
  writeFileSync(p('pharma.csv'), PHARMA);
  writeFileSync(p('hospital.csv'), HOSPITAL);
  // The reference: one `dataport psi` run, both sides learning the intersection.
  const l = startCli(['psi', '--listen', '127.0.0.1:0', ...common('hospital'), '--reveal', 'both', '--output', p('single-hospital.csv')]);
  const url = await l.listening();
  const r = await runCli(['psi', '--connect', url, ...common('pharma'), '--reveal', 'both', '--output', p('single-pharma.csv')]);
  expect(r.code, r.stderr).toBe(0);
  expect((await l.done).code).toBe(0);
  single = { pharma: readFileSync(p('single-pharma.csv')), hospital: readFileSync(p('single-hospital.csv')) };
  expect(single.pharma.toString().split('\n').length).toBeGreaterThan(20);
});

afterEach(() => killAll());
afterAll(() => tmp.cleanup());

describe('dataport job on the embedded queue', () => {
  it.each([1, 7, 64])('B = %i: the output is byte for byte the single run', async (buckets) => {
    const name = `exact${buckets}`;
    const s = serve(name);
    const url = await s.listening();
    const r = await runCli(submitArgs(name, url, buckets), { watchdogMs: 230_000 });
    expect(r.code, r.stderr).toBe(0);
    const j = lastJson(r.stdout);
    expect(j).toMatchObject({ ok: true, jobId: name, buckets, bucketsRun: buckets, bucketsRetried: 0, inputRecords: 405, distinctKeys: 403 });
    expect(Object.keys(j).sort()).toEqual(
      ['ok', 'jobId', 'buckets', 'bucketsRun', 'bucketsRetried', 'intersectionSize', 'inputRecords', 'distinctKeys', 'peerDistinctKeys', 'bytesSent', 'bytesReceived', 'ms', 'outputRows'].sort(),
    );
    expect(readFileSync(p(`${name}.csv`)).equals(single.pharma)).toBe(true);
    await stopCli(s);
  });

  it('--reveal both: both outputs equal the single run, one co-signed job receipt per side', async () => {
    const s = serve('both', ['--reveal', 'both', '--output', p('both-hospital.csv'), '--ledger', p('ledger-hospital'), '--json']);
    const url = await s.listening();
    const r = await runCli(submitArgs('both', url, 7, ['--reveal', 'both', '--ledger', p('ledger-pharma')]), { watchdogMs: 230_000 });
    expect(r.code, r.stderr).toBe(0);
    await until(() => s.stdout().includes('"jobId":"both"'));
    await stopCli(s);
    expect(readFileSync(p('both.csv')).equals(single.pharma)).toBe(true);
    expect(readFileSync(p('both-hospital.csv')).equals(single.hospital)).toBe(true);
    for (const side of ['pharma', 'hospital'] as const) {
      const v = await verifyLedgerDir(p(`ledger-${side}`), { publicKey: ids[side]!.publicKey });
      expect(v.ok).toBe(true);
      const ledger = await openLedger(p(`ledger-${side}`), { owner: ids[side]! });
      const receipts = await ledger.readReceipts();
      await ledger.close();
      // One receipt for the whole job, not one per bucket.
      expect(receipts).toHaveLength(1);
      expect(receipts[0]!.body).toMatchObject({ protocol: 'ecdh-psi-job', outcome: 'completed', inputSizes: { requester: 403 } });
      expect(receipts[0]!.body.options).toMatchObject({ buckets: '7', 'job-id': 'both', 'bucket-prf': 'hmac-sha256' });
      expect(receipts[0]!.signatures).toHaveLength(2);
    }
  });

  it('a refused job fails on both sides with the reason and writes no output', async () => {
    const s = serve('refused');
    const url = await s.listening();
    const r = await runCli(submitArgs('refused', url, 7, ['--reveal', 'both']), { watchdogMs: 230_000 });
    expect(r.code).toBe(1);
    expectOneLineError(r.stderr, /^dataport: job refused failed, no output written: terms refused: the listener runs with --reveal requester, the request asks for --reveal both$/);
    expect(lastJson(r.stdout)).toMatchObject({ ok: false, code: 'ERR_TERMS_REFUSED' });
    await until(() => /job session from .* failed: .*--reveal requester/.test(s.stderr()));
    await stopCli(s);
    expect(existsSync(p('refused.csv'))).toBe(false);
    expect(existsSync(p('refused-hospital/refused'))).toBe(false);
  });

  it('a resubmitted job resumes: finished buckets are not run again', async () => {
    const s = serve('resume');
    const url = await s.listening();
    const first = startCli(submitArgs('resume', url, 32), { watchdogMs: 230_000 });
    await until(() => finishedBuckets(p('resume-pharma/resume')) >= 3);
    first.child.kill('SIGKILL');
    await first.done;
    const before = finishedBuckets(p('resume-pharma/resume'));
    expect(before).toBeLessThan(32);
    expect(existsSync(p('resume.csv'))).toBe(false);
    const again = await runCli(submitArgs('resume', url, 32), { watchdogMs: 230_000 });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain('resuming job resume');
    const j = lastJson(again.stdout);
    expect(j.bucketsRun).toBe(32 - before);
    expect(readFileSync(p('resume.csv')).equals(single.pharma)).toBe(true);
    // A resubmission with different parameters is refused, not mixed in.
    const other = await runCli(submitArgs('resume', url, 16).map((a) => (a === p('resume.csv') ? p('resume-other.csv') : a)));
    expect(other.code).toBe(1);
    expectOneLineError(other.stderr, /job resume already exists in .* and it has --buckets 32; use another --job-id/);
    await stopCli(s);
  });

  it('the responder killed mid-job and restarted: the job completes with the same output', async () => {
    let s = serve('restart');
    const url = await s.listening();
    const port = new URL(url).port;
    const sub = startCli(submitArgs('restart', url, 32), { watchdogMs: 230_000 });
    await until(() => finishedBuckets(p('restart-hospital/restart')) >= 3);
    s.child.kill('SIGKILL');
    await s.done;
    s = serve('restart', [], `127.0.0.1:${port}`);
    await s.listening();
    const r = await sub.done;
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(p('restart.csv')).equals(single.pharma)).toBe(true);
    await stopCli(s);
  });
});
