/**
 * End-to-end tests of psi-sum jobs (`dataport job serve|submit` with `--values` / `--protocol
 * psi-sum`): separate processes of the built CLI over real sockets on 127.0.0.1. The job's count,
 * sums and means must equal one `dataport psi-sum` run's (B = 1 and 7, reveal both and requester,
 * either side holding the values, and on BullMQ with a real Redis); the minimum cohort applies to
 * the job's total (buckets below k but a total ≥ k succeeds; a total below k is withheld on both
 * sides, exit code 3, no result); a resubmitted job resumes with the same totals.
 */
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { openLedger } from '../src/ledger/file-ledger.js';
import { type Identity } from '../src/session/identity.js';
import { assertBuilt, expectOneLineError, killAll, lastJson, runCli, startCli, tempDir, type CliProcess, writeIdentityDir, seededIds, stopCli, until, finishedBuckets } from './cli-helpers.js';
import { startRedis } from './helpers/redis.js';

vi.setConfig({ testTimeout: 240_000, hookTimeout: 120_000 });

const tmp = tempDir('dataport-sumjob-');
const D = tmp.dir;
const p = (name: string) => join(D, name);
const ids: Record<string, Identity> = {};

// The pharmaceutical company's programme (identifiers only) and the hospital's records: several
// rows per patient for some keys, costs with 2 decimals, a 0/1 adverse-event flag.
const PHARMA = 'resident_id,name\n' + seededIds(1, 300, 600).map((k, i) => `${k},p${i}\n`).join('');
const HOSPITAL =
  'patient_id,cost_yuan,adverse\n' +
  seededIds(2, 300, 600)
    .flatMap((k, i) => (i % 4 === 0 ? [k, k] : [k]))
    .map((k, i) => `${k},${(i * 7919) % 5000}.${String(i % 100).padStart(2, '0')},${i % 5 === 0 ? 1 : 0}\n`)
    .join('');

const common = (side: 'pharma' | 'hospital') =>
  side === 'pharma'
    ? ['--identity', p('pharma'), '--peer-key', p('hospital/identity.pub'), '--input', p('pharma.csv'), '--key', 'resident_id']
    : ['--identity', p('hospital'), '--peer-key', p('pharma/identity.pub'), '--input', p('hospital.csv'), '--key', 'patient_id', '--values', 'cost_yuan,adverse'];

let single: { intersectionSize: number; sums: Record<string, string>; means: Record<string, string | null> };

function serve(side: 'pharma' | 'hospital', name: string, extra: string[] = []): CliProcess {
  return startCli(['job', 'serve', '--listen', '127.0.0.1:0', ...common(side), ...(side === 'pharma' ? ['--protocol', 'psi-sum'] : []), '--work-dir', p(`${name}-${side}`), '--json', ...extra], {
    watchdogMs: 230_000,
  });
}

function submitArgs(side: 'pharma' | 'hospital', name: string, url: string, buckets: number, extra: string[] = []): string[] {
  return ['job', 'submit', '--connect', url, ...common(side), ...(side === 'pharma' ? ['--protocol', 'psi-sum'] : []), '--buckets', String(buckets), '--work-dir', p(`${name}-${side}`), '--job-id', name, '--json', '--progress', 'none', ...extra];
}

/** The JSON line a `job serve` printed for job `name`. */
async function servedJson(s: CliProcess, name: string): Promise<Record<string, unknown>> {
  await until(() => s.stdout().includes(`"jobId":"${name}"`));
  const line = s.stdout().split('\n').find((l) => l.includes(`"jobId":"${name}"`))!;
  return JSON.parse(line) as Record<string, unknown>;
}

beforeAll(async () => {
  assertBuilt();
  ids['pharma'] = writeIdentityDir(p('pharma'));
  ids['hospital'] = writeIdentityDir(p('hospital'));
  writeFileSync(p('pharma.csv'), PHARMA);
  writeFileSync(p('hospital.csv'), HOSPITAL);
  // The reference: one `dataport psi-sum` run over the same files.
  const l = startCli(['psi-sum', '--listen', '127.0.0.1:0', ...common('hospital'), '--reveal', 'both']);
  const url = await l.listening();
  const r = await runCli(['psi-sum', '--connect', url, ...common('pharma'), '--reveal', 'both', '--json']);
  expect(r.code, r.stderr).toBe(0);
  expect((await l.done).code).toBe(0);
  single = lastJson(r.stdout) as typeof single;
  expect(single.intersectionSize).toBeGreaterThan(100);
});

