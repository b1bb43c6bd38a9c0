/**
 * `dataport job` with Redis down (a real redis-server, test/helpers/redis.ts; skipped loudly
 * without it): a waiting `job submit --queue`, `job worker` and `job status` end with one line
 * naming the queue once Redis has been unreachable for `--queue-timeout`, exit 1, and once Redis
 * is back (append-only file) the same submit resumes and finishes with the single run's output.
 * States are polled (Redis's wait list, process exits), never waited for with a fixed sleep.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { assertBuilt, expectOneLineError, killAll, lastJson, runCli, startCli, tempDir, type CliProcess, writeIdentityDir, seededIds, until } from './cli-helpers.js';
import { startRedis, type TestRedis } from './helpers/redis.js';

vi.setConfig({ testTimeout: 240_000, hookTimeout: 120_000 });

const tmp = tempDir('dataport-jobqdown-');
const p = (name: string) => join(tmp.dir, name);
let redis: TestRedis | undefined;
let server: CliProcess | undefined;
let url: string;

const pharma = ['--identity', p('pharma'), '--peer-key', p('hospital/identity.pub'), '--input', p('pharma.csv'), '--key', 'resident_id'];
const hospital = ['--identity', p('hospital'), '--peer-key', p('pharma/identity.pub'), '--input', p('hospital.csv'), '--key', 'patient_id'];
const submitArgs = () => ['job', 'submit', '--connect', url, ...pharma, '--buckets', '6', '--work-dir', p('work-pharma'), '--output', p('out.csv'), '--job-id', 'down', '--queue', redis!.url, '--queue-timeout', '2', '--json', '--progress', 'none'];
const DOWN = (u: string) => new RegExp(`^dataport: (job down failed, no output written: )?--queue ${u.replace(/[/.]/g, '\\$&')}: Redis unreachable for 2 s \\(.+\\); start it and run the same command again \\(a job resumes\\)$`);


beforeAll(async () => {
  redis = await startRedis('job-queue-down');
  if (!redis) return;
  assertBuilt();
  writeIdentityDir(p('pharma'));
  writeIdentityDir(p('hospital'));
  writeFileSync(p('pharma.csv'), 'resident_id,name\n' + seededIds(41, 120, 300).map((k, i) => `${k},p${i}\n`).join(''));
  writeFileSync(p('hospital.csv'), 'patient_id,ward\n' + seededIds(42, 120, 300).map((k, i) => `${k},w${i}\n`).join(''));
  server = startCli(['job', 'serve', '--listen', '127.0.0.1:0', ...hospital, '--work-dir', p('work-hospital')], { watchdogMs: 230_000 });
  url = await server.listening();
});

afterAll(async () => {
  killAll();
  await redis?.stop();
  tmp.cleanup();
});

describe('dataport job while Redis is down', () => {
  it('submit, worker and status exit 1 naming the queue; a resubmit resumes once Redis is back', async (t) => {
    if (!redis) return t.skip();
    // No worker yet: the submit queues its 6 buckets and waits.
    const sub = startCli(submitArgs(), { watchdogMs: 230_000 });
    const probe = new Redis(redis.port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0 });
    await probe.connect();
    await until(async () => (await probe.llen('bull:dataport-psi-buckets:wait')) === 6);
    probe.disconnect();
    await redis.kill();

    const r = await sub.done;
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/warning: --queue redis:\/\/127\.0\.0\.1:\d+\/0: Redis unreachable \(.*\); waiting up to 2 s \(--queue-timeout\)/);
    expectOneLineError(r.stderr.split('\n').filter((l) => !l.includes('warning')).join('\n'), DOWN(redis.url));
    expect(lastJson(r.stdout)).toMatchObject({ ok: false });

    const w = await runCli(['job', 'worker', '--queue', redis.url, '--queue-timeout', '2']);
    expect(w.code).toBe(1);
    expect(w.stderr.trim().split('\n').at(-1)).toMatch(DOWN(redis.url));
    const s = await runCli(['job', 'status', '--queue', redis.url, '--queue-timeout', '2', '--job-id', 'down']);
    expect(s.code).toBe(1);
    expectOneLineError(s.stderr, DOWN(redis.url));

    // Redis back (its append-only file kept the tasks): a worker and the same submit finish the job.
    await redis.restart();
    const worker = startCli(['job', 'worker', '--queue', redis.url, '--concurrency', '2'], { watchdogMs: 230_000 });
    const again = await runCli(submitArgs(), { watchdogMs: 230_000 });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain('resuming job down');
    worker.child.kill('SIGINT');
    await worker.done;

    const l = startCli(['psi', '--listen', '127.0.0.1:0', ...hospital]);
    const u = await l.listening();
    const single = await runCli(['psi', '--connect', u, ...pharma, '--output', p('single.csv')]);
    expect(single.code, single.stderr).toBe(0);
    await l.done;
    expect(readFileSync(p('out.csv')).equals(readFileSync(p('single.csv')))).toBe(true);
    server!.child.kill('SIGINT');
    await server!.done;
  });
});
