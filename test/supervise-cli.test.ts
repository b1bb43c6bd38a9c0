/**
 * `dataport supervise` as a separate process: the --json lines in the fixed format (issue 17),
 * exit codes, the human table, --sharing-records, and --watch printing a new alert when an entry
 * is appended (output is polled; no sleeps), stopping cleanly on SIGINT.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import WebSocket from 'ws';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { generateIdentity } from '../src/session/identity.js';
import { openLedger } from '../src/ledger/node.js';
import { verifyInclusionProof } from '../src/ledger/merkle.js';
import { fromHex, toHex } from '../src/utils/bytes.js';
import { assertBuilt, killAll, runCli, startCli, writeIdentityDir } from './cli-helpers.js';
import { fixtureLedger, MONDAY_10H } from './supervise-fixtures.js';

beforeAll(() => assertBuilt());
const cleanups: (() => void)[] = [];
afterEach(() => {
  killAll();
  for (const c of cleanups.splice(0)) c();
});

async function ledger(build: (f: Awaited<ReturnType<typeof fixtureLedger>>) => Promise<void>) {
  const f = await fixtureLedger('dp-sup-cli-');
  cleanups.push(() => f.cleanup());
  await build(f);
  await f.close();
  return f;
}

/** Resolves once `read()` satisfies `test` (checked on every output event, bounded by the watchdog). */
function waitFor(child: NodeJS.EventEmitter & { stdout: NodeJS.ReadableStream | null }, read: () => string, test: (s: string) => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const check = (): void => {
      if (test(read())) {
        child.stdout!.off('data', check);
        resolve(read());
      }
    };
    child.stdout!.on('data', check);
    child.once('close', () => (test(read()) ? resolve(read()) : reject(new Error(`exited before the expected output:\n${read()}`))));
    check();
  });
}

