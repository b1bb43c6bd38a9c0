/**
 * Query-budget reservations (src/ledger/reservations.ts): a run's share of a budget is reserved
 * atomically when it is allowed and settled by its receipt, so concurrent runs in one process or
 * in several processes sharing a ledger directory never overspend.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { GuardrailRefusedError, LedgerIntegrityError } from '../src/errors.js';
import { budgetStatus, type BudgetPolicy } from '../src/ledger/budget.js';
import { checkLedgerBudget, openLedger, type Ledger } from '../src/ledger/file-ledger.js';
import { signReceiptBody } from '../src/ledger/receipt.js';
import type { UsageReceipt, UsageReceiptBody } from '../src/ledger/receipt-types.js';
import { cachedLedgerReceipts, readBudgetReservations, releaseLedgerBudget, reserveLedgerBudget, RESERVATIONS_FILE } from '../src/ledger/reservations.js';
import { generateIdentity, type Identity } from '../src/session/identity.js';
import { toBase64 } from '../src/utils/bytes.js';

const owner = generateIdentity();
const hospital = generateIdentity();
const insurer = generateIdentity();
const MONTH: BudgetPolicy = { period: 'month', maxQueries: 2 };

const dirs: string[] = [];
const ledgers: Ledger[] = [];
const children: ChildProcess[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
  for (const l of ledgers.splice(0)) await l.close().catch(() => undefined);
});
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function freshLedger(): Promise<Ledger> {
  const dir = mkdtempSync(join(tmpdir(), 'dataport-reserve-'));
  dirs.push(dir);
  const ledger = await openLedger(dir, { owner });
  ledgers.push(ledger);
  return ledger;
}

let seq = 0;
function sessionId(): Uint8Array {
  const id = new Uint8Array(16);
  globalThis.crypto.getRandomValues(id);
  return id;
}

/** A receipt co-signed by the owner and `peer`. */
function receipt(peer: Identity, sid: Uint8Array, outcome = 'completed'): UsageReceipt {
  const body: UsageReceiptBody = {
    version: 1,
    sessionId: sid,
    startedAt: Date.now() - 1000 + seq++,
    endedAt: Date.now(),
    parties: [
      { role: 'requester', publicKey: peer.publicKey },
      { role: 'responder', publicKey: owner.publicKey },
    ],
    protocol: 'ecdh-psi',
    options: {},
    purpose: '',
    inputSizes: outcome === 'refused' ? { requester: 0, responder: 0 } : { requester: 10, responder: 20 },
    outputSizes: {},
    bytesExchanged: 100,
    computeMs: 1,
    guardrails: [],
    outcome,
  };
  return {
    body,
    signatures: [
      { publicKey: owner.publicKey, signature: signReceiptBody(owner.secretKey, body) },
      { publicKey: peer.publicKey, signature: signReceiptBody(peer.secretKey, body) },
    ],
  };
}

const reserve = (ledger: Ledger, peer: Identity, extra: { sessionId?: Uint8Array; policy?: BudgetPolicy; records?: number } = {}) =>
  reserveLedgerBudget(ledger, { counterparty: peer.publicKey, policy: extra.policy ?? MONTH, records: extra.records ?? 30, ...(extra.sessionId ? { sessionId: extra.sessionId } : {}) });

