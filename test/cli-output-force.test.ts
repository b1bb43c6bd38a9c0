/**
 * Issue 12 §4: `--output` never silently replaces an existing file. Without `--force` the command
 * refuses before any network work (psi, aggregate analyst) and, should the file appear during the
 * run, at the commit too (a hard link that fails instead of a rename that replaces).
 */
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openAtomicOutput } from '../src/cli/files.js';
import { InputError } from '../src/errors.js';
import { assertBuilt, expectOneLineError, killAll, runCli, runCliPair, tempDir } from './cli-helpers.js';

const W = { watchdogMs: 120_000 };
const tmp = tempDir('dp-output-force-');
const p = (...names: string[]) => join(tmp.dir, ...names);

beforeAll(async () => {
  assertBuilt();
  for (const who of ['a', 'b', 'operator', 'analyst']) expect((await runCli(['keygen', '--out', p(who)])).code).toBe(0);
  writeFileSync(p('a.csv'), 'id\nk1\nk2\nk3\n');
  writeFileSync(p('b.csv'), 'id\nk2\nk3\nk4\n');
  writeFileSync(p('q.json'), JSON.stringify({
    version: 1, id: 'q', columns: [{ name: 'cost', type: 'decimal', decimals: 2, min: '0.00', max: '10.00' }],
    groupBy: { column: 'ward', categories: ['x'] }, statistics: [{ type: 'count' }], maxRowsPerProvider: 10, providers: 2, minCohort: 0,
  }));
});
afterEach(killAll);
afterAll(() => tmp.cleanup());

describe('--output refuses an existing file unless --force', () => {
  it('psi: refused before connecting (nothing listens on the port), the file untouched', async () => {
    writeFileSync(p('kept.csv'), 'precious\n');
    const r = await runCli(['psi', '--connect', 'ws://127.0.0.1:9', '--identity', p('a'), '--peer-key', p('b', 'identity.pub'),
      '--input', p('a.csv'), '--key', 'id', '--output', p('kept.csv')], W);
    expect(r.code).not.toBe(0);
    expectOneLineError(r.stderr, /--output .*kept\.csv already exists; refusing to overwrite it \(use --force to replace it\)/);
    expect(readFileSync(p('kept.csv'), 'utf8')).toBe('precious\n');
  }, 60_000);

  it('psi --force replaces it with the matching rows', async () => {
    writeFileSync(p('replaced.csv'), 'old\n');
    const { l, r } = await runCliPair(
      ['psi', '--listen', '127.0.0.1:0', '--identity', p('b'), '--peer-key', p('a', 'identity.pub'), '--workers', '0', '--input', p('b.csv'), '--key', 'id'],
      (url) => ['psi', '--connect', url, '--identity', p('a'), '--peer-key', p('b', 'identity.pub'), '--workers', '0',
        '--input', p('a.csv'), '--key', 'id', '--output', p('replaced.csv'), '--force'],
      W,
    );
    expect(l.code, l.stderr).toBe(0);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(p('replaced.csv'), 'utf8')).toBe('id\nk2\nk3\n');
  }, 60_000);

  it('psi --force without --output is a usage error', async () => {
    const r = await runCli(['psi', '--connect', 'ws://127.0.0.1:9', '--input', p('a.csv'), '--key', 'id', '--force'], W);
    expectOneLineError(r.stderr, /--force applies only with --output/);
  }, 60_000);

  it('ppca-psi: refused before its server starts, the file untouched', async () => {
    writeFileSync(p('ppca.csv'), 'kept\n');
    const r = await runCli(['ppca-psi', '--rank', '0', '--listen', '127.0.0.1:0', '--peer', '127.0.0.1:9', '--input', p('a.csv'), '--key', 'id',
      '--output', p('ppca.csv'), '--timeout', '1'], W);
    expect(r.code).not.toBe(0);
    expectOneLineError(r.stderr, /ppca\.csv already exists; refusing to overwrite it \(use --force to replace it\)/);
    expect(r.stderr).not.toMatch(/listening on/);
    expect(readFileSync(p('ppca.csv'), 'utf8')).toBe('kept\n');
  }, 60_000);

  it('aggregate analyst: refused before connecting, the file untouched', async () => {
    writeFileSync(p('result.json'), '{"mine":true}\n');
    const r = await runCli(['aggregate', 'analyst', '--connect', 'ws://127.0.0.1:9', '--query', p('q.json'), '--output', p('result.json'),
      '--identity', p('analyst'), '--peer-key', p('operator', 'identity.pub')], W);
    expect(r.code).not.toBe(0);
    expectOneLineError(r.stderr, /result\.json already exists; refusing to overwrite it \(use --force to replace it\)/);
    expect(readFileSync(p('result.json'), 'utf8')).toBe('{"mine":true}\n');
  }, 60_000);
});

describe('openAtomicOutput commit', () => {
  it('without force, a file created during the run is not replaced: one-line InputError, no temporary file left', async () => {
    const target = p('race.csv');
    const out = await openAtomicOutput(target);
    await out.write(new TextEncoder().encode('ours\n'));
    writeFileSync(target, 'theirs\n'); // another process wrote it meanwhile
    const err = await out.commit().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toBe(`${target} already exists; refusing to overwrite it (use --force to replace it)`);
    expect(readFileSync(target, 'utf8')).toBe('theirs\n');
    expect(readdirSync(tmp.dir).filter((n) => n.startsWith('.race.csv.'))).toEqual([]);
  });

  it('without force, an existing file is refused at open; with force it is replaced', async () => {
    const target = p('exists.csv');
    writeFileSync(target, 'old\n');
    await expect(openAtomicOutput(target)).rejects.toThrow(/already exists; refusing to overwrite it/);
    const out = await openAtomicOutput(target, { force: true });
    await out.write(new TextEncoder().encode('new\n'));
    await out.commit();
    expect(readFileSync(target, 'utf8')).toBe('new\n');
    expect(existsSync(target)).toBe(true);
  });
});
