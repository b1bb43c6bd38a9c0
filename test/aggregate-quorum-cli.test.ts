// `dataport aggregate provide --min-quorum N` as separate processes over real sockets: a provider
// refuses a query whose quorum is below N, with one line on its side, the operator's and the
// analyst's; a query at N runs, and every --json summary names the security model.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertBuilt, expectOneLineError, killAll, runCli, startCli, tempDir, type CliResult } from './cli-helpers.js';

afterEach(() => killAll());

const query = {
  version: 1,
  id: 'quorum-e2e',
  columns: [{ name: 'cost', type: 'decimal', decimals: 2, min: '0.00', max: '1000.00' }],
  statistics: [{ type: 'count' }, { type: 'sum', column: 'cost' }],
  maxRowsPerProvider: 100,
  providers: 2,
  quorum: 2,
};

const W = { watchdogMs: 120_000 };
const tmp = tempDir('dp-quorum-');
const p = (...names: string[]) => join(tmp.dir, ...names);
const lastJson = (r: CliResult) => JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>;

beforeAll(async () => {
  assertBuilt();
  for (const who of ['operator', 'analyst', 'h1', 'h2']) expect((await runCli(['keygen', '--out', p(who)])).code).toBe(0);
  mkdirSync(p('providers'));
  for (const h of ['h1', 'h2']) copyFileSync(p(h, 'identity.pub'), p('providers', `${h}.pub`));
  writeFileSync(p('q.json'), JSON.stringify(query));
  writeFileSync(p('a.csv'), 'cost\n10.00\n');
  writeFileSync(p('b.csv'), 'cost\n2.50\n');
});
afterAll(() => tmp.cleanup());

async function round(minQuorum: string) {
  const server = startCli(
    ['aggregate', 'serve', '--listen', '127.0.0.1:0', '--providers', '2', '--identity', p('operator'), '--analyst-key', p('analyst', 'identity.pub'), '--provider-keys', p('providers'), '--json'],
    W,
  );
  const url = await server.listening();
  const provide = (who: string, input: string, extra: string[]) =>
    runCli(['aggregate', 'provide', '--connect', url, '--input', p(input), '--identity', p(who), '--peer-key', p('operator', 'identity.pub'), '--json', ...extra], W);
  const [p1, p2, analyst] = await Promise.all([
    provide('h1', 'a.csv', ['--min-quorum', minQuorum]),
    provide('h2', 'b.csv', []),
    runCli(['aggregate', 'analyst', '--connect', url, '--query', p('q.json'), '--output', p('r.json'), '--force', '--identity', p('analyst'), '--peer-key', p('operator', 'identity.pub'), '--json'], W),
  ]);
  return { p1, p2, analyst, server: await server.done };
}

describe('dataport aggregate provide --min-quorum', () => {
  it('refuses a query whose quorum is below N: one line for the provider, the operator and the analyst', async () => {
    const r = await round('3');
    expect(r.p1.code).toBe(1);
    expectOneLineError(r.p1.stderr, /quorum 2 is below this provider's minimum of 3/);
    expect(r.analyst.code).toBe(1);
    expectOneLineError(r.analyst.stderr, /a provider refused the query: its quorum is below that provider's minimum/);
    expect(r.server.code).toBe(1);
    expect(r.server.stderr).toMatch(/refused: the query's quorum is below its minimum \(--min-quorum\)/);
    expect(lastJson(r.server)).toMatchObject({ ok: false, status: 'aborted', reason: 'quorum refused' });
  }, 180_000);

  it('accepts a query whose quorum equals N; the summaries name the security model', async () => {
    const r = await round('2');
    for (const x of [r.p1, r.p2, r.analyst, r.server]) expect(x.code, x.stderr).toBe(0);
    const security = { model: 'aggregator-semi-honest', anchor: 'SECURITY.md#model-aggregator-semi-honest' };
    for (const x of [r.p1, r.p2, r.analyst, r.server]) expect(lastJson(x).security).toEqual(security);
    expect(lastJson(r.p1)).toMatchObject({ contributors: 2 });
  }, 180_000);

  it('--min-quorum below the floor is a usage error', async () => {
    const r = await runCli(['aggregate', 'provide', '--connect', 'ws://127.0.0.1:1', '--input', p('a.csv'), '--identity', p('h1'), '--peer-key', p('operator', 'identity.pub'), '--min-quorum', '1']);
    expect(r.code).toBe(1);
    expectOneLineError(r.stderr, /--min-quorum must be between 2 and/);
  });
});