describe('budget reservations in one process', () => {
  it('N concurrent reservations against a budget of K: exactly K succeed, the others are refused with the budget message', async () => {
    const ledger = await freshLedger();
    const results = await Promise.allSettled(Array.from({ length: 6 }, () => reserve(ledger, hospital)));
    const ok = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(ok.length).toBe(2);
    expect(refused.length).toBe(4);
    for (const r of refused) {
      expect(r.reason).toBeInstanceOf(GuardrailRefusedError);
      expect((r.reason as Error).message).toMatch(
        new RegExp(`^query budget for counterparty ${toBase64(hospital.publicKey).replace(/[+/=]/g, '\\$&')} is spent: 2 of 2 queries used this month \\(2 in progress\\) \\(resets `),
      );
    }
    // Another counterparty's budget is separate.
    await expect(reserve(ledger, insurer)).resolves.toMatchObject({ status: { queriesUsed: 0, queriesReserved: 0 } });
    expect((await readBudgetReservations(ledger.dir)).length).toBe(3);
  });

  it('two handles on one directory (as two processes would hold) see each other’s reservations', async () => {
    const a = await freshLedger();
    const b = await openLedger(a.dir, { owner });
    ledgers.push(b);
    const results = await Promise.allSettled([reserve(a, hospital), reserve(b, hospital), reserve(a, hospital), reserve(b, hospital)]);
    expect(results.filter((r) => r.status === 'fulfilled').length).toBe(2);
  });

  it('the receipt settles its reservation: the entry counts instead, never both, never neither', async () => {
    const ledger = await freshLedger();
    const sid = sessionId();
    const { id, status } = await reserve(ledger, hospital, { sessionId: sid });
    expect([status.queriesUsed, status.queriesReserved]).toEqual([0, 0]);
    await ledger.append(receipt(hospital, sid));
    // Entry 1 + this one = 2: allowed; the settled reservation does not count a second time.
    const second = await reserve(ledger, hospital, { sessionId: sessionId() });
    expect([second.status.queriesUsed, second.status.queriesReserved, second.status.recordsUsed, second.status.recordsReserved]).toEqual([1, 0, 30, 0]);
    await expect(reserve(ledger, hospital)).rejects.toThrow(/2 of 2 queries used this month \(1 in progress\)/);
    // Releasing a settled reservation is harmless; the settled one is dropped from the file.
    await releaseLedgerBudget(ledger, id);
    const stored = await readBudgetReservations(ledger.dir);
    expect(stored.map((r) => r.id)).toEqual([second.id]);
  });

  it('a run refused by the peer settles its reservation and uses no budget', async () => {
    const ledger = await freshLedger();
    const sid = sessionId();
    await reserve(ledger, hospital, { sessionId: sid, policy: { period: 'month', maxQueries: 1 } });
    await ledger.append(receipt(hospital, sid, 'refused'));
    await expect(reserve(ledger, hospital, { policy: { period: 'month', maxQueries: 1 } })).resolves.toMatchObject({ status: { queriesUsed: 0, queriesReserved: 0 } });
  });

  it('a failed run releases its reservation and the budget is available again', async () => {
    const ledger = await freshLedger();
    const one: BudgetPolicy = { period: 'month', maxQueries: 1 };
    const { id } = await reserve(ledger, hospital, { policy: one });
    await expect(reserve(ledger, hospital, { policy: one })).rejects.toBeInstanceOf(GuardrailRefusedError);
    // The check-only API sees the run in progress too.
    await expect(checkLedgerBudget(ledger, { counterparty: hospital.publicKey, policy: one })).rejects.toThrow(/\(1 in progress\)/);
    await releaseLedgerBudget(ledger, id);
    await expect(checkLedgerBudget(ledger, { counterparty: hospital.publicKey, policy: one })).resolves.toMatchObject({ allowed: true });
    await expect(reserve(ledger, hospital, { policy: one })).resolves.toBeDefined();
    await releaseLedgerBudget(ledger, 'unknown'); // no-op
  });

  it('reserves records too: entries + runs in progress + this run must fit maxRecords', async () => {
    const ledger = await freshLedger();
    const policy: BudgetPolicy = { period: 'month', maxQueries: 100, maxRecords: 100 };
    await reserve(ledger, hospital, { policy, records: 60 });
    await expect(reserve(ledger, hospital, { policy, records: 41 })).rejects.toThrow(/60 of 100 records used this month \(1 in progress\), the job needs 41 more/);
    await expect(reserve(ledger, hospital, { policy, records: 40 })).resolves.toBeDefined();
  });

  it('reservations of dead processes and expired ones do not count; a malformed file is reported, not ignored', async () => {
    const ledger = await freshLedger();
    const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    const deadPid = Number(gone.stdout);
    expect(Number.isSafeInteger(deadPid) && deadPid > 0).toBe(true);
    const entry = (pid: number, expiresAt: number, id: string) => ({ id, pid, counterparty: toBase64(hospital.publicKey), records: 1, expiresAt });
    const path = join(ledger.dir, RESERVATIONS_FILE);
    writeFileSync(
      path,
      JSON.stringify({
        version: 1,
        reservations: [entry(deadPid, Date.now() + 3_600_000, 'a'.repeat(32)), entry(process.pid, Date.now() - 1, 'b'.repeat(32)), entry(process.pid, Date.now() + 3_600_000, 'c'.repeat(32))],
      }),
    );
    const { status } = await reserve(ledger, hospital);
    expect(status.queriesReserved).toBe(1); // only 'c' is live
    // The dead and the expired ones are dropped from the file by the rewrite.
    const ids = (await readBudgetReservations(ledger.dir)).map((r) => r.id);
    expect(ids.length).toBe(2);
    expect(ids).toContain('c'.repeat(32));
    expect(ids).not.toContain('a'.repeat(32));
    expect(ids).not.toContain('b'.repeat(32));
    for (const bad of ['not json', '{"version":2,"reservations":[]}', JSON.stringify({ version: 1, reservations: [{ id: 'x' }] })]) {
      writeFileSync(path, bad);
      await expect(reserve(ledger, hospital)).rejects.toThrow(LedgerIntegrityError);
      await expect(reserve(ledger, hospital)).rejects.toThrow(/reservations\.json: .*delete it/);
    }
    rmSync(path);
  });

  it('the decoded-entries cache of a handle: concurrent calls never count an entry twice', async () => {
    const ledger = await freshLedger();
    for (let i = 0; i < 3; i++) await ledger.append(receipt(hospital, sessionId()));
    expect((await cachedLedgerReceipts(ledger)).length).toBe(3);
    await Promise.all(Array.from({ length: 5 }, () => ledger.append(receipt(hospital, sessionId()))));
    const lists = await Promise.all(Array.from({ length: 6 }, () => cachedLedgerReceipts(ledger)));
    for (const l of lists) {
      expect(l.length).toBe(8);
      expect(new Set(l.map((r) => toBase64(r.body.sessionId))).size).toBe(8);
    }
    expect((await ledger.readReceipts()).map((r) => toBase64(r.body.sessionId))).toEqual(lists[0]!.map((r) => toBase64(r.body.sessionId)));
  });

  it('budgetStatus: a pending run whose session id is in the entries is settled', () => {
    const sid = sessionId();
    const entries = [receipt(hospital, sid)];
    const pending = [
      { counterparty: hospital.publicKey, records: 5, sessionId: sid },
      { counterparty: hospital.publicKey, records: 7 },
      { counterparty: insurer.publicKey, records: 9 },
    ];
    const s = budgetStatus(entries, { counterparty: hospital.publicKey, policy: { period: 'month', maxQueries: 3 }, pending });
    expect([s.queriesUsed, s.queriesReserved, s.recordsUsed, s.recordsReserved, s.allowed]).toEqual([1, 1, 30, 7, true]);
    const full = budgetStatus(entries, { counterparty: hospital.publicKey, policy: { period: 'month', maxQueries: 2 }, pending });
    expect(full.allowed).toBe(false);
  });
});

