/**
 * Issue 12 item 3: every long-running command reports progress on stderr. Not a terminal here, so
 * the default is `lines`; no timing is asserted: only that the phase-end records appear, in order,
 * with done = total, and that stdout holds none of them.
 */
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, expectOneLineError, killAll, runCli, runCliPair, runPpcaPair, startCli, tempDir } from './cli-helpers.js';

const W = { watchdogMs: 120_000 };
const tmp = tempDir('dp-progress-');
const p = (...names: string[]) => join(tmp.dir, ...names);

beforeAll(async () => {
  assertBuilt();
  for (const who of ['a', 'b', 'operator', 'analyst', 'h1', 'h2']) expect((await runCli(['keygen', '--out', p(who)])).code).toBe(0);
  writeFileSync(p('ids.csv'), 'id\n' + Array.from({ length: 60 }, (_, i) => `k${i}`).join('\n') + '\n');
  writeFileSync(p('values.csv'), 'id,v\n' + Array.from({ length: 80 }, (_, i) => `k${i + 30},${i % 5}`).join('\n') + '\n');
  mkdirSync(p('providers'));
  for (const h of ['h1', 'h2']) copyFileSync(p(h, 'identity.pub'), p('providers', `${h}.pub`));
  writeFileSync(
    p('q.json'),
    JSON.stringify({
      version: 1,
      id: 'progress',
      columns: [{ name: 'cost', type: 'decimal', decimals: 2, min: '0.00', max: '1000.00' }],
      groupBy: { column: 'ward', categories: ['x', 'y'] },
      statistics: [{ type: 'count' }, { type: 'sum', column: 'cost' }],
      maxRowsPerProvider: 100,
      providers: 2,
      minCohort: 0,
    }),
  );
  writeFileSync(p('w.csv'), 'ward,cost\nx,1.00\ny,2.50\n');
});
afterEach(killAll);
afterAll(() => tmp.cleanup());

interface Rec {
  phase: string;
  done: number;
  total: number;
}

/** The `lines` records on stderr, parsed (each line checked against the documented format). */
function lineRecords(stderr: string): Rec[] {
  return stderr
    .split('\n')
    .filter((l) => l.startsWith('dataport: progress '))
    .map((l) => {
      const m = /^dataport: progress phase=(\S+) done=(\d+) total=(\d+) rate=\d+\/s elapsed=\d+\.\ds( unit=\S+)?$/.exec(l);
      expect(m, l).not.toBeNull();
      return { phase: m![1]!, done: Number(m![2]), total: Number(m![3]) };
    });
}

/** Phases in order of appearance; each phase appears in one run of records whose last has done = total. */
function phasesEndingComplete(records: Rec[]): string[] {
  const phases: string[] = [];
  records.forEach((r, i) => {
    expect(r.done).toBeLessThanOrEqual(r.total);
    if (phases[phases.length - 1] !== r.phase) {
      expect(phases, `phase ${r.phase} restarted`).not.toContain(r.phase);
      phases.push(r.phase);
    }
    const next = records[i + 1];
    if (!next || next.phase !== r.phase) expect(r, `end of ${r.phase}`).toMatchObject({ done: r.total });
  });
  return phases;
}