describe('dataport supervise', () => {
  it('--json: one line per alert with exactly the fixed fields, proofs that verify, then a summary; exit 0 without an error alert', async () => {
    const peer = generateIdentity();
    const f = await ledger(async (f) => {
      await f.run({ peer });
      await f.run({ peer, at: MONDAY_10H - 7 * 3_600_000 });
    });
    const r = await runCli(['supervise', '--ledger', f.dir, '--json']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const summary = lines.pop()!;
    expect(lines.map((l) => l['rule'])).toEqual(['off-hours', 'first-contact']);
    for (const l of lines) {
      expect(Object.keys(l)).toEqual(['level', 'rule', 'message', 'messageKey', 'counterparty', 'entries', 'at', 'details']);
      expect(l['counterparty']).toBe(toHex(peer.publicKey));
      expect(l['messageKey']).toBe(`supervise.${l['rule'] as string}`);
      expect(typeof l['message']).toBe('string');
      expect(Number.isSafeInteger(l['at'])).toBe(true);
      const head = summary['head'] as { size: number; root: string };
      for (const e of l['entries'] as { index: number; leafHash: string; proof: string[] }[]) {
        expect(Object.keys(e)).toEqual(['index', 'leafHash', 'proof']);
        verifyInclusionProof(fromHex(e.leafHash), e.index, head.size, e.proof.map(fromHex), fromHex(head.root));
      }
    }
    expect(summary).toMatchObject({ ok: true, alerts: 2, errors: 0, warnings: 0, head: { size: 2, verified: true } });
    expect(r.stderr).toMatch(/2 entries, root [0-9a-f]{64}/);
  });

  it('exits 2 when an alert is at error level (a spent budget); the table names it', async () => {
    const peer = generateIdentity();
    const f = await ledger(async (f) => {
      for (let i = 0; i < 2; i++) await f.run({ peer });
    });
    const rules = join(f.dir, '..', 'rules.json');
    writeFileSync(rules, JSON.stringify({ budget: { policy: { period: 'month', maxQueries: 2 } }, firstContact: { enabled: false } }));
    const r = await runCli(['supervise', '--ledger', f.dir, '--rules', rules]);
    expect(r.code).toBe(2);
    expect(r.stdout).toMatch(/error\s+budget-100\s+\S+\s+1\s+.*has spent its queries budget this month \(2 of 2\)/);
    expect(r.stdout).toContain('1 error, 0 warning and 0 info alerts');
  });

  it('exits 1 with one line on a missing ledger or a bad rules file', async () => {
    const f = await ledger(async () => {});
    const none = await runCli(['supervise', '--ledger', join(f.dir, 'nope')]);
    expect(none.code).toBe(1);
    expect(none.stderr.trim().split('\n')).toHaveLength(1);
    expect(none.stderr).toMatch(/^dataport: no ledger in .*nope/);
    const rules = join(f.dir, '..', 'bad.json');
    writeFileSync(rules, '{"rate":{"maxRunsPerHr":3}}');
    const bad = await runCli(['supervise', '--ledger', f.dir, '--rules', rules]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(`--rules ${rules}: unknown field rate.maxRunsPerHr`);
  });

  it('--sharing-records prints date, scale, purpose and recipients of each run', async () => {
    const peer = generateIdentity();
    const f = await ledger(async (f) => void (await f.run({ peer, ownSize: 200, peerSize: 5000, purpose: 'drug programme 2026' })));
    const r = await runCli(['supervise', '--ledger', f.dir, '--sharing-records', '--json']);
    expect(r.code).toBe(0);
    const rec = JSON.parse(r.stdout.trim()) as Record<string, unknown>;
    expect(rec).toMatchObject({ index: 0, purpose: 'drug programme 2026', scale: { input: { requester: 200, responder: 5000 } }, missing: [] });
    const t = await runCli(['supervise', '--ledger', f.dir, '--sharing-records']);
    expect(t.stdout).toMatch(/^0\s+2026-03-02T02:0\d:00Z\s+ecdh-psi\s+requester=200 responder=5000 \/ requester=10\s+requester:\S+\s+drug programme 2026$/m);
  });

  it('--watch prints only new alerts as entries are appended, and stops on SIGINT', async () => {
    const peer = generateIdentity();
    const other = generateIdentity();
    const f = await ledger(async (f) => void (await f.run({ peer })));
    const p = startCli(['supervise', '--ledger', f.dir, '--json', '--watch', '--interval', '1'], { watchdogMs: 60_000 });
    const countRule = (s: string, rule: string) => s.split('\n').filter((l) => l.includes(`"rule":"${rule}"`)).length;
    await waitFor(p.child, p.stdout, (s) => countRule(s, 'first-contact') === 1);
    // A run with a new counterparty: one new first-contact line, the old one not repeated.
    await fixtureLedgerAppend(f, other);
    const out = await waitFor(p.child, p.stdout, (s) => countRule(s, 'first-contact') === 2);
    expect(out).toContain(toHex(other.publicKey));
    p.child.kill('SIGINT');
    const done = await p.done;
    expect(done.code).toBe(0);
    const last = JSON.parse(done.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
    expect(last).toMatchObject({ ok: true, alerts: 2, errors: 0, interrupted: true });
  });
});

describe('psi --listen --refusal-log', () => {
  it('writes one JSON line per refused connection, which supervise --listener-log reads', async () => {
    const f = await ledger(async () => {});
    const root = join(f.dir, '..');
    writeIdentityDir(join(root, 'h'));
    writeIdentityDir(join(root, 'p'));
    const input = join(root, 'ids.csv');
    writeFileSync(input, 'id\na\nb\n');
    const log = join(root, 'refused.jsonl');
    const p = startCli(['psi', '--listen', '127.0.0.1:0', '--input', input, '--key', 'id', '--identity', join(root, 'h'), '--peer-key', join(root, 'p', 'identity.pub'), '--refusal-log', log, '--keep-serving'], { watchdogMs: 60_000 });
    const url = await p.listening();
    // Three garbage clients: each is refused, logged on stderr and in the file.
    await refusedClients(p, url, 3);
    p.child.kill('SIGINT');
    await p.done;
    expect(existsSync(log)).toBe(true);
    const lines = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(3);
    for (const l of lines) expect(Object.keys(l)).toEqual(['at', 'event', 'address', 'reason']);
    const rules = join(root, 'rules.json');
    writeFileSync(rules, JSON.stringify({ refusedConnections: { perHour: 3 } }));
    const r = await runCli(['supervise', '--ledger', f.dir, '--listener-log', log, '--rules', rules, '--json']);
    const alerts = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>).filter((a) => a['rule'] === 'refused-connections');
    // One clock hour, unless the three straddled an hour boundary.
    expect(alerts.length).toBeLessThanOrEqual(1);
    if (new Set(lines.map((l) => Math.floor((l['at'] as number) / 3_600_000))).size === 1) expect(alerts).toHaveLength(1);
    const c = await runCli(['psi', '--connect', 'ws://127.0.0.1:1', '--input', input, '--key', 'id', '--identity', join(root, 'p'), '--peer-key', join(root, 'h', 'identity.pub'), '--refusal-log', log]);
    expect(c.code).toBe(1);
    expect(c.stderr).toContain('option --refusal-log applies only with --listen');
  });
});

/** Sends `n` garbage clients to a listener, one after the other, and waits until it has logged `n` refusals. */
async function refusedClients(p: ReturnType<typeof startCli>, url: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const ws = new WebSocket(url);
    ws.on('error', () => {});
    await new Promise<void>((resolve) => {
      ws.once('open', () => ws.send(Buffer.from([0xde, 0xad, 0xbe, 0xef])));
      ws.once('close', () => resolve());
    });
  }
  await new Promise<void>((resolve, reject) => {
    const check = (): void => {
      if ((p.stderr().match(/rejected connection from/g) ?? []).length >= n) resolve();
    };
    p.child.stderr!.on('data', check);
    p.child.once('close', () => reject(new Error(p.stderr())));
    check();
  });
}

describe('job serve and product serve --refusal-log', () => {
  it('each writes a refused connection to its log', async () => {
    const f = await ledger(async () => {});
    const root = join(f.dir, '..');
    writeIdentityDir(join(root, 'h'));
    writeIdentityDir(join(root, 'p'));
    const input = join(root, 'ids.csv');
    writeFileSync(input, 'id\na\nb\n');
    const pub = await runCli(['product', 'publish', '--input', input, '--key', 'id', '--identity', join(root, 'h'), '--out', join(root, 'product'), '--workers', '0']);
    expect(pub.code, pub.stderr).toBe(0);
    const listeners = {
      job: ['job', 'serve', '--listen', '127.0.0.1:0', '--input', input, '--key', 'id', '--identity', join(root, 'h'), '--peer-key', join(root, 'p', 'identity.pub'), '--work-dir', join(root, 'work')],
      product: ['product', 'serve', '--listen', '127.0.0.1:0', '--product', join(root, 'product'), '--identity', join(root, 'h'), '--allow-any-peer', '--ledger', join(root, 'holder-ledger')],
    };
    for (const [name, args] of Object.entries(listeners)) {
      const log = join(root, `${name}-refused.jsonl`);
      const p = startCli([...args, '--refusal-log', log], { watchdogMs: 60_000 });
      const url = await p.listening();
      await refusedClients(p, url.replace(/\/$/, '') + (name === 'job' ? '/job/x/open' : '/'), 1);
      p.child.kill('SIGINT');
      await p.done;
      const lines = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines, name).toHaveLength(1);
      expect(lines[0]!['address']).toContain('127.0.0.1');
    }
  });
});

