// `dataport aggregate serve|analyst|provide` as separate processes over real sockets: every link
// authenticated, co-signed receipts in each party's --ledger, TLS, refusals, budgets.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readLedgerSnapshot } from '../src/ledger/file-ledger.js';
import { readBudgetReservations, RESERVATIONS_FILE } from '../src/ledger/reservations.js';
import { decodeReceipt, verifyReceipt } from '../src/ledger/receipt.js';
import { parsePublicKeyFile } from '../src/session/identity.js';
import type { UsageReceipt } from '../src/ledger/receipt-types.js';
import { assertBuilt, expectOneLineError, killAll, runCli, startCli, tempDir, type CliProcess, type CliResult } from './cli-helpers.js';

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

const W = { watchdogMs: 120_000 };
const tmp = tempDir('dp-agg-');
const p = (...names: string[]) => join(tmp.dir, ...names);

beforeAll(async () => {
  assertBuilt();
  for (const who of ['operator', 'analyst', 'h1', 'h2', 'h3', 'stranger']) expect((await runCli(['keygen', '--out', p(who)])).code).toBe(0);
  mkdirSync(p('providers'));
  for (const h of ['h1', 'h2']) copyFileSync(p(h, 'identity.pub'), p('providers', `${h}.pub`));
  mkdirSync(p('providers3'));
  for (const h of ['h1', 'h2', 'h3']) copyFileSync(p(h, 'identity.pub'), p('providers3', `${h}.pub`));
  writeFileSync(p('q.json'), JSON.stringify(query));
  writeFileSync(p('a.csv'), '\uFEFFward,cost,extra\noncology,10.25,x\n"surgery",-5.00,y\noncology,99999.99,z\n');
  writeFileSync(p('b.csv'), 'cost,ward\r\n0.01,oncology\r\n');
  writeFileSync(p('budget-10.json'), JSON.stringify({ period: 'month', maxQueries: 10 }));
  writeFileSync(p('prices.json'), JSON.stringify({ id: 'port-agg-2026', currency: 'CNY', protocols: { aggregate: { perRun: 500 } } }));
});
afterAll(() => tmp.cleanup());

const serveArgs = (extra: string[] = []) => [
  'aggregate', 'serve', '--listen', '127.0.0.1:0', '--providers', '2', '--identity', p('operator'),
  '--analyst-key', p('analyst', 'identity.pub'), '--provider-keys', p('providers'), ...extra,
];
const provideArgs = (url: string, who: string, input: string, extra: string[] = []) => [
  'aggregate', 'provide', '--connect', url, '--input', p(input), '--identity', p(who), '--peer-key', p('operator', 'identity.pub'), ...extra,
];
const analystArgs = (url: string, extra: string[] = [], who = 'analyst') => [
  'aggregate', 'analyst', '--connect', url, '--query', p('q.json'), '--output', p('r.json'), '--force', '--identity', p(who),
  '--peer-key', p('operator', 'identity.pub'), ...extra,
];

/** One round: the server, then two providers and the analyst concurrently. */
async function round(opts: { serve?: string[]; p1?: string[]; p2?: string[]; analyst?: string[]; p1Who?: string; analystWho?: string; b?: string } = {}) {
  const server = startCli(serveArgs(opts.serve), W);
  const url = await server.listening();
  const [p1, p2, analyst] = await Promise.all([
    runCli(provideArgs(url, opts.p1Who ?? 'h1', 'a.csv', opts.p1), W),
    runCli(provideArgs(url, 'h2', opts.b ?? 'b.csv', opts.p2), W),
    runCli(analystArgs(url, opts.analyst, opts.analystWho), W),
  ]);
  return { url, server, p1, p2, analyst };
}

/** Resolves once the process has written a line matching `pattern` to stderr (rejects if it exits first). */
function stderrLine(proc: CliProcess, pattern: RegExp): Promise<void> {
  return new Promise((resolveLine, rejectLine) => {
    const check = () => {
      if (!pattern.test(proc.stderr())) return;
      proc.child.stderr!.off('data', check);
      resolveLine();
    };
    proc.child.stderr!.on('data', check);
    check();
    void proc.done.then((r) => rejectLine(new Error(`exited (${r.code}) before writing ${pattern}\nstderr: ${r.stderr}`)));
  });
}