describe('progress on stderr (not a terminal)', () => {
  it('psi-sum: both sides print lines records; every phase ends at done = total, in protocol order', async () => {
    const { l, r } = await runCliPair(
      ['psi-sum', '--listen', '127.0.0.1:0', '--identity', p('b'), '--peer-key', p('a', 'identity.pub'), '--workers', '0',
        '--input', p('values.csv'), '--key', 'id', '--values', 'v', '--progress-interval', '1', '--json'],
      (url) => ['psi-sum', '--connect', url, '--identity', p('a'), '--peer-key', p('b', 'identity.pub'), '--workers', '0',
        '--input', p('ids.csv'), '--key', 'id', '--progress-interval', '1', '--json'],
      W,
    );
    expect(l.code, l.stderr).toBe(0);
    expect(r.code, r.stderr).toBe(0);
    expect(phasesEndingComplete(lineRecords(r.stderr))).toEqual([
      'connecting', 'hashing', 'round1-receive', 'remasking', 'round2-send', 'round2-receive', 'selecting', 'encrypting',
    ]);
    expect(phasesEndingComplete(lineRecords(l.stderr))).toEqual([
      'waiting-for-peer', 'hashing', 'round1-send', 'round2-receive', 'remasking', 'round2-send', 'multiplying',
    ]);
    expect(lineRecords(r.stderr).find((x) => x.phase === 'round1-receive')!.total).toBe(80);
    for (const x of [l, r]) expect(x.stdout).not.toMatch(/progress/);
  }, 120_000);

  it('psi --progress json: one JSON object per record on stderr, each phase ended with done = total', async () => {
    const { l, r } = await runCliPair(
      ['psi', '--listen', '127.0.0.1:0', '--identity', p('b'), '--peer-key', p('a', 'identity.pub'), '--workers', '0',
        '--input', p('values.csv'), '--key', 'id', '--progress', 'json'],
      (url) => ['psi', '--connect', url, '--identity', p('a'), '--peer-key', p('b', 'identity.pub'), '--workers', '0',
        '--input', p('ids.csv'), '--key', 'id', '--progress', 'json', '--output', p('psi-out.csv'), '--json'],
      W,
    );
    expect(l.code, l.stderr).toBe(0);
    expect(r.code, r.stderr).toBe(0);
    const records = r.stderr.split('\n').filter((x) => x.startsWith('{')).map((x) => JSON.parse(x) as Rec & { type: string; end: boolean });
    expect(records.every((x) => x.type === 'progress')).toBe(true);
    const ends = records.filter((x) => x.end);
    expect(ends.every((x) => x.done === x.total)).toBe(true);
    const phases = phasesEndingComplete(records);
    expect(phases[0]).toBe('reading-input');
    expect(phases[phases.length - 1]).toBe('writing');
    expect(phases).toEqual(expect.arrayContaining(['hashing+masking', 'matching']));
    expect(ends.map((x) => x.phase)).toEqual(phases); // one end record per phase, in order
    expect(r.stdout).not.toMatch(/"type":"progress"/);
  }, 120_000);

  it('aggregate serve, provide and analyst report their phases', async () => {
    const prog = ['--progress', 'lines', '--progress-interval', '1'];
    const server = startCli(
      ['aggregate', 'serve', '--listen', '127.0.0.1:0', '--providers', '2', '--identity', p('operator'),
        '--analyst-key', p('analyst', 'identity.pub'), '--provider-keys', p('providers'), ...prog],
      W,
    );
    const url = await server.listening();
    const provide = (who: string) =>
      runCli(['aggregate', 'provide', '--connect', url, '--input', p('w.csv'), '--identity', p(who), '--peer-key', p('operator', 'identity.pub'), ...prog], W);
    const [p1, p2, analyst] = await Promise.all([
      provide('h1'),
      provide('h2'),
      runCli(['aggregate', 'analyst', '--connect', url, '--query', p('q.json'), '--output', p('agg.json'), '--identity', p('analyst'),
        '--peer-key', p('operator', 'identity.pub'), ...prog], W),
    ]);
    const s = await server.done;
    for (const x of [p1, p2, analyst, s]) expect(x.code, x.stderr).toBe(0);
    expect(phasesEndingComplete(lineRecords(s.stderr))).toEqual(['waiting-for-participants', 'collecting']);
    expect(lineRecords(s.stderr).pop()).toEqual({ phase: 'collecting', done: 2, total: 2 });
    for (const x of [p1, p2]) expect(phasesEndingComplete(lineRecords(x.stderr))).toEqual(['waiting-for-query', 'contributing', 'waiting-for-round-end']);
    expect(phasesEndingComplete(lineRecords(analyst.stderr))).toEqual(['waiting-for-total', 'decrypting']);
  }, 120_000);

  it('ppca-psi: both ranks report encrypting, sending, dual-encrypting, comparing (lines and json); none prints nothing', async () => {
    const ppca = ['--key', 'id', '--workers', '0', '--json'];
    // Rank 0 learns (lines); rank 1 does not (--result-to-rank 0): no comparing step there.
    const [r0, r1] = await runPpcaPair(
      ['--input', p('ids.csv'), ...ppca, '--result-to-rank', '0', '--progress', 'lines', '--progress-interval', '1'],
      ['--input', p('values.csv'), ...ppca, '--result-to-rank', '0', '--progress', 'json'],
      W,
    );
    expect(r0.code, r0.stderr).toBe(0);
    expect(r1.code, r1.stderr).toBe(0);
    const l0 = lineRecords(r0.stderr);
    expect(phasesEndingComplete(l0)).toEqual(['encrypting', 'sending', 'dual-encrypting', 'comparing']);
    const total = (records: Rec[], phase: string) => records.filter((x) => x.phase === phase).pop()!.total;
    expect(['encrypting', 'sending', 'dual-encrypting', 'comparing'].map((x) => total(l0, x))).toEqual([60, 60, 80, 60]);
    const j1 = r1.stderr.split('\n').filter((x) => x.startsWith('{')).map((x) => JSON.parse(x) as Rec & { type: string; end: boolean; unit: string });
    expect(j1.every((x) => x.type === 'progress' && x.unit === 'items')).toBe(true);
    expect(phasesEndingComplete(j1)).toEqual(['encrypting', 'sending', 'dual-encrypting']);
    expect(j1.filter((x) => x.end).map((x) => [x.phase, x.total])).toEqual([['encrypting', 80], ['sending', 80], ['dual-encrypting', 60]]);
    for (const x of [r0, r1]) expect(x.stdout).not.toMatch(/progress/);

    const quiet = await runPpcaPair(['--input', p('ids.csv'), ...ppca, '--progress', 'none'], ['--input', p('values.csv'), ...ppca, '--progress', 'none'], W);
    for (const x of quiet) {
      expect(x.code, x.stderr).toBe(0);
      expect(x.stderr).not.toMatch(/progress/);
    }
  }, 120_000);

  it('--progress takes none|bar|lines|json; none prints no record', async () => {
    const bad = await runCli(['psi', '--connect', 'ws://127.0.0.1:1', '--input', p('ids.csv'), '--key', 'id', '--progress', 'loud'], W);
    expect(bad.code).not.toBe(0);
    expectOneLineError(bad.stderr, /--progress must be one of none, bar, lines, json/);
    const badInterval = await runCli(['psi-sum', '--connect', 'ws://127.0.0.1:1', '--identity', p('a'), '--input', p('ids.csv'), '--key', 'id', '--progress-interval', '0'], W);
    expectOneLineError(badInterval.stderr, /--progress-interval/);
    const { l, r } = await runCliPair(
      ['psi', '--listen', '127.0.0.1:0', '--identity', p('b'), '--peer-key', p('a', 'identity.pub'), '--workers', '0', '--input', p('values.csv'), '--key', 'id', '--progress', 'none'],
      (url) => ['psi', '--connect', url, '--identity', p('a'), '--peer-key', p('b', 'identity.pub'), '--workers', '0', '--input', p('ids.csv'), '--key', 'id', '--progress', 'none'],
      W,
    );
    for (const x of [l, r]) {
      expect(x.code, x.stderr).toBe(0);
      expect(x.stderr).not.toMatch(/progress/);
    }
  }, 120_000);
});