/** Appends one run with `peer` to the fixture's ledger (reopened by its owner, as a listener would). */
async function fixtureLedgerAppend(f: Awaited<ReturnType<typeof fixtureLedger>>, peer: ReturnType<typeof generateIdentity>): Promise<void> {
  const { signReceiptBody } = await import('../src/ledger/receipt.js');
  const l = await openLedger(f.dir, { owner: f.owner });
  try {
    const body = {
      version: 1 as const,
      sessionId: globalThis.crypto.getRandomValues(new Uint8Array(16)),
      startedAt: MONDAY_10H,
      endedAt: MONDAY_10H + 1000,
      parties: [
        { role: 'requester', publicKey: f.owner.publicKey },
        { role: 'responder', publicKey: peer.publicKey },
      ],
      protocol: 'ecdh-psi',
      options: { recipients: 'requester' },
      purpose: 'programme audit',
      inputSizes: { requester: 10, responder: 10 },
      outputSizes: {},
      bytesExchanged: 10,
      computeMs: 1,
      guardrails: [],
      outcome: 'completed',
    };
    await l.append({
      body,
      signatures: [
        { publicKey: f.owner.publicKey, signature: signReceiptBody(f.owner.secretKey, body) },
        { publicKey: peer.publicKey, signature: signReceiptBody(peer.secretKey, body) },
      ],
    });
  } finally {
    await l.close();
  }
}