afterEach(() => killAll());
afterAll(() => tmp.cleanup());

describe('psi-sum jobs (dataport job)', () => {
  it.each([1, 7])('B = %i, reveal both: count, sums and means equal one psi-sum run on both sides', async (buckets) => {
    const name = `exact${buckets}`;
    const s = serve('hospital', name, ['--reveal', 'both', '--ledger', p(`${name}-ledger-h`)]);
    const url = await s.listening();
    const r = await runCli(submitArgs('pharma', name, url, buckets, ['--reveal', 'both', '--ledger', p(`${name}-ledger-p`)]), { watchdogMs: 230_000 });
    expect(r.code, r.stderr).toBe(0);
    const j = lastJson(r.stdout);
    expect(j).toMatchObject({ ok: true, jobId: name, buckets, bucketsRun: buckets, withheld: false, intersectionSize: single.intersectionSize, sums: single.sums, means: single.means });
    expect(Object.keys(j).sort()).toEqual(
      ['ok', 'jobId', 'buckets', 'bucketsRun', 'bucketsRetried', 'intersectionSize', 'inputRecords', 'distinctKeys', 'peerDistinctKeys', 'bytesSent', 'bytesReceived', 'ms', 'ledger', 'withheld', 'sums', 'means'].sort(),
    );
    for (const [c, v] of Object.entries(single.sums)) expect(r.stderr).toContain(`${c}: sum ${v}`);
    // The value holder receives the same totals (no DP: exact).
    const h = await servedJson(s, name);
    expect(h).toMatchObject({ withheld: false, intersectionSize: single.intersectionSize, sums: single.sums, means: single.means });
    await stopCli(s);
    // One co-signed job receipt per side.
    for (const side of ['p', 'h'] as const) {
      const ledger = await openLedger(p(`${name}-ledger-${side}`), { owner: ids[side === 'p' ? 'pharma' : 'hospital']! });
      const receipts = await ledger.readReceipts();
      await ledger.close();
      expect(receipts).toHaveLength(1);
      expect(receipts[0]!.body).toMatchObject({ protocol: 'psi-sum-job', outcome: 'completed' });
      expect(receipts[0]!.body.options).toMatchObject({ 'job-id': name, buckets: String(buckets), values: 'responder', 'value-scales': 'adverse=0,cost_yuan=2' });
      expect(receipts[0]!.signatures).toHaveLength(2);
    }
  });

  it('reveal requester, the value holder submitting: it gets the totals; the identifier holder gets none', async () => {
    const s = serve('pharma', 'vreq');
    const url = await s.listening();
    const r = await runCli(submitArgs('hospital', 'vreq', url, 7), { watchdogMs: 230_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(lastJson(r.stdout)).toMatchObject({ withheld: false, intersectionSize: single.intersectionSize, sums: single.sums, means: single.means });
    const i = await servedJson(s, 'vreq');
    expect(i).toMatchObject({ withheld: false, sums: null, means: null });
    await stopCli(s);
  });

  it('min-cohort applies to the total: every bucket below k but the total at least k succeeds; a total below k is withheld on both sides', async () => {
    const k = single.intersectionSize - 3; // far above any of 7 buckets' counts
    const s = serve('hospital', 'cohort', ['--reveal', 'both', '--min-cohort', '10']);
    const url = await s.listening();
    const ok = await runCli(submitArgs('pharma', 'cohort', url, 7, ['--reveal', 'both', '--min-cohort', String(k)]), { watchdogMs: 230_000 });
    expect(ok.code, ok.stderr).toBe(0);
    expect(lastJson(ok.stdout)).toMatchObject({ withheld: false, sums: single.sums });
    const held = await runCli(submitArgs('pharma', 'held', url, 7, ['--reveal', 'both', '--min-cohort', String(single.intersectionSize + 1)]), { watchdogMs: 230_000 });
    expect(held.code, held.stderr).toBe(3);
    expect(held.stderr).toContain(`job held: result withheld: the job's intersection is below the minimum cohort of ${single.intersectionSize + 1}`);
    expect(lastJson(held.stdout)).toMatchObject({ ok: true, withheld: true, intersectionSize: null, sums: null, means: null });
    expect(held.stderr).not.toContain('sum ');
    const h = await servedJson(s, 'held');
    expect(h).toMatchObject({ withheld: true, intersectionSize: null, sums: null, means: null });
    expect((h.receipt as { body: { outcome: string } }).body.outcome).toBe('withheld');
    // A request below the listener's own minimum cohort is refused.
    const low = await runCli(submitArgs('pharma', 'low', url, 3, ['--reveal', 'both', '--min-cohort', '5']));
    expect(low.code).toBe(1);
    expectOneLineError(low.stderr, /job low failed, no output written: terms refused: listener requires a minimum cohort of at least 10$/);
    await stopCli(s);
  });

  it('a resubmitted job resumes: finished buckets are not run again, the totals are the same', async () => {
    const s = serve('hospital', 'resume', ['--reveal', 'both']);
    const url = await s.listening();
    const first = startCli(submitArgs('pharma', 'resume', url, 24, ['--reveal', 'both']), { watchdogMs: 230_000 });
    await until(() => finishedBuckets(p('resume-pharma/resume')) >= 3);
    first.child.kill('SIGKILL');
    await first.done;
    const before = finishedBuckets(p('resume-pharma/resume'));
    expect(before).toBeLessThan(24);
    const again = await runCli(submitArgs('pharma', 'resume', url, 24, ['--reveal', 'both']), { watchdogMs: 230_000 });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain('resuming job resume');
    const j = lastJson(again.stdout);
    expect(j.bucketsRun).toBe(24 - before);
    expect(j).toMatchObject({ intersectionSize: single.intersectionSize, sums: single.sums, means: single.means });
    // Other psi-sum options under the same job id are refused, not mixed in.
    const other = await runCli(submitArgs('pharma', 'resume', url, 24, ['--reveal', 'both', '--min-cohort', '2']));
    expect(other.code).toBe(1);
    expectOneLineError(other.stderr, /job resume already exists in .* and its protocol or psi-sum options differ; use another --job-id/);
    await stopCli(s);
  });

  it('option errors are one line', async () => {
    const r = await runCli(['job', 'submit', '--connect', 'ws://127.0.0.1:1', ...common('hospital'), '--buckets', '2', '--work-dir', p('x'), '--job-id', 'x', '--output', p('x.csv')]);
    expect(r.code).toBe(1);
    expectOneLineError(r.stderr, /option --output: a psi-sum job writes no file/);
    const q = await runCli(['job', 'submit', '--connect', 'ws://127.0.0.1:1', ...common('pharma'), '--buckets', '2', '--work-dir', p('x'), '--job-id', 'x', '--output', p('x.csv'), '--min-cohort', '3']);
    expect(q.code).toBe(1);
    expectOneLineError(q.stderr, /option --min-cohort applies to psi-sum jobs/);
    const c = await runCli(['job', 'submit', '--connect', 'ws://127.0.0.1:1', ...common('hospital'), '--buckets', '2', '--work-dir', p('x'), '--job-id', 'x', '--count-only']);
    expect(c.code).toBe(1);
    expectOneLineError(c.stderr, /option --count-only applies to psi jobs, not to psi-sum jobs/);
    const d = await runCli(['job', 'submit', '--connect', 'ws://127.0.0.1:1', '--identity', p('hospital'), '--peer-key', p('pharma/identity.pub'), '--input', 'postgres://h@127.0.0.1:1/his', '--query', 'SELECT patient_id, cost_yuan FROM t', '--key', 'patient_id', '--values', 'cost_yuan', '--buckets', '2', '--work-dir', p('x'), '--job-id', 'x']);
    expect(d.code).toBe(1);
    expectOneLineError(d.stderr, /a psi-sum job reads its value columns from a CSV --input/);
  });
});

describe('psi-sum jobs on BullMQ (redis-server; skipped loudly without it)', () => {
  it('--queue: the totals equal one psi-sum run', async () => {
    const redis = await startRedis('psi-sum-job');
    if (!redis) return;
    const s = serve('hospital', 'queued', ['--reveal', 'both']);
    try {
      const url = await s.listening();
      const w = startCli(['job', 'worker', '--queue', redis.url, '--concurrency', '2'], { watchdogMs: 230_000 });
      const r = await runCli(submitArgs('pharma', 'queued', url, 7, ['--reveal', 'both', '--queue', redis.url]), { watchdogMs: 230_000 });
      expect(r.code, r.stderr).toBe(0);
      expect(lastJson(r.stdout)).toMatchObject({ withheld: false, intersectionSize: single.intersectionSize, sums: single.sums, means: single.means });
      await stopCli(w);
    } finally {
      await stopCli(s);
      await redis.stop();
    }
  });
});
