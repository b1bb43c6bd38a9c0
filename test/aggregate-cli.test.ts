import { afterEach, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertBuilt, expectOneLineError, killAll, runCli, startCli, tempDir } from './cli-helpers.js';

afterEach(() => killAll());

const query = {
  version: 1,
  id: 'wards-e2e',
  columns: [{ name: 'cost', type: 'decimal', decimals: 2, min: '-100.00', max: '100000.00' }],
  groupBy: { column: 'ward', categories: ['oncology', 'surgery'] },
  statistics: [{ type: 'count' }, { type: 'sum', column: 'cost' }, { type: 'mean', column: 'cost' }],
  maxRowsPerProvider: 1000,
  providers: 2,
  minCohort: 2,
};

describe('dataport aggregate (separate processes, real sockets)', () => {
  it('serve + analyst + 2 providers: exact totals, min-cohort withholding, JSON summaries', async () => {
    assertBuilt();
    const tmp = tempDir('dp-agg-');
    try {
      writeFileSync(join(tmp.dir, 'q.json'), JSON.stringify(query));
      writeFileSync(join(tmp.dir, 'a.csv'), '\uFEFFward,cost,extra\noncology,10.25,x\n"surgery",-5.00,y\noncology,99999.99,z\n');
      writeFileSync(join(tmp.dir, 'b.csv'), 'cost,ward\r\n0.01,oncology\r\n');
      const server = startCli(['aggregate', 'serve', '--listen', '127.0.0.1:0', '--providers', '2', '--json'], { watchdogMs: 120_000 });
      const url = await server.listening();
      const [p1, p2, analyst] = await Promise.all([
        runCli(['aggregate', 'provide', '--connect', url, '--input', join(tmp.dir, 'a.csv'), '--json'], { watchdogMs: 120_000 }),
        runCli(['aggregate', 'provide', '--connect', url, '--input', join(tmp.dir, 'b.csv'), '--json'], { watchdogMs: 120_000 }),
        runCli(['aggregate', 'analyst', '--connect', url, '--query', join(tmp.dir, 'q.json'), '--output', join(tmp.dir, 'r.json'), '--json'], { watchdogMs: 120_000 }),
      ]);
      const s = await server.done;
      for (const r of [p1, p2, analyst, s]) expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(s.stdout.trim().split('\n').pop()!)).toMatchObject({ ok: true, status: 'completed', contributors: 2 });
      expect(JSON.parse(p1.stdout.trim())).toMatchObject({ ok: true, rows: 3, contributors: 2 });
      const result = JSON.parse(readFileSync(join(tmp.dir, 'r.json'), 'utf8'));
      expect(result.groups).toEqual([
        {
          group: 'oncology',
          withheld: false,
          statistics: [
            { type: 'count', value: '3' },
            { type: 'sum', column: 'cost', value: '100010.25' },
            { type: 'mean', column: 'cost', value: '33336.7500' },
          ],
        },
        { group: 'surgery', withheld: true, reason: 'fewer than 2 rows (minimum cohort)' },
      ]);
    } finally {
      tmp.cleanup();
    }
  }, 180_000);

  it('a provider with a bad value fails with one line and the round ends for everyone', async () => {
    assertBuilt();
    const tmp = tempDir('dp-agg-');
    try {
      writeFileSync(join(tmp.dir, 'q.json'), JSON.stringify(query));
      writeFileSync(join(tmp.dir, 'a.csv'), 'ward,cost\noncology,10.255\n');
      writeFileSync(join(tmp.dir, 'b.csv'), 'ward,cost\noncology,1.00\n');
      const server = startCli(['aggregate', 'serve', '--listen', '127.0.0.1:0', '--providers', '2'], { watchdogMs: 120_000 });
      const url = await server.listening();
      const [p1, p2, analyst] = await Promise.all([
        runCli(['aggregate', 'provide', '--connect', url, '--input', join(tmp.dir, 'a.csv')], { watchdogMs: 120_000 }),
        runCli(['aggregate', 'provide', '--connect', url, '--input', join(tmp.dir, 'b.csv')], { watchdogMs: 120_000 }),
        runCli(['aggregate', 'analyst', '--connect', url, '--query', join(tmp.dir, 'q.json'), '--output', join(tmp.dir, 'r.json')], { watchdogMs: 120_000 }),
      ]);
      const s = await server.done;
      expect(p1.code).toBe(1);
      expectOneLineError(p1.stderr, /a\.csv: line 2: column cost is not a number with at most 2 decimal places/);
      expect(p1.stderr).not.toContain('10.255');
      expect(analyst.code).toBe(1);
      expectOneLineError(analyst.stderr, /could not use its input/);
      expect(p2.code).toBe(1);
      expect(s.code).toBe(1);
    } finally {
      tmp.cleanup();
    }
  }, 180_000);

  it('serve gives up when not everyone connects in time; waiting parties get a clear error', async () => {
    assertBuilt();
    const tmp = tempDir('dp-agg-');
    try {
      writeFileSync(join(tmp.dir, 'q.json'), JSON.stringify(query));
      const server = startCli(['aggregate', 'serve', '--listen', '127.0.0.1:0', '--providers', '2', '--timeout', '2'], { watchdogMs: 120_000 });
      const url = await server.listening();
      const analyst = await runCli(['aggregate', 'analyst', '--connect', url, '--query', join(tmp.dir, 'q.json'), '--output', join(tmp.dir, 'r.json')], { watchdogMs: 120_000 });
      const s = await server.done;
      expect(s.code).toBe(1);
      expectOneLineError(s.stderr, /did not all connect in time/);
      expect(analyst.code).toBe(1);
      expectOneLineError(analyst.stderr, /closed|shutting down|connection|went away/i);
    } finally {
      tmp.cleanup();
    }
  }, 180_000);

  it("a provider's own guardrails refuse a query (no DP) and the round ends as refused", async () => {
    assertBuilt();
    const tmp = tempDir('dp-agg-');
    try {
      writeFileSync(join(tmp.dir, 'q.json'), JSON.stringify(query));
      writeFileSync(join(tmp.dir, 'a.csv'), 'ward,cost\noncology,1.00\n');
      const server = startCli(['aggregate', 'serve', '--listen', '127.0.0.1:0', '--providers', '2'], { watchdogMs: 120_000 });
      const url = await server.listening();
      const [p1, p2, analyst] = await Promise.all([
        runCli(['aggregate', 'provide', '--connect', url, '--input', join(tmp.dir, 'a.csv'), '--max-epsilon', '1'], { watchdogMs: 120_000 }),
        runCli(['aggregate', 'provide', '--connect', url, '--input', join(tmp.dir, 'a.csv')], { watchdogMs: 120_000 }),
        runCli(['aggregate', 'analyst', '--connect', url, '--query', join(tmp.dir, 'q.json'), '--output', join(tmp.dir, 'r.json')], { watchdogMs: 120_000 }),
      ]);
      await server.done;
      expect(p1.code).toBe(1);
      expectOneLineError(p1.stderr, /refused by local policy/);
      expect(p2.code).toBe(1);
      expect(analyst.code).toBe(1);
      expectOneLineError(analyst.stderr, /query was refused/);
    } finally {
      tmp.cleanup();
    }
  }, 180_000);

  it('signed queries: providers pinning the analyst contribute; one pinning another key refuses', async () => {
    assertBuilt();
    const tmp = tempDir('dp-agg-');
    try {
      writeFileSync(join(tmp.dir, 'q.json'), JSON.stringify({ ...query, minCohort: 0 }));
      writeFileSync(join(tmp.dir, 'a.csv'), 'ward,cost\noncology,1.00\n');
      for (const who of ['analyst', 'stranger']) expect((await runCli(['keygen', '--out', join(tmp.dir, who)])).code).toBe(0);
      const run = async (pin: string) => {
        const server = startCli(['aggregate', 'serve', '--listen', '127.0.0.1:0', '--providers', '2'], { watchdogMs: 120_000 });
        const url = await server.listening();
        const res = await Promise.all([
          runCli(['aggregate', 'provide', '--connect', url, '--input', join(tmp.dir, 'a.csv'), '--analyst-key', join(tmp.dir, 'analyst', 'identity.pub')], { watchdogMs: 120_000 }),
          runCli(['aggregate', 'provide', '--connect', url, '--input', join(tmp.dir, 'a.csv'), '--analyst-key', join(tmp.dir, pin, 'identity.pub')], { watchdogMs: 120_000 }),
          runCli(['aggregate', 'analyst', '--connect', url, '--query', join(tmp.dir, 'q.json'), '--output', join(tmp.dir, 'r.json'), '--identity', join(tmp.dir, 'analyst')], { watchdogMs: 120_000 }),
        ]);
        await server.done;
        return res;
      };
      const [p1, p2, analyst] = await run('analyst');
      for (const r of [p1, p2, analyst]) expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(readFileSync(join(tmp.dir, 'r.json'), 'utf8')).groups[0].statistics[1]).toEqual({ type: 'sum', column: 'cost', value: '2.00' });
      const [, q2, a2] = await run('stranger');
      expect(q2.code).toBe(1);
      expectOneLineError(q2.stderr, /verification failed/);
      expect(a2.code).toBe(1);
      expectOneLineError(a2.stderr, /query was refused/);
    } finally {
      tmp.cleanup();
    }
  }, 240_000);

  it('refuses a bad query file before connecting', async () => {
    assertBuilt();
    const tmp = tempDir('dp-agg-');
    try {
      writeFileSync(join(tmp.dir, 'q.json'), JSON.stringify({ ...query, providers: 1 }));
      const r = await runCli(['aggregate', 'analyst', '--connect', 'ws://127.0.0.1:9', '--query', join(tmp.dir, 'q.json'), '--output', join(tmp.dir, 'r.json')]);
      expect(r.code).toBe(1);
      expectOneLineError(r.stderr, /q\.json: invalid aggregation query: providers must be an integer/);
    } finally {
      tmp.cleanup();
    }
  });
});