describe('budget reservations across processes', () => {
  const DIST_NODE = resolve(import.meta.dirname, '..', 'dist', 'node.js');

  /** A separate Node process that reserves on the ledger and holds the reservation until told. */
  function holder(dir: string, keyFile: string, maxQueries: number): { child: ChildProcess; line: () => Promise<string>; send: (s: string) => void } {
    const script = `
      import { readFileSync } from 'node:fs';
      import { createInterface } from 'node:readline';
      import { openLedger, reserveLedgerBudget, releaseLedgerBudget } from ${JSON.stringify(DIST_NODE)};
      const fromBase64 = (s) => new Uint8Array(Buffer.from(s, 'base64'));
      const k = JSON.parse(readFileSync(process.argv[2], 'utf8'));
      const owner = { secretKey: fromBase64(k.secretKey), publicKey: fromBase64(k.publicKey) };
      const ledger = await openLedger(process.argv[1], { owner });
      let id;
      try {
        ({ id } = await reserveLedgerBudget(ledger, { counterparty: fromBase64(k.counterparty), policy: { period: 'month', maxQueries: ${maxQueries} }, records: 1 }));
        console.log('reserved');
      } catch (e) {
        console.log('refused ' + e.code);
      }
      for await (const l of createInterface({ input: process.stdin })) {
        if (l === 'release' && id) { await releaseLedgerBudget(ledger, id); console.log('released'); }
        if (l === 'exit') break;
      }
      await ledger.close();
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script, dir, keyFile], { stdio: ['pipe', 'pipe', 'pipe'] });
    children.push(child);
    let out = '';
    let err = '';
    const waiters: (() => void)[] = [];
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      for (const w of waiters.splice(0)) w();
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('close', () => {
      for (const w of waiters.splice(0)) w();
    });
    let consumed = 0;
    const line = async (): Promise<string> => {
      for (;;) {
        const nl = out.indexOf('\n', consumed);
        if (nl >= 0) {
          const l = out.slice(consumed, nl);
          consumed = nl + 1;
          return l;
        }
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`holder exited: ${err}`);
        await new Promise<void>((r) => waiters.push(r));
      }
    };
    return { child, line, send: (s: string) => child.stdin!.write(`${s}\n`) };
  }

  it('two processes sharing a ledger respect one budget; a crashed holder’s reservation stops counting', async () => {
    if (!existsSync(DIST_NODE)) throw new Error(`${DIST_NODE} is missing: run 'npx tsup'`);
    const ledger = await freshLedger();
    const keyDir = mkdtempSync(join(tmpdir(), 'dataport-reserve-key-'));
    dirs.push(keyDir);
    const keyFile = join(keyDir, 'owner.json');
    writeFileSync(keyFile, JSON.stringify({ secretKey: toBase64(owner.secretKey), publicKey: toBase64(owner.publicKey), counterparty: toBase64(hospital.publicKey) }), { mode: 0o600 });
    const one: BudgetPolicy = { period: 'month', maxQueries: 1 };

    // The other process reserves first: this one is refused while it holds the reservation.
    const h1 = holder(ledger.dir, keyFile, 1);
    expect(await h1.line()).toBe('reserved');
    await expect(reserve(ledger, hospital, { policy: one })).rejects.toThrow(/1 of 1 queries used this month \(1 in progress\)/);
    // It releases: the budget is available here; while this process holds it, a third is refused.
    h1.send('release');
    expect(await h1.line()).toBe('released');
    const mine = await reserve(ledger, hospital, { policy: one });
    const h2 = holder(ledger.dir, keyFile, 1);
    expect(await h2.line()).toBe('refused ERR_GUARDRAIL_REFUSED');
    h2.send('exit');
    await releaseLedgerBudget(ledger, mine.id);

    // A holder killed without releasing: its pid is gone, so its reservation no longer counts.
    const h3 = holder(ledger.dir, keyFile, 1);
    expect(await h3.line()).toBe('reserved');
    await expect(reserve(ledger, hospital, { policy: one })).rejects.toBeInstanceOf(GuardrailRefusedError);
    const exited = new Promise<void>((r) => h3.child.on('close', () => r()));
    h3.child.kill('SIGKILL');
    await exited;
    await expect(reserve(ledger, hospital, { policy: one })).resolves.toBeDefined();
    h1.send('exit');
    expect(readFileSync(join(ledger.dir, RESERVATIONS_FILE), 'utf8')).not.toMatch(/secret/i);
  });
});
