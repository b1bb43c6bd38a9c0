/**
 * `dataport product fetch` locks its `--cache` folder (`fetch.lock`, the ledger's lock mechanism,
 * src/ledger/lock.ts): a second fetch into a cache another live process is fetching into fails at
 * once with one line naming the folder and the process, before it connects; a lock left by a dead
 * process is broken; two fetches started together leave one valid cache either way.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, expectOneLineError, killAll, lastJson, runCli, startCli, tempDir, type CliProcess } from './cli-helpers.js';

const tmp = tempDir('dp-fetch-lock-');
const p = (...parts: string[]) => join(tmp.dir, ...parts);
let serve: CliProcess;
let url: string;

const fetchArgs = (cache: string) => ['product', 'fetch', '--connect', url, '--identity', p('pharma'), '--peer-key', p('hospital', 'identity.pub'), '--cache', p(cache), '--json'];
const lockLine = (pid: number) => `${pid} ${'ab'.repeat(16)}\n`;

beforeAll(async () => {
  assertBuilt();
  for (const who of ['hospital', 'pharma']) expect((await runCli(['keygen', '--out', p(who)])).code).toBe(0);
  writeFileSync(p('index.csv'), `resident_id\n${Array.from({ length: 2000 }, (_, i) => `11010119${String(i).padStart(8, '0')}`).join('\n')}\n`);
  writeFileSync(p('mine.csv'), 'resident_id\n1101011900000007\n44010119000000\n');
  const pub = await runCli(['product', 'publish', '--input', p('index.csv'), '--key', 'resident_id', '--identity', p('hospital'), '--out', p('product'), '--workers', '0']);
  expect(pub.code, pub.stderr).toBe(0);
  serve = startCli(['product', 'serve', '--listen', '127.0.0.1:0', '--product', p('product'), '--identity', p('hospital'), '--allow-any-peer', '--ledger', p('hospital-ledger'), '--workers', '0']);
  url = await serve.listening();
}, 120_000);

afterAll(() => {
  killAll();
  tmp.cleanup();
});

describe('dataport product fetch: one fetch per --cache at a time', () => {
  it('a cache locked by a live process is refused at once, naming it; after it ends the fetch works', async () => {
    mkdirSync(p('busy'));
    // The lock as a running fetch holds it: this test process is alive.
    writeFileSync(p('busy', 'fetch.lock'), lockLine(process.pid));
    const r = await runCli(fetchArgs('busy'));
    expect(r.code).toBe(1);
    expectOneLineError(
      r.stderr,
      new RegExp(`--cache \\S+busy: another 'dataport product fetch' \\(process ${process.pid}\\) is writing this cache; run this one again when it has finished \\(if no dataport process uses it, delete \\S+fetch\\.lock\\)$`),
    );
    expect(existsSync(p('busy', 'manifest.bin'))).toBe(false);
    // The holder finishes (its lock goes): the next fetch runs and leaves no lock behind.
    await import('node:fs/promises').then((fs) => fs.unlink(p('busy', 'fetch.lock')));
    const ok = await runCli(fetchArgs('busy'));
    expect(ok.code, ok.stderr).toBe(0);
    expect(lastJson(ok.stdout)).toMatchObject({ ok: true, mode: 'full', keys: 2000 });
    expect(existsSync(p('busy', 'fetch.lock'))).toBe(false);
  }, 120_000);

  it('a lock left by a dead process is broken', async () => {
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    const pid = Number(dead.stdout);
    expect(pid).toBeGreaterThan(0);
    mkdirSync(p('stale'));
    writeFileSync(p('stale', 'fetch.lock'), lockLine(pid));
    const r = await runCli(fetchArgs('stale'));
    expect(r.code, r.stderr).toBe(0);
    expect(lastJson(r.stdout)).toMatchObject({ ok: true, mode: 'full' });
  }, 120_000);

  it('two fetches started together: one fetches, the other is refused or finds it up to date; the cache answers queries', async () => {
    const [a, b] = await Promise.all([runCli(fetchArgs('both')), runCli(fetchArgs('both'))]);
    const outcomes = [a, b].map((r) => (r.code === 0 ? (lastJson(r.stdout).mode as string) : 'refused'));
    expect(outcomes.sort()).toSatisfy((o: string[]) => ['full,refused', 'full,up-to-date'].includes(o.join(',')));
    for (const r of [a, b]) if (r.code !== 0) expectOneLineError(r.stderr, /another 'dataport product fetch' \(process \d+\) is writing this cache/);
    const q = await runCli(['product', 'query', '--connect', url, '--identity', p('pharma'), '--peer-key', p('hospital', 'identity.pub'), '--cache', p('both'), '--input', p('mine.csv'), '--key', 'resident_id', '--json']);
    expect(q.code, q.stderr).toBe(0);
    expect(lastJson(q.stdout)).toMatchObject({ ok: true, queried: 2, matched: 1 });
    serve.child.kill('SIGINT');
    await serve.done;
  }, 120_000);
});
