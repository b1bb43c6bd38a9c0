/**
 * `dataport job` on BullMQ with a real Redis (Debian's redis-server, started here on a free
 * loopback port with append-only persistence; the tests skip loudly without it): workers killed
 * with SIGKILL and replaced, Redis restarted mid-job, two jobs on one queue, a detached job
 * finished by a second submit, and `job status`. Every job's output must equal one `dataport psi`
 * run's, byte for byte.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { assertBuilt, killAll, lastJson, runCli, startCli, tempDir, type CliProcess, writeIdentityDir, seededIds, stopCli, until } from './cli-helpers.js';
import { redisServerBinary, startRedis, type TestRedis } from './helpers/redis.js';

vi.setConfig({ testTimeout: 300_000, hookTimeout: 120_000 });

const tmp = tempDir('dataport-jobq-');
const D = tmp.dir;
const p = (name: string) => join(D, name);

function writeIdentity(name: string): void {
  writeIdentityDir(p(name));
}

const common = (side: 'pharma' | 'hospital') =>
  side === 'pharma'
    ? ['--identity', p('pharma'), '--peer-key', p('hospital/identity.pub'), '--input', p('pharma.csv'), '--key', 'resident_id']
    : ['--identity', p('hospital'), '--peer-key', p('pharma/identity.pub'), '--input', p('hospital.csv'), '--key', 'patient_id'];

// Started in beforeAll (not at import, so collecting the file, e.g. `vitest list`, starts nothing).
const HAVE_REDIS = redisServerBinary() !== undefined;
let redis: TestRedis | undefined;
let server: CliProcess;
let url: string;
let single: Buffer;

function submitArgs(name: string, buckets: number, extra: string[] = []): string[] {
  return ['job', 'submit', '--connect', url, ...common('pharma'), '--buckets', String(buckets), '--work-dir', p('work-pharma'), '--output', p(`${name}.csv`), '--job-id', name, '--queue', redis!.url, '--json', '--progress', 'none', ...extra];
}

function worker(concurrency = 1): CliProcess {
  return startCli(['job', 'worker', '--queue', redis!.url, '--concurrency', String(concurrency), '--lock-duration', '2'], { watchdogMs: 290_000 });
}

function finished(jobId: string): number {
  try {
    return readdirSync(p(`work-pharma/${jobId}/results`)).filter((n) => n.endsWith('.json')).length;
  } catch {
    return 0;
  }
}

beforeAll(async () => {
  redis = await startRedis('job-queue');
  if (!redis) return;
  assertBuilt();
  writeIdentity('pharma');
  writeIdentity('hospital');
  writeFileSync(p('pharma.csv'), 'resident_id,name\n' + seededIds(1, 400, 1500).map((k, i) => `${k},p${i}\n`).join(''));
  writeFileSync(p('hospital.csv'), 'patient_id,ward\n' + seededIds(2, 400, 1500).map((k, i) => `${k},w${i}\n`).join(''));
  const l = startCli(['psi', '--listen', '127.0.0.1:0', ...common('hospital')]);
  const u = await l.listening();
  const r = await runCli(['psi', '--connect', u, ...common('pharma'), '--output', p('single.csv')]);
  expect(r.code, r.stderr).toBe(0);
  await l.done;
  single = readFileSync(p('single.csv'));
  // One responder for every job: its bucket sessions are counted from its progress lines.
  server = startCli(['job', 'serve', '--listen', '127.0.0.1:0', ...common('hospital'), '--work-dir', p('work-hospital'), '--concurrency', '4', '--progress', 'lines'], { watchdogMs: 600_000 });
  url = await server.listening();
});

afterAll(async () => {
  if (server) await stopCli(server).catch(() => {});
  killAll();
  await redis?.stop();
  tmp.cleanup();
});

const bucketSessions = (jobId: string) => (server.stderr() + server.stdout()).split('\n').filter((l) => l.startsWith(`job ${jobId}: bucket `)).length;
const failedSessions = () => server.stderr().split('\n').filter((l) => l.includes('job session from')).length;

describe.skipIf(!HAVE_REDIS)('dataport job on BullMQ / Redis', () => {
  it('a worker SIGKILLed 10 times and replaced: same output, only in-flight buckets redone', async () => {
    const B = 40;
    const sub = startCli(submitArgs('kill10', B), { watchdogMs: 290_000 });
    const failedBefore = failedSessions();
    let kills = 0;
    let w = worker();
    while (kills < 10) {
      const at = finished('kill10');
      if (at >= B) break;
      // A random moment while the worker is busy: after its next finished bucket plus 0–150 ms.
      await until(() => finished('kill10') > at || sub.child.exitCode !== null);
      await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 150)));
      w.child.kill('SIGKILL');
      await w.done;
      kills++;
      w = worker();
    }
    const r = await sub.done;
    expect(r.code, r.stderr).toBe(0);
    expect(kills).toBe(10);
    expect(readFileSync(p('kill10.csv')).equals(single)).toBe(true);
    const j = lastJson(r.stdout);
    expect(j).toMatchObject({ ok: true, buckets: B, bucketsRun: B });
    await stopCli(w);
    // Lost work: sessions the responder served beyond B, and sessions cut off by a kill. A
    // worker runs one bucket at a time, so each kill loses at most the one bucket in flight.
    const served = bucketSessions('kill10');
    const cut = failedSessions() - failedBefore;
    expect(served).toBeGreaterThanOrEqual(B);
    expect(served - B + cut).toBeLessThanOrEqual(kills);
    // The summary counts the buckets run again after a kill (BullMQ's stalled re-runs included).
    expect(j.bucketsRetried).toBeGreaterThanOrEqual(cut);
    expect(j.bucketsRetried).toBeLessThanOrEqual(kills);
    console.log(`job-queue: ${kills} kills; bucket sessions redone: ${served - B} completed twice, ${cut} cut off`);
  });

  it('Redis restarted mid-job (append-only file): the job completes with the same output', async () => {
    const sub = startCli(submitArgs('redis-restart', 24), { watchdogMs: 290_000 });
    const w1 = worker();
    const w2 = worker();
    await until(() => finished('redis-restart') >= 3);
    await redis!.kill();
    await redis!.restart();
    const r = await sub.done;
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(p('redis-restart.csv')).equals(single)).toBe(true);
    await Promise.all([stopCli(w1), stopCli(w2)]);
  });

  it('two jobs at once on one queue, one of them detached then finished by a second submit; job status', async () => {
    const w1 = worker(2);
    const w2 = worker(2);
    const a = startCli(submitArgs('two-a', 16), { watchdogMs: 290_000 });
    const detached = await runCli(submitArgs('two-b', 12, ['--detach']));
    expect(detached.code, detached.stderr).toBe(0);
    expect(lastJson(detached.stdout)).toMatchObject({ ok: true, jobId: 'two-b', detached: true, buckets: 12, pending: 12 });
    const st = await runCli(['job', 'status', '--queue', redis!.url, '--job-id', 'two-b', '--json']);
    expect(st.code, st.stderr).toBe(0);
    const s = lastJson(st.stdout) as { buckets: number; states: { bucket: number; state: string }[] };
    expect(s.buckets).toBe(12);
    expect(s.states.map((x) => x.bucket)).toEqual([...Array(12).keys()]);
    const b = await runCli(submitArgs('two-b', 12), { watchdogMs: 290_000 });
    expect(b.code, b.stderr).toBe(0);
    const ra = await a.done;
    expect(ra.code, ra.stderr).toBe(0);
    expect(readFileSync(p('two-a.csv')).equals(single)).toBe(true);
    expect(readFileSync(p('two-b.csv')).equals(single)).toBe(true);
    const done = await runCli(['job', 'status', '--queue', redis!.url, '--job-id', 'two-b']);
    expect(done.stdout).toContain('12/12 buckets done');
    await Promise.all([stopCli(w1), stopCli(w2)]);
  });
});