const lastJson = (r: CliResult) => JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>;

async function ledgerReceipts(dir: string, owner: string): Promise<UsageReceipt[]> {
  const snapshot = await readLedgerSnapshot(dir, { publicKey: parsePublicKeyFile(readFileSync(p(owner, 'identity.pub'), 'utf8')) });
  return snapshot.entries.map((e) => decodeReceipt(e));
}

describe('dataport aggregate (separate processes, real sockets)', () => {
  it('authenticated round with --ledger on all three roles: exact totals, co-signed receipts, ledgers verify', async () => {
    const { server, p1, p2, analyst } = await round({
      serve: ['--ledger', p('L-op'), '--price-schedule', p('prices.json'), '--purpose', 'ward study', '--json'],
      p1: ['--ledger', p('L-h1'), '--purpose', 'ward study', '--json'],
      p2: ['--ledger', p('L-h2'), '--purpose', 'ward study', '--analyst-key', p('analyst', 'identity.pub')],
      analyst: ['--ledger', p('L-an'), '--purpose', 'ward study', '--json'],
    });
    const s = await server.done;
    for (const r of [p1, p2, analyst, s]) expect(r.code, r.stderr).toBe(0);
    expect(lastJson(s)).toMatchObject({ ok: true, status: 'completed', contributors: 2, receipts: 3, linksWithoutReceipt: 0 });
    // --workers auto (the default): a one-ciphertext contribution is encrypted on the main thread.
    expect(lastJson(p1)).toMatchObject({ ok: true, rows: 3, contributors: 2, encryptedOn: 'main thread' });
    const result = JSON.parse(readFileSync(p('r.json'), 'utf8'));
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
    // Each ledger verifies; the operator holds one entry per link, each participant one (the
    // analyst also the release of its result file).
    for (const [dir, owner, entries] of [
      ['L-op', 'operator', 3],
      ['L-h1', 'h1', 1],
      ['L-h2', 'h2', 1],
      ['L-an', 'analyst', 2],
    ] as const) {
      const v = await runCli(['ledger', 'verify', '--ledger', p(dir), '--public-key', p(owner, 'identity.pub'), '--json']);
      expect(v.code, v.stderr).toBe(0);
      expect(lastJson(v)).toMatchObject({ ok: true, size: entries });
    }
    const op = await ledgerReceipts(p('L-op'), 'operator');
    expect(op.map((r) => [r.body.options.role, r.body.outcome])).toEqual(
      expect.arrayContaining([
        ['analyst', 'withheld'],
        ['provider', 'completed'],
        ['provider', 'completed'],
      ]),
    );
    for (const r of op) {
      verifyReceipt(r);
      // Billed with the operator's schedule, inside the co-signed body.
      expect(r.body.billing).toMatchObject({ currency: 'CNY', amountMinor: 500 });
      expect(r.body.protocol).toBe('aggregate');
      expect(r.body.purpose).toBe('ward study');
    }
    const [h1] = await ledgerReceipts(p('L-h1'), 'h1');
    expect(h1!.body.inputSizes).toEqual({ requester: 3, responder: 0 });
    expect(h1!.body.billing).toMatchObject({ amountMinor: 500 });
    expect(op.some((r) => Buffer.from(r.body.sessionId).equals(Buffer.from(h1!.body.sessionId)))).toBe(true);
    const [an] = await ledgerReceipts(p('L-an'), 'analyst');
    expect(an!.body.guardrails).toEqual([{ rule: 'min-cohort', outcome: 'withheld', detail: 'k=2' }]);
    // The released cells (oncology's count, sum and mean) are in the analyst's receipt on both sides.
    expect(an!.body.outputSizes).toEqual({ requester: 3, responder: 0 });
    const opAnalyst = op.find((r) => r.body.options.role === 'analyst')!;
    expect(opAnalyst.body.outputSizes).toEqual({ requester: 3, responder: 0 });
    expect(Buffer.from(opAnalyst.body.sessionId).equals(Buffer.from(an!.body.sessionId))).toBe(true);

    // The analyst's result file was recorded as a release (recipient: the analyst, linked to the run),
    // and 'dataport trace' matches a re-laid-out copy of it, but not another result.
    const [, rel] = await ledgerReceipts(p('L-an'), 'analyst');
    expect(rel!.body.protocol).toBe('release');
    expect(rel!.body.options).toMatchObject({
      recipient: Buffer.from(parsePublicKeyFile(readFileSync(p('analyst', 'identity.pub'), 'utf8'))).toString('hex'),
      columns: 'value',
      'source-protocol': 'aggregate',
      rows: '3',
      'session-id': Buffer.from(an!.body.sessionId).toString('hex'),
    });
    expect(rel!.body.purpose).toBe('ward study');
    expect(JSON.stringify(rel!.body)).not.toMatch(/100010|33336/);
    writeFileSync(p('leaked-result.txt'), 'oncology: mean 33,336.75 over 3 patients, total 100,010.250\n');
    writeFileSync(p('other-result.txt'), 'oncology: mean 33,336.80 over 3 patients, total 100,010.40\n');
    const hit = await runCli(['trace', '--ledger', p('L-an'), '--identity', p('analyst'), '--file', p('leaked-result.txt'), '--json']);
    expect(hit.code, hit.stderr).toBe(0);
    expect(lastJson(hit)['matches']).toMatchObject([{ releaseId: rel!.body.options['release-id'], kind: 'result' }]);
    const miss = await runCli(['trace', '--ledger', p('L-an'), '--identity', p('analyst'), '--file', p('other-result.txt'), '--json']);
    expect(miss.code, miss.stderr).toBe(0);
    expect(lastJson(miss)['matches']).toEqual([]);
  }, 240_000);

  it('runs over TLS (wss://) with --tls-cert/--tls-key and --ca; without --ca the certificate is refused', async () => {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
      '-keyout', p('tls.key'), '-out', p('tls.crt'), '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
    ], { stdio: 'ignore' });
    const ca = ['--ca', p('tls.crt')];
    const { url, server, p1, p2, analyst } = await round({
      serve: ['--tls-cert', p('tls.crt'), '--tls-key', p('tls.key')],
      p1: [...ca, '--workers', '0', '--json'],
      p2: [...ca, '--workers', '1', '--json'],
      analyst: [...ca, '--json'],
    });
    expect(url).toMatch(/^wss:\/\//);
    const s = await server.done;
    for (const r of [p1, p2, analyst, s]) expect(r.code, r.stderr).toBe(0);
    // An explicit --workers N >= 1 forces the worker pool; 0 never uses it.
    expect(lastJson(p1)).toMatchObject({ ok: true, encryptedOn: 'main thread' });
    expect(lastJson(p2)).toMatchObject({ ok: true, encryptedOn: 'worker pool' });
    expect(lastJson(analyst)).toMatchObject({ ok: true, contributors: 2 });

    const server2 = startCli(serveArgs(['--tls-cert', p('tls.crt'), '--tls-key', p('tls.key'), '--timeout', '60']), W);
    const url2 = await server2.listening();
    const untrusted = await runCli(provideArgs(url2, 'h1', 'a.csv'), W);
    expect(untrusted.code).toBe(1);
    expectOneLineError(untrusted.stderr, /could not connect.*certificate/i);
    server2.child.kill('SIGTERM');
    await server2.done;
  }, 240_000);

  it('an unknown provider key and an analyst key not allowed are refused; a provider pinning another operator refuses it', async () => {
    const server = startCli(serveArgs(['--timeout', '60', '--ledger', p('L-op-refuse')]), W);
    const url = await server.listening();
    // Not among --provider-keys: the handshake fails (no receipt, no slot taken).
    const stranger = await runCli(provideArgs(url, 'stranger', 'a.csv'), W);
    expect(stranger.code).toBe(1);
    expectOneLineError(stranger.stderr, /peer authentication failed/);
    // A provider's key is known to the operator, but not as the analyst: refused, with a receipt.
    const wrongRole = await runCli(analystArgs(url, ['--ledger', p('L-h1-refuse')], 'h1'), W);
    expect(wrongRole.code).toBe(1);
    expectOneLineError(wrongRole.stderr, /terms refused: this key is not allowed as analyst/);
    // Pinning a key that is not the operator's.
    const mispinned = await runCli(['aggregate', 'provide', '--connect', url, '--input', p('a.csv'), '--identity', p('h1'), '--peer-key', p('stranger', 'identity.pub')], W);
    expect(mispinned.code).toBe(1);
    expectOneLineError(mispinned.stderr, /peer authentication failed/);
    server.child.kill('SIGINT');
    const s = await server.done;
    expect(s.code).not.toBe(0);
    const refused = await ledgerReceipts(p('L-op-refuse'), 'operator');
    expect(refused.map((r) => r.body.outcome)).toEqual(['refused']);
    expect((await ledgerReceipts(p('L-h1-refuse'), 'h1')).map((r) => r.body.outcome)).toEqual(['refused']);
  }, 240_000);

  it('a provider with a bad value: one line, the round ends for everyone, and every link records a failed receipt', async () => {
    writeFileSync(p('bad.csv'), 'ward,cost\noncology,10.255\n');
    // With --budget everywhere: each link's reservation must be given back once the round failed.
    const budget = ['--budget', p('budget-10.json')];
    const { server, p1, p2, analyst } = await round({
      serve: ['--ledger', p('L-op-fail'), ...budget],
      p1: ['--ledger', p('L-h1-fail'), ...budget],
      b: 'bad.csv',
      p2: ['--ledger', p('L-h2-fail'), ...budget],
      analyst: ['--ledger', p('L-an-fail'), ...budget],
    });
    const s = await server.done;
    expect(p2.code).toBe(1);
    expectOneLineError(p2.stderr, /bad\.csv: line 2: column cost is not a number with at most 2 decimal places/);
    expect(p2.stderr).not.toContain('10.255');
    expect(analyst.code).toBe(1);
    expectOneLineError(analyst.stderr, /could not use its input/);
    expect(p1.code).toBe(1);
    expect(s.code).toBe(1);
    expect((await ledgerReceipts(p('L-op-fail'), 'operator')).map((r) => r.body.outcome)).toEqual(['failed', 'failed', 'failed']);
    for (const [dir, who] of [
      ['L-h1-fail', 'h1'],
      ['L-h2-fail', 'h2'],
      ['L-an-fail', 'analyst'],
    ] as const) {
      expect((await ledgerReceipts(p(dir), who)).map((r) => r.body.outcome)).toEqual(['failed']);
    }
    // Every role released its reservations (three on the operator's ledger, one on each other).
    // (The file exists: reservations were taken, then given back.)
    for (const dir of ['L-op-fail', 'L-h1-fail', 'L-h2-fail', 'L-an-fail']) {
      expect(existsSync(p(dir, RESERVATIONS_FILE))).toBe(true);
      expect(await readBudgetReservations(p(dir))).toEqual([]);
    }
  }, 240_000);

  it('a provider killed (SIGKILL) after joining: no quorum, the others fail with one line and the operator records failed receipts', async () => {
    const server = startCli(serveArgs(['--ledger', p('L-op-drop'), '--json']), W);
    const url = await server.listening();
    const victim = startCli(provideArgs(url, 'h1', 'a.csv', ['--ledger', p('L-h1-drop')]), W);
    const p2 = startCli(provideArgs(url, 'h2', 'b.csv', ['--ledger', p('L-h2-drop')]), W);
    // Both hold their place in the round; then h1's process dies without a word.
    await Promise.all([stderrLine(victim, /joined the round/), stderrLine(p2, /joined the round/)]);
    victim.child.kill('SIGKILL');
    expect((await victim.done).signal).toBe('SIGKILL');
    const analyst = await runCli(analystArgs(url, ['--ledger', p('L-an-drop')]), W);
    const [s, r2] = await Promise.all([server.done, p2.done]);
    expect(s.code).toBe(1);
    expect(lastJson(s)).toMatchObject({ ok: false, status: 'aborted', reason: 'provider lost', receipts: 2, linksWithoutReceipt: 1 });
    expect(analyst.code).toBe(1);
    expectOneLineError(analyst.stderr, /provider left/);
    expect(r2.code).toBe(1);
    expectOneLineError(r2.stderr, /provider left/);
    // The operator co-signed a failed receipt with each remaining party (none with the dead one).
    const op = await ledgerReceipts(p('L-op-drop'), 'operator');
    expect(op.map((r) => [r.body.options.role, r.body.outcome])).toEqual([
      ['analyst', 'failed'],
      ['provider', 'failed'],
    ]);
    const h2 = parsePublicKeyFile(readFileSync(p('h2', 'identity.pub'), 'utf8'));
    expect(Buffer.from(op[1]!.body.parties[0]!.publicKey).equals(Buffer.from(h2))).toBe(true);
    expect((await ledgerReceipts(p('L-h2-drop'), 'h2')).map((r) => r.body.outcome)).toEqual(['failed']);
    expect((await ledgerReceipts(p('L-an-drop'), 'analyst')).map((r) => r.body.outcome)).toEqual(['failed']);
  }, 240_000);

  it('a provider killed (SIGKILL) after joining, with a quorum of 2 of 3: the round completes without it', async () => {
    writeFileSync(p('q3.json'), JSON.stringify({ ...query, id: 'wards-quorum', providers: 3, quorum: 2 }));
    const server = startCli(
      ['aggregate', 'serve', '--listen', '127.0.0.1:0', '--providers', '3', '--identity', p('operator'), '--analyst-key', p('analyst', 'identity.pub'),
        '--provider-keys', p('providers3'), '--ledger', p('L-op-quorum'), '--json'],
      W,
    );
    const url = await server.listening();
    const victim = startCli(provideArgs(url, 'h1', 'a.csv'), W);
    const others = [startCli(provideArgs(url, 'h2', 'b.csv', ['--json']), W), startCli(provideArgs(url, 'h3', 'b.csv', ['--json']), W)];
    await Promise.all([victim, ...others].map((c) => stderrLine(c, /joined the round/)));
    victim.child.kill('SIGKILL');
    await victim.done;
    const analyst = await runCli(
      ['aggregate', 'analyst', '--connect', url, '--query', p('q3.json'), '--output', p('r3.json'), '--identity', p('analyst'),
        '--peer-key', p('operator', 'identity.pub'), '--json'],
      W,
    );
    const [s, r2, r3] = await Promise.all([server.done, others[0]!.done, others[1]!.done]);
    for (const r of [s, r2, r3, analyst]) expect(r.code, r.stderr).toBe(0);
    expect(lastJson(s)).toMatchObject({ ok: true, status: 'completed', contributors: 2, expected: 3, receipts: 3, linksWithoutReceipt: 1 });
    for (const r of [r2, r3]) expect(lastJson(r)).toMatchObject({ ok: true, contributors: 2 });
    expect(lastJson(analyst)).toMatchObject({ ok: true, contributors: 2 });
    // b.csv from h2 and h3: one oncology row each, so 2 rows (the minimum cohort) and a sum of 0.02.
    const result = JSON.parse(readFileSync(p('r3.json'), 'utf8'));
    expect(result.groups[0]).toMatchObject({ group: 'oncology', withheld: false, statistics: [{ type: 'count', value: '2' }, { type: 'sum', value: '0.02' }, { type: 'mean' }] });
    const op = await ledgerReceipts(p('L-op-quorum'), 'operator');
    expect(op.map((r) => [r.body.options.role, r.body.outcome])).toEqual([
      ['analyst', 'withheld'],
      ['provider', 'completed'],
      ['provider', 'completed'],
    ]);
  }, 240_000);
  it('--budget: a provider over its budget is refused on both sides and the refusal is recorded', async () => {
    writeFileSync(p('budget-1.json'), JSON.stringify({ period: 'month', maxQueries: 1 }));
    const budget = ['--ledger', p('L-op-budget'), '--budget', p('budget-1.json')];
    const first = await round({ serve: budget });
    expect((await first.server.done).code).toBe(0);
    // Second round: h1 has used its one query this month; the operator refuses it.
    const server = startCli(serveArgs([...budget, '--timeout', '60']), W);
    const url = await server.listening();
    const refused = await runCli(provideArgs(url, 'h1', 'a.csv', ['--ledger', p('L-h1-budget')]), W);
    expect(refused.code).toBe(1);
    expectOneLineError(refused.stderr, /terms refused: query budget for counterparty .* is spent/);
    server.child.kill('SIGINT');
    await server.done;
    expect((await ledgerReceipts(p('L-h1-budget'), 'h1')).map((r) => r.body.outcome)).toEqual(['refused']);
    const op = await ledgerReceipts(p('L-op-budget'), 'operator');
    expect(op.map((r) => r.body.outcome)).toEqual(expect.arrayContaining(['completed', 'completed', 'withheld', 'refused']));
    expect(op).toHaveLength(4);
  }, 240_000);

  it('serve gives up when not everyone joins in time; the waiting party gets a clear error', async () => {
    const server = startCli(serveArgs(['--timeout', '3']), W);
    const url = await server.listening();
    const analyst = await runCli(analystArgs(url), W);
    const s = await server.done;
    expect(s.code).toBe(1);
    expectOneLineError(s.stderr, /did not all join in time/);
    expect(analyst.code).toBe(1);
    expectOneLineError(analyst.stderr, /timed out|did not all join|closed|connection/i);
  }, 180_000);

  it('a provider whose file lacks a query column: it and serve name both column lists', async () => {
    writeFileSync(p('b-yuan.csv'), 'cost_yuan,ward\n0.01,oncology\n');
    const { server, p1, p2, analyst } = await round({ b: 'b-yuan.csv' });
    const s = await server.done;
    const reason = 'column schemas differ: the query needs ward (group-by), cost (decimal, 2 places); the provider offers cost_yuan, ward (missing: cost)';
    expect(p2.code).toBe(1);
    expect(expectOneLineError(p2.stderr, /terms refused: column schemas differ/)).toBe(`dataport: terms refused: ${reason}`);
    expect(s.stderr).toContain(`refused: ${reason}`);
    // Two providers and a quorum of two: the round cannot go on without it.
    expect(s.code).toBe(1);
    expect(p1.code).toBe(1);
    expect(analyst.code).toBe(1);
  }, 180_000);

  it("a provider's own guardrails refuse a query (no DP) and the round ends as refused", async () => {
    const { server, p1, p2, analyst } = await round({ p1: ['--max-epsilon', '1'] });
    await server.done;
    expect(p1.code).toBe(1);
    expectOneLineError(p1.stderr, /refused by local policy/);
    expect(p2.code).toBe(1);
    expect(analyst.code).toBe(1);
    expectOneLineError(analyst.stderr, /query was refused/);
  }, 180_000);

  it('signed queries: a provider pinning another analyst key refuses the query', async () => {
    const { server, p1, p2, analyst } = await round({ p1: ['--analyst-key', p('analyst', 'identity.pub')], p2: ['--analyst-key', p('stranger', 'identity.pub')] });
    await server.done;
    expect(p2.code).toBe(1);
    expectOneLineError(p2.stderr, /verification failed/);
    expect(p1.code).toBe(1);
    expect(analyst.code).toBe(1);
    expectOneLineError(analyst.stderr, /query was refused/);
  }, 180_000);

  it('refuses a bad query file and missing identities before connecting', async () => {
    writeFileSync(p('q1.json'), JSON.stringify({ ...query, providers: 1 }));
    const r = await runCli(['aggregate', 'analyst', '--connect', 'ws://127.0.0.1:9', '--query', p('q1.json'), '--output', p('r1.json'), '--identity', p('analyst'), '--peer-key', p('operator', 'identity.pub')]);
    expect(r.code).toBe(1);
    expectOneLineError(r.stderr, /q1\.json: invalid aggregation query: providers must be an integer/);
    const noId = await runCli(['aggregate', 'provide', '--connect', 'ws://127.0.0.1:9', '--input', p('a.csv'), '--peer-key', p('operator', 'identity.pub')]);
    expectOneLineError(noId.stderr, /missing required option --identity/);
    const noPin = await runCli(['aggregate', 'serve', '--listen', '127.0.0.1:0', '--providers', '2', '--identity', p('operator')]);
    expectOneLineError(noPin.stderr, /--analyst-key FILE and --provider-keys DIR .* or --allow-any-peer/);
    const badWorkers = await runCli(['aggregate', 'provide', '--connect', 'ws://127.0.0.1:9', '--input', p('a.csv'), '--identity', p('h1'), '--peer-key', p('operator', 'identity.pub'), '--workers', 'many']);
    expect(badWorkers.code).toBe(1);
    expectOneLineError(badWorkers.stderr, /option --workers must be auto or an integer from 0 to \d+, got 'many'/);
    const noPeer = await runCli(['aggregate', 'provide', '--connect', 'ws://127.0.0.1:9', '--input', p('a.csv'), '--identity', p('h1')]);
    expectOneLineError(noPeer.stderr, /missing required option --peer-key/);
  });
});
